/**
 * The visitor id of a request to a cookieless site, from its IP address and user agent. The IP
 * address is read here, hashed, and never passed on or stored.
 */
import type { Context } from "hono";
import type { SiteConfig } from "../../schema";
import { cookielessVisitorId } from "../core/cookieless";

/** Without the secret, a random one per isolate: ids stay unlinkable but journeys split across isolates. */
let isolateSecret: string | undefined;

export function cookielessIdOf(c: Context<{ Bindings: Env }>, site: SiteConfig, now = Date.now()): Promise<string> {
	return cookielessVisitorId({
		secret: (c.env.COOKIELESS_SECRET as string | undefined) || fallbackSecret(),
		site: site.id,
		// Cloudflare's edge sets CF-Connecting-IP; `wrangler dev` sets it too.
		ip: c.req.header("cf-connecting-ip") ?? "",
		userAgent: c.req.header("user-agent") ?? "",
		now,
	});
}

function fallbackSecret(): string {
	if (!isolateSecret) {
		isolateSecret = crypto.randomUUID();
		console.warn(JSON.stringify({ msg: "COOKIELESS_SECRET is not set: cookieless ids are per isolate until it is" }));
	}
	return isolateSecret;
}
