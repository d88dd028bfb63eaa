// docs/behaviour.md §1.12, §2.6 "PostgreSQL": `CallPostgres` and `ValuePostgres`, a team cache on a PostgreSQL server
// (tables in schema.ts), shared by every process and machine that can reach it.
//
// Design:
// - Storages are synchronous (a cache lookup sits inside a synchronous function call) while `pg` answers
//   asynchronously, so `pg` runs in a worker thread (pgWorker.ts) and the calling thread waits for each answer through
//   the synchronous bridge (bridge/syncWorker.ts), from the very first call. The `…Async` methods (`findAsync`,
//   `getAsync`) await an answer instead, leaving the event loop free while the server answers: from an engine of
//   this thread (pgEngine.ts, as the worker runs) while every write of this thread is committed, else from the worker.
// - The storages of one server, schema and options in one thread share one worker (a {@link Link}) and so one small
//   connection pool; a call lookup fetches the call's result value in the same round trip, which the value storage
//   of the same link then takes instead of asking again (a hit is one round trip, not two).
// - The server is a remote resource that goes away: when it cannot be reached (or does not answer within
//   `timeoutMs`), reads answer misses and writes are dropped, so cached functions run uncached; one warning says so
//   per outage, and the server is tried again after a back-off (250 ms doubling to 5 s) until it answers, when hits
//   resume. A configuration the server refuses (a wrong password, a missing database or role, a schema written by a
//   newer fleche) is one clear error naming the URL without its password: logged once (`FLECHE_STORE_REFUSED`) for
//   the cached calls, which run uncached, and thrown by every other operation (what tools and code asking the
//   storage directly see).
// - Saves are batched (docs/behaviour.md §2.6 "PostgreSQL", write batching): a put is queued in this thread and
//   returns; the queue (values and records, the latest put of a key winning) goes to the worker, and to the server in
//   one transaction, `writeDelayMs` after its first put, when it holds `batchEntries` puts or `batchBytes` bytes,
//   before any request that is not about given keys (listings, evictions, a lease released: what they answer
//   includes these writes), at `flush()`/`close()`, at the exit of the process and at SIGINT/SIGTERM/SIGHUP
//   (`beforeShutdown`). Batches go without waiting for their commit, at most `maxUnconfirmed` ahead of the server
//   (then the put waits for them). A read of a key this thread queued is answered from the queue; a read of one in a
//   batch on its way waits for that batch in the worker: this process always reads its own writes. A batch is
//   written whole or not at all (a killed writer loses its last batch, never half a record); SIGKILL can lose the
//   last `writeDelayMs` of saves, which are then recomputed.
// - The password never leaves this module and the worker: configurations (`toConfig()`, so `String(cache)`, tools,
//   `--json`) carry the URL without it, messages are scrubbed of it. A password written in a URL is remembered for
//   this thread (by its URL without the password), so a configuration reopened here finds it; other processes and
//   threads take theirs from their own `fleche.toml`, `PGPASSWORD` or ~/.pgpass.
import { dirname, join } from 'node:path';
import { moduleFile } from '../../bridge/moduleFile.js';
import { SyncWorker, WorkerFailed } from '../../bridge/syncWorker.js';
import type { CallRecord } from '../../call.js';
import { CorruptEntry, FlecheError, KeyError, SaveError } from '../../errors.js';
import { log, warn } from '../../log.js';
import { beforeShutdown, flushOrder } from '../../shutdown.js';
import { createdOf, type SummaryIndex, type IndexEntry, type ListedFunction } from '../kinds.js';
import {
	mergeStats,
	type CallLeases,
	type CallStats,
	type CallStorage,
	type HeldLease,
	type LeaseAttempt,
	type LeaseHolder,
	type StatsStorage,
	type StorageConfig,
	type ValueStorage,
} from '../base.js';
import { assertKey, expandPrefix, isKey, MIN_PREFIX_LENGTH } from '../keys.js';
import { findSerializer, getSerializer, type Serializer } from '../serializers.js';
import { BadRecord, parseRecord } from '../sql/schema.js';
import { flushNoticesOp } from './notify.js';
import { pgEngine, type Answer, type PgEngine, type PgRequest, type PgWorkerData } from './pgEngine.js';
import { checkSchemaName, defaultSchema, redactUrl, urlPassword } from './schema.js';

/** Options of {@link CallPostgres} and {@link ValuePostgres}. */
export interface PostgresOptions {
	/**
	 * `postgres://user[:password]@host:5432/database`. Without a password in it, `PGPASSWORD` or ~/.pgpass (`PGPASSFILE`)
	 * gives it; the other `PG*` variables fill what the URL leaves out, as for `psql`.
	 */
	readonly url: string;
	/**
	 * The PostgreSQL schema (namespace) holding the tables, created on first use: several projects can share a
	 * database, each in a schema of its own.
	 * @default 'fleche'
	 */
	readonly schema?: string;
	/** TLS, passed to `pg` as is: `true`, or an object of `tls.connect` options (`{ rejectUnauthorized: false }`…). */
	readonly ssl?: boolean | Readonly<Record<string, unknown>>;
	/**
	 * Bound on connecting and on each statement, in milliseconds. A server slower than this counts as unreachable:
	 * calls run uncached until it answers again.
	 * @default 5000
	 */
	readonly timeoutMs?: number;
	/**
	 * How long a put may wait in this process to be written with the puts that follow it, in milliseconds: saves go
	 * to the server in batches, one transaction each (other processes see a save at most this much later; this one
	 * sees its own at once). 0 writes each put before it returns.
	 * @default 20
	 */
	readonly writeDelayMs?: number;
}

/** Options of {@link ValuePostgres}. */
export interface ValuePostgresOptions extends PostgresOptions {
	/**
	 * How values become bytes (`'v8'`, `'json'` or a `registerSerializer` name); each value records the serializer
	 * that wrote it, so stores written with another one stay readable.
	 * @default 'v8'
	 */
	readonly serializer?: string;
}

/** The configuration of a PostgreSQL storage (what `toConfig()` returns): the URL never holds a password. */
export type PostgresConfig = {
	readonly type: 'postgres';
	readonly url: string;
	readonly schema?: string;
	readonly ssl?: boolean | Readonly<Record<string, unknown>>;
	readonly timeoutMs?: number;
	readonly writeDelayMs?: number;
	readonly serializer?: string;
};

const defaultWriteDelayMs = 20;
const firstRetryMs = 250;
const lastRetryMs = 5000;

const passwordsKey = Symbol.for('fleche.postgres.passwords');

/** Passwords written in URLs, by the URL without them: per thread, never in a configuration. */
function passwords(): Map<string, string> {
	const g = globalThis as { [passwordsKey]?: Map<string, string> };
	return (g[passwordsKey] ??= new Map<string, string>());
}

/** The password remembered in this thread for a URL without it (written in a URL this thread opened). @internal */
export function passwordOf(shown: string): string | undefined {
	return passwords().get(shown);
}

/**
 * The URL as configurations carry it (without its password), remembering the password for this thread. @internal
 * @throws TypeError when it is not a `postgres://` or `postgresql://` URL.
 */
