/**
 * Public requests name their site by write key: in the body (Segment browser), as
 * `?writeKey=` (beacons), as the HTTP Basic user name (Segment and RudderStack server SDKs),
 * or on the event itself.
 */
import type { Context } from "hono";
import type { SiteConfig } from "../../schema";
import { siteForWriteKey } from "../site-directory";
import { ApiError } from "./errors";

/** The site the request's write key belongs to; 401 when there is none or it is unknown. */
export async function siteOfRequest(c: Context<{ Bindings: Env }>, ...candidates: unknown[]): Promise<SiteConfig> {
	const writeKey =
		stringOrUndefined(candidates[0]) ??
		c.req.query("writeKey") ??
		basicAuthUser(c.req.header("authorization")) ??
		candidates.slice(1).map(stringOrUndefined).find((key) => key !== undefined);
	if (!writeKey) {
		throw new ApiError(401, "missing_write_key", "Send the site's write key in the body, as ?writeKey= or as the Basic auth user.");
	}
	const site = await siteForWriteKey(c.env, writeKey);
	if (!site) throw new ApiError(401, "unknown_write_key", "The write key does not belong to any site.");
	return site;
}

function basicAuthUser(header: string | undefined): string | undefined {
	const match = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
	if (!match?.[1]) return undefined;
	try {
		const user = atob(match[1]).split(":", 1)[0];
		return user || undefined;
	} catch {
		return undefined;
	}
}

function stringOrUndefined(value: unknown): string | undefined {
	return typeof value === "string" && value !== "" ? value : undefined;
}
