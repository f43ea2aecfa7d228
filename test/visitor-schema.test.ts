/**
 * A new visitor creates its tables from `VISITOR_SCHEMA` in one go; an existing one replays the
 * migrations it has not run. Both must end with the same schema, and an upgrade keeps the data.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { visitorStub } from "../worker/objects/names";
import { migrate, Sql } from "../worker/objects/sql";
import { OPTIONAL_TABLES, VISITOR_MIGRATIONS, VISITOR_SCHEMA } from "../worker/objects/visitor-object";
import { beacon, pageView, profileOf, track, uniqueId } from "./helpers";

type Column = { name: string; type: string; notnull: number; dflt_value: string | null; pk: number };

/** Tables with their columns, keys, indexes and whether they have a rowid: what queries can observe. */
function describeSchema(storage: SqlStorage) {
	const tables = storage
		.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' ORDER BY name")
		.toArray()
		.map(({ name }) => name);
	return tables.map((table) => ({
		table,
		columns: storage.exec<Column>(`PRAGMA table_info(${table})`).toArray().map(({ name, type, notnull, dflt_value, pk }) => ({ name, type, notnull, dflt_value, pk })),
		withoutRowid: storage.exec<{ wr: number }>(`PRAGMA table_list(${table})`).toArray()[0]?.wr,
		indexes: storage
			.exec<{ name: string; unique: number; origin: string }>(`PRAGMA index_list(${table})`)
			.toArray()
			.map(({ unique, origin }) => ({ unique, origin }))
			.sort((a, b) => a.origin.localeCompare(b.origin)),
	}));
}

const stub = () => visitorStub(env, "demo", { kind: "anonymous", id: uniqueId("schema") });

