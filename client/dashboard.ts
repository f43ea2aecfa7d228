/**
 * The funnel dashboard (`GET /dashboard`): a small page over the admin API. Charts are SVG drawn
 * here; no framework. The admin token is asked for once and kept in this tab's sessionStorage.
 */

import type { Journey, SiteConfig } from "../schema";
import type { FunnelStep } from "../worker/core/rollup";

// The admin API's answers, as far as this page reads them. The worker declares them beside code
// that needs the Workers runtime types (worker/funnels.ts, worker/cta-stats.ts,
// worker/objects/visitor-object.ts), which this page's type-check cannot load.
type FunnelReport = { from: string; to: string; steps: FunnelStep[]; breakdown?: { by: string; values: { value: string; steps: FunnelStep[] }[] } };
type TrendReport = { days: string[]; steps: { name: string; reaches: number[] }[] };
type CtaVariant = {
	id: string;
	title: string;
	views: number;
	viewers: number;
	clicks: number;
	dismissals: number;
	conversions: number;
	conversionRate: number | null;
	conversionInterval: [number, number] | null;
	favoured: boolean;
};
type GroupRate = { visitors: number; conversionFromStart: number | null };
type CtaReport = {
	ctas: { id: string; step: string; variants: CtaVariant[] }[];
	holdout: { percent: number; steps: { name: string; holdout: GroupRate; treated: GroupRate; lift: number | null }[] };
};
type StoredEvent = { type?: string; event?: string; timestamp?: string; context?: { page?: { path?: string } }; properties?: { cta_id?: unknown; variant_id?: unknown } };
type VisitorProfile = {
	id: string;
	firstSeen: string;
	eventCount: number;
	journeys: { id: string; completed: { step: string; at: string }[]; progress: number }[];
	events: StoredEvent[];
	ctas: { id: string; variant: string | null; views: number; clicks: number; dismissed: boolean }[];
};

const $ = <T extends HTMLElement = HTMLElement>(selector: string) => document.querySelector(selector) as T;
const TOKEN_KEY = "nudge_admin_token";
const COLORS = ["#3346d3", "#e0569b", "#1aa36f", "#f08c2e", "#8a5cf6", "#0ea5b7", "#d64545", "#6b7588"];

const esc = (text: unknown) =>
	String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const pct = (rate: number | null | undefined) => (rate === null || rate === undefined ? "–" : `${Math.round(rate * 1000) / 10}%`);
const num = (n: number) => n.toLocaleString("en-US");
const plural = (n: number, noun: string) => `${num(n)} ${noun}${n === 1 ? "" : "s"}`;

/** 90 s → "1.5 min"; null → "–". */
function duration(seconds: number | null | undefined): string {
	if (seconds === null || seconds === undefined) return "–";
	if (seconds < 90) return `${seconds} s`;
	if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
	if (seconds < 129600) return `${Math.round(seconds / 360) / 10} h`;
	return `${Math.round(seconds / 8640) / 10} d`;
}

function token(): string | null {
	return sessionStorage.getItem(TOKEN_KEY);
}

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
	const res = await fetch(`/v1/admin${path}`, { ...init, headers: { authorization: `Bearer ${token()}` } });
	if (res.status === 401 || res.status === 403) {
		sessionStorage.removeItem(TOKEN_KEY);
		showLogin("That token was refused. Check ADMIN_TOKEN (locally: dev-admin-token).");
		throw new Error("unauthorised");
	}
	const body = (await res.json()) as T & { error?: { message?: string } };
	if (!res.ok) throw Object.assign(new Error(body.error?.message ?? res.statusText), { status: res.status });
	return body;
}

function showLogin(message = ""): void {
	$("#login").hidden = false;
	$("#app").hidden = true;
	$("#login-error").textContent = message;
}

const state = { site: "demo", journey: "", from: "", to: "", breakdown: "", view: "funnel" };
let site: SiteConfig | undefined;

function params(): string {
	return `from=${state.from}&to=${state.to}`;
}

const currentJourney = (): Journey | undefined => site?.journeys.find((j) => j.id === state.journey);

async function start(): Promise<void> {
	$("#login").hidden = true;
	$("#app").hidden = false;
	const today = new Date();
	state.to ||= today.toISOString().slice(0, 10);
	state.from ||= new Date(today.getTime() - 29 * 86_400_000).toISOString().slice(0, 10);
	$<HTMLInputElement>("#from").value = state.from;
	$<HTMLInputElement>("#to").value = state.to;
	$<HTMLInputElement>("#site").value = state.site;
	await loadSite();
}

