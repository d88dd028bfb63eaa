// File-system helpers shared by the on-disk stores (the file store's entries and journals, the SQL store's database,
// log and temporaries): where a root is, how a failure is named, how a file is removed or its appended tail read.
import { closeSync, constants, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve, sep } from 'node:path';

/** @internal Expands a leading `~` to the home folder and makes `root` absolute. */
export function resolveRoot(root: string): string {
	if (typeof root !== 'string' || root === '') throw new TypeError('A file storage needs a non-empty `root` folder');
	if (root === '~') return homedir();
	if (root.startsWith('~/') || root.startsWith(`~${sep}`)) return resolve(homedir(), root.slice(2));
	return resolve(root);
}

/** The `code` of a Node system error (`ENOENT`, …), if it has one. */
export function errorCode(err: unknown): string | undefined {
	return typeof err === 'object' && err !== null ? (err as NodeJS.ErrnoException).code : undefined;
}

export function errorText(err: unknown): string {
	return err instanceof Error ? err.message : String(err);
}

/** Whether this realm lets `Error.stackTraceLimit` be set (a locked-down realm may have frozen it). */
const canLimitStacks = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit')?.writable === true;

/**
 * Reads `file` whole, or `undefined` when it is not there. A miss is the common answer of a lookup, and the stack trace
 * Node captures for its ENOENT error costs about as much as the failed open itself: none is captured while reading. Any
 * other failure is thrown (its message names the file and the reason; its stack is not needed to act on it), and so is
 * an entry that is not a regular file (see {@link readRegularFile}).
 */
export function readFileIfPresent(file: string): Buffer | undefined {
	const limit = Error.stackTraceLimit;
	if (canLimitStacks) Error.stackTraceLimit = 0;
	try {
		return readRegularFile(file);
	} catch (err) {
		if (isAbsent(err)) return undefined;
		throw err;
	} finally {
		if (canLimitStacks) Error.stackTraceLimit = limit;
	}
}

/** Opening never waits: on a FIFO, a plain open would wait for a writer. Regular files are unaffected. */
export const openFlags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);
/** What `readFileSync` refuses too (2 GiB): a larger entry could be written but never read back whole. */
const maxFileBytes = 2 ** 31 - 1;

/**
 * Reads a file of a store whole, as `readFileSync` would (the same system calls: open, fstat, read, close), but only a
 * regular file: a store is untrusted input, and a link there to a device (`/dev/zero` reads without end) or a FIFO
 * (which blocks until someone writes) would hang the reader. Throws `ENOTREG` for those, `EISDIR` for a folder.
 */
export function readRegularFile(file: string): Buffer {
	const fd = openSync(file, openFlags);
	try {
		const st = fstatSync(fd);
		if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${file}'`), { code: 'EISDIR' });
		if (!st.isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: 'ENOTREG' });
		if (st.size > maxFileBytes) throw Object.assign(new RangeError(`${file} is larger than 2 GiB`), { code: 'ERR_FS_FILE_TOO_LARGE' });
		const bytes = Buffer.allocUnsafe(st.size);
		let done = 0;
		while (done < bytes.length) {
			const n = readSync(fd, bytes, done, bytes.length - done, done);
			if (n === 0) break;
			done += n;
		}
		return done === bytes.length ? bytes : bytes.subarray(0, done);
	} finally {
		closeSync(fd);
	}
}

/** The path, or a folder on it, does not exist. */
export function isAbsent(err: unknown): boolean {
	const code = errorCode(err);
	return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Whether process `pid` of this host is running (signal 0 checks without sending anything; EPERM: someone else's). */
export function processAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (err) {
		return errorCode(err) === 'EPERM';
	}
}

export function removeQuietly(file: string): void {
	try {
		unlinkSync(file);
	} catch {
		// Best effort: another process may have removed or replaced it already.
	}
}

// Reading the tail of a file that other processes append to (the SQL store's log, the file store's statistics
// journals): from a byte offset to the end as it is now, with the file's identity, through one open descriptor.

/** Bytes `[from, end)` of the open file `fd`, with its size and inode. */
export function readRangeOf(fd: number, from: number): { bytes: Buffer; size: number; ino: number } {
	const { size, ino } = fstatSync(fd);
	// Only the bytes read are handed out (the subarray below), so the buffer need not be zeroed first.
	const bytes = Buffer.allocUnsafe(Math.max(0, size - from));
	let done = 0;
	while (done < bytes.length) {
		const n = readSync(fd, bytes, done, bytes.length - done, from + done);
		if (n === 0) break;
		done += n;
	}
	return { bytes: bytes.subarray(0, done), size, ino };
}

/** Bytes `[from, end)` of the file at `path`, with the file's identity. */
export function readRange(path: string, from: number): { bytes: Buffer; ino: number; size: number } {
	const fd = openSync(path, openFlags);
	try {
		return readRangeOf(fd, from);
	} finally {
		closeSync(fd);
	}
}
