// What every kind of executor is to wrapExecutor: an adapter that runs one missed call (a Job) there, and a plain
// function either there too (worker pools: imported by its module and export name) or passed through bound.
import { describeCall, describePlain, type BoundCall } from '../bound.js';
import type { BaseCache } from '../caches/base.js';
import type { MetaData } from '../metadata.js';
import type { Located } from './locate.js';

/** One miss on its way to the executor; the plain-data and callable forms are built only if the executor needs them. */
export interface Job {
	readonly fn: (...args: never[]) => unknown;
	readonly cache: BaseCache;
	readonly metadata: readonly MetaData[];
	readonly args: readonly unknown[];
	readonly key: string | null;
	/** A plain function (not cached): where a worker imports it from. */
	readonly plain?: Located;
}

export interface Adapter {
	/** Option names every submission may carry for this kind of executor. */
	readonly options: readonly string[];
	/**
	 * The executor calls the cached function in this process (a bound callable), so the call enters the table of calls
	 * in flight through the wrapper rather than as a submission.
	 */
	readonly inProcess?: boolean;
	/** Runs a job: a cached call, or with `plain`, a plain function its workers import (when `runsPlain`). */
	run(job: Job, options: Readonly<Record<string, unknown>>): Promise<unknown>;
	/** Its workers run plain functions too, imported by module and export name (docs/behaviour.md §16). */
	readonly runsPlain?: boolean;
	/** What a plain function becomes when the workers cannot import it: given to the executor bound, or refused. */
	passThrough(fn: unknown, args: readonly unknown[]): unknown;
}

export { abortError, asError } from '../protocol.js';

/**
 * The plain-data form of a job, as it crosses into a worker. `cloned`: by structured clone (a worker thread), so the
 * classes its arguments lose travel beside them; not through JSON (another process).
 */
export function describe(job: Job, cloned = true): BoundCall {
	if (job.plain !== undefined) return describePlain(job.plain, job.cache, job.metadata, job.args);
	return describeCall(job.fn, job.cache, job.metadata, job.args, job.key, cloned);
}
