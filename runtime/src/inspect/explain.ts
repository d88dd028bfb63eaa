// docs/behaviour.md §12 (`fleche explain`): why a call would miss — the nearest cached call of the function and
// what differs (an argument, the version, the code digest, the module).
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { CallRecord } from '../call.js';
import { codeChanges, deepCode, type CodeGraph } from '../deepCode.js';
import { readingForDisplay } from '../classes.js';
import { Indigestible } from '../errors.js';
import { argumentDigest, byName, identityPrefix, isStale, lookupKey } from '../key.js';
import type { LazyCall } from '../lazyCall.js';
import { keyOf, targetOf } from '../protocol.js';
import { findFleche } from '../wrapper.js';
import { shortText } from './format.js';
import type { CallSummary, FunctionRef, Store } from './store.js';

/** One way the nearest cached call differs from the call asked about. */
export interface Difference {
	/**
	 * What differs. With `hashCode: 'deep'` a code change is named: `'file'` (a project file, `name` its path relative
	 * to the package root: `src/util.ts` changed, or was added or removed) or `'package'` (`name` the package, its
	 * version cached and now), instead of one `'codeDigest'` difference.
	 */
	readonly field: 'argument' | 'version' | 'codeDigest' | 'module' | 'name' | 'file' | 'package';
	/** The argument name, for `field: 'argument'`; the file or package, for `'file'` and `'package'`. */
	readonly name?: string;
	/** The cached call's side, as short text (`(absent)` when it has no such argument). */
	readonly cached: string;
	/** The asked call's side, as short text. */
	readonly now: string;
}

/** Why a call of `fn` with some arguments would hit or miss. */
export interface Explanation {
	/** Whether the store holds this exact call. */
	readonly hit: boolean;
	/**
	 * The key the call would have; `null` when it could not be computed: the function is not loaded in this process
	 * (see `findFleche`) and no cached call of it has exactly the argument names given.
	 */
	readonly key: string | null;
	/**
	 * How `key` was computed: `'function'` by the function loaded in this process, as its call would be (its current
	 * version, code, defaults and ignored arguments); `'store'` from the store alone, with the identity (version, code
	 * digest) and argument names of the newest cached call that has exactly the arguments given — what the call's key
	 * is if the code has not changed since; `null` when there is no key.
	 */
	readonly keyedBy: 'function' | 'store' | null;
	/**
	 * With `keyedBy: 'store'`: whether the code digest is the code now, read from the project's files without
	 * running anything (a function with `hashCode: 'deep'`, and `project` given), rather than the cached call's.
	 */
	readonly codeFromFiles?: boolean;
	/** The cached call of the function closest to the one asked about (fewest differences, then newest). */
	readonly nearest: CallSummary | null;
	readonly differences: readonly Difference[];
	/** One sentence for people. */
	readonly message: string;
}

const ABSENT = '(absent)';
const MISSING = 'missing';

/** Positional arguments for a call from arguments by parameter name (extra positional ones are stored as `#i`). */
export function positionalArgs(params: readonly string[], named: Readonly<Record<string, unknown>>): unknown[] {
	const out: unknown[] = [];
	let last = -1;
	params.forEach((p, i) => {
		if (p in named) {
			out[i] = named[p];
			last = Math.max(last, i);
		}
	});
	for (const name in named) {
		const m = /^#(\d+)$/.exec(name);
		if (m === null) continue;
		const i = Number(m[1]);
		out[i] = named[name];
		last = Math.max(last, i);
	}
	out.length = last + 1;
	return out;
}

function safeDigest(value: unknown, name: string): string | null {
	try {
		return argumentDigest(value, name);
	} catch (err) {
		if (Indigestible.is(err)) return null;
		throw err;
	}
}

function describeValue(cache: Store['cache'], hex: string): string {
	try {
		return shortText(readingForDisplay(() => cache.loadValue(hex)));
	} catch {
		return `<digest ${hex.slice(0, 12)}>`;
	}
}

function short(value: string | number | null): string {
	if (value === null) return 'null';
	return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value) ? `${value.slice(0, 12)}…` : JSON.stringify(value);
}

