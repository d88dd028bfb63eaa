// The storage-kind contract: everything the rest of the runtime and its tools know about one type of storage
// (`memory`, `void`, `file`, `sql`, `postgres`, or a kind a user registers) lives in one record of this shape, so that nothing
// else switches on a storage's type or tests its class.
//
//   reading   fleche.toml table → plain configuration (`fromToml`, `template`): config/read.ts asks the record;
//   building  plain configuration → a storage (`open`): config/build.ts asks the record;
//   tools     where it is, whether it exists, how to hear of changes (`locate`, `recognize`, `subscribe`), and what an
//             open storage can tell beyond the storage interfaces (`valueSize`, `created`, `summaryIndex`, `listing`,
//             `close`): fleche/inspect asks the record;
//   leases    per-key leases that let processes sharing the store run a call once (`leases`): caches/cache.ts asks.
//
// Every member but `type`, `roles` and `open` is optional: a kind without `fromToml` takes its table's keys as they are
// (snake_case turned to camelCase); a tool does without what a kind does not offer. The built-in records and the
// registry of every kind are in registry.ts; this module imports no storage.
import type { CallRecord } from '../call.js';
import type { CallLeases, CallStats, CallStorage, StorageConfig, ValueStorage } from './base.js';

/** Which of a cache's two storages a configuration describes. */
export type StorageRole = 'values' | 'calls';

/** A table of `fleche.toml` as parsed: keys as written (snake_case), relative `root`/`path` already absolute. */
export type TomlTable = Readonly<Record<string, unknown>>;

/** The plain-data description of a cache's two storages, as a template or a store folder gives them. */
export interface StoragePair {
	readonly values: StorageConfig;
	readonly calls: StorageConfig;
}

/** What a kind's TOML reading may ask of the file it reads: errors that name file and line, and the common checks. */
export interface TomlReader {
	/** A `ConfigError` naming the file, the line of `key` (or of the table) and the section. Throw it. */
	error(message: string, key?: string): Error;
	/** Rejects every key of `table` outside `allowed` and the keys every such table may have (`type`; for a template `template`, `read_only`, `max_size`, `lease`). */
	keys(table: TomlTable, allowed: readonly string[], what: string): void;
	/** A non-empty string option, or `undefined` when absent; anything else is an error. */
	string(table: TomlTable, key: string): string | undefined;
	/** A boolean option, or `undefined` when absent; anything else is an error. */
	boolean(table: TomlTable, key: string): boolean | undefined;
	/** A nested storage table (`values = { type = "file", … }` inside a template), read by its own kind. */
	storage(value: unknown, role: StorageRole, key: string): StorageConfig;
}

/** Where a storage is, for tools, from its configuration alone (nothing opened, at most a few `stat`s). */
export interface StorageSite {
	/** Absolute folder of the store it belongs to (what a tool shows, and how it tells stores apart); `null` when it has none. */
	readonly root: string | null;
	/** Whether anything was stored there yet. */
	readonly exists: boolean;
	/** Folders whose changes mean the stored calls or statistics changed (watched; polled until they exist). */
	readonly watch: readonly string[];
}

/** A change subscription; `dispose()` stops it (idempotent). */
export interface Disposable {
	dispose(): void;
}

/** What a tool lists of one stored call; the full record is loaded only for the calls shown. */
export interface IndexEntry {
	readonly key: string;
	readonly module: string | null;
	readonly name: string;
	readonly version: string | number | null;
	/** Seconds since the epoch (Runtime metadata, else when the storage wrote it); `null` when unknown. */
	readonly created: number | null;
	/** The full record, when it was at hand; loaded on demand otherwise. */
	readonly record?: CallRecord;
}

/**
 * A kept-current summary of every record of a call storage, for listing 100,000 calls without reading each: what a
 * kind offers when reading all its records is slow and it can do better (the file store's persisted index). An index
 * that also answers the {@link Listing} questions (`functions` and `page` both) is listed through them, so that a tool
 * never groups every entry itself.
 */
