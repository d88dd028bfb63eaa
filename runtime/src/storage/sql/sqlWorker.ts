// docs/behaviour.md §2.6 "SQL": the worker thread that owns one sql.js database for `CallSql` (see `store.ts` for why a
// worker): loads the snapshot, follows the change log, answers queries, and compacts the log into a new snapshot.
//
// Started by the store through the synchronous bridge (bridge/syncWorker.ts): requests `{ op, args }` arrive through
// `serve()`, in order, and are answered once sql.js has started. Warnings found here travel back with the replies
// (`warnCaller`): the caller's logger is the user's.
import { randomUUID } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import initSqlJs, { type Database, type SqlJsStatic, type Statement } from 'sql.js';
import { PagedFile } from './pagedFile.js';
import { PresenceWriter } from './presence.js';
import { isCompiledWasm, wasmApi, type CompiledWasm } from './wasm.js';
import { serve, warnCaller as warn, workerInput } from '../../bridge/serve.js';
import {
	acquireLock,
	decodeLines,
	encodeLine,
	lineKey,
	openLog,
	readLogHeader,
	readSnapshotHeader,
	releaseLock,
	storePaths,
	sweepTemps,
	tempSibling,
	tempStaleMs,
	tryAcquire,
	type LogHeader,
	type StorePaths,
} from './log.js';
import { errorCode, errorText, removeQuietly, readRange, readRangeOf } from '../fsUtil.js';
import {
	applicationId,
	connectionPragmas,
	indexMigrationsFrom,
	logFormat,
	migrations,
	openFailedText,
	parseStats,
	schemaProblem,
	schemaV1,
	schemaVersion,
	sql,
	summaryFrom,
	type SchemaFacts,
} from './schema.js';

/** What the store passes as the worker's input. */
export interface SqlWorkerData {
	/** Absolute path of the snapshot, or `':memory:'`. */
	readonly path: string;
	/** Unmerged log bytes that trigger a compaction. */
	readonly compactBytes: number;
	/** A log idle this long with unmerged lines is compacted, so the SQLite file stays close to current. */
	readonly idleCompactMs: number;
	/**
	 * Whether the store has written: only then does this worker compact (or finish a migration) on its own. A worker
	 * of a store that only reads (`fleche ls`, the editor, `fleche/inspect`) never writes a file; the store says so
	 * later, with its next request, when it writes after its worker started.
	 */
	readonly writer?: boolean;
	/** sql.js's WebAssembly, compiled by an earlier worker of the calling thread (see {@link compiled}). */
	readonly wasm?: CompiledWasm;
}

/** A request from the store. */
export interface SqlRequest {
	readonly op: string;
	readonly args: readonly unknown[];
	/** The store has written: this worker may compact on its own from now on (see {@link SqlWorkerData.writer}). */
	readonly writer?: true;
}

const data = workerInput<SqlWorkerData>();
const memory = data.path === ':memory:';
const paths: StorePaths = storePaths(data.path);

let SQL: SqlJsStatic;
let db: Database;
/** The snapshot file each database opened from one reads its pages from (none for a database built in memory). */
const files = new WeakMap<Database, PagedFile>();
/** Statements by SQL text, prepared once; `db.export()` frees them all, so they are dropped then. */
let statements = new Map<string, Statement>();

/** State of the snapshot behind `db`: `'corrupt'` and `'garbage'` are replaced by the next compaction, `'foreign'` and `'newer'` never written. */
let snapshotState: 'none' | 'ok' | 'corrupt' | 'foreign' | 'newer' = 'none';
let snapshotIno = 0;
/** The generation of the snapshot behind `db` (with its inode, what names it: a freed inode is soon reused). */
let snapshotGeneration = 0;
/**
 * The snapshot (by inode) whose pages proved damaged after it loaded: it then reads as empty. Opening does not
 * check every page (that was most of the time to open a large store); damage shows as an SQLite error on the query
 * that meets it, or in the check that runs before a compaction rewrites the file, and the request is answered again.
 */
let distrusted: string | null = null;
/** The snapshot (by inode) whose every page was checked: one this worker wrote, or one checked before compacting. */
let verifiedIno = -1;

/** Which log `db` follows and how much of its body it holds. `logId` null: no log followed (none, or ignored). */
let logId: string | null = null;
/** The log file `db` follows (held open, see {@link holdLog}) and its inode; 0 and null when none. */
let logIno = 0;
let logFd: number | null = null;
/** A log opened with its file kept open. */
type OpenedLog = NonNullable<ReturnType<typeof openLog>>;
let bodyStart = 0;
/**
 * Bytes of the followed log's body taken in: their lines are applied to `db`, or queued to be ({@link queued}). Only
 * with the queue empty (after {@link drain}) is `db` the snapshot plus exactly these bytes.
 */
let applied = 0;

// Lines taken from the log but not applied yet. Applying a line (decode, check, several SQL statements) costs far
// more than reading it, and while writers run, the lines since a reader's last request can be thousands: a key read
// must not wait for all of them. So new lines are only split and indexed by the key at their fixed place when taken;
// a `get`/`contains` answers from the latest queued line of its key, or from `db` when none touches it, and the
// queue is applied a few milliseconds at a time between requests (and in full before any other query and before a
// compaction).
/** Complete lines (without their newline) taken and not applied, oldest first; `queued[queuedFrom]` is next. */
let queued: string[] = [];
let queuedFrom = 0;
/** For each key a queued put or evict names: the index in {@link queued} of the latest such line. */
const queuedKeys = new Map<string, number>();
/** Queued lines of no known kind (see `lineKey`): they may touch any record, so a key read applies the queue first. */
let queuedOpaque = 0;
let drainScheduled = false;
/** How long one background step of applying queued lines may keep a request waiting. */
const drainStepMs = 4;
/**
 * Queued lines are applied in the background only once requests have paused this long, or once this many are queued:
 * while a process saves and looks up calls in turn, its lookups are answered from the queue's index and the database
 * without waiting for its own lines to be applied.
 */
const drainIdleMs = 25;
const drainBacklog = 4096;
/** Whether the queue reached {@link drainBacklog} since it was last empty. */
let backlogged = false;
/** When the last request came (for {@link drainIdleMs}). */
let lastRequest = 0;
/** Whether this worker compacts on its own (see {@link SqlWorkerData.writer}). */
let writer = data.writer === true;
/** The store asked this thread to end (see {@link close}): nothing is started from then on. */
let closing = false;
let lastGrowth = Date.now();
let lastSize = 0;

