// docs/behaviour.md §2.6 "PostgreSQL": what talks to the server for `CallPostgres` and `ValuePostgres`: a small `pg`
// pool, the schema made on first use, and one handler per request. It runs in the store's worker thread (pgWorker.ts,
// see store.ts for why a worker), where a synchronous store method blocks on the bridge's `request()` and an
// asynchronous one awaits its `call()`; and, for the asynchronous reads of a thread whose writes are all committed, in
// the calling thread itself (store.ts `Link`), which spares an awaited hit two hand-overs between threads.
//
// Every answer is an {@link Answer}: failures are classified here, where the driver's error codes are known — `down`
// (the server cannot be reached or went away: the caller runs uncached and tries again later), `config` (a wrong
// password, a missing database or role, a schema of a newer fleche: nothing will work until someone fixes it) or
// `error` (anything else: this request failed). Messages name the URL without its password and never contain it.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { CallStats } from '../base.js';
import { ConfigProblem, connectionOf, loadPg } from './connect.js';
import { writeAnnouncer } from './notify.js';
import { checkSchemaName, createSchema, migrations, quoteIdent, redactUrl, schemaVersion, scrub, statements, type Statements } from './schema.js';

/** What an engine is made with (the store passes it as the worker's input). */
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

/** Answers the store's requests (see the top of this file); each engine has its own connections and state. */
export type PgEngine = (request: PgRequest) => Promise<Answer>;

/**
 * What an engine is for: the store's `worker` (every request; it creates, migrates and checks the schema on its first
 * connection), or a thread's `reader` of awaited hits (store.ts `Link`), which never touches the schema — its schema
 * transaction, under an advisory lock, would wait on a thread that may be blocked on the worker, itself waiting for
 * that lock — and keeps two connections (its lookups are small and pipelined; a team of processes must not double
 * its connections to the server), named `fleche reads` on the server.
 */
export type PgEngineRole = 'worker' | 'reader';

