// docs/behaviour.md §2.6 "SQL", §3.4: the file-level protocol of the SQLite call store (see `sqlSchema.ts` for the formats):
// the lock, the change log (header, checksummed lines, appends) and the snapshot header. Plain `node:fs`, no sql.js,
// so the calling thread can append synchronously and the sql worker can read and compact with the same rules.
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, fstatSync, lstatSync, openSync, readdirSync, readSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { workerThreads } from '../../builtins.js';
// The lock is held for microseconds, so waiting briefly in `sleepSync` beats an async API.
import { sleepSync } from '../../clock.js';
import { errorCode, openFlags, processAlive, removeQuietly } from '../fsUtil.js';
import { applicationId, lockStaleMs, logFormat, suffix } from './schema.js';

/** First line of a log: which snapshot generations its body extends, and where it came from. */
export interface LogHeader {
	readonly log: string;
	/** Unique name of this log file. */
	readonly id: string;
	/** Generation of the snapshot written when this log was made; its body up to `merged` bytes is in it. */
	readonly base: number;
	/** Generation of the snapshot before `base` (body from byte 0 applies on top of it); null for a first log. */
	readonly prev: number | null;
	/** Bytes of the body already merged into snapshot `base`. */
	readonly merged: number;
	/** Id of the log this one continues, whose body from byte `skip` on is this body's start. */
	readonly from: string | null;
	readonly skip: number;
}

/** Paths of one store. */
export interface StorePaths {
	readonly db: string;
	readonly log: string;
	readonly lock: string;
	readonly breakLock: string;
	readonly compact: string;
}

/** The files beside `db`. */
export function storePaths(db: string): StorePaths {
	return { db, log: db + suffix.log, lock: db + suffix.lock, breakLock: db + suffix.breakLock, compact: db + suffix.compact };
}

/**
 * A unique dot-prefixed temporary sibling of `file` (same folder, so the rename is atomic), named after its writer
 * (`.<file>.<host tag>-<pid>.<uuid>.tmp`) so that {@link sweepTemps} can tell one a dead process left behind.
 */
export function tempSibling(file: string): string {
	return join(dirname(file), `.${basename(file)}.${hostTag}-${process.pid}.${randomUUID()}.tmp`);
}

/** A temporary file nobody is writing any more is removed after this long even when its writer cannot be checked. */
export const tempStaleMs = 120_000;

/**
 * Removes the temporary siblings of the store's snapshot and log that their writers can no longer finish: a process
 * that exits (or a worker thread that is terminated) in the middle of a compaction runs no cleanup, and a snapshot
 * temp is as large as the store. Call while holding the compaction claim: only its holder writes snapshot temps, and
 * log temps live for the instant between their write and their rename. Returns the names removed.
 */
export function sweepTemps(paths: StorePaths, now = Date.now()): string[] {
	const folder = dirname(paths.db);
	// Longest first: the log's temps also start with the snapshot's prefix.
	const prefixes = [`.${basename(paths.log)}.`, `.${basename(paths.db)}.`];
	const removed: string[] = [];
	let names: string[];
	try {
		names = readdirSync(folder);
	} catch {
		return removed;
	}
	for (const name of names) {
		if (!name.endsWith('.tmp')) continue;
		const prefix = prefixes.find((p) => name.startsWith(p));
		if (prefix === undefined) continue;
		const owner = /^([0-9a-f]{8})-(\d+)\.[0-9a-f-]{36}\.tmp$/.exec(name.slice(prefix.length));
		if (owner === null) continue;
		const file = join(folder, name);
		let age: number;
		try {
			age = now - statSync(file).mtimeMs;
		} catch {
			continue;
		}
		const pid = Number(owner[2]);
		const writerGone = owner[1] === hostTag && pid !== process.pid && !processAlive(pid);
		if (writerGone || age > tempStaleMs) {
			removeQuietly(file);
			removed.push(name);
		}
	}
	return removed;
}

const checksumLength = 8;

/** Line prefixes after the checksum and its space; a put's or evict's key follows at once (the store writes it first). */
const putPrefix = '["put",{"key":"';
const evictPrefix = '["evict","';
const statsPrefix = '["stats",';

/**
 * Which record the log line starting at `start` of `text` touches, read from its fixed place without decoding the
 * line: the key of a put or evict, null for statistics (which touch no record), undefined for anything else (a line
 * of another kind, or damaged: it may touch any record). Decoding the line is what tells whether it is valid.
 */
