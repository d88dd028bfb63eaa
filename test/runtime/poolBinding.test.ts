// docs/behaviour.md §16 (with §1.7, §3.2): what a worker pool gives back, over real worker threads (threads.js and
// piscina) — plain functions bound to the submitter's cache and run in a worker, the nested cached calls of a worker
// that ran with a memory cache stored in the parent, and results and arguments of registered classes (and the
// built-ins a structured clone loses) restored across the thread boundary with the same digests.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { Piscina } from 'piscina';
import { Pool, spawn } from 'threads';
import { bind, cache, digest, fileCache, tags, threadsWorker, workerFile, wrapExecutor, type BaseCache } from 'fleche';
import { captureLogs } from '../support/logs.ts';
import { freshDir, memoryStore } from '../support/stores.ts';
import { runNode } from '../support/tmp.ts';
import type * as Fleche from 'fleche';
import type * as Fns from '../fixtures/poolFns.ts';

const fns = (await import(new URL('../fixtures/poolFns.js', import.meta.url).href)) as typeof Fns;
const logs = captureLogs();

interface Events {
	subscribe(o: { next(e: { type: string }): void; error(err: unknown): void }): unknown;
}

/** A wrapped pool of each kind, and how many tasks reached it. */
function pools() {
	// threads.js gives a worker 10 s to start by default: a loaded machine can take longer.
	const threads = wrapExecutor(Pool(() => spawn(threadsWorker(), { timeout: 120_000 }), 2));
	const counts = { threads: 0 };
	(threads.events() as Events).subscribe({
		next: (e) => {
			if (e.type === 'taskQueued') counts.threads++;
		},
		error: () => undefined,
	});
	after(() => threads.terminate(true));
	const piscina = wrapExecutor(new Piscina({ filename: workerFile('piscina'), maxThreads: 2, minThreads: 1 }));
	after(() => piscina.destroy());
	return [
		['threads.js', threads, () => counts.threads],
		['piscina', piscina, () => piscina.completed],
	] as const;
}

const all = pools();

/** Whether `c` holds the call `f(...args)`. */
function holds(c: BaseCache, f: { fleche: { contains(...a: unknown[]): boolean } }, ...args: unknown[]): boolean {
	return cache(c, () => f.fleche.contains(...args));
}

