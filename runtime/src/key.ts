// docs/behaviour.md §1.4, §2.2: the call key — how a call's identity and arguments become the 64-hex key that addresses its
// record. The one place that composes it: the wrapper, the executor, the worker entries, `explain`, `BaseCache.save`
// and the stores that check records read back all come here.
//
// Key scheme `fleche.call/1`: the key is the SHA-256 (lowercase hex) of the UTF-8 text
//
//   fleche.call/1\n
//   JSON.stringify([name, module, version, codeDigest])\n
//   JSON.stringify(argumentName) ":" digest(value) "\n"      one line per keyed argument, in signature order
//
// Keyed arguments: `this` first for a decorated method; each declared parameter not in `ignore`, an omitted one taking
// its literal default; a rest parameter as one array; arguments past the declared ones as `#2`, `#3`, …. A top-level
// `Digest` argument stands for the value it names (looked up in the cache), so `f(D(k))` is `f(value)`. A top-level
// AbortSignal is not data: it keys as `undefined` (an omitted argument), so calls that differ only by their signal
// share one key. Argument *digests* go in, never values, so a key computed from live values and one recomputed from a
// stored record agree.
//
// Records carry the scheme that computed their key in `scheme`; a record without the field was written before the
// field existed, under `fleche.call/1`. A record of a scheme other than {@link KEY_SCHEME} is *stale*: its key cannot
// be checked here and it is never served (a miss, recomputed and overwritten), but it is not damage either — stores
// keep it and say nothing.
import { hash } from 'node:crypto';
import type { FunctionIdentity } from './call.js';
import type { CodeGraph } from './deepCode.js';
import { digest, Digest } from './digest.js';
import { Indigestible } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { Param } from './profile.js';

/** The key scheme this runtime computes keys with, and writes into the records it makes. */
export const KEY_SCHEME = 'fleche.call/1';

/** The scheme of a record that does not name one: every record written before records carried their scheme. */
const UNMARKED_SCHEME = 'fleche.call/1';

/** Whether a stored `scheme` field is a well-formed scheme name (printable ASCII, no spaces, at most 64 characters). */
export function isSchemeName(value: unknown): value is string {
	return typeof value === 'string' && /^[\x21-\x7e]{1,64}$/.test(value);
}

/** Whether a record was keyed under another scheme than this runtime's: a miss that is neither checked nor damage. */
export function isStale(record: { readonly scheme?: string }): boolean {
	return (record.scheme ?? UNMARKED_SCHEME) !== KEY_SCHEME;
}

/**
 * The first line of every key text of one function (scheme and identity); computed once per wrapper.
 * @internal
 */
export function identityPrefix(identity: FunctionIdentity): string {
	return `${KEY_SCHEME}\n${JSON.stringify([identity.name, identity.module, identity.version, identity.codeDigest])}\n`;
}

/** `"name":`, the start of an argument's line in the key text. @internal */
export function argumentHead(name: string): string {
	return `${JSON.stringify(name)}:`;
}

/**
 * The key from its identity prefix and, in signature order, each keyed argument's head and digest: the one place the
 * key text is put together. @internal
 */
export function composeKey(prefix: string, heads: readonly string[], digests: readonly string[]): string {
	let text = prefix;
	for (let i = 0; i < digests.length; i++) text += heads[i]! + digests[i]! + '\n';
	return hash('sha256', text, 'hex');
}

/**
 * Keys of calls that hit in this thread: per profile, a tree of maps by argument digest, the key under `''` (never a
 * digest) at the node of its last digest. A key is a pure function of its text, and a profile's text of its digests
 * (their count fixes the argument heads), so a call repeated in a process skips composing the text and its SHA-256,
 * two thirds of a memory hit. Only hits are remembered (see {@link rememberKey}): a miss pays nothing for it, and the
 * tree holds the calls that are repeated. The digests are looked up as they are (a digest from digest()'s caches
 * carries its string hash with it), never concatenated. Bounded: every profile's tree is emptied once they hold
 * {@link KEY_MEMO_MAX} keys between them, which only costs the next calls the hash they would have paid anyway.
 */
type KeyMemo = Map<string, KeyMemo | string>;
const memoRoots = new Set<KeyMemo>();
const KEY_MEMO_MAX = 10_000;
let memoKeys = 0;

/** The key a profile's call had when it last hit, or `undefined`. */
function recall(profile: KeyProfile, digests: readonly string[]): string | undefined {
	let node: KeyMemo = profile.memo;
	for (let i = 0; i < digests.length; i++) {
		const next = node.get(digests[i]!);
		if (next === undefined || typeof next === 'string') return undefined;
		node = next;
	}
	const key = node.get('');
	return typeof key === 'string' ? key : undefined;
}

