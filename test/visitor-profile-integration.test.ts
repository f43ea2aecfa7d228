/** Through the worker: an operator looks up and erases a visitor. */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { visitorStub } from "../worker/objects/names";
import { HISTORY_LIMIT } from "../worker/objects/visitor-object";
import { DEMO_STEPS } from "./demo-steps";
import { admin, beacon, pageView, profileOf, track, uniqueId } from "./helpers";

const at = (iso: string) => ({ timestamp: iso });

describe("GET /v1/admin/sites/:site/visitors/:id", () => {
	it("shows the journey, exact counts, recent events and CTA exposure", async () => {
		const visitor = uniqueId();
		await beacon({
			batch: [
				pageView(visitor, "/blog/remote-work", at("2026-11-01T10:00:00Z")),
				track(visitor, "CTA Viewed", { ...at("2026-11-01T10:01:00Z"), properties: { cta_id: "subscribe-newsletter", variant_id: "a" } }),
				track(visitor, "CTA Clicked", { ...at("2026-11-01T10:02:00Z"), properties: { cta_id: "subscribe-newsletter", variant_id: "a" } }),
				track(visitor, "Newsletter Subscribed", at("2026-11-01T10:03:00Z")),
			],
		});
		const profile = await profileOf(visitor);
		expect(profile).toMatchObject({
			id: visitor,
			userId: null,
			firstSeen: "2026-11-01T10:00:00.000Z",
			lastSeen: "2026-11-01T10:03:00.000Z",
			eventCount: 4,
			journeys: [
				{
					id: "saas",
					completed: [
						{ step: "engaged", at: "2026-11-01T10:00:00.000Z" },
						{ step: "subscribed", at: "2026-11-01T10:03:00.000Z" },
					],
					progress: 0.25,
				},
			],
			ctas: [{ id: "subscribe-newsletter", variant: "a", views: 1, clicks: 1, dismissed: false }],
		});
		expect(profile.events.map((e) => e.event ?? e.type)).toEqual(["Newsletter Subscribed", "CTA Clicked", "CTA Viewed", "page"]);
		expect((profile as unknown as { storageBytes: number }).storageBytes).toBeGreaterThan(0);
	});

	it("keeps first-reached times right when events arrive out of order", async () => {
		const visitor = uniqueId();
		await beacon(track(visitor, "Account Created", at("2026-11-03T09:00:00Z")));
		await beacon(track(visitor, "Podcast Subscribed", at("2026-11-02T09:00:00Z")));
		await beacon(pageView(visitor, "/podcast/ep-1", at("2026-11-02T08:00:00Z")));
		await beacon(pageView(visitor, "/blog/late", at("2026-11-01T08:00:00Z")));
		const profile = await profileOf(visitor);
		expect(profile.journeys[0]?.completed).toEqual([
			{ step: "engaged", at: "2026-11-01T08:00:00.000Z" },
			{ step: "subscribed", at: "2026-11-02T09:00:00.000Z" },
			{ step: "signed_up", at: "2026-11-03T09:00:00.000Z" },
		]);
		expect(profile.firstSeen).toBe("2026-11-01T08:00:00.000Z");
	});

	it("walks the whole demo journey to the macro-conversion", async () => {
		const visitor = uniqueId();
		const names = [
			"Report Viewed",
			"Extension Installed",
			"Account Created",
			"Trial Started",
			"Post Scheduled",
			"Analytics Viewed",
			"Channel Connected",
			"Channel Connected",
			"Channel Connected",
			"Subscription Upgraded",
		];
		await beacon({ batch: names.map((name, i) => track(visitor, name, at(new Date(Date.UTC(2026, 10, 1, i)).toISOString()))) });
		const journey = (await profileOf(visitor)).journeys[0]!;
		expect(journey.completed.map((c) => c.step)).toEqual(DEMO_STEPS);
		expect(journey.completed.find((c) => c.step === "channels_connected")?.at).toBe("2026-11-01T08:00:00.000Z");
		expect(journey.progress).toBe(1);
	});

	it("counts every event exactly even past the bounded history", async () => {
		const visitor = uniqueId();
		const total = HISTORY_LIMIT + 30;
		const events = Array.from({ length: total }, (_, i) => pageView(visitor, `/blog/${i}`, at(new Date(Date.UTC(2026, 10, 1, 0, i)).toISOString())));
		for (let i = 0; i < total; i += 100) await beacon({ batch: events.slice(i, i + 100) });
		const full = await admin(`/sites/demo/visitors/${visitor}?limit=${HISTORY_LIMIT}`);
		const profile = await full.json<{ eventCount: number; events: { timestamp: string }[] }>();
		expect(profile.eventCount).toBe(total);
		expect(profile.events).toHaveLength(HISTORY_LIMIT);
		expect(profile.events[0]?.timestamp).toBe(new Date(Date.UTC(2026, 10, 1, 0, total - 1)).toISOString());
		expect((await profileOf(visitor)).events).toHaveLength(50);
	});

	it("404 for a visitor never seen, and for an unknown site", async () => {
		const res = await admin(`/sites/demo/visitors/${uniqueId()}`);
		expect(res.status).toBe(404);
		expect(await res.json()).toMatchObject({ error: { code: "visitor_not_found" } });
		expect((await admin(`/sites/nope/visitors/${uniqueId()}`)).status).toBe(404);
	});

	it("400 for a bad limit", async () => {
		const visitor = uniqueId();
		await beacon(pageView(visitor, "/"));
		expect((await admin(`/sites/demo/visitors/${visitor}?limit=abc`)).status).toBe(400);
	});
});

