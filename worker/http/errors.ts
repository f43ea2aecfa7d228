/**
 * The one error shape every failed request ends with:
 * `{ "error": { "code", "message", "details"? } }` and the right status.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export type ErrorBody = { error: { code: string; message: string; details?: unknown } };

/** An error that ends the request with a given status, code and message. */
export class ApiError extends HTTPException {
	constructor(
		status: ContentfulStatusCode,
		readonly code: string,
		message: string,
		readonly details?: unknown,
		readonly headers: Record<string, string> = {},
	) {
		super(status, { message });
		this.name = "ApiError";
	}

	override getResponse(): Response {
		const body: ErrorBody = { error: { code: this.code, message: this.message } };
		if (this.details !== undefined) body.error.details = this.details;
		return Response.json(body, { status: this.status, headers: this.headers });
	}
}

/** Turns anything thrown into the JSON error shape; unknown errors are logged, never leaked. */
export function renderError(err: Error, c: Context): Response {
	if (err instanceof ApiError) return err.getResponse();
	if (err instanceof HTTPException) {
		return new ApiError(err.status as ContentfulStatusCode, "http_error", err.message || "request failed").getResponse();
	}
	console.error(JSON.stringify({ msg: "unhandled error", method: c.req.method, path: c.req.path, error: String(err), stack: err.stack }));
	return new ApiError(500, "internal_error", "Something went wrong on our side; the request can be retried.").getResponse();
}

/** The JSON 404 for paths no route serves. */
export function renderNotFound(c: Context): Response {
	return new ApiError(404, "not_found", `No route for ${c.req.method} ${c.req.path}`).getResponse();
}
