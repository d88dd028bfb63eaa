// docs/behaviour.md §1.10 `ReadOnlyCache`: a view of a cache that reads everything and writes nothing.
import type { CallRecord } from '../call.js';
import { Rejected } from '../errors.js';
import { compositions, type BaseCache, type CacheConfig, type PendingCall, type PreparedCall } from './base.js';
import { refusedPrepare } from './members.js';
import { CacheWrapper } from './wrapper.js';

/**
 * A cache that reads through to `inner` and refuses every write (docs/behaviour.md §1.10; `c.readonly()`; `read_only = true`
 * in `fleche.toml`). Saves, evicts and `gc()` throw `Rejected`. `prepare` stores nothing, so a cached function run
 * against it executes, returns its result, and warns "Cache rejected save" instead of storing it.
 *
 * Hits are not counted in the inner cache's statistics: a read-only view writes nothing, statistics included.
 * @example
 * ```ts
 * import { cache } from 'fleche';
 * using _ = cache(cache('team').readonly());
 * ```
 */
export class ReadOnlyCache extends CacheWrapper {
	/** What the `Rejected` errors say. */
	protected readonly refusal: string = 'The cache is read-only';

	override get readOnly(): boolean {
		return true;
	}

	/** Digest-only: nothing is stored, and the commit is refused. */
	override prepare(call: PendingCall): PreparedCall {
		return refusedPrepare(call.key, this.refusal);
	}

	/** @throws Rejected always. */
	override saveValue(_value: unknown, _key?: string): string {
		throw new Rejected(`${this.refusal}: it cannot store values`);
	}

	/** @throws Rejected always. */
	override saveRecord(record: CallRecord): void {
		throw new Rejected(`${this.refusal}: it cannot store ${record.key}`);
	}

	/** @throws Rejected always. */
	override evict(key: string): void {
		throw new Rejected(`${this.refusal}: it cannot evict ${String(key)}`);
	}

	/** @throws Rejected always. */
	override gc(): Set<string> {
		throw new Rejected(`${this.refusal}: gc() would remove values`);
	}

	/** This cache: it is read-only already. */
	override readonly(): ReadOnlyCache {
		return this;
	}

	/** `{ type: 'readonly', cache }`. */
	override toConfig(): CacheConfig {
		return { type: 'readonly', cache: this.inner.toConfig() };
	}

	override noteHit(_record: CallRecord): void {
		// Read-only: nothing is written, statistics included.
	}

	override noteMiss(_record: CallRecord, _seconds: number): void {
		// Nothing was stored.
	}
}

compositions.readonly = (cache: BaseCache) => new ReadOnlyCache(cache);

declare module './base.js' {
	interface CompositionTypes {
		readonly: ReadOnlyCache;
	}
}
