// reference §1.12, §2.6 "SQL", issue 6: `CallSql`, call records (and hit/miss statistics) in one SQLite file, on
// sql.js (WebAssembly) so that it runs in any Node and in the VS Code extension host without a native addon.
//
// Design (the formats are in `sqlSchema.ts`, the file protocol in `sqlLog.ts`):
// - sql.js keeps a database in memory and can only persist it by exporting the whole file, and it initialises
//   asynchronously. So the SQLite file (the *snapshot*) is never written per call. Each change is one checksummed
//   line appended, under a lock file held for microseconds, to the *log* beside it, synchronously in the calling
//   thread: when `put` returns the record is on disk, visible to every other reader, and nothing is left to flush
//   at exit (of the process or of a worker thread).
// - Reads go to a worker thread that owns the sql.js database: it loads the snapshot, applies the log's new lines
//   before each answer (one `stat` when nothing changed), and answers queries. The calling thread waits for the
//   answer with `Atomics.wait`, so reads are synchronous too, including the very first one, which waits for sql.js
//   to start (about 50–100 ms once per thread). A store with no files yet answers misses without starting it.
// - The worker compacts: when the log's unmerged part passes `compactBytes` (or stops growing for a while) it
//   exports its database as a new snapshot to a temporary file, and under the lock renames a continued log and then
//   the snapshot into place. Readers follow the continued log without reloading; a crash at any step loses nothing.
// - The SQLite file is only ever replaced by a rename, never rewritten in place, and never uses WAL, so any reader
//   (this runtime, Python fleche, the sqlite3 shell) opening it sees a complete database: everything up to the last
//   compaction, the rest being in the log.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { recordKey, type CallRecord } from '../call.js';
import { KeyError, SaveError } from '../errors.js';
import { warn, warnOnce } from '../log.js';
import type { CallStats, CallStorage, StatsStorage, StorageConfig } from './base.js';
import { resolveRoot } from './file.js';
import { assertKey, expandPrefix, isKey, MIN_PREFIX_LENGTH } from './keys.js';
import { acquireLock, appendToLog, encodeLine, ensureLog, errorCode, errorText, readSnapshotHeader, releaseLock, storePaths, type HeldLock, type StorePaths } from './sqlLog.js';
import { BadRecord, parseRecord } from './sqlSchema.js';
import type { SqlReply, SqlWorkerData } from './sqlWorker.js';

/** Options of {@link CallSql}. */
export interface CallSqlOptions {
	/**
	 * The SQLite file; a leading `~` means the home folder. Its folder is created on the first write. `':memory:'`
	 * keeps the database in this thread's worker only (nothing on disk; gone at exit).
	 */
	readonly path: string;
	/**
	 * Size of the change log (bytes not yet in the SQLite file) at which a compaction rewrites the SQLite file.
	 * Larger means fewer whole-file rewrites (each costs about 5 ms per MB of database) and a slower first open.
	 * @default 4_194_304 (4 MiB, about 8,000 calls)
	 */
	readonly compactBytes?: number;
	/**
	 * A log that has stopped growing for this long is compacted even when small, so that the SQLite file alone is
	 * soon complete for other tools.
	 * @default 2000
	 */
	readonly idleCompactMs?: number;
	/**
	 * How long a read waits for the worker (sql.js start, a compaction in progress) before failing.
	 * @default 60_000
	 */
	readonly timeoutMs?: number;
}

/** Where the worker's module is: beside this one, in whichever module format this copy was built. */
function workerFile(): string {
	const here = typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);
	return join(dirname(here), 'sqlWorker.js');
}

/** Synchronous request/reply channel to one worker thread. */
class SqlClient {
	readonly #worker: Worker;
	readonly #port: MessagePort;
	readonly #flag: Int32Array;
	readonly #timeoutMs: number;
	#dead: string | null = null;

