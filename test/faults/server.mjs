// The worker under test for `npm run test:faults`: the built bundle in workerd through Miniflare's
// API, Durable Object state persisted on disk, so a runtime killed with SIGKILL can be started
// again on the same state. Run by test/faults/run.mjs in its own process group; prints
// `READY <url>` once it serves. Usage: node test/faults/server.mjs <bundle> <state dir> <port>
import { Miniflare } from "miniflare";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";

const [scriptPath, statePath, port] = process.argv.slice(2);
if (!scriptPath || !statePath || !port) {
	console.error("usage: node test/faults/server.mjs <bundle> <state dir> <port>");
	process.exit(2);
}
// The same date wrangler builds and tests with, so the runtime behaves as in `npm test`.
const compatibilityDate = readFileSync("wrangler.toml", "utf8").match(/^compatibility_date\s*=\s*"([^"]+)"/m)?.[1];

const mf = new Miniflare({
	modules: true,
	scriptPath,
	// The bundle lives in a temporary directory: module names are relative to it, not to the cwd
	// (workerd refuses module paths that climb out with "..").
	modulesRoot: dirname(scriptPath),
	compatibilityDate,
	durableObjects: {
		VISITORS: { className: "VisitorObject", useSQLite: true },
		SITES: { className: "SiteConfigObject", useSQLite: true },
		ROLLUPS: { className: "RollupObject", useSQLite: true },
	},
	durableObjectsPersist: statePath,
	// The documented local development values (.dev.vars), which the checks below use.
	bindings: { ADMIN_TOKEN: "dev-admin-token", COOKIELESS_SECRET: "dev-cookieless-secret" },
	// No network here: the fallback `request.cf` instead of fetching Cloudflare's.
	cf: false,
	host: "127.0.0.1",
	port: Number(port),
});
const url = await mf.ready;
console.log(`READY ${url.href.replace(/\/$/, "")}`);

// A clean stop when asked; the faults themselves are SIGKILLs of the whole process group.
process.on("SIGTERM", () => {
	mf.dispose().finally(() => process.exit(0));
});