export function publicUrl(url: unknown): string {
	if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
		throw new TypeError(`A PostgreSQL store needs a 'url' of the form postgres://user@host:5432/database`);
	}
	const shown = redactUrl(url);
	const password = urlPassword(url);
	if (password !== undefined) passwords().set(shown, password);
	return shown;
}

/** The worker's module: beside this one, in whichever form this copy was built. */
function workerFile(): string {
	return join(dirname(moduleFile(import.meta.url, () => __filename)), 'pgWorker.js');
}

/**
 * What a cached call asks of the server: never an error for the call (it runs uncached instead, without a lease: the
 * refusal was said once, and a lease warning per function would only repeat it).
 */
const hotOps = new Set(['getCall', 'getCalls', 'getValue', 'putBatch', 'refreshValue', 'addStats', 'lease', 'beatLease', 'releaseLease']);
/**
 * Requests whose answer the puts queued in this thread do not change (the store answers queued keys itself), or
 * that write them: every other request sends the queue first.
 */
const queueBlind = new Set([
	'getCall',
	'getCalls',
	'getValue',
	'containsCall',
	'containsValue',
	'refreshValue',
	'valueSize',
	'created',
	'putBatch',
	'addStats',
	'stats',
	'lease',
	'beatLease',
	'ping',
]);
/**
 * Reads an awaited call asks of this thread's own engine rather than the worker (see {@link Link.call}): what an async
 * hit needs, one round trip to the server with no hand-over between threads on either side of it.
 */
const localReads = new Set(['getCall', 'getCalls', 'getValue']);
/**
 * Awaited reads the worker answers before this thread's engine takes them over: that engine costs this thread `pg`'s
 * load (about 30 ms of blocked event loop, once) and a connection, more than a short program's few hits would save
 * (about 250 µs each); a program that goes on hitting pays it once.
 */
const localReadsAfter = 256;
/** Bounds on a batch of puts: entries (values and records) and bytes of values. */
const batchEntries = 1000;
const batchBytes = 8 * 1024 * 1024;
/** Batches sent without waiting for their commit before a put waits for them (back-pressure on a thread that only saves). */
const maxUnconfirmed = 4;

/** A record queued for the next batch: the checked record (what reads of its key answer) and the shape sent. */
interface QueuedCall {
	readonly record: CallRecord;
	readonly shape: Record<string, unknown>;
}

/** The links with puts queued, written at the exit of the process or thread. */
const queued = new Set<Link>();
let exitHooked = false;

/** What the worker answers for a call lookup: the record as stored and its result value's row, or null (none). */
type CallAnswer = [unknown, [string, Uint8Array] | null] | null;

/** How long the lookup that came with a lease may answer the check after it (see {@link Link.looked}), in milliseconds. */
const lookedMs = 50;
/** Keys per batched lookup statement (see {@link Link.lookup}). */
const lookupBatch = 1000;
/** Bounds on result values fetched with their records and not taken yet (a batch of lookups prefetches many). */
const prefetchLimit = { entries: 4096, bytes: 64 * 1024 * 1024 };

/** A result value fetched with its call record: the next `get` of that digest on the same link takes it. */
interface Prefetched {
	readonly digest: string;
	readonly serializer: string;
	readonly data: Uint8Array;
}

/**
 * One server, schema and set of options in this thread: the worker that talks to it, and whether it is reachable.
 * Shared by the storages opened on it; closing any of them ends the worker, and the next request starts another.
 */
class Link {
	readonly shown: string;
	readonly #input: PgWorkerData;
	#worker: SyncWorker | undefined;
	/** This thread's engine, for {@link localReads} while every write of this thread is committed; opened on first use. */
	#reader: PgEngine | undefined;
	/** Whether the worker has answered from the server: the schema is made and checked, so this thread's engine may read. */
	#schemaReady = false;
	/** Awaited reads asked of this link so far (see {@link localReadsAfter}). */
	#awaitedReads = 0;
	/** The server's refusal of this configuration, thrown by every request from then on. */
	#refused: string | undefined;
	/** Until when requests answer their fallback without trying the server (performance.now() time). */
	#downUntil = 0;
	#retryMs = firstRetryMs;
	#down = false;
	/** Why the server was last found unreachable. */
	#reason = '';
	/** Result values fetched with their call records, by digest, until the value storage of this link takes them. */
	readonly #prefetched = new Map<string, Prefetched>();
	#prefetchedBytes = 0;
	/** The lookup that came with the last lease, until the next request (see {@link looked}). */
	#looked: { readonly key: string; readonly answer: CallAnswer; readonly at: number } | undefined;
	/** Asynchronous lookups asked for in this turn of the event loop, sent together (see {@link lookup}). */
	#lookups = new Map<string, { resolve(answer: CallAnswer): void; reject(err: unknown): void }[]>();
	/** Puts not sent yet (see the top of this file): values by digest, records by key. */
	#values = new Map<string, readonly [string, Uint8Array]>();
	#calls = new Map<string, QueuedCall>();
	/** Leases released while puts were queued: let go by the worker once the batch that follows them is committed. */
	#releases: (readonly [string, string])[] = [];
	#queuedBytes = 0;
	#queuedSince = 0;
	#timer: ReturnType<typeof setTimeout> | undefined;
	/** Values in batches sent and not known to be committed, by digest: the batch (see {@link sentValue}). */
	readonly #sent = new Map<string, number>();
	#sentCount = 0;
	/** Batches sent and not known to be committed, counted since {@link #epoch} began. */
	#unconfirmed = 0;
	#epoch = 0;

	constructor(
		shown: string,
		input: PgWorkerData,
		readonly timeoutMs: number,
		readonly writeDelayMs: number,
	) {
		this.shown = shown;
		this.#input = input;
	}

