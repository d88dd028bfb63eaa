// docs/behaviour.md §12 (`fleche/inspect`): a store opened for inspection — functions, pages of calls with argument
// summaries, sizes and statistics, one call in detail, evict/clear/gc, totals and change notifications — built only on
// the public cache and storage interfaces (docs/behaviour.md §1.10, §1.12, §2.4, §6), so file and SQL stores work alike.
//
// What differs between kinds of storage is asked of the storage's kind (storage/kinds.ts), never of its class: sizes
// of values, creation times, what to watch, what to close. Speed: reading 100,000 call records costs seconds, so a call
// storage whose kind answers the listing itself (the SQL store: counts by `GROUP BY`, pages by `ORDER BY … LIMIT`) is
// asked, and one whose kind offers a summary index (the file store's, persisted outside the store, verified cheaply on
// open, kept current by fs.watch while open) is listed through it. Full records are read only for the calls a page
// shows. Nothing here writes to the store unless a change is asked for.
import { dirname } from 'node:path';
import type { CallRecord } from '../call.js';
import type { BaseCache } from '../caches/base.js';
import { Cache, type GcOptions } from '../caches/cache.js';
import { readingForDisplay } from '../classes.js';
import { Digest } from '../digest.js';
import { AmbiguousDigestError, CorruptEntry, KeyError } from '../errors.js';
import { errorCode } from '../storage/fsUtil.js';
import { LazyCall } from '../lazyCall.js';
import type { CallLeases, CallStats } from '../storage/base.js';
import { mergeStats } from '../storage/base.js';
import { durationOf, entryOf, type IndexEntry as Entry, type Listing, type SummaryIndex } from '../storage/kinds.js';
import { kindOf } from '../storage/registry.js';
import { argsText, shortText } from './format.js';
import { freshness, recordedMaxAge } from '../expiry.js';
import { siteOf, type CacheLocation } from './location.js';
import { debounced, watchFolders, type Disposable } from './watch.js';
import { StoreQueues, type QueuedCall } from './queues.js';
import { warnOnce } from '../log.js';

/** What `Store.verify` found. */
export interface VerifyReport {
	/** How many entries (call records and values) were read. */
	readonly checked: number;
	/** The entries that failed their checks, with why. */
	readonly damaged: readonly { readonly kind: 'call' | 'value'; readonly key: string; readonly reason: string }[];
	/** How many of them were removed (with `remove`). */
	readonly removed: number;
}

/** A cached function, as tools name it. */
export interface FunctionRef {
	/** Module path relative to its package root (`src/math.ts`); `null` when the module is not hashed. */
	readonly module: string | null;
	/** Function name. */
	readonly name: string;
}

/**
 * A function with stored calls or recorded statistics, and its statistics summed over every process that used the
 * store. Statistics outlive invalidation (docs/behaviour.md §11): a function whose calls were all evicted is still
 * listed, with `calls: 0` and its hits and misses, so that every tool shows the same counts before and after.
 */
export interface FunctionSummary extends FunctionRef {
	/** Cached calls now stored (0 when every call was evicted). */
	readonly calls: number;
	/** Hits, over the function's lifetime (evicted calls included). */
	readonly hits: number;
	/** Misses (computed and stored calls), over the function's lifetime. */
	readonly misses: number;
	/** Last hit, in seconds since the epoch; `null` when never hit. */
	readonly lastHit: number | null;
	/** Seconds spent computing misses. */
	readonly computeSeconds: number;
	/** Seconds the hits saved. */
	readonly savedSeconds: number;
	/** Distinct versions among the stored calls. */
	readonly versions: readonly (string | number | null)[];
}

