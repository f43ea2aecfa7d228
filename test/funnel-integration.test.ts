/** Through the worker: events become funnels, trends and breakdowns an operator reads. */
import { env } from "cloudflare:workers";
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { utcDay } from "../worker/core/rollup";
import { rollupStub, visitorStub } from "../worker/objects/names";
import { VALUES_PER_DAY } from "../worker/objects/rollup-object";
import { admin, beaconFrom, flushRollups, pageView, track, uniqueId } from "./helpers";

type FunnelStep = {
	id: string;
	visitors: number;
	conversionFromPrevious: number | null;
	conversionFromStart: number | null;
	medianSecondsFromPrevious: number | null;
};
type Funnel = { from: string; to: string; steps: FunnelStep[]; breakdown?: { by: string; values: { value: string; steps: FunnelStep[] }[] } };

const DAY = "2026-11-10";
const at = (hour: number, minute = 0) => ({ timestamp: `${DAY}T${String(hour).padStart(2, "0")}:${String(minute).padStart(2, "0")}:00Z` });
const campaign = (source: string) => ({ context: { campaign: { source, medium: "social" }, page: { path: "/blog/a" } } });

async function funnel(query: string): Promise<Funnel> {
	const res = await admin(`/sites/demo/funnels/saas?${query}`);
	if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
	return res.json();
}

/** Three visitors of one cohort day: two from twitter (one subscribes, one signs up), one from email. */
async function seedCohort() {
	const [a, b, c] = [uniqueId(), uniqueId(), uniqueId()];
	await beaconFrom("DE", { batch: [pageView(a, "/blog/a", { ...at(9), ...campaign("twitter") }), track(a, "Newsletter Subscribed", at(9, 30))] });
	await beaconFrom("US", {
		batch: [
			pageView(b, "/blog/a", { ...at(10), ...campaign("twitter") }),
			track(b, "Podcast Subscribed", at(12)),
			track(b, "Account Created", at(13)),
		],
	});
	await beaconFrom("DE", { batch: [pageView(c, "/reports/r", { ...at(11), ...campaign("email") })] });
	return [a, b, c] as const;
}

