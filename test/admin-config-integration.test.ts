/** Through the worker: operators replace a site's config without a redeploy. */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../worker";
import candleShop from "../schema/sites/candle-shop.json";
import demo from "../schema/sites/demo.json";
import { admin, beacon, completedSteps, ORIGIN, pageView, request, track, uniqueId } from "./helpers";

const put = (site: string, config: unknown) =>
	admin(`/sites/${site}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(config) });

describe("site config through the admin API", () => {
	it("serves the bundled demo config out of the box", async () => {
		const res = await admin("/sites/demo");
		expect(res.status).toBe(200);
		expect(res.headers.get("nudge-config-source")).toBe("bundled");
		const config = await res.json<{ id: string; writeKeys: string[] }>();
		expect(config).toMatchObject({ id: "demo", writeKeys: ["demo-write-key"] });
	});

	it("stores a new site, which takes events at once and is returned by GET", async () => {
		const config = { ...demo, id: "acme", name: "Acme", writeKeys: ["acme-write-key-1"] };
		const created = await put("acme", config);
		expect(created.status).toBe(201);
		const got = await admin("/sites/acme");
		expect(got.headers.get("nudge-config-source")).toBe("stored");
		expect(await got.json()).toMatchObject({ id: "acme", name: "Acme", writeKeys: ["acme-write-key-1"] });

		const visitor = uniqueId();
		const res = await beacon(pageView(visitor, "/blog/a"), "/v1/collect?writeKey=acme-write-key-1");
		expect(await res.json()).toMatchObject({ accepted: 1 });
		expect((await admin(`/sites/acme/visitors/${visitor}`)).status).toBe(200);
	});

	it("a changed journey applies to the next event without a redeploy; an old key stops working", async () => {
		const changed = structuredClone(candleShop);
		changed.writeKeys = ["candle-shop-key-v2"];
		changed.journeys[0]!.steps[0]!.match = { type: "track", event: "Quiz Completed" };
		expect((await put("candle-shop", changed)).status).toBe(200);

		const old = await beacon(track(uniqueId(), "Newsletter Subscribed"), "/v1/collect?writeKey=candle-shop-write-key");
		expect(old.status).toBe(401);

		const visitor = uniqueId();
		await beacon(track(visitor, "Newsletter Subscribed"), "/v1/collect?writeKey=candle-shop-key-v2");
		await beacon(track(visitor, "Quiz Completed"), "/v1/collect?writeKey=candle-shop-key-v2");
		const profile = await (await admin(`/sites/candle-shop/visitors/${visitor}`)).json<{
			journeys: { completed: { step: string }[] }[];
		}>();
		expect(profile.journeys[0]?.completed.map((c) => c.step)).toEqual(["newsletter"]);
	});

	it("editing a step's rule keeps the progress visitors already made", async () => {
		const visitor = uniqueId();
		await beacon({ batch: [pageView(visitor, "/blog/a"), track(visitor, "Newsletter Subscribed"), track(visitor, "Account Created")] });
		const edited = structuredClone(demo) as unknown as { journeys: { steps: { match: { path?: string[] }[] }[] }[] };
		edited.journeys[0]!.steps[0]!.match[0]!.path = ["/blog/**", "/podcast/**", "/reports/**", "/guides/**"];
		expect((await put("demo", edited)).status).toBe(200);
		await beacon(track(visitor, "Trial Started"));
		const profile = await (await admin(`/sites/demo/visitors/${visitor}`)).json<{ journeys: { completed: { step: string }[] }[] }>();
		expect(profile.journeys[0]?.completed.map((c) => c.step)).toEqual(["engaged", "subscribed", "signed_up", "trial_started"]);
		expect((await put("demo", demo)).status).toBe(200);
	});

	it("rejects an invalid config with 400 and the path of each bad field", async () => {
		const broken = structuredClone(demo) as { ctas: { step: string; requires: string[] }[] };
		broken.ctas[0]!.step = "dreaming";
		broken.ctas[1]!.requires = ["signed_up"];
		const res = await put("demo", broken);
		expect(res.status).toBe(400);
		expect(await res.json()).toEqual({
			error: {
				code: "invalid_config",
				message: "The site config is invalid.",
				details: [
					{ path: "ctas[0].step", message: "unknown step 'dreaming' in journey 'saas'" },
					{ path: "ctas[1].requires[0]", message: expect.stringContaining("requires its own step 'signed_up'") },
				],
			},
		});
		const unchanged = await (await admin("/sites/demo")).json<{ ctas: { step: string }[] }>();
		expect(unchanged.ctas[0]?.step).toBe("subscribed");
	});

	it("rejects a config whose id differs from the URL, and a write key another site uses", async () => {
		expect((await put("other", { ...demo, id: "demo" })).status).toBe(400);
		const res = await put("thief", { ...demo, id: "thief" });
		expect(res.status).toBe(409);
		expect(await res.json()).toMatchObject({ error: { code: "write_key_in_use", details: [{ path: "writeKeys[0]" }] } });
	});

	it("refuses to shrink the rollup shard count, which would move counted visitors", async () => {
		const res = await put("demo", { ...demo, rollups: { shards: 4 } });
		expect(res.status).toBe(400);
		expect(await res.json()).toMatchObject({ error: { details: [{ path: "rollups.shards" }] } });
		expect((await put("demo", { ...demo, rollups: { shards: 12 } })).status).toBe(200);
		expect((await put("demo", { ...demo, rollups: { shards: 12 } })).status).toBe(200);
	});

	it("the demo journey still works after the demo config is stored again", async () => {
		expect((await put("demo", { ...demo, rollups: { shards: 12 } })).status).toBe(200);
		const visitor = uniqueId();
		await beacon(pageView(visitor, "/blog/a"));
		expect(await completedSteps(visitor)).toEqual(["engaged"]);
	});
});

describe("admin authentication", () => {
	it("401 without a token or with a wrong one", async () => {
		const none = await request("/v1/admin/sites/demo");
		expect(none.status).toBe(401);
		expect(await none.json()).toMatchObject({ error: { code: "missing_admin_token" } });
		const wrong = await request("/v1/admin/sites/demo", { headers: { authorization: "Bearer guess" } });
		expect(wrong.status).toBe(401);
		expect(await wrong.json()).toMatchObject({ error: { code: "invalid_admin_token" } });
	});

	it("a worker deployed without the ADMIN_TOKEN secret refuses every admin call, even with the dev token", async () => {
		const withoutSecret = { ...env, ADMIN_TOKEN: undefined } as unknown as Env;
		for (const [method, path] of [
			["GET", "/v1/admin/sites/demo"],
			["PUT", "/v1/admin/sites/demo"],
			["GET", "/v1/admin/sites/demo/visitors/someone"],
			["DELETE", "/v1/admin/sites/demo/visitors/someone"],
		] as const) {
			const res = await worker.fetch(
				new Request(`${ORIGIN}${path}`, { method, headers: { authorization: "Bearer dev-admin-token" } }),
				withoutSecret,
				{ waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext,
			);
			expect(res.status, `${method} ${path}`).toBe(403);
			expect(await res.json()).toMatchObject({ error: { code: "admin_disabled" } });
		}
		// The real binding has the dev token, so the same call passes there.
		expect((await exports.default.fetch(`${ORIGIN}/v1/admin/sites/demo`, { headers: { authorization: "Bearer dev-admin-token" } })).status).toBe(200);
	});
});
