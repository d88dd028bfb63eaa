// The `postgres` storage kind (see storage/kinds.ts): call records, values and statistics on a PostgreSQL server.
//
//   [team]                                          [team.calls]  /  [team.values]
//   template = "postgres"                           type = "postgres"
//   url = "postgres://ci@db.internal:5432/results"  url = "…", schema, ssl, timeout_ms (values: serializer)
//   schema = "myproject"      # default "fleche"
//   ssl = true                # or { reject_unauthorized = false, … }, passed to pg
//   timeout_ms = 5000         # connect and statement bound
//   write_delay_ms = 20       # saves batched for up to this long (0: each written before it returns)
//   serializer = "v8"         # values
//
// A password written in the URL is taken out of the configuration here (see store.ts): what tools show and send
// elsewhere is the URL without it.
import { entryOf, type StorageKind, type StorageRole, type TomlReader, type TomlTable } from '../kinds.js';
import { listenForChanges } from './notify.js';
import { defaultSchema } from './schema.js';
import { CallPostgres, PostgresIndex, ValuePostgres, passwordOf, type PostgresConfig } from './store.js';

const options = ['url', 'schema', 'ssl', 'timeout_ms', 'write_delay_ms'];

/** snake_case TLS option names as TOML writes them → the camelCase `tls.connect` names pg expects. */
function sslOption(value: unknown, toml: TomlReader): PostgresConfig['ssl'] {
	if (value === undefined || typeof value === 'boolean') return value;
	if (typeof value !== 'object' || value === null || Array.isArray(value)) throw toml.error(`'ssl' must be true, false or a table of TLS options`, 'ssl');
	const out: Record<string, unknown> = {};
	for (const [k, v] of Object.entries(value)) out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
	return out;
}

function read(table: TomlTable, role: StorageRole, toml: TomlReader): PostgresConfig {
	const url = toml.string(table, 'url');
	if (url === undefined) throw toml.error(`a 'postgres' storage needs a 'url' (postgres://user@host:5432/database)`);
	if (!/^postgres(ql)?:\/\//.test(url)) throw toml.error(`'url' must start with postgres:// or postgresql://`, 'url');
	const schema = toml.string(table, 'schema');
	const timeout = table.timeout_ms;
	if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout <= 0)) {
		throw toml.error(`'timeout_ms' must be a positive whole number of milliseconds`, 'timeout_ms');
	}
	const delay = table.write_delay_ms;
	if (delay !== undefined && (typeof delay !== 'number' || !Number.isInteger(delay) || delay < 0)) {
		throw toml.error(`'write_delay_ms' must be a whole number of milliseconds (0 writes each save before it returns)`, 'write_delay_ms');
	}
	const serializer = role === 'values' ? toml.string(table, 'serializer') : undefined;
	const ssl = sslOption(table.ssl, toml);
	// Opening checks the rest (and takes the password out of the URL): its errors name this file and line.
	let config: PostgresConfig;
	try {
		config = (
			role === 'values' ? new ValuePostgres({ url, ...(serializer !== undefined ? { serializer } : {}), ...common() }) : new CallPostgres({ url, ...common() })
		).toConfig() as PostgresConfig;
	} catch (err) {
		throw toml.error(err instanceof Error ? err.message : String(err));
	}
	return config;

	function common(): { schema?: string; ssl?: PostgresConfig['ssl']; timeoutMs?: number; writeDelayMs?: number } {
		return {
			...(schema !== undefined ? { schema } : {}),
			...(ssl !== undefined ? { ssl } : {}),
			...(typeof timeout === 'number' ? { timeoutMs: timeout } : {}),
			...(typeof delay === 'number' ? { writeDelayMs: delay } : {}),
		};
	}
}

function open(config: PostgresConfig, role: StorageRole): ValuePostgres | CallPostgres {
	if (typeof config.url !== 'string') throw new TypeError(`A 'postgres' storage needs a 'url'`);
	const common = {
		url: config.url,
		...(config.schema !== undefined ? { schema: config.schema } : {}),
		...(config.ssl !== undefined ? { ssl: config.ssl } : {}),
		...(config.timeoutMs !== undefined ? { timeoutMs: config.timeoutMs } : {}),
		...(config.writeDelayMs !== undefined ? { writeDelayMs: config.writeDelayMs } : {}),
	};
	return role === 'values'
		? new ValuePostgres({ ...common, ...(config.serializer !== undefined ? { serializer: config.serializer } : {}) })
		: new CallPostgres(common);
}

/** The `postgres` storage kind. */
export const postgresKind: StorageKind<PostgresConfig, ValuePostgres, CallPostgres> = {
	type: 'postgres',
	roles: ['values', 'calls'],
	fromToml(table, role, toml) {
		toml.keys(table, role === 'values' ? [...options, 'serializer'] : options, `a '${role}' storage of type 'postgres'`);
		return read(table, role, toml);
	},
	template(table, toml) {
		toml.keys(table, [...options, 'serializer'], `a 'postgres' template`);
		return { values: read(table, 'values', toml), calls: read(table, 'calls', toml) };
	},
	open,
	valueSize: (values, digest) => values.sizeOf(digest),
	created: (calls, key) => calls.created(key),
	summaryIndex: (calls) => new PostgresIndex(calls),
	// Answered by the server from its summaries and indexes (a listing of 1,000,000 calls reads neither them all nor their records).
	listing: (calls) => ({
		functions: () => calls.functions(),
		page(fn, offset, limit) {
			const { total, records, stats } = calls.page(fn, offset, limit);
			return { total, entries: records.map(entryOf), stats };
		},
	}),
	leases: (calls) => calls.leases(),
	orphans: (calls, values, filesNamespace) => calls.orphanValues(values, filesNamespace),
	// LISTEN/NOTIFY (notify.ts): the call storage's subscription hears every write; the values' would hear the same.
	subscribe(config, role, listener) {
		if (role !== 'calls') return { dispose: () => undefined };
		const password = passwordOf(config.url);
		return listenForChanges(
			{
				url: config.url,
				schema: config.schema ?? defaultSchema,
				timeoutMs: config.timeoutMs ?? 5000,
				...(password !== undefined ? { password } : {}),
				...(config.ssl !== undefined ? { ssl: config.ssl } : {}),
			},
			listener,
		);
	},
	problem: (storage) => storage.problem(),
	close: (storage) => storage.close(),
};
