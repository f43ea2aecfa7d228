/**
 * The site configs operators store through the admin API, and the index from key to site. One
 * object for the deployment ("registry"): it is read rarely, because workers cache what it
 * answers (see `site-directory`). Bundled example sites answer until replaced.
 */
import { DurableObject } from "cloudflare:workers";
import type { SiteConfig } from "../../schema";
import { BUNDLED_SITES } from "../bundled-sites";
import { migrate, Sql, type Migrations } from "./sql";

const MIGRATIONS: Migrations = [
	`CREATE TABLE sites (id TEXT PRIMARY KEY, config TEXT NOT NULL, updated_at INTEGER NOT NULL);
	 CREATE TABLE write_keys (write_key TEXT PRIMARY KEY, site_id TEXT NOT NULL);`,
	// Server keys by their SHA-256: the registry never sees a secret it would have to keep.
	`CREATE TABLE server_keys (sha256 TEXT PRIMARY KEY, site_id TEXT NOT NULL);`,
];

export type StoredSite = { config: SiteConfig; source: "stored" | "bundled"; updatedAt: string | null };
export type PutSiteResult =
	| { ok: true; created: boolean; site: StoredSite }
	| { ok: false; conflict: { path: string; site: string } };

/** Who a presented key says the caller is: a page (public write key) or the site's backend. */
export type KeyTrust = "public" | "server";
export type KeyOwner = { site: SiteConfig; trust: KeyTrust };

export class SiteConfigObject extends DurableObject<Env> {
	private readonly sql: Sql;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = new Sql(ctx.storage.sql);
		migrate(this.sql, MIGRATIONS);
	}

	/** The site's config: stored, else bundled, else null. */
	site(id: string): StoredSite | null {
		const row = this.sql.one<{ config: string; updated_at: number }>("SELECT config, updated_at FROM sites WHERE id = ?", id);
		if (row) {
			return { config: JSON.parse(row.config) as SiteConfig, source: "stored", updatedAt: new Date(row.updated_at).toISOString() };
		}
		const bundled = BUNDLED_SITES.find((site) => site.id === id);
		return bundled ? { config: bundled, source: "bundled", updatedAt: null } : null;
	}

	/** The site a write key belongs to, or null for an unknown key. */
	siteForWriteKey(writeKey: string): SiteConfig | null {
		const row = this.sql.one<{ site_id: string }>("SELECT site_id FROM write_keys WHERE write_key = ?", writeKey);
		if (row) return this.site(row.site_id)?.config ?? null;
		return this.bundledUnlessStored((site) => site.writeKeys.includes(writeKey));
	}

	/** The site a server key (given as its SHA-256) belongs to, or null. */
	siteForServerKey(sha256: string): SiteConfig | null {
		const row = this.sql.one<{ site_id: string }>("SELECT site_id FROM server_keys WHERE sha256 = ?", sha256);
		if (row) return this.site(row.site_id)?.config ?? null;
		return this.bundledUnlessStored((site) => site.serverKeys.some((key) => key.sha256 === sha256));
	}

	/** What a presented key opens: write keys are looked up first, then server keys by hash. */
	ownerOfKey(key: string, sha256: string): KeyOwner | null {
		const site = this.siteForWriteKey(key);
		if (site) return { site, trust: "public" };
		const server = this.siteForServerKey(sha256);
		return server ? { site: server, trust: "server" } : null;
	}

	/** Stores a validated config; refuses write keys and server keys that belong to another site. */
	put(config: SiteConfig, now: number): PutSiteResult {
		for (const [i, writeKey] of config.writeKeys.entries()) {
			const owner = this.siteForWriteKey(writeKey);
			if (owner && owner.id !== config.id) return { ok: false, conflict: { path: `writeKeys[${i}]`, site: owner.id } };
		}
		for (const [i, key] of config.serverKeys.entries()) {
			const owner = this.siteForServerKey(key.sha256);
			if (owner && owner.id !== config.id) return { ok: false, conflict: { path: `serverKeys[${i}].sha256`, site: owner.id } };
		}
		const created = this.site(config.id) === null;
		this.sql.run(
			`INSERT INTO sites (id, config, updated_at) VALUES (?, ?, ?)
			 ON CONFLICT (id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at`,
			config.id,
			JSON.stringify(config),
			now,
		);
		this.sql.run("DELETE FROM write_keys WHERE site_id = ?", config.id);
		for (const writeKey of config.writeKeys) {
			this.sql.run("INSERT INTO write_keys (write_key, site_id) VALUES (?, ?)", writeKey, config.id);
		}
		this.sql.run("DELETE FROM server_keys WHERE site_id = ?", config.id);
		for (const key of config.serverKeys) {
			this.sql.run("INSERT INTO server_keys (sha256, site_id) VALUES (?, ?)", key.sha256, config.id);
		}
		return { ok: true, created, site: { config, source: "stored", updatedAt: new Date(now).toISOString() } };
	}

	/** A bundled site matching `test`, unless a stored config replaced it (keys included). */
	private bundledUnlessStored(test: (site: SiteConfig) => boolean): SiteConfig | null {
		const bundled = BUNDLED_SITES.find(test);
		if (!bundled || this.sql.one("SELECT 1 AS found FROM sites WHERE id = ?", bundled.id)) return null;
		return bundled;
	}
}
