// reference §1.6, §4: resolving cache names — the reserved ones and the project-local default.
import { join } from 'node:path';
import type { BaseCache } from './caches/base.js';
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
