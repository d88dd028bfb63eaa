// docs/behaviour.md §1.2a: files by content — the digest of a `file:` URL, and the stat cache that keeps a repeat
// call on an unchanged file at the cost of one stat.

/*
 * A `file:` URL names a file value. Its digest depends on what the file holds, never on where it lives:
 *
 *   F:<txt(basename)>:<size>:<c>   a file: its own name, its length and c = hex SHA-256 of its bytes
 *   Y:<tree>                       a directory: its tree, not its own name, where tree is, for each entry sorted by
 *                                  name (UTF-16 code units), `<txt(name)>=f<size>:<c>,` for a file and
 *                                  `<txt(name)>=d<sha256 of the entry's tree>,` for a directory
 *
 * txt(s) is `<length>:<s>` as in digest.ts. Symbolic links are followed (a link is digested as what it points to);
 * sockets, FIFOs and devices, a link cycle, and a path that does not exist cannot be digested (FileUnreadable). The
 * bytes hash c is shared with Buffers: `digest(buffer)` is sha('B:<length>:<c>'), so a stored file body and an equal
 * Buffer are one value (see caches/fileValues.ts).
 *
 * The stat cache, like git's index: the bytes hash of a path is remembered with the (device, inode, size, mtime,
 * ctime) it was computed for and the wall-clock time just before its bytes were read. A stat that still matches
 * returns the remembered hash without reading the file, unless the entry is racy: a file modified within RACY_NS of
 * the moment it was read may have been modified again within the same filesystem clock tick, which the stat cannot
 * tell, so such an entry is hashed again on its next use (and trusted once the tick is long past). The cache lives on
 * globalThis, so the ESM and CommonJS copies of the package share it, and holds at most MAX_ENTRIES paths.
 *
 * Like git's index, it outlives the process: `<user cache folder>/file-digests.json` (cacheFolder.ts: beside
 * inspect's summary index, `$FLECHE_INDEX_DIR` when set, nowhere when it is set empty) holds the entries that are not
 * racy, so a new process answers an unchanged file with a stat too. It is read once per process, at the first stat
 * cache lookup that memory cannot answer, and written (merged with what other processes wrote meanwhile, the later
 * stamp of a path winning, at most MAX_ENTRIES kept) a moment after new entries are made and before the process
 * ends, by atomic rename. It is untrusted input: a file that is missing, too large, not JSON, of another format, or
 * with any malformed entry is ignored as a whole, and a failed write is silent; either only costs hashing again.
 *
 *   { "format": "fleche.file-digests/1",
 *     "entries": [[path, dev, ino, size, mtimeNs, ctimeNs, stampedNs, bytes]…] }   numbers as decimal strings
 */

import { createHash, randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, type BigIntStats } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { userCacheFolder } from './cacheFolder.js';
import { beforeShutdown, flushOrder } from './shutdown.js';

/** Why a file URL could not be digested; digest.ts turns it into an `Indigestible` with the argument's path. */
export class FileUnreadable extends Error {}

/** One file or directory as digested: what caches/fileValues.ts needs to store it by content. */
export type FileNode = FileLeaf | DirNode;

/** A regular file (or what a link points to). */
export interface FileLeaf {
	readonly kind: 'file';
	/** Its name (the basename of the path). */
	readonly name: string;
	/** Absolute path it was read from. */
	readonly path: string;
	readonly size: number;
	/** Hex SHA-256 of its bytes. */
	readonly bytes: string;
}

/** A directory and its entries, sorted by name. */
export interface DirNode {
	readonly kind: 'dir';
	readonly name: string;
	readonly path: string;
	readonly entries: readonly FileNode[];
	/** Hex SHA-256 of its tree encoding (see the top of this module). */
	readonly tree: string;
}

/** Counters of the stat cache, for tests and benchmarks (`fileDigestCounters` in fleche/inspect). */
export interface FileDigestCounters {
	/** Files whose bytes were read and hashed. */
	hashed: number;
	/** Bytes read and hashed. */
	bytesHashed: number;
	/** Files answered from the stat cache without reading them. */
	statOnly: number;
}

interface Entry {
	readonly dev: bigint;
	readonly ino: bigint;
	readonly size: bigint;
	readonly mtimeNs: bigint;
	readonly ctimeNs: bigint;
	/** Wall clock (ns) just before the bytes were read. */
	readonly stampedNs: bigint;
	readonly bytes: string;
}

interface Shared {
	readonly entries: Map<string, Entry>;
	readonly counters: FileDigestCounters;
	/** Whether the persisted entries were read in (once per process). */
	loaded: boolean;
	/** Paths given a trusted entry since the last write of the persisted file. */
	readonly unsaved: Set<string>;
	/** The pending write of the persisted file. */
	timer: ReturnType<typeof setTimeout> | undefined;
	/** Whether the write before the process ends is registered. */
	hooked: boolean;
}

