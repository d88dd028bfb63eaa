// docs/behaviour.md §6: querying stored calls — filters, a re-iterable chainable iterator, tables and transfers.
import type { CallRecord, Json } from './call.js';
import { digest, Digest } from './digest.js';
import { Indigestible, KeyError, Rejected } from './errors.js';
import { warn } from './log.js';
import type { CallCache, LazyCall } from './lazyCall.js';

/** Options of `BaseCache.transfer` and {@link QueryIterator.transfer}. */
export interface TransferOptions {
	/** Evict each call from its source once it was written to the target. @default false */
	readonly pop?: boolean;
	/** Replace calls the target already has. @default false */
	readonly overwrite?: boolean;
}

/**
 * What to look for. Every field is optional; `undefined` means "any". Argument values match by digest (so a `D()`
 * digest or prefix matches the value it stands for); metadata values match by plain equality.
 * @example
 * ```ts
 * cache().query({ name: 'fetchPage', arguments: { url: 'https://example.org' }, metadata: { tags: { project: 'alpha' } } });
 * ```
 */
export interface QueryFilter {
	readonly name?: string | undefined;
	readonly module?: string | null | undefined;
	readonly version?: string | number | null | undefined;
	readonly codeDigest?: string | null | undefined;
	/** By parameter name; a key whose value is `undefined` only has to be present. */
	readonly arguments?: Readonly<Record<string, unknown>> | undefined;
	/** `{ namespace: { key: value } }`; `{}` = namespace present; a value `undefined` = key present. */
	readonly metadata?: Readonly<Record<string, Readonly<Record<string, Json | undefined>>>> | undefined;
	/** The result, matched by digest. */
	readonly result?: unknown;
}

function digestMatches(template: unknown, stored: string | null, cache: CallCache): boolean {
	if (stored === null) return false;
	if (Digest.is(template)) {
		if (template.hex.length === 64) return template.hex === stored;
		try {
			return cache.expand(template.hex) === stored;
		} catch {
			return stored.startsWith(template.hex);
		}
	}
	return digest(template) === stored;
}

