// docs/behaviour.md §1.10 `Cache`, §1.11 `PreparedCall`: a value storage and a call storage working as one cache; §11
// hit/miss statistics.
import type { CallRecord, Metadata } from '../call.js';
import { savingResult } from '../classes.js';
import { digest, Digest } from '../digest.js';
import { AmbiguousDigestError, CorruptEntry, KeyError, Rejected, SaveError, Indigestible } from '../errors.js';
import { isStale, KEY_SCHEME } from '../key.js';
import { warnOnce } from '../log.js';
import type { CallStats, CallStorage, HeldValues, RecordWithValues, ValueStorage } from '../storage/base.js';
import { CallVoid } from '../storage/void.js';
import { distinctLength, distinctLengthBy, expandPrefix } from '../storage/keys.js';
import { isStatsStorage, StatsCounter } from '../stats.js';
import { packFiles, unpackFiles } from './fileValues.js';
import { BaseCache, type CacheConfig, type GcOptions, type CollectedValues, type Hit, type Leasing, type PendingCall, type PreparedCall } from './base.js';
import { checkLease, type LeaseOptions } from '../options.js';
import { kindOf } from '../storage/registry.js';
import { checkExpiry, expiryConfig, nowSeconds, type Expiry, type ExpiryOptions } from '../expiry.js';
import { durationSeconds } from '../duration.js';
import { createdOf } from '../storage/kinds.js';

export type { GcOptions } from './base.js';

/** Options of a {@link Cache}. */
export interface CacheStoreOptions extends ExpiryOptions {
	/**
	 * Whether a miss waits for the same call computing in another process that shares the store (docs/behaviour.md
	 * §3.6), and how long; `false` turns it off for every function using this cache. In `fleche.toml`: `lease = false`
	 * or `lease = { wait_seconds = 60, stale_seconds = 10 }` in the cache's section. Only storages whose kind offers
	 * leases (file, sql) share misses this way. @default true
	 */
	readonly lease?: boolean | LeaseOptions;
}

/**
 * A cache made of a value storage and a call storage (docs/behaviour.md §1.10). Values are content-addressed and stored
 * once; call records are separate and queryable without loading values.
 * @example
 * ```ts
 * import { Cache, ValueFile, CallFile, cache } from 'fleche';
 * const store = new Cache(new ValueFile({ root: '.cache/values' }), new CallFile({ root: '.cache/calls' }));
 * using _ = cache(store);
 * ```
 */
export class Cache extends BaseCache {
	/** Created on the first hit or miss; `null` when the call storage keeps nothing (void). */
	#counter: StatsCounter | null | undefined;

	/** The `lease` option as given. */
	readonly #lease: boolean | LeaseOptions | undefined;
	/** `maxAge` and `staleWhileRevalidate`, in seconds (docs/behaviour.md §18). */
	readonly #expiry: Expiry | undefined;
	/** Asked of the call storage's kind on the first miss; `null` when it offers none. */
	#leasing: Leasing | null | undefined;
	/**
	 * Where small values go: inside the call's own entry when the call storage can hold them and the value storage
	 * can pack them (the file store: one file per small call, docs/behaviour.md §2.6); `null` otherwise.
	 */
	readonly #held: HeldValues | null;
	/**
	 * Bytes of values inside call entries that this process could not read but that are not damaged (a class it has
	 * not registered, a newer format): a recompute here keeps them instead of writing its own reading of the value, as
	 * a value file that exists is never rewritten (left for the readers that can read it).
	 */
	readonly #kept = new Map<string, Uint8Array>();

	/** @throws TypeError for an invalid option. */
	constructor(
		/** Where argument values and results live, under their digests. */
		readonly values: ValueStorage,
		/** Where call records live, under their lookup keys. */
		readonly calls: CallStorage,
		options?: CacheStoreOptions,
	) {
		super();
		this.#lease = checkLease(options?.lease, 'Cache');
		this.#expiry = checkExpiry(options?.maxAge, options?.staleWhileRevalidate, 'Cache');
		this.#held = calls.held !== undefined && values.packOrPut !== undefined && values.unpack !== undefined ? calls.held : null;
	}

