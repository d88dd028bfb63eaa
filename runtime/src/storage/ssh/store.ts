// docs/behaviour.md §1.12, §17: `CallSsh` and `ValueSsh`, the storages of a cache on another machine reached over the
// system's `ssh`: `fleche remote --serve` runs there (cli/remote.ts) and serves whatever cache its own fleche.toml or
// arguments name; this side forwards every storage operation to it over one long-lived connection (protocol.ts).
//
// Design:
// - Storages are synchronous (a cache lookup sits inside a synchronous function call) while a child process answers
//   asynchronously, so `ssh` is started and read by a worker thread (sshWorker.ts) and the calling thread waits for
//   each answer through the synchronous bridge (bridge/syncWorker.ts). The `…Async` methods (`findAsync`, `getAsync`)
//   await the same worker instead, leaving the event loop free.
// - The storages of one connection (same ssh arguments and remote command) in one thread share one worker and so one
//   `ssh` process (a {@link Link}); a call lookup brings the call's result value in the same round trip, which the
//   value storage of the link then takes instead of asking again (a hit is one round trip, not two).
// - The remote goes away: when ssh cannot connect, or the connection drops or stops answering, the operations of
//   cached calls (lookups, saves, statistics) answer misses and drop writes, so cached functions run uncached; one
//   warning says so per outage, and the remote is tried again after a back-off (500 ms doubling to 10 s), or at once by
//   `reconnect()`. Every other operation (listing, evicting, expanding a prefix) throws `RemoteConnectionError`. A far
//   side that refuses to serve (another protocol version, a cache it cannot open) is said once as an error.
// - What the far side sends is untrusted (protocol.ts): records are checked as the PostgreSQL store checks its rows,
//   values must decode, keys must be keys; anything else is a miss, and its text is shown only scrubbed and bounded.
// - Secrets stay where they are: the remote command may not hold one (it would show in `ps` on both machines and in
//   every message); the far side takes its own from its fleche.toml or environment and redacts them in its hello.
import { dirname, join } from 'node:path';
import { moduleFile } from '../../bridge/moduleFile.js';
import { SyncWorker, WorkerFailed } from '../../bridge/syncWorker.js';
import type { CallRecord } from '../../call.js';
import { ClassNotRegistered } from '../../classes.js';
import { CorruptEntry, FlecheError, KeyError, Rejected, RemoteConnectionError, SaveError } from '../../errors.js';
import { log, warn } from '../../log.js';
import { flecheVersion } from '../../version.js';
import { mergeStats, type CallStats, type CallStorage, type StatsStorage, type StorageConfig, type ValueStorage } from '../base.js';
import { assertKey, expandPrefix, isKey, MIN_PREFIX_LENGTH } from '../keys.js';
import { getSerializer } from '../serializers.js';
import { BadRecord, parseRecord } from '../sql/schema.js';
import { DEFAULT_MAX_LINE_BYTES, holdsSecret, untrustedText, type RemoteInfo } from './protocol.js';
import type { Answer, SshRequest, SshWorkerData } from './sshWorker.js';

