// docs/behaviour.md §1.10, §2.4, §6: the operations every cache offers, most of them built on a few primitives.
import type { CallRecord, Metadata, Call } from '../call.js';
import { Digest } from '../digest.js';
import { argumentDigest, identityPrefix, lookupKey } from '../key.js';
import { KeyError, Rejected, FlecheError } from '../errors.js';
import type { CallLeases, StorageConfig } from '../storage/base.js';
import type { LeaseOptions } from '../options.js';
import { shrinkKeys } from '../storage/keys.js';
import { warn } from '../log.js';
import { LazyCall } from '../lazyCall.js';
import { QueryIterator, matches, type QueryFilter, type TableOptions, type TableRow, type TransferOptions } from '../query.js';
import { combineExpiry, freshness, type Expiry, type Freshness } from '../expiry.js';
import { createdOf } from '../storage/kinds.js';

export type { TransferOptions } from '../query.js';

/**
 * Constructors of the compositions, filled in by their own modules when they load. They extend `BaseCache`, so this
 * module cannot import them without an import cycle that breaks depending on which module loads first. @internal
 */
export const compositions: {
	stack?: (caches: readonly BaseCache[]) => Composition<'stack'>;
	readonly?: (cache: BaseCache) => Composition<'readonly'>;
	filter?: (cache: BaseCache, predicate: ((call: LazyCall) => boolean) | QueryFilter) => Composition<'filter'>;
} = {};

/**
 * The classes of the compositions by name (`stack`: `CacheStack`, `readonly`: `ReadOnlyCache`, `filter`:
 * `FilteredCache`). Each composition's module adds its own entry (module augmentation), so that the methods below are
 * typed with the subclass while this module imports none of them.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in by the composition modules
export interface CompositionTypes {}

/** The class of composition `K`, or `BaseCache` where its module is not part of the program. */
export type Composition<K extends string> = K extends keyof CompositionTypes ? CompositionTypes[K] : BaseCache;

function composition<K extends keyof typeof compositions>(name: K): NonNullable<(typeof compositions)[K]> {
	const make = compositions[name];
	/* c8 ignore next -- every entry point of the package loads the composition modules */
	if (make === undefined) throw new Error(`fleche: the ${name} composition is not loaded`);
	return make;
}

/** A hit: the stored record and a fresh copy of its result. */
export interface Hit {
	readonly record: CallRecord;
	readonly value: unknown;
}

/** What the wrapper hands to {@link BaseCache.prepare} on a miss: the sealed key and the live argument values. */
export interface PendingCall {
	readonly key: string;
	readonly name: string;
	readonly module: string | null;
	readonly version: string | number | null;
	readonly codeDigest: string | null;
	/** Live values by parameter name (signature order); a `Digest` stands for a value not held in this process. */
	readonly values: Readonly<Record<string, unknown>>;
	/** Digests of those values, same order. */
	readonly digests: Readonly<Record<string, string>>;
	/**
	 * `digests`, and the metadata the commit is given, were made for this call by the cached-call protocol and are held
	 * by nothing else: the record made of them may be frozen as it is, instead of copied by a storage. @internal
	 */
	readonly owned?: boolean;
}

/**
 * A call whose arguments are stored and whose key is sealed, waiting for its result (docs/behaviour.md §1.11). Commit it
 * once with the result, or abandon it (nothing is recorded).
 */
export interface PreparedCall {
	readonly key: string;
	/** Stores the result and the call record; returns the record. Throws `Rejected` when refused. */
	commit(result: unknown, metadata: Metadata, options?: { async?: boolean }): CallRecord;
	/** Gives up: nothing is recorded. Idempotent. */
	abandon(): void;
}

declare module '../lazyCall.js' {
	/** Stored calls and queries belong to caches: see `CallCache`. */
	// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- the whole point: CallCache is BaseCache
	interface CallCache extends BaseCache {}
}

/**
 * Where a miss of a cache takes its lease (docs/behaviour.md §3.6): the leases of the storage the call will be stored
 * in, and the cache's `lease` option. @internal
 */
export interface Leasing {
	readonly leases: CallLeases;
	readonly option: boolean | LeaseOptions | undefined;
}

/** What `collectValues` did with its candidates: removed, or kept for being written or used within the grace period. @internal */
export interface CollectedValues {
	readonly removed: readonly string[];
	readonly young: readonly string[];
}

