// The cached functions of the concurrency notebook. Workers import this module by its file to run them, so it is
// its own build entry (out/examples/concurrencyTasks.js), loaded by concurrency.ts at run time, never inlined.
import { fleche } from 'fleche';

/** Notebook 1a, 1b. */
export const add = fleche((x: number, y: number) => x + y);

/** Notebook 1c, 3b, 3c. */
export const expensive = fleche((x: number) => x ** 3);

/** Notebook 1d (executorlib's `SingleNodeExecutor`). */
export const cubeSne = fleche((x: number) => x ** 3);

/** Notebook 3a. */
export const triple = fleche((x: number) => x * 3);

/** Notebook 4c: fails on the worker; the submitter gets its message. */
export const failing = fleche(async (x: number): Promise<number> => {
	await Promise.resolve();
	throw new RangeError(`no cube for ${x}`);
});
