// The cached-call protocol (with per-caller cancellation): one table of calls in flight shared by
// direct calls and pool submissions, cancellation per caller, records that carry their key scheme (another scheme is
// stale, never damage), the `refreshing` capability and the abandon of a prepared call.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Piscina } from 'piscina';
import initSqlJs from 'sql.js';
import {
	cache,
	Cache,
	CacheWrapper,
	CallSql,
	digest,
	fleche,
	ValueFile,
	workerFile,
	wrapExecutor,
	type CallRecord,
	type Metadata,
	type PendingCall,
	type PreparedCall,
} from 'fleche';
import { explain, openStore } from 'fleche/inspect';
import { captureLogs } from '../support/logs.ts';
import { fileStore, freshDir, memoryStore } from '../support/stores.ts';
import { loadFixture } from '../support/fixtures.ts';
import type * as Concurrency from '../fixtures/concurrencyFns.ts';
import type * as Protocol from '../fixtures/protocolFns.ts';

const logs = captureLogs();
// Loaded from the built files, the ones a worker imports, so both sides hold the same functions.
const fns = await loadFixture<typeof Concurrency>('concurrencyFns.js');
const { slowWhere } = await loadFixture<typeof Protocol>('protocolFns.js');

/** A wrapped piscina pool of fleche workers with `maxThreads` threads, destroyed after the file. */
function piscinaPool(maxThreads: number) {
	const pool = wrapExecutor(new Piscina({ filename: workerFile('piscina'), maxThreads, minThreads: 1 }));
	after(() => pool.destroy());
	return pool;
}

/** The signals of two callers of the same call. */
const twoCallers = () => [new AbortController(), new AbortController()] as const;

/** Polls until `predicate` holds; fails after a generous ceiling instead of asserting on elapsed time. */
async function until(predicate: () => boolean, what: string): Promise<void> {
	for (let i = 0; i < 3000 && !predicate(); i++) await new Promise((r) => setTimeout(r, 10));
	assert.ok(predicate(), `timed out waiting for ${what}`);
}

describe('one table of calls in flight', () => {
	test('a direct async call, then a submission of the same call while it runs: the body runs once, here', async () => {
		const pool = piscinaPool(1);
		const store = memoryStore();
		const direct = cache(store, () => slowWhere(300, 'direct first'));
		const submitted = cache(store, () => pool.submit(slowWhere, 300, 'direct first'));
		const [a, b] = await Promise.all([direct, submitted]);
		assert.deepEqual(a, { tag: 'direct first', threadId: 0 });
		assert.deepEqual(b, a, 'the submission got the direct call’s result');
		assert.equal(pool.completed, 0, 'the submission never reached the pool');
		assert.equal(
			cache(store, () => slowWhere.fleche.contains(300, 'direct first')),
			true,
		);
	});

	test('a submission, then a direct call of the same call while it runs: the body runs once, in the worker', async () => {
		const pool = piscinaPool(1);
		const { cache: store } = fileStore();
		const submitted = cache(store, () => pool.submit(slowWhere, 300, 'submitted first'));
		const direct = cache(store, () => slowWhere(300, 'submitted first'));
		const [a, b] = await Promise.all([submitted, direct]);
		assert.notEqual(a.threadId, 0, 'computed in a worker thread');
		assert.deepEqual(b, a, 'the direct call waited for the worker instead of running the body itself');
		assert.equal(pool.completed, 1);
		assert.equal(
			cache(store, () => slowWhere.fleche.contains(300, 'submitted first')),
			true,
			'the worker stored it',
		);
	});
});

