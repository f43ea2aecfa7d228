/**
 * Seeded randomness for Thompson sampling: the same seed gives the same draws, so a visitor's
 * answer is stable for the day and tests can fix the outcome.
 */

/** A 32-bit FNV-1a hash of a string. */
export function hash32(text: string): number {
	let hash = 0x811c9dc5;
	for (let i = 0; i < text.length; i++) {
		hash ^= text.charCodeAt(i);
		hash = Math.imul(hash, 0x01000193);
	}
	return hash >>> 0;
}

/** mulberry32: a small, fast generator of uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) | 0;
		let t = Math.imul(state ^ (state >>> 15), 1 | state);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

function normal(random: () => number): number {
	// Box-Muller; 1 - u keeps the logarithm finite.
	const u = 1 - random();
	const v = random();
	return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Marsaglia and Tsang's gamma sampler (shape < 1 boosted by u^(1/shape)). */
export function gammaSample(shape: number, random: () => number): number {
	if (shape < 1) return gammaSample(shape + 1, random) * (1 - random()) ** (1 / shape);
	const d = shape - 1 / 3;
	const c = 1 / Math.sqrt(9 * d);
	for (;;) {
		let x: number;
		let v: number;
		do {
			x = normal(random);
			v = 1 + c * x;
		} while (v <= 0);
		v = v * v * v;
		const u = random();
		if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
	}
}

/** A draw from Beta(alpha, beta). */
export function betaSample(alpha: number, beta: number, random: () => number): number {
	const x = gammaSample(alpha, random);
	const y = gammaSample(beta, random);
	return x / (x + y);
}
