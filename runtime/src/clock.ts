// The wall clock that orders uses of calls (`runtime.timestart`/`timestop` metadata, the statistics' `lastHit`) and
// ages them (max ages, `gc --older-than`: docs/behaviour.md §18), and the one way this runtime waits without its event
// loop. The clock can be replaced (`setClock`) so that tests move time instead of sleeping; leases and locks, which
// other processes read, keep the real one.

let last = 0;
let source: () => number = Date.now;

/**
 * Replaces the wall clock fleche reads for the times it records and compares — when a call was computed, its last
 * hit, its age against a max age — with `clock` (milliseconds since the epoch, like `Date.now`); `null` restores
 * `Date.now`. Meant for tests: move time forward instead of sleeping. Leases and locks, which other processes read,
 * keep the real clock.
 * @example
 * ```ts
 * let now = Date.now();
 * setClock(() => now);
 * report(1);            // computed and stored
 * now += 2 * 3600_000;  // two hours later
 * report(1);            // older than maxAge '1h': computed again
 * setClock(null);
 * ```
 */
export function setClock(clock: (() => number) | null): void {
	if (clock !== null && typeof clock !== 'function') throw new TypeError('setClock() takes a function returning milliseconds since the epoch, or null');
	source = clock ?? Date.now;
	last = 0;
}

/** Milliseconds since the epoch, from the clock {@link setClock} chose. @internal */
export function nowMs(): number {
	return source();
}

/**
 * Seconds since the epoch, strictly increasing within this thread: `Date.now()` ticks in milliseconds, and a hit
 * stamped in the same millisecond as another call's computation would otherwise tie with it, leaving
 * least-recently-used eviction to the order a folder happens to list in. A repeated millisecond advances by a
 * microsecond, so the clock runs ahead of `Date.now()` only while more than a thousand stamps fall in one millisecond.
 * @internal
 */
export function epochSeconds(): number {
	const now = source();
	last = now > last ? now : last + 0.001;
	return last / 1000;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Blocks this thread for `ms` without using the CPU (`Atomics.wait` on a word nobody changes): what a synchronous
 * caller does between checks of something another thread or process will change. @internal
 */
export function sleepSync(ms: number): void {
	Atomics.wait(sleeper, 0, 0, ms);
}
