// docs/behaviour.md §2.6 "SQL" (pages read on demand, compaction by writers only, schema 4's covering indexes, the size
// the store is built for): what the SQL store does so that large stores stay fast — asserted on outcomes (files left
// byte for byte, hits, counts, warnings), never on time. The timings are rows of `npm run bench -- scale`.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from 'sql.js';
import { CallSql, recordKey, type CallRecord } from 'fleche';
import { openStore } from 'fleche/inspect';
import { captureLogs } from '../support/logs.js';
import { waitFor } from '../support/poll.js';
import { runtimeDir } from '../support/project.js';
import { hexOf, writerRecord } from '../support/sqlRecord.js';
import { edit, inspectFile, snapshotOf } from '../support/sqlFiles.js';
import { openFilesIn, runNode, tmpDir } from '../support/tmp.js';

const logs = captureLogs();
const bin = join(runtimeDir, 'bin', 'fleche.mjs');
const writerFixture = fileURLToPath(new URL('../fixtures/sqlWriter.js', import.meta.url));

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

/** A new instance reads every record of `all` but the `evicted` ones, and the file is a sound database holding just those. */
async function readsBackWhole(t: TestContext, db: string, all: readonly CallRecord[], evicted: ReadonlySet<string>): Promise<void> {
	const kept = all.filter((r) => !evicted.has(r.key));
	const reader = new CallSql({ path: db });
	t.after(() => reader.close());
	for (const r of kept) assert.deepStrictEqual(reader.get(r.key), r);
	for (const key of evicted) assert.equal(reader.contains(key), false);
	assert.equal(await inspectFile(db, (d) => d.exec('PRAGMA integrity_check')[0]?.values[0]?.[0]), 'ok');
	assert.equal(await inspectFile(db, (d) => d.exec('SELECT count(*) FROM calls')[0]?.values[0]?.[0]), kept.length);
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
		assert.equal(await inspectFile(db, schemaVersionOf), '5');
		assert.deepStrictEqual(await inspectFile(db, listingIndexes), ['calls_function', 'stats_function']);
		assert.deepStrictEqual(await inspectFile(db, summaryMismatch), [], 'the per-function tables of schema 5 are built from the rows');
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

/** A call record of function `name` (version `version`) made at `timestop` (none when null). */
function madeAt(label: string, name: string, version: number, timestop: number | null): CallRecord {
	const identity = { name, module: 'made.js', version, codeDigest: null, arguments: { x: hexOf(label) } };
	const runtime: Record<string, number> = timestop === null ? { walltime: 0.5 } : { timestart: timestop - 1, timestop };
	return { key: recordKey(identity), ...identity, result: hexOf(`result ${label}`), metadata: { runtime } };
}

/** Where schema 5's per-function tables disagree with the rows they summarize (empty when they agree). */
function summaryMismatch(d: Database): unknown[][] {
	const calls = d.exec(`SELECT json_array(module, name, version), count(*) FROM calls GROUP BY module, name, version
		EXCEPT SELECT id, calls FROM function_calls`)[0]?.values;
	const groups = d.exec(`SELECT id, calls FROM function_calls
		EXCEPT SELECT json_array(module, name, version), count(*) FROM calls GROUP BY module, name, version`)[0]?.values;
	const stats = d.exec(`SELECT json_array(module, name), sum(hits), sum(misses), max(last_hit) FROM stats GROUP BY module, name
		EXCEPT SELECT id, hits, misses, last_hit FROM function_stats`)[0]?.values;
	return [...(calls ?? []), ...(groups ?? []), ...(stats ?? [])];
}

describe('CallSql schema 5: what the tools list first is kept as the log is applied', () => {
	it('the function list and a page, read from the per-function tables, agree with the rows through puts, replacements, evictions and statistics; an older file lists the same from its rows until a writer migrates it', async (t) => {
		const dir = tmpDir(t);
		const db = join(dir, 'calls.db');
		const calls = new CallSql({ path: db });
		const made: CallRecord[] = [];
		for (let i = 0; i < 40; i++) made.push(madeAt(`m${i}`, `f${i % 3}`, i % 2, i % 7 === 0 ? null : 1000 + ((i * 13) % 40)));
		for (const r of made) calls.put(r);
		// The same call again, made later: replaced, counted once.
		const replaced = madeAt('m1', 'f1', 1, 5000);
		calls.put(replaced);
		made[1] = replaced;
		const evicted = [made[3]!, made[4]!, made[9]!];
		calls.evictMany(evicted.map((r) => r.key));
		const kept = made.filter((r) => !evicted.includes(r));
		calls.addStats(
			kept.slice(0, 6).map((r, i) => ({ key: r.key, name: r.name, module: r.module, hits: i, misses: 1, lastHit: 10 + i, computeSeconds: 1, savedSeconds: i })),
		);
		assert.equal(calls.compact(), true);
		calls.close();
		assert.deepStrictEqual(await inspectFile(db, summaryMismatch), []);

		const expected = (): Record<string, { calls: number; versions: number[]; hits: number }> => {
			const out: Record<string, { calls: number; versions: number[]; hits: number }> = {};
			for (const r of kept) {
				const fn = (out[r.name] ??= { calls: 0, versions: [], hits: 0 });
				fn.calls++;
				if (!fn.versions.includes(r.version as number)) fn.versions.push(r.version as number);
				fn.versions.sort();
			}
			kept.slice(0, 6).forEach((r, i) => (out[r.name]!.hits += i));
			return out;
		};
		// Newest first by `timestop`, calls without one last, then by key.
		const newestFirst = (name: string): string[] =>
			kept
				.filter((r) => r.name === name)
				.map((r) => ({ key: r.key, at: (r.metadata['runtime'] as { timestop?: number }).timestop ?? null }))
				.sort((a, b) => ((a.at === null) !== (b.at === null) ? (a.at === null ? 1 : -1) : (b.at ?? 0) - (a.at ?? 0) || (a.key < b.key ? -1 : 1)))
				.map((c) => c.key);
		const listed = (store: CallSql): { fns: Record<string, { calls: number; versions: number[]; hits: number }>; pages: Record<string, string[]> } => {
			const fns: Record<string, { calls: number; versions: number[]; hits: number }> = {};
			const pages: Record<string, string[]> = {};
			for (const f of store.functions()) {
				fns[f.name] = { calls: f.calls, versions: [...(f.versions as number[])].sort(), hits: f.hits };
				const first = store.page(f, 0, 5);
				const rest = store.page(f, 5, 100);
				assert.equal(first.total, f.calls);
				pages[f.name] = [...first.records, ...rest.records].map((r) => r.key);
			}
			return { fns, pages };
		};
		const want = { fns: expected(), pages: Object.fromEntries(['f0', 'f1', 'f2'].map((n) => [n, newestFirst(n)])) };
		const v5 = new CallSql({ path: db });
		assert.deepStrictEqual(listed(v5), want);
		v5.close();

		// The same file as schema 4 (no per-function tables, no `created`): a reader lists the same from the rows.
		await edit(db, (d) =>
			d.run(`DROP TABLE function_calls; DROP TABLE function_stats; DROP INDEX calls_page; ALTER TABLE calls DROP COLUMN created;
				UPDATE fleche_info SET value = '4' WHERE name = 'schema_version'`),
		);
		const before = snapshotOf(dir);
		const v4 = new CallSql({ path: db });
		assert.deepStrictEqual(listed(v4), want);
		v4.close();
		assert.deepStrictEqual(snapshotOf(dir), before, 'a reader of a schema-4 file writes nothing');

		// A writer migrates it at its next compaction; what it wrote since is counted too.
		const writer = new CallSql({ path: db });
		const added = madeAt('added', 'f2', 0, 9000);
		writer.put(added);
		kept.push(added);
		assert.equal(writer.compact(), true);
		writer.close();
		assert.equal(await inspectFile(db, schemaVersionOf), '5');
		assert.deepStrictEqual(await inspectFile(db, summaryMismatch), []);
		const migrated = new CallSql({ path: db });
		t.after(() => migrated.close());
		assert.deepStrictEqual(listed(migrated), { fns: expected(), pages: Object.fromEntries(['f0', 'f1', 'f2'].map((n) => [n, newestFirst(n)])) });
		assert.deepStrictEqual(logs.codes('FLECHE_CORRUPT_ENTRY'), []);
	});
});

describe('CallSql answers misses in the calling thread (the key-presence filter) and never hides a call', () => {
	it('keys written by another process, by another instance of this thread, held back by this one, evicted and written again, or carried over by compactions are all found', async (t) => {
		const dir = tmpDir(t);
		const db = join(dir, 'calls.db');
		const seed = new CallSql({ path: db });
		const seeded = Array.from({ length: 300 }, (_, i) => writerRecord(`seed${i}`));
		for (const r of seeded) seed.put(r);
		assert.equal(seed.compact(), true);
		seed.close();

		const reader = new CallSql({ path: db });
		t.after(() => reader.close());
		// Misses first: the first one through the worker asks for the filter, the ones after are answered here.
		for (let i = 0; i < 50; i++) assert.equal(reader.contains(hexOf(`absent${i}`)), false);
		for (const r of seeded) assert.equal(reader.contains(r.key), true);

		// Another process writes (and compacts, every 4 KiB of log) while this reader's filter is in use.
		const child = await runNode(writerFixture, [db, 'px', '60', '2', '4096', '1000'], { timeoutMs: 120_000 });
		assert.equal(child.code, 0, child.stderr);
		for (let th = 0; th < 2; th++) for (let i = 0; i < 60; i++) assert.equal(reader.contains(writerRecord(`px.${th}/${i}`).key), true, `px.${th}/${i}`);

		// Another instance in this thread, and this instance's own puts held back by its write delay.
		const other = new CallSql({ path: db });
		t.after(() => other.close());
		const mine = Array.from({ length: 20 }, (_, i) => writerRecord(`mine${i}`));
		for (const [i, r] of mine.entries()) {
			(i % 2 === 0 ? other : reader).put(r);
			assert.equal(reader.contains(r.key), true);
			assert.equal(other.contains(r.key), true);
		}
		// Evicted, then written again by the other instance.
		reader.evict(mine[0]!.key);
		assert.equal(other.contains(mine[0]!.key), false);
		other.put(mine[0]!);
		assert.equal(reader.contains(mine[0]!.key), true);
		assert.deepStrictEqual(reader.get(mine[0]!.key), mine[0]);
		// Past compactions of this process's own worker too.
		assert.equal(reader.compact(), true);
		for (const r of [...seeded, ...mine]) assert.equal(reader.contains(r.key), true);
		for (let i = 0; i < 50; i++) assert.equal(reader.contains(hexOf(`still absent${i}`)), false);
		assert.deepStrictEqual(logs.codes('FLECHE_READ_ERROR'), []);
	});
});

describe('CallSql answers misses in the calling thread while its filter is still being filled', () => {
	it('a store of 20,000 calls: the keys not yet in the filter are asked of the worker, and every one is found; changed and compacted, it keeps them', async (t) => {
		// The worker fills the filter 8,192 keys at a time in key order, between requests: right after the first miss
		// made it, the keys at the end of the order are not in it yet, and a filter that answered while incomplete would
		// call them absent.
		const { db, records } = compacted(t, 'filling-', 20_000);
		const reader = new CallSql({ path: db });
		t.after(() => reader.close());
		assert.equal(reader.contains(hexOf('absent, asked first')), false);
		const lastFirst = [...records].sort((a, b) => (a.key < b.key ? 1 : -1));
		for (const r of lastFirst) assert.equal(reader.contains(r.key), true, r.key);
		for (let i = 0; i < 100; i++) assert.equal(reader.contains(hexOf(`absent${i}`)), false);
		// A snapshot of several megabytes, changed in memory and compacted: streamed in 4 MiB blocks, each with the pages
		// changed in it laid over the file's.
		assert.ok(fs.statSync(db).size > 3 * 4 * 2 ** 20, `${fs.statSync(db).size} bytes`);
		const added = Array.from({ length: 300 }, (_, i) => writerRecord(`filling-added-${i}`));
		for (const r of added) reader.put(r);
		const evicted = new Set(records.filter((_, i) => i % 97 === 0).map((r) => r.key));
		for (const key of evicted) reader.evict(key);
		assert.equal(reader.compact(), true);
		await readsBackWhole(t, db, [...records, ...added], evicted);
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
		await readsBackWhole(t, db, all, new Set([10, 20, 30].map((i) => all[i]!.key)));
	});

	it(
		"compactions, its own and other processes', leave no descriptor behind (one snapshot and one log held at most besides the current ones) and write the file exactly as long as its pages; close() lets go of every file",
		{ skip: fs.existsSync('/proc/self/fd') ? false : 'machine lacks: /proc/self/fd' },
		async (t) => {
			const dir = tmpDir(t);
			const db = join(dir, 'calls.db');
			const calls = new CallSql({ path: db });
			t.after(() => calls.close());
			const all: CallRecord[] = [];
			for (let round = 0; round < 6; round++) {
				if (round % 2 === 0) {
					for (let i = 0; i < 60; i++) {
						const r = writerRecord(`fd${round}-${i}`);
						calls.put(r);
						all.push(r);
					}
					assert.equal(calls.compact(), true);
				} else {
					// Another process writes and compacts (every 4 KiB of log) while this store is open.
					const child = await runNode(writerFixture, [db, `fd${round}`, '60', '1', '4096'], { timeoutMs: 120_000 });
					assert.equal(child.code, 0, child.stderr);
					for (let i = 0; i < 60; i++) all.push(writerRecord(`fd${round}.0/${i}`));
				}
				for (const r of all) assert.deepStrictEqual(calls.get(r.key), r, `round ${round}`);
				// The snapshot read page by page and the log, each replaced by a compaction. A store reads on from the generation
				// it loaded while the lines it applied keep it current, so the one it holds may be a replaced file, and the log
				// replaced last stays open until this thread next reads the log; but never more than one of each kind: a
				// descriptor kept per compaction would hold every replaced snapshot's disk space.
				const open = openFilesIn(dir);
				assert.ok(open.filter((target) => !target.startsWith(`${db}.log`)).length <= 2, `round ${round}: ${open.join(', ')}`);
				assert.ok(open.filter((target) => target.startsWith(`${db}.log`)).length <= 2, `round ${round}: ${open.join(', ')}`);
			}
			// The other process's last lines are in the log: compacted into the snapshot, which then holds every record.
			assert.equal(calls.compact(), true);
			const [pages, pageSize] = await inspectFile(db, (d) => [d.exec('PRAGMA page_count')[0]?.values[0]?.[0], d.exec('PRAGMA page_size')[0]?.values[0]?.[0]]);
			assert.equal(fs.statSync(db).size, Number(pages) * Number(pageSize), 'the snapshot is its pages, no more');
			calls.close();
			// The store's worker thread ends after close() returns; its files are closed as it does.
			await waitFor('close() to let go of every file', () => openFilesIn(dir).length === 0);
			await readsBackWhole(t, db, all, new Set());
		},
	);

	for (const pageSize of [1024, 65_536]) {
		it(`a snapshot of ${pageSize}-byte pages (another tool's VACUUM) keeps every record through writes, evictions and compactions`, async (t) => {
			// SQLite writes whole pages: pages smaller than the store's 4 KiB chunks change chunks in part (the rest kept from
			// the file), pages larger than them span several chunks and are the longest reads the file serves.
			const { db, records } = compacted(t, `pages${pageSize}-`, 120);
			await edit(db, (d) => d.exec(`PRAGMA page_size = ${pageSize}; VACUUM`));
			assert.equal(await inspectFile(db, (d) => d.exec('PRAGMA page_size')[0]?.values[0]?.[0]), pageSize);
			const calls = new CallSql({ path: db });
			t.after(() => calls.close());
			for (const r of records) assert.deepStrictEqual(calls.get(r.key), r, 'read from the edited snapshot');
			const all = [...records];
			const evicted = new Set<string>();
			for (let round = 0; round < 3; round++) {
				for (let i = 0; i < 80; i++) {
					const r = writerRecord(`pages${pageSize}-r${round}-${i}`);
					calls.put(r);
					all.push(r);
				}
				for (const victim of [all[round * 7]!, all[all.length - 1 - round]!]) {
					calls.evict(victim.key);
					evicted.add(victim.key);
				}
				// Read back between the writes and the compaction: from the changed chunks over the file.
				for (const r of all) assert.equal(calls.contains(r.key), !evicted.has(r.key), `round ${round}, before compacting`);
				assert.equal(calls.compact(), true);
			}
			await readsBackWhole(t, db, all, evicted);
			assert.equal(await inspectFile(db, (d) => d.exec('PRAGMA page_size')[0]?.values[0]?.[0]), pageSize, 'compactions keep its pages');
			assert.deepStrictEqual(logs.codes('FLECHE_READ_ERROR'), []);
		});
	}

	it('a snapshot cut short under an open store (another program truncated it) reads as damaged: misses, one warning, no crash, nothing rewritten', async (t) => {
		const { dir, db, records } = compacted(t, 'cut-', 400);
		const calls = new CallSql({ path: db });
		t.after(() => calls.close());
		assert.deepStrictEqual(calls.get(records[0]!.key), records[0], 'read before the cut');
		// Pages past the cut read as nothing (the store never writes the snapshot it reads: its descriptor stays open).
		fs.truncateSync(db, Math.floor(fs.statSync(db).size / 3));
		const before = snapshotOf(dir);
		logs.clear();
		let found = 0;
		for (const r of records) {
			const got = calls.find(r.key);
			if (got !== undefined) {
				assert.deepStrictEqual(got, r, 'what is still found is the record');
				found++;
			}
		}
		assert.ok(found < records.length / 2, `${found} of ${records.length} found past the cut`);
		assert.deepStrictEqual([...calls.records()].length, 0);
		const warned = logs.records.filter((r) => r.code !== undefined);
		assert.deepStrictEqual(
			warned.map((r) => r.code),
			['FLECHE_CORRUPT_ENTRY'],
		);
		assert.match(warned[0]!.message, /malformed/);
		assert.deepStrictEqual(snapshotOf(dir), before, 'reading rewrote nothing');
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
		assert.match(warned[0]!.message, /up to 256 MiB/);
		assert.match(warned[0]!.message, /template = "postgres"/);
		assert.deepStrictEqual(logs.codes('FLECHE_READ_ERROR'), []);
	});

	it('a store that grows past its capacityBytes says so once, at the write that takes it past, naming the PostgreSQL store; every call stays a hit, and a process that opens it is told too', (t) => {
		const dir = tmpDir(t);
		const db = join(dir, 'calls.db');
		const capacityBytes = 16 * 1024;
		const filesBytes = (): number =>
			['calls.db', 'calls.db.log'].reduce((sum, name) => sum + (fs.existsSync(join(dir, name)) ? fs.statSync(join(dir, name)).size : 0), 0);
		logs.clear();
		// Every put written at once (writeDelayMs 0): the write that takes the files past the capacity is that put's.
		const writer = new CallSql({ path: db, capacityBytes, writeDelayMs: 0 });
		t.after(() => writer.close());
		const records: CallRecord[] = [];
		let passedAt = -1;
		for (let i = 0; i < 120; i++) {
			const r = writerRecord(`capacity-${i}`);
			writer.put(r);
			records.push(r);
			if (passedAt < 0 && filesBytes() > capacityBytes) passedAt = i;
			assert.equal(logs.codes('FLECHE_LARGE_STORE').length, passedAt < 0 ? 0 : 1, `after put ${i} (${filesBytes()} bytes)`);
		}
		assert.ok(passedAt > 0 && passedAt < 100, `the files passed ${capacityBytes} bytes at put ${passedAt}`);
		const [said] = logs.codes('FLECHE_LARGE_STORE');
		assert.match(said!.message, /up to 16 KiB/);
		assert.match(said!.message, /PostgreSQL store \(template = "postgres"\)/);
		assert.equal(writer.compact(), true);

		// Nothing lost, nothing a miss: a reader that remembers nothing reads every record through its worker.
		const reader = new CallSql({ path: db, capacityBytes, knownRecords: 0 });
		t.after(() => reader.close());
		for (const r of records) assert.deepStrictEqual(reader.get(r.key), r);
		assert.equal(reader.list().length, records.length);
		assert.deepStrictEqual(logs.codes('FLECHE_READ_ERROR'), []);
		assert.equal(logs.codes('FLECHE_LARGE_STORE').length, 1, 'once per process and store');

		// A fresh process is told when it opens the store, and hits every call; with the default capacity it is not told.
		const opened = (capacity: number | null): { warned: string[]; hits: number } => {
			const script = `const { CallSql, setLogger } = await import(${JSON.stringify(import.meta.resolve('fleche'))});
				const warned = [];
				setLogger((r) => { if (r.code === 'FLECHE_LARGE_STORE') warned.push(r.message); });
				const calls = new CallSql({ path: ${JSON.stringify(db)}${capacity === null ? '' : `, capacityBytes: ${capacity}`} });
				let hits = 0;
				for (const key of ${JSON.stringify(records.map((r) => r.key))}) if (calls.get(key).key === key) hits++;
				calls.close();
				console.log(JSON.stringify({ warned, hits }));`;
			const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
			assert.equal(run.status, 0, run.stderr);
			return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { warned: string[]; hits: number };
		};
		const small = opened(capacityBytes);
		assert.equal(small.hits, records.length);
		assert.equal(small.warned.length, 1);
		assert.match(small.warned[0]!, /template = "postgres"/);
		assert.deepStrictEqual(opened(null), { warned: [], hits: records.length });
	});
});
