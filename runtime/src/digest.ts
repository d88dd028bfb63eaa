// docs/behaviour.md §1.2, §2.3: content digests of argument values (`digest`, `D`, `Digest`, digest hooks).

/*
 * The digest scheme (TypeScript-native; deliberately NOT compatible with Python fleche, whose scheme leans on CPython
 * type names and the numeric `hash()`).
 *
 * Every value maps to the lowercase hex SHA-256 of a UTF-8 "encoding" string that starts with a type tag and a colon,
 * so values of different types can never share an encoding. Tags never contain ':' and every payload is
 * self-delimiting, so each encoding can be parsed back unambiguously (that is what rules out collisions):
 *
 *   n:<String(x) | -0>          number (all NaNs equal, -0 distinct)   b:<decimal>   bigint
 *   s:<text>  su:<JSON>         string (su: when it has lone surrogates, which UTF-8 would otherwise merge with U+FFFD)
 *   true / false / null / undefined (constant digests)
 *   a:<h>,<h>,…                 array, element digests in order (holes are `undefined`)
 *   o:<txt(key)>=<h>,…          plain object, own enumerable string keys sorted, symbol keys ignored
 *   i:<txt(class)>|<body>       class instance: class name + the same body as a plain object
 *   E:<txt(class)>|<h(name)>,<h(message)>,<body>                           Error
 *   M:<kh>:<vh>,…  S:<h>,…      Map and Set: entry digests sorted, so insertion order is irrelevant
 *   d:<getTime()>  r:<txt(source)><flags>  U:<href>  Q:<search params>   Date, RegExp, URL, URLSearchParams
 *   F:…  Y:…                    a `file:` URL: the file's name and bytes, or a directory's tree (fileDigest.ts)
 *   T:<element type>:<length>:<sha256 of the view's bytes>                typed array (B: Buffer, V: DataView,
 *                               AB: ArrayBuffer, SAB: SharedArrayBuffer); bytes in platform (little-endian) order
 *   h:<txt(class)>|<h>          what a digest hook or a [digestSymbol]() method returned, salted with the class name
 *   X:<h>                       boxed primitive (`new Number(1)`)
 *   G:<b>,<b>,…                 the entry of a cycle: body hashes of the cycle's members (below)
 *   R:<h>:<rank>                a member of a cycle walked maxWalks times already in the same call (below)
 *
 * txt(s) is `<length>:<s>` (or `u<JSON>` for text with lone surrogates); <h> is a child's digest. Containers hash
 * their children's hex digests, never the children themselves: that is the Merkle property, so a `Digest` (whose
 * digest is its own hex, verbatim) can stand in for any nested value. Subclasses of Array/Map/Set/Date/RegExp add
 * `~<txt(class)>` to their tag. A `Digest` may hold a short prefix; the ',' separators keep those unambiguous too.
 *
 * Traversal is depth first with one shared table per top-level call: an object already finished reuses its digest,
 * so DAGs are linear and sharing is invisible (`[x, x]` digests like `[x, structuredClone(x)]`).
 *
 * Cycles (Tarjan's strongly connected components, found during the same traversal): an object that can reach
 * itself is a member of a cycle. Inside a cycle, a child that is a member of the same cycle is written `^<d>`
 * instead of a digest, where d is the difference of the two objects' positions in the order the cycle's members
 * were first met (a back, forward or cross reference alike; `^0` is a self-reference). A member's encoding with
 * those references is its body, hashed as <b>. The object through which the traversal entered the cycle digests
 * as `G:` and the body hashes of all members in first-met order, itself first. That is a canonical encoding of the
 * cycle as seen from its entry (child order is fixed: sorted keys, array order), so two cyclic values share a
 * digest exactly when their cycles have the same shape, member for member, and the values outside them are equal.
 * Sharing inside a cycle is visible (`a→b→a` differs from `a→b→a'→b'→a`). A member's digest as a value of its own
 * is that of the cycle entered through it. Values without cycles never contain `^` or `G:`, so their digests are
 * those of the scheme before cycles were encoded this way. A cycle entered again at another member is walked again from
 * there, up to maxWalks times per call; then `R:` names the member by the cycle's first digest and its
 * position in that walk (exact, but order-dependent). Sets and Map keys are walked in insertion order, so a
 * cycle through them can digest differently for another insertion order: a miss, never a wrong hit.
 */

import { createHash, hash, type Hash } from 'node:crypto';
// `node:util/types`, not `node:util`: an ES import of `node:util` makes Node 22+ load its lazy parts (worker_threads,
// streams, net through the colour check), which `import 'fleche'` must not pay for.
import * as nodeTypes from 'node:util/types';
import { Indigestible } from './errors.js';
import { fileNodeDigest, FileUnreadable, readFileNode } from './fileDigest.js';

// Re-exported so the digest API can be imported as one unit (Python's `fleche.digest` also exposes `Indigestible`).
export { Indigestible } from './errors.js';

/**
 * The method key a class implements to choose its own digest: `[digestSymbol]()` returns a {@link Digest} or a
 * 64-hex string (used verbatim), or any other value (digested in turn, salted with the class name). A registered
 * symbol, so it is shared by every copy of the package and needs no import to implement.
 *
 * @example
 * class Point {
 *   constructor(readonly x: number, readonly y: number, private cache = new Map()) {}
 *   [digestSymbol]() { return [this.x, this.y]; } // the cache is not part of the identity
 * }
 * digest(new Point(1, 2)) === digest(new Point(1, 2, new Map([[1, 1]]))); // true
 */
export const digestSymbol: unique symbol = Symbol.for('fleche.digest');

const digestBrand = Symbol.for('fleche.Digest');
/**
 * 1 at the character codes of lowercase hex digits. Checking a digest through this table costs about a third of
 * `/^[0-9a-f]{64}$/.test` (130 against 290 ns), and a memory-cache miss checks five keys (storage/keys.ts `isKey`).
 */
const hexDigit = new Uint8Array(128);
for (const c of '0123456789abcdef') hexDigit[c.charCodeAt(0)] = 1;
const lowerHexPrefix = /^[0-9a-f]{1,64}$/;
const hexPrefix = /^[0-9a-fA-F]{1,64}$/;

/**
 * True when `s` is a full digest: exactly 64 lowercase hex characters.
 *
 * @example
 * isHexDigest(digest(1)); // true
 * isHexDigest('ABC');     // false
 */
export function isHexDigest(s: string): boolean {
	if (typeof s !== 'string' || s.length !== 64) return false;
	for (let i = 0; i < 64; i++) {
		const c = s.charCodeAt(i);
		if (c > 127 || hexDigit[c] !== 1) return false;
	}
	return true;
}

