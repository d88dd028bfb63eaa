// The PostgreSQL team store (CallPostgres, ValuePostgres, `template = "postgres"`) against a real server started for
// this file (test/support/servers.ts): hits and misses, sync and async; values stored once; schemas kept apart; a
// schema of a newer fleche refused; many processes and threads writing at once; two "machines"; a writer killed
// mid-write; the server stopped and restarted mid-run; a wrong password; the CLI. Counts are checked in the database
// itself through psql.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
	Cache,
	CallPostgres,
	ConfigError,
	FlecheConfig,
	FlecheError,
	ValuePostgres,
	cache as useCache,
	digest,
	fleche,
	flushStats,
	type Metadata,
} from 'fleche';
import { openStore } from 'fleche/inspect';
import { shrinkKeys } from '../../runtime/src/storage/keys.ts';
import { quoteIdent, statements } from '../../runtime/src/storage/postgres/schema.ts';
import { captureLogs } from '../support/logs.js';
import { waitFor } from '../support/poll.js';
import { userProject } from '../support/project.js';
import { startPostgresDatabase, type PostgresServer } from '../support/servers.js';
import { runNode, tmpDir } from '../support/tmp.js';

const writer = fileURLToPath(new URL('../fixtures/pgWriter.js', import.meta.url));
const bin = fileURLToPath(new URL('../../../runtime/bin/fleche.mjs', import.meta.url));
const password = 'pw-S3cret/with:odd@chars';
const logs = captureLogs();

let server: PostgresServer;
let url: string;
let db: string;
let schemas = 0;

before(async () => {
	({ server, url, db } = await startPostgresDatabase({ password }));
});
after(async () => {
	await server?.close();
});

/** A schema of its own per test: tests share the database, never their tables. */
function schema(): string {
	return `t${++schemas}_${process.pid}`;
}

function open(s: string, extra: { timeoutMs?: number; writeDelayMs?: number } = {}): Cache {
	const options = { url, schema: s, ...extra };
	return new Cache(new ValuePostgres(options), new CallPostgres(options));
}

/** fleche/inspect on a cache of this file (as the tree opens a `fleche.toml` section). */
function inspect(cache: Cache): ReturnType<typeof openStore> {
	return openStore({ name: 'team', root: null, kind: 'postgres', source: null, exists: true, readOnly: false, config: cache.toConfig() });
}

async function count(sql: string): Promise<number> {
	return Number((await server.psql(sql, db)).trim());
}

/**
 * Locks `table` from a psql session until one of fleche's sessions waits for that lock, and lets go 0.3 s later (or
 * after 60 s without one: the request waiting then times out, and the test's counts fail). Resolves once the lock is
 * held. A fixed window (it was 0.5 s) was missed by the polling when psql started slowly, which then polled forever.
 * pg_stat_activity is read once per transaction and kept until it ends, so the loop drops that snapshot each round:
 * a session the pool opened after the first round (its idle ones close after 10 s) would otherwise never be seen.
 */
async function lockUntilWaitedOn(table: string): Promise<{ released: Promise<string> }> {
	const locked = `'${table}'::regclass`;
	const released = server.psql(
		`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE;
		DO $$ DECLARE until timestamptz := clock_timestamp() + interval '60 s'; BEGIN
			LOOP
				PERFORM pg_stat_clear_snapshot();
				EXIT WHEN clock_timestamp() >= until OR EXISTS (
					SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.relation = ${locked} AND NOT l.granted AND a.application_name = 'fleche'
				);
				PERFORM pg_sleep(0.01);
			END LOOP;
			PERFORM pg_sleep(0.3);
		END $$; COMMIT`,
		db,
	);
	let done = false;
	void released.then(
		() => (done = true),
		() => (done = true),
	);
	while ((await count(`SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted AND relation = ${locked}`)) === 0) {
		// Its failure (psql's message) says more than the loop could.
		if (done) await released;
		assert.ok(!done, 'the locking session ended before its lock was seen');
		await new Promise((r) => setTimeout(r, 20));
	}
	return { released };
}

