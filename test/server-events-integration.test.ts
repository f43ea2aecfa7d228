/**
 * Backends send milestones with the site's secret server key; steps marked `serverOnly` can be
 * reached no other way, so a visitor cannot fake their own purchase from the browser console.
 */
import { beforeAll, describe, expect, it } from "vitest";
import demo from "../schema/sites/demo.json";
import { relayBillingWebhook, signPayload } from "../client/billing-webhook";
import { sha256Hex } from "../worker/core/digest";
import { admin, fetchWorker, ORIGIN, profileOf, request, track, uniqueId } from "./helpers";

const CANDLE_WRITE_KEY = "candle-shop-write-key";
const CANDLE_SERVER_KEY = "candle-shop-server-key";
const basic = (key: string) => ({ authorization: `Basic ${btoa(`${key}:`)}` });
const order = (visitor: string, total: number) => track(visitor, "Order Completed", { properties: { total, currency: "EUR" } });

function post(body: unknown, headers: Record<string, string>, path = "/v1/collect") {
	return request(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

describe("server-only steps (the candle shop's purchase)", () => {
	it("refuses a purchase sent with the public write key: a clear 403", async () => {
		const visitor = uniqueId();
		const res = await post(order(visitor, 39), {}, `/v1/collect?writeKey=${CANDLE_WRITE_KEY}`);
		expect(res.status).toBe(403);
		expect(await res.json()).toEqual({
			error: { code: "server_key_required", message: expect.stringContaining("'purchase'") },
		});
		expect((await admin(`/sites/candle-shop/visitors/${visitor}`)).status).toBe(404);
	});

	it("in a batch from the page, rejects only the purchase and keeps the rest", async () => {
		const visitor = uniqueId();
		const res = await post(
			{ batch: [track(visitor, "Newsletter Subscribed"), order(visitor, 39), order(visitor, 0)] },
			{},
			`/v1/collect?writeKey=${CANDLE_WRITE_KEY}`,
		);
		expect(await res.json()).toEqual({
			accepted: 2,
			duplicates: 0,
			rejected: [{ index: 1, error: expect.stringContaining("server key") }],
		});
	});

	it("accepts the purchase from the backend's server key (Basic auth, as Segment's server SDKs send it)", async () => {
		const visitor = uniqueId();
		await post(track(visitor, "Newsletter Subscribed"), {}, `/v1/collect?writeKey=${CANDLE_WRITE_KEY}`);
		for (const name of ["Video Watched", "Video Watched"]) {
			await post(track(visitor, name, { properties: { utm_medium: "email", percent: 80 } }), {}, `/v1/collect?writeKey=${CANDLE_WRITE_KEY}`);
		}
		await post({ type: "page", anonymousId: visitor, context: { page: { path: "/kits/starter" } } }, {}, `/v1/collect?writeKey=${CANDLE_WRITE_KEY}`);
		await post(track(visitor, "Product Added", { properties: { category: "kits" } }), {}, `/v1/collect?writeKey=${CANDLE_WRITE_KEY}`);
		const res = await post(order(visitor, 39), basic(CANDLE_SERVER_KEY), "/v1/track");
		expect(res.status).toBe(200);
		const profile = await profileOf(visitor, "candle-shop");
		expect(profile.journeys[0]?.completed.map((c) => c.step)).toEqual(["newsletter", "video_emails", "kit_page", "add_to_cart", "purchase"]);
	});

	it("refuses a server key sent from a browser, and an unknown key", async () => {
		const fromBrowser = await post(order(uniqueId(), 39), { ...basic(CANDLE_SERVER_KEY), origin: "https://wickandpour.example" });
		expect(fromBrowser.status).toBe(403);
		expect((await fromBrowser.json<{ error: { code: string } }>()).error.code).toBe("server_key_in_browser");
		expect((await post(order(uniqueId(), 39), basic("not-a-key-of-any-site"))).status).toBe(401);
	});
});

describe("a billing webhook becomes the macro-conversion", () => {
	const SIGNING_SECRET = "whsec_test_secret";
	const SERVER_KEY = `locked-server-key-${crypto.randomUUID()}`;
	const nudge = (req: Request) => fetchWorker(req);

	beforeAll(async () => {
		// The demo journey with its macro-conversion locked to the backend.
		const locked = structuredClone(demo) as typeof demo & { serverKeys?: unknown };
		locked.id = "locked-saas";
		locked.writeKeys = ["locked-saas-write-key"];
		locked.serverKeys = [{ name: "billing", sha256: await sha256Hex(SERVER_KEY) }];
		(locked.journeys[0]!.steps.at(-1) as Record<string, unknown>).serverOnly = true;
		const res = await admin("/sites/locked-saas", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(locked) });
		expect(res.status).toBe(201);
	});

	async function webhook(payload: object, options: { secret?: string; age?: number } = {}) {
		const body = JSON.stringify(payload);
		const t = Math.floor(Date.now() / 1000) - (options.age ?? 0);
		const signature = await signPayload(`${t}.${body}`, options.secret ?? SIGNING_SECRET);
		const req = new Request("https://relay.example/webhook", { method: "POST", body, headers: { "stripe-signature": `t=${t},v1=${signature}` } });
		return relayBillingWebhook(req, { signingSecret: SIGNING_SECRET, serverKey: SERVER_KEY, nudgeUrl: ORIGIN, fetch: nudge });
	}
	const checkout = (userId: string, id = `evt_${crypto.randomUUID()}`) => ({
		id,
		type: "checkout.session.completed",
		created: Math.floor(Date.parse("2026-11-20T12:00:00Z") / 1000),
		data: { object: { mode: "subscription", payment_status: "paid", client_reference_id: userId, amount_total: 1500, currency: "usd" } },
	});

	it("a signed checkout webhook reaches `paid`; the same event from the browser is refused", async () => {
		const user = uniqueId("user");
		const steps = ["Report Viewed", "Newsletter Subscribed", "Account Created", "Trial Started", "Post Scheduled", "Analytics Viewed", "Channel Connected", "Channel Connected", "Channel Connected"];
		const batch = steps.map((event, i) => ({ type: "track", event, userId: user, messageId: crypto.randomUUID(), timestamp: new Date(Date.UTC(2026, 10, 20, i)).toISOString() }));
		expect((await post({ batch }, {}, "/v1/collect?writeKey=locked-saas-write-key")).status).toBe(200);

		const forged = await post({ type: "track", event: "Subscription Upgraded", userId: user }, {}, "/v1/collect?writeKey=locked-saas-write-key");
		expect(forged.status).toBe(403);
		expect((await profileOf(user, "locked-saas")).journeys[0]?.progress).toBe(0.875);

		const event = checkout(user);
		const res = await webhook(event);
		expect(res.status).toBe(200);
		const profile = await profileOf(user, "locked-saas");
		expect(profile.journeys[0]?.completed.at(-1)).toEqual({ step: "paid", at: "2026-11-20T12:00:00.000Z" });
		expect(profile.journeys[0]?.progress).toBe(1);
		// Billing systems redeliver webhooks: the same event counts once.
		expect(await (await webhook(event)).json()).toMatchObject({ accepted: 0, duplicates: 1 });
	});

	it("refuses a wrong or stale signature and ignores events that mean no milestone", async () => {
		const user = uniqueId("user");
		expect((await webhook(checkout(user), { secret: "whsec_wrong" })).status).toBe(400);
		expect((await webhook(checkout(user), { age: 3_600 })).status).toBe(400);
		expect((await webhook({ ...checkout(user), type: "invoice.upcoming" })).status).toBe(204);
		expect((await admin(`/sites/locked-saas/visitors/${user}`)).status).toBe(404);
	});
});

describe("server keys in site configs", () => {
	it("are stored as hashes; a key another site uses is refused with 409", async () => {
		const config = structuredClone(demo) as typeof demo & { serverKeys?: unknown };
		config.id = "copycat";
		config.writeKeys = ["copycat-write-key"];
		config.serverKeys = [{ name: "billing", sha256: await sha256Hex(CANDLE_SERVER_KEY) }];
		const res = await admin("/sites/copycat", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(config) });
		expect(res.status).toBe(409);
		expect(await res.json()).toMatchObject({ error: { code: "server_key_in_use", details: [{ path: "serverKeys[0].sha256" }] } });

		config.serverKeys = [{ name: "billing", sha256: "not-a-hash" }];
		const invalid = await admin("/sites/copycat", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(config) });
		expect(invalid.status).toBe(400);
		expect(JSON.stringify(await invalid.json())).toContain("serverKeys[0].sha256");
	});
});