/** One stored call, summarised for a list. */
export interface CallSummary extends FunctionRef {
	/** The 64-hex call key. */
	readonly key: string;
	readonly version: string | number | null;
	/** Argument name → short one-line text (at most 80 characters, cut with `…`). */
	readonly args: Readonly<Record<string, string>>;
	/** `a=1, b='x'` (at most 120 characters). */
	readonly argsText: string;
	/** When the call was stored, in seconds since the epoch (Runtime metadata, else the record file's mtime). */
	readonly created: number | null;
	/** Seconds computing (Runtime metadata `walltime`). */
	readonly duration: number | null;
	/** Bytes of the stored result value, when the value storage can tell. */
	readonly size: number | null;
	readonly hits: number;
	readonly misses: number;
	readonly lastHit: number | null;
	/**
	 * The call's max age in seconds (docs/behaviour.md §18): the shorter of its function's, as recorded with the call,
	 * and the store's (`max_age` of its configuration); `null` when neither is set.
	 */
	readonly maxAge: number | null;
	/** When it expires (`created` + `maxAge`), in seconds since the epoch; `null` without a max age or a known creation time. */
	readonly expiresAt: number | null;
	/** Whether it is older than its max age (a call of unknown age under a max age counts as expired): a cached call recomputes it. */
	readonly expired: boolean;
	/** Digest of the function's code when the call was stored (compare with newer calls' to tell stale ones). */
	readonly codeDigest: string | null;
	/**
	 * The result as one short line (like an argument's text), or `null` when it was not read: still pending, damaged
	 * (see `damaged`), or larger than {@link RESULT_PREVIEW_BYTES} (read in full only by `call`).
	 */
	readonly resultText: string | null;
	/**
	 * Why the call cannot be a hit, when reading it for this summary found out: its record went unreadable since the
	 * listing, or its result value is missing or fails its checks (damaged, tampered, signed with another key).
	 * `null` when nothing was found wrong (a result too large to preview is not read, so not checked).
	 */
	readonly damaged: string | null;
}

/** One stored call with its values loaded. */
export interface CallDetail extends CallSummary {
	/** Loaded argument values; the digest hex when a value cannot be loaded. */
	readonly arguments: Readonly<Record<string, unknown>>;
	/** The result, or why it cannot be loaded. */
	readonly result: { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string };
	readonly metadata: Readonly<Record<string, unknown>>;
	/** Digests of the arguments as stored, by name. */
	readonly argumentDigests: Readonly<Record<string, string>>;
	/** Digest of the result value. */
	readonly resultDigest: string | null;
}

/**
 * A call in flight: being computed now by some process (its lease is held by a live holder, docs/behaviour.md §3.6),
 * or a job of a configured BullMQ queue waiting for a worker or running on one (§3.7).
 */
export interface CallInFlight {
	/** The call's key: a stored call being recomputed has the same key as its row; a new call has no row yet. */
	readonly key: string;
	/** The lease's holder (host, process, thread and a random part), or the worker or queue of a job. */
	readonly owner: string;
	/** When it started (a job: was queued, or started on its worker), in milliseconds since the epoch; `null` when unknown. */
	readonly since: number | null;
	/** `computing`: a process holds its lease; `queued`: a job waits for a worker; `running`: a worker runs its job. Absent: `computing`. */
	readonly state?: 'computing' | 'queued' | 'running';
	/** Where, for people: `host:pid` of a lease's holder, the worker's name (`host:pid` for `fleche worker`), or the queue. */
	readonly where?: string;
	/** The function, when known: a job names it; a lease names it only when the call is stored already (a recomputation). */
	readonly fn?: FunctionRef;
	/** The job's queue, `name at redis://host:port` (never a password). */
	readonly queue?: string;
}

/** Totals of a store. */
export interface StoreTotals {
	readonly calls: number;
	readonly functions: number;
	readonly hits: number;
	readonly misses: number;
	readonly savedSeconds: number;
}

