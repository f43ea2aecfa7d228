/**
 * The dashboard in a real browser, after seeding the demo journey through the public API:
 * every number on the page equals the admin API's, breakdowns switch, a visitor can be looked
 * up and erased, empty ranges say what to send. Every view is saved as a screenshot at desktop
 * and phone widths under test-results/dashboard/.
 */
import { mkdirSync, rmSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import demo from "../../schema/sites/demo.json";
import { isHoldout } from "../../worker/core/cta-ranking";
import type { FunnelStep } from "../../worker/core/rollup";
import { DEMO_STEPS } from "../demo-steps";
import { startLocalWorker, type LocalWorker } from "./local-worker";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = "test-results/dashboard";
const ADMIN = { authorization: "Bearer dev-admin-token" };
const SIZES = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } } as const;

let worker: LocalWorker;
let browser: Browser;
const visitors: string[] = [];

const JOURNEY = ["Report Viewed", "Newsletter Subscribed", "Account Created", "Trial Started", "Post Scheduled", "Analytics Viewed", "Channel Connected", "Channel Connected", "Channel Connected", "Subscription Upgraded"];
/** The JOURNEY event that reaches each of DEMO_STEPS (the third Channel Connected reaches channels_connected). */
const REACHED_BY = [0, 1, 2, 3, 4, 5, 8, 9];
const SOURCES = ["twitter", "newsletter", "google", "linkedin"];
const DEVICES = {
	mobile: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
	desktop: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
	tablet: "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
};
const SEED_START = Date.now() - 18 * 86_400_000;

const depthOf = (v: number) => 1 + ((v * 7) % JOURNEY.length);
/** Visitors in the demo's holdout group (they go 3, 4 and 5 events deep), so the lift has something to compare. */
const HOLDOUT = new Set([6, 19, 22]);
/**
 * When visitor v sends JOURNEY[i]: a new visitor every 13 hours, so the trend spans two weeks;
 * later steps take longer and every third visitor is slower, so each step has its own median.
 */
const timeOf = (v: number, i: number) => SEED_START + v * 13 * 3_600_000 + Array.from({ length: i }, (_, j) => (j + 1) * 240_000 * (1 + (v % 3))).reduce((a, b) => a + b, 0);
const expectedVisitors = REACHED_BY.map((index) => Array.from({ length: 30 }, (_, v) => depthOf(v)).filter((depth) => depth > index).length);
const seesCta = (v: number) => depthOf(v) >= 3 && !HOLDOUT.has(v);
const expectedCtaViews = Array.from({ length: 30 }, (_, v) => v).filter(seesCta).length;

/** A fresh id for visitor v, in the holdout group exactly when HOLDOUT says so. */
function visitorId(v: number): string {
	for (;;) {
		const id = `dash-${v}-${crypto.randomUUID().slice(0, 8)}`;
		if (isHoldout(demo, `anonymous:${id}`) === HOLDOUT.has(v)) return id;
	}
}

/** Thirty visitors from four sources on three kinds of device, going different distances along the journey; the treated ones who sign up see a CTA. */
async function seed(origin: string): Promise<void> {
	for (let v = 0; v < 30; v++) {
		const id = visitorId(v);
		visitors.push(id);
		// Runs of four visitors per device, so each device column has its own funnel.
		const userAgent = Object.values(DEVICES)[Math.floor(v / 4) % 3]!;
		const events: Record<string, unknown>[] = JOURNEY.slice(0, depthOf(v)).map((event, i) => ({
			type: "track",
			event,
			anonymousId: id,
			messageId: crypto.randomUUID(),
			timestamp: new Date(timeOf(v, i)).toISOString(),
			context: i === 0 ? { userAgent, campaign: { source: SOURCES[v % SOURCES.length] } } : { userAgent },
		}));
		if (seesCta(v)) {
			events.push({
				type: "track",
				event: "CTA Viewed",
				anonymousId: id,
				messageId: crypto.randomUUID(),
				// Between Account Created and Trial Started, so a trial counts for the CTA.
				timestamp: new Date(timeOf(v, 2) + 60_000).toISOString(),
				context: { userAgent },
				properties: { cta_id: "start-trial", variant_id: v % 2 ? "a" : "b" },
			});
		}
		const res = await fetch(`${origin}/v1/collect?writeKey=demo-write-key`, { method: "POST", body: JSON.stringify({ batch: events }) });
		expect(res.status).toBe(200);
	}
}

