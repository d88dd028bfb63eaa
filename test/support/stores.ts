// Fresh caches for tests: real files in a temp folder removed after the test file, or real memory storage.
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cache, ValueFile, CallFile, ValueMemory, CallMemory } from 'fleche';

const made: string[] = [];
after(() => {
	// Retried like tmpDir's: a worker thread of a pool the test ended may still append its last batch to a store.
	for (const d of made) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
});

/** A new empty folder under the OS temp dir, removed when the test file ends. */
export function freshDir(prefix = 'fleche-test-'): string {
	const d = mkdtempSync(join(tmpdir(), prefix));
	made.push(d);
	return d;
}

/**
 * A file cache in a new temp folder (values under `root/values`, calls under `root/calls`). `inlineValues: 0` keeps
 * every value in a value file of its own, for tests of value files (by default a call's small values are inside its
 * call file, docs/behaviour.md §2.6).
 */
export function fileStore(options: { secretKey?: string; inlineValues?: number } = {}): { cache: Cache; root: string } {
	const root = freshDir();
	const cache = new Cache(
		new ValueFile({ root: join(root, 'values'), ...(options.secretKey ? { secretKey: options.secretKey } : {}) }),
		new CallFile({ root: join(root, 'calls'), ...(options.inlineValues === undefined ? {} : { inlineValues: options.inlineValues }) }),
	);
	return { cache, root };
}

/** A new in-memory cache. */
export function memoryStore(): Cache {
	return new Cache(new ValueMemory(), new CallMemory());
}
