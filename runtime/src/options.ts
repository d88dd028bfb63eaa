// docs/behaviour.md §1.3: the options of fleche(fn, options), validated eagerly so misuse fails at wrap time.
import type { MetaData } from './metadata.js';
import { packageVersion } from './profile.js';
import { checkExpiry, type Expiry, type ExpiryOptions } from './expiry.js';

/**
 * Options of {@link fleche}.
 * @example
 * ```ts
 * export const render = fleche(renderPage, { version: 2, ignore: ['logger'], hashCode: true });
 * ```
 */
export interface FlecheOptions extends ExpiryOptions {
	/**
	 * The function's name in its identity. @default the function's own name, else the variable it is assigned to
	 * (`export const add = fleche((a, b) => a + b)` → `add`); a `TypeError` asks for it when neither exists.
	 */
	readonly name?: string;
	/**
	 * The module in its identity. @default the file that called `fleche()`, relative to the nearest named
	 * `package.json`, with `/` separators (source-mapped to the `.ts` file when the process has source maps).
	 */
	readonly module?: string;
	/**
	 * A version: bump it to invalidate every cached call of the function. `{ from: 'package.json' }` takes the
	 * `version` of the nearest named `package.json` above the file that called `fleche()` (as loaded, so an installed
	 * package gives its installed version), read once when the function is wrapped. @default undefined (none)
	 */
	readonly version?: string | number | PackageVersion;
	/** Put `version` into the key. @default true */
	readonly hashVersion?: boolean;
	/** Put `module` into the key (false: the same function moved to another file keeps its cache). @default true */
	readonly hashModule?: boolean;
	/**
	 * Put the function's code into the key, so that editing it invalidates: `true` digests the function's own source
	 * (`fn.toString()`); `'deep'` digests the code it runs — its module and every project module that imports,
	 * transitively, by what the code means (comments and formatting do not count), plus the versions of the packages
	 * imported from `node_modules` (docs/behaviour.md §1.3). @default `[default] hash_code` of fleche.toml, else false
	 */
	readonly hashCode?: boolean | 'deep';
	/** Parameters left out of the key and of the record (a logger, a progress callback). @default [] */
	readonly ignore?: string | readonly string[];
	/** Parameters that must be passed for the call to be cached; a call without one runs uncached with a warning. @default [] */
	readonly require?: string | readonly string[];
	/** Metadata recorded for this function's calls, after the active metadata. @default [] */
	readonly meta?: MetaData | readonly MetaData[];
	/**
	 * Parameter names, in order, for when they cannot be read from the source (native or bound functions, or
	 * minified code). A name starting with `...` collects the remaining arguments. @default read from `fn.toString()`
	 */
	readonly params?: readonly string[];
	/**
	 * Whether a miss waits for the same call computing in another process that shares the store, instead of running
	 * the body too (docs/behaviour.md §3.6), and how long: `false` turns it off for this function; an object sets its
	 * times (over the cache's). Off anywhere (here, the cache's `lease` option, `fleche.toml`) means off.
	 * @default true (the cache's times, else {@link LeaseOptions}' defaults)
	 */
	readonly lease?: boolean | LeaseOptions;
}

/** How a miss waits for the same call computing in another process (docs/behaviour.md §3.6). */
export interface LeaseOptions {
	/**
	 * Seconds a process waits for another's computation of the same call; then it gives up and computes it itself.
	 * @default 600
	 */
	readonly waitSeconds?: number;
	/**
	 * Seconds without a heartbeat after which a computing process counts as gone (killed) and a waiter takes over. A
	 * process of this host that was killed is noticed at once; this bounds the wait for one on another host.
	 * @default 30
	 */
	readonly staleSeconds?: number;
}

/** The `lease` option as given, checked: `TypeError` naming `where` for anything else. @internal */
export function checkLease(value: unknown, where: string): boolean | LeaseOptions | undefined {
	if (value === undefined || typeof value === 'boolean') return value;
	if (typeof value !== 'object' || value === null || Array.isArray(value)) {
		throw new TypeError(`${where}: 'lease' must be true, false or { waitSeconds?, staleSeconds? }`);
	}
	for (const [k, v] of Object.entries(value)) {
		if (k !== 'waitSeconds' && k !== 'staleSeconds') throw new TypeError(`${where}: unknown lease option '${k}' (allowed: waitSeconds, staleSeconds)`);
		if (typeof v !== 'number' || !(v > 0)) throw new TypeError(`${where}: lease option '${k}' must be a number of seconds > 0`);
	}
	return value;
}

/** Lease times in milliseconds. @internal */
export interface LeaseTimes {
	readonly waitMs: number;
	readonly staleMs: number;
}

/** The default {@link LeaseOptions}, in seconds. @internal */
export const LEASE_DEFAULTS = { waitSeconds: 600, staleSeconds: 30 } as const;

/** The lease times of a call: `false` in either place turns leasing off; the function's times win over the cache's. @internal */
export function leaseTimes(fn: boolean | LeaseOptions | undefined, cache: boolean | LeaseOptions | undefined): LeaseTimes | null {
	if (fn === false || cache === false) return null;
	const f = typeof fn === 'object' ? fn : {};
	const c = typeof cache === 'object' ? cache : {};
	return {
		waitMs: (f.waitSeconds ?? c.waitSeconds ?? LEASE_DEFAULTS.waitSeconds) * 1000,
		staleMs: (f.staleSeconds ?? c.staleSeconds ?? LEASE_DEFAULTS.staleSeconds) * 1000,
	};
}