type FunnelReport = { steps: FunnelStep[]; breakdown?: { by: string; values: { value: string; steps: FunnelStep[] }[] } };
type GroupRate = { visitors: number; conversionFromStart: number | null };
type CtaReport = {
	ctas: { id: string; variants: { id: string; views: number; viewers: number; clicks: number; dismissals: number; conversions: number; conversionRate: number | null; favoured: boolean }[] }[];
	holdout: { steps: { id: string; holdout: GroupRate; treated: GroupRate; lift: number | null }[] };
};

async function admin<T>(path: string): Promise<T> {
	const res = await fetch(`${worker.origin}/v1/admin${path}`, { headers: ADMIN });
	expect(res.status, path).toBe(200);
	return (await res.json()) as T;
}
const funnelApi = (query = "") => admin<FunnelReport>(`/sites/demo/funnels/saas?${query}`);
const ctaApi = () => admin<CtaReport>("/sites/demo/ctas/saas");

beforeAll(async () => {
	// Only this run's screenshots: a view that stopped being saved must not leave an old picture behind.
	rmSync(SHOTS, { recursive: true, force: true });
	mkdirSync(SHOTS, { recursive: true });
	worker = await startLocalWorker(8797);
	await seed(worker.origin);
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
	});
	// Rollups follow through the outbox within about a second; the page and the API must read the same settled numbers.
	for (let i = 0; ; i++) {
		const [funnel, ctas] = await Promise.all([funnelApi(), ctaApi()]);
		const views = ctas.ctas.flatMap((c) => c.variants).reduce((sum, v) => sum + v.views, 0);
		if (JSON.stringify(funnel.steps.map((s) => s.visitors)) === JSON.stringify(expectedVisitors) && views === expectedCtaViews) break;
		if (i === 100) throw new Error(`rollups did not settle: ${JSON.stringify(funnel.steps.map((s) => s.visitors))}, ${views} CTA views`);
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
});

afterAll(async () => {
	await browser?.close();
	await worker?.stop();
});

