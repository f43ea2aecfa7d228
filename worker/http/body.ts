/**
 * Reads a JSON request body within a byte limit, whatever the client called it: Segment's
 * browser SDK sends `text/plain`, RudderStack's Node SDK gzip with a form content type.
 */
import { ApiError } from "./errors";

/**
 * Reads at most `limit` bytes (decompressed), then parses JSON. Content-Type is not trusted:
 * `navigator.sendBeacon` can only send text/plain without a CORS preflight.
 */
export async function readJsonBody(request: Request, limit: number): Promise<unknown> {
	const declared = Number(request.headers.get("content-length") ?? Number.NaN);
	if (declared > limit) throw tooLarge(limit);
	if (!request.body) throw new ApiError(400, "empty_body", "The request has no body; send JSON.");

	// With a declared length the runtime frames the body by it, so it cannot run past the limit:
	// one native read then beats a promise per chunk (the largest JavaScript cost of a beacon).
	let bytes = Number.isSafeInteger(declared) && declared >= 0
		? new Uint8Array(await request.arrayBuffer())
		: await readLimited(request.body, limit);
	if (bytes.byteLength > limit) throw tooLarge(limit);
	const encoding = (request.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
	if (encoding === "deflate") {
		bytes = await decompress(bytes, "deflate", limit);
	} else if (encoding === "gzip" || encoding === "x-gzip" || encoding === "identity") {
		// JSON never starts with gzip's magic bytes, and some proxies decode the body but keep
		// the header: so gzip is recognised by its content, not by what the header claims.
		if (isGzip(bytes)) bytes = await decompress(bytes, "gzip", limit);
	} else {
		throw new ApiError(
			415,
			"unsupported_encoding",
			`Content-Encoding '${encoding}' is not supported; send gzip, deflate or plain JSON.`,
		);
	}
	if (bytes.byteLength === 0) throw new ApiError(400, "empty_body", "The request body is empty; send JSON.");
	let text: string;
	try {
		// Fatal: replacing bad bytes with U+FFFD would silently merge ids that differ only there.
		// JSON between systems is UTF-8 (RFC 8259 § 8.1).
		text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
	} catch {
		throw new ApiError(400, "invalid_encoding", "The body is not valid UTF-8; send JSON encoded as UTF-8.");
	}
	try {
		return JSON.parse(text);
	} catch (cause) {
		throw new ApiError(400, "invalid_json", `The body is not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`);
	}
}

function tooLarge(limit: number): ApiError {
	return new ApiError(413, "payload_too_large", `The request body exceeds ${Math.round(limit / 1000)} KB.`);
}

function isGzip(bytes: Uint8Array): boolean {
	return bytes.byteLength >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

async function readLimited(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
	const chunks: Uint8Array[] = [];
	let size = 0;
	const reader = stream.getReader();
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		size += value.byteLength;
		if (size > limit) {
			await reader.cancel();
			throw tooLarge(limit);
		}
		chunks.push(value);
	}
	const bytes = new Uint8Array(size);
	let offset = 0;
	for (const chunk of chunks) {
		bytes.set(chunk, offset);
		offset += chunk.byteLength;
	}
	return bytes;
}

/** Decompresses within the same limit, so a small zip bomb cannot exhaust memory. */
async function decompress(bytes: Uint8Array, format: "gzip" | "deflate", limit: number): Promise<Uint8Array> {
	const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream(format));
	try {
		return await readLimited(stream, limit);
	} catch (cause) {
		if (cause instanceof ApiError) throw cause;
		throw new ApiError(400, "invalid_encoding", `The body is not valid ${format} data.`);
	}
}
