// From one bench run (bench/results.json) to bench/RESULTS.md and docs/capacity.md: the table,
// the per-event figures, the cost per million events and the capacity model all come from the
// same numbers, so the two documents can never disagree. `node bench/capacity.mjs` rewrites
// both from the last results without running the bench again.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

/**
 * List prices (USD) on the Workers Paid plan, beyond its included usage (10 M requests and 30 M
 * CPU-ms, 1 M Durable Object requests and 400,000 GB-s, 25 B rows read, 50 M rows written and
 * 5 GB-month a month). Read 2026-12-03 from developers.cloudflare.com/workers/platform/pricing
 * and /durable-objects/platform/pricing.
 */
export const PRICES = {
	read: "2026-12-03",
	workerRequestsPerMillion: 0.3,
	workerCpuMsPerMillion: 0.02,
	doRequestsPerMillion: 0.15,
	doGbSecondsPerMillion: 12.5,
	rowsReadPerMillion: 0.001,
	rowsWrittenPerMillion: 1.0,
	storageGbMonth: 0.2,
};

/** What the model assumes rather than measures; each is stated where it is used. */
export const ASSUMPTIONS = {
	eventsPerVisitorPerDay: 10,
	/** All of a day's visitors new: the upper bound for storage (returning visitors add no object). */
	newVisitorShare: 1,
	peakOverAverage: 3,
	/** `GET /v1/next` answers per event: the snippet asks once per page with a slot. */
	nextPerEvent: 0.5,
	/** The hottest of 8 shards against the mean, for hashed visitor ids at these volumes. */
	shardSkew: 1.1,
	softLimitPerObject: 1_000,
	targetShareOfSoftLimit: 0.25,
	visitorRetentionDays: 400,
	rollupRetentionDays: 400,
	shards: 8,
	journeys: 1,
	/** The worker's caches: ranking statistics (cta-stats.ts) and key → site (site-directory.ts). */
	cacheSeconds: 5,
	/** A statistics refresh reads each shard once (`rankingInputs`: step reaches and CTA counters). */
	readsPerShardPerRefresh: 1,
	/** Live worker isolates serving the site. Not published by Cloudflare; the model shows a range. */
	isolates: { "1M": [10, 50, 200], "100M": [100, 1_000, 5_000] },
};

const times = (n) => (n === 1 ? "once" : n === 2 ? "twice" : `${n} times`);
const fmt = (n, digits = 0) =>
	n === null || n === undefined || Number.isNaN(n) ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const usd = (n) => (n >= 100 ? `$${fmt(n, 0)}` : n >= 1 ? `$${fmt(n, 2)}` : `$${fmt(n, 3)}`);
const ratio = (n) => `${fmt(n, 2)}×`;
const KIB = 1024;

/** Per event (or per request) figures of one scenario, from the objects' own counters. */
function perEvent(row) {
	const visitor = row.usage.visitor;
	const rollup = row.usage.rollup;
	const events = row.requests * row.itemsPerRequest;
	const ingests = visitor.tallies.ingest ?? 0;
	const applies = rollup.tallies.apply ?? 0;
	const queued = (visitor.tallies["contribution queued"] ?? 0) / events;
	const shardRowsWrittenPerApply = applies ? rollup.rowsWritten / applies : 0;
	const shardRowsReadPerApply = applies ? rollup.rowsRead / applies : 0;
	return {
		events,
		ingestsPerEvent: ingests / events,
		visitorStatements: visitor.statements / events,
		visitorRowsWritten: visitor.rowsWritten / events,
		visitorRowsRead: visitor.rowsRead / events,
		/** Each queued contribution is one flush (an alarm and a shard update) when events are over a second apart. */
		flushes: queued,
		observedAlarms: (visitor.tallies.alarm ?? 0) / events,
		observedApplies: applies / events,
		shardRowsWrittenPerApply,
		shardRowsReadPerApply,
		shardStatementsPerApply: applies ? rollup.statements / applies : 0,
		shardRowsWritten: queued * shardRowsWrittenPerApply,
		shardRowsRead: queued * shardRowsReadPerApply,
		cpuMsPerEvent: row.cpuMsPerRequest / row.itemsPerRequest,
	};
}

