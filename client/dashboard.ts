/**
 * The funnel dashboard (`GET /dashboard`): a small page over the admin API. Charts are SVG drawn
 * here; no framework. The admin token is asked for once and kept in this tab's sessionStorage.
 */

import type { FunnelStep } from "../worker/core/rollup";

/** Admin API answers. Their types live with the worker, whose runtime types this page cannot load. */
type Json = Record<string, any>;

const $ = <T extends HTMLElement = HTMLElement>(selector: string) => document.querySelector(selector) as T;
const TOKEN_KEY = "nudge_admin_token";
const COLORS = ["#3346d3", "#e0569b", "#1aa36f", "#f08c2e", "#8a5cf6", "#0ea5b7", "#d64545", "#6b7588"];

const esc = (text: unknown) =>
	String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const pct = (rate: number | null | undefined) => (rate === null || rate === undefined ? "–" : `${Math.round(rate * 1000) / 10}%`);
const num = (n: number) => n.toLocaleString("en-US");

/** 90 s → "1.5 min"; null → "–". */
export function duration(seconds: number | null | undefined): string {
	if (seconds === null || seconds === undefined) return "–";
	if (seconds < 90) return `${seconds} s`;
	if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
	if (seconds < 129600) return `${Math.round(seconds / 360) / 10} h`;
	return `${Math.round(seconds / 8640) / 10} d`;
}

function token(): string | null {
	return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path: string, init: RequestInit = {}): Promise<Json> {
	const res = await fetch(`/v1/admin${path}`, { ...init, headers: { authorization: `Bearer ${token()}` } });
	if (res.status === 401 || res.status === 403) {
		sessionStorage.removeItem(TOKEN_KEY);
		showLogin("That token was refused. Check ADMIN_TOKEN (locally: dev-admin-token).");
		throw new Error("unauthorised");
	}
	const body = (await res.json()) as Json;
	if (!res.ok) throw Object.assign(new Error(body.error?.message ?? res.statusText), { status: res.status });
	return body;
}

function showLogin(message = ""): void {
	$("#login").hidden = false;
	$("#app").hidden = true;
	$("#login-error").textContent = message;
}

const state = { site: "demo", journey: "", from: "", to: "", breakdown: "", view: "funnel" };

function params(): string {
	return `from=${state.from}&to=${state.to}`;
}

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
		const config = await api(`/sites/${encodeURIComponent(state.site)}`);
		const select = $<HTMLSelectElement>("#journey");
		select.innerHTML = (config.journeys as Json[]).map((j) => `<option value="${esc(j.id)}">${esc(j.name)}</option>`).join("");
		state.journey = (config.journeys as Json[])[0]?.id ?? "";
		await render();
	} catch (error) {
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
		if (state.view === "trend") view.innerHTML = await trendView();
		if (state.view === "ctas") view.innerHTML = await ctaView();
		if (state.view === "visitor") view.innerHTML = visitorForm();
	} catch (error) {
		if ((error as Error).message !== "unauthorised") view.innerHTML = `<p class="empty">${esc((error as Error).message)}</p>`;
	}
	view.removeAttribute("aria-busy");
}

const FIRST_EVENT = `<p class="empty">No visitors in this range yet. Send your first event:</p>
<pre>curl -X POST "${location.origin}/v1/collect?writeKey=demo-write-key" \\
  -d '{"type":"page","anonymousId":"a-1","context":{"page":{"path":"/blog/remote-work"}}}'</pre>`;

/** One bar per step; the biggest drop-off from the previous step is highlighted. */
function funnelBars(steps: FunnelStep[], compact = false): string {
	const top = Math.max(1, ...steps.map((s) => s.visitors));
	const drops = steps.slice(1).map((s) => s.conversionFromPrevious ?? 1);
	const worst = drops.length && steps[0]!.visitors > 0 ? 1 + drops.indexOf(Math.min(...drops)) : -1;
	return `<ol class="funnel${compact ? " compact" : ""}">${steps
		.map(
			(s, i) => `<li class="${i === worst ? "drop" : ""}" data-step="${esc(s.id)}">
			<div class="label"><span>${esc(s.name)}</span><strong class="visitors">${num(s.visitors)}</strong></div>
			<div class="bar"><span style="width:${(100 * s.visitors) / top}%"></span></div>
			${
				compact
					? ""
					: `<div class="meta"><span>${i ? `${pct(s.conversionFromPrevious)} of previous` : "start"}</span><span>${pct(s.conversionFromStart)} of start</span><span>median ${duration(s.medianSecondsFromPrevious)}</span>${i === worst ? `<span class="badge">biggest drop-off</span>` : ""}</div>`
			}</li>`,
		)
		.join("")}</ol>`;
}

