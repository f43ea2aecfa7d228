/**
 * The HTTP surface: public API (beacons), admin API, demo site. Routes are mounted sub-apps;
 * every failure is rendered in one place as the JSON error shape.
 */
import { Hono } from "hono";
import { renderError, renderNotFound } from "./http/errors";
import { publicCors } from "./http/origin";
import { adminRoutes } from "./routes/admin";
import { collectRoutes } from "./routes/collect";
import { dashboardRoutes } from "./routes/dashboard";
import { demoSiteRoutes } from "./routes/demo-site";
import { nextRoutes } from "./routes/next";
import { snippetRoutes } from "./routes/snippet";

export const app = new Hono<{ Bindings: Env }>();

app.onError(renderError);
app.notFound(renderNotFound);

// Liveness, and the no-op baseline `npm run bench` compares every route with.
app.get("/healthz", (c) => c.text("ok"));

app.use("/v1/*", async (c, next) => (c.req.path.startsWith("/v1/admin/") ? next() : publicCors(c, next)));
app.use("/beacon/*", publicCors);
app.route("/", collectRoutes);
app.route("/", nextRoutes);
app.route("/", snippetRoutes);
app.route("/v1/admin", adminRoutes);
app.route("/", dashboardRoutes);
app.route("/", demoSiteRoutes);
