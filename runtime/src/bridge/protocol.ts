// The messages between a SyncWorker (syncWorker.ts, in the calling thread) and the worker it started (serve.ts and
// the start-up guard, in the worker thread). Both sides are built from this repository, so nothing here is versioned.
//
// Requests and replies travel on a MessagePort of their own (`workerData.port`). The calling thread may be blocked
// in `Atomics.wait`, with its event loop stopped, so every reply is followed by a signal in shared memory:
//   word {@link replyWord}: set to 1 (and notified) after each reply is posted; the caller sets it back to 0 before
//     it looks at the port, so a reply posted in between wakes it at once.
//   word {@link stateWord}: {@link stateFailed} once the worker can no longer answer (its module did not load, an
//     uncaught exception, an exit), set by the guard that wraps the worker's module, with a fatal reply on the port.
//
// Waking a sleeping thread costs tens of microseconds on a virtual machine (a futex or an event-loop wake-up), more
// than a sql.js point read takes. So both sides poll for a while before they sleep, where that pays:
//   the worker, after an answer, polls its port for the next request for {@link serveSpinMs} (a caller in a loop of
//     requests sends it within that), serving what comes, for at most {@link serveSpinBudgetMs} in a row before its
//     event loop runs again (its timers and I/O must not starve), and never after a handler that answers later
//     (a network round trip: the event loop must run for it);
//   the caller, in `request()`, polls the reply word for up to {@link waitSpinLimitMs} before `Atomics.wait` while
//     this worker's recent answers came within that (a moving average of the answers it polled for), and sleeps at
//     once when they came slower (a server across a network).
// `FLECHE_BRIDGE_POLL=0` in the environment turns both off.
// Neither polls on a machine with one CPU, where the polling thread would keep the other from running.
import { availableParallelism } from 'node:os';
import type { MessagePort } from 'node:worker_threads';

/** Whether polling can pay: another CPU runs the other side meanwhile. */
export const spinning = availableParallelism() > 1 && process.env['FLECHE_BRIDGE_POLL'] !== '0';

/** How long the worker polls for the next request after an answer, in milliseconds. */
export const serveSpinMs = 0.05;

/** The longest run of requests served while polling before the worker's event loop runs again, in milliseconds. */
export const serveSpinBudgetMs = 2;

/**
 * The longest a caller polls for an answer before it sleeps, in milliseconds. Long enough for a PostgreSQL point read
 * on loopback or a near network (0.2–1 ms): polling through it saves the caller's wake-up (a sync hit's median went
 * from 416 to 360 µs in alternating runs on the 2-core bench VM); a server slower than that is slept on at once.
 */
export const waitSpinLimitMs = 1;

/** Index of the word in the shared Int32Array that says a reply was posted. */
export const replyWord = 0;

/** Index of the word that says the worker failed. */
export const stateWord = 1;

/** Value of {@link stateWord} once the worker can no longer answer. */
export const stateFailed = 2;

/** The id of the fatal reply the guard posts when the worker fails (request ids start at 1). */
export const fatalId = -1;

/**
 * `Symbol.for` key of the global that `serve()` sets in the worker thread: the guard checks it once the module has
 * loaded, so a module that forgot to serve fails at once instead of letting every request time out.
 */
export const servingKey = 'fleche.bridge.serving';

/** What a SyncWorker passes in `workerData`. */
export interface BridgeData {
	/** Marks a worker started by a SyncWorker. */
	readonly fleche: 'bridge';
	readonly port: MessagePort;
	/** Two Int32 words: see the top of this file. */
	readonly flag: SharedArrayBuffer;
	/** Absolute path of the worker's module. */
	readonly module: string;
	/** The same as a file URL, for `import()`. */
	readonly moduleUrl: string;
	/** Whether to `require` the module first (a CommonJS runtime); `import()` otherwise, or when it is an ES module. */
	readonly cjs: boolean;
	/** What the caller gave as `input`. */
	readonly input: unknown;
}

/** A request from the calling thread. */
export interface BridgeRequest {
	readonly id: number;
	readonly message: unknown;
}

/** A warning raised in the worker, logged by the calling thread (once per `once` key when it has one). */
export interface BridgeWarning {
	readonly code: string;
	readonly message: string;
	readonly once?: string;
}

/** The reply to request `id` with the warnings raised since the last reply; `fatal`: the worker is gone. */
export type BridgeReply =
	| { readonly id: number; readonly ok: true; readonly value: unknown; readonly warnings: readonly BridgeWarning[] }
	| { readonly id: number; readonly ok: false; readonly error: string; readonly warnings: readonly BridgeWarning[]; readonly fatal?: true };

/** Whether `data` is what a SyncWorker passes (a worker started otherwise has other `workerData`). */
export function isBridgeData(data: unknown): data is BridgeData {
	return typeof data === 'object' && data !== null && (data as { fleche?: unknown }).fleche === 'bridge';
}
