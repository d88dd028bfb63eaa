// docs/behaviour.md §12 (responsive with 100,000 cached calls; §1.10 file storage, §6 queries, §11 statistics): the
// summary index of a file call storage (the file kind's `summaryIndex`, what fleche/inspect lists) — in memory, kept
// current, and persisted in the user's cache folder (never in the store: a tool that only reads writes nothing there)
// so that a new process (each CLI run, each extension start) reads neither every call file nor every statistics line.
//
// Where it is persisted: the folder `$FLECHE_INDEX_DIR/<first 32 hex of SHA-256 of the calls folder>/`; without that
// variable `<user cache folder>/fleche/inspect/…` (`$XDG_CACHE_HOME`, else `~/.cache` on Linux,
// `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows). `FLECHE_INDEX_DIR=` (empty) keeps it in memory only.
// It holds two kinds of file, so that a tool reads only what it shows:
// - `summary.json`: the first line is the SHA-256 hex of the rest, a JSON document `{ format, root, dir, stats,
//   functions: [[module, name, calls, versions, shard, statKeys, hits, misses, lastHit, computeSeconds, savedSeconds,
//   checked]…] }`
//   — per function its number of calls, versions and summed statistics, and the name of its shard. `root` names the
//   calls folder it describes (one naming another folder — a hash collision, a copied cache folder — is not used);
//   `dir` the folder mtime it is current for; `stats` how far the statistics journals were read (below).
// - `<shard>.json`, one per function, named by the first 32 hex of the SHA-256 of its own text (so a reader checks it,
//   and processes persisting at once never overwrite each other's): `{ format, root, module, name, calls: [[key,
//   version, ino, size, mtimeMs, created]…], stats: [[key, hits, misses, lastHit, computeSeconds, savedSeconds]…] }`.
//   Shards no summary names any more are removed by the next persist once they are a few minutes old.
// The function list (`fleche ls`, the editor's tree) reads the summary alone; a page of calls reads its function's
// shard. A missing, damaged, foreign or unwritable file only costs the slow path, silently: a shard that fails its
// check makes the folder the truth again (listed, and every call file not vouched for by a sound shard read).
//
// Reading 100,000 record files costs seconds; a stat of each costs half a second; listing the folder a tenth or more.
// So the entries are kept current thus:
// - The calls folder's mtime changes with every create, delete and replace (CallFile writes by renaming into place).
//   The summary carries the folder mtime it is current for; when the folder still has it, the index is used without
//   listing or stat-ing anything. An mtime within the last moment is not trusted (coarse filesystem clocks), like
//   git's racy-index rule.
// - Otherwise the folder is listed: files gone are dropped and new files read. A file still there keeps its entry
//   unchecked: it may have been replaced since (a rename into place always brings a new inode), but a record's
//   fields hash to its key, so a replacement has the same function and version — the counts and the function list are
//   right — and only its creation time can differ. Its function is marked unchecked (in the summary too), and its
//   first page stats each of its files and reads again those whose inode, size or mtime differ.
// - While open, fs.watch events name the files created, replaced and removed, so a refresh reads only those (a key's
//   record names its function, so only that function's shard is loaded; a removal loads every shard once, to find
//   the key). An event without a name, a burst of events large enough that the kernel's queue could have overflowed
//   (Linux drops events then without telling), a watcher error or a calls folder replaced (another inode) all fall
//   back to listing and stat-ing. Such incremental states are persisted from a timer, for the folder mtime of the
//   refresh before it: by then the event loop has polled, so events for every change before that mtime were applied.
// - Statistics (statsJournal.ts): the summary records the stamp of the statistics folder, the snapshot's stamp, the
//   journals merged into it and how far each journal was read. While the snapshot is the same, only the lines appended
//   since are read (journals only grow), and their deltas added to the functions' sums and their shards' keys; when a
//   compaction replaced the snapshot, everything is read again.
// A reader that rejected a record (damaged, or signed with a key it lacks) does not persist its entries, which lack
// that call; the listing shows what the last accepting reader saw, and showing a call reads and checks its record.
import { closeSync, type FSWatcher, lstatSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, watch, writeSync } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { join, sep } from 'node:path';
import { userCacheFolder } from '../../cacheFolder.js';
import type { CallRecord } from '../../call.js';
import { KeyError } from '../../errors.js';
import { type CallStats, mergeStats } from '../base.js';
import { isAbsent, readRegularFile } from '../fsUtil.js';
import { isKey } from '../keys.js';
import { entryOf, type IndexEntry as Entry, type ListedFunction, type Listing, type SummaryIndex } from '../kinds.js';
import { readAppended, readStats, STATS_DIR, statsStamp } from './statsJournal.js';

