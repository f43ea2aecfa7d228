/**
 * One Durable Object per (site, visitor): the visitor's events, journey progress and CTA
 * exposure in SQLite. Thin around the pure journey logic in `core/journey`.
 *
 * Identity: when an event links an anonymous id (or an alias's previous id) to a user, the
 * user's object asks the other object to hand over its state and absorbs it; from then on the
 * other object forwards everything to the user, so later events that carry only the anonymous
 * id still reach the user's state. The handing-over object keeps its data until the user's
 * object has stored it (then "releases" it), so a crash at any point loses nothing.
 */
import { DurableObject } from "cloudflare:workers";
import type { MatchRule, SiteConfig } from "../../schema";
import type { VisitorEvent, VisitorKey } from "../core/events";
import {
	diffProgress,
	evaluateJourney,
	journeyProgress,
	matchRule,
	siteRules,
	stepEvidence,
	type JourneyProgress,
	type ProgressChange,
	type RuleHits,
} from "../core/journey";
import { ctaFeedback } from "../core/cta-feedback";
import type { FirstTouch } from "../core/first-touch";
import {
	dailySeed,
	eligibleCtas,
	isHoldout,
	rankCtas,
	type CtaExposure,
	type NextRequest,
	type RankingStats,
} from "../core/cta-ranking";
import { hash32, seededRandom } from "../core/random";
import { takeTokens, type TokenBucket } from "../core/rate-limit";
import {
	attributeSteps,
	journeyContribution,
	shardOf,
	utcDay,
	type Contribution,
	type CtaContribution,
	type CtaTouch,
} from "../core/rollup";
import { rollupStub, visitorStub } from "./names";
import { hasSchema, isolateUsage, LazyTables, migrate, Sql, type IsolateUsage, type Migrations, type SqlUsage } from "./sql";
import {
	absorbSnapshot,
	clearActivity,
	FIRST_TOUCH_QUERY,
	takeSnapshot,
	type ExposureRow,
	type OptionalTable,
	type VisitorSnapshot,
} from "./visitor-snapshot";

/** Events kept in full per visitor; counters stay exact beyond it. */
export const HISTORY_LIMIT = 200;

/** Rollup updates wait this long, so a burst of events becomes one update per journey. */
export const FLUSH_DELAY_MS = 1_000;
const MAX_BACKOFF_MS = 10 * 60_000;
/** Forwarding chains are short (device → user → renamed user); a longer one is a cycle. */
const MAX_HOPS = 4;

const MIGRATIONS: Migrations = [
	`CREATE TABLE visitor (
		singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
		site TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT,
		first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, event_count INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE anonymous_ids (anonymous_id TEXT PRIMARY KEY);
	CREATE TABLE message_ids (message_id TEXT PRIMARY KEY) WITHOUT ROWID;
	CREATE TABLE events (
		message_id TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, received_at INTEGER NOT NULL, body TEXT NOT NULL
	);
	CREATE INDEX events_by_time ON events (timestamp DESC, message_id DESC);
	CREATE TABLE event_counts (type TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (type, name));
	CREATE TABLE rule_hits (
		rule_key TEXT NOT NULL, timestamp INTEGER NOT NULL, message_id TEXT NOT NULL, PRIMARY KEY (rule_key, message_id)
	);
	CREATE TABLE progress (journey TEXT NOT NULL, step TEXT NOT NULL, reached_at INTEGER NOT NULL, PRIMARY KEY (journey, step));
	CREATE TABLE cta_exposure (
		cta_id TEXT NOT NULL, variant_id TEXT NOT NULL,
		views INTEGER NOT NULL DEFAULT 0, clicks INTEGER NOT NULL DEFAULT 0, dismissals INTEGER NOT NULL DEFAULT 0,
		first_viewed_at INTEGER, last_viewed_at INTEGER, last_clicked_at INTEGER, dismissed_at INTEGER,
		PRIMARY KEY (cta_id, variant_id)
	);`,
	// Rollups: the visitor's first touch, the last contribution per journey, and the outbox of
	// contributions not yet acknowledged by their shard (written with the progress they follow).
	`CREATE TABLE first_touch (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), timestamp INTEGER NOT NULL, touch TEXT NOT NULL);
	CREATE TABLE rollup_state (journey TEXT PRIMARY KEY, shard INTEGER NOT NULL, version INTEGER NOT NULL, contribution TEXT);
	CREATE TABLE outbox (
		journey TEXT PRIMARY KEY, site TEXT NOT NULL, shard INTEGER NOT NULL, version INTEGER NOT NULL,
		contribution TEXT, retention_days INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0
	);`,
	// Every CTA view and click, for last-touch attribution of the steps that follow.
	`CREATE TABLE cta_touches (message_id TEXT PRIMARY KEY, cta_id TEXT NOT NULL, variant_id TEXT NOT NULL, at INTEGER NOT NULL);`,
	// Retention: when the last event arrived, and how long the site keeps a visitor after it.
	`ALTER TABLE visitor ADD COLUMN last_received INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE visitor ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 400;`,
	// Identity: where this visitor forwards to once merged, the visitors merged into it (each
	// released once its state is stored here), and when each pending delivery is due, so the
	// alarm is always derived from storage and a restart can never strand a delivery.
	`DROP TABLE anonymous_ids;
	CREATE TABLE forwarding (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), kind TEXT NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL);
	CREATE TABLE merged_sources (
		kind TEXT NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL,
		released INTEGER NOT NULL, due_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, rollup_retention_days INTEGER NOT NULL,
		PRIMARY KEY (kind, id)
	);
	ALTER TABLE outbox ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0;`,
	// Rows written are what storage bills most, and every table or index is a 4 KiB page of each
	// visitor's database. Events keep no key and no index (message_ids keeps each id unique;
	// the newest 200 are found by sorting at most 201 rows, and only once the history is full),
	// and the small keyed tables become WITHOUT ROWID: one b-tree entry per row instead of two.
	// `evaluated_config`: the fingerprint of the config the stored progress and contributions were
	// computed under, so an object started cold need not compute them again for every event.
	`CREATE TABLE events_v6 (message_id TEXT NOT NULL, timestamp INTEGER NOT NULL, received_at INTEGER NOT NULL, body TEXT NOT NULL);
	INSERT INTO events_v6 SELECT message_id, timestamp, received_at, body FROM events;
	DROP TABLE events;
	ALTER TABLE events_v6 RENAME TO events;
	CREATE TABLE event_counts_v6 (type TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (type, name)) WITHOUT ROWID;
	INSERT INTO event_counts_v6 SELECT type, name, count FROM event_counts;
	DROP TABLE event_counts;
	ALTER TABLE event_counts_v6 RENAME TO event_counts;
	CREATE TABLE rule_hits_v6 (
		rule_key TEXT NOT NULL, timestamp INTEGER NOT NULL, message_id TEXT NOT NULL, PRIMARY KEY (rule_key, message_id)
	) WITHOUT ROWID;
	INSERT INTO rule_hits_v6 SELECT rule_key, timestamp, message_id FROM rule_hits;
	DROP TABLE rule_hits;
	ALTER TABLE rule_hits_v6 RENAME TO rule_hits;
	CREATE TABLE progress_v6 (journey TEXT NOT NULL, step TEXT NOT NULL, reached_at INTEGER NOT NULL, PRIMARY KEY (journey, step)) WITHOUT ROWID;
	INSERT INTO progress_v6 SELECT journey, step, reached_at FROM progress;
	DROP TABLE progress;
	ALTER TABLE progress_v6 RENAME TO progress;
	CREATE TABLE outbox_v6 (
		journey TEXT PRIMARY KEY, site TEXT NOT NULL, shard INTEGER NOT NULL, version INTEGER NOT NULL,
		contribution TEXT, retention_days INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due_at INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	INSERT INTO outbox_v6 SELECT journey, site, shard, version, contribution, retention_days, attempts, due_at FROM outbox;
	DROP TABLE outbox;
	ALTER TABLE outbox_v6 RENAME TO outbox;
	CREATE TABLE merged_sources_v6 (
		kind TEXT NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL,
		released INTEGER NOT NULL, due_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, rollup_retention_days INTEGER NOT NULL,
		PRIMARY KEY (kind, id)
	) WITHOUT ROWID;
	INSERT INTO merged_sources_v6 SELECT kind, id, at, released, due_at, attempts, rollup_retention_days FROM merged_sources;
	DROP TABLE merged_sources;
	ALTER TABLE merged_sources_v6 RENAME TO merged_sources;
	ALTER TABLE visitor ADD COLUMN evaluated_config TEXT;`,
	// The three keyed tables v6 left with a rowid: each kept its key in an index of its own, one
	// more 4 KiB page in every visitor's database (storage is most of what a visitor costs).
	`CREATE TABLE cta_exposure_v7 (
		cta_id TEXT NOT NULL, variant_id TEXT NOT NULL,
		views INTEGER NOT NULL DEFAULT 0, clicks INTEGER NOT NULL DEFAULT 0, dismissals INTEGER NOT NULL DEFAULT 0,
		first_viewed_at INTEGER, last_viewed_at INTEGER, last_clicked_at INTEGER, dismissed_at INTEGER,
		PRIMARY KEY (cta_id, variant_id)
	) WITHOUT ROWID;
	INSERT INTO cta_exposure_v7 SELECT cta_id, variant_id, views, clicks, dismissals, first_viewed_at, last_viewed_at, last_clicked_at, dismissed_at FROM cta_exposure;
	DROP TABLE cta_exposure;
	ALTER TABLE cta_exposure_v7 RENAME TO cta_exposure;
	CREATE TABLE rollup_state_v7 (journey TEXT PRIMARY KEY, shard INTEGER NOT NULL, version INTEGER NOT NULL, contribution TEXT) WITHOUT ROWID;
	INSERT INTO rollup_state_v7 SELECT journey, shard, version, contribution FROM rollup_state;
	DROP TABLE rollup_state;
	ALTER TABLE rollup_state_v7 RENAME TO rollup_state;
	CREATE TABLE cta_touches_v7 (message_id TEXT PRIMARY KEY, cta_id TEXT NOT NULL, variant_id TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
	INSERT INTO cta_touches_v7 SELECT message_id, cta_id, variant_id, at FROM cta_touches;
	DROP TABLE cta_touches;
	ALTER TABLE cta_touches_v7 RENAME TO cta_touches;`,
	// Three tables fewer, three 4 KiB pages less in every visitor's database: the first touch and
	// the forwarding link are columns of the visitor's row, and the outbox is the rollup state's
	// pending delivery (due_at set until the shard acknowledges the version). Queueing a
	// contribution becomes one statement instead of two.
	`ALTER TABLE visitor ADD COLUMN first_touch_at INTEGER;
	ALTER TABLE visitor ADD COLUMN first_touch TEXT;
	ALTER TABLE visitor ADD COLUMN forward_kind TEXT;
	ALTER TABLE visitor ADD COLUMN forward_id TEXT;
	ALTER TABLE visitor ADD COLUMN forwarded_at INTEGER;
	UPDATE visitor SET
	  first_touch_at = (SELECT timestamp FROM first_touch), first_touch = (SELECT touch FROM first_touch),
	  forward_kind = (SELECT kind FROM forwarding), forward_id = (SELECT id FROM forwarding), forwarded_at = (SELECT at FROM forwarding);
	DROP TABLE first_touch;
	DROP TABLE forwarding;
	CREATE TABLE rollup_state_v8 (
		journey TEXT PRIMARY KEY, shard INTEGER NOT NULL, version INTEGER NOT NULL, contribution TEXT,
		retention_days INTEGER, attempts INTEGER NOT NULL DEFAULT 0, due_at INTEGER
	) WITHOUT ROWID;
	INSERT INTO rollup_state_v8 SELECT state.journey, state.shard, state.version, state.contribution, outbox.retention_days, coalesce(outbox.attempts, 0), outbox.due_at
	  FROM rollup_state AS state LEFT JOIN outbox ON outbox.journey = state.journey;
	INSERT INTO rollup_state_v8 SELECT journey, shard, version, contribution, retention_days, attempts, due_at FROM outbox
	  WHERE journey NOT IN (SELECT journey FROM rollup_state);
	DROP TABLE rollup_state;
	DROP TABLE outbox;
	ALTER TABLE rollup_state_v8 RENAME TO rollup_state;`,
];

