// What the bench sends: the demo site's visitors as the page snippet reports them (page views
// with the page's context and user agent, track events, CTA feedback), from a seeded random
// source so every run sends the same mix.

import { readFileSync } from "node:fs";

/** A small, fast, seedable generator (mulberry32): the mix is the same in every run. */
export function randomSource(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

const pick = (random, list) => list[Math.floor(random() * list.length)];

/** The demo journey after `engaged` (which the landing page view on the blog reaches): the track events of test/demo-walk.json. */
export const JOURNEY_EVENTS = JSON.parse(readFileSync(new URL("../test/demo-walk.json", import.meta.url), "utf8"))
	.filter((event) => event.type === "track")
	.map((event) => event.event);

const BLOG = ["remote-work", "best-time-to-post", "state-of-remote-work", "linkedin-hooks", "instagram-reels", "content-calendar", "twitter-threads", "hashtags"];
const PAGES = [
	...BLOG.map((slug) => `/blog/${slug}`),
	...BLOG.map((slug) => `/blog/${slug}`),
	"/podcast/episode-12",
	"/",
	"/",
	"/pricing",
	"/features",
	"/features/analytics",
	"/about",
	"/app",
	"/app/compose",
];
const OTHER_TRACKS = ["Button Clicked", "Video Played", "Search Performed", "Scroll Depth Reached", "Link Clicked"];
const CTAS = [
	["subscribe-newsletter", "a"],
	["create-account", "a"],
	["start-trial", "a"],
	["start-trial", "b"],
];
const SOURCES = [
	{ source: "twitter", medium: "social", referrer: "https://t.co/" },
	{ source: "newsletter", medium: "email", referrer: null },
	{ source: "google", medium: "organic", referrer: "https://www.google.com/" },
	{ source: "linkedin", medium: "social", referrer: "https://www.linkedin.com/" },
	{ source: null, medium: null, referrer: "https://news.ycombinator.com/" },
	{ source: null, medium: null, referrer: null },
];
const AGENTS = [
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
];

/**
 * The share of each kind of event in the returning-visitor traffic: mostly page views (a third
 * of them on the blog, which matches `engaged` again), a few product clicks that match no rule,
 * journey events that move a visitor one step on, and CTA feedback.
 */
export const MIX = { page: 0.55, other: 0.2, journey: 0.12, ctaViewed: 0.1, ctaClicked: 0.02, ctaDismissed: 0.01 };

let sequence = 0;
const messageId = () => `bench-${process.pid}-${sequence++}`;

/** A visitor as the bench tracks it: how far through the journey its events have taken it. */
export function newVisitor(id, random) {
	return { id, journeyIndex: 0, agent: pick(random, AGENTS), touch: pick(random, SOURCES) };
}

function context(visitor, path, extra = {}) {
	return { page: { path, url: `https://postwise.example${path}`, referrer: "", title: "Postwise" }, userAgent: visitor.agent, ...extra };
}

/** The first beacon of a visitor: a blog post reached from a campaign or a referrer (it reaches `engaged`). */
export function landing(visitor, random, extra = {}) {
	const path = `/blog/${pick(random, BLOG)}`;
	const { source, medium, referrer } = visitor.touch;
	const url = `https://postwise.example${path}${source ? `?utm_source=${source}&utm_medium=${medium}&utm_campaign=spring` : ""}`;
	return {
		type: "page",
		anonymousId: visitor.id,
		messageId: messageId(),
		properties: { path, url, title: "Postwise blog" },
		context: { page: { path, url, referrer: referrer ?? "", title: "Postwise blog" }, userAgent: visitor.agent },
		...extra,
	};
}

/** The next journey event of this visitor, advancing it; null once it has paid. */
export function journeyEvent(visitor, extra = {}) {
	const name = JOURNEY_EVENTS[visitor.journeyIndex];
	if (!name) return null;
	visitor.journeyIndex++;
	return { type: "track", event: name, anonymousId: visitor.id, messageId: messageId(), properties: {}, context: context(visitor, "/app"), ...extra };
}

/** One event of a returning visitor, drawn from `MIX`. */
export function returningEvent(visitor, random) {
	let r = random();
	const take = (share) => (r -= share) < 0;
	if (take(MIX.page)) {
		const path = pick(random, PAGES);
		return { type: "page", anonymousId: visitor.id, messageId: messageId(), properties: { path }, context: context(visitor, path) };
	}
	if (take(MIX.journey)) {
		const event = journeyEvent(visitor);
		if (event) return event;
	} else if (take(MIX.other)) {
		// Falls through to a product click below.
	} else {
		const [cta, variant] = pick(random, CTAS);
		const name = take(MIX.ctaViewed) ? "CTA Viewed" : take(MIX.ctaClicked) ? "CTA Clicked" : "CTA Dismissed";
		return { type: "track", event: name, anonymousId: visitor.id, messageId: messageId(), properties: { cta_id: cta, variant_id: variant }, context: context(visitor, "/blog/remote-work") };
	}
	return { type: "track", event: pick(random, OTHER_TRACKS), anonymousId: visitor.id, messageId: messageId(), properties: { label: "cta" }, context: context(visitor, pick(random, PAGES)) };
}

/**
 * A visitor's history before the timed runs: the landing page view, then a few journey steps
 * (half stop at `engaged`, a quarter subscribe, an eighth sign up, …) and, for some, CTA views.
 */
export function history(visitor, random) {
	const events = [landing(visitor, random)];
	while (random() < 0.5) {
		const event = journeyEvent(visitor);
		if (!event) break;
		events.push(event);
	}
	if (random() < 0.3) {
		const [cta, variant] = pick(random, CTAS);
		events.push({ type: "track", event: "CTA Viewed", anonymousId: visitor.id, messageId: messageId(), properties: { cta_id: cta, variant_id: variant }, context: context(visitor, "/blog/remote-work") });
	}
	return events;
}

/** Paths a page asks `/v1/next` for, with the share of CTAs each can show. */
export const NEXT_PATHS = ["/blog/remote-work", "/blog/best-time-to-post", "/", "/pricing", "/app"];

/**
 * Visitors in sessions: `active` of the population browse at a time, each for about `length`
 * events, then another visitor's session starts. Real traffic looks like this (a visitor sends
 * a burst of events, then nothing for hours), and it bounds the objects in memory: workerd here
 * keeps at most about 1,600 objects' databases open (about 0.45 MB each), evicting an object
 * about 10 s after its last request.
 */
export function sessions(population, random, { active = 600, length = 20 } = {}) {
	const live = [];
	const busy = new Set();
	const start = () => {
		let visitor;
		do visitor = population[Math.floor(random() * population.length)];
		while (busy.has(visitor.id));
		busy.add(visitor.id);
		return { visitor, left: 1 + Math.floor(random() * 2 * length) };
	};
	for (let i = 0; i < Math.min(active, population.length / 2); i++) live.push(start());
	return () => {
		const i = Math.floor(random() * live.length);
		const session = live[i];
		if (--session.left <= 0) {
			busy.delete(session.visitor.id);
			live[i] = start();
		}
		return session.visitor;
	};
}
