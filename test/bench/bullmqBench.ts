// Bench part (docs/behaviour.md §3.5, §7): fleche/bullmq against a bare BullMQ job round trip in the same run, on a
// throwaway Redis (test/support/servers.ts): submit-to-result of a miss (target: within 1.5× of the bare round trip),
// throughput with 1 and 2 `fleche worker` processes, and 10,000 cached submissions (0 jobs, target ≤ 500 ms) on a file
// store and on the PostgreSQL team store (a throwaway server too), beside a bare pg read of the same rows.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import pg from 'pg';
import { Cache, CallPostgres, ValuePostgres, cache, fileCache, meta, type Fleche } from 'fleche';
import { bullmqExecutor, type BullmqExecutor } from 'fleche/bullmq';
import { startPostgres, startRedis } from '../support/servers.ts';
import { formatNs, scratchDir } from './harness.ts';
import { info, interleaved, target } from './report.ts';

type Inc = Fleche<(x: number) => number>;

const runtimeDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../runtime');

/** A throwaway project whose module the workers import (by its path in the project), and a bare BullMQ worker. */
function project(): string {
	const dir = scratchDir('fleche-bullmq-bench-');
	writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'bench', type: 'module', private: true }));
	mkdirSync(join(dir, 'node_modules'));
	symlinkSync(runtimeDir, join(dir, 'node_modules', 'fleche'), 'dir');
	writeFileSync(join(dir, 'inc.mjs'), `import { fleche } from 'fleche';\nexport const inc = fleche((x) => x + 1);\n`);
	writeFileSync(
		join(dir, 'bare.mjs'),
		`import { Worker } from ${JSON.stringify(import.meta.resolve('bullmq'))};
const [url, queue] = process.argv.slice(2);
const worker = new Worker(queue, async (job) => job.data.x + 1, { connection: { url, maxRetriesPerRequest: null } });
await worker.waitUntilReady();
console.log('serving queue');
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));\n`,
	);
	return dir;
}

/** Starts a process and resolves once it prints that it serves its queue. */
function serve(args: readonly string[], cwd: string): Promise<ChildProcess> {
	const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
	return new Promise((ok, fail) => {
		let out = '';
		child.stdout.setEncoding('utf8').on('data', (s: string) => {
			out += s;
			if (out.includes('serving queue')) ok(child);
		});
		child.once('exit', (code) => fail(new Error(`${args.join(' ')} exited with ${String(code)} before serving`)));
	});
}

function stop(children: readonly ChildProcess[]): Promise<unknown> {
	return Promise.all(
		children.map((c) => {
			const exited = new Promise((ok) => c.once('exit', ok));
			c.kill('SIGTERM');
			return exited;
		}),
	);
}

/** Submits `count` fresh misses at once; the rate of results. */
async function throughput(submit: (x: number) => Promise<unknown>, from: number, count: number): Promise<number> {
	const started = performance.now();
	await Promise.all(Array.from({ length: count }, (_, i) => submit(from + i)));
	return count / ((performance.now() - started) / 1000);
}

export async function bullmqBench(): Promise<void> {
	console.log('\nfleche/bullmq: cached calls on `fleche worker` processes, beside bare BullMQ jobs (one Redis, this machine)');
	const redis = await startRedis();
	const dir = project();
	const bin = join(runtimeDir, 'bin', 'fleche.mjs');
	const worker = (queue: string): Promise<ChildProcess> => serve([bin, 'worker', '--redis', redis.url, '--queue', queue, '--cwd', dir], dir);
	const children: ChildProcess[] = [];
	const executor = bullmqExecutor({ url: redis.url, queue: 'fleche' });
	const bareQueue = new Queue('bare', { connection: { url: redis.url } });
	const events = new QueueEvents('bare', { connection: { url: redis.url } });
	try {
		using _meta = meta([]);
		using _ = cache(fileCache(join(dir, 'store')));
		const { inc } = (await import(join(dir, 'inc.mjs'))) as { inc: Inc };
		children.push(await serve([join(dir, 'bare.mjs'), redis.url, 'bare'], dir), await worker('fleche'));
		await events.waitUntilReady();
		// A and B alternate (bare, fleche, bare, …; median of the rounds): load on this shared machine hits both alike.
		// Every fleche submission is a fresh miss, the whole of one: keyed, looked up in the file store (a miss), added
		// as a job, run by the `fleche worker` process (module cached, bound cache installed, body run, result written
		// to the file store before the job completes), and answered. `n` counts across rounds: no argument repeats.
		let n = 0;
		// Both warm first (connections, JIT, the worker's import of the module and opening of the store): the rows
		// compare steady states; a cold first call is not what a queue serves all day.
		for (let i = 0; i < 20; i++) {
			await bareQueue.add('inc', { x: -1 - i }).then((job) => job.waitUntilFinished(events));
			await executor.submit(inc, -1 - i);
		}
		const [bare, miss] = await interleaved(
			{ group: 'BullMQ', name: 'bare add + waitUntilFinished', op: (i) => bareQueue.add('inc', { x: i }).then((job) => job.waitUntilFinished(events)) },
			{ group: 'fleche/bullmq', name: 'submit, miss (1 worker)', op: () => executor.submit(inc, n++) },
			{ rounds: 9 },
		);
		target('bullmq miss submit-to-result', miss.nsPerOp / bare.nsPerOp, 1.5, {
			value: formatNs(miss.nsPerOp),
			goal: '≤ 1.5× a bare BullMQ round trip',
			note: `bare BullMQ job ${formatNs(bare.nsPerOp)} (×${(miss.nsPerOp / bare.nsPerOp).toFixed(2)}), medians of 9 interleaved rounds; the miss includes keying, the store lookup, the job, the worker's run and its write to the file store, and the result's way back (in the job's answer: a small JSON-faithful result is not read back from the store)`,
		});
		// Fresh arguments far from those above: every submission is a miss.
		const one = await throughput((x) => executor.submit(inc, x), 1e7, 400);
		children.push(await worker('fleche'));
		const two = await throughput((x) => executor.submit(inc, x), 2e7, 400);
		info(
			'bullmq throughput (1 / 2 workers)',
			`${one.toFixed(0)} / ${two.toFixed(0)} calls/s`,
			'400 misses submitted at once; workers at concurrency 1, on the same 2-core machine as Redis and the submitter',
		);

		// 10,000 cached submissions over 1,000 stored calls: no job. On the file store, then on the team store.
		for (let x = 0; x < 1000; x++) inc(3e7 + x);
		const file = await cachedSubmissions(executor, inc);
		target('10,000 cached bullmq submissions', file.median, 500, {
			value: `${file.median.toFixed(1)} ms`,
			goal: '≤ 500 ms, 0 jobs',
			note: `median of ${rounds} (best ${file.best.toFixed(1)} ms, submitter CPU ${file.cpu.toFixed(0)} ms); ${file.jobs} jobs made (file store, 1,000 distinct calls)`,
		});
		if (file.jobs !== 0) target('jobs made by cached bullmq submissions', file.jobs, 0, { value: String(file.jobs), goal: '0' });
		await teamStoreSubmissions(executor, inc);
	} finally {
		await stop(children);
		await Promise.allSettled([executor.close(), bareQueue.close(), events.close()]);
		await redis.close();
	}
}