function jsonEqual(a: unknown, b: unknown): boolean {
	if (Object.is(a, b)) return true;
	if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
	if (Array.isArray(a) !== Array.isArray(b)) return false;
	const ka = Object.keys(a);
	const kb = Object.keys(b);
	if (ka.length !== kb.length) return false;
	return ka.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Whether a record matches a filter. An indigestible template value matches nothing (with a warning). @internal */
export function matches(filter: QueryFilter, record: CallRecord, cache: CallCache): boolean {
	if (filter.name !== undefined && filter.name !== record.name) return false;
	if (filter.module !== undefined && filter.module !== record.module) return false;
	if (filter.version !== undefined && filter.version !== record.version) return false;
	if (filter.codeDigest !== undefined && filter.codeDigest !== record.codeDigest) return false;
	try {
		if ('result' in filter && filter.result !== undefined && !digestMatches(filter.result, record.result, cache)) return false;
		if (filter.arguments) {
			for (const name in filter.arguments) {
				if (!(name in record.arguments)) return false;
				const want = filter.arguments[name];
				if (want !== undefined && !digestMatches(want, record.arguments[name]!, cache)) return false;
			}
		}
	} catch (err) {
		if (!Indigestible.is(err)) throw err;
		warn('FLECHE_QUERY_INDIGESTIBLE', `No hash for query argument: ${err.message}`);
		return false;
	}
	if (filter.metadata) {
		for (const ns in filter.metadata) {
			const have = record.metadata[ns];
			if (have === undefined) return false;
			const want = filter.metadata[ns]!;
			for (const k in want) {
				if (!(k in have)) return false;
				if (want[k] !== undefined && !jsonEqual(have[k], want[k])) return false;
			}
		}
	}
	return true;
}

/** A key of `sorted`, `unique` and `groupby`: a parameter name (its loaded value) or a function of the call. */
export type CallKey = string | ((call: LazyCall) => unknown);

function keyFn(key: CallKey): (call: LazyCall) => unknown {
	return typeof key === 'function' ? key : (call) => call.arguments[key];
}

function compare(a: unknown, b: unknown): number {
	if (typeof a === 'number' && typeof b === 'number') return a - b;
	if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
	if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
	if (a === b) return 0;
	if (a === undefined || a === null) return 1;
	if (b === undefined || b === null) return -1;
	const sa = sortText(a);
	const sb = sortText(b);
	return sa < sb ? -1 : sa > sb ? 1 : 0;
}

function timestop(call: LazyCall): number | undefined {
	const v = call.metadata.runtime?.timestop;
	return typeof v === 'number' ? v : undefined;
}

/** One row of {@link QueryIterator.table}: identity, flattened metadata, and requested arguments and result. */
export type TableRow = Record<string, unknown> & { key: string; name: string; module: string | null };

/** Options of {@link QueryIterator.table}. */
export interface TableOptions {
	/** Argument columns: names, or `true` for every argument name seen. @default [] */
	readonly arguments?: readonly string[] | boolean;
	/** Add a `result` column (loads every result). @default false */
	readonly results?: boolean;
	/** Shorten keys to their shortest unambiguous prefix in the producing cache. @default true */
	readonly shrinkKeys?: boolean;
}

/**
 * The result of a query: re-iterable (each iteration reads the cache again) and chainable (each step returns a new
 * iterator). Iterate it with `for…of` or spread it into an array.
 * @example
 * ```ts
 * const latest = add.fleche.query({ a: 1 }).sorted((c) => c.metadata.runtime?.timestop, true).take(5);
 * for (const call of latest) console.log(call.arguments, call.result);
 * ```
 */
export class QueryIterator implements Iterable<LazyCall> {
	constructor(
		private readonly source: () => Iterable<LazyCall>,
		/** The cache the calls come from, when there is a single one. */
		readonly cache?: CallCache,
	) {}

	[Symbol.iterator](): Iterator<LazyCall> {
		return this.source()[Symbol.iterator]();
	}

	private chain(source: () => Iterable<LazyCall>): QueryIterator {
		return new QueryIterator(source, this.cache);
	}

	/** At most the first `n` calls. */
	take(n: number): QueryIterator {
		return this.chain(() => {
			const src = this.source();
			return (function* () {
				if (n <= 0) return;
				let i = 0;
				for (const c of src) {
					yield c;
					if (++i >= n) return;
				}
			})();
		});
	}

	/** All but the first `n` calls. */
	skip(n: number): QueryIterator {
		return this.chain(() => {
			const src = this.source();
			return (function* () {
				let i = 0;
				for (const c of src) if (i++ >= n) yield c;
			})();
		});
	}

	/** Only the calls for which `predicate` is true. */
	filter(predicate: (call: LazyCall) => boolean): QueryIterator {
		return this.chain(() => {
			const src = this.source();
			return (function* () {
				for (const c of src) if (predicate(c)) yield c;
			})();
		});
	}

	/** Sorted by a key (a parameter name or a function); `undefined`/`null` keys last. Re-sorts on every iteration. */
	sorted(key: CallKey = (c) => c.key, reverse = false): QueryIterator {
		const f = keyFn(key);
		return this.chain(() => {
			const items = [...this.source()].map((c) => [f(c), c] as const);
			items.sort((a, b) => compare(a[0], b[0]));
			if (reverse) items.reverse();
			return items.map(([, c]) => c);
		});
	}

	/** The first call for each distinct key (compared by digest). */
	unique(key: CallKey): QueryIterator {
		const f = keyFn(key);
		return this.chain(() => {
			const src = this.source();
			return (function* () {
				const seen = new Set<string>();
				for (const c of src) {
					const k = digest(f(c));
					if (seen.has(k)) continue;
					seen.add(k);
					yield c;
				}
			})();
		});
	}

	/** The one matching call. @throws RangeError when there is none, or more than one. */
	only(): LazyCall {
		let found: LazyCall | undefined;
		for (const c of this) {
			if (found !== undefined) throw new RangeError('Query matched more than one call');
			found = c;
		}
		if (found === undefined) throw new RangeError('Query matched no call');
		return found;
	}

	/** The first matching call, or `undefined`. */
	any(): LazyCall | undefined {
		for (const c of this) return c;
		return undefined;
	}

	/** How many calls match. */
	count(): number {
		let n = 0;
		for (const _ of this) n++;
		return n;
	}

	/** Whether nothing matches. */
	empty(): boolean {
		return this.any() === undefined;
	}

	/** The results of the matching calls, loaded now. */
	results(): unknown[] {
		return [...this].map((c) => c.result);
	}

	/** Calls grouped by a key, in first-seen order; each group is re-iterable. */
	groupby(key: CallKey): Map<unknown, QueryIterator> {
		const f = keyFn(key);
		const groups = new Map<string, { value: unknown; keys: Set<string> }>();
		for (const c of this) {
			const value = f(c);
			const d = digest(value);
			let g = groups.get(d);
			if (!g) groups.set(d, (g = { value, keys: new Set() }));
			g.keys.add(c.key);
		}
		const out = new Map<unknown, QueryIterator>();
		for (const { value, keys } of groups.values()) out.set(value, this.filter((c) => keys.has(c.key)));
		return out;
	}

	/**
	 * The call that finished last (by `runtime.timestop`); calls without a timestamp lose to dated ones.
	 * @throws RangeError when nothing matches; Error when no call has Runtime metadata.
	 */
	latest(): LazyCall {
		return this.extreme(1);
	}

	/** The call that finished first (by `runtime.timestop`). @throws as {@link latest}. */
	oldest(): LazyCall {
		return this.extreme(-1);
	}

	private extreme(sign: 1 | -1): LazyCall {
		let best: LazyCall | undefined;
		let bestT: number | undefined;
		let any = false;
		for (const c of this) {
			any = true;
			const t = timestop(c);
			if (best === undefined || (t !== undefined && (bestT === undefined || sign * (t - bestT) > 0))) {
				best = c;
				bestT = t;
			}
		}
		if (!any || best === undefined) throw new RangeError('Query matched no call');
		if (bestT === undefined) throw new Error("No matching call has a timestamp: record calls with meta(new Runtime())");
		return best;
	}

	/** Evicts every matching call record from its cache; returns how many. */
	evict(): number {
		let n = 0;
		for (const c of [...this]) {
			try {
				c.cache.evict(c.key);
				n++;
			} catch (err) {
				if (!KeyError.is(err)) throw err;
			}
		}
		return n;
	}

	/**
	 * Copies the matching calls, with their values, into `target`; returns how many were written.
	 * @throws Rejected before copying anything when `pop` is asked of a read-only source (a pool, a read-only cache).
	 */
	transfer(target: CallCache, options: TransferOptions = {}): number {
		const calls = [...this];
		const fixed = options.pop === true ? calls.find((c) => c.cache.readOnly) : undefined;
		if (fixed !== undefined) {
			throw new Rejected(`Cannot transfer with pop from a read-only ${fixed.cache.constructor.name}: transfer without pop, then evict from the store that holds the calls`);
		}
		let n = 0;
		for (const c of calls) {
			if (!target.importCall(c, options.overwrite ?? false)) continue;
			n++;
			if (options.pop) c.cache.evict(c.key);
		}
		return n;
	}

	/** The matching calls as plain rows: `key`, `name`, `module`, flattened metadata, requested arguments and result. */
	table(options: TableOptions = {}): TableRow[] {
		const calls = [...this];
		let argNames: string[] = [];
		if (options.arguments === true) {
			const all = new Set<string>();
			for (const c of calls) for (const n in c.argumentDigests) all.add(n);
			argNames = [...all];
		} else if (Array.isArray(options.arguments)) argNames = [...(options.arguments as readonly string[])];
		let shortKeys: string[] | undefined;
		if ((options.shrinkKeys ?? true) && calls.length > 0 && this.cache) {
			try {
				const cache = this.cache;
				shortKeys = calls.length === 1 ? [cache.shrink(calls[0]!.key)] : cache.shrink(...calls.map((c) => c.key));
			} catch {
				shortKeys = undefined;
			}
		}
		return calls.map((c, i) => {
			const row: TableRow = { key: shortKeys?.[i] ?? c.key, name: c.name, module: c.module };
			for (const ns in c.metadata) {
				for (const [k, v] of Object.entries(c.metadata[ns]!)) {
					row[k] = (k === 'timestart' || k === 'timestop') && typeof v === 'number' ? new Date(v * 1000) : v;
				}
			}
			if (options.results) row.result = c.result;
			if (argNames.length > 0) {
				const args = c.arguments;
				for (const n of argNames) row[n in row ? `a_${n}` : n] = args[n];
			}
			return row;
		});
	}
}

/** A stable text for values of different kinds, so sorting mixed columns is total. */
function sortText(v: unknown): string {
	switch (typeof v) {
		case 'object':
			return JSON.stringify(v);
		case 'string':
			return v;
		case 'number':
		case 'boolean':
		case 'bigint':
		case 'undefined':
			return String(v);
		case 'symbol':
			return v.toString();
		case 'function':
			return v.name;
	}
}
