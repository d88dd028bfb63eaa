// docs/behaviour.md §3.6: per-key leases as files, for the stores whose processes share a folder — the file store
// (`calls/.leases/`) and the SQL store (`calls.db.leases/` beside the database, whose own lock is a file too).
//
// Lease file `<dir>/<call key>`: UTF-8 JSON
//   { "format": "fleche.lease/1", "owner": "<host>:<pid>:<thread>:<random>", "host": "…", "pid": 123,
//     "since": <ms since epoch>, "staleMs": 30000, "heartbeats": true }
// Its mtime is the holder's heartbeat.
//
// Invariants:
// - A lease is taken by creating its file exclusively (O_EXCL), then writing it: a reader that comes in between sees
//   an empty file, which reads as a lease of unknown holder, held (a damaged lease counts as gone only when old).
// - The holder keeps the file open: heartbeats move its mtime through that descriptor (futimes), and releasing
//   removes the name only while it still names the holder's inode.
// - Removing someone else's lease (a stale takeover, gc) checks and unlinks under the key's break lock `.<key>.break`
//   (exclusive create, held for microseconds; one older than a second was left by a killed process), and only when
//   the name still holds the lease it meant — inode, owner, `since` and heartbeat, as a removed lease's inode is
//   usually the next one created — : a lease taken after the one judged stale is never removed. A holder releases its
//   own lease by inode without it (its open descriptor keeps the inode from reuse): nobody takes over a live holder's
//   lease. Only a break lock both stale and contended could let two processes compute the same call, which a cache
//   tolerates (the result is the same; writes are atomic); none is never left computing.
// - A holder is gone when its process is gone (same host: `kill(pid, 0)`), else when its heartbeat is older than the
//   `staleMs` it promised. A holder that cannot beat (a synchronous body blocks its thread) on this host is alive as
//   long as its process is; on another host it counts as gone after `staleMs`.
// - Reading (`held`) never writes; a damaged lease file is a lease of unknown holder, gone after `staleMs` of default.
// - The file store writes a miss's call file through its lease (`writeThrough`): the record replaces the lease's text
//   in the holder's open file, which is then renamed to the call's name. One file is created per miss instead of two
//   (a lease file and a temporary), and the lease ends the instant the entry appears. Only while the name still holds
//   the holder's inode; otherwise the store writes a temporary as usual. A holder killed between the write and the
//   rename leaves a damaged lease (taken over after `DAMAGED_STALE_MS`), never a half entry.
// - Names are 64-hex keys, or break locks (`.<key>.break`) that gc sweeps when a killed process left one.
import {
	closeSync,
	constants,
	fstatSync,
	type FSWatcher,
	ftruncateSync,
	futimesSync,
	lstatSync,
	mkdirSync,
	openSync,
	readdirSync,
	readSync,
	renameSync,
	statSync,
	unlinkSync,
	watch,
	writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, join, sep } from 'node:path';
import { sleepSync } from '../../clock.js';
import type { CallLeases, HeldLease, LeaseAttempt, LeaseHolder, LeaseTerms } from '../base.js';
import { errorCode, isAbsent, processAlive, removeQuietly } from '../fsUtil.js';
import { assertKey, isKey } from '../keys.js';

const LEASE_FORMAT = 'fleche.lease/1';

/** A damaged lease file (no holder to ask) counts as gone once it is this old. */
const DAMAGED_STALE_MS = 30_000;

/** Break locks older than this were left by a killed process (gc's margin; takers break them after a second). */
const TEMP_STALE_MS = 60_000;

const thisHost = hostname();

/** What a lease file says. */
interface LeaseInfo {
	readonly owner: string;
	readonly host: string;
	readonly pid: number;
	readonly since: number;
	readonly staleMs: number;
	readonly heartbeats: boolean;
}

/** A lease file as found: what it says (`null`: damaged), its heartbeat and its inode. */
interface Found {
	readonly info: LeaseInfo | null;
	readonly mtimeMs: number;
	readonly ino: number;
}

