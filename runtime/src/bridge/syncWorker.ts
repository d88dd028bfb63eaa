// A synchronous bridge to an asynchronous engine: the storages' methods are synchronous (a cache lookup sits inside a
// synchronous function call), while sql.js starts asynchronously and a network client answers asynchronously. So
// the engine runs in a worker thread, and the calling thread blocks on a request until the answer is there.
//
// - The worker's module is loaded by a start-up guard (the eval'd `bootstrap` below) that no failure gets past: a
//   module that cannot load, an uncaught exception or an exit posts the reason on the port, marks the shared state
//   word failed and wakes the caller. A blocked caller cannot see the Worker's `error` and `exit` events (its event
//   loop is stopped), so without the guard it would only notice after the whole time-out.
// - The worker does not inherit the parent's `execArgv` nor the options in `NODE_OPTIONS`: `node --input-type=module
//   -e …` would parse the eval'd guard as an ES module (it dies before it can report anything), `-e`/`--eval`,
//   `--import`, `--require` and `--loader` would run the user's code or hooks in the engine's thread. Only options
//   that change diagnostics are kept.
// - Requests carry an id; the caller takes replies with `receiveMessageOnPort` while it waits in `Atomics.wait` (see
//   protocol.ts for the shared words), and `call()` waits for them on the event loop instead. A request that gets no
//   answer in time ends the worker: it is stuck or far behind, and every later request would queue behind it.
// - Neither the worker nor its port keeps the process alive, except while a `call()` waits for its answer.
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MessagePort, Worker } from 'node:worker_threads';
import { workerThreads } from '../builtins.js';
import { FlecheError } from '../errors.js';
import { warn, warnOnce } from '../log.js';
import {
	type BridgeData,
	type BridgeReply,
	type BridgeRequest,
	type BridgeWarning,
	fatalId,
	replyWord,
	servingKey,
	spinning,
	stateFailed,
	stateWord,
	waitSpinLimitMs,
} from './protocol.js';

/** Options of {@link SyncWorker}. */
export interface SyncWorkerOptions {
	/**
	 * Absolute path of the worker's module, an ES module or CommonJS, which calls `serve()` while it loads. Beside
	 * the caller's own file as a rule: `join(dirname(moduleFile(import.meta.url, () => __filename)), 'myWorker.js')`.
	 */
	readonly module: string;
	/** What the worker is for, in messages: `'cache database'` reads "The cache database worker (…) failed: …". */
	readonly name: string;
	/** Given to the worker (a structured clone), which reads it with `workerInput()`. */
	readonly input?: unknown;
	/**
	 * How long a request waits for its answer, unless it says otherwise. Past it the worker is ended and the request,
	 * and every one after it, throws {@link WorkerFailed}.
	 * @default 60_000
	 */
	readonly timeoutMs?: number;
}

/** Options of one request. */
export interface RequestOptions {
	/** Replaces {@link SyncWorkerOptions.timeoutMs} for this request. */
	readonly timeoutMs?: number;
}

/**
 * The worker cannot answer: its module is missing or did not load, it crashed or exited, it did not answer in time,
 * or it was closed. Its message names the worker's module and the cause. Every later request throws it too.
 */
export class WorkerFailed extends FlecheError {
	/** True when `err` is a WorkerFailed, from any copy of the package. */
	static override is(err: unknown): err is WorkerFailed {
		return super.is(err);
	}
}

/** The worker's handler threw (or rejected) for this request; the worker goes on serving. The message is the handler's. */
export class WorkerRequestError extends FlecheError {
	/** True when `err` is a WorkerRequestError, from any copy of the package. */
	static override is(err: unknown): err is WorkerRequestError {
		return super.is(err);
	}
}

/** Whether this copy of the runtime is the ESM build (esbuild leaves `import.meta` empty in the CommonJS outputs). */
const esm = typeof import.meta.url === 'string';

/**
 * The guard the worker thread runs first, around the worker's module. Plain CommonJS run with `eval`, so it needs no
 * file of its own (bundles ship none) and runs whatever the module format of the worker: `require` first in a
 * CommonJS runtime (bundles, the CommonJS build), falling back to `import()` for an ES module; `import()` otherwise.
 */
