// docs/behaviour.md §1.10 `SizeLimitedCache`, §18 byte budgets: a cache that keeps at most `maxSize` calls and
// `maxBytes` bytes of their values, and removes the values of the calls it evicts.
import type { CallRecord, Metadata } from '../call.js';
import { KeyError } from '../errors.js';
import type { CallStats } from '../storage/base.js';
import type { BaseCache, CacheConfig, Hit, PendingCall, PreparedCall } from './base.js';
import { DEFAULT_GC_GRACE_SECONDS, referencedValues } from './cache.js';
import { CacheWrapper } from './wrapper.js';

/** Options of {@link SizeLimitedCache}: `maxSize`, `maxBytes`, or both. */
export interface SizeLimitedOptions {
	/** How many call records to keep; a positive integer. @default no limit on the count (give `maxBytes`) */
	readonly maxSize?: number;
	/**
	 * How many bytes of stored values the kept calls may refer to, each value counted once however many calls share
	 * it (docs/behaviour.md §18): the sizes the value storage reports (files: their size on disk; memory: V8's
	 * serialization), a value whose size cannot be told counting 0. The newest call is always kept, even alone over
	 * the budget. A positive integer. @default no byte limit
	 */
	readonly maxBytes?: number;
	/**
	 * Chooses the call to evict when over a limit: receives every tracked key, least recently used first, and returns
	 * one of them. Does not travel to workers (`toConfig`): they use the default.
	 * @default the first key: least recently used
	 */
	readonly pickEvictionTarget?: (keys: readonly string[]) => string;
	/**
	 * The values of evicted calls that no other call refers to are removed automatically; in a store other processes
	 * share, only once not written or referred to for this many seconds (the `gc` grace period: another process may be
	 * committing a call that needs them). @default 600
	 */
	readonly graceSeconds?: number;
}

function timestop(record: CallRecord): number {
	const t = record.metadata.runtime?.timestop;
	return typeof t === 'number' ? t : -Infinity;
}

/** Last hit per key from the persisted statistics of `cache` (a {@link Cache} over file or SQL storage), if any. */
function lastHits(cache: BaseCache): Map<string, number> {
	const out = new Map<string, number>();
	const stats = (cache as { stats?: () => Iterable<CallStats> }).stats;
	if (typeof stats !== 'function') return out;
	try {
		for (const s of stats.call(cache)) if (s.lastHit !== null) out.set(s.key, s.lastHit);
	} catch {
		// Statistics are advisory: without them the order falls back to when each call was computed.
	}
	return out;
}

/**
 * Keeps at most `maxSize` calls, and at most `maxBytes` bytes of the values they refer to, in `inner`
 * (docs/behaviour.md §1.10, §18; `max_size = N` and `max_bytes = N` in `fleche.toml`): after each save, while over a
 * limit, the least recently used call record is evicted. Lookups and loads count as use, unlike Python's random
 * choice. The values of evicted calls that no other call refers to are removed too (in batches, checked against every
 * stored record, with `gc`'s grace period in stores other processes share; see {@link SizeLimitedOptions.graceSeconds}).
 *
 * The order is tracked in this process, in memory. It is built lazily, the first time a save needs it, by listing
 * every record of `inner`, ordered by when each was last used: its last hit in the hit/miss statistics of the store
 * (file and SQL stores keep them across processes), else when it was computed (`runtime.timestop`; calls without
 * it count as the oldest). For a file store that reads one file per call, about
 * 30 µs each, so 3 s for 100,000 calls; then a few hundred bytes per call (its place in the order and the digests of
 * the values it refers to; with `maxBytes`, also one size per value: a `stat` on a file store). Uses seen before that
 * moment are replayed on top. Calls saved by other processes are not seen until a cache reopens the store, so with several writers the limits
 * are approximate.
 * @example
 * ```ts
 * import { SizeLimitedCache, cache } from 'fleche';
 * using _ = cache(new SizeLimitedCache(cache('default'), { maxSize: 1000, maxBytes: 500_000_000 }));
 * ```
 */