async function loadSite(): Promise<void> {
	try {
		site = await api<SiteConfig>(`/sites/${encodeURIComponent(state.site)}`);
		$<HTMLSelectElement>("#journey").innerHTML = site.journeys.map((j) => `<option value="${esc(j.id)}">${esc(j.name)}</option>`).join("");
		state.journey = site.journeys[0]?.id ?? "";
		await render();
	} catch (error) {
		site = undefined;
		if ((error as Error).message !== "unauthorised") $("#view").innerHTML = `<p class="empty">${esc((error as Error).message)}</p>`;
	}
}

async function render(): Promise<void> {
	document.querySelectorAll<HTMLButtonElement>("nav.tabs button").forEach((b) => b.classList.toggle("active", b.dataset.view === state.view));
	$("#breakdown-field").hidden = state.view !== "funnel";
	const view = $("#view");
	view.setAttribute("aria-busy", "true");
	try {
		if (state.view === "funnel") view.innerHTML = await funnelView();
		if (state.view === "trend") await trendView(view);
		if (state.view === "ctas") view.innerHTML = await ctaView();
		if (state.view === "visitor") view.innerHTML = visitorForm();
	} catch (error) {
		if ((error as Error).message !== "unauthorised") view.innerHTML = `<p class="empty">${esc((error as Error).message)}</p>`;
	}
	view.removeAttribute("aria-busy");
}

/** An event that reaches the journey's first step, built from that step's first match rule. */
function exampleEvent(journey: Journey | undefined): Record<string, unknown> {
	const rule = journey ? [journey.steps[0]!.match].flat()[0] : undefined;
	const event = [rule?.event ?? []].flat()[0];
	const type = rule?.type ?? (event ? "track" : "page");
	// A glob's wildcards become a plain segment: "/kits/*" → "/kits/example".
	const path = [rule?.path ?? "/"].flat()[0]!.replace(/\*\*?|\?/g, "example");
	// Only literal conditions have an obvious example value; operators (gte, in…) are left out.
	const properties = Object.fromEntries(Object.entries(rule?.properties ?? {}).filter(([, c]) => typeof c !== "object"));
	return {
		type,
		...(event ? { [type === "track" ? "event" : "name"]: event } : {}),
		anonymousId: "first-visitor",
		...(Object.keys(properties).length ? { properties } : {}),
		context: { page: { path } },
	};
}

function firstEvent(): string {
	const writeKey = site?.writeKeys[0] ?? "WRITE_KEY";
	// One field a line, so the command stays readable in a phone-wide box; ' closes the shell's quotes.
	const body = Object.entries(exampleEvent(currentJourney())).map(([key, value]) => `    ${JSON.stringify(key)}: ${JSON.stringify(value)}`);
	return `<section class="panel empty"><h2>No visitors in this range yet</h2>
<p>Visitors count from the day they reached the first step. Widen the dates, or send a first event to <strong>${esc(state.site)}</strong>:</p>
<pre>curl "${esc(location.origin)}/v1/collect?writeKey=${esc(encodeURIComponent(writeKey))}" \\
  -d '{\n${esc(body.join(",\n").replace(/'/g, "'\\''"))}\n  }'</pre>
<p class="muted">On a site, add the snippet with <code>data-write-key="${esc(writeKey)}"</code>; its events show here within seconds.</p></section>`;
}

/** The step after the steepest fall from the step before it; -1 when nobody started or nobody fell. */
function biggestDrop(steps: FunnelStep[]): number {
	if (!steps[0]?.visitors) return -1;
	const kept = steps.map((s, i) => (i === 0 ? 1 : (s.conversionFromPrevious ?? 1)));
	const worst = Math.min(...kept);
	return worst < 1 ? kept.indexOf(worst) : -1;
}

/** A step's bar: who reached it, and (lighter) who reached the previous step but not this one. */
function bar(reached: number, previous: number, top: number): string {
	const x = (n: number) => Math.round((10_000 * n) / top) / 100;
	const lost = previous > reached ? `<rect class="lost" x="${x(reached)}" width="${x(previous - reached)}" height="8"/>` : "";
	return `<svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true"><rect class="track" width="100" height="8"/>${lost}<rect class="reached" width="${x(reached)}" height="8"/></svg>`;
}

