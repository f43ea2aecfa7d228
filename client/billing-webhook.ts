/**
 * Billing webhook → Nudge milestone. A billing system (Stripe here; others sign webhooks the
 * same way) never runs the page snippet, yet it is the one that knows a visitor paid. This
 * helper verifies the webhook's signature and sends the milestone to Nudge with the site's
 * secret server key, so a `serverOnly` step such as `paid` can only be reached this way.
 *
 * Deploy it as its own Worker (`export default`, with STRIPE_WEBHOOK_SECRET, NUDGE_SERVER_KEY and
 * NUDGE_URL as secrets and vars), or call `relayBillingWebhook` from an existing backend.
 * Self-contained on purpose: it depends on nothing but Web Crypto and fetch.
 */

/** Stripe refuses webhooks signed more than five minutes ago; so does this. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** The part of a Stripe event this helper reads. */
export type BillingEvent = {
	id: string;
	type: string;
	created: number;
	data: { object: Record<string, unknown> };
};

/** A Segment `track` event, as Nudge's `POST /v1/collect` takes it. */
export type Milestone = {
	type: "track";
	event: string;
	userId: string;
	messageId: string;
	timestamp: string;
	properties: Record<string, unknown>;
};

export type RelayOptions = {
	/** The webhook endpoint's signing secret (Stripe: `whsec_…`). */
	signingSecret: string;
	/** The Nudge site's secret server key; its SHA-256 is in the site config's `serverKeys`. */
	serverKey: string;
	/** Where Nudge runs, e.g. `https://nudge.example.com`. */
	nudgeUrl: string;
	fetch?: (request: Request) => Promise<Response>;
	now?: () => number;
};

const encoder = new TextEncoder();

/**
 * Checks a `Stripe-Signature` header (`t=<unix time>,v1=<hex HMAC-SHA256 of "t.payload">`):
 * the signature must match one `v1` entry and be recent, so a replayed old webhook is refused.
 */
export async function verifyWebhookSignature(
	payload: string,
	header: string | null,
	secret: string,
	nowSeconds = Math.floor(Date.now() / 1000),
): Promise<boolean> {
	if (!header) return false;
	const parts = header.split(",").map((part) => part.trim().split("=", 2) as [string, string | undefined]);
	const timestamp = Number(parts.find(([key]) => key === "t")?.[1]);
	const signatures = parts.filter(([key, value]) => key === "v1" && value).map(([, value]) => value!);
	if (!Number.isInteger(timestamp) || signatures.length === 0) return false;
	if (Math.abs(nowSeconds - timestamp) > SIGNATURE_TOLERANCE_SECONDS) return false;
	const expected = await signPayload(`${timestamp}.${payload}`, secret);
	return signatures.some((signature) => constantTimeEqual(signature, expected));
}

/** The hex signature a billing system would send for `signedPayload` (also what tests sign with). */
export async function signPayload(signedPayload: string, secret: string): Promise<string> {
	const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
	const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(signedPayload));
	return [...new Uint8Array(mac)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Comparing every character, so the time taken does not tell how much of a guess was right. */
function constantTimeEqual(a: string, b: string): boolean {
	let difference = a.length ^ b.length;
	for (let i = 0; i < Math.max(a.length, b.length); i++) difference |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
	return difference === 0;
}

/**
 * The milestone a billing event means, or null for events that mean none. The user is the id
 * the site passed to checkout (`client_reference_id`) or set as `metadata.nudge_user_id`, the
 * same `userId` its pages send with `nudge.identify()`. The webhook's id becomes the messageId,
 * so a webhook the billing system delivers twice counts once.
 */
export function milestoneFromBillingEvent(event: BillingEvent): Milestone | null {
	const object = event.data.object;
	const metadata = (object.metadata ?? {}) as Record<string, unknown>;
	const userId = stringOf(object.client_reference_id) ?? stringOf(metadata.nudge_user_id);
	if (!userId) return null;
	const paid =
		(event.type === "checkout.session.completed" && object.mode === "subscription" && object.payment_status === "paid") ||
		((event.type === "customer.subscription.created" || event.type === "customer.subscription.updated") && object.status === "active");
	if (!paid) return null;
	return {
		type: "track",
		event: "Subscription Upgraded",
		userId,
		messageId: `billing-${event.id}`,
		timestamp: new Date(event.created * 1000).toISOString(),
		properties: {
			source: "billing-webhook",
			billing_event: event.type,
			...(typeof object.amount_total === "number" ? { amount: object.amount_total / 100 } : {}),
			...(typeof object.currency === "string" ? { currency: object.currency } : {}),
			...(stringOf(metadata.plan) ? { plan: metadata.plan } : {}),
		},
	};
}

/**
 * Verifies a webhook request and forwards its milestone to Nudge. Answers 400 for a bad
 * signature (the billing system shows it as failed), 204 for events that mean no milestone,
 * and passes on Nudge's answer otherwise, so a 5xx there makes the billing system retry.
 */
export async function relayBillingWebhook(request: Request, options: RelayOptions): Promise<Response> {
	const payload = await request.text();
	const now = Math.floor((options.now?.() ?? Date.now()) / 1000);
	if (!(await verifyWebhookSignature(payload, request.headers.get("stripe-signature"), options.signingSecret, now))) {
		return Response.json({ error: { code: "invalid_signature", message: "The webhook signature is missing, wrong or too old." } }, { status: 400 });
	}
	let event: BillingEvent;
	try {
		event = JSON.parse(payload) as BillingEvent;
	} catch {
		return Response.json({ error: { code: "invalid_json", message: "The webhook body is not JSON." } }, { status: 400 });
	}
	const milestone = event?.data?.object ? milestoneFromBillingEvent(event) : null;
	if (!milestone) return new Response(null, { status: 204 });
	const send = options.fetch ?? fetch;
	return send(
		new Request(new URL("/v1/track", options.nudgeUrl), {
			method: "POST",
			// The server key travels as the Basic auth user name, as Segment's HTTP API does.
			headers: { "content-type": "application/json", authorization: `Basic ${btoa(`${options.serverKey}:`)}` },
			body: JSON.stringify(milestone),
		}),
	);
}

function stringOf(value: unknown): string | undefined {
	return typeof value === "string" && value !== "" ? value : undefined;
}

type RelayEnv = { STRIPE_WEBHOOK_SECRET: string; NUDGE_SERVER_KEY: string; NUDGE_URL: string };

/** The helper as a Worker of its own: point the billing system's webhook at it. */
export default {
	fetch(request: Request, env: RelayEnv): Promise<Response> {
		if (request.method !== "POST") return Promise.resolve(new Response("POST billing webhooks here", { status: 405 }));
		return relayBillingWebhook(request, { signingSecret: env.STRIPE_WEBHOOK_SECRET, serverKey: env.NUDGE_SERVER_KEY, nudgeUrl: env.NUDGE_URL });
	},
};
