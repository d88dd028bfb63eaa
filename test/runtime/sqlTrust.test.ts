// docs/behaviour.md §5, §2.6 "SQL": an SQL store is untrusted input. Signed call records (a tampered, unsigned or
// foreign-key row is a miss), hostile SQLite files (unexpected schema, triggers, views, expressions, oversized fields)
// refused whole with one warning and never run, and reads that never write. Every file here is a real SQLite
// database written by the store and then edited with a plain sql.js, as an attacker or another tool would.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import initSqlJs from 'sql.js';
import type { Cache } from 'fleche';
import { CallFile, CallSql, FlecheConfig, KeyError, SaveError, recordKey, type CallRecord } from 'fleche';
import { openStore } from 'fleche/inspect';
import { captureLogs } from '../support/logs.js';
import { hexOf, writerRecord } from '../support/sqlRecord.js';
import { edit, snapshotOf } from '../support/sqlFiles.js';
import { tmpDir } from '../support/tmp.js';

const logs = captureLogs();
const isKeyError = (err: unknown): boolean => KeyError.is(err);
const keyA = randomBytes(32).toString('hex');
const keyB = randomBytes(32).toString('hex');

function open(dir: string, secretKey = ''): CallSql {
	return new CallSql({ path: join(dir, 'calls.db'), secretKey });
}

/** A store of `count` records written by the store itself, compacted, its log removed: everything is in calls.db. */
function written(t: TestContext, secretKey = '', count = 5): { dir: string; db: string; records: CallRecord[] } {
	const dir = tmpDir(t);
	const calls = open(dir, secretKey);
	const records = Array.from({ length: count }, (_, i) => writerRecord(`trust${i}`));
	for (const r of records) calls.put(r);
	assert.equal(calls.compact(), true);
	calls.close();
	fs.rmSync(join(dir, 'calls.db.log'));
	return { dir, db: join(dir, 'calls.db'), records };
}

/** The log's put line for `key`, as the store wrote it (checksum, space, JSON). */
function putLine(dir: string, key: string): { lines: string[]; index: number } {
	const lines = fs.readFileSync(join(dir, 'calls.db.log'), 'utf8').split('\n');
	const index = lines.findIndex((l) => l.includes(`["put",{"key":"${key}"`));
	assert.ok(index > 0, 'the put line is in the log');
	return { lines, index };
}

/** The keys of `records`, sorted: what two listings are compared by. */
function keysOf(records: readonly CallRecord[]): string[] {
	return records.map((r) => r.key).sort();
}

/** A log line with its checksum recomputed, as a forger who knows the format would write it. */
function reline(json: string): string {
	return `${createHash('sha256').update(json).digest('hex').slice(0, 8)} ${json}`;
}

