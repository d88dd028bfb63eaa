// docs/behaviour.md §2.6 "PostgreSQL": the connection string a PostgreSQL store connects with, from its URL (which
// configurations carry without a password) and where libpq-minded users keep passwords: the URL, a password given
// apart from it (one written in a `fleche.toml` URL), `PGPASSWORD`, then ~/.pgpass (`PGPASSFILE`). Shared by the
// store's worker (pgWorker.ts) and the change listener (notify.ts), which open their own connections.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- `pgpass` ships no types; every project that reaches this file must see them
/// <reference path="./pgpass.d.ts" />
import { createRequire } from 'node:module';
import { userInfo } from 'node:os';
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
