// `node --experimental-websocket bench/profile.mjs`: where `POST /v1/collect`'s CPU goes, by
// elimination and with V8's CPU profiler, on the bench's returning-visitor traffic. Writes
// bench/PROFILE.md. Variants of the same unminified build: the route answering before its
// Durable Object call, the call to an `ingest` that returns at once, and the real thing; the
// no-op route is the floor. PROFILE_SECONDS (default 8) per variant.
import { execSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { ADMIN, cpuSeconds, load, loadAverage, pool, send, startWorker } from "./lib.mjs";
import { history, newVisitor, randomSource, returningEvent, sessions } from "./traffic.mjs";

if (typeof WebSocket === "undefined") throw new Error("run with node --experimental-websocket (Node 20) for the profiler's connection");
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 8);
const COMPATIBILITY_DATE = "2026-04-20";
const INSPECTOR_PORT = 9_331;
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };

execSync("node client/build.mjs", { stdio: "ignore", env });
execSync("npx wrangler deploy --dry-run --no-minify --outdir bench/.build/profile/full", { stdio: "ignore", env });
const full = readFileSync("bench/.build/profile/full/index.js", "utf8");
/** A copy of the build with one function answering at once; fails loudly when the code moved. */
function variant(name, marker, body) {
	if (!full.includes(marker)) throw new Error(`${name}: "${marker}" is not in the build any more; update bench/profile.mjs`);
	mkdirSync(`bench/.build/profile/${name}`, { recursive: true });
	writeFileSync(`bench/.build/profile/${name}/index.js`, full.replace(marker, `${marker} ${body}`));
	return `bench/.build/profile/${name}/index.js`;
}
const variants = [
	{ name: "no-op route", script: "bench/.build/profile/full/index.js", noop: true },
	{
		name: "collect, no Durable Object call",
		script: variant("parse-only", "async function storeEvents(env, site, key, events, next) {", "return { accepted: events.length, duplicates: 0, changes: [] };"),
	},
	{
		name: "collect, calling an ingest that returns at once",
		script: variant("empty-ingest", "  async ingest(input) {", "return { accepted: input.events.length, duplicates: 0, changes: [] };"),
	},
	{ name: "collect, as built", script: "bench/.build/profile/full/index.js", profile: true },
];