export interface SummaryIndex extends Partial<Listing> {
	/** Bumped whenever the entries change, so that a tool can keep what it derived from them. */
	readonly generation: number;
	/** Brings the entries up to date with the storage (cheap when nothing changed). */
	refresh(): void;
	entries(): Iterable<IndexEntry>;
	has(key: string): boolean;
	keys(): Iterable<string>;
	/** Stops watching and persists what is pending. */
	close(): void;
}

/** A function with stored calls as a {@link Listing} counts it. */
export interface ListedFunction {
	readonly module: string | null;
	readonly name: string;
	/** Calls now stored. */
	readonly calls: number;
	/** Distinct versions among them. */
	readonly versions: readonly (string | number | null)[];
	/** Statistics summed over the function's keys (evicted calls included), as {@link CallStats} holds them per key. */
	readonly hits: number;
	readonly misses: number;
	readonly lastHit: number | null;
	readonly computeSeconds: number;
	readonly savedSeconds: number;
}

/**
 * The tools' listing questions answered by the storage itself, where it answers them fastest (a database: `GROUP BY`
 * and `ORDER BY … LIMIT`), so that a tool never loads every record: what a kind offers instead of a
 * {@link SummaryIndex} when it can query.
 */
export interface Listing {
	/** Every function with stored calls, with counts and summed statistics, and every one with statistics only (no calls). */
	functions(): ListedFunction[];
	/**
	 * A page of one function's calls, newest first (`created` descending, unknown last, then by key), with full
	 * records, and how many calls the function has; and, when the storage reads them with the page, the statistics it
	 * holds of the page's calls (then a tool asks for no others).
	 */
	page(
		fn: { readonly module: string | null; readonly name: string },
		offset: number,
		limit: number,
	): { total: number; entries: IndexEntry[]; stats?: readonly CallStats[] };
	/**
	 * The statistics of one function's keys (evicted calls included), by key, when the listing keeps them (so a page
	 * need not read every key's statistics); else the tool asks the cache.
	 */
	keyStats?(fn: { readonly module: string | null; readonly name: string }): ReadonlyMap<string, CallStats>;
}

/**
 * One type of storage: its configuration, its construction, and what tools can know of it. Register a new kind with
 * `registerStorageKind`; `C` is the kind's configuration, `V` and `K` the value and call storages it opens (the
 * capability methods receive only storages this kind opened).
 * @example
 * ```ts
 * registerStorageKind({
 * 	type: 'redis',
 * 	roles: ['values', 'calls'],
 * 	open: (config, role) => (role === 'values' ? new ValueRedis(config) : new CallRedis(config)),
 * });
 * ```
 */
