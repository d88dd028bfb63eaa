// Bench of the PostgreSQL team store (docs/behaviour.md §2.6, §7) against a throwaway server on loopback
// (test/support/servers.ts): fleche hits (sync through the bridge, async awaited) and misses, and saves/s, each beside
// its physical floor, a bare `SELECT 1` round trip through `pg`.
import pg from 'pg';
import { Cache, CallPostgres, ValuePostgres, cache, fleche, recordKey, type CallRecord } from 'fleche';
import { startPostgres } from '../support/servers.ts';
import { formatNs } from './harness.ts';
import type * as reportModule from './report.ts';

type Report = Pick<typeof reportModule, 'run' | 'target' | 'info'>;

function hex(n: number, salt: string): string {
	return (salt + n.toString(16)).padStart(64, '0').slice(-64);
}

function benchRecord(i: number): CallRecord {
	const identity = { name: `fn${i % 100}`, module: 'bench.js', version: 1, codeDigest: null, arguments: { a: hex(i, 'a'), b: hex(i, 'b') } };
	return { key: recordKey(identity), ...identity, result: hex(i, 'c'), metadata: { runtime: { walltime: 0.001, host: 'bench' } } };
}

/** Measures the PostgreSQL store on a server started for the bench. */
export async function pgBench(report: Report): Promise<void> {
	console.log('\nPostgreSQL team store (pg in a worker thread; server on loopback)');
	const server = await startPostgres();
	try {
		const url = await server.database();
		const client = new pg.Client({ connectionString: url });
		await client.connect();
		const floor = await report.run('baseline', 'SELECT 1 through pg (async)', () => client.query('SELECT 1'), { samples: 9 });
		await client.end();

		const options = { url, schema: 'bench' };
		const calls = new CallPostgres(options);
		const store = new Cache(new ValuePostgres(options), calls);
		const add = fleche((a: number, b: number) => a + b, { name: 'pgAdd', module: 'bench' });
		const addAsync = fleche(async (a: number, b: number) => a + b, { name: 'pgAddAsync', module: 'bench' });
		await cache(store, async () => {
			add(1, 2);
			await addAsync(1, 2);
			const hit = await report.run('fleche postgres', 'hit', () => add(1, 2), { samples: 9 });
			const hitAsync = await report.run('fleche postgres', 'hit (async)', () => addAsync(1, 2), { samples: 9 });
			const miss = await report.run('fleche postgres', 'miss', (i) => add(i + 1e6, 3), { samples: 5 });
			const note = `floor (SELECT 1 through pg) ${formatNs(floor.nsPerOp)}; Python's SQL store hits in about 1.2 ms`;
			report.target('postgres hit (sync)', hit.nsPerOp, 300_000, { value: formatNs(hit.nsPerOp), goal: '≤ 300 µs', note });
			report.target('postgres hit (async)', hitAsync.nsPerOp, 300_000, { value: formatNs(hitAsync.nsPerOp), goal: '≤ 300 µs', note });
			report.info('postgres miss', formatNs(miss.nsPerOp), 'two values and a record written, each in its own transaction');
		});
		const batch = 2000;
		const t0 = performance.now();
		for (let i = 0; i < batch; i++) calls.put(benchRecord(i));
		const rate = batch / ((performance.now() - t0) / 1000);
		console.log(`  ${batch} saves: ${rate.toFixed(0)} saves/s`);
		report.target(
			'postgres saves/s (one process, small table)',
			rate,
			5000,
			{
				value: `${rate.toFixed(0)}/s`,
				goal: '≥ 5,000 saves/s',
				note: `one transaction (one round trip) per record, waited for; floor ${(1e9 / floor.nsPerOp).toFixed(0)} round trips/s. Not measured here: the same into 1,000,000 calls`,
			},
			true,
		);
		calls.close();
	} finally {
		await server.close();
	}
}
