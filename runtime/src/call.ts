// docs/behaviour.md §1.11, §2.1, §2.2: the records a cache holds and the lookup key that addresses them.

/** A JSON value: what metadata may hold. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Metadata of a call, by namespace: `{ runtime: { walltime: 0.2 }, tags: { project: 'alpha' } }` (docs/behaviour.md §1.9). */
export type Metadata = Record<string, Record<string, Json>>;

/** What identifies a cached function, independent of its arguments. */
export interface FunctionIdentity {
	/** Function name: the `name` option, the function's own name, or the variable it was assigned to. */
	readonly name: string;
	/** Module path relative to the nearest `package.json`, `/`-separated; `null` when `hashModule` is false. */
	readonly module: string | null;
	/** The `version` option; `null` when unset or when `hashVersion` is false. */
	readonly version: string | number | null;
	/** Digest of `fn.toString()` when `hashCode` is true, else `null`. */
	readonly codeDigest: string | null;
}

/**
 * A call record as stored in call storage (Python's `DigestedCall`): argument values and the result are replaced by
 * the digests under which value storage holds them. Plain data: JSON- and structured-clone-safe.
 */
export interface CallRecord extends FunctionIdentity {
	/** The lookup key: a digest of identity and arguments, never of metadata or result. */
	readonly key: string;
	/** Argument digests by parameter name, in signature order; ignored parameters are absent. */
	readonly arguments: Readonly<Record<string, string>>;
	/** Digest of the result in value storage; `null` while pending. */
	readonly result: string | null;
	/** Metadata gathered while the call ran. */
	readonly metadata: Metadata;
	/** True when the function returned a Promise: hits then return an already-resolved Promise too. */
	readonly async?: boolean;
	/**
	 * The key scheme that computed `key` (`fleche.call/1`); absent in records written before records named it, which
	 * were keyed under `fleche.call/1`. A record of another scheme is stale: a miss, never damage (see ./key.ts).
	 */
	readonly scheme?: string;
}

/** A call with live argument values, before or after it ran (Python's `Call`). */
export interface Call extends FunctionIdentity {
	/** Argument values by parameter name, in signature order. */
	readonly arguments: Readonly<Record<string, unknown>>;
	readonly metadata?: Metadata;
	readonly result?: unknown;
}
