// reference §1.8, §3.2: wrapExecutor — cached submissions to threads.js pools, piscina and any `{ submit }` executor,
// with guards against the defects of threads.js 1.7.0.
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BoundWrapper, describeCall, isBoundReply, isFlecheLike, type BoundCall, type BoundReply } from './bound.js';
import type { BaseCache } from './caches/base.js';
import type { Call } from './call.js';
import { digest } from './digest.js';
import { FlecheError, Indigestible } from './errors.js';
import { warn } from './log.js';
import type { MetaData } from './metadata.js';
import { activeCache, activeMetadata, runIn } from './state.js';

// The CJS build has no import.meta; the ESM build has no __filename.
const thisFile: string = typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);

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

/** `submit(fn, ...args)` of a wrapped executor: resolves with `fn(...args)`, from the cache when it can. */
export type Submit = <F extends (...args: never[]) => unknown>(fn: F, ...args: unknown[]) => Promise<Awaited<ReturnType<F>>>;

/** An executor after {@link wrapExecutor}: the same object, with a caching `submit`. */
export type WrappedExecutor<E> = E & { submit: Submit };

/** Options of {@link wrapExecutor}. */
export interface WrapExecutorOptions {
	/**
	 * Names of the executor's own options (executorlib's `resource_dict`, dask's `resources`…). When the last
	 * argument of a submission is a plain object with any of these keys, those keys go to the executor and the
	 * rest (if any) stay the function's last argument. Added to the built-in names: `signal` for threads.js pools,
	 * `signal` and `transferList` for piscina, none for other executors.
	 * @default []
	 */
	readonly executorOptions?: readonly string[];
	/**
	 * threads.js: spawns a replacement when a worker dies. Workers made by {@link threadsWorker} are replaced without
	 * it; without either, a dead worker's slot rejects the tasks it is given.
	 * @default undefined
	 */
	readonly respawn?: () => Promise<unknown>;
}

/** One miss on its way to the executor; the plain-data and callable forms are built only if the executor needs them. */
interface Job {
	readonly fn: (...args: never[]) => unknown;
	readonly cache: BaseCache;
	readonly metadata: readonly MetaData[];
	readonly args: readonly unknown[];
	readonly key: string | null;
}

interface Adapter {
	/** Option names every submission may carry for this kind of executor. */
	readonly options: readonly string[];
	run(job: Job, options: Readonly<Record<string, unknown>>): Promise<unknown>;
	passThrough(fn: unknown, args: readonly unknown[]): unknown;
}

const wrappedMark = Symbol.for('fleche.wrappedSubmit');

/** Calls in flight per cache and key, shared by every wrapped executor: identical submissions run once. */
const inFlight = new WeakMap<BaseCache, Map<string, Promise<unknown>>>();

/**
 * Makes an executor cache-aware (reference §3.2), in place: returns the same object, with a `submit(fn, ...args)`
 * that
 * - resolves at once from the active cache on a hit, without touching the executor;
 * - on a miss, sends the call bound to the active cache and metadata (or, for a function made by `bind()`, the
 *   ones it carries) to the executor's workers, which store the result in that cache;
 * - queues identical submissions that arrive while one is running only once;
 * - with a memory cache (which workers cannot reach), stores the result the worker computed in the parent;
 * - passes anything but cached functions to the executor untouched.
 *
 * Works on a threads.js `Pool` of {@link threadsWorker} threads (a non-fleche function is queued as a threads.js
 * task `(thread, ...args) => …`), a piscina pool on {@link workerFile}`('piscina')`, and any object with a
 * `submit(fn, ...args)` (which receives an in-process bound function). Wrapping twice changes nothing.
 *
 * threads.js 1.7.0 defects are guarded: a worker that dies mid-task rejects its task with {@link WorkerExited}
 * and is replaced, and threads.js's SIGINT/SIGTERM handlers (which exit with code 0) are removed.
 * @example
 * ```ts
 * import { Pool, spawn } from 'threads';
 * const pool = wrapExecutor(Pool(() => spawn(threadsWorker()), 2));
 * using _ = cache(fileCache('/tmp/store'));
 * await Promise.all([1, 2, 3].map((x) => pool.submit(expensive, x))); // run in workers, stored
 * await pool.submit(expensive, 2);                                     // hit: no task queued
 * ```
 */