/**
 * Why a call of `fn` with `args` (by parameter name) would miss in `store`: the nearest cached call of a function of
 * that name and what differs. When the function is loaded in this process (the CLI imports the user's module first),
 * its key, version and code digest come from it; otherwise only the arguments and module can be compared — and, for
 * a function cached with `hashCode: 'deep'` when `options.project` is given, its code, read from the project's files
 * (parsed, never run), so a miss names the file that changed (`src/util.ts changed`).
 * @example
 * ```ts
 * import { openStore, explain } from 'fleche/inspect';
 * const why = explain(openStore('.fleche'), { module: 'src/prices.ts', name: 'fetchPrices' }, { day: '2024-05-01' });
 * console.log(why.message); // "Nearest cached call 3f2a9c… differs in argument day: cached '2024-04-30', now '2024-05-01'."
 * ```
 */
export function explain(store: Store, fn: FunctionRef, args: Readonly<Record<string, unknown>>, options: ExplainOptions = {}): Explanation {
	const module = fn.module ?? null;
	const f = findFleche(module, fn.name);
	let key: string | null = null;
	let identity: { module: string | null; version: string | number | null; codeDigest: string | null } | null = null;
	let code: CodeGraph | undefined;
	let codeFromFiles = false;
	let values: Readonly<Record<string, unknown>> = args;
	let digests: Record<string, string | null> = {};
	let keyedBy: Explanation['keyedBy'] = null;
	const candidates: CallRecord[] = [];
	for (const record of store.cache.records({ name: fn.name })) if (record.name === fn.name) candidates.push(record);
	const target = targetOf(f);
	if (target !== undefined) {
		// Keyed as the call itself would be: defaults, ignored and extra arguments, the same digests.
		const k = keyOf(target, positionalArgs(f!.fleche.params, args), store.cache);
		identity = k.profile.identity;
		code = k.profile.code;
		values = byName(k.names, k.values);
		digests = byName(k.names, k.digests);
		key = k.key;
		keyedBy = 'function';
	} else {
		for (const name in values) digests[name] = safeDigest(values[name], name);
		const basis = storeBasis(candidates, module, digests);
		if (basis !== undefined) {
			code = options.project === undefined || module === null || basis.metadata.code === undefined ? undefined : codeOnDisk(options.project, module);
			codeFromFiles = code !== undefined;
			const keyed = code === undefined ? basis : { ...basis, codeDigest: code.digest };
			identity = keyed;
			key = lookupKey(identityPrefix(keyed), Object.fromEntries(Object.keys(basis.arguments).map((name) => [name, digests[name]!])));
			keyedBy = 'store';
		}
	}
	const hit = key !== null && store.cache.contains(key);

	const label = `${module ?? '?'}:${fn.name}`;
	const how = keyedBy === 'store' ? { keyedBy, codeFromFiles } : { keyedBy };
	if (candidates.length === 0) {
		return { hit, key, ...how, nearest: null, differences: [], message: `Miss: no call of ${label} is cached.` };
	}

	const differencesOf = (record: CallRecord): Difference[] => {
		const out: Difference[] = [];
		if (record.module !== module) out.push({ field: 'module', cached: short(record.module), now: short(module) });
		if (identity !== null && record.version !== identity.version) out.push({ field: 'version', cached: short(record.version), now: short(identity.version) });
		if (identity !== null && record.codeDigest !== identity.codeDigest) {
			const changes = code === undefined ? undefined : codeChanges(record.metadata.code, code);
			if (changes !== undefined && changes.length > 0) out.push(...changes);
			else out.push({ field: 'codeDigest', cached: short(record.codeDigest), now: short(identity.codeDigest) });
		}
		const names = new Set([...Object.keys(record.arguments), ...Object.keys(values)]);
		for (const name of names) {
			const stored = record.arguments[name];
			const now = digests[name];
			if (stored !== undefined && now !== undefined && stored === now) continue;
			out.push({
				field: 'argument',
				name,
				cached: stored === undefined ? ABSENT : describeValue(store.cache, stored),
				now: name in values ? shortText(values[name]) : ABSENT,
			});
		}
		return out;
	};

	let best: { record: CallRecord; diffs: Difference[]; time: number } | undefined;
	for (const record of candidates) {
		const diffs = differencesOf(record);
		const time = stopTime(record);
		if (best === undefined || diffs.length < best.diffs.length || (diffs.length === best.diffs.length && time > best.time)) {
			best = { record, diffs, time };
		}
	}
	const { record, diffs } = best!;
	let nearest: CallSummary | null;
	try {
		nearest = store.call(record.key);
	} catch {
		nearest = null; // evicted meanwhile
	}
	const id = `${record.key.slice(0, 12)}…`;
	let message: string;
	if (hit) {
		message =
			keyedBy === 'store' && !codeFromFiles
				? `Cached: with the code of its newest cached call, the call has key ${key!.slice(0, 12)}… and the store holds it.`
				: `Cached: the call has key ${key!.slice(0, 12)}… and the store holds it.`;
	}
	else if (diffs.length === 0) {
		message =
			key === null
				? `Nearest cached call ${id} has the same module and arguments; ${label} is not loaded here, so its version and code digest could not be compared.`
				: `Nearest cached call ${id} matches on every compared field, but the key differs (${key.slice(0, 12)}… vs ${id}).`;
	} else {
		const parts = diffs.map(describeDifference);
		message = `Miss: nearest cached call ${id} differs in ${parts.join('; ')}.`;
	}
	return { hit, key, ...how, nearest, differences: diffs, message };
}

