/** Shared by the integration tests: requests to the worker as a page, a server or an operator. */
import { exports } from "cloudflare:workers";

export const ORIGIN = "http://nudge.test";
export const WRITE_KEY = "demo-write-key";
export const ADMIN_TOKEN = "dev-admin-token";

/** A visitor id no other test uses, so tests never share a Durable Object. */
export function uniqueId(prefix = "visitor"): string {
	return `${prefix}-${crypto.randomUUID()}`;
}

export function request(path: string, init?: RequestInit): Promise<Response> {
	return exports.default.fetch(new Request(`${ORIGIN}${path}`, init));
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
