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

/** A child still running this long after the signal hangs: it is killed and the test fails (a ceiling, not a timing). */
const hangMs = 30_000;

/**
 * Starts the child, waits for "ready" (and for `busyCalls` lines after it: calls made in its busy loop), sends
 * `signal`; resolves how it ended and what it printed.
 */
async function signalled(
	root: string,
	mode: string,
	signal: NodeJS.Signals,
	busyCalls = 0,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
	const { NODE_TEST_CONTEXT: _, ...env } = process.env;
	const proc = spawn(process.execPath, [child, root, mode], { stdio: ['ignore', 'pipe', 'inherit'], env });
	let stdout = '';
	const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
		proc.once('exit', (code, sig) => resolve({ code, signal: sig })),
	);
	await new Promise<void>((resolve, reject) => {
		proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
			stdout += chunk;
			if (stdout.includes('ready') && stdout.split('ready')[1]!.split('\n').length > busyCalls + 1) resolve();
		});
		void ended.then(({ code }) => reject(new Error(`exited (${code}) before it was ready`)));
	});
	proc.kill(signal);
	// A busy child's watchdog thread starts with its first cached call: a signal before it listens reaches only the
	// listener, which a busy loop never runs (runtime/src/shutdown.ts), so the signal is sent again until it ends.
	const again = busyCalls > 0 ? setInterval(() => proc.kill(signal), 2000) : undefined;
	const hang = setTimeout(() => proc.kill('SIGKILL'), hangMs);
	const how = await ended;
	clearInterval(again);
	clearTimeout(hang);
	assert.notEqual(how.signal, 'SIGKILL', `still running ${hangMs / 1000} s after ${signal}: killed`);
	return { ...how, stdout };
}

/** The arguments the busy child printed after "ready": calls that returned before the signal. */
const busyDone = (stdout: string): number[] =>
	stdout
		.split('ready')[1]!
		.split('\n')
		.filter((line) => /^\d+$/.test(line))
		.map(Number);

/** Every `square` record of the store, as argument → result, each read whole (value files included). */
function squares(store: Cache): Map<number, number> {
	const out = new Map<number, number>();
	for (const record of store.records()) {
		if (record.name !== 'square' || record.result === null) continue;
		out.set(store.loadValue(record.arguments['x']!) as number, store.loadValue(record.result) as number);
	}
	return out;
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

	// A program busy in synchronous code never returns to its event loop, where signal listeners run: the watchdog
	// thread has it flush and end (runtime/src/shutdown.ts). It hears signals through the `signal_wrap` binding, which
	// Node 22 and later no longer give to `process.binding`: there the watchdog cannot start (docs/behaviour.md §3.2).
	const signalBinding = ((): boolean => {
		const proc = process as unknown as { noDeprecation?: boolean; binding(name: string): unknown };
		const quiet = proc.noDeprecation;
		proc.noDeprecation = true;
		try {
			proc.binding('signal_wrap');
			return true;
		} catch {
			return false;
		} finally {
			proc.noDeprecation = quiet;
		}
	})();
	const noWatchdog = signalBinding ? false : `machine lacks: process.binding('signal_wrap') in Node ${process.version}, which the SIGTERM watchdog needs`;
	for (const kind of ['file', 'sql'] as const) {
		test(`SIGTERM ends a program busy in synchronous code (${kind} store), its held-back writes written`, { skip: noWatchdog }, async (t) => {
			const root = tmpDir(t);
			const ended = await signalled(root, `${kind}-busy`, 'SIGTERM', 20);
			assert.deepEqual([ended.code, ended.signal], [null, 'SIGTERM']);
			const done = busyDone(ended.stdout);
			assert.ok(done.length >= 20, `${done.length} calls reported`);
			const store = kind === 'file' ? fileCache(root) : new Cache(new ValueFile({ root: join(root, 'values') }), new CallSql({ path: join(root, 'calls.db') }));
			if (kind === 'sql') t.after(() => (store.calls as CallSql).close());
			const stored = squares(store);
			// Every call that returned is stored whole; the signal may also have come between a call and its line.
			for (const x of [3, 4, 5, ...done]) assert.equal(stored.get(x), x * x, `square(${x}) stored`);
			const last = done.at(-1)!;
			assert.ok(stored.size === done.length + 3 || (stored.size === done.length + 4 && stored.get(last + 1) === (last + 1) ** 2), `${stored.size} entries`);
			// The statistics, held in memory for a flush that a busy loop never lets run, count every call.
			assert.deepEqual(totals(store.stats()), { hits: 2, misses: stored.size });
		});
	}

	test("a program's own signal listener decides: the writes happen, and its exit code stands", async (t) => {
		const root = tmpDir(t);
		const ended = await signalled(root, 'own-handler', 'SIGTERM');
		assert.deepEqual([ended.code, ended.signal], [3, null]);
		assert.match(ended.stdout, /own handler/);
		assert.deepEqual(totals(fileCache(root).stats()), { hits: 2, misses: 3 });
	});
});
