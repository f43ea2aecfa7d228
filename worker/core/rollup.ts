/**
 * Rollup arithmetic: what one visitor contributes to a journey's funnel, the rows that
 * contribution adds to a shard, log-scale time histograms and their medians, and the funnel
 * merged from every shard. Pure functions; RollupObject stores what they compute.
 */
import type { Journey } from "../../schema";
import { BOT, BREAKDOWNS, type Breakdown, type FirstTouch } from "./first-touch";
import { hash32 } from "./random";

const DAY_MS = 86_400_000;

/** The UTC day of a time, `YYYY-MM-DD`. */
export function utcDay(time: number): string {
	return new Date(time).toISOString().slice(0, 10);
}

/** Adds whole days to a `YYYY-MM-DD` day. */
export function addDays(day: string, days: number): string {
	return utcDay(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS);
}

/** A stable hash, so a visitor always lands on the same shard. */
export function shardOf(key: string, shards: number): number {
	return hash32(key) % shards;
}

/** One step a visitor reached, with the times that feed the histograms. */
export type ContributedStep = {
	step: string;
	at: number;
	/** Seconds since the step reached last before it (in time); null for the first reached step. */
	fromPrevious: number | null;
	fromStart: number;
};

/** What a visitor did with one CTA variant, and whether a step was credited to it. */
export type CtaContribution = {
	cta: string;
	variant: string;
	/** The UTC day the visitor first saw (or clicked) it. */
	day: string;
	views: number;
	clicks: number;
	dismissals: number;
	converted: boolean;
};

/** Holdout visitors never get a CTA; comparing them with the treated ones measures lift. */
export type Group = "holdout" | "treated";

/** Everything one visitor adds to one journey's rollups. Replaced whole when it changes. */
export type Contribution = {
	/** The UTC day the visitor's journey began; null while no step is reached. */
	cohortDay: string | null;
	steps: ContributedStep[];
	touch: FirstTouch;
	group: Group;
	ctas: CtaContribution[];
};

/** The visitor's contribution to the journey, or null with neither progress nor CTA exposure. */
export function journeyContribution(
	journey: Journey,
	reached: ReadonlyMap<string, number>,
	touch: FirstTouch,
	group: Group = "treated",
	ctas: CtaContribution[] = [],
): Contribution | null {
	const times = [...reached.values()];
	if (times.length === 0) return ctas.length ? { cohortDay: null, steps: [], touch, group, ctas } : null;
	const start = Math.min(...times);
	const order = journey.steps.map((step) => step.id);
	const steps: ContributedStep[] = [];
	for (const [i, step] of journey.steps.entries()) {
		const at = reached.get(step.id);
		if (at === undefined) continue;
		// The step reached last before this one, in time: in an any-order journey that need not
		// be the step before it in the journey. Ties go to the step earlier in the journey.
		let previous: number | undefined;
		for (const [other, otherAt] of reached) {
			const j = order.indexOf(other);
			if (j === i || j < 0 || otherAt > at || (otherAt === at && j > i)) continue;
			if (previous === undefined || otherAt > previous) previous = otherAt;
		}
		steps.push({
			step: step.id,
			at,
			fromPrevious: previous === undefined ? null : Math.round((at - previous) / 1000),
			fromStart: Math.round((at - start) / 1000),
		});
	}
	return { cohortDay: utcDay(start), steps, touch, group, ctas };
}

/** A touch of a CTA variant: a view or a click, at a time. */
export type CtaTouch = { cta: string; variant: string; at: number };

/**
 * Last-touch attribution: each reached step is credited to the variant of a CTA for that step
 * that the visitor viewed or clicked last before reaching it, within the window.
 */
export function attributeSteps(
	ctaSteps: ReadonlyMap<string, string>,
	reached: ReadonlyMap<string, number>,
	touches: readonly CtaTouch[],
	windowMs: number,
): Set<string> {
	const credited = new Set<string>();
	for (const [step, at] of reached) {
		let last: CtaTouch | undefined;
		for (const touch of touches) {
			if (ctaSteps.get(touch.cta) !== step || touch.at > at || touch.at < at - windowMs) continue;
			if (!last || touch.at > last.at) last = touch;
		}
		if (last) credited.add(`${last.cta}\u0000${last.variant}`);
	}
	return credited;
}

/** Funnels break down by first touch, and by holdout group to measure lift. */
export const FUNNEL_BREAKDOWNS = [...BREAKDOWNS, "group"] as const;
export type FunnelBreakdown = (typeof FUNNEL_BREAKDOWNS)[number];

/** `""` is the whole population, `bots` the visitors counted apart; otherwise a breakdown dimension. */
export type Dimension = "" | FunnelBreakdown | typeof BOTS;

/** Visitors whose first touch came from a crawler: kept out of every funnel, trend and CTA count. */
export const BOTS = "bots";