function parseInfo(text: string): LeaseInfo | null {
	let raw: unknown;
	try {
		raw = JSON.parse(text);
	} catch {
		return null;
	}
	if (typeof raw !== 'object' || raw === null) return null;
	const r = raw as Record<string, unknown>;
	const ok =
		r.format === LEASE_FORMAT &&
		typeof r.owner === 'string' &&
		typeof r.host === 'string' &&
		Number.isSafeInteger(r.pid) &&
		typeof r.since === 'number' &&
		typeof r.staleMs === 'number' &&
		r.staleMs > 0 &&
		typeof r.heartbeats === 'boolean';
	return ok ? (raw as LeaseInfo) : null;
}

/** A lease's text is a line of JSON; a lease file written through holds a call record for an instant. Read no more. */
const leaseReadBytes = 1 << 16;

/**
 * Never through a link, and never blocking: a lease is a regular file fleche made, and anything else at its name (a
 * link, dangling or to a device; a FIFO) was put there by someone else. Following it could read without end or wait
 * forever; ignoring it would wedge the key (nothing can be created over it).
 */
const openLeaseFlags = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

function read(file: string): Found | null {
	let fd: number;
	try {
		fd = openSync(file, openLeaseFlags);
	} catch (err) {
		if (errorCode(err) === 'ELOOP') return unreadable(file);
		if (isAbsent(err)) return null;
		throw err;
	}
	try {
		// Through one descriptor: what it says and its inode are of the same file, whatever replaced the name since.
		const st = fstatSync(fd);
		if (!st.isFile()) return { info: null, mtimeMs: st.mtimeMs, ino: st.ino };
		const buf = Buffer.alloc(Math.min(st.size, leaseReadBytes));
		const text = buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0));
		return { info: parseInfo(text), mtimeMs: st.mtimeMs, ino: st.ino };
	} finally {
		closeSync(fd);
	}
}

/** A link at a lease's name: no lease to read, judged by its own age like a damaged lease (and removed once stale). */
function unreadable(file: string): Found | null {
	try {
		const st = lstatSync(file);
		return { info: null, mtimeMs: st.mtimeMs, ino: st.ino };
	} catch (err) {
		if (isAbsent(err)) return null;
		throw err;
	}
}

/**
 * Whether `now` is the very lease `then` was: the same inode is not enough, as a lease file removed is a freed inode
 * that the next lease file created in the folder usually gets (a waiter that judged the dead holder's lease stale
 * would otherwise remove the lease another waiter just took over with it, and compute the call a third time). A
 * lease's owner has a random part and its heartbeat moves only while its holder lives.
 */
function sameLease(now: Found, then: Found): boolean {
	return (
		now.ino === then.ino &&
		now.mtimeMs === then.mtimeMs &&
		now.info?.owner === then.info?.owner &&
		now.info?.since === then.info?.since &&
		(now.info === null) === (then.info === null)
	);
}

/** Whether the holder of a lease can no longer finish or release it (see the invariants above). */
function isGone(found: Found, now: number): boolean {
	const age = now - found.mtimeMs;
	const info = found.info;
	if (info === null) return age > DAMAGED_STALE_MS;
	if (info.host === thisHost) {
		if (!processAlive(info.pid)) return true;
		if (!info.heartbeats) return false;
	}
	return age > info.staleMs;
}

function holderOf(found: Found): LeaseHolder {
	const info = found.info;
	return { owner: info?.owner ?? '(unreadable lease)', since: info?.since ?? null, heartbeat: found.mtimeMs };
}

/** One lease this process holds: its owner and the open lease file. */
interface Held {
	readonly owner: string;
	readonly fd: number;
	/** The lease file's inode, read when first needed (a miss that writes through its lease never needs it twice). */
	ino: number | undefined;
	/** Bytes of the lease's text: a shorter record is cut to its own length. */
	readonly size: number;
}

function inodeOf(held: Held): number {
	return (held.ino ??= fstatSync(held.fd).ino);
}

/** Leases as files in one folder; see the top of this module. */
export class FileLeases implements CallLeases {
	readonly #held = new Map<string, Held>();
	#watcher: FSWatcher | undefined;
	readonly #listeners = new Map<string, Set<() => void>>();

	constructor(
		/** The folder of the lease files; created on the first lease. */
		readonly dir: string,
	) {}

