// `npm run test:faults`: durability under faults. Builds the worker, runs it in workerd with its
// Durable Object state on disk (test/faults/server.mjs, in a child process group), drives
// sustained journey traffic from many visitors and, in the middle of it, kills the runtime with
// SIGKILL (no cleanup, requests in flight) and starts it again on the same state. Every event
// that got no 2xx is then retried with the same messageId, as a real client would. Checks:
// - every event is stored exactly once: per visitor, eventCount and the stored messageIds;
// - once the alarms have run (polled, up to 45 s), the funnel equals the counts computed from
//   the visitors' own profiles.
// Prints events sent, acknowledged, stored and the restarts; exits non-zero on any mismatch.
// Env: FAULTS_SEED (replay a run), FAULTS_VISITORS (default 250), FAULTS_VERBOSE=1 (runtime logs).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SEED = Number(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);
const VISITORS = Number(process.env.FAULTS_VISITORS ?? 250);
const VERBOSE = process.env.FAULTS_VERBOSE === "1";
const CONCURRENCY = 24;
/** The share of deliveries after which the runtime is killed, once each. */
const KILL_AT = [0.25, 0.5, 0.75];
const REQUEST_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 60_000;
const FUNNEL_WAIT_MS = 45_000;
/** The whole run, builds included; past it the run fails rather than hang CI. */
const RUN_TIMEOUT_MS = 6 * 60_000;
const WRITE_KEY = "demo-write-key";
const ADMIN = { authorization: "Bearer dev-admin-token" };
/** The demo journey, one event per step (test/demo-walk.json, shared with the concurrency test). */
const JOURNEY = JSON.parse(readFileSync(new URL("../demo-walk.json", import.meta.url), "utf8"));

const tmp = mkdtempSync(join(tmpdir(), "nudge-faults-"));
let server = null;
let finished = false;

