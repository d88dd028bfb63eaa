// Held-back writes (statistics counted in memory, SQL puts batched) reach the disk when the process is ended by
// Ctrl-C or a kill, not only at a normal exit; the process still ends the way the signal says.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Cache, CallSql, fileCache, ValueFile, type CallStats } from 'fleche';
import { tmpDir } from '../support/tmp.ts';

const child = fileURLToPath(new URL('../fixtures/signalChild.js', import.meta.url));

/** Starts the child, waits for "ready", sends `signal`; resolves how it ended and what it printed. */
async function signalled(root: string, mode: string, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
	const { NODE_TEST_CONTEXT: _, ...env } = process.env;
	const proc = spawn(process.execPath, [child, root, mode], { stdio: ['ignore', 'pipe', 'inherit'], env });
	let stdout = '';
	await new Promise<void>((resolve, reject) => {
		proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
			stdout += chunk;
			if (stdout.includes('ready')) resolve();
		});
		proc.once('exit', (code) => reject(new Error(`exited (${code}) before it was ready`)));
	});
	proc.kill(signal);
	return new Promise((resolve) => proc.once('exit', (code, sig) => resolve({ code, signal: sig, stdout })));
}

const totals = (stats: readonly CallStats[]) => ({ hits: stats.reduce((n, s) => n + s.hits, 0), misses: stats.reduce((n, s) => n + s.misses, 0) });

describe('writes held back at a signal', () => {
	for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
		test(`${signal}: statistics are written, and the process still ends by ${signal}`, async (t) => {
			const root = tmpDir(t);
			const ended = await signalled(root, 'file', signal);
			assert.deepEqual([ended.code, ended.signal], [null, signal]);
			assert.deepEqual(totals(fileCache(root).stats()), { hits: 2, misses: 3 });
		});
	}

	test('SIGTERM: SQL puts held for writeDelayMs are appended before the process ends', async (t) => {
		const root = tmpDir(t);
		const ended = await signalled(root, 'sql', 'SIGTERM');
		assert.equal(ended.signal, 'SIGTERM');
		const store = new Cache(new ValueFile({ root: join(root, 'values') }), new CallSql({ path: join(root, 'calls.db') }));
		t.after(() => (store.calls as CallSql).close());
		assert.equal([...store.records()].length, 3, 'square(3), square(4) and square(5)');
		assert.deepEqual(totals(store.stats()), { hits: 2, misses: 3 });
	});

	test("a program's own signal listener decides: the writes happen, and its exit code stands", async (t) => {
		const root = tmpDir(t);
		const ended = await signalled(root, 'own-handler', 'SIGTERM');
		assert.deepEqual([ended.code, ended.signal], [3, null]);
		assert.match(ended.stdout, /own handler/);
		assert.deepEqual(totals(fileCache(root).stats()), { hits: 2, misses: 3 });
	});
});