function stmt(text: string): Statement {
	let s = statements.get(text);
	if (s === undefined) {
		s = db.prepare(text);
		statements.set(text, s);
	}
	return s;
}

function run(text: string, params: (string | number | null)[]): void {
	const s = stmt(text);
	s.run(params);
}

function rows(text: string, params: (string | number | null)[] = []): unknown[][] {
	const s = stmt(text);
	try {
		s.bind(params);
		const out: unknown[][] = [];
		while (s.step()) out.push(s.get());
		return out;
	} finally {
		s.reset();
	}
}

function freshDatabase(): Database {
	const fresh = new SQL.Database();
	fresh.exec(connectionPragmas);
	fresh.exec(`BEGIN; ${schemaV1} ${migrations.join('\n')}
		INSERT INTO fleche_info (name, value) VALUES ('schema_version', '${schemaVersion}'), ('created_by', 'fleche for TypeScript');
		PRAGMA application_id = ${applicationId}; COMMIT;`);
	return fresh;
}

function replaceDatabase(next: Database): void {
	for (const s of statements.values()) s.free();
	statements = new Map();
	closeDatabase(db);
	db = next;
	readSummary();
}

/**
 * Whether `db` keeps the per-function tables and `calls.created` (schema {@link summaryFrom}): then the log is applied
 * to them too and the tools' queries read them; an older file is read from its rows until a writer migrates it.
 */
let summary = false;

function readSummary(): void {
	try {
		summary = Number(db.exec(sql.schemaVersion)[0]?.values[0]?.[0] ?? 0) >= summaryFrom;
	} catch {
		summary = false;
	}
}

function closeQuietly(fd: number): void {
	try {
		closeSync(fd);
	} catch {
		// Closed already (openDatabase closes what it took).
	}
}

/** Closes a database and the snapshot file it reads from. */
function closeDatabase(d: Database | undefined): void {
	if (d === undefined) return;
	d.close();
	files.get(d)?.close();
	files.delete(d);
}

function hasTable(d: Database, name: string): boolean {
	return d.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '${name}'`).length > 0;
}

/**
 * What {@link schemaProblem} judges, read from the catalog alone (no table of the file is queried, nothing in it runs)
 * — except `fleche_info`'s version, read only once the catalog showed no trigger or view.
 */
function schemaFacts(d: Database): SchemaFacts {
	const objects = (d.exec('SELECT type, name, tbl_name, sql FROM sqlite_master')[0]?.values ?? []) as [string, string, string, string | null][];
	const columns: Record<string, [string, number][]> = {};
	const expressionIndexes: string[] = [];
	if (objects.some(([type]) => type === 'trigger' || type === 'view')) return { objects, columns, expressionIndexes, version: 0 };
	const quoted = (name: string): string => `"${name.replaceAll('"', '""')}"`;
	for (const [type, name] of objects) {
		if (type === 'table') columns[name] = (d.exec(`PRAGMA table_xinfo(${quoted(name)})`)[0]?.values ?? []).map((r) => [String(r[1]), Number(r[6])]);
		else if (type === 'index' && (d.exec(`PRAGMA index_xinfo(${quoted(name)})`)[0]?.values ?? []).some((r) => r[1] === -2)) expressionIndexes.push(name);
	}
	let version = 0;
	if (hasTable(d, 'fleche_info') && columns['fleche_info']?.some(([c]) => c === 'value')) version = Number(d.exec(sql.schemaVersion)[0]?.values[0]?.[0] ?? 0) || 0;
	return { objects, columns, expressionIndexes, version };
}

/** Brings a legacy store (Python fleche's three tables, no application id) or an older schema up to date, in memory. */
function migrate(d: Database): 'ok' | 'foreign' | 'newer' {
	if (!hasTable(d, 'calls')) return 'foreign';
	let version = 0;
	if (hasTable(d, 'fleche_info')) {
		const found = d.exec(sql.schemaVersion)[0]?.values[0]?.[0];
		version = Number(found ?? 0);
	}
	if (version > schemaVersion) return 'newer';
	if (version >= indexMigrationsFrom) return 'ok';
	d.exec('BEGIN');
	if (version === 0) {
		// A Python fleche store: same three tables, without this port's additions.
		const columns = d.exec('PRAGMA table_info(calls)')[0]?.values.map((r) => r[1]) ?? [];
		if (!columns.includes('async')) d.exec('ALTER TABLE calls ADD COLUMN async INTEGER NULL');
		d.exec(`CREATE INDEX IF NOT EXISTS calls_name ON calls (name);
			CREATE TABLE IF NOT EXISTS stats (key VARCHAR(64) PRIMARY KEY NOT NULL, name TEXT NOT NULL, module TEXT NULL,
				hits INTEGER NOT NULL DEFAULT 0, misses INTEGER NOT NULL DEFAULT 0, last_hit REAL NULL,
				compute_seconds REAL NOT NULL DEFAULT 0, saved_seconds REAL NOT NULL DEFAULT 0);
			CREATE INDEX IF NOT EXISTS stats_name ON stats (name);
			CREATE TABLE IF NOT EXISTS fleche_info (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);`);
		version = 1;
	}
	version = runMigrations(d, version, indexMigrationsFrom);
	d.exec(`INSERT OR REPLACE INTO fleche_info (name, value) VALUES ('schema_version', '${version}');
		PRAGMA application_id = ${applicationId}; COMMIT;`);
	return 'ok';
}

/** Runs the numbered migrations from `version` up to `until` (inside the caller's transaction); returns the version reached. */
function runMigrations(d: Database, version: number, until: number): number {
	for (; version < until; version++) {
		const step = migrations[version - 1] ?? '';
		// A column a step adds that is there already (a file edited by hand, or by a tool that knows the newer schema)
		// is kept: adding it again would fail the whole migration.
		const added = /^ALTER TABLE (\w+) ADD COLUMN (\w+)[^;]*;/.exec(step);
		const columns = added === null ? [] : (d.exec(`PRAGMA table_info(${added[1]})`)[0]?.values.map((r) => r[1]) ?? []);
		const rest = added === null ? '' : step.slice(added[0].length);
		if (added === null || !columns.includes(added[2])) d.exec(step);
		else if (rest.trim() !== '') d.exec(rest);
	}
	return version;
}

/**
 * The migrations a reader leaves out (indexes, see `indexMigrationsFrom`), run by a writer right before it compacts,
 * so that the snapshot it writes is of the current schema.
 */
