// The `npm start` demo: caches real work into the persistent project store and shows hits and misses.
import { pbkdf2Sync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fleche, cache, project, defaultRoot, isRerun } from 'fleche';

/** Counts primes below `n` with a sieve: ~50 ms for 5 million. */
export const countPrimes = fleche((n: number): number => {
	const sieve = new Uint8Array(n);
	let count = 0;
	for (let i = 2; i < n; i++) {
		if (sieve[i]) continue;
		count++;
		for (let j = i * i; j < n; j += i) sieve[j] = 1;
	}
	return count;
});

/** Derives a key the slow way (PBKDF2, 300k rounds): the kind of work worth caching across runs. */
export const deriveKey = fleche(async (password: string, salt: string, rounds: number = 300_000): Promise<string> => {
	await Promise.resolve();
	return pbkdf2Sync(password, salt, rounds, 32, 'sha256').toString('hex');
});

async function timed<T>(label: string, hit: boolean, run: () => T | Promise<T>): Promise<T> {
	const t0 = performance.now();
	const value = await run();
	const ms = performance.now() - t0;
	const shown = typeof value === 'string' ? `${value.slice(0, 16)}…` : String(value);
	console.log(`  ${hit ? 'hit ' : 'miss'}  ${label.padEnd(42)} = ${shown.padEnd(18)} ${ms.toFixed(ms < 1 ? 3 : 1).padStart(9)} ms`);
	return value;
}

async function main(): Promise<void> {
	const store = cache();
	console.log(`fleche demo — persistent store: ${defaultRoot()}`);
	console.log('(run `npm start` again: every call below becomes a hit)\n');
	await project('demo', async () => {
		for (const n of [1_000_000, 5_000_000, 1_000_000]) {
			const hit = countPrimes.fleche.contains(n);
			await timed(`countPrimes(${n})`, hit, () => countPrimes(n));
		}
		for (const [pw, salt] of [['correct horse', 'salt-1'], ['battery staple', 'salt-2'], ['correct horse', 'salt-1']] as const) {
			const hit = deriveKey.fleche.contains(pw, salt);
			await timed(`deriveKey(${JSON.stringify(pw)}, ${JSON.stringify(salt)})`, hit, () => deriveKey(pw, salt));
		}
	});
	const primes = countPrimes.fleche.query().count();
	const keys = deriveKey.fleche.query().count();
	console.log(`\nstored: ${primes} countPrimes call(s), ${keys} deriveKey call(s); ${store.query().count()} call(s) in the store`);
	const latest = deriveKey.fleche.query().latest();
	const rt = latest.metadata.runtime;
	console.log(`latest deriveKey call: key ${latest.key.slice(0, 12)}…, args ${JSON.stringify(latest.arguments)}, ${Number(rt?.walltime ?? 0).toFixed(3)} s wall`);
}

// `fleche rerun` and Explain Miss import this file for its cached functions: run the demo only when it is the program.
if (!isRerun()) await main();
