// docs/behaviour.md §1.4, §1.11, §3.2, §3.6: the cached-call protocol, written once — arguments → digests → key
// (./key.ts) → lookup → hit, or share the call in flight (in this process, or through the store's lease with other
// processes), or prepare → run → commit → statistics. A direct call (wrapper.ts), a
// submission to an executor (executor/wrapExecutor.ts) and the worker entry that runs a submission (workerRun.ts) all
// go through here, and share one table of calls in flight per cache: a direct call and a submission of the same call
// while it runs make one computation.
//
// Cancellation. An AbortSignal is never part of a key (./key.ts). Every caller that waits for a computation waits with
// its own signal, which cancels only its own wait: it rejects with the signal's reason (an AbortError unless the
// caller gave another). The computation has a signal of its own — what the body receives in place of its AbortSignal
// arguments, or what the executor receives as the submission's `signal` — which aborts only once every caller has
// given up; a caller without a signal never gives up. A computation every caller gave up leaves the table at once, so
// a later caller starts afresh instead of waiting for one being aborted.
import { v8 } from './builtins.js';
import { isBoundReply, type BoundReply, type NestedRecord } from './bound.js';
import { applyPatches } from './classes.js';
import { freshnessIn, type BaseCache, type Hit, type PreparedCall } from './caches/base.js';
import type { Call, CallRecord, Metadata } from './call.js';
import type { LeaseHolder } from './storage/base.js';
import { FlecheError, Indigestible, KeyError } from './errors.js';
import { byName, keyCall, rememberKey, type KeyedCall, type KeyProfile } from './key.js';
import { sleepSync } from './clock.js';
import { gaveUp, hold, leaseUse, nextPause, pauseAsync, sameHolder, take, type LeaseUse } from './leases.js';
import { isDebug, log, warn, warnOnce } from './log.js';
import { takesAsReturned, type MetaData } from './metadata.js';
import { codeMetadata } from './deepCode.js';
import { activeCache, activeMetadata } from './state.js';
import { EXPIRY_METADATA } from './expiry.js';
import { inStoreWork, leftStoreWork } from './shutdown.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the wrapped function's own types flow through
type AnyFn = (...args: any[]) => any;

/** A cached function as the protocol sees it: the wrapper's state of one function. @internal */
export interface CallTarget {
	/** The original, uncached function. */
	readonly fn: AnyFn;
	/** Declared `async`: its callers always get a Promise, so a direct call may wait for a submission of the same call. */
	readonly isAsync: boolean;
	/** How its calls are keyed (for a decorated method, per class of `this`). */
	profile(thisArg: unknown): KeyProfile;
}

const targetKey = Symbol.for('fleche.wrapper');

/** The protocol's view of a function made by `fleche()` (or a decorated method), or `undefined`. @internal */
export function targetOf(fn: unknown): CallTarget | undefined {
	return typeof fn === 'function' ? (fn as { [targetKey]?: CallTarget })[targetKey] : undefined;
}

/** Marks `wrapped` as the cached form of `target`. @internal */
export function markTarget(wrapped: object, target: CallTarget): void {
	Object.defineProperty(wrapped, targetKey, { value: target });
}

/** What the worker entry learns about a call it ran: the key it used (`null`: uncached) and the record hit or made. */
export interface Outcome {
	key: string | null;
	record: CallRecord | undefined;
}

/** The error a caller whose signal aborted rejects with: the signal's reason when it is an Error. @internal */
export function abortError(signal: AbortSignal): Error {
	const reason = signal.reason as unknown;
	return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}

/** Executors and stores reject with Errors; anything else thrown is wrapped so callers can rely on it. @internal */
export function asError(err: unknown): Error {
	return err instanceof Error ? err : new Error(String(err));
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
	return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as PromiseLike<unknown>).then === 'function';
}

// Calls in flight

/** Calls in flight per cache and key; a cache is a scope (a rerun's refreshing cache shares with nobody). */
const inFlight = new WeakMap<BaseCache, Map<string, InFlight>>();

function tableOf(c: BaseCache): Map<string, InFlight> {
	let table = inFlight.get(c);
	if (table === undefined) inFlight.set(c, (table = new Map<string, InFlight>()));
	return table;
}

/** One computation in flight and the callers waiting for it. */
class InFlight {
	/** Callers with a signal still waiting. */
	#holders = 0;
	/** Some caller waits without a signal: the computation is never aborted. */
	#pinned = false;

	constructor(
		private readonly table: Map<string, InFlight>,
		private readonly key: string,
		readonly promise: PromiseLike<unknown>,
		/** Aborts the computation's own signal; `undefined` when it was started without one. */
		private readonly controller: AbortController | undefined,
		/** The body runs in this process and returned a promise: any direct caller may wait for it. */
		readonly direct: boolean,
	) {
		if (controller?.signal.aborted !== true) table.set(key, this);
	}

	/** The computation ended: later callers look the key up again. */
	settled(): void {
		if (this.table.get(this.key) === this) this.table.delete(this.key);
	}

