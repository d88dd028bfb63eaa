// docs/behaviour.md §1.12 (pickle restores classes): which classes a stored value is restored to, and how.

/*
 * Structured clone (the 'v8' serializer, the memory store) keeps a value's data but not its classes: an instance
 * comes back as a plain object, an Error subclass as a plain Error, a URL as `{}`. So that a hit returns what the
 * miss returned, a value is stored together with a list of "patches" that name what the clone loses, and the patches
 * are applied to the clone after reading:
 *
 *   [0, obj, name]            obj gets the prototype of the class registered under `name`
 *   [1, err, ctor, props]     err (an Error) gets the prototype of the built-in error `ctor` and its own properties
 *   [2, err, name, props]     the same, for an Error subclass registered under `name`
 *   [3, obj, href]            obj is replaced by `new URL(href)`
 *   [4, obj, text]            obj is replaced by `new URLSearchParams(text)`
 *   [5, obj]                  obj gets a null prototype
 *
 * `obj` is the very object inside the value: structured clone keeps identity within one clone, so the clone of the
 * patch list points into the clone of the value and no path is needed. Only replacements (URL, URLSearchParams)
 * need a walk over the clone to swap references; everything else is fixed in place. A value that needs no patch is
 * stored exactly as before (no envelope), so existing stores and the common case are unchanged.
 *
 * Names, not code, are stored: a reader must register the same class under the same name. A stored name that is not
 * registered in the reading process makes the read a miss (ClassNotRegistered), so a hit never returns a different
 * type than the miss did. A class that is not registered when its instance is saved is stored as a plain object, as
 * structured clone always did, with a one-time warning per class.
 */

import { warnOnce } from './log.js';