export interface StorageKind<C extends StorageConfig = StorageConfig, V extends ValueStorage = ValueStorage, K extends CallStorage = CallStorage> {
	/** The `type` of its configurations, of its `fleche.toml` tables and of what its storages' `toConfig()` returns. */
	readonly type: string;
	/** The storages it can be: value storage, call storage, or both. */
	readonly roles: readonly StorageRole[];
	/** A `fleche.toml` table (`type` included) → its plain configuration; errors through `toml.error`. */
	fromToml?(table: TomlTable, role: StorageRole, toml: TomlReader): C;
	/** `template = "<type>"`: both storages of a cache from one table (its other keys checked with `toml.keys`). */
	template?(table: TomlTable, toml: TomlReader): StoragePair;
	/** Opens a storage from its configuration (made by `fromToml`, by `toConfig()`, or by hand: check it). */
	open(config: C, role: StorageRole): V | K;
	/** Where a storage of this configuration lives, whether it exists, and which folders to watch. */
	locate?(config: C, role: StorageRole): StorageSite;
	/** The storages of a store folder in this kind's layout (`calls.db`, `calls/`…), or `undefined` when it is not one. */
	recognize?(folder: string): StoragePair | undefined;
	/** Change notifications for stores that folders cannot tell about (a database server); else `locate().watch` is watched. */
	subscribe?(config: C, role: StorageRole, listener: () => void): Disposable;
	/** Bytes of the value stored under `digest`, `null` when unknown. */
	valueSize?(storage: V, digest: string): number | null;
	/** When the record `key` was stored, in seconds since the epoch (for records without Runtime metadata). */
	created?(storage: K, key: string): number | null;
	/** A summary index of the storage's records (see {@link SummaryIndex}). */
	summaryIndex?(storage: K): SummaryIndex;
	/** The listing answered by the storage itself (see {@link Listing}); preferred over `summaryIndex`. */
	listing?(storage: K): Listing;
	/**
	 * The keys of `values` that no call of `calls` refers to (as its result, an argument, or a file body named in the
	 * metadata namespace `filesNamespace`), when the store answers that itself in one consistent read (a database's
	 * anti-join); `undefined` when it cannot (the values live elsewhere). `gc` then reads no record.
	 */
	orphans?(calls: K, values: unknown, filesNamespace: string): Iterable<string> | undefined;

	/**
	 * Per-key leases for the calls of this storage (see {@link CallLeases}), so that processes sharing the store run
	 * an uncached call once; `undefined` when this storage cannot offer them (one only this process sees). Asked once
	 * per open storage by the cache that uses it, and by tools listing calls in flight.
	 */
	leases?(storage: K): CallLeases | undefined;
	/**
	 * Why an open storage cannot be reached now (a server that is down: the message names it, never a password), or
	 * `undefined` when it answers; asked by tools before they list, so that an outage is not shown as an empty store.
	 * Bounded by the storage's own time-outs. A storage that refuses its configuration throws instead.
	 */
	problem?(storage: V | K): string | undefined;
	/** Releases what an open storage holds (a worker thread, a connection). */
	close?(storage: V | K): void;
}

/**
 * The kinds a configuration can name, built-ins first: what reading `fleche.toml` consults (config/read.ts is handed
 * one, so that reading imports no storage) and what tools ask for a storage's capabilities.
 */
export interface StorageKinds {
	/** The kind of `type`, if one is built in or registered. */
	get(type: string): StorageKind | undefined;
	/** Every kind, built-ins first, then in registration order. */
	list(): readonly StorageKind[];
	/** For error messages: `built in: memory, void, file, sql, postgres; registered: …`, only kinds that can fill `role` when given. */
	known(role?: StorageRole): string;
}

function numberAt(record: CallRecord, field: string): number | null {
	const v = record.metadata.runtime?.[field];
	return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** When a call was stored according to its Runtime metadata. */
export function createdOf(record: CallRecord): number | null {
	return numberAt(record, 'timestop') ?? numberAt(record, 'timestart');
}

/** Seconds the call computed (Runtime metadata `walltime`). */
export function durationOf(record: CallRecord): number | null {
	return numberAt(record, 'walltime');
}

/** The list entry of a record at hand. */
export function entryOf(record: CallRecord): IndexEntry {
	return { key: record.key, module: record.module, name: record.name, version: record.version, created: createdOf(record), record };
}

/**
 * A kind without options and nothing on disk (`memory`, `void`): `{ type = "<type>" }`, `template = "<type>"`, and a
 * new storage from `open` each time.
 */
export function optionlessKind(type: string, open: (role: StorageRole) => ValueStorage | CallStorage): StorageKind {
	return {
		type,
		roles: ['values', 'calls'],
		fromToml(table, _role, toml) {
			toml.keys(table, [], `a '${type}' storage`);
			return { type };
		},
		template(table, toml) {
			toml.keys(table, [], `a '${type}' template`);
			return { values: { type }, calls: { type } };
		},
		open: (_config, role) => open(role),
	};
}