describe('plain functions submitted to a worker pool are bound (Python #691)', () => {
	for (const [kind, pool, tasks] of all) {
		test(`a plain function runs in a worker, and its cached calls use the submitter's file store (${kind})`, async () => {
			const store = fileCache(freshDir());
			const other = memoryStore();
			const before = tasks();
			const out = await cache(store, () => pool.submit(fns.pipeline, 3));
			assert.equal(out.sum, 9 + 6);
			assert.notEqual(out.threadId, 0, 'it ran in a worker thread');
			assert.equal(tasks(), before + 1);
			assert.equal(holds(store, fns.square, 3), true, 'the nested call landed in the bound store');
			assert.equal(holds(store, fns.twice, 3), true);
			assert.equal(store.query({ name: 'pipeline' }).count(), 0, 'the plain function itself is not cached');
			assert.equal(holds(other, fns.square, 3), false);
			// Not cached: submitted again it runs again (its nested calls are hits in the worker).
			await cache(store, () => pool.submit(fns.pipeline, 3));
			assert.equal(tasks(), before + 2);
		});

		test(`with a memory cache, the cached calls a plain function made in the worker come back to it (${kind})`, async () => {
			const mem = memoryStore();
			assert.equal(await cache(mem, () => pool.submit(fns.pipelineLater, 6)), 37, 'an async plain function too');
			assert.equal(holds(mem, fns.square, 6), true);
			assert.equal(mem.loadValue(mem.loadRecord(cache(mem, () => fns.square.fleche.digest(6))).result!), 36);
		});

		if (kind === 'piscina') {
			test("a transferList given to a piscina submission is piscina's option: the bytes move to the worker, not copied", async () => {
				const bytes = new Uint8Array([1, 2, 3, 250]);
				const out = await cache(memoryStore(), () => pool.submit(fns.byteSum, bytes, { transferList: [bytes.buffer] }));
				// The option is not an argument of the function, and the worker got the bytes whole.
				assert.deepEqual(out, { sum: 256, length: 4, extra: 0 });
				assert.equal(bytes.byteLength, 0, 'transferred: the submitting thread no longer holds them');
				// Without the option they are copied.
				const kept = new Uint8Array([5, 6]);
				assert.deepEqual(await cache(memoryStore(), () => pool.submit(fns.byteSum, kept)), { sum: 11, length: 2, extra: 0 });
				assert.equal(kept.byteLength, 2);
			});
		}

		test(`a bound plain function carries its own cache and metadata, whatever is active at submission (${kind})`, async () => {
			const boundStore = fileCache(freshDir());
			const active = fileCache(freshDir());
			const task = cache(boundStore, () => tags({ origin: 'bound' }, () => bind(fns.pipeline)));
			assert.equal((await cache(active, () => pool.submit(task, 4))).sum, 16 + 8);
			assert.equal(holds(boundStore, fns.square, 4), true);
			assert.equal(holds(active, fns.square, 4), false);
			assert.deepEqual(boundStore.query({ name: 'square' }).only().metadata['tags'], { origin: 'bound' });
			// Leading arguments bound with it.
			const four = cache(boundStore, () => bind(fns.pipeline, 5));
			assert.equal((await pool.submit(four)).sum, 25 + 10);
			assert.equal(holds(boundStore, fns.twice, 5), true);
		});

		test(`a function exported under another name is found by its source (${kind})`, async () => {
			const store = fileCache(freshDir());
			assert.equal(fns.renamed.name, 'hiddenName');
			assert.equal(await cache(store, () => pool.submit(fns.renamed, 3)), 90);
			assert.equal(holds(store, fns.square, 3), true);
		});

		test(`a function its module does not export cannot travel: a clear error, nothing stored (${kind})`, async () => {
			const store = memoryStore();
			const local = fns.closure();
			await assert.rejects(
				cache(store, () => pool.submit(local, 1)),
				(err: Error) => /local is not exported by .*poolFns\.js/.test(err.message) && /closure/.test(err.message),
			);
			assert.equal(holds(store, fns.square, 1), false);
			// Defined in no file at all: refused before any task is queued.
			const before = tasks();
			const nowhere = (what: string): { name: string; message: string } => ({
				name: 'TypeError',
				message: `${what} is defined in no module file a worker could import (a built-in, an eval, or a bound function): export it from a module to submit it`,
			});
			await assert.rejects(
				cache(store, () => pool.submit(Math.max, 1, 2)),
				nowhere('max'),
			);
			await assert.rejects(
				cache(store, () => pool.submit(fns.pipeline.bind(null), 1)),
				nowhere('bound pipeline'),
			);
			// A built-in without a name, a function made from text, one of a module that is no file.
			await assert.rejects(
				cache(store, () => pool.submit(Function.prototype as () => unknown)),
				nowhere('an anonymous function'),
			);
			await assert.rejects(
				// eslint-disable-next-line @typescript-eslint/no-implied-eval -- a function made from text is the case under test
				cache(store, () => pool.submit(new Function('x', 'return x') as (x: number) => number, 1)),
				nowhere('anonymous'),
			);
			// Built as a string so that the bundler leaves the import alone.
			const dataUrl = `data:text/javascript,${encodeURIComponent('export function fromData(x) { return x; }')}`;
			const inData = (await import(dataUrl)) as { fromData: (x: number) => number };
			await assert.rejects(
				cache(store, () => pool.submit(inData.fromData, 1)),
				nowhere('fromData'),
			);
			assert.equal(tasks(), before);
		});

		test(`a function of a CommonJS module that only its module.exports names is found there (${kind})`, async () => {
			// `module.exports = api`: Node's import of the module names no export but `default`, the object itself.
			const file = join(freshDir(), 'cjsFns.cjs');
			// Its first property is no function: only functions are candidates.
			writeFileSync(file, "'use strict';\nconst api = {};\napi.label = 'fns';\napi.tripled = function tripled(x) { return x * 3; };\nmodule.exports = api;\n");
			const mod = createRequire(import.meta.url)(file) as { tripled: (x: number) => number };
			assert.equal(await cache(memoryStore(), () => pool.submit(mod.tripled, 4)), 12);
			assert.equal((globalThis as Record<symbol, unknown>)[Symbol.for('fleche.locate')], undefined, 'the lookup leaves nothing on the global object');
		});

		test(`a function hung on a CommonJS module.exports that is itself a function is found there (${kind})`, async () => {
			const file = join(freshDir(), 'cjsMain.cjs');
			writeFileSync(file, "'use strict';\nfunction main() { return 0; }\nmain.quartered = function quartered(x) { return x / 4; };\nmodule.exports = main;\n");
			const mod = createRequire(import.meta.url)(file) as { quartered: (x: number) => number };
			assert.equal(await cache(memoryStore(), () => pool.submit(mod.quartered, 10)), 2.5);
		});

		test(`a module whose default export is not an object still gives its named functions (${kind})`, async () => {
			const file = join(freshDir(), 'nullDefault.mjs');
			// Exported under another name than its own: the worker looks past the named exports, into the default one.
			writeFileSync(file, 'export default null;\nexport const halved = function half(x) { return x / 2; };\n');
			const mod = (await import(pathToFileURL(file).href)) as { halved: (x: number) => number };
			assert.equal(mod.halved.name, 'half');
			assert.equal(await cache(memoryStore(), () => pool.submit(mod.halved, 9)), 4.5);
		});

		test(`of two exports with the same source, the one named like the submitted function runs (${kind})`, async () => {
			// Both closures print alike; the namespace lists \`alpha\` first, so only the name tells them apart.
			const file = join(freshDir(), 'twins.mjs');
			writeFileSync(file, 'function make(k) { return function scale(x) { return x * k; }; }\nexport const alpha = make(3);\nexport const scale = make(2);\n');
			const mod = (await import(pathToFileURL(file).href)) as { alpha: (x: number) => number; scale: (x: number) => number };
			assert.equal(mod.alpha.toString(), mod.scale.toString());
			assert.equal(await cache(memoryStore(), () => pool.submit(mod.scale, 5)), 10);
		});

		test(`a script submits its own exported function from its top-level code: no deadlock (${kind})`, async () => {
			const root = freshDir();
			const r = await runNode(new URL('../fixtures/selfSubmit.js', import.meta.url), [root, kind === 'piscina' ? 'piscina' : 'threads'], {
				timeoutMs: 120_000,
			});
			assert.equal(r.code, 0, r.stderr);
			assert.deepEqual(JSON.parse(r.stdout), { out: 28, stored: true });
		});
	}

	test('a plain function submitted through the CommonJS build is found as through the ES module build', async () => {
		const cjs = createRequire(import.meta.url)('fleche') as typeof Fleche;
		assert.notEqual(cjs.wrapExecutor, wrapExecutor, 'two builds');
		const pool = cjs.wrapExecutor(new Piscina({ filename: cjs.workerFile('piscina'), maxThreads: 1 }));
		try {
			const store = new cjs.Cache(new cjs.ValueMemory(), new cjs.CallMemory());
			assert.equal(await cjs.cache(store, () => pool.submit(fns.byteSum, new Uint8Array([1, 2, 3]))).then((r) => (r as { sum: number }).sum), 6);
		} finally {
			await pool.destroy();
		}
	});

	test('an in-process { submit } executor gets the plain function bound to the submitter: nested calls use its cache', async () => {
		// The executor runs its queue later, from outside the submitter's cache scope.
		const queue: (() => unknown)[] = [];
		const executor = wrapExecutor({
			submit(fn: () => unknown) {
				return new Promise((resolve) => queue.push(() => resolve(fn())));
			},
		});
		const store = memoryStore();
		const pending = cache(store, () => executor.submit(() => fns.square(9)));
		const elsewhere = memoryStore();
		cache(elsewhere, () => {
			for (const run of queue.splice(0)) run();
		});
		assert.equal(await pending, 81);
		assert.equal(holds(store, fns.square, 9), true, "the submitter's cache");
		assert.equal(holds(elsewhere, fns.square, 9), false, 'not the one active where the executor ran it');
	});
});

