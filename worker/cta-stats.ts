/**
 * CTA statistics: what the ranking learns from (cached per isolate, so a `GET /v1/next` rarely
 * waits on the shards) and the per-variant report operators read.
 */
import type { Journey, SiteConfig } from "../schema";
import type { RankingStats } from "./core/cta-ranking";
import { addDays, rate, utcDay, wilsonInterval, type CtaMetric, type FunnelStep } from "./core/rollup";
import { readFunnel, shardStubs, type DayRange } from "./funnels";
import type { ShardCtaCounters } from "./objects/rollup-object";

/** Freshness of the ranking's statistics: a new conversion steers answers within this long. */
export const STATS_TTL_MS = 5_000;
/** The ranking learns from visitors who first saw a variant in this many recent days. */
const LEARNING_DAYS = 90;

type Entry = { stats: Promise<RankingStats>; expires: number };
const cache = new Map<string, Entry>();

/** The journey's ranking statistics, from the isolate's cache when fresh. */
export function rankingStats(env: Env, site: SiteConfig, journey: Journey, now = Date.now()): Promise<RankingStats> {
	const key = `${site.id}\u0000${journey.id}\u0000${site.rollups.shards}`;
	const cached = cache.get(key);
	if (cached && cached.expires > now) return cached.stats;
	const stats = loadRankingStats(env, site, journey, now);
	cache.set(key, { stats, expires: now + STATS_TTL_MS });
	// A failed load is not cached: the next request tries again.
	stats.catch(() => cache.delete(key));
	return stats;
}

/** Forgets cached statistics, so the next request reads the shards. */
export function forgetRankingStats(): void {
	cache.clear();
}

async function loadRankingStats(env: Env, site: SiteConfig, journey: Journey, now: number): Promise<RankingStats> {
	const from = addDays(utcDay(now), -(LEARNING_DAYS - 1));
	const shards = await Promise.all(shardStubs(env, site, journey).map((stub) => stub.rankingInputs(from, utcDay(now))));
	const visitors = new Map<string, number>();
	for (const { step, visitors: count } of shards.flatMap((shard) => shard.steps)) visitors.set(step, (visitors.get(step) ?? 0) + count);
	return {
		variants: [...sumCounters(shards.flatMap((shard) => shard.counters))].map(([id, metrics]) => {
			const [cta = "", variant = ""] = id.split("\u0000");
			return { cta, variant, viewers: metrics.viewers, conversions: metrics.conversions };
		}),
		steps: journey.steps.map((step) => ({ step: step.id, visitors: visitors.get(step.id) ?? 0 })),
	};
}

type Totals = Record<CtaMetric, number>;

/** Sums every shard's counters per `cta\0variant`. */
async function ctaTotals(env: Env, site: SiteConfig, journey: Journey, range: DayRange): Promise<Map<string, Totals>> {
	return sumCounters((await Promise.all(shardStubs(env, site, journey).map((stub) => stub.ctaCounters(range.from, range.to)))).flat());
}

function sumCounters(rows: ShardCtaCounters): Map<string, Totals> {
	const totals = new Map<string, Totals>();
	for (const row of rows) {
		const id = `${row.cta}\u0000${row.variant}`;
		const entry = totals.get(id) ?? { views: 0, viewers: 0, clicks: 0, clickers: 0, dismissals: 0, conversions: 0 };
		entry[row.metric] += row.amount;
		totals.set(id, entry);
	}
	return totals;
}

export type CtaReport = DayRange & {
	site: string;
	journey: string;
	ctas: {
		id: string;
		step: string;
		placement: string;
		variants: (Totals & {
			id: string;
			title: string;
			clickRate: number | null;
			conversionRate: number | null;
			conversionInterval: [number, number] | null;
			favoured: boolean;
		})[];
	}[];
	holdout: {
		percent: number;
		steps: { id: string; name: string; holdout: GroupRate; treated: GroupRate; lift: number | null }[];
	};
};
type GroupRate = { visitors: number; conversionFromStart: number | null };

/**
 * Per CTA and variant: views, viewers, clicks, dismissals, attributed conversions, rates with a
 * 95% interval and the variant the ranking favours (highest posterior mean); and each step's
 * conversion for holdout vs. treated visitors, with the lift.
 */
export async function readCtaReport(env: Env, site: SiteConfig, journey: Journey, range: DayRange): Promise<CtaReport> {
	const [totals, byGroup] = await Promise.all([
		ctaTotals(env, site, journey, range),
		readFunnel(env, site, journey, range, { by: "group", limit: 2 }),
	]);
	const ctas = site.ctas
		.filter((cta) => cta.journey === journey.id)
		.map((cta) => {
			const variants = cta.variants.map((variant) => {
				const t = totals.get(`${cta.id}\u0000${variant.id}`) ?? { views: 0, viewers: 0, clicks: 0, clickers: 0, dismissals: 0, conversions: 0 };
				return {
					id: variant.id,
					title: variant.title,
					...t,
					clickRate: rate(t.clickers, t.viewers),
					conversionRate: rate(t.conversions, t.viewers),
					conversionInterval: wilsonInterval(t.conversions, t.viewers),
					favoured: false,
				};
			});
			const posteriorMean = (v: (typeof variants)[number]) => (v.conversions + 1) / (v.viewers + 2);
			const best = variants.reduce((a, b) => (posteriorMean(b) > posteriorMean(a) ? b : a));
			if (variants.length > 1 && variants.some((v) => v.viewers > 0)) best.favoured = true;
			return { id: cta.id, step: cta.step, placement: cta.placement, variants };
		});
	const groupSteps = (group: string): FunnelStep[] | undefined => byGroup.breakdown?.values.find((v) => v.value === group)?.steps;
	const holdoutSteps = groupSteps("holdout");
	const treatedSteps = groupSteps("treated");
	const groupRate = (steps: FunnelStep[] | undefined, i: number): GroupRate => ({
		visitors: steps?.[i]?.visitors ?? 0,
		conversionFromStart: steps?.[i]?.conversionFromStart ?? null,
	});
	return {
		site: site.id,
		journey: journey.id,
		...range,
		ctas,
		holdout: {
			percent: site.holdoutPercent,
			steps: journey.steps.map((step, i) => {
				const holdout = groupRate(holdoutSteps, i);
				const treated = groupRate(treatedSteps, i);
				const lift =
					holdout.conversionFromStart && treated.conversionFromStart !== null
						? Math.round((treated.conversionFromStart / holdout.conversionFromStart - 1) * 10_000) / 10_000
						: null;
				return { id: step.id, name: step.name, holdout, treated, lift };
			}),
		},
	};
}