const bootstrap = `'use strict';
const { workerData } = require('node:worker_threads');
const flag = new Int32Array(workerData.flag);
function fail(reason) {
	if (Atomics.load(flag, ${stateWord}) === ${stateFailed}) return;
	const text = reason instanceof Error ? reason.message : String(reason);
	try { workerData.port.postMessage({ id: ${fatalId}, ok: false, fatal: true, error: text, warnings: [] }); } catch {}
	Atomics.store(flag, ${stateWord}, ${stateFailed});
	Atomics.store(flag, ${replyWord}, 1);
	Atomics.notify(flag, ${replyWord});
}
process.on('uncaughtException', (err) => { fail(err); process.exit(1); });
process.on('exit', (code) => fail('the worker thread exited (code ' + code + ')'));
function load() {
	if (workerData.cjs) {
		try {
			require(workerData.module);
			return Promise.resolve();
		} catch (err) {
			if (err?.code !== 'ERR_REQUIRE_ESM' && err?.code !== 'ERR_REQUIRE_ASYNC_MODULE') return Promise.reject(err);
		}
	}
	return import(workerData.moduleUrl);
}
load().then(() => {
	if (globalThis[Symbol.for(${JSON.stringify(servingKey)})] !== true) {
		fail('its module loaded without calling serve()');
		process.exit(1);
	}
}, (err) => { fail(err); process.exit(1); });`;

/** Options of the parent kept for the worker: they change what diagnostics look like, never what code runs. */
const diagnosticFlags = new Set(['--enable-source-maps', '--no-warnings', '--no-deprecation', '--trace-warnings', '--trace-deprecation', '--trace-uncaught']);

/** The options among `args` that only change diagnostics; nothing that loads or runs code, or changes how it is parsed. */
function diagnosticOptions(args: readonly string[]): string[] {
	const kept: string[] = [];
	for (let i = 0; i < args.length; i++) {
		const arg = args[i]!;
		if (diagnosticFlags.has(arg) || arg.startsWith('--disable-warning=')) kept.push(arg);
		else if (arg === '--disable-warning' && i + 1 < args.length) kept.push(arg, args[++i]!);
	}
	return kept;
}

/**
 * The worker's environment: the parent's, with `NODE_OPTIONS` reduced like `execArgv` (a worker given an environment
 * reads its options from there: `--import` or `--loader` in it would run in the engine's thread too). Undefined, the
 * default (a copy of the parent's), when there is no `NODE_OPTIONS`.
 */
function workerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined {
	const options = env['NODE_OPTIONS'];
	if (options === undefined) return undefined;
	const { NODE_OPTIONS: _, ...rest } = env;
	const kept = diagnosticOptions(options.split(/\s+/).filter((o) => o !== ''));
	return kept.length > 0 ? { ...rest, NODE_OPTIONS: kept.join(' ') } : rest;
}

function checkTimeout(timeoutMs: unknown): number {
	if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) throw new RangeError(`timeoutMs must be a positive number of milliseconds, not ${String(timeoutMs)}`);
	return timeoutMs;
}

function logWarnings(warnings: readonly BridgeWarning[]): void {
	for (const w of warnings) {
		if (w.once !== undefined) warnOnce(w.once, w.code, w.message);
		else warn(w.code, w.message);
	}
}

/** A {@link SyncWorker.call} waiting for its answer. */
interface Waiting {
	readonly resolve: (value: unknown) => void;
	readonly reject: (err: Error) => void;
	readonly timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * A worker thread running an asynchronous engine, called synchronously ({@link request}, which blocks the calling
 * thread until the answer is there) or asynchronously ({@link call}). The worker's module answers with `serve()`.
 * It starts at once; the first request waits for the module to load and for whatever it awaits before serving.
 *
 * The worker ignores the parent's `execArgv` and `NODE_OPTIONS` (loaders, `--import`, `-e`, `--input-type`: only
 * diagnostics options are kept); its `process.env` is otherwise a copy of the parent's. When it fails — its module
 * is missing or does not load, an uncaught exception, an exit — a waiting request throws {@link WorkerFailed} at
 * once with the cause, not after its time-out, and so does every later one.
 *
 * @example
 * ```ts
 * import { moduleFile, SyncWorker } from 'fleche/bridge';
 * const engine = new SyncWorker({ module: join(dirname(moduleFile(import.meta.url, () => __filename)), 'engine.js'), name: 'engine', input: { url } });
 * const rows = engine.request({ op: 'query', sql: 'SELECT 1' }); // blocks until the worker's handler answers
 * const later = await engine.call({ op: 'query', sql: 'SELECT 2' }); // does not block
 * engine.close();
 * ```
 */
