/** Through the worker: what clients sending events see, for every status the API promises. */
import { describe, expect, it } from "vitest";
import { beacon, completedSteps, pageView, profileOf, request, track, uniqueId, WRITE_KEY } from "./helpers";

const basicAuth = (writeKey: string) => `Basic ${btoa(`${writeKey}:`)}`;

async function gzip(text: string): Promise<ArrayBuffer> {
	return new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
}

describe("POST /v1/collect", () => {
	it("stores a text/plain beacon, as navigator.sendBeacon sends it", async () => {
		const visitor = uniqueId();
		const res = await beacon(pageView(visitor, "/blog/remote-work"));
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
		expect(await completedSteps(visitor)).toEqual(["engaged"]);
	});

	it("keeps the valid events of a batch and reports each bad one by index", async () => {
		const visitor = uniqueId();
		const res = await beacon({
			writeKey: WRITE_KEY,
			batch: [
				pageView(visitor, "/blog/a"),
				{ type: "track", anonymousId: visitor },
				track(visitor, "Newsletter Subscribed"),
				{ type: "track", event: "No One" },
				{ type: "purchase", anonymousId: visitor },
				"not an event",
			],
		}, "/v1/collect");
		expect(res.status).toBe(200);
		const body = await res.json<{ accepted: number; rejected: { index: number; error: string }[] }>();
		expect(body.accepted).toBe(2);
		expect(body.rejected.map((r) => r.index)).toEqual([1, 3, 4, 5]);
		expect(body.rejected[0]?.error).toMatch(/event/);
		expect(body.rejected[1]?.error).toBe("anonymousId or userId is required");
		expect(body.rejected[2]?.error).toMatch(/type/);
		expect(body.rejected[3]?.error).toBe("an event must be a JSON object");
		expect(await completedSteps(visitor)).toEqual(["engaged", "subscribed"]);
	});

	it("counts an event delivered twice (same messageId) once", async () => {
		const visitor = uniqueId();
		const event = track(visitor, "Channel Connected");
		expect(await (await beacon(event)).json()).toMatchObject({ accepted: 1, duplicates: 0 });
		expect(await (await beacon(event)).json()).toMatchObject({ accepted: 0, duplicates: 1 });
		expect(await (await beacon({ batch: [event, event] })).json()).toMatchObject({ accepted: 0, duplicates: 2 });
		const fresh = track(visitor, "Channel Connected");
		expect(await (await beacon({ batch: [fresh, fresh] })).json()).toMatchObject({ accepted: 1, duplicates: 1 });
		expect((await profileOf(visitor)).eventCount).toBe(2);
	});

	it("gives events without a timestamp the server's time, and clamps future ones with a warning", async () => {
		const visitor = uniqueId();
		const before = Date.now();
		const res = await beacon({
			batch: [pageView(visitor, "/blog/a"), track(visitor, "Report Viewed", { timestamp: "2099-01-01T00:00:00Z" })],
		});
		const body = await res.json<{ accepted: number; warnings: { index: number; warning: string }[] }>();
		expect(body.accepted).toBe(2);
		expect(body.warnings).toEqual([{ index: 1, warning: expect.stringContaining("2099-01-01T00:00:00.000Z is in the future") }]);
		const profile = await profileOf(visitor);
		for (const event of profile.events) {
			const time = Date.parse(String(event.timestamp));
			expect(time).toBeGreaterThanOrEqual(before);
			expect(time).toBeLessThanOrEqual(Date.now());
		}
	});

	it("corrects client clock skew from originalTimestamp and sentAt, as Segment does", async () => {
		const visitor = uniqueId();
		// The client's clock runs 1 hour fast: it stamped the event 10 s before sending.
		const clientNow = Date.now() + 3_600_000;
		await beacon({
			sentAt: new Date(clientNow).toISOString(),
			batch: [{ ...track(visitor, "Report Viewed"), originalTimestamp: new Date(clientNow - 10_000).toISOString() }],
		});
		const stored = Date.parse(String((await profileOf(visitor)).events[0]?.timestamp));
		expect(Math.abs(stored - (Date.now() - 10_000))).toBeLessThan(5_000);
	});

	it("routes by userId when present, so the profile is found by userId", async () => {
		const user = uniqueId("user");
		await beacon({ ...track(uniqueId(), "Account Created"), userId: user });
		expect((await profileOf(user)).userId).toBe(user);
	});

	it("never stores the visitor's IP address or the write key", async () => {
		const visitor = uniqueId();
		await beacon({ ...pageView(visitor, "/blog/a"), writeKey: WRITE_KEY, context: { ip: "203.0.113.9", page: { path: "/blog/a" } } });
		const stored = JSON.stringify((await profileOf(visitor)).events);
		expect(stored).not.toContain("203.0.113.9");
		expect(stored).not.toContain(WRITE_KEY);
	});
});

