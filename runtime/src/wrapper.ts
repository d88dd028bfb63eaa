// docs/behaviour.md §1.3, §1.4, §3.3: fleche(fn, options) — the cached call, its helpers and Promise pass-through.
import { hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type Call, type FunctionIdentity, type Json } from './call.js';
import { RefreshingCache } from './caches/wrapper.js';
import { freshnessIn } from './caches/base.js';
import { combineExpiry } from './expiry.js';
import { configuredHashCode } from './config/build.js';
import { deepCode } from './deepCode.js';
import { digest, digestSymbol } from './digest.js';
import { KeyError } from './errors.js';
import { byName, KeyProfile } from './key.js';
import { resolveVersion, validateOptions, type FlecheOptions, type ResolvedOptions } from './options.js';
import { assignedName, callerSite, moduleOf, readParams, type CallSite, type Param } from './profile.js';
import { functionIdentityName, identityKey, identityModule, methodIdentityName, ownFunctionName } from './identity.js';
import { cachedCall, keyOf as keyCallOf, markTarget, targetOf, type CallTarget } from './protocol.js';
import type { QueryFilter, QueryIterator } from './query.js';
import { activeCache, runIn } from './state.js';
import { BoundWrapper, type Bound } from './bound.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the wrapped function's own types flow through
type AnyFn = (...args: any[]) => any;
/**
 * The functions `fleche()` accepts. `never[]` rather than `any[]` parameters so that a default parameter of an arrow
 * function passed inline (`fleche((a: number, b = 10) => …)`) keeps its inferred type instead of becoming `any`.
 */
export type CacheableFunction = (...args: never[]) => unknown;

/** Metadata filter of a query: `{ namespace: { key: value } }`, `undefined` = any. */
export type MetadataFilter = NonNullable<QueryFilter['metadata']>;

/** The helpers on `f.fleche` (docs/behaviour.md §1.3). Arguments are those of the wrapped function. */
export interface FlecheHelpers<F extends CacheableFunction> {
	/** The function's identity: name, module, version and code digest as they enter the key. */
	readonly identity: FunctionIdentity;
	/** Parameter names, in order, as recorded. */
	readonly params: readonly string[];
	/** The original, uncached function. */
	readonly fn: F;
	/** Where `fleche()` was called, when it could be found. */
	readonly location: FlecheLocation | undefined;
	/** The call these arguments make, with live values; nothing runs. */
	call(...args: Parameters<F>): Call;
	/** The lookup key of a call with these arguments. */
	digest(...args: Parameters<F>): string;
	/** Whether the active cache holds a call with these arguments. */
	contains(...args: Parameters<F>): boolean;
	/** The cached result of a call with these arguments. @throws KeyError on a miss. */
	load(...args: Parameters<F>): Awaited<ReturnType<F>>;
	/**
	 * Stored calls of this function whose arguments match (by parameter name; `undefined` = any), optionally also
	 * by metadata.
	 */
	query(args?: Readonly<Record<string, unknown>>, options?: { readonly metadata?: MetadataFilter }): QueryIterator;
	/** Runs the call again, and every fleche call inside it, overwriting their entries. */
	rerun(...args: Parameters<F>): ReturnType<F>;
	/** Removes the cached call with these arguments; returns whether there was one. */
	evict(...args: Parameters<F>): boolean;
	/** This function with these leading arguments, bound to the active cache and metadata. */
	bind<A extends readonly unknown[]>(...args: A): Bound<F, A>;
}

/** Where a cached function was defined. */
export interface FlecheLocation {
	/** The source file (source-mapped to `.ts` when the process has source maps), absolute. */
	readonly source: string;
	/** The file the process loaded (compiled JavaScript), absolute: what a worker or a rerun imports. */
	readonly loaded: string;
	/** 1-based line of the `fleche(...)` call in `source`. */
	readonly line: number;
}

/** A cached function: the same signature as `F`, plus its helpers on `.fleche`. */
export type Fleche<F extends CacheableFunction> = F & { readonly fleche: FlecheHelpers<F> };

