// docs/behaviour.md §2.6 "SQL", §11, §12: the SQL store's worker thread (storage/sql/sqlWorker.ts) as a reader of
// another instance's writes sees it — each log line applied, answered from the queue of lines taken and not applied,
// compacted into the snapshot, an older snapshot read from its rows and brought up to date. Real files, real sql.js
// worker threads, a few seconds in all, so that test/mutation/run.mjs can judge sqlWorker.ts's mutants with it. Every
// reader here remembers nothing (`knownRecords: 0`): each read is the worker's answer.
import { beforeEach, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import initSqlJs from 'sql.js';
import { CallSql, KeyError, SaveError, recordKey, type CallRecord, type CallStats } from 'fleche';
import { encodeJsonLine, encodeLine, readLogHeader, readSnapshotHeader } from '../../runtime/src/storage/sql/log.ts';
import { captureLogs } from '../support/logs.js';
import { applicationId, maxFieldBytes, migrations, schemaV1, schemaVersion } from '../../runtime/src/storage/sql/schema.ts';
import { inspectFile } from '../support/sqlFiles.js';
import { hexOf } from '../support/sqlRecord.js';
import { pollCeilingMs, waitFor } from '../support/poll.js';
import { openFilesIn, tmpDir } from '../support/tmp.js';

const logs = captureLogs();
const isKeyError = (err: unknown): boolean => KeyError.is(err);
const secretKey = 'c3'.repeat(32);

/** A record of `name` (module `m.js` unless given) with one argument and the given metadata. */
function rec(
	name: string,
	arg: string,
	extra: Partial<Pick<CallRecord, 'module' | 'version' | 'codeDigest' | 'metadata' | 'async' | 'scheme'>> = {},
): CallRecord {
	const identity = { name, module: extra.module === undefined ? 'm.js' : extra.module, version: extra.version ?? 1, codeDigest: extra.codeDigest ?? null };
	const base = { ...identity, arguments: { x: hexOf(arg), y: hexOf(`${arg} y`) } };
	const record: CallRecord = { key: recordKey(base), ...base, result: hexOf(`r ${arg}`), metadata: extra.metadata ?? { tags: { arg } } };
	return {
		...record,
		...(extra.async === undefined ? {} : { async: extra.async }),
		...(extra.scheme === undefined ? {} : { scheme: extra.scheme }),
	};
}

function delta(r: CallRecord, hits: number, lastHit: number | null): CallStats {
	return { key: r.key, name: r.name, module: r.module, hits, misses: 1, lastHit, computeSeconds: 2, savedSeconds: hits * 2 };
}

/**
 * A writer that never compacts on its own (only when told), and a reader that remembers nothing; both signing, unless
 * the test writes records by hand.
 */
function pair(t: TestContext, path: string, signed = true): { w: CallSql; r: CallSql } {
	const key = signed ? secretKey : '';
	const w = new CallSql({ path, writeDelayMs: 0, compactBytes: 2 ** 30, idleCompactMs: 1e9, secretKey: key });
	const r = new CallSql({ path, knownRecords: 0, idleCompactMs: 1e9, secretKey: key });
	t.after(() => (w.close(), r.close()));
	return { w, r };
}

/** An unsigned writer and reader over a new store, and two records of `f` not yet written. */
function unsignedPair(t: TestContext): { path: string; w: CallSql; r: CallSql; a: CallRecord; b: CallRecord } {
	const path = join(tmpDir(t), 'calls.db');
	return { path, ...pair(t, path, false), a: rec('f', 'a'), b: rec('f', 'b') };
}

/** A log line as it is, rather than an entry to encode. */
class Raw {
	constructor(readonly text: string) {}
}

/** Appends log lines by hand (what another tool, or a damaged write, leaves). */
function appendLines(path: string, ...entries: unknown[]): void {
	fs.appendFileSync(`${path}.log`, entries.map((e) => (e instanceof Raw ? e.text : encodeLine(e))).join(''));
}

const sortedKeys = (records: readonly CallRecord[]): string[] => records.map((r) => r.key).sort();

/** Python fleche's three tables (an older snapshot: no application id, no summary tables). */
const pythonTables = `CREATE TABLE calls (key VARCHAR(64) PRIMARY KEY NOT NULL, name TEXT NOT NULL, module TEXT NULL, version TEXT NULL,
				code_digest TEXT NULL, result VARCHAR(64) NULL);
			CREATE TABLE arguments (id INTEGER PRIMARY KEY AUTOINCREMENT, call_key VARCHAR(64) NOT NULL REFERENCES calls (key) ON DELETE CASCADE,
				position INTEGER NOT NULL, name TEXT NOT NULL, value VARCHAR(64) NOT NULL, UNIQUE (call_key, name));
			CREATE TABLE metadata (id INTEGER PRIMARY KEY AUTOINCREMENT, call_key VARCHAR(64) NOT NULL REFERENCES calls (key) ON DELETE CASCADE,
				name TEXT NOT NULL, data JSON NOT NULL, UNIQUE (call_key, name));`;

/**
 * Writes at `path` an older snapshot (Python fleche's tables) holding `record`: its call row (version text, or NULL),
 * its argument rows in their order, a metadata row per namespace.
 */
async function writeOlderSnapshot(path: string, record: CallRecord, version: string | null): Promise<void> {
	const SQL = await initSqlJs();
	const d = new SQL.Database();
	d.exec(pythonTables);
	d.run('INSERT INTO calls VALUES (?, ?, ?, ?, NULL, ?)', [record.key, record.name, record.module, version, record.result]);
	Object.entries(record.arguments).forEach(([name, value], position) =>
		d.run('INSERT INTO arguments (call_key, position, name, value) VALUES (?, ?, ?, ?)', [record.key, position, name, value]),
	);
	for (const [ns, data] of Object.entries(record.metadata))
		d.run('INSERT INTO metadata (call_key, name, data) VALUES (?, ?, ?)', [record.key, ns, JSON.stringify(data)]);
	fs.writeFileSync(path, d.export());
	d.close();
}

describe('the SQL store worker', () => {
	// Warnings of a test's workers may come with their last answers, at close.
	beforeEach(() => logs.clear());

	it('applies every kind of log line: puts with every field, replacements, evictions, statistics, clear', (t) => {
		const path = join(tmpDir(t), 'calls.db');
		const { w, r } = pair(t, path);
		const full = rec('f', '1', {
			async: true,
			scheme: 'fleche.call/1',
			version: 'v2',
			metadata: { runtime: { timestop: 30, timestart: 1 }, tags: { a: [1, 2] } },
		});
		const sync = rec('f', '2', { async: false, metadata: { runtime: { timestart: 20 } } });
		const bare = rec('f', '3', { metadata: {}, codeDigest: hexOf('code') });
		const noModule = rec('g', '1', { module: null, metadata: { runtime: { timestop: 5 } } });
		for (const x of [full, sync, bare, noModule]) w.put(x);

		// Each read by key is the worker's: every field as it was put.
		for (const x of [full, sync, bare, noModule]) assert.deepStrictEqual(r.get(x.key), x);
		assert.equal(r.contains(full.key), true);
		assert.equal(r.contains(hexOf('absent')), false);
		assert.equal(r.find(hexOf('absent')), undefined);
		assert.deepStrictEqual(r.list().sort(), sortedKeys([full, sync, bare, noModule]));
		assert.deepStrictEqual(sortedKeys(r.records({ name: 'f' })), sortedKeys([full, sync, bare]));
		assert.deepStrictEqual(sortedKeys(r.records()), sortedKeys([full, sync, bare, noModule]));
		// A page is ordered by `timestop`, else `timestart`, the calls with neither last.
		assert.deepStrictEqual(r.page({ module: 'm.js', name: 'f' }, 0, 10), { total: 3, records: [full, sync, bare], stats: [] });
		assert.deepStrictEqual(r.page({ module: 'm.js', name: 'f' }, 1, 1), { total: 3, records: [sync], stats: [] });
		assert.deepStrictEqual(r.page({ module: null, name: 'g' }, 0, 10), { total: 1, records: [noModule], stats: [] });
		assert.deepStrictEqual(r.page({ module: 'm.js', name: 'g' }, 0, 10), { total: 0, records: [], stats: [] });
		assert.equal(r.expand(full.key.slice(0, 6)), full.key);
		assert.throws(() => r.expand(hexOf('absent').slice(0, 8)), isKeyError);
		const listed = (): Record<string, { calls: number; versions: unknown[]; hits: number; lastHit: number | null }> =>
			Object.fromEntries(
				r.functions().map((f) => [`${f.module}:${f.name}`, { calls: f.calls, versions: [...f.versions].sort(), hits: f.hits, lastHit: f.lastHit }]),
			);
		assert.deepStrictEqual(listed(), {
			'm.js:f': { calls: 3, versions: [1, 'v2'], hits: 0, lastHit: null },
			'null:g': { calls: 1, versions: [1], hits: 0, lastHit: null },
		});

		// A put of a key held replaces its record (counted once); an eviction removes it (the statistics stay).
		const replaced = { ...sync, result: hexOf('another result'), metadata: { runtime: { timestart: 40 } } };
		w.put(replaced);
		assert.deepStrictEqual(r.get(sync.key), replaced);
		assert.deepStrictEqual(r.page({ module: 'm.js', name: 'f' }, 0, 10).records, [replaced, full, bare]);
		w.addStats([delta(full, 2, 100), delta(noModule, 1, null)]);
		w.addStats([delta(full, 3, 50)]);
		w.evict(bare.key);
		assert.throws(() => r.get(bare.key), isKeyError);
		assert.equal(r.contains(bare.key), false);
		assert.deepStrictEqual(listed(), {
			'm.js:f': { calls: 2, versions: [1, 'v2'], hits: 5, lastHit: 100 },
			'null:g': { calls: 1, versions: [1], hits: 1, lastHit: null },
		});
		assert.deepStrictEqual(r.stats({ name: 'f' }), [{ ...delta(full, 5, 100), misses: 2, computeSeconds: 4 }]);
		assert.deepStrictEqual(r.page({ module: 'm.js', name: 'f' }, 0, 10), {
			total: 2,
			records: [replaced, full],
			stats: [{ ...delta(full, 5, 100), misses: 2, computeSeconds: 4 }],
		});
		w.evict(noModule.key);
		assert.deepStrictEqual(listed()['null:g'], { calls: 0, versions: [], hits: 1, lastHit: null }, 'statistics only, once its calls are gone');

		// Another tool's put without the optional fields: held with NULL columns.
		const hand = hexOf('by hand');
		appendLines(path, ['put', { key: hand, name: 'h', arguments: {}, metadata: {} }]);
		assert.deepStrictEqual(r.list().sort(), [hand, replaced.key, full.key].sort());
		assert.deepStrictEqual(listed()['null:h'], { calls: 1, versions: [null], hits: 0, lastHit: null });

		// A `clear` line (another tool's) removes every call, and the statistics stay.
		appendLines(path, ['clear']);
		assert.deepStrictEqual(r.list(), []);
		assert.deepStrictEqual(listed(), {
			'm.js:f': { calls: 0, versions: [], hits: 5, lastHit: 100 },
			'null:g': { calls: 0, versions: [], hits: 1, lastHit: null },
		});
		assert.equal(r.stats().length, 2);
		assert.deepStrictEqual(logs.records, []);
	});

	it('skips a bad line whole (with a warning), applying the lines around it', (t) => {
		const path = join(tmpDir(t), 'calls.db');
		const { w, r } = pair(t, path, false);
		const a = rec('f', 'a');
		const b = rec('f', 'b');
		const c = rec('f', 'c');
		w.put(a);
		assert.deepStrictEqual(r.get(a.key), a);
		appendLines(
			path,
			['evict', 5],
			['put', { key: b.key, name: 'f' }],
			['frob', a.key],
			'not an entry',
			['stats', 'none'],
			// The second delta is not one: the first is not summed either.
			['stats', [delta(a, 7, 1), { key: a.key }]],
			['put', JSON.parse(JSON.stringify(b))],
			new Raw(`0badc0de ["evict","${a.key}"]\n`),
			['stats', [delta(b, 1, 2)]],
		);
		w.put(c);
		assert.deepStrictEqual(r.get(b.key), b);
		assert.deepStrictEqual(r.get(a.key), a, 'a damaged line is not applied');
		assert.deepStrictEqual(r.get(c.key), c);
		assert.deepStrictEqual(r.list().sort(), sortedKeys([a, b, c]));
		assert.deepStrictEqual(r.stats(), [delta(b, 1, 2)]);
		assert.ok(logs.codes('FLECHE_CORRUPT_ENTRY').length > 0, 'the bad lines are reported');
		assert.ok(logs.records.every((l) => l.code === 'FLECHE_CORRUPT_ENTRY'));
	});

	it('warns of each bad line, once per store, with what is wrong with it', (t) => {
		const dir = tmpDir(t);
		const cases: [unknown, RegExp][] = [
			[['evict', 5], /an evict line without a key$/],
			[['frob', hexOf('x')], /unknown entry "frob"$/],
			['not an entry', /not an entry$/],
			[['stats', 'none'], /a stats line without deltas$/],
			[['put', { key: hexOf('x'), name: 'f' }], /a put line without a record$/],
		];
		cases.forEach(([bad, why], i) => {
			const path = join(dir, `${i}.db`);
			const s = new CallSql({ path, writeDelayMs: 0, knownRecords: 0, idleCompactMs: 1e9 });
			t.after(() => s.close());
			const a = rec('f', `a ${i}`);
			const b = rec('f', `b ${i}`);
			s.put(a);
			appendLines(path, bad, ['put', JSON.parse(JSON.stringify(b))], bad);
			logs.clear();
			assert.deepStrictEqual(s.list().sort(), sortedKeys([a, b]), JSON.stringify(bad));
			assert.deepStrictEqual(
				logs.records.map((l) => [l.code, l.message.startsWith(`Skipped a bad line in the cache log ${path}.log: `), why.test(l.message)]),
				[['FLECHE_CORRUPT_ENTRY', true, true]],
				JSON.stringify(logs.records),
			);
		});
		// Lines whose checksum is wrong are not decoded: counted, and reported with their count.
		const path = join(dir, 'damaged.db');
		const s = new CallSql({ path, writeDelayMs: 0, knownRecords: 0, idleCompactMs: 1e9 });
		t.after(() => s.close());
		const a = rec('f', 'a damaged');
		const b = rec('f', 'b damaged');
		s.put(a);
		appendLines(path, new Raw(`0badc0de ["evict","${a.key}"]\n`), ['put', JSON.parse(JSON.stringify(b))], new Raw('0badc0de ["clear"]\n'));
		logs.clear();
		assert.deepStrictEqual(s.list().sort(), sortedKeys([a, b]));
		assert.deepStrictEqual(
			logs.records.map((l) => [l.code, l.message]),
			[['FLECHE_CORRUPT_ENTRY', `Skipped 2 damaged line(s) in the cache log ${path}.log`]],
		);
		// One warning of bad lines per store, damaged or not.
		appendLines(path, ['frob']);
		assert.deepStrictEqual(s.list().sort(), sortedKeys([a, b]));
		assert.equal(logs.records.length, 1, JSON.stringify(logs.records));
	});

	it('answers a read from the lines taken and not applied yet: the latest put or evict of its key, or after a line of another kind', (t) => {
		const path = join(tmpDir(t), 'calls.db');
		const { w, r } = pair(t, path, false);
		const a = rec('f', 'a');
		const b = rec('f', 'b');
		const a2 = { ...a, result: hexOf('a again') };
		w.put(a);
		assert.equal(r.contains(b.key), false, 'the worker follows the log');
		// Each read below takes the lines appended since the last one, and answers before they are applied.
		w.put(b);
		w.evict(a.key);
		assert.equal(r.contains(a.key), false);
		assert.equal(r.find(a.key), undefined);
		assert.deepStrictEqual(r.get(b.key), b);
		w.put(a2);
		w.put({ ...b, result: hexOf('b again') });
		w.put(b);
		assert.deepStrictEqual(r.get(a.key), a2);
		assert.equal(r.contains(a.key), true);
		assert.deepStrictEqual(r.get(b.key), b);
		// After a line that may touch any record, the queue is applied before any answer.
		w.put(a);
		appendLines(path, ['clear']);
		assert.equal(r.find(a.key), undefined);
		assert.equal(r.contains(b.key), false);
		// Even when it is all the queue holds (the key's put applied before it).
		w.put(a);
		assert.deepStrictEqual(r.list(), [a.key]);
		appendLines(path, ['clear']);
		assert.equal(r.find(a.key), undefined);
		w.put(a);
		appendLines(path, ['frob']);
		assert.deepStrictEqual(r.get(a.key), a);
		// A line whose key place names one key and whose body is of another is not taken for the first.
		const c = rec('f', 'c');
		w.put(c);
		// JSON's last duplicate wins: the line puts `b`, where its fixed place says `c`.
		const body = JSON.stringify(b).slice(1);
		appendLines(path, new Raw(encodeJsonLine(`["put",{"key":"${c.key}",${body}]`)));
		assert.deepStrictEqual(r.get(c.key), c);
		assert.deepStrictEqual(r.get(b.key), b);
		assert.deepStrictEqual(sortedKeys(r.records({ name: 'f' })), sortedKeys([a, b, c]));
	});

	it('compacts into a snapshot and continues the log; readers follow it and a new one reads the same', async (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const { w, r } = pair(t, path);
		const first = Array.from({ length: 5 }, (_, i) => rec('f', `first ${i}`, { metadata: { runtime: { timestop: i } } }));
		for (const x of first) w.put(x);
		w.addStats([delta(first[0]!, 1, 10)]);
		assert.deepStrictEqual(r.get(first[4]!.key), first[4]);
		assert.equal(w.compact(), true);
		const head = readSnapshotHeader(path);
		assert.equal(head.kind, 'fleche');
		const log = readLogHeader(`${path}.log`)!;
		assert.equal(log.header.base, head.generation, 'the log continues the new snapshot');
		assert.equal(fs.statSync(`${path}.log`).size - log.bodyStart, log.header.merged, 'which holds every line so far');
		assert.deepStrictEqual(
			fs.readdirSync(dir).filter((n) => !n.startsWith('calls.db') || /\.(lock|compact|tmp)$|tmp/.test(n)),
			[],
			'no lock, claim or temporary copy left',
		);

		// The reader follows into the continued log; a new reader reads the snapshot and the log.
		const second = Array.from({ length: 3 }, (_, i) => rec('g', `second ${i}`));
		for (const x of second) w.put(x);
		w.evict(first[1]!.key);
		const all = sortedKeys([...first, ...second].filter((x) => x.key !== first[1]!.key));
		assert.deepStrictEqual(r.list().sort(), all);
		assert.deepStrictEqual(r.get(second[2]!.key), second[2]);
		const fresh = new CallSql({ path, knownRecords: 0, secretKey });
		t.after(() => fresh.close());
		assert.deepStrictEqual(fresh.list().sort(), all);
		assert.deepStrictEqual(fresh.get(first[0]!.key), first[0]);
		assert.deepStrictEqual(fresh.page({ module: 'm.js', name: 'f' }, 0, 2).records, [first[4], first[3]]);
		assert.deepStrictEqual(fresh.stats(), [delta(first[0]!, 1, 10)]);

		// A function whose every call was evicted is no longer counted in the file.
		const gone = rec('gone', '1');
		w.put(gone);
		w.evict(gone.key);
		// A second compaction: the SQLite file alone holds everything, as a plain SQLite reader sees it.
		assert.equal(w.compact(), true);
		const counted = await inspectFile(path, (s) => s.exec('SELECT name, calls FROM function_calls ORDER BY name')[0]?.values);
		assert.deepStrictEqual(counted, [
			['f', 4],
			['g', 3],
		]);
		const again = readSnapshotHeader(path);
		assert.notEqual(again.generation, head.generation);
		assert.equal(readLogHeader(`${path}.log`)!.header.base, again.generation);
		assert.deepStrictEqual(r.list().sort(), all);
		assert.deepStrictEqual(fresh.list().sort(), all);
		assert.deepStrictEqual(r.get(first[0]!.key), first[0]);
		const later = rec('h', 'later');
		w.put(later);
		assert.deepStrictEqual(fresh.get(later.key), later);
		// The writer's worker went on from its own snapshot (the first one's file, read page by page from then on, replaced
		// by the second's): a third compaction writes everything, read by a new reader.
		assert.equal(w.compact(), true);
		const third = new CallSql({ path, knownRecords: 0, secretKey });
		t.after(() => third.close());
		assert.deepStrictEqual(third.list().sort(), [...all, later.key].sort());
		assert.deepStrictEqual(third.get(later.key), later);
		assert.deepStrictEqual(logs.records, []);
	});

	it('a reader goes on in the log a compaction continued, without reading the new snapshot again', (t) => {
		const { path, w, r, a, b } = unsignedPair(t);
		w.put(a);
		assert.deepStrictEqual(r.list(), [a.key]);
		assert.equal(w.compact(), true);
		// The snapshot spoiled behind the reader's back (same file, same size): a reader that reloaded would read it
		// as empty; one that goes on in the continued log never looks at it.
		const size = fs.statSync(path).size;
		const fd = fs.openSync(path, 'r+');
		fs.writeSync(fd, Buffer.alloc(size, 0x21), 0, size, 0);
		fs.closeSync(fd);
		w.put(b);
		assert.deepStrictEqual(r.list().sort(), sortedKeys([a, b]));
		assert.deepStrictEqual(r.get(a.key), a);
		assert.deepStrictEqual(logs.records, [], 'nothing read the spoiled file');
		// The log the compaction replaced is closed by both workers (each holds only the log it follows).
		assert.deepStrictEqual(
			openFilesIn(dirname(path)).filter((f) => f.endsWith('.log (deleted)')),
			[],
		);
	});

	it('reads an older snapshot (Python fleche’s tables) from its rows; a writer’s compaction brings it to the current schema', async (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const old = rec('p', 'old', { metadata: { runtime: { timestop: 7 } } });
		await writeOlderSnapshot(path, old, '1');

		// Unsigned, as a Python store's rows are.
		const w = new CallSql({ path, writeDelayMs: 0, compactBytes: 2 ** 30, idleCompactMs: 1e9 });
		const r = new CallSql({ path, knownRecords: 0, idleCompactMs: 1e9 });
		t.after(() => (w.close(), r.close()));
		assert.deepStrictEqual(r.get(old.key), old);
		const added = rec('p', 'added', { metadata: { runtime: { timestop: 9 } } });
		w.put(added);
		w.addStats([delta(old, 2, 3)]);
		assert.deepStrictEqual(r.page({ module: 'm.js', name: 'p' }, 0, 10), { total: 2, records: [added, old], stats: [delta(old, 2, 3)] });
		const fns = r.functions();
		assert.deepStrictEqual(
			fns.map((f) => [f.module, f.name, f.calls, f.versions, f.hits]),
			[['m.js', 'p', 2, [1], 2]],
		);
		assert.equal(fs.readFileSync(path).readUInt32BE(68), 0, 'a reader writes nothing: still without an application id');
		// A `clear` line applies to the old tables too; the calls put again are counted as before.
		appendLines(path, ['clear']);
		assert.deepStrictEqual(r.list(), []);
		w.put(old);
		w.put(added);
		assert.deepStrictEqual(r.list().sort(), sortedKeys([old, added]));

		assert.equal(w.compact(), true);
		const version = await inspectFile(path, (s) => s.exec("SELECT value FROM fleche_info WHERE name = 'schema_version'")[0]?.values[0]?.[0]);
		assert.equal(version, '5');
		const created = await inspectFile(path, (s) => s.exec('SELECT key, created FROM calls ORDER BY created')[0]?.values);
		assert.deepStrictEqual(created, [
			[old.key, 7],
			[added.key, 9],
		]);
		const fresh = new CallSql({ path, knownRecords: 0 });
		t.after(() => fresh.close());
		assert.deepStrictEqual(fresh.page({ module: 'm.js', name: 'p' }, 0, 10).records, [added, old]);
		assert.deepStrictEqual(
			fresh.functions().map((f) => [f.module, f.name, f.calls, f.versions, f.hits]),
			[['m.js', 'p', 2, [1], 2]],
		);
		// The reader that read the old file goes on from the new one.
		w.evict(old.key);
		assert.deepStrictEqual(
			r.functions().map((f) => [f.name, f.calls, f.hits]),
			[['p', 1, 2]],
		);
		assert.deepStrictEqual(logs.records, []);
	});

	it('a writer’s worker compacts on its own, past compactBytes or once the log is idle; a reader’s does not', async (t) => {
		const dir = tmpDir(t);
		// Past compactBytes: compacted soon after, with nothing left beside the store.
		const big = join(dir, 'big.db');
		const w = new CallSql({ path: big, writeDelayMs: 0, compactBytes: 2000, idleCompactMs: 1e9 });
		const reader = new CallSql({ path: big, knownRecords: 0, compactBytes: 1, idleCompactMs: 0 });
		t.after(() => (w.close(), reader.close()));
		const records = Array.from({ length: 6 }, (_, i) => rec('f', `big ${i}`));
		w.put(records[0]!);
		assert.deepStrictEqual(reader.list(), [records[0]!.key]);
		assert.equal(fs.existsSync(big), false, 'a reader does not compact');
		for (const x of records.slice(1)) w.put(x);
		assert.deepStrictEqual(w.list().sort(), sortedKeys(records));
		await waitFor('the compaction past compactBytes', () => fs.existsSync(big));
		const head = readSnapshotHeader(big);
		await waitFor('the log to continue the snapshot', () => readLogHeader(`${big}.log`)?.header.base === head.generation);
		assert.deepStrictEqual(reader.list().sort(), sortedKeys(records));

		// Below compactBytes, once the log stopped growing for idleCompactMs.
		const idle = join(dir, 'idle.db');
		const i = new CallSql({ path: idle, writeDelayMs: 0, idleCompactMs: 300 });
		t.after(() => i.close());
		i.put(records[0]!);
		assert.deepStrictEqual(i.list(), [records[0]!.key]);
		await waitFor('the idle compaction', () => fs.existsSync(idle));
		const fresh = new CallSql({ path: idle, knownRecords: 0 });
		t.after(() => fresh.close());
		assert.deepStrictEqual(fresh.get(records[0]!.key), records[0]);
	});

	it('a snapshot that is not SQLite reads as empty; the next compaction keeps it aside as .corrupt and replaces it', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const garbage = Buffer.from('not a database '.repeat(20));
		fs.writeFileSync(path, garbage);
		const { w, r } = pair(t, path, false);
		const a = rec('f', 'a');
		w.put(a);
		assert.deepStrictEqual(r.list(), [a.key]);
		assert.deepStrictEqual(r.get(a.key), a);
		assert.ok(logs.codes('FLECHE_CORRUPT_ENTRY').some((l) => /not an SQLite database/.test(l.message)));
		assert.equal(w.compact(), true);
		assert.deepStrictEqual(fs.readFileSync(`${path}.corrupt`), garbage);
		assert.equal(readSnapshotHeader(path).kind, 'fleche');
		const fresh = new CallSql({ path, knownRecords: 0 });
		t.after(() => fresh.close());
		assert.deepStrictEqual(fresh.get(a.key), a);
		assert.deepStrictEqual(r.get(a.key), a);
	});

	it('never writes over a snapshot of another application, one without fleche tables, or one of a newer fleche', async (t) => {
		const dir = tmpDir(t);
		const SQL = await initSqlJs();
		const make = (name: string, sqlText: string): string => {
			const d = new SQL.Database();
			d.exec(sqlText);
			const file = join(dir, name);
			fs.writeFileSync(file, d.export());
			d.close();
			return file;
		};
		const cases = [
			{ path: make('foreign.db', 'CREATE TABLE calls (key TEXT); PRAGMA application_id = 1234;'), warning: /another application/, writable: false },
			{ path: make('plain.db', 'CREATE TABLE notes (text TEXT);'), warning: /without fleche tables/, writable: true },
			{
				path: make(
					'newer.db',
					`${schemaV1} ${migrations.join('\n')} INSERT INTO fleche_info (name, value) VALUES ('schema_version', '${schemaVersion + 1}'); PRAGMA application_id = ${applicationId};`,
				),
				warning: /newer fleche/,
				writable: true,
			},
		];
		for (const { path, warning, writable } of cases) {
			logs.clear();
			const before = fs.readFileSync(path);
			const { w, r } = pair(t, path, false);
			const a = rec('f', path);
			if (writable) {
				// Its calls are kept in the log alone, and read from there.
				w.put(a);
				assert.deepStrictEqual(r.get(a.key), a, path);
				assert.deepStrictEqual(r.list(), [a.key], path);
			} else {
				assert.throws(
					() => w.put(a),
					(err: unknown) => SaveError.is(err),
					path,
				);
				assert.deepStrictEqual(r.list(), [], path);
			}
			assert.ok(
				logs.records.some((l) => warning.test(l.message)),
				`${path}: ${JSON.stringify(logs.records)}`,
			);
			assert.equal(w.compact(), false, path);
			assert.deepStrictEqual(fs.readFileSync(path), before, `${path} is left as it was`);
			w.close();
			r.close();
		}
	});

	it('answers each record as stored: arguments in their order, none, a NULL version of an older snapshot, a field over the size cap', async (t) => {
		const dir = tmpDir(t);
		/** A record whose arguments are `names` in that order (not alphabetical: the arguments' index is by name). */
		const withArguments = (label: string, names: string[], version: CallRecord['version'] = 1): CallRecord => {
			const base = { name: 'o', module: 'm.js', version, codeDigest: null, arguments: Object.fromEntries(names.map((n) => [n, hexOf(`${label} ${n}`)])) };
			return { key: recordKey(base), ...base, result: hexOf(`r ${label}`), metadata: {} };
		};
		const ordered = withArguments('ordered', ['zeta', 'alpha', 'mu']);
		const none = withArguments('none', []);
		const { path, w, r } = unsignedPair(t);
		w.put(ordered);
		w.put(none);
		for (const x of [ordered, none]) assert.deepStrictEqual(r.get(x.key), x);
		assert.deepStrictEqual(Object.keys(r.get(ordered.key).arguments), ['zeta', 'alpha', 'mu']);
		assert.deepStrictEqual(
			r.records({ name: 'o' }).map((x) => Object.keys(x.arguments)),
			[['zeta', 'alpha', 'mu'], []],
		);

		// An older snapshot's row may have no version at all (NULL): read as null.
		const old = withArguments('old', ['b', 'a'], null);
		const oldPath = join(dir, 'old.db');
		await writeOlderSnapshot(oldPath, old, null);
		const oldReader = new CallSql({ path: oldPath, knownRecords: 0, idleCompactMs: 1e9 });
		t.after(() => oldReader.close());
		assert.deepStrictEqual(oldReader.get(old.key), old);
		assert.deepStrictEqual(Object.keys(oldReader.get(old.key).arguments), ['b', 'a']);

		// Another tool's puts with a field over the size cap (the result, an argument, metadata), applied (a listing
		// applies what the worker took): each row read as a record too large, the others as they are.
		const big = 'x'.repeat(maxFieldBytes + 1);
		const keys = [hexOf('big result'), hexOf('big argument'), hexOf('big metadata')];
		appendLines(
			path,
			['put', { key: keys[0], name: 'o', module: 'm.js', arguments: {}, metadata: {}, result: big }],
			['put', { key: keys[1], name: 'o', module: 'm.js', arguments: { x: big }, metadata: {} }],
			['put', { key: keys[2], name: 'o', module: 'm.js', arguments: {}, metadata: { tags: big } }],
		);
		assert.deepStrictEqual(r.list().sort(), [...sortedKeys([ordered, none]), ...keys].sort());
		for (const key of keys) {
			assert.throws(
				() => r.get(key),
				(err: unknown) => isKeyError(err) && (err as Error).message.endsWith(`was rejected: a field is larger than ${maxFieldBytes} bytes`),
				key,
			);
		}
		assert.deepStrictEqual(sortedKeys(r.records({ name: 'o' })), sortedKeys([ordered, none]));
	});

	it('applies the lines it took on its own once requests pause, and all of them for a request that needs them, however many', async (t) => {
		const path = join(tmpDir(t), 'calls.db');
		const s = new CallSql({ path, writeDelayMs: 0, knownRecords: 0, compactBytes: 2 ** 30, idleCompactMs: 1e9 });
		t.after(() => s.close());
		const [a, b, c] = ['a', 'b', 'c'].map((x) => rec('f', x)) as [CallRecord, CallRecord, CallRecord];
		s.put(a);
		assert.deepStrictEqual(s.list(), [a.key]);
		// More lines than one transaction of the queue holds (1,024), statistics first: a listing applies them all, once.
		const evictions = (from: number): unknown[] => Array.from({ length: 1100 }, (_, i) => ['evict', hexOf(`absent ${from + i}`)]);
		appendLines(path, ['stats', [delta(a, 1, 5)]], ...evictions(0), ['put', JSON.parse(JSON.stringify(b))]);
		assert.deepStrictEqual(s.list().sort(), sortedKeys([a, b]));
		assert.deepStrictEqual(s.stats(), [delta(a, 1, 5)]);
		// As many again, then a damaged line: a read of one key takes them and answers from the queue, and the worker
		// applies the rest once requests pause (a step at a time); the damaged line is reported when it is reached.
		appendLines(path, ['stats', [delta(a, 1, 5)]], ...evictions(1100), ['put', JSON.parse(JSON.stringify(c))], new Raw(`0badc0de ["evict","${a.key}"]\n`));
		logs.clear();
		assert.deepStrictEqual(s.get(c.key), c);
		// Its warnings come with its answers: a miss (answered from the database, the queue left as it is) every 100 ms
		// brings them, and leaves the worker the pauses it applies the queue in.
		const started = Date.now();
		while (logs.records.length === 0) {
			assert.ok(Date.now() - started < pollCeilingMs, 'the worker applies the lines it took (the damaged one reported)');
			await new Promise((resolve) => setTimeout(resolve, 100));
			assert.equal(s.contains(hexOf('absent')), false);
		}
		assert.deepStrictEqual(
			logs.records.map((l) => [l.code, l.message]),
			[['FLECHE_CORRUPT_ENTRY', `Skipped 1 damaged line(s) in the cache log ${path}.log`]],
		);
		assert.deepStrictEqual(s.list().sort(), sortedKeys([a, b, c]));
		assert.deepStrictEqual(s.stats(), [{ ...delta(a, 2, 5), misses: 2, computeSeconds: 4 }]);
	});

	it('keeps a key-presence filter of every key held or taken, for a reader that remembers records and asks for it', (t) => {
		const { path, w, a, b } = unsignedPair(t);
		// A reader that remembers records (the default) asks for the worker's filter after its first miss, and from then
		// on answers a miss itself when the filter lacks the key: a key left out of the filter reads as absent.
		const r = new CallSql({ path, idleCompactMs: 1e9 });
		t.after(() => r.close());
		const [c, d, e] = ['c', 'd', 'e'].map((x) => rec('f', x)) as [CallRecord, CallRecord, CallRecord];
		// Applied (a listing applies what the worker took): keys of every first hex digit, as the scan of the database reads them.
		const held = [a, ...Array.from({ length: 15 }, (_, i) => rec('f', `held ${i}`))];
		for (const x of held) w.put(x);
		assert.deepStrictEqual(r.list().sort(), sortedKeys(held));
		w.put(b);
		w.put(c);
		// The miss: the worker takes b and c (queued, the request just came) and makes the filter of the queue and the
		// database; the reader knows no line after the log's end as it read it before the miss.
		assert.equal(r.find(hexOf('absent')), undefined);
		for (const x of [...held, b, c]) assert.equal(r.contains(x.key), true, `${x.name} ${x.arguments['x']}`);
		// A line taken once the filter is made: its key added as it is taken (before it is applied). A compaction continues
		// the log, and the reader, which keeps the keys of the lines after the point it continues from, asks the filter of
		// the line before it once the worker took it (the miss) and followed into the continued log.
		w.put(d);
		assert.equal(w.compact(), true);
		assert.equal(r.contains(hexOf('absent after')), false);
		assert.equal(r.contains(d.key), true);
		// A put whose key is not first (decoded for it: a line of no known kind, after which the reader tracks the log
		// afresh) and a put whose key is not a string (not added: a bad line).
		const { key, ...rest } = e;
		appendLines(path, ['put', { ...rest, key }], ['put', { name: 'f', key: 5 }]);
		assert.equal(r.contains(d.key), true);
		assert.equal(r.contains(e.key), true);
		assert.deepStrictEqual(r.get(e.key), e);
		for (const x of [...held, b, c]) assert.equal(r.contains(x.key), true, `${x.name} ${x.arguments['x']}`);
		assert.equal(r.find(hexOf('absent again')), undefined);
		assert.ok(logs.records.length > 0, 'the bad put is reported');
		assert.ok(
			logs.records.every((l) => l.code === 'FLECHE_CORRUPT_ENTRY' && /a put line without a record$/.test(l.message)),
			JSON.stringify(logs.records),
		);
	});

	it('a writer’s worker reads on from the snapshot it wrote, holding no file a compaction replaced', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const w = new CallSql({ path, writeDelayMs: 0, knownRecords: 0, compactBytes: 2 ** 30, idleCompactMs: 1e9 });
		t.after(() => w.close());
		const records = ['a', 'b', 'c'].map((x) => rec('f', x));
		// The first compaction writes the database held in memory; the second the file the first wrote, page by page.
		for (const x of records) {
			w.put(x);
			assert.equal(w.compact(), true);
		}
		// A put after them: the writer's own descriptor moves to the continued log.
		const last = rec('f', 'last');
		w.put(last);
		records.push(last);
		assert.deepStrictEqual(w.list().sort(), sortedKeys(records));
		assert.deepStrictEqual(w.get(records[0]!.key), records[0]);
		assert.deepStrictEqual(
			openFilesIn(dir).filter((f) => f.endsWith('(deleted)')),
			[],
		);
	});

	it('follows the files as they are removed or replaced by another store’s', (t) => {
		const { path, w, r, a, b } = unsignedPair(t);
		w.put(a);
		assert.equal(w.compact(), true);
		w.put(b);
		assert.deepStrictEqual(r.list().sort(), sortedKeys([a, b]));
		// A put taken by a read and not applied yet when the log goes: dropped with it.
		const c0 = rec('f', 'c0');
		w.put(c0);
		assert.equal(r.contains(c0.key), true);
		// The log removed: what the snapshot holds, and no more.
		fs.rmSync(`${path}.log`);
		assert.deepStrictEqual(r.list(), [a.key]);
		assert.equal(r.contains(b.key), false);
		assert.deepStrictEqual(r.get(a.key), a);
		assert.equal(r.compact(), false, 'no log, nothing to compact');
		// Both removed and a new store written in their place: its calls only.
		fs.rmSync(path);
		const other = new CallSql({ path, writeDelayMs: 0 });
		t.after(() => other.close());
		const c = rec('g', 'c');
		other.put(c);
		assert.deepStrictEqual(r.list(), [c.key]);
		assert.equal(r.find(a.key), undefined);
		assert.deepStrictEqual(r.get(c.key), c);
		assert.deepStrictEqual(
			r.functions().map((f) => [f.name, f.calls]),
			[['g', 1]],
		);
	});
});
