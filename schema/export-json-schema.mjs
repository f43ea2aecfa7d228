// Writes schema/json/*.schema.json from the valibot schemas. Node cannot import TypeScript
// directly on Node 20, so the module is bundled with esbuild (which wrangler already brings).
import { build } from "esbuild";
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";

const here = fileURLToPath(new URL(".", import.meta.url));
const outfile = join(tmpdir(), `nudge-json-schemas-${process.pid}.mjs`);
await build({
	entryPoints: [join(here, "json-schemas.ts")],
	bundle: true,
	format: "esm",
	platform: "node",
	outfile,
	logLevel: "warning",
});
const { jsonSchemas, formatJsonSchema } = await import(pathToFileURL(outfile).href);
await mkdir(join(here, "json"), { recursive: true });
for (const [file, schema] of Object.entries(jsonSchemas())) {
	await writeFile(join(here, "json", file), formatJsonSchema(schema));
	console.log(`wrote schema/json/${file}`);
}
