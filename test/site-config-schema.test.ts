/** Pure: the site config schema and the rules that span fields. */
import { describe, expect, it } from "vitest";
import { parseSiteConfig, type SiteConfigInput } from "../schema";
import { formatJsonSchema, jsonSchemas } from "../schema/json-schemas";
import batchSchemaFile from "../schema/json/batch.schema.json";
import eventSchemaFile from "../schema/json/event.schema.json";
import siteSchemaFile from "../schema/json/site-config.schema.json";
import candleShop from "../schema/sites/candle-shop.json";
import demo from "../schema/sites/demo.json";
import { matchRule, stepRules, type MatchableEvent } from "../worker/core/journey";
import { DEMO_STEPS } from "./demo-steps";

function minimalSite(): SiteConfigInput {
	return {
		id: "shop",
		writeKeys: ["shop-write-key"],
		journeys: [
			{
				id: "buy",
				name: "Buy",
				steps: [
					{ id: "visit", name: "Visit", match: { type: "page", path: "/**" } },
					{ id: "cart", name: "Cart", match: { event: "Product Added" } },
					{ id: "order", name: "Order", match: { event: "Order Completed" }, macro: true },
				],
			},
		],
		ctas: [
			{
				id: "add",
				journey: "buy",
				step: "cart",
				requires: ["visit"],
				variants: [{ id: "a", title: "Add it", href: "/cart" }],
			},
		],
	};
}

function issuesOf(input: unknown) {
	const result = parseSiteConfig(input);
	if (result.ok) throw new Error("expected the config to be rejected");
	return result.issues;
}

describe("the bundled example sites", () => {
	it("accept the demo SaaS journey with the steps DESIGN.md names", () => {
		const result = parseSiteConfig(demo);
		expect(result.ok).toBe(true);
		if (!result.ok) return;
		expect(result.config.journeys[0]?.steps.map((s) => s.id)).toEqual(DEMO_STEPS);
		const ctaSteps = result.config.ctas.map((c) => c.step);
		for (const step of result.config.journeys[0]!.steps.slice(1).map((s) => s.id)) {
			expect(ctaSteps, `a CTA leads to ${step}`).toContain(step);
		}
		for (const cta of result.config.ctas) expect(cta.maxViews, `${cta.id} has a view cap`).toBeGreaterThan(0);
		expect(result.config.ctas.find((c) => c.step === "trial_started")?.variants).toHaveLength(2);
	});

	it("match the demo journey's events as the foundation names them", () => {
		const result = parseSiteConfig(demo);
		if (!result.ok) throw new Error("demo invalid");
		const journey = result.config.journeys[0]!;
		const reaches = (step: string, event: MatchableEvent) => stepRules(journey.steps.find((s) => s.id === step)!).some((rule) => matchRule(rule, event));
		const trackOf = (name: string): MatchableEvent => ({ type: "track", name, path: null, properties: {} });
		const pageAt = (path: string): MatchableEvent => ({ type: "page", name: null, path, properties: {} });
		for (const path of ["/blog/remote-work", "/podcast/episode-12", "/reports/state-of-remote-work"]) expect(reaches("engaged", pageAt(path)), path).toBe(true);
		expect(reaches("engaged", pageAt("/pricing"))).toBe(false);
		const names: [string, string][] = [
			["engaged", "Report Viewed"],
			["subscribed", "Newsletter Subscribed"],
			["subscribed", "Podcast Subscribed"],
			["subscribed", "Extension Installed"],
			["signed_up", "Account Created"],
			["trial_started", "Trial Started"],
			["first_post", "Post Scheduled"],
			["analytics_viewed", "Analytics Viewed"],
			["channels_connected", "Channel Connected"],
			["paid", "Subscription Upgraded"],
		];
		for (const [step, name] of names) expect(reaches(step, trackOf(name)), `${name} → ${step}`).toBe(true);
		const channels = stepRules(journey.steps.find((s) => s.id === "channels_connected")!);
		expect(channels.map((rule) => rule.count)).toEqual([3]);
		expect(journey.steps.at(-1)).toMatchObject({ id: "paid", macro: true });
	});

	it("accept the candle shop, a different business", () => {
		expect(parseSiteConfig(candleShop).ok).toBe(true);
	});

	it("fill in defaults a config leaves out", () => {
		const result = parseSiteConfig(minimalSite());
		if (!result.ok) throw new Error(JSON.stringify(result.issues));
		expect(result.config.journeys[0]).toMatchObject({ windowDays: 90, order: "ordered" });
		expect(result.config.ctas[0]).toMatchObject({ placement: "inline", pages: ["/**"], dismissible: true });
		expect(result.config).toMatchObject({ holdoutPercent: 0, allowedOrigins: [] });
	});
});

