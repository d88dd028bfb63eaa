// docs/behaviour.md §2.6 "SQL": the paged snapshot (runtime/src/storage/sql/pagedFile.ts), the object sql.js's MEMFS
// holds in place of the database's bytes — reads from the snapshot file on disk, writes into changed chunks in memory,
// a compaction streaming both into a new file and going on from it. The store's tests reach it through SQLite, which
// reads whole aligned pages; here it meets the reads and writes MEMFS may send it (any range, any alignment, past the
// end), checked byte for byte against a plain array that does the same, over a file larger than its block cache.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PagedFile } from '../../runtime/src/storage/sql/pagedFile.ts';
import { tmpDir } from '../support/tmp.js';

/** A small deterministic generator (xorshift32): the same operations every run. */
function generator(seed: number): (n: number) => number {
	let s = seed >>> 0 || 1;
	return (n) => {
		s ^= s << 13;
		s >>>= 0;
		s ^= s >>> 17;
		s ^= s << 5;
		s >>>= 0;
		return s % n;
	};
}

function bytesOf(size: number, seed: number): Uint8Array {
	const next = generator(seed);
	const out = new Uint8Array(size);
	for (let i = 0; i < size; i++) out[i] = next(256);
	return out;
}

/** The file `name` in `dir` holding `bytes`, open for reading. */
function snapshot(dir: string, name: string, bytes: Uint8Array): number {
	const path = join(dir, name);
	writeFileSync(path, bytes);
	return openSync(path, 'r');
}

/** What the paged file must read as: the database's bytes as a plain array, grown with zeros by writes past its end. */
class Model {
	bytes: Uint8Array;
	constructor(bytes: Uint8Array) {
		this.bytes = bytes.slice();
	}
	read(start: number, end: number): Uint8Array {
		const out = new Uint8Array(Math.max(0, end - start));
		out.set(this.bytes.subarray(Math.min(start, this.bytes.length), Math.min(end, this.bytes.length)));
		return out;
	}
	write(bytes: Uint8Array, position: number): void {
		if (position + bytes.length > this.bytes.length) {
			const grown = new Uint8Array(position + bytes.length);
			grown.set(this.bytes);
			this.bytes = grown;
		}
		this.bytes.set(bytes, position);
	}
}

/** Byte-for-byte equality with the first differing offset in the message (assert.deepEqual on megabytes says little). */
function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
	assert.equal(actual.length, expected.length, `${what}: length`);
	for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) assert.fail(`${what}: byte ${i} is ${actual[i]}, expected ${expected[i]}`);
}

const KiB = 1024;
const MiB = 1024 * KiB;

