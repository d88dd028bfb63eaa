// docs/behaviour.md §12 (`fleche/inspect`): fleche/inspect over real file (and SQL) stores written by the real runtime.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { hostname } from 'node:os';
import { fleche, cache, flushStats, fileCache, loadConfig, Runtime, meta, Cache, CallFile, ValueFile } from 'fleche';
import { openStore, discoverCaches, explain, KeyError, AmbiguousDigestError, ConfigError, type Store } from 'fleche/inspect';
import { freshDir } from '../support/stores.ts';
import { captureLogs } from '../support/logs.ts';
import { tmpDir } from '../support/tmp.ts';
import { userProject } from '../support/project.ts';
import { waitFor } from '../support/poll.ts';

const logs = captureLogs();
// Persisted summary indexes go to the user's cache folder; these tests keep theirs in a folder of their own.
const indexDir = tmpDir();
process.env['FLECHE_INDEX_DIR'] = indexDir;

const square = fleche((x: number) => x * x, { name: 'square' });
const greet = fleche((name: string, punctuation = '!') => `hello ${name}${punctuation}`, { name: 'greet', version: 2 });

/** A file store (in a `.fleche`-like folder) holding 5 calls of `square` and 2 of `greet`, 3 hits of square(1). */
/** `inlineValues: 0`: every value a file of its own, for tests of what happens to value files (docs/behaviour.md §2.6). */
function seeded(inlineValues?: number): { root: string; store: Store } {
	const root = join(freshDir(), '.fleche');
	const c = inlineValues === undefined ? fileCache(root) : new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls'), inlineValues }));
	cache(c, () => {
		using _ = meta(new Runtime());
		for (let x = 1; x <= 5; x++) {
			square(x);
			// Distinct timestamps (millisecond clock), so "newest first" has one right order.
			for (const until = Date.now() + 2; Date.now() < until; );
		}
		square(1);
		square(1);
		square(1);
		greet('ada');
		greet('bob', '?');
	});
	flushStats();
	return { root, store: openStore(root) };
}

/** A project whose `fleche.toml` names an SQL store `db` holding square(1..3), square(1) hit once. */
function sqlProject(t: Parameters<typeof tmpDir>[0]): { project: string; c: ReturnType<ReturnType<typeof loadConfig>['open']> } {
	const project = tmpDir(t);
	writeFileSync(join(project, 'fleche.toml'), '[db]\ntemplate = "sql"\nroot = "store"\n');
	const c = loadConfig({ cwd: project }).open('db');
	cache(c, () => {
		for (let x = 1; x <= 3; x++) square(x);
		square(1);
	});
	flushStats();
	return { project, c };
}

