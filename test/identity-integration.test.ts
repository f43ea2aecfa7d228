/**
 * Identity across devices: a visitor reads on a phone, signs up on a laptop, and comes back on
 * a tablet. Identify and alias merge the devices into the user; rollups count the person once.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { visitorStub } from "../worker/objects/names";
import { admin, beacon, beaconFrom, flushRollups, pageView, profileOf, request, track, uniqueId } from "./helpers";

type Funnel = { steps: { id: string; visitors: number }[] };

const at = (iso: string) => ({ timestamp: iso });
const identify = (anonymousId: string, userId: string, iso: string) => ({
	type: "identify",
	anonymousId,
	userId,
	messageId: crypto.randomUUID(),
	traits: { plan: "free" },
	timestamp: iso,
});
const asUser = (userId: string, event: string, iso: string, anonymousId?: string) => ({
	type: "track",
	event,
	userId,
	...(anonymousId ? { anonymousId } : {}),
	messageId: crypto.randomUUID(),
	timestamp: iso,
});

/** Visitors per step of the demo funnel for cohorts that began on `day`. */
async function funnel(day: string): Promise<Record<string, number>> {
	const res = await admin(`/sites/demo/funnels/saas?from=${day}&to=${day}`);
	expect(res.status).toBe(200);
	return Object.fromEntries((await res.json<Funnel>()).steps.map((s) => [s.id, s.visitors]));
}

async function tablesOf(kind: "user" | "anonymous", id: string): Promise<string[]> {
	return runInDurableObject(visitorStub(env, "demo", { kind, id }), (_, state) =>
		state.storage.sql
			.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%'")
			.toArray()
			.map((row) => row.name),
	);
}

