// `npm run bench`: builds the worker, runs it in workerd through Miniflare's API (not wrangler
// dev's logging proxy), drives it with autocannon on loopback and prints one table, also written
// to bench/RESULTS.md. Every figure stands beside the no-op baseline measured in the same run.
import autocannon from "autocannon";
import { Miniflare } from "miniflare";
import { execSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { gzipSync } from "node:zlib";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const CONNECTIONS = 50;
const VISITORS = 10_000;
const WRITE_KEY = "demo-write-key";
const ADMIN = { authorization: "Bearer bench-admin-token" };
const DAY_MS = 86_400_000;
const JOURNEY = ["Report Viewed", "Newsletter Subscribed", "Account Created", "Trial Started", "Post Scheduled", "Analytics Viewed", "Channel Connected", "Channel Connected", "Channel Connected", "Subscription Upgraded"];
const SOURCES = ["twitter", "newsletter", "google", "linkedin", "(none)"];

// List prices (USD), Workers Paid, beyond the included amounts. Read on 2026-12-03 from
// developers.cloudflare.com/workers/platform/pricing and /durable-objects/platform/pricing.
const PRICES = {
	workerRequestsPerMillion: 0.3,
	workerCpuMsPerMillion: 0.02,
	doRequestsPerMillion: 0.15,
	doGbSecondsPerMillion: 12.5,
	rowsReadPerMillion: 0.001,
	rowsWrittenPerMillion: 1.0,
	storageGbMonth: 0.2,
};

const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
console.log("building…");
execSync("node client/build.mjs", { stdio: "inherit", env });
execSync("npx wrangler deploy --dry-run --outdir bench/.build", { stdio: "ignore", env });
const bundleGzip = gzipSync(readFileSync("bench/.build/index.js")).byteLength;
const snippetModule = readFileSync("worker/generated/snippet.ts", "utf8");
const snippetGzip = gzipSync(JSON.parse(snippetModule.match(/export const SNIPPET = (".*");/)[1]), { level: 9 }).byteLength;

const mf = new Miniflare({
	modules: true,
	scriptPath: "bench/.build/index.js",
	compatibilityDate: "2026-04-20",
	durableObjects: {
		VISITORS: { className: "VisitorObject", useSQLite: true },
		SITES: { className: "SiteConfigObject", useSQLite: true },
		ROLLUPS: { className: "RollupObject", useSQLite: true },
	},
	bindings: { ADMIN_TOKEN: "bench-admin-token" },
	host: "127.0.0.1",
	port: 0,
});
const base = (await mf.ready).href.replace(/\/$/, "");
// The hot-visitor row measures one object's ceiling, not the per-visitor rate limit: lift it.
const demoConfig = JSON.parse(readFileSync("schema/sites/demo.json", "utf8"));
const raised = await fetch(`${base}/v1/admin/sites/demo`, {
	method: "PUT",
	headers: ADMIN,
	body: JSON.stringify({ ...demoConfig, visitorRateLimit: { perSecond: 10_000, burst: 1_000_000 } }),
});
if (!raised.ok) throw new Error(`could not lift the rate limit: ${await raised.text()}`);
const visitors = await mf.getDurableObjectNamespace("VISITORS");
const rollups = await mf.getDurableObjectNamespace("ROLLUPS");

/** CPU seconds used so far by the workerd processes (worker and Durable Objects share them). */
function workerdCpuSeconds() {
	let ticks = 0;
	for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
		try {
			const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
			if (!stat.includes("(workerd)")) continue;
			const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
			ticks += Number(fields[11]) + Number(fields[12]);
		} catch {
			// The process ended between listing and reading.
		}
	}
	return ticks / 100;
}

let sequence = 0;
const event = (anonymousId, name, extra = {}) => ({
	type: "track",
	event: name,
	anonymousId,
	messageId: `bench-${sequence++}-${Math.random().toString(36).slice(2)}`,
	...extra,
});
const randomVisitor = () => `v-${Math.floor(Math.random() * VISITORS)}`;

