// docs/behaviour.md §2.6 "SQL", §1.12: the on-disk contract of the SQLite call store — tables, schema version and numbered
// migrations, the write-ahead log beside the database, the lock file, and the strict record check every read uses.
//
// Files of a store opened as `CallSql({ path: '/proj/.fleche/calls.db' })`:
//
//   /proj/.fleche/calls.db                    the SQLite snapshot (tables below); replaced only by an atomic rename
//   /proj/.fleche/calls.db.log                append-only log of changes not yet merged into the snapshot (JSON lines)
//   /proj/.fleche/calls.db.lock               lock file: held while appending a batch (µs) or compacting
//   /proj/.fleche/calls.db.lock.break         held for the instant a stale lock is removed
//   /proj/.fleche/.calls.db.<host>-<pid>.<uuid>.tmp      a snapshot being written (renamed over calls.db when
//                                                         complete); `<host>` is 8 hex digits of the host name's
//                                                         SHA-256. The compactor removes those whose writer died.
//   /proj/.fleche/.calls.db.log.<host>-<pid>.<uuid>.tmp  a log being replaced (written under the lock)
//
// Invariants:
// - The snapshot is always a complete SQLite file: it is exported, written to a temporary sibling and renamed over.
//   Rollback-journal mode (header bytes 18/19 = 1), never WAL: a sql.js reader cannot see WAL contents.
// - Header field `application_id` (offset 68) is {@link applicationId}; a file without it is not a fleche store and
//   is never overwritten. Header field `user_version` (offset 60) is the snapshot's *generation*: a random non-zero
//   int32 written at each compaction, so a reader can tell whether the snapshot changed by reading 4 bytes.
// - The log extends exactly one snapshot: its first line names the generation it applies to (`base`; 0 = "no
//   snapshot yet"). A log whose base is not the current snapshot's generation was already merged (its compactor died
//   between the rename and the unlink) and is ignored, then deleted by the next writer that holds the lock.
// - Appends and compactions happen only under the lock, so the log is one total order: a later line wins.
// - A log line is `<crc32 of json, 8 lowercase hex> <json>\n`. A line without its newline (an append in progress, or
//   one a killed writer left) is not read; a writer that finds the log not ending in `\n` ends it before appending.
//   A line with a wrong checksum or shape is skipped.
// - Records are checked field by field on every read and against their own key ({@link parseRecord}); a row that
//   fails is reported once and a miss. Reading never deletes or rewrites: a `put` of the same key replaces the row.
// - With a secret key, `calls.signature` (and a put line's `signature`) is the HMAC of the record as
//   security.ts's `callRecordSignature` defines it, the same as the file store's; an unsigned or wrongly signed row
//   is then a miss.
// - A file is untrusted input (docs/behaviour.md §5): before anything runs on it, a snapshot with triggers or views, with
//   expressions in its table definitions (CHECK, generated columns, expression defaults or indexes), or without the
//   columns the queries read is refused as a whole with one warning, read as empty and never written
//   ({@link schemaProblem}). No query copies a field larger than {@link maxFieldBytes} out of SQLite: such a row reads
//   as damaged.
//
// Log lines (JSON, after the checksum):
//
//   {"log":"fleche.sql-log/1","base":<generation>,"id":"<uuid>"}    first line only
//   ["put",<record>]               a call record (the CallRecord shape: key, name, module, version, codeDigest,
//                                  arguments, result, metadata[, async][, scheme][, signature]); replaces any
//                                  earlier record of its key
//   ["evict","<key>"]              a tombstone: hides the key in the snapshot and in earlier lines
//   ["stats",[<CallStats>, …]]     statistics deltas, added to what the snapshot holds
//
// Lock file content (UTF-8 JSON): `{"pid":123,"host":"build1","thread":0,"time":<epoch ms>,"token":"<uuid>"}`.
// A lock is stale when its host is this host and its pid is no longer alive, or when it is older than
// {@link lockStaleMs}: the lock is only held for appends, header checks and renames, never for the long steps of a
// compaction (catching up with the log, exporting the snapshot), which run outside it.
import type { CallRecord, Metadata } from '../../call.js';
import { isSchemeName, keyHolds } from '../../key.js';
import type { CallStats } from '../base.js';
import { isKey } from '../keys.js';