async function openDashboard(size: keyof typeof SIZES): Promise<Page> {
	const page = await browser.newPage({ viewport: SIZES[size] });
	await page.goto(`${worker.origin}/dashboard`);
	await page.fill("input[name=token]", "dev-admin-token");
	await page.click("#login-form button");
	await page.waitForSelector(".funnel li, .empty");
	return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
const sidewaysOverflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

/** Per unit the page shows: its size in the API's unit, and half the step the page rounds to. */
const UNITS: Record<string, [number, number]> = { "%": [0.01, 0.0005], s: [1, 0.5], min: [60, 30], h: [3600, 180], d: [86_400, 4320] };

/** A number as the page shows it ("88.9%", "median 63 min", "–"), with half the unit it was rounded to. */
function reading(text: string): { value: number; halfUnit: number } | null {
	const match = /(-?\d+(?:\.\d+)?)\s*(%|min|s|h|d)(?![a-z])/.exec(text);
	if (!match) {
		if (text.includes("–")) return null;
		throw new Error(`'${text}' shows no number`);
	}
	const [scale, halfUnit] = UNITS[match[2]!]!;
	return { value: Number(match[1]) * scale, halfUnit };
}

/** "" when the shown text (or its absence, null) is the API's number at the page's precision, else why not. */
function disagreement(label: string, shown: string | null, expected: number | null): string {
	const read = shown === null ? null : reading(shown);
	if (read === null || expected === null) return read === expected ? "" : `${label}: page shows ${JSON.stringify(shown)}, API says ${expected}`;
	return Math.abs(read.value - expected) <= read.halfUnit + 1e-9 ? "" : `${label}: page shows ${JSON.stringify(shown)}, API says ${expected}`;
}

/** The step after the steepest fall, as the page must highlight it. */
function biggestDrop(steps: FunnelStep[]): string | null {
	const kept = steps.slice(1).map((s) => s.conversionFromPrevious ?? 1);
	const worst = Math.min(...kept);
	return worst < 1 ? steps[1 + kept.indexOf(worst)]!.id : null;
}

type ShownStep = { step: string | null; visitors: string; fromPrevious: string | null; fromStart: string | null; median: string | null; bar: number; drop: boolean };

/** Reads every step of the funnels (`ol.funnel`) that `selector` finds, as text on the page. */
function shownFunnels(page: Page, selector: string): Promise<{ value: string | null; reachEnd: string | null; steps: ShownStep[] }[]> {
	return page.$$eval(selector, (funnels) =>
		funnels.map((funnel) => ({
			value: funnel.closest(".column")?.getAttribute("data-value") ?? null,
			reachEnd: funnel.closest(".column")?.querySelector(".reach-end")?.textContent ?? null,
			steps: Array.from(funnel.querySelectorAll(":scope > li")).map((li) => ({
				step: li.getAttribute("data-step"),
				visitors: li.querySelector(".visitors")!.textContent!,
				fromPrevious: li.querySelector(".from-previous")?.textContent ?? null,
				fromStart: li.querySelector(".from-start")?.textContent ?? null,
				median: li.querySelector(".median")?.textContent ?? null,
				bar: Number(li.querySelector("svg.bar rect.reached")!.getAttribute("width")),
				drop: li.classList.contains("drop"),
			})),
		})),
	);
}

/** Every way the shown steps differ from the API's, as readable lines (empty when they agree). */
function differences(shown: ShownStep[], api: FunnelStep[], options: { fromStart: boolean; median: boolean }): string[] {
	const top = Math.max(1, ...api.map((s) => s.visitors));
	const worst = biggestDrop(api);
	if (shown.length !== api.length) return [`page shows ${shown.length} steps, API has ${api.length}`];
	return api.flatMap((s, i) => {
		const row = shown[i]!;
		return [
			row.step === s.id ? "" : `step ${i}: page shows '${row.step}', API has '${s.id}'`,
			Number(row.visitors.replace(/,/g, "")) === s.visitors ? "" : `${s.id} visitors: page shows ${row.visitors}, API says ${s.visitors}`,
			disagreement(`${s.id} conversionFromPrevious`, row.fromPrevious, s.conversionFromPrevious),
			options.fromStart ? disagreement(`${s.id} conversionFromStart`, row.fromStart, s.conversionFromStart) : "",
			options.median ? disagreement(`${s.id} medianSecondsFromPrevious`, row.median, s.medianSecondsFromPrevious) : "",
			Math.abs(row.bar - (100 * s.visitors) / top) <= 0.01 ? "" : `${s.id} bar: ${row.bar}% wide for ${s.visitors} of ${top}`,
			row.drop === (s.id === worst) ? "" : `${s.id} is ${row.drop ? "" : "not "}highlighted as the biggest drop-off (API: ${worst})`,
		].filter(Boolean);
	});
}

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
		it(`shows the funnel, breakdowns, trend and CTAs exactly as the API computes them (${size})`, async () => {
			const page = await openDashboard(size);
			const api = await funnelApi();
			expect(api.steps.map((s) => s.id)).toEqual(DEMO_STEPS);
			// The seed gives every step after the first a median, so the comparison below means something.
			expect(api.steps.slice(1).map((s) => s.medianSecondsFromPrevious)).not.toContain(null);
			expect(new Set(api.steps.slice(1).map((s) => s.medianSecondsFromPrevious)).size).toBeGreaterThan(3);
			const [funnel] = await shownFunnels(page, ".panel > .funnel");
			expect(differences(funnel!.steps, api.steps, { fromStart: true, median: true })).toEqual([]);
			expect(await page.$$eval(".panel > .funnel li.drop", (items) => items.length)).toBe(1);
			expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
			await shot(page, `funnel-${size}`);

			const expectedValues = { source: SOURCES, device: Object.keys(DEVICES) };
			for (const by of ["source", "device"] as const) {
				await page.selectOption("#breakdown", by);
				await page.waitForSelector(`.panel h2:has-text("By ${by}")`);
				const breakdown = (await funnelApi(`breakdown=${by}`)).breakdown!;
				const columns = await shownFunnels(page, ".column .funnel");
				expect(columns.map((c) => c.value)).toEqual(breakdown.values.map((v) => v.value));
				expect(columns.map((c) => c.value).sort()).toEqual([...expectedValues[by]].sort());
				for (const [i, column] of columns.entries()) {
					const value = breakdown.values[i]!;
					expect(differences(column.steps, value.steps, { fromStart: false, median: false }), `${by} = ${value.value}`).toEqual([]);
					expect(disagreement(`${value.value} reach the end`, column.reachEnd, value.steps.at(-1)!.conversionFromStart)).toBe("");
				}
				expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
				await shot(page, `breakdown-${by}-${size}`);
			}

			await page.click("nav.tabs button[data-view=trend]");
			await page.waitForSelector("svg.chart polyline");
			expect(await page.isHidden("#breakdown-field")).toBe(true);
			expect(await page.$$eval("svg.chart polyline", (lines) => lines.length)).toBe(DEMO_STEPS.length);
			// Axis text is drawn at the chart's own width: as legible on a phone as on a laptop.
			const smallestText = await page.$$eval("svg.chart text", (texts) => Math.min(...texts.map((t) => t.getBoundingClientRect().height)));
			expect(smallestText).toBeGreaterThanOrEqual(11);
			expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
			await shot(page, `trend-${size}`);

			await page.click("nav.tabs button[data-view=ctas]");
			await page.waitForSelector("tr[data-cta=start-trial]");
			const ctas = await ctaApi();
			const shownCtas = await page.$$eval("tr[data-cta]", (rows) =>
				rows.map((tr) => {
					const cell = (name: string) => Number(tr.querySelector(`td.${name}`)!.textContent!.replace(/,/g, ""));
					const rate = tr.querySelector<HTMLElement>("td.rate-cell")!;
					const box = rate.getBoundingClientRect();
					return {
						id: `${tr.getAttribute("data-cta")}/${tr.getAttribute("data-variant")}`,
						counts: [cell("views"), cell("viewers"), cell("clicks"), cell("dismissals"), cell("conversions")],
						favoured: tr.querySelector(".badge.good") !== null,
						rate: rate.innerText.split("(")[0]!.trim(),
						rateOnScreen: box.width > 0 && box.left >= 0 && box.right <= window.innerWidth,
					};
				}),
			);
			const apiVariants = ctas.ctas.flatMap((c) => c.variants.map((v) => ({ cta: c.id, ...v })));
			expect(shownCtas.map((r) => ({ id: r.id, counts: r.counts, favoured: r.favoured, rateOnScreen: r.rateOnScreen }))).toEqual(
				apiVariants.map((v) => ({ id: `${v.cta}/${v.id}`, counts: [v.views, v.viewers, v.clicks, v.dismissals, v.conversions], favoured: v.favoured, rateOnScreen: true })),
			);
			expect(shownCtas.map((r, i) => disagreement(`${r.id} rate`, r.rate, apiVariants[i]!.conversionRate)).filter(Boolean)).toEqual([]);
			expect(apiVariants.reduce((sum, v) => sum + v.views, 0)).toBe(expectedCtaViews);
			const shownLift = await page.$$eval(".holdout tbody tr", (rows) =>
				rows.map((tr) => {
					const group = (name: string) => {
						const cell = tr.querySelector(`td.${name}`)!;
						return { rate: cell.firstChild!.textContent!, visitors: Number(cell.querySelector("small")!.textContent!.split(" ")[0]) };
					};
					return { holdout: group("in-holdout"), treated: group("treated"), lift: tr.querySelector("td.lift")!.textContent! };
				}),
			);
			expect(shownLift.map((row) => [row.holdout.visitors, row.treated.visitors])).toEqual(ctas.holdout.steps.map((s) => [s.holdout.visitors, s.treated.visitors]));
			expect(ctas.holdout.steps[0]!.holdout.visitors).toBe(HOLDOUT.size);
			expect(ctas.holdout.steps.filter((s) => s.lift !== null).length).toBeGreaterThan(1);
			expect(
				ctas.holdout.steps
					.flatMap((s, i) => [
						disagreement(`${s.id} holdout rate`, shownLift[i]!.holdout.rate, s.holdout.conversionFromStart),
						disagreement(`${s.id} treated rate`, shownLift[i]!.treated.rate, s.treated.conversionFromStart),
						disagreement(`${s.id} lift`, shownLift[i]!.lift, s.lift),
					])
					.filter(Boolean),
			).toEqual([]);
			expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
			await shot(page, `ctas-${size}`);
			await page.close();
		});

		it(`shows a visitor's timeline: steps reached, events, CTAs seen (${size})`, async () => {
			const page = await openDashboard(size);
			const id = visitors[size === "desktop" ? 9 : 16]!;
			const profile = await admin<{ journeys: { completed: unknown[] }[]; events: { event?: string }[] }>(`/sites/demo/visitors/${id}?limit=200`);
			await page.click("nav.tabs button[data-view=visitor]");
			await page.fill("#lookup input", id);
			await page.click("#lookup button");
			await page.waitForSelector(".timeline li.step");
			expect(await page.textContent(".profile")).toContain(id);
			expect(await page.$$eval(".timeline li.step", (items) => items.length)).toBe(profile.journeys[0]!.completed.length);
			expect(await page.$$eval(".timeline li.cta", (items) => items.map((li) => li.textContent))).toEqual([expect.stringMatching(/CTA Viewed start-trial\/[ab]$/)]);
			expect(await page.$$eval(".timeline li", (items) => items.length)).toBe(profile.journeys[0]!.completed.length + profile.events.length);
			// Newest first: the oldest step is the journey's first.
			expect((await page.$$eval(".timeline li.step", (items) => items.map((li) => li.textContent))).at(-1)).toContain("Reached: Read a post, podcast or report");
			expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
			await shot(page, `visitor-${size}`);
			await page.close();
		});

		it(`says what to send, with the selected site's write key, when a range is empty (${size})`, async () => {
			const page = await openDashboard(size);
			await page.fill("#from", "2020-01-01");
			await page.fill("#to", "2020-01-31");
			await page.dispatchEvent("#to", "change");
			await page.waitForSelector("text=No visitors in this range yet");
			await page.locator("#to").blur();
			const demo = await admin<{ writeKeys: string[] }>("/sites/demo");
			expect(await page.textContent(".empty pre")).toContain(`writeKey=${demo.writeKeys[0]}`);
			expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
			await shot(page, `empty-${size}`);

			await page.fill("#site", "candle-shop");
			await page.dispatchEvent("#site", "change");
			const candles = await admin<{ writeKeys: string[] }>("/sites/candle-shop");
			await page.waitForSelector(`.empty pre:has-text("writeKey=${candles.writeKeys[0]}")`);
			expect(await page.textContent(".empty pre")).not.toContain("demo-write-key");
			// The example is one a newcomer can paste: it is accepted and reaches the journey's first step.
			const example = (await page.textContent(".empty pre"))!;
			const url = /"(http[^"]+)"/.exec(example)![1]!;
			const body = /-d '(.+)'/s.exec(example)![1]!;
			expect((await fetch(url, { method: "POST", body })).status).toBe(200);
			for (let i = 0; ; i++) {
				const candleFunnel = await admin<FunnelReport>("/sites/candle-shop/funnels/first-kit");
				if (candleFunnel.steps[0]!.visitors === 1) break;
				if (i === 50) throw new Error("the empty state's example event did not reach the first step");
				await new Promise((resolve) => setTimeout(resolve, 200));
			}
			await page.close();
		});
	}

	it("erases a visitor from the lookup", async () => {
		const page = await openDashboard("desktop");
		const id = visitors[20]!;
		await page.click("nav.tabs button[data-view=visitor]");
		await page.fill("#lookup input", id);
		await page.click("#lookup button");
		await page.waitForSelector(".timeline li.step");
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
});
