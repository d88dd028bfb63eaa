// Rerun trust (docs/behaviour.md §13): `fleche rerun` and `fleche explain` import the user's module to find the cached function, and importing a
// module runs its top-level code. `isRerun()` lets that code tell such an import from a run of its own, e.g.
// `if (!isRerun()) await main();`. The CLI sets the environment variable before it imports anything, so the answer
// is the same in the module's top-level code, in worker threads and in child processes the rerun starts.

/** The environment variable `fleche rerun` and `fleche explain` set to `1` in their process before importing. */
export const RERUN_ENV = 'FLECHE_RERUN';

/**
 * Whether this process was started by `fleche rerun` or `fleche explain` (from a terminal or the editor) to run stored
 * calls again: the module defining the cached function is being imported for that, not run as a program. Guard a
 * module's top-level work with it, so a rerun runs only the call it reruns.
 * @example
 * ```ts
 * import { fleche, isRerun } from 'fleche';
 * export const load = fleche((day: string) => fetchDay(day));
 * async function main() { console.log(await load('2024-05-01')); }
 * if (!isRerun()) await main(); // `fleche rerun` imports this file for `load` only
 * ```
 */
export function isRerun(): boolean {
	return process.env[RERUN_ENV] === '1';
}

/** Marks this process, for the rest of its life, as a rerun's (see {@link isRerun}). @internal */
export function enterRerun(): void {
	process.env[RERUN_ENV] = '1';
}
