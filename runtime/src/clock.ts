// The wall clock that orders uses of calls (`runtime.timestart`/`timestop` metadata, the statistics' `lastHit`), and
// the one way this runtime waits without its event loop.

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

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Blocks this thread for `ms` without using the CPU (`Atomics.wait` on a word nobody changes): what a synchronous
 * caller does between checks of something another thread or process will change. @internal
 */
export function sleepSync(ms: number): void {
	Atomics.wait(sleeper, 0, 0, ms);
}