/** What the index reads: a file call storage (CallFile, which uses this index for its queries by name). */
export interface IndexedCalls {
	/** Absolute folder of the call files. */
	readonly root: string;
	get(key: string): CallRecord;
	list(): string[];
}

/** Identifies one version of a call file: a rename into place always brings a new inode. */
interface Stamp {
	readonly ino: number;
	readonly size: number;
	readonly mtimeMs: number;
}

interface Indexed {
	readonly entry: Entry;
	readonly stamp: Stamp;
}

type Version = string | number | null;

/** Statistics summed over a function's keys. */
interface Sums {
	hits: number;
	misses: number;
	lastHit: number | null;
	computeSeconds: number;
	savedSeconds: number;
}

/** One function's part of the index. Its calls and per-key statistics come from its shard, loaded when first needed. */
interface Group {
	readonly module: string | null;
	readonly name: string;
	/** Calls stored (what the summary says until the shard is loaded, then `calls.size`). */
	count: number;
	/** Distinct versions; `null` when the calls changed since they were counted. */
	versions: Version[] | null;
	/** Keys with statistics (evicted ones included). */
	statKeys: number;
	sums: Sums;
	/** The persisted shard holding this function's calls and statistics; `null` when none does. */
	shard: string | null;
	/** Its calls, by key; `null` until the shard is loaded. */
	calls: Map<string, Indexed> | null;
	/** Its keys' statistics; `null` until the shard is loaded (or when the shard had none). */
	keyStats: Map<string, CallStats> | null;
	/** The calls newest first, for pages; `null` when they changed since. */
	sorted: Entry[] | null;
	/** Changed since the shard was written. */
	dirty: boolean;
	/**
	 * Whether its calls' stamps were checked since the folder last changed without events: a listing that found them
	 * still there keeps them unchecked (a file replaced since has the same key, so the same function and version, and
	 * only its creation time can differ), and the first page of the function checks them (see the top of this module).
	 */
	verified: boolean;
}

/** How far the statistics folder was read (see the top of this module). */
interface StatsState {
	readonly all: string;
	readonly snapshot: string;
	readonly merged: readonly string[];
	readonly journals: ReadonlyMap<string, { readonly ino: number; readonly offset: number }>;
}

const FORMAT = 'fleche.inspect-index/3';
const SUMMARY = 'summary.json';
/** An mtime this recent may hide a later change within the same filesystem clock tick. */
const RACY_NS = 200_000_000n;
/** Delay before an incrementally refreshed index is persisted (see the top of this module). */
const PERSIST_MS = 1000;
/** Shards no summary names are removed once this old (a reader may still be about to load one it was named). */
const SHARD_GRACE_MS = 5 * 60_000;
/**
 * More watch events than this between two refreshes and they are not trusted to be complete: Linux drops events
 * silently when its queue (`fs.inotify.max_queued_events`, 16,384 by default) overflows between two polls.
 */
const EVENT_LIMIT = 4096;

/** The folder persisted indexes live in (see the top of this module); `null`: keep them in memory only. */
export const indexFolder: (env?: NodeJS.ProcessEnv) => string | null = userCacheFolder;

