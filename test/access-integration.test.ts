/** Who may read and write what: admin tokens, one site's key against another site's visitors. */
import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN, beacon, request, track, uniqueId } from "./helpers";

describe("access", () => {
	it("refuses admin tokens that are missing, wrong, or right but for the last character", async () => {
		const tries = [undefined, "Bearer nope", `Bearer ${ADMIN_TOKEN.slice(0, -1)}x`, `Bearer ${ADMIN_TOKEN}x`, `Basic ${btoa(`${ADMIN_TOKEN}:`)}`];
		for (const authorization of tries) {
			const res = await request("/v1/admin/sites/demo", { headers: authorization ? { authorization } : {} });
			expect(res.status, authorization ?? "no token").toBe(401);
			expect(await res.json()).toMatchObject({ error: { code: expect.stringMatching(/admin_token/) } });
		}
		expect((await request("/v1/admin/sites/demo", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);
	});

	it("one site's write key never reads or writes another site's visitors", async () => {
		const visitor = uniqueId();
		await beacon(track(visitor, "Newsletter Subscribed"), "/v1/collect?writeKey=candle-shop-write-key");
		// The same id through the demo's key is a different, unseen visitor of the demo site.
		const next = await (await request(`/v1/next?writeKey=demo-write-key&anonymousId=${visitor}`)).json<{ visitor: { completed: string[] } }>();
		expect(next.visitor.completed).toEqual([]);
		await beacon(track(visitor, "Account Created"));
		const admin = (site: string) => request(`/v1/admin/sites/${site}/visitors/${visitor}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
		const candle = await (await admin("candle-shop")).json<{ eventCount: number; journeys: { completed: { step: string }[] }[] }>();
		expect(candle.eventCount).toBe(1);
		expect(candle.journeys[0]?.completed.map((c) => c.step)).toEqual(["newsletter"]);
		expect((await (await admin("demo")).json<{ eventCount: number }>()).eventCount).toBe(1);
	});

	it("answers a public key with no admin data: counts and the visitor's own hint only", async () => {
		const visitor = uniqueId();
		const stored = await (await beacon(track(visitor, "Report Viewed"))).json<Record<string, unknown>>();
		expect(Object.keys(stored).sort()).toEqual(["accepted", "duplicates", "rejected"]);
		const next = await (await request(`/v1/next?writeKey=demo-write-key&anonymousId=${visitor}`)).json<Record<string, unknown>>();
		expect(Object.keys(next).sort()).toEqual(["ctas", "ttl", "visitor"]);
		expect(JSON.stringify(next)).not.toMatch(/eventCount|events|writeKeys|serverKeys/);
	});
});
