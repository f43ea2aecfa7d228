/**
 * Rules of a site config that span fields, which JSON Schema cannot state. Each problem names
 * the path of the field at fault, in the same notation as schema errors (`ctas[2].requires[0]`).
 */
import type { SiteConfig } from "./site-config";

export type ConfigIssue = { path: string; message: string };

/** Returns every contradiction in a config that already passed `SiteConfigSchema`. */
export function checkSiteConfig(config: SiteConfig): ConfigIssue[] {
	const issues: ConfigIssue[] = [];
	const report = (path: string, message: string) => issues.push({ path, message });

	reportDuplicates(config.writeKeys, (_, i) => `writeKeys[${i}]`, "write key", report);
	reportDuplicates(config.serverKeys.map((k) => k.name), (_, i) => `serverKeys[${i}].name`, "server key name", report);
	reportDuplicates(config.serverKeys.map((k) => k.sha256), (_, i) => `serverKeys[${i}].sha256`, "server key", report);
	reportDuplicates(config.journeys.map((j) => j.id), (_, i) => `journeys[${i}].id`, "journey id", report);
	config.journeys.forEach((journey, j) => {
		const at = `journeys[${j}]`;
		reportDuplicates(journey.steps.map((s) => s.id), (_, i) => `${at}.steps[${i}].id`, "step id", report);
		const last = journey.steps.length - 1;
		journey.steps.forEach((step, s) => {
			if (step.serverOnly && config.serverKeys.length === 0) {
				report(`${at}.steps[${s}].serverOnly`, "a serverOnly step needs a server key in serverKeys, or nothing could ever reach it");
			}
			if (step.macro && s !== last) {
				report(`${at}.steps[${s}].macro`, "only the last step of a journey can be the macro-conversion");
			}
			const rules = Array.isArray(step.match) ? step.match : [step.match];
			rules.forEach((rule, r) => {
				if (rule.type === undefined && rule.event === undefined && rule.path === undefined && rule.properties === undefined) {
					const rulePath = Array.isArray(step.match) ? `${at}.steps[${s}].match[${r}]` : `${at}.steps[${s}].match`;
					report(rulePath, "a match rule needs at least one of type, event, path or properties");
				}
			});
		});
		const final = journey.steps[last];
		if (final && !final.macro) {
			report(`${at}.steps[${last}].macro`, "the last step must be the macro-conversion (macro: true)");
		}
		if (final?.optional) {
			report(`${at}.steps[${last}].optional`, "the macro-conversion cannot be optional");
		}
	});

	reportDuplicates(config.ctas.map((c) => c.id), (_, i) => `ctas[${i}].id`, "CTA id", report);
	config.ctas.forEach((cta, c) => {
		const at = `ctas[${c}]`;
		reportDuplicates(cta.variants.map((x) => x.id), (_, i) => `${at}.variants[${i}].id`, "variant id", report);
		const journey = config.journeys.find((j) => j.id === cta.journey);
		if (!journey) {
			report(`${at}.journey`, `unknown journey '${cta.journey}'`);
			return;
		}
		const position = new Map(journey.steps.map((step, i) => [step.id, i]));
		const target = position.get(cta.step);
		if (target === undefined) {
			report(`${at}.step`, `unknown step '${cta.step}' in journey '${journey.id}'`);
		}
		cta.requires.forEach((required, r) => {
			const path = `${at}.requires[${r}]`;
			const requiredAt = position.get(required);
			if (requiredAt === undefined) {
				report(path, `unknown step '${required}' in journey '${journey.id}'`);
			} else if (required === cta.step) {
				report(path, `requires its own step '${required}': a cycle, so the CTA could never be shown`);
			} else if (
				target !== undefined &&
				journey.order === "ordered" &&
				requiredAt > target &&
				!journey.steps[target]?.optional
			) {
				report(
					path,
					`requires '${required}', which comes after its own step '${cta.step}' in ordered journey '${journey.id}': a cycle, so the CTA could never be shown`,
				);
			}
		});
	});
	return issues;
}

function reportDuplicates(
	values: readonly string[],
	pathOf: (value: string, index: number) => string,
	what: string,
	report: (path: string, message: string) => void,
): void {
	const firstIndex = new Map<string, number>();
	values.forEach((value, i) => {
		const first = firstIndex.get(value);
		if (first === undefined) firstIndex.set(value, i);
		else report(pathOf(value, i), `duplicate ${what} '${value}' (first at ${pathOf(value, first)})`);
	});
}
