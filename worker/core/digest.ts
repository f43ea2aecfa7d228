/** SHA-256 and HMAC-SHA-256 through Web Crypto, as lowercase hex or raw bytes. */

const encoder = new TextEncoder();

export function toHex(bytes: ArrayBuffer): string {
	return [...new Uint8Array(bytes)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Hex SHA-256, the form in which site configs hold server keys. */
export async function sha256Hex(text: string): Promise<string> {
	return toHex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

export async function hmacSha256(key: string | ArrayBuffer, message: string): Promise<ArrayBuffer> {
	const raw = typeof key === "string" ? encoder.encode(key) : key;
	const cryptoKey = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
	return crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(message));
}
