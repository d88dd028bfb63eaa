// docs/behaviour.md §1.6, §1.10, §4: building caches from configuration — plain-data descriptions (`CacheConfig`, what
// config/read.ts makes of `fleche.toml` and what `toConfig()` returns) become caches, storages through their storage
// kind (storage/registry.ts), compositions through the composite cache types below; and the process's caches by name.
// Every built-in is listed here or in the storage registry; nothing registers itself by being imported.
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { BaseCache, CacheConfig } from '../caches/base.js';
import { Cache } from '../caches/cache.js';
import { CachePool } from '../caches/cachePool.js';
import { CacheStack } from '../caches/cacheStack.js';
import { FilteredCache, filterFromConfig, type FilterConfig } from '../caches/filteredCache.js';
import { ReadOnlyCache } from '../caches/readOnlyCache.js';
import { SizeLimitedCache } from '../caches/sizeLimitedCache.js';
import { SshCache } from '../caches/sshCache.js';
import type { MetaData } from '../metadata.js';
import type { CallStorage, ValueStorage } from '../storage/base.js';
import type { SshOptions } from '../storage/ssh/store.js';
import { openStorage, storageKinds } from '../storage/registry.js';
import { fileCacheConfig, ParsedConfig, parseDocument, readDocuments, type ConfigDocument, type ConfigVocabulary, type LoadConfigOptions } from './read.js';

// ---------------------------------------------------------------------------------------------------------------
// Plain-data descriptions → caches (what workers and other processes use to reopen a cache)

/** Builds a composite cache (a stack, a pool, a read-only view…) from its plain-data description. */
export type CacheFactory = (config: CacheConfig) => BaseCache;

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

/** The built-in composite cache types. */
const builtinCacheTypes: ReadonlyMap<string, CacheFactory> = new Map<string, CacheFactory>([
	['stack', (config) => new CacheStack(membersOf(config, 'caches'))],
	['pool', (config) => new CachePool(membersOf(config, 'caches'))],
	['readonly', (config) => new ReadOnlyCache(innerOf(config))],
	[
		'sizeLimited',
		(config) => {
			const { maxSize, maxBytes } = config as Options;
			return new SizeLimitedCache(innerOf(config), {
				...(maxSize !== undefined ? { maxSize: maxSize as number } : {}),
				...(maxBytes !== undefined ? { maxBytes: maxBytes as number } : {}),
			});
		},
	],
	['filtered', (config) => new FilteredCache(innerOf(config), filterFromConfig((config as Options).filter as FilterConfig))],
]);

const cacheTypesKey = Symbol.for('fleche.cacheTypes');

/** Registered composite types, on `globalThis` so that every copy of the package sees them. */
function registeredCacheTypes(): Map<string, CacheFactory> {
	const g = globalThis as { [cacheTypesKey]?: Map<string, CacheFactory> };
	return (g[cacheTypesKey] ??= new Map<string, CacheFactory>());
}

function cacheType(type: string): CacheFactory | undefined {
	return builtinCacheTypes.get(type) ?? registeredCacheTypes().get(type);
}

/**
 * Registers a composite cache type for {@link cacheFromConfig}. Built in: `stack`, `pool`, `readonly`,
 * `sizeLimited`, `filtered`. Registering a type again replaces the earlier factory.
 * @throws TypeError for `cache` or a built-in type.
 * @example
 * ```ts
 * registerCacheType('audited', (config) => new AuditedCache(cacheFromConfig(config.cache as CacheConfig)));
 * ```
 */