function completeMigrations(): void {
	if (snapshotState !== 'ok' && snapshotState !== 'none' && snapshotState !== 'corrupt') return;
	const version = Number(db.exec(sql.schemaVersion)[0]?.values[0]?.[0] ?? 0);
	if (version >= schemaVersion || version < indexMigrationsFrom) return;
	db.exec('BEGIN');
	try {
		runMigrations(db, version, schemaVersion);
		db.exec(`INSERT OR REPLACE INTO fleche_info (name, value) VALUES ('schema_version', '${schemaVersion}'); COMMIT;`);
	} catch (err) {
		db.exec('ROLLBACK');
		throw err;
	}
	readSummary();
}

/** Whether the file's own header (its first 100 bytes) says it is longer than `size`, the file's size. */
function truncated(header: Uint8Array, size: number): boolean {
	const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
	const rawPageSize = view.getUint16(16);
	const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
	const pages = view.getUint32(28);
	// The in-header page count is only valid when the change counter matches "version-valid-for".
	if (view.getUint32(24) !== view.getUint32(92)) return false;
	return size < pageSize * pages || pageSize < 512;
}

/** Header field "auto-vacuum" (largest root page, offset 52): non-zero when SQLite may shrink the file. */
function autoVacuum(header: Uint8Array): boolean {
	return new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(52) !== 0;
}

/**
 * Opens the snapshot file `fd` as a database read page by page ({@link PagedFile}); one whose header allows SQLite to
 * shrink the file (auto-vacuum, which fleche never sets) is read whole instead, as MEMFS would copy it on the first
 * shrink anyway.
 */
function openDatabase(fd: number, size: number, header: Uint8Array): Database {
	if (autoVacuum(header)) {
		const bytes = new Uint8Array(size);
		let done = 0;
		try {
			while (done < size) {
				const n = readSync(fd, bytes, done, size - done, done);
				if (n === 0) break;
				done += n;
			}
		} finally {
			closeSync(fd);
		}
		return new SQL.Database(bytes.subarray(0, done));
	}
	const file = new PagedFile(fd, size);
	let opened: Database;
	try {
		opened = new SQL.Database(file as unknown as Uint8Array);
	} catch (err) {
		file.close();
		throw err;
	}
	file.opened();
	files.set(opened, file);
	return opened;
}

/** Loads the snapshot into a new `db` (an empty one when missing or unusable) and returns its generation. */
function loadSnapshot(): number {
	const head = readSnapshotHeader(paths.db);
	snapshotIno = head.ino;
	snapshotGeneration = head.generation;
	if (head.kind === 'none') {
		snapshotState = 'none';
		replaceDatabase(freshDatabase());
		return 0;
	}
	const corrupt = (why: string): number => {
		warn('FLECHE_CORRUPT_ENTRY', `Corrupt cache database ${paths.db} (${why}): it reads as empty and is replaced by the next write`, `corrupt:${paths.db}:${head.ino}`);
		snapshotState = 'corrupt';
		replaceDatabase(freshDatabase());
		return head.generation;
	};
	// Only what SQLite says of the file itself judges it: a failure of this thread (out of memory, too many open files)
	// is thrown, and the request fails. Judged damaged, the file reads as empty and the next compaction replaces it,
	// with everything it held.
	const corruptOrThrow = (err: unknown): number => {
		if (!isDamage(errorText(err))) throw err;
		return corrupt(errorText(err));
	};
	if (head.kind === 'garbage') return corrupt('not an SQLite database');
	if (`${head.ino}:${head.generation}` === distrusted) return corrupt('damaged pages');
	if (head.kind === 'foreign') {
		warn('FLECHE_FOREIGN_STORE', `${paths.db} is another application's SQLite database: fleche neither reads nor writes it`, `foreign:${paths.db}`);
		snapshotState = 'foreign';
		replaceDatabase(freshDatabase());
		return head.generation;
	}
	let fd: number;
	try {
		fd = openSync(paths.db, 'r');
	} catch (err) {
		if (errorCode(err) === 'ENOENT') return loadSnapshot();
		throw err;
	}
	let loaded: Database | undefined;
	try {
		const size = fstatSync(fd).size;
		const header = new Uint8Array(100);
		const n = readSync(fd, header, 0, 100, 0);
		// The header was read from an earlier open: a compaction may have renamed a new snapshot in since, and this file
		// must be read with its own generation or the log would be applied from the wrong point.
		if (n === 100 && Buffer.from(header.buffer).readInt32BE(60) !== head.generation) {
			closeSync(fd);
			return loadSnapshot();
		}
		if (n < 100 || truncated(header, size)) {
			closeSync(fd);
			return corrupt('truncated');
		}
		loaded = openDatabase(fd, size, header);
		loaded.exec(connectionPragmas);
	} catch (err) {
		if (loaded !== undefined) closeDatabase(loaded);
		else closeQuietly(fd);
		return corruptOrThrow(err);
	}
	let state: 'ok' | 'foreign' | 'newer';
	let problem: string | null;
	try {
		// Before anything runs on it: migrating writes to it (in memory), which would fire its triggers.
		problem = hasTable(loaded, 'calls') ? schemaProblem(schemaFacts(loaded)) : null;
		state = problem === null ? migrate(loaded) : 'foreign';
	} catch (err) {
		closeDatabase(loaded);
		return corruptOrThrow(err);
	}
	if (problem !== null) {
		closeDatabase(loaded);
		warn('FLECHE_FOREIGN_STORE', `${paths.db} is not a database fleche can use: ${problem}. fleche neither reads nor writes it (move it away to start afresh)`, `foreign:${paths.db}`);
		snapshotState = 'foreign';
		replaceDatabase(freshDatabase());
		return head.generation;
	}
	if (state === 'foreign') {
		closeDatabase(loaded);
		warn('FLECHE_FOREIGN_STORE', `${paths.db} is an SQLite database without fleche tables: fleche neither reads nor writes it`, `foreign:${paths.db}`);
		snapshotState = 'foreign';
		replaceDatabase(freshDatabase());
		return head.generation;
	}
	if (state === 'newer') warn('FLECHE_UNREADABLE_ENTRY', `${paths.db} was written by a newer fleche (schema above ${schemaVersion}): read as is, never written`, `newer:${paths.db}`);
	snapshotState = state;
	replaceDatabase(loaded);
	return head.generation;
}

// ---------------------------------------------------------------------------------------------------------------
// Applying log entries