describe("GET /v1/admin/sites/:site/funnels/:journey", () => {
	it("counts visitors per step of the cohorts that began in the range, once the outbox is flushed", async () => {
		await seedCohort();
		await flushRollups();
		const report = await funnel(`from=${DAY}&to=${DAY}`);
		expect(report.steps.slice(0, 4)).toEqual([
			expect.objectContaining({ id: "engaged", visitors: 3, conversionFromPrevious: null, conversionFromStart: 1 }),
			expect.objectContaining({ id: "subscribed", visitors: 2, conversionFromPrevious: 0.6667, conversionFromStart: 0.6667 }),
			expect.objectContaining({ id: "signed_up", visitors: 1, conversionFromPrevious: 0.5, conversionFromStart: 0.3333 }),
			expect.objectContaining({ id: "trial_started", visitors: 0, conversionFromPrevious: 0 }),
		]);
		// 30 minutes and 2 hours from engaged to subscribed: the median lands in one of those buckets.
		const median = report.steps[1]!.medianSecondsFromPrevious!;
		expect([1_800, 7_200].some((s) => Math.abs(median - s) / s < 0.1)).toBe(true);
		expect(report.steps[2]?.medianSecondsFromPrevious).toBeGreaterThan(3_300);
		expect(report.steps[2]?.medianSecondsFromPrevious).toBeLessThan(3_900);

		const elsewhere = await funnel("from=2026-10-01&to=2026-10-31");
		expect(elsewhere.steps.every((s) => s.visitors === 0)).toBe(true);
	});

	it("breaks the funnel down by first touch: source, country", async () => {
		const bySource = await funnel(`from=${DAY}&to=${DAY}&breakdown=source`);
		expect(bySource.breakdown?.by).toBe("source");
		const values = Object.fromEntries(bySource.breakdown!.values.map((v) => [v.value, v.steps.slice(0, 3).map((s) => s.visitors)]));
		expect(values).toEqual({ twitter: [2, 2, 1], email: [1, 0, 0] });
		const byCountry = await funnel(`from=${DAY}&to=${DAY}&breakdown=country`);
		expect(byCountry.breakdown!.values.map((v) => [v.value, v.steps[0]!.visitors])).toEqual([
			["DE", 2],
			["US", 1],
		]);
	});

	it("gives reaches per step per activity day as a trend", async () => {
		const res = await admin(`/sites/demo/funnels/saas/trend?from=2026-11-09&to=2026-11-11`);
		const trend = await res.json<{ days: string[]; steps: { id: string; reaches: number[] }[] }>();
		expect(trend.days).toEqual(["2026-11-09", "2026-11-10", "2026-11-11"]);
		expect(trend.steps.find((s) => s.id === "engaged")?.reaches).toEqual([0, 3, 0]);
		expect(trend.steps.find((s) => s.id === "subscribed")?.reaches).toEqual([0, 2, 0]);
	});

	it("moves a visitor to an earlier cohort when an earlier event arrives late, counting them once", async () => {
		const late = uniqueId();
		await beaconFrom("FR", track(late, "Report Viewed", { timestamp: "2026-11-20T10:00:00Z" }));
		await flushRollups();
		expect((await funnel("from=2026-11-20&to=2026-11-20")).steps[0]?.visitors).toBe(1);
		await beaconFrom("FR", pageView(late, "/blog/early", { timestamp: "2026-11-19T10:00:00Z" }));
		await flushRollups();
		expect((await funnel("from=2026-11-20&to=2026-11-20")).steps[0]?.visitors).toBe(0);
		expect((await funnel("from=2026-11-19&to=2026-11-20")).steps[0]?.visitors).toBe(1);
	});

	it("keeps an erased visitor's counts but forgets which visitor they came from", async () => {
		const visitor = uniqueId();
		await beaconFrom("NL", pageView(visitor, "/blog/gone", { timestamp: "2026-11-25T10:00:00Z" }));
		await flushRollups();
		expect((await funnel("from=2026-11-25&to=2026-11-25")).steps[0]?.visitors).toBe(1);
		const stub = visitorStub(env, "demo", { kind: "anonymous", id: visitor });
		const key = await runInDurableObject(stub, (_, state) => state.id.toString());
		const linked = async () => {
			let rows = 0;
			for (let shard = 0; shard < 8; shard++) {
				rows += await runInDurableObject(rollupStub(env, "demo", "saas", shard), (_, state) =>
					state.storage.sql.exec("SELECT count(*) AS n FROM contributions WHERE visitor = ?", key).one().n as number,
				);
			}
			return rows;
		};
		expect(await linked()).toBe(1);
		expect((await admin(`/sites/demo/visitors/${visitor}`, { method: "DELETE" })).status).toBe(200);
		expect(await linked()).toBe(0);
		expect((await funnel("from=2026-11-25&to=2026-11-25")).steps[0]?.visitors).toBe(1);
	});

	it("defaults to the last 30 days including today", async () => {
		const visitor = uniqueId();
		await beaconFrom("DE", pageView(visitor, "/blog/today"));
		await flushRollups();
		const report = await funnel("");
		const today = utcDay(Date.now());
		expect(report.to).toBe(today);
		expect(report.from).toBe(utcDay(Date.now() - 29 * 86_400_000));
		expect(report.steps[0]?.visitors).toBeGreaterThanOrEqual(1);
	});

	it("keeps crawlers out of the funnel and counts them apart", async () => {
		const [person, crawler] = [uniqueId(), uniqueId()];
		const googlebot = { "user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)" };
		await beaconFrom("US", { batch: [pageView(person, "/blog/a", at(8)), track(person, "Newsletter Subscribed", at(8, 5))] }, {});
		await beaconFrom("US", { batch: [pageView(crawler, "/blog/a", { ...at(8), context: { page: { path: "/blog/a" }, ...googlebot } })] }, googlebot);
		await flushRollups();
		const before = await funnel(`from=${DAY}&to=${DAY}&breakdown=device`);
		expect((before as unknown as { bots: { id: string; visitors: number }[] }).bots.slice(0, 2)).toEqual([
			{ id: "engaged", visitors: expect.any(Number) },
			{ id: "subscribed", visitors: 0 },
		]);
		expect(before.breakdown?.values.map((v) => v.value)).not.toContain("bot");
		const bots = (before as unknown as { bots: { visitors: number }[] }).bots[0]!.visitors;
		// One more crawler: the bot count grows, the people's funnel does not.
		await beaconFrom("US", pageView(uniqueId(), "/blog/b", at(9)), googlebot);
		await flushRollups();
		const after = await funnel(`from=${DAY}&to=${DAY}`);
		expect((after as unknown as { bots: { visitors: number }[] }).bots[0]!.visitors).toBe(bots + 1);
		expect(after.steps[0]!.visitors).toBe(before.steps[0]!.visitors);
	});

	it("answers 404 for an unknown site or journey and 400 for bad dates or breakdowns", async () => {
		expect((await admin("/sites/nope/funnels/saas")).status).toBe(404);
		const unknownJourney = await admin("/sites/demo/funnels/nope");
		expect(unknownJourney.status).toBe(404);
		expect(await unknownJourney.json()).toMatchObject({ error: { code: "journey_not_found" } });
		for (const query of ["from=2026-13-01", "to=yesterday", "from=2026-02-30", "from=2026-11-10&to=2026-11-01", "from=2020-01-01&to=2026-01-01", "breakdown=shoe-size"]) {
			const res = await admin(`/sites/demo/funnels/saas?${query}`);
			expect(res.status, query).toBe(400);
			expect((await res.json<{ error: { code: string } }>()).error.code).toMatch(/^invalid_/);
		}
	});
});

