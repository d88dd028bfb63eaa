// The wall clock that orders uses of calls (`runtime.timestart`/`timestop` metadata, the statistics' `lastHit`).

let last = 0;

/**
 * Seconds since the epoch, strictly increasing within this thread: `Date.now()` ticks in milliseconds, and a hit
 * stamped in the same millisecond as another call's computation would otherwise tie with it, leaving
 * least-recently-used eviction to the order a folder happens to list in. A repeated millisecond advances by a
 * microsecond, so the clock runs ahead of `Date.now()` only while more than a thousand stamps fall in one millisecond.
 * @internal
 */
export function epochSeconds(): number {
	const now = Date.now();
	last = now > last ? now : last + 0.001;
	return last / 1000;
}