/**
 * What all of `MIGRATIONS` together create, for a database that has nothing yet: a new visitor
 * creates its tables in one statement batch instead of replaying the history (a table created
 * only to be dropped, nine rebuilt, three columns added). A test checks it matches the migrations.
 */
export const VISITOR_SCHEMA = `CREATE TABLE visitor (
		singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
		site TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT,
		first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, event_count INTEGER NOT NULL DEFAULT 0,
		last_received INTEGER NOT NULL DEFAULT 0, retention_days INTEGER NOT NULL DEFAULT 400,
		evaluated_config TEXT, first_touch_at INTEGER, first_touch TEXT, forward_kind TEXT, forward_id TEXT, forwarded_at INTEGER
	);
	CREATE TABLE message_ids (message_id TEXT PRIMARY KEY) WITHOUT ROWID;
	CREATE TABLE events (message_id TEXT NOT NULL, timestamp INTEGER NOT NULL, received_at INTEGER NOT NULL, body TEXT NOT NULL);
	CREATE TABLE event_counts (type TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (type, name)) WITHOUT ROWID;
	CREATE TABLE rule_hits (
		rule_key TEXT NOT NULL, timestamp INTEGER NOT NULL, message_id TEXT NOT NULL, PRIMARY KEY (rule_key, message_id)
	) WITHOUT ROWID;
	CREATE TABLE progress (journey TEXT NOT NULL, step TEXT NOT NULL, reached_at INTEGER NOT NULL, PRIMARY KEY (journey, step)) WITHOUT ROWID;
	CREATE TABLE rollup_state (
		journey TEXT PRIMARY KEY, shard INTEGER NOT NULL, version INTEGER NOT NULL, contribution TEXT,
		retention_days INTEGER, attempts INTEGER NOT NULL DEFAULT 0, due_at INTEGER
	) WITHOUT ROWID;`;

/**
 * Tables most visitors never write to, created on first write (`LazyTables`): a visitor who
 * never saw a CTA or merged an identity keeps three 4 KiB pages fewer. Part of the schema all
 * the same: `VISITOR_SCHEMA` plus these is what the migrations build. A later migration that
 * changes one of them must first create it as it stands (CREATE TABLE IF NOT EXISTS).
 */
export const OPTIONAL_TABLES: Readonly<Record<OptionalTable, string>> = {
	cta_exposure: `CREATE TABLE cta_exposure (
		cta_id TEXT NOT NULL, variant_id TEXT NOT NULL,
		views INTEGER NOT NULL DEFAULT 0, clicks INTEGER NOT NULL DEFAULT 0, dismissals INTEGER NOT NULL DEFAULT 0,
		first_viewed_at INTEGER, last_viewed_at INTEGER, last_clicked_at INTEGER, dismissed_at INTEGER,
		PRIMARY KEY (cta_id, variant_id)
	) WITHOUT ROWID`,
	cta_touches: `CREATE TABLE cta_touches (message_id TEXT PRIMARY KEY, cta_id TEXT NOT NULL, variant_id TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID`,
	merged_sources: `CREATE TABLE merged_sources (
		kind TEXT NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL,
		released INTEGER NOT NULL, due_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, rollup_retention_days INTEGER NOT NULL,
		PRIMARY KEY (kind, id)
	) WITHOUT ROWID`,
};

/** The schema history, exported for the test that compares it with `VISITOR_SCHEMA`. */
export const VISITOR_MIGRATIONS = MIGRATIONS;

/** Everything `next` needs besides the visitor's own state. */
export type NextInput = NextRequest & {
	journey?: string | undefined;
	limit: number;
	/** Learned CTA statistics for the journey (cached by the worker), or null before any. */
	stats: RankingStats | null;
	now: number;
};

/** The answer of `GET /v1/next` (DESIGN.md). */
export type NextAnswer = {
	visitor: { id: string; journey: string; completed: string[]; progress: number; holdout: boolean };
	ctas: {
		id: string;
		variant: string;
		step: string;
		title: string;
		body: string;
		href: string;
		placement: string;
		dismissible: boolean;
		score: number;
		reason: string;
	}[];
	ttl: number;
};

/** How long a page may reuse an answer: CTAs change when the visitor acts, not on their own. */
export const NEXT_TTL_SECONDS = 300;