/** An mtime this close to the moment the file was read may hide a later change within the same clock tick. */
const RACY_NS = 200_000_000n;
/** Paths remembered; beyond this the oldest are forgotten (a Map iterates in insertion order). */
const MAX_ENTRIES = 100_000;
/** Read size of the streaming hash: large enough that the hash, not the system calls, sets the pace. */
const CHUNK = 1 << 20;
const FORMAT = 'fleche.file-digests/1';
/** A persisted file larger than this is not read (MAX_ENTRIES entries take about a quarter of it). */
const MAX_PERSISTED_BYTES = 64 << 20;
/** Delay of the write after new entries: one write for a burst of files. */
const SAVE_MS = 1000;

const sharedKey = Symbol.for('fleche.fileDigests');

function shared(): Shared {
	const g = globalThis as { [sharedKey]?: Shared };
	return (g[sharedKey] ??= {
		entries: new Map(),
		counters: { hashed: 0, bytesHashed: 0, statOnly: 0 },
		loaded: false,
		unsaved: new Set(),
		timer: undefined,
		hooked: false,
	});
}

const state = shared();

/**
 * A copy of the stat cache's counters: how many files were hashed (and how many bytes), and how many were answered
 * by a stat alone. Shared by every copy of the package in the process.
 */
export function fileDigestCounters(): FileDigestCounters {
	return { ...state.counters };
}

function txt(s: string): string {
	// Names come from the filesystem: on Linux they may hold any bytes, which Node decodes lossily to well-formed text.
	return s.length + ':' + s;
}

function sha(text: string): string {
	return createHash('sha256').update(text).digest('hex');
}

function describeError(err: unknown): string {
	const e = err as NodeJS.ErrnoException;
	if (e?.code === 'ENOENT') return 'it does not exist';
	if (e?.code === 'EACCES' || e?.code === 'EPERM') return 'permission denied';
	if (e?.code === 'ENOTDIR') return 'a part of the path is not a directory';
	return err instanceof Error ? err.message : String(err);
}

function statOf(path: string): BigIntStats {
	try {
		return statSync(path, { bigint: true });
	} catch (err) {
		throw new FileUnreadable(`cannot read ${path}: ${describeError(err)}`);
	}
}

function isRacy(e: Entry): boolean {
	return e.stampedNs - e.mtimeNs <= RACY_NS;
}

/** Puts `entry` in memory (the newest last, the oldest forgotten beyond MAX_ENTRIES). */
function keep(path: string, entry: Entry): void {
	state.entries.delete(path);
	if (state.entries.size >= MAX_ENTRIES) state.entries.delete(state.entries.keys().next().value!);
	state.entries.set(path, entry);
}

/** Remembers the hash just computed for `path`; a trusted entry is also written to the persisted file soon. */
function remember(path: string, entry: Entry): void {
	keep(path, entry);
	if (isRacy(entry)) return;
	state.unsaved.add(path);
	if (state.timer !== undefined || userCacheFolder() === null) return;
	if (!state.hooked) {
		state.hooked = true;
		beforeShutdown(flushOrder.fileDigests, save);
	}
	state.timer = setTimeout(save, SAVE_MS);
	state.timer.unref?.();
}

const DECIMAL = /^\d{1,40}$/;

/** The entries of the persisted file, or none when it is absent or damaged in any way (see the top of this module). */
function readPersisted(file: string): Map<string, Entry> {
	const out = new Map<string, Entry>();
	try {
		if (statSync(file).size > MAX_PERSISTED_BYTES) return out;
		const doc = JSON.parse(readFileSync(file, 'utf8')) as { format?: unknown; entries?: unknown } | null;
		if (typeof doc !== 'object' || doc === null || doc.format !== FORMAT || !Array.isArray(doc.entries)) return out;
		for (const row of doc.entries as unknown[]) {
			if (!Array.isArray(row) || row.length !== 8 || !row.every((x) => typeof x === 'string')) return new Map();
			const [path, dev, ino, size, mtimeNs, ctimeNs, stampedNs, bytes] = row;
			if (!isAbsolute(path!) || path!.includes('\0') || !/^[0-9a-f]{64}$/.test(bytes!)) return new Map();
			const numbers = [dev, ino, size, mtimeNs, ctimeNs, stampedNs] as string[];
			if (!numbers.every((n) => DECIMAL.test(n))) return new Map();
			const [d, i, sz, m, c, st] = numbers.map(BigInt) as [bigint, bigint, bigint, bigint, bigint, bigint];
			out.set(path!, { dev: d, ino: i, size: sz, mtimeNs: m, ctimeNs: c, stampedNs: st, bytes: bytes! });
		}
		return out;
	} catch {
		return new Map();
	}
}

