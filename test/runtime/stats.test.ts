// docs/behaviour.md §11 (hit/miss statistics): per-call and per-function counts, batched journal writes, exit flush, several real
// processes sharing one file store, evicted calls, and damaged journals.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { join, sep } from 'node:path';
import { fleche, cache, meta, fileCache, flushStats, Runtime, CallFile, CacheStack, SizeLimitedCache, type CallStats, type Cache } from 'fleche';
import { captureLogs } from '../support/logs.ts';
import { waitFor } from '../support/poll.ts';
import { freshDir, memoryStore } from '../support/stores.ts';
import { runNode } from '../support/tmp.ts';

const logs = captureLogs();

/** A cached function that spends about `ms` milliseconds computing. */
function slow(name: string, ms = 15) {
	let runs = 0;
	const f = fleche(
		(x: number) => {
			runs++;
			const until = performance.now() + ms;
			while (performance.now() < until);
			return x * 10;
		},
		{ name, module: 'stats.ts' },
	);
	return { f, runs: () => runs };
}

function byKey(stats: Iterable<CallStats>): Map<string, CallStats> {
	return new Map([...stats].map((s) => [s.key, s]));
}

function sum(stats: Iterable<CallStats>): { hits: number; misses: number; computeSeconds: number; savedSeconds: number } {
	const out = { hits: 0, misses: 0, computeSeconds: 0, savedSeconds: 0 };
	for (const s of stats) {
		out.hits += s.hits;
		out.misses += s.misses;
		out.computeSeconds += s.computeSeconds;
		out.savedSeconds += s.savedSeconds;
	}
	return out;
}

/** Every journal file under `calls/.stats` with its text (the snapshot excluded). */
function journals(root: string): Record<string, string> {
	const dir = join(root, 'calls', '.stats');
	if (!existsSync(dir)) return {};
	const out: Record<string, string> = {};
	for (const name of readdirSync(dir).sort()) if (name.endsWith('.jsonl')) out[name] = readFileSync(join(dir, name), 'utf8');
	return out;
}

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

