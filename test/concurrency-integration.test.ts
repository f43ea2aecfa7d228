/**
 * The hottest case: hundreds of requests at once for ONE visitor, so one Durable Object takes
 * every write. Each event must be stored exactly once, duplicates must be reported as
 * duplicates, and the journey must come out as if the events had arrived one by one.
 *
 * Stays under the demo site's per-visitor burst (500 events): 300 events plus 60 repeated
 * deliveries in the first test, 100 deliveries in the second.
 */
import { describe, expect, it } from "vitest";
import { admin, beacon, profileOf, uniqueId, WRITE_KEY } from "./helpers";
import { DEMO_STEPS } from "./demo-steps";
/** The demo journey, one event per step (three channels for `channels_connected`), in order. */
import DEMO_WALK from "./demo-walk.json";

type CollectAnswer = { accepted: number; duplicates: number; rejected: unknown[] };

describe("one visitor, hundreds of events at once", () => {
	it("stores each of 300 parallel events exactly once, reports repeats as duplicates, and reaches every step", async () => {
		const visitor = uniqueId("hot");
		const start = Date.now() - 3_600_000;
		// The journey's events first in time (a second apart), then 290 page views of the app.
		const events = Array.from({ length: 300 }, (_, i) => ({
			...(DEMO_WALK[i] ?? { type: "page", context: { page: { path: `/app/page-${i}` } } }),
			anonymousId: visitor,
			messageId: `${visitor}-${i}`,
			timestamp: new Date(start + i * 1_000).toISOString(),
		}));
		// 240 single beacons, 12 batches of 5, and 60 events delivered a second time, all at once.
		const deliveries: { messageIds: string[]; body: unknown }[] = [
			...events.slice(0, 240).map((event) => ({ messageIds: [event.messageId], body: event })),
			...Array.from({ length: 12 }, (_, b) => {
				const batch = events.slice(240 + b * 5, 245 + b * 5);
				return { messageIds: batch.map((event) => event.messageId), body: { writeKey: WRITE_KEY, batch } };
			}),
			...events.filter((_, i) => i % 5 === 0).map((event) => ({ messageIds: [event.messageId], body: event })),
		];
		expect(deliveries.reduce((sum, d) => sum + d.messageIds.length, 0)).toBe(360);

		const answers = await Promise.all(
			deliveries.map(async ({ body }) => {
				const res = await beacon(body);
				expect(res.status).toBe(200);
				return res.json<CollectAnswer>();
			}),
		);
		const accepted = answers.reduce((sum, answer) => sum + answer.accepted, 0);
		const duplicates = answers.reduce((sum, answer) => sum + answer.duplicates, 0);
		expect({ accepted, duplicates, rejected: answers.flatMap((answer) => answer.rejected) }).toEqual({ accepted: 300, duplicates: 60, rejected: [] });
		// Each repeated event: one of its two deliveries stored it, the other found it stored.
		for (const [i, event] of events.entries()) {
			if (i % 5 !== 0 || i >= 240) continue;
			const pair = deliveries.flatMap((d, j) => (d.messageIds[0] === event.messageId ? [answers[j]] : []));
			expect(pair.map((answer) => [answer?.accepted, answer?.duplicates]).sort()).toEqual([
				[0, 1],
				[1, 0],
			]);
		}

		const res = await admin(`/sites/demo/visitors/${visitor}?format=export`);
		const exported = await res.json<{ eventCount: number; messageIds: string[]; eventCounts: { type: string; name: string | null; count: number }[] }>();
		expect(exported.eventCount).toBe(300);
		expect(exported.messageIds).toEqual(events.map((event) => event.messageId).sort());
		expect(exported.eventCounts).toContainEqual({ type: "track", name: "Channel Connected", count: 3 });
		expect(exported.eventCounts).toContainEqual({ type: "page", name: null, count: 291 });

		const profile = await profileOf(visitor);
		const journey = profile.journeys.find((j) => j.id === "saas");
		expect(journey?.completed.map((step) => step.step)).toEqual(DEMO_STEPS);
		expect(journey?.progress).toBe(1);
		// Each step at its own event's time (`channels_connected` at the third channel).
		expect(journey?.completed.map((step) => Date.parse(step.at) - start)).toEqual([0, 1, 2, 3, 4, 5, 8, 9].map((s) => s * 1_000));
	}, 60_000);

	it("stores one event delivered 100 times at once exactly once", async () => {
		const visitor = uniqueId("hot");
		const event = { type: "track", event: "Account Created", anonymousId: visitor, messageId: `${visitor}-once` };
		const answers = await Promise.all(Array.from({ length: 100 }, async () => (await beacon(event)).json<CollectAnswer>()));
		expect(answers.filter((answer) => answer.accepted === 1)).toHaveLength(1);
		expect(answers.filter((answer) => answer.duplicates === 1)).toHaveLength(99);
		expect((await profileOf(visitor)).eventCount).toBe(1);
	}, 60_000);
});