describe("retention", () => {
	const DAY = 86_400_000;
	const stubOf = (id: string) => visitorStub(env, "demo", { kind: "anonymous", id });

	it("keeps a visitor, with an alarm at the site's retention deadline after the last event", async () => {
		const visitor = uniqueId();
		await beacon(pageView(visitor, "/blog/a"));
		await runDurableObjectAlarm(stubOf(visitor)); // the rollup flush, which re-arms for retention
		const alarm = await runInDurableObject(stubOf(visitor), (_, state) => state.storage.getAlarm());
		expect(alarm).toBeGreaterThan(Date.now() + 399 * DAY);
		expect(alarm).toBeLessThan(Date.now() + 401 * DAY);
		expect((await admin(`/sites/demo/visitors/${visitor}`)).status).toBe(200);
	});

	it("erases the visitor's storage when the alarm finds the retention passed", async () => {
		const visitor = uniqueId();
		await beacon({ batch: [pageView(visitor, "/blog/a"), track(visitor, "Newsletter Subscribed")] });
		await runInDurableObject(stubOf(visitor), (_, state) => {
			state.storage.sql.exec("UPDATE visitor SET last_received = ?", Date.now() - 401 * DAY);
		});
		expect(await runDurableObjectAlarm(stubOf(visitor))).toBe(true);
		const tables = await runInDurableObject(stubOf(visitor), (_, state) =>
			state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%'").toArray(),
		);
		expect(tables).toEqual([]);
		expect((await admin(`/sites/demo/visitors/${visitor}`)).status).toBe(404);
	});
});

describe("DELETE /v1/admin/sites/:site/visitors/:id", () => {
	it("erases the visitor and leaves no trace in storage", async () => {
		const visitor = uniqueId();
		await beacon({ batch: [pageView(visitor, "/blog/a"), track(visitor, "Newsletter Subscribed")] });
		const res = await admin(`/sites/demo/visitors/${visitor}`, { method: "DELETE" });
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ deleted: true, id: visitor });

		expect((await admin(`/sites/demo/visitors/${visitor}`)).status).toBe(404);
		const stub = visitorStub(env, "demo", { kind: "anonymous", id: visitor });
		const tables = await runInDurableObject(stub, (_, state) =>
			state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%'").toArray(),
		);
		expect(tables).toEqual([]);
		expect((await admin(`/sites/demo/visitors/${visitor}`, { method: "DELETE" })).status).toBe(404);
	});

	it("a visitor who comes back after erasure starts from nothing", async () => {
		const visitor = uniqueId();
		await beacon(pageView(visitor, "/blog/a"));
		await admin(`/sites/demo/visitors/${visitor}`, { method: "DELETE" });
		await beacon(track(visitor, "Newsletter Subscribed"));
		const profile = await profileOf(visitor);
		expect(profile.eventCount).toBe(1);
		expect(profile.journeys[0]?.completed).toEqual([]);
	});
});
