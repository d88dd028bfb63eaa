// docs/behaviour.md §2.6 "PostgreSQL": the worker thread that talks to the server for `CallPostgres` and
// `ValuePostgres` (see store.ts for why a worker): a small `pg` pool, the schema made on first use, and one handler
// per request. Started through the synchronous bridge (bridge/syncWorker.ts): a synchronous store method blocks on
// `request()`, an asynchronous one awaits `call()`; both arrive here through `serve()`.
//
// Every answer is an {@link Answer}: failures are classified here, where the driver's error codes are known — `down`
// (the server cannot be reached or went away: the caller runs uncached and tries again later), `config` (a wrong
// password, a missing database or role, a schema of a newer fleche: nothing will work until someone fixes it) or
// `error` (anything else: this request failed). Messages name the URL without its password and never contain it.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { serve, workerInput } from '../../bridge/serve.js';
import type { CallStats } from '../base.js';
import { ConfigProblem, connectionOf } from './connect.js';
import { writeAnnouncer } from './notify.js';
import { checkSchemaName, createSchema, migrations, quoteIdent, redactUrl, schemaVersion, scrub, statements, type Statements } from './schema.js';

/** What the store passes as the worker's input. */
export interface PgWorkerData {
	/** The connection URL as given (it may hold the password). */
	readonly url: string;
	/** A password given apart from the URL (one written in a `fleche.toml` URL, kept out of configurations). */
	readonly password?: string;
	readonly schema: string;
	/** Passed to `pg` as is (`true`, or an object of TLS options). */
	readonly ssl?: unknown;
	/** Bound on connecting and on each statement, in milliseconds. */
	readonly timeoutMs: number;
}

/** A request from the store. */
export interface PgRequest {
	readonly op: string;
	readonly args: readonly unknown[];
}

/** Why a request failed (see the top of this file). */
export type Failure = 'down' | 'config' | 'error';

/** The answer to every request. */
export type Answer = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly failure: Failure; readonly message: string };

const data = workerInput<PgWorkerData>();
const shown = redactUrl(data.url);
const schema = checkSchemaName(data.schema);
const s = quoteIdent(schema);
const sql: Statements = statements(s);

/** The password this connection uses (see connect.ts), to scrub it from messages. */
let password: string | undefined;

async function connectionString(): Promise<string> {
	const found = await connectionOf(data.url, data.password);
	password = found.password;
	return found.connectionString;
}

let pool: pg.Pool | undefined;
let ready: Promise<void> | undefined;

async function openPool(): Promise<pg.Pool> {
	const next = new pg.Pool({
		connectionString: await connectionString(),
		...(data.ssl !== undefined ? { ssl: data.ssl as pg.PoolConfig['ssl'] } : {}),
		max: 4,
		connectionTimeoutMillis: data.timeoutMs,
		query_timeout: data.timeoutMs,
		idleTimeoutMillis: 10_000,
		allowExitOnIdle: true,
		application_name: 'fleche',
	});
	// A pooled connection the server closes while idle (a restart) emits here; the next query opens another.
	next.on('error', () => undefined);
	return next;
}

/** Creates or checks the schema once per pool; a failure is retried by the next request. */
async function ensureSchema(p: pg.Pool): Promise<void> {
	const client = await p.connect();
	try {
		const found = await client.query<{ v: string | null }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [`${s}.fleche_info`]);
		const present = (found.rows[0] as unknown as { present: boolean } | undefined)?.present === true;
		if (present) {
			const version = Number((await client.query<{ value: string }>(sql.schemaVersion)).rows[0]?.value ?? 0);
			if (version > schemaVersion) {
				throw new ConfigProblem(
					`The PostgreSQL cache ${shown} (schema ${schema}) was written by a newer fleche (schema version ${version}; this one knows up to ${schemaVersion}): upgrade fleche, or give this project another 'schema'`,
				);
			}
			if (version === schemaVersion) return;
		}
		await client.query('BEGIN');
		try {
			// Two first users must not race on CREATE TABLE (IF NOT EXISTS is not safe against a concurrent creation).
			await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`fleche.schema:${schema}`]);
			await client.query(createSchema(s));
			let version = Number((await client.query<{ value: string }>(sql.schemaVersion)).rows[0]?.value ?? schemaVersion);
			if (version > schemaVersion)
				throw new ConfigProblem(`The PostgreSQL cache ${shown} (schema ${schema}) was written by a newer fleche (schema version ${version})`);
			for (; version < schemaVersion; version++) await client.query(migrations[version - 1]?.(s) ?? '');
			await client.query(sql.setVersion, [String(schemaVersion)]);
			await client.query('COMMIT');
		} catch (err) {
			await client.query('ROLLBACK').catch(() => undefined);
			throw err;
		}
	} finally {
		client.release();
	}
}