	/** A caller's wait: the computation's own promise, or with a signal, one that rejects as soon as it aborts. */
	join(signal: AbortSignal | undefined): PromiseLike<unknown> {
		if (signal === undefined) {
			this.#pinned = true;
			return this.promise;
		}
		if (signal.aborted) return Promise.reject(abortError(signal));
		this.#holders++;
		return new Promise((resolve, reject) => {
			const onAbort = (): void => {
				reject(abortError(signal));
				this.#leave(signal);
			};
			signal.addEventListener('abort', onAbort, { once: true });
			this.promise.then(
				(value) => {
					signal.removeEventListener('abort', onAbort);
					resolve(value);
				},
				(err: unknown) => {
					signal.removeEventListener('abort', onAbort);
					// eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the computation's own rejection, passed on unchanged
					reject(err);
				},
			);
		});
	}

	#leave(signal: AbortSignal): void {
		if (--this.#holders > 0 || this.#pinned) return;
		this.settled();
		this.controller?.abort(signal.reason);
	}
}

// The steps

function warnIndigestible(profile: KeyProfile, err: Indigestible): void {
	warnOnce(
		`indigestible:${profile.label}:${err.path}`,
		'FLECHE_INDIGESTIBLE',
		`No hash for argument ${err.path} of ${profile.identity.name}, running uncached: ${err.message}`,
		{
			fn: profile.label,
		},
	);
}

/** Whether every `require`d argument is there; says which is missing when `loud`. */
/** Whether the caller passed parameter `name`: a literal default value must not satisfy `require`. */
function passed(profile: KeyProfile, args: readonly unknown[], name: string): boolean {
	const i = profile.params.findIndex((p) => p.name === name);
	if (i < 0) return false;
	return profile.params[i]!.rest ? args.length > i : args[i] !== undefined;
}

function hasRequired(profile: KeyProfile, k: KeyedCall, loud: boolean): boolean {
	const required = profile.options.require;
	// Most functions require nothing: no iterator on every call for them.
	if (required.size === 0) return true;
	for (const name of required) {
		if (!passed(profile, k.args, name)) {
			if (loud) {
				warn('FLECHE_MISSING_REQUIRED', `Missing required arguments for caching: ${name} (${profile.identity.name} runs uncached)`, {
					fn: profile.label,
				});
			}
			return false;
		}
	}
	return true;
}

/** The lookup: a failing cache is a miss (said every time); a hit counts in the statistics. */
function lookup(c: BaseCache, profile: KeyProfile, key: string, serveStale = true): Found | undefined {
	let hit: Hit | undefined;
	try {
		hit = c.lookup(key);
	} catch (err) {
		return lookupFailed(profile, err);
	}
	return found(c, profile, key, hit, serveStale);
}

/** Asynchronous lookups under way per cache and key: identical calls made meanwhile share one (see {@link lookupAsync}). */
const lookingUp = new WeakMap<BaseCache, Map<string, Promise<Hit | undefined>>>();

/**
 * {@link lookup} for an async function, without blocking the event loop, when the cache can (see
 * `BaseCache.lookupAsync`); `undefined` when it cannot. Identical calls made while it waits share it, so that on a
 * miss the first to resume starts the computation and the others find it in flight (each counts its own hit).
 */
function lookupAsync(c: BaseCache, profile: KeyProfile, key: string, serveStale = true): Promise<Found | undefined> | undefined {
	let table = lookingUp.get(c);
	let shared = table?.get(key);
	if (shared === undefined) {
		let pending: Promise<Hit | undefined> | undefined;
		try {
			pending = c.lookupAsync(key);
		} catch (err) {
			return Promise.resolve(lookupFailed(profile, err));
		}
		if (pending === undefined) return undefined;
		const started = pending.then(undefined, (err: unknown) => lookupFailed(profile, err));
		if (table === undefined) lookingUp.set(c, (table = new Map<string, Promise<Hit | undefined>>()));
		const own = table;
		own.set(key, started);
		void started.then(() => {
			if (own.get(key) === started) own.delete(key);
		});
		shared = started;
	}
	return shared.then((hit) => found(c, profile, key, hit, serveStale));
}

function lookupFailed(profile: KeyProfile, err: unknown): undefined {
	warn('FLECHE_LOOKUP_FAILED', `Cache lookup failed for ${profile.identity.name}, treating it as a miss: ${(err as Error).message}`, {
		fn: profile.label,
		cause: err,
	});
	return undefined;
}

/** A hit as the protocol hands it on: `stale` when it is past its max age but may be served while it is recomputed. */
type Found = Hit & { readonly stale?: true };

/**
 * A hit is counted, unless it is older than its max age (docs/behaviour.md §18): then it is a miss, or, under
 * stale-while-revalidate, a hit marked `stale` (a miss where it is not served: `serveStale` false).
 */
