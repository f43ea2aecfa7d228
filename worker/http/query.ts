/** Query parameters that every route reads the same way. */
import { ApiError } from "./errors";

/** An integer query parameter within bounds; the fallback when absent; 400 otherwise. */
export function integerParam(text: string | undefined, name: string, bounds: { min: number; max: number; fallback: number }): number {
	if (text === undefined) return bounds.fallback;
	const value = Number(text);
	if (text.trim() === "" || !Number.isInteger(value) || value < bounds.min || value > bounds.max) {
		throw new ApiError(400, `invalid_${name}`, `${name} must be an integer from ${bounds.min} to ${bounds.max}.`);
	}
	return value;
}
