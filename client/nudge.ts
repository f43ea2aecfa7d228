/**
 * The Nudge page snippet: `<script async src="…/v1/nudge.js" data-write-key="…"></script>`.
 * Sends Segment-shaped events, never loses one the browser let it send, and fills
 * `data-nudge-slot` elements with the visitor's next CTA. Budget: 2 KB gzip (the build fails
 * past it), so this file trades a little elegance for bytes.
 */

type Props = Record<string, unknown>;
type Ev = Props & { type: string; messageId: string; timestamp: string };
type Cta = { id: string; variant: string; title: string; body: string; href: string; placement: string; dismissible?: boolean };
type Hint = { visitor: Props; ctas: Cta[] };
type Call = [string, ...unknown[]];

const w = window as unknown as { nudge?: Call[] | Api };
const d = document;
// Blocked storage throws on every access, private modes and full quotas on writes: each access
// is guarded, so identifiers then live in memory. No probe write: under opt-out nothing is stored.
const io = <T>(f: () => T): T | undefined => {
	try {
		return f();
	} catch {
		return undefined;
	}
};
const script = d.currentScript as HTMLScriptElement | null;
// `data-cookieless`: nothing that identifies the visitor is stored (the server names them by a
// daily hash); only the consent choice (optout/optin, the keys starting with "o") is kept.
const keep = (k: string) => script?.dataset.cookieless == null || k[0] == "o";
const get = (k: string) => (keep(k) && io(() => localStorage.getItem("nudge_" + k))) || null;
const set = (k: string, v: string | null) => keep(k) && io(() => (v === null ? localStorage.removeItem("nudge_" + k) : localStorage.setItem("nudge_" + k, v)));

const key = script?.dataset.writeKey ?? "";
const base = (script?.dataset.api ?? (script ? new URL(script.src).origin : "")) + "/v1/";
const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now());
// The choice made on this page (1 out, 2 in) still holds when storage cannot keep it; the stored
// one covers other tabs and later pages. Global Privacy Control counts as opting out until an opt-in.
let choice = 0;
const optedOut = () =>
	get("optout") === "1" || choice === 1 || ((navigator as { globalPrivacyControl?: boolean }).globalPrivacyControl === true && choice !== 2 && get("optin") !== "1");
// The server rejects an event over 32 KiB (Segment's limit), measured in UTF-8 bytes like these.
const bytes = (e: Ev) => new Blob([JSON.stringify(e)]).size;
const MAX_EVENT = 32768;

let anon = get("aid");
let user = get("uid");
// Older snippets queued events of any size; one too big for a keepalive body would block the rest.
let queue = (JSON.parse(get("q") ?? "[]") as Ev[]).filter((e) => bytes(e) <= MAX_EVENT);
let timer = 0;
let backoff = 1000;
const save = () => !optedOut() && set("q", JSON.stringify(queue.slice(-500)));

function context(): Props {
	return { page: { path: location.pathname, url: location.href, referrer: d.referrer, title: d.title }, userAgent: navigator.userAgent };
}

function enqueue(e: Props & { type: string }): void {
	if (optedOut()) return;
	if (!anon) set("aid", (anon = uuid()));
	const ev: Ev = { ...e, anonymousId: anon, userId: user, messageId: uuid(), timestamp: new Date().toISOString(), context: context() };
	if (bytes(ev) > MAX_EVENT) return;
	queue.push(ev);
	save();
	clearTimeout(timer);
	timer = setTimeout(flush, queue.length >= 20 ? 0 : 500) as unknown as number;
}

/**
 * Sends what is queued with fetch; only a 2xx removes events, so failures are retried later.
 * A flush asked for while one is in flight joins it: two copies of a batch in flight could
 * together pass the browser's keepalive quota.
 */
let sending: Promise<void> | 0 = 0;
function flush(): Promise<void> {
	if (sending) return sending;
	if (!queue.length || optedOut()) return Promise.resolve();
	const batch = take();
	return (sending = fetch(base + "collect?writeKey=" + key, { method: "POST", body: JSON.stringify({ batch, sentAt: new Date().toISOString() }), keepalive: true, headers: { "content-type": "text/plain" } })
		.then((r) => {
			// 4xx means the events can never be accepted: drop them rather than retry forever.
			if (r.status >= 500 || r.status === 429) throw 0;
			const sent = new Set(batch.map((e) => e.messageId));
			queue = queue.filter((e) => !sent.has(e.messageId));
			save();
			backoff = 1000;
			sending = 0;
			return flush();
		})
		.catch(() => {
			sending = 0;
			timer = setTimeout(flush, (backoff = Math.min(backoff * 2, 60000))) as unknown as number;
		}));
}

