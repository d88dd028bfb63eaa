// What `digest` makes of each generated value: its hex digest, the documented error (`Indigestible` and its
// message), or anything else flagged as `UNEXPECTED`. Shared by the bad-input test and its child process.
import { digest, Indigestible } from 'fleche';
import { generate } from './shared.ts';

/** A value that takes longer than this to digest counts as a hang. */
export const SLOW_MS = 5_000;

export function digestOutcomes(seed: number, count: number): string[] {
	const out: string[] = [];
	for (let n = 0; n < count; n++) {
		const value = generate(seed, n);
		const t0 = performance.now();
		try {
			out.push(digest(value));
		} catch (err) {
			out.push(err instanceof Indigestible ? `Indigestible: ${err.message}` : `UNEXPECTED ${String(err)}`);
		}
		const ms = performance.now() - t0;
		if (ms > SLOW_MS) out[n] = `UNEXPECTED slow (${ms.toFixed(0)} ms)`;
	}
	return out;
}