/** An engine for the server, schema and options of `data`, in the given role; it connects on its first request. */
export function pgEngine(data: PgWorkerData, role: PgEngineRole = 'worker'): PgEngine {
	const reader = role === 'reader';
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

	/**
	 * Settings of this worker's sessions, sent ahead of the first statement of each new connection (pipelined: no round
	 * trip of their own; set with SET rather than startup options, which poolers such as PgBouncer refuse; a server that
	 * does not know one ignores it): no JIT compilation, which a server starts for statements it estimates costly (a page
	 * of a thousand records) and which costs more than such a statement's whole run.
	 */
	function configure(client: pg.Client | pg.PoolClient, settings: readonly string[] = []): void {
		for (const setting of ['jit = off', ...settings]) void client.query(`SET ${setting}`).catch(() => undefined);
	}

	async function openPool(): Promise<pg.Pool> {
		const next = new (loadPg().Pool)({
			connectionString: await connectionString(),
			...(data.ssl !== undefined ? { ssl: data.ssl as pg.PoolConfig['ssl'] } : {}),
			max: reader ? 2 : 4,
			connectionTimeoutMillis: data.timeoutMs,
			query_timeout: data.timeoutMs,
			idleTimeoutMillis: 10_000,
			allowExitOnIdle: true,
			// A thread's reader is told apart on the server (pg_stat_activity).
			application_name: reader ? 'fleche reads' : 'fleche',
			// Statements of one checkout (a batch's, see writeBatch) go out together: one round trip, not one each.
			pipeline: true,
		});
		// A pooled connection the server closes while idle (a restart) emits here; the next query opens another.
		next.on('error', () => undefined);
		next.on('connect', (client) => configure(client));
		return next;
	}

	/** Creates or checks the schema once per pool; a failure is retried by the next request. */
	async function ensureSchema(p: pg.Pool): Promise<void> {
		const client = await p.connect();
		try {
			// Both questions in one round trip (the connection is pipelined): the version's fails when there is no table yet.
			const asked = client.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [`${s}.fleche_info`]);
			const versionRow = client.query<{ value: string }>(sql.schemaVersion).then(
				(r) => r.rows[0],
				() => undefined,
			);
			const present = (await asked).rows[0]?.present === true;
			const known = await versionRow;
			if (present) {
				const version = Number(known?.value ?? 0);
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

	/** Checks the schema of pool `p` (creating or migrating it); a failure ends the pool, and the next request starts again. */
	function check(p: pg.Pool): void {
		const checking = (ready = reader ? Promise.resolve() : ensureSchema(p));
		checking.catch(() => {
			// Retried by the next request: the server may be back, or the password fixed.
			if (pool === p && ready === checking) {
				pool = undefined;
				ready = undefined;
				void p.end().catch(() => undefined);
			}
		});
	}

	/** The pool being opened, so that requests arriving meanwhile share it rather than each opening one. */
	let opening: Promise<void> | undefined;

	async function connected(): Promise<pg.Pool> {
		while (pool === undefined || ready === undefined) {
			opening ??= openPool()
				.then((p) => {
					pool = p;
					check(p);
				})
				.finally(() => (opening = undefined));
			await opening;
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
		// `pg` or `pgpass` missing where this copy of fleche runs (a bundle shipped without them): it will not come back
		// by itself, so it is said once, as an error, rather than as a failed save per batch.
		if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
			const name = /Cannot find (?:module|package) '([^']+)'/.exec(raw)?.[1] ?? 'pg';
			return {
				failure: 'config',
				message: `Cannot use the PostgreSQL cache ${shown}: the package '${name}' cannot be loaded beside fleche (a dependency of fleche: install fleche with its dependencies, or ship '${name}' with a bundle)`,
			};
		}
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
		// The row's copies (schema.ts), else the tables' rows; a copy that does not parse fails the record's check.
		const copy = (column: string): unknown => {
			const text = row[column];
			if (typeof text !== 'string') return undefined;
			try {
				return JSON.parse(text) as unknown;
			} catch {
				return { unreadable: text };
			}
		};
		const args = copy('args_json') ?? row['args'];
		const metaRows = copy('meta_json') ?? row['meta'] ?? {};
		if (typeof metaRows !== 'object' || metaRows === null || Array.isArray(metaRows)) return { key: row['key'], metadata: 'unreadable' };
		const meta: Record<string, unknown> = {};
		for (const [ns, text] of Object.entries(metaRows as Record<string, unknown>)) {
			if (typeof text !== 'string') {
				meta[ns] = text;
				continue;
			}
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
			arguments: args,
			metadata: meta,
			...(flag === true || flag === false ? { async: flag } : {}),
			...(typeof scheme === 'string' ? { scheme } : {}),
		};
	}

	/** A call lookup's answer (see `callByKey`): the record as stored and its result value's row, or null (none). */
	function callAnswer(row: Row | undefined): unknown {
		if (row === undefined) return null;
		return [recordOf(row), row['value_data'] instanceof Uint8Array ? [row['value_serializer'], row['value_data']] : null];
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
		const cols: (string | boolean | number | null)[][] = [[], [], [], [], [], [], [], [], [], [], []];
		const args: (string | number)[][] = [[], [], [], []];
		const meta: string[][] = [[], [], []];
		for (const r of records) {
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
			const pairs: [string, string][] = [];
			Object.keys(r.arguments).forEach((name, position) => {
				args[0]!.push(r.key);
				args[1]!.push(position);
				args[2]!.push(name);
				args[3]!.push(r.arguments[name]!);
				pairs.push([name, r.arguments[name]!]);
			});
			const texts: Record<string, string> = {};
			for (const ns of Object.keys(r.metadata)) {
				const text = JSON.stringify(r.metadata[ns]);
				meta[0]!.push(r.key);
				meta[1]!.push(ns);
				meta[2]!.push(text);
				texts[ns] = text;
			}
			// The copies in the call's row (schema.ts): the same arguments and metadata, read with the row.
			row.push(JSON.stringify(pairs), JSON.stringify(texts));
			row.forEach((v, i) => cols[i]!.push(v));
		}
		const bytes = values.map(([, , data]) => Buffer.from(data.buffer, data.byteOffset, data.byteLength));
		for (let attempt = 1; ; attempt++) {
			const client = await (await connected()).connect();
			let broken = false;
			try {
				// Pipelined (the pool's connections are): every statement is on the wire before the first answer, so a batch
				// is one round trip. A statement that fails aborts the transaction; those after it fail too, and the COMMIT
				// rolls back. The first failure is the batch's.
				const steps: Promise<unknown>[] = [client.query('BEGIN')];
				if (values.length > 0) steps.push(client.query(named(sql.putValues, [values.map((v) => v[0]), values.map((v) => v[1]), bytes])));
				if (records.length > 0) {
					steps.push(client.query(named(sql.upsertCalls, cols)));
					steps.push(client.query(named(sql.insertRows, [...args, ...meta])));
				}
				// The one commit point of every put: what must happen with the writes (a change notification) goes here.
				const commit = client.query('COMMIT');
				steps.push(commit);
				const settled = await Promise.allSettled(steps);
				const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
				if (failed !== undefined) throw failed.reason;
				// A COMMIT of an aborted transaction answers ROLLBACK without an error: nothing was written.
				if ((settled[settled.length - 1] as PromiseFulfilledResult<pg.QueryResult>).value.command !== 'COMMIT') throw new Error('the batch was rolled back');
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

	/** The functions of the listing (docs/behaviour.md §12) as the store reads them: one JSON text (see `functions` in schema.ts). */
	async function functions(): Promise<unknown> {
		return (await query(sql.functions))[0]?.['listing'];
	}

	/** One function's calls, newest first: how many, the page's records, the values they show, their statistics. */
	async function page(
		name: string,
		module: string | null,
		offset: number,
		limit: number,
	): Promise<{ total: number; records: unknown[]; values: unknown[][]; stats: unknown[][] }> {
		const moduleKey = module === null ? '' : `/${module}`;
		// One statement (see `functionPage`); the total comes with every row, so only a page past the end asks for it apart.
		const rows = await query(module === null ? sql.functionPageNoModule : sql.functionPage, [name, module, limit, offset, moduleKey]);
		const total = rows.length > 0 ? rows[0]!['total'] : (await query(sql.functionTotal, [name, moduleKey]))[0]?.['n'];
		const values: unknown[][] = [];
		const stats: unknown[][] = [];
		for (const row of rows) {
			for (const shown of Array.isArray(row['shown']) ? (row['shown'] as unknown[]) : []) {
				if (!Array.isArray(shown) || typeof shown[0] !== 'string' || typeof shown[2] !== 'string') continue;
				values.push([trim(shown[0]), shown[1], Buffer.from(shown[2], 'base64')]);
			}
			if (Array.isArray(row['stat'])) stats.push([trim(row['key']), ...(row['stat'] as unknown[])]);
		}
		return { total: Number(total ?? 0), records: rows.map(recordOf), values, stats };
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
			const client = new (loadPg().Client)({
				connectionString: await connectionString(),
				...(data.ssl !== undefined ? { ssl: data.ssl as pg.ClientConfig['ssl'] } : {}),
				connectionTimeoutMillis: data.timeoutMs,
				query_timeout: data.timeoutMs,
				application_name: 'fleche leases',
				// A lease and the lookup after it go out together (see takeLease).
				pipeline: true,
			});
			client.on('error', () => forgetSession(opening));
			client.on('end', () => forgetSession(opening));
			await client.connect();
			// Holder rows need no flush to disk before the answer: a server that crashes loses the locks they describe too.
			configure(client, ['synchronous_commit = off']);
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

	/**
	 * Takes the lease (one statement, see `takeLease` in schema.ts) and, pipelined behind it on the same connection, looks
	 * the call up again: the protocol's check after a lease (the holder before may have stored the result and let go
	 * between the miss and this lease) travels in the same round trip, a statement later (so with a snapshot taken after
	 * the lock). The answer carries that lookup (`found`, as `getCall` answers) for the store to answer the check with.
	 */
	async function takeLease(key: string, owner: string): Promise<unknown> {
		const mine = holding.get(key);
		if (mine !== undefined)
			return { acquired: false, holder: holderOf((await query(sql.leaseOf, [key]))[0] ?? { owner: mine.owner, since: null, heartbeat: null }) };
		const lockId = lockIdOf(key);
		const client = await session();
		const taking = client.query<Row>(named(sql.takeLease, [key, lockId, owner]));
		const looking = client.query<Row>(named(sql.callByKey, [key]));
		let row: Row | undefined;
		try {
			row = (await taking).rows[0];
		} catch (err) {
			looking.catch(() => undefined);
			// A session lock outlives a failed statement: let it go in case the statement took it before failing.
			await client.query(sql.unlock, [lockId]).catch(() => undefined);
			throw err;
		}
		const got = row?.['got'] === true;
		if (got) holding.set(key, { owner, lockId });
		let found: unknown;
		try {
			found = callAnswer((await looking).rows[0]);
		} catch {
			// The check is then made by its own request.
			found = undefined;
		}
		const answer = got ? { acquired: true } : { acquired: false, holder: holderOf(row?.['owner'] === null ? undefined : row) };
		return found === undefined ? answer : { ...answer, found };
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

	/**
	 * The values no call refers to (`orphanValues`), the file bodies named in metadata namespace `ns` read first, both in
	 * one snapshot: a batch (values and the calls naming them, one transaction) is seen whole or not at all. A metadata
	 * text that is not an object of digests names nothing (the record is damaged; its reads fail too).
	 */
	async function orphans(ns: string): Promise<string[]> {
		const client = await (await connected()).connect();
		try {
			await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
			const bodies = new Set<string>();
			for (const row of (await client.query<Row>(named(sql.fileBodies, [ns]))).rows) {
				let files: unknown;
				try {
					files = JSON.parse(String(row['data']));
				} catch {
					continue;
				}
				if (typeof files !== 'object' || files === null || Array.isArray(files)) continue;
				for (const body of Object.keys(files)) if (/^[0-9a-f]{64}$/.test(body)) bodies.add(body);
			}
			const rows = (await client.query<Row>(named(sql.orphanValues, [[...bodies]]))).rows;
			await client.query('COMMIT');
			return rows.map((r) => trim(r['digest']));
		} catch (err) {
			await client.query('ROLLBACK').catch(() => undefined);
			throw err;
		} finally {
			client.release();
		}
	}

	/** Requests about given keys or digests: they wait only for the batches that write those. */
	const keyed = new Set(['getCall', 'getCalls', 'containsCall', 'created', 'getValue', 'refreshValue', 'containsValue', 'valueSize']);
	/** Requests that need no earlier batch written. */
	const unordered = new Set(['ping', 'putBatch', 'addStats', 'lease', 'beatLease']);

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
			case 'getCall':
				return callAnswer((await query(sql.callByKey, [a[0]]))[0]);
			case 'getCalls':
				return (await query(sql.callsByKeys, [a[0]])).map((row) => [trim(row['key']), callAnswer(row)]);
			case 'records': {
				// One row more than the page: whether another page follows is known without asking for it.
				const limit = Number(a[2]);
				const rows = await query(a[1] === null ? sql.recordsPage : sql.recordsPageByName, a[1] === null ? [a[0], limit + 1] : [a[0], limit + 1, a[1]]);
				return { records: rows.slice(0, limit).map(recordOf), more: rows.length > limit };
			}
			case 'functions':
				return functions();
			case 'orphans':
				return orphans(String(a[0]));
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
			case 'addStats': {
				// In the order of the batches (a `flush` waits for statistics sent ahead too).
				const done = batches.then(() => addStats(a[0] as CallStats[]));
				batches = done.catch(() => undefined);
				return done;
			}
			case 'stats':
				return (await (a[0] === null || a[0] === undefined ? query(sql.stats) : query(sql.statsByName, [a[0]]))).map((r) => [
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

	return async (request: PgRequest): Promise<Answer> => {
		try {
			return { ok: true, value: await announce(request.op, () => handle(request)) };
		} catch (err) {
			return { ok: false, ...classify(err) };
		}
	};
}