function persistedFile(): string | null {
	const folder = userCacheFolder();
	return folder === null ? null : join(folder, 'file-digests.json');
}

/** Reads the persisted entries in, once per process; what memory knows already is newer. */
function load(): void {
	if (state.loaded) return;
	state.loaded = true;
	const file = persistedFile();
	if (file === null) return;
	for (const [path, entry] of readPersisted(file)) if (!state.entries.has(path)) keep(path, entry);
}

/** Writes the entries made since the last write into the persisted file, merged with what is there now. */
function save(): void {
	if (state.timer !== undefined) clearTimeout(state.timer);
	state.timer = undefined;
	if (state.unsaved.size === 0) return;
	const file = persistedFile();
	if (file === null) return;
	const merged = readPersisted(file);
	for (const path of state.unsaved) {
		const mine = state.entries.get(path);
		const theirs = merged.get(path);
		if (mine === undefined || (theirs !== undefined && theirs.stampedNs > mine.stampedNs)) continue;
		merged.delete(path);
		merged.set(path, mine);
	}
	state.unsaved.clear();
	let rows = [...merged];
	if (rows.length > MAX_ENTRIES) rows = rows.sort((a, b) => (a[1].stampedNs < b[1].stampedNs ? -1 : 1)).slice(-MAX_ENTRIES);
	const text = JSON.stringify({
		format: FORMAT,
		entries: rows.map(([path, e]) => [path, `${e.dev}`, `${e.ino}`, `${e.size}`, `${e.mtimeNs}`, `${e.ctimeNs}`, `${e.stampedNs}`, e.bytes]),
	});
	const tmp = join(dirname(file), `.file-digests.${process.pid}.${randomUUID()}.tmp`);
	try {
		mkdirSync(dirname(file), { recursive: true });
		writeFileSync(tmp, text, { mode: 0o600 });
		renameSync(tmp, file);
	} catch {
		try {
			rmSync(tmp, { force: true });
		} catch {
			// an unwritable folder: nothing was left there
		}
	}
}

/** The remembered hash of the file's bytes when the stat still matches and the entry is not racy. */
function trusted(path: string, st: BigIntStats): string | undefined {
	if (!state.entries.has(path)) load();
	const known = state.entries.get(path);
	if (
		known !== undefined &&
		known.dev === st.dev &&
		known.ino === st.ino &&
		known.size === st.size &&
		known.mtimeNs === st.mtimeNs &&
		known.ctimeNs === st.ctimeNs &&
		!isRacy(known)
	) {
		return known.bytes;
	}
	return undefined;
}

/**
 * Hex SHA-256 of the file's bytes, from the stat cache when the stat still matches and the entry is not racy. When
 * the file is read and `keep` is true, its bytes are read into one buffer, hashed as they come, and returned with the
 * hash: a caller that stores them (caches/fileValues.ts) then neither reads nor hashes them a second time.
 */
function bytesHash(path: string, st: BigIntStats, keep: boolean): { bytes: string; body?: Buffer } {
	const known = trusted(path, st);
	if (known !== undefined) {
		state.counters.statOnly++;
		return { bytes: known };
	}
	const stampedNs = BigInt(Date.now()) * 1_000_000n;
	const hasher = createHash('sha256');
	let fd: number;
	try {
		fd = openSync(path, 'r');
	} catch (err) {
		throw new FileUnreadable(`cannot read ${path}: ${describeError(err)}`);
	}
	const body = keep ? Buffer.allocUnsafe(Number(st.size)) : undefined;
	let total = 0;
	try {
		const buffer = body ?? Buffer.allocUnsafe(CHUNK);
		for (;;) {
			// Into the body at its end, or through one chunk; a file that grew past its stat is caught by the stat after.
			const at = body === undefined ? 0 : total;
			const want = body === undefined ? CHUNK : Math.min(CHUNK, body.length - total);
			if (want === 0) break;
			const n = readSync(fd, buffer, at, want, null);
			if (n === 0) break;
			hasher.update(buffer.subarray(at, at + n));
			total += n;
		}
	} catch (err) {
		throw new FileUnreadable(`cannot read ${path}: ${describeError(err)}`);
	} finally {
		closeSync(fd);
	}
	const bytes = hasher.digest('hex');
	state.counters.hashed++;
	state.counters.bytesHashed += total;
	// What was read is only remembered (and only used) when the file did not change while it was read.
	const after = statSync(path, { bigint: true, throwIfNoEntry: false });
	if (after === undefined || after.size !== BigInt(total) || after.mtimeNs !== st.mtimeNs || after.ino !== st.ino) {
		throw new FileUnreadable(`${path} changed while it was being read`);
	}
	remember(path, { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, stampedNs, bytes });
	return body === undefined ? { bytes } : { bytes, body };
}

