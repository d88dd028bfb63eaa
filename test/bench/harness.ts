// A small benchmark harness: medians of repeated batches, ratios computed within the same run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** One measured case. */
export interface Measurement {
	readonly group: string;
	readonly name: string;
	/** Median time per operation, in nanoseconds. */
	readonly nsPerOp: number;
	/** Interquartile spread of the per-op samples, in nanoseconds (noise indicator). */
	readonly iqrNs: number;
	readonly samples: number;
	readonly opsPerSample: number;
}

function quantile(sorted: number[], q: number): number {
	const pos = (sorted.length - 1) * q;
	const lo = Math.floor(pos);
	const hi = Math.ceil(pos);
	return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Options of one measurement. */
export interface MeasureOptions {
	/** Operations per sample. @default chosen so a sample lasts ~20 ms */
	readonly ops?: number;
	/** Samples taken. @default 15 */
	readonly samples?: number;
	/** Run once per sample before timing (not timed), e.g. to reset state. */
	readonly setup?: () => void | Promise<void>;
}

/**
 * Measures `op(i)` — `i` counts up across the whole measurement so misses can use fresh arguments.
 * Sync and async operations are both supported; async ones are awaited one at a time.
 */
export async function measure(
	group: string,
	name: string,
	op: (i: number) => unknown,
	options: MeasureOptions = {},
): Promise<Measurement> {
	let i = 0;
	const runBatch = async (n: number): Promise<number> => {
		const t0 = performance.now();
		for (let k = 0; k < n; k++) {
			const r = op(i++);
			if (r instanceof Promise) await r;
		}
		return performance.now() - t0;
	};
	let ops = options.ops;
	if (ops === undefined) {
		// Warm up first, untimed, for 5 ms: a first operation that pays for something once (a connection the pool
		// closed while idle, a server process whose caches are cold) would otherwise size the samples at a few
		// operations each, which then time that slow start rather than the operation.
		for (const until = performance.now() + 5; performance.now() < until; ) await runBatch(1);
		// Calibrate: double until a batch takes ≥ 5 ms, then size for ~20 ms samples.
		let n = 1;
		for (;;) {
			const ms = await runBatch(n);
			if (ms >= 5 || n >= 1 << 20) {
				ops = Math.max(1, Math.round((n * 20) / Math.max(ms, 0.001)));
				break;
			}
			n *= 2;
		}
	}
	const samples: number[] = [];
	const count = options.samples ?? 15;
	for (let s = 0; s < count; s++) {
		if (options.setup) await options.setup();
		samples.push(((await runBatch(ops)) * 1e6) / ops);
	}
	samples.sort((a, b) => a - b);
	return {
		group,
		name,
		nsPerOp: quantile(samples, 0.5),
		iqrNs: quantile(samples, 0.75) - quantile(samples, 0.25),
		samples: count,
		opsPerSample: ops,
	};
}

/** Formats nanoseconds for people. */
export function formatNs(ns: number): string {
	if (ns < 1000) return `${ns.toFixed(0)} ns`;
	if (ns < 1e6) return `${(ns / 1000).toFixed(ns < 1e4 ? 2 : 1)} µs`;
	if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
	return `${(ns / 1e9).toFixed(2)} s`;
}

const scratch: string[] = [];

/**
 * A fresh folder under the OS temp folder for one part's stores, removed only by {@link removeScratch} when the
 * whole bench ends. Removing a store of thousands of files right after a part would bill the next part: ext4 without
 * a journal (this project's VMs) skips every inode freed in the last 60–360 s when it makes a file, and creating a file
 * was measured at 0.2–1.5 ms for a while after a removal of 20,000 files, against 20–60 µs otherwise.
 */
export function scratchDir(prefix: string): string {
	const dir = mkdtempSync(join(tmpdir(), prefix));
	scratch.push(dir);
	return dir;
}

/** Removes every {@link scratchDir} folder; the bench's last step. */
export function removeScratch(): void {
	for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
}
