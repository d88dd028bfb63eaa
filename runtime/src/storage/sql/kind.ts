// The `sql` storage kind (see storage/kinds.ts): call records in one SQLite file (with its change log `<file>.log`
// beside it, and the leases of calls in flight in `<file>.leases/`); it holds no values, so its template keeps values
// in files.
//
//   [name]                                  [name.calls]
//   template = "sql"                        type = "sql"
//   root = ".results"    # values there     path = ".results/calls.db"    # or url = "sqlite:///…"
//   path = "…"           # else <root>/calls.db                   secret_key = "hex…"
//   serializer, compress, secret_key, values = { … }   (as for the file template; secret_key signs the call
//                                                       records too, as the file template's does)
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StorageConfig } from '../base.js';
import { filePair, secretKeyOption, templateValues } from '../file/kind.js';
import { FileLeases, leasesOf } from '../file/leases.js';
import { resolveRoot } from '../fsUtil.js';
import { warn } from '../../log.js';
import { entryOf, type StorageKind, type StorageSite, type TomlReader, type TomlTable } from '../kinds.js';
import { CallSql } from './store.js';

/** The configuration of an SQL call storage (what {@link CallSql.toConfig} returns). */
export interface SqlConfig {
	readonly type: 'sql';
	/** The SQLite file, or `':memory:'`. */
	readonly path: string;
	/** Hex-encoded keys; the first signs, all verify. */
	readonly secretKey?: readonly string[];
}

const sqliteUrl = /^sqlite:\/\/\/(.*)$/s;

function sqlPath(table: TomlTable, toml: TomlReader): string {
	const path = toml.string(table, 'path');
	const url = toml.string(table, 'url');
	if (path !== undefined && url !== undefined) throw toml.error(`give either 'path' or 'url', not both`, 'url');
	if (path !== undefined) return path;
	if (url === undefined) throw toml.error(`an 'sql' storage needs a 'path' (or a 'sqlite:///…' url)`);
	if (url === 'sqlite://' || url === 'sqlite:///:memory:') return ':memory:';
	const m = sqliteUrl.exec(url);
	if (!m || m[1] === '') throw toml.error(`only 'sqlite:///<path>' urls are supported (the SQL store is SQLite), got '${url}'`, 'url');
	return m[1]!;
}

/** The SQL storage writes its change log (`calls.db.log`) before the first snapshot (`calls.db`). */
function sqlExists(path: string): boolean {
	return existsSync(path) || existsSync(`${path}.log`);
}

/**
 * File leases whose release waits for the store's held puts to be written ({@link CallSql.afterWrite}), at most
 * `writeDelayMs` later: a release that wrote them at once made every save through `fleche(fn)` a write of its own,
 * taking the log's lock each time. A lease kept a little longer only makes a waiter wait a little longer; one whose
 * process dies meanwhile is gone at once (its pid).
 */
class SqlLeases extends FileLeases {
	constructor(
		dir: string,
		private readonly calls: CallSql,
	) {
		super(dir);
	}

	override release(key: string, owner: string): void {
		this.calls.afterWrite(() => {
			try {
				super.release(key, owner);
			} catch (err) {
				warn('FLECHE_LEASE_FAILED', `Cannot release the lease of ${key} in ${this.dir}: ${(err as Error).message}`, { cause: err });
			}
		});
	}
}

/** The `sql` storage kind. */
export const sqlKind: StorageKind<SqlConfig & StorageConfig, never, CallSql> = {
	type: 'sql',
	roles: ['calls'],
	fromToml(table, _role, toml) {
		toml.keys(table, ['path', 'url', 'secret_key'], `an 'sql' storage`);
		const secretKey = secretKeyOption(table, toml);
		return { type: 'sql', path: sqlPath(table, toml), ...(secretKey !== undefined ? { secretKey } : {}) };
	},
	template(table, toml) {
		toml.keys(table, ['root', 'serializer', 'compress', 'secret_key', 'values', 'path', 'url'], `a 'sql' template`);
		const { root, values } = templateValues(table, toml, 'sql');
		const explicit = table.path !== undefined || table.url !== undefined;
		// The template's key signs the call records as well as the values, as the file template's does.
		const secretKey = secretKeyOption(table, toml);
		const path = explicit ? sqlPath(table, toml) : join(root, 'calls.db');
		return { values, calls: { type: 'sql', path, ...(secretKey !== undefined ? { secretKey } : {}) } };
	},
	open(config) {
		if (typeof config.path !== 'string' || config.path === '') throw new TypeError(`An 'sql' storage needs a 'path'`);
		return new CallSql({ path: config.path, ...(config.secretKey !== undefined ? { secretKey: [...config.secretKey] } : {}) });
	},
	/** The store is the database's folder, where its change log and lock live too. */
	locate(config): StorageSite {
		if (typeof config.path !== 'string' || config.path === '' || config.path === ':memory:') return { root: null, exists: false, watch: [] };
		const path = resolveRoot(config.path);
		return { root: dirname(path), exists: sqlExists(path), watch: [dirname(path)] };
	},
	recognize(folder) {
		const path = join(folder, 'calls.db');
		return sqlExists(path) ? { values: filePair(folder).values, calls: { type: 'sql', path } } : undefined;
	},
	listing: (calls) => ({
		functions: () => calls.functions(),
		page(fn, offset, limit) {
			const { total, records, stats } = calls.page(fn, offset, limit);
			return { total, entries: records.map(entryOf), stats };
		},
	}),
	close: (calls) => calls.close(),
	/**
	 * Lease files in `<file>.leases/` beside the database: the store's own lock is a file, and a lease in the database
	 * would be a log line per take and release. A release waits for the puts held back (`writeDelayMs`) to be written,
	 * so the waiters it wakes find the result.
	 */
	leases(calls) {
		if (calls.path === ':memory:') return undefined;
		return leasesOf(calls, () => new SqlLeases(`${calls.path}.leases`, calls));
	},
};
