// reference §1.6, §1.10, §4: cache names, fleche.toml discovery and merging, and caches from plain-data descriptions.
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import type { BaseCache, CacheConfig } from './caches/base.js';
import type { CallStorage, StorageConfig, ValueStorage } from './storage/base.js';
import { Cache } from './caches/cache.js';
import { CachePool } from './caches/cachePool.js';
import { CacheStack } from './caches/cacheStack.js';
import { FilteredCache, filterFromConfig, type FilterConfig } from './caches/filteredCache.js';
import { ReadOnlyCache } from './caches/readOnlyCache.js';
import { SizeLimitedCache } from './caches/sizeLimitedCache.js';
import { FlecheError } from './errors.js';
import { Environment, Git, Runtime, type MetaData } from './metadata.js';
import { ValueMemory, CallMemory } from './storage/memory.js';
import { ValueVoid, CallVoid } from './storage/void.js';
import { CallFile } from './storage/file/calls.js';
import { ValueFile } from './storage/file/values.js';
import { parseSecretKeys } from './storage/security.js';
import { CallSql } from './storage/sql/store.js';
import { packageRoot } from './profile.js';

// ---------------------------------------------------------------------------------------------------------------
// Plain-data descriptions → caches (what workers and other processes use to reopen a cache)

/** Builds a storage from its plain-data description. */
export type StorageFactory = (config: StorageConfig, kind: 'values' | 'calls') => ValueStorage | CallStorage;

const storagesKey = Symbol.for('fleche.storageTypes');

function storageTypes(): Map<string, StorageFactory> {
	const g = globalThis as { [storagesKey]?: Map<string, StorageFactory> };
	return (g[storagesKey] ??= new Map<string, StorageFactory>());
}

/**
 * Registers a storage type, so configurations (`fleche.toml` sections, caches sent to workers) can name it.
 * Built in: `memory`, `void`, `file`; `sql` registers itself. In `fleche.toml`, the keys of a registered type's table
 * reach `factory` with snake_case names turned into camelCase (`lock_timeout` → `lockTimeout`).
 * @example
 * ```ts
 * registerStorage('redis', (config, kind) => (kind === 'values' ? new ValueRedis(config) : new CallRedis(config)));
 * ```
 */
export function registerStorage(type: string, factory: StorageFactory): void {
	if (typeof type !== 'string' || type === '') throw new TypeError('registerStorage() needs a type name');
	storageTypes().set(type, factory);
}

function storageFromConfig(config: StorageConfig, kind: 'values' | 'calls'): ValueStorage | CallStorage {
	switch (config.type) {
		case 'memory':
			return kind === 'values' ? new ValueMemory() : new CallMemory();
		case 'void':
			return kind === 'values' ? new ValueVoid() : new CallVoid();
		case 'file': {
			const c = config as Extract<StorageConfig, { type: 'file' }>;
			if (typeof c.root !== 'string' || c.root === '') throw new TypeError(`A file storage needs a 'root'`);
			if (kind === 'calls') return new CallFile({ root: c.root, ...(c.secretKey !== undefined ? { secretKey: [...c.secretKey] } : {}) });
			return new ValueFile({
				root: c.root,
				...(c.serializer !== undefined ? { serializer: c.serializer } : {}),
				...(c.compress !== undefined ? { compress: c.compress } : {}),
				...(c.secretKey !== undefined ? { secretKey: [...c.secretKey] } : {}),
			});
		}
		case 'sql': {
			const path = (config as { path?: unknown }).path;
			if (kind === 'values') throw new TypeError(`An 'sql' storage holds call records only`);
			if (typeof path !== 'string' || path === '') throw new TypeError(`An 'sql' storage needs a 'path'`);
			return new CallSql({ path });
		}
		default: {
			const factory = storageTypes().get(config.type);
			if (!factory) throw new TypeError(`Unknown storage type '${config.type}'`);
			return factory(config, kind);
		}
	}
}

