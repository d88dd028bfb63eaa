// docs/behaviour.md §1.12, §2.4: the storage layers every backend implements. All operations are synchronous so that a
// synchronous cached function can hit or miss without becoming async.
import type { CallRecord } from '../call.js';

/**
 * Where a storage lives, as plain data that can cross a worker boundary and be opened again there
 * (docs/behaviour.md §3.2: workers get configuration, never live handles).
 */
export type StorageConfig =
	| { readonly type: 'memory' }
	| { readonly type: 'void' }
	| {
			readonly type: 'file';
			readonly root: string;
			readonly serializer?: 'v8' | 'json';
			readonly compress?: boolean;
			/** Hex-encoded keys; the first signs, all verify. */
			readonly secretKey?: readonly string[];
			/** Calls only: the largest value kept inside a call file (`CallFileOptions.inlineValues`). */
			readonly inlineValues?: number;
	  }
	| { readonly type: string; readonly [option: string]: unknown };

/** Key operations common to value and call storage (docs/behaviour.md §1.12 `KeyManagement`). */
export interface KeyManagement {
	/** Every full key held. */
	list(): Iterable<string>;
	/** Whether `key` (a full 64-hex key) is held. Never throws for a missing key. */
	contains(key: string): boolean;
	/** Removes `key`; throws {@link KeyError} when it is not there. */
	evict(key: string): void;
	/**
	 * The full key for a prefix of at least 4 hex characters (docs/behaviour.md §2.4); throws `KeyError` when nothing
	 * matches and `AmbiguousDigestError` when several keys do.
	 */
	expand(prefix: string): string;
	/**
	 * Whether {@link expand} answers from an index (a database's range read) rather than from a listing: a cache's
	 * `shrink` then asks it about each key instead of listing every key held. Optional.
	 */
	readonly expandsByIndex?: boolean;
	/** Plain-data description of this storage, or where it cannot be reopened elsewhere, its type alone. */
	toConfig(): StorageConfig;
	/**
	 * Removes `key` unless it was written or refreshed (by a `put` of the same key) in the last `graceMs` milliseconds,
	 * so that `gc` beside writers in other processes never removes what a call being committed refers to. Returns
	 * whether it removed it; `KeyError` when it is not there. Storages only one process uses need not have it.
	 */
	evictIdle?(key: string, graceMs: number): boolean;
	/** Removes temporaries left by writers that were killed, when not written for `graceMs`; returns how many. */
	sweep?(graceMs: number): number;
}

/** Content-addressed value storage: each value under `digest(value)` (docs/behaviour.md §2.1). */
export interface ValueStorage extends KeyManagement {
	/**
	 * Stores `value` under `key` (its digest, already computed by the caller) unless already held.
	 * Throws {@link SaveError} when the value cannot be serialized or written.
	 */
	put(key: string, value: unknown): void;
	/**
	 * Returns a fresh copy of the value under `key`. Throws {@link KeyError} on a miss; a corrupt or tampered entry
	 * is reported through the logger and also thrown as `KeyError` (never removed by a read: the next `put` of the same
	 * key replaces it).
	 */
	get(key: string): unknown;
	/**
	 * As {@link get}, without blocking the event loop: what storages that wait for a server offer, so that async
	 * cached functions look up without stopping the thread. Optional.
	 */
	getAsync?(key: string): Promise<unknown>;
	/**
	 * Marks the value under `key` as in use now, so that `gc`'s grace period counts from now (a call that refers to
	 * it is about to be committed); returns whether it is held. Storages only one process uses need not have it.
	 */
	refresh?(key: string): boolean;
	/**
	 * Stores `value` under `key` as {@link put} does, unless it is not held yet and its entry would be at most `limit`
	 * bytes (format, checksum and signature included): then returns those bytes, unwritten, for a call storage to keep
	 * inside the call's own entry (see {@link HeldValues}). Throws {@link SaveError} as `put` does. Optional.
	 */
	packOrPut?(key: string, value: unknown, limit: number): Uint8Array | undefined;
	/**
	 * The value in bytes made by {@link packOrPut}, checked as `get` checks an entry: damaged, tampered or another key's
	 * bytes are reported (naming `where`) and thrown as `KeyError`. Optional; storages with `pack` have it.
	 */
	unpack?(key: string, bytes: Uint8Array, where: string): unknown;
}

/** A call record with the values its own entry holds (digest → bytes from {@link ValueStorage.packOrPut}). */
export interface RecordWithValues {
	readonly record: CallRecord;
	readonly values: ReadonlyMap<string, Uint8Array>;
	/** Where the entry is (a file's path), for messages about a damaged value in it. */
	readonly where: string;
}

