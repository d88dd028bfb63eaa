// Hit/miss statistics (docs/behaviour.md §11; the Python library has none): counted in memory on the hot path, flushed in
// batches to call storages that persist them (`StatsStorage`), read back by tools through `fleche/inspect`.
//
// A hit only touches a Map and a few numbers: the disk write happens at most once per `flushMs` (a timer that does
// not keep the process alive) and once more, synchronously, when the process exits normally.
//
// `lastHit` is stamped when the counter flushes (or, for memory storage, on its timer and when read), not on every
// hit: reading the clock would be the most expensive part of counting a hit. It is late by at most the flush interval
// (1 s) while the event loop is free.
//
// `savedSeconds` of a hit is the compute time recorded for that call: its `runtime.walltime` metadata (written by the
// default `Runtime` metadata), else the compute time of the last miss of that key seen by this process (remembered
// for the most recent `rememberedComputes` such keys), else 0. Reading the stored statistics on the hot path to find
// the compute time would cost a disk read.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { CallRecord } from './call.js';
import { epochSeconds } from './clock.js';
import { beforeShutdown, flushOrder } from './shutdown.js';
import { warnOnce } from './log.js';
import { mergeStats, type CallStats, type StatsStorage } from './storage/base.js';

// The gate of `fleche rerun` and `fleche explain`: importing the user's module runs its top-level code, and
// the cached calls that code makes by accident are not the user's hits and misses. While the gate is closed only calls
// made inside `counted(...)` (the CLI's own rerun of the target, and whatever that call awaits) are counted; the
// closed gate is one boolean on the hot path. One gate per process even when the ESM and CJS builds are both loaded.
interface Gate {
	closed: boolean;
	readonly counting: AsyncLocalStorage<true>;
}
const gateKey = Symbol.for('fleche.statsGate');
const gate: Gate = ((globalThis as { [gateKey]?: Gate })[gateKey] ??= { closed: false, counting: new AsyncLocalStorage<true>() });

/**
 * Stops counting statistics in this process, for good, except inside {@link counted}: calls the user's module makes
 * after the CLI's command is over (a `main()` not awaited, a timer) are no more the user's than those during it.
 * @internal
 */
export function closeStatsGate(): void {
	gate.closed = true;
}

/** Runs `fn` (and what it awaits) with its calls counted although the gate is closed. @internal */
export function counted<T>(fn: () => T): T {
	return gate.counting.run(true, fn);
}

/** Whether a storage persists statistics (implements {@link StatsStorage}). */
export function isStatsStorage(storage: unknown): storage is StatsStorage {
	return (
		typeof storage === 'object' &&
		storage !== null &&
		typeof (storage as Partial<StatsStorage>).addStats === 'function' &&
		typeof (storage as Partial<StatsStorage>).stats === 'function'
	);
}

/** Mutable counts of one key; becomes a {@link CallStats} delta when flushed. */
class Entry implements CallStats {
	hits = 0;
	misses = 0;
	lastHit: number | null = null;
	computeSeconds = 0;
	savedSeconds = 0;
	/** Hit since the last stamp of `lastHit`. */
	unstamped = false;

	constructor(
		readonly key: string,
		readonly name: string,
		readonly module: string | null,
	) {}
}

/** How long a counter waits before writing what it counted. */
const defaultFlushMs = 1000;
/** Entries a counter without a target keeps before it sums those of evicted calls (see `StatsCounter.#sumGone`). */
const summedAt = 10_000;
/** Keys whose compute time a counter remembers (at least; at most twice) when their records carry no `runtime.walltime`. */
const rememberedComputes = 10_000;

const dirty = new Set<StatsCounter>();
let exitHookInstalled = false;

function installExitHook(): void {
	if (exitHookInstalled) return;
	exitHookInstalled = true;
	// Shutdown tasks must be synchronous: every StatsStorage flush is (an appendFileSync, an in-memory SQL update).
	beforeShutdown(flushOrder.stats, flushStats);
}

/**
 * Writes every statistic counted so far in this process (or thread) to its storage now, instead of within the next
 * second. Runs by itself when the process exits normally, and in the main thread at SIGINT, SIGTERM and SIGHUP (the
 * process then still ends by that signal unless the program handles it); call it before ending a worker thread with
 * `worker.terminate()`, which skips exit handlers.
 * @example
 * ```ts
 * import { flushStats } from 'fleche';
 * process.on('SIGTERM', () => { flushStats(); process.exit(143); });
 * ```
 */
export function flushStats(): void {
	for (const counter of [...dirty]) counter.flush();
}

function matchesFilter(s: CallStats, filter: { readonly name?: string; readonly module?: string | null } | undefined): boolean {
	if (filter === undefined) return true;
	if (filter.name !== undefined && s.name !== filter.name) return false;
	if (filter.module !== undefined && s.module !== filter.module) return false;
	return true;
}

/**
 * Counts the hits and misses of one cache. With a target storage, counts are deltas flushed in batches; without one
 * (memory storage) they are totals kept for the life of the process.
 * @internal
 */
export class StatsCounter {
	#counts = new Map<string, Entry>();
	/** Entries hit since `lastHit` was last stamped. */
	#unstamped: Entry[] = [];
	#scheduled = false;
	/** Compute seconds of the last miss per key, for records without `runtime.walltime`; oldest first. */
	#computed = new Map<string, number>();
	readonly #target: StatsStorage | null;
	readonly #flushMs: number;
	/** Whether the cache still holds a call (no target only): the entries of calls it evicted are summed per function. */
	readonly #held: ((key: string) => boolean) | undefined;
	/** Calls evicted since the entries were last summed. */
	#evictions = 0;
	/** How many entries there may be before those of evicted calls are summed. */
	#limit = summedAt;
	/** The summed entries of evicted calls, one per function (key ''), by function. */
	readonly #gone = new Map<string, Entry>();

