// docs/behaviour.md §1.12, §2.6 "PostgreSQL": the contract of the PostgreSQL team store on the server — tables, schema
// version, statements — and the rules that keep a password out of every message.
//
// Everything lives in one PostgreSQL schema (namespace), `fleche` unless the configuration names another, so several
// projects can share a database:
//
//   <schema>.fleche_info  (name, value)                 `schema_version` (the number below), `created_by`
//   <schema>.calls        one row per call record       key, name, module, version (JSON text), code_digest, result,
//                                                       async, scheme, created (seconds since the epoch: Runtime
//                                                       metadata, else the server's clock at the write), seq (from
//                                                       <schema>.call_seq, new at every write: tools' change probe),
//                                                       args_json and meta_json (since version 4: copies of the
//                                                       record's argument and metadata rows, see below)
//   <schema>.arguments    (call_key, position, name, value)   argument digests in signature order
//   <schema>.metadata     (call_key, name, data)        one JSON object per namespace (`runtime`, `tags`, …)
//   <schema>.stats        summed hit/miss statistics by call key (kept when the call is evicted)
//   <schema>.stored_values (digest, serializer, data, size, touched)   content-addressed values, stored once
//   <schema>.leases       who holds the lease of a call in flight (docs/behaviour.md §3.6): key, lock_id, owner,
//                         since and heartbeat (milliseconds since the epoch); the lease itself is the advisory lock
//   <schema>.functions    (name, module, version, module_key, version_key, calls): how many calls each function
//                         version has, kept by statement triggers on `calls` (what the tools list first: a listing of
//                         1,000,000 calls reads this small table, not the calls)
//   <schema>.function_stats  statistics summed by function (name, module, module_key), added with each delta
//
// `module_key`/`version_key` are the nullable columns made keys: '' for NULL, '/' + the text otherwise (portable to
// servers before PostgreSQL 15's NULLS NOT DISTINCT). Indexes beyond the keys: `calls_name_key` (name, key) pages one
// function's records in key order; `calls_listing` (name, module, created DESC NULLS LAST, key) pages them newest first.
//
// `args_json` (`[[name, digest], …]` in position order) and `meta_json` (`{namespace: data as JSON text}`) repeat the
// argument and metadata rows in the call's own row, written with them: reading a record (a hit, a page of a thousand)
// reads one row instead of three scattered ones. Rows written before version 4 (or by a writer that leaves them
// NULL) are read from the argument and metadata tables, as before; the tables stay the reference (§2.6) and what
// queries by argument use. Both copies are untrusted input like the rest: a copy that does not parse is a damaged
// record, and the arguments are checked against the key either way.
//
// Invariants:
// - A call record is written in one transaction (its row, then its arguments and metadata replaced), so a reader or a
//   writer killed at any point sees the whole record or none of it. Two writers of one key serialise on its row lock:
//   the later record wins, with its own arguments and metadata (its row's copies exactly; in the tables, a metadata
//   namespace only the earlier of two concurrent writers had stays beside them, `upsertCalls`). A batch of puts (values, then records) is one
//   transaction (`writeBatch` in pgEngine.ts): its rows are sent sorted by key, so that two writers of overlapping
//   batches take their row locks in the same order (a deadlock the server still reports is retried).
// - A value is inserted `ON CONFLICT DO NOTHING` on its digest (only its `touched` time moves): stored once however
//   many calls or machines return it.
// - Statistics are deltas added `ON CONFLICT DO UPDATE` (counts and seconds sum, `last_hit` keeps the latest), merged
//   by key before they are sent so one statement never touches a row twice.
// - The schema is created on first use, under a transaction-scoped advisory lock so two first users do not race on
//   `CREATE TABLE`. A schema whose `schema_version` is above {@link schemaVersion} was written by a newer fleche: it is
//   neither read nor written (one clear error). Older versions are brought up to date by {@link migrations}.
// - A call's lease is the session-level advisory lock `lock_id` (63 bits of SHA-256 of `<schema>:<key>`), taken
//   with `pg_try_advisory_lock` on a connection the holder keeps open: the server frees it when that session ends (a
//   killed holder, a lost connection), so there is no stale time to wait out. The `leases` row only says who holds
//   it, for waiters and tools; a row whose lock nobody holds (`pg_locks`) is a leftover that `gc` removes.
// - Records and values are untrusted input: every record read is checked field by field and against its key
//   (`parseRecord`, shared with the SQLite store); a value that cannot be decoded is a miss with a warning.