export class SyncWorker {
	/** Absolute path of the worker's module. */
	readonly module: string;
	/** What the worker is for, as in messages. */
	readonly name: string;
	readonly #worker: Worker;
	readonly #port: MessagePort;
	readonly #signal: Int32Array;
	readonly #timeoutMs: number;
	#nextId = 1;
	/** How long this worker's answers to `request()` typically take (a moving average), in milliseconds. */
	#typicalMs = 0;
	#requests = 0;
	#failure: string | null = null;
	readonly #waiting = new Map<number, Waiting>();
	#listening = false;

	/**
	 * Starts the worker thread.
	 * @throws WorkerFailed when the module file is missing; TypeError or RangeError for bad options.
	 */
	constructor(options: SyncWorkerOptions) {
		const { module, name, input, timeoutMs = 60_000 } = options;
		if (typeof module !== 'string' || !isAbsolute(module)) throw new TypeError(`SyncWorker needs the absolute path of its module, not ${String(module)}`);
		if (typeof name !== 'string' || name === '') throw new TypeError('SyncWorker needs a `name` for its messages');
		this.module = module;
		this.name = name;
		this.#timeoutMs = checkTimeout(timeoutMs);
		if (!existsSync(module))
			throw new WorkerFailed(`Cannot start the ${name} worker: its module ${module} is missing (a bundle must ship it beside the code that starts it)`);
		const flag = new SharedArrayBuffer(8);
		const { MessageChannel, Worker } = workerThreads();
		const { port1, port2 } = new MessageChannel();
		this.#signal = new Int32Array(flag);
		this.#port = port1;
		const workerData: BridgeData = { fleche: 'bridge', port: port2, flag, module, moduleUrl: pathToFileURL(module).href, cjs: !esm, input };
		this.#worker = new Worker(bootstrap, {
			eval: true,
			workerData,
			transferList: [port2],
			execArgv: diagnosticOptions(process.execArgv),
			env: workerEnv(process.env),
		});
		this.#worker.unref();
		// Seen only while this thread is not blocked in a request (which reads the state word instead). The guard's
		// reply says more than the event: it is taken first.
		this.#worker.on('error', (err) => this.#ended(`failed: ${err instanceof Error ? err.message : String(err)}`));
		this.#worker.on('exit', (code) => this.#ended(`failed: the worker thread exited (code ${code})`));
	}

	/** Why the worker can no longer answer (the message every request now throws), or null while it can. */
	get failure(): string | null {
		if (this.#failure === null && Atomics.load(this.#signal, stateWord) === stateFailed) this.#drain(undefined);
		return this.#failure;
	}

	/**
	 * Sends `message` to the worker's handler and blocks this thread until the answer is there; returns it.
	 * @throws WorkerRequestError when the handler threw; WorkerFailed when the worker failed, did not answer within
	 *   the time-out (it is then ended) or was closed.
	 */
	request(message: unknown, options?: RequestOptions): unknown {
		const timeoutMs = options?.timeoutMs === undefined ? this.#timeoutMs : checkTimeout(options.timeoutMs);
		this.#throwIfFailed();
		const id = this.#nextId++;
		this.#port.postMessage({ id, message } satisfies BridgeRequest);
		const sent = performance.now();
		const deadline = sent + timeoutMs;
		// Polled for while answers come quickly, slept for otherwise (protocol.ts); every 32nd request polls anyway, to
		// notice answers that became quick again.
		const poll = spinning && (this.#typicalMs <= waitSpinLimitMs || ++this.#requests % 32 === 0);
		const spinUntil = poll ? sent + waitSpinLimitMs : sent;
		for (;;) {
			// Cleared before the port is read: a reply posted after the read sets it again, and the wait returns at once.
			Atomics.store(this.#signal, replyWord, 0);
			const reply = this.#drain(id);
			if (reply !== undefined) {
				// Only a polled-for answer's time is its own: a slept-for one's includes the wake-up.
				if (poll) this.#typicalMs = this.#typicalMs * 0.75 + (performance.now() - sent) * 0.25;
				if (reply.ok) return reply.value;
				throw new WorkerRequestError(reply.error);
			}
			this.#throwIfFailed();
			let now = performance.now();
			const left = deadline - now;
			if (left <= 0) this.#failNow(`${this.#describe()} did not answer within ${timeoutMs} ms`);
			while (now < spinUntil && Atomics.load(this.#signal, replyWord) === 0) now = performance.now();
			if (Atomics.load(this.#signal, replyWord) === 0) Atomics.wait(this.#signal, replyWord, 0, left);
		}
	}

	/**
	 * Sends `message` to the worker's handler; the promise settles with its answer, without blocking this thread.
	 * While it waits, the worker keeps the process alive.
	 * @returns a promise rejected with WorkerRequestError when the handler threw, WorkerFailed when the worker
	 *   failed, did not answer within the time-out (it is then ended) or was closed.
	 */
	async call(message: unknown, options?: RequestOptions): Promise<unknown> {
		const timeoutMs = options?.timeoutMs === undefined ? this.#timeoutMs : checkTimeout(options.timeoutMs);
		this.#throwIfFailed();
		this.#listen();
		const id = this.#nextId++;
		// Posted before it is awaited: its answer is taken on a later turn of the event loop, or by a request().
		this.#port.postMessage({ id, message } satisfies BridgeRequest);
		this.#port.ref();
		return new Promise((resolve, reject) => {
			const timer = Number.isFinite(timeoutMs)
				? setTimeout(() => this.#fail(`${this.#describe()} did not answer within ${timeoutMs} ms`), timeoutMs)
				: undefined;
			// The port holds the process while answers are due; the timer alone does not need to.
			timer?.unref();
			this.#waiting.set(id, { resolve, reject, timer });
		});
	}

	/** Ends the worker thread; requests waiting in {@link call} and every later request throw {@link WorkerFailed}. */
	close(): void {
		this.#fail(`${this.#describe()} was closed`);
	}

	#describe(): string {
		return `The ${this.name} worker (${this.module})`;
	}

	#throwIfFailed(): void {
		const failure = this.failure;
		if (failure !== null) throw new WorkerFailed(failure);
		// The guard posts its reason before it marks the state word: it was on the port, unless the port broke.
		if (Atomics.load(this.#signal, stateWord) === stateFailed) this.#failNow(`${this.#describe()} failed without a reason`);
	}

	#failNow(message: string): never {
		this.#fail(message);
		throw new WorkerFailed(this.#failure ?? message);
	}

	/** Takes every reply on the port; returns the one to request `wanted`. */
	#drain(wanted: number | undefined): BridgeReply | undefined {
		let found: BridgeReply | undefined;
		while (this.#failure === null) {
			const next = workerThreads().receiveMessageOnPort(this.#port);
			if (next === undefined) break;
			const reply = next.message as BridgeReply;
			if (this.#receive(reply, wanted)) found = reply;
		}
		return found;
	}

	/** Handles one reply: logs its warnings, settles the call it answers; true when it answers request `wanted`. */
	#receive(reply: BridgeReply, wanted: number | undefined): boolean {
		logWarnings(reply.warnings);
		if (!reply.ok && reply.fatal === true) {
			this.#fail(`${this.#describe()} failed: ${reply.error}`);
			return false;
		}
		if (reply.id === wanted) return true;
		const waiting = this.#waiting.get(reply.id);
		if (waiting === undefined) return false;
		this.#settled(reply.id);
		if (reply.ok) waiting.resolve(reply.value);
		else waiting.reject(new WorkerRequestError(reply.error));
		return false;
	}

	#listen(): void {
		if (this.#listening) return;
		this.#listening = true;
		this.#port.on('message', (reply: BridgeReply) => {
			this.#receive(reply, undefined);
		});
		this.#port.unref();
	}

	#settled(id: number): void {
		const waiting = this.#waiting.get(id);
		if (waiting === undefined) return;
		clearTimeout(waiting.timer);
		this.#waiting.delete(id);
		if (this.#waiting.size === 0) this.#port.unref();
	}

	/** The worker's `error` or `exit` event: the guard's reason, when it posted one, says more. */
	#ended(what: string): void {
		if (this.#failure !== null) return;
		this.#drain(undefined);
		this.#fail(`${this.#describe()} ${what}`);
	}

	#fail(message: string): void {
		if (this.#failure !== null) return;
		this.#failure = message;
		const waiting = [...this.#waiting.values()];
		this.#waiting.clear();
		for (const w of waiting) {
			clearTimeout(w.timer);
			w.reject(new WorkerFailed(message));
		}
		this.#port.close();
		void this.#worker.terminate();
	}
}
