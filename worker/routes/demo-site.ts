/**
 * The demo site `npm start` serves: Postwise, a social-media scheduling SaaS whose pages walk
 * the demo journey (DESIGN.md). Every page loads the snippet like a customer's site would, and
 * its slots show the visitor's next step, which changes as they advance.
 */
import { Hono } from "hono";
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

const WRITE_KEY = "demo-write-key";

/**
 * What a page puts before the snippet's script tag (the README shows the same line): `nudge.track()`
 * and the others queue their calls until the snippet loads and replays them, as analytics.js's stub does.
 */
export const SNIPPET_STUB =
	'window.nudge=window.nudge||[];["page","track","identify","optOut","optIn"].forEach(function(m){nudge[m]=nudge[m]||function(){var a=[].slice.call(arguments);a.unshift(m);nudge.push(a)}});';

type Content = HtmlEscapedString | Promise<HtmlEscapedString>;
type Page = { title: string; section: "site" | "app"; body: Content; onLoad?: string };

/** A button or form that records a journey event, then optionally goes on to `then`. */
const action = (event: string, label: string, options: { then?: string; props?: object; done?: string } = {}) =>
	html`<button class="button" data-track="${event}" data-props="${JSON.stringify(options.props ?? {})}"
		data-then="${options.then ?? ""}" data-done="${options.done ?? "Done ✓"}">${label}</button>`;

const journeySteps = [
	["engaged", "Read"],
	["subscribed", "Subscribe"],
	["signed_up", "Sign up"],
	["trial_started", "Trial"],
	["first_post", "First post"],
	["analytics_viewed", "Analytics"],
	["channels_connected", "3 channels"],
	["paid", "Paid"],
] as const;

