// Bench of the SQL call store (docs/behaviour.md §2.6, §7): sustained saves/s and query-by-name latency at 1k, 10k and 100k stored
// calls, open time, peak memory, and fleche hit/miss on SQL beside the file store.
import { join } from 'node:path';
import { Cache, CallFile, CallSql, ValueFile, cache, fleche, recordKey, type CallRecord } from 'fleche';
import { formatNs, scratchDir } from './harness.ts';
import type * as reportModule from './report.ts';

type Report = Pick<typeof reportModule, 'run' | 'target' | 'info'>;

const functions = 100;

function hex(n: number, salt: string): string {
	return (salt + n.toString(16)).padStart(64, '0').slice(-64);
}

function benchRecord(i: number): CallRecord {
	const identity = { name: `fn${i % functions}`, module: 'bench.js', version: 1, codeDigest: null, arguments: { a: hex(i, 'a'), b: hex(i, 'b') } };
	return { key: recordKey(identity), ...identity, result: hex(i, 'c'), metadata: { runtime: { walltime: 0.001, host: 'bench' } } };
}

/** Measures the SQL store and reports it beside the file store. */
export async function sqlBench(report: Report): Promise<void> {
	console.log('\nSQL call store (sql.js; snapshot + append log, reads in a worker thread)');
	const dir = scratchDir('fleche-sqlbench-');
	let peak = process.memoryUsage().rss;
	const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
	try {
		const path = join(dir, 'calls.db');
		const calls = new CallSql({ path });
		let stored = 0;
		let lastRate = 0;
		let lastQuery = 0;
		let lastOpen = 0;
		for (const level of [1_000, 10_000, 100_000]) {
			// Fill up to just below the level, then time a sustained batch of saves into it.
			const batch = 2_000;
			while (stored < level - batch) calls.put(benchRecord(stored++));
			calls.contains(benchRecord(0).key);
			const t0 = performance.now();
			for (let n = 0; n < batch; n++) calls.put(benchRecord(stored++));
			const seconds = (performance.now() - t0) / 1000;
			lastRate = batch / seconds;
			console.log(`  ${level.toLocaleString('en')} calls: ${lastRate.toFixed(0)} saves/s`);
			calls.compact();
			const query = await report.run('sql store', `records({ name }) over ${level.toLocaleString('en')} calls (${level / functions} match)`, (i) => calls.records({ name: `fn${i % functions}` }), {
				ops: 1,
				samples: 9,
			});
			lastQuery = query.nsPerOp;
			const opened = await report.run('sql store', `open + first read, ${level.toLocaleString('en')} calls`, () => {
				const fresh = new CallSql({ path });
				fresh.contains(benchRecord(1).key);
				fresh.close();
			}, { ops: 1, samples: 3 });
			lastOpen = opened.nsPerOp;
		}
		report.target('sql saves/s into 100,000 calls', lastRate, 2000, { value: `${lastRate.toFixed(0)}/s`, goal: '≥ 2,000 saves/s' }, true);
		report.target('sql query by name over 100,000 calls', lastQuery / 1e6, 50, { value: formatNs(lastQuery), goal: '≤ 50 ms', note: `${100_000 / functions} of ${functions} functions' calls returned, validated` });
		report.info('sql open, 100,000 calls', formatNs(lastOpen), 'worker start + sql.js + snapshot load');
		calls.close();

		const values = new ValueFile({ root: join(dir, 'values') });
		const overheads: Record<string, { hit: number; miss: number }> = {};
		for (const [label, callStore] of [
			['file', new CallFile({ root: join(dir, 'calls-file') })],
			['sql', new CallSql({ path: join(dir, 'small.db') })],
		] as const) {
			const store = new Cache(values, callStore);
			const add = fleche(function benchAdd(a: number, b: number) {
				return a + b;
			});
			await cache(store, async () => {
				add(1, 2);
				const hit = await report.run(`fleche ${label} calls`, 'hit', () => add(1, 2));
				const miss = await report.run(`fleche ${label} calls`, 'miss', (i) => add(i + 1e6, 3), { samples: 9 });
				overheads[label] = { hit: hit.nsPerOp, miss: miss.nsPerOp };
			});
		}
		const { file, sql } = overheads as Record<'file' | 'sql', { hit: number; miss: number }>;
		report.info('sql vs file store: hit / miss', `${formatNs(sql.hit)} / ${formatNs(sql.miss)}`, `file store ${formatNs(file.hit)} / ${formatNs(file.miss)} (values in files for both)`);
		report.info('sql bench peak memory (RSS)', `${(peak / 1024 / 1024).toFixed(0)} MB`, 'whole process, worker threads included');
	} finally {
		clearInterval(sample);
	}
}
