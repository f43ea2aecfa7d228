/**
 * Durable Object names: one VisitorObject per site and visitor, one RollupObject per site,
 * journey and shard. NUL separators, because ids may contain any printable character.
 */
import type { VisitorKey } from "../core/events";

export function visitorObjectName(site: string, key: VisitorKey): string {
	return `${site}\u0000${key.kind}\u0000${key.id}`;
}

export function rollupObjectName(site: string, journey: string, shard: number): string {
	return `${site}\u0000${journey}\u0000${shard}`;
}

export function visitorStub(env: Env, site: string, key: VisitorKey) {
	return env.VISITORS.get(env.VISITORS.idFromName(visitorObjectName(site, key)));
}

export function rollupStub(env: Env, site: string, journey: string, shard: number) {
	return env.ROLLUPS.get(env.ROLLUPS.idFromName(rollupObjectName(site, journey, shard)));
}
