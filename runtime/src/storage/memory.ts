// docs/behaviour.md §1.12, §2.6 "Memory": in-process value and call storage in a Map, deep-copied on the way in and out.
import { v8 } from '../builtins.js';
import type { CallRecord } from '../call.js';
import { applyPatches, ClassNotRegistered, findPatches } from '../classes.js';
import { KeyError, SaveError } from '../errors.js';
import { warnOnce } from '../log.js';
import type { CallStorage, StorageConfig, ValueStorage } from './base.js';
import { assertKey, expandPrefix, isKey } from './keys.js';
import { optionlessKind, type StorageKind } from './kinds.js';

/**
 * A stored value that needs class patches to come back as it went in (see classes.ts), kept as the `v8.serialize`
 * bytes of `[value, patches]`: structuredClone refuses a `URL` or `URLSearchParams` on Node 22 and later, while
 * v8.serialize keeps them as plain objects with identity, so the patches still point into the copy.
 */
class Patched {
	constructor(readonly bytes: Uint8Array) {}
}

function typeName(value: unknown): string {
	if (value === null) return 'null';
	if (typeof value !== 'object') return typeof value;
	const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
	return typeof name === 'string' && name !== '' ? name : 'object';
}

/**
 * A deep copy, so that neither the caller mutating what it stored nor mutating what it loaded changes the store —
 * the same isolation a file store gives. Immutable primitives are returned as they are: the common hot path.
 */
function copy(value: unknown): unknown {
	const type = typeof value;
	if (value === null || (type !== 'object' && type !== 'function' && type !== 'symbol')) return value;
	return structuredClone(value);
}

const notPlain = Symbol('not plain data');

/**
 * A deep copy of plain data (primitives, arrays, objects whose prototype is `Object.prototype` or `null`), deeply
 * frozen, or `notPlain`: what `structuredClone` and `deepFreeze` would make of such data, in one pass and at a fraction
 * of their cost for the small objects a call record is made of (cloning the record was a tenth of a memory-cache miss).
 */
function copyPlain(value: unknown, depth = 0): unknown {
	if (typeof value !== 'object' || value === null) return typeof value === 'function' || typeof value === 'symbol' ? notPlain : value;
	if (depth > 64) return notPlain;
	if (Array.isArray(value)) {
		if (Object.getPrototypeOf(value) !== Array.prototype) return notPlain;
		const out: unknown[] = new Array<unknown>(value.length);
		for (let i = 0; i < value.length; i++) {
			if (!(i in value)) return notPlain;
			const v = copyPlain(value[i], depth + 1);
			if (v === notPlain) return notPlain;
			out[i] = v;
		}
		return Object.freeze(out);
	}
	const proto = Object.getPrototypeOf(value) as unknown;
	if (proto !== Object.prototype && proto !== null) return notPlain;
	const out: Record<string, unknown> = {};
	for (const k of Object.keys(value)) {
		// An own `__proto__` key (from JSON.parse) would set the copy's prototype instead.
		if (k === '__proto__') return notPlain;
		const v = copyPlain((value as Record<string, unknown>)[k], depth + 1);
		if (v === notPlain) return notPlain;
		out[k] = v;
	}
	return Object.freeze(out);
}

