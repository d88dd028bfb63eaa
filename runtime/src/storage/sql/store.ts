// docs/behaviour.md §1.12, §2.6 "SQL", §11: `CallSql`, call records (and hit/miss statistics) in one SQLite file, on
// sql.js (WebAssembly) so that it runs in any Node and in the VS Code extension host without a native addon.
//
// Design (the formats are in `sqlSchema.ts`, the file protocol in `sqlLog.ts`):
// - sql.js keeps a database in memory and can only persist it by exporting the whole file, and it initialises
//   asynchronously. So the SQLite file (the *snapshot*) is never written per call. Each change is one checksummed
//   line appended, under a lock file held for microseconds, to the *log* beside it, synchronously in the calling
//   thread. A put into an idle store is on disk when it returns; puts that follow it within `writeDelayMs` are
//   coalesced and appended together under one lock (taking the lock costs far more than the line), at the latest
//   `writeDelayMs` later, before any read through the worker, at `flush()`/`close()`, at the exit of the process or
//   worker thread, and at SIGINT/SIGTERM/SIGHUP (`beforeShutdown`). Only SIGKILL or `worker.terminate()` can lose
//   that last window.
// - Each instance remembers the records it wrote or read (up to `knownRecords`), valid as of a position in the log.
//   A hit on one of them costs one `stat` of the log instead of a worker round trip: when the log grew, the new
//   lines are scanned (not parsed: the key is at a fixed place in a put or evict line) and the keys they touch are
//   forgotten; a compaction's continued log is followed like the worker follows it; anything else forgets all.
// - A miss is answered in the calling thread when the worker's key-presence filter (presence.ts, shared memory) lacks
//   the key and no log line this instance read or wrote since the point the filter reaches names it.
// - Reads go to a worker thread that owns the sql.js database: it opens the snapshot (its pages read from the file on
//   demand, pagedFile.ts: a store of any size opens in milliseconds), follows the log (one `stat`
//   when nothing changed), and answers queries. A key read is answered from the log's newest line of that key when
//   one came since the worker last applied the log, so it never waits for the lines other writers appended to be
//   applied (see sqlWorker.ts); other queries wait for them. The calling thread waits for the
//   answer through the synchronous bridge (bridge/syncWorker.ts: `Atomics.wait`, fail-fast guard, time-out), so
//   reads are synchronous too, including the very first one, which waits for sql.js to start (about 50–100 ms once
//   per thread). A store with no files yet answers misses without starting it.
// - A worker whose store has written compacts (one that only reads never writes a file): when the log's unmerged
//   part passes `compactBytes` (or stops growing for a while) it streams its database as a new snapshot to a temporary
//   file, and under the lock renames a continued log and then
//   the snapshot into place. Readers follow the continued log without reloading; a crash at any step loses nothing.
// - The SQLite file is only ever replaced by a rename, never rewritten in place, and never uses WAL, so any reader
//   (this runtime, Python fleche, the sqlite3 shell) opening it sees a complete database: everything up to the last
//   compaction, the rest being in the log.
import { closeSync, fstatSync, mkdirSync, openSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { moduleFile } from '../../bridge/moduleFile.js';
import { SyncWorker, WorkerFailed, WorkerRequestError } from '../../bridge/syncWorker.js';
import type { CallRecord } from '../../call.js';
import { CorruptEntry, KeyError, SaveError, SignatureError } from '../../errors.js';
import { warn, warnOnce } from '../../log.js';
import type { CallStats, CallStorage, StatsStorage, StorageConfig } from '../base.js';
import type { ListedFunction } from '../kinds.js';
import { beforeShutdown, flushOrder } from '../../shutdown.js';
import { workerThreads } from '../../builtins.js';
import { assertKey, expandPrefix, isKey, MIN_PREFIX_LENGTH } from '../keys.js';
import {
	acquireLock,
	appendToLog,
	encodeJsonLine,
	encodeLine,
	ensureLog,
	lineKey,
	readLogHeader,
	readSnapshotHeader,
	releaseLock,
	storePaths,
	type HeldLock,
	type StorePaths,
} from './log.js';
import { errorCode, errorText, readRange, resolveRoot } from '../fsUtil.js';
import { callRecordSignature, signerFor, verifyCallRecord, type SecretKeyOption, type Signer } from '../security.js';
import { PresenceReader } from './presence.js';
import { isCompiledWasm, type CompiledWasm } from './wasm.js';
import { BadRecord, openFailedText, oversizedField, parseRecord } from './schema.js';
import type { SqlRequest, SqlWorkerData } from './sqlWorker.js';

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
	 * Puts that follow another write within this many milliseconds are held and appended together (one lock for
	 * many records); a held put is written at the latest this long after it was made, before any read that needs
	 * the worker, at {@link CallSql.flush}, {@link CallSql.close} and at the exit of the process or worker thread.
	 * A put into an idle store is always written before it returns. 0 writes every put before it returns.
	 * @default 25
	 */
	readonly writeDelayMs?: number;
	/**
	 * How many records written or read by this instance are remembered to answer hits without the worker (checked
	 * against the log with one `stat` per read). 0 disables it, and with it answering misses in this thread from the
	 * worker's key-presence filter (every read then goes to the worker).
	 * @default 10_000
	 */
	readonly knownRecords?: number;
	/**
	 * How long a read waits for the worker (sql.js start, a compaction in progress); past it, and at once when the
	 * worker failed (its module did not load, it crashed), reads answer misses with one `FLECHE_READ_ERROR` warning.
	 * @default 60_000
	 */
	readonly timeoutMs?: number;
	/**
	 * The size, in bytes of the SQLite file and its log together, the store is built for (docs/behaviour.md §2.6
	 * "SQL", Size). Past it the store says so once per process (`FLECHE_LARGE_STORE`, pointing to the PostgreSQL store,
	 * `template = "postgres"`): when it is opened, or at the write that takes it past. It goes on storing and answering
	 * every call; `Infinity` turns the warning off.
	 * @default 256 MiB (about 200,000 calls of typical size: 1.26 KB of SQLite file each, measured at 100,000)
	 */
	readonly capacityBytes?: number;
	/**
	 * Key(s) to sign new records with and to verify records against, as for `CallFile` (the same signature): with a
	 * key, unsigned or wrongly signed records are misses (with a `FLECHE_BAD_SIGNATURE` warning), left in place for
	 * the recompute's `put` to replace. An empty string turns signing off even when `FLECHE_SECRET_KEY` is set.
	 * @default the colon-separated hex keys in `FLECHE_SECRET_KEY`, else no signing
	 */
	readonly secretKey?: SecretKeyOption;
}

