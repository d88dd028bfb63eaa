// docs/behaviour.md §2.4: key validation, prefix expansion and shrinking shared by every storage backend.
import { isHexDigest } from '../digest.js';
import { AmbiguousDigestError, KeyError } from '../errors.js';

/** Length of a full key: a lowercase hex SHA-256 digest. */
export const KEY_LENGTH = 64;

/** Shortest prefix `expand` accepts; shorter ones would match too much to be useful (docs/behaviour.md §2.4). */
export const MIN_PREFIX_LENGTH = 4;

/** True when `key` is a full key: exactly 64 lowercase hex characters (a full digest, checked as digest.ts does). */
export function isKey(key: unknown): boolean {
	return isHexDigest(key as string);
}

/**
 * Throws {@link KeyError} unless `key` is a full key (64 lowercase hex characters).
 *
 * File backends use the key as a file name, so this is what keeps a caller-supplied key such as `../x` or
 * `/etc/passwd` from ever naming a path outside the storage root.
 */
export function assertKey(key: unknown): asserts key is string {
	if (!isKey(key)) {
		const shown = typeof key === 'string' ? JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key) : typeof key;
		throw new KeyError(String(key), `Invalid cache key ${shown}: expected 64 lowercase hex characters`);
	}
}

function commonPrefixLength(a: string, b: string): number {
	const n = Math.min(a.length, b.length);
	let i = 0;
	while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
	return i;
}

/**
 * The one key in `keys` that starts with `prefix` (docs/behaviour.md §2.4).
 *
 * @param prefix - at least {@link MIN_PREFIX_LENGTH} characters; a full key is returned when it is in `keys`.
 * @param keys - every key held; iterated once, never sorted.
 * @throws {@link KeyError} when `prefix` is shorter than 4 characters or matches nothing.
 * @throws {@link AmbiguousDigestError} when several keys match; its message gives the length that would be needed to
 * tell the two lexicographically smallest matches apart, as Python's `fleche` does.
 */
export function expandPrefix(prefix: string, keys: Iterable<string>): string {
	if (typeof prefix !== 'string' || prefix.length < MIN_PREFIX_LENGTH) {
		throw new KeyError(String(prefix), `Key prefix ${JSON.stringify(prefix)} is too short: give at least ${MIN_PREFIX_LENGTH} characters`);
	}
	// Only the two smallest matches matter for the message, so track them instead of collecting and sorting.
	let first: string | undefined;
	let second: string | undefined;
	for (const key of keys) {
		if (!key.startsWith(prefix)) continue;
		if (first === undefined || key < first) {
			second = first;
			first = key;
		} else if (key !== first && (second === undefined || key < second)) {
			second = key;
		}
	}
	if (first === undefined) throw new KeyError(prefix, `No cache entry matches key prefix ${prefix}`);
	if (second !== undefined) throw new AmbiguousDigestError(prefix, commonPrefixLength(first, second) + 1);
	return first;
}

/**
 * The shortest unambiguous prefix of each key among `all` (docs/behaviour.md §2.4 `shrink`): at least
 * {@link MIN_PREFIX_LENGTH} characters, and one more than the longest prefix the key shares with its sorted neighbours
 * (any other key sharing a longer prefix would have to sort between the key and that neighbour).
 *
 * @param keys - full keys to shrink, each of which must be in `all`.
 * @param all - every key held; listed once for the whole batch.
 * @returns the prefixes, in the order of `keys`.
 * @throws {@link KeyError} for a key not in `all`.
 * @throws {@link AmbiguousDigestError} when a key cannot be shortened at all.
 */
export function shrinkKeys(keys: readonly string[], all: Iterable<string>): string[] {
	const sorted = [...new Set(all)].sort();
	return keys.map((key) => {
		if (sorted[lowerBound(sorted, key)] !== key) throw new KeyError(key, `No cache entry for key ${key}`);
		const length = distinctLength(key, sorted);
		if (length >= key.length) throw new AmbiguousDigestError(key, length);
		return key.slice(0, length);
	});
}

/**
 * How many characters of `key` tell it apart from every other key of `sorted` (a sorted, duplicate-free list that may or
 * may not hold `key`): one more than the longest prefix it shares with its neighbours there, at least
 * {@link MIN_PREFIX_LENGTH}.
 */
export function distinctLength(key: string, sorted: readonly string[]): number {
	const i = lowerBound(sorted, key);
	const next = sorted[i] === key ? i + 1 : i;
	const before = i > 0 ? commonPrefixLength(key, sorted[i - 1]!) : 0;
	const after = next < sorted.length ? commonPrefixLength(key, sorted[next]!) : 0;
	return Math.max(MIN_PREFIX_LENGTH, Math.max(before, after) + 1);
}

/**
 * As {@link distinctLength}, among the keys of a storage that answers a prefix from an index (`expand`, a range read of
 * a database): asked one length at a time, from {@link MIN_PREFIX_LENGTH}, until no key but `key` starts with it — a
 * few reads for a store of millions, where listing them all to shrink a page of keys read every one.
 */
export function distinctLengthBy(key: string, expand: (prefix: string) => string): number {
	for (let length = MIN_PREFIX_LENGTH; length < key.length; length++) {
		try {
			if (expand(key.slice(0, length)) === key) return length;
		} catch (err) {
			if (AmbiguousDigestError.is(err)) continue;
			if (KeyError.is(err)) return length;
			throw err;
		}
	}
	return key.length;
}

function lowerBound(sorted: readonly string[], key: string): number {
	let lo = 0;
	let hi = sorted.length;
	while (lo < hi) {
		const mid = (lo + hi) >>> 1;
		if ((sorted[mid] ?? '') < key) lo = mid + 1;
		else hi = mid;
	}
	return lo;
}