function found(c: BaseCache, profile: KeyProfile, key: string, hit: Hit | undefined, serveStale = true): Found | undefined {
	if (hit === undefined) return undefined;
	const state = freshnessIn(c, hit.record, profile.options.expiry);
	if (state === 'expired' || (state === 'stale' && !serveStale)) {
		if (isDebug()) log('debug', 'FLECHE_EXPIRED', `Cache entry of ${profile.label} with key ${key} is older than its max age: a miss`);
		return undefined;
	}
	if (isDebug())
		log('debug', 'FLECHE_HIT', `Cache hit for ${profile.label} with key ${key}${state === 'stale' ? ' (stale: recomputed in the background)' : ''}`);
	c.noteHit(hit.record);
	return state === 'stale' ? { ...hit, stale: true } : hit;
}

/** The signal a caller waits with: its one AbortSignal argument, or one that aborts when any of several does. */
function callerSignal(k: KeyedCall): AbortSignal | undefined {
	if (k.signals === undefined) return undefined;
	const signals = k.signals.map((i) => k.args[i] as AbortSignal);
	if (signals.length === 1) return signals[0];
	// `AbortSignal.any` is newer than the Node versions this package supports.
	const any = new AbortController();
	for (const s of signals) {
		if (s.aborted) any.abort(s.reason);
		else s.addEventListener('abort', () => any.abort(s.reason), { once: true });
	}
	return any.signal;
}

/** Stores the argument values and seals the key; a refusal is said and the call runs uncached. */
function prepare(c: BaseCache, profile: KeyProfile, k: KeyedCall, values: Readonly<Record<string, unknown>>): PreparedCall | undefined {
	try {
		const { name, module, version, codeDigest } = profile.identity;
		// Written out rather than spread: on the hot path of a miss, spreading the identity cost more than the rest of this step.
		return c.prepare({ name, module, version, codeDigest, key: k.key, values, digests: byName(k.names, k.digests), owned: true });
	} catch (err) {
		warn('FLECHE_REJECTED', `Cache rejected save: ${profile.identity.name} runs uncached (${(err as Error).message})`, { fn: profile.label, cause: err });
		return undefined;
	}
}

/** Commits a result and counts the miss; `undefined` results are never stored (and evict the entry in a rerun). */
function commit(
	c: BaseCache,
	profile: KeyProfile,
	k: KeyedCall,
	prepared: PreparedCall | undefined,
	result: unknown,
	metadata: () => Metadata,
	async: boolean,
	seconds: number,
): CallRecord | undefined {
	try {
		if (result === undefined) {
			prepared?.abandon();
			if (c.refreshing) {
				try {
					c.evict(k.key);
					warn('FLECHE_UNDEFINED_RESULT', `${profile.identity.name} returned undefined during rerun, evicted stale cache entry`, { fn: profile.label });
				} catch (err) {
					if (!KeyError.is(err)) throw err;
				}
			}
			warnOnce(
				`undefined:${profile.label}`,
				'FLECHE_UNDEFINED_RESULT',
				`${profile.identity.name} returned undefined, not caching (return null to cache "nothing")`,
				{
					fn: profile.label,
				},
			);
			return undefined;
		}
		if (!prepared) return undefined;
		const record = prepared.commit(result, metadata(), { async });
		c.noteMiss(record, seconds);
		if (isDebug()) log('debug', 'FLECHE_SAVE', `Saving result for ${profile.label} with key ${k.key}`);
		return record;
	} catch (err) {
		// Whatever goes wrong while saving, the caller still gets its result.
		const why = FlecheError.is(err) ? err.message : String((err as Error)?.message ?? err);
		warn('FLECHE_REJECTED', `Cache rejected save: ${profile.identity.name} (${why})`, { fn: profile.label, cause: err });
		return undefined;
	}
}

/**
 * A namespace's values: `later` over `earlier`, in a new object (a source may keep and change what it returned). What
 * `{ ...earlier, ...later }` makes, copied key by key: the spread, seeing objects of every source's shape here, was a
 * tenth of a memory-cache miss.
 */
function merged(earlier: Metadata[string] | undefined, later: Metadata[string]): Metadata[string] {
	const out: Metadata[string] = {};
	if (earlier !== undefined) copyInto(out, earlier);
	copyInto(out, later);
	return out;
}

function copyInto(out: Metadata[string], from: Metadata[string]): void {
	for (const key of Object.keys(from)) {
		// An own `__proto__` key (from JSON.parse) is defined as an own property, as a spread does, not set as the prototype.
		if (key === '__proto__') Object.defineProperty(out, key, { value: from[key], enumerable: true, writable: true, configurable: true });
		else out[key] = from[key]!;
	}
}