/** See {@link CallSqlOptions.capacityBytes}. */
const defaultCapacityBytes = 256 * 2 ** 20;

/** `bytes` for people: GiB, MiB or KiB with one decimal where it is not whole. */
function sizeText(bytes: number): string {
	for (const [unit, size] of [
		['GiB', 2 ** 30],
		['MiB', 2 ** 20],
		['KiB', 2 ** 10],
	] as const) {
		if (bytes >= size) return `${Number.isInteger(bytes / size) ? bytes / size : (bytes / size).toFixed(1)} ${unit}`;
	}
	return `${bytes} bytes`;
}

/** The worker's module: beside this one, in whichever form this copy was built (one file per module, or a bundle). */
function sqlWorkerFile(): string {
	return join(dirname(moduleFile(import.meta.url, () => __filename)), 'sqlWorker.js');
}

function toStats(row: unknown[]): CallStats {
	const [key, name, module, hits, misses, lastHit, computeSeconds, savedSeconds] = row as [string, string, string | null, number, number, number | null, number, number];
	return { key, name, module, hits, misses, lastHit, computeSeconds, savedSeconds };
}

/** The record as stored: known fields only, in a fixed order. */
function storedShape(r: CallRecord): CallRecord {
	const { key, name, module, version, codeDigest, result, metadata } = r;
	const shape = { key, name, module, version, codeDigest, arguments: r.arguments, result, metadata };
	const flagged = r.async === undefined ? shape : { ...shape, async: r.async };
	return r.scheme === undefined ? flagged : { ...flagged, scheme: r.scheme };
}

/**
 * Instances of this thread holding unwritten lines, each with its way to write them: every read through a worker,
 * and the thread's exit, writes them all (a failure is a warning: the caller of those puts is gone).
 */
const unwritten = new Map<CallSql, (final?: boolean) => void>();
let exitHooked = false;

function writeAllPending(final = false): void {
	for (const writeLater of [...unwritten.values()]) writeLater(final);
}

/**
 * Instances of this worker thread whose own worker runs, each with its way to end it gently (see `#closeWorker`):
 * when the thread ends, a compaction under way finishes first. In the main thread the process ends with it, and a
 * dead process's lock, claim and temporary files are taken over or removed at once by the others: nothing to wait for.
 */
const running = new Map<CallSql, () => void>();
let runningHooked = false;

function closeAllWorkers(): void {
	for (const close of [...running.values()]) close();
}

/**
 * sql.js's WebAssembly as compiled (and since optimized) by a worker of this thread, which handed it over when it was
 * closed: later workers instantiate it instead of compiling it again (see `compiled` in sqlWorker.ts).
 */
let sqlWasm: CompiledWasm | undefined;

/** One change waiting to be appended: its log line, and the record it puts (remembered once on disk). */
interface PendingLine {
	readonly line: string;
	readonly record?: CallRecord;
	readonly evict?: string;
}

/** How far this instance has read the log: records it remembers are those of the log up to `offset` of file `ino`. */
interface LogPosition {
	readonly ino: number;
	readonly id: string;
	readonly bodyStart: number;
	offset: number;
}

function deepFreeze<T>(value: T): T {
	if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
		Object.freeze(value);
		for (const v of Object.values(value)) deepFreeze(v);
	}
	return value;
}

