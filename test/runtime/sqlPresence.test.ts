// docs/behaviour.md §2.6 "SQL": the key-presence filter (runtime/src/storage/sql/presence.ts), the Bloom filter in
// shared memory through which the calling thread answers most misses without asking the sql worker. The store's
// tests (sqlStorage, sqlScale) reach it only in the states a store passes through on its own; here the worker's side
// and the caller's side meet directly, in every state of the header, so that the one promise that matters — never
// "absent" of a key the filter holds — is checked where a store cannot be steered: a restart under way, a filter
// still filling, retired, following another log, or behind the caller.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { PresenceReader, PresenceWriter } from '../../runtime/src/storage/sql/presence.ts';

const keyOf = (s: string): string => createHash('sha256').update(s).digest('hex');
const headerBytes = 32;

/** A complete filter of `keys`, following log `ino` up to `offset`, and a reader of it. */
function filled(keys: readonly string[], ino = 7, offset = 1000): { writer: PresenceWriter; reader: PresenceReader } {
	const writer = new PresenceWriter(keys.length);
	for (const k of keys) writer.add(k);
	writer.publish(ino, offset);
	writer.complete();
	return { writer, reader: new PresenceReader(writer.buffer) };
}

describe('the presence filter (sql store)', () => {
	it('is sized at 16 bits a key, a power of two, from 2^20 bits up to 2^31', () => {
		const bytes = (capacity: number): number => new PresenceWriter(capacity).buffer.byteLength - headerBytes;
		assert.equal(bytes(0), 2 ** 20 / 8);
		assert.equal(bytes(65_536), 2 ** 20 / 8, '65,536 keys × 16 bits fill 2^20 bits exactly');
		assert.equal(bytes(65_537), 2 ** 21 / 8);
		assert.equal(bytes(100_000), 2 ** 21 / 8);
		assert.equal(bytes(1_000_000), 2 ** 24 / 8);
		assert.equal(bytes(2 ** 27), 2 ** 31 / 8);
		// Past 2^27 keys the filter stops growing (256 MiB): it then says "maybe" more often, never "absent" wrongly.
		assert.equal(bytes(2 ** 28), 2 ** 31 / 8);
		const w = new PresenceWriter(123);
		assert.equal(w.capacity, 123);
		assert.equal(w.added, 0);
	});

	it('never says "absent" of a key it holds, and says it of nearly every other key', () => {
		const held = Array.from({ length: 20_000 }, (_, i) => keyOf(`held ${i}`));
		const { writer, reader } = filled(held);
		assert.equal(writer.added, held.length);
		for (const k of held) assert.equal(reader.absent(k, 7, 1000), false, k);
		let absent = 0;
		for (let i = 0; i < 20_000; i++) if (reader.absent(keyOf(`other ${i}`), 7, 1000)) absent++;
		// 16 bits a key (2^20 bits for 20,000 keys here: 52 a key): a false "maybe" is well under one in a thousand.
		assert.ok(absent >= 19_980, `${absent} of 20,000 absent keys said absent`);
	});

	it('takes all eight 32-bit slices of a key: a key differing from a held one in any one slice is absent', () => {
		const held = keyOf('the one key');
		const { reader } = filled([held]);
		for (let slice = 0; slice < 8; slice++) {
			const digit = held[slice * 8 + 3] === '0' ? '1' : '0';
			const other = held.slice(0, slice * 8 + 3) + digit + held.slice(slice * 8 + 4);
			assert.equal(reader.absent(other, 7, 1000), true, `a key differing in slice ${slice}`);
		}
		assert.equal(reader.absent(held, 7, 1000), false);
	});

	it('reads a slice that is not hex as bit 0: hostile keys can only make it say "maybe"', () => {
		const nonHex = 'z'.repeat(64);
		const empty = filled([]);
		assert.equal(empty.reader.absent(nonHex, 7, 1000), true, 'bit 0 is clear in an empty filter');
		const zeros = filled(['0'.repeat(64)]);
		assert.equal(zeros.reader.absent(nonHex, 7, 1000), false, 'the all-zero key set bit 0, where every non-hex slice points');
		const hostile = filled([nonHex]);
		assert.equal(hostile.reader.absent(nonHex, 7, 1000), false);
		assert.equal(hostile.reader.absent('0'.repeat(64), 7, 1000), false);
		assert.equal(hostile.reader.absent(`${'0'.repeat(56)}00000001`, 7, 1000), true);
	});

	it('answers nothing until it is complete, while a restart is under way, or once retired', () => {
		const key = keyOf('never added');
		const writer = new PresenceWriter(10);
		const reader = new PresenceReader(writer.buffer);
		writer.publish(7, 1000);
		assert.equal(reader.absent(key, 7, 1000), false, 'still reading the database in');
		writer.complete();
		assert.equal(reader.absent(key, 7, 1000), true);
		assert.equal(reader.retired, false);

		// The sequence word odd: the worker is clearing bits.
		const head = new Int32Array(writer.buffer, 0, 2);
		Atomics.add(head, 0, 1);
		assert.equal(reader.absent(key, 7, 1000), false, 'odd sequence');
		Atomics.add(head, 0, 1);
		assert.equal(reader.absent(key, 7, 1000), true);

		writer.retire();
		assert.equal(reader.retired, true);
		assert.equal(reader.absent(key, 7, 1000), false, 'retired');
	});

	it('answers only for the log it follows, and only as far as it reached', () => {
		const key = keyOf('never added');
		const { writer, reader } = filled([keyOf('held')], 7, 1000);
		assert.equal(reader.absent(key, 7, 999), true);
		assert.equal(reader.absent(key, 7, 1000), true, 'the caller read up to where the filter reaches');
		assert.equal(reader.absent(key, 7, 1001), false, 'the caller is past the filter: a line between may hold the key');
		assert.equal(reader.absent(key, 8, 0), false, 'another log (a compaction the caller follows, not the filter)');
		assert.equal(reader.absent(key, 7, Number.NaN), false);
		writer.publish(0, 1000);
		assert.equal(reader.absent(key, 0, 0), false, 'no log: it answers nothing');
		writer.publish(8, 5000);
		assert.equal(reader.absent(key, 8, 5000), true);
		assert.equal(reader.absent(key, 7, 1000), false);
	});

	it('restarts empty, says nothing until complete again, and forgets the keys it held', () => {
		const old = keyOf('before the restart');
		const kept = keyOf('after the restart');
		const { writer, reader } = filled([old, keyOf('another')]);
		assert.equal(reader.absent(old, 7, 1000), false);
		writer.restart();
		assert.equal(writer.added, 0);
		assert.equal(reader.absent(old, 7, 1000), false, 'filling again');
		assert.equal(reader.absent(keyOf('never'), 7, 1000), false, 'filling again');
		writer.add(kept);
		assert.equal(writer.added, 1);
		writer.publish(7, 2000);
		writer.complete();
		assert.equal(reader.absent(old, 7, 2000), true, 'the replaced database does not hold it');
		assert.equal(reader.absent(kept, 7, 2000), false);
		const head = new Int32Array(writer.buffer, 0, 2);
		assert.equal(Atomics.load(head, 0) % 2, 0, 'the sequence is even again');
	});

	it('refuses a buffer that is not a filter', () => {
		assert.throws(() => new PresenceReader(new ArrayBuffer(headerBytes + 4)), { name: 'TypeError', message: 'not a presence filter' });
		assert.throws(() => new PresenceReader(new SharedArrayBuffer(headerBytes)), TypeError);
		assert.throws(() => new PresenceReader(new SharedArrayBuffer(headerBytes + 3)), TypeError);
		assert.throws(() => new PresenceReader(undefined), TypeError);
		assert.throws(() => new PresenceReader(new Uint8Array(new SharedArrayBuffer(headerBytes + 4))), TypeError);
		// The smallest buffer that is one: 32 bits after the header, which the reader masks with 31.
		const smallest = new SharedArrayBuffer(headerBytes + 4);
		const reader = new PresenceReader(smallest);
		const head = new Int32Array(smallest, 0, 2);
		const where = new Float64Array(smallest, 8, 2);
		where[0] = 3;
		where[1] = 10;
		Atomics.store(head, 1, 1);
		assert.equal(reader.absent('0'.repeat(64), 3, 10), true);
		new Int32Array(smallest, headerBytes, 1)[0] = 1; // bit 0
		assert.equal(reader.absent('0'.repeat(64), 3, 10), false);
		assert.equal(reader.absent(`${'0'.repeat(63)}1`, 3, 10), true, 'bit 1 of the last slice is clear');
		assert.equal(reader.absent(`${'0'.repeat(62)}20`, 3, 10), false, '0x20 masked with 31 is bit 0');
	});

	it('never says "absent" of a held key while another thread restarts and refills it, however the two interleave', async () => {
		// The worker's side in a thread of its own: restart (clears every bit), add the key back, complete, publish —
		// as fast as it can, while this thread asks about the key. Only the sequence word tells this thread that the
		// bits it read were being cleared: without it, some of these checks say "absent" of a key the filter holds.
		const key = keyOf('always held');
		const writer = new PresenceWriter(10);
		writer.add(key);
		writer.publish(7, 1000);
		writer.complete();
		const reader = new PresenceReader(writer.buffer);
		// Word 0: stop; word 1: the rounds the other thread has done.
		const shared = new Int32Array(new SharedArrayBuffer(8));
		const source = `
			const { workerData } = require('node:worker_threads');
			const { buffer, shared, key } = workerData;
			const state = new Int32Array(shared);
			const head = new Int32Array(buffer, 0, 2);
			const where = new Float64Array(buffer, 8, 2);
			const bits = new Int32Array(buffer, 32);
			const mask = bits.length * 32 - 1;
			while (Atomics.load(state, 0) === 0) {
				// PresenceWriter's restart, add, complete and publish, written out (a thread made from a string cannot import
				// the TypeScript module); the reader under test is this file's.
				Atomics.add(head, 0, 1); Atomics.store(head, 1, 0); bits.fill(0); Atomics.add(head, 0, 1);
				for (let i = 0; i < 8; i++) { const p = (parseInt(key.slice(i * 8, i * 8 + 8), 16) & mask) >>> 0; Atomics.or(bits, p >>> 5, 1 << (p & 31)); }
				Atomics.store(head, 1, 1);
				Atomics.add(head, 0, 1); where[0] = 7; where[1] = 1000; Atomics.add(head, 0, 1);
				Atomics.add(state, 1, 1);
			}
		`;
		const thread = new Worker(source, { eval: true, workerData: { buffer: writer.buffer, shared: shared.buffer, key } });
		let gone: unknown = null;
		const exited = new Promise((resolve) => thread.once('exit', resolve));
		thread.once('error', (err) => (gone = err));
		thread.once('exit', (code) => (gone ??= new Error(`the other thread exited (${code})`)));
		let wrong = 0;
		let answered = 0;
		let said = 0;
		// Until the other thread has restarted the filter 20,000 times — counted, not timed: a slow machine runs longer.
		// Between batches of checks the event loop turns, so a thread that died is noticed instead of waited for.
		try {
			while (Atomics.load(shared, 1) < 20_000 && gone === null) {
				for (let i = 0; i < 100_000; i++, answered++) {
					if (reader.absent(key, 7, 1000)) wrong++;
					else said++;
				}
				await new Promise(setImmediate);
			}
		} finally {
			Atomics.store(shared, 0, 1);
			await exited;
		}
		assert.equal(wrong, 0, `said "absent" of the held key ${wrong} times in ${answered}`);
		assert.ok(Atomics.load(shared, 1) >= 20_000, `the other thread restarted the filter only ${Atomics.load(shared, 1)} times: ${String(gone)}`);
		assert.equal(said, answered);
	});
});
