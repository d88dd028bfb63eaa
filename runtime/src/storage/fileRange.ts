// Reading the tail of a file that other processes append to (the SQL store's log, the file store's statistics
// journals): from a byte offset to the end as it is now, with the file's identity, through one open descriptor.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

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
	const fd = openSync(path, 'r');
	try {
		return readRangeOf(fd, from);
	} finally {
		closeSync(fd);
	}
}
