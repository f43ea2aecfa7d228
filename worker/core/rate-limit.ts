/**
 * A token bucket: a visitor may send `burst` events at once and `perSecond` events a second
 * after that. Pure; the VisitorObject keeps one in memory, so a flood from one visitor is
 * refused at its own object and never slows anyone else.
 */

export type TokenBucket = { tokens: number; updatedAt: number };
export type BucketLimits = { perSecond: number; burst: number };

export type TakeResult = { bucket: TokenBucket; allowed: boolean; retryAfterSeconds: number };

/** Takes `cost` tokens if the bucket has them; otherwise says how long until it will. */
export function takeTokens(bucket: TokenBucket | undefined, cost: number, now: number, limits: BucketLimits): TakeResult {
	const elapsed = bucket ? Math.max(0, now - bucket.updatedAt) / 1000 : 0;
	const tokens = Math.min(limits.burst, (bucket?.tokens ?? limits.burst) + elapsed * limits.perSecond);
	if (cost <= tokens) return { bucket: { tokens: tokens - cost, updatedAt: now }, allowed: true, retryAfterSeconds: 0 };
	const missing = Math.min(cost, limits.burst) - tokens;
	return {
		bucket: { tokens, updatedAt: now },
		allowed: false,
		retryAfterSeconds: Math.max(1, Math.ceil(missing / limits.perSecond)),
	};
}
