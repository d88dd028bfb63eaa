// docs/behaviour.md §18: max ages and stale-while-revalidate — when a stored call is too old to be served, and when it
// is served while it is computed again. The rule is here once; the cached-call protocol (protocol.ts), the helpers
// (wrapper.ts) and the read API for tools (inspect/) ask it.
//
// A call's age counts from when it was computed: its Runtime metadata's `timestop` (else `timestart`), else when the
// storage wrote the record (a file's mtime; the kind's `created`), else it is unknown, and a call of unknown age under a
// max age is expired: never served on a guess. A function's max age is recorded with each call (metadata `expiry`:
// `{ maxAge: seconds }`) so that tools can show when it expires without importing the function.
import type { CallRecord } from './call.js';
import { nowMs } from './clock.js';
import { durationSeconds, type Duration } from './duration.js';

/** How long stored calls stay fresh, and whether older ones are served while they are computed again. */
export interface ExpiryOptions {
	/**
	 * A call older than this is not served: the next call computes it again and replaces it. Seconds, or a duration
	 * such as `"90s"`, `"15m"`, `"12h"`, `"7d"`. A function's and its cache's max ages both apply: the shorter wins.
	 * @default no limit
	 */
	readonly maxAge?: Duration;
	/**
	 * An expired call is returned at once and computed again in the background (once per process, shared with the
	 * table of calls in flight); `true` at any age, a duration only up to that long past its max age (older ones are
	 * misses). A function's setting wins over its cache's. Errors of the background computation are logged, never
	 * thrown at a caller. A synchronous function's recompute runs on the event loop right after the current job.
	 * @default false
	 */
	readonly staleWhileRevalidate?: boolean | Duration;
}

/**
 * {@link ExpiryOptions} normalised to seconds. `stale`: `undefined` = not set (a cache's setting applies), `null` = off,
 * `Infinity` = at any age, else seconds past the max age. @internal
 */
export interface Expiry {
	readonly maxAge: number | null;
	readonly stale?: number | null;
}

/** The metadata namespace recording a function's max age with each of its calls (`{ maxAge: seconds }`). */
export const EXPIRY_METADATA = 'expiry';

/** The options checked and normalised; `undefined` when neither is set. @throws TypeError naming `where`. @internal */
export function checkExpiry(maxAge: unknown, staleWhileRevalidate: unknown, where: string): Expiry | undefined {
	if (maxAge === undefined && staleWhileRevalidate === undefined) return undefined;
	const age = maxAge === undefined ? null : durationSeconds(maxAge, `${where}: 'maxAge'`);
	let stale: number | null | undefined;
	if (staleWhileRevalidate === undefined) stale = undefined;
	else if (staleWhileRevalidate === true) stale = Infinity;
	else if (staleWhileRevalidate === false) stale = null;
	else stale = durationSeconds(staleWhileRevalidate, `${where}: 'staleWhileRevalidate'`);
	return stale === undefined ? { maxAge: age } : { maxAge: age, stale };
}

/** The plain-data form of an {@link Expiry} (seconds; `true` for stale at any age), for `toConfig()`. @internal */
export function expiryConfig(expiry: Expiry | undefined): { maxAge?: number; staleWhileRevalidate?: boolean | number } {
	if (expiry === undefined) return {};
	const out: { maxAge?: number; staleWhileRevalidate?: boolean | number } = {};
	if (expiry.maxAge !== null) out.maxAge = expiry.maxAge;
	if (expiry.stale !== undefined) out.staleWhileRevalidate = expiry.stale === null ? false : expiry.stale === Infinity ? true : expiry.stale;
	return out;
}

/** What applies to a call: the shorter max age of the two, the function's stale setting over the cache's. @internal */
export function combineExpiry(fn: Expiry | undefined, cache: Expiry | undefined): Expiry | undefined {
	if (fn === undefined) return cache;
	if (cache === undefined) return fn;
	const maxAge = fn.maxAge === null ? cache.maxAge : cache.maxAge === null ? fn.maxAge : Math.min(fn.maxAge, cache.maxAge);
	const stale = fn.stale !== undefined ? fn.stale : cache.stale;
	return stale === undefined ? { maxAge } : { maxAge, stale };
}

/** Whether a stored call may be served as it is, served while it is computed again, or is a miss. @internal */
export type Freshness = 'fresh' | 'stale' | 'expired';

/** Now, in seconds since the epoch, from the clock `setClock` chose. @internal */
export function nowSeconds(): number {
	return nowMs() / 1000;
}

/**
 * The freshness of a call stored at `storedAt` (seconds since the epoch; `null`: unknown) under `expiry`. A call is
 * expired once it is older than its max age (an age equal to it is still fresh).
 * @internal
 */
export function freshness(storedAt: number | null, expiry: Expiry, now: number = nowSeconds()): Freshness {
	if (expiry.maxAge === null) return 'fresh';
	if (storedAt === null) return 'expired';
	const age = now - storedAt;
	if (age <= expiry.maxAge) return 'fresh';
	const stale = expiry.stale;
	return stale !== undefined && stale !== null && age <= expiry.maxAge + stale ? 'stale' : 'expired';
}

/** The max age a call's record carries for its function (metadata `expiry.maxAge`), or `null`. @internal */
export function recordedMaxAge(record: CallRecord): number | null {
	const v = record.metadata[EXPIRY_METADATA]?.maxAge;
	return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
}
