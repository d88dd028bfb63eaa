// docs/behaviour.md §1.12, §2.6, §5: the file store keeps values and call records one file per key (the pickle family's
// layout); this module holds what both kinds of entry share: atomic writes, reads, listing and removal by key.
// Formats: values in ./values.ts, call records in ./calls.ts, hit/miss statistics in ./statsJournal.ts. A call's small
// values live inside its call file (call file format 2, ./calls.ts): a small call is one file.
//
// Sample on-disk paths (values and calls live in separate roots):
//
//   ~/.cache/fleche/values/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//   ~/.cache/fleche/values/.3b0c4f1e-8a6d-4c52-b2a7-5d1c0e7f9a21.tmp   (a write in progress)
//   ~/.cache/fleche/calls/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
//
// Invariants:
// - A file is named by its full 64-hex key and nothing else lives under a 64-hex name; dot-files are temporaries.
// - A file appears complete or not at all: it is written under a unique dot-prefixed temporary name in the same
//   folder and renamed into place, which is atomic on one filesystem. No lock is taken: several processes may write
//   the same root at once; two writers of one value key write the same content, so whichever rename lands last wins
//   harmlessly.
// - Files are never fsynced (it is a cache). A crash can leave a short or garbage file; the length and checksum in
//   every value file, and the strict shape check of call files, turn that into a miss, so the rerun of the function
//   rewrites it.
// - Reading never deletes or rewrites anything: a file that fails its checks (damaged, tampered, or signed with a key
//   this reader does not have) is a reported miss and stays where it is. It is replaced by the next write of the same
//   key, and removed only by an explicit `gc` (temporaries) or `fleche verify --delete` (damaged entries).
// - A file this version cannot read but that is not damaged (a newer format version, a serializer this process has
//   not registered) is a miss that is reported once and left in place for the process that can read it.
// - Temporaries of writers that were killed mid-write stay behind; `gc` removes the ones older than its grace period
//   (a live writer's temporary is younger: its mtime moves with every write).
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, utimesSync, writeSync, writevSync } from 'node:fs';
import { sep } from 'node:path';
import { zlib } from '../../builtins.js';
import { KeyError, Rejected, SaveError, SignatureError } from '../../errors.js';
import { warn, warnOnce } from '../../log.js';
import { assertKey, expandPrefix, isKey } from '../keys.js';
import { errorCode, errorText, isAbsent, readFileIfPresent, removeQuietly } from '../fsUtil.js';

/** Why an entry cannot be read here although it is not damaged; it is left on disk for a reader that can. */
export class Unreadable extends Error {}

export function typeName(value: unknown): string {
	if (value === null) return 'null';
	if (typeof value !== 'object') return typeof value;
	const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
	return typeof name === 'string' && name !== '' ? name : 'object';
}

type Crc32 = (data: Uint8Array, value?: number) => number;
let crcOf: Crc32 | undefined;

/** CRC-32 of `data` (continuing from `value`), zlib's when this Node has it. */
export function crc32(data: Uint8Array, value?: number): number {
	if (crcOf === undefined) {
		const native = zlib().crc32 as Crc32 | undefined;
		crcOf = typeof native === 'function' ? native : softwareCrc32;
	}
	return crcOf(data, value);
}

let crcTable: Int32Array | undefined;

