// reference §1.3, §1.4, §3.3: fleche(fn, options) — the cached call, its helpers and Promise pass-through.
import { hash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { identityPrefix, type Call, type FunctionIdentity, type Json, type Metadata } from './call.js';
import type { BaseCache, PreparedCall } from './caches/base.js';
import { RefreshingCache } from './caches/wrapper.js';
import { digest, Digest, digestSymbol } from './digest.js';
import { Indigestible, KeyError, FlecheError } from './errors.js';
import { isDebug, log, warn, warnOnce } from './log.js';
import type { MetaData } from './metadata.js';
import { resolveVersion, validateOptions, type FlecheOptions, type ResolvedOptions } from './options.js';
import { assignedName, callerSite, moduleOf, readParams, type CallSite, type Param } from './profile.js';
import type { QueryFilter, QueryIterator } from './query.js';
import { activeCache, activeMetadata, runIn } from './state.js';
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

/** The helpers on `f.fleche` (reference §1.3). Arguments are those of the wrapped function. */
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

const wrapperKey = Symbol.for('fleche.wrapper');

function isThenable(v: unknown): v is PromiseLike<unknown> {
	return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as PromiseLike<unknown>).then === 'function';
}

function isAsyncFunction(fn: AnyFn): boolean {
	const ctor = (fn as { constructor?: { name?: string } }).constructor?.name;
	return ctor === 'AsyncFunction' || ctor === 'AsyncGeneratorFunction';
}

/** Everything fixed about a wrapped function. */
class Profile {
	readonly prefix: string;
	readonly label: string;
	/** `"name":` fragments of the key text, per parameter; computed once. */
	readonly slots: readonly { readonly param: Param; readonly keyed: boolean; readonly head: string }[];
	readonly restIndex: number;

	constructor(
		readonly identity: FunctionIdentity,
		readonly params: readonly Param[],
		readonly options: ResolvedOptions,
		readonly method: boolean,
	) {
		this.prefix = identityPrefix(identity);
		this.label = `${identity.module ?? '?'}:${identity.name}`;
		this.slots = params.map((param) => ({ param, keyed: !options.ignore.has(param.name), head: `${JSON.stringify(param.name)}:` }));
		this.restIndex = params.findIndex((p) => p.rest);
	}
}

interface Bound_ {
	/** Argument values by recorded name (ignored ones left out), in order. */
	names: string[];
	values: unknown[];
	/** `"name":` fragments of the key text, parallel to `names`. */
	heads: string[];
}

const thisHead = `${JSON.stringify('this')}:`;

/** Maps call arguments onto parameter names, applying literal defaults; `this` first for methods. */
function bindArguments(profile: Profile, thisArg: unknown, args: readonly unknown[]): Bound_ {
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
		if (slot.param.rest) v = args.slice(i);
		else {
			v = args[i];
			if (v === undefined && slot.param.default) v = slot.param.default.value;
		}
		if (!slot.keyed) continue;
		names.push(slot.param.name);
		values.push(v);
		heads.push(slot.head);
	}
	// Arguments past the declared ones still reach the body (through `arguments`), so they must be in the key.
	if (profile.restIndex < 0) {
		for (; i < args.length; i++) {
			names.push(`#${i}`);
			values.push(args[i]);
			heads.push(`${JSON.stringify(`#${i}`)}:`);
		}
	}
	return { names, values, heads };
}

/** Whether the caller passed parameter `name`: a default value must not satisfy `require`. */
function passed(profile: Profile, args: readonly unknown[], name: string): boolean {
	const i = profile.params.findIndex((p) => p.name === name);
	if (i < 0) return false;
	return profile.params[i]!.rest ? args.length > i : args[i] !== undefined;
}

function recordOf(names: readonly string[], values: readonly unknown[]): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (let i = 0; i < names.length; i++) out[names[i]!] = values[i];
	return out;
}

/** The state of one wrapped function. */
class Wrapped<F extends AnyFn> {
	private readonly inFlight = new WeakMap<BaseCache, Map<string, PromiseLike<unknown>>>();
	readonly isAsync: boolean;
	private profileCache?: Profile;

	constructor(
		readonly fn: F,
		private readonly makeProfile: (thisArg: unknown) => Profile,
		private readonly lazyProfile: boolean,
	) {
		this.isAsync = isAsyncFunction(fn);
		if (!lazyProfile) this.profileCache = makeProfile(undefined);
	}

	profile(thisArg: unknown): Profile {
		if (!this.lazyProfile) return this.profileCache!;
		return this.makeProfile(thisArg);
	}