function isObject(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function applyPut(r: unknown): void {
	if (!isObject(r) || typeof r['key'] !== 'string' || typeof r['name'] !== 'string' || !isObject(r['arguments']) || !isObject(r['metadata'])) {
		throw new Error('a put line without a record');
	}
	const key = r['key'];
	presence?.add(key);
	deleteCall(key);
	const flagValue = r['async'] === true ? 1 : r['async'] === false ? 0 : null;
	const module = typeof r['module'] === 'string' ? r['module'] : null;
	const version = JSON.stringify(r['version'] ?? null);
	const row = [
		key,
		r['name'],
		module,
		version,
		typeof r['codeDigest'] === 'string' ? r['codeDigest'] : null,
		typeof r['result'] === 'string' ? r['result'] : null,
		flagValue,
		typeof r['scheme'] === 'string' ? r['scheme'] : null,
		typeof r['signature'] === 'string' ? r['signature'] : null,
	];
	if (summary) {
		run(sql.summary.insertCall, [...row, createdOf(r['metadata'])]);
		run(sql.summary.callAdded, [module, r['name'], version]);
	} else {
		run(sql.insertCall, row);
	}
	let position = 0;
	for (const [name, digest] of Object.entries(r['arguments'])) run(sql.insertArgument, [key, position++, name, String(digest)]);
	for (const [ns, value] of Object.entries(r['metadata'])) run(sql.insertMetadata, [key, ns, JSON.stringify(value)]);
}

/** When a call was made (Runtime metadata `timestop`, else `timestart`), as the page query orders calls; null without one. */
function createdOf(metadata: Record<string, unknown>): number | null {
	const runtime = metadata['runtime'];
	if (!isObject(runtime)) return null;
	for (const field of ['timestop', 'timestart']) {
		const t = runtime[field];
		if (typeof t === 'number' && Number.isFinite(t)) return t;
	}
	return null;
}

/** Removes a call (with its arguments and metadata, by cascade), counting it out of its function first. */
function deleteCall(key: string): void {
	if (summary) {
		run(sql.summary.callGone, [key]);
		run(sql.summary.groupGone, [key]);
	}
	run(sql.deleteCall, [key]);
}

function applyEntry(entry: unknown): void {
	if (!Array.isArray(entry)) throw new Error('not an entry');
	switch (entry[0]) {
		case 'put':
			applyPut(entry[1]);
			return;
		case 'evict':
			if (typeof entry[1] !== 'string') throw new Error('an evict line without a key');
			deleteCall(entry[1]);
			return;
		case 'clear':
			db.exec('DELETE FROM calls');
			if (summary) run(sql.summary.clear, []);
			return;
		case 'stats': {
			if (!Array.isArray(entry[1])) throw new Error('a stats line without deltas');
			for (const raw of entry[1] as unknown[]) {
				const s = parseStats(raw);
				run(sql.addStats, [s.key, s.name, s.module, s.hits, s.misses, s.lastHit, s.computeSeconds, s.savedSeconds]);
				if (summary) run(sql.summary.addStats, [s.module, s.name, s.hits, s.misses, s.lastHit, s.computeSeconds, s.savedSeconds]);
			}
			return;
		}
		default:
			throw new Error(`unknown entry ${JSON.stringify(entry[0])}`);
	}
}

function applyEntries(entries: readonly unknown[]): void {
	if (entries.length === 0) return;
	db.exec('BEGIN');
	try {
		for (const entry of entries) {
			try {
				// Prepared once: parsing the savepoint statements per line cost as much as applying the line.
				run('SAVEPOINT line', []);
				applyEntry(entry);
				run('RELEASE line', []);
			} catch (err) {
				db.exec('ROLLBACK TO line; RELEASE line');
				warn('FLECHE_CORRUPT_ENTRY', `Skipped a bad line in the cache log ${paths.log}: ${errorText(err)}`, `badline:${paths.log}`);
			}
		}
		db.exec('COMMIT');
	} catch (err) {
		db.exec('ROLLBACK');
		throw err;
	}
}

/**
 * Makes `log` (opened with {@link openLog}) the file `logIno` names, keeping it open and closing the one before. Reads
 * take no lock and compactions replace the log by a rename, so the log must be held open: a closed file's inode is
 * soon reused (a later compaction's continued log often gets it), and a `stat` would then take a new file for the one
 * followed, read it at the old offsets and answer without lines that were appended before the request (a put that
 * already returned read as missing), or skip lines for good.
 */
function holdLog(log: OpenedLog | null): void {
	if (logFd !== null) closeSync(logFd);
	logFd = log?.fd ?? null;
	logIno = log?.ino ?? 0;
}

/**
 * Takes the complete lines from `applied` on, read from the held file itself (never by path: see {@link holdLog}),
 * into the queue, indexed by key; nothing is decoded or applied here.
 */
function readBody(): void {
	if (logFd === null) return;
	const { bytes } = readRangeOf(logFd, bodyStart + applied);
	const end = bytes.lastIndexOf(10) + 1;
	if (end === 0) return;
	const text = bytes.toString('utf8', 0, end);
	for (let start = 0; start < text.length; ) {
		const nl = text.indexOf('\n', start);
		if (nl > start) {
			const key = lineKey(text, start);
			const line = text.slice(start, nl);
			if (key === undefined) queuedOpaque++;
			else if (key !== null) queuedKeys.set(key, queued.length);
			if (presence !== undefined) presenceLine(line, key);
			queued.push(line);
		}
		start = nl + 1;
	}
	applied += end;
	scheduleDrain();
}

// ---------------------------------------------------------------------------------------------------------------
// The key-presence filter (presence.ts): made when the store first asks for it (after a miss through the worker),
// filled from the database's keys a step at a time between requests, and kept current with every line taken.

let presence: PresenceWriter | undefined;
/** Bumped by each restart of the scan: a step of an older scan stops. */
let presenceScan = 0;
/** The database was replaced since the filter was last filled: it is filled again once the reload is done. */
let presenceStale = false;
/** Keys read from the database per step of the scan (a few milliseconds). */
const presenceStep = 8192;

/** Adds the key a taken line puts (a line of no known kind is decoded for it; an evict or stats line adds nothing). */
function presenceLine(line: string, key: string | null | undefined): void {
	if (typeof key === 'string') {
		presenceAdd(key);
		return;
	}
	if (key === null) return;
	const [entry] = decodeLines(`${line}\n`).entries;
	if (Array.isArray(entry) && entry[0] === 'put' && isObject(entry[1]) && typeof entry[1]['key'] === 'string') presenceAdd(entry[1]['key']);
}

function presenceAdd(key: string): void {
	if (presence === undefined) return;
	presence.add(key);
	growIfFull();
}

function growIfFull(): void {
	if (presence !== undefined && presence.added > presence.capacity) {
		// Too full to say "absent" often: a larger one replaces it (callers see the old one retired and ask again).
		presence.retire();
		presence = new PresenceWriter(presence.added * 2);
		presenceFill();
	}
}

/** Makes the filter (sized from the files) and starts filling it; returns its buffer. */
function presenceBuffer(): SharedArrayBuffer {
	if (presence === undefined) {
		let bytes = 0;
		for (const file of [paths.db, paths.log]) {
			try {
				bytes += statSync(file).size;
			} catch {
				// Missing: nothing to hold.
			}
		}
		// A stored call takes about a kilobyte of database (its row, arguments, metadata and their index entries): sized
		// for one key per kilobyte of files, and replaced by a larger one when that was too few.
		presence = new PresenceWriter(Math.max(65_536, Math.ceil(bytes / 1024)));
		presenceFill();
	}
	return presence.buffer;
}

/** Fills the filter afresh: the lines taken and not applied now, then the database's keys, a step at a time. */
function presenceFill(): void {
	const filter = presence;
	if (filter === undefined) return;
	const scan = ++presenceScan;
	for (let i = queuedFrom; i < queued.length; i++) presenceLine(queued[i]!, lineKey(queued[i]!));
	let after = '';
	const step = (): void => {
		if (scan !== presenceScan || presence !== filter) return;
		try {
			const keys = rows(sql.keysAfter, [after, presenceStep]);
			for (const [key] of keys) filter.add(key as string);
			if (keys.length < presenceStep) {
				filter.complete();
				publishPresence();
				growIfFull();
				return;
			}
			after = keys[keys.length - 1]![0] as string;
		} catch {
			// A damaged database: the filter stays incomplete (every miss asks the worker, which reports the damage).
			return;
		}
		setImmediate(step);
	};
	step();
}

/** Says how far into the log the filter holds every key (after the lines were taken and their keys added). */
function publishPresence(): void {
	presence?.publish(logId === null ? 0 : logIno, bodyStart + applied);
}

function clearQueue(): void {
	backlogged = false;
	queued = [];
	queuedFrom = 0;
	queuedKeys.clear();
	queuedOpaque = 0;
}

/**
 * Applies queued lines, oldest first, for about `budgetMs` (all of them by default): in one transaction per 1,024
 * lines, or per 16 within a budget (a line costs tens of microseconds, and ten times that on a loaded machine).
 */
function drain(budgetMs = Infinity): void {
	const deadline = performance.now() + budgetMs;
	const step = budgetMs === Infinity ? 1024 : 16;
	while (queuedFrom < queued.length) {
		const end = Math.min(queued.length, queuedFrom + step);
		const { entries, bad } = decodeLines(`${queued.slice(queuedFrom, end).join('\n')}\n`);
		if (bad > 0) warn('FLECHE_CORRUPT_ENTRY', `Skipped ${bad} damaged line(s) in the cache log ${paths.log}`, `badline:${paths.log}`);
		applyEntries(entries);
		for (let i = queuedFrom; i < end; i++) {
			const key = lineKey(queued[i]!);
			if (key === undefined) queuedOpaque--;
			else if (key !== null && queuedKeys.get(key) === i) queuedKeys.delete(key);
		}
		queuedFrom = end;
		if (performance.now() >= deadline) break;
	}
	if (queuedFrom >= queued.length) clearQueue();
}

/**
 * Applies the queue a step at a time between requests, once requests pause (or the backlog is long), so that what is
 * queued never waits for a request that needs it all, and a request never waits for lines it does not need.
 */
function scheduleDrain(): void {
	if (drainScheduled || queuedFrom >= queued.length) return;
	drainScheduled = true;
	const step = (): void => {
		drainScheduled = false;
		const quietFor = performance.now() - lastRequest;
		// A backlog, once reached, is applied to the end: a queue kept just under it would hold compactions off for good.
		if (queued.length - queuedFrom >= drainBacklog) backlogged = true;
		if (quietFor < drainIdleMs && !backlogged) {
			drainScheduled = true;
			setTimeout(step, drainIdleMs - quietFor).unref();
			return;
		}
		try {
			drain(drainStepMs);
		} catch (err) {
			// The next request that needs the queue applies it, and reports what fails.
			warn('FLECHE_READ_ERROR', `Could not apply the cache log ${paths.log}: ${errorText(err)}`, `drain:${paths.log}`);
			return;
		}
		scheduleDrain();
	};
	setImmediate(step);
}

/**
 * What the queued lines say of `key`: the record's JSON text (a put), null (an evict), or undefined when no queued
 * line touches it — then `db` holds its current state. Anything unclear (a line of no known kind queued, a damaged or
 * mislabelled line of this key) applies the whole queue and answers undefined.
 */
function queuedRecord(key: string): string | null | undefined {
	if (queuedOpaque > 0) drain();
	const at = queuedKeys.get(key);
	if (at === undefined) return undefined;
	const [entry] = decodeLines(`${queued[at]!}\n`).entries as [unknown];
	if (Array.isArray(entry) && entry[0] === 'evict' && entry[1] === key) return null;
	if (Array.isArray(entry) && entry[0] === 'put' && isObject(entry[1]) && entry[1]['key'] === key) return JSON.stringify(entry[1]);
	drain();
	return undefined;
}

/** Starts following `log` from the point snapshot `generation` holds; false when the log does not extend it. */
function follow(log: OpenedLog, generation: number): boolean {
	const start = log.header.base === generation ? log.header.merged : log.header.prev === generation ? 0 : -1;
	if (start < 0) return false;
	logId = log.header.id;
	bodyStart = log.bodyStart;
	applied = start;
	return true;
}

/** Loads the snapshot and starts following the log if it extends it; false when they disagree. */
function reloadOnce(): boolean {
	clearQueue();
	if (presence !== undefined) {
		// Another database: what the filter holds says nothing of it (refilled once the snapshot is loaded).
		presence.restart();
		presenceScan++;
		presenceStale = true;
	}
	const generation = loadSnapshot();
	const log = openLog(paths.log);
	logId = null;
	holdLog(log);
	return log === null || follow(log, generation);
}

/** Reloads everything: the snapshot, then the log that extends it (under the lock when they disagree). */
function reload(): void {
	if (!reloadOnce()) {
		// A compaction may be between its two renames; under the lock the files agree, or the log belongs to a store
		// that is gone (it is then ignored, and the next writer replaces it).
		const held = acquireLock(paths);
		try {
			reloadOnce();
		} finally {
			releaseLock(held);
		}
	}
	if (logId !== null) readBody();
	if (presenceStale) {
		presenceStale = false;
		presenceFill();
	}
	publishPresence();
}

/**
 * Brings `db` and the queue up to date with the files; cheap (one `stat`) when nothing changed. Every line appended
 * before it started is applied or queued when it returns: a caller's own put is visible to its next read, whatever
 * compactions ran.
 */
function catchUp(): void {
	followFiles();
	publishPresence();
}

function followFiles(): void {
	if (memory) return;
	let st;
	try {
		st = statSync(paths.log);
	} catch (err) {
		if (errorCode(err) !== 'ENOENT') throw err;
		// No log: only a new or removed snapshot can change what this store holds.
		const head = readSnapshotHeader(paths.db);
		if (head.ino !== snapshotIno || logId !== null) reload();
		return;
	}
	// The held file: whatever a compaction renamed since the stat, every line appended before it is in there.
	if (st.ino === logIno) {
		if (logId !== null && st.size > bodyStart + applied) readBody();
		// Cut short in place (by hand: fleche only appends, and renames a compacted log in): lines already taken are no
		// longer the log's, and the database is read again from the files, as the calling thread forgets what it read.
		else if (logId !== null && st.size < bodyStart + applied) reload();
		return;
	}
	// The log was replaced. The held file is the one followed so far, which nobody appends to any more: its last lines
	// are taken first, so that a compaction that merged them continues it (`skip` is at most its length) and nothing
	// needs reloading.
	if (logId !== null) readBody();
	const log = openLog(paths.log);
	if (log !== null && logId !== null && log.header.from === logId && applied >= log.header.skip) {
		// A compaction continued the log this database follows: keep going in the new file.
		logId = log.header.id;
		holdLog(log);
		bodyStart = log.bodyStart;
		applied -= log.header.skip;
		readBody();
		return;
	}
	if (log !== null) closeSync(log.fd);
	reload();
}

// ---------------------------------------------------------------------------------------------------------------
// Compaction: the log's lines so far become a new snapshot, written beside and renamed over the old one.

function newGeneration(avoid: readonly (number | null)[]): number {
	for (;;) {
		const g = (Math.random() * 0x100000000) | 0;
		if (g !== 0 && !avoid.includes(g)) return g;
	}
}

/** Runs a compaction if the log is big enough (or idle with unmerged lines) and no other process is compacting. */
function maybeCompact(force = false): boolean {
	if (memory) return false;
	if (!force) {
		let size: number;
		try {
			size = statSync(paths.log).size;
		} catch {
			return false;
		}
		const log = readLogHeader(paths.log);
		if (log === null) return false;
		const unmerged = size - log.bodyStart - log.header.merged;
		if (size !== lastSize) {
			lastSize = size;
			lastGrowth = Date.now();
		}
		if (unmerged <= 0) return false;
		if (unmerged < data.compactBytes && Date.now() - lastGrowth < data.idleCompactMs) return false;
		// A long queue is being applied between requests: compacting now would apply it all at once, with requests
		// waiting — unless writers outpace the applying, which would let the log (and the queue) grow without bound.
		if (queued.length - queuedFrom > 2048 && unmerged < 4 * data.compactBytes) return false;
	}
	const claim = tryAcquire(paths.compact, paths.breakLock, tempStaleMs);
	if (claim === null) return false;
	try {
		sweepTemps(paths);
		return compact();
	} finally {
		releaseLock(claim);
	}
}

/** Reads the snapshot as empty from now on, after its pages proved damaged. */
function distrust(why: string): void {
	warn('FLECHE_CORRUPT_ENTRY', `Corrupt cache database ${paths.db} (${why}): it reads as empty and is replaced by the next write`, `corrupt:${paths.db}:${snapshotIno}`);
	distrusted = `${snapshotIno}:${snapshotGeneration}`;
	reload();
}

function isDamage(text: string): boolean {
	return /malformed|not a database|corrupt/i.test(text);
}

function compact(): boolean {
	// Damaged pages would be exported into the new file: check them all once before the first rewrite.
	if (snapshotState === 'ok' && verifiedIno !== snapshotIno) {
		let check: unknown;
		try {
			check = db.exec('PRAGMA quick_check(1)')[0]?.values[0]?.[0];
		} catch (err) {
			// The check's report (a row) judges the pages; a failure to run it (out of memory) is not damage: no compaction.
			if (!isDamage(errorText(err))) throw err;
			check = errorText(err);
		}
		verifiedIno = snapshotIno;
		if (check !== 'ok') distrust(String(check));
	}
	// Most of the catching up happens before the lock: a worker far behind may need seconds, and waiting writers would
	// take a lock held that long for stale and break it.
	catchUp();
	drain();
	let held = acquireLock(paths);
	let log;
	let head;
	try {
		catchUp();
		drain();
		log = readLogHeader(paths.log);
		head = readSnapshotHeader(paths.db);
	} finally {
		releaseLock(held);
	}
	if (log === null || log.header.id !== logId) return false;
	if (snapshotState === 'foreign' || snapshotState === 'newer' || head.kind === 'foreign') return false;
	const skip = log.header.base === head.generation ? log.header.merged : log.header.prev === head.generation ? 0 : -1;
	if (skip < 0 || applied < skip) return false;
	completeMigrations();
	const generation = newGeneration([head.generation, log.header.base, log.header.prev]);
	db.exec(`PRAGMA user_version = ${generation}; PRAGMA application_id = ${applicationId};`);
	const snapshotTemp = tempSibling(paths.db);
	const logTemp = tempSibling(paths.log);
	let written: number | null = null;
	try {
		written = writeSnapshot(snapshotTemp);
		held = acquireLock(paths);
		try {
			const nowLog = readLogHeader(paths.log);
			const nowHead = readSnapshotHeader(paths.db);
			// By id and generation: the inodes of files replaced meanwhile may have been reused by their successors.
			if (nowLog === null || nowLog.header.id !== log.header.id || nowHead.ino !== head.ino || nowHead.generation !== head.generation) return false;
			const tail = readRange(paths.log, log.bodyStart + skip).bytes;
			const complete = tail.subarray(0, tail.lastIndexOf(10) + 1);
			const header: LogHeader = { log: logFormat, id: randomUUID(), base: generation, prev: head.generation, merged: applied - skip, from: log.header.id, skip };
			writeFileSync(logTemp, Buffer.concat([Buffer.from(encodeLine(header)), complete]));
			// The log goes first: until the snapshot follows, its `prev` still names the old snapshot, so a reader (or a
			// crash right here) sees the old snapshot plus every line, and nothing is lost.
			renameSync(logTemp, paths.log);
			if (snapshotState === 'corrupt' && head.kind !== 'none') {
				try {
					renameSync(paths.db, `${paths.db}.corrupt`);
				} catch {
					// Keeping a copy for inspection is a courtesy; the rename below replaces it anyway.
				}
			}
			renameSync(snapshotTemp, paths.db);
			adopt(written);
			written = null;
			logId = header.id;
			holdLog(openLog(paths.log));
			bodyStart = Buffer.byteLength(encodeLine(header));
			applied -= skip;
			snapshotIno = statSync(paths.db).ino;
			snapshotGeneration = generation;
			verifiedIno = snapshotIno;
			snapshotState = 'ok';
			publishPresence();
			return true;
		} finally {
			releaseLock(held);
		}
	} finally {
		if (written !== null) closeQuietly(written);
		removeQuietly(snapshotTemp);
		removeQuietly(logTemp);
	}
}

/**
 * Writes the database as it is now to `temp` (created), and returns the file open for reading: the snapshot file read
 * page by page with the changed chunks over it, streamed; or, for a database held in memory, `db.export()`.
 */
function writeSnapshot(temp: string): number {
	const out = openSync(temp, 'wx+');
	try {
		const file = files.get(db);
		if (file !== undefined && !file.detached) {
			file.writeTo(out);
		} else {
			for (const s of statements.values()) s.free();
			statements = new Map();
			const bytes = db.export();
			// export() closes and reopens the connection: its settings are gone.
			db.exec(connectionPragmas);
			let done = 0;
			while (done < bytes.length) done += writeSync(out, bytes, done, bytes.length - done, done);
		}
		return out;
	} catch (err) {
		closeSync(out);
		throw err;
	}
}

/** Reads on from `fd`, the new snapshot {@link writeSnapshot} wrote (now renamed into place), which holds exactly `db`. */
function adopt(fd: number): void {
	const file = files.get(db);
	if (file !== undefined && !file.detached) {
		file.rebase(fd);
		return;
	}
	// A database held in memory (a new store, or one MEMFS copied to shrink it): from now on paged, from its snapshot.
	const header = new Uint8Array(100);
	readSync(fd, header, 0, 100, 0);
	const next = openDatabase(fd, fstatSync(fd).size, header);
	next.exec(connectionPragmas);
	replaceDatabase(next);
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

/**
 * The records the three queries select (calls, their arguments, their metadata; each row led by the call key), each as
 * the JSON text the calling thread parses on its own (a damaged row spoils its record only): built here from plain
 * columns, because SQLite's JSON functions with one correlated subquery per call were the larger part of a query's
 * time. `version` and metadata `data` are stored as JSON and pasted in as they are; the caller checks every record
 * anyway. A row with a field over the size cap (selected as NULL, flagged) makes its call `{"key":…,"oversized":true}`.
 * With `order`, the records of those keys in that order (a key with no record left out); else in the calls' rows' order.
 */
function recordsJson(calls: string, args: string, metadata: string, params: string[], order?: readonly string[]): string[] {
	const big = new Set<unknown>();
	const argumentsOf = new Map<string, [number, string][]>();
	for (const [key, position, name, value, oversized] of rows(args, params) as [string, number, string, string, number][]) {
		if (oversized === 1) big.add(key);
		const list = argumentsOf.get(key);
		const item: [number, string] = [position, `[${JSON.stringify(name)},${JSON.stringify(value)}]`];
		if (list === undefined) argumentsOf.set(key, [item]);
		else list.push(item);
	}
	const metadataOf = new Map<string, string[]>();
	for (const [key, name, data, oversized] of rows(metadata, params) as [string, string, string, number][]) {
		if (oversized === 1) big.add(key);
		const item = `${JSON.stringify(name)}:${data}`;
		const list = metadataOf.get(key);
		if (list === undefined) metadataOf.set(key, [item]);
		else list.push(item);
	}
	const out: [key: string, json: string][] = [];
	type CallRow = [string, string, string | null, string | null, string | null, string | null, string | null, string | null, number | null, number];
	for (const [key, name, module, version, codeDigest, result, scheme, signature, flag, oversized] of rows(calls, params) as CallRow[]) {
		if (oversized === 1 || big.has(key)) {
			out.push([key, `{"key":${JSON.stringify(key)},"oversized":true}`]);
			continue;
		}
		const argumentList = (argumentsOf.get(key) ?? []).sort((a, b) => a[0] - b[0]).map((a) => a[1]);
		out.push([
			key,
			`{"key":${JSON.stringify(key)},"name":${JSON.stringify(name)},"module":${JSON.stringify(module)},"version":${version ?? 'null'},` +
				`"codeDigest":${JSON.stringify(codeDigest)},"result":${JSON.stringify(result)},"async":${JSON.stringify(flag)},"scheme":${JSON.stringify(scheme)},` +
				`"signature":${JSON.stringify(signature)},"arguments":[${argumentList.join(',')}],"metadata":{${(metadataOf.get(key) ?? []).join(',')}}}`,
		]);
	}
	if (order === undefined) return out.map(([, json]) => json);
	const byKey = new Map(out);
	return order.flatMap((key) => byKey.get(key) ?? []);
}

function handle(request: SqlRequest): unknown {
	const { op, args } = request;
	lastRequest = performance.now();
	if (request.writer === true) writer = true;
	if (op === 'apply') {
		applyEntries(args[0] as unknown[]);
		return null;
	}
	if (op === 'compact') return maybeCompact(true);
	if (op === 'presence') return memory ? null : presenceBuffer();
	catchUp();
	if (op === 'get' || op === 'contains') {
		const key = args[0] as string;
		const last = queuedRecord(key);
		if (last !== undefined) return op === 'get' ? last : last !== null;
		if (op === 'get') return recordsJson(sql.callByKey, sql.argumentsByKey, sql.metadataByKey, [key])[0] ?? null;
		return rows(sql.contains, [key]).length > 0;
	}
	// Every other query reads many records: everything taken is applied first.
	drain();
	switch (op) {
		case 'ready':
			return null;
		case 'keys':
			return rows(sql.allKeys).map((r) => r[0]);
		case 'range':
			return rows(sql.keyRange, args as [string, string, number]).map((r) => r[0]);
		case 'records':
			return args[0] === null
				? recordsJson(sql.allCalls, sql.allArguments, sql.allMetadata, [])
				: recordsJson(sql.callsByName, sql.argumentsByName, sql.metadataByName, [args[0] as string]);
		case 'stats':
			return args[0] === null ? rows(sql.allStats) : rows(sql.statsByName, [args[0] as string]);
		case 'count':
			return rows(sql.countCalls)[0]?.[0] ?? 0;
		case 'functions':
			return summary
				? { functions: rows(sql.summary.functions), stats: rows(sql.summary.functionStats) }
				: { functions: rows(sql.functions), stats: rows(sql.functionStats) };
		case 'page': {
			// One function's calls, newest first, and the records of one page of them (checked by the caller).
			const [name, module, offset, limit] = args as [string, string | null, number, number];
			const total = rows(summary ? sql.summary.countFunction : sql.countFunction, [name, module])[0]?.[0] ?? 0;
			const page = rows(summary ? sql.summary.functionPage : sql.functionPage, [name, module, limit, offset]);
			// One JSON text per record, checked one by one by the caller (a damaged row spoils its record only), in the
			// page's order. Four queries for the page, not four for each of its calls.
			const keys = page.map(([key]) => key as string);
			const records = recordsJson(sql.callsByKeys, sql.argumentsByKeys, sql.metadataByKeys, [JSON.stringify(keys)], keys);
			// The page's statistics by key, with it: the tools read them for these calls only (by name they read every call
			// of the function, a page of the file per row at 100,000 calls, and asked again).
			const at = new Map(keys.map((key, i) => [key, i]));
			const stats = rows(sql.statsByKeys, [JSON.stringify(keys)]).sort((a, b) => at.get(a[0] as string)! - at.get(b[0] as string)!);
			return { total: Number(total), records, stats };
		}
		default:
			throw new Error(`unknown request ${op}`);
	}
}

/**
 * sql.js's WebAssembly, compiled: handed to the store when it closes this worker, so that the next worker of its thread
 * instantiates it instead of compiling it again — and runs the code V8 has optimized meanwhile, where a fresh compile
 * runs SQLite unoptimized for its first hundreds of milliseconds (a first screen of the editor took twice as long).
 */
let compiled: CompiledWasm | null = null;

/** Starts sql.js from the module the store passed, else from its file (keeping the module it compiles). */
async function loadSqlJs(): Promise<SqlJsStatic> {
	const given = data.wasm;
	if (given !== undefined) {
		try {
			const started = await new Promise<SqlJsStatic>((resolve, reject) => {
				initSqlJs({
					instantiateWasm(imports, ok) {
						// Emscripten's callback takes the module as a second argument (its type declares only the instance).
						const done = ok as (instance: unknown, module: CompiledWasm) => void;
						wasmApi.instantiate(given, imports).then((instance) => done(instance, given), reject);
						return {};
					},
				}).then(resolve, reject);
			});
			compiled = given;
			return started;
		} catch {
			// Not a module this sql.js can use: compiled afresh below.
		}
	}
	// sql.js compiles its file with WebAssembly.instantiate(bytes, imports), which answers the module too: kept. This
	// thread runs nothing else while it starts.
	const original = Object.getOwnPropertyDescriptor(wasmApi, 'instantiate');
	const instantiate = wasmApi.instantiate.bind(wasmApi);
	(wasmApi as { instantiate: typeof instantiate }).instantiate = async (source, imports) => {
		const result = await instantiate(source, imports);
		if (typeof result === 'object' && result !== null && 'module' in result && isCompiledWasm(result.module)) compiled = result.module;
		return result;
	};
	try {
		return await initSqlJs();
	} finally {
		if (original !== undefined) Object.defineProperty(wasmApi, 'instantiate', original);
	}
}

async function start(): Promise<void> {
	SQL = await loadSqlJs();
	if (memory) replaceDatabase(freshDatabase());
	else reload();
}

const ready = start();
let failed: string | null = null;
ready.catch((err: unknown) => {
	failed = `${openFailedText}${data.path}: ${errorText(err)}`;
});

// Every request waits for the same start, so they are answered in the order they came; once it is over, at once (an
// answer returned rather than promised lets the bridge serve a caller's next request without a turn of the event loop).
let started = false;
const markStarted = (): void => {
	started = true;
};
ready.then(markStarted, markStarted);
serve((request) =>
	(request as SqlRequest).op === 'close'
		? close()
		: started
			? answer(request as SqlRequest)
			: ready.then(
					() => answer(request as SqlRequest),
					() => answer(request as SqlRequest),
				),
);

/**
 * The store is about to end this thread. Answered between two steps of this thread's work, so never in the middle of a
 * compaction: a compaction cut short by the thread's end left the store's lock (every writer of the store then waited
 * for it to go stale, 10 s), its claim to compact (no compaction anywhere until this process ended) and a temporary
 * copy as large as the store. Nothing compacts after it, and it needs no database: a worker still starting answers at
 * once.
 */
function close(): CompiledWasm | null {
	closing = true;
	return compiled;
}

function answer(request: SqlRequest): unknown {
	if (failed !== null) throw new Error(failed);
	try {
		try {
			return handle(request);
		} catch (err) {
			if (!isDamage(errorText(err)) || snapshotState !== 'ok') throw err;
			// The query met damaged pages of the snapshot: it reads as empty from now on, and the request is answered again.
			distrust(errorText(err));
			return handle(request);
		}
	} catch (err) {
		const text = errorText(err);
		if (isDamage(text)) {
			warn('FLECHE_CORRUPT_ENTRY', `Corrupt cache database ${paths.db} (${text}): reloading it`, `corrupt:${paths.db}`);
			try {
				reload();
			} catch {
				// Reported with the request's failure.
			}
		}
		throw err;
	}
}

function compactIfDue(): void {
	if (closing) return;
	try {
		// Following the log between requests keeps the next one short, and sees every log a compaction continues.
		catchUp();
		if (writer) maybeCompact();
	} catch (err) {
		warn('FLECHE_COMPACT_FAILED', `Could not compact the cache log ${paths.log}: ${errorText(err)}`, `compact:${paths.log}`);
	}
}

if (!memory) {
	// A store that could not be opened has nothing to compact, and its failure is every request's answer: the ticks
	// stop (a rejection left unhandled here ended the thread).
	const timer = setInterval(() => void ready.then(compactIfDue, () => clearInterval(timer)), 500);
	timer.unref();
	// A writer starts its worker when the log has outgrown `compactBytes` and may not live another tick: check soon
	// after the start, once the requests already waiting are answered.
	void ready.then(
		() => setTimeout(compactIfDue, 20).unref(),
		() => undefined,
	);
}
