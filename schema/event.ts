/**
 * The event wire format: Segment's spec (https://segment.com/docs/connections/spec/), so
 * Segment, RudderStack and Jitsu clients can send to Nudge unchanged. Unknown fields are kept
 * (loose objects): clients add their own (`_metadata`, `channel`, `integrations`, …).
 * Exported as `schema/json/event.schema.json` and `schema/json/batch.schema.json`.
 */
import * as v from "valibot";

const MAX_ID_LENGTH = 256;

/** In `u` mode a paired surrogate is one code point outside Cs: only lone ones match. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Ids must be well-formed Unicode. A lone surrogate (`"\ud800"` in JSON) cannot be stored as
 * sent: SQLite and Durable Object names hold UTF-8, where it becomes U+FFFD, so distinct ids
 * would collide into one visitor or one messageId.
 */
const WellFormed = v.check((id: string) => !LONE_SURROGATE.test(id), "must be valid Unicode (it has a lone surrogate)");

/**
 * Segment ids are strings, but real clients send numbers and `null` too; both are accepted and
 * read as strings, an empty or `null` id as "not sent".
 */
const Identifier = v.pipe(
	v.nullable(v.union([v.pipe(v.string(), v.maxLength(MAX_ID_LENGTH), WellFormed), v.pipe(v.number(), v.finite())])),
	v.transform((id) => (id === null ? undefined : String(id).trim() || undefined)),
);

const Timestamp = v.pipe(
	v.nullable(v.string()),
	v.description("ISO 8601 date-time. Missing: the server's time; far in the future or before 1970: the server's time."),
);

const Properties = v.record(v.string(), v.unknown());

const PageContext = v.looseObject({
	path: v.optional(v.nullable(v.string())),
	url: v.optional(v.nullable(v.string())),
	referrer: v.optional(v.nullable(v.string())),
	title: v.optional(v.nullable(v.string())),
	search: v.optional(v.nullable(v.string())),
});

export const EventContextSchema = v.looseObject({
	page: v.optional(PageContext),
	campaign: v.optional(v.record(v.string(), v.unknown())),
	userAgent: v.optional(v.string()),
});

const common = {
	anonymousId: v.optional(Identifier),
	userId: v.optional(Identifier),
	messageId: v.optional(
		v.pipe(
			v.string(),
			v.minLength(1),
			v.maxLength(MAX_ID_LENGTH),
			WellFormed,
			v.description("Makes delivery idempotent: the same id stored twice counts once."),
		),
	),
	timestamp: v.optional(Timestamp),
	originalTimestamp: v.optional(Timestamp),
	sentAt: v.optional(Timestamp),
	context: v.optional(EventContextSchema),
	integrations: v.optional(v.record(v.string(), v.unknown())),
	writeKey: v.optional(v.string()),
};

const EventName = v.pipe(v.string(), v.trim(), v.minLength(1, "must not be blank"), v.maxLength(200));

const TrackEvent = v.looseObject({
	...common,
	type: v.literal("track"),
	event: EventName,
	properties: v.optional(Properties),
});

const PageEvent = v.looseObject({
	...common,
	type: v.picklist(["page", "screen"]),
	name: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(200)))),
	category: v.optional(v.nullable(v.string())),
	properties: v.optional(Properties),
});

const IdentifyEvent = v.looseObject({
	...common,
	type: v.literal("identify"),
	traits: v.optional(Properties),
});

const AliasEvent = v.looseObject({
	...common,
	type: v.literal("alias"),
	previousId: Identifier,
});

const GroupEvent = v.looseObject({
	...common,
	type: v.literal("group"),
	groupId: Identifier,
	traits: v.optional(Properties),
});

export const EventSchema = v.pipe(
	v.variant("type", [TrackEvent, PageEvent, IdentifyEvent, AliasEvent, GroupEvent]),
	v.check(
		(event) => event.anonymousId !== undefined || event.userId !== undefined,
		"anonymousId or userId is required",
	),
);

export const BatchSchema = v.looseObject({
	batch: v.pipe(v.array(v.unknown()), v.description("Events; each one is validated on its own.")),
	writeKey: v.optional(v.string()),
	sentAt: v.optional(Timestamp),
	context: v.optional(EventContextSchema),
	integrations: v.optional(v.record(v.string(), v.unknown())),
});

export type EventInput = v.InferInput<typeof EventSchema>;
/** A valid Segment event as received, ids read as strings. */
export type SegmentEvent = v.InferOutput<typeof EventSchema>;
export type EventType = SegmentEvent["type"];
export type EventContext = v.InferOutput<typeof EventContextSchema>;
export type Batch = v.InferOutput<typeof BatchSchema>;