/** Remembers the key of a call that hit, so that its next call in this thread skips hashing it. @internal */
export function rememberKey(profile: KeyProfile, k: KeyedCall): void {
	if (k.recalled) return;
	if (memoKeys >= KEY_MEMO_MAX) {
		for (const root of memoRoots) root.clear();
		memoRoots.clear();
		memoKeys = 0;
	}
	let node = profile.memo;
	if (node.size === 0) memoRoots.add(node);
	const digests = k.digests;
	for (let i = 0; i < digests.length; i++) {
		const d = digests[i]!;
		let next = node.get(d);
		if (next === undefined || typeof next === 'string') node.set(d, (next = new Map()));
		node = next;
	}
	if (!node.has('')) memoKeys++;
	node.set('', k.key);
}

/** The key of a call from its identity prefix and its argument digests by name (in signature order). @internal */
export function lookupKey(prefix: string, argumentDigests: Readonly<Record<string, string>>): string {
	const heads: string[] = [];
	const digests: string[] = [];
	for (const name in argumentDigests) {
		heads.push(argumentHead(name));
		digests.push(argumentDigests[name]!);
	}
	return composeKey(prefix, heads, digests);
}

/**
 * The lookup key of a call record under this runtime's scheme, recomputed from its fields (stores use it to check
 * the records they read back).
 */
export function recordKey(record: FunctionIdentity & { arguments: Readonly<Record<string, string>> }): string {
	return lookupKey(identityPrefix(record), record.arguments);
}

/**
 * Whether a record read back can be trusted to sit under its key: its fields hash to it, or it is stale (another
 * scheme's key, which this runtime cannot check and never serves). False means edited or damaged. @internal
 */
export function keyHolds(record: FunctionIdentity & { readonly key: string; readonly scheme?: string; arguments: Readonly<Record<string, string>> }): boolean {
	return isStale(record) || recordKey(record) === record.key;
}

/**
 * The digest of one argument value, the one way every caller computes it.
 * @throws Indigestible naming the argument (`name` then the path inside the value).
 * @internal
 */
export function argumentDigest(value: unknown, name: string): string {
	try {
		return digest(value);
	} catch (err) {
		if (Indigestible.is(err)) throw new Indigestible(`${name}${err.path}`, err.message, { cause: err });
		throw err;
	}
}

/** Whether a value is an AbortSignal: a caller's means of giving up, never part of a key. @internal */
export function isAbortSignal(value: unknown): value is AbortSignal {
	if (typeof value !== 'object' || value === null) return false;
	try {
		return value instanceof AbortSignal;
	} catch {
		// A revoked or throwing Proxy: not a signal; digesting it says why it cannot be keyed.
		return false;
	}
}

/** Everything fixed about how one wrapped function's calls are keyed; built once per function (per class for methods). */
export class KeyProfile {
	readonly prefix: string;
	/** `module:name`, for messages. */
	readonly label: string;
	/** Per declared parameter: whether it is keyed and its head in the key text; computed once. */
	readonly slots: readonly { readonly param: Param; readonly keyed: boolean; readonly head: string }[];
	readonly restIndex: number;
	/**
	 * Keyed names and heads when every declared parameter is keyed, there is no rest parameter and no `this`: then a
	 * call with at most the declared arguments keys them all, in order, and shares these lists (the common case, with
	 * two fewer arrays to build per call); `undefined` otherwise.
	 */
	readonly plain: { readonly names: readonly string[]; readonly heads: readonly string[] } | undefined;
	/** The keys of this profile's calls that hit, by digests (see {@link rememberKey}). */
	readonly memo: KeyMemo = new Map();

	constructor(
		readonly identity: FunctionIdentity,
		readonly params: readonly Param[],
		readonly options: ResolvedOptions,
		/** A decorated method: `this` is keyed as the first argument. */
		readonly method: boolean,
		/** With `hashCode: 'deep'`, the code graph whose digest is `identity.codeDigest`; recorded with each call. */
		readonly code?: CodeGraph,
	) {
		this.prefix = identityPrefix(identity);
		this.label = `${identity.module ?? '?'}:${identity.name}`;
		this.slots = params.map((param) => ({ param, keyed: !options.ignore.has(param.name), head: argumentHead(param.name) }));
		this.restIndex = params.findIndex((p) => p.rest);
		this.plain =
			!method && this.restIndex < 0 && this.slots.every((slot) => slot.keyed)
				? { names: params.map((p) => p.name), heads: this.slots.map((slot) => slot.head) }
				: undefined;
	}
}