/** The `version` option that asks for the version of the function's package. */
export interface PackageVersion {
	readonly from: 'package.json';
}

function isPackageVersion(v: unknown): v is PackageVersion {
	return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && (v as { from?: unknown }).from === 'package.json';
}

/**
 * The version that enters a function's identity: the option as given, or its package's version for
 * `{ from: 'package.json' }`. @throws TypeError when that package has no version. @internal
 */
export function resolveVersion(version: ResolvedOptions['version'], loadedFile: string | undefined): string | number | null {
	if (version === undefined) return null;
	if (!isPackageVersion(version)) return version;
	const found = loadedFile === undefined ? undefined : packageVersion(loadedFile);
	if (found === undefined) {
		throw new TypeError(`fleche(): version: { from: 'package.json' } found no package.json with a version above ${loadedFile ?? 'the calling file (unknown)'}`);
	}
	return found;
}

const known = new Set([
	'name',
	'module',
	'version',
	'hashVersion',
	'hashModule',
	'hashCode',
	'ignore',
	'require',
	'meta',
	'params',
	'lease',
	'maxAge',
	'staleWhileRevalidate',
]);

function names(value: unknown, option: string): string[] {
	if (value === undefined) return [];
	const list = typeof value === 'string' ? [value] : value;
	if (!Array.isArray(list) || !list.every((n) => typeof n === 'string' && n.length > 0)) {
		throw new TypeError(`fleche(): option '${option}' takes a parameter name or an array of names`);
	}
	return list as string[];
}

/** Validated, normalised options. @internal */
export interface ResolvedOptions {
	readonly name?: string;
	readonly module?: string;
	readonly version?: string | number | PackageVersion;
	readonly hashVersion: boolean;
	readonly hashModule: boolean;
	/** `undefined`: as `[default] hash_code` of the process's fleche.toml says, read when the function is first used. */
	readonly hashCode?: boolean | 'deep';
	readonly ignore: ReadonlySet<string>;
	readonly require: ReadonlySet<string>;
	readonly meta: readonly MetaData[];
	readonly params?: readonly string[];
	readonly lease?: boolean | LeaseOptions;
	/** `maxAge` and `staleWhileRevalidate` in seconds (docs/behaviour.md §18). */
	readonly expiry?: Expiry;
}

/** Throws `TypeError` for anything that is not a valid option. @internal */
export function validateOptions(options: unknown): ResolvedOptions {
	if (options === undefined) options = {};
	if (typeof options !== 'object' || options === null || Array.isArray(options)) {
		throw new TypeError('fleche(): options must be an object');
	}
	const o = options as Record<string, unknown>;
	for (const k of Object.keys(o)) if (!known.has(k)) throw new TypeError(`fleche(): unknown option '${k}'`);
	for (const k of ['name', 'module'] as const) {
		if (o[k] !== undefined && (typeof o[k] !== 'string' || o[k] === '')) {
			throw new TypeError(`fleche(): option '${k}' must be a non-empty string`);
		}
	}
	// A number that is not finite has no JSON form: every record would read back under another key.
	if (
		o.version !== undefined &&
		typeof o.version !== 'string' &&
		!(typeof o.version === 'number' && Number.isFinite(o.version)) &&
		!isPackageVersion(o.version)
	) {
		throw new TypeError("fleche(): option 'version' must be a string, a finite number or { from: 'package.json' }");
	}
	for (const k of ['hashVersion', 'hashModule'] as const) {
		if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new TypeError(`fleche(): option '${k}' must be a boolean`);
	}
	if (o.hashCode !== undefined && typeof o.hashCode !== 'boolean' && o.hashCode !== 'deep') {
		throw new TypeError("fleche(): option 'hashCode' must be true, false or 'deep'");
	}
	const meta = o.meta === undefined ? [] : Array.isArray(o.meta) ? (o.meta as MetaData[]) : [o.meta as MetaData];
	for (const m of meta) {
		if (typeof m !== 'object' || m === null || typeof m.name !== 'string') {
			throw new TypeError("fleche(): option 'meta' takes MetaData objects such as new Runtime()");
		}
	}
	const params = o.params === undefined ? undefined : names(o.params, 'params');
	const lease = checkLease(o.lease, 'fleche()');
	const expiry = checkExpiry(o.maxAge, o.staleWhileRevalidate, 'fleche()');
	return {
		...(o.name !== undefined ? { name: o.name as string } : {}),
		...(o.module !== undefined ? { module: o.module as string } : {}),
		...(o.version !== undefined ? { version: o.version } : {}),
		hashVersion: (o.hashVersion as boolean | undefined) ?? true,
		hashModule: (o.hashModule as boolean | undefined) ?? true,
		...(o.hashCode !== undefined ? { hashCode: o.hashCode } : {}),
		ignore: new Set(names(o.ignore, 'ignore')),
		require: new Set(names(o.require, 'require')),
		meta,
		...(params !== undefined ? { params } : {}),
		...(lease !== undefined ? { lease } : {}),
		...(expiry !== undefined ? { expiry } : {}),
	};
}
