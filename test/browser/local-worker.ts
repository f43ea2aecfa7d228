/** Starts `wrangler dev` on a free port with fresh storage, as `npm start` would, and stops it. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type LocalWorker = { origin: string; stop: () => Promise<void> };

export async function startLocalWorker(port = 8799): Promise<LocalWorker> {
	const state = mkdtempSync(join(tmpdir(), "nudge-browser-"));
	const child: ChildProcess = spawn(
		"npx",
		["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", state, "--log-level", "warn"],
		{
			// Its own process group: killing npx alone would leave workerd running.
			detached: true,
			stdio: ["ignore", "pipe", "pipe"],
			env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
		},
	);
	let output = "";
	child.stdout?.on("data", (chunk) => (output += chunk));
	child.stderr?.on("data", (chunk) => (output += chunk));
	const origin = `http://127.0.0.1:${port}`;
	const deadline = Date.now() + 60_000;
	for (;;) {
		try {
			if ((await fetch(`${origin}/v1/nudge.js`)).ok) break;
		} catch {
			// Not listening yet.
		}
		if (Date.now() > deadline || child.exitCode !== null) {
			throw new Error(`wrangler dev did not start:\n${output}`);
		}
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
	return {
		origin,
		stop: async () => {
			if (child.pid) process.kill(-child.pid, "SIGTERM");
			await new Promise((resolve) => setTimeout(resolve, 500));
			rmSync(state, { recursive: true, force: true });
		},
	};
}