// zlib.crc32 arrived in Node 20.15; older Node 20 releases fall back to the table-driven version.
function softwareCrc32(data: Uint8Array, value = 0): number {
	if (crcTable === undefined) {
		crcTable = new Int32Array(256);
		for (let n = 0; n < 256; n++) {
			let c = n;
			for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
			crcTable[n] = c;
		}
	}
	let crc = ~value;
	for (let i = 0; i < data.length; i++) crc = (crcTable[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
	return ~crc >>> 0;
}

function writeAll(fd: number, chunks: readonly Uint8Array[]): void {
	let total = 0;
	for (const chunk of chunks) total += chunk.byteLength;
	const written = writevSync(fd, chunks);
	if (written === total) return;
	// A short write is rare on regular files; finish the rest byte range by byte range.
	let skip = written;
	for (const chunk of chunks) {
		if (skip >= chunk.byteLength) {
			skip -= chunk.byteLength;
			continue;
		}
		let offset = skip;
		skip = 0;
		while (offset < chunk.byteLength) offset += writeSync(fd, chunk, offset, chunk.byteLength - offset);
	}
}

/**
 * Writes `chunks` to `file` atomically: a unique dot-prefixed temporary sibling, then a rename over `file`. Creates
 * the root on the first write. Throws {@link SaveError} naming the root on any failure, after removing the temporary.
 * With `keepExisting`, a failed rename onto a file that exists (Windows refuses to replace a file another process
 * holds open) counts as success: a content-addressed file that exists is already right.
 */
export function writeAtomic(root: string, file: string, chunks: readonly Uint8Array[], keepExisting: boolean): void {
	const temp = `${root}${sep}.${randomUUID()}.tmp`;
	let fd: number | undefined;
	try {
		try {
			fd = openSync(temp, 'wx');
		} catch (err) {
			if (errorCode(err) !== 'ENOENT') throw err;
			// The root is created lazily so that opening a storage that is only ever read creates nothing.
			mkdirSync(root, { recursive: true });
			fd = openSync(temp, 'wx');
		}
		writeAll(fd, chunks);
		closeSync(fd);
		fd = undefined;
		try {
			renameSync(temp, file);
		} catch (err) {
			if (!(keepExisting && existsSync(file))) throw err;
			removeQuietly(temp);
		}
	} catch (err) {
		if (fd !== undefined) {
			try {
				closeSync(fd);
			} catch {
				// Already failing; the original error is the one worth reporting.
			}
		}
		removeQuietly(temp);
		// Node's message already carries the code and the path: "EACCES: permission denied, open '…'".
		throw new SaveError(`Cannot write to the cache folder ${root}: ${errorText(err)}`, { cause: err });
	}
}

/**
 * Whether `file` exists, refreshing its mtime when it does: a writer about to refer to an existing value from a new
 * call record shows `gc` that the value is in use (gc keeps files younger than its grace period). Costs what the
 * existence check it replaces cost: one system call.
 */
export function refreshIfPresent(file: string): boolean {
	try {
		const now = new Date();
		utimesSync(file, now, now);
		return true;
	} catch (err) {
		if (isAbsent(err)) return false;
		// Not ours to touch (a shared store, another user's file): it exists, which is all a content-addressed write needs.
		return existsSync(file);
	}
}

/** Reads `file`, turning "not there" into a plain miss and any other read failure into a reported miss. */
export function readEntry(file: string, key: string): Buffer {
	const bytes = readIfPresent(file, key);
	if (bytes === undefined) throw new KeyError(key);
	return bytes;
}

/**
 * Reads `file`; `undefined` when it is not there (a lookup's common case: no `KeyError` and its stack are made for
 * it), any other read failure a reported miss.
 */
export function readIfPresent(file: string, key: string): Buffer | undefined {
	try {
		return readFileIfPresent(file);
	} catch (err) {
		const message = `Cannot read cache file ${file}: ${errorText(err)}`;
		warn('FLECHE_READ_ERROR', message, { cause: err });
		throw new KeyError(key, message, { cause: err });
	}
}

/**
 * Reports an entry that failed its checks and returns the miss to throw. The file is left in place: a reader never
 * deletes (with another secret key, or another version of fleche, the "bad" file may be valid); the recompute's write
 * of the same key replaces it, and `fleche verify --delete` removes it.
 */
export function rejectEntry(file: string, key: string, err: unknown): KeyError {
	if (err instanceof Unreadable) {
		warnOnce(`unreadable:${err.message}`, 'FLECHE_UNREADABLE_ENTRY', `Cannot read cache file ${file}: ${err.message}`);
		return new KeyError(key, `Cannot read cache file ${file}: ${err.message}`, { cause: err });
	}
	const reason = errorText(err);
	const signature = SignatureError.is(err);
	const message = `${signature ? 'Rejected' : 'Corrupt'} cache file ${file}: ${reason}; treated as a miss (a recompute replaces it)`;
	warn(signature ? 'FLECHE_BAD_SIGNATURE' : 'FLECHE_CORRUPT_ENTRY', message, { cause: err });
	return new KeyError(key, message, { cause: err });
}

export function listKeys(root: string): string[] {
	let names: string[];
	try {
		names = readdirSync(root);
	} catch (err) {
		if (isAbsent(err)) return [];
		throw err;
	}
	// Only full 64-hex names are entries: this skips dot-files, `*.tmp` temporaries and anything a user dropped in.
	return names.filter(isKey);
}

export function evictFile(root: string, key: string): void {
	assertKey(key);
	try {
		unlinkSync(`${root}${sep}${key}`);
	} catch (err) {
		if (isAbsent(err)) throw new KeyError(key);
		throw new Rejected(`Cannot remove cache file ${root}${sep}${key}: ${errorText(err)}`, { cause: err });
	}
}

/**
 * Removes the file of `key` unless it was written or refreshed (see `ValueFile.put`) within the last `graceMs`:
 * returns whether it removed it. A writer that refreshes the file between the age check and the removal is noticed
 * (the file is moved aside first and its mtime read again), and the file is put back.
 */
export function evictIdle(root: string, key: string, graceMs: number): boolean {
	assertKey(key);
	const file = `${root}${sep}${key}`;
	const fail = (err: unknown): never => {
		if (isAbsent(err)) throw new KeyError(key);
		throw new Rejected(`Cannot remove cache file ${file}: ${errorText(err)}`, { cause: err });
	};
	if (graceMs <= 0) {
		evictFile(root, key);
		return true;
	}
	const cutoff = Date.now() - graceMs;
	try {
		if (statSync(file).mtimeMs > cutoff) return false;
	} catch (err) {
		fail(err);
	}
	const aside = `${root}${sep}.${randomUUID()}.gc`;
	try {
		renameSync(file, aside);
	} catch (err) {
		fail(err);
	}
	let fresh: boolean;
	try {
		fresh = statSync(aside).mtimeMs > cutoff;
	} catch {
		fresh = false;
	}
	if (fresh) {
		try {
			// link, not rename: a file a writer recreated meanwhile is as good and stays.
			linkSync(aside, file);
		} catch (err) {
			if (errorCode(err) !== 'EEXIST') {
				try {
					renameSync(aside, file);
				} catch {
					// Best effort; the writer whose refresh failed writes the file again.
				}
			}
		}
	}
	removeQuietly(aside);
	return !fresh;
}

/** What `writeAtomic` and `evictIdle` name their temporaries: a dot, a UUID, `.tmp` or `.gc`. */
const temporaryName = /^\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(?:tmp|gc)$/;

/** Removes the temporaries under `root` not written for `graceMs` (left by killed writers); returns how many. */
export function sweepTemporaries(root: string, graceMs: number): number {
	let names: string[];
	try {
		names = readdirSync(root);
	} catch (err) {
		if (isAbsent(err)) return 0;
		throw err;
	}
	const cutoff = Date.now() - graceMs;
	let removed = 0;
	for (const name of names) {
		if (!temporaryName.test(name)) continue;
		try {
			const st = lstatSync(`${root}${sep}${name}`);
			if (!st.isFile() || st.mtimeMs > cutoff) continue;
			unlinkSync(`${root}${sep}${name}`);
			removed++;
		} catch {
			// Renamed into place or removed by its writer or another gc meanwhile.
		}
	}
	return removed;
}

export function expandIn(root: string, prefix: string): string {
	// A full key needs no directory listing, which costs time proportional to the store.
	if (isKey(prefix)) {
		if (existsSync(`${root}${sep}${prefix}`)) return prefix;
		throw new KeyError(prefix);
	}
	return expandPrefix(prefix, typeof prefix === 'string' && prefix.length >= 4 ? listKeys(root) : []);
}