describe("identify merges devices into the user", () => {
	it("merges two devices with overlapping steps: earliest time wins, the funnel counts the person once", async () => {
		const [phone, laptop, user] = [uniqueId("phone"), uniqueId("laptop"), uniqueId("user")];
		await beaconFrom("DE", { batch: [pageView(phone, "/blog/a", at("2026-11-12T08:00:00Z")), track(phone, "Newsletter Subscribed", at("2026-11-12T08:05:00Z"))] });
		await beaconFrom("DE", { batch: [pageView(laptop, "/blog/b", at("2026-11-12T09:00:00Z")), track(laptop, "Podcast Subscribed", at("2026-11-12T09:10:00Z"))] });
		await flushRollups();
		expect(await funnel("2026-11-12")).toMatchObject({ engaged: 2, subscribed: 2 });

		await beacon({ batch: [identify(laptop, user, "2026-11-12T09:20:00Z"), asUser(user, "Account Created", "2026-11-12T09:21:00Z", laptop)] });
		await beacon(identify(phone, user, "2026-11-13T07:00:00Z"));

		const profile = await profileOf(user);
		expect(profile.journeys[0]?.completed).toEqual([
			{ step: "engaged", at: "2026-11-12T08:00:00.000Z" },
			{ step: "subscribed", at: "2026-11-12T08:05:00.000Z" },
			{ step: "signed_up", at: "2026-11-12T09:21:00.000Z" },
		]);
		expect((profile as unknown as { anonymousIds: string[] }).anonymousIds).toEqual([laptop, phone].sort());
		expect(profile.eventCount).toBe(7);
		expect(profile.firstSeen).toBe("2026-11-12T08:00:00.000Z");

		await flushRollups();
		expect(await funnel("2026-11-12")).toMatchObject({ engaged: 1, subscribed: 1, signed_up: 1, trial_started: 0 });
	});

	it("routes later events that carry only an anonymous id to the user", async () => {
		const [phone, user] = [uniqueId("phone"), uniqueId("user")];
		await beacon(pageView(phone, "/blog/a", at("2026-11-14T08:00:00Z")));
		await beacon({ batch: [identify(phone, user, "2026-11-14T08:01:00Z"), asUser(user, "Newsletter Subscribed", "2026-11-14T08:02:00Z")] });
		await beacon(asUser(user, "Account Created", "2026-11-14T08:03:00Z"));
		// The phone's analytics client forgot the user: only its anonymous id comes now.
		const res = await beacon(track(phone, "Trial Started", at("2026-11-14T08:04:00Z")));
		expect(await res.json()).toMatchObject({ accepted: 1, duplicates: 0 });

		const steps = (await profileOf(user)).journeys[0]?.completed.map((c) => c.step);
		expect(steps).toEqual(["engaged", "subscribed", "signed_up", "trial_started"]);
		// Looking the device up finds the person.
		expect((await profileOf(phone)).id).toBe(user);
		// A forwarded event retried with the same messageId is still a duplicate.
		const retry = track(phone, "Post Scheduled", at("2026-11-14T08:05:00Z"));
		await beacon(retry);
		expect(await (await beacon(retry)).json()).toMatchObject({ accepted: 0, duplicates: 1 });
	});

	it("merges three devices, and counts an event sent under two ids once", async () => {
		const [a, b, c, user] = [uniqueId("a"), uniqueId("b"), uniqueId("c"), uniqueId("user")];
		const shared = pageView(a, "/podcast/ep-1", at("2026-11-15T10:00:00Z"));
		await beacon({ batch: [shared, track(a, "Podcast Subscribed", at("2026-11-15T10:30:00Z"))] });
		await beacon(pageView(b, "/reports/r", at("2026-11-15T09:00:00Z")));
		await beacon({ batch: [pageView(c, "/blog/x", at("2026-11-15T11:00:00Z")), track(c, "Extension Installed", at("2026-11-15T11:05:00Z"))] });
		await flushRollups();
		expect((await funnel("2026-11-15")).engaged).toBe(3);

		await beacon(identify(a, user, "2026-11-15T12:00:00Z"));
		await beacon(identify(b, user, "2026-11-15T12:01:00Z"));
		// The same page view retried once the client knew the user: still one event.
		await beacon({ ...shared, userId: user });
		await beacon({ type: "alias", previousId: c, userId: user, messageId: crypto.randomUUID(), timestamp: "2026-11-15T12:02:00Z" });

		const profile = await profileOf(user);
		expect(profile.journeys[0]?.completed).toEqual([
			{ step: "engaged", at: "2026-11-15T09:00:00.000Z" },
			{ step: "subscribed", at: "2026-11-15T10:30:00.000Z" },
		]);
		// 2 + 1 + 2 device events, 2 identifies, 1 alias; the retried page view is a duplicate.
		expect(profile.eventCount).toBe(8);
		await flushRollups();
		expect(await funnel("2026-11-15")).toMatchObject({ engaged: 1, subscribed: 1 });
	});

	it("carries CTA exposure across devices, so caps and dismissals follow the person", async () => {
		const [phone, laptop, user] = [uniqueId("phone"), uniqueId("laptop"), uniqueId("user")];
		const cta = { cta_id: "subscribe-newsletter", variant_id: "a" };
		await beacon({ batch: [pageView(phone, "/blog/a"), track(phone, "CTA Dismissed", { properties: cta })] });
		await beacon(identify(phone, user, new Date().toISOString()));
		await beacon({ ...pageView(laptop, "/blog/b"), userId: user });
		const res = await request(`/v1/next?writeKey=demo-write-key&userId=${encodeURIComponent(user)}&path=/blog/b`);
		expect(res.status).toBe(200);
		expect((await res.json<{ ctas: { id: string }[] }>()).ctas.map((c) => c.id)).not.toContain("subscribe-newsletter");
		expect((await profileOf(user)).ctas).toEqual([expect.objectContaining({ id: "subscribe-newsletter", dismissed: true })]);
	});
});

