// The bench's machinery: the worker in workerd through Miniflare's API, CPU time of that workerd
// alone, autocannon runs that say why a request failed, and requests that fail loudly.
import autocannon from "autocannon";
import { Log, LogLevel, Miniflare } from "miniflare";
import { existsSync, readFileSync, readdirSync } from "node:fs";

export const ADMIN = { authorization: "Bearer bench-admin-token" };

/**
 * A worker beside the app, inside the same workerd, bound to the app's Durable Object classes.
 * It makes RPC calls the way the app's own code does (object to object, no HTTP, no Node proxy),
 * so the CPU time a burst of them costs is the objects' work plus the in-process RPC; a burst of
 * `usage()` calls (the cheapest method) measures that RPC alone.
 */
const DRIVER = `
export default {
	async fetch(request, env) {
		const { calls, concurrency } = await request.json();
		const queue = calls.map((call, i) => ({ ...call, i }));
		const results = [];
		const errors = [];
		const run = async (call) => {
			const ns = env[call.ns];
			const stub = ns.get(ns.idFromName(call.name));
			try {
				const result = await stub[call.method](...call.args);
				if (call.keep) results[call.i] = result;
			} catch (error) {
				errors.push(String(error));
			}
		};
		const started = Date.now();
		await Promise.all(Array.from({ length: concurrency }, async () => { while (queue.length) await run(queue.shift()); }));
		return Response.json({ calls: calls.length, ms: Date.now() - started, results, errors: errors.slice(0, 5), failed: errors.length });
	},
};`;

/** What the worker logged at warn and above: a row whose requests succeeded can still hide errors. */
function workerLog() {
	const problems = [];
	return {
		problems,
		handle({ level, message }) {
			if (level !== "error" && level !== "warn") return;
			problems.push(message);
			if (problems.length <= 5) console.warn(`worker ${level}: ${message.slice(0, 300)}`);
		},
	};
}

/**
 * Starts the built bundle in workerd. Durable Object storage goes to files in `persistDir` (the
 * platform keeps SQLite on disk; in-memory databases also run out of memory in workerd after a
 * few thousand objects), so the same state can be reopened cold by starting again.
 */
export async function startWorker({ scriptPath, persistDir, compatibilityDate, inspectorPort }) {
	const log = workerLog();
	const objects = {
		VISITORS: { className: "VisitorObject", useSQLite: true },
		SITES: { className: "SiteConfigObject", useSQLite: true },
		ROLLUPS: { className: "RollupObject", useSQLite: true },
	};
	const mf = new Miniflare({
		host: "127.0.0.1",
		port: 0,
		log: new Log(LogLevel.WARN),
		handleStructuredLogs: (entry) => log.handle(entry),
		// Offline: no Request.cf from the network (nothing measured here reads it).
		cf: false,
		durableObjectsPersist: persistDir,
		inspectorPort,
		workers: [
			{
				name: "nudge",
				modules: true,
				scriptPath,
				compatibilityDate,
				durableObjects: objects,
				bindings: { ADMIN_TOKEN: "bench-admin-token" },
				// As deployed (wrangler.toml), with a limit no bench run reaches: the call is part of every beacon.
				ratelimits: { SITE_RATE_LIMITER: { simple: { limit: 1_000_000_000, period: 60 } } },
			},
			{
				name: "bench-driver",
				modules: true,
				script: DRIVER,
				compatibilityDate,
				durableObjects: Object.fromEntries(Object.entries(objects).map(([binding, o]) => [binding, { ...o, scriptName: "nudge" }])),
			},
		],
	});
	const base = (await mf.ready).href.replace(/\/$/, "");
	const driver = await mf.getWorker("bench-driver");
	return {
		mf,
		base,
		problems: log.problems,
		pids: workerdPids(),
		/** Runs RPC calls from inside workerd; throws when any failed. */
		async drive(calls, concurrency = 1) {
			const res = await driver.fetch("http://driver/", { method: "POST", body: JSON.stringify({ calls, concurrency }) });
			const answer = await res.json();
			if (answer.failed) throw new Error(`${answer.failed} of ${calls.length} RPC calls failed: ${answer.errors.join("; ")}`);
			return answer;
		},
		namespace: (binding) => mf.getDurableObjectNamespace(binding, "nudge"),
	};
}

