/** A flood from one visitor is refused with 429 at its own object; other visitors are unaffected. */
import { describe, expect, it } from "vitest";
import { takeTokens } from "../worker/core/rate-limit";
import { beacon, profileOf, track, uniqueId } from "./helpers";

describe("the token bucket", () => {
	const limits = { perSecond: 20, burst: 500 };
	it("allows a burst, then the sustained rate, and says when to retry", () => {
		let bucket = takeTokens(undefined, 500, 0, limits);
		expect(bucket.allowed).toBe(true);
		const refused = takeTokens(bucket.bucket, 100, 1_000, limits);
		expect(refused).toMatchObject({ allowed: false, retryAfterSeconds: 4 });
		bucket = takeTokens(refused.bucket, 100, 5_000, limits);
		expect(bucket.allowed).toBe(true);
		expect(takeTokens(bucket.bucket, 1, 60_000, limits).bucket.tokens).toBe(499);
	});
});

describe("POST /v1/collect for one flooding visitor", () => {
	it("answers 429 with Retry-After past the visitor's burst, stores nothing more, and serves others", async () => {
		const flooder = uniqueId();
		const batch = () => ({ batch: Array.from({ length: 100 }, () => track(flooder, "Button Clicked")) });
		for (let i = 0; i < 5; i++) expect((await beacon(batch())).status).toBe(200);
		const refused = await beacon(batch());
		expect(refused.status).toBe(429);
		expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
		expect(await refused.json()).toMatchObject({ error: { code: "rate_limited" } });
		expect((await profileOf(flooder)).eventCount).toBe(500);

		const other = uniqueId();
		expect((await beacon(track(other, "Report Viewed"))).status).toBe(200);
	});
});