/**
 * An `async function`: its caller gets a promise anyway, so a store that answers asynchronously is awaited instead of
 * blocked on. Not an async generator function: its caller gets an iterator, which must stay one (it is never stored).
 */
function isAsyncFunction(fn: AnyFn): boolean {
	return (fn as { constructor?: { name?: string } }).constructor?.name === 'AsyncFunction';
}

/** The state of one wrapped function: what the cached-call protocol (./protocol.ts) calls. */
class Wrapped<F extends AnyFn> implements CallTarget {
	readonly isAsync: boolean;
	private profileCache?: KeyProfile;

	constructor(
		readonly fn: F,
		private readonly makeProfile: (thisArg: unknown) => KeyProfile,
		private readonly lazyProfile: boolean,
	) {
		this.isAsync = isAsyncFunction(fn);
	}

	profile(thisArg: unknown): KeyProfile {
		// Made on first use, not when wrapped: the code digest may read fleche.toml and the module graph.
		if (!this.lazyProfile) return (this.profileCache ??= this.makeProfile(undefined));
		return this.makeProfile(thisArg);
	}

	call(thisArg: unknown, args: unknown[]): unknown {
		return cachedCall(this, activeCache(), thisArg, args);
	}
}

function resolveParams(fn: AnyFn, options: ResolvedOptions): Param[] {
	if (options.params) {
		return options.params.map((p) => (p.startsWith('...') ? { name: p.slice(3), rest: true } : { name: p, rest: false }));
	}
	return readParams(fn) ?? [{ name: 'args', rest: true }];
}

/** The identity but its code digest: resolved when the function is wrapped, so a bad `version` fails there. */
function resolveIdentity(options: ResolvedOptions, site: CallSite | undefined, name: string): Omit<FunctionIdentity, 'codeDigest'> {
	return {
		name,
		module: identityModule(options, site ? moduleOf(site.file) : null),
		version: options.hashVersion ? resolveVersion(options.version, site?.loadedFile) : null,
	};
}

/** The file whose module graph `hashCode: 'deep'` follows: the source (`.ts` under source maps) when it is on disk. */
function entryFile(site: CallSite | undefined, name: string): string {
	if (site === undefined) throw new TypeError(`fleche(${name}): hashCode: 'deep' needs the file that called fleche(), and it could not be found`);
	return existsSync(site.file) ? site.file : site.loadedFile;
}

/** The key profile, with the code digest `hashCode` (or else fleche.toml's `[default] hash_code`) asks for. */
function makeProfile(base: Omit<FunctionIdentity, 'codeDigest'>, fn: AnyFn, site: CallSite | undefined, params: readonly Param[], options: ResolvedOptions, method: boolean): KeyProfile {
	const mode = options.hashCode ?? configuredHashCode();
	if (mode === 'deep') {
		const code = deepCode(entryFile(site, base.name));
		return new KeyProfile({ ...base, codeDigest: code.digest }, params, options, method, code);
	}
	return new KeyProfile({ ...base, codeDigest: mode ? digest(Function.prototype.toString.call(fn)) : null }, params, options, method);
}

function checkParamOptions(params: readonly Param[], options: ResolvedOptions, label: string): void {
	const known = new Set(params.map((p) => p.name));
	for (const kind of ['ignore', 'require'] as const) {
		for (const n of options[kind]) {
			if (!known.has(n)) throw new TypeError(`fleche(${label}): '${kind}' names '${n}', which is not a parameter (${[...known].join(', ') || 'none'})`);
		}
	}
}

