/**
 * Next-best CTA out: `GET /v1/next` answers what this visitor should see next, from the
 * visitor's Durable Object in one call, with the ranking statistics cached in the isolate.
 */
import { Hono, type Context } from "hono";
import type { SiteConfig } from "../../schema";
import type { VisitorKey } from "../core/events";
import { rankingStats } from "../cta-stats";
import { cookielessIdOf } from "../http/cookieless";
import { ApiError } from "../http/errors";
import { assertOriginAllowed } from "../http/origin";
import { integerParam } from "../http/query";
import { siteOfRequest } from "../http/write-key";
import { visitorStub } from "../objects/names";
import type { NextInput } from "../objects/visitor-object";

const DEFAULT_LIMIT = 3;
const MAX_LIMIT = 20;

export const nextRoutes = new Hono<{ Bindings: Env }>();

nextRoutes.get("/v1/next", async (c) => {
	const { site, trust } = await siteOfRequest(c);
	assertOriginAllowed(c, site);
	const userId = c.req.query("userId")?.trim();
	const anonymousId = site.cookieless && trust === "public" ? await cookielessIdOf(c, site) : c.req.query("anonymousId")?.trim();
	const key: VisitorKey | undefined = userId
		? { kind: "user", id: userId }
		: anonymousId
			? { kind: "anonymous", id: anonymousId }
			: undefined;
	if (!key) throw new ApiError(400, "missing_visitor", "Send anonymousId or userId.");
	if (key.id.length > 256) throw new ApiError(400, "invalid_visitor", "anonymousId and userId are at most 256 characters.");
	const input = await nextInput(c, site, undefined);
	c.header("Cache-Control", "private, no-store");
	return c.json(await visitorStub(c.env, site.id, key).next(site, key, input));
});

/** How long a beacon asking for its hint (`?next=1`) waits for statistics not yet cached. */
const BEACON_STATS_WAIT_MS = 250;

/**
 * Reads `path`, `placement`, `journey` and `limit` from the query, and the journey's statistics.
 * `beacon`: the events wait for this, so statistics that are slow to load are not waited for
 * long; the answer then follows the journey's order and the next request finds them cached.
 */
export async function nextInput(
	c: Context<{ Bindings: Env }>,
	site: SiteConfig,
	fallbackPath: string | undefined,
	options: { beacon?: boolean } = {},
): Promise<NextInput> {
	const journeyId = c.req.query("journey");
	const journey = journeyId === undefined ? site.journeys[0] : site.journeys.find((j) => j.id === journeyId);
	if (!journey) throw new ApiError(400, "unknown_journey", `Site '${site.id}' has no journey '${journeyId}'.`);
	const path = c.req.query("path") ?? fallbackPath;
	if (path !== undefined && !path.startsWith("/")) throw new ApiError(400, "invalid_path", "path must start with '/'.");
	const limit = integerParam(c.req.query("limit"), "limit", { min: 1, max: MAX_LIMIT, fallback: DEFAULT_LIMIT });
	return {
		journey: journey.id,
		path: path?.split(/[?#]/, 1)[0],
		placement: c.req.query("placement"),
		limit,
		// Without statistics (shards unreachable) the journey's order still gives a useful answer.
		stats: await Promise.race([
			rankingStats(c.env, site, journey).catch((error: unknown) => {
				console.error(JSON.stringify({ msg: "CTA statistics unavailable", site: site.id, error: String(error) }));
				return null;
			}),
			...(options.beacon ? [new Promise<null>((resolve) => setTimeout(() => resolve(null), BEACON_STATS_WAIT_MS))] : []),
		]),
		now: Date.now(),
	};
}
