// The synchronous bridge to a worker thread (`fleche/bridge`) with real worker threads, and the SQL store run from
// every way of starting Node that used to break its worker: `node --input-type=module -e`, `node -e` (a global
// `__filename`), `--import` and `--experimental-loader` loaders, `NODE_OPTIONS`. Real child processes throughout.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyncWorker, WorkerFailed, WorkerRequestError } from 'fleche/bridge';
import { captureLogs } from '../support/logs.js';
import { tmpDir } from '../support/tmp.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const echoWorker = fileURLToPath(new URL('../fixtures/bridge/echoWorker.js', import.meta.url));
const silentWorker = fileURLToPath(new URL('../fixtures/bridge/silentWorker.js', import.meta.url));
const logs = captureLogs();

/** The test runner's environment without what would change the child: its node:test context and NODE_OPTIONS. */
function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
	const { NODE_TEST_CONTEXT: _context, NODE_OPTIONS: _options, ...inherited } = process.env;
	return { ...inherited, ...extra };
}

/**
 * Runs `node ...args` from the repository (so `fleche` resolves) and returns its outcome. The 30 s ceiling only
 * catches a hang (a read that waits for the worker's 60 s time-out; SIGKILL, since a thread blocked in
 * `Atomics.wait` runs no signal handler): the assertions are on what the child printed.
 */