/** Options of {@link CallSsh}, {@link ValueSsh} and `SshCache`: where the remote is and how to reach it. */
export type SshOptions = {
	/** The far machine, as `ssh` takes it: a host name, an address, or a `Host` alias of ~/.ssh/config. */
	readonly host: string;
	/** The login there. @default ssh's own (`User` of ~/.ssh/config, else the local user name) */
	readonly user?: string;
	/** The SSH port. @default ssh's own (22, or `Port` of ~/.ssh/config) */
	readonly port?: number;
	/** The private key to log in with (`ssh -i`; only this key is offered). @default ssh's own keys and agent */
	readonly identityFile?: string;
	/** The cache the far side serves: a section of its fleche.toml (`--cache`). @default its `default` cache */
	readonly remoteCache?: string;
	/** A store folder on the far machine to serve instead (`--root`), as a path there. */
	readonly remoteRoot?: string;
	/** The folder on the far machine whose fleche.toml applies (`--cwd`). @default the login's home folder */
	readonly remoteCwd?: string;
	/**
	 * How the far side runs fleche's command line, as a shell command there: `remote --serve` and the options above
	 * are appended. It may not hold secrets (`FLECHE_SECRET_KEY=…`, a URL with a password): set those on the far
	 * machine, where `fleche remote --serve` reads them from its fleche.toml and environment.
	 * @default 'fleche'
	 */
	readonly remoteCommand?: string;
	/** More `ssh -o` options, as `'Key=value'` (`'StrictHostKeyChecking=accept-new'`, `'UserKnownHostsFile=…'`). */
	readonly sshOptions?: readonly string[];
	/** The `ssh` program. @default 'ssh' (found on PATH) */
	readonly ssh?: string;
	/**
	 * Bound on connecting (the far side started and greeted) and on each answer, in milliseconds. A remote slower than
	 * this counts as down: calls run uncached until it answers again.
	 * @default 30000
	 */
	readonly timeoutMs?: number;
	/** The longest line read from the far side (a value travels in one line, base64-encoded). @default 64 MiB */
	readonly maxLineBytes?: number;
};

/** The configuration of an SSH storage (what `toConfig()` returns): the options as given, with `type: 'ssh'`. */
export type SshConfig = { readonly type: 'ssh' } & SshOptions;

const firstRetryMs = 500;
const lastRetryMs = 10_000;

/** What a cached call asks of the remote: a miss or a dropped write while it is down, never an error. */
const hotOps = new Set(['getCall', 'getValue', 'putCall', 'putValue', 'refreshValue', 'addStats', 'containsValue']);

/** A plain word of ssh's vocabulary (host, user), never taken for an option. */
const word = /^[A-Za-z0-9_.%:[\]][A-Za-z0-9_.%:[\]@-]*$/;
// eslint-disable-next-line no-control-regex -- a line break or NUL would end the remote command early
const lineBreak = /[\u0000\n\r]/;

function text(value: unknown, what: string, optional: true): string | undefined;
function text(value: unknown, what: string, optional?: false): string;
function text(value: unknown, what: string, optional = false): string | undefined {
	if (value === undefined && optional) return undefined;
	if (typeof value !== 'string' || value === '' || lineBreak.test(value)) throw new TypeError(`An SSH cache's ${what} must be a non-empty string on one line`);
	return value;
}

/** The options checked, as the configuration keeps them (only those given). @throws TypeError or RangeError. */
export function checkSshOptions(options: SshOptions): SshConfig {
	if (typeof options !== 'object' || options === null) throw new TypeError('An SSH cache needs options: { host, user?, port?, … }');
	const host = text(options.host, "'host'");
	if (!word.test(host)) throw new TypeError(`An SSH cache's 'host' must be a host name or address, not ${JSON.stringify(host)}`);
	const user = text(options.user, "'user'", true);
	if (user !== undefined && !word.test(user)) throw new TypeError(`An SSH cache's 'user' must be a login name, not ${JSON.stringify(user)}`);
	const port = options.port;
	if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
		throw new RangeError(`An SSH cache's 'port' must be a whole number from 1 to 65535`);
	const identityFile = text(options.identityFile, "'identityFile'", true);
	const remoteCache = text(options.remoteCache, "'remoteCache'", true);
	const remoteRoot = text(options.remoteRoot, "'remoteRoot'", true);
	const remoteCwd = text(options.remoteCwd, "'remoteCwd'", true);
	const remoteCommand = text(options.remoteCommand, "'remoteCommand'", true);
	if (remoteCommand !== undefined && holdsSecret(remoteCommand)) {
		throw new TypeError(
			`An SSH cache's 'remoteCommand' may not hold a secret (a FLECHE_SECRET_KEY or a password): it would show in the process list of both machines and in messages. Set it on the far machine, in its fleche.toml or environment`,
		);
	}
	const sshOptions = options.sshOptions;
	if (sshOptions !== undefined) {
		if (!Array.isArray(sshOptions)) throw new TypeError(`An SSH cache's 'sshOptions' must be an array of 'Key=value' strings`);
		for (const o of sshOptions as unknown[]) {
			if (typeof o !== 'string' || !/^[A-Za-z][A-Za-z0-9]*=/.test(o) || lineBreak.test(o)) {
				throw new TypeError(`An SSH cache's 'sshOptions' must be 'Key=value' strings (as ssh -o takes them), not ${JSON.stringify(o)}`);
			}
		}
	}
	const ssh = text(options.ssh, "'ssh'", true);
	const timeoutMs = options.timeoutMs;
	if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))) {
		throw new RangeError(`An SSH cache's 'timeoutMs' must be a positive number of milliseconds`);
	}
	const maxLineBytes = options.maxLineBytes;
	if (maxLineBytes !== undefined && (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1024)) {
		throw new RangeError(`An SSH cache's 'maxLineBytes' must be a whole number of bytes, at least 1024`);
	}
	const given = { host, user, port, identityFile, remoteCache, remoteRoot, remoteCwd, remoteCommand, sshOptions, ssh, timeoutMs, maxLineBytes };
	const config: Record<string, unknown> = { type: 'ssh' };
	for (const [k, v] of Object.entries(given)) if (v !== undefined) config[k] = Array.isArray(v) ? [...(v as string[])] : v;
	return config as unknown as SshConfig;
}

