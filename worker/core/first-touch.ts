/**
 * Where a visitor came from, as funnels break it down: UTM source, medium and campaign,
 * referrer domain, country and device class. Read from an event and its request, never
 * keeping the raw IP address or user agent.
 */

export type FirstTouch = {
	source: string;
	medium: string;
	campaign: string;
	referrer: string;
	country: string;
	device: string;
};

export const BREAKDOWNS = ["source", "medium", "campaign", "referrer", "country", "device"] as const;
export type Breakdown = (typeof BREAKDOWNS)[number];

/** The value shown when an event carries no such information. */
export const NONE = "(none)";
export const DIRECT = "(direct)";
/** The device class of crawlers and link previews: counted apart from people. */
export const BOT = "bot";

export type TouchInput = {
	campaign?: Readonly<Record<string, unknown>> | undefined;
	pageUrl?: string | null | undefined;
	referrer?: string | null | undefined;
	/** From the edge (`request.cf.country`), never from the client. */
	country?: string | null | undefined;
	userAgent?: string | null | undefined;
};

const MAX_VALUE_LENGTH = 100;

export function readTouch(input: TouchInput): FirstTouch {
	const utm = utmFromUrl(input.pageUrl);
	const campaign = input.campaign ?? {};
	return {
		source: clean(campaign.source ?? utm.get("utm_source")),
		medium: clean(campaign.medium ?? utm.get("utm_medium")),
		campaign: clean(campaign.name ?? campaign.campaign ?? utm.get("utm_campaign")),
		referrer: referrerDomain(input.referrer, input.pageUrl),
		country: typeof input.country === "string" && /^[A-Z]{2}$/.test(input.country) ? input.country : NONE,
		device: deviceClass(input.userAgent),
	};
}

function clean(value: unknown): string {
	if (typeof value !== "string") return NONE;
	const trimmed = value.trim().toLowerCase();
	return trimmed ? trimmed.slice(0, MAX_VALUE_LENGTH) : NONE;
}

function utmFromUrl(url: string | null | undefined): URLSearchParams {
	if (!url) return new URLSearchParams();
	try {
		return new URL(url).searchParams;
	} catch {
		return new URLSearchParams();
	}
}

/** The referring site's host without `www.`; `(direct)` for none or the site itself. */
function referrerDomain(referrer: string | null | undefined, pageUrl: string | null | undefined): string {
	if (!referrer) return DIRECT;
	let host: string;
	try {
		host = new URL(referrer).hostname.toLowerCase();
	} catch {
		return DIRECT;
	}
	const own = (() => {
		try {
			return pageUrl ? new URL(pageUrl).hostname.toLowerCase() : undefined;
		} catch {
			return undefined;
		}
	})();
	if (!host || host === own) return DIRECT;
	return host.replace(/^www\./, "").slice(0, MAX_VALUE_LENGTH);
}

/** Coarse device class from a user agent: bot, tablet, mobile, desktop. */
export function deviceClass(userAgent: string | null | undefined): string {
	if (!userAgent) return NONE;
	if (/bot|crawler|spider|crawling|slurp|facebookexternalhit|preview/i.test(userAgent)) return BOT;
	if (/ipad|tablet|playbook|silk|(android(?!.*mobile))/i.test(userAgent)) return "tablet";
	if (/mobi|iphone|ipod|android|blackberry|opera mini|iemobile/i.test(userAgent)) return "mobile";
	return "desktop";
}
