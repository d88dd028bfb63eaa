// docs/behaviour.md §18 (expiry): max ages per function, per cache and in fleche.toml, stale-while-revalidate, gc
// --older-than, SizeLimitedCache's byte budget and the collection of the values of evicted calls, and expiry as tools
// see it (fleche/inspect, `fleche ls`). Time moves through setClock, never by sleeping.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
	fleche,
	cache,
	meta,
	setClock,
	Cache,
	CallFile,
	CallMemory,
	CallSql,
	ConfigError,
	FlecheConfig,
	KeyError,
	SizeLimitedCache,
	ValueFile,
	ValueMemory,
	digest,
	type CallRecord,
	type FlecheOptions,
} from 'fleche';
import { openStore } from 'fleche/inspect';
import { freshDir, memoryStore } from '../support/stores.ts';
import { captureLogs } from '../support/logs.ts';
import { runNode } from '../support/tmp.ts';
import { runtimeDir } from '../support/project.ts';
import { waitFor } from '../support/poll.ts';

const logs = captureLogs();
const HOUR = 3600_000;
const DAY = 24 * HOUR;

/** A clock the test moves: starts at the real time. */
function clock(): { advance(ms: number): void; readonly now: number } {
	let now = Date.now();
	setClock(() => now);
	return {
		advance(ms: number) {
			now += ms;
		},
		get now() {
			return now;
		},
	};
}

afterEach(() => setClock(null));

/** A counting function: its result says which run made it. */
function counted(options: FlecheOptions, name: string) {
	const state = { runs: 0 };
	const f = fleche((x: number) => `${x}#${++state.runs}`, { name, ...options });
	return { f, state };
}