/**
 * Opens a cache from its plain-data description ({@link BaseCache.toConfig}): how a worker thread or another
 * process reaches the same store. Memory storage opens empty: its contents never travel. Compositions (`stack`,
 * `pool`, `readonly`, `sizeLimited`, `filtered`) open their members recursively.
 * @example
 * ```ts
 * const again = cacheFromConfig(cache().toConfig());
 * ```
 */
export function cacheFromConfig(config: CacheConfig): BaseCache {
	if (typeof config !== 'object' || config === null || typeof config.type !== 'string') {
		throw new TypeError('cacheFromConfig() takes a cache description such as cache().toConfig()');
	}
	if (config.type !== 'cache') {
		const factory = cacheTypes().get(config.type);
		if (!factory) throw new TypeError(`Unknown cache type '${config.type}'`);
		return factory(config);
	}
	const c = config as Extract<CacheConfig, { type: 'cache' }>;
	return new Cache(storageFromConfig(c.values, 'values') as ValueStorage, storageFromConfig(c.calls, 'calls') as CallStorage);
}

/** Builds a composite cache (a stack, a pool, a read-only view…) from its plain-data description. */
export type CacheFactory = (config: CacheConfig) => BaseCache;

const cacheTypesKey = Symbol.for('fleche.cacheTypes');

function cacheTypes(): Map<string, CacheFactory> {
	const g = globalThis as { [cacheTypesKey]?: Map<string, CacheFactory> };
	return (g[cacheTypesKey] ??= new Map<string, CacheFactory>());
}

/**
 * Registers a composite cache type for {@link cacheFromConfig}. Built in: `stack`, `pool`, `readonly`,
 * `sizeLimited`, `filtered`.
 * @example
 * ```ts
 * registerCacheType('audited', (config) => new AuditedCache(cacheFromConfig(config.cache as CacheConfig)));
 * ```
 */
export function registerCacheType(type: string, factory: CacheFactory): void {
	if (typeof type !== 'string' || type === '' || type === 'cache') throw new TypeError(`registerCacheType() needs a new type name`);
	cacheTypes().set(type, factory);
}

/** A composite's own options, read loosely: its factory validates them. */
type Options = Readonly<Record<string, unknown>>;

function membersOf(config: CacheConfig, field: string): BaseCache[] {
	const list = (config as Options)[field];
	if (!Array.isArray(list)) throw new TypeError(`A '${config.type}' cache description needs a '${field}' array`);
	return list.map((c) => cacheFromConfig(c as CacheConfig));
}

function innerOf(config: CacheConfig): BaseCache {
	return cacheFromConfig((config as Options).cache as CacheConfig);
}

// Registered in this module, which every entry point loads, so reopening never depends on import order.
registerCacheType('stack', (config) => new CacheStack(membersOf(config, 'caches')));
registerCacheType('pool', (config) => new CachePool(membersOf(config, 'caches')));
registerCacheType('readonly', (config) => new ReadOnlyCache(innerOf(config)));
registerCacheType('sizeLimited', (config) => new SizeLimitedCache(innerOf(config), { maxSize: (config as Options).maxSize as number }));
registerCacheType('filtered', (config) => new FilteredCache(innerOf(config), filterFromConfig((config as Options).filter as FilterConfig)));

// ---------------------------------------------------------------------------------------------------------------
// fleche.toml

/** A problem in a `fleche.toml` file (or the XDG `cache.toml`): the message starts with `file:line:`. */
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
const defaultKeys = new Set(['cache', 'metadata', 'root']);
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

