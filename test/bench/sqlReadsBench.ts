// Bench of SQL reads under writers (docs/behaviour.md §2.6): the latency of key reads through the worker thread while 4
// processes × 2 threads write the same store — the stress tier's sqlReads run, timed here against its goal.
import { loadavg } from 'node:os';
import { readLoad, readsUnderWriters } from '../stress/readsUnderWriters.ts';
import type * as reportModule from './report.ts';
import { scratchDir } from './harness.ts';

type Report = Pick<typeof reportModule, 'target' | 'info'>;

/** Needs the stress fixtures built (`npm run bench` builds everything first). */
export async function sqlReadsBench(report: Report): Promise<void> {
	console.log(`\nSQL reads under ${readLoad.processes} × ${readLoad.threads} writers (reader process, knownRecords: 0)`);
	const dir = scratchDir('fleche-sqlreads-');
	const { report: r, writing } = await readsUnderWriters(dir, {
		writer: new URL('../stress/fixtures/loadWriter.js', import.meta.url),
		reader: new URL('../stress/fixtures/sqlReader.js', import.meta.url),
	});
	if (r.bad.length > 0) throw new Error(`sql reads under writers went wrong: ${r.bad.slice(0, 3).join('; ')}`);
	const ms = (x: number): string => `${x.toFixed(1)} ms`;
	console.log(`  ${r.reads} reads (${r.hits} hits, ${r.misses} misses) in ${writing.toFixed(1)} s: p50 ${ms(r.p50)}, p99 ${ms(r.p99)}, max ${ms(r.max)}`);
	report.target(`sql read p99 under ${readLoad.processes} × ${readLoad.threads} writers`, r.p99, 50, {
		value: ms(r.p99),
		goal: '≤ 50 ms',
		note: `p50 ${ms(r.p50)}, max ${ms(r.max)} over ${r.reads} reads; load average ${loadavg()[0]!.toFixed(1)}`,
	});
	report.info('sql first read of a process under writers', ms(r.startup), 'worker start + sql.js + file load');
}
