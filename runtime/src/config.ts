// reference §1.6, §4: resolving cache names — the reserved ones and the project-local default.
import { join } from 'node:path';
import type { BaseCache, CacheConfig } from './caches/base.js';
import type { CallStorage, StorageConfig, ValueStorage } from './storage/base.js';
import { Cache } from './caches/cache.js';
import { ValueMemory, CallMemory } from './storage/memory.js';
import { ValueVoid, CallVoid } from './storage/void.js';
import { ValueFile, CallFile } from './storage/file.js';
import { packageRoot } from './profile.js';

const namedKey = Symbol.for('fleche.namedCaches');

function named(): Map<string, BaseCache> {
	const g = globalThis as { [namedKey]?: Map<string, BaseCache> };
	return (g[namedKey] ??= new Map<string, BaseCache>());
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
 * The cache behind a name. Reserved: `'memory'` (one in-memory cache for the process), `'void'` (stores nothing)
 * and `'default'` (the persistent project-local store). The same name gives the same instance.
 * @throws TypeError for a name that is not known.
 */
export function cacheByName(name: string): BaseCache {
	const caches = named();
	let c = caches.get(name);
	if (c) return c;
	switch (name) {
		case 'memory':
			c = new Cache(new ValueMemory(), new CallMemory());
			break;
		case 'void':
			c = new Cache(new ValueVoid(), new CallVoid());
			break;
		case 'default':
			c = fileCache(defaultRoot());
			break;
		default:
			throw new TypeError(`Unknown cache name '${name}': use 'memory', 'void', 'default' or pass a cache object`);
	}
	caches.set(name, c);
	return c;
}

/** Builds a storage from its plain-data description. */
export type StorageFactory = (config: StorageConfig, kind: 'values' | 'calls') => ValueStorage | CallStorage;

const storagesKey = Symbol.for('fleche.storageTypes');

function storageTypes(): Map<string, StorageFactory> {
	const g = globalThis as { [storagesKey]?: Map<string, StorageFactory> };
	return (g[storagesKey] ??= new Map<string, StorageFactory>());
}

/**
 * Registers a storage type, so configurations (`fleche.toml` sections, caches sent to workers) can name it.
 * Built in: `memory`, `void`, `file`.
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
			if (kind === 'calls') return new CallFile({ root: c.root });
			return new ValueFile({
				root: c.root,
				...(c.serializer !== undefined ? { serializer: c.serializer } : {}),
				...(c.compress !== undefined ? { compress: c.compress } : {}),
				...(c.secretKey !== undefined ? { secretKey: [...c.secretKey] } : {}),
			});
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
 * process reaches the same store. Memory storage opens empty: its contents never travel.
 * @example
 * ```ts
 * const again = cacheFromConfig(cache().toConfig());
 * ```
 */
export function cacheFromConfig(config: CacheConfig): BaseCache {
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

/** Registers a composite cache type for {@link cacheFromConfig} (`stack`, `pool`, `readonly`, …). */
export function registerCacheType(type: string, factory: CacheFactory): void {
	if (typeof type !== 'string' || type === '' || type === 'cache') throw new TypeError(`registerCacheType() needs a new type name`);
	cacheTypes().set(type, factory);
}
