/** Pure: from a raw Segment event to what a visitor stores. */
import { describe, expect, it } from "vitest";
import { normalizeEvent, type NormalizeInput } from "../worker/core/events";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const normalize = (raw: unknown, extra: Partial<NormalizeInput> = {}) =>
	normalizeEvent({ raw, receivedAt: NOW, newId: () => "generated-id", ...extra });

function ok(raw: unknown, extra: Partial<NormalizeInput> = {}) {
	const result = normalize(raw, extra);
	if (!result.ok) throw new Error(result.error);
	return result;
}

describe("normalizeEvent", () => {
	it("routes by userId when present, else anonymousId; numeric ids read as strings", () => {
		expect(ok({ type: "identify", userId: 42, anonymousId: "a" }).key).toEqual({ kind: "user", id: "42" });
		expect(ok({ type: "page", userId: null, anonymousId: "a" }).key).toEqual({ kind: "anonymous", id: "a" });
		expect(ok({ type: "page", userId: "", anonymousId: "a" }).key).toEqual({ kind: "anonymous", id: "a" });
	});

	it("rejects events without any id, with an unknown type, or a track without a name", () => {
		expect(normalize({ type: "page" })).toEqual({ ok: false, error: "anonymousId or userId is required" });
		expect(normalize({ type: "order", anonymousId: "a" })).toMatchObject({ ok: false, error: expect.stringContaining("type") });
		expect(normalize({ type: "track", anonymousId: "a" })).toMatchObject({ ok: false, error: expect.stringContaining("event") });
		expect(normalize({ type: "alias", userId: "u" })).toMatchObject({ ok: false, error: expect.stringContaining("previousId") });
		expect(normalize({ anonymousId: "a", event: "X" }, { impliedType: "track" }).ok).toBe(true);
	});

	it("finds the page path in context.page, the page's properties, or its url", () => {
		expect(ok({ type: "page", anonymousId: "a", context: { page: { path: "/blog/x?utm=1" } } }).event.path).toBe("/blog/x");
		expect(ok({ type: "page", anonymousId: "a", properties: { path: "/podcast/1" } }).event.path).toBe("/podcast/1");
		expect(ok({ type: "page", anonymousId: "a", properties: { url: "https://x.example/reports/r#top" } }).event.path).toBe("/reports/r");
		expect(ok({ type: "track", event: "E", anonymousId: "a" }).event.path).toBeNull();
	});

	it("keeps a messageId, or generates one", () => {
		expect(ok({ type: "page", anonymousId: "a", messageId: "m1" }).event.messageId).toBe("m1");
		expect(ok({ type: "page", anonymousId: "a" }).event.messageId).toBe("generated-id");
	});

	it("trusts timestamp; corrects originalTimestamp by sentAt; else uses the time received", () => {
		expect(ok({ type: "page", anonymousId: "a", timestamp: "2026-11-30T08:00:00Z" }).event.timestamp).toBe(Date.parse("2026-11-30T08:00:00Z"));
		const skewed = ok(
			{ type: "page", anonymousId: "a", originalTimestamp: "2026-12-01T13:00:00Z" },
			{ batchSentAt: "2026-12-01T13:00:30Z" },
		);
		expect(skewed.event.timestamp).toBe(NOW - 30_000);
		expect(ok({ type: "page", anonymousId: "a" }).event.timestamp).toBe(NOW);
	});

	it("clamps far-future and unreadable timestamps to the time received, with a warning", () => {
		const future = ok({ type: "page", anonymousId: "a", timestamp: "2026-12-01T13:00:00Z" });
		expect(future.event.timestamp).toBe(NOW);
		expect(future.warnings).toEqual([expect.stringContaining("is in the future")]);
		const nearFuture = ok({ type: "page", anonymousId: "a", timestamp: "2026-12-01T12:04:00Z" });
		expect(nearFuture.event.timestamp).toBe(NOW + 4 * 60_000);
		expect(nearFuture.warnings).toEqual([]);
		const garbage = ok({ type: "page", anonymousId: "a", timestamp: "yesterday-ish" });
		expect(garbage.event.timestamp).toBe(NOW);
		expect(garbage.warnings).toEqual([expect.stringContaining("is not a date")]);
	});

	it("merges batch context under the event's own and drops the IP address and write key", () => {
		const { event } = ok(
			{ type: "page", anonymousId: "a", writeKey: "k", context: { ip: "198.51.100.7", page: { path: "/x" } } },
			{ batchContext: { campaign: { source: "twitter" }, page: { path: "/batch" } } },
		);
		expect(event.body.context).toEqual({ campaign: { source: "twitter" }, page: { path: "/x" } });
		expect(event.body).not.toHaveProperty("writeKey");
		expect(event.path).toBe("/x");
	});

	it("matches identify traits like properties", () => {
		expect(ok({ type: "identify", userId: "u", traits: { plan: "pro" } }).event.properties).toEqual({ plan: "pro" });
	});
});
