// docs/behaviour.md §3.2, §3.5: the BullMQ executor (`fleche/bullmq`) — wrapExecutor's misses become jobs of a BullMQ
// queue on Redis, run by `fleche worker` processes on any machine that reaches the store.
//
// Job format. A job's data is the BoundCall of ../bound.ts (module, name, cache configuration, metadata, arguments);
// its id is the call's key, so identical submissions from any number of processes make one job (BullMQ's `add` with an
// existing id adds nothing). Its name is `module:name`, for dashboards. The job's return value is a BullmqReply: the
// key and `stored: true` when the result landed in the bound store — the worker stores it before it answers, so a
// miss anywhere after the job completed finds it —, or `stored: false` and the value itself as JSON when nothing was
// stored (an `undefined` result, an uncached call). A stored result that JSON gives back as it is (plain objects,
// dense arrays, strings, finite numbers, booleans, null; see `travelsAsJson`) and is small travels in the reply too,
// and a submission that heard its job complete takes it from there, without reading the store (its write is on the
// critical path of a miss already; a read would add a second). Anything else (a Date, a Map, a class instance, a
// large value) is read from the store, with the store's own serialization: a Date stays a Date. So is the first
// result per cache of each executor, which checks that the submitter reads the store the workers write (else every
// later submission would miss here again), and a result found in a job that completed before the submission looked
// (the store may have evicted it since: it is run again, below). A failed job keeps the worker's message and stack;
// the submitter rejects with both.
//
// Waiting. One QueueEvents per executor hears `completed` and `failed` for every job; a submission registers its
// waiter before it adds the job. An add that finds the job there already writes a `duplicated` event (in the same
// script), on which the job's state is read once: it may have finished before anyone listened. A fresh job needs no
// such read, which would cost every miss a round trip on the queue's connection. The events are read from the id the
// stream had when the executor connected, never from `$` (BullMQ's default, which means "whatever comes after my next
// read": an event written before the listener's first read, or between two reads after a quiet one, would be lost,
// and a job finishing in that gap would be waited for forever). As a last guard (events trimmed from the stream, …),
// the states of the jobs still waited for are read again every few seconds while any are. A job found failed is
// retried (a new submission is a new attempt: failures are never cached); a job found completed whose stored result
// this process cannot read (evicted since) is run again, once. A lost Redis connection rejects every waiting
// submission at once, and later submissions until it is back: nothing waits on a server that is gone.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as BullMQ from 'bullmq';
import type { Redis as IORedis, RedisOptions } from 'ioredis';
import type { BoundCall } from '../bound.js';
import { moduleFile } from '../bridge/moduleFile.js';
import type { BaseCache } from '../caches/base.js';
import { FlecheError } from '../errors.js';
import { abortError, describe, type Adapter, type Job } from './adapter.js';
import { adapterKey, wrapExecutor, type Submit } from './wrapExecutor.js';

const thisFile: string = moduleFile(import.meta.url, () => __filename);

/** The versions this package is tested with, for the install hint. */
const versions = 'bullmq@6.7.6 ioredis@6.1.0';

/** bullmq and ioredis, loaded on first use: `import 'fleche'` never loads them. @internal */
export interface BullmqModules {
	readonly bullmq: typeof BullMQ;
	readonly Redis: new (url: string, options: RedisOptions) => IORedis;
}

let modules: BullmqModules | undefined;

/**
 * Loads them from this package's place, else from `project` (a tool bundled without them, such as the editor's,
 * finds the project's own). @internal
 */
export function loadBullmq(who: string, project?: string): BullmqModules {
	if (modules !== undefined) return modules;
	try {
		return loadFrom(thisFile);
	} catch (err) {
		if (project !== undefined) {
			try {
				return loadFrom(join(project, 'package.json'));
			} catch {
				// The first reason is the one to tell.
			}
		}
		throw new Error(`${who} needs the 'bullmq' and 'ioredis' packages (npm i ${versions}): ${(err as Error).message}`, { cause: err });
	}
}

function loadFrom(file: string): BullmqModules {
	const require = createRequire(file);
	const bullmq = require('bullmq') as typeof BullMQ;
	const ioredis = require('ioredis') as { Redis?: BullmqModules['Redis']; default?: BullmqModules['Redis'] };
	const Redis = ioredis.Redis ?? ioredis.default;
	if (Redis === undefined) throw new Error('ioredis exports no Redis class');
	return (modules = { bullmq, Redis });
}