/** The workerd processes this Node process started (not other engineers' test runs on the machine). */
export function workerdPids() {
	const children = new Map();
	for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
		try {
			const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
			const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
			children.set(pid, { ppid: fields[1], workerd: stat.includes("(workerd)") });
		} catch {
			// The process ended between listing and reading.
		}
	}
	const ours = new Set([String(process.pid)]);
	let grew = true;
	while (grew) {
		grew = false;
		for (const [pid, { ppid }] of children) {
			if (ours.has(ppid) && !ours.has(pid)) {
				ours.add(pid);
				grew = true;
			}
		}
	}
	return [...ours].filter((pid) => children.get(pid)?.workerd);
}

/** CPU seconds (user and system) the given processes have used so far. */
export function cpuSeconds(pids) {
	let ticks = 0;
	for (const pid of pids) {
		if (!existsSync(`/proc/${pid}/stat`)) continue;
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		ticks += Number(fields[11]) + Number(fields[12]);
	}
	return ticks / 100;
}

/** The 1-minute load average: other engineers' test suites share these cores. */
export function loadAverage() {
	return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
}

/** CPU seconds every process on the machine has used (all cores, idle excluded). */
function machineBusySeconds() {
	const [, ...fields] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).map(Number);
	const [user, nice, system, , , irq, softirq, steal] = fields;
	return (user + nice + system + irq + softirq + steal) / 100;
}

/**
 * Cores other processes keep busy (this bench and its workerd left out), over `ms`: the load
 * average cannot tell other engineers' test runs from this bench's own previous scenario.
 */
export async function foreignLoad(ownPids, ms = 3_000) {
	const own = () => cpuSeconds([String(process.pid), ...ownPids]);
	const [busy0, own0] = [machineBusySeconds(), own()];
	await new Promise((resolve) => setTimeout(resolve, ms));
	return Math.max(0, machineBusySeconds() - busy0 - (own() - own0)) / (ms / 1000);
}

/**
 * One autocannon run. Every answer is counted by status and every failed request by its error
 * code, so a row never reports failures it cannot explain.
 */
/** `amount`, when given, ends the run after that many requests instead of after `seconds`. */
export async function load(base, { connections, seconds, requests, amount, timeout = 30 }) {
	const statuses = {};
	const errors = {};
	const errorTimes = [];
	const began = Date.now();
	const run = autocannon({ url: base, connections, duration: seconds, requests, timeout, ...(amount ? { amount } : {}) });
	run.on("response", (_client, status) => {
		statuses[status] = (statuses[status] ?? 0) + 1;
	});
	run.on("reqError", (error) => {
		const code = error.code ?? error.message;
		errors[code] = (errors[code] ?? 0) + 1;
		if (errorTimes.length < 20) errorTimes.push(Math.round(Date.now() - began));
	});
	const result = await run;
	return { result, statuses, errors, errorTimes };
}

/**
 * POSTs to the worker and fails loudly on anything but 200. A keep-alive socket the server closed
 * just as a request went out is retried: events carry messageIds, so a retry is never counted twice.
 */
export async function send(base, path, { body, method = "POST", headers = {} } = {}) {
	for (let attempt = 1; ; attempt++) {
		try {
			const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
			const text = await res.text();
			if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
			return text ? JSON.parse(text) : null;
		} catch (error) {
			const socket = error?.cause?.code === "UND_ERR_SOCKET" || error?.cause?.code === "ECONNRESET";
			if (!socket || attempt >= 3) throw error;
		}
	}
}

/** Runs `task` over `items` with at most `concurrency` at a time. */
export async function pool(items, concurrency, task) {
	const queue = [...items];
	await Promise.all(
		Array.from({ length: concurrency }, async () => {
			while (queue.length) await task(queue.shift());
		}),
	);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function median(values) {
	const sorted = [...values].sort((a, b) => a - b);
	const mid = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
