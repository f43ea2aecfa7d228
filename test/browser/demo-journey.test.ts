/**
 * The snippet in a real browser: Debian's Chromium, driven by playwright-core, against the demo
 * site served by `wrangler dev`. Everything is checked where a user would look: the page, and
 * the visitor's profile through the admin API.
 */
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSiteConfig } from "../../schema";
import demo from "../../schema/sites/demo.json";
import { isHoldout } from "../../worker/core/cta-ranking";
import { DEMO_STEPS } from "../demo-steps";
import { startLocalWorker, type LocalWorker } from "./local-worker";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const site = parseSiteConfig(demo);
if (!site.ok) throw new Error("demo config invalid");

let worker: LocalWorker;
let browser: Browser;

beforeAll(async () => {
	worker = await startLocalWorker();
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
	});
});

afterAll(async () => {
	await browser?.close();
	await worker?.stop();
});

/** A visitor id outside the demo's holdout, so the page shows CTAs. */
function treatedVisitor(): string {
	for (;;) {
		const id = crypto.randomUUID();
		if (!isHoldout(site.ok ? site.config : (undefined as never), `anonymous:${id}`)) return id;
	}
}

/** A fresh browser profile whose snippet will use `visitor` as its anonymous id. */
async function visit(visitor: string, init?: string): Promise<{ context: BrowserContext; page: Page }> {
	const context = await browser.newContext();
	await context.addInitScript(
		({ id, extra }) => {
			if (!localStorage.getItem("nudge_aid") && !localStorage.getItem("nudge_optout")) localStorage.setItem("nudge_aid", id);
			if (extra) new Function(extra)();
		},
		{ id: visitor, extra: init ?? "" },
	);
	return { context, page: await context.newPage() };
}

type Profile = { eventCount: number; events: { event?: string; type: string }[]; journeys: { completed: { step: string }[] }[] };

