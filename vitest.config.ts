import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
	plugins: [
		cloudflareTest({
			// Reads .dev.vars too, so tests use the documented local admin token, as `npm start` does.
			wrangler: { configPath: "./wrangler.toml" },
		}),
	],
	// Browser tests run in Node against `wrangler dev`: `npm run test:browser`.
	test: { include: ["test/**/*.test.ts"], exclude: ["test/browser/**"] },
});
