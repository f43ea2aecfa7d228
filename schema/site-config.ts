/**
 * The site configuration: write keys, journeys of micro-conversion steps and the CTAs that lead
 * to them. This one definition validates at run time, gives the TypeScript type and is exported
 * as `schema/json/site-config.schema.json` for editors. Rules that span fields (unknown step ids,
 * duplicates, CTAs that can never be shown) live in `checkSiteConfig`, because JSON Schema
 * cannot express them.
 */
import * as v from "valibot";

const Id = v.pipe(
	v.string(),
	v.regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "must be 1-64 lowercase letters, digits, '_' or '-'"),
	v.description("A stable identifier: lowercase letters, digits, '_' and '-'."),
);

const Text = v.pipe(v.string(), v.minLength(1), v.maxLength(500));

/** A path glob: `*` matches within one segment, `**` across segments, `?` one character. */
const PathGlob = v.pipe(
	v.string(),
	v.startsWith("/", "must start with '/'"),
	v.maxLength(300),
	v.description("Page path glob: '*' within a segment, '**' across segments, e.g. '/blog/**'."),
);

const Scalar = v.union([v.string(), v.number(), v.boolean()]);

const PropertyOperators = v.strictObject({
	eq: v.optional(Scalar),
	ne: v.optional(Scalar),
	in: v.optional(v.pipe(v.array(Scalar), v.minLength(1))),
	gt: v.optional(v.number()),
	gte: v.optional(v.number()),
	lt: v.optional(v.number()),
	lte: v.optional(v.number()),
	exists: v.optional(v.boolean()),
	contains: v.optional(v.string()),
});

export const PropertyConditionSchema = v.pipe(
	v.union([Scalar, PropertyOperators]),
	v.description("A literal (equality) or operators: eq, ne, in, gt, gte, lt, lte, exists, contains."),
);

const EventType = v.picklist(["page", "screen", "track", "identify", "alias", "group"]);

export const MatchRuleSchema = v.pipe(
	v.strictObject({
		type: v.optional(EventType),
		event: v.optional(
			v.pipe(
				v.union([Text, v.pipe(v.array(Text), v.minLength(1))]),
				v.description("Event name (track) or page name; a list means any of them."),
			),
		),
		path: v.optional(
			v.pipe(
				v.union([PathGlob, v.pipe(v.array(PathGlob), v.minLength(1))]),
				v.description("The page path the event happened on; a list means any of them."),
			),
		),
		properties: v.optional(
			v.pipe(
				v.record(v.string(), PropertyConditionSchema),
				v.description("Conditions on event properties, keyed by property name or dot path."),
			),
		),
		count: v.optional(
			v.pipe(
				v.number(),
				v.integer(),
				v.minValue(1),
				v.maxValue(100),
				v.description("How many matching events reach the step (3 = the third one)."),
			),
			1,
		),
	}),
	v.description("An event matches when every field given here matches."),
);

export const StepSchema = v.strictObject({
	id: Id,
	name: Text,
	match: v.pipe(
		v.union([MatchRuleSchema, v.pipe(v.array(MatchRuleSchema), v.minLength(1))]),
		v.description("One rule, or a list of rules of which any reaches the step."),
	),
	optional: v.optional(
		v.pipe(v.boolean(), v.description("Ordered journeys may skip an optional step.")),
		false,
	),
	macro: v.optional(
		v.pipe(v.boolean(), v.description("The macro-conversion: exactly one, the last step.")),
		false,
	),
	serverOnly: v.optional(
		v.pipe(
			v.boolean(),
			v.description(
				"Only events sent with a server key may reach this step: a browser with the public write key gets 403.",
			),
		),
		false,
	),
});

export const JourneySchema = v.strictObject({
	id: Id,
	name: Text,
	windowDays: v.optional(
		v.pipe(
			v.number(),
			v.integer(),
			v.minValue(1),
			v.maxValue(3650),
			v.description("Days after the journey's first step during which it can still advance."),
		),
		90,
	),
	order: v.optional(
		v.pipe(
			v.picklist(["ordered", "any"]),
			v.description(
				"'ordered': a step counts once every earlier non-optional step is reached; 'any': steps count in any order.",
			),
		),
		"ordered",
	),
	steps: v.pipe(v.array(StepSchema), v.minLength(1), v.maxLength(50)),
});

export const CtaVariantSchema = v.strictObject({
	id: Id,
	title: Text,
	body: v.optional(v.pipe(v.string(), v.maxLength(2000)), ""),
	href: v.pipe(v.string(), v.minLength(1), v.maxLength(2000)),
});

