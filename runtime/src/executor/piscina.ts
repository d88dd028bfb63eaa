// piscina pools and any executor with a `submit(fn, ...args)`, as wrapExecutor adapters.
import { BoundWrapper } from '../bound.js';
import { runIn } from '../state.js';
import { describe, type Adapter } from './adapter.js';

// piscina and `{ submit }` executors

interface PiscinaLike {
	run(task: unknown, options?: Record<string, unknown>): Promise<unknown>;
	readonly queueSize: number;
	readonly threads: readonly unknown[];
}

export function isPiscina(value: object): value is PiscinaLike {
	const p = value as Partial<PiscinaLike>;
	return typeof p.run === 'function' && typeof p.queueSize === 'number' && Array.isArray(p.threads);
}

export function piscinaAdapter(pool: PiscinaLike): Adapter {
	return {
		options: ['signal', 'transferList'],
		run: (job, options) => pool.run(describe(job), options),
		runsPlain: true,
		passThrough: () => {
			throw new TypeError('A piscina pool runs plain functions in its workers only');
		},
	};
}


export function submitAdapter(executor: object, original: (...args: unknown[]) => unknown): Adapter {
	return {
		options: [],
		inProcess: true,
		run: (job, options) => {
			const bound = runIn({ cache: job.cache, metadata: job.metadata }, () => BoundWrapper.bind(job.fn, ...job.args));
			const result = Object.keys(options).length > 0 ? original.call(executor, bound, options) : original.call(executor, bound);
			return Promise.resolve(result);
		},
		// Python's wrap_executor binds plain callables too (#691): nested fleche calls use the submitter's cache.
		passThrough: (fn, args) => original.call(executor, BoundWrapper.stateOf(fn) === undefined ? BoundWrapper.bind(fn as () => unknown) : fn, ...args),
	};
}