export function wrapExecutor<E extends object>(executor: E, options: WrapExecutorOptions = {}): WrappedExecutor<E> {
	const target = executor as E & { submit?: unknown };
	if (typeof target.submit === 'function' && (target.submit as { [wrappedMark]?: boolean })[wrappedMark]) return target as WrappedExecutor<E>;
	let adapter: Adapter;
	if (isThreadsPool(executor)) adapter = threadsAdapter(executor, options.respawn);
	else if (isPiscina(executor)) adapter = piscinaAdapter(executor);
	else if (typeof target.submit === 'function') adapter = submitAdapter(executor, target.submit as (...args: unknown[]) => unknown);
	else throw new TypeError('wrapExecutor() takes a threads.js Pool, a piscina pool or an object with submit(fn, ...args)');
	const declared = new Set([...adapter.options, ...(options.executorOptions ?? [])]);
	const submit = function (fn: unknown, ...given: unknown[]): unknown {
		const state = BoundWrapper.stateOf(fn);
		if (state !== undefined && isFlecheLike(state.fn)) {
			return submitCached(adapter, declared, state.fn, state.cache, state.metadata, [...state.args, ...given]);
		}
		if (state === undefined && isFlecheLike(fn)) return submitCached(adapter, declared, fn, undefined, undefined, given);
		return adapter.passThrough(fn, given);
	};
	Object.defineProperty(submit, wrappedMark, { value: true });
	Object.defineProperty(target, 'submit', { value: submit, configurable: true, writable: true, enumerable: false });
	return target as WrappedExecutor<E>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
	if (typeof value !== 'object' || value === null) return false;
	const proto = Object.getPrototypeOf(value) as unknown;
	return proto === Object.prototype || proto === null;
}

/** Splits declared executor options off a trailing plain-object argument (by name, never by guessing). */
function splitOptions(args: readonly unknown[], declared: ReadonlySet<string>): { args: readonly unknown[]; options: Record<string, unknown> } {
	const last = args[args.length - 1];
	const options: Record<string, unknown> = {};
	if (declared.size === 0 || !isPlainObject(last)) return { args, options };
	let rest: Record<string, unknown> | undefined;
	let found = false;
	for (const name of Object.keys(last)) {
		if (declared.has(name)) {
			found = true;
			options[name] = last[name];
		} else (rest ??= {})[name] = last[name];
	}
	if (!found) return { args, options };
	const head = args.slice(0, -1);
	return { args: rest ? [...head, rest] : head, options };
}

function submitCached(
	adapter: Adapter,
	declared: ReadonlySet<string>,
	fn: (...args: never[]) => unknown,
	bound: BaseCache | undefined,
	metadata: readonly MetaData[] | undefined,
	all: readonly unknown[],
): Promise<unknown> {
	const { args, options } = splitOptions(all, declared);
	const f = fn as unknown as { fleche: { digest(...a: unknown[]): string } };
	// `undefined`: the active cache (no scope to enter on the hot path of a hit).
	const c = bound ?? activeCache();
	let key: string | null = null;
	try {
		key = bound === undefined ? f.fleche.digest(...args) : runIn({ cache: bound }, () => f.fleche.digest(...args));
	} catch (err) {
		// No digest for an argument: the worker runs it uncached (and says so).
		if (!Indigestible.is(err)) return Promise.reject(asError(err));
	}
	const shared = options['signal'] === undefined;
	if (key !== null) {
		let hit;
		try {
			hit = c.lookup(key);
		} catch (err) {
			warn('FLECHE_LOOKUP_FAILED', `Cache lookup failed, treating it as a miss: ${(err as Error).message}`, { cause: err });
		}
		if (hit !== undefined) {
			c.noteHit(hit.record);
			return Promise.resolve(hit.value);
		}
		// A submission with its own abort signal is not shared: aborting it must not cancel another caller's call.
		const pending = shared ? inFlight.get(c)?.get(key) : undefined;
		if (pending !== undefined) return pending;
	}
	const job: Job = { fn, cache: c, metadata: metadata ?? activeMetadata(), args, key };
	const started = performance.now();
	let promise: Promise<unknown>;
	try {
		promise = adapter.run(job, options).then((result) => accept(job, result, started));
	} catch (err) {
		return Promise.reject(asError(err));
	}
	if (key !== null && shared) {
		let map = inFlight.get(c);
		if (!map) inFlight.set(c, (map = new Map<string, Promise<unknown>>()));
		map.set(key, promise);
		const done = (): void => {
			if (map.get(key) === promise) map.delete(key);
		};
		promise.then(done, done);
	}
	return promise;
}

/** The value a worker's reply carries; a cache the worker could not reach (memory) gets its record here. */
function accept(job: Job, result: unknown, started: number): unknown {
	if (!isBoundReply(result)) return result;
	if (result.record !== null && job.key !== null) recordInParent(job, job.key, result, (performance.now() - started) / 1000);
	return result.value;
}

