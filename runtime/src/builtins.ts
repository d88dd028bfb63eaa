// Node's built-in modules that a plain `import 'fleche'` does not need until a feature uses them, loaded then: `v8`,
// `zlib`, `child_process` and `worker_threads` cost 5–20 ms each to load, a third of what importing the package took.
import type * as ChildProcess from 'node:child_process';
import { createRequire } from 'node:module';
import type * as V8 from 'node:v8';
import type * as WorkerThreads from 'node:worker_threads';
import type * as Zlib from 'node:zlib';

type Load = (id: string) => unknown;

/**
 * `process.getBuiltinModule` (Node 20.16+); before it, `require` — the ESM build's own through `createRequire`, the
 * CommonJS build's (where `import.meta.url` is undefined) as it is.
 */
function loader(): Load {
	const get = (process as { getBuiltinModule?: Load }).getBuiltinModule;
	if (typeof get === 'function') return (id) => get.call(process, id);
	const url = import.meta.url as string | undefined;
	return url !== undefined ? createRequire(url) : (require as Load);
}

/** A function that loads built-in module `id` on its first call and returns it. */
function lazy<T>(id: string): () => T {
	let module: T | undefined;
	return () => (module ??= loader()(id) as T);
}

/** `node:v8`, loaded on first use. @internal */
export const v8 = lazy<typeof V8>('node:v8');
/** `node:zlib`, loaded on first use. @internal */
export const zlib = lazy<typeof Zlib>('node:zlib');
/** `node:child_process`, loaded on first use. @internal */
export const childProcess = lazy<typeof ChildProcess>('node:child_process');
/** `node:worker_threads`, loaded on first use. @internal */
export const workerThreads = lazy<typeof WorkerThreads>('node:worker_threads');
