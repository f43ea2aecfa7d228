/** Pure: the rollup arithmetic behind every funnel number. */
import { describe, expect, it } from "vitest";
import { parseSiteConfig } from "../schema";
import demo from "../schema/sites/demo.json";
import { deviceClass, readTouch, type FirstTouch } from "../worker/core/first-touch";
import {
	addDays,
	bucketBounds,
	bucketOf,
	contributionRows,
	funnelSteps,
	histogramMedian,
	journeyContribution,
	OTHER,
	rate,
	shardOf,
	sumShards,
	topValues,
	emptyCounts,
	type StepCounts,
} from "../worker/core/rollup";

const config = parseSiteConfig(demo);
if (!config.ok) throw new Error("demo config invalid");
const saas = config.config.journeys[0]!;
const touch: FirstTouch = { source: "twitter", medium: "social", campaign: "launch", referrer: "t.co", country: "DE", device: "mobile" };
const T0 = Date.parse("2026-11-01T23:30:00Z");

describe("time histograms", () => {
	it("bucket seconds on a log scale whose bounds contain the value", () => {
		expect(bucketOf(0)).toBe(0);
		for (const seconds of [1, 2, 59, 60, 3_599, 86_400, 30 * 86_400]) {
			const [low, high] = bucketBounds(bucketOf(seconds));
			expect(seconds).toBeGreaterThanOrEqual(low);
			expect(seconds).toBeLessThan(high);
			expect(high / low).toBeLessThan(1.2);
		}
		expect(bucketOf(365 * 86_400)).toBeLessThanOrEqual(100);
	});

	it("give the median within a bucket's width of the true one", () => {
		const samples = [30, 45, 60, 90, 120, 600, 3_600];
		const histogram = new Map<number, number>();
		for (const s of samples) histogram.set(bucketOf(s), (histogram.get(bucketOf(s)) ?? 0) + 1);
		const median = histogramMedian(histogram)!;
		expect(median / 90).toBeGreaterThan(0.9);
		expect(median / 90).toBeLessThan(1.1);
		expect(histogramMedian(new Map())).toBeNull();
		expect(histogramMedian(new Map([[0, 3]]))).toBe(0);
	});
});

describe("conversion rates", () => {
	it("divide by the step before and by the first step, null without a base", () => {
		expect(rate(1, 3)).toBe(0.3333);
		expect(rate(0, 0)).toBeNull();
		const counts: StepCounts = emptyCounts();
		counts.visitors.set("engaged", 200).set("subscribed", 50).set("signed_up", 10);
		const steps = funnelSteps(saas, counts);
		expect(steps.slice(0, 4).map((s) => [s.visitors, s.conversionFromPrevious, s.conversionFromStart])).toEqual([
			[200, null, 1],
			[50, 0.25, 0.25],
			[10, 0.2, 0.05],
			[0, 0, 0],
		]);
		expect(steps[0]).toMatchObject({ id: "engaged", name: "Read a post, podcast or report" });
	});
});

describe("a visitor's contribution", () => {
	it("starts its cohort on the UTC day of the first step and times each step", () => {
		const reached = new Map([
			["engaged", T0],
			["subscribed", T0 + 3_600_000],
			["signed_up", T0 + 7_200_000],
		]);
		const contribution = journeyContribution(saas, reached, touch)!;
		expect(contribution.cohortDay).toBe("2026-11-01");
		expect(contribution.steps).toEqual([
			{ step: "engaged", at: T0, fromPrevious: null, fromStart: 0 },
			{ step: "subscribed", at: T0 + 3_600_000, fromPrevious: 3_600, fromStart: 3_600 },
			{ step: "signed_up", at: T0 + 7_200_000, fromPrevious: 3_600, fromStart: 7_200 },
		]);
		expect(journeyContribution(saas, new Map(), touch)).toBeNull();
	});

	it("times a step from the step reached just before it in time, which in an any-order journey need not come first", () => {
		const anyOrder = { ...saas, order: "any" as const };
		const reached = new Map([
			["signed_up", T0],
			["engaged", T0 + 600_000],
			["subscribed", T0 + 900_000],
		]);
		expect(journeyContribution(anyOrder, reached, touch)!.steps).toEqual([
			{ step: "engaged", at: T0 + 600_000, fromPrevious: 600, fromStart: 600 },
			{ step: "subscribed", at: T0 + 900_000, fromPrevious: 300, fromStart: 900 },
			{ step: "signed_up", at: T0, fromPrevious: null, fromStart: 0 },
		]);
	});

	it("adds one visitor per step overall and per breakdown value, and counts activity on its own day", () => {
		const contribution = journeyContribution(saas, new Map([["engaged", T0], ["subscribed", T0 + 3_600_000]]), touch)!;
		const rows = contributionRows(contribution);
		// Overall, six first-touch dimensions and the holdout group, for each of the two steps.
		expect(rows.funnel).toHaveLength(2 * 8);
		expect(rows.funnel).toContainEqual({ cohortDay: "2026-11-01", step: "subscribed", dim: "source", value: "twitter" });
		expect(rows.funnel).toContainEqual({ cohortDay: "2026-11-01", step: "engaged", dim: "group", value: "treated" });
		expect(rows.trend).toEqual([
			{ day: "2026-11-01", step: "engaged" },
			{ day: "2026-11-02", step: "subscribed" },
		]);
		// Time from the start is kept for the whole population only.
		expect(rows.histograms.filter((h) => h.kind === "start").map((h) => [h.step, h.dim])).toEqual([
			["engaged", ""],
			["subscribed", ""],
		]);
		expect(rows.histograms.filter((h) => h.kind === "previous" && h.dim === "")).toEqual([
			{ cohortDay: "2026-11-01", step: "subscribed", dim: "", value: "", kind: "previous", bucket: bucketOf(3_600) },
		]);
	});
});

