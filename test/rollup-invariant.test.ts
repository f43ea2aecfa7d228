/**
 * The rollup invariant: whatever order events arrive in, however often they are delivered and
 * whenever objects restart, the funnel equals the counts computed from the visitors' own state.
 */
import { abortAllDurableObjects } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it, vi } from "vitest";
import { parseSiteConfig } from "../schema";
import demo from "../schema/sites/demo.json";
import { utcDay } from "../worker/core/rollup";
import { rollupStub, visitorStub } from "../worker/objects/names";
import type { VisitorProfile } from "../worker/objects/visitor-object";
import { admin, beaconFrom, uniqueId } from "./helpers";

const VISITORS = 200;
const SOURCES = ["twitter", "email", "google", "linkedin"];
const DAY_MS = 86_400_000;

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function random(seed: number) {
	return () => {
		seed = (seed + 0x6d2b79f5) | 0;
		let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

const STEP_EVENTS: ((rand: () => number) => { type: string; event?: string; path?: string }[])[] = [
	(rand) => [rand() < 0.6 ? { type: "page", path: `/blog/post-${Math.floor(rand() * 5)}` } : { type: "track", event: "Report Viewed" }],
	(rand) => [{ type: "track", event: ["Newsletter Subscribed", "Podcast Subscribed", "Extension Installed"][Math.floor(rand() * 3)]! }],
	() => [{ type: "track", event: "Account Created" }],
	() => [{ type: "track", event: "Trial Started" }],
	() => [{ type: "track", event: "Post Scheduled" }],
	() => [{ type: "track", event: "Analytics Viewed" }],
	(rand) => Array.from({ length: rand() < 0.8 ? 3 : 2 }, () => ({ type: "track", event: "Channel Connected" })),
	() => [{ type: "track", event: "Subscription Upgraded" }],
];

it(`the funnel equals ${VISITORS} visitors' own progress after duplicates, disorder and restarts`, async () => {
	const rand = random(20261203);
	const now = Date.now();
	const visitors: string[] = [];
	const requests: { country: string; batch: Record<string, unknown>[] }[] = [];

	const countryOf = new Map<string, string>();
	for (let v = 0; v < VISITORS; v++) {
		const id = uniqueId("inv");
		visitors.push(id);
		const start = now - Math.floor(rand() * 20 * DAY_MS) - 3 * DAY_MS;
		const depth = Math.floor(rand() * (STEP_EVENTS.length + 1));
		const source = SOURCES[Math.floor(rand() * SOURCES.length)]!;
		const country = rand() < 0.5 ? "DE" : "US";
		countryOf.set(id, country);
		let time = start;
		const events: Record<string, unknown>[] = [];
		const push = (e: { type: string; event?: string; path?: string }) => {
			time += Math.floor(rand() * 6 * 3_600_000);
			events.push({
				type: e.type,
				...(e.event ? { event: e.event } : {}),
				anonymousId: id,
				messageId: crypto.randomUUID(),
				timestamp: new Date(time).toISOString(),
				context: { page: { path: e.path ?? "/app" }, ...(events.length === 0 ? { campaign: { source } } : {}) },
			});
		};
		push({ type: "page", path: "/pricing" });
		for (let step = 0; step < depth; step++) {
			if (rand() < 0.08) continue; // a skipped step: the ordered journey stops advancing there
			for (const e of STEP_EVENTS[step]!(rand)) push(e);
			if (rand() < 0.3) push({ type: "track", event: "Button Clicked" });
		}
		// Duplicate deliveries: the same messageId sent again later.
		for (const event of [...events]) if (rand() < 0.3) events.push(event);
		// Out-of-order arrival, in requests of one to four events.
		events.sort(() => rand() - 0.5);
		for (let i = 0; i < events.length; ) {
			const size = 1 + Math.floor(rand() * 4);
			requests.push({ country, batch: events.slice(i, i + size) });
			i += size;
		}
	}
	requests.sort(() => rand() - 0.5);

	// Restart every object halfway and at the end, with outboxes and alarms in flight. (Not more
	// often: under vitest-pool-workers each abort makes later Durable Object calls slower.)
	const PARALLEL = 16;
	const restarts = new Set([Math.floor(requests.length / PARALLEL / 2)]);
	for (let i = 0; i < requests.length; i += PARALLEL) {
		const answers = await Promise.all(requests.slice(i, i + PARALLEL).map((r) => beaconFrom(r.country, { batch: r.batch })));
		for (const answer of answers) expect(answer.status).toBe(200);
		if (restarts.has(i / PARALLEL)) await abortAllDurableObjects();
	}
	await abortAllDurableObjects();

	const expected = new Map<string, number>();
	const expectedBySource = new Map<string, Map<string, number>>();
	const expectedByCountry = new Map<string, Map<string, number>>();
	const expectedByDay = new Map<string, Map<string, number>>();
	const count = (table: Map<string, Map<string, number>>, key: string, step: string) => {
		const counts = table.get(key) ?? new Map<string, number>();
		counts.set(step, (counts.get(step) ?? 0) + 1);
		table.set(key, counts);
	};
	let firstCohort = utcDay(now);
	const site = parseSiteConfig(demo);
	if (!site.ok) throw new Error("demo config invalid");
	for (const id of visitors) {
		// Read straight from the visitor's object (the admin route would also probe a user object).
		const profile = (await visitorStub(env, "demo", { kind: "anonymous", id }).profile(site.config, {
			eventLimit: 200,
		})) as VisitorProfile | null;
		if (!profile) throw new Error(`visitor ${id} was not stored`);
		const completed = profile.journeys[0]!.completed;
		if (completed.length === 0) continue;
		const cohort = utcDay(Math.min(...completed.map((c) => Date.parse(c.at))));
		if (cohort < firstCohort) firstCohort = cohort;
		const firstEvent = [...profile.events].sort((a, b) => Date.parse(String(a.timestamp)) - Date.parse(String(b.timestamp)))[0];
		const firstSource = (firstEvent?.context as { campaign?: { source?: string } } | undefined)?.campaign?.source ?? "(none)";
		for (const { step } of completed) {
			expected.set(step, (expected.get(step) ?? 0) + 1);
			count(expectedBySource, firstSource, step);
			count(expectedByCountry, countryOf.get(id)!, step);
			count(expectedByDay, cohort, step);
		}
	}
	expect(expected.get("engaged")).toBeGreaterThan(VISITORS / 2);
	expect(expected.get("paid") ?? 0).toBeGreaterThan(0);

	const range = `from=${firstCohort}&to=${utcDay(now)}`;
	type Funnel = {
		steps: { id: string; visitors: number }[];
		breakdown: { values: { value: string; steps: { id: string; visitors: number }[] }[] };
	};
	// The alarms deliver on their own (with retries after the restarts); wait until they have.
	const funnel = await vi.waitFor(
		async () => {
			const report = await (await admin(`/sites/demo/funnels/saas?${range}&breakdown=source`)).json<Funnel>();
			expect(Object.fromEntries(report.steps.map((s) => [s.id, s.visitors]))).toEqual(
				Object.fromEntries(report.steps.map((s) => [s.id, expected.get(s.id) ?? 0])),
			);
			return report;
		},
		{ timeout: 60_000, interval: 500 },
	);
	for (const value of funnel.breakdown.values) {
		const counts = expectedBySource.get(value.value) ?? new Map();
		expect(Object.fromEntries(value.steps.map((s) => [s.id, s.visitors])), value.value).toEqual(
			Object.fromEntries(value.steps.map((s) => [s.id, counts.get(s.id) ?? 0])),
		);
	}
	expect(funnel.breakdown.values.map((v) => v.value).sort()).toEqual([...expectedBySource.keys()].sort());

	// What the CTA ranking learns from (one read per shard): the same visitors per step.
	const learned = new Map<string, number>();
	for (let shard = 0; shard < site.config.rollups.shards; shard++) {
		const inputs = await rollupStub(env, "demo", "saas", shard).rankingInputs(firstCohort, utcDay(now));
		for (const { step, visitors } of inputs.steps) learned.set(step, (learned.get(step) ?? 0) + visitors);
	}
	expect(Object.fromEntries(learned)).toEqual(Object.fromEntries(expected));

	// Per breakdown of country, and per single cohort day: a visitor in the wrong cohort would show here.
	const byCountry = await (await admin(`/sites/demo/funnels/saas?${range}&breakdown=country`)).json<Funnel>();
	for (const value of byCountry.breakdown.values) {
		const counts = expectedByCountry.get(value.value) ?? new Map();
		expect(Object.fromEntries(value.steps.map((s) => [s.id, s.visitors])), value.value).toEqual(
			Object.fromEntries(value.steps.map((s) => [s.id, counts.get(s.id) ?? 0])),
		);
	}
	for (const [day, counts] of [...expectedByDay].slice(0, 6)) {
		const report = await (await admin(`/sites/demo/funnels/saas?from=${day}&to=${day}`)).json<Funnel>();
		expect(Object.fromEntries(report.steps.map((s) => [s.id, s.visitors])), day).toEqual(
			Object.fromEntries(report.steps.map((s) => [s.id, counts.get(s.id) ?? 0])),
		);
	}

	const trend = await (await admin(`/sites/demo/funnels/saas/trend?${range}`)).json<{ steps: { id: string; reaches: number[] }[] }>();
	for (const step of trend.steps) {
		expect(step.reaches.reduce((a, b) => a + b, 0), step.id).toBe(expected.get(step.id) ?? 0);
	}
}, 300_000);
