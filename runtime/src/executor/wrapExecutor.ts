// docs/behaviour.md §1.8, §3.2: wrapExecutor — cached submissions to threads.js pools (./threads.ts), piscina and any
// `{ submit }` executor (./piscina.ts): hits resolve here, misses go to the executor bound to the active cache.
import { BoundWrapper, isFlecheLike } from '../bound.js';
import type { BaseCache } from '../caches/base.js';
import type { MetaData } from '../metadata.js';
import { acceptReply, submitCall, targetOf } from '../protocol.js';
import { activeCache, activeMetadata } from '../state.js';
import type { Adapter, Job } from './adapter.js';
import { locate } from './locate.js';
import { isPiscina, piscinaAdapter, submitAdapter } from './piscina.js';
import { isThreadsPool, threadsAdapter } from './threads.js';

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

const wrappedMark = Symbol.for('fleche.wrappedSubmit');

/**
 * An executor that brings its own adapter (`fleche/bullmq`'s) carries a function under this key that returns it: the
 * main entry recognizes such executors without importing what they are built on.
 * @internal
 */
export const adapterKey = Symbol.for('fleche.executorAdapter');

/**
 * Makes an executor cache-aware (docs/behaviour.md §3.2), in place: returns the same object, with a `submit(fn, ...args)`
 * that
 * - resolves at once from the active cache on a hit, without touching the executor;
 * - on a miss, sends the call bound to the active cache and metadata (or, for a function made by `bind()`, the
 *   ones it carries) to the executor's workers, which store the result in that cache;
 * - queues identical submissions that arrive while one is running only once, and shares a call of the same
 *   function with the same arguments made directly while it runs (one table of calls in flight, ../protocol.ts);
 * - with a `signal` option, cancels only that submission's wait: the task is aborted once every submission (and
 *   direct call) waiting for it has given up;
 * - with a memory cache (which workers cannot reach), stores the result the worker computed in the parent, and the
 *   results of the cached calls nested in it;
 * - restores in the parent the classes a structured clone loses (registered classes, Error subclasses, `URL`…);
 * - binds plain (uncached) functions too, as Python does: a worker pool imports the function by its module and export
 *   name and runs it bound to the active cache, so the cached calls it makes use that cache; any other executor
 *   gets it as a bound function.
 *
 * Works on a threads.js `Pool` of {@link threadsWorker} threads, a piscina pool on {@link workerFile}`('piscina')`,
 * and any object with a `submit(fn, ...args)` (which receives an in-process bound function). Wrapping twice changes
 * nothing.
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
	const own = (executor as { [adapterKey]?: unknown })[adapterKey];
	if (typeof own === 'function') adapter = (own as () => Adapter)();
	else if (isThreadsPool(executor)) adapter = threadsAdapter(executor, options.respawn);
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
		if (adapter.runsPlain === true) {
			return submitPlain(adapter, declared, state?.fn ?? fn, state?.cache, state?.metadata, state === undefined ? given : [...state.args, ...given]);
		}
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

/**
 * A plain function submitted to a worker pool (docs/behaviour.md §16): located by module and export name, run in a
 * worker bound to the cache and metadata active now (or those a bound function carries), never cached itself.
 */
async function submitPlain(
	adapter: Adapter,
	declared: ReadonlySet<string>,
	fn: unknown,
	bound: BaseCache | undefined,
	metadata: readonly MetaData[] | undefined,
	all: readonly unknown[],
): Promise<unknown> {
	if (typeof fn !== 'function') throw new TypeError('submit() takes a function');
	// Read before the first await: the submitter's cache and metadata.
	const c = bound ?? activeCache();
	const meta = metadata ?? activeMetadata();
	const { args, options } = splitOptions(all, declared);
	const plain = locate(fn as (...args: never[]) => unknown);
	const job: Job = { fn: fn as (...args: never[]) => unknown, cache: c, metadata: meta, args, key: null, plain };
	return acceptReply(c, await adapter.run(job, options));
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
	const target = targetOf(fn);
	if (target === undefined) return Promise.reject(new TypeError('submit() takes functions made by fleche()'));
	// `undefined`: the active cache (no scope to enter on the hot path of a hit).
	const c = bound ?? activeCache();
	const signal = options['signal'] as AbortSignal | undefined;
	return submitCall(target, c, args, signal, adapter.inProcess !== true, (key, computation) => {
		const job: Job = { fn, cache: c, metadata: metadata ?? activeMetadata(), args, key };
		return adapter.run(job, computation === signal ? options : { ...options, signal: computation });
	});
}
