/**
 * The one way Durable Objects here touch SQLite: versioned migrations and typed queries, with
 * the accounting `npm run bench` reads (statements, rows read and written: what SQLite storage
 * is billed by).
 */

/** A failed query, carrying the statement so the log says which one. */
export class SqlError extends Error {
	constructor(
		readonly query: string,
		cause: unknown,
	) {
		super(`SQL failed: ${cause instanceof Error ? cause.message : String(cause)} in: ${query.slice(0, 200)}`, { cause });
		this.name = "SqlError";
	}
}

type Value = SqlStorageValue;

/** What one object's queries did since it started, and its database size. */
export type SqlUsage = { statements: number; rowsRead: number; rowsWritten: number; databaseBytes: number };

/** Work of every object of one kind in this isolate since it started, and what they counted (calls served, …). */
export type KindUsage = { statements: number; rowsRead: number; rowsWritten: number; tallies: Record<string, number> };
/** Per kind of object (`visitor`, `rollup`, …). */
export type IsolateUsage = Record<string, KindUsage>;

// Module state is per isolate, and every object of a worker runs in its isolate, so one read
// through any object gives the bench all objects' totals without calling each one.
const isolateTotals: IsolateUsage = {};

/** Totals of every object in this isolate, by kind. */
export function isolateUsage(): IsolateUsage {
	return structuredClone(isolateTotals);
}

/** Typed access to `ctx.storage.sql`. */
export class Sql {
	private statements = 0;
	private rowsRead = 0;
	private rowsWritten = 0;
	private readonly totals: KindUsage;

	constructor(
		private readonly storage: SqlStorage,
		kind = "object",
	) {
		this.totals = isolateTotals[kind] ??= { statements: 0, rowsRead: 0, rowsWritten: 0, tallies: {} };
	}

	usage(): SqlUsage {
		return { statements: this.statements, rowsRead: this.rowsRead, rowsWritten: this.rowsWritten, databaseBytes: this.storage.databaseSize };
	}

	/** Counts something for the isolate's totals: a call served (each RPC call and alarm is a billed request), … */
	tally(what: string): void {
		this.totals.tallies[what] = (this.totals.tallies[what] ?? 0) + 1;
	}

	/** Every row of the query. */
	all<Row extends Record<string, Value>>(query: string, ...params: Value[]): Row[] {
		const cursor = this.cursor<Row>(query, params);
		const rows = cursor.toArray();
		this.account(cursor);
		return rows;
	}

	/** The first row, or undefined. */
	one<Row extends Record<string, Value>>(query: string, ...params: Value[]): Row | undefined {
		return this.all<Row>(query, ...params)[0];
	}

	/** Runs a statement (or several, separated by `;`, without parameters); returns the rows it wrote. */
	run(query: string, ...params: Value[]): number {
		const cursor = this.cursor(query, params);
		cursor.toArray();
		this.account(cursor);
		return cursor.rowsWritten;
	}

	private account(cursor: SqlStorageCursor<Record<string, Value>>): void {
		this.statements++;
		this.rowsRead += cursor.rowsRead;
		this.rowsWritten += cursor.rowsWritten;
		this.totals.statements++;
		this.totals.rowsRead += cursor.rowsRead;
		this.totals.rowsWritten += cursor.rowsWritten;
	}

	private cursor<Row extends Record<string, Value>>(query: string, params: Value[]): SqlStorageCursor<Row> {
		try {
			return this.storage.exec<Row>(query, ...params);
		} catch (cause) {
			throw new SqlError(query, cause);
		}
	}
}

/**
 * Tables created on first write. SQLite gives every table a 4 KiB page of its own however few
 * rows it holds, and storage is billed by the database's size: a table most objects never write
 * to costs them nothing until one does. A read of a table not created yet sees no rows. (A
 * migration that alters such a table must create it first, with IF NOT EXISTS.)
 */
