/** The demo journey's step ids, in order (DESIGN.md): what a visitor who walks it all completes. */
export const DEMO_STEPS = [
	"engaged",
	"subscribed",
	"signed_up",
	"trial_started",
	"first_post",
	"analytics_viewed",
	"channels_connected",
	"paid",
];
