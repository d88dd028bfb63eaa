// docs/behaviour.md §2.6 "SQL" (pages read on demand, compaction by writers only, schema 4's covering indexes, the size
// the store is built for): what the SQL store does so that large stores stay fast — asserted on outcomes (files left
// byte for byte, hits, counts, warnings), never on time. The timings are rows of `npm run bench -- scale`.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'sql.js';
import { CallSql, type CallRecord } from 'fleche';
import { openStore } from 'fleche/inspect';
import { captureLogs } from '../support/logs.js';
import { runtimeDir } from '../support/project.js';
import { writerRecord } from '../support/sqlRecord.js';
import { edit, inspectFile, snapshotOf } from '../support/sqlFiles.js';
import { runNode, tmpDir } from '../support/tmp.js';

const logs = captureLogs();
const bin = join(runtimeDir, 'bin', 'fleche.mjs');

/** `count` records (`label0`…) in a compacted store; the log is removed, so everything is in calls.db. */
function compacted(t: TestContext, label: string, count: number): { dir: string; db: string; records: CallRecord[] } {
	const dir = tmpDir(t);
	const calls = new CallSql({ path: join(dir, 'calls.db') });
	const records = Array.from({ length: count }, (_, i) => writerRecord(`${label}${i}`));
	for (const r of records) calls.put(r);
	assert.equal(calls.compact(), true);
	calls.close();
	fs.rmSync(join(dir, 'calls.db.log'));
	return { dir, db: join(dir, 'calls.db'), records };
}

const schemaVersionOf = (d: Database): unknown => d.exec("SELECT value FROM fleche_info WHERE name = 'schema_version'")[0]?.values[0]?.[0];
const listingIndexes = (d: Database): unknown[] =>
	(d.exec("SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('calls_function', 'stats_function') ORDER BY name")[0]?.values ?? []).map(
		(r) => r[0],
	);

describe('CallSql at scale: tools that only read write nothing', () => {
	it('fleche/inspect and `fleche ls` leave every file byte for byte, with unmerged lines waiting past the idle compaction time', async (t) => {
		const dir = tmpDir(t);
		// Three records in the snapshot, three more only in the log: a writer's worker would compact them after 2 s idle.
		const writer = new CallSql({ path: join(dir, 'calls.db'), idleCompactMs: 600_000 });
		const records = Array.from({ length: 6 }, (_, i) => writerRecord(`ro${i}`));
		for (const r of records.slice(0, 3)) writer.put(r);
		assert.equal(writer.compact(), true);
		for (const r of records.slice(3)) writer.put(r);
		writer.close();
		const before = snapshotOf(dir);

		const store = openStore(dir);
		try {
			const listed = (): number => store.functions().reduce((sum, fn) => sum + fn.calls, 0);
			assert.equal(listed(), 6, 'the lines in the log are listed too');
			const fn = store.functions()[0]!;
			assert.equal(store.calls(fn, { limit: 100 }).calls.length, fn.calls);
			// Past the default idle compaction time (2 s), with the tool's worker alive and its timer running.
			await new Promise((resolve) => setTimeout(resolve, 2_700));
			assert.equal(listed(), 6);
		} finally {
			store.close();
		}
		const ls = await runNode(bin, ['ls', '--root', dir], { execArgv: [] });
		assert.equal(ls.code, 0, ls.stderr);
		assert.match(ls.stdout, /fn\d/);
		assert.deepStrictEqual(snapshotOf(dir), before, 'no file was written, renamed or removed by reading');
	});
});

