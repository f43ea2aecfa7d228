/**
 * The JSON Schema files editors use, derived from the valibot schemas (never written by hand).
 * `npm run schema` writes them to `schema/json/`; a test fails when the checked-in files are stale.
 */
import { toJsonSchema } from "@valibot/to-json-schema";
import { BatchSchema, EventSchema } from "./event";
import { SiteConfigSchema } from "./site-config";

const options = {
	// `input` describes what a person writes (defaults may be omitted); cross-field rules that
	// JSON Schema cannot express are left to `checkSiteConfig` and the event `check`.
	typeMode: "input",
	errorMode: "ignore",
} as const;

/** File name under `schema/json/` → its JSON Schema document. */
export function jsonSchemas(): Record<string, object> {
	return {
		"site-config.schema.json": {
			...toJsonSchema(SiteConfigSchema, options),
			$id: "https://nudge.dev/schema/site-config.schema.json",
			title: "Nudge site config",
		},
		"event.schema.json": {
			...toJsonSchema(EventSchema, options),
			$id: "https://nudge.dev/schema/event.schema.json",
			title: "Nudge event (Segment spec)",
		},
		"batch.schema.json": {
			...toJsonSchema(BatchSchema, options),
			$id: "https://nudge.dev/schema/batch.schema.json",
			title: "Nudge event batch (Segment spec)",
		},
	};
}

/** The exact text of a schema file, so the writer and the staleness test agree byte for byte. */
export function formatJsonSchema(schema: object): string {
	return `${JSON.stringify(schema, null, "\t")}\n`;
}