export type FunnelKey = { cohortDay: string; step: string; dim: Dimension; value: string };
export type HistogramKey = FunnelKey & { kind: "previous" | "start"; bucket: number };
export type TrendKey = { day: string; step: string };
export type CtaMetric = "views" | "viewers" | "clicks" | "clickers" | "dismissals" | "conversions";
export type CtaKey = { day: string; cta: string; variant: string; metric: CtaMetric; amount: number };

/**
 * The counter rows one contribution adds (or, when replaced, removes): visitors per cohort day
 * and step and the time from the previous step, overall and per breakdown value; the time from
 * the start, overall; reaches per activity day; and CTA counters.
 */
export function contributionRows(contribution: Contribution): {
	funnel: FunnelKey[];
	histograms: HistogramKey[];
	trend: TrendKey[];
	ctas: CtaKey[];
} {
	const funnel: FunnelKey[] = [];
	const histograms: HistogramKey[] = [];
	const trend: TrendKey[] = [];
	const ctas: CtaKey[] = [];
	const { cohortDay, touch } = contribution;
	for (const c of contribution.ctas) {
		const metrics: [CtaMetric, number][] = [
			["views", c.views],
			["viewers", c.views > 0 ? 1 : 0],
			["clicks", c.clicks],
			["clickers", c.clicks > 0 ? 1 : 0],
			["dismissals", c.dismissals],
			["conversions", c.converted ? 1 : 0],
		];
		for (const [metric, amount] of metrics) {
			if (amount > 0) ctas.push({ day: c.day, cta: c.cta, variant: c.variant, metric, amount });
		}
	}
	if (contribution.touch.device === BOT) {
		// Counted per step apart from people, and nowhere else: bots must not steer the ranking.
		for (const reached of contribution.steps) if (cohortDay !== null) funnel.push({ cohortDay, step: reached.step, dim: BOTS, value: "" });
		return { funnel, histograms, trend, ctas: [] };
	}
	if (cohortDay === null) return { funnel, histograms, trend, ctas };
	const slices: { dim: Dimension; value: string }[] = [
		{ dim: "", value: "" },
		...BREAKDOWNS.map((dim) => ({ dim, value: touch[dim] })),
		{ dim: "group", value: contribution.group },
	];
	for (const reached of contribution.steps) {
		for (const { dim, value } of slices) {
			funnel.push({ cohortDay, step: reached.step, dim, value });
			if (reached.fromPrevious !== null) {
				histograms.push({ cohortDay, step: reached.step, dim, value, kind: "previous", bucket: bucketOf(reached.fromPrevious) });
			}
		}
		// Time from the start only for the whole population: per breakdown value it would add a
		// third of the rows every flush writes (rows written are most of the cost).
		histograms.push({ cohortDay, step: reached.step, dim: "", value: "", kind: "start", bucket: bucketOf(reached.fromStart) });
		trend.push({ day: utcDay(reached.at), step: reached.step });
	}
	return { funnel, histograms, trend, ctas };
}

/** Wilson score interval (95%) for a rate: honest at small counts, unlike p ± 2σ. */
export function wilsonInterval(successes: number, trials: number): [number, number] | null {
	if (trials <= 0) return null;
	const z = 1.96;
	const p = successes / trials;
	const denominator = 1 + (z * z) / trials;
	const centre = (p + (z * z) / (2 * trials)) / denominator;
	const margin = (z * Math.sqrt((p * (1 - p)) / trials + (z * z) / (4 * trials * trials))) / denominator;
	const round = (x: number) => Math.round(Math.min(1, Math.max(0, x)) * 10_000) / 10_000;
	return [round(centre - margin), round(centre + margin)];
}

/**
 * Log-scale buckets of seconds: four per doubling (each about 19% wide), so a minute and a
 * month both keep two significant digits while a whole year fits in 100 buckets.
 */
const BUCKETS_PER_DOUBLING = 4;

export function bucketOf(seconds: number): number {
	if (seconds <= 0) return 0;
	return 1 + Math.floor(Math.log2(seconds) * BUCKETS_PER_DOUBLING);
}

/** The [low, high) seconds a bucket covers. */
export function bucketBounds(bucket: number): [number, number] {
	if (bucket <= 0) return [0, 1];
	return [2 ** ((bucket - 1) / BUCKETS_PER_DOUBLING), 2 ** (bucket / BUCKETS_PER_DOUBLING)];
}

/** The median of a histogram (bucket → count), at its bucket's geometric midpoint; null when empty. */
export function histogramMedian(histogram: ReadonlyMap<number, number>): number | null {
	const total = [...histogram.values()].reduce((sum, count) => sum + count, 0);
	if (total === 0) return null;
	const half = total / 2;
	let seen = 0;
	for (const bucket of [...histogram.keys()].sort((a, b) => a - b)) {
		seen += histogram.get(bucket) ?? 0;
		if (seen >= half) {
			if (bucket === 0) return 0;
			const [low, high] = bucketBounds(bucket);
			return Math.round(Math.sqrt(low * high));
		}
	}
	return null;
}

