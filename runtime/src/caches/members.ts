// docs/behaviour.md §1.10, §2.4: what caches made of several member caches (stacks, pools) share.
import type { CallRecord, Metadata } from '../call.js';
import { AmbiguousDigestError, KeyError, Rejected } from '../errors.js';
import { expandPrefix, MIN_PREFIX_LENGTH } from '../storage/keys.js';
import type { BaseCache, PreparedCall } from './base.js';

/**
 * The one full key a prefix stands for across members (docs/behaviour.md §2.4: "stacks combine"): members that agree give
 * that key, members that expand it to different keys make it ambiguous, and the length needed is then the longest
 * common prefix of the candidates plus one. @internal
 */
export function expandAcross(members: readonly BaseCache[], prefix: string): string {
	if (typeof prefix !== 'string' || prefix.length < MIN_PREFIX_LENGTH) return expandPrefix(prefix, []);
	const found = new Set<string>();
	let ambiguous: AmbiguousDigestError | undefined;
	for (const member of members) {
		try {
			found.add(member.expand(prefix));
		} catch (err) {
			if (AmbiguousDigestError.is(err)) ambiguous ??= err;
			else if (!KeyError.is(err)) throw err;
		}
	}
	if (ambiguous !== undefined) throw ambiguous;
	if (found.size === 1) return [...found][0]!;
	if (found.size === 0) throw new KeyError(prefix, `No call or value matches prefix ${prefix}`);
	return expandPrefix(prefix, found);
}

/** Records of every member, in member order, each key once (the first member holding it wins). @internal */
export function* uniqueRecords(members: readonly BaseCache[], filter?: { readonly name?: string }): Generator<CallRecord, void, undefined> {
	const seen = new Set<string>();
	for (const member of members) {
		for (const record of member.records(filter)) {
			if (seen.has(record.key)) continue;
			seen.add(record.key);
			yield record;
		}
	}
}

/** Every key of every member; duplicates are harmless to `shrink`. @internal */
export function* allKeys(members: readonly BaseCache[]): Generator<string, void, undefined> {
	for (const member of members) yield* member.keys();
}

/** The first member's answer to `read`, skipping members that miss (`KeyError`). @internal */
export function firstHit<T>(members: readonly BaseCache[], key: string, read: (member: BaseCache) => T): { value: T; member: BaseCache } {
	for (const member of members) {
		try {
			return { value: read(member), member };
		} catch (err) {
			if (!KeyError.is(err)) throw err;
		}
	}
	throw new KeyError(key);
}

/**
 * The prepared call of a cache that stores nothing (docs/behaviour.md §1.10 `ReadOnlyCache.prepare` is digest-only): the
 * body runs, and its commit is refused, so the caller gets its result uncached with the wrapper's
 * "Cache rejected save" warning. @internal
 */
export function refusedPrepare(key: string, why: string): PreparedCall {
	let state: 'open' | 'committed' | 'abandoned' = 'open';
	return {
		key,
		commit(_result: unknown, _metadata: Metadata): CallRecord {
			if (state !== 'open') throw new Error(`PreparedCall ${key} was already ${state}`);
			state = 'committed';
			throw new Rejected(why);
		},
		abandon(): void {
			if (state === 'open') state = 'abandoned';
		},
	};
}