	lease(key: string, owner: string, terms: LeaseTerms): LeaseAttempt {
		assertKey(key);
		const file = join(this.dir, key);
		let found: Found | null = null;
		// A few rounds: a stale lease removed in one is replaced in the next, unless someone else was quicker.
		for (let round = 0; round < 3; round++) {
			if (this.#create(file, key, owner, terms)) return { acquired: true };
			found = read(file);
			if (found === null) continue; // released in between
			if (found.info?.owner === owner || !isGone(found, Date.now())) break;
			removeIfSame(this.dir, file, found);
		}
		return { acquired: false, holder: found === null ? { owner: '(changing hands)', since: null, heartbeat: null } : holderOf(found) };
	}

	/** Creates the lease file (exclusive create) and writes the lease into it; false when one is there. */
	#create(file: string, key: string, owner: string, terms: LeaseTerms): boolean {
		let fd: number;
		try {
			fd = openSync(file, 'wx');
		} catch (err) {
			if (errorCode(err) === 'EEXIST') return false;
			if (!isAbsent(err)) throw err;
			mkdirSync(this.dir, { recursive: true });
			return this.#create(file, key, owner, terms);
		}
		try {
			const info: LeaseInfo & { format: string } = {
				format: LEASE_FORMAT,
				owner,
				host: thisHost,
				pid: process.pid,
				since: Date.now(),
				staleMs: terms.staleMs,
				heartbeats: terms.heartbeats,
			};
			const size = writeSync(fd, `${JSON.stringify(info)}\n`);
			this.#held.set(key, { owner, fd, ino: undefined, size });
			return true;
		} catch (err) {
			closeSync(fd);
			removeQuietly(file);
			throw err;
		}
	}

	heartbeat(key: string, owner: string): boolean {
		const held = this.#held.get(key);
		if (held === undefined || held.owner !== owner) return false;
		try {
			const now = new Date();
			futimesSync(held.fd, now, now);
			return statSync(join(this.dir, key)).ino === inodeOf(held);
		} catch {
			return false;
		}
	}

	/**
	 * Makes `bytes` the file `dest` through this process's lease of `key`, if it holds one whose name is still its own:
	 * the bytes replace the lease's text in the open lease file, which is renamed to `dest` (see the top of this
	 * module). Returns false, having changed nothing the store reads, when it holds no such lease or cannot; the caller
	 * then writes `dest` its own way. Once written, the lease is no longer held: its `release` has nothing left to do.
	 */
	writeThrough(key: string, bytes: Uint8Array, dest: string): boolean {
		const held = this.#held.get(key);
		if (held === undefined) return false;
		const file = join(this.dir, key);
		try {
			const ino = inodeOf(held);
			let offset = 0;
			while (offset < bytes.byteLength) offset += writeSync(held.fd, bytes, offset, bytes.byteLength - offset, offset);
			if (bytes.byteLength < held.size) ftruncateSync(held.fd, bytes.byteLength);
			// Checked just before the rename: a lease taken over (its name now someone else's) must not become the
			// entry. Written before the check, a record in an inode that lost its name is read by nobody.
			if (statSync(file).ino !== ino) return false;
			renameSync(file, dest);
		} catch {
			// The lease file may now hold part of the record: a damaged lease, still this holder's, removed at release.
			return false;
		}
		this.#held.delete(key);
		try {
			closeSync(held.fd);
		} catch {
			// The entry is written; a descriptor that fails to close leaks nothing the store reads.
		}
		return true;
	}

	release(key: string, owner: string): void {
		const held = this.#held.get(key);
		if (held === undefined || held.owner !== owner) return;
		this.#held.delete(key);
		const file = join(this.dir, key);
		try {
			// Its own lease, which nobody takes over while its process lives and beats: no break lock needed.
			if (statSync(file).ino === inodeOf(held)) unlinkSync(file);
		} catch {
			// Removed already (taken over and released, or by gc).
		} finally {
			closeSync(held.fd);
		}
	}

