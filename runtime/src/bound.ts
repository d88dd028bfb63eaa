// docs/behaviour.md §1.7, §3.2: BoundWrapper — a callable that carries the cache and metadata that were active when it was
// bound, and its plain-data form (a BoundCall) that a worker thread or another process can run.
import { v8 } from './builtins.js';
import type { BaseCache, CacheConfig } from './caches/base.js';
import type { CallRecord, FunctionIdentity, Metadata } from './call.js';
import { applyPatches, findPatches } from './classes.js';
import { Digest } from './digest.js';
import { warnOnce } from './log.js';
import type { MetaData, MetaDataConfig } from './metadata.js';
import { activeCache, activeMetadata, runIn } from './state.js';

const boundKey = Symbol.for('fleche.bound');

/** What a bound callable carries. */
export interface BoundState<F extends (...args: never[]) => unknown = (...args: never[]) => unknown> {
	/** The function called (a fleche function, or any function whose nested fleche calls should use the cache). */
	readonly fn: F;
	/** Arguments applied before those given at call time. */
	readonly args: readonly unknown[];
	/** The cache active at bind time. */
	readonly cache: BaseCache;
	/** The metadata sources active at bind time. */
	readonly metadata: readonly MetaData[];
}

type Rest<F, A extends readonly unknown[]> = F extends (...args: [...A, ...infer R]) => unknown ? R : unknown[];

/** A function bound with its cache and metadata; calling it runs `fn` with them in force, wherever it is called. */
export type Bound<F extends (...args: never[]) => unknown, A extends readonly unknown[] = []> = ((
	...args: Rest<F, A>
) => ReturnType<F>) & { readonly [boundKey]: BoundState<F> };

/**
 * Binds a function to the cache and metadata active now (docs/behaviour.md §1.7). The bound function ignores whatever is
 * active where it is later called: nested fleche calls inside it use the bound cache too.
 * @example
 * ```ts
 * using _ = cache(myCache);
 * const boundAdd = BoundWrapper.bind(add);   // carries myCache from here on
 * setTimeout(() => boundAdd(1, 2), 10);       // stores into myCache
 * ```
 */
export const BoundWrapper = {
	/** Binds `fn` (with optional leading arguments) to the active cache and metadata. */
	bind<F extends (...args: never[]) => unknown, A extends readonly unknown[]>(fn: F, ...args: A): Bound<F, A> {
		if (typeof fn !== 'function') throw new TypeError('BoundWrapper.bind() takes a function');
		const inner = (fn as { [boundKey]?: BoundState }) [boundKey];
		// Binding a bound function again keeps the first binding's cache (docs/behaviour.md §1.7: no double binding).
		const state: BoundState<F> = inner
			? { ...(inner as BoundState<F>), args: [...inner.args, ...args] }
			: { fn, args, cache: activeCache(), metadata: activeMetadata() };
		const bound = function (this: unknown, ...rest: unknown[]) {
			return runIn({ cache: state.cache, metadata: state.metadata }, () =>
				Reflect.apply(state.fn as unknown as (...a: unknown[]) => unknown, this, [...state.args, ...rest]),
			);
		};
		Object.defineProperty(bound, boundKey, { value: state });
		Object.defineProperty(bound, 'name', { value: `bound ${fn.name}` });
		return bound as unknown as Bound<F, A>;
	},

	/** The state a bound function carries, or `undefined` for any other value. */
	stateOf(value: unknown): BoundState | undefined {
		return typeof value === 'function' ? (value as { [boundKey]?: BoundState })[boundKey] : undefined;
	},
};

/**
 * Binds `fn` to the active cache and metadata: `bind(f, ...args)` is `BoundWrapper.bind(f, ...args)`.
 * @example
 * ```ts
 * const task = bind(expensive, 3); // call later, anywhere: task() stores into the cache active now
 * ```
 */
export function bind<F extends (...args: never[]) => unknown, A extends readonly unknown[]>(fn: F, ...args: A): Bound<F, A> {
	return BoundWrapper.bind(fn, ...args);
}

/**
 * A bound call as plain data (structured-clone-able): what a worker needs to run a cached function with the cache
 * and metadata of the process that bound it. Built by {@link describeBound}; run by {@link runBoundCall}.
 */
