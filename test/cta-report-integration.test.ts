/**
 * The CTA report an operator reads, on a site of its own so every number is exact: views,
 * viewers, clicks, dismissals, attributed conversions, rates with their interval, the favoured
 * variant, and each step's conversion for holdout vs. treated visitors with the lift.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { parseSiteConfig } from "../schema";
import demo from "../schema/sites/demo.json";
import { isHoldout } from "../worker/core/cta-ranking";
import { wilsonInterval } from "../worker/core/rollup";
import { rankingStats, STATS_TTL_MS } from "../worker/cta-stats";
import { admin, beacon, flushRollups, pageView, track, uniqueId } from "./helpers";

const KEY = "cta-report-write-key";
const config = { ...structuredClone(demo), id: "cta-report", writeKeys: [KEY], holdoutPercent: 50 };
const parsed = parseSiteConfig(config);
if (!parsed.ok) throw new Error("config invalid");
const site = parsed.config;

function visitor(holdout: boolean): string {
	for (;;) {
		const id = uniqueId();
		if (isHoldout(site, `anonymous:${id}`) === holdout) return id;
	}
}
const hoursAgo = (hours: number) => ({ timestamp: new Date(Date.now() - hours * 3_600_000).toISOString() });
const signedUp = (id: string) => [pageView(id, "/blog/a", hoursAgo(30)), track(id, "Newsletter Subscribed", hoursAgo(29)), track(id, "Account Created", hoursAgo(28))];
const cta = (id: string, action: string, variant: string, hours: number) =>
	track(id, action, { properties: { cta_id: "start-trial", variant_id: variant }, ...hoursAgo(hours) });
const send = (batch: unknown[]) => beacon({ batch }, `/v1/collect?writeKey=${KEY}`);

type Variant = { id: string; views: number; viewers: number; clicks: number; dismissals: number; conversions: number; conversionRate: number | null; conversionInterval: [number, number] | null; clickRate: number | null; favoured: boolean };
type Report = {
	ctas: { id: string; variants: Variant[] }[];
	holdout: { percent: number; steps: { id: string; holdout: { visitors: number; conversionFromStart: number | null }; treated: { visitors: number; conversionFromStart: number | null }; lift: number | null }[] };
};

beforeAll(async () => {
	const res = await admin("/sites/cta-report", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(config) });
	expect(res.status).toBe(201);
	const [t1, t2, t3, h1, h2] = [visitor(false), visitor(false), visitor(false), visitor(true), visitor(true)];
	await send([...signedUp(t1), cta(t1, "CTA Viewed", "b", 10), cta(t1, "CTA Clicked", "b", 9), track(t1, "Trial Started", hoursAgo(8))]);
	await send([...signedUp(t2), cta(t2, "CTA Viewed", "b", 10), cta(t2, "CTA Viewed", "b", 7), cta(t2, "CTA Dismissed", "b", 6)]);
	await send([...signedUp(t3), cta(t3, "CTA Viewed", "a", 10)]);
	await send(signedUp(h1));
	await send([...signedUp(h2), track(h2, "Trial Started", hoursAgo(8))]);
	await flushRollups();
});

describe("GET /v1/admin/sites/:site/ctas/:journey", () => {
	it("counts every variant's views, viewers, clicks, dismissals and attributed conversions, with rates and intervals", async () => {
		const report = await (await admin("/sites/cta-report/ctas/saas")).json<Report>();
		const trial = report.ctas.find((c) => c.id === "start-trial")!;
		expect(trial.variants).toEqual([
			{ id: "a", title: expect.any(String), views: 1, viewers: 1, clicks: 0, clickers: 0, dismissals: 0, conversions: 0, clickRate: 0, conversionRate: 0, conversionInterval: wilsonInterval(0, 1), favoured: false },
			{ id: "b", title: expect.any(String), views: 3, viewers: 2, clicks: 1, clickers: 1, dismissals: 1, conversions: 1, clickRate: 0.5, conversionRate: 0.5, conversionInterval: wilsonInterval(1, 2), favoured: true },
		]);
	});

	it("compares each step's conversion for holdout and treated visitors: the lift", async () => {
		const report = await (await admin("/sites/cta-report/ctas/saas")).json<Report>();
		expect(report.holdout.percent).toBe(50);
		const trial = report.holdout.steps.find((s) => s.id === "trial_started")!;
		expect(trial).toMatchObject({
			holdout: { visitors: 1, conversionFromStart: 0.5 },
			treated: { visitors: 1, conversionFromStart: 0.3333 },
			lift: -0.3334,
		});
		const engaged = report.holdout.steps.find((s) => s.id === "engaged")!;
		expect(engaged).toMatchObject({ holdout: { visitors: 2 }, treated: { visitors: 3 }, lift: 0 });
	});
});

describe("the ranking's statistics", () => {
	it("are cached per isolate for at most 10 seconds, so new conversions steer answers soon", async () => {
		expect(STATS_TTL_MS).toBeLessThanOrEqual(10_000);
		const journey = site.journeys[0]!;
		const now = Date.now();
		const first = rankingStats(env, site, journey, now);
		expect(rankingStats(env, site, journey, now + STATS_TTL_MS - 1)).toBe(first);
		const before = await first;
		// A new viewer who converts, delivered to the shards: the cached answer does not know yet.
		const id = visitor(false);
		await send([...signedUp(id), cta(id, "CTA Viewed", "a", 5), track(id, "Trial Started", hoursAgo(4))]);
		await flushRollups();
		const fresh = await rankingStats(env, site, journey, now + STATS_TTL_MS);
		const a = (stats: typeof before) => stats.variants.find((v) => v.cta === "start-trial" && v.variant === "a");
		expect(a(fresh)?.conversions).toBe((a(before)?.conversions ?? 0) + 1);
	});
});
