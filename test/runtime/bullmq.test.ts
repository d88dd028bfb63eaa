// fleche/bullmq (docs/behaviour.md §3.5) against a real Redis (test/support/servers.ts) and real `fleche worker`
// processes importing test/fixtures/bullmqFns.ts (TypeScript, transpiled by the worker as for `fleche rerun`). Every
// body leaves a marker file, so the tests count runs; jobs are counted through BullMQ's Queue API. Every wait is
// bounded by an outcome (a marker, a line, an exit, a settled promise), never by a sleep.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { QueueEvents } from 'bullmq';
import { hostname } from 'node:os';
import { cache, Cache, CallMemory, fileCache, setLogger, ValueMemory, wrapExecutor } from 'fleche';
import { bullmqExecutor, QueueUnavailable, RemoteCallFailed, type BullmqExecutor } from 'fleche/bullmq';
import { discoverCaches, openStore, type CallInFlight } from 'fleche/inspect';
import type * as Fns from '../fixtures/bullmqFns.ts';
import { loadFixture } from '../support/fixtures.ts';
import { pollCeilingMs, waitFor } from '../support/poll.ts';
import { runtimeDir, userProject } from '../support/project.ts';
import { startRedis, type RedisServer } from '../support/servers.ts';
import { runNode, tmpDir } from '../support/tmp.ts';

const fns = await loadFixture<typeof Fns>('bullmqFns.js');
const repo = resolve(runtimeDir, '..');
const bin = join(runtimeDir, 'bin', 'fleche.mjs');

let redis: RedisServer;
before(async () => {
	redis = await startRedis();
});
after(async () => {
	await redis?.close();
});

let queues = 0;
/** A queue of its own per test: jobs of one test never meet another's. */
const newQueue = (): string => `t${process.pid}-${++queues}`;

interface Worker {
	readonly child: ChildProcess;
	readonly pid: number;
	/** Resolves with the exit status (or the signal that ended it). */
	readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
	stderr(): string;
}

/** Starts `fleche worker` and resolves once it serves the queue (its first stdout line). */
async function startWorker(t: TestContext, url: string, queue: string, extra: readonly string[] = []): Promise<Worker> {
	const { NODE_TEST_CONTEXT: _, ...env } = process.env;
	const child = spawn(process.execPath, ['--enable-source-maps', bin, 'worker', '--redis', url, '--queue', queue, '--cwd', repo, ...extra], {
		env,
		stdio: 'pipe',
	});
	let stdout = '';
	let stderr = '';
	child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
	child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
	const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
	let gone = false;
	void exited.then(() => (gone = true));
	t.after(async () => {
		if (!gone) child.kill('SIGKILL');
		await exited;
	});
	await waitFor(`fleche worker to serve ${queue} (stderr: ${stderr})`, () => {
		if (gone) throw new Error(`fleche worker exited before serving: ${stderr}`);
		return stdout.includes('serving queue');
	});
	return { child, pid: child.pid!, exited, stderr: () => stderr };
}

function executorFor(t: TestContext, queue: string, url = redis.url): BullmqExecutor {
	const executor = bullmqExecutor({ url, queue });
	t.after(() => executor.close());
	return executor;
}

/** The marker files of `what` (e.g. `square-3`) runs, each naming the pid of the worker that ran the body. */
function runsOf(marks: string, what: string): string[] {
	return readdirSync(marks)
		.filter((f) => f.startsWith(`${what}-`))
		.map((f) => readFileSync(join(marks, f), 'utf8'));
}

/** `submit()` again while it rejects with QueueUnavailable (Redis still coming back), under the poll ceiling. */
async function untilReachable<T>(submit: () => Promise<T>): Promise<T> {
	const started = Date.now();
	for (;;) {
		try {
			return await submit();
		} catch (err) {
			if (!QueueUnavailable.is(err) || Date.now() - started > pollCeilingMs) throw err;
			await new Promise((r) => setTimeout(r, 50));
		}
	}
}

