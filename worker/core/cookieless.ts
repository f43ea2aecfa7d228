/**
 * Cookieless visitors: nothing is stored in the browser, so the server names the visitor by a
 * hash of the site, the IP address and the user agent, salted per UTC day. The day's salt is
 * derived from a secret and never stored; at midnight every id changes, so no journey lasts
 * longer than a day and no stored id can be traced back to an address without the secret.
 */
import { hmacSha256, toHex } from "./digest";
import { utcDay } from "./rollup";

export type CookielessInput = { secret: string; site: string; ip: string; userAgent: string; now: number };

/** Ids of cookieless visitors start with this, so operators can tell them apart. */
export const COOKIELESS_PREFIX = "cl-";

export async function cookielessVisitorId({ secret, site, ip, userAgent, now }: CookielessInput): Promise<string> {
	const salt = await hmacSha256(secret, `nudge-cookieless\u0000${site}\u0000${utcDay(now)}`);
	const id = await hmacSha256(salt, `${ip}\u0000${userAgent}`);
	return COOKIELESS_PREFIX + toHex(id).slice(0, 32);
}