const rounds = 5;

/** Submits 10,000 calls of the 1,000 stored `inc(3e7 + x)` at once, {@link rounds} times: times in ms, and jobs made. */
async function cachedSubmissions(executor: BullmqExecutor, inc: Inc): Promise<{ median: number; best: number; cpu: number; jobs: number }> {
	const jobs = async (): Promise<number> => Object.values(await executor.queue.getJobCounts()).reduce((a, b) => a + b, 0);
	const before = await jobs();
	const times: number[] = [];
	// The submitting process's CPU time too: on a loaded machine the wall time is mostly waiting for a core.
	const cpu: number[] = [];
	for (let round = 0; round < rounds; round++) {
		const used = process.cpuUsage();
		const started = performance.now();
		const results = await Promise.all(Array.from({ length: 10_000 }, (_v, i) => executor.submit(inc, 3e7 + (i % 1000))));
		times.push(performance.now() - started);
		const { user, system } = process.cpuUsage(used);
		cpu.push((user + system) / 1000);
		if (results[999] !== 3e7 + 1000) throw new Error(`cached submissions answered ${String(results[999])}, not ${3e7 + 1000}`);
	}
	times.sort((a, b) => a - b);
	cpu.sort((a, b) => a - b);
	return { median: times[Math.floor(rounds / 2)]!, best: times[0]!, cpu: cpu[Math.floor(rounds / 2)]!, jobs: (await jobs()) - before };
}

/**
 * The same against the PostgreSQL team store (a server started for the bench, as pgBench does), beside its floor:
 * the same rows (records joined with their values, by key) read by a bare `pg` client in statements of 1,000 keys,
 * as many as the store sends (its lookups of one turn of the event loop go together, 1,000 keys a statement).
 */
async function teamStoreSubmissions(executor: BullmqExecutor, inc: Inc): Promise<void> {
	const server = await startPostgres();
	try {
		const url = await server.database();
		const options = { url, schema: 'bench' };
		const calls = new CallPostgres(options);
		const store = new Cache(new ValuePostgres(options), calls);
		try {
			const measured = await cache(store, async () => {
				for (let x = 0; x < 1000; x++) inc(3e7 + x);
				return cachedSubmissions(executor, inc);
			});
			const client = new pg.Client({ connectionString: url });
			await client.connect();
			const keys = Array.from({ length: 1000 }, (_v, x) => inc.fleche.digest(3e7 + x));
			const floors: number[] = [];
			for (let round = 0; round < rounds; round++) {
				const started = performance.now();
				for (let i = 0; i < 10; i++) {
					const { rows } = await client.query(
						'SELECT c.*, v.data FROM bench.calls c LEFT JOIN bench.stored_values v ON v.digest = c.result WHERE c.key = ANY($1::bpchar[])',
						[keys],
					);
					if (rows.length !== 1000) throw new Error(`the floor read ${rows.length} rows, not 1,000`);
				}
				floors.push(performance.now() - started);
			}
			await client.end();
			const floor = floors.sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
			target('10,000 cached bullmq submissions (PostgreSQL)', measured.median, 500, {
				value: `${measured.median.toFixed(1)} ms`,
				goal: '≤ 500 ms, 0 jobs',
				note: `median of ${rounds} (best ${measured.best.toFixed(1)} ms, submitter CPU ${measured.cpu.toFixed(0)} ms); ${measured.jobs} jobs made; floor ${floor.toFixed(1)} ms (10 bare pg reads of the same 1,000 rows with their values)`,
			});
			if (measured.jobs !== 0) target('jobs made by cached bullmq submissions (PostgreSQL)', measured.jobs, 0, { value: String(measured.jobs), goal: '0' });
		} finally {
			calls.close();
		}
	} finally {
		await server.close();
	}
}
