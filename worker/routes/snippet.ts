/**
 * The page snippet, built from `client/nudge.ts`. `/v1/nudge.js` is what pages install: cached
 * for an hour (so a new version reaches every page within one) and revalidated by ETag;
 * `/v1/nudge.<version>.js` never changes and is cached for a year.
 */
import { Hono } from "hono";
import { SNIPPET, SNIPPET_VERSION } from "../generated/snippet";

const ETAG = `"${SNIPPET_VERSION}"`;

export const snippetRoutes = new Hono();

snippetRoutes.get("/v1/nudge.js", (c) => serve(c.req.header("if-none-match"), "public, max-age=3600, stale-while-revalidate=86400"));
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