/** `part / whole`, rounded to 4 decimals; null when there is no whole. */
export function rate(part: number, whole: number): number | null {
	return whole > 0 ? Math.round((part / whole) * 10_000) / 10_000 : null;
}

/** Per-step counts for one slice of the population, summed over shards and cohort days. */
export type StepCounts = {
	visitors: Map<string, number>;
	previous: Map<string, Map<number, number>>;
	start: Map<string, Map<number, number>>;
};

/** What one shard holds for a funnel read, summed over the cohort days asked for. */
export type ShardFunnel = {
	visitors: { step: string; value: string; visitors: number }[];
	histograms: { kind: "previous" | "start"; step: string; value: string; bucket: number; count: number }[];
};

/** Reaches per step and activity day, as one shard holds them. */
export type ShardTrend = { day: string; step: string; reaches: number }[];

/** Sums shard answers into counts per breakdown value (`""` when not broken down). */
export function sumShards(shards: readonly ShardFunnel[]): Map<string, StepCounts> {
	const byValue = new Map<string, StepCounts>();
	const countsOf = (value: string) => {
		let counts = byValue.get(value);
		if (!counts) byValue.set(value, (counts = emptyCounts()));
		return counts;
	};
	for (const shard of shards) {
		for (const { step, value, visitors } of shard.visitors) {
			const counts = countsOf(value);
			counts.visitors.set(step, (counts.visitors.get(step) ?? 0) + visitors);
		}
		for (const { kind, step, value, bucket, count } of shard.histograms) addHistogram(countsOf(value)[kind], step, bucket, count);
	}
	return byValue;
}

export function emptyCounts(): StepCounts {
	return { visitors: new Map(), previous: new Map(), start: new Map() };
}

export function addHistogram(target: Map<string, Map<number, number>>, step: string, bucket: number, count: number) {
	let histogram = target.get(step);
	if (!histogram) target.set(step, (histogram = new Map()));
	histogram.set(bucket, (histogram.get(bucket) ?? 0) + count);
}

export type FunnelStep = {
	id: string;
	name: string;
	visitors: number;
	conversionFromPrevious: number | null;
	conversionFromStart: number | null;
	medianSecondsFromPrevious: number | null;
	medianSecondsFromStart: number | null;
};

/**
 * The funnel of one slice. Conversion from the previous step compares with the step before in
 * the journey (null for the first); conversion from start with the first step.
 */
export function funnelSteps(journey: Journey, counts: StepCounts): FunnelStep[] {
	const first = counts.visitors.get(journey.steps[0]?.id ?? "") ?? 0;
	return journey.steps.map((step, i) => {
		const visitors = counts.visitors.get(step.id) ?? 0;
		const before = i === 0 ? undefined : (counts.visitors.get(journey.steps[i - 1]?.id ?? "") ?? 0);
		return {
			id: step.id,
			name: step.name,
			visitors,
			conversionFromPrevious: before === undefined ? null : rate(visitors, before),
			conversionFromStart: rate(visitors, first),
			medianSecondsFromPrevious: histogramMedian(counts.previous.get(step.id) ?? new Map()),
			medianSecondsFromStart: histogramMedian(counts.start.get(step.id) ?? new Map()),
		};
	});
}

/** The breakdown value that collects everything past the cardinality cap. */
export const OTHER = "(other)";

/**
 * Keeps the `limit` values with the most visitors at the journey's first step and folds the
 * rest into `(other)`, so a long tail of campaigns stays one readable row.
 */
export function topValues(journey: Journey, byValue: ReadonlyMap<string, StepCounts>, limit: number): Map<string, StepCounts> {
	const firstStep = journey.steps[0]?.id ?? "";
	const size = (counts: StepCounts) => Math.max(0, ...counts.visitors.values(), counts.visitors.get(firstStep) ?? 0);
	const ranked = [...byValue].filter(([value]) => value !== OTHER).sort(([a, x], [b, y]) => size(y) - size(x) || (a < b ? -1 : 1));
	const kept = new Map(ranked.slice(0, limit));
	const folded = [...ranked.slice(limit), ...(byValue.has(OTHER) ? [[OTHER, byValue.get(OTHER)!] as const] : [])];
	if (folded.length) {
		const other = emptyCounts();
		for (const [, counts] of folded) mergeCounts(other, counts);
		kept.set(OTHER, other);
	}
	return kept;
}

export function mergeCounts(target: StepCounts, source: StepCounts): void {
	for (const [step, visitors] of source.visitors) target.visitors.set(step, (target.visitors.get(step) ?? 0) + visitors);
	for (const [kind, histograms] of [
		["previous", source.previous],
		["start", source.start],
	] as const) {
		for (const [step, histogram] of histograms) {
			for (const [bucket, count] of histogram) addHistogram(target[kind], step, bucket, count);
		}
	}
}
