/**
 * One Durable Object per (site, visitor): the visitor's events, journey progress and CTA
 * exposure in SQLite. Thin around the pure journey logic in `core/journey`.
 */
import { DurableObject } from "cloudflare:workers";
import type { SiteConfig } from "../../schema";
import type { VisitorEvent, VisitorKey } from "../core/events";
import {
	diffProgress,
	evaluateJourney,
	journeyProgress,
	matchRule,
	siteRules,
	type JourneyProgress,
	type ProgressChange,
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
import { seededRandom } from "../core/random";
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
import { rollupStub } from "./names";
import { hasTables, migrate, Sql, type Migrations, type SqlUsage } from "./sql";

/** Events kept in full per visitor; counters stay exact beyond it. */
export const HISTORY_LIMIT = 200;

/** Rollup updates wait this long, so a burst of events becomes one update per journey. */
export const FLUSH_DELAY_MS = 1_000;
const MAX_BACKOFF_MS = 10 * 60_000;

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
];

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
	site: SiteConfig;
	key: VisitorKey;
	events: readonly VisitorEvent[];
	/** Answer `next` too, after the events are stored (`POST /v1/collect?next=1`). */
	next?: NextInput | undefined;
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

type VisitorRow = {
	site: string;
	kind: string;
	id: string;
	user_id: string | null;
	first_seen: number;
	last_seen: number;
	event_count: number;
};
type ProgressRow = { journey: string; step: string; reached_at: number };
type HitRow = { rule_key: string; timestamp: number };
type RollupStateRow = { journey: string; shard: number; version: number; contribution: string | null };
type OutboxRow = {
	journey: string;
	site: string;
	shard: number;
	version: number;
	contribution: string | null;
	retention_days: number;
	attempts: number;
};
type ExposureRow = {
	cta_id: string;
	variant_id: string;
	views: number;
	clicks: number;
	dismissals: number;
	first_viewed_at: number | null;
	last_viewed_at: number | null;
	last_clicked_at: number | null;
	dismissed_at: number | null;
};