	/** @internal */
	override expiry(): Expiry | undefined {
		return this.#expiry;
	}

	/** When the call storage wrote the record (its kind's `created`: a file's mtime), for records without Runtime metadata. @internal */
	override writtenAt(key: string): number | null {
		return kindOf(this.calls)?.created?.(this.calls, key) ?? null;
	}

	/** The call storage's leases (its kind's `leases`), with this cache's `lease` option. @internal */
	override leasing(): Leasing | undefined {
		if (this.#leasing === undefined) {
			const leases = this.#lease === false ? undefined : kindOf(this.calls)?.leases?.(this.calls);
			this.#leasing = leases === undefined ? null : { leases, option: this.#lease };
		}
		return this.#leasing ?? undefined;
	}

	/**
	 * Keys whose call record was found damaged, or named a result value that could not be read. Their values may be
	 * damaged too, but a value file that exists is never rewritten (it is content-addressed): the recompute reads
	 * them first, so that the storage knows them as damaged and its `put` replaces them, and one recompute repairs the
	 * entry instead of the next read finding the damaged value.
	 */
	readonly #suspect = new Set<string>();

	lookup(key: string): Hit | undefined {
		let record: CallRecord | undefined;
		let inside: ReadonlyMap<string, Uint8Array> | undefined;
		let where = '';
		try {
			if (this.#held !== null) {
				const found = this.#held.find(key);
				record = found?.record;
				inside = found?.values;
				where = found?.where ?? '';
			} else record = this.calls.find === undefined ? this.calls.get(key) : this.calls.find(key);
		} catch (err) {
			return this.#recordMissed(key, err);
		}
		// A record of another key scheme is stale: a miss, recomputed and overwritten, never damage.
		if (record === undefined || record.result === null || isStale(record)) return undefined;
		const bytes = inside?.get(record.result);
		try {
			const stored = bytes === undefined ? this.values.get(record.result) : this.values.unpack!(record.result, bytes, where);
			return { record, value: unpackFiles(stored, this.values, record.result) };
		} catch (err) {
			if (bytes !== undefined && KeyError.is(err) && !CorruptEntry.is((err as Error).cause)) this.#keep(inside!);
			return this.#valueMissed(key, err);
		}
	}

	#keep(inside: ReadonlyMap<string, Uint8Array>): void {
		if (this.#kept.size >= 1024) this.#kept.clear();
		for (const [digest, bytes] of inside) this.#kept.set(digest, bytes);
	}

	/** {@link lookup} awaiting storages that answer asynchronously (both must); `undefined` otherwise. */
	override lookupAsync(key: string): Promise<Hit | undefined> | undefined {
		const { calls, values } = this;
		// A subclass that looks up its own way is asked synchronously.
		if (calls.findAsync === undefined || values.getAsync === undefined || this.lookup !== Cache.prototype.lookup) return undefined;
		return (async () => {
			let record: CallRecord | undefined;
			try {
				record = await calls.findAsync!(key);
			} catch (err) {
				return this.#recordMissed(key, err);
			}
			if (record === undefined || record.result === null || isStale(record)) return undefined;
			try {
				// A value holding files materialises them as a synchronous hit does (their bytes read synchronously).
				return { record, value: unpackFiles(await values.getAsync!(record.result), values, record.result) };
			} catch (err) {
				return this.#valueMissed(key, err);
			}
		})();
	}

