// docs/behaviour.md §12 (responsive with 100,000 cached calls; §1.10 file storage, §6 queries): the summary index
// of a file call storage (the file kind's `summaryIndex`, what fleche/inspect lists) — in memory, kept current, and
// persisted in the user's cache folder (never in the store: a tool that only reads writes nothing there) so that a new
// process (each CLI run, each extension start) does not read every call file again.
//
// Where it is persisted: `$FLECHE_INDEX_DIR/<first 32 hex of SHA-256 of the calls folder>.json`; without that
// variable `<user cache folder>/fleche/inspect/…` (`$XDG_CACHE_HOME`, else `~/.cache` on Linux,
// `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows). `FLECHE_INDEX_DIR=` (empty) keeps it in memory only.
// The file names the calls folder it describes, and one naming another folder (a hash collision, a copied cache
// folder) is not used.
//
// Reading 100,000 record files costs seconds; a stat of each costs most of a second; listing the folder a tenth. So:
// - The calls folder's mtime changes with every create, delete and replace (CallFile writes by renaming into place).
//   The persisted index carries the folder mtime it is current for; when the folder still has it, the index is used
//   without listing or stat-ing anything. An mtime within the last moment is not trusted (coarse filesystem clocks),
//   like git's racy-index rule.
// - Otherwise each listed file is stat-ed and read again only when new or when its inode, size or mtime differ (a
//   rename into place always brings a new inode); files gone from the listing are dropped.
// - While open, fs.watch events name replaced files, so a refresh only diffs the listing and reads the named files.
//   Such incremental states are persisted from a timer, for the folder mtime of the refresh before it: by then the
//   event loop has polled, so events for every change before that mtime were applied.
// A missing, corrupt, foreign or unwritable index only costs the slow path, silently.
// A reader that rejected a record (damaged, or signed with a key it lacks) does not persist its entries, which lack
// that call; the listing shows what the last accepting reader saw, and showing a call reads and checks its record.
import { closeSync, type FSWatcher, lstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, watch, writeSync } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { dirname, join, sep } from 'node:path';
import { userCacheFolder } from '../../cacheFolder.js';
import type { CallRecord } from '../../call.js';
import { KeyError } from '../../errors.js';
import { isAbsent } from '../fsUtil.js';
import { entryOf, type IndexEntry as Entry, type SummaryIndex } from '../kinds.js';

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

const FORMAT = 'fleche.inspect-index/2';
/** An mtime this recent may hide a later change within the same filesystem clock tick. */
const RACY_NS = 200_000_000n;
/** Delay before an incrementally refreshed index is persisted (see the top of this module). */
const PERSIST_MS = 1000;

/** The folder persisted indexes live in (see the top of this module); `null`: keep them in memory only. */
export const indexFolder: (env?: NodeJS.ProcessEnv) => string | null = userCacheFolder;

