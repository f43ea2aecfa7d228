/**
 * The dashboard in a real browser, after seeding the demo journey through the public API:
 * the numbers on the page equal the funnel API, breakdowns switch, a visitor can be looked up
 * and erased. Screenshots of each view (desktop and phone) go to test-results/dashboard/.
 */
import { mkdirSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker, type LocalWorker } from "./local-worker";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = "test-results/dashboard";
const ADMIN = { authorization: "Bearer dev-admin-token" };
const SIZES = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } } as const;

let worker: LocalWorker;
let browser: Browser;
const visitors: string[] = [];

const JOURNEY = ["Report Viewed", "Newsletter Subscribed", "Account Created", "Trial Started", "Post Scheduled", "Analytics Viewed", "Channel Connected", "Channel Connected", "Channel Connected", "Subscription Upgraded"];
const SOURCES = ["twitter", "newsletter", "google", "linkedin"];

/** Thirty visitors from four sources, going different distances along the journey, some seeing CTAs. */
async function seed(origin: string): Promise<void> {
	const start = Date.now() - 3 * 86_400_000;
	for (let v = 0; v < 30; v++) {
		const id = `dash-${v}-${crypto.randomUUID().slice(0, 8)}`;
		visitors.push(id);
		const depth = 1 + ((v * 7) % JOURNEY.length);
		const events = JOURNEY.slice(0, depth).map((event, i) => ({
			type: "track",
			event,
			anonymousId: id,
			messageId: crypto.randomUUID(),
			timestamp: new Date(start + v * 3_600_000 + i * 1_800_000 * (1 + (v % 3))).toISOString(),
			context: i === 0 ? { campaign: { source: SOURCES[v % SOURCES.length] } } : {},
		}));
		if (depth >= 3) {
			events.push({
				type: "track",
				event: "CTA Viewed",
				anonymousId: id,
				messageId: crypto.randomUUID(),
				timestamp: new Date(start + v * 3_600_000 + 3_000_000).toISOString(),
				context: {},
				properties: { cta_id: "start-trial", variant_id: v % 2 ? "a" : "b" },
			} as (typeof events)[number]);
		}
		const res = await fetch(`${origin}/v1/collect?writeKey=demo-write-key`, { method: "POST", body: JSON.stringify({ batch: events }) });
		expect(res.status).toBe(200);
	}
}

beforeAll(async () => {
	mkdirSync(SHOTS, { recursive: true });
	worker = await startLocalWorker(8797);
	await seed(worker.origin);
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
	});
	// Rollups follow through the outbox within about a second.
	for (let i = 0; i < 50; i++) {
		const funnel = await funnelApi();
		if (funnel.steps[0]?.visitors === 30) break;
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
});

afterAll(async () => {
	await browser?.close();
	await worker?.stop();
});

type FunnelStep = { id: string; visitors: number; conversionFromPrevious: number | null };
async function funnelApi(query = ""): Promise<{ steps: FunnelStep[]; breakdown?: { values: { value: string; steps: FunnelStep[] }[] } }> {
	const res = await fetch(`${worker.origin}/v1/admin/sites/demo/funnels/saas?${query}`, { headers: ADMIN });
	return (await res.json()) as never;
}

