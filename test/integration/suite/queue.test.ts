// Calls in flight on a BullMQ queue (docs/behaviour.md §3.7, §14): a real Redis (test/support/servers.ts), a real
// `fleche worker` process and a real submitting process, both the user's (never the editor's). The workspace gains a
// cache section naming the queue; while the worker runs one call and the other waits in the queue, the tree shows
// both as running with where and for how long, and the function's row and lens count them; once they finish they are
// cached calls and nothing runs. Runs last: it adds a cache to the workspace and removes it at the end.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import { startRedis, type RedisServer } from '../../support/servers.js';
import { api, fileUri, flecheLenses, lensesOf, waitFor, workspaceFolder, type FlecheApi, type TreeNodeSpec } from './support.js';

const module = 'src/queued.js';

/** The user's Node (the extension host's, run as plain Node), in the workspace, without the editor's options. */
function node(args: readonly string[]): ChildProcess {
	return spawn(process.execPath, [...args], {
		cwd: workspaceFolder().uri.fsPath,
		env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', FLECHE_ROOT: '', NODE_OPTIONS: '' },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
}

function output(child: ChildProcess): { stdout(): string; stderr(): string; exited: Promise<number | null> } {
	let stdout = '';
	let stderr = '';
	child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
	child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
	const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
	return { stdout: () => stdout, stderr: () => stderr, exited };
}

async function queuedCache(fleche: FlecheApi): Promise<TreeNodeSpec | undefined> {
	return (await fleche.tree.getChildren()).find((n) => n.label === 'queued' && n.contextValue.startsWith('fleche:cache'));
}

async function slowNode(fleche: FlecheApi): Promise<TreeNodeSpec | undefined> {
	const cache = await queuedCache(fleche);
	return cache && (await fleche.tree.getChildren(cache)).find((n) => n.data?.name === 'slow');
}

async function lensTitle(): Promise<string | undefined> {
	return flecheLenses(await lensesOf(fileUri(module)))[0]?.command?.title;
}

suite('Calls in flight on a BullMQ queue', () => {
	let fleche: FlecheApi;
	let redis: RedisServer;
	let worker: ChildProcess | undefined;
	const root = (): string => workspaceFolder().uri.fsPath;
	const go = (): string => path.join(root(), '.queued-go');

	suiteSetup(async function () {
		this.timeout(180_000);
		fleche = await api();
		redis = await startRedis();
		mkdirSync(path.join(root(), 'src'), { recursive: true });
		writeFileSync(
			path.join(root(), module),
			`import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fleche } from 'fleche';

/** Waits for the file \`go\` before it answers: the test decides when the call ends. */
export const slow = fleche(async (go, x) => {
	while (!existsSync(go)) await sleep(20);
	return x * 10;
});
`,
		);
		writeFileSync(
			path.join(root(), 'fleche.toml'),
			`[queued]\ntemplate = "file"\nroot = ".fleche-queued"\nqueues = [{ url = ${JSON.stringify(redis.url)}, queue = "editor" }]\n`,
		);
		// Nothing is stored there yet: the cache's row shows once calls are in flight (below).
		await fleche.refresh();
	});

	suiteTeardown(async () => {
		worker?.kill('SIGKILL');
		for (const file of ['fleche.toml', module, '.queued-go', '.fleche-queued']) rmSync(path.join(root(), file), { recursive: true, force: true });
		await redis?.close();
		await fleche?.refresh();
	});

	test('a job running on a worker and one waiting show as running, with where and for how long, and are counted; they turn into cached calls', async function () {
		this.timeout(180_000);
		const bin = path.join(root(), 'node_modules', 'fleche', 'bin', 'fleche.mjs');
		worker = node([bin, 'worker', '--redis', redis.url, '--queue', 'editor', '--concurrency', '1', '--cwd', root()]);
		const served = output(worker);
		await waitFor('the worker to serve the queue', () => served.stdout().includes('serving queue') || (served.stderr() !== '' && served.stderr()), 60_000);
		assert.ok(served.stdout().includes('serving queue'), served.stderr());

		const submitter = node([
			'--input-type=module',
			'-e',
			`import { cache } from 'fleche';
import { bullmqExecutor } from 'fleche/bullmq';
import { slow } from './${module}';
const executor = bullmqExecutor({ url: ${JSON.stringify(redis.url)}, queue: 'editor' });
using _ = cache('queued');
const results = await Promise.all([executor.submit(slow, ${JSON.stringify(go())}, 1), executor.submit(slow, ${JSON.stringify(go())}, 2)]);
await executor.close();
console.log(JSON.stringify(results));`,
		]);
		const submitted = output(submitter);

		// Both in flight: one on the worker (named host:pid), one waiting in the queue.
		const fn = await waitFor(
			'the function row to count 2 running',
			async () => {
				const row = await slowNode(fleche);
				return row?.description?.endsWith('· 2 running') === true && row;
			},
			60_000,
		);
		assert.equal(fn.description, '0 hits · 0 misses · 0 cached · 2 running');
		assert.match((await queuedCache(fleche))?.description ?? '', /· 2 running$/);
		const rows = await fleche.tree.getChildren(fn);
		assert.deepEqual(rows.map((r) => r.label).sort(), ['queued', 'running']);
		const running = rows.find((r) => r.label === 'running')!;
		assert.match(running.description ?? '', new RegExp(`^running on ${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${worker.pid} for \\d`));
		assert.match(rows.find((r) => r.label === 'queued')!.description ?? '', /^queued in editor at redis:\/\/127\.0\.0\.1:\d+ for \d/);
		await waitFor('the lens to count them', async () => (await lensTitle()) === 'fleche: 0 hits · 0 misses · 0 cached · 2 running');

		writeFileSync(go(), '');
		assert.equal(await submitted.exited, 0, submitted.stderr());
		assert.equal(submitted.stdout().trim(), '[10,20]');
		// Cached calls now: counted by the worker's misses, nothing running, each row a stored call.
		await waitFor(
			'the function row to show 2 cached calls and nothing running',
			async () => (await slowNode(fleche))?.description === '0 hits · 2 misses · 2 cached',
		);
		const cached = await fleche.tree.getChildren(await slowNode(fleche));
		assert.deepEqual(
			cached.map((r) => r.contextValue),
			['fleche:call', 'fleche:call'],
		);
		assert.ok(cached.every((r) => !/running/.test(r.description ?? '')));
		await waitFor('the lens to show them cached', async () => (await lensTitle()) === 'fleche: 0 hits · 2 misses · 2 cached');
		assert.ok(existsSync(path.join(root(), '.fleche-queued')));
	});
});