/**
 * A digest held as a value: passing one where a value is expected stands for the value it is the digest of, because
 * `digest(new Digest(h)) === h` and containers hash their children's digests. It may be a short prefix of a digest
 * (1 to 64 hex characters); the cache expands those.
 *
 * @example
 * const d = new Digest('ABC123');
 * d.hex;                        // 'abc123'
 * digest(d);                    // 'abc123'
 * digest([1, D(x)]) === digest([1, x]); // true for any x
 */
export class Digest {
	/** The digest (or prefix) as lowercase hex. */
	readonly hex: string;

	/**
	 * @param hex 1 to 64 hex characters, any case; anything else throws a `TypeError`.
	 * @example
	 * new Digest('0f'); // Digest(0f)
	 */
	constructor(hex: string) {
		if (typeof hex !== 'string' || !hexPrefix.test(hex)) {
			throw new TypeError(`A Digest is 1 to 64 hex characters, got ${describeForError(hex)}`);
		}
		this.hex = hex.toLowerCase();
	}

	/**
	 * The hex text, so a Digest interpolates like a string.
	 * @example
	 * `${new Digest('ab')}`; // 'ab'
	 */
	toString(): string {
		return this.hex;
	}

	/**
	 * The hex text, so a Digest serializes as a JSON string.
	 * @example
	 * JSON.stringify({ k: new Digest('ab') }); // '{"k":"ab"}'
	 */
	toJSON(): string {
		return this.hex;
	}

	/**
	 * True when `x` is a Digest from any copy of the package (ESM and CJS builds, or two versions), which
	 * `instanceof` would miss: Digests carry a brand under `Symbol.for('fleche.Digest')`.
	 * @example
	 * Digest.is(D('ab')); // true
	 * Digest.is('ab');    // false
	 */
	static is(x: unknown): x is Digest {
		if (typeof x !== 'object' || x === null) return false;
		try {
			return (x as Branded)[digestBrand] === true;
		} catch {
			// A revoked or throwing Proxy is not a Digest; digesting it reports it as Indigestible instead.
			return false;
		}
	}

	/**
	 * The full digest this prefix stands for among the keys and values of `cache` (docs/behaviour.md §1.12b `expand`).
	 * @param cache - where to look. @default the active cache
	 * @throws KeyError when nothing matches, AmbiguousDigestError when several do.
	 * @example
	 * D('3fa9').expand().hex; // '3fa9…' (64 characters)
	 */
	expand(cache?: KeyCache): Digest {
		return new Digest(keyCache(cache).expand(this.hex));
	}

	/**
	 * The shortest unambiguous prefix (at least 4 characters) of this digest among the keys and values of `cache`
	 * (docs/behaviour.md §1.12b `shrink`); a prefix is expanded first.
	 * @param cache - where to look. @default the active cache
	 * @throws KeyError when the digest is not held there.
	 * @example
	 * D(key).shrink().hex; // e.g. '3fa9'
	 */
	shrink(cache?: KeyCache): Digest {
		const c = keyCache(cache);
		return new Digest(c.shrink(this.hex.length === DIGEST_LENGTH ? this.hex : c.expand(this.hex)));
	}
}

/** Length of a full digest in hex characters (SHA-256): 64. */
export const DIGEST_LENGTH = 64;

/** What {@link Digest.expand} and {@link Digest.shrink} need of a cache (every `BaseCache` has both). */
export interface KeyCache {
	expand(prefix: string): string;
	shrink(key: string): string;
}

/**
 * @internal Where `Digest.expand()`/`shrink()` find the active cache: filled in by state.ts when it loads, so that
 * digest.ts (imported by nearly everything) does not import the cache machinery.
 */
export const activeKeyCache: { get?: () => KeyCache } = {};

function keyCache(cache: KeyCache | undefined): KeyCache {
	if (cache !== undefined) return cache;
	const get = activeKeyCache.get;
	if (get === undefined) throw new TypeError('Digest.expand()/shrink(): no active cache is loaded; pass a cache');
	return get();
}

interface Branded {
	[digestBrand]?: unknown;
	hex?: unknown;
}

// On the prototype, not a field, so instances stay one property wide; the brand is what `Digest.is` trusts.
Object.defineProperty(Digest.prototype, digestBrand, { value: true });
Object.defineProperty(Digest.prototype, Symbol.for('nodejs.util.inspect.custom'), {
	value(this: Digest) {
		return `Digest(${this.hex})`;
	},
});

/**
 * docs/behaviour.md §1.2: a {@link Digest} for `value`. A string of 1 to 64 hex characters is taken to BE a digest (or a
 * prefix of one) and wrapped verbatim; anything else, including `""` and non-hex strings, is digested. A Digest
 * comes back as is. Use it to pass a value you only know by its digest.
 *
 * @example
 * D('abc').hex;             // 'abc' (a prefix, verbatim)
 * D('xyz').hex;             // digest('xyz')
 * D({ a: 1 }).hex;          // digest({ a: 1 })
 * digest([D(big)]) === digest([big]); // true
 */
export function D(value: unknown): Digest {
	if (Digest.is(value)) return value;
	if (typeof value === 'string' && hexPrefix.test(value)) return new Digest(value);
	return new Digest(digest(value));
}

// ---------------------------------------------------------------------------------------------------------------
// Hooks

interface Hook {
	readonly cls: abstract new (...args: never[]) => unknown;
	readonly fn: (value: never) => unknown;
}

/** Newest first, so a later registration overrides an earlier one for overlapping types. */
const hooks: Hook[] = [];

/**
 * Registers how to digest instances of `Class` (matched with `instanceof`, newest hook first, before every other
 * rule except `Digest`s). `fn` returns a {@link Digest} or a 64-hex string (used verbatim) or any other value, which
 * is digested salted with the value's class name. Registering the same class again replaces its hook.
 *
 * @example
 * addHook(Temporal.PlainDate, (d) => d.toString());
 * addHook(Model, (m) => m.weightsDigest); // a 64-hex string, used as is
 */
export function addHook<T>(Class: abstract new (...args: never[]) => T, fn: (value: T) => unknown): void {
	if (typeof Class !== 'function') throw new TypeError('addHook(Class, fn): Class must be a class or constructor');
	if (typeof fn !== 'function') throw new TypeError('addHook(Class, fn): fn must be a function');
	removeHook(Class);
	hooks.unshift({ cls: Class, fn });
}

/**
 * Removes the hook registered for exactly `Class` (not for its subclasses); true if there was one.
 *
 * @example
 * addHook(Point, (p) => [p.x, p.y]);
 * removeHook(Point); // true
 * removeHook(Point); // false
 */
