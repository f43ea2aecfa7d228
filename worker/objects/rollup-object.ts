/**
 * One shard of a journey's rollups (per site, journey and shard). Keeps each visitor's latest
 * contribution, so a replaced one is subtracted exactly, and the counters funnels read.
 * Versions make delivery idempotent: a replayed or stale update changes nothing.
 */
import { DurableObject } from "cloudflare:workers";
import { BREAKDOWNS } from "../core/first-touch";
import {
	addDays,
	contributionRows,
	OTHER,
	utcDay,
	type Contribution,
	type Dimension,
	type CtaMetric,
	type ShardFunnel,
	type ShardTrend,
} from "../core/rollup";
import { isolateUsage, migrate, Sql, type IsolateUsage, type Migrations, type SqlUsage } from "./sql";

/** Distinct breakdown values a shard keeps per cohort day and dimension; later ones are `(other)`. */
export const VALUES_PER_DAY = 50;
const DAY_MS = 86_400_000;

const MIGRATIONS: Migrations = [
	`CREATE TABLE settings (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), retention_days INTEGER NOT NULL);
	 CREATE TABLE contributions (
		visitor TEXT PRIMARY KEY, version INTEGER NOT NULL, cohort_day TEXT, raw_touch TEXT, contribution TEXT
	 );
	 CREATE INDEX contributions_by_day ON contributions (cohort_day);
	 CREATE TABLE funnel (
		cohort_day TEXT NOT NULL, dim TEXT NOT NULL, step TEXT NOT NULL, value TEXT NOT NULL, visitors INTEGER NOT NULL,
		PRIMARY KEY (cohort_day, dim, step, value)
	 ) WITHOUT ROWID;
	 CREATE TABLE histograms (
		cohort_day TEXT NOT NULL, dim TEXT NOT NULL, kind TEXT NOT NULL, step TEXT NOT NULL, value TEXT NOT NULL,
		bucket INTEGER NOT NULL, count INTEGER NOT NULL,
		PRIMARY KEY (cohort_day, dim, kind, step, value, bucket)
	 ) WITHOUT ROWID;
	 CREATE TABLE trend (day TEXT NOT NULL, step TEXT NOT NULL, reaches INTEGER NOT NULL, PRIMARY KEY (day, step)) WITHOUT ROWID;
	 CREATE TABLE breakdown_values (
		cohort_day TEXT NOT NULL, dim TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (cohort_day, dim, value)
	 ) WITHOUT ROWID;`,
	// Per CTA variant, by the day visitors first saw it: views, viewers, clicks, conversions, …
	`CREATE TABLE cta_counters (
		day TEXT NOT NULL, cta TEXT NOT NULL, variant TEXT NOT NULL, metric TEXT NOT NULL, amount INTEGER NOT NULL,
		PRIMARY KEY (day, cta, variant, metric)
	 ) WITHOUT ROWID;`,
	// A visitor's contribution is kept until every row it added has aged out (its last day), so
	// a later update can still subtract exactly what is left of it.
	`ALTER TABLE contributions ADD COLUMN last_day TEXT;
	 DROP INDEX contributions_by_day;
	 CREATE INDEX contributions_by_last_day ON contributions (last_day);`,
];

/** A visitor's new contribution (null: the visitor no longer counts), with its version. */
export type RollupUpdate = { visitor: string; version: number; contribution: Contribution | null };
export type ApplyInput = { retentionDays: number; updates: readonly RollupUpdate[] };


type StoredContribution = { version: number; cohort_day: string | null; raw_touch: string | null; contribution: string | null };

