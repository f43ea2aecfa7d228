/**
 * Hostile input, property-tested: thousands of generated requests against the beacon paths
 * (`/v1/collect` and the Segment ones), `GET /v1/next` and the admin API. Random bytes, invalid
 * UTF-8, lone surrogates, deep and huge JSON, wrong types in every field of the Segment event
 * shape, gzip bombs, oversize bodies, unknown content types and encodings, absurd timestamps, ids
 * of every length and alphabet, absurd query strings and headers.
 *
 * 1. Every answer is a 2xx (collect: `{ accepted, duplicates, rejected }`) or a 4xx with the JSON
 *    error shape, within a deadline: never a 5xx, never a hang.
 * 2. Valid events mixed into batches with hostile ones are all stored, each exactly once.
 *
 * Budget: under vitest-pool-workers every new Durable Object starts slower than the one before
 * (a few hundred in one file take minutes), so hostile events name their visitors from a fixed
 * pool of ids (over-long ids are rejected before any object is reached), and only the valid
 * visitors of the second property are fresh. The counts and the worst latency are printed at the
 * end (`hostile input:` line).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, fetchWorker, ORIGIN, uniqueId, WRITE_KEY, type Profile } from "./helpers";

/** Past this an answer counts as a hang. Generous: the slowest legitimate answers take ~1 s here. */
const REQUEST_TIMEOUT_MS = 15_000;
const MAX_REQUEST_BYTES = 500 * 1024;

const seen = { payloads: 0, worstMs: 0, worst: "", statuses: new Map<number, number>(), storedHostile: 0 };

type Answer = { label: string; status: number; text: string };

