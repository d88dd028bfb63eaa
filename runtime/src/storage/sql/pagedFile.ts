// docs/behaviour.md §2.6 "SQL": the snapshot as the sql worker's SQLite sees it, read from disk page by page instead of
// loaded whole. sql.js keeps its files in Emscripten's in-memory file system (MEMFS), whose file node holds its bytes
// in `node.contents`, a typed array it only ever uses through `subarray(start, end)` (reads), `set(bytes, position)`
// (writes), `length` (capacity) and, once, `slice()` (when the file is created from the bytes given to
// `new SQL.Database(bytes)`). A {@link PagedFile} given in place of those bytes answers the same four operations:
//
// - reads come from the snapshot file (kept open: a snapshot is only ever replaced by a rename, so the open file stays
//   the generation that was loaded, whatever compactions other processes rename in), or from a changed chunk;
// - writes (the log lines this worker applies) go to changed chunks in memory, never to the file;
// - a compaction streams the file with the changed chunks over it into the new snapshot ({@link PagedFile.writeTo}),
//   then continues from that file with no changed chunks ({@link PagedFile.rebase}).
//
// So opening a store reads a few pages, not the whole file, and memory holds SQLite's page cache and the changes since
// the last compaction, not the database. MEMFS would replace the contents by a plain array only to resize the file to a
// smaller size (SQLite truncates only under auto-vacuum, VACUUM or a rollback of a transaction that spilled pages);
// it does so by reading the whole file through `subarray(0, size)`, which marks the file `detached` here: the worker
// then compacts with `db.export()` as before and reopens paged from the result. A snapshot with auto-vacuum on is loaded
// whole instead (see sqlWorker.ts).
import { closeSync, readSync, writeSync } from 'node:fs';

/** Size of a changed chunk: SQLite's default page size (pages are written whole and aligned). */
const chunkBytes = 4096;
/** Size of a block read from the file at once, and how many recent blocks are kept (32 MiB). */
const blockBytes = 65536;
const cachedBlocks = 512;
/** SQLite's largest page: no read of the database file is longer, except MEMFS copying the whole file to resize it. */
const maxPageBytes = 65536;

/** A database file for sql.js backed by an open snapshot file plus the chunks changed since (see the file header). */
export class PagedFile {
	#fd: number;
	/** Bytes of the open file that belong to the database. */
	#baseSize: number;
	/** Size of the database file as SQLite wrote it (the base, grown by writes past its end). */
	size: number;
	/** Whether MEMFS has taken the file (see {@link opened}): then `length` is a capacity it never needs to grow. */
	#opened = false;
	/** MEMFS copied the whole file into a plain array (a resize): this object no longer sees reads or writes. */
	detached = false;
	readonly #changed = new Map<number, Uint8Array>();
	/** Blocks of the open file read lately, oldest first. */
	readonly #blocks = new Map<number, Uint8Array>();
	/** Where the last read ended: a read starting there is part of a scan. */
	#lastEnd = -1;

	/** @param fd - the snapshot file, open for reading; owned (closed) by this object from now on. */
	constructor(fd: number, size: number) {
		this.#fd = fd;
		this.#baseSize = size;
		this.size = size;
	}

	/** The file's size while MEMFS creates the file from it, then a capacity MEMFS never grows (it would copy). */
	get length(): number {
		return this.#opened ? Number.MAX_SAFE_INTEGER : this.size;
	}

	/** Not a view of WebAssembly memory (MEMFS checks, to decide whether it may keep the array). */
	get buffer(): undefined {
		return undefined;
	}

	/** Call once `new SQL.Database(file)` has returned. */
	opened(): void {
		this.#opened = true;
	}

	/** MEMFS "copies" the bytes given to a new file: the copy is this object. */
	slice(): this {
		return this;
	}

	/** Bytes `[start, end)` of the database file. */
	subarray(start: number, end: number): Uint8Array {
		if (start === 0 && end > maxPageBytes) this.detached = true;
		return this.#read(start, end);
	}