describe('PostgreSQL team store', () => {
	it('a file result is stored by content, and an async hit (read without blocking) materialises it as a sync one does', async (t) => {
		const cache = open(schema());
		using _ = useCache(cache);
		const dir = tmpDir(t);
		let runs = 0;
		const render = fleche(
			async (text: string) => {
				runs++;
				const path = join(dir, 'report.txt');
				writeFileSync(path, text);
				return pathToFileURL(path);
			},
			{ name: 'renderPg' },
		);
		await render('pg');
		const hit = await render('pg');
		assert.equal(runs, 1);
		assert.ok(hit instanceof URL, 'a URL, not the stored envelope');
		assert.notEqual(fileURLToPath(hit), join(dir, 'report.txt'), 'a fresh copy');
		assert.equal(readFileSync(hit, 'utf8'), 'pg');
	});

	it('misses then hits, for sync and async functions, on the first call and through a second instance', async () => {
		const s = schema();
		const cache = open(s);
		using _ = useCache(cache);
		let runs = 0;
		const double = fleche(
			function double(n: number): number {
				runs++;
				return n * 2;
			},
			{ name: 'double' },
		);
		const later = fleche(
			async function later(n: number): Promise<{ n: number; at: string }> {
				runs++;
				await new Promise((r) => setTimeout(r, 1));
				return { n, at: 'server' };
			},
			{ name: 'later' },
		);
		assert.equal(double(21), 42);
		assert.equal(double(21), 42);
		assert.deepEqual(await later(5), { n: 5, at: 'server' });
		// The async function's hit is awaited, not blocked on: with the table locked by another session for a moment,
		// timers keep firing while the lookup waits (a blocked thread would fire none until it returned).
		const locker = await lockUntilWaitedOn(`${s}.calls`);
		let ticks = 0;
		const ticker = setInterval(() => ticks++, 5);
		const locked = later(5);
		const ticksAtCall = ticks;
		assert.deepEqual(await locked, { n: 5, at: 'server' });
		clearInterval(ticker);
		await locker.released;
		assert.equal(ticksAtCall, 0);
		assert.ok(ticks > 0, 'timers fired while the async lookup waited for the server');
		const both = await Promise.all([later(6), later(6)]);
		assert.deepEqual(both, [
			{ n: 6, at: 'server' },
			{ n: 6, at: 'server' },
		]);
		assert.equal(runs, 3, 'one run per distinct call, identical calls in flight shared');
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 3);
		assert.equal(await count(`SELECT count(*) FROM ${s}.arguments`), 3);
		assert.ok((await count(`SELECT count(*) FROM ${s}.metadata`)) >= 2, 'metadata rows');
		// Another instance (as another process would) reads the same rows.
		const other = open(s);
		const record = [...other.records({ name: 'double' })];
		assert.equal(record.length, 1);
		assert.equal(other.loadValue(record[0]!.result!), 42);
		const asyncRecord = [...other.records({ name: 'later' })].find((r) => r.arguments['n'] === digest(5))!;
		assert.equal(asyncRecord.async, true);
		// The asynchronous path does not block: both lookups run while the event loop turns.
		const calls = other.calls as CallPostgres;
		const values = other.values as ValuePostgres;
		let turned = false;
		const pending = calls.findAsync(asyncRecord.key);
		setImmediate(() => (turned = true));
		const found = await pending;
		assert.ok(turned, 'the event loop turned while the server answered');
		assert.deepEqual(await values.getAsync(found!.result!), { n: 5, at: 'server' });
		assert.equal(await calls.findAsync(digest('absent')), undefined);
		cache.calls.evict(record[0]!.key);
		assert.equal(await count(`SELECT count(*) FROM ${s}.arguments WHERE call_key = '${record[0]!.key}'`), 0, 'evict removes its rows');
		assert.equal(double(21), 42);
		assert.equal(runs, 4, 'an evicted call runs again');
	});

	it('stores a value once however many calls return it, and keeps statistics', async () => {
		const s = schema();
		const cache = open(s);
		using _ = useCache(cache);
		const same = fleche((n: number) => ({ answer: 'the same', n: n > -1 }), { name: 'same' });
		for (let i = 0; i < 10; i++) same(i);
		for (let i = 0; i < 10; i++) same(i);
		const result = digest({ answer: 'the same', n: true });
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 10);
		assert.equal(await count(`SELECT count(*) FROM ${s}.stored_values WHERE digest = '${result}'`), 1, 'one row for the shared result');
		assert.equal(await count(`SELECT count(*) FROM ${s}.stored_values`), 11, 'ten arguments and one result');
		flushStats();
		const stats = [...(cache.calls as CallPostgres).stats({ name: 'same' })];
		assert.equal(
			stats.reduce((a, x) => a + x.hits, 0),
			10,
		);
		assert.equal(
			stats.reduce((a, x) => a + x.misses, 0),
			10,
		);
		assert.equal(await count(`SELECT sum(hits) FROM ${s}.stats`), 10);
	});

	it('keeps schemas apart, and configurations and messages never hold the password', async () => {
		const a = schema();
		const b = schema();
		const inA = open(a);
		const inB = open(b);
		const upper = fleche((x: string) => x.toUpperCase(), { name: 'upper' });
		useCache(inA, () => upper('alpha'));
		assert.equal([...inB.records()].length, 0, 'schema b sees nothing of a');
		assert.equal(await count(`SELECT count(*) FROM ${a}.calls`), 1);
		assert.equal(await count(`SELECT count(*) FROM ${b}.calls`), 0);
		for (const text of [String(inA), JSON.stringify(inA.toConfig()), String((inA.calls as CallPostgres).url)]) {
			assert.ok(!text.includes(password) && !text.includes(encodeURIComponent(password)), `no password in ${text}`);
			assert.match(text, /postgres:\/\/postgres@127\.0\.0\.1/);
		}
		// A configuration sent elsewhere in this thread still opens: the password is remembered by its URL.
		const reopened = new CallPostgres(inA.calls.toConfig() as unknown as { url: string; schema: string });
		assert.equal(reopened.list().length, 1);
	});

	it('async calls made together share batched lookups: hits, misses and repeats among 2,500 concurrent calls each get their own answer', async () => {
		const s = schema();
		const c = open(s);
		using _ = useCache(c);
		let runs = 0;
		const square = fleche(
			async function square(n: number): Promise<{ n: number; square: number }> {
				runs++;
				return { n, square: n * n };
			},
			{ name: 'square' },
		);
		// 1,200 stored calls (more than one batch statement holds), then 1,200 hits, 1,200 repeats of them and 100
		// misses asked for in one turn of the event loop.
		await Promise.all(Array.from({ length: 1200 }, (_v, i) => square(i)));
		assert.equal(runs, 1200);
		flushStats();
		const asked = [
			...Array.from({ length: 1200 }, (_v, i) => i),
			...Array.from({ length: 1200 }, (_v, i) => 1199 - i),
			...Array.from({ length: 100 }, (_v, i) => 5000 + i),
		];
		const answers = await Promise.all(asked.map((n) => square(n)));
		assert.deepEqual(
			answers.map((a) => a.n),
			asked,
			'each call gets its own result',
		);
		assert.ok(answers.every((a) => a.square === a.n * a.n));
		assert.equal(runs, 1300, 'only the 100 new calls ran');
		flushStats();
		assert.equal(await count(`SELECT sum(hits) FROM ${s}.stats`), 2400);
		assert.equal(await count(`SELECT sum(misses) FROM ${s}.stats`), 1300);
	});

	it('refuses a schema written by a newer fleche with one clear error', async () => {
		const s = schema();
		await server.psql(
			`CREATE SCHEMA ${s}; CREATE TABLE ${s}.fleche_info (name TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO ${s}.fleche_info VALUES ('schema_version', '99')`,
			db,
		);
		const calls = new CallPostgres({ url, schema: s });
		assert.throws(
			() => calls.contains(digest('x')),
			(err: Error) => FlecheError.is(err) && /newer fleche \(schema version 99/.test(err.message) && !err.message.includes(password),
		);
		assert.throws(() => calls.list(), /newer fleche/, 'every later operation too, without asking the server again');
		assert.equal(await count(`SELECT count(*) FROM information_schema.tables WHERE table_schema = '${s}'`), 1, 'nothing was created beside it');
	});

	it('brings a version-1 schema (no lease table) up to date, keeping its records', async () => {
		const s = schema();
		const first = open(s);
		const stored = fleche((n: number) => n + 1, { name: 'migrated' });
		assert.equal(
			useCache(first, () => stored(1)),
			2,
		);
		(first.calls as CallPostgres).close();
		// What a fleche of schema version 1 left: the same tables without `leases`.
		await server.psql(`DROP TABLE ${s}.leases; UPDATE ${s}.fleche_info SET value = '1' WHERE name = 'schema_version'`, db);
		const again = open(s);
		let runs = 0;
		const counted = fleche(
			(n: number) => {
				runs++;
				return n + 1;
			},
			{ name: 'migrated' },
		);
		assert.equal(
			useCache(again, () => counted(1)),
			2,
		);
		assert.equal(runs, 0, 'the record written before the migration still hits');
		assert.equal((await server.psql(`SELECT value FROM ${s}.fleche_info WHERE name = 'schema_version'`, db)).trim(), '4');
		assert.equal(await count(`SELECT count(*) FROM information_schema.tables WHERE table_schema = '${s}' AND table_name = 'leases'`), 1);
	});

	it('batched saves: queued in this process, read back from the queue at once, written in one transaction when due', async () => {
		const s = schema();
		const cache = open(s, { writeDelayMs: 60_000 });
		const calls = cache.calls as CallPostgres;
		const values = cache.values as ValuePostgres;
		const key = cache.save({ name: 'queuedFn', module: 'm.ts', version: 1, codeDigest: null, arguments: { x: 41 }, result: 'forty-two', metadata: {} });
		const server0 = await count(`SELECT count(*) FROM ${s}.calls`).catch(() => 0);
		assert.equal(server0, 0, 'nothing is on the server before the batch is due');
		const record = calls.find(key);
		assert.equal(record?.key, key, 'this process reads its own write');
		assert.equal(values.get(record.result!), 'forty-two', 'and its values');
		assert.ok(calls.contains(key));
		// A second put of the same key before the batch: the later record wins, written once.
		const again = cache.save({ name: 'queuedFn', module: 'm.ts', version: 1, codeDigest: null, arguments: { x: 41 }, result: 'forty-three', metadata: {} });
		assert.equal(again, key);
		// A listing sends the queue first: what it answers includes this process's writes.
		assert.deepEqual(
			[...calls.records({ name: 'queuedFn' })].map((r) => r.key),
			[key],
		);
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 1);
		assert.equal(values.get(calls.get(key).result!), 'forty-three');
		assert.equal(await count(`SELECT count(*) FROM ${s}.arguments`), 1);
		// Many puts: batches are sent as they fill (bounded), without waiting; flush() waits for all of them.
		// Enough awaited reads for this thread's own engine to take them over (see localReadsAfter in store.ts).
		for (let i = 0; i < 300; i++) assert.equal((await calls.findAsync(key))?.key, key);
		const many: string[] = [];
		for (let i = 0; i < 2500; i++)
			many.push(cache.save({ name: 'many', module: null, version: null, codeDigest: null, arguments: { i }, result: i, metadata: {} }));
		// Two batches are on their way and not committed (this thread has not yielded since), 500 puts still queued: an
		// awaited read of any of them finds it (the worker orders it after the batch that writes it; a read of this
		// thread's own, made while batches are on their way, would miss them).
		const found = await Promise.all(many.map((key) => calls.findAsync(key)));
		assert.equal(found.filter((r, i) => r?.key === many[i]).length, 2500, 'every save read back, awaited, while its batch was on its way');
		assert.equal(await values.getAsync(found[1234]!.result!), 1234);
		calls.flush();
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls WHERE name = 'many'`), 2500);
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls c WHERE NOT EXISTS (SELECT 1 FROM ${s}.stored_values v WHERE v.digest = c.result)`), 0);
		// Everything committed: the same reads, three statements of up to 1,000 keys at once, are this thread's reader's,
		// which keeps at most two connections to the server.
		const reread = await Promise.all(many.map((key) => calls.findAsync(key)));
		assert.equal(reread.filter((r, i) => r?.key === many[i]).length, 2500);
		const readers = await count(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fleche reads' AND query LIKE '%"${s}".calls%'`);
		assert.ok(readers >= 1 && readers <= 2, `${readers} reader connections`);
		calls.close();
	});

	it('a record written over a stored one replaces its argument and metadata rows; a new record in the same batch keeps its own', async () => {
		const s = schema();
		const cache = open(s);
		const calls = cache.calls as CallPostgres;
		const call = (metadata: Metadata, result: string, x = 1) => ({
			name: 'replaced',
			module: 'm.ts',
			version: 1,
			codeDigest: null,
			arguments: { x, y: 2 },
			result,
			metadata,
		});
		const key = cache.save(call({ runtime: { timestop: 1 }, tags: { team: 'a' } }, 'first'));
		calls.flush();
		const rows = async (k: string): Promise<string> =>
			(await server.psql(`SELECT string_agg(name || '=' || data, ' ' ORDER BY name) FROM ${s}.metadata WHERE call_key = '${k}'`, db)).trim();
		assert.equal(await rows(key), 'runtime={"timestop":1} tags={"team":"a"}');
		// One batch: the same key again (without its `tags`), and a call new to the store.
		assert.equal(cache.save(call({ runtime: { timestop: 2 } }, 'second')), key);
		const other = cache.save(call({ runtime: { timestop: 3 }, tags: { team: 'b' } }, 'other', 5));
		calls.flush();
		assert.equal(await rows(key), 'runtime={"timestop":2}', 'the earlier record leaves none of its metadata rows');
		assert.equal(await rows(other), 'runtime={"timestop":3} tags={"team":"b"}');
		assert.equal(await count(`SELECT count(*) FROM ${s}.arguments WHERE call_key = '${key}'`), 2);
		assert.equal(await count(`SELECT count(*) FROM ${s}.arguments WHERE call_key = '${other}'`), 2);
		assert.equal(await count(`SELECT calls FROM ${s}.functions WHERE name = 'replaced'`), 2, 'counted once each');
		assert.deepEqual(calls.get(key).metadata, { runtime: { timestop: 2 } });
		assert.equal(cache.values.get(calls.get(key).result!), 'second');
		calls.close();
	});

	it('statements over keys or digests (pages, prefixes, evictions) seek in their index, their parameters sent as the driver sends them', async () => {
		const s = schema();
		const cache = open(s);
		const keys: string[] = [];
		for (let i = 0; i < 40; i++)
			keys.push(cache.save({ name: 'ranged', module: null, version: null, codeDigest: null, arguments: { i }, result: i, metadata: {} }));
		(cache.calls as CallPostgres).flush();
		keys.sort();
		const digests = (await server.psql(`SELECT digest FROM ${s}.stored_values ORDER BY digest`, db)).trim().split('\n');
		const sql = statements(quoteIdent(s));
		const middle = keys[20]!;
		// Prepared without parameter types, as the driver sends them; the plan with sequential scans made costly, so that
		// a table this small is read through its index whenever the statement lets it.
		const cases: [string, string, string][] = [
			['recordsPage', sql.recordsPage, `'${middle}', 5`],
			['recordsPageByName', sql.recordsPageByName, `'${middle}', 5, 'ranged'`],
			['entriesPage', sql.entriesPage, `'${middle}', 5`],
			['callRange', sql.callRange, `'${middle.slice(0, 6)}', '${middle.slice(0, 6)}g', 2`],
			['evictCalls', sql.evictCalls, `ARRAY['${middle}']`],
			['valueRange', sql.valueRange, `'${digests[3]!.slice(0, 6)}', '${digests[3]!.slice(0, 6)}g', 2`],
		];
		for (const [name, text, params] of cases) {
			const plan = await server.psql(`SET enable_seqscan = off; PREPARE q AS ${text}; EXPLAIN EXECUTE q(${params})`, db);
			assert.doesNotMatch(plan, /\((key|digest)\)::text/, `${name} casts its column to text:\n${plan}`);
			assert.match(plan, /Index Cond: .*\b(key|digest) (>|>=|= ANY)/, `${name} does not seek:\n${plan}`);
		}
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 40, 'nothing evicted (EXPLAIN runs nothing)');
		(cache.calls as CallPostgres).close();
	});

	it('shrinks keys by asking the server about each (both storages answer prefixes from their index), as a listing would', async () => {
		const s = schema();
		const cache = open(s);
		const keys: string[] = [];
		for (let i = 0; i < 300; i++)
			keys.push(cache.save({ name: 'short', module: null, version: null, codeDigest: null, arguments: { i }, result: -i, metadata: {} }));
		(cache.calls as CallPostgres).flush();
		const all = [...cache.keys()];
		assert.equal(all.length, 300 + 600, 'calls, argument values and results');
		const page = keys.slice(0, 50);
		assert.deepEqual(cache.shrink(...page), shrinkKeys(page, all));
		const digestOf = cache.calls.get(keys[7]!).result!;
		assert.equal(cache.shrink(digestOf), shrinkKeys([digestOf], all)[0], 'a value digest too');
		assert.equal(cache.expand(cache.shrink(keys[9]!)), keys[9], 'what it shrinks to expands back');
		assert.throws(
			() => cache.shrink('0'.repeat(64)),
			(err: unknown) => FlecheError.is(err) && /No cache entry/.test((err as Error).message),
		);
		(cache.calls as CallPostgres).close();
	});

	it('gc asks the server which values no call refers to: results, arguments and file bodies stay, the rest goes', async () => {
		const s = schema();
		const cache = open(s);
		const calls = cache.calls as CallPostgres;
		const keys: string[] = [];
		for (let i = 0; i < 20; i++)
			keys.push(cache.save({ name: 'kept', module: null, version: null, codeDigest: null, arguments: { i }, result: `r${i}`, metadata: {} }));
		const body = cache.saveValue('the bytes of a file a call returned');
		const withFile = cache.save({
			name: 'file',
			module: null,
			version: null,
			codeDigest: null,
			arguments: {},
			result: 'f',
			metadata: { files: { [body]: { size: 35 } } },
		});
		const orphans = ['left behind', 'and another', 42].map((v) => cache.saveValue(v));
		// A call whose row no longer matches its key (renamed on the server): it reads as damaged, but its values are
		// still referenced by its row, and gc leaves them (a store's gc removes what nothing names, not what it distrusts).
		const tampered = keys[3]!;
		const tamperedResult = calls.get(tampered).result!;
		calls.flush();
		await server.psql(`UPDATE ${s}.calls SET name = 'renamed' WHERE key = '${tampered}'`, db);
		assert.deepEqual([...cache.collect({ dryRun: true }).values].sort(), [...orphans].sort());
		const removed = cache.gc({ graceSeconds: 0 });
		assert.deepEqual([...removed].sort(), [...orphans].sort());
		for (const o of orphans) assert.equal(cache.values.contains(o), false);
		for (const kept of [body, tamperedResult, calls.get(withFile).result!, calls.get(keys[0]!).arguments['i']!]) assert.ok(cache.values.contains(kept), kept);
		assert.equal(await count(`SELECT count(*) FROM ${s}.stored_values`), 20 + 20 + 1 + 1, 'results, arguments, the file call’s result and its body');
		calls.close();
	});

	it('records of one function come a page at a time: exactly a page, a page and one, none lost or repeated', async () => {
		const s = schema();
		const cache = open(s);
		const calls = cache.calls as CallPostgres;
		const save = (name: string, i: number): string =>
			cache.save({ name, module: null, version: null, codeDigest: null, arguments: { i }, result: i, metadata: {} });
		for (let i = 0; i < 1000; i++) save('onePage', i);
		for (let i = 0; i < 1001; i++) save('pageAndOne', i);
		for (let i = 0; i < 3; i++) save('few', i);
		calls.flush();
		for (const [name, n] of [
			['onePage', 1000],
			['pageAndOne', 1001],
			['few', 3],
			['none', 0],
		] as const) {
			const keys = [...calls.records({ name })].map((r) => r.key);
			assert.equal(keys.length, n, name);
			assert.equal(new Set(keys).size, n, `${name}: no record twice`);
		}
		assert.equal(new Set([...calls.records()].map((r) => r.key)).size, 2004, 'every record, each once');
		calls.close();
	});

	it('a lease brings the check that follows it: a result stored between the miss and the lease is read, and only then', async () => {
		const s = schema();
		const here = open(s);
		// Another process, as far as the server can tell: a link of its own (other options), with its own connections.
		const there = open(s, { timeoutMs: 4999 });
		const calls = here.calls as CallPostgres;
		const record = { name: 'raced', module: null, version: null, codeDigest: null, arguments: { x: 1 }, result: 'stored there', metadata: {} };
		const key = there.save(record);
		(there.calls as CallPostgres).evict(key);
		assert.equal(calls.find(key), undefined, 'a miss here');
		there.save(record);
		(there.calls as CallPostgres).flush();
		const leases = calls.leases();
		assert.deepEqual(leases.lease(key, 'owner-here', { staleMs: 30_000, heartbeats: false }), { acquired: true });
		const found = calls.find(key);
		assert.equal(found?.key, key, 'the check after the lease finds what was stored meanwhile');
		assert.equal(here.values.get(found.result!), 'stored there', 'with its value');
		leases.release(key, 'owner-here');
		// The lookup that came with the lease answers only the check in the same turn: later ones ask the server.
		assert.deepEqual(leases.lease(key, 'owner-here', { staleMs: 30_000, heartbeats: false }), { acquired: true });
		(there.calls as CallPostgres).evict(key);
		await new Promise((resolve) => setImmediate(resolve));
		assert.equal(calls.find(key), undefined, 'a later lookup sees the eviction');
		leases.release(key, 'owner-here');
		assert.equal(await count(`SELECT count(*) FROM ${s}.leases`), 0, 'released');
		calls.close();
		(there.calls as CallPostgres).close();
	});

	it('a schema dropped between two uses is made again by the next worker, which then answers', async () => {
		const s = schema();
		const first = open(s);
		const key = first.save({ name: 'dropped', module: null, version: null, codeDigest: null, arguments: { x: 1 }, result: 1, metadata: {} });
		(first.calls as CallPostgres).flush();
		assert.ok(first.calls.contains(key));
		(first.calls as CallPostgres).close();
		await server.psql(`DROP SCHEMA ${s} CASCADE`, db);
		const again = open(s);
		assert.equal(again.calls.contains(key), false, 'a miss, not an error');
		again.save({ name: 'dropped', module: null, version: null, codeDigest: null, arguments: { x: 1 }, result: 1, metadata: {} });
		(again.calls as CallPostgres).flush();
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 1);
		assert.equal((await server.psql(`SELECT value FROM ${s}.fleche_info WHERE name = 'schema_version'`, db)).trim(), '4');
		(again.calls as CallPostgres).close();
	});

	it('brings a version-3 schema (no record copies in the call rows) up to date: old rows read from the tables, new ones from the copies', async () => {
		const s = schema();
		const first = open(s);
		const make = (x: number) => ({
			name: 'copied',
			module: 'm.ts',
			version: 1,
			codeDigest: null,
			arguments: { x },
			result: x * 2,
			metadata: { runtime: { timestop: 10 + x } },
		});
		const old = first.save(make(1));
		(first.calls as CallPostgres).close();
		// What a fleche of schema version 3 left: call rows without the copies.
		await server.psql(
			`ALTER TABLE ${s}.calls DROP COLUMN args_json, DROP COLUMN meta_json; UPDATE ${s}.fleche_info SET value = '3' WHERE name = 'schema_version'`,
			db,
		);
		// A fresh worker connects and migrates before it answers: on a loaded machine that may take longer than the
		// default 5 s a request waits, which the store would take for an outage (this test is about the migration).
		const since = logs.records.length;
		const again = open(s, { timeoutMs: 60_000 });
		const calls = again.calls as CallPostgres;
		const record = calls.find(old);
		assert.deepEqual(
			[Object.keys(record?.arguments ?? {}), record?.metadata['runtime']?.['timestop']],
			[['x'], 11],
			`read from the tables (the store said: ${JSON.stringify(logs.records.slice(since).map((r) => `${r.code}: ${r.message}`))})`,
		);
		assert.equal((await server.psql(`SELECT value FROM ${s}.fleche_info WHERE name = 'schema_version'`, db)).trim(), '4');
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls WHERE args_json IS NULL`), 1, 'the old row left as it was');
		const fresh = again.save(make(2));
		calls.flush();
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls WHERE key = '${fresh}' AND args_json IS NOT NULL AND meta_json IS NOT NULL`), 1);
		const both = [...calls.records({ name: 'copied' })].map((r) => [r.metadata['runtime']?.['timestop'], Object.keys(r.arguments)]);
		assert.deepEqual(both.sort(), [
			[11, ['x']],
			[12, ['x']],
		]);
		// A damaged copy is a damaged record (reported; a cached call misses and recomputes it), never an error for the others.
		await server.psql(`UPDATE ${s}.calls SET args_json = 'not json' WHERE key = '${fresh}'`, db);
		const before = logs.records.length;
		assert.throws(() => calls.find(fresh), /is corrupt/);
		assert.ok(logs.records.slice(before).some((r) => r.code === 'FLECHE_CORRUPT_ENTRY'));
		assert.deepEqual(
			[...calls.records({ name: 'copied' })].map((r) => r.key),
			[old],
		);
		calls.close();
	});

	it('queued saves are written at the end of the process: process.exit(), running out of work, SIGTERM', async () => {
		for (const end of ['exit', 'natural'] as const) {
			const s = schema();
			const r = await runNode(writer, ['queue', url, s, '300', end], { timeoutMs: 120_000 });
			assert.equal(r.code, 0, r.stderr);
			assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 300, `every queued call written (${end})`);
			assert.equal(await count(`SELECT count(*) FROM ${s}.stored_values`), 600, `with its values (${end})`);
		}
		const s = schema();
		const child = spawn(process.execPath, [writer, 'queue', url, s, '300', 'signal'], { stdio: ['ignore', 'pipe', 'pipe'] });
		const closed = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('close', (code, signal) => r([code, signal])));
		try {
			await new Promise<void>((resolve, reject) => {
				child.stdout.on('data', (d: Buffer) => d.toString().includes('queued') && resolve());
				child.once('exit', () => reject(new Error('the writer ended before it queued')));
			});
			assert.equal(await count(`SELECT count(*) FROM ${s}.calls`).catch(() => 0), 0, 'still queued');
			child.kill('SIGTERM');
		} finally {
			setTimeout(() => child.kill('SIGKILL'), 60_000).unref();
		}
		const [, signal] = await closed;
		assert.equal(signal, 'SIGTERM', 'it still ends by the signal');
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 300, 'every queued call written at SIGTERM');
	});

	it('a process whose cached calls are awaited ends by itself: its own connections do not hold it', async () => {
		const s = schema();
		// 300 calls: more than the worker answers before this thread's own engine takes awaited reads over.
		for (const expected of [300, 0]) {
			const r = await runNode(writer, ['awaited', url, s, '300'], { timeoutMs: 120_000 });
			assert.equal(r.code, 0, r.stderr);
			const report = JSON.parse(r.stdout) as { runs: number; holding: string[] };
			assert.equal(report.runs, expected, expected === 0 ? 'every call a hit in the second process' : 'every call a miss in the first');
			// Once its awaited hits are answered, nothing of fleche's keeps the event loop alive: idle connections (the
			// calling thread's pool) and their timers are unreferenced, so the process ends once the program's work does.
			// (The first process may still be writing its last batch, which does hold it until committed.)
			if (expected === 0)
				assert.deepEqual(
					report.holding.filter((h) => /TCP|Timeout|MessagePort|Worker/i.test(h)),
					[],
					report.holding.join(', '),
				);
		}
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 300);
		assert.equal(await count(`SELECT sum(hits) FROM ${s}.stats`), 300);
	});

	it('the listing (fleche/inspect) is answered from the server’s summaries, kept by every write and eviction', async () => {
		const s = schema();
		const cache = open(s);
		const calls = cache.calls as CallPostgres;
		const save = (i: number): string =>
			cache.save({
				name: i % 3 === 0 ? 'third' : 'rest',
				module: i % 2 === 0 ? 'even.ts' : null,
				version: i % 5 === 0 ? 2 : 1,
				codeDigest: null,
				arguments: { i },
				result: i,
				metadata: { runtime: { timestop: 1000 + i } },
			});
		for (let i = 0; i < 30; i++) save(i);
		// Rewrites of stored keys count once.
		for (let i = 0; i < 30; i += 7) save(i);
		calls.addStats([{ key: digest('k'), name: 'rest', module: null, hits: 3, misses: 1, lastHit: 5, computeSeconds: 1, savedSeconds: 2 }]);
		calls.addStats([{ key: digest('k'), name: 'rest', module: null, hits: 1, misses: 0, lastHit: 9, computeSeconds: 0, savedSeconds: 1 }]);
		calls.addStats([{ key: digest('gone'), name: 'evicted', module: 'e.ts', hits: 1, misses: 1, lastHit: null, computeSeconds: 0, savedSeconds: 0 }]);
		const expected = (): { module: string | null; name: string; calls: number; versions: (string | number | null)[] }[] => {
			const groups = new Map<string, { module: string | null; name: string; calls: number; versions: Set<string | number | null> }>();
			for (const r of calls.records()) {
				const id = JSON.stringify([r.module, r.name]);
				const g = groups.get(id) ?? { module: r.module, name: r.name, calls: 0, versions: new Set() };
				g.calls++;
				g.versions.add(r.version);
				groups.set(id, g);
			}
			return [...groups.values()].map((g) => ({ ...g, versions: [...g.versions].sort() }));
		};
		const listed = (): { module: string | null; name: string; calls: number; versions: (string | number | null)[] }[] => {
			const store = inspect(cache);
			try {
				return store
					.functions()
					.filter((f) => f.calls > 0)
					.map((f) => ({ module: f.module, name: f.name, calls: f.calls, versions: [...f.versions].sort() }));
			} finally {
				store.close();
			}
		};
		const byId = (a: { module: string | null; name: string }, b: { module: string | null; name: string }): number =>
			JSON.stringify([a.module, a.name]).localeCompare(JSON.stringify([b.module, b.name]));
		assert.deepEqual(listed().sort(byId), expected().sort(byId));
		assert.equal(
			expected().reduce((n, f) => n + f.calls, 0),
			30,
		);
		const store = inspect(cache);
		try {
			const fns = store.functions();
			const rest = fns.find((f) => f.name === 'rest' && f.module === null)!;
			assert.deepEqual([rest.hits, rest.misses, rest.lastHit, rest.savedSeconds], [4, 1, 9, 3], 'statistics summed by function');
			const evicted = fns.find((f) => f.name === 'evicted')!;
			assert.deepEqual([evicted.calls, evicted.module, evicted.hits], [0, 'e.ts', 1], 'a function with statistics only is listed with no calls');
			// The totals are the summaries' sums (statistics-only functions included): what every call's statistics add up to.
			const perKey = [...calls.stats()];
			assert.deepEqual(store.totals(), {
				calls: 30,
				functions: fns.length,
				hits: perKey.reduce((n, s) => n + s.hits, 0),
				misses: perKey.reduce((n, s) => n + s.misses, 0),
				savedSeconds: perKey.reduce((n, s) => n + s.savedSeconds, 0),
			});
			const all = [...calls.records({ name: 'rest' })].filter((r) => r.module === 'even.ts');
			const counted = all.find((r) => r.metadata['runtime']?.['timestop'] === 1028)!;
			calls.addStats([{ key: counted.key, name: 'rest', module: 'even.ts', hits: 7, misses: 2, lastHit: 11, computeSeconds: 0, savedSeconds: 0 }]);
			const page = store.calls({ module: 'even.ts', name: 'rest' }, { limit: 3 });
			assert.equal(page.total, all.length);
			assert.deepEqual(
				page.calls.map((c) => [c.created, c.hits, c.misses, c.lastHit]),
				[
					[1028, 7, 2, 11],
					[1026, 0, 0, null],
					[1022, 0, 0, null],
				],
				'each call of the page with its own statistics',
			);
			const newest = all
				.map((r) => r.metadata['runtime']?.['timestop'] as number | undefined)
				.filter((v): v is number => v !== undefined)
				.sort((a, b) => b - a)
				.slice(0, 3);
			assert.deepEqual(
				page.calls.map((c) => c.created),
				newest,
				'newest first',
			);
		} finally {
			store.close();
		}
		// Evictions move the counts too.
		const victims = [...calls.records({ name: 'third' })].slice(0, 4).map((r) => r.key);
		assert.equal(calls.evictMany(victims), 4);
		assert.deepEqual(listed().sort(byId), expected().sort(byId));
		calls.close();
	});

	it('close() right after statistics sent ahead waits for them, and says nothing of an outage', async () => {
		const s = schema();
		const calls = open(s).calls as CallPostgres;
		assert.equal(calls.contains(digest('absent')), false, 'the schema is made');
		// Held until the statistics' statement waits for it: the close's flush then reaches the worker while they are
		// on their way. The worker's answer to the flush came before the one to the statistics, and close() ended the
		// worker with that call still waiting, which warned that the store was unreachable (and rested it).
		const locker = await lockUntilWaitedOn(`${s}.function_stats`);
		logs.clear();
		calls.addStats([{ key: digest('ahead'), name: 'ahead', module: null, hits: 3, misses: 1, lastHit: 5, computeSeconds: 0, savedSeconds: 0 }], {
			wait: false,
		});
		calls.close();
		await locker.released;
		assert.equal(await count(`SELECT hits FROM ${s}.stats WHERE key = '${digest('ahead')}'`), 3, 'written: close() waited for them');
		await new Promise((r) => setTimeout(r, 50));
		assert.deepEqual(
			logs.records.filter((r) => r.level !== 'debug').map((r) => r.code),
			[],
			'no warning',
		);
	});

	it('brings a version-2 schema (no listing summaries) up to date: the summaries counted from the rows there', async () => {
		const s = schema();
		const first = open(s);
		for (let i = 0; i < 12; i++) first.save({ name: `f${i % 3}`, module: null, version: null, codeDigest: null, arguments: { i }, result: i, metadata: {} });
		(first.calls as CallPostgres).addStats([
			{ key: digest('s'), name: 'f1', module: null, hits: 2, misses: 0, lastHit: 1, computeSeconds: 0, savedSeconds: 0 },
		]);
		(first.calls as CallPostgres).close();
		// What a fleche of schema version 2 left: no summaries, no triggers, the index `calls_name`.
		await server.psql(
			`DROP TABLE ${s}.functions, ${s}.function_stats; DROP FUNCTION ${s}.fleche_count_calls() CASCADE; DROP INDEX ${s}.calls_name_key, ${s}.calls_listing;
			CREATE INDEX calls_name ON ${s}.calls (name); UPDATE ${s}.fleche_info SET value = '2' WHERE name = 'schema_version'`,
			db,
		);
		const again = open(s);
		const store = inspect(again);
		try {
			const fns = store.functions();
			assert.deepEqual(
				fns.map((f) => [f.name, f.calls, f.hits]),
				[
					['f0', 4, 0],
					['f1', 4, 2],
					['f2', 4, 0],
				],
			);
		} finally {
			store.close();
		}
		assert.equal((await server.psql(`SELECT value FROM ${s}.fleche_info WHERE name = 'schema_version'`, db)).trim(), '4');
		assert.equal(await count(`SELECT count(*) FROM pg_indexes WHERE schemaname = '${s}' AND indexname = 'calls_name'`), 0, 'the old index dropped');
		again.save({ name: 'f0', module: null, version: null, codeDigest: null, arguments: { i: 99 }, result: 99, metadata: {} });
		(again.calls as CallPostgres).flush();
		assert.equal(await count(`SELECT calls FROM ${s}.functions WHERE name = 'f0'`), 5, 'and kept by the triggers from then on');
		(again.calls as CallPostgres).close();
	});

	it('refuses a wrong password and a missing database with one error that names the URL without the password', () => {
		const port = new URL(url).port;
		const wrong = `postgres://postgres:${encodeURIComponent('not-' + password)}@127.0.0.1:${port}/${db}`;
		const cache = new Cache(new ValuePostgres({ url: wrong, schema: 'wrong' }), new CallPostgres({ url: wrong, schema: 'wrong' }));
		using _ = useCache(cache);
		let runs = 0;
		const f = fleche(
			(n: number) => {
				runs++;
				return n;
			},
			{ name: 'refused' },
		);
		const shown = new RegExp(`postgres://postgres@127\\.0\\.0\\.1:${port}/${db}`);
		const clean = (text: string): boolean => !text.includes('not-' + password) && !text.includes(encodeURIComponent('not-' + password));
		logs.clear();
		for (let i = 0; i < 5; i++) assert.equal(f(i), i, 'cached calls still run and return');
		assert.equal(runs, 5);
		const refused = logs.codes('FLECHE_STORE_REFUSED');
		assert.equal(refused.length, 1, 'said once');
		assert.equal(refused[0]!.level, 'error');
		assert.match(refused[0]!.message, /password authentication failed/);
		assert.match(refused[0]!.message, shown);
		assert.ok(
			logs.records.every((r) => clean(r.message)),
			'no password in any log',
		);
		assert.equal(logs.codes('FLECHE_LOOKUP_FAILED').length, 0, 'no warning per call');
		assert.deepEqual(
			logs.records.map((r) => r.code),
			['FLECHE_STORE_REFUSED'],
			'nothing else either (no lease warning per function)',
		);
		// Asked directly (as tools do), the storage throws the same clear error.
		assert.throws(
			() => cache.calls.list(),
			(err: Error) => FlecheError.is(err) && shown.test(err.message) && clean(err.message),
		);
		assert.ok(clean(String(cache)), 'String(cache) has no password');
		const missing = new CallPostgres({ url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/no_such_db` });
		assert.throws(
			() => missing.list(),
			(err: Error) => /database "no_such_db" does not exist/.test(err.message) && !err.message.includes(password),
		);
	});

	it('a copy of fleche without `pg` beside it (a bundle shipped without it) says so once, as an error, and its cached calls still run', async (t) => {
		// The runtime's build copied where `pg` cannot be found (the temporary folder has no node_modules above it).
		const copy = join(tmpDir(t), 'dist');
		cpSync(fileURLToPath(new URL('../../../runtime/dist', import.meta.url)), copy, { recursive: true });
		assert.throws(() => createRequire(join(copy, 'esm', 'index.js')).resolve('pg'), /Cannot find module/, 'pg must not be found from the copy');
		const script = join(copy, 'nopg.mjs');
		writeFileSync(
			script,
			`import { Cache, CallPostgres, ValuePostgres, cache, fleche } from './esm/index.js';
			const url = process.argv[2];
			const store = new Cache(new ValuePostgres({ url, schema: 'nopg' }), new CallPostgres({ url, schema: 'nopg' }));
			let runs = 0;
			const double = fleche((n) => { runs++; return n * 2; }, { name: 'double' });
			const results = cache(store, () => {
				const out = [];
				for (let i = 0; i < 20; i++) out.push(double(i));
				for (let i = 0; i < 3000; i++) store.save({ name: 'saved', module: null, version: null, codeDigest: null, arguments: { i }, result: i, metadata: {} });
				store.calls.flush();
				return out;
			});
			console.log(JSON.stringify({ results, runs }));`,
		);
		const run = await runNode(script, [url], { execArgv: [] });
		assert.equal(run.code, 0, run.stderr);
		const { results, runs } = JSON.parse(run.stdout) as { results: number[]; runs: number };
		assert.deepEqual(
			results,
			Array.from({ length: 20 }, (_, i) => i * 2),
		);
		assert.equal(runs, 20, 'every call ran');
		const said = run.stderr.split('\n').filter((line) => line.includes('[FLECHE_'));
		assert.equal(said.length, 1, run.stderr);
		assert.match(said[0]!, /\[FLECHE_STORE_REFUSED\].*the package 'pg' cannot be loaded beside fleche/);
		assert.match(said[0]!, new RegExp(`postgres://postgres@127\\.0\\.0\\.1:${new URL(url).port}/${db}`), 'the URL named');
		assert.ok(!run.stderr.includes(password) && !run.stderr.includes(encodeURIComponent(password)), 'without its password');
	});

	it('reads `template = "postgres"` and typed tables from fleche.toml, with errors that name file and line', () => {
		const config = FlecheConfig.fromToml(
			[
				'[team]',
				'template = "postgres"',
				`url = "${url}"`,
				'schema = "proj_a"',
				'ssl = { reject_unauthorized = false }',
				'timeout_ms = 1500',
				'serializer = "json"',
				'',
				'[split]',
				`values = { type = "memory" }`,
				`calls = { type = "postgres", url = "${url}" }`,
				'',
				'[bad]',
				'template = "postgres"',
				`url = "${url}"`,
				'timeout_ms = -3',
				'',
				'[nourl]',
				'template = "postgres"',
				'',
				'[notpg]',
				'template = "postgres"',
				'url = "mysql://x@y/z"',
			].join('\n'),
			{ file: '/proj/fleche.toml', home: '/home/u' },
		);
		const team = config.open('team') as Cache;
		assert.ok(team.values instanceof ValuePostgres && team.calls instanceof CallPostgres);
		assert.deepEqual(team.calls.toConfig(), { type: 'postgres', url: team.calls.url, schema: 'proj_a', ssl: { rejectUnauthorized: false }, timeoutMs: 1500 });
		assert.equal(team.values.serializer, 'json');
		assert.ok(!JSON.stringify(config.cacheConfig('team')).includes(encodeURIComponent(password)), 'the password is not in the configuration');
		assert.ok((config.open('split') as Cache).calls instanceof CallPostgres);
		const at = (name: string, line: number, pattern: RegExp): void =>
			assert.throws(
				() => config.open(name),
				(err: Error) => ConfigError.is(err) && err.message.startsWith(`/proj/fleche.toml:${line}: `) && pattern.test(err.message),
			);
		at('bad', 16, /'timeout_ms' must be a positive whole number/);
		at('nourl', 18, /needs a 'url'/);
		at('notpg', 23, /must start with postgres:\/\//);
	});

	it('takes the password from PGPASSWORD or ~/.pgpass (PGPASSFILE) when the URL has none', async () => {
		const s = schema();
		const bare = new URL(url);
		bare.password = '';
		const job = [
			"import { CallPostgres } from 'fleche';",
			`const calls = new CallPostgres({ url: ${JSON.stringify(bare.toString())}, schema: ${JSON.stringify(s)} });`,
			'console.log(JSON.stringify(calls.list()));',
		].join('\n');
		const dir = userProject({ 'job.mjs': job, pgpass: `127.0.0.1:${bare.port}:${db}:postgres:${password.replace(/:/g, '\\:')}\n` });
		chmodSync(join(dir, 'pgpass'), 0o600);
		const { PGPASSWORD: _, PGPASSFILE: __, NODE_TEST_CONTEXT: ___, ...env } = process.env;
		const viaFile = await runNode(join(dir, 'job.mjs'), [], { cwd: dir, env: { ...env, PGPASSFILE: join(dir, 'pgpass') } });
		assert.equal(viaFile.code, 0, viaFile.stderr);
		assert.equal(viaFile.stdout.trim(), '[]', viaFile.stderr);
		assert.ok(!viaFile.stderr.includes('FLECHE_STORE'), viaFile.stderr);
		const viaEnv = await runNode(join(dir, 'job.mjs'), [], { cwd: dir, env: { ...env, PGPASSWORD: password, PGPASSFILE: join(dir, 'absent') } });
		assert.equal(viaEnv.stdout.trim(), '[]', viaEnv.stderr);
		const none = await runNode(join(dir, 'job.mjs'), [], { cwd: dir, env: { ...env, PGPASSFILE: join(dir, 'absent') } });
		assert.notEqual(none.code, 0, 'without a password the server refuses');
		assert.match(none.stderr, /PostgreSQL cache postgres:\/\/postgres@127\.0\.0\.1/);
	});

	it('4 processes × 2 threads writing distinct and identical calls: none lost, none duplicated', async () => {
		const s = schema();
		const n = 25;
		const full = `${url}`;
		const runs = await Promise.all([0, 1, 2, 3].map((p) => runNode(writer, ['write', full, s, `p${p}`, String(n), '2'], { timeoutMs: 120_000 })));
		for (const r of runs) assert.equal(r.code, 0, r.stderr);
		const threads = runs.flatMap((r) =>
			r.stdout
				.trim()
				.split('\n')
				.map((l) => JSON.parse(l) as { runs: number; calls: number }),
		);
		assert.equal(threads.length, 8);
		const distinct = 8 * n + n;
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), distinct, 'every distinct call once');
		assert.equal(await count(`SELECT count(DISTINCT key) FROM ${s}.calls`), distinct);
		assert.equal(await count(`SELECT count(*) FROM ${s}.arguments`), distinct, 'one argument row per call');
		assert.equal(await count(`SELECT count(*) FROM ${s}.stored_values`), 2 * distinct, 'each argument and result once');
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls c WHERE NOT EXISTS (SELECT 1 FROM ${s}.stored_values v WHERE v.digest = c.result)`), 0);
		const calls = threads.reduce((a, t) => a + t.calls, 0);
		assert.equal(calls, 8 * 2 * n);
		// Every call was counted once, as a hit or a miss, by statistics flushed at each thread's exit.
		assert.equal(await count(`SELECT sum(hits) + sum(misses) FROM ${s}.stats`), calls);
		assert.equal(
			await count(`SELECT sum(misses) FROM ${s}.stats`),
			threads.reduce((a, t) => a + t.runs, 0),
		);
	});

	it('two machines (separate folders and fleche.toml, one server) hit each other’s results', async () => {
		const s = schema();
		const job = [
			"import { fleche } from 'fleche';",
			'let runs = 0;',
			'const area = fleche(function area(w, h) { runs++; return w * h; });',
			'const out = [];',
			'for (const [w, h] of JSON.parse(process.argv[2])) out.push(area(w, h));',
			'console.log(JSON.stringify({ runs, out }));',
		].join('\n');
		const toml = `[default]\ncache = "team"\n\n[team]\ntemplate = "postgres"\nurl = "${url}"\nschema = "${s}"\n`;
		const a = userProject({ 'job.mjs': job, 'fleche.toml': toml });
		const b = userProject({ 'job.mjs': job, 'fleche.toml': toml });
		const ra = await runNode(join(a, 'job.mjs'), ['[[2,3],[4,5]]'], { cwd: a });
		assert.equal(ra.code, 0, ra.stderr);
		assert.deepEqual(JSON.parse(ra.stdout), { runs: 2, out: [6, 20] });
		const rb = await runNode(join(b, 'job.mjs'), ['[[2,3],[4,5],[6,7]]'], { cwd: b });
		assert.equal(rb.code, 0, rb.stderr);
		assert.deepEqual(JSON.parse(rb.stdout), { runs: 1, out: [6, 20, 42] }, 'b hits what a computed');
		const again = await runNode(join(a, 'job.mjs'), ['[[6,7]]'], { cwd: a });
		assert.deepEqual(JSON.parse(again.stdout), { runs: 0, out: [42] }, 'a hits what b computed');
		assert.ok(!ra.stderr.includes(password) && !rb.stderr.includes(password));

		// The CLI lists and counts the team cache from either folder, without the password anywhere.
		const ls = await runNode(bin, ['ls', '--cache', 'team'], { cwd: b, execArgv: [] });
		assert.equal(ls.code, 0, ls.stderr);
		assert.match(ls.stdout, /area/);
		const stats = await runNode(bin, ['stats', '--cache', 'team', '--json'], { cwd: a, execArgv: [] });
		assert.equal(stats.code, 0, stats.stderr);
		const totals = stats.stdout
			.trim()
			.split('\n')
			.map((l) => JSON.parse(l) as { type: string; functions?: { name: string; calls: number; hits: number; misses: number }[] })
			.find((m) => m.type === 'stats');
		const area = totals?.functions?.find((f) => f.name === 'area');
		assert.deepEqual({ calls: area?.calls, hits: area?.hits, misses: area?.misses }, { calls: 3, hits: 3, misses: 3 });
		for (const out of [ls.stdout, ls.stderr, stats.stdout, stats.stderr]) {
			assert.ok(!out.includes(password) && !out.includes(encodeURIComponent(password)), 'no password in CLI output');
		}
		const key = (await server.psql(`SELECT key FROM ${s}.calls ORDER BY key LIMIT 1`, db)).trim();
		const show = await runNode(bin, ['show', '--cache', 'team', key.slice(0, 8)], { cwd: a, execArgv: [] });
		assert.equal(show.code, 0, show.stderr);
		assert.match(show.stdout, new RegExp(key));
		const evicted = await runNode(bin, ['evict', '--cache', 'team', '--function', 'area', '--json'], { cwd: a, execArgv: [] });
		assert.equal(evicted.code, 0, evicted.stderr);
		assert.match(evicted.stdout, /"count":3/);
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 0);
		const gc = await runNode(bin, ['gc', '--cache', 'team', '--grace', '0', '--json'], { cwd: a, execArgv: [] });
		assert.equal(gc.code, 0, gc.stderr);
		assert.equal(await count(`SELECT count(*) FROM ${s}.stored_values`), 0, 'gc removed the values no call refers to');
		// fleche/inspect pages through the server.
		const store = openStore({ name: 'team', root: null, kind: 'postgres', source: null, exists: true, readOnly: false, config: open(s).toConfig() });
		// No call is left; a function with statistics stays listed with 0 calls (docs/behaviour.md §11).
		assert.deepEqual(
			store.functions().filter((f) => f.calls !== 0),
			[],
		);
		assert.equal(store.totals().calls, 0);
	});

	it('fleche push and pull carry calls and their values between a local store and the team store', async () => {
		const s = schema();
		const job = [
			"import { fleche } from 'fleche';",
			'let runs = 0;',
			'const area = fleche(function area(w, h) { runs++; return w * h; });',
			'const perimeter = fleche(function perimeter(w, h) { runs++; return 2 * (w + h); });',
			'const out = [];',
			'for (const [w, h] of JSON.parse(process.argv[2])) out.push(area(w, h), perimeter(w, h));',
			'console.log(JSON.stringify({ runs, out }));',
		].join('\n');
		const toml = `[default]\ncache = "local"\n\n[local]\ntemplate = "file"\nroot = "store"\n\n[team]\ntemplate = "postgres"\nurl = "${url}"\nschema = "${s}"\n`;
		const laptop = userProject({ 'job.mjs': job, 'fleche.toml': toml });
		const other = userProject({ 'job.mjs': job, 'fleche.toml': toml });
		const cli = async (cwd: string, ...args: string[]): Promise<Record<string, unknown>> => {
			const r = await runNode(bin, [...args, '--json'], { cwd, execArgv: [] });
			assert.equal(r.code, 0, r.stderr);
			assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password), 'no password in CLI output');
			return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
		};
		const counts = (line: Record<string, unknown>): unknown[] => [line['type'], line['from'], line['to'], line['copied'], line['present'], line['failed']];

		const first = await runNode(join(laptop, 'job.mjs'), ['[[2,3],[4,5]]'], { cwd: laptop });
		assert.deepEqual(JSON.parse(first.stdout), { runs: 4, out: [6, 10, 20, 18] });
		assert.deepEqual(counts(await cli(laptop, 'push', 'team', '--dry-run')), ['transfer', 'default', 'team', 4, 0, 0]);
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 0, 'a dry run copies nothing');
		assert.deepEqual(counts(await cli(laptop, 'push', 'team', '--function', 'area')), ['transfer', 'default', 'team', 2, 0, 0]);
		assert.deepEqual(counts(await cli(laptop, 'push', 'team')), ['transfer', 'default', 'team', 2, 2, 0], 'the calls already there are left alone');
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 4);
		assert.equal(
			await count(`SELECT count(*) FROM ${s}.calls c WHERE NOT EXISTS (SELECT 1 FROM ${s}.stored_values v WHERE v.digest = c.result)`),
			0,
			'every result value travelled',
		);

		// Another machine takes them into its own store and hits them without the server.
		assert.deepEqual(counts(await cli(other, 'pull', 'team')), ['transfer', 'team', 'default', 4, 0, 0]);
		assert.deepEqual(counts(await cli(other, 'pull', 'team')), ['transfer', 'team', 'default', 0, 4, 0]);
		await server.psql(`DELETE FROM ${s}.calls`, db);
		const there = await runNode(join(other, 'job.mjs'), ['[[2,3],[4,5]]'], { cwd: other });
		assert.equal(there.code, 0, there.stderr);
		assert.deepEqual(JSON.parse(there.stdout), { runs: 0, out: [6, 10, 20, 18] }, 'every call hits in the pulled store');

		const human = await runNode(bin, ['push', 'team', '--overwrite'], { cwd: other, execArgv: [] });
		assert.equal(human.code, 0, human.stderr);
		assert.match(human.stdout, /^Copied 4 calls from default to team\n$/);
		const wrong = await runNode(bin, ['push', 'local'], { cwd: other, execArgv: [] });
		assert.equal(wrong.code, 2, 'pushing a cache onto itself is a usage error');
		assert.match(wrong.stderr, /two different caches/);
	});

	it('a writer killed mid-write leaves whole records only', async () => {
		const s = schema();
		const child = spawn(process.execPath, [writer, 'forever', url, s], { stdio: ['ignore', 'pipe', 'pipe'] });
		const closed = new Promise((r) => child.once('close', r));
		let err = '';
		child.stderr.on('data', (d: Buffer) => (err += d.toString()));
		try {
			await new Promise<void>((resolve, reject) => {
				const ceiling = setTimeout(() => reject(new Error(`the writer printed no "writing" within 60 s; its stderr: ${err}`)), 60_000);
				child.stdout.on('data', (d: Buffer) => d.toString().includes('writing') && (clearTimeout(ceiling), resolve()));
				child.on('exit', (code, signal) => (clearTimeout(ceiling), reject(new Error(`writer exited ${String(code ?? signal)}: ${err}`))));
			});
			// Batches go on being written (one transaction each, sent without waiting): the kill lands amid them.
			await new Promise((r) => setTimeout(r, 300));
		} finally {
			// Killed whatever happened: a writer left running would hold this process (its pipes) until the runner's end.
			child.kill('SIGKILL');
			await closed;
		}
		const calls = await count(`SELECT count(*) FROM ${s}.calls`);
		assert.ok(calls >= 20, `${calls} records`);
		assert.equal(
			await count(`SELECT count(*) FROM ${s}.calls c WHERE (SELECT count(*) FROM ${s}.arguments a WHERE a.call_key = c.key) <> 10`),
			0,
			'every record has its 10 arguments',
		);
		assert.equal(
			await count(`SELECT count(*) FROM ${s}.calls c WHERE NOT EXISTS (SELECT 1 FROM ${s}.metadata m WHERE m.call_key = c.key)`),
			0,
			'and its metadata',
		);
		assert.equal(
			await count(`SELECT count(*) FROM ${s}.calls c WHERE NOT EXISTS (SELECT 1 FROM ${s}.stored_values v WHERE v.digest = c.result)`),
			0,
			'and its result value (written in the same batch or before)',
		);
		assert.equal(await count(`SELECT coalesce(sum(calls), 0) FROM ${s}.functions`), calls, 'the listing counted exactly the records committed');
		const cache = open(s);
		assert.equal([...cache.records()].length, calls, 'every record reads back whole');
	});

	it('the server stopped mid-run: calls keep running with one warning, and hit again once it is back', async () => {
		const s = schema();
		const cache = open(s, { timeoutMs: 2000 });
		using _ = useCache(cache);
		let runs = 0;
		const f = fleche(
			(n: number) => {
				runs++;
				return n + 1;
			},
			{ name: 'resilient' },
		);
		let awaitedRuns = 0;
		const g = fleche(
			async (n: number) => {
				awaitedRuns++;
				return n - 1;
			},
			{ name: 'resilientAsync' },
		);
		assert.equal(f(1), 2);
		assert.equal(f(1), 2);
		assert.equal(runs, 1);
		assert.equal(await g(1), 0);
		// Written before the outage (saves are batched, and a batch the outage meets is dropped, not kept).
		(cache.calls as CallPostgres).flush();
		assert.ok(cache.calls.contains(f.fleche.digest(1)));
		// Awaited hits, read by this thread's own engine once there were enough of them (nothing of this thread is on
		// its way to the server).
		for (let i = 0; i < 300; i++) assert.equal(await g(1), 0);
		assert.equal(awaitedRuns, 1);
		assert.ok(
			(await count(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fleche reads' AND query LIKE '%"${s}".calls%'`)) >= 1,
			"this thread's engine read them",
		);
		logs.clear();
		await server.stop();
		try {
			// Awaited calls first: this thread's engine meets the outage before the worker does; one warning for both.
			for (let i = 0; i < 5; i++) assert.equal(await g(i), i - 1);
			assert.equal(awaitedRuns, 6, 'every awaited call ran uncached while the server was down');
			for (let i = 0; i < 20; i++) assert.equal(f(i), i + 1);
			assert.equal(runs, 21, 'every call ran uncached while the server was down');
			assert.equal(logs.codes('FLECHE_STORE_UNREACHABLE').length, 1, 'one warning for the outage');
			const warning = logs.codes('FLECHE_STORE_UNREACHABLE')[0]!.message;
			assert.ok(!warning.includes(password), warning);
		} finally {
			await server.start();
		}
		// Once back (after the back-off), a stored call is a hit again and new calls are stored.
		await waitFor('the server answers again', () => cache.calls.contains(f.fleche.digest(1)));
		const settled: number = runs;
		assert.equal(f(1), 2);
		assert.equal(f(500), 501);
		assert.equal(f(500), 501);
		assert.equal(runs, settled + 1);
		const awaitedSettled: number = awaitedRuns;
		assert.equal(await g(1), 0, 'an awaited hit again');
		assert.equal(await g(500), 499);
		assert.equal(await g(500), 499);
		assert.equal(awaitedRuns, awaitedSettled + 1);
		assert.equal(logs.codes('FLECHE_STORE_UNREACHABLE').length, 1, 'still one warning');
	});
	it('gc --older-than (docs/behaviour.md §18): evicts the calls computed longer ago and the values only they used', async () => {
		const s = schema();
		const store = open(s);
		const now = Date.now() / 1000;
		const save = (x: number, result: string, at: number): string =>
			store.save({ name: 'aged', module: 'src/aged.ts', version: null, codeDigest: null, arguments: { x }, result, metadata: { runtime: { timestop: at } } });
		const old = save(1, 'old result', now - 10 * 86_400);
		const fresh = save(2, 'fresh result', now - 3600);
		assert.deepEqual(store.collect({ olderThan: '7d', dryRun: true }).calls, [old]);
		assert.equal(await count(`SELECT count(*) FROM ${s}.calls`), 2, 'the dry run removed nothing');
		const report = store.collect({ olderThan: '7d', graceSeconds: 0 });
		assert.deepEqual(report.calls, [old]);
		assert.deepEqual([...report.values].sort(), [digest(1), digest('old result')].sort());
		assert.deepEqual(
			[...store.records()].map((r) => r.key),
			[fresh],
		);
		assert.equal(await count(`SELECT count(*) FROM ${s}.stored_values`), 2, "the fresh call's argument and result");
	});
});
