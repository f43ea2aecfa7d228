/** Pure: match rules, globs and when each step of a journey is first reached. */
import { describe, expect, it } from "vitest";
import { parseSiteConfig, type Journey, type MatchRule } from "../schema";
import demo from "../schema/sites/demo.json";
import { matchesAnyGlob } from "../worker/core/glob";
import { evaluateJourney, matchRule, ruleKey, siteRules, type MatchableEvent } from "../worker/core/journey";

const demoConfig = (() => {
	const result = parseSiteConfig(demo);
	if (!result.ok) throw new Error("demo config invalid");
	return result.config;
})();
const saas = demoConfig.journeys[0]!;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse("2026-11-01T09:00:00Z");

function event(partial: Partial<MatchableEvent>): MatchableEvent {
	return { type: "track", name: null, path: null, properties: {}, ...partial };
}

const rule = (r: Partial<MatchRule>): MatchRule => ({ count: 1, ...r });

/** Runs events (name or page path, time) through the site's rules as a visitor would keep them. */
function progressOf(journey: Journey, events: { e: MatchableEvent; at: number }[]) {
	const rules = siteRules({ journeys: [journey] });
	const hits = new Map<string, number[]>();
	for (const { e, at } of events) {
		for (const [key, r] of rules) {
			if (!matchRule(r, e)) continue;
			const list = [...(hits.get(key) ?? []), at].sort((a, b) => a - b).slice(0, r.count);
			hits.set(key, list);
		}
	}
	return Object.fromEntries(evaluateJourney(journey, hits));
}

const trackAt = (name: string, at: number, properties = {}) => ({ e: event({ name, properties }), at });
const pageAt = (path: string, at: number) => ({ e: event({ type: "page", path }), at });

describe("globs", () => {
	it("'*' stays within a segment, '**' crosses them", () => {
		expect(matchesAnyGlob("/kits/starter", "/kits/*")).toBe(true);
		expect(matchesAnyGlob("/kits/starter/reviews", "/kits/*")).toBe(false);
		expect(matchesAnyGlob("/blog/2026/remote", "/blog/**")).toBe(true);
		expect(matchesAnyGlob("/blog", "/blog/**")).toBe(true);
		expect(matchesAnyGlob("/blogroll", "/blog/**")).toBe(false);
		expect(matchesAnyGlob("/pricing", ["/blog/**", "/pricing"])).toBe(true);
		expect(matchesAnyGlob("/a.b", "/a?b")).toBe(true);
		expect(matchesAnyGlob("/axb", "/a.b")).toBe(false);
	});
});

describe("match rules", () => {
	it("match the event name, any of a list", () => {
		const r = rule({ event: ["Newsletter Subscribed", "Podcast Subscribed"] });
		expect(matchRule(r, event({ name: "Podcast Subscribed" }))).toBe(true);
		expect(matchRule(r, event({ name: "Podcast Played" }))).toBe(false);
	});

	it("match the type and page path", () => {
		const r = rule({ type: "page", path: ["/blog/**", "/podcast/**"] });
		expect(matchRule(r, event({ type: "page", path: "/podcast/ep-12" }))).toBe(true);
		expect(matchRule(r, event({ type: "track", path: "/podcast/ep-12" }))).toBe(false);
		expect(matchRule(r, event({ type: "page", path: "/pricing" }))).toBe(false);
		expect(matchRule(r, event({ type: "page", path: null }))).toBe(false);
	});

	it("match property conditions: literals, operators, dot paths, numeric strings", () => {
		const r = rule({
			event: "Order Completed",
			properties: { currency: "EUR", total: { gte: 20 }, "shipping.country": { in: ["DE", "FR"] }, coupon: { exists: false } },
		});
		const order = (properties: Record<string, unknown>) => event({ name: "Order Completed", properties });
		expect(matchRule(r, order({ currency: "EUR", total: "24.50", shipping: { country: "FR" } }))).toBe(true);
		expect(matchRule(r, order({ currency: "EUR", total: 19, shipping: { country: "FR" } }))).toBe(false);
		expect(matchRule(r, order({ currency: "USD", total: 30, shipping: { country: "FR" } }))).toBe(false);
		expect(matchRule(r, order({ currency: "EUR", total: 30, shipping: { country: "US" } }))).toBe(false);
		expect(matchRule(r, order({ currency: "EUR", total: 30, shipping: { country: "DE" }, coupon: "X" }))).toBe(false);
		expect(matchRule(rule({ properties: { tags: { contains: "vip" } } }), event({ properties: { tags: ["vip"] } }))).toBe(true);
		expect(matchRule(rule({ properties: { plan: { ne: "free" } } }), event({ properties: { plan: "free" } }))).toBe(false);
	});

	it("have keys that ignore field order, so hits survive a reformatted config", () => {
		expect(ruleKey({ event: "A", count: 3, type: "track" })).toBe(ruleKey({ type: "track", count: 3, event: "A" }));
		expect(ruleKey({ event: "A", count: 3 })).not.toBe(ruleKey({ event: "A", count: 2 }));
	});
});