describe('the paged snapshot (sql store)', () => {
	it('reads and writes any range at any alignment as a plain array would, through compactions', (t: TestContext) => {
		const dir = tmpDir(t);
		// 5 MiB and a ragged tail: more than one 4 MiB block of a compaction's stream, and many 64 KiB read blocks.
		const size = 5 * MiB + 1234;
		const base = bytesOf(size, 1);
		const file = new PagedFile(snapshot(dir, 'calls.db', base), size);
		t.after(() => file.close());
		const model = new Model(base);
		const next = generator(2);
		let generation = 0;
		const check = (start: number, end: number, what: string): void =>
			sameBytes(file.subarray(start, end), model.read(start, end), `${what} [${start}, ${end})`);
		for (let step = 0; step < 3000; step++) {
			const kind = next(10);
			if (kind < 3) {
				// A lone page or a few bytes anywhere, sometimes straddling chunk and block edges, sometimes past the end.
				const start = next(file.size + 8 * KiB);
				check(start, start + 1 + next(9000), 'read');
			} else if (kind < 5) {
				// A scan: page after page from where the last read ended.
				const start = next(file.size);
				for (let p = 0; p < 40; p++) check(start + p * 4096, start + (p + 1) * 4096, 'scan');
			} else if (kind < 6) {
				// One long read (at least a block).
				const start = next(file.size);
				check(start, start + 64 * KiB + next(200 * KiB), 'long read');
			} else if (kind < 9) {
				// A write: a whole aligned page, or a few bytes at any offset, now and then past the end (the file grows).
				const aligned = next(2) === 0;
				const position = aligned ? next(Math.floor(file.size / 4096) + 2) * 4096 : next(file.size + 20 * KiB);
				const bytes = bytesOf(aligned ? 4096 : 1 + next(10_000), 100 + step);
				file.set(bytes, position);
				model.write(bytes, position);
				assert.equal(file.size, model.bytes.length, 'size after a write');
			} else if (next(20) === 0) {
				// A compaction: everything streamed to a new file, which the paged file then reads from.
				const path = join(dir, `calls.db.${++generation}`);
				const out = openSync(path, 'w');
				file.writeTo(out);
				closeSync(out);
				sameBytes(readFileSync(path), model.bytes, `snapshot ${generation}`);
				file.rebase(openSync(path, 'r'));
			}
		}
		assert.ok(generation >= 3, `${generation} compactions`);
		// After the last compaction and the writes since, the whole file once more, in one scan.
		for (let p = 0; p * 60 * KiB < file.size; p++) check(p * 60 * KiB, (p + 1) * 60 * KiB, 'final scan');
	});

	it('goes on from the new file after a compaction: blocks read before are not served again', (t: TestContext) => {
		const dir = tmpDir(t);
		const size = 1 * MiB;
		const base = bytesOf(size, 3);
		const file = new PagedFile(snapshot(dir, 'calls.db', base), size);
		t.after(() => file.close());
		const model = new Model(base);
		// A scan puts the first blocks in the cache; writes then change pages inside them and add pages past the end.
		for (let p = 0; p < 64; p++) file.subarray(p * 4096, (p + 1) * 4096);
		const page = bytesOf(4096, 4);
		for (const at of [0, 8192, 20_000, size, size + 4096]) {
			file.set(page, at);
			model.write(page, at);
		}
		const path = join(dir, 'calls.db.1');
		const out = openSync(path, 'w');
		file.writeTo(out);
		closeSync(out);
		// The old snapshot is changed under the paged file (as if it were another file): only the new one may be read.
		writeFileSync(join(dir, 'calls.db'), new Uint8Array(size));
		file.rebase(openSync(path, 'r'));
		for (let p = 0; p * 4096 < file.size; p++) sameBytes(file.subarray(p * 4096, (p + 1) * 4096), model.read(p * 4096, (p + 1) * 4096), `page ${p}`);
		sameBytes(file.subarray(100, 300_000), model.read(100, 300_000), 'a long read');
		assert.equal(file.size, size + 8192);
	});

	it('answers MEMFS as the array it stands for: its length, no buffer, itself as its copy, and notices a whole-file copy', (t: TestContext) => {
		const dir = tmpDir(t);
		const size = 200 * KiB;
		const file = new PagedFile(snapshot(dir, 'calls.db', bytesOf(size, 5)), size);
		t.after(() => file.close());
		assert.equal(file.length, size, 'while MEMFS creates the file from it');
		assert.equal(file.buffer, undefined);
		assert.equal(file.slice(), file);
		file.set(new Uint8Array(10), size);
		assert.equal(file.length, size + 10);
		file.opened();
		assert.equal(file.length, Number.MAX_SAFE_INTEGER, 'a capacity MEMFS never grows');
		assert.equal(file.size, size + 10);
		file.subarray(0, 64 * KiB);
		file.subarray(4096, size);
		assert.equal(file.detached, false, 'pages and long reads not from the start are SQLite reading');
		file.subarray(0, 64 * KiB + 1);
		assert.equal(file.detached, true, 'MEMFS copying the file to resize it');
	});

	it('reads what a damaged snapshot lacks as zeros, never throws, and closes its file once', (t: TestContext) => {
		const dir = tmpDir(t);
		const bytes = bytesOf(300 * KiB, 6);
		// The file is shorter than the size the store believes (truncated on disk).
		const fd = snapshot(dir, 'calls.db', bytes.subarray(0, 100 * KiB + 17));
		const file = new PagedFile(fd, bytes.length);
		const expected = new Model(bytes.subarray(0, 100 * KiB + 17)).read(0, bytes.length);
		sameBytes(file.subarray(0, bytes.length), expected, 'one long read');
		for (let p = 0; p < 75; p++) sameBytes(file.subarray(p * 4096, (p + 1) * 4096), expected.subarray(p * 4096, (p + 1) * 4096), `page ${p}`);
		sameBytes(file.subarray(150 * KiB, 150 * KiB + 5), new Uint8Array(5), 'a lone read past the end');
		// A write into the missing part keeps the zeros around it.
		file.set(new Uint8Array([1, 2, 3]), 200 * KiB + 10);
		const around = file.subarray(200 * KiB, 200 * KiB + 4096);
		assert.deepEqual([...around.subarray(8, 15)], [0, 0, 1, 2, 3, 0, 0]);
		file.close();
		assert.throws(() => fstatSync(fd), { code: 'EBADF' }, 'close() closed the snapshot');
		file.close();
		// A file that cannot be read at all (here a folder: every read fails with EISDIR) reads as zeros: SQLite then
		// reports a malformed database, which the store takes as a miss.
		const unreadable = new PagedFile(openSync(dir, 'r'), 300 * KiB);
		t.after(() => unreadable.close());
		sameBytes(unreadable.subarray(0, 4096), new Uint8Array(4096), 'a page of an unreadable file');
		sameBytes(unreadable.subarray(4096, 8192), new Uint8Array(4096), 'the next page');
		sameBytes(unreadable.subarray(8192, 200 * KiB), new Uint8Array(200 * KiB - 8192), 'a long read');
	});

	it('reads an empty range as nothing, and a file of no bytes as zeros', (t: TestContext) => {
		const dir = tmpDir(t);
		const file = new PagedFile(snapshot(dir, 'calls.db', bytesOf(8192, 7)), 8192);
		t.after(() => file.close());
		assert.equal(file.subarray(100, 100).length, 0);
		assert.equal(file.subarray(9000, 9000).length, 0);
		const empty = new PagedFile(snapshot(dir, 'empty.db', new Uint8Array(0)), 0);
		t.after(() => empty.close());
		sameBytes(empty.subarray(0, 4096), new Uint8Array(4096), 'an empty file');
		const page = bytesOf(4096, 8);
		empty.set(page, 4096);
		assert.equal(empty.size, 8192);
		sameBytes(empty.subarray(0, 8192), concat(new Uint8Array(4096), page), 'grown from nothing');
		const out = openSync(join(dir, 'empty.db.1'), 'w');
		empty.writeTo(out);
		closeSync(out);
		sameBytes(readFileSync(join(dir, 'empty.db.1')), concat(new Uint8Array(4096), page), 'its snapshot');
	});
});

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
	const out = new Uint8Array(a.length + b.length);
	out.set(a);
	out.set(b, a.length);
	return out;
}
