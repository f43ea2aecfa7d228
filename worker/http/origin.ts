/**
 * Which browser origins may send a site's events: those the site allows, and the worker's own.
 * Requests without an Origin header (server SDKs, curl) are not browser requests and pass.
 */
import type { Context } from "hono";
import { cors } from "hono/cors";
import type { SiteConfig } from "../../schema";
import { ownerOfKey } from "../site-directory";
import { ApiError } from "./errors";

/** Throws 403 when a browser on an origin the site does not allow sends to it. */
export function assertOriginAllowed(c: Context, site: SiteConfig): void {
	const origin = c.req.header("origin");
	if (origin === undefined) return;
	if (origin === new URL(c.req.url).origin || site.allowedOrigins.includes(origin)) return;
	throw new ApiError(403, "origin_not_allowed", `Origin '${origin}' is not allowed to send events for site '${site.id}'.`);
}

/**
 * CORS for the public API: only a site's allowed origins (and the worker's own) may read its
 * answers. Requests that name their write key in the URL (`?writeKey=`, what the snippet and
 * beacons send), preflights included, are checked against that site's origins. A key that
 * travels in the body or a header cannot be known at preflight; those preflights are answered
 * for any origin and the request itself is refused by `assertOriginAllowed`. Credentials are
 * allowed because analytics-next can be set to send them; Nudge itself uses no cookies.
 * Request headers are echoed: RudderStack sends `AnonymousId`, Segment `X-Retry-Count`.
 */
export const publicCors = cors({
	origin: async (origin, c: Context<{ Bindings: Env }>) => {
		if (!origin) return "*";
		const writeKey = c.req.query("writeKey");
		if (!writeKey || origin === new URL(c.req.url).origin) return origin;
		const owner = await ownerOfKey(c.env, writeKey).catch(() => null);
		// An unknown key is answered with 401, which the page may read.
		if (!owner || owner.site.allowedOrigins.includes(origin)) return origin;
		return null;
	},
	allowMethods: ["GET", "POST", "OPTIONS"],
	credentials: true,
	maxAge: 86_400,
});