/** Plain-data description of a cache, from which a worker or another process can open the same store. */
export type CacheConfig =
	| {
			readonly type: 'cache';
			readonly values: StorageConfig;
			readonly calls: StorageConfig;
			readonly lease?: boolean | LeaseOptions;
			/** Seconds (docs/behaviour.md §18). */
			readonly maxAge?: number;
			/** `true`, or seconds past the max age. */
			readonly staleWhileRevalidate?: boolean | number;
	  }
	| { readonly type: string; readonly [option: string]: unknown };


/**
 * The base of every cache. Subclasses provide storage primitives; loading, querying, saving whole calls,
 * shrinking keys and transfers are built on them here.
 */
export abstract class BaseCache {
	/** Hot path of a cached call: the record and result under a full key, or `undefined` on a miss. */
	abstract lookup(key: string): Hit | undefined;
	/**
	 * {@link lookup} without blocking the event loop, for async functions, when the cache's storages can answer
	 * asynchronously (a database server: `findAsync`, `getAsync`); `undefined` when they cannot, and the caller
	 * looks up synchronously instead.
	 */
	lookupAsync(key: string): Promise<Hit | undefined> | undefined {
		void key;
		return undefined;
	}
	/** Stores the argument values and seals the key before the body runs. Throws `Rejected` when refused. */
	abstract prepare(call: PendingCall): PreparedCall;
	/** The record under a full key; `KeyError` on a miss. */
	abstract loadRecord(key: string): CallRecord;
	/** A fresh copy of the value under a full value digest; `KeyError` on a miss. */
	abstract loadValue(key: string): unknown;
	/** Stores a value under its digest (computed when not given); returns the digest. */
	abstract saveValue(value: unknown, key?: string): string;
	/** Stores (or replaces) a call record. */
	abstract saveRecord(record: CallRecord): void;
	/** Whether a call record is held under a full key or a prefix. */
	abstract contains(key: string): boolean;
	/** Removes a call record (values stay; see `gc`). `KeyError` when it is not there. */
	abstract evict(key: string): void;
	/** Every call record, optionally of one function name. */
	abstract records(filter?: { readonly name?: string }): Iterable<CallRecord>;
	/** Expands a prefix of a call key or value digest (docs/behaviour.md §2.4). */
	abstract expand(prefix: string): string;
	/** Every key held (calls and values), for `shrink`. */
	abstract keys(): Iterable<string>;
	/** Plain-data description from which the same store can be opened elsewhere. */
	abstract toConfig(): CacheConfig;

	/**
	 * Whether this cache refuses every save and evict (`ReadOnlyCache`, `FilteredCache`, `CachePool`, and wrappers
	 * of them), so that an operation that would write can refuse before it starts instead of halfway.
	 */
	get readOnly(): boolean {
		return false;
	}

	/**
	 * Whether every lookup of this cache misses on purpose so that calls run again and overwrite their entries
	 * (`RefreshingCache`, for reruns): a call that then returns `undefined` evicts the entry it would have replaced.
	 */
	get refreshing(): boolean {
		return false;
	}

	/**
	 * Whether the last lookup of `key` found its entry damaged (reported then): the protocol does not read it again
	 * right after taking the call's lease, where it would only be reported twice; the recompute replaces it. @internal
	 */
	damaged(key: string): boolean {
		void key;
		return false;
	}

	/**
	 * Where a miss takes its lease so that processes sharing the store compute it once (docs/behaviour.md §3.6);
	 * `undefined` when this cache's calls are not shared that way: nothing another process reads (memory), a cache
	 * that stores nothing (read-only views, pools) or misses on purpose (reruns), or leasing turned off. @internal
	 */
	leasing(): Leasing | undefined {
		return undefined;
	}

	/**
	 * This cache's max age and stale-while-revalidate setting (docs/behaviour.md §18), `undefined` when it has none.
	 * Compositions combine their members' (the shortest max age applies). @internal
	 */
	expiry(): Expiry | undefined {
		return undefined;
	}

	/**
	 * When the storage wrote the record of `key`, in seconds since the epoch, for records without Runtime metadata
	 * (docs/behaviour.md §18); `null` when it cannot tell. @internal
	 */
	writtenAt(key: string): number | null {
		void key;
		return null;
	}

	/** Bytes of the stored value `digest` where saves go, for byte budgets; `null` when unknown. @internal */
	valueBytes(digest: string): number | null {
		void digest;
		return null;
	}

