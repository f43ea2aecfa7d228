/**
 * From a raw Segment event to what a visitor stores: validated, with a message id, a trusted
 * timestamp, the page path and the visitor it belongs to. Pure: the clock is passed in.
 */
import * as v from "valibot";
import { describeIssues, EventSchema, type EventContext, type EventType, type SegmentEvent } from "../../schema";
import { readTouch, type FirstTouch } from "./first-touch";
import type { MatchableEvent } from "./journey";

/** Clients' clocks drift; past this much in the future a timestamp is not believed. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/**
 * Nor before the Unix epoch: no web event is that old, and rollups compare `YYYY-MM-DD` days as
 * text, which negative years (`-000001-01-01`) would break.
 */
export const MIN_EVENT_TIME = 0;

/** The range of a JavaScript Date (ECMA-262 § 21.4.1.22); skew correction can leave it. */
const MAX_DATE_MS = 8.64e15;

/**
 * How deep an event may nest (the event itself is level 1). Real events use a few levels; the
 * bound keeps everything that walks an event recursively (IP scrubbing here, structured clone
 * on the way to the visitor's object) far from the stack's limit.
 */
export const MAX_EVENT_DEPTH = 32;

/** An event as a VisitorObject stores it. */
export type VisitorEvent = MatchableEvent & {
	messageId: string;
	type: EventType;
	/** When it happened (epoch ms), after clock-skew correction and clamping. */
	timestamp: number;
	receivedAt: number;
	userId: string | null;
	anonymousId: string | null;
	/** An alias's earlier id, whose visitor merges into this one. */
	previousId: string | null;
	/** Where the visitor came from, as far as this event tells. */
	touch: FirstTouch;
	/** The event as sent, minus what must not be kept (write key, IP address). */
	body: Record<string, unknown>;
};

/** Whose Durable Object an event goes to: the user when known, else the anonymous visitor. */
export type VisitorKey = { kind: "user" | "anonymous"; id: string };

export type NormalizeInput = {
	raw: unknown;
	receivedAt: number;
	/** `sentAt` of the enclosing batch, used for clock-skew correction. */
	batchSentAt?: string | null | undefined;
	/** Batch-level `context`, merged under each event's own. */
	batchContext?: EventContext | undefined;
	/** The type implied by the path (`/v1/track`), for bodies that leave `type` out. */
	impliedType?: EventType | undefined;
	/** Generates a message id for events sent without one. */
	newId: () => string;
	/** The request's country from the edge (`request.cf.country`). */
	country?: string | null | undefined;
	/** The request's User-Agent, used when the event's context has none. */
	userAgent?: string | null | undefined;
	/** Replaces whatever anonymous id the event carries (cookieless sites name visitors themselves). */
	anonymousId?: string | undefined;
};

export type NormalizeResult =
	| { ok: true; event: VisitorEvent; key: VisitorKey; warnings: string[] }
	| { ok: false; error: string };

export function normalizeEvent(input: NormalizeInput): NormalizeResult {
	const { raw, receivedAt } = input;
	if (!isPlainObject(raw)) {
		return { ok: false, error: "an event must be a JSON object" };
	}
	const candidate: Record<string, unknown> = { ...raw };
	if (candidate.type === undefined && input.impliedType) candidate.type = input.impliedType;
	if (input.anonymousId !== undefined) candidate.anonymousId = input.anonymousId;
	if (input.batchContext && (candidate.context === undefined || isPlainObject(candidate.context))) {
		candidate.context = { ...input.batchContext, ...(candidate.context as object | undefined) };
	}
	// With the batch's context merged in: it is stored (and walked) as part of each event.
	if (nestedDeeperThan(candidate, MAX_EVENT_DEPTH)) {
		return { ok: false, error: `the event nests deeper than ${MAX_EVENT_DEPTH} levels` };
	}
	const parsed = v.safeParse(EventSchema, candidate);
	if (!parsed.success) {
		return { ok: false, error: describeIssues(parsed.issues).map(formatIssue).join("; ") };
	}
	const event = parsed.output;
	const warnings: string[] = [];
	const timestamp = eventTime(event, input.batchSentAt, receivedAt, warnings);
	const messageId = event.messageId ?? input.newId();
	const body = storedBody(event, candidate);
	const properties = eventProperties(event);
	const key: VisitorKey = event.userId ? { kind: "user", id: event.userId } : { kind: "anonymous", id: event.anonymousId ?? "" };

	return {
		ok: true,
		key,
		warnings,
		event: {
			messageId,
			type: event.type,
			name: eventName(event),
			path: pagePath(event, properties),
			properties,
			timestamp,
			receivedAt,
			userId: event.userId ?? null,
			anonymousId: event.anonymousId ?? null,
			previousId: event.type === "alias" ? (event.previousId ?? null) : null,
			touch: readTouch({
				campaign: event.context?.campaign,
				pageUrl: event.context?.page?.url ?? stringOrNull(properties.url),
				referrer: event.context?.page?.referrer ?? stringOrNull(properties.referrer),
				country: input.country,
				userAgent: event.context?.userAgent ?? input.userAgent,
			}),
			body: { ...body, messageId, timestamp: new Date(timestamp).toISOString() },
		},
	};
}