export interface BoundCall {
	/** Marks the object as a bound call (and its format version). */
	readonly fleche: 'boundCall/1';
	/** Identity of the cached function: `module` and `name` as in its key (see `findFleche`). */
	readonly module: string | null;
	readonly name: string;
	/** Absolute path of the JavaScript file the binding process loaded the function from: what the worker imports. */
	readonly file: string;
	/**
	 * The bound cache's description (`cache.toConfig()`), or `null` when it cannot travel (it holds memory storage):
	 * the worker then runs with a fresh in-memory cache and sends its record back for the caller to store.
	 */
	readonly cache: CacheConfig | null;
	/** The bound metadata sources that have a plain-data form (others are left out with a warning). */
	readonly metadata: readonly MetaDataConfig[];
	/** All arguments, bound ones first; top-level `Digest`s are sent as `{ flecheDigest: hex }`. */
	readonly args: readonly unknown[];
	/** The key the binding process computed, so a worker can tell when cloning changed an argument; `null` if unknown. */
	readonly key: string | null;
	/**
	 * A plain (not cached) function: its name, which `file` exports it under (or under another name: see `source`).
	 * The worker imports `file`, calls that export with the bound cache and metadata in force, and caches nothing
	 * itself (nested fleche calls do). `name` is the same.
	 */
	readonly export?: string;
	/** With `export`: the SHA-256 of the function's source text, by which the worker recognizes it among the exports. */
	readonly source?: string;
	/**
	 * What a structured clone of `args` loses (registered classes, Error subclasses, `URL`s…), as class patches
	 * (docs/behaviour.md §16) that point into `args`: they stay right only through a structured clone (postMessage),
	 * never through JSON.
	 */
	readonly classes?: readonly unknown[];
	/**
	 * `[args, classes]` as `v8.serialize` bytes, in place of those two fields, when the arguments hold objects a
	 * worker's structured clone refuses (a `URL` or `URLSearchParams` on Node 22 and later); see
	 * {@link BoundReply.packed}.
	 */
	readonly packed?: Uint8Array;
}

/** A call record made in a worker whose cache could not travel, with the values it names, sent back to be stored. */
export interface NestedRecord {
	readonly record: CallRecord;
	/** The argument values and the result, by digest (those the worker's cache held). */
	readonly values: Readonly<Record<string, unknown>>;
}

/** What running a {@link BoundCall} returns. */
export interface BoundReply {
	/** Marks the object as a reply (and its format version). */
	readonly fleche: 'boundReply/1';
	/** The function's result. */
	readonly value: unknown;
	/** The key the worker stored the call under (`null` when it could not compute one). */
	readonly key: string | null;
	/**
	 * When the bound cache could not travel: the metadata and async flag of the record the worker made, for the
	 * caller to store with the result in its own (memory) cache. `null` when the worker's cache already holds it, or
	 * nothing was cached (an `undefined` result).
	 */
	readonly record: { readonly metadata: Metadata; readonly async: boolean } | null;
	/**
	 * When the bound cache could not travel: the records of the other cached calls made in the worker while it ran
	 * (nested fleche calls), with their values, for the caller to store in its own cache as well.
	 */
	readonly nested?: readonly NestedRecord[];
	/** What a structured clone of `value` and `nested` loses, as class patches (see {@link BoundCall.classes}). */
	readonly classes?: readonly unknown[];
	/**
	 * `[value, nested, classes]` as `v8.serialize` bytes, in place of those three fields, when the value holds objects
	 * a worker's structured clone refuses (a `URL` or `URLSearchParams` on Node 22 and later): `v8.serialize` keeps
	 * them as plain objects, with identity, so the class patches still point into the copy.
	 */
	readonly packed?: Uint8Array;
}

/** A cached function as bound.ts sees it (wrapper.ts imports this module, so it is described, not imported). */
interface FlecheLike {
	(...args: unknown[]): unknown;
	readonly fleche: {
		readonly identity: FunctionIdentity;
		readonly location: { readonly loaded: string } | undefined;
		digest(...args: unknown[]): string;
	};
}

/** @internal Whether `fn` is a function wrapped by `fleche()`. */
export function isFlecheLike(fn: unknown): fn is FlecheLike {
	return typeof fn === 'function' && typeof (fn as { fleche?: { identity?: unknown } }).fleche?.identity === 'object';
}

/** @internal Whether a cache description can be opened elsewhere with the same contents (no memory storage in it). */
export function configTravels(config: unknown): boolean {
	if (Array.isArray(config)) return config.every(configTravels);
	if (typeof config !== 'object' || config === null) return true;
	if ((config as { type?: unknown }).type === 'memory') return false;
	return Object.values(config).every(configTravels);
}

/** @internal The plain-data form of a cache, or `null` when it cannot travel. */
export function travellingConfig(c: BaseCache): CacheConfig | null {
	try {
		const config = c.toConfig();
		return configTravels(config) ? config : null;
	} catch {
		return null;
	}
}

const digestTag = 'flecheDigest';

/**
 * @internal Builds the plain-data call; `key` is computed with `c` active when not given. `cloned`: the call travels
 * by structured clone (a worker thread), so the classes its arguments lose are listed for the worker to restore.
 */