export class SizeLimitedCache extends CacheWrapper {
	/** How many call records are kept; `Infinity` when only bytes are limited. */
	readonly maxSize: number;
	/** How many bytes of values the kept calls may refer to; `Infinity` when only the count is limited. */
	readonly maxBytes: number;
	readonly #pick: ((keys: readonly string[]) => string) | undefined;
	readonly #graceMs: number;
	/** Tracked keys, least recently used first (a Map keeps insertion order; a use re-inserts). */
	#order: Map<string, null> | undefined;
	/** Uses seen before {@link #order} was built, in order. */
	#early: Map<string, null> | undefined = new Map();
	/** The values each tracked call refers to. */
	readonly #refs = new Map<string, readonly string[]>();
	/** How many tracked calls refer to each value. */
	readonly #counts = new Map<string, number>();
	/** Bytes of each value a tracked call refers to (with `maxBytes` only). */
	readonly #sizes = new Map<string, number>();
	/** Sum of {@link #sizes}. */
	#bytes = 0;
	/** Values of calls prepared through this cache and not yet committed or abandoned: never collected. */
	readonly #pinned = new Map<string, number>();
	/** Values that lost their last tracked call, waiting for the next collection. */
	readonly #orphans = new Set<string>();
	/** Orphans found since the last collection. */
	#newOrphans = 0;

	/** @throws TypeError when neither limit is given, or one is not a positive integer. */
	constructor(inner: BaseCache, options: SizeLimitedOptions) {
		super(inner);
		const { maxSize, maxBytes, graceSeconds } = options ?? {};
		if (maxSize === undefined && maxBytes === undefined) throw new TypeError('SizeLimitedCache needs maxSize, maxBytes or both');
		if (maxSize !== undefined && (!Number.isSafeInteger(maxSize) || maxSize < 1))
			throw new TypeError(`maxSize must be a positive integer, got ${String(maxSize)}`);
		if (maxBytes !== undefined && (!Number.isSafeInteger(maxBytes) || maxBytes < 1))
			throw new TypeError(`maxBytes must be a positive integer, got ${String(maxBytes)}`);
		if (graceSeconds !== undefined && !(typeof graceSeconds === 'number' && graceSeconds >= 0))
			throw new TypeError(`graceSeconds must be a number ≥ 0, got ${String(graceSeconds)}`);
		if (options.pickEvictionTarget !== undefined && typeof options.pickEvictionTarget !== 'function') {
			throw new TypeError('pickEvictionTarget must be a function');
		}
		this.maxSize = maxSize ?? Infinity;
		this.maxBytes = maxBytes ?? Infinity;
		this.#graceMs = (graceSeconds ?? DEFAULT_GC_GRACE_SECONDS) * 1000;
		this.#pick = options.pickEvictionTarget;
	}

	/**
	 * The call to evict: receives every tracked key, least recently used first. Override in a subclass (or pass
	 * `pickEvictionTarget`) for another policy.
	 */
	protected pickEvictionTarget(keys: readonly string[]): string {
		return this.#pick ? this.#pick(keys) : keys[0]!;
	}

	/** How many calls are tracked (builds the order when it is not built yet). */
	get size(): number {
		return this.order().size;
	}

	/** Bytes of the values the tracked calls refer to, each counted once (builds the order when it is not built yet). */
	get bytes(): number {
		this.order();
		return this.#bytes;
	}

	override lookup(key: string): Hit | undefined {
		const hit = this.inner.lookup(key);
		if (hit !== undefined) this.touch(key);
		return hit;
	}

	override loadRecord(key: string): CallRecord {
		const record = this.inner.loadRecord(key);
		this.touch(record.key);
		return record;
	}

	override prepare(call: PendingCall): PreparedCall {
		const prepared = this.inner.prepare(call);
		const pinned = Object.values(call.digests);
		for (const d of pinned) this.#pinned.set(d, (this.#pinned.get(d) ?? 0) + 1);
		let open = true;
		const unpin = (): void => {
			if (!open) return;
			open = false;
			for (const d of pinned) {
				const n = this.#pinned.get(d)! - 1;
				if (n === 0) this.#pinned.delete(d);
				else this.#pinned.set(d, n);
			}
		};
		return {
			key: prepared.key,
			commit: (result: unknown, metadata: Metadata, options?: { async?: boolean }) => {
				let record: CallRecord;
				try {
					record = prepared.commit(result, metadata, options);
				} finally {
					unpin();
				}
				this.added(record);
				return record;
			},
			abandon: () => {
				unpin();
				prepared.abandon();
			},
		};
	}

	override saveRecord(record: CallRecord): void {
		this.inner.saveRecord(record);
		this.added(record);
	}

	override evict(key: string): void {
		const full = this.resolveKey(key);
		this.inner.evict(full);
		this.#order?.delete(full);
		this.#early?.delete(full);
		this.#forget(full);
	}

