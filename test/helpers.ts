/** Shared by the integration tests: requests to the worker as a page, a server or an operator. */
import { createExecutionContext, listDurableObjectIds, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../worker";

export const ORIGIN = "http://nudge.test";
export const WRITE_KEY = "demo-write-key";
export const ADMIN_TOKEN = "dev-admin-token";

/** A visitor id no other test uses, so tests never share a Durable Object. */
export function uniqueId(prefix = "visitor"): string {
	return `${prefix}-${crypto.randomUUID()}`;
}

/**
 * Calls the worker's fetch handler with the real bindings (Durable Objects, SQLite). Not through
 * `exports.default.fetch`: under vitest-pool-workers 0.15 each of those calls gets slower the
 * more were made in a file (workers-sdk#15446), which made a few hundred requests take minutes.
 */
export function fetchWorker(request: Request): Promise<Response> {
	return Promise.resolve(worker.fetch(request, env, createExecutionContext()));
}

export function request(path: string, init?: RequestInit): Promise<Response> {
	return fetchWorker(new Request(`${ORIGIN}${path}`, init));
}

/** A beacon as the edge sees it from a visitor in `country` (`request.cf.country`). */
export function beaconFrom(country: string, body: unknown, headers: Record<string, string> = {}) {
	return fetchWorker(
		new Request(`${ORIGIN}/v1/collect?writeKey=${WRITE_KEY}`, {
			method: "POST",
			headers: { "content-type": "text/plain", ...headers },
			body: JSON.stringify(body),
			cf: { country },
		}),
	);
}

/**
 * Runs every visitor's alarm now: pending rollup flushes are delivered. Twice, because a flush
 * that found a newer version queued re-arms itself (every visitor also keeps a retention alarm,
 * so "no alarm ran" never happens). Returns how many alarms ran.
 */
export async function flushRollups(): Promise<number> {
	let ran = 0;
	for (let round = 0; round < 2; round++) {
		let ranThisRound = 0;
		for (const id of await listDurableObjectIds(env.VISITORS)) {
			if (await runDurableObjectAlarm(env.VISITORS.get(id))) ranThisRound++;
		}
		ran += ranThisRound;
		if (ranThisRound === 0) break;
	}
	return ran;
}

/** Posts a JSON body as a browser beacon does: text/plain, write key in the query. */
export function beacon(body: unknown, path = `/v1/collect?writeKey=${WRITE_KEY}`, headers: Record<string, string> = {}) {
	return request(path, {
		method: "POST",
		headers: { "content-type": "text/plain;charset=UTF-8", ...headers },
		body: JSON.stringify(body),
	});
}

export function admin(path: string, init: RequestInit = {}): Promise<Response> {
	const headers = new Headers(init.headers);
	headers.set("authorization", `Bearer ${ADMIN_TOKEN}`);
	return request(`/v1/admin${path}`, { ...init, headers });
}

export type Profile = {
	id: string;
	userId: string | null;
	firstSeen: string;
	lastSeen: string;
	eventCount: number;
	journeys: { id: string; completed: { step: string; at: string }[]; progress: number }[];
	events: Record<string, unknown>[];
	ctas: { id: string; variant: string | null; views: number; clicks: number; dismissed: boolean }[];
};

export async function profileOf(id: string, site = "demo"): Promise<Profile> {
	const res = await admin(`/sites/${site}/visitors/${encodeURIComponent(id)}`);
	if (res.status !== 200) throw new Error(`profile of ${id}: ${res.status} ${await res.text()}`);
	return res.json();
}

/** The demo journey's steps a visitor completed, in the order first reached. */
export async function completedSteps(id: string): Promise<string[]> {
	const profile = await profileOf(id);
	return profile.journeys.find((j) => j.id === "saas")?.completed.map((c) => c.step) ?? [];
}

export function track(anonymousId: string, event: string, extra: Record<string, unknown> = {}) {
	return { type: "track", event, anonymousId, messageId: crypto.randomUUID(), ...extra };
}

export function pageView(anonymousId: string, path: string, extra: Record<string, unknown> = {}) {
	return { type: "page", anonymousId, messageId: crypto.randomUUID(), context: { page: { path } }, ...extra };
}