async function funnelView(): Promise<string> {
	const query = `${params()}${state.breakdown ? `&breakdown=${state.breakdown}` : ""}`;
	const report = await api(`/sites/${state.site}/funnels/${state.journey}?${query}`);
	const steps = report.steps as FunnelStep[];
	if (!steps[0]?.visitors) return FIRST_EVENT;
	let html = `<section class="panel"><h2>Funnel <small>${esc(report.from)} → ${esc(report.to)}, by the day visitors began</small></h2>${funnelBars(steps)}</section>`;
	if (report.breakdown) {
		const values = report.breakdown.values as { value: string; steps: FunnelStep[] }[];
		html += `<section class="panel"><h2>By ${esc(report.breakdown.by)}</h2><div class="columns">${values
			.map((v) => `<div class="column" data-value="${esc(v.value)}"><h3>${esc(v.value)}</h3>${funnelBars(v.steps, true)}<p class="muted">${pct(v.steps.at(-1)?.conversionFromStart)} reach the end</p></div>`)
			.join("")}</div></section>`;
	}
	return html;
}

/** A line per step over days, with a light grid and a legend. */
export function lineChart(days: string[], series: { name: string; values: number[] }[]): string {
	const width = 720;
	const height = 260;
	const pad = { left: 40, right: 12, top: 12, bottom: 28 };
	const max = Math.max(1, ...series.flatMap((s) => s.values));
	const x = (i: number) => pad.left + (days.length < 2 ? 0 : (i * (width - pad.left - pad.right)) / (days.length - 1));
	const y = (v: number) => height - pad.bottom - (v * (height - pad.top - pad.bottom)) / max;
	const ticks = [0, Math.round(max / 2), max];
	const every = Math.max(1, Math.ceil(days.length / 6));
	return `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="Reaches per step per day">
		${ticks.map((t) => `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(t)}" y2="${y(t)}" class="grid"/><text x="${pad.left - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>`).join("")}
		${days.map((d, i) => (i % every ? "" : `<text x="${x(i)}" y="${height - 8}" text-anchor="middle">${d.slice(5)}</text>`)).join("")}
		${series
			.map((s, k) => `<polyline fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="2" points="${s.values.map((v, i) => `${x(i)},${y(v)}`).join(" ")}"><title>${esc(s.name)}</title></polyline>`)
			.join("")}
	</svg><ul class="legend">${series.map((s, k) => `<li><i style="background:${COLORS[k % COLORS.length]}"></i>${esc(s.name)}</li>`).join("")}</ul>`;
}

async function trendView(): Promise<string> {
	const trend = await api(`/sites/${state.site}/funnels/${state.journey}/trend?${params()}`);
	const steps = trend.steps as { name: string; reaches: number[] }[];
	if (!steps.some((s) => s.reaches.some((r) => r > 0))) return FIRST_EVENT;
	return `<section class="panel"><h2>Reaches per day</h2>${lineChart(trend.days, steps.map((s) => ({ name: s.name, values: s.reaches })))}</section>`;
}

/** A rate with its 95% interval drawn as a bar and whisker. */
function rateBar(rate: number | null, interval: [number, number] | null): string {
	if (rate === null || !interval) return "–";
	return `<span class="rate"><svg viewBox="0 0 100 10" aria-hidden="true"><rect x="0" y="3" width="100" height="4" class="track"/><rect x="${interval[0] * 100}" y="1" width="${Math.max(1, (interval[1] - interval[0]) * 100)}" height="8" class="ci"/><rect x="${rate * 100 - 1}" y="0" width="2" height="10" class="point"/></svg>${pct(rate)} <small>(${pct(interval[0])}–${pct(interval[1])})</small></span>`;
}

