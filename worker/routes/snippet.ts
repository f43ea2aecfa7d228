/**
 * The page snippet, built from `client/nudge.ts`. `/v1/nudge.js` is what pages install, at a URL
 * that never changes: fresh for a day, then for a week served from cache while it revalidates by
 * ETag in the background, so a page never waits for it and a release reaches a visitor at most a
 * day (and one page view) later. `/v1/nudge.<version>.js` never changes and is cached for a year.
 */
import { Hono } from "hono";
import { SNIPPET, SNIPPET_VERSION } from "../generated/snippet";

const ETAG = `"${SNIPPET_VERSION}"`;

export const snippetRoutes = new Hono();

snippetRoutes.get("/v1/nudge.js", (c) => serve(c.req.header("if-none-match"), "public, max-age=86400, stale-while-revalidate=604800"));
snippetRoutes.get(`/v1/nudge.${SNIPPET_VERSION}.js`, (c) => serve(c.req.header("if-none-match"), "public, max-age=31536000, immutable"));

function serve(ifNoneMatch: string | undefined, cacheControl: string): Response {
	const headers = {
		"Content-Type": "text/javascript; charset=utf-8",
		"Cache-Control": cacheControl,
		ETag: ETAG,
		"X-Nudge-Snippet-Version": SNIPPET_VERSION,
		"Access-Control-Allow-Origin": "*",
	};
	if (ifNoneMatch === ETAG) return new Response(null, { status: 304, headers });
	return new Response(SNIPPET, { headers });
}