/** A Redis URL fit to show: without its user and password (in the authority or as a `password` parameter). @internal */
export function redisWhere(url: string): string {
	const shown = url.replace(/\/\/[^@/]*@/, '//');
	return /[?&]password=/i.test(shown) ? shown.replace(/\?.*$/s, '') : shown;
}

/** A Redis connection as BullMQ wants it for workers and event listeners (`maxRetriesPerRequest: null`). @internal */
export function redisConnection(Redis: BullmqModules['Redis'], url: string, options: RedisOptions | undefined): IORedis {
	return new Redis(url, { ...options, maxRetriesPerRequest: null });
}

/** What a `fleche worker` answers for a job (its BullMQ return value). @internal */
export interface BullmqReply {
	readonly fleche: 'bullmqReply/1';
	/** The key the worker stored the call under (`null`: uncached). */
	readonly key: string | null;
	/** The result is in the bound store under `key`: read it there (unless `value` carries it as well). */
	readonly stored: boolean;
	/** The result as JSON: when it was not stored, or when it was and {@link travelsAsJson}. */
	readonly value?: unknown;
}

/** Up to about how many characters of JSON a stored result also travels in its job's return value. @internal */
export const inlineChars = 16 * 1024;

/**
 * Whether JSON gives `value` back as it is, and it is small (about `limit` characters at most): plain objects (of
 * `Object.prototype`) and dense arrays without other properties, of strings, finite numbers but -0, booleans and
 * null, each object met once (JSON would copy a shared one). Such a stored result travels in the worker's reply
 * too; anything else is read from the store. @internal
 */
export function travelsAsJson(value: unknown, limit = inlineChars): boolean {
	return jsonWalk(value, { left: limit, seen: new Set() });
}

/** {@link travelsAsJson}'s walk (a function of the module: a closure made per call costs more than the walk). */
function jsonWalk(v: unknown, budget: { left: number; readonly seen: Set<object> }): boolean {
	if (--budget.left < 0) return false;
	switch (typeof v) {
		case 'string':
			return (budget.left -= v.length) >= 0;
		case 'boolean':
			return true;
		case 'number':
			return Number.isFinite(v) && !Object.is(v, -0);
		case 'object':
			break;
		case 'bigint':
		case 'function':
		case 'symbol':
		case 'undefined':
			return false;
	}
	if (v === null) return true;
	if (budget.seen.has(v)) return false;
	budget.seen.add(v);
	const proto = Object.getPrototypeOf(v) as unknown;
	if (Object.getOwnPropertySymbols(v).length > 0) return false;
	if (Array.isArray(v)) {
		if (proto !== Array.prototype || Object.keys(v).length !== v.length) return false;
		for (const item of v as unknown[]) if (!jsonWalk(item, budget)) return false;
		return true;
	}
	if (proto !== Object.prototype) return false;
	for (const [k, item] of Object.entries(v)) if ((budget.left -= k.length) < 0 || !jsonWalk(item, budget)) return false;
	return true;
}

/** @internal */
export function isBullmqReply(value: unknown): value is BullmqReply {
	return typeof value === 'object' && value !== null && (value as { fleche?: unknown }).fleche === 'bullmqReply/1';
}

/**
 * A call run by a `fleche worker` failed there: the message is the remote error's, and `stack` is the remote stack
 * (BullMQ keeps it with the failed job).
 */
export class RemoteCallFailed extends FlecheError {
	/** The BullMQ job that failed (the call's key for a cached call). */
	readonly jobId: string;

	constructor(message: string, jobId: string, stack: string | undefined) {
		super(message);
		this.jobId = jobId;
		if (stack !== undefined && stack !== '') this.stack = stack;
	}

	static override is(err: unknown): err is RemoteCallFailed {
		return FlecheError.is(err) && err.name === 'RemoteCallFailed';
	}
}

/**
 * The BullMQ executor cannot reach Redis: it could not connect, or lost the connection while submissions waited
 * (their jobs may still finish on a worker: submitting again finds the result, or joins the job).
 */
export class QueueUnavailable extends FlecheError {
	static override is(err: unknown): err is QueueUnavailable {
		return FlecheError.is(err) && err.name === 'QueueUnavailable';
	}
}

