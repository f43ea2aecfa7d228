/**
 * Journey matching: which rules an event satisfies, and when each step of a journey was first
 * reached. Pure functions over plain data; the VisitorObject keeps the hits these consume.
 *
 * A step is qualified at the time of the `count`-th earliest event matching one of its rules.
 * Only the earliest `count` hits per rule can ever matter, so that is all a visitor keeps, and
 * re-evaluating from them gives the same first-reached times whatever order events arrive in.
 */
import type { Journey, MatchRule, PropertyCondition, SiteConfig, Step } from "../../schema";
import { matchesAnyGlob } from "./glob";

/** What matching needs to know about an event. */
export type MatchableEvent = {
	type: string;
	/** The track event name, or the page/screen name. */
	name: string | null;
	path: string | null;
	properties: Readonly<Record<string, unknown>>;
};

const DAY_MS = 86_400_000;

/** Whether `event` satisfies every field the rule sets. */
export function matchRule(rule: MatchRule, event: MatchableEvent): boolean {
	if (rule.type !== undefined && rule.type !== event.type) return false;
	if (rule.event !== undefined) {
		if (event.name === null) return false;
		const names = typeof rule.event === "string" ? [rule.event] : rule.event;
		if (!names.includes(event.name)) return false;
	}
	if (rule.path !== undefined && (event.path === null || !matchesAnyGlob(event.path, rule.path))) return false;
	if (rule.properties !== undefined) {
		for (const [key, condition] of Object.entries(rule.properties)) {
			if (!matchCondition(condition, readPath(event.properties, key))) return false;
		}
	}
	return true;
}

/** Reads `a.b.c` from nested objects; a key that itself contains dots wins over nesting. */
function readPath(source: Readonly<Record<string, unknown>>, key: string): unknown {
	if (key in source) return source[key];
	let value: unknown = source;
	for (const part of key.split(".")) {
		if (value === null || typeof value !== "object") return undefined;
		value = (value as Record<string, unknown>)[part];
	}
	return value;
}

function matchCondition(condition: PropertyCondition, value: unknown): boolean {
	if (typeof condition !== "object") return value === condition;
	const number = toNumber(value);
	const { eq, ne, gt, gte, lt, lte, exists, contains } = condition;
	if (eq !== undefined && value !== eq) return false;
	if (ne !== undefined && value === ne) return false;
	if (condition.in !== undefined && !condition.in.some((option) => option === value)) return false;
	if (gt !== undefined && !(number !== undefined && number > gt)) return false;
	if (gte !== undefined && !(number !== undefined && number >= gte)) return false;
	if (lt !== undefined && !(number !== undefined && number < lt)) return false;
	if (lte !== undefined && !(number !== undefined && number <= lte)) return false;
	if (exists !== undefined && (value !== undefined && value !== null) !== exists) return false;
	if (contains !== undefined) {
		const found =
			typeof value === "string" ? value.includes(contains) : Array.isArray(value) && value.includes(contains);
		if (!found) return false;
	}
	return true;
}

/** Numbers, and numeric strings (`"49.00"`), as many clients send amounts as text. */
function toNumber(value: unknown): number | undefined {
	if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
	if (typeof value === "string" && value.trim() !== "") {
		const parsed = Number(value);
		return Number.isFinite(parsed) ? parsed : undefined;
	}
	return undefined;
}

/** The rules of a step, whether the config wrote one or a list. */
export function stepRules(step: Step): readonly MatchRule[] {
	return Array.isArray(step.match) ? step.match : [step.match];
}

/**
 * A stable key for a rule, so a visitor's hits survive config edits that leave the rule alone
 * (and a changed rule starts from scratch rather than inheriting another rule's hits).
 */
export function ruleKey(rule: MatchRule): string {
	return stableStringify(rule);
}

function stableStringify(value: unknown): string {
	if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
	if (value !== null && typeof value === "object") {
		const entries = Object.entries(value)
			.filter(([, item]) => item !== undefined)
			.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
		return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${stableStringify(item)}`).join(",")}}`;
	}
	return JSON.stringify(value);
}

/** Every distinct rule of the site's journeys, by key, with how many hits it needs. */
export function siteRules(site: Pick<SiteConfig, "journeys">): Map<string, MatchRule> {
	const rules = new Map<string, MatchRule>();
	for (const journey of site.journeys) {
		for (const step of journey.steps) {
			for (const rule of stepRules(step)) rules.set(ruleKey(rule), rule);
		}
	}
	return rules;
}