export function lineKey(text: string, start = 0): string | null | undefined {
	const body = start + checksumLength + 1;
	if (text.startsWith(putPrefix, body)) return text.slice(body + putPrefix.length, body + putPrefix.length + 64);
	if (text.startsWith(evictPrefix, body)) return text.slice(body + evictPrefix.length, body + evictPrefix.length + 64);
	return text.startsWith(statsPrefix, body) ? null : undefined;
}

function checksum(json: string): string {
	return createHash('sha256').update(json).digest('hex').slice(0, checksumLength);
}

/** One log line: `<first 8 hex of sha256(json)> <json>\n`. */
export function encodeLine(entry: unknown): string {
	return encodeJsonLine(JSON.stringify(entry));
}

/** {@link encodeLine} of an entry already in JSON. */
export function encodeJsonLine(json: string): string {
	return `${checksum(json)} ${json}\n`;
}

/**
 * The entries of the complete lines of `text` (a line without its newline is not read). A line with a wrong checksum
 * or that is not JSON is counted in `bad` and skipped.
 */
export function decodeLines(text: string): { entries: unknown[]; consumed: number; bad: number } {
	const entries: unknown[] = [];
	let bad = 0;
	let start = 0;
	for (;;) {
		const end = text.indexOf('\n', start);
		if (end < 0) break;
		const line = text.slice(start, end);
		start = end + 1;
		if (line === '') continue;
		const json = line.slice(checksumLength + 1);
		if (line.charCodeAt(checksumLength) !== 32 || checksum(json) !== line.slice(0, checksumLength)) {
			bad++;
			continue;
		}
		try {
			entries.push(JSON.parse(json));
		} catch {
			bad++;
		}
	}
	return { entries, consumed: Buffer.byteLength(text.slice(0, start)), bad };
}

function isHeader(raw: unknown): raw is LogHeader {
	if (typeof raw !== 'object' || raw === null) return false;
	const h = raw as Record<string, unknown>;
	return (
		h['log'] === logFormat &&
		typeof h['id'] === 'string' &&
		Number.isInteger(h['base']) &&
		(h['prev'] === null || Number.isInteger(h['prev'])) &&
		Number.isInteger(h['merged']) &&
		(h['from'] === null || typeof h['from'] === 'string') &&
		Number.isInteger(h['skip'])
	);
}

/** An open log: its header, where its body starts, and the identity of the file. */
export interface OpenLog {
	readonly header: LogHeader;
	readonly bodyStart: number;
	readonly ino: number;
	readonly size: number;
}

/**
 * Opens the log at `path` and reads its header, keeping the file open: its inode cannot be reused by another file
 * while `fd` is open, so comparing inodes against it is a sound test of "still the same log" (the caller closes it).
 * Null (nothing left open) when there is no log, or when its first line is not a valid header.
 */
export function openLog(path: string): (OpenLog & { readonly fd: number }) | null {
	let fd: number;
	try {
		fd = openSync(path, openFlags);
	} catch (err) {
		if (errorCode(err) === 'ENOENT') return null;
		throw err;
	}
	let kept = false;
	try {
		const st = fstatSync(fd);
		// A folder (or anything else but a file) where the log goes is no log: reads go on without one, and a write
		// fails when it tries to put a log there.
		if (!st.isFile()) return null;
		const buf = Buffer.alloc(Math.min(st.size, 4096));
		const n = readSync(fd, buf, 0, buf.length, 0);
		const nl = buf.subarray(0, n).indexOf(10);
		if (nl < 0) return null;
		const { entries } = decodeLines(buf.toString('utf8', 0, nl + 1));
		const header = entries[0];
		if (!isHeader(header)) return null;
		kept = true;
		return { header, bodyStart: nl + 1, ino: st.ino, size: st.size, fd };
	} finally {
		if (!kept) closeSync(fd);
	}
}

/** Reads the header of the log at `path`; null when there is no log, or when its first line is not a valid header. */
export function readLogHeader(path: string): OpenLog | null {
	const open = openLog(path);
	if (open === null) return null;
	closeSync(open.fd);
	const { header, bodyStart, ino, size } = open;
	return { header, bodyStart, ino, size };
}

