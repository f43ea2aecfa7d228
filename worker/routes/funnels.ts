/**
 * Funnel, trend and CTA reports for operators (mounted under the admin API, so the token is
 * required): all read the rollup shards for a range of days.
 */
import { Hono, type Context } from "hono";
import { MIN_EVENT_TIME } from "../core/events";
import { addDays, FUNNEL_BREAKDOWNS, utcDay, type FunnelBreakdown } from "../core/rollup";
import { readCtaReport } from "../cta-stats";
import { readFunnel, readTrend, type DayRange } from "../funnels";
import { ApiError } from "../http/errors";
import { integerParam } from "../http/query";
import { siteById } from "../site-directory";

/** Days in the default range: the last 30 including today. */
const DEFAULT_DAYS = 30;
const MAX_DAYS = 731;
const DEFAULT_BREAKDOWN_VALUES = 10;
const MAX_BREAKDOWN_VALUES = 50;

export const funnelRoutes = new Hono<{ Bindings: Env }>();

funnelRoutes.get("/sites/:site/funnels/:journey", async (c) => {
	const { site, journey } = await requireJourney(c);
	const by = c.req.query("breakdown");
	if (by !== undefined && !FUNNEL_BREAKDOWNS.includes(by as FunnelBreakdown)) {
		throw new ApiError(400, "invalid_breakdown", `breakdown must be one of ${FUNNEL_BREAKDOWNS.join(", ")}.`);
	}
	const limit = integerParam(c.req.query("limit"), "limit", { min: 1, max: MAX_BREAKDOWN_VALUES, fallback: DEFAULT_BREAKDOWN_VALUES });
	const breakdown = by === undefined ? undefined : { by: by as FunnelBreakdown, limit };
	return c.json(await readFunnel(c.env, site, journey, dayRange(c), breakdown));
});

funnelRoutes.get("/sites/:site/funnels/:journey/trend", async (c) => {
	const { site, journey } = await requireJourney(c);
	return c.json(await readTrend(c.env, site, journey, dayRange(c)));
});

funnelRoutes.get("/sites/:site/ctas/:journey", async (c) => {
	const { site, journey } = await requireJourney(c);
	return c.json(await readCtaReport(c.env, site, journey, dayRange(c)));
});

async function requireJourney(c: Context<{ Bindings: Env }>) {
	const siteId = c.req.param("site") ?? "";
	const journeyId = c.req.param("journey") ?? "";
	const stored = await siteById(c.env, siteId);
	if (!stored) throw new ApiError(404, "site_not_found", `No site '${siteId}'.`);
	const journey = stored.config.journeys.find((j) => j.id === journeyId);
	if (!journey) throw new ApiError(404, "journey_not_found", `Site '${siteId}' has no journey '${journeyId}'.`);
	return { site: stored.config, journey };
}

/** `from` and `to` as UTC days; by default the last 30 days including today. */
function dayRange(c: Context): DayRange {
	const today = utcDay(Date.now());
	const to = parseDay(c.req.query("to"), "to") ?? today;
	const from = parseDay(c.req.query("from"), "from") ?? addDays(to, -(DEFAULT_DAYS - 1));
	if (from > to) throw new ApiError(400, "invalid_range", `from (${from}) is after to (${to}).`);
	if (addDays(from, MAX_DAYS - 1) < to) throw new ApiError(400, "invalid_range", `The range may span at most ${MAX_DAYS} days.`);
	return { from, to };
}

/**
 * The days a range may name. Days compare as `YYYY-MM-DD` text, and outside years 0000–9999 a
 * date has no such form (`+010000-01-01`, `-000001-12-31`, which sort wrongly): a range reaching
 * there once made the trend's day loop run forever. From 1970 (no event is stored earlier) to
 * here, `to + 1 day`, `to - DEFAULT_DAYS` and `from + MAX_DAYS` all stay in four-digit years.
 */
const EARLIEST_DAY = utcDay(MIN_EVENT_TIME);
const LATEST_DAY = addDays("9999-12-31", -MAX_DAYS);

function parseDay(text: string | undefined, name: string): string | undefined {
	if (text === undefined) return undefined;
	if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || Number.isNaN(Date.parse(`${text}T00:00:00Z`)) || utcDay(Date.parse(`${text}T00:00:00Z`)) !== text) {
		throw new ApiError(400, "invalid_date", `${name} must be a date as YYYY-MM-DD, got '${text.slice(0, 40)}'.`);
	}
	if (text < EARLIEST_DAY || text > LATEST_DAY) {
		throw new ApiError(400, "invalid_date", `${name} must be a day from ${EARLIEST_DAY} to ${LATEST_DAY}, got '${text}'.`);
	}
	return text;
}