/** Metadata gathered before the body runs (`pre`), then completed with the result (`post`). */
function metadataRun(profile: KeyProfile, view: Call): { readonly metadata: Metadata; after(result: unknown): Metadata } {
	const sources: readonly MetaData[] = profile.options.meta.length ? [...activeMetadata(), ...profile.options.meta] : activeMetadata();
	// hashCode 'deep': which files and packages the key covered, so that explain can name the one that changed.
	const metadata: Metadata = profile.code === undefined ? {} : { code: codeMetadata(profile.code) };
	// The function's max age, so that tools can tell when its calls expire without importing it (docs/behaviour.md §18).
	const maxAge = profile.options.expiry?.maxAge;
	if (maxAge !== undefined && maxAge !== null) metadata[EXPIRY_METADATA] = { maxAge };
	// The namespace object a source whose objects are taken as returned (the default Runtime) made, while it is that.
	let taken: Metadata[string] | undefined;
	for (const m of sources) {
		if (!m.pre) continue;
		try {
			const values = m.pre(view);
			const earlier = metadata[m.name];
			if (earlier === undefined && takesAsReturned(m)) metadata[m.name] = taken = values;
			else metadata[m.name] = merged(earlier, values);
		} catch (err) {
			warnOnce(`meta-pre:${m.name}`, 'FLECHE_METADATA_FAILED', `Metadata '${m.name}' failed: ${(err as Error).message}`, { cause: err });
		}
	}
	return {
		metadata,
		after(result: unknown): Metadata {
			const done: Call = { name: view.name, module: view.module, version: view.version, codeDigest: view.codeDigest, arguments: view.arguments, result };
			for (const m of sources) {
				if (!m.post) continue;
				try {
					const earlier = metadata[m.name];
					const values = m.post(earlier ?? {}, done);
					metadata[m.name] = earlier !== undefined && earlier === taken && takesAsReturned(m) ? values : merged(earlier, values);
				} catch (err) {
					warnOnce(`meta-post:${m.name}`, 'FLECHE_METADATA_FAILED', `Metadata '${m.name}' failed: ${(err as Error).message}`, { cause: err });
				}
			}
			return metadata;
		},
	};
}

/**
 * Runs a missed call in this process: metadata, prepare, the body (given the computation's signal in place of its
 * AbortSignal arguments), then commit and statistics; a promise result is entered in the table of calls in flight.
 */
function runHere(
	target: CallTarget,
	c: BaseCache,
	profile: KeyProfile,
	k: KeyedCall,
	thisArg: unknown,
	outcome: Outcome | undefined,
	/** Runs once the call ended (committed, abandoned or thrown): a held lease is released there. */
	ended?: () => void,
): unknown {
	const values = byName(k.names, k.values);
	const { name, module, version, codeDigest } = profile.identity;
	const meta = metadataRun(profile, { name, module, version, codeDigest, arguments: values });
	const prepared = prepare(c, profile, k, values);
	let args = k.args;
	let signal: AbortSignal | undefined;
	let controller: AbortController | undefined;
	if (k.signals !== undefined) {
		signal = callerSignal(k)!;
		controller = new AbortController();
		if (signal.aborted) controller.abort(signal.reason);
		args = [...k.args];
		for (const i of k.signals) args[i] = controller.signal;
	}
	const started = performance.now();
	let result: unknown;
	// The body is the program's own code, not a store's write: a flush at a signal may run while it does.
	const depth = inStoreWork.depth;
	inStoreWork.depth = 0;
	if (inStoreWork.then !== null) leftStoreWork();
	try {
		result = Reflect.apply(target.fn, thisArg, args);
	} catch (err) {
		inStoreWork.depth = depth;
		prepared?.abandon();
		ended?.();
		throw err;
	}
	inStoreWork.depth = depth;
	if (!isThenable(result)) {
		const record = commit(c, profile, k, prepared, result, () => meta.after(result), false, (performance.now() - started) / 1000);
		if (outcome !== undefined) outcome.record = record;
		ended?.();
		return result;
	}
	const entry = new InFlight(tableOf(c), k.key, result, controller, true);
	// Registered before any caller can attach its own handlers, so the entry is saved by the time they run.
	result.then(
		(value) => {
			entry.settled();
			const record = commit(c, profile, k, prepared, value, () => meta.after(value), true, (performance.now() - started) / 1000);
			if (outcome !== undefined) outcome.record = record;
			ended?.();
		},
		() => {
			entry.settled();
			prepared?.abandon();
			ended?.();
		},
	);
	return entry.join(signal);
}

/**
 * A call of a cached function in this process, with `c` as the cache: a hit returns the stored result (in a resolved
 * Promise for async functions), an identical call in flight is waited for, anything else runs here and is stored.
 * Arguments without a digest, or a missing `require`d one, run the body uncached (and say so).
 * @param outcome - for the worker entry: filled with the key used and the record hit or committed; such a call never
 *   waits for one in flight (it was sent to compute: waiting for a submission could wait for itself).
 * @internal
 */
