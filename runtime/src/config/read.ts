// docs/behaviour.md §1.6, §4: reading configuration — `fleche.toml` discovery and merging, and each cache section turned into
// its plain-data description (`CacheConfig`), with errors that name file and line. Storage tables are read by their
// storage kind (storage/kinds.ts), which the caller hands in: this module imports no storage and builds nothing
// (config/build.ts turns descriptions into caches).
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createRequire } from 'node:module';
import type { parse as Parse, TomlError as TomlErrorClass } from 'smol-toml';
import type { CacheConfig } from '../caches/base.js';
import { FlecheError } from '../errors.js';
import { Environment, Git, Runtime, type MetaData } from '../metadata.js';
import type { LeaseOptions } from '../options.js';
import { durationSeconds } from '../duration.js';
import { packageRoot } from '../profile.js';
import type { StorageConfig } from '../storage/base.js';
import type { StorageKinds, StorageRole, TomlReader, TomlTable } from '../storage/kinds.js';

type Toml = { parse: typeof Parse; TomlError: typeof TomlErrorClass };

/**
 * smol-toml, loaded when the first `fleche.toml` is parsed rather than when `fleche` is imported: its ESM build is a
 * dozen modules and was a fifth of the import. Its CommonJS build is one file and keeps no state, so the ESM build
 * requires that from its own location; the CommonJS build calls `require` itself, which the extension's bundler sees.
 */
function loadToml(): Toml {
	const url = import.meta.url as string | undefined;
	// eslint-disable-next-line @typescript-eslint/no-require-imports -- the CommonJS build's lazy load, see above
	return (url !== undefined ? createRequire(url)('smol-toml') : require('smol-toml')) as Toml;
}
let toml: Toml | undefined;

export class ConfigError extends FlecheError {
	/** The configuration file, when the problem is in one. */
	readonly file: string | undefined;
	/** 1-based line in {@link file}, when it could be found. */
	readonly line: number | undefined;
	/** The section (`name`, `name.values`, `default`…) the problem is in, when there is one. */
	readonly section: string | undefined;

	constructor(message: string, where: { file?: string | undefined; line?: number | undefined; section?: string | undefined } = {}, options?: ErrorOptions) {
		const at = where.file === undefined ? '' : `${where.file}${where.line === undefined ? '' : `:${where.line}`}: `;
		const section = where.section === undefined ? '' : `[${where.section}] `;
		super(`${at}${section}${message}`, options);
		this.file = where.file;
		this.line = where.line;
		this.section = where.section;
	}

	static override is(err: unknown): err is ConfigError {
		return FlecheError.is(err) && (err as { name?: unknown }).name === 'ConfigError';
	}
}

/** Where a top-level table of the merged configuration was declared. */
export interface ConfigSource {
	/** Absolute path of the file. */
	readonly file: string;
	/** 1-based line of the table's header (or first key), when it could be found. */
	readonly line: number | undefined;
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
	/** Where discovery starts (and what `default`'s `.fleche/` and relative paths of programmatic configs use). @default process.cwd() */
	readonly cwd?: string;
	/** The home folder: discovery stops there, files above it are ignored, `~` expands to it. @default os.homedir() (`$HOME`) */
	readonly home?: string;
	/** The XDG configuration folder holding `fleche/cache.toml`; empty or relative means `<home>/.config`. @default process.env.XDG_CONFIG_HOME */
	readonly xdgConfigHome?: string | undefined;
}

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
	return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

const reservedNames = new Set(['memory', 'void']);
const defaultKeys = new Set(['cache', 'metadata', 'root', 'hash_code']);
const configurableMetadata: Record<string, () => MetaData> = {
	Runtime: () => new Runtime(),
	Environment: () => new Environment(),
	Git: () => new Git(),
};
const pythonStorageTypes = new Set(['pickle', 'cloudpickle', 'dill', 'bagofholding_hdf']);

function expandHome(path: string, home: string): string {
	if (path === '~') return home;
	if (path.startsWith('~/') || path.startsWith(`~${sep}`)) return join(home, path.slice(2));
	return path;
}

/** Relative paths are relative to the declaring file's folder; absolute, `~` and `:memory:` are not rebased. */
function rebasePath(path: string, dir: string, home: string): string {
	if (path === '' || path === ':memory:') return path;
	const expanded = expandHome(path, home);
	return isAbsolute(expanded) ? expanded : resolve(dir, expanded);
}