/** Sends one request through the worker; fails (never waits forever) past the deadline. */
async function send(request: Request): Promise<Answer> {
	const url = new URL(request.url);
	const label = `${request.method} ${`${url.pathname}${url.search}`.slice(0, 160)}`;
	let timer: ReturnType<typeof setTimeout> | undefined;
	const deadline = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms: ${label}`)), REQUEST_TIMEOUT_MS);
	});
	const started = Date.now();
	try {
		const response = await Promise.race([fetchWorker(request), deadline]);
		const text = await Promise.race([response.text(), deadline]);
		const ms = Date.now() - started;
		seen.payloads++;
		seen.statuses.set(response.status, (seen.statuses.get(response.status) ?? 0) + 1);
		if (ms > seen.worstMs) Object.assign(seen, { worstMs: ms, worst: `${label} → ${response.status}` });
		return { label, status: response.status, text };
	} finally {
		clearTimeout(timer);
	}
}

type Kind = "collect" | "next" | "admin";

/** The contract every answer keeps, whatever was sent. */
function expectContract(answer: Answer, kind: Kind): unknown {
	const what = `${answer.label} → ${answer.status} ${answer.text.slice(0, 300)}`;
	expect(answer.status < 500, what).toBe(true);
	expect((answer.status >= 200 && answer.status < 300) || (answer.status >= 400 && answer.status < 500), what).toBe(true);
	// Preflights and `/v1/m` answer 204 without a body.
	if (answer.status < 300 && answer.text === "") return undefined;
	let body: unknown;
	try {
		body = JSON.parse(answer.text);
	} catch {
		throw new Error(`not JSON: ${what}`);
	}
	expect(isObject(body), what).toBe(true);
	const record = body as Record<string, unknown>;
	if (answer.status >= 400) {
		expect(Object.keys(record), what).toEqual(["error"]);
		const error = record.error as Record<string, unknown>;
		expect(typeof error.code === "string" && error.code !== "", what).toBe(true);
		expect(typeof error.message === "string" && error.message !== "", what).toBe(true);
		expect(Object.keys(error).every((key) => ["code", "message", "details"].includes(key)), what).toBe(true);
	} else if (kind === "collect") {
		expect(Number.isInteger(record.accepted) && (record.accepted as number) >= 0, what).toBe(true);
		expect(Number.isInteger(record.duplicates) && (record.duplicates as number) >= 0, what).toBe(true);
		expect(Array.isArray(record.rejected), what).toBe(true);
		for (const item of record.rejected as unknown[]) {
			const { index, error } = item as { index: unknown; error: unknown };
			expect(Number.isInteger(index) && typeof error === "string", what).toBe(true);
		}
	} else if (kind === "next") {
		expect(isObject(record.visitor) && Array.isArray(record.ctas) && typeof record.ttl === "number", what).toBe(true);
	}
	return body;
}

function isObject(value: unknown): value is Record<string, unknown> {
	return value !== null && typeof value === "object" && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// Building blocks: strings, ids, values, JSON that JSON.stringify cannot write.

/** JSON text spliced in verbatim where it stands: nesting, lone-surrogate escapes, huge numbers. */
class RawJson {
	constructor(readonly text: string) {}
}
const raw = (text: string) => new RawJson(text);

/** Serializes a generated value; `RawJson` parts go in as they are. */
function toJsonText(value: unknown): string {
	const parts: string[] = [];
	const text = JSON.stringify(value, (_key, item: unknown) => {
		if (!(item instanceof RawJson)) return item;
		parts.push(item.text);
		return `\u0001raw${parts.length - 1}\u0001`;
	});
	if (text === undefined) return "";
	return text.replace(/"\\u0001raw(\d+)\\u0001"/g, (_match, i: string) => parts[Number(i)] ?? "null");
}

/** Any UTF-16 code unit, lone surrogates included (fast-check's own units never make those). */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const printableAscii = fc.integer({ min: 0x20, max: 0x7e }).map((unit) => String.fromCharCode(unit));

/** Strings that break naive code. Each is at most 256 UTF-16 units: a valid id length. */
const WEIRD_STRINGS = [
	"",
	" ",
	"\t\n\r",
	"\u0000",
	"a\u0000b",
	"😀",
	"👩‍👩‍👧‍👦",
	"\u202Eevil\u202C",
	"مرحبا بالعالم",
	"שָׁלוֹם",
	"\u200B",
	"\uFEFFbom",
	"\ud800",
	"\udc00x",
	"a\ud83d",
	"\udfff\ud800",
	"x".repeat(256),
	"😀".repeat(128),
	"e\u0301",
	"../../etc/passwd",
	"%00%ff%",
	"' OR '1'='1' --",
	'"\\',
	"<script>alert(1)</script>",
	"__proto__",
	"constructor",
	"toString",
	"null",
	"NaN",
	"-0",
	"1e400",
	"anonymous\u0000user\u0000x",
];

/** Ids past the 256 units the schema allows: rejected before any Durable Object is reached. */
const OVERLONG_IDS = ["x".repeat(257), "😀".repeat(129), "a".repeat(10_000), "\u0000".repeat(300), "مرحبا".repeat(2_000)];

/**
 * The visitor ids hostile events use (see the budget above): weird strings, numbers (which
 * clients send too) and a deterministic sample of random code-unit strings.
 */
const ID_POOL: readonly unknown[] = [
	...WEIRD_STRINGS,
	0,
	-1,
	1.5,
	1e21,
	Number.MAX_SAFE_INTEGER + 2,
	...fc.sample(fc.string({ unit: codeUnit, minLength: 1, maxLength: 24 }), { numRuns: 8, seed: 8 }),
];

/** Values of the wrong type for any field; no strings or numbers, which could be valid ids. */
const wrongType = fc.oneof(
	fc.constant(null),
	fc.boolean(),
	fc.array(fc.oneof(fc.boolean(), fc.integer(), fc.constant(null)), { maxLength: 4 }),
	fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.boolean(), fc.integer()), { maxKeys: 4 }),
	fc.constant(raw("{}")),
	fc.constant(raw("[]")),
);

/** Numbers JavaScript cannot keep or that overflow whatever reads them. */
const absurdNumber = fc.oneof(
	fc.double(),
	fc.constantFrom(1e20, -1e20, 1e308, -0, 5e-324, Number.MAX_SAFE_INTEGER + 2),
	fc.constantFrom(raw("1e400"), raw("-1e400"), raw("123456789012345678901234567890"), raw("1E-400")),
);

const hostileScalar = fc.oneof(
	fc.constant(null),
	fc.boolean(),
	fc.integer(),
	absurdNumber,
	fc.string({ unit: codeUnit, maxLength: 40 }),
	fc.constantFrom(...WEIRD_STRINGS),
	fc.constantFrom(raw('"\\ud800"'), raw('"\\udc00\\ud800"'), raw('"\\u0000"'), raw('"\\uffff"')),
);

/** Deep nesting, built as text: arrays or objects, a few levels to 100,000. */
const deepJson = fc
	.record({
		depth: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 2, max: 80 }) }, { weight: 2, arbitrary: fc.constantFrom(200, 1_000, 5_000, 20_000) }, { weight: 1, arbitrary: fc.constant(100_000) }),
		objects: fc.boolean(),
	})
	.map(({ depth, objects }) => raw(objects ? `${'{"a":'.repeat(depth)}0${"}".repeat(depth)}` : `${"[".repeat(depth)}0${"]".repeat(depth)}`));

/** Big strings: under and over the 32 KB event limit, and near the 500 KB request limit. */
const hugeString = fc
	.oneof({ weight: 10, arbitrary: fc.constantFrom(1_000, 30_000, 40_000) }, { weight: 1, arbitrary: fc.constant(400_000) })
	.map((length) => raw(JSON.stringify("x".repeat(length))));

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
	{ weight: 4, arbitrary: hostileScalar },
	{ weight: 2, arbitrary: wrongType },
	{ weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
	{ weight: 1, arbitrary: deepJson },
	{ weight: 1, arbitrary: hugeString },
);

/** A field holding a plausible value `odds` times as often as anything at all. */
function field<T>(plausible: fc.Arbitrary<T>, odds = 3): fc.Arbitrary<unknown> {
	return fc.oneof({ weight: odds, arbitrary: plausible }, { weight: 1, arbitrary: hostileValue });
}

const hostileId: fc.Arbitrary<unknown> = fc.oneof(
	{ weight: 8, arbitrary: fc.constantFrom(...ID_POOL) },
	{ weight: 1, arbitrary: fc.constantFrom(...OVERLONG_IDS) },
	{ weight: 1, arbitrary: wrongType },
);

const DEMO_EVENTS = [
	"Report Viewed",
	"Newsletter Subscribed",
	"Account Created",
	"Trial Started",
	"Post Scheduled",
	"Analytics Viewed",
	"Channel Connected",
	"Subscription Upgraded",
	"CTA Viewed",
	"CTA Clicked",
	"CTA Dismissed",
];

const TIMESTAMPS = [
	"0000-01-01T00:00:00Z",
	"-000001-01-01T00:00:00Z",
	"-271821-04-20T00:00:00Z",
	"+275760-09-13T00:00:00Z",
	"9999-12-31T23:59:59.999Z",
	"1969-12-31T23:59:59Z",
	"1970-01-01T00:00:00Z",
	"2026-02-30T00:00:00Z",
	"2026-01-01T00:00:00+99:99",
	"1e20",
	"-1",
	"0",
	"",
	"yesterday",
	"2025-06-01T12:00:00Z",
];
const absurdTimestamp = fc.oneof(
	fc.constantFrom(...TIMESTAMPS),
	fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
	absurdNumber,
	wrongType,
);

const eventName = fc.oneof(fc.constantFrom(...DEMO_EVENTS), fc.constantFrom(...WEIRD_STRINGS), fc.string({ unit: codeUnit, maxLength: 210 }));
const pagePath = fc.oneof(
	fc.constantFrom("/blog/remote-work", "/podcast/ep-1", "/reports/2026", "/", "", "blog", "/blog/../../x", "/%zz", "/a?b#c"),
	fc.string({ unit: codeUnit, maxLength: 60 }),
	hugeString,
);
const url = fc.oneof(
	fc.constantFrom("https://postwise.example/blog?utm_source=x", "not a url", "javascript:alert(1)", "http://[::1", "https://%zz/"),
	fc.webUrl(),
	fc.string({ unit: codeUnit, maxLength: 60 }),
);

const hostileContext = fc.record(
	{
		page: field(
			fc.record(
				{ path: field(pagePath), url: field(url), referrer: field(url), title: field(eventName), search: field(fc.string()) },
				{ requiredKeys: [] },
			),
		),
		campaign: field(fc.dictionary(fc.constantFrom("source", "medium", "name", "campaign", "term"), hostileScalar)),
		userAgent: field(fc.constantFrom("Mozilla/5.0 (iPhone)", "Googlebot/2.1", "", "x".repeat(10_000))),
		ip: field(fc.constantFrom("203.0.113.9", "::1")),
	},
	{ requiredKeys: [] },
);

const properties = field(fc.dictionary(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...WEIRD_STRINGS)), hostileValue, { maxKeys: 6 }));

/**
 * A Segment event with every field present or not, plausible or of the wrong type. `odds`: how
 * much likelier a plausible value is than a hostile one. With a dozen fields, even 3 to 1 makes
 * nearly every event invalid somewhere, so the odds vary and the likeliest events always name a
 * type, an event and a visitor: some get through validation and carry their oddities (ids,
 * names, properties, timestamps) into the visitor's object.
 */
function hostileEventWith(odds: number): fc.Arbitrary<unknown> {
	const plausibleOr = <T>(plausible: fc.Arbitrary<T>) => field(plausible, odds);
	const id = fc.oneof({ weight: odds, arbitrary: fc.constantFrom(...ID_POOL) }, { weight: 1, arbitrary: hostileId });
	const time = fc.oneof({ weight: odds, arbitrary: fc.date({ noInvalidDate: true }).map((date) => date.toISOString()) }, { weight: 1, arbitrary: absurdTimestamp });
	return fc.record(
		{
			type: fc.oneof(
				{ weight: odds, arbitrary: fc.constantFrom("track", "page", "screen", "identify", "alias", "group") },
				{ weight: 1, arbitrary: fc.constantFrom("TRACK", "purchase", "", "track ") },
				{ weight: 1, arbitrary: hostileValue },
			),
			event: plausibleOr(eventName),
			name: plausibleOr(eventName),
			anonymousId: id,
			userId: id,
			previousId: id,
			groupId: id,
			// Unbiased: fast-check's bias repeats a few small uuids, and repeated ids only make duplicates.
			messageId: plausibleOr(
				fc.oneof(
					{ weight: 4, arbitrary: fc.noBias(fc.uuid()) },
					{ weight: 1, arbitrary: fc.constantFrom(...WEIRD_STRINGS, ...OVERLONG_IDS) },
					{ weight: 1, arbitrary: fc.string({ unit: codeUnit, maxLength: 30 }) },
				),
			),
			timestamp: time,
			originalTimestamp: time,
			sentAt: time,
			properties: plausibleOr(properties),
			traits: plausibleOr(properties),
			context: plausibleOr(hostileContext),
			integrations: plausibleOr(fc.dictionary(fc.string({ maxLength: 8 }), fc.boolean())),
			writeKey: plausibleOr(fc.constantFrom(WRITE_KEY, "", "nope")),
			category: plausibleOr(fc.string()),
		},
		{ requiredKeys: odds >= 10 ? ["type", "event", "anonymousId"] : [] },
	);
}
const hostileEvent = fc.oneof(hostileEventWith(2), hostileEventWith(8), hostileEventWith(40));

/** Events spelled in ways a JavaScript object cannot hold: `__proto__` keys, duplicate keys. */
const trickyEventText = fc.constantFrom(
	raw('{"type":"track","event":"Report Viewed","anonymousId":"__proto__","__proto__":{"userId":"victim"}}'),
	raw('{"type":"track","event":"Report Viewed","anonymousId":"dup","anonymousId":"dup2","type":"page"}'),
	raw('{"type":"track","event":"x","anonymousId":"constructor","properties":{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}}'),
	raw('{"type":"track","event":"\\ud800","anonymousId":"\\udc00","messageId":"\\ud800\\udc00"}'),
);

const batchMember: fc.Arbitrary<unknown> = fc.oneof(
	{ weight: 6, arbitrary: hostileEvent },
	{ weight: 1, arbitrary: trickyEventText },
	{ weight: 1, arbitrary: hostileValue },
);

const hostileBatch = fc.record(
	{
		batch: fc.oneof({ weight: 10, arbitrary: fc.array(batchMember, { maxLength: 12 }) }, { weight: 1, arbitrary: hostileValue }),
		writeKey: field(fc.constantFrom(WRITE_KEY, "", "other-key"), 6),
		sentAt: fc.oneof({ weight: 6, arbitrary: fc.date({ noInvalidDate: true }).map((date) => date.toISOString()) }, { weight: 1, arbitrary: absurdTimestamp }),
		context: field(hostileContext, 6),
		integrations: field(fc.dictionary(fc.string({ maxLength: 8 }), fc.boolean()), 6),
	},
	{ requiredKeys: ["batch"] },
);

/**
 * Many copies of one event: big batches without generating thousands of values. The copies
 * stop a little past the request limit, so a member with a 400 KB string is not copied 9,000 times.
 */
const hugeBatch = fc
	.record({ copies: fc.constantFrom(600, 3_000, 9_000), member: fc.oneof(hostileEvent, fc.constant<unknown>({ type: "track", event: "Report Viewed", anonymousId: "pool-huge" })) })
	.map(({ copies, member }) => {
		const size = toJsonText(member).length + 1;
		return { batch: Array.from({ length: Math.min(copies, Math.ceil((MAX_REQUEST_BYTES * 1.2) / size)) }, () => member) };
	});

const hostileJsonBody: fc.Arbitrary<unknown> = fc.oneof(
	{ weight: 8, arbitrary: hostileEvent },
	{ weight: 8, arbitrary: hostileBatch },
	{ weight: 1, arbitrary: hugeBatch },
	{ weight: 1, arbitrary: trickyEventText },
	{ weight: 2, arbitrary: hostileValue },
);

// ---------------------------------------------------------------------------------------------
// Bodies: JSON, bytes, broken UTF-8, compressed, bombs, oversize.

type BodySpec =
	| { kind: "json"; value: unknown }
	| { kind: "bytes"; bytes: Uint8Array }
	| { kind: "badUtf8"; value: unknown; at: number; insert: readonly number[] }
	| { kind: "compressed"; format: "gzip" | "deflate"; inner: BodySpec; truncate: number | null }
	| { kind: "bomb"; index: number }
	| { kind: "oversize"; bytes: number }
	| { kind: "none" };

/** Byte sequences no UTF-8 decoder accepts: stray continuation bytes, overlongs, encoded surrogates, … */
const invalidUtf8 = fc.constantFrom([0xff], [0xfe, 0xff], [0x80], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc3]);

const plainBody: fc.Arbitrary<BodySpec> = fc.oneof(
	{ weight: 20, arbitrary: hostileJsonBody.map((value): BodySpec => ({ kind: "json", value })) },
	{ weight: 1, arbitrary: fc.uint8Array({ maxLength: 2_000 }).map((bytes): BodySpec => ({ kind: "bytes", bytes })) },
	{
		weight: 1,
		arbitrary: fc
			.record({ value: hostileEvent, at: fc.nat(), insert: invalidUtf8 })
			.map(({ value, at, insert }): BodySpec => ({ kind: "badUtf8", value, at, insert })),
	},
	{ weight: 1, arbitrary: fc.constantFrom(600_000, 2_000_000).map((bytes): BodySpec => ({ kind: "oversize", bytes })) },
	{ weight: 1, arbitrary: fc.constant<BodySpec>({ kind: "none" }) },
);

const bodySpec: fc.Arbitrary<BodySpec> = fc.oneof(
	{ weight: 8, arbitrary: plainBody },
	{
		weight: 2,
		arbitrary: fc
			.record({
				format: fc.constantFrom("gzip", "deflate"),
				inner: plainBody,
				truncate: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat({ max: 64 }) }),
			})
			.map((spec): BodySpec => ({ kind: "compressed", ...spec })),
	},
	{ weight: 1, arbitrary: fc.nat({ max: 3 }).map((index): BodySpec => ({ kind: "bomb", index })) },
);

/** Gzip and deflate bombs, made once: each inflates far past the 500 KB limit. */
const bombs: { bytes: Uint8Array; encoding: string }[] = [];

beforeAll(async () => {
	const zeros = new Uint8Array(20_000_000);
	const event = new TextEncoder().encode(JSON.stringify({ type: "track", event: "Report Viewed", anonymousId: "bomb" }));
	// Just past the limit: valid JSON once inflated, with 600 KB of whitespace in front.
	const padded = new Uint8Array(600_000 + event.byteLength).fill(0x20);
	padded.set(event, 600_000);
	bombs.push(
		{ bytes: await compress(zeros, "gzip"), encoding: "gzip" },
		{ bytes: await compress(zeros, "deflate"), encoding: "deflate" },
		{ bytes: await compress(padded, "gzip"), encoding: "gzip" },
		// Compressed twice: the outer layer is small, the inner one a bomb of its own.
		{ bytes: await compress(await compress(zeros, "gzip"), "gzip"), encoding: "gzip" },
	);
});

async function compress(bytes: Uint8Array, format: "gzip" | "deflate"): Promise<Uint8Array> {
	return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream(format))).arrayBuffer());
}

const encoder = new TextEncoder();

async function bodyBytes(spec: BodySpec): Promise<Uint8Array | null> {
	switch (spec.kind) {
		case "json":
			return encoder.encode(toJsonText(spec.value));
		case "bytes":
			return spec.bytes;
		case "badUtf8": {
			// Inside a string when the text has one: after a quote, where ids and names are.
			const text = toJsonText(spec.value);
			const quotes = [...text.matchAll(/"/g)].map((match) => match.index + 1);
			const at = quotes.length ? (quotes[spec.at % quotes.length] ?? 0) : 0;
			const head = encoder.encode(text.slice(0, at));
			const tail = encoder.encode(text.slice(at));
			return new Uint8Array([...head, ...spec.insert, ...tail]);
		}
		case "compressed": {
			const inner = (await bodyBytes(spec.inner)) ?? new Uint8Array();
			const packed = await compress(inner, spec.format);
			return spec.truncate === null ? packed : packed.slice(0, Math.max(2, packed.byteLength - spec.truncate - 1));
		}
		case "bomb":
			return bombs[spec.index % bombs.length]?.bytes ?? null;
		case "oversize": {
			const bytes = new Uint8Array(spec.bytes).fill(0x20);
			bytes.set(encoder.encode('{"type":"track","event":"Report Viewed","anonymousId":"big"}'));
			return bytes;
		}
		case "none":
			return null;
	}
}

/** The Content-Encoding a client would claim for a body: usually the truth, sometimes not. */
function claimedEncoding(spec: BodySpec): string | undefined {
	if (spec.kind === "compressed") return spec.format;
	if (spec.kind === "bomb") return bombs[spec.index % bombs.length]?.encoding;
	return undefined;
}

// ---------------------------------------------------------------------------------------------
// Requests: paths, query strings, headers.

const COLLECT_PATHS = [
	"/v1/collect",
	"/v1/batch",
	"/v1/import",
	"/v1/b",
	"/beacon/v1/batch",
	"/v1/track",
	"/v1/t",
	"/v1/page",
	"/v1/p",
	"/v1/screen",
	"/v1/s",
	"/v1/identify",
	"/v1/i",
	"/v1/alias",
	"/v1/a",
	"/v1/group",
	"/v1/g",
	"/v1/m",
];

/**
 * Percent-encodes anything, lone surrogates included (`encodeURIComponent` throws on those): a
 * lone surrogate goes out as the 3 bytes UTF-8 forbids, which the server must survive too.
 */
function percentEncode(text: string): string {
	let out = "";
	for (const char of text) {
		try {
			out += encodeURIComponent(char);
		} catch {
			const unit = char.charCodeAt(0);
			out += [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)].map((byte) => `%${byte.toString(16).toUpperCase()}`).join("");
		}
	}
	return out;
}

const queryValue = fc.oneof(
	fc.constantFrom(...WEIRD_STRINGS, ...OVERLONG_IDS.slice(0, 2)).map(percentEncode),
	fc.string({ unit: printableAscii, maxLength: 30 }),
	fc.constantFrom("%", "%zz", "%E0%A4%A", "%ED%A0%80", "%00", "+", "1", "true", "-1", "1e3", "0x10", "9".repeat(400)),
);

/** Extra query parameters, from plausible names with absurd values to pure garbage. */
const queryJunk = fc.array(
	fc.oneof(
		fc.tuple(fc.constantFrom("writeKey", "next", "limit", "journey", "path", "placement", "anonymousId", "userId", "format", "from", "to", "breakdown"), queryValue).map(([key, value]) => `${key}=${value}`),
		fc.string({ unit: printableAscii, maxLength: 40 }).map((junk) => junk.replace(/#/g, "%23")),
		fc.constant("a=".padEnd(8_000, "b")),
	),
	{ maxLength: 4 },
);

function query(parts: readonly string[]): string {
	const kept = parts.filter((part) => part !== "");
	return kept.length ? `?${kept.join("&")}` : "";
}

const writeKeyParam = fc.oneof(
	{ weight: 8, arbitrary: fc.constant(`writeKey=${WRITE_KEY}`) },
	{ weight: 1, arbitrary: fc.constant("") },
	{ weight: 1, arbitrary: queryValue.map((value) => `writeKey=${value}`) },
);

const headerValue = fc.string({ unit: printableAscii, maxLength: 60 });

/** A header that is absent `absentOdds` times as often as it is present. */
function sometimes(value: fc.Arbitrary<string>, absentOdds: number): fc.Arbitrary<string | undefined> {
	return fc.oneof({ weight: absentOdds, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: value });
}

const commonHeaders = fc
	.record({
		// Mostly absent, as from servers: a foreign origin ends the request before the body matters.
		origin: sometimes(fc.oneof(fc.constantFrom("http://localhost:8787", ORIGIN, "https://evil.example", "null", ""), headerValue), 4),
		authorization: sometimes(
			fc.oneof(
				fc.constantFrom(`Basic ${btoa(`${WRITE_KEY}:`)}`, "Basic !!!", "Basic ", `Bearer ${WRITE_KEY}`, "Bearer", `Basic ${btoa("\u00ff\u0000:")}`),
				headerValue,
			),
			2,
		),
		"user-agent": sometimes(fc.oneof(fc.constantFrom("Googlebot/2.1", "Mozilla/5.0 (iPad)", "x".repeat(8_000)), headerValue), 1),
		"cf-connecting-ip": sometimes(fc.oneof(fc.constantFrom("203.0.113.9", "::1", "not-an-ip"), headerValue), 2),
	})
	.map((headers) => Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined)));

const CONTENT_TYPES = [
	"text/plain",
	"text/plain;charset=UTF-8",
	"application/json",
	"application/json; charset=latin1",
	"application/x-www-form-urlencoded",
	"multipart/form-data; boundary=x",
	"application/octet-stream",
	"image/png",
	"",
];
const ENCODINGS = ["gzip", "x-gzip", "deflate", "GZIP", " gzip ", "identity", "br", "zstd", "compress", "gzip, br", "*", ""];

type RequestSpec = { method: string; path: string; query: string; headers: Record<string, string>; body: BodySpec; encoding: "claimed" | string | null };

const collectRequest: fc.Arbitrary<RequestSpec> = fc.record({
	method: fc.oneof({ weight: 12, arbitrary: fc.constant("POST") }, { weight: 1, arbitrary: fc.constantFrom("GET", "PUT", "DELETE", "PATCH", "OPTIONS") }),
	path: fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...COLLECT_PATHS) }, { weight: 1, arbitrary: fc.constantFrom("/v1/collect/", "//v1/collect", "/v1/COLLECT", "/v1/collect%00") }),
	query: fc.tuple(writeKeyParam, queryJunk).map(([key, junk]) => query([key, ...junk])),
	headers: fc.tuple(commonHeaders, fc.oneof(fc.constantFrom(...CONTENT_TYPES), headerValue)).map(([headers, type]) => ({ ...headers, "content-type": type })),
	body: bodySpec,
	encoding: fc.oneof({ weight: 20, arbitrary: fc.constant("claimed") }, { weight: 1, arbitrary: fc.constantFrom(...ENCODINGS) }, { weight: 1, arbitrary: headerValue }),
});

async function toRequest(spec: RequestSpec): Promise<Request> {
	const headers = new Headers(spec.headers);
	const encoding = spec.encoding === "claimed" ? claimedEncoding(spec.body) : spec.encoding;
	if (encoding !== undefined && encoding !== null) headers.set("content-encoding", encoding);
	const bytes = spec.method === "GET" ? null : await bodyBytes(spec.body);
	return new Request(`${ORIGIN}${spec.path}${spec.query}`, { method: spec.method, headers, body: bytes });
}

// ---------------------------------------------------------------------------------------------

afterAll(() => {
	const statuses = Object.fromEntries([...seen.statuses].sort(([a], [b]) => a - b));
	console.log(
		`hostile input: ${seen.payloads} payloads, worst latency ${seen.worstMs} ms (${seen.worst}), ` +
			`statuses ${JSON.stringify(statuses)}, ${seen.storedHostile} generated events stored`,
	);
});

describe("hostile input never gets a 5xx or a hang", () => {
	it("beacon paths: bodies, encodings, content types, query strings and headers of every kind", async () => {
		await fc.assert(
			fc.asyncProperty(collectRequest, async (spec) => {
				const body = expectContract(await send(await toRequest(spec)), "collect") as { accepted?: number } | undefined;
				seen.storedHostile += body?.accepted ?? 0;
			}),
			{ numRuns: 4_000 },
		);
	}, 240_000);

	it("GET /v1/next: ids of every length and alphabet, absurd query strings", async () => {
		const nextRequest = fc.record({
			key: writeKeyParam,
			id: fc.oneof(
				fc.tuple(fc.constantFrom("anonymousId", "userId"), fc.oneof(fc.constantFrom(...ID_POOL.map(String)), fc.constantFrom(...OVERLONG_IDS))).map(
					([name, id]) => `${name}=${percentEncode(id)}`,
				),
				fc.constant(""),
			),
			junk: queryJunk,
			headers: commonHeaders,
			method: fc.oneof({ weight: 10, arbitrary: fc.constant("GET") }, { weight: 1, arbitrary: fc.constantFrom("HEAD", "POST", "OPTIONS") }),
		});
		await fc.assert(
			fc.asyncProperty(nextRequest, async ({ key, id, junk, headers, method }) => {
				const answer = await send(new Request(`${ORIGIN}/v1/next${query([key, id, ...junk])}`, { method, headers }));
				if (method === "HEAD") expect(answer.status, answer.label).toBeLessThan(500);
				else expectContract(answer, "next");
			}),
			{ numRuns: 1_000 },
		);
	}, 120_000);

	it("admin routes: hostile ids, dates, configs and tokens", async () => {
		const demo = await (await fetchWorker(new Request(`${ORIGIN}/v1/admin/sites/demo`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }))).json<Record<string, unknown>>();
		// Configs are PUT to another site, so the demo site the other tests rely on never changes.
		const fuzzConfig = { ...demo, id: "fuzz", writeKeys: ["fuzz-write-key"] };
		const day = fc.oneof(
			fc.constantFrom("0000-01-01", "9998-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "-0001-01-01", "+275760-09-13", "2026-1-1", "", "today"),
			fc.date({ noInvalidDate: true, min: new Date("1900-01-01"), max: new Date("2200-01-01") }).map((date) => date.toISOString().slice(0, 10)),
			queryValue,
		);
		// Ranges at the edges of what days can be: ending at 9999-12-31 once looped forever.
		const dayRange = fc.oneof(
			fc.record({ from: fc.option(day), to: fc.option(day) }),
			fc.constantFrom(
				{ from: "9997-12-31", to: "9999-12-31" },
				{ from: "9997-12-30", to: "9997-12-30" },
				{ from: "9998-01-01", to: null },
				{ from: "0000-01-01", to: "0001-12-31" },
				{ from: null, to: "0000-01-15" },
			),
		);
		const route = fc.oneof(
			fc.record({ site: fc.constantFrom("demo", "candle-shop", "nope", "%00", "%E0%A4%A"), id: fc.constantFrom(...ID_POOL.map(String), "x".repeat(10_000)), limit: fc.option(queryValue), format: fc.option(fc.constantFrom("profile", "export", "csv")), method: fc.constantFrom("GET", "GET", "DELETE") }).map(
				({ site, id, limit, format, method }) => ({ method, path: `/sites/${site}/visitors/${percentEncode(id)}${query([limit === null ? "" : `limit=${limit}`, format === null ? "" : `format=${format}`])}`, body: null as string | null }),
			),
			fc.record({ report: fc.constantFrom("funnels/saas", "funnels/saas/trend", "ctas/saas", "funnels/nope", "funnels/%00"), range: dayRange, breakdown: fc.option(fc.oneof(fc.constantFrom("source", "medium", "campaign", "referrer", "country", "device", "group", "ip"), queryValue)), limit: fc.option(queryValue) }).map(
				({ report, range: { from, to }, breakdown, limit }) => ({
					method: "GET",
					path: `/sites/demo/${report}${query([from === null ? "" : `from=${from}`, to === null ? "" : `to=${to}`, breakdown === null ? "" : `breakdown=${breakdown}`, limit === null ? "" : `limit=${limit}`])}`,
					body: null as string | null,
				}),
			),
			fc.record({ mutation: fc.tuple(fc.constantFrom(...Object.keys(fuzzConfig), "journeys.0.steps", "ctas.0", "journeys.0.steps.0.match", "rollups", "visitorRateLimit"), hostileValue), raw: fc.boolean(), junk: hostileJsonBody }).map(({ mutation: [path, value], raw: sendJunk, junk }) => ({
				method: "PUT",
				path: "/sites/fuzz",
				body: sendJunk ? toJsonText(junk) : toJsonText(mutate(fuzzConfig, path, value)),
			})),
			fc.constant({ method: "GET", path: "/sites/fuzz", body: null as string | null }),
		);
		const token = fc.oneof({ weight: 8, arbitrary: fc.constant(`Bearer ${ADMIN_TOKEN}`) }, { weight: 1, arbitrary: fc.constantFrom("", "Bearer", `Bearer ${ADMIN_TOKEN}x`, `Basic ${btoa(ADMIN_TOKEN)}`, `bearer   ${ADMIN_TOKEN}  `) }, { weight: 1, arbitrary: headerValue });
		await fc.assert(
			fc.asyncProperty(route, token, async ({ method, path, body }, authorization) => {
				const headers: Record<string, string> = authorization === "" ? {} : { authorization };
				expectContract(await send(new Request(`${ORIGIN}/v1/admin${path}`, { method, headers, body })), "admin");
			}),
			{ numRuns: 1_000 },
		);
	}, 120_000);
});

/** A copy of a config with the value at a dotted path replaced. */
function mutate(config: Record<string, unknown>, path: string, value: unknown): unknown {
	const copy = structuredClone(config);
	const keys = path.split(".");
	let target: unknown = copy;
	for (const key of keys.slice(0, -1)) {
		if (target === null || typeof target !== "object") return copy;
		target = (target as Record<string, unknown>)[key];
	}
	if (target !== null && typeof target === "object") (target as Record<string, unknown>)[keys.at(-1) ?? ""] = value;
	return copy;
}

// ---------------------------------------------------------------------------------------------
// Valid events among hostile ones.

const validWeird = ["", "\u0000", "😀", "\u202Eltr", " ", "مرحبا", "\t", "e\u0301", "<b>"];

/** A valid event of each kind, with odd but valid content: the visitor and message id are added per run. */
const validEvent = fc.oneof(
	fc.record({
		type: fc.constant("track"),
		event: fc.oneof(fc.constantFrom(...DEMO_EVENTS), fc.constantFrom("😀 clicked", "مرحبا", "a\u0000b", "x".repeat(200))),
		properties: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
	}),
	fc.record({
		type: fc.constant("page"),
		name: fc.option(fc.constantFrom("Remote work", "😀", "")),
		context: fc.record({
			page: fc.record({ path: fc.constantFrom("/blog/remote-work", "/podcast/1", "/pricing", "/blog/😀", "/a\u0000b"), referrer: fc.constantFrom("https://news.example/", "", "garbage") }),
			campaign: fc.dictionary(fc.constantFrom("source", "medium", "name"), fc.constantFrom(...validWeird)),
		}),
	}),
	fc.record({ type: fc.constant("identify"), traits: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) }),
	fc.record({ type: fc.constant("screen"), name: fc.constantFrom("Home", "😀") }),
);

const validTimestamp = fc.option(
	fc.date({ noInvalidDate: true, min: new Date("2025-01-01T00:00:00Z"), max: new Date("2026-01-01T00:00:00Z") }).map((date) => date.toISOString()),
);

describe("valid events mixed with hostile ones", () => {
	it("are all stored, each exactly once, with the exact event count", async () => {
		const run = fc.record({
			valid: fc.array(fc.record({ event: validEvent, timestamp: validTimestamp, suffix: fc.constantFrom(...validWeird) }), { minLength: 1, maxLength: 12 }),
			hostile: fc.array(batchMember, { maxLength: 12 }),
			order: fc.array(fc.nat(), { maxLength: 24 }),
			withUser: fc.boolean(),
			path: fc.constantFrom("/v1/collect", "/v1/batch", "/v1/import", "/v1/b", "/beacon/v1/batch"),
			gzip: fc.boolean(),
			keyInBody: fc.boolean(),
			sentAt: validTimestamp,
		});
		await fc.assert(
			fc.asyncProperty(run, async ({ valid, hostile, order, withUser, path, gzip, keyInBody, sentAt }) => {
				const visitor = uniqueId("valid");
				const userId = withUser ? `${visitor}-user-😀` : undefined;
				const events = valid.map(({ event, timestamp, suffix }, i) => ({
					...event,
					anonymousId: visitor,
					...(userId && i % 2 === 1 ? { userId } : {}),
					messageId: `${i}-${visitor}${suffix}`,
					...(timestamp ? { timestamp } : {}),
				}));
				// Interleave: each valid event goes in at a generated position among the hostile ones,
				// as many of those as fit in one request with the valid ones.
				const size = (value: unknown) => encoder.encode(toJsonText(value)).byteLength;
				let room = MAX_REQUEST_BYTES - size(events) - 1_000;
				const batch: unknown[] = hostile.filter((member) => (room -= size(member) + 1) > 0);
				const validAt: number[] = [];
				events.forEach((event, i) => {
					const at = (order[i] ?? i) % (batch.length + 1);
					batch.splice(at, 0, event);
					for (let j = 0; j < validAt.length; j++) if ((validAt[j] ?? 0) >= at) validAt[j] = (validAt[j] ?? 0) + 1;
					validAt.push(at);
				});
				const text = toJsonText({ batch, ...(keyInBody ? { writeKey: WRITE_KEY } : {}), ...(sentAt ? { sentAt } : {}) });
				const bytes = gzip ? await compress(encoder.encode(text), "gzip") : encoder.encode(text);
				expect(bytes.byteLength).toBeLessThan(MAX_REQUEST_BYTES);
				const answer = await send(
					new Request(`${ORIGIN}${path}${keyInBody ? "" : `?writeKey=${WRITE_KEY}`}`, {
						method: "POST",
						headers: { "content-type": "text/plain", ...(gzip ? { "content-encoding": "gzip" } : {}) },
						body: bytes,
					}),
				);
				const body = expectContract(answer, "collect") as { rejected?: { index: number; error: string }[] } | undefined;
				// 429: a pool visitor among the hostile events ran out of tokens; the others are stored.
				expect([200, 429], `${answer.status} ${answer.text.slice(0, 300)}`).toContain(answer.status);
				if (answer.status === 200) {
					const rejectedValid = (body?.rejected ?? []).filter((item) => validAt.includes(item.index));
					expect(rejectedValid, "valid events were rejected").toEqual([]);
				}
				// Events with the user id merge the anonymous visitor into the user: its profile has them all.
				const lookupId = events.some((event) => "userId" in event) ? (userId ?? visitor) : visitor;
				const lookup = await send(
					new Request(`${ORIGIN}/v1/admin/sites/demo/visitors/${encodeURIComponent(lookupId)}?limit=200`, {
						headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
					}),
				);
				expect(lookup.status, lookup.text.slice(0, 300)).toBe(200);
				const profile = JSON.parse(lookup.text) as Profile;
				expect(profile.eventCount).toBe(events.length);
				const stored = profile.events.map((event) => event.messageId).sort();
				expect(stored).toEqual(events.map((event) => event.messageId).sort());
			}),
			{ numRuns: 100 },
		);
	}, 180_000);
});

// ---------------------------------------------------------------------------------------------
// What the properties found, pinned as examples (each was a 5xx, a hang or a silent merge).

describe("regressions found by the properties", () => {
	const post = (body: BodyInit, headers: Record<string, string> = {}) =>
		send(new Request(`${ORIGIN}/v1/collect?writeKey=${WRITE_KEY}`, { method: "POST", headers: { "content-type": "text/plain", ...headers }, body }));
	const adminGet = (path: string, init: RequestInit = {}) =>
		send(new Request(`${ORIGIN}/v1/admin${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));

	it("a __proto__ key in properties is stored without it (was 503 forever: structured clone refused the event)", async () => {
		const visitor = uniqueId();
		const answer = await post(`{"type":"track","event":"Report Viewed","anonymousId":"${visitor}","properties":{"__proto__":{"x":1},"plan":"free"}}`);
		expect(answer.status, answer.text).toBe(200);
		const profile = JSON.parse((await adminGet(`/sites/demo/visitors/${visitor}`)).text) as Profile;
		expect(profile.events[0]?.properties).toEqual({ plan: "free" });
	});

	it("events nested deeper than 32 levels, alone or through the batch's context, are rejected (was 500: stack overflow)", async () => {
		const deep = `${"[".repeat(5_000)}0${"]".repeat(5_000)}`;
		const single = await post(`{"type":"track","event":"x","anonymousId":"a","properties":{"a":${deep}}}`);
		expect([single.status, JSON.parse(single.text)]).toEqual([400, { error: { code: "invalid_event", message: "the event nests deeper than 32 levels" } }]);
		const visitor = uniqueId();
		const batch = await post(`{"batch":[{"type":"track","event":"x","anonymousId":"a","properties":{"a":${deep}}},{"type":"track","event":"Report Viewed","anonymousId":"${visitor}"}]}`);
		expect(JSON.parse(batch.text)).toMatchObject({ accepted: 1, rejected: [{ index: 0, error: "the event nests deeper than 32 levels" }] });
		const context = await post(`{"context":${deep},"batch":[{"type":"track","event":"x","anonymousId":"${visitor}"}]}`);
		expect(JSON.parse(context.text)).toMatchObject({ accepted: 0, rejected: [{ index: 0 }] });
	});

	it("timestamps out of any range are stored as the time received, with a warning (was 500: Invalid time value)", async () => {
		const visitor = uniqueId();
		const answer = await post(
			JSON.stringify({
				batch: [
					{ type: "track", event: "x", anonymousId: visitor, originalTimestamp: "-271821-04-20T00:00:00Z", sentAt: "+275760-09-13T00:00:00Z" },
					{ type: "track", event: "x", anonymousId: visitor, timestamp: "-000001-01-01T00:00:00Z" },
				],
			}),
		);
		const body = JSON.parse(answer.text) as { accepted: number; warnings: { index: number; warning: string }[] };
		expect(body.accepted).toBe(2);
		expect(body.warnings.map((w) => w.warning)).toEqual([
			expect.stringContaining("is not a date; stored as the time received"),
			expect.stringContaining("-000001-01-01T00:00:00.000Z is before 1970"),
		]);
	});

	it("ids with lone surrogates and bodies that are not UTF-8 are refused, not merged into U+FFFD", async () => {
		const lone = await post(`{"type":"track","event":"x","anonymousId":"\\ud800"}`);
		expect(JSON.parse(lone.text)).toEqual({ error: { code: "invalid_event", message: "anonymousId: must be valid Unicode (it has a lone surrogate)" } });
		const bytes = new Uint8Array([...encoder.encode('{"type":"track","event":"x","anonymousId":"a'), 0xff, ...encoder.encode('"}')]);
		const badUtf8 = await post(bytes);
		expect([badUtf8.status, (JSON.parse(badUtf8.text) as { error: { code: string } }).error.code]).toEqual([400, "invalid_encoding"]);
	});

	it("funnel and trend ranges stop at days with a YYYY-MM-DD form (trend?to=0000-01-15 or to=9999-12-31 looped forever)", async () => {
		for (const range of ["from=9997-12-31&to=9999-12-31", "to=0000-01-15", "from=1969-12-31"]) {
			const answer = await adminGet(`/sites/demo/funnels/saas/trend?${range}`);
			expect([answer.status, (JSON.parse(answer.text) as { error: { code: string } }).error.code]).toEqual([400, "invalid_date"]);
		}
		expect((await adminGet("/sites/demo/funnels/saas/trend?from=9996-01-01&to=9997-12-30")).status).toBe(200);
	});

	it("erasing a visitor whose id is both its user id and its device id answers (was a hang: two erasures waited for each other)", async () => {
		const id = uniqueId();
		expect((await post(JSON.stringify({ type: "track", event: "Report Viewed", anonymousId: id, userId: id }))).status).toBe(200);
		expect((await adminGet(`/sites/demo/visitors/${id}`, { method: "DELETE" })).status).toBe(200);
		expect((await adminGet(`/sites/demo/visitors/${id}`)).status).toBe(404);
	});

	it("erasing the device of a renamed user answers (was a hang: device → user → renamed user → device)", async () => {
		const [device, user, renamed] = [uniqueId("device"), uniqueId("user"), uniqueId("renamed")];
		await post(JSON.stringify({ type: "track", event: "Report Viewed", anonymousId: device, userId: user }));
		await post(JSON.stringify({ type: "alias", userId: renamed, previousId: user }));
		expect((JSON.parse((await adminGet(`/sites/demo/visitors/${device}`)).text) as Profile).id).toBe(renamed);
		expect((await adminGet(`/sites/demo/visitors/${device}`, { method: "DELETE" })).status).toBe(200);
		for (const id of [device, user, renamed]) expect((await adminGet(`/sites/demo/visitors/${id}`)).status).toBe(404);
	});
});