	constructor(data: Omit<SqlWorkerData, 'flag' | 'port'>, timeoutMs: number) {
		const flag = new SharedArrayBuffer(4);
		const { port1, port2 } = new MessageChannel();
		this.#flag = new Int32Array(flag);
		this.#port = port1;
		this.#timeoutMs = timeoutMs;
		const workerData: SqlWorkerData = { ...data, flag, port: port2 };
		const file = workerFile();
		// A worker that cannot load reports it through an event this blocked thread would never see: check first.
		if (!existsSync(file)) throw new Error(`The SQL store's worker module ${file} is missing (a bundle must ship storage/sqlWorker.js beside it)`);
		this.#worker = new Worker(file, { workerData, transferList: [port2] });
		// Neither the worker nor its port may keep the process alive: writes never wait for it.
		this.#worker.unref();
		this.#worker.on('error', (err) => {
			this.#dead = errorText(err);
		});
		this.#worker.on('exit', () => {
			this.#dead ??= 'the worker thread exited';
		});
	}

	request(op: string, ...args: unknown[]): unknown {
		if (this.#dead !== null) throw new Error(`The cache database worker is gone: ${this.#dead}`);
		Atomics.store(this.#flag, 0, 0);
		this.#port.postMessage({ op, args });
		const deadline = Date.now() + this.#timeoutMs;
		for (;;) {
			Atomics.wait(this.#flag, 0, 0, 100);
			const message = receiveMessageOnPort(this.#port);
			if (message !== undefined) {
				const reply = message.message as SqlReply;
				for (const w of reply.warnings) {
					if (w.once !== undefined) warnOnce(w.once, w.code, w.message);
					else warn(w.code, w.message);
				}
				if (!reply.ok) throw new Error(reply.error);
				return reply.value;
			}
			if (this.#dead !== null || Date.now() > deadline) {
				this.close();
				throw new Error(`The cache database worker did not answer within ${this.#timeoutMs} ms`);
			}
		}
	}

	close(): void {
		this.#dead ??= 'closed';
		this.#port.close();
		void this.#worker.terminate();
	}
}

function toStats(row: unknown[]): CallStats {
	const [key, name, module, hits, misses, lastHit, computeSeconds, savedSeconds] = row as [string, string, string | null, number, number, number | null, number, number];
	return { key, name, module, hits, misses, lastHit, computeSeconds, savedSeconds };
}

/** The record as stored: known fields only, in a fixed order. */
function storedShape(r: CallRecord): CallRecord {
	const { key, name, module, version, codeDigest, result, metadata } = r;
	const shape = { key, name, module, version, codeDigest, arguments: r.arguments, result, metadata };
	return r.async === undefined ? shape : { ...shape, async: r.async };
}

/**
 * Call storage in one SQLite file with the reference's tables (§2.6: `calls`, `arguments`, `metadata`) plus hit/miss
 * statistics, shared safely by any number of processes and threads. Values stay in a {@link ValueFile} beside it
 * (the `sql` template of `fleche.toml`: values at `root/values`, calls at `root/calls.db`).
 *
 * Every method is synchronous. Writes append to a log beside the file and are visible to other processes as soon as
 * they return; reads are answered by a worker thread that owns the database (see the design notes at the top of
 * `storage/sql.ts`).
 *
 * @example
 * ```ts
 * import { Cache, CallSql, ValueFile, fleche } from 'fleche';
 * const store = new Cache(new ValueFile({ root: '.fleche/values' }), new CallSql({ path: '.fleche/calls.db' }));
 * const slow = fleche((n: number) => n * 2, { cache: store });
 * slow(21); // computed and stored
 * for (const record of store.calls.records({ name: 'slow' })) console.log(record.key);
 * ```
 */
export class CallSql implements CallStorage, StatsStorage {
	/** Absolute path of the SQLite file, or `':memory:'`. */
	readonly path: string;
	readonly #options: Required<Omit<CallSqlOptions, 'path'>>;
	readonly #paths: StorePaths;
	readonly #memory: boolean;
	#client: SqlClient | undefined;
	/** The log this instance appends to, kept open while it is still the file at the log's path. */
	#log: { readonly fd: number; readonly ino: number } | undefined;

	/** Nothing is read or written, and no worker started, until the first use. */
	constructor(options: CallSqlOptions) {
		if (typeof options?.path !== 'string' || options.path === '') throw new TypeError('CallSql needs a `path` to the SQLite file');
		this.#memory = options.path === ':memory:';
		this.path = this.#memory ? ':memory:' : resolveRoot(options.path);
		this.#paths = storePaths(this.path);
		this.#options = {
			compactBytes: options.compactBytes ?? 4 * 1024 * 1024,
			idleCompactMs: options.idleCompactMs ?? 2000,
			timeoutMs: options.timeoutMs ?? 60_000,
		};
	}

	#request(op: string, ...args: unknown[]): unknown {
		this.#client ??= new SqlClient({ path: this.path, compactBytes: this.#options.compactBytes, idleCompactMs: this.#options.idleCompactMs }, this.#options.timeoutMs);
		return this.#client.request(op, ...args);
	}

	/** Whether nothing was ever stored here: then reads can answer without starting the worker. */
	#empty(): boolean {
		if (this.#client !== undefined || this.#memory) return false;
		for (const file of [this.#paths.log, this.#paths.db]) {
			try {
				statSync(file);
				return false;
			} catch (err) {
				if (errorCode(err) !== 'ENOENT') return false;
			}
		}
		return true;
	}

	/** Appends entries to the log under the lock (or hands them to the worker for `:memory:`). */
	#append(entries: readonly unknown[], what: string): void {
		if (this.#memory) {
			this.#request('apply', entries);
			return;
		}
		const text = entries.map(encodeLine).join('');
		let held: HeldLock | undefined;
		try {
			try {
				held = acquireLock(this.#paths);
			} catch (err) {
				if (errorCode(err) !== 'ENOENT') throw err;
				mkdirSync(dirname(this.path), { recursive: true });
				held = acquireLock(this.#paths);
			}
			let st: Stats | undefined;
			try {
				st = statSync(this.#paths.log);
			} catch {
				// No log yet: ensureLog makes one.
			}
			if (st === undefined || this.#log === undefined || st.ino !== this.#log.ino) {
				if (this.#log !== undefined) closeSync(this.#log.fd);
				this.#log = undefined;
				const head = readSnapshotHeader(this.#paths.db);
				if (head.kind === 'foreign') throw new Error(`${this.path} is another application's SQLite database`);
				ensureLog(this.#paths);
				const fd = openSync(this.#paths.log, 'a+');
				st = fstatSync(fd);
				this.#log = { fd, ino: st.ino };
			}
			appendToLog(this.#log.fd, st.size, text);
		} catch (err) {
			throw new SaveError(`Cannot write ${what} to the cache database ${this.path}: ${errorText(err)}`, { cause: err });
		} finally {
			if (held !== undefined) releaseLock(held);
		}
	}

	/** Writes (or replaces) the record under `record.key`; visible to every reader when this returns. */
	put(record: CallRecord): void {
		assertKey(record.key);
		let stored: CallRecord;
		try {
			if (recordKey(record) !== record.key) throw new Error('record.key is not the lookup key of its fields');
			stored = storedShape(record);
			// Refuse now what `get` would reject later (a bad digest, metadata that is not an object…).
			parseRecord(JSON.parse(JSON.stringify(stored)), record.key);
		} catch (err) {
			throw new SaveError(`Cannot store the call record ${record.key} of ${String(record.name)}: ${errorText(err)}`, { cause: err });
		}
		this.#append([['put', stored]], `the call record ${record.key}`);
	}

	/** Checks one stored record; a bad one is reported, evicted and `undefined`. */
	#check(raw: unknown, key?: string): CallRecord | undefined {
		try {
			return parseRecord(raw, key);
		} catch (err) {
			if (!(err instanceof BadRecord)) throw err;
			const bad = key ?? String((raw as { key?: unknown } | null)?.key);
			warn('FLECHE_CORRUPT_ENTRY', `Corrupt call record ${bad} in ${this.path}: ${err.message}; removed it so it is recomputed`);
			if (isKey(bad)) this.#append([['evict', bad]], `the removal of ${bad}`);
			return undefined;
		}
	}

	/** The record under `key`; a record that fails its checks is reported, removed and a miss. */
	get(key: string): CallRecord {
		assertKey(key);
		if (this.#empty()) throw new KeyError(key);
		const json = this.#request('get', key);
		if (typeof json !== 'string') throw new KeyError(key);
		const record = this.#check(JSON.parse(json), key);
		if (record === undefined) throw new KeyError(key, `The call record ${key} in ${this.path} was corrupt`);
		return record;
	}

	/** Every record, or those of one function name (an index lookup); bad records are reported and skipped. */
	records(filter?: { readonly name?: string }): CallRecord[] {
		if (this.#empty()) return [];
		const json = this.#request('records', filter?.name ?? null) as string;
		const out: CallRecord[] = [];
		for (const raw of JSON.parse(json) as unknown[]) {
			const record = this.#check(raw);
			if (record !== undefined) out.push(record);
		}
		return out;
	}

	/** Whether a record for `key` is held; false for anything that is not a full key. */
	contains(key: string): boolean {
		if (!isKey(key) || this.#empty()) return false;
		return this.#request('contains', key) === true;
	}

	/** Removes the record under `key`; {@link KeyError} when there is none. Its statistics stay. */
	evict(key: string): void {
		assertKey(key);
		if (!this.contains(key)) throw new KeyError(key);
		this.#append([['evict', key]], `the removal of ${key}`);
	}

	/**
	 * Removes several records in one write; returns how many were held.
	 * @param keys - full keys; those not held are ignored.
	 */
	evictMany(keys: Iterable<string>): number {
		const held = [...keys].filter((key) => this.contains(key));
		if (held.length > 0) this.#append(held.map((key) => ['evict', key]), `the removal of ${held.length} calls`);
		return held.length;
	}

	/** Every key held. */
	list(): string[] {
		if (this.#empty()) return [];
		return this.#request('keys') as string[];
	}

	/** The full key for a prefix of at least 4 characters (reference §2.4), by an index range scan. */
	expand(prefix: string): string {
		if (typeof prefix !== 'string' || prefix.length < MIN_PREFIX_LENGTH || this.#empty()) return expandPrefix(prefix, []);
		if (isKey(prefix)) {
			if (this.contains(prefix)) return prefix;
			throw new KeyError(prefix);
		}
		// Keys are lowercase hex, so every key starting with `prefix` sorts in [prefix, prefix + 'g').
		return expandPrefix(prefix, this.#request('range', prefix, `${prefix}g`, 2) as string[]);
	}

	/** `{ type: 'sql', path }`. */
	toConfig(): StorageConfig {
		return { type: 'sql', path: this.path };
	}

	/** Appends one batch of statistics deltas to the log (one write); they are summed into the `stats` table. */
	addStats(deltas: readonly CallStats[]): void {
		if (deltas.length === 0) return;
		this.#append([['stats', deltas]], 'cache statistics');
	}

	/** Summed statistics of every call ever counted here (evicted ones included), optionally of one function. */
	stats(filter?: { readonly name?: string; readonly module?: string | null }): CallStats[] {
		if (this.#empty()) return [];
		const rows = this.#request('stats', filter?.name ?? null) as unknown[][];
		const out = rows.map(toStats);
		return filter?.module === undefined ? out : out.filter((s) => s.module === filter.module);
	}

	/**
	 * Rewrites the SQLite file now with everything logged so far (normally done in the background). Returns false
	 * when another process was compacting or nothing changed.
	 */
	compact(): boolean {
		if (this.#memory) return false;
		return this.#request('compact') === true;
	}

	/** Stops this instance's worker thread; the next read starts a new one. Nothing is lost: writes are already on disk. */
	close(): void {
		this.#client?.close();
		this.#client = undefined;
		if (this.#log !== undefined) closeSync(this.#log.fd);
		this.#log = undefined;
	}
}