describe('fleche/inspect', () => {
	test('functions(): calls, hits, misses and versions per function', (t) => {
		const { store } = seeded();
		t.after(() => store.close());
		const fns = store.functions();
		assert.deepEqual(
			fns.map((f) => [f.name, f.calls]),
			[
				['greet', 2],
				['square', 5],
			],
		);
		const sq = fns.find((f) => f.name === 'square')!;
		assert.equal(sq.hits, 3);
		assert.equal(sq.misses, 5);
		assert.ok(sq.lastHit !== null && sq.lastHit > Date.now() / 1000 - 60);
		assert.deepEqual(fns.find((f) => f.name === 'greet')!.versions, [2]);
		assert.deepEqual(store.totals(), { calls: 7, functions: 2, hits: 3, misses: 7, savedSeconds: store.totals().savedSeconds });
	});

	test('calls(): newest first, paged, with argument texts, sizes, durations and per-call statistics', (t) => {
		const { store } = seeded();
		t.after(() => store.close());
		const fn = { module: store.functions().find((f) => f.name === 'square')!.module, name: 'square' };
		const all = store.calls(fn);
		assert.equal(all.total, 5);
		assert.deepEqual(
			all.calls.map((c) => c.args.x),
			['5', '4', '3', '2', '1'],
		);
		const one = all.calls[4]!;
		assert.equal(one.argsText, 'x=1');
		assert.equal(one.hits, 3);
		assert.equal(one.misses, 1);
		assert.ok(one.size !== null && one.size > 0);
		assert.ok(one.created !== null && one.duration !== null);
		const page = store.calls(fn, { offset: 1, limit: 2 });
		assert.equal(page.total, 5);
		assert.deepEqual(
			page.calls.map((c) => c.args.x),
			['4', '3'],
		);
		const greetFn = { module: fn.module, name: 'greet' };
		assert.deepEqual(store.calls(greetFn).calls.map((c) => c.argsText).sort(), ["name='ada', punctuation='!'", "name='bob', punctuation='?'"]);
	});

	test('long argument values are cut to one short line', (t) => {
		const root = freshDir();
		const echo = fleche((value: unknown) => value, { name: 'echo' });
		cache(fileCache(root), () => echo({ text: 'x'.repeat(500), nested: { list: Array.from({ length: 100 }, (_, i) => i) } }));
		const store = openStore(root);
		t.after(() => store.close());
		const [call] = store.calls({ module: store.functions()[0]!.module, name: 'echo' }).calls;
		assert.ok(call!.args.value!.length <= 80 && call!.args.value!.endsWith('…'), call!.args.value);
		assert.ok(!call!.args.value!.includes('\n'));
		assert.ok(call!.argsText.length <= 120);
	});

	test('call(): by prefix, with loaded arguments, result and metadata; KeyError and AmbiguousDigestError', (t) => {
		const { store } = seeded();
		t.after(() => store.close());
		const key = square.fleche.digest(3);
		const detail = store.call(key.slice(0, 8));
		assert.equal(detail.key, key);
		assert.deepEqual(detail.arguments, { x: 3 });
		assert.deepEqual(detail.result, { ok: true, value: 9 });
		assert.equal(typeof (detail.metadata.runtime as { walltime?: unknown }).walltime, 'number');
		assert.throws(() => store.call('0000000000'), (err) => KeyError.is(err));
		assert.throws(() => store.call('zz-not-hex'), (err) => KeyError.is(err));

		// Two keys sharing their first 4 characters make that prefix ambiguous.
		const seen = new Map<string, number>();
		let pair: [number, number] | undefined;
		for (let i = 100; pair === undefined; i++) {
			const p = square.fleche.digest(i).slice(0, 4);
			const other = seen.get(p);
			if (other !== undefined) pair = [other, i];
			else seen.set(p, i);
		}
		const root = freshDir();
		cache(fileCache(root), () => pair.forEach((x) => square(x)));
		const two = openStore(root);
		t.after(() => two.close());
		assert.throws(() => two.call(square.fleche.digest(pair[0]).slice(0, 4)), (err) => AmbiguousDigestError.is(err));
		assert.equal(two.evict(square.fleche.digest(pair[0])), 1);
	});

	test('evict(), evictFunction(), gc() and clear() change the store and return counts', (t) => {
		const { root, store } = seeded(0);
		t.after(() => store.close());
		const k1 = square.fleche.digest(1);
		const k2 = square.fleche.digest(2);
		assert.throws(() => store.evict([k1.slice(0, 8), '00000000']), (err) => KeyError.is(err), 'an unknown prefix evicts nothing');
		assert.equal(store.calls({ module: store.functions()[1]!.module, name: 'square' }).total, 5);
		assert.equal(store.evict([k1.slice(0, 8), k2]), 2);
		assert.equal(store.functions().find((f) => f.name === 'square')!.calls, 3);
		assert.equal(store.gc(), 0, 'young orphans stay for the grace period');
		assert.ok(store.gc({ graceSeconds: 0 }) >= 1, 'values only the evicted calls used are orphaned');
		assert.equal(store.evictFunction({ module: store.functions()[0]!.module, name: 'greet' }), 2);
		// Its statistics stay (§11): still listed, with no calls.
		assert.deepEqual(
			store.functions().map((f) => [f.name, f.calls]),
			[
				['greet', 0],
				['square', 3],
			],
		);
		assert.equal(store.clear(), 3);
		assert.deepEqual(
			store.functions().map((f) => [f.name, f.calls, f.hits, f.misses]),
			[
				['greet', 0, 0, 2],
				['square', 0, 3, 5],
			],
		);
		assert.deepEqual(readdirSync(join(root, 'calls')).filter((n) => /^[0-9a-f]{64}$/.test(n)), []);
		assert.deepEqual(readdirSync(join(root, 'values')).filter((n) => /^[0-9a-f]{64}$/.test(n)), [], 'clear() also removes the values');
	});

	test('the index notices calls written, replaced and evicted behind its back', (t) => {
		const root = freshDir();
		const c = fileCache(root);
		cache(c, () => square(10));
		const store = openStore(root);
		t.after(() => store.close());
		const fn = { module: store.functions()[0]!.module, name: 'square' };
		assert.equal(store.calls(fn).total, 1);
		cache(c, () => square(11));
		assert.equal(store.calls(fn).total, 2);
		c.evict(square.fleche.digest(10));
		assert.deepEqual(
			store.calls(fn).calls.map((call) => call.args.x),
			['11'],
		);
	});

	describe('the persisted summary index (in FLECHE_INDEX_DIR, outside the store)', () => {
		const indexFolder = (root: string): string => join(indexDir, createHash('sha256').update(join(root, 'calls')).digest('hex').slice(0, 32));
		const summaryFile = (root: string): string => join(indexFolder(root), 'summary.json');
		/** The shards the persisted summary names, by function name (the format at the top of summaryIndex.ts). */
		const shards = (root: string): Map<string, string> => {
			const text = readFileSync(summaryFile(root), 'utf8');
			const body = JSON.parse(text.slice(text.indexOf('\n') + 1)) as { functions: unknown[][] };
			return new Map(body.functions.filter((f) => typeof f[4] === 'string').map((f) => [f[1] as string, join(indexFolder(root), `${f[4] as string}.json`)]));
		};
		/** The keys of the calls in the persisted index (statistics name evicted keys too: not these). */
		const persisted = (root: string): string[] => [...shards(root).values()].flatMap((f) => (JSON.parse(readFileSync(f, 'utf8')) as { calls: string[][] }).calls.map((c) => c[0]!));
		/**
		 * A store under a project of its own, and `run(...xs)`: another process that calls `square(x)` for each in it and
		 * flushes its statistics.
		 */
		const writer = (t: Parameters<typeof tmpDir>[0]): { root: string; run: (...xs: number[]) => void } => {
			const project = userProject(
				{
					'src/write.js': [
						"import { fleche, cache, fileCache, flushStats } from 'fleche';",
						"const square = fleche((x) => x * x, { name: 'square' });",
						'cache(fileCache(process.argv[2]), () => { for (const x of process.argv.slice(3)) square(Number(x)); });',
						'flushStats();',
					].join('\n'),
				},
				t,
			);
			const root = join(project, '.fleche');
			const { NODE_TEST_CONTEXT: _, ...env } = process.env;
			const run = (...xs: number[]): void => {
				const child = spawnSync(process.execPath, [join(project, 'src/write.js'), root, ...xs.map(String)], { cwd: project, env, encoding: 'utf8', timeout: 60_000 });
				assert.equal(child.status, 0, child.stderr);
			};
			return { root, run };
		};
		/** Waits out the racy window: a folder mtime this old is trusted and persisted with the index. */
		const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300));
		/** Lists the store in a store of its own, so the index is built and persisted. */
		const list = (root: string): number => {
			const s = openStore(root);
			try {
				return s.totals().calls;
			} finally {
				s.close();
			}
		};
		/** A seeded store whose index was persisted for a trusted folder mtime (listed twice, around the racy window). */
		const indexed = async (): Promise<string> => {
			const { root, store } = seeded();
			store.close();
			list(root);
			await settle();
			list(root);
			return root;
		};
		/** What a fresh open lists: per function `[name, calls, hits, misses]`, and the calls of `square` newest first. */
		const listing = (root: string): { fns: [string, number, number, number][]; square: [string, number, number][] } => {
			const s = openStore(root);
			try {
				const fns = s.functions();
				const sq = fns.find((f) => f.name === 'square');
				return {
					fns: fns.map((f) => [f.name, f.calls, f.hits, f.misses]),
					square: sq === undefined ? [] : s.calls(sq).calls.map((c) => [c.args.x!, c.hits, c.misses]),
				};
			} finally {
				s.close();
			}
		};

		test('a later open lists from the index without reading a call file', async () => {
			const { root, store } = seeded();
			store.close();
			assert.equal(list(root), 7);
			assert.ok(existsSync(summaryFile(root)), 'the first open persisted its index');
			// The calls were written too recently for their folder's mtime to be trusted; a later open lists the
			// folder and then persists the folder state the index is current for, and its page of square's calls
			// checks their files' stamps (a file still listed may have been replaced).
			await settle();
			assert.deepEqual(listing(root).fns, [
				['greet', 2, 0, 2],
				['square', 5, 3, 5],
			]);
			// Damage a call file in place (same inode, size and mtime): CallFile never writes in place, so only a
			// reader that opens the file can notice. The index is trusted because the folder did not change.
			const victim = square.fleche.digest(4);
			const path = join(root, 'calls', victim);
			const { mtime, size } = statSync(path);
			writeFileSync(path, 'x'.repeat(size));
			utimesSync(path, mtime, mtime);
			logs.clear();
			const second = openStore(root);
			try {
				assert.equal(second.totals().calls, 7);
				assert.deepEqual(logs.codes('FLECHE_CORRUPT_ENTRY'), [], 'no call file was read to list the store');
				const page = second.calls({ module: second.functions()[1]!.module, name: 'square' }).calls;
				assert.ok(page.find((c) => c.key === victim)!.damaged !== null, 'showing the call reads and checks its record');
			} finally {
				second.close();
			}
		});

		test('calls added, replaced and evicted between opens are seen, and the index is brought up to date', async () => {
			const root = await indexed();
			const c = fileCache(root);
			const before = openStore(root);
			const sqModule = before.functions().find((f) => f.name === 'square')!.module;
			const createdOf3 = before.calls({ module: sqModule, name: 'square' }).calls.find((x) => x.args.x === '3')!.created;
			before.close();
			cache(c, () => {
				using _ = meta(new Runtime());
				square(6);
				square.fleche.rerun(3); // same key, a new record file renamed into place
			});
			c.evict(square.fleche.digest(2));
			const after = openStore(root);
			try {
				const calls = after.calls({ module: sqModule, name: 'square' }).calls;
				assert.deepEqual(calls.map((x) => x.args.x).sort(), ['1', '3', '4', '5', '6']);
				assert.ok(calls.find((x) => x.args.x === '3')!.created! > createdOf3!, 'the replaced record is read again');
			} finally {
				after.close();
			}
			const keys = persisted(root);
			assert.ok(keys.includes(square.fleche.digest(6)) && !keys.includes(square.fleche.digest(2)), 'the index on disk follows');
		});

		test('a changed call seen by a watching store is persisted for the next open', async () => {
			const { root, store } = seeded();
			const fn = { module: store.functions()[1]!.module, name: 'square' };
			const c = fileCache(root);
			cache(c, () => square(7));
			assert.equal(store.calls(fn).total, 6);
			await waitFor('the index persisted from the timer', () => existsSync(summaryFile(root)) && persisted(root).includes(square.fleche.digest(7)));
			store.close();
			const next = openStore(root);
			try {
				assert.equal(next.calls(fn).total, 6);
			} finally {
				next.close();
			}
		});

		test('a corrupt, foreign or unwritable summary only costs the slow path', async () => {
			const root = await indexed();
			const want = listing(root);
			const good = readFileSync(summaryFile(root), 'utf8');
			const body = good.slice(good.indexOf('\n') + 1);
			const signed = (text: string): string => `${createHash('sha256').update(text).digest('hex')}\n${text}`;
			for (const text of [
				'{ not json',
				good.slice(0, good.length >> 1), // cut short
				good.replace(/"calls"|,2,/, (m) => (m === ',2,' ? ',3,' : m)), // a count changed: fails its checksum
				signed(JSON.stringify({ format: 'something else', functions: [] })),
				// Another folder's index (a copied cache folder): trusted, it would list that folder's calls here.
				signed(body.replace(JSON.stringify(join(root, 'calls')), JSON.stringify('/elsewhere/calls'))),
			]) {
				writeFileSync(summaryFile(root), text);
				logs.clear();
				assert.deepEqual(listing(root), want, text);
				assert.deepEqual(logs.records, [], 'an unusable index is not worth a warning');
				assert.ok(readFileSync(summaryFile(root), 'utf8') !== text, 'rewritten');
			}
			// A file in the index folder's place: nothing can be written there, and listing still works.
			rmSync(indexFolder(root), { recursive: true, force: true });
			writeFileSync(indexFolder(root), 'not a folder');
			assert.deepEqual(listing(root), want);
			rmSync(indexFolder(root), { force: true });
		});

		test('a damaged or missing shard is the slow path: the same counts, calls and statistics, never wrong ones', async () => {
			const root = await indexed();
			const want = listing(root);
			assert.deepEqual(
				want.fns,
				[
					['greet', 2, 0, 2],
					['square', 5, 3, 5],
				],
			);
			const damage: ((file: string) => void)[] = [
				(file) => writeFileSync(file, readFileSync(file, 'utf8').replace(/\d(?=,)/, (d) => String((Number(d) + 1) % 10))), // one digit changed
				(file) => writeFileSync(file, readFileSync(file, 'utf8').slice(0, 40)), // cut short
				(file) => rmSync(file), // removed
			];
			for (const hurt of damage) {
				hurt(shards(root).get('square')!);
				logs.clear();
				assert.deepEqual(listing(root), want);
				assert.deepEqual(logs.records, [], 'a damaged shard is not worth a warning');
				// The slow path persisted a sound index again: the next open is served from it.
				assert.deepEqual(listing(root), want);
			}
		});

		test('statistics recorded between opens are added to the persisted sums, and a compacted journal is read again', async (t) => {
			const { root, run } = writer(t);
			run(1, 2, 1);
			assert.deepEqual(listing(root).fns, [['square', 2, 1, 2]]);
			await settle();
			list(root);
			// Another process's journal: new lines and a new file since the index was persisted.
			run(2, 2, 3);
			const now = listing(root);
			assert.deepEqual(now.fns, [['square', 3, 3, 3]]);
			assert.deepEqual(now.square.sort(), [
				['1', 1, 1],
				['2', 2, 1],
				['3', 0, 1],
			]);
			// Many finished journals make the next writer compact them into a new snapshot: read in full again.
			for (let i = 0; i < 17; i++) run(1);
			const after = listing(root);
			assert.deepEqual(after.fns, [['square', 3, 20, 3]]);
			assert.deepEqual(after.square.sort(), [
				['1', 18, 1],
				['2', 2, 1],
				['3', 0, 1],
			]);
		});

		test('a write by another process is seen by an open store after its next re-list, counts and statistics included', async (t) => {
			const { root, run } = writer(t);
			run(1, 2, 3, 1);
			await settle();
			list(root);
			const store = openStore(root);
			t.after(() => store.close());
			const fn = { module: store.functions()[0]!.module, name: 'square' };
			assert.equal(store.calls(fn).total, 3);
			let notified = 0;
			const sub = store.watch(() => notified++, { debounceMs: 50 });
			t.after(() => sub.dispose());
			run(40, 2);
			await waitFor('the watch listener', () => notified > 0);
			await waitFor('the re-list to show the new call', () => store.calls(fn).total === 4);
			const sq = store.functions()[0]!;
			assert.deepEqual([sq.calls, sq.hits, sq.misses], [4, 2, 4]);
			assert.deepEqual(
				store
					.calls(fn)
					.calls.map((c) => [c.args.x, c.hits, c.misses])
					.sort(),
				[
					['1', 1, 1],
					['2', 1, 1],
					['3', 0, 1],
					['40', 0, 1],
				],
			);
			// And a process started afterwards (the CLI) lists the same.
			assert.deepEqual(listing(root).fns, [['square', 4, 2, 4]]);
		});

		test('the index is invisible to the cache: not a call, not in statistics, gone with clear()', async () => {
			const { root, store } = seeded();
			store.close();
			list(root);
			assert.ok(existsSync(summaryFile(root)));
			const c = fileCache(root);
			assert.equal([...c.records()].length, 7);
			const again = openStore(root);
			try {
				assert.equal(again.clear(), 7);
				assert.equal(again.totals().calls, 0);
			} finally {
				again.close();
			}
			await settle();
			const empty = openStore(root);
			try {
				assert.equal(empty.totals().calls, 0);
			} finally {
				empty.close();
			}
		});
	});

	describe('reading never writes to the store', () => {
		/** Every file and folder under `root`: path → bytes digest and mtime (folders: mtime and names). */
		const snapshot = (root: string): Map<string, string> => {
			const out = new Map<string, string>();
			const walk = (dir: string): void => {
				const names = readdirSync(dir).sort();
				out.set(relative(root, dir) || '.', `dir ${statSync(dir).mtimeMs} ${names.join(',')}`);
				for (const name of names) {
					const path = join(dir, name);
					if (statSync(path).isDirectory()) walk(path);
					else out.set(relative(root, path), `${createHash('sha256').update(readFileSync(path)).digest('hex')} ${statSync(path).mtimeMs}`);
				}
			};
			walk(root);
			return out;
		};
		/** What the editor and `fleche ls/show/stats` do, from a fresh open each time. */
		const browse = async (target: string): Promise<void> => {
			const store = openStore(target);
			try {
				let heard = 0;
				const sub = store.watch(() => heard++, { debounceMs: 20 });
				const fns = store.functions();
				assert.ok(fns.length > 0);
				for (const fn of fns) {
					const page = store.calls(fn, { offset: 0, limit: 2 });
					assert.ok(page.calls.length > 0);
					store.calls(fn, { offset: 2, limit: 100 });
					assert.equal(store.call(page.calls[0]!.key.slice(0, 8)).key, page.calls[0]!.key);
				}
				store.totals();
				explain(store, { module: fns[0]!.module, name: fns[0]!.name }, { x: 2 });
				// Let watchers and timers (an index persisted from a timer) run.
				await new Promise((resolve) => setTimeout(resolve, 1200));
				sub.dispose();
				assert.equal(heard, 0, 'nothing changed, so no change was heard');
			} finally {
				store.close();
			}
		};

		test('file store: listing, paging, showing and watching leave every file byte-identical', async () => {
			const { root, store } = seeded();
			store.close();
			// Old enough for the folder's mtime to be trusted, so the second round lists from a persisted index.
			await new Promise((resolve) => setTimeout(resolve, 300));
			const before = snapshot(root);
			await browse(root);
			await browse(root);
			assert.deepEqual(snapshot(root), before);
			assert.ok(readdirSync(indexDir).length > 0, 'the index was persisted outside the store');
		});

		test('file store: with FLECHE_INDEX_DIR empty nothing is persisted anywhere, and listing still works', async (t) => {
			const { root, store } = seeded();
			store.close();
			process.env['FLECHE_INDEX_DIR'] = '';
			t.after(() => (process.env['FLECHE_INDEX_DIR'] = indexDir));
			const before = snapshot(root);
			const indexes = readdirSync(indexDir);
			const s = openStore(root);
			try {
				assert.equal(s.totals().calls, 7);
			} finally {
				s.close();
			}
			assert.deepEqual(snapshot(root), before);
			assert.deepEqual(readdirSync(indexDir), indexes, 'no index written where it would otherwise go');
		});

		test('SQL store: listing, paging, showing and watching leave every file byte-identical', async (t) => {
			const { project, c } = sqlProject(t);
			const calls = (c as unknown as { calls: { compact(): boolean; close(): void } }).calls;
			calls.compact();
			calls.close();
			const root = join(project, 'store');
			const before = snapshot(root);
			await browse(root);
			assert.deepEqual(snapshot(root), before);
		});
	});

	test('a corrupt call file is skipped with a warning, never a crash', (t) => {
		const { root, store } = seeded();
		t.after(() => store.close());
		logs.clear();
		writeFileSync(join(root, 'calls', 'ab'.repeat(32)), '{ not json');
		writeFileSync(join(root, 'calls', 'cd'.repeat(32)), JSON.stringify({ format: 'fleche.call/1', record: { key: 'cd'.repeat(32) } }));
		const fresh = openStore(root);
		t.after(() => fresh.close());
		assert.equal(fresh.totals().calls, 7);
		assert.ok(logs.codes('FLECHE_CORRUPT_ENTRY').length >= 2, JSON.stringify(logs.records));
	});

	test('watch() notices a call written by another process, debounced into one notification', async (t) => {
		const project = userProject({
			'src/child.js': [
				"import { fleche, cache, fileCache } from 'fleche';",
				"const twice = fleche((x) => 2 * x, { name: 'twice' });",
				'cache(fileCache(process.argv[2]), () => { for (let i = 0; i < 20; i++) twice(i); });',
			].join('\n'),
		}, t);
		const root = join(project, '.fleche');
		mkdirSync(root);
		const store = openStore(root);
		t.after(() => store.close());
		assert.deepEqual(store.functions(), []);
		let notified = 0;
		const sub = store.watch(() => notified++, { debounceMs: 300 });
		t.after(() => sub.dispose());
		// The child runs while this thread is blocked: all 40 file events are queued by the time the watcher reads
		// them, so however slowly a loaded machine runs the child they are one burst, and one notification.
		const { NODE_TEST_CONTEXT: _, ...env } = process.env;
		const child = spawnSync(process.execPath, [join(project, 'src/child.js'), root], { cwd: project, env, encoding: 'utf8', timeout: 60_000 });
		assert.equal(child.status, 0, child.stderr);
		await waitFor('the watch listener', () => notified > 0);
		assert.deepEqual(
			store.functions().map((f) => [f.name, f.calls]),
			[['twice', 20]],
		);
		// A second watcher is the clock: once it has seen a later write, so has `sub`, and nothing else is pending.
		let seen = 0;
		const clock = store.watch(() => seen++, { debounceMs: 300 });
		t.after(() => clock.dispose());
		cache(fileCache(root), () => square(98));
		await waitFor('the later write', () => seen > 0 && notified > 1);
		assert.equal(notified, 2, 'the burst of 40 file writes made one notification, the later write one more');
		sub.dispose();
		cache(fileCache(root), () => square(99));
		await waitFor('the write after dispose()', () => seen > 1);
		assert.equal(notified, 2, 'no notification after dispose()');
	});

	test('watch() on a store that does not exist yet fires when it is created', async (t) => {
		const root = join(freshDir(), '.fleche');
		const store = openStore({ name: 'new', root, kind: 'file', source: null, exists: false, readOnly: false, config: fileCache(root).toConfig() });
		t.after(() => store.close());
		let notified = 0;
		const sub = store.watch(() => notified++, { debounceMs: 50 });
		t.after(() => sub.dispose());
		cache(fileCache(root), () => square(7));
		await waitFor('the watch listener', () => notified > 0);
		assert.equal(store.totals().calls, 1);
	});

	test('discoverCaches(): default, fleche.toml sections with their source file, and extra paths', () => {
		const project = tmpDir();
		writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'p' }));
		writeFileSync(join(project, 'fleche.toml'), '[default]\nroot = true\n\n[team]\ntemplate = "file"\nroot = "shared/team"\n\n[scratch]\ntemplate = "memory"\n');
		const other = join(tmpDir(), 'store');
		cache(fileCache(other), () => square(1));
		const found = discoverCaches(project, [other, 'team']);
		assert.deepEqual(
			found.map((l) => [l.name, l.kind, l.exists]),
			[
				['default', 'file', false],
				['team', 'file', false],
				['scratch', 'memory', false],
				[other, 'file', true],
			],
		);
		assert.equal(found[0]!.root, join(project, '.fleche'));
		assert.equal(found[0]!.source, null);
		assert.equal(found[1]!.root, join(project, 'shared', 'team'));
		assert.equal(found[1]!.source, join(project, 'fleche.toml'));
		assert.equal(found[2]!.root, null);
		// Locations are plain data: they survive JSON (the extension passes them around) and open.
		const team = openStore(JSON.parse(JSON.stringify(found[1])) as typeof found[0]);
		assert.deepEqual(team.functions(), []);
		team.close();
		const byName = openStore('team', { cwd: project });
		assert.equal(byName.location.root, join(project, 'shared', 'team'));
		byName.close();
		assert.throws(() => openStore('nope', { cwd: project }), (err) => ConfigError.is(err));
		assert.throws(() => openStore(join(project, 'missing')), (err) => ConfigError.is(err));
		// A project folder opens its .fleche.
		cache(fileCache(join(project, '.fleche')), () => square(2));
		const viaProject = openStore(project);
		assert.equal(viaProject.location.root, join(project, '.fleche'));
		assert.equal(viaProject.totals().calls, 1);
		viaProject.close();
	});

	test('explain(): names the differing argument of the nearest cached call', (t) => {
		const { store } = seeded();
		t.after(() => store.close());
		const module = store.functions()[0]!.module;
		const miss = explain(store, { module, name: 'greet' }, { name: 'ada', punctuation: '.' });
		assert.equal(miss.hit, false);
		assert.equal(miss.key, greet.fleche.digest('ada', '.'));
		assert.deepEqual(miss.differences, [{ field: 'argument', name: 'punctuation', cached: "'!'", now: "'.'" }]);
		assert.match(miss.message, /punctuation/);
		assert.equal(miss.nearest?.key, greet.fleche.digest('ada'));
		const hit = explain(store, { module, name: 'square' }, { x: 4 });
		assert.equal(hit.hit, true);
		const none = explain(store, { module, name: 'nothing' }, {});
		assert.equal(none.nearest, null);
		assert.equal(none.key, null);
	});

	test('after an eviction every count stays as it was but the calls: file and SQL stores list the function with 0 calls, and the next call adds to its statistics', async (t) => {
		const { store: file } = seeded();
		t.after(() => file.close());
		const { project, c } = sqlProject(t);
		t.after(() => (c as unknown as { calls: { close(): void } }).calls.close());
		const sql = openStore('db', { cwd: project });
		t.after(() => sql.close());
		await waitFor('the SQL statistics', () => sql.functions()[0]?.hits === 1);
		const counts = (s: Store) => s.functions().map((f) => ({ name: f.name, calls: f.calls, hits: f.hits, misses: f.misses }));
		const totals = (s: Store) => {
			const { calls, functions, hits, misses } = s.totals();
			return { calls, functions, hits, misses };
		};
		for (const [store, write] of [
			[file, (fn: () => void) => cache(fileCache(file.location.root!), fn)],
			[sql, (fn: () => void) => cache(c, fn)],
		] as const) {
			const before = counts(store).find((f) => f.name === 'square')!;
			const total = totals(store);
			assert.ok(before.calls > 0 && before.hits > 0, JSON.stringify(before));
			assert.equal(store.evictFunction({ module: store.functions().find((f) => f.name === 'square')!.module, name: 'square' }), before.calls);
			assert.deepEqual(counts(store).find((f) => f.name === 'square'), { ...before, calls: 0 }, store.location.kind);
			assert.deepEqual(totals(store), { ...total, calls: total.calls - before.calls }, 'totals count the function too');
			write(() => square(1));
			flushStats();
			await waitFor(`the ${store.location.kind} store to count the new miss`, () => counts(store).find((f) => f.name === 'square')?.misses === before.misses + 1);
			assert.deepEqual(counts(store).find((f) => f.name === 'square'), { ...before, calls: 1, misses: before.misses + 1 }, 'no count went back to zero or jumped');
		}
	});

	test('calls(): a one-line preview of each result, and why a call cannot hit when its result value is missing or damaged', (t) => {
		const root = freshDir();
		const echo = fleche((value: unknown) => value, { name: 'echo' });
		// Value files of their own (inlineValues 0), to remove and damage one (fileLayout.test.ts damages values inside call files).
		cache(new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls'), inlineValues: 0 })), () => {
			echo('line one\nline two\u001b[31m');
			echo({ big: 'x'.repeat(100_000) });
			echo(1);
			echo(2);
		});
		const store = openStore(root);
		t.after(() => store.close());
		const fn = { module: store.functions()[0]!.module, name: 'echo' };
		const byArg = () => new Map(store.calls(fn).calls.map((c) => [c.argsText, c]));
		const text = byArg().get("value='line one\\nline two\\x1B[31m'")!;
		assert.equal(text.resultText, "'line one\\nline two\\x1B[31m'", 'escaped: no raw newline or control character');
		assert.equal(text.damaged, null);
		assert.equal(text.codeDigest, store.call(text.key).codeDigest);
		const big = [...byArg().values()].find((c) => c.argsText.startsWith('value={ big:'))!;
		assert.equal(big.resultText, null, 'a result over the preview size is not read for a listing');
		assert.ok(big.size! > 64 * 1024);
		// One result value removed, one altered: both calls are listed, each saying why it cannot hit.
		const one = store.call(echo.fleche.digest(1));
		const two = store.call(echo.fleche.digest(2));
		rmSync(join(root, 'values', one.resultDigest!));
		writeFileSync(join(root, 'values', two.resultDigest!), readFileSync(join(root, 'values', two.resultDigest!)).subarray(0, 3));
		const after = new Map(store.calls(fn).calls.map((c) => [c.key, c]));
		assert.equal(after.size, 4, 'damaged calls are still listed');
		assert.match(String(after.get(one.key)!.damaged), /result value [0-9a-f]{12}… is missing/);
		assert.equal(after.get(one.key)!.resultText, null);
		assert.match(String(after.get(two.key)!.damaged), /^its result value fails its checks/);
		assert.equal(after.get(text.key)!.damaged, null);
	});

	test('inFlight(): a call computing in another process is listed by key while its lease is held, and not after', async (t) => {
		const project = userProject(
			{
			'slow.mjs': [
				"import { fleche, fileCache, cache } from 'fleche';",
				"import { writeFileSync, existsSync } from 'node:fs';",
				"const slow = fleche(async (x) => { writeFileSync('started', ''); while (!existsSync('go')) await new Promise((r) => setTimeout(r, 20)); return x; }, { name: 'slow' });",
				"await cache(fileCache('.fleche'), () => slow(7));",
				'',
			].join('\n'),
			},
			t,
		);
		const child = spawn(process.execPath, ['slow.mjs'], { cwd: project, stdio: 'ignore' });
		// However the test ends, the child is let go (before the folder is removed, or after: then it is killed).
		t.after(() => (existsSync(project) ? writeFileSync(join(project, 'go'), '') : child.kill()));
		const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
		await waitFor('the computation to start', () => existsSync(join(project, 'started')));
		const store = openStore(join(project, '.fleche'));
		t.after(() => store.close());
		const running = store.inFlight();
		assert.equal(running.length, 1, JSON.stringify(running));
		assert.match(running[0]!.key, /^[0-9a-f]{64}$/);
		assert.match(running[0]!.owner, new RegExp(`:${child.pid}:`));
		assert.equal(running[0]!.state, 'computing');
		assert.equal(running[0]!.where, `${hostname()}:${child.pid}`, 'where: host and process of the holder');
		assert.deepEqual(await store.inFlightAll(), running, 'no queue configured, and a call never stored: the leases as they are');
		writeFileSync(join(project, 'go'), '');
		assert.equal(await exited, 0);
		assert.deepEqual(store.inFlight(), []);
		assert.equal(store.calls({ module: store.functions()[0]!.module, name: 'slow' }).calls[0]!.key, running[0]!.key, 'the stored call has the key that was in flight');
	});

	test('an SQL store (template "sql") reads, evicts and watches like a file store', async (t) => {
		const { project, c } = sqlProject(t);
		const [location] = discoverCaches(project).filter((l) => l.name === 'db');
		assert.equal(location!.kind, 'sql');
		assert.equal(location!.root, join(project, 'store'));
		assert.equal(location!.exists, true);
		const store = openStore('db', { cwd: project });
		t.after(() => store.close());
		const fn = { module: store.functions()[0]!.module, name: 'square' };
		await waitFor('the SQL statistics', () => store.functions()[0]?.hits === 1);
		assert.equal(store.calls(fn).total, 3);
		assert.deepEqual(store.call(square.fleche.digest(2).slice(0, 6)).result, { ok: true, value: 4 });
		let notified = 0;
		const sub = store.watch(() => notified++, { debounceMs: 50 });
		t.after(() => sub.dispose());
		assert.equal(store.evict(square.fleche.digest(3)), 1);
		await waitFor('the SQL watch', () => notified > 0);
		assert.equal(store.calls(fn).total, 2);
		const reopened = openStore(join(project, 'store'));
		t.after(() => reopened.close());
		assert.equal(reopened.location.kind, 'sql');
		assert.equal(reopened.totals().calls, 2);
		(c as unknown as { calls: { close(): void } }).calls.close();
	});
});

