// Bench part `scale` (docs/behaviour.md §7, §12, §13, §2.6 "SQL"): the tools and stores at 100,000 calls, measured end
// to end on real stores — `fleche ls` as a whole process, the editor tree's first screen through `fleche/inspect`, a
// query by function name, SQL saves through `fleche(fn)` — for the file store and the SQL store.
//
// Filling 100,000 calls takes minutes, so the two stores are built once into `.cache/bench/scale-100k/` (ignored by
// git) and reused by later runs; a `ready` file written last marks a complete fixture (delete the folder to rebuild).
// The file store is filled through `fleche(fn)` with default metadata (what a project's store holds); the SQL store
// gets the same records through `CallSql.put` and shares the file store's values (a symlink), so both list alike.
// Timed work never changes the fixture: the save rows write into copies.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cache, CallFile, CallSql, ValueFile, cache, fileCache, fleche, flushStats, meta, Runtime } from 'fleche';
import { openStore } from 'fleche/inspect';
import { formatNs } from './harness.ts';
import type * as reportModule from './report.ts';

type Report = Pick<typeof reportModule, 'run' | 'target' | 'info'>;

const CALLS = 100_000;
const FUNCTIONS = 100;
const FIXTURE_FORMAT = 'scale-100k/1';

const here = dirname(fileURLToPath(import.meta.url));
const fixtureRoot = join(here, '..', '..', '.cache', 'bench', 'scale-100k');
const fileStore = join(fixtureRoot, 'file');
const sqlStore = join(fixtureRoot, 'sql');

function workFunctions(): ((a: number, b: string) => string)[] {
	return Array.from({ length: FUNCTIONS }, (_, f) => fleche((a: number, b: string) => `${b}:${a * f}`, { name: `fn${f}`, module: 'src/work.ts' }));
}

/** Builds the two 100,000-call stores unless a complete fixture of this format is there. */
function fixture(): void {
	const ready = join(fixtureRoot, 'ready');
	if (existsSync(ready)) return;
	rmSync(fixtureRoot, { recursive: true, force: true });
	mkdirSync(sqlStore, { recursive: true });
	console.log(`  building the ${CALLS.toLocaleString('en')}-call fixture in ${fixtureRoot} (once; minutes)…`);
	let t0 = performance.now();
	const fns = workFunctions();
	cache(fileCache(fileStore), () => {
		using _ = meta(new Runtime());
		for (let i = 0; i < CALLS; i++) fns[i % FUNCTIONS]!(i, `text ${i}`);
		// Hits too, so the statistics journals hold what a used store holds.
		for (let i = 0; i < CALLS; i += 10) fns[i % FUNCTIONS]!(i, `text ${i}`);
		flushStats();
	});
	console.log(`  file store filled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
	t0 = performance.now();
	const sql = new CallSql({ path: join(sqlStore, 'calls.db') });
	const source = new CallFile({ root: join(fileStore, 'calls') });
	for (const record of source.records()) sql.put(record);
	sql.addStats(source.stats());
	sql.flush();
	sql.compact();
	sql.close();
	symlinkSync(join('..', 'file', 'values'), join(sqlStore, 'values'), 'dir');
	console.log(`  SQL store filled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
	writeFileSync(ready, `${FIXTURE_FORMAT}\n`);
}

function median(values: number[]): number {
	return [...values].sort((a, b) => a - b)[values.length >> 1]!;
}

/** `fleche ls` on `root`, whole process, interleaved with an empty node process; medians in ms. */
function lsProcess(root: string, rounds: number): { ls: number; empty: number; lines: number } {
	const bin = join(dirname(createRequire(import.meta.url).resolve('fleche/package.json')), 'bin', 'fleche.mjs');
	const ls: number[] = [];
	const empty: number[] = [];
	let lines = 0;
	for (let round = 0; round < rounds; round++) {
		let t0 = performance.now();
		execFileSync(process.execPath, ['-e', '0'], { stdio: 'ignore' });
		empty.push(performance.now() - t0);
		t0 = performance.now();
		const out = execFileSync(process.execPath, [bin, 'ls', '--root', root], { encoding: 'utf8' });
		ls.push(performance.now() - t0);
		lines = out.trim().split('\n').length;
	}
	return { ls: median(ls), empty: median(empty), lines };
}

/** The editor tree's first screen through `fleche/inspect`: open, the function list, the first page of 100 calls. */
function firstScreen(root: string): number {
	const store = openStore(root);
	try {
		const fns = store.functions();
		const page = store.calls({ module: fns[0]!.module, name: fns[0]!.name }, { limit: 100 });
		if (fns.length !== FUNCTIONS || page.calls.length !== 100) throw new Error(`first screen: ${fns.length} functions, ${page.calls.length} calls`);
		return page.total;
	} finally {
		store.close();
	}
}

/** Files per stored call, values included (statistics journals and tool indexes not counted). */
function filesPerCall(root: string): number {
	const count = (dir: string) => readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n)).length;
	return (count(join(root, 'calls')) + count(join(root, 'values'))) / count(join(root, 'calls'));
}

