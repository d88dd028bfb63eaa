// docs/behaviour.md §17: the worker thread that holds the `ssh` connection of `CallSsh` and `ValueSsh` (see store.ts
// for why a worker): it starts `ssh … fleche remote --serve`, greets the far side (protocol.ts), and passes requests
// one at a time, each answer bounded in size and time. Started through the synchronous bridge (bridge/syncWorker.ts).
//
// Every answer is an {@link Answer}: failures are classified here, where the process and the stream are seen —
// `down` (ssh cannot connect, or the connection dropped or stopped answering: the caller runs uncached and tries again
// later), `refused` (the far side answers but will not serve: another protocol version, a cache it cannot open),
// `bad` (a reply that breaks the protocol: too long, not JSON, the wrong shape or id; the connection is ended and the
// caller treats it as an outage) or `error` (the far side's storage refused this one request: a miss, a rejected save).
import { spawn, type ChildProcess } from 'node:child_process';
import { serve, workerInput } from '../../bridge/serve.js';
import { LineReader, MAX_GREETING_LINES, REMOTE_PROTOCOL, redactConfig, untrustedText, type RemoteInfo } from './protocol.js';

/** What the store passes as the worker's input. */
export interface SshWorkerData {
	/** The `ssh` program and its arguments, remote command included. */
	readonly argv: readonly string[];
	/** How messages name the remote (`user@host:port`, no secrets). */
	readonly shown: string;
	/** Bound on connecting (the far side's hello included) and on each reply, in milliseconds. */
	readonly timeoutMs: number;
	/** The longest line accepted from the far side. */
	readonly maxLineBytes: number;
	/** This side's fleche version, told to the far side. */
	readonly version: string;
}

/** A request from the store: an operation of the protocol, or `#connect` (connect now, a fresh connection when `fresh`). */
export interface SshRequest {
	readonly op: string;
	readonly args: readonly unknown[];
	readonly fresh?: boolean;
}

/** Why a request failed (see the top of this file). */
export type Failure = 'down' | 'refused' | 'bad' | 'error';

/** The answer to every request; `info` is the far side's hello once connected. */
export type Answer =
	| { readonly ok: true; readonly value: unknown; readonly info: RemoteInfo }
	| { readonly ok: false; readonly failure: Failure; readonly message: string; readonly name?: string; readonly info?: RemoteInfo };

const data = workerInput<SshWorkerData>();

class Problem extends Error {
	constructor(
		readonly failure: Failure,
		message: string,
	) {
		super(message);
	}
}

/** Most of the far side's stderr kept for messages (its last characters: where ssh and shells say what failed). */
const stderrTail = 2000;

/** One `ssh` process and its line stream. */
class Connection {
	readonly #child: ChildProcess;
	readonly #lines: string[] = [];
	#wake: (() => void) | undefined;
	/** Why the stream can give no more lines, once it cannot. */
	#ended: Problem | undefined;
	#stderr = '';
	#nextId = 1;
	info: RemoteInfo | undefined;