export const CtaSchema = v.strictObject({
	id: Id,
	journey: Id,
	step: v.pipe(Id, v.description("The step this CTA leads to.")),
	requires: v.optional(
		v.pipe(v.array(Id), v.description("Steps that must be reached before the CTA is shown.")),
		[],
	),
	variants: v.pipe(v.array(CtaVariantSchema), v.minLength(1), v.maxLength(20)),
	placement: v.optional(v.pipe(Id, v.description("Where the page shows it, e.g. 'inline', 'banner'.")), "inline"),
	pages: v.optional(
		v.pipe(v.array(PathGlob), v.minLength(1), v.description("Paths the CTA may be shown on.")),
		["/**"],
	),
	maxViews: v.optional(
		v.pipe(v.number(), v.integer(), v.minValue(1), v.description("Views per visitor, then never again.")),
	),
	cooldownHours: v.optional(
		v.pipe(v.number(), v.minValue(0), v.description("Hours to wait after a view before showing it again.")),
	),
	dismissible: v.optional(v.boolean(), true),
});

export const ServerKeySchema = v.strictObject({
	name: v.pipe(Id, v.description("What uses the key, e.g. 'billing'; shown nowhere else.")),
	sha256: v.pipe(
		v.string(),
		v.regex(/^[0-9a-f]{64}$/, "must be the key's SHA-256 as 64 lowercase hex digits"),
		v.description("SHA-256 of the secret key (hex): the config never holds the key itself."),
	),
});

const Origin = v.pipe(
	v.string(),
	v.regex(/^https?:\/\/[^/\s]+$/, "must be an origin such as 'https://example.com' (no path)"),
);

export const SiteConfigSchema = v.strictObject({
	$schema: v.optional(v.string()),
	id: Id,
	name: v.optional(Text),
	writeKeys: v.pipe(
		v.array(v.pipe(v.string(), v.minLength(8), v.maxLength(128))),
		v.minLength(1),
		v.description("Public keys that pages send with events."),
	),
	serverKeys: v.optional(
		v.pipe(
			v.array(ServerKeySchema),
			v.maxLength(20),
			v.description("Secret keys for backends (as SHA-256 hashes). Events sent with one may reach serverOnly steps."),
		),
		[],
	),
	cookieless: v.optional(
		v.pipe(
			v.boolean(),
			v.description(
				"Store no identifier in the browser: anonymous visitors are a daily rotating hash of site, IP address and user agent.",
			),
		),
		false,
	),
	allowedOrigins: v.optional(
		v.pipe(
			v.array(Origin),
			v.description("Browser origins allowed to send events; the worker's own origin always is."),
		),
		[],
	),
	holdoutPercent: v.optional(
		v.pipe(
			v.number(),
			v.minValue(0),
			v.maxValue(100),
			v.description("Share of visitors who never get a CTA, so lift can be measured."),
		),
		0,
	),
	attributionWindowDays: v.optional(
		v.pipe(
			v.number(),
			v.minValue(0.01),
			v.maxValue(90),
			v.description("A step reached this many days after a CTA view or click is credited to that CTA variant."),
		),
		7,
	),
	journeys: v.pipe(v.array(JourneySchema), v.minLength(1), v.maxLength(20)),
	visitorRateLimit: v.optional(
		v.pipe(
			v.strictObject({
				perSecond: v.pipe(v.number(), v.minValue(0.1), v.maxValue(10_000)),
				burst: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000)),
			}),
			v.description(
				"Events one visitor may send: a burst, then a sustained rate; past it collect answers 429 with Retry-After.",
			),
		),
		// Real clients send a page's queued events in one batch; a human never sustains 20 a second.
		{ perSecond: 20, burst: 500 },
	),
	visitorRetentionDays: v.optional(
		v.pipe(
			v.number(),
			v.integer(),
			v.minValue(1),
			v.maxValue(3650),
			v.description("Days a visitor's state is kept after their last event; then it is erased."),
		),
		400,
	),
	rollups: v.optional(
		v.strictObject({
			shards: v.optional(
				v.pipe(
					v.number(),
					v.integer(),
					v.minValue(1),
					v.maxValue(64),
					v.description("Rollup shards per journey; may grow but never shrink once visitors are counted."),
				),
				8,
			),
			retentionDays: v.optional(
				v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(3650), v.description("Days of funnel data kept.")),
				400,
			),
		}),
		{},
	),
	ctas: v.optional(v.pipe(v.array(CtaSchema), v.maxLength(200)), []),
});

/** A site config as written in JSON (defaults may be left out). */
export type SiteConfigInput = v.InferInput<typeof SiteConfigSchema>;
/** A validated site config with every default filled in. */
export type SiteConfig = v.InferOutput<typeof SiteConfigSchema>;
export type Journey = SiteConfig["journeys"][number];
export type Step = Journey["steps"][number];
export type MatchRule = v.InferOutput<typeof MatchRuleSchema>;
export type PropertyCondition = v.InferOutput<typeof PropertyConditionSchema>;
export type Cta = SiteConfig["ctas"][number];