/** The oldest events that fit a keepalive body (browsers cap those at 64 KiB of bytes in flight). */
function take(): Ev[] {
	const batch: Ev[] = [];
	let size = 0;
	for (const e of queue) {
		size += bytes(e);
		if (size > 50000 && batch.length) break;
		batch.push(e);
	}
	return batch;
}

/** Leaving the page: a beacon, without forgetting the events (the next page view resends them; messageIds dedupe). */
function beacon(): void {
	if (queue.length && !optedOut()) navigator.sendBeacon?.(base + "collect?writeKey=" + key, JSON.stringify({ batch: take() }));
}

function track(event: string, properties?: Props): void {
	enqueue({ type: "track", event, properties });
}

const none = (): Hint => ({ visitor: {}, ctas: [] });

/** The visitor's next CTAs; none once they have opted out (without asking), on an error answer or offline. */
function next(options: { placement?: string } = {}): Promise<Hint> {
	if (optedOut()) return Promise.resolve(none());
	if (!anon) set("aid", (anon = uuid()));
	const q = new URLSearchParams({ writeKey: key, path: location.pathname, ...options });
	q.set(user ? "userId" : "anonymousId", user ?? anon);
	return fetch(base + "next?" + q)
		.then((r) => (r.ok ? (r.json() as Promise<Hint>) : none()))
		.catch(none);
}

/** Fills a slot with the visitor's next CTA and reports views (when visible), clicks and dismissals. */
function render(slot: HTMLElement): Promise<void> {
	return next({ placement: slot.dataset.nudgeSlot || "inline" }).then(({ ctas }) => {
		const cta = ctas[0];
		slot.hidden = !cta;
		if (!cta) return;
		const ids = { cta_id: cta.id, variant_id: cta.variant };
		const a = d.createElement("a");
		const p = d.createElement("p");
		const close = d.createElement("button");
		a.href = cta.href;
		a.textContent = cta.title;
		a.onclick = () => (track("CTA Clicked", ids), flush());
		p.textContent = cta.body;
		close.textContent = "×";
		close.setAttribute("aria-label", "Dismiss");
		close.onclick = () => ((slot.hidden = true), track("CTA Dismissed", ids));
		slot.className = "nudge-cta";
		slot.replaceChildren(a, p, ...(cta.dismissible === false ? [] : [close]));
		const seen = new IntersectionObserver(([entry]) => {
			if (entry?.isIntersecting) seen.disconnect(), track("CTA Viewed", ids);
		}, { threshold: 0.5 });
		seen.observe(slot);
	});
}

const api = {
	page: (properties?: Props) => enqueue({ type: "page", name: d.title, properties }),
	track,
	identify(userId: string, traits?: Props): void {
		if (optedOut()) return;
		set("uid", (user = userId));
		enqueue({ type: "identify", traits });
	},
	next,
	render,
	flush,
	optOut(): void {
		choice = 1;
		set("optout", "1");
		set("optin", null);
		set("q", null);
		set("aid", null);
		set("uid", null);
		queue = [];
		anon = user = null;
	},
	optIn(): void {
		choice = 2;
		set("optout", null);
		set("optin", "1");
	},
	push: (call: Call) => (api[call[0] as "track"] as (...args: unknown[]) => unknown)?.(...call.slice(1)),
};
type Api = typeof api;

const style = d.createElement("style");
style.textContent =
	".nudge-cta{position:relative;padding:1rem 2.5rem 1rem 1.25rem;border:1px solid #d7dce5;border-radius:.75rem;background:#f5f8ff;font:inherit}.nudge-cta a{font-weight:600}.nudge-cta p{margin:.25rem 0 0}.nudge-cta button{position:absolute;top:.5rem;right:.5rem;border:0;background:none;font-size:1.25rem;cursor:pointer}";
d.head.prepend(style);

// Replay calls made before the script loaded (the stub's methods or `nudge.push([...])`) before the
// automatic page view, so an early optOut() or identify() already applies to it.
const early = Array.isArray(w.nudge) ? w.nudge : [];
w.nudge = api;
early.forEach(api.push);
if (!early.some((c) => c[0] === "page") && script?.dataset.autoPage !== "false") api.page();
addEventListener("pagehide", beacon);
d.addEventListener("visibilitychange", () => d.visibilityState === "hidden" && beacon());
const slots = () => d.querySelectorAll<HTMLElement>("[data-nudge-slot]").forEach((slot) => void render(slot));
// Slots are filled once the page is parsed and this page view stored, so the hint reflects it.
void Promise.all([flush(), new Promise((r) => (d.readyState === "loading" ? d.addEventListener("DOMContentLoaded", r) : r(0)))]).then(slots);