describe("rollup delivery", () => {
	it("a restarted visitor never pushes a pending delivery back behind its retention alarm", async () => {
		const visitor = uniqueId();
		const stub = () => visitorStub(env, "demo", { kind: "anonymous", id: visitor });
		await beaconFrom("NL", pageView(visitor, "/blog/a"));
		// As after a failed delivery: the outbox entry backs off for ten minutes.
		const retryAt = Date.now() + 10 * 60_000;
		await runInDurableObject(stub(), async (_, state) => {
			state.storage.sql.exec("UPDATE rollup_state SET due_at = ?, attempts = 3 WHERE due_at IS NOT NULL", retryAt);
			await state.storage.setAlarm(retryAt);
		});
		await abortAllDurableObjects();
		// A page view that changes nothing in the rollups, on the restarted object.
		await beaconFrom("NL", pageView(visitor, "/blog/a"));
		const alarm = await runInDurableObject(stub(), (_, state) => state.storage.getAlarm());
		expect(alarm).toBeLessThanOrEqual(retryAt);
	});

	it("a funnel read reflects an accepted event within 10 seconds, with no one running the alarms", async () => {
		const day = "2026-11-27";
		const count = async () => (await funnel(`from=${day}&to=${day}`)).steps[0]?.visitors ?? 0;
		const before = await count();
		const accepted = Date.now();
		await beaconFrom("NL", pageView(uniqueId(), "/blog/fresh", { timestamp: `${day}T10:00:00Z` }));
		await vi.waitFor(async () => expect(await count()).toBe(before + 1), { timeout: 10_000, interval: 200 });
		expect(Date.now() - accepted).toBeLessThan(10_000);
	});

	it("erasing a visitor first delivers what its outbox still holds, so the counts stay", async () => {
		const visitor = uniqueId();
		await beaconFrom("NL", pageView(visitor, "/blog/unflushed", { timestamp: "2026-11-26T10:00:00Z" }));
		expect((await admin(`/sites/demo/visitors/${visitor}`, { method: "DELETE" })).status).toBe(200);
		expect((await funnel("from=2026-11-26&to=2026-11-26")).steps[0]?.visitors).toBe(1);
	});
});