async function openDashboard(size: keyof typeof SIZES): Promise<Page> {
	const page = await browser.newPage({ viewport: SIZES[size] });
	await page.goto(`${worker.origin}/dashboard`);
	await page.fill("input[name=token]", "dev-admin-token");
	await page.click("#login-form button");
	await page.waitForSelector(".funnel li");
	return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

describe("the dashboard", () => {
	it("asks for the token once and keeps it only in the tab's session storage", async () => {
		const page = await browser.newPage();
		await page.goto(`${worker.origin}/dashboard`);
		expect(await page.isVisible("#login")).toBe(true);
		await page.fill("input[name=token]", "wrong-token");
		await page.click("#login-form button");
		await page.waitForSelector("text=That token was refused");
		await page.fill("input[name=token]", "dev-admin-token");
		await page.click("#login-form button");
		await page.waitForSelector(".funnel li");
		expect(await page.evaluate(() => [sessionStorage.getItem("nudge_admin_token"), localStorage.length])).toEqual(["dev-admin-token", 0]);
		await page.reload();
		await page.waitForSelector(".funnel li");
		await page.close();
	});

	for (const size of ["desktop", "phone"] as const) {
		it(`shows the funnel the API computes, highlights the biggest drop-off, and switches breakdowns (${size})`, async () => {
			const page = await openDashboard(size);
			const api = await funnelApi();
			const shown = await page.$$eval(".panel .funnel:not(.compact) li", (items) =>
				items.map((li) => Number(li.querySelector(".visitors")!.textContent!.replace(/,/g, ""))),
			);
			expect(shown).toEqual(api.steps.map((s) => s.visitors));
			const drops = api.steps.slice(1).map((s) => s.conversionFromPrevious ?? 1);
			const worst = api.steps[1 + drops.indexOf(Math.min(...drops))]!.id;
			expect(await page.getAttribute(".funnel:not(.compact) li.drop", "data-step")).toBe(worst);
			await shot(page, `funnel-${size}`);

			await page.selectOption("#breakdown", "source");
			await page.waitForSelector(".column");
			const bySource = await funnelApi("breakdown=source");
			const columns = await page.$$eval(".column", (cols) =>
				cols.map((col) => [col.getAttribute("data-value"), Number(col.querySelector(".visitors")!.textContent!.replace(/,/g, ""))]),
			);
			expect(columns).toEqual(bySource.breakdown!.values.map((v) => [v.value, v.steps[0]!.visitors]));
			expect(columns.map(([value]) => value).sort()).toEqual([...SOURCES].sort());
			await shot(page, `breakdown-${size}`);

			await page.click("nav.tabs button[data-view=trend]");
			await page.waitForSelector("svg.chart polyline");
			expect(await page.$$eval("svg.chart polyline", (lines) => lines.length)).toBe(8);
			await shot(page, `trend-${size}`);

			await page.click("nav.tabs button[data-view=ctas]");
			await page.waitForSelector("tr[data-cta=start-trial]");
			const views = await page.$$eval("tr[data-cta=start-trial] td:nth-last-child(6)", (cells) => cells.map((c) => Number(c.textContent)));
			expect(views.reduce((a, b) => a + b, 0)).toBe(visitors.filter((_, v) => 1 + ((v * 7) % JOURNEY.length) >= 3).length);
			expect(await page.isVisible("text=Holdout lift")).toBe(true);
			await shot(page, `ctas-${size}`);
			await page.close();
		});
	}

	it("looks up a visitor's timeline, then erases the visitor", async () => {
		const page = await openDashboard("desktop");
		const id = visitors[9]!;
		await page.click("nav.tabs button[data-view=visitor]");
		await page.fill("#lookup input", id);
		await page.click("#lookup button");
		await page.waitForSelector(".timeline li.step");
		expect(await page.textContent(".profile")).toContain(id);
		expect(await page.$$eval(".timeline li.step", (items) => items.length)).toBeGreaterThan(0);
		await shot(page, "visitor-desktop");

		page.once("dialog", (dialog) => void dialog.accept());
		await page.click("#erase");
		await page.waitForSelector(`text=Erased ${id}`);
		const res = await fetch(`${worker.origin}/v1/admin/sites/demo/visitors/${id}`, { headers: ADMIN });
		expect(res.status).toBe(404);
		await page.fill("#lookup input", id);
		await page.click("#lookup button");
		await page.waitForSelector(`text=No visitor '${id}'`);
		await page.close();
	});

	it("says what to do when there is no data yet", async () => {
		const page = await openDashboard("desktop");
		await page.fill("#from", "2020-01-01");
		await page.fill("#to", "2020-01-31");
		await page.dispatchEvent("#to", "change");
		await page.waitForSelector("text=Send your first event");
		await shot(page, "empty-desktop");
		await page.close();
	});
});