	#read(start: number, end: number): Uint8Array {
		const out = new Uint8Array(Math.max(0, end - start));
		const baseEnd = Math.min(end, this.#baseSize);
		const sequential = start === this.#lastEnd;
		this.#lastEnd = end;
		if (baseEnd - start >= blockBytes) {
			this.#readInto(out, 0, start, baseEnd);
		} else if (!sequential && baseEnd > start && !this.#blocks.has(Math.floor(start / blockBytes))) {
			// A lone page (a lookup's way down an index): read alone. A block would copy sixteen times the bytes into
			// memory for pages SQLite's own cache keeps anyway once read; blocks serve scans, which read page after page.
			this.#readInto(out, 0, start, baseEnd);
		} else {
			for (let b = Math.floor(start / blockBytes); b * blockBytes < baseEnd; b++) {
				const block = this.#block(b);
				const from = Math.max(start, b * blockBytes);
				const to = Math.min(baseEnd, (b + 1) * blockBytes);
				out.set(block.subarray(from - b * blockBytes, to - b * blockBytes), from - start);
			}
		}
		if (this.#changed.size > 0) {
			for (let c = Math.floor(start / chunkBytes); c * chunkBytes < end; c++) {
				const chunk = this.#changed.get(c);
				if (chunk === undefined) continue;
				const from = Math.max(start, c * chunkBytes);
				const to = Math.min(end, (c + 1) * chunkBytes);
				out.set(chunk.subarray(from - c * chunkBytes, to - c * chunkBytes), from - start);
			}
		}
		return out;
	}

	/** Reads `[start, end)` of the open file into `out` at `at`; what cannot be read stays zeros. */
	#readInto(out: Uint8Array, at: number, start: number, end: number): void {
		let done = 0;
		try {
			while (start + done < end) {
				const n = readSync(this.#fd, out, at + done, end - start - done, start + done);
				if (n === 0) break;
				done += n;
			}
		} catch {
			// An unreadable page reads as zeros: SQLite reports the database malformed, and the worker reads the snapshot
			// as damaged (a miss), never as a crash.
		}
	}

	/**
	 * Block `b` of the open file, from the block cache: one read of a block costs about what one read of a page costs
	 * (a system call dominates), and SQLite reads neighbouring pages together when it scans.
	 */
	#block(b: number): Uint8Array {
		let block = this.#blocks.get(b);
		if (block !== undefined) {
			this.#blocks.delete(b);
			this.#blocks.set(b, block);
			return block;
		}
		const start = b * blockBytes;
		block = new Uint8Array(Math.max(0, Math.min(blockBytes, this.#baseSize - start)));
		this.#readInto(block, 0, start, start + block.length);
		this.#blocks.set(b, block);
		if (this.#blocks.size > cachedBlocks) this.#blocks.delete(this.#blocks.keys().next().value!);
		return block;
	}

	/** Writes `bytes` at `position` (into changed chunks; the file is never written). */
	set(bytes: Uint8Array, position: number): void {
		const end = position + bytes.length;
		for (let c = Math.floor(position / chunkBytes); c * chunkBytes < end; c++) {
			const chunkStart = c * chunkBytes;
			const from = Math.max(position, chunkStart);
			const to = Math.min(end, chunkStart + chunkBytes);
			let chunk = this.#changed.get(c);
			if (chunk === undefined) {
				// A chunk written only in part keeps the rest of what the file holds there.
				chunk = from === chunkStart && to === chunkStart + chunkBytes ? new Uint8Array(chunkBytes) : this.#read(chunkStart, chunkStart + chunkBytes);
				this.#changed.set(c, chunk);
			}
			chunk.set(bytes.subarray(from - position, to - position), from - chunkStart);
		}
		this.size = Math.max(this.size, end);
	}

	/** Writes the whole database file (the open file with the changed chunks over it) to `fd`, in large blocks. */
	writeTo(fd: number): void {
		const block = 1 << 22;
		for (let pos = 0; pos < this.size; pos += block) {
			const bytes = this.#read(pos, Math.min(this.size, pos + block));
			let done = 0;
			while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, pos + done);
		}
	}

	/** Continues from `fd`, a file holding exactly this database (what {@link writeTo} wrote), with no changed chunks. */
	rebase(fd: number): void {
		closeSync(this.#fd);
		this.#fd = fd;
		this.#baseSize = this.size;
		this.#changed.clear();
		this.#blocks.clear();
	}

	/** Closes the file. */
	close(): void {
		try {
			closeSync(this.#fd);
		} catch {
			// Closed already.
		}
	}
}