	/**
	 * Removes those of `candidates` (value digests) that no stored call refers to, where saves go, keeping values
	 * written or referred to within `graceMs` in storages other processes share (as `gc` does); returns the digests
	 * removed. What a size-limited cache runs on the values of the calls it evicted. @internal
	 */
	collectValues(candidates: ReadonlySet<string>, graceMs: number): CollectedValues {
		void candidates;
		void graceMs;
		return { removed: [], young: [] };
	}

	/** The class and its configuration, e.g. `Cache {"type":"cache","values":{…},"calls":{…}}`, for logs and messages. */
	toString(): string {
		try {
			return `${this.constructor.name} ${JSON.stringify(this.toConfig())}`;
		} catch {
			// A cache whose configuration cannot be described (one over a custom storage) is still named.
			return this.constructor.name;
		}
	}

	/**
	 * Statistics hook: a cached function hit `record`. Persistent caches count hits in memory and flush them in
	 * batches; a hit must never wait for a disk write. @internal
	 */
	noteHit(record: CallRecord): void {
		void record;
	}

	/** Statistics hook: a miss was computed in `seconds` and stored as `record`. @internal */
	noteMiss(record: CallRecord, seconds: number): void {
		void record;
		void seconds;
	}

	/**
	 * The call under a key or key prefix, as a {@link LazyCall} that loads argument values and the result on access.
	 * @throws KeyError when nothing is stored under it.
	 */
	load(key: string | Digest): LazyCall {
		const full = this.resolveKey(key);
		return new LazyCall(this.loadRecord(full), this);
	}

	/**
	 * Stores a whole call (arguments, result and record) at once, outside a cached function; returns its key.
	 * @throws Rejected when the cache refuses it or a value cannot be stored.
	 */
	save(call: Call): string {
		if (call.result === undefined) throw new Rejected('A call without a result (undefined) cannot be saved');
		const digests: Record<string, string> = {};
		for (const name in call.arguments) digests[name] = argumentDigest(call.arguments[name], name);
		const key = lookupKey(identityPrefix(call), digests);
		const prepared = this.prepare({
			key,
			name: call.name,
			module: call.module,
			version: call.version,
			codeDigest: call.codeDigest,
			values: call.arguments,
			digests,
		});
		prepared.commit(call.result, call.metadata ?? {});
		return key;
	}

	/** Query the stored calls (docs/behaviour.md §6); without a filter, every call. The result is re-iterable and lazy. */
	query(filter: QueryFilter = {}): QueryIterator {
		return new QueryIterator(() => this.matching(filter), this);
	}

	/**
	 * One row per stored call (docs/behaviour.md §6 `table()`): identity, flattened metadata and the requested arguments and
	 * result, keys shrunk to short prefixes. The same as `this.query().table(options)`.
	 * @example
	 * ```ts
	 * console.table(cache().table({ arguments: true }));
	 * ```
	 */
	table(options?: TableOptions): TableRow[] {
		return this.query().table(options);
	}

	/** @internal */
	*matching(filter: QueryFilter): Iterable<LazyCall> {
		const byName = filter.name === undefined ? undefined : { name: filter.name };
		for (const record of this.records(byName)) {
			if (matches(filter, record, this)) yield new LazyCall(record, this);
		}
	}

	/**
	 * Shortest unambiguous prefixes (at least 4 characters) of the given keys among everything this cache holds.
	 */
	shrink(key: string): string;
	shrink(...keys: string[]): string[];
	shrink(...keys: string[]): string | string[] {
		const shrunk = shrinkKeys(keys, this.keys());
		return keys.length === 1 ? shrunk[0]! : shrunk;
	}

	/** Copies every call (records and values) into `target` (docs/behaviour.md §6 `transfer`); returns how many were written. */
	transfer(target: BaseCache, options: TransferOptions = {}): number {
		return this.query().transfer(target, options);
	}

	/**
	 * A view of this cache that refuses every write (docs/behaviour.md §1.10 `readonly()`): saves and evicts throw
	 * `Rejected`, and a cached function run against it executes and returns its result without storing it.
	 * @example
	 * ```ts
	 * using _ = cache(teamCache.readonly()); // use the shared results, never write to them
	 * ```
	 */
	readonly(): Composition<'readonly'> {
		return composition('readonly')(this);
	}

	/**
	 * A read-only view holding only the calls that pass `predicate`: a function of the call, or a query filter
	 * (docs/behaviour.md §1.10 `filter()`). Other calls are misses.
	 * @example
	 * ```ts
	 * const alpha = cache().filter({ metadata: { tags: { project: 'alpha' } } });
	 * ```
	 */
	filter(predicate: ((call: LazyCall) => boolean) | QueryFilter): Composition<'filter'> {
		return composition('filter')(this, predicate);
	}