/** Measures the tools and stores on the 100,000-call fixture. */
export async function scaleBench(report: Report): Promise<void> {
	console.log(`\ntools and stores at ${CALLS.toLocaleString('en')} calls (${FUNCTIONS} functions; fixture in .cache/bench/scale-100k)`);
	fixture();
	const stores = [
		['file', fileStore],
		['sql', sqlStore],
	] as const;

	for (const [kind, root] of stores) {
		firstScreen(root); // a first open may build what later opens reuse; the rows are about a store already seen
		const screen = await report.run(`scale ${kind}`, 'first screen: open + functions + page of 100', () => firstScreen(root), { ops: 1, samples: 5 });
		report.target(`editor first screen, ${kind} store, 100,000 calls`, screen.nsPerOp / 1e6, 200, {
			value: formatNs(screen.nsPerOp),
			goal: '≤ 200 ms',
			note: 'openStore → functions() → calls(first function, 100) → close, in this process (fleche/inspect, as the tree does)',
		});
	}

	for (const [kind, root] of stores) {
		const { ls, empty, lines } = lsProcess(root, 5);
		report.target(`fleche ls, ${kind} store, 100,000 calls`, ls, 500, {
			value: `${ls.toFixed(0)} ms`,
			goal: '≤ 0.5 s whole process',
			note: `median of 5, interleaved with an empty node process (${empty.toFixed(0)} ms); ${lines} lines printed`,
		});
	}

	const values = new ValueFile({ root: join(fileStore, 'values') });
	for (const [kind, calls] of [
		['file', new CallFile({ root: join(fileStore, 'calls') })],
		['sql', new CallSql({ path: join(sqlStore, 'calls.db') })],
	] as const) {
		const store = new Cache(values, calls);
		try {
			let found = 0;
			const q = await report.run(
				`scale ${kind}`,
				'query({ name }) (1,000 of 100,000)',
				(i) => {
					found = store.query({ name: `fn${i % FUNCTIONS}` }).count();
					if (found !== CALLS / FUNCTIONS) throw new Error(`query found ${found}`);
				},
				{ ops: 1, samples: 7 },
			);
			report.target(`query by name, ${kind} store, 100,000 calls`, q.nsPerOp / 1e6, 50, {
				value: formatNs(q.nsPerOp),
				goal: '≤ 50 ms',
				note: `${found} records returned (checked), on an open cache`,
			});
		} finally {
			(calls as { close?: () => void }).close?.();
		}
	}

	// Saves through fleche(fn), values included, into a copy of the 100,000-call SQL store; the final flush is timed.
	const dir = mkdtempSync(join(tmpdir(), 'fleche-scalebench-'));
	try {
		for (const name of readdirSync(sqlStore)) if (name.startsWith('calls.db')) copyFileSync(join(sqlStore, name), join(dir, name));
		const sqlCalls = new CallSql({ path: join(dir, 'calls.db') });
		const target = new Cache(new ValueFile({ root: join(dir, 'values') }), sqlCalls);
		const fns = workFunctions();
		const SAVES = 3000;
		let rate = 0;
		cache(target, () => {
			using _ = meta(new Runtime());
			sqlCalls.contains('0'.repeat(64)); // the worker started and the store loaded: the rate is of saves alone
			const t0 = performance.now();
			for (let i = 0; i < SAVES; i++) fns[i % FUNCTIONS]!(CALLS + i, `new ${i}`);
			sqlCalls.flush();
			rate = SAVES / ((performance.now() - t0) / 1000);
		});
		sqlCalls.close();
		report.target(
			'SQL saves through fleche(fn) into 100,000 calls',
			rate,
			2000,
			{
				value: `${rate.toFixed(0)}/s`,
				goal: '≥ 2,000/s',
				note: `${SAVES} misses of a small function, default metadata, values in files, final flush timed`,
			},
			true,
		);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}

	const perCall = filesPerCall(fileStore);
	report.target('files per cached call, file store', perCall, 2, {
		value: perCall.toFixed(2),
		goal: '1–2 files',
		note: 'call record + argument and result values of a call (a, b) → string',
	});
}
