// docs/behaviour.md §2.6 "PostgreSQL": the connection string a PostgreSQL store connects with, from its URL (which
// configurations carry without a password) and where libpq-minded users keep passwords: the URL, a password given
// apart from it (one written in a `fleche.toml` URL), `PGPASSWORD`, then ~/.pgpass (`PGPASSFILE`). Shared by the
// store's engines (pgEngine.ts) and the change listener (notify.ts), which open their own connections.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- `pgpass` ships no types; every project that reaches this file must see them
/// <reference path="./pgpass.d.ts" />
import { createRequire } from 'node:module';
import { userInfo } from 'node:os';
import type pg from 'pg';
import type pgpass from 'pgpass';
import { redactUrl, urlPassword } from './schema.js';

/** A connection setting the server can never accept: a bad URL. */
export class ConfigProblem extends Error {}

/**
 * `pgpass`, loaded on the first connection rather than when `fleche` is imported; as `pg` in notify.ts, the CommonJS
 * build's literal `require('pgpass')` is what a bundler sees.
 */
function loadPgpass(): typeof pgpass {
	const url = import.meta.url as string | undefined;
	// eslint-disable-next-line @typescript-eslint/no-require-imports -- the CommonJS build's lazy load, see above
	return (url !== undefined ? createRequire(url)('pgpass') : require('pgpass')) as typeof pgpass;
}

let pgModule: typeof pg | undefined;

/**
 * The `pg` client library, loaded when the first connection opens rather than when `fleche` is imported (every
 * program and every `fleche` command imports the built-in storage kinds; `pg` took a fifth of a `fleche ls`). The ESM
 * build requires it from its own location; the CommonJS build calls `require` itself, which is what a bundler sees.
 *
 * `pg` asks at load time whether it runs in a Cloudflare Worker: where there is no `navigator` (Node 20; Node 21 and
 * later define one) it constructs a `Response`, whose first use loads undici, and with it http, http2, zlib and
 * worker_threads — 30–40 ms, two fifths of a PostgreSQL store's start, for an answer that is always no here. A
 * `navigator` with Node's own user agent (what Node 21 and later define) stands in while `pg` loads, and is removed
 * again: no code of the program runs in between.
 */
export function loadPg(): typeof pg {
	if (pgModule !== undefined) return pgModule;
	const g = globalThis as { navigator?: unknown };
	const stand = g.navigator === undefined && !('navigator' in g);
	if (stand)
		Object.defineProperty(g, 'navigator', { value: { userAgent: `Node.js/${process.versions.node.split('.')[0]!}` }, configurable: true, writable: true });
	try {
		const url = import.meta.url as string | undefined;
		// eslint-disable-next-line @typescript-eslint/no-require-imports -- the CommonJS build's lazy load, see above
		return (pgModule = (url !== undefined ? createRequire(url)('pg') : require('pg')) as typeof pg);
	} finally {
		if (stand) delete g.navigator;
	}
}

/** ~/.pgpass (or `PGPASSFILE`) for the URL's host, port, database and user, with libpq's defaults. */
function fromPgpass(url: URL): Promise<string | undefined> {
	const env = process.env;
	let user = decodeURIComponent(url.username) || env['PGUSER'];
	if (user === undefined) {
		try {
			user = userInfo().username;
		} catch {
			user = '';
		}
	}
	const info = {
		host: url.hostname || url.searchParams.get('host') || env['PGHOST'] || 'localhost',
		port: url.port || env['PGPORT'] || '5432',
		database: decodeURIComponent(url.pathname.slice(1)) || env['PGDATABASE'] || user,
		user,
	};
	return new Promise((resolve) => {
		try {
			loadPgpass()(info, (found) => resolve(found));
		} catch {
			resolve(undefined);
		}
	});
}

/**
 * The URL to connect with, the password filled in, and that password (to scrub it from messages).
 * @throws ConfigProblem for a URL that is not a `postgres://` URL.
 */
export async function connectionOf(given: string, apart?: string): Promise<{ connectionString: string; password: string | undefined }> {
	let password = urlPassword(given) ?? apart ?? (process.env['PGPASSWORD'] || undefined);
	let url: URL;
	try {
		url = new URL(given);
	} catch {
		throw new ConfigProblem(`The PostgreSQL cache URL is not a URL (expected postgres://user@host:5432/database)`);
	}
	if (!/^postgres(ql)?:$/.test(url.protocol))
		throw new ConfigProblem(`The PostgreSQL cache URL ${redactUrl(given)} does not start with postgres:// or postgresql://`);
	password ??= await fromPgpass(url);
	if (password !== undefined && url.password === '' && !url.searchParams.has('password')) url.password = encodeURIComponent(password);
	return { connectionString: url.toString(), password };
}
