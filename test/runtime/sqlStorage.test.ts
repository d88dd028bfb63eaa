// docs/behaviour.md §2.6 "SQL", §11, §12: CallSql method by method, on real files and its real sql.js worker thread, in
// a few seconds (two or three workers in all), so that test/mutation/run.mjs can judge storage/sql/store.ts's mutants
// with it. The slow cases (several processes, SIGKILL, compaction races, damaged files) stay in sql.test and
// sqlTrust.test.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Cache, CallSql, CorruptEntry, KeyError, SaveError, ValueFile, recordKey, type CallRecord, type CallStats } from 'fleche';
import { shrinkKeys } from '../../runtime/src/storage/keys.ts';
import { encodeLine } from '../../runtime/src/storage/sql/log.ts';
import { captureLogs } from '../support/logs.js';
import { pollCeilingMs, waitFor } from '../support/poll.js';
import { edit } from '../support/sqlFiles.js';
import { hexOf } from '../support/sqlRecord.js';
import { openFilesIn, runNode, tmpDir } from '../support/tmp.js';

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

/** Puts 8,000 records into a log that no compaction merged yet (the next one applies every line); returns the count. */
function fillLog(path: string): number {
	const fill = new CallSql({ path, compactBytes: 2 ** 30 });
	const count = 8000;
	for (let i = 0; i < count; i++) fill.put(rec(`f${i % 7}`, `fill ${i}`));
	fill.close();
	return count;
}

/** A compaction ran to its end: nothing of it left beside the store (lock, claim, temporary copy), every record kept. */
function assertCompacted(t: TestContext, path: string, records: number): void {
	const left = fs.readdirSync(dirname(path)).filter((n) => n.endsWith('.lock') || n.endsWith('.compact') || n.endsWith('.tmp'));
	assert.deepStrictEqual(left, [], 'the compaction finished before its worker ended');
	assert.ok(fs.existsSync(path), 'and wrote the snapshot');
	const reader = new CallSql({ path });
	t.after(() => reader.close());
	assert.equal(reader.list().length, records);
}

