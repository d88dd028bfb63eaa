// docs/behaviour.md §3.7: the calls queued and running on the BullMQ queues a cache names (`queues` of its fleche.toml
// section), for tools. A fleche job's id is its call's key and its data the bound call (../executor/bullmq.ts), so a
// waiting or active job is a call in flight whose function is known even before anything is stored. The queue is
// untrusted input like the store: a job whose data is no bound call is skipped.
//
// bullmq and ioredis load when a store that names a queue is first asked about it (`import 'fleche/inspect'` loads
// neither). Reads fail fast when Redis is unreachable (one retry, a short connect timeout), so a tool's listing never
// waits on a server that is gone: the caller says the queue cannot be read and shows the rest. URLs are shown only
// through `redisWhere`, which drops user and password.
import type * as BullMQ from 'bullmq';
import type { Redis as IORedis } from 'ioredis';
import { isBoundCall } from '../bound.js';
import type { QueueRef } from '../config/read.js';
import { loadBullmq, redisConnection, redisWhere, validJobId } from '../executor/bullmq.js';
import type { Disposable } from './watch.js';

/** A job of a configured queue that computes a call: waiting for a worker, or running on one. */
export interface QueuedCall {
	readonly key: string;
	readonly module: string | null;
	readonly name: string;
	readonly state: 'queued' | 'running';
	/** The worker running it (`fleche worker` names itself `host:pid`), or the queue it waits in. */
	readonly where: string;
	/** `name at redis://host:port` (never the password). */
	readonly queue: string;
	/** When it was queued, or started on its worker (milliseconds since the epoch). */
	readonly since: number | null;
}

/** Job states read, as BullMQ names them: all but finished ones. */
const waitingStates = ['waiting', 'prioritized', 'delayed', 'waiting-children'] as const;

/** At most this many jobs are read per state and queue: a listing for people, not an export. */
const JOBS_PER_STATE = 1000;

/** How long a read of a queue may take before it counts as unreachable, in milliseconds. */
const READ_TIMEOUT_MS = 3000;

/** The label of a queue in listings. */
export function queueLabel(ref: QueueRef): string {
	return `${ref.queue} at ${redisWhere(ref.url)}`;
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_resolve, reject) => {
		timer = setTimeout(() => reject(new Error(`${what}: no answer within ${READ_TIMEOUT_MS / 1000} s`)), READ_TIMEOUT_MS);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The configured queues of one store, opened on first use. */
export class StoreQueues {
	readonly #refs: readonly QueueRef[];
	/** The project folder, where bullmq is looked for when this package has none beside it. */
	readonly #project: string | undefined;
	#open: { queue: BullMQ.Queue; connection: IORedis }[] | undefined;

	constructor(refs: readonly QueueRef[], project: string | undefined) {
		this.#refs = refs;
		this.#project = project;
	}

	get empty(): boolean {
		return this.#refs.length === 0;
	}

	#queues(): { queue: BullMQ.Queue; connection: IORedis }[] {
		if (this.#open !== undefined) return this.#open;
		const { bullmq, Redis } = loadBullmq('Listing the jobs of a BullMQ queue', this.#project);
		this.#open = this.#refs.map((ref) => {
			// Commands fail after one retry rather than queue up while Redis is away.
			const connection = new Redis(ref.url, { maxRetriesPerRequest: 1, connectTimeout: 2000, lazyConnect: false });
			connection.on('error', () => undefined);
			const queue = new bullmq.Queue(ref.queue, { connection, ...(ref.prefix === undefined ? {} : { prefix: ref.prefix }) });
			queue.on('error', () => undefined);
			return { queue, connection };
		});
		return this.#open;
	}

	/**
	 * The waiting and active fleche jobs of every queue. A queue that cannot be read rejects the whole answer with an
	 * error naming it (without its password).
	 */
	async jobs(): Promise<QueuedCall[]> {
		const open = this.#queues();
		const lists = await Promise.all(
			open.map(async ({ queue }, i) => {
				const label = queueLabel(this.#refs[i]!);
				const read = async (states: readonly BullMQ.JobType[]): Promise<BullMQ.Job[]> =>
					(await queue.getJobs([...states], 0, JOBS_PER_STATE - 1)).filter((job) => job !== undefined && job !== null);
				try {
					const [active, waiting] = await within(Promise.all([read(['active']), read(waitingStates)]), `Cannot read queue ${label}`);
					return [...active.map((job) => callOf(job, 'running', label)), ...waiting.map((job) => callOf(job, 'queued', label))];
				} catch (err) {
					throw new Error(`Cannot read the jobs of queue ${label}: ${redisWhere((err as Error).message)}`, { cause: err });
				}
			}),
		);
		const out = new Map<string, QueuedCall>();
		// A job both active and waiting in a racy read is running.
		for (const call of lists.flat()) if (call !== undefined && !(out.get(call.key)?.state === 'running')) out.set(call.key, call);
		return [...out.values()];
	}

	/** Calls `listener` when a job of any queue is added, starts, ends or is removed. */
	subscribe(listener: () => void): Disposable {
		const { bullmq, Redis } = loadBullmq('Watching a BullMQ queue', this.#project);
		const subscriptions = this.#refs.map((ref) => {
			const connection = redisConnection(Redis, ref.url, undefined);
			connection.on('error', () => undefined);
			const events = new bullmq.QueueEvents(ref.queue, { connection, ...(ref.prefix === undefined ? {} : { prefix: ref.prefix }) });
			events.on('error', () => undefined);
			for (const event of ['added', 'waiting', 'active', 'completed', 'failed', 'removed', 'stalled', 'delayed'] as const) events.on(event, listener);
			return { events, connection };
		});
		return {
			dispose: () => {
				for (const { events, connection } of subscriptions) {
					// The events connection may sit in a blocking read: cut it rather than wait for the read to end.
					connection.disconnect();
					void events.close().catch(() => undefined);
				}
			},
		};
	}

	close(): void {
		for (const { queue, connection } of this.#open ?? []) {
			connection.disconnect();
			void queue.close().catch(() => undefined);
		}
		this.#open = undefined;
	}
}

/** A job as a call in flight; `undefined` for a job that is no fleche call. */
function callOf(job: BullMQ.Job, state: QueuedCall['state'], label: string): QueuedCall | undefined {
	const data: unknown = job.data;
	if (!isBoundCall(data) || typeof data.name !== 'string') return undefined;
	const key = job.id !== undefined && validJobId(job.id) ? job.id : data.key;
	if (typeof key !== 'string' || key === '') return undefined;
	const module = typeof data.module === 'string' ? data.module : null;
	if (state === 'running') {
		return { key, module, name: data.name, state, where: job.processedBy ?? `a worker of ${label}`, queue: label, since: job.processedOn ?? null };
	}
	return { key, module, name: data.name, state, where: `queue ${label}`, queue: label, since: job.timestamp ?? null };
}
