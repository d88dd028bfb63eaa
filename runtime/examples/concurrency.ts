// The concurrency notebook (reference §1.7, §3), cell by cell, with worker threads where Python uses threads and
// processes: threads.js pools for ThreadPoolExecutor/ProcessPoolExecutor, piscina for a pool with resource options
// (executorlib). Run: `npm start` (or `node out/examples/concurrency.js` after `node esbuild.mjs`).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { Pool, spawn } from 'threads';
import {
	BoundWrapper,
	cache,
	Cache,
	CallFile,
	CallMemory,
	describeBound,
	fleche,
	threadsWorker,
	ValueFile,
	ValueMemory,
	workerFile,
	wrapExecutor,
	type BoundReply,
	type BoundCall,
} from 'fleche';
import type * as Tasks from './concurrencyTasks.ts';

// Workers import the functions' module by its file: it must be a file of its own, not inlined into this one.
const { add, expensive, cubeSne, triple } = (await import(new URL('./concurrencyTasks.js', import.meta.url).href)) as typeof Tasks;

const memoryCache = () => new Cache(new ValueMemory(), new CallMemory());
const fileStore = (dir: string) => new Cache(new ValueFile({ root: join(dir, 'values') }), new CallFile({ root: join(dir, 'calls') }));
/** A threads.js pool of fleche worker threads, given `submit(fn, ...args)` (threads.js pools have only `queue`). */
const threadPool = (size: number) => wrapExecutor(Pool(() => spawn(threadsWorker()), size));
/** A `fleche/worker` thread as threads.js hands it to a queued task. */
type Runner = { run(call: BoundCall): Promise<BoundReply> };

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
	const dir = mkdtempSync(join(tmpdir(), 'fleche-concurrency-'));
	try {
		await body(dir);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

/**
 * A pool that takes resource options of its own, `submit(fn, ...args, { resources })`, running bound calls in piscina
 * worker threads (the part executorlib's `SingleNodeExecutor` plays in the Python notebook).
 */
class ResourcePool {
	readonly granted: unknown[] = [];
	private readonly pool = new Piscina({ filename: workerFile('piscina'), maxThreads: 2 });

	async submit(fn: (...args: never[]) => unknown, ...args: unknown[]): Promise<unknown> {
		const last = args[args.length - 1] as { resources?: unknown } | undefined;
		if (typeof last === 'object' && last !== null && 'resources' in last) {
			this.granted.push(last.resources);
			args = args.slice(0, -1);
		}
		const reply = (await this.pool.run(describeBound(fn, ...args))) as BoundReply;
		return reply.value;
	}

	close(): Promise<void> {
		return this.pool.destroy();
	}
}

console.log('## 1. BoundWrapper.bind — explicit state capture');

console.log('### 1a. Thread pool');
{
	const pool = threadPool(2);
	const myCache = memoryCache();
	const results = await cache(myCache, () => Promise.all([0, 1, 2, 3].map((x) => pool.submit(BoundWrapper.bind(add), x, x + 1))));
	console.log('Results:', results); // [1, 3, 5, 7]
	console.log('In myCache:', myCache.contains(cache(myCache, () => add.fleche.digest(0, 1)))); // true
	await pool.terminate();
}

console.log('### 1b. Passing a bound callable around');
{
	const myCache = memoryCache();
	const boundAdd = cache(myCache, () => BoundWrapper.bind(add)); // bind once, reuse anywhere
	// boundAdd carries myCache: no cache scope is needed where it is submitted.
	const pool = threadPool(2);
	const results = await Promise.all([0, 1, 2, 3].map((x) => pool.submit(boundAdd, x, x + 1)));
	console.log('Results:', results); // [1, 3, 5, 7]
	console.log('In myCache:', myCache.contains(cache(myCache, () => add.fleche.digest(0, 1)))); // true
	await pool.terminate();
}

console.log('### 1c. Worker pool with file storage');
// Workers cannot see the parent's memory: with file (or SQL) storage they write where the parent reads.
await withTempDir(async (dir) => {
	const sharedCache = fileStore(dir);
	const pool = Pool(() => spawn(threadsWorker()), 2); // plain threads.js: bound calls are plain data it can queue
	const bound = cache(sharedCache, () => BoundWrapper.bind(expensive));
	const replies = await Promise.all([0, 1, 2, 3, 4].map((x) => pool.queue((w) => (w as unknown as Runner).run(describeBound(bound, x)))));
	console.log('Results:', replies.map((r) => (r as BoundReply).value)); // [0, 1, 8, 27, 64]
	console.log('Cached:', sharedCache.contains(cache(sharedCache, () => expensive.fleche.digest(3)))); // true
	await pool.terminate();
});

console.log('### 1d. A piscina pool that takes resource options with each task');
await withTempDir(async (dir) => {
	const sharedCache = fileStore(dir);
	const executor = new ResourcePool();
	const results = await cache(sharedCache, () => Promise.all([0, 1, 2, 3, 4].map((x) => executor.submit(BoundWrapper.bind(cubeSne), x))));
	console.log('Results:', results); // [0, 1, 8, 27, 64]
	console.log('In sharedCache:', sharedCache.contains(cache(sharedCache, () => cubeSne.fleche.digest(3)))); // true
	await executor.close();
});

console.log('## 2. Promise pass-through — cache async return values');
{
	const squarePool = new Piscina({ filename: new URL('./concurrencySquare.js', import.meta.url).href, maxThreads: 2 });
	/** Submits work and returns a Promise; fleche caches the result when it resolves. */
	const squareAsync = fleche((x: number) => squarePool.run(x) as Promise<number>);
	const myCache = memoryCache();
	await cache(myCache, async () => {
		const pending = squareAsync(4);
		console.log('First call returns a Promise:', pending instanceof Promise); // true
		console.log('Result:', await pending); // 16
		console.log('Cached:', myCache.contains(squareAsync.fleche.digest(4))); // true
		// Second call: nothing is submitted; the cached value comes back as an already-resolved Promise.
		const before = squarePool.completed;
		console.log('Second call is the cached value:', await squareAsync(4)); // 16
		console.log('Tasks run for it:', squarePool.completed - before); // 0
	});
	await squarePool.destroy();
}

console.log('## 3. wrapExecutor — transparent submit interception');

console.log('### 3a. Thread pool: cache hits skip the executor');
{
	const myCache = memoryCache();
	await cache(myCache, async () => {
		// First pass: the cache is cold, work runs in workers.
		const first = threadPool(2);
		const results = await Promise.all([0, 1, 2, 3].map((x) => first.submit(triple, x)));
		console.log('First-pass results:', results); // [0, 3, 6, 9]
		await first.terminate();

		// Second pass: every submission is already cached.
		const second = threadPool(2);
		let queued = 0;
		(second.events() as { subscribe(o: { next(e: { type: string }): void; error(err: unknown): void }): unknown }).subscribe({
			next: (e) => {
				if (e.type === 'taskQueued') queued++;
			},
			// A worker that fails to start errors the event stream; unheard, that error would crash the process.
			error: () => undefined,
		});
		const promises = [0, 1, 2, 3].map((x) => second.submit(triple, x));
		const marker = Symbol('pending');
		const done = await Promise.all(promises.map((p) => Promise.race([p, Promise.resolve(marker)]).then((v) => v !== marker)));
		console.log('All already done?', done.every(Boolean)); // true
		console.log('Cached results:', await Promise.all(promises)); // [0, 3, 6, 9]
		console.log('Tasks queued:', queued); // 0
		await second.terminate();
	});
}

console.log('### 3b. Worker pool with a file-backed cache');
await withTempDir(async (dir) => {
	const sharedCache = fileStore(dir);
	const pool = wrapExecutor(new Piscina({ filename: workerFile('piscina'), maxThreads: 2 }));
	const results = await cache(sharedCache, () => Promise.all([0, 1, 2, 3, 4].map((i) => pool.submit(expensive, i))));
	console.log('Results:', results); // [0, 1, 8, 27, 64]
	console.log('Cached:', sharedCache.contains(cache(sharedCache, () => expensive.fleche.digest(3)))); // true
	await pool.destroy();
});

console.log('### 3c. Executor-specific options are split by a declared list');
await withTempDir(async (dir) => {
	const sharedCache = fileStore(dir);
	const executor = wrapExecutor(new ResourcePool(), { executorOptions: ['resources'] });
	const result = await cache(sharedCache, () => executor.submit(expensive, 5, { resources: { cores: 4 } }));
	console.log('Result:', result); // 125: `5` went to expensive
	console.log('Resources went to the executor:', executor.granted); // [ { cores: 4 } ]
	await executor.close();
});
