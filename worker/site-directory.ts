/**
 * Finds a site's config for a request. Every beacon needs one, so answers from the
 * SiteConfigObject are cached in the isolate: a stored change reaches every isolate within
 * `CACHE_TTL_MS`, and the isolate that stored it at once.
 */
import type { SiteConfig } from "../schema";
import type { PutSiteResult, StoredSite } from "./objects/site-config-object";

export const CACHE_TTL_MS = 5_000;
const REGISTRY = "registry";

type Entry<T> = { value: T; expires: number };
const byWriteKey = new Map<string, Entry<SiteConfig | null>>();

function registry(env: Env) {
	return env.SITES.get(env.SITES.idFromName(REGISTRY));
}

/** The site a write key belongs to, or null; unknown keys are cached too. */
export async function siteForWriteKey(env: Env, writeKey: string, now = Date.now()): Promise<SiteConfig | null> {
	const cached = byWriteKey.get(writeKey);
	if (cached && cached.expires > now) return cached.value;
	const site = await registry(env).siteForWriteKey(writeKey);
	// Bounded: a flood of made-up keys must not grow the cache without limit.
	if (byWriteKey.size >= 10_000) byWriteKey.clear();
	byWriteKey.set(writeKey, { value: site, expires: now + CACHE_TTL_MS });
	return site;
}

/** A site by id (stored or bundled), or null. Admin calls are rare: no cache. */
export async function siteById(env: Env, id: string): Promise<StoredSite | null> {
	return registry(env).site(id);
}

/** Stores a config and forgets what this isolate cached, so the change applies at once here. */
export async function storeSite(env: Env, config: SiteConfig): Promise<PutSiteResult> {
	const result = await registry(env).put(config, Date.now());
	if (result.ok) byWriteKey.clear();
	return result;
}