/** One bar per step; the biggest drop-off from the previous step is highlighted. */
function funnelBars(steps: FunnelStep[], compact = false): string {
	const top = Math.max(1, ...steps.map((s) => s.visitors));
	const worst = biggestDrop(steps);
	return `<ol class="funnel${compact ? " compact" : ""}">${steps
		.map((s, i) => {
			const previous = steps[i - 1]?.visitors ?? s.visitors;
			const fromPrevious = i ? `<span class="from-previous">${pct(s.conversionFromPrevious)}${compact ? "" : " of previous"}</span>` : "";
			const meta = compact
				? ""
				: `<div class="meta">${fromPrevious || "<span>first step</span>"}<span class="from-start">${pct(s.conversionFromStart)} of start</span>${i ? `<span class="median">median ${duration(s.medianSecondsFromPrevious)}</span>` : ""}${i === worst ? `<span class="badge">biggest drop-off</span>` : ""}</div>`;
			return `<li class="${i === worst ? "drop" : ""}" data-step="${esc(s.id)}"><div class="label"><span>${esc(s.name)}</span><span>${compact ? fromPrevious : ""}<strong class="visitors">${num(s.visitors)}</strong></span></div>${bar(s.visitors, previous, top)}${meta}</li>`;
		})
		.join("")}</ol>`;
}

async function funnelView(): Promise<string> {
	const query = `${params()}${state.breakdown ? `&breakdown=${state.breakdown}` : ""}`;
	const report = await api<FunnelReport>(`/sites/${state.site}/funnels/${state.journey}?${query}`);
	if (!report.steps[0]?.visitors) return firstEvent();
	let html = `<section class="panel"><h2>Funnel <small>${esc(report.from)} → ${esc(report.to)}, by the day visitors began</small></h2>${funnelBars(report.steps)}</section>`;
	if (report.breakdown) {
		html += `<section class="panel"><h2>By ${esc(report.breakdown.by)} <small>visitors and % of the previous step</small></h2><div class="columns">${report.breakdown.values
			.map((v) => `<div class="column" data-value="${esc(v.value)}"><h3>${esc(v.value)}</h3>${funnelBars(v.steps, true)}<p class="muted"><span class="reach-end">${pct(v.steps.at(-1)?.conversionFromStart)}</span> reach the end</p></div>`)
			.join("")}</div></section>`;
	}
	return html;
}

/** 0 and up to four more ticks at 1, 2 or 5 × 10ⁿ, the last at or above max; whole numbers, as the counts are. */
function ticks(max: number): number[] {
	const magnitude = Math.max(1, 10 ** Math.floor(Math.log10(Math.max(1, max) / 4)));
	const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s * 4 >= max) ?? 10 * magnitude;
	return Array.from({ length: Math.ceil(Math.max(1, max) / step) + 1 }, (_, i) => i * step);
}

const dayLabel = (day: string) => new Date(`${day}T00:00:00Z`).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });

/**
 * A line per step over days, with a light grid. Drawn at the pixel width it is shown at, so its
 * 12 px text stays 12 px on a phone instead of shrinking with a fixed viewBox.
 */
function lineChart(width: number, days: string[], series: { name: string; values: number[] }[]): string {
	const height = Math.round(Math.min(280, Math.max(200, width * 0.4)));
	const yTicks = ticks(Math.max(0, ...series.flatMap((s) => s.values)));
	const top = yTicks.at(-1)!;
	const pad = { left: 10 + 7 * String(top).length, right: 12, top: 10, bottom: 26 };
	const plot = width - pad.left - pad.right;
	const x = (i: number) => Math.round(pad.left + (days.length < 2 ? 0 : (i * plot) / (days.length - 1)));
	const y = (v: number) => Math.round(height - pad.bottom - (v * (height - pad.top - pad.bottom)) / top);
	// A date label needs about 56 px ("Nov 30" at 12 px and a gap).
	const every = Math.max(1, Math.ceil(days.length / Math.max(2, Math.floor(plot / 56))));
	return `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Reaches per step per day">
		${yTicks.map((t) => `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(t)}" y2="${y(t)}" class="grid"/><text x="${pad.left - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>`).join("")}
		${days.map((d, i) => (i % every ? "" : `<text x="${x(i)}" y="${height - 8}" text-anchor="${i === 0 ? "start" : i === days.length - 1 ? "end" : "middle"}">${dayLabel(d)}</text>`)).join("")}
		${series
			.map((s, k) => `<polyline fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="2" stroke-linejoin="round" points="${s.values.map((v, i) => `${x(i)},${y(v)}`).join(" ")}"><title>${esc(s.name)}</title></polyline>`)
			.join("")}
	</svg>`;
}