	/**
	 * The key of a call, with the argument values and digests it was computed from. Top-level `Digest` arguments
	 * are replaced by the value they stand for (reference §1.4 step 2), so `f(D(k))` is `f(value)`.
	 */
	key(profile: Profile, c: BaseCache, thisArg: unknown, given: readonly unknown[]) {
		let args = given;
		for (let i = 0; i < given.length; i++) {
			const v = given[i];
			if (!Digest.is(v)) continue;
			if (args === given) args = [...given];
			(args as unknown[])[i] = c.loadValue(v.hex.length === 64 ? v.hex : c.expand(v.hex));
		}
		const { names, values, heads } = bindArguments(profile, thisArg, args);
		const digests: string[] = new Array<string>(values.length);
		let text = profile.prefix;
		for (let i = 0; i < values.length; i++) {
			const d = digestArgument(values[i], names[i]!);
			digests[i] = d;
			text += heads[i]! + d + '\n';
		}
		return { key: sha256(text), names, values, digests, args: args as unknown[] };
	}

	call(thisArg: unknown, args: unknown[]): unknown {
		const c = activeCache();
		const profile = this.profile(thisArg);
		let k: ReturnType<Wrapped<F>['key']>;
		try {
			k = this.key(profile, c, thisArg, args);
		} catch (err) {
			if (!Indigestible.is(err)) throw err;
			warnOnce(`indigestible:${profile.label}:${err.path}`, 'FLECHE_INDIGESTIBLE', `No hash for argument ${err.path} of ${profile.identity.name}, running uncached: ${err.message}`, {
				fn: profile.label,
			});
			return this.fn.apply(thisArg, args);
		}
		args = k.args;
		for (const name of profile.options.require) {
			if (!passed(profile, args, name)) {
				warn('FLECHE_MISSING_REQUIRED', `Missing required arguments for caching: ${name} (${profile.identity.name} runs uncached)`, {
					fn: profile.label,
				});
				return this.fn.apply(thisArg, args);
			}
		}
		let hit;
		try {
			hit = c.lookup(k.key);
		} catch (err) {
			warn('FLECHE_LOOKUP_FAILED', `Cache lookup failed for ${profile.identity.name}, treating it as a miss: ${(err as Error).message}`, {
				fn: profile.label,
				cause: err,
			});
		}
		if (hit !== undefined) {
			if (isDebug()) log('debug', 'FLECHE_HIT', `Cache hit for ${profile.label} with key ${k.key}`);
			c.noteHit(hit.record);
			return this.isAsync || hit.record.async === true ? Promise.resolve(hit.value) : hit.value;
		}
		const pending = this.inFlight.get(c)?.get(k.key);
		if (pending !== undefined) return pending;
		return this.miss(c, profile, k, thisArg, args);
	}

	private miss(c: BaseCache, profile: Profile, k: ReturnType<Wrapped<F>['key']>, thisArg: unknown, args: unknown[]): unknown {
		const { identity } = profile;
		const argRecord = recordOf(k.names, k.values);
		const view: Call = { ...identity, arguments: argRecord };
		const sources: readonly MetaData[] = profile.options.meta.length ? [...activeMetadata(), ...profile.options.meta] : activeMetadata();
		const metadata: Metadata = {};
		for (const m of sources) {
			if (!m.pre) continue;
			try {
				metadata[m.name] = { ...metadata[m.name], ...m.pre(view) };
			} catch (err) {
				warnOnce(`meta-pre:${m.name}`, 'FLECHE_METADATA_FAILED', `Metadata '${m.name}' failed: ${(err as Error).message}`, { cause: err });
			}
		}
		let prepared: PreparedCall | undefined;
		try {
			// Seals the key and stores the argument values before the body can mutate them.
			prepared = c.prepare({ ...identity, key: k.key, values: argRecord, digests: recordOf(k.names, k.digests) as Record<string, string> });
		} catch (err) {
			warn('FLECHE_REJECTED', `Cache rejected save: ${profile.identity.name} runs uncached (${(err as Error).message})`, { fn: profile.label, cause: err });
		}
		let result: unknown;
		const started = performance.now();
		try {
			result = this.fn.apply(thisArg, args);
		} catch (err) {
			prepared?.abandon();
			throw err;
		}
		if (!isThenable(result)) {
			this.finish(c, profile, k.key, prepared, view, sources, metadata, result, false, started);
			return result;
		}
		let map = this.inFlight.get(c);
		if (!map) this.inFlight.set(c, (map = new Map<string, PromiseLike<unknown>>()));
		map.set(k.key, result);
		const done = () => {
			if (map.get(k.key) === result) map.delete(k.key);
		};
		// Registered before the caller can attach its own handlers, so the entry is saved by the time they run.
		result.then(
			(value) => {
				done();
				this.finish(c, profile, k.key, prepared, view, sources, metadata, value, true, started);
			},
			() => {
				done();
				prepared?.abandon();
			},
		);
		return result;
	}