/** Earliest hit times per rule key, ascending; at most `rule.count` of them matter. */
export type RuleHits = ReadonlyMap<string, readonly number[]>;

/** When the step's evidence was complete: the `count`-th earliest hit of its best rule. */
export function stepQualifiedAt(step: Step, hits: RuleHits): number | undefined {
	let best: number | undefined;
	for (const rule of stepRules(step)) {
		const at = hits.get(ruleKey(rule))?.[rule.count - 1];
		if (at !== undefined && (best === undefined || at < best)) best = at;
	}
	return best;
}

/** Step id → the time the visitor first reached it (epoch ms). */
export type JourneyProgress = Map<string, number>;

/**
 * When each step's evidence was complete, whatever the journey's order: from the hits, and from
 * `prior` (what the visitor was already credited with, so editing a rule or merging devices
 * never takes a reached step away).
 */
export function stepEvidence(journey: Journey, hits: RuleHits, prior?: ReadonlyMap<string, number>): JourneyProgress {
	const evidence: JourneyProgress = new Map();
	for (const step of journey.steps) {
		const fromHits = stepQualifiedAt(step, hits);
		const fromPrior = prior?.get(step.id);
		const at = fromHits === undefined ? fromPrior : fromPrior === undefined ? fromHits : Math.min(fromHits, fromPrior);
		if (at !== undefined) evidence.set(step.id, at);
	}
	return evidence;
}

/**
 * When each step was first reached.
 * - `ordered`: a step counts once every earlier non-optional step is reached, at the later of
 *   its own evidence and those steps (so signing up before reading the blog counts from the
 *   moment the blog is read); optional steps may be skipped.
 * - `any`: every step counts when its evidence is complete.
 * In both, the journey begins at its earliest reached step and stops advancing `windowDays` later.
 */
export function evaluateJourney(journey: Journey, hits: RuleHits, prior?: ReadonlyMap<string, number>): JourneyProgress {
	const evidence = stepEvidence(journey, hits, prior);
	const qualified = journey.steps.map((step) => evidence.get(step.id));
	const reached: JourneyProgress = new Map();
	const windowMs = journey.windowDays * DAY_MS;

	if (journey.order === "any") {
		const start = Math.min(...qualified.filter((at): at is number => at !== undefined));
		journey.steps.forEach((step, i) => {
			const at = qualified[i];
			if (at !== undefined && at <= start + windowMs) reached.set(step.id, at);
		});
		return reached;
	}

	let start: number | undefined;
	let predecessorsDoneAt: number | undefined;
	for (const [i, step] of journey.steps.entries()) {
		const evidence = qualified[i];
		let at = evidence === undefined ? undefined : Math.max(evidence, predecessorsDoneAt ?? evidence);
		if (at !== undefined && start !== undefined && at > start + windowMs) at = undefined;
		if (at === undefined) {
			if (step.optional) continue;
			break;
		}
		reached.set(step.id, at);
		start ??= at;
		if (!step.optional) predecessorsDoneAt = at;
	}
	return reached;
}

/** Share of the journey's non-optional steps reached, 0 to 1. */
export function journeyProgress(journey: Journey, reached: ReadonlyMap<string, number>): number {
	const required = journey.steps.filter((step) => !step.optional);
	if (required.length === 0) return 0;
	return required.filter((step) => reached.has(step.id)).length / required.length;
}

/** A change in when a step was first reached; `null` means not reached. */
export type ProgressChange = { journey: string; step: string; from: number | null; to: number | null };

/** The changes that turn `before` into `after`, in the journey's step order. */
export function diffProgress(
	journey: Journey,
	before: ReadonlyMap<string, number>,
	after: ReadonlyMap<string, number>,
): ProgressChange[] {
	const changes: ProgressChange[] = [];
	for (const step of journey.steps) {
		const from = before.get(step.id) ?? null;
		const to = after.get(step.id) ?? null;
		if (from !== to) changes.push({ journey: journey.id, step: step.id, from, to });
	}
	return changes;
}

/**
 * The first serverOnly step whose rules the event matches, if any: such evidence may only come
 * from the site's backend (a server key), so a visitor cannot fake it from the browser.
 */
export function serverOnlyStepOf(
	site: Pick<SiteConfig, "journeys">,
	event: MatchableEvent,
): { journey: string; step: Step } | undefined {
	for (const journey of site.journeys) {
		for (const step of journey.steps) {
			if (step.serverOnly && stepRules(step).some((rule) => matchRule(rule, event))) return { journey: journey.id, step };
		}
	}
	return undefined;
}
