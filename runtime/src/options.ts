// docs/behaviour.md §1.3: the options of fleche(fn, options), validated eagerly so misuse fails at wrap time.
import type { MetaData } from './metadata.js';

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
	/** A version: bump it to invalidate every cached call of the function. @default undefined (none) */
	readonly version?: string | number;
	/** Put `version` into the key. @default true */
	readonly hashVersion?: boolean;
	/** Put `module` into the key (false: the same function moved to another file keeps its cache). @default true */
	readonly hashModule?: boolean;
	/** Put a digest of the function's source (`fn.toString()`) into the key, so editing it invalidates. @default false */
	readonly hashCode?: boolean;
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
	readonly version?: string | number;
	readonly hashVersion: boolean;
	readonly hashModule: boolean;
	readonly hashCode: boolean;
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
	if (o.version !== undefined && typeof o.version !== 'string' && typeof o.version !== 'number') {
		throw new TypeError("fleche(): option 'version' must be a string or a number");
	}
	for (const k of ['hashVersion', 'hashModule', 'hashCode'] as const) {
		if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new TypeError(`fleche(): option '${k}' must be a boolean`);
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
		hashCode: (o.hashCode as boolean | undefined) ?? false,
		ignore: new Set(names(o.ignore, 'ignore')),
		require: new Set(names(o.require, 'require')),
		meta,
		...(params !== undefined ? { params } : {}),
	};
}