	private finish(
		c: BaseCache,
		profile: Profile,
		key: string,
		prepared: PreparedCall | undefined,
		view: Call,
		sources: readonly MetaData[],
		metadata: Metadata,
		result: unknown,
		async: boolean,
		started: number,
	): void {
		const seconds = (performance.now() - started) / 1000;
		try {
			if (result === undefined) {
				prepared?.abandon();
				if (c instanceof RefreshingCache) {
					try {
						c.evict(key);
						warn('FLECHE_UNDEFINED_RESULT', `${profile.identity.name} returned undefined during rerun, evicted stale cache entry`, { fn: profile.label });
					} catch (err) {
						if (!KeyError.is(err)) throw err;
					}
				}
				warnOnce(`undefined:${profile.label}`, 'FLECHE_UNDEFINED_RESULT', `${profile.identity.name} returned undefined, not caching (return null to cache "nothing")`, {
					fn: profile.label,
				});
				return;
			}
			if (!prepared) return;
			const after: Call = { ...view, result };
			for (const m of sources) {
				if (!m.post) continue;
				try {
					metadata[m.name] = { ...metadata[m.name], ...m.post(metadata[m.name] ?? {}, after) };
				} catch (err) {
					warnOnce(`meta-post:${m.name}`, 'FLECHE_METADATA_FAILED', `Metadata '${m.name}' failed: ${(err as Error).message}`, { cause: err });
				}
			}
			const record = prepared.commit(result, metadata, { async });
			c.noteMiss(record, seconds);
			if (isDebug()) log('debug', 'FLECHE_SAVE', `Saving result for ${profile.label} with key ${key}`);
		} catch (err) {
			// Whatever goes wrong while saving, the caller still gets its result.
			const why = FlecheError.is(err) ? err.message : String((err as Error)?.message ?? err);
			warn('FLECHE_REJECTED', `Cache rejected save: ${profile.identity.name} (${why})`, { fn: profile.label, cause: err });
		}
	}
}

function sha256(text: string): string {
	return hash('sha256', text, 'hex');
}

function digestArgument(value: unknown, name: string): string {
	try {
		return digest(value);
	} catch (err) {
		if (Indigestible.is(err)) throw new Indigestible(`${name}${err.path}`, err.message, { cause: err });
		throw err;
	}
}

function resolveParams(fn: AnyFn, options: ResolvedOptions): Param[] {
	if (options.params) {
		return options.params.map((p) => (p.startsWith('...') ? { name: p.slice(3), rest: true } : { name: p, rest: false }));
	}
	return readParams(fn) ?? [{ name: 'args', rest: true }];
}

function resolveIdentity(options: ResolvedOptions, fn: AnyFn, site: CallSite | undefined, name: string | undefined): FunctionIdentity {
	const module = options.module ?? (site ? moduleOf(site.file) : null);
	return {
		name: name!,
		module: options.hashModule ? module : null,
		version: options.hashVersion ? resolveVersion(options.version, site?.loadedFile) : null,
		codeDigest: options.hashCode ? digest(Function.prototype.toString.call(fn)) : null,
	};
}

function functionName(fn: AnyFn): string | undefined {
	const n = fn.name;
	if (typeof n !== 'string' || n === '' || n === 'anonymous' || n.startsWith('bound ')) return undefined;
	return n;
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
		const profile = w.profile(thisArg);
		return { c, profile, ...w.key(profile, c, thisArg, args) };
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
			return { ...k.profile.identity, arguments: recordOf(k.names, k.values) };
		},
		digest: (...args: Parameters<F>) => keyOf(args).key,
		contains: (...args: Parameters<F>) => {
			const k = keyOf(args);
			return k.c.contains(k.key);
		},
		load: (...args: Parameters<F>) => {
			const k = keyOf(args);
			const hit = k.c.lookup(k.key);
			if (hit === undefined) throw new KeyError(k.key, `No cached result for ${k.profile.identity.name} with these arguments (key ${k.key.slice(0, 12)}…)`);
			return hit.value as Awaited<ReturnType<F>>;
		},
		query: (args?: Readonly<Record<string, unknown>>, options?: { readonly metadata?: MetadataFilter }) => {
			const { identity } = profile0();
			// Filter on the identity as recorded (null module/version when not hashed), so such functions match
			// (unlike Python's #916).
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
			const target = thisArg === undefined ? wrapped : (function (this: unknown, ...rest: unknown[]) {
				return wrapped.apply(thisArg, rest) as unknown;
			} as unknown as F);
			return BoundWrapper.bind(target, ...args) as unknown as Bound<F, A>;
		},
	};
}