/** What the first 100 bytes of a snapshot say. */
export interface SnapshotHeader {
	/** `user_version`: the generation (0 when there is no file). */
	readonly generation: number;
	/** `'none'`: no file; `'fleche'`: ours; `'plain'`: SQLite without an application id; `'foreign'`: another application's; `'garbage'`: not SQLite. */
	readonly kind: 'none' | 'fleche' | 'plain' | 'foreign' | 'garbage';
	readonly ino: number;
	readonly size: number;
}

const sqliteMagic = 'SQLite format 3\u0000';

/** Reads the snapshot's header (a few bytes) without opening it as a database. */
export function readSnapshotHeader(path: string): SnapshotHeader {
	let fd: number;
	try {
		fd = openSync(path, openFlags);
	} catch (err) {
		if (errorCode(err) === 'ENOENT') return { generation: 0, kind: 'none', ino: 0, size: 0 };
		throw err;
	}
	try {
		const st = fstatSync(fd);
		const buf = Buffer.alloc(100);
		const n = readSync(fd, buf, 0, 100, 0);
		if (n < 100 || buf.toString('latin1', 0, 16) !== sqliteMagic) return { generation: 0, kind: 'garbage', ino: st.ino, size: st.size };
		const app = buf.readUInt32BE(68);
		const kind = app === applicationId ? 'fleche' : app === 0 ? 'plain' : 'foreign';
		return { generation: buf.readInt32BE(60), kind, ino: st.ino, size: st.size };
	} finally {
		closeSync(fd);
	}
}

/** Writes `data` to a temporary sibling of `file` and renames it over `file`. */
export function writeAtomic(file: string, data: string | Uint8Array): void {
	const temp = tempSibling(file);
	try {
		writeFileSync(temp, data);
		renameSync(temp, file);
	} catch (err) {
		removeQuietly(temp);
		throw err;
	}
}

/** A new log header line extending snapshot `base` from scratch. */
export function freshHeader(base: number): LogHeader {
	return { log: logFormat, id: randomUUID(), base, prev: null, merged: 0, from: null, skip: 0 };
}


const thisHost = hostname();
/** Temp names carry this instead of the host name, which may be long or hold characters a file name cannot. */
const hostTag = createHash('sha256').update(thisHost).digest('hex').slice(0, 8);

/** Owner of a lock or marker file, as written into it. */
interface LockOwner {
	readonly pid: number;
	readonly host: string;
	readonly thread: number;
	readonly time: number;
	readonly token: string;
}

/** A lock's owner is a line of JSON: anything longer is not one, and is not read further. */
const ownerBytes = 4096;

/**
 * Who holds the lock or marker at `path`, and its age; null when there is none. Only a regular file is one fleche
 * made: anything else there (a link, dangling or looping, a folder, a device) was put there by someone else and has
 * no owner to read, so it is judged by its own age, like a lock whose writer died before writing it — and broken
 * then, instead of wedging the store for good (a link has no age of its target, and cannot be created over).
 */
function readOwner(path: string): { owner: LockOwner | null; mtimeMs: number } | null {
	try {
		const st = lstatSync(path);
		let owner: LockOwner | null = null;
		if (st.isFile()) {
			try {
				const raw = JSON.parse(readHead(path, ownerBytes)) as Partial<LockOwner>;
				if (typeof raw.pid === 'number' && typeof raw.host === 'string' && typeof raw.token === 'string') owner = raw as LockOwner;
			} catch {
				// Created but not written yet (or the writer was killed in between): judged by its age alone.
			}
		}
		return { owner, mtimeMs: st.mtimeMs };
	} catch (err) {
		if (errorCode(err) === 'ENOENT') return null;
		throw err;
	}
}

/** The first `max` bytes of `path` as UTF-8. */
function readHead(path: string, max: number): string {
	const fd = openSync(path, openFlags);
	try {
		const buf = Buffer.alloc(max);
		return buf.toString('utf8', 0, readSync(fd, buf, 0, max, 0));
	} finally {
		closeSync(fd);
	}
}

/** Whether the holder of a lock can no longer release it. */
function isStale(found: { owner: LockOwner | null; mtimeMs: number }, staleMs: number): boolean {
	const age = Date.now() - found.mtimeMs;
	if (found.owner === null) return age > 1000;
	if (found.owner.host === thisHost && !processAlive(found.owner.pid)) return true;
	return age > staleMs;
}

/** A lock file this thread holds, kept open so that releasing it can check it is still the same file. */
export interface HeldLock {
	readonly path: string;
	readonly fd: number;
}