describe('cancellation per caller', () => {
	let runs = 0;
	/** The signal each run of the body received. */
	const bodySignals: (AbortSignal | undefined)[] = [];
	const release: (() => void)[] = [];
	const abortable = fleche(
		async (x: number, signal?: AbortSignal) => {
			runs++;
			bodySignals.push(signal);
			await new Promise<void>((resolve, reject) => {
				release.push(resolve);
				signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
			});
			return x * 2;
		},
		{ name: 'abortable' },
	);

	/** Two identical calls of `abortable(x)`, with these signals, and the one computation's own signal. */
	function twoCalls(x: number, signals: readonly [AbortSignal, AbortSignal | undefined]) {
		const store = memoryStore();
		const before = runs;
		const first = cache(store, () => abortable(x, signals[0]));
		const second = cache(store, () => abortable(x, signals[1]));
		assert.equal(runs, before + 1, 'one computation');
		return { store, before, first, second, bodySignal: bodySignals.at(-1)! };
	}

	test('an AbortSignal argument does not enter the key: calls that differ only by their signal share it', () => {
		const key = abortable.fleche.digest(1);
		assert.equal(abortable.fleche.digest(1, new AbortController().signal), key);
		assert.equal(abortable.fleche.digest(1, AbortSignal.abort()), key);
		assert.notEqual(abortable.fleche.digest(2, new AbortController().signal), key);
	});

	test('two identical calls, one caller aborts: it rejects with AbortError, the other gets the result, the body is not aborted', async () => {
		const [a, b] = twoCallers();
		const { store, before, first, second, bodySignal } = twoCalls(1, [a.signal, b.signal]);
		a.abort();
		await assert.rejects(first, { name: 'AbortError' });
		assert.equal(bodySignal.aborted, false, 'the other caller still waits');
		release.shift()!();
		assert.equal(await second, 2);
		assert.equal(runs, before + 1);
		assert.equal(
			cache(store, () => abortable.fleche.contains(1)),
			true,
		);
		// A hit ignores the signal it is given.
		assert.equal(await cache(store, () => abortable(1, new AbortController().signal)), 2);
		assert.equal(runs, before + 1);
	});

	test('both callers abort: the body’s signal aborts, nothing is stored, and the next caller starts afresh', async () => {
		const [a, b] = twoCallers();
		const { store, before, first, second, bodySignal } = twoCalls(5, [a.signal, b.signal]);
		a.abort();
		assert.equal(bodySignal.aborted, false);
		b.abort();
		await assert.rejects(first, { name: 'AbortError' });
		await assert.rejects(second, { name: 'AbortError' });
		assert.equal(bodySignal.aborted, true, 'every caller gave up: the computation is aborted');
		release.shift();
		assert.equal(
			cache(store, () => abortable.fleche.contains(5)),
			false,
		);
		const third = cache(store, () => abortable(5));
		assert.equal(runs, before + 2, 'a new caller does not wait for the aborted computation');
		release.shift()!();
		assert.equal(await third, 10);
	});

	test('a caller without a signal never gives up: another caller’s abort does not abort the body', async () => {
		const a = new AbortController();
		const { before, first, second, bodySignal } = twoCalls(7, [a.signal, undefined]);
		a.abort();
		await assert.rejects(first, { name: 'AbortError' });
		assert.equal(bodySignal.aborted, false);
		release.shift()!();
		assert.equal(await second, 14);
		assert.equal(runs, before + 1);
	});

	test('two identical submissions, one aborted: it rejects, the other gets the result from one task', async () => {
		const pool = piscinaPool(1);
		const store = memoryStore();
		const [a, b] = twoCallers();
		const first = cache(store, () => pool.submit(fns.sleepy, 300, 9, { signal: a.signal }));
		const second = cache(store, () => pool.submit(fns.sleepy, 300, 9, { signal: b.signal }));
		a.abort();
		await assert.rejects(first, { name: 'AbortError' });
		assert.equal(await second, 9);
		assert.equal(pool.completed, 1, 'the identical submission shared the task');
		assert.equal(
			cache(store, () => fns.sleepy.fleche.contains(300, 9)),
			true,
			'the task ran to the end and was stored',
		);
	});

	test('two identical submissions, both aborted: the running task is aborted', { timeout: 120_000 }, async () => {
		const pool = piscinaPool(1);
		const store = memoryStore();
		const [a, b] = twoCallers();
		// A task far longer than the test's ceiling: only an abort frees the pool's one worker.
		const first = cache(store, () => pool.submit(fns.sleepy, 600_000, 11, { signal: a.signal }));
		const second = cache(store, () => pool.submit(fns.sleepy, 600_000, 11, { signal: b.signal }));
		await until(() => pool.queueSize === 0, 'the task to reach the worker');
		a.abort();
		b.abort();
		await assert.rejects(first, { name: 'AbortError' });
		await assert.rejects(second, { name: 'AbortError' });
		assert.equal(await cache(store, () => pool.submit(fns.cube, 3)), 27, 'the worker is free again');
		assert.equal(
			cache(store, () => fns.sleepy.fleche.contains(600_000, 11)),
			false,
		);
	});
});

