// GC race: `gc` runs again and again while writer processes commit calls, into a file store (and an SQL
// store). Every committed call keeps its arguments and result, including values that
// were old orphans until a writer referred to them again (stored again: the write refreshes the file's age, which
// gc's grace period counts from); orphans nobody refers to are still collected. Every other round is `gc --older-than
// 1d` (docs/behaviour.md §18): it evicts the calls computed two days ago and their values, and none of the writers'.
import assert from 'node:assert/strict';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { captureLogs } from '../support/logs.ts';
import { runNode, tmpDir } from '../support/tmp.ts';
import { agedValue, openCache, type StoreKind } from './shared.ts';

const PROCESSES = 3;
const N = 500; // calls per process
const writer = new URL('./fixtures/gcWriter.js', import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function race(kind: StoreKind): Promise<void> {
	const logs = captureLogs();
	const root = tmpDir();
	const { cache: store } = openCache(root, kind);
	// Values stored an hour ago and orphaned: 50 that the writers will refer to again, 50 that nobody will.
	const hourAgo = new Date(Date.now() - 3_600_000);
	const reused = Array.from({ length: 50 }, (_, i) => store.saveValue(agedValue(i)));
	const orphans = Array.from({ length: 50 }, (_, i) => store.saveValue({ orphan: i }));
	for (const key of [...reused, ...orphans]) utimesSync(join(root, 'values', key), hourAgo, hourAgo);
	// Calls computed two days ago, each with its own argument and result: `olderThan` evicts them, then their values go.
	const twoDaysAgo = Date.now() / 1000 - 2 * 86_400;
	const expired = Array.from({ length: 20 }, (_, i) =>
		store.save({
			name: 'expired',
			module: 'stress',
			version: null,
			codeDigest: null,
			arguments: { i: 1000 + i },
			result: { expiredResult: i },
			metadata: { runtime: { timestop: twoDaysAgo } },
		}),
	);
	const expiredValues = expired.flatMap((key) => {
		const r = store.loadRecord(key);
		return [r.result!, ...Object.values(r.arguments)];
	});
	for (const key of expiredValues) utimesSync(join(root, 'values', key), hourAgo, hourAgo);

	let running = PROCESSES;
	const writers = Array.from({ length: PROCESSES }, (_, p) =>
		runNode(writer, [root, kind, String(p), String(N)], { timeoutMs: 180_000 }).finally(() => running--),
	);
	let collections = 0;
	let collected = 0;
	while (running > 0) {
		collected += collections % 2 === 0 ? store.gc().size : store.collect({ olderThan: '1d' }).values.length;
		collections++;
		await sleep(5);
	}
	for (const [p, out] of (await Promise.all(writers)).entries()) {
		assert.equal(out.code, 0, `writer ${p} failed:\n${out.stderr}`);
		const { stored, warnings } = JSON.parse(out.stdout) as { stored: number; warnings: string[] };
		assert.equal(stored, N);
		assert.deepEqual(warnings, [], `writer ${p} warned`);
	}
	collected += store.gc().size;

	const records = [...store.records()];
	const calls = records.length;
	assert.equal(calls, PROCESSES * N, 'every call was stored');
	const lost = records.filter((r) => [r.result!, ...Object.values(r.arguments)].some((key) => !store.values.contains(key)));
	assert.equal(lost.length, 0, `${lost.length} of ${calls} committed calls lost a value to gc`);
	for (const record of records) {
		const call = store.load(record.key);
		assert.deepEqual(call.result, { x: call.arguments['x'], tag: call.arguments['tag'] });
	}
	assert.deepEqual(
		orphans.filter((key) => store.values.contains(key)),
		[],
		'old orphans nobody refers to are collected',
	);
	// The reused values may be collected before a writer first refers to them (then the writer stores them again).
	assert.deepEqual(
		[...store.records({ name: 'expired' })].map((r) => r.key),
		[],
		'the calls older than a day were evicted',
	);
	assert.deepEqual(
		expiredValues.filter((key) => store.values.contains(key)),
		[],
		'and their values collected',
	);
	const fixed = orphans.length + expiredValues.length;
	assert.ok(collected >= fixed && collected <= fixed + reused.length, `collected ${collected}`);
	assert.ok(collections >= 5, `gc ran ${collections} times beside the writers`);
	assert.deepEqual(
		logs.records.map((r) => `${r.code}: ${r.message}`),
		[],
	);
	console.log(
		`stress gc race (${kind}): ${PROCESSES} writers × ${N} calls while gc ran ${collections} times; ${calls} calls whole, lost = 0, ${collected} old orphans collected`,
	);
}

test('gc race: gc beside writers of a file store loses no value of a committed call', { timeout: 300_000 }, () => race('file'));
test('gc race: gc beside writers of an SQL store loses no value of a committed call', { timeout: 300_000 }, () => race('sql'));
