// What every kind of executor is to wrapExecutor: an adapter that runs one missed call (a Job) there, or passes
// anything that is not a cached function through untouched.
import { describeCall, type BoundCall } from '../bound.js';
import type { BaseCache } from '../caches/base.js';
import type { MetaData } from '../metadata.js';

/** One miss on its way to the executor; the plain-data and callable forms are built only if the executor needs them. */
export interface Job {
	readonly fn: (...args: never[]) => unknown;
	readonly cache: BaseCache;
	readonly metadata: readonly MetaData[];
	readonly args: readonly unknown[];
	readonly key: string | null;
}

export interface Adapter {
	/** Option names every submission may carry for this kind of executor. */
	readonly options: readonly string[];
	/**
	 * The executor calls the cached function in this process (a bound callable), so the call enters the table of calls
	 * in flight through the wrapper rather than as a submission.
	 */
	readonly inProcess?: boolean;
	run(job: Job, options: Readonly<Record<string, unknown>>): Promise<unknown>;
	passThrough(fn: unknown, args: readonly unknown[]): unknown;
}

export { abortError, asError } from '../protocol.js';

/** The plain-data form of a job, as it crosses into a worker. */
export function describe(job: Job): BoundCall {
	return describeCall(job.fn, job.cache, job.metadata, job.args, job.key);
}