/** Schema version this runtime writes; {@link migrations} bring older schemas up to it. */
export const schemaVersion = 4;

/** The schema (namespace) used when the configuration names none. */
export const defaultSchema = 'fleche';

/** Version 2: the table of lease holders (version 1 had none). */
const leasesTable = (s: string): string => `
CREATE TABLE IF NOT EXISTS ${s}.leases (
	key CHAR(64) PRIMARY KEY,
	lock_id BIGINT NOT NULL,
	owner TEXT NOT NULL,
	since DOUBLE PRECISION NOT NULL,
	heartbeat DOUBLE PRECISION NOT NULL
);`;

/** A nullable column as a key column ('' for NULL, '/' + the text otherwise: NULL and '' stay apart). */
const keyOf = (column: string): string => `CASE WHEN ${column} IS NULL THEN '' ELSE '/' || ${column} END`;

/**
 * Version 3: the listing's summaries and their triggers, and the indexes of by-name reads. Created by
 * {@link createSchema} (`IF NOT EXISTS`, triggers replaced); the migration drops the old `calls_name` index and fills
 * the summaries from what the tables hold (emptied first: running it twice counts once).
 */
const listingObjects = (s: string): string => `
CREATE INDEX IF NOT EXISTS calls_name_key ON ${s}.calls (name, key);
CREATE INDEX IF NOT EXISTS calls_listing ON ${s}.calls (name, module, created DESC NULLS LAST, key);
CREATE TABLE IF NOT EXISTS ${s}.functions (
	name TEXT NOT NULL,
	module TEXT NULL,
	version TEXT NULL,
	module_key TEXT NOT NULL,
	version_key TEXT NOT NULL,
	calls BIGINT NOT NULL,
	PRIMARY KEY (name, module_key, version_key)
);
CREATE TABLE IF NOT EXISTS ${s}.function_stats (
	name TEXT NOT NULL,
	module TEXT NULL,
	module_key TEXT NOT NULL,
	hits BIGINT NOT NULL DEFAULT 0,
	misses BIGINT NOT NULL DEFAULT 0,
	last_hit DOUBLE PRECISION NULL,
	compute_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
	saved_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
	PRIMARY KEY (name, module_key)
);
CREATE OR REPLACE FUNCTION ${s}.fleche_count_calls() RETURNS trigger LANGUAGE plpgsql AS $fleche$
BEGIN
	-- Counts move by the rows this statement changed, grouped and sorted (one lock order for every writer).
	IF TG_OP = 'INSERT' THEN
		INSERT INTO ${s}.functions AS f (name, module, version, module_key, version_key, calls)
			SELECT name, module, version, ${keyOf('module')}, ${keyOf('version')}, count(*) FROM new_rows
			GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 4, 5
			ON CONFLICT (name, module_key, version_key) DO UPDATE SET calls = f.calls + excluded.calls;
	ELSIF TG_OP = 'DELETE' THEN
		UPDATE ${s}.functions AS f SET calls = f.calls - d.n
			FROM (SELECT name, ${keyOf('module')} AS mk, ${keyOf('version')} AS vk, count(*) AS n FROM old_rows GROUP BY 1, 2, 3) d
			WHERE f.name = d.name AND f.module_key = d.mk AND f.version_key = d.vk;
	ELSE
		-- A rewrite keeps its identity (the key hashes it): only a row whose name, module or version changed moves.
		INSERT INTO ${s}.functions AS f (name, module, version, module_key, version_key, calls)
			SELECT name, min(module), min(version), mk, vk, sum(n) FROM (
				SELECT name, module, version, ${keyOf('module')} AS mk, ${keyOf('version')} AS vk, 1 AS n FROM new_rows
				UNION ALL SELECT name, module, version, ${keyOf('module')}, ${keyOf('version')}, -1 FROM old_rows) d
			GROUP BY name, mk, vk HAVING sum(n) <> 0 ORDER BY 1, 4, 5
			ON CONFLICT (name, module_key, version_key) DO UPDATE SET calls = f.calls + excluded.calls;
	END IF;
	RETURN NULL;
END
$fleche$;
DROP TRIGGER IF EXISTS calls_counted_insert ON ${s}.calls;
DROP TRIGGER IF EXISTS calls_counted_update ON ${s}.calls;
DROP TRIGGER IF EXISTS calls_counted_delete ON ${s}.calls;
CREATE TRIGGER calls_counted_insert AFTER INSERT ON ${s}.calls REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ${s}.fleche_count_calls();
CREATE TRIGGER calls_counted_update AFTER UPDATE ON ${s}.calls REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ${s}.fleche_count_calls();
CREATE TRIGGER calls_counted_delete AFTER DELETE ON ${s}.calls REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ${s}.fleche_count_calls();`;

