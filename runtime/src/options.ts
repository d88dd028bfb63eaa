// docs/behaviour.md §1.3: the options of fleche(fn, options), validated eagerly so misuse fails at wrap time.
import type { MetaData } from './metadata.js';
import { packageVersion } from './profile.js';

/**
 * Options of {@link fleche}.
 * @example
 * ```ts
 * export const render = fleche(renderPage, { version: 2, ignore: ['logger'], hashCode: true });
 * ```
 */
export interface FlecheOptions {
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

const known = new Set(['name', 'module', 'version', 'hashVersion', 'hashModule', 'hashCode', 'ignore', 'require', 'meta', 'params']);

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
	if (o.version !== undefined && typeof o.version !== 'string' && typeof o.version !== 'number' && !isPackageVersion(o.version)) {
		throw new TypeError("fleche(): option 'version' must be a string, a number or { from: 'package.json' }");
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
	};
}
