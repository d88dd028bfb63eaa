// reference §1.12, §2.6, §5: file storage for values and call records, one file per key (the pickle family's layout).
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
//   every value file, and the strict shape check of call files, turn that into a miss that deletes the file, so the
//   rerun of the function rewrites it.
// - A file this version cannot read but that is not damaged (a newer format version, a serializer this process has
//   not registered) is a miss that is reported once and left in place for the process that can read it.
//
// Value file format, version 1 (all integers little-endian):
//
//   offset   size  field
//   0        4     magic "FLCH"
//   4        1     format version = 1
//   5        1     flags: bit 0 = payload gzip-compressed, bit 1 = signed; other bits 0
//   6        1     n = length of the serializer name (1–255)
//   7        n     serializer name, ASCII ("v8", "json", or a registerSerializer name)
//   7+n      4     L = payload length (uint32)
//   11+n     L     payload: the serializer's bytes (a gzip member when compressed)
//   11+n+L   4     CRC-32 of bytes [0, 11+n+L)
//   15+n+L   64    signed only: lowercase hex HMAC-SHA256 with the first secret key over bytes [0, 15+n+L)
//
// The file length must be exactly 15+n+L (+64 when signed).
//
// Call file format: UTF-8 JSON `{ "format": "fleche.call/1", "record": { key, name, module, version, codeDigest,
// arguments, result, metadata[, async] } }`, validated field by field on read and checked against its own key.
//
// Hit/miss statistics of a call root (issue 6) live in its `.stats/` folder, which `list()` skips (not a 64-hex name):
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
// than 30 s is stale and taken over), when a reader finds many such journals or a writer starts on a crowded folder.
//
// Journal line: `{"t":<epoch s>,"d":[[key, name, module, hits, misses, lastHit|null, computeSeconds, savedSeconds], …]}`.
// Snapshot: `{"format":"fleche.stats/1","merged":[journal names],"stats":[[same tuple], …]}`.
import { randomBytes, randomUUID } from 'node:crypto';
import {
	appendFileSync,
	closeSync,
	existsSync,
	mkdirSync,
	openSync,
	opendirSync,
	readdirSync,
	readFileSync,
	renameSync,
	statSync,
	unlinkSync,
	writeFileSync,
	writeSync,
	writevSync,
} from 'node:fs';
import { homedir, hostname } from 'node:os';
import { resolve, sep } from 'node:path';
import * as zlib from 'node:zlib';
import { recordKey, type CallRecord, type Metadata } from '../call.js';
import { CorruptEntry, KeyError, Rejected, SaveError, SignatureError } from '../errors.js';
import { warn, warnOnce } from '../log.js';
import { mergeStats } from '../stats.js';
import { readRange } from './fileRange.js';
import type { CallStats, CallStorage, StatsStorage, StorageConfig, ValueStorage } from './base.js';
import { assertKey, expandPrefix, isKey } from './keys.js';
import { signerFor, SIGNATURE_LENGTH, type SecretKeyOption, type Signer } from './security.js';
import { findSerializer, getSerializer, type BuiltinSerializerName, type Serializer } from './serializers.js';

const MAGIC = Buffer.from('FLCH', 'latin1');
const FORMAT_VERSION = 1;
const FLAG_GZIP = 1;
const FLAG_SIGNED = 2;
const KNOWN_FLAGS = FLAG_GZIP | FLAG_SIGNED;
const CRC_LENGTH = 4;
/** `readFileSync` refuses files above 2 GiB, so a bigger file could be written but never read back. */
const MAX_FILE_LENGTH = 2 ** 31 - 1;
const CALL_FORMAT = 'fleche.call/1';

/** Why an entry cannot be read here although it is not damaged; it is left on disk for a reader that can. */
class Unreadable extends Error {}

/** @internal Expands a leading `~` to the home folder and makes `root` absolute. */
export function resolveRoot(root: string): string {
	if (typeof root !== 'string' || root === '') throw new TypeError('A file storage needs a non-empty `root` folder');
	if (root === '~') return homedir();
	if (root.startsWith('~/') || root.startsWith(`~${sep}`)) return resolve(homedir(), root.slice(2));
	return resolve(root);
}

