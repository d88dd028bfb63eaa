// docs/behaviour.md §1.10 `CachePool`, §2.4, §6: a read-only union of caches.
import type { CallRecord } from '../call.js';
import type { Expiry } from '../expiry.js';
import { Rejected } from '../errors.js';
import { BaseCache, membersExpiry, membersWrittenAt, type CacheConfig, type Hit, type PendingCall, type PreparedCall } from './base.js';
import { allKeys, expandAcross, firstHit, refusedPrepare, uniqueRecords } from './members.js';

/**
 * Several caches read as one, and never written (docs/behaviour.md §1.10): a read takes the first member that has the call
 * or value and copies nothing; `contains` is true when any member has it; queries list each call once, in member
 * order. Saves and evicts throw `Rejected`, and a cached function run against a pool executes and returns its result
 * uncached. An empty pool is harmless: every read misses. A pool is a good {@link BaseCache.transfer} source for
 * merging stores.
 *
 * Hits are not counted in the members' statistics: a pool writes nothing.
 * @example
 * ```ts
 * import { CachePool, cache } from 'fleche';
 * const everything = new CachePool([cache('alice'), cache('bob')]);
 * everything.transfer(cache('team'));
 * ```
 */
export class CachePool extends BaseCache {
	/** The members, searched in this order. */
	readonly caches: readonly BaseCache[];

	/** @param caches - the members, searched in order; may be empty. */
	constructor(caches: Iterable<BaseCache>) {
		super();
		const members = [...caches];
		for (const member of members) if (!(member instanceof BaseCache)) throw new TypeError('A CachePool takes caches only');
		this.caches = Object.freeze(members);
	}

	/** The members' max ages (the shortest applies) and the first stale-while-revalidate setting. @internal */
	override expiry(): Expiry | undefined {
		return membersExpiry(this.caches);
	}

	/** The first member's that can tell. @internal */
	override writtenAt(key: string): number | null {
		return membersWrittenAt(this.caches, key);
	}

	lookup(key: string): Hit | undefined {
		for (const member of this.caches) {
			const hit = member.lookup(key);
			if (hit !== undefined) return hit;
		}
		return undefined;
	}

	override get readOnly(): boolean {
		return true;
	}

	/** Digest-only: nothing is stored, and the commit is refused. */
	prepare(call: PendingCall): PreparedCall {
		return refusedPrepare(call.key, 'A CachePool is read-only');
	}

	loadRecord(key: string): CallRecord {
		return firstHit(this.caches, key, (member) => member.loadRecord(key)).value;
	}

	loadValue(key: string): unknown {
		return firstHit(this.caches, key, (member) => member.loadValue(key)).value;
	}

	/** @throws Rejected always. */
	saveValue(_value: unknown, _key?: string): string {
		throw new Rejected('A CachePool is read-only: it cannot store values');
	}

	/** @throws Rejected always. */
	saveRecord(record: CallRecord): void {
		throw new Rejected(`A CachePool is read-only: it cannot store ${record.key}`);
	}

	contains(key: string): boolean {
		return this.caches.some((member) => member.contains(key));
	}

	/** @throws Rejected always: evict from a member instead. */
	evict(key: string): void {
		throw new Rejected(`A CachePool is read-only: evict ${String(key)} from one of its members`);
	}

	records(filter?: { readonly name?: string }): Iterable<CallRecord> {
		return uniqueRecords(this.caches, filter);
	}

	expand(prefix: string): string {
		return expandAcross(this.caches, prefix);
	}

	keys(): Iterable<string> {
		return allKeys(this.caches);
	}

	/** `{ type: 'pool', caches: [...] }`. */
	toConfig(): CacheConfig {
		return { type: 'pool', caches: this.caches.map((member) => member.toConfig()) };
	}

	/** @throws Rejected always: run `gc()` on a member instead. */
	gc(): Set<string> {
		throw new Rejected('A CachePool is read-only: run gc() on one of its members');
	}

	override noteHit(_record: CallRecord): void {
		// Read-only: a pool writes nothing, statistics included.
	}

	override noteMiss(_record: CallRecord, _seconds: number): void {
		// Nothing was stored.
	}
}