function formatIssue(issue: { path: string; message: string }): string {
	return issue.path === "(root)" ? issue.message : `${issue.path}: ${issue.message}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
	return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Whether objects or arrays nest deeper than `limit`; iterative, so any depth is safe to ask about. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
	const pending: { item: unknown; depth: number }[] = [{ item: value, depth: 1 }];
	for (let next = pending.pop(); next; next = pending.pop()) {
		if (next.item === null || typeof next.item !== "object") continue;
		if (next.depth > limit) return true;
		for (const child of Object.values(next.item)) pending.push({ item: child, depth: next.depth + 1 });
	}
	return false;
}

/** The name an event is counted and matched under: a track's event, a page's or screen's name. */
export function eventName(event: { type: string; event?: unknown; name?: unknown; properties?: unknown }): string | null {
	if (event.type === "track") return typeof event.event === "string" ? event.event : null;
	if (event.type === "page" || event.type === "screen") {
		if (typeof event.name === "string") return event.name;
		const properties = event.properties as { name?: unknown } | null | undefined;
		return typeof properties?.name === "string" ? properties.name : null;
	}
	return null;
}

/** What match rules test: a track's or page's properties, an identify's or group's traits. */
function eventProperties(event: SegmentEvent): Record<string, unknown> {
	switch (event.type) {
		case "track":
		case "page":
		case "screen":
			return event.properties ?? {};
		case "identify":
		case "group":
			return event.traits ?? {};
		case "alias":
			return {};
	}
}

/** The path of the page the event happened on: `context.page`, else a page's own properties. */
function pagePath(event: SegmentEvent, properties: Record<string, unknown>): string | null {
	const page = event.context?.page;
	const path = page?.path ?? stringOrNull(properties.path);
	if (path) return cleanPath(path);
	const url = page?.url ?? stringOrNull(properties.url);
	if (url) {
		try {
			return cleanPath(new URL(url).pathname);
		} catch {
			return null;
		}
	}
	return null;
}

function stringOrNull(value: unknown): string | null {
	return typeof value === "string" ? value : null;
}

function cleanPath(path: string): string {
	const bare = path.split(/[?#]/, 1)[0] ?? "";
	return bare.startsWith("/") ? bare : `/${bare}`;
}

/**
 * Segment's rules: an explicit `timestamp` is trusted; otherwise `originalTimestamp` is
 * corrected by the client's clock skew (`sentAt` vs. the time received); otherwise it is now.
 */
function eventTime(
	event: SegmentEvent,
	batchSentAt: string | null | undefined,
	receivedAt: number,
	warnings: string[],
): number {
	let time = receivedAt;
	if (event.timestamp) {
		time = parseTime(event.timestamp, "timestamp", receivedAt, warnings);
	} else if (event.originalTimestamp) {
		const original = parseTime(event.originalTimestamp, "originalTimestamp", receivedAt, warnings);
		const sentAtText = event.sentAt ?? batchSentAt;
		const sentAt = sentAtText ? Date.parse(sentAtText) : Number.NaN;
		time = Number.isNaN(sentAt) ? original : receivedAt - (sentAt - original);
	}
	const received = new Date(receivedAt).toISOString();
	if (Math.abs(time) > MAX_DATE_MS) {
		// originalTimestamp and sentAt at opposite ends of the Date range correct to no date at all.
		warnings.push(`the clock-skew-corrected time is not a date; stored as the time received, ${received}`);
		return receivedAt;
	}
	if (time > receivedAt + MAX_FUTURE_SKEW_MS) {
		warnings.push(`timestamp ${new Date(time).toISOString()} is in the future; stored as the time received, ${received}`);
		return receivedAt;
	}
	if (time < MIN_EVENT_TIME) {
		warnings.push(`timestamp ${new Date(time).toISOString()} is before 1970; stored as the time received, ${received}`);
		return receivedAt;
	}
	return time;
}

function parseTime(text: string, field: string, fallback: number, warnings: string[]): number {
	const time = Date.parse(text);
	if (Number.isNaN(time)) {
		warnings.push(`${field} '${text.slice(0, 40)}' is not a date; stored as the time received`);
		return fallback;
	}
	return time;
}

/** The event to keep in history: as sent, without the write key or any IP address. */
function storedBody(event: SegmentEvent, sent: Record<string, unknown>): Record<string, unknown> {
	const { writeKey: _writeKey, ...rest } = sent;
	const body = { ...rest, type: event.type, userId: event.userId ?? null, anonymousId: event.anonymousId ?? null, ...(event.context ? { context: event.context } : {}) };
	return withoutIpAddresses(body) as Record<string, unknown>;
}

/** Keys under which clients send IP addresses: Segment's `context.ip`, RudderStack's `request_ip`, … */
const IP_KEY = /^(ip|ip_?address|request_?ip|client_?ip|remote_?addr(ess)?)$/i;

/**
 * A copy without any IP address field at any depth: Nudge never stores one. `__proto__` keys go
 * too: JSON.parse makes them own keys, but assigned to a copy one would become its prototype,
 * which structured clone (the call to the visitor's object) refuses; the schema drops them as well.
 */
export function withoutIpAddresses(value: unknown): unknown {
	if (Array.isArray(value)) return value.map(withoutIpAddresses);
	if (value === null || typeof value !== "object") return value;
	return Object.fromEntries(
		Object.entries(value)
			.filter(([key]) => key !== "__proto__" && !IP_KEY.test(key))
			.map(([key, item]) => [key, withoutIpAddresses(item)]),
	);
}