describe('records carry their key scheme', () => {
	let runs = 0;
	const twice = fleche(
		(x: number) => {
			runs++;
			return x * 2;
		},
		{ name: 'twice', module: 'test/protocol' },
	);

	test('file store: a record of another scheme is a quiet miss, kept on read, and the recompute replaces it', () => {
		const { cache: store, root } = fileStore();
		const key = twice.fleche.digest(1);
		const file = join(root, 'calls', key);
		const edit = (change: (record: Record<string, unknown>) => void): void => {
			const envelope = JSON.parse(fs.readFileSync(file, 'utf8')) as { record: Record<string, unknown> };
			change(envelope.record);
			fs.writeFileSync(file, JSON.stringify(envelope, null, 2));
		};
		const schemeOnDisk = () => (JSON.parse(fs.readFileSync(file, 'utf8')) as { record: { scheme?: string } }).record.scheme;
		logs.clear();
		assert.equal(
			cache(store, () => twice(1)),
			2,
		);
		assert.equal(runs, 1);
		assert.equal(schemeOnDisk(), 'fleche.call/1', 'new records name their scheme');

		// Written by today's build: no scheme field, read as the current scheme.
		edit((r) => delete r['scheme']);
		assert.equal(
			cache(store, () => twice(1)),
			2,
		);
		assert.equal(runs, 1, 'a record without a scheme is a hit');

		// Claims another scheme: read back as it is, never deleted, never served.
		edit((r) => (r['scheme'] = 'fleche.call/2'));
		assert.equal(store.calls.get(key).scheme, 'fleche.call/2');
		assert.equal([...store.records()].length, 1);
		assert.ok(fs.existsSync(file), 'reading a stale record keeps it');
		assert.equal(
			cache(store, () => twice(1)),
			2,
		);
		assert.equal(runs, 2, 'a stale record is a miss');
		assert.equal(schemeOnDisk(), 'fleche.call/1', 'the recompute replaced it');

		// Another scheme and fields that do not hash to the key under this one: still stale, not damage.
		edit((r) => {
			r['scheme'] = 'fleche.call/2';
			(r['arguments'] as Record<string, string>)['x'] = digest(99);
		});
		assert.doesNotThrow(() => store.calls.get(key));
		assert.ok(fs.existsSync(file));
		assert.equal(
			cache(store, () => twice(1)),
			2,
		);
		assert.equal(runs, 3);
		assert.equal(store.loadRecord(key).scheme, 'fleche.call/1');
		assert.deepEqual(logs.records, [], 'no corruption reported, nothing warned');
	});

	test('SQL store: a database written by today’s build reads as the current scheme; a row of another scheme is stale', async () => {
		const dir = freshDir();
		const path = join(dir, 'calls.db');
		const open = () => {
			const calls = new CallSql({ path });
			after(() => calls.close());
			return { calls, store: new Cache(new ValueFile({ root: join(dir, 'values') }), calls) };
		};
		const key = twice.fleche.digest(2);
		const first = open();
		const before = runs;
		assert.equal(
			cache(first.store, () => twice(2)),
			4,
		);
		assert.equal(first.calls.get(key).scheme, 'fleche.call/1');
		first.calls.compact();
		first.calls.close();

		// Rewrite the snapshot as today's build wrote it (schema 1: no scheme column), or with another scheme.
		const SQL = await initSqlJs();
		const rewrite = (statements: string): void => {
			const db = new SQL.Database(fs.readFileSync(path));
			db.exec(statements);
			fs.writeFileSync(path, db.export());
			db.close();
		};
		rewrite("ALTER TABLE calls DROP COLUMN scheme; UPDATE fleche_info SET value = '1' WHERE name = 'schema_version';");
		logs.clear();
		const legacy = open();
		assert.equal(legacy.calls.get(key).scheme, undefined);
		assert.equal(
			cache(legacy.store, () => twice(2)),
			4,
		);
		assert.equal(runs, before + 1, 'a row without a scheme is a hit');
		legacy.calls.close();

		rewrite(
			"ALTER TABLE calls ADD COLUMN scheme TEXT NULL; UPDATE fleche_info SET value = '2' WHERE name = 'schema_version'; UPDATE calls SET scheme = 'fleche.call/2';",
		);
		const stale = open();
		assert.equal(stale.calls.get(key).scheme, 'fleche.call/2', 'read back, not rejected');
		assert.deepEqual(stale.calls.list(), [key], 'and not removed');
		assert.equal(
			cache(stale.store, () => twice(2)),
			4,
		);
		assert.equal(runs, before + 2, 'a stale row is a miss');
		assert.equal(stale.calls.get(key).scheme, 'fleche.call/1', 'the recompute replaced it');
		assert.deepEqual(logs.records, []);
	});
});

