// docs/behaviour.md §1.12, §2.6, §10: value codecs for file storage, the TypeScript stand-in for pickle/cloudpickle/dill.
import * as v8 from 'node:v8';
import { applyPatches, findPatches } from '../classes.js';
import { SaveError } from '../errors.js';

/**
 * Turns values into bytes and back. A file records the name of the serializer that wrote it, so a reader must have
 * a serializer registered under that name.
 */
export interface Serializer {
	/** Encodes `value`; throws (ideally a {@link SaveError}) when it cannot be stored faithfully. */
	serialize(value: unknown): Uint8Array;
	/** Decodes what `serialize` produced; throws on bytes it does not understand. */
	deserialize(bytes: Uint8Array): unknown;
}

/** Names of the serializers that ship with fleche. */
export type BuiltinSerializerName = 'v8' | 'json';

/**
 * Prefix of a 'v8' payload that carries class patches (see classes.ts): `[value, patches]` follows. A plain payload
 * starts with V8's version tag 0xFF, so the two never mix, and values without classes are stored as they always were.
 */
const classEnvelope = Buffer.from([0x46, 0x4c, 0x43, 0x01]); // "FLC" 1

/**
 * Node's structured-clone wire format: keeps `Map`, `Set`, `Date`, `RegExp`, `BigInt`, typed arrays, `Error`s and
 * cycles. Instances of classes registered with `registerClass`, Error subclasses, `URL` and `URLSearchParams` are
 * restored too (the classes are recorded beside the value); other class instances come back as plain objects and
 * functions cannot be stored, as with `structuredClone`.
 */
const v8Serializer: Serializer = {
	serialize(value) {
		const patches = findPatches(value);
		if (patches === undefined) return v8.serialize(value);
		return Buffer.concat([classEnvelope, v8.serialize([value, patches])]);
	},
	deserialize(bytes) {
		if (bytes.length < classEnvelope.length || bytes[0] !== classEnvelope[0] || !classEnvelope.equals(bytes.subarray(0, 4))) {
			return v8.deserialize(bytes) as unknown;
		}
		const pair = v8.deserialize(bytes.subarray(classEnvelope.length)) as unknown;
		if (!Array.isArray(pair) || pair.length !== 2) throw new Error('malformed class envelope');
		return applyPatches(pair[0], pair[1]);
	},
};

/**
 * Plain JSON, readable by any tool. Strict: a value JSON would silently change (an `undefined` property, `NaN`, `-0`,
 * a `BigInt`, a `Map`, a `Date`, a class instance, an array hole, a cycle…) is refused with a {@link SaveError}
 * rather than stored as something else.
 */
const jsonSerializer: Serializer = {
	serialize(value) {
		assertJsonFaithful(value, 'value', []);
		return Buffer.from(JSON.stringify(value), 'utf8');
	},
	deserialize(bytes) {
		// A Buffer view over the same memory: no copy before decoding.
		return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as unknown;
	},
};

function refuse(path: string, what: string): never {
	throw new SaveError(`The json serializer cannot store ${what} at ${path} without changing it; use the 'v8' serializer`);
}

function describe(value: object): string {
	const proto: unknown = Object.getPrototypeOf(value);
	if (proto === null) return 'an object with a null prototype';
	const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
	return typeof name === 'string' && name !== '' ? `a ${name}` : 'a class instance';
}

// `ancestors` holds the objects on the current path only: shared sub-objects are fine (JSON duplicates them, the
// value stays equal), cycles are not (JSON.stringify would throw anyway, with a worse message).
function assertJsonFaithful(value: unknown, path: string, ancestors: object[]): void {
	const type = typeof value;
	if (type === 'string' || type === 'boolean') return;
	if (type === 'number') {
		if (!Number.isFinite(value)) refuse(path, String(value));
		if (Object.is(value, -0)) refuse(path, '-0');
		return;
	}
	if (type === 'undefined') refuse(path, 'undefined');
	if (type === 'bigint') refuse(path, 'a BigInt');
	if (type === 'symbol') refuse(path, 'a symbol');
	if (type === 'function') refuse(path, 'a function');
	if (value === null) return;
	const object = value as object;
	if (ancestors.includes(object)) refuse(path, 'a cycle');
	ancestors.push(object);
	if (Array.isArray(object)) {
		if (Object.getPrototypeOf(object) !== Array.prototype) refuse(path, describe(object));
		for (let i = 0; i < object.length; i++) {
			if (!(i in object)) refuse(`${path}[${i}]`, 'an array hole');
			assertJsonFaithful(object[i] as unknown, `${path}[${i}]`, ancestors);
		}
	} else {
		if (Object.getPrototypeOf(object) !== Object.prototype) refuse(path, describe(object));
		if (Object.getOwnPropertySymbols(object).length > 0) refuse(path, 'symbol-keyed properties');
		if (typeof (object as { toJSON?: unknown }).toJSON === 'function') refuse(path, 'an object with toJSON()');
		for (const key of Object.keys(object)) {
			const at = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
			assertJsonFaithful((object as Record<string, unknown>)[key], at, ancestors);
		}
	}
	ancestors.pop();
}

const builtins: ReadonlyMap<string, Serializer> = new Map([
	['v8', v8Serializer],
	['json', jsonSerializer],
]);
const registered = new Map<string, Serializer>();

/** What a serializer name may be: printable ASCII, 1–255 characters, so it fits the one-byte length in a file header. */
const namePattern = /^[\x21-\x7e]{1,255}$/;

/**
 * Registers a codec under `name`, for `new ValueFile({ root, serializer: name })`. Files remember which serializer
 * wrote them, so every process reading the store must register the same name before reading.
 *
 * @param name - printable ASCII without spaces, 1–255 characters; `'v8'` and `'json'` are reserved.
 * @param serializer - `serialize(value)` returns the bytes; `deserialize(bytes)` gets them back.
 * @example
 * ```ts
 * import { encode, decode } from 'cbor-x';
 * registerSerializer('cbor', { serialize: encode, deserialize: decode });
 * const values = new ValueFile({ root: '.fleche/values', serializer: 'cbor' });
 * ```
 */
export function registerSerializer(name: string, serializer: Serializer): void {
	if (typeof name !== 'string' || !namePattern.test(name)) {
		throw new TypeError(`Invalid serializer name ${JSON.stringify(name)}: use 1–255 printable ASCII characters, no spaces`);
	}
	if (builtins.has(name)) throw new TypeError(`The serializer name '${name}' is built in and cannot be replaced`);
	if (typeof serializer?.serialize !== 'function' || typeof serializer.deserialize !== 'function') {
		throw new TypeError(`Serializer '${name}' must have serialize(value) and deserialize(bytes) methods`);
	}
	registered.set(name, serializer);
}

/**
 * The serializer registered under `name`.
 *
 * @throws TypeError naming the known serializers when `name` is unknown.
 */
export function getSerializer(name: string): Serializer {
	const found = builtins.get(name) ?? registered.get(name);
	if (found === undefined) {
		const known = [...builtins.keys(), ...registered.keys()].map((n) => `'${n}'`).join(', ');
		throw new TypeError(`Unknown serializer ${JSON.stringify(name)}; known: ${known} (add one with registerSerializer)`);
	}
	return found;
}

/** @internal Like {@link getSerializer} but `undefined` for an unknown name, for readers that turn it into a miss. */
export function findSerializer(name: string): Serializer | undefined {
	return builtins.get(name) ?? registered.get(name);
}