describe("RollupObject", () => {
	const contribution = (source: string, cohortDay = "2026-11-05") => ({
		cohortDay,
		steps: [{ step: "engaged", at: Date.parse(`${cohortDay}T10:00:00Z`), fromPrevious: null, fromStart: 0 }],
		touch: { source, medium: "(none)", campaign: "(none)", referrer: "(direct)", country: "DE", device: "desktop" },
		group: "treated" as const,
		ctas: [],
	});
	const read = async (stub: ReturnType<typeof rollupStub>, dim: "" | "source" = "") =>
		(await stub.funnel("2026-11-01", "2026-11-30", dim)).visitors;

	it("applies an update once however often it is delivered, and ignores stale versions", async () => {
		const stub = rollupStub(env, "demo", "saas", 901);
		const update = { visitor: "v1", version: 2, contribution: contribution("twitter") };
		expect(await stub.apply({ retentionDays: 400, updates: [update, update] })).toEqual({ applied: 1 });
		expect(await stub.apply({ retentionDays: 400, updates: [{ ...update, version: 1, contribution: contribution("email") }] })).toEqual({ applied: 0 });
		expect(await read(stub, "source")).toEqual([{ step: "engaged", value: "twitter", visitors: 1 }]);
		await stub.apply({ retentionDays: 400, updates: [{ visitor: "v1", version: 3, contribution: null }] });
		expect(await read(stub)).toEqual([]);
	});

	it(`keeps ${VALUES_PER_DAY} breakdown values per day and counts the rest as (other)`, async () => {
		const stub = rollupStub(env, "demo", "saas", 902);
		const updates = Array.from({ length: VALUES_PER_DAY + 5 }, (_, i) => ({ visitor: `v${i}`, version: 1, contribution: contribution(`source-${i}`) }));
		await stub.apply({ retentionDays: 400, updates });
		const rows = await read(stub, "source");
		expect(rows).toHaveLength(VALUES_PER_DAY + 1);
		expect(rows.find((r) => r.value === "(other)")?.visitors).toBe(5);
		expect(rows.reduce((sum, r) => sum + r.visitors, 0)).toBe(VALUES_PER_DAY + 5);
		// A visitor counted under (other) is subtracted from (other) exactly when it changes.
		await stub.apply({ retentionDays: 400, updates: [{ visitor: `v${VALUES_PER_DAY + 4}`, version: 2, contribution: null }] });
		expect((await read(stub, "source")).find((r) => r.value === "(other)")?.visitors).toBe(4);
	});

	it("drops rows older than the retention period when its alarm runs", async () => {
		const stub = rollupStub(env, "demo", "saas", 903);
		const recent = utcDay(Date.now() - 2 * 86_400_000);
		const old = utcDay(Date.now() - 40 * 86_400_000);
		await stub.apply({
			retentionDays: 400,
			updates: [
				{ visitor: "old", version: 1, contribution: contribution("a", old) },
				{ visitor: "new", version: 1, contribution: contribution("a", recent) },
			],
		});
		const range = [utcDay(Date.now() - 60 * 86_400_000), utcDay(Date.now())] as const;
		expect((await stub.funnel(...range, "")).visitors[0]?.visitors).toBe(2);
		// The site shortens its retention: the next update carries it, the next alarm enforces it.
		await stub.apply({ retentionDays: 30, updates: [] });
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		expect((await stub.funnel(...range, "")).visitors[0]?.visitors).toBe(1);
		expect((await stub.trend(...range)).map((r) => r.day)).toEqual([recent]);
		const alarm = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
		expect(alarm).toBeGreaterThan(Date.now());
	});

	it("never counts a visitor twice when it changes after part of its contribution aged out", async () => {
		const stub = rollupStub(env, "demo", "saas", 904);
		const old = utcDay(Date.now() - 40 * 86_400_000);
		const today = utcDay(Date.now());
		const oldStep = { step: "engaged", at: Date.parse(`${old}T10:00:00Z`), fromPrevious: null, fromStart: 0 };
		const todayStep = { step: "subscribed", at: Date.parse(`${today}T10:00:00Z`), fromPrevious: 3_456_000, fromStart: 3_456_000 };
		await stub.apply({ retentionDays: 400, updates: [{ visitor: "v", version: 1, contribution: contribution("a", old) }] });
		await stub.apply({ retentionDays: 30, updates: [] });
		await runDurableObjectAlarm(stub);
		// Returning 40 days later: one more step today. Today's reach counts once; the aged-out cohort stays gone.
		const later = { ...contribution("a", old), steps: [oldStep, todayStep] };
		await stub.apply({ retentionDays: 30, updates: [{ visitor: "v", version: 2, contribution: later }] });
		await stub.apply({ retentionDays: 30, updates: [{ visitor: "v", version: 3, contribution: { ...later, touch: { ...later.touch, source: "b" } } }] });
		const range = [utcDay(Date.now() - 60 * 86_400_000), today] as const;
		expect(await stub.trend(...range)).toEqual([{ day: today, step: "subscribed", reaches: 1 }]);
		expect((await stub.funnel(...range, "")).visitors).toEqual([]);
	});
});