describe('one key', () => {
	test('explain keys a call as the call itself does: defaults, ignored arguments, the same digests', () => {
		const { cache: store, root } = fileStore();
		const scaled = fleche((x: number, scale = 10, verbose = false) => (verbose ? x : x * scale), {
			name: 'scaled',
			module: 'test/protocol',
			ignore: 'verbose',
		});
		assert.equal(
			cache(store, () => scaled(2)),
			20,
		);
		const ref = { module: 'test/protocol', name: 'scaled' };
		const hit = explain(openStore(root), ref, { x: 2, verbose: true });
		assert.equal(hit.hit, true);
		assert.equal(hit.key, scaled.fleche.digest(2));
		const miss = explain(openStore(root), ref, { x: 2, scale: 3 });
		assert.equal(miss.hit, false);
		assert.deepEqual(
			miss.differences.map((d) => [d.field, d.name]),
			[['argument', 'scale']],
		);
	});
});

/** A cache that counts what the protocol does with the calls it prepares. */
class Watching extends CacheWrapper {
	committed = 0;
	abandoned = 0;
	override prepare(call: PendingCall): PreparedCall {
		const inner = super.prepare(call);
		return {
			key: inner.key,
			commit: (result: unknown, metadata: Metadata, options?: { async?: boolean }): CallRecord => {
				this.committed++;
				return inner.commit(result, metadata, options);
			},
			abandon: () => {
				this.abandoned++;
				inner.abandon();
			},
		};
	}
}

describe('prepared calls and cache capabilities', () => {
	test('a prepared call is abandoned when the body throws, rejects or returns undefined, and committed otherwise', async () => {
		const watching = new Watching(memoryStore());
		const outcome = fleche(
			(how: string) => {
				if (how === 'throw') throw new Error('thrown');
				if (how === 'undefined') return undefined;
				return how === 'reject' ? Promise.reject(new Error('rejected')) : how;
			},
			{ name: 'outcome' },
		);
		assert.throws(() => cache(watching, () => outcome('throw')), /thrown/);
		assert.deepEqual([watching.abandoned, watching.committed], [1, 0]);
		await assert.rejects(cache(watching, () => outcome('reject')) as Promise<unknown>, /rejected/);
		assert.deepEqual([watching.abandoned, watching.committed], [2, 0]);
		assert.equal(
			cache(watching, () => outcome('undefined')),
			undefined,
		);
		assert.deepEqual([watching.abandoned, watching.committed], [3, 0]);
		assert.equal(
			cache(watching, () => outcome('fine')),
			'fine',
		);
		assert.deepEqual([watching.abandoned, watching.committed], [3, 1]);
	});

	test('any cache that says it is refreshing (not only RefreshingCache) evicts the entry a rerun returning undefined replaces', () => {
		class Recomputing extends CacheWrapper {
			override get refreshing(): boolean {
				return true;
			}
			override lookup(): undefined {
				return undefined;
			}
		}
		const store = memoryStore();
		let answer: number | undefined = 1;
		const maybe = fleche((x: number) => answer && x, { name: 'maybe' });
		assert.equal(
			cache(store, () => maybe(3)),
			3,
		);
		answer = undefined;
		logs.clear();
		assert.equal(
			cache(new Recomputing(store), () => maybe(3)),
			undefined,
		);
		assert.equal(
			cache(store, () => maybe.fleche.contains(3)),
			false,
		);
		assert.match(logs.codes('FLECHE_UNDEFINED_RESULT')[0]!.message, /during rerun, evicted/);
	});
});
