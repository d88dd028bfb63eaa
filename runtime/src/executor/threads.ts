// threads.js pools as a wrapExecutor adapter, with guards against the defects of threads.js 1.7.0 (a worker that
// dies mid-task, terminate after a death, respawning), and the worker entries' paths.
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { BoundCall, BoundReply } from '../bound.js';
import { moduleFile } from '../bridge/moduleFile.js';
import { FlecheError } from '../errors.js';
import { abortError, asError, describe, type Adapter } from './adapter.js';

// import.meta.url first: under `node -e` (or a CommonJS shim) the ESM build sees a global `__filename` not its own.
const thisFile: string = moduleFile(import.meta.url, () => __filename);

/**
 * A worker thread died (it exited, crashed, or was terminated to cancel its task) while running a submitted call.
 * The submission rejects with it; the pool replaces the worker.
 */
export class WorkerExited extends FlecheError {
	/** The worker's exit code, when known. */
	readonly exitCode: number | null;

	constructor(message: string, exitCode: number | null = null, options?: ErrorOptions) {
		super(message, options);
		this.exitCode = exitCode;
	}

	static override is(err: unknown): err is WorkerExited {
		return FlecheError.is(err) && err.name === 'WorkerExited';
	}
}

// threads.js

/** A threads.js worker: a `worker_threads` Worker with threads.js's event-listener methods. */
interface RawWorker extends EventEmitter {
	readonly threadId: number;
	terminate(): Promise<number>;
	postMessage(value: unknown, transferList?: readonly unknown[]): void;
}

/**
 * The worker {@link threadsWorker} returns: a threads.js `Worker` (for its `spawn()`), which is a `worker_threads`
 * Worker with `addEventListener`/`removeEventListener`.
 */
export type ThreadsWorker = RawWorker & EventTarget;

/** A spawned threads.js thread exposing `run` (a `fleche/worker` thread). */
interface ThreadLike {
	run(call: BoundCall): Promise<BoundReply>;
}

interface ThreadsTask extends PromiseLike<unknown> {
	cancel(): void;
}

interface ThreadsPool {
	queue(task: (thread: ThreadLike) => Promise<unknown>): ThreadsTask;
	events(): unknown;
	settled(allowResolvingImmediately?: boolean): Promise<unknown>;
	terminate(force?: boolean): Promise<void>;
}

/** threads.js's private pool fields (1.7.0) that the crash guard repairs. */
interface ThreadsPoolInternals {
	workers?: { init: Promise<unknown>; runningTasks: unknown[] }[];
	isClosing?: boolean;
	scheduleWork?: () => void;
}

export function isThreadsPool(value: object): value is ThreadsPool {
	const p = value as Partial<ThreadsPool> & ThreadsPoolInternals;
	return typeof p.queue === 'function' && typeof p.events === 'function' && Array.isArray(p.workers);
}

interface ThreadsModule {
	Worker: new (path: string, options?: object) => RawWorker;
	spawn(worker: RawWorker, options?: object): Promise<unknown>;
}

function loadThreads(): ThreadsModule {
	try {
		return createRequire(thisFile)('threads') as ThreadsModule;
	} catch (err) {
		throw new Error(`threadsWorker() needs the 'threads' package (npm i threads@1.7.0): ${(err as Error).message}`, { cause: err });
	}
}

/**
 * threads.js installs SIGINT/SIGTERM handlers that terminate its workers and exit with code 0, hiding the signal
 * from whoever started the process. Node terminates worker threads with the process anyway, so they go.
 */
function guardThreadsSignals(): void {
	for (const signal of ['SIGINT', 'SIGTERM'] as const) {
		for (const listener of process.listeners(signal)) {
			if (String(listener).includes('terminateWorkersAndMaster')) process.removeListener(signal, listener);
		}
	}
}

/** How to replace a worker made by {@link threadsWorker}. */
const respawns = new WeakMap<RawWorker, () => Promise<unknown>>();
/** The last error each watched worker reported (the reason it exits). */
const lastErrors = new WeakMap<RawWorker, Error>();
/** Workers whose 'error' events are listened to (an unheard 'error' event crashes the process). */
const errorWatched = new WeakSet<RawWorker>();
/** Workers whose exit replaces them in their pool. */
const exitWatched = new WeakSet<RawWorker>();

/**
 * The absolute path of a worker entry that runs bound calls: `'threads'` for threads.js (`expose`s `run`), `'piscina'`
 * for piscina (its default export is the task handler). Both are ES modules of this package.
 * @example
 * ```ts
 * const pool = wrapExecutor(new Piscina({ filename: workerFile('piscina') }));
 * ```
 */
export function workerFile(kind: 'threads' | 'piscina'): string {
	// The ES module build serves both builds: piscina imports its file, and threads.js threads are ESM-agnostic. This
	// module is dist/cjs/executor/threads.js in the CommonJS build, and bundled at the top of dist/esm in the ESM one.
	const here = dirname(thisFile);
	const esm = basename(here) === 'executor' ? join(here, '..', '..', 'esm') : here;
	return join(esm, kind === 'threads' ? 'worker.js' : 'workerPiscina.js');
}