/** Ends whatever is left: the runtime's process group (SIGKILL) and the temporary state. */
function cleanup() {
	if (server && server.exitCode === null && server.signalCode === null) {
		try {
			process.kill(-server.pid, "SIGKILL");
		} catch {
			// Already gone.
		}
	}
	rmSync(tmp, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const signal of ["SIGINT", "SIGTERM"]) {
	process.on(signal, () => {
		console.error(`faults: ${signal}, stopping`);
		process.exit(130);
	});
}
const watchdog = setTimeout(() => {
	console.error(`faults: FAILED, no result within ${RUN_TIMEOUT_MS / 1000} s`);
	process.exit(1);
}, RUN_TIMEOUT_MS);
watchdog.unref();

// ---------------------------------------------------------------------------------------------
// The runtime, in a child process group that can be killed without any cleanup.

const recentLogs = [];
function keepLog(line) {
	if (VERBOSE) console.error(`  [runtime] ${line}`);
	recentLogs.push(line);
	if (recentLogs.length > 40) recentLogs.shift();
}

function freePort() {
	return new Promise((resolve, reject) => {
		const probe = createServer();
		probe.once("error", reject);
		probe.listen(0, "127.0.0.1", () => {
			const { port } = probe.address();
			probe.close(() => resolve(port));
		});
	});
}

/** Starts the runtime on the persisted state; resolves with its base URL once it serves. */
async function startServer(bundle) {
	const port = await freePort();
	const child = spawn(process.execPath, ["test/faults/server.mjs", bundle, join(tmp, "state"), String(port)], {
		// Its own process group: SIGKILL to -pid takes workerd down with it, mid-write.
		detached: true,
		stdio: ["ignore", "pipe", "pipe"],
	});
	server = child;
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`the runtime did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
		let buffered = "";
		child.stdout.on("data", (chunk) => {
			buffered += chunk;
			let newline;
			while ((newline = buffered.indexOf("\n")) >= 0) {
				const line = buffered.slice(0, newline);
				buffered = buffered.slice(newline + 1);
				const ready = line.match(/^READY (\S+)/);
				if (ready) {
					clearTimeout(timer);
					resolve(ready[1]);
				} else keepLog(line);
			}
		});
		child.stderr.on("data", (chunk) => String(chunk).split("\n").filter(Boolean).forEach(keepLog));
		child.once("exit", (code, signal) => {
			clearTimeout(timer);
			reject(new Error(`the runtime exited before serving (${signal ?? code})`));
		});
	});
}

/** SIGKILL to the runtime's whole process group: workerd gets no chance to flush or clean up. */
async function killServer() {
	const child = server;
	const exited = new Promise((resolve) => child.once("exit", resolve));
	process.kill(-child.pid, "SIGKILL");
	await exited;
}

/** Asks the runtime to stop cleanly; SIGKILL after 5 s. */
async function stopServer() {
	const child = server;
	if (!child || child.exitCode !== null || child.signalCode !== null) return;
	const exited = new Promise((resolve) => child.once("exit", resolve));
	child.kill("SIGTERM");
	const late = setTimeout(() => process.kill(-child.pid, "SIGKILL"), 5_000);
	await exited;
	clearTimeout(late);
}

// ---------------------------------------------------------------------------------------------
// Traffic: visitors walking part of the demo journey, with page views in between.

/** mulberry32: a seeded generator, so FAULTS_SEED replays a run's traffic exactly. */
function seeded(seed) {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
	};
}
const random = seeded(SEED);
const pick = (n) => Math.floor(random() * n);

const run = `faults-${SEED}`;
/** visitor id → the events sent for it, in order. */
const eventsByVisitor = new Map();
const allEvents = [];
for (let v = 0; v < VISITORS; v++) {
	const visitor = `${run}-visitor-${v}`;
	const steps = pick(JOURNEY.length + 1);
	const events = [];
	for (let i = 0; i < steps; i++) {
		for (let filler = pick(3); filler > 0; filler--) events.push({ type: "page", context: { page: { path: `/app/page-${pick(50)}` } } });
		events.push(JOURNEY[i]);
	}
	if (events.length === 0) events.push({ type: "page", context: { page: { path: "/pricing" } } });
	const stamped = events.map((event, i) => ({ ...event, anonymousId: visitor, messageId: `${visitor}-${i}` }));
	eventsByVisitor.set(visitor, stamped);
	allEvents.push(...stamped);
}

/**
 * Deliveries: mostly one event (a beacon), sometimes a batch of the next few events of one
 * visitor, sometimes a batch across visitors (a server SDK). Each visitor's events leave in order.
 */
function planDeliveries() {
	const queues = [...eventsByVisitor.values()].map((events) => [...events]);
	const deliveries = [];
	while (queues.some((queue) => queue.length)) {
		const open = queues.filter((queue) => queue.length);
		const roll = random();
		if (roll < 0.7) {
			deliveries.push([open[pick(open.length)].shift()]);
		} else if (roll < 0.85) {
			const queue = open[pick(open.length)];
			deliveries.push(queue.splice(0, 2 + pick(4)));
		} else {
			deliveries.push(Array.from({ length: Math.min(open.length, 2 + pick(4)) }, (_, i) => open[i].shift()));
		}
	}
	return deliveries;
}

const stats = { deliveries: 0, failedDeliveries: 0, acknowledged: 0, retried: 0, storedUnacknowledged: 0, restarts: 0, worstMs: 0 };
/** messageId → "acknowledged" once some delivery of it got a 2xx. */
const acknowledged = new Set();

let base = "";
/** Resolves while the runtime serves; replaced by a pending promise while it is down. */
let up = Promise.resolve();

async function deliver(events) {
	await up;
	const started = Date.now();
	stats.deliveries++;
	const body = events.length === 1 ? events[0] : { writeKey: WRITE_KEY, batch: events };
	try {
		const res = await fetch(`${base}/v1/collect?writeKey=${WRITE_KEY}`, {
			method: "POST",
			headers: { "content-type": "text/plain" },
			body: JSON.stringify(body),
			signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
		});
		const answer = await res.json().catch(() => null);
		stats.worstMs = Math.max(stats.worstMs, Date.now() - started);
		if (res.status === 200 && answer && Array.isArray(answer.rejected) && answer.rejected.length === 0) {
			// A duplicate of an event never acknowledged: stored just before a kill, its answer lost.
			if (events.some((event) => !acknowledged.has(event.messageId))) stats.storedUnacknowledged += answer.duplicates;
			for (const event of events) acknowledged.add(event.messageId);
			return true;
		}
		if (res.status === 200) throw new Error(`events rejected: ${JSON.stringify(answer.rejected).slice(0, 300)}`);
		if (res.status === 429 || res.status === 503) await sleep(Number(res.headers.get("retry-after") ?? 1) * 1_000);
		else throw new Error(`unexpected ${res.status}: ${JSON.stringify(answer).slice(0, 300)}`);
	} catch (error) {
		if (!isTransient(error)) throw error;
	}
	stats.failedDeliveries++;
	return false;
}

/** Connection refused or reset, a timeout: what a client sees while the runtime is down. */
function isTransient(error) {
	return error?.name === "TimeoutError" || error?.name === "AbortError" || error?.name === "TypeError" || /fetch failed|ECONN|socket/i.test(String(error?.message));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends the deliveries with `CONCURRENCY` in flight; `onProgress(sent)` may kill the runtime. */
async function drive(deliveries, onProgress) {
	const failed = [];
	let next = 0;
	let sent = 0;
	await Promise.all(
		Array.from({ length: CONCURRENCY }, async () => {
			while (next < deliveries.length) {
				const events = deliveries[next++];
				if (!(await deliver(events))) failed.push(events);
				await onProgress(++sent);
			}
		}),
	);
	return failed;
}

async function restart(bundle) {
	let release;
	up = new Promise((resolve) => (release = resolve));
	await killServer();
	stats.restarts++;
	base = await startServer(bundle);
	console.log(`faults: runtime killed (SIGKILL) and restarted on the same state (${stats.restarts})`);
	release();
}

// ---------------------------------------------------------------------------------------------
// Checks through the admin API.

async function getJson(path) {
	const res = await fetch(`${base}${path}`, { headers: ADMIN, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
	if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
	return res.json();
}

async function checkStorage() {
	const problems = [];
	let stored = 0;
	const cohorts = new Map();
	const profiles = await Promise.all(
		[...eventsByVisitor.keys()].map(async (visitor) => [visitor, await getJson(`/v1/admin/sites/demo/visitors/${encodeURIComponent(visitor)}?format=export`)]),
	);
	for (const [visitor, exported] of profiles) {
		const expected = eventsByVisitor.get(visitor).map((event) => event.messageId).sort();
		stored += exported.eventCount;
		if (exported.eventCount !== expected.length) problems.push(`${visitor}: eventCount ${exported.eventCount}, sent ${expected.length}`);
		if (JSON.stringify(exported.messageIds) !== JSON.stringify(expected)) {
			const missing = expected.filter((id) => !exported.messageIds.includes(id));
			const extra = exported.messageIds.filter((id) => !expected.includes(id));
			problems.push(`${visitor}: messageIds missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}`);
		}
		const journey = exported.journeys.find((j) => j.id === "saas");
		if (journey?.completed.length) {
			const day = journey.completed.map((step) => step.at).sort()[0].slice(0, 10);
			cohorts.set(visitor, { day, steps: journey.completed.map((step) => step.step) });
		}
	}
	return { problems, stored, cohorts };
}

/** Per step, the visitors whose own profile says they reached it: what the funnel must show. */
function expectedFunnel(cohorts) {
	const counts = new Map();
	for (const { steps } of cohorts.values()) for (const step of steps) counts.set(step, (counts.get(step) ?? 0) + 1);
	return counts;
}

async function checkFunnel(cohorts) {
	const days = [...cohorts.values()].map((cohort) => cohort.day).sort();
	if (days.length === 0) return { ok: true, waited: 0, last: "no visitor reached a step" };
	const expected = expectedFunnel(cohorts);
	const path = `/v1/admin/sites/demo/funnels/saas?from=${days[0]}&to=${days.at(-1)}`;
	const started = Date.now();
	let last = "";
	while (Date.now() - started < FUNNEL_WAIT_MS) {
		const funnel = await getJson(path);
		const mismatches = funnel.steps.filter((step) => step.visitors !== (expected.get(step.id) ?? 0));
		last = funnel.steps.map((step) => `${step.id} ${step.visitors}/${expected.get(step.id) ?? 0}`).join(", ");
		if (mismatches.length === 0) return { ok: true, waited: Date.now() - started, last };
		await sleep(1_000);
	}
	return { ok: false, waited: Date.now() - started, last };
}

// ---------------------------------------------------------------------------------------------

async function main() {
	const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
	console.log(`faults: seed ${SEED} (FAULTS_SEED=${SEED} replays it), ${VISITORS} visitors, ${allEvents.length} events; building…`);
	execFileSync(process.execPath, ["client/build.mjs"], { stdio: "ignore", env });
	execFileSync(process.execPath, ["node_modules/wrangler/bin/wrangler.js", "deploy", "--dry-run", "--outdir", join(tmp, "build")], { stdio: "ignore", env });
	const bundle = join(tmp, "build", "index.js");
	base = await startServer(bundle);

	const deliveries = planDeliveries();
	const killAt = KILL_AT.map((share) => Math.floor(deliveries.length * share));
	let killing = Promise.resolve();
	const failed = await drive(deliveries, async (sent) => {
		if (killAt.includes(sent)) killing = killing.then(() => restart(bundle));
	});
	await killing;
	stats.acknowledged = acknowledged.size;

	// A real client's retry: the same events, same messageIds, until each gets a 2xx.
	let pending = failed;
	for (let round = 1; pending.length && round <= 10; round++) {
		stats.retried += pending.reduce((sum, events) => sum + events.length, 0);
		pending = await drive(pending, async () => {});
		if (pending.length) await sleep(1_000);
	}
	const neverAcknowledged = allEvents.filter((event) => !acknowledged.has(event.messageId));

	const { problems, stored, cohorts } = await checkStorage();
	const funnel = await checkFunnel(cohorts);
	await stopServer();

	console.log(
		`faults: events sent ${allEvents.length} in ${stats.deliveries} requests (${deliveries.length} planned, ` +
			`${stats.failedDeliveries} failed), acknowledged at first try ${stats.acknowledged}, retried ${stats.retried}, ` +
			`acknowledged in the end ${acknowledged.size} (${stats.storedUnacknowledged} found already stored: their answer was lost ` +
			`to a kill), stored ${stored}, restarts ${stats.restarts}, worst latency ${stats.worstMs} ms`,
	);
	console.log(`faults: funnel ${funnel.ok ? "matched the profiles" : "did NOT match the profiles"} after ${funnel.waited} ms: ${funnel.last}`);
	const failures = [
		...(stats.restarts < KILL_AT.length ? [`only ${stats.restarts} restarts`] : []),
		...(neverAcknowledged.length ? [`${neverAcknowledged.length} events never acknowledged, e.g. ${neverAcknowledged[0].messageId}`] : []),
		...(stored !== allEvents.length ? [`stored ${stored} events, sent ${allEvents.length}`] : []),
		...problems.slice(0, 20),
		...(funnel.ok ? [] : ["the funnel does not equal the visitors' own progress"]),
	];
	if (failures.length) {
		console.error(`faults: FAILED\n  ${failures.join("\n  ")}`);
		if (!VERBOSE) console.error(`last runtime logs:\n  ${recentLogs.join("\n  ")}`);
		return 1;
	}
	console.log("faults: passed: every event stored exactly once across restarts; funnel equals the profiles");
	return 0;
}

main().then(
	(code) => {
		finished = true;
		process.exit(code);
	},
	(error) => {
		console.error(`faults: FAILED: ${error?.stack ?? error}`);
		if (!finished) console.error(`last runtime logs:\n  ${recentLogs.join("\n  ")}`);
		process.exit(1);
	},
);