/**
 * Call storage in one SQLite file with the tables of docs/behaviour.md (§2.6: `calls`, `arguments`, `metadata`) plus hit/miss
 * statistics, shared safely by any number of processes and threads. Values stay in a {@link ValueFile} beside it
 * (the `sql` template of `fleche.toml`: values at `root/values`, calls at `root/calls.db`).
 *
 * Every method is synchronous. Writes append to a log beside the file: a put into an idle store is on disk when it
 * returns, puts in quick succession are appended together within `writeDelayMs` (and at exit); reads are answered
 * by a worker thread that owns the database, or at once for records this instance wrote or read and that the log
 * shows unchanged (see the design notes at the top of `storage/sql.ts`).
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
	readonly #options: Required<Omit<CallSqlOptions, 'path' | 'secretKey'>>;
	readonly #signer: Signer | null;
	readonly #paths: StorePaths;
	readonly #memory: boolean;
	#client: SyncWorker | undefined;
	/** The log this instance appends to, kept open while it is still the file at the log's path. */
	#log: { readonly fd: number; readonly ino: number } | undefined;
	/** Lines not written yet, oldest first, and when the first of them was made. */
	#pending: PendingLine[] = [];
	/** The keys {@link #pending} puts. */
	readonly #pendingKeys = new Set<string>();
	/** What waits for {@link #pending} to be written (see {@link CallSql.afterWrite}). */
	#afterWrite: (() => void)[] = [];
	#pendingSince = 0;
	#lastWrite = -Infinity;
	#timer: ReturnType<typeof setTimeout> | undefined;
	/**
	 * Writes the held puts for callers that are gone (the timer, a read through the worker, the end of the thread). One
	 * that fails is a warning, and the puts are held again for the next write, read, `flush()` or exit — a lock that
	 * stayed busy past its time-out lost them, though their calls had returned — unless this is the last chance.
	 */
	readonly #writeLater = (final = false): void => {
		const lines = this.#takePending();
		try {
			this.#writeHeld(lines, `${lines.length} call records`);
		} catch (err) {
			const kept = !final && this.#holdAgain(lines);
			warn('FLECHE_SAVE_FAILED', `${errorText(err)}; ${kept ? 'they are held and written with the next write' : 'these calls will be recomputed'}`, { cause: err });
		}
	};
	/** Records known to be current as of {@link #seen} (insertion order = age, for the size cap). */
	readonly #known = new Map<string, CallRecord>();
	#seen: LogPosition | undefined;
	/** Where this instance's last append to the log file {@link #log} ended (-1: none yet). */
	#appendedTo = -1;
	/** Whether this instance wrote to the log: only then does its worker compact (a store that only reads writes nothing). */
	#wrote = false;
	/** Whether this instance's worker knows that it writes (said with the next request, see {@link #message}). */
	#told = false;
	/** The worker's key-presence filter (presence.ts), asked for after the first miss through the worker. */
	#presence: PresenceReader | undefined;
	#presenceAsked = false;
	/**
	 * The keys named by the log's lines from {@link #trackedFrom} to where {@link #seen} has read (-1: none tracked):
	 * with the filter, which holds every key up to a point past `#trackedFrom`, they tell a miss without the worker.
	 */
	readonly #logKeys = new Set<string>();
	#trackedFrom = -1;
	/** Whether this instance found the store past its capacity (and said so). */
	#outgrown = false;

	/**
	 * Nothing is read or written, and no worker started, until the first use.
	 * @throws TypeError without a path, or for a secret key that is not hex.
	 */
	constructor(options: CallSqlOptions) {
		if (typeof options?.path !== 'string' || options.path === '') throw new TypeError('CallSql needs a `path` to the SQLite file');
		this.#signer = signerFor(options.secretKey);
		this.#memory = options.path === ':memory:';
		this.path = this.#memory ? ':memory:' : resolveRoot(options.path);
		this.#paths = storePaths(this.path);
		this.#options = {
			compactBytes: options.compactBytes ?? 4 * 1024 * 1024,
			idleCompactMs: options.idleCompactMs ?? 2000,
			writeDelayMs: options.writeDelayMs ?? 25,
			knownRecords: options.knownRecords ?? 10_000,
			timeoutMs: options.timeoutMs ?? 60_000,
			capacityBytes: options.capacityBytes ?? defaultCapacityBytes,
		};
		const capacity = this.#options.capacityBytes;
		if (typeof capacity !== 'number' || !(capacity > 0)) throw new RangeError(`CallSql capacityBytes must be a positive number of bytes, not ${String(capacity)}`);
	}

	/**
	 * Says once (per process and store) that the store outgrew {@link CallSqlOptions.capacityBytes}: checked when the
	 * store is opened (its worker starts) and after each write, from the sizes of its two files (`logBytes`: the log's,
	 * when the caller knows it).
	 */
	#checkSize(logBytes?: number): void {
		if (this.#outgrown || this.#memory) return;
		let bytes = 0;
		for (const [file, known] of [
			[this.#paths.db, undefined],
			[this.#paths.log, logBytes],
		] as const) {
			try {
				bytes += known ?? statSync(file).size;
			} catch {
				// Missing: holds nothing.
			}
		}
		const capacity = this.#options.capacityBytes;
		if (bytes <= capacity) return;
		this.#outgrown = true;
		warnOnce(
			`large:${this.path}`,
			'FLECHE_LARGE_STORE',
			`${this.path} holds ${sizeText(bytes)} (with its log): the SQL store (SQLite in WebAssembly, one worker per process that applies and compacts alone) is built for up to ${sizeText(capacity)}; it goes on storing and answering, but each compaction rewrites the whole file and every process pays for it. Use the PostgreSQL store (template = "postgres") for a store this large`,
		);
	}

	#worker(): SyncWorker {
		if (this.#client === undefined) {
			this.#told = this.#wrote;
			this.#checkSize();
		}
		if (this.#client === undefined) {
			this.#client = new SyncWorker({
				module: sqlWorkerFile(),
				name: 'cache database',
				input: {
					path: this.path,
					compactBytes: this.#options.compactBytes,
					idleCompactMs: this.#options.idleCompactMs,
					writer: this.#wrote,
					...(sqlWasm !== undefined ? { wasm: sqlWasm } : {}),
				} satisfies SqlWorkerData,
				timeoutMs: this.#options.timeoutMs,
			});
			if (!workerThreads().isMainThread) {
				running.set(this, this.#closeWorkerLater);
				if (!runningHooked) {
					runningHooked = true;
					beforeShutdown(flushOrder.sqlWorkers, closeAllWorkers);
				}
			}
		}
		return this.#client;
	}

	/** Starts the worker for its compactions; the line is written already, so a worker that cannot start is not this write's failure. */
	#startCompactor(): void {
		try {
			this.#worker();
		} catch {
			// The next read reports it.
		}
	}

	#request(op: string, ...args: unknown[]): unknown {
		// The worker reads the log: whatever this thread holds back must be in it first.
		if (unwritten.size > 0) writeAllPending();
		return this.#worker().request(this.#message(op, args));
	}

	/** A request; the first one after this instance wrote also tells its worker that it may compact from now on. */
	#message(op: string, args: readonly unknown[]): SqlRequest {
		// Called once the worker exists (the caller's `this.#worker()` runs first), so `#told` is set for it.
		if (this.#told || !this.#wrote) return { op, args };
		this.#told = true;
		return { op, args, writer: true };
	}

	/** Tells a worker started by reads, in a request of its own, that its log is due for compaction (once). */
	#tellWriter(): void {
		this.#told = true;
		try {
			this.#client?.request({ op: 'ready', args: [], writer: true } satisfies SqlRequest);
		} catch {
			// The next read reports a worker that cannot answer.
		}
	}

	/**
	 * A question about one key through the worker. What this thread holds back changes its answer only when it puts
	 * that key (evictions and statistics are never held): only then is it written first. So a miss does not undo the
	 * batching of the saves before it (and make the worker replay them one flush at a time).
	 */
	#readKey(miss: unknown, op: 'get' | 'contains', key: string): unknown {
		for (const other of unwritten.keys()) {
			if (other.#pendingKeys.has(key)) {
				writeAllPending();
				// The log grew past the point the read started from: its new lines name the key.
				this.#sync();
				break;
			}
		}
		if (this.#absent(key)) return miss;
		try {
			const answer = this.#worker().request(this.#message(op, [key]));
			if (answer === miss && !this.#presenceAsked) this.#askPresence();
			return answer;
		} catch (err) {
			return this.#failed(err, miss);
		}
	}

	/** Asks the worker for its key-presence filter (once per worker; again when it replaced it by a larger one). */
	#askPresence(): void {
		this.#presenceAsked = true;
		if (this.#memory || this.#options.knownRecords <= 0) return;
		try {
			const buffer = this.#worker().request(this.#message('presence', []));
			if (buffer !== null) this.#presence = new PresenceReader(buffer);
		} catch {
			// Misses keep asking the worker, which reports what fails.
		}
	}

	/**
	 * Whether `key` is surely not stored, answered in this thread: the log read to its end (by the read's
	 * {@link #recall}), no line after
	 * the point the filter reaches names the key, no put of this thread holds it, and the filter lacks it.
	 */
	#absent(key: string): boolean {
		const presence = this.#presence;
		if (presence === undefined) return false;
		if (presence.retired) {
			this.#presence = undefined;
			this.#presenceAsked = false;
			return false;
		}
		const seen = this.#seen;
		if (seen === undefined || this.#trackedFrom < 0 || this.#logKeys.has(key)) return false;
		for (const other of unwritten.keys()) if (other.#pendingKeys.has(key)) return false;
		return presence.absent(key, seen.ino, this.#trackedFrom);
	}

	/** Starts tracking the keys of the log's lines afresh from `offset` of the log {@link #seen} reads. */
	#track(offset: number): void {
		this.#logKeys.clear();
		this.#trackedFrom = offset;
	}

	/**
	 * A read through the worker; `miss` when the worker failed or did not answer (one warning per store): a cache
	 * that cannot be read recomputes, it does not fail the call.
	 */
	#read(miss: unknown, op: string, ...args: unknown[]): unknown {
		try {
			return this.#request(op, ...args);
		} catch (err) {
			return this.#failed(err, miss);
		}
	}

	#failed(err: unknown, miss: unknown): unknown {
		// A worker that could not open the store answers each request with why: the same as a worker that failed.
		const unopened = WorkerRequestError.is(err) && err.message.startsWith(openFailedText);
		if (!unopened && !WorkerFailed.is(err)) throw err;
		const why = unopened ? err.message : `Cannot read the cache database ${this.path}: ${err.message}`;
		warnOnce(`sqlworker:${this.path}`, 'FLECHE_READ_ERROR', `${why}; its calls read as misses`, { cause: err });
		return miss;
	}

	/** Whether nothing was ever stored here: then reads can answer without starting the worker. */
	#empty(): boolean {
		if (this.#client !== undefined || this.#memory || this.#pending.length > 0) return false;
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

	#remember(record: CallRecord): void {
		if (this.#options.knownRecords <= 0) return;
		this.#known.delete(record.key);
		this.#known.set(record.key, record);
		if (this.#known.size > this.#options.knownRecords) {
			const oldest = this.#known.keys().next();
			if (oldest.done !== true) this.#known.delete(oldest.value);
		}
	}

	#forgetAll(): void {
		this.#known.clear();
		this.#seen = undefined;
		this.#track(-1);
	}

	/**
	 * Forgets the remembered records that the log's lines in `bytes` (complete lines only, from offset `at`) touch, and
	 * tracks their keys; returns the bytes read.
	 */
	#scan(bytes: Buffer, at: number): number {
		const end = bytes.lastIndexOf(10) + 1;
		if (end === 0) return 0;
		const text = bytes.toString('latin1', 0, end);
		for (let start = 0; start < end; ) {
			const nl = text.indexOf('\n', start);
			const key = lineKey(text, start);
			if (typeof key === 'string') {
				this.#known.delete(key);
				this.#logKeys.add(key);
			} else if (key === undefined && nl > start) {
				// A line of another kind (or a torn one): anything may have changed.
				this.#known.clear();
				this.#track(at + nl + 1);
			}
			start = nl + 1;
		}
		return end;
	}

	/**
	 * Brings {@link #known} up to the log's current end: one `stat` when nothing changed, a scan of the new lines when
	 * it grew, following a compaction's continued log; forgets everything when the log was replaced otherwise.
	 */
	#sync(known?: Stats): void {
		if (this.#memory) return;
		let st: Stats;
		try {
			st = known ?? statSync(this.#paths.log);
		} catch {
			this.#forgetAll();
			return;
		}
		let seen = this.#seen;
		if (seen !== undefined && st.ino === seen.ino) {
			if (st.size === seen.offset) return;
			if (st.size < seen.offset) {
				this.#forgetAll();
				return;
			}
		} else {
			const open = readLogHeader(this.#paths.log);
			if (open === null) {
				this.#forgetAll();
				return;
			}
			const { header } = open;
			const read = seen === undefined ? -1 : seen.offset - seen.bodyStart;
			if (seen === undefined || header.from !== seen.id || read < header.skip) {
				// Nothing remembered is known to be current in this log: start afresh from its end.
				this.#known.clear();
				this.#seen = { ino: open.ino, id: header.id, bodyStart: open.bodyStart, offset: open.size };
				this.#track(open.size);
				return;
			}
			// A compaction continued the log read so far: the same lines follow at a new place.
			seen = this.#seen = { ino: open.ino, id: header.id, bodyStart: open.bodyStart, offset: open.bodyStart + read - header.skip };
			this.#track(seen.offset);
		}
		if (this.#known.size === 0 && this.#presence === undefined) {
			// `st` may be of a log replaced since: only the file `seen` names is measured again.
			seen.offset = seen.ino === st.ino ? st.size : seen.offset;
			this.#track(seen.offset);
			return;
		}
		try {
			const range = readRange(this.#paths.log, seen.offset);
			if (range.ino !== seen.ino) {
				this.#forgetAll();
				return;
			}
			seen.offset += this.#scan(range.bytes, seen.offset);
		} catch {
			this.#forgetAll();
		}
	}

	/** Appends lines to the log under the lock; remembers what they put once they are on disk. */
	#write(lines: readonly PendingLine[], what: string): void {
		const text = lines.length === 1 ? lines[0]!.line : lines.map((l) => l.line).join('');
		let held: HeldLock | undefined;
		let outgrown = false;
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
				this.#appendedTo = -1;
			}
			// Under the lock the log cannot change: what this instance remembers is brought up to its end first (from the
			// stat just taken).
			this.#sync(st);
			// A log that ends where this instance's last append ended ends with that append's newline.
			const written = appendToLog(this.#log.fd, st.size, text, this.#appendedTo === st.size);
			// Set before the worker below may start: one started by this instance's first write must know that it writes,
			// or it never compacts (until a second write or a read tells it).
			this.#wrote = true;
			this.#appendedTo = st.size + written;
			this.#checkSize(st.size + written);
			const seen = this.#seen;
			if (seen !== undefined && seen.ino === this.#log.ino && seen.offset === st.size) seen.offset += written;
			else this.#forgetAll();
			outgrown = st.size + written > this.#options.compactBytes;
		} catch (err) {
			for (const l of lines) if (l.record !== undefined && this.#known.get(l.record.key) === l.record) this.#known.delete(l.record.key);
			throw new SaveError(`Cannot write ${what} to the cache database ${this.path}: ${errorText(err)}`, { cause: err });
		} finally {
			if (held !== undefined) releaseLock(held);
			this.#lastWrite = performance.now();
		}
		for (const l of lines) {
			if (l.record !== undefined) this.#remember(l.record);
			else if (l.evict !== undefined) this.#known.delete(l.evict);
			const key = l.record?.key ?? l.evict;
			if (key !== undefined) this.#logKeys.add(key);
		}
		// Only a worker compacts, and hits on remembered records need none: a writer whose log outgrows the compaction
		// size starts its worker (in the background, nothing waits for it) to keep the log short — after the lock is let
		// go, as telling a running worker waits for its answer.
		if (outgrown) {
			if (this.#client === undefined) this.#startCompactor();
			else if (!this.#told) this.#tellWriter();
		}
	}

	/**
	 * Writes a change now when the store was idle, else holds it to be written with the ones that follow (see
	 * {@link CallSqlOptions.writeDelayMs}).
	 */
	#enqueue(line: PendingLine, what: string): void {
		const delay = this.#options.writeDelayMs;
		const now = performance.now();
		if (this.#pending.length === 0) {
			if (delay <= 0 || now - this.#lastWrite >= delay) {
				this.#write([line], what);
				return;
			}
			this.#pendingSince = now;
			unwritten.set(this, this.#writeLater);
			if (!exitHooked) {
				exitHooked = true;
				beforeShutdown(flushOrder.sql, () => writeAllPending(true));
			}
			this.#timer = setTimeout(() => this.#writeLater(), delay);
			this.#timer.unref();
		}
		this.#pending.push(line);
		if (line.record !== undefined) {
			this.#pendingKeys.add(line.record.key);
			this.#remember(line.record);
		}
		if (now - this.#pendingSince >= delay || this.#pending.length >= 10_000) this.#flushPending();
	}

	/** Holds `lines` again (a write of them failed), before any held since; false when that would hold over 10,000. */
	#holdAgain(lines: readonly PendingLine[]): boolean {
		if (lines.length + this.#pending.length > 10_000) return false;
		this.#pending = [...lines, ...this.#pending];
		for (const l of lines) {
			if (l.record === undefined) continue;
			this.#pendingKeys.add(l.record.key);
			// The failed write forgot it: this instance reads its own held puts.
			if (!this.#known.has(l.record.key)) this.#remember(l.record);
		}
		if (this.#pending.length === lines.length) this.#pendingSince = performance.now();
		unwritten.set(this, this.#writeLater);
		return true;
	}

	#takePending(): PendingLine[] {
		const lines = this.#pending;
		this.#pending = [];
		this.#pendingKeys.clear();
		unwritten.delete(this);
		if (this.#timer !== undefined) clearTimeout(this.#timer);
		this.#timer = undefined;
		return lines;
	}

	/** Writes lines that include the held ones, then runs what waited for them, whether the write succeeded or not. */
	#writeHeld(lines: readonly PendingLine[], what: string): void {
		const waiting = this.#afterWrite;
		this.#afterWrite = [];
		try {
			if (lines.length > 0) this.#write(lines, what);
		} finally {
			for (const then of waiting) then();
		}
	}

	#flushPending(): void {
		const lines = this.#takePending();
		this.#writeHeld(lines, `${lines.length} call records`);
	}

	/**
	 * Runs `then` once the puts held back now (see {@link CallSqlOptions.writeDelayMs}) are written or failed to be; at
	 * once when none are held. The SQL kind releases its leases through it: a waiter woken by a release finds the
	 * result, without each release writing the held puts on its own (which undid their batching).
	 * @internal
	 */
	afterWrite(then: () => void): void {
		if (this.#pending.length === 0) then();
		else this.#afterWrite.push(then);
	}

	/**
	 * Writes the puts held back (see {@link CallSqlOptions.writeDelayMs}) now. Called by itself before reads through
	 * the worker, at `close()` and at the exit of the process or thread.
	 * @throws SaveError when they cannot be written (they are dropped: the calls are recomputed next time).
	 */
	flush(): void {
		if (this.#pending.length > 0) this.#flushPending();
	}

	/** Writes (or replaces) the record under `record.key`; visible to every reader within `writeDelayMs`. */
	put(record: CallRecord): void {
		assertKey(record.key);
		let checked: CallRecord;
		let json: string;
		try {
			json = JSON.stringify(storedShape(record));
			// Refuse now what `get` would reject later (a bad digest, metadata that is not an object, a key that is not
			// the lookup key of the fields, a field over the size cap…); the checked copy is exactly what a later `get`
			// returns, and what the signature covers.
			checked = deepFreeze(parseRecord(JSON.parse(json), record.key));
			const tooLarge = oversizedField(checked);
			if (tooLarge !== undefined) throw new Error(tooLarge);
			if (this.#signer !== null) json = `${json.slice(0, -1)},"signature":${JSON.stringify(callRecordSignature(this.#signer, checked))}}`;
		} catch (err) {
			throw new SaveError(`Cannot store the call record ${record.key} of ${String(record.name)}: ${errorText(err)}`, { cause: err });
		}
		if (this.#memory) {
			this.#request('apply', [['put', JSON.parse(json)]]);
			this.#remember(checked);
			return;
		}
		this.#enqueue({ line: encodeJsonLine(`["put",${json}]`), record: checked }, `the call record ${record.key}`);
	}

	/** Appends entries now (evictions and statistics), after any held puts so the log keeps their order. */
	#append(entries: readonly unknown[], what: string, evicted: readonly string[] = []): void {
		for (const key of evicted) this.#known.delete(key);
		if (this.#memory) {
			this.#request('apply', entries);
			return;
		}
		const lines: PendingLine[] = [...this.#takePending(), ...entries.map((entry) => ({ line: encodeLine(entry) }))];
		for (const key of evicted) lines.push({ line: '', evict: key });
		this.#writeHeld(lines, what);
	}

	/**
	 * Checks one stored record (its JSON text, as the worker sends it), and its signature when a secret key is
	 * configured; a bad one is reported and returned as the {@link CorruptEntry} (or {@link SignatureError}) saying why.
	 * It is left in place: reading never deletes (with another secret key, or another version of fleche, it may be
	 * valid); the recompute's `put` replaces it, and `fleche verify --delete` removes it.
	 */
	#check(json: string, key?: string): CallRecord | CorruptEntry {
		let raw: unknown;
		try {
			try {
				raw = JSON.parse(json);
			} catch (err) {
				throw new BadRecord(`not valid JSON (${errorText(err)})`);
			}
			const record = parseRecord(raw, key);
			const signature = (raw as { signature?: unknown }).signature;
			if (this.#signer === null || verifyCallRecord(this.#signer, record, signature)) return record;
			const why =
				typeof signature === 'string'
					? 'its signature does not match any configured secret key (tampered, or signed with another key)'
					: 'not signed, but a secret key is configured';
			warn('FLECHE_BAD_SIGNATURE', `Rejected call record ${record.key} in ${this.path}: ${why}; treated as a miss (a recompute replaces it)`);
			return new SignatureError(record.key, why);
		} catch (err) {
			if (!(err instanceof BadRecord)) throw err;
			// A row whose JSON is broken is still named: the worker writes its key first.
			const parsed = raw as { key?: unknown } | null | undefined;
			const bad = key ?? String(parsed === undefined ? /^\{"key":"([^"]*)"/.exec(json)?.[1] : parsed?.key);
			warn('FLECHE_CORRUPT_ENTRY', `Corrupt call record ${bad} in ${this.path}: ${err.message}; treated as a miss (a recompute replaces it)`);
			return new CorruptEntry(bad, err.message);
		}
	}

	/**
	 * A remembered record still current, after one `stat` of the log — the only one a read takes: the rest of the read
	 * (remembering what the worker answers, {@link #absent}) relies on this point of the log.
	 */
	#recall(key: string): CallRecord | undefined {
		this.#sync();
		return this.#known.get(key);
	}

	/** The record under `key`; a record that fails its checks (or with a secret key, its signature) is reported and a miss. */
	get(key: string): CallRecord {
		const record = this.find(key);
		if (record === undefined) throw new KeyError(key);
		return record;
	}

	/**
	 * As {@link get}, with `undefined` for a key that has no record: what a cache lookup asks, where a miss is the common
	 * case and a `KeyError`'s stack trace cost 10–15 µs each (two a miss). A record that fails its checks still throws.
	 */
	find(key: string): CallRecord | undefined {
		assertKey(key);
		const known = this.#recall(key);
		if (known !== undefined) return known;
		if (this.#empty()) return undefined;
		// The log was read up to its end by #recall: the answer is at least that current, so it can be remembered.
		const json = this.#readKey(null, 'get', key);
		if (typeof json !== 'string') return undefined;
		const record = this.#check(json, key);
		if (CorruptEntry.is(record)) throw new KeyError(key, `The call record ${key} in ${this.path} was rejected: ${record.message}`, { cause: record });
		if (this.#seen !== undefined || this.#memory) this.#remember(deepFreeze(record));
		return record;
	}

	/** Every record, or those of one function name (an index lookup); bad (or with a secret key, unsigned) records are reported and skipped. */
	records(filter?: { readonly name?: string }): CallRecord[] {
		if (this.#empty()) return [];
		const rows = this.#read([], 'records', filter?.name ?? null) as string[];
		const out: CallRecord[] = [];
		for (const json of rows) {
			const record = this.#check(json);
			if (!CorruptEntry.is(record)) out.push(record);
		}
		return out;
	}

	/**
	 * The functions with stored calls, counted by the database (docs/behaviour.md §12): how many calls each has, their
	 * distinct versions and their summed statistics; and those with statistics only (every call evicted, §11), with
	 * no calls. What tools list first, without loading any record.
	 */
	functions(): ListedFunction[] {
		if (this.#empty()) return [];
		const answer = this.#read({ functions: [], stats: [] }, 'functions') as { functions: unknown[][]; stats: unknown[][] };
		const stats = new Map<string, unknown[]>();
		for (const row of answer.stats) stats.set(JSON.stringify([row[0], row[1]]), row);
		const out: ListedFunction[] = [];
		const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
		const statsOf = (s: unknown[] | undefined) => ({
			hits: num(s?.[2]),
			misses: num(s?.[3]),
			lastHit: typeof s?.[4] === 'number' ? s[4] : null,
			computeSeconds: num(s?.[5]),
			savedSeconds: num(s?.[6]),
		});
		for (const [module, name, calls, versionsJson] of answer.functions) {
			if (typeof name !== 'string' || (module !== null && typeof module !== 'string')) continue;
			const versions: (string | number | null)[] = [];
			try {
				for (const text of JSON.parse(String(versionsJson)) as unknown[]) {
					const v = typeof text === 'string' ? (JSON.parse(text) as unknown) : null;
					if (v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) versions.push(v);
				}
			} catch {
				// A version that is not JSON is the row's damage, reported when the record is read.
			}
			const id = JSON.stringify([module, name]);
			out.push({ module, name, calls: num(calls), versions, ...statsOf(stats.get(id)) });
			stats.delete(id);
		}
		for (const row of stats.values()) {
			const [module, name] = row;
			if (typeof name !== 'string' || (module !== null && typeof module !== 'string')) continue;
			out.push({ module, name, calls: 0, versions: [], ...statsOf(row) });
		}
		return out;
	}

	/**
	 * A page of one function's stored calls, newest first (Runtime metadata `timestop`, calls without one last, then by
	 * key), and how many it has: sorted and cut by the database, so only the page's records are read and checked; with
	 * the statistics held of the page's calls (those that have any).
	 */
	page(
		fn: { readonly module: string | null; readonly name: string },
		offset: number,
		limit: number,
	): { total: number; records: CallRecord[]; stats: CallStats[] } {
		if (this.#empty()) return { total: 0, records: [], stats: [] };
		const answer = this.#read({ total: 0, records: [], stats: [] }, 'page', fn.name, fn.module, Math.max(0, offset), Math.max(0, limit)) as {
			total: number;
			records: string[];
			stats: unknown[][];
		};
		const records: CallRecord[] = [];
		for (const json of answer.records) {
			const record = this.#check(json);
			if (!CorruptEntry.is(record)) records.push(record);
		}
		return { total: answer.total, records, stats: answer.stats.map(toStats) };
	}

	/** Whether a record for `key` is held; false for anything that is not a full key. */
	contains(key: string): boolean {
		if (!isKey(key)) return false;
		if (this.#recall(key) !== undefined) return true;
		if (this.#empty()) return false;
		return this.#readKey(false, 'contains', key) === true;
	}

	/** Removes the record under `key`; {@link KeyError} when there is none. Its statistics stay. */
	evict(key: string): void {
		assertKey(key);
		if (!this.contains(key)) throw new KeyError(key);
		this.#append([['evict', key]], `the removal of ${key}`, [key]);
	}

	/**
	 * Removes several records in one write; returns how many were held.
	 * @param keys - full keys; those not held are ignored.
	 */
	evictMany(keys: Iterable<string>): number {
		const held = [...keys].filter((key) => this.contains(key));
		if (held.length > 0) this.#append(held.map((key) => ['evict', key]), `the removal of ${held.length} calls`, held);
		return held.length;
	}

	/** Every key held. */
	list(): string[] {
		if (this.#empty()) return [];
		return this.#read([], 'keys') as string[];
	}

	/** The full key for a prefix of at least 4 characters (docs/behaviour.md §2.4), by an index range scan. */
	/** True: {@link expand} is a range read of the key index (see `KeyManagement.expandsByIndex`). */
	readonly expandsByIndex = true;

	expand(prefix: string): string {
		if (typeof prefix !== 'string' || prefix.length < MIN_PREFIX_LENGTH || this.#empty()) return expandPrefix(prefix, []);
		if (isKey(prefix)) {
			if (this.contains(prefix)) return prefix;
			throw new KeyError(prefix);
		}
		// Keys are lowercase hex, so every key starting with `prefix` sorts in [prefix, prefix + 'g').
		return expandPrefix(prefix, this.#read([], 'range', prefix, `${prefix}g`, 2) as string[]);
	}

	/** `{ type: 'sql', path, secretKey? }`; the keys, when any, as hex strings. */
	toConfig(): StorageConfig {
		return this.#signer ? { type: 'sql', path: this.path, secretKey: this.#signer.hexKeys } : { type: 'sql', path: this.path };
	}

	/** Appends one batch of statistics deltas to the log (one write, with any held puts); they are summed into the `stats` table. */
	addStats(deltas: readonly CallStats[]): void {
		if (deltas.length === 0) return;
		this.#append([['stats', deltas]], 'cache statistics');
	}

	/** Summed statistics of every call ever counted here (evicted ones included), optionally of one function. */
	stats(filter?: { readonly name?: string; readonly module?: string | null }): CallStats[] {
		if (this.#empty()) return [];
		const rows = this.#read([], 'stats', filter?.name ?? null) as unknown[][];
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

	/** Writes the held puts and stops this instance's worker thread; the next read starts a new one. */
	close(): void {
		try {
			this.flush();
		} finally {
			this.#closeWorker();
		}
	}

	readonly #closeWorkerLater = (): void => this.#closeWorker();

	#closeWorker(): void {
		const client = this.#client;
		running.delete(this);
		if (client !== undefined && client.failure === null) {
			try {
				// Answered once the worker is between two steps: a compaction under way is finished, not cut short.
				const module = client.request({ op: 'close', args: [] } satisfies SqlRequest);
				if (isCompiledWasm(module)) sqlWasm ??= module;
			} catch {
				// A worker that cannot answer is ended all the same; what it held goes stale.
			}
		}
		client?.close();
		this.#client = undefined;
		this.#presence = undefined;
		this.#presenceAsked = false;
		if (this.#log !== undefined) closeSync(this.#log.fd);
		this.#log = undefined;
	}
}
