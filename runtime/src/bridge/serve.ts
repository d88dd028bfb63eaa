// The worker's side of a SyncWorker (see syncWorker.ts): the module a SyncWorker starts calls `serve(handler)` once,
// reads its `workerInput()`, and raises warnings for the caller with `warnCaller()`.
import { isMainThread, receiveMessageOnPort, workerData } from 'node:worker_threads';
import {
	type BridgeData,
	type BridgeReply,
	type BridgeRequest,
	type BridgeWarning,
	isBridgeData,
	replyWord,
	serveSpinBudgetMs,
	serveSpinMs,
	servingKey,
	spinning,
} from './protocol.js';

let warnings: BridgeWarning[] = [];

function bridgeData(what: string): BridgeData {
	if (isMainThread || !isBridgeData(workerData)) throw new Error(`${what} works only in a worker thread started by a SyncWorker`);
	return workerData;
}

function text(err: unknown): string {
	return err instanceof Error ? err.message : String(err);
}

/**
 * The `input` given to the {@link SyncWorker} that started this worker thread (a structured clone of it).
 * @throws Error outside a worker thread started by a SyncWorker.
 */
export function workerInput<T = unknown>(): T {
	return bridgeData('workerInput()').input as T;
}

/**
 * A warning for the calling thread, which logs it through fleche's logger (see `setLogger`) with the next reply: the
 * worker's own `process.emitWarning` would bypass the user's logger.
 * @param code - a stable `FLECHE_…` code.
 * @param once - when given, the caller logs only the first warning with this key.
 */
export function warnCaller(code: string, message: string, once?: string): void {
	warnings.push(once === undefined ? { code, message } : { code, message, once });
}

/**
 * Answers the requests of the {@link SyncWorker} that started this worker thread: each message is passed to
 * `handler`, and what it returns (or what its promise resolves to) is the answer; what it throws (or its promise
 * rejects with) is thrown to that request's caller as a `WorkerRequestError` with the same message, and the worker
 * goes on serving. Answers are sent as they settle, so a handler that returns promises must order them itself when
 * order matters. Values and messages travel as structured clones. Call it once, when the module loads.
 *
 * @throws Error outside a worker thread started by a SyncWorker, or when called twice.
 * @example
 * ```ts
 * // myWorker.ts, started by `new SyncWorker({ module: …/myWorker.js, name: 'my store' })`
 * import { serve, workerInput } from 'fleche/bridge';
 * const { url } = workerInput<{ url: string }>();
 * const client = connect(url);
 * serve(async (message) => client.query(message as string));
 * ```
 */
export function serve(handler: (message: unknown) => unknown): void {
	const { port, flag } = bridgeData('serve()');
	// On the thread's global, not in this module: an ESM and a CommonJS copy of it would both answer every request.
	const global = globalThis as Record<symbol, unknown>;
	if (global[Symbol.for(servingKey)] === true) throw new Error('serve() was called twice in this worker thread');
	global[Symbol.for(servingKey)] = true;
	const signal = new Int32Array(flag);
	const send = (reply: BridgeReply): void => {
		try {
			port.postMessage(reply);
		} catch (err) {
			// A value that cannot be cloned: the caller still gets an answer, or it would wait for its time-out.
			port.postMessage({ id: reply.id, ok: false, error: `the answer cannot be sent to the calling thread: ${text(err)}`, warnings: [] } satisfies BridgeReply);
		}
		Atomics.store(signal, replyWord, 1);
		Atomics.notify(signal, replyWord);
	};
	const answer = (id: number, value: unknown): void => {
		const sent = warnings;
		warnings = [];
		send({ id, ok: true, value, warnings: sent });
	};
	const refuse = (id: number, err: unknown): void => {
		const sent = warnings;
		warnings = [];
		send({ id, ok: false, error: text(err), warnings: sent });
	};
	/** Handles one request; true when it was answered at once (the handler returned a value or threw). */
	const handle = ({ id, message }: BridgeRequest): boolean => {
		let result: unknown;
		try {
			result = handler(message);
		} catch (err) {
			refuse(id, err);
			return true;
		}
		if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') {
			Promise.resolve(result).then(
				(value: unknown) => {
					answer(id, value);
					poll();
				},
				(err: unknown) => {
					refuse(id, err);
					poll();
				},
			);
			return false;
		}
		answer(id, result);
		return true;
	};
	// After an answer: the next request of a caller in a loop, served without waking this thread (protocol.ts). A run
	// of requests served so (answered at once, or in a chain of promise callbacks) counts against one budget, renewed
	// once the event loop has had its turn.
	let runStarted: number | undefined;
	const poll = (): void => {
		if (!spinning) return;
		let now = performance.now();
		if (runStarted === undefined) {
			runStarted = now;
			setImmediate(() => (runStarted = undefined));
		}
		let until = now + serveSpinMs;
		for (; now < until && now - runStarted < serveSpinBudgetMs; now = performance.now()) {
			const next = receiveMessageOnPort(port);
			if (next === undefined) continue;
			if (!handle(next.message as BridgeRequest)) return;
			until = performance.now() + serveSpinMs;
		}
	};
	port.on('message', (request: BridgeRequest) => {
		if (handle(request)) poll();
	});
}