describe('nested cached calls of a worker that ran with a memory cache come back with the submitted call', () => {
	for (const [kind, pool, tasks] of all) {
		test(`outerSum(x) and the square(x), twice(x) it called are all in the parent's memory cache (${kind})`, async () => {
			const mem = memoryStore();
			assert.equal(await cache(mem, () => pool.submit(fns.outerSum, 5)), 25 + 10 + 1);
			assert.equal(holds(mem, fns.outerSum, 5), true);
			assert.equal(holds(mem, fns.square, 5), true);
			assert.equal(holds(mem, fns.twice, 5), true);
			const nested = mem.query({ name: 'square' }).only();
			assert.equal(nested.result, 25, 'with its result value');
			assert.equal(nested.arguments['x'], 5, 'and its argument values');
			assert.equal(typeof (nested.metadata['runtime'] as { walltime?: unknown } | undefined)?.walltime, 'number', "and the worker's metadata");
			// In the parent's cache now: the nested call is a hit here, and a submission of it queues nothing.
			const before = tasks();
			assert.equal(await cache(mem, () => pool.submit(fns.twice, 5)), 10);
			assert.equal(tasks(), before);
		});
	}

	test('a record the parent already holds is left as it is', async () => {
		const [, pool] = all[0];
		const mem = memoryStore();
		cache(mem, () => tags({ origin: 'parent' }, () => fns.square(7)));
		await cache(mem, () => pool.submit(fns.outerSum, 7));
		assert.deepEqual(mem.query({ name: 'square' }).only().metadata['tags'], { origin: 'parent' });
		assert.equal(holds(mem, fns.twice, 7), true);
	});
});