function wrapFunction<F extends AnyFn>(fn: F, options: ResolvedOptions, site: CallSite | undefined): Fleche<F> {
	if (typeof fn !== 'function') throw new TypeError('fleche() takes a function to cache');
	if ((fn as { [wrapperKey]?: unknown })[wrapperKey]) return fn as Fleche<F>;
	const params = resolveParams(fn, options);
	const name = options.name ?? functionName(fn) ?? (site ? assignedName(site) : undefined);
	if (name === undefined) {
		throw new TypeError(
			`fleche() could not find a name for this function${site ? ` (${site.file}:${site.line})` : ''}: pass one with fleche(fn, { name: '...' })`,
		);
	}
	checkParamOptions(params, options, name);
	const profile = new Profile(resolveIdentity(options, fn, site, name), params, options, false);
	const w = new Wrapped(fn, () => profile, false);
	const wrapped = function (this: unknown, ...args: unknown[]) {
		return w.call(this, args);
	} as unknown as F;
	const result = decorate(wrapped, w, fn, profile.identity.name, site);
	register(profile.identity, result);
	return result;
}

const registryKey = Symbol.for('fleche.registry');

function registry(): Map<string, Fleche<AnyFn>> {
	const g = globalThis as { [registryKey]?: Map<string, Fleche<AnyFn>> };
	return (g[registryKey] ??= new Map<string, Fleche<AnyFn>>());
}

function register(identity: FunctionIdentity, f: Fleche<AnyFn>): void {
	registry().set(`${identity.module ?? ''}\0${identity.name}`, f);
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
	return registry().get(`${module ?? ''}\0${name}`);
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
	Object.defineProperty(wrapped, wrapperKey, { value: w });
	// A fleche function passed as an argument digests by its identity, like Python's `__digest__` on wrappers.
	Object.defineProperty(wrapped, digestSymbol, {
		value: () => sha256(`fleche.function/1\n${JSON.stringify(helpers.identity)}`),
	});
	return wrapped as Fleche<F>;
}

/** The method decorator form: identity `Class.method`, `this` keyed as the first argument. */
function decorateMethod<F extends AnyFn>(method: F, context: ClassMethodDecoratorContext, options: ResolvedOptions, site: CallSite | undefined): F {
	if (context.kind !== 'method') throw new TypeError('@fleche() decorates methods only');
	const methodName = options.name ?? String(context.name);
	const params = resolveParams(method, options);
	checkParamOptions(params, options, methodName);
	const profiles = new WeakMap<object, Profile>();
	const make = (thisArg: unknown): Profile => {
		// The class name is only known once `this` exists: an instance (its constructor) or the class (static).
		const owner = (context.static ? thisArg : (thisArg as object | undefined)?.constructor) as (AnyFn & object) | undefined;
		const key = owner ?? make;
		let p = profiles.get(key);
		if (!p) {
			const ownerName = owner?.name || '<anonymous class>';
			const name = options.name ?? `${ownerName}.${methodName}`;
			p = new Profile(resolveIdentity(options, method, site, name), params, options, true);
			profiles.set(key, p);
		}
		return p;
	};
	const w = new Wrapped(method, make, true);
	const wrapped = function (this: unknown, ...args: unknown[]) {
		return w.call(this, args);
	} as unknown as F;
	Object.defineProperty(wrapped, 'name', { value: methodName });
	Object.defineProperty(wrapped, wrapperKey, { value: w });
	if (!context.private) context.addInitializer(function (this: unknown) {
		methodHelpers(this, context.name, wrapped, w, site);
	});
	return wrapped;
}

/**
 * Gives `owner.method` helpers bound to `owner` (reference §1.3 on methods): a static method gets them on itself;
 * an instance gets a non-enumerable own copy of the method that carries them, so it is neither keyed nor stored.
 * An override in a subclass is left alone.
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
	Object.defineProperty(own, wrapperKey, { value: w });
	Object.defineProperty(own, 'fleche', { get: () => (helpers ??= makeHelpers(w, wrapped, site, owner)) });
	Object.defineProperty(owner, name, { value: own, writable: true, configurable: true, enumerable: false });
}

/** A TS 5 standard method decorator. */
export type FlecheDecorator = <This, Args extends unknown[], R>(
	target: (this: This, ...args: Args) => R,
	context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => R>,
) => (this: This, ...args: Args) => R;

/**
 * Caches a function (reference §1.3–§1.4): its results are stored under a SHA-256 digest of its identity and its
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
	const w = typeof method === 'function' ? (method as { [wrapperKey]?: Wrapped<AnyFn> })[wrapperKey] : undefined;
	if (w === undefined) return undefined;
	const profile = w.profile(thisArg);
	return profile.method ? profile.params.map((p) => p.name) : undefined;
}

/** Whether a value is a function wrapped by {@link fleche}. */
export function isFleche(value: unknown): value is Fleche<AnyFn> {
	return typeof value === 'function' && (value as { [wrapperKey]?: unknown })[wrapperKey] !== undefined;
}

export type { Json };