export type IngestInput = {
	/**
	 * The site config as JSON (`siteConfigText`): a string crosses the RPC boundary as one copy
	 * where the object graph would be cloned field by field on both sides, and the objects of an
	 * isolate share one parsed config per distinct text.
	 */
	config: string;
	key: VisitorKey;
	events: readonly VisitorEvent[];
	/** Answer `next` too, after the events are stored (`POST /v1/collect?next=1`). */
	next?: NextInput | undefined;
	/** Set when another visitor forwards these events here because it was merged into this one. */
	forwardedFrom?: VisitorKey | undefined;
	hops?: number | undefined;
};
export type IngestResult = {
	accepted: number;
	duplicates: number;
	changes: ProgressChange[];
	next?: NextAnswer;
	/** Set when the visitor sent more than its rate allows: nothing was stored. */
	retryAfterSeconds?: number;
};

export type VisitorProfile = {
	id: string;
	userId: string | null;
	/** Anonymous ids (devices) merged into this visitor. */
	anonymousIds: string[];
	firstSeen: string;
	lastSeen: string;
	eventCount: number;
	/** The visitor's SQLite database size. */
	storageBytes: number;
	/** Exact counts per event type and name (`null` for unnamed pages, identifies, …). */
	eventCounts: { type: string; name: string | null; count: number }[];
	journeys: { id: string; completed: { step: string; at: string }[]; progress: number }[];
	events: Record<string, unknown>[];
	ctas: {
		id: string;
		variant: string | null;
		views: number;
		clicks: number;
		dismissed: boolean;
		firstViewedAt: string | null;
		lastViewedAt: string | null;
		lastClickedAt: string | null;
		dismissedAt: string | null;
	}[];
};

/** A data-subject access request: everything held about the visitor (`?format=export`). */
export type VisitorExport = VisitorProfile & {
	exportedAt: string;
	site: string;
	/** Every identity merged into this one (devices, earlier user ids). */
	mergedIdentities: { kind: string; id: string; mergedAt: string }[];
	firstTouch: (FirstTouch & { at: string }) | null;
	ctaTouches: { cta: string; variant: string; at: string; messageId: string }[];
	ruleHits: { rule: string; at: string; messageId: string }[];
	messageIds: string[];
	retention: { lastEventReceivedAt: string; erasedAfter: string; days: number };
	/** The rollups hold only counts; this is which shard counts this visitor, per journey. */
	rollups: { journey: string; shard: number; version: number }[];
};

/** What a visitor answers when another asks it to merge into it. */
export type HandOver =
	| { outcome: "handed"; snapshot: VisitorSnapshot }
	/** Already merged into another identity, or that identity was merged into this one. */
	| { outcome: "refused"; reason: string };

type VisitorRow = {
	site: string;
	kind: "user" | "anonymous";
	id: string;
	user_id: string | null;
	first_seen: number;
	last_seen: number;
	event_count: number;
	last_received: number;
	retention_days: number;
};
type ProgressRow = { journey: string; step: string; reached_at: number };
type HitRow = { rule_key: string; timestamp: number };
type RollupStateRow = { journey: string; shard: number; version: number; contribution: string | null };
/** A rollup state whose newest version its shard has not acknowledged yet (`due_at` is set). */
type OutboxRow = {
	journey: string;
	shard: number;
	version: number;
	contribution: string | null;
	retention_days: number;
	attempts: number;
};
type SourceRow = { kind: "user" | "anonymous"; id: string; attempts: number; rollup_retention_days: number };
type Hit = { timestamp: number; messageId: string };
type TouchRow = { timestamp: number; touch: string };

/** A site config as visitors use it, with what every event needs derived from it once. */
type SiteModel = {
	site: SiteConfig;
	/** Tells configs apart in storage (`visitor.evaluated_config`): 64 bits of hash and the length. */
	fingerprint: string;
	rules: Map<string, MatchRule>;
	/** Per journey: its CTAs and the step each leads to. */
	ctaSteps: Map<string, Map<string, string>>;
};

const siteTexts = new WeakMap<SiteConfig, string>();

/**
 * The text `ingest` takes for a site config. Memoised per config object: the worker's site
 * cache hands out the same object for every request until it expires.
 */
export function siteConfigText(site: SiteConfig): string {
	let text = siteTexts.get(site);
	if (text === undefined) siteTexts.set(site, (text = JSON.stringify(site)));
	return text;
}

// Per isolate, so every visitor object in it parses a config once. Bounded: configs change rarely.
const siteModels = new Map<string, SiteModel>();

function siteModel(text: string): SiteModel {
	let model = siteModels.get(text);
	if (model) return model;
	// Shared by every object of the isolate: frozen, so no caller can change it for the others.
	const site = deepFreeze(JSON.parse(text) as SiteConfig);
	model = {
		site,
		fingerprint: [hash32(text), hash32(`\u0000${text}`), text.length].map((n) => n.toString(36)).join("."),
		rules: siteRules(site),
		ctaSteps: new Map(site.journeys.map((journey) => [journey.id, new Map(site.ctas.filter((cta) => cta.journey === journey.id).map((cta) => [cta.id, cta.step]))])),
	};
	if (siteModels.size >= 32) siteModels.clear();
	siteModels.set(text, model);
	return model;
}

function deepFreeze<T>(value: T): T {
	if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
		Object.freeze(value);
		for (const item of Object.values(value)) deepFreeze(item);
	}
	return value;
}

/**
 * What this instance knows of its own storage, so an event that changes little reads little:
 * filled lazily, updated by every write this class makes, dropped whenever storage changes by
 * another path (a merge, a release, an erasure) or a write block fails halfway.
 */
type Known = {
	forward: VisitorKey | null;
	firstTouch?: TouchRow | null;
	/** Rows in `events`. */
	historySize?: number;
	/** Per rule, its stored hits in SQLite's order (timestamp, then message id). */
	hits?: Map<string, Hit[]>;
	progress?: Map<string, JourneyProgress>;
	rollup?: Map<string, RollupStateRow>;
	/** `cta_exposure` in storage order. */
	exposures?: ExposureRow[];
	touches?: CtaTouch[];
	/** The config the stored progress and contributions were last computed under. */
	evaluatedFor?: SiteModel;
};