/**
 * A threads.js `Worker` running `file` (default: {@link workerFile}`('threads')`), for `spawn()` in a `Pool`, with
 * the threads.js 1.7.0 defects guarded: an absolute `file` works from any folder (threads.js prepends the caller's
 * folder), a file that throws or exits while loading makes `spawn()` reject at once (instead of crashing the process,
 * or waiting for threads.js's 10 s init timeout), the worker is
 * replaced when it dies in a wrapped pool, and threads.js's SIGINT/SIGTERM handlers (exit code 0) are removed.
 * @param file a worker module that `expose`s `run` (see `flecheWorker` of `fleche/worker`).
 * @param options `worker_threads` Worker options.
 * @example
 * ```ts
 * import { Pool, spawn } from 'threads';
 * const pool = wrapExecutor(Pool(() => spawn(threadsWorker()), 4));
 * ```
 */
export function threadsWorker(file?: string, options?: object): ThreadsWorker {
	const threads = loadThreads();
	guardThreadsSignals();
	const target = resolve(file ?? workerFile('threads'));
	// threads.js joins any path onto the folder of the file that calls `new Worker` (this one): hand it a relative one.
	const worker = new threads.Worker(relative(dirname(thisFile), target), options);
	let initialized = false;
	const onInit = (message: unknown): void => {
		if ((message as { type?: unknown } | null)?.type !== 'init') return;
		initialized = true;
		worker.off('message', onInit);
	};
	worker.on('message', onInit);
	// threads.js only rejects spawn() on an `uncaughtError` message: a load error would otherwise crash the process,
	// and a worker that exits while loading would only be noticed at threads.js's 10 s init timeout. Node removes a
	// worker's 'message' listeners before its 'exit' event, so spawn()'s listener is kept here to be called directly.
	type Listener = (event: { data: unknown }) => void;
	const initListeners = new Set<Listener>();
	const listening = worker as unknown as { addEventListener(name: string, l: Listener): void; removeEventListener(name: string, l: Listener): void };
	const addListener = listening.addEventListener.bind(worker);
	const removeListener = listening.removeEventListener.bind(worker);
	Object.assign(worker, {
		addEventListener: (name: string, listener: Listener): void => {
			if (name === 'message' && !initialized) initListeners.add(listener);
			addListener(name, listener);
		},
		removeEventListener: (name: string, listener: Listener): void => {
			initListeners.delete(listener);
			removeListener(name, listener);
		},
	});
	let reported = false;
	const failLoad = (name: string, message: string, stack?: string): void => {
		if (initialized || reported) return;
		reported = true;
		const data = { type: 'uncaughtError', error: { __error_marker: '$$error', name, message, stack } };
		for (const listener of [...initListeners]) listener({ data });
	};
	worker.on('error', (err: Error) => {
		lastErrors.set(worker, err);
		failLoad(err.name, `Worker ${target} failed to load: ${err.message}`, err.stack);
	});
	worker.once('exit', (code: number) => failLoad('WorkerExited', `Worker ${target} exited with code ${code} while loading`));
	errorWatched.add(worker);
	respawns.set(worker, () => threads.spawn(threadsWorker(file, options)));
	return worker as ThreadsWorker;
}

function threadSymbol(thread: object, description: string): symbol | undefined {
	return Object.getOwnPropertySymbols(thread).find((s) => s.description === description);
}

function rawWorkerOf(thread: object): RawWorker | undefined {
	const s = threadSymbol(thread, 'thread.worker');
	const raw = s === undefined ? undefined : (thread as Record<symbol, unknown>)[s];
	return raw instanceof EventEmitter ? (raw as RawWorker) : undefined;
}

function terminateThread(thread: object, raw: RawWorker): void {
	const s = threadSymbol(thread, 'thread.terminate');
	const terminate = s === undefined ? undefined : (thread as Record<symbol, unknown>)[s];
	void (typeof terminate === 'function' ? (terminate as () => Promise<void>)() : raw.terminate()).catch(() => undefined);
}

/** Once per worker: keep its errors from crashing the process, and replace it in the pool when it exits. */
function watchWorker(pool: ThreadsPool, thread: object, raw: RawWorker, respawn: (() => Promise<unknown>) | undefined): void {
	if (!errorWatched.has(raw)) {
		errorWatched.add(raw);
		raw.on('error', (err: Error) => lastErrors.set(raw, err));
	}
	exitWatched.add(raw);
	raw.once('exit', () => {
		const internals = pool as unknown as ThreadsPoolInternals;
		if (internals.isClosing || !Array.isArray(internals.workers)) return;
		for (const slot of internals.workers) {
			slot.init.then(
				(t) => {
					if (t !== thread || internals.isClosing) return;
					const again = respawn ?? respawns.get(raw);
					slot.init = again
						? again()
						: Promise.reject(new WorkerExited('A worker of this pool died and cannot be replaced: create workers with threadsWorker() or pass wrapExecutor(pool, { respawn })'));
					slot.init.catch(() => undefined);
				},
				() => undefined,
			);
		}
	});
}

