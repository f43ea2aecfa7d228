/**
 * A small demo of the SaaS journey for `npm start`: every page sends a page event, and buttons
 * send the journey's track events, so the visitor profile can be watched filling up.
 * (The snippet and the full demo site arrive with the page-snippet issue.)
 */
import { Hono } from "hono";
import { html, raw } from "hono/html";

const DEMO_WRITE_KEY = "demo-write-key";

const JOURNEY_BUTTONS = [
	["Newsletter Subscribed", "Subscribe to the newsletter"],
	["Account Created", "Create an account"],
	["Trial Started", "Start a trial"],
	["Post Scheduled", "Schedule a post"],
	["Analytics Viewed", "View analytics"],
	["Channel Connected", "Connect a channel (×3)"],
	["Subscription Upgraded", "Upgrade"],
] as const;

const PAGES: Record<string, { title: string; text: string }> = {
	"/": { title: "Postwise: schedule a week of posts in ten minutes", text: "The demo home page." },
	"/blog/remote-work": {
		title: "Blog: how remote teams plan their social week",
		text: "Reading this post reaches the journey's first step, 'engaged'.",
	},
};

function page(path: string, content: { title: string; text: string }) {
	return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${content.title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
button{margin:.25rem .25rem .25rem 0;padding:.4rem .8rem;border:1px solid #8a94a6;border-radius:.4rem;background:#fff;cursor:pointer}
pre{background:#f3f5f8;padding:.75rem;border-radius:.4rem;overflow:auto;font-size:13px}</style>
</head>
<body>
<nav><a href="/">Home</a> · <a href="/blog/remote-work">Blog post</a></nav>
<h1>${content.title}</h1>
<p>${content.text}</p>
<p>${JOURNEY_BUTTONS.map(([event, label]) => html`<button data-event="${event}">${label}</button>`)}</p>
<aside id="nudge" style="border:1px solid #c8d0dc;border-radius:.5rem;padding:.75rem 1rem;margin:1rem 0;background:#f7f9fc">
<strong>Your next step:</strong> <span id="cta">…</span></aside>
<p>Your visitor id: <code id="visitor"></code></p>
<p>See your progress: <code>curl -H "Authorization: Bearer dev-admin-token" <span id="profile-url"></span></code></p>
<pre id="log"></pre>
<script>
(function () {
  var key = "nudge_demo_anonymous_id";
  var id = localStorage.getItem(key);
  if (!id) { id = crypto.randomUUID(); localStorage.setItem(key, id); }
  document.getElementById("visitor").textContent = id;
  document.getElementById("profile-url").textContent = location.origin + "/v1/admin/sites/demo/visitors/" + id;
  var log = document.getElementById("log");
  function send(event) {
    event.anonymousId = id;
    event.messageId = crypto.randomUUID();
    event.timestamp = new Date().toISOString();
    event.context = { page: { path: location.pathname, url: location.href, referrer: document.referrer, title: document.title } };
    // text/plain keeps the request "simple": no CORS preflight, as with navigator.sendBeacon.
    // ?next=1 asks for the visitor's next CTA in the same round trip.
    return fetch("/v1/collect?writeKey=${raw(DEMO_WRITE_KEY)}&next=1&path=" + encodeURIComponent(location.pathname), {
      method: "POST", keepalive: true, headers: { "Content-Type": "text/plain" }, body: JSON.stringify(event)
    }).then(function (r) { return r.json(); }).then(function (answer) {
      var next = answer.next && answer.next.ctas[0];
      document.getElementById("cta").textContent = next ? next.title + " (" + next.reason + ")" :
        answer.next && answer.next.visitor.holdout ? "none: you are in the holdout group" : "nothing right now";
      delete answer.next;
      log.textContent = (event.event || "page " + location.pathname) + " → " + JSON.stringify(answer) + "\\n" + log.textContent;
    });
  }
  send({ type: "page", name: document.title, properties: { path: location.pathname } });
  document.querySelectorAll("button[data-event]").forEach(function (button) {
    button.addEventListener("click", function () {
      var name = button.getAttribute("data-event");
      var times = name === "Channel Connected" ? 3 : 1;
      for (var i = 0; i < times; i++) send({ type: "track", event: name, properties: { channel: ["twitter", "linkedin", "instagram"][i] } });
    });
  });
})();
</script>
</body>
</html>`;
}

export const demoSiteRoutes = new Hono();
for (const [path, content] of Object.entries(PAGES)) {
	demoSiteRoutes.get(path, (c) => c.html(page(path, content)));
}