async function load(name, options, itemsPerRequest = 1) {
	const cpuBefore = workerdCpuSeconds();
	const result = await autocannon({ url: base, connections: CONNECTIONS, duration: SECONDS, ...options });
	const cpu = workerdCpuSeconds() - cpuBefore;
	const requests = result.requests.total;
	if (result.non2xx || result.errors) console.warn(`${name}: ${result.non2xx} non-2xx, ${result.errors} errors`);
	return {
		name,
		rps: result.requests.average,
		itemsPerSecond: result.requests.average * itemsPerRequest,
		p50: result.latency.p50,
		p99: result.latency.p99,
		cpuMsPerRequest: requests ? (cpu * 1000) / requests : 0,
		requests,
		failed: result.non2xx + result.errors,
	};
}

const post = (path, body) => fetch(`${base}${path}`, { method: "POST", body: JSON.stringify(body) });
async function pool(items, concurrency, task) {
	const queue = [...items];
	await Promise.all(Array.from({ length: concurrency }, async () => {
		while (queue.length) await task(queue.shift());
	}));
}

const rows = [];
console.log("baseline: no-op route…");
const noop = await load("no-op Hono route (GET /healthz)", { requests: [{ method: "GET", path: "/healthz" }] });
rows.push(noop);

console.log("collect, one event per request, 10,000 visitors…");
rows.push(
	await load("POST /v1/collect, 1 event, 10k visitors", {
		requests: [{ method: "POST", path: `/v1/collect?writeKey=${WRITE_KEY}`, setupRequest: (r) => ({ ...r, body: JSON.stringify(event(randomVisitor(), "Button Clicked")) }) }],
	}),
);

console.log("collect, batches of 20…");
rows.push(
	await load(
		"POST /v1/collect, batch of 20, 10k visitors",
		{
			requests: [
				{
					method: "POST",
					path: `/v1/collect?writeKey=${WRITE_KEY}`,
					setupRequest: (r) => {
						const id = randomVisitor();
						return { ...r, body: JSON.stringify({ batch: Array.from({ length: 20 }, () => event(id, "Button Clicked")) }) };
					},
				},
			],
		},
		20,
	),
);

console.log("collect, one hot visitor…");
rows.push(
	await load("POST /v1/collect, 1 event, one hot visitor", {
		requests: [{ method: "POST", path: `/v1/collect?writeKey=${WRITE_KEY}`, setupRequest: (r) => ({ ...r, body: JSON.stringify(event("hot", "Button Clicked")) }) }],
	}),
);

console.log("seeding 1,000 visitors for /v1/next…");
const ready = Array.from({ length: 1000 }, (_, i) => `next-${i}`);
await pool(ready, 20, (id) => {
	const depth = 1 + (Number(id.slice(5)) % 6);
	return post(`/v1/collect?writeKey=${WRITE_KEY}`, { batch: JOURNEY.slice(0, depth).map((name) => event(id, name)) });
});
rows.push(
	await load("GET /v1/next, visitors with progress", {
		requests: [{ method: "GET", setupRequest: (r) => ({ ...r, path: `/v1/next?writeKey=${WRITE_KEY}&anonymousId=${ready[Math.floor(Math.random() * ready.length)]}&path=/app` }) }],
	}),
);