	/** `{ type: 'sizeLimited', cache, maxSize?, maxBytes? }`; a custom eviction policy and `graceSeconds` are not included. */
	override toConfig(): CacheConfig {
		return {
			type: 'sizeLimited',
			cache: this.inner.toConfig(),
			...(this.maxSize !== Infinity ? { maxSize: this.maxSize } : {}),
			...(this.maxBytes !== Infinity ? { maxBytes: this.maxBytes } : {}),
		};
	}

	private touch(key: string): void {
		const order = this.#order ?? this.#early!;
		order.delete(key);
		order.set(key, null);
	}

	private order(): Map<string, null> {
		if (this.#order !== undefined) return this.#order;
		const hits = lastHits(this.inner);
		const used = (r: CallRecord): number => Math.max(timestop(r), hits.get(r.key) ?? -Infinity);
		const all = [...this.inner.records()];
		const records = all.map((r) => ({ key: r.key, used: used(r) })).sort((a, b) => a.used - b.used);
		const order = new Map<string, null>(records.map((r) => [r.key, null]));
		for (const key of this.#early!.keys()) {
			if (!order.has(key)) continue;
			order.delete(key);
			order.set(key, null);
		}
		this.#early = undefined;
		this.#order = order;
		for (const r of all) this.#track(r);
		return order;
	}

	/** Counts the values `record` refers to (replacing what its key referred to before). */
	#track(record: CallRecord): void {
		this.#forget(record.key);
		const refs = [...new Set(referencedValues(record))];
		this.#refs.set(record.key, refs);
		for (const d of refs) {
			const n = this.#counts.get(d) ?? 0;
			this.#counts.set(d, n + 1);
			if (n > 0) continue;
			this.#orphans.delete(d);
			if (this.maxBytes === Infinity) continue;
			const size = this.inner.valueBytes(d) ?? 0;
			this.#sizes.set(d, size);
			this.#bytes += size;
		}
	}

	/** Stops counting the values the call `key` referred to; those no tracked call refers to any more are orphans. */
	#forget(key: string): void {
		const refs = this.#refs.get(key);
		if (refs === undefined) return;
		this.#refs.delete(key);
		for (const d of refs) {
			const n = this.#counts.get(d)! - 1;
			if (n > 0) {
				this.#counts.set(d, n);
				continue;
			}
			this.#counts.delete(d);
			this.#bytes -= this.#sizes.get(d) ?? 0;
			this.#sizes.delete(d);
			this.#orphans.add(d);
			this.#newOrphans++;
		}
	}

	private added(record: CallRecord): void {
		const order = this.order();
		const key = record.key;
		order.delete(key);
		order.set(key, null);
		this.#track(record);
		this.#shrink(order, key);
		this.#collect(order.size);
	}

	/** Evicts least recently used calls while over a limit; the newest call (`newest`) stays. */
	#shrink(order: Map<string, null>, newest: string): void {
		const custom = this.#pick !== undefined || this.pickEvictionTarget !== SizeLimitedCache.prototype.pickEvictionTarget;
		while (order.size > this.maxSize || (this.#bytes > this.maxBytes && order.size > 1)) {
			// The default needs only the oldest key: no array of every key on each save.
			// Over the count, every key is a candidate (as ever); over the bytes only, the newest call stays.
			const keys = custom ? [...order.keys()].filter((k) => k !== newest || order.size > this.maxSize) : undefined;
			const target = keys !== undefined ? this.pickEvictionTarget(keys) : order.keys().next().value!;
			if (!order.has(target)) throw new TypeError(`pickEvictionTarget returned ${String(target)}, which is not a tracked key`);
			order.delete(target);
			this.#forget(target);
			try {
				this.inner.evict(target);
			} catch (err) {
				if (!KeyError.is(err)) throw err; // evicted elsewhere meanwhile
			}
		}
	}

	/**
	 * Removes orphaned values, in batches: checking them reads every record of the store (another call, of this
	 * process or another, may still refer to one), so it runs once about a hundredth of the tracked calls' worth of
	 * orphans waits, and at once in a small cache.
	 */
	#collect(tracked: number): void {
		if (this.#newOrphans === 0 || this.#newOrphans < Math.ceil(tracked / 100)) return;
		this.#newOrphans = 0;
		const candidates = new Set<string>();
		for (const d of this.#orphans) if (!this.#pinned.has(d)) candidates.add(d);
		const { removed, young } = this.inner.collectValues(candidates, this.#graceMs);
		// Removed, or still referred to by a call this cache does not track: done with either. Young values of a shared
		// store stay orphans until a later batch finds them idle.
		const keep = new Set(young);
		for (const d of candidates) if (!keep.has(d)) this.#orphans.delete(d);
		void removed;
	}
}
