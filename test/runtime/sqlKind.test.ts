// docs/behaviour.md §2.6 "SQL", §4: the `sql` storage kind (runtime/src/storage/sql/kind.ts) on its own — its
// `fleche.toml` tables (`path` or a `sqlite:///` url, the template's `root`, `secret_key`), where tools find a store
// (`locate`, `recognize`), what they list (`listing`), and the lease files beside the database whose release waits for
// the puts the store holds back. Fast (one worker thread, for the listing), so that test/mutation/run.mjs can judge
// kind.ts's mutants with it; the stores themselves are judged by sqlStorage.test.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CallSql, ConfigError, FlecheConfig, recordKey, type CallRecord } from 'fleche';
import { sqlKind } from '../../runtime/src/storage/sql/kind.ts';
import { CallSql as SourceCallSql } from '../../runtime/src/storage/sql/store.ts';
import { captureLogs } from '../support/logs.js';
import { hexOf } from '../support/sqlRecord.js';
import { tmpDir } from '../support/tmp.js';

const logs = captureLogs();

/** The configuration `[s]` of a fleche.toml in /proj reads as. */
function configOf(toml: string): unknown {
	return FlecheConfig.fromToml(toml, { file: '/proj/fleche.toml', home: '/home/u' }).cacheConfig('s');
}

/** Asserts that `[s]` of `toml` is refused, at `line`, with a message matching `pattern`. */
function refused(toml: string, line: number, pattern: RegExp): void {
	assert.throws(
		() => configOf(toml),
		(err: unknown) => ConfigError.is(err) && err.line === line && pattern.test(err.message),
		toml,
	);
}

const calls = (table: string): string => `[s]\nvalues.type = "memory"\n[s.calls]\ntype = "sql"\n${table}`;

function rec(name: string, arg: string, timestop?: number): CallRecord {
	const identity = { name, module: 'm.js', version: 1, codeDigest: null, arguments: { x: hexOf(arg) } };
	const metadata: CallRecord['metadata'] = timestop === undefined ? {} : { runtime: { timestop } };
	return { key: recordKey(identity), ...identity, result: hexOf(`r ${arg}`), metadata };
}

const keyA = 'a1'.repeat(32);
const keyB = 'b2'.repeat(32);

