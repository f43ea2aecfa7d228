import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/** The per-site limiter of wrangler.toml, set to `limit` requests a minute for a project's tests. */
const siteLimit = (limit: number) => ({ ratelimits: { SITE_RATE_LIMITER: { simple: { limit, period: 60 as const } } } });

export default defineConfig({
	test: {
		projects: [
			{
				// Reads .dev.vars too, so tests use the documented local admin token, as `npm start` does.
				// The per-site limit is lifted: these tests send thousands of requests for one site.
				plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: siteLimit(1_000_000_000) })],
				// Browser tests run in Node against `wrangler dev`: `npm run test:browser`.
				test: { name: "workers", include: ["test/**/*.test.ts"], exclude: ["test/browser/**", "test/site-rate-limit.test.ts"] },
			},
			{
				plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: siteLimit(5) })],
				test: { name: "site-rate-limit", include: ["test/site-rate-limit.test.ts"] },
			},
		],
	},
});