export class VisitorObject extends DurableObject<Env> {
	private readonly sql: Sql;
	private readonly optional: LazyTables<OptionalTable>;
	private schemaReady = false;
	/** The alarm time this instance last set; unknown after a restart, so the first change sets it. */
	private alarmAt: number | undefined;
	/** In memory on purpose: abuse protection needs no durability, and a restart forgives. */
	private bucket: TokenBucket | undefined;
	private known: Known | undefined;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = new Sql(ctx.storage.sql, "visitor");
		this.optional = new LazyTables(this.sql, OPTIONAL_TABLES);
	}

	/**
	 * Stores new events (a `messageId` already stored counts as a duplicate) and re-evaluates
	 * the journeys. Linked identities are fetched first; then everything, the rollup outbox and
	 * its alarm included, happens in one synchronous block, so it commits atomically: nothing
	 * on this path waits for a rollup.
	 */
	async ingest(input: IngestInput): Promise<IngestResult> {
		this.sql.tally("ingest");
		const model = siteModel(input.config);
		const { site } = model;
		const { key, events, next } = input;
		const taken = takeTokens(this.bucket, events.length, Date.now(), site.visitorRateLimit);
		this.bucket = taken.bucket;
		if (!taken.allowed) return { accepted: 0, duplicates: 0, changes: [], retryAfterSeconds: taken.retryAfterSeconds };

		this.ensureSchema();
		let target = this.forwardTarget();
		if (target && (input.hops ?? 0) < MAX_HOPS) return this.forward(site.id, target, input);
		const links = this.unmergedLinks(key, events, input.forwardedFrom);
		let handed: { source: VisitorKey; handOver: HandOver }[] = [];
		if (links.length) {
			handed = await this.askHandOvers(site, key, links);
			// Merged away while waiting: the identity this visitor now belongs to takes the events.
			target = this.forwardTarget();
			if (target && (input.hops ?? 0) < MAX_HOPS) return this.forward(site.id, target, input);
		}

		const result = this.store(model, key, events, handed);
		return next ? { ...result, next: this.answerNext(site, key, next) } : result;
	}

	/**
	 * The ranked CTAs for this visitor now: eligibility from their own state, ranking from the
	 * statistics passed in, draws seeded by visitor and day. Reads only: a visitor never seen
	 * gets an answer and no storage.
	 */
	async next(site: SiteConfig, key: VisitorKey, input: NextInput): Promise<NextAnswer> {
		this.sql.tally("next");
		const target = this.existing() ? this.forwardTarget() : null;
		if (target) return visitorStub(this.env, site.id, target).next(site, target, input);
		return this.answerNext(site, key, input);
	}

	/** Another visitor asks to absorb this one: hands over what is stored and forwards from now on. */
	handOver(site: SiteConfig, self: VisitorKey, target: VisitorKey, now = Date.now()): HandOver {
		this.ensureSchema();
		const current = this.forwardTarget();
		if (current && !sameKey(current, target)) {
			return { outcome: "refused", reason: `already merged into ${current.kind} '${current.id}'` };
		}
		if (this.optional.read("merged_sources", "SELECT 1 AS found FROM merged_sources WHERE kind = ? AND id = ?", target.kind, target.id).length) {
			return { outcome: "refused", reason: `${target.kind} '${target.id}' was merged into this visitor` };
		}
		if (!current) {
			this.known = undefined;
			// A visitor never seen still gets a row: the link is kept there, and its retention and
			// erasure go by it.
			this.sql.run(
				`INSERT INTO visitor (singleton, site, kind, id, first_seen, last_seen, event_count, last_received, retention_days,
				   forward_kind, forward_id, forwarded_at)
				 VALUES (1, ?1, ?2, ?3, ?4, ?4, 0, ?4, ?5, ?6, ?7, ?4)
				 ON CONFLICT (singleton) DO UPDATE SET
				   forward_kind = excluded.forward_kind, forward_id = excluded.forward_id, forwarded_at = excluded.forwarded_at`,
				site.id,
				self.kind,
				self.id,
				now,
				site.visitorRetentionDays,
				target.kind,
				target.id,
			);
			this.armAlarm();
		}
		return { outcome: "handed", snapshot: takeSnapshot(this.sql, this.optional) };
	}

	/**
	 * The identity this visitor merged into has stored its state: its counts leave the rollups
	 * (the identity counts them now) and its activity is deleted. Idempotent.
	 */
	release(target: VisitorKey, rollupRetentionDays: number): boolean {
		if (!this.existing()) return true;
		const current = this.forwardTarget();
		if (!current || !sameKey(current, target)) return false;
		this.known = undefined;
		this.retractContributions(rollupRetentionDays);
		clearActivity(this.sql, this.optional);
		this.armAlarm();
		return true;
	}

	/**
	 * Erases the visitor once the site's retention has passed since their last event; otherwise
	 * delivers what is due: outbox entries to the rollup shards and releases to merged visitors,
	 * each retried with backoff until acknowledged. Always re-arms itself from what is stored.
	 */
	override async alarm(): Promise<void> {
		this.sql.tally("alarm");
		this.alarmAt = undefined;
		if (!this.existing()) return;
		const expires = this.retentionDeadline();
		if (expires !== null && Date.now() >= expires) {
			// A merged visitor's retention ends only its own link, never the identity it joined.
			await this.erase({ cascade: this.forwardTarget() === null });
			return;
		}
		// Everything pending goes now, due or not: one round trip serves all of it. Failed
		// deliveries are kept with their backoff and re-armed below; an alarm that throws is
		// retried by the runtime, and the next event re-arms from storage in any case.
		await this.deliver();
		this.armAlarm();
	}

	/** This object's SQL work since it started and its database size, and the isolate's totals (for `npm run bench`). */
	usage(): SqlUsage & { isolate: IsolateUsage } {
		return { ...this.sql.usage(), isolate: isolateUsage() };
	}

	/** Everything an operator may see about the visitor, or null for one never seen. */
	async profile(site: SiteConfig, options: { eventLimit: number }): Promise<VisitorProfile | null> {
		if (!this.existing()) return null;
		const target = this.forwardTarget();
		if (target) return visitorStub(this.env, site.id, target).profile(site, options);
		return this.localProfile(site, options.eventLimit);
	}

	/** A data-subject access request: everything held about the visitor, or null for one never seen. */
	async exportData(site: SiteConfig, now = Date.now()): Promise<VisitorExport | null> {
		if (!this.existing()) return null;
		const target = this.forwardTarget();
		if (target) return visitorStub(this.env, site.id, target).exportData(site, now);
		const profile = this.localProfile(site, HISTORY_LIMIT);
		const visitor = this.visitorRow();
		if (!profile || !visitor) return null;
		const iso = (time: number) => new Date(time).toISOString();
		const touch = this.sql.one<TouchRow>(FIRST_TOUCH_QUERY);
		return {
			...profile,
			exportedAt: iso(now),
			site: visitor.site,
			mergedIdentities: this.optional
				.read<{ kind: string; id: string; at: number }>("merged_sources", "SELECT kind, id, at FROM merged_sources ORDER BY at, kind, id")
				.map((row) => ({ kind: row.kind, id: row.id, mergedAt: iso(row.at) })),
			firstTouch: touch ? { ...(JSON.parse(touch.touch) as FirstTouch), at: iso(touch.timestamp) } : null,
			ctaTouches: this.optional
				.read<{ message_id: string; cta_id: string; variant_id: string; at: number }>("cta_touches", "SELECT * FROM cta_touches ORDER BY at")
				.map((row) => ({ cta: row.cta_id, variant: row.variant_id, at: iso(row.at), messageId: row.message_id })),
			ruleHits: this.sql
				.all<{ rule_key: string; timestamp: number; message_id: string }>("SELECT * FROM rule_hits ORDER BY timestamp")
				.map((row) => ({ rule: row.rule_key, at: iso(row.timestamp), messageId: row.message_id })),
			messageIds: this.sql.all<{ message_id: string }>("SELECT message_id FROM message_ids ORDER BY message_id").map((row) => row.message_id),
			retention: {
				lastEventReceivedAt: iso(visitor.last_received),
				erasedAfter: iso(visitor.last_received + visitor.retention_days * 86_400_000),
				days: visitor.retention_days,
			},
			rollups: this.sql.all<{ journey: string; shard: number; version: number }>("SELECT journey, shard, version FROM rollup_state"),
		};
	}

	/**
	 * Erases everything stored about the visitor and every identity merged into it; a merged
	 * visitor erases the identity it belongs to (and its other devices) too. Counts not yet
	 * delivered to the rollups are delivered first, once; the shards keep the counts but forget
	 * whose they were. No event is accepted while the erasure runs, so none acknowledged during
	 * it is wiped unseen. Returns whether there was anything.
	 *
	 * `cascade: false` erases this object alone; `skip` lists the identities of the calling chain
	 * (device → user → renamed user), each erasing itself once the call returns: asked again
	 * while it waits, one would wait for itself until the runtime reset it;
	 * `retract` (rollup retention days) takes this visitor's counts out of the rollups first,
	 * for a merged visitor whose identity already counts them.
	 */
	async erase(options: { cascade?: boolean; skip?: readonly VisitorKey[]; retract?: number } = {}): Promise<boolean> {
		return this.ctx.blockConcurrencyWhile(async () => {
			const visitor = this.existing() ? this.visitorRow() : undefined;
			if (!visitor) {
				await this.ctx.storage.deleteAll();
				return false;
			}
			const self: VisitorKey = { kind: visitor.kind, id: visitor.id };
			const target = this.forwardTarget();
			if (options.cascade !== false) {
				if (target) {
					const chain = [...(options.skip ?? []), self];
					if (!chain.some((key) => sameKey(key, target))) await visitorStub(this.env, visitor.site, target).erase({ skip: chain });
				} else {
					const sources = this.optional
						.read<SourceRow & { released: number }>("merged_sources", "SELECT kind, id, released, rollup_retention_days FROM merged_sources")
						.filter((row) => !options.skip?.some((key) => sameKey(row, key)));
					await Promise.all(
						sources.map((row) =>
							visitorStub(this.env, visitor.site, { kind: row.kind, id: row.id }).erase({
								cascade: false,
								retract: row.released ? undefined : row.rollup_retention_days,
							}),
						),
					);
				}
			}
			if (target && options.retract !== undefined) this.retractContributions(options.retract);
			await this.deliver({ once: true }).catch(() => undefined);
			const id = this.ctx.id.toString();
			await Promise.allSettled(
				this.sql
					.all<RollupStateRow>("SELECT * FROM rollup_state")
					.map((row) => rollupStub(this.env, visitor.site, row.journey, row.shard).forget(id)),
			);
			await this.ctx.storage.deleteAlarm();
			this.alarmAt = undefined;
			await this.ctx.storage.deleteAll();
			this.schemaReady = false;
			this.optional.forget();
			this.known = undefined;
			return true;
		});
	}

	/** Queues a null contribution for every journey this visitor counts in (its identity counts it now). */
	private retractContributions(rollupRetentionDays: number): void {
		// Deliveries go out only for a visitor with a row (it names the site).
		if (!this.visitorRow()) return;
		for (const state of this.sql.all<RollupStateRow>("SELECT journey, shard, version, contribution FROM rollup_state WHERE contribution IS NOT NULL")) {
			this.queueContribution(state.journey, state.shard, state.version + 1, null, rollupRetentionDays);
		}
	}

	private forward(site: string, target: VisitorKey, input: IngestInput): Promise<IngestResult> {
		// The forwarding visitor stays alive as long as it is in use: its retention goes by this.
		this.sql.run("UPDATE visitor SET last_received = max(last_received, ?)", Date.now());
		return visitorStub(this.env, site, target).ingest({
			...input,
			key: target,
			forwardedFrom: input.key,
			hops: (input.hops ?? 0) + 1,
		});
	}

	/** Identities these events link to this user that are not merged yet. */
	private unmergedLinks(self: VisitorKey, events: readonly VisitorEvent[], forwardedFrom: VisitorKey | undefined): VisitorKey[] {
		if (self.kind !== "user") return [];
		const links = new Map<string, VisitorKey>();
		const add = (key: VisitorKey) => {
			if (!sameKey(key, self)) links.set(`${key.kind}\u0000${key.id}`, key);
		};
		if (forwardedFrom) add(forwardedFrom);
		for (const event of events) {
			if (event.anonymousId !== null) add({ kind: "anonymous", id: event.anonymousId });
			if (event.previousId !== null) {
				// Segment's alias: the previous id is a device's anonymous id, or an earlier user id.
				add({ kind: "anonymous", id: event.previousId });
				add({ kind: "user", id: event.previousId });
			}
		}
		return [...links.values()].filter(
			(key) => !this.optional.read("merged_sources", "SELECT 1 AS found FROM merged_sources WHERE kind = ? AND id = ?", key.kind, key.id).length,
		);
	}

	/** A source that cannot answer now is merged on a later event; this one's events are stored regardless. */
	private async askHandOvers(site: SiteConfig, self: VisitorKey, links: VisitorKey[]): Promise<{ source: VisitorKey; handOver: HandOver }[]> {
		const answers = await Promise.allSettled(links.map((source) => visitorStub(this.env, site.id, source).handOver(site, source, self)));
		return answers.flatMap((answer, i) => {
			if (answer.status === "fulfilled") return [{ source: links[i]!, handOver: answer.value }];
			console.error(JSON.stringify({ msg: "merge postponed", site: site.id, source: links[i], error: String(answer.reason) }));
			return [];
		});
	}

	/**
	 * The synchronous block of `ingest`. It writes only what the events change: a page view that
	 * reaches no new step is four statements (its message id, the event, the visitor's counters,
	 * the per-name count). Journeys are evaluated again when a rule got a hit that can matter,
	 * after a merge, or under a config this instance has not evaluated them with; contributions
	 * are computed again when progress, first touch or CTA exposure changed, or the config did.
	 */
	private store(model: SiteModel, key: VisitorKey, events: readonly VisitorEvent[], handed: readonly { source: VisitorKey; handOver: HandOver }[]): IngestResult {
		const { site, rules } = model;
		const known = this.knowledge();
		// Until this block completes: a failure halfway must not leave a stale picture behind.
		this.known = undefined;
		const touchedRules = new Set<string>();
		let accepted = 0;
		let duplicates = 0;
		let ctaChanged = false;
		const visitor = { events: 0, firstSeen: Number.POSITIVE_INFINITY, lastSeen: Number.NEGATIVE_INFINITY, lastReceived: 0, userId: null as string | null };
		const counts = new Map<string, { type: string; name: string; count: number }>();

		for (const event of events) {
			if (this.sql.run("INSERT OR IGNORE INTO message_ids (message_id) VALUES (?)", event.messageId) === 0) {
				duplicates++;
				continue;
			}
			accepted++;
			this.sql.run(
				"INSERT INTO events (message_id, timestamp, received_at, body) VALUES (?, ?, ?, ?)",
				event.messageId,
				event.timestamp,
				event.receivedAt,
				JSON.stringify(event.body),
			);
			if (known.historySize !== undefined) known.historySize++;
			// The visitor row and the per-name counts are written once per call, whatever the batch size.
			visitor.events++;
			visitor.firstSeen = Math.min(visitor.firstSeen, event.timestamp);
			visitor.lastSeen = Math.max(visitor.lastSeen, event.timestamp);
			visitor.lastReceived = Math.max(visitor.lastReceived, event.receivedAt);
			if (event.userId !== null) visitor.userId = event.userId;
			const name = event.name ?? "";
			const count = counts.get(`${event.type}\u0000${name}`) ?? { type: event.type, name, count: 0 };
			count.count++;
			counts.set(`${event.type}\u0000${name}`, count);
			if (this.recordCtaFeedback(event)) ctaChanged = true;
			for (const [ruleKey, rule] of rules) {
				if (!matchRule(rule, event)) continue;
				if (!this.hitMayMatter(known, ruleKey, rule, event.timestamp)) continue;
				this.sql.run(
					"INSERT OR IGNORE INTO rule_hits (rule_key, timestamp, message_id) VALUES (?, ?, ?)",
					ruleKey,
					event.timestamp,
					event.messageId,
				);
				touchedRules.add(ruleKey);
			}
		}
		let retention: number | undefined;
		let evaluatedUnder: string | null | undefined;
		if (accepted > 0) {
			const row = this.sql.one<{ last_received: number; retention_days: number; evaluated_config: string | null }>(
				`INSERT INTO visitor (singleton, site, kind, id, user_id, first_seen, last_seen, event_count, last_received, retention_days)
				 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
				 ON CONFLICT (singleton) DO UPDATE SET
				   event_count = event_count + excluded.event_count,
				   first_seen = min(first_seen, excluded.first_seen),
				   last_seen = max(last_seen, excluded.last_seen),
				   user_id = coalesce(excluded.user_id, user_id),
				   last_received = max(last_received, excluded.last_received),
				   retention_days = excluded.retention_days
				 RETURNING last_received, retention_days, evaluated_config`,
				site.id,
				key.kind,
				key.id,
				visitor.userId,
				visitor.firstSeen,
				visitor.lastSeen,
				visitor.events,
				visitor.lastReceived,
				site.visitorRetentionDays,
			);
			if (row) retention = row.last_received + row.retention_days * 86_400_000;
			evaluatedUnder = row?.evaluated_config;
			for (const { type, name, count } of counts.values()) {
				this.sql.run(
					`INSERT INTO event_counts (type, name, count) VALUES (?, ?, ?)
					 ON CONFLICT (type, name) DO UPDATE SET count = count + excluded.count`,
					type,
					name,
					count,
				);
			}
		}
		const merged = this.absorb(site, handed, touchedRules);
		if (accepted === 0 && !merged) {
			this.known = known;
			return { accepted, duplicates, changes: [] };
		}
		// What a merge wrote is not known here: read it again where it is needed.
		const state: Known = merged ? { forward: known.forward } : known;
		const touchChanged = this.updateFirstTouch(state, events);

		if (touchedRules.size) {
			for (const ruleKey of touchedRules) {
				// Only the earliest `count` hits of a rule can ever decide when a step is reached.
				if ((state.hits?.get(ruleKey)?.length ?? Number.POSITIVE_INFINITY) <= (rules.get(ruleKey)?.count ?? 1)) continue;
				this.sql.run(
					`DELETE FROM rule_hits WHERE rule_key = ?1 AND message_id NOT IN
					 (SELECT message_id FROM rule_hits WHERE rule_key = ?1 ORDER BY timestamp, message_id LIMIT ?2)`,
					ruleKey,
					rules.get(ruleKey)?.count ?? 1,
				);
			}
			state.hits = undefined;
		}
		this.trimHistory(state);
		const current = !merged && (state.evaluatedFor === model || evaluatedUnder === model.fingerprint);
		const evaluate = touchedRules.size > 0 || !current;
		const changes = evaluate ? this.updateProgress(state, site) : [];
		let queued = false;
		if (evaluate || touchChanged || ctaChanged) {
			if (ctaChanged) {
				state.exposures = undefined;
				state.touches = undefined;
			}
			queued = this.queueContributions(state, model, key);
		}
		if (evaluatedUnder !== model.fingerprint) this.sql.run("UPDATE visitor SET evaluated_config = ?", model.fingerprint);
		state.evaluatedFor = model;
		this.known = state;
		this.armAlarm(merged ? undefined : { due: queued ? Date.now() + FLUSH_DELAY_MS : undefined, retention });
		return { accepted, duplicates, changes };
	}

	/**
	 * Whether a new hit of the rule at `timestamp` would survive the trim to its earliest `count`
	 * hits. Only a rule holding exactly `count` hits, all strictly earlier, is skipped: anything
	 * else (ties, a count changed by a config edit) goes through the exact insert and trim.
	 */
	private hitMayMatter(known: Known, ruleKey: string, rule: MatchRule, timestamp: number): boolean {
		const hits = this.hitsOf(known).get(ruleKey) ?? [];
		const last = hits[rule.count - 1];
		const skip = hits.length === rule.count && last !== undefined && timestamp > last.timestamp;
		if (skip) return false;
		// Kept in order for the next event of the same call; read again from storage after the trim.
		hits.push({ timestamp, messageId: "" });
		hits.sort((a, b) => a.timestamp - b.timestamp);
		known.hits?.set(ruleKey, hits);
		return true;
	}

	/** Absorbs what linked identities handed over; returns whether anything new was merged. */
	private absorb(site: SiteConfig, handed: readonly { source: VisitorKey; handOver: HandOver }[], touchedRules: Set<string>): boolean {
		let merged = false;
		const now = Date.now();
		for (const { source, handOver } of handed) {
			// A concurrent request may have absorbed it while this one waited.
			if (this.optional.read("merged_sources", "SELECT 1 AS found FROM merged_sources WHERE kind = ? AND id = ?", source.kind, source.id).length) continue;
			const snapshot = handOver.outcome === "handed" ? handOver.snapshot : null;
			this.optional.write(
				"merged_sources",
				`INSERT INTO merged_sources (kind, id, at, released, due_at, rollup_retention_days) VALUES (?, ?, ?, ?, ?, ?)`,
				source.kind,
				source.id,
				now,
				snapshot ? 0 : 1,
				now + FLUSH_DELAY_MS,
				site.rollups.retentionDays,
			);
			if (!snapshot) continue;
			merged = true;
			for (const ruleKey of absorbSnapshot(this.sql, this.optional, snapshot)) touchedRules.add(ruleKey);
			for (const nested of snapshot.sources) {
				this.optional.write(
					"merged_sources",
					`INSERT OR IGNORE INTO merged_sources (kind, id, at, released, due_at, rollup_retention_days) VALUES (?, ?, ?, 1, ?, ?)`,
					nested.kind,
					nested.id,
					now,
					now,
					site.rollups.retentionDays,
				);
			}
		}
		return merged;
	}

	/**
	 * Delivers what is pending: outbox entries to their shards and releases to merged visitors.
	 * Failures are kept with a later due time (exponential backoff with jitter). `once`: a last
	 * attempt before erasure, whose outcome nobody keeps.
	 */
	private async deliver(options: { once?: boolean; visitor?: VisitorRow | undefined } = {}): Promise<void> {
		const visitor = "visitor" in options ? options.visitor : this.visitorRow();
		if (!visitor) return;
		const self: VisitorKey = { kind: visitor.kind, id: visitor.id };
		const pending = this.sql.all<OutboxRow>(
			"SELECT journey, shard, version, contribution, retention_days, attempts FROM rollup_state WHERE due_at IS NOT NULL",
		);
		const releases = options.once
			? []
			: this.optional.read<SourceRow>("merged_sources", "SELECT kind, id, attempts, rollup_retention_days FROM merged_sources WHERE released = 0");
		const id = this.ctx.id.toString();
		const [flushed, released] = await Promise.all([
			Promise.allSettled(
				pending.map((row) =>
					rollupStub(this.env, visitor.site, row.journey, row.shard).apply({
						retentionDays: row.retention_days,
						updates: [{ visitor: id, version: row.version, contribution: parseContribution(row.contribution) }],
					}),
				),
			),
			Promise.allSettled(
				releases.map((row) => visitorStub(this.env, visitor.site, row).release(self, row.rollup_retention_days)),
			),
		]);
		if (options.once) return;
		const retryAt = (attempts: number) => Date.now() + Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** attempts) * (0.75 + Math.random() / 2);
		flushed.forEach((result, i) => {
			const row = pending[i]!;
			if (result.status === "fulfilled") {
				// A newer version queued while this one was in flight stays for the next flush.
				this.sql.run("UPDATE rollup_state SET due_at = NULL, attempts = 0 WHERE journey = ? AND version = ?", row.journey, row.version);
			} else {
				this.sql.run("UPDATE rollup_state SET attempts = attempts + 1, due_at = ? WHERE journey = ?", retryAt(row.attempts + 1), row.journey);
				console.error(JSON.stringify({ msg: "rollup delivery failed", journey: row.journey, shard: row.shard, error: String(result.reason) }));
			}
		});
		released.forEach((result, i) => {
			const row = releases[i]!;
			if (result.status === "fulfilled") {
				this.sql.run("UPDATE merged_sources SET released = 1 WHERE kind = ? AND id = ?", row.kind, row.id);
			} else {
				this.sql.run(
					"UPDATE merged_sources SET attempts = attempts + 1, due_at = ? WHERE kind = ? AND id = ?",
					retryAt(row.attempts + 1),
					row.kind,
					row.id,
				);
				console.error(JSON.stringify({ msg: "merge release failed", source: row, error: String(result.reason) }));
			}
		});
	}

	/**
	 * Sets the alarm to the earliest thing stored that is due: a delivery, else the retention
	 * deadline. Derived from storage, so a restarted object can never push a pending delivery
	 * back; it only moves the alarm earlier, because a due alarm re-arms itself when it runs.
	 *
	 * `changed`: all the caller may have moved earlier (a new delivery's due time, the retention
	 * deadline it wrote). When the alarm this instance set is already no later, storage cannot
	 * say anything earlier, and is not read.
	 */
	private armAlarm(changed?: { due?: number | undefined; retention?: number | undefined }): void {
		if (changed && this.alarmAt !== undefined && this.alarmAt <= Math.min(changed.due ?? Number.POSITIVE_INFINITY, changed.retention ?? Number.POSITIVE_INFINITY)) {
			return;
		}
		const due = Math.min(
			this.sql.one<{ at: number | null }>("SELECT min(due_at) AS at FROM rollup_state")?.at ?? Number.POSITIVE_INFINITY,
			this.optional.read<{ at: number | null }>("merged_sources", "SELECT min(due_at) AS at FROM merged_sources WHERE released = 0")[0]?.at ??
				Number.POSITIVE_INFINITY,
		);
		const retention = changed?.retention ?? this.retentionDeadline();
		const at = Math.min(due, retention ?? Number.POSITIVE_INFINITY);
		if (!Number.isFinite(at) || (this.alarmAt !== undefined && this.alarmAt <= at)) return;
		this.alarmAt = at;
		// Part of the caller's synchronous block: the alarm commits with the rows it is for.
		void this.ctx.storage.setAlarm(at);
	}

	private forwardTarget(): VisitorKey | null {
		return this.knowledge().forward;
	}

	/** What this instance knows of its storage; on first use, where it forwards to. */
	private knowledge(): Known {
		if (!this.known) {
			const row = this.sql.one<{ kind: "user" | "anonymous"; id: string }>(
				"SELECT forward_kind AS kind, forward_id AS id FROM visitor WHERE forward_kind IS NOT NULL",
			);
			this.known = { forward: row ? { kind: row.kind, id: row.id } : null };
		}
		return this.known;
	}

	private visitorRow(): VisitorRow | undefined {
		return this.sql.one<VisitorRow>("SELECT * FROM visitor");
	}

	private answerNext(site: SiteConfig, key: VisitorKey, input: NextInput): NextAnswer {
		const journey = site.journeys.find((j) => j.id === input.journey) ?? site.journeys[0]!;
		const visitorKey = `${key.kind}:${key.id}`;
		const holdout = isHoldout(site, visitorKey);
		const stored = this.existing();
		const known = stored ? this.knowledge() : undefined;
		const reached = (known ? this.progressOf(known).get(journey.id) : undefined) ?? new Map<string, number>();
		const visitor = {
			id: key.id,
			journey: journey.id,
			completed: journey.steps.filter((step) => reached.has(step.id)).map((step) => step.id),
			progress: journeyProgress(journey, reached),
			holdout,
		};
		if (holdout) return { visitor, ctas: [], ttl: NEXT_TTL_SECONDS };
		// A step the visitor has done counts as done for CTAs even when the journey's order
		// has not credited it yet: nobody should be asked to create the account they have.
		const done = known ? stepEvidence(journey, ruleHitTimes(this.hitsOf(known)), reached) : reached;
		const state = { reached: done, exposure: known ? this.exposure(known) : new Map<string, CtaExposure>() };
		const eligible = eligibleCtas(site, journey, state, input, input.now);
		const random = seededRandom(dailySeed(site.id, visitorKey, input.now));
		const ranked = rankCtas(journey, eligible, state, input.stats, random).slice(0, input.limit);
		return {
			visitor,
			ctas: ranked.map(({ cta, variant, score, reason }) => ({
				id: cta.id,
				variant: variant.id,
				step: cta.step,
				title: variant.title,
				body: variant.body,
				href: variant.href,
				placement: cta.placement,
				dismissible: cta.dismissible,
				score,
				reason,
			})),
			ttl: NEXT_TTL_SECONDS,
		};
	}

	private localProfile(site: SiteConfig, eventLimit: number): VisitorProfile | null {
		const visitor = this.visitorRow();
		if (!visitor) return null;
		const progress = this.progressOf(this.knowledge());
		const iso = (time: number | null) => (time === null ? null : new Date(time).toISOString());

		return {
			id: visitor.id,
			userId: visitor.kind === "user" ? visitor.id : visitor.user_id,
			anonymousIds: this.optional
				.read<{ id: string }>("merged_sources", "SELECT id FROM merged_sources WHERE kind = 'anonymous' ORDER BY id")
				.map((row) => row.id),
			firstSeen: new Date(visitor.first_seen).toISOString(),
			lastSeen: new Date(visitor.last_seen).toISOString(),
			eventCount: visitor.event_count,
			storageBytes: this.ctx.storage.sql.databaseSize,
			eventCounts: this.sql
				.all<{ type: string; name: string; count: number }>("SELECT type, name, count FROM event_counts ORDER BY count DESC, type, name")
				.map((row) => ({ ...row, name: row.name || null })),
			journeys: site.journeys.map((journey) => {
				const reached = progress.get(journey.id) ?? new Map<string, number>();
				const order = journey.steps.map((step) => step.id);
				const completed = [...reached]
					.filter(([step]) => order.includes(step))
					.sort(([a, atA], [b, atB]) => atA - atB || order.indexOf(a) - order.indexOf(b))
					.map(([step, at]) => ({ step, at: new Date(at).toISOString() }));
				return { id: journey.id, completed, progress: journeyProgress(journey, reached) };
			}),
			events: this.sql
				.all<{ body: string; received_at: number }>(
					"SELECT body, received_at FROM events ORDER BY timestamp DESC, message_id DESC LIMIT ?",
					eventLimit,
				)
				.map((row) => ({ ...(JSON.parse(row.body) as Record<string, unknown>), receivedAt: iso(row.received_at) })),
			ctas: this.optional
				.read<ExposureRow>("cta_exposure", "SELECT * FROM cta_exposure ORDER BY last_viewed_at DESC, cta_id, variant_id")
				.map((row) => ({
					id: row.cta_id,
					variant: row.variant_id || null,
					views: row.views,
					clicks: row.clicks,
					dismissed: row.dismissals > 0,
					firstViewedAt: iso(row.first_viewed_at),
					lastViewedAt: iso(row.last_viewed_at),
					lastClickedAt: iso(row.last_clicked_at),
					dismissedAt: iso(row.dismissed_at),
				})),
		};
	}

	/** Brings the database to the current schema; a database that had none starts with nothing to read. */
	private ensureSchema(): void {
		if (this.schemaReady) return;
		this.optional.forget();
		if (migrate(this.sql, MIGRATIONS, VISITOR_SCHEMA)) {
			this.known = { forward: null, firstTouch: null, historySize: 0, hits: new Map(), progress: new Map(), rollup: new Map(), exposures: [], touches: [] };
		}
		this.schemaReady = true;
	}

	/**
	 * Whether anything was ever stored, bringing an existing database to the current schema.
	 * Reads never create tables: probing for a visitor must leave no trace.
	 */
	private existing(): boolean {
		if (!this.schemaReady && !hasSchema(this.sql)) return false;
		this.ensureSchema();
		return true;
	}

	/** Records a CTA view, click or dismissal; returns whether the event was one. */
	private recordCtaFeedback(event: VisitorEvent): boolean {
		const feedback = ctaFeedback(event);
		if (!feedback) return false;
		const { action, ctaId, variantId } = feedback;
		const at = event.timestamp;
		// One upsert: a new row starts from the columns' defaults (zero counts, no times).
		const update = {
			viewed: [
				"views, first_viewed_at, last_viewed_at",
				"1, ?3, ?3",
				`views = views + 1, first_viewed_at = min(coalesce(first_viewed_at, ?3), ?3),
				 last_viewed_at = max(coalesce(last_viewed_at, ?3), ?3)`,
			],
			clicked: ["clicks, last_clicked_at", "1, ?3", "clicks = clicks + 1, last_clicked_at = max(coalesce(last_clicked_at, ?3), ?3)"],
			dismissed: ["dismissals, dismissed_at", "1, ?3", "dismissals = dismissals + 1, dismissed_at = min(coalesce(dismissed_at, ?3), ?3)"],
		}[action];
		this.optional.write(
			"cta_exposure",
			`INSERT INTO cta_exposure (cta_id, variant_id, ${update[0]}) VALUES (?1, ?2, ${update[1]})
			 ON CONFLICT (cta_id, variant_id) DO UPDATE SET ${update[2]}`,
			ctaId,
			variantId,
			at,
		);
		if (action !== "dismissed") {
			this.optional.write(
				"cta_touches",
				"INSERT OR IGNORE INTO cta_touches (message_id, cta_id, variant_id, at) VALUES (?, ?, ?, ?)",
				event.messageId,
				ctaId,
				variantId,
				at,
			);
		}
		return true;
	}

	/** What the visitor has seen of each CTA: views, last view, dismissal, variant last shown. */
	private exposure(known: Known): Map<string, CtaExposure> {
		const byCta = new Map<string, CtaExposure & { variantAt: number }>();
		for (const row of this.exposuresOf(known)) {
			const seen = byCta.get(row.cta_id) ?? { views: 0, lastViewedAt: null, dismissed: false, variant: null, variantAt: -1 };
			seen.views += row.views;
			if (row.last_viewed_at !== null && (seen.lastViewedAt === null || row.last_viewed_at > seen.lastViewedAt)) {
				seen.lastViewedAt = row.last_viewed_at;
			}
			seen.dismissed ||= row.dismissals > 0;
			const variantAt = row.last_viewed_at ?? -1;
			if (row.variant_id && row.views > 0 && variantAt > seen.variantAt) {
				seen.variant = row.variant_id;
				seen.variantAt = variantAt;
			}
			byCta.set(row.cta_id, seen);
		}
		return new Map([...byCta].map(([id, { variantAt: _, ...seen }]) => [id, seen]));
	}

	/**
	 * Keeps the earliest event's touch: out-of-order arrivals can move the first touch earlier.
	 * Returns whether it changed.
	 */
	private updateFirstTouch(known: Known, events: readonly VisitorEvent[]): boolean {
		let earliest: VisitorEvent | undefined;
		for (const event of events) {
			if (!earliest || event.timestamp < earliest.timestamp) earliest = event;
		}
		if (!earliest) return false;
		if (known.firstTouch === undefined) {
			known.firstTouch = this.sql.one<TouchRow>(FIRST_TOUCH_QUERY) ?? null;
		}
		if (known.firstTouch && earliest.timestamp >= known.firstTouch.timestamp) return false;
		const touch = { timestamp: earliest.timestamp, touch: JSON.stringify(earliest.touch) };
		this.sql.run("UPDATE visitor SET first_touch_at = ?, first_touch = ?", touch.timestamp, touch.touch);
		known.firstTouch = touch;
		return true;
	}

	/** Keeps the `HISTORY_LIMIT` newest events; counts them once per instance, then keeps count. */
	private trimHistory(known: Known): void {
		known.historySize ??= this.sql.one<{ n: number }>("SELECT count(*) AS n FROM events")?.n ?? 0;
		if (known.historySize <= HISTORY_LIMIT) return;
		this.sql.run(
			`DELETE FROM events WHERE rowid IN
			 (SELECT rowid FROM events ORDER BY timestamp DESC, message_id DESC LIMIT -1 OFFSET ?)`,
			HISTORY_LIMIT,
		);
		known.historySize = HISTORY_LIMIT;
	}

	/**
	 * Writes each journey's new contribution to the outbox when it differs from the last one
	 * sent; returns whether any was queued. The shard a visitor lands on is fixed at its first
	 * contribution, so growing the shard count never moves a visitor (and never counts one twice).
	 */
	private queueContributions(known: Known, model: SiteModel, key: VisitorKey): boolean {
		const { site } = model;
		const touchRow = known.firstTouch === undefined ? this.sql.one<TouchRow>(FIRST_TOUCH_QUERY) : known.firstTouch;
		known.firstTouch = touchRow ?? null;
		if (!touchRow) return false;
		const touch = JSON.parse(touchRow.touch) as FirstTouch;
		const progress = this.progressOf(known);
		const group = isHoldout(site, `${key.kind}:${key.id}`) ? "holdout" : "treated";
		const touches = (known.touches ??= this.optional
			.read<{ cta_id: string; variant_id: string; at: number }>("cta_touches", "SELECT cta_id, variant_id, at FROM cta_touches")
			.map((row): CtaTouch => ({ cta: row.cta_id, variant: row.variant_id, at: row.at })));
		const exposures = [...this.exposuresOf(known)].sort((a, b) => compareText(a.cta_id, b.cta_id) || compareText(a.variant_id, b.variant_id));
		const states = (known.rollup ??= new Map(this.sql.all<RollupStateRow>("SELECT journey, shard, version, contribution FROM rollup_state").map((row) => [row.journey, row])));
		let queued = false;
		for (const journey of site.journeys) {
			const reached = progress.get(journey.id) ?? new Map<string, number>();
			const ctaSteps = model.ctaSteps.get(journey.id) ?? new Map<string, string>();
			const credited = attributeSteps(ctaSteps, reached, touches, site.attributionWindowDays * 86_400_000);
			const ctas: CtaContribution[] = exposures
				.filter((row) => ctaSteps.has(row.cta_id) && row.variant_id !== "")
				.map((row) => ({
					cta: row.cta_id,
					variant: row.variant_id,
					day: utcDay(row.first_viewed_at ?? row.last_clicked_at ?? row.dismissed_at ?? 0),
					views: row.views,
					clicks: row.clicks,
					dismissals: row.dismissals,
					converted: credited.has(`${row.cta_id}\u0000${row.variant_id}`),
				}));
			const contribution = journeyContribution(journey, reached, touch, group, ctas);
			const serialized = contribution ? JSON.stringify(contribution) : null;
			const state = states.get(journey.id);
			if (state ? state.contribution === serialized : serialized === null) continue;
			const shard = state?.shard ?? shardOf(this.ctx.id.toString(), site.rollups.shards);
			const version = (state?.version ?? 0) + 1;
			this.queueContribution(journey.id, shard, version, serialized, site.rollups.retentionDays);
			states.set(journey.id, { journey: journey.id, shard, version, contribution: serialized });
			queued = true;
		}
		return queued;
	}

	/**
	 * Records a journey's new contribution as pending delivery, in the caller's block. A delivery
	 * already waiting (or backing off) keeps its due time and attempts; it sends the newest version.
	 */
	private queueContribution(journey: string, shard: number, version: number, contribution: string | null, retentionDays: number) {
		this.sql.tally("contribution queued");
		this.sql.run(
			`INSERT INTO rollup_state (journey, shard, version, contribution, retention_days, attempts, due_at) VALUES (?, ?, ?, ?, ?, 0, ?)
			 ON CONFLICT (journey) DO UPDATE SET version = excluded.version, contribution = excluded.contribution,
			   retention_days = excluded.retention_days, due_at = coalesce(due_at, excluded.due_at),
			   attempts = CASE WHEN due_at IS NULL THEN 0 ELSE attempts END`,
			journey,
			shard,
			version,
			contribution,
			retentionDays,
			Date.now() + FLUSH_DELAY_MS,
		);
	}

	/** When the visitor's state is to be erased, or null for a visitor never stored. */
	private retentionDeadline(): number | null {
		const row = this.sql.one<{ last_received: number; retention_days: number }>("SELECT last_received, retention_days FROM visitor");
		return row ? row.last_received + row.retention_days * 86_400_000 : null;
	}

	private progressOf(known: Known): Map<string, JourneyProgress> {
		if (known.progress) return known.progress;
		const byJourney = new Map<string, JourneyProgress>();
		for (const row of this.sql.all<ProgressRow>("SELECT journey, step, reached_at FROM progress")) {
			let steps = byJourney.get(row.journey);
			if (!steps) byJourney.set(row.journey, (steps = new Map()));
			steps.set(row.step, row.reached_at);
		}
		return (known.progress = byJourney);
	}

	private hitsOf(known: Known): Map<string, Hit[]> {
		if (known.hits) return known.hits;
		const hits = new Map<string, Hit[]>();
		for (const row of this.sql.all<HitRow & { message_id: string }>("SELECT rule_key, timestamp, message_id FROM rule_hits ORDER BY timestamp, message_id")) {
			let list = hits.get(row.rule_key);
			if (!list) hits.set(row.rule_key, (list = []));
			list.push({ timestamp: row.timestamp, messageId: row.message_id });
		}
		return (known.hits = hits);
	}

	private exposuresOf(known: Known): ExposureRow[] {
		return (known.exposures ??= this.optional.read<ExposureRow>("cta_exposure", "SELECT * FROM cta_exposure"));
	}

	/**
	 * Re-evaluates every journey from the stored hits, with the steps already credited as
	 * evidence (so an edited rule never takes progress away), and writes what changed.
	 */
	private updateProgress(known: Known, site: SiteConfig): ProgressChange[] {
		const hits = ruleHitTimes(this.hitsOf(known));
		const before = this.progressOf(known);
		const changes: ProgressChange[] = [];
		for (const journey of site.journeys) {
			const prior = before.get(journey.id) ?? new Map<string, number>();
			changes.push(...diffProgress(journey, prior, evaluateJourney(journey, hits, prior)));
		}
		for (const change of changes) {
			let steps = before.get(change.journey);
			if (!steps) before.set(change.journey, (steps = new Map()));
			if (change.to === null) {
				this.sql.run("DELETE FROM progress WHERE journey = ? AND step = ?", change.journey, change.step);
				steps.delete(change.step);
			} else {
				this.sql.run(
					`INSERT INTO progress (journey, step, reached_at) VALUES (?, ?, ?)
					 ON CONFLICT (journey, step) DO UPDATE SET reached_at = excluded.reached_at`,
					change.journey,
					change.step,
					change.to,
				);
				steps.set(change.step, change.to);
			}
		}
		return changes;
	}
}

function sameKey(a: VisitorKey, b: VisitorKey): boolean {
	return a.kind === b.kind && a.id === b.id;
}

function parseContribution(text: string | null): Contribution | null {
	return text === null ? null : (JSON.parse(text) as Contribution);
}

/** The hit times per rule, as journey evaluation reads them. */
function ruleHitTimes(hits: ReadonlyMap<string, readonly Hit[]>): RuleHits {
	return new Map([...hits].map(([rule, list]) => [rule, list.map((hit) => hit.timestamp)]));
}

/** SQLite's default (binary) order for the ids compared here. */
function compareText(a: string, b: string): number {
	return a < b ? -1 : a > b ? 1 : 0;
}