describe("a config that contradicts itself is rejected, naming the bad field", () => {
	it("a CTA for an unknown step", () => {
		const site = minimalSite();
		site.ctas![0]!.step = "checkout";
		expect(issuesOf(site)).toEqual([{ path: "ctas[0].step", message: "unknown step 'checkout' in journey 'buy'" }]);
	});

	it("a CTA for an unknown journey", () => {
		const site = minimalSite();
		site.ctas![0]!.journey = "nope";
		expect(issuesOf(site)).toEqual([{ path: "ctas[0].journey", message: "unknown journey 'nope'" }]);
	});

	it("a CTA that requires its own step", () => {
		const site = minimalSite();
		site.ctas![0]!.requires = ["visit", "cart"];
		expect(issuesOf(site)).toEqual([
			{ path: "ctas[0].requires[1]", message: expect.stringContaining("requires its own step 'cart': a cycle") },
		]);
	});

	it("a CTA that requires a step after its own in an ordered journey", () => {
		const site = minimalSite();
		site.ctas![0]!.requires = ["order"];
		expect(issuesOf(site)).toEqual([{ path: "ctas[0].requires[0]", message: expect.stringContaining("a cycle") }]);
	});

	it("but allows that in an any-order journey", () => {
		const site = minimalSite();
		site.journeys[0]!.order = "any";
		site.ctas![0]!.requires = ["order"];
		expect(parseSiteConfig(site).ok).toBe(true);
	});

	it("duplicate step, journey, CTA and variant ids", () => {
		const site = minimalSite();
		site.journeys[0]!.steps[1]!.id = "visit";
		site.ctas!.push({ ...site.ctas![0]!, variants: [{ id: "a", title: "x", href: "/" }, { id: "a", title: "y", href: "/" }] });
		expect(issuesOf(site)).toEqual(
			expect.arrayContaining([
				{ path: "journeys[0].steps[1].id", message: "duplicate step id 'visit' (first at journeys[0].steps[0].id)" },
				{ path: "ctas[1].id", message: "duplicate CTA id 'add' (first at ctas[0].id)" },
				{ path: "ctas[1].variants[1].id", message: "duplicate variant id 'a' (first at ctas[1].variants[0].id)" },
			]),
		);
	});

	it("duplicate journey ids and write keys", () => {
		const site = minimalSite();
		site.writeKeys = ["key-one-1234", "key-one-1234"];
		site.journeys.push(structuredClone(site.journeys[0]!));
		expect(issuesOf(site)).toEqual(
			expect.arrayContaining([
				{ path: "writeKeys[1]", message: "duplicate write key 'key-one-1234' (first at writeKeys[0])" },
				{ path: "journeys[1].id", message: expect.stringContaining("duplicate journey id") },
			]),
		);
	});

	it("a serverOnly step on a site without a server key", () => {
		const site = minimalSite();
		site.journeys[0]!.steps.at(-1)!.serverOnly = true;
		expect(issuesOf(site).map((i) => i.path)).toEqual([`journeys[0].steps[${site.journeys[0]!.steps.length - 1}].serverOnly`]);
	});

	it("a macro-conversion that is not the last step", () => {
		const site = minimalSite();
		site.journeys[0]!.steps[1]!.macro = true;
		site.journeys[0]!.steps[2]!.macro = false;
		expect(issuesOf(site).map((i) => i.path)).toEqual(["journeys[0].steps[1].macro", "journeys[0].steps[2].macro"]);
	});

	it("a match rule that would match every event", () => {
		const site = minimalSite();
		site.journeys[0]!.steps[1]!.match = [{ event: "Product Added" }, {}];
		expect(issuesOf(site)).toEqual([
			{ path: "journeys[0].steps[1].match[1]", message: "a match rule needs at least one of type, event, path or properties" },
		]);
	});

	it("a wrong type deep inside, with its path", () => {
		const site = minimalSite() as unknown as { journeys: { steps: { match: { count: unknown } }[] }[] };
		site.journeys[0]!.steps[2]!.match.count = 0;
		const issues = issuesOf(site);
		expect(issues.map((i) => i.path)).toContain("journeys[0].steps[2].match.count");
	});

	it("unknown fields, so typos do not pass silently", () => {
		const site = { ...minimalSite(), holdoutPercnt: 10 };
		expect(issuesOf(site).map((i) => i.path)).toEqual(["holdoutPercnt"]);
	});
});

describe("the JSON Schema files for editors", () => {
	it("are up to date with the schemas (run `npm run schema` after changing them)", () => {
		const files: Record<string, unknown> = {
			"site-config.schema.json": siteSchemaFile,
			"event.schema.json": eventSchemaFile,
			"batch.schema.json": batchSchemaFile,
		};
		for (const [file, schema] of Object.entries(jsonSchemas())) {
			expect(formatJsonSchema(files[file] as object), file).toBe(formatJsonSchema(schema));
		}
	});

	it("describe the fields a config editor completes", () => {
		const schema = siteSchemaFile as { properties: Record<string, unknown>; required: string[] };
		expect(Object.keys(schema.properties)).toEqual(
			expect.arrayContaining(["id", "writeKeys", "allowedOrigins", "holdoutPercent", "journeys", "ctas"]),
		);
		expect(schema.required).toEqual(expect.arrayContaining(["id", "writeKeys", "journeys"]));
	});
});