describe("the 'sql' storage kind", () => {
	it("reads a calls table: 'path', or a 'sqlite:///' url (':memory:' too), never both, never neither", () => {
		const sql = (table: string) => (configOf(calls(table)) as { calls: unknown }).calls;
		assert.deepStrictEqual(sql('path = "x.db"'), { type: 'sql', path: '/proj/x.db' });
		assert.deepStrictEqual(sql('url = "sqlite:////abs/x.db"'), { type: 'sql', path: '/abs/x.db' });
		assert.deepStrictEqual(sql('url = "sqlite:///db/x.db"'), { type: 'sql', path: '/proj/db/x.db' });
		// A newline is as good a character of a file name as any other.
		assert.deepStrictEqual(sql('url = "sqlite:////abs/a\\nb.db"'), { type: 'sql', path: '/abs/a\nb.db' });
		assert.deepStrictEqual(sql('url = "sqlite://"'), { type: 'sql', path: ':memory:' });
		assert.deepStrictEqual(sql('url = "sqlite:///:memory:"'), { type: 'sql', path: ':memory:' });
		assert.deepStrictEqual(sql(`path = "x.db"\nsecret_key = "${keyA}:${keyB}"`), { type: 'sql', path: '/proj/x.db', secretKey: [keyA, keyB] });
		refused(calls('path = "x.db"\nurl = "sqlite:///y.db"'), 6, /\[s\.calls\] give either 'path' or 'url', not both/);
		refused(calls(''), 3, /\[s\.calls\] an 'sql' storage needs a 'path' \(or a 'sqlite:\/\/\/…' url\)/);
		refused(calls('secret_key = "a1"'), 3, /an 'sql' storage needs a 'path'/);
		for (const url of ['postgres://db/x', 'sqlite:///', 'sqlite://x.db', 'file:///x.db', ' sqlite:///x.db']) {
			refused(
				calls(`url = "${url}"`),
				5,
				new RegExp(
					`\\[s\\.calls\\] only 'sqlite:///<path>' urls are supported \\(the SQL store is SQLite\\), got '${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}'$`,
				),
			);
		}
		refused(calls('path = "x.db"\nroot = "r"'), 6, /unknown key 'root'.*an 'sql' storage/);
		refused(calls('path = "x.db"\nsecret_key = "zz"'), 6, /'secret_key'/);
		refused('[s]\ncalls.type = "memory"\nvalues = { type = "sql", path = "x.db" }\n', 3, /'sql' stores call records only/);
	});

	it("reads a template: values in files at root/values, calls at root/calls.db or at its 'path' or 'url'", () => {
		assert.deepStrictEqual(configOf('[s]\ntemplate = "sql"\nroot = "r"\n'), {
			type: 'cache',
			values: { type: 'file', root: '/proj/r/values' },
			calls: { type: 'sql', path: '/proj/r/calls.db' },
		});
		assert.deepStrictEqual(configOf('[s]\ntemplate = "sql"\nroot = "r"\npath = "/elsewhere/c.db"\nserializer = "json"\ncompress = true\n'), {
			type: 'cache',
			values: { type: 'file', root: '/proj/r/values', serializer: 'json', compress: true },
			calls: { type: 'sql', path: '/elsewhere/c.db' },
		});
		assert.deepStrictEqual((configOf('[s]\ntemplate = "sql"\nroot = "r"\nurl = "sqlite:///:memory:"\n') as { calls: unknown }).calls, {
			type: 'sql',
			path: ':memory:',
		});
		// The template's key signs the call records too.
		assert.deepStrictEqual(configOf(`[s]\ntemplate = "sql"\nroot = "r"\nsecret_key = "${keyA}"\n`), {
			type: 'cache',
			values: { type: 'file', root: '/proj/r/values', secretKey: [keyA] },
			calls: { type: 'sql', path: '/proj/r/calls.db', secretKey: [keyA] },
		});
		assert.deepStrictEqual(configOf('[s]\ntemplate = "sql"\nroot = "r"\nvalues = { type = "memory" }\n'), {
			type: 'cache',
			values: { type: 'memory' },
			calls: { type: 'sql', path: '/proj/r/calls.db' },
		});
		refused('[s]\ntemplate = "sql"\nroot = "r"\npath = "a.db"\nurl = "sqlite:///b.db"\n', 5, /give either 'path' or 'url', not both/);
		refused('[s]\ntemplate = "sql"\nroot = "r"\nurl = "mysql://x"\n', 4, /only 'sqlite:\/\/\/<path>' urls are supported/);
		refused('[s]\ntemplate = "sql"\nroot = "r"\ncalls = { type = "memory" }\n', 4, /unknown key 'calls'.*a 'sql' template/);
		refused('[s]\ntemplate = "sql"\npath = "c.db"\n', 1, /the 'sql' template needs a 'root'/);
	});

	it('opens a CallSql at its path, signing with its keys; refuses a config without a path', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const plain = sqlKind.open({ type: 'sql', path }, 'calls');
		const signed = sqlKind.open({ type: 'sql', path, secretKey: [keyA] }, 'calls');
		t.after(() => (sqlKind.close!(plain), sqlKind.close!(signed)));
		assert.ok(plain instanceof SourceCallSql);
		assert.deepStrictEqual(plain.toConfig(), { type: 'sql', path });
		assert.deepStrictEqual(signed.toConfig(), { type: 'sql', path, secretKey: [keyA] });
		for (const bad of ['', undefined, 7]) {
			assert.throws(
				() => sqlKind.open({ type: 'sql', path: bad as unknown as string }, 'calls'),
				(err: unknown) => err instanceof TypeError && /An 'sql' storage needs a 'path'/.test(err.message),
				String(bad),
			);
		}
	});

	it('locates a store at its folder, there once its log or its database is; not a store in memory', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'sub', 'calls.db');
		for (const path of ['', ':memory:', undefined]) {
			assert.deepStrictEqual(sqlKind.locate!({ type: 'sql', path: path as unknown as string }, 'calls'), { root: null, exists: false, watch: [] });
		}
		assert.deepStrictEqual(sqlKind.locate!({ type: 'sql', path }, 'calls'), { root: join(dir, 'sub'), exists: false, watch: [join(dir, 'sub')] });
		assert.deepStrictEqual(sqlKind.locate!({ type: 'sql', path: '~/x/c.db' }, 'calls'), {
			root: join(homedir(), 'x'),
			exists: existsSync(join(homedir(), 'x', 'c.db')) || existsSync(join(homedir(), 'x', 'c.db.log')),
			watch: [join(homedir(), 'x')],
		});
		mkdirSync(join(dir, 'sub'));
		writeFileSync(`${path}.log`, '');
		assert.equal(sqlKind.locate!({ type: 'sql', path }, 'calls').exists, true, 'a log alone');
		const other = join(dir, 'sub', 'other.db');
		writeFileSync(other, '');
		assert.equal(sqlKind.locate!({ type: 'sql', path: other }, 'calls').exists, true, 'a database alone');
	});

	it('recognizes a folder holding calls.db or calls.db.log, with its values in files beside', (t) => {
		const dir = tmpDir(t);
		assert.equal(sqlKind.recognize!(dir), undefined);
		writeFileSync(join(dir, 'other.db'), '');
		assert.equal(sqlKind.recognize!(dir), undefined);
		writeFileSync(join(dir, 'calls.db.log'), '');
		const pair = { values: { type: 'file', root: join(dir, 'values') }, calls: { type: 'sql', path: join(dir, 'calls.db') } };
		assert.deepStrictEqual(sqlKind.recognize!(dir), pair);
		const db = tmpDir(t);
		writeFileSync(join(db, 'calls.db'), '');
		assert.deepStrictEqual(sqlKind.recognize!(db), { values: { type: 'file', root: join(db, 'values') }, calls: { type: 'sql', path: join(db, 'calls.db') } });
	});

	it("lists a store's functions and one function's page, its entries with their records", (t) => {
		const dir = tmpDir(t);
		const store = new CallSql({ path: join(dir, 'calls.db'), writeDelayMs: 0 });
		t.after(() => store.close());
		const [old, recent, undated] = [rec('f', '1', 100), rec('f', '2', 200), rec('f', '3')];
		for (const r of [old, recent, undated, rec('g', '1')]) store.put(r);
		const listing = sqlKind.listing!(store);
		assert.deepStrictEqual(
			listing
				.functions()
				.map((f) => [f.name, f.calls])
				.sort(),
			[
				['f', 3],
				['g', 1],
			],
		);
		const entry = (r: CallRecord, created: number | null) => ({ key: r.key, module: 'm.js', name: 'f', version: 1, created, record: r });
		assert.deepStrictEqual(listing.page({ module: 'm.js', name: 'f' }, 0, 10), {
			total: 3,
			entries: [entry(recent, 200), entry(old, 100), entry(undated, null)],
			stats: [],
		});
		assert.deepStrictEqual(listing.page({ module: 'm.js', name: 'f' }, 1, 1), { total: 3, entries: [entry(old, 100)], stats: [] });
		store.put(rec('h', '1'));
		// Closing through the kind writes what the store holds (an idle put is written at once; the second is held).
		const held = new CallSql({ path: join(dir, 'calls.db'), writeDelayMs: 60_000 });
		held.put(rec('k', '1'));
		held.put(rec('k', '2'));
		// Measured on disk: any read in this thread would write what every store of it holds first.
		const before = statSync(join(dir, 'calls.db.log')).size;
		sqlKind.close!(held);
		assert.ok(statSync(join(dir, 'calls.db.log')).size > before, 'written at close');
		assert.equal(store.records({ name: 'k' }).length, 2);
	});

	it('keeps leases in <path>.leases; a release waits for the puts the store holds back; none in memory', (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const store = new CallSql({ path, writeDelayMs: 60_000 });
		const reader = new CallSql({ path });
		t.after(() => (store.close(), reader.close()));
		assert.equal(sqlKind.leases!(new CallSql({ path: ':memory:' })), undefined);
		const leases = sqlKind.leases!(store)!;
		assert.equal(sqlKind.leases!(store), leases, 'one per store');
		const terms = { staleMs: 60_000, heartbeats: false };
		const [first, second] = [rec('f', 'first'), rec('f', 'second')];

		// Nothing held: released at once.
		assert.deepStrictEqual(leases.lease(first.key, 'me', terms), { acquired: true });
		assert.deepStrictEqual(readdirSync(`${path}.leases`), [first.key]);
		leases.release(first.key, 'me');
		assert.deepStrictEqual(readdirSync(`${path}.leases`), []);

		// A put held back: the lease stays until it is written, then goes, and its waiter finds the record.
		store.put(first);
		assert.deepStrictEqual(leases.lease(second.key, 'me', terms), { acquired: true });
		store.put(second);
		leases.release(second.key, 'me');
		assert.deepStrictEqual(readdirSync(`${path}.leases`), [second.key], 'held with the put');
		store.flush();
		assert.deepStrictEqual(readdirSync(`${path}.leases`), []);
		assert.deepStrictEqual(reader.get(second.key), second);
		assert.deepStrictEqual(logs.records, []);
	});

	it('a release that fails (its lease file descriptor closed behind its back) is a warning, not an exception', { skip: !existsSync('/proc/self/fd') }, (t) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		const store = new CallSql({ path, writeDelayMs: 60_000 });
		t.after(() => store.close());
		const leases = sqlKind.leases!(store)!;
		const r = rec('f', 'failed release');
		assert.deepStrictEqual(leases.lease(r.key, 'me', { staleMs: 60_000, heartbeats: false }), { acquired: true });
		const file = join(`${path}.leases`, r.key);
		const fd = readdirSync('/proc/self/fd').find((n) => {
			try {
				return readlinkSync(`/proc/self/fd/${n}`) === file;
			} catch {
				return false;
			}
		});
		assert.ok(fd !== undefined, 'the lease file is held open');
		closeSync(Number(fd));
		logs.clear();
		leases.release(r.key, 'me');
		assert.deepStrictEqual(
			logs.records.map((l) => l.code),
			['FLECHE_LEASE_FAILED'],
		);
		assert.ok(logs.records[0]!.message.startsWith(`Cannot release the lease of ${r.key} in ${path}.leases: `), logs.records[0]!.message);
		assert.ok(logs.records[0]!.cause instanceof Error);
		logs.clear();
	});
});