/** The helpers of a function, or of a decorated method as seen on `thisArg` (its instance, or its class if static). */
function makeHelpers<F extends AnyFn>(w: Wrapped<F>, wrapped: F, site: CallSite | undefined, thisArg?: unknown): FlecheHelpers<F> {
	const keyOf = (args: unknown[]) => {
		const c = activeCache();
		return { c, ...keyCallOf(w, args, c, thisArg) };
	};
	const profile0 = () => w.profile(thisArg);
	return {
		get identity() {
			return profile0().identity;
		},
		get params() {
			return profile0().params.map((p) => p.name);
		},
		fn: w.fn,
		location: site && { source: site.file, loaded: site.loadedFile, line: site.line },
		call: (...args: Parameters<F>) => {
			const k = keyOf(args);
			return { ...k.profile.identity, arguments: byName(k.names, k.values) };
		},
		digest: (...args: Parameters<F>) => keyOf(args).key,
		contains: (...args: Parameters<F>) => {
			const k = keyOf(args);
			if (!k.c.contains(k.key)) return false;
			// A call older than its max age is not there for a cached call (docs/behaviour.md §18): nor here.
			const fn = k.profile.options.expiry;
			if ((combineExpiry(fn, k.c.expiry())?.maxAge ?? null) === null) return true;
			try {
				return freshnessIn(k.c, k.c.loadRecord(k.key), fn) !== 'expired';
			} catch (err) {
				if (KeyError.is(err)) return false;
				throw err;
			}
		},
		load: (...args: Parameters<F>) => {
			const k = keyOf(args);
			let hit = k.c.lookup(k.key);
			if (hit !== undefined && freshnessIn(k.c, hit.record, k.profile.options.expiry) === 'expired') hit = undefined;
			if (hit === undefined) throw new KeyError(k.key, `No cached result for ${k.profile.identity.name} with these arguments (key ${k.key.slice(0, 12)}…)`);
			return hit.value as Awaited<ReturnType<F>>;
		},
		query: (args?: Readonly<Record<string, unknown>>, options?: { readonly metadata?: MetadataFilter }) => {
			const { identity } = profile0();
			// Filter on the identity as recorded (null module/version when not hashed), so such functions match
			// (unlike the Python library's helper; docs/behaviour.md §1.3).
			const filter: QueryFilter = {
				name: identity.name,
				module: identity.module,
				version: identity.version,
				codeDigest: identity.codeDigest,
				...(args ? { arguments: args } : {}),
				...(options?.metadata ? { metadata: options.metadata } : {}),
			};
			return activeCache().query(filter);
		},
		rerun: (...args: Parameters<F>) => runIn({ cache: new RefreshingCache(activeCache()) }, () => wrapped.apply(thisArg, args) as ReturnType<F>),
		evict: (...args: Parameters<F>) => {
			const k = keyOf(args);
			try {
				k.c.evict(k.key);
				return true;
			} catch (err) {
				if (KeyError.is(err)) return false;
				throw err;
			}
		},
		bind: <A extends readonly unknown[]>(...args: A) => {
			// A method's helpers bind its instance (or class) too.
			const target =
				thisArg === undefined
					? wrapped
					: (function (this: unknown, ...rest: unknown[]) {
							return wrapped.apply(thisArg, rest) as unknown;
						} as unknown as F);
			return BoundWrapper.bind(target, ...args) as unknown as Bound<F, A>;
		},
	};
}

function wrapFunction<F extends AnyFn>(fn: F, options: ResolvedOptions, site: CallSite | undefined): Fleche<F> {
	if (targetOf(fn) !== undefined) return fn as Fleche<F>;
	const params = resolveParams(fn, options);
	const name = functionIdentityName(options.name, ownFunctionName(fn.name), site ? assignedName(site) : undefined);
	if (name === undefined) {
		throw new TypeError(
			`fleche() could not find a name for this function${site ? ` (${site.file}:${site.line})` : ''}: pass one with fleche(fn, { name: '...' })`,
		);
	}
	checkParamOptions(params, options, name);
	const base = resolveIdentity(options, site, name);
	const w = new Wrapped(fn, () => makeProfile(base, fn, site, params, options, false), false);
	const wrapped = function (this: unknown, ...args: unknown[]) {
		return w.call(this, args);
	} as unknown as F;
	const result = decorate(wrapped, w, fn, base.name, site);
	register(base, result);
	return result;
}