test('queues of a cache section: read for tools, not part of the cache; a malformed entry is a ConfigError naming the line', (t) => {
	const root = freshDir();
	const good = `[team]\ntemplate = "file"\nroot = ${JSON.stringify(root)}\nqueues = [{ url = "redis://:pw@127.0.0.1:6379/2", queue = "fleche", prefix = "b" }]\n`;
	const project = userProject({ 'fleche.toml': good }, t);
	const [team] = discoverCaches(project).filter((l) => l.name === 'team');
	assert.deepEqual(team?.queues, [{ url: 'redis://:pw@127.0.0.1:6379/2', queue: 'fleche', prefix: 'b' }]);
	assert.doesNotMatch(JSON.stringify(team?.config), /queues|6379/, "the cache's description stays as it was: a queue never travels with jobs");
	for (const [entry, message] of [
		['queues = { url = "redis://h", queue = "q" }', /'queues' must be an array of tables/],
		['queues = [{ url = "http://h", queue = "q" }]', /a queue needs 'url', a redis:\/\/ or rediss:\/\/ URL/],
		['queues = [{ url = "redis://h" }]', /a queue needs 'queue'/],
		['queues = [{ url = "redis://h", queue = "q", host = "x" }]', /unknown key 'host' in a queue/],
	] as const) {
		const bad = userProject({ 'fleche.toml': `[team]\ntemplate = "file"\nroot = ${JSON.stringify(root)}\n${entry}\n` }, t);
		assert.throws(
			() => openStore('team', { cwd: bad }),
			(err: unknown) => ConfigError.is(err) && message.test((err as Error).message) && /fleche\.toml:4/.test((err as Error).message),
			entry,
		);
	}
});