function runOnThread(pool: ThreadsPool, thread: ThreadLike, call: BoundCall, onStart: (stop: () => void) => void, respawn: (() => Promise<unknown>) | undefined): Promise<unknown> {
	const raw = rawWorkerOf(thread);
	if (raw === undefined) return thread.run(call);
	const exited = (code: number | null): WorkerExited => {
		const why = lastErrors.get(raw);
		return new WorkerExited(`The worker thread running ${call.name} exited${code === null ? '' : ` with code ${code}`}${why ? `: ${why.message}` : ''}`, code, why ? { cause: why } : undefined);
	};
	if (raw.threadId === -1) return Promise.reject(exited(null));
	if (!exitWatched.has(raw)) watchWorker(pool, thread, raw, respawn);
	return new Promise((resolvePromise, reject) => {
		const onExit = (code: number): void => reject(exited(code));
		raw.once('exit', onExit);
		onStart(() => terminateThread(thread, raw));
		settle(thread.run(call), resolvePromise, reject, () => raw.off('exit', onExit));
	});
}

/** Forwards the outcome of `promise`, after `cleanup`. */
function settle(promise: PromiseLike<unknown>, ok: (value: unknown) => void, fail: (err: Error) => void, cleanup: () => void): void {
	promise.then(
		(value) => {
			cleanup();
			ok(value);
		},
		(err: unknown) => {
			cleanup();
			fail(asError(err));
		},
	);
}

/** Pools whose `terminate` is already guarded. */
const terminateGuarded = new WeakSet<object>();

/**
 * Replaces threads.js's `terminate` on `pool` with one that works in every state and lets the process end. threads.js
 * 1.7.0's, unless forced, rejects with the failure of any task still running (an aborted task's worker exits as it is
 * stopped) and then terminates no thread; forced, it ends every slot's thread at once but rejects at the first slot
 * whose worker died and could not be replaced (its `init` rejected), or that holds no thread (`thread[$terminate] is
 * not a function`), and a replacement spawned meanwhile (a worker that died just before) is left alive, keeping the
 * process running. Here: wait for the queue and running tasks unless `force`, whatever their outcome;
 * close the pool (threads.js's own terminate, its errors ignored); then terminate every thread any slot holds or
 * comes to hold (a replacement spawned as a worker died), each on its own.
 */
function guardTerminate(pool: ThreadsPool): void {
	if (terminateGuarded.has(pool)) return;
	terminateGuarded.add(pool);
	const original = pool.terminate.bind(pool);
	const internals = pool as unknown as ThreadsPoolInternals;
	pool.terminate = async (force?: boolean): Promise<void> => {
		if (!force && !internals.isClosing) {
			try {
				await pool.settled(true);
			} catch {
				// A worker that never started: nothing to wait for.
			}
		}
		await original(true).catch(() => undefined);
		const seen = new Set<Promise<unknown>>();
		for (;;) {
			const inits = (internals.workers ?? []).map((slot) => slot.init).filter((init) => !seen.has(init));
			if (inits.length === 0) break;
			for (const init of inits) seen.add(init);
			await Promise.allSettled(
				inits.map(async (init) => {
					const thread = await init;
					if (typeof thread !== 'object' || thread === null) return;
					const raw = rawWorkerOf(thread);
					const s = threadSymbol(thread, 'thread.terminate');
					const terminate = s === undefined ? undefined : (thread as Record<symbol, unknown>)[s];
					if (typeof terminate === 'function') await (terminate as () => Promise<void>)();
					else await raw?.terminate();
				}),
			);
		}
	};
}

export function threadsAdapter(pool: ThreadsPool, respawn: (() => Promise<unknown>) | undefined): Adapter {
	guardThreadsSignals();
	guardTerminate(pool);
	return {
		options: ['signal'],
		run: (job, options) => {
			const call = describe(job);
			const signal = options['signal'] as AbortSignal | undefined;
			if (signal?.aborted) return Promise.reject(abortError(signal));
			let stop: (() => void) | undefined;
			const task = pool.queue((thread) =>
				// Aborted while its slot waited for a replacement worker to start (threads.js hands the task over then,
				// past `cancel`): it must not start at all, or it runs unstoppable and terminate waits for it.
				signal?.aborted ? Promise.reject(abortError(signal)) : runOnThread(pool, thread, call, (s) => (stop = s), respawn),
			);
			const done = new Promise<unknown>((ok, fail) => {
				task.then(ok, fail);
			});
			if (signal === undefined) return done;
			return new Promise<unknown>((ok, fail) => {
				const onAbort = (): void => {
					// Still queued: dropped from the queue; running: its worker is terminated (and replaced).
					task.cancel();
					stop?.();
					fail(abortError(signal));
				};
				signal.addEventListener('abort', onAbort, { once: true });
				settle(done, ok, fail, () => signal.removeEventListener('abort', onAbort));
			});
		},
		runsPlain: true,
		passThrough: () => {
			throw new TypeError('A threads.js pool runs plain functions in its workers only');
		},
	};
}
