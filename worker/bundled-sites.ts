/**
 * The example site configs shipped in `schema/sites/`, served until an operator stores their own.
 * Validated at load: a broken example fails every test rather than a visitor's request.
 */
import { parseSiteConfig, type SiteConfig } from "../schema";
import candleShop from "../schema/sites/candle-shop.json";
import demo from "../schema/sites/demo.json";

function load(input: unknown, file: string): SiteConfig {
	const result = parseSiteConfig(input);
	if (!result.ok) {
		throw new Error(`${file} is invalid: ${result.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`);
	}
	return result.config;
}

export const BUNDLED_SITES: readonly SiteConfig[] = [
	load(demo, "schema/sites/demo.json"),
	load(candleShop, "schema/sites/candle-shop.json"),
];
