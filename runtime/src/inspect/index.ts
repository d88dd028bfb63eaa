// docs/behaviour.md §12 (`fleche/inspect`; §4 discovery, §1.10 caches, §2.4 prefixes, §6 queries): the
// `fleche/inspect` entry point — how the CLI and the VS Code extension find, read and change stores. No tool reads
// the files or the database directly.
import { resolve } from 'node:path';
import { cacheFromConfig } from '../config/build.js';
import { resolveLocation, type CacheLocation } from './location.js';
import { InspectStore, type Store } from './store.js';

export { discoverCaches, type CacheLocation } from './location.js';
export type { Store, FunctionRef, FunctionSummary, CallSummary, CallDetail, CallInFlight, StoreTotals, VerifyReport } from './store.js';
export { RESULT_PREVIEW_BYTES } from './store.js';
export { explain, type Explanation, type Difference, type ExplainOptions } from './explain.js';
export type { Disposable } from './watch.js';
export { KeyError, AmbiguousDigestError, CorruptEntry } from '../errors.js';
export { ConfigError } from '../config/read.js';
export { fileDigestCounters, type FileDigestCounters } from '../fileDigest.js';
export type { ShownFile } from '../caches/fileValues.js';

/**
 * Opens a store for inspection: a {@link CacheLocation} (from `discoverCaches`), a cache name of the `fleche.toml`
 * seen from `options.cwd`, or a store folder (with `values/` and `calls/` or `calls.db`, or a project folder with a
 * `.fleche/`). Nothing is written to the store until a change is asked for (`evict`, `clear`, `gc`, `verify` with
 * `remove`); the summary index that lets the next process list a file store fast is kept in the user's cache folder
 * (`FLECHE_INDEX_DIR`, docs/behaviour.md §12). Corrupt entries are skipped with a warning.
 * @throws ConfigError for an unknown cache name, invalid configuration, or a folder that holds no store.
 * @example
 * ```ts
 * import { openStore } from 'fleche/inspect';
 * const store = openStore('default', { cwd: projectFolder });
 * for (const fn of store.functions()) console.log(fn.name, fn.calls, fn.hits);
 * const { total, calls } = store.calls(store.functions()[0]!, { offset: 0, limit: 50 });
 * const sub = store.watch(() => console.log('changed'));
 * sub.dispose();
 * store.close();
 * ```
 */
export function openStore(target: CacheLocation | string, options: { cwd?: string } = {}): Store {
	const location = resolveLocation(target, resolve(options.cwd ?? process.cwd()));
	return new InspectStore(location, cacheFromConfig(location.config));
}