/** A store opened for inspection (see `openStore`). Synchronous, like the runtime's storages. */
export interface Store {
	/** Where it is. */
	readonly location: CacheLocation;
	/** The cache itself, for tools that run calls against it (`fleche rerun`). */
	readonly cache: BaseCache;
	/**
	 * Functions with at least one stored call or recorded statistics (every call evicted, docs/behaviour.md §11), by
	 * module then name.
	 */
	functions(): FunctionSummary[];
	/** A page of the stored calls of `fn`, newest first, and how many there are. @default page `{ offset: 0, limit: 100 }` */
	calls(fn: FunctionRef, page?: { offset?: number; limit?: number }): { total: number; calls: CallSummary[] };
	/** One call by key or key prefix. @throws KeyError (none) / AmbiguousDigestError (several) */
	call(keyOrPrefix: string): CallDetail;
	/** Resolves keys or prefixes of calls (all first, so a bad one evicts nothing), then evicts them; returns how many. */
	evict(keysOrPrefixes: string | readonly string[]): number;
	/** Evicts every stored call of `fn`; returns how many. */
	evictFunction(fn: FunctionRef): number;
	/**
	 * Evicts every call, then removes the values nothing refers to any more, however young (no grace period: run it
	 * when nothing writes the store); returns how many calls.
	 */
	clear(): number;
	/**
	 * Removes values no call refers to, and temporaries of killed writers; returns how many values. Values written or
	 * referred to within the grace period are kept, so it is safe beside writers. @default graceSeconds 600
	 */
	gc(options?: GcOptions): number;
	/**
	 * {@link gc} with `olderThan` (evict the calls computed longer ago than that first, docs/behaviour.md §18) and
	 * `dryRun` (remove nothing, count what would go); returns how many calls and values were (or would be) removed.
	 */
	collect(options?: GcOptions): { readonly calls: number; readonly values: number; readonly dryRun: boolean };
	/**
	 * Reads every call record and value and reports those that fail their checks (damaged, moved, tampered or signed
	 * with a key this process does not have); removes them with `remove`. Entries written in a format this version
	 * cannot read are not damaged and are left alone.
	 */
	verify(options?: { remove?: boolean }): VerifyReport;
	totals(): StoreTotals;
	/**
	 * Calls in flight: keys whose lease a live holder holds (stores without leases, and leases of holders judged gone,
	 * give none). Leases name only the key, so a call never stored before cannot be told apart by function.
	 */
	inFlight(): CallInFlight[];
	/**
	 * {@link inFlight} and the waiting and active jobs of the BullMQ queues the cache's configuration names
	 * (`queues`, docs/behaviour.md §3.7), one entry per key (a job names its function; a running job's entry stands
	 * for its worker's lease). A queue that cannot be read is warned about (`FLECHE_QUEUE_UNREADABLE`) and left out.
	 */
	inFlightAll(): Promise<CallInFlight[]>;
	/**
	 * Why the store cannot be reached now (a database server that is down: the message names it without a password),
	 * or `undefined` when every storage answers or has nothing to reach. Ask it before listing: while a server is down
	 * its storages answer like empty ones. Bounded by the storages' own time-outs (`timeout_ms`).
	 * @throws FlecheError when a server refuses the configuration (a wrong password, a missing database).
	 */
	unreachable(): string | undefined;
	/**
	 * Calls `listener` (debounced) after the store changed, by this or another process: on disk, or on a database
	 * server that tells (PostgreSQL's LISTEN/NOTIFY). @default debounceMs 250
	 */
	watch(listener: () => void, options?: { debounceMs?: number }): Disposable;
	/** Releases watchers and the index. */
	close(): void;
}

const DEFAULT_LIMIT = 100;

/** Results up to this many bytes are read for a call summary's `resultText` (and checked); larger ones are not. */
export const RESULT_PREVIEW_BYTES = 64 * 1024;

/** The `Cache`s under a composition (stack layers, pool members, wrapped caches). */
export function leafCaches(cache: BaseCache): Cache[] {
	if (cache instanceof Cache) return [cache];
	const c = cache as { stack?: unknown; caches?: unknown; inner?: unknown };
	const members = Array.isArray(c.stack) ? c.stack : Array.isArray(c.caches) ? c.caches : c.inner !== undefined ? [c.inner] : [];
	return (members as BaseCache[]).flatMap(leafCaches);
}

function functionId(module: string | null, name: string): string {
	return `${module ?? ''}\0${name}`;
}

/** `localeCompare`'s order, from one collator (`localeCompare` makes one per comparison), made on first use. */
let collator: Intl.Collator | undefined;

function byFunction(a: FunctionRef, b: FunctionRef): number {
	collator ??= new Intl.Collator();
	return collator.compare(a.module ?? '', b.module ?? '') || collator.compare(a.name, b.name);
}

function messageOf(err: unknown): string {
	return err instanceof Error ? err.message : String(err);
}

/** @internal Use `openStore`. */
export class InspectStore implements Store {
	readonly #leaves: Cache[];
	readonly #index: SummaryIndex | null;
	readonly #listing: Listing | null;
	/** Creation times from file mtimes, for records without Runtime metadata. */
	readonly #mtimes = new Map<string, number | null>();
	#byFunction: { generation: number; map: Map<string, Entry[]> } | null = null;
	readonly #watches = new Set<Disposable>();

