// docs/behaviour.md §1.10 `CacheWrapper`, `RefreshingCache`, §6 rerun: caches that change one policy of another cache.
import type { CallRecord } from '../call.js';
import { KeyError } from '../errors.js';
import { BaseCache, type CacheConfig, type CollectedValues, type Hit, type Leasing, type PendingCall, type PreparedCall } from './base.js';
import type { GcOptions } from './base.js';
import type { Expiry } from '../expiry.js';

/** A cache that forwards everything to `inner`; subclasses override the policy they change. */
export abstract class CacheWrapper extends BaseCache {
	constructor(
		/** The wrapped cache. */
		readonly inner: BaseCache,
	) {
		super();
	}
	override get readOnly(): boolean {
		return this.inner.readOnly;
	}
	override get refreshing(): boolean {
		return this.inner.refreshing;
	}
	/** @internal */
	override damaged(key: string): boolean {
		return this.inner.damaged(key);
	}
	/** The inner cache's leases, unless this cache stores nothing or misses on purpose. @internal */
	override leasing(): Leasing | undefined {
		return this.readOnly || this.refreshing ? undefined : this.inner.leasing();
	}
	/** @internal */
	override expiry(): Expiry | undefined {
		return this.inner.expiry();
	}
	/** @internal */
	override writtenAt(key: string): number | null {
		return this.inner.writtenAt(key);
	}
	/** @internal */
	override valueBytes(digest: string): number | null {
		return this.inner.valueBytes(digest);
	}
	/** @internal */
	override collectValues(candidates: ReadonlySet<string>, graceMs: number): CollectedValues {
		return this.readOnly ? { removed: [], young: [] } : this.inner.collectValues(candidates, graceMs);
	}
	lookup(key: string): Hit | undefined {
		return this.inner.lookup(key);
	}
	prepare(call: PendingCall): PreparedCall {
		return this.inner.prepare(call);
	}
	loadRecord(key: string): CallRecord {
		return this.inner.loadRecord(key);
	}
	loadValue(key: string): unknown {
		return this.inner.loadValue(key);
	}
	saveValue(value: unknown, key?: string): string {
		return this.inner.saveValue(value, key);
	}
	saveRecord(record: CallRecord): void {
		this.inner.saveRecord(record);
	}
	contains(key: string): boolean {
		return this.inner.contains(key);
	}
	evict(key: string): void {
		this.inner.evict(key);
	}
	records(filter?: { readonly name?: string }): Iterable<CallRecord> {
		return this.inner.records(filter);
	}
	expand(prefix: string): string {
		return this.inner.expand(prefix);
	}
	keys(): Iterable<string> {
		return this.inner.keys();
	}
	toConfig(): CacheConfig {
		return this.inner.toConfig();
	}
	/**
	 * The inner cache's `gc()`: removes values no call record refers to and returns their digests.
	 * @throws TypeError when the inner cache has no `gc()`.
	 */
	gc(options?: GcOptions): Set<string> {
		const gc = (this.inner as { gc?: (options?: GcOptions) => Set<string> }).gc;
		if (typeof gc !== 'function') throw new TypeError(`${this.inner.constructor.name} has no gc()`);
		return gc.call(this.inner, options);
	}
	override noteHit(record: CallRecord): void {
		this.inner.noteHit(record);
	}
	override noteMiss(record: CallRecord, seconds: number): void {
		this.inner.noteMiss(record, seconds);
	}
}

/**
 * Every lookup misses, so every cached call inside runs again and overwrites its entry; used by
 * `f.fleche.rerun(...)` (docs/behaviour.md §1.3, §6 rerun semantics). Values still load, so digests passed as arguments work.
 * @example
 * ```ts
 * cache(new RefreshingCache(cache()), () => compute(3)); // recomputes compute(3) and everything it calls
 * ```
 */
export class RefreshingCache extends CacheWrapper {
	override get refreshing(): boolean {
		return true;
	}
	override lookup(): Hit | undefined {
		return undefined;
	}
	override contains(): boolean {
		return false;
	}
	override loadRecord(key: string): CallRecord {
		throw new KeyError(key, `Refreshing: ${key} is treated as missing`);
	}
}