/** Options of {@link registerClass}. */
export interface RegisterClassOptions {
	/**
	 * The name stored with instances, which every process reading the store must register the class under.
	 * @default the class's own name (`Point`); give a qualified one (`'geo.Point'`) when two classes share a name.
	 */
	readonly name?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any constructor, whatever its parameters
type AnyClass = abstract new (...args: any[]) => unknown;

interface Registry {
	readonly byName: Map<string, AnyClass>;
	readonly byPrototype: Map<object, string>;
}

// One registry per process even when the ESM and CJS builds (or two copies) of fleche are loaded together.
const registryKey = Symbol.for('fleche.classes');

function registry(): Registry {
	const g = globalThis as { [registryKey]?: Registry };
	return (g[registryKey] ??= { byName: new Map(), byPrototype: new Map() });
}

const reg = registry();

/**
 * Registers a class so that cached results holding its instances come back as instances of it (methods,
 * `instanceof` and digest included) instead of plain objects. Own enumerable fields are stored and the prototype is
 * restored; the constructor is not run on a hit (as with pickle), and `#private` fields are not stored, so a class
 * that keeps its state in them needs its own `[Symbol.for('fleche.digest')]()` and cannot be restored this way.
 * Every process that reads the store registers the class under the same name; a value whose class is not registered
 * where it is read is a miss, never a plain object.
 *
 * Also usable as a class decorator: `@registerClass` or `@registerClass({ name: 'geo.Point' })`.
 *
 * @returns the class, so `export const P = registerClass(class P { … })` works.
 * @throws TypeError when `Class` is not a class, has no name and none is given, or the name is taken by another class.
 * @example
 * ```ts
 * import { registerClass } from 'fleche';
 * class Point { constructor(public x: number, public y: number) {} norm() { return Math.hypot(this.x, this.y); } }
 * registerClass(Point);                       // stored as 'Point'
 * registerClass(Vec, { name: 'geo.Vec' });    // a stable, qualified name
 * ```
 */
export function registerClass<C extends AnyClass>(Class: C, options?: RegisterClassOptions | ClassDecoratorContext): C;
export function registerClass(options?: RegisterClassOptions): <C extends AnyClass>(Class: C, context?: ClassDecoratorContext) => C;
export function registerClass(a?: unknown, b?: unknown): unknown {
	if (typeof a !== 'function') {
		const options = checkOptions(a);
		return (Class: AnyClass) => register(Class, options);
	}
	const isContext = typeof b === 'object' && b !== null && (b as { kind?: unknown }).kind === 'class';
	return register(a as AnyClass, isContext ? {} : checkOptions(b));
}

function checkOptions(options: unknown): RegisterClassOptions {
	if (options === undefined) return {};
	if (typeof options !== 'object' || options === null) throw new TypeError('registerClass(): options must be an object');
	const name = (options as { name?: unknown }).name;
	if (name !== undefined && (typeof name !== 'string' || name === '')) {
		throw new TypeError('registerClass(): option name must be a non-empty string');
	}
	return options;
}

function register<C extends AnyClass>(Class: C, options: RegisterClassOptions): C {
	const proto = typeof Class === 'function' ? (Class as { prototype?: unknown }).prototype : undefined;
	if (typeof proto !== 'object' || proto === null) throw new TypeError('registerClass(): takes a class');
	const name = options.name ?? Class.name;
	if (typeof name !== 'string' || name === '') {
		throw new TypeError('registerClass(): this class has no name; give one with registerClass(C, { name })');
	}
	const taken = reg.byName.get(name);
	if (taken !== undefined && taken !== Class) {
		throw new TypeError(`registerClass(): the name '${name}' is taken by another class; give this one its own with { name }`);
	}
	const had = reg.byPrototype.get(proto);
	if (had !== undefined && had !== name) {
		throw new TypeError(`registerClass(): ${name} is already registered as '${had}'`);
	}
	reg.byName.set(name, Class);
	reg.byPrototype.set(proto, name);
	return Class;
}

/** The name the class of instances with prototype `proto` is registered under, or `undefined`. @internal */
export function registeredNameOf(proto: object | null): string | undefined {
	return proto === null ? undefined : reg.byPrototype.get(proto);
}

/**
 * Gives `target` the prototype of the class registered under `name` (a value read from a store). Throws
 * {@link ClassNotRegistered} when this process has not registered it, except while tools read values for display
 * (then `target` stays a plain object). @internal
 */
export function restoreClass(target: object, name: string): void {
	const Class = classNamed(name);
	if (Class !== undefined) Object.setPrototypeOf(target, Class.prototype as object);
}

/** The name `Class` is registered under, or `undefined`. */
export function registeredName(Class: AnyClass): string | undefined {
	const proto = (Class as { prototype?: unknown }).prototype;
	return typeof proto === 'object' && proto !== null ? reg.byPrototype.get(proto) : undefined;
}

/**
 * Thrown while reading a value that holds an instance of a class not registered in this process: the read is a miss
 * (the value stays stored for a reader that has the class). @internal
 */
export class ClassNotRegistered extends Error {
	constructor(readonly className: string) {
		super(
			`it holds an instance of class '${className}', which is not registered in this process ` +
				`(call registerClass(${className.replace(/^.*\./, '')}${className.includes('.') ? `, { name: '${className}' }` : ''}) before reading)`,
		);
	}
}

// ---------------------------------------------------------------------------------------------------------------
// Finding what structured clone would lose

type Patch = readonly unknown[];

const getPrototypeOf = Object.getPrototypeOf as (o: object) => object | null;
const objectProto = Object.prototype;
const arrayProto = Array.prototype;

/** Built-in prototypes structured clone keeps as they are. */
const kept = new Set<object>([
	arrayProto,
	Map.prototype,
	Set.prototype,
	Date.prototype,
	RegExp.prototype,
	ArrayBuffer.prototype,
	DataView.prototype,
	Buffer.prototype,
	Number.prototype,
	String.prototype,
	Boolean.prototype,
	BigInt.prototype,
	...[Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array].map((C) => C.prototype),
	...[Float64Array, BigInt64Array, BigUint64Array].map((C) => C.prototype as object),
]);
if (typeof SharedArrayBuffer === 'function') kept.add(SharedArrayBuffer.prototype as object);

/** Built-in errors by prototype; the nearest one is what an unregistered Error subclass is restored as. */
const builtinErrors = new Map<object, string>(
	[Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError, AggregateError].map((C) => [C.prototype, C.name]),
);
const errorsByName = new Map<string, AnyClass>(
	[Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError, AggregateError].map((C) => [C.name, C]),
);

/** Properties structured clone keeps on an Error itself. */
const errorKept = new Set(['stack', 'message', 'cause']);

/** A flag in force while a function runs (nested runs included); the process is synchronous in between. */
class Scoped {
	#depth = 0;
	get on(): boolean {
		return this.#depth > 0;
	}
	run<T>(fn: () => T): T {
		this.#depth++;
		try {
			return fn();
		} finally {
			this.#depth--;
		}
	}
}

/** On while a result is stored: the warnings about classes that cannot be restored are about results. */
const savingResults = new Scoped();

/**
 * Runs `fn`, which stores the result of a call: an instance of a class that cannot be restored warns there (an
 * argument value, such as `this` of a decorated method, is stored the same way but does not warn). @internal
 */
export function savingResult<T>(fn: () => T): T {
	return savingResults.run(fn);
}

/**
 * What structured clone would lose in `value`, as patches (see the file header), or `undefined` when nothing is lost.
 * While saving a result, warns once per class whose instances cannot be restored. Objects a clone cannot hold
 * (functions, symbols…) are left for the clone to refuse.
 */
export function findPatches(value: unknown): Patch[] | undefined {
	let patches: Patch[] | undefined;
	walkObjects(value, (v, todo) => {
		const proto = getPrototypeOf(v);
		if (proto === objectProto) {
			pushValues(v, todo);
			return false;
		}
		if (proto === arrayProto) {
			const a = v as unknown[];
			for (let i = 0; i < a.length; i++) if (typeof a[i] === 'object') todo.push(a[i]);
			return false;
		}
		const patch = patchFor(v, proto, todo);
		if (patch !== undefined) (patches ??= []).push(patch);
		return false;
	});
	return patches;
}

/**
 * Visits every object reachable from `value` once, depth first without recursion: `visit` pushes the children it
 * wants walked onto `todo`, and returning true stops the walk. Whether it was stopped. @internal
 */
export function walkObjects(value: unknown, visit: (v: object, todo: unknown[]) => boolean): boolean {
	if (typeof value !== 'object' || value === null) return false;
	const seen = new Set<object>();
	const todo: unknown[] = [value];
	while (todo.length > 0) {
		const v = todo.pop();
		if (typeof v !== 'object' || v === null || seen.has(v)) continue;
		seen.add(v);
		if (visit(v, todo)) return true;
	}
	return false;
}

function pushValues(o: object, todo: unknown[]): void {
	for (const k of Object.keys(o)) {
		const x = (o as Record<string, unknown>)[k];
		if (typeof x === 'object' && x !== null) todo.push(x);
	}
}

/** Pushes the objects `v` holds (entries, elements, own enumerable values) onto `todo`. @internal */
export function pushContents(v: object, todo: unknown[]): void {
	if (v instanceof Map) {
		for (const [k, x] of v) todo.push(k, x);
	} else if (v instanceof Set) {
		for (const x of v) todo.push(x);
	} else if (Array.isArray(v)) {
		for (const x of v) todo.push(x);
	} else if (!ArrayBuffer.isView(v) && !(v instanceof Date) && !(v instanceof RegExp)) {
		// Binary data and boxed primitives hold no objects; their indexes are not worth listing.
		if (!kept.has(getPrototypeOf(v) ?? objectProto)) pushValues(v, todo);
	}
}

function patchFor(v: object, proto: object | null, todo: unknown[]): Patch | undefined {
	if (proto === null) {
		pushValues(v, todo);
		return [5, v];
	}
	if (kept.has(proto)) {
		pushContents(v, todo);
		return undefined;
	}
	if (v instanceof Error) return errorPatch(v, proto, todo);
	if (proto === URL.prototype) return [3, v, (v as URL).href];
	if (proto === URLSearchParams.prototype) return [4, v, (v as URLSearchParams).toString()];
	pushContents(v, todo);
	const name = reg.byPrototype.get(proto);
	if (name !== undefined) return [0, v, name];
	const className = protoName(proto);
	// Another realm's plain object (a vm context) clones as a plain object: nothing is lost.
	if (!savingResults.on || (className === 'Object' && getPrototypeOf(proto) === null)) return undefined;
	warnOnce(
		`class-not-restored:${className}`,
		'FLECHE_CLASS_NOT_RESTORED',
		`A cached value holds an instance of ${className || 'an anonymous class'}, which is not registered: it is stored ` +
			`as a plain object and a hit returns it without its class; call registerClass(${className || 'TheClass'}) ` +
			`(exported by fleche) so that hits return instances`,
	);
	return undefined;
}

function errorPatch(e: Error, proto: object, todo: unknown[]): Patch {
	const props: [string, unknown, boolean][] = [];
	for (const k of Object.getOwnPropertyNames(e)) {
		if (errorKept.has(k)) continue;
		const d = Object.getOwnPropertyDescriptor(e, k);
		if (d === undefined || !('value' in d)) continue; // accessors are not data; a clone never had them either
		props.push([k, d.value, d.enumerable === true]);
		if (typeof d.value === 'object' && d.value !== null) todo.push(d.value);
	}
	if ((e as { cause?: unknown }).cause !== undefined) todo.push((e as { cause?: unknown }).cause);
	const name = reg.byPrototype.get(proto);
	if (name !== undefined) return [2, e, name, props];
	let builtin: string | undefined;
	for (let p: object | null = proto; p !== null && builtin === undefined; p = getPrototypeOf(p)) builtin = builtinErrors.get(p);
	if (savingResults.on && !builtinErrors.has(proto)) {
		const className = protoName(proto);
		warnOnce(
			`class-not-restored:${className}`,
			'FLECHE_CLASS_NOT_RESTORED',
			`A cached value holds a ${className || 'an anonymous Error subclass'}, which is not registered: a hit returns ` +
				`it as a ${builtin ?? 'Error'}; call registerClass(${className || 'TheError'}) (exported by fleche) so that hits return instances`,
		);
	}
	return [1, e, builtin ?? 'Error', props];
}

function protoName(proto: object): string {
	const ctor = (proto as { constructor?: unknown }).constructor;
	const name = typeof ctor === 'function' ? (ctor as { name?: unknown }).name : undefined;
	return typeof name === 'string' ? name : '';
}

// ---------------------------------------------------------------------------------------------------------------
// Restoring

/**
 * Applies the clone of a patch list to the clone of the value it was made for; returns the value (a new object when
 * the value itself was replaced). Throws {@link ClassNotRegistered} for a class this process does not know, and a
 * plain Error for a patch list that is not one (a damaged or forged entry).
 */
export function applyPatches(value: unknown, patches: unknown): unknown {
	if (!Array.isArray(patches)) throw new Error('malformed class patches');
	let replace: Map<object, unknown> | undefined;
	for (const p of patches as unknown[]) {
		if (!Array.isArray(p) || typeof p[1] !== 'object' || p[1] === null) throw new Error('malformed class patch');
		const target = p[1] as object;
		switch (p[0]) {
			case 0: {
				const Class = classNamed(p[2]);
				if (Class !== undefined) Object.setPrototypeOf(target, Class.prototype as object);
				break;
			}
			case 1:
			case 2: {
				if (!(target instanceof Error) || !Array.isArray(p[3])) throw new Error('malformed error patch');
				const Class = p[0] === 1 ? errorsByName.get(p[2] as string) : classNamed(p[2]);
				if (Class === undefined && p[0] === 1) throw new Error('malformed error patch');
				if (Class !== undefined) Object.setPrototypeOf(target, Class.prototype as object);
				for (const prop of p[3] as unknown[]) {
					if (!Array.isArray(prop) || typeof prop[0] !== 'string') throw new Error('malformed error patch');
					Object.defineProperty(target, prop[0], { value: prop[1], enumerable: prop[2] === true, writable: true, configurable: true });
				}
				break;
			}
			case 3:
				(replace ??= new Map()).set(target, new URL(String(p[2])));
				break;
			case 4:
				(replace ??= new Map()).set(target, new URLSearchParams(String(p[2])));
				break;
			case 5:
				Object.setPrototypeOf(target, null);
				break;
			default:
				throw new Error(`unknown class patch kind ${String(p[0])}`);
		}
	}
	return replace === undefined ? value : replaceAll(value, replace);
}

/** On while tools read values to show them: unregistered classes then read as plain objects. */
const forDisplay = new Scoped();

/**
 * Runs `fn` with values whose class is not registered here read as plain objects instead of being misses: for tools
 * that show stored values (the CLI, the editor), never for the hits of cached functions. @internal
 */
export function readingForDisplay<T>(fn: () => T): T {
	return forDisplay.run(fn);
}

/** Whether values are being read to be shown ({@link readingForDisplay}). @internal */
export function isReadingForDisplay(): boolean {
	return forDisplay.on;
}

function classNamed(name: unknown): AnyClass | undefined {
	if (typeof name !== 'string') throw new Error('malformed class patch');
	const Class = reg.byName.get(name);
	if (Class === undefined && !forDisplay.on) throw new ClassNotRegistered(name);
	return Class;
}

/** Swaps every reference to a key of `replace` inside `root` (a clone: plain data, Maps, Sets, Errors). */
function replaceAll(root: unknown, replace: Map<object, unknown>): unknown {
	const swap = (x: unknown): unknown => (typeof x === 'object' && x !== null && replace.has(x) ? replace.get(x) : x);
	const seen = new Set<object>();
	const todo: unknown[] = [root];
	while (todo.length > 0) {
		const v = todo.pop();
		if (typeof v !== 'object' || v === null || seen.has(v) || replace.has(v)) continue;
		seen.add(v);
		if (ArrayBuffer.isView(v)) continue;
		if (v instanceof Map) {
			const entries = [...v];
			if (entries.some(([k, x]) => swap(k) !== k || swap(x) !== x)) {
				v.clear();
				for (const [k, x] of entries) v.set(swap(k), swap(x));
			}
			for (const [k, x] of entries) todo.push(k, x);
		} else if (v instanceof Set) {
			const items: unknown[] = [...(v as Set<unknown>)];
			if (items.some((x) => swap(x) !== x)) {
				v.clear();
				for (const x of items) v.add(swap(x));
			}
			todo.push(...items);
		} else {
			for (const k of Object.getOwnPropertyNames(v)) {
				const d = Object.getOwnPropertyDescriptor(v, k);
				const x = d !== undefined && 'value' in d ? (d.value as unknown) : undefined;
				if (typeof x !== 'object' || x === null) continue;
				if (replace.has(x)) Object.defineProperty(v, k, { value: replace.get(x) });
				else todo.push(x);
			}
		}
	}
	return swap(root);
}