describe('counting', () => {
	test('hits, misses, lastHit, computeSeconds and savedSeconds per call, summed per function, read back from the storage', () => {
		const root = freshDir();
		const store = fileCache(root);
		const { f } = slow('f');
		const { f: g } = slow('g', 1);
		using _m = meta([new Runtime()]);
		using _c = cache(store);
		const before = Date.now() / 1000;
		f(1);
		f(1);
		f(1);
		f(1);
		f(2);
		g(1);
		g(1);
		flushStats();
		// fleche's stamps strictly increase, so they may run a few microseconds ahead of Date.now() (clock.ts).
		const after = Date.now() / 1000 + 0.001;

		// Read through a new instance of the call storage: what another process would see.
		const stored = byKey(new CallFile({ root: join(root, 'calls') }).stats());
		assert.equal(stored.size, 3);
		const f1 = stored.get(f.fleche.digest(1))!;
		assert.deepEqual([f1.name, f1.module, f1.hits, f1.misses], ['f', 'stats.ts', 3, 1]);
		assert.ok(f1.computeSeconds >= 0.015 && f1.computeSeconds < 1, `computeSeconds ${f1.computeSeconds}`);
		const walltime = store.load(f.fleche.digest(1)).metadata.runtime!.walltime as number;
		close(f1.savedSeconds, 3 * walltime, 'each hit saved the recorded compute time');
		assert.ok(f1.lastHit !== null && f1.lastHit >= before && f1.lastHit <= after, `lastHit ${f1.lastHit}`);
		const f2 = stored.get(f.fleche.digest(2))!;
		assert.deepEqual([f2.hits, f2.misses, f2.lastHit, f2.savedSeconds], [0, 1, null, 0]);

		const perFunction = sum(store.stats({ name: 'f' }));
		assert.equal(perFunction.hits, 3);
		assert.equal(perFunction.misses, 2);
		close(perFunction.computeSeconds, f1.computeSeconds + f2.computeSeconds, 'compute seconds add up');
		assert.equal(sum(store.stats({ name: 'g', module: 'stats.ts' })).hits, 1);
		assert.equal(store.stats({ name: 'g', module: 'elsewhere.ts' }).length, 0);
	});

	test('without Runtime metadata, a hit after a flush still saves the compute time of its miss', () => {
		const root = freshDir();
		const store = fileCache(root);
		const { f } = slow('f', 20);
		using _m = meta([]);
		using _c = cache(store);
		f(1);
		flushStats();
		f(1);
		f(1);
		flushStats();
		const s = byKey(fileCache(root).stats()).get(f.fleche.digest(1))!;
		assert.equal(s.hits, 2);
		assert.ok(s.computeSeconds >= 0.02, `computeSeconds ${s.computeSeconds}`);
		close(s.savedSeconds, 2 * s.computeSeconds, 'each hit saved the time its miss took');
	});

	test('without Runtime metadata, the compute times of the last 10,000 misses at least are remembered for their hits', () => {
		const { f } = slow('remembered', 5);
		const quick = fleche((x: number) => x, { name: 'quick' });
		const store = memoryStore();
		using _m = meta([]);
		using _c = cache(store);
		f(1);
		// f(1)'s miss is followed by 39,998 others (forgotten: at most 20,000 are kept), f(2)'s by 9,998 (remembered).
		for (let i = 0; i < 30_000; i++) quick(i);
		f(2);
		for (let i = 30_000; i < 39_998; i++) quick(i);
		// Two hits.
		f(1);
		f(2);
		const s = byKey(store.stats({ name: 'remembered' }));
		const [one, two] = [s.get(f.fleche.digest(1))!, s.get(f.fleche.digest(2))!];
		assert.deepEqual([one.hits, one.misses, two.hits, two.misses], [1, 1, 1, 1]);
		assert.equal(one.savedSeconds, 0, 'a miss 39,998 misses before is not remembered');
		assert.ok(two.computeSeconds >= 0.005, `computeSeconds ${two.computeSeconds}`);
		close(two.savedSeconds, two.computeSeconds, 'a miss 9,998 misses before is');
		assert.equal(store.stats({ name: 'quick' }).length, 39_998);
	});

	test('what this process has not flushed yet is included; a memory store counts for this process only', () => {
		const root = freshDir();
		const store = fileCache(root);
		const { f } = slow('f', 0);
		cache(store, () => [f(1), f(1)]);
		assert.equal(sum(store.stats()).hits, 1, 'counted before any flush');
		assert.equal(sum(fileCache(root).stats()).hits, 0, 'but not yet on disk');
		store.flushStats();
		assert.equal(sum(fileCache(root).stats()).hits, 1);
		assert.equal(sum(store.stats()).hits, 1, 'flushed counts are not counted twice');

		const memory = memoryStore();
		cache(memory, () => [f(3), f(3), f(3)]);
		assert.deepEqual([sum(memory.stats()).hits, sum(memory.stats()).misses], [2, 1]);
	});

	test('a memory cache that evicts keeps statistics of about as many calls as it holds, those of the calls it evicted summed per function', () => {
		const inner = memoryStore();
		const limited = new SizeLimitedCache(inner, { maxSize: 100 });
		const f = fleche((x: number) => x * 2, { name: 'bounded.f' });
		const g = fleche((x: number) => x + 1, { name: 'bounded.g' });
		cache(limited, () => {
			for (let i = 0; i < 25_000; i++) {
				f(i);
				if (i % 5 === 0) g(i);
			}
			// Calls still held: their hits stay on their own keys.
			for (let i = 24_990; i < 25_000; i++) f(i);
		});
		const all = inner.stats();
		assert.ok(all.length <= 20_000 + 2, `entries are bounded: ${all.length} for 30,000 calls`);
		const gone = all.filter((s) => s.key === '');
		assert.deepEqual(gone.map((s) => s.name).sort(), ['bounded.f', 'bounded.g'], 'one summed entry per function');
		const totals = (name: string) => sum(all.filter((s) => s.name === name));
		assert.deepEqual([totals('bounded.f').misses, totals('bounded.f').hits], [25_000, 10], 'every count is kept');
		assert.deepEqual([totals('bounded.g').misses, totals('bounded.g').hits], [5_000, 0]);
		const last = byKey(all.filter((s) => s.key !== '')).get(cache(limited, () => f.fleche.digest(24_999)));
		assert.deepEqual([last?.hits, last?.misses], [1, 1], 'a call held keeps its own entry');
		assert.deepEqual(
			inner.stats({ name: 'bounded.g' }).map((s) => s.name),
			inner.stats({ name: 'bounded.g' }).map(() => 'bounded.g'),
			'the filter applies to the summed entries too',
		);
		// A memory cache that evicts nothing keeps an entry for every call, past the same number.
		const plain = memoryStore();
		cache(plain, () => {
			for (let i = 0; i < 12_000; i++) f(i);
		});
		const kept = plain.stats();
		assert.equal(kept.length, 12_000);
		assert.equal(kept.some((s) => s.key === ''), false);
	});

	test('evicted calls keep their statistics, and a recomputation adds a miss', () => {
		const root = freshDir();
		const store = fileCache(root);
		const { f } = slow('f', 0);
		const key = f.fleche.digest(5);
		cache(store, () => [f(5), f(5)]);
		store.evict(key);
		store.flushStats();
		const kept = byKey(fileCache(root).stats()).get(key);
		assert.deepEqual([kept?.hits, kept?.misses], [1, 1]);
		cache(store, () => f(5));
		store.flushStats();
		const again = byKey(fileCache(root).stats()).get(key);
		assert.deepEqual([again?.hits, again?.misses], [1, 2]);
	});

	test('a stack counts hits in the layer the call came from, even once it was copied into a memory layer in front', () => {
		const root = freshDir();
		const { f } = slow('f', 0);
		cache(fileCache(root), () => f(1));
		flushStats();
		const front = memoryStore();
		const stack = new CacheStack([front, fileCache(root)]);
		cache(stack, () => [f(1), f(1), f(1), f(2), f(2)]);
		flushStats();
		const s = byKey(fileCache(root).stats());
		assert.deepEqual([s.get(f.fleche.digest(1))?.hits, s.get(f.fleche.digest(1))?.misses], [3, 1], 'all three hits, not only the first');
		assert.equal(s.get(f.fleche.digest(2)), undefined, 'a call computed in the stack belongs to the first layer');
		const inFront = sum(front.stats());
		assert.deepEqual([inFront.hits, inFront.misses], [1, 1]);
	});

	test('a read-only view counts nothing: it writes nothing', () => {
		const root = freshDir();
		const store = fileCache(root);
		const { f } = slow('f', 0);
		cache(store, () => f(1));
		cache(store.readonly(), () => [f(1), f(1), f(2)]);
		store.flushStats();
		const total = sum(store.stats());
		assert.deepEqual([total.hits, total.misses], [0, 1]);
	});
});

