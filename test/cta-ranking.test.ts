/** Pure: which CTAs a visitor may see, in what order, and which step a CTA is credited with. */
import { describe, expect, it } from "vitest";
import { parseSiteConfig, type SiteConfig } from "../schema";
import demo from "../schema/sites/demo.json";
import {
	dailySeed,
	eligibleCtas,
	isHoldout,
	rankCtas,
	stepValues,
	type CtaExposure,
	type RankingStats,
	type VisitorCtaState,
} from "../worker/core/cta-ranking";
import { betaSample, seededRandom } from "../worker/core/random";
import { attributeSteps, wilsonInterval } from "../worker/core/rollup";

const parsed = parseSiteConfig(demo);
if (!parsed.ok) throw new Error("demo config invalid");
const site: SiteConfig = parsed.config;
const saas = site.journeys[0]!;
const NOW = Date.parse("2026-12-01T12:00:00Z");
const HOUR = 3_600_000;

function state(steps: string[], exposure: Record<string, Partial<CtaExposure>> = {}): VisitorCtaState {
	return {
		reached: new Map(steps.map((step, i) => [step, NOW - (steps.length - i) * HOUR])),
		exposure: new Map(
			Object.entries(exposure).map(([id, e]) => [id, { views: 0, lastViewedAt: null, dismissed: false, variant: null, ...e }]),
		),
	};
}
const ids = (ctas: { id: string }[]) => ctas.map((c) => c.id);
const eligible = (s: VisitorCtaState, request = {}) => ids(eligibleCtas(site, saas, s, request, NOW));

describe("eligibility", () => {
	it("offers CTAs whose requires are reached and whose step is not", () => {
		expect(eligible(state([]))).toEqual([]);
		expect(eligible(state(["engaged"]))).toEqual(["subscribe-newsletter", "create-account"]);
		expect(eligible(state(["engaged", "subscribed", "signed_up"]))).toEqual(["start-trial"]);
		expect(eligible(state(["engaged", "subscribed", "signed_up", "trial_started"]))).toEqual(["schedule-first-post", "upgrade"]);
	});

	it("never offers a CTA for a step already done, even when reached out of order", () => {
		expect(eligible(state(["engaged", "signed_up"]))).toEqual(["subscribe-newsletter", "start-trial"]);
	});

	it("matches the page path and placement", () => {
		const s = state(["engaged"]);
		expect(eligible(s, { path: "/pricing" })).toEqual(["create-account"]);
		expect(eligible(s, { path: "/blog/remote-work" })).toEqual(["subscribe-newsletter", "create-account"]);
		const trial = state(["engaged", "subscribed", "signed_up", "trial_started"]);
		expect(eligible(trial, { placement: "banner" })).toEqual(["upgrade"]);
	});

	it("respects maxViews, the cooldown after a view, and dismissals", () => {
		const base = ["engaged", "subscribed", "signed_up"];
		expect(eligible(state(base, { "start-trial": { views: 6, lastViewedAt: NOW - 100 * HOUR } }))).toEqual([]);
		expect(eligible(state(base, { "start-trial": { views: 1, lastViewedAt: NOW - 7 * HOUR } }))).toEqual([]);
		expect(eligible(state(base, { "start-trial": { views: 1, lastViewedAt: NOW - 9 * HOUR } }))).toEqual(["start-trial"]);
		expect(eligible(state(base, { "start-trial": { dismissed: true } }))).toEqual([]);
		const notDismissible = { ...site, ctas: site.ctas.map((c) => ({ ...c, dismissible: false })) };
		expect(ids(eligibleCtas(notDismissible, saas, state(base, { "start-trial": { dismissed: true } }), {}, NOW))).toEqual(["start-trial"]);
	});
});

describe("holdout", () => {
	it("is stable per visitor and close to the configured share", () => {
		expect(isHoldout(site, "anonymous:a-1")).toBe(isHoldout(site, "anonymous:a-1"));
		let held = 0;
		for (let i = 0; i < 10_000; i++) if (isHoldout(site, `anonymous:v-${i}`)) held++;
		expect(held / 10_000).toBeGreaterThan(0.08);
		expect(held / 10_000).toBeLessThan(0.12);
		expect(isHoldout({ id: "x", holdoutPercent: 0 }, "anonymous:a-1")).toBe(false);
	});
});