describe("erasure and export of a merged identity", () => {
	it("erasing the user erases every merged device; erasing a device erases the person", async () => {
		const [phone, laptop, user] = [uniqueId("phone"), uniqueId("laptop"), uniqueId("user")];
		await beacon(pageView(phone, "/blog/a"));
		await beacon(pageView(laptop, "/blog/b"));
		await beacon(identify(phone, user, new Date().toISOString()));
		await beacon(identify(laptop, user, new Date().toISOString()));
		await flushRollups();

		expect((await admin(`/sites/demo/visitors/${phone}`, { method: "DELETE" })).status).toBe(200);
		for (const [kind, id] of [["user", user], ["anonymous", phone], ["anonymous", laptop]] as const) {
			expect(await tablesOf(kind, id)).toEqual([]);
			expect((await admin(`/sites/demo/visitors/${id}`)).status).toBe(404);
		}
	});

	it("exports everything held about the person, from every device, and no IP address", async () => {
		const [phone, user] = [uniqueId("phone"), uniqueId("user")];
		await beaconFrom("FR", {
			batch: [
				{ ...pageView(phone, "/blog/a", at("2026-11-20T08:00:00Z")), context: { page: { path: "/blog/a" }, ip: "203.0.113.7", campaign: { source: "twitter" } } },
				{ ...track(phone, "CTA Viewed", at("2026-11-20T08:01:00Z")), properties: { cta_id: "subscribe-newsletter", variant_id: "a" }, request_ip: "203.0.113.7" },
			],
		});
		await beacon(identify(phone, user, "2026-11-20T08:02:00Z"));
		const res = await admin(`/sites/demo/visitors/${user}?format=export`);
		expect(res.status).toBe(200);
		expect(res.headers.get("content-disposition")).toContain("attachment");
		const data = await res.json<Record<string, unknown> & { events: unknown[]; mergedIdentities: { id: string }[] }>();
		expect(data).toMatchObject({
			id: user,
			site: "demo",
			eventCount: 3,
			anonymousIds: [phone],
			firstTouch: { source: "twitter", country: "FR", at: "2026-11-20T08:00:00.000Z" },
			ctaTouches: [expect.objectContaining({ cta: "subscribe-newsletter", variant: "a" })],
			retention: { days: 400 },
		});
		expect(data.events).toHaveLength(3);
		expect(data.mergedIdentities.map((m) => m.id)).toEqual([phone]);
		expect((data.messageIds as string[]).length).toBe(3);
		expect(JSON.stringify(data)).not.toContain("203.0.113.7");
		// The device's own id finds the same export.
		expect((await (await admin(`/sites/demo/visitors/${phone}?format=export`)).json<{ id: string }>()).id).toBe(user);
		expect((await admin(`/sites/demo/visitors/${user}?format=csv`)).status).toBe(400);
	});

	it("a device merged into a user hands over its data: nothing personal stays behind", async () => {
		const [phone, user] = [uniqueId("phone"), uniqueId("user")];
		await beacon({ batch: [pageView(phone, "/blog/a"), track(phone, "Newsletter Subscribed")] });
		await beacon(identify(phone, user, new Date().toISOString()));
		// The user's alarm delivers the release to the device, which then keeps only the link.
		await runDurableObjectAlarm(visitorStub(env, "demo", { kind: "user", id: user }));
		const left = await runInDurableObject(visitorStub(env, "demo", { kind: "anonymous", id: phone }), (_, state) => ({
			events: state.storage.sql.exec("SELECT count(*) AS n FROM events").one().n,
			hits: state.storage.sql.exec("SELECT count(*) AS n FROM rule_hits").one().n,
			forward: state.storage.sql.exec("SELECT forward_kind AS kind, forward_id AS id FROM visitor WHERE forward_kind IS NOT NULL").toArray(),
			touch: state.storage.sql.exec("SELECT first_touch FROM visitor").one().first_touch,
		}));
		expect(left).toEqual({ events: 0, hits: 0, forward: [{ kind: "user", id: user }], touch: null });
		expect((await profileOf(user)).journeys[0]?.completed.map((c) => c.step)).toEqual(["engaged", "subscribed"]);
	});
});
