// docs/behaviour.md §2.6 "SQL": CallSql on real files, real child processes and real worker threads.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createRequire } from 'node:module';
import initSqlJs from 'sql.js';
import {
	AmbiguousDigestError,
	Cache,
	CallSql,
	KeyError,
	SaveError,
	ValueFile,
	cache,
	cacheFromConfig,
	fleche,
	recordKey,
	type CallRecord,
	type CallStats,
} from 'fleche';
import { openStore } from 'fleche/inspect';
import { captureLogs } from '../support/logs.js';
import { hexOf, writerRecord } from '../support/sqlRecord.js';
import { waitFor } from '../support/poll.js';
import { runNode, tmpDir } from '../support/tmp.js';

const writer = fileURLToPath(new URL('../fixtures/sqlWriter.js', import.meta.url));
const logs = captureLogs();
const isKeyError = (err: unknown): boolean => KeyError.is(err);

function open(dir: string, options: { compactBytes?: number; idleCompactMs?: number } = {}): CallSql {
	return new CallSql({ path: join(dir, 'calls.db'), ...options });
}

function makeRecord(name = 'add', args: Record<string, string> = { a: hexOf('1'), b: hexOf('2') }, result: string | null = hexOf('3')): CallRecord {
	const identity = { name, module: 'src/math.js', version: '1.2', codeDigest: hexOf('code') };
	return { key: recordKey({ ...identity, arguments: args }), ...identity, arguments: args, result, metadata: { runtime: { walltime: 0.5 }, tags: { project: 'alpha' } } };
}

/** Opens the SQLite file alone with a plain sql.js, as another tool would, and counts its calls. */
async function countInSnapshot(db: string): Promise<number> {
	const SQL = await initSqlJs();
	const d = new SQL.Database(fs.readFileSync(db));
	try {
		assert.equal(d.exec('PRAGMA quick_check')[0]?.values[0]?.[0], 'ok');
		assert.notEqual(d.exec('PRAGMA journal_mode')[0]?.values[0]?.[0], 'wal');
		return Number(d.exec('SELECT count(*) FROM calls')[0]?.values[0]?.[0]);
	} finally {
		d.close();
	}
}

/**
 * What a store's files hold, read without fleche (a plain sql.js and the log's text): the files and their sizes, the
 * log's header, its lines, the snapshot's generation and calls. Printed when a count is wrong, to tell a store that
 * lost lines from a reader that misread it.
 */
async function describeStore(dir: string): Promise<string> {
	const out: string[] = [];
	for (const name of fs.readdirSync(dir)) out.push(`${name} ${fs.statSync(join(dir, name)).size} B`);
	const log = join(dir, 'calls.db.log');
	if (fs.existsSync(log)) {
		const lines = fs.readFileSync(log, 'utf8').split('\n');
		out.push(`log header ${lines[0]?.slice(0, 400)}; ${lines.filter((l) => l.includes('"put"')).length} put lines`);
	}
	const db = join(dir, 'calls.db');
	if (fs.existsSync(db)) {
		const SQL = await initSqlJs();
		const d = new SQL.Database(fs.readFileSync(db));
		try {
			out.push(`snapshot generation ${String(d.exec('PRAGMA user_version')[0]?.values[0]?.[0])}, ${String(d.exec('SELECT count(*) FROM calls')[0]?.values[0]?.[0])} calls`);
		} catch (err) {
			out.push(`snapshot unreadable: ${String(err)}`);
		} finally {
			d.close();
		}
	}
	return out.join('\n');
}

/** Which of the writers' labels (`<id>/<i>`) are missing from `keys`, as ranges per writer. */
function missingLabels(keys: ReadonlySet<string>, ids: readonly string[], count: number): string {
	const out: string[] = [];
	for (const id of ids) {
		const gone = [];
		for (let i = 0; i < count; i++) if (!keys.has(writerRecord(`${id}/${i}`).key)) gone.push(i);
		if (gone.length > 0) out.push(`${id}: ${gone.length} missing, ${gone.slice(0, 12).join(',')}${gone.length > 12 ? ` … ${gone.at(-1)}` : ''}`);
	}
	return out.join('; ');
}