describe("VisitorObject schema", () => {
	it("creates for a new visitor exactly what the migrations build step by step", async () => {
		const fresh = await runInDurableObject(stub(), (_, state) => {
			const sql = new Sql(state.storage.sql);
			migrate(sql, VISITOR_MIGRATIONS, VISITOR_SCHEMA);
			// The tables a visitor creates on first write are part of the schema all the same.
			for (const table of Object.values(OPTIONAL_TABLES)) sql.run(table);
			return describeSchema(state.storage.sql);
		});
		const upgraded = await runInDurableObject(stub(), (_, state) => {
			const sql = new Sql(state.storage.sql);
			// A visitor stored before the latest migration, brought up to date on its next event.
			migrate(sql, VISITOR_MIGRATIONS.slice(0, -1));
			migrate(sql, VISITOR_MIGRATIONS);
			return describeSchema(state.storage.sql);
		});
		expect(fresh.map((t) => t.table)).toContain("events");
		expect(fresh).toEqual(upgraded);
	});

	it("keeps every stored row through the upgrade", async () => {
		const rows = await runInDurableObject(stub(), (_, state) => {
			const sql = new Sql(state.storage.sql);
			migrate(sql, VISITOR_MIGRATIONS.slice(0, -1));
			sql.run("INSERT INTO events (message_id, timestamp, received_at, body) VALUES ('m1', 1, 2, '{}'), ('m2', 3, 4, '{}')");
			sql.run("INSERT INTO event_counts (type, name, count) VALUES ('page', '', 2)");
			sql.run("INSERT INTO rule_hits (rule_key, timestamp, message_id) VALUES ('r', 1, 'm1')");
			sql.run("INSERT INTO progress (journey, step, reached_at) VALUES ('saas', 'engaged', 1)");
			sql.run("INSERT INTO outbox (journey, site, shard, version, contribution, retention_days, attempts, due_at) VALUES ('saas', 'demo', 3, 2, '{\"steps\":[]}', 400, 1, 99)");
			sql.run("INSERT INTO merged_sources (kind, id, at, released, due_at, rollup_retention_days) VALUES ('anonymous', 'a', 1, 0, 5, 400)");
			sql.run("INSERT INTO cta_exposure (cta_id, variant_id, views, clicks, first_viewed_at, last_viewed_at) VALUES ('trial', 'b', 3, 1, 10, 20)");
			// One journey with a delivery pending (the outbox), one its shard has acknowledged.
			sql.run("INSERT INTO rollup_state (journey, shard, version, contribution) VALUES ('saas', 3, 2, '{\"steps\":[]}'), ('news', 1, 4, NULL)");
			sql.run("INSERT INTO cta_touches (message_id, cta_id, variant_id, at) VALUES ('m2', 'trial', 'b', 3)");
			sql.run("INSERT INTO visitor (singleton, site, kind, id, first_seen, last_seen, event_count) VALUES (1, 'demo', 'anonymous', 'v', 1, 3, 2)");
			sql.run("INSERT INTO first_touch (singleton, timestamp, touch) VALUES (1, 1, '{\"source\":\"email\"}')");
			sql.run("INSERT INTO forwarding (singleton, kind, id, at) VALUES (1, 'user', 'u', 7)");
			migrate(sql, VISITOR_MIGRATIONS);
			return Object.fromEntries(
				["visitor", "events", "event_counts", "rule_hits", "progress", "merged_sources", "cta_exposure", "rollup_state", "cta_touches"].map((table) => [
					table,
					sql.all(`SELECT * FROM ${table}`),
				]),
			);
		});
		expect(rows.events).toEqual([
			{ message_id: "m1", timestamp: 1, received_at: 2, body: "{}" },
			{ message_id: "m2", timestamp: 3, received_at: 4, body: "{}" },
		]);
		expect(rows.event_counts).toEqual([{ type: "page", name: "", count: 2 }]);
		expect(rows.rule_hits).toEqual([{ rule_key: "r", timestamp: 1, message_id: "m1" }]);
		expect(rows.progress).toEqual([{ journey: "saas", step: "engaged", reached_at: 1 }]);
		expect(rows.cta_exposure).toEqual([
			{ cta_id: "trial", variant_id: "b", views: 3, clicks: 1, dismissals: 0, first_viewed_at: 10, last_viewed_at: 20, last_clicked_at: null, dismissed_at: null },
		]);
		expect(rows.rollup_state).toEqual([
			{ journey: "news", shard: 1, version: 4, contribution: null, retention_days: null, attempts: 0, due_at: null },
			{ journey: "saas", shard: 3, version: 2, contribution: '{"steps":[]}', retention_days: 400, attempts: 1, due_at: 99 },
		]);
		expect(rows.visitor).toEqual([
			expect.objectContaining({ id: "v", event_count: 2, first_touch_at: 1, first_touch: '{"source":"email"}', forward_kind: "user", forward_id: "u", forwarded_at: 7 }),
		]);
		expect(rows.cta_touches).toEqual([{ message_id: "m2", cta_id: "trial", variant_id: "b", at: 3 }]);
		expect(rows.merged_sources).toEqual([{ kind: "anonymous", id: "a", at: 1, released: 0, due_at: 5, attempts: 0, rollup_retention_days: 400 }]);
	});

	it("keeps no CTA or merge tables for a visitor who needs none, and creates them on first use", async () => {
		const id = uniqueId("lazy");
		const tables = () =>
			runInDurableObject(visitorStub(env, "demo", { kind: "anonymous", id }), (_, state) => ({
				names: state.storage.sql
					.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('cta_exposure', 'cta_touches', 'merged_sources')")
					.toArray()
					.map(({ name }) => name)
					.sort(),
				bytes: state.storage.sql.databaseSize,
			}));
		expect((await beacon(pageView(id, "/pricing"))).status).toBe(200);
		const before = await tables();
		expect(before.names).toEqual([]);
		// The profile reads them all the same: no CTAs, no merged identities.
		expect((await profileOf(id)).ctas).toEqual([]);

		const viewed = track(id, "CTA Viewed", { properties: { cta_id: "start-trial", variant_id: "b" } });
		expect((await beacon(viewed)).status).toBe(200);
		const after = await tables();
		expect(after.names).toEqual(["cta_exposure", "cta_touches"]);
		expect(after.bytes).toBeGreaterThan(before.bytes);
		expect((await profileOf(id)).ctas).toEqual([expect.objectContaining({ id: "start-trial", variant: "b", views: 1 })]);
	});

	it("keeps its version in the schema alone, moving one kept in a table of the old layout", async () => {
		const version = (storage: SqlStorage) =>
			storage
				.exec<{ type: string; name: string }>("SELECT type, name FROM sqlite_master WHERE name LIKE '%schema%' ORDER BY name")
				.toArray()
				.map(({ type, name }) => `${type} ${name}`);
		const moved = await runInDurableObject(stub(), (_, state) => {
			const sql = new Sql(state.storage.sql);
			// As every object stored before: the version in a one-row table (a page of its own), one
			// migration behind.
			const behind = VISITOR_MIGRATIONS.length - 1;
			sql.run(VISITOR_MIGRATIONS.slice(0, behind).join(";\n"));
			sql.run(`CREATE TABLE _schema_version (version INTEGER NOT NULL); INSERT INTO _schema_version VALUES (${behind})`);
			sql.run("INSERT INTO events (message_id, timestamp, received_at, body) VALUES ('m1', 1, 2, '{}')");
			const fresh = migrate(sql, VISITOR_MIGRATIONS, VISITOR_SCHEMA);
			const again = migrate(sql, VISITOR_MIGRATIONS, VISITOR_SCHEMA);
			const columns = sql.all<{ name: string }>("PRAGMA table_info(visitor)").map(({ name }) => name);
			return { fresh, again, schema: version(state.storage.sql), events: sql.all("SELECT message_id FROM events"), upgraded: columns.includes("first_touch") };
		});
		expect(moved.fresh).toBe(false);
		expect(moved.again).toBe(false);
		expect(moved.schema).toEqual([`view _schema_v${VISITOR_MIGRATIONS.length}`]);
		expect(moved.events).toEqual([{ message_id: "m1" }]);
		expect(moved.upgraded).toBe(true);

		const created = await runInDurableObject(stub(), (_, state) => {
			const sql = new Sql(state.storage.sql);
			return { fresh: migrate(sql, VISITOR_MIGRATIONS, VISITOR_SCHEMA), again: migrate(sql, VISITOR_MIGRATIONS, VISITOR_SCHEMA), schema: version(state.storage.sql) };
		});
		expect(created).toEqual({ fresh: true, again: false, schema: [`view _schema_v${VISITOR_MIGRATIONS.length}`] });
	});
});
