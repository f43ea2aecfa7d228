/**
 * The snippet in a real browser: Debian's Chromium, driven by playwright-core, against the demo
 * site served by `wrangler dev`. Everything is checked where a user would look: the page, what it
 * sent, what it stored, and the visitor's profile through the admin API.
 */
import { mkdirSync } from "node:fs";
import { createServer, request as forward } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSiteConfig } from "../../schema";
import demo from "../../schema/sites/demo.json";
import { isHoldout } from "../../worker/core/cta-ranking";
import { DEMO_STEPS } from "../demo-steps";
import { startLocalWorker, type LocalWorker } from "./local-worker";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = "test-results/demo";
const ADMIN = { authorization: "Bearer dev-admin-token" };
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

/** The snippet's API as a page sees it (`window.nudge`; an array while only the stub is there). */
type Nudge = {
	track(event: string, properties?: object): void;
	identify(userId: string): void;
	flush(): Promise<void>;
	next(options?: { placement?: string }): Promise<{ ctas: { id: string }[] }>;
	optOut(): void;
	optIn(): void;
};

type SentEvent = { type: string; event?: string; messageId: string; anonymousId: string; properties?: Record<string, unknown> };
type Profile = {
	eventCount: number;
	events: SentEvent[];
	journeys: { completed: { step: string }[] }[];
	ctas: { id: string; views: number; clicks: number; dismissed: boolean }[];
};

/** A visitor id outside the demo's holdout, so the page shows CTAs. */
function treatedVisitor(): string {
	for (;;) {
		const id = crypto.randomUUID();
		if (!isHoldout(site.ok ? site.config : (undefined as never), `anonymous:${id}`)) return id;
	}
}

/** A fresh browser profile whose snippet will use `visitor` (when given) as its anonymous id; `init` runs first on every page. */
async function visit(visitor: string | null, init?: string): Promise<{ context: BrowserContext; page: Page }> {
	const context = await browser.newContext();
	await context.addInitScript(
		({ id, extra }) => {
			if (extra) new Function(extra)();
			if (id && !localStorage.getItem("nudge_aid") && !localStorage.getItem("nudge_optout")) localStorage.setItem("nudge_aid", id);
		},
		{ id: visitor, extra: init ?? "" },
	);
	return { context, page: await context.newPage() };
}

/** Every event the context's pages send to /v1/collect, by fetch or beacon, as it is sent. */
function collected(context: BrowserContext): SentEvent[] {
	const events: SentEvent[] = [];
	context.on("request", (request) => {
		const body = request.url().includes("/v1/collect") ? request.postData() : null;
		if (body) events.push(...(JSON.parse(body) as { batch: SentEvent[] }).batch);
	});
	return events;
}

/**
 * Waits until the context's pages made no API request for a second (the snippet batches for half
 * of one), so what a test does next is not raced by requests the page load started.
 */
function quietNetwork(context: BrowserContext): () => Promise<void> {
	let last = Date.now();
	context.on("request", (request) => {
		if (request.url().includes("/v1/")) last = Date.now();
	});
	return async () => void (await until(async () => Date.now() - last, (ms) => ms > 1_000, "a quiet network"));
}

/** Uncaught errors and unhandled rejections of the page's scripts. */
function pageErrors(page: Page): string[] {
	const errors: string[] = [];
	page.on("pageerror", (error) => errors.push(error.message));
	return errors;
}

type Outage = { origin: string; down: boolean; close(): Promise<void> };

/**
 * A second origin in front of the worker whose network can fail: while `down`, every connection is
 * dropped. Chromium's offline emulation and request routing both miss keepalive fetches and
 * beacons, so only a failure outside the browser proves that none of them delivered an event.
 */