/** Schema version this runtime writes; {@link migrations} bring older files up to it. */
export const schemaVersion = 5;

/** `PRAGMA application_id` of every fleche store: ASCII "FLCH". */
export const applicationId = 0x464c4348;

/** First-line marker of a log file. */
export const logFormat = 'fleche.sql-log/1';

/** Suffixes of the files beside the snapshot. */
export const suffix = { log: '.log', lock: '.lock', breakLock: '.lock.break', compact: '.compact' } as const;

/** A lock older than this (ms since its mtime) is stale whoever holds it. */
export const lockStaleMs = 10_000;

/**
 * Version 1 of the schema. `calls`, `arguments` and `metadata` are the three tables of docs/behaviour.md §2.6, column for
 * column; `calls.async` and the `stats` and `fleche_info` tables are additions of this port.
 *
 * - `calls.version` is JSON-encoded (`null`, `"1.2"`, `3`); a legacy INTEGER value is accepted on read (docs/behaviour.md §2.6).
 * - `calls.result` is the result's value digest, `NULL` while pending; `calls.async` is 1 when the function returned
 *   a Promise (hits then return a resolved Promise), else `NULL`.
 * - `arguments` hold the argument digests of a call in signature order (`position` 0, 1, …).
 * - `metadata` holds one JSON object per namespace (`runtime`, `tags`, …).
 * - `stats` holds summed hit/miss statistics by call key; it survives `evict` so per-function totals keep their
 *   history. Processes add deltas, never overwrite (see the log's `stats` lines).
 * - `fleche_info` holds `schema_version` (the number above, as text) and `created_by`.
 */
export const schemaV1 = `
CREATE TABLE calls (
	key VARCHAR(64) PRIMARY KEY NOT NULL,
	name TEXT NOT NULL,
	module TEXT NULL,
	version TEXT NULL,
	code_digest TEXT NULL,
	result VARCHAR(64) NULL,
	async INTEGER NULL
);
CREATE INDEX calls_name ON calls (name);
CREATE TABLE arguments (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	call_key VARCHAR(64) NOT NULL REFERENCES calls (key) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	name TEXT NOT NULL,
	value VARCHAR(64) NOT NULL,
	UNIQUE (call_key, name)
);
CREATE TABLE metadata (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	call_key VARCHAR(64) NOT NULL REFERENCES calls (key) ON DELETE CASCADE,
	name TEXT NOT NULL,
	data JSON NOT NULL,
	UNIQUE (call_key, name)
);
CREATE INDEX metadata_name ON metadata (name);
CREATE TABLE stats (
	key VARCHAR(64) PRIMARY KEY NOT NULL,
	name TEXT NOT NULL,
	module TEXT NULL,
	hits INTEGER NOT NULL DEFAULT 0,
	misses INTEGER NOT NULL DEFAULT 0,
	last_hit REAL NULL,
	compute_seconds REAL NOT NULL DEFAULT 0,
	saved_seconds REAL NOT NULL DEFAULT 0
);
CREATE INDEX stats_name ON stats (name);
CREATE TABLE fleche_info (
	name TEXT PRIMARY KEY NOT NULL,
	value TEXT NOT NULL
);
`;

/**
 * When a call was made, from its Runtime metadata's JSON text `data` (`timestop`, else `timestart`; checked numbers,
 * since the JSON is untrusted and a malformed text must not fail the statement), or NULL.
 */
function createdOf(data: string): string {
	return `CASE WHEN NOT json_valid(${data}) THEN NULL
			WHEN json_type(${data}, '$.timestop') IN ('integer', 'real') THEN json_extract(${data}, '$.timestop')
			WHEN json_type(${data}, '$.timestart') IN ('integer', 'real') THEN json_extract(${data}, '$.timestart') END`;
}