/** One parsed configuration file. */
interface ConfigDocument {
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

function parseDocument(text: string, file: string, home: string): ConfigDocument {
	let data: Table;
	try {
		data = parse(text);
	} catch (err) {
		if (err instanceof TomlError) {
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

function secretKeyOption(table: Table, where: Where): readonly string[] | undefined {
	const v = table.secret_key;
	if (v === undefined) return undefined;
	const keys = typeof v === 'string' ? v.split(':') : Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;
	if (keys === undefined) throw where.error(`'secret_key' must be a hex string or an array of hex strings`, 'secret_key');
	try {
		// Checked here, not when the storage opens, so the error names this file and line.
		parseSecretKeys(keys);
	} catch (err) {
		throw where.error(`'secret_key': ${(err as Error).message.replace(/^secretKey /, '')}`, 'secret_key');
	}
	return keys;
}

const fileValueKeys = ['type', 'root', 'serializer', 'compress', 'secret_key'];

function fileStorage(table: Table, kind: 'values' | 'calls', where: Where): StorageConfig {
	checkKeys(table, kind === 'values' ? fileValueKeys : ['type', 'root', 'secret_key'], where, `a '${kind}' storage of type 'file'`);
	const root = stringOption(table, 'root', where);
	if (root === undefined) throw where.error(`a 'file' storage needs a 'root' folder`);
	const serializer = stringOption(table, 'serializer', where);
	const compress = boolOption(table, 'compress', where);
	const secretKey = secretKeyOption(table, where);
	return {
		type: 'file',
		root,
		...(serializer !== undefined ? { serializer } : {}),
		...(compress !== undefined ? { compress } : {}),
		...(secretKey !== undefined ? { secretKey } : {}),
	};
}

function sqlPath(table: Table, where: Where): string {
	const path = stringOption(table, 'path', where);
	const url = stringOption(table, 'url', where);
	if (path !== undefined && url !== undefined) throw where.error(`give either 'path' or 'url', not both`, 'url');
	if (path !== undefined) return path;
	if (url === undefined) throw where.error(`an 'sql' storage needs a 'path' (or a 'sqlite:///…' url)`);
	if (url === 'sqlite://' || url === 'sqlite:///:memory:') return ':memory:';
	const m = sqliteUrl.exec(url);
	if (!m || m[1] === '') throw where.error(`only 'sqlite:///<path>' urls are supported (the SQL store is SQLite), got '${url}'`, 'url');
	return m[1]!;
}

function storageConfig(value: unknown, kind: 'values' | 'calls', where: Where): StorageConfig {
	if (typeof value === 'string') value = { type: value };
	if (!isTable(value)) throw where.error(`'${kind}' must be a table with a 'type' (memory, void, file${kind === 'calls' ? ', sql' : ''})`);
	const type = value.type;
	if (typeof type !== 'string') throw where.error(`'${kind}' needs a 'type' (memory, void, file${kind === 'calls' ? ', sql' : ''})`);
	switch (type) {
		case 'memory':
		case 'void':
			checkKeys(value, ['type'], where, `a '${type}' storage`);
			return { type };
		case 'file':
			return fileStorage(value, kind, where);
		case 'sql':
			if (kind === 'values') throw where.error(`'sql' stores call records only: use 'file' for values`, 'type');
			checkKeys(value, ['type', 'path', 'url'], where, `an 'sql' storage`);
			return { type: 'sql', path: sqlPath(value, where) };
		default: {
			if (pythonStorageTypes.has(type)) throw where.error(`'${type}' is a Python storage type: use type = "file"`, 'type');
			if (!storageTypes().has(type)) {
				throw where.error(`unknown storage type '${type}' (built in: memory, void, file, sql; others need registerStorage())`, 'type');
			}
			const out: Record<string, unknown> = { type };
			for (const key of Object.keys(value)) if (key !== 'type') out[snakeToCamel(key)] = value[key];
			return out as StorageConfig;
		}
	}
}

const templates = ['file', 'sql', 'memory', 'void'];

function templateStorages(table: Table, where: Where): { values: StorageConfig; calls: StorageConfig } {
	const template = table.template;
	switch (template) {
		case 'memory':
		case 'void':
			checkKeys(table, ['template', 'read_only', 'max_size'], where, `a '${template}' template`);
			return { values: { type: template }, calls: { type: template } };
		case 'file':
		case 'sql': {
			const own = template === 'file' ? ['calls'] : ['path', 'url'];
			checkKeys(table, ['template', 'root', 'serializer', 'compress', 'secret_key', 'values', 'read_only', 'max_size', ...own], where, `a '${template}' template`);
			const root = stringOption(table, 'root', where);
			if (root === undefined) throw where.error(`the '${template}' template needs a 'root' folder`);
			const values =
				table.values !== undefined
					? storageConfig(table.values, 'values', where.at('values'))
					: fileStorage(
							{
								root: join(root, 'values'),
								...(table.serializer !== undefined ? { serializer: table.serializer } : {}),
								...(table.compress !== undefined ? { compress: table.compress } : {}),
								...(table.secret_key !== undefined ? { secret_key: table.secret_key } : {}),
							},
							'values',
							where,
						);
			if (template === 'file') {
				const calls =
					table.calls !== undefined
						? storageConfig(table.calls, 'calls', where.at('calls'))
						: fileStorage({ root: join(root, 'calls'), ...(table.secret_key !== undefined ? { secret_key: table.secret_key } : {}) }, 'calls', where);
				return { values, calls };
			}
			const explicit = table.path !== undefined || table.url !== undefined;
			return { values, calls: { type: 'sql', path: explicit ? sqlPath(table, where) : join(root, 'calls.db') } };
		}
		default:
			throw where.error(`unknown template ${JSON.stringify(template)} (use one of: ${templates.join(', ')})`, 'template');
	}
}

/**
 * The plain-data description of one configured cache (reference §4 dispatch order): an array is a stack; a table
 * with `pool` a pool; `template` expands; a registered cache `type` passes through; otherwise `values` + `calls`;
 * then `max_size` wraps in a size limit and `read_only` in a read-only view.
 */
function sectionConfig(value: unknown, where: Where): CacheConfig {
	if (Array.isArray(value)) {
		if (value.length === 0) throw where.error('an empty stack: give at least one [[layer]]');
		return { type: 'stack', caches: value.map((layer, i) => sectionConfig(layer, where.at(i))) };
	}
	if (!isTable(value)) throw where.error('a cache must be a table ([name]) or an array of tables ([[name]])');
	const readOnly = boolOption(value, 'read_only', where) ?? false;
	const maxSize = value.max_size;
	if (maxSize !== undefined && !(Number.isSafeInteger(maxSize) && (maxSize as number) > 0)) {
		throw where.error(`'max_size' must be a positive integer`, 'max_size');
	}
	let config: CacheConfig;
	if ('pool' in value) {
		checkKeys(value, ['pool', 'read_only'], where, 'a pool');
		const pool = value.pool;
		if (!Array.isArray(pool)) throw where.error(`'pool' must be an array of tables ([[name.pool]])`, 'pool');
		config = { type: 'pool', caches: pool.map((member, i) => sectionConfig(member, where.at('pool', i))) };
	} else if ('template' in value) {
		const { values, calls } = templateStorages(value, where);
		config = { type: 'cache', values, calls };
	} else if ('type' in value) {
		const type = value.type;
		if (type === 'ssh') throw where.error(`'ssh' caches are not supported in this port`, 'type');
		if (typeof type !== 'string' || !cacheTypes().has(type) || type === 'cache') {
			throw where.error(`unknown cache type ${JSON.stringify(type)}: a cache section has 'values' and 'calls' tables, a 'template', or a 'pool'`, 'type');
		}
		const out: Record<string, unknown> = { type };
		for (const key of Object.keys(value)) if (key !== 'type' && key !== 'read_only' && key !== 'max_size') out[snakeToCamel(key)] = value[key];
		config = out as CacheConfig;
	} else {
		checkKeys(value, ['values', 'calls', 'read_only', 'max_size'], where, 'a cache');
		if (value.values === undefined || value.calls === undefined) {
			throw where.error(`a cache needs both 'values' and 'calls' storages (or a template = "file" | "sql" | "memory" | "void")`);
		}
		config = { type: 'cache', values: storageConfig(value.values, 'values', where.at('values')), calls: storageConfig(value.calls, 'calls', where.at('calls')) };
	}
	if (maxSize !== undefined) config = { type: 'sizeLimited', cache: config, maxSize };
	if (readOnly) config = { type: 'readonly', cache: config };
	return config;
}

function fileCacheConfig(root: string): CacheConfig {
	return { type: 'cache', values: { type: 'file', root: join(root, 'values') }, calls: { type: 'file', root: join(root, 'calls') } };
}

/**
 * The merged `fleche.toml` configuration of a folder (reference §4), as {@link loadConfig} returns it: which files
 * were read, where each cache was declared, and the plain-data description of each cache by name.
 *
 * How `cache('default')` is chosen: `$FLECHE_ROOT` when set (a file store there, whatever the files say); else
 * `[default] cache`, a section name or an inline `[default.cache]` table; else the project-local `.fleche/` store next
 * to the nearest `package.json`. An unknown name is a {@link ConfigError}, never a silent in-memory fallback.
 */
export class FlecheConfig {
	/** The files merged, closest first (the XDG `cache.toml` last when it was used). */
	readonly files: readonly string[];
	/** Merged top-level tables, relative paths already rebased onto their file's folder. */
	readonly tables: Readonly<Record<string, unknown>>;
	/** The folder the configuration was loaded for. */
	readonly cwd: string;
	readonly #sources: ReadonlyMap<string, ConfigDocument>;

	/** @internal Use {@link loadConfig} or {@link FlecheConfig.fromToml}. */
	constructor(documents: readonly ConfigDocument[], cwd: string) {
		this.cwd = cwd;
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
		}
	}

	/**
	 * A configuration from TOML text alone, without discovery: relative paths are rebased onto the folder of `file`.
	 * @example
	 * ```ts
	 * const config = FlecheConfig.fromToml('[results]\ntemplate = "file"\nroot = ".results"\n', { file: '/p/fleche.toml' });
	 * config.open('results');
	 * ```
	 */
	static fromToml(text: string, options: { readonly file?: string; readonly home?: string } = {}): FlecheConfig {
		const file = resolve(options.file ?? join(process.cwd(), 'fleche.toml'));
		return new FlecheConfig([parseDocument(text, file, options.home ?? homedir())], dirname(file));
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
	 * The plain-data description of the cache called `name`, for {@link cacheFromConfig} (or a worker).
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
			if (typeof ref !== 'string') return sectionConfig(ref, where.at('cache'));
			if (ref === 'default' || seen.includes(ref)) throw where.error(`[default] cache = '${ref}' refers to itself`, 'cache');
			if (!reservedNames.has(ref) && !(ref in this.tables)) {
				throw where.error(`cache = '${ref}' names no cache: ${this.known()}`, 'cache');
			}
			return this.resolve(ref, [...seen, 'default']);
		}
		if (!(name in this.tables)) throw new ConfigError(`Unknown cache name '${name}': ${this.known()}`);
		return sectionConfig(this.tables[name], this.where(name));
	}

	private known(): string {
		const names = this.names();
		const defined = names.length > 0 ? `defined: ${names.join(', ')}` : 'no cache is defined';
		const files = this.files.length > 0 ? ` in ${this.files.join(', ')}` : ` (no fleche.toml found from ${this.cwd})`;
		return `${defined}${files}; built in: memory, void, default`;
	}

	/**
	 * A new cache for `name` (not interned: {@link cacheByName} and `cache(name)` return one instance per name).
	 * @throws ConfigError as {@link cacheConfig}.
	 */
	open(name = 'default'): BaseCache {
		return cacheFromConfig(this.cacheConfig(name));
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
 * Finds and merges the `fleche.toml` files that apply to a folder (reference §4): every `fleche.toml` from `cwd` up to
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
export function loadConfig(options: LoadConfigOptions | string = {}): FlecheConfig {
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
	return new FlecheConfig(documents, cwd);
}

// ---------------------------------------------------------------------------------------------------------------
// The process's configuration and cache names

interface ConfigState {
	config?: FlecheConfig;
	error?: Error;
	metadata?: readonly MetaData[];
	caches: Map<string, BaseCache>;
}

const configKey = Symbol.for('fleche.config');

function configState(): ConfigState {
	const g = globalThis as { [configKey]?: ConfigState };
	return (g[configKey] ??= { caches: new Map() });
}

/** @internal The configuration of this process: loaded once, on first use, from `process.cwd()`. */
export function currentConfig(): FlecheConfig {
	const s = configState();
	if (s.config !== undefined) return s.config;
	// A broken file fails every use the same way until reloadConfig(), without re-reading it each time.
	if (s.error !== undefined) throw s.error;
	try {
		return (s.config = loadConfig());
	} catch (err) {
		s.error = err instanceof Error ? err : new Error(String(err));
		throw s.error;
	}
}

/**
 * Forgets the configuration read so far and the caches opened by name from it (`'memory'` and `'void'` are kept),
 * then reads it again, from `options` (default: the working directory). For tests and long-running tools whose files
 * changed; the active cache, if set with `cache(c)`, is not changed.
 * @throws ConfigError as {@link loadConfig}.
 * @example
 * ```ts
 * writeFileSync('fleche.toml', '[default]\ncache = "memory"\n');
 * reloadConfig();
 * ```
 */
export function reloadConfig(options?: LoadConfigOptions | string): FlecheConfig {
	const s = configState();
	s.config = undefined;
	s.error = undefined;
	s.metadata = undefined;
	for (const name of [...s.caches.keys()]) if (!reservedNames.has(name)) s.caches.delete(name);
	try {
		return (s.config = loadConfig(options));
	} catch (err) {
		s.error = err instanceof Error ? err : new Error(String(err));
		throw s.error;
	}
}

/** @internal `[default] metadata` of the process's configuration; `[Runtime]` without one. */
export function configuredMetadata(): readonly MetaData[] {
	const s = configState();
	return (s.metadata ??= Object.freeze(currentConfig().metadata()));
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

/** A file cache with values under `root/values` and calls under `root/calls` (the `file` template). */
export function fileCache(root: string): Cache {
	return new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') }));
}

/**
 * The cache behind a name (reference §1.6, §4), opened on first use and then the same instance every time.
 * Reserved: `'memory'` (one in-memory cache for the process) and `'void'` (stores nothing), whatever the configuration
 * says; `'default'`: `$FLECHE_ROOT` when set, else `[default] cache` of `fleche.toml`, else the persistent
 * project-local `.fleche/` store. Any other name is a section of `fleche.toml`.
 * @throws ConfigError for a name no file defines (unlike Python, no silent in-memory fallback) or an invalid section.
 * @example
 * ```ts
 * cacheByName('results') === cacheByName('results'); // true
 * ```
 */
export function cacheByName(name: string): BaseCache {
	const caches = configState().caches;
	let c = caches.get(name);
	if (c) return c;
	if (typeof name !== 'string') throw new TypeError('A cache name is a string');
	switch (name) {
		case 'memory':
			c = new Cache(new ValueMemory(), new CallMemory());
			break;
		case 'void':
			c = new Cache(new ValueVoid(), new CallVoid());
			break;
		case 'default': {
			const env = process.env.FLECHE_ROOT;
			if (env !== undefined && env !== '') c = fileCache(env);
			else {
				const config = currentConfig();
				const described = config.cacheConfig('default'); // throws for a name that is not defined
				const ref = config.defaultName;
				// A named default is that cache itself, so cache('default') === cache(name).
				c = ref !== undefined ? cacheByName(ref) : cacheFromConfig(described);
			}
			break;
		}
		default:
			c = currentConfig().open(name);
	}
	caches.set(name, c);
	return c;
}