async function ctaView(): Promise<string> {
	const report = await api(`/sites/${state.site}/ctas/${state.journey}?${params()}`);
	const ctas = report.ctas as Json[];
	const anyViews = ctas.some((c) => (c.variants as Json[]).some((v) => v.views > 0));
	let html = anyViews
		? ""
		: `<p class="empty">No CTA has been seen yet. Add <code>&lt;div data-nudge-slot="inline"&gt;&lt;/div&gt;</code> to a page with the snippet.</p>`;
	html += `<section class="panel"><h2>CTAs <small>views, clicks and steps reached within the attribution window</small></h2><div class="table"><table><thead><tr><th>CTA</th><th>Variant</th><th>Views</th><th>Viewers</th><th>Clicks</th><th>Dismissed</th><th>Conversions</th><th>Rate (95% CI)</th></tr></thead><tbody>${ctas
		.flatMap((c) =>
			(c.variants as Json[]).map(
				(v, i) => `<tr data-cta="${esc(c.id)}" data-variant="${esc(v.id)}">${i === 0 ? `<td rowspan="${c.variants.length}"><strong>${esc(c.id)}</strong><br><small>→ ${esc(c.step)}</small></td>` : ""}
				<td>${esc(v.id)} ${v.favoured ? `<span class="badge good">favoured</span>` : ""}<br><small>${esc(v.title)}</small></td>
				<td>${num(v.views)}</td><td>${num(v.viewers)}</td><td>${num(v.clicks)}</td><td>${num(v.dismissals)}</td><td>${num(v.conversions)}</td><td>${rateBar(v.conversionRate, v.conversionInterval)}</td></tr>`,
			),
		)
		.join("")}</tbody></table></div></section>`;
	const holdout = report.holdout as Json;
	html += `<section class="panel"><h2>Holdout lift <small>${esc(holdout.percent)}% of visitors never see a CTA</small></h2><div class="table"><table><thead><tr><th>Step</th><th>Holdout</th><th>Treated</th><th>Lift</th></tr></thead><tbody>${(holdout.steps as Json[])
		.map(
			(s) => `<tr><td>${esc(s.name)}</td><td>${num(s.holdout.visitors)} · ${pct(s.holdout.conversionFromStart)}</td><td>${num(s.treated.visitors)} · ${pct(s.treated.conversionFromStart)}</td><td class="${(s.lift ?? 0) > 0 ? "good" : ""}">${s.lift === null ? "–" : `${s.lift > 0 ? "+" : ""}${pct(s.lift)}`}</td></tr>`,
		)
		.join("")}</tbody></table></div></section>`;
	return html;
}

function visitorForm(): string {
	return `<section class="panel"><h2>Visitor lookup</h2><form id="lookup"><input name="visitor" placeholder="anonymousId or userId" required aria-label="Visitor id"><button class="button primary">Look up</button></form><div id="visitor"></div></section>`;
}

async function lookUp(id: string): Promise<void> {
	const target = $("#visitor");
	try {
		const p = await api(`/sites/${state.site}/visitors/${encodeURIComponent(id)}?limit=200`);
		const journey = (p.journeys as Json[]).find((j) => j.id === state.journey) ?? p.journeys[0];
		const timeline = [
			...(journey?.completed ?? []).map((c: Json) => ({ at: c.at, kind: "step", text: `Reached ${c.step}` })),
			...(p.events as Json[]).map((e) => ({ at: e.timestamp, kind: /^CTA /.test(e.event ?? "") ? "cta" : "event", text: e.event ?? `${e.type} ${e.context?.page?.path ?? ""}` })),
		].sort((a, b) => String(b.at).localeCompare(String(a.at)));
		target.innerHTML = `<div class="profile"><p><strong>${esc(p.id)}</strong> · ${num(p.eventCount)} events · first seen ${esc(p.firstSeen.slice(0, 16).replace("T", " "))} · progress ${pct(journey?.progress)}</p>
			<p>${(p.ctas as Json[]).map((c) => `<span class="badge">${esc(c.id)}/${esc(c.variant)}: ${c.views} views, ${c.clicks} clicks${c.dismissed ? ", dismissed" : ""}</span>`).join(" ") || "No CTA seen."}</p>
			<button class="button danger" id="erase">Erase this visitor</button></div>
			<ol class="timeline">${timeline.map((t) => `<li class="${t.kind}"><time>${esc(String(t.at).slice(0, 19).replace("T", " "))}</time> ${esc(t.text)}</li>`).join("")}</ol>`;
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
