// The file store's hit/miss statistics journals.
//
// Hit/miss statistics of a call root (docs/behaviour.md §11) live in its `.stats/` folder, which `list()` skips (not a 64-hex name):
//
//   calls/.stats/build1-4242-9f3a6c01.jsonl            journal of one CallFile in one process: only it appends
//   calls/.stats/build1-4242-9f3a6c01.3.closed.jsonl   a journal its writer rotated away; never written again
//   calls/.stats/snapshot.json                          merged totals, and the names of the journals merged into it
//   calls/.stats/.compact.lock                          held (exclusive create) while a process compacts
//
// Why journals: several processes count hits at once, and a hit must never wait for a disk write. Each writer
// appends whole batches (one `appendFileSync` of one line per flush, at most once a second) to a file no other
// process writes, so writers never contend and never lose each other's deltas; a torn last line (a crash mid-append)
// is skipped. Readers sum the snapshot and every journal not listed as merged in it. Compaction folds journals that
// can no longer grow (rotated, or whose process on this host is gone, or untouched for an hour on another host) into
// a new snapshot written to a temporary and renamed into place, then deletes them; a crash between the rename and the
// deletes double-counts nothing, because the snapshot names what it merged. It runs under the lock file (a lock older
// than 30 s is stale and taken over), when a writer reading the statistics finds many such journals or a writer starts
// on a crowded folder; a process that only reads (`fleche ls`, the editor) never compacts, rewrites or deletes them.
//
// Journal line: `{"t":<epoch s>,"d":[[key, name, module, hits, misses, lastHit|null, computeSeconds, savedSeconds], …]}`.
// Snapshot: `{"format":"fleche.stats/1","merged":[journal names],"stats":[[same tuple], …]}`.
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { sep } from 'node:path';
import { warnOnce } from '../../log.js';
import { mergeStats, type CallStats } from '../base.js';
import { errorCode, errorText, isAbsent, readRange, readRegularFile, removeQuietly } from '../fsUtil.js';
import { isKey } from '../keys.js';

export const STATS_DIR = '.stats';
const SNAPSHOT = 'snapshot.json';
const STATS_FORMAT = 'fleche.stats/1';
const LOCK = '.compact.lock';
/** A writer starts a new journal past this size, so the old one can be compacted while the writer lives on. */
export const ROTATE_BYTES = 1 << 20;
/** A writer reading the statistics compacts when it finds at least this many journals that can be merged. */
export const COMPACT_AT = 16;
/** A writer compacts before its first write when the folder holds more entries than this. */
export const CROWDED = 64;
const STALE_LOCK_MS = 30_000;
/** A journal of a process on another host is merged once nobody has appended to it for this long. */
const FOREIGN_IDLE_MS = 3_600_000;

const journalName = /^(.+)-(\d+)-([0-9a-f]+)(?:\.(\d+)\.closed)?\.jsonl$/;
export const thisHost = hostname().replace(/[^A-Za-z0-9_.]/g, '_') || 'host';

type StatsTuple = [string, string, string | null, number, number, number | null, number, number];