function stampOf(path: string): Stamp | undefined {
	const st = lstatSync(path, { throwIfNoEntry: false });
	return st === undefined || !st.isFile() ? undefined : { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

function sameStamp(a: Stamp, b: Stamp): boolean {
	return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

function isVersion(v: unknown): v is string | number | null {
	return v === null || typeof v === 'string' || typeof v === 'number';
}

/**
 * The persisted index: `{ format, root, dir, functions: [[module, name, version]…], calls: [[key, fn, ino, size, mtimeMs,
 * created]…] }`, functions shared so the file stays about 100 bytes a call. `undefined` when absent or unusable.
 */
function readIndex(file: string, root: string): { dir: string | null; calls: Map<string, Indexed> } | undefined {
	let raw: unknown;
	try {
		raw = JSON.parse(readFileSync(file, 'utf8'));
	} catch {
		return undefined;
	}
	const doc = raw as { format?: unknown; root?: unknown; dir?: unknown; functions?: unknown; calls?: unknown } | null;
	if (doc === null || typeof doc !== 'object' || doc.format !== FORMAT || doc.root !== root || !Array.isArray(doc.functions) || !Array.isArray(doc.calls))
		return undefined;
	if (doc.dir !== null && typeof doc.dir !== 'string') return undefined;
	const fns: { module: string | null; name: string; version: string | number | null }[] = [];
	for (const f of doc.functions as unknown[]) {
		if (!Array.isArray(f) || (f[0] !== null && typeof f[0] !== 'string') || typeof f[1] !== 'string' || !isVersion(f[2])) return undefined;
		fns.push({ module: f[0] as string | null, name: f[1], version: f[2] });
	}
	const calls = new Map<string, Indexed>();
	for (const c of doc.calls as unknown[]) {
		if (!Array.isArray(c) || c.length !== 6) return undefined;
		const [key, fn, ino, size, mtimeMs, created] = c as unknown[];
		const f = typeof fn === 'number' ? fns[fn] : undefined;
		if (typeof key !== 'string' || f === undefined || typeof ino !== 'number' || typeof size !== 'number' || typeof mtimeMs !== 'number') return undefined;
		if (created !== null && typeof created !== 'number') return undefined;
		calls.set(key, { entry: { key, module: f.module, name: f.name, version: f.version, created }, stamp: { ino, size, mtimeMs } });
	}
	return { dir: doc.dir, calls };
}

/** Writes the index atomically (temp file + rename); false when it cannot (read-only store, full disk…). */
function writeIndex(file: string, root: string, dir: string | null, calls: ReadonlyMap<string, Indexed>): boolean {
	const fnIds = new Map<string, number>();
	const functions: unknown[] = [];
	const rows: unknown[] = [];
	for (const { entry, stamp } of calls.values()) {
		const id = JSON.stringify([entry.module, entry.name, entry.version]);
		let fn = fnIds.get(id);
		if (fn === undefined) {
			fnIds.set(id, (fn = functions.length));
			functions.push([entry.module, entry.name, entry.version]);
		}
		rows.push([entry.key, fn, stamp.ino, stamp.size, stamp.mtimeMs, entry.created]);
	}
	const text = JSON.stringify({ format: FORMAT, root, dir, functions, calls: rows });
	const folder = dirname(file);
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
		try {
			unlinkSync(temp);
		} catch {
			// never created
		}
		return false;
	}
}

/** In-memory copy of a file call storage's list entries, kept current and persisted (see the top of this module). */
export class FileIndex implements SummaryIndex {
	#calls = new Map<string, Indexed>();
	/** Changes whenever the entries do, so derived lists can be reused. */
	generation = 0;
	/** The trusted folder mtime the entries are current for, once built. */
	#mtime: bigint | null = null;
	#built = false;
	#watcher: FSWatcher | null = null;
	/** Files named by watch events since the last refresh; `null` = an event without a name (verify everything). */
	#dirty: Set<string> | null = new Set();
	/** Where the index is persisted; `null` when only in memory. */
	readonly #file: string | null;
	/** Entries changed since the index was last persisted. */
	#unsaved = false;
	#timer: NodeJS.Timeout | null = null;
	/** How many index files this instance wrote (tests and benches observe it). */
	persisted = 0;
	/**
	 * Whether this instance found a record it could not accept (damaged, or signed with a key it does not have). Its
	 * entries then lack calls another reader may accept, so it never persists them: a reader with the wrong key must
	 * not hide the store from the next one (the index is trusted without reading the records).
	 */
	#rejectedAny = false;

	constructor(readonly calls: IndexedCalls) {
		const folder = indexFolder();
		this.#file = folder === null ? null : join(folder, `${createHash('sha256').update(calls.root).digest('hex').slice(0, 32)}.json`);
	}

	/** The current entries (call `refresh` first). */
	entries(): IterableIterator<Entry> {
		return (function* (calls) {
			for (const { entry } of calls.values()) yield entry;
		})(this.#calls);
	}

	has(key: string): boolean {
		return this.#calls.has(key);
	}

	keys(): IterableIterator<string> {
		return this.#calls.keys();
	}

	#startWatch(): void {
		try {
			this.#watcher = watch(this.calls.root, { persistent: false }, (_event, name) => {
				if (name === null || name === undefined) this.#dirty = null;
				else this.#dirty?.add(String(name));
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

	#dirMtime(): bigint | undefined {
		try {
			return statSync(this.calls.root, { bigint: true }).mtimeNs;
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
		const mtime = this.#dirMtime();
		if (mtime === undefined) {
			if (this.#calls.size > 0) this.generation++;
			this.#calls.clear();
			this.#mtime = null;
			this.#stopWatch();
			return;
		}
		if (this.#built && this.#mtime === mtime && this.#dirty !== null && this.#dirty.size === 0) return;
		if (!this.#built || this.#watcher === null || this.#dirty === null) this.#load();
		else this.#update(mtime);
	}

	/** Builds the entries from the persisted index (or the last known ones), verifying them against the folder. */
	#load(): void {
		// The watcher starts before anything is read, so no change made meanwhile goes unnoticed.
		if (this.#watcher === null) this.#startWatch();
		this.#dirty = new Set();
		// Rebuilt after the watcher failed: the entries at hand, verified like a persisted index.
		const saved = this.#calls.size > 0 ? { dir: null, calls: new Map(this.#calls) } : this.#file === null ? undefined : readIndex(this.#file, this.calls.root);
		const mtime = this.#dirMtime();
		if (mtime === undefined) return this.refresh();
		const trusted = BigInt(Date.now()) * 1_000_000n - mtime > RACY_NS ? mtime : null;
		let changed = saved === undefined || saved.dir !== (trusted === null ? null : String(trusted));
		if (saved !== undefined && saved.dir !== null && saved.dir === String(mtime)) {
			this.#replace(saved.calls);
		} else {
			const next = new Map<string, Indexed>();
			for (const key of this.calls.list()) {
				const old = saved?.calls.get(key);
				const stamp = old === undefined ? undefined : stampOf(join(this.calls.root, key));
				if (old !== undefined && stamp !== undefined && sameStamp(old.stamp, stamp)) {
					next.set(key, old);
					continue;
				}
				changed = true;
				const read = this.#read(key);
				if (read !== undefined) next.set(key, read);
			}
			if (saved !== undefined && saved.calls.size !== next.size) changed = true;
			this.#replace(next);
		}
		this.#built = true;
		this.#mtime = trusted;
		if (changed) this.#persist(trusted);
	}

	#replace(calls: Map<string, Indexed>): void {
		// Adopted, not copied: every caller hands over a map of its own (copying 100,000 entries cost a second).
		this.#calls = calls;
		this.generation++;
	}

	/** Diffs the listing and reads the files watch events named. */
	#update(mtime: bigint): void {
		const trusted = BigInt(Date.now()) * 1_000_000n - mtime > RACY_NS ? mtime : null;
		const dirty = this.#dirty ?? new Set<string>();
		this.#dirty = new Set();
		const names = new Set(this.calls.list());
		let changed = false;
		for (const key of this.#calls.keys()) {
			if (names.has(key)) continue;
			this.#calls.delete(key);
			changed = true;
		}
		for (const key of names) {
			if (this.#calls.has(key) && !dirty.has(key)) continue;
			const read = this.#read(key);
			const old = this.#calls.get(key);
			if (read === undefined) changed = this.#calls.delete(key) || changed;
			else if (old === undefined || !sameStamp(old.stamp, read.stamp)) {
				this.#calls.set(key, read);
				changed = true;
			}
		}
		this.#mtime = trusted;
		this.generation++;
		if (changed) this.#schedulePersist(trusted);
	}

	#persist(dir: bigint | null): void {
		if (this.#rejectedAny) {
			this.#unsaved = false;
			return;
		}
		if (this.#file !== null && writeIndex(this.#file, this.calls.root, dir === null ? null : String(dir), this.#calls)) this.persisted++;
		this.#unsaved = false;
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
		// Events may not have been polled: persist the entries, but not a folder mtime they are surely current for.
		if (this.#unsaved && this.#built) this.#persist(null);
		this.#watcher?.close();
		this.#watcher = null;
	}
}