export function cachedCall(target: CallTarget, c: BaseCache, thisArg: unknown, given: unknown[], outcome?: Outcome): unknown {
	// A flush at a signal must not run in the middle of a store's write (see inStoreWork).
	inStoreWork.depth++;
	try {
		return cachedCallIn(target, c, thisArg, given, outcome);
	} finally {
		if (--inStoreWork.depth === 0 && inStoreWork.then !== null) leftStoreWork();
	}
}

function cachedCallIn(target: CallTarget, c: BaseCache, thisArg: unknown, given: unknown[], outcome?: Outcome): unknown {
	const profile = target.profile(thisArg);
	let k: KeyedCall;
	try {
		k = keyCall(profile, c, thisArg, given);
	} catch (err) {
		if (!Indigestible.is(err)) throw err;
		warnIndigestible(profile, err);
		return Reflect.apply(target.fn, thisArg, given);
	}
	if (!hasRequired(profile, k, true)) return Reflect.apply(target.fn, thisArg, k.args);
	if (target.isAsync && outcome === undefined) {
		// An async function's caller gets a promise anyway: a store that waits for a server is awaited, not blocked on.
		const later = lookupAsync(c, profile, k.key);
		if (later !== undefined) {
			const keyed = k;
			return later.then((hit) => {
				if (hit !== undefined) {
					rememberKey(profile, keyed);
					if (hit.stale) refreshStale(target, c, profile, keyed, thisArg, given, true);
					return hit.value;
				}
				// Looked for again: an identical call may have started while this lookup waited.
				const pending = inFlight.get(c)?.get(keyed.key);
				if (pending !== undefined) return pending.join(callerSignal(keyed));
				return computeMiss(target, c, profile, keyed, thisArg, undefined);
			});
		}
	}
	if (outcome !== undefined) {
		outcome.key = k.key;
		// The worker entry was sent because its caller missed: under a lease, the store is read once the lease is taken
		// (a holder before may have stored the result meanwhile), not before too.
		const use = leaseUse(c.leasing(), profile.options.lease, profile.label);
		if (use !== undefined) {
			const m: Missed = { target, c, profile, k, thisArg, outcome, use, unread: true };
			return target.isAsync ? leasedAsync(m) : leasedSync(m);
		}
	}
	// The worker entry was sent to compute: a stale entry is a miss there.
	const hit = lookup(c, profile, k.key, outcome === undefined);
	if (outcome !== undefined) outcome.record = hit?.record;
	else if (hit === undefined) {
		const pending = inFlight.get(c)?.get(k.key);
		// A function that is not async can only wait for a computation that returned a promise in this process.
		if (pending !== undefined && (target.isAsync || pending.direct)) return pending.join(callerSignal(k));
	}
	if (hit !== undefined) {
		rememberKey(profile, k);
		const later = target.isAsync || hit.record.async === true;
		if (hit.stale) refreshStale(target, c, profile, k, thisArg, given, later);
		return later ? Promise.resolve(hit.value) : hit.value;
	}
	return computeMiss(target, c, profile, k, thisArg, outcome);
}

/** A miss: computed here, under the store's lease when it offers one (docs/behaviour.md §3.6). */
function computeMiss(target: CallTarget, c: BaseCache, profile: KeyProfile, k: KeyedCall, thisArg: unknown, outcome: Outcome | undefined): unknown {
	const use = leaseUse(c.leasing(), profile.options.lease, profile.label);
	if (use === undefined) return runHere(target, c, profile, k, thisArg, outcome);
	const m: Missed = { target, c, profile, k, thisArg, outcome, use };
	return target.isAsync ? leasedAsync(m) : leasedSync(m);
}

// Stale-while-revalidate (docs/behaviour.md §18): a call past its max age is served at once and computed again in the
// background, once per cache and key in this process.

/** Keys of stale calls being recomputed in the background, per cache (from scheduling to the end of the recompute). */
const refreshing = new WeakMap<BaseCache, Set<string>>();

/**
 * Starts the background recompute of a stale call unless one (or any computation of the call) is under way. A
 * promise-returning function's body starts now, as any miss's, and its computation joins the table of calls in
 * flight; a synchronous function's runs on the event loop right after the current job (`setImmediate`, in the
 * caller's async context), with the arguments keyed again then — if the caller changed them meanwhile, the recompute
 * is dropped rather than store a result under a key its arguments no longer have. The recompute waits for no caller
 * signal, and its errors are logged (`FLECHE_REFRESH_FAILED`), never thrown at anyone.
 */
function refreshStale(target: CallTarget, c: BaseCache, profile: KeyProfile, k: KeyedCall, thisArg: unknown, given: readonly unknown[], now: boolean): void {
	if (inFlight.get(c)?.has(k.key)) return;
	let keys = refreshing.get(c);
	if (keys === undefined) refreshing.set(c, (keys = new Set<string>()));
	if (keys.has(k.key)) return;
	keys.add(k.key);
	const own = keys;
	const done = (): void => void own.delete(k.key);
	const failed = (err: unknown): void => {
		done();
		warn(
			'FLECHE_REFRESH_FAILED',
			`Recomputing an expired call of ${profile.identity.name} in the background failed (the stale result was served): ${(err as Error)?.message ?? String(err)}`,
			{
				fn: profile.label,
				cause: err,
			},
		);
	};
	const run = (keyed: () => KeyedCall): void => {
		let result: unknown;
		try {
			const again = keyed();
			if (again.key !== k.key) return done();
			result = computeMiss(target, c, profile, detached(again), thisArg, undefined);
		} catch (err) {
			return failed(err);
		}
		if (isThenable(result)) result.then(done, failed);
		else done();
	};
	if (now) run(() => k);
	else setImmediate(() => run(() => keyCall(profile, c, thisArg, [...given])));
}

