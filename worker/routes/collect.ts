/**
 * Beacon in: `POST /v1/collect` and the Segment / RudderStack HTTP API paths. Validates,
 * authorises by write key and origin, and stores each visitor's events with one call to that
 * visitor's Durable Object. The answer comes only after the events are stored.
 */
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { BatchSchema, describeIssues, type EventType, type SiteConfig } from "../../schema";
import { normalizeEvent, type VisitorEvent, type VisitorKey } from "../core/events";
import { readJsonBody } from "../http/body";
import { ApiError } from "../http/errors";
import { assertOriginAllowed } from "../http/origin";
import { visitorObjectName, visitorStub } from "../objects/names";
import { siteForWriteKey } from "../site-directory";

/** Segment's documented limits: 32 KB per event, 500 KB per request. */
export const MAX_EVENT_BYTES = 32 * 1024;
export const MAX_REQUEST_BYTES = 500 * 1024;

export type CollectResponse = {
	accepted: number;
	duplicates: number;
	rejected: { index: number; error: string }[];
	warnings?: { index: number; warning: string }[];
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

	const site = await authorise(c, body as Record<string, unknown>, rawEvents);
	assertOriginAllowed(c, site);

	const response: CollectResponse = { accepted: 0, duplicates: 0, rejected: [] };
	const warnings: NonNullable<CollectResponse["warnings"]> = [];
	const byVisitor = new Map<string, { key: VisitorKey; events: VisitorEvent[] }>();
	rawEvents.forEach((raw, index) => {
		if (isBatch && byteLength(raw) > MAX_EVENT_BYTES) {
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
		});
		if (!result.ok) {
			response.rejected.push({ index, error: result.error });
			return;
		}
		for (const warning of result.warnings) warnings.push({ index, warning });
		const name = visitorObjectName(site.id, result.key);
		const group = byVisitor.get(name) ?? { key: result.key, events: [] };
		group.events.push(result.event);
		byVisitor.set(name, group);
	});

	if (!isBatch) {
		if (byteLength(body) > MAX_EVENT_BYTES) {
			throw new ApiError(413, "event_too_large", `The event exceeds ${MAX_EVENT_BYTES / 1024} KB.`);
		}
		const rejected = response.rejected[0];
		if (rejected) throw new ApiError(400, "invalid_event", rejected.error);
	}

	const results = await Promise.all(
		[...byVisitor.values()].map((group) => storeEvents(c.env, site, group.key, group.events)),
	);
	for (const result of results) {
		response.accepted += result.accepted;
		response.duplicates += result.duplicates;
	}
	if (warnings.length) response.warnings = warnings;
	return c.json(response, 200);
}

/**
 * The write key may come in the body (Segment browser), `?writeKey=` (beacons) or as the
 * HTTP Basic user name (Segment and RudderStack server SDKs), or on the event itself.
 */
async function authorise(c: Context<Env_>, body: Record<string, unknown>, events: unknown[]): Promise<SiteConfig> {
	const first = events[0] as Record<string, unknown> | undefined;
	const writeKey =
		stringOrUndefined(body.writeKey) ??
		c.req.query("writeKey") ??
		basicAuthUser(c.req.header("authorization")) ??
		stringOrUndefined(first?.writeKey);
	if (!writeKey) {
		throw new ApiError(401, "missing_write_key", "Send the site's write key in the body, as ?writeKey= or as the Basic auth user.");
	}
	const site = await siteForWriteKey(c.env, writeKey);
	if (!site) throw new ApiError(401, "unknown_write_key", "The write key does not belong to any site.");
	return site;
}

function basicAuthUser(header: string | undefined): string | undefined {
	const match = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
	if (!match?.[1]) return undefined;
	try {
		const decoded = atob(match[1]);
		const user = decoded.split(":", 1)[0];
		return user || undefined;
	} catch {
		return undefined;
	}
}

function stringOrUndefined(value: unknown): string | undefined {
	return typeof value === "string" && value !== "" ? value : undefined;
}

const encoder = new TextEncoder();
function byteLength(value: unknown): number {
	return encoder.encode(JSON.stringify(value)).byteLength;
}

/**
 * One Durable Object call per visitor. A failed call is retried once when the runtime says it
 * may be; otherwise the request fails with 503 so the client retries (messageIds dedupe).
 */
async function storeEvents(env: Env, site: SiteConfig, key: VisitorKey, events: VisitorEvent[]) {
	const call = () => visitorStub(env, site.id, key).ingest({ site, key, events });
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
