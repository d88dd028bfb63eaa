// A cached function called twice under a cache: what a miss returned and what the hit returns, to compare them.
import { cache, fleche, type BaseCache } from 'fleche';

/** Calls `make()` through a cached function named `name` twice under `c`: the miss's result, the hit's, and the runs. */
export function missAndHit<T>(c: BaseCache, name: string, make: () => T): { miss: T; hit: T; runs: number } {
	let runs = 0;
	const f = fleche(
		() => {
			runs++;
			return make();
		},
		{ name },
	);
	return cache(c, () => {
		const miss = f();
		const hit = f();
		return { miss, hit, runs };
	});
}