describe('maxAge', () => {
	test('contains() under a max age: a call whose record is damaged is not there (a reported miss, as a call would find it), and nothing throws', () => {
		const root = freshDir();
		using _ = cache(new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') })));
		const { f } = counted({ maxAge: '1h' }, 'damagedRecord');
		assert.equal(f(1), '1#1');
		assert.equal(f.fleche.contains(1), true);
		writeFileSync(join(root, 'calls', f.fleche.digest(1)), '{ not a record');
		assert.equal(f.fleche.contains(1), false);
	});

	test('per function: a call older than its max age is a miss, recomputed and replaced; one exactly that old is still served', () => {
		const t = clock();
		using _ = cache(memoryStore());
		const { f, state } = counted({ maxAge: '1h' }, 'perFunction');
		assert.equal(f(1), '1#1');
		t.advance(HOUR);
		assert.equal(f(1), '1#1', 'exactly one hour old: fresh');
		t.advance(1);
		assert.equal(f(1), '1#2', 'older than an hour: recomputed');
		assert.equal(f(1), '1#2', 'and the new result replaced the old one');
		assert.equal(state.runs, 2);
		assert.equal(f.fleche.contains(1), true);
		t.advance(2 * HOUR);
		assert.equal(f.fleche.contains(1), false, 'contains answers as a call would');
		assert.throws(
			() => f.fleche.load(1),
			(err: unknown) => KeyError.is(err),
		);
	});

	test('seconds and duration strings are the same max age; bad ones are refused at wrap time', () => {
		const t = clock();
		using _ = cache(memoryStore());
		const a = counted({ maxAge: 90 }, 'numeric');
		const b = counted({ maxAge: '90s' }, 'spelled');
		a.f(1);
		b.f(1);
		t.advance(91_000);
		a.f(1);
		b.f(1);
		assert.deepEqual([a.state.runs, b.state.runs], [2, 2]);
		for (const bad of ['90', '-1h', 'soon', -1, Number.NaN, {}]) {
			assert.throws(() => fleche((x: number) => x, { name: 'bad', maxAge: bad as never }), TypeError, JSON.stringify(bad));
		}
		assert.throws(() => fleche((x: number) => x, { name: 'bad', staleWhileRevalidate: 'later' }), TypeError);
	});

	test('per cache, and with both the shorter max age wins', () => {
		const t = clock();
		const store = new Cache(new ValueMemory(), new CallMemory(), { maxAge: '1h' });
		assert.deepEqual(store.toConfig(), { type: 'cache', values: { type: 'memory' }, calls: { type: 'memory' }, maxAge: 3600 });
		using _ = cache(store);
		const plain = counted({}, 'plain');
		const longer = counted({ maxAge: '1d' }, 'longer');
		const shorter = counted({ maxAge: '1m' }, 'shorter');
		for (const c of [plain, longer, shorter]) c.f(1);
		t.advance(2 * 60_000);
		for (const c of [plain, longer, shorter]) c.f(1);
		assert.deepEqual([plain.state.runs, longer.state.runs, shorter.state.runs], [1, 1, 2], 'after 2 minutes only the 1-minute function recomputes');
		t.advance(HOUR);
		for (const c of [plain, longer, shorter]) c.f(1);
		assert.deepEqual([plain.state.runs, longer.state.runs, shorter.state.runs], [2, 2, 3], "past the cache's hour every call recomputes");
	});

	test('fleche.toml: max_age and stale_while_revalidate in a section, as seconds or durations; bad values are ConfigErrors with the line', () => {
		const t = clock();
		const config = FlecheConfig.fromToml('[results]\ntemplate = "memory"\nmax_age = "7d"\nstale_while_revalidate = 3600\n', { file: '/p/fleche.toml' });
		const results = config.open('results');
		assert.deepEqual(results.toConfig(), {
			type: 'cache',
			values: { type: 'memory' },
			calls: { type: 'memory' },
			maxAge: 7 * 86400,
			staleWhileRevalidate: 3600,
		});
		using _ = cache(results);
		const { f, state } = counted({}, 'tomlAged');
		f(1);
		t.advance(7 * DAY + 2 * HOUR);
		assert.equal(f(1), '1#2', 'two hours past the max age, beyond the one-hour stale window: a miss');
		assert.equal(state.runs, 2);
		for (const [line, message] of [
			['max_age = "7"', /max_age.*unit/],
			['max_age = -5', /max_age/],
			['stale_while_revalidate = "whenever"', /stale_while_revalidate/],
		] as const) {
			assert.throws(
				() => FlecheConfig.fromToml(`[results]\ntemplate = "memory"\n${line}\n`, { file: '/p/fleche.toml' }).open('results'),
				(err: unknown) => ConfigError.is(err) && message.test((err as Error).message) && (err as Error).message.startsWith('/p/fleche.toml:3'),
				line,
			);
		}
	});

	test('a record without Runtime metadata is aged by when the file store wrote it; in memory, where that is unknown, it is never served past a max age', () => {
		const t = clock();
		const root = freshDir();
		const store = new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') }), { maxAge: '1h' });
		const { f, state } = counted({}, 'undated');
		meta([], () => cache(store, () => f(1)));
		const record = store.loadRecord(f.fleche.digest(1));
		assert.equal(record.metadata.runtime, undefined, 'no timestamps in the record');
		cache(store, () => f(1));
		assert.equal(state.runs, 1, "fresh by the record file's mtime");
		t.advance(2 * HOUR);
		cache(store, () => f(1));
		assert.equal(state.runs, 2, 'two hours after the file was written: expired');

		const memory = counted({ maxAge: '1d' }, 'undatedMemory');
		const m = memoryStore();
		meta([], () => cache(m, () => (memory.f(1), memory.f(1))));
		assert.equal(memory.state.runs, 2, 'unknown age under a max age: recomputed, never served on a guess');
	});
});

describe('stale-while-revalidate', () => {
	test('async: the stale result comes back at once, one background recompute serves every caller after it', async () => {
		const t = clock();
		using _ = cache(memoryStore());
		let runs = 0;
		let release!: () => void;
		const gate = new Promise<void>((resolve) => (release = resolve));
		const fetchRate = fleche(
			async (pair: string) => {
				const run = ++runs;
				if (run > 1) await gate;
				return `${pair}@${run}`;
			},
			{ name: 'fetchRate', maxAge: '10m', staleWhileRevalidate: true },
		);
		assert.equal(await fetchRate('EURUSD'), 'EURUSD@1');
		t.advance(HOUR);
		const served = await Promise.all([fetchRate('EURUSD'), fetchRate('EURUSD'), fetchRate('EURUSD')]);
		assert.deepEqual(served, ['EURUSD@1', 'EURUSD@1', 'EURUSD@1'], 'stale, at once, while the recompute waits');
		assert.equal(runs, 2, 'one background recompute for three callers');
		release();
		await waitFor('the recompute to be stored', () => fetchRate.fleche.load('EURUSD') === 'EURUSD@2');
		assert.equal(await fetchRate('EURUSD'), 'EURUSD@2');
		assert.equal(runs, 2);
	});

	test('a failing background recompute is logged, never thrown; the stale result stays and the next call tries again', async () => {
		const t = clock();
		using _ = cache(memoryStore());
		let runs = 0;
		const rejections: unknown[] = [];
		const onRejection = (err: unknown): void => void rejections.push(err);
		process.on('unhandledRejection', onRejection);
		try {
			const flaky = fleche(
				async (x: number) => {
					if (++runs > 1) throw new Error(`upstream down (run ${runs})`);
					return x * 10;
				},
				{ name: 'flaky', maxAge: 60, staleWhileRevalidate: true },
			);
			assert.equal(await flaky(1), 10);
			t.advance(HOUR);
			logs.clear();
			assert.equal(await flaky(1), 10);
			await waitFor('the failure to be logged', () => logs.records.some((r) => r.code === 'FLECHE_REFRESH_FAILED'));
			assert.match(logs.records.find((r) => r.code === 'FLECHE_REFRESH_FAILED')!.message, /flaky.*upstream down \(run 2\)/);
			assert.equal(await flaky(1), 10, 'still the stale result');
			await waitFor('a second attempt', () => runs === 3);
			await new Promise((resolve) => setImmediate(resolve));
			assert.deepEqual(rejections, []);
		} finally {
			process.off('unhandledRejection', onRejection);
		}
	});

	test('sync: the stale value is returned synchronously, the recompute runs right after the current job', async () => {
		const t = clock();
		using _ = cache(memoryStore());
		const { f, state } = counted({ maxAge: '1h', staleWhileRevalidate: true }, 'syncStale');
		assert.equal(f(1), '1#1');
		t.advance(2 * HOUR);
		assert.equal(f(1), '1#1');
		assert.equal(f(1), '1#1');
		assert.equal(state.runs, 1, 'nothing recomputed before the current job ends');
		await new Promise((resolve) => setImmediate(resolve));
		assert.equal(state.runs, 2, 'one recompute for both calls');
		assert.equal(f(1), '1#2');
	});

	test('sync: arguments changed by the caller before the recompute runs drop the recompute instead of storing it under the old key', async () => {
		const t = clock();
		using _ = cache(memoryStore());
		let runs = 0;
		const total = fleche((xs: number[]) => (runs++, xs.reduce((a, b) => a + b, 0)), { name: 'total', maxAge: '1h', staleWhileRevalidate: true });
		const xs = [1, 2];
		assert.equal(total(xs), 3);
		t.advance(2 * HOUR);
		assert.equal(total(xs), 3, 'stale');
		xs.push(100);
		await new Promise((resolve) => setImmediate(resolve));
		assert.equal(runs, 1, 'not recomputed with the new arguments');
		assert.equal(total.fleche.load([1, 2]), 3, 'the entry of [1, 2] is not overwritten with the sum of [1, 2, 100]');
	});

	test('a stale window: served stale up to that long past the max age, a plain miss after', () => {
		const t = clock();
		using _ = cache(new Cache(new ValueMemory(), new CallMemory(), { maxAge: '1h', staleWhileRevalidate: '1h' }));
		const { f, state } = counted({}, 'windowed');
		f(1);
		t.advance(3 * HOUR);
		assert.equal(f(1), '1#2', 'three hours old: past the window, computed now');
		t.advance(90 * 60_000);
		assert.equal(f(1), '1#2', 'ninety minutes old: served stale');
		assert.equal(state.runs, 2);
	});

	test("the function's setting wins over its cache's", () => {
		const t = clock();
		using _ = cache(new Cache(new ValueMemory(), new CallMemory(), { maxAge: '1h', staleWhileRevalidate: true }));
		const { f, state } = counted({ staleWhileRevalidate: false }, 'noStale');
		f(1);
		t.advance(2 * HOUR);
		assert.equal(f(1), '1#2');
		assert.equal(state.runs, 2);
	});
});

/** Saves a call of `name` computed at `at` (ms since the epoch) with result `result`. */
function saveAt(store: Cache, name: string, x: number, result: string, at: number): string {
	return store.save({
		name,
		module: 'src/jobs.ts',
		version: null,
		codeDigest: null,
		arguments: { x },
		result,
		metadata: { runtime: { timestart: at / 1000 - 1, timestop: at / 1000 } },
	});
}

describe('gc --older-than', () => {
	for (const kind of ['file', 'sql'] as const) {
		test(`${kind} store: evicts the calls older than the duration and the values only they used; --dry-run removes nothing`, async () => {
			const root = freshDir();
			// Value files of their own (inlineValues 0), for gc to count: values inside call files go with their calls.
			const calls = kind === 'file' ? new CallFile({ root: join(root, 'calls'), inlineValues: 0 }) : new CallSql({ path: join(root, 'calls.db') });
			const store = new Cache(new ValueFile({ root: join(root, 'values') }), calls);
			const now = Date.now();
			const old = saveAt(store, 'job', 1, 'old result', now - 10 * DAY);
			const shared = saveAt(store, 'job', 2, 'shared result', now - 10 * DAY);
			const fresh = saveAt(store, 'job', 3, 'shared result', now - HOUR);
			if (calls instanceof CallSql) calls.close();
			const bin = join(runtimeDir, 'bin', 'fleche.mjs');
			const dry = await runNode(bin, ['gc', '--root', root, '--older-than', '7d', '--grace', '0', '--dry-run', '--json'], { cwd: root });
			assert.equal(dry.code, 0, dry.stderr);
			assert.deepEqual(JSON.parse(dry.stdout), { v: 1, type: 'gc', removed: 3, calls: 2, dryRun: true }, 'x=1, x=2, "old result"');
			const reopened = (): Cache =>
				new Cache(
					new ValueFile({ root: join(root, 'values') }),
					kind === 'file' ? new CallFile({ root: join(root, 'calls') }) : new CallSql({ path: join(root, 'calls.db') }),
				);
			const before = reopened();
			assert.deepEqual([...before.records()].map((r) => r.key).sort(), [old, shared, fresh].sort(), 'the dry run removed nothing');
			(before.calls as { close?: () => void }).close?.();

			const real = await runNode(bin, ['gc', '--root', root, '--older-than', '7d', '--grace', '0'], { cwd: root });
			assert.equal(real.code, 0, real.stderr);
			assert.match(real.stdout, /Removed 2 calls older than 7d and 3 orphaned values/);
			const after = reopened();
			assert.deepEqual(
				[...after.records()].map((r) => r.key),
				[fresh],
			);
			assert.deepEqual(after.load(fresh).result, 'shared result', "the fresh call's values stay, the one it shares with an evicted call too");
			assert.deepEqual(
				readdirSync(join(root, 'values'))
					.filter((n) => !n.startsWith('.'))
					.sort(),
				[digest(3), digest('shared result')].sort(),
			);
			(after.calls as { close?: () => void }).close?.();

			const bad = await runNode(bin, ['gc', '--root', root, '--older-than', '7'], { cwd: root });
			assert.equal(bad.code, 2, 'a duration without a unit is a usage error');
			assert.match(bad.stderr, /--older-than.*unit/);
		});
	}

	test('Cache.collect: an undated call is aged by its file, one of unknown age stays, a young orphan of a shared store stays for the grace period', () => {
		const root = freshDir();
		const store = new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') }));
		const now = Date.now();
		const old = saveAt(store, 'job', 1, 'old', now - 10 * DAY);
		const t = clock();
		const undated = meta([], () => store.save({ name: 'job', module: null, version: null, codeDigest: null, arguments: { x: 9 }, result: 'undated' }));
		t.advance(30 * DAY);
		const report = store.collect({ olderThan: '7d' });
		assert.deepEqual(
			[...report.calls].sort(),
			[old, undated].sort(),
			"the old call, and the undated one by its file's mtime (real now, 30 days ago by the clock)",
		);
		assert.equal(report.values.length, 0, 'its values were written just now: kept for the grace period');
		setClock(null);
		const undatedStore = new Cache(new ValueMemory(), new CallMemory());
		const k = undatedStore.save({ name: 'job', module: null, version: null, codeDigest: null, arguments: { x: 9 }, result: 'undated' });
		assert.deepEqual(undatedStore.collect({ olderThan: 0 }).calls, [], 'no timestamp, no storage time: its age is unknown, it stays');
		assert.ok(undatedStore.contains(k));
	});
});

describe('SizeLimitedCache', () => {
	test('maxBytes: least recently used calls go until the values the kept calls refer to fit; their values go with them', () => {
		const values = new Map<string, unknown>();
		const inner = new Cache(new ValueMemory(values), new CallMemory());
		const limited = new SizeLimitedCache(inner, { maxBytes: 3_500 });
		using _ = cache(limited);
		let runs = 0;
		const page = fleche((n: number) => (runs++, String(n).repeat(1_000)), { name: 'page' });
		page(1);
		page(2);
		page(3);
		assert.ok(limited.bytes > 3_000 && limited.bytes <= 3_500, `three pages fit: ${limited.bytes}`);
		page(1); // a hit: 1 is now the most recently used
		page(4);
		assert.equal(runs, 4);
		assert.ok(limited.bytes <= 3_500, `within budget: ${limited.bytes}`);
		assert.deepEqual(
			[1, 2, 3, 4].map((n) => inner.contains(page.fleche.digest(n))),
			[true, false, true, true],
			'the least recently used call (2) was evicted, not the oldest (1)',
		);
		assert.equal(values.has(digest('2'.repeat(1_000))), false, "the evicted call's result is gone");
		assert.equal(values.has(digest(2)), false, 'and its argument');
		assert.equal(values.has(digest('1'.repeat(1_000))), true);
		assert.throws(() => new SizeLimitedCache(inner, {}), TypeError);
		assert.throws(() => new SizeLimitedCache(inner, { maxBytes: 0 }), TypeError);
	});

	test('maxSize alone: evicting calls leaves no orphaned values behind, and a value another call still uses stays', () => {
		const values = new Map<string, unknown>();
		const inner = new Cache(new ValueMemory(values), new CallMemory());
		using _ = cache(new SizeLimitedCache(inner, { maxSize: 2 }));
		const parity = fleche((n: number) => (n % 2 === 0 ? 'even' : 'odd'), { name: 'parity' });
		parity(1);
		parity(2);
		parity(3); // evicts 1: its argument goes, 'odd' stays (3 uses it)
		parity(4); // evicts 2: its argument goes, 'even' stays (4 uses it)
		assert.deepEqual([...values.keys()].sort(), [digest(3), digest(4), digest('odd'), digest('even')].sort());
	});

	test('file store: the values of evicted calls are removed from disk (grace 0: nothing else writes it)', () => {
		const root = freshDir();
		// Value files of their own (inlineValues 0; values inside a call file go with it).
		const inner = new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls'), inlineValues: 0 }));
		using _ = cache(new SizeLimitedCache(inner, { maxSize: 1, graceSeconds: 0 }));
		const square = fleche((n: number) => ({ n, sq: n * n }), { name: 'square' });
		square(1);
		square(2);
		assert.equal(existsSync(join(root, 'values', digest({ n: 1, sq: 1 }))), false);
		assert.equal(existsSync(join(root, 'values', digest(1))), false);
		assert.equal(existsSync(join(root, 'values', digest({ n: 2, sq: 4 }))), true);
	});

	test('fleche.toml: max_bytes beside max_size', () => {
		const config = FlecheConfig.fromToml('[small]\ntemplate = "memory"\nmax_size = 10\nmax_bytes = 1000000\n', { file: '/p/fleche.toml' });
		assert.deepEqual(config.open('small').toConfig(), {
			type: 'sizeLimited',
			cache: { type: 'cache', values: { type: 'memory' }, calls: { type: 'memory' } },
			maxSize: 10,
			maxBytes: 1_000_000,
		});
		const bytesOnly = FlecheConfig.fromToml('[small]\ntemplate = "memory"\nmax_bytes = 500\n', { file: '/p/fleche.toml' });
		assert.equal((bytesOnly.open('small') as SizeLimitedCache).maxBytes, 500);
		assert.throws(
			() => FlecheConfig.fromToml('[small]\ntemplate = "memory"\nmax_bytes = "1MB"\n', { file: '/p/fleche.toml' }).open('small'),
			(err: unknown) => ConfigError.is(err),
		);
	});
});

describe('expiry for tools', () => {
	test('fleche/inspect: maxAge, expiresAt and expired of each call, from the function as recorded and the store', () => {
		const t = clock();
		const root = freshDir();
		const store = new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') }));
		const { f } = counted({ maxAge: '1h' }, 'inspected');
		const plain = counted({}, 'forever');
		cache(store, () => (f(1), plain.f(1)));
		const record: CallRecord = store.loadRecord(f.fleche.digest(1));
		assert.deepEqual(record.metadata.expiry, { maxAge: 3600 });
		const computed = record.metadata.runtime!.timestop as number;
		const inspected = openStore(root);
		try {
			const [call] = inspected.calls({ module: f.fleche.identity.module, name: 'inspected' }).calls;
			assert.deepEqual([call!.maxAge, call!.expiresAt, call!.expired], [3600, computed + 3600, false]);
			const [forever] = inspected.calls({ module: plain.f.fleche.identity.module, name: 'forever' }).calls;
			assert.deepEqual([forever!.maxAge, forever!.expiresAt, forever!.expired], [null, null, false]);
			t.advance(2 * HOUR);
			assert.equal(inspected.call(call!.key).expired, true);
		} finally {
			inspected.close();
		}
	});

	test('fleche ls marks expired calls; fleche show says when a call expires', async () => {
		const root = freshDir();
		const store = new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') }));
		const now = Date.now();
		const metadata = (at: number) => ({ runtime: { timestop: at / 1000 }, expiry: { maxAge: 3600 } });
		const base = { name: 'report', module: 'src/report.ts', version: null, codeDigest: null } as const;
		const stale = store.save({ ...base, arguments: { day: 1 }, result: 'r1', metadata: metadata(now - 2 * HOUR) });
		const fresh = store.save({ ...base, arguments: { day: 2 }, result: 'r2', metadata: metadata(now) });
		const bin = join(runtimeDir, 'bin', 'fleche.mjs');
		const ls = await runNode(bin, ['ls', 'report', '--root', root], { cwd: root });
		assert.equal(ls.code, 0, ls.stderr);
		const lines = ls.stdout.trim().split('\n');
		assert.match(lines[0]!, /^KEY\s+CREATED\s+EXPIRES\s+DURATION/);
		const row = (key: string): string => lines.find((l) => key.startsWith(l.split(/\s+/)[0]!))!;
		assert.match(row(stale), /\sexpired\s/);
		assert.doesNotMatch(row(fresh), /expired/);
		const json = await runNode(bin, ['ls', 'report', '--root', root, '--json'], { cwd: root });
		const calls = (JSON.parse(json.stdout) as { calls: { key: string; expired: boolean }[] }).calls;
		assert.deepEqual(
			calls.map((c) => [c.key, c.expired]).sort(),
			[
				[stale, true],
				[fresh, false],
			].sort(),
		);
		const show = await runNode(bin, ['show', stale.slice(0, 12), '--root', root], { cwd: root });
		assert.match(show.stdout, /expires:\s+expired \(max age /);
	});
});
