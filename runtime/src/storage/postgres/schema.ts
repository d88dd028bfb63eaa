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
//                                                       <schema>.call_seq, new at every write: tools' change probe)
//   <schema>.arguments    (call_key, position, name, value)   argument digests in signature order
//   <schema>.metadata     (call_key, name, data)        one JSON object per namespace (`runtime`, `tags`, …)
//   <schema>.stats        summed hit/miss statistics by call key (kept when the call is evicted)
//   <schema>.stored_values (digest, serializer, data, size, touched)   content-addressed values, stored once
//   <schema>.leases       who holds the lease of a call in flight (docs/behaviour.md §3.6): key, lock_id, owner,
//                         since and heartbeat (milliseconds since the epoch); the lease itself is the advisory lock
//
// Invariants:
// - A call record is written in one transaction (its row, then its arguments and metadata replaced), so a reader or a
//   writer killed at any point sees the whole record or none of it. Two writers of one key serialise on its row lock:
//   the later record wins, with exactly its own arguments and metadata.
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
export const schemaVersion = 2;

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

/**
 * Numbered migrations: `migrations[n - 1](s)` turns a version-`n` schema in `s` (quoted) into version `n + 1`, in the
 * transaction that updates `schema_version`.
 */
export const migrations: readonly ((s: string) => string)[] = [leasesTable];

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
	seq BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_name ON ${s}.calls (name);
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
`;
}

const callColumns = 'key, name, module, version, code_digest, result, async, scheme';
const now = 'extract(epoch from clock_timestamp())';
const nowMs = `(${now} * 1000)`;
/** Whether some session of this database holds the advisory lock `l.lock_id` (a bigint lock: classid high, objid low). */
const lockHeld = `EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 1
	AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	AND ((k.classid::bigint << 32) | k.objid::bigint) = l.lock_id)`;

/** The statements of a store in schema `s` (quoted). `$n` parameters in order. */
export function statements(s: string) {
	return {
		schemaVersion: `SELECT value FROM ${s}.fleche_info WHERE name = 'schema_version'`,
		setVersion: `INSERT INTO ${s}.fleche_info (name, value) VALUES ('schema_version', $1), ('created_by', 'fleche for TypeScript')
			ON CONFLICT (name) DO UPDATE SET value = CASE WHEN ${s}.fleche_info.name = 'schema_version' THEN excluded.value ELSE ${s}.fleche_info.value END`,
		/**
		 * One record's columns, its arguments (`[[name, digest], …]` in position order), metadata (`{ns: data}` as JSON
		 * text), and its result value's row when there is one: a hit is one round trip.
		 */
		callByKey: `SELECT c.${callColumns.replace(/, /g, ', c.')},
			(SELECT coalesce(json_agg(json_build_array(a.name, a.value) ORDER BY a.position), '[]') FROM ${s}.arguments a WHERE a.call_key = c.key) AS args,
			(SELECT coalesce(json_object_agg(m.name, m.data), '{}') FROM ${s}.metadata m WHERE m.call_key = c.key) AS meta,
			v.serializer AS value_serializer, v.data AS value_data
			FROM ${s}.calls c LEFT JOIN ${s}.stored_values v ON v.digest = c.result WHERE c.key = $1`,
		/** As `callByKey`, for every key of the array `$1` that is stored, with the key first. */
		callsByKeys: `SELECT c.${callColumns.replace(/, /g, ', c.')},
			(SELECT coalesce(json_agg(json_build_array(a.name, a.value) ORDER BY a.position), '[]') FROM ${s}.arguments a WHERE a.call_key = c.key) AS args,
			(SELECT coalesce(json_object_agg(m.name, m.data), '{}') FROM ${s}.metadata m WHERE m.call_key = c.key) AS meta,
			v.serializer AS value_serializer, v.data AS value_data
			FROM ${s}.calls c LEFT JOIN ${s}.stored_values v ON v.digest = c.result WHERE c.key = ANY($1::bpchar[])`,
		/** A page of records in key order after `$1` (`''` for the first), of function `$2` (null: all), at most `$3`. */
		recordsPage: `SELECT ${callColumns},
			(SELECT coalesce(json_agg(json_build_array(a.name, a.value) ORDER BY a.position), '[]') FROM ${s}.arguments a WHERE a.call_key = c.key) AS args,
			(SELECT coalesce(json_object_agg(m.name, m.data), '{}') FROM ${s}.metadata m WHERE m.call_key = c.key) AS meta
			FROM ${s}.calls c WHERE c.key > $1 AND ($2::text IS NULL OR c.name = $2) ORDER BY c.key LIMIT $3`,
		/** A page of what tools list, in key order after `$1`, at most `$2`. */
		entriesPage: `SELECT key, module, name, version, created FROM ${s}.calls WHERE key > $1 ORDER BY key LIMIT $2`,
		/** Changes at least one of the two whenever a record is written or removed. */
		probe: `SELECT count(*)::text AS n, coalesce(max(seq), 0)::text AS seq FROM ${s}.calls`,
		containsCall: `SELECT 1 FROM ${s}.calls WHERE key = $1`,
		callKeys: `SELECT key FROM ${s}.calls`,
		callRange: `SELECT key FROM ${s}.calls WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3`,
		createdOf: `SELECT created FROM ${s}.calls WHERE key = $1`,
		upsertCall: `INSERT INTO ${s}.calls (${callColumns}, created, seq)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, ${now}), nextval('${s}.call_seq'))
			ON CONFLICT (key) DO UPDATE SET name = excluded.name, module = excluded.module, version = excluded.version,
				code_digest = excluded.code_digest, result = excluded.result, async = excluded.async, scheme = excluded.scheme,
				created = excluded.created, seq = excluded.seq`,
		deleteArguments: `DELETE FROM ${s}.arguments WHERE call_key = $1`,
		deleteMetadata: `DELETE FROM ${s}.metadata WHERE call_key = $1`,
		insertArguments: `INSERT INTO ${s}.arguments (call_key, position, name, value)
			SELECT $1, p - 1, n, v FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(n, v, p)`,
		insertMetadata: `INSERT INTO ${s}.metadata (call_key, name, data) SELECT $1, n, d FROM unnest($2::text[], $3::text[]) AS t(n, d)`,
		evictCalls: `DELETE FROM ${s}.calls WHERE key = ANY($1::text[]) RETURNING key`,
		addStats: `INSERT INTO ${s}.stats AS t (key, name, module, hits, misses, last_hit, compute_seconds, saved_seconds)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::float8[], $7::float8[], $8::float8[])
			ON CONFLICT (key) DO UPDATE SET
				hits = t.hits + excluded.hits,
				misses = t.misses + excluded.misses,
				last_hit = CASE WHEN t.last_hit IS NULL THEN excluded.last_hit WHEN excluded.last_hit IS NULL THEN t.last_hit
					ELSE greatest(t.last_hit, excluded.last_hit) END,
				compute_seconds = t.compute_seconds + excluded.compute_seconds,
				saved_seconds = t.saved_seconds + excluded.saved_seconds`,
		stats: `SELECT key, name, module, hits::float8, misses::float8, last_hit, compute_seconds, saved_seconds FROM ${s}.stats
			WHERE $1::text IS NULL OR name = $1`,
		getValue: `SELECT serializer, data FROM ${s}.stored_values WHERE digest = $1`,
		putValue: `INSERT INTO ${s}.stored_values AS t (digest, serializer, data, size, touched) VALUES ($1, $2, $3, $4, ${now})
			ON CONFLICT (digest) DO UPDATE SET touched = excluded.touched`,
		refreshValue: `UPDATE ${s}.stored_values SET touched = ${now} WHERE digest = $1 RETURNING 1`,
		containsValue: `SELECT 1 FROM ${s}.stored_values WHERE digest = $1`,
		valueKeys: `SELECT digest FROM ${s}.stored_values`,
		valueRange: `SELECT digest FROM ${s}.stored_values WHERE digest >= $1 AND digest < $2 ORDER BY digest LIMIT $3`,
		valueSize: `SELECT size FROM ${s}.stored_values WHERE digest = $1`,
		evictValue: `DELETE FROM ${s}.stored_values WHERE digest = $1 RETURNING 1`,
		/** Removes the value unless it was written or refreshed in the last `$2` milliseconds. */
		evictIdleValue: `DELETE FROM ${s}.stored_values WHERE digest = $1 AND touched < ${now} - $2::float8 / 1000 RETURNING 1`,
		/** Takes the lease lock `$1` for this session, if no session holds it. */
		tryLock: `SELECT pg_try_advisory_lock($1::bigint) AS got`,
		unlock: `SELECT pg_advisory_unlock($1::bigint) AS released`,
		/** The holder row of a lease just taken (key `$1`, lock `$2`, owner `$3`), replacing a leftover. */
		claimLease: `INSERT INTO ${s}.leases (key, lock_id, owner, since, heartbeat) VALUES ($1, $2::bigint, $3, ${nowMs}, ${nowMs})
			ON CONFLICT (key) DO UPDATE SET lock_id = excluded.lock_id, owner = excluded.owner, since = excluded.since, heartbeat = excluded.heartbeat
			RETURNING since, heartbeat`,
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
