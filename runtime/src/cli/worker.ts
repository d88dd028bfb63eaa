// docs/behaviour.md §3.5: the worker side of `fleche/bullmq` — a BullMQ Worker that runs the bound calls
// bullmqExecutor() queues (`fleche worker`, or bullmqWorker() in a program of one's own). The reply format is in
// ../executor/bullmq.ts.
//
// Trust. A job names a module and a cache configuration; whoever can add jobs to the queue can make the worker run
// the project's cached functions and write to the stores it can open, as whoever can write the store can make
// `fleche rerun` run them. The module is resolved inside the worker's project (./loadModule.ts, as for `rerun`):
// the absolute file the submitter loaded is never imported, so a job cannot make the worker load a file outside it,
// and the project may sit at another path on another machine.
import { hostname } from 'node:os';
import { deserialize } from 'node:v8';
import type * as BullMQ from 'bullmq';
import type { RedisOptions } from 'ioredis';
import { isBoundCall } from '../bound.js';
import { importUserModule, resolveModuleFile } from './loadModule.js';
import { loadBullmq, redisConnection, travelsAsJson, type BullmqReply } from '../executor/bullmq.js';
import { counted } from '../stats.js';
import { findFleche } from '../wrapper.js';
import { runBound } from '../workerRun.js';

/** Options of {@link bullmqWorker}: the queue's, and BullMQ's own `WorkerOptions` but the connection. */
export interface BullmqWorkerOptions extends Omit<BullMQ.WorkerOptions, 'connection'> {
	/** Redis URL, as ioredis takes it (`redis://host:port`). */
	readonly url: string;
	/** The queue's name (as given to `bullmqExecutor`). */
	readonly queue: string;
	/** The folder whose files jobs may name (their module paths are relative to it): the project's root. */
	readonly project: string;
	/** Further ioredis options for the worker's connection. */
	readonly redis?: RedisOptions;
}

/** Runs one job: the bound call it carries, in this process, with its cache and metadata. */
async function runJob(project: string, data: unknown): Promise<BullmqReply> {
	if (!isBoundCall(data)) throw new TypeError('This job is not a call queued by bullmqExecutor() (fleche/bullmq)');
	const call = data;
	if (call.module === null) throw new TypeError(`${call.name} has no module (hashModule: false): a worker cannot import it`);
	if (findFleche(call.module, call.name) === undefined) {
		await importUserModule(resolveModuleFile(call.module, { project, storeRoot: null }));
		if (findFleche(call.module, call.name) === undefined) {
			throw new TypeError(`Module ${call.module} of ${project} does not define the cached function ${call.name} (is it created when the module loads?)`);
		}
	}
	const { reply, stored } = await counted(() => runBound(call, true));
	if (stored) {
		// Already in the store (written before this reply): a small JSON-faithful result travels along, so the submitter
		// need not read it back (../executor/bullmq.ts).
		const inline = reply.classes === undefined && reply.packed === undefined && travelsAsJson(reply.value);
		return inline ? { fleche: 'bullmqReply/1', key: reply.key, stored: true, value: reply.value } : { fleche: 'bullmqReply/1', key: reply.key, stored: true };
	}
	// A value packed for a thread's postMessage (see `BoundReply.packed`) travels here as JSON instead.
	const value = reply.packed === undefined ? reply.value : (deserialize(reply.packed) as unknown[])[0];
	try {
		JSON.stringify(value);
	} catch (err) {
		throw new TypeError(`${call.name}'s result was not stored (see the worker's warnings) and cannot travel as JSON: ${(err as Error).message}`, {
			cause: err,
		});
	}
	return { fleche: 'bullmqReply/1', key: reply.key, stored: false, value };
}

/**
 * Starts a BullMQ worker on `options.queue` that runs the calls `bullmqExecutor()` queues (docs/behaviour.md §3.5):
 * it imports each function's module from `options.project` (TypeScript transpiled as for `fleche rerun`), runs the
 * call with the bound cache and metadata, stores the result there and answers. `fleche worker` is this, with signal
 * handling; call `worker.close()` to finish the running jobs and stop.
 * @example
 * ```ts
 * const worker = await bullmqWorker({ url: 'redis://127.0.0.1:6379', queue: 'fleche', project: process.cwd(), concurrency: 4 });
 * process.once('SIGTERM', () => void worker.close());
 * ```
 */
export async function bullmqWorker(options: BullmqWorkerOptions): Promise<BullMQ.Worker> {
	const { url, queue, project, redis, ...workerOptions } = options;
	const { bullmq, Redis } = loadBullmq('fleche worker');
	const connection = redisConnection(Redis, url, redis);
	// Named `host:pid` unless told otherwise: BullMQ records the name with each job it runs (`processedBy`), which is
	// how tools say where a call runs (fleche/inspect `inFlightAll`).
	const worker = new bullmq.Worker(queue, (job: BullMQ.Job) => runJob(project, job.data), {
		name: `${hostname()}:${process.pid}`,
		...workerOptions,
		connection,
	});
	// An unheard 'error' would crash the process; BullMQ reconnects by itself, and its errors are only reported.
	worker.on('error', () => undefined);
	worker.on('closed', () => connection.disconnect());
	await worker.waitUntilReady();
	return worker;
}