console.log("seeding 90 days of cohorts for the funnel read…");
const now = Date.now();
const funnelVisitors = Array.from({ length: 3000 }, (_, i) => `funnel-${i}`);
await pool(funnelVisitors, 20, (id) => {
	const i = Number(id.slice(7));
	const start = now - Math.floor(Math.random() * 89 * DAY_MS) - 3_600_000;
	const depth = 1 + (i % JOURNEY.length);
	return post(`/v1/collect?writeKey=${WRITE_KEY}`, {
		batch: JOURNEY.slice(0, depth).map((name, k) =>
			event(id, name, { timestamp: new Date(start + k * 1_800_000).toISOString(), context: { campaign: { source: SOURCES[i % SOURCES.length] } } }),
		),
	});
});
const from = new Date(now - 89 * DAY_MS).toISOString().slice(0, 10);
const funnelPath = `/v1/admin/sites/demo/funnels/saas?from=${from}&breakdown=source`;
for (let i = 0; i < 100; i++) {
	const funnel = await (await fetch(`${base}${funnelPath}`, { headers: ADMIN })).json();
	if ((funnel.breakdown?.values ?? []).reduce((n, v) => n + v.steps[0].visitors, 0) >= 3000) break;
	await new Promise((resolve) => setTimeout(resolve, 200));
}
rows.push(await load("GET funnel, 90 days × 8 shards, by source", { connections: 10, requests: [{ method: "GET", path: funnelPath, headers: ADMIN }] }));

console.log("measuring rows and storage per event on 100 fresh visitors…");
const probe = Array.from({ length: 100 }, (_, i) => `probe-${i}`);
const shardUsage = async () => {
	const all = await Promise.all(Array.from({ length: 8 }, (_, s) => rollups.get(rollups.idFromName(`demo\u0000saas\u0000${s}`)).usage()));
	return all.reduce((sum, u) => ({ rowsRead: sum.rowsRead + u.rowsRead, rowsWritten: sum.rowsWritten + u.rowsWritten, applyCalls: sum.applyCalls + u.applyCalls }), { rowsRead: 0, rowsWritten: 0, applyCalls: 0 });
};
await new Promise((resolve) => setTimeout(resolve, 2_000));
const shardsBefore = await shardUsage();
const typicalJourney = [...JOURNEY, "CTA Viewed", "CTA Clicked"];
await pool(probe, 20, async (id) => {
	for (const name of typicalJourney) {
		const extra = name.startsWith("CTA") ? { properties: { cta_id: "start-trial", variant_id: "a" } } : {};
		await post(`/v1/collect?writeKey=${WRITE_KEY}`, event(id, name, { context: { page: { path: "/blog/remote-work" } }, ...extra }));
	}
});
await new Promise((resolve) => setTimeout(resolve, 3_000));
const shardsAfter = await shardUsage();
const visitorUsage = await Promise.all(probe.map((id) => visitors.get(visitors.idFromName(`demo\u0000anonymous\u0000${id}`)).usage()));
const events = probe.length * typicalJourney.length;
const perEvent = {
	visitorRowsRead: visitorUsage.reduce((n, u) => n + u.rowsRead, 0) / events,
	visitorRowsWritten: visitorUsage.reduce((n, u) => n + u.rowsWritten, 0) / events,
	shardRowsRead: (shardsAfter.rowsRead - shardsBefore.rowsRead) / events,
	shardRowsWritten: (shardsAfter.rowsWritten - shardsBefore.rowsWritten) / events,
	// Each flush is an alarm on the visitor and an RPC to a shard: two billed requests.
	flushes: (shardsAfter.applyCalls - shardsBefore.applyCalls) / events,
};
const bytesPerVisitor = visitorUsage.reduce((n, u) => n + u.databaseBytes, 0) / probe.length;
await mf.dispose();