/** Single-quoted for the far side's shell. */
function shellQuote(arg: string): string {
	return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The `ssh` command line of a configuration: the program first, the remote command last. */
export function sshArgv(config: SshConfig): string[] {
	const timeoutMs = config.timeoutMs ?? 30_000;
	const argv = [config.ssh ?? 'ssh', '-T', '-o', 'BatchMode=yes', '-o', `ConnectTimeout=${Math.max(1, Math.ceil(timeoutMs / 1000))}`];
	argv.push('-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4');
	if (config.port !== undefined) argv.push('-p', String(config.port));
	if (config.user !== undefined) argv.push('-l', config.user);
	if (config.identityFile !== undefined) argv.push('-i', config.identityFile, '-o', 'IdentitiesOnly=yes');
	for (const o of config.sshOptions ?? []) argv.push('-o', o);
	let remote = `${config.remoteCommand ?? 'fleche'} remote --serve`;
	if (config.remoteCache !== undefined) remote += ` --cache ${shellQuote(config.remoteCache)}`;
	if (config.remoteRoot !== undefined) remote += ` --root ${shellQuote(config.remoteRoot)}`;
	if (config.remoteCwd !== undefined) remote += ` --cwd ${shellQuote(config.remoteCwd)}`;
	argv.push('--', config.host, remote);
	return argv;
}

/** How messages name the remote: `ssh://user@host:port` and the cache it serves. */
function describe(config: SshConfig): string {
	const where = `ssh://${config.user === undefined ? '' : `${config.user}@`}${config.host}${config.port === undefined ? '' : `:${config.port}`}`;
	const what = config.remoteRoot !== undefined ? ` (root ${config.remoteRoot})` : config.remoteCache !== undefined ? ` (cache ${config.remoteCache})` : '';
	return `${where}${what}`;
}

/** The worker's module: beside this one, in whichever form this copy was built. */
function workerFile(): string {
	return join(dirname(moduleFile(import.meta.url, () => __filename)), 'sshWorker.js');
}

/** The result value brought with a call record: the next `get` of that digest on the same link takes it. */
interface Prefetched {
	readonly digest: string;
	readonly data: string;
}

/**
 * One connection in this thread: the worker that holds the `ssh` process, whether the remote is reachable, and what
 * it said of itself. Shared by the storages opened on it; closing any of them ends the worker (and the connection),
 * and the next request starts another.
 */
class Link {
	readonly shown: string;
	readonly #input: SshWorkerData;
	readonly #timeoutMs: number;
	#worker: SyncWorker | undefined;
	#refused: string | undefined;
	#downUntil = 0;
	#retryMs = firstRetryMs;
	#down = false;
	info: RemoteInfo | undefined;
	prefetched: Prefetched | undefined;

	constructor(config: SshConfig) {
		this.shown = describe(config);
		this.#timeoutMs = config.timeoutMs ?? 30_000;
		this.#input = {
			argv: sshArgv(config),
			shown: this.shown,
			timeoutMs: this.#timeoutMs,
			maxLineBytes: config.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
			version: flecheVersion,
		};
	}

	#client(): SyncWorker {
		// The worker bounds connecting and each reply itself; this is only a net for a worker that hangs.
		this.#worker ??= new SyncWorker({ module: workerFile(), name: 'SSH cache', input: this.#input, timeoutMs: this.#timeoutMs * 2 + 10_000 });
		return this.#worker;
	}

	/** Whether requests are answered without the remote for now; throws for operations that must not pretend. */
	#resting(hot: boolean): boolean {
		if (this.#refused !== undefined) {
			if (hot) return true;
			throw new RemoteConnectionError(this.#refused);
		}
		if (this.#down && performance.now() < this.#downUntil) {
			if (hot) return true;
			throw new RemoteConnectionError(`The remote cache ${this.shown} is unreachable (tried again after a back-off, or call reconnect())`);
		}
		return false;
	}

	#unreachable(message: string): void {
		if (!this.#down) warn('FLECHE_REMOTE_UNREACHABLE', `${message}; cached functions run uncached until it answers again (tried again with a back-off)`);
		this.#down = true;
		this.#downUntil = performance.now() + this.#retryMs;
		this.#retryMs = Math.min(this.#retryMs * 2, lastRetryMs);
	}

	#settle<T>(answer: Answer, fallback: T, hot: boolean): T {
		if (answer.info !== undefined) this.info = answer.info;
		if (answer.ok) {
			if (this.#down) {
				this.#down = false;
				this.#retryMs = firstRetryMs;
				log('info', 'FLECHE_REMOTE_BACK', `The remote cache ${this.shown} answers again`);
			}
			return answer.value as T;
		}
		const message = `The remote cache ${this.shown} ${answer.message}`;
		switch (answer.failure) {
			case 'error':
				throw remoteError(answer.name, `The remote cache ${this.shown}: ${answer.message}`);
			case 'refused':
				this.#refused = message;
				log('error', 'FLECHE_REMOTE_REFUSED', `${message}; cached functions run uncached`);
				this.close();
				if (hot) return fallback;
				throw new RemoteConnectionError(message);
			case 'down':
			case 'bad':
				this.#unreachable(message);
				if (hot) return fallback;
				throw new RemoteConnectionError(message);
		}
	}

	#failed<T>(err: unknown, fallback: T, hot: boolean): T {
		if (!WorkerFailed.is(err)) throw err;
		// The worker is gone (it hung past its net, or could not start): a new one is tried after the back-off.
		this.close();
		const message = `The remote cache ${this.shown} is unreachable: ${err.message}`;
		this.#unreachable(message);
		if (hot) return fallback;
		throw new RemoteConnectionError(message, { cause: err });
	}

	/**
	 * The far side's answer to `op`, or `fallback` while the remote is down for the operations of cached calls
	 * ({@link hotOps}); the others throw `RemoteConnectionError` then. Blocks this thread.
	 */
	request<T>(fallback: T, op: string, ...args: unknown[]): T {
		const hot = hotOps.has(op);
		if (this.#resting(hot)) return fallback;
		let answer: Answer;
		try {
			answer = this.#client().request({ op, args } satisfies SshRequest) as Answer;
		} catch (err) {
			return this.#failed(err, fallback, hot);
		}
		return this.#settle(answer, fallback, hot);
	}

	/** As {@link request}, without blocking this thread. */
	async call<T>(fallback: T, op: string, ...args: unknown[]): Promise<T> {
		const hot = hotOps.has(op);
		if (this.#resting(hot)) return fallback;
		let answer: Answer;
		try {
			answer = (await this.#client().call({ op, args } satisfies SshRequest)) as Answer;
		} catch (err) {
			return this.#failed(err, fallback, hot);
		}
		return this.#settle(answer, fallback, hot);
	}

	/** Whether writes are refused before they are sent: the far side said its cache is read-only. */
	get readOnly(): boolean {
		return this.info?.readOnly === true;
	}

	/** Connects now, on a fresh connection when `fresh`, forgetting an outage or a refusal; what the far side says. */
	connect(fresh: boolean): RemoteInfo {
		if (fresh) {
			// Tried now, whatever the back-off says; an outage stays one outage (no second warning) until it answers.
			this.#refused = undefined;
			this.#downUntil = 0;
			this.prefetched = undefined;
		}
		let answer: Answer;
		try {
			answer = this.#client().request({ op: '#connect', args: [], fresh } satisfies SshRequest) as Answer;
		} catch (err) {
			return this.#failed(err, this.info!, false);
		}
		this.#settle(answer, null, false);
		return this.info!;
	}

	/** Takes the value brought with a call record, if it is `digest`'s. */
	take(digest: string): Prefetched | undefined {
		const p = this.prefetched;
		if (p === undefined || p.digest !== digest) return undefined;
		this.prefetched = undefined;
		return p;
	}

	close(): void {
		this.prefetched = undefined;
		this.#worker?.close();
		this.#worker = undefined;
	}
}

/** The local error for the far side's refusal of one request, by the name it gave. */
function remoteError(name: string | undefined, message: string): Error {
	if (name === 'KeyError') return new KeyError('', message);
	if (name === 'SaveError') return new SaveError(message);
	if (name === 'Rejected') return new Rejected(message);
	return new FlecheError(message);
}

const linksKey = Symbol.for('fleche.ssh.links');

function links(): Map<string, Link> {
	const g = globalThis as { [linksKey]?: Map<string, Link> };
	return (g[linksKey] ??= new Map<string, Link>());
}

function linkFor(config: SshConfig): Link {
	const id = JSON.stringify(sshArgv(config).concat(String(config.timeoutMs), String(config.maxLineBytes)));
	let link = links().get(id);
	if (link === undefined) links().set(id, (link = new Link(config)));
	return link;
}

/** The full key for a prefix, asked of the far side (which checks ambiguity against its own keys). */
function expandBy(link: Link, op: string, prefix: string, contains: (key: string) => boolean): string {
	if (typeof prefix !== 'string' || prefix.length < MIN_PREFIX_LENGTH) return expandPrefix(prefix, []);
	if (isKey(prefix)) {
		if (contains(prefix)) return prefix;
		throw new KeyError(prefix);
	}
	const keys = link.request<unknown>([], op, prefix);
	return expandPrefix(prefix, keysOf(keys, link.shown));
}

/** A list of keys from the far side, checked; anything else is a protocol breach reported and read as none. */
function keysOf(value: unknown, shown: string): string[] {
	if (Array.isArray(value) && value.every(isKey)) return value as string[];
	warn('FLECHE_REMOTE_BAD_REPLY', `The remote cache ${shown} sent a list of keys that is not one; read as empty`);
	return [];
}

function bool(value: unknown): boolean {
	return value === true;
}

const pageSize = 500;

/**
 * Call storage of a cache on another machine, reached over `ssh` (docs/behaviour.md §17): `fleche remote --serve`
 * there serves the call storage of the cache its own fleche.toml or arguments name. Usually made by `SshCache` or
 * `template = "ssh"` in fleche.toml, with the {@link ValueSsh} of the same connection.
 *
 * Synchronous like every storage: each method waits for the far side's answer (a worker thread holds the
 * connection); {@link findAsync} does not block. While the remote is down, lookups miss and writes are dropped with
 * one warning per outage (cached functions run uncached), and the other methods throw `RemoteConnectionError`.
 * @example
 * ```ts
 * import { Cache, CallSsh, ValueSsh } from 'fleche';
 * const remote = { host: 'build.internal', user: 'ci', remoteCache: 'results' };
 * const store = new Cache(new ValueSsh(remote), new CallSsh(remote));
 * ```
 */
export class CallSsh implements CallStorage, StatsStorage {
	/** How messages name the remote. */
	readonly shown: string;
	readonly #config: SshConfig;
	readonly #link: Link;

	/** Nothing is contacted until the first use. @throws TypeError or RangeError for bad options. */
	constructor(options: SshOptions) {
		this.#config = checkSshOptions(options);
		this.#link = linkFor(this.#config);
		this.shown = this.#link.shown;
	}

	/** Checks a record from the far side; a bad one is reported and `undefined`. */
	#check(raw: unknown, key?: string): CallRecord | undefined {
		try {
			return parseRecord(raw, key);
		} catch (err) {
			if (!(err instanceof BadRecord)) throw err;
			warn('FLECHE_CORRUPT_ENTRY', `Corrupt call record ${key ?? '(listed)'} from the remote cache ${this.shown}: ${err.message}; it reads as a miss`);
			return undefined;
		}
	}

	#found(answer: unknown, key: string): CallRecord | undefined {
		if (answer === null) return undefined;
		if (!Array.isArray(answer) || answer.length !== 2 || (answer[1] !== null && typeof answer[1] !== 'string')) {
			warn('FLECHE_REMOTE_BAD_REPLY', `The remote cache ${this.shown} answered a lookup of ${key} with something else; read as a miss`);
			return undefined;
		}
		const record = this.#check(answer[0], key);
		if (record === undefined)
			throw new KeyError(key, `The call record ${key} from ${this.shown} is corrupt`, { cause: new CorruptEntry(key, 'failed its checks') });
		const value = answer[1] as string | null;
		if (value !== null && record.result !== null) this.#link.prefetched = { digest: record.result, data: value };
		return record;
	}

	/** The record under `key`, or `undefined` (a miss, or the remote down). */
	find(key: string): CallRecord | undefined {
		assertKey(key);
		return this.#found(this.#link.request(null, 'getCall', key), key);
	}

	/** As {@link find}, without blocking the event loop while the remote answers. */
	async findAsync(key: string): Promise<CallRecord | undefined> {
		assertKey(key);
		return this.#found(await this.#link.call(null, 'getCall', key), key);
	}

	/** The record under `key`; {@link KeyError} on a miss. */
	get(key: string): CallRecord {
		const record = this.find(key);
		if (record === undefined) throw new KeyError(key);
		return record;
	}

	/** Writes (or replaces) the record on the far side; dropped (after one warning) while the remote is down. */
	put(record: CallRecord): void {
		assertKey(record.key);
		if (this.#link.readOnly) throw new Rejected(`The remote cache ${this.shown} is read-only: it cannot store ${record.key}`);
		let checked: CallRecord;
		try {
			checked = parseRecord(JSON.parse(JSON.stringify({ ...record, arguments: record.arguments })) as unknown, record.key);
		} catch (err) {
			throw new SaveError(`Cannot store the call record ${record.key} of ${String(record.name)}: ${err instanceof Error ? err.message : String(err)}`, {
				cause: err,
			});
		}
		this.#link.request(null, 'putCall', checked);
	}

	/** Every record, or those of one function name, a page at a time in key order; bad records are reported and skipped. */
	*records(filter?: { readonly name?: string }): Iterable<CallRecord> {
		let after = '';
		for (;;) {
			const page = this.#link.request<unknown>([], 'records', after, filter?.name ?? null, pageSize);
			if (!Array.isArray(page)) {
				warn('FLECHE_REMOTE_BAD_REPLY', `The remote cache ${this.shown} sent a page of records that is not one; listing stopped`);
				return;
			}
			let last: string | undefined;
			for (const raw of page) {
				const record = this.#check(raw);
				if (record === undefined) continue;
				// Key order is what makes the next page start after this one: a far side that breaks it ends the listing.
				if (record.key <= after || (last !== undefined && record.key <= last)) return;
				last = record.key;
				yield record;
			}
			if (page.length < pageSize || last === undefined) return;
			after = last;
		}
	}

	/** Whether a record for `key` is held; false for anything that is not a full key. */
	contains(key: string): boolean {
		return isKey(key) && bool(this.#link.request(false, 'containsCall', key));
	}

	/** Removes the record under `key`; {@link KeyError} when there is none. */
	evict(key: string): void {
		assertKey(key);
		if (this.evictMany([key]) === 0) throw new KeyError(key);
	}

	/** Removes several records in one request; returns how many were held. */
	evictMany(keys: Iterable<string>): number {
		const list = [...keys].filter(isKey);
		if (list.length === 0) return 0;
		if (this.#link.readOnly) throw new Rejected(`The remote cache ${this.shown} is read-only: it cannot evict`);
		const n = this.#link.request<unknown>(0, 'evictCalls', list);
		return Number.isSafeInteger(n) ? (n as number) : 0;
	}

	/** Every key held. */
	list(): string[] {
		return keysOf(this.#link.request<unknown>([], 'callKeys'), this.shown);
	}

	/** The full key for a prefix of at least 4 characters (docs/behaviour.md §2.4). */
	expand(prefix: string): string {
		return expandBy(this.#link, 'expandCall', prefix, (key) => this.contains(key));
	}

	/** `{ type: 'ssh', host, … }`: the options as given. */
	toConfig(): StorageConfig {
		return this.#config;
	}

	/** Adds statistics deltas on the far side (when its call storage keeps statistics). */
	addStats(deltas: readonly CallStats[]): void {
		if (deltas.length === 0 || this.#link.readOnly) return;
		const merged = new Map<string, CallStats>();
		for (const d of deltas) mergeStats(merged, d);
		this.#link.request(null, 'addStats', [...merged.values()]);
	}

	/** Summed statistics of the far side's calls, optionally of one function; rows of the wrong shape are skipped. */
	stats(filter?: { readonly name?: string; readonly module?: string | null }): CallStats[] {
		const rows = this.#link.request<unknown>([], 'stats', filter?.name ?? null);
		if (!Array.isArray(rows)) return [];
		const out: CallStats[] = [];
		for (const r of rows as unknown[]) {
			const s = r as Record<string, unknown> | null;
			if (typeof s !== 'object' || s === null || !isKey(s['key']) || typeof s['name'] !== 'string') continue;
			const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
			out.push({
				key: s['key'] as string,
				name: s['name'],
				module: typeof s['module'] === 'string' ? s['module'] : null,
				hits: num(s['hits']),
				misses: num(s['misses']),
				lastHit: typeof s['lastHit'] === 'number' && Number.isFinite(s['lastHit']) ? s['lastHit'] : null,
				computeSeconds: num(s['computeSeconds']),
				savedSeconds: num(s['savedSeconds']),
			});
		}
		return filter?.module === undefined ? out : out.filter((s) => s.module === filter.module);
	}

	/** What the far side said of itself, connecting if needed. @throws RemoteConnectionError when it cannot be reached. */
	info(): RemoteInfo {
		return this.#link.info ?? this.#link.connect(false);
	}

	/** Drops the connection and makes a new one now. @throws RemoteConnectionError when it cannot be made. */
	reconnect(): RemoteInfo {
		return this.#link.connect(true);
	}

	/** Ends this thread's connection (shared with the other storages on it); the next use starts another. */
	close(): void {
		this.#link.close();
	}
}

/**
 * Value storage of a cache on another machine, reached over `ssh` (docs/behaviour.md §17): values travel in fleche's
 * 'v8' form and are stored by the far side's own value storage (which refuses what it cannot hold, such as file bodies
 * in a 'json' store). See {@link CallSsh} for outages and errors.
 */
export class ValueSsh implements ValueStorage {
	/** How messages name the remote. */
	readonly shown: string;
	readonly #config: SshConfig;
	readonly #link: Link;

	/** Nothing is contacted until the first use. @throws TypeError or RangeError for bad options. */
	constructor(options: SshOptions) {
		this.#config = checkSshOptions(options);
		this.#link = linkFor(this.#config);
		this.shown = this.#link.shown;
	}

	/** Stores `value` under `key` on the far side; dropped (after one warning) while the remote is down. */
	put(key: string, value: unknown): void {
		assertKey(key);
		if (this.#link.readOnly) throw new Rejected(`The remote cache ${this.shown} is read-only: it cannot store values`);
		let bytes: Uint8Array;
		try {
			bytes = codec.serialize(value);
		} catch (err) {
			if (SaveError.is(err)) throw err;
			throw new SaveError(`Cannot send a value to the remote cache ${this.shown}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
		}
		this.#link.request(null, 'putValue', key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'));
	}

	#decode(key: string, found: unknown): unknown {
		if (found === null) throw new KeyError(key);
		const corrupt = (reason: string): never => {
			warn('FLECHE_CORRUPT_ENTRY', `Corrupt value ${key} from the remote cache ${this.shown}: ${reason}; it reads as a miss`);
			throw new KeyError(key, `The value ${key} from ${this.shown} is corrupt`, { cause: new CorruptEntry(key, reason) });
		};
		if (typeof found !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(found)) return corrupt('it is not base64 text');
		try {
			return codec.deserialize(Buffer.from(found, 'base64'));
		} catch (err) {
			// A class not registered here is a miss for this reader, as with a local store (the value stays there).
			if (err instanceof ClassNotRegistered) throw new KeyError(key, `The value ${key}: ${err.message}`, { cause: err });
			return corrupt(`it cannot be deserialized: ${untrustedText(err instanceof Error ? err.message : String(err), 200)}`);
		}
	}

	/** A fresh copy of the value under `key`; {@link KeyError} on a miss (or while the remote is down). */
	get(key: string): unknown {
		assertKey(key);
		return this.#decode(key, this.#link.take(key)?.data ?? this.#link.request(null, 'getValue', key));
	}

	/** As {@link get}, without blocking the event loop while the remote answers. */
	async getAsync(key: string): Promise<unknown> {
		assertKey(key);
		return this.#decode(key, this.#link.take(key)?.data ?? (await this.#link.call(null, 'getValue', key)));
	}

	/** Marks the value as in use now (see `gc`); whether it is held. */
	refresh(key: string): boolean {
		return isKey(key) && !this.#link.readOnly && bool(this.#link.request(false, 'refreshValue', key));
	}

	contains(key: string): boolean {
		return isKey(key) && bool(this.#link.request(false, 'containsValue', key));
	}

	/** Removes the value; {@link KeyError} when there is none. */
	evict(key: string): void {
		assertKey(key);
		if (this.#link.readOnly) throw new Rejected(`The remote cache ${this.shown} is read-only: it cannot evict`);
		if (!bool(this.#link.request(false, 'evictValue', key))) throw new KeyError(key);
	}

	/** Removes the value unless it was written or refreshed in the last `graceMs`; whether it did. */
	evictIdle(key: string, graceMs: number): boolean {
		assertKey(key);
		if (this.#link.readOnly) throw new Rejected(`The remote cache ${this.shown} is read-only: it cannot evict`);
		const done = this.#link.request<unknown>(null, 'evictIdleValue', key, graceMs);
		if (done === null) throw new KeyError(key);
		return bool(done);
	}

	list(): string[] {
		return keysOf(this.#link.request<unknown>([], 'valueKeys'), this.shown);
	}

	expand(prefix: string): string {
		return expandBy(this.#link, 'expandValue', prefix, (key) => this.contains(key));
	}

	/** `{ type: 'ssh', host, … }`: the options as given. */
	toConfig(): StorageConfig {
		return this.#config;
	}

	/** Ends this thread's connection (shared with the other storages on it). */
	close(): void {
		this.#link.close();
	}
}

const codec = getSerializer('v8');