async function trendView(view: HTMLElement): Promise<void> {
	const trend = await api<TrendReport>(`/sites/${state.site}/funnels/${state.journey}/trend?${params()}`);
	if (!trend.steps.some((s) => s.reaches.some((r) => r > 0))) {
		view.innerHTML = firstEvent();
		return;
	}
	const series = trend.steps.map((s) => ({ name: s.name, values: s.reaches }));
	view.innerHTML = `<section class="panel"><h2>Reaches per day <small>visitors reaching each step, by the day they reached it</small></h2><div class="chart-box"></div><ul class="legend">${series
		.map((s, k) => `<li><i style="background:${COLORS[k % COLORS.length]}"></i>${esc(s.name)}</li>`)
		.join("")}</ul></section>`;
	const box = $(".chart-box");
	let drawnWidth = 0;
	const observer = new ResizeObserver(() => {
		if (!box.isConnected) return observer.disconnect();
		if (box.clientWidth === drawnWidth) return;
		drawnWidth = box.clientWidth;
		box.innerHTML = lineChart(drawnWidth, trend.days, series);
	});
	observer.observe(box);
}

/** A rate with its 95% interval drawn as a bar and whisker. */
function rateBar(rate: number | null, interval: [number, number] | null): string {
	if (rate === null || !interval) return "–";
	return `<span class="rate"><svg viewBox="0 0 100 10" aria-hidden="true"><rect x="0" y="3" width="100" height="4" class="track"/><rect x="${interval[0] * 100}" y="1" width="${Math.max(1, (interval[1] - interval[0]) * 100)}" height="8" class="ci"/><rect x="${rate * 100 - 1}" y="0" width="2" height="10" class="point"/></svg>${pct(rate)} <small>(${pct(interval[0])}–${pct(interval[1])})</small></span>`;
}

const COUNTS = [
	["views", "Views"],
	["viewers", "Viewers"],
	["clicks", "Clicks"],
	["dismissals", "Dismissed"],
	["conversions", "Conversions"],
] as const;

async function ctaView(): Promise<string> {
	const report = await api<CtaReport>(`/sites/${state.site}/ctas/${state.journey}?${params()}`);
	const anyViews = report.ctas.some((c) => c.variants.some((v) => v.views > 0));
	let html = anyViews
		? ""
		: `<p class="empty">No CTA has been seen in this range. Add <code>&lt;div data-nudge-slot="inline"&gt;&lt;/div&gt;</code> to a page with the snippet, or widen the dates.</p>`;
	// Every cell carries its column name: under 960 px (see the page style) the table becomes one card per CTA.
	html += `<section class="panel"><h2>CTAs <small>views, clicks and steps reached within the attribution window</small></h2><table class="ctas"><thead><tr><th>CTA</th><th>Variant</th>${COUNTS.map(([, label]) => `<th>${label}</th>`).join("")}<th>Rate (95% CI)</th></tr></thead>${report.ctas
		.map(
			(c) =>
				`<tbody>${c.variants
					.map(
						(v, i) => `<tr data-cta="${esc(c.id)}" data-variant="${esc(v.id)}">${i === 0 ? `<th scope="rowgroup" rowspan="${c.variants.length}">${esc(c.id)}<small>→ ${esc(c.step)}</small></th>` : ""}<td class="variant" data-label="Variant">${esc(v.id)} ${v.favoured ? `<span class="badge good">favoured</span>` : ""}<small>${esc(v.title)}</small></td>${COUNTS.map(([key, label]) => `<td class="${key}" data-label="${label}">${num(v[key])}</td>`).join("")}<td class="rate-cell" data-label="Rate (95% CI)">${rateBar(v.conversionRate, v.conversionInterval)}</td></tr>`,
					)
					.join("")}</tbody>`,
		)
		.join("")}</table></section>`;
	const holdout = report.holdout;
	const group = (g: GroupRate) => `${pct(g.conversionFromStart)}<small>${plural(g.visitors, "visitor")}</small>`;
	html += `<section class="panel"><h2>Holdout lift <small>${esc(holdout.percent)}% of visitors never see a CTA</small></h2><table class="holdout"><thead><tr><th>Step</th><th>Holdout</th><th>Treated</th><th>Lift</th></tr></thead><tbody>${holdout.steps
		.map(
			(s) =>
				`<tr><td>${esc(s.name)}</td><td class="in-holdout">${group(s.holdout)}</td><td class="treated">${group(s.treated)}</td><td class="lift${(s.lift ?? 0) > 0 ? " good" : ""}">${s.lift === null ? "–" : `${s.lift > 0 ? "+" : ""}${pct(s.lift)}`}</td></tr>`,
		)
		.join("")}</tbody></table></section>`;
	return html;
}

