/**
 * Which browser origins may send a site's events: those the site allows, and the worker's own.
 * Requests without an Origin header (server SDKs, curl) are not browser requests and pass.
 */
import type { Context } from "hono";
import { cors } from "hono/cors";
import type { SiteConfig } from "../../schema";
import { ApiError } from "./errors";

/** Throws 403 when a browser on an origin the site does not allow sends to it. */
export function assertOriginAllowed(c: Context, site: SiteConfig): void {
	const origin = c.req.header("origin");
	if (origin === undefined) return;
	if (origin === new URL(c.req.url).origin || site.allowedOrigins.includes(origin)) return;
	throw new ApiError(403, "origin_not_allowed", `Origin '${origin}' is not allowed to send events for site '${site.id}'.`);
}

/**
 * CORS for the public API. Preflights cannot know the site (no body yet), so they are answered
 * for any origin and the real request is checked by `assertOriginAllowed`. Credentials are
 * allowed because analytics-next can be set to send them; Nudge itself uses no cookies.
 * Request headers are echoed: RudderStack sends `AnonymousId`, Segment `X-Retry-Count`.
 */
export const publicCors = cors({
	origin: (origin) => origin || "*",
	allowMethods: ["GET", "POST", "OPTIONS"],
	credentials: true,
	maxAge: 86_400,
});