/** Version 4: the argument and metadata copies in the call row (NULL in rows written before: read from the tables). */
const recordCopies = (s: string): string => `
ALTER TABLE ${s}.calls ADD COLUMN IF NOT EXISTS args_json TEXT NULL;
ALTER TABLE ${s}.calls ADD COLUMN IF NOT EXISTS meta_json TEXT NULL;`;

/** 2 → 3: the summaries filled from the rows already there (see {@link listingObjects}, created just before). */
const fillListing = (s: string): string => `
DROP INDEX IF EXISTS ${s}.calls_name;
TRUNCATE ${s}.functions, ${s}.function_stats;
INSERT INTO ${s}.functions (name, module, version, module_key, version_key, calls)
	SELECT name, min(module), min(version), ${keyOf('module')}, ${keyOf('version')}, count(*) FROM ${s}.calls
	GROUP BY name, ${keyOf('module')}, ${keyOf('version')};
INSERT INTO ${s}.function_stats (name, module, module_key, hits, misses, last_hit, compute_seconds, saved_seconds)
	SELECT name, min(module), ${keyOf('module')}, sum(hits), sum(misses), max(last_hit), sum(compute_seconds), sum(saved_seconds)
	FROM ${s}.stats GROUP BY name, ${keyOf('module')};`;

/**
 * Numbered migrations: `migrations[n - 1](s)` turns a version-`n` schema in `s` (quoted) into version `n + 1`, in the
 * transaction that updates `schema_version`, after {@link createSchema} made what is missing of the current version.
 */
export const migrations: readonly ((s: string) => string)[] = [leasesTable, fillListing, recordCopies];

/** A PostgreSQL identifier, quoted (`"my ""odd"" name"`). */
export function quoteIdent(name: string): string {
	return `"${name.replace(/"/g, '""')}"`;
}

/** What a `schema` option may be: a plain identifier, so that it reads the same in `psql` and in messages. */
export function checkSchemaName(name: unknown): string {
	if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) {
		throw new TypeError(`A PostgreSQL schema name is letters, digits and '_' (not starting with a digit, at most 63), not ${JSON.stringify(name)}`);
	}
	return name;
}

