// docs/behaviour.md §1.10 `CacheStack`, §2.4, §3.4: layered caches — saves go to the first, reads fall through and back-fill it.
import type { CallRecord } from '../call.js';
import type { Expiry } from '../expiry.js';
import { KeyError, Rejected } from '../errors.js';
import { warn } from '../log.js';
import {
	BaseCache,
	membersExpiry,
	membersWrittenAt,
	compositions,
	isStack,
	stackBrand,
	type CacheConfig,
	type CollectedValues,
	type Hit,
	type Leasing,
	type PendingCall,
	type PreparedCall,
} from './base.js';
import type { GcOptions } from './base.js';
import { allKeys, expandAcross, firstHit, uniqueRecords } from './members.js';

/**
 * Caches in layers, fastest first (docs/behaviour.md §1.10): saves go to the first layer; a read tries each layer in order,
 * and a call found in a later layer is copied into the first (back-fill) so the next read is fast. `loadValue` takes
 * the first layer that has the value and copies nothing. `evict` removes the call from every layer. Queries list
 * each call once, first layer first.
 *
 * Stacks never nest: `new CacheStack([stack, c])` throws; {@link BaseCache.push} and `cache(c, { stack: true })`
 * flatten instead. Back-fill is atomic within a process (the check and the copy run without yielding), so
 * concurrent calls never copy one call twice; across processes, file stores' atomic renames make a double copy
 * harmless.
 *
 * Hit statistics go to the layer the call was found in, and keep going there after it was copied into the first layer
 * (so a memory layer in front of a file store leaves the hit counts in the file store, where tools read them).
 * @example
 * ```ts
 * import { CacheStack, Cache, ValueMemory, CallMemory, cache } from 'fleche';
 * const layered = new CacheStack([new Cache(new ValueMemory(), new CallMemory()), cache('default')]);
 * using _ = cache(layered);
 * ```
 */
export class CacheStack extends BaseCache {
	/** @internal */
	readonly [stackBrand] = true;
	/** The layers, first (where saves go) to last. */
	readonly stack: readonly BaseCache[];
	/** The layer that served the last hit, so its statistics get it; reads are synchronous, so it cannot be stale. */
	#servedBy: BaseCache | undefined;
	/**
	 * The layer each back-filled call came from. Later hits served by the first layer are counted there: the first
	 * layer is often memory, whose statistics no tool sees, while the call's history lives in the persistent layer.
	 */
	readonly #filledFrom = new Map<string, BaseCache>();
	readonly #filling = new Set<string>();
	#warnedRejected = false;

	/**
	 * @param stack - the layers, first to last; at least one, none of them a `CacheStack`.
	 * @throws TypeError for an empty stack, a nested stack, or something that is not a cache.
	 */
	constructor(stack: Iterable<BaseCache>) {
		super();
		const layers = [...stack];
		if (layers.length === 0) throw new TypeError('A CacheStack needs at least one cache');
		for (const layer of layers) {
			if (!(layer instanceof BaseCache)) throw new TypeError('A CacheStack takes caches only');
			if (isStack(layer)) throw new TypeError('A CacheStack cannot hold another CacheStack: use push() or spread its .stack');
		}
		this.stack = Object.freeze(layers);
	}

	private get first(): BaseCache {
		return this.stack[0]!;
	}

	/** The members' max ages (the shortest applies) and the first stale-while-revalidate setting. @internal */
	override expiry(): Expiry | undefined {
		return membersExpiry(this.stack);
	}

	/** The first member's that can tell. @internal */
	override writtenAt(key: string): number | null {
		return membersWrittenAt(this.stack, key);
	}

	/** The first layer's (saves go there). @internal */
	override valueBytes(digest: string): number | null {
		return this.first.valueBytes(digest);
	}

	/** The first layer's (saves go there). @internal */
	override collectValues(candidates: ReadonlySet<string>, graceMs: number): CollectedValues {
		return this.first.collectValues(candidates, graceMs);
	}

	lookup(key: string): Hit | undefined {
		const stack = this.stack;
		for (let i = 0; i < stack.length; i++) {
			const layer = stack[i]!;
			const hit = layer.lookup(key);
			if (hit === undefined) continue;
			this.#servedBy = layer;
			if (i > 0) this.backfill(hit.record, layer, hit.value);
			return hit;
		}
		return undefined;
	}

	prepare(call: PendingCall): PreparedCall {
		return this.first.prepare(call);
	}

	/** @internal */
	override damaged(key: string): boolean {
		return this.stack.some((layer) => layer.damaged(key));
	}

	/** The first layer's leases: a miss is stored there, so that is where other processes find it. @internal */
	override leasing(): Leasing | undefined {
		return this.first.leasing();
	}