export class RollupObject extends DurableObject<Env> {
	private readonly sql: Sql;
	/** The retention this instance last stored in `settings`: written again only when it changes. */
	private storedRetentionDays: number | undefined;
	/** Whether this instance has seen the retention alarm set (its handler always re-arms it). */
	private alarmArmed = false;
	/** Breakdown values admitted per cohort day and dimension, as far as this instance has read them. */
	private admitted = new Map<string, Set<string>>();

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = new Sql(ctx.storage.sql, "rollup");
		migrate(this.sql, MIGRATIONS);
	}

	/** Applies updates newer than what is stored; returns how many changed anything. */
	async apply({ retentionDays, updates }: ApplyInput): Promise<{ applied: number }> {
		this.sql.tally("apply");
		let applied = 0;
		const cutoff = retentionCutoff(Date.now(), retentionDays);
		for (const update of updates) if (this.applyOne(update, cutoff)) applied++;
		if (this.storedRetentionDays !== retentionDays) {
			this.sql.run(
				`INSERT INTO settings (singleton, retention_days) VALUES (1, ?)
				 ON CONFLICT (singleton) DO UPDATE SET retention_days = excluded.retention_days`,
				retentionDays,
			);
			this.storedRetentionDays = retentionDays;
		}
		if (!this.alarmArmed) {
			if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(nextRetentionRun(Date.now()));
			this.alarmArmed = true;
		}
		return { applied };
	}

	/** This shard's SQL work since it started and its database size, and the isolate's totals (for `npm run bench`). */
	usage(): SqlUsage & { isolate: IsolateUsage } {
		return { ...this.sql.usage(), isolate: isolateUsage() };
	}

	/** Drops a visitor's link to its counts (erasure): the counts stay, anonymous. */
	forget(visitor: string): void {
		this.sql.run("DELETE FROM contributions WHERE visitor = ?", visitor);
	}

	/** Counts for visitors whose journey began between `from` and `to` (inclusive days). */
	funnel(from: string, to: string, dim: Dimension): ShardFunnel {
		this.sql.tally("funnel");
		const visitors = this.sql.all<ShardFunnel["visitors"][number]>(
			`SELECT step, value, sum(visitors) AS visitors FROM funnel
			 WHERE dim = ? AND cohort_day BETWEEN ? AND ? GROUP BY step, value`,
			dim,
			from,
			to,
		);
		const histograms = this.sql.all<ShardFunnel["histograms"][number]>(
			`SELECT kind, step, value, bucket, sum(count) AS count FROM histograms
			 WHERE dim = ? AND cohort_day BETWEEN ? AND ? GROUP BY kind, step, value, bucket`,
			dim,
			from,
			to,
		);
		return { visitors, histograms };
	}

	/** CTA counters per variant, for variants first seen between `from` and `to`. */
	ctaCounters(from: string, to: string): ShardCtaCounters {
		this.sql.tally("ctaCounters");
		return this.sql.all<ShardCtaCounters[number]>(
			`SELECT cta, variant, metric, sum(amount) AS amount FROM cta_counters
			 WHERE day BETWEEN ? AND ? GROUP BY cta, variant, metric`,
			from,
			to,
		);
	}

	/**
	 * What the CTA ranking learns from, in one call: the visitors per step of the human cohorts
	 * between `from` and `to`, and the CTA counters of those days. Every isolate that answers
	 * `GET /v1/next` asks every shard for this once per cache period, so it is one read, not three.
	 */
	rankingInputs(from: string, to: string): ShardRankingInputs {
		this.sql.tally("rankingInputs");
		return {
			steps: this.sql.all<ShardRankingInputs["steps"][number]>(
				"SELECT step, sum(visitors) AS visitors FROM funnel WHERE dim = '' AND cohort_day BETWEEN ? AND ? GROUP BY step",
				from,
				to,
			),
			counters: this.ctaCounters(from, to),
		};
	}

	/** Reaches per step per activity day between `from` and `to`. */
	trend(from: string, to: string): ShardTrend {
		this.sql.tally("trend");
		return this.sql.all<ShardTrend[number]>("SELECT day, step, reaches FROM trend WHERE day BETWEEN ? AND ? ORDER BY day", from, to);
	}

	/** Retention: drops cohort days and activity days older than the site keeps. */
	override async alarm(): Promise<void> {
		this.sql.tally("alarm");
		const retentionDays = this.sql.one<{ retention_days: number }>("SELECT retention_days FROM settings")?.retention_days;
		if (retentionDays === undefined) return;
		// Re-armed first: a failure below is retried tomorrow even after the runtime stops retrying.
		await this.ctx.storage.setAlarm(nextRetentionRun(Date.now()));
		const cutoff = retentionCutoff(Date.now(), retentionDays);
		for (const table of ["funnel", "histograms", "breakdown_values"]) {
			this.sql.run(`DELETE FROM ${table} WHERE cohort_day < ?`, cutoff);
		}
		this.sql.run("DELETE FROM contributions WHERE last_day < ?", cutoff);
		this.sql.run("DELETE FROM trend WHERE day < ?", cutoff);
		this.sql.run("DELETE FROM cta_counters WHERE day < ?", cutoff);
		this.admitted.clear();
	}

	/**
	 * Replaces a visitor's contribution: subtracts the old rows, adds the new. Rows of days
	 * before `cutoff` are left alone on both sides: retention has dropped (or will drop) them.
	 */
	private applyOne(update: RollupUpdate, cutoff: string): boolean {
		const stored = this.sql.one<StoredContribution>(
			"SELECT version, cohort_day, raw_touch, contribution FROM contributions WHERE visitor = ?",
			update.visitor,
		);
		if (stored && stored.version >= update.version) return false;
		const before = stored?.contribution ? (JSON.parse(stored.contribution) as Contribution) : null;
		const rawBefore = stored?.raw_touch ? (JSON.parse(stored.raw_touch) as Contribution["touch"]) : null;
		const after = update.contribution ? this.capBreakdowns(update.contribution, before, rawBefore, cutoff) : null;

		const deltas = new Map<string, { table: Counter; key: unknown[]; delta: number }>();
		const add = (contribution: Contribution, sign: 1 | -1) => {
			const rows = contributionRows(contribution);
			const push = (table: Counter, key: unknown[], amount = 1) => {
				if ((key[0] as string) < cutoff) return;
				const id = `${table}\u0000${key.join("\u0000")}`;
				const entry = deltas.get(id) ?? { table, key, delta: 0 };
				entry.delta += sign * amount;
				deltas.set(id, entry);
			};
			for (const r of rows.funnel) push("funnel", [r.cohortDay, r.dim, r.step, r.value]);
			for (const r of rows.histograms) push("histograms", [r.cohortDay, r.dim, r.kind, r.step, r.value, r.bucket]);
			for (const r of rows.trend) push("trend", [r.day, r.step]);
			for (const r of rows.ctas) push("cta_counters", [r.day, r.cta, r.variant, r.metric], r.amount);
		};
		if (before) add(before, -1);
		if (after) add(after, 1);
		const changed = new Map<Counter, { key: unknown[]; delta: number }[]>();
		for (const { table, key, delta } of deltas.values()) {
			if (delta === 0) continue;
			let list = changed.get(table);
			if (!list) changed.set(table, (list = []));
			list.push({ key, delta });
		}
		for (const [table, list] of changed) this.addToCounters(table, list);

		this.sql.run(
			`INSERT INTO contributions (visitor, version, cohort_day, raw_touch, contribution, last_day) VALUES (?, ?, ?, ?, ?, ?)
			 ON CONFLICT (visitor) DO UPDATE SET version = excluded.version, cohort_day = excluded.cohort_day,
			   raw_touch = excluded.raw_touch, contribution = excluded.contribution, last_day = excluded.last_day`,
			update.visitor,
			update.version,
			after?.cohortDay ?? null,
			update.contribution ? JSON.stringify(update.contribution.touch) : null,
			after ? JSON.stringify(after) : null,
			(after && lastDayOf(after)) ?? utcDay(Date.now()),
		);
		return true;
	}

	/**
	 * Bounded cardinality: each cohort day keeps the first `VALUES_PER_DAY` values of a
	 * breakdown, later ones count as `(other)`. A visitor keeps the value it was counted under
	 * while its day and raw value stay the same, so subtracting it later is exact.
	 */
	private capBreakdowns(
		next: Contribution,
		before: Contribution | null,
		rawBefore: Contribution["touch"] | null,
		cutoff: string,
	): Contribution {
		const cohortDay = next.cohortDay;
		// A cohort past retention adds no rows, so it needs no slot for its values either.
		if (cohortDay === null || cohortDay < cutoff) return next;
		const touch = { ...next.touch };
		for (const dim of BREAKDOWNS) {
			const raw = next.touch[dim];
			if (before && rawBefore && before.cohortDay === next.cohortDay && rawBefore[dim] === raw) {
				touch[dim] = before.touch[dim];
				continue;
			}
			touch[dim] = this.admitValue(cohortDay, dim, raw);
		}
		return { ...next, touch };
	}

	private admitValue(cohortDay: string, dim: string, value: string): string {
		// The values of a day and dimension are read once per instance (at most VALUES_PER_DAY of
		// them): a visitor's first update then costs no read per dimension.
		const slot = `${cohortDay}\u0000${dim}`;
		let values = this.admitted.get(slot);
		if (!values) {
			values = new Set(
				this.sql
					.all<{ value: string }>("SELECT value FROM breakdown_values WHERE cohort_day = ? AND dim = ?", cohortDay, dim)
					.map((row) => row.value),
			);
			// Bounded: days and dimensions a long-lived shard has seen come back from storage.
			if (this.admitted.size >= 1_000) this.admitted.clear();
			this.admitted.set(slot, values);
		}
		if (values.has(value)) return value;
		if (values.size >= VALUES_PER_DAY) return OTHER;
		this.sql.run("INSERT INTO breakdown_values (cohort_day, dim, value) VALUES (?, ?, ?)", cohortDay, dim, value);
		values.add(value);
		return value;
	}

	/**
	 * Adds each delta to its counter row, and drops rows a subtraction took to zero: one statement
	 * per table for all of an update's rows (a typical update moves about twenty).
	 */
	private addToCounters(table: Counter, changes: readonly { key: unknown[]; delta: number }[]): void {
		const spec = COUNTERS[table];
		const columns = spec.keys.split(", ");
		const fields = columns.map((_, i) => `value ->> ${i}`).join(", ");
		this.sql.run(
			`INSERT INTO ${table} (${spec.keys}, ${spec.column})
			 SELECT ${fields}, value ->> ${columns.length} FROM json_each(?) WHERE true
			 ON CONFLICT DO UPDATE SET ${spec.column} = ${spec.column} + excluded.${spec.column}`,
			JSON.stringify(changes.map(({ key, delta }) => [...key, delta])),
		);
		const lowered = changes.filter(({ delta }) => delta < 0);
		if (lowered.length) {
			this.sql.run(
				`DELETE FROM ${table} WHERE (${spec.keys}) IN (SELECT ${fields} FROM json_each(?)) AND ${spec.column} <= 0`,
				JSON.stringify(lowered.map(({ key }) => key)),
			);
		}
	}
}