const registryKey = Symbol.for('fleche.registry');

function registry(): Map<string, Fleche<AnyFn>> {
	const g = globalThis as { [registryKey]?: Map<string, Fleche<AnyFn>> };
	return (g[registryKey] ??= new Map<string, Fleche<AnyFn>>());
}

function register(identity: Pick<FunctionIdentity, 'module' | 'name'>, f: Fleche<AnyFn>): void {
	registry().set(identityKey(identity), f);
}

/**
 * The cached function with this identity among those created in this process so far (the last one created wins),
 * or `undefined`. Workers and reruns import a module and then find its functions this way.
 * @example
 * ```ts
 * await import(file);
 * const f = findFleche('src/math.ts', 'add');
 * ```
 */
export function findFleche(module: string | null, name: string): Fleche<AnyFn> | undefined {
	return registry().get(identityKey({ module, name }));
}

/** Every cached function created in this process, by identity. */
export function listFleche(): Fleche<AnyFn>[] {
	return [...registry().values()];
}

function decorate<F extends AnyFn>(wrapped: F, w: Wrapped<F>, fn: F, name: string, site: CallSite | undefined): Fleche<F> {
	const helpers = makeHelpers(w, wrapped, site);
	Object.defineProperty(wrapped, 'name', { value: name });
	Object.defineProperty(wrapped, 'length', { value: fn.length });
	Object.defineProperty(wrapped, 'fleche', { value: helpers, enumerable: false });
	markTarget(wrapped, w);
	// A fleche function passed as an argument digests by its identity, like Python's `__digest__` on wrappers.
	Object.defineProperty(wrapped, digestSymbol, {
		value: () => hash('sha256', `fleche.function/1\n${JSON.stringify(helpers.identity)}`, 'hex'),
	});
	return wrapped as Fleche<F>;
}

/** The method decorator form: identity `Class.method`, `this` keyed as the first argument. */
function decorateMethod<F extends AnyFn>(method: F, context: ClassMethodDecoratorContext, options: ResolvedOptions, site: CallSite | undefined): F {
	if (context.kind !== 'method') throw new TypeError('@fleche() decorates methods only');
	const methodName = options.name ?? String(context.name);
	const params = resolveParams(method, options);
	checkParamOptions(params, options, methodName);
	const profiles = new WeakMap<object, KeyProfile>();
	const make = (thisArg: unknown): KeyProfile => {
		// The class name is only known once `this` exists: an instance (its constructor) or the class (static).
		const owner = (context.static ? thisArg : (thisArg as object | undefined)?.constructor) as (AnyFn & object) | undefined;
		const key = owner ?? make;
		let p = profiles.get(key);
		if (!p) {
			const name = methodIdentityName(options.name, owner?.name, methodName);
			p = makeProfile(resolveIdentity(options, site, name), method, site, params, options, true);
			profiles.set(key, p);
		}
		return p;
	};
	const w = new Wrapped(method, make, true);
	const wrapped = function (this: unknown, ...args: unknown[]) {
		return w.call(this, args);
	} as unknown as F;
	Object.defineProperty(wrapped, 'name', { value: methodName });
	markTarget(wrapped, w);
	if (!context.private) {
		context.addInitializer(function (this: unknown) {
			methodHelpers(this, context.name, wrapped, w, site);
		});
	}
	return wrapped;
}

/**
 * Gives `owner.method` helpers bound to `owner`: a static method gets them on itself; an instance gets a
 * non-enumerable own copy of the method that carries them, so it is neither keyed nor stored. An override in a
 * subclass is left alone.
 */