describe("ranking", () => {
	const engaged = state(["engaged"]);
	const trialReady = state(["engaged", "subscribed", "signed_up"]);
	const trialCta = site.ctas.filter((c) => c.id === "start-trial");
	const stats = (a: [number, number], b: [number, number]): RankingStats => ({
		variants: [
			{ cta: "start-trial", variant: "a", viewers: a[0], conversions: a[1] },
			{ cta: "start-trial", variant: "b", viewers: b[0], conversions: b[1] },
		],
		steps: [],
	});

	it("follows the journey's order when nothing has been learned yet", () => {
		const ranked = rankCtas(saas, eligibleCtas(site, saas, engaged, {}, NOW), engaged, null, seededRandom(1));
		expect(ranked.map((r) => [r.cta.id, r.score, r.reason])).toEqual([
			["subscribe-newsletter", 1, "next step in the journey"],
			["create-account", 0.5, "next step in the journey"],
		]);
	});

	it("gives the same answer for the same visitor and day, and may change the next day", () => {
		const seed = dailySeed("demo", "anonymous:a-1", NOW);
		expect(seed).toBe(dailySeed("demo", "anonymous:a-1", NOW + 11 * HOUR));
		expect(seed).not.toBe(dailySeed("demo", "anonymous:a-1", NOW + 13 * HOUR));
		const s = stats([40, 4], [40, 12]);
		const first = rankCtas(saas, trialCta, trialReady, s, seededRandom(seed));
		const again = rankCtas(saas, trialCta, trialReady, s, seededRandom(seed));
		expect(again).toEqual(first);
	});

	it("mostly shows the variant that converts better, and says why", () => {
		const s = stats([200, 20], [200, 60]);
		let b = 0;
		for (let seed = 0; seed < 500; seed++) {
			const [top] = rankCtas(saas, trialCta, trialReady, s, seededRandom(seed));
			if (top?.variant.id === "b") {
				b++;
				expect(top.reason).toBe("variant b converts 30% vs 10%");
			}
		}
		expect(b).toBeGreaterThan(480);
	});

	it("explores a new variant next to an established one", () => {
		const s = stats([400, 40], [0, 0]);
		let explored = 0;
		for (let seed = 0; seed < 500; seed++) {
			const [top] = rankCtas(saas, trialCta, trialReady, s, seededRandom(seed));
			if (top?.variant.id === "b") {
				explored++;
				expect(top.reason).toBe("exploring a new variant (0 viewers so far)");
			}
		}
		expect(explored).toBeGreaterThan(50);
		expect(explored).toBeLessThan(450);
	});

	it("keeps showing a visitor the variant they have already seen", () => {
		const seen = state(["engaged", "subscribed", "signed_up"], { "start-trial": { views: 1, lastViewedAt: NOW - 20 * HOUR, variant: "a" } });
		for (let seed = 0; seed < 50; seed++) {
			const [top] = rankCtas(saas, trialCta, seen, stats([200, 20], [200, 60]), seededRandom(seed));
			expect(top?.variant.id).toBe("a");
			expect(top?.reason).toContain("variant a is the one this visitor has seen");
		}
	});

	it("values steps by how often they lead to the macro-conversion", () => {
		const values = stepValues(saas, { variants: [], steps: [{ step: "engaged", visitors: 1000 }, { step: "trial_started", visitors: 100 }, { step: "paid", visitors: 50 }] });
		expect(values.get("trial_started")).toBeGreaterThan(values.get("engaged")!);
		expect(values.get("paid")).toBeCloseTo((50 + 10) / 60, 5);
		const priors = stepValues(saas, null);
		expect(priors.get("engaged")).toBe(1 / 8);
		expect(priors.get("paid")).toBe(1);
	});
});

describe("sampling and attribution", () => {
	it("draws Beta samples with the right mean", () => {
		const random = seededRandom(42);
		let sum = 0;
		for (let i = 0; i < 4000; i++) sum += betaSample(3, 7, random);
		expect(sum / 4000).toBeGreaterThan(0.28);
		expect(sum / 4000).toBeLessThan(0.32);
	});

	it("credits a step to the last CTA variant viewed or clicked for it within the window", () => {
		const ctaSteps = new Map([["start-trial", "trial_started"], ["upgrade", "paid"]]);
		const reached = new Map([["trial_started", NOW]]);
		const touches = [
			{ cta: "start-trial", variant: "a", at: NOW - 3 * HOUR },
			{ cta: "start-trial", variant: "b", at: NOW - 1 * HOUR },
			{ cta: "upgrade", variant: "a", at: NOW - 0.5 * HOUR },
			{ cta: "start-trial", variant: "a", at: NOW + HOUR },
		];
		expect([...attributeSteps(ctaSteps, reached, touches, 7 * 24 * HOUR)]).toEqual(["start-trial\u0000b"]);
		expect([...attributeSteps(ctaSteps, reached, touches, 0.5 * HOUR)]).toEqual([]);
	});

	it("gives a 95% interval that contains the rate and narrows with data", () => {
		const [low, high] = wilsonInterval(10, 100)!;
		expect(low).toBeLessThan(0.1);
		expect(high).toBeGreaterThan(0.1);
		const [low2, high2] = wilsonInterval(100, 1000)!;
		expect(high2 - low2).toBeLessThan(high - low);
		expect(wilsonInterval(0, 0)).toBeNull();
	});
});
