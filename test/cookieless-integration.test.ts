/**
 * Cookieless sites: the browser stores nothing, the server names the visitor by a daily
 * rotating hash of site, IP address and user agent, and no IP address is kept anywhere.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import candleShop from "../schema/sites/candle-shop.json";
import { cookielessVisitorId, COOKIELESS_PREFIX } from "../worker/core/cookieless";
import { admin, profileOf, request } from "./helpers";

const WRITE_KEY = "cookieless-shop-key";
const PHONE = { "cf-connecting-ip": "198.51.100.23", "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile" };
const LAPTOP = { "cf-connecting-ip": "198.51.100.23", "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0" };

function send(body: unknown, headers: Record<string, string>) {
	return request(`/v1/collect?writeKey=${WRITE_KEY}`, { method: "POST", headers: { "content-type": "text/plain", ...headers }, body: JSON.stringify(body) });
}
async function nextFor(headers: Record<string, string>) {
	const res = await request(`/v1/next?writeKey=${WRITE_KEY}&path=/kits/starter`, { headers });
	expect(res.status).toBe(200);
	return res.json<{ visitor: { id: string; completed: string[] } }>();
}

beforeAll(async () => {
	const config = { ...structuredClone(candleShop), id: "cookieless-shop", writeKeys: [WRITE_KEY], serverKeys: [], cookieless: true };
	config.journeys[0]!.steps.at(-1)!.serverOnly = false;
	const res = await admin("/sites/cookieless-shop", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(config) });
	expect(res.status).toBe(201);
});

afterEach(() => vi.useRealTimers());

describe("cookieless mode", () => {
	it("names a visitor with no id by the hash of IP address and user agent: one device, one visitor", async () => {
		expect((await send({ type: "track", event: "Newsletter Subscribed" }, PHONE)).status).toBe(200);
		// A client-side id is ignored too: nothing the browser keeps identifies the visitor.
		expect((await send({ type: "page", anonymousId: "stored-in-a-cookie", context: { page: { path: "/kits/starter" } } }, PHONE)).status).toBe(200);
		const phone = await nextFor(PHONE);
		expect(phone.visitor.id.startsWith(COOKIELESS_PREFIX)).toBe(true);
		expect(phone.visitor.completed).toEqual(["newsletter"]);
		const profile = await profileOf(phone.visitor.id, "cookieless-shop");
		expect(profile.eventCount).toBe(2);
		expect(JSON.stringify(profile)).not.toContain("198.51.100.23");
		expect(JSON.stringify(profile)).not.toContain("stored-in-a-cookie");

		const laptop = await nextFor(LAPTOP);
		expect(laptop.visitor.id).not.toBe(phone.visitor.id);
		expect(laptop.visitor.completed).toEqual([]);
	});

	it("rotates the id at UTC midnight, so no journey lasts longer than a day", async () => {
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(new Date("2026-11-21T23:59:00Z"));
		const before = (await nextFor(PHONE)).visitor.id;
		vi.setSystemTime(new Date("2026-11-21T08:00:00Z"));
		expect((await nextFor(PHONE)).visitor.id).toBe(before);
		vi.setSystemTime(new Date("2026-11-22T00:01:00Z"));
		expect((await nextFor(PHONE)).visitor.id).not.toBe(before);
	});

	it("keeps a site's non-cookieless visitors as they are", async () => {
		const res = await request("/v1/next?writeKey=demo-write-key&anonymousId=a-kept", { headers: PHONE });
		expect((await res.json<{ visitor: { id: string } }>()).visitor.id).toBe("a-kept");
	});
});

describe("cookielessVisitorId", () => {
	const base = { secret: "s", site: "shop", ip: "198.51.100.23", userAgent: "UA", now: Date.parse("2026-11-21T10:00:00Z") };
	it("depends on the secret, site, IP address, user agent and UTC day, and on nothing else", async () => {
		const id = await cookielessVisitorId(base);
		expect(await cookielessVisitorId({ ...base, now: Date.parse("2026-11-21T23:00:00Z") })).toBe(id);
		for (const change of [{ secret: "t" }, { site: "other" }, { ip: "198.51.100.24" }, { userAgent: "UA2" }, { now: Date.parse("2026-11-22T10:00:00Z") }]) {
			expect(await cookielessVisitorId({ ...base, ...change })).not.toBe(id);
		}
		expect(id).toMatch(/^cl-[0-9a-f]{32}$/);
	});
});
