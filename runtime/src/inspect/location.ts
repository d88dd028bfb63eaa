// docs/behaviour.md §4 (configuration discovery) for tools, docs/behaviour.md §12 (`fleche/inspect`): which caches a folder can
// see, and how a name, a path or a CacheLocation becomes a cache description that can be opened.
import { readdirSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { CacheConfig } from '../caches/base.js';
import { loadConfig, type FlecheConfig } from '../config/build.js';
import { ConfigError, fileCacheConfig, type QueueRef } from '../config/read.js';
import { warn } from '../log.js';
import type { StorageConfig } from '../storage/base.js';
import { resolveRoot } from '../storage/fsUtil.js';
import type { StorageRole, StorageSite } from '../storage/kinds.js';
import { storageKinds } from '../storage/registry.js';

/** A cache a tool can open: from fleche.toml (any section), the default `.fleche/` store, or a path given by the user. */
export interface CacheLocation {
	/** Section name (`'default'`, `'team'`, …) or the path as given. */
	readonly name: string;
	/** Absolute folder of the store; `null` for memory/void and compositions without one root. */
	readonly root: string | null;
	/** The type of its calls' storage (`'file'`, `'sql'`, a registered kind…), `'stack'`, `'pool'`, or `values+calls` types when they differ and have no root. */
	readonly kind: string;
	/** Absolute path of the fleche.toml that declared it; `null` for the built-in default and user paths. */
	readonly source: string | null;
	/** Whether the store exists on disk yet (false: nothing cached yet). */
	readonly exists: boolean;
	/** Whether the configuration makes it read-only (`read_only = true`). */
	readonly readOnly: boolean;
	/** The plain-data description `openStore` opens (JSON-safe, so a location can cross a process boundary). */
	readonly config: CacheConfig;
	/**
	 * The BullMQ queues whose jobs compute this cache's calls (`queues` of its fleche.toml section, docs/behaviour.md
	 * §3.7): `Store.inFlightAll` lists their waiting and active jobs. Absent: none.
	 */
	readonly queues?: readonly QueueRef[];
}

interface Described {
	readonly root: string | null;
	readonly kind: string;
	readonly exists: boolean;
	readonly readOnly: boolean;
}

/** The type a storage description names (`'unknown'` for a malformed one). */
function typeOf(value: unknown): string {
	const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
	return typeof type === 'string' ? type : 'unknown';
}

/** Where a storage description's kind says it is; nowhere for kinds that do not say. */
export function siteOf(config: unknown, role: StorageRole): StorageSite {
	return storageKinds.get(typeOf(config))?.locate?.(config as StorageConfig, role) ?? { root: null, exists: false, watch: [] };
}

function isDir(path: string): boolean {
	try {
		return statSync(path).isDirectory();
	} catch {
		return false;
	}
}

/**
 * Root folder, kind and existence of a cache description (wrappers such as read-only describe their inner cache). A
 * cache is where its calls are: their storage's kind names it and gives its root.
 */
export function describeConfig(config: CacheConfig): Described {
	const c = config as Record<string, unknown>;
	switch (config.type) {
		case 'cache': {
			const values = typeOf(c.values);
			const calls = typeOf(c.calls);
			const site = siteOf(c.calls, 'calls');
			if (site.root !== null) return { kind: calls, root: site.root, exists: site.exists, readOnly: false };
			return { kind: calls === values ? calls : `${values}+${calls}`, root: null, exists: false, readOnly: false };
		}
		case 'readonly':
			return { ...describeConfig(c.cache as CacheConfig), readOnly: true };
		case 'sizeLimited':
		case 'filtered':
			return describeConfig(c.cache as CacheConfig);
		case 'stack':
		case 'pool': {
			const members = Array.isArray(c.caches) ? (c.caches as CacheConfig[]).map(describeConfig) : [];
			return { kind: config.type, root: null, exists: members.some((m) => m.exists), readOnly: config.type === 'pool' };
		}
		default:
			return { kind: config.type, root: null, exists: false, readOnly: false };
	}
}

/**
 * The description of the store in a folder, in the layout of the first kind that recognises it (kinds registered
 * later are asked first, so a `calls.db` beside `values/` is an SQL store), else its `.fleche/`; an empty folder (or
 * one named `.fleche`) is a file store nothing was cached in yet.
 */
export function folderConfig(folder: string): CacheConfig | undefined {
	for (const kind of [...storageKinds.list()].reverse()) {
		const pair = kind.recognize?.(folder);
		if (pair !== undefined) return { type: 'cache', ...pair };
	}
	if (isDir(join(folder, '.fleche'))) return folderConfig(join(folder, '.fleche'));
	if (isDir(folder) && (basename(folder) === '.fleche' || readdirSync(folder).length === 0)) return fileCacheConfig(folder);
	return undefined;
}

function locationOf(name: string, config: CacheConfig, source: string | null, queues: readonly QueueRef[] = []): CacheLocation {
	return { name, source, config, ...describeConfig(config), ...(queues.length > 0 ? { queues } : {}) };
}

/** The file that declared a cache; for `default`, only when `[default] cache` chose it (else it is built in). */
function sourceOf(config: FlecheConfig, name: string): string | null {
	if (name === 'default') {
		const def = config.tables.default as { cache?: unknown } | undefined;
		if (def?.cache === undefined) return null;
	}
	return config.source(name)?.file ?? null;
}

/**
 * A cache on a PostgreSQL server named by its URL (`postgres://user@host/db`, a user setting), both storages there in
 * the default schema or the one a `?schema=name` parameter names (a setting has no other place to say it); named by
 * the URL without its password (one written in it is remembered for this thread only), the parameter kept so that
 * two projects' schemas on one server are two rows.
 */
function serverLocation(url: string): CacheLocation {
	const kind = storageKinds.get('postgres');
	if (kind === undefined) throw new ConfigError('This build of fleche has no postgres storage kind');
	try {
		const { server, schema } = schemaParameter(url);
		const table = { type: 'postgres', url: server, ...(schema !== undefined ? { schema } : {}) };
		const values = kind.open(table, 'values').toConfig();
		const calls = kind.open(table, 'calls').toConfig();
		const shown = String((calls as { url?: unknown }).url);
		return locationOf(schema !== undefined ? `${shown}${shown.includes('?') ? '&' : '?'}schema=${schema}` : shown, { type: 'cache', values, calls }, null);
	} catch (err) {
		throw new ConfigError(`Cannot use ${url.replace(/\/\/[^@/]*@/, '//…@')} as a cache: ${err instanceof Error ? err.message : String(err)}`);
	}
}

/**
 * Splits `?schema=name` off a server URL: pg would pass an unknown parameter on to the server as a start-up option
 * (refused there), and the schema is the store's option, checked by the storage kind like one from fleche.toml.
 */
function schemaParameter(url: string): { server: string; schema?: string } {
	let parsed: URL;
	try {
		parsed = new URL(url);
	} catch {
		return { server: url }; // the storage kind says what is wrong with it
	}
	const schemas = parsed.searchParams.getAll('schema');
	if (schemas.length === 0) return { server: url };
	if (schemas.length > 1) throw new ConfigError(`The URL names ${schemas.length} schemas; give one ?schema=name`);
	parsed.searchParams.delete('schema');
	return { server: parsed.toString(), schema: schemas[0]! };
}

function configLocation(config: FlecheConfig, name: string): CacheLocation | undefined {
	try {
		return locationOf(name, config.cacheConfig(name), sourceOf(config, name), config.queues(name));
	} catch (err) {
		// One broken section must not hide the other caches from a tool; the error names file and line.
		if (!ConfigError.is(err)) throw err;
		warn('FLECHE_CONFIG_ERROR', err.message, { cause: err });
		return undefined;
	}
}

function looksLikePath(text: string): boolean {
	return isAbsolute(text) || text.startsWith('.') || text.startsWith('~') || text.includes('/') || text.includes('\\');
}

/**
 * Caches visible from `folder`: `default` first, then every section of the `fleche.toml` files found from `folder`
 * upward (docs/behaviour.md §4), then `extra` cache names, store paths or `postgres://` URLs (a user setting). Entries with the same store root
 * are listed once.
 * @throws ConfigError when a `fleche.toml` is not valid TOML; a single invalid section is skipped with a warning.
 * @example
 * ```ts
 * import { discoverCaches, openStore } from 'fleche/inspect';
 * for (const location of discoverCaches(workspaceFolder)) console.log(location.name, location.root, location.exists);
 * ```
 */
export function discoverCaches(folder: string, extra: readonly string[] = []): CacheLocation[] {
	const cwd = resolve(folder);
	const config = loadConfig({ cwd });
	const out: CacheLocation[] = [];
	const seen = new Set<string>();
	const add = (location: CacheLocation | undefined): void => {
		if (location === undefined) return;
		const id = location.root !== null ? `${location.kind}:${location.root}` : `name:${location.name}`;
		if (seen.has(id)) return;
		seen.add(id);
		out.push(location);
	};
	add(configLocation(config, 'default'));
	for (const name of config.names()) add(configLocation(config, name));
	for (const item of extra) {
		if (typeof item !== 'string' || item === '') continue;
		if (/^postgres(ql)?:\/\//.test(item)) {
			try {
				add(serverLocation(item));
			} catch (err) {
				warn('FLECHE_CONFIG_ERROR', (err as Error).message); // one bad setting entry; the rest are listed
			}
			continue;
		}
		if (!looksLikePath(item) && (config.names().includes(item) || item === 'default')) {
			add(configLocation(config, item));
			continue;
		}
		const path = resolveRoot(isAbsolute(item) || item.startsWith('~') ? item : join(cwd, item));
		const found = folderConfig(path);
		add(
			found !== undefined
				? locationOf(item, found, null)
				: { name: item, root: path, kind: 'file', source: null, exists: false, readOnly: false, config: fileCacheConfig(path) },
		);
	}
	return out;
}

/**
 * The location a tool means by `target`: a {@link CacheLocation} as is; a `postgres://` URL is a team cache on that
 * server (default schema); a string that looks like a path (or names an existing folder that is no cache name) is a
 * store folder; anything else is a cache name of the `fleche.toml` seen from `cwd`.
 * @throws ConfigError for an unknown cache name or a folder that holds no store.
 */
export function resolveLocation(target: CacheLocation | string, cwd: string): CacheLocation {
	if (typeof target !== 'string') {
		if (target.config !== undefined) return target;
		if (target.root !== null) return resolveLocation(target.root, cwd);
		return resolveLocation(target.name, cwd);
	}
	if (target === '') throw new ConfigError('An empty cache name or path');
	if (/^postgres(ql)?:\/\//.test(target)) {
		return serverLocation(target);
	}
	if (!looksLikePath(target)) {
		const config = loadConfig({ cwd });
		if (target === 'default' || target === 'memory' || target === 'void' || config.names().includes(target)) {
			return locationOf(target, config.cacheConfig(target), sourceOf(config, target), config.queues(target));
		}
		if (!isDir(resolve(cwd, target))) return locationOf(target, config.cacheConfig(target), null); // throws, naming the known caches
	}
	const path = resolveRoot(isAbsolute(target) || target.startsWith('~') ? target : join(cwd, target));
	const found = folderConfig(path);
	if (found === undefined) throw new ConfigError(`No fleche store at ${path} (expected calls/ and values/, or calls.db)`);
	return locationOf(target, found, null);
}