describe('CallSql schema 4: covering indexes for the listing', () => {
	it('a schema-3 file hits and lists as it is for a reader (which builds no index and writes nothing); a writer’s compaction migrates it', async (t) => {
		const { dir, db, records } = compacted(t, 'v3-', 5);
		assert.deepStrictEqual(await inspectFile(db, listingIndexes), ['calls_function', 'stats_function'], 'a new store is created with the indexes');
		await edit(db, (d) => d.run("DROP INDEX calls_function; DROP INDEX stats_function; UPDATE fleche_info SET value = '3' WHERE name = 'schema_version'"));
		const before = snapshotOf(dir);

		const reader = new CallSql({ path: db });
		for (const r of records) assert.deepStrictEqual(reader.get(r.key), r);
		const counts = Object.fromEntries(reader.functions().map((f) => [f.name, f.calls]));
		const expected: Record<string, number> = {};
		for (const r of records) expected[r.name] = (expected[r.name] ?? 0) + 1;
		assert.deepStrictEqual(counts, expected);
		reader.close();
		assert.deepStrictEqual(snapshotOf(dir), before, 'reading a schema-3 file does not migrate it on disk');
		assert.deepStrictEqual(logs.codes('FLECHE_FOREIGN_STORE'), []);
		assert.deepStrictEqual(logs.codes('FLECHE_CORRUPT_ENTRY'), []);

		const writer = new CallSql({ path: db });
		const added = writerRecord('v3-added');
		writer.put(added);
		assert.equal(writer.compact(), true);
		writer.close();
		assert.equal(await inspectFile(db, schemaVersionOf), '4');
		assert.deepStrictEqual(await inspectFile(db, listingIndexes), ['calls_function', 'stats_function']);
		assert.equal(await inspectFile(db, (d) => d.exec('PRAGMA integrity_check')[0]?.values[0]?.[0]), 'ok');

		const after = new CallSql({ path: db });
		t.after(() => after.close());
		for (const r of [...records, added]) assert.deepStrictEqual(after.get(r.key), r);
	});

	it('a file of a newer schema is read as it is, said so once, and never compacted over', async (t) => {
		const { db, records } = compacted(t, 'v9-', 3);
		await edit(db, (d) => d.run("UPDATE fleche_info SET value = '99' WHERE name = 'schema_version'"));
		logs.clear();
		const calls = new CallSql({ path: db });
		t.after(() => calls.close());
		for (const r of records) assert.deepStrictEqual(calls.get(r.key), r);
		assert.match(logs.codes('FLECHE_UNREADABLE_ENTRY')[0]?.message ?? '', /newer fleche/);
		const bytes = fs.readFileSync(db);
		calls.put(writerRecord('v9-added'));
		assert.equal(calls.compact(), false);
		assert.deepStrictEqual(fs.readFileSync(db), bytes, 'the newer file is left as it is');
		assert.deepStrictEqual(calls.get(writerRecord('v9-added').key), writerRecord('v9-added'), 'what this process wrote is still read, from the log');
	});
});

describe('CallSql pages and compactions', () => {
	it('pages are read on demand from the snapshot: compactions over it keep every record, and the file stays a complete database', async (t) => {
		const dir = tmpDir(t);
		const db = join(dir, 'calls.db');
		const calls = new CallSql({ path: db });
		t.after(() => calls.close());
		const all: CallRecord[] = [];
		// Each round writes over the snapshot the round before compacted (its pages changed in memory, then streamed).
		for (let round = 0; round < 4; round++) {
			for (let i = 0; i < 150; i++) {
				const r = writerRecord(`page${round}-${i}`);
				calls.put(r);
				all.push(r);
			}
			if (round > 0) calls.evict(all[round * 10]!.key);
			assert.equal(calls.compact(), true);
		}
		const evicted = new Set([10, 20, 30].map((i) => all[i]!.key));
		const kept = all.filter((r) => !evicted.has(r.key));
		const reader = new CallSql({ path: db });
		t.after(() => reader.close());
		for (const r of kept) assert.deepStrictEqual(reader.get(r.key), r);
		for (const key of evicted) assert.equal(reader.contains(key), false);
		assert.equal(await inspectFile(db, (d) => d.exec('PRAGMA integrity_check')[0]?.values[0]?.[0]), 'ok');
		assert.equal(await inspectFile(db, (d) => d.exec('SELECT count(*) FROM calls')[0]?.values[0]?.[0]), kept.length);
	});

	it('a snapshot above the size the store is built for is reported once, up front, naming the limit and the PostgreSQL store, and still answers', (t) => {
		const { db, records } = compacted(t, 'big-', 3);
		// A sparse file: the database's own pages, then zeros past the pages its header counts (never read).
		fs.truncateSync(db, 2 * 2 ** 30 + 65_536);
		logs.clear();
		const calls = new CallSql({ path: db });
		t.after(() => calls.close());
		for (const r of records) assert.deepStrictEqual(calls.get(r.key), r);
		calls.contains(records[0]!.key);
		const warned = logs.codes('FLECHE_LARGE_STORE');
		assert.equal(warned.length, 1);
		assert.match(warned[0]!.message, /2\.0 GiB/);
		assert.match(warned[0]!.message, /up to 2 GiB/);
		assert.match(warned[0]!.message, /template = "postgres"/);
		assert.deepStrictEqual(logs.codes('FLECHE_READ_ERROR'), []);
	});
});