/**
 * Numbered migrations: `migrations[n - 1]` turns a version-`n` database into version `n + 1`, and runs in the same
 * transaction as the update of `fleche_info.schema_version`; a fresh database is {@link schemaV1} followed by all of
 * them. A file of a version above {@link schemaVersion} is read as is and never written (a newer runtime owns it).
 *
 * - 1 → 2: `calls.scheme`, the key scheme that computed the call's key (`NULL`: `fleche.call/1`, every row written
 *   before the column existed). A row of another scheme is stale: read without the key check, served as a miss.
 * - 2 → 3: `calls.signature`, the record's HMAC when it was written with a secret key (`NULL`: unsigned, which every
 *   row written before the column existed is; a reader with a secret key reads such rows as misses, and the
 *   recompute's `put` signs them).
 * - 3 → 4: covering indexes for the tools' listing (docs/behaviour.md §12): `calls_function` (module, name, version)
 *   and `stats_function` (module, name and the summed columns), so that the function list reads the indexes alone,
 *   already grouped, instead of every row. Building them reads whole tables, so this step (and any later one from
 *   {@link indexMigrationsFrom} on) runs only in a worker that writes, right before it compacts; a reader of a
 *   version-3 file answers the same queries without them.
 * - 4 → 5: what the tools' first screen reads, kept current as the log is applied instead of computed from every row
 *   (docs/behaviour.md §12): `calls.created` (the Runtime metadata's `timestop`, else `timestart`; NULL without one)
 *   and the index `calls_page` (module, name, created DESC, key), which gives a function's page of calls newest first
 *   without sorting them; `function_calls`, how many calls each (module, name, version) has; `function_stats`, the
 *   statistics summed by function. Their `id` is SQLite's `json_array` of the columns, so that one row per group is
 *   found by one key (a NULL module would not conflict in a composite key). Like the step before, run by a writer
 *   before it compacts; a reader of an older file answers the same queries from the rows.
 */
export const migrations: readonly string[] = [
	'ALTER TABLE calls ADD COLUMN scheme TEXT NULL;',
	'ALTER TABLE calls ADD COLUMN signature TEXT NULL;',
	'CREATE INDEX IF NOT EXISTS calls_function ON calls (module, name, version); CREATE INDEX IF NOT EXISTS stats_function ON stats (module, name, hits, misses, last_hit, compute_seconds, saved_seconds);',
	`ALTER TABLE calls ADD COLUMN created REAL NULL;
	UPDATE calls SET created = (SELECT ${createdOf('m.data')} FROM metadata AS m WHERE m.call_key = calls.key AND m.name = 'runtime');
	CREATE INDEX IF NOT EXISTS calls_page ON calls (module, name, created DESC, key);
	CREATE TABLE IF NOT EXISTS function_calls (id TEXT PRIMARY KEY NOT NULL, module TEXT NULL, name TEXT NOT NULL, version TEXT NULL, calls INTEGER NOT NULL);
	DELETE FROM function_calls;
	INSERT INTO function_calls (id, module, name, version, calls) SELECT json_array(module, name, version), module, name, version, count(*) FROM calls GROUP BY module, name, version;
	CREATE TABLE IF NOT EXISTS function_stats (id TEXT PRIMARY KEY NOT NULL, module TEXT NULL, name TEXT NOT NULL, hits INTEGER NOT NULL, misses INTEGER NOT NULL,
		last_hit REAL NULL, compute_seconds REAL NOT NULL, saved_seconds REAL NOT NULL);
	DELETE FROM function_stats;
	INSERT INTO function_stats (id, module, name, hits, misses, last_hit, compute_seconds, saved_seconds)
		SELECT json_array(module, name), module, name, sum(hits), sum(misses), max(last_hit), sum(compute_seconds), sum(saved_seconds) FROM stats GROUP BY module, name;`,
];

/** The first schema version with `calls.created` and the per-function tables (`function_calls`, `function_stats`). */
export const summaryFrom = 5;

/** The first schema version whose migration only adds indexes: run before a compaction, never by a reader. */
export const indexMigrationsFrom = 3;

/**
 * The largest field (in bytes) a query copies out of SQLite: a row with a larger name, module, version, digest,
 * argument or metadata namespace reads as damaged, without the field being copied into JavaScript. Far above what
 * any record needs (digests are 64 characters); {@link CallSql.put} refuses such a record.
 */
export const maxFieldBytes = 1 << 20;

/**
 * The columns each table must have at a schema version (`0`: a Python fleche store), to be read at all. A snapshot
 * that lacks one is refused whole (see {@link schemaProblem}), rather than failing query after query.
 */