export function model(results) {
	const rows = Object.fromEntries(results.rows.map((r) => [r.name, r]));
	const { noop, shard, storage, sizes, unloaded } = results;
	const returning = perEvent(rows.spread);
	const first = perEvent(rows.new);
	const batch = rows.batch ? perEvent(rows.batch) : null;
	const cold = rows.cold ? perEvent(rows.cold) : null;
	const firstShare = 1 / ASSUMPTIONS.eventsPerVisitorPerDay;
	const blend = (key, a = first, b = returning) => firstShare * a[key] + (1 - firstShare) * b[key];
	const per = {
		firstShare,
		flushes: blend("flushes"),
		visitorRowsWritten: blend("visitorRowsWritten"),
		visitorRowsRead: blend("visitorRowsRead"),
		shardRowsWritten: blend("shardRowsWritten"),
		shardRowsRead: blend("shardRowsRead"),
		cpuMs: blend("cpuMsPerEvent"),
	};
	// Wall-clock an ingest keeps its object active: the unloaded latency beyond the no-op's (an
	// upper bound: it includes the worker's own work). A flush: the alarm waits for the shard's RPC.
	const ingestWallMs = Math.max(0.1, (unloaded.spread?.meanLatency ?? 1) - (unloaded.noop?.meanLatency ?? 0));
	const flushWallMs = (shard.applyWallMs ?? 1) * 2;
	const doRequests = 1 + 2 * per.flushes;
	const gbSeconds = ((ingestWallMs + per.flushes * flushWallMs) / 1000) * 0.128;
	// The funnel site's shards hold 90 days of a few thousand visitors: contributions plus counters.
	const bytesPerVisitor = (storage.afterJourney ?? 0) + (storage.shardBytesPerVisitor ?? 0);
	// Steady state: every day's new visitors stay for the retention period.
	const storedVisitorsPerDailyEvent = (ASSUMPTIONS.newVisitorShare / ASSUMPTIONS.eventsPerVisitorPerDay) * ASSUMPTIONS.visitorRetentionDays;
	const storageUsdPerMillionEvents = ((1e6 / 30) * storedVisitorsPerDailyEvent * bytesPerVisitor * PRICES.storageGbMonth) / 1e9;
	const cost = [
		["Worker requests (one event each)", PRICES.workerRequestsPerMillion],
		["Worker CPU (all CPU measured, an upper bound)", per.cpuMs * PRICES.workerCpuMsPerMillion],
		["Durable Object requests (ingest, plus an alarm and a shard update per flush)", doRequests * PRICES.doRequestsPerMillion],
		["Durable Object duration (wall-clock while active, 128 MB)", gbSeconds * PRICES.doGbSecondsPerMillion],
		["SQLite rows written (visitor + shard)", (per.visitorRowsWritten + per.shardRowsWritten) * PRICES.rowsWrittenPerMillion],
		["SQLite rows read", (per.visitorRowsRead + per.shardRowsRead) * PRICES.rowsReadPerMillion],
		[`Storage at steady state (${ASSUMPTIONS.visitorRetentionDays}-day retention)`, storageUsdPerMillionEvents],
	];
	const total = cost.reduce((n, [, v]) => n + v, 0);
	const batchCost = batch
		? (PRICES.workerRequestsPerMillion + PRICES.doRequestsPerMillion) / 20 +
			2 * per.flushes * PRICES.doRequestsPerMillion +
			(batch.visitorRowsWritten + per.shardRowsWritten) * PRICES.rowsWrittenPerMillion +
			storageUsdPerMillionEvents +
			batch.cpuMsPerEvent * PRICES.workerCpuMsPerMillion
		: null;

	/** One traffic level: objects touched, the hottest shard and the registry, and the day's cost. */
	const scale = (label, eventsPerDay, isolateRange) => {
		const avg = eventsPerDay / 86_400;
		const peak = avg * ASSUMPTIONS.peakOverAverage;
		const visitorsPerDay = eventsPerDay / ASSUMPTIONS.eventsPerVisitorPerDay;
		const applyRate = (peak * per.flushes * ASSUMPTIONS.shardSkew) / ASSUMPTIONS.shards;
		const nextPeak = peak * ASSUMPTIONS.nextPerEvent;
		const budget = ASSUMPTIONS.softLimitPerObject * ASSUMPTIONS.targetShareOfSoftLimit;
		const cases = isolateRange.map((isolates) => {
			// An isolate refreshes at most once per cache period, and only if it served a next answer.
			const refreshes = Math.min(isolates / ASSUMPTIONS.cacheSeconds, nextPeak);
			const statsRate = refreshes * ASSUMPTIONS.readsPerShardPerRefresh;
			const hottest = applyRate + statsRate;
			const busy = (applyRate * (shard.applyCpuMs ?? 0) + refreshes * (shard.refreshCpuMs ?? 0)) / 1000;
			const room = budget - statsRate;
			const shardsNeeded = room > 0 ? Math.max(1, Math.ceil((peak * per.flushes * ASSUMPTIONS.shardSkew) / room)) : null;
			// Every isolate asks the one registry object once per key per cache period.
			const registry = Math.min(isolates / ASSUMPTIONS.cacheSeconds, peak + nextPeak);
			return { isolates, refreshes, statsRate, hottest, busy, shardsNeeded, registry };
		});
		// The middle of the isolate range, at the average rate: what the refreshes add to the bill.
		const typicalIsolates = isolateRange[1];
		const refreshRequestsPerDay =
			Math.min(typicalIsolates / ASSUMPTIONS.cacheSeconds, avg * ASSUMPTIONS.nextPerEvent) * ASSUMPTIONS.readsPerShardPerRefresh * ASSUMPTIONS.shards * 86_400;
		const storedVisitors = visitorsPerDay * ASSUMPTIONS.newVisitorShare * ASSUMPTIONS.visitorRetentionDays;
		const storedBytes = storedVisitors * bytesPerVisitor;
		return {
			label,
			eventsPerDay,
			avg,
			peak,
			visitorsPerDay,
			nextPeak,
			applyRate,
			cases,
			storedVisitors,
			storedBytes,
			doRequestsPerDay: eventsPerDay * doRequests + eventsPerDay * ASSUMPTIONS.nextPerEvent,
			typicalIsolates,
			refreshRequestsPerDay,
			costPerDay: (total * eventsPerDay) / 1e6,
			storageUsdPerMonth: (storedBytes / 1e9) * PRICES.storageGbMonth,
		};
	};
	return {
		rows,
		noop,
		returning,
		first,
		batch,
		cold,
		per,
		ingestWallMs,
		flushWallMs,
		doRequests,
		bytesPerVisitor,
		cost,
		total,
		batchCost,
		scales: [scale("1 million events a day", 1e6, ASSUMPTIONS.isolates["1M"]), scale("100 million events a day", 1e8, ASSUMPTIONS.isolates["100M"])],
		sizes,
		shard,
		storage,
	};
}

