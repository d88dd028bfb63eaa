// docs/behaviour.md §1.6, §1.7, §4, §10: the active cache and metadata — sticky, scoped, and following `await`s.
import { AsyncLocalStorage } from 'node:async_hooks';
import { BaseCache } from './caches/base.js';
import { cacheByName, configuredMetadata } from './config/build.js';
import { activeKeyCache } from './digest.js';
import { Tags, type MetaData } from './metadata.js';
import type { Json } from './call.js';

/** The active cache and metadata of one execution context. */
interface Frame {
	readonly cache: BaseCache | undefined;
	readonly metadata: readonly MetaData[] | undefined;
}

interface State {
	readonly als: AsyncLocalStorage<Frame>;
	/** Process-wide values, set by sticky calls made outside any scope. */
	root: { cache: BaseCache | undefined; metadata: readonly MetaData[] | undefined };
}

// One state per process even when the ESM and CJS builds (or two copies) of fleche are loaded together.
const stateKey = Symbol.for('fleche.state');

function state(): State {
	const g = globalThis as { [stateKey]?: State };
	return (g[stateKey] ??= { als: new AsyncLocalStorage<Frame>(), root: { cache: undefined, metadata: undefined } });
}

const st = state();

// Digest.expand()/shrink() default to the active cache; digest.ts cannot import this module (it would cycle).
activeKeyCache.get = activeCache;

/** @internal The frame in force here. */
export function currentFrame(): Frame {
	return st.als.getStore() ?? st.root;
}

/** @internal The active cache: the hot path of every cached call. */
export function activeCache(): BaseCache {
	const frame = st.als.getStore();
	return frame?.cache ?? st.root.cache ?? cacheByName('default');
}

/** @internal The active metadata sources; by default `[default] metadata` of `fleche.toml`, else `[Runtime]`. */
export function activeMetadata(): readonly MetaData[] {
	const frame = st.als.getStore();
	return frame?.metadata ?? st.root.metadata ?? configuredMetadata();
}

/** @internal Runs `fn` with the given frame values in force (values left `undefined` are inherited). */
export function runIn<T>(frame: Partial<Frame>, fn: () => T): T {
	const current = currentFrame();
	return st.als.run(
		{ cache: frame.cache ?? current.cache ?? st.root.cache, metadata: frame.metadata ?? current.metadata ?? st.root.metadata },
		fn,
	);
}

/**
 * The handle returned by a sticky `cache(c)` or `meta(...)`: the change is in force from now on; disposing it
 * (`using _ = cache(c)`, or `.restore()`) puts back what was in force before.
 */
export class Scope implements Disposable {
	private restored = false;

	/** @internal */
	constructor(private readonly undo: () => void) {}

	/** Puts back the previous cache or metadata. Idempotent. */
	restore(): void {
		if (this.restored) return;
		this.restored = true;
		this.undo();
	}

	[Symbol.dispose](): void {
		this.restore();
	}
}

/** The handle of a sticky `cache(c)`: a {@link Scope} that also names the cache it put in force. */
export class CacheScope extends Scope {
	/** @internal */
	constructor(
		/** The cache now active. */
		readonly cache: BaseCache,
		undo: () => void,
	) {
		super(undo);
	}
}

function setSticky<K extends keyof Frame>(field: K, value: Frame[K]): () => void {
	const store = st.als.getStore();
	if (store === undefined) {
		const previous = st.root[field];
		st.root[field] = value as never;
		return () => {
			st.root[field] = previous as never;
		};
	}
	// Inside a scope (a `cache(c, fn)` or a bound call) only this execution context changes, never the process.
	st.als.enterWith({ ...store, [field]: value });
	return () => st.als.enterWith(store);
}

function toCache(c: BaseCache | string): BaseCache {
	if (typeof c === 'string') return cacheByName(c);
	if (c instanceof BaseCache || (typeof c === 'object' && c !== null && typeof (c as BaseCache).lookup === 'function')) {
		return c;
	}
	throw new TypeError(`cache() takes a cache object or a cache name, not ${typeof c}`);
}

/** Options of {@link cache}. */
export interface CacheOptions {
	/**
	 * Put the cache in front of the active one instead of replacing it: `cache().push(c)`, a {@link CacheStack}
	 * whose saves go to `c` and whose reads fall through to what was active.
	 * @default false
	 */
	readonly stack?: boolean;
}