describe('CallSql storage', () => {
	it('round-trips records with every field, replaces on put, and keeps the async flag', (t) => {
		const calls = open(tmpDir(t));
		t.after(() => calls.close());
		const record = makeRecord();
		calls.put(record);
		assert.deepStrictEqual(calls.get(record.key), record);
		const updated = { ...record, result: hexOf('other'), metadata: { runtime: { walltime: 2 } } };
		calls.put(updated);
		assert.deepStrictEqual(calls.get(record.key), updated);
		const later = { ...makeRecord('later'), async: true };
		calls.put(later);
		assert.equal(calls.get(later.key).async, true);
		const pending = makeRecord('pending', { a: hexOf('p') }, null);
		calls.put(pending);
		assert.equal(calls.get(pending.key).result, null);
		assert.equal(calls.list().length, 3);
	});

	it('lists, filters by name, expands prefixes, evicts', (t) => {
		const calls = open(tmpDir(t));
		t.after(() => calls.close());
		const add = makeRecord('add');
		const add2 = makeRecord('add', { a: hexOf('5'), b: hexOf('6') });
		const mul = makeRecord('mul');
		for (const r of [add, add2, mul]) calls.put(r);
		assert.deepStrictEqual(calls.list().sort(), [add.key, add2.key, mul.key].sort());
		assert.deepStrictEqual(calls.records({ name: 'add' }).map((r) => r.key).sort(), [add.key, add2.key].sort());
		assert.equal(calls.records().length, 3);
		assert.deepStrictEqual(calls.records({ name: 'none' }), []);
		assert.equal(calls.expand(mul.key.slice(0, 12)), mul.key);
		assert.equal(calls.expand(mul.key), mul.key);
		assert.throws(() => calls.expand('abc'), isKeyError);
		assert.equal(calls.contains(mul.key), true);
		calls.evict(mul.key);
		assert.equal(calls.contains(mul.key), false);
		assert.throws(() => calls.get(mul.key), isKeyError);
		assert.throws(() => calls.evict(mul.key), isKeyError);
		assert.equal(calls.evictMany([add.key, add2.key, mul.key]), 2);
		assert.deepStrictEqual(calls.list(), []);
	});

	it('reports an ambiguous prefix like the other storages', (t) => {
		const calls = open(tmpDir(t));
		t.after(() => calls.close());
		// Among 1,000 keys some two share their first 4 hex digits (birthday bound over 65,536 prefixes).
		const byPrefix = new Map<string, CallRecord[]>();
		for (let i = 0; i < 1000; i++) {
			const r = makeRecord('f', { a: hexOf(String(i)) });
			byPrefix.set(r.key.slice(0, 4), [...(byPrefix.get(r.key.slice(0, 4)) ?? []), r]);
		}
		const records = [...byPrefix.values()].find((group) => group.length > 1)!;
		for (const r of records) calls.put(r);
		assert.throws(() => calls.expand(records[0]!.key.slice(0, 4)), (err) => AmbiguousDigestError.is(err));
	});

	it('rejects invalid keys and records whose key does not match their fields', (t) => {
		const dir = tmpDir(t);
		const calls = open(dir);
		t.after(() => calls.close());
		for (const bad of ['../x', '', 'abc', hexOf('x').toUpperCase(), `${hexOf('x')}0`]) {
			assert.throws(() => calls.get(bad), isKeyError, `get ${bad}`);
			assert.throws(() => calls.evict(bad), isKeyError, `evict ${bad}`);
			assert.throws(() => calls.put({ ...makeRecord(), key: bad }), isKeyError, `put ${bad}`);
			assert.equal(calls.contains(bad), false);
		}
		assert.throws(() => calls.put({ ...makeRecord(), key: hexOf('wrong') }), (err) => SaveError.is(err));
		assert.throws(() => calls.put(makeRecord('f', { a: 'not-a-digest' })), (err) => SaveError.is(err));
		assert.deepStrictEqual(fs.readdirSync(dir), [], 'nothing written, no worker needed');
	});

	it('sums statistics deltas from several instances and filters them', (t) => {
		const dir = tmpDir(t);
		const a = open(dir);
		const b = open(dir);
		t.after(() => (a.close(), b.close()));
		const r = makeRecord();
		const delta = (hits: number, lastHit: number | null): CallStats => ({ key: r.key, name: r.name, module: r.module, hits, misses: 1, lastHit, computeSeconds: 0.5, savedSeconds: hits * 0.5 });
		a.addStats([delta(2, 100)]);
		b.addStats([delta(3, 50)]);
		const [s] = b.stats({ name: 'add' });
		assert.deepStrictEqual(s, { key: r.key, name: 'add', module: 'src/math.js', hits: 5, misses: 2, lastHit: 100, computeSeconds: 1, savedSeconds: 2.5 });
		assert.deepStrictEqual(a.stats({ name: 'other' }), []);
		assert.deepStrictEqual(a.stats({ module: null }), []);
		a.compact();
		assert.equal(open(dir).stats()[0]?.hits, 5, 'statistics survive compaction, counted once');
	});

	it('compacts into a complete SQLite file that plain sql.js reads, and keeps working across compactions', async (t) => {
		const dir = tmpDir(t);
		const calls = open(dir);
		const other = open(dir);
		t.after(() => (calls.close(), other.close()));
		for (let i = 0; i < 50; i++) calls.put(writerRecord(`a${i}`));
		assert.equal(other.list().length, 50);
		assert.equal(calls.compact(), true);
		for (let i = 0; i < 30; i++) calls.put(writerRecord(`b${i}`));
		assert.equal(other.list().length, 80, 'a reader follows the continued log without losing lines');
		assert.equal(await countInSnapshot(join(dir, 'calls.db')), 50);
		assert.equal(other.compact(), true);
		assert.equal(await countInSnapshot(join(dir, 'calls.db')), 80);
		assert.equal(open(dir).list().length, 80);
		assert.deepStrictEqual(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
	});

	it('the first call of a sync cached function works with no init step, then hits', (t) => {
		const dir = tmpDir(t);
		const store = new Cache(new ValueFile({ root: join(dir, 'values') }), open(dir));
		let runs = 0;
		const double = fleche(function double(n: number) {
			runs++;
			return n * 2;
		});
		assert.equal(cache(store, () => double(21)), 42);
		assert.equal(cache(store, () => double(21)), 42);
		assert.equal(runs, 1);
		const fresh = new Cache(new ValueFile({ root: join(dir, 'values') }), open(dir));
		assert.equal(cache(fresh, () => double(21)), 42);
		assert.equal(runs, 1, 'another instance (another worker) sees the stored call');
	});

	it('is built from config: the sql template puts calls in root/calls.db', (t) => {
		const dir = tmpDir(t);
		const store = cacheFromConfig({ type: 'cache', values: { type: 'file', root: join(dir, 'values') }, calls: { type: 'sql', path: join(dir, 'calls.db') } });
		const r = makeRecord();
		(store as Cache).calls.put(r);
		assert.ok(fs.existsSync(join(dir, 'calls.db.log')));
		assert.deepStrictEqual(open(dir).get(r.key), r);
	});

	it('queries one function among many calls through the name index', (t) => {
		const calls = open(tmpDir(t));
		t.after(() => calls.close());
		for (let i = 0; i < 3000; i++) calls.put(writerRecord(`q${i}`));
		calls.compact();
		// How fast is a bench row (test/bench/sqlBench.ts), not a pass/fail here.
		const found = calls.records({ name: 'fn0' });
		assert.equal(found.length, Array.from({ length: 3000 }, (_, i) => `q${i}`).filter((l) => l.length % 3 === 0).length);
		assert.ok(found.every((r) => r.name === 'fn0'));
	});
});

describe('CallSql write batching and remembered records', () => {
	it('holds puts that follow a write, writes them within writeDelayMs, before reads and at flush', async (t) => {
		const dir = tmpDir(t);
		const log = join(dir, 'calls.db.log');
		const logged = (r: CallRecord): boolean => fs.readFileSync(log, 'utf8').includes(r.key);
		const writer = new CallSql({ path: join(dir, 'calls.db'), writeDelayMs: 300 });
		const reader = open(dir);
		t.after(() => (writer.close(), reader.close()));
		const [first, second, third, fourth] = ['h1', 'h2', 'h3', 'h4'].map(writerRecord) as [CallRecord, CallRecord, CallRecord, CallRecord];
		writer.put(first);
		assert.equal(logged(first), true, 'a put into an idle store is on disk when it returns');
		writer.put(second);
		assert.equal(logged(second), false, 'held');
		assert.deepStrictEqual(writer.get(second.key), second, 'the writer reads its own held put without writing it');
		assert.equal(logged(second), false, 'still held');
		await waitFor('the timer to write the held put', () => logged(second));
		// At least writeDelayMs after that write: the store is idle again (a lower bound, so load cannot break it).
		await new Promise((r) => setTimeout(r, 400));
		writer.put(third);
		assert.equal(logged(third), true, 'idle again: written at once');
		writer.put(fourth);
		assert.equal(logged(fourth), false, 'held');
		assert.equal(reader.contains(fourth.key), true, 'a read through a worker in this thread writes what the thread holds first');
		const fifth = writerRecord('h5');
		writer.put(fifth);
		writer.flush();
		assert.equal(logged(fifth), true, 'written by flush()');
		assert.equal(reader.list().length, 5);
		assert.equal(fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"put"')).length, 5, 'each put once');
	});

	it('saves through fleche(fn) are written together: each call keeps its lease until its put is written, and a waiter then finds it', (t) => {
		const dir = tmpDir(t);
		const log = join(dir, 'calls.db.log');
		const leases = join(dir, 'calls.db.leases');
		const putLines = (): number => fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"put"')).length;
		const leaseFiles = (): string[] => (fs.existsSync(leases) ? fs.readdirSync(leases) : []);
		const calls = new CallSql({ path: join(dir, 'calls.db'), writeDelayMs: 600_000 });
		t.after(() => calls.close());
		let runs = 0;
		const double = fleche(
			(n: number) => {
				runs++;
				return n * 2;
			},
			{ name: 'double', module: 'batch.js' },
		);
		cache(new Cache(new ValueFile({ root: join(dir, 'values') }), calls), () => {
			assert.equal(double(1), 2);
			assert.equal(putLines(), 1, 'a put into an idle store is on disk when its call returns');
			assert.deepStrictEqual(leaseFiles(), [], 'and its lease released');
			for (let n = 2; n <= 5; n++) assert.equal(double(n), 2 * n);
			assert.equal(putLines(), 1, 'the saves that follow are held, not written one by one');
			assert.equal(leaseFiles().length, 4, 'each held save keeps its lease: a waiter would not find the result yet');
			calls.flush();
			assert.equal(putLines(), 5, 'written together');
			assert.deepStrictEqual(leaseFiles(), [], 'every lease released once its put is on disk');
			for (let n = 1; n <= 5; n++) assert.equal(double(n), 2 * n);
		});
		assert.equal(runs, 5, 'the repeated calls were hits');
		// Another process's instance (a waiter woken by the release) reads every result.
		const other = open(dir);
		t.after(() => other.close());
		assert.equal(other.records({ name: 'double' }).length, 5);
	});

	it('a remembered record is forgotten when another instance evicts or replaces it, across compactions', (t) => {
		const dir = tmpDir(t);
		const a = open(dir);
		const b = open(dir);
		t.after(() => (a.close(), b.close()));
		const r = makeRecord();
		a.put(r);
		assert.deepStrictEqual(a.get(r.key), r);
		b.evict(r.key);
		assert.throws(() => a.get(r.key), isKeyError, 'an evict line makes it forget the record');
		assert.equal(a.contains(r.key), false);
		b.put(r);
		assert.deepStrictEqual(a.get(r.key), r, 'read back through the worker, then remembered');
		const updated = { ...r, metadata: { runtime: { walltime: 9 } } };
		b.put(updated);
		b.flush();
		assert.deepStrictEqual(a.get(r.key), updated, 'a put line of its key makes it forget the old one');
		for (let i = 0; i < 20; i++) a.put(writerRecord(`c${i}`));
		assert.equal(b.compact(), true);
		b.evict(writerRecord('c3').key);
		assert.equal(a.contains(writerRecord('c3').key), false, 'followed into the continued log');
		assert.equal(a.contains(writerRecord('c4').key), true);
		fs.rmSync(join(dir, 'calls.db.log'));
		fs.rmSync(join(dir, 'calls.db'));
		assert.equal(a.contains(writerRecord('c4').key), false, 'a removed store forgets everything');
	});
});

describe('CallSql across processes and threads', () => {
	it('loses no record with 4 processes × 2 worker threads × 500 calls, compacting meanwhile', async (t) => {
		const dir = tmpDir(t);
		const db = join(dir, 'calls.db');
		const runs = await Promise.all([0, 1, 2, 3].map((p) => runNode(writer, [db, `p${p}`, '500', '2', '65536'], { timeoutMs: 120_000 })));
		for (const run of runs) assert.equal(run.code, 0, run.stderr);
		const calls = open(dir);
		t.after(() => calls.close());
		const keys = new Set(calls.list());
		if (keys.size !== 4000) {
			// Seen once in CI (3,603 of 4,000, every writer exiting 0): say everything that tells where they went.
			const ids = [0, 1, 2, 3].flatMap((p) => [`p${p}.0`, `p${p}.1`]);
			const stderr = runs.map((run, p) => `p${p}: ${run.stderr.slice(0, 4000)}`).join('\n');
			assert.fail(`${keys.size} of 4,000 records\nmissing: ${missingLabels(keys, ids, 500)}\n${await describeStore(dir)}\nwriters' stderr:\n${stderr}`);
		}
		for (let p = 0; p < 4; p++) for (let th = 0; th < 2; th++) for (let i = 0; i < 500; i++) assert.ok(keys.has(writerRecord(`p${p}.${th}/${i}`).key), `p${p}.${th}/${i}`);
		assert.ok(fs.existsSync(db), 'compactions wrote the SQLite file while writers were running');
		calls.compact();
		assert.equal(await countInSnapshot(db), 4000);
		assert.deepStrictEqual(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp') || n.endsWith('.lock')), []);
	});

	it('a put is always visible to its own worker at once, while other processes compact the log every few calls', async (t) => {
		// Each thread reads every 5th record back through its worker (`expand`) while compactions keep replacing the
		// log: the worker must never answer from a stale or wrong log file (a freed log inode reused by a later one).
		for (let round = 0; round < 2; round++) {
			const dir = tmpDir(t);
			const db = join(dir, 'calls.db');
			const runs = await Promise.all([0, 1].map((p) => runNode(writer, [db, `r${round}p${p}`, '500', '2', '4096', '5'], { timeoutMs: 120_000 })));
			for (const run of runs) assert.equal(run.code, 0, run.stderr);
			const calls = open(dir);
			t.after(() => calls.close());
			assert.equal(calls.list().length, 2000);
		}
	});

	it('a writer killed with SIGKILL leaves a store that opens, and its stale lock is recovered', async (t) => {
		const dir = tmpDir(t);
		const db = join(dir, 'calls.db');
		const child = spawn(process.execPath, [writer, db, 'k', 'forever'], { stdio: ['ignore', 'pipe', 'inherit'] });
		await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
		await new Promise((r) => setTimeout(r, 100));
		child.kill('SIGKILL');
		await new Promise((r) => child.once('exit', r));
		// Whatever the kill interrupted, plant the worst case too: a lock held by the dead process. Its time lies in
		// the future, so it never goes stale by age: only seeing that its owner is dead frees it (else the put
		// below times out waiting for it and throws).
		const lock = `${db}.lock`;
		fs.writeFileSync(lock, JSON.stringify({ pid: child.pid, host: hostname(), thread: 0, time: Date.now() + 3_600_000, token: 'dead' }));
		const future = new Date(Date.now() + 3_600_000);
		fs.utimesSync(lock, future, future);
		const calls = open(dir);
		t.after(() => calls.close());
		calls.put(makeRecord());
		assert.ok(!fs.existsSync(lock), 'the dead writer\'s lock was broken, and ours released');
		const count = calls.list().length;
		assert.ok(count > 20, `kept the killed writer's ${count} complete records`);
		for (let i = 0; i < 20; i++) assert.ok(calls.contains(writerRecord(`k/${i}`).key));
		assert.equal(calls.compact(), true);
		assert.equal(await countInSnapshot(db), count);
	});

	it('a compaction removes the temporary files of writers that died mid-compaction, and only those', (t) => {
		// A process that exits (or is killed) while its worker exports a snapshot runs no cleanup: the snapshot-sized
		// temp would stay forever. Plant what such writers leave, beside ones a live writer may still be renaming.
		const dir = tmpDir(t);
		const calls = open(dir);
		t.after(() => calls.close());
		calls.put(makeRecord());
		const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
		const host = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
		const uuid = () => randomUUID();
		const plant = (name: string, ageMs = 0): string => {
			fs.writeFileSync(join(dir, name), randomBytes(64));
			const when = new Date(Date.now() - ageMs);
			fs.utimesSync(join(dir, name), when, when);
			return name;
		};
		const gone = [
			plant(`.calls.db.${host}-${deadPid}.${uuid()}.tmp`),
			plant(`.calls.db.log.${host}-${deadPid}.${uuid()}.tmp`),
			plant(`.calls.db.ffffffff-${process.pid}.${uuid()}.tmp`, 300_000),
		];
		const kept = [
			plant(`.calls.db.${host}-${process.pid}.${uuid()}.tmp`),
			plant(`.calls.db.ffffffff-${deadPid}.${uuid()}.tmp`),
			plant(`.other.db.${host}-${deadPid}.${uuid()}.tmp`),
			plant('.calls.db.not-a-temp.tmp', 300_000),
		];
		assert.equal(calls.compact(), true);
		const left = fs.readdirSync(dir);
		for (const name of gone) assert.ok(!left.includes(name), `removed ${name}`);
		for (const name of kept) assert.ok(left.includes(name), `kept ${name}`);
		assert.equal(calls.list().length, 1);
	});

	it('a lock older than the stale limit is taken over even when its owner is unknown', (t) => {
		const dir = tmpDir(t);
		const db = join(dir, 'calls.db');
		fs.writeFileSync(`${db}.lock`, '');
		const old = new Date(Date.now() - 60_000);
		fs.utimesSync(`${db}.lock`, old, old);
		const calls = open(dir);
		t.after(() => calls.close());
		calls.put(makeRecord());
		assert.equal(calls.list().length, 1);
	});

	it('a call another process wrote is seen at the next read, by a reader that looked before', async (t) => {
		const dir = tmpDir(t);
		const db = join(dir, 'calls.db');
		const reader = open(dir);
		t.after(() => reader.close());
		const key = writerRecord('v/0').key;
		assert.equal(reader.contains(key), false);
		const child = await runNode(writer, [db, 'v', 'exit', '1']);
		assert.equal(child.code, 0, child.stderr);
		// Nothing to wait for: the record is on disk, and a read checks the log, never an older view of it.
		assert.equal(reader.contains(key), true);
		assert.deepStrictEqual(reader.get(key), writerRecord('v/0'));
	});

	it('everything is on disk at process exit: records and statistics', async (t) => {
		const dir = tmpDir(t);
		const db = join(dir, 'calls.db');
		const run = await runNode(writer, [db, 'e', 'exit', '300']);
		assert.equal(run.code, 0, run.stderr);
		const calls = open(dir);
		t.after(() => calls.close());
		assert.equal(calls.list().length, 300);
		assert.equal(calls.stats()[0]?.hits, 3);
	});

	it('worker threads that end write everything before they exit', async (t) => {
		const dir = tmpDir(t);
		const run = await runNode(writer, [join(dir, 'calls.db'), 'w', '40', '3']);
		assert.equal(run.code, 0, run.stderr);
		assert.equal(open(dir).list().length, 120);
	});
});

describe('CallSql with a damaged file', () => {
	async function damaged(t: TestContext, damage: (db: string) => void): Promise<void> {
		const dir = tmpDir(t);
		const db = join(dir, 'calls.db');
		const first = open(dir);
		for (let i = 0; i < 200; i++) first.put(writerRecord(`d${i}`));
		first.compact();
		first.close();
		fs.rmSync(`${db}.log`);
		damage(db);
		logs.clear();
		const calls = open(dir);
		t.after(() => calls.close());
		assert.throws(() => calls.get(writerRecord('d1').key), isKeyError);
		assert.ok(logs.codes('FLECHE_CORRUPT_ENTRY').some((r) => r.message.includes(db)), JSON.stringify(logs.records));
		// The store keeps working, and the next compaction replaces the damaged file (kept aside for inspection).
		const r = makeRecord();
		calls.put(r);
		assert.deepStrictEqual(calls.get(r.key), r);
		assert.equal(calls.compact(), true);
		assert.equal(await countInSnapshot(db), 1);
		assert.ok(fs.existsSync(`${db}.corrupt`));
	}

	it('a truncated SQLite file reads as empty with a warning', async (t) => {
		await damaged(t, (db) => fs.truncateSync(db, Math.floor(fs.statSync(db).size / 2)));
	});

	it('a file of garbage reads as empty with a warning', async (t) => {
		await damaged(t, (db) => fs.writeFileSync(db, 'this is not a database'.repeat(100)));
	});

	it('damaged pages in the middle read as empty with a warning', async (t) => {
		await damaged(t, (db) => {
			const bytes = fs.readFileSync(db);
			bytes.fill(0xa5, 4096 + 100, bytes.length - 100);
			fs.writeFileSync(db, bytes);
		});
	});

	it('a damaged log line is skipped with a warning; the lines after it still apply', (t) => {
		const dir = tmpDir(t);
		const db = join(dir, 'calls.db');
		const calls = open(dir);
		for (let i = 0; i < 3; i++) calls.put(writerRecord(`l${i}`));
		calls.close();
		const lines = fs.readFileSync(`${db}.log`, 'utf8').split('\n');
		lines[2] = lines[2]!.replace('writer.js', 'writer.jx');
		fs.writeFileSync(`${db}.log`, `${lines.join('\n')}half a line without its newline`);
		logs.clear();
		const again = open(dir);
		t.after(() => again.close());
		assert.equal(again.list().length, 2);
		assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').length, 1);
		again.put(writerRecord('after'));
		assert.equal(again.list().length, 3, 'an append after a torn tail starts on its own line');
	});
});

describe('CallSql never waits out its timeout', () => {
	/** Far below the 60 s worker timeout, generous for a loaded machine. */
	const promptly = 10_000;

	function garbageStore(t: TestContext, bytes: Buffer | string): string {
		const dir = tmpDir(t);
		fs.mkdirSync(join(dir, 'values'));
		fs.writeFileSync(join(dir, 'calls.db'), bytes);
		logs.clear();
		return dir;
	}

	for (const [what, bytes] of [
		['random bytes', randomBytes(8192)],
		['a text file', 'name,value\nthis is not SQLite\n'.repeat(50)],
		['an SQLite header over random pages', Buffer.concat([Buffer.from('SQLite format 3\u0000', 'latin1'), Buffer.alloc(84), randomBytes(8092)])],
	] as const) {
		it(`a calls.db of ${what} answers misses at once with one warning`, (t) => {
			const dir = garbageStore(t, bytes);
			const calls = open(dir);
			t.after(() => calls.close());
			const start = performance.now();
			assert.throws(() => calls.get(writerRecord('g').key), isKeyError);
			assert.deepStrictEqual(calls.list(), []);
			assert.deepStrictEqual(calls.records(), []);
			const elapsed = performance.now() - start;
			assert.ok(elapsed < promptly, `took ${elapsed} ms`);
			assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').filter((r) => r.message.includes(join(dir, 'calls.db'))).length, 1, JSON.stringify(logs.records));
		});
	}

	it('openStore from fleche/inspect on a garbage calls.db lists nothing and does not throw', (t) => {
		const dir = garbageStore(t, randomBytes(4096));
		const start = performance.now();
		const store = openStore(dir);
		t.after(() => store.close());
		assert.deepStrictEqual(store.functions(), []);
		const elapsed = performance.now() - start;
		assert.ok(elapsed < promptly, `took ${elapsed} ms`);
		assert.ok(logs.codes('FLECHE_CORRUPT_ENTRY').length >= 1, JSON.stringify(logs.records));
	});

	/**
	 * A copy of the built package whose SQL worker module is replaced by `worker`, and a script that reads a store
	 * through it (a real worker thread that cannot load or that dies); prints the read's outcome and its time.
	 */
	async function withWorker(t: TestContext, worker: string): Promise<{ elapsed: number; out: string; stderr: string }> {
		const dir = tmpDir(t);
		const pkg = join(dir, 'pkg');
		fs.cpSync(dirname(fileURLToPath(import.meta.resolve('fleche'))), pkg, { recursive: true });
		// The ES module build is bundled: its SQL worker sits at the top, beside the code that starts it.
		fs.writeFileSync(join(pkg, 'sqlWorker.js'), worker);
		// Bare imports of the copy (sql.js…) resolve through the repository's node_modules.
		fs.symlinkSync(join(dirname(createRequire(import.meta.url).resolve('sql.js')), '..', '..'), join(dir, 'node_modules'), 'dir');
		const store = join(dir, 'store');
		const first = open(store);
		first.put(writerRecord('w'));
		first.close();
		const script = join(dir, 'read.mjs');
		fs.writeFileSync(
			script,
			`import { CallSql } from './pkg/index.js';
			const calls = new CallSql({ path: ${JSON.stringify(join(store, 'calls.db'))} });
			const start = performance.now();
			const keys = calls.list();
			const again = calls.contains(${JSON.stringify(writerRecord('x').key)});
			console.log(JSON.stringify({ elapsed: performance.now() - start, out: keys.length + ' ' + again }));`,
		);
		const run = await runNode(script, [], { timeoutMs: 120_000 });
		assert.equal(run.code, 0, run.stderr);
		const result = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { elapsed: number; out: string };
		return { ...result, stderr: run.stderr };
	}

	it('a worker module that cannot load makes reads misses at once, with one warning', async (t) => {
		const { elapsed, out, stderr } = await withWorker(t, "import 'fleche-no-such-package';\n");
		assert.ok(elapsed < promptly, `took ${elapsed} ms`);
		assert.equal(out, '0 false');
		assert.equal(stderr.split('FLECHE_READ_ERROR').length - 1, 1, stderr);
		assert.match(stderr, /fleche-no-such-package/);
	});

	it('a worker that crashes in the middle of a request makes reads misses at once, with one warning', async (t) => {
		const crash = `import { workerData } from 'node:worker_threads';
			workerData.port.on('message', () => { throw new Error('crashed in the middle of a request'); });
			await new Promise(() => setInterval(() => {}, 1000));\n`;
		const { elapsed, out, stderr } = await withWorker(t, crash);
		assert.ok(elapsed < promptly, `took ${elapsed} ms`);
		assert.equal(out, '0 false');
		assert.equal(stderr.split('FLECHE_READ_ERROR').length - 1, 1, stderr);
		assert.match(stderr, /crashed in the middle of a request/);
	});
});