describe('CallSql signs its call records', () => {
	it('a signed record round-trips; the same row read with another key, or without the right one, is a miss that stays', (t) => {
		const { dir, db, records } = written(t, keyA);
		const before = snapshotOf(dir);
		const signed = open(dir, keyA);
		t.after(() => signed.close());
		for (const r of records) assert.deepStrictEqual(signed.get(r.key), r);
		assert.equal(signed.records().length, records.length);

		logs.clear();
		const other = open(dir, keyB);
		t.after(() => other.close());
		assert.throws(() => other.get(records[0]!.key), isKeyError);
		assert.deepStrictEqual(other.records(), []);
		assert.ok(logs.codes('FLECHE_BAD_SIGNATURE').length >= 1, JSON.stringify(logs.records));
		assert.match(logs.codes('FLECHE_BAD_SIGNATURE')[0]!.message, /does not match any configured secret key/);

		// Rotation: the new key first, the old one still verifies.
		const rotated = open(dir, `${keyB}:${keyA}`);
		t.after(() => rotated.close());
		assert.deepStrictEqual(rotated.get(records[1]!.key), records[1]);
		// Without a key, signatures are not checked.
		const plain = open(dir);
		t.after(() => plain.close());
		assert.deepStrictEqual(plain.get(records[2]!.key), records[2]);
		assert.deepStrictEqual(snapshotOf(dir), before, 'reading rejected rows wrote nothing');
		assert.ok(fs.existsSync(db));
	});

	it('a row edited to name another result is a miss when signed (the key check alone cannot see it)', async (t) => {
		const { dir, db, records } = written(t, keyA);
		const [sand, gold] = records as [CallRecord, CallRecord];
		await edit(db, (d) => d.run('UPDATE calls SET result = ? WHERE key = ?', [gold.result, sand.key]));
		logs.clear();
		const unsigned = open(dir);
		t.after(() => unsigned.close());
		assert.equal(unsigned.get(sand.key).result, gold.result, 'unsigned, the swap goes unnoticed: why signing exists');
		const signed = open(dir, keyA);
		t.after(() => signed.close());
		assert.throws(() => signed.get(sand.key), isKeyError);
		assert.deepStrictEqual(signed.get(gold.key), gold);
		assert.deepStrictEqual(keysOf(signed.records()), keysOf(records.slice(1)));
		assert.ok(
			logs.codes('FLECHE_BAD_SIGNATURE').some((r) => r.message.includes(sand.key)),
			JSON.stringify(logs.records),
		);
	});

	it('a put line edited in the log (checksum recomputed, signature kept or dropped) is a miss', (t) => {
		const dir = tmpDir(t);
		const writer = open(dir, keyA);
		const [victim, dropped] = [writerRecord('victim'), writerRecord('dropped')];
		writer.put(victim);
		writer.put(dropped);
		writer.close();
		const { lines, index } = putLine(dir, victim.key);
		const json = lines[index]!.slice(9).replace(victim.result!, hexOf('forged'));
		lines[index] = reline(json);
		const droppedIndex = lines.findIndex((l) => l.includes(`["put",{"key":"${dropped.key}"`));
		lines[droppedIndex] = reline(lines[droppedIndex]!.slice(9).replace(/,"signature":"[0-9a-f]+"/, ''));
		fs.writeFileSync(join(dir, 'calls.db.log'), lines.join('\n'));
		logs.clear();
		const reader = open(dir, keyA);
		t.after(() => reader.close());
		assert.throws(() => reader.get(victim.key), isKeyError);
		assert.throws(() => reader.get(dropped.key), isKeyError);
		const messages = logs.codes('FLECHE_BAD_SIGNATURE').map((r) => r.message);
		assert.ok(
			messages.some((m) => m.includes(victim.key) && /does not match/.test(m)),
			JSON.stringify(messages),
		);
		assert.ok(
			messages.some((m) => m.includes(dropped.key) && /not signed/.test(m)),
			JSON.stringify(messages),
		);
		// The recompute's put replaces the rejected row, signed.
		reader.put(victim);
		assert.deepStrictEqual(reader.get(victim.key), victim);
	});

	it('the signature is the file store’s: a record signed by CallFile verifies against the SQL row and back', (t) => {
		const dir = tmpDir(t);
		const record = writerRecord('shared');
		const file = new CallFile({ root: join(dir, 'calls'), secretKey: keyA });
		file.put(record);
		const fileSignature = (JSON.parse(fs.readFileSync(join(dir, 'calls', record.key), 'utf8')) as { signature: string }).signature;
		const sql = open(dir, keyA);
		t.after(() => sql.close());
		sql.put(record);
		sql.close();
		const { lines, index } = putLine(dir, record.key);
		assert.match(lines[index]!, new RegExp(`"signature":"${fileSignature}"`));
	});

	it('an unsigned row of an older database is a miss with a key, read without one; the schema is migrated on the next compaction', async (t) => {
		const { dir, db, records } = written(t);
		// Make it a schema-2 database, as written before signatures: no signature column.
		await edit(db, (d) => d.run("ALTER TABLE calls DROP COLUMN signature; UPDATE fleche_info SET value = '2' WHERE name = 'schema_version'"));
		logs.clear();
		const plain = open(dir);
		t.after(() => plain.close());
		assert.deepStrictEqual(plain.get(records[0]!.key), records[0]);
		const keyed = open(dir, keyA);
		t.after(() => keyed.close());
		assert.throws(() => keyed.get(records[0]!.key), isKeyError);
		assert.match(logs.codes('FLECHE_BAD_SIGNATURE')[0]?.message ?? '', /not signed/);
		keyed.put(records[0]!);
		assert.deepStrictEqual(keyed.get(records[0]!.key), records[0]);
		assert.equal(keyed.compact(), true);
		keyed.close();
		const SQL = await initSqlJs();
		const d = new SQL.Database(fs.readFileSync(db));
		t.after(() => d.close());
		assert.equal(d.exec("SELECT value FROM fleche_info WHERE name = 'schema_version'")[0]?.values[0]?.[0], '5');
		assert.deepStrictEqual(
			d.exec("SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('calls_function', 'stats_function') ORDER BY name")[0]?.values,
			[['calls_function'], ['stats_function']],
			'the listing’s covering indexes were added by the migration',
		);
		const rows = d.exec('SELECT key, signature FROM calls')[0]!.values;
		assert.equal(rows.filter(([, signature]) => typeof signature === 'string').length, 1, 'the recomputed row is signed, the others were left as they were');
		assert.deepStrictEqual(logs.codes('FLECHE_FOREIGN_STORE'), []);
	});

	it('fleche.toml: an sql template’s secret_key signs its call records too', (t) => {
		const dir = tmpDir(t);
		const file = join(dir, 'fleche.toml');
		const store = FlecheConfig.fromToml(`[signed]\ntemplate = "sql"\nroot = "store"\nsecret_key = "${keyA}"\n`, { file, home: dir }).open('signed') as Cache;
		const config = store.calls.toConfig() as { type: string; secretKey?: string[] };
		assert.equal(config.type, 'sql');
		assert.deepStrictEqual(config.secretKey, [keyA]);
		const record = writerRecord('toml');
		store.calls.put(record);
		(store.calls as CallSql).close();
		assert.match(putLine(join(dir, 'store'), record.key).lines.join('\n'), /"signature":"[0-9a-f]{64}"/);
	});
});