const COUNTERS = {
	funnel: { keys: "cohort_day, dim, step, value", column: "visitors" },
	histograms: { keys: "cohort_day, dim, kind, step, value, bucket", column: "count" },
	trend: { keys: "day, step", column: "reaches" },
	cta_counters: { keys: "day, cta, variant, metric", column: "amount" },
} as const;
type Counter = keyof typeof COUNTERS;

export type ShardRankingInputs = { steps: { step: string; visitors: number }[]; counters: ShardCtaCounters };
export type ShardCtaCounters = { cta: string; variant: string; metric: CtaMetric; amount: number }[];

/** The latest day any row of a contribution is counted under, or null when it adds none. */
function lastDayOf(contribution: Contribution): string | null {
	const rows = contributionRows(contribution);
	const days = [...rows.funnel.map((r) => r.cohortDay), ...rows.trend.map((r) => r.day), ...rows.ctas.map((r) => r.day)];
	return days.length ? days.reduce((a, b) => (b > a ? b : a)) : null;
}

/** The first day retention keeps. */
function retentionCutoff(now: number, retentionDays: number): string {
	return utcDay(now - retentionDays * DAY_MS);
}

/** Retention runs shortly after each UTC midnight. */
function nextRetentionRun(now: number): number {
	return Date.parse(`${addDays(utcDay(now), 1)}T00:05:00Z`);
}