function stampOf(path: string): Stamp | undefined {
	const st = lstatSync(path, { throwIfNoEntry: false });
	return st === undefined || !st.isFile() ? undefined : { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

function sameStamp(a: Stamp, b: Stamp): boolean {
	return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

function isVersion(v: unknown): v is Version {
	return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function functionId(module: string | null, name: string): string {
	return `${module ?? ''}\0${name}`;
}

function sha(text: string): string {
	return createHash('sha256').update(text).digest('hex');
}

function emptySums(): Sums {
	return { hits: 0, misses: 0, lastHit: null, computeSeconds: 0, savedSeconds: 0 };
}

function addSums(into: Sums, s: CallStats): void {
	into.hits += s.hits;
	into.misses += s.misses;
	into.computeSeconds += s.computeSeconds;
	into.savedSeconds += s.savedSeconds;
	if (s.lastHit !== null && (into.lastHit === null || s.lastHit > into.lastHit)) into.lastHit = s.lastHit;
}

function newGroup(module: string | null, name: string, statsKnown: boolean): Group {
	return {
		module,
		name,
		count: 0,
		versions: [],
		statKeys: 0,
		sums: emptySums(),
		shard: null,
		calls: new Map(),
		keyStats: statsKnown ? new Map() : null,
		sorted: null,
		dirty: true,
		verified: true,
	};
}

/** Writes `text` to `file` atomically (temp file + rename); false when it cannot (read-only folder, full disk…). */
function writeFile(folder: string, file: string, text: string): boolean {
	const temp = `${folder}${sep}.${randomUUID()}.tmp`;
	let fd: number | undefined;
	try {
		mkdirSync(folder, { recursive: true });
		fd = openSync(temp, 'wx');
		writeSync(fd, text);
		closeSync(fd);
		fd = undefined;
		renameSync(temp, file);
		return true;
	} catch {
		if (fd !== undefined) {
			try {
				closeSync(fd);
			} catch {
				// already failing
			}
		}
		removeQuietly(temp);
		return false;
	}
}

function removeQuietly(path: string): void {
	try {
		unlinkSync(path);
	} catch {
		// gone already, or not ours to remove
	}
}

/** The persisted summary: its groups (shards not loaded), folder mtime and statistics state; `undefined` when unusable. */
function readSummary(file: string, root: string): { dir: string | null; stats: StatsState | null; groups: Map<string, Group> } | undefined {
	let text: string;
	try {
		text = readRegularFile(file).toString('utf8');
	} catch {
		return undefined;
	}
	const cut = text.indexOf('\n');
	if (cut !== 64 || text.slice(0, 64) !== sha(text.slice(65))) return undefined;
	let raw: unknown;
	try {
		raw = JSON.parse(text.slice(65));
	} catch {
		return undefined;
	}
	const doc = raw as { format?: unknown; root?: unknown; dir?: unknown; stats?: unknown; functions?: unknown } | null;
	if (doc === null || typeof doc !== 'object' || doc.format !== FORMAT || doc.root !== root || !Array.isArray(doc.functions)) return undefined;
	if (doc.dir !== null && typeof doc.dir !== 'string') return undefined;
	const stats = statsStateOf(doc.stats);
	if (stats === undefined) return undefined;
	const groups = new Map<string, Group>();
	for (const f of doc.functions as unknown[]) {
		if (!Array.isArray(f) || f.length !== 12) return undefined;
		const [module, name, count, versions, shard, statKeys, hits, misses, lastHit, computeSeconds, savedSeconds, verified] = f as unknown[];
		if (typeof verified !== 'boolean') return undefined;
		if ((module !== null && typeof module !== 'string') || typeof name !== 'string' || !isCount(count) || !isCount(statKeys)) return undefined;
		if (!Array.isArray(versions) || !versions.every(isVersion) || (shard !== null && (typeof shard !== 'string' || !/^[0-9a-f]{32}$/.test(shard))))
			return undefined;
		if (!isCount(hits) || !isCount(misses) || !isCount(computeSeconds) || !isCount(savedSeconds) || !(lastHit === null || isCount(lastHit))) return undefined;
		// A function with calls or statistics has a shard holding them.
		if (shard === null && (count > 0 || statKeys > 0)) return undefined;
		groups.set(functionId(module, name), {
			module,
			name,
			count,
			versions: versions,
			statKeys,
			sums: { hits, misses, lastHit, computeSeconds, savedSeconds },
			shard,
			calls: shard === null ? new Map() : null,
			keyStats: shard === null ? (stats === null ? null : new Map()) : null,
			sorted: null,
			dirty: false,
			verified,
		});
	}
	return { dir: doc.dir, stats, groups };
}

function statsStateOf(raw: unknown): StatsState | null | undefined {
	if (raw === null) return null;
	if (typeof raw !== 'object' || raw === undefined) return undefined;
	const s = raw as { all?: unknown; snapshot?: unknown; merged?: unknown; journals?: unknown };
	if (typeof s.all !== 'string' || typeof s.snapshot !== 'string') return undefined;
	const merged: unknown = s.merged;
	if (!Array.isArray(merged) || !merged.every((n): n is string => typeof n === 'string') || !Array.isArray(s.journals)) return undefined;
	const journals = new Map<string, { ino: number; offset: number }>();
	for (const j of s.journals as unknown[]) {
		if (!Array.isArray(j) || typeof j[0] !== 'string' || !isCount(j[1]) || !isCount(j[2])) return undefined;
		journals.set(j[0], { ino: j[1], offset: j[2] });
	}
	return { all: s.all, snapshot: s.snapshot, merged, journals };
}

/** A shard's calls and statistics, checked against its name and its function; `undefined` when unusable. */
function readShard(
	folder: string,
	shard: string,
	root: string,
	group: Group,
): { calls: Map<string, Indexed>; stats: Map<string, CallStats> | null } | undefined {
	let text: string;
	try {
		text = readRegularFile(join(folder, `${shard}.json`)).toString('utf8');
	} catch {
		return undefined;
	}
	if (sha(text).slice(0, 32) !== shard) return undefined;
	let raw: unknown;
	try {
		raw = JSON.parse(text);
	} catch {
		return undefined;
	}
	const doc = raw as { format?: unknown; root?: unknown; module?: unknown; name?: unknown; calls?: unknown; stats?: unknown } | null;
	if (doc === null || typeof doc !== 'object' || doc.format !== FORMAT || doc.root !== root || doc.module !== group.module || doc.name !== group.name)
		return undefined;
	if (!Array.isArray(doc.calls) || (doc.stats !== null && !Array.isArray(doc.stats))) return undefined;
	const calls = new Map<string, Indexed>();
	for (const c of doc.calls as unknown[]) {
		if (!Array.isArray(c) || c.length !== 6) return undefined;
		const [key, version, ino, size, mtimeMs, created] = c as unknown[];
		if (!isKey(key) || !isVersion(version) || typeof ino !== 'number' || typeof size !== 'number' || typeof mtimeMs !== 'number') return undefined;
		if (created !== null && typeof created !== 'number') return undefined;
		calls.set(key as string, { entry: { key: key as string, module: group.module, name: group.name, version, created }, stamp: { ino, size, mtimeMs } });
	}
	let stats: Map<string, CallStats> | null = null;
	if (doc.stats !== null) {
		stats = new Map();
		for (const s of doc.stats as unknown[]) {
			if (!Array.isArray(s) || s.length !== 6) return undefined;
			const [key, hits, misses, lastHit, computeSeconds, savedSeconds] = s as unknown[];
			if (!isKey(key) || !isCount(hits) || !isCount(misses) || !isCount(computeSeconds) || !isCount(savedSeconds) || !(lastHit === null || isCount(lastHit)))
				return undefined;
			stats.set(key as string, { key: key as string, name: group.name, module: group.module, hits, misses, lastHit, computeSeconds, savedSeconds });
		}
	}
	return { calls, stats };
}

function versionsOf(calls: ReadonlyMap<string, Indexed>): Version[] {
	return [...new Set([...calls.values()].map((c) => c.entry.version))];
}

/** Newest first (`created` descending, unknown last), then by key: the order of {@link Listing.page}. */
function newestFirst(calls: ReadonlyMap<string, Indexed>): Entry[] {
	const out = [...calls.values()].map((c) => c.entry);
	return out.sort((a, b) => (b.created ?? -Infinity) - (a.created ?? -Infinity) || (a.key < b.key ? -1 : 1));
}

/** In-memory copy of a file call storage's list entries and statistics, kept current and persisted (see the top). */
export class FileIndex implements SummaryIndex, Listing {
	/** Every function with calls or statistics (or both), by {@link functionId}. */
	#groups = new Map<string, Group>();
	/** Changes whenever the entries or statistics do, so derived lists can be reused. */
	generation = 0;
	/**
	 * The trusted folder mtime the entries are surely current for: that of the last listing (or of a summary found
	 * current); `null` after watch events were applied (events for changes before them may not have been polled).
	 */
	#claim: bigint | null = null;
	/** The folder mtime at the last refresh that listed the folder or applied events. */
	#seen: bigint | null = null;
	/** The inode of the calls folder the watcher watches. */
	#ino: bigint | null = null;
	#built = false;
	#watcher: FSWatcher | null = null;
	/** Files named by watch events since the last refresh; `null` = verify everything (see the top of this module). */
	#dirty: Set<string> | null = new Set();
	#events = 0;
	/** How far the statistics were read; `null`: the groups' statistics are not known. */
	#stats: StatsState | null = null;
	/** Where the index is persisted; `null` when only in memory. */
	readonly #folder: string | null;
	/** The index file of the previous format (one JSON file), removed when this one is persisted. */
	readonly #legacy: string | null;
	/** Entries changed since the index was last persisted. */
	#unsaved = false;
	#timer: NodeJS.Timeout | null = null;
	/** How many times this instance persisted the index (tests and benches observe it). */
	persisted = 0;
	/**
	 * Whether this instance found a record it could not accept (damaged, or signed with a key it does not have). Its
	 * entries then lack calls another reader may accept, so it never persists them: a reader with the wrong key must
	 * not hide the store from the next one (the index is trusted without reading the records).
	 */
	#rejectedAny = false;

	constructor(readonly calls: IndexedCalls) {
		const folder = indexFolder();
		const id = sha(calls.root).slice(0, 32);
		this.#folder = folder === null ? null : join(folder, id);
		this.#legacy = folder === null ? null : join(folder, `${id}.json`);
	}

	/** The current entries (call `refresh` first); loads every shard. */
	entries(): IterableIterator<Entry> {
		this.#loadAll();
		return (function* (groups) {
			for (const g of groups.values()) for (const { entry } of g.calls!.values()) yield entry;
		})([...this.#groups.values()]);
	}

	/**
	 * The keys of every call of the functions named `name` (in any module), current: reads only their shards, so a
	 * query by name costs its own function's calls, not the whole store's.
	 */
	keysNamed(name: string): string[] {
		this.refresh();
		const named = (): Group[] => [...this.#groups.values()].filter((g) => g.name === name);
		// An unusable shard rebuilds every group from the folder, each with its calls (as #loadAll relies on too).
		for (const g of named()) if (!this.#ensure(g)) break;
		return named().flatMap((g) => [...(g.calls?.keys() ?? [])]);
	}

	has(key: string): boolean {
		this.#loadAll();
		for (const g of this.#groups.values()) if (g.calls!.has(key)) return true;
		return false;
	}

	keys(): IterableIterator<string> {
		this.#loadAll();
		return (function* (groups) {
			for (const g of groups) yield* g.calls!.keys();
		})([...this.#groups.values()]);
	}

	/** Every function with stored calls or statistics, with counts and summed statistics (reads no shard). */
	functions(): ListedFunction[] {
		this.refresh();
		this.#refreshStats();
		const out: ListedFunction[] = [];
		for (const g of this.#groups.values()) {
			if (g.count === 0 && g.statKeys === 0) continue;
			if (g.versions === null) g.versions = versionsOf(g.calls!);
			out.push({ module: g.module, name: g.name, calls: g.count, versions: g.versions, ...g.sums });
		}
		return out;
	}

	page(fn: { readonly module: string | null; readonly name: string }, offset: number, limit: number): { total: number; entries: Entry[] } {
		this.refresh();
		let g = this.#loaded(functionId(fn.module, fn.name));
		if (g !== undefined && !g.verified) {
			this.#checkStamps(g);
			g = this.#groups.get(functionId(fn.module, fn.name));
		}
		if (g === undefined) return { total: 0, entries: [] };
		g.sorted ??= newestFirst(g.calls!);
		return { total: g.sorted.length, entries: g.sorted.slice(offset, offset + limit) };
	}

	/** The statistics of `fn`'s keys (evicted calls included), by key (reads its shard only). */
	keyStats(fn: { readonly module: string | null; readonly name: string }): ReadonlyMap<string, CallStats> {
		this.refresh();
		this.#refreshStats();
		return this.#loaded(functionId(fn.module, fn.name))?.keyStats ?? new Map();
	}

	/** Stats the calls of `g` (its shard loaded), reading again those whose file was replaced or is gone. */
	#checkStamps(g: Group): void {
		let changed = false;
		for (const [key, old] of g.calls!) {
			const stamp = stampOf(join(this.calls.root, key));
			if (stamp !== undefined && sameStamp(old.stamp, stamp)) continue;
			const c = this.#read(key);
			if (c === undefined) g.calls!.delete(key);
			else g.calls!.set(key, c);
			changed = true;
		}
		g.verified = true;
		if (changed) {
			this.#changed(g);
			this.generation++;
		}
		// The flag (and any new stamps) are persisted; the folder mtime claimed is as true as before.
		this.#schedulePersist(this.#claim);
	}

	/** The group `id` with its shard loaded (the slow path rebuilds everything when the shard is unusable). */
	#loaded(id: string): Group | undefined {
		const g = this.#groups.get(id);
		if (g === undefined || this.#ensure(g)) return g;
		return this.#groups.get(id);
	}

	/** Loads `g`'s shard; false when it was unusable and the index was rebuilt from the folder instead. */
	#ensure(g: Group): boolean {
		if (g.calls !== null && (g.keyStats !== null || this.#stats === null)) return true;
		const shard = g.shard === null || this.#folder === null ? undefined : readShard(this.#folder, g.shard, this.calls.root, g);
		if (shard !== undefined && shard.calls.size === g.count && (shard.stats === null || shard.stats.size === g.statKeys)) {
			g.calls ??= shard.calls;
			g.keyStats ??= shard.stats;
			if (g.keyStats === null) this.#stats = null;
			return true;
		}
		this.#verify();
		return false;
	}

	/** Loads every shard (rebuilding from the folder when one is unusable). */
	#loadAll(): void {
		this.refresh();
		for (const g of this.#groups.values()) if (!this.#ensure(g)) return;
	}

	#startWatch(ino: bigint): void {
		this.#ino = ino;
		try {
			this.#watcher = watch(this.calls.root, { persistent: false }, (_event, name) => {
				if (this.#dirty === null) return;
				if (name === null || name === undefined || ++this.#events > EVENT_LIMIT) this.#dirty = null;
				else this.#dirty.add(String(name));
			});
			this.#watcher.on('error', () => this.#stopWatch());
		} catch {
			this.#watcher = null;
		}
	}

	#stopWatch(): void {
		this.#watcher?.close();
		this.#watcher = null;
		this.#built = false; // without events, replaced records can only be seen by stat-ing everything again
	}

	#dirStat(): { mtime: bigint; ino: bigint } | undefined {
		try {
			const st = statSync(this.calls.root, { bigint: true });
			return { mtime: st.mtimeNs, ino: st.ino };
		} catch (err) {
			if (!isAbsent(err)) throw err;
			return undefined;
		}
	}

	/** Reads `key` (stat first: content newer than its stamp is only re-read later, never missed). */
	#read(key: string): Indexed | undefined {
		const stamp = stampOf(join(this.calls.root, key));
		if (stamp === undefined) return undefined;
		let record: CallRecord;
		try {
			record = this.calls.get(key);
		} catch (err) {
			if (!KeyError.is(err)) throw err;
			// Removed meanwhile (no cause), or failed this reader's checks (reported by the storage, left in place).
			if ((err as Error).cause !== undefined) this.#rejectedAny = true;
			return undefined;
		}
		const entry = entryOf(record);
		return { entry: { key, module: entry.module, name: entry.name, version: entry.version, created: entry.created ?? stamp.mtimeMs / 1000 }, stamp };
	}

	refresh(): void {
		const dir = this.#dirStat();
		if (dir === undefined) {
			let had = false;
			for (const g of this.#groups.values()) {
				if (g.count === 0) continue;
				had = true;
				g.calls = new Map();
				g.count = 0;
				g.versions = [];
				g.sorted = null;
				g.dirty = true;
			}
			if (had) this.generation++;
			this.#claim = this.#seen = null;
			this.#stopWatch();
			return;
		}
		if (this.#built && this.#ino !== dir.ino) this.#stopWatch(); // the folder was replaced: its watcher sees nothing
		if (!this.#built || this.#watcher === null || this.#dirty === null) this.#load(dir);
		// Events name what changed. Without events, a changed folder mtime means a change whose events are not polled
		// yet (a write by this process, or one just made): the listing tells, so a refresh is never behind the disk.
		else if (this.#dirty.size > 0 || dir.mtime !== this.#seen) this.#update(dir.mtime);
	}

	/** Trusted: an mtime old enough that no later change can hide behind it (see the top of this module). */
	#trusted(mtime: bigint): bigint | null {
		return BigInt(Date.now()) * 1_000_000n - mtime > RACY_NS ? mtime : null;
	}

	/** Builds the entries from the persisted summary (or the last known ones), verifying them against the folder. */
	#load(dir: { mtime: bigint; ino: bigint }): void {
		// The watcher starts before anything is read, so no change made meanwhile goes unnoticed.
		if (this.#watcher === null) this.#startWatch(dir.ino);
		this.#dirty = new Set();
		this.#events = 0;
		const trusted = this.#trusted(dir.mtime);
		if (this.#groups.size === 0 && this.#folder !== null) {
			const saved = readSummary(join(this.#folder, SUMMARY), this.calls.root);
			if (saved !== undefined) {
				this.#groups = saved.groups;
				this.#stats = saved.stats;
				this.generation++;
				if (saved.dir !== null && saved.dir === String(dir.mtime)) {
					this.#built = true;
					this.#seen = dir.mtime;
					this.#claim = trusted;
					return;
				}
			}
		}
		// Rebuilt after the watcher failed, or the folder changed since the summary: the entries at hand are verified.
		this.#verify();
	}

	/**
	 * The slow path: lists the folder and reads every file not vouched for by a known entry with the same stamp (the
	 * loaded groups' and every shard that passes its check), then regroups.
	 */
	#verify(): void {
		// Stat-ed before listing: a change made meanwhile gives the folder a later mtime than the one claimed.
		const dir = this.#dirStat();
		const trusted = dir === undefined ? null : this.#trusted(dir.mtime);
		this.#seen = dir?.mtime ?? null;
		let statsLost = false;
		let changed = false;
		for (const g of this.#groups.values()) {
			if (g.calls === null || (g.keyStats === null && this.#stats !== null)) {
				const shard = g.shard === null || this.#folder === null ? undefined : readShard(this.#folder, g.shard, this.calls.root, g);
				g.keyStats ??= shard?.stats ?? null;
				if (g.calls === null) {
					// An unusable shard: its calls are read from the folder like new ones.
					g.calls = shard?.calls ?? new Map();
					if (shard === undefined) this.#changed(g);
				}
			}
			if (g.keyStats === null) statsLost = true;
		}
		if (statsLost) this.#stats = null;
		// Known calls gone from the folder are dropped; those still there are kept unchecked (their function's first
		// page checks them); what is left of the listing is new, and read.
		const names = new Set(this.calls.list());
		for (const g of this.#groups.values()) {
			let gone = false;
			for (const key of g.calls!.keys()) {
				if (names.delete(key)) g.verified = false;
				else gone = g.calls!.delete(key) || gone;
			}
			if (gone) this.#changed(g);
		}
		for (const key of names) {
			const c = this.#read(key);
			if (c === undefined) continue;
			const id = functionId(c.entry.module, c.entry.name);
			let g = this.#groups.get(id);
			if (g === undefined) this.#groups.set(id, (g = newGroup(c.entry.module, c.entry.name, this.#stats !== null)));
			g.calls!.set(key, c);
			this.#changed(g);
		}
		for (const [id, g] of this.#groups) {
			if (g.dirty) changed = true;
			// Every call gone: listed while it has statistics (docs/behaviour.md §11).
			if (g.count === 0 && g.statKeys === 0 && g.keyStats !== null) this.#groups.delete(id);
		}
		this.generation++;
		this.#built = true;
		const persistedFor = this.#claim;
		this.#claim = trusted;
		if (changed || persistedFor !== trusted) this.#persist(trusted);
	}

	/**
	 * Applies the files watch events named (see the top of this module); with no events, diffs the listing first (every
	 * shard loaded: a key gone from the folder is looked for in all of them).
	 */
	#update(mtime: bigint): void {
		const trusted = this.#trusted(mtime);
		const dirty = this.#dirty!;
		this.#dirty = new Set();
		this.#events = 0;
		this.#seen = mtime;
		let changed = false;
		if (dirty.size === 0) {
			for (const g of this.#groups.values()) if (!this.#ensure(g)) return; // rebuilt from the folder
			const names = new Set(this.calls.list());
			for (const g of this.#groups.values()) {
				let gone = false;
				for (const key of g.calls!.keys()) if (!names.has(key)) gone = g.calls!.delete(key) || gone;
				if (gone) this.#changed(g);
				changed ||= gone;
				for (const key of g.calls!.keys()) names.delete(key);
			}
			// What is left is new.
			for (const key of names) dirty.add(key);
		}
		for (const key of dirty) {
			if (!isKey(key)) continue; // temporaries, `.stats`, `.leases`
			const c = this.#read(key);
			if (c === undefined) {
				// Gone (or rejected): which function had it is in some shard.
				let g: Group | undefined;
				for (const group of this.#groups.values()) {
					if (!this.#ensure(group)) return; // rebuilt from the folder, events included
					if (group.calls!.has(key)) g = group;
				}
				if (g === undefined) continue;
				g.calls!.delete(key);
				this.#changed(g);
				changed = true;
				continue;
			}
			// A record's fields hash to its key (CallFile checks it), so a key never moves to another function.
			const id = functionId(c.entry.module, c.entry.name);
			let g = this.#groups.get(id);
			if (g === undefined) this.#groups.set(id, (g = newGroup(c.entry.module, c.entry.name, this.#stats !== null)));
			if (!this.#ensure(g)) return;
			const old = g.calls!.get(key);
			if (old !== undefined && sameStamp(old.stamp, c.stamp)) continue;
			g.calls!.set(key, c);
			this.#changed(g);
			changed = true;
		}
		if (!changed) return;
		this.#claim = null;
		this.generation++;
		this.#schedulePersist(trusted);
	}

	#changed(g: Group): void {
		g.count = g.calls!.size;
		g.versions = null;
		g.sorted = null;
		g.dirty = true;
	}

	/** Brings the statistics up to date: the appended lines when the snapshot is the same, else everything. */
	#refreshStats(): void {
		const dir = join(this.calls.root, STATS_DIR);
		const stamp = statsStamp(dir) ?? statsStamp(dir);
		const last = this.#stats;
		if (stamp !== null && last !== null && last.all === stamp.all) return;
		if (stamp !== null && last !== null && last.snapshot === stamp.snapshot) {
			const read = readAppended(dir, undefined, { stats: new Map(), journals: new Map(last.journals), merged: new Set(last.merged), finished: 0 });
			if (read !== null && this.#addStats(read.stats)) {
				this.#stats = { all: stamp.all, snapshot: stamp.snapshot, merged: last.merged, journals: read.journals };
				this.generation++;
				this.#schedulePersist(this.#claim);
				return;
			}
		}
		this.#loadAll();
		const read = readStats(dir, undefined);
		for (const g of this.#groups.values()) {
			g.keyStats = new Map();
			g.statKeys = 0;
			g.sums = emptySums();
			g.dirty = true;
		}
		this.#stats = { all: '', snapshot: '', merged: [], journals: new Map() };
		this.#addStats(read.stats);
		for (const [id, g] of this.#groups) if (g.count === 0 && g.statKeys === 0) this.#groups.delete(id);
		this.#stats = stamp === null ? null : { all: stamp.all, snapshot: stamp.snapshot, merged: [...read.merged], journals: read.journals };
		this.generation++;
		this.#schedulePersist(this.#claim);
	}

	/** Adds per-key statistics deltas to their functions; false when a shard was unusable (then read everything). */
	#addStats(deltas: ReadonlyMap<string, CallStats>): boolean {
		// Every shard the deltas touch is loaded before any is added: an unusable one rebuilds (and persists) the index,
		// which must not hold deltas its statistics state does not account for yet.
		const touched = new Map<string, Group>();
		for (const d of deltas.values()) {
			const id = functionId(d.module, d.name);
			if (touched.has(id)) continue;
			let g = this.#groups.get(id);
			if (g === undefined) this.#groups.set(id, (g = newGroup(d.module, d.name, true)));
			if (!this.#ensure(g) || g.keyStats === null || this.#stats === null) return false;
			touched.set(id, g);
		}
		for (const d of deltas.values()) {
			const g = touched.get(functionId(d.module, d.name))!;
			if (!g.keyStats!.has(d.key)) g.statKeys++;
			mergeStats(g.keyStats!, d);
			addSums(g.sums, d);
			g.dirty = true;
		}
		return true;
	}

	#persist(dir: bigint | null): void {
		this.#unsaved = false;
		if (this.#rejectedAny || this.#folder === null) return;
		const folder = this.#folder;
		const functions: unknown[] = [];
		const root = this.calls.root;
		for (const g of this.#groups.values()) {
			if (g.dirty) {
				if (g.calls === null) return; // cannot happen: only loaded groups change
				const text = JSON.stringify({
					format: FORMAT,
					root,
					module: g.module,
					name: g.name,
					calls: [...g.calls.values()].map(({ entry, stamp }) => [entry.key, entry.version, stamp.ino, stamp.size, stamp.mtimeMs, entry.created]),
					stats:
						g.keyStats === null || this.#stats === null
							? null
							: [...g.keyStats.values()].map((s) => [s.key, s.hits, s.misses, s.lastHit, s.computeSeconds, s.savedSeconds]),
				});
				const shard = sha(text).slice(0, 32);
				// Written even when a file of that name exists: it may be the damaged copy that sent a reader here.
				if (!writeFile(folder, join(folder, `${shard}.json`), text)) return;
				g.shard = shard;
				g.dirty = false;
			}
			if (g.versions === null) g.versions = versionsOf(g.calls!);
			const stats = this.#stats === null ? emptySums() : g.sums;
			functions.push([
				g.module,
				g.name,
				g.count,
				g.versions,
				g.shard,
				this.#stats === null ? 0 : g.statKeys,
				stats.hits,
				stats.misses,
				stats.lastHit,
				stats.computeSeconds,
				stats.savedSeconds,
				g.verified,
			]);
		}
		const s = this.#stats;
		const body = JSON.stringify({
			format: FORMAT,
			root,
			dir: dir === null ? null : String(dir),
			stats: s === null ? null : { all: s.all, snapshot: s.snapshot, merged: s.merged, journals: [...s.journals].map(([name, j]) => [name, j.ino, j.offset]) },
			functions,
		});
		if (!writeFile(folder, join(folder, SUMMARY), `${sha(body)}\n${body}`)) return;
		this.persisted++;
		if (this.#legacy !== null) removeQuietly(this.#legacy);
		this.#sweep(folder);
	}

	/** Removes the shards no summary of this instance names, once old enough that no reader is about to load them. */
	#sweep(folder: string): void {
		const named = new Set<string>();
		for (const g of this.#groups.values()) if (g.shard !== null) named.add(`${g.shard}.json`);
		let names: string[];
		try {
			names = readdirSync(folder);
		} catch {
			return;
		}
		const cutoff = Date.now() - SHARD_GRACE_MS;
		for (const name of names) {
			if (name === SUMMARY || named.has(name) || !/^(?:[0-9a-f]{32}\.json|\..*\.tmp)$/.test(name)) continue;
			try {
				if (statSync(join(folder, name)).mtimeMs < cutoff) removeQuietly(join(folder, name));
			} catch {
				// removed by another process meanwhile
			}
		}
	}

	#schedulePersist(dir: bigint | null): void {
		this.#unsaved = true;
		if (this.#timer !== null) return;
		this.#timer = setTimeout(() => {
			this.#timer = null;
			// Events for changes before `dir` have been polled by now: apply them, then `dir` is safe to claim. A
			// refresh that changed more schedules the next persist, for its own later mtime.
			this.refresh();
			if (this.#timer === null && this.#unsaved && this.#watcher !== null && this.#dirty !== null) this.#persist(dir);
		}, PERSIST_MS);
		this.#timer.unref();
	}

	close(): void {
		if (this.#timer !== null) clearTimeout(this.#timer);
		this.#timer = null;
		// Events may not have been polled: persist the entries, claiming a folder mtime only when they are surely
		// current for it (statistics read since the last listing do not change what the entries are current for).
		if (this.#unsaved && this.#built) this.#persist(this.#claim);
		this.#watcher?.close();
		this.#watcher = null;
	}
}
