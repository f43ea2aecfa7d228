/**
 * The one way Durable Objects here touch SQLite: versioned migrations and typed queries.
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

/** Rows this object's queries read and wrote since it started: what SQLite storage is billed by. */
export type SqlUsage = { rowsRead: number; rowsWritten: number; databaseBytes: number };

/** Typed access to `ctx.storage.sql`. */
export class Sql {
	private rowsRead = 0;
	private rowsWritten = 0;

	constructor(private readonly storage: SqlStorage) {}

	usage(): SqlUsage {
		return { rowsRead: this.rowsRead, rowsWritten: this.rowsWritten, databaseBytes: this.storage.databaseSize };
	}

	/** Every row of the query. */
	all<Row extends Record<string, Value>>(query: string, ...params: Value[]): Row[] {
		const cursor = this.cursor<Row>(query, params);
		const rows = cursor.toArray();
		this.count(cursor);
		return rows;
	}

	/** The first row, or undefined. */
	one<Row extends Record<string, Value>>(query: string, ...params: Value[]): Row | undefined {
		return this.all<Row>(query, ...params)[0];
	}

	/** Runs a statement; returns the number of rows it wrote. */
	run(query: string, ...params: Value[]): number {
		const cursor = this.cursor(query, params);
		cursor.toArray();
		this.count(cursor);
		return cursor.rowsWritten;
	}

	private count(cursor: SqlStorageCursor<Record<string, Value>>): void {
		this.rowsRead += cursor.rowsRead;
		this.rowsWritten += cursor.rowsWritten;
	}

	private cursor<Row extends Record<string, Value>>(query: string, params: Value[]): SqlStorageCursor<Row> {
		try {
			return this.storage.exec<Row>(query, ...params);
		} catch (cause) {
			throw new SqlError(query, cause);
		}
	}
}

/** Schema changes in order; index + 1 is the version a database has once it ran them. */
export type Migrations = readonly string[];

/**
 * Brings the database to the newest version. Idempotent and cheap when current: one read.
 * Runs inside the caller's synchronous block, so a half-applied migration never commits.
 */
export function migrate(sql: Sql, migrations: Migrations): void {
	sql.run("CREATE TABLE IF NOT EXISTS _schema_version (version INTEGER NOT NULL)");
	const current = sql.one<{ version: number }>("SELECT version FROM _schema_version")?.version ?? 0;
	if (current >= migrations.length) return;
	for (const statement of migrations.slice(current)) sql.run(statement);
	if (current === 0) sql.run("INSERT INTO _schema_version (version) VALUES (?)", migrations.length);
	else sql.run("UPDATE _schema_version SET version = ?", migrations.length);
}

/** Whether any table exists yet: an object that never stored anything has none. */
export function hasTables(sql: Sql): boolean {
	return sql.one("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_schema_version'") !== undefined;
}