async function totalJobs(executor: BullmqExecutor): Promise<number> {
	const counts = await executor.queue.getJobCounts();
	return Object.values(counts).reduce((a, b) => a + b, 0);
}

test("import 'fleche' loads neither bullmq nor ioredis; fleche/bullmq loads them on first use", async (t) => {
	const project = userProject(
		{
			'probe.mjs': `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const loaded = () => Object.keys(require.cache).filter((f) => /[\\/]node_modules[\\/](bullmq|ioredis)[\\/]/.test(f)).length;
await import('fleche');
const main = loaded();
const { bullmqExecutor } = await import('fleche/bullmq');
const entry = loaded();
const executor = bullmqExecutor({ url: process.argv[2], queue: 'probe' });
const used = loaded();
await executor.close();
console.log(JSON.stringify({ main, entry, used: used > 0 }));
`,
		},
		t,
	);
	const run = await runNode(join(project, 'probe.mjs'), [redis.url], { cwd: project });
	assert.equal(run.code, 0, run.stderr);
	assert.deepEqual(JSON.parse(run.stdout), { main: 0, entry: 0, used: true });
});

test('3 workers, 2 submitting processes, the same 100 calls: each body runs once, every submitter gets every result; hits then create no job', async (t) => {
	const queue = newQueue();
	const root = tmpDir(t);
	const marks = tmpDir(t);
	await Promise.all([1, 2, 3].map(() => startWorker(t, redis.url, queue, ['--concurrency', '4'])));
	const submit = (): ReturnType<typeof runNode> =>
		runNode(new URL('../fixtures/bullmqSubmit.js', import.meta.url), [redis.url, queue, root, marks, '0', '100'], { timeoutMs: 180_000 });
	const outputs = await Promise.all([submit(), submit()]);
	const expected = Array.from({ length: 100 }, (_, x) => x * x);
	for (const out of outputs) {
		assert.equal(out.code, 0, out.stderr);
		assert.deepEqual((JSON.parse(out.stdout) as { results: number[] }).results, expected);
	}
	for (let x = 0; x < 100; x++) assert.equal(runsOf(marks, `square-${x}`).length, 1, `square(${x}) ran once`);
	const executor = executorFor(t, queue);
	const counts = await executor.queue.getJobCounts();
	assert.equal(counts['completed'], 100, 'one job per call, whatever the number of submitters');
	const before = await totalJobs(executor);
	using _ = cache(fileCache(root));
	const again = await Promise.all(expected.map((_v, x) => executor.submit(fns.square, marks, x)));
	assert.deepEqual(again, expected);
	assert.equal(await totalJobs(executor), before, 'hits create no job');
	assert.equal(readdirSync(marks).length, 100, 'and run no body');
});