function tryCreate(path: string, token: string): HeldLock | null {
	let fd: number;
	try {
		fd = openSync(path, 'wx');
	} catch (err) {
		if (errorCode(err) === 'EEXIST') return null;
		throw err;
	}
	try {
		const owner: LockOwner = { pid: process.pid, host: thisHost, thread: workerThreads().threadId, time: Date.now(), token };
		writeSync(fd, JSON.stringify(owner));
	} catch (err) {
		closeSync(fd);
		removeQuietly(path);
		throw err;
	}
	return { path, fd };
}

/**
 * Removes the lock at `path` if it is still the stale one that was found, under the break lock so that two
 * processes breaking it at once cannot remove a fresh lock taken in between.
 */
function breakStale(path: string, breakPath: string, found: { owner: LockOwner | null }): void {
	const held = tryCreate(breakPath, randomUUID());
	if (held === null) {
		const other = readOwner(breakPath);
		// The break lock is held for microseconds; one older than a second was left by a killed process.
		if (other !== null && Date.now() - other.mtimeMs > 1000) removeQuietly(breakPath);
		return;
	}
	try {
		const again = readOwner(path);
		if (again !== null && (again.owner?.token ?? null) === (found.owner?.token ?? null)) removeQuietly(path);
	} finally {
		releaseLock(held);
	}
}

/**
 * Takes the lock file at `paths.lock` (exclusive create), waiting with short sleeps while another thread or process
 * holds it and breaking it when its holder is dead or it is older than `staleMs`.
 * @throws Error after `timeoutMs`.
 */
export function acquireLock(paths: { lock: string; breakLock: string }, timeoutMs = 30_000, staleMs = lockStaleMs): HeldLock {
	const token = randomUUID();
	const deadline = Date.now() + timeoutMs;
	let pause = 0.2;
	for (;;) {
		const held = tryCreate(paths.lock, token);
		if (held !== null) return held;
		const found = readOwner(paths.lock);
		if (found !== null && isStale(found, staleMs)) {
			breakStale(paths.lock, paths.breakLock, found);
			continue;
		}
		if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the lock ${paths.lock}`);
		sleepSync(pause * (0.5 + Math.random()));
		pause = Math.min(pause * 2, 8);
	}
}

/** Takes the lock file only if it is free (or stale); null when someone else holds it. */
export function tryAcquire(path: string, breakPath: string, staleMs: number): HeldLock | null {
	const token = randomUUID();
	const held = tryCreate(path, token);
	if (held !== null) return held;
	const found = readOwner(path);
	if (found === null || !isStale(found, staleMs)) return null;
	breakStale(path, breakPath, found);
	return tryCreate(path, token);
}

/** Releases a lock; leaves the file alone if it was broken meanwhile and someone else holds it now. */
export function releaseLock(held: HeldLock): void {
	try {
		if (fstatSync(held.fd).ino === statSync(held.path).ino) unlinkSync(held.path);
	} catch {
		// Already removed (broken as stale): nothing of ours to remove.
	} finally {
		closeSync(held.fd);
	}
}

/**
 * Makes sure the log at `paths.log` extends the current snapshot, replacing it by a fresh one when it is missing or
 * belongs to neither the current snapshot nor the one before (a store the user removed, or files copied together
 * from different moments). Call under the lock. Returns the log's inode.
 */
export function ensureLog(paths: StorePaths): number {
	const log = readLogHeader(paths.log);
	const snapshot = readSnapshotHeader(paths.db);
	if (log !== null && (log.header.base === snapshot.generation || log.header.prev === snapshot.generation)) return log.ino;
	writeAtomic(paths.log, encodeLine(freshHeader(snapshot.generation)));
	return statSync(paths.log).ino;
}

/**
 * Appends `text` (whole lines) to the open log `fd` whose size is `size`. Call under the lock, so `size` is exact. A
 * log that does not end in a newline (a writer was killed mid-append) is ended first, so the torn fragment becomes one
 * bad line instead of spoiling this one (`endsWithNewline`: the caller knows it does, as its own last append
 * ended at `size`). Returns the number of bytes written.
 */
export function appendToLog(fd: number, size: number, text: string, endsWithNewline = false): number {
	let out = text;
	if (size > 0 && !endsWithNewline) {
		const last = Buffer.alloc(1);
		readSync(fd, last, 0, 1, size - 1);
		if (last[0] !== 10) out = `\n${text}`;
	}
	const bytes = Buffer.from(out);
	let done = 0;
	while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, size + done);
	return bytes.length;
}
