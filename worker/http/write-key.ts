/**
 * Public requests name their site by key: in the body (Segment browser), as `?writeKey=`
 * (beacons), as the HTTP Basic user name (Segment and RudderStack server SDKs), as a Bearer
 * token, or on the event itself. The key is the site's public write key, or one of its secret
 * server keys, which backends send and browsers never may.
 */
import type { Context } from "hono";
import type { KeyOwner } from "../objects/site-config-object";
import { ownerOfKey } from "../site-directory";
import { ApiError } from "./errors";

/** The site the request's key belongs to and how far it is trusted; 401 when there is none. */
export async function siteOfRequest(c: Context<{ Bindings: Env }>, ...candidates: unknown[]): Promise<KeyOwner> {
	const authorization = c.req.header("authorization");
	const key =
		stringOrUndefined(candidates[0]) ??
		c.req.query("writeKey") ??
		basicAuthUser(authorization) ??
		bearerToken(authorization) ??
		candidates.slice(1).map(stringOrUndefined).find((candidate) => candidate !== undefined);
	if (!key) {
		throw new ApiError(401, "missing_write_key", "Send the site's write key in the body, as ?writeKey= or as the Basic auth user.");
	}
	const owner = await ownerOfKey(c.env, key).catch((error: unknown) => {
		// The registry object failed (restarting, overloaded): nothing was stored, so the client retries.
		console.error(JSON.stringify({ msg: "site lookup failed", error: String(error) }));
		throw new ApiError(503, "storage_unavailable", "The site's config could not be read; retry shortly.", undefined, { "Retry-After": "1" });
	});
	if (!owner) throw new ApiError(401, "unknown_write_key", "The write key does not belong to any site.");
	if (owner.trust === "server" && c.req.header("origin") !== undefined) {
		// A secret that reached a browser is no longer secret: refuse it loudly rather than use it.
		throw new ApiError(403, "server_key_in_browser", "Server keys are secret: send them from your backend, never from a browser.");
	}
	return owner;
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

function bearerToken(header: string | undefined): string | undefined {
	return header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
}

function stringOrUndefined(value: unknown): string | undefined {
	return typeof value === "string" && value !== "" ? value : undefined;
}