describe("whole-request failures are JSON errors with the right status", () => {
	const expectError = async (res: Response, status: number, code: string) => {
		expect(res.status).toBe(status);
		expect(res.headers.get("content-type")).toMatch(/application\/json/);
		const body = await res.json<{ error: { code: string; message: string } }>();
		expect(body.error.code).toBe(code);
		expect(body.error.message.length).toBeGreaterThan(10);
	};
	const post = (body: BodyInit, headers: Record<string, string> = {}, path = `/v1/collect?writeKey=${WRITE_KEY}`) =>
		request(path, { method: "POST", headers: { "content-type": "text/plain", ...headers }, body });

	it("400 for a body that is not JSON, not an object, empty, or a malformed batch", async () => {
		await expectError(await post("{ not json"), 400, "invalid_json");
		await expectError(await post("[1, 2]"), 400, "invalid_body");
		await expectError(await post(""), 400, "empty_body");
		await expectError(await post(JSON.stringify({ batch: "nope" })), 400, "invalid_batch");
	});

	it("400 for a single event that is invalid, naming the field", async () => {
		const res = await post(JSON.stringify({ type: "track", anonymousId: uniqueId(), event: "   " }));
		expect(res.status).toBe(400);
		expect(await res.json()).toEqual({ error: { code: "invalid_event", message: "event: must not be blank" } });
	});

	it("401 without a write key, or with one no site has", async () => {
		await expectError(await post(JSON.stringify(pageView(uniqueId(), "/")), {}, "/v1/collect"), 401, "missing_write_key");
		await expectError(
			await post(JSON.stringify(pageView(uniqueId(), "/")), {}, "/v1/collect?writeKey=not-a-real-key"),
			401,
			"unknown_write_key",
		);
	});

	it("403 for a browser origin the site does not allow; allowed and own origins pass", async () => {
		const event = () => JSON.stringify(pageView(uniqueId(), "/"));
		await expectError(await post(event(), { origin: "https://evil.example" }), 403, "origin_not_allowed");
		const allowed = await post(event(), { origin: "http://localhost:8787" });
		expect(allowed.status).toBe(200);
		expect(allowed.headers.get("access-control-allow-origin")).toBe("http://localhost:8787");
		expect((await post(event(), { origin: "http://nudge.test" })).status).toBe(200);
	});

	it("413 past 500 KB per request or 32 KB for a single event; a big batch member is rejected alone", async () => {
		const visitor = uniqueId();
		const padding = "x".repeat(33 * 1024);
		await expectError(await post(JSON.stringify({ batch: [track(visitor, "A", { properties: { p: "y".repeat(510 * 1024) } })] })), 413, "payload_too_large");
		await expectError(await post(JSON.stringify(track(visitor, "Big", { properties: { padding } }))), 413, "event_too_large");
		const res = await post(JSON.stringify({ batch: [track(visitor, "Big", { properties: { padding } }), track(visitor, "Small")] }));
		expect(await res.json()).toEqual({ accepted: 1, duplicates: 0, rejected: [{ index: 0, error: "the event exceeds 32 KB" }] });
	});

	it("413 for a compressed body that inflates past the limit", async () => {
		const bomb = await gzip(JSON.stringify({ batch: [track(uniqueId(), "A", { properties: { p: "0".repeat(2_000_000) } })] }));
		expect(bomb.byteLength).toBeLessThan(10_000);
		await expectError(await post(bomb, { "content-encoding": "gzip" }), 413, "payload_too_large");
	});

	it("reads a streamed body without Content-Length, and 413 once it passes the limit", async () => {
		const streamOf = (text: string) => {
			const bytes = new TextEncoder().encode(text);
			return new ReadableStream<Uint8Array>({
				start(controller) {
					// Several chunks, as a proxy re-chunking a body would send it.
					for (let at = 0; at < bytes.byteLength; at += 64 * 1024) controller.enqueue(bytes.slice(at, at + 64 * 1024));
					controller.close();
				},
			});
		};
		const visitor = uniqueId();
		const small = await post(streamOf(JSON.stringify(track(visitor, "Newsletter Subscribed"))));
		expect(await small.json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
		const big = JSON.stringify({ batch: [track(visitor, "A", { properties: { p: "y".repeat(510 * 1024) } })] });
		await expectError(await post(streamOf(big)), 413, "payload_too_large");
	});
	it("415 for a content encoding it cannot read", async () => {
		await expectError(await post("{}", { "content-encoding": "br" }), 415, "unsupported_encoding");
	});

	it("404 as JSON for a path no route serves", async () => {
		await expectError(await request("/v1/nothing-here"), 404, "not_found");
	});
});

describe("the other Segment paths and the edges of the limits", () => {
	it("/v1/b, /v1/import, /v1/page and /v1/identify store what they are sent", async () => {
		const visitor = uniqueId();
		const user = uniqueId("user");
		const send = (path: string, body: unknown) =>
			request(`${path}?writeKey=${WRITE_KEY}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
		expect(await (await send("/v1/b", { batch: [track(visitor, "Report Viewed")] })).json()).toMatchObject({ accepted: 1 });
		expect(await (await send("/v1/import", { batch: [track(visitor, "Newsletter Subscribed")] })).json()).toMatchObject({ accepted: 1 });
		// The path supplies the type a body leaves out.
		expect(await (await send("/v1/page", { anonymousId: visitor, properties: { path: "/blog/x" } })).json()).toMatchObject({ accepted: 1 });
		expect(await (await send("/v1/identify", { anonymousId: visitor, userId: user, traits: { plan: "free" } })).json()).toMatchObject({ accepted: 1 });
		const profile = await profileOf(user);
		expect(profile.events.map((e) => e.type).sort()).toEqual(["identify", "page", "track", "track"]);
	});

	it("accepts a single event of exactly 32 KB and refuses one byte more", async () => {
		const visitor = uniqueId();
		const sized = (bytes: number) => {
			const event: Record<string, unknown> = track(visitor, "Sized", { properties: { padding: "" } });
			const base = JSON.stringify(event).length;
			event.properties = { padding: "x".repeat(bytes - base) };
			return JSON.stringify(event);
		};
		const post = (body: string) => request(`/v1/collect?writeKey=${WRITE_KEY}`, { method: "POST", headers: { "content-type": "text/plain" }, body });
		expect((await post(sized(32 * 1024))).status).toBe(200);
		expect((await post(sized(32 * 1024 + 1))).status).toBe(413);
	});

	it("still knows a messageId as a duplicate after its event left the bounded history", async () => {
		const visitor = uniqueId();
		const first = track(visitor, "First Thing");
		await beacon(first);
		for (let i = 0; i < 3; i++) {
			await beacon({ batch: Array.from({ length: 80 }, (_, j) => track(visitor, `Filler ${i}-${j}`)) });
		}
		const profile = await profileOf(visitor);
		expect(profile.events.some((e) => e.messageId === first.messageId)).toBe(false);
		expect(await (await beacon(first)).json()).toMatchObject({ accepted: 0, duplicates: 1 });
		expect((await profileOf(visitor)).eventCount).toBe(241);
	});

	it("stores a batch of many visitors, and refuses one of more than 500 visitors as a whole", async () => {
		const visitors = Array.from({ length: 40 }, () => uniqueId());
		const res = await beacon({ batch: visitors.map((id) => track(id, "Report Viewed")) });
		expect(await res.json()).toMatchObject({ accepted: 40, duplicates: 0, rejected: [] });
		expect((await profileOf(visitors[39]!)).eventCount).toBe(1);
		const tooMany = await beacon({ batch: Array.from({ length: 501 }, (_, i) => ({ type: "track", event: "X", anonymousId: `many-${i}` })) });
		expect(tooMany.status).toBe(413);
		expect(await tooMany.json()).toMatchObject({ error: { code: "too_many_visitors" } });
	});

	it("analytics-node with Basic auth alone, no write key in the body", async () => {
		const user = uniqueId("user");
		const res = await request("/v1/batch", {
			method: "POST",
			headers: { "content-type": "application/json", authorization: basicAuth(WRITE_KEY) },
			body: JSON.stringify({ batch: [{ type: "track", event: "Trial Started", userId: user, messageId: crypto.randomUUID() }], sentAt: new Date().toISOString() }),
		});
		expect(await res.json()).toMatchObject({ accepted: 1 });
	});
});

describe("existing analytics clients work unchanged", () => {
	it("@segment/analytics-node: /v1/batch, Basic auth, JSON", async () => {
		const user = uniqueId("user");
		const res = await request("/v1/batch", {
			method: "POST",
			headers: { "content-type": "application/json", authorization: basicAuth(WRITE_KEY), "user-agent": "analytics-node-next/latest" },
			body: JSON.stringify({
				batch: [
					{
						type: "track",
						event: "Trial Started",
						userId: user,
						properties: { plan: "team" },
						messageId: `node-next-${Date.now()}-${crypto.randomUUID()}`,
						timestamp: new Date().toISOString(),
						context: { library: { name: "@segment/analytics-node", version: "2.1.0" } },
						integrations: {},
						_metadata: { nodeVersion: "20.20.2", jsRuntime: "node" },
					},
				],
				sentAt: new Date().toISOString(),
				writeKey: WRITE_KEY,
			}),
		});
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ accepted: 1 });
		expect((await profileOf(user)).eventCount).toBe(1);
	});

	it("analytics.js / analytics-next in the browser: /v1/t and /v1/p as text/plain, write key in the body", async () => {
		const visitor = uniqueId();
		const common = { anonymousId: visitor, writeKey: WRITE_KEY, sentAt: new Date().toISOString(), _metadata: { bundled: [], unbundled: [] } };
		const page = await request("/v1/p", {
			method: "POST",
			headers: { "content-type": "text/plain", origin: "http://localhost:8787" },
			body: JSON.stringify({ ...common, type: "page", messageId: `ajs-next-${crypto.randomUUID()}`, properties: { path: "/blog/remote-work", url: "http://localhost:8787/blog/remote-work" } }),
		});
		expect(page.status).toBe(200);
		const trackRes = await request("/v1/t", {
			method: "POST",
			headers: { "content-type": "text/plain" },
			body: JSON.stringify({ ...common, event: "Newsletter Subscribed", messageId: `ajs-next-${crypto.randomUUID()}` }),
		});
		expect(await trackRes.json()).toMatchObject({ accepted: 1 });
		expect(await completedSteps(visitor)).toEqual(["engaged", "subscribed"]);
	});

	it("RudderStack Node SDK: gzip body, form content type, Basic auth", async () => {
		const visitor = uniqueId();
		const body = await gzip(
			JSON.stringify({
				batch: [
					{
						type: "page",
						anonymousId: visitor,
						channel: "server",
						messageId: crypto.randomUUID(),
						originalTimestamp: new Date().toISOString(),
						sentAt: new Date().toISOString(),
						context: { library: { name: "analytics-node" }, page: { path: "/reports/state-of-remote-work" } },
						_metadata: { nodeVersion: "20.20.2" },
					},
				],
				sentAt: new Date().toISOString(),
			}),
		);
		const res = await request("/v1/batch", {
			method: "POST",
			headers: {
				"content-type": "application/x-www-form-urlencoded",
				"content-encoding": "gzip",
				authorization: basicAuth(WRITE_KEY),
			},
			body,
		});
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ accepted: 1 });
		expect(await completedSteps(visitor)).toEqual(["engaged"]);
	});

	it("answers CORS only for the site's allowed origins when the write key is in the URL", async () => {
		const preflight = (origin: string) =>
			request(`/v1/collect?writeKey=${WRITE_KEY}`, {
				method: "OPTIONS",
				headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
			});
		expect((await preflight("http://localhost:8787")).headers.get("access-control-allow-origin")).toBe("http://localhost:8787");
		expect((await preflight("https://evil.example")).headers.get("access-control-allow-origin")).toBeNull();
		const next = await request(`/v1/next?writeKey=${WRITE_KEY}&anonymousId=${uniqueId()}`, { headers: { origin: "https://evil.example" } });
		expect(next.status).toBe(403);
		expect(next.headers.get("access-control-allow-origin")).toBeNull();
	});

	it("RudderStack JS SDK: preflight, then /v1/track with Basic auth and an AnonymousId header", async () => {
		const preflight = await request("/v1/track", {
			method: "OPTIONS",
			headers: {
				origin: "http://localhost:8787",
				"access-control-request-method": "POST",
				"access-control-request-headers": "authorization,anonymousid,content-type",
			},
		});
		expect(preflight.status).toBe(204);
		expect(preflight.headers.get("access-control-allow-origin")).toBe("http://localhost:8787");
		expect(preflight.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("anonymousid");
		expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");

		const visitor = uniqueId();
		const res = await request("/v1/track", {
			method: "POST",
			headers: {
				origin: "http://localhost:8787",
				"content-type": "application/json;charset=UTF-8",
				authorization: basicAuth(WRITE_KEY),
				anonymousid: btoa(visitor),
			},
			body: JSON.stringify({
				type: "track",
				event: "Report Viewed",
				anonymousId: visitor,
				channel: "web",
				messageId: crypto.randomUUID(),
				originalTimestamp: new Date().toISOString(),
				sentAt: new Date().toISOString(),
				properties: {},
				integrations: { All: true },
			}),
		});
		expect(res.status).toBe(200);
		expect(await completedSteps(visitor)).toEqual(["engaged"]);
	});

	it("RudderStack's beacon plugin: /beacon/v1/batch?writeKey= as text/plain", async () => {
		const visitor = uniqueId();
		const res = await beacon({ batch: [track(visitor, "Report Viewed")], sentAt: new Date().toISOString() }, `/beacon/v1/batch?writeKey=${WRITE_KEY}`);
		expect(await res.json()).toMatchObject({ accepted: 1 });
	});

	it("typed paths supply the type a body leaves out", async () => {
		const visitor = uniqueId();
		const res = await beacon({ event: "Report Viewed", anonymousId: visitor }, `/v1/track?writeKey=${WRITE_KEY}`);
		expect(await res.json()).toMatchObject({ accepted: 1 });
		expect(await completedSteps(visitor)).toEqual(["engaged"]);
	});
});