/** The statements that create the current version of the schema in `s` (quoted), all `IF NOT EXISTS`. */
export function createSchema(s: string): string {
	return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.fleche_info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE SEQUENCE IF NOT EXISTS ${s}.call_seq;
CREATE TABLE IF NOT EXISTS ${s}.calls (
	key CHAR(64) PRIMARY KEY,
	name TEXT NOT NULL,
	module TEXT NULL,
	version TEXT NULL,
	code_digest CHAR(64) NULL,
	result CHAR(64) NULL,
	async BOOLEAN NULL,
	scheme TEXT NULL,
	created DOUBLE PRECISION NULL,
	seq BIGINT NOT NULL,
	args_json TEXT NULL,
	meta_json TEXT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.arguments (
	call_key CHAR(64) NOT NULL REFERENCES ${s}.calls (key) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	name TEXT NOT NULL,
	value CHAR(64) NOT NULL,
	PRIMARY KEY (call_key, name)
);
CREATE TABLE IF NOT EXISTS ${s}.metadata (
	call_key CHAR(64) NOT NULL REFERENCES ${s}.calls (key) ON DELETE CASCADE,
	name TEXT NOT NULL,
	data TEXT NOT NULL,
	PRIMARY KEY (call_key, name)
);
CREATE TABLE IF NOT EXISTS ${s}.stats (
	key CHAR(64) PRIMARY KEY,
	name TEXT NOT NULL,
	module TEXT NULL,
	hits BIGINT NOT NULL DEFAULT 0,
	misses BIGINT NOT NULL DEFAULT 0,
	last_hit DOUBLE PRECISION NULL,
	compute_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
	saved_seconds DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS stats_name ON ${s}.stats (name);
CREATE TABLE IF NOT EXISTS ${s}.stored_values (
	digest CHAR(64) PRIMARY KEY,
	serializer TEXT NOT NULL,
	data BYTEA NOT NULL,
	size INTEGER NOT NULL,
	touched DOUBLE PRECISION NOT NULL
);
${leasesTable(s)}
${listingObjects(s)}
`;
}

const callColumns = 'key, name, module, version, code_digest, result, async, scheme';
/** A statistics row `t` plus its delta `excluded`: counts and seconds sum, `last_hit` keeps the latest. */
const sumStats = `hits = t.hits + excluded.hits,
	misses = t.misses + excluded.misses,
	last_hit = CASE WHEN t.last_hit IS NULL THEN excluded.last_hit WHEN excluded.last_hit IS NULL THEN t.last_hit
		ELSE greatest(t.last_hit, excluded.last_hit) END,
	compute_seconds = t.compute_seconds + excluded.compute_seconds,
	saved_seconds = t.saved_seconds + excluded.saved_seconds`;
const now = 'extract(epoch from clock_timestamp())';
const nowMs = `(${now} * 1000)`;
/** Whether some session of this database holds the advisory lock `l.lock_id` (a bigint lock: classid high, objid low). */
const lockHeld = `EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 1
	AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	AND ((k.classid::bigint << 32) | k.objid::bigint) = l.lock_id)`;

/**
 * The statements of a store in schema `s` (quoted). `$n` parameters in order. A parameter compared with a key or
 * digest column is `bpchar`, as the column: one typed `text` (an array `$1::text[]`, as evictions had) makes the server
 * cast the column to `text` for each row, and the index cannot seek (an eviction read all 1,000,000 rows). Parameters
 * the server types from the column (`key > $1`) are cast all the same, so that none depends on that inference.
 */
export function statements(s: string) {
	// The copies in the row, else (a row without them) the rows of the tables: a CASE runs its subquery only then.
	const argsJson = `c.args_json, CASE WHEN c.args_json IS NULL THEN (SELECT coalesce(json_agg(json_build_array(a.name, a.value) ORDER BY a.position), '[]') FROM ${s}.arguments a WHERE a.call_key = c.key) END AS args`;
	const metaJson = `c.meta_json, CASE WHEN c.meta_json IS NULL THEN (SELECT coalesce(json_object_agg(m.name, m.data), '{}') FROM ${s}.metadata m WHERE m.call_key = c.key) END AS meta`;
	const pageOf = (moduleIs: string): string => `SELECT c.${callColumns.replace(/, /g, ', c.')}, ${argsJson}, ${metaJson},
			(SELECT coalesce(sum(f.calls), 0)::float8 FROM ${s}.functions f WHERE f.name = $1 AND f.module_key = $5) AS total,
			(SELECT json_build_array(t.hits, t.misses, t.last_hit, t.compute_seconds, t.saved_seconds) FROM ${s}.stats t WHERE t.key = c.key) AS stat,
			(SELECT coalesce(json_agg(json_build_array(v.digest, v.serializer, encode(v.data, 'base64'))), '[]')
				FROM (SELECT c.result AS d UNION SELECT a.value FROM ${s}.arguments a WHERE a.call_key = c.key) x
				JOIN ${s}.stored_values v ON v.digest = x.d WHERE v.size <= 65536) AS shown
		FROM ${s}.calls c WHERE c.name = $1 AND ${moduleIs}
		ORDER BY c.created DESC NULLS LAST, c.key LIMIT $3 OFFSET $4`;
	return {
		schemaVersion: `SELECT value FROM ${s}.fleche_info WHERE name = 'schema_version'`,
		setVersion: `INSERT INTO ${s}.fleche_info (name, value) VALUES ('schema_version', $1), ('created_by', 'fleche for TypeScript')
			ON CONFLICT (name) DO UPDATE SET value = CASE WHEN ${s}.fleche_info.name = 'schema_version' THEN excluded.value ELSE ${s}.fleche_info.value END`,
		/**
		 * One record's columns, its arguments (`[[name, digest], …]` in position order) and metadata (`{ns: data}` as
		 * JSON text) — the row's copies, or the tables' rows when it has none — and its result value's row when there is
		 * one: a hit is one round trip.
		 */
		callByKey: `SELECT c.${callColumns.replace(/, /g, ', c.')}, ${argsJson}, ${metaJson},
			v.serializer AS value_serializer, v.data AS value_data
			FROM ${s}.calls c LEFT JOIN ${s}.stored_values v ON v.digest = c.result WHERE c.key = $1`,
		/** As `callByKey`, for every key of the array `$1` that is stored, with the key first. */
		callsByKeys: `SELECT c.${callColumns.replace(/, /g, ', c.')}, ${argsJson}, ${metaJson},
			v.serializer AS value_serializer, v.data AS value_data
			FROM ${s}.calls c LEFT JOIN ${s}.stored_values v ON v.digest = c.result WHERE c.key = ANY($1::bpchar[])`,
		/** A page of records in key order after `$1` (`''` for the first), at most `$2`. */
		recordsPage: `SELECT c.${callColumns.replace(/, /g, ', c.')}, ${argsJson}, ${metaJson}
			FROM ${s}.calls c WHERE c.key > $1::bpchar ORDER BY c.key LIMIT $2`,
		/** As `recordsPage`, of function `$3` only (the index `calls_name_key`). */
		recordsPageByName: `SELECT c.${callColumns.replace(/, /g, ', c.')}, ${argsJson}, ${metaJson}
			FROM ${s}.calls c WHERE c.name = $3 AND c.key > $1::bpchar ORDER BY c.key LIMIT $2`,
		/**
		 * The tools' listing (docs/behaviour.md §12) from the summaries: functions with their number of calls and their
		 * versions (JSON texts), and with their summed statistics; a function with statistics only has no calls. One
		 * JSON text of `[module, name, calls, versions, hits, misses, last_hit, compute_seconds, saved_seconds]` rows:
		 * parsed natively in one go, where a thousand rows through the driver's row parser, in a worker whose code has
		 * not warmed up yet (a tool's first screen), took 15 ms more.
		 */
		functions: `SELECT coalesce(json_agg(json_build_array(l.module, l.name, l.calls, l.versions, l.hits, l.misses, l.last_hit,
				l.compute_seconds, l.saved_seconds)), '[]')::text AS listing
			FROM (SELECT coalesce(f.name, t.name) AS name, CASE WHEN f.name IS NULL THEN t.module ELSE f.module END AS module,
				coalesce(f.calls, 0)::float8 AS calls, coalesce(f.versions, '[]') AS versions, t.hits::float8 AS hits, t.misses::float8 AS misses,
				t.last_hit, t.compute_seconds, t.saved_seconds
			FROM (SELECT name, module_key, min(module) AS module, sum(calls) AS calls, json_agg(version) AS versions
				FROM ${s}.functions WHERE calls > 0 GROUP BY name, module_key) f
			FULL JOIN ${s}.function_stats t ON t.name = f.name AND t.module_key = f.module_key) l`,
		/** How many calls function `$1` of module key `$2` has (from the summary). */
		functionTotal: `SELECT coalesce(sum(calls), 0)::float8 AS n FROM ${s}.functions WHERE name = $1 AND module_key = $2`,
		/**
		 * A page of function `$1` (module `$2`)'s records, newest first, then by key: `$3` of them from `$4` (the index
		 * `calls_listing`), with what a listing shows beside each — in one statement, so one round trip: the function's
		 * number of calls (`total`, module key `$5`, from the summary: the same in every row), the call's statistics
		 * (`stat`: `[hits, misses, last_hit, compute_seconds, saved_seconds]` or null) and the values it shows, its result
		 * and arguments up to the preview size (`shown`: `[[digest, serializer, base64 data], …]`).
		 */
		functionPage: pageOf('c.module = $2'),
		/** As `functionPage`, of a function without a module (`$2` unused, NULL). */
		functionPageNoModule: pageOf('c.module IS NULL AND $2::text IS NULL'),
		/** A page of what tools list, in key order after `$1`, at most `$2`. */
		entriesPage: `SELECT key, module, name, version, created FROM ${s}.calls WHERE key > $1::bpchar ORDER BY key LIMIT $2`,
		/** Changes at least one of the two whenever a record is written or removed. */
		probe: `SELECT count(*)::text AS n, coalesce(max(seq), 0)::text AS seq FROM ${s}.calls`,
		containsCall: `SELECT 1 FROM ${s}.calls WHERE key = $1`,
		callKeys: `SELECT key FROM ${s}.calls`,
		callRange: `SELECT key FROM ${s}.calls WHERE key >= $1::bpchar AND key < $2::bpchar ORDER BY key LIMIT $3`,
		createdOf: `SELECT created FROM ${s}.calls WHERE key = $1`,
		/** A batch's values (`$1` digests, `$2` serializers, `$3` bytes), sorted; a value held already is only touched. */
		putValues: `INSERT INTO ${s}.stored_values AS t (digest, serializer, data, size, touched)
			SELECT d, z, v, octet_length(v), ${now} FROM unnest($1::text[], $2::text[], $3::bytea[]) AS x(d, z, v) ORDER BY d
			ON CONFLICT (digest) DO UPDATE SET touched = excluded.touched`,
		/**
		 * A batch's call rows, one array per column (`$9` created, null: the server's clock; `$10`, `$11` the copies of
		 * the arguments and metadata), sorted by key; and the argument and metadata rows of the calls it replaced (not of
		 * new ones: a batch of new calls probes neither table here). An updated row is told from an inserted one by its
		 * `xmax` (the lock its update took; 0 for an insert). Another writer's record of the same key committed while
		 * this statement waited for its row is not in this statement's snapshot: `insertRows` overwrites its rows.
		 */
		upsertCalls: `WITH up AS (INSERT INTO ${s}.calls AS t (${callColumns}, created, seq, args_json, meta_json)
				SELECT k, n, m, v, d, r, a, z, coalesce(w, ${now}), nextval('${s}.call_seq'), aj, mj
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[], $9::float8[], $10::text[], $11::text[])
					AS x(k, n, m, v, d, r, a, z, w, aj, mj) ORDER BY k
				ON CONFLICT (key) DO UPDATE SET name = excluded.name, module = excluded.module, version = excluded.version,
					code_digest = excluded.code_digest, result = excluded.result, async = excluded.async, scheme = excluded.scheme,
					created = excluded.created, seq = excluded.seq, args_json = excluded.args_json, meta_json = excluded.meta_json
				RETURNING t.key, t.xmax::text <> '0' AS replaced),
			gone AS (SELECT coalesce(array_agg(key), '{}') AS keys FROM up WHERE replaced),
			a AS (DELETE FROM ${s}.arguments WHERE call_key = ANY((SELECT keys FROM gone)::bpchar[]))
			DELETE FROM ${s}.metadata WHERE call_key = ANY((SELECT keys FROM gone)::bpchar[])`,
		/**
		 * A batch's argument rows (`$1`–`$4`: key, position, name, digest) and metadata rows (`$5`–`$7`: key, namespace,
		 * JSON); a row already there (a record of the same key another writer committed meanwhile) is overwritten.
		 */
		insertRows: `WITH a AS (INSERT INTO ${s}.arguments AS t (call_key, position, name, value)
				SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[])
				ON CONFLICT (call_key, name) DO UPDATE SET position = excluded.position, value = excluded.value)
			INSERT INTO ${s}.metadata AS t (call_key, name, data) SELECT * FROM unnest($5::text[], $6::text[], $7::text[])
			ON CONFLICT (call_key, name) DO UPDATE SET data = excluded.data`,
		evictCalls: `DELETE FROM ${s}.calls WHERE key = ANY($1::bpchar[]) RETURNING key`,
		/**
		 * Statistics deltas (merged by key) added to their keys' rows and to their functions' sums, rows sorted (one lock
		 * order for every writer).
		 */
		addStats: `WITH d AS (
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::float8[], $7::float8[], $8::float8[])
					AS d(key, name, module, hits, misses, last_hit, compute_seconds, saved_seconds)),
			f AS (INSERT INTO ${s}.function_stats AS t (name, module, module_key, hits, misses, last_hit, compute_seconds, saved_seconds)
				SELECT name, min(module), ${keyOf('module')}, sum(hits), sum(misses), max(last_hit), sum(compute_seconds), sum(saved_seconds)
				FROM d GROUP BY name, ${keyOf('module')} ORDER BY 1, 3
				ON CONFLICT (name, module_key) DO UPDATE SET ${sumStats})
			INSERT INTO ${s}.stats AS t (key, name, module, hits, misses, last_hit, compute_seconds, saved_seconds)
			SELECT * FROM d ORDER BY key
			ON CONFLICT (key) DO UPDATE SET ${sumStats}`,
		stats: `SELECT key, name, module, hits::float8, misses::float8, last_hit, compute_seconds, saved_seconds FROM ${s}.stats`,
		/** As `stats`, of function `$1` (its own statement: a generic plan of `$1 IS NULL OR name = $1` reads every row). */
		statsByName: `SELECT key, name, module, hits::float8, misses::float8, last_hit, compute_seconds, saved_seconds FROM ${s}.stats WHERE name = $1`,
		/** The metadata texts of namespace `$1` (the `files` calls hold: their bodies' digests are its keys), for `orphanValues`. */
		fileBodies: `SELECT data FROM ${s}.metadata WHERE name = $1`,
		/**
		 * The values no call refers to, as its result or an argument, and not among `$1` (the file bodies calls name in
		 * their metadata): `gc`'s question, answered by anti-joins on the server, which reads for it what it must and
		 * sends only the answer.
		 */
		orphanValues: `SELECT v.digest FROM ${s}.stored_values v
			WHERE NOT EXISTS (SELECT 1 FROM ${s}.calls c WHERE c.result = v.digest)
				AND NOT EXISTS (SELECT 1 FROM ${s}.arguments a WHERE a.value = v.digest)
				AND v.digest <> ALL($1::bpchar[])`,
		getValue: `SELECT serializer, data FROM ${s}.stored_values WHERE digest = $1`,
		refreshValue: `UPDATE ${s}.stored_values SET touched = ${now} WHERE digest = $1 RETURNING 1`,
		containsValue: `SELECT 1 FROM ${s}.stored_values WHERE digest = $1`,
		valueKeys: `SELECT digest FROM ${s}.stored_values`,
		valueRange: `SELECT digest FROM ${s}.stored_values WHERE digest >= $1::bpchar AND digest < $2::bpchar ORDER BY digest LIMIT $3`,
		valueSize: `SELECT size FROM ${s}.stored_values WHERE digest = $1`,
		evictValue: `DELETE FROM ${s}.stored_values WHERE digest = $1 RETURNING 1`,
		/** Removes the value unless it was written or refreshed in the last `$2` milliseconds. */
		evictIdleValue: `DELETE FROM ${s}.stored_values WHERE digest = $1 AND touched < ${now} - $2::float8 / 1000 RETURNING 1`,
		/**
		 * Takes the lease of key `$1` (lock `$2`) for owner `$3`, in one statement: the lock for this session if no
		 * session holds it, then its holder row (replacing a leftover); `got`, and when not got who holds it (no row: a
		 * holder of unknown identity, or one that just let go).
		 */
		takeLease: `WITH t AS (SELECT pg_try_advisory_lock($2::bigint) AS got),
			c AS (INSERT INTO ${s}.leases (key, lock_id, owner, since, heartbeat) SELECT $1::bpchar, $2::bigint, $3::text, ${nowMs}, ${nowMs} FROM t WHERE t.got
				ON CONFLICT (key) DO UPDATE SET lock_id = excluded.lock_id, owner = excluded.owner, since = excluded.since, heartbeat = excluded.heartbeat
				RETURNING 1)
			SELECT t.got, l.owner, l.since, l.heartbeat FROM t LEFT JOIN ${s}.leases l ON NOT t.got AND l.key = $1::bpchar`,
		unlock: `SELECT pg_advisory_unlock($1::bigint) AS released`,
		leaseOf: `SELECT owner, since, heartbeat FROM ${s}.leases WHERE key = $1`,
		beatLease: `UPDATE ${s}.leases SET heartbeat = ${nowMs} WHERE key = $1 AND owner = $2 RETURNING 1`,
		dropLease: `DELETE FROM ${s}.leases WHERE key = $1 AND owner = $2`,
		/** Leases whose lock is held now. */
		heldLeases: `SELECT l.key, l.owner, l.since, l.heartbeat FROM ${s}.leases l WHERE ${lockHeld} ORDER BY l.since`,
		/** Removes holder rows whose lock nobody holds (their holders are gone). */
		sweepLeases: `DELETE FROM ${s}.leases l WHERE NOT ${lockHeld} RETURNING 1`,
	} as const;
}

/** The statements of one schema, by name. */
export type Statements = ReturnType<typeof statements>;

/**
 * A connection URL as it may be shown: without its password (in the user part or a `password` parameter). What is
 * not a URL is not shown at all.
 */
export function redactUrl(url: string): string {
	let parsed: URL;
	try {
		parsed = new URL(url);
	} catch {
		return '(a connection string that is not a URL)';
	}
	parsed.password = '';
	parsed.searchParams.delete('password');
	return parsed.toString();
}

/** The password written in a connection URL, if any. */
export function urlPassword(url: string): string | undefined {
	try {
		const parsed = new URL(url);
		const password = parsed.password !== '' ? decodeURIComponent(parsed.password) : parsed.searchParams.get('password');
		return password === null || password === '' ? undefined : password;
	} catch {
		return undefined;
	}
}

/** Replaces every occurrence of `secret` in `text` (a server or driver message may echo a connection string). */
export function scrub(text: string, secret: string | undefined): string {
	if (secret === undefined || secret === '') return text;
	return text.split(secret).join('***').split(encodeURIComponent(secret)).join('***');
}