function visitorForm(): string {
	return `<section class="panel"><h2>Visitor lookup</h2><form id="lookup"><input name="visitor" placeholder="anonymousId or userId" required aria-label="Visitor id"><button class="button primary">Look up</button></form><div id="visitor"><p class="muted">Paste the id events carry as <code>anonymousId</code> or <code>userId</code>. In a browser with the snippet, <code>localStorage.nudge_aid</code> holds its anonymousId.</p></div></section>`;
}

function eventText(e: StoredEvent): string {
	if (e.properties?.cta_id !== undefined) return `${e.event} ${e.properties.cta_id}/${e.properties.variant_id ?? ""}`;
	return e.event ?? `${e.type} ${e.context?.page?.path ?? ""}`;
}

async function lookUp(id: string): Promise<void> {
	const target = $("#visitor");
	try {
		const p = await api<VisitorProfile>(`/sites/${state.site}/visitors/${encodeURIComponent(id)}?limit=200`);
		const journey = p.journeys.find((j) => j.id === state.journey) ?? p.journeys[0];
		const stepName = (step: string) => currentJourney()?.steps.find((s) => s.id === step)?.name ?? step;
		const timeline = [
			...(journey?.completed ?? []).map((c) => ({ at: c.at, kind: "step", text: `Reached: ${stepName(c.step)}` })),
			...p.events.map((e) => ({ at: e.timestamp ?? "", kind: /^CTA /.test(e.event ?? "") ? "cta" : "event", text: eventText(e) })),
		].sort((a, b) => b.at.localeCompare(a.at));
		target.innerHTML = `<div class="profile"><p><strong>${esc(p.id)}</strong> · ${plural(p.eventCount, "event")} · first seen ${esc(p.firstSeen.slice(0, 16).replace("T", " "))} · progress ${pct(journey?.progress)}</p>
			<p>${p.ctas.map((c) => `<span class="badge">${esc(c.id)}/${esc(c.variant)}: ${plural(c.views, "view")}, ${plural(c.clicks, "click")}${c.dismissed ? ", dismissed" : ""}</span>`).join(" ") || "No CTA seen."}</p>
			<button class="button danger" id="erase">Erase this visitor</button></div>
			<ol class="timeline">${timeline.map((t) => `<li class="${t.kind}"><time>${esc(t.at.slice(0, 19).replace("T", " "))}</time> ${esc(t.text)}</li>`).join("")}</ol>`;
		$("#erase").onclick = async () => {
			if (!confirm(`Erase everything about ${p.id}?`)) return;
			await api(`/sites/${state.site}/visitors/${encodeURIComponent(p.id)}`, { method: "DELETE" });
			target.innerHTML = `<p class="empty">Erased ${esc(p.id)}.</p>`;
		};
	} catch (error) {
		const status = (error as { status?: number }).status;
		target.innerHTML = `<p class="empty">${status === 404 ? `No visitor '${esc(id)}' on this site.` : esc((error as Error).message)}</p>`;
	}
}

document.addEventListener("submit", (event) => {
	const form = event.target as HTMLFormElement;
	event.preventDefault();
	if (form.id === "login-form") {
		sessionStorage.setItem(TOKEN_KEY, new FormData(form).get("token") as string);
		void start();
	}
	// (A control named "id" would shadow form.id: hence "visitor".)
	if (form.id === "lookup") void lookUp(String(new FormData(form).get("visitor")).trim());
});
document.addEventListener("click", (event) => {
	const tab = (event.target as HTMLElement).closest<HTMLButtonElement>("nav.tabs button");
	if (tab) {
		state.view = tab.dataset.view!;
		void render();
	}
	if ((event.target as HTMLElement).id === "logout") {
		sessionStorage.removeItem(TOKEN_KEY);
		showLogin();
	}
});
document.addEventListener("change", (event) => {
	const input = event.target as HTMLInputElement;
	if (input.id === "site") {
		state.site = input.value.trim();
		void loadSite();
		return;
	}
	if (input.id in state) (state as Record<string, string>)[input.id] = input.value;
	if (["journey", "from", "to", "breakdown"].includes(input.id)) void render();
});

if (token()) void start();
else showLogin();