function runChild(args: readonly string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
	const run = spawnSync(process.execPath, args, { cwd: repo, env: childEnv(env), encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
	assert.ok(run.error === undefined || (run.error as NodeJS.ErrnoException).code === 'ETIMEDOUT', String(run.error));
	assert.equal(run.signal, null, `node ${args.slice(0, -1).join(' ')} did not finish (hung on a read?): killed by ${run.signal}\n${run.stderr}`);
	return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/**
 * A script body (the package's exports are `m`) that stores one call in an SQL store and reads it back through a
 * second instance, whose read has to go through the worker (an instance remembers only what it wrote or read).
 */
const storeBody = `
const { Cache, CallSql, ValueFile, cache, fleche } = m;
const root = process.env.BRIDGE_STORE;
const open = () => new Cache(new ValueFile({ root: root + '/values' }), new CallSql({ path: root + '/calls.db' }));
let runs = 0;
const double = fleche((n) => { runs += 1; return n * 2; }, { name: 'double', module: 'bridge.js' });
const first = open();
const a = cache(first, () => double(21));
first.calls.close();
const second = open();
const b = cache(second, () => double(21));
console.log(JSON.stringify({ a, b, runs, listed: second.calls.list().length }));
`;

/** Runs a store script and checks that the second read was a hit through the worker, without a read error. */
function assertStoreHits(t: TestContext, args: (dir: string) => readonly string[], env: (dir: string) => NodeJS.ProcessEnv = () => ({})): void {
	const dir = tmpDir(t);
	const run = runChild(args(dir), { ...env(dir), BRIDGE_STORE: join(dir, 'store') });
	assert.equal(run.status, 0, run.stderr);
	assert.deepEqual(JSON.parse(run.stdout.trim().split('\n').at(-1) ?? 'null'), { a: 42, b: 42, runs: 1, listed: 1 }, run.stderr);
	assert.doesNotMatch(run.stderr, /FLECHE_READ_ERROR/);
}

/** The package's ESM entry, for scripts outside the repository. */
const flecheUrl = import.meta.resolve('fleche');

/**
 * A loader like those projects run with: a CommonJS shim for ES modules (a global `__filename` that is not fleche's)
 * and resolve hooks, meant for the main thread. If the store's worker inherited it, it would refuse to load there
 * (like preloads that are not thread-safe) and its hooks would refuse sql.js to the store's worker.
 */
function writeLoader(dir: string): { loader: string; hooks: string; script: string } {
	const hooks = join(dir, 'hooks.mjs');
	writeFileSync(
		hooks,
		`export async function resolve(specifier, context, next) {
			if (specifier === 'sql.js' && context.parentURL?.endsWith('/sqlWorker.js')) throw new Error('this loader refuses sql.js to the store worker');
			return next(specifier, context);
		}\n`,
	);
	const loader = join(dir, 'loader.mjs');
	writeFileSync(
		loader,
		`import { register } from 'node:module';
		import { fileURLToPath } from 'node:url';
		import { isMainThread } from 'node:worker_threads';
		if (!isMainThread) throw new Error('this loader is for the main thread only');
		globalThis.__filename = fileURLToPath(import.meta.url);
		register('./hooks.mjs', import.meta.url);\n`,
	);
	const script = join(dir, 'store.mjs');
	writeFileSync(script, `const m = await import(${JSON.stringify(flecheUrl)});\n${storeBody}`);
	return { loader, hooks, script };
}

describe('the SQL store under every way of starting Node', () => {
	it('node --input-type=module -e: the read through the worker hits', (t) => {
		assertStoreHits(t, () => ['--input-type=module', '-e', `const m = await import('fleche');\n${storeBody}`]);
	});

	it("node -e with require('fleche') (the CommonJS build, a global __filename '[eval]'): hits", (t) => {
		assertStoreHits(t, () => ['-e', `const m = require('fleche');\n${storeBody}`]);
	});

	it("node -e with import('fleche') (the ESM build under a global __filename '[eval]'): hits", (t) => {
		assertStoreHits(t, () => ['-e', `import('fleche').then((m) => {\n${storeBody}\n}).catch((err) => { console.error(err); process.exitCode = 1; });`]);
	});

	it("node -e with import('fleche'): the executors' worker entries are found too", () => {
		const run = runChild(['-e', "import('fleche').then((m) => console.log(JSON.stringify([m.workerFile('threads'), m.workerFile('piscina')])));"]);
		assert.equal(run.status, 0, run.stderr);
		const files = JSON.parse(run.stdout) as string[];
		assert.deepEqual(
			files.map((f) => existsSync(f)),
			[true, true],
			run.stdout,
		);
	});

	it('node --import <a loader that defines __filename and registers hooks>: hits', (t) => {
		assertStoreHits(t, (dir) => {
			const { loader, script } = writeLoader(dir);
			return ['--import', loader, script];
		});
	});

	it('node --experimental-loader <hooks that would break the worker>: hits', (t) => {
		assertStoreHits(t, (dir) => {
			const { hooks, script } = writeLoader(dir);
			return ['--no-warnings', '--experimental-loader', hooks, script];
		});
	});

	it('NODE_OPTIONS with a loader: hits', (t) => {
		let loaderOptions = '';
		assertStoreHits(
			t,
			(dir) => {
				const { hooks, script } = writeLoader(dir);
				loaderOptions = `--no-warnings --experimental-loader=${hooks}`;
				return [script];
			},
			() => ({ NODE_OPTIONS: loaderOptions }),
		);
	});
});

describe('SyncWorker', () => {
	function start(t: TestContext, options: { module?: string; input?: unknown; timeoutMs?: number } = {}): SyncWorker {
		const worker = new SyncWorker({ module: echoWorker, name: 'test', ...options });
		t.after(() => worker.close());
		return worker;
	}

	it('answers requests synchronously and calls asynchronously, with the input it was given', async (t) => {
		const worker = start(t, { input: { answer: 42, list: [1, 2] } });
		assert.deepEqual(worker.request({ op: 'echo', value: { nested: ['x'] } }), { nested: ['x'] });
		assert.deepEqual(worker.request({ op: 'input' }), { answer: 42, list: [1, 2] });
		assert.equal(worker.request({ op: 'later', ms: 30, value: 'waited' }), 'waited');
		assert.deepEqual(await Promise.all([worker.call({ op: 'later', ms: 40, value: 'slow' }), worker.call({ op: 'echo', value: 'fast' })]), ['slow', 'fast']);
		assert.equal(worker.failure, null);
	});

	it("a handler's error fails that request only, with the handler's message", async (t) => {
		const worker = start(t);
		assert.throws(
			() => worker.request({ op: 'throw', message: 'no such row' }),
			(err: unknown) => WorkerRequestError.is(err) && err.message === 'no such row',
		);
		await assert.rejects(worker.call({ op: 'reject', message: 'refused' }), (err: unknown) => WorkerRequestError.is(err) && err.message === 'refused');
		assert.throws(
			() => worker.request({ op: 'uncloneable' }),
			(err: unknown) => WorkerRequestError.is(err) && /cannot be sent/.test(err.message),
		);
		assert.equal(worker.request({ op: 'echo', value: 'still serving' }), 'still serving');
	});

	it('call() leaves the event loop running while the worker works', async (t) => {
		const worker = start(t);
		const order: string[] = [];
		const answer = worker.call({ op: 'later', ms: 200, value: 'answer' }).then((v) => order.push(String(v)));
		await new Promise((resolve) => setTimeout(resolve, 20));
		order.push('timer');
		await answer;
		assert.deepEqual(order, ['timer', 'answer']);
	});

	it("a burst of queued requests, answered at once or promised, leaves the worker's event loop its turns", async (t) => {
		// The worker serves a caller's next request without a turn of its event loop when it is already there
		// (bridge/protocol.ts), within a budget: without it, a long queue would keep the worker's timers and I/O from
		// running until it is empty. The queue is made while the worker is busy, so it is whole when serving starts.
		const worker = start(t);
		for (const promised of [false, true]) {
			const busy = worker.call({ op: 'block', ms: 100 });
			const answers = Array.from({ length: 20_000 }, () => worker.call({ op: 'ticks', promised }));
			await busy;
			const ticks = (await Promise.all(answers)) as number[];
			assert.ok(ticks.at(-1)! > ticks[0]!, `the worker's timer ran while it served the queue (${promised ? 'promised' : 'immediate'} answers)`);
		}
	});

	it('a request answered during a synchronous wait settles the waiting call too', async (t) => {
		const worker = start(t);
		const pending = worker.call({ op: 'later', ms: 50, value: 'async' });
		// Blocks past the call's answer: the synchronous wait takes it off the port and must hand it over.
		assert.equal(worker.request({ op: 'later', ms: 150, value: 'sync' }), 'sync');
		assert.equal(await pending, 'async');
	});

	it('a request without an answer in time ends the worker, and every later request fails at once', async (t) => {
		const worker = start(t);
		const waiting = worker.call({ op: 'never' });
		assert.throws(
			() => worker.request({ op: 'never' }, { timeoutMs: 300 }),
			(err: unknown) => WorkerFailed.is(err) && err.message === `The test worker (${echoWorker}) did not answer within 300 ms`,
		);
		await assert.rejects(waiting, (err: unknown) => WorkerFailed.is(err) && /did not answer within 300 ms/.test(err.message));
		assert.throws(
			() => worker.request({ op: 'echo', value: 1 }),
			(err: unknown) => WorkerFailed.is(err) && /did not answer within 300 ms/.test(err.message),
		);
		await assert.rejects(worker.call({ op: 'echo', value: 1 }, { timeoutMs: 300 }), (err: unknown) => WorkerFailed.is(err));
	});

	it('a call without an answer in time rejects, and ends the worker', async (t) => {
		const worker = start(t);
		await assert.rejects(
			worker.call({ op: 'never' }, { timeoutMs: 200 }),
			(err: unknown) => WorkerFailed.is(err) && /did not answer within 200 ms/.test(err.message),
		);
		assert.match(worker.failure ?? '', /did not answer within 200 ms/);
	});

	// The next three would, without the start-up guard, wait for the 60 s time-out and then say only that: the
	// message naming the cause is the proof that the waiting request was woken by the failure.
	it('a worker that exits while a request waits fails it with the exit code', (t) => {
		const worker = start(t, { timeoutMs: 60_000 });
		assert.throws(
			() => worker.request({ op: 'exit', code: 3 }),
			(err: unknown) => WorkerFailed.is(err) && err.message === `The test worker (${echoWorker}) failed: the worker thread exited (code 3)`,
		);
		assert.throws(
			() => worker.request({ op: 'echo', value: 1 }),
			(err: unknown) => WorkerFailed.is(err) && /exited \(code 3\)/.test(err.message),
		);
	});

	it("an uncaught exception in the worker fails the waiting request with the exception's message", (t) => {
		const worker = start(t, { timeoutMs: 60_000 });
		assert.throws(
			() => worker.request({ op: 'crash', message: 'engine crashed in a timer' }),
			(err: unknown) => WorkerFailed.is(err) && err.message === `The test worker (${echoWorker}) failed: engine crashed in a timer`,
		);
	});

	it('a module that cannot load fails the first request with the cause', (t) => {
		const dir = tmpDir(t);
		const module = join(dir, 'broken.mjs');
		writeFileSync(module, "import 'fleche-no-such-package';\n");
		const worker = start(t, { module, timeoutMs: 60_000 });
		assert.throws(
			() => worker.request({ op: 'echo', value: 1 }),
			(err: unknown) => WorkerFailed.is(err) && err.message.startsWith(`The test worker (${module}) failed: `) && /fleche-no-such-package/.test(err.message),
		);
	});

	it('a module that loads without calling serve() fails at once', (t) => {
		const worker = start(t, { module: silentWorker, timeoutMs: 60_000 });
		assert.throws(
			() => worker.request('anything'),
			(err: unknown) => WorkerFailed.is(err) && err.message === `The test worker (${silentWorker}) failed: its module loaded without calling serve()`,
		);
	});

	it('a missing module is refused when starting, naming the file', (t) => {
		const module = join(tmpDir(t), 'gone.js');
		assert.throws(
			() => new SyncWorker({ module, name: 'test' }),
			(err: unknown) => WorkerFailed.is(err) && err.message.includes(module),
		);
		assert.throws(() => new SyncWorker({ module: 'relative.js', name: 'test' }), TypeError);
		assert.throws(() => new SyncWorker({ module: echoWorker, name: 'test', timeoutMs: 0 }), RangeError);
	});

	it('close() fails the waiting calls and every later request', async (t) => {
		const worker = start(t);
		const waiting = worker.call({ op: 'never' });
		worker.close();
		await assert.rejects(waiting, (err: unknown) => WorkerFailed.is(err) && err.message === `The test worker (${echoWorker}) was closed`);
		assert.throws(
			() => worker.request({ op: 'echo', value: 1 }),
			(err: unknown) => WorkerFailed.is(err) && /was closed/.test(err.message),
		);
	});

	it("the worker's warnings reach the caller's logger, once per key when they have one", (t) => {
		const worker = start(t);
		logs.clear();
		for (let i = 0; i < 2; i++) worker.request({ op: 'warn', message: 'said once', once: `bridge-test-${process.pid}` });
		worker.request({ op: 'warn', message: 'said every time' });
		assert.deepEqual(
			logs.codes('FLECHE_TEST_WARNING').map((r) => r.message),
			['said once', 'said every time'],
		);
	});

	it("the worker runs without the parent's execArgv and NODE_OPTIONS, but for diagnostics options", (t) => {
		const hooks = join(tmpDir(t), 'hooks.mjs');
		writeFileSync(hooks, 'export async function resolve(specifier, context, next) { return next(specifier, context); }\n');
		const script = `import { SyncWorker } from 'fleche/bridge';
			const worker = new SyncWorker({ module: ${JSON.stringify(echoWorker)}, name: 'test' });
			console.log(JSON.stringify({ parent: process.execArgv.slice(0, -1), worker: worker.request({ op: 'options' }) }));`;
		const run = runChild(['--enable-source-maps', '--input-type=module', '--no-warnings', '-e', script], {
			NODE_OPTIONS: `--no-deprecation --experimental-loader=${hooks} --trace-uncaught`,
		});
		assert.equal(run.status, 0, run.stderr);
		assert.deepEqual(JSON.parse(run.stdout), {
			parent: ['--enable-source-maps', '--input-type=module', '--no-warnings', '-e'],
			worker: { execArgv: ['--enable-source-maps', '--no-warnings'], nodeOptions: '--no-deprecation --trace-uncaught' },
		});
	});

	it('a CommonJS runtime starts an ES-module worker; the process ends once no call waits, without close()', () => {
		const script = `const { SyncWorker } = require('fleche/bridge');
			const worker = new SyncWorker({ module: ${JSON.stringify(echoWorker)}, name: 'test' });
			console.log(worker.request({ op: 'echo', value: 'sync' }));
			worker.call({ op: 'later', ms: 100, value: 'async' }).then((v) => console.log(v));`;
		const run = runChild(['-e', script]);
		assert.equal(run.status, 0, run.stderr);
		assert.deepEqual(run.stdout.trim().split('\n'), ['sync', 'async']);
	});
});