const sqliteUrl = /^sqlite:\/\/\/(.*)$/s;

function rebaseUrl(url: string, dir: string, home: string): string {
	const m = sqliteUrl.exec(url);
	if (!m) return url; // other schemes are not files
	const path = m[1]!;
	if (path === '' || path === ':memory:') return url;
	return `sqlite:///${rebasePath(path, dir, home)}`;
}

function rebase(value: unknown, dir: string, home: string): unknown {
	if (Array.isArray(value)) return value.map((v) => rebase(v, dir, home));
	if (!isTable(value)) return value;
	const out: Table = {};
	for (const key of Object.keys(value)) {
		const v = value[key];
		if ((key === 'root' || key === 'path') && typeof v === 'string') out[key] = rebasePath(v, dir, home);
		else if (key === 'url' && typeof v === 'string') out[key] = rebaseUrl(v, dir, home);
		else out[key] = rebase(v, dir, home);
	}
	return out;
}

/** The segments of a TOML key as written (`a."b c".d`), quotes removed; good enough for finding lines. */
function splitKey(text: string): string[] {
	return text.split('.').map((k) => k.trim().replace(/^"(.*)"$|^'(.*)'$/s, '$1$2'));
}

const headerLine = /^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$/;
const assignLine = /^\s*([A-Za-z0-9_\-."' ]+?)\s*=/;

/**
 * The line declaring `path` (such as `['team', 'pool', 1, 'values', 'type']`) in `text`, best effort: every header and
 * key line gets the path it declares (array-of-tables headers `[[a.b]]` counted per array, so the n-th element has
 * index n - 1), and the first line sharing the longest leading part of `path` wins.
 */
function findLine(text: string | undefined, path: readonly (string | number)[]): number | undefined {
	if (text === undefined || path.length === 0) return undefined;
	const lines = text.split(/\r?\n/);
	/** Elements seen so far of each array of tables, by its dotted name. */
	const arrays = new Map<string, number>();
	let current: (string | number)[] = [];
	let best = -1;
	let bestDepth = 0;
	const consider = (at: readonly (string | number)[], line: number): void => {
		let depth = 0;
		while (depth < at.length && depth < path.length && at[depth] === path[depth]) depth++;
		if (depth > bestDepth) {
			bestDepth = depth;
			best = line;
		}
	};
	for (let i = 0; i < lines.length; i++) {
		const line = lines[i]!;
		const header = headerLine.exec(line);
		if (header) {
			const keys = splitKey(header[2]!);
			const isArray = header[1] === '[[';
			const at: (string | number)[] = [];
			for (let k = 0; k < keys.length; k++) {
				at.push(keys[k]!);
				const name = keys.slice(0, k + 1).join('.');
				if (isArray && k === keys.length - 1) {
					const n = arrays.get(name) ?? 0;
					arrays.set(name, n + 1);
					// A new element: arrays nested in the previous one start again.
					for (const nested of arrays.keys()) if (nested.startsWith(`${name}.`)) arrays.delete(nested);
					at.push(n);
				} else if (arrays.has(name)) at.push(arrays.get(name)! - 1);
			}
			current = at;
			consider(current, i);
			continue;
		}
		const assign = assignLine.exec(line);
		if (assign) consider([...current, ...splitKey(assign[1]!)], i);
	}
	return best >= 0 ? best + 1 : undefined;
}

/** @internal One parsed configuration file. */
export interface ConfigDocument {
	readonly file: string;
	readonly text: string;
	readonly data: Table;
}

function readDocument(file: string, home: string): ConfigDocument {
	let text: string;
	try {
		text = readFileSync(file, 'utf8');
	} catch (err) {
		throw new ConfigError(`cannot be read: ${(err as Error).message}`, { file }, { cause: err });
	}
	return parseDocument(text, file, home);
}

/** @internal A configuration file's text, parsed, its relative paths rebased onto its folder. */
export function parseDocument(text: string, file: string, home: string): ConfigDocument {
	let data: Table;
	toml ??= loadToml();
	try {
		data = toml.parse(text);
	} catch (err) {
		if (err instanceof toml.TomlError) {
			const reason = err.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
			throw new ConfigError(`invalid TOML (column ${err.column}): ${reason}\n${err.codeblock}`, { file, line: err.line }, { cause: err });
		}
		throw err;
	}
	return { file, text, data: rebase(data, dirname(file), home) as Table };
}

function isFile(path: string): boolean {
	try {
		return statSync(path).isFile();
	} catch {
		return false;
	}
}

/** Whether `dir` is a strict ancestor of `home` (files there are "above HOME" and ignored). */
function isAboveHome(dir: string, home: string): boolean {
	const rel = relative(dir, home);
	return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** `fleche.toml` files from `cwd` up to `home` (inclusive) or the filesystem root, closest first. */
function discover(cwd: string, home: string): string[] {
	const found: string[] = [];
	for (let dir = cwd; ; dir = dirname(dir)) {
		if (!isAboveHome(dir, home)) {
			const candidate = join(dir, 'fleche.toml');
			if (isFile(candidate)) found.push(candidate);
		}
		if (dir === home || dirname(dir) === dir) break;
	}
	return found;
}

function xdgFile(home: string, xdgConfigHome: string | undefined): string {
	// The XDG spec says relative values are invalid and must be ignored.
	const base = xdgConfigHome !== undefined && xdgConfigHome !== '' && isAbsolute(xdgConfigHome) ? xdgConfigHome : join(home, '.config');
	return join(base, 'fleche', 'cache.toml');
}

function snakeToCamel(key: string): string {
	return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Where a value being translated sits: for error messages. */
class Where {
	constructor(
		readonly file: string | undefined,
		readonly text: string | undefined,
		readonly path: readonly (string | number)[],
	) {}

	at(...more: (string | number)[]): Where {
		return new Where(this.file, this.text, [...this.path, ...more]);
	}

	get section(): string {
		return this.path.map((p) => (typeof p === 'number' ? `#${p + 1}` : p)).join('.');
	}

	error(message: string, key?: string): ConfigError {
		const line = findLine(this.text, key === undefined ? this.path : [...this.path, key]);
		return new ConfigError(message, { file: this.file, line, section: this.section });
	}
}

function checkKeys(table: Table, allowed: ReadonlySet<string> | readonly string[], where: Where, what: string): void {
	const set = allowed instanceof Set ? allowed : new Set(allowed as readonly string[]);
	for (const key of Object.keys(table)) {
		if (!set.has(key)) throw where.error(`unknown key '${key}' in ${what} (allowed: ${[...set].join(', ')})`, key);
	}
}

function stringOption(table: Table, key: string, where: Where): string | undefined {
	const v = table[key];
	if (v === undefined) return undefined;
	if (typeof v !== 'string' || v === '') throw where.error(`'${key}' must be a non-empty string`, key);
	return v;
}

function boolOption(table: Table, key: string, where: Where): boolean | undefined {
	const v = table[key];
	if (v === undefined) return undefined;
	if (typeof v !== 'boolean') throw where.error(`'${key}' must be true or false`, key);
	return v;
}

/** `lease = false` or `lease = { wait_seconds = 60, stale_seconds = 10 }` of a cache section (docs/behaviour.md §3.6). */
function leaseOption(table: Table, where: Where): boolean | LeaseOptions | undefined {
	const v = table.lease;
	if (v === undefined || typeof v === 'boolean') return v;
	if (!isTable(v)) throw where.error(`'lease' must be true, false or a table { wait_seconds = …, stale_seconds = … }`, 'lease');
	checkKeys(v, ['wait_seconds', 'stale_seconds'], where.at('lease'), "'lease'");
	const out: { waitSeconds?: number; staleSeconds?: number } = {};
	for (const key of ['wait_seconds', 'stale_seconds'] as const) {
		const n = v[key];
		if (n === undefined) continue;
		if (typeof n !== 'number' || !(n > 0)) throw where.at('lease').error(`'${key}' must be a number of seconds > 0`, key);
		out[key === 'wait_seconds' ? 'waitSeconds' : 'staleSeconds'] = n;
	}
	return out;
}

/**
 * `max_age` and `stale_while_revalidate` of a cache section (docs/behaviour.md §18): seconds, or a duration with a
 * unit (`"7d"`); `stale_while_revalidate` also `true`/`false`. Normalised to seconds, as `toConfig()` gives them.
 */
function expiryOptions(table: Table, where: Where): { maxAge?: number; staleWhileRevalidate?: boolean | number } {
	const out: { maxAge?: number; staleWhileRevalidate?: boolean | number } = {};
	const duration = (key: string): number => {
		try {
			return durationSeconds(table[key], `'${key}'`);
		} catch (err) {
			throw where.error((err as Error).message, key);
		}
	};
	if (table.max_age !== undefined) out.maxAge = duration('max_age');
	const stale = table.stale_while_revalidate;
	if (stale !== undefined) out.staleWhileRevalidate = typeof stale === 'boolean' ? stale : duration('stale_while_revalidate');
	return out;
}

/** `max_bytes` of a cache section: a positive integer of bytes (docs/behaviour.md §18). */
function maxBytesOption(table: Table, where: Where): number | undefined {
	const v = table.max_bytes;
	if (v === undefined) return undefined;
	if (!(Number.isSafeInteger(v) && (v as number) > 0)) throw where.error(`'max_bytes' must be a positive integer (bytes)`, 'max_bytes');
	return v as number;
}

/** The keys a cache section of values and calls (or a template) may have whatever its storages. */
const CACHE_KEYS = ['read_only', 'max_size', 'max_bytes', 'lease', 'max_age', 'stale_while_revalidate', 'queues'] as const;

/**
 * A BullMQ queue whose jobs compute calls of a cache (docs/behaviour.md §3.7): what tools read to show calls queued
 * and running on `fleche worker` processes. Not part of the cache's description: a queue is where calls run, not
 * where they are kept.
 */
export interface QueueRef {
	/** Redis URL, as ioredis takes it (it may hold a password: tools show {@link QueueRef.where} instead). */
	readonly url: string;
	/** The queue's name, as given to `bullmqExecutor` and `fleche worker --queue`. */
	readonly queue: string;
	/** BullMQ's key prefix, when not the default `bull`. */
	readonly prefix?: string;
}

/** `queues = [{ url = "redis://…", queue = "fleche" }]` of a cache section (docs/behaviour.md §3.7). */
function queuesOption(table: Table, where: Where): QueueRef[] {
	const v = table.queues;
	if (v === undefined) return [];
	if (!Array.isArray(v) || !v.every(isTable))
		throw where.error(`'queues' must be an array of tables such as [{ url = "redis://host:6379", queue = "fleche" }]`, 'queues');
	return v.map((q, i) => {
		const at = where.at('queues', i);
		checkKeys(q, ['url', 'queue', 'prefix'], at, 'a queue');
		const url = stringOption(q, 'url', at);
		const queue = stringOption(q, 'queue', at);
		if (url === undefined || !/^rediss?:\/\//.test(url)) throw at.error(`a queue needs 'url', a redis:// or rediss:// URL`, 'url');
		if (queue === undefined) throw at.error(`a queue needs 'queue', the queue's name`, 'queue');
		const prefix = stringOption(q, 'prefix', at);
		return { url, queue, ...(prefix === undefined ? {} : { prefix }) };
	});
}

/** What reading asks of the building side (config/build.ts): the storage kinds, and which composite cache types exist. */
export interface ConfigVocabulary {
	readonly storages: StorageKinds;
	/** Whether `type` names a registered composite cache (`stack`, `pool`, …), for sections with a `type`. */
	isCacheType(type: string): boolean;
}

/** A storage kind's view of the table it reads: errors at this table, and the keys every such table may have. */
class TableReader implements TomlReader {
	constructor(
		private readonly where: Where,
		private readonly vocabulary: ConfigVocabulary,
		/** Keys allowed whatever the kind (`type`; a template's `template`, `read_only`, `max_size`). */
		private readonly common: readonly string[],
	) {}

	error(message: string, key?: string): ConfigError {
		return this.where.error(message, key);
	}

	keys(table: TomlTable, allowed: readonly string[], what: string): void {
		checkKeys(table, [...this.common, ...allowed], this.where, what);
	}

	string(table: TomlTable, key: string): string | undefined {
		return stringOption(table, key, this.where);
	}

	boolean(table: TomlTable, key: string): boolean | undefined {
		return boolOption(table, key, this.where);
	}

	storage(value: unknown, role: StorageRole, key: string): StorageConfig {
		return storageConfig(value, role, this.where.at(key), this.vocabulary);
	}
}

/** A `values` or `calls` table (or a type name alone), read by the kind it names. */
function storageConfig(value: unknown, role: StorageRole, where: Where, vocabulary: ConfigVocabulary): StorageConfig {
	const kinds = vocabulary.storages;
	if (typeof value === 'string') value = { type: value };
	if (!isTable(value)) throw where.error(`'${role}' must be a table with a 'type' (${kinds.known(role)})`);
	const type = value.type;
	if (typeof type !== 'string') throw where.error(`'${role}' needs a 'type' (${kinds.known(role)})`);
	const kind = kinds.get(type);
	if (kind === undefined) {
		if (pythonStorageTypes.has(type)) throw where.error(`'${type}' is a Python storage type: use type = "file"`, 'type');
		throw where.error(`unknown storage type '${type}' (${kinds.known()}; others need registerStorage())`, 'type');
	}
	if (!kind.roles.includes(role)) {
		const other = role === 'values' ? 'call records' : 'values';
		throw where.error(`'${type}' stores ${other} only: use another type for ${role} (${kinds.known(role)})`, 'type');
	}
	if (kind.fromToml !== undefined) return kind.fromToml(value, role, new TableReader(where, vocabulary, ['type']));
	// A kind registered by its factory alone takes the keys as they are, in the spelling of its options.
	const out: Record<string, unknown> = { type };
	for (const key of Object.keys(value)) if (key !== 'type') out[snakeToCamel(key)] = value[key];
	return out as StorageConfig;
}

/** The kinds that offer a template: `file, sql, …`. */
function templateNames(vocabulary: ConfigVocabulary): string {
	return vocabulary.storages
		.list()
		.filter((k) => k.template !== undefined)
		.map((k) => k.type)
		.join(', ');
}

/** `template = "<type>"`: both storages from the kind's template. */
function templateStorages(table: Table, where: Where, vocabulary: ConfigVocabulary): { values: StorageConfig; calls: StorageConfig } {
	const template = table.template;
	const kind = typeof template === 'string' ? vocabulary.storages.get(template) : undefined;
	if (kind?.template === undefined) {
		throw where.error(`unknown template ${JSON.stringify(template)} (use one of: ${templateNames(vocabulary)})`, 'template');
	}
	return kind.template(table, new TableReader(where, vocabulary, ['template', ...CACHE_KEYS]));
}

/**
 * The plain-data description of one configured cache (docs/behaviour.md §4 dispatch order): an array is a stack; a table
 * with `pool` a pool; `template` expands; a registered cache `type` passes through; otherwise `values` + `calls`;
 * then `max_size` wraps in a size limit and `read_only` in a read-only view.
 */
function sectionConfig(value: unknown, where: Where, vocabulary: ConfigVocabulary): CacheConfig {
	if (Array.isArray(value)) {
		if (value.length === 0) throw where.error('an empty stack: give at least one [[layer]]');
		return { type: 'stack', caches: value.map((layer, i) => sectionConfig(layer, where.at(i), vocabulary)) };
	}
	if (!isTable(value)) throw where.error('a cache must be a table ([name]) or an array of tables ([[name]])');
	const readOnly = boolOption(value, 'read_only', where) ?? false;
	const maxSize = value.max_size;
	if (maxSize !== undefined && !(Number.isSafeInteger(maxSize) && (maxSize as number) > 0)) {
		throw where.error(`'max_size' must be a positive integer`, 'max_size');
	}
	const maxBytes = maxBytesOption(value, where);
	let config: CacheConfig;
	if ('pool' in value) {
		checkKeys(value, ['pool', 'read_only'], where, 'a pool');
		const pool = value.pool;
		if (!Array.isArray(pool)) throw where.error(`'pool' must be an array of tables ([[name.pool]])`, 'pool');
		config = { type: 'pool', caches: pool.map((member, i) => sectionConfig(member, where.at('pool', i), vocabulary)) };
	} else if ('template' in value) {
		const lease = leaseOption(value, where);
		config = { type: 'cache', ...templateStorages(value, where, vocabulary), ...(lease === undefined ? {} : { lease }), ...expiryOptions(value, where) };
	} else if ('type' in value) {
		const type = value.type;
		if (type === 'ssh') throw where.error(`'ssh' caches are not supported in this port`, 'type');
		if (typeof type !== 'string' || !vocabulary.isCacheType(type) || type === 'cache') {
			throw where.error(`unknown cache type ${JSON.stringify(type)}: a cache section has 'values' and 'calls' tables, a 'template', or a 'pool'`, 'type');
		}
		const out: Record<string, unknown> = { type };
		for (const key of Object.keys(value))
			if (key !== 'type' && key !== 'read_only' && key !== 'max_size' && key !== 'max_bytes' && key !== 'queues') out[snakeToCamel(key)] = value[key];
		config = out as CacheConfig;
	} else {
		checkKeys(value, ['values', 'calls', ...CACHE_KEYS], where, 'a cache');
		if (value.values === undefined || value.calls === undefined) {
			throw where.error(`a cache needs both 'values' and 'calls' storages (or a template: ${templateNames(vocabulary)})`);
		}
		const lease = leaseOption(value, where);
		config = {
			type: 'cache',
			values: storageConfig(value.values, 'values', where.at('values'), vocabulary),
			calls: storageConfig(value.calls, 'calls', where.at('calls'), vocabulary),
			...(lease === undefined ? {} : { lease }),
			...expiryOptions(value, where),
		};
	}
	if (maxSize !== undefined || maxBytes !== undefined) {
		config = { type: 'sizeLimited', cache: config, ...(maxSize !== undefined ? { maxSize } : {}), ...(maxBytes !== undefined ? { maxBytes } : {}) };
	}
	if (readOnly) config = { type: 'readonly', cache: config };
	return config;
}

/** The description of a file cache under `root` (values in `root/values`, calls in `root/calls`): the default store. */
export function fileCacheConfig(root: string): CacheConfig {
	return { type: 'cache', values: { type: 'file', root: join(root, 'values') }, calls: { type: 'file', root: join(root, 'calls') } };
}

/**
 * The merged `fleche.toml` configuration of a folder (docs/behaviour.md §4), read but not built: which files were read, where
 * each cache was declared, and the plain-data description of each cache by name. `FlecheConfig` (config/build.ts)
 * adds opening caches.
 *
 * How `cache('default')` is chosen: `$FLECHE_ROOT` when set (a file store there, whatever the files say); else
 * `[default] cache`, a section name or an inline `[default.cache]` table; else the project-local `.fleche/` store next
 * to the nearest `package.json`. An unknown name is a {@link ConfigError}, never a silent in-memory fallback.
 */
export class ParsedConfig {
	/** The files merged, closest first (the XDG `cache.toml` last when it was used). */
	readonly files: readonly string[];
	/** Merged top-level tables, relative paths already rebased onto their file's folder. */
	readonly tables: Readonly<Record<string, unknown>>;
	/** The folder the configuration was loaded for. */
	readonly cwd: string;
	readonly #sources: ReadonlyMap<string, ConfigDocument>;
	readonly #vocabulary: ConfigVocabulary;

	/** @internal Use `loadConfig` or `FlecheConfig.fromToml`. */
	constructor(documents: readonly ConfigDocument[], cwd: string, vocabulary: ConfigVocabulary) {
		this.cwd = cwd;
		this.#vocabulary = vocabulary;
		this.files = documents.map((d) => d.file);
		const tables: Record<string, unknown> = {};
		const sources = new Map<string, ConfigDocument>();
		// Farthest first, so closer files replace whole top-level tables (a shallow merge).
		for (const doc of [...documents].reverse()) {
			for (const key of Object.keys(doc.data)) {
				tables[key] = doc.data[key];
				sources.set(key, doc);
			}
		}
		this.tables = Object.freeze(tables);
		this.#sources = sources;
		for (const key of Object.keys(tables)) {
			const where = this.where(key);
			const value = tables[key];
			if (reservedNames.has(key)) throw where.error(`'${key}' is a reserved cache name (the built-in ${key} cache): pick another name`);
			if (!isTable(value) && !(Array.isArray(value) && value.every(isTable))) {
				throw where.error(`top-level '${key}' must be a table ([${key}]) or an array of tables ([[${key}]])`);
			}
		}
		const def = tables.default;
		if (def !== undefined) {
			if (!isTable(def)) throw this.where('default').error('[default] must be a table');
			checkKeys(def, defaultKeys, this.where('default'), '[default]');
			const ref = def.cache;
			if (ref !== undefined && typeof ref !== 'string' && !isTable(ref)) {
				throw this.where('default').error(`'cache' must be a cache name or a table ([default.cache])`, 'cache');
			}
			if (def.root !== undefined && typeof def.root !== 'boolean') throw this.where('default').error(`'root' must be true or false`, 'root');
			// Checked now, not at the first miss that gathers metadata, so that every tool reports a misspelt source.
			if (def.metadata !== undefined) this.metadata();
			if (def.hash_code !== undefined) this.hashCode();
		}
	}

	private where(name: string): Where {
		const doc = this.#sources.get(name);
		return new Where(doc?.file, doc?.text, [name]);
	}

	/** Names of the caches the files define (every top-level table but `[default]`). */
	names(): string[] {
		return Object.keys(this.tables).filter((k) => k !== 'default');
	}

	/** Where a top-level table (a cache, or `default`) was declared, or `undefined` when no file declares it. */
	source(name: string): ConfigSource | undefined {
		const doc = this.#sources.get(name);
		if (!doc) return undefined;
		return { file: doc.file, line: findLine(doc.text, [name]) };
	}

	/** The cache name `[default] cache` refers to, when it names one (not when it is an inline table). */
	get defaultName(): string | undefined {
		const def = this.tables.default;
		return isTable(def) && typeof def.cache === 'string' ? def.cache : undefined;
	}

	/**
	 * The plain-data description of the cache called `name`, for `cacheFromConfig` (or a worker).
	 * @throws ConfigError for an unknown name or a section that is not a valid cache; the message names the file and line.
	 */
	cacheConfig(name = 'default'): CacheConfig {
		return this.resolve(name, []);
	}

	private resolve(name: string, seen: readonly string[]): CacheConfig {
		if (name === 'memory' || name === 'void') return { type: 'cache', values: { type: name }, calls: { type: name } };
		if (name === 'default') {
			const env = process.env.FLECHE_ROOT;
			if (env !== undefined && env !== '') return fileCacheConfig(env);
			const def = this.tables.default;
			const ref = isTable(def) ? def.cache : undefined;
			if (ref === undefined) return fileCacheConfig(defaultRoot(this.cwd));
			const where = this.where('default');
			if (typeof ref !== 'string') return sectionConfig(ref, where.at('cache'), this.#vocabulary);
			if (ref === 'default' || seen.includes(ref)) throw where.error(`[default] cache = '${ref}' refers to itself`, 'cache');
			if (!reservedNames.has(ref) && !(ref in this.tables)) {
				throw where.error(`cache = '${ref}' names no cache: ${this.known()}`, 'cache');
			}
			return this.resolve(ref, [...seen, 'default']);
		}
		if (!(name in this.tables)) throw new ConfigError(`Unknown cache name '${name}': ${this.known()}`);
		return sectionConfig(this.tables[name], this.where(name), this.#vocabulary);
	}

	/**
	 * The BullMQ queues the cache called `name` names (`queues = [...]`, in each layer of a stack; docs/behaviour.md
	 * §3.7), for tools that show calls in flight; `[]` for none, and for a `default` that is no section.
	 * @throws ConfigError for a malformed `queues`.
	 */
	queues(name = 'default'): QueueRef[] {
		if (name === 'default') {
			const def = this.tables.default;
			const ref = isTable(def) ? def.cache : undefined;
			if (process.env.FLECHE_ROOT || ref === undefined) return [];
			if (typeof ref !== 'string') return isTable(ref) ? queuesOption(ref, this.where('default').at('cache')) : [];
			return ref === 'default' ? [] : this.queues(ref);
		}
		const value = this.tables[name];
		const where = this.where(name);
		const layers = Array.isArray(value) ? value.map((layer, i) => [layer, where.at(i)] as const) : [[value, where] as const];
		return layers.flatMap(([layer, at]) => (isTable(layer) ? queuesOption(layer, at) : []));
	}

	private known(): string {
		const names = this.names();
		const defined = names.length > 0 ? `defined: ${names.join(', ')}` : 'no cache is defined';
		const files = this.files.length > 0 ? ` in ${this.files.join(', ')}` : ` (no fleche.toml found from ${this.cwd})`;
		return `${defined}${files}; built in: memory, void, default`;
	}

	/**
	 * `[default] hash_code`: the `hashCode` of every cached function that does not set it (`true`, `false` or
	 * `"deep"`, docs/behaviour.md §1.3); `undefined` when unset.
	 * @throws ConfigError for any other value.
	 */
	hashCode(): boolean | 'deep' | undefined {
		const def = this.tables.default;
		const value = isTable(def) ? def.hash_code : undefined;
		if (value === undefined || typeof value === 'boolean' || value === 'deep') return value;
		throw this.where('default').error(`'hash_code' must be true, false or "deep"`, 'hash_code');
	}

	/**
	 * The metadata sources of `[default] metadata` (`"Runtime"`, `"Environment"`, `"Git"`); `[Runtime]` when unset.
	 * @throws ConfigError for `"Tags"` (set tags in code) or an unknown name.
	 */
	metadata(): MetaData[] {
		const def = this.tables.default;
		const list = isTable(def) ? def.metadata : undefined;
		if (list === undefined) return [new Runtime()];
		const where = this.where('default');
		if (!Array.isArray(list)) throw where.error(`'metadata' must be an array such as ["Runtime", "Git"]`, 'metadata');
		return list.map((item) => {
			if (item === 'Tags') throw where.error(`'Tags' cannot be configured in fleche.toml: use tags({...}) or project(name) in code`, 'metadata');
			const make = typeof item === 'string' ? configurableMetadata[item] : undefined;
			if (make === undefined) {
				throw where.error(`unknown metadata ${JSON.stringify(item)} (allowed: ${Object.keys(configurableMetadata).join(', ')})`, 'metadata');
			}
			return make();
		});
	}
}

/**
 * Finds and merges the `fleche.toml` files that apply to a folder (docs/behaviour.md §4): every `fleche.toml` from `cwd` up to
 * the home folder (inclusive; files above it are ignored), then `$XDG_CONFIG_HOME/fleche/cache.toml` as the lowest
 * layer. A closer file's top-level table replaces the same-named table of farther files; other tables stay visible.
 * A file with `[default] root = true` stops the search: farther files and the XDG file are ignored. Relative `root`,
 * `path` and `url` values are rebased onto the declaring file's folder; `~` expands to the home folder.
 *
 * This is what `cache()` uses (with `process.cwd()`, once, on first use); tools pass each folder they care about.
 * @throws ConfigError for a file that is not valid TOML (naming file, line and column) or a malformed `[default]`.
 * @example
 * ```ts
 * import { loadConfig, cacheFromConfig } from 'fleche';
 * const config = loadConfig({ cwd: workspaceFolder });
 * for (const name of config.names()) console.log(name, config.source(name), config.cacheConfig(name));
 * ```
 */

/** @internal The files `loadConfig` merges (see there), parsed, closest first. */
export function readDocuments(options: LoadConfigOptions | string = {}): { documents: ConfigDocument[]; cwd: string } {
	const opts: LoadConfigOptions = typeof options === 'string' ? { cwd: options } : options;
	const cwd = resolve(opts.cwd ?? process.cwd());
	const home = resolve(opts.home ?? homedir());
	const xdg = 'xdgConfigHome' in opts ? opts.xdgConfigHome : process.env.XDG_CONFIG_HOME;
	const documents: ConfigDocument[] = [];
	let stopped = false;
	for (const file of discover(cwd, home)) {
		const doc = readDocument(file, home);
		documents.push(doc);
		const def = doc.data.default;
		if (isTable(def) && def.root === true) {
			stopped = true;
			break;
		}
	}
	if (!stopped) {
		const file = xdgFile(home, xdg);
		if (isFile(file)) documents.push(readDocument(file, home));
	}
	return { documents, cwd };
}

/**
 * The folder of the default store: `.fleche/` next to the nearest `package.json` above the working directory
 * (the working directory itself when there is none), or `$FLECHE_ROOT` when set.
 */
export function defaultRoot(cwd: string = process.cwd()): string {
	const env = process.env.FLECHE_ROOT;
	if (env !== undefined && env !== '') return env;
	return join(packageRoot(cwd) ?? cwd, '.fleche');
}