	constructor() {
		const [program, ...args] = data.argv;
		// Every stream piped: nothing the far side prints reaches this process's terminal.
		this.#child = spawn(program!, args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
		const reader = new LineReader(
			data.maxLineBytes,
			(line) => {
				this.#lines.push(line);
				this.#poke();
			},
			() => this.#end(new Problem('bad', `sent a line longer than ${data.maxLineBytes} bytes`)),
		);
		this.#child.stdout!.on('data', (chunk: Buffer) => reader.push(chunk));
		this.#child.stderr!.on('data', (chunk: Buffer) => {
			this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-stderrTail);
		});
		this.#child.stdin!.on('error', () => undefined);
		this.#child.on('error', (err) => this.#end(new Problem('down', `cannot run ${program}: ${err.message}`)));
		this.#child.on('close', (code, signal) => {
			const said = untrustedText(this.#stderr.trim(), 600);
			this.#end(new Problem('down', `the connection ended (ssh exited ${signal ?? String(code)})${said === '' ? '' : `: ${said}`}`));
		});
	}

	#poke(): void {
		const wake = this.#wake;
		this.#wake = undefined;
		wake?.();
	}

	#end(problem: Problem): void {
		this.#ended ??= problem;
		this.#poke();
		this.kill();
	}

	get pid(): number | undefined {
		return this.#child.pid;
	}

	kill(): void {
		if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
	}

	/** The next line, within `deadline` (a `performance.now()` time). */
	async #next(deadline: number, what: string): Promise<string> {
		for (;;) {
			const line = this.#lines.shift();
			if (line !== undefined) return line;
			if (this.#ended !== undefined) throw this.#ended;
			const left = deadline - performance.now();
			if (left <= 0) {
				this.#end(new Problem('down', `${what} did not come within ${data.timeoutMs} ms`));
				throw this.#ended!;
			}
			await new Promise<void>((resolve) => {
				const timer = setTimeout(resolve, left);
				this.#wake = () => {
					clearTimeout(timer);
					resolve();
				};
			});
		}
	}

	#send(line: string): void {
		if (this.#ended !== undefined) throw this.#ended;
		this.#child.stdin!.write(`${line}\n`);
	}

	/** Greets the far side and checks its hello. */
	async hello(): Promise<RemoteInfo> {
		this.#send(JSON.stringify({ fleche: 'remote', protocol: REMOTE_PROTOCOL, version: data.version, maxLineBytes: data.maxLineBytes }));
		const deadline = performance.now() + data.timeoutMs;
		for (let skipped = 0; ; skipped++) {
			const line = await this.#next(deadline, `the far side's hello`);
			const hello = parse(line);
			if (!isObject(hello) || hello['fleche'] !== 'remote') {
				if (skipped >= MAX_GREETING_LINES) throw this.#fail('bad', `printed ${MAX_GREETING_LINES} lines without a hello`);
				continue;
			}
			if (hello['protocol'] !== REMOTE_PROTOCOL) {
				throw this.#fail(
					'refused',
					`speaks protocol ${untrustedText(hello['protocol'], 20)} of the remote cache, this fleche ${REMOTE_PROTOCOL}: install the same major version on both machines`,
				);
			}
			if (typeof hello['error'] === 'string') throw this.#fail('refused', `cannot serve: ${untrustedText(hello['error'])}`);
			const { version, node, pid, readOnly, maxLineBytes } = hello;
			if (
				typeof version !== 'string' ||
				typeof node !== 'string' ||
				!Number.isSafeInteger(pid) ||
				typeof readOnly !== 'boolean' ||
				!Number.isSafeInteger(maxLineBytes)
			) {
				throw this.#fail('bad', 'sent a hello of the wrong shape');
			}
			this.info = {
				protocol: REMOTE_PROTOCOL,
				version: untrustedText(version, 40),
				node: untrustedText(node, 40),
				pid: pid as number,
				cache: redactConfig(hello['cache']),
				readOnly,
				maxLineBytes: Math.max(1024, maxLineBytes as number),
			};
			return this.info;
		}
	}

	#fail(failure: Failure, message: string): Problem {
		const problem = new Problem(failure, message);
		this.#end(problem);
		return problem;
	}

	/** Sends one request and returns the verified reply's value; the far side's refusal of it as a `Problem('error')`. */
	async ask(op: string, args: readonly unknown[]): Promise<unknown> {
		const id = this.#nextId++;
		const line = JSON.stringify({ id, op, args });
		if (Buffer.byteLength(line) > this.info!.maxLineBytes) {
			throw new Problem('error', `the request is ${Buffer.byteLength(line)} bytes, more than the ${this.info!.maxLineBytes} the far side reads in one line`);
		}
		this.#send(line);
		const reply = parse(await this.#next(performance.now() + data.timeoutMs, 'the reply'));
		if (!isObject(reply) || reply['id'] !== id || typeof reply['ok'] !== 'boolean')
			throw this.#fail('bad', 'sent a reply that is not an answer to the request');
		if (reply['ok']) return reply['value'] ?? null;
		const error = reply['error'];
		if (!isObject(error) || typeof error['message'] !== 'string') throw this.#fail('bad', 'sent an error of the wrong shape');
		const problem = new Problem('error', untrustedText(error['message']));
		problem.name = typeof error['name'] === 'string' ? untrustedText(error['name'], 40) : 'Error';
		throw problem;
	}
}

function parse(line: string): unknown {
	try {
		return JSON.parse(line) as unknown;
	} catch {
		return undefined;
	}
}

function isObject(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

let connection: Connection | undefined;

async function connected(fresh: boolean): Promise<Connection> {
	if (fresh) {
		connection?.kill();
		connection = undefined;
	}
	if (connection !== undefined) return connection;
	const next = new Connection();
	try {
		await next.hello();
	} catch (err) {
		next.kill();
		throw err;
	}
	return (connection = next);
}

async function handle(request: SshRequest): Promise<Answer> {
	let c: Connection | undefined;
	try {
		c = await connected(request.fresh === true);
		const value = request.op === '#connect' ? null : await c.ask(request.op, request.args);
		return { ok: true, value, info: c.info! };
	} catch (err) {
		const problem = err instanceof Problem ? err : new Problem('down', err instanceof Error ? err.message : String(err));
		// Only the far side's refusal of one request leaves the connection as it was.
		if (problem.failure !== 'error') {
			if (connection === c) connection = undefined;
			c?.kill();
		}
		return {
			ok: false,
			failure: problem.failure,
			message: problem.message,
			...(problem.failure === 'error' ? { name: problem.name } : {}),
			...(c?.info !== undefined ? { info: c.info } : {}),
		};
	}
}

// One request at a time: a reply is known by its order as much as by its id.
let queue: Promise<unknown> = Promise.resolve();

serve((message) => {
	const next = queue.then(() => handle(message as SshRequest));
	queue = next;
	return next;
});