/** Options of {@link bullmqExecutor}: the queue's, and BullMQ's own `QueueOptions` but the connection. */
export interface BullmqExecutorOptions extends Omit<BullMQ.QueueOptions, 'connection'> {
	/** Redis URL, as ioredis takes it: `redis://[[user]:password@]host[:port][/db]`, `rediss://` for TLS. */
	readonly url: string;
	/** The queue's name; `fleche worker --queue NAME` serves it. */
	readonly queue: string;
	/** Further ioredis options for the executor's connections. */
	readonly redis?: RedisOptions;
}

/**
 * Job options a submission may carry in its last argument (split off by wrapExecutor; see `executorOptions`):
 * BullMQ's `priority`, `attempts`, `backoff`, `delay`, `lifo`, `removeOnComplete`, `removeOnFail`, and `timeout` (ms
 * this submission waits for the result before it rejects; the job still runs) and `signal` (gives up this
 * submission's wait; the job still runs, for whoever else waits for it). A job shared by identical submissions keeps
 * the options of the one that added it.
 */
export const bullmqJobOptions = ['priority', 'attempts', 'backoff', 'delay', 'lifo', 'removeOnComplete', 'removeOnFail', 'timeout', 'signal'] as const;

/** An executor on a BullMQ queue: `submit` runs cached calls on `fleche worker` processes. */
export interface BullmqExecutor {
	/**
	 * Resolves with `fn(...args)`: from the cache on a hit (no job), else from the job the call became, shared with
	 * every identical submission of any process. Only `fleche()` functions: a plain function cannot travel.
	 */
	readonly submit: Submit;
	/** The BullMQ queue (to count jobs, pause, or clean it). */
	readonly queue: BullMQ.Queue;
	/** Stops listening and closes the executor's Redis connections; submissions still waiting reject. */
	close(): Promise<void>;
}

/** What a submission waits for: the job's return value, and whether its completion was heard (not found done). */
interface Outcome {
	readonly reply: unknown;
	/** Heard as the job completed; `false`: read from a job found completed (perhaps long before the submission). */
	readonly heard: boolean;
}

interface Waiter {
	resolve(outcome: Outcome): void;
	reject(err: Error): void;
}

/** Job ids BullMQ refuses: integers, and ids with `:`. Such a key (never a fleche key) gets BullMQ's own id. @internal */
export function validJobId(key: string | null): key is string {
	return key !== null && !key.includes(':') && !/^\d+$/.test(key);
}

class BullmqQueue {
	readonly queue: BullMQ.Queue;
	readonly #events: BullMQ.QueueEvents;
	readonly #connections: IORedis[];
	readonly #waiters = new Map<string, Set<Waiter>>();
	/** Jobs a submission of this process is running again (see `run`). */
	readonly #rerunning = new Set<string>();
	readonly #url: string;
	#lastError: string | undefined;
	#closed = false;