describe("the demo journey", () => {
	it("reaches steps in order, each at its event's time", () => {
		const reached = progressOf(saas, [
			pageAt("/blog/remote-work", T0),
			trackAt("Newsletter Subscribed", T0 + HOUR),
			trackAt("Account Created", T0 + 2 * HOUR),
		]);
		expect(reached).toEqual({ engaged: T0, subscribed: T0 + HOUR, signed_up: T0 + 2 * HOUR });
	});

	it("'Report Viewed' is engagement too; other pages are not", () => {
		expect(progressOf(saas, [pageAt("/pricing", T0)])).toEqual({});
		expect(progressOf(saas, [trackAt("Report Viewed", T0)])).toEqual({ engaged: T0 });
	});

	it("counts channels_connected at the third Channel Connected", () => {
		const base = [pageAt("/blog/a", T0), trackAt("Extension Installed", T0), trackAt("Account Created", T0)];
		const rest = ["Trial Started", "Post Scheduled", "Analytics Viewed"].map((n, i) => trackAt(n, T0 + (i + 1) * HOUR));
		const channels = [10, 11, 12].map((h) => trackAt("Channel Connected", T0 + h * HOUR));
		expect(progressOf(saas, [...base, ...rest, ...channels.slice(0, 2)])).not.toHaveProperty("channels_connected");
		expect(progressOf(saas, [...base, ...rest, ...channels])).toHaveProperty("channels_connected", T0 + 12 * HOUR);
	});

	it("gives the same first-reached times whatever order events arrive in", () => {
		const events = [
			pageAt("/blog/a", T0),
			trackAt("Podcast Subscribed", T0 + HOUR),
			pageAt("/blog/b", T0 + 2 * HOUR),
			trackAt("Account Created", T0 + 3 * HOUR),
			trackAt("Account Created", T0 + 5 * HOUR),
		];
		const expected = progressOf(saas, events);
		expect(expected).toEqual({ engaged: T0, subscribed: T0 + HOUR, signed_up: T0 + 3 * HOUR });
		expect(progressOf(saas, [...events].reverse())).toEqual(expected);
		expect(progressOf(saas, [events[3]!, events[0]!, events[4]!, events[2]!, events[1]!])).toEqual(expected);
	});

	it("ordered: a step done early counts once the steps before it are done", () => {
		const reached = progressOf(saas, [trackAt("Account Created", T0), pageAt("/blog/a", T0 + DAY)]);
		expect(reached).toEqual({ engaged: T0 + DAY });
		const later = progressOf(saas, [
			trackAt("Account Created", T0),
			pageAt("/blog/a", T0 + DAY),
			trackAt("Newsletter Subscribed", T0 + 2 * DAY),
		]);
		expect(later).toEqual({ engaged: T0 + DAY, subscribed: T0 + 2 * DAY, signed_up: T0 + 2 * DAY });
	});
});

describe("journey options", () => {
	const journey = (overrides: Partial<Journey>): Journey => ({
		id: "j",
		name: "J",
		windowDays: 7,
		order: "ordered",
		steps: [
			{ id: "a", name: "A", match: rule({ event: "A" }), optional: false, macro: false, serverOnly: false },
			{ id: "b", name: "B", match: rule({ event: "B" }), optional: true, macro: false, serverOnly: false },
			{ id: "c", name: "C", match: rule({ event: "C" }), optional: false, macro: true, serverOnly: false },
		],
		...overrides,
	});

	it("ordered journeys may skip an optional step", () => {
		expect(progressOf(journey({}), [trackAt("A", T0), trackAt("C", T0 + HOUR)])).toEqual({ a: T0, c: T0 + HOUR });
	});

	it("stop advancing windowDays after the journey began", () => {
		expect(progressOf(journey({}), [trackAt("A", T0), trackAt("C", T0 + 8 * DAY)])).toEqual({ a: T0 });
		expect(progressOf(journey({}), [trackAt("A", T0), trackAt("C", T0 + 6 * DAY)])).toEqual({ a: T0, c: T0 + 6 * DAY });
	});

	it("any-order journeys count every step at its own time", () => {
		const reached = progressOf(journey({ order: "any" }), [trackAt("C", T0), trackAt("A", T0 + HOUR), trackAt("B", T0 + 9 * DAY)]);
		expect(reached).toEqual({ c: T0, a: T0 + HOUR });
	});
});
