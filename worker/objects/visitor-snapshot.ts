/**
 * Moving a visitor's state into another visitor: what an anonymous device hands over when it
 * is linked to a user (identify, alias), and how the user's object absorbs it. Both sides run
 * inside one synchronous block of their object, so each side commits whole or not at all.
 */
import { eventName } from "../core/events";
import type { VisitorKey } from "../core/events";
import type { LazyTables, Sql } from "./sql";

/** The visitor's tables created on first write (`OPTIONAL_TABLES` of the visitor object). */
export type OptionalTable = "cta_exposure" | "cta_touches" | "merged_sources";

export type ExposureRow = {
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

/** The visitor's first touch (the earliest event's source) from its row, where one is stored. */
export const FIRST_TOUCH_QUERY = "SELECT first_touch_at AS timestamp, first_touch AS touch FROM visitor WHERE first_touch IS NOT NULL";

/** Everything a visitor holds that its merged identity needs. */
export type VisitorSnapshot = {
	visitor: { first_seen: number; last_seen: number; event_count: number; last_received: number } | null;
	messageIds: string[];
	events: { message_id: string; timestamp: number; received_at: number; body: string }[];
	eventCounts: { type: string; name: string; count: number }[];
	ruleHits: { rule_key: string; timestamp: number; message_id: string }[];
	/** Steps already credited: evidence even where the rules that gave it have changed since. */
	progress: { journey: string; step: string; reached_at: number }[];
	exposures: ExposureRow[];
	touches: { message_id: string; cta_id: string; variant_id: string; at: number }[];
	firstTouch: { timestamp: number; touch: string } | null;
	/** Visitors merged into this one earlier: they become the new identity's too. */
	sources: VisitorKey[];
};

/** Tables that hold what a visitor did; emptied once a merged visitor's state has moved. */
const ACTIVITY_TABLES = ["message_ids", "events", "event_counts", "rule_hits", "progress"] as const;
const OPTIONAL_ACTIVITY_TABLES = ["cta_exposure", "cta_touches"] as const satisfies readonly OptionalTable[];

/**
 * Empties what a visitor did, once the identity it merged into has stored it: the activity
 * tables, and the first touch and counters of its row. The row and the link it forwards by stay.
 */
export function clearActivity(sql: Sql, optional: LazyTables<OptionalTable>): void {
	for (const table of ACTIVITY_TABLES) sql.run(`DELETE FROM ${table}`);
	for (const table of OPTIONAL_ACTIVITY_TABLES) optional.change(table, `DELETE FROM ${table}`);
	sql.run("UPDATE visitor SET event_count = 0, user_id = NULL, first_touch_at = NULL, first_touch = NULL");
}

export function takeSnapshot(sql: Sql, optional: LazyTables<OptionalTable>): VisitorSnapshot {
	const visitor = sql.one<NonNullable<VisitorSnapshot["visitor"]>>(
		"SELECT first_seen, last_seen, event_count, last_received FROM visitor WHERE event_count > 0",
	);
	return {
		visitor: visitor ?? null,
		messageIds: sql.all<{ message_id: string }>("SELECT message_id FROM message_ids").map((row) => row.message_id),
		events: sql.all<VisitorSnapshot["events"][number]>("SELECT message_id, timestamp, received_at, body FROM events"),
		eventCounts: sql.all<VisitorSnapshot["eventCounts"][number]>("SELECT type, name, count FROM event_counts"),
		ruleHits: sql.all<VisitorSnapshot["ruleHits"][number]>("SELECT rule_key, timestamp, message_id FROM rule_hits"),
		progress: sql.all<VisitorSnapshot["progress"][number]>("SELECT journey, step, reached_at FROM progress"),
		exposures: optional.read<ExposureRow>("cta_exposure", "SELECT * FROM cta_exposure"),
		touches: optional.read<VisitorSnapshot["touches"][number]>("cta_touches", "SELECT message_id, cta_id, variant_id, at FROM cta_touches"),
		firstTouch: sql.one<{ timestamp: number; touch: string }>(FIRST_TOUCH_QUERY) ?? null,
		sources: optional
			.read<{ kind: "user" | "anonymous"; id: string }>("merged_sources", "SELECT kind, id FROM merged_sources")
			.map(({ kind, id }) => ({ kind, id })),
	};
}

/**
 * Adds a snapshot to this visitor's state. An event stored on both sides (the same messageId
 * delivered under both ids) counts once. Returns the rule keys whose hits changed, which the
 * caller trims to the hits that can still matter.
 */
export function absorbSnapshot(sql: Sql, optional: LazyTables<OptionalTable>, snapshot: VisitorSnapshot): Set<string> {
	const touchedRules = new Set<string>();
	const ids = JSON.stringify(snapshot.messageIds);
	const shared = new Set(
		sql
			.all<{ value: string }>("SELECT value FROM json_each(?) WHERE value IN (SELECT message_id FROM message_ids)", ids)
			.map((row) => row.value),
	);
	sql.run("INSERT OR IGNORE INTO message_ids (message_id) SELECT value FROM json_each(?)", ids);

	if (snapshot.visitor) {
		const { first_seen, last_seen, event_count, last_received } = snapshot.visitor;
		sql.run(
			`UPDATE visitor SET first_seen = min(first_seen, ?1), last_seen = max(last_seen, ?2),
			   event_count = event_count + ?3, last_received = max(last_received, ?4)`,
			first_seen,
			last_seen,
			Math.max(0, event_count - shared.size),
			last_received,
		);
	}
	const sharedCounts = new Map<string, number>();
	for (const event of snapshot.events) {
		if (shared.has(event.message_id)) {
			const body = JSON.parse(event.body) as { type: string };
			const key = `${body.type}\u0000${eventName(body) ?? ""}`;
			sharedCounts.set(key, (sharedCounts.get(key) ?? 0) + 1);
			continue;
		}
		sql.run(
			"INSERT OR IGNORE INTO events (message_id, timestamp, received_at, body) VALUES (?, ?, ?, ?)",
			event.message_id,
			event.timestamp,
			event.received_at,
			event.body,
		);
	}
	for (const { type, name, count } of snapshot.eventCounts) {
		const added = count - (sharedCounts.get(`${type}\u0000${name}`) ?? 0);
		if (added <= 0) continue;
		sql.run(
			`INSERT INTO event_counts (type, name, count) VALUES (?, ?, ?)
			 ON CONFLICT (type, name) DO UPDATE SET count = count + excluded.count`,
			type,
			name,
			added,
		);
	}
	for (const hit of snapshot.ruleHits) {
		sql.run("INSERT OR IGNORE INTO rule_hits (rule_key, timestamp, message_id) VALUES (?, ?, ?)", hit.rule_key, hit.timestamp, hit.message_id);
		touchedRules.add(hit.rule_key);
	}
	for (const row of snapshot.progress) {
		// The earliest first-reached time of either side wins; the journey is evaluated again after.
		sql.run(
			`INSERT INTO progress (journey, step, reached_at) VALUES (?, ?, ?)
			 ON CONFLICT (journey, step) DO UPDATE SET reached_at = min(reached_at, excluded.reached_at)`,
			row.journey,
			row.step,
			row.reached_at,
		);
	}
	for (const row of snapshot.exposures) {
		optional.write(
			"cta_exposure",
			`INSERT INTO cta_exposure (cta_id, variant_id, views, clicks, dismissals, first_viewed_at, last_viewed_at, last_clicked_at, dismissed_at)
			 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
			 ON CONFLICT (cta_id, variant_id) DO UPDATE SET
			   views = views + excluded.views, clicks = clicks + excluded.clicks, dismissals = dismissals + excluded.dismissals,
			   first_viewed_at = min(coalesce(first_viewed_at, excluded.first_viewed_at), coalesce(excluded.first_viewed_at, first_viewed_at)),
			   last_viewed_at = max(coalesce(last_viewed_at, excluded.last_viewed_at), coalesce(excluded.last_viewed_at, last_viewed_at)),
			   last_clicked_at = max(coalesce(last_clicked_at, excluded.last_clicked_at), coalesce(excluded.last_clicked_at, last_clicked_at)),
			   dismissed_at = min(coalesce(dismissed_at, excluded.dismissed_at), coalesce(excluded.dismissed_at, dismissed_at))`,
			row.cta_id,
			row.variant_id,
			row.views,
			row.clicks,
			row.dismissals,
			row.first_viewed_at,
			row.last_viewed_at,
			row.last_clicked_at,
			row.dismissed_at,
		);
	}
	for (const touch of snapshot.touches) {
		optional.write(
			"cta_touches",
			"INSERT OR IGNORE INTO cta_touches (message_id, cta_id, variant_id, at) VALUES (?, ?, ?, ?)",
			touch.message_id,
			touch.cta_id,
			touch.variant_id,
			touch.at,
		);
	}
	if (snapshot.firstTouch) {
		// The earliest touch of either side is where the person came from.
		sql.run(
			"UPDATE visitor SET first_touch_at = ?1, first_touch = ?2 WHERE first_touch_at IS NULL OR ?1 < first_touch_at",
			snapshot.firstTouch.timestamp,
			snapshot.firstTouch.touch,
		);
	}
	return touchedRules;
}
