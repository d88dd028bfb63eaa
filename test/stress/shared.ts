// Pieces shared by the stress tests and the child/worker scripts they start (inlined into each bundle by esbuild):
// the stores, the cached functions (identical source, so identical keys in every process) and a seeded generator.
import { join } from 'node:path';
import * as fleche from 'fleche';
import { Cache, CallFile, CallSql, ValueFile, type CallStorage, type StatsStorage } from 'fleche';
import { prng } from '../support/prng.ts';

export type StoreKind = 'file' | 'sql';

/** A cache over `root`: values always in files, call records in files or in one SQLite database. */
export function openCache(root: string, kind: StoreKind, secretKey?: string): { cache: Cache; calls: CallStorage & StatsStorage } {
	let calls: CallStorage & StatsStorage;
	if (kind === 'sql') {
		calls = new CallSql({ path: join(root, 'calls.db') });
	} else {
		// Every value in a file of its own (no small values inside call files): the gc race and the damaged-file tests are
		// about value files. The inline layout is stressed by fileLayout.test (four processes writing at once).
		calls = new CallFile({ root: join(root, 'calls'), inlineValues: 0 });
	}
	const values = new ValueFile({ root: join(root, 'values'), ...(secretKey === undefined ? {} : { secretKey }) });
	return { cache: new Cache(values, calls), calls };
}

/** Counts body runs (= misses) of the functions below in this thread. */
export const bodyRuns = { count: 0 };

/** What `work(p, t, i)` returns; a reader checks every field, so a mixed-up or partial entry cannot pass. */
export function expectedWork(p: number, t: number, i: number): { p: number; t: number; i: number; pad: string } {
	return { p, t, i, pad: `${p}.${t}.${i}:`.padEnd(16 + (i % 200) * 8, 'x') };
}

export const work = fleche.fleche(
	(p: number, t: number, i: number) => {
		bodyRuns.count++;
		return expectedWork(p, t, i);
	},
	{ name: 'work', module: 'stress' },
);

/** Written by every thread with the same arguments: concurrent writers of one key. */
export const shared = fleche.fleche(
	(i: number) => {
		bodyRuns.count++;
		return { i, double: i * 2 };
	},
	{ name: 'shared', module: 'stress' },
);

/** A large result, so a writer killed at a random instant is often in the middle of writing a file. */
export function expectedBig(i: number): string {
	return `big ${i} `.repeat(20_000);
}

export const big = fleche.fleche(
	(i: number) => {
		bodyRuns.count++;
		return expectedBig(i);
	},
	{ name: 'big', module: 'stress' },
);

/** The seed of every CI run (CI=true) without FLECHE_STRESS_SEED: a red CI run reruns identically. */
export const ciSeed = 20_261_205;

/**
 * The stress tier's random seed: FLECHE_STRESS_SEED when set; {@link ciSeed} under CI=true; otherwise a new one per
 * run, so local runs keep exploring. @throws Error when FLECHE_STRESS_SEED is not a non-negative integer.
 */
export function stressSeed(env: NodeJS.ProcessEnv = process.env): number {
	const given = env['FLECHE_STRESS_SEED'];
	if (given !== undefined && given !== '') {
		const seed = Number(given);
		if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`FLECHE_STRESS_SEED must be a non-negative integer, got '${given}'`);
		return seed;
	}
	return env['CI'] === 'true' ? ciSeed : Date.now() % 1e9;
}

/** Runs `body` with {@link stressSeed}; when it fails, prints the seed that reproduces the failure. */
export async function withSeed<T>(body: (seed: number) => T | Promise<T>): Promise<T> {
	const seed = stressSeed();
	try {
		return await body(seed);
	} catch (err) {
		console.error(`stress: failed with seed ${seed}; rerun with FLECHE_STRESS_SEED=${seed} to reproduce`);
		throw err;
	}
}

export { prng };

class Point {
	constructor(
		readonly x: number,
		readonly y: number,
	) {}
}

/**
 * The `n`-th generated argument value for `seed`: primitives (NaN, -0, ±Infinity, bigints, lone surrogates), nested
 * objects and arrays, Maps, Sets, typed arrays, Dates, RegExps, class instances, cycles, symbols, functions and
 * (every 1,000th) a huge string. Deterministic: the same (seed, n) builds the same value in any process.
 */
export function generate(seed: number, n: number): unknown {
	const rnd = prng(seed * 1_000_003 + n);
	const int = (k: number) => Math.floor(rnd() * k);
	const text = () => {
		const pool = ['a', 'é', '𝄞', '\u0000', '\ud800', ':', ',', '=', '"', ' ', 'z', '\n'];
		let s = '';
		for (let k = int(12); k > 0; k--) s += pool[int(pool.length)]!;
		return s;
	};
	const leaf = (): unknown => {
		switch (int(16)) {
			case 0: return NaN;
			case 1: return -0;
			case 2: return 0;
			case 3: return int(2) ? Infinity : -Infinity;
			case 4: return rnd() * 1e6 - 5e5;
			case 5: return BigInt(int(1e9)) * BigInt(int(1e9)) * (int(2) ? 1n : -1n);
			case 6: return text();
			case 7: return int(2) === 0;
			case 8: return null;
			case 9: return undefined;
			case 10: return Symbol(text());
			case 11: return Symbol.for('fleche-stress');
			case 12: return (x: number) => x + int(10);
			case 13: return new Date(int(2 ** 40));
			case 14: return new RegExp(`a${int(9)}`, int(2) ? 'g' : 'i');
			default: return int(1000);
		}
	};
	const build = (depth: number): unknown => {
		if (depth <= 0) return leaf();
		switch (int(11)) {
			case 0: case 1: {
				const o: Record<string, unknown> = {};
				for (let k = int(6); k > 0; k--) o[text() || `k${k}`] = build(depth - 1);
				return o;
			}
			case 2: case 3: return Array.from({ length: int(6) }, () => build(depth - 1));
			case 4: return new Map(Array.from({ length: int(5) }, () => [build(depth - 2), build(depth - 1)]));
			case 5: return new Set(Array.from({ length: int(5) }, () => build(depth - 1)));
			case 6: {
				const kinds = [Uint8Array, Int16Array, Float32Array, Float64Array, BigInt64Array] as const;
				const K = kinds[int(kinds.length)]!;
				const a = new K(int(64));
				for (let k = 0; k < a.length; k++) a[k] = (K === BigInt64Array ? BigInt(int(1000)) : rnd() * 100);
				return a;
			}
			case 7: {
				// A cycle: an object (or array) that holds itself, possibly through a child.
				const o: Record<string, unknown> = { v: build(depth - 1) };
				if (int(2)) o['self'] = o;
				else o['child'] = { back: o, list: [o] };
				return o;
			}
			case 8: return new Point(rnd(), int(10));
			case 9: return Buffer.from(text());
			default: return leaf();
		}
	};
	if (n % 1000 === 999) return 'huge '.repeat(2_000_000 + int(1000)); // ~10 MB
	return build(1 + int(5));
}

/** Prints one JSON line the parent test reads back (stdout is only ever this line). */
export function report(value: unknown): void {
	process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** A value stored long before a gc race: aged, orphaned, then referred to again by new calls. */
export function agedValue(i: number): { aged: number; pad: string } {
	return { aged: i, pad: 'a'.repeat(64 + i) };
}
