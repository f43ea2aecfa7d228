/**
 * Operators: site configs and visitor profiles. Every route needs the admin token.
 */
import { Hono } from "hono";
import { parseSiteConfig, type SiteConfig } from "../../schema";
import type { VisitorKey } from "../core/events";
import { visitorStub } from "../objects/names";
import { requireAdmin } from "../http/admin-auth";
import { readJsonBody } from "../http/body";
import { integerParam } from "../http/query";
import { ApiError } from "../http/errors";
import { HISTORY_LIMIT } from "../objects/visitor-object";
import { siteById, storeSite } from "../site-directory";
import { funnelRoutes } from "./funnels";

const MAX_CONFIG_BYTES = 256 * 1024;
const DEFAULT_EVENT_LIMIT = 50;

export const adminRoutes = new Hono<{ Bindings: Env }>();
adminRoutes.use("*", requireAdmin);
adminRoutes.route("/", funnelRoutes);

adminRoutes.get("/sites/:site", async (c) => {
	const site = await requireSite(c.env, c.req.param("site"));
	c.header("Nudge-Config-Source", site.source);
	return c.json(site.config);
});

adminRoutes.put("/sites/:site", async (c) => {
	const id = c.req.param("site");
	const result = parseSiteConfig(await readJsonBody(c.req.raw, MAX_CONFIG_BYTES));
	if (!result.ok) throw new ApiError(400, "invalid_config", "The site config is invalid.", result.issues);
	if (result.config.id !== id) {
		throw new ApiError(400, "invalid_config", `The config's id '${result.config.id}' does not match the URL's site '${id}'.`, [
			{ path: "id", message: `must be '${id}'` },
		]);
	}
	const current = await siteById(c.env, id);
	if (current && result.config.rollups.shards < current.config.rollups.shards) {
		throw new ApiError(400, "invalid_config", "The rollup shard count cannot shrink.", [
			{
				path: "rollups.shards",
				message: `must be at least ${current.config.rollups.shards}: visitors are already counted on those shards`,
			},
		]);
	}
	const stored = await storeSite(c.env, result.config);
	if (!stored.ok) {
		const { path, site } = stored.conflict;
		const what = path.startsWith("serverKeys") ? "server_key" : "write_key";
		throw new ApiError(409, `${what}_in_use`, `The ${what.replace("_", " ")} at ${path} belongs to site '${site}'.`, [
			{ path, message: "used by another site" },
		]);
	}
	c.header("Nudge-Config-Source", "stored");
	return c.json(stored.site.config, stored.created ? 201 : 200);
});

adminRoutes.get("/sites/:site/visitors/:id", async (c) => {
	const { config } = await requireSite(c.env, c.req.param("site"));
	const id = c.req.param("id");
	const format = c.req.query("format") ?? "profile";
	if (format !== "profile" && format !== "export") {
		throw new ApiError(400, "invalid_format", "format is 'profile' (the default) or 'export' (everything held about the visitor).");
	}
	const limit = integerParam(c.req.query("limit"), "limit", { min: 0, max: HISTORY_LIMIT, fallback: DEFAULT_EVENT_LIMIT });
	for (const stub of visitorStubs(c.env, config, id)) {
		if (format === "export") {
			const data = await stub.exportData(config);
			if (!data) continue;
			c.header("Content-Disposition", `attachment; filename="nudge-${config.id}-visitor-export.json"`);
			c.header("Cache-Control", "no-store");
			return c.json(data);
		}
		const profile = await stub.profile(config, { eventLimit: limit });
		if (profile) return c.json(profile);
	}
	throw visitorNotFound(id);
});

/** Erases the visitor, every device and earlier id merged into it, and (for a device) its identity. */
adminRoutes.delete("/sites/:site/visitors/:id", async (c) => {
	const { config } = await requireSite(c.env, c.req.param("site"));
	// One after the other: when the id is both a user's and a device's of one identity, two erasures
	// at once would each wait inside its own object for the other, until the runtime reset both.
	let erased = false;
	for (const stub of visitorStubs(c.env, config, c.req.param("id"))) erased = (await stub.erase()) || erased;
	if (!erased) throw visitorNotFound(c.req.param("id"));
	return c.json({ deleted: true, id: c.req.param("id") });
});

async function requireSite(env: Env, id: string) {
	const site = await siteById(env, id);
	if (!site) throw new ApiError(404, "site_not_found", `No site '${id}'.`);
	return site;
}

/** `:id` may be a userId or an anonymousId: the user's object is asked first. */
function visitorStubs(env: Env, site: SiteConfig, id: string) {
	const keys: VisitorKey[] = [
		{ kind: "user", id },
		{ kind: "anonymous", id },
	];
	return keys.map((key) => visitorStub(env, site.id, key));
}

function visitorNotFound(id: string): ApiError {
	return new ApiError(404, "visitor_not_found", `No visitor '${id}' has been seen on this site.`);
}