	#recordMissed(key: string, err: unknown): undefined {
		if (KeyError.is(err)) {
			if (CorruptEntry.is((err as Error).cause)) this.#suspectOf(key);
			return undefined;
		}
		throw err;
	}

	#valueMissed(key: string, err: unknown): undefined {
		// A record whose result value is gone or corrupt is a miss; the rerun writes both again. The record may name
		// the wrong value (a damaged digest that still reads as one), so the rerun checks the values it writes.
		if (KeyError.is(err)) {
			this.#suspectOf(key);
			return undefined;
		}
		throw err;
	}

	/** @internal */
	override damaged(key: string): boolean {
		return this.#suspect.has(key);
	}

	#suspectOf(key: string): void {
		// Damage is rare; a store that is damaged everywhere must not make this set grow without bound.
		if (this.#suspect.size >= 1024) this.#suspect.clear();
		this.#suspect.add(key);
	}

	/** Reads the value under `key` if `callKey`'s record was damaged: a damaged value is reported, and replaced by the `put` that follows. @internal */
	verifyValue(callKey: string, key: string): void {
		if (!this.#suspect.has(callKey)) return;
		try {
			this.values.get(key);
		} catch (err) {
			if (!KeyError.is(err)) throw err;
		}
	}

	/** The recompute of a damaged entry was saved: its values are whole again. @internal */
	repaired(callKey: string): void {
		this.#suspect.delete(callKey);
	}

	prepare(call: PendingCall): PreparedCall {
		const bodies: Record<string, number> = {};
		// Values small enough to go inside the call's entry, serialized now (the body may change the objects it is given).
		const inside = this.#held === null ? null : new Map<string, Uint8Array>();
		for (const name in call.values) {
			const value = call.values[name];
			if (Digest.is(value)) continue;
			try {
				const digest = call.digests[name]!;
				this.verifyValue(call.key, digest);
				const packed = packFiles(value, this.values);
				this.#store(digest, packed === undefined ? value : packed.envelope, inside);
				if (packed !== undefined) Object.assign(bodies, packed.bodies);
			} catch (err) {
				if (!SaveError.is(err)) throw err;
				// Python keeps a digest-only reference (docs/behaviour.md §1.11): the call still caches, the argument just
				// cannot be shown or rerun later.
				warnOnce(
					`arg-not-stored:${call.module}:${call.name}:${name}`,
					'FLECHE_ARGUMENT_NOT_STORED',
					`Argument '${name}' of ${call.name} could not be stored (${err.message}); caching by its digest only`,
					{ fn: `${call.module}:${call.name}`, cause: err },
				);
			}
		}
		return new Prepared(this, call, bodies, inside, (record, held, made) => this.#saveCall(record, held, made));
	}

	/**
	 * Why a value held inside the entry of call `key` fails its checks (damaged, tampered), for `verify`; `undefined`
	 * when every one passes, or the entry is gone or holds none. Values this process cannot read but that are not
	 * damaged (a class not registered here) pass. @internal
	 */
	heldDamage(key: string): string | undefined {
		let found: RecordWithValues | undefined;
		try {
			found = this.#held?.find(key);
		} catch (err) {
			if (KeyError.is(err)) return undefined; // the record itself: verify's own check of it reports it
			throw err;
		}
		if (found === undefined) return undefined;
		for (const [digest, bytes] of found.values) {
			try {
				this.values.unpack!(digest, bytes, found.where);
			} catch (err) {
				if (!KeyError.is(err)) throw err;
				const cause = (err as Error).cause;
				if (CorruptEntry.is(cause)) return `value ${digest} inside it: ${(cause as Error).message}`;
			}
		}
		return undefined;
	}

	/** Stores a value under `digest`: inside the call's entry (`inside`) when it is new and small enough, else in the value storage. */
	#store(digest: string, value: unknown, inside: Map<string, Uint8Array> | null): void {
		if (inside === null) {
			this.values.put(digest, value);
			return;
		}
		const bytes = this.#kept.get(digest) ?? this.values.packOrPut!(digest, value, this.#held!.limit);
		if (bytes !== undefined) inside.set(digest, bytes);
	}

	/**
	 * Marks the argument values of `call` as in use now, just before its record is written: they were stored when the
	 * call started, perhaps longer ago than a concurrent gc's grace period. (Never written again here: the function
	 * may have changed the objects it was given.) @internal
	 */
	refreshArguments(call: PendingCall, inside?: ReadonlyMap<string, Uint8Array> | null): void {
		const values = this.values;
		if (values.refresh === undefined) return;
		for (const name in call.values) {
			const digest = call.digests[name]!;
			if (!Digest.is(call.values[name]) && !(inside?.has(digest) ?? false)) values.refresh(digest);
		}
	}

	loadRecord(key: string): CallRecord {
		return this.calls.get(key);
	}

	loadValue(key: string | Digest): unknown {
		const text = Digest.is(key) ? key.hex : key;
		const full = text.length === 64 ? text : this.values.expand(text);
		return unpackFiles(this.#valueOf(full), this.values, full);
	}

	/** The stored value under `digest`: its value file, else where a call's entry holds it (with no record at hand). */
	#valueOf(digest: string): unknown {
		// Seen inside a call's entry lately (a small value: most are): read from there first, sparing the value storage
		// a lookup that fails.
		const inside = this.#held?.value(digest, false);
		if (inside !== undefined) {
			let damage: unknown;
			try {
				return this.values.unpack!(digest, inside.bytes, inside.where);
			} catch (err) {
				if (!KeyError.is(err)) throw err;
				damage = err;
			}
			// Damaged there (reported): what the value storage holds, else that damage.
			try {
				return this.values.get(digest);
			} catch (err) {
				throw KeyError.is(err) ? damage : err;
			}
		}
		try {
			return this.values.get(digest);
		} catch (err) {
			if (this.#held === null || !KeyError.is(err)) throw err;
			const found = this.#held.value(digest);
			if (found === undefined) throw err;
			return this.values.unpack!(digest, found.bytes, found.where);
		}
	}

	saveValue(value: unknown, key?: string): string {
		// A value holding files is stored under the digest of its stored form, which names every file and directory: a
		// directory's own name is not part of its digest as an argument, but a hit must give it back.
		const packed = packFiles(value, this.values);
		const stored = packed === undefined ? value : packed.envelope;
		const k = key ?? digestForSave(stored);
		this.values.put(k, stored);
		return k;
	}

	/** Stores a result: its key, and the keys of the file bodies it refers to. @internal */
	saveResult(value: unknown, callKey: string, inside?: Map<string, Uint8Array> | null): { key: string; bodies: Readonly<Record<string, number>> } {
		const packed = packFiles(value, this.values);
		const stored = packed === undefined ? value : packed.envelope;
		const key = digestForSave(stored);
		this.verifyValue(callKey, key);
		this.#store(key, stored, inside ?? null);
		return { key, bodies: packed?.bodies ?? noBodies };
	}

	saveRecord(record: CallRecord): void {
		const held = this.#held;
		if (held === null) {
			this.calls.put(record);
			return;
		}
		// A record copied from another (rekey, a transfer within the store) names values that may be inside the call
		// file it was read from, and not in the value storage: they come along into its own.
		const inside = new Map<string, Uint8Array>();
		for (const digest of [...Object.values(record.arguments), ...(record.result === null ? [] : [record.result])]) {
			if (inside.has(digest)) continue;
			const found = held.value(digest, false);
			if (found !== undefined) inside.set(digest, found.bytes);
		}
		if (inside.size > 0) held.put(record, inside);
		else this.calls.put(record);
	}

	/**
	 * Writes a committed call's record, with the values that go inside its entry; `made` when it is the record a miss
	 * made, deeply frozen (see {@link frozenAsMade}).
	 */
	#saveCall(record: CallRecord, inside: ReadonlyMap<string, Uint8Array> | null, made: boolean): void {
		if (inside === null) {
			const calls = this.calls;
			// Only a storage that keeps every value apart may keep records as objects (a memory storage).
			if (made && calls.adopt !== undefined) calls.adopt(record);
			else this.saveRecord(record);
		} else this.#held!.put(record, inside, made);
	}

	contains(key: string | Digest): boolean {
		const text = Digest.is(key) ? key.hex : key;
		if (text.length === 64) return this.calls.contains(text);
		try {
			return this.calls.contains(this.calls.expand(text));
		} catch (err) {
			if (KeyError.is(err)) return false;
			throw err;
		}
	}

	evict(key: string | Digest): void {
		const text = Digest.is(key) ? key.hex : key;
		this.calls.evict(text.length === 64 ? text : this.calls.expand(text));
		this.#counter?.evicted();
	}

	records(filter?: { readonly name?: string }): Iterable<CallRecord> {
		return this.calls.records(filter);
	}

	expand(prefix: string): string {
		const found = new Set<string>();
		let ambiguous: AmbiguousDigestError | undefined;
		for (const storage of [this.calls, this.values]) {
			try {
				found.add(storage.expand(prefix));
			} catch (err) {
				if (AmbiguousDigestError.is(err)) ambiguous = err;
				else if (!KeyError.is(err)) throw err;
			}
		}
		if (ambiguous !== undefined) throw ambiguous;
		if (found.size === 1) return [...found][0]!;
		if (found.size === 0) throw new KeyError(prefix, `No call or value matches prefix ${prefix}`);
		// A call key and a value digest share the prefix: the message names the length that tells them apart.
		return expandPrefix(prefix, found);
	}

	*keys(): Iterable<string> {
		yield* this.calls.list();
		yield* this.values.list();
	}

	/**
	 * As {@link BaseCache.shrink}, asking a storage whose prefixes are answered from an index (a database) about each
	 * key, and listing only the others: shrinking the page of keys `fleche ls` shows read every key of a
	 * 1,000,000-call PostgreSQL store (12 s, 1 GB).
	 */
	override shrink(key: string): string;
	override shrink(...keys: string[]): string[];
	override shrink(...keys: string[]): string | string[] {
		const storages = [this.calls, this.values];
		if (!storages.some((s) => s.expandsByIndex === true)) return keys.length === 1 ? super.shrink(keys[0]!) : super.shrink(...keys);
		const listed = storages.filter((s) => s.expandsByIndex !== true).flatMap((s) => [...s.list()]);
		const sorted = [...new Set(listed)].sort();
		const shrunk = keys.map((key) => {
			if (!storages.some((s) => s.contains(key))) throw new KeyError(key, `No cache entry for key ${key}`);
			let length = distinctLength(key, sorted);
			for (const s of storages)
				if (s.expandsByIndex === true)
					length = Math.max(
						length,
						distinctLengthBy(key, (prefix) => s.expand(prefix)),
					);
			if (length >= key.length) throw new AmbiguousDigestError(key, length);
			return key.slice(0, length);
		});
		return keys.length === 1 ? shrunk[0]! : shrunk;
	}

	/**
	 * Removes values no call record refers to (left behind by `evict`, abandoned calls, or interrupted runs), and
	 * temporaries of writers and leases of computations that were killed. Safe beside writers in other processes: a value written or refreshed
	 * (stored again by a call that refers to it) within the grace period is kept, so a call being committed never loses
	 * its arguments or result. Returns the digests it removed.
	 * @example
	 * ```ts
	 * cache().gc({ graceSeconds: 0 }); // nothing else writes: remove every orphan now
	 * ```
	 */
	gc(options?: GcOptions): Set<string> {
		return new Set(this.collect(options).values);
	}

	/**
	 * {@link gc} with a report: with `olderThan`, first evicts the calls computed longer ago than that (docs/behaviour.md
	 * §18; a call whose age cannot be told stays), then removes the values no remaining call refers to. With `dryRun`,
	 * removes nothing and reports what it would remove (values: every unreferenced one, young ones included, which a
	 * real run keeps for the grace period).
	 * @example
	 * ```ts
	 * const { calls, values } = store.collect({ olderThan: '30d' });
	 * ```
	 */
	collect(options?: GcOptions): GcReport {
		const graceSeconds = options?.graceSeconds ?? DEFAULT_GC_GRACE_SECONDS;
		if (!(graceSeconds >= 0)) throw new TypeError(`gc(): graceSeconds must be a number ≥ 0, got ${String(graceSeconds)}`);
		const olderThan = options?.olderThan === undefined ? undefined : durationSeconds(options.olderThan, "gc(): 'olderThan'");
		const dryRun = options?.dryRun === true;
		const graceMs = graceSeconds * 1000;
		const calls = olderThan === undefined ? [] : this.#evictOlderThan(olderThan, dryRun);
		const doomed = new Set(calls);
		// A store that tells its unreferenced values itself (a database) is asked, unless a dry run's doomed calls are
		// still there to be left out.
		const told = dryRun && doomed.size > 0 ? undefined : kindOf(this.calls)?.orphans?.(this.calls, this.values, FILES_METADATA);
		// Values are listed before records are read: a value stored after the listing is not a candidate at all, and
		// one stored before it belongs to a record written after it (its writer stores values first), or is young.
		const candidates = told !== undefined ? [...told] : [...this.values.list()];
		const live = new Set<string>();
		if (told === undefined) {
			for (const record of this.calls.records()) {
				if (dryRun && doomed.has(record.key)) continue;
				for (const key of referencedValues(record)) live.add(key);
			}
		}
		const removed: string[] = [];
		const values = this.values;
		for (const key of candidates) {
			if (live.has(key)) continue;
			if (dryRun) {
				removed.push(key);
				continue;
			}
			try {
				if (values.evictIdle !== undefined ? values.evictIdle(key, graceMs) : (values.evict(key), true)) removed.push(key);
			} catch (err) {
				if (!KeyError.is(err)) throw err; // removed by someone else meanwhile
			}
		}
		if (!dryRun) {
			values.sweep?.(graceMs);
			this.calls.sweep?.(graceMs);
			// Leases whose holders are gone (killed mid-call); live holders' leases stay, whatever the grace period.
			kindOf(this.calls)?.leases?.(this.calls)?.sweep?.();
		}
		return { calls, values: removed, dryRun };
	}

	/** @internal */
	override valueBytes(digest: string): number | null {
		// A value seen inside a call's entry has the bytes its value file would have: known without a `stat`.
		return this.#held?.sizeOf(digest) ?? kindOf(this.values)?.valueSize?.(this.values, digest) ?? null;
	}

	/** @internal */
	override collectValues(candidates: ReadonlySet<string>, graceMs: number): CollectedValues {
		const removed: string[] = [];
		const young: string[] = [];
		if (candidates.size === 0) return { removed, young };
		const left = new Set(candidates);
		for (const record of this.calls.records()) for (const key of referencedValues(record)) left.delete(key);
		const values = this.values;
		for (const key of left) {
			try {
				if (values.evictIdle !== undefined ? values.evictIdle(key, graceMs) : (values.evict(key), true)) removed.push(key);
				else young.push(key);
			} catch (err) {
				if (!KeyError.is(err)) throw err; // gone already
			}
		}
		return { removed, young };
	}

	/** Evicts (or with `dryRun` lists) the calls computed more than `seconds` ago; returns their keys. */
	#evictOlderThan(seconds: number, dryRun: boolean): string[] {
		const cutoff = nowSeconds() - seconds;
		const old = (record: CallRecord): boolean => {
			const at = createdOf(record) ?? this.writtenAt(record.key);
			return at !== null && at < cutoff;
		};
		const out: string[] = [];
		for (const record of [...this.calls.records()]) {
			if (!old(record)) continue;
			if (dryRun) {
				out.push(record.key);
				continue;
			}
			try {
				// Read again just before: another process may have computed the call afresh since the listing.
				const now = this.calls.find === undefined ? this.calls.get(record.key) : this.calls.find(record.key);
				if (now === undefined || !old(now)) continue;
				this.calls.evict(record.key);
				out.push(record.key);
			} catch (err) {
				if (!KeyError.is(err)) throw err; // gone or damaged meanwhile: not this gc's to judge
			}
		}
		return out;
	}

	toConfig(): CacheConfig {
		return {
			type: 'cache',
			values: this.values.toConfig(),
			calls: this.calls.toConfig(),
			...(this.#lease === undefined ? {} : { lease: this.#lease }),
			...expiryConfig(this.#expiry),
		};
	}

	#stats(): StatsCounter | null {
		if (this.#counter === undefined) {
			const calls = this.calls;
			this.#counter = calls instanceof CallVoid ? null : new StatsCounter(isStatsStorage(calls) ? calls : null, undefined, (key) => calls.contains(key));
		}
		return this.#counter;
	}

	/** Counts a hit in memory; storages that persist statistics get it in the next batch (within a second). @internal */
	override noteHit(record: CallRecord): void {
		(this.#counter ?? this.#stats())?.hit(record);
	}

	/** Counts a miss and its compute time, like {@link Cache.noteHit}. @internal */
	override noteMiss(record: CallRecord, seconds: number): void {
		(this.#counter ?? this.#stats())?.miss(record, seconds);
	}

	/**
	 * Hit/miss statistics per call, summed over every process that used this store: what the call storage persisted
	 * (file and SQL storages do) plus what this process counted and has not written yet. With a call storage that
	 * persists nothing (memory), the counts of this process only. Calls evicted since keep their statistics; in a cache
	 * that evicts (a size-limited memory cache), those of the calls it no longer holds are summed per function, once
	 * there are more than 10,000 entries and twice as many as it holds, into one entry per function with key `''`.
	 * @example
	 * ```ts
	 * const hits = cache().stats({ name: 'fetchPage' }).reduce((n, s) => n + s.hits, 0);
	 * ```
	 */
	stats(filter?: { readonly name?: string; readonly module?: string | null }): CallStats[] {
		const counter = this.#stats();
		if (counter !== null) return counter.stats(filter);
		return isStatsStorage(this.calls) ? [...this.calls.stats(filter)] : [];
	}

	/** Writes the statistics this cache counted to its call storage now instead of within the next second. */
	flushStats(): void {
		this.#counter?.flush();
	}
}

/** The digest a value is stored under. @throws SaveError when it cannot be digested. */
function digestForSave(value: unknown): string {
	try {
		return digest(value);
	} catch (err) {
		if (Indigestible.is(err)) throw new SaveError(`Cannot store a value fleche cannot digest: ${err.message}`, { cause: err });
		throw err;
	}
}

/** What {@link Cache.collect} removed, or with `dryRun` would remove. */
export interface GcReport {
	/** Keys of the calls evicted for being older than `olderThan`. */
	readonly calls: readonly string[];
	/** Digests of the values removed because no call refers to them. */
	readonly values: readonly string[];
	/** Whether nothing was removed (`dryRun`). */
	readonly dryRun: boolean;
}

/** The values a call record refers to: its arguments, its result, and the bodies of the files they hold. @internal */
export function* referencedValues(record: CallRecord): Iterable<string> {
	for (const name in record.arguments) yield record.arguments[name]!;
	if (record.result !== null) yield record.result;
	// The bytes of the files a call's arguments and result hold (see ./fileValues.ts).
	const files = record.metadata?.[FILES_METADATA];
	if (files !== undefined && files !== null && typeof files === 'object') for (const body in files) yield body;
}

/** How long `gc()` keeps a value after it was last written or referred to, by default: 10 minutes. */
export const DEFAULT_GC_GRACE_SECONDS = 600;

/** Immutable as it is, and what a copy of plain data keeps: not an object, a function or a symbol. */
function isAtom(v: unknown): boolean {
	return v === null || (typeof v !== 'object' && typeof v !== 'function' && typeof v !== 'symbol');
}

/**
 * Freezes a record a miss just made of parts the protocol owns (`PendingCall.owned`): its arguments, its metadata and
 * each namespace in it, when every namespace holds atoms only; then it is deeply frozen plain data, which a memory
 * store keeps without copying it (copying was a tenth of a memory-cache miss) and a file store writes without checking
 * it again (its key recomputed, its JSON read back: a sixth of a file-store miss's own work). Nothing is frozen, and
 * the storage copies and checks, when a namespace holds an object (a tag's nested value may be the program's own).
 */
function frozenAsMade(record: CallRecord): boolean {
	const metadata = record.metadata;
	for (const name in metadata) {
		const space = metadata[name]!;
		if (typeof space !== 'object' || space === null || Object.getPrototypeOf(space) !== Object.prototype) return false;
		for (const key in space) if (!isAtom(space[key])) return false;
	}
	for (const name in metadata) Object.freeze(metadata[name]);
	Object.freeze(metadata);
	Object.freeze(record.arguments);
	Object.freeze(record);
	return true;
}

/** The file bodies of a value that holds no file (most of them). */
const noBodies: Readonly<Record<string, number>> = Object.freeze({});

/** The metadata namespace naming the file bodies (key → bytes) a call's stored values refer to; gc keeps them. */
export const FILES_METADATA = 'files';

class Prepared implements PreparedCall {
	private state: 'open' | 'committed' | 'abandoned' = 'open';

	constructor(
		private readonly cache: Cache,
		private readonly call: PendingCall,
		/** File bodies the argument values refer to. */
		private readonly bodies: Record<string, number>,
		/** Values that go inside the call's entry (`null`: its storages keep every value apart). */
		private readonly inside: Map<string, Uint8Array> | null,
		/** Writes the record (with `inside`); `made` when it is deeply frozen plain data (see {@link frozenAsMade}). */
		private readonly saveCall: (record: CallRecord, inside: ReadonlyMap<string, Uint8Array> | null, made: boolean) => void,
	) {}

	get key(): string {
		return this.call.key;
	}

	commit(result: unknown, metadata: Metadata, options?: { async?: boolean }): CallRecord {
		if (this.state !== 'open') throw new Error(`PreparedCall ${this.call.key} was already ${this.state}`);
		this.state = 'committed';
		let resultKey: string;
		let bodies = this.bodies;
		try {
			const saved = savingResult(() => this.cache.saveResult(result, this.call.key, this.inside));
			resultKey = saved.key;
			// Most results hold no file: no new object for them on every miss.
			if (saved.bodies !== noBodies) bodies = { ...bodies, ...saved.bodies };
		} catch (err) {
			if (Rejected.is(err)) throw err;
			throw new SaveError(`Could not store the result of ${this.call.name}: ${(err as Error).message}`, { cause: err });
		}
		this.cache.refreshArguments(this.call, this.inside);
		const record: CallRecord = {
			key: this.call.key,
			name: this.call.name,
			module: this.call.module,
			version: this.call.version,
			codeDigest: this.call.codeDigest,
			arguments: this.call.digests,
			result: resultKey,
			metadata: Object.keys(bodies).length === 0 ? metadata : { ...metadata, [FILES_METADATA]: bodies },
			...(options?.async ? { async: true } : {}),
			scheme: KEY_SCHEME,
		};
		this.saveCall(record, this.inside, this.call.owned === true && frozenAsMade(record));
		this.cache.repaired(this.call.key);
		return record;
	}

	abandon(): void {
		if (this.state === 'open') this.state = 'abandoned';
	}
}