/** Why requests failed, row by row. */
function failuresNote(results) {
	const failing = results.rows.filter((r) => r.failed > 0);
	if (!failing.length) return "No request failed in this run (every answer is counted by status, every failure by its error code).";
	const resets = failing.some((r) => r.errors.ECONNRESET);
	return `Failed requests in this run: ${failing
		.map((r) => `${r.label}: ${r.failed} (statuses ${JSON.stringify(r.statuses)}, errors ${JSON.stringify(r.errors)}, at ${r.errorTimes.join(", ")} ms into the run)`)
		.join("; ")}.${
		resets
			? ` A connection reset (ECONNRESET) is the server side (workerd or Miniflare's entry) closing a keep-alive connection with a request
on it: no HTTP status, nothing logged by the worker. Seen here only when a row queues requests for seconds (the funnel's p99 at 50 connections) or when thousands of
objects are open; the same row run alone has none. Each counts as failed here; a client's retry is answered (a retried beacon keeps its messageIds, so it counts once).`
			: ""
	}`;
}

function resultsReport(results, m) {
	const { noop, rows } = m;
	const order = ["new", "spread", "batch", "hot", "cold", "next", "funnel", "funnel1"];
	const table = [
		"| scenario | req/s | events/s | p50 ms | p99 ms | req/s vs no-op | p99 vs no-op | CPU ms/req | failed |",
		"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
		`| ${noop.label} | ${fmt(noop.rps)} | | ${fmt(noop.p50, 1)} | ${fmt(noop.p99, 1)} | 1.00× | 1.00× | ${fmt(noop.cpuMsPerRequest, 2)} | ${noop.failed} |`,
		...order
			.filter((name) => rows[name])
			.map((name) => {
				const r = rows[name];
				const events = name.startsWith("funnel") || name === "next" ? "" : fmt(r.itemsPerSecond);
				return `| ${r.label} | ${fmt(r.rps)} | ${events} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${ratio(r.rps / noop.rps)} | ${ratio(r.p99 / Math.max(noop.p99, 1))} | ${fmt(r.cpuMsPerRequest, 2)} | ${r.failed}${
					Object.keys(r.errors).length ? ` (${Object.entries(r.errors).map(([k, v]) => `${v} ${k}`).join(", ")})` : ""
				} |`;
			}),
	];
	const spread = rows.spread;
	const next = rows.next;
	const targets = [
		["`POST /v1/collect`, returning visitors, req/s ≥ 0.5× the no-op", ratio(spread.rps / noop.rps), spread.rps / noop.rps >= 0.5],
		["`GET /v1/next` p99 ≤ 3× the no-op p99", ratio(next.p99 / Math.max(noop.p99, 1)), next.p99 / Math.max(noop.p99, 1) <= 3],
		["worker bundle ≤ 60 KiB gzip", `${fmt(m.sizes.bundleGzipBytes / KIB, 1)} KiB`, m.sizes.bundleGzipBytes <= 60 * KIB],
		["page snippet ≤ 2 KB gzip (2,048 B, the build's budget)", `${fmt(m.sizes.snippetGzipBytes)} B`, m.sizes.snippetGzipBytes <= 2048],
	];
	const r = m.returning;
	const f = m.first;
	const runs = noop.runs.map((run) => `${fmt(run.rps)} req/s, p99 ${fmt(run.p99)} ms`).join("; ");
	return `# Benchmark results

${results.date}, ${results.machine.cores} cores (${results.machine.cpu}), Node ${results.machine.node}, the built worker in workerd
through Miniflare ${results.miniflare} (not wrangler dev), autocannon on loopback with ${results.connections} connections, ${results.seconds} s
per row after a 2 s warm-up (load generator and workerd share the cores). The 1-minute load average was
${results.machine.loadAtStart} at the start and ${results.machine.loadAtEnd} at the end; before each row the bench waits until other
processes use under half a core (they used ${results.machine.foreignLoads.map((l) => fmt(l, 2)).join(", ")} cores).
Written by \`npm run bench\`; \`docs/capacity.md\` is built from the same run.

${table.join("\n")}

Ratios compare with the no-op route of this run: the median of ${noop.runs.length} runs spread over it (${runs}).${
	rows.spread?.runs
		? ` The target's row, \`POST /v1/collect\` for returning visitors, is likewise the median of ${rows.spread.runs.length} runs spread over it (${rows.spread.runs
				.map((run) => `${fmt(run.rps)} req/s, ${fmt(run.cpuMsPerRequest, 2)} CPU ms/req`)
				.join("; ")}).`
		: ""
}
At 50 connections the no-op keeps workerd's one thread busy, and its p99 is queueing, not noise: connections are
served unevenly, the same way in every run${results.unloaded.noop10 ? ` (with 10 connections the same route serves ${fmt(results.unloaded.noop10.rps)} req/s with a p99 of ${fmt(results.unloaded.noop10.p99)} ms)` : ""}.
CPU ms/req is the CPU time of this run's workerd process (the worker and every Durable Object in it, the alarms and
shard updates the requests caused included) per request. ${results.problemCount ? `The worker logged ${results.problemCount} warnings or errors: ${results.problems.slice(0, 3).map((p) => `\`${p.slice(0, 160)}\``).join("; ")}.` : "The worker logged no warning or error."}

${failuresNote(results)}

## Targets

| target | this run | |
| --- | ---: | --- |
${targets.map(([what, value, met]) => `| ${what} | ${value} | ${met ? "met" : "**missed**"} |`).join("\n")}

## What each row sends

- **first event of a new visitor**: a landing page view on a blog post (UTM campaign or referrer, a browser user
  agent) for an id never seen: its object and SQLite schema are created, \`engaged\` is reached, its first rollup
  contribution is queued. Run in 3 bursts on a fresh workerd each (see below).
- **returning visitors (10k)**: 10,000 visitors created beforehand (not timed) with a history like real ones (a
  landing page view, then half stop at \`engaged\`, a quarter subscribe, an eighth sign up, …; 30% saw a CTA).
  Each request is one event from the mix: ${Object.entries(results.mix).map(([k, v]) => `${Math.round(v * 100)}% ${k}`).join(", ")}: page views
  (a third on the blog, matching \`engaged\` again), product clicks that match no rule, the visitor's next journey
  event (one step on), CTA views, clicks and dismissals. Visitors browse in sessions: 600 at a time, about 20 events
  each, then another visitor's session starts.
- **batch of 20**: the same, 20 events of one visitor per request (what a page's queue sends).
- **one hot visitor**: the mix for one id (its rate limit lifted): one object's ceiling.
- **object not in memory**: returning visitors each reached once after workerd restarted: the first event of a
  session, whose object must open its database and read its state (3 bursts on a fresh workerd each).
- **\`GET /v1/next\`**: the returning visitors' next CTA on blog, home, pricing and app pages, with the ranking
  statistics the worker caches for 5 s (their refresh reads every shard).
- **funnel**: the admin funnel over ${results.funnel.days} days × 8 shards of ${fmt(results.funnel.visitors)} seeded visitors (a site of its own), broken down
  by source; at the same 50 connections as the baseline (requests queue behind each other), and at 1 connection
  (what one operator waits).

Why sessions and bursts: workerd here holds the SQLite databases of at most about 1,600 objects at once (about
0.45 MB each; past that every call fails with \`SQLITE_NOMEM\`) and evicts an idle object about 10 s after its last
request. Spreading each request over 10,000 ids at hundreds per second would open thousands of objects within those
10 s, which no real site does: a visitor sends a burst of events, then nothing for hours.

## Per event, from the objects' own counters

| | returning visitor | first event | batch of 20 | not in memory |
| --- | ---: | ---: | ---: | ---: |
| SQL statements in the visitor object | ${fmt(r.visitorStatements, 1)} | ${fmt(f.visitorStatements, 1)} | ${fmt(m.batch?.visitorStatements, 1)} | ${fmt(m.cold?.visitorStatements, 1)} |
| visitor rows written | ${fmt(r.visitorRowsWritten, 2)} | ${fmt(f.visitorRowsWritten, 2)} | ${fmt(m.batch?.visitorRowsWritten, 2)} | ${fmt(m.cold?.visitorRowsWritten, 2)} |
| visitor rows read | ${fmt(r.visitorRowsRead, 1)} | ${fmt(f.visitorRowsRead, 1)} | ${fmt(m.batch?.visitorRowsRead, 1)} | ${fmt(m.cold?.visitorRowsRead, 1)} |
| contributions queued (= flushes when events are over 1 s apart) | ${fmt(r.flushes, 3)} | ${fmt(f.flushes, 3)} | ${fmt(m.batch?.flushes, 3)} | ${fmt(m.cold?.flushes, 3)} |
| flushes observed here (events of a session come closer than real ones) | ${fmt(r.observedApplies, 3)} | ${fmt(f.observedApplies, 3)} | ${fmt(m.batch?.observedApplies, 3)} | ${fmt(m.cold?.observedApplies, 3)} |
| shard rows written / read per flush | ${fmt(r.shardRowsWrittenPerApply, 1)} / ${fmt(r.shardRowsReadPerApply, 1)} | ${fmt(f.shardRowsWrittenPerApply, 1)} / ${fmt(f.shardRowsReadPerApply, 1)} | ${fmt(m.batch?.shardRowsWrittenPerApply, 1)} / ${fmt(m.batch?.shardRowsReadPerApply, 1)} | ${fmt(m.cold?.shardRowsWrittenPerApply, 1)} / ${fmt(m.cold?.shardRowsReadPerApply, 1)} |
| SQL statements per flush in the shard | ${fmt(r.shardStatementsPerApply, 1)} | ${fmt(f.shardStatementsPerApply, 1)} | ${fmt(m.batch?.shardStatementsPerApply, 1)} | ${fmt(m.cold?.shardStatementsPerApply, 1)} |
| CPU ms (workerd, all of it) | ${fmt(r.cpuMsPerEvent, 2)} | ${fmt(f.cpuMsPerEvent, 2)} | ${fmt(m.batch?.cpuMsPerEvent, 2)} | ${fmt(m.cold?.cpuMsPerEvent, 2)} |

A rollup shard, measured on its own through in-process RPC from a second worker in the same workerd
(${fmt(1500)} updates, each a visitor's next step, one after another):

| | |
| --- | ---: |
| CPU per shard update (beyond the RPC itself, ${fmt(m.shard.rpcCpuMs, 3)} ms) | ${fmt(m.shard.applyCpuMs, 3)} ms |
| wall-clock per update, one caller | ${fmt(m.shard.applyWallMs, 3)} ms |
| rows written / read per update | ${fmt(m.shard.rowsWrittenPerApply, 1)} / ${fmt(m.shard.rowsReadPerApply, 1)} |
| SQL statements per update | ${fmt(m.shard.statementsPerApply, 1)} |
| updates one shard absorbs, 50 callers at once | ${fmt(m.shard.appliesPerSecond)} /s |
| a statistics refresh's read of one shard (step reaches and CTA counters; 90 days), CPU | ${fmt(m.shard.refreshCpuMs, 3)} ms |
| the registry's key lookup (\`ownerOfKey\`), CPU | ${fmt(m.shard.registryReadCpuMs, 3)} ms |

## Sizes

| what | size |
| --- | ---: |
| worker bundle (gzip) | ${fmt(m.sizes.bundleGzipBytes / KIB, 1)} KiB |
| page snippet (gzip -9, as \`client/build.mjs\` checks it) | ${fmt(m.sizes.snippetGzipBytes)} B |
| a visitor's SQLite database after its first event | ${fmt(m.storage.afterFirstEvent / KIB, 1)} KiB |
| … after a typical journey (${m.storage.journeyEvents} events) | ${fmt(m.storage.afterJourney / KIB, 1)} KiB |
| rollup shard storage per visitor (${fmt(results.funnel.visitors)} visitors over ${results.funnel.days} days, 8 shards) | ${fmt(m.storage.shardBytesPerVisitor / KIB, 2)} KiB |

## Cost per million events

List prices beyond the Workers Paid plan's included usage, read ${PRICES.read} from developers.cloudflare.com
(Workers: $${PRICES.workerRequestsPerMillion}/M requests, $${PRICES.workerCpuMsPerMillion}/M CPU-ms; Durable Objects: $${PRICES.doRequestsPerMillion}/M requests, $${PRICES.doGbSecondsPerMillion}/M GB-s;
SQLite: $${PRICES.rowsReadPerMillion}/M rows read, $${PRICES.rowsWrittenPerMillion}/M rows written, $${PRICES.storageGbMonth}/GB-month). One event per request; one event in
${ASSUMPTIONS.eventsPerVisitorPerDay} is a visitor's first (the first-event row), the rest are the returning-visitor row; every contribution queued is
a flush (events of one visitor minutes apart do not coalesce).

| item | per event | USD per million events |
| --- | ---: | ---: |
| Worker requests | 1 | ${usd(m.cost[0][1])} |
| Worker CPU | ${fmt(m.per.cpuMs, 2)} ms | ${usd(m.cost[1][1])} |
| Durable Object requests | ${fmt(m.doRequests, 2)} | ${usd(m.cost[2][1])} |
| Durable Object duration | ${fmt(m.ingestWallMs, 2)} ms + ${fmt(m.per.flushes, 3)} × ${fmt(m.flushWallMs, 2)} ms | ${usd(m.cost[3][1])} |
| SQLite rows written | ${fmt(m.per.visitorRowsWritten, 2)} visitor + ${fmt(m.per.shardRowsWritten, 2)} shard | ${usd(m.cost[4][1])} |
| SQLite rows read | ${fmt(m.per.visitorRowsRead + m.per.shardRowsRead, 1)} | ${usd(m.cost[5][1])} |
| Storage at steady state | ${fmt(m.bytesPerVisitor / KIB, 1)} KiB per visitor, kept ${ASSUMPTIONS.visitorRetentionDays} days | ${usd(m.cost[6][1])} |
| **total** | | **${usd(m.total)}** |

Storage: a site with E events a day gets E / ${ASSUMPTIONS.eventsPerVisitorPerDay} visitors a day; if all are new, ${ASSUMPTIONS.visitorRetentionDays} days of them are kept
(${fmt(ASSUMPTIONS.visitorRetentionDays / ASSUMPTIONS.eventsPerVisitorPerDay)} × E visitors), each the database size after a typical journey plus its rollup contribution. Returning
visitors only lower it. Batching 20 events per request divides the Worker and ingest requests by 20 (rows as
measured in the batch row): about ${usd(m.batchCost ?? 0)} per million events. \`GET /v1/next\` answers cost a Worker and a Durable
Object request each ($${fmt(PRICES.workerRequestsPerMillion + PRICES.doRequestsPerMillion, 2)} per million) plus the statistics refreshes (see docs/capacity.md).
`;
}

