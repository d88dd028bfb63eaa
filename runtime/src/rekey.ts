// docs/behaviour.md §15.2 (`rekey`): carrying stored calls over a rename or a move of a function (the Python library's
// `Cache.redigest`, field report #942 there). A call's key is a digest of its function's identity (name, module,
// version, code digest) and its argument digests, so a function that is renamed or moved misses on every call it
// made before. `rekey` rewrites those records under the new identity: the same argument and result digests (values
// are content-addressed, so nothing is copied), a key recomputed from the new identity, and the old record removed
// unless asked to keep it.
//
// Order of writes, for a crash at any point: the new record is written before the old one is removed, so a crash
// leaves either the old record alone, or both (run it again: a new record already there is kept, the old one removed),
// never neither. Statistics (hits, misses) stay with the old keys: they are the history of the old identity, and
// statistics are only ever added to, never moved.
import type { CallRecord } from './call.js';
import { isStack, type BaseCache } from './caches/base.js';
import { KeyError, Rejected } from './errors.js';
import { isStale, KEY_SCHEME, recordKey } from './key.js';

/** The function whose stored calls {@link rekey} carries over: one function, or with `name` omitted every function of a module. */
export interface RekeySource {
	readonly module: string | null;
	/** The function's identity name; omitted: every function of `module`. */
	readonly name?: string;
}

/** The identity the calls get: a field left out keeps the record's own. */
export interface RekeyTarget {
	readonly module?: string | null;
	readonly name?: string;
}

/** Options of {@link rekey}. */
export interface RekeyOptions {
	/** Compute and report the moves, write nothing. @default false */
	readonly dryRun?: boolean;
	/** Keep the old records beside the new ones (both identities then hit). @default false: removed once the new one is written */
	readonly keep?: boolean;
}

/** One record carried over: its old and new key and identity. */
export interface RekeyMove {
	readonly from: string;
	readonly to: string;
	readonly fromModule: string | null;
	readonly fromName: string;
	readonly toModule: string | null;
	readonly toName: string;
}

/** What {@link rekey} did (or, with `dryRun`, would do). */
export interface RekeyReport {
	/** Records of the source identity found. */
	readonly matched: number;
	/** New records written (with `dryRun`: that would be written). */
	readonly written: number;
	/** Moves whose new key was already stored (a call made under the new identity since): that record is kept as is. */
	readonly existing: number;
	/** Old records removed. */
	readonly removed: number;
	/** Records left alone: keyed under another key scheme, whose keys this runtime cannot recompute. */
	readonly stale: number;
	/** Every move, in the order made. */
	readonly moves: readonly RekeyMove[];
}

/**
 * Carries the stored calls of a renamed or moved function over to its new identity, in `cache` (any store: memory,
 * file, SQL, Postgres; each layer of a `CacheStack` in turn): each record of `from` is written again under `to`
 * with its key recomputed, sharing its stored values, then the old record is removed (`keep: true` keeps it). The
 * new record is written before the old one is removed, so a crash loses nothing, and running it again finishes the
 * job. Statistics stay with the old keys. The CLI's `fleche rekey` runs this.
 * @throws Rejected when `cache` is read-only (before anything is written); TypeError for an empty target.
 * @example
 * ```ts
 * // `add` in src/math.ts became `sum` in src/arith.ts:
 * rekey(cache(), { module: 'src/math.ts', name: 'add' }, { module: 'src/arith.ts', name: 'sum' });
 * // every function of the compiled module, recorded before identities followed source maps:
 * rekey(cache(), { module: 'dist/math.js' }, { module: 'src/math.ts' });
 * ```
 */
export function rekey(cache: BaseCache, from: RekeySource, to: RekeyTarget, options: RekeyOptions = {}): RekeyReport {
	if (to.name !== undefined && (typeof to.name !== 'string' || to.name === '')) throw new TypeError('rekey(): the new name must be a non-empty string');
	if (to.module !== undefined && to.module !== null && (typeof to.module !== 'string' || to.module === '')) {
		throw new TypeError('rekey(): the new module must be a non-empty string or null');
	}
	if (from.name === undefined && to.name !== undefined)
		throw new TypeError('rekey(): every function of a module moves under its own name: give `to` a module only');
	if (!options.dryRun && cache.readOnly) throw new Rejected(`rekey(): ${cache.toString()} is read-only`);
	const layers = isStack(cache) ? cache.stack : [cache];
	const totals = { matched: 0, written: 0, existing: 0, removed: 0, stale: 0 };
	const moves: RekeyMove[] = [];
	for (const layer of layers) {
		// Collected first: the layer is written to while the moves are made.
		const found: CallRecord[] = [];
		for (const record of layer.records(from.name === undefined ? undefined : { name: from.name })) {
			if (record.module === from.module && (from.name === undefined || record.name === from.name)) found.push(record);
		}
		for (const record of found) {
			totals.matched++;
			if (isStale(record)) {
				totals.stale++;
				continue;
			}
			const moved: CallRecord = {
				...record,
				module: to.module === undefined ? record.module : to.module,
				name: to.name ?? record.name,
				scheme: KEY_SCHEME,
			};
			const key = recordKey(moved);
			if (key === record.key) continue; // the same identity: nothing to carry
			moves.push({ from: record.key, to: key, fromModule: record.module, fromName: record.name, toModule: moved.module, toName: moved.name });
			if (layer.contains(key)) totals.existing++;
			else {
				if (!options.dryRun) layer.saveRecord({ ...moved, key });
				totals.written++;
			}
			if (options.keep) continue;
			if (!options.dryRun) {
				try {
					layer.evict(record.key);
				} catch (err) {
					if (!KeyError.is(err)) throw err; // gone meanwhile: nothing left to remove
				}
			}
			totals.removed++;
		}
	}
	return { ...totals, moves };
}
