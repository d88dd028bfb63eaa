// docs/behaviour.md §1.10 `SizeLimitedCache`: a cache that keeps at most `maxSize` calls.
import type { CallRecord, Metadata } from '../call.js';
import { KeyError } from '../errors.js';
import type { CallStats } from '../storage/base.js';
import type { BaseCache, CacheConfig, Hit, PendingCall, PreparedCall } from './base.js';
import { CacheWrapper } from './wrapper.js';

/** Options of {@link SizeLimitedCache}. */
export interface SizeLimitedOptions {
	/** How many call records to keep; a positive integer. */
	readonly maxSize: number;
	/**
	 * Chooses the call to evict when there are more than `maxSize`: receives every tracked key, least recently used
	 * first, and returns one of them. Does not travel to workers (`toConfig`): they use the default.
	 * @default the first key: least recently used
	 */
	readonly pickEvictionTarget?: (keys: readonly string[]) => string;
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
 * Keeps at most `maxSize` calls in `inner` (docs/behaviour.md §1.10; `max_size = N` in `fleche.toml`): after each save, while
 * more are held, the least recently used call record is evicted. Lookups and loads count as use, unlike Python's
 * random choice. Only call records are evicted; their values stay until `gc()`.
 *
 * The order is tracked in this process, in memory. It is built lazily, the first time a save needs it, by listing
 * every record of `inner`, ordered by when each was last used: its last hit in the hit/miss statistics of the store
 * (file and SQL stores keep them across processes), else when it was computed (`runtime.timestop`; calls without
 * it count as the oldest). For a file store that reads one file per call, about
 * 30 µs each, so 3 s for 100,000 calls; then about 100 bytes per call. Uses seen before that moment are replayed on
 * top. Calls saved by other processes are not seen until a cache reopens the store, so with several writers the limit
 * is approximate.
 * @example
 * ```ts
 * import { SizeLimitedCache, cache } from 'fleche';
 * using _ = cache(new SizeLimitedCache(cache('default'), { maxSize: 1000 }));
 * ```
 */
export class SizeLimitedCache extends CacheWrapper {
	/** How many call records are kept. */
	readonly maxSize: number;
	readonly #pick: ((keys: readonly string[]) => string) | undefined;
	/** Tracked keys, least recently used first (a Map keeps insertion order; a use re-inserts). */
	#order: Map<string, null> | undefined;
	/** Uses seen before {@link #order} was built, in order. */
	#early: Map<string, null> | undefined = new Map();

	/** @throws TypeError when `maxSize` is not a positive integer. */
	constructor(inner: BaseCache, options: SizeLimitedOptions) {
		super(inner);
		const maxSize = options?.maxSize;
		if (!Number.isSafeInteger(maxSize) || maxSize < 1) throw new TypeError(`maxSize must be a positive integer, got ${String(maxSize)}`);
		if (options.pickEvictionTarget !== undefined && typeof options.pickEvictionTarget !== 'function') {
			throw new TypeError('pickEvictionTarget must be a function');
		}
		this.maxSize = maxSize;
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
		return {
			key: prepared.key,
			commit: (result: unknown, metadata: Metadata, options?: { async?: boolean }) => {
				const record = prepared.commit(result, metadata, options);
				this.added(record.key);
				return record;
			},
			abandon: () => prepared.abandon(),
		};
	}

	override saveRecord(record: CallRecord): void {
		this.inner.saveRecord(record);
		this.added(record.key);
	}

	override evict(key: string): void {
		const full = this.resolveKey(key);
		this.inner.evict(full);
		this.#order?.delete(full);
		this.#early?.delete(full);
	}

	/** `{ type: 'sizeLimited', cache, maxSize }`; a custom eviction policy is not included. */
	override toConfig(): CacheConfig {
		return { type: 'sizeLimited', cache: this.inner.toConfig(), maxSize: this.maxSize };
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
		const records = [...this.inner.records()].map((r) => ({ key: r.key, used: used(r) })).sort((a, b) => a.used - b.used);
		const order = new Map<string, null>(records.map((r) => [r.key, null]));
		for (const key of this.#early!.keys()) {
			if (!order.has(key)) continue;
			order.delete(key);
			order.set(key, null);
		}
		this.#early = undefined;
		this.#order = order;
		return order;
	}

	private added(key: string): void {
		const order = this.order();
		order.delete(key);
		order.set(key, null);
		const custom = this.#pick !== undefined || this.pickEvictionTarget !== SizeLimitedCache.prototype.pickEvictionTarget;
		while (order.size > this.maxSize) {
			// The default needs only the oldest key: no array of every key on each save.
			const target = custom ? this.pickEvictionTarget([...order.keys()]) : order.keys().next().value!;
			if (!order.has(target)) throw new TypeError(`pickEvictionTarget returned ${String(target)}, which is not a tracked key`);
			order.delete(target);
			try {
				this.inner.evict(target);
			} catch (err) {
				if (!KeyError.is(err)) throw err; // evicted elsewhere meanwhile
			}
		}
	}
}