	/**
	 * A `CacheStack` with `cache` in front of this one (docs/behaviour.md §1.10 `push()`): saves go to `cache`, reads
	 * fall through to this cache and are copied into `cache`. Stacks are flattened, never nested.
	 * @example
	 * ```ts
	 * const fast = persistent.push(new Cache(new ValueMemory(), new CallMemory()));
	 * ```
	 */
	push(cache: BaseCache): Composition<'stack'> {
		const front = isStack(cache) ? cache.stack : [cache];
		return composition('stack')([...front, ...(isStack(this) ? this.stack : [this])]);
	}

	/** @internal Copies one call with its values; false when skipped because the target has it. */
	importCall(call: LazyCall, overwrite: boolean): boolean {
		if (!overwrite && this.contains(call.key)) {
			warn('FLECHE_TRANSFER_SKIPPED', `Not transferring ${call.key}: already exists in target and overwrite=false`);
			return false;
		}
		const source = call.cache;
		const digests = [...Object.values(call.argumentDigests)];
		if (call.resultDigest !== null) digests.push(call.resultDigest);
		for (const d of digests) {
			let value: unknown;
			try {
				value = source.loadValue(d);
			} catch (err) {
				if (KeyError.is(err)) continue; // the source only had the digest (docs/behaviour.md §1.11)
				throw err;
			}
			this.saveValue(value, d);
		}
		this.saveRecord(call.record);
		return true;
	}

	/** @internal Expands prefixes and unwraps `Digest`s. */
	resolveKey(key: string | Digest): string {
		const text = Digest.is(key) ? key.hex : key;
		if (typeof text !== 'string') throw new KeyError(String(text));
		return text.length === 64 ? text.toLowerCase() : this.expand(text);
	}
}

/** When a stored call was computed (Runtime metadata), else written (the storage's time), in seconds since the epoch. @internal */
export function storedAt(cache: BaseCache, record: CallRecord): number | null {
	return createdOf(record) ?? cache.writtenAt(record.key);
}

/**
 * Whether `record`, found in `cache`, may be served (docs/behaviour.md §18), under the function's own expiry `fn` and
 * the cache's. Costs two property reads when neither has a max age. @internal
 */
export function freshnessIn(cache: BaseCache, record: CallRecord, fn: Expiry | undefined): Freshness {
	const expiry = combineExpiry(fn, cache.expiry());
	if (expiry === undefined || expiry.maxAge === null) return 'fresh';
	return freshness(storedAt(cache, record), expiry);
}

/** The expiry of several caches read as one (a stack, a pool): the shortest max age, the first stale setting. @internal */
export function membersExpiry(members: readonly BaseCache[]): Expiry | undefined {
	let out: Expiry | undefined;
	for (const m of members) {
		const e = m.expiry();
		if (e === undefined) continue;
		out = out === undefined ? e : combineExpiry(out, e);
	}
	return out;
}

/** When the first member that can tell wrote the record of `key` (see `BaseCache.writtenAt`). @internal */
export function membersWrittenAt(members: readonly BaseCache[], key: string): number | null {
	for (const member of members) {
		const t = member.writtenAt(key);
		if (t !== null) return t;
	}
	return null;
}

/** @internal Marks a `CacheStack` without importing it (see {@link compositions}). */
export const stackBrand = Symbol.for('fleche.cacheStack');

/** @internal */
export function isStack(cache: BaseCache): cache is Composition<'stack'> & BaseCache {
	return (cache as { [stackBrand]?: boolean })[stackBrand] === true;
}

/** True for errors a cache raises on purpose (refusals, misses); anything else is a bug or an I/O fault. */
export function isCacheError(err: unknown): boolean {
	return FlecheError.is(err);
}

/** Options of `gc()`. */
export interface GcOptions {
	/**
	 * Values written or referred to by a stored call within this many seconds are kept, and so are writers'
	 * temporaries: another process may be about to commit a call naming them. `0` removes every orphan now (only
	 * safe when nothing else writes the store).
	 * @default 600
	 */
	readonly graceSeconds?: number;
	/**
	 * First evict the calls computed longer ago than this (seconds, or a duration such as `"30d"`; docs/behaviour.md
	 * §18); their values are then collected like any other orphan. A call whose age cannot be told stays.
	 */
	readonly olderThan?: number | string;
	/** Remove nothing; report what would be removed. @default false */
	readonly dryRun?: boolean;
}