	constructor(options: BullmqExecutorOptions) {
		const { url, queue: name, redis, defaultJobOptions, ...queueOptions } = options;
		if (typeof url !== 'string' || url === '') throw new TypeError('bullmqExecutor() needs the Redis url');
		if (typeof name !== 'string' || name === '') throw new TypeError('bullmqExecutor() needs the queue name');
		const { bullmq, Redis } = loadBullmq('bullmqExecutor()');
		this.#url = redisWhere(url);
		const queueConnection = redisConnection(Redis, url, redis);
		const eventsConnection = redisConnection(Redis, url, redis);
		this.#connections = [queueConnection, eventsConnection];
		for (const c of this.#connections) {
			c.on('error', (err: Error) => (this.#lastError = err.message));
			// A connection lost under waiting submissions: their jobs' outcomes may never be heard (a restarted Redis
			// without persistence has forgotten them), so they reject now rather than wait on nothing.
			c.on('close', () => this.#lost());
		}
		this.queue = new bullmq.Queue(name, {
			...queueOptions,
			connection: queueConnection,
			// Finished jobs stay a while, so a submission racing a job's end finds it rather than running it again.
			defaultJobOptions: { removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 }, ...defaultJobOptions },
		});
		// Started by #connect once it knows where the stream stands (see Waiting above).
		this.#events = new bullmq.QueueEvents(name, { prefix: queueOptions.prefix, connection: eventsConnection, autorun: false });
		this.queue.on('error', (err: Error) => (this.#lastError = err.message));
		this.#events.on('error', (err: Error) => (this.#lastError = err.message));
		this.#events.on('completed', ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) =>
			this.#settle(jobId, (w) => w.resolve({ reply: returnvalue, heard: true })),
		);
		// An add that found the job there already (BullMQ writes this event in the same script): it may have finished
		// before anyone listened, so its state is read once. A fresh job needs no read: its end is an event to come.
		this.#events.on('duplicated', ({ jobId }: { jobId: string }) => {
			// A job being run again reads its state itself, after the retry: read before, it is the old result.
			if (this.#waiters.has(jobId) && !this.#rerunning.has(jobId)) void this.#check(jobId, true);
		});
		this.#events.on('failed', ({ jobId, failedReason }: { jobId: string; failedReason: string }) => {
			if (!this.#waiters.has(jobId)) return;
			void this.#failure(jobId, failedReason).then((err) => this.#settle(jobId, (w) => w.reject(err)));
		});
	}

	#unavailable(what: string): QueueUnavailable {
		return new QueueUnavailable(`${what}: Redis at ${this.#url} is unreachable${this.#lastError ? ` (${this.#lastError})` : ''}`);
	}

	#lost(): void {
		if (this.#closed) return;
		const err = this.#unavailable('Lost the connection to the job queue while waiting for a job (it may still finish on a worker: submit again)');
		for (const id of [...this.#waiters.keys()]) this.#settle(id, (w) => w.reject(err));
	}

	#settle(jobId: string, how: (w: Waiter) => void): void {
		const set = this.#waiters.get(jobId);
		if (set === undefined) return;
		this.#waiters.delete(jobId);
		for (const w of set) how(w);
	}

	/** The remote error of a failed job: its message, and the worker's stack when BullMQ still has the job. */
	async #failure(jobId: string, reason: string): Promise<RemoteCallFailed> {
		let stack: string | undefined;
		try {
			const job = await this.queue.getJob(jobId);
			stack = job?.stacktrace?.[job.stacktrace.length - 1];
		} catch {
			// The reason alone, then.
		}
		return new RemoteCallFailed(reason, jobId, stack);
	}

	/** Resolves once both connections are up; rejects at once when one is down (never waits on a server that is gone). */
	async #ready(): Promise<void> {
		if (this.#closed) throw new QueueUnavailable('This BullMQ executor is closed');
		// Connections ready on their own (the first submission came late) still need the listener started.
		if (this.#listening && this.#connections.every((c) => c.status === 'ready')) return;
		// One wait for every submission made while connecting (not a listener each).
		this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined));
		await this.#connecting;
	}

	#connecting: Promise<void> | undefined;

	async #connect(): Promise<void> {
		for (const c of this.#connections) {
			if (c.status === 'ready') continue;
			if (c.status !== 'connecting' && c.status !== 'connect' && c.status !== 'wait') throw this.#unavailable('Cannot submit');
			await new Promise<void>((resolve, reject) => {
				const onReady = (): void => {
					c.off('error', onError);
					resolve();
				};
				const onError = (err: Error): void => {
					c.off('ready', onReady);
					reject(this.#unavailable(`Cannot submit (${err.message})`));
				};
				c.once('ready', onReady);
				c.once('error', onError);
			});
		}
		await this.#events.waitUntilReady();
		if (!this.#listening) {
			// The newest event now: every job added from here on has its events after it.
			const last = await this.#connections[0]!.xrevrange(this.queue.keys['events']!, '+', '-', 'COUNT', 1);
			if (this.#listening) return;
			this.#listening = true;
			(this.#events.opts as BullMQ.QueueEventsOptions).lastEventId = last[0]?.[0] ?? '0-0';
			this.#events.run().catch((err: Error) => (this.#lastError = err.message));
			this.#sweeper = setInterval(() => this.#sweep(), sweepMs).unref();
		}
	}

	#listening = false;
	#sweeper: NodeJS.Timeout | undefined;
	/** The jobs waited for at the last sweep. */
	#swept = new Set<string>();

	/**
	 * Reads again the state of the jobs waited for since the last sweep at least (not a job a submission has just
	 * retried, whose old failure it would report): settles those whose outcome went unheard.
	 */
	#sweep(): void {
		for (const jobId of this.#waiters.keys()) if (this.#swept.has(jobId)) void this.#check(jobId, false);
		this.#swept = new Set(this.#waiters.keys());
	}

	/** Submits a call as a job (or joins the job of an identical one) and resolves with the worker's reply. */
	async run(call: BoundCall, options: Readonly<Record<string, unknown>>, read: (reply: BullmqReply, heard: boolean) => unknown): Promise<unknown> {
		const signal = options['signal'] as AbortSignal | undefined;
		if (signal?.aborted) throw abortError(signal);
		await this.#ready();
		const jobOptions: Record<string, unknown> = {};
		for (const name of bullmqJobOptions) if (name !== 'timeout' && name !== 'signal' && options[name] !== undefined) jobOptions[name] = options[name];
		const name = `${call.module ?? ''}:${call.name}`;
		const keyed = validJobId(call.key);
		let rerun = false;
		for (;;) {
			let jobId = keyed ? call.key : undefined;
			let registered: Promise<Outcome> | undefined;
			if (jobId !== undefined) {
				registered = this.#wait(jobId, options);
				// Its timeout or signal may end it while the job is being added: a rejection heard below, not unhandled.
				registered.catch(() => undefined);
			}
			// Completed before, and its result is gone from the store since (evicted): run it again, once. Another
			// submitter may have moved it first. Meanwhile its `duplicated` event must not read the old result.
			const rerunning = rerun && jobId !== undefined ? jobId : undefined;
			if (rerunning !== undefined) this.#rerunning.add(rerunning);
			let job: BullMQ.Job;
			try {
				job = await this.queue.add(name, call, { ...jobOptions, ...(jobId !== undefined ? { jobId } : {}) });
				if (rerun) await job.retry('completed').catch(() => undefined);
			} finally {
				if (rerunning !== undefined) this.#rerunning.delete(rerunning);
			}
			jobId = job.id!;
			registered ??= this.#wait(jobId, options);
			if (rerun) void this.#check(jobId, true);
			const { reply, heard } = await registered;
			if (!isBullmqReply(reply)) throw new FlecheError(`Job ${jobId} of queue ${this.queue.name} answered something else than a fleche worker's reply`);
			// A job run again because its result was gone is read from the store: that is what it was run for.
			const value = read(reply, heard && !rerun);
			if (value !== rereadMarker) return value;
			if (rerun)
				throw new FlecheError(
					`The worker stored ${call.name}'s result under key ${reply.key ?? '?'}, but this process cannot read it there: submitters and workers must share the store`,
				);
			rerun = true;
		}
	}

	/** A waiter for `jobId`'s outcome, bounded by the submission's timeout and signal. */
	#wait(jobId: string, options: Readonly<Record<string, unknown>>): Promise<Outcome> {
		const signal = options['signal'] as AbortSignal | undefined;
		const timeout = options['timeout'];
		return new Promise((resolve, reject) => {
			let timer: NodeJS.Timeout | undefined;
			const cleanup = (): void => {
				clearTimeout(timer);
				signal?.removeEventListener('abort', onAbort);
			};
			const waiter: Waiter = {
				resolve: (v) => {
					cleanup();
					resolve(v);
				},
				reject: (e) => {
					cleanup();
					reject(e);
				},
			};
			const leave = (err: Error): void => {
				const set = this.#waiters.get(jobId);
				set?.delete(waiter);
				if (set?.size === 0) this.#waiters.delete(jobId);
				waiter.reject(err);
			};
			const onAbort = (): void => leave(abortError(signal!));
			signal?.addEventListener('abort', onAbort, { once: true });
			if (typeof timeout === 'number' && timeout > 0) {
				timer = setTimeout(
					() => leave(new FlecheError(`Gave up waiting for job ${jobId} of queue ${this.queue.name} after ${timeout} ms (it keeps running)`)),
					timeout,
				);
			}
			let set = this.#waiters.get(jobId);
			if (set === undefined) this.#waiters.set(jobId, (set = new Set()));
			set.add(waiter);
		});
	}

	/**
	 * Reads a job's state once listeners are in place: it may have finished before anyone listened. A failed job is
	 * retried when `retry` (it failed before this submission), else its waiters reject with the failure.
	 */
	async #check(jobId: string, retry: boolean): Promise<void> {
		try {
			// The state first: a job read before it completes has no return value yet, and BullMQ sets both at once.
			const state = await this.queue.getJobState(jobId);
			if (state !== 'completed' && state !== 'failed') return;
			const job = await this.queue.getJob(jobId);
			if (job === undefined) return;
			if (state === 'completed') this.#settle(jobId, (w) => w.resolve({ reply: job.returnvalue, heard: false }));
			// Failed before this submission: a new submission is a new attempt. Another submitter may have retried it first.
			else if (retry) await job.retry('failed').catch(() => undefined);
			else if (this.#waiters.has(jobId)) {
				const err = await this.#failure(jobId, job.failedReason);
				this.#settle(jobId, (w) => w.reject(err));
			}
		} catch (err) {
			this.#lastError = (err as Error).message;
		}
	}

	async close(): Promise<void> {
		if (this.#closed) return;
		this.#closed = true;
		clearInterval(this.#sweeper);
		const err = new QueueUnavailable('The BullMQ executor was closed while waiting for a job');
		for (const id of [...this.#waiters.keys()]) this.#settle(id, (w) => w.reject(err));
		// The events connection may sit in a blocking read for seconds: cut it rather than wait for the read to end.
		for (const c of this.#connections) c.disconnect();
		await Promise.allSettled([this.#events.close(), this.queue.close()]);
	}
}

const rereadMarker = Symbol('reread');

/** How often the states of jobs still waited for are read again (a guard: their events normally settle them). */
const sweepMs = 5000;

/**
 * The result of a worker's reply (see the top of this module): the value it carries, or the one it stored, read from
 * the store; {@link rereadMarker} when this process cannot find it there. `checked` holds the caches this executor
 * has read a stored result from.
 */
function readReply(c: BaseCache, reply: BullmqReply, heard: boolean, checked: WeakSet<BaseCache>): unknown {
	if (!reply.stored || reply.key === null) return reply.value;
	if (heard && 'value' in reply && checked.has(c)) return reply.value;
	const hit = c.lookup(reply.key);
	if (hit === undefined) return rereadMarker;
	checked.add(c);
	return hit.value;
}

function bullmqAdapter(q: BullmqQueue): Adapter {
	const checked = new WeakSet<BaseCache>();
	return {
		options: bullmqJobOptions,
		run: async (job: Job, options) => {
			// Jobs travel as JSON, which keeps no object identity: no class patches.
			const call = describe(job, false);
			if (call.cache === null) {
				throw new FlecheError(
					`${call.name} is bound to a cache that holds memory storage, which a worker on another process or machine cannot reach: use a store every worker can open (a file store on a shared folder, SQL, PostgreSQL)`,
				);
			}
			const value = await q.run(call, options, (reply, heard) => readReply(job.cache, reply, heard, checked));
			// The result is stored where the worker put it already: nothing for the caller to commit.
			return { fleche: 'boundReply/1', value, key: call.key, record: null };
		},
		passThrough: () =>
			Promise.reject(
				new TypeError(
					'A BullMQ executor runs only functions made by fleche(): a plain function (a closure) cannot travel to a worker process. Wrap it with fleche() in a module the workers can import.',
				),
			),
	};
}

/**
 * An executor on a BullMQ queue (docs/behaviour.md §3.5): cached calls submitted to it run on `fleche worker --redis
 * URL --queue NAME` processes, on this machine or others, which import the function's module from their project,
 * run the call with the bound cache and metadata, and store the result there.
 *
 * - A hit resolves from the cache here: no job.
 * - A miss becomes a job whose id is the call's key: identical submissions from any number of processes make one
 *   job, run once, and every submitter gets its result (read from the store the worker wrote it to).
 * - Job options (priority, attempts, …, see {@link bullmqJobOptions}) go in a plain object as the last argument.
 * - A failing call rejects with {@link RemoteCallFailed}: the remote message and stack.
 * - The cache must be one every worker can open (file store on a shared folder, SQL, PostgreSQL): a memory cache
 *   is refused; a plain function is refused (it cannot travel).
 * - Redis unreachable, or lost while submissions wait: they reject with {@link QueueUnavailable}; none hang.
 *
 * The returned executor is already wrapped (`wrapExecutor` of it changes nothing).
 * @example
 * ```ts
 * import { cache, fileCache } from 'fleche';
 * import { bullmqExecutor } from 'fleche/bullmq';
 * const executor = bullmqExecutor({ url: 'redis://127.0.0.1:6379', queue: 'fleche' });
 * using _ = cache(fileCache('/shared/store'));
 * const results = await Promise.all([1, 2, 3].map((x) => executor.submit(expensive, x, { priority: 1 })));
 * await executor.close();
 * ```
 */
export function bullmqExecutor(options: BullmqExecutorOptions): BullmqExecutor {
	const q = new BullmqQueue(options);
	const adapter = bullmqAdapter(q);
	const executor = {
		queue: q.queue,
		close: () => q.close(),
		[adapterKey]: () => adapter,
	};
	return wrapExecutor(executor);
}
