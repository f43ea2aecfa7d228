/**
 * Operators authenticate with `Authorization: Bearer <ADMIN_TOKEN>`. A worker deployed without
 * the secret refuses every admin call rather than running open.
 */
import { createMiddleware } from "hono/factory";
import { timingSafeEqual } from "hono/utils/buffer";
import { ApiError } from "./errors";

export const requireAdmin = createMiddleware<{ Bindings: Env }>(async (c, next) => {
	const expected: string | undefined = c.env.ADMIN_TOKEN;
	if (!expected) {
		throw new ApiError(403, "admin_disabled", "The admin API is disabled: set the ADMIN_TOKEN secret (wrangler secret put ADMIN_TOKEN).");
	}
	const presented = c.req.header("authorization")?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
	if (!presented) {
		throw new ApiError(401, "missing_admin_token", "Send the admin token as 'Authorization: Bearer <token>'.", undefined, {
			"WWW-Authenticate": 'Bearer realm="nudge-admin"',
		});
	}
	if (!(await timingSafeEqual(presented, expected))) {
		throw new ApiError(401, "invalid_admin_token", "The admin token is not valid.", undefined, {
			"WWW-Authenticate": 'Bearer realm="nudge-admin", error="invalid_token"',
		});
	}
	await next();
});
