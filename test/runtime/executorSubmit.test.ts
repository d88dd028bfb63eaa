// docs/behaviour.md §3.2: wrapExecutor over an executor with `submit(fn, ...args)` that runs its tasks in this process,
// edge by edge — detection, pass-through, bound functions, executor options split by name, abort — the cases a
// mutation run of the executor modules (docs/mutation.md, group `executor`) showed no other fast test pinning down.
// threads.js and piscina pools over real worker threads are covered by concurrency.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BoundWrapper, bind, Cache, cache, CallFile, fleche, tags, ValueFile, wrapExecutor, type Hit } from 'fleche';
import { captureLogs } from '../support/logs.ts';
import { memoryStore } from '../support/stores.ts';
import { tmpDir } from '../support/tmp.ts';

captureLogs();

/** An executor that runs each task at once in this process and records what it was given. */
function executor() {
	const seen: { fn: unknown; rest: unknown[] }[] = [];
	return {
		seen,
		submit(fn: (...a: unknown[]) => unknown, ...rest: unknown[]) {
			seen.push({ fn, rest });
			return Promise.resolve(fn(...(typeof rest[0] === 'number' ? rest : [])));
		},
	};
}

describe('wrapExecutor over a { submit } executor, edge by edge', () => {
	test('anything without submit is refused; wrapping twice changes nothing; submit stays out of the keys', () => {
		for (const bad of [{}, { submit: 'no' }, { run: () => 1 }]) {
			assert.throws(() => wrapExecutor(bad), {
				name: 'TypeError',
				message: 'wrapExecutor() takes a threads.js Pool, a piscina pool or an object with submit(fn, ...args)',
			});
		}
		const e = executor();
		const wrapped = wrapExecutor(e);
		assert.equal(wrapped, e, 'in place');
		const submitOf = (o: object): unknown => Object.getOwnPropertyDescriptor(o, 'submit')?.value as unknown;
		const submit = submitOf(wrapped);
		assert.equal(submitOf(wrapExecutor(wrapped)), submit);
		assert.deepEqual(Object.keys(wrapped), ['seen'], 'the caching submit is not enumerable');
	});

	// A pool is recognized by all three of its traits (piscina: run, queueSize, threads); an executor with `submit`
	// and only some of them is an executor with `submit`, not a pool whose `run` would be called.
	test("an executor with submit and some, not all, of a piscina pool's traits is a { submit } executor", async () => {
		const run = () => Promise.reject(new Error('run() is not how this executor takes tasks'));
		const lookalikes = [{ queueSize: 0, threads: [] }, { run, threads: [] }, { run, queueSize: 0 }, { threads: [] }, { run }];
		for (const traits of lookalikes) {
			const e = wrapExecutor(Object.assign(executor(), traits));
			const store = memoryStore();
			assert.equal(await cache(store, () => e.submit((a: number, b: number) => a + b, 2, 3)), 5, Object.keys(traits).join(', '));
			assert.equal(e.seen.length, 1, `its submit took the task (${Object.keys(traits).join(', ')})`);
		}
	});

	// The same for a threads.js pool, recognized by queue, events and its workers array: an executor with some of them
	// would otherwise have its queue() given the task.
	test("an executor with submit and some, not all, of a threads.js pool's traits is a { submit } executor", async () => {
		const queue = () => {
			throw new Error('queue() is not how this executor takes tasks');
		};
		const events = () => undefined;
		const lookalikes = [{ queue, events }, { queue, workers: [] }, { events, workers: [] }, { queue, events, workers: {} }, { queue }];
		for (const traits of lookalikes) {
			const e = wrapExecutor(Object.assign(executor(), traits));
			const store = memoryStore();
			assert.equal(await cache(store, () => e.submit((a: number, b: number) => a + b, 2, 3)), 5, Object.keys(traits).join(', '));
			assert.equal(e.seen.length, 1, `its submit took the task (${Object.keys(traits).join(', ')})`);
		}
	});

	test('a function that is not cached goes to the executor bound to the active cache (Python #691), arguments untouched', async () => {
		const e = wrapExecutor(executor());
		const plain = (a: number, b: number) => a * b;
		const store = memoryStore();
		assert.equal(await cache(store, () => e.submit(plain, 6, 7)), 42);
		assert.deepEqual(e.seen[0]!.rest, [6, 7]);
		const state = BoundWrapper.stateOf(e.seen[0]!.fn);
		assert.equal(state?.fn, plain, 'bound');
		assert.equal(state?.cache, store, 'to the cache active at submission');
		assert.deepEqual(state?.args, []);
		const boundPlain = bind(plain, 2);
		await e.submit(boundPlain, 5);
		assert.equal(e.seen[1]!.fn, boundPlain, 'a bound plain function is passed on as it is');
	});

	test('a hit resolves without the executor; a miss runs once there and is stored in the active cache', async () => {
		const store = memoryStore();
		const e = wrapExecutor(executor());
		let runs = 0;
		const square = fleche((x: number) => (runs++, x * x), { name: 'square' });
		assert.equal(await cache(store, () => e.submit(square, 4)), 16);
		assert.equal(e.seen.length, 1);
		assert.deepEqual(e.seen[0]!.rest, [], 'the executor gets a bound callable, no arguments');
		assert.equal(
			cache(store, () => square.fleche.contains(4)),
			true,
		);
		assert.equal(await cache(store, () => e.submit(square, 4)), 16);
		assert.equal(e.seen.length, 1, 'a hit never reaches the executor');
		assert.equal(runs, 1);
		assert.equal(await cache(memoryStore(), () => e.submit(square, 4)), 16, 'another cache: a miss again');
		assert.equal(e.seen.length, 2);
	});

	test("a bound cached function runs with the cache and metadata it carries, not the submitter's", async () => {
		const boundStore = memoryStore();
		const activeStore = memoryStore();
		const e = wrapExecutor(executor());
		const add = fleche((a: number, b: number) => a + b, { name: 'add' });
		const add10 = cache(boundStore, () => tags({ origin: 'bound' }, () => add.fleche.bind(10)));
		assert.equal(await cache(activeStore, () => e.submit(add10, 5)), 15);
		assert.equal(boundStore.query({ name: 'add' }).count(), 1);
		assert.equal(activeStore.query({ name: 'add' }).count(), 0);
		assert.deepEqual(boundStore.query({ name: 'add' }).only().metadata['tags'], { origin: 'bound' });
		// A bound call that is a hit resolves without the executor too.
		assert.equal(await cache(activeStore, () => e.submit(add10, 5)), 15);
		assert.equal(e.seen.length, 1);
		// Unbound: the active cache and the active metadata at submission.
		await cache(activeStore, () => tags({ origin: 'active' }, () => e.submit(add, 1, 2)));
		assert.deepEqual(activeStore.query({ name: 'add' }).only().metadata['tags'], { origin: 'active' });
	});

	test('executor options are split off the last argument by name only, when declared and in a plain object', async () => {
		const store = memoryStore();
		const e = wrapExecutor(
			{
				seen: [] as unknown[][],
				submit(fn: () => unknown, ...rest: unknown[]) {
					this.seen.push(rest);
					return Promise.resolve(fn());
				},
			},
			{ executorOptions: ['cores'] },
		);
		const last = fleche((x: number, o?: unknown) => JSON.stringify([x, o ?? null]), { name: 'last' });
		const run = (...args: unknown[]) => cache(store, () => e.submit(last, ...args));
		assert.equal(await run(1, { cores: 2 }), '[1,null]', 'only declared keys: the argument goes');
		assert.deepEqual(e.seen.at(-1), [{ cores: 2 }]);
		assert.equal(await run(2, { cores: 2, keep: true }), '[2,{"keep":true}]', 'the rest stays the last argument');
		assert.deepEqual(e.seen.at(-1), [{ cores: 2 }]);
		assert.equal(await run(3, { keep: true }), '[3,{"keep":true}]', 'no declared key: untouched');
		assert.deepEqual(e.seen.at(-1), [], 'and the executor gets no options');
		const bare = Object.assign(Object.create(null) as Record<string, unknown>, { cores: 4 });
		assert.equal(await run(4, bare), '[4,null]', 'a prototype-less object is plain too');
		class Box {
			cores = 8;
		}
		assert.equal(await run(5, new Box()), '[5,{"cores":8}]', 'a class instance is an argument, never options');
		assert.equal(await run(6, [{ cores: 1 }]), '[6,[{"cores":1}]]', 'an array too');
		assert.equal(await run(7, null), '[7,null]');
		assert.deepEqual(e.seen.at(-1), []);
		const none = fleche(() => 'none', { name: 'noArguments' });
		assert.equal(await cache(store, () => e.submit(none)), 'none', 'no last argument at all');
		const three = fleche((a: number, b: number, o?: unknown) => JSON.stringify([a, b, o ?? null]), { name: 'three' });
		assert.equal(await cache(store, () => e.submit(three, 1, 2, { cores: 1 })), '[1,2,null]', 'every argument before the options stays');
		assert.deepEqual(e.seen.at(-1), [{ cores: 1 }]);
		// Without declared names nothing is split, not even `signal`.
		const plainExec = wrapExecutor({ submit: (fn: () => unknown) => Promise.resolve(fn()) });
		const signal = new AbortController().signal;
		const echo = fleche((o: { signal?: unknown }) => o.signal === signal, { name: 'echoSignal' });
		assert.equal(await cache(store, () => plainExec.submit(echo, { signal })), true);
	});

	test('a declared signal reaches the executor with its own submission only (in process, the executor honours it)', async () => {
		const store = memoryStore();
		const given: Record<string, unknown>[] = [];
		const e = wrapExecutor(
			{
				submit(fn: () => unknown, options?: Record<string, unknown>) {
					given.push(options ?? {});
					const signal = options?.['signal'] as AbortSignal | undefined;
					return new Promise((resolve, reject) => {
						const timer = setTimeout(() => resolve(fn()), 50);
						const abort = () => (clearTimeout(timer), reject(signal!.reason as Error));
						if (signal?.aborted) abort();
						else signal?.addEventListener('abort', abort);
					});
				},
			},
			{ executorOptions: ['signal'] },
		);
		const slow = fleche(async (x: number) => x + 100, { name: 'slowAdd' });
		const aborter = new AbortController();
		const kept = cache(store, () => e.submit(slow, 1));
		const dropped = cache(store, () => e.submit(slow, 2, { signal: aborter.signal }));
		aborter.abort();
		await assert.rejects(dropped, (err: unknown) => err instanceof Error && err.name === 'AbortError');
		assert.equal(await kept, 101);
		assert.equal(given.length, 2);
		assert.equal(given[1]!['signal'], aborter.signal, 'the executor gets the signal it was declared for');
		assert.equal('signal' in given[0]!, false);
		const already = new AbortController();
		already.abort();
		await assert.rejects(
			cache(store, () => e.submit(slow, 3, { signal: already.signal })),
			(err: unknown) => err instanceof Error && err.name === 'AbortError',
		);
	});

	test('something that looks cached but was not made by fleche() is refused', async () => {
		const e = wrapExecutor(executor());
		const impostor = Object.assign((x: number) => x, { fleche: { identity: { name: 'fake' } } });
		await assert.rejects(
			cache(memoryStore(), () => e.submit(impostor, 1)),
			{ name: 'TypeError', message: 'submit() takes functions made by fleche()' },
		);
		assert.equal(e.seen.length, 0);
	});

	test('identical submissions in one turn share one read of the store, each counting its hit; the next turn reads again', async (t) => {
		const root = tmpDir(t);
		/** A file store that counts its lookups. */
		class Counting extends Cache {
			reads = 0;
			override lookup(key: string): Hit | undefined {
				this.reads++;
				return super.lookup(key);
			}
		}
		const open = () => new Counting(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') }));
		const store = open();
		const e = wrapExecutor(executor());
		let runs = 0;
		const square = fleche((x: number) => (runs++, { squared: x * x }), { name: 'square' });
		await cache(store, () => e.submit(square, 3));
		store.reads = 0;
		const results = await cache(store, () => Promise.all(Array.from({ length: 100 }, () => e.submit(square, 3))));
		assert.deepEqual(results[99], { squared: 9 });
		assert.equal(store.reads, 1, 'one read for the hundred');
		assert.deepEqual([runs, e.seen.length], [1, 1], 'no task');
		assert.equal(store.stats({ name: 'square' })[0]?.hits, 100, 'each submission counts its hit');
		// Another process (here another instance on the same folder) evicts it: the next turn reads the store again.
		cache(open(), () => square.fleche.evict(3));
		assert.deepEqual(await cache(store, () => e.submit(square, 3)), { squared: 9 });
		assert.deepEqual([runs, e.seen.length], [2, 2], 'a miss');
		assert.ok(store.reads > 1, 'the store was read again');
	});
});