const PAGES: Record<string, Page> = {
	"/": {
		title: "Postwise: plan a week of social posts in ten minutes",
		section: "site",
		body: html`<section class="hero">
				<h1>Plan a week of social posts in ten minutes.</h1>
				<p>Postwise schedules your posts to every network at the time your audience is listening.</p>
				<p><a class="button primary" href="/signup">Start free</a> <a class="button" href="/blog/remote-work">Read the blog</a></p>
			</section>
			<section class="cards">
				<a class="card" href="/blog/remote-work"><p class="eyebrow">Blog</p><h3>How remote teams plan their social week</h3><p>One planning hour on Monday, a queue that publishes itself.</p></a>
				<a class="card" href="/blog/best-time-to-post"><p class="eyebrow">Blog</p><h3>The best time to post is when they are listening</h3><p>What 1.2 million scheduled posts say about timing.</p></a>
				<a class="card" href="/podcast/episode-12"><p class="eyebrow">Podcast</p><h3>Posting less, reaching more</h3><p>Episode 12, with the team behind three fast-growing accounts.</p></a>
				<a class="card" href="/reports/state-of-remote-work"><p class="eyebrow">Report</p><h3>The State of Remote Work 2026</h3><p>2,300 remote workers on how their teams publish.</p></a>
			</section>`,
	},
	"/blog/remote-work": {
		title: "How remote teams plan their social week",
		section: "site",
		body: html`<article>
			<p class="eyebrow">Blog · 6 min read</p>
			<h1>How remote teams plan their social week</h1>
			<p>Teams spread over five time zones post at the moment their audience wakes up, not when the
			marketer does. The trick is a weekly planning hour and a queue that publishes on its own.</p>
			<p>Start with three posts per network, batch-write them on Monday, and let the schedule handle
			the rest. Review what worked on Friday, and move the best slot forward.</p>
			<p class="more">Next read: <a href="/blog/best-time-to-post">The best time to post is when they are listening</a></p>
		</article>`,
	},
	"/blog/best-time-to-post": {
		title: "The best time to post is when they are listening",
		section: "site",
		body: html`<article>
			<p class="eyebrow">Blog · 4 min read</p>
			<h1>The best time to post is when they are listening</h1>
			<p>We looked at 1.2 million posts scheduled with Postwise last year. The posts that reached the
			most people were not the most polished ones: they went out within an hour of the moment their
			audience was most active.</p>
			<ul>
				<li>Weekday mornings win for LinkedIn, evenings for Instagram.</li>
				<li>An audience spread over time zones needs two slots, not one.</li>
				<li>The best slot drifts over a quarter: check it again every month.</li>
			</ul>
			<p>Analytics shows each channel's best time after a dozen posts, and the queue can move your
			posts there on its own.</p>
			<p class="more">Next read: <a href="/blog/remote-work">How remote teams plan their social week</a></p>
		</article>`,
	},
	"/podcast/episode-12": {
		title: "Podcast: posting less, reaching more",
		section: "site",
		body: html`<article>
			<p class="eyebrow">Podcast · Episode 12 · 38 min</p>
			<h1>Posting less, reaching more</h1>
			<p>Why the accounts that grow fastest publish fewer, better posts.</p>
			<p>${action("Podcast Subscribed", "Subscribe to the podcast", { done: "Subscribed ✓" })}</p>
		</article>`,
	},
	"/reports/state-of-remote-work": {
		title: "The State of Remote Work 2026",
		section: "site",
		onLoad: "Report Viewed",
		body: html`<article>
			<p class="eyebrow">Report</p>
			<h1>The State of Remote Work 2026</h1>
			<p>2,300 remote workers on how their teams communicate, publish and measure.</p>
			<p>${action("Extension Installed", "Install the browser extension", { done: "Installed ✓" })}</p>
		</article>`,
	},
	"/newsletter": {
		title: "The Postwise newsletter",
		section: "site",
		body: html`<h1>One remote-work tip a week</h1>
			<form data-track="Newsletter Subscribed" data-then="/blog/remote-work">
				<label>Email <input type="email" name="email" required placeholder="you@example.com" /></label>
				<button class="button primary">Subscribe</button>
			</form>`,
	},
	"/signup": {
		title: "Create your free Postwise account",
		section: "site",
		body: html`<h1>Create your free account</h1>
			<form data-track="Account Created" data-then="/app">
				<label>Email <input type="email" name="email" required placeholder="you@example.com" /></label>
				<label>Password <input type="password" name="password" required minlength="4" /></label>
				<button class="button primary">Create account</button>
			</form>`,
	},
	"/app": {
		title: "Postwise app",
		section: "app",
		body: html`<h1>Welcome to Postwise</h1>
			<p>Your queue is empty. Here is everything you can do:</p>
			<ul class="tasks">
				<li><a href="/app/trial">Start a free trial</a></li>
				<li><a href="/app/compose">Schedule a post</a></li>
				<li><a href="/app/analytics">See analytics</a></li>
				<li><a href="/app/channels">Connect channels</a></li>
				<li><a href="/app/upgrade">Upgrade</a></li>
			</ul>`,
	},
	"/app/trial": {
		title: "Start your free trial",
		section: "app",
		body: html`<h1>Try the Team plan free for 14 days</h1>
			<p>Optimal timing, analytics and unlimited channels. No card needed.</p>
			<p>${action("Trial Started", "Start my trial", { then: "/app/compose", props: { plan: "team" } })}</p>`,
	},
	"/app/compose": {
		title: "Schedule a post",
		section: "app",
		body: html`<h1>Schedule a post</h1>
			<form data-track="Post Scheduled" data-then="/app/analytics">
				<label>Post <textarea name="text" required>Our week in review 🚀</textarea></label>
				<label>When <input type="datetime-local" name="at" required value="2026-12-07T09:30" /></label>
				<button class="button primary">Schedule</button>
			</form>`,
	},
	"/app/analytics": {
		title: "Analytics",
		section: "app",
		onLoad: "Analytics Viewed",
		body: html`<h1>Analytics</h1>
			<div class="stats"><div><strong>1,204</strong>reach</div><div><strong>87</strong>clicks</div><div><strong>9:30</strong>best time</div></div>`,
	},
	"/app/channels": {
		title: "Connect your channels",
		section: "app",
		body: html`<h1>Connect your channels</h1>
			<p>Teams that post to three networks grow twice as fast.</p>
			<p>
				${action("Channel Connected", "Connect Bluesky", { props: { channel: "bluesky" }, done: "Bluesky ✓" })}
				${action("Channel Connected", "Connect LinkedIn", { props: { channel: "linkedin" }, done: "LinkedIn ✓" })}
				${action("Channel Connected", "Connect Instagram", { props: { channel: "instagram" }, done: "Instagram ✓" })}
			</p>`,
	},
	"/app/upgrade": {
		title: "Upgrade to Team",
		section: "app",
		body: html`<h1>Keep your schedule running</h1>
			<p>Team plan: $15 per month, billed yearly.</p>
			<p>${action("Subscription Upgraded", "Upgrade now", { then: "/app", props: { plan: "team", revenue: 180 } })}</p>`,
	},
};

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:16px/1.55 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b2230;background:#fbfcfe}
header{display:flex;gap:1.25rem;align-items:center;flex-wrap:wrap;padding:.9rem 1.5rem;background:#fff;border-bottom:1px solid #e3e7ee}
header .logo{font-weight:800;font-size:1.15rem;color:#3346d3;text-decoration:none;margin-right:auto}
header nav{display:flex;flex-wrap:wrap;gap:.3rem 1rem}header nav a{color:#3b4557;text-decoration:none;white-space:nowrap}header nav a:hover{color:#3346d3}
main{max-width:48rem;margin:0 auto;padding:1.5rem}h1{line-height:1.2}a{color:#3346d3}
.hero h1{font-size:2.4rem;margin:.5rem 0}.eyebrow{color:#6b7588;font-size:.9rem;margin:0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:1rem;margin:2rem 0}
.card{display:block;padding:1rem 1.25rem;border:1px solid #e3e7ee;border-radius:.75rem;background:#fff;color:inherit;text-decoration:none}
.card:hover{border-color:#3346d3}.card h3{margin:.2rem 0;font-size:1.05rem;line-height:1.3}.card p{margin:.3rem 0 0}.card p.eyebrow{margin:0;font-size:.8rem}
.more{margin-top:1.5rem;padding-top:1rem;border-top:1px solid #e3e7ee}
.button{display:inline-block;padding:.55rem 1rem;border:1px solid #c5ccd8;border-radius:.5rem;background:#fff;color:#1b2230;font:inherit;text-decoration:none;cursor:pointer;margin:.2rem .2rem .2rem 0}
.button.primary{background:#3346d3;border-color:#3346d3;color:#fff}.button:disabled{opacity:.6;cursor:default}
form{display:grid;gap:.8rem;max-width:26rem}label{display:grid;gap:.25rem;font-weight:600}
input,textarea{font:inherit;padding:.5rem;border:1px solid #c5ccd8;border-radius:.4rem}
.tasks li{margin:.3rem 0}.stats{display:flex;gap:1rem}.stats div{flex:1;padding:1rem;border:1px solid #e3e7ee;border-radius:.75rem;background:#fff}
.stats strong{display:block;font-size:1.6rem}
.journey{display:flex;flex-wrap:wrap;gap:.35rem;padding:0;margin:1.25rem 0;list-style:none;font-size:.8rem}
.journey li{padding:.2rem .6rem;border-radius:1rem;background:#eef1f6;color:#6b7588}.journey li.done{background:#dff5e6;color:#17603a}
[data-nudge-slot]{margin:1.25rem 0}[data-nudge-slot][hidden]{display:none}
footer{max-width:48rem;margin:2rem auto;padding:0 1.5rem;color:#6b7588;font-size:.85rem}
`;

/**
 * Buttons and forms marked `data-track` record their event, wait until it is stored, then go
 * on (or refresh the slots), so the next page already shows the next step.
 */
const PAGE_SCRIPT = `
function nudgeReady() {
  return new Promise(function (resolve) {
    (function wait() { window.nudge.flush ? resolve(window.nudge) : setTimeout(wait, 20); })();
  });
}
function showJourney() {
  nudgeReady().then(function (n) { return n.flush().then(function () { return n.next(); }); }).then(function (hint) {
    // A visitor who opted out (or an error answer) has no "completed" list: nothing is done.
    var done = hint.visitor.completed || [];
    document.querySelectorAll(".journey li").forEach(function (li) {
      li.classList.toggle("done", done.indexOf(li.dataset.step) >= 0);
    });
  });
}
function record(el, event) {
  event.preventDefault();
  if (el.disabled) return;
  var props = JSON.parse(el.dataset.props || "{}");
  nudgeReady().then(function (n) {
    n.track(el.dataset.track, props);
    if (el.tagName === "BUTTON") { el.disabled = true; el.textContent = el.dataset.done; }
    return n.flush().then(function () {
      if (el.dataset.then) location.href = el.dataset.then;
      else { document.querySelectorAll("[data-nudge-slot]").forEach(function (slot) { n.render(slot); }); showJourney(); }
    });
  });
}
document.addEventListener("click", function (e) { var el = e.target.closest("button[data-track]"); if (el) record(el, e); });
document.addEventListener("submit", function (e) { if (e.target.dataset.track) record(e.target, e); });
showJourney();
`;

function layout(path: string, page: Page) {
	return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title} · Postwise</title>
<style>${raw(STYLE)}</style>
<script>${raw(SNIPPET_STUB)}${raw(page.onLoad ? `nudge.track(${JSON.stringify(page.onLoad)});` : "")}</script>
<script async src="/v1/nudge.js" data-write-key="${WRITE_KEY}"></script>
</head>
<body data-path="${path}">
<header>
	<a class="logo" href="${page.section === "app" ? "/app" : "/"}">Postwise</a>
	<nav>${
		page.section === "app"
			? html`<a href="/app/trial">Trial</a><a href="/app/compose">Compose</a><a href="/app/analytics">Analytics</a><a href="/app/channels">Channels</a><a href="/app/upgrade">Upgrade</a>`
			: html`<a href="/blog/remote-work">Blog</a><a href="/podcast/episode-12">Podcast</a><a href="/reports/state-of-remote-work">Report</a><a href="/newsletter">Newsletter</a><a href="/signup">Sign up</a>`
	}</nav>
</header>
<main>
	<div data-nudge-slot="banner" hidden></div>
	${page.body}
	<div data-nudge-slot="inline" hidden></div>
	<ol class="journey" aria-label="Your journey">${journeySteps.map(([id, label]) => html`<li data-step="${id}">${label}</li>`)}</ol>
</main>
<footer>Postwise is the Nudge demo site. Your next step above comes from <code>GET /v1/next</code>;
see your profile with <code>curl -H "Authorization: Bearer dev-admin-token" /v1/admin/sites/demo/visitors/&lt;id&gt;</code>
(your id is <code>localStorage.nudge_aid</code>).</footer>
<script>${raw(PAGE_SCRIPT)}</script>
</body>
</html>`;
}

export const demoSiteRoutes = new Hono();
for (const [path, page] of Object.entries(PAGES)) {
	demoSiteRoutes.get(path, (c) => c.html(layout(path, page)));
}

/** The paths of the demo site, for tests and the README. */
export const DEMO_PATHS = Object.keys(PAGES);
