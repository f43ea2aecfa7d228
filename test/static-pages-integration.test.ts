/** The pages the worker serves: the snippet (within budget, cacheable), the dashboard, the demo site. */
import { describe, expect, it } from "vitest";
import { SNIPPET, SNIPPET_VERSION } from "../worker/generated/snippet";
import { DEMO_PATHS, SNIPPET_STUB } from "../worker/routes/demo-site";
import { request } from "./helpers";

async function gzipSize(text: string): Promise<number> {
	const compressed = await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
	return compressed.byteLength;
}

describe("GET /v1/nudge.js", () => {
	it("stays within 2 KB gzip", async () => {
		// CompressionStream's gzip is a little larger than the build's level 9, so this is strict.
		expect(await gzipSize(SNIPPET)).toBeLessThanOrEqual(2048);
	});

	it("is served as JavaScript with an ETag, revalidated with 304, and pinned by version", async () => {
		const res = await request("/v1/nudge.js");
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
		// The URL pages install never changes: cached for a day, revalidated in the background for a week.
		expect(res.headers.get("cache-control")).toBe("public, max-age=86400, stale-while-revalidate=604800");
		expect(res.headers.get("etag")).toBe(`"${SNIPPET_VERSION}"`);
		expect(await res.text()).toBe(SNIPPET);
		expect((await request("/v1/nudge.js", { headers: { "if-none-match": `"${SNIPPET_VERSION}"` } })).status).toBe(304);
		const pinned = await request(`/v1/nudge.${SNIPPET_VERSION}.js`);
		expect(pinned.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
		expect((await request("/v1/nudge.000000000000.js")).status).toBe(404);
	});
});

describe("GET /dashboard", () => {
	it("serves the dashboard page, which asks for the admin token before anything else", async () => {
		const res = await request("/dashboard");
		expect(res.status).toBe(200);
		expect(res.headers.get("cache-control")).toBe("no-store");
		const page = await res.text();
		expect(page).toContain('<form id="login-form">');
		expect(page).toContain("sessionStorage");
		expect(page).not.toContain("dev-admin-token\"");
	});
});

describe("the demo site", () => {
	it("loads the snippet, after the stub, with the demo write key and has slots on every page", async () => {
		expect(DEMO_PATHS).toEqual(expect.arrayContaining(["/", "/blog/remote-work", "/blog/best-time-to-post", "/signup", "/app/trial", "/app/upgrade"]));
		for (const path of DEMO_PATHS) {
			const res = await request(path);
			expect(res.status, path).toBe(200);
			const page = await res.text();
			expect(page, path).toContain(`<script>${SNIPPET_STUB}`);
			expect(page, path).toContain('<script async src="/v1/nudge.js" data-write-key="demo-write-key"></script>');
			expect(page, path).toContain('data-nudge-slot="inline"');
		}
	});

	it("links every blog post from the home page", async () => {
		const home = await (await request("/")).text();
		for (const path of DEMO_PATHS.filter((p) => p.startsWith("/blog/"))) expect(home, path).toContain(`href="${path}"`);
		expect(DEMO_PATHS.filter((p) => p.startsWith("/blog/")).length).toBeGreaterThanOrEqual(2);
	});
});