/** The call with fresh, never-aborted signals in place of the caller's: a background recompute is nobody's wait. */
function detached(k: KeyedCall): KeyedCall {
	if (k.signals === undefined) return k;
	const signal = new AbortController().signal;
	return { ...k, args: k.args.map((a, i) => (k.signals!.includes(i) ? signal : a)) };
}

// One computation across processes (docs/behaviour.md §3.6): a miss takes the call's lease in the store and computes,
// or waits for the process holding it and then reads the result from the store (a hit). Only misses get here.

/** A missed call that leasing applies to: what the protocol's steps need, and how it leases. */
interface Missed {
	readonly target: CallTarget;
	readonly c: BaseCache;
	readonly profile: KeyProfile;
	readonly k: KeyedCall;
	readonly thisArg: unknown;
	readonly outcome: Outcome | undefined;
	readonly use: LeaseUse;
	/** The store was not read for this call yet (the worker entry leases first): it is, before computing. */
	readonly unread?: boolean;
}

/** Runs the missed call here without a lease (or with the one held, released when `ended`). */
function runMissed(m: Missed, ended?: () => void): unknown {
	return runHere(m.target, m.c, m.profile, m.k, m.thisArg, m.outcome, ended);
}

/** The stored result, when another process stored it meanwhile (a hit), as the caller gets it, the worker entry told. */
function storedNow(m: Missed): { readonly value: unknown } | undefined {
	// A stale entry is what this miss (or the holder it waited for) is replacing.
	const hit = lookup(m.c, m.profile, m.k.key, false);
	if (hit === undefined) return undefined;
	if (m.outcome !== undefined) m.outcome.record = hit.record;
	return { value: m.target.isAsync || hit.record.async === true ? Promise.resolve(hit.value) : hit.value };
}

/**
 * Computes a call whose lease this thread just took: the store is checked again first (the holder before may have
 * finished between the miss and the lease; not when this cache just found the entry damaged and took the lease at
 * once), then the body runs and the lease is released once the result is stored.
 */
function runLeased(m: Missed, waited: boolean): unknown {
	const held = hold(m.use, m.k.key);
	let result: unknown;
	try {
		const stored = waited || m.unread === true || !m.c.damaged(m.k.key) ? storedNow(m) : undefined;
		if (stored !== undefined) {
			held.release();
			return stored.value;
		}
		result = runMissed(m, held.release);
	} catch (err) {
		held.release();
		throw err;
	}
	if (isThenable(result)) held.beat();
	return result;
}

/**
 * Takes the lease and computes, or computes unleased; when another holds the lease, who it is (wait). The first
 * attempt of a call whose store was not read yet (`unread`) reads it, whoever holds the lease.
 */
function leaseOrRun(m: Missed, heartbeats: boolean, waited: boolean): { readonly value: unknown } | LeaseHolder {
	const taken = take(m.use, m.k.key, heartbeats);
	if (taken === 'acquired') return { value: runLeased(m, waited) };
	const stored = m.unread === true && !waited ? storedNow(m) : undefined;
	if (stored !== undefined) return stored;
	return typeof taken === 'object' ? taken : { value: runMissed(m) };
}

/**
 * One check of a waiter: the lease is taken (and the call computed or read), or the result is in the store — looked
 * for only when the lease changed hands since the last check (`last`): a holder stores before it releases, so the
 * store is not read while the same holder works (a damaged entry would be reported at every check).
 */
function check(m: Missed, heartbeats: boolean, last: LeaseHolder): { readonly value: unknown } | LeaseHolder {
	const now = leaseOrRun(m, heartbeats, true);
	if ('value' in now || sameHolder(last, now)) return now;
	return storedNow(m) ?? now;
}

/**
 * A synchronous function's miss: take the lease and compute, or sleep between checks (`Atomics.wait`: no CPU, nothing
 * else runs in this thread meanwhile) until the result is there, the lease is free or its holder gone, or the wait
 * time is over.
 */
function leasedSync(m: Missed): unknown {
	const deadline = performance.now() + m.use.times.waitMs;
	let pause = 1;
	let now = leaseOrRun(m, false, false);
	while (!('value' in now)) {
		const left = deadline - performance.now();
		if (left <= 0) {
			gaveUp(m.use);
			return runMissed(m);
		}
		sleepSync(Math.min(pause, left));
		pause = nextPause(pause, true);
		now = check(m, false, now);
	}
	return now.value;
}