describe('batching: a hit never writes to disk', () => {
	test('a thousand hits leave the journal untouched until the flush, which appends one line', () => {
		const root = freshDir();
		const store = fileCache(root);
		const { f } = slow('f', 0);
		using _ = cache(store);
		f(1);
		flushStats();
		const baseline = journals(root);
		assert.equal(Object.keys(baseline).length, 1, 'one journal for this process');
		for (let i = 0; i < 1000; i++) f(1);
		assert.deepEqual(journals(root), baseline, 'no write during the hits');
		flushStats();
		const [name, text] = Object.entries(journals(root))[0]!;
		assert.ok(text.startsWith(baseline[name]!), 'appended, never rewritten');
		const added = text.slice(baseline[name]!.length).split('\n').filter(Boolean);
		assert.equal(added.length, 1, 'one batch');
		const batch = JSON.parse(added[0]!) as { d: unknown[][] };
		assert.equal(batch.d.length, 1);
		assert.equal(batch.d[0]![3], 1000, 'the 1000 hits of one key in one delta');
	});

	test('statistics that cannot be written are one warning, never a failure of the cached function', () => {
		const root = freshDir();
		const store = fileCache(root);
		const { f } = slow('f', 0);
		cache(store, () => f(1));
		writeFileSync(join(root, 'calls', '.stats'), 'not a folder');
		logs.clear();
		assert.deepEqual(
			cache(store, () => [f(1), f(1)]),
			[10, 10],
		);
		flushStats();
		cache(store, () => f(1));
		flushStats();
		assert.equal(logs.codes('FLECHE_STATS_NOT_SAVED').length, 1);
	});

	test('without an explicit flush, the batch is written within about a second', async () => {
		const root = freshDir();
		const store = fileCache(root);
		const { f } = slow('f', 0);
		cache(store, () => [f(1), f(1)]);
		assert.deepEqual(journals(root), {});
		await waitFor('the timer to write the statistics', () => sum(fileCache(root).stats()).hits === 1);
	});
});

// Child processes import the ESM build, like a user's program.
const esmEntry = createRequire(import.meta.url).resolve('fleche').replace(/cjs([/\\])index\.js$/, 'esm$1index.js');

/** Writes a child script that opens the file store at `root` and runs `body` with `f` (a cached x*10). */
function childScript(dir: string, body: string): string {
	const script = join(dir, `child-${Math.random().toString(36).slice(2)}.mjs`);
	writeFileSync(
		script,
		`import { fleche, cache, fileCache, flushStats } from ${JSON.stringify(esmEntry)};
const [root, from, count] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
cache(fileCache(root));
const f = fleche((x) => x * 10, { name: 'f', module: 'stats.ts' });
${body}
`,
	);
	return script;
}

describe('real processes', () => {
	test('statistics are flushed at the normal exit of a child process', async () => {
		const root = freshDir();
		const script = childScript(root, `f(1); for (let i = 0; i < count; i++) f(1); // no flushStats(): the exit hook writes`);
		const run = await runNode(script, [root, '0', '7']);
		assert.equal(run.code, 0, run.stderr);
		const s = byKey(fileCache(root).stats());
		const { f } = slow('f', 0);
		assert.deepEqual([s.get(f.fleche.digest(1))?.hits, s.get(f.fleche.digest(1))?.misses], [7, 1]);
	});

	test('two child processes counting into one file store at the same time add up exactly', async () => {
		const root = freshDir();
		const { f } = slow('f', 0);
		cache(fileCache(root), () => {
			for (let x = 0; x < 10; x++) f(x);
		});
		flushStats();
		// Each child: 500 hits over the 10 seeded calls, flushed in several batches, and `count` misses of its own.
		const script = childScript(
			root,
			`for (let i = 0; i < 500; i++) { f(i % 10); if (i % 97 === 0) { flushStats(); await new Promise((r) => setTimeout(r, 5)); } }
for (let i = 0; i < count; i++) f(from + i);`,
		);
		const [a, b] = await Promise.all([runNode(script, [root, '100', '20']), runNode(script, [root, '200', '30'])]);
		assert.equal(a.code, 0, a.stderr);
		assert.equal(b.code, 0, b.stderr);
		const stats = byKey(fileCache(root).stats({ name: 'f' }));
		for (let x = 0; x < 10; x++) assert.equal(stats.get(f.fleche.digest(x))?.hits, 100, `f(${x})`);
		const total = sum(stats.values());
		assert.equal(total.hits, 1000);
		assert.equal(total.misses, 10 + 20 + 30);
	});
});

