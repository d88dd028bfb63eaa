// The concurrency notebook's last step (reference §3.2: executorlib, dask): an executor beyond one process, on a BullMQ
// queue in Redis, with `fleche worker` processes running the calls (docs/behaviour.md §3.5). Run: `npm start` (or
// `node out/examples/distributed.js` after `node esbuild.mjs`), with Redis at $REDIS_URL (default
// redis://127.0.0.1:6379); without a reachable Redis it says how to start one and stops.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cache, Cache, CallFile, CallMemory, ValueFile, ValueMemory } from 'fleche';
import { bullmqExecutor, RemoteCallFailed } from 'fleche/bullmq';
import type * as Tasks from './concurrencyTasks.ts';

// Workers import the functions' module by its path in its project, as `fleche rerun` does.
const tasksUrl = new URL('./concurrencyTasks.js', import.meta.url);
const { expensive, failing } = (await import(tasksUrl.href)) as typeof Tasks;

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Whether something answers PING at `url`, within a second. */
function reachable(target: string): Promise<boolean> {
	const { hostname, port } = new URL(target);
	return new Promise((resolve) => {
		const socket = connect({ host: hostname || '127.0.0.1', port: Number(port || 6379) });
		const done = (ok: boolean): void => {
			socket.destroy();
			resolve(ok);
		};
		socket.setTimeout(1000, () => done(false));
		socket.once('error', () => done(false));
		socket.once('connect', () => socket.write('PING\r\n'));
		socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
	});
}

/** `fleche worker` on the queue, in this package's folder; resolves once it serves. */
function startWorker(queue: string): Promise<ChildProcess> {
	const bin = join(dirname(fileURLToPath(import.meta.resolve('fleche/package.json'))), 'bin', 'fleche.mjs');
	// The folder the module path is relative to (its package root): the worker's project.
	const { module } = expensive.fleche.identity;
	const source = expensive.fleche.location?.source ?? fileURLToPath(tasksUrl);
	const project = module !== null && source.endsWith(module) ? source.slice(0, -module.length) : dirname(source);
	const child = spawn(process.execPath, [bin, 'worker', '--redis', url, '--queue', queue, '--cwd', project], { stdio: ['ignore', 'pipe', 'pipe'] });
	let err = '';
	child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
	return new Promise((resolve, reject) => {
		child.stdout.setEncoding('utf8').once('data', () => resolve(child));
		child.once('exit', (code) => reject(new Error(`fleche worker exited with ${String(code)}: ${err}`)));
	});
}

console.log('## 4. Distributed — fleche/bullmq: cached calls on worker processes, through Redis');
if (!(await reachable(url))) {
	console.log(`Redis is not reachable at ${url}: this step needs one.`);
	console.log("Start one with `redis-server --port 6379 --save '' --appendonly no` (Debian: apt-get install redis-server),");
	console.log('or point REDIS_URL at yours, then run `node out/examples/distributed.js`.');
} else {
	const dir = mkdtempSync(join(tmpdir(), 'fleche-distributed-'));
	const queue = `fleche-example-${process.pid}`;
	const workers = await Promise.all([startWorker(queue), startWorker(queue)]);
	const executor = bullmqExecutor({ url, queue });
	const jobs = async (): Promise<number> => Object.values(await executor.queue.getJobCounts()).reduce((a, b) => a + b, 0);
	try {
		// A store both this process and the workers open: a folder here; a shared folder or a team store across machines.
		const shared = new Cache(new ValueFile({ root: join(dir, 'values') }), new CallFile({ root: join(dir, 'calls') }));
		await cache(shared, async () => {
			console.log('### 4a. Misses run on the workers, one job per distinct call');
			console.log('Results:', JSON.stringify(await Promise.all([0, 1, 2, 3, 4, 4, 4].map((x) => executor.submit(expensive, x))))); // [0,1,8,27,64,64,64]
			console.log('Jobs:', await jobs()); // 5
			console.log('### 4b. Hits never make a job');
			console.log('Results:', JSON.stringify(await Promise.all([0, 1, 2, 3, 4].map((x) => executor.submit(expensive, x))))); // [0,1,8,27,64]
			console.log('Jobs:', await jobs()); // still 5
			console.log('### 4c. A remote failure comes back with its message');
			const err = await executor.submit(failing, 7).catch((e: unknown) => e);
			console.log('Rejected:', RemoteCallFailed.is(err), (err as Error).message); // true 'no cube for 7'
		});
		console.log('### 4d. A memory cache cannot travel');
		const refused = await cache(new Cache(new ValueMemory(), new CallMemory()), () => executor.submit(expensive, 9)).catch((e: unknown) => e);
		console.log('Refused:', /memory storage/.test((refused as Error).message)); // true
	} finally {
		// The example's jobs leave the user's Redis with it.
		await executor.queue.obliterate({ force: true }).catch(() => undefined);
		await executor.close();
		const statuses = await Promise.all(
			workers.map((w) => {
				const exited = new Promise<number | null>((resolve) => w.once('exit', resolve));
				w.kill('SIGTERM');
				return exited;
			}),
		);
		console.log('Workers stopped with:', statuses); // [143, 143]: SIGTERM, after finishing their jobs
		rmSync(dir, { recursive: true, force: true });
	}
}