/**
 * An async function's miss: take the lease and compute, or wait without blocking the event loop (woken by the
 * lease's change where the storage can tell, else by a timer) as an entry of the table of calls in flight, so that
 * this process's other callers of the same call wait with it.
 */
function leasedAsync(m: Missed): unknown {
	const first = leaseOrRun(m, true, false);
	if ('value' in first) return first.value;
	const signal = callerSignal(m.k);
	const controller = signal === undefined ? undefined : new AbortController();
	if (signal?.aborted === true) controller!.abort(signal.reason);
	const promise = waitLeased(m, first, controller?.signal);
	const entry = new InFlight(tableOf(m.c), m.k.key, promise, controller, false);
	const settled = (): void => entry.settled();
	promise.then(settled, settled);
	return entry.join(signal);
}

async function waitLeased(waiting: Missed, holder: LeaseHolder, signal: AbortSignal | undefined): Promise<unknown> {
	const k = waiting.k;
	// Computed here, the body gets the wait's own signal, which aborts once every caller waiting with it gave up.
	const m: Missed =
		signal === undefined || k.signals === undefined ? waiting : { ...waiting, k: { ...k, args: k.args.map((a, i) => (k.signals!.includes(i) ? signal : a)) } };
	const deadline = performance.now() + m.use.times.waitMs;
	let pause = 1;
	let now: { readonly value: unknown } | LeaseHolder = holder;
	while (!('value' in now)) {
		const left = deadline - performance.now();
		if (left <= 0) {
			gaveUp(m.use);
			return runMissed(m);
		}
		await pauseAsync(m.use, k.key, Math.min(pause, left), signal, abortError);
		pause = nextPause(pause, false);
		now = check(m, true, now);
	}
	return now.value;
}

/** How a submission's executor runs a missed call: with its key (`null`: uncached) and the computation's signal. */
export type RunSubmission = (key: string | null, signal: AbortSignal | undefined) => PromiseLike<unknown>;

/**
 * A submission of a cached call to an executor, with `c` as the cache: a hit resolves here without the executor; an
 * identical call in flight (submitted, or called directly and still running) is waited for with the caller's own
 * signal; otherwise `run` sends the call off. A worker's reply that carries its record (the cache could not travel
 * to it) is committed here, with the worker's metadata.
 * @param share - whether the submission enters the table of calls in flight; an executor that runs the call in this
 *   process through the wrapper enters it there instead (entering it twice would make the call wait for itself).
 * @internal
 */
export function submitCall(
	target: CallTarget,
	c: BaseCache,
	given: readonly unknown[],
	signal: AbortSignal | undefined,
	share: boolean,
	run: RunSubmission,
): Promise<unknown> {
	const profile = target.profile(undefined);
	let k: KeyedCall | undefined;
	try {
		k = keyCall(profile, c, undefined, given);
		// Uncached calls are said once by the worker that runs them.
		if (!hasRequired(profile, k, false)) k = undefined;
	} catch (err) {
		if (!Indigestible.is(err)) return Promise.reject(asError(err));
	}
	if (k === undefined) return start(run, null, signal, (reply) => acceptReply(c, reply));
	// A store that looks up without blocking is awaited (a server store batches the lookups of many submissions). A
	// submission waits for a fresh result: a stale entry is a miss here (docs/behaviour.md §18).
	const later = lookupAsync(c, profile, k.key, false);
	if (later !== undefined) {
		const keyed = k;
		return later.then((hit) => {
			if (hit === undefined) return submitMissed(c, profile, keyed, signal, share, run);
			rememberKey(profile, keyed);
			return hit.value;
		});
	}
	const hit = lookupInTurn(c, profile, k.key);
	if (hit !== undefined) {
		rememberKey(profile, k);
		return Promise.resolve(hit.value);
	}
	return submitMissed(c, profile, k, signal, share, run);
}

/** Entries found by submissions in this turn of the event loop, per cache and key (see {@link lookupInTurn}). */
let foundInTurn: WeakMap<BaseCache, Map<string, Hit>> | undefined;
/** When `foundInTurn` was started (`performance.now()`). */
let turnStarted = 0;
/** A turn that lasts longer than this (a program busy in synchronous code) reads the store again. */
const turnShareMs = 1000;

/**
 * {@link lookup} for a submission: identical submissions made in one turn of the event loop (a `Promise.all` over
 * many) share the entry the first one read, as identical calls made while an asynchronous lookup waits share it;
 * each still counts its hit. The sharing ends with the turn (at the next microtask checkpoint, or after a second of a
 * program busy in synchronous code), so a later submission reads the store again, and another process's write or eviction is seen as it would be anyway: a read
 * that happened to come a little earlier. The submitters get the same value object, as they do from a shared lookup.
 */