	constructor(
		readonly location: CacheLocation,
		readonly cache: BaseCache,
	) {
		this.#leaves = leafCaches(cache);
		const only = cache instanceof Cache ? cache : undefined;
		const kind = only === undefined ? undefined : kindOf(only.calls);
		const listing = only === undefined ? null : (kind?.listing?.(only.calls) ?? null);
		this.#index = only === undefined || listing !== null ? null : (kind?.summaryIndex?.(only.calls) ?? null);
		// An index that answers the listing itself (the file store's: counts and statistics per function persisted
		// beside per-function shards) is asked, so a first screen reads one function's entries, not every one.
		const index = this.#index;
		this.#listing =
			listing ??
			(index?.functions !== undefined && index.page !== undefined
				? {
						functions: () => index.functions!(),
						page: (fn, offset, limit) => index.page!(fn, offset, limit),
						...(index.keyStats ? { keyStats: (fn) => index.keyStats!(fn) } : {}),
					}
				: null);
	}

	/** Every stored call (the index's, kept current, or read afresh from storages that query fast themselves). */
	#entries(): Iterable<Entry> {
		if (this.#index === null) return [...this.cache.records()].map(entryOf);
		this.#index.refresh();
		return this.#index.entries();
	}

	/** Records grouped by function; reused while the index has not changed. */
	#grouped(): Map<string, Entry[]> {
		const generation = this.#index === null ? -1 : (this.#index.refresh(), this.#index.generation);
		if (this.#byFunction !== null && generation >= 0 && this.#byFunction.generation === generation) return this.#byFunction.map;
		const map = new Map<string, Entry[]>();
		for (const record of this.#entries()) {
			const id = functionId(record.module, record.name);
			let list = map.get(id);
			if (list === undefined) map.set(id, (list = []));
			list.push(record);
		}
		this.#byFunction = { generation, map };
		return map;
	}

	#stats(filter?: { name?: string; module?: string | null }): ReadonlyMap<string, CallStats> {
		// A listing that keeps its keys' statistics answers for one function without reading every key's.
		if (filter?.name !== undefined && filter.module !== undefined && this.#listing?.keyStats !== undefined) {
			return this.#listing.keyStats({ module: filter.module, name: filter.name });
		}
		const out = new Map<string, CallStats>();
		for (const leaf of this.#leaves) for (const s of leaf.stats(filter)) mergeStats(out, s);
		return out;
	}

	functions(): FunctionSummary[] {
		if (this.#listing !== null) return this.#listing.functions().sort(byFunction);
		// Summed straight into per-function totals: a per-key map of 100,000 calls' statistics first cost more than
		// reading them (sums and maxima do not depend on how keys are grouped, so leaves need no merging either).
		const perFunction = new Map<
			string,
			{ module: string | null; name: string; hits: number; misses: number; lastHit: number | null; computeSeconds: number; savedSeconds: number }
		>();
		for (const leaf of this.#leaves) {
			for (const s of leaf.stats()) {
				const id = functionId(s.module, s.name);
				const have = perFunction.get(id);
				if (have === undefined) {
					perFunction.set(id, {
						module: s.module,
						name: s.name,
						hits: s.hits,
						misses: s.misses,
						lastHit: s.lastHit,
						computeSeconds: s.computeSeconds,
						savedSeconds: s.savedSeconds,
					});
					continue;
				}
				have.hits += s.hits;
				have.misses += s.misses;
				have.computeSeconds += s.computeSeconds;
				have.savedSeconds += s.savedSeconds;
				if (s.lastHit !== null && (have.lastHit === null || s.lastHit > have.lastHit)) have.lastHit = s.lastHit;
			}
		}
		const out: FunctionSummary[] = [];
		const grouped = this.#grouped();
		for (const [id, records] of grouped) {
			const first = records[0]!;
			const versions = [...new Set(records.map((r) => r.version))];
			const s = perFunction.get(id);
			out.push({
				module: first.module,
				name: first.name,
				calls: records.length,
				hits: s?.hits ?? 0,
				misses: s?.misses ?? 0,
				lastHit: s?.lastHit ?? null,
				computeSeconds: s?.computeSeconds ?? 0,
				savedSeconds: s?.savedSeconds ?? 0,
				versions,
			});
		}
		// Every call evicted, statistics kept (docs/behaviour.md §11): still listed, with no calls.
		for (const [id, s] of perFunction) {
			if (!grouped.has(id)) out.push({ ...s, calls: 0, versions: [] });
		}
		return out.sort(byFunction);
	}

	#created(record: Entry): number | null {
		if (record.created !== null) return record.created;
		if (this.#mtimes.has(record.key)) return this.#mtimes.get(record.key) ?? null;
		let found: number | null = null;
		for (const leaf of this.#leaves) {
			found = kindOf(leaf.calls)?.created?.(leaf.calls, record.key) ?? null;
			if (found !== null) break;
		}
		this.#mtimes.set(record.key, found);
		return found;
	}

	#size(digest: string | null): number | null {
		if (digest === null) return null;
		for (const leaf of this.#leaves) {
			// A value file's size, or that of a value inside the call file just read (docs/behaviour.md §2.6).
			const size = leaf.valueBytes(digest);
			if (size !== null) return size;
		}
		return null;
	}