function copyIn(value: unknown, what: string, keepClasses = false): unknown {
	// An immutable primitive is kept as it is (what `copy` does too), without looking for classes to patch first.
	if (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol') return value;
	try {
		const patches = keepClasses ? findPatches(value) : undefined;
		return patches === undefined ? copy(value) : new Patched(v8().serialize([value, patches]));
	} catch (err) {
		const reason = err instanceof Error ? err.message : String(err);
		throw new SaveError(`Cannot store ${what} of type ${typeName(value)} in memory: ${reason}`, { cause: err });
	}
}

/** A copy of a stored value with its classes restored, as the 'v8' serializer does (see classes.ts). */
function copyOut(key: string, value: unknown): unknown {
	if (!(value instanceof Patched)) return copy(value);
	const [v, patches] = v8().deserialize(value.bytes) as [unknown, unknown[]];
	try {
		return applyPatches(v, patches);
	} catch (err) {
		if (!(err instanceof ClassNotRegistered)) throw err;
		warnOnce(`unreadable:${err.message}`, 'FLECHE_UNREADABLE_ENTRY', `Cannot read value ${key} from memory: ${err.message}`);
		throw new KeyError(key, `Cannot read value ${key} from memory: ${err.message}`, { cause: err });
	}
}

/**
 * Value storage in a `Map`, for tests and for caching within one process. Values are structured-cloned on `put` and
 * `get`, so a value must be cloneable (no functions or symbols); instances of classes registered with
 * `registerClass`, Error subclasses and URLs come back as such, other class instances as plain objects.
 *
 * @example
 * ```ts
 * import { Cache, ValueMemory, CallMemory } from 'fleche';
 * const shared = new Map<string, unknown>();
 * const a = new Cache(new ValueMemory(shared), new CallMemory());
 * const b = new Cache(new ValueMemory(shared), new CallMemory()); // sees a's values
 * ```
 */
export class ValueMemory implements ValueStorage {
	readonly #values: Map<string, unknown>;

	/**
	 * @param values - the map to keep values in; pass the same map to several storages to share them.
	 * @default a new, private `Map`
	 */
	constructor(values: Map<string, unknown> = new Map()) {
		this.#values = values;
	}

	/** Stores a copy of `value` unless `key` is held; {@link SaveError} when it cannot be structured-cloned. */
	put(key: string, value: unknown): void {
		// Only full keys are ever put, so a key held is one: checking it again (64 characters of a string met for the
		// first time) cost as much as the lookup, and a miss stores every argument's value, most of them held already.
		if (this.#values.has(key)) return;
		assertKey(key);
		this.#values.set(key, copyIn(value, 'a value', true));
	}

	/** A fresh copy of the value under `key`; {@link KeyError} on a miss. */
	get(key: string): unknown {
		const value = this.#values.get(key);
		// Only full keys are ever put, so a key is checked only when nothing is held under it: the hit path of a
		// cache reads one value per hit, and checking its key cost a tenth of the hit.
		if (value === undefined && !this.#values.has(key)) {
			assertKey(key);
			throw new KeyError(key);
		}
		return copyOut(key, value);
	}

	/** Whether `key` is held; false for anything that is not a full key. */
	contains(key: string): boolean {
		return isKey(key) && this.#values.has(key);
	}

	/**
	 * Bytes of the value under `key` in V8's serialization (what a file store's default serializer writes, without the
	 * header); `null` when it is not held. Serializes the value: for byte budgets (docs/behaviour.md §18), asked once per value.
	 */
	sizeOf(key: string): number | null {
		if (!this.#values.has(key)) return null;
		const value = this.#values.get(key);
		try {
			return value instanceof Patched ? value.bytes.byteLength : v8().serialize(value).byteLength;
		} catch {
			return null;
		}
	}

	/** Removes `key`; {@link KeyError} when it is not held. */
	evict(key: string): void {
		assertKey(key);
		if (!this.#values.delete(key)) throw new KeyError(key);
	}

	/** A snapshot of the keys, so evicting while iterating is safe. */
	list(): string[] {
		return [...this.#values.keys()];
	}

	/** The full key for a prefix of at least 4 characters (docs/behaviour.md §2.4). */
	expand(prefix: string): string {
		return expandPrefix(prefix, this.#values.keys());
	}

	/** `{ type: 'memory' }`: the contents do not travel to another process. */
	toConfig(): StorageConfig {
		return { type: 'memory' };
	}
}

/**
 * Call-record storage in a `Map`; records are copied on `put` and `get`.
 *
 * @example
 * ```ts
 * import { CallMemory } from 'fleche';
 * const calls = new CallMemory();
 * calls.put(record);
 * [...calls.records({ name: record.name })]; // [record, frozen]
 * ```
 */
function deepFreeze<T>(value: T): T {
	if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
		Object.freeze(value);
		for (const v of Object.values(value)) deepFreeze(v);
	}
	return value;
}

export class CallMemory implements CallStorage {
	readonly #records: Map<string, CallRecord>;

	/**
	 * @param records - the map to keep records in, by key; pass the same map to several storages to share them.
	 * @default a new, private `Map`
	 */
	constructor(records: Map<string, CallRecord> = new Map()) {
		this.#records = records;
	}

	/** Stores (or replaces) a deeply frozen copy of `record` under `record.key`. */
	put(record: CallRecord): void {
		assertKey(record.key);
		const plain = copyPlain(record);
		this.#records.set(record.key, (plain === notPlain ? deepFreeze(copyIn(record, 'the call record')) : plain) as CallRecord);
	}

	/**
	 * Stores a record the cache made deeply frozen, as it is (see `CallStorage.adopt`). Its key is the one the cache
	 * computed and looked up for this call, a full key: not checked again. @internal
	 */
	adopt(record: CallRecord): void {
		this.#records.set(record.key, record);
	}

	/**
	 * The record under `key`; {@link KeyError} on a miss. Records are plain data and frozen, so the stored object
	 * itself is returned: copying it would cost more than the rest of a cache hit.
	 */
	get(key: string): CallRecord {
		const record = this.#records.get(key);
		if (record === undefined) {
			assertKey(key);
			throw new KeyError(key);
		}
		return record;
	}

	/** The record under `key`, or `undefined`: {@link CallMemory.get} without a `KeyError` on a miss. */
	find(key: string): CallRecord | undefined {
		const record = this.#records.get(key);
		if (record === undefined) assertKey(key);
		return record;
	}

	/** The (frozen) records, optionally only those with `name`. */
	*records(filter?: { readonly name?: string }): Generator<CallRecord, void, undefined> {
		for (const record of this.#records.values()) {
			if (filter?.name === undefined || record.name === filter.name) yield record;
		}
	}

	/** Whether `key` is held; false for anything that is not a full key. */
	contains(key: string): boolean {
		return isKey(key) && this.#records.has(key);
	}

	/** Removes `key`; {@link KeyError} when it is not held. */
	evict(key: string): void {
		assertKey(key);
		if (!this.#records.delete(key)) throw new KeyError(key);
	}

	/** A snapshot of the keys, so evicting while iterating is safe. */
	list(): string[] {
		return [...this.#records.keys()];
	}

	/** The full key for a prefix of at least 4 characters (docs/behaviour.md §2.4). */
	expand(prefix: string): string {
		return expandPrefix(prefix, this.#records.keys());
	}

	/** `{ type: 'memory' }`: the contents do not travel to another process. */
	toConfig(): StorageConfig {
		return { type: 'memory' };
	}
}

/** The `memory` storage kind: each storage opened from `{ type: 'memory' }` starts empty (contents never travel). */
export const memoryKind: StorageKind = {
	...optionlessKind('memory', (role) => (role === 'values' ? new ValueMemory() : new CallMemory())),
	valueSize: (values, digest) => (values instanceof ValueMemory ? values.sizeOf(digest) : null),
};
