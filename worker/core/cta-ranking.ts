/**
 * Next-best CTA: which calls to action a visitor may see (eligibility), which variant of each,
 * and in what order (ranking). Thompson sampling over Beta posteriors learned from the rollups,
 * times the value of the CTA's step toward the macro-conversion. Pure: randomness is passed in.
 */
import type { Cta, Journey, SiteConfig } from "../../schema";
import { matchesAnyGlob } from "./glob";
import { betaSample, hash32 } from "./random";

const HOUR_MS = 3_600_000;
/** Below this many viewers a variant is still being explored, and the reason says so. */
const EXPLORING_BELOW = 30;
/** Pseudo-observations in the pooled prior: new variants start near the average rate. */
const PRIOR_STRENGTH = 4;
/** Pseudo-visitors behind the journey-order prior of a step's value. */
const VALUE_PRIOR_STRENGTH = 10;

/** What a visitor has seen of one CTA. */
export type CtaExposure = {
	views: number;
	lastViewedAt: number | null;
	dismissed: boolean;
	/** The variant last shown, kept so a visitor is not switched between variants. */
	variant: string | null;
};

export type VisitorCtaState = {
	reached: ReadonlyMap<string, number>;
	exposure: ReadonlyMap<string, CtaExposure>;
};

export type NextRequest = { path?: string | undefined; placement?: string | undefined };

/** Learned from the rollups: viewers and attributed conversions per variant, reaches per step. */
export type RankingStats = {
	variants: { cta: string; variant: string; viewers: number; conversions: number }[];
	steps: { step: string; visitors: number }[];
};

export type RankedCta = {
	cta: Cta;
	variant: Cta["variants"][number];
	score: number;
	reason: string;
};

/** Whether a visitor is in the holdout: a stable hash, so the answer never changes. */
export function isHoldout(site: Pick<SiteConfig, "id" | "holdoutPercent">, visitorKey: string): boolean {
	if (site.holdoutPercent <= 0) return false;
	return hash32(`holdout\u0000${site.id}\u0000${visitorKey}`) % 10_000 < site.holdoutPercent * 100;
}

/** The seed of a visitor's draws for a day: the same all day, different the next. */
export function dailySeed(site: string, visitorKey: string, now: number): number {
	return hash32(`${site}\u0000${visitorKey}\u0000${new Date(now).toISOString().slice(0, 10)}`);
}

/**
 * CTAs of the journey the visitor may see now: its step not reached, its `requires` reached,
 * its pages and placement matching, under its caps, and not dismissed.
 */
export function eligibleCtas(
	site: Pick<SiteConfig, "ctas">,
	journey: Journey,
	state: VisitorCtaState,
	request: NextRequest,
	now: number,
): Cta[] {
	return site.ctas.filter((cta) => {
		if (cta.journey !== journey.id || state.reached.has(cta.step)) return false;
		if (!cta.requires.every((step) => state.reached.has(step))) return false;
		if (request.placement !== undefined && cta.placement !== request.placement) return false;
		if (request.path !== undefined && !matchesAnyGlob(request.path, cta.pages)) return false;
		const seen = state.exposure.get(cta.id);
		if (!seen) return true;
		if (cta.dismissible && seen.dismissed) return false;
		if (cta.maxViews !== undefined && seen.views >= cta.maxViews) return false;
		if (cta.cooldownHours !== undefined && seen.lastViewedAt !== null && now - seen.lastViewedAt < cta.cooldownHours * HOUR_MS) {
			return false;
		}
		return true;
	});
}

/**
 * The value of reaching each step: how often visitors who reached it went on to the
 * macro-conversion, shrunk toward a prior that grows along the journey (so with no data,
 * later steps are worth more and the first is worth least).
 */
export function stepValues(journey: Journey, stats: RankingStats | null): Map<string, number> {
	const visitors = new Map(stats?.steps.map((s) => [s.step, s.visitors]));
	const macro = journey.steps.at(-1);
	const macroVisitors = macro ? (visitors.get(macro.id) ?? 0) : 0;
	return new Map(
		journey.steps.map((step, i) => {
			const prior = (i + 1) / journey.steps.length;
			const reached = visitors.get(step.id) ?? 0;
			return [step.id, (Math.min(macroVisitors, reached) + prior * VALUE_PRIOR_STRENGTH) / (reached + VALUE_PRIOR_STRENGTH)];
		}),
	);
}

