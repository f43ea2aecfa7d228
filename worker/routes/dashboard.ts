/**
 * `GET /dashboard`: the funnel dashboard, a static page whose script (built from
 * `client/dashboard.ts`) reads the admin API with a token kept in the tab's sessionStorage.
 */
import { Hono } from "hono";
import { html, raw } from "hono/html";
import { DASHBOARD_SCRIPT } from "../generated/dashboard";

// [hidden] is forced because `.controls label{display:grid}` would beat the browser's own rule and
// show the breakdown selector on every tab. Under 60rem the CTA table turns into one card per CTA
// (every cell carries its column name in data-label); under 600px the controls pack into a grid.
const STYLE = `
*{box-sizing:border-box}[hidden]{display:none!important}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b2230;background:#f6f7fb}
header{display:flex;align-items:center;gap:1rem;padding:.8rem 1.25rem;background:#151a2d;color:#fff}header strong{font-size:1.05rem}
header small{color:#aab3c5}header button{margin-left:auto;background:none;border:1px solid #4a5370;color:#dfe4f0;border-radius:.4rem;padding:.25rem .6rem;cursor:pointer;white-space:nowrap}
main{max-width:68rem;margin:0 auto;padding:1rem}
.controls{display:flex;flex-wrap:wrap;gap:.75rem;align-items:end;margin-bottom:.75rem}
.controls label{display:grid;gap:.2rem;font-size:.8rem;color:#5b6478;font-weight:600}
input,select,button{font:inherit}input,select{height:2.3rem;padding:0 .5rem;border:1px solid #c9cfdb;border-radius:.4rem;background:#fff;min-width:0}
nav.tabs{display:flex;gap:.25rem;border-bottom:1px solid #dde2ea;margin-bottom:1rem;overflow-x:auto}
nav.tabs button{border:0;background:none;padding:.6rem .9rem;border-bottom:3px solid transparent;cursor:pointer;color:#5b6478;white-space:nowrap}
nav.tabs button.active{color:#3346d3;border-color:#3346d3;font-weight:600}
.panel{background:#fff;border:1px solid #e3e7ee;border-radius:.75rem;padding:1rem 1.25rem;margin-bottom:1rem}
.panel h2{font-size:1.05rem;margin:0 0 .75rem}.panel h2 small{font-weight:400;font-size:.85rem;color:#6b7588;margin-left:.4rem}
.funnel{list-style:none;margin:0;padding:0;display:grid;gap:.7rem}
.funnel .label{display:flex;justify-content:space-between;align-items:baseline;gap:1rem}.funnel .label span:last-child{white-space:nowrap}
.funnel .bar{display:block;width:100%;height:.9rem;clip-path:inset(0 round .3rem)}.bar .track{fill:#eef1f6}.bar .lost{fill:#f8d7e6}.bar .reached{fill:#3346d3}
.funnel li.drop .lost{fill:#e0569b}.funnel .meta{display:flex;flex-wrap:wrap;gap:.2rem .9rem;color:#6b7588;font-size:.82rem}
.funnel.compact{gap:.35rem;font-size:.82rem}.funnel.compact .bar{height:.5rem}.funnel.compact .from-previous{color:#6b7588;margin-right:.5rem}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;background:#fde7f1;color:#a3195b;font-size:.75rem}.badge.good{background:#dff5e6;color:#17603a}
.columns{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:1rem 1.5rem}.column h3{margin:.2rem 0 .5rem;font-size:.95rem}
.muted{color:#6b7588;font-size:.82rem}.empty{color:#5b6478;background:#fff;border:1px dashed #c9cfdb;border-radius:.75rem;padding:1rem}
pre{background:#151a2d;color:#e6e9f2;padding:.75rem;border-radius:.5rem;font-size:.8rem;white-space:pre-wrap;overflow-wrap:anywhere}
.chart{display:block;max-width:100%;height:auto}.chart text{font-size:12px;fill:#5b6478}.chart .grid{stroke:#eef1f6}
.legend{display:flex;flex-wrap:wrap;gap:.3rem .9rem;list-style:none;padding:0;margin:.75rem 0 0;font-size:.82rem}.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:.2rem;margin-right:.3rem;vertical-align:-.1rem}
table{border-collapse:collapse;width:100%;font-size:.88rem}th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid #eef1f6;vertical-align:top}
thead th{color:#5b6478;font-weight:600;font-size:.8rem}tbody th{font-weight:600}td.good{color:#17603a;font-weight:600}th small,td small{display:block;font-weight:400;font-size:.8rem;color:#6b7588}
.rate small{display:inline}.holdout td:not(:first-child){white-space:nowrap}
.rate{display:inline-flex;align-items:center;gap:.4rem;white-space:nowrap}.rate svg{width:5rem;height:.7rem}.rate .track{fill:#eef1f6}.rate .ci{fill:#b9c2f3}.rate .point{fill:#3346d3}
.button{padding:.45rem .9rem;border:1px solid #c9cfdb;border-radius:.45rem;background:#fff;cursor:pointer}.button.primary{background:#3346d3;border-color:#3346d3;color:#fff}
.button.danger{border-color:#d64545;color:#d64545}#lookup{display:flex;gap:.5rem;flex-wrap:wrap;margin-bottom:1rem}#lookup input{flex:1;min-width:12rem}
.timeline{list-style:none;padding:0;margin:1rem 0 0;border-left:2px solid #e3e7ee}.timeline li{padding:.25rem 0 .25rem 1rem;position:relative;font-size:.88rem}
.timeline li::before{content:"";position:absolute;left:-.35rem;top:.6rem;width:.6rem;height:.6rem;border-radius:50%;background:#c9cfdb}
.timeline li.step::before{background:#1aa36f}.timeline li.step{font-weight:600}.timeline li.cta::before{background:#e0569b}.timeline time{color:#6b7588;margin-right:.5rem;font-variant-numeric:tabular-nums}
#login{max-width:24rem;margin:4rem auto}#login form{display:grid;gap:.75rem}#login-error{color:#d64545}
@media (max-width:60rem){
.ctas thead{display:none}.ctas,.ctas tbody,.ctas tr,.ctas th,.ctas td{display:block}
.ctas tbody{border:1px solid #e3e7ee;border-radius:.6rem;padding:.2rem .75rem;margin-bottom:.75rem}.ctas tbody th{border:0;padding:.5rem 0 .1rem}
.ctas tr{display:grid;grid-template-columns:repeat(auto-fill,minmax(6.5rem,1fr));gap:0 .75rem;padding-bottom:.4rem}.ctas tr+tr{border-top:1px solid #eef1f6;padding-top:.4rem}
.ctas tbody th,.ctas td.variant,.ctas td.rate-cell{grid-column:1/-1}.ctas td{border:0;padding:.15rem 0}
.ctas td::before{content:attr(data-label);display:block;font-size:.72rem;font-weight:600;color:#5b6478}.ctas td.variant::before,.ctas td.rate-cell::before{display:inline;margin-right:.5rem}
}
@media (max-width:600px){
main{padding:.6rem}.panel{padding:.8rem}header small{display:none}
.controls{display:grid;grid-template-columns:repeat(6,minmax(0,1fr));gap:.5rem}.controls input,.controls select{width:100%}
#site-field{grid-column:span 2}#journey-field{grid-column:span 4}#from-field,#to-field{grid-column:span 3}#breakdown-field{grid-column:1/-1}
.panel h2 small{display:block;margin:0}nav.tabs button{padding:.6rem .65rem}.timeline time{display:block;font-size:.78rem}pre{font-size:.75rem}
}
`;

