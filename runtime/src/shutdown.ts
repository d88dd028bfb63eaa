// Writes that are held back for speed (statistics counted in memory, SQL puts batched for `writeDelayMs`) must reach
// the disk however the process ends: at a normal exit, and also at Ctrl-C or a `kill`, which skip 'exit' handlers.
import { isMainThread } from 'node:worker_threads';

/** Flush tasks by order: statistics first, because flushing them may hand more lines to the SQL store's batch. */
const tasks = new Map<number, () => void>();
let hooked = false;

/** The signals after which Node would end the process without running 'exit' handlers. */
const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function runAll(): void {
	for (const order of [...tasks.keys()].sort((a, b) => a - b)) {
		try {
			tasks.get(order)!();
		} catch {
			// A flush that fails has reported it already; the next task (and the exit) must still happen.
		}
	}
}

/**
 * Runs `task` (synchronous) before the process ends: on 'exit', and on SIGINT, SIGTERM and SIGHUP. A signal that
 * nothing else listens to is raised again once the tasks ran, so the process still ends by that signal, with the
 * exit status and shell behaviour of the default (unlike handlers that call `process.exit(0)`); when the program
 * has its own listener, that listener decides what happens next. Worker threads receive no signals: their
 * process's main thread flushes only its own writes, and a terminated worker loses what it held (documented on
 * `flushStats`). @internal
 */
export function beforeShutdown(order: number, task: () => void): void {
	tasks.set(order, task);
	if (hooked) return;
	hooked = true;
	process.on('exit', runAll);
	if (!isMainThread) return;
	for (const signal of signals) {
		const handler = (): void => {
			runAll();
			if (process.listenerCount(signal) > 1) return;
			process.removeListener(signal, handler);
			process.kill(process.pid, signal);
		};
		process.on(signal, handler);
	}
}

/** Order of the tasks in {@link beforeShutdown}: statistics, SQL puts, PostgreSQL puts, then leases (released once their results are written), then the stat cache of file digests (fileDigest.ts). @internal */
export const flushOrder = { stats: 0, sql: 1, postgres: 1.5, leases: 2, fileDigests: 3 } as const;