	watch(key: string, listener: () => void): () => void {
		let set = this.#listeners.get(key);
		if (set === undefined) this.#listeners.set(key, (set = new Set()));
		set.add(listener);
		if (this.#watcher === undefined) {
			try {
				// One watcher per folder, dispatching by name; it never keeps the process alive (waiters have timers).
				this.#watcher = watch(this.dir, { persistent: false }, (_event, name) => this.#changed(name));
				this.#watcher.on('error', () => this.#unwatch());
			} catch {
				// No folder yet, or no watching on this filesystem: the waiters' polling still finds the change.
			}
		}
		return () => {
			set.delete(listener);
			if (set.size === 0) this.#listeners.delete(key);
			if (this.#listeners.size === 0) this.#unwatch();
		};
	}

	#changed(name: string | Buffer | null): void {
		const keys = name === null ? [...this.#listeners.keys()] : [String(name)];
		for (const key of keys) for (const listener of [...(this.#listeners.get(key) ?? [])]) listener();
	}

	#unwatch(): void {
		this.#watcher?.close();
		this.#watcher = undefined;
	}

	get folder(): string {
		return this.dir;
	}

	*held(): Iterable<HeldLease> {
		for (const name of listNames(this.dir)) {
			if (!isKey(name)) continue;
			const found = read(join(this.dir, name));
			if (found !== null) yield { key: name, ...holderOf(found), gone: isGone(found, Date.now()) };
		}
	}

	sweep(): number {
		const now = Date.now();
		let removed = 0;
		for (const name of listNames(this.dir)) {
			const file = join(this.dir, name);
			try {
				if (isKey(name)) {
					const found = read(file);
					if (found !== null && isGone(found, now) && removeIfSame(this.dir, file, found)) removed++;
				} else if (name.startsWith('.') && now - statSync(file).mtimeMs > TEMP_STALE_MS) {
					unlinkSync(file);
					removed++;
				}
			} catch {
				// Released, replaced or swept by someone else meanwhile.
			}
		}
		return removed;
	}
}

function listNames(dir: string): string[] {
	try {
		return readdirSync(dir);
	} catch (err) {
		if (isAbsent(err)) return [];
		throw err;
	}
}

/** A break lock older than this was left by a process killed while holding it (it is held for microseconds). */
const BREAK_STALE_MS = 1000;

/**
 * Removes the lease `file` if it is still the lease `found` (see {@link sameLease}), under the key's break lock
 * (`.<key>.break`, exclusive create): every removal of someone else's lease — a takeover, gc — checks and unlinks
 * under it, so none can remove a lease taken after the one it meant. Returns whether it removed `found`.
 */
function removeIfSame(dir: string, file: string, found: Found): boolean {
	const lock = `${dir}${sep}.${basename(file)}.break`;
	for (let tries = 0; ; tries++) {
		let fd: number;
		try {
			fd = openSync(lock, 'wx');
		} catch (err) {
			if (errorCode(err) !== 'EEXIST' || tries >= 100) return false;
			try {
				if (Date.now() - lstatSync(lock).mtimeMs > BREAK_STALE_MS) unlinkSync(lock);
			} catch {
				// Released meanwhile.
			}
			sleepSync(1);
			continue;
		}
		try {
			const now = read(file);
			if (now === null || !sameLease(now, found)) return false;
			unlinkSync(file);
			return true;
		} catch {
			return false; // gone already
		} finally {
			closeSync(fd);
			removeQuietly(lock);
		}
	}
}

const byStorage = new WeakMap<object, CallLeases>();

/** The leases of an open storage, made once per storage (they hold this process's open lease files). */
export function leasesOf(storage: object, make: () => CallLeases): CallLeases {
	let leases = byStorage.get(storage);
	if (leases === undefined) byStorage.set(storage, (leases = make()));
	return leases;
}

/**
 * Writes `bytes` as the file `dest` through the lease of `key` that this process holds in `storage`'s file leases
 * ({@link FileLeases.writeThrough}); false when there is none, or it cannot.
 */
export function writeThroughLease(storage: object, key: string, bytes: Uint8Array, dest: string): boolean {
	const leases = byStorage.get(storage);
	return leases instanceof FileLeases && leases.writeThrough(key, bytes, dest);
}
