/**
 * CTA feedback arrives as ordinary track events (`CTA Viewed`, `CTA Clicked`, `CTA Dismissed`)
 * so any analytics client can report it; this reads them.
 */
import type { MatchableEvent } from "./journey";

export type CtaAction = "viewed" | "clicked" | "dismissed";

const ACTIONS: Readonly<Record<string, CtaAction>> = {
	"CTA Viewed": "viewed",
	"CTA Clicked": "clicked",
	"CTA Dismissed": "dismissed",
};

/** The CTA action an event reports, or null when it is not CTA feedback or names no CTA. */
export function ctaFeedback(
	event: MatchableEvent,
): { action: CtaAction; ctaId: string; variantId: string } | null {
	if (event.type !== "track" || event.name === null) return null;
	const action = ACTIONS[event.name];
	const ctaId = event.properties.cta_id;
	if (!action || typeof ctaId !== "string" || ctaId === "") return null;
	const variant = event.properties.variant_id;
	return { action, ctaId, variantId: typeof variant === "string" ? variant : "" };
}