describe('CallSql refuses hostile SQLite files whole, at once, and runs nothing in them', () => {
	/** Opens the edited store, reads it several ways, and checks: misses, one warning naming `why`, nothing written. */
	function refused(t: TestContext, dir: string, records: readonly CallRecord[], why: RegExp): void {
		logs.clear();
		const before = snapshotOf(dir);
		// A trigger that ran would hold the worker past its time-out: the reads would be FLECHE_READ_ERROR misses, caught below.
		const calls = open(dir);
		t.after(() => calls.close());
		for (let round = 0; round < 3; round++) {
			assert.throws(() => calls.get(records[0]!.key), isKeyError);
			assert.deepStrictEqual(calls.records(), []);
			assert.deepStrictEqual(calls.list(), []);
			assert.deepStrictEqual(calls.stats(), []);
		}
		const warnings = logs.records.map((r) => `${r.code}: ${r.message}`);
		assert.equal(warnings.length, 1, `one warning, not one per call: ${JSON.stringify(warnings)}`);
		assert.match(warnings[0]!, /^FLECHE_FOREIGN_STORE: .*calls\.db is not a database fleche can use/);
		assert.match(warnings[0]!, why);
		assert.deepStrictEqual(snapshotOf(dir), before, 'reading wrote nothing');
		// Writes still work (into the log); the hostile file itself is never rewritten.
		const fresh = writerRecord('after');
		calls.put(fresh);
		assert.deepStrictEqual(calls.get(fresh.key), fresh);
		assert.equal(calls.compact(), false);
		assert.equal(snapshotOf(dir)['calls.db'], before['calls.db']);
	}

	it('a calls table without a column the queries read (records() used to throw on every call)', async (t) => {
		const { dir, db, records } = written(t);
		await edit(db, (d) => d.run('ALTER TABLE calls DROP COLUMN result'));
		refused(t, dir, records, /table calls has no column result/);
	});

	it('a missing arguments table', async (t) => {
		const { dir, db, records } = written(t);
		await edit(db, (d) => d.run('DROP TABLE arguments'));
		refused(t, dir, records, /table arguments is missing/);
	});

	const forever = 'WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r';
	for (const [what, ddl, why] of [
		[
			'a trigger that never ends on the inserts that replay the log',
			`CREATE TRIGGER spin AFTER INSERT ON calls BEGIN SELECT (${forever}); END`,
			/trigger \("spin"\)/,
		],
		[
			'a recursive trigger that rewrites results',
			`CREATE TRIGGER swap AFTER INSERT ON calls BEGIN UPDATE calls SET result = '${hexOf('evil')}'; INSERT INTO calls (key, name) VALUES (hex(randomblob(32)), 'x'); END; PRAGMA recursive_triggers = ON`,
			/trigger \("swap"\)/,
		],
		[
			'a trigger on the schema version the migration writes',
			`CREATE TRIGGER info BEFORE UPDATE ON fleche_info BEGIN SELECT (${forever}); END`,
			/trigger \("info"\)/,
		],
		['a view that never ends', `CREATE VIEW spinning AS ${forever}`, /view \("spinning"\)/],
		['an expression index', 'CREATE INDEX by_length ON calls (length(name))', /index "by_length" is on an expression/],
		[
			'a CHECK constraint',
			'CREATE TABLE stats2 AS SELECT * FROM stats; DROP TABLE stats; CREATE TABLE stats (key TEXT PRIMARY KEY, name TEXT, module TEXT, hits INTEGER CHECK (hits >= 0), misses INTEGER, last_hit REAL, compute_seconds REAL, saved_seconds REAL)',
			/table stats is defined with an expression/,
		],
		[
			'a generated column',
			`CREATE TABLE m2 AS SELECT * FROM metadata; DROP TABLE metadata; CREATE TABLE metadata (id INTEGER PRIMARY KEY, call_key TEXT, name TEXT, data TEXT, big TEXT GENERATED ALWAYS AS (printf('%.*c', 100000000, 'x')))`,
			/(defined with an expression|column metadata\.big is generated)/,
		],
	] as const) {
		it(what, async (t) => {
			const { dir, db, records } = written(t);
			await edit(db, (d) => d.exec(ddl));
			refused(t, dir, records, why);
		});
	}

	it('a field over the size cap reads as damaged (a miss), without being copied out; the other rows still read', async (t) => {
		const { dir, db, records } = written(t);
		const [bigName, bigArgument, bigMetadata, ...fine] = records as [CallRecord, CallRecord, CallRecord, ...CallRecord[]];
		const huge = 'x'.repeat(4 * 1024 * 1024);
		await edit(db, (d) => {
			d.run('UPDATE calls SET module = ? WHERE key = ?', [huge, bigName.key]);
			d.run('UPDATE arguments SET value = ? WHERE call_key = ?', [huge, bigArgument.key]);
			d.run("UPDATE metadata SET data = json_object('pad', ?) WHERE call_key = ?", [huge, bigMetadata.key]);
		});
		logs.clear();
		const before = snapshotOf(dir);
		const calls = open(dir);
		t.after(() => calls.close());
		for (const r of [bigName, bigArgument, bigMetadata]) assert.throws(() => calls.get(r.key), isKeyError, r.key);
		for (const r of fine) assert.deepStrictEqual(calls.get(r.key), r);
		assert.deepStrictEqual(keysOf(calls.records()), keysOf(fine));
		const damaged = logs.codes('FLECHE_CORRUPT_ENTRY').map((r) => r.message);
		for (const r of [bigName, bigArgument, bigMetadata])
			assert.ok(
				damaged.some((m) => m.includes(r.key) && /larger than 1048576 bytes/.test(m)),
				r.key,
			);
		assert.deepStrictEqual(snapshotOf(dir), before, 'reading wrote nothing');
		// And the store refuses to write what it would not read back.
		const identity = { name: 'big', module: 'm.js', version: 1, codeDigest: null, arguments: {} };
		const tooBig: CallRecord = { key: recordKey(identity), ...identity, result: null, metadata: { tags: { pad: huge } } };
		assert.throws(
			() => calls.put(tooBig),
			(err: unknown) => SaveError.is(err) && /metadata\.tags is larger than/.test((err as Error).message),
		);
	});

	it('a row whose stored JSON is broken spoils that record only; reading it removes nothing', async (t) => {
		const { dir, db, records } = written(t);
		await edit(db, (d) => {
			d.run('UPDATE calls SET version = \'1,"result":\' WHERE key = ?', [records[0]!.key]);
			d.run("UPDATE metadata SET data = '{}}]},{' WHERE call_key = ?", [records[1]!.key]);
		});
		logs.clear();
		const before = snapshotOf(dir);
		const calls = open(dir);
		t.after(() => calls.close());
		assert.deepStrictEqual(keysOf(calls.records()), keysOf(records.slice(2)));
		assert.throws(() => calls.get(records[0]!.key), isKeyError);
		assert.equal(calls.list().length, records.length, 'the damaged rows are still there');
		assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').length, 3, JSON.stringify(logs.records));
		assert.deepStrictEqual(snapshotOf(dir), before);
	});

	it('an edited record in the log is a miss and is not evicted by the read', (t) => {
		const dir = tmpDir(t);
		const writer = open(dir);
		const record = writerRecord('edited');
		writer.put(record);
		writer.close();
		const { lines, index } = putLine(dir, record.key);
		lines[index] = reline(lines[index]!.slice(9).replace('"writer.js"', '"elsewhere.js"'));
		fs.writeFileSync(join(dir, 'calls.db.log'), lines.join('\n'));
		const before = snapshotOf(dir);
		logs.clear();
		const reader = open(dir);
		t.after(() => reader.close());
		assert.throws(() => reader.get(record.key), isKeyError);
		assert.throws(() => reader.get(record.key), isKeyError);
		assert.match(logs.codes('FLECHE_CORRUPT_ENTRY')[0]?.message ?? '', /do not hash to its key/);
		assert.deepStrictEqual(reader.list(), [record.key]);
		assert.deepStrictEqual(snapshotOf(dir), before, 'no evict line was appended');
		// Removal is explicit: `fleche verify` reports the record, `--delete` removes it.
		const store = openStore(dir);
		t.after(() => store.close());
		const report = store.verify();
		assert.deepStrictEqual(
			report.damaged.map((d) => [d.kind, d.key]),
			[['call', record.key]],
		);
		assert.match(report.damaged[0]!.reason, /do not hash to its key/);
		assert.deepStrictEqual(snapshotOf(dir), before, 'verify without --delete writes nothing');
		assert.equal(store.verify({ remove: true }).removed, 1);
		const after = open(dir);
		t.after(() => after.close());
		assert.deepStrictEqual(after.list(), []);
	});
});