function describeDifference(d: Difference): string {
	if (d.field === 'file') {
		// A specifier that resolved to nothing is recorded as `spec from file`, valued 'missing'.
		if (d.cached === MISSING) return `${d.name} resolves now`;
		if (d.now === MISSING) return `${d.name} resolves to nothing`;
		return d.cached === ABSENT ? `${d.name} added` : d.now === ABSENT ? `${d.name} removed` : `${d.name} changed`;
	}
	if (d.field === 'argument' || d.field === 'package') return `${d.field} ${d.name}: cached ${d.cached}, now ${d.now}`;
	return `${d.field}: cached ${d.cached}, now ${d.now}`;
}

/** Options of {@link explain}. */
export interface ExplainOptions {
	/**
	 * The project folder the store's module paths are relative to (a package root). Given, a function cached with
	 * `hashCode: 'deep'` is compared with the code in its files now even when nothing is imported: they are read and
	 * parsed, never run.
	 */
	readonly project?: string;
}

/** The code graph of `module` (a path from an untrusted store) in `project`, when it names a file inside it. */
function codeOnDisk(project: string, module: string): CodeGraph | undefined {
	const parts = module.split('/');
	if (module.includes('\\') || module.includes('\0') || isAbsolute(module) || parts.some((p) => p === '' || p === '.' || p === '..')) return undefined;
	const file = join(project, ...parts);
	if (!existsSync(file)) return undefined;
	try {
		return deepCode(file);
	} catch {
		return undefined;
	}
}

function stopTime(record: CallRecord): number {
	const stop = record.metadata.runtime?.timestop;
	return typeof stop === 'number' ? stop : -Infinity;
}

/**
 * The newest cached call of the function (same module) under this runtime's key scheme whose arguments are exactly the
 * ones given, each with a digest: its identity and argument order key the call without importing anything.
 */
function storeBasis(candidates: readonly CallRecord[], module: string | null, digests: Readonly<Record<string, string | null>>): CallRecord | undefined {
	const given = Object.keys(digests);
	if (given.some((name) => digests[name] === null)) return undefined;
	let best: CallRecord | undefined;
	for (const record of candidates) {
		if (record.module !== module || isStale(record)) continue;
		const names = Object.keys(record.arguments);
		if (names.length !== given.length || !names.every((name) => name in digests)) continue;
		if (best === undefined || stopTime(record) > stopTime(best)) best = record;
	}
	return best;
}

/** @internal The stored arguments of a call as positional arguments for `f.fleche.rerun(...)`. */
export function storedArguments(call: LazyCall, params: readonly string[]): unknown[] {
	return positionalArgs(params, call.arguments);
}