async function connected(): Promise<pg.Pool> {
	if (pool === undefined || ready === undefined) {
		const p = (pool = await openPool());
		ready = ensureSchema(p);
		ready.catch(() => {
			// Retried by the next request: the server may be back, or the password fixed.
			if (pool === p) {
				pool = undefined;
				ready = undefined;
				void p.end().catch(() => undefined);
			}
		});
	}
	const p = pool;
	await ready;
	return p;
}

// ---------------------------------------------------------------------------------------------------------------
// Failures

/** SQLSTATE classes and codes that no retry fixes: authentication, a missing database or role, privileges. */
const configCodes = new Set(['28P01', '28000', '3D000', '42501', '3F000', '42P06', '0A000']);
/** Node and driver failures of the connection itself: the server is down, restarting or unreachable. */
const downCodes = new Set([
	'ECONNREFUSED',
	'ECONNRESET',
	'ETIMEDOUT',
	'EHOSTUNREACH',
	'ENETUNREACH',
	'EPIPE',
	'ENOTFOUND',
	'EAI_AGAIN',
	'57P01',
	'57P02',
	'57P03',
	'53300',
]);

function classify(err: unknown): { failure: Failure; message: string } {
	const code = (err as { code?: unknown } | null)?.code;
	const raw = err instanceof Error ? err.message : String(err);
	const text = scrub(raw, password);
	if (err instanceof ConfigProblem) return { failure: 'config', message: text };
	if (typeof code === 'string' && configCodes.has(code)) return { failure: 'config', message: `Cannot use the PostgreSQL cache ${shown}: ${text}` };
	if (/password/i.test(raw) && typeof code !== 'string')
		return { failure: 'config', message: `Cannot log in to the PostgreSQL cache ${shown}: ${text} (give the password in the URL, PGPASSWORD or ~/.pgpass)` };
	const down =
		(typeof code === 'string' && (downCodes.has(code) || code.startsWith('08'))) ||
		/timeout|timed out|terminated|Connection ended|connect ECONN|socket|not queryable/i.test(raw);
	if (down) return { failure: 'down', message: `The PostgreSQL cache ${shown} is unreachable: ${text}` };
	return { failure: 'error', message: `The PostgreSQL cache ${shown} failed: ${text}` };
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

type Row = Record<string, unknown>;

/** Names of the statements sent so far: each connection prepares a statement once and then runs it unparsed and, after a few runs, unplanned. */
const prepared = new Map<string, string>();

/** The statement `text` as a prepared one (the store's statements are a fixed set: one name each). */
function named(text: string, values: unknown[]): pg.QueryConfig {
	let name = prepared.get(text);
	if (name === undefined) prepared.set(text, (name = `fleche_${prepared.size}`));
	return { name, text, values };
}

async function query(text: string, params: unknown[] = []): Promise<Row[]> {
	const p = await connected();
	return (await p.query<Row>(named(text, params))).rows;
}

/** A stored record as the calling thread checks it (`parseRecord`): arguments as pairs, metadata parsed. */
function recordOf(row: Row): Record<string, unknown> {
	const meta: Record<string, unknown> = {};
	for (const [ns, text] of Object.entries((row['meta'] ?? {}) as Record<string, string>)) {
		try {
			meta[ns] = JSON.parse(text) as unknown;
		} catch {
			// Left out as text: the record check rejects it as damaged.
			meta[ns] = text;
		}
	}
	let version: unknown = null;
	try {
		version = row['version'] === null ? null : (JSON.parse(row['version'] as string) as unknown);
	} catch {
		version = { unreadable: row['version'] };
	}
	const flag = row['async'];
	const scheme = row['scheme'];
	return {
		key: typeof row['key'] === 'string' ? row['key'].trimEnd() : row['key'],
		name: row['name'],
		module: row['module'],
		version,
		codeDigest: typeof row['code_digest'] === 'string' ? row['code_digest'].trimEnd() : row['code_digest'],
		result: typeof row['result'] === 'string' ? row['result'].trimEnd() : row['result'],
		arguments: row['args'],
		metadata: meta,
		...(flag === true || flag === false ? { async: flag } : {}),
		...(typeof scheme === 'string' ? { scheme } : {}),
	};
}

/** The record shape the store sends for a put (already checked by it). */
interface PutRecord {
	readonly key: string;
	readonly name: string;
	readonly module: string | null;
	readonly version: unknown;
	readonly codeDigest: string | null;
	readonly result: string | null;
	readonly async?: boolean;
	readonly scheme?: string;
	readonly arguments: Readonly<Record<string, string>>;
	readonly metadata: Readonly<Record<string, unknown>>;
	readonly created: number | null;
}

/** A value as the store sends it in a batch: digest, serializer, bytes. */
type PutValue = readonly [string, string, Uint8Array];

/** Whether a failed transaction is worth running again as is: a deadlock or serialization failure the server broke. */
const retryable = (err: unknown): boolean => ['40P01', '40001'].includes(String((err as { code?: unknown } | null)?.code));

/**
 * One batch of puts — values, then call records with their arguments and metadata — in one transaction: a writer
 * killed at any point leaves all of it or none (a record never without its values, arguments or metadata). Rows are
 * sent sorted by key (see schema.ts), and a deadlock the server still breaks runs the batch again.
 */
async function writeBatch(values: readonly PutValue[], records: readonly PutRecord[]): Promise<void> {
	const keys: string[] = [];
	const cols: (string | boolean | number | null)[][] = [[], [], [], [], [], [], [], [], []];
	const args: (string | number)[][] = [[], [], [], []];
	const meta: string[][] = [[], [], []];
	for (const r of records) {
		keys.push(r.key);
		const row = [
			r.key,
			r.name,
			r.module,
			JSON.stringify(r.version ?? null),
			r.codeDigest,
			r.result,
			r.async === true || r.async === false ? r.async : null,
			r.scheme ?? null,
			typeof r.created === 'number' && Number.isFinite(r.created) ? r.created : null,
		];
		row.forEach((v, i) => cols[i]!.push(v));
		Object.keys(r.arguments).forEach((name, position) => {
			args[0]!.push(r.key);
			args[1]!.push(position);
			args[2]!.push(name);
			args[3]!.push(r.arguments[name]!);
		});
		for (const ns of Object.keys(r.metadata)) {
			meta[0]!.push(r.key);
			meta[1]!.push(ns);
			meta[2]!.push(JSON.stringify(r.metadata[ns]));
		}
	}
	const bytes = values.map(([, , data]) => Buffer.from(data.buffer, data.byteOffset, data.byteLength));
	for (let attempt = 1; ; attempt++) {
		const client = await (await connected()).connect();
		let broken = false;
		try {
			await client.query('BEGIN');
			if (values.length > 0) await client.query(named(sql.putValues, [values.map((v) => v[0]), values.map((v) => v[1]), bytes]));
			if (records.length > 0) {
				await client.query(named(sql.upsertCalls, cols));
				await client.query(named(sql.clearRows, [keys]));
				await client.query(named(sql.insertRows, [...args, ...meta]));
			}
			// The one commit point of every put: what must happen with the writes (a change notification) goes here.
			await client.query('COMMIT');
			return;
		} catch (err) {
			await client.query('ROLLBACK').catch(() => {
				broken = true;
			});
			if (attempt < 4 && retryable(err)) continue;
			throw err;
		} finally {
			client.release(broken);
		}
	}
}

/** Batches in the order they came, each after the one before (an `await` of it waits for every earlier one). */
let batches: Promise<unknown> = Promise.resolve();
/** Keys and digests of the batches not committed yet, each with its batch: a read of one waits for it. */
const writing = new Map<string, Promise<unknown>>();

/**
 * Writes a batch after the batches before it; then lets go of the leases released while it was queued (whether it
 * was written or not: a lease is never kept by a failed save).
 */
function putBatch(values: readonly PutValue[], records: readonly PutRecord[], releases: readonly (readonly [string, string])[] = []): Promise<null> {
	const done = batches.then(async () => {
		try {
			await writeBatch(values, records);
		} finally {
			for (const [key, owner] of releases) await releaseLease(key, owner).catch(() => undefined);
		}
	});
	const settled = done.catch(() => undefined);
	batches = settled;
	const names = [...values.map((v) => v[0]), ...records.map((r) => r.key)];
	for (const name of names) writing.set(name, settled);
	void settled.then(() => {
		for (const name of names) if (writing.get(name) === settled) writing.delete(name);
	});
	return done.then(() => null);
}

/** Waits for the batches that write any of `names` (this process reads its own writes). */
async function written(names: readonly unknown[]): Promise<void> {
	for (const name of names) {
		const pending = writing.get(String(name));
		if (pending !== undefined) await pending;
	}
}

async function addStats(deltas: readonly CallStats[]): Promise<null> {
	const cols = (f: (d: CallStats) => unknown): unknown[] => deltas.map(f);
	await retried(sql.addStats, [
		cols((d) => d.key),
		cols((d) => d.name),
		cols((d) => d.module),
		cols((d) => d.hits),
		cols((d) => d.misses),
		cols((d) => d.lastHit),
		cols((d) => d.computeSeconds),
		cols((d) => d.savedSeconds),
	]);
	return null;
}

const trim = (v: unknown): string => String(v).trimEnd();

/** A statement run again when the server broke a deadlock with another writer (statistics rows, sorted, rarely do). */
async function retried(text: string, params: unknown[]): Promise<void> {
	for (let attempt = 1; ; attempt++) {
		try {
			await query(text, params);
			return;
		} catch (err) {
			if (attempt >= 4 || !retryable(err)) throw err;
		}
	}
}

/** The functions of the listing (docs/behaviour.md §12) as the store reads them. */
async function functions(): Promise<unknown[][]> {
	return (await query(sql.functions)).map((r) => [
		r['module'],
		r['name'],
		r['calls'],
		r['versions'],
		r['hits'],
		r['misses'],
		r['last_hit'],
		r['compute_seconds'],
		r['saved_seconds'],
	]);
}

/** One function's calls, newest first: how many, and the page's records. */
async function page(name: string, module: string | null, offset: number, limit: number): Promise<{ total: number; records: unknown[]; values: unknown[][] }> {
	const moduleKey = module === null ? '' : `/${module}`;
	const [total, rows] = await Promise.all([
		query(sql.functionTotal, [name, moduleKey]),
		query(module === null ? sql.functionPageNoModule : sql.functionPage, [name, module, limit, offset]),
	]);
	const records = rows.map(recordOf);
	// The values a page shows (results and arguments, up to the preview size) come with it: one round trip, not one per value.
	const digests = new Set<string>();
	for (const r of records) {
		if (typeof r['result'] === 'string') digests.add(r['result']);
		for (const pair of Array.isArray(r['arguments']) ? (r['arguments'] as unknown[]) : [])
			if (Array.isArray(pair) && typeof pair[1] === 'string') digests.add(pair[1]);
	}
	const values = digests.size === 0 ? [] : await query(sql.previewValues, [[...digests]]);
	return { total: Number(total[0]?.['n'] ?? 0), records, values: values.map((v) => [trim(v['digest']), v['serializer'], v['data']]) };
}

// ---------------------------------------------------------------------------------------------------------------
// Leases (docs/behaviour.md §3.6; the rules are at the top of schema.ts)

/**
 * The connection whose session holds this thread's lease locks: its own, apart from the pool, whose connections come
 * and go. When it is lost the server has freed every lock it held, so the leases it knew are forgotten with it.
 */
let lockSession: Promise<pg.Client> | undefined;
/** Leases this session holds, by key: who took them (an owner id) and the lock. */
const holding = new Map<string, { readonly owner: string; readonly lockId: string }>();

function forgetSession(ended: Promise<pg.Client>): void {
	if (lockSession !== ended) return;
	lockSession = undefined;
	holding.clear();
}

function session(): Promise<pg.Client> {
	if (lockSession !== undefined) return lockSession;
	const opening = (async () => {
		await connected();
		const client = new pg.Client({
			connectionString: await connectionString(),
			...(data.ssl !== undefined ? { ssl: data.ssl as pg.ClientConfig['ssl'] } : {}),
			connectionTimeoutMillis: data.timeoutMs,
			query_timeout: data.timeoutMs,
			application_name: 'fleche leases',
		});
		client.on('error', () => forgetSession(opening));
		client.on('end', () => forgetSession(opening));
		await client.connect();
		return client;
	})();
	lockSession = opening;
	opening.catch(() => forgetSession(opening));
	return opening;
}

/** The advisory lock of a call's lease: 63 bits of SHA-256 of schema and key (non-negative, as `pg_locks` shows it). */
function lockIdOf(key: string): string {
	const head = createHash('sha256').update(`${schema}:${key}`).digest().readBigUInt64BE(0);
	return (head & 0x7fffffffffffffffn).toString();
}

const holderOf = (row: Row | undefined): { owner: unknown; since: unknown; heartbeat: unknown } =>
	row === undefined ? { owner: null, since: null, heartbeat: null } : { owner: row['owner'], since: row['since'], heartbeat: row['heartbeat'] };

async function takeLease(key: string, owner: string): Promise<unknown> {
	const mine = holding.get(key);
	if (mine !== undefined)
		return { acquired: false, holder: holderOf((await query(sql.leaseOf, [key]))[0] ?? { owner: mine.owner, since: null, heartbeat: null }) };
	const lockId = lockIdOf(key);
	const client = await session();
	const got = (await client.query<{ got: boolean }>(sql.tryLock, [lockId])).rows[0]?.got === true;
	if (!got) return { acquired: false, holder: holderOf((await query(sql.leaseOf, [key]))[0]) };
	holding.set(key, { owner, lockId });
	try {
		await client.query(sql.claimLease, [key, lockId, owner]);
	} catch (err) {
		await dropLock(key).catch(() => undefined);
		throw err;
	}
	return { acquired: true };
}

async function dropLock(key: string): Promise<void> {
	const mine = holding.get(key);
	if (mine === undefined) return;
	holding.delete(key);
	const client = await session();
	await client.query(sql.unlock, [mine.lockId]);
}

async function releaseLease(key: string, owner: string): Promise<null> {
	if (holding.get(key)?.owner !== owner) return null;
	// The row goes first: a waiter that takes the lock next never finds this holder's row and takes it for its own.
	const client = await session();
	await client.query(sql.dropLease, [key, owner]);
	await dropLock(key);
	return null;
}

async function beatLease(key: string, owner: string): Promise<boolean> {
	if (holding.get(key)?.owner !== owner) return false;
	const client = await session();
	return (await client.query(sql.beatLease, [key, owner])).rows.length > 0 && holding.get(key)?.owner === owner;
}

/** Requests about given keys or digests: they wait only for the batches that write those. */
const keyed = new Set(['getCall', 'getCalls', 'containsCall', 'created', 'getValue', 'refreshValue', 'containsValue', 'valueSize']);
/** Requests that need no earlier batch written. */
const unordered = new Set(['ping', 'putBatch', 'addStats', 'lease', 'beatLease', 'stats']);

async function handle(request: PgRequest): Promise<unknown> {
	const { op, args } = request;
	const a = args as unknown[];
	if (keyed.has(op)) await written(Array.isArray(a[0]) ? a[0] : [a[0]]);
	else if (!unordered.has(op)) await batches;
	switch (op) {
		case 'ping':
			// A round trip, not only the pool: a pool whose server went away still looks connected.
			await query('SELECT 1');
			return null;
		case 'getCall': {
			const row = (await query(sql.callByKey, [a[0]]))[0];
			if (row === undefined) return null;
			return [recordOf(row), row['value_data'] instanceof Uint8Array ? [row['value_serializer'], row['value_data']] : null];
		}
		case 'getCalls':
			return (await query(sql.callsByKeys, [a[0]])).map((row) => [
				trim(row['key']),
				[recordOf(row), row['value_data'] instanceof Uint8Array ? [row['value_serializer'], row['value_data']] : null],
			]);
		case 'records':
			return (await query(a[1] === null ? sql.recordsPage : sql.recordsPageByName, a[1] === null ? [a[0], a[2]] : [a[0], a[2], a[1]])).map(recordOf);
		case 'functions':
			return functions();
		case 'page':
			return page(String(a[0]), typeof a[1] === 'string' ? a[1] : null, Number(a[2]), Number(a[3]));
		case 'entries':
			return (await query(sql.entriesPage, [a[0], a[1]])).map((r) => [trim(r['key']), r['module'], r['name'], r['version'], r['created']]);
		case 'probe': {
			const row = (await query(sql.probe))[0]!;
			return `${String(row['n'])}:${String(row['seq'])}`;
		}
		case 'containsCall':
			return (await query(sql.containsCall, [a[0]])).length > 0;
		case 'callKeys':
			return (await query(sql.callKeys)).map((r) => trim(r['key']));
		case 'callRange':
			return (await query(sql.callRange, [a[0], a[1], a[2]])).map((r) => trim(r['key']));
		case 'created': {
			const v = (await query(sql.createdOf, [a[0]]))[0]?.['created'];
			return typeof v === 'number' ? v : null;
		}
		case 'putBatch':
			return putBatch(a[0] as PutValue[], a[1] as PutRecord[], (a[2] ?? []) as [string, string][]);
		case 'flush':
			return null;
		case 'evictCalls':
			return (await query(sql.evictCalls, [a[0]])).map((r) => trim(r['key']));
		case 'addStats':
			return addStats(a[0] as CallStats[]);
		case 'stats':
			return (await query(sql.stats, [a[0] ?? null])).map((r) => [
				trim(r['key']),
				r['name'],
				r['module'],
				r['hits'],
				r['misses'],
				r['last_hit'],
				r['compute_seconds'],
				r['saved_seconds'],
			]);
		case 'getValue': {
			const row = (await query(sql.getValue, [a[0]]))[0];
			return row === undefined ? null : [row['serializer'], row['data']];
		}
		case 'refreshValue':
			return (await query(sql.refreshValue, [a[0]])).length > 0;
		case 'containsValue':
			return (await query(sql.containsValue, [a[0]])).length > 0;
		case 'valueKeys':
			return (await query(sql.valueKeys)).map((r) => trim(r['digest']));
		case 'valueRange':
			return (await query(sql.valueRange, [a[0], a[1], a[2]])).map((r) => trim(r['digest']));
		case 'valueSize': {
			const v = (await query(sql.valueSize, [a[0]]))[0]?.['size'];
			return typeof v === 'number' ? v : null;
		}
		case 'evictValue':
			return (await query(sql.evictValue, [a[0]])).length > 0;
		case 'evictIdleValue':
			return (await query(sql.evictIdleValue, [a[0], a[1]])).length > 0;
		case 'lease':
			return takeLease(String(a[0]), String(a[1]));
		case 'beatLease':
			return beatLease(String(a[0]), String(a[1]));
		case 'releaseLease':
			return releaseLease(String(a[0]), String(a[1]));
		case 'heldLeases':
			return (await query(sql.heldLeases)).map((r) => [trim(r['key']), r['owner'], r['since'], r['heartbeat']]);
		case 'sweepLeases':
			return (await query(sql.sweepLeases)).length;
		case 'close':
			if (lockSession !== undefined) {
				const ending = lockSession;
				forgetSession(ending);
				await ending.then((c) => c.end()).catch(() => undefined);
			}
			if (pool !== undefined) await pool.end().catch(() => undefined);
			pool = undefined;
			ready = undefined;
			return null;
		default:
			throw new Error(`unknown request ${op}`);
	}
}

/** Tells listeners (notify.ts) that a write committed: watchers on other machines refresh. */
const announce = writeAnnouncer(schema, (text, params) => query(text, params));

serve(async (message): Promise<Answer> => {
	try {
		return { ok: true, value: await announce((message as PgRequest).op, () => handle(message as PgRequest)) };
	} catch (err) {
		return { ok: false, ...classify(err) };
	}
});