function capacityReport(results, m) {
	const { per, shard, scales } = m;
	const budget = ASSUMPTIONS.softLimitPerObject * ASSUMPTIONS.targetShareOfSoftLimit;
	const scaleSection = (s) => {
		const caseRows = s.cases
			.map(
				(c) =>
					`| ${fmt(c.isolates)} | ${fmt(c.refreshes, 1)} | ${fmt(s.applyRate, 1)} + ${fmt(c.statsRate, 1)} = **${fmt(c.hottest, 1)}** | ${fmt((100 * c.hottest) / ASSUMPTIONS.softLimitPerObject, 1)}% | ${fmt(100 * c.busy, 1)}% | ${c.shardsNeeded === null ? "none: the refresh alone is over" : fmt(c.shardsNeeded)} | ${fmt(c.registry, 1)} |`,
			)
			.join("\n");
		return `## ${s.label}

- Average ${fmt(s.avg, 1)} events/s, peak about ${fmt(s.peak, 0)} events/s (${ASSUMPTIONS.peakOverAverage}× the average) and ${fmt(s.nextPeak, 0)} \`/v1/next\` answers/s.
- Durable Objects touched: about ${fmt(s.visitorsPerDay)} VisitorObjects a day (one per visitor, ${ASSUMPTIONS.eventsPerVisitorPerDay} events each), ${ASSUMPTIONS.shards} RollupObject shards
  per journey, the one \`registry\` SiteConfigObject. About ${fmt(s.doRequestsPerDay / 1e6, 1)} M Durable Object requests a day (ingest,
  ${fmt(per.flushes, 3)} flushes per event at two requests each, the \`/v1/next\` answers), before statistics refreshes.
- Shard updates at peak: ${fmt(s.peak, 0)} × ${fmt(per.flushes, 3)} flushes per event × ${ASSUMPTIONS.shardSkew} skew / ${ASSUMPTIONS.shards} shards = ${fmt(s.applyRate, 1)}/s on the hottest shard.
- Statistics refreshes: each isolate that serves \`/v1/next\` refreshes once per ${ASSUMPTIONS.cacheSeconds} s (at most as often as it answers), reading
  every shard ${times(ASSUMPTIONS.readsPerShardPerRefresh)}; so every shard, however many there are, gets ${ASSUMPTIONS.readsPerShardPerRefresh === 1 ? "" : `${ASSUMPTIONS.readsPerShardPerRefresh} × `}min(isolates / ${ASSUMPTIONS.cacheSeconds} s, answers/s) reads a second.
  How many isolates serve a Worker is not published; the table shows a range.

| isolates | refreshes/s | hottest shard req/s (updates + reads) | of the ~1,000 req/s soft limit | busy (CPU) | shards to stay under ${fmt(budget)} req/s | registry req/s |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${caseRows}

- Storage: ${fmt(s.storedVisitors / 1e6, 1)} M visitors kept at steady state × ${fmt(m.bytesPerVisitor / KIB, 1)} KiB = ${fmt(s.storedBytes / 1e12, 2)} TB, ${usd(s.storageUsdPerMonth)} a month (all of each day's
  visitors new: with half of them returning, half of it).
- Cost at these figures: about ${usd(s.costPerDay)} a day (${usd(m.total)} per million events), ${fmt((100 * m.cost[6][1]) / m.total)}% of it storage and
  ${fmt((100 * m.cost[4][1]) / m.total)}% rows written; the \`/v1/next\` answers add ${usd((s.eventsPerDay * ASSUMPTIONS.nextPerEvent * (PRICES.workerRequestsPerMillion + PRICES.doRequestsPerMillion)) / 1e6)} and, with ${fmt(s.typicalIsolates)} isolates, their statistics
  refreshes ${fmt(s.refreshRequestsPerDay / 1e6, 1)} M Durable Object requests (${usd((s.refreshRequestsPerDay * PRICES.doRequestsPerMillion) / 1e6)}).
`;
	};
	return `# Capacity model

How many Durable Objects a day of traffic touches, how hard the hottest rollup shard and the site registry work,
and what it costs: built by \`npm run bench\` from its own run (${results.date}, ${results.machine.cores} cores, workerd through
Miniflare; see \`bench/RESULTS.md\`, written from the same numbers). Nothing here is typed in by hand: change an
assumption in \`bench/capacity.mjs\` and run \`node bench/capacity.mjs\`.

## Inputs

| input | value | source |
| --- | ---: | --- |
| events per visitor per day | ${ASSUMPTIONS.eventsPerVisitorPerDay} | assumption: a reading session and a few product actions; one event in ${ASSUMPTIONS.eventsPerVisitorPerDay} is a first event |
| share of a day's visitors who are new | ${fmt(100 * ASSUMPTIONS.newVisitorShare)}% | assumption, the upper bound (storage) |
| peak hour / average | ${ASSUMPTIONS.peakOverAverage}× | assumption (one region's audience) |
| \`/v1/next\` answers per event | ${ASSUMPTIONS.nextPerEvent} | assumption: the snippet asks once per page with a slot |
| flushes (shard updates) per event | ${fmt(per.flushes, 3)} | bench: contributions queued, blended ${fmt(100 * per.firstShare)}% first events (${fmt(m.first.flushes, 3)}) and returning (${fmt(m.returning.flushes, 3)}) |
| rows written per event | ${fmt(per.visitorRowsWritten, 2)} visitor + ${fmt(per.shardRowsWritten, 2)} shard | bench: the same blend; shard rows = flushes × ${fmt(m.returning.shardRowsWrittenPerApply, 1)} rows per update |
| CPU per shard update | ${fmt(shard.applyCpuMs, 3)} ms | bench: a shard on its own, ${fmt(1500)} one-step updates |
| CPU per statistics refresh of one shard | ${fmt(shard.refreshCpuMs, 3)} ms | bench: its one read over 90 days of seeded data |
| updates one shard absorbs | ${fmt(shard.appliesPerSecond)} /s | bench: 50 callers at once, one workerd thread |
| storage per visitor | ${fmt(m.bytesPerVisitor / KIB, 1)} KiB | bench: SQLite size after a typical journey + rollup storage per visitor |
| retention | ${ASSUMPTIONS.visitorRetentionDays} days | \`visitorRetentionDays\` and \`rollups.retentionDays\` defaults |
| shards per journey | ${ASSUMPTIONS.shards} | \`rollups.shards\` default; the hottest gets ${ASSUMPTIONS.shardSkew}× the mean |
| soft limit per Durable Object | ~${fmt(ASSUMPTIONS.softLimitPerObject)} req/s | Cloudflare's documentation; the target is under ${fmt(100 * ASSUMPTIONS.targetShareOfSoftLimit)}% of it |
| worker caches | ${ASSUMPTIONS.cacheSeconds} s | ranking statistics (\`worker/cta-stats.ts\`), key → site (\`worker/site-directory.ts\`) |

${scales.map(scaleSection).join("\n")}
## What changes at that scale

1. **The statistics refresh, not the updates, is what loads a shard.** Every isolate that answers \`/v1/next\`
   reads every shard ${times(ASSUMPTIONS.readsPerShardPerRefresh)} per ${ASSUMPTIONS.cacheSeconds} s (one call for the step reaches and the CTA counters together), so adding
   shards does not lower it. With a thousand isolates that is ${fmt(scales[1].cases[1].statsRate)} req/s on each shard, ${fmt((100 * scales[1].cases[1].statsRate) / ASSUMPTIONS.softLimitPerObject)}% of the soft limit
   (${scales[1].cases[1].statsRate > budget ? "over" : "under"} the ${fmt(budget)} req/s target); with five thousand, ${fmt(scales[1].cases[2].statsRate)} req/s. Past that, cache the statistics per
   location (the Cache API, keyed by site, journey and shard count, refreshed by one request per location) or have
   one statistics object per journey that reads the shards every few seconds and is the only thing isolates ask.
2. **The registry is one object for the whole deployment.** Every isolate asks it for each key once per
   ${ASSUMPTIONS.cacheSeconds} s: ${fmt(scales[1].cases[1].registry)} req/s with a thousand isolates, ${fmt(scales[1].cases[2].registry)} with five thousand (and it serves \`/v1/next\` isolates too). Put
   key → site in the Cache API or Workers KV, with the registry as the source of truth behind it.
3. **Shard updates** stay far below the limit: at 100 M events a day the hottest of ${ASSUMPTIONS.shards} shards gets about
   ${fmt(scales[1].applyRate)} updates/s, ${fmt(100 * scales[1].applyRate * (shard.applyCpuMs ?? 0) / 1000, 1)}% of its time; one shard absorbs about ${fmt(shard.appliesPerSecond)} a second here. More shards are needed only
   past about ${fmt((budget * ASSUMPTIONS.shards) / (ASSUMPTIONS.peakOverAverage * per.flushes * ASSUMPTIONS.shardSkew) * 86_400 / 1e6, 0)} M events a day (with the refresh fixed); the count may grow at any time (visitors keep their shard).
4. **Storage is most of the cost.** A visitor's database is ${fmt(m.storage.afterFirstEvent / KIB, 1)} KiB after one event: ${fmt(m.storage.afterFirstEvent / 4096)} pages of 4 KiB,
   about one per table (SQLite gives every table and index a page of its own, however few rows it holds). Schema v7
   dropped three key indexes that were pages of their own; v8 three tables (the first touch and the forwarding link
   are columns of the visitor row, the outbox is the rollup state's pending delivery); CTA exposure, CTA touches and
   merged identities are now created on first write, and the schema version is a view's name rather than a table:
   64 KiB became 36. Most visitors come once, and each is kept ${ASSUMPTIONS.visitorRetentionDays} days. What is left is one page per table
   a first event writes (visitor, message ids, events, counters, rule hits, progress, rollup state); a shorter
   \`visitorRetentionDays\` cuts it in proportion.
5. **Rows written** are ${fmt(per.visitorRowsWritten, 1)} per event in the visitor (message id, event, counters) and ${fmt(m.returning.shardRowsWrittenPerApply, 0)} per shard update
   (eight breakdown slices of the step reached, and its histograms). Coarser breakdowns are the remaining lever.
6. **Funnel reads** fan out over every shard; their cost grows with shards × days × breakdown values, not with
   traffic. One read of 90 days × 8 shards takes ${fmt(m.rows.funnel1?.p50, 0)} ms for one operator here.

## Where the time goes

\`POST /v1/collect\` for a returning visitor costs ${fmt(m.rows.spread.cpuMsPerRequest, 2)} ms of CPU here against ${fmt(m.noop.cpuMsPerRequest, 2)} ms for the no-op, so it
runs at ${ratio(m.rows.spread.rps / m.noop.rps)} of the no-op's rate (target 0.5×): on one workerd thread the rate goes as the inverse of the CPU per
request. In this run the visitor object runs ${fmt(m.returning.visitorStatements, 1)} SQL statements per event (its flushes included), and one
in-process RPC to an object costs ${fmt(shard.rpcCpuMs, 3)} ms of CPU on its own.
${
	results.profile
		? `
By elimination (\`bench/PROFILE.md\`, its own run on ${results.profile.date}: variants of the same build on the same traffic):

| variant | req/s | vs the no-op | CPU per request |
| --- | ---: | ---: | ---: |
${results.profile.variants.map((v) => `| ${v.name} | ${fmt(v.rps)} | ${ratio(v.rps / results.profile.variants[0].rps)} | ${fmt(v.cpuMs * 1000)} µs |`).join("\n")}

The route without its Durable Object call runs at ${ratio(results.profile.variants[1].rps / results.profile.variants[0].rps)} of the no-op, and with a call to an object that does
nothing at ${ratio(results.profile.variants[2].rps / results.profile.variants[0].rps)}: about the ceiling of a route that makes one Durable Object call per beacon, whatever the object
does. Here the object's work then takes the rest of the thread; on Cloudflare an object runs apart from the Worker that
calls it (often on another machine), so the Worker's own cost per beacon is about the third row's, not the fourth's. What would
close the gap on one thread: fewer statements per event in the object (its counters, CTA exposure and rule hits are
separate writes; one upsert per event would take two or three off), fewer tables per visitor (a cold object reads
and a new one creates each), and batching: the snippet already sends a page's queued events together, and the batch row carries ${fmt(m.rows.batch ? m.rows.batch.itemsPerSecond / m.rows.spread.itemsPerSecond : 0, 1)}× the events per second for the same CPU.
`
		: ""
}`;
}

/** Writes bench/RESULTS.md and docs/capacity.md from one run's results. */
export function writeCapacityModel(results) {
	const m = model(results);
	const report = resultsReport(results, m);
	writeFileSync("bench/RESULTS.md", report);
	writeFileSync("docs/capacity.md", capacityReport(results, m));
	return { report, model: m };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
	const results = JSON.parse(readFileSync("bench/results.json", "utf8"));
	// A profile run after the bench (bench/profile.mjs) is quoted as the latest.
	if (existsSync("bench/profile.json")) results.profile = JSON.parse(readFileSync("bench/profile.json", "utf8"));
	writeFileSync("bench/results.json", `${JSON.stringify(results, null, "\t")}\n`);
	writeCapacityModel(results);
	console.log("wrote bench/RESULTS.md and docs/capacity.md from bench/results.json (and bench/profile.json)");
}
