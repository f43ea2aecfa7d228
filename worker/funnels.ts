/**
 * Funnel and trend reads: one parallel fan-out over a journey's rollup shards, merged by the
 * pure functions in `core/rollup`.
 */
import type { Journey, SiteConfig } from "../schema";
import {
	addDays,
	BOTS,
	emptyCounts,
	funnelSteps,
	OTHER,
	sumShards,
	topValues,
	type FunnelBreakdown,
	type FunnelStep,
} from "./core/rollup";
import { rollupStub } from "./objects/names";

/** Inclusive UTC days, `YYYY-MM-DD`. */
export type DayRange = { from: string; to: string };

export type FunnelReport = DayRange & {
	site: string;
	journey: string;
	steps: FunnelStep[];
	/** Visitors per step whose first touch was a crawler, left out of `steps` and `breakdown`. */
	bots: { id: string; visitors: number }[];
	breakdown?: { by: FunnelBreakdown; values: { value: string; steps: FunnelStep[] }[] };
};

export type TrendReport = DayRange & {
	site: string;
	journey: string;
	days: string[];
	steps: { id: string; name: string; reaches: number[] }[];
};

export function shardStubs(env: Env, site: SiteConfig, journey: Journey) {
	return Array.from({ length: site.rollups.shards }, (_, shard) => rollupStub(env, site.id, journey.id, shard));
}

/** The funnel of visitors whose journey began in the range, optionally per breakdown value. */
export async function readFunnel(
	env: Env,
	site: SiteConfig,
	journey: Journey,
	range: DayRange,
	breakdown: { by: FunnelBreakdown; limit: number } | undefined,
): Promise<FunnelReport> {
	const stubs = shardStubs(env, site, journey);
	const [overall, bots, split] = await Promise.all([
		Promise.all(stubs.map((stub) => stub.funnel(range.from, range.to, ""))),
		Promise.all(stubs.map((stub) => stub.funnel(range.from, range.to, BOTS))),
		breakdown ? Promise.all(stubs.map((stub) => stub.funnel(range.from, range.to, breakdown.by))) : undefined,
	]);
	const botCounts = sumShards(bots).get("") ?? emptyCounts();
	const report: FunnelReport = {
		site: site.id,
		journey: journey.id,
		...range,
		steps: funnelSteps(journey, sumShards(overall).get("") ?? emptyCounts()),
		bots: journey.steps.map((step) => ({ id: step.id, visitors: botCounts.visitors.get(step.id) ?? 0 })),
	};
	if (breakdown && split) {
		const values = [...topValues(journey, sumShards(split), breakdown.limit)]
			.map(([value, counts]) => ({ value, steps: funnelSteps(journey, counts) }))
			.sort((a, b) => Number(a.value === OTHER) - Number(b.value === OTHER) || (b.steps[0]?.visitors ?? 0) - (a.steps[0]?.visitors ?? 0));
		report.breakdown = { by: breakdown.by, values };
	}
	return report;
}

/** Reaches per step per activity day in the range, every day present (zeros included). */
export async function readTrend(env: Env, site: SiteConfig, journey: Journey, range: DayRange): Promise<TrendReport> {
	const rows = (await Promise.all(shardStubs(env, site, journey).map((stub) => stub.trend(range.from, range.to)))).flat();
	const days: string[] = [];
	for (let day = range.from; day <= range.to; day = addDays(day, 1)) days.push(day);
	const index = new Map(days.map((day, i) => [day, i]));
	const reaches = new Map(journey.steps.map((step) => [step.id, days.map(() => 0)]));
	for (const row of rows) {
		const series = reaches.get(row.step);
		const i = index.get(row.day);
		if (series && i !== undefined) series[i] = (series[i] ?? 0) + row.reaches;
	}
	return {
		site: site.id,
		journey: journey.id,
		...range,
		days,
		steps: journey.steps.map((step) => ({ id: step.id, name: step.name, reaches: reaches.get(step.id) ?? [] })),
	};
}