test('results come back as the store keeps them; executor options go to the job, not to the function; uncached results travel as JSON', async (t) => {
	const queue = newQueue();
	const root = tmpDir(t);
	const marks = tmpDir(t);
	await startWorker(t, redis.url, queue);
	const executor = executorFor(t, queue);
	assert.equal(wrapExecutor(executor), executor, 'already wrapped: wrapping again changes nothing');
	using _ = cache(fileCache(root));
	assert.equal(await executor.submit(fns.square, marks, 7, { priority: 3, attempts: 2 }), 49);
	const job = await executor.queue.getJob(fns.square.fleche.digest(marks, 7));
	assert.ok(job, "the job's id is the call's key");
	assert.equal(job.opts.priority, 3);
	assert.equal(job.opts.attempts, 2);
	assert.deepEqual((job.data as { args: unknown[] }).args, [marks, 7], 'the options are not an argument');
	assert.deepEqual(
		job.returnvalue,
		{ fleche: 'bullmqReply/1', key: job.id, stored: true, value: 49 },
		'stored before the job completed, and the result JSON keeps travels in the reply as well',
	);
	const date = await executor.submit(fns.when, 1234);
	assert.ok(date instanceof Date, 'read from the store: a Date stays a Date');
	assert.equal(date.getTime(), 1234);
	const dateJob = await executor.queue.getJob(fns.when.fleche.digest(1234));
	const dateReply = dateJob?.returnvalue as Record<string, unknown>;
	assert.equal(dateReply['stored'], true);
	assert.equal(dateReply['key'], dateJob?.id, 'the worker stored it under the key the submitter asked for');
	assert.equal('value' in dateReply, false, 'a Date does not travel as JSON: only its key does');
	assert.equal(await executor.submit(fns.nothing, 1), undefined, 'an undefined result is not stored, and still answers');
	// A second submission misses in the store again, and its add finds the job finished (BullMQ's `duplicated` event):
	// the answer is read from the job then, not left to the sweep of unheard jobs (every 5 s, beyond the timeout).
	assert.equal(await executor.submit(fns.nothing, 1, { timeout: 4000 }), undefined, 'the finished job answers a later submission');
	assert.equal((await executor.queue.getJob(fns.nothing.fleche.digest(1)))?.attemptsMade, 1, 'as it finished: not run again');
});

test('a submission that gives up (timeout, signal) rejects; its job still runs, and a later submission joins it', async (t) => {
	const queue = newQueue();
	const root = tmpDir(t);
	const marks = tmpDir(t);
	const go = join(tmpDir(t), 'go');
	const worker = await startWorker(t, redis.url, queue, ['--concurrency', '2']);
	const executor = executorFor(t, queue);
	using _ = cache(fileCache(root));
	await assert.rejects(
		executor.submit(fns.gated, marks, go, 3, { timeout: 50 }),
		/Gave up waiting for job [0-9a-f]{64} of queue .* after 50 ms \(it keeps running\)/,
	);
	const controller = new AbortController();
	const aborted = executor.submit(fns.gated, marks, go, 4, { signal: controller.signal });
	await waitFor('both bodies to start', () => runsOf(marks, 'gated-3').length === 1 && runsOf(marks, 'gated-4').length === 1);
	controller.abort();
	await assert.rejects(aborted, { name: 'AbortError' });
	const later = [executor.submit(fns.gated, marks, go, 3), executor.submit(fns.gated, marks, go, 4)];
	writeFileSync(go, '');
	assert.deepEqual(await Promise.all(later), [
		{ x: 3, pid: worker.pid },
		{ x: 4, pid: worker.pid },
	]);
	assert.equal(runsOf(marks, 'gated-3').length + runsOf(marks, 'gated-4').length, 2, 'each body ran once');
});

test("a failing call rejects the submitter with the remote error's message and stack; resubmitting runs it again", async (t) => {
	const queue = newQueue();
	const root = tmpDir(t);
	await startWorker(t, redis.url, queue);
	const executor = executorFor(t, queue);
	using _ = cache(fileCache(root));
	for (let attempt = 0; attempt < 2; attempt++) {
		const err = await executor.submit(fns.fails, 5).then(
			() => assert.fail('a failing call resolved'),
			(e: unknown) => e as Error,
		);
		assert.ok(RemoteCallFailed.is(err), String(err));
		assert.equal(err.message, 'no good value for 5');
		assert.match(err.stack ?? '', /^RangeError: no good value for 5\n\s+at .*bullmqFns\.ts:\d+/, "the stack is the worker's, source-mapped to the module");
	}
	const job = await executor.queue.getJob(fns.fails.fleche.digest(5));
	assert.equal(job?.attemptsMade, 2, 'the second submission was a new attempt of the same job');
});

