// docs/behaviour.md §2.6 "SQL", §11, §12: CallSql method by method, on real files and its real sql.js worker thread, in
// a few seconds (two or three workers in all), so that test/mutation/run.mjs can judge storage/sql/store.ts's mutants
// with it. The slow cases (several processes, SIGKILL, compaction races, damaged files) stay in sql.test and
// sqlTrust.test.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CallSql, KeyError, SaveError, recordKey, type CallRecord, type CallStats } from 'fleche';
import { captureLogs } from '../support/logs.js';
import { hexOf } from '../support/sqlRecord.js';
import { pollCeilingMs, waitFor } from '../support/poll.js';
import { tmpDir } from '../support/tmp.js';

const logs = captureLogs();
const threadExit = fileURLToPath(new URL('../fixtures/sqlThreadExit.js', import.meta.url));
const isKeyError = (err: unknown): boolean => KeyError.is(err);

/** A record of `name` with one argument; `timestop` orders pages (newest first). */
function rec(name: string, arg: string, extra: { version?: string | number; timestop?: number; module?: string | null } = {}): CallRecord {
	const identity = {
		name,
		module: extra.module === undefined ? 'm.js' : extra.module,
		version: extra.version ?? 1,
		codeDigest: null,
		arguments: { x: hexOf(arg) },
	};
	const metadata: CallRecord['metadata'] = extra.timestop === undefined ? { tags: { arg } } : { runtime: { timestop: extra.timestop } };
	return { key: recordKey(identity), ...identity, result: hexOf(`r ${arg}`), metadata };
}

function stats(r: CallRecord, hits: number, lastHit: number | null): CallStats {
	return { key: r.key, name: r.name, module: r.module, hits, misses: 1, lastHit, computeSeconds: 2, savedSeconds: hits * 2 };
}

const logSize = (dir: string): number => fs.statSync(join(dir, 'calls.db.log')).size;