/** A call keyed: what went into its key, and the arguments its body receives. */
export interface KeyedCall {
	readonly key: string;
	/** Keyed argument names (ignored ones left out), in order. */
	readonly names: readonly string[];
	/** Their values as keyed (a signal as `undefined`), parallel to `names`. */
	readonly values: readonly unknown[];
	/** Their digests, parallel to `names`. */
	readonly digests: readonly string[];
	/** The arguments for the body: top-level `Digest`s replaced by their values, signals as given. */
	readonly args: unknown[];
	/** Positions in `args` of AbortSignal arguments; `undefined` when there are none. */
	readonly signals: readonly number[] | undefined;
	/** Whether the key came from the keys of calls that hit before (see {@link rememberKey}). */
	readonly recalled: boolean;
}

const thisHead = argumentHead('this');

/** What keying asks of a cache (a `BaseCache`): the values behind `Digest` arguments. Structural, so keys sit below caches. */
export interface ValueSource {
	loadValue(digest: string): unknown;
	expand(prefix: string): string;
}

/**
 * Keys a call: binds the arguments to parameter names and computes digests and key (see the top of this module).
 * `c` is asked for the values of top-level `Digest` arguments.
 * @throws Indigestible when an argument has no digest; KeyError when a `Digest` argument names no stored value.
 * @internal
 */
export function keyCall(profile: KeyProfile, c: ValueSource, thisArg: unknown, given: readonly unknown[]): KeyedCall {
	let args = given as unknown[];
	let keyedArgs = given;
	let signals: number[] | undefined;
	for (let i = 0; i < given.length; i++) {
		const v = given[i];
		if (typeof v !== 'object' || v === null) continue;
		if (Digest.is(v)) {
			if (args === given) args = [...given];
			args[i] = c.loadValue(v.hex.length === 64 ? v.hex : c.expand(v.hex));
		} else if (isAbortSignal(v)) (signals ??= []).push(i);
	}
	if (signals !== undefined) {
		const copy = [...args];
		for (const i of signals) copy[i] = undefined;
		keyedArgs = copy;
	} else keyedArgs = args;
	const plain = profile.plain;
	if (plain !== undefined && keyedArgs.length <= profile.slots.length) return keyPlain(profile, plain, keyedArgs, args, signals);
	const names: string[] = [];
	const values: unknown[] = [];
	const heads: string[] = [];
	if (profile.method) {
		names.push('this');
		values.push(thisArg);
		heads.push(thisHead);
	}
	const slots = profile.slots;
	let i = 0;
	for (; i < slots.length; i++) {
		const slot = slots[i]!;
		let v: unknown;
		if (slot.param.rest) v = keyedArgs.slice(i);
		else {
			v = keyedArgs[i];
			if (v === undefined && slot.param.default) v = slot.param.default.value;
		}
		if (!slot.keyed) continue;
		names.push(slot.param.name);
		values.push(v);
		heads.push(slot.head);
	}
	// Arguments past the declared ones still reach the body (through `arguments`), so they must be in the key.
	if (profile.restIndex < 0) {
		for (; i < keyedArgs.length; i++) {
			names.push(`#${i}`);
			values.push(keyedArgs[i]);
			heads.push(argumentHead(`#${i}`));
		}
	}
	const digests = new Array<string>(values.length);
	for (let j = 0; j < values.length; j++) digests[j] = argumentDigest(values[j], names[j]!);
	const known = recall(profile, digests);
	return { key: known ?? composeKey(profile.prefix, heads, digests), names, values, digests, args, signals, recalled: known !== undefined };
}

/** {@link keyCall} of a profile whose declared parameters are all keyed (see `KeyProfile.plain`): the same key, fewer arrays. */
function keyPlain(
	profile: KeyProfile,
	plain: NonNullable<KeyProfile['plain']>,
	keyedArgs: readonly unknown[],
	args: unknown[],
	signals: readonly number[] | undefined,
): KeyedCall {
	const slots = profile.slots;
	const n = slots.length;
	const values = new Array<unknown>(n);
	const digests = new Array<string>(n);
	for (let i = 0; i < n; i++) {
		let v = keyedArgs[i];
		if (v === undefined) {
			const given = slots[i]!.param.default;
			if (given) v = given.value;
		}
		values[i] = v;
		digests[i] = argumentDigest(v, plain.names[i]!);
	}
	const known = recall(profile, digests);
	return {
		key: known ?? composeKey(profile.prefix, plain.heads, digests),
		names: plain.names,
		values,
		digests,
		args,
		signals,
		recalled: known !== undefined,
	};
}

/** `{ name: item }` for parallel lists of names and items. @internal */
export function byName<T>(names: readonly string[], items: readonly T[]): Record<string, T> {
	const out: Record<string, T> = {};
	for (let i = 0; i < names.length; i++) out[names[i]!] = items[i]!;
	return out;
}