export class VisitorObject extends DurableObject<Env> {
	private readonly sql: Sql;
	private schemaReady = false;
	/** Whether this instance already set the alarm that flushes the outbox. */
	private flushScheduled = false;
	/** Whether this instance set the alarm that erases the visitor once retention passes. */
	private retentionArmed = false;
	/** In memory on purpose: abuse protection needs no durability, and a restart forgives. */
	private bucket: TokenBucket | undefined;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = new Sql(ctx.storage.sql);
	}

	/**
	 * Stores new events (a `messageId` already stored counts as a duplicate) and re-evaluates
	 * the journeys. Everything, the rollup outbox and its alarm included, happens in one
	 * synchronous block, so it commits atomically: nothing on this path waits for a rollup.
	 */
	ingest({ site, key, events, next }: IngestInput): IngestResult {
		const taken = takeTokens(this.bucket, events.length, Date.now(), site.visitorRateLimit);
		this.bucket = taken.bucket;
		if (!taken.allowed) return { accepted: 0, duplicates: 0, changes: [], retryAfterSeconds: taken.retryAfterSeconds };
		const result = this.store(site, key, events);
		return next ? { ...result, next: this.next(site, key, next) } : result;
	}

	/**
	 * The ranked CTAs for this visitor now: eligibility from their own state, ranking from the
	 * statistics passed in, draws seeded by visitor and day. Reads only: a visitor never seen
	 * gets an answer and no storage.
	 */
	next(site: SiteConfig, key: VisitorKey, input: NextInput): NextAnswer {
		const journey = site.journeys.find((j) => j.id === input.journey) ?? site.journeys[0]!;
		const visitorKey = `${key.kind}:${key.id}`;
		const holdout = isHoldout(site, visitorKey);
		const reached = (this.readable() ? this.storedProgress().get(journey.id) : undefined) ?? new Map<string, number>();
		const visitor = {
			id: key.id,
			journey: journey.id,
			completed: journey.steps.filter((step) => reached.has(step.id)).map((step) => step.id),
			progress: journeyProgress(journey, reached),
			holdout,
		};
		if (holdout) return { visitor, ctas: [], ttl: NEXT_TTL_SECONDS };
		const state = { reached, exposure: this.readable() ? this.exposure() : new Map<string, CtaExposure>() };
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

	private store(site: SiteConfig, key: VisitorKey, events: readonly VisitorEvent[]): IngestResult {
		this.ensureSchema();
		const rules = siteRules(site);
		const touchedRules = new Set<string>();
		let accepted = 0;
		let duplicates = 0;

		for (const event of events) {
			if (this.sql.run("INSERT OR IGNORE INTO message_ids (message_id) VALUES (?)", event.messageId) === 0) {
				duplicates++;
				continue;
			}
			accepted++;
			this.recordEvent(site, key, event);
			for (const [ruleKey, rule] of rules) {
				if (!matchRule(rule, event)) continue;
				this.sql.run(
					"INSERT OR IGNORE INTO rule_hits (rule_key, timestamp, message_id) VALUES (?, ?, ?)",
					ruleKey,
					event.timestamp,
					event.messageId,
				);
				touchedRules.add(ruleKey);
			}
		}
		if (accepted === 0) return { accepted, duplicates, changes: [] };
		this.updateFirstTouch(events);

		for (const ruleKey of touchedRules) {
			// Only the earliest `count` hits of a rule can ever decide when a step is reached.
			this.sql.run(
				`DELETE FROM rule_hits WHERE rule_key = ?1 AND message_id NOT IN
				 (SELECT message_id FROM rule_hits WHERE rule_key = ?1 ORDER BY timestamp, message_id LIMIT ?2)`,
				ruleKey,
				rules.get(ruleKey)?.count ?? 1,
			);
		}
		this.sql.run(
			`DELETE FROM events WHERE message_id IN
			 (SELECT message_id FROM events ORDER BY timestamp DESC, message_id DESC LIMIT -1 OFFSET ?)`,
			HISTORY_LIMIT,
		);
		const changes = this.updateProgress(site);
		this.queueContributions(site, key);
		if (!this.flushScheduled && !this.retentionArmed) this.armRetention();
		return { accepted, duplicates, changes };
	}

	/**
	 * Erases the visitor once the site's retention has passed since their last event; otherwise
	 * flushes the outbox to the rollup shards (failed deliveries retry with backoff) and re-arms
	 * itself for the retention deadline.
	 */
	override async alarm(): Promise<void> {
		this.flushScheduled = false;
		this.retentionArmed = false;
		if (!this.readable()) return;
		const expires = this.retentionDeadline();
		if (expires !== null && Date.now() >= expires) {
			await this.erase();
			return;
		}
		const pending = this.sql.all<OutboxRow>("SELECT * FROM outbox");
		const visitor = this.ctx.id.toString();
		const results = await Promise.allSettled(
			pending.map((row) =>
				rollupStub(this.env, row.site, row.journey, row.shard).apply({
					retentionDays: row.retention_days,
					updates: [{ visitor, version: row.version, contribution: parseContribution(row.contribution) }],
				}),
			),
		);
		let attempts = 0;
		results.forEach((result, i) => {
			const row = pending[i]!;
			if (result.status === "fulfilled") {
				// A newer version queued while this one was in flight stays for the next flush.
				this.sql.run("DELETE FROM outbox WHERE journey = ? AND version = ?", row.journey, row.version);
			} else {
				attempts = Math.max(attempts, row.attempts + 1);
				this.sql.run("UPDATE outbox SET attempts = attempts + 1 WHERE journey = ?", row.journey);
				console.error(JSON.stringify({ msg: "rollup delivery failed", journey: row.journey, shard: row.shard, error: String(result.reason) }));
			}
		});
		if (attempts > 0) {
			const backoff = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** attempts) * (0.75 + Math.random() / 2);
			await this.ctx.storage.setAlarm(Date.now() + backoff);
			this.flushScheduled = true;
		} else if (this.sql.one("SELECT 1 AS found FROM outbox")) {
			this.scheduleFlush();
		} else {
			this.armRetention();
		}
	}

	/** Rows read and written since this instance started, and the database size (for `npm run bench`). */
	usage(): SqlUsage {
		return this.sql.usage();
	}

	/** Everything an operator may see about the visitor, or null for one never seen. */
	profile(site: SiteConfig, options: { eventLimit: number }): VisitorProfile | null {
		if (!this.readable()) return null;
		const visitor = this.sql.one<VisitorRow>("SELECT * FROM visitor");
		if (!visitor) return null;
		const progress = this.storedProgress();
		const iso = (time: number | null) => (time === null ? null : new Date(time).toISOString());

		return {
			id: visitor.id,
			userId: visitor.kind === "user" ? visitor.id : visitor.user_id,
			anonymousIds: this.sql
				.all<{ anonymous_id: string }>("SELECT anonymous_id FROM anonymous_ids ORDER BY anonymous_id")
				.map((row) => row.anonymous_id),
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
					options.eventLimit,
				)
				.map((row) => ({ ...(JSON.parse(row.body) as Record<string, unknown>), receivedAt: iso(row.received_at) })),
			ctas: this.sql
				.all<ExposureRow>("SELECT * FROM cta_exposure ORDER BY last_viewed_at DESC, cta_id, variant_id")
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

	/**
	 * Erases everything stored about the visitor. The rollup shards keep the counts but forget
	 * which visitor they came from. Returns whether there was anything.
	 */
	async erase(): Promise<boolean> {
		const existed = this.readable() && this.sql.one("SELECT 1 AS found FROM visitor") !== undefined;
		if (existed) {
			const site = this.sql.one<{ site: string }>("SELECT site FROM visitor")?.site ?? "";
			const visitor = this.ctx.id.toString();
			await Promise.all(
				this.sql
					.all<RollupStateRow>("SELECT * FROM rollup_state")
					.map((row) => rollupStub(this.env, site, row.journey, row.shard).forget(visitor)),
			);
		}
		await this.ctx.storage.deleteAlarm();
		this.flushScheduled = false;
		this.retentionArmed = false;
		await this.ctx.storage.deleteAll();
		this.schemaReady = false;
		return existed;
	}

	private ensureSchema(): void {
		if (this.schemaReady) return;
		migrate(this.sql, MIGRATIONS);
		this.schemaReady = true;
	}

	/** Reads never create tables: probing for a visitor must leave no trace. */
	private readable(): boolean {
		return this.schemaReady || hasTables(this.sql);
	}

	private recordEvent(site: SiteConfig, key: VisitorKey, event: VisitorEvent): void {
		this.sql.run(
			`INSERT INTO visitor (singleton, site, kind, id, user_id, first_seen, last_seen, event_count, last_received, retention_days)
			 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?5, 1, ?6, ?7)
			 ON CONFLICT (singleton) DO UPDATE SET
			   event_count = event_count + 1,
			   first_seen = min(first_seen, excluded.first_seen),
			   last_seen = max(last_seen, excluded.last_seen),
			   user_id = coalesce(excluded.user_id, user_id),
			   last_received = max(last_received, excluded.last_received),
			   retention_days = excluded.retention_days`,
			site.id,
			key.kind,
			key.id,
			event.userId,
			event.timestamp,
			event.receivedAt,
			site.visitorRetentionDays,
		);
		if (event.anonymousId !== null && key.kind === "user") {
			this.sql.run("INSERT OR IGNORE INTO anonymous_ids (anonymous_id) VALUES (?)", event.anonymousId);
		}
		this.sql.run(
			"INSERT INTO events (message_id, timestamp, received_at, body) VALUES (?, ?, ?, ?)",
			event.messageId,
			event.timestamp,
			event.receivedAt,
			JSON.stringify(event.body),
		);
		this.sql.run(
			`INSERT INTO event_counts (type, name, count) VALUES (?, ?, 1)
			 ON CONFLICT (type, name) DO UPDATE SET count = count + 1`,
			event.type,
			event.name ?? "",
		);
		const feedback = ctaFeedback(event);
		if (!feedback) return;
		this.recordCtaFeedback(feedback.action, feedback.ctaId, feedback.variantId, event.timestamp);
		if (feedback.action !== "dismissed") {
			this.sql.run(
				"INSERT OR IGNORE INTO cta_touches (message_id, cta_id, variant_id, at) VALUES (?, ?, ?, ?)",
				event.messageId,
				feedback.ctaId,
				feedback.variantId,
				event.timestamp,
			);
		}
	}

	/** What the visitor has seen of each CTA: views, last view, dismissal, variant last shown. */
	private exposure(): Map<string, CtaExposure> {
		const byCta = new Map<string, CtaExposure & { variantAt: number }>();
		for (const row of this.sql.all<ExposureRow>("SELECT * FROM cta_exposure")) {
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

	private recordCtaFeedback(action: "viewed" | "clicked" | "dismissed", ctaId: string, variantId: string, at: number) {
		this.sql.run(
			`INSERT INTO cta_exposure (cta_id, variant_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			ctaId,
			variantId,
		);
		const update = {
			viewed: `views = views + 1, first_viewed_at = min(coalesce(first_viewed_at, ?1), ?1),
			         last_viewed_at = max(coalesce(last_viewed_at, ?1), ?1)`,
			clicked: `clicks = clicks + 1, last_clicked_at = max(coalesce(last_clicked_at, ?1), ?1)`,
			dismissed: `dismissals = dismissals + 1, dismissed_at = min(coalesce(dismissed_at, ?1), ?1)`,
		}[action];
		this.sql.run(`UPDATE cta_exposure SET ${update} WHERE cta_id = ?2 AND variant_id = ?3`, at, ctaId, variantId);
	}

	/** Keeps the earliest event's touch: out-of-order arrivals can move the first touch earlier. */
	private updateFirstTouch(events: readonly VisitorEvent[]): void {
		const stored = this.sql.one<{ timestamp: number }>("SELECT timestamp FROM first_touch");
		let earliest: VisitorEvent | undefined;
		for (const event of events) {
			if (!earliest || event.timestamp < earliest.timestamp) earliest = event;
		}
		if (!earliest || (stored && stored.timestamp <= earliest.timestamp)) return;
		this.sql.run(
			`INSERT INTO first_touch (singleton, timestamp, touch) VALUES (1, ?, ?)
			 ON CONFLICT (singleton) DO UPDATE SET timestamp = excluded.timestamp, touch = excluded.touch`,
			earliest.timestamp,
			JSON.stringify(earliest.touch),
		);
	}

	/**
	 * Writes each journey's new contribution to the outbox when it differs from the last one
	 * sent. The shard a visitor lands on is fixed at its first contribution, so growing the
	 * shard count never moves a visitor (and never counts one twice).
	 */
	private queueContributions(site: SiteConfig, key: VisitorKey): void {
		const touchRow = this.sql.one<{ touch: string }>("SELECT touch FROM first_touch");
		if (!touchRow) return;
		const touch = JSON.parse(touchRow.touch) as FirstTouch;
		const progress = this.storedProgress();
		const group = isHoldout(site, `${key.kind}:${key.id}`) ? "holdout" : "treated";
		const touches = this.sql
			.all<{ cta_id: string; variant_id: string; at: number }>("SELECT cta_id, variant_id, at FROM cta_touches")
			.map((row): CtaTouch => ({ cta: row.cta_id, variant: row.variant_id, at: row.at }));
		const exposures = this.sql.all<ExposureRow>("SELECT * FROM cta_exposure ORDER BY cta_id, variant_id");
		let queued = false;
		for (const journey of site.journeys) {
			const reached = progress.get(journey.id) ?? new Map<string, number>();
			const ctaSteps = new Map(site.ctas.filter((cta) => cta.journey === journey.id).map((cta) => [cta.id, cta.step]));
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
			const state = this.sql.one<RollupStateRow>("SELECT * FROM rollup_state WHERE journey = ?", journey.id);
			if (state ? state.contribution === serialized : serialized === null) continue;
			const shard = state?.shard ?? shardOf(this.ctx.id.toString(), site.rollups.shards);
			const version = (state?.version ?? 0) + 1;
			this.sql.run(
				`INSERT INTO rollup_state (journey, shard, version, contribution) VALUES (?, ?, ?, ?)
				 ON CONFLICT (journey) DO UPDATE SET version = excluded.version, contribution = excluded.contribution`,
				journey.id,
				shard,
				version,
				serialized,
			);
			this.sql.run(
				`INSERT INTO outbox (journey, site, shard, version, contribution, retention_days) VALUES (?, ?, ?, ?, ?, ?)
				 ON CONFLICT (journey) DO UPDATE SET version = excluded.version, contribution = excluded.contribution,
				   retention_days = excluded.retention_days`,
				journey.id,
				site.id,
				shard,
				version,
				serialized,
				site.rollups.retentionDays,
			);
			queued = true;
		}
		if (queued) this.scheduleFlush();
	}

	/** When the visitor's state is to be erased, or null for a visitor never stored. */
	private retentionDeadline(): number | null {
		const row = this.sql.one<{ last_received: number; retention_days: number }>("SELECT last_received, retention_days FROM visitor");
		return row ? row.last_received + row.retention_days * 86_400_000 : null;
	}

	/** Sets the alarm to the retention deadline (an earlier flush alarm re-arms it when done). */
	private armRetention(): void {
		const expires = this.retentionDeadline();
		if (expires === null) return;
		this.retentionArmed = true;
		void this.ctx.storage.setAlarm(expires);
	}

	/** Part of the caller's synchronous block: the alarm commits with the outbox rows. */
	private scheduleFlush(): void {
		if (this.flushScheduled) return;
		this.flushScheduled = true;
		void this.ctx.storage.setAlarm(Date.now() + FLUSH_DELAY_MS);
	}

	private storedProgress(): Map<string, JourneyProgress> {
		const byJourney = new Map<string, JourneyProgress>();
		for (const row of this.sql.all<ProgressRow>("SELECT journey, step, reached_at FROM progress")) {
			let steps = byJourney.get(row.journey);
			if (!steps) byJourney.set(row.journey, (steps = new Map()));
			steps.set(row.step, row.reached_at);
		}
		return byJourney;
	}

	/** Re-evaluates every journey from the stored hits and writes what changed. */
	private updateProgress(site: SiteConfig): ProgressChange[] {
		const hits = new Map<string, number[]>();
		for (const row of this.sql.all<HitRow>("SELECT rule_key, timestamp FROM rule_hits ORDER BY timestamp, message_id")) {
			let times = hits.get(row.rule_key);
			if (!times) hits.set(row.rule_key, (times = []));
			times.push(row.timestamp);
		}
		const before = this.storedProgress();
		const changes: ProgressChange[] = [];
		for (const journey of site.journeys) {
			changes.push(...diffProgress(journey, before.get(journey.id) ?? new Map(), evaluateJourney(journey, hits)));
		}
		for (const change of changes) {
			if (change.to === null) {
				this.sql.run("DELETE FROM progress WHERE journey = ? AND step = ?", change.journey, change.step);
			} else {
				this.sql.run(
					`INSERT INTO progress (journey, step, reached_at) VALUES (?, ?, ?)
					 ON CONFLICT (journey, step) DO UPDATE SET reached_at = excluded.reached_at`,
					change.journey,
					change.step,
					change.to,
				);
			}
		}
		return changes;
	}
}

function parseContribution(text: string | null): Contribution | null {
	return text === null ? null : (JSON.parse(text) as Contribution);
}