function recordInParent(job: Job, key: string, reply: BoundReply, seconds: number): void {
	const { cache: c } = job;
	const f = job.fn as unknown as { fleche: { call(...a: unknown[]): Call } };
	try {
		if (c.contains(key)) return;
		const view = runIn({ cache: c }, () => f.fleche.call(...job.args));
		const digests: Record<string, string> = {};
		for (const name in view.arguments) digests[name] = digest(view.arguments[name]);
		const prepared = c.prepare({
			key,
			name: view.name,
			module: view.module,
			version: view.version,
			codeDigest: view.codeDigest,
			values: view.arguments,
			digests,
		});
		const record = prepared.commit(reply.value, reply.record?.metadata ?? {}, { async: reply.record?.async === true });
		c.noteMiss(record, seconds);
	} catch (err) {
		warn('FLECHE_REJECTED', `Cache rejected save of a result computed in a worker: ${(err as Error).message}`, { cause: err });
	}
}

/** Executors reject with Errors; anything else thrown is wrapped so callers can rely on it. */
function asError(err: unknown): Error {
	return err instanceof Error ? err : new Error(String(err));
}

function abortError(signal: AbortSignal): Error {
	const reason = signal.reason as unknown;
	return reason instanceof Error ? reason : new DOMException('The submission was aborted', 'AbortError');
}

// ------------------------------------------------------------------------------------------------------------------
// piscina and `{ submit }` executors

interface PiscinaLike {
	run(task: unknown, options?: Record<string, unknown>): Promise<unknown>;
	readonly queueSize: number;
	readonly threads: readonly unknown[];
}

function isPiscina(value: object): value is PiscinaLike {
	const p = value as Partial<PiscinaLike>;
	return typeof p.run === 'function' && typeof p.queueSize === 'number' && Array.isArray(p.threads);
}

function piscinaAdapter(pool: PiscinaLike): Adapter {
	return {
		options: ['signal', 'transferList'],
		run: (job, options) => pool.run(describe(job), options),
		passThrough: () => {
			throw new TypeError('A piscina pool runs fleche functions only through submit(): use pool.run() for its own tasks');
		},
	};
}

function describe(job: Job): BoundCall {
	return describeCall(job.fn, job.cache, job.metadata, job.args, job.key);
}

function submitAdapter(executor: object, original: (...args: unknown[]) => unknown): Adapter {
	return {
		options: [],
		run: (job, options) => {
			const bound = runIn({ cache: job.cache, metadata: job.metadata }, () => BoundWrapper.bind(job.fn, ...job.args));
			const result = Object.keys(options).length > 0 ? original.call(executor, bound, options) : original.call(executor, bound);
			return Promise.resolve(result);
		},
		passThrough: (fn, args) => original.call(executor, fn, ...args),
	};
}

// ------------------------------------------------------------------------------------------------------------------
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
	terminate(force?: boolean): Promise<void>;
}

/** threads.js's private pool fields (1.7.0) that the crash guard repairs. */
interface ThreadsPoolInternals {
	workers?: { init: Promise<unknown>; runningTasks: unknown[] }[];
	isClosing?: boolean;
	scheduleWork?: () => void;
}

function isThreadsPool(value: object): value is ThreadsPool {
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
	// The ES module build serves both builds: piscina imports its file, and threads.js threads are ESM-agnostic.
	return join(dirname(thisFile), '..', 'esm', kind === 'threads' ? 'worker.js' : 'workerPiscina.js');
}

/**
 * A threads.js `Worker` running `file` (default: {@link workerFile}`('threads')`), for `spawn()` in a `Pool`, with
 * the threads.js 1.7.0 defects guarded: an absolute `file` works from any folder (threads.js prepends the caller's
 * folder), a file that throws while loading makes `spawn()` reject instead of crashing the process, the worker is
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
	worker.on('error', (err: Error) => {
		lastErrors.set(worker, err);
		if (initialized) return;
		// threads.js only rejects spawn() on this message; a load error would otherwise crash the process.
		worker.emit('message', {
			type: 'uncaughtError',
			error: { __error_marker: '$$error', name: err.name, message: `Worker ${target} failed to load: ${err.message}`, stack: err.stack },
		});
	});
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

function threadsAdapter(pool: ThreadsPool, respawn: (() => Promise<unknown>) | undefined): Adapter {
	guardThreadsSignals();
	return {
		options: ['signal'],
		run: (job, options) => {
			const call = describe(job);
			const signal = options['signal'] as AbortSignal | undefined;
			if (signal?.aborted) return Promise.reject(abortError(signal));
			let stop: (() => void) | undefined;
			const task = pool.queue((thread) => runOnThread(pool, thread, call, (s) => (stop = s), respawn));
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
		passThrough: (fn, args) => {
			if (typeof fn !== 'function') throw new TypeError('submit() takes a function');
			return Promise.resolve(pool.queue((thread) => Promise.resolve((fn as (t: unknown, ...a: unknown[]) => unknown)(thread, ...args))));
		},
	};
}