describe('worker threads', () => {
	test('each worker thread flushes its counts when it ends; they add up with the main thread', async () => {
		const root = freshDir();
		const script = join(root, 'worker.mjs');
		writeFileSync(
			script,
			`import { workerData } from 'node:worker_threads';
import { fleche, cache, fileCache } from ${JSON.stringify(esmEntry)};
cache(fileCache(workerData.root));
const f = fleche((x) => x * 10, { name: 'f', module: 'stats.ts' });
for (let i = 0; i < 40; i++) f(i % 4);
`,
		);
		const { Worker } = await import('node:worker_threads');
		await Promise.all(
			[0, 1].map(
				(i) =>
					new Promise<void>((resolve, reject) => {
						const w = new Worker(script, { workerData: { root }, name: `stats-${i}` });
						w.on('error', reject);
						w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}`))));
					}),
			),
		);
		const { f } = slow('f', 0);
		cache(fileCache(root), () => f(0));
		flushStats();
		const total = sum(fileCache(root).stats());
		// 80 calls over 4 keys: each key computed once or twice (the two threads may race on a miss), the rest hits.
		assert.equal(total.hits + total.misses, 81);
		assert.ok(total.misses >= 4 && total.misses <= 8, `misses ${total.misses}`);
	});
});

describe('journals on disk', () => {
	/** Writes a journal as another process on this host would (a pid that no longer exists, so it is finished). */
	function writeJournal(root: string, name: string, lines: readonly string[]): void {
		const dir = join(root, 'calls', '.stats');
		mkdirSync(dir, { recursive: true });
		writeFileSync(join(dir, name), lines.join(''));
	}
	const host = hostname().replace(/[^A-Za-z0-9_.]/g, '_') || 'host';
	const key = (i: number): string => i.toString(16).padStart(64, '0');
	const line = (i: number, hits: number): string => `${JSON.stringify({ t: 1, d: [[key(i), 'f', 'm', hits, 1, 100 + hits, 0.5, hits * 0.5]] })}\n`;
	const deadPid = 2 ** 22 + 1; // above the largest pid_max Linux allows

	test('a damaged journal line is skipped with a warning naming the journal; the others still count', () => {
		const root = freshDir();
		const name = `${host}-${deadPid}-0badf00d.jsonl`;
		writeJournal(root, name, [line(1, 2), '{"t":1,"d":[[not json\n', `${JSON.stringify({ t: 1, d: [['zz', 'f', 'm', -1, 0, null, 0, 0]] })}\n`, line(1, 3), '{"t":1,"d":[["torn']);
		logs.clear();
		const s = byKey(fileCache(root).stats());
		assert.deepEqual([s.get(key(1))?.hits, s.get(key(1))?.misses, s.get(key(1))?.lastHit, s.get(key(1))?.savedSeconds], [5, 2, 103, 2.5]);
		assert.equal(s.size, 1);
		const warned = logs.codes('FLECHE_CORRUPT_ENTRY');
		assert.equal(warned.length, 1);
		assert.ok(warned[0]!.message.includes(name) && /3 damaged/.test(warned[0]!.message), warned[0]!.message);
	});

	test("an unfinished last line of a live writer's journal is an append in progress: skipped silently", () => {
		const root = freshDir();
		writeJournal(root, `${host}-${process.pid}-00000001.jsonl`, [line(2, 4), '{"t":1,"d":[["half']);
		logs.clear();
		assert.equal(byKey(fileCache(root).stats()).get(key(2))?.hits, 4);
		assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').length, 0);
	});

	test('a damaged snapshot is ignored with a warning; the journals still count', () => {
		const root = freshDir();
		writeJournal(root, `${host}-${deadPid}-0000000a.jsonl`, [line(3, 6)]);
		writeFileSync(join(root, 'calls', '.stats', 'snapshot.json'), '{"format":"fleche.stats/1","merged":[');
		logs.clear();
		assert.equal(byKey(fileCache(root).stats()).get(key(3))?.hits, 6);
		assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').length, 1);
		assert.match(logs.codes('FLECHE_CORRUPT_ENTRY')[0]!.message, /snapshot\.json/);
	});

	test('finished journals are compacted into a snapshot by a writer without changing any total; a reader leaves them', () => {
		const root = freshDir();
		for (let j = 0; j < 20; j++) writeJournal(root, `${host}-${deadPid}-${j.toString(16).padStart(8, '0')}.jsonl`, [line(j % 3, 1), line(7, 2)]);
		const first = byKey(fileCache(root).stats());
		const dir = join(root, 'calls', '.stats');
		assert.equal(existsSync(join(dir, 'snapshot.json')), false, 'reading compacts nothing');
		assert.equal(readdirSync(dir).filter((n) => n.endsWith('.jsonl')).length, 20);
		// A process that writes statistics (a delta of zero hits here) compacts when it reads them.
		const writer = fileCache(root).calls as CallFile;
		writer.addStats([{ key: key(7), name: 'f', module: 'm', hits: 0, misses: 0, lastHit: null, computeSeconds: 0, savedSeconds: 0 }]);
		writer.stats();
		assert.ok(existsSync(join(dir, 'snapshot.json')), 'compacted');
		assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.jsonl') && !n.includes(`-${process.pid}-`)), [], 'the merged journals are gone');
		assert.deepEqual(first, byKey(fileCache(root).stats()), 'same totals before and after');
		assert.equal(first.get(key(7))?.hits, 40);
		assert.equal(first.get(key(7))?.misses, 20);
		assert.equal([0, 1, 2].reduce((n, i) => n + (first.get(key(i))?.hits ?? 0), 0), 20);
	});

	test('every field of a delta is checked: a delta with one field wrong is skipped and counted, module and lastHit may be null', () => {
		const root = freshDir();
		const good: unknown[] = [key(1), 'f', 'm', 1, 1, 100, 0.5, 0.5];
		const bad: unknown[][] = [
			good.slice(0, 7),
			[...good, 0],
			['zz', ...good.slice(1)],
			[key(1), 5, ...good.slice(2)],
			[key(1), 'f', 5, ...good.slice(3)],
			[...good.slice(0, 3), -1, ...good.slice(4)],
			[...good.slice(0, 4), '1', ...good.slice(5)],
			[...good.slice(0, 5), 'x', ...good.slice(6)],
			[...good.slice(0, 5), -1, ...good.slice(6)],
			[...good.slice(0, 6), -0.5, good[7]],
			[...good.slice(0, 7), null],
		];
		const lines = bad.map((t) => `${JSON.stringify({ t: 1, d: [t] })}\n`);
		// Lines that parse but hold no list of deltas, and a delta that is no tuple.
		lines.push('{"t":1}\n', 'null\n', '{"t":1,"d":{}}\n', `${JSON.stringify({ t: 1, d: ['x'] })}\n`);
		lines.push(`${JSON.stringify({ t: 1, d: [[key(2), 'g', null, 2, 0, null, 0, 0]] })}\n`);
		const name = `${host}-${deadPid}-0000f1e1.jsonl`;
		writeJournal(root, name, lines);
		logs.clear();
		const s = byKey(fileCache(root).stats());
		assert.equal(s.get(key(1)), undefined, 'no delta of key 1 was whole');
		assert.deepEqual(s.get(key(2)), { key: key(2), name: 'g', module: null, hits: 2, misses: 0, lastHit: null, computeSeconds: 0, savedSeconds: 0 });
		const warned = logs.codes('FLECHE_CORRUPT_ENTRY');
		assert.equal(warned.length, 1);
		assert.ok(warned[0]!.message.includes(name) && /: 15 damaged/.test(warned[0]!.message), warned[0]!.message);
	});

	test('journals nobody appends to are read to their end (a rotated one, another host’s idle for an hour); a recent one of another host is not', () => {
		const root = freshDir();
		const torn = '{"t":1,"d":[["torn';
		const rotated = `${host}-${process.pid}-0000000d.3.closed.jsonl`;
		const idle = `elsewhere-123-0000000e.jsonl`;
		const recent = `elsewhere-124-0000000f.jsonl`;
		writeJournal(root, rotated, [line(4, 1), torn]);
		writeJournal(root, idle, [line(4, 2), torn]);
		writeJournal(root, recent, [line(4, 4), torn]);
		const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
		utimesSync(join(root, 'calls', '.stats', idle), twoHoursAgo, twoHoursAgo);
		logs.clear();
		assert.equal(byKey(fileCache(root).stats()).get(key(4))?.hits, 7);
		// A finished journal's unfinished last line is damage (its writer died mid-append); a live writer's is an append in progress.
		const named = logs.codes('FLECHE_CORRUPT_ENTRY').map((r) => [rotated, idle, recent].find((n) => r.message.includes(n)));
		assert.deepEqual(named.sort(), [idle, rotated].sort());
	});

	test('a compaction under way elsewhere (a fresh lock) is left alone; a lock older than 30 s is taken over', () => {
		const root = freshDir();
		const dir = join(root, 'calls', '.stats');
		for (let j = 0; j < 17; j++) writeJournal(root, `${host}-${deadPid}-${(0x100 + j).toString(16).padStart(8, '0')}.jsonl`, [line(6, 1)]);
		writeFileSync(join(dir, '.compact.lock'), '');
		const writer = fileCache(root).calls as CallFile;
		writer.addStats([{ key: key(6), name: 'f', module: 'm', hits: 1, misses: 0, lastHit: null, computeSeconds: 0, savedSeconds: 0 }]);
		assert.equal(byKey(writer.stats()).get(key(6))?.hits, 18);
		assert.equal(existsSync(join(dir, 'snapshot.json')), false, 'not compacted while another process holds the lock');
		assert.ok(existsSync(join(dir, '.compact.lock')), 'the lock is not taken from its holder');
		const minuteAgo = new Date(Date.now() - 60_000);
		utimesSync(join(dir, '.compact.lock'), minuteAgo, minuteAgo);
		assert.equal(byKey(writer.stats()).get(key(6))?.hits, 18);
		assert.ok(existsSync(join(dir, 'snapshot.json')), 'compacted once the lock was stale');
		assert.equal(existsSync(join(dir, '.compact.lock')), false, 'and the lock let go');
		assert.equal(readdirSync(dir).filter((n) => n.endsWith('.jsonl')).length, 1, "only the writer's own journal is left");
		assert.equal(byKey(fileCache(root).stats()).get(key(6))?.hits, 18, 'same total for a fresh reader');
	});

	test('a snapshot naming journals still on disk (a compaction that died before its deletes) counts them once; the next compaction deletes them', () => {
		const root = freshDir();
		const dir = join(root, 'calls', '.stats');
		const leftover = `${host}-${deadPid}-0000a11e.jsonl`;
		writeJournal(root, leftover, [line(5, 3)]);
		const tuple = [key(5), 'f', 'm', 3, 1, 103, 0.5, 1.5];
		writeFileSync(join(dir, 'snapshot.json'), JSON.stringify({ format: 'fleche.stats/1', merged: [leftover, 5, null], stats: [tuple, ['not', 'a', 'tuple']] }));
		logs.clear();
		assert.equal(byKey(fileCache(root).stats()).get(key(5))?.hits, 3, 'the merged journal is not counted again');
		assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').length, 0, 'a bad tuple or name in a snapshot is skipped quietly');
		for (let j = 0; j < 16; j++) writeJournal(root, `${host}-${deadPid}-${(0x200 + j).toString(16).padStart(8, '0')}.jsonl`, [line(5, 1)]);
		const writer = fileCache(root).calls as CallFile;
		writer.addStats([{ key: key(5), name: 'f', module: 'm', hits: 0, misses: 0, lastHit: null, computeSeconds: 0, savedSeconds: 0 }]);
		assert.equal(byKey(writer.stats()).get(key(5))?.hits, 19);
		assert.equal(existsSync(join(dir, leftover)), false, 'the journal the old snapshot held is deleted');
		const snapshot = JSON.parse(readFileSync(join(dir, 'snapshot.json'), 'utf8')) as { merged: string[] };
		assert.equal(snapshot.merged.length, 16, 'the new snapshot names what it merged');
		assert.ok(!snapshot.merged.includes(leftover));
		assert.equal(byKey(fileCache(root).stats()).get(key(5))?.hits, 19);
	});

	test('a writer that starts on a crowded folder compacts it before its first append', () => {
		const root = freshDir();
		const dir = join(root, 'calls', '.stats');
		for (let j = 0; j < 70; j++) writeJournal(root, `${host}-${deadPid}-${(0x300 + j).toString(16).padStart(8, '0')}.jsonl`, [line(9, 1)]);
		const writer = fileCache(root).calls as CallFile;
		writer.addStats([{ key: key(9), name: 'f', module: 'm', hits: 1, misses: 0, lastHit: null, computeSeconds: 0, savedSeconds: 0 }]);
		assert.ok(existsSync(join(dir, 'snapshot.json')));
		assert.deepEqual(
			readdirSync(dir).filter((n) => n.endsWith('.jsonl')).map((n) => n.split('-')[1]),
			[String(process.pid)],
			"only the writer's own journal is left",
		);
		assert.equal(byKey(fileCache(root).stats()).get(key(9))?.hits, 71);
	});

	test('only files named as journals are read: a stray copy is not, a rotated journal is whatever its number', () => {
		const root = freshDir();
		writeJournal(root, `${host}-${deadPid}-0000c0c0.jsonl.bak`, [line(11, 100)]);
		writeJournal(root, `${host}-${deadPid}-0000c0c1.jsonl`, [line(11, 1)]);
		writeJournal(root, `${host}-${process.pid}-0000c0c2.12.closed.jsonl`, [line(11, 2)]);
		writeJournal(root, `${host}-${process.pid}-0000c0c2.3.closed.jsonl`, [line(11, 4)]);
		logs.clear();
		assert.equal(byKey(fileCache(root).stats()).get(key(11))?.hits, 7);
		assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').length, 0);
	});

	test('blank lines in a journal are skipped quietly, at its start too', () => {
		const root = freshDir();
		writeJournal(root, `elsewhere-127-0000d0d0.jsonl`, ['\n', line(12, 1), '\n\n', line(12, 2)]);
		writeJournal(root, `${host}-${deadPid}-0000d0d1.jsonl`, ['\n', line(12, 4), '\n']);
		logs.clear();
		assert.equal(byKey(fileCache(root).stats()).get(key(12))?.hits, 7);
		assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').length, 0);
	});

	test('a snapshot of another format, or whose lists are not lists, is ignored with a warning', () => {
		const tuple = [key(13), 'f', 'm', 50, 0, null, 0, 0];
		for (const snapshot of [
			{ format: 'fleche.stats/2', merged: [], stats: [tuple] },
			{ format: 'fleche.stats/1', merged: 'none', stats: [tuple] },
			{ format: 'fleche.stats/1', merged: [], stats: { tuple } },
		]) {
			const root = freshDir();
			writeJournal(root, `${host}-${deadPid}-0000e0e0.jsonl`, [line(13, 1)]);
			writeFileSync(join(root, 'calls', '.stats', 'snapshot.json'), JSON.stringify(snapshot));
			logs.clear();
			assert.equal(byKey(fileCache(root).stats()).get(key(13))?.hits, 1, JSON.stringify(snapshot));
			assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').length, 1, JSON.stringify(snapshot));
		}
	});

	test('a snapshot cannot make compaction delete a file outside the statistics folder', () => {
		const root = freshDir();
		const dir = join(root, 'calls', '.stats');
		const victim = join(root, 'calls', 'precious.txt');
		for (let j = 0; j < 16; j++) writeJournal(root, `${host}-${deadPid}-${(0x400 + j).toString(16).padStart(8, '0')}.jsonl`, [line(14, 1)]);
		writeFileSync(victim, 'kept');
		writeFileSync(join(dir, 'snapshot.json'), JSON.stringify({ format: 'fleche.stats/1', merged: ['../precious.txt', `..${sep}precious.txt`], stats: [] }));
		const writer = fileCache(root).calls as CallFile;
		writer.addStats([{ key: key(14), name: 'f', module: 'm', hits: 0, misses: 0, lastHit: null, computeSeconds: 0, savedSeconds: 0 }]);
		assert.equal(byKey(writer.stats()).get(key(14))?.hits, 16);
		assert.equal((JSON.parse(readFileSync(join(dir, 'snapshot.json'), 'utf8')) as { merged: string[] }).merged.length, 16, 'compacted');
		assert.equal(readFileSync(victim, 'utf8'), 'kept');
	});

	test("a live process's journal on this host is not compacted; nothing to merge writes no snapshot", () => {
		const root = freshDir();
		const dir = join(root, 'calls', '.stats');
		// pid 1 is always alive: its journals can grow, however many there are.
		for (let j = 0; j < 20; j++) writeJournal(root, `${host}-1-${(0x500 + j).toString(16).padStart(8, '0')}.jsonl`, [line(15, 1)]);
		writeJournal(root, `${host}-1-0000f0f0.jsonl`, [line(15, 1), '{"t":1,"d":[["torn']);
		logs.clear();
		const writer = fileCache(root).calls as CallFile;
		writer.addStats([{ key: key(15), name: 'f', module: 'm', hits: 0, misses: 0, lastHit: null, computeSeconds: 0, savedSeconds: 0 }]);
		assert.equal(byKey(writer.stats()).get(key(15))?.hits, 21);
		assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').length, 0, "a live writer's last line is an append in progress");
		assert.equal(existsSync(join(dir, 'snapshot.json')), false);
		assert.equal(readdirSync(dir).filter((n) => n.endsWith('.jsonl')).length, 22);
		// A crowded folder of live journals: a new writer tries to compact before its first append, finds nothing to merge.
		for (let j = 0; j < 50; j++) writeJournal(root, `${host}-1-${(0x600 + j).toString(16).padStart(8, '0')}.jsonl`, [line(15, 1)]);
		(fileCache(root).calls as CallFile).addStats([{ key: key(15), name: 'f', module: 'm', hits: 1, misses: 0, lastHit: null, computeSeconds: 0, savedSeconds: 0 }]);
		assert.equal(existsSync(join(dir, 'snapshot.json')), false);
		assert.equal(byKey(fileCache(root).stats()).get(key(15))?.hits, 72);
	});

	test('a reader that stays open reads only what was appended, and reads everything again when a journal was replaced, shrank or went away', () => {
		const root = freshDir();
		const dir = join(root, 'calls', '.stats');
		// Another host's journal, recent: a live writer's, whose unfinished last line is not read yet.
		const name = `elsewhere-125-0000b0b0.jsonl`;
		writeJournal(root, name, [line(8, 1)]);
		const other = `elsewhere-126-0000b0b1.jsonl`;
		writeJournal(root, other, [line(10, 1)]);
		const reader = fileCache(root).calls as CallFile;
		const hits = (k: number): number | undefined => byKey(reader.stats()).get(key(k))?.hits;
		const first = byKey(reader.stats()).get(key(8))!;
		assert.equal(first.hits, 1);
		appendFileSync(join(dir, name), line(8, 2));
		assert.equal(hits(8), 3, 'the appended line');
		assert.equal(first.hits, 1, 'what an earlier read returned is not changed by a later one');
		// A file that is no journal, added later, is not read as one.
		writeFileSync(join(dir, 'notes.txt'), 'not json\n');
		logs.clear();
		assert.equal(hits(8), 3);
		assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').length, 0);
		const half = line(8, 4);
		appendFileSync(join(dir, name), half.slice(0, 10));
		assert.equal(hits(8), 3, 'an append in progress is not read');
		appendFileSync(join(dir, name), half.slice(10));
		assert.equal(hits(8), 7, 'read once it is whole, and only once');
		assert.equal(hits(10), 1, 'the other journal counted once throughout');
		// Replaced by another file (a new inode): read in full.
		writeFileSync(join(dir, `${name}.new`), line(8, 5));
		renameSync(join(dir, `${name}.new`), join(dir, name));
		assert.equal(hits(8), 5);
		// Shrunk in place (the same inode, fewer bytes than were read): read in full.
		const shorter = `${JSON.stringify({ t: 1, d: [[key(8), 'f', 'm', 6, 0, null, 0, 0]] })}\n`;
		assert.ok(shorter.length < line(8, 5).length);
		writeFileSync(join(dir, name), shorter);
		assert.equal(hits(8), 6);
		// Gone: read in full, without it.
		rmSync(join(dir, name));
		assert.equal(hits(8), undefined);
		assert.equal(hits(10), 1);
	});
});

describe('the statistics of a cache instance', () => {
	test('stats() of a Cache opened twice on one root: each instance flushes its own counts, none is lost', () => {
		const root = freshDir();
		const [one, two] = [fileCache(root), fileCache(root)] as [Cache, Cache];
		const { f } = slow('f', 0);
		cache(one, () => f(1));
		cache(one, () => f(1));
		cache(two, () => [f(1), f(1)]);
		flushStats();
		const s = byKey(fileCache(root).stats()).get(f.fleche.digest(1));
		assert.deepEqual([s?.hits, s?.misses], [3, 1]);
	});
});

test('a reader re-reads the statistics folder only when it changed, and sees every change', () => {
	const root = freshDir();
	const reader = new CallFile({ root });
	const writer = new CallFile({ root });
	const key = (i: number): string => i.toString(16).padStart(64, '0');
	const delta = (i: number, hits: number): CallStats => ({ key: key(i), name: 'f', module: 'm.ts', hits, misses: 0, lastHit: 1, computeSeconds: 0, savedSeconds: 0 });
	const hitsOf = (i: number): number => reader.stats().find((s) => s.key === key(i))?.hits ?? 0;
	writer.addStats([delta(1, 2), delta(2, 5)]);
	assert.equal(hitsOf(1), 2);
	writer.addStats([delta(1, 3)]);
	assert.equal(hitsOf(1), 5, "another instance's append is seen by the next read");

	// Journals only grow and snapshots are only renamed into place: a file rewritten in place with its size, inode and
	// mtime kept is taken for unchanged, which is how the reader knows not to parse it again. (A whole second, so that
	// the mtime can be put back exactly.)
	const statsDir = join(root, '.stats');
	const [journal] = readdirSync(statsDir).filter((n) => n.endsWith('.jsonl'));
	const file = join(statsDir, journal!);
	const when = new Date('2026-01-01T00:00:00Z');
	utimesSync(file, when, when);
	assert.deepEqual(reader.stats({ name: 'f' }).map((s) => s.hits).sort(), [5, 5]);
	const { ino, size } = statSync(file);
	writeFileSync(file, readFileSync(file, 'utf8').replace('"f"', '"g"'));
	utimesSync(file, when, when);
	assert.deepEqual([statSync(file).ino, statSync(file).size], [ino, size]);
	assert.deepEqual(reader.stats({ name: 'g' }), [], 'read from memory');
	// An append is read from where the last read ended: only the new line, not the rewritten ones before it.
	writer.addStats([delta(3, 1), delta(1, 10)]);
	assert.deepEqual([hitsOf(3), hitsOf(1)], [1, 15]);
	assert.deepEqual(reader.stats({ name: 'g' }), [], 'lines read before are not read again');
	// A journal replaced by another file (a new inode, as a rotation or compaction makes) is read again in full.
	writeFileSync(`${file}.new`, readFileSync(file));
	renameSync(`${file}.new`, file);
	assert.deepEqual(
		reader.stats({ name: 'g' }).map((s) => [s.key, s.hits]),
		[[key(1), 15]],
		'read again in full: the rewritten line names the call g',
	);
});

test('statistics read incrementally add up like a full read, while writers append and compact', () => {
	const root = freshDir();
	const key = (i: number): string => i.toString(16).padStart(64, '0');
	const reader = new CallFile({ root });
	const full = (): Map<string, number> => new Map(new CallFile({ root }).stats().map((s) => [s.key, s.hits]));
	const seen = (): Map<string, number> => new Map(reader.stats().map((s) => [s.key, s.hits]));
	let expected = 0;
	for (let round = 0; round < 40; round++) {
		// A new writer instance each round starts a journal of its own; old journals stay until compacted.
		const writer = new CallFile({ root });
		for (let i = 0; i < 5; i++) writer.addStats([{ key: key((round * 7 + i) % 13), name: 'f', module: 'm.ts', hits: 1, misses: 0, lastHit: round, computeSeconds: 0, savedSeconds: 0 }]);
		// And a journal some writer rotated away: finished, so from 16 of them on a read compacts them into the snapshot.
		const closed = `${hostname()}-1-${round.toString(16).padStart(8, '0')}.1.closed.jsonl`;
		writeFileSync(join(root, '.stats', closed), `${JSON.stringify({ t: round, d: [[key(round % 13), 'f', 'm.ts', 2, 0, round, 0, 0]] })}\n`);
		expected += 7;
		const before = seen();
		assert.deepEqual(before, full(), `round ${round}`);
		assert.equal([...before.values()].reduce((a, b) => a + b, 0), expected);
	}
	assert.ok(existsSync(join(root, '.stats', 'snapshot.json')), 'compactions ran meanwhile');
});