async function profile(visitor: string): Promise<Profile | null> {
	const res = await fetch(`${worker.origin}/v1/admin/sites/demo/visitors/${visitor}?limit=200`, {
		headers: { authorization: "Bearer dev-admin-token" },
	});
	if (res.status === 404) return null;
	return (await res.json()) as Profile;
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
	const deadline = Date.now() + 15_000;
	for (;;) {
		const value = await read();
		if (ok(value)) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
}

const completed = async (visitor: string) => (await profile(visitor))?.journeys[0]?.completed.map((c) => c.step) ?? [];
const slotText = (page: Page, placement = "inline") => page.locator(`[data-nudge-slot="${placement}"]:not([hidden]) a`).first().textContent();

describe("the demo site with the snippet", () => {
	it("walks the whole journey, the hint changing at each step, and records every step", async () => {
		const visitor = treatedVisitor();
		const { context, page } = await visit(visitor);
		await page.goto(`${worker.origin}/blog/remote-work`);
		expect(await slotText(page)).toBe("Get one remote-work tip a week");

		await page.goto(`${worker.origin}/newsletter`);
		await page.fill("input[name=email]", "reader@example.com");
		await page.click("form button");
		await page.waitForURL("**/blog/remote-work");
		// The newsletter page showed "create an account"; its 12-hour cooldown keeps it away now.
		await until(() => completed(visitor), (steps) => steps.includes("subscribed"), "the subscription");

		await page.goto(`${worker.origin}/signup`);
		await page.fill("input[name=email]", "reader@example.com");
		await page.fill("input[name=password]", "secret");
		await page.click("form button");
		await page.waitForURL("**/app");
		const trialTitles = site.ok ? site.config.ctas.find((c) => c.id === "start-trial")!.variants.map((v) => v.title) : [];
		expect(trialTitles).toContain(await slotText(page));

		await page.goto(`${worker.origin}/app/trial`);
		await page.click("button[data-track='Trial Started']");
		await page.waitForURL("**/app/compose");
		await page.click("form button");
		await page.waitForURL("**/app/analytics");
		expect(await slotText(page)).toBe("Connect three channels");

		await page.goto(`${worker.origin}/app/channels`);
		for (const channel of ["Bluesky", "LinkedIn", "Instagram"]) {
			await page.click(`text=Connect ${channel}`);
			await page.waitForSelector(`text=${channel} ✓`);
		}
		await page.goto(`${worker.origin}/app/upgrade`);
		await page.click("button[data-track='Subscription Upgraded']");
		await page.waitForURL("**/app");
		await context.close();

		expect(await until(() => completed(visitor), (steps) => steps.length === 8, "all eight steps")).toEqual(DEMO_STEPS);
		const events = (await profile(visitor))!.events.map((e) => e.event ?? e.type);
		expect(events).toContain("CTA Viewed");
		expect(events.filter((e) => e === "Channel Connected")).toHaveLength(3);
	});

	it("keeps events made offline and delivers them, once, when the visitor is back", async () => {
		const visitor = treatedVisitor();
		const { context, page } = await visit(visitor);
		await page.goto(`${worker.origin}/podcast/episode-12`);
		await until(() => completed(visitor), (steps) => steps.includes("engaged"), "the page view");

		await context.setOffline(true);
		await page.click("button[data-track='Podcast Subscribed']");
		await page.waitForSelector("text=Subscribed ✓");
		const queued = await page.evaluate(() => JSON.parse(localStorage.getItem("nudge_q") ?? "[]").map((e: { event?: string }) => e.event));
		expect(queued).toContain("Podcast Subscribed");

		await context.setOffline(false);
		await page.goto(`${worker.origin}/blog/remote-work`);
		const steps = await until(() => completed(visitor), (s) => s.includes("subscribed"), "the offline event");
		expect(steps).toEqual(["engaged", "subscribed"]);
		await until(() => page.evaluate(() => localStorage.getItem("nudge_q")), (q) => q === "[]", "an empty queue");
		const events = (await profile(visitor))!.events.filter((e) => e.event === "Podcast Subscribed");
		expect(events).toHaveLength(1);
		await context.close();
	});

	it("sends and stores nothing after nudge.optOut(), and again after optIn()", async () => {
		const visitor = treatedVisitor();
		const { context, page } = await visit(visitor);
		await page.goto(`${worker.origin}/blog/remote-work`);
		await until(() => profile(visitor), (p) => p !== null && p.eventCount >= 1, "the first page view");
		const before = (await profile(visitor))!.eventCount;

		await page.evaluate(() => (window as unknown as { nudge: { optOut(): void } }).nudge.optOut());
		const sent: string[] = [];
		page.on("request", (request) => request.url().includes("/v1/collect") && sent.push(request.url()));
		await page.goto(`${worker.origin}/podcast/episode-12`);
		await page.click("button[data-track='Podcast Subscribed']");
		await page.waitForSelector("text=Subscribed ✓");
		await page.waitForTimeout(1_000);
		expect(sent).toEqual([]);
		expect(await page.evaluate(() => [localStorage.getItem("nudge_q"), localStorage.getItem("nudge_aid")])).toEqual([null, null]);
		expect((await profile(visitor))!.eventCount).toBe(before);

		await page.evaluate(() => (window as unknown as { nudge: { optIn(): void } }).nudge.optIn());
		await page.goto(`${worker.origin}/blog/remote-work`);
		await until(async () => sent.length, (n) => n > 0, "events after opting in");
		await context.close();
	});

	it("honours Global Privacy Control: nothing is sent", async () => {
		const { context, page } = await visit(treatedVisitor(), "Object.defineProperty(navigator, 'globalPrivacyControl', { value: true })");
		const sent: string[] = [];
		page.on("request", (request) => request.url().includes("/v1/collect") && sent.push(request.url()));
		await page.goto(`${worker.origin}/blog/remote-work`);
		await page.waitForTimeout(1_000);
		expect(sent).toEqual([]);
		await context.close();
	});

	it("shows a CTA for a next step, and stops showing one the visitor dismissed", async () => {
		const visitor = treatedVisitor();
		const { context, page } = await visit(visitor);
		await page.goto(`${worker.origin}/blog/remote-work`);
		// Both CTAs that lead on from "engaged"; which comes first is the ranking's choice.
		const nextSteps = ["Get one remote-work tip a week", "Plan your week of posts in ten minutes"];
		const shown = await slotText(page);
		expect(nextSteps).toContain(shown);
		await until(() => profile(visitor), (p) => (p?.events ?? []).some((e) => e.event === "CTA Viewed"), "the view");

		await page.click("[data-nudge-slot='inline'] button[aria-label=Dismiss]");
		await expect.poll(() => page.locator("[data-nudge-slot='inline']").isHidden()).toBe(true);
		await until(() => profile(visitor), (p) => (p?.events ?? []).some((e) => e.event === "CTA Dismissed"), "the dismissal");
		const dismissed = ((await profile(visitor)) as unknown as { ctas: { id: string; dismissed: boolean }[] }).ctas.filter((c) => c.dismissed);
		expect(dismissed.map((c) => c.id)).toEqual([shown === nextSteps[0] ? "subscribe-newsletter" : "create-account"]);

		await page.goto(`${worker.origin}/podcast/episode-12`);
		const after = await slotText(page);
		expect(nextSteps).toContain(after);
		expect(after).not.toBe(shown);
		await context.close();
	});

	it("serves the snippet with caching headers and a versioned, immutable URL", async () => {
		const res = await fetch(`${worker.origin}/v1/nudge.js`);
		expect(res.headers.get("content-type")).toMatch(/javascript/);
		expect(res.headers.get("cache-control")).toContain("max-age=3600");
		const version = res.headers.get("x-nudge-snippet-version");
		const pinned = await fetch(`${worker.origin}/v1/nudge.${version}.js`);
		expect(pinned.headers.get("cache-control")).toContain("immutable");
		expect(await pinned.text()).toBe(await res.text());
		expect((await fetch(`${worker.origin}/v1/nudge.js`, { headers: { "if-none-match": `"${version}"` } })).status).toBe(304);
	});
});