/**
 * What a call storage offers that can keep a call's small values inside the call's own entry (docs/behaviour.md
 * §2.6, the file store: one file per small call): the cache stores the values of at most `limit` bytes there, and the
 * rest in the value storage as before. A value held this way is still found by its digest alone (`value`), for the
 * readers that have no record at hand (tools, transfers).
 */
export interface HeldValues {
	/** Largest value (its packed bytes) an entry holds; larger ones go to the value storage. */
	readonly limit: number;
	/**
	 * Writes the record with `values` (bytes from `ValueStorage.packOrPut`) inside its entry, in one atomic write.
	 * `made`: the record is one the cache made for a miss, deeply frozen, its key computed from its fields; the
	 * storage may skip the checks it makes of a record a program gives it (recomputing the key, reading it back).
	 */
	put(record: CallRecord, values: ReadonlyMap<string, Uint8Array>, made?: boolean): void;
	/** The record under `key` with the values its entry holds; `undefined` when none is stored; damaged entries as `find`. */
	find(key: string): RecordWithValues | undefined;
	/**
	 * The bytes of the value `digest` held in some call entry, and which entry (for messages); `undefined` when none
	 * holds it. With `search` false, only where this storage last saw it is looked at (no pass over the store).
	 */
	value(digest: string, search?: boolean): { readonly bytes: Uint8Array; readonly where: string } | undefined;
	/** Bytes of the held value `digest` when this storage has seen it (nothing is read); `undefined` otherwise. */
	sizeOf(digest: string): number | undefined;
}

/** Call-record storage, queryable without loading any value (docs/behaviour.md §2.1). */
export interface CallStorage extends KeyManagement {
	/** Writes (or overwrites) the record under `record.key`. Throws {@link SaveError} when it cannot be written. */
	put(record: CallRecord): void;
	/**
	 * {@link put} of a record that is deeply frozen plain data which the cache made for a miss, with nothing else
	 * holding a part that is not frozen: a storage that keeps records as objects keeps this one as it is, where `put`
	 * would keep a copy. Optional. @internal
	 */
	adopt?(record: CallRecord): void;
	/** The record under `key`; `KeyError` on a miss; corrupt records are reported and thrown as misses (left in place). */
	get(key: string): CallRecord;
	/**
	 * The record under `key`, or `undefined` when none is stored there; a damaged record throws as in `get`. What a
	 * cache lookup uses when the storage has it: a miss is the common case of a lookup, and building a `KeyError` (its
	 * stack trace) for each one cost a memory miss more than a third of its time.
	 */
	find?(key: string): CallRecord | undefined;
	/** As {@link find}, without blocking the event loop (see `ValueStorage.getAsync`). Optional. */
	findAsync?(key: string): Promise<CallRecord | undefined>;
	/** Every record, optionally only those of one function name (a backend may use an index for that). */
	records(filter?: { readonly name?: string }): Iterable<CallRecord>;
	/** Small values kept inside the calls' own entries (see {@link HeldValues}); absent when this storage cannot. */
	readonly held?: HeldValues;
}

/**
 * Who holds a call's lease (docs/behaviour.md §3.6): what a process that could not take it learns, and what a tool
 * lists as a call in flight.
 */
export interface LeaseHolder {
	/** The holder's owner id, as it passed it to {@link CallLeases.lease} (host, process, thread and a random part). */
	readonly owner: string;
	/** When it took the lease, in milliseconds since the epoch; `null` when the storage cannot tell. */
	readonly since: number | null;
	/** Its last sign of life (heartbeat), in milliseconds since the epoch; `null` when the storage cannot tell. */
	readonly heartbeat: number | null;
}

/** A held lease as a tool lists it: the call key with its holder. */
export interface HeldLease extends LeaseHolder {
	readonly key: string;
	/**
	 * Whether the storage judges the holder gone (its process ended, or no sign of life within its stale time): its
	 * call is no longer in flight, and the next taker takes the lease over. Absent when the storage cannot tell.
	 */
	readonly gone?: boolean;
}

/** What {@link CallLeases.lease} answers: the lease is now the caller's, or someone else holds it. */
export type LeaseAttempt = { readonly acquired: true } | { readonly acquired: false; readonly holder: LeaseHolder };

/** What a holder promises when it takes a lease, so that others can tell a live holder from a dead one. */
export interface LeaseTerms {
	/** After this many milliseconds without a heartbeat, the holder counts as gone and its lease may be taken over. */
	readonly staleMs: number;
	/**
	 * Whether the holder sends heartbeats. A synchronous body blocks its thread, so it cannot: a storage that can tell
	 * whether the holder's process is alive (the same host) relies on that instead, and others on `staleMs`.
	 */
	readonly heartbeats: boolean;
}