describe('CallSql, method by method', () => {
	it('an empty store answers every read without a worker or a file', (t) => {
		const dir = tmpDir(t);
		// A read that asked a worker would time out at once and say so (FLECHE_READ_ERROR): none is asked.
		const calls = new CallSql({ path: join(dir, 'sub', 'calls.db'), timeoutMs: 1 });
		t.after(() => calls.close());
		const key = hexOf('none');
		logs.clear();
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
		assert.deepStrictEqual(logs.records, [], 'no worker asked');
		assert.deepStrictEqual(calls.toConfig(), { type: 'sql', path: join(dir, 'sub', 'calls.db') });
		const needsPath = (err: unknown) => err instanceof TypeError && err.message === 'CallSql needs a `path` to the SQLite file';
		assert.throws(() => new CallSql({ path: '' }), needsPath);
		assert.throws(() => new CallSql({} as { path: string }), needsPath);
		assert.throws(() => new CallSql(undefined as unknown as { path: string }), needsPath);
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
		// Another compaction under way (its claim, held by a live process): this one does not run.
		fs.writeFileSync(`${path}.compact`, JSON.stringify({ pid: process.pid, host: hostname(), thread: 0, time: Date.now(), token: 'other' }));
		assert.equal(a.compact(), false, 'another one compacts');
		fs.rmSync(`${path}.compact`);
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
		// A miss of another key asks the worker without writing them: only a held put of that key would change its answer.
		assert.equal(r.find(hexOf('not held')), undefined);
		assert.equal(logSize(dir), second, 'still held');
		// Another instance of this thread asking for that key gets it: the held line is written first.
		assert.deepStrictEqual(r.get(p3!.key), p3);
		const third = logSize(dir);
		assert.ok(third > second);
		w.put(p4!);
		assert.equal(r.list().length, 5, 'any read through a worker writes what is held first');
		w.put({ ...p0!, result: null });
		const fourth = logSize(dir);
		w.close();
		assert.ok(logSize(dir) > fourth, 'close writes what is held (on disk before any read, which would write it too)');
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
		const count = fillLog(path);
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
		assertCompacted(t, path, count + 1);
	});

	it('a worker thread that ends while its store compacts (no close()) lets the compaction finish first', async (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const count = fillLog(path);
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
		assertCompacted(t, path, count + 1);
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

	it('a store whose path lies under a file reads as misses from its first read, with one warning; a put fails', (t) => {
		const dir = tmpDir(t);
		fs.writeFileSync(join(dir, 'file'), 'not a folder');
		const path = join(dir, 'file', 'calls.db');
		const blind = new CallSql({ path });
		t.after(() => blind.close());
		logs.clear();
		const key = rec('f', 'under a file').key;
		assert.equal(blind.find(key), undefined, 'a miss, not the worker\'s "cannot open"');
		assert.throws(
			() => blind.get(key),
			(err: unknown) => KeyError.is(err),
		);
		assert.equal(blind.contains(key), false);
		assert.deepStrictEqual(blind.list(), []);
		assert.deepStrictEqual([...blind.records()], []);
		const warned = logs.codes('FLECHE_READ_ERROR');
		assert.equal(warned.length, 1, 'one warning for the store');
		assert.match(warned[0]!.message, /Cannot open the cache database .*ENOTDIR.*its calls read as misses/);
		assert.throws(
			() => blind.put(rec('f', 'under a file')),
			(err: unknown) => SaveError.is(err) && /ENOTDIR/.test((err as Error).message),
		);
	});

	it('a cache over it shrinks keys by asking its index about each, listing only the value files, as a listing would', (t) => {
		const dir = tmpDir(t);
		const calls = new CallSql({ path: join(dir, 'calls.db') });
		t.after(() => calls.close());
		const cache = new Cache(new ValueFile({ root: join(dir, 'values') }), calls);
		const keys: string[] = [];
		for (let i = 0; i < 300; i++)
			keys.push(cache.save({ name: 'short', module: null, version: null, codeDigest: null, arguments: { i }, result: -i, metadata: {} }));
		calls.flush();
		const all = [...cache.keys()];
		assert.equal(all.length, 900);
		assert.deepEqual(cache.shrink(...keys.slice(0, 50)), shrinkKeys(keys.slice(0, 50), all));
		const value = calls.get(keys[3]!).result!;
		assert.equal(cache.shrink(value), shrinkKeys([value], all)[0]);
		assert.throws(
			() => cache.shrink('f'.repeat(64)),
			(err: unknown) => KeyError.is(err),
		);
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
		// A field over the size cap is refused too (the worker would store it as a row no read returns).
		assert.throws(
			() => calls.put({ ...good, metadata: { tags: { pad: 'x'.repeat(2 ** 20 + 1) } } }),
			(err) => SaveError.is(err) && err.message.includes(`the call record ${good.key}`) && /its metadata\.tags is larger than 1048576 bytes/.test(err.message),
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
		const said = (key: string, why: string) => `Rejected call record ${key} in ${path}: ${why}; treated as a miss (a recompute replaces it)`;
		assert.equal(logs.records[0]!.message, said(r2.key, 'not signed, but a secret key is configured'));
		assert.equal(logs.records[2]!.message, said(r1.key, 'its signature does not match any configured secret key (tampered, or signed with another key)'));
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
		assert.throws(
			() => reader.evict(r1.key),
			(err) => SaveError.is(err) && err.message.startsWith(`Cannot write the removal of ${r1.key} to the cache database ${path}: `),
		);
		assert.throws(
			() => reader.addStats([stats(r1, 1, null)]),
			(err) => SaveError.is(err) && err.message.startsWith(`Cannot write cache statistics to the cache database ${path}: `),
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
		// The key scheme a record names is stored with it (the record as read back is the one checked at the put).
		const schemed = { ...rec('f', 'mem scheme'), scheme: 'fleche.call/1' };
		calls.put(schemed);
		assert.deepStrictEqual(calls.get(schemed.key), schemed);
	});

	it('a remembered record is forgotten when the log holds a line of another kind, is cut short, removed or replaced', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const log = `${path}.log`;
		const a = new CallSql({ path, writeDelayMs: 0 });
		t.after(() => a.close());
		const [r1, r2, r3, r4] = [rec('f', 'forgotten 1'), rec('f', 'forgotten 2'), rec('f', 'forgotten 3'), rec('f', 'forgotten 4')];
		a.put(r1);
		assert.deepStrictEqual(a.get(r1.key), r1);
		// A line of no kind this instance scans for (a `clear`): anything may have changed.
		fs.appendFileSync(log, encodeLine(['clear']));
		assert.equal(a.find(r1.key), undefined, 'cleared');
		a.put(r2);
		a.put(r3);
		assert.deepStrictEqual(a.get(r2.key), r2);
		// A statistics line after it changes no record.
		fs.appendFileSync(log, encodeLine(['stats', []]));
		assert.deepStrictEqual(a.get(r2.key), r2);
		// The worker has taken both records from the log too (a listing applies every line).
		assert.equal(a.records().length, 2);
		// The log cut back to before the records: they are not in it any more, for this thread nor for its worker.
		const header = fs.readFileSync(log, 'latin1').split('\n')[0]!;
		fs.truncateSync(log, Buffer.byteLength(header, 'latin1') + 1);
		assert.equal(a.find(r2.key), undefined, 'cut short');
		assert.equal(a.contains(r3.key), false);
		// Removed, then written afresh by another instance: the records of the old log are gone.
		a.put(r4);
		assert.deepStrictEqual(a.get(r4.key), r4);
		fs.rmSync(log);
		assert.equal(a.find(r4.key), undefined, 'removed');
		const b = new CallSql({ path, writeDelayMs: 0 });
		t.after(() => b.close());
		a.put(r4);
		fs.rmSync(log);
		b.put(r1);
		assert.equal(a.find(r4.key), undefined, 'replaced');
		assert.deepStrictEqual(a.get(r1.key), r1);
		const log2 = `${path}.log`;
		assert.ok(fs.existsSync(log2));
	});

	it("a remembered record follows a compaction's continued log: a line written there after it replaces it", (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const a = new CallSql({ path, writeDelayMs: 0 });
		const b = new CallSql({ path, writeDelayMs: 0 });
		t.after(() => (a.close(), b.close()));
		const r = rec('f', 'continued');
		a.put(r);
		assert.deepStrictEqual(a.get(r.key), r);
		// The other instance compacts twice (the first continued log keeps the lines it merged, the second drops them:
		// its header's `skip`), then replaces the record in the continued log: the first instance, which followed the
		// first continued log, reads on from the same point in the second.
		assert.equal(b.compact(), true);
		assert.deepStrictEqual(a.get(r.key), r);
		assert.equal(b.compact(), true);
		const replaced = { ...r, result: hexOf('continued, replaced') };
		b.put(replaced);
		assert.deepStrictEqual(a.get(r.key), replaced);
	});

	it('a record that fails its checks (a log line from elsewhere) is rejected and reported, by get, records and page', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const good = rec('f', 'good', { timestop: 1 });
		const w = new CallSql({ path, writeDelayMs: 0 });
		const r = new CallSql({ path });
		t.after(() => (w.close(), r.close()));
		w.put(good);
		// A well-formed line whose record's key is not the lookup key of its fields.
		const bad = { ...rec('f', 'bad', { timestop: 2 }), key: hexOf('not its key') };
		fs.appendFileSync(`${path}.log`, encodeLine(['put', bad]));
		logs.clear();
		assert.throws(
			() => r.get(bad.key),
			(err) => KeyError.is(err) && err.message.includes(`The call record ${bad.key} in ${path} was rejected: `),
		);
		assert.throws(
			() => r.find(bad.key),
			(err) => KeyError.is(err) && CorruptEntry.is(err.cause) && err.cause.key === bad.key,
		);
		assert.deepStrictEqual(r.records(), [good]);
		assert.deepStrictEqual(r.page({ module: 'm.js', name: 'f' }, 0, 10), { total: 2, records: [good], stats: [] });
		const corrupt = logs.codes('FLECHE_CORRUPT_ENTRY');
		assert.equal(corrupt.length, 4);
		for (const l of corrupt) assert.ok(l.message.startsWith(`Corrupt call record ${bad.key} in ${path}: `), l.message);
		assert.equal(logs.records.length, 4);
		logs.clear();
	});

	it('a row of the SQLite file whose JSON is broken is rejected as not valid JSON by get and records, each time naming its key', async (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const w = new CallSql({ path, writeDelayMs: 0 });
		const [good, broken] = [rec('f', 'json good'), rec('f', 'json broken')];
		w.put(good);
		w.put(broken);
		assert.equal(w.compact(), true);
		w.close();
		// The version column is written into the record's JSON as it is.
		await edit(path, (d) => d.run('UPDATE calls SET version = \'1,"result":\' WHERE key = ?', [broken.key]));
		const r = new CallSql({ path });
		t.after(() => r.close());
		logs.clear();
		assert.throws(
			() => r.get(broken.key),
			(err) => KeyError.is(err) && err.message.includes(`The call record ${broken.key} in ${path} was rejected: not valid JSON (`),
		);
		assert.deepStrictEqual(r.records(), [good]);
		assert.deepStrictEqual(
			logs.records.map((l) => [l.code, l.message.slice(0, l.message.indexOf(': '))]),
			[
				['FLECHE_CORRUPT_ENTRY', `Corrupt call record ${broken.key} in ${path}`],
				['FLECHE_CORRUPT_ENTRY', `Corrupt call record ${broken.key} in ${path}`],
			],
		);
		logs.clear();
	});

	it('functions() leaves out what a damaged SQLite file lists: names or modules not text, versions no record can have', async (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const w = new CallSql({ path, writeDelayMs: 0 });
		const kept = rec('kept', '1');
		const statsOnly = rec('stats only', '1');
		w.put(kept);
		w.addStats([stats(kept, 1, 5), stats(statsOnly, 2, 6)]);
		assert.equal(w.compact(), true);
		w.close();
		await edit(path, (d) => {
			// Versions as the tables hold them (JSON text): a boolean, a number past a double, a missing one (NULL).
			d.run("INSERT INTO function_calls VALUES ('v1', 'm.js', 'kept', 'true', 1), ('v2', 'm.js', 'kept', '1e999', 1), ('v3', 'm.js', 'kept', NULL, 1)");
			// A name or module that is not text (a blob), in either table.
			d.run("INSERT INTO function_calls VALUES ('b1', 'm.js', X'00', '1', 1), ('b2', X'01', 'blob module', '1', 1)");
			d.run("INSERT INTO function_stats VALUES ('b3', 'm.js', X'02', 1, 1, NULL, 1, 1), ('b4', X'03', 'blob module', 1, 1, NULL, 1, 1)");
			d.run("UPDATE function_stats SET compute_seconds = 1e999 WHERE name = 'kept'");
		});
		const r = new CallSql({ path });
		t.after(() => r.close());
		const listed = r.functions().sort((a, b) => a.name.localeCompare(b.name));
		assert.deepStrictEqual(
			listed.map((f) => ({ ...f, versions: [...f.versions].sort() })),
			[
				{ module: 'm.js', name: 'kept', calls: 4, versions: [1, null], hits: 1, misses: 1, lastHit: 5, computeSeconds: 0, savedSeconds: 2 },
				{ module: 'm.js', name: 'stats only', calls: 0, versions: [], hits: 2, misses: 1, lastHit: 6, computeSeconds: 2, savedSeconds: 4 },
			],
		);
	});

	it('capacityBytes: a positive number; past it the store says so once, at the write that takes it past, or when opened', (t) => {
		const dir = tmpDir(t);
		for (const bad of [0, -1, Number.NaN, '2048']) {
			assert.throws(
				() => new CallSql({ path: join(dir, 'x.db'), capacityBytes: bad as number }),
				(err) => err instanceof RangeError && err.message === `CallSql capacityBytes must be a positive number of bytes, not ${String(bad)}`,
				String(bad),
			);
		}
		// The log after one put, measured in one store, is the capacity of another: full, not past it.
		const first = rec('f', 'capacity 0');
		const measure = new CallSql({ path: join(dir, 'measure', 'calls.db'), writeDelayMs: 0 });
		t.after(() => measure.close());
		measure.put(first);
		const capacityBytes = logSize(join(dir, 'measure'));
		const path = join(dir, 'full', 'calls.db');
		const store = new CallSql({ path, writeDelayMs: 0, capacityBytes });
		t.after(() => store.close());
		logs.clear();
		store.put(first);
		assert.equal(logSize(join(dir, 'full')), capacityBytes);
		assert.equal(logs.records.length, 0, 'at its capacity, not past it');
		store.put(rec('f', 'capacity 1'));
		const bytes = logSize(join(dir, 'full'));
		const kib = (n: number) => (Number.isInteger(n / 1024) ? `${n / 1024}` : (n / 1024).toFixed(1));
		assert.deepStrictEqual(
			logs.records.map((l) => [l.code, l.message]),
			[
				[
					'FLECHE_LARGE_STORE',
					`${path} holds ${bytes >= 1024 ? `${kib(bytes)} KiB` : `${bytes} bytes`} (with its log): the SQL store (SQLite in WebAssembly, one worker per process that applies and compacts alone) is built for up to ${capacityBytes >= 1024 ? `${kib(capacityBytes)} KiB` : `${capacityBytes} bytes`}; it goes on storing and answering, but each compaction rewrites the whole file and every process pays for it. Use the PostgreSQL store (template = "postgres") for a store this large`,
				],
			],
		);
		store.put(rec('f', 'capacity 2'));
		assert.deepStrictEqual(store.get(first.key), first);
		assert.equal(logs.records.length, 1, 'once');
		logs.clear();

		// Opened: a database file of 1.25 GiB (sparse) for a store built for less, said before the first read.
		for (const [capacity, text] of [
			[1.5 * 2 ** 20, 'up to 1.5 MiB'],
			[1024, 'up to 1 KiB'],
			[1000, 'up to 1000 bytes'],
		] as const) {
			const big = join(dir, `big ${capacity}`);
			fs.mkdirSync(big);
			fs.writeFileSync(join(big, 'calls.db'), '');
			fs.truncateSync(join(big, 'calls.db'), 1.25 * 2 ** 30);
			const opened = new CallSql({ path: join(big, 'calls.db'), capacityBytes: capacity });
			t.after(() => opened.close());
			opened.find(first.key);
			const said = logs.codes('FLECHE_LARGE_STORE');
			assert.equal(said.length, 1, text);
			assert.ok(said[0]!.message.startsWith(`${join(big, 'calls.db')} holds 1.3 GiB (with its log)`), said[0]!.message);
			assert.ok(said[0]!.message.includes(`is built for ${text};`), said[0]!.message);
			logs.clear();
		}
	});

	it('held puts: written together once writeDelayMs has passed at the next put, or by the timer with no call at all', async (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const w = new CallSql({ path, writeDelayMs: 200 });
		const r = new CallSql({ path });
		t.after(() => (w.close(), r.close()));
		const [p0, p1, p2, p3] = [rec('f', 'timed 0'), rec('f', 'timed 1'), rec('f', 'timed 2'), rec('f', 'timed 3')];
		w.put(p0);
		const first = logSize(dir);
		w.put(p1);
		assert.equal(logSize(dir), first, 'held');
		// The thread busy past the delay (the timer cannot run): the next put writes both.
		const since = performance.now();
		while (performance.now() - since < 250);
		w.put(p2);
		const second = logSize(dir);
		const text = fs.readFileSync(`${path}.log`, 'latin1');
		assert.ok(text.includes(p1.key) && text.includes(p2.key), 'both written at the put after the delay');
		assert.ok(text.indexOf(p1.key) < text.indexOf(p2.key), 'in the order they were made');
		w.put(p3);
		await waitFor('the timer to write the held put', () => logSize(dir) > second);
		assert.deepStrictEqual(r.list().sort(), [p0, p1, p2, p3].map((p) => p.key).sort());
	});

	it('a writer compacts: started by a write past compactBytes, told by a write or by its next read after reading first', async (t) => {
		const dir = tmpDir(t);
		// Read first (its worker starts as a reader), then a write past compactBytes tells it.
		const readFirst = join(dir, 'b.db');
		const seed = new CallSql({ path: readFirst, writeDelayMs: 0 });
		const b = new CallSql({ path: readFirst, writeDelayMs: 0, compactBytes: 1 });
		t.after(() => (seed.close(), b.close()));
		const s = rec('f', 'seed');
		seed.put(s);
		assert.deepStrictEqual(b.get(s.key), s);
		assert.equal(fs.existsSync(readFirst), false, 'a reader does not compact');
		b.put(rec('f', 'b'));
		await waitFor('the compaction once the reader wrote past compactBytes', () => fs.existsSync(readFirst));

		// Read first, write a little, read again: that read tells the worker, which compacts the idle log.
		const idle = join(dir, 'c.db');
		const seed2 = new CallSql({ path: idle, writeDelayMs: 0 });
		const c = new CallSql({ path: idle, writeDelayMs: 0, idleCompactMs: 50 });
		t.after(() => (seed2.close(), c.close()));
		seed2.put(s);
		assert.deepStrictEqual(c.get(s.key), s);
		c.put(rec('f', 'c'));
		assert.equal(c.list().length, 2);
		await waitFor('the idle compaction once the reader wrote', () => fs.existsSync(idle));

		// Only writes, past compactBytes: its worker starts in the background and compacts.
		const onlyWrites = join(dir, 'a.db');
		const a = new CallSql({ path: onlyWrites, writeDelayMs: 0, compactBytes: 1 });
		t.after(() => a.close());
		a.put(rec('f', 'a'));
		await waitFor('the compaction of a store that was only written', () => fs.existsSync(onlyWrites));
	});

	it('afterWrite runs at once with nothing held, else once the held puts are written, even when that write fails', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const w = new CallSql({ path, writeDelayMs: 60_000 });
		t.after(() => w.close());
		const ran: string[] = [];
		w.afterWrite(() => ran.push('idle'));
		assert.deepStrictEqual(ran, ['idle']);
		const [p0, p1, p2] = [rec('f', 'after 0'), rec('f', 'after 1'), rec('f', 'after 2')];
		w.put(p0);
		w.put(p1);
		w.afterWrite(() => ran.push('held'));
		assert.deepStrictEqual(ran, ['idle']);
		w.flush();
		assert.deepStrictEqual(ran, ['idle', 'held']);
		// The held put's write fails (the log gone and the snapshot another application's): what waited runs anyway.
		w.put(p2);
		w.afterWrite(() => ran.push('failed'));
		fs.rmSync(`${path}.log`);
		const foreign = Buffer.alloc(100);
		foreign.write('SQLite format 3\0', 0, 'latin1');
		foreign.writeUInt32BE(0x12345678, 68);
		fs.writeFileSync(path, foreign);
		assert.throws(
			() => w.flush(),
			(err) => SaveError.is(err) && err.message.startsWith(`Cannot write 1 call records to the cache database ${path}: `),
		);
		assert.deepStrictEqual(ran, ['idle', 'held', 'failed']);
		fs.rmSync(path);
		w.afterWrite(() => ran.push('none held'));
		assert.deepStrictEqual(ran, ['idle', 'held', 'failed', 'none held']);
	});

	it('10,000 held puts are written at once, without waiting for writeDelayMs', (t) => {
		const dir = tmpDir(t);
		const w = new CallSql({ path: join(dir, 'calls.db'), writeDelayMs: 600_000 });
		t.after(() => w.close());
		w.put(rec('f', 'first'));
		const first = logSize(dir);
		const identity = { name: 'many', module: 'm.js', version: 1, codeDigest: null };
		for (let i = 1; i < 10_000; i++) {
			const args = { x: hexOf(`many ${i}`) };
			w.put({ key: recordKey({ ...identity, arguments: args }), ...identity, arguments: args, result: null, metadata: {} });
		}
		assert.equal(logSize(dir), first, '9,999 held');
		const args = { x: hexOf('many 10000') };
		w.put({ key: recordKey({ ...identity, arguments: args }), ...identity, arguments: args, result: null, metadata: {} });
		assert.ok(logSize(dir) > first, 'the 10,000th writes them');
	});

	it('a torn line at the end of the log (a writer killed mid-append) does not swallow the next put', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const w = new CallSql({ path, writeDelayMs: 0 });
		const r = new CallSql({ path });
		t.after(() => (w.close(), r.close()));
		const [r1, r2] = [rec('f', 'before the tear'), rec('f', 'after the tear')];
		w.put(r1);
		fs.appendFileSync(`${path}.log`, '0123abcd ["put",{"key":"');
		w.put(r2);
		assert.deepStrictEqual(r.get(r2.key), r2);
		assert.deepStrictEqual(r.get(r1.key), r1);
		logs.clear();
	});

	it('a writer keeps one descriptor on the log, closed when the log is replaced and at close()', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const w = new CallSql({ path, writeDelayMs: 0 });
		w.put(rec('f', 'fd 1'));
		assert.deepStrictEqual(openFilesIn(dir), [`${path}.log`]);
		fs.rmSync(`${path}.log`);
		w.put(rec('f', 'fd 2'));
		assert.deepStrictEqual(openFilesIn(dir), [`${path}.log`], 'the removed log closed');
		// Replaced by another writer's new log: the next write goes to that one, not to the removed file still open.
		fs.rmSync(`${path}.log`);
		const other = new CallSql({ path, writeDelayMs: 0 });
		other.put(rec('f', 'fd other'));
		const third = rec('f', 'fd 3');
		w.put(third);
		assert.deepStrictEqual(
			openFilesIn(dir).filter((f) => f.endsWith('(deleted)')),
			[],
		);
		other.close();
		w.close();
		assert.deepStrictEqual(openFilesIn(dir), []);
		const reader = new CallSql({ path });
		t.after(() => reader.close());
		assert.deepStrictEqual(reader.get(third.key), third);
	});

	it('a write makes the folders of the database; one that cannot take the lock (a file where a folder goes) is a SaveError', (t) => {
		const dir = tmpDir(t);
		const deep = new CallSql({ path: join(dir, 'a', 'b', 'calls.db'), writeDelayMs: 0 });
		t.after(() => deep.close());
		const r = rec('f', 'deep');
		deep.put(r);
		assert.ok(fs.existsSync(join(dir, 'a', 'b', 'calls.db.log')));
		fs.writeFileSync(join(dir, 'file'), '');
		const under = new CallSql({ path: join(dir, 'file', 'calls.db'), writeDelayMs: 0 });
		t.after(() => under.close());
		assert.throws(
			() => under.put(r),
			(err) => SaveError.is(err) && err.message.startsWith(`Cannot write the call record ${r.key} to the cache database ${join(dir, 'file', 'calls.db')}: `),
		);
	});

	it('a record this instance wrote and no longer remembers (knownRecords) is found, not taken as absent from the filter', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const a = new CallSql({ path, writeDelayMs: 0, knownRecords: 1 });
		t.after(() => a.close());
		const [seed, r1, r2] = [rec('f', 'known 0'), rec('f', 'known 1'), rec('f', 'known 2')];
		a.put(seed);
		// A miss through the worker: from now on this instance holds the worker's key-presence filter.
		assert.equal(a.find(hexOf('never stored')), undefined);
		a.put(r1);
		a.put(r2);
		assert.deepStrictEqual(a.get(r1.key), r1);
		assert.equal(a.contains(r2.key), true);
		assert.deepStrictEqual(a.get(seed.key), seed);
		assert.equal(a.find(hexOf('never stored either')), undefined);
	});

	it('remembered records answer without the worker, the oldest forgotten past knownRecords', (t) => {
		// A worker that cannot answer (timeoutMs: 1) tells what is answered from memory from what is asked of it.
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const w = new CallSql({ path, writeDelayMs: 0, timeoutMs: 1, knownRecords: 2 });
		t.after(() => w.close());
		const [r1, r2, r3] = [rec('f', 'cap 1'), rec('f', 'cap 2'), rec('f', 'cap 3')];
		w.put(r1);
		w.put(r2);
		w.put(r3);
		logs.clear();
		assert.equal(w.contains(r3.key), true);
		assert.deepStrictEqual(w.get(r2.key), r2);
		assert.deepStrictEqual(w.find(r3.key), r3);
		assert.equal(logs.records.length, 0, 'remembered: no worker asked');
		assert.equal(w.find(r1.key), undefined, 'the oldest is forgotten: asked of the worker, which does not answer');
		assert.deepStrictEqual(
			logs.records.map((l) => l.code),
			['FLECHE_READ_ERROR'],
		);
		logs.clear();
	});

	it("a miss is answered from the worker's key-presence filter only for keys no log line since names", (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const a = new CallSql({ path, writeDelayMs: 0 });
		const b = new CallSql({ path, writeDelayMs: 0 });
		t.after(() => (a.close(), b.close()));
		const seed = rec('f', 'presence seed');
		b.put(seed);
		// A miss through the worker: from now on `a` holds its filter, complete up to the log's end.
		assert.equal(a.find(hexOf('presence never')), undefined);
		// Written after that point: the filter lacks it, the line names it.
		const later = rec('f', 'presence later');
		b.put(later);
		assert.deepStrictEqual(a.get(later.key), later);
		// The log removed (its lines compacted into the snapshot): nothing tracked, the snapshot answers.
		assert.equal(b.compact(), true);
		fs.rmSync(`${path}.log`);
		assert.deepStrictEqual(a.get(seed.key), seed);
		assert.equal(a.find(hexOf('presence never either')), undefined);
	});

	it('a worker that does not answer within timeoutMs makes reads misses, with one warning', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const w = new CallSql({ path, writeDelayMs: 0 });
		const r1 = rec('f', 'timed out');
		w.put(r1);
		w.close();
		const slow = new CallSql({ path, timeoutMs: 1 });
		t.after(() => slow.close());
		logs.clear();
		assert.equal(slow.contains('nope'), false);
		assert.equal(logs.records.length, 0, 'what is not a key is not asked of the worker');
		assert.equal(slow.find(r1.key), undefined);
		assert.equal(slow.contains(r1.key), false);
		assert.deepStrictEqual(slow.records(), []);
		assert.deepStrictEqual(slow.list(), []);
		assert.deepStrictEqual(slow.functions(), []);
		assert.deepStrictEqual(slow.page({ module: 'm.js', name: 'f' }, 0, 5), { total: 0, records: [], stats: [] });
		assert.deepStrictEqual(slow.stats(), []);
		assert.deepStrictEqual(
			logs.records.map((l) => l.code),
			['FLECHE_READ_ERROR'],
		);
		assert.ok(logs.records[0]!.message.startsWith(`Cannot read the cache database ${path}: `), logs.records[0]!.message);
		assert.ok(logs.records[0]!.cause instanceof Error, 'with the worker failure as its cause');
		logs.clear();
	});

	it('a held put whose timed write fails is a warning (nobody is left to catch it), and held for the next write', async (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const w = new CallSql({ path, writeDelayMs: 100 });
		t.after(() => w.close());
		w.put(rec('f', 'timer 0'));
		const held = rec('f', 'timer 1');
		w.put(held);
		fs.rmSync(`${path}.log`);
		const foreign = Buffer.alloc(100);
		foreign.write('SQLite format 3\0', 0, 'latin1');
		foreign.writeUInt32BE(0x12345678, 68);
		fs.writeFileSync(path, foreign);
		logs.clear();
		await waitFor('the timer to try the held put', () => logs.records.length > 0);
		assert.deepStrictEqual(
			logs.records.map((l) => l.code),
			['FLECHE_SAVE_FAILED'],
		);
		const [said] = logs.records;
		assert.ok(said!.message.startsWith(`Cannot write 1 call records to the cache database ${path}: `), said!.message);
		assert.ok(said!.message.endsWith('; they are held and written with the next write'), said!.message);
		assert.ok(SaveError.is(said!.cause));
		logs.clear();
		fs.rmSync(path);
		w.flush();
		const reader = new CallSql({ path });
		t.after(() => reader.close());
		assert.deepStrictEqual(reader.get(held.key), held, 'written once the store could take it');
	});

	it('puts held when the process ends are written as it exits', async (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const records = [rec('f', 'exit 0'), rec('f', 'exit 1'), rec('f', 'exit 2')];
		const script = join(dir, 'writer.mjs');
		fs.writeFileSync(
			script,
			`const { CallSql } = await import(${JSON.stringify(import.meta.resolve('fleche'))});
const w = new CallSql({ path: process.argv[2], writeDelayMs: 600000 });
for (const r of JSON.parse(process.argv[3])) w.put(r);
`,
		);
		const run = await runNode(script, [path, JSON.stringify(records)]);
		assert.equal(run.code, 0, run.stderr);
		const r = new CallSql({ path });
		t.after(() => r.close());
		assert.deepStrictEqual(r.list().sort(), records.map((x) => x.key).sort());
	});
});