function errorCode(err: unknown): string | undefined {
	return typeof err === 'object' && err !== null ? (err as NodeJS.ErrnoException).code : undefined;
}

function errorText(err: unknown): string {
	return err instanceof Error ? err.message : String(err);
}

function isAbsent(err: unknown): boolean {
	const code = errorCode(err);
	return code === 'ENOENT' || code === 'ENOTDIR';
}

function removeQuietly(file: string): void {
	try {
		unlinkSync(file);
	} catch {
		// Best effort: another process may have removed or replaced it already.
	}
}

function typeName(value: unknown): string {
	if (value === null) return 'null';
	if (typeof value !== 'object') return typeof value;
	const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
	return typeof name === 'string' && name !== '' ? name : 'object';
}

const crc32: (data: Uint8Array, value?: number) => number =
	typeof zlib.crc32 === 'function' ? zlib.crc32 : softwareCrc32;

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
function writeAtomic(root: string, file: string, chunks: readonly Uint8Array[], keepExisting: boolean): void {
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

/** Reads `file`, turning "not there" into a plain miss and any other read failure into a reported miss. */
function readEntry(file: string, key: string): Buffer {
	try {
		return readFileSync(file);
	} catch (err) {
		if (isAbsent(err)) throw new KeyError(key);
		const message = `Cannot read cache file ${file}: ${errorText(err)}`;
		warn('FLECHE_READ_ERROR', message, { cause: err });
		throw new KeyError(key, message, { cause: err });
	}
}

/** Reports a corrupt entry once, removes it so the rerun rewrites it, and returns the miss to throw. */
function discard(file: string, key: string, err: unknown): KeyError {
	if (err instanceof Unreadable) {
		warnOnce(`unreadable:${err.message}`, 'FLECHE_UNREADABLE_ENTRY', `Cannot read cache file ${file}: ${err.message}`);
		return new KeyError(key, `Cannot read cache file ${file}: ${err.message}`, { cause: err });
	}
	const reason = errorText(err);
	const signature = SignatureError.is(err);
	const message = `${signature ? 'Rejected' : 'Corrupt'} cache file ${file}: ${reason}; removed it so it is recomputed`;
	warn(signature ? 'FLECHE_BAD_SIGNATURE' : 'FLECHE_CORRUPT_ENTRY', message, { cause: err });
	removeQuietly(file);
	return new KeyError(key, message, { cause: err });
}

function listKeys(root: string): string[] {
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

function evictFile(root: string, key: string): void {
	assertKey(key);
	try {
		unlinkSync(`${root}${sep}${key}`);
	} catch (err) {
		if (isAbsent(err)) throw new KeyError(key);
		throw new Rejected(`Cannot remove cache file ${root}${sep}${key}: ${errorText(err)}`, { cause: err });
	}
}

function expandIn(root: string, prefix: string): string {
	// A full key needs no directory listing, which costs time proportional to the store.
	if (isKey(prefix)) {
		if (existsSync(`${root}${sep}${prefix}`)) return prefix;
		throw new KeyError(prefix);
	}
	return expandPrefix(prefix, typeof prefix === 'string' && prefix.length >= 4 ? listKeys(root) : []);
}

/** Options of {@link ValueFile}. */
export interface ValueFileOptions {
	/** Folder that holds one file per value; a leading `~` means the home folder. Created on the first write. */
	readonly root: string;
	/**
	 * Codec for new files: `'v8'` keeps `Map`, `Set`, `Date`, `BigInt`, typed arrays and cycles; `'json'` is readable by
	 * other tools but refuses values it would change; other names come from `registerSerializer`. Reading always uses
	 * the codec named in the file.
	 * @default 'v8'
	 */
	readonly serializer?: BuiltinSerializerName | (string & {});
	/**
	 * Key(s) to sign new files with and to verify files against (hex; several joined with `:` or in an array, the first
	 * signs and all verify). With a key, unsigned or wrongly signed files are misses; without one, signatures are not
	 * checked. An empty string turns signing off even when `FLECHE_SECRET_KEY` is set.
	 * @default the colon-separated hex keys in `FLECHE_SECRET_KEY`, else no signing
	 */
	readonly secretKey?: SecretKeyOption;
	/**
	 * Gzip each payload. Worth it for large, repetitive values; it costs CPU on every write and read. Files are read
	 * correctly whatever this is set to.
	 * @default false
	 */
	readonly compress?: boolean;
}

/**
 * Value storage with one file per value under `root` (reference §2.6): content-addressed, so a file once written is
 * never rewritten. Safe for several processes sharing the root; see the file format at the top of this module.
 *
 * @example
 * ```ts
 * import { ValueFile, digest } from 'fleche';
 * const values = new ValueFile({ root: '~/.cache/fleche/values', compress: true });
 * const key = digest(result);
 * values.put(key, result);
 * values.get(key); // a fresh copy of result
 * ```
 */
export class ValueFile implements ValueStorage {
	/** Absolute folder holding the files. */
	readonly root: string;
	/** Name of the codec new files are written with. */
	readonly serializer: string;
	/** Whether new payloads are gzip-compressed. */
	readonly compress: boolean;
	readonly #codec: Serializer;
	readonly #signer: Signer | null;
	readonly #dir: string;
	/** Magic, version, flags and serializer name: identical for every file this instance writes. */
	readonly #headerStart: Buffer;

	/**
	 * Nothing is touched on disk until the first `put`.
	 * @throws TypeError for an unknown serializer or a secret key that is not hex.
	 */
	constructor(options: ValueFileOptions) {
		this.root = resolveRoot(options.root);
		this.#dir = this.root + sep;
		this.serializer = options.serializer ?? 'v8';
		this.#codec = getSerializer(this.serializer);
		this.compress = options.compress ?? false;
		this.#signer = signerFor(options.secretKey);
		const name = Buffer.from(this.serializer, 'latin1');
		this.#headerStart = Buffer.concat([
			MAGIC,
			Buffer.from([FORMAT_VERSION, (this.compress ? FLAG_GZIP : 0) | (this.#signer ? FLAG_SIGNED : 0), name.length]),
			name,
		]);
	}

	/** Stores `value` under `key` unless a file for `key` exists. */
	put(key: string, value: unknown): void {
		assertKey(key);
		const file = this.#dir + key;
		if (existsSync(file)) return;
		let payload: Uint8Array;
		try {
			payload = this.#codec.serialize(value);
			if (this.compress) payload = zlib.gzipSync(payload);
		} catch (err) {
			throw new SaveError(`Cannot serialize a value of type ${typeName(value)} with the '${this.serializer}' serializer: ${errorText(err)}`, {
				cause: err,
			});
		}
		const start = this.#headerStart;
		const headerLength = start.length + 4;
		const total = headerLength + payload.byteLength + CRC_LENGTH + (this.#signer ? SIGNATURE_LENGTH : 0);
		if (total > MAX_FILE_LENGTH) {
			throw new SaveError(`Cannot store a value of type ${typeName(value)}: ${total} bytes serialized, more than the 2 GiB a file may hold`);
		}
		// Header and trailer share one allocation; the payload is written from where the serializer left it (writev).
		const frame = Buffer.allocUnsafe(headerLength + CRC_LENGTH);
		start.copy(frame, 0);
		frame.writeUInt32LE(payload.byteLength, start.length);
		const header = frame.subarray(0, headerLength);
		const crc = frame.subarray(headerLength);
		crc.writeUInt32LE(crc32(payload, crc32(header)), 0);
		const chunks: Uint8Array[] = [header, payload, crc];
		if (this.#signer) chunks.push(this.#signer.sign(chunks));
		writeAtomic(this.root, file, chunks, true);
	}

	/** A fresh copy of the value under `key`; a corrupt or badly signed file is reported, removed and a miss. */
	get(key: string): unknown {
		assertKey(key);
		const file = this.#dir + key;
		const bytes = readEntry(file, key);
		try {
			return this.#decode(bytes, key);
		} catch (err) {
			throw discard(file, key, err);
		}
	}

	#decode(bytes: Buffer, key: string): unknown {
		const corrupt = (reason: string): never => {
			throw new CorruptEntry(key, reason);
		};
		const length = bytes.length;
		if (length < 7 || MAGIC.compare(bytes, 0, 4) !== 0) {
			corrupt(length < 7 && MAGIC.compare(bytes, 0, Math.min(length, 4), 0, Math.min(length, 4)) === 0 ? `truncated (${length} bytes)` : 'not a fleche value file');
		}
		const version = bytes[4] as number;
		if (version > FORMAT_VERSION) throw new Unreadable(`written in value file format ${version}; this fleche reads format ${FORMAT_VERSION}`);
		if (version !== FORMAT_VERSION) corrupt(`unknown format version ${version}`);
		const flags = bytes[5] as number;
		if ((flags & ~KNOWN_FLAGS) !== 0) corrupt(`unknown flags 0x${flags.toString(16)}`);
		const nameLength = bytes[6] as number;
		if (nameLength === 0) corrupt('empty serializer name');
		const headerLength = 7 + nameLength + 4;
		if (length < headerLength) corrupt(`truncated (${length} bytes)`);
		const payloadEnd = headerLength + bytes.readUInt32LE(7 + nameLength);
		const signed = (flags & FLAG_SIGNED) !== 0;
		const expected = payloadEnd + CRC_LENGTH + (signed ? SIGNATURE_LENGTH : 0);
		if (length < expected) corrupt(`truncated (${length} of ${expected} bytes)`);
		if (length > expected) corrupt(`${length - expected} unexpected bytes after the end`);
		const checked = payloadEnd + CRC_LENGTH;
		// With a key configured, the signature is checked first so that tampering is reported as such.
		if (this.#signer) {
			if (!signed) throw new SignatureError(key, 'not signed, but a secret key is configured');
			if (!this.#signer.verify([bytes.subarray(0, checked)], bytes.subarray(checked))) {
				throw new SignatureError(key, 'signature does not match any configured secret key (tampered, or signed with another key)');
			}
		}
		if (crc32(bytes.subarray(0, payloadEnd)) !== bytes.readUInt32LE(payloadEnd)) corrupt('checksum mismatch');
		const name = bytes.toString('latin1', 7, 7 + nameLength);
		const codec = name === this.serializer ? this.#codec : findSerializer(name);
		if (codec === undefined) throw new Unreadable(`written with serializer '${name}', which is not registered in this process`);
		let payload: Uint8Array = bytes.subarray(headerLength, payloadEnd);
		try {
			if ((flags & FLAG_GZIP) !== 0) payload = zlib.gunzipSync(payload);
		} catch (err) {
			corrupt(`cannot be decompressed: ${errorText(err)}`);
		}
		try {
			return codec.deserialize(payload);
		} catch (err) {
			return corrupt(`cannot be deserialized by '${name}': ${errorText(err)}`);
		}
	}

	/** Whether a file for `key` exists (the file is not read); false for anything that is not a full key. */
	contains(key: string): boolean {
		return isKey(key) && existsSync(this.#dir + key);
	}

	/** Deletes the file for `key`; {@link KeyError} when there is none. */
	evict(key: string): void {
		evictFile(this.root, key);
	}

	/** Every key with a file; empty when the root does not exist. */
	list(): string[] {
		return listKeys(this.root);
	}

	/** Bytes on disk of the file for `key` (header and signature included); `undefined` when there is none. */
	sizeOf(key: string): number | undefined {
		if (!isKey(key)) return undefined;
		try {
			return statSync(this.#dir + key).size;
		} catch {
			return undefined;
		}
	}

	/** The full key for a prefix of at least 4 characters (reference §2.4). */
	expand(prefix: string): string {
		return expandIn(this.root, prefix);
	}

	/** `{ type: 'file', root, serializer, compress, secretKey? }`; the keys, when any, as hex strings. */
	toConfig(): StorageConfig {
		const config = { type: 'file', root: this.root, serializer: this.serializer, compress: this.compress } as const;
		return this.#signer ? { ...config, secretKey: this.#signer.hexKeys } : config;
	}
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics journals (see the top of this module).

const STATS_DIR = '.stats';
const SNAPSHOT = 'snapshot.json';
const STATS_FORMAT = 'fleche.stats/1';
const LOCK = '.compact.lock';
/** A writer starts a new journal past this size, so the old one can be compacted while the writer lives on. */
const ROTATE_BYTES = 1 << 20;
/** A reader compacts when it finds at least this many journals that can be merged. */
const COMPACT_AT = 16;
/** A writer compacts before its first write when the folder holds more entries than this. */
const CROWDED = 64;
const STALE_LOCK_MS = 30_000;
/** A journal of a process on another host is merged once nobody has appended to it for this long. */
const FOREIGN_IDLE_MS = 3_600_000;

const journalName = /^(.+)-(\d+)-([0-9a-f]+)(?:\.(\d+)\.closed)?\.jsonl$/;
const thisHost = hostname().replace(/[^A-Za-z0-9_.]/g, '_') || 'host';

type StatsTuple = [string, string, string | null, number, number, number | null, number, number];

function toTuple(s: CallStats): StatsTuple {
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
		text = readFileSync(`${dir}${sep}${SNAPSHOT}`, 'utf8');
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

function listDir(dir: string): string[] {
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
function compactStats(dir: string, ownJournal: string | undefined): void {
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
				text = readFileSync(`${dir}${sep}${name}`, 'utf8');
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
interface StatsRead {
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
function readStats(dir: string, ownJournal: string | undefined): StatsRead {
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
function readAppended(dir: string, ownJournal: string | undefined, previous: StatsRead): StatsRead | null {
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
function statsStamp(dir: string): { readonly all: string; readonly snapshot: string } | null {
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

/** Options of {@link CallFile}. */
export interface CallFileOptions {
	/** Folder that holds one JSON file per call record; a leading `~` means the home folder. Created on the first write. */
	readonly root: string;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isDigestOrNull(value: unknown): value is string | null {
	return value === null || isKey(value);
}

/** A fresh, validated record with only the known fields, or throws {@link CorruptEntry} saying what is wrong. */
function parseRecord(raw: unknown, key: string): CallRecord {
	const corrupt = (reason: string): never => {
		throw new CorruptEntry(key, reason);
	};
	if (!isPlainObject(raw)) return corrupt('not a JSON object');
	const format = raw['format'];
	if (format !== CALL_FORMAT) {
		const version = typeof format === 'string' ? /^fleche\.call\/(\d+)$/.exec(format)?.[1] : undefined;
		if (version !== undefined && Number(version) > 1) throw new Unreadable(`written in call record format ${String(format)}; this fleche reads ${CALL_FORMAT}`);
		corrupt(`unknown format ${JSON.stringify(format)}`);
	}
	const r = raw['record'];
	if (!isPlainObject(r)) return corrupt('no record object');
	if (!isKey(r['key'])) corrupt('record.key is not a 64-hex key');
	if (typeof r['name'] !== 'string') corrupt('record.name is not a string');
	if (!(r['module'] === null || typeof r['module'] === 'string')) corrupt('record.module is not a string or null');
	const version = r['version'];
	if (!(version === null || typeof version === 'string' || (typeof version === 'number' && Number.isFinite(version)))) {
		corrupt('record.version is not a string, number or null');
	}
	if (!isDigestOrNull(r['codeDigest'])) corrupt('record.codeDigest is not a 64-hex digest or null');
	if (!isDigestOrNull(r['result'])) corrupt('record.result is not a 64-hex digest or null');
	const args = r['arguments'];
	if (!isPlainObject(args)) return corrupt('record.arguments is not an object');
	for (const name in args) if (!isKey(args[name])) corrupt(`record.arguments.${name} is not a 64-hex digest`);
	const metadata = r['metadata'];
	if (!isPlainObject(metadata)) return corrupt('record.metadata is not an object');
	for (const ns in metadata) if (!isPlainObject(metadata[ns])) corrupt(`record.metadata.${ns} is not an object`);
	if (!(r['async'] === undefined || typeof r['async'] === 'boolean')) corrupt('record.async is not a boolean');
	const record: CallRecord = {
		key: r['key'] as string,
		name: r['name'] as string,
		module: r['module'] as string | null,
		version: version as string | number | null,
		codeDigest: r['codeDigest'] as string | null,
		arguments: args as Record<string, string>,
		result: r['result'] as string | null,
		metadata: metadata as Metadata,
		...(r['async'] === undefined ? {} : { async: r['async'] as boolean }),
	};
	if (record.key !== key) corrupt(`holds the record of key ${record.key} (misplaced or edited)`);
	if (recordKey(record) !== key) corrupt('record fields do not hash to its key (edited)');
	return record;
}

/**
 * Call storage with one UTF-8 JSON file per record under `root` (reference §2.6), readable by other tools. Records
 * are checked against their own key on read, so an edited, misplaced or damaged file is a miss, reported and removed.
 *
 * @example
 * ```ts
 * import { CallFile } from 'fleche';
 * const calls = new CallFile({ root: '.fleche/calls' });
 * for (const record of calls.records({ name: 'fetchPrices' })) console.log(record.key, record.metadata);
 * ```
 */
export class CallFile implements CallStorage, StatsStorage {
	/** Absolute folder holding the files. */
	readonly root: string;
	readonly #dir: string;
	readonly #statsDir: string;
	/** This instance's statistics journal (a file name in `#statsDir`), chosen on the first write. */
	#journal: string | undefined;
	#journalBytes = 0;
	#journalSeq = 0;
	/**
	 * The last statistics read and the stamp of the folder they were read from. A tool lists functions, then pages of
	 * calls, each with statistics: parsing 100,000 calls' journal lines again for each took longer than the listing.
	 */
	#statsRead: { readonly stamp: { readonly all: string; readonly snapshot: string }; readonly read: StatsRead } | undefined;

	/** Nothing is touched on disk until the first `put`. */
	constructor(options: CallFileOptions) {
		this.root = resolveRoot(options.root);
		this.#dir = this.root + sep;
		this.#statsDir = this.#dir + STATS_DIR;
	}

	/** Writes (or atomically replaces) the file for `record.key`. */
	put(record: CallRecord): void {
		assertKey(record.key);
		let text: string;
		try {
			if (recordKey(record) !== record.key) throw new Error('record.key is not the lookup key of its fields');
			const stored: CallRecord = {
				key: record.key,
				name: record.name,
				module: record.module,
				version: record.version,
				codeDigest: record.codeDigest,
				arguments: record.arguments,
				result: record.result,
				metadata: record.metadata,
				...(record.async === undefined ? {} : { async: record.async }),
			};
			const envelope = { format: CALL_FORMAT, record: stored };
			text = JSON.stringify(envelope, null, 2);
			// Refuse now what `get` would reject as corrupt later (a bad digest, metadata that is not an object…).
			parseRecord(JSON.parse(text), record.key);
		} catch (err) {
			throw new SaveError(`Cannot store the call record ${record.key} of ${String(record.name)}: ${errorText(err)}`, { cause: err });
		}
		writeAtomic(this.root, this.#dir + record.key, [Buffer.from(`${text}\n`, 'utf8')], false);
	}

	/** The record under `key`; a damaged, edited or misplaced file is reported, removed and a miss. */
	get(key: string): CallRecord {
		assertKey(key);
		const file = this.#dir + key;
		const bytes = readEntry(file, key);
		try {
			let raw: unknown;
			try {
				raw = JSON.parse(bytes.toString('utf8'));
			} catch (err) {
				throw new CorruptEntry(key, `not valid JSON (${errorText(err)})`);
			}
			return parseRecord(raw, key);
		} catch (err) {
			throw discard(file, key, err);
		}
	}

	/**
	 * Every readable record, reading the folder lazily one file at a time; damaged files are reported, removed and
	 * skipped.
	 */
	*records(filter?: { readonly name?: string }): Generator<CallRecord, void, undefined> {
		let dir;
		try {
			dir = opendirSync(this.root);
		} catch (err) {
			if (isAbsent(err)) return;
			throw err;
		}
		try {
			for (let entry = dir.readSync(); entry !== null; entry = dir.readSync()) {
				if (!isKey(entry.name)) continue;
				let record: CallRecord;
				try {
					record = this.get(entry.name);
				} catch (err) {
					// Removed by another process since the listing, or damaged (already reported).
					if (KeyError.is(err)) continue;
					throw err;
				}
				if (filter?.name !== undefined && record.name !== filter.name) continue;
				yield record;
			}
		} finally {
			dir.closeSync();
		}
	}

	/** Whether a file for `key` exists (not read); false for anything that is not a full key. */
	contains(key: string): boolean {
		return isKey(key) && existsSync(this.#dir + key);
	}

	/** Deletes the file for `key`; {@link KeyError} when there is none. */
	evict(key: string): void {
		evictFile(this.root, key);
	}

	/** Every key with a file; empty when the root does not exist. */
	list(): string[] {
		return listKeys(this.root);
	}

	/** The full key for a prefix of at least 4 characters (reference §2.4). */
	expand(prefix: string): string {
		return expandIn(this.root, prefix);
	}

	/** `{ type: 'file', root }`. */
	toConfig(): StorageConfig {
		return { type: 'file', root: this.root };
	}

	/**
	 * Appends one batch of statistics deltas to this instance's journal under `root/.stats/` (one write; see the top
	 * of this module). Throws {@link SaveError} when it cannot be written.
	 */
	addStats(deltas: readonly CallStats[]): void {
		if (deltas.length === 0) return;
		const line = `${JSON.stringify({ t: Date.now() / 1000, d: deltas.map(toTuple) })}\n`;
		try {
			if (this.#journal === undefined) {
				mkdirSync(this.#statsDir, { recursive: true });
				if (listDir(this.#statsDir).length > CROWDED) compactStats(this.#statsDir, undefined);
				this.#journal = `${thisHost}-${process.pid}-${randomBytes(4).toString('hex')}.jsonl`;
			} else if (this.#journalBytes > ROTATE_BYTES) {
				// The full journal moves aside under a name that says it is finished; appends start a new file.
				const closed = this.#journal.replace(/\.jsonl$/, `.${++this.#journalSeq}.closed.jsonl`);
				renameSync(`${this.#statsDir}${sep}${this.#journal}`, `${this.#statsDir}${sep}${closed}`);
				this.#journalBytes = 0;
			}
			appendFileSync(`${this.#statsDir}${sep}${this.#journal}`, line);
			this.#journalBytes += line.length;
		} catch (err) {
			throw new SaveError(`Cannot write cache statistics to ${this.#statsDir}: ${errorText(err)}`, { cause: err });
		}
	}

	/**
	 * The statistics of the folder now: the last ones read when nothing changed, brought up to date by reading only
	 * the appended lines when journals grew, else read in full (and compacted when many journals are finished).
	 */
	#currentStats(): Map<string, CallStats> {
		// Stamped before reading: a change in between makes the next stamp differ, so it is read again then.
		const stamp = statsStamp(this.#statsDir);
		const last = this.#statsRead;
		if (stamp !== null && last?.stamp.all === stamp.all) return last.read.stats;
		let read = stamp !== null && last?.stamp.snapshot === stamp.snapshot ? readAppended(this.#statsDir, this.#journal, last.read) : null;
		read ??= readStats(this.#statsDir, this.#journal);
		this.#statsRead = stamp === null ? undefined : { stamp, read };
		if (read.finished >= COMPACT_AT) {
			try {
				compactStats(this.#statsDir, this.#journal);
			} catch (err) {
				warnOnce(`stats-compact:${this.#statsDir}`, 'FLECHE_STATS_NOT_SAVED', `Could not compact cache statistics in ${this.#statsDir}: ${errorText(err)}`, {
					cause: err,
				});
			}
		}
		return read.stats;
	}

	/**
	 * The summed statistics of every call of this root, written by any process (evicted calls included), optionally of
	 * one function; compacts the journals when many have accumulated.
	 */
	stats(filter?: { readonly name?: string; readonly module?: string | null }): CallStats[] {
		const stats = this.#currentStats();
		const out: CallStats[] = [];
		for (const s of stats.values()) {
			if (filter?.name !== undefined && s.name !== filter.name) continue;
			if (filter?.module !== undefined && s.module !== filter.module) continue;
			out.push(s);
		}
		return out;
	}
}