export function describeCall(fn: unknown, c: BaseCache, metadata: readonly MetaData[], args: readonly unknown[], key?: string | null, cloned = true): BoundCall {
	if (!isFlecheLike(fn)) throw new TypeError('Only functions wrapped by fleche() can be sent to a worker (it imports them by module and name)');
	const { identity, location } = fn.fleche;
	if (!location) throw new TypeError(`${identity.name} cannot be sent to a worker: the file that defines it is unknown`);
	if (key === undefined) {
		try {
			key = runIn({ cache: c }, () => fn.fleche.digest(...args));
		} catch {
			key = null;
		}
	}
	const call: BoundCall = {
		fleche: 'boundCall/1',
		module: identity.module,
		name: identity.name,
		file: location.loaded,
		cache: travellingConfig(c),
		metadata: metadataConfigs(metadata),
		args: args.map((a) => (Digest.is(a) ? { [digestTag]: a.hex } : a)),
		key,
	};
	return cloned ? withClasses(call) : call;
}

function metadataConfigs(metadata: readonly MetaData[]): MetaDataConfig[] {
	const configs: MetaDataConfig[] = [];
	for (const m of metadata) {
		const config = m.toConfig?.();
		if (config) configs.push(config);
		else warnOnce(`bound-meta:${m.name}`, 'FLECHE_METADATA_NOT_SENT', `Metadata '${m.name}' has no toConfig() and is not recorded for calls run in workers`);
	}
	return configs;
}

function withClasses(call: BoundCall): BoundCall {
	const classes = findPatches(call.args);
	if (classes === undefined) return call;
	// Patches 3 and 4 replace a URL or URLSearchParams, which newer Nodes refuse to post: see `BoundCall.packed`.
	if (classes.some((p) => p[0] === 3 || p[0] === 4)) return { ...call, args: [], packed: v8().serialize([call.args, classes]) };
	return { ...call, classes };
}

/**
 * @internal The plain-data call of a plain function a worker imports from its module (see executor/locate.ts),
 * bound to `c` and `metadata`.
 */
export function describePlain(
	plain: { readonly file: string; readonly export: string; readonly source: string },
	c: BaseCache,
	metadata: readonly MetaData[],
	args: readonly unknown[],
): BoundCall {
	return withClasses({
		fleche: 'boundCall/1',
		module: null,
		name: plain.export,
		file: plain.file,
		cache: travellingConfig(c),
		metadata: metadataConfigs(metadata),
		args: args.map((a) => (Digest.is(a) ? { [digestTag]: a.hex } : a)),
		key: null,
		export: plain.export,
		source: plain.source,
	});
}

/** @internal The arguments of a received call, their classes and `Digest`s restored. */
export function receivedArgs(call: BoundCall): unknown[] {
	if (call.packed !== undefined) {
		const [args, classes] = v8().deserialize(call.packed) as [unknown[], unknown[]];
		return receivedArgs({ ...call, packed: undefined, args, classes });
	}
	const args = call.classes === undefined ? call.args : (applyPatches([...call.args], call.classes) as unknown[]);
	return args.map((a) => {
		const hex = typeof a === 'object' && a !== null ? (a as Record<string, unknown>)[digestTag] : undefined;
		return typeof hex === 'string' && Object.keys(a as object).length === 1 ? new Digest(hex) : a;
	});
}

/**
 * The plain-data form of a bound cached function (with optional further arguments), to send to a worker thread or
 * another process: function identity and file, the bound cache's configuration (never a live handle), the bound
 * metadata and the arguments. Run it there with {@link runBoundCall} (the `fleche/worker` and
 * `fleche/worker/piscina` entries do).
 *
 * A memory cache cannot travel: the description then carries `cache: null`, the worker computes with a fresh
 * in-memory cache and its reply carries the record, which `wrapExecutor` pools store in the bound cache.
 * @throws TypeError when the bound function is not a `fleche()` function (a worker could not import it).
 * @example
 * ```ts
 * using _ = cache(fileCache('/tmp/store'));
 * const call = describeBound(bind(expensive), 3);
 * const reply = await pool.queue((worker) => worker.run(call)); // threads.js pool of fleche/worker threads
 * ```
 */
export function describeBound(bound: (...args: never[]) => unknown, ...args: readonly unknown[]): BoundCall {
	const state = BoundWrapper.stateOf(bound);
	const call = state
		? describeCall(state.fn, state.cache, state.metadata, [...state.args, ...args])
		: describeCall(bound, activeCache(), activeMetadata(), args);
	if (call.cache === null) {
		warnOnce(`bound-memory:${call.module ?? ''}:${call.name}`, 'FLECHE_CACHE_NOT_SENT', `The cache bound to ${call.name} holds memory storage, which a worker cannot reach: results come back in the reply's record (wrapExecutor stores them), or use file or SQL storage`);
	}
	return call;
}

/** Whether a value is a {@link BoundCall}. */
export function isBoundCall(value: unknown): value is BoundCall {
	return typeof value === 'object' && value !== null && (value as { fleche?: unknown }).fleche === 'boundCall/1';
}

/** Whether a value is a {@link BoundReply}. */
export function isBoundReply(value: unknown): value is BoundReply {
	return typeof value === 'object' && value !== null && (value as { fleche?: unknown }).fleche === 'boundReply/1';
}