/**
 * Per-key leases that processes sharing a store use so that an uncached call runs in one of them while the others
 * wait for its result (docs/behaviour.md §3.6): an optional capability of a call storage, offered through its kind
 * (`StorageKind.leases`). A lease is advisory — it never guards the store's own consistency, which holds without it
 * — so an implementation may err towards letting two processes compute (the result is the same), never towards
 * letting none. Every method is synchronous and cheap; none is on the path of a hit.
 *
 * The file and SQL stores keep one lease file per key beside the store (atomic create, heartbeat by mtime, stale
 * takeover); a database server can use its own locks (PostgreSQL advisory locks: `lease` is `pg_try_advisory_lock`,
 * `release` `pg_advisory_unlock`, a heartbeat is the session being alive).
 */
export interface CallLeases {
	/**
	 * Takes the lease of `key` for `owner` when nobody holds it or its holder is gone (a stale lease is taken over);
	 * otherwise says who holds it. A holder asking again gets `acquired: false` with itself as the holder.
	 */
	lease(key: string, owner: string, terms: LeaseTerms): LeaseAttempt;
	/** Shows that `owner` still works on `key`; false when the lease is no longer its own (taken over, removed). */
	heartbeat(key: string, owner: string): boolean;
	/**
	 * Gives the lease up, after the result is in the store where every process can read it (a storage that holds
	 * writes back flushes them first). Leaves a lease that is no longer `owner`'s alone.
	 */
	release(key: string, owner: string): void;
	/**
	 * Calls `listener` (perhaps spuriously) when the lease of `key` may have changed, so that an async waiter wakes at
	 * once instead of at its next poll; returns the function that stops it. Without it waiters poll alone.
	 */
	watch?(key: string, listener: () => void): () => void;
	/** The leases held now (stale ones included, marked `gone`), for tools that show calls in flight. Reading only. */
	held?(): Iterable<HeldLease>;
	/** A folder whose changes include every lease taken or released, for tools that watch calls in flight. */
	readonly folder?: string;
	/** Removes leases whose holders are gone (for `gc`); returns how many. */
	sweep?(): number;
}

/** Per-call statistics, summed: what the editor shows. */
export interface CallStats {
	/**
	 * The call's lookup key; `''` for the summed statistics of one function's calls that a cache without stored
	 * statistics (memory) evicted (see `Cache.stats`).
	 */
	readonly key: string;
	/** Function name of the call. */
	readonly name: string;
	/** Module of the call's function; `null` when not hashed. */
	readonly module: string | null;
	/** Times a cached function returned this call's stored result. */
	readonly hits: number;
	/** Times this call was computed (and stored). */
	readonly misses: number;
	/** Last hit, in seconds since the epoch; `null` when never hit. */
	readonly lastHit: number | null;
	/** Seconds spent computing the misses. */
	readonly computeSeconds: number;
	/** Sum over the hits of the call's compute time: the time the cache saved. */
	readonly savedSeconds: number;
}

/** Storages that persist statistics implement this; deltas are added, never replaced, so processes can share. */
export interface StatsStorage {
	/**
	 * Adds these deltas (counts and seconds are summed, `lastHit` takes the latest). With `wait: false` (the counter's
	 * periodic flush) a storage that writes to a server may send them without waiting, as long as this process reads
	 * them back and a later flush without it (`flushStats()`, the exit) waits for them too.
	 */
	addStats(deltas: readonly CallStats[], options?: { readonly wait?: boolean }): void;
	/** The summed statistics of every call (evicted ones included), optionally of one function. */
	stats(filter?: { readonly name?: string; readonly module?: string | null }): Iterable<CallStats>;
}

/** {@link CallStats} as `mergeStats` keeps them: its own objects, summed into in place. */
type Summed = { -readonly [K in keyof CallStats]: CallStats[K] };

/**
 * Sums statistics by key: counts and seconds add up, `lastHit` is the latest. The map owns its values: `add` is
 * copied on insertion unless `owned` (a fresh object nobody else holds, as parsed from a file), and later deltas are
 * added in place, because opening a store of 100,000 calls merges as many deltas and a new object for each was most of
 * the time spent. @internal
 */
export function mergeStats(into: Map<string, CallStats>, add: CallStats, owned = false): void {
	const have: Summed | undefined = into.get(add.key);
	if (have === undefined) {
		if (owned) {
			into.set(add.key, add);
			return;
		}
		const { key, name, module, hits, misses, lastHit, computeSeconds, savedSeconds } = add;
		into.set(key, { key, name, module, hits, misses, lastHit, computeSeconds, savedSeconds });
		return;
	}
	have.hits += add.hits;
	have.misses += add.misses;
	if (add.lastHit !== null && (have.lastHit === null || add.lastHit > have.lastHit)) have.lastHit = add.lastHit;
	have.computeSeconds += add.computeSeconds;
	have.savedSeconds += add.savedSeconds;
}