/** What {@link readFileNode} hands over of each file it had to read, when asked to. */
export interface ReadBodies {
	/** Files up to this many bytes are read into memory whole (larger ones are only hashed, in chunks). */
	readonly upTo: number;
	/** Called with each such file as soon as it is read and hashed, and its bytes. */
	body(leaf: FileLeaf, body: Buffer): void;
}

function node(path: string, name: string, st: BigIntStats, open: readonly bigint[], read: ReadBodies | undefined): FileNode {
	if (st.isFile()) {
		const { bytes, body } = bytesHash(path, st, read !== undefined && st.size <= BigInt(read.upTo));
		const leaf: FileLeaf = { kind: 'file', name, path, size: Number(st.size), bytes };
		if (body !== undefined) read!.body(leaf, body);
		return leaf;
	}
	if (!st.isDirectory()) throw new FileUnreadable(`${path} is neither a file nor a directory`);
	// Directories open on the way down, by (device, inode): meeting one again is a cycle of symbolic links.
	for (let i = 0; i < open.length; i += 2) {
		if (open[i] === st.dev && open[i + 1] === st.ino) throw new FileUnreadable(`${path} is inside a cycle of symbolic links`);
	}
	const inner = [...open, st.dev, st.ino];
	let names: string[];
	try {
		names = readdirSync(path);
	} catch (err) {
		throw new FileUnreadable(`cannot list ${path}: ${describeError(err)}`);
	}
	names.sort();
	const entries: FileNode[] = [];
	let tree = '';
	for (const child of names) {
		const p = join(path, child);
		const e = node(p, child, statOf(p), inner, read);
		entries.push(e);
		tree += txt(child) + '=' + (e.kind === 'file' ? `f${e.size}:${e.bytes}` : `d${e.tree}`) + ',';
	}
	return { kind: 'dir', name, path, entries, tree: sha(tree) };
}

/**
 * The bytes of a file digested a moment ago, checked to be those bytes: by the stat cache when it still vouches for
 * the file before and after the read (no second hash), else by hashing what was read.
 * @throws FileUnreadable when it cannot be read or no longer holds the bytes `leaf` names.
 */
export function readFileBytes(leaf: FileLeaf): Buffer {
	let body: Buffer;
	let before: BigIntStats;
	let after: BigIntStats | undefined;
	try {
		before = statSync(leaf.path, { bigint: true });
		body = readFileSync(leaf.path);
		after = statSync(leaf.path, { bigint: true, throwIfNoEntry: false });
	} catch (err) {
		throw new FileUnreadable(`cannot read ${leaf.path}: ${describeError(err)}`);
	}
	const vouched = trusted(leaf.path, before) === leaf.bytes && after !== undefined && trusted(leaf.path, after) === leaf.bytes;
	if (body.length === leaf.size && (vouched || hashCounted(body) === leaf.bytes)) return body;
	throw new FileUnreadable(`${leaf.path} changed while it was being stored`);
}

function hashCounted(body: Buffer): string {
	state.counters.hashed++;
	state.counters.bytesHashed += body.length;
	return createHash('sha256').update(body).digest('hex');
}

/** True when `v` is a URL with the `file:` scheme (the only URLs that are file values). */
export function isFileUrl(v: unknown): v is URL {
	return v instanceof URL && v.protocol === 'file:';
}

/**
 * The file or directory a `file:` URL names, with the hashes of its bytes (from the stat cache where possible); the
 * bytes of each file it had to read go to `read`, when given.
 * @throws FileUnreadable when it does not exist, cannot be read, is another kind of file, or sits in a link cycle.
 */
export function readFileNode(url: URL, read?: ReadBodies): FileNode {
	let path: string;
	try {
		path = fileURLToPath(url);
	} catch (err) {
		throw new FileUnreadable(`${url.href} is not a local path: ${describeError(err)}`);
	}
	return node(path, basename(path), statOf(path), [], read);
}

/** The digest of a file value (see the top of this module). */
export function fileNodeDigest(n: FileNode): string {
	return n.kind === 'file' ? sha('F:' + txt(n.name) + ':' + n.size + ':' + n.bytes) : sha('Y:' + n.tree);
}

/** The digest of a Buffer holding `size` bytes whose SHA-256 is `bytes`: what digest.ts gives that Buffer. */
export function bufferDigest(size: number, bytes: string): string {
	return sha('B:' + size + ':' + bytes);
}