	loadRecord(key: string): CallRecord {
		const { value: record, member } = firstHit(this.stack, key, (layer) => layer.loadRecord(key));
		if (member !== this.first && record.result !== null) this.backfill(record, member, undefined);
		return record;
	}

	loadValue(key: string): unknown {
		return firstHit(this.stack, key, (layer) => layer.loadValue(key)).value;
	}

	saveValue(value: unknown, key?: string): string {
		return this.first.saveValue(value, key);
	}

	saveRecord(record: CallRecord): void {
		this.first.saveRecord(record);
	}

	contains(key: string): boolean {
		return this.stack.some((layer) => layer.contains(key));
	}

	/**
	 * Removes the call from every layer. Layers that do not hold it, or refuse (read-only ones), are skipped.
	 * @throws KeyError when no layer held it; Rejected when the only layers holding it refused.
	 */
	evict(key: string): void {
		const full = this.resolveKey(key);
		let evicted = false;
		let refused: Rejected | undefined;
		for (const layer of this.stack) {
			try {
				layer.evict(full);
				evicted = true;
			} catch (err) {
				if (Rejected.is(err)) refused ??= err;
				else if (!KeyError.is(err)) throw err;
			}
		}
		this.#filledFrom.delete(full);
		if (evicted) return;
		throw refused ?? new KeyError(full);
	}

	records(filter?: { readonly name?: string }): Iterable<CallRecord> {
		return uniqueRecords(this.stack, filter);
	}

	expand(prefix: string): string {
		return expandAcross(this.stack, prefix);
	}

	keys(): Iterable<string> {
		return allKeys(this.stack);
	}

	/** `{ type: 'stack', caches: [...] }`: each layer's own description, first to last. */
	toConfig(): CacheConfig {
		return { type: 'stack', caches: this.stack.map((layer) => layer.toConfig()) };
	}

	/** A stack with `cache` (or its layers, for a stack) in front of these layers. */
	override push(cache: BaseCache): CacheStack {
		return new CacheStack([...(isStack(cache) ? cache.stack : [cache]), ...this.stack]);
	}

	/**
	 * Runs `gc()` on every layer that has one (layers that refuse are skipped) and returns every value digest removed.
	 */
	gc(options?: GcOptions): Set<string> {
		const removed = new Set<string>();
		for (const layer of this.stack) {
			const gc = (layer as { gc?: (options?: GcOptions) => Set<string> }).gc;
			if (typeof gc !== 'function') continue;
			try {
				for (const key of gc.call(layer, options)) removed.add(key);
			} catch (err) {
				if (!Rejected.is(err)) throw err;
			}
		}
		return removed;
	}

	override noteHit(record: CallRecord): void {
		const layer = this.#servedBy ?? this.first;
		this.#servedBy = undefined;
		(layer === this.first ? (this.#filledFrom.get(record.key) ?? layer) : layer).noteHit(record);
	}

	override noteMiss(record: CallRecord, seconds: number): void {
		// Computed again and saved in the first layer: its hits are the first layer's from now on.
		this.#filledFrom.delete(record.key);
		this.first.noteMiss(record, seconds);
	}

	/**
	 * Copies a call found in `from` into the first layer, values before the record so no reader ever sees the record
	 * without its result. Skipped when the first layer already has it or the copy is in progress; a refusal is a
	 * warning (once per stack), never a failed read.
	 */
	private backfill(record: CallRecord, from: BaseCache, result: unknown): void {
		const key = record.key;
		if (this.#filling.has(key)) return;
		this.#filling.add(key);
		const first = this.first;
		try {
			if (first.contains(key)) return;
			for (const name in record.arguments) copyValue(record.arguments[name]!, from, first);
			if (record.result !== null) {
				if (result === undefined) copyValue(record.result, from, first);
				else first.saveValue(result, record.result);
			}
			first.saveRecord(record);
			this.#filledFrom.set(key, from);
		} catch (err) {
			if (!this.#warnedRejected || !Rejected.is(err)) {
				if (Rejected.is(err)) this.#warnedRejected = true;
				warn('FLECHE_REJECTED', `Cache rejected save: back-fill of ${record.name} (${key}) into the first layer (${(err as Error).message})`, {
					cause: err,
				});
			}
		} finally {
			this.#filling.delete(key);
		}
	}
}

function copyValue(key: string, from: BaseCache, to: BaseCache): void {
	let value: unknown;
	try {
		value = from.loadValue(key);
	} catch (err) {
		if (KeyError.is(err)) return; // the source only had the digest (docs/behaviour.md §1.11)
		throw err;
	}
	to.saveValue(value, key);
}

compositions.stack = (caches) => new CacheStack(caches);

declare module './base.js' {
	interface CompositionTypes {
		stack: CacheStack;
	}
}
