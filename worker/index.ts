/** The worker entry: wires the app and exports the Durable Object classes. */
import { app } from "./app";

export { RollupObject } from "./objects/rollup-object";
export { SiteConfigObject } from "./objects/site-config-object";
export { VisitorObject } from "./objects/visitor-object";

export default app;
