import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/** The per-site limiter of wrangler.toml, set to `limit` requests a minute for a project's tests. */
const siteLimit = (limit: number) => ({ ratelimits: { SITE_RATE_LIMITER: { simple: { limit, period: 60 as const } } } });

export default defineConfig({
	test: {
		// Each project sets disableConsoleIntercept: console calls go straight to workerd's output,
		// not through Vitest's RPC. With vitest-pool-workers 0.15 (the last for wrangler 4.86), a
		// line logged by an object that is then aborted or broken (a visitor's alarm caught by
		// abortAllDurableObjects) is forwarded through a call that never completes, and `vitest run`
		// waits for it forever after every test has passed (workers-sdk#14180, fixed in 0.18.6).
		projects: [
			{
				// Reads .dev.vars too, so tests use the documented local admin token, as `npm start` does.
				// The per-site limit is lifted: these tests send thousands of requests for one site.
				plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: siteLimit(1_000_000_000) })],
				// Browser tests run in Node against `wrangler dev`: `npm run test:browser`.
				test: { name: "workers", disableConsoleIntercept: true, include: ["test/**/*.test.ts"], exclude: ["test/browser/**", "test/site-rate-limit.test.ts"] },
			},
			{
				plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: siteLimit(5) })],
				test: { name: "site-rate-limit", disableConsoleIntercept: true, include: ["test/site-rate-limit.test.ts"] },
			},
		],
	},
});
