/**
 * Page path globs for match rules and CTA pages. Hand-written rather than a dependency:
 * picomatch and minimatch carry Node path handling and many features paths never need, and
 * this is the whole grammar the config schema documents.
 */

const compiled = new Map<string, RegExp>();

/** `*` matches within one path segment, `**` across segments, `?` one character. */
export function globToRegExp(glob: string): RegExp {
	let pattern = compiled.get(glob);
	if (pattern) return pattern;
	let source = "";
	for (let i = 0; i < glob.length; i++) {
		const char = glob.charAt(i);
		if (char === "*" && glob.charAt(i + 1) === "*") {
			// `/blog/**` also matches `/blog` itself, as people expect from "everything under /blog".
			if (source.endsWith("/") && i + 2 === glob.length) {
				source = `${source.slice(0, -1)}(?:/.*)?`;
			} else {
				source += ".*";
			}
			i++;
		} else if (char === "*") {
			source += "[^/]*";
		} else if (char === "?") {
			source += "[^/]";
		} else {
			source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
		}
	}
	pattern = new RegExp(`^${source}$`);
	compiled.set(glob, pattern);
	return pattern;
}

/** Whether `path` matches any of the globs. */
export function matchesAnyGlob(path: string, globs: string | readonly string[]): boolean {
	const list = typeof globs === "string" ? [globs] : globs;
	return list.some((glob) => globToRegExp(glob).test(path));
}
