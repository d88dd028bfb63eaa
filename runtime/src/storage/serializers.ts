// docs/behaviour.md §1.12, §2.6, §10: value codecs for file storage, the TypeScript stand-in for pickle/cloudpickle/dill.
import { v8 } from '../builtins.js';
import { applyPatches, findPatches, registeredNameOf, restoreClass } from '../classes.js';
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
		if (patches === undefined) return v8().serialize(value);
		return Buffer.concat([classEnvelope, v8().serialize([value, patches])]);
	},
	deserialize(bytes) {
		if (bytes.length < classEnvelope.length || bytes[0] !== classEnvelope[0] || !classEnvelope.equals(bytes.subarray(0, 4))) {
			return v8().deserialize(bytes) as unknown;
		}
		const pair = v8().deserialize(bytes.subarray(classEnvelope.length)) as unknown;
		if (!Array.isArray(pair) || pair.length !== 2) throw new Error('malformed class envelope');
		return applyPatches(pair[0], pair[1]);
	},
};

/**
 * The top-level key of a 'json' payload whose value holds registered classes, `URL`s or `URLSearchParams`:
 * `{"$fleche/classes": [[path, kind, name?], …], "value": …}`, where `path` is the list of keys from the value down to
 * the object, and `kind` is `'class'` (then `name`, the registered name; the object holds its own enumerable fields),
 * `'URL'` (the object is its `href`) or `'URLSearchParams'` (its text). A value of that very shape is wrapped in an
 * envelope with no classes, so the two never mix; any other value is stored as it is.
 */
const jsonClassesKey = '$fleche/classes';

type JsonClassTag = readonly [path: readonly (string | number)[], kind: 'class' | 'URL' | 'URLSearchParams', name?: string];

function isJsonEnvelope(value: unknown): value is { [jsonClassesKey]: unknown; value: unknown } {
	if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) return false;
	const keys = Object.keys(value);
	return keys.length === 2 && keys.includes(jsonClassesKey) && keys.includes('value');
}

/** The replacer of a payload with classes: `URLSearchParams` has no `toJSON` (a `URL`'s gives its `href`). */
function jsonReplacer(_key: string, value: unknown): unknown {
	return value instanceof URLSearchParams ? value.toString() : value;
}

/**
 * Plain JSON, readable by any tool. Strict: a value JSON would silently change (an `undefined` property, `NaN`, `-0`,
 * a `BigInt`, a `Map`, a `Date`, an unregistered class instance, an array hole, a cycle…) is refused with a
 * {@link SaveError} rather than stored as something else. Instances of classes registered with `registerClass`, `URL`s
 * and `URLSearchParams` are stored with their class named beside the value and come back as themselves.
 */
const jsonSerializer: Serializer = {
	serialize(value) {
		const tags: JsonClassTag[] = [];
		assertJsonFaithful(value, 'value', [], [], tags);
		if (tags.length === 0 && !isJsonEnvelope(value)) return Buffer.from(JSON.stringify(value), 'utf8');
		return Buffer.from(JSON.stringify({ [jsonClassesKey]: tags, value }, tags.length === 0 ? undefined : jsonReplacer), 'utf8');
	},
	deserialize(bytes) {
		// A Buffer view over the same memory: no copy before decoding.
		const parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as unknown;
		return isJsonEnvelope(parsed) ? restoreJsonClasses(parsed.value, parsed[jsonClassesKey]) : parsed;
	},
};

/** Applies the class tags of an envelope to its parsed value; a tag that is not one is a damaged entry. */
function restoreJsonClasses(value: unknown, tags: unknown): unknown {
	if (!Array.isArray(tags)) throw new Error('malformed json class list');
	const root = { value };
	for (const tag of tags as unknown[]) {
		if (!Array.isArray(tag) || !Array.isArray(tag[0])) throw new Error('malformed json class tag');
		const path = ['value', ...(tag[0] as unknown[])];
		let holder: unknown = root;
		for (const key of path.slice(0, -1)) {
			if (typeof holder !== 'object' || holder === null || (typeof key !== 'string' && typeof key !== 'number')) throw new Error('malformed json class tag');
			holder = (holder as Record<string, unknown>)[key];
		}
		const last = path[path.length - 1] as string | number;
		if (typeof holder !== 'object' || holder === null || !Object.prototype.hasOwnProperty.call(holder, last)) throw new Error('malformed json class tag');
		const target = (holder as Record<string | number, unknown>)[last];
		if (tag[1] === 'class') {
			if (typeof target !== 'object' || target === null || Array.isArray(target) || typeof tag[2] !== 'string') throw new Error('malformed json class tag');
			restoreClass(target, tag[2]);
		} else if (tag[1] === 'URL' || tag[1] === 'URLSearchParams') {
			if (typeof target !== 'string') throw new Error('malformed json class tag');
			(holder as Record<string | number, unknown>)[last] = tag[1] === 'URL' ? new URL(target) : new URLSearchParams(target);
		} else throw new Error('malformed json class tag');
	}
	return root.value;
}

function refuse(path: string, what: string): never {
	throw new SaveError(`The json serializer cannot store ${what} at ${path} without changing it; use the 'v8' serializer`);
}

function describe(value: object): string {
	const proto: unknown = Object.getPrototypeOf(value);
	if (proto === null) return 'an object with a null prototype';
	const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
	return typeof name === 'string' && name !== '' ? `a ${name} (an unregistered class: registerClass(${name}) stores its instances)` : 'a class instance';
}

// `ancestors` holds the objects on the current path only: shared sub-objects are fine (JSON duplicates them, the
// value stays equal), cycles are not (JSON.stringify would throw anyway, with a worse message). `keys` is the same
// path as keys, copied into a tag for each registered class instance, URL and URLSearchParams met.
function assertJsonFaithful(value: unknown, path: string, ancestors: object[], keys: (string | number)[], tags: JsonClassTag[]): void {
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
			keys.push(i);
			assertJsonFaithful(object[i] as unknown, `${path}[${i}]`, ancestors, keys, tags);
			keys.pop();
		}
	} else {
		const proto = Object.getPrototypeOf(object) as object | null;
		if (proto === URL.prototype || proto === URLSearchParams.prototype) {
			tags.push([[...keys], proto === URL.prototype ? 'URL' : 'URLSearchParams']);
			ancestors.pop();
			return;
		}
		if (proto !== Object.prototype) {
			const name = registeredNameOf(proto);
			if (object instanceof Error) refuse(path, 'an Error (its message and stack are not fields)');
			if (name === undefined) refuse(path, describe(object));
			tags.push([[...keys], 'class', name]);
		}
		if (Object.getOwnPropertySymbols(object).length > 0) refuse(path, 'symbol-keyed properties');
		if (typeof (object as { toJSON?: unknown }).toJSON === 'function') refuse(path, 'an object with toJSON()');
		for (const key of Object.keys(object)) {
			const at = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
			keys.push(key);
			assertJsonFaithful((object as Record<string, unknown>)[key], at, ancestors, keys, tags);
			keys.pop();
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
