// Load: 4 processes × 2 worker threads write and read one file store (and one SQL store when the runtime exports
// CallSql) at the same time. Zero lost records, zero unreadable entries, and the statistics add up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureLogs } from '../support/logs.ts';
import { runNode, tmpDir } from '../support/tmp.ts';
import { expectedWork, openCache, shared, work, type StoreKind } from './shared.ts';

const PROCESSES = 4;
const THREADS = 2;
const N = 150; // own keys per thread; each is written then read, beside 50 keys shared by all threads
const writer = new URL('./fixtures/loadWriter.js', import.meta.url);

async function load(kind: StoreKind): Promise<void> {
	const logs = captureLogs();
	const root = tmpDir();
	const started = performance.now();
	const outs = await Promise.all(
		Array.from({ length: PROCESSES }, (_, p) => runNode(writer, [root, kind, String(p), String(N)], { timeoutMs: 120_000 })),
	);
	let calls = 0;
	let misses = 0;
	for (const [p, out] of outs.entries()) {
		assert.equal(out.code, 0, `process ${p} failed:\n${out.stderr}`);
		const tally = JSON.parse(out.stdout) as { calls: number; misses: number; bad: string[]; warnings: string[] };
		assert.deepEqual(tally.bad, [], `process ${p} read wrong results`);
		assert.deepEqual(tally.warnings, [], `process ${p} warned`);
		calls += tally.calls;
		misses += tally.misses;
	}

	const { cache: store, calls: callStorage } = openCache(root, kind);
	let lost = 0;
	let unreadable = 0;
	const check = (key: string, want: unknown) => {
		if (!store.contains(key)) return void lost++;
		try {
			assert.deepEqual(store.load(key).result, want);
		} catch {
			unreadable++;
		}
	};
	for (let p = 0; p < PROCESSES; p++)
		for (let t = 0; t < THREADS; t++) for (let i = 0; i < N; i++) check(work.fleche.digest(p, t, i), expectedWork(p, t, i));
	for (let i = 0; i < 50; i++) check(shared.fleche.digest(i), { i, double: i * 2 });
	const records = [...store.records()].length;
	const stats = [...callStorage.stats({ module: 'stress' })];
	const hits = stats.reduce((s, x) => s + x.hits, 0);
	const counted = stats.reduce((s, x) => s + x.misses, 0);

	console.log(
		`stress load (${kind}): ${PROCESSES} processes × ${THREADS} threads, ${calls} operations, ${misses} misses, ${hits} hits, ` +
			`${records} records, lost = ${lost}, unreadable = ${unreadable} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
	);
	assert.equal(lost, 0, 'lost records');
	assert.equal(unreadable, 0, 'unreadable entries');
	assert.equal(records, PROCESSES * THREADS * N + 50, 'one record per distinct call, no extras');
	assert.equal(calls, PROCESSES * THREADS * N * 4);
	assert.equal(counted, misses, 'statistics: misses = bodies run');
	assert.equal(hits + counted, calls, 'statistics: hits + misses = calls made');
	assert.deepEqual(logs.records.map((r) => r.code), [], 'no warnings while verifying');
}

test('load: 4 processes × 2 threads on one file store', { timeout: 180_000 }, () => load('file'));
test('load: 4 processes × 2 threads on one SQL store', { timeout: 180_000 }, () => load('sql'));
