/**
 * Everything that goes over the wire or into a site config, and the one way to validate each.
 */
import * as v from "valibot";
import { checkSiteConfig, type ConfigIssue } from "./check-site-config";
import { SiteConfigSchema, type SiteConfig } from "./site-config";

export * from "./event";
export * from "./site-config";
export { checkSiteConfig, type ConfigIssue } from "./check-site-config";

/** `journeys[0].steps[2].id`: the notation every validation message uses for a field. */
export function issuePath(issue: v.BaseIssue<unknown>): string {
	let path = "";
	for (const item of issue.path ?? []) {
		const key = item.key;
		if (typeof key === "number") path += `[${key}]`;
		else path += path ? `.${String(key)}` : String(key);
	}
	return path;
}

/** Flattens valibot issues (including those nested in unions) to `{ path, message }`. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): ConfigIssue[] {
	return issues.map((issue) => ({ path: issuePath(issue) || "(root)", message: issue.message }));
}

export type SiteConfigResult =
	| { ok: true; config: SiteConfig }
	| { ok: false; issues: ConfigIssue[] };

/** Validates a site config: its shape first, then the rules that span fields. */
export function parseSiteConfig(input: unknown): SiteConfigResult {
	const parsed = v.safeParse(SiteConfigSchema, input);
	if (!parsed.success) return { ok: false, issues: describeIssues(parsed.issues) };
	const issues = checkSiteConfig(parsed.output);
	return issues.length ? { ok: false, issues } : { ok: true, config: parsed.output };
}