const PAGE = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Nudge dashboard</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<header><strong>Nudge</strong><small>journeys, drop-offs and what the nudges do</small><button id="logout" type="button">Sign out</button></header>
<main>
	<section id="login" class="panel" hidden>
		<h2>Admin token</h2>
		<form id="login-form">
			<label>Token <input name="token" type="password" required autocomplete="current-password" placeholder="dev-admin-token locally"></label>
			<button class="button primary">Open dashboard</button>
			<p id="login-error"></p>
			<p class="muted">Kept only in this tab (sessionStorage). Deployed workers use the ADMIN_TOKEN secret.</p>
		</form>
	</section>
	<div id="app" hidden>
		<div class="controls">
			<label id="site-field">Site <input id="site" value="demo" size="10"></label>
			<label id="journey-field">Journey <select id="journey"></select></label>
			<label id="from-field">From <input id="from" type="date"></label>
			<label id="to-field">To <input id="to" type="date"></label>
			<label id="breakdown-field">Breakdown <select id="breakdown">
				<option value="">none</option><option value="source">source</option><option value="medium">medium</option>
				<option value="campaign">campaign</option><option value="referrer">referrer</option><option value="country">country</option>
				<option value="device">device</option><option value="group">holdout group</option>
			</select></label>
		</div>
		<nav class="tabs">
			<button type="button" data-view="funnel" class="active">Funnel</button><button type="button" data-view="trend">Trend</button>
			<button type="button" data-view="ctas">CTAs</button><button type="button" data-view="visitor">Visitor</button>
		</nav>
		<div id="view"></div>
	</div>
</main>
<script>${raw(DASHBOARD_SCRIPT.replace(/<\/script/gi, "<\\/script"))}</script>
</body>
</html>`;

export const dashboardRoutes = new Hono();
dashboardRoutes.get("/dashboard", (c) => {
	c.header("Cache-Control", "no-store");
	return c.html(PAGE);
});