	/** The full record of a listed call; `null` when it went away since the listing (or turned out corrupt). */
	#record(entry: Entry): CallRecord | null {
		if (entry.record !== undefined) return entry.record;
		try {
			return this.cache.loadRecord(entry.key);
		} catch (err) {
			if (!KeyError.is(err)) throw err;
			return null;
		}
	}

	/**
	 * The result's one-line text and, when reading it failed, why the call cannot hit. A result larger than
	 * {@link RESULT_PREVIEW_BYTES} is not read here (a page of such calls would read them all).
	 */
	#resultPreview(record: CallRecord | null, size: number | null): { resultText: string | null; damaged: string | null } {
		if (record === null) return { resultText: null, damaged: 'its call record is gone or unreadable since the listing' };
		const digest = record.result;
		if (digest === null || (size !== null && size > RESULT_PREVIEW_BYTES)) return { resultText: null, damaged: null };
		try {
			return { resultText: shortText(readingForDisplay(() => this.cache.loadValue(digest))), damaged: null };
		} catch (err) {
			if (!KeyError.is(err)) return { resultText: `<${messageOf(err)}>`, damaged: null };
			const cause = (err as Error).cause;
			return {
				resultText: null,
				damaged: CorruptEntry.is(cause) ? `its result value fails its checks: ${messageOf(cause)}` : `its result value ${digest.slice(0, 12)}… is missing`,
			};
		}
	}

	#summary(entry: Entry, stats: ReadonlyMap<string, CallStats>, values?: Record<string, unknown>): CallSummary {
		const record = this.#record(entry);
		const loaded = values ?? (record === null ? {} : readingForDisplay(() => new LazyCall(record, this.cache).arguments));
		const args: Record<string, string> = {};
		for (const name in loaded) args[name] = shortText(loaded[name]);
		const s = stats.get(entry.key);
		const created = this.#created(entry);
		const size = this.#size(record?.result ?? null);
		return {
			module: entry.module,
			name: entry.name,
			key: entry.key,
			version: entry.version,
			args,
			argsText: argsText(args),
			created,
			duration: record === null ? null : durationOf(record),
			size,
			hits: s?.hits ?? 0,
			misses: s?.misses ?? 0,
			lastHit: s?.lastHit ?? null,
			...this.#expiry(record, created),
			codeDigest: record?.codeDigest ?? null,
			...this.#resultPreview(record, size),
		};
	}

	/** A call's max age, expiry time and whether it passed (docs/behaviour.md §18). */
	#expiry(record: CallRecord | null, created: number | null): Pick<CallSummary, 'maxAge' | 'expiresAt' | 'expired'> {
		const own = record === null ? null : recordedMaxAge(record);
		const store = this.cache.expiry()?.maxAge ?? null;
		const maxAge = own === null ? store : store === null ? own : Math.min(own, store);
		if (maxAge === null) return { maxAge, expiresAt: null, expired: false };
		const expiresAt = created === null ? null : created + maxAge;
		return { maxAge, expiresAt, expired: created === null || freshness(created, { maxAge }) === 'expired' };
	}

	calls(fn: FunctionRef, page: { offset?: number; limit?: number } = {}): { total: number; calls: CallSummary[] } {
		const offset = Math.max(0, Math.floor(page.offset ?? 0));
		const limit = Math.max(0, Math.floor(page.limit ?? DEFAULT_LIMIT));
		let total: number;
		let slice: readonly Entry[];
		let stored: readonly CallStats[] | undefined;
		if (this.#listing !== null) {
			// Counts this cache still holds go first, so that the statistics read with the page include them.
			if (this.cache instanceof Cache) this.cache.flushStats();
			({ total, entries: slice, stats: stored } = this.#listing.page({ module: fn.module ?? null, name: fn.name }, offset, limit));
		} else {
			const records = this.#grouped().get(functionId(fn.module ?? null, fn.name)) ?? [];
			const dated = records.map((r) => [this.#created(r) ?? -Infinity, r] as const);
			dated.sort((a, b) => b[0] - a[0] || (a[1].key < b[1].key ? -1 : 1));
			total = records.length;
			slice = dated.slice(offset, offset + limit).map(([, r]) => r);
		}
		const stats =
			stored !== undefined
				? new Map(stored.map((s) => [s.key, s]))
				: slice.length > 0
					? this.#stats({ name: fn.name, module: fn.module ?? null })
					: new Map<string, CallStats>();
		return { total, calls: slice.map((r) => this.#summary(r, stats)) };
	}

	/** The full key of a stored call from a key or prefix, looking only at call keys (not value digests). */
	#resolve(keyOrPrefix: string): string {
		if (typeof keyOrPrefix !== 'string' || !/^[0-9a-fA-F]{4,64}$/.test(keyOrPrefix)) {
			throw new KeyError(String(keyOrPrefix), `Not a call key or key prefix (4 to 64 hex characters): ${String(keyOrPrefix)}`);
		}
		const prefix = keyOrPrefix.toLowerCase();
		const found = new Set<string>();
		if (this.#index !== null) {
			this.#index.refresh();
			if (prefix.length === 64) {
				if (this.#index.has(prefix)) found.add(prefix);
			} else for (const key of this.#index.keys()) if (key.startsWith(prefix)) found.add(key);
		} else if (this.#leaves.length > 0) {
			for (const leaf of this.#leaves) {
				try {
					found.add(leaf.calls.expand(prefix));
				} catch (err) {
					if (AmbiguousDigestError.is(err)) throw err;
					if (!KeyError.is(err)) throw err;
				}
			}
		} else {
			for (const record of this.cache.records()) if (record.key.startsWith(prefix)) found.add(record.key);
		}
		if (found.size === 0) throw new KeyError(prefix, `No cached call matches ${prefix}`);
		if (found.size > 1) throw new AmbiguousDigestError(prefix, prefix.length + 1);
		return [...found][0]!;
	}

	call(keyOrPrefix: string): CallDetail {
		const key = this.#resolve(keyOrPrefix);
		const record = this.cache.loadRecord(key);
		const lazy = new LazyCall(record, this.cache);
		const loaded = readingForDisplay(() => lazy.arguments);
		const argumentsOut: Record<string, unknown> = {};
		for (const name in loaded) {
			const v = loaded[name];
			argumentsOut[name] = Digest.is(v) ? v.hex : v;
		}
		let result: CallDetail['result'];
		if (record.result === null) result = { ok: false, error: 'The call has no stored result (pending)' };
		else {
			try {
				const hex = record.result;
				result = { ok: true, value: readingForDisplay(() => this.cache.loadValue(hex)) };
			} catch (err) {
				result = { ok: false, error: KeyError.is(err) ? `The result value ${record.result.slice(0, 12)}… is missing or unreadable` : messageOf(err) };
			}
		}
		const stats = this.#stats({ name: record.name, module: record.module });
		return {
			...this.#summary(entryOf(record), stats, loaded),
			arguments: argumentsOut,
			result,
			metadata: record.metadata,
			argumentDigests: record.arguments,
			resultDigest: record.result,
		};
	}

	#evictKeys(keys: Iterable<string>): number {
		let n = 0;
		for (const key of keys) {
			try {
				this.cache.evict(key);
				n++;
			} catch (err) {
				if (!KeyError.is(err)) throw err; // evicted by someone else meanwhile
			}
		}
		return n;
	}

	evict(keysOrPrefixes: string | readonly string[]): number {
		const list = typeof keysOrPrefixes === 'string' ? [keysOrPrefixes] : keysOrPrefixes;
		const keys = new Set(list.map((k) => this.#resolve(k)));
		return this.#evictKeys(keys);
	}

	evictFunction(fn: FunctionRef): number {
		const ref = { module: fn.module ?? null, name: fn.name };
		const records =
			this.#listing !== null ? this.#listing.page(ref, 0, Number.MAX_SAFE_INTEGER).entries : (this.#grouped().get(functionId(ref.module, ref.name)) ?? []);
		return this.#evictKeys(records.map((r) => r.key));
	}

	clear(): number {
		const n = this.#evictKeys([...this.#entries()].map((r) => r.key));
		this.gc({ graceSeconds: 0 });
		return n;
	}

	gc(options?: GcOptions): number {
		return this.collect(options).values;
	}

	collect(options?: GcOptions): { readonly calls: number; readonly values: number; readonly dryRun: boolean } {
		let calls = 0;
		let values = 0;
		for (const leaf of this.#leaves) {
			const report = leaf.collect(options);
			calls += report.calls.length;
			values += report.values.length;
		}
		return { calls, values, dryRun: options?.dryRun === true };
	}

	verify(options?: { remove?: boolean }): VerifyReport {
		let checked = 0;
		let removed = 0;
		const damaged: { kind: 'call' | 'value'; key: string; reason: string }[] = [];
		for (const leaf of this.#leaves) {
			for (const [kind, storage] of [
				['call', leaf.calls],
				['value', leaf.values],
			] as const) {
				for (const key of [...storage.list()]) {
					checked++;
					try {
						storage.get(key);
						// A call file's values inside it are checked as value files are (docs/behaviour.md §2.6).
						const reason = kind === 'call' ? leaf.heldDamage(key) : undefined;
						if (reason === undefined) continue;
						damaged.push({ kind, key, reason });
					} catch (err) {
						const cause = (err as Error).cause;
						// Not a file at all (a link to a device, a FIFO: never read, see readRegularFile) is damage too.
						const notAFile = KeyError.is(err) && errorCode(cause) === 'ENOTREG';
						// Gone meanwhile, or unreadable here but not damaged (a newer format): not this report's business.
						if (!KeyError.is(err) || !(CorruptEntry.is(cause) || notAFile)) continue;
						damaged.push({ kind, key, reason: notAFile ? 'not a regular file (a link or a FIFO, never read)' : messageOf(cause) });
					}
					if (!options?.remove) continue;
					try {
						storage.evict(key);
						removed++;
					} catch (err) {
						if (!KeyError.is(err)) throw err;
					}
				}
			}
		}
		return { checked, damaged, removed };
	}

	totals(): StoreTotals {
		let calls = 0;
		if (this.#listing !== null) {
			// A listing (a database's summaries, or an index's) keeps every function's summed statistics (statistics-only
			// functions included): the totals need not read every key's — a million rows, for a team store.
			const totals = { calls, functions: 0, hits: 0, misses: 0, savedSeconds: 0 };
			for (const fn of this.#listing.functions()) {
				totals.calls += fn.calls;
				totals.functions++;
				totals.hits += fn.hits;
				totals.misses += fn.misses;
				totals.savedSeconds += fn.savedSeconds;
			}
			return totals;
		}
		// The functions `functions()` lists: with stored calls, or with statistics only (every call evicted).
		const named = new Set<string>();
		for (const [id, records] of this.#grouped()) {
			calls += records.length;
			named.add(id);
		}
		let hits = 0;
		let misses = 0;
		let savedSeconds = 0;
		for (const leaf of this.#leaves) {
			for (const s of leaf.stats()) {
				hits += s.hits;
				misses += s.misses;
				savedSeconds += s.savedSeconds;
				named.add(functionId(s.module, s.name));
			}
		}
		return { calls, functions: named.size, hits, misses, savedSeconds };
	}

	/** The call leases of the leaves (kinds without leases have none). */
	#leases(): CallLeases[] {
		const out: CallLeases[] = [];
		for (const leaf of this.#leaves) {
			const leases = kindOf(leaf.calls)?.leases?.(leaf.calls);
			if (leases !== undefined) out.push(leases);
		}
		return out;
	}

	inFlight(): CallInFlight[] {
		const out: CallInFlight[] = [];
		for (const leases of this.#leases()) {
			for (const held of leases.held?.() ?? []) {
				if (held.gone === true) continue;
				// Owners are `host:pid:thread:random` (leases.ts `leaseOwner`); other holders are shown as they are.
				const where = /^(.*):(\d+):\d+:[0-9a-f]+$/.exec(held.owner);
				out.push({ key: held.key, owner: held.owner, since: held.since, state: 'computing', where: where ? `${where[1]}:${where[2]}` : held.owner });
			}
		}
		return out;
	}

	unreachable(): string | undefined {
		for (const leaf of this.#leaves) {
			for (const storage of [leaf.calls, leaf.values]) {
				const problem = kindOf(storage)?.problem?.(storage);
				if (problem !== undefined) return problem;
			}
		}
		return undefined;
	}

	#queues: StoreQueues | undefined;

	#storeQueues(): StoreQueues {
		return new StoreQueues(this.location.queues ?? [], this.location.source === null ? undefined : dirname(this.location.source));
	}

	async inFlightAll(): Promise<CallInFlight[]> {
		const out = new Map<string, CallInFlight>();
		for (const held of this.inFlight()) {
			let fn: FunctionRef | undefined;
			try {
				const record = this.cache.loadRecord(held.key);
				fn = { module: record.module, name: record.name };
			} catch {
				// A call never stored before: its lease names only the key.
			}
			out.set(held.key, fn === undefined ? held : { ...held, fn });
		}
		this.#queues ??= this.#storeQueues();
		if (this.#queues.empty) return [...out.values()];
		let jobs: QueuedCall[] = [];
		try {
			jobs = await this.#queues.jobs();
		} catch (err) {
			warnOnce(`queue:${this.location.name}`, 'FLECHE_QUEUE_UNREADABLE', `${messageOf(err)} (calls in flight there are not shown)`);
		}
		for (const job of jobs) {
			const fn = { module: job.module, name: job.name };
			const lease = out.get(job.key);
			// A call waiting in the queue while some process computes it anyway (a submitter without the queue).
			if (lease !== undefined && job.state === 'queued') out.set(job.key, { ...lease, fn });
			else out.set(job.key, { key: job.key, owner: job.where, since: job.since, state: job.state, where: job.where, fn, queue: job.queue });
		}
		return [...out.values()];
	}

	watch(listener: () => void, options: { debounceMs?: number } = {}): Disposable {
		const debounceMs = options.debounceMs ?? 250;
		const folders = new Set<string>();
		// Kinds that notify by themselves (a database server) are debounced like folder events.
		const notified = debounced(listener, debounceMs);
		const subscriptions: Disposable[] = [];
		for (const leaf of this.#leaves) {
			for (const [storage, role] of [
				[leaf.values, 'values'],
				[leaf.calls, 'calls'],
			] as const) {
				const kind = kindOf(storage);
				const config = storage.toConfig();
				if (kind?.subscribe !== undefined) subscriptions.push(kind.subscribe(config, role, notified.fire));
				else for (const folder of siteOf(config, role).watch) folders.add(folder);
			}
		}
		// Leases taken and released: calls starting and ending in flight (`inFlight`).
		for (const leases of this.#leases()) if (leases.folder !== undefined) folders.add(leases.folder);
		const handle = watchFolders([...folders], listener, debounceMs);
		// Jobs of the configured queues added, started, finished (§3.7).
		this.#queues ??= this.#storeQueues();
		if (!this.#queues.empty) {
			try {
				subscriptions.push(this.#queues.subscribe(notified.fire));
			} catch (err) {
				warnOnce(`queue-watch:${this.location.name}`, 'FLECHE_QUEUE_UNREADABLE', `${messageOf(err)} (calls in flight there are not shown)`);
			}
		}
		const tracked: Disposable = {
			dispose: () => {
				handle.dispose();
				for (const s of subscriptions) s.dispose();
				notified.cancel();
				this.#watches.delete(tracked);
			},
		};
		this.#watches.add(tracked);
		return tracked;
	}

	/** Also closes storages that hold resources (the SQL storage's worker thread): `openStore` opened them. */
	close(): void {
		for (const w of [...this.#watches]) w.dispose();
		this.#index?.close();
		this.#queues?.close();
		for (const leaf of this.#leaves) for (const storage of [leaf.calls, leaf.values]) kindOf(storage)?.close?.(storage);
	}
}