/** Starts a profiler session on the app's isolate through the inspector (Chrome DevTools protocol). */
async function profiler() {
	const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json`)).json();
	const target = targets.find((t) => t.title.includes("core:user:nudge"));
	if (!target) throw new Error(`no inspector target for the app among ${targets.map((t) => t.title).join(", ")}`);
	const socket = new WebSocket(target.webSocketDebuggerUrl);
	await new Promise((resolve, reject) => {
		socket.onopen = resolve;
		socket.onerror = reject;
	});
	let id = 0;
	const pending = new Map();
	socket.onmessage = (message) => {
		const data = JSON.parse(message.data);
		pending.get(data.id)?.(data.result);
		pending.delete(data.id);
	};
	const call = (method, params = {}) =>
		new Promise((resolve) => {
			pending.set(++id, resolve);
			socket.send(JSON.stringify({ id, method, params }));
		});
	await call("Profiler.enable");
	await call("Profiler.setSamplingInterval", { interval: 100 });
	return { start: () => call("Profiler.start"), stop: async () => (await call("Profiler.stop")).profile, close: () => socket.close() };
}

/** Self and inclusive time per function, in µs per request. */
function summarise(profile, requests) {
	const byId = new Map(profile.nodes.map((node) => [node.id, node]));
	const parent = new Map();
	for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
	const label = (node) => `${node.callFrame.functionName || "(anonymous)"}${node.callFrame.lineNumber >= 0 ? ` (line ${node.callFrame.lineNumber + 1})` : ""}`;
	const self = new Map();
	const inclusive = new Map();
	profile.samples.forEach((sample, i) => {
		const time = profile.timeDeltas[i] ?? 0;
		const node = byId.get(sample);
		self.set(label(node), (self.get(label(node)) ?? 0) + time);
		const seen = new Set();
		for (let at = sample; at !== undefined; at = parent.get(at)) {
			const name = label(byId.get(at));
			if (!seen.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + time);
			seen.add(name);
		}
	});
	const top = (map, n) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => ({ name, us: us / requests }));
	return { self: top(self, 25), inclusive: top(inclusive, 40), total: profile.timeDeltas.reduce((a, b) => a + b, 0) / requests };
}

const random = randomSource(7);
const measured = [];
let profiled;
for (const v of variants) {
	const persistDir = mkdtempSync(`${existsSync("/dev/shm") ? "/dev/shm" : tmpdir()}/nudge-profile-`);
	const worker = await startWorker({ scriptPath: v.script, persistDir, compatibilityDate: COMPATIBILITY_DATE, inspectorPort: v.profile ? INSPECTOR_PORT : undefined });
	const demo = JSON.parse(readFileSync("schema/sites/demo.json", "utf8"));
	await send(worker.base, "/v1/admin/sites/demo", { method: "PUT", headers: ADMIN, body: { ...demo, visitorRateLimit: { perSecond: 10_000, burst: 1_000_000 } } });
	const population = Array.from({ length: 1_000 }, (_, i) => newVisitor(`p-${i}`, random));
	if (!v.noop) await pool(population, 50, (visitor) => send(worker.base, "/v1/collect?writeKey=demo-write-key", { body: { batch: history(visitor, random) } }));
	const someone = sessions(population, random, { active: 400 });
	const requests = v.noop
		? [{ method: "GET", path: "/healthz" }]
		: [{ method: "POST", path: "/v1/collect?writeKey=demo-write-key", setupRequest: (r) => ({ ...r, body: JSON.stringify(returningEvent(someone(), random)) }) }];
	await load(worker.base, { connections: 50, seconds: 2, requests });
	const before = cpuSeconds(worker.pids);
	const { result, statuses } = await load(worker.base, { connections: 50, seconds: SECONDS, requests });
	const cpuMs = ((cpuSeconds(worker.pids) - before) * 1000) / result.requests.total;
	measured.push({ ...v, rps: result.requests.average, cpuMs, statuses });
	console.log(`${v.name}: ${Math.round(result.requests.average)} req/s, ${cpuMs.toFixed(3)} CPU ms/req, ${JSON.stringify(statuses)}`);
	if (v.profile) {
		// A second run with the profiler attached (it slows the isolate): for the breakdown only.
		const session = await profiler();
		await session.start();
		const run = await load(worker.base, { connections: 50, seconds: SECONDS, requests });
		profiled = summarise(await session.stop(), run.result.requests.total);
		session.close();
	}
	await worker.mf.dispose();
	rmSync(persistDir, { recursive: true, force: true });
}

const [noop, parseOnly, emptyIngest, real] = measured;
const fmt = (n, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const us = (ms) => `${fmt(ms * 1000)} µs`;
const doc = `# Where \`POST /v1/collect\`'s CPU goes

${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? "unknown CPU"}), load average ${loadAverage()} at the end. Written by
\`node --experimental-websocket bench/profile.mjs\`: the bench's returning-visitor traffic (1,000 visitors with a
history, 400 in a session at a time) for ${SECONDS} s per variant, 50 connections, CPU time of workerd per request.
These figures come from their own run; \`bench/RESULTS.md\` has the bench's.

| variant | req/s | CPU per request | beyond the previous row |
| --- | ---: | ---: | ---: |
| ${noop.name} | ${fmt(noop.rps)} | ${us(noop.cpuMs)} | |
| ${parseOnly.name} (reads, validates and normalises the event) | ${fmt(parseOnly.rps)} | ${us(parseOnly.cpuMs)} | ${us(parseOnly.cpuMs - noop.cpuMs)} |
| ${emptyIngest.name} (the RPC hop) | ${fmt(emptyIngest.rps)} | ${us(emptyIngest.cpuMs)} | ${us(emptyIngest.cpuMs - parseOnly.cpuMs)} |
| ${real.name} (the object's work, its flushes and shard updates) | ${fmt(real.rps)} | ${us(real.cpuMs)} | ${us(real.cpuMs - emptyIngest.cpuMs)} |

On one workerd thread the rate goes as the inverse of the CPU per request. The route without its Durable Object call
already runs at ${fmt(parseOnly.rps / noop.rps, 2)}× the no-op; with an object call that does nothing, ${fmt(emptyIngest.rps / noop.rps, 2)}×. That is the
ceiling for \`POST /v1/collect\` as designed ("a beacon costs one Durable Object call"), whatever the object does.

## The real route, function by function (V8 sampling profiler attached, µs per request)

Inclusive (the function and what it calls; async continuations count where they resume):

| µs | function |
| ---: | --- |
${profiled.inclusive.map((f) => `| ${fmt(f.us)} | ${f.name} |`).join("\n")}

Self time:

| µs | function |
| ---: | --- |
${profiled.self.map((f) => `| ${fmt(f.us)} | ${f.name} |`).join("\n")}

(\`exec\` is SQLite running statements; \`(program)\` is native work outside JavaScript: HTTP parsing, RPC
serialisation; \`(idle)\` is the thread waiting.)

## What would close the gap

- **Reading the body**: a body with \`Content-Length\` (every beacon and fetch) is read with one native
  \`request.arrayBuffer()\`; the stream reader loop in \`worker/http/body.ts\`, a promise per chunk, is kept for
  chunked and compressed bodies. What \`readJsonBody\` still costs is UTF-8 decoding and \`JSON.parse\`.
- **The RPC hop**: its result is read where \`mapWithConcurrency\` resumes. It is the price of the design; batching (20 events per request) divides it
  by 20, which is why the batch row carries many times the events per second.
- **The object's own work** is down to four SQL statements for a page view that reaches no new step (from 13–18),
  and a cold object's to about a dozen (from about 19); what is left is the writes themselves and the commit.
- The site config now crosses the RPC boundary as one string (parsed once per isolate), not as an object graph
  cloned field by field on both sides.
`;
writeFileSync("bench/PROFILE.md", doc);
// The capacity model quotes these (as figures of their own run) in "Where the time goes".
writeFileSync(
	"bench/profile.json",
	`${JSON.stringify({ date: new Date().toISOString().slice(0, 10), variants: measured.map(({ name, rps, cpuMs }) => ({ name, rps, cpuMs })) }, null, "\t")}\n`,
);
console.log("wrote bench/PROFILE.md and bench/profile.json");
