// SQL reads under writers, shared by the sqlReads stress test (which asserts on the outcomes) and `npm run bench`
// (which reports the latency): seeds calls, starts a reader process (fixtures/sqlReader.ts) and then the load test's
// writer processes on one SQL store, and stops the reader once the writers are done.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cache, type CallSql } from 'fleche';
import { runNode, type RunNodeResult } from '../support/tmp.ts';
import { openCache, work } from './shared.ts';

/** What the reader prints: counts, the reads that went wrong, warnings, and latencies in ms (`startup`: its first read). */
export interface ReaderReport {
	reads: number;
	hits: number;
	misses: number;
	seededMisses: number;
	bad: string[];
	warnings: string[];
	startup: number;
	p50: number;
	p99: number;
	max: number;
}

export interface ReadsUnderWriters {
	readonly report: ReaderReport;
	/** Seconds from the writers' start to the last one's exit. */
	readonly writing: number;
	readonly writers: readonly RunNodeResult[];
	readonly reader: RunNodeResult;
}

/** The shape of the load: writer processes × threads, keys per thread, calls committed before the writers start. */
export const readLoad = { processes: 4, threads: 2, n: 200, seeded: 300 } as const;

/**
 * Runs the reader beside the writers on a new SQL store in `root`. `fixtures` are the built `loadWriter.js` and
 * `sqlReader.js` (their place depends on the bundle that calls this).
 */
export async function readsUnderWriters(root: string, fixtures: { readonly writer: URL; readonly reader: URL }): Promise<ReadsUnderWriters> {
	const { processes, threads, n, seeded } = readLoad;
	const { cache: store, calls } = openCache(root, 'sql');
	cache(store, () => {
		for (let i = 0; i < seeded; i++) work(99, 0, i);
	});
	(calls as CallSql).close();
	const reading = runNode(fixtures.reader, [root, String(seeded), String(processes), String(threads), String(n)], { timeoutMs: 600_000 });
	const started = performance.now();
	let writers: RunNodeResult[];
	try {
		writers = await Promise.all(
			Array.from({ length: processes }, (_, p) => runNode(fixtures.writer, [root, 'sql', String(p), String(n)], { timeoutMs: 480_000 })),
		);
	} finally {
		// The reader stops whatever happened to the writers.
		writeFileSync(join(root, 'stop'), '');
	}
	const writing = (performance.now() - started) / 1000;
	const reader = await reading;
	const report = (reader.code === 0 ? JSON.parse(reader.stdout) : { reads: 0, bad: [reader.stderr] }) as ReaderReport;
	return { report, writing, writers, reader };
}
