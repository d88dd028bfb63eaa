// docs/behaviour.md §1.12 `ValueVoid`/`CallVoid`: storages that keep nothing, so every lookup is a miss.
import type { CallRecord } from '../call.js';
import { KeyError } from '../errors.js';
import type { CallStorage, StorageConfig, ValueStorage } from './base.js';
import { assertKey, expandPrefix } from './keys.js';
import { optionlessKind, type StorageKind } from './kinds.js';

/**
 * Value storage that stores nothing: `put` succeeds and forgets, `get` always misses. For turning caching off
 * without changing the code that uses a cache.
 *
 * @example
 * ```ts
 * import { Cache, ValueVoid, CallVoid } from 'fleche';
 * const off = new Cache(new ValueVoid(), new CallVoid()); // every call runs
 * ```
 */
export class ValueVoid implements ValueStorage {
	/** Validates `key` and keeps nothing. */
	put(key: string, _value: unknown): void {
		assertKey(key);
	}

	/** Always throws {@link KeyError}. */
	get(key: string): unknown {
		assertKey(key);
		throw new KeyError(key);
	}

	/** Always false. */
	contains(_key: string): boolean {
		return false;
	}

	/** Always throws {@link KeyError}: there is nothing to remove. */
	evict(key: string): void {
		assertKey(key);
		throw new KeyError(key);
	}

	/** Always empty. */
	list(): string[] {
		return [];
	}

	/** Always throws {@link KeyError}. */
	expand(prefix: string): string {
		return expandPrefix(prefix, []);
	}

	/** `{ type: 'void' }`. */
	toConfig(): StorageConfig {
		return { type: 'void' };
	}
}

/**
 * Call storage that stores nothing: `put` succeeds and forgets, `get` always misses, `records()` is empty.
 *
 * @example
 * ```ts
 * import { Cache, ValueVoid, CallVoid } from 'fleche';
 * const off = new Cache(new ValueVoid(), new CallVoid());
 * ```
 */
export class CallVoid implements CallStorage {
	/** Validates the record's key and keeps nothing. */
	put(record: CallRecord): void {
		assertKey(record.key);
	}

	/** Always throws {@link KeyError}. */
	get(key: string): CallRecord {
		assertKey(key);
		throw new KeyError(key);
	}

	/** Always `undefined`: every lookup is a miss, without a `KeyError` for each. */
	find(key: string): CallRecord | undefined {
		assertKey(key);
		return undefined;
	}

	/** Always empty. */
	*records(_filter?: { readonly name?: string }): Generator<CallRecord, void, undefined> {
		// Nothing is ever stored.
	}

	/** Always false. */
	contains(_key: string): boolean {
		return false;
	}

	/** Always throws {@link KeyError}: there is nothing to remove. */
	evict(key: string): void {
		assertKey(key);
		throw new KeyError(key);
	}

	/** Always empty. */
	list(): string[] {
		return [];
	}

	/** Always throws {@link KeyError}. */
	expand(prefix: string): string {
		return expandPrefix(prefix, []);
	}

	/** `{ type: 'void' }`. */
	toConfig(): StorageConfig {
		return { type: 'void' };
	}
}

/** The `void` storage kind: stores nothing. */
export const voidKind: StorageKind = optionlessKind('void', (role) => (role === 'values' ? new ValueVoid() : new CallVoid()));
