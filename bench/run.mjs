// `npm run bench`: builds the worker, runs the bundle in workerd through Miniflare's API (not
// wrangler dev's logging proxy), drives it with autocannon on loopback and prints one table,
// also written to bench/RESULTS.md with the per-event figures the capacity model uses
// (bench/results.json → docs/capacity.md). Every ratio compares with the no-op route measured
// in the same run.
//
// BENCH_SECONDS (default 10) is the length of each timed run; BENCH_ONLY=a,b runs only the
// named scenarios (exploration: nothing is written then).
import { execSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { gzipSync } from "node:zlib";
import { writeCapacityModel } from "./capacity.mjs";
import { ADMIN, cpuSeconds, foreignLoad, load, loadAverage, median, pool, send, sleep, startWorker } from "./lib.mjs";
import { history, landing, MIX, newVisitor, NEXT_PATHS, randomSource, returningEvent, sessions } from "./traffic.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",")) : null;
const wanted = (name) => !ONLY || ONLY.has(name);
const CONNECTIONS = 50;
const WARMUP_SECONDS = 2;
const VISITORS = 10_000;
/**
 * New or cold objects one workerd opens per burst: past about 1,600 open databases (within
 * workerd's ~10 s idle eviction) every call fails with SQLITE_NOMEM here.
 */
const OBJECTS_PER_BURST = 1_200;
const FUNNEL_VISITORS = 3_000;
const FUNNEL_DAYS = 90;
const WRITE_KEY = "demo-write-key";
const collectPath = `/v1/collect?writeKey=${WRITE_KEY}`;
const FUNNEL_KEY = "bench-funnel-key";
const COMPATIBILITY_DATE = "2026-04-20";
const DAY_MS = 86_400_000;
const started = new Date();
const random = randomSource(20261203);

const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
// The machine is shared: a full run starts only once the 1-minute load is down (up to ten minutes).
for (let waited = 0; !ONLY && loadAverage() > 1.0 && waited < 600; waited += 20) {
	if (waited === 0) console.log(`load average ${loadAverage()}: waiting for other test runs to finish…`);
	await sleep(20_000);
}
const loadAtStart = loadAverage();
console.log(`load average at the start: ${loadAtStart}`);
console.log("building…");
execSync("node client/build.mjs", { stdio: "inherit", env });
execSync("npx wrangler deploy --dry-run --outdir bench/.build", { stdio: "ignore", env });
const sizes = {
	bundleGzipBytes: gzipSync(readFileSync("bench/.build/index.js")).byteLength,
	// As client/build.mjs measures it against its 2,048-byte budget.
	snippetGzipBytes: gzipSync(JSON.parse(readFileSync("worker/generated/snippet.ts", "utf8").match(/export const SNIPPET = (".*");/)[1]), { level: 9 })
		.byteLength,
};

const persistDir = mkdtempSync(`${existsSync("/dev/shm") ? "/dev/shm" : tmpdir()}/nudge-bench-`);
const start = () => startWorker({ scriptPath: "bench/.build/index.js", persistDir, compatibilityDate: COMPATIBILITY_DATE });
let worker = await start();
const problems = [];
/**
 * Stops workerd and starts it again on the same storage: every object leaves memory (a cold
 * start for each next time), and the next phase starts with none open.
 */
async function restart() {
	problems.push(...worker.problems);
	await worker.mf.dispose();
	worker = await start();
}
/** Creates visitors in chunks on a fresh workerd each: it holds only so many objects at once. */
async function createVisitors(items, body, path = collectPath) {
	for (let i = 0; i < items.length; i += 800) {
		await restart();
		await pool(items.slice(i, i + 800), CONNECTIONS, (item) => send(worker.base, path, { body: body(item) }));
		await sleep(1_500); // their first rollup flushes
	}
	await restart();
}

const demoConfig = JSON.parse(readFileSync("schema/sites/demo.json", "utf8"));
// The hot-visitor row measures one object's ceiling, not the per-visitor token bucket: lift it.
await send(worker.base, "/v1/admin/sites/demo", { method: "PUT", headers: ADMIN, body: { ...demoConfig, visitorRateLimit: { perSecond: 10_000, burst: 1_000_000 } } });
// The funnel's visitors live on a site of their own, so waiting for them counts nobody else.
await send(worker.base, "/v1/admin/sites/bench-funnel", {
	method: "PUT",
	headers: ADMIN,
	body: { ...demoConfig, id: "bench-funnel", writeKeys: [FUNNEL_KEY], visitorRateLimit: { perSecond: 10_000, burst: 1_000_000 } },
});

/** Work every object in the isolate did so far, read through an object that stores nothing. */
async function isolateUsage() {
	const [usage] = (await worker.drive([{ ns: "VISITORS", name: "bench\u0000usage-probe", method: "usage", args: [], keep: true }])).results;
	return usage.isolate;
}

function usageDelta(before, after) {
	const kinds = {};
	for (const kind of new Set([...Object.keys(before), ...Object.keys(after)])) {
		const a = after[kind] ?? { statements: 0, rowsRead: 0, rowsWritten: 0, tallies: {} };
		const b = before[kind] ?? { statements: 0, rowsRead: 0, rowsWritten: 0, tallies: {} };
		const tallies = {};
		for (const what of new Set([...Object.keys(a.tallies), ...Object.keys(b.tallies)])) tallies[what] = (a.tallies[what] ?? 0) - (b.tallies[what] ?? 0);
		kinds[kind] = { statements: a.statements - b.statements, rowsRead: a.rowsRead - b.rowsRead, rowsWritten: a.rowsWritten - b.rowsWritten, tallies };
	}
	return kinds;
}

const rows = [];
const loads = [];

/**
 * Waits (up to two minutes) until other processes keep less than half a core busy, and says
 * what it found: the cores are shared with other engineers' test suites.
 */
async function quietMachine() {
	let foreign = await foreignLoad(worker.pids);
	for (let waited = 0; foreign > 0.5 && waited < 120; waited += 10) {
		if (waited === 0) console.log(`other processes use ${foreign.toFixed(2)} cores: waiting…`);
		await sleep(7_000);
		foreign = await foreignLoad(worker.pids);
	}
	return Math.round(foreign * 100) / 100;
}

/**
 * A timed scenario: a short warm-up (discarded), then `SECONDS` measured, in `bursts` on a fresh
 * workerd each when one run would open more objects than it holds. `objectsPerBurst` bounds a
 * burst (its warm-up included) by requests rather than time when each request opens an object:
 * the rate then sets how long it lasts, never how many databases are open. CPU time is that of
 * this run's workerd alone; the objects' work is read from their own counters.
 */
async function measure(
	name,
	{ requests, itemsPerRequest = 1, connections = CONNECTIONS, seconds = SECONDS, warmup = WARMUP_SECONDS, label, bursts = 1, objectsPerBurst },
) {
	const loadBefore = await quietMachine();
	const runs = [];
	for (let burst = 0; burst < bursts; burst++) {
		if (bursts > 1) await restart();
		const warmupAmount = objectsPerBurst ? Math.round(objectsPerBurst / 6) : undefined;
		if (warmup) await load(worker.base, { connections, seconds: warmup, requests, amount: warmupAmount });
		const usageBefore = await isolateUsage();
		const cpuBefore = cpuSeconds(worker.pids);
		const amount = objectsPerBurst ? objectsPerBurst - (warmupAmount ?? 0) : undefined;
		const run = await load(worker.base, { connections, seconds: seconds / bursts, requests, amount });
		const cpu = cpuSeconds(worker.pids) - cpuBefore;
		runs.push({ ...run, cpu, usage: usageDelta(usageBefore, await isolateUsage()) });
	}
	if (bursts > 1) await restart();
	const sum = (f) => runs.reduce((n, run) => n + f(run), 0);
	const merge = (f) => {
		const merged = {};
		for (const run of runs) for (const [k, v] of Object.entries(f(run))) merged[k] = (merged[k] ?? 0) + v;
		return merged;
	};
	const statuses = merge((run) => run.statuses);
	const errors = merge((run) => run.errors);
	const requestsServed = sum((run) => run.result.requests.total);
	const rps = sum((run) => run.result.requests.average) / runs.length;
	const usage = {};
	for (const kind of ["visitor", "rollup"]) {
		usage[kind] = {
			statements: sum((run) => run.usage[kind]?.statements ?? 0),
			rowsRead: sum((run) => run.usage[kind]?.rowsRead ?? 0),
			rowsWritten: sum((run) => run.usage[kind]?.rowsWritten ?? 0),
			tallies: merge((run) => run.usage[kind]?.tallies ?? {}),
		};
	}
	const row = {
		name,
		label: label ?? name,
		connections,
		seconds,
		bursts,
		loadBefore,
		rps,
		itemsPerSecond: rps * itemsPerRequest,
		itemsPerRequest,
		// Over bursts: the median burst's percentiles.
		p50: median(runs.map((run) => run.result.latency.p50)),
		p99: median(runs.map((run) => run.result.latency.p99)),
		// autocannon's percentiles are whole milliseconds; the mean is not.
		meanLatency: median(runs.map((run) => run.result.latency.average)),
		requests: requestsServed,
		cpuMsPerRequest: requestsServed ? (sum((run) => run.cpu) * 1000) / requestsServed : 0,
		statuses,
		errors,
		failed: requestsServed - (statuses[200] ?? 0) + Object.values(errors).reduce((a, b) => a + b, 0),
		// When failed requests failed, in ms from the start of their run: a burst at the end is autocannon stopping.
		errorTimes: runs.flatMap((run) => run.errorTimes),
		usage,
	};
	loads.push(loadBefore);
	console.log(
		`${row.label}: ${Math.round(row.rps)} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, ${row.cpuMsPerRequest.toFixed(2)} CPU ms/req, statuses ${JSON.stringify(statuses)}${
			Object.keys(errors).length ? `, errors ${JSON.stringify(errors)}` : ""
		} (other processes: ${loadBefore} cores)`,
	);
	return row;
}

const postEach = (make) => [{ method: "POST", path: collectPath, setupRequest: (request) => ({ ...request, body: JSON.stringify(make()) }) }];

// ---- the ceiling: a route that does nothing, measured three times now and twice at the end
const baselineRuns = [];
async function baseline(runs) {
	for (let i = 0; i < runs; i++) {
		baselineRuns.push(
			await measure("noop", { label: `no-op run ${baselineRuns.length + 1}`, requests: [{ method: "GET", path: "/healthz" }], warmup: i === 0 ? 3 : 0 }),
		);
	}
}
await baseline(3);

// ---- the first event of a visitor: its object and schema are created
let fresh = 0;
if (wanted("new")) {
	rows.push(
		await measure("new", {
			label: "POST /v1/collect, first event of a new visitor",
			bursts: 3,
			warmup: 1,
			objectsPerBurst: OBJECTS_PER_BURST,
			requests: postEach(() => landing(newVisitor(`new-${fresh++}`, random), random)),
		}),
	);
}

// ---- 10,000 visitors with a history (not timed)
console.log(`creating ${VISITORS.toLocaleString("en-US")} visitors with a history (not timed)…`);
const population = Array.from({ length: VISITORS }, (_, i) => newVisitor(`v-${i}`, random));
const seedingStarted = Date.now();
await createVisitors(population, (visitor) => ({ batch: history(visitor, random) }));
console.log(`  ${((Date.now() - seedingStarted) / 1000).toFixed(0)} s`);
const someone = sessions(population, random);

// The target's own row, like the no-op it is compared with, is the median of runs spread over
// the bench: from one run to the next on this machine it varies by a third.
const spreadRuns = [];
async function spreadRun() {
	if (!wanted("spread")) return;
	spreadRuns.push(
		await measure("spread", {
			label: `POST /v1/collect, 1 event, returning visitors (10k), run ${spreadRuns.length + 1}`,
			requests: postEach(() => returningEvent(someone(), random)),
		}),
	);
}
await spreadRun();
if (wanted("batch")) {
	rows.push(
		await measure("batch", {
			label: "POST /v1/collect, batch of 20, returning visitors (10k)",
			itemsPerRequest: 20,
			requests: postEach(() => {
				const visitor = someone();
				return { batch: Array.from({ length: 20 }, () => returningEvent(visitor, random)) };
			}),
		}),
	);
}
if (wanted("hot")) {
	const hot = newVisitor("hot", random);
	await send(worker.base, collectPath, { body: landing(hot, random) });
	rows.push(await measure("hot", { label: "POST /v1/collect, 1 event, one hot visitor", requests: postEach(() => returningEvent(hot, random)) }));
}
if (wanted("next")) {
	rows.push(
		await measure("next", {
			label: "GET /v1/next, returning visitors (10k)",
			requests: [
				{
					method: "GET",
					setupRequest: (request) => ({
						...request,
						path: `/v1/next?writeKey=${WRITE_KEY}&anonymousId=${someone().id}&path=${NEXT_PATHS[Math.floor(random() * NEXT_PATHS.length)]}`,
					}),
				},
			],
		}),
	);
}

// ---- the same visitors with no object in memory (a restart): the first event of a session
if (wanted("cold")) {
	// Every request goes to a visitor not touched since the restart (the warm-ups included).
	const order = [...population].sort(() => random() - 0.5);
	let next = 0;
	rows.push(
		await measure("cold", {
			label: "POST /v1/collect, 1 event, returning visitor, object not in memory",
			bursts: 3,
			warmup: 1,
			objectsPerBurst: OBJECTS_PER_BURST,
			requests: postEach(() => {
				const visitor = order[next++ % order.length];
				return returningEvent(visitor, random);
			}),
		}),
	);
	if (next > order.length) console.warn(`cold: ${next} requests for ${order.length} visitors; some objects were warm`);
}

// ---- funnel reads over 90 days × 8 shards (seeded on their own site, not timed)
let funnelShardBytes = 0;
if (wanted("funnel")) {
	console.log(`seeding ${FUNNEL_VISITORS.toLocaleString("en-US")} visitors over ${FUNNEL_DAYS} days for the funnel…`);
	const now = Date.now();
	const from = new Date(now - (FUNNEL_DAYS - 1) * DAY_MS).toISOString().slice(0, 10);
	// Journeys begin between the range's first midnight and an hour ago: all 90 cohort days, none outside.
	const firstMidnight = Date.parse(from);
	const funnelVisitors = Array.from({ length: FUNNEL_VISITORS }, (_, i) => newVisitor(`funnel-${i}`, random));
	await createVisitors(
		funnelVisitors,
		(visitor) => {
			const began = firstMidnight + Math.floor(random() * (now - 3_600_000 - firstMidnight));
			return { batch: history(visitor, random).map((event, k) => ({ ...event, timestamp: new Date(began + k * 1_800_000).toISOString() })) };
		},
		`/v1/collect?writeKey=${FUNNEL_KEY}`,
	);
	const funnelPath = `/v1/admin/sites/bench-funnel/funnels/saas?from=${from}&breakdown=source`;
	// Each visitor reaches `engaged`: the funnel is complete once its first step counts all of them.
	const deadline = Date.now() + 120_000;
	for (;;) {
		const funnel = await send(worker.base, funnelPath, { method: "GET", headers: ADMIN });
		const counted = (funnel.steps[0]?.visitors ?? 0) + (funnel.bots[0]?.visitors ?? 0);
		if (counted === FUNNEL_VISITORS) break;
		if (Date.now() > deadline) throw new Error(`the funnel counts ${counted} of ${FUNNEL_VISITORS} seeded visitors after 120 s`);
		await sleep(500);
	}
	rows.push(await measure("funnel", { label: "GET funnel, 90 days × 8 shards, by source", requests: [{ method: "GET", path: funnelPath, headers: ADMIN }] }));
	rows.push(
		await measure("funnel1", {
			label: "GET funnel, 90 days × 8 shards, by source, 1 connection",
			connections: 1,
			requests: [{ method: "GET", path: funnelPath, headers: ADMIN }],
		}),
	);
	const shardUsage = (await worker.drive(Array.from({ length: 8 }, (_, s) => ({ ns: "ROLLUPS", name: `bench-funnel\u0000saas\u0000${s}`, method: "usage", args: [], keep: true }))))
		.results;
	funnelShardBytes = shardUsage.reduce((n, u) => n + u.databaseBytes, 0);
}

await spreadRun();

// ---- unloaded latency: what one request takes when nothing queues (DO duration is wall-clock)
const unloaded = {};
if (wanted("unloaded")) {
	unloaded.noop = await measure("noop1", { label: "no-op, 1 connection", connections: 1, seconds: 3, warmup: 1, requests: [{ method: "GET", path: "/healthz" }] });
	// The same rate with fewer connections: what of the baseline's p99 is queueing at 50.
	unloaded.noop10 = await measure("noop10", { label: "no-op, 10 connections", connections: 10, seconds: 3, warmup: 1, requests: [{ method: "GET", path: "/healthz" }] });
	unloaded.spread = await measure("spread1", {
		label: "POST /v1/collect, returning visitors, 1 connection",
		connections: 1,
		seconds: 3,
		warmup: 1,
		requests: postEach(() => returningEvent(someone(), random)),
	});
}

// ---- a rollup shard's own costs, through in-process RPC from the driver worker
const shard = {};
if (wanted("shard")) {
	console.log("measuring rollup shard updates, statistics reads and registry reads…");
	const today = new Date().toISOString().slice(0, 10);
	const steps = ["engaged", "subscribed", "signed_up", "trial_started", "first_post", "analytics_viewed", "channels_connected", "paid"];
	const touches = Array.from({ length: 40 }, (_, i) => ({
		source: ["twitter", "newsletter", "google", "linkedin", "(none)"][i % 5],
		medium: ["social", "email", "organic", "(none)"][i % 4],
		campaign: i % 3 ? "spring" : "(none)",
		referrer: ["t.co", "(direct)", "google.com", "linkedin.com", "news.ycombinator.com"][i % 5],
		country: ["US", "DE", "GB", "FR", "IN", "BR", "NL", "JP"][i % 8],
		device: ["desktop", "mobile", "tablet"][i % 3],
	}));
	/** A visitor's contribution after reaching `reached` steps, an hour apart: what one flush sends. */
	const contribution = (i, reached) => {
		const start = Date.parse(`${today}T00:10:00Z`) + (i % 600) * 60_000;
		return {
			cohortDay: today,
			steps: steps.slice(0, reached).map((step, k) => ({ step, at: start + k * 3_600_000, fromPrevious: k ? 3_600 : null, fromStart: k * 3_600 })),
			touch: touches[i % touches.length],
			group: i % 10 ? "treated" : "holdout",
			ctas: [],
		};
	};
	const shardName = (n) => `bench-shard\u0000saas\u0000${n}`;
	const UPDATES = 1_500;
	// Each visitor's first flush, then one more step per flush, as visitors move on minutes apart.
	const applyCalls = (name, visitors, versions) =>
		Array.from({ length: visitors * versions }, (_, n) => {
			const i = n % visitors;
			const version = Math.floor(n / visitors) + 1;
			return { ns: "ROLLUPS", name, method: "apply", args: [{ retentionDays: 400, updates: [{ visitor: `bench-${i}`, version, contribution: contribution(i, version) }] }] };
		});
	const cpuOf = async (calls, concurrency = 1) => {
		const before = cpuSeconds(worker.pids);
		const answer = await worker.drive(calls, concurrency);
		return { cpuMs: (cpuSeconds(worker.pids) - before) * 1000, wallMs: answer.ms };
	};
	const shardStats = async (name) => (await worker.drive([{ ns: "ROLLUPS", name, method: "usage", args: [], keep: true }])).results[0];
	await quietMachine();
	// The cost of the RPC itself: the cheapest method, the same number of times.
	await cpuOf(Array.from({ length: 200 }, () => ({ ns: "ROLLUPS", name: shardName(0), method: "usage", args: [] })));
	const rpc = await cpuOf(Array.from({ length: UPDATES }, () => ({ ns: "ROLLUPS", name: shardName(0), method: "usage", args: [] })));
	const before = await shardStats(shardName(0));
	const applied = await cpuOf(applyCalls(shardName(0), UPDATES / 5, 5));
	const after = await shardStats(shardName(0));
	shard.rpcCpuMs = rpc.cpuMs / UPDATES;
	shard.applyCpuMs = (applied.cpuMs - rpc.cpuMs) / UPDATES;
	shard.applyWallMs = applied.wallMs / UPDATES;
	shard.rowsWrittenPerApply = (after.rowsWritten - before.rowsWritten) / UPDATES;
	shard.rowsReadPerApply = (after.rowsRead - before.rowsRead) / UPDATES;
	shard.statementsPerApply = (after.statements - before.statements) / UPDATES;
	shard.bytesPerVisitor = after.databaseBytes / (UPDATES / 5);
	// One shard's ceiling: updates from 50 callers at once, on a shard of its own.
	const burst = await cpuOf(applyCalls(shardName(1), 600, 5), 50);
	shard.appliesPerSecond = 3_000 / (burst.wallMs / 1000);
	// What the ranking's statistics refresh costs a shard: its read over 90 days of the funnel site.
	if (wanted("funnel")) {
		const from = new Date(Date.now() - 89 * DAY_MS).toISOString().slice(0, 10);
		// What one refresh asks each shard (worker/cta-stats.ts): its step reaches and CTA counters, in one call.
		const refreshes = await cpuOf(
			Array.from({ length: 200 }, (_, n) => ({ ns: "ROLLUPS", name: `bench-funnel\u0000saas\u0000${n % 8}`, method: "rankingInputs", args: [from, today] })),
		);
		shard.refreshCpuMs = (refreshes.cpuMs - 200 * shard.rpcCpuMs) / 200;
		shard.refreshWallMs = refreshes.wallMs / 200;
	}
	// The registry every isolate asks for a key's site every 5 s.
	const sha = createHash("sha256").update(WRITE_KEY).digest("hex");
	const registry = await cpuOf(Array.from({ length: 1_000 }, () => ({ ns: "SITES", name: "registry", method: "ownerOfKey", args: [WRITE_KEY, sha] })));
	shard.registryReadCpuMs = registry.cpuMs / 1_000 - shard.rpcCpuMs;
	shard.registryReadWallMs = registry.wallMs / 1_000;
	console.log(JSON.stringify(shard));
}

// ---- storage per visitor: after the first event, and after a typical journey (12 events)
const storage = {};
if (wanted("storage")) {
	const probe = Array.from({ length: 50 }, (_, i) => newVisitor(`probe-${i}`, random));
	const bytes = async () =>
		(await worker.drive(probe.map((v) => ({ ns: "VISITORS", name: `demo\u0000anonymous\u0000${v.id}`, method: "usage", args: [], keep: true })))).results.reduce(
			(n, u) => n + u.databaseBytes,
			0,
		) / probe.length;
	await pool(probe, 10, (visitor) => send(worker.base, collectPath, { body: landing(visitor, random) }));
	storage.afterFirstEvent = await bytes();
	await pool(probe, 10, async (visitor) => {
		for (let k = 0; k < 11; k++) await send(worker.base, collectPath, { body: returningEvent(visitor, random) });
	});
	await sleep(2_500);
	storage.afterJourney = await bytes();
	storage.journeyEvents = 12;
	storage.shardBytesPerVisitor = funnelShardBytes / FUNNEL_VISITORS;
	console.log(`a visitor's database: ${storage.afterFirstEvent} bytes after its first event, ${storage.afterJourney} after ${storage.journeyEvents} events`);
}

await spreadRun();
if (spreadRuns.length) {
	const middle = [...spreadRuns].sort((a, b) => a.rps - b.rps)[Math.floor(spreadRuns.length / 2)];
	rows.push({
		...middle,
		label: `POST /v1/collect, 1 event, returning visitors (10k), median of ${spreadRuns.length} runs`,
		runs: spreadRuns.map(({ rps, p50, p99, cpuMsPerRequest, loadBefore }) => ({ rps, p50, p99, cpuMsPerRequest, loadBefore })),
	});
}
await baseline(2);
problems.push(...worker.problems);
await worker.mf.dispose();
rmSync(persistDir, { recursive: true, force: true });

if (ONLY) {
	console.log("BENCH_ONLY: nothing written.");
	process.exit(0);
}

// ---- the baseline of this run: the median of five runs spread over it
const noop = {
	...baselineRuns[0],
	name: "noop",
	label: `no-op Hono route (GET /healthz), median of ${baselineRuns.length} runs`,
	rps: median(baselineRuns.map((r) => r.rps)),
	itemsPerSecond: median(baselineRuns.map((r) => r.rps)),
	p50: median(baselineRuns.map((r) => r.p50)),
	p99: median(baselineRuns.map((r) => r.p99)),
	cpuMsPerRequest: median(baselineRuns.map((r) => r.cpuMsPerRequest)),
	requests: baselineRuns.reduce((n, r) => n + r.requests, 0),
	failed: baselineRuns.reduce((n, r) => n + r.failed, 0),
	runs: baselineRuns.map(({ rps, p50, p99, loadBefore }) => ({ rps, p50, p99, loadBefore })),
};

const results = {
	date: started.toISOString().slice(0, 10),
	startedAt: started.toISOString(),
	machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? "unknown CPU", node: process.version, loadAtStart, loadAtEnd: loadAverage(), foreignLoads: loads },
	miniflare: JSON.parse(readFileSync("node_modules/miniflare/package.json", "utf8")).version,
	seconds: SECONDS,
	connections: CONNECTIONS,
	visitors: VISITORS,
	mix: MIX,
	noop,
	rows,
	unloaded,
	shard,
	storage,
	sizes,
	funnel: { visitors: FUNNEL_VISITORS, days: FUNNEL_DAYS },
	// From `bench/profile.mjs`, a run of its own: quoted as such.
	profile: existsSync("bench/profile.json") ? JSON.parse(readFileSync("bench/profile.json", "utf8")) : null,
	problems: problems.slice(0, 20),
	problemCount: problems.length,
};
writeFileSync("bench/results.json", `${JSON.stringify(results, null, "\t")}\n`);
const { report } = writeCapacityModel(results);
console.log(`\n${report}`);