describe("merging shards and capping breakdowns", () => {
	it("sums shards per value", () => {
		const merged = sumShards([
			{ visitors: [{ step: "engaged", value: "a", visitors: 2 }], histograms: [{ kind: "start", step: "engaged", value: "a", bucket: 0, count: 2 }] },
			{ visitors: [{ step: "engaged", value: "a", visitors: 3 }, { step: "engaged", value: "b", visitors: 1 }], histograms: [] },
		]);
		expect(merged.get("a")?.visitors.get("engaged")).toBe(5);
		expect(merged.get("b")?.visitors.get("engaged")).toBe(1);
		expect(merged.get("a")?.start.get("engaged")?.get(0)).toBe(2);
	});

	it("keeps the biggest values and folds the rest, and any (other), into (other)", () => {
		const counts = (n: number) => {
			const c = emptyCounts();
			c.visitors.set("engaged", n);
			return c;
		};
		const byValue = new Map([
			["small", counts(1)],
			["big", counts(50)],
			["medium", counts(10)],
			[OTHER, counts(4)],
		]);
		const top = topValues(saas, byValue, 2);
		expect([...top.keys()]).toEqual(["big", "medium", OTHER]);
		expect(top.get(OTHER)?.visitors.get("engaged")).toBe(5);
	});
});

describe("shards and days", () => {
	it("a key always lands on the same shard, and keys spread evenly", () => {
		expect(shardOf("visitor-1", 8)).toBe(shardOf("visitor-1", 8));
		const counts = new Array(8).fill(0);
		for (let i = 0; i < 8_000; i++) counts[shardOf(`visitor-${i}`, 8)]++;
		for (const count of counts) expect(Math.abs(count - 1_000)).toBeLessThan(150);
	});

	it("adds days across month ends", () => {
		expect(addDays("2026-11-30", 1)).toBe("2026-12-01");
		expect(addDays("2026-03-01", -1)).toBe("2026-02-28");
	});
});

describe("first touch", () => {
	it("reads UTM values from the campaign context or the page url, and the referring domain", () => {
		expect(readTouch({ campaign: { source: "Twitter", medium: "social", name: "Launch" }, referrer: "https://www.t.co/x" })).toMatchObject({
			source: "twitter",
			medium: "social",
			campaign: "launch",
			referrer: "t.co",
		});
		expect(readTouch({ pageUrl: "https://app.example/?utm_source=newsletter&utm_medium=email", referrer: "https://app.example/pricing" })).toMatchObject({
			source: "newsletter",
			medium: "email",
			campaign: "(none)",
			referrer: "(direct)",
		});
	});

	it("takes the country only as a two-letter code and classes devices", () => {
		expect(readTouch({ country: "FR" }).country).toBe("FR");
		expect(readTouch({ country: "<script>" }).country).toBe("(none)");
		expect(deviceClass("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148")).toBe("mobile");
		expect(deviceClass("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)")).toBe("tablet");
		expect(deviceClass("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Safari/537.36")).toBe("tablet");
		expect(deviceClass("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0")).toBe("desktop");
		expect(deviceClass("Googlebot/2.1 (+http://www.google.com/bot.html)")).toBe("bot");
		expect(deviceClass(undefined)).toBe("(none)");
	});
});
