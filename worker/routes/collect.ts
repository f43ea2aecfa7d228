/**
 * Beacon in: `POST /v1/collect` and the Segment / RudderStack HTTP API paths. Validates,
 * authorises by write key and origin, and stores each visitor's events with one call to that
 * visitor's Durable Object. The answer comes only after the events are stored.
 */
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { BatchSchema, describeIssues, type EventType, type SiteConfig } from "../../schema";
import { MAX_EVENT_DEPTH, nestedDeeperThan, normalizeEvent, type VisitorEvent, type VisitorKey } from "../core/events";
import { readJsonBody } from "../http/body";
import { ApiError } from "../http/errors";
import { serverOnlyStepOf } from "../core/journey";
import { cookielessIdOf } from "../http/cookieless";
import { assertOriginAllowed } from "../http/origin";
import { visitorObjectName, visitorStub } from "../objects/names";
import { siteConfigText, type NextAnswer, type NextInput } from "../objects/visitor-object";
import { siteOfRequest } from "../http/write-key";
import { nextInput } from "./next";

/**
 * One Durable Object call per visitor, and a Worker may make only so many subrequests: server
 * SDKs send batches of tens of visitors (analytics-node flushes at 15 events), so 500 leaves
 * room while capping what one request can fan out to. Calls run a bounded number at a time.
 */
export const MAX_VISITORS_PER_REQUEST = 500;
const VISITOR_CALLS_IN_FLIGHT = 32;

/** Segment's documented limits: 32 KB per event, 500 KB per request. */
export const MAX_EVENT_BYTES = 32 * 1024;
export const MAX_REQUEST_BYTES = 500 * 1024;

export type CollectResponse = {
	accepted: number;
	duplicates: number;
	rejected: { index: number; error: string }[];
	warnings?: { index: number; warning: string }[];
	next?: NextAnswer;
};

type Env_ = { Bindings: Env };

/** Paths existing clients post to, and the event type a path implies for bodies without one. */
const PATHS: ReadonlyArray<[string, EventType | undefined]> = [
	["/v1/collect", undefined],
	["/v1/batch", undefined],
	["/v1/import", undefined],
	["/v1/b", undefined], // analytics-next batching
	["/beacon/v1/batch", undefined], // RudderStack's sendBeacon plugin
	["/v1/track", "track"],
	["/v1/t", "track"],
	["/v1/page", "page"],
	["/v1/p", "page"],
	["/v1/screen", "screen"],
	["/v1/s", "screen"],
	["/v1/identify", "identify"],
	["/v1/i", "identify"],
	["/v1/alias", "alias"],
	["/v1/a", "alias"],
	["/v1/group", "group"],
	["/v1/g", "group"],
];

export const collectRoutes = new Hono<Env_>();
for (const [path, impliedType] of PATHS) {
	collectRoutes.post(path, (c) => collect(c, impliedType));
}
// analytics-next reports its own delivery metrics here; accepted and ignored.
collectRoutes.post("/v1/m", (c) => c.body(null, 204));