export function toTuple(s: CallStats): StatsTuple {
	return [s.key, s.name, s.module, s.hits, s.misses, s.lastHit, s.computeSeconds, s.savedSeconds];
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function fromTuple(t: unknown): CallStats | undefined {
	if (!Array.isArray(t) || t.length !== 8) return undefined;
	const [key, name, module, hits, misses, lastHit, computeSeconds, savedSeconds] = t as unknown[];
	if (!isKey(key) || typeof name !== 'string' || !(module === null || typeof module === 'string')) return undefined;
	if (!isCount(hits) || !isCount(misses) || !isCount(computeSeconds) || !isCount(savedSeconds)) return undefined;
	if (!(lastHit === null || isCount(lastHit))) return undefined;
	return { key: key as string, name, module, hits, misses, lastHit, computeSeconds, savedSeconds };
}

/**
 * Adds every delta of a journal's text. A damaged line (or delta) is skipped with a warning, once per journal; an
 * unfinished last line is an append in progress unless the journal is finished (its writer crashed mid-append).
 */
function readJournal(text: string, into: Map<string, CallStats>, file: string, finished: boolean, merge = (d: CallStats) => mergeStats(into, d, true)): void {
	let start = 0;
	let bad = 0;
	while (start < text.length) {
		let end = text.indexOf('\n', start);
		if (end < 0) {
			if (!finished) break;
			end = text.length;
		}
		const line = text.slice(start, end);
		start = end + 1;
		if (line === '') continue;
		let deltas: unknown;
		try {
			deltas = (JSON.parse(line) as { d?: unknown } | null)?.d;
		} catch {
			deltas = undefined;
		}
		if (!Array.isArray(deltas)) {
			bad++;
			continue;
		}
		for (const t of deltas) {
			const s = fromTuple(t);
			if (s !== undefined) merge(s);
			else bad++;
		}
	}
	if (bad > 0) {
		warnOnce(`stats-journal:${file}`, 'FLECHE_CORRUPT_ENTRY', `Corrupt statistics journal ${file}: ${bad} damaged line(s) or entries skipped`);
	}
}

interface Snapshot {
	readonly merged: readonly string[];
	readonly stats: Map<string, CallStats>;
}

function readSnapshot(dir: string): Snapshot {
	let text: string;
	try {
		text = readRegularFile(`${dir}${sep}${SNAPSHOT}`).toString('utf8');
	} catch (err) {
		if (isAbsent(err)) return { merged: [], stats: new Map() };
		throw err;
	}
	const stats = new Map<string, CallStats>();
	try {
		const raw = JSON.parse(text) as { format?: unknown; merged?: unknown; stats?: unknown };
		if (raw.format !== STATS_FORMAT || !Array.isArray(raw.merged) || !Array.isArray(raw.stats)) throw new Error(`not a ${STATS_FORMAT} snapshot`);
		for (const t of raw.stats) {
			const s = fromTuple(t);
			if (s !== undefined) mergeStats(stats, s, true);
		}
		return { merged: raw.merged.filter((n): n is string => typeof n === 'string'), stats };
	} catch (err) {
		warnOnce(`stats-snapshot:${dir}`, 'FLECHE_CORRUPT_ENTRY', `Corrupt statistics snapshot ${dir}${sep}${SNAPSHOT} (${errorText(err)}); its totals are ignored`);
		return { merged: [], stats };
	}
}

export function listDir(dir: string): string[] {
	try {
		return readdirSync(dir);
	} catch (err) {
		if (isAbsent(err)) return [];
		throw err;
	}
}

function processGone(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return false;
	} catch (err) {
		return errorCode(err) === 'ESRCH';
	}
}

/** Whether nobody can append to this journal any more, so compaction may fold it into the snapshot. */
function journalFinished(dir: string, name: string, ownJournal: string | undefined): boolean {
	const m = journalName.exec(name);
	if (m === null || name === ownJournal) return false;
	if (m[4] !== undefined) return true;
	if (m[1] === thisHost) return Number(m[2]) !== process.pid && processGone(Number(m[2]));
	try {
		return Date.now() - statSync(`${dir}${sep}${name}`).mtimeMs > FOREIGN_IDLE_MS;
	} catch {
		return false;
	}
}

function takeLock(dir: string): boolean {
	const lock = `${dir}${sep}${LOCK}`;
	for (let attempt = 0; attempt < 2; attempt++) {
		try {
			closeSync(openSync(lock, 'wx'));
			return true;
		} catch (err) {
			if (errorCode(err) !== 'EEXIST') return false;
			try {
				if (Date.now() - statSync(lock).mtimeMs < STALE_LOCK_MS) return false;
				// Left by a process killed while compacting: compaction is idempotent, so taking it over is safe.
				unlinkSync(lock);
			} catch {
				// Released meanwhile: try again.
			}
		}
	}
	return false;
}

/** Folds finished journals into a new snapshot; skipped when another process holds the lock. */
export function compactStats(dir: string, ownJournal: string | undefined): void {
	if (!takeLock(dir)) return;
	try {
		const snapshot = readSnapshot(dir);
		const names = new Set(listDir(dir));
		for (const name of snapshot.merged) if (names.has(name)) removeQuietly(`${dir}${sep}${name}`);
		const merged: string[] = [];
		const stats = snapshot.stats;
		const already = new Set(snapshot.merged);
		for (const name of names) {
			if (already.has(name) || !journalFinished(dir, name, ownJournal)) continue;
			let text: string;
			try {
				text = readRegularFile(`${dir}${sep}${name}`).toString('utf8');
			} catch {
				continue;
			}
			readJournal(text, stats, `${dir}${sep}${name}`, true);
			merged.push(name);
		}
		if (merged.length === 0) return;
		const body = JSON.stringify({ format: STATS_FORMAT, merged, stats: [...stats.values()].map(toTuple) });
		const temp = `${dir}${sep}.${randomUUID()}.tmp`;
		try {
			writeFileSync(temp, body);
			renameSync(temp, `${dir}${sep}${SNAPSHOT}`);
		} catch (err) {
			removeQuietly(temp);
			throw err;
		}
		for (const name of merged) removeQuietly(`${dir}${sep}${name}`);
	} finally {
		removeQuietly(`${dir}${sep}${LOCK}`);
	}
}

