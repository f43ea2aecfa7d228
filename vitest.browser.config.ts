import { defineConfig } from "vitest/config";

// Real Chromium (Debian's) driven by playwright-core against the worker served by `wrangler dev`.
export default defineConfig({
	test: {
		include: ["test/browser/**/*.test.ts"],
		environment: "node",
		testTimeout: 60_000,
		hookTimeout: 90_000,
		fileParallelism: false,
	},
});
