/**
 * The per-site limit through the Workers rate limiting binding (bound in wrangler.toml; this
 * test project binds it at 5 requests a minute): past it a site's beacons get 429 with
 * Retry-After, while other sites are unaffected.
 */
import { describe, expect, it } from "vitest";
import { beacon, pageView, uniqueId } from "./helpers";

describe("per-site rate limit", () => {
	it("refuses a site's requests past its limit with 429 and Retry-After, and only that site's", async () => {
		const statuses: number[] = [];
		for (let i = 0; i < 7; i++) statuses.push((await beacon(pageView(uniqueId(), "/blog/a"))).status);
		expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
		const refused = await beacon(pageView(uniqueId(), "/blog/a"));
		expect(refused.status).toBe(429);
		expect(refused.headers.get("retry-after")).toBe("10");
		expect(await refused.json()).toMatchObject({ error: { code: "site_rate_limited" } });
		const other = await beacon(pageView(uniqueId(), "/kits/starter"), "/v1/collect?writeKey=candle-shop-write-key");
		expect(other.status).toBe(200);
	});
});