/** How far a journal was read: its inode, and the byte after its last complete line read. */
interface JournalRead {
	readonly ino: number;
	readonly offset: number;
}

/** Statistics summed from the folder, with what is needed to read only what is appended later. */
export interface StatsRead {
	readonly stats: Map<string, CallStats>;
	/** Journals read (not merged into the snapshot), by name. */
	readonly journals: Map<string, JournalRead>;
	/** Journals the snapshot says it holds. */
	readonly merged: ReadonlySet<string>;
	/** How many journals nobody appends to any more (compaction folds them in from {@link COMPACT_AT} on). */
	readonly finished: number;
}

/** The bytes of `path` from `from` on, with the file's inode and size; null when it is gone. */
function readFrom(path: string, from: number): { ino: number; size: number; bytes: Buffer } | null {
	try {
		return readRange(path, from);
	} catch (err) {
		if (isAbsent(err)) return null;
		throw err;
	}
}

/** Sums the snapshot and every journal not merged into it; retries when a compaction or rotation moved files. */
export function readStats(dir: string, ownJournal: string | undefined): StatsRead {
	for (let attempt = 0; ; attempt++) {
		const names = listDir(dir).filter((n) => journalName.test(n));
		const snapshot = readSnapshot(dir);
		const merged = new Set(snapshot.merged);
		const stats = snapshot.stats;
		const journals = new Map<string, JournalRead>();
		let vanished = false;
		let finished = 0;
		for (const name of names) {
			if (merged.has(name)) continue;
			const read = readFrom(`${dir}${sep}${name}`, 0);
			if (read === null) {
				vanished = true;
				break;
			}
			const done = journalFinished(dir, name, ownJournal);
			// An unfinished journal's last line may be an append in progress: it is read (in full) next time.
			const end = done ? read.bytes.length : read.bytes.lastIndexOf(10) + 1;
			readJournal(read.bytes.toString('utf8', 0, end), stats, `${dir}${sep}${name}`, done);
			journals.set(name, { ino: read.ino, offset: end });
			if (done) finished++;
		}
		if (!vanished || attempt >= 5) return { stats, journals, merged, finished };
	}
}

/**
 * `previous` brought up to date by reading only what was appended to its journals since, and any new journal; null
 * when a journal was replaced, shrank or went away (a compaction or a rotation ran: read everything again). The
 * objects of `previous.stats` are not changed (callers may still hold them): a key with new deltas gets a copy.
 */
export function readAppended(dir: string, ownJournal: string | undefined, previous: StatsRead): StatsRead | null {
	const names = listDir(dir).filter((n) => journalName.test(n) && !previous.merged.has(n));
	const present = new Set(names);
	for (const name of previous.journals.keys()) if (!present.has(name)) return null;
	const stats = new Map(previous.stats);
	const copied = new Set<string>();
	const merge = (d: CallStats): void => {
		const have = stats.get(d.key);
		if (have !== undefined && !copied.has(d.key)) stats.set(d.key, { ...have });
		copied.add(d.key);
		mergeStats(stats, d, true);
	};
	const journals = new Map(previous.journals);
	let finished = 0;
	for (const name of names) {
		const known = previous.journals.get(name);
		const read = readFrom(`${dir}${sep}${name}`, known?.offset ?? 0);
		if (read === null || (known !== undefined && (read.ino !== known.ino || read.size < known.offset))) return null;
		const done = journalFinished(dir, name, ownJournal);
		if (done) finished++;
		const end = read.bytes.lastIndexOf(10) + 1;
		if (end > 0) readJournal(read.bytes.toString('utf8', 0, end), stats, `${dir}${sep}${name}`, true, merge);
		journals.set(name, { ino: read.ino, offset: (known?.offset ?? 0) + end });
	}
	return { stats, journals, merged: previous.merged, finished };
}

/**
 * What the statistics folder holds, as names with inode, size and mtime (`all`), and the snapshot's part of it:
 * journals only grow (by appends) and the snapshot is only replaced (by a rename), so equal stamps mean equal
 * contents. `null` when it cannot be read.
 */
export function statsStamp(dir: string): { readonly all: string; readonly snapshot: string } | null {
	try {
		const parts: string[] = [];
		let snapshot = '';
		for (const name of listDir(dir).sort()) {
			const st = statSync(`${dir}${sep}${name}`);
			const part = `${name}:${st.ino}:${st.size}:${st.mtimeMs}`;
			if (name === SNAPSHOT) snapshot = part;
			parts.push(part);
		}
		return { all: parts.join('\n'), snapshot };
	} catch {
		return null;
	}
}