	/**
	 * @param held - without a target: whether the cache holds a call, so that a cache that evicts (a size-limited memory
	 *   cache) does not keep an entry for every call it ever made.
	 */
	constructor(target: StatsStorage | null, flushMs = defaultFlushMs, held?: (key: string) => boolean) {
		this.#target = target;
		this.#flushMs = flushMs;
		this.#held = target === null ? held : undefined;
	}

	/** The cache evicted a call. */
	evicted(): void {
		this.#evictions++;
	}

	#entry(record: CallRecord): Entry {
		let e = this.#counts.get(record.key);
		if (e === undefined) {
			if (this.#evictions > 0 && this.#held !== undefined && this.#counts.size >= this.#limit) this.#sumGone(this.#held);
			e = new Entry(record.key, record.name, record.module);
			this.#counts.set(record.key, e);
		}
		if (!this.#scheduled) this.#schedule();
		return e;
	}

	hit(record: CallRecord): void {
		if (gate.closed && gate.counting.getStore() !== true) return;
		const e = this.#entry(record);
		e.hits++;
		if (!e.unstamped) {
			e.unstamped = true;
			this.#unstamped.push(e);
		}
		const wall = record.metadata.runtime?.walltime;
		e.savedSeconds += typeof wall === 'number' ? wall : (this.#computed.get(record.key) ?? 0);
	}

	miss(record: CallRecord, seconds: number): void {
		if (gate.closed && gate.counting.getStore() !== true) return;
		const e = this.#entry(record);
		e.misses++;
		e.computeSeconds += seconds;
		if (typeof record.metadata.runtime?.walltime === 'number') return;
		const computed = this.#computed;
		computed.delete(record.key);
		computed.set(record.key, seconds);
		// Trimmed to the newest in one pass once twice too many: deleting the oldest key at every miss made each miss's
		// `keys().next()` step over every key deleted before it (a run of misses slowed to 2 µs each and more).
		if (computed.size > 2 * rememberedComputes) this.#computed = new Map([...computed].slice(-rememberedComputes));
	}

	#schedule(): void {
		this.#scheduled = true;
		dirty.add(this);
		installExitHook();
		// The periodic flush need not wait for a server's answer (see StatsStorage.addStats): a hit never does.
		setTimeout(() => this.flush(false), this.#flushMs).unref();
	}

	/**
	 * Sums the entries of calls the cache no longer holds into one entry per function (key ''), and waits for the entries
	 * to double before it looks again: a size-limited memory cache's statistics then stay about as many as its calls,
	 * and every count is kept. Only after an eviction: a cache that evicts nothing has nothing to sum.
	 */
	#sumGone(held: (key: string) => boolean): void {
		this.#stamp();
		for (const [key, e] of this.#counts) {
			if (held(key)) continue;
			this.#counts.delete(key);
			const id = JSON.stringify([e.module, e.name]);
			let sum = this.#gone.get(id);
			if (sum === undefined) this.#gone.set(id, (sum = new Entry('', e.name, e.module)));
			sum.hits += e.hits;
			sum.misses += e.misses;
			if (e.lastHit !== null && (sum.lastHit === null || e.lastHit > sum.lastHit)) sum.lastHit = e.lastHit;
			sum.computeSeconds += e.computeSeconds;
			sum.savedSeconds += e.savedSeconds;
		}
		this.#evictions = 0;
		this.#limit = Math.max(summedAt, 2 * this.#counts.size);
	}

	#stamp(): void {
		if (this.#unstamped.length === 0) return;
		const now = epochSeconds();
		for (const e of this.#unstamped) {
			e.lastHit = now;
			e.unstamped = false;
		}
		this.#unstamped = [];
	}

	/**
	 * Writes the pending deltas to the target now (one batch); without a target, only stamps `lastHit`. `wait` false
	 * lets a storage send them without waiting for its server (the periodic flush).
	 */
	flush(wait = true): void {
		this.#scheduled = false;
		dirty.delete(this);
		this.#stamp();
		if (this.#target === null || this.#counts.size === 0) return;
		const batch = [...this.#counts.values()];
		this.#counts = new Map();
		try {
			if (wait) this.#target.addStats(batch);
			else this.#target.addStats(batch, { wait: false });
		} catch (err) {
			// Statistics are advisory: a full disk or a read-only store must not break the program that counts.
			warnOnce(`stats-flush:${(err as Error)?.message}`, 'FLECHE_STATS_NOT_SAVED', `Could not save cache statistics: ${(err as Error)?.message ?? String(err)}`, {
				cause: err,
			});
		}
	}

	/** Stored statistics plus what this counter has not flushed yet, summed per key. */
	stats(filter?: { readonly name?: string; readonly module?: string | null }): CallStats[] {
		this.#stamp();
		const out = new Map<string, CallStats>();
		if (this.#target !== null) for (const s of this.#target.stats(filter)) mergeStats(out, s);
		for (const e of this.#counts.values()) if (matchesFilter(e, filter)) mergeStats(out, e);
		const all = [...out.values()];
		// One entry per function, each with key '': kept apart from the per-call entries, which merge by key.
		for (const e of this.#gone.values()) if (matchesFilter(e, filter)) all.push({ key: '', name: e.name, module: e.module, hits: e.hits, misses: e.misses, lastHit: e.lastHit, computeSeconds: e.computeSeconds, savedSeconds: e.savedSeconds });
		return all;
	}
}
