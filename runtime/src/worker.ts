// docs/behaviour.md §3.2: the threads.js worker entry (`fleche/worker`) that runs bound calls sent by wrapExecutor pools.
import { createRequire } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { moduleFile } from './bridge/moduleFile.js';
import { runBoundCall } from './workerRun.js';

/**
 * The functions a `fleche/worker` thread exposes to threads.js: `run(call)` runs a {@link BoundCall}. A custom
 * worker file can expose them next to its own: `expose({ ...flecheWorker, mine })`.
 */
export const flecheWorker = { run: runBoundCall };

// Only inside a worker thread: importing this module elsewhere (for `flecheWorker`) must not try to talk to a parent.
if (!isMainThread) {
	// threads.js ships no types its `exports` map points to; it is an optional peer, loaded only here.
	const thisFile: string = moduleFile(import.meta.url, () => __filename);
	const threads = createRequire(thisFile)('threads/worker') as { expose(this: void, api: object): void };
	threads.expose(flecheWorker);
}