test('a memory cache and plain functions are refused: they cannot travel; no job is made', async (t) => {
	const queue = newQueue();
	const executor = executorFor(t, queue);
	{
		using _ = cache(new Cache(new ValueMemory(), new CallMemory()));
		await assert.rejects(executor.submit(fns.square, '/nowhere', 1), /memory storage, which a worker on another process or machine cannot reach/);
	}
	await assert.rejects(
		executor.submit((x: number) => x + 1, 1),
		/runs only functions made by fleche\(\): a plain function \(a closure\) cannot travel/,
	);
	assert.equal(await totalJobs(executor), 0);
});

test("a job naming a module outside the worker's project fails with the reason, and nothing outside is imported", { timeout: 120_000 }, async (t) => {
	const queue = newQueue();
	const outside = tmpDir(t);
	const marker = join(outside, 'imported');
	const file = join(outside, 'evil.mjs');
	writeFileSync(file, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\n`);
	await startWorker(t, redis.url, queue);
	const executor = executorFor(t, queue);
	// Read from the start of this fresh queue's event stream: a QueueEvents reads from `$` by default, from its first
	// XREAD, which may come after `waitUntilReady()` and after a job refused in milliseconds; its `failed` event was
	// then never heard, and `waitUntilFinished` waited forever (a CI run hung here).
	const events = new QueueEvents(queue, { connection: { url: redis.url }, lastEventId: '0-0' });
	t.after(() => events.close());
	await events.waitUntilReady();
	for (const module of ['../../evil.mjs', file]) {
		const call = { fleche: 'boundCall/1', module, name: 'f', file, cache: null, metadata: [], args: [], key: null };
		const job = await executor.queue.add('evil', call);
		await assert.rejects(job.waitUntilFinished(events), /Refusing to run module .*not a plain path inside the project/);
	}
	assert.equal(existsSync(marker), false, 'the file the job names was never imported');
});

test('a worker SIGKILLed mid-job: the job is recovered as stalled and finished by another worker; nothing is lost', async (t) => {
	const queue = newQueue();
	const root = tmpDir(t);
	const marks = tmpDir(t);
	const go = join(tmpDir(t), 'go');
	// Short locks, so the stalled job is found soon (BullMQ's options, passed by the CLI); long enough that a live worker
	// on a loaded machine still renews its lock in time (a second stall fails the job: BullMQ's maxStalledCount).
	const fast = ['--lock-duration', '5000', '--stalled-interval', '1000'];
	const workers = await Promise.all([startWorker(t, redis.url, queue, fast), startWorker(t, redis.url, queue, fast)]);
	const executor = executorFor(t, queue);
	using _ = cache(fileCache(root));
	const result = executor.submit(fns.gated, marks, go, 1);
	await waitFor('the body to start on a worker', () => runsOf(marks, 'gated-1').length === 1);
	const victim = Number(runsOf(marks, 'gated-1')[0]);
	const killed = workers.find((w) => w.pid === victim);
	assert.ok(killed, 'a worker ran it');
	killed.child.kill('SIGKILL');
	assert.equal((await killed.exited).signal, 'SIGKILL');
	writeFileSync(go, '');
	const value = await result;
	const survivor = workers.find((w) => w !== killed)!;
	assert.deepEqual(value, { x: 1, pid: survivor.pid }, 'finished by the other worker');
	assert.deepEqual(runsOf(marks, 'gated-1').map(Number).sort(), [victim, survivor.pid].sort(), 'run twice: once killed, once to the end');
	const before = await totalJobs(executor);
	assert.deepEqual(await executor.submit(fns.gated, marks, go, 1), value, 'stored: a hit now');
	assert.equal(await totalJobs(executor), before);
});

test('a worker SIGTERMed mid-job finishes the job, then exits with status 143', async (t) => {
	const queue = newQueue();
	const root = tmpDir(t);
	const marks = tmpDir(t);
	const go = join(tmpDir(t), 'go');
	const worker = await startWorker(t, redis.url, queue);
	const executor = executorFor(t, queue);
	using _ = cache(fileCache(root));
	const result = executor.submit(fns.gated, marks, go, 2);
	await waitFor('the body to start', () => runsOf(marks, 'gated-2').length === 1);
	worker.child.kill('SIGTERM');
	// The job can only end once `go` exists: the worker cannot have exited before.
	writeFileSync(go, '');
	assert.deepEqual(await result, { x: 2, pid: worker.pid });
	assert.deepEqual(await worker.exited, { code: 143, signal: null });
	assert.equal(runsOf(marks, 'gated-2').length, 1);
});

test('Redis stopped mid-run: waiting submissions and new ones reject with a clear error, none hangs; after the restart submissions work again', async (t) => {
	const own = await startRedis();
	t.after(() => own.close());
	const queue = newQueue();
	const root = tmpDir(t);
	const marks = tmpDir(t);
	const go = join(tmpDir(t), 'go');
	await startWorker(t, own.url, queue, ['--concurrency', '4']);
	const executor = executorFor(t, queue, own.url);
	using _ = cache(fileCache(root));
	const waiting = [10, 11, 12].map((x) => executor.submit(fns.gated, marks, go, x));
	await waitFor('the bodies to start', () => readdirSync(marks).length === 3);
	await own.stop();
	const outcomes = await Promise.allSettled(waiting);
	for (const o of outcomes) {
		assert.equal(o.status, 'rejected');
		assert.ok(QueueUnavailable.is(o.reason), String(o.reason));
		assert.match((o.reason as Error).message, /Lost the connection to the job queue .*Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable/);
	}
	await assert.rejects(executor.submit(fns.square, marks, 1), (err: unknown) => QueueUnavailable.is(err) && /Cannot submit/.test((err as Error).message));
	await own.start();
	writeFileSync(go, '');
	// The executor and the worker reconnect by themselves: submissions fail fast until they have, then go through.
	const value = await untilReachable(() => executor.submit(fns.square, marks, 3));
	assert.equal(value, 9);
});

/** Polls an async read until `accept` takes its value (bounded by the poll ceiling). */
async function until<T>(what: string, read: () => Promise<T>, accept: (value: T) => boolean): Promise<T> {
	const started = Date.now();
	for (;;) {
		const value = await read();
		if (accept(value)) return value;
		if (Date.now() - started > pollCeilingMs) throw new Error(`Timed out waiting for ${what}: last ${JSON.stringify(value)}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

/** A project whose fleche.toml names the file store `root` as cache `team`, and the queues its jobs run on. */
function teamProject(t: TestContext, root: string, queues: readonly { url: string; queue: string }[]): string {
	const list = queues.map((q) => `{ url = ${JSON.stringify(q.url)}, queue = ${JSON.stringify(q.queue)} }`).join(', ');
	return userProject({ 'fleche.toml': `[team]\ntemplate = "file"\nroot = ${JSON.stringify(root)}\nqueues = [${list}]\n` }, t);
}

test('fleche/inspect inFlightAll(): a queued and a running job with function, where and since, watched by queue events; gone once finished; never the password', async (t) => {
	const queue = newQueue();
	const root = tmpDir(t);
	const marks = tmpDir(t);
	const go = join(tmpDir(t), 'go');
	// The server has no password: ioredis says so and goes on, which lets the test check that the URL's is never shown.
	const secretUrl = redis.url.replace('redis://', 'redis://:s3cret-pw@');
	const project = teamProject(t, root, [{ url: secretUrl, queue }]);
	const [location] = discoverCaches(project).filter((l) => l.name === 'team');
	assert.deepEqual(location?.queues, [{ url: secretUrl, queue }], 'discovery reads the queues of the section');
	const store = openStore('team', { cwd: project });
	t.after(() => store.close());
	let changes = 0;
	const watching = store.watch(() => changes++, { debounceMs: 20 });
	t.after(() => watching.dispose());
	assert.deepEqual(await store.inFlightAll(), [], 'nothing in flight yet');

	const worker = await startWorker(t, redis.url, queue, ['--concurrency', '1']);
	const executor = executorFor(t, queue);
	using _ = cache(fileCache(root));
	const startedAt = Date.now();
	const first = executor.submit(fns.gated, marks, go, 1);
	await waitFor('the first body to start', () => runsOf(marks, 'gated-1').length === 1);
	const second = executor.submit(fns.gated, marks, go, 2);
	const both = await until(
		'a running and a queued call',
		() => store.inFlightAll(),
		(calls) => calls.length === 2,
	);
	const byKey = new Map<string, CallInFlight>(both.map((c) => [c.key, c]));
	const running = byKey.get(fns.gated.fleche.digest(marks, go, 1));
	const queued = byKey.get(fns.gated.fleche.digest(marks, go, 2));
	const module = 'test/fixtures/bullmqFns.ts';
	assert.ok(running && queued, JSON.stringify(both));
	assert.equal(running.state, 'running');
	assert.equal(running.where, `${hostname()}:${worker.pid}`, 'the worker that runs it, by host and pid');
	assert.deepEqual(running.fn, { module, name: 'gated' });
	assert.equal(queued.state, 'queued');
	assert.deepEqual(queued.fn, { module, name: 'gated' });
	for (const call of both) {
		assert.ok(call.since !== null && call.since >= startedAt - 1000 && call.since <= Date.now(), `since ${call.since}`);
		assert.equal(call.queue, `${queue} at ${redis.url}`);
	}
	assert.doesNotMatch(JSON.stringify(both), /s3cret-pw/, 'the Redis password is never shown');
	await waitFor('queue events to reach the watcher', () => changes > 0);

	const seen = changes;
	writeFileSync(go, '');
	assert.deepEqual(await Promise.all([first, second]), [
		{ x: 1, pid: worker.pid },
		{ x: 2, pid: worker.pid },
	]);
	assert.deepEqual(await store.inFlightAll(), [], 'finished calls are no longer in flight');
	assert.deepEqual(
		store.functions().map((f) => [f.name, f.calls]),
		[['gated', 2]],
		'they are cached calls now',
	);
	await waitFor('the completions to reach the watcher', () => changes > seen);
});

test('fleche/inspect inFlightAll(): an unreachable queue is warned about once, without its password, and the listing answers without it', async (t) => {
	const own = await startRedis();
	const url = own.url.replace('redis://', 'redis://user:s3cret-pw@');
	await own.close();
	const root = tmpDir(t);
	const project = teamProject(t, root, [{ url, queue: 'gone' }]);
	const store = openStore('team', { cwd: project });
	t.after(() => store.close());
	const warnings: string[] = [];
	setLogger((record) => warnings.push(`${record.code}: ${record.message}`));
	t.after(() => setLogger(null));
	assert.deepEqual(await store.inFlightAll(), []);
	assert.equal(warnings.length, 1, warnings.join('\n'));
	assert.match(warnings[0]!, /^FLECHE_QUEUE_UNREADABLE: Cannot read the jobs of queue gone at redis:\/\/127\.0\.0\.1:\d+/);
	assert.doesNotMatch(warnings[0]!, /s3cret-pw|user/);
});

test(
	'a job removed as it completes (removeOnComplete) before another submitter looks: that submitter still gets the result, from the store, and no body runs again',
	{ timeout: 120_000 },
	async (t) => {
		const queue = newQueue();
		const root = tmpDir(t);
		const marks = tmpDir(t);
		const go = join(tmpDir(t), 'go');
		await startWorker(t, redis.url, queue, ['--concurrency', '2']);
		const first = executorFor(t, queue);
		const joining = executorFor(t, queue);
		using _ = cache(fileCache(root));
		const added = first.submit(fns.gated, marks, go, 5, { removeOnComplete: true });
		await waitFor('the body to start', () => runsOf(marks, 'gated-5').length === 1);
		// Joins the running job, then the job completes and is removed at once.
		const joined = joining.submit(fns.gated, marks, go, 5);
		writeFileSync(go, '');
		const [a, b] = await Promise.all([added, joined]);
		assert.deepEqual(a, b);
		assert.equal(await first.queue.getJob(fns.gated.fleche.digest(marks, go, 5)), undefined, 'the job was removed');
		// A submitter that connects only now finds no job, only the stored result: a hit, no job made.
		const late = executorFor(t, queue);
		assert.deepEqual(await late.submit(fns.gated, marks, go, 5), a);
		// The window where a submitter missed in the store just before the result landed, and adds its job only after
		// the first was removed: its job is a new one, and the worker answers it from the store (a hit, no run).
		const call = {
			fleche: 'boundCall/1',
			module: 'test/fixtures/bullmqFns.ts',
			name: 'gated',
			file: '',
			cache: fileCache(root).toConfig(),
			metadata: [],
			args: [marks, go, 5],
			key: fns.gated.fleche.digest(marks, go, 5),
		};
		const again = await late.queue.add('again', call, { jobId: call.key });
		// Polled, not heard: a QueueEvents started now reads from `$` at its first read, after a job answered from the
		// store in milliseconds may already have completed (a CI run hung here), and reading from the stream's start
		// would hear the first job's completion, which has the same id.
		let finished = await late.queue.getJob(again.id!);
		while (finished?.finishedOn === undefined) {
			await new Promise((resolve) => setTimeout(resolve, 20));
			finished = await late.queue.getJob(again.id!);
		}
		assert.equal(finished.failedReason, undefined, 'the re-added job did not fail');
		assert.deepEqual(
			finished.returnvalue,
			{ fleche: 'bullmqReply/1', key: call.key, stored: true, value: a },
			'answered from the store, the JSON-faithful result along',
		);
		assert.equal(runsOf(marks, 'gated-5').length, 1, 'the body ran once');
		assert.equal(await totalJobs(late), 1, 'only the re-added job: the late submitter made none');
	},
);

test('a result evicted from the store after its job completed is run again by the next submission, once (the copy in the finished job is not served)', async (t) => {
	const queue = newQueue();
	const root = tmpDir(t);
	const marks = tmpDir(t);
	await startWorker(t, redis.url, queue);
	const executor = executorFor(t, queue);
	using _ = cache(fileCache(root));
	assert.equal(await executor.submit(fns.square, marks, 9), 81);
	const key = fns.square.fleche.digest(marks, 9);
	assert.equal(((await executor.queue.getJob(key))?.returnvalue as { value?: unknown }).value, 81, 'the finished job carries the result');
	fileCache(root).evict(key);
	assert.equal(await executor.submit(fns.square, marks, 9), 81);
	assert.equal(runsOf(marks, 'square-9').length, 2, 'the evicted call ran again');
	assert.equal(fileCache(root).lookup(key)?.value, 81, 'and its result is back in the store');
	assert.equal(await executor.submit(fns.square, marks, 9), 81);
	assert.equal(runsOf(marks, 'square-9').length, 2, 'a hit then: no third run');
	assert.equal(await totalJobs(executor), 1, 'one job throughout, run twice');
});

test('a first submission made long after the executor connected still hears its job finish', async (t) => {
	const queue = newQueue();
	const root = tmpDir(t);
	const marks = tmpDir(t);
	await startWorker(t, redis.url, queue);
	const executor = executorFor(t, queue);
	// Both of the executor's connections come up on their own before anything is submitted.
	await executor.queue.waitUntilReady();
	for (let i = 0; i < 3; i++) await executor.queue.getJobCounts();
	using _ = cache(fileCache(root));
	assert.equal(await executor.submit(fns.square, marks, 12, { timeout: 15_000 }), 144);
});