async function collect(c: Context<Env_>, impliedType: EventType | undefined): Promise<Response> {
	const receivedAt = Date.now();
	const body = await readJsonBody(c.req.raw, MAX_REQUEST_BYTES);
	if (body === null || typeof body !== "object" || Array.isArray(body)) {
		throw new ApiError(400, "invalid_body", "The body must be a JSON object: one event, or { \"batch\": [ … ] }.");
	}
	const isBatch = "batch" in body;
	const batch = isBatch ? v.safeParse(BatchSchema, body) : undefined;
	if (batch && !batch.success) {
		throw new ApiError(400, "invalid_batch", "The batch is malformed.", describeIssues(batch.issues));
	}
	const rawEvents: unknown[] = batch?.success ? batch.output.batch : [body];

	const { site, trust } = await siteOfRequest(c, (body as Record<string, unknown>).writeKey, (rawEvents[0] as { writeKey?: unknown } | null)?.writeKey);
	assertOriginAllowed(c, site);
	await assertSiteUnderLimit(c.env, site);
	// Browsers of a cookieless site send no id; the server names them (backends keep theirs).
	const anonymousId = site.cookieless && trust === "public" ? await cookielessIdOf(c, site) : undefined;

	const response: CollectResponse = { accepted: 0, duplicates: 0, rejected: [] };
	const warnings: NonNullable<CollectResponse["warnings"]> = [];
	const byVisitor = new Map<string, { key: VisitorKey; events: VisitorEvent[] }>();
	rawEvents.forEach((raw, index) => {
		if (isBatch && (jsonSize(raw) ?? 0) > MAX_EVENT_BYTES) {
			response.rejected.push({ index, error: `the event exceeds ${MAX_EVENT_BYTES / 1024} KB` });
			return;
		}
		const result = normalizeEvent({
			raw,
			receivedAt,
			impliedType,
			batchSentAt: batch?.success ? batch.output.sentAt : undefined,
			batchContext: batch?.success ? batch.output.context : undefined,
			newId: () => crypto.randomUUID(),
			country: typeof c.req.raw.cf?.country === "string" ? c.req.raw.cf.country : null,
			userAgent: c.req.header("user-agent") ?? null,
			anonymousId,
		});
		if (!result.ok) {
			response.rejected.push({ index, error: result.error });
			return;
		}
		const serverOnly = trust === "public" ? serverOnlyStepOf(site, result.event) : undefined;
		if (serverOnly) {
			if (!isBatch) {
				throw new ApiError(403, "server_key_required", serverOnlyMessage(serverOnly.step.id, serverOnly.journey));
			}
			response.rejected.push({ index, error: serverOnlyMessage(serverOnly.step.id, serverOnly.journey) });
			return;
		}
		for (const warning of result.warnings) warnings.push({ index, warning });
		const name = visitorObjectName(site.id, result.key);
		const group = byVisitor.get(name) ?? { key: result.key, events: [] };
		group.events.push(result.event);
		byVisitor.set(name, group);
	});

	if (!isBatch) {
		if ((jsonSize(body) ?? 0) > MAX_EVENT_BYTES) {
			throw new ApiError(413, "event_too_large", `The event exceeds ${MAX_EVENT_BYTES / 1024} KB.`);
		}
		const rejected = response.rejected[0];
		if (rejected) throw new ApiError(400, "invalid_event", rejected.error);
	}

	// `?next=1`: the last event's visitor also gets their next CTA, in the same object call.
	const wantsNext = c.req.query("next") === "1" || c.req.query("next") === "true";
	const lastVisitor = [...byVisitor.values()].at(-1);
	const next = wantsNext && lastVisitor ? await nextInput(c, site, lastVisitor.events.at(-1)?.path ?? undefined, { beacon: true }) : undefined;
	if (byVisitor.size > MAX_VISITORS_PER_REQUEST) {
		throw new ApiError(
			413,
			"too_many_visitors",
			`A request may carry events of at most ${MAX_VISITORS_PER_REQUEST} visitors (this one has ${byVisitor.size}); split the batch.`,
		);
	}
	const groups = [...byVisitor.values()];
	const results = await mapWithConcurrency(groups, VISITOR_CALLS_IN_FLIGHT, (group) =>
		storeEvents(c.env, site, group.key, group.events, group === lastVisitor ? next : undefined),
	);
	const limited = Math.max(0, ...results.map((result) => result.retryAfterSeconds ?? 0));
	if (limited > 0) {
		// Other visitors' events in this request are stored; a retry finds them as duplicates.
		throw new ApiError(429, "rate_limited", `Too many events for one visitor; retry in ${limited} s.`, undefined, {
			"Retry-After": String(limited),
		});
	}
	for (const result of results) {
		response.accepted += result.accepted;
		response.duplicates += result.duplicates;
		if (result.next) response.next = result.next;
	}
	if (warnings.length) response.warnings = warnings;
	return c.json(response, 200);
}

/** Seconds the per-site limiter counts over (`wrangler.toml`); a refused client waits this long. */
const SITE_LIMIT_PERIOD_SECONDS = 10;

/**
 * The per-site limit of the Workers rate limiting binding, where it is bound: one site's write
 * key cannot run up unbounded cost. Its counters are per Cloudflare location and approximate.
 */
async function assertSiteUnderLimit(env: Env, site: SiteConfig): Promise<void> {
	const limiter: RateLimit | undefined = env.SITE_RATE_LIMITER;
	if (!limiter || (await limiter.limit({ key: site.id })).success) return;
	throw new ApiError(429, "site_rate_limited", `Site '${site.id}' is sending more than its limit; retry in ${SITE_LIMIT_PERIOD_SECONDS} s.`, undefined, {
		"Retry-After": String(SITE_LIMIT_PERIOD_SECONDS),
	});
}

/** `map` over `items` with at most `limit` calls pending at once, results in order. */
async function mapWithConcurrency<T, R>(items: readonly T[], limit: number, call: (item: T) => Promise<R>): Promise<R[]> {
	const results = new Array<R>(items.length);
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const i = next++;
			results[i] = await call(items[i]!);
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
	return results;
}

function serverOnlyMessage(step: string, journey: string): string {
	return `the event reaches step '${step}' of journey '${journey}', which only the site's server key may send`;
}

const encoder = new TextEncoder();

/**
 * An event's size as JSON; null when it nests too deep to measure, since JSON.stringify recurses
 * and a deep enough event overflows the stack (`normalizeEvent` rejects those).
 */
function jsonSize(value: unknown): number | null {
	if (nestedDeeperThan(value, MAX_EVENT_DEPTH)) return null;
	return encoder.encode(JSON.stringify(value)).byteLength;
}

/**
 * One Durable Object call per visitor. A failed call is retried once when the runtime says it
 * may be; otherwise the request fails with 503 so the client retries (messageIds dedupe).
 */
async function storeEvents(env: Env, site: SiteConfig, key: VisitorKey, events: VisitorEvent[], next?: NextInput) {
	const call = () => visitorStub(env, site.id, key).ingest({ config: siteConfigText(site), key, events, next });
	try {
		return await call();
	} catch (error) {
		const retryable = (error as { retryable?: boolean; overloaded?: boolean }) ?? {};
		if (retryable.retryable && !retryable.overloaded) {
			try {
				return await call();
			} catch (retryError) {
				error = retryError;
			}
		}
		console.error(JSON.stringify({ msg: "storing events failed", site: site.id, visitor: key, error: String(error) }));
		throw new ApiError(503, "storage_unavailable", "The events could not be stored; retry with the same messageIds.", undefined, {
			"Retry-After": "1",
		});
	}
}
