// The runnable examples (runtime/examples/, built to out/examples/) print what the concurrency notebook states.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRedis } from '../support/servers.ts';
import { freshDir } from '../support/stores.ts';
import { runNode } from '../support/tmp.ts';

const examples = new URL('../../examples/', import.meta.url);

test('concurrency.ts prints every result the notebook states', async () => {
	// From an unrelated folder: workers find the functions' module by its file, not by the current folder.
	const r = await runNode(new URL('concurrency.js', examples), [], { cwd: freshDir(), timeoutMs: 60_000 });
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stderr, '');
	assert.deepEqual(r.stdout.trimEnd().split('\n'), [
		'## 1. BoundWrapper.bind — explicit state capture',
		'### 1a. Thread pool',
		'Results: [ 1, 3, 5, 7 ]',
		'In myCache: true',
		'### 1b. Passing a bound callable around',
		'Results: [ 1, 3, 5, 7 ]',
		'In myCache: true',
		'### 1c. Worker pool with file storage',
		'Results: [ 0, 1, 8, 27, 64 ]',
		'Cached: true',
		'### 1d. A piscina pool that takes resource options with each task',
		'Results: [ 0, 1, 8, 27, 64 ]',
		'In sharedCache: true',
		'## 2. Promise pass-through — cache async return values',
		'First call returns a Promise: true',
		'Result: 16',
		'Cached: true',
		'Second call is the cached value: 16',
		'Tasks run for it: 0',
		'## 3. wrapExecutor — transparent submit interception',
		'### 3a. Thread pool: cache hits skip the executor',
		'First-pass results: [ 0, 3, 6, 9 ]',
		'All already done? true',
		'Cached results: [ 0, 3, 6, 9 ]',
		'Tasks queued: 0',
		'### 3b. Worker pool with a file-backed cache',
		'Results: [ 0, 1, 8, 27, 64 ]',
		'Cached: true',
		'### 3c. Executor-specific options are split by a declared list',
		'Result: 125',
		'Resources went to the executor: [ { cores: 4 } ]',
	]);
});

test('distributed.ts runs the notebook on two fleche workers through Redis, and says how to start Redis when there is none', async (t) => {
	const redis = await startRedis();
	t.after(() => redis.close());
	const env = (REDIS_URL: string): NodeJS.ProcessEnv => {
		const { NODE_TEST_CONTEXT: _, ...rest } = process.env;
		return { ...rest, REDIS_URL };
	};
	const r = await runNode(new URL('distributed.js', examples), [], { cwd: freshDir(), env: env(redis.url), timeoutMs: 120_000 });
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stderr, '');
	assert.deepEqual(r.stdout.trimEnd().split('\n'), [
		'## 4. Distributed — fleche/bullmq: cached calls on worker processes, through Redis',
		'### 4a. Misses run on the workers, one job per distinct call',
		'Results: [0,1,8,27,64,64,64]',
		'Jobs: 5',
		'### 4b. Hits never make a job',
		'Results: [0,1,8,27,64]',
		'Jobs: 5',
		'### 4c. A remote failure comes back with its message',
		'Rejected: true no cube for 7',
		'### 4d. A memory cache cannot travel',
		'Refused: true',
		'Workers stopped with: [ 143, 143 ]',
	]);
	await redis.stop();
	const none = await runNode(new URL('distributed.js', examples), [], { cwd: freshDir(), env: env(redis.url), timeoutMs: 60_000 });
	assert.equal(none.code, 0, none.stderr);
	assert.match(none.stdout, /Redis is not reachable at redis:\/\/127\.0\.0\.1:\d+: this step needs one\.\nStart one with `redis-server/);
});