function methodHelpers<F extends AnyFn>(owner: unknown, name: string | symbol, wrapped: F, w: Wrapped<F>, site: CallSite | undefined): void {
	if ((typeof owner !== 'object' && typeof owner !== 'function') || owner === null) return;
	if ((owner as Record<string | symbol, unknown>)[name] !== wrapped) return;
	if (typeof owner === 'function') {
		Object.defineProperty(wrapped, 'fleche', { value: makeHelpers(w, wrapped, site, owner), configurable: true });
		return;
	}
	const own = function (this: unknown, ...args: unknown[]) {
		return w.call(this, args);
	} as unknown as F;
	let helpers: FlecheHelpers<F> | undefined;
	Object.defineProperty(own, 'name', { value: wrapped.name });
	markTarget(own, w);
	Object.defineProperty(own, 'fleche', { get: () => (helpers ??= makeHelpers(w, wrapped, site, owner)) });
	Object.defineProperty(owner, name, { value: own, writable: true, configurable: true, enumerable: false });
}

/** A TS 5 standard method decorator. */
export type FlecheDecorator = <This, Args extends unknown[], R>(
	target: (this: This, ...args: Args) => R,
	context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => R>,
) => (this: This, ...args: Args) => R;

/**
 * Caches a function (docs/behaviour.md §1.3–§1.4): its results are stored under a SHA-256 digest of its identity and its
 * arguments, in the active cache (by default the persistent `.fleche/` store of the project).
 *
 * The result has the same signature: a synchronous function stays synchronous (a hit returns the value), an
 * async one stays async (a hit returns an already-resolved Promise). A function that returns a Promise has it
 * passed through and the result cached when it resolves. Exceptions, rejections and `undefined` are never cached.
 *
 * As a decorator of class methods: `@fleche()` or `@fleche({ version: 2 })`; the identity is `Class.method`, and
 * `this` is part of the key (an instance digests by its class name and own fields).
 * @example
 * ```ts
 * import { fleche } from 'fleche';
 * export const slowSquare = fleche((x: number) => { for (let i = 0; i < 1e8; i++); return x * x; });
 * slowSquare(3); // runs, stores
 * slowSquare(3); // hit: returns 9 without running
 * slowSquare.fleche.contains(3); // true
 * ```
 */
export function fleche<F extends CacheableFunction>(fn: F, options?: FlecheOptions): Fleche<F>;
export function fleche(options?: FlecheOptions): FlecheDecorator;
export function fleche<F extends CacheableFunction>(fn: F, context: ClassMethodDecoratorContext): F;
export function fleche(a?: unknown, b?: unknown): unknown {
	const site = callerSite(fleche);
	if (typeof a === 'function') {
		if (typeof b === 'object' && b !== null && 'kind' in b && (b).kind === 'method') {
			return decorateMethod(a as AnyFn, b as ClassMethodDecoratorContext, validateOptions(undefined), site);
		}
		return wrapFunction(a as AnyFn, validateOptions(b), site);
	}
	const options = validateOptions(a);
	const decorator: FlecheDecorator = (target, context) =>
		decorateMethod(target, context as unknown as ClassMethodDecoratorContext, options, site);
	return decorator;
}

/**
 * The parameter names (without `this`) of a method decorated with `@fleche()`, as called on `thisArg`; undefined
 * for anything else. A rerun rebuilds the call's positional arguments from them. @internal
 */
export function methodParams(method: unknown, thisArg: unknown): string[] | undefined {
	const w = targetOf(method);
	if (w === undefined) return undefined;
	const profile = w.profile(thisArg);
	return profile.method ? profile.params.map((p) => p.name) : undefined;
}

/**
 * The key of calling `method` (decorated with `@fleche()`) on `thisArg` with `args` in the active cache, as a call
 * would compute it: a rerun compares it with the key it reruns. @internal
 */
export function methodKey(method: unknown, thisArg: unknown, args: readonly unknown[]): string {
	const w = targetOf(method);
	if (w === undefined) throw new TypeError('methodKey() takes a function wrapped by fleche()');
	return keyCallOf(w, [...args], activeCache(), thisArg).key;
}

/** Whether a value is a function wrapped by {@link fleche}. */
export function isFleche(value: unknown): value is Fleche<AnyFn> {
	return targetOf(value) !== undefined;
}

export type { Json };