/**
 * Orders eligible CTAs by the expected value of showing them: a Thompson draw of the chosen
 * variant's conversion rate times the value of the CTA's step. Without any exposure data yet,
 * the journey's own order decides.
 */
export function rankCtas(
	journey: Journey,
	eligible: readonly Cta[],
	state: VisitorCtaState,
	stats: RankingStats | null,
	random: () => number,
): RankedCta[] {
	const byVariant = new Map(stats?.variants.map((v) => [`${v.cta}\u0000${v.variant}`, v]));
	const totals = (stats?.variants ?? []).reduce(
		(sum, v) => ({ viewers: sum.viewers + v.viewers, conversions: sum.conversions + v.conversions }),
		{ viewers: 0, conversions: 0 },
	);
	const pooled = (totals.conversions + 1) / (totals.viewers + 2);
	const prior = { alpha: pooled * PRIOR_STRENGTH, beta: (1 - pooled) * PRIOR_STRENGTH };
	const values = stepValues(journey, stats);
	const order = new Map(journey.steps.map((step, i) => [step.id, i]));
	const stepName = new Map(journey.steps.map((step) => [step.id, step.name]));
	const learned = eligible.some((cta) => cta.variants.some((v) => (byVariant.get(`${cta.id}\u0000${v.id}`)?.viewers ?? 0) > 0));

	const ranked = eligible.map((cta) => {
		const shown = state.exposure.get(cta.id)?.variant;
		const candidates = cta.variants.filter((v) => v.id === shown);
		const pool = candidates.length ? candidates : cta.variants;
		let best: { variant: Cta["variants"][number]; draw: number; viewers: number; conversions: number } | undefined;
		for (const variant of pool) {
			const data = byVariant.get(`${cta.id}\u0000${variant.id}`) ?? { viewers: 0, conversions: 0 };
			const conversions = Math.min(data.conversions, data.viewers);
			const draw = betaSample(prior.alpha + conversions, prior.beta + data.viewers - conversions, random);
			if (!best || draw > best.draw) best = { variant, draw, viewers: data.viewers, conversions };
		}
		const chosen = best!;
		const value = values.get(cta.step) ?? 0;
		const rateOf = (viewers: number, conversions: number) => Math.round((100 * conversions) / Math.max(1, viewers));
		let reason: string;
		if (!learned) {
			reason = "next step in the journey";
		} else if (chosen.viewers < EXPLORING_BELOW) {
			reason = `exploring a new variant (${chosen.viewers} ${chosen.viewers === 1 ? "viewer" : "viewers"} so far)`;
		} else {
			const others = cta.variants
				.filter((v) => v.id !== chosen.variant.id)
				.map((v) => byVariant.get(`${cta.id}\u0000${v.id}`))
				.filter((v): v is NonNullable<typeof v> => v !== undefined && v.viewers > 0);
			const rate = rateOf(chosen.viewers, chosen.conversions);
			if (others.length) {
				const rival = others.reduce((a, b) => (b.conversions / b.viewers > a.conversions / a.viewers ? b : a));
				reason = `variant ${chosen.variant.id} converts ${rate}% vs ${rateOf(rival.viewers, rival.conversions)}%`;
			} else {
				reason = `${rate}% of viewers go on to '${stepName.get(cta.step) ?? cta.step}'`;
			}
		}
		if (shown && candidates.length) reason += `; variant ${shown} is the one this visitor has seen`;
		return { cta, variant: chosen.variant, expected: chosen.draw * value, reason };
	});

	if (!learned) {
		ranked.sort((a, b) => (order.get(a.cta.step) ?? 0) - (order.get(b.cta.step) ?? 0));
		return ranked.map((r, i) => ({ cta: r.cta, variant: r.variant, score: round(1 / (i + 1)), reason: r.reason }));
	}
	ranked.sort((a, b) => b.expected - a.expected || (order.get(a.cta.step) ?? 0) - (order.get(b.cta.step) ?? 0));
	return ranked.map((r) => ({ cta: r.cta, variant: r.variant, score: round(r.expected), reason: r.reason }));
}

function round(value: number): number {
	return Math.round(value * 10_000) / 10_000;
}