function lookupInTurn(c: BaseCache, profile: KeyProfile, key: string): Found | undefined {
	if (foundInTurn !== undefined) {
		const now = performance.now();
		if (now - turnStarted > turnShareMs) {
			foundInTurn = new WeakMap();
			turnStarted = now;
		}
	}
	const shared = foundInTurn?.get(c)?.get(key);
	if (shared !== undefined) return found(c, profile, key, shared, false);
	let hit: Hit | undefined;
	try {
		hit = c.lookup(key);
	} catch (err) {
		return lookupFailed(profile, err);
	}
	if (hit !== undefined) {
		if (foundInTurn === undefined) {
			foundInTurn = new WeakMap();
			turnStarted = performance.now();
			queueMicrotask(() => {
				foundInTurn = undefined;
			});
		}
		let table = foundInTurn.get(c);
		if (table === undefined) foundInTurn.set(c, (table = new Map<string, Hit>()));
		table.set(key, hit);
	}
	return found(c, profile, key, hit, false);
}

/** A submission that missed: joins the identical call in flight, or sends it off and commits the worker's reply. */
function submitMissed(c: BaseCache, profile: KeyProfile, k: KeyedCall, signal: AbortSignal | undefined, share: boolean, run: RunSubmission): Promise<unknown> {
	const pending = inFlight.get(c)?.get(k.key);
	if (pending !== undefined) return Promise.resolve(pending.join(signal));
	const controller = signal === undefined || !share ? undefined : new AbortController();
	if (signal?.aborted === true) controller?.abort(signal.reason);
	const keyed = k;
	const started = performance.now();
	const promise = start(run, k.key, controller?.signal ?? signal, (reply) => {
		if (!isBoundReply(reply)) return reply;
		const { value, nested } = unpackReply(reply);
		if (reply.record !== null) {
			const { metadata, async } = reply.record;
			const prepared = prepare(c, profile, keyed, byName(keyed.names, keyed.values));
			commit(c, profile, keyed, prepared, value, () => metadata, async, (performance.now() - started) / 1000);
		}
		storeNested(c, nested);
		return value;
	});
	if (!share) return promise;
	const entry = new InFlight(tableOf(c), k.key, promise, controller, false);
	const settled = (): void => entry.settled();
	promise.then(settled, settled);
	return Promise.resolve(entry.join(signal));
}

/** A worker's reply with the classes its structured clone lost restored (docs/behaviour.md §16). */
function unpackReply(reply: BoundReply): { readonly value: unknown; readonly nested: readonly NestedRecord[] } {
	if (reply.packed !== undefined) {
		const [value, packedNested, classes] = v8().deserialize(reply.packed) as [unknown, NestedRecord[] | undefined, unknown[]];
		return unpackReply({ ...reply, packed: undefined, value, ...(packedNested !== undefined ? { nested: packedNested } : {}), classes });
	}
	const nested = reply.nested ?? [];
	if (reply.classes === undefined) return { value: reply.value, nested };
	if (reply.nested === undefined) return { value: applyPatches(reply.value, reply.classes), nested };
	const [value] = applyPatches([reply.value, reply.nested], reply.classes) as [unknown];
	return { value, nested };
}

/**
 * Stores the records of nested cached calls a worker made in its own memory cache (the caller's could not travel to
 * it), as Python's thread pools leave them in the one memory cache they share. A record already held stays.
 */
function storeNested(c: BaseCache, nested: readonly NestedRecord[]): void {
	for (const { record, values } of nested) {
		try {
			if (c.contains(record.key)) continue;
			for (const digest of Object.keys(values)) c.saveValue(values[digest], digest);
			c.saveRecord(record);
		} catch (err) {
			warn('FLECHE_REJECTED', `Cache rejected save: ${record.name} computed in a worker (${(err as Error).message})`, { cause: err });
		}
	}
}

/**
 * A worker's reply to a plain function's call (docs/behaviour.md §16): its value, classes restored; the nested cached
 * calls it made in a memory cache of its own are stored in `c`. @internal
 */
export function acceptReply(c: BaseCache, reply: unknown): unknown {
	if (!isBoundReply(reply)) return reply;
	const { value, nested } = unpackReply(reply);
	storeNested(c, nested);
	return value;
}

/** `run` started now, its reply turned into the caller's value; a synchronous throw is a rejection. */
function start(run: RunSubmission, key: string | null, signal: AbortSignal | undefined, accept: (reply: unknown) => unknown): Promise<unknown> {
	try {
		return Promise.resolve(run(key, signal)).then(accept);
	} catch (err) {
		return Promise.reject(asError(err));
	}
}

/** The key of a call with these arguments (and its parts), with the active cache resolving `Digest` arguments. @internal */
export function keyOf(
	target: CallTarget,
	args: readonly unknown[],
	c: BaseCache = activeCache(),
	thisArg?: unknown,
): KeyedCall & { readonly profile: KeyProfile } {
	const profile = target.profile(thisArg);
	return { profile, ...keyCall(profile, c, thisArg, args) };
}