/**
 * Reads or sets the active cache (docs/behaviour.md §1.6).
 *
 * - `cache()` returns the active cache (by default the one `[default]` of `fleche.toml` names, else the persistent
 *   project-local `.fleche/` store).
 * - `cache(c)` makes `c` active from now on (sticky) and returns a {@link CacheScope}; `using _ = cache(c)` restores
 *   the previous cache at the end of the block — the `with cache(c):` of Python.
 * - `cache(c, fn)` runs `fn` with `c` active and returns what it returns; the cache follows `fn`'s `await`s.
 * - `cache(c, { stack: true })` (and `cache(c, { stack: true }, fn)`) puts `c` in front of the active cache.
 *
 * `c` is a cache object or a name: `'memory'` (one in-memory cache per process), `'void'` (stores nothing,
 * every call runs), `'default'`, or a section of `fleche.toml`; the same name is always the same instance.
 * @throws ConfigError for a name no `fleche.toml` defines.
 * @example
 * ```ts
 * import { cache, Cache, ValueMemory, CallMemory } from 'fleche';
 * using _ = cache('memory');
 * const r = await cache(new Cache(new ValueMemory(), new CallMemory()), () => compute(3));
 * using __ = cache('memory', { stack: true }); // memory in front of what was active
 * ```
 */
export function cache(): BaseCache;
export function cache(c: BaseCache | string, options?: CacheOptions): CacheScope;
export function cache<T>(c: BaseCache | string, fn: () => T): T;
export function cache<T>(c: BaseCache | string, options: CacheOptions, fn: () => T): T;
export function cache<T>(c?: BaseCache | string, a?: CacheOptions | (() => T), b?: () => T): BaseCache | CacheScope | T {
	if (c === undefined) return activeCache();
	let resolved = toCache(c);
	const fn = typeof a === 'function' ? a : b;
	if (typeof a === 'object' && a !== null && a.stack === true) resolved = activeCache().push(resolved);
	if (fn !== undefined) return runIn({ cache: resolved }, fn);
	return new CacheScope(resolved, setSticky('cache', resolved));
}

/** Options of a sticky {@link meta} call. */
export interface MetaOptions {
	/** Add to the metadata in force instead of replacing it. @default false */
	readonly stack?: boolean;
}

/**
 * Reads or sets the active metadata sources (docs/behaviour.md §1.6, §1.9); same forms as {@link cache}.
 * The default is `[default] metadata` of `fleche.toml`, else `[new Runtime()]`.
 * @example
 * ```ts
 * import { meta, Runtime, Environment } from 'fleche';
 * using _ = meta([new Runtime(), new Environment()]);
 * ```
 */
export function meta(): readonly MetaData[];
export function meta(items: MetaData | readonly MetaData[], options?: MetaOptions): Scope;
export function meta<T>(items: MetaData | readonly MetaData[], fn: () => T): T;
export function meta<T>(
	items?: MetaData | readonly MetaData[],
	arg?: MetaOptions | (() => T),
): readonly MetaData[] | Scope | T {
	if (items === undefined) return activeMetadata();
	const list = Array.isArray(items) ? [...(items as readonly MetaData[])] : [items as MetaData];
	for (const m of list) {
		if (typeof m !== 'object' || m === null || typeof m.name !== 'string') {
			throw new TypeError('meta() takes MetaData objects such as new Runtime() or new Tags({...})');
		}
	}
	const stack = typeof arg === 'object' && arg.stack === true;
	const next = Object.freeze(stack ? [...activeMetadata(), ...list] : list);
	if (typeof arg === 'function') return runIn({ metadata: next }, arg);
	return new Scope(setSticky('metadata', next));
}

/**
 * Adds tags to the metadata of calls made from now on (`tags({ run: 3 })`) or inside `fn`.
 * Tags merge into the `tags` namespace; later ones win.
 * @example
 * ```ts
 * await tags({ experiment: 'baseline' }, () => train(model));
 * ```
 */
export function tags(values: Record<string, Json>): Scope;
export function tags<T>(values: Record<string, Json>, fn: () => T): T;
export function tags<T>(values: Record<string, Json>, fn?: () => T): Scope | T {
	const next = Object.freeze([...activeMetadata(), new Tags(values)]);
	if (fn !== undefined) return runIn({ metadata: next }, fn);
	return new Scope(setSticky('metadata', next));
}

/**
 * Tags calls with a project name: `project('alpha')` is `tags({ project: 'alpha' })`.
 * @example
 * ```ts
 * using _ = project('alpha');
 * ```
 */
export function project(name: string): Scope;
export function project<T>(name: string, fn: () => T): T;
export function project<T>(name: string, fn?: () => T): Scope | T {
	return fn === undefined ? tags({ project: name }) : tags({ project: name }, fn);
}