describe('classes survive the trip through a worker pool', () => {
	for (const [kind, pool, tasks] of all) {
		for (const [storeKind, make] of [
			['memory', () => memoryStore()],
			['file', () => fileCache(freshDir())],
		] as const) {
			test(`a registered class result comes back as that class, same digest, miss and hit (${kind}, ${storeKind} store)`, async () => {
				const c = make();
				const miss = await cache(c, () => pool.submit(fns.makePoint, 3, 4));
				assert.ok(miss instanceof fns.Point, 'the miss, computed in a worker');
				assert.equal(miss.norm(), 5);
				assert.equal(digest(miss), digest(new fns.Point(3, 4)));
				const before = tasks();
				const hit = await cache(c, () => pool.submit(fns.makePoint, 3, 4));
				assert.equal(tasks(), before, 'a hit');
				assert.ok(hit instanceof fns.Point);
				assert.equal(digest(hit), digest(miss));
				// A downstream cached call keyed by it finds it under the same key.
				assert.equal(
					cache(c, () => fns.normOf.fleche.digest(hit)),
					cache(c, () => fns.normOf.fleche.digest(new fns.Point(3, 4))),
				);
			});
		}

		test(`Error subclasses, URL and URLSearchParams come back as themselves (${kind})`, async () => {
			const out = await cache(memoryStore(), () => pool.submit(fns.builtins, 'https://example.com/a?b=1'));
			assert.notEqual(out.threadId, 0);
			assert.ok(out.url instanceof URL);
			assert.equal(out.url.searchParams.get('b'), '1');
			assert.ok(out.params instanceof URLSearchParams);
			assert.equal(out.params.get('b'), '2');
			assert.ok(out.range instanceof RangeError);
			assert.equal(out.range.message, 'out of range');
			assert.ok(out.oops instanceof fns.Oops);
			assert.equal(out.oops.code, 7);
		});

		test(`URL and URLSearchParams arguments arrive as themselves, under the caller's key (${kind})`, async () => {
			const c = memoryStore();
			const u = new URL('https://example.com/x?b=1');
			const p = new URLSearchParams('b=2');
			const out = await cache(c, () => pool.submit(fns.urlParts, u, p));
			assert.notEqual(out.threadId, 0);
			assert.deepEqual({ ...out, threadId: 0 }, { isUrl: true, host: 'example.com', isParams: true, b: '2', threadId: 0 });
			const before = tasks();
			assert.deepEqual(await cache(c, () => pool.submit(fns.urlParts, new URL(u.href), new URLSearchParams('b=2'))), out);
			assert.equal(tasks(), before, 'the same URL is a hit in the caller: the worker keyed it as the caller does');
		});

		test(`a registered class argument arrives as that class, under the caller's key (${kind})`, async () => {
			logs.clear();
			const c = fileCache(freshDir());
			assert.deepEqual(await cache(c, () => pool.submit(fns.normOf, new fns.Point(6, 8))), { isPoint: true, norm: 10 });
			assert.equal(holds(c, fns.normOf, new fns.Point(6, 8)), true, 'the worker stored it under the key the caller looks up');
			assert.equal(logs.codes('FLECHE_KEY_CHANGED').length, 0);
		});

		test(`a plain function's registered class result and its nested calls come back (${kind})`, async () => {
			const mem = memoryStore();
			const p = await cache(mem, () => pool.submit(fns.plainPoint, 2, 1));
			assert.ok(p instanceof fns.Point);
			assert.deepEqual([p.x, p.y], [4, 1]);
			assert.equal(holds(mem, fns.square, 2), true);
		});
	}
});