export function registerCacheType(type: string, factory: CacheFactory): void {
	if (typeof type !== 'string' || type === '' || type === 'cache' || builtinCacheTypes.has(type))
		throw new TypeError(`registerCacheType() needs a new type name`);
	registeredCacheTypes().set(type, factory);
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
		const factory = cacheType(config.type);
		if (!factory) throw new TypeError(`Unknown cache type '${config.type}'`);
		return factory(config);
	}
	const c = config as Extract<CacheConfig, { type: 'cache' }>;
	const options = {
		...(c.lease === undefined ? {} : { lease: c.lease }),
		...(c.maxAge === undefined ? {} : { maxAge: c.maxAge }),
		...(c.staleWhileRevalidate === undefined ? {} : { staleWhileRevalidate: c.staleWhileRevalidate }),
	};
	// Both storages over one SSH connection (`template = "ssh"`): the cache that can reconnect() and tell info().
	if (c.values.type === 'ssh' && c.calls.type === 'ssh' && JSON.stringify(c.values) === JSON.stringify(c.calls))
		return new SshCache(c.values as unknown as SshOptions, options);
	return new Cache(openStorage(c.values, 'values') as ValueStorage, openStorage(c.calls, 'calls') as CallStorage, options);
}

/** What config/read.ts consults: the storage kinds and the composite types, looked up when asked (so later registrations count). */
const vocabulary: ConfigVocabulary = {
	storages: storageKinds,
	isCacheType: (type) => type !== 'cache' && cacheType(type) !== undefined,
};

// ---------------------------------------------------------------------------------------------------------------
// fleche.toml

/**
 * The merged `fleche.toml` configuration of a folder (docs/behaviour.md §4), as {@link loadConfig} returns it: which files
 * were read, where each cache was declared, the plain-data description of each cache by name, and the caches opened
 * from them.
 *
 * How `cache('default')` is chosen: `$FLECHE_ROOT` when set (a file store there, whatever the files say); else
 * `[default] cache`, a section name or an inline `[default.cache]` table; else the project-local `.fleche/` store next
 * to the nearest `package.json`. An unknown name is a `ConfigError`, never a silent in-memory fallback.
 */
export class FlecheConfig extends ParsedConfig {
	/** @internal Use {@link loadConfig} or {@link FlecheConfig.fromToml}. */
	constructor(documents: readonly ConfigDocument[], cwd: string) {
		super(documents, cwd, vocabulary);
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

	/**
	 * A new cache for `name` (not interned: {@link cacheByName} and `cache(name)` return one instance per name).
	 * @throws ConfigError as {@link ParsedConfig.cacheConfig}.
	 */
	open(name = 'default'): BaseCache {
		return cacheFromConfig(this.cacheConfig(name));
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
export function loadConfig(options: LoadConfigOptions | string = {}): FlecheConfig {
	const { documents, cwd } = readDocuments(options);
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

/** Cache names that are built in whatever the configuration says. */
const builtinNames = new Set(['memory', 'void']);

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
	for (const name of [...s.caches.keys()]) if (!builtinNames.has(name)) s.caches.delete(name);
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

/** @internal `[default] hash_code` of the process's configuration: the `hashCode` of functions that do not set it. */
export function configuredHashCode(): boolean | 'deep' {
	return currentConfig().hashCode() ?? false;
}

/** A file cache with values under `root/values` and calls under `root/calls` (the `file` template). */
export function fileCache(root: string): Cache {
	return cacheFromConfig(fileCacheConfig(root)) as Cache;
}

/**
 * The cache behind a name (docs/behaviour.md §1.6, §4), opened on first use and then the same instance every time.
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
	if (builtinNames.has(name)) c = cacheFromConfig({ type: 'cache', values: { type: name }, calls: { type: name } });
	else if (name === 'default') {
		const env = process.env.FLECHE_ROOT;
		if (env !== undefined && env !== '') c = fileCache(env);
		else {
			const config = currentConfig();
			const described = config.cacheConfig('default'); // throws for a name that is not defined
			const ref = config.defaultName;
			// A named default is that cache itself, so cache('default') === cache(name).
			c = ref !== undefined ? cacheByName(ref) : cacheFromConfig(described);
		}
	} else c = currentConfig().open(name);
	caches.set(name, c);
	return c;
}