	#client(): SyncWorker {
		// A change notification held back by the worker (notify.ts) is sent before the process ends, after every flush.
		if (this.#worker === undefined) beforeShutdown(50, flushNotices);
		// The worker bounds every step by `timeoutMs` itself; this is only a net for a worker that hangs.
		this.#worker ??= new SyncWorker({
			module: workerFile(),
			name: 'PostgreSQL cache',
			input: this.#input,
			timeoutMs: this.timeoutMs * 3 + 10_000,
		});
		return this.#worker;
	}

	/**
	 * Whether requests are answered without the server for now (an outage, within its back-off, or a refused
	 * configuration on the hot path); a refused configuration throws elsewhere.
	 */
	#resting(hot: boolean): boolean {
		if (this.#refused !== undefined) {
			if (hot) return true;
			throw new FlecheError(this.#refused);
		}
		return this.#down && performance.now() < this.#downUntil;
	}

	/** The refusal, said once as an error; the calls of cached functions then run uncached. */
	#refuse(message: string): void {
		this.#refused = message;
		log('error', 'FLECHE_STORE_REFUSED', `${message}; cached functions run uncached`);
		this.#end();
	}

	#unreachable(message: string): void {
		this.#reason = message;
		if (!this.#down) {
			warn('FLECHE_STORE_UNREACHABLE', `${message}; cached functions run uncached until it answers again (tried again with a back-off)`);
		}
		this.#down = true;
		this.#downUntil = performance.now() + this.#retryMs;
		this.#retryMs = Math.min(this.#retryMs * 2, lastRetryMs);
	}

	#settle<T>(answer: Answer, fallback: T, hot: boolean): T {
		if (answer.ok) {
			// Every request reaches the server, after the worker made and checked the schema (the reader is asked after).
			this.#schemaReady = true;
			if (this.#down) {
				this.#down = false;
				this.#retryMs = firstRetryMs;
				log('info', 'FLECHE_STORE_BACK', `The PostgreSQL cache ${this.shown} answers again`);
			}
			return answer.value as T;
		}
		if (answer.failure === 'down') {
			this.#unreachable(answer.message);
			return fallback;
		}
		if (answer.failure === 'config') {
			this.#refuse(answer.message);
			if (hot) return fallback;
		}
		throw new FlecheError(answer.message);
	}

	#failed<T>(err: unknown, fallback: T): T {
		if (!WorkerFailed.is(err)) throw err;
		// The worker is gone (it hung past its net, or could not start): a new one is tried after the back-off.
		this.#end();
		this.#unreachable(`The PostgreSQL cache ${this.shown} is unreachable: ${err.message}`);
		return fallback;
	}

	/**
	 * The worker's answer to `op`, or `fallback` while the server is unreachable. Blocks this thread. Operations
	 * named in {@link hotOps} (what a cached call does: lookups, saves, statistics) also answer `fallback` once the
	 * server refused the configuration, which is then said once; every other operation throws the refusal.
	 */
	request<T>(fallback: T, op: string, ...args: unknown[]): T {
		this.#looked = undefined;
		// Sent ahead on the same port: the worker answers this request once the batch is written.
		if (!queueBlind.has(op)) this.#send(false);
		const hot = hotOps.has(op);
		if (this.#resting(hot)) return fallback;
		let answer: Answer;
		try {
			answer = this.#client().request({ op, args } satisfies PgRequest) as Answer;
		} catch (err) {
			return this.#failed(err, fallback);
		}
		return this.#settle(answer, fallback, hot);
	}

	/**
	 * As {@link request}, without blocking this thread. The reads of an awaited hit ({@link localReads}) are made by
	 * this thread's own engine after the first {@link localReadsAfter}, once the worker has answered (it made and
	 * checked the schema) and while no write of this thread is on its way (the worker, which orders reads after the
	 * batches that write them, answers them otherwise): the hit then costs its round trip to the server and not, on
	 * top of it, a wake-up of the worker and one of this thread.
	 */
	async call<T>(fallback: T, op: string, ...args: unknown[]): Promise<T> {
		this.#looked = undefined;
		if (!queueBlind.has(op)) this.#send(false);
		const hot = hotOps.has(op);
		if (this.#resting(hot)) return fallback;
		if (localReads.has(op) && ++this.#awaitedReads > localReadsAfter && this.#schemaReady && this.#unconfirmed === 0) {
			this.#reader ??= pgEngine(this.#input, 'reader');
			return this.#settle(await this.#reader({ op, args }), fallback, hot);
		}
		let answer: Answer;
		const client = this.#client();
		try {
			answer = (await client.call({ op, args } satisfies PgRequest)) as Answer;
		} catch (err) {
			// Its worker was ended by this link meanwhile (close(), or another request's failure, said once): not an
			// outage of its own. A close() right after a flush meets this: the worker answers a write sent ahead as its
			// promise settles, which can be after the flush's answer that waited for the same write.
			if (WorkerFailed.is(err) && client !== this.#worker) return fallback;
			return this.#failed(err, fallback);
		}
		return this.#settle(answer, fallback, hot);
	}

	/**
	 * The record under `key` with its result value, without blocking: lookups asked for in the same turn of the event
	 * loop go to the server together, a statement per {@link lookupBatch} keys (10,000 cached submissions are ten round
	 * trips, not 10,000).
	 */
	lookup(key: string): Promise<CallAnswer> {
		return new Promise((resolve, reject) => {
			const waiting = this.#lookups.get(key);
			if (waiting !== undefined) waiting.push({ resolve, reject });
			else {
				if (this.#lookups.size === 0) queueMicrotask(() => void this.#sendLookups());
				this.#lookups.set(key, [{ resolve, reject }]);
			}
		});
	}

	async #sendLookups(): Promise<void> {
		const asked = this.#lookups;
		this.#lookups = new Map();
		const keys = [...asked.keys()];
		const chunks: string[][] = [];
		for (let i = 0; i < keys.length; i += lookupBatch) chunks.push(keys.slice(i, i + lookupBatch));
		await Promise.all(
			chunks.map(async (chunk) => {
				let found: Map<unknown, CallAnswer>;
				try {
					const rows =
						chunk.length === 1 ? [[chunk[0], await this.call<CallAnswer>(null, 'getCall', chunk[0])]] : await this.call<unknown[][]>([], 'getCalls', chunk);
					found = new Map(rows.map((row) => [row[0], row[1] as CallAnswer]));
				} catch (err) {
					for (const key of chunk) for (const w of asked.get(key)!) w.reject(err);
					return;
				}
				for (const key of chunk) for (const w of asked.get(key)!) w.resolve(found.get(key) ?? null);
			}),
		);
	}

	/** Queues a value for the next batch (a value queued already stays as it is: same digest, same bytes). */
	queueValue(digest: string, serializer: string, data: Uint8Array): void {
		if (this.#values.has(digest)) return;
		this.#values.set(digest, [serializer, data]);
		this.#queuedBytes += data.byteLength;
		this.#queued();
	}

	/** Queues a checked record for the next batch, replacing one of its key queued before. */
	queueCall(record: CallRecord, shape: Record<string, unknown>): void {
		this.#calls.delete(record.key);
		this.#calls.set(record.key, { record, shape });
		this.#queued();
	}

	/**
	 * Releases a lease: at once when nothing is queued, else with the next batch, after its commit (a waiter woken by
	 * the release finds the result the holder saved; sending the queue at every release would undo the batching).
	 */
	release(key: string, owner: string): void {
		if (this.#values.size === 0 && this.#calls.size === 0) this.request(null, 'releaseLease', key, owner);
		else this.#releases.push([key, owner]);
	}

	/** The record queued under `key`, if any. */
	queuedCall(key: string): CallRecord | undefined {
		return this.#calls.get(key)?.record;
	}

	/** The value queued under `digest`, if any. */
	queuedValue(digest: string): readonly [string, Uint8Array] | undefined {
		return this.#values.get(digest);
	}

	/** After a put was queued: sends the batch when it is due (size or age), else makes sure it will be. */
	#queued(): void {
		const now = performance.now();
		if (this.#timer === undefined) {
			this.#queuedSince = now;
			queued.add(this);
			hookExit();
			this.#timer = setTimeout(() => this.#send(false), this.writeDelayMs);
			this.#timer.unref();
		}
		const entries = this.#values.size + this.#calls.size;
		if (this.writeDelayMs <= 0) this.#send(true);
		else if (entries >= batchEntries || this.#queuedBytes >= batchBytes || now - this.#queuedSince >= this.writeDelayMs) this.#send(false);
	}

	/** Takes the queue: values first, then records (so a batch never holds a record without the values it names). */
	#take(): [(readonly [string, string, Uint8Array])[], Record<string, unknown>[], (readonly [string, string])[]] | undefined {
		if (this.#timer !== undefined) clearTimeout(this.#timer);
		this.#timer = undefined;
		queued.delete(this);
		if (this.#values.size === 0 && this.#calls.size === 0 && this.#releases.length === 0) return undefined;
		const values = [...this.#values].map(([digest, [serializer, data]]) => [digest, serializer, data] as const);
		const calls = [...this.#calls.values()].map((c) => c.shape);
		const releases = this.#releases;
		this.#values = new Map();
		this.#calls = new Map();
		this.#releases = [];
		this.#queuedBytes = 0;
		return [values, calls, releases];
	}

	#saveFailed(err: unknown, n: number): void {
		warn(
			'FLECHE_SAVE_FAILED',
			`${n} saves to the PostgreSQL cache ${this.shown} were lost: ${err instanceof Error ? err.message : String(err)}; these calls will be recomputed`,
			{
				cause: err,
			},
		);
	}

	/**
	 * Sends the queue as one batch: waiting for its commit (`wait`: exit, `flush()`, write-through), or not, up to
	 * {@link maxUnconfirmed} batches ahead of the server.
	 */
	#send(wait: boolean): void {
		const batch = this.#take();
		if (batch === undefined) return;
		const n = batch[0].length + batch[1].length;
		if (wait) {
			try {
				this.request(null, 'putBatch', ...batch);
			} catch (err) {
				this.#saveFailed(err, n);
			}
			return;
		}
		const digests = batch[0].map((v) => v[0]);
		this.#ahead('putBatch', batch, (err) => this.#saveFailed(err, n), digests);
	}

	/**
	 * Sends a write without waiting for its commit, at most {@link maxUnconfirmed} ahead of the server (then it waits
	 * for them); `digests` are values it writes, which {@link sentValue} knows until it settles.
	 */
	#ahead(op: string, args: readonly unknown[], failed: (err: unknown) => void, digests: readonly string[] = []): void {
		hookExit();
		if (this.#unconfirmed >= maxUnconfirmed) this.#confirm();
		const epoch = this.#epoch;
		const id = ++this.#sentCount;
		for (const d of digests) this.#sent.set(d, id);
		this.#unconfirmed++;
		const settled = (): void => {
			if (epoch === this.#epoch) this.#unconfirmed--;
			for (const d of digests) if (this.#sent.get(d) === id) this.#sent.delete(d);
		};
		// Answers come on the event loop, or with the next request this thread blocks on; a thread that only saves
		// never sees them, and so waits for all its batches every `maxUnconfirmed` (see `#confirm`).
		this.call(null, op, ...args).then(settled, (err: unknown) => {
			settled();
			failed(err);
		});
	}

	/** Whether the value `digest` is in a batch on its way to the server (it is written, or its `touched` time moved, with it). */
	sentValue(digest: string): boolean {
		return this.#sent.has(digest);
	}

	/** Statistics sent without waiting (the counter's periodic flush): {@link flush} and the exit wait for them. */
	sendStats(deltas: readonly CallStats[]): void {
		this.#ahead('addStats', [deltas], (err) =>
			warn(
				'FLECHE_STATS_NOT_SAVED',
				`Could not save cache statistics to the PostgreSQL cache ${this.shown}: ${err instanceof Error ? err.message : String(err)}`,
			),
		);
	}

	/** Waits until every batch sent so far is committed (or failed). */
	#confirm(): void {
		try {
			// Straight to the worker: its answer says the batches settled, not that the server answers (an outage's end).
			this.#worker?.request({ op: 'flush', args: [] } satisfies PgRequest);
		} catch {
			// A failed batch reports itself; a failed worker or server, its own outage.
		}
		this.#epoch++;
		this.#unconfirmed = 0;
		this.#sent.clear();
	}

	/** Writes the queued puts now and waits for every batch of this thread to be committed. */
	flush(): void {
		if (this.#values.size > 0 || this.#calls.size > 0 || this.#releases.length > 0) this.#send(true);
		else if (this.#unconfirmed > 0) this.#confirm();
	}

	/**
	 * Keeps the lookup that came with a lease (see `takeLease` in pgEngine.ts) for the next lookup of `key`: the
	 * protocol checks the store right after taking a lease, in the same synchronous step, and that check is then
	 * answered without a round trip of its own. It answers that one lookup only, and only if it comes next (any other
	 * request, a lookup of another key, a later turn of the event loop or {@link lookedMs} forget it).
	 */
	looked(key: string, answer: CallAnswer): void {
		const kept = { key, answer, at: performance.now() };
		this.#looked = kept;
		queueMicrotask(() => {
			if (this.#looked === kept) this.#looked = undefined;
		});
	}

	/** The lookup kept by {@link looked} if it is `key`'s (it answers once), or `undefined`. */
	recall(key: string): { readonly answer: CallAnswer } | undefined {
		const kept = this.#looked;
		this.#looked = undefined;
		return kept !== undefined && kept.key === key && performance.now() - kept.at < lookedMs ? kept : undefined;
	}

	/** Keeps a result value fetched with its record for the value storage's next `get` of its digest. */
	prefetch(p: Prefetched): void {
		if (this.#prefetched.has(p.digest)) return;
		this.#prefetched.set(p.digest, p);
		this.#prefetchedBytes += p.data.byteLength;
		// The oldest go first: a record read without its value (a `contains`, a tool) leaves one behind.
		for (const [digest, old] of this.#prefetched) {
			if (this.#prefetched.size <= prefetchLimit.entries && this.#prefetchedBytes <= prefetchLimit.bytes) break;
			this.#prefetched.delete(digest);
			this.#prefetchedBytes -= old.data.byteLength;
		}
	}

	/** The value fetched with a call record or a page, if any, left for its `get`. */
	peek(digest: string): Prefetched | undefined {
		return this.#prefetched.get(digest);
	}

	/** Takes the value fetched with a call record, if it is `digest`'s. */
	take(digest: string): Prefetched | undefined {
		const p = this.#prefetched.get(digest);
		if (p === undefined) return undefined;
		this.#prefetched.delete(digest);
		this.#prefetchedBytes -= p.data.byteLength;
		return p;
	}

	/**
	 * Why the server cannot be used now (the outage's message), or `undefined` when it answers; asks it unless within
	 * the back-off of an outage. @throws FlecheError when it refused this configuration.
	 */
	problem(): string | undefined {
		this.request(null, 'ping');
		return this.#down ? this.#reason : undefined;
	}

	/** Sends the change notification the worker still holds back, if it is running and the server answers. */
	flushNotices(): void {
		if (this.#worker === undefined || this.#down || this.#refused !== undefined) return;
		try {
			this.#worker.request({ op: flushNoticesOp, args: [] } satisfies PgRequest);
		} catch {
			// Ending anyway: watchers miss only this last notification.
		}
	}

	/** Writes what is queued, then ends the worker. */
	close(): void {
		this.flush();
		this.#end();
	}

	#end(): void {
		this.#epoch++;
		this.#unconfirmed = 0;
		this.#sent.clear();
		this.#prefetched.clear();
		this.#prefetchedBytes = 0;
		this.#worker?.close();
		this.#worker = undefined;
		void this.#reader?.({ op: 'close', args: [] });
		this.#reader = undefined;
		this.#schemaReady = false;
	}
}

/** Writes the puts queued in this thread and waits for what was sent ahead, on every link (the exit of the process or thread). */
function flushAll(): void {
	for (const link of [...links().values()]) link.flush();
}

/** Makes sure {@link flushAll} runs at the exit of the process. */
function hookExit(): void {
	if (exitHooked) return;
	exitHooked = true;
	beforeShutdown(flushOrder.postgres, flushAll);
}

const linksKey = Symbol.for('fleche.postgres.links');

function links(): Map<string, Link> {
	const g = globalThis as { [linksKey]?: Map<string, Link> };
	return (g[linksKey] ??= new Map<string, Link>());
}

function flushNotices(): void {
	for (const link of links().values()) link.flushNotices();
}

/** Checked options: the URL without its password, the schema, and the rest as given. */
function settle(
	options: PostgresOptions,
	what: string,
): Required<Pick<PostgresOptions, 'url' | 'schema' | 'timeoutMs' | 'writeDelayMs'>> & Pick<PostgresOptions, 'ssl'> {
	if (typeof options !== 'object' || options === null) throw new TypeError(`${what} needs options: { url, schema? }`);
	const url = publicUrl(options.url);
	const schema = checkSchemaName(options.schema ?? defaultSchema);
	const timeoutMs = options.timeoutMs ?? 5000;
	if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))
		throw new RangeError(`${what}: timeoutMs must be a positive number of milliseconds`);
	const writeDelayMs = options.writeDelayMs ?? defaultWriteDelayMs;
	if (typeof writeDelayMs !== 'number' || !(writeDelayMs >= 0) || !Number.isFinite(writeDelayMs))
		throw new RangeError(`${what}: writeDelayMs must be 0 or a positive number of milliseconds`);
	const ssl = options.ssl;
	if (ssl !== undefined && typeof ssl !== 'boolean' && (typeof ssl !== 'object' || ssl === null))
		throw new TypeError(`${what}: ssl must be true, false or an object of TLS options`);
	return { url, schema, timeoutMs, writeDelayMs, ...(ssl !== undefined ? { ssl } : {}) };
}

function linkFor(options: ReturnType<typeof settle>): Link {
	const password = passwords().get(options.url);
	// A password given later (a user asked for it after a refusal) makes a new link: the old one stays refused.
	const id = JSON.stringify([options.url, options.schema, options.ssl ?? null, options.timeoutMs, options.writeDelayMs, password ?? null]);
	let link = links().get(id);
	if (link === undefined) {
		const input: PgWorkerData = {
			url: options.url,
			schema: options.schema,
			timeoutMs: options.timeoutMs,
			...(password !== undefined ? { password } : {}),
			...(options.ssl !== undefined ? { ssl: options.ssl } : {}),
		};
		links().set(id, (link = new Link(options.url, input, options.timeoutMs, options.writeDelayMs)));
	}
	return link;
}

function configOf(type: 'postgres', options: ReturnType<typeof settle>): PostgresConfig {
	return {
		type,
		url: options.url,
		...(options.schema !== defaultSchema ? { schema: options.schema } : {}),
		...(options.ssl !== undefined ? { ssl: options.ssl } : {}),
		...(options.timeoutMs !== 5000 ? { timeoutMs: options.timeoutMs } : {}),
		...(options.writeDelayMs !== defaultWriteDelayMs ? { writeDelayMs: options.writeDelayMs } : {}),
	};
}

/** The full key for a prefix, by a range scan of `op` (keys are lowercase hex: every match sorts in [prefix, prefix + 'g')). */
function expandBy(link: Link, op: string, prefix: string, contains: (key: string) => boolean): string {
	if (typeof prefix !== 'string' || prefix.length < MIN_PREFIX_LENGTH) return expandPrefix(prefix, []);
	if (isKey(prefix)) {
		if (contains(prefix)) return prefix;
		throw new KeyError(prefix);
	}
	return expandPrefix(prefix, link.request<string[]>([], op, prefix, `${prefix}g`, 2));
}

/** A record as the worker sends it for a put: the checked record, and when it was made. */
function putShape(r: CallRecord): Record<string, unknown> {
	const { key, name, module, version, codeDigest, result, metadata } = r;
	return {
		key,
		name,
		module,
		version,
		codeDigest,
		result,
		arguments: r.arguments,
		metadata,
		...(r.async !== undefined ? { async: r.async } : {}),
		...(r.scheme !== undefined ? { scheme: r.scheme } : {}),
		created: createdOf(r),
	};
}

/** Records per page of `records()`: a function's thousand calls in one round trip. */
const pageSize = 1000;

/**
 * Call storage on a PostgreSQL server (docs/behaviour.md §2.6 "PostgreSQL"): call records with their argument and
 * metadata rows, and hit/miss statistics, shared by every process and machine that reaches the server. Usually paired
 * with {@link ValuePostgres} on the same server (the `postgres` template of `fleche.toml`).
 *
 * Synchronous like every storage: each method waits for the server's answer (a worker thread talks to it);
 * {@link findAsync} does not block. While the server cannot be reached, reads miss and writes are dropped with one
 * warning per outage, and the server is tried again after a back-off. A refused configuration (wrong password,
 * missing database, a schema of a newer fleche) is a `FlecheError` naming the URL without its password: logged once
 * for cached calls (which then run uncached), thrown by the other methods.
 * @example
 * ```ts
 * import { Cache, CallPostgres, ValuePostgres, fleche } from 'fleche';
 * const team = { url: 'postgres://ci@db.internal:5432/results', schema: 'myproject' };
 * const store = new Cache(new ValuePostgres(team), new CallPostgres(team));
 * const slow = fleche((n: number) => n * 2, { cache: store });
 * slow(21); // computed here, a hit on every machine that shares the server
 * ```
 */
export class CallPostgres implements CallStorage, StatsStorage {
	/** The server's URL without its password. */
	readonly url: string;
	/** The schema (namespace) holding the tables. */
	readonly schema: string;
	readonly #config: PostgresConfig;
	readonly #link: Link;

	/** Nothing is contacted until the first use. @throws TypeError or RangeError for bad options. */
	constructor(options: PostgresOptions) {
		const settled = settle(options, 'CallPostgres');
		this.url = settled.url;
		this.schema = settled.schema;
		this.#config = configOf('postgres', settled);
		this.#link = linkFor(settled);
	}

	/** Checks a stored record; a bad one is reported and `undefined` (left in place: reading never deletes). */
	#check(raw: unknown, key?: string): CallRecord | undefined {
		try {
			return parseRecord(raw, key);
		} catch (err) {
			if (!(err instanceof BadRecord)) throw err;
			const bad = key ?? String((raw as { key?: unknown } | null)?.key);
			warn(
				'FLECHE_CORRUPT_ENTRY',
				`Corrupt call record ${bad} in the PostgreSQL cache ${this.url} (schema ${this.schema}): ${err.message}; it reads as a miss`,
			);
			return undefined;
		}
	}

	#found(answer: CallAnswer, key: string): CallRecord | undefined {
		if (answer === null) return undefined;
		const record = this.#check(answer[0], key);
		if (record === undefined)
			throw new KeyError(key, `The call record ${key} in ${this.url} is corrupt`, { cause: new CorruptEntry(key, 'failed its checks') });
		const value = answer[1];
		if (value !== null && record.result !== null) this.#link.prefetch({ digest: record.result, serializer: value[0], data: value[1] });
		return record;
	}

	/** The record under `key`, or `undefined` (a miss, or the server unreachable). */
	find(key: string): CallRecord | undefined {
		assertKey(key);
		const queued = this.#link.queuedCall(key);
		if (queued !== undefined) return queued;
		const kept = this.#link.recall(key);
		return this.#found(kept !== undefined ? kept.answer : this.#link.request(null, 'getCall', key), key);
	}

	/**
	 * As {@link find}, without blocking the event loop while the server answers; lookups made in the same turn of the
	 * event loop share a round trip.
	 */
	async findAsync(key: string): Promise<CallRecord | undefined> {
		assertKey(key);
		const queued = this.#link.queuedCall(key);
		if (queued !== undefined) return queued;
		const kept = this.#link.recall(key);
		return this.#found(kept !== undefined ? kept.answer : await this.#link.lookup(key), key);
	}

	/** The record under `key`; {@link KeyError} on a miss. */
	get(key: string): CallRecord {
		const record = this.find(key);
		if (record === undefined) throw new KeyError(key);
		return record;
	}

	/**
	 * Writes (or replaces) the record: queued, and written with the puts around it in one transaction within
	 * `writeDelayMs` (see {@link flush}); this process reads it back at once. Dropped (after one warning) while the
	 * server is unreachable.
	 */
	put(record: CallRecord): void {
		assertKey(record.key);
		let checked: CallRecord;
		try {
			// Refuse now what `get` would reject later; the worker receives exactly the checked copy.
			checked = parseRecord(JSON.parse(JSON.stringify({ ...record, arguments: record.arguments })) as unknown, record.key);
		} catch (err) {
			throw new SaveError(`Cannot store the call record ${record.key} of ${String(record.name)}: ${err instanceof Error ? err.message : String(err)}`, {
				cause: err,
			});
		}
		this.#link.queueCall(checked, putShape(checked));
	}

	/** Writes the puts this thread queued (values included) and waits until they are committed. */
	flush(): void {
		this.#link.flush();
	}

	/**
	 * Every record, or those of one function name, read a page at a time in key order (never all at once); bad records
	 * are reported and skipped.
	 */
	*records(filter?: { readonly name?: string }): Iterable<CallRecord> {
		let after = '';
		for (;;) {
			const page = this.#link.request<{ records: unknown[]; more: boolean }>({ records: [], more: false }, 'records', after, filter?.name ?? null, pageSize);
			for (const raw of page.records) {
				const record = this.#check(raw);
				if (record !== undefined) yield record;
			}
			if (page.more !== true || page.records.length === 0) return;
			after = String((page.records[page.records.length - 1] as { key: unknown }).key);
		}
	}

	/** Whether a record for `key` is held; false for anything that is not a full key (or while unreachable). */
	contains(key: string): boolean {
		return isKey(key) && (this.#link.queuedCall(key) !== undefined || this.#link.request(false, 'containsCall', key));
	}

	/** Removes the record under `key` (its argument and metadata rows with it); {@link KeyError} when there is none. Its statistics stay. */
	evict(key: string): void {
		assertKey(key);
		if (this.evictMany([key]) === 0) throw new KeyError(key);
	}

	/** Removes several records in one statement; returns how many were held. */
	evictMany(keys: Iterable<string>): number {
		const list = [...keys].filter(isKey);
		if (list.length === 0) return 0;
		return this.#link.request<string[]>([], 'evictCalls', list).length;
	}

	/** Every key held. */
	list(): string[] {
		return this.#link.request<string[]>([], 'callKeys');
	}

	/** The full key for a prefix of at least 4 characters (docs/behaviour.md §2.4), by an index range scan. */
	/** True: {@link expand} is a range read of the key index (see `KeyManagement.expandsByIndex`). */
	readonly expandsByIndex = true;

	expand(prefix: string): string {
		return expandBy(this.#link, 'callRange', prefix, (key) => this.contains(key));
	}

	/** `{ type: 'postgres', url, schema? … }`, the URL without its password. */
	toConfig(): StorageConfig {
		return this.#config;
	}

	/**
	 * Adds statistics deltas in one statement (merged by key first). With `wait: false` (the counter's periodic flush)
	 * they are sent without waiting: a thread that hits in a loop never stops for them; this process reads them back,
	 * and {@link flush}, an explicit `flushStats()` and the exit wait for them.
	 */
	addStats(deltas: readonly CallStats[], options?: { readonly wait?: boolean }): void {
		if (deltas.length === 0) return;
		const merged = new Map<string, CallStats>();
		for (const d of deltas) mergeStats(merged, d);
		if (options?.wait === false) this.#link.sendStats([...merged.values()]);
		// The worker writes statistics after what was sent before them: when this returns, those are written too.
		else this.#link.request(null, 'addStats', [...merged.values()]);
	}

	/** Summed statistics of every call counted here (evicted ones included), optionally of one function. */
	stats(filter?: { readonly name?: string; readonly module?: string | null }): CallStats[] {
		const rows = this.#link.request<unknown[][]>([], 'stats', filter?.name ?? null);
		const out = rows.map(([key, name, module, hits, misses, lastHit, computeSeconds, savedSeconds]) => ({
			key: key as string,
			name: name as string,
			module: module as string | null,
			hits: hits as number,
			misses: misses as number,
			lastHit: lastHit as number | null,
			computeSeconds: computeSeconds as number,
			savedSeconds: savedSeconds as number,
		}));
		return filter?.module === undefined ? out : out.filter((s) => s.module === filter.module);
	}

	/** When the record `key` was stored (Runtime metadata, else the server's clock at the write); `null` when unknown. */
	created(key: string): number | null {
		if (!isKey(key)) return null;
		const mine = this.#link.queuedCall(key);
		if (mine !== undefined) return createdOf(mine) ?? Date.now() / 1000;
		return this.#link.request<number | null>(null, 'created', key);
	}

	/**
	 * The values of `values` that no call of this store refers to (as its result, an argument, or a file body named in
	 * metadata namespace `filesNamespace`), found by the server in one snapshot: `gc` reads no record and lists no value
	 * (a 1,000,000-call store's took 39 s and 1.5 GB). `undefined` when `values` is not this store's (another server or
	 * schema); none while the server cannot be reached. @internal
	 */
	orphanValues(values: unknown, filesNamespace: string): string[] | undefined {
		if (!(values instanceof ValuePostgres) || values.url !== this.url || values.schema !== this.schema) return undefined;
		return this.#link.request<string[]>([], 'orphans', filesNamespace);
	}

	/**
	 * The functions with stored calls, counted by the server from its summaries (docs/behaviour.md §12): how many calls
	 * each has, their versions and their summed statistics; and those with statistics only (every call evicted, §11),
	 * with no calls. What tools list first, without reading any call. @internal
	 */
	functions(): ListedFunction[] {
		const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
		const out: ListedFunction[] = [];
		const listing = this.#link.request<unknown>('[]', 'functions');
		let rows: unknown;
		try {
			rows = typeof listing === 'string' ? JSON.parse(listing) : null;
		} catch {
			rows = null;
		}
		if (!Array.isArray(rows))
			throw new FlecheError(
				`The PostgreSQL cache ${this.#config.url} (schema ${this.#config.schema}) answered its function list with something other than a list`,
			);
		for (const row of rows as unknown[]) {
			if (!Array.isArray(row)) continue;
			const [module, name, calls, versionTexts, hits, misses, lastHit, computeSeconds, savedSeconds] = row as unknown[];
			if (typeof name !== 'string' || (module !== null && typeof module !== 'string')) continue;
			const versions: (string | number | null)[] = [];
			for (const text of Array.isArray(versionTexts) ? versionTexts : []) {
				try {
					const v = typeof text === 'string' ? (JSON.parse(text) as unknown) : null;
					if (v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) versions.push(v);
				} catch {
					// A version that is not JSON is the row's damage, reported when the record is read.
				}
			}
			out.push({
				module,
				name,
				calls: num(calls),
				versions: [...new Set(versions)],
				hits: num(hits),
				misses: num(misses),
				lastHit: typeof lastHit === 'number' ? lastHit : null,
				computeSeconds: num(computeSeconds),
				savedSeconds: num(savedSeconds),
			});
		}
		return out;
	}

	/**
	 * A page of one function's calls, newest first (`created`, unknown last, then by key), how many it has, and the
	 * page's statistics as stored: sorted and cut by the server on an index, so only the page's records are read and
	 * checked, all in one round trip. @internal
	 */
	page(
		fn: { readonly module: string | null; readonly name: string },
		offset: number,
		limit: number,
	): { total: number; records: CallRecord[]; stats: CallStats[] } {
		const answer = this.#link.request<{ total: number; records: unknown[]; values?: unknown[][]; stats?: unknown[][] }>(
			{ total: 0, records: [] },
			'page',
			fn.name,
			fn.module,
			Math.max(0, offset),
			Math.max(0, limit),
		);
		// Kept for the value storage of this link: a tool shows the page's results and arguments next.
		for (const [digest, serializer, data] of answer.values ?? [])
			if (typeof digest === 'string' && typeof serializer === 'string' && data instanceof Uint8Array) this.#link.prefetch({ digest, serializer, data });
		const records: CallRecord[] = [];
		for (const raw of answer.records) {
			const record = this.#check(raw);
			if (record !== undefined) records.push(record);
		}
		const stats: CallStats[] = [];
		const byKey = new Map(records.map((r) => [r.key, r]));
		for (const row of answer.stats ?? []) {
			const record = Array.isArray(row) ? byKey.get(row[0] as string) : undefined;
			if (record === undefined) continue;
			const [, hits, misses, lastHit, computeSeconds, savedSeconds] = row;
			const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
			stats.push({
				key: record.key,
				name: record.name,
				module: record.module,
				hits: num(hits),
				misses: num(misses),
				lastHit: when(lastHit),
				computeSeconds: num(computeSeconds),
				savedSeconds: num(savedSeconds),
			});
		}
		return { total: answer.total, records, stats };
	}

	/** A page of what tools list, in key order after `after`. @internal */
	entries(after: string, limit: number): IndexEntry[] {
		const rows = this.#link.request<unknown[][]>([], 'entries', after, limit);
		const out: IndexEntry[] = [];
		for (const [key, module, name, version, created] of rows) {
			let v: unknown = null;
			try {
				v = version === null ? null : JSON.parse(version as string);
			} catch {
				// Shown as unknown; the full record's check reports it.
			}
			out.push({
				key: key as string,
				module: module as string | null,
				name: name as string,
				version: typeof v === 'string' || typeof v === 'number' ? v : null,
				created: created as number | null,
			});
		}
		return out;
	}

	/** Why the server cannot be reached now, `undefined` when it answers (see {@link Link.problem}). @internal */
	problem(): string | undefined {
		return this.#link.problem();
	}

	/** A token that changes whenever a record is written or removed. @internal */
	probe(): string {
		return this.#link.request('', 'probe');
	}

	/** This store's leases of calls in flight: advisory locks on the server (see {@link PostgresLeases}). @internal */
	leases(): CallLeases {
		return (this.#leases ??= new PostgresLeases(this.#link));
	}
	#leases: PostgresLeases | undefined;

	/** Ends this thread's worker for the server (shared with the other storages on it); the next use starts another. */
	close(): void {
		this.#link.close();
	}
}

const when = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A holder as the server described it (untrusted: anything else reads as a holder of unknown identity). */
function holderFrom(raw: unknown): LeaseHolder {
	const h = (typeof raw === 'object' && raw !== null ? raw : {}) as { owner?: unknown; since?: unknown; heartbeat?: unknown };
	return { owner: typeof h.owner === 'string' ? h.owner : 'unknown', since: when(h.since), heartbeat: when(h.heartbeat) };
}

/**
 * Leases of calls in flight on a PostgreSQL server (docs/behaviour.md §3.6): a lease is a session-level advisory lock
 * held by this thread's worker on a connection of its own, so the server frees it the moment its holder's session
 * ends (a killed process, a lost connection) and waiters take over without waiting out a stale time. While the server
 * cannot be reached, a miss computes without a lease (the store's own outage warning says so once).
 */
class PostgresLeases implements CallLeases {
	readonly #link: Link;

	constructor(link: Link) {
		this.#link = link;
	}

	lease(key: string, owner: string): LeaseAttempt {
		assertKey(key);
		const answer = this.#link.request<unknown>(null, 'lease', key, owner);
		if (answer === null) return { acquired: true };
		const a = answer as { acquired?: unknown; holder?: unknown; found?: unknown };
		if ('found' in a) this.#link.looked(key, a.found as CallAnswer);
		return a.acquired === true ? { acquired: true } : { acquired: false, holder: holderFrom(a.holder) };
	}

	heartbeat(key: string, owner: string): boolean {
		return this.#link.request<unknown>(false, 'beatLease', key, owner) === true;
	}

	release(key: string, owner: string): void {
		this.#link.release(key, owner);
	}

	*held(): Iterable<HeldLease> {
		for (const row of this.#link.request<unknown[]>([], 'heldLeases')) {
			if (!Array.isArray(row)) continue;
			const [key, owner, since, heartbeat] = row as unknown[];
			if (isKey(key)) yield { key: key as string, ...holderFrom({ owner, since, heartbeat }) };
		}
	}

	sweep(): number {
		const n = this.#link.request<unknown>(0, 'sweepLeases');
		return typeof n === 'number' ? n : 0;
	}
}

/**
 * Value storage on a PostgreSQL server (docs/behaviour.md §2.6 "PostgreSQL"): each value once under its digest,
 * however many calls and machines return it. See {@link CallPostgres} for outages and errors.
 */
export class ValuePostgres implements ValueStorage {
	/** The server's URL without its password. */
	readonly url: string;
	/** The schema (namespace) holding the tables. */
	readonly schema: string;
	/** The serializer new values are written with. */
	readonly serializer: string;
	readonly #codec: Serializer;
	readonly #config: PostgresConfig;
	readonly #link: Link;

	/** Nothing is contacted until the first use. @throws TypeError for bad options or an unknown serializer. */
	constructor(options: ValuePostgresOptions) {
		const settled = settle(options, 'ValuePostgres');
		this.url = settled.url;
		this.schema = settled.schema;
		this.serializer = options.serializer ?? 'v8';
		this.#codec = getSerializer(this.serializer);
		const config = configOf('postgres', settled);
		this.#config = this.serializer === 'v8' ? config : { ...config, serializer: this.serializer };
		this.#link = linkFor(settled);
	}

	/** Stores `value` under `key` unless already held (then only marks it in use, see `gc`'s grace period). */
	put(key: string, value: unknown): void {
		assertKey(key);
		let bytes: Uint8Array;
		try {
			bytes = this.#codec.serialize(value);
		} catch (err) {
			if (SaveError.is(err)) throw err;
			throw new SaveError(`Cannot serialize a value with the '${this.serializer}' serializer: ${err instanceof Error ? err.message : String(err)}`, {
				cause: err,
			});
		}
		this.#link.queueValue(key, this.serializer, bytes);
	}

	/** Writes the puts this thread queued (call records included) and waits until they are committed. */
	flush(): void {
		this.#link.flush();
	}

	#decode(key: string, found: Prefetched | readonly [string, Uint8Array] | null): unknown {
		if (found === null) throw new KeyError(key);
		const [name, data] = 'serializer' in found ? [found.serializer, found.data] : found;
		const codec = name === this.serializer ? this.#codec : findSerializer(name);
		if (codec === undefined)
			throw new KeyError(key, `The value ${key} in ${this.url} was written with serializer '${name}', which is not registered in this process`);
		try {
			return codec.deserialize(data);
		} catch (err) {
			const reason = `cannot be deserialized by '${name}': ${err instanceof Error ? err.message : String(err)}`;
			warn('FLECHE_CORRUPT_ENTRY', `Corrupt value ${key} in the PostgreSQL cache ${this.url} (schema ${this.schema}): ${reason}; it reads as a miss`);
			throw new KeyError(key, `The value ${key} in ${this.url} is corrupt`, { cause: new CorruptEntry(key, reason) });
		}
	}

	/** A fresh copy of the value under `key`; {@link KeyError} on a miss (or while the server is unreachable). */
	get(key: string): unknown {
		assertKey(key);
		return this.#decode(key, this.#link.queuedValue(key) ?? this.#link.take(key) ?? this.#link.request(null, 'getValue', key));
	}

	/** As {@link get}, without blocking the event loop while the server answers. */
	async getAsync(key: string): Promise<unknown> {
		assertKey(key);
		return this.#decode(key, this.#link.queuedValue(key) ?? this.#link.take(key) ?? (await this.#link.call(null, 'getValue', key)));
	}

	/** Marks the value as in use now (see `gc`); whether it is held. */
	refresh(key: string): boolean {
		// A value queued here, or in a batch on its way, is touched by that batch's write: no round trip of its own.
		return isKey(key) && (this.#link.queuedValue(key) !== undefined || this.#link.sentValue(key) || this.#link.request(false, 'refreshValue', key));
	}

	contains(key: string): boolean {
		return isKey(key) && (this.#link.queuedValue(key) !== undefined || this.#link.request(false, 'containsValue', key));
	}

	/** Removes the value; {@link KeyError} when there is none. */
	evict(key: string): void {
		assertKey(key);
		if (!this.#link.request(false, 'evictValue', key)) throw new KeyError(key);
	}

	/** Removes the value unless it was written or refreshed in the last `graceMs`; whether it did. */
	evictIdle(key: string, graceMs: number): boolean {
		assertKey(key);
		if (this.#link.request(false, 'evictIdleValue', key, graceMs)) return true;
		if (!this.contains(key)) throw new KeyError(key);
		return false;
	}

	list(): string[] {
		return this.#link.request<string[]>([], 'valueKeys');
	}

	/** True: {@link expand} is a range read of the key index (see `KeyManagement.expandsByIndex`). */
	readonly expandsByIndex = true;

	expand(prefix: string): string {
		return expandBy(this.#link, 'valueRange', prefix, (key) => this.contains(key));
	}

	/** Bytes stored for the value (its serialized form); `null` when it is not held. */
	sizeOf(key: string): number | null {
		if (!isKey(key)) return null;
		const known = this.#link.queuedValue(key)?.[1] ?? this.#link.peek(key)?.data;
		return known !== undefined ? known.byteLength : this.#link.request<number | null>(null, 'valueSize', key);
	}

	/** Why the server cannot be reached now, `undefined` when it answers (see {@link Link.problem}). @internal */
	problem(): string | undefined {
		return this.#link.problem();
	}

	/** `{ type: 'postgres', url, schema?, serializer? … }`, the URL without its password. */
	toConfig(): StorageConfig {
		return this.#config;
	}

	/** Ends this thread's worker for the server (shared with the other storages on it). */
	close(): void {
		this.#link.close();
	}
}

/**
 * What tools list of a PostgreSQL call storage, read from the server a page at a time (only the listed columns, never
 * the full records), and its change probe: one small query per refresh.
 */
export class PostgresIndex implements SummaryIndex {
	#generation = 0;
	#token: string | undefined;

	constructor(private readonly calls: CallPostgres) {}

	get generation(): number {
		return this.#generation;
	}

	refresh(): void {
		const token = this.calls.probe();
		if (token !== this.#token) {
			this.#token = token;
			this.#generation++;
		}
	}

	*entries(): Iterable<IndexEntry> {
		let after = '';
		for (;;) {
			const page = this.calls.entries(after, 2000);
			yield* page;
			if (page.length < 2000) return;
			after = page[page.length - 1]!.key;
		}
	}

	has(key: string): boolean {
		return this.calls.contains(key);
	}

	*keys(): Iterable<string> {
		for (const entry of this.entries()) yield entry.key;
	}

	close(): void {
		// Nothing held: the storage's worker is closed with the storage.
	}
}
