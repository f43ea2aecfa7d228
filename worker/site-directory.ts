/**
 * Finds a site's config for a request. Every beacon needs one, so answers from the
 * SiteConfigObject are cached in the isolate: a stored change reaches every isolate within
 * `CACHE_TTL_MS`, and the isolate that stored it at once.
 */
import type { SiteConfig } from "../schema";
import { sha256Hex } from "./core/digest";
import type { KeyOwner, PutSiteResult, StoredSite } from "./objects/site-config-object";

export const CACHE_TTL_MS = 5_000;
const REGISTRY = "registry";

type Entry<T> = { value: T; expires: number };
const byKey = new Map<string, Entry<KeyOwner | null>>();

function registry(env: Env) {
	return env.SITES.get(env.SITES.idFromName(REGISTRY));
}

/**
 * The site a presented key opens, and whether it is the public write key or a server key;
 * null for an unknown key (cached too).
 */
export async function ownerOfKey(env: Env, key: string, now = Date.now()): Promise<KeyOwner | null> {
	const cached = byKey.get(key);
	if (cached && cached.expires > now) return cached.value;
	const owner = await registry(env).ownerOfKey(key, await sha256Hex(key));
	// Bounded: a flood of made-up keys must not grow the cache without limit.
	if (byKey.size >= 10_000) byKey.clear();
	byKey.set(key, { value: owner, expires: now + CACHE_TTL_MS });
	return owner;
}

/** A site by id (stored or bundled), or null. Admin calls are rare: no cache. */
export async function siteById(env: Env, id: string): Promise<StoredSite | null> {
	return registry(env).site(id);
}

/** Stores a config and forgets what this isolate cached, so the change applies at once here. */
export async function storeSite(env: Env, config: SiteConfig): Promise<PutSiteResult> {
	const result = await registry(env).put(config, Date.now());
	if (result.ok) byKey.clear();
	return result;
}