// Cost per million events, one event per request, ten events per visitor.
const single = rows[1];
const doRequestsPerEvent = 1 + 2 * perEvent.flushes;
const costs = {
	"Worker requests": PRICES.workerRequestsPerMillion,
	"Worker CPU": single.cpuMsPerRequest * PRICES.workerCpuMsPerMillion,
	"Durable Object requests (ingest, alarms, shard RPCs)": doRequestsPerEvent * PRICES.doRequestsPerMillion,
	// 128 MB while a call is active, taken as the measured CPU time per request (under load the
	// latency is mostly queueing, which is not billed as a request's own activity).
	"Durable Object duration": ((doRequestsPerEvent * single.cpuMsPerRequest) / 1000) * 0.128 * PRICES.doGbSecondsPerMillion,
	"SQLite rows written": (perEvent.visitorRowsWritten + perEvent.shardRowsWritten) * PRICES.rowsWrittenPerMillion,
	"SQLite rows read": (perEvent.visitorRowsRead + perEvent.shardRowsRead) * PRICES.rowsReadPerMillion,
	"Storage, one month (100k visitors)": ((100_000 * bytesPerVisitor) / 1e9) * PRICES.storageGbMonth,
};
const totalCost = Object.values(costs).reduce((a, b) => a + b, 0);

const fmt = (n, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const table = [
	"| scenario | req/s | items/s | p50 ms | p99 ms | req/s vs no-op | p99 vs no-op | CPU ms/req | failed |",
	"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
	...rows.map(
		(r) =>
			`| ${r.name} | ${fmt(r.rps)} | ${fmt(r.itemsPerSecond)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(r.rps / noop.rps, 2)}× | ${fmt(r.p99 / Math.max(noop.p99, 1), 2)}× | ${fmt(r.cpuMsPerRequest, 2)} | ${r.failed} |`,
	),
];
const report = `# Benchmark results

${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? "unknown CPU"}), Node ${process.version},
workerd through Miniflare ${JSON.parse(readFileSync("node_modules/miniflare/package.json", "utf8")).version}, autocannon with
${CONNECTIONS} connections for ${SECONDS} s per scenario on loopback (load generator and workerd share the cores).

${table.join("\n")}

"items" are events for collect, answers for the rest. CPU ms/req is the workerd processes' CPU time (worker and
Durable Objects together) divided by the requests served. Ratios compare with the no-op route measured in the same run.

## Sizes

| what | size |
| --- | ---: |
| worker bundle (gzip) | ${fmt(bundleGzip / 1024, 1)} KiB |
| page snippet (gzip) | ${fmt(snippetGzip)} B |
| one visitor's SQLite database after a typical journey (${typicalJourney.length} events) | ${fmt(bytesPerVisitor / 1024, 1)} KiB |

## Observed per event (100 fresh visitors, ${typicalJourney.length} events each, one per request)

| what | per event |
| --- | ---: |
| visitor rows read / written | ${fmt(perEvent.visitorRowsRead, 1)} / ${fmt(perEvent.visitorRowsWritten, 1)} |
| rollup shard rows read / written | ${fmt(perEvent.shardRowsRead, 1)} / ${fmt(perEvent.shardRowsWritten, 1)} |
| rollup flushes (an alarm plus a shard RPC each) | ${fmt(perEvent.flushes, 2)} |
| Durable Object requests | ${fmt(doRequestsPerEvent, 2)} |

## Cost per million events

One event per request, ten events per visitor, list prices beyond the Workers Paid plan's included usage, read
2026-12-03 from developers.cloudflare.com (Workers: $${PRICES.workerRequestsPerMillion}/M requests, $${PRICES.workerCpuMsPerMillion}/M CPU-ms; Durable Objects:
$${PRICES.doRequestsPerMillion}/M requests, $${PRICES.doGbSecondsPerMillion}/M GB-s; SQLite storage: $${PRICES.rowsReadPerMillion}/M rows read, $${PRICES.rowsWrittenPerMillion}/M rows written,
$${PRICES.storageGbMonth}/GB-month).

| item | USD |
| --- | ---: |
${Object.entries(costs).map(([item, usd]) => `| ${item} | ${fmt(usd, 3)} |`).join("\n")}
| **total** | **${fmt(totalCost, 2)}** |

Batching 20 events per request divides the Worker and ingest request costs by 20; rows and flushes stay per event.
`;
writeFileSync("bench/RESULTS.md", report);
console.log(`\n${report}`);