describe('CallSql, method by method', () => {
	it('an empty store answers every read without a worker or a file', (t) => {
		const dir = tmpDir(t);
		const calls = new CallSql({ path: join(dir, 'sub', 'calls.db') });
		t.after(() => calls.close());
		const key = hexOf('none');
		assert.deepStrictEqual(calls.records(), []);
		assert.deepStrictEqual(calls.records({ name: 'f' }), []);
		assert.deepStrictEqual(calls.functions(), []);
		assert.deepStrictEqual(calls.page({ module: 'm.js', name: 'f' }, 0, 10), { total: 0, records: [], stats: [] });
		assert.deepStrictEqual(calls.list(), []);
		assert.deepStrictEqual(calls.stats(), []);
		assert.equal(calls.contains(key), false);
		assert.throws(() => calls.get(key), isKeyError);
		assert.throws(() => calls.expand(key.slice(0, 6)), isKeyError);
		assert.throws(() => calls.evict(key), isKeyError);
		assert.equal(calls.evictMany([key]), 0);
		calls.addStats([]);
		calls.flush();
		assert.deepStrictEqual(fs.readdirSync(dir), [], 'nothing written: not even the folder');
		assert.deepStrictEqual(calls.toConfig(), { type: 'sql', path: join(dir, 'sub', 'calls.db') });
		assert.throws(() => new CallSql({ path: '' }), TypeError);
		assert.throws(() => new CallSql({} as { path: string }), TypeError);
	});

	it('put, get, records, functions, page, stats, expand, evict and compact agree across two instances', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const a = new CallSql({ path, writeDelayMs: 0 });
		const b = new CallSql({ path, writeDelayMs: 0 });
		t.after(() => (a.close(), b.close()));
		const add1 = rec('add', '1', { version: 1, timestop: 100 });
		const add2 = rec('add', '2', { version: 'v2', timestop: 300 });
		const add3 = rec('add', '3', { version: 1, timestop: 200 });
		const undated = rec('add', '4', { version: 1 });
		const mul = rec('mul', '1', { module: null });
		const later = { ...rec('later', '1'), async: true };
		for (const r of [add1, add2, add3, undated, mul, later]) a.put(r);
		assert.ok(fs.existsSync(join(dir, 'calls.db.log')), 'a put into an idle store is on disk at once');

		// The other instance reads through its worker; the writer from what it remembers.
		for (const r of [add1, mul, later]) {
			assert.deepStrictEqual(b.get(r.key), r);
			assert.deepStrictEqual(a.get(r.key), r);
		}
		assert.equal(b.get(later.key).async, true);
		assert.ok(Object.isFrozen(b.get(add1.key)) && Object.isFrozen(b.get(add1.key).arguments), 'a record read is frozen');
		assert.deepStrictEqual(b.list().sort(), [add1, add2, add3, undated, mul, later].map((r) => r.key).sort());
		assert.deepStrictEqual(
			b
				.records({ name: 'add' })
				.map((r) => r.key)
				.sort(),
			[add1, add2, add3, undated].map((r) => r.key).sort(),
		);
		assert.deepStrictEqual(b.records({ name: 'mul' }), [mul]);
		assert.equal(b.records().length, 6);
		assert.deepStrictEqual(b.records({ name: 'none' }), []);
		assert.equal(b.contains(add2.key), true);
		assert.equal(b.contains('nope'), false);
		assert.equal(b.contains(hexOf('absent')), false);

		// A page: newest first by timestop, the undated call last; offset and limit below 0 count as 0.
		const page = (offset: number, limit: number) => b.page({ module: 'm.js', name: 'add' }, offset, limit);
		assert.deepStrictEqual(page(0, 10), { total: 4, records: [add2, add3, add1, undated], stats: [] });
		assert.deepStrictEqual(page(1, 2), { total: 4, records: [add3, add1], stats: [] });
		assert.deepStrictEqual(page(-3, 1), { total: 4, records: [add2], stats: [] });
		assert.deepStrictEqual(page(0, -1), { total: 4, records: [], stats: [] });
		assert.deepStrictEqual(b.page({ module: null, name: 'mul' }, 0, 5), { total: 1, records: [mul], stats: [] });
		assert.deepStrictEqual(b.page({ module: 'other.js', name: 'add' }, 0, 5), { total: 0, records: [], stats: [] });

		// Statistics: summed over instances, filtered by name and by module (null included).
		const gone = rec('gone', '1', { module: null });
		a.addStats([stats(add1, 2, 100), stats(mul, 1, null)]);
		b.addStats([stats(add1, 3, 50), stats(add2, 1, 400), stats(gone, 4, 10)]);
		const byKey = new Map(a.stats().map((s) => [s.key, s]));
		assert.equal(byKey.size, 4);
		// A page carries the statistics of its own calls (those that have any), in its order, and no others.
		assert.deepStrictEqual(
			page(0, 10).stats,
			[add2, add1].map((r) => byKey.get(r.key)),
		);
		assert.deepStrictEqual(page(1, 1).stats, [], 'add3 has none');
		assert.deepStrictEqual(b.page({ module: null, name: 'mul' }, 0, 5).stats, [byKey.get(mul.key)]);
		assert.deepStrictEqual(byKey.get(add1.key), {
			key: add1.key,
			name: 'add',
			module: 'm.js',
			hits: 5,
			misses: 2,
			lastHit: 100,
			computeSeconds: 4,
			savedSeconds: 10,
		});
		assert.deepStrictEqual(byKey.get(mul.key), {
			key: mul.key,
			name: 'mul',
			module: null,
			hits: 1,
			misses: 1,
			lastHit: null,
			computeSeconds: 2,
			savedSeconds: 2,
		});
		assert.deepStrictEqual(
			a
				.stats({ name: 'add' })
				.map((s) => s.key)
				.sort(),
			[add1.key, add2.key].sort(),
		);
		assert.deepStrictEqual(
			a
				.stats({ module: null })
				.map((s) => s.key)
				.sort(),
			[mul.key, gone.key].sort(),
		);
		assert.deepStrictEqual(a.stats({ name: 'add', module: 'other.js' }), []);

		// Functions: calls, distinct versions and summed statistics per function; one with statistics only.
		const fns = new Map(a.functions().map((f) => [f.name, f]));
		assert.deepStrictEqual([...fns.keys()].sort(), ['add', 'gone', 'later', 'mul']);
		const add = fns.get('add')!;
		assert.deepStrictEqual(
			{ ...add, versions: [...add.versions].sort() },
			{
				module: 'm.js',
				name: 'add',
				calls: 4,
				versions: [1, 'v2'],
				hits: 6,
				misses: 3,
				lastHit: 400,
				computeSeconds: 6,
				savedSeconds: 12,
			},
		);
		assert.deepStrictEqual(fns.get('mul'), {
			module: null,
			name: 'mul',
			calls: 1,
			versions: [1],
			hits: 1,
			misses: 1,
			lastHit: null,
			computeSeconds: 2,
			savedSeconds: 2,
		});
		assert.deepStrictEqual(fns.get('gone'), {
			module: null,
			name: 'gone',
			calls: 0,
			versions: [],
			hits: 4,
			misses: 1,
			lastHit: 10,
			computeSeconds: 2,
			savedSeconds: 8,
		});
		assert.deepStrictEqual(fns.get('later'), {
			module: 'm.js',
			name: 'later',
			calls: 1,
			versions: [1],
			hits: 0,
			misses: 0,
			lastHit: null,
			computeSeconds: 0,
			savedSeconds: 0,
		});

		// Prefixes: expanded by either instance; a full key is checked, not trusted; too short is refused.
		assert.equal(b.expand(mul.key.slice(0, 4)), mul.key);
		assert.equal(a.expand(mul.key.slice(0, 10)), mul.key);
		assert.equal(b.expand(mul.key), mul.key);
		assert.throws(() => b.expand(hexOf('absent')), isKeyError);
		assert.throws(() => b.expand(hexOf('absent').slice(0, 8)), isKeyError);
		assert.throws(() => b.expand(mul.key.slice(0, 3)), isKeyError);

		// Evictions: by either instance, seen by the other (even where it remembered the record); statistics stay.
		b.evict(mul.key);
		assert.equal(a.contains(mul.key), false);
		assert.throws(() => a.get(mul.key), isKeyError);
		assert.throws(() => a.evict(mul.key), isKeyError);
		assert.equal(a.evictMany([add1.key, mul.key, add3.key, 'junk']), 2);
		assert.throws(() => b.get(add1.key), isKeyError);
		assert.equal(b.list().length, 3);
		assert.equal(a.stats({ name: 'mul' }).length, 1);

		// A record replaced by one instance is the new one for the other, which remembered the old one.
		assert.deepStrictEqual(a.get(add2.key), add2);
		const replaced = { ...add2, result: hexOf('new result') };
		b.put(replaced);
		assert.deepStrictEqual(a.get(add2.key), replaced);

		// Compaction: everything in the SQLite file, read the same by the other instance; nothing left to do after.
		assert.equal(a.compact(), true);
		assert.deepStrictEqual(b.get(add2.key), replaced);
		assert.equal(b.list().length, 3);
		assert.equal(b.stats().length, 4);
		// After close, the next read starts a new worker.
		a.close();
		assert.deepStrictEqual(a.get(undated.key), undated);
		assert.equal(a.list().length, 3);
		assert.deepStrictEqual(logs.records, []);
	});

	it('puts that follow a write are held until writeDelayMs, a flush, a read or close; an idle put is written at once', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const w = new CallSql({ path, writeDelayMs: 60_000 });
		const r = new CallSql({ path });
		t.after(() => (w.close(), r.close()));
		const [p0, p1, p2, p3, p4] = [0, 1, 2, 3, 4].map((i) => rec('f', `held ${i}`));
		w.put(p0!);
		const first = logSize(dir);
		w.put(p1!);
		w.put(p2!);
		assert.equal(logSize(dir), first, 'held');
		assert.deepStrictEqual(w.get(p1!.key), p1, 'the writer remembers what it holds');
		assert.equal(w.contains(p2!.key), true);
		w.flush();
		const second = logSize(dir);
		assert.ok(second > first, 'flushed');
		w.flush();
		assert.equal(logSize(dir), second, 'a flush with nothing held writes nothing');
		w.put(p3!);
		assert.equal(logSize(dir), second);
		// Another instance of this thread asking for that key gets it: the held line is written first.
		assert.deepStrictEqual(r.get(p3!.key), p3);
		const third = logSize(dir);
		assert.ok(third > second);
		w.put(p4!);
		assert.equal(r.list().length, 5, 'any read through a worker writes what is held first');
		w.put({ ...p0!, result: null });
		w.close();
		assert.equal(r.get(p0!.key).result, null, 'close writes what is held');

		const now = new CallSql({ path, writeDelayMs: 0 });
		t.after(() => now.close());
		const before = logSize(dir);
		now.put(rec('g', '1'));
		const mid = logSize(dir);
		now.put(rec('g', '2'));
		assert.ok(before < mid && mid < logSize(dir), 'writeDelayMs 0: every put is written before it returns');
	});

	it('close() during a compaction lets it finish: no lock, claim to compact or temporary copy is left behind', (t) => {
		// A compaction cut short by the end of its thread left the lock (every writer of the store waited 10 s for it to go
		// stale), the claim to compact (no compaction anywhere while this process lived) and a copy as large as the store.
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const fill = new CallSql({ path, compactBytes: 2 ** 30 });
		const count = 8000;
		for (let i = 0; i < count; i++) fill.put(rec(`f${i % 7}`, `fill ${i}`));
		fill.close();
		assert.ok(!fs.existsSync(path), 'the log alone holds them: the next compaction applies every line');
		const writer = new CallSql({ path, compactBytes: 64 * 1024 });
		t.after(() => writer.close());
		// The put outgrows the compaction size: the writer starts its worker, which compacts on its own.
		writer.put(rec('g', 'last'));
		// Looked for without a pause between looks: the compaction may last a few tens of milliseconds on a fast machine.
		const claim = join(dir, 'calls.db.compact');
		const pause = new Int32Array(new SharedArrayBuffer(4));
		const deadline = Date.now() + pollCeilingMs;
		while (!fs.existsSync(claim)) {
			assert.ok(Date.now() < deadline, 'the worker never started compacting');
			Atomics.wait(pause, 0, 0, 1);
		}
		writer.close();
		const left = fs.readdirSync(dir).filter((n) => n.endsWith('.lock') || n.endsWith('.compact') || n.endsWith('.tmp'));
		assert.deepStrictEqual(left, [], 'the compaction finished before its thread ended');
		assert.ok(fs.existsSync(path), 'and wrote the snapshot');
		const reader = new CallSql({ path });
		t.after(() => reader.close());
		assert.equal(reader.list().length, count + 1);
	});

	it('a worker thread that ends while its store compacts (no close()) lets the compaction finish first', async (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const fill = new CallSql({ path, compactBytes: 2 ** 30 });
		const count = 8000;
		for (let i = 0; i < count; i++) fill.put(rec(`f${i % 7}`, `fill ${i}`));
		fill.close();
		const thread = new Worker(threadExit, { workerData: { path } });
		const said: unknown[] = [];
		thread.on('message', (m) => said.push(m));
		const code = await new Promise<number>((resolve, reject) => {
			thread.once('error', reject);
			thread.once('exit', resolve);
		});
		assert.equal(code, 0);
		assert.deepStrictEqual(said, ['compacting'], 'the thread ended while its store was compacting');
		// This process lives on: what a cut-short compaction held would wait for staleness (lock, claim) or stay (copy).
		const left = fs.readdirSync(dir).filter((n) => n.endsWith('.lock') || n.endsWith('.compact') || n.endsWith('.tmp'));
		assert.deepStrictEqual(left, [], 'the compaction finished before the thread ended');
		assert.ok(fs.existsSync(path), 'and wrote the snapshot');
		const reader = new CallSql({ path });
		t.after(() => reader.close());
		assert.equal(reader.list().length, count + 1);
	});

	it('held puts whose write fails with no caller to tell (the timer) are held again, and written with the next write', async (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const log = join(dir, 'calls.db.log');
		const w = new CallSql({ path, writeDelayMs: 1000 });
		t.after(() => w.close());
		const [p0, p1, p2] = [0, 1, 2].map((i) => rec('f', `again ${i}`));
		w.put(p0!);
		w.put(p1!);
		w.put(p2!);
		// Nothing can be written while a folder stands where the log goes.
		fs.renameSync(log, `${log}.away`);
		fs.mkdirSync(log);
		logs.clear();
		await waitFor('the held write to fail', () => logs.codes('FLECHE_SAVE_FAILED').length > 0);
		assert.match(logs.codes('FLECHE_SAVE_FAILED')[0]!.message, /held and written with the next write/);
		// A folder where the log goes is no log to a reader: it answers from what else there is (nothing), not EISDIR.
		const blind = new CallSql({ path });
		t.after(() => blind.close());
		assert.equal(blind.contains(p0!.key), false);
		assert.deepStrictEqual(blind.list(), []);
		fs.rmdirSync(log);
		fs.renameSync(`${log}.away`, log);
		w.flush();
		const reader = new CallSql({ path });
		t.after(() => reader.close());
		assert.deepStrictEqual(reader.list().sort(), [p0!.key, p1!.key, p2!.key].sort(), 'written, not dropped');
	});

	it('workers started one after another in a thread answer alike (the first compiles sql.js, later ones reuse it)', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const writer = new CallSql({ path });
		const records = [0, 1, 2].map((i) => rec('again', `worker ${i}`, { timestop: i }));
		for (const r of records) writer.put(r);
		writer.compact();
		writer.close();
		for (let round = 0; round < 3; round++) {
			const reader = new CallSql({ path });
			try {
				assert.deepStrictEqual(reader.page({ module: 'm.js', name: 'again' }, 0, 10).records, [...records].reverse(), `round ${round}`);
				assert.deepStrictEqual(reader.get(records[1]!.key), records[1]);
			} finally {
				reader.close();
			}
		}
	});

	it('refuses bad keys and records before writing anything', (t) => {
		const dir = tmpDir(t);
		const calls = new CallSql({ path: join(dir, 'calls.db') });
		t.after(() => calls.close());
		const good = rec('f', '1');
		for (const bad of ['', 'abc', good.key.toUpperCase(), `${good.key}0`]) {
			assert.throws(() => calls.get(bad), isKeyError, bad);
			assert.throws(() => calls.evict(bad), isKeyError, bad);
			assert.throws(() => calls.put({ ...good, key: bad }), isKeyError, bad);
		}
		assert.throws(
			() => calls.put({ ...good, key: hexOf('other') }),
			(err) => SaveError.is(err) && err.message.includes(hexOf('other')) && err.message.includes('f') && err.cause instanceof Error,
		);
		assert.throws(
			() => calls.put({ ...good, metadata: 'text' as unknown as CallRecord['metadata'] }),
			(err) => SaveError.is(err),
		);
		assert.deepStrictEqual(fs.readdirSync(dir), []);
	});

	it('a secret key signs records; another key, or none, reads them as misses with a warning; toConfig names it', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const keyA = 'a1'.repeat(32);
		const signed = new CallSql({ path, secretKey: keyA, writeDelayMs: 0 });
		const unsigned = new CallSql({ path, secretKey: '', writeDelayMs: 0 });
		const checking = new CallSql({ path, secretKey: keyA });
		const other = new CallSql({ path, secretKey: 'b2'.repeat(32) });
		t.after(() => (signed.close(), unsigned.close(), checking.close(), other.close()));
		assert.deepStrictEqual(signed.toConfig(), { type: 'sql', path, secretKey: [keyA] });
		assert.deepStrictEqual(unsigned.toConfig(), { type: 'sql', path });
		const r1 = rec('f', 'signed');
		const r2 = rec('f', 'unsigned');
		signed.put(r1);
		unsigned.put(r2);
		logs.clear();
		assert.deepStrictEqual(checking.get(r1.key), r1);
		assert.throws(
			() => checking.get(r2.key),
			(err) => KeyError.is(err) && /not signed/.test(err.message),
		);
		assert.deepStrictEqual(checking.records(), [r1]);
		assert.throws(
			() => other.get(r1.key),
			(err) => KeyError.is(err) && /signature does not match/.test(err.message),
		);
		assert.deepStrictEqual(other.records(), []);
		assert.deepStrictEqual(
			logs.records.map((l) => l.code),
			Array(5).fill('FLECHE_BAD_SIGNATURE'),
		);
		logs.clear();
	});

	it('find() answers as get does, with undefined where get throws for a key without a record (no KeyError built)', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const writer = new CallSql({ path, secretKey: '', writeDelayMs: 0 });
		const plain = new CallSql({ path, secretKey: '' });
		const checking = new CallSql({ path, secretKey: 'a1'.repeat(32) });
		const absent = new CallSql({ path: join(dir, 'none.db') });
		t.after(() => (writer.close(), plain.close(), checking.close(), absent.close()));
		const stored = rec('f', 'stored');
		const never = rec('f', 'never');
		assert.equal(absent.find(stored.key), undefined, 'a store with no file yet');
		writer.put(stored);
		assert.deepStrictEqual(plain.find(stored.key), stored, 'read through the worker');
		assert.deepStrictEqual(writer.find(stored.key), stored, 'remembered by its writer');
		assert.equal(plain.find(never.key), undefined, 'asked of the worker');
		assert.throws(() => plain.get(never.key), isKeyError);
		logs.clear();
		// A record that fails its checks is not an absent one: it throws, as get does, and is reported.
		assert.throws(
			() => checking.find(stored.key),
			(err) => KeyError.is(err) && /not signed/.test(err.message),
		);
		assert.deepStrictEqual(
			logs.records.map((l) => l.code),
			['FLECHE_BAD_SIGNATURE'],
		);
		assert.throws(() => plain.find('../x'), isKeyError);
		logs.clear();
	});

	it('a link left where the lock goes (dangling, looping) is broken once old, not waited on by every write', (t) => {
		// Before: the link could not be created over and had no owner or age to judge, so every write waited out the
		// lock's 30 s timeout and failed, as long as the link stayed.
		for (const target of ['nowhere', 'calls.db.lock']) {
			const dir = tmpDir(t);
			const path = join(dir, 'calls.db');
			const store = new CallSql({ path, writeDelayMs: 0 });
			t.after(() => store.close());
			fs.symlinkSync(join(dir, target), join(dir, 'calls.db.lock'));
			const old = new Date(Date.now() - 5000);
			fs.lutimesSync(join(dir, 'calls.db.lock'), old, old);
			const r = rec('f', `past a link to ${target}`);
			const started = logs.records.length;
			store.put(r);
			store.flush();
			assert.deepEqual(logs.records.slice(started), [], target);
			assert.equal(fs.existsSync(join(dir, 'calls.db.lock')), false, 'the store released its own lock');
			const reader = new CallSql({ path });
			t.after(() => reader.close());
			assert.deepStrictEqual(reader.get(r.key), r, target);
		}
	});

	it('removals that cannot be written are a SaveError naming them; the records stay', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const writer = new CallSql({ path, writeDelayMs: 0 });
		const reader = new CallSql({ path, writeDelayMs: 0 });
		t.after(() => (writer.close(), reader.close()));
		const [r1, r2] = [rec('f', 'stays 1'), rec('f', 'stays 2')];
		writer.put(r1);
		writer.put(r2);
		// The reader remembers both (it knows they are held without asking its worker), and has never written: its first
		// write reads the snapshot's header, which now names another application's database.
		assert.deepStrictEqual([reader.get(r1.key), reader.get(r2.key)], [r1, r2]);
		const foreign = Buffer.alloc(100);
		foreign.write('SQLite format 3\0', 0, 'latin1');
		foreign.writeUInt32BE(0x12345678, 68);
		fs.writeFileSync(path, foreign);
		assert.throws(
			() => reader.evictMany([r1.key, r2.key, hexOf('never stored')]),
			(err) =>
				SaveError.is(err) &&
				err.message.startsWith(`Cannot write the removal of 2 calls to the cache database ${path}: `) &&
				err.message.includes("another application's SQLite database") &&
				err.cause instanceof Error,
		);
		fs.rmSync(path);
		assert.equal(reader.contains(r1.key), true);
		assert.deepStrictEqual(writer.get(r2.key), r2);
		assert.equal(writer.evictMany([r1.key, r2.key]), 2);
		assert.deepStrictEqual(reader.list(), []);
	});

	it("':memory:' keeps the records in this instance's worker only", (t) => {
		const calls = new CallSql({ path: ':memory:' });
		t.after(() => calls.close());
		assert.equal(calls.path, ':memory:');
		const r = rec('f', 'mem');
		calls.put(r);
		assert.deepStrictEqual(calls.get(r.key), r);
		assert.deepStrictEqual(calls.list(), [r.key]);
		assert.equal(calls.compact(), false);
		calls.evict(r.key);
		assert.equal(calls.contains(r.key), false);
		assert.deepStrictEqual(calls.toConfig(), { type: 'sql', path: ':memory:' });
	});
});
