// docs/behaviour.md §1.10 `FilteredCache`, §6: a read-only view holding only the calls that pass a predicate.
import type { CallRecord, Json } from '../call.js';
import { digest, Digest } from '../digest.js';
import { KeyError } from '../errors.js';
import { LazyCall } from '../lazyCall.js';
import { matches, type QueryFilter } from '../query.js';
import { compositions, type BaseCache, type CacheConfig, type Hit } from './base.js';
import { ReadOnlyCache } from './readOnlyCache.js';

/** Plain-data form of a {@link QueryFilter}: argument and result values replaced by their digests. @internal */
export interface FilterConfig {
	readonly name?: string;
	readonly module?: string | null;
	readonly version?: string | number | null;
	readonly codeDigest?: string | null;
	/** Digest (or digest prefix) per argument; `null` = the argument only has to be present. */
	readonly arguments?: Readonly<Record<string, string | null>>;
	/** Metadata values to match, by namespace and key. */
	readonly metadata?: Readonly<Record<string, Readonly<Record<string, Json>>>>;
	/** Metadata keys that only have to be present, by namespace (a namespace with `[]` only has to exist). */
	readonly metadataKeys?: Readonly<Record<string, readonly string[]>>;
	readonly result?: string;
}

/**
 * A read-only view of `inner` that holds only the calls `predicate` accepts (docs/behaviour.md §1.10; `c.filter(...)`): the
 * others are misses for `lookup`, `load` and `contains`, and do not appear in queries. `predicate` is a function of
 * the call or a {@link QueryFilter}. Writes throw `Rejected` as in {@link ReadOnlyCache}.
 *
 * Only a filter given as a `QueryFilter` can travel to a worker (`toConfig`); a function cannot.
 * @example
 * ```ts
 * const recent = cache().filter((call) => (call.metadata.runtime?.timestop as number) > Date.now() / 1000 - 3600);
 * const alpha = cache().filter({ metadata: { tags: { project: 'alpha' } } });
 * ```
 */
export class FilteredCache extends ReadOnlyCache {
	protected override readonly refusal = 'A FilteredCache is read-only';
	readonly #accepts: (record: CallRecord) => boolean;

	constructor(
		inner: BaseCache,
		/** Which calls the view holds. */
		readonly predicate: ((call: LazyCall) => boolean) | QueryFilter,
	) {
		super(inner);
		if (typeof predicate === 'function') this.#accepts = (record) => predicate(new LazyCall(record, inner)) === true;
		else if (typeof predicate === 'object' && predicate !== null) this.#accepts = (record) => matches(predicate, record, inner);
		else throw new TypeError('filter() takes a function of the call or a query filter');
	}

	override lookup(key: string): Hit | undefined {
		const hit = this.inner.lookup(key);
		return hit !== undefined && this.#accepts(hit.record) ? hit : undefined;
	}

	override loadRecord(key: string): CallRecord {
		const record = this.inner.loadRecord(key);
		if (!this.#accepts(record)) throw new KeyError(key, `${key} is filtered out`);
		return record;
	}

	override contains(key: string): boolean {
		if (!this.inner.contains(key)) return false;
		try {
			this.loadRecord(this.resolveKey(key));
			return true;
		} catch (err) {
			if (KeyError.is(err)) return false;
			throw err;
		}
	}

	override *records(filter?: { readonly name?: string }): Iterable<CallRecord> {
		for (const record of this.inner.records(filter)) if (this.#accepts(record)) yield record;
	}

	/**
	 * `{ type: 'filtered', cache, filter }`.
	 * @throws TypeError when the predicate is a function: it cannot be described as data.
	 */
	override toConfig(): CacheConfig {
		if (typeof this.predicate === 'function') {
			throw new TypeError('A FilteredCache with a function predicate cannot be described as config: filter with a query filter instead');
		}
		return { type: 'filtered', cache: this.inner.toConfig(), filter: filterToConfig(this.predicate) };
	}
}

function digestOf(value: unknown): string {
	return Digest.is(value) ? value.hex : digest(value);
}

/** @internal */
export function filterToConfig(filter: QueryFilter): FilterConfig {
	const out: Record<string, unknown> = {};
	for (const field of ['name', 'module', 'version', 'codeDigest'] as const) if (filter[field] !== undefined) out[field] = filter[field];
	if (filter.arguments !== undefined) {
		const args: Record<string, string | null> = {};
		for (const name in filter.arguments) {
			const v = filter.arguments[name];
			args[name] = v === undefined ? null : digestOf(v);
		}
		out.arguments = args;
	}
	if (filter.metadata !== undefined) {
		const values: Record<string, Record<string, Json>> = {};
		const present: Record<string, string[]> = {};
		for (const [ns, keys] of Object.entries(filter.metadata)) {
			values[ns] = {};
			present[ns] = [];
			for (const [k, v] of Object.entries(keys)) {
				if (v === undefined) present[ns].push(k);
				else values[ns][k] = v;
			}
		}
		out.metadata = values;
		out.metadataKeys = present;
	}
	if (filter.result !== undefined) out.result = digestOf(filter.result);
	return out;
}

/** @internal */
export function filterFromConfig(config: FilterConfig): QueryFilter {
	const out: Record<string, unknown> = {};
	for (const field of ['name', 'module', 'version', 'codeDigest'] as const) if (config[field] !== undefined) out[field] = config[field];
	if (config.arguments !== undefined) {
		out.arguments = Object.fromEntries(Object.entries(config.arguments).map(([k, v]) => [k, v === null ? undefined : new Digest(v)]));
	}
	if (config.metadata !== undefined || config.metadataKeys !== undefined) {
		const metadata: Record<string, Record<string, Json | undefined>> = {};
		for (const [ns, keys] of Object.entries(config.metadataKeys ?? {})) metadata[ns] = Object.fromEntries(keys.map((k) => [k, undefined]));
		for (const [ns, keys] of Object.entries(config.metadata ?? {})) metadata[ns] = { ...metadata[ns], ...keys };
		out.metadata = metadata;
	}
	if (config.result !== undefined) out.result = new Digest(config.result);
	return out;
}

compositions.filter = (cache, predicate) => new FilteredCache(cache, predicate);

declare module './base.js' {
	interface CompositionTypes {
		filter: FilteredCache;
	}
}