export function removeHook(Class: abstract new (...args: never[]) => unknown): boolean {
	const i = hooks.findIndex((h) => h.cls === Class);
	if (i < 0) return false;
	hooks.splice(i, 1);
	return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Leaves

/**
 * Above this many characters an encoding is streamed into a Hash: huge containers never hit V8's string length
 * limit, and flattening many short rope strings is much cheaper than one long one (measured: 64 KiB is ~4x faster
 * per element than 1 MiB).
 */
const chunkChars = 1 << 16;
/**
 * Digests of recently seen numbers and short strings, in direct-mapped tables (a slot is simply overwritten on a
 * collision). A Map with eviction was measured 2.5x slower than no cache on a stream of distinct values; this costs
 * a few ns on a miss and turns a repeated value (a cache hit calling `f(42)` again) into ~10 ns instead of a hash.
 */
const cacheSlots = 4096; // a power of two: slot indexes are the top 12 bits of a 32-bit mix
const slotShift = 20;
const shortString = 64;
const numKeys = new Float64Array(cacheSlots).fill(NaN); // NaN never equals anything, so empty slots never hit
const numValues: string[] = new Array<string>(cacheSlots).fill('');
const strKeys: (string | undefined)[] = new Array<string | undefined>(cacheSlots).fill(undefined);
const strValues: string[] = new Array<string>(cacheSlots).fill('');

function sha(text: string): string {
	return hash('sha256', text, 'hex');
}

const digestOfTrue = sha('true');
const digestOfFalse = sha('false');
const digestOfNull = sha('null');
const digestOfUndefined = sha('undefined');
const digestOfZero = sha('n:0');
const digestOfNegativeZero = sha('n:-0');

// Not in the ES2023 lib typings yet, but present since Node 20 (V8 11.x).
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Self-delimiting text: `<length>:<s>`, or `u<JSON>` when `s` has lone surrogates that UTF-8 cannot carry. */
function txt(s: string): string {
	return isWellFormed(s) ? s.length + ':' + s : 'u' + JSON.stringify(s);
}

function digestNumber(v: number): string {
	// === cannot tell 0 from -0, so zeros bypass the cache.
	if (v === 0) return Object.is(v, -0) ? digestOfNegativeZero : digestOfZero;
	// Mixes the integer part with 32 bits of fraction, so 0.1, 0.2, … spread over the table too.
	const slot = Math.imul((v | 0) ^ ((v * 4294967296) | 0), 0x9e3779b1) >>> slotShift;
	if (numKeys[slot] === v) return numValues[slot]!;
	const h = sha('n:' + String(v));
	numKeys[slot] = v;
	numValues[slot] = h;
	return h;
}

function hashString(v: string): string {
	return isWellFormed(v) ? sha('s:' + v) : sha('su:' + JSON.stringify(v));
}

function digestString(v: string): string {
	const n = v.length;
	if (n > shortString) return hashString(v);
	// A few characters, not all: the slot only has to spread typical keys ('item17', 'red', …), not be unique.
	let x = Math.imul(n, 0x9e3779b1);
	if (n !== 0) {
		x = Math.imul(x ^ v.charCodeAt(0), 0x01000193);
		x = Math.imul(x ^ v.charCodeAt(n - 1), 0x01000193);
		x = Math.imul(x ^ v.charCodeAt(n >> 1), 0x01000193);
		if (n > 2) x = Math.imul(x ^ v.charCodeAt(n - 2) ^ (v.charCodeAt(n - 3) << 16), 0x01000193);
	}
	const slot = Math.imul(x, 0x9e3779b1) >>> slotShift;
	if (strKeys[slot] === v) return strValues[slot]!;
	const h = hashString(v);
	strKeys[slot] = v;
	strValues[slot] = h;
	return h;
}

// ---------------------------------------------------------------------------------------------------------------
// Traversal: an explicit stack of frames rather than recursion, so nesting depth is limited by maxDepth, never by
// the call stack (a recursive version overflowed at ~1,900 levels, depending on the caller's own stack use).

/**
 * Deeper than this is refused with an Indigestible. It bounds time and memory (~40 MB of frames and tables) when a
 * getter generates an endless chain of fresh objects, which would otherwise run until the process dies.
 */
const maxDepth = 100_000;
/** Frames kept for reuse between calls; a rare very deep call does not pin its frames forever. */
const framePool = 1024;
/**
 * Ancestors this shallow are found by scanning the open frames, which is cheaper than a Map: inserting an object
 * into a Map makes V8 allocate its identity hash (~300 ns, as much as a SHA-256 of a short string).
 */
const scanDepth = 32;
/**
 * Only subtrees of at least this many containers are memoized. That still bounds the work on any DAG (or cyclic
 * graph) to about memoMinFrames times its number of edges, without paying a Map insert for every small object.
 */
const memoMinFrames = 8;
/**
 * A cycle entered again at another member is walked again from there (its digest depends on the entry), which is
 * quadratic when many outside references point into one big cycle (an array of all the nodes of a graph whose edges
 * go both ways). After this many walks of one cycle in one call, such a member digests instead as the cycle's first
 * digest plus its position: still exact (never shared by another structure), but then equal values reached in
 * another order can digest differently, which costs a miss, never a wrong hit.
 */
const maxWalks = 2;
/** Binary leaves at least this large are memoized too (a shared 64 MB array is hashed once per call). */
const memoMinBytes = 1 << 16;

// What a frame's children are and how their digests are folded in (see `enter`, `accept`, `finish`).
const bodyFrame = 0; // own enumerable properties obj[names[i]] (plain objects, class instances, an Error's fields)
const arrayFrame = 1; // obj[i]
const setFrame = 2; // items[i], digests collected in hexes, sorted at the end
const mapKeysFrame = 3; // items[i] (the keys); then the frame becomes mapValuesFrame
const mapValuesFrame = 4; // values[order[i]] with `order` = entries sorted by key digest
const errorHeadFrame = 5; // items = [name, message]; then the frame becomes bodyFrame over the error's own fields
const oneFrame = 6; // items[0], what a hook or [digestSymbol]() returned; `label` is its path segment

const noStrings: string[] = [];
const noItems: unknown[] = [];
const noNumbers: number[] = [];
const nothing: object = Object.freeze({});

/** Fields are always initialised with the same types so V8 keeps every frame on one hidden class. */
class Frame {
	kind = bodyFrame;
	obj: object = nothing;
	i = 0;
	n = 0;
	/** `ctx.visits` when the frame opened: the size of its subtree decides whether it is memoized. */
	start = 0;
	/** The encoding built so far (streamed into `hasher` once it grows past chunkChars). */
	s = '';
	hasher: Hash | undefined = undefined;
	names: string[] = noStrings;
	items: unknown[] = noItems;
	values: unknown[] = noItems;
	hexes: string[] = noStrings;
	pairs: string[] = noStrings;
	order: number[] = noNumbers;
	/** Set/Map: the encoding prefix; Error: the body prefix; oneFrame: the path segment of its child. */
	label = '';
	/** Position on the cycle stack (Tarjan's), and the lowest position this object's subtree refers back to. */
	idx = 0;
	low = 0;
	/** The object refers to itself directly: a cycle of one. */
	selfRef = false;
	/** The cycle this object was found in earlier in this call, while re-entering it from another object. */
	scc: Scc | undefined = undefined;
}

/** A strongly connected part (a cycle) closed earlier in this call; `open` counts its members with an open frame. */
class Scc {
	open = 0;
	/** How many times it was walked in this call. */
	walks = 1;
	/** Its digest as entered the first time, and each member's position in that walk. */
	digest = '';
	readonly rank = new Map<object, number>();
}

/** State of one top-level `digest` call. */
class Ctx {
	busy = false;
	/** Finished objects with big enough subtrees → their digest, reused on the next meeting. */
	readonly memo = new Map<object, string>();
	/** Open objects at depth >= scanDepth → their depth (shallower ones are found in `frames`); meeting one is a cycle. */
	readonly deep = new Map<object, number>();
	/** Frames opened so far in this call. */
	visits = 0;
	readonly frames: Frame[] = [];
	/** Index of the innermost open frame, -1 before the root opens; error paths are read off frames[0..top]. */
	top = -1;
	/**
	 * The cycle stack: open objects and finished ones whose cycle is still open. `sp` is its height; finished members
	 * are in `done` (→ position), with their body hashes in `hashes` and themselves in `members` (by position).
	 */
	sp = 0;
	readonly done = new Map<object, number>();
	readonly hashes: string[] = [];
	readonly members: (object | undefined)[] = [];
	/** Members of cycles closed so far in this call → their cycle. */
	readonly sccOf = new Map<object, Scc>();
}

/** Reused unless `digest` is re-entered (a hook or a [digestSymbol]() method that calls `digest` itself). */
const shared = new Ctx();

/**
 * Thrown by the traversal for values it refuses; the catch in `digestRoot` turns it into an Indigestible once the
 * path is known, so the hot path never builds path strings.
 */
class Refusal extends Error {
	constructor(readonly make: (path: string) => Indigestible) {
		super('fleche digest refusal (internal, converted to Indigestible)');
	}
}

/**
 * The digest of any value: 64 lowercase hex characters (SHA-256). Equal content gives equal digests in every
 * process: object key order and Map/Set insertion order do not matter; array order and types do (`1`, `1n`, `'1'`
 * and `true` all differ, as do `0` and `-0`). A {@link Digest} digests to its own hex, so it can stand in for the
 * value anywhere inside a structure. Class instances digest as their class name plus own enumerable fields; private
 * `#fields` are invisible, so give such classes a `[digestSymbol]()` method or register an {@link addHook}. Throws
 * {@link Indigestible}, and nothing else, for functions without a digest method, symbols, Promises, WeakMaps,
 * iterators, getters that throw and absurdly deep nesting; its `path` says where, e.g. `[2].callback`. A `file:` URL
 * digests as what the file holds (its name and bytes; a directory as its tree), read through a stat cache, and is
 * Indigestible when the path does not exist (docs/behaviour.md §1.2a).
 *
 * @example
 * digest({ a: 1, b: [1, 2] }) === digest({ b: [1, 2], a: 1 });        // true
 * digest(1) !== digest(1n) && digest(1) !== digest('1');               // true
 * digest([1, D({ big: 'value' })]) === digest([1, { big: 'value' }]); // true
 */
export function digest(value: unknown): string {
	switch (typeof value) {
		case 'number':
			return digestNumber(value);
		case 'string':
			return digestString(value);
		case 'boolean':
			return value ? digestOfTrue : digestOfFalse;
		case 'undefined':
			return digestOfUndefined;
		case 'bigint':
			return sha('b:' + value.toString());
		case 'symbol':
			throw symbolRefusal.make('');
		case 'object':
			if (value === null) return digestOfNull;
			return digestRoot(value);
		case 'function':
			return digestRoot(value);
	}
}

function digestRoot(value: object): string {
	const ctx = shared.busy ? new Ctx() : shared;
	ctx.busy = true;
	try {
		return run(ctx, value);
	} catch (err) {
		throw toIndigestible(ctx, err);
	} finally {
		ctx.memo.clear();
		ctx.deep.clear();
		if (ctx.sp !== 0 || ctx.sccOf.size !== 0) {
			ctx.done.clear();
			ctx.sccOf.clear();
			ctx.hashes.length = 0;
			ctx.members.length = 0;
			ctx.sp = 0;
		}
		ctx.visits = 0;
		ctx.top = -1;
		if (ctx.frames.length > framePool) ctx.frames.length = framePool;
		ctx.busy = false;
	}
}

function run(ctx: Ctx, root: object): string {
	const first = enterObject(ctx, root, 0);
	if (first !== null) return first;
	const frames = ctx.frames;
	let top = 0;
	for (;;) {
		const f = frames[top]!;
		if (f.i < f.n) {
			let h: string | null;
			switch (f.kind) {
				case bodyFrame:
					// Plain property access on purpose: getters run (and may throw, see toIndigestible).
					h = enter(ctx, (f.obj as Record<string, unknown>)[f.names[f.i]!], top + 1);
					break;
				case arrayFrame:
					h = enter(ctx, (f.obj as unknown[])[f.i], top + 1);
					break;
				case mapValuesFrame:
					h = enter(ctx, f.values[f.order[f.i]!], top + 1);
					break;
				default:
					h = enter(ctx, f.items[f.i], top + 1);
					break;
			}
			if (h === null) top++;
			else accept(f, h);
			continue;
		}
		const body = finish(f);
		if (body === null) continue; // the frame moved on to its next phase
		if (top >= scanDepth) ctx.deep.delete(f.obj);
		if (f.scc !== undefined) f.scc.open--;
		let h: string;
		if (f.low < f.idx) {
			// Part of a cycle through an ancestor (never the root, whose idx is 0): it stays on the cycle stack until
			// the cycle's entry closes, and its parent gets a reference to it instead of a digest.
			const parent = frames[top - 1]!;
			ctx.hashes[f.idx] = body;
			ctx.members[f.idx] = f.obj;
			ctx.done.set(f.obj, f.idx);
			if (f.low < parent.low) parent.low = f.low;
			h = '^' + (parent.idx - f.idx);
		} else {
			const entry = ctx.sp - 1 > f.idx || f.selfRef;
			h = entry ? closeCycle(ctx, f, body) : body;
			ctx.sp = f.idx;
			// Only closed objects have a digest of their own: one inside an open cycle depends on where it was entered.
			// A cycle's entry is always kept, so that entering it there again never counts as another walk.
			if (entry || ctx.visits - f.start >= memoMinFrames) ctx.memo.set(f.obj, h);
		}
		release(f);
		if (top === 0) {
			ctx.top = -1;
			return h;
		}
		ctx.top = --top;
		accept(frames[top]!, h);
	}
}

/** Folds a child's digest into its parent's encoding. */
function accept(f: Frame, h: string): void {
	switch (f.kind) {
		case bodyFrame:
			f.s += txt(f.names[f.i]!) + '=' + h + ',';
			break;
		case arrayFrame:
			f.s += h + ',';
			break;
		case mapValuesFrame:
			f.pairs[f.i] = f.hexes[f.order[f.i]!]! + ':' + h;
			break;
		case oneFrame:
			f.s += h;
			break;
		default:
			f.hexes[f.i] = h;
			break;
	}
	f.i++;
	if (f.s.length > chunkChars) {
		(f.hasher ??= createHash('sha256')).update(f.s);
		f.s = '';
	}
}

/** The frame's digest once all children are in, or null when it has switched to a second phase. */
function finish(f: Frame): string | null {
	switch (f.kind) {
		case setFrame:
			return joinSorted(f.label, f.hexes);
		case mapKeysFrame: {
			// Values are visited in key-digest order, not insertion order, so even inside a cycle (where the first
			// visit fixes an object's digest) a Map's digest does not depend on the order its entries were set.
			const hexes = f.hexes;
			const order = Array.from({ length: f.n }, (_, i) => i);
			order.sort((x, y) => (hexes[x]! < hexes[y]! ? -1 : hexes[x]! > hexes[y]! ? 1 : x - y));
			f.order = order;
			f.pairs = new Array<string>(f.n);
			f.kind = mapValuesFrame;
			f.i = 0;
			return null;
		}
		case mapValuesFrame:
			return joinSorted(f.label, f.pairs);
		case errorHeadFrame: {
			const names = Object.keys(f.obj);
			names.sort();
			f.s = f.label + f.hexes[0]! + ',' + f.hexes[1]! + ',';
			f.names = names;
			f.n = names.length;
			f.i = 0;
			f.kind = bodyFrame;
			return null;
		}
		default:
			return f.hasher === undefined ? sha(f.s) : f.hasher.update(f.s).digest('hex');
	}
}

/**
 * The digest of a cycle's entry `f`: the body hashes of every member in the order they were first met (the cycle
 * stack holds exactly them, from `f` up). Their references to each other are relative positions on that stack, so
 * the result depends only on the graph as seen from `f`.
 */
function closeCycle(ctx: Ctx, f: Frame, body: string): string {
	const hasher = createHash('sha256').update('G:' + body);
	const known = ctx.sccOf.get(f.obj);
	const scc = known ?? new Scc();
	if (known === undefined) {
		ctx.sccOf.set(f.obj, scc);
		scc.rank.set(f.obj, 0);
	}
	for (let i = f.idx + 1; i < ctx.sp; i++) {
		hasher.update(',' + ctx.hashes[i]!);
		const m = ctx.members[i]!;
		ctx.done.delete(m);
		if (known === undefined) {
			ctx.sccOf.set(m, scc);
			scc.rank.set(m, i - f.idx);
		}
		ctx.members[i] = undefined;
	}
	const h = hasher.digest('hex');
	if (known === undefined) scc.digest = h;
	return h;
}

/** A reference from the object open at `depth - 1` to the object at position `target` of the cycle stack. */
function backRef(ctx: Ctx, depth: number, target: number): string {
	const parent = ctx.frames[depth - 1]!;
	if (target < parent.low) parent.low = target;
	if (target === parent.idx) parent.selfRef = true;
	return '^' + (parent.idx - target);
}

function joinSorted(prefix: string, parts: string[]): string {
	parts.sort();
	let s = prefix;
	let hasher: Hash | undefined;
	for (let i = 0; i < parts.length; i++) {
		s += parts[i]! + ',';
		if (s.length > chunkChars) {
			(hasher ??= createHash('sha256')).update(s);
			s = '';
		}
	}
	return hasher === undefined ? sha(s) : hasher.update(s).digest('hex');
}

/** Opens a frame at `depth`. Callers do everything that can throw first, so an error's path stays the parent's. */
function push(ctx: Ctx, depth: number, kind: number, obj: object, n: number, s: string): Frame {
	if (depth >= maxDepth) throw tooDeepRefusal;
	let f = ctx.frames[depth];
	if (f === undefined) {
		f = new Frame();
		ctx.frames[depth] = f;
	}
	f.kind = kind;
	f.obj = obj;
	f.i = 0;
	f.n = n;
	f.s = s;
	f.hasher = undefined;
	f.start = ctx.visits++;
	f.idx = f.low = ctx.sp++;
	f.selfRef = false;
	if (ctx.sccOf.size === 0) f.scc = undefined;
	else if ((f.scc = ctx.sccOf.get(obj)) !== undefined) f.scc.open++;
	if (depth >= scanDepth) ctx.deep.set(obj, depth);
	ctx.top = depth;
	return f;
}

/** Drops the frame's references so a pooled frame does not keep user data alive. */
function release(f: Frame): void {
	f.obj = nothing;
	f.s = '';
	f.hasher = undefined;
	f.names = noStrings;
	f.items = noItems;
	f.values = noItems;
	f.hexes = noStrings;
	f.pairs = noStrings;
	f.order = noNumbers;
	f.scc = undefined;
}

/** The digest of `v` if it needs no frame, else null after opening a frame for it at `depth`. */
function enter(ctx: Ctx, v: unknown, depth: number): string | null {
	switch (typeof v) {
		case 'number':
			return digestNumber(v);
		case 'string':
			return digestString(v);
		case 'boolean':
			return v ? digestOfTrue : digestOfFalse;
		case 'undefined':
			return digestOfUndefined;
		case 'bigint':
			return sha('b:' + v.toString());
		case 'symbol':
			throw symbolRefusal;
		case 'object':
			if (v === null) return digestOfNull;
			return enterObject(ctx, v, depth);
		case 'function':
			return enterObject(ctx, v, depth);
	}
}

const objectProto = Object.prototype;
const arrayProto = Array.prototype;
const objectToString = intrinsic<string>(Object.prototype, 'toString');
const getPrototypeOf = Object.getPrototypeOf as (o: object) => object | null;
const typedArrayProto = getPrototypeOf(Int8Array.prototype)!;
/** Intrinsic getters: they read internal slots, so subclasses and other realms cannot fake the answers. */
const typedArrayTag = intrinsicGetter<string | undefined>(typedArrayProto, Symbol.toStringTag);
const typedArrayLength = intrinsicGetter<number>(typedArrayProto, 'length');
const dataViewByteLength = intrinsicGetter<number>(DataView.prototype, 'byteLength');
const iteratorProto = getPrototypeOf(getPrototypeOf([][Symbol.iterator]())!)!;
/** %AsyncIteratorPrototype%: above the async generators' own prototype, whose tag already refuses them. */
const asyncIteratorProto = getPrototypeOf(getPrototypeOf(getPrototypeOf((async function* () {})())!)!)!;
/** Contents read through the built-ins' own methods: a subclass overriding iteration, or no prototype, changes nothing. */
const mapEntries = intrinsic<IterableIterator<[unknown, unknown]>>(Map.prototype, 'entries');
const setValues = intrinsic<IterableIterator<unknown>>(Set.prototype, 'values');
const regExpSource = intrinsicGetter<string>(RegExp.prototype, 'source');
const arrayBufferByteLength = intrinsicGetter<number>(ArrayBuffer.prototype, 'byteLength');
const sharedArrayBufferByteLength = intrinsicGetter<number>(SharedArrayBuffer.prototype, 'byteLength');
/** The flag getters in the order of `RegExp.prototype.flags` ("dgimsuvy"); Node 20 has all eight. */
const regExpFlagGetters = (
	[
		['d', 'hasIndices'],
		['g', 'global'],
		['i', 'ignoreCase'],
		['m', 'multiline'],
		['s', 'dotAll'],
		['u', 'unicode'],
		['v', 'unicodeSets'],
		['y', 'sticky'],
	] as const
).map(([flag, key]) => [flag, intrinsicGetter<boolean>(RegExp.prototype, key)] as const);

/** What `re.flags` says of a built-in RegExp, read from its slots. */
function regExpFlags(re: RegExp): string {
	let flags = '';
	for (const [flag, get] of regExpFlagGetters) if (get.call(re)) flags += flag;
	return flags;
}

/**
 * The `Object.prototype.toString` tag of a null-prototype object that is a built-in underneath (its tag lived on the
 * prototype it lost), from its internal slots; null for an ordinary object, a plain dictionary.
 */
function slotTag(v: object): string | null {
	if (Array.isArray(v)) return '[object Array]';
	if (ArrayBuffer.isView(v)) return '[object ArrayBufferView]';
	if (nodeTypes.isMap(v)) return '[object Map]';
	if (nodeTypes.isSet(v)) return '[object Set]';
	if (nodeTypes.isDate(v)) return '[object Date]';
	if (nodeTypes.isRegExp(v)) return '[object RegExp]';
	if (nodeTypes.isNativeError(v)) return '[object Error]';
	if (nodeTypes.isArrayBuffer(v)) return '[object ArrayBuffer]';
	if (nodeTypes.isSharedArrayBuffer(v)) return '[object SharedArrayBuffer]';
	// Any boxed primitive: the switch sends all five to digestBoxed, which tells them apart.
	if (nodeTypes.isBoxedPrimitive(v)) return '[object Number]';
	if (nodeTypes.isPromise(v)) return '[object Promise]';
	if (nodeTypes.isWeakMap(v)) return '[object WeakMap]';
	if (nodeTypes.isWeakSet(v)) return '[object WeakSet]';
	if (nodeTypes.isGeneratorObject(v)) return '[object Generator]';
	if (nodeTypes.isMapIterator(v)) return '[object Map Iterator]';
	if (nodeTypes.isSetIterator(v)) return '[object Set Iterator]';
	return null;
}

function enterObject(ctx: Ctx, v: object, depth: number): string | null {
	const memo = ctx.memo.get(v);
	// A memoized cycle entry is not reused while its cycle is being walked again from another of its members.
	if (memo !== undefined && (ctx.sccOf.size === 0 || !((ctx.sccOf.get(v)?.open ?? 0) > 0))) return memo;
	// Meeting an object on the cycle stack again (an open ancestor, or a finished member of an open cycle) is a cycle.
	const frames = ctx.frames;
	const scan = depth < scanDepth ? depth : scanDepth;
	for (let d = 0; d < scan; d++) if (frames[d]!.obj === v) return backRef(ctx, depth, frames[d]!.idx);
	if (depth > scanDepth) {
		const d = ctx.deep.get(v);
		if (d !== undefined) return backRef(ctx, depth, frames[d]!.idx);
	}
	if (ctx.done.size !== 0) {
		const i = ctx.done.get(v);
		if (i !== undefined) return backRef(ctx, depth, i);
	}
	if (ctx.sccOf.size !== 0) {
		const scc = ctx.sccOf.get(v);
		if (scc !== undefined && scc.open === 0) {
			if (scc.walks >= maxWalks) return sha('R:' + scc.digest + ':' + scc.rank.get(v)!);
			scc.walks++;
		}
	}
	if ((v as Branded)[digestBrand] === true) return brandedHex(v);

	for (let i = 0; i < hooks.length; i++) {
		const hook = hooks[i]!;
		if (v instanceof hook.cls) {
			const cls = hook.cls.name || 'an anonymous class';
			return custom(ctx, v, depth, callUser(() => hook.fn(v as never), `the digest hook for ${cls}`), `<digest hook for ${cls}>`);
		}
	}
	const method = (v as { [digestSymbol]?: unknown })[digestSymbol];
	if (typeof method === 'function') {
		const who = `the [Symbol.for('fleche.digest')]() method of ${className(v) || 'an object'}`;
		return custom(ctx, v, depth, callUser(() => method.call(v), who), "[Symbol.for('fleche.digest')]()");
	}
	if (typeof v === 'function') throw functionRefusal(v);

	const proto: object | null = getPrototypeOf(v);
	if (proto === objectProto) return pushBody(ctx, v, depth, 'o:');
	// Without a prototype a built-in loses its tag too: a null-prototype Map, Date or Error is told from a dictionary
	// by its internal slots, or every such Map would digest as the same empty object.
	const tag = proto === null ? slotTag(v) : objectToString.call(v);
	if (tag === null) return pushBody(ctx, v, depth, 'o:');
	if (Array.isArray(v)) {
		// Read the length before opening the frame: on a Proxy it can throw.
		const n = v.length;
		push(ctx, depth, arrayFrame, v, n, proto === arrayProto ? 'a:' : 'a' + sub(proto, 'Array') + ':');
		return null;
	}
	if (ArrayBuffer.isView(v)) {
		const h = digestView(v, proto);
		if (v.byteLength >= memoMinBytes) ctx.memo.set(v, h);
		return h;
	}

	switch (tag) {
		case '[object Map]':
			if (v instanceof Map || nodeTypes.isMap(v)) return pushMap(ctx, v as Map<unknown, unknown>, depth, proto);
			break;
		case '[object Set]':
			if (v instanceof Set || nodeTypes.isSet(v)) return pushSet(ctx, v as Set<unknown>, depth, proto);
			break;
		case '[object Date]':
			// The intrinsic getTime throws on a fake Date; an invalid date gives NaN, distinct from every valid one.
			return sha('d' + sub(proto, 'Date') + ':' + dateGetTime.call(v));
		case '[object RegExp]': {
			const re = v as RegExp;
			return sha('r' + sub(proto, 'RegExp') + ':' + txt(regExpSource.call(re)) + regExpFlags(re));
		}
		case '[object Error]':
			return pushError(ctx, v as Error, depth, proto);
		case '[object ArrayBuffer]':
			if (nodeTypes.isArrayBuffer(v)) {
				return sha('AB:' + arrayBufferByteLength.call(v) + ':' + hash('sha256', new Uint8Array(v), 'hex'));
			}
			break;
		case '[object SharedArrayBuffer]':
			if (nodeTypes.isSharedArrayBuffer(v)) {
				return sha('SAB:' + sharedArrayBufferByteLength.call(v) + ':' + hash('sha256', new Uint8Array(v), 'hex'));
			}
			break;
		case '[object URL]':
			if (v instanceof URL) return v.protocol === 'file:' ? digestFileUrl(v) : sha('U:' + txt(v.href));
			break;
		case '[object URLSearchParams]':
			if (v instanceof URLSearchParams) return sha('Q:' + txt(v.toString()));
			break;
		case '[object Number]':
		case '[object String]':
		case '[object Boolean]':
		case '[object BigInt]':
		case '[object Symbol]':
			if (nodeTypes.isBoxedPrimitive(v)) return digestBoxed(v);
			break;
		default:
			break;
	}
	const kind = tag.slice(8, -1);
	if (Object.hasOwn(indigestibleBuiltins, kind)) throw builtinRefusal(article(kind), indigestibleBuiltins[kind]!);
	if (isIterator(proto)) throw builtinRefusal('an iterator', indigestibleBuiltins['Iterator']!);
	const name = proto === null ? '' : protoName(proto);
	// A plain object from another realm (a vm context) has that realm's Object.prototype but is still plain.
	if (name === 'Object' && proto !== null && getPrototypeOf(proto) === null) return pushBody(ctx, v, depth, 'o:');
	return pushBody(ctx, v, depth, 'i:' + txt(name) + '|');
}

/** Built-in iterators and generators (and classes extending Iterator): reading them would consume them. */
function isIterator(proto: object | null): boolean {
	for (let p = proto; p !== null; p = getPrototypeOf(p)) {
		if (p === iteratorProto || p === asyncIteratorProto) return true;
	}
	return false;
}

function pushBody(ctx: Ctx, o: object, depth: number, prefix: string): null {
	const names = Object.keys(o);
	names.sort();
	push(ctx, depth, bodyFrame, o, names.length, prefix).names = names;
	return null;
}

function pushMap(ctx: Ctx, m: Map<unknown, unknown>, depth: number, proto: object | null): null {
	// Snapshot first: a getter reached while digesting could otherwise mutate the Map under the iteration.
	const keys: unknown[] = [];
	const values: unknown[] = [];
	for (const [k, val] of mapEntries.call(m)) {
		keys.push(k);
		values.push(val);
	}
	const f = push(ctx, depth, mapKeysFrame, m, keys.length, '');
	f.items = keys;
	f.values = values;
	f.hexes = new Array<string>(keys.length);
	f.label = 'M' + sub(proto, 'Map') + ':';
	return null;
}

function pushSet(ctx: Ctx, set: Set<unknown>, depth: number, proto: object | null): null {
	const items = Array.from(setValues.call(set));
	const f = push(ctx, depth, setFrame, set, items.length, '');
	f.items = items;
	f.hexes = new Array<string>(items.length);
	f.label = 'S' + sub(proto, 'Set') + ':';
	return null;
}

function pushError(ctx: Ctx, e: Error, depth: number, proto: object | null): null {
	const items = [e.name, e.message];
	const f = push(ctx, depth, errorHeadFrame, e, 2, '');
	f.items = items;
	f.hexes = new Array<string>(2);
	f.label = 'E:' + txt(proto === null ? '' : protoName(proto)) + '|';
	return null;
}

/** A hook's or [digestSymbol]()'s result: a digest verbatim, else digested in turn under the class-name salt. */
function custom(ctx: Ctx, v: object, depth: number, r: unknown, segment: string): string | null {
	if (Digest.is(r)) return brandedHex(r);
	if (isHexDigest(r as string)) return r as string;
	const f = push(ctx, depth, oneFrame, v, 1, 'h:' + txt(className(v)) + '|');
	f.items = [r];
	f.label = segment;
	return null;
}

function callUser(call: () => unknown, who: string): unknown {
	try {
		return call();
	} catch (err) {
		throw new Refusal((path) => {
			if (Indigestible.is(err)) {
				return new Indigestible(path + err.path, `${err.message} (inside ${who}${at(path)})`, { cause: err });
			}
			return new Indigestible(path, `Cannot digest the value${at(path)}: ${who} threw ${describeError(err)}`, {
				cause: err,
			});
		});
	}
}

function brandedHex(v: Branded): string {
	const hex = v.hex;
	if (typeof hex === 'string') {
		if (lowerHexPrefix.test(hex)) return hex;
		if (hexPrefix.test(hex)) return hex.toLowerCase();
	}
	throw builtinRefusal('a malformed Digest', 'its hex is not 1 to 64 hex characters');
}

function digestBoxed(v: object): string {
	let prim: unknown;
	if (nodeTypes.isNumberObject(v)) prim = numberValueOf.call(v);
	else if (nodeTypes.isStringObject(v)) prim = stringValueOf.call(v);
	else if (nodeTypes.isBooleanObject(v)) prim = booleanValueOf.call(v);
	else if (nodeTypes.isBigIntObject(v)) prim = bigintValueOf.call(v);
	else throw symbolRefusal; // the only other boxed primitive
	return sha('X:' + digest(prim));
}

/** Built-in methods taken from the prototype once: they read internal slots, so an override cannot lie. */
function intrinsic<T>(proto: object, key: string): (this: unknown) => T {
	return (Object.getOwnPropertyDescriptor(proto, key) as { value: (this: unknown) => T }).value;
}

function intrinsicGetter<T>(proto: object, key: string | symbol): (this: unknown) => T {
	return (Object.getOwnPropertyDescriptor(proto, key) as { get: (this: unknown) => T }).get;
}
const numberValueOf = intrinsic<number>(Number.prototype, 'valueOf');
const stringValueOf = intrinsic<string>(String.prototype, 'valueOf');
const booleanValueOf = intrinsic<boolean>(Boolean.prototype, 'valueOf');
const bigintValueOf = intrinsic<bigint>(BigInt.prototype, 'valueOf');
const dateGetTime = intrinsic<number>(Date.prototype, 'getTime');

function digestView(v: ArrayBufferView, proto: object | null): string {
	// crypto.hash reads exactly the view's bytes (byteOffset/byteLength) in place: no copy, full hashing speed.
	const bytes = hash('sha256', v as NodeJS.TypedArray | DataView, 'hex');
	const elementType = typedArrayTag.call(v);
	if (elementType === undefined) {
		return sha('V' + sub(proto, 'DataView') + ':' + dataViewByteLength.call(v) + ':' + bytes);
	}
	const length = typedArrayLength.call(v);
	const name = proto === null ? '' : protoName(proto);
	if (name === elementType) return sha('T:' + elementType + ':' + length + ':' + bytes);
	if (name === 'Buffer' && Buffer.isBuffer(v)) return sha('B:' + length + ':' + bytes);
	return sha('T~' + txt(name) + elementType + ':' + length + ':' + bytes);
}

/** '' for the built-in itself (or its twin from another realm), else `~<txt(class)>` so subclasses differ. */
function sub(proto: object | null, base: string): string {
	const name = proto === null ? '' : protoName(proto);
	return name === base ? '' : '~' + txt(name);
}

function protoName(proto: object): string {
	const ctor = (proto as { constructor?: unknown }).constructor;
	if (typeof ctor !== 'function') return '';
	const name = (ctor as { name?: unknown }).name;
	return typeof name === 'string' ? name : '';
}

function className(v: object): string {
	const proto: object | null = getPrototypeOf(v);
	return proto === null ? '' : protoName(proto);
}

/** docs/behaviour.md §1.2a: a `file:` URL digests as the file's name and bytes, or a directory's tree (fileDigest.ts). */
function digestFileUrl(url: URL): string {
	try {
		return fileNodeDigest(readFileNode(url));
	} catch (err) {
		if (!(err instanceof FileUnreadable)) throw err;
		throw new Refusal((path) => new Indigestible(path, `Cannot digest the file URL${at(path)}: ${err.message}`));
	}
}

/** Built-ins whose content cannot be read synchronously or without side effects, with the advice to give. */
const indigestibleBuiltins: Readonly<Record<string, string>> = {
	Promise: 'await it first and pass the result',
	WeakMap: 'its entries cannot be enumerated',
	WeakSet: 'its entries cannot be enumerated',
	WeakRef: 'its target can vanish at any time',
	FinalizationRegistry: 'its entries cannot be enumerated',
	Generator: 'reading it would consume it; pass an array instead',
	AsyncGenerator: 'reading it would consume it; pass an array instead',
	Iterator: 'reading it would consume it; pass an array instead',
	'Array Iterator': 'reading it would consume it; pass an array instead',
	'String Iterator': 'reading it would consume it; pass an array instead',
	'Map Iterator': 'reading it would consume it; pass an array instead',
	'Set Iterator': 'reading it would consume it; pass an array instead',
	'RegExp String Iterator': 'reading it would consume it; pass an array instead',
	Blob: 'its bytes are only readable asynchronously; pass await blob.arrayBuffer() instead',
	File: 'its bytes are only readable asynchronously; pass await file.arrayBuffer() instead',
};

// ---------------------------------------------------------------------------------------------------------------
// Errors

const identifierName = /^[A-Za-z_$][\w$]*$/;
const maxPathSegments = 40;

function at(path: string): string {
	return path === '' ? '' : ` at ${path}`;
}

const symbolRefusal = new Refusal(
	(path) =>
		new Indigestible(path, `Cannot digest a symbol${at(path)}: symbols have no content that is stable across processes`),
);

const tooDeepRefusal = new Refusal(
	(path) =>
		new Indigestible(
			path,
			`Cannot digest a value nested more than ${maxDepth} levels deep${at(path)} (an endlessly generated ` +
				`structure?); give the outer object a [Symbol.for('fleche.digest')]() method`,
		),
);

function builtinRefusal(what: string, why: string): Refusal {
	return new Refusal(
		(path) => new Indigestible(path, `Cannot digest ${what}${at(path)}: ${why}, or register a digest with addHook()`),
	);
}

function functionRefusal(fn: object): Refusal {
	let what = 'a function';
	try {
		const name = (fn as { name?: unknown }).name;
		const isClass = /^class\b/.test(Function.prototype.toString.call(fn));
		what = (isClass ? 'a class' : 'a function') + (typeof name === 'string' && name !== '' ? ` (${name})` : '');
	} catch {
		// A Proxy around a function can refuse both; the generic wording is still right.
	}
	return new Refusal(
		(path) =>
			new Indigestible(
				path,
				`Cannot digest ${what}${at(path)}: pass a fleche function or give it a [Symbol.for('fleche.digest')]() method`,
			),
	);
}

/** The one place errors become Indigestible: refusals get their path, foreign errors (getters, traps) are wrapped. */
function toIndigestible(ctx: Ctx, err: unknown): Indigestible {
	let path = '';
	try {
		path = pathOf(ctx);
	} catch {
		// A path is a courtesy; never let building it replace the real error.
	}
	for (let d = 0; d <= ctx.top; d++) release(ctx.frames[d]!);
	if (err instanceof Refusal) return err.make(path);
	if (Indigestible.is(err)) return err;
	return new Indigestible(path, `Cannot digest the value${at(path)}: reading it threw ${describeError(err)}`, {
		cause: err,
	});
}

/** Path of the value being worked on: each open frame's current step (long paths keep their two ends). */
function pathOf(ctx: Ctx): string {
	const n = ctx.top + 1;
	const parts: string[] = [];
	if (n <= maxPathSegments) {
		for (let d = 0; d < n; d++) parts.push(segmentOf(ctx.frames[d]!));
	} else {
		for (let d = 0; d < 20; d++) parts.push(segmentOf(ctx.frames[d]!));
		parts.push(`…(${n - 30} more)…`);
		for (let d = n - 10; d < n; d++) parts.push(segmentOf(ctx.frames[d]!));
	}
	return parts.join('');
}

function segmentOf(f: Frame): string {
	const i = f.i;
	if (i >= f.n) return '';
	switch (f.kind) {
		case bodyFrame: {
			const k = f.names[i]!;
			return identifierName.test(k) ? '.' + k : '[' + JSON.stringify(k) + ']';
		}
		case arrayFrame:
			return `[${i}]`;
		case setFrame:
			return `.values()[${i}]`;
		case mapKeysFrame:
			return `.keys()[${i}]`;
		case mapValuesFrame: {
			const j = f.order[i]!;
			const k = f.items[j];
			return isPrimitive(k) ? `.get(${reprPrimitive(k)})` : `.get(<key #${j}>)`;
		}
		case errorHeadFrame:
			return i === 0 ? '.name' : '.message';
		default:
			return f.label;
	}
}

function isPrimitive(x: unknown): boolean {
	return x === null || (typeof x !== 'object' && typeof x !== 'function');
}

function reprPrimitive(k: unknown): string {
	if (typeof k === 'string') return JSON.stringify(k);
	if (typeof k === 'bigint') return String(k) + 'n';
	if (Object.is(k, -0)) return '-0';
	return String(k);
}

function describeError(err: unknown): string {
	try {
		if (err instanceof Error) return `${err.name}: ${err.message}`;
		return String(err);
	} catch {
		return 'an unprintable value';
	}
}

function describeForError(x: unknown): string {
	try {
		return typeof x === 'string' ? JSON.stringify(x) : typeof x;
	} catch {
		return typeof x;
	}
}

function article(tag: string): string {
	return (/^[AEIOU]/.test(tag) ? 'an ' : 'a ') + tag;
}