export function requiredColumns(version: number): Readonly<Record<string, readonly string[]>> {
	const calls = ['key', 'name', 'module', 'version', 'code_digest', 'result'];
	if (version >= 1) calls.push('async');
	if (version >= 2) calls.push('scheme');
	if (version >= 3) calls.push('signature');
	if (version >= summaryFrom) calls.push('created');
	const own: Record<string, readonly string[]> =
		version >= 1
			? {
					stats: ['key', 'name', 'module', 'hits', 'misses', 'last_hit', 'compute_seconds', 'saved_seconds'],
					fleche_info: ['name', 'value'],
				}
			: {};
	if (version >= summaryFrom) {
		own['function_calls'] = ['id', 'module', 'name', 'version', 'calls'];
		own['function_stats'] = ['id', 'module', 'name', 'hits', 'misses', 'last_hit', 'compute_seconds', 'saved_seconds'];
	}
	return { calls, arguments: ['call_key', 'position', 'name', 'value'], metadata: ['call_key', 'name', 'data'], ...own };
}

/** Expressions in a table's definition, which SQLite would evaluate on our reads or writes: refused in a snapshot. */
const definitionExpression = /\b(?:CHECK|AS|DEFAULT)\s*\(/i;

/** What a loaded snapshot's `sqlite_master` and table columns say, as {@link schemaProblem} needs them. */
export interface SchemaFacts {
	/** `sqlite_master` rows: `[type, name, tbl_name, sql]`. */
	readonly objects: readonly (readonly [string, string, string, string | null])[];
	/** Columns of each table by name: `[name, hidden]` from `PRAGMA table_xinfo` (hidden ≠ 0: generated or virtual). */
	readonly columns: Readonly<Record<string, readonly (readonly [string, number])[]>>;
	/** Index names whose columns include an expression (`PRAGMA index_xinfo` cid -2). */
	readonly expressionIndexes: readonly string[];
	/** `fleche_info.schema_version`, 0 without it. */
	readonly version: number;
}

/**
 * Why a snapshot must not be used, or null when it may: anything in it that SQLite would run on our behalf (a
 * trigger, which fires on the writes that replay the log, recursively or not; a view; a CHECK, generated column,
 * expression default or expression index), a virtual table, or a table of ours without a column the queries read.
 * Checked on the loaded file before anything else runs on it, so a hostile file costs one warning, not a stall per call.
 */
export function schemaProblem(facts: SchemaFacts): string | null {
	const ours = requiredColumns(Math.min(facts.version, schemaVersion));
	for (const [type, name, , text] of facts.objects) {
		if (type === 'trigger' || type === 'view') return `it holds a ${type} (${JSON.stringify(name)}), which fleche never creates`;
		if (type === 'table' && text !== null && /^\s*CREATE\s+VIRTUAL\b/i.test(text)) return `table ${JSON.stringify(name)} is a virtual table`;
		if (type === 'table' && name in ours && text !== null && definitionExpression.test(text)) {
			return `table ${name} is defined with an expression (CHECK, generated column or expression default)`;
		}
	}
	if (facts.expressionIndexes.length > 0) return `index ${JSON.stringify(facts.expressionIndexes[0])} is on an expression`;
	for (const [table, wanted] of Object.entries(ours)) {
		const have = facts.columns[table];
		if (have === undefined) return `table ${table} is missing`;
		const generated = have.find(([, hidden]) => hidden !== 0);
		if (generated !== undefined) return `column ${table}.${generated[0]} is generated`;
		const missing = wanted.find((column) => !have.some(([name]) => name === column));
		if (missing !== undefined) return `table ${table} has no column ${missing}`;
	}
	return null;
}

/**
 * How the worker's answer to every request begins when it could not open the store (a path under a file, a folder it
 * may not read): the calling thread reads it as it reads a failed worker, its calls as misses (store.ts).
 */
export const openFailedText = 'Cannot open the cache database ';

/**
 * Connection settings (not stored in the file). The database lives in sql.js's in-memory file system, owned by one
 * worker: no journal file, no fsync, and an exclusive lock, which spares SQLite re-reading page 1 and re-locking at
 * every transaction (measured 7× faster small transactions and 2× faster lookups in sql.js).
 */
export const connectionPragmas =
	'PRAGMA trusted_schema = OFF; PRAGMA recursive_triggers = OFF; PRAGMA foreign_keys = ON; PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE; PRAGMA cache_size = -65536;';

/** `column`, or NULL when it holds more than {@link maxFieldBytes} (measured without reading it: `octet_length`). */
function capped(column: string): string {
	return `CASE WHEN octet_length(${column}) > ${maxFieldBytes} THEN NULL ELSE ${column} END`;
}

/** 1 when any of `columns` holds more than {@link maxFieldBytes}, else 0: the row is then damaged. */
function oversized(columns: readonly string[]): string {
	return `(${columns.map((c) => `ifnull(octet_length(${c}) > ${maxFieldBytes}, 0)`).join(' OR ')})`;
}

const callFields = ['key', 'name', 'module', 'version', 'code_digest', 'result', 'scheme', 'signature'];
/** The calls' columns in the order `recordsJson` reads them, each capped, then the oversized flag. */
const callColumns = (prefix: string): string =>
	`${callFields.map((c) => capped(prefix + c)).join(', ')}, ${prefix}async, ${oversized(callFields.map((c) => prefix + c))}`;
const argumentColumns = (prefix: string): string =>
	`${capped(`${prefix}call_key`)}, ${prefix}position, ${capped(`${prefix}name`)}, ${capped(`${prefix}value`)}, ${oversized([`${prefix}name`, `${prefix}value`])}`;
const metadataColumns = (prefix: string): string =>
	`${capped(`${prefix}call_key`)}, ${capped(`${prefix}name`)}, ${capped(`${prefix}data`)}, ${oversized([`${prefix}name`, `${prefix}data`])}`;
/** Keys a query may return to JavaScript: of a key's length at most (a longer one is no key). */
const keyFits = 'octet_length(key) <= 64';
/** Statistics rows a query may return: none of their text over {@link maxFieldBytes} (a larger one is skipped). */
const statsFit = `${keyFits} AND octet_length(name) <= ${maxFieldBytes} AND ifnull(octet_length(module), 0) <= ${maxFieldBytes}`;

/**
 * Calls a listing may group: name, module and version within {@link maxFieldBytes} (a larger one is a damaged row).
 * Only columns of the covering index `calls_function`, so the listing never reads the table.
 */
const callFits = `octet_length(name) <= ${maxFieldBytes} AND ifnull(octet_length(module), 0) <= ${maxFieldBytes} AND ifnull(octet_length(version), 0) <= ${maxFieldBytes}`;
/** {@link statsFit} without the key, which the covering index `stats_function` does not hold (grouping never returns it). */
const statsGroupFit = `octet_length(name) <= ${maxFieldBytes} AND ifnull(octet_length(module), 0) <= ${maxFieldBytes}`;

/** The upsert clause that adds a statistics delta to the row of `conflict`: counts and seconds sum, `last_hit` keeps the latest. */
function sumStats(conflict: string): string {
	return `ON CONFLICT (${conflict}) DO UPDATE SET
		hits = hits + excluded.hits,
		misses = misses + excluded.misses,
		last_hit = CASE WHEN last_hit IS NULL THEN excluded.last_hit WHEN excluded.last_hit IS NULL THEN last_hit
			ELSE max(last_hit, excluded.last_hit) END,
		compute_seconds = compute_seconds + excluded.compute_seconds,
		saved_seconds = saved_seconds + excluded.saved_seconds`;
}

/** Queries and statements, by use. `?` parameters in order. */
export const sql = {
	/**
	 * Columns of the calls, their arguments and their metadata, by key, by function name, or all (each row led by the
	 * call key, fields over {@link maxFieldBytes} NULL, and ending with a flag saying so).
	 */
	callByKey: `SELECT ${callColumns('')} FROM calls WHERE key = ?`,
	argumentsByKey: `SELECT ${argumentColumns('')} FROM arguments WHERE call_key = ?`,
	metadataByKey: `SELECT ${metadataColumns('')} FROM metadata WHERE call_key = ?`,
	/** As the three above, for every key of the JSON array `?` (a page of the tools' listing: one query, not one a key). */
	callsByKeys: `SELECT ${callColumns('')} FROM calls WHERE key IN (SELECT value FROM json_each(?))`,
	argumentsByKeys: `SELECT ${argumentColumns('')} FROM arguments WHERE call_key IN (SELECT value FROM json_each(?))`,
	metadataByKeys: `SELECT ${metadataColumns('')} FROM metadata WHERE call_key IN (SELECT value FROM json_each(?))`,
	callsByName: `SELECT ${callColumns('')} FROM calls WHERE name = ?`,
	argumentsByName: `SELECT ${argumentColumns('a.')} FROM calls AS c JOIN arguments AS a ON a.call_key = c.key WHERE c.name = ?`,
	metadataByName: `SELECT ${metadataColumns('m.')} FROM calls AS c JOIN metadata AS m ON m.call_key = c.key WHERE c.name = ?`,
	allCalls: `SELECT ${callColumns('')} FROM calls`,
	allArguments: `SELECT ${argumentColumns('')} FROM arguments`,
	allMetadata: `SELECT ${metadataColumns('')} FROM metadata`,
	contains: 'SELECT 1 FROM calls WHERE key = ?',
	/** Keys in `[?, ?)`, sorted, at most `?` of them: prefix expansion. */
	keyRange: `SELECT key FROM calls WHERE key >= ? AND key < ? AND ${keyFits} ORDER BY key LIMIT ?`,
	allKeys: `SELECT key FROM calls WHERE ${keyFits}`,
	/** Keys above `?`, sorted, at most `?` of them: the presence filter's scan (presence.ts). */
	keysAfter: `SELECT key FROM calls WHERE key > ? AND ${keyFits} ORDER BY key LIMIT ?`,
	countCalls: 'SELECT count(*) FROM calls',
	deleteCall: 'DELETE FROM calls WHERE key = ?',
	deleteArguments: 'DELETE FROM arguments WHERE call_key = ?',
	deleteMetadata: 'DELETE FROM metadata WHERE call_key = ?',
	insertCall: 'INSERT INTO calls (key, name, module, version, code_digest, result, async, scheme, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
	insertArgument: 'INSERT INTO arguments (call_key, position, name, value) VALUES (?, ?, ?, ?)',
	insertMetadata: 'INSERT INTO metadata (call_key, name, data) VALUES (?, ?, ?)',
	/** Adds a statistics delta: counts and seconds sum, `last_hit` keeps the latest. */
	addStats: `INSERT INTO stats (key, name, module, hits, misses, last_hit, compute_seconds, saved_seconds)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		${sumStats('key')}`,
	/** Statistics rows as `[key, name, module, hits, misses, last_hit, compute_seconds, saved_seconds]`. */
	allStats: `SELECT key, name, module, hits, misses, last_hit, compute_seconds, saved_seconds FROM stats WHERE ${statsFit}`,
	statsByName: `SELECT key, name, module, hits, misses, last_hit, compute_seconds, saved_seconds FROM stats WHERE name = ? AND ${statsFit}`,
	/** The statistics of every key of the JSON array `?`. */
	statsByKeys: `SELECT key, name, module, hits, misses, last_hit, compute_seconds, saved_seconds FROM stats WHERE key IN (SELECT value FROM json_each(?)) AND ${statsFit}`,
	/**
	 * The tools' listing (docs/behaviour.md §12), answered by the database instead of every record: functions with their
	 * number of calls and distinct versions (JSON texts), and their summed statistics.
	 */
	functions: `SELECT module, name, count(*), json_group_array(DISTINCT version) FROM calls WHERE ${callFits} GROUP BY module, name`,
	functionStats: `SELECT module, name, sum(hits), sum(misses), max(last_hit), sum(compute_seconds), sum(saved_seconds) FROM stats WHERE ${statsGroupFit} GROUP BY module, name`,
	/** How many calls one function (`name`, `module` — `IS`, so that null matches null) has. */
	countFunction: 'SELECT count(*) FROM calls WHERE name = ? AND module IS ?',
	/**
	 * Keys of a page of one function's calls (`name`, `module`, limit, offset), newest first by the Runtime metadata's
	 * `timestop` (else `timestart`; a number, checked, since the JSON is untrusted and a malformed text must not fail
	 * the query), calls without one last, then by key.
	 */
	functionPage: `SELECT c.key, ${createdOf('m.data')} AS created
		FROM calls AS c LEFT JOIN metadata AS m ON m.call_key = c.key AND m.name = 'runtime'
		WHERE c.name = ? AND c.module IS ?
		ORDER BY created IS NULL, created DESC, c.key LIMIT ? OFFSET ?`,
	/** From {@link summaryFrom} on: the same answers from the per-function tables and `calls_page`. */
	summary: {
		insertCall:
			'INSERT INTO calls (key, name, module, version, code_digest, result, async, scheme, signature, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
		/** Before a call (by key) is replaced or removed: its function's count goes down, and its row when none is left. */
		callGone: 'UPDATE function_calls SET calls = calls - 1 WHERE id = (SELECT json_array(module, name, version) FROM calls WHERE key = ?)',
		groupGone: 'DELETE FROM function_calls WHERE id = (SELECT json_array(module, name, version) FROM calls WHERE key = ?) AND calls <= 0',
		/** After a call was inserted (`module`, `name`, `version`). */
		callAdded:
			'INSERT INTO function_calls (id, module, name, version, calls) VALUES (json_array(?1, ?2, ?3), ?1, ?2, ?3, 1) ON CONFLICT (id) DO UPDATE SET calls = calls + 1',
		clear: 'DELETE FROM function_calls',
		/** A statistics delta summed into its function (`module`, `name`, then as {@link sql.addStats}). */
		addStats: `INSERT INTO function_stats (id, module, name, hits, misses, last_hit, compute_seconds, saved_seconds)
			VALUES (json_array(?1, ?2), ?1, ?2, ?3, ?4, ?5, ?6, ?7) ${sumStats('id')}`,
		functions: `SELECT module, name, sum(calls), json_group_array(version) FROM function_calls WHERE calls > 0 AND ${callFits} GROUP BY module, name`,
		functionStats: `SELECT module, name, hits, misses, last_hit, compute_seconds, saved_seconds FROM function_stats WHERE ${statsGroupFit}`,
		countFunction: 'SELECT ifnull(sum(calls), 0) FROM function_calls WHERE name = ? AND module IS ?',
		functionPage: 'SELECT key FROM calls WHERE name = ? AND module IS ? ORDER BY created DESC, key LIMIT ? OFFSET ?',
	},
	schemaVersion: "SELECT value FROM fleche_info WHERE name = 'schema_version'",
	tables: "SELECT name FROM sqlite_master WHERE type = 'table'",
} as const;

/** Why a stored record cannot be used; the message says what is wrong. */
export class BadRecord extends Error {}

function isPlainObject(value: unknown): value is Record<string, unknown> {
	if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
	const proto = Object.getPrototypeOf(value) as unknown;
	return proto === Object.prototype || proto === null;
}

function isJson(value: unknown, depth = 0): boolean {
	if (depth > 200) return false;
	if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
	if (typeof value === 'number') return Number.isFinite(value);
	if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
	if (isPlainObject(value)) return Object.values(value).every((v) => isJson(v, depth + 1));
	return false;
}

/**
 * Checks a record read back (from a row, a log line or a caller) field by field and against its own key, and
 * returns a clean copy. `arguments` may be given as `[name, digest]` pairs (the row form) or an object.
 * @param expectedKey - the key it was looked up under, when there is one.
 * @throws BadRecord naming the first problem.
 */
export function parseRecord(raw: unknown, expectedKey?: string): CallRecord {
	const bad = (why: string): never => {
		throw new BadRecord(why);
	};
	if (!isPlainObject(raw)) return bad('not an object');
	if (raw['oversized'] === true) bad(`a field is larger than ${maxFieldBytes} bytes`);
	const { key, name, module, codeDigest, result, metadata } = raw;
	const version = raw['version'];
	if (!isKey(key)) bad('key is not 64 lowercase hex characters');
	if (expectedKey !== undefined && key !== expectedKey) bad(`holds the record of key ${String(key)}`);
	if (typeof name !== 'string' || name === '') bad('name is not a non-empty string');
	if (module !== null && typeof module !== 'string') bad('module is not a string or null');
	if (version !== null && typeof version !== 'string' && !(typeof version === 'number' && Number.isFinite(version))) {
		bad('version is not a string, number or null');
	}
	if (codeDigest !== null && !isKey(codeDigest)) bad('codeDigest is not a digest or null');
	if (result !== null && !isKey(result)) bad('result is not a digest or null');
	const args: Record<string, string> = {};
	const rawArgs = raw['arguments'];
	const pairs: unknown[] = Array.isArray(rawArgs) ? rawArgs : isPlainObject(rawArgs) ? Object.entries(rawArgs) : bad('arguments is not an object');
	for (const pair of pairs) {
		if (!Array.isArray(pair) || pair.length !== 2) return bad('an argument is not a [name, digest] pair');
		const [argName, digest] = pair as [unknown, unknown];
		if (typeof argName !== 'string' || !isKey(digest)) return bad(`argument ${JSON.stringify(argName)} is not a name and a digest`);
		if (Object.prototype.hasOwnProperty.call(args, argName)) bad(`argument ${argName} appears twice`);
		args[argName] = digest as string;
	}
	const meta: Metadata = {};
	if (metadata !== null && metadata !== undefined) {
		if (!isPlainObject(metadata)) bad('metadata is not an object');
		for (const [ns, values] of Object.entries(metadata as Record<string, unknown>)) {
			if (!isPlainObject(values) || !isJson(values)) bad(`metadata.${ns} is not a JSON object`);
			meta[ns] = values as Metadata[string];
		}
	} else if (metadata === undefined) {
		bad('metadata is missing');
	}
	const flag = raw['async'];
	if (flag !== undefined && flag !== null && flag !== true && flag !== false && flag !== 1 && flag !== 0) bad('async is not a boolean');
	const scheme = raw['scheme'];
	if (scheme !== undefined && scheme !== null && !isSchemeName(scheme)) bad('scheme is not a key scheme name');
	const record: CallRecord = {
		key: key as string,
		name: name as string,
		module: module as string | null,
		version: version as string | number | null,
		codeDigest: codeDigest as string | null,
		arguments: args,
		result: result as string | null,
		metadata: meta,
		...(flag === true || flag === 1 ? { async: true } : flag === false || flag === 0 ? { async: false } : {}),
		...(typeof scheme === 'string' ? { scheme } : {}),
	};
	// A record of another key scheme is stale, not edited: it is kept, and the cache reads it as a miss.
	if (!keyHolds(record)) bad('record fields do not hash to its key (edited)');
	return record;
}

/** What field of a checked record is over {@link maxFieldBytes}, or undefined: such a record would read back as damaged. */
export function oversizedField(record: CallRecord): string | undefined {
	const over = (text: string): boolean => text.length > maxFieldBytes / 3 && Buffer.byteLength(text) > maxFieldBytes;
	for (const [field, value] of [['name', record.name], ['module', record.module], ['version', JSON.stringify(record.version)]] as const) {
		if (typeof value === 'string' && over(value)) return `its ${field} is larger than ${maxFieldBytes} bytes`;
	}
	for (const name of Object.keys(record.arguments)) if (over(name)) return `an argument name is larger than ${maxFieldBytes} bytes`;
	for (const [ns, values] of Object.entries(record.metadata)) if (over(ns) || over(JSON.stringify(values))) return `its metadata.${ns} is larger than ${maxFieldBytes} bytes`;
	return undefined;
}

/** Checks a statistics delta; returns a clean copy. @throws BadRecord */
export function parseStats(raw: unknown): CallStats {
	const bad = (why: string): never => {
		throw new BadRecord(`statistics ${why}`);
	};
	if (!isPlainObject(raw)) return bad('entry is not an object');
	const { key, name, module, hits, misses, lastHit, computeSeconds, savedSeconds } = raw;
	if (!isKey(key)) bad('key is not a full key');
	if (typeof name !== 'string') bad('name is not a string');
	if (module !== null && typeof module !== 'string') bad('module is not a string or null');
	const count = (v: unknown, what: string): number =>
		typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : bad(`${what} is not a count`);
	const seconds = (v: unknown, what: string): number =>
		typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : bad(`${what} is not a number of seconds`);
	return {
		key: key as string,
		name: name as string,
		module: module as string | null,
		hits: count(hits, 'hits'),
		misses: count(misses, 'misses'),
		lastHit: lastHit === null ? null : seconds(lastHit, 'lastHit'),
		computeSeconds: seconds(computeSeconds, 'computeSeconds'),
		savedSeconds: seconds(savedSeconds, 'savedSeconds'),
	};
}
