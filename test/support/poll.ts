// Polling for something that happens later (a timer's write, a watcher's notification, another process's record):
// instead of sleeping a fixed time and asserting it happened, wait until it has, under a ceiling far above what any
// loaded machine needs, so a test fails only when it never happens. Inlined into each test bundle by esbuild.

/** The default ceiling: generous, because reaching it means failure, and a pass returns as soon as it is true. */
export const pollCeilingMs = 30_000;

/**
 * Resolves once `predicate()` is true (checked at once, then every 20 ms); rejects after `ms` naming `what`.
 *
 * @example
 * await waitFor('the timer to write the batch', () => logged(record));
 */
export function waitFor(what: string, predicate: () => boolean, ms = pollCeilingMs): Promise<void> {
	const started = Date.now();
	return new Promise((resolve, reject) => {
		const tick = (): void => {
			let done: boolean;
			try {
				done = predicate();
			} catch (err) {
				return reject(err instanceof Error ? err : new Error(String(err)));
			}
			if (done) return resolve();
			if (Date.now() - started > ms) return reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
			setTimeout(tick, 20);
		};
		tick();
	});
}
