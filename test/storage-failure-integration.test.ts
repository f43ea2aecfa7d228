/**
 * When a visitor's Durable Object fails mid-request (here: every object is reset while beacons
 * are in flight), the beacon gets 503 with Retry-After, never a 500 and never a silent loss; a
 * retry with the same messageIds stores each event exactly once.
 */
import { abortAllDurableObjects } from "cloudflare:test";
import { expect, it } from "vitest";
import { beacon, profileOf, track, uniqueId } from "./helpers";

it("answers 200 or 503 + Retry-After while objects fail, and loses nothing once the 503s are retried", async () => {
	let failures = 0;
	for (let round = 0; round < 10 && failures === 0; round++) {
		const visitors = Array.from({ length: 12 }, () => uniqueId());
		const events = visitors.map((id) => [track(id, "Report Viewed"), track(id, "Newsletter Subscribed")]);
		const inFlight = events.map((batch) => beacon({ batch }));
		await new Promise((resolve) => setTimeout(resolve, round));
		await abortAllDurableObjects();
		const answers = await Promise.all(inFlight);
		for (const [i, answer] of answers.entries()) {
			expect([200, 503]).toContain(answer.status);
			if (answer.status === 200) continue;
			failures++;
			expect(answer.headers.get("retry-after")).toBe("1");
			expect(await answer.json()).toMatchObject({ error: { code: "storage_unavailable" } });
			const retry = await beacon({ batch: events[i] });
			expect(retry.status).toBe(200);
		}
		for (const id of visitors) {
			const profile = await profileOf(id);
			expect(profile.eventCount, id).toBe(2);
			expect(profile.journeys[0]?.completed.map((c) => c.step)).toEqual(["engaged", "subscribed"]);
		}
	}
	// The resets must have hit some requests, or this test proved nothing.
	expect(failures).toBeGreaterThan(0);
});
