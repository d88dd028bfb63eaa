// reference §1.7: BoundWrapper — a callable that carries the cache and metadata that were active when it was bound.
import type { BaseCache } from './caches/base.js';
import type { MetaData } from './metadata.js';
import { activeCache, activeMetadata, runIn } from './state.js';

const boundKey = Symbol.for('fleche.bound');

/** What a bound callable carries. */
export interface BoundState<F extends (...args: never[]) => unknown = (...args: never[]) => unknown> {
	/** The function called (a fleche function, or any function whose nested fleche calls should use the cache). */
	readonly fn: F;
	/** Arguments applied before those given at call time. */
	readonly args: readonly unknown[];
	/** The cache active at bind time. */
	readonly cache: BaseCache;
	/** The metadata sources active at bind time. */
	readonly metadata: readonly MetaData[];
}

type Rest<F, A extends readonly unknown[]> = F extends (...args: [...A, ...infer R]) => unknown ? R : unknown[];

/** A function bound with its cache and metadata; calling it runs `fn` with them in force, wherever it is called. */
export type Bound<F extends (...args: never[]) => unknown, A extends readonly unknown[] = []> = ((
	...args: Rest<F, A>
) => ReturnType<F>) & { readonly [boundKey]: BoundState<F> };

/**
 * Binds a function to the cache and metadata active now (reference §1.7). The bound function ignores whatever is
 * active where it is later called: nested fleche calls inside it use the bound cache too.
 * @example
 * ```ts
 * using _ = cache(myCache);
 * const boundAdd = BoundWrapper.bind(add);   // carries myCache from here on
 * setTimeout(() => boundAdd(1, 2), 10);       // stores into myCache
 * ```
 */
export const BoundWrapper = {
	/** Binds `fn` (with optional leading arguments) to the active cache and metadata. */
	bind<F extends (...args: never[]) => unknown, A extends readonly unknown[]>(fn: F, ...args: A): Bound<F, A> {
		if (typeof fn !== 'function') throw new TypeError('BoundWrapper.bind() takes a function');
		const inner = (fn as { [boundKey]?: BoundState }) [boundKey];
		// Binding a bound function again keeps the first binding's cache (reference #722/#724: no double binding).
		const state: BoundState<F> = inner
			? { ...(inner as BoundState<F>), args: [...inner.args, ...args] }
			: { fn, args, cache: activeCache(), metadata: activeMetadata() };
		const bound = function (this: unknown, ...rest: unknown[]) {
			return runIn({ cache: state.cache, metadata: state.metadata }, () =>
				(state.fn as unknown as (...a: unknown[]) => unknown).apply(this, [...state.args, ...rest]),
			);
		};
		Object.defineProperty(bound, boundKey, { value: state });
		Object.defineProperty(bound, 'name', { value: `bound ${fn.name}` });
		return bound as unknown as Bound<F, A>;
	},

	/** The state a bound function carries, or `undefined` for any other value. */
	stateOf(value: unknown): BoundState | undefined {
		return typeof value === 'function' ? (value as { [boundKey]?: BoundState })[boundKey] : undefined;
	},
};

/**
 * Binds `fn` to the active cache and metadata: `bind(f, ...args)` is `BoundWrapper.bind(f, ...args)`.
 * @example
 * ```ts
 * const task = bind(expensive, 3); // call later, anywhere: task() stores into the cache active now
 * ```
 */
export function bind<F extends (...args: never[]) => unknown, A extends readonly unknown[]>(fn: F, ...args: A): Bound<F, A> {
	return BoundWrapper.bind(fn, ...args);
}