async function outageProxy(target: string): Promise<Outage> {
	const server = createServer((req, res) => {
		if (outage.down) return void req.socket.destroy();
		const upstream = forward(target + req.url, { method: req.method, headers: req.headers }, (answer) => {
			res.writeHead(answer.statusCode ?? 502, answer.headers);
			answer.pipe(res);
		});
		upstream.on("error", () => res.destroy());
		req.pipe(upstream);
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const outage: Outage = {
		origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
		down: false,
		close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
	};
	return outage;
}

async function profile(visitor: string): Promise<Profile | null> {
	const res = await fetch(`${worker.origin}/v1/admin/sites/demo/visitors/${visitor}?limit=200`, { headers: ADMIN });
	if (res.status === 404) return null;
	return (await res.json()) as Profile;
}

async function putDemoConfig(config: unknown): Promise<void> {
	const res = await fetch(`${worker.origin}/v1/admin/sites/demo`, {
		method: "PUT",
		headers: { ...ADMIN, "content-type": "application/json" },
		body: JSON.stringify(config),
	});
	if (!res.ok) throw new Error(`PUT /v1/admin/sites/demo: ${res.status} ${await res.text()}`);
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
const eventsNamed = async (visitor: string, name: string) => ((await profile(visitor))?.events ?? []).filter((e) => e.event === name);
const slotText = (page: Page, placement = "inline") => page.locator(`[data-nudge-slot="${placement}"]:not([hidden]) a`).first().textContent();
const storedKeys = (page: Page) => page.evaluate(() => Object.keys(localStorage).sort());
const ctaTitle = (id: string) => (site.ok ? site.config.ctas.find((c) => c.id === id)?.variants[0]?.title : undefined);

describe("the demo site with the snippet", () => {
	it("walks the whole journey from the home page, the hint changing at each step, and records every step", async () => {
		mkdirSync(SHOTS, { recursive: true });
		const visitor = treatedVisitor();
		const { context, page } = await visit(visitor);
		await page.goto(`${worker.origin}/`);
		await page.screenshot({ path: `${SHOTS}/home.png`, fullPage: true });
		await page.click("a.card[href='/blog/best-time-to-post']");
		await page.waitForURL("**/blog/best-time-to-post");
		expect(await slotText(page)).toBe("Get one remote-work tip a week");
		await page.screenshot({ path: `${SHOTS}/blog-post.png`, fullPage: true });

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

	it("keeps an event made offline in localStorage and delivers it, once, from the next page view", async () => {
		const network = await outageProxy(worker.origin);
		const visitor = treatedVisitor();
		const { context, page } = await visit(visitor);
		await page.goto(`${network.origin}/podcast/episode-12`);
		await until(() => completed(visitor), (steps) => steps.includes("engaged"), "the page view");

		// From here until the new page nothing reaches the worker: not the fetch, its retries, nor a beacon.
		network.down = true;
		await context.setOffline(true);
		await page.click("button[data-track='Podcast Subscribed']");
		await page.waitForSelector("text=Subscribed ✓");
		const queued = await page.evaluate(() => JSON.parse(localStorage.getItem("nudge_q") ?? "[]") as SentEvent[]);
		const offline = queued.find((e) => e.event === "Podcast Subscribed");
		expect(offline).toBeDefined();
		await page.close(); // its pagehide beacon goes out into the outage too
		await new Promise((resolve) => setTimeout(resolve, 1_500));
		expect(await eventsNamed(visitor, "Podcast Subscribed")).toEqual([]);

		network.down = false;
		await context.setOffline(false);
		const sent = collected(context);
		const again = await context.newPage();
		await again.goto(`${network.origin}/blog/remote-work`);
		const steps = await until(() => completed(visitor), (s) => s.includes("subscribed"), "the offline event");
		expect(steps).toEqual(["engaged", "subscribed"]);
		// Sent again from the stored queue (perhaps more than once: the page's own flush() can overlap
		// the snippet's), and stored once thanks to its messageId.
		expect(sent.filter((e) => e.messageId === offline!.messageId).length).toBeGreaterThanOrEqual(1);
		await until(() => again.evaluate(() => localStorage.getItem("nudge_q")), (q) => q === "[]", "an empty queue");
		expect(await eventsNamed(visitor, "Podcast Subscribed")).toHaveLength(1);
		await context.close();
		await network.close();
	});

	it("drops an event too big for the server and splits non-ASCII events by bytes, so the queue never stalls", async () => {
		const visitor = treatedVisitor();
		const { context, page } = await visit(visitor);
		await page.goto(`${worker.origin}/blog/remote-work`);
		await until(() => profile(visitor), (p) => (p?.eventCount ?? 0) >= 1, "the page view");

		await page.evaluate(() => {
			const nudge = (window as unknown as { nudge: Nudge }).nudge;
			// 12,000 characters, 36,000 bytes: over the server's 32 KiB per event.
			nudge.track("Huge Note", { text: "€".repeat(12_000) });
			// 7,000 characters but 21,000 bytes each: counted in characters they would share one
			// keepalive body of 84 KB, which the browser refuses (64 KiB).
			for (let i = 0; i < 4; i++) nudge.track("Long Note", { i, text: "€".repeat(7_000) });
			nudge.track("After Notes");
		});
		expect(await page.evaluate(() => localStorage.getItem("nudge_q") ?? "")).not.toContain("Huge Note");
		await until(() => eventsNamed(visitor, "After Notes"), (e) => e.length === 1, "the event after the long ones");
		expect(await eventsNamed(visitor, "Long Note")).toHaveLength(4);
		expect(await eventsNamed(visitor, "Huge Note")).toEqual([]);
		await until(() => page.evaluate(() => localStorage.getItem("nudge_q")), (q) => q === "[]", "an empty queue");
		await context.close();
	});

	it("sends and stores nothing after nudge.optOut(), not even identify's user id, and resumes after optIn()", async () => {
		const visitor = treatedVisitor();
		const { context, page } = await visit(visitor);
		const errors = pageErrors(page);
		const quiet = quietNetwork(context);
		await page.goto(`${worker.origin}/blog/remote-work`);
		await until(() => profile(visitor), (p) => p !== null && p.eventCount >= 1, "the first page view");
		await quiet();
		const before = (await profile(visitor))!.eventCount;

		const sent = collected(context);
		await page.evaluate(() => {
			const nudge = (window as unknown as { nudge: Nudge }).nudge;
			nudge.optOut();
			nudge.identify("user-who-opted-out");
		});
		// The choice itself is all that is kept, so that later pages honour it.
		expect(await storedKeys(page)).toEqual(["nudge_optout"]);
		await page.goto(`${worker.origin}/podcast/episode-12`);
		await page.click("button[data-track='Podcast Subscribed']");
		await page.waitForSelector("text=Subscribed ✓");
		await page.waitForTimeout(1_000);
		expect(sent).toEqual([]);
		expect(await storedKeys(page)).toEqual(["nudge_optout"]);
		expect(await page.locator(".journey li.done").count()).toBe(0);
		expect(errors).toEqual([]);
		expect((await profile(visitor))!.eventCount).toBe(before);
		expect(await profile("user-who-opted-out")).toBeNull();

		await page.evaluate(() => (window as unknown as { nudge: Nudge }).nudge.optIn());
		await page.goto(`${worker.origin}/blog/remote-work`);
		await until(async () => sent.length, (n) => n > 0, "events after opting in");
		await context.close();
	});

	it("honours optOut() on a page where localStorage throws, keeping the choice in memory", async () => {
		const { context, page } = await visit(
			null,
			"Object.defineProperty(window, 'localStorage', { get() { throw new DOMException('The operation is insecure.', 'SecurityError'); } })",
		);
		const errors = pageErrors(page);
		const sent = collected(context);
		const asked: string[] = [];
		context.on("request", (request) => request.url().includes("/v1/next") && asked.push(request.url()));
		const quiet = quietNetwork(context);
		await page.goto(`${worker.origin}/blog/remote-work`);
		// Without storage the anonymous id lives in memory; the page view still goes out.
		const view = await until(async () => sent.find((e) => e.type === "page"), (e) => e !== undefined, "the page view");
		await until(() => profile(view!.anonymousId), (p) => (p?.eventCount ?? 0) >= 1, "the stored page view");
		await quiet();

		const sentBefore = sent.length;
		const askedBefore = asked.length;
		const ctas = await page.evaluate(async () => {
			const nudge = (window as unknown as { nudge: Nudge }).nudge;
			nudge.optOut();
			nudge.identify("blocked-storage-user");
			nudge.track("After Opt Out");
			await nudge.flush();
			return (await nudge.next()).ctas;
		});
		expect(ctas).toEqual([]);
		await page.waitForTimeout(1_000);
		expect(sent.length).toBe(sentBefore);
		expect(asked.length).toBe(askedBefore);
		expect(await eventsNamed(view!.anonymousId, "After Opt Out")).toEqual([]);
		expect(await profile("blocked-storage-user")).toBeNull();

		await page.evaluate(async () => {
			const nudge = (window as unknown as { nudge: Nudge }).nudge;
			nudge.optIn();
			nudge.track("After Opt In");
			await nudge.flush();
		});
		const resumed = sent.find((e) => e.event === "After Opt In");
		expect(resumed).toBeDefined();
		await until(() => eventsNamed(resumed!.anonymousId, "After Opt In"), (e) => e.length === 1, "the event after opting in");
		expect(errors).toEqual([]);
		await context.close();
	});

	it("honours Global Privacy Control: nothing is sent or stored, until optIn()", async () => {
		const { context, page } = await visit(null, "Object.defineProperty(navigator, 'globalPrivacyControl', { value: true })");
		const errors = pageErrors(page);
		const sent = collected(context);
		await page.goto(`${worker.origin}/blog/remote-work`);
		await page.waitForTimeout(1_000);
		expect(sent).toEqual([]);
		expect(await storedKeys(page)).toEqual([]);
		expect(errors).toEqual([]);

		await page.evaluate(() => {
			const nudge = (window as unknown as { nudge: Nudge }).nudge;
			nudge.optIn();
			nudge.track("After Opt In");
		});
		await until(async () => sent.filter((e) => e.event === "After Opt In").length, (n) => n === 1, "the event after opting in");
		await context.close();
	});

	it("stores nothing in the browser on a cookieless site; the server names the visitor", async () => {
		// A cookieless copy of the demo, and a page of the worker's origin that installs the snippet for it.
		const config = { ...structuredClone(demo), id: "demo-cookieless", writeKeys: ["demo-cookieless-key"], cookieless: true };
		const put = await fetch(`${worker.origin}/v1/admin/sites/demo-cookieless`, {
			method: "PUT",
			headers: { ...ADMIN, "content-type": "application/json" },
			body: JSON.stringify(config),
		});
		expect(put.status).toBeLessThan(300);
		const { context, page } = await visit(null);
		await page.route(`${worker.origin}/cookieless/**`, (route) =>
			route.fulfill({
				contentType: "text/html",
				body: `<!doctype html><title>Cookieless</title><script async src="/v1/nudge.js" data-write-key="demo-cookieless-key" data-cookieless></script>`,
			}),
		);
		await page.goto(`${worker.origin}/cookieless/blog/post`);
		await page.waitForFunction(() => !Array.isArray((window as unknown as { nudge?: unknown }).nudge) && "nudge" in window);
		await page.evaluate(async () => {
			const nudge = (window as unknown as { nudge: Nudge }).nudge;
			nudge.track("Newsletter Subscribed");
			await nudge.flush();
		});
		const hint = await page.evaluate(() => (window as unknown as { nudge: Nudge }).nudge.next() as Promise<unknown>);
		const id = (hint as { visitor: { id: string } }).visitor.id;
		expect(id).toMatch(/^cl-/);
		await page.evaluate(async () => {
			const nudge = (window as unknown as { nudge: Nudge }).nudge;
			nudge.identify("cookieless-user-1");
			await nudge.flush();
		});
		expect(await storedKeys(page)).toEqual([]);
		await until(
			async () => (await fetch(`${worker.origin}/v1/admin/sites/demo-cookieless/visitors/${id}`, { headers: ADMIN })).status,
			(status) => status === 200,
			"the cookieless visitor's events",
		);
		await context.close();
	});

	it("replays nudge.track() calls made through the stub before the snippet loaded", async () => {
		const visitor = treatedVisitor();
		const { context, page } = await visit(visitor);
		const errors = pageErrors(page);
		// Hold the snippet back, so the calls below meet the stub, as on a slow network.
		await page.route("**/v1/nudge.js", async (route) => {
			await new Promise((resolve) => setTimeout(resolve, 1_000));
			await route.continue();
		});
		await page.goto(`${worker.origin}/reports/state-of-remote-work`, { waitUntil: "domcontentloaded" });
		const stubbed = await page.evaluate(() => {
			const nudge = (window as unknown as { nudge: Nudge }).nudge;
			const isStub = Array.isArray(nudge);
			nudge.track("Early Call", { via: "stub", list: ["a", "b"] });
			return isStub;
		});
		expect(stubbed).toBe(true);
		const early = await until(() => eventsNamed(visitor, "Early Call"), (e) => e.length === 1, "the early call");
		expect(early[0]!.properties).toEqual({ via: "stub", list: ["a", "b"] });
		// The demo page's own early call (`nudge.track("Report Viewed")` in its head) and the page view.
		const stored = (await profile(visitor))!.events.map((e) => e.event ?? e.type);
		expect(stored).toEqual(expect.arrayContaining(["Report Viewed", "page"]));
		expect(errors).toEqual([]);
		await context.close();
	});

	it("reports a view only once the slot is on screen, and a click on its link", async () => {
		const visitor = treatedVisitor();
		// A tall spacer puts the inline slot far below the fold.
		const { context, page } = await visit(
			visitor,
			"document.addEventListener('DOMContentLoaded', () => { const s = document.createElement('div'); s.style.height = '3000px'; document.querySelector('[data-nudge-slot=inline]').before(s); })",
		);
		const sent = collected(context);
		await page.goto(`${worker.origin}/blog/remote-work`);
		const link = page.locator("[data-nudge-slot='inline']:not([hidden]) a");
		await link.waitFor({ state: "attached" });
		expect((await link.boundingBox())!.y).toBeGreaterThan(page.viewportSize()!.height);
		await page.waitForTimeout(1_500);
		expect(sent.filter((e) => e.event === "CTA Viewed")).toEqual([]);
		expect(await eventsNamed(visitor, "CTA Viewed")).toEqual([]);

		await link.scrollIntoViewIfNeeded();
		const [view] = await until(() => eventsNamed(visitor, "CTA Viewed"), (e) => e.length === 1, "the view");
		const ctaId = view!.properties?.cta_id as string;
		expect(await link.textContent()).toBe(ctaTitle(ctaId));

		await link.click();
		await page.waitForURL((url) => url.pathname !== "/blog/remote-work");
		const [click] = await until(() => eventsNamed(visitor, "CTA Clicked"), (e) => e.length === 1, "the click");
		expect(click!.properties).toEqual(view!.properties);
		expect((await profile(visitor))!.ctas.find((c) => c.id === ctaId)).toMatchObject({ views: 1, clicks: 1, dismissed: false });
		await context.close();
	});

	it("shows the next step's CTA on every page while it has no cooldown, and not once it is dismissed", async () => {
		// A copy of the demo config in which only "subscribe-newsletter" fits the content pages, with
		// no cooldown: without the dismissal nothing would hide it.
		const config = JSON.parse(JSON.stringify(demo)) as { ctas: { id: string; cooldownHours?: number; pages?: string[] }[] };
		for (const cta of config.ctas) {
			if (cta.id === "subscribe-newsletter") delete cta.cooldownHours;
			if (cta.id === "create-account") cta.pages = ["/signup"];
		}
		await putDemoConfig(config);
		try {
			const visitor = treatedVisitor();
			const { context, page } = await visit(visitor);
			const title = ctaTitle("subscribe-newsletter");
			await page.goto(`${worker.origin}/blog/remote-work`);
			expect(await slotText(page)).toBe(title);
			await until(() => eventsNamed(visitor, "CTA Viewed"), (e) => e.length === 1, "the first view");
			await page.goto(`${worker.origin}/blog/best-time-to-post`);
			expect(await slotText(page)).toBe(title);
			await until(() => eventsNamed(visitor, "CTA Viewed"), (e) => e.length === 2, "the second view");

			await page.click("[data-nudge-slot='inline'] button[aria-label=Dismiss]");
			await expect.poll(() => page.locator("[data-nudge-slot='inline']").isHidden()).toBe(true);
			await until(
				async () => (await profile(visitor))?.ctas.find((c) => c.id === "subscribe-newsletter"),
				(c) => c?.dismissed === true,
				"the dismissal",
			);

			const answer = page.waitForResponse((r) => r.url().includes("/v1/next") && r.url().includes("placement=inline"));
			await page.goto(`${worker.origin}/podcast/episode-12`);
			const { ctas } = (await (await answer).json()) as { ctas: { id: string }[] };
			expect(ctas.map((c) => c.id)).not.toContain("subscribe-newsletter");
			expect(await page.locator("[data-nudge-slot='inline']").isHidden()).toBe(true);
			await context.close();
		} finally {
			await putDemoConfig(demo);
		}
	});

	it("leaves the slot empty, without an error, when /v1/next answers an error", async () => {
		const { context, page } = await visit(treatedVisitor());
		const errors = pageErrors(page);
		await page.route("**/v1/next**", (route) =>
			route.fulfill({
				status: 503,
				contentType: "application/json",
				body: JSON.stringify({ error: { code: "storage_unavailable", message: "Try again." } }),
			}),
		);
		const answered = page.waitForResponse((r) => r.url().includes("/v1/next") && r.url().includes("placement=inline"));
		await page.goto(`${worker.origin}/blog/remote-work`);
		await answered;
		expect(await page.evaluate(() => (window as unknown as { nudge: Nudge }).nudge.next())).toEqual({ visitor: {}, ctas: [] });
		expect(await page.locator("[data-nudge-slot]:not([hidden])").count()).toBe(0);
		expect(errors).toEqual([]);
		await context.close();
	});

	it("serves the snippet with long-lived caching headers and a versioned, immutable URL", async () => {
		const res = await fetch(`${worker.origin}/v1/nudge.js`);
		expect(res.headers.get("content-type")).toMatch(/javascript/);
		expect(res.headers.get("cache-control")).toBe("public, max-age=86400, stale-while-revalidate=604800");
		const version = res.headers.get("x-nudge-snippet-version");
		const pinned = await fetch(`${worker.origin}/v1/nudge.${version}.js`);
		expect(pinned.headers.get("cache-control")).toContain("immutable");
		expect(await pinned.text()).toBe(await res.text());
		expect((await fetch(`${worker.origin}/v1/nudge.js`, { headers: { "if-none-match": `"${version}"` } })).status).toBe(304);
	});
});