export class LazyTables<Name extends string> {
	private existing: Set<string> | undefined;

	constructor(
		private readonly sql: Sql,
		private readonly schema: Readonly<Record<Name, string>>,
	) {}

	/** Whether the table exists; sqlite_master is read once, then kept up to date here. */
	has(name: Name): boolean {
		this.existing ??= new Set(this.sql.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").map((row) => row.name));
		return this.existing.has(name);
	}

	/** Every row of a query on the table; none while it does not exist. */
	read<Row extends Record<string, Value>>(name: Name, query: string, ...params: Value[]): Row[] {
		return this.has(name) ? this.sql.all<Row>(query, ...params) : [];
	}

	/** An insert or upsert: the table is created first if it does not exist yet. */
	write(name: Name, query: string, ...params: Value[]): number {
		this.create(name);
		return this.sql.run(query, ...params);
	}

	/** An update or delete: nothing to do while the table does not exist. */
	change(name: Name, query: string, ...params: Value[]): number {
		return this.has(name) ? this.sql.run(query, ...params) : 0;
	}

	private create(name: Name): void {
		if (this.has(name)) return;
		this.sql.run(this.schema[name]);
		this.existing?.add(name);
	}

	/** After the schema was created or the database wiped: read sqlite_master again when asked. */
	forget(): void {
		this.existing = undefined;
	}
}

/**
 * Schema changes in order; index + 1 is the version a database has once it ran them. Append
 * only: a database that ran some of them runs the rest.
 */
export type Migrations = readonly string[];

/**
 * Brings the database to the newest version; returns whether it had no schema yet (so nothing
 * stored). Cheap when current: one read of the schema, no DDL. Runs inside the caller's
 * synchronous block, so a half-applied migration never commits.
 *
 * `fresh` is the schema every migration together produces, created in one go for a database that
 * has none yet: a new object then runs one statement batch instead of replaying the history
 * (tables created only to be rebuilt, dropped or altered). It must stay equal to the migrations'
 * result; a test compares the two.
 *
 * The version is the name of a view (`_schema_v8`): a view lives in the schema page alone, where
 * a table of one row took a 4 KiB page of every object's database (Durable Objects refuse
 * `PRAGMA user_version`). Databases still keeping it in a `_schema_version` table move over.
 */
export function migrate(sql: Sql, migrations: Migrations, fresh?: string): boolean {
	const stored = storedVersion(sql);
	const target = migrations.length;
	const record = `CREATE VIEW ${VERSION_PREFIX}${target} AS SELECT ${target} AS version`;
	if (!stored) {
		sql.run(`${record};\n${fresh ?? migrations.join(";\n")}`);
		return true;
	}
	if (stored.version >= target && stored.in === "view") return false;
	for (const statement of migrations.slice(stored.version)) sql.run(statement);
	sql.run(stored.in === "view" ? `DROP VIEW ${VERSION_PREFIX}${stored.version}` : "DROP TABLE _schema_version");
	sql.run(record);
	return false;
}

const VERSION_PREFIX = "_schema_v";

/** The schema version and where it is kept, or null for a database with no schema yet. */
function storedVersion(sql: Sql): { version: number; in: "view" | "table" } | null {
	const row = sql.one<{ type: string; name: string }>(
		`SELECT type, name FROM sqlite_master
		 WHERE (type = 'view' AND name GLOB '${VERSION_PREFIX}[0-9]*') OR (type = 'table' AND name = '_schema_version')
		 ORDER BY type DESC LIMIT 1`,
	);
	if (!row) return null;
	if (row.type === "view") return { version: Number(row.name.slice(VERSION_PREFIX.length)), in: "view" };
	return { version: sql.one<{ version: number }>("SELECT version FROM _schema_version")?.version ?? 0, in: "table" };
}

/** Whether the database has a schema yet: an object that never stored anything has none. */
export function hasSchema(sql: Sql): boolean {
	return storedVersion(sql) !== null;
}
