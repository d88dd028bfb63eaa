// Bench part `scale` (docs/behaviour.md §7, §12, §13, §2.6 "SQL"): the tools and stores at 100,000 calls, measured end
// to end on real stores — `fleche ls` as a whole process, the editor tree's first screen through `fleche/inspect`, a
// query by function name, SQL saves through `fleche(fn)` — for the file store and the SQL store.
//
// Filling 100,000 calls takes minutes, so the two stores are built once into `.cache/bench/scale-100k/` (ignored by
// git) and reused by later runs; a `ready` file written last marks a complete fixture (delete the folder to rebuild).
// The file store is filled through `fleche(fn)` with default metadata (what a project's store holds); the SQL store
// gets the same records through `CallSql.put` and their values as value files of its own (the file store keeps small
// values inside its call files, docs/behaviour.md §2.6), so both list alike.
// Timed work never changes the fixture: the save rows write into copies.
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cache, CallFile, CallSql, ValueFile, cache, fileCache, fleche, flushStats, meta, recordKey, Runtime, type CallRecord } from 'fleche';
import { openStore } from 'fleche/inspect';
import { formatNs, scratchDir } from './harness.ts';
import type * as reportModule from './report.ts';

type Report = Pick<typeof reportModule, 'run' | 'target' | 'info'>;

const CALLS = 100_000;
const FUNCTIONS = 100;
/** Bumped when the SQL store's schema changes: the SQL half is then rebuilt from the file half (kept). */
const FIXTURE_FORMAT = 'scale-100k/3 sql-schema-5 call-file-2';
/** The file half's layout: the file store writes it so today (see fixture()). */
const FILE_FORMAT = 'scale-100k/3 call-file-2';

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
	const fileReady = join(fixtureRoot, 'file-ready');
	const current = (file: string, format: string): boolean => existsSync(file) && readFileSync(file, 'utf8').trim() === format;
	if (current(ready, FIXTURE_FORMAT) && current(fileReady, FILE_FORMAT)) return;
	// The file half is kept across SQL schema changes, but rebuilt when the file store's layout changed (a user's store
	// is written in today's layout: small values inside the call file since `fleche.call/2`).
	if (!current(fileReady, FILE_FORMAT)) {
		rmSync(fixtureRoot, { recursive: true, force: true });
		console.log(`  building the ${CALLS.toLocaleString('en')}-call fixture in ${fixtureRoot} (once; minutes)…`);
		const t0 = performance.now();
		const fns = workFunctions();
		cache(fileCache(fileStore), () => {
			using _ = meta(new Runtime());
			for (let i = 0; i < CALLS; i++) fns[i % FUNCTIONS]!(i, `text ${i}`);
			// Hits too, so the statistics journals hold what a used store holds.
			for (let i = 0; i < CALLS; i += 10) fns[i % FUNCTIONS]!(i, `text ${i}`);
			flushStats();
		});
		console.log(`  file store filled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
	}
	writeFileSync(fileReady, `${FILE_FORMAT}\n`);
	rmSync(ready, { force: true });
	rmSync(sqlStore, { recursive: true, force: true });
	mkdirSync(sqlStore, { recursive: true });
	const t0 = performance.now();
	const sql = new CallSql({ path: join(sqlStore, 'calls.db') });
	const source = fileCache(fileStore);
	const values = new ValueFile({ root: join(sqlStore, 'values') });
	for (const record of source.records()) {
		sql.put(record);
		for (const digest of [...Object.values(record.arguments), record.result]) if (digest !== null) values.put(digest, source.loadValue(digest));
	}
	sql.addStats(new CallFile({ root: join(fileStore, 'calls') }).stats());
	sql.flush();
	sql.compact();
	sql.close();
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

const repoRoot = join(here, '..', '..');

/**
 * Runs an ES module `source` in a fresh node process (from the repository, so `fleche` resolves), interleaved with an
 * empty node process; medians in ms, and the last run's printed JSON.
 */
function freshProcess(source: string, rounds: number): { ms: number; empty: number; out: Record<string, unknown> } {
	const times: number[] = [];
	const empty: number[] = [];
	let out: Record<string, unknown> = {};
	for (let round = 0; round < rounds; round++) {
		let t0 = performance.now();
		execFileSync(process.execPath, ['-e', '0'], { stdio: 'ignore' });
		empty.push(performance.now() - t0);
		t0 = performance.now();
		const text = execFileSync(process.execPath, ['--input-type=module', '-e', source], { encoding: 'utf8', cwd: repoRoot });
		times.push(performance.now() - t0);
		out = JSON.parse(text.trim().split('\n').pop()!) as Record<string, unknown>;
	}
	return { ms: median(times), empty: median(empty), out };
}

/** A record of the bench's shape for call `i` of the 100,000-call fixture's functions (not stored there). */
function freshRecord(i: number): CallRecord {
	const hex = (salt: string): string => (salt + i.toString(16)).padStart(64, '0').slice(-64);
	const identity = { name: `fn${i % FUNCTIONS}`, module: 'src/work.ts', version: null, codeDigest: null, arguments: { a: hex('a'), b: hex('b') } };
	return { key: recordKey(identity), ...identity, result: hex('c'), metadata: { runtime: { timestart: 1.7e9 + i, timestop: 1.7e9 + i + 0.001 } } };
}

/**
 * A private copy of the SQL fixture's database and log in a new scratch folder (timed work never changes the
 * fixture), written through to the disk before it is used (its write-back would be billed to the timed work that
 * follows it) and removed only when the bench ends ({@link scratchDir}).
 */
function sqlCopy(): string {
	const dir = scratchDir('fleche-scalebench-');
	for (const name of readdirSync(sqlStore)) {
		if (!name.startsWith('calls.db')) continue;
		copyFileSync(join(sqlStore, name), join(dir, name));
		const fd = openSync(join(dir, name), 'r');
		try {
			fsyncSync(fd);
		} finally {
			closeSync(fd);
		}
	}
	return dir;
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
	// No `values` folder at all when every value went inside its call file.
	const count = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n)).length : 0);
	return (count(join(root, 'calls')) + count(join(root, 'values'))) / count(join(root, 'calls'));
}

/**
 * What a tool that only reads could have changed in a file store: the folders' mtimes (any file created, renamed or
 * removed in them) and every file of the statistics and lease folders (CallFile never writes a file in place).
 */
function storeStamp(root: string): string {
	const parts: string[] = [];
	for (const dir of ['calls', 'values', join('calls', '.stats'), join('calls', '.leases')]) {
		const path = join(root, dir);
		if (!existsSync(path)) continue;
		parts.push(`${dir} ${statSync(path).mtimeMs}`);
		if (dir.includes('.'))
			for (const name of readdirSync(path).sort()) parts.push(`${dir}/${name} ${statSync(join(path, name)).size} ${statSync(join(path, name)).mtimeMs}`);
	}
	return parts.join('\n');
}

/** Measures the tools and stores on the 100,000-call fixture. */
export async function scaleBench(report: Report): Promise<void> {
	await scaleRows(report);
}

async function scaleRows(report: Report): Promise<void> {
	console.log(`\ntools and stores at ${CALLS.toLocaleString('en')} calls (${FUNCTIONS} functions; fixture in .cache/bench/scale-100k)`);
	fixture();
	const stores = [
		['file', fileStore],
		['sql', sqlStore],
	] as const;

	const before = storeStamp(fileStore);
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
	if (storeStamp(fileStore) !== before) throw new Error('the file store changed while tools only read it');
	report.info(
		'tools that only read write nothing into the file store',
		'nothing written (checked)',
		'first screens and `fleche ls` runs above: the calls and values folders, statistics journals and leases are as they were (their index lives in the user cache folder)',
	);

	for (const [kind, root, calls] of [
		['file', fileStore, new CallFile({ root: join(fileStore, 'calls') })],
		['sql', sqlStore, new CallSql({ path: join(sqlStore, 'calls.db') })],
	] as const) {
		const store = new Cache(new ValueFile({ root: join(root, 'values') }), calls);
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

	// The editor's first screen in a fresh process: the peak memory a tool pays for opening the SQL store.
	const screenSource = `import { openStore } from 'fleche/inspect';
		const store = openStore(${JSON.stringify(sqlStore)});
		const fns = store.functions();
		const page = store.calls(fns[0], { limit: 100 });
		store.close();
		console.log(JSON.stringify({ calls: page.calls.length, maxRssMB: process.resourceUsage().maxRSS / 1024 }));`;
	const screenProcess = freshProcess(screenSource, 3);
	const rss = Number(screenProcess.out['maxRssMB']);
	report.target('editor first screen peak RSS, sql store, 100,000 calls', rss, 300, {
		value: `${rss.toFixed(0)} MB`,
		goal: '≤ 300 MB',
		note: `peak RSS (worker thread included) of a fresh process that opens the store, lists functions and a page of ${String(screenProcess.out['calls'])}; that process took ${screenProcess.ms.toFixed(0)} ms whole (empty node ${screenProcess.empty.toFixed(0)} ms)`,
	});

	// Hits on calls this process never touched: random keys, each read once, through a warm worker.
	{
		const calls = new CallSql({ path: join(sqlStore, 'calls.db') });
		try {
			const keys = calls.list();
			if (keys.length !== CALLS) throw new Error(`hits: ${keys.length} keys`);
			calls.contains(keys[0]!);
			const untouched: number[] = [];
			for (let i = 0; i < 2000; i++) {
				const key = keys[(i * 7919 + 1) % keys.length]!;
				const t0 = performance.now();
				calls.get(key);
				untouched.push(performance.now() - t0);
			}
			const repeated: number[] = [];
			for (let i = 0; i < 2000; i++) {
				const t0 = performance.now();
				calls.get(keys[1]!);
				repeated.push(performance.now() - t0);
			}
			const us = median(untouched) * 1000;
			report.target('SQL hit on an untouched call, 100,000 calls', us, 100, {
				value: `${us.toFixed(0)} µs`,
				goal: '≤ 100 µs',
				note: `CallSql.get of 2,000 random keys, each once, median (record checked; value read not included); the same key again: ${(median(repeated) * 1000).toFixed(1)} µs`,
			});
		} finally {
			calls.close();
		}
	}

	// Misses on keys never stored, once the worker's key-presence filter is filled: answered in this thread.
	{
		const calls = new CallSql({ path: join(sqlStore, 'calls.db') });
		try {
			const absent = (i: number): string => freshRecord(10 * CALLS + i).key;
			calls.contains(absent(0)); // the first miss asks the worker for its filter, which it fills between requests
			const fill = performance.now();
			let first = 0;
			const misses: number[] = [];
			for (let i = 1; misses.length < 2000; i++) {
				const t0 = performance.now();
				if (calls.contains(absent(i))) throw new Error('an absent key was found');
				const ms = performance.now() - t0;
				// Until the filter is complete, misses ask the worker: counted apart, as the time the filling took.
				if (first === 0 && ms > 0.1) continue;
				if (first === 0) first = performance.now() - fill;
				misses.push(ms);
			}
			report.info(
				'SQL miss on a key never stored, 100,000 calls',
				`${(median(misses) * 1000).toFixed(1)} µs`,
				`contains() of 2,000 new keys once the worker's key-presence filter is filled (about ${first.toFixed(0)} ms after the first miss, misses meanwhile asking the worker), median; p90 ${(misses.sort((a, b) => a - b)[1800]! * 1000).toFixed(1)} µs`,
			);
		} finally {
			calls.close();
		}
	}

	// Misses right after this process's own puts: the worker answers them from its queue's index, without applying them.
	{
		const dir = sqlCopy();
		const calls = new CallSql({ path: join(dir, 'calls.db') });
		try {
			calls.contains('0'.repeat(64));
			const misses: number[] = [];
			for (let i = 0; i < 2000; i++) {
				calls.put(freshRecord(CALLS + 2 * i));
				const t0 = performance.now();
				calls.contains(freshRecord(CALLS + 2 * i + 1).key);
				misses.push(performance.now() - t0);
			}
			const ms = median(misses);
			report.info(
				'SQL miss right after this process’s own put, 100,000 calls',
				`${(ms * 1000).toFixed(0)} µs`,
				`contains() of a new key after each of 2,000 puts, median; p90 ${(misses.sort((a, b) => a - b)[1800]! * 1000).toFixed(0)} µs`,
			);
		} finally {
			calls.close();
		}
	}

	// One hit in a fresh process: import fleche, open the SQL store, read one call record and its value.
	{
		const probe = new CallSql({ path: join(sqlStore, 'calls.db') });
		const key = probe.list()[12_345]!;
		probe.close();
		const hitSource = `import { CallSql, ValueFile } from 'fleche';
			const calls = new CallSql({ path: ${JSON.stringify(join(sqlStore, 'calls.db'))} });
			const record = calls.get(${JSON.stringify(key)});
			const value = new ValueFile({ root: ${JSON.stringify(join(sqlStore, 'values'))} }).get(record.result);
			calls.close();
			console.log(JSON.stringify({ value: typeof value, maxRssMB: process.resourceUsage().maxRSS / 1024 }));`;
		const hit = freshProcess(hitSource, 5);
		if (hit.out['value'] !== 'string') throw new Error(`fresh-process hit read ${JSON.stringify(hit.out)}`);
		report.target('one SQL hit in a fresh process, 100,000 calls', hit.ms, 300, {
			value: `${hit.ms.toFixed(0)} ms`,
			goal: '≤ 300 ms',
			note: `whole process (node start, import fleche, open, one record + its value), median of 5 interleaved with an empty node process (${hit.empty.toFixed(0)} ms); peak RSS ${Number(hit.out['maxRssMB']).toFixed(0)} MB`,
		});
	}

	// Saves through fleche(fn), values included, into a copy of the 100,000-call SQL store; the final flush is timed.
	// Median of three rounds, each into a fresh copy.
	const SAVES = 3000;
	const rates: number[] = [];
	// Copied (and written through) before the first round: no round pays for the next one's copy.
	const roundDirs = [sqlCopy(), sqlCopy(), sqlCopy()];
	for (let round = 0; round < 3; round++) {
		const dir = roundDirs[round]!;
		const sqlCalls = new CallSql({ path: join(dir, 'calls.db') });
		const target = new Cache(new ValueFile({ root: join(dir, 'values') }), sqlCalls);
		const fns = workFunctions();
		cache(target, () => {
			using _ = meta(new Runtime());
			sqlCalls.contains('0'.repeat(64)); // the worker started and the store loaded: the rate is of saves alone
			const t0 = performance.now();
			for (let i = 0; i < SAVES; i++) fns[i % FUNCTIONS]!(CALLS + round * SAVES + i, `new ${i}`);
			sqlCalls.flush();
			rates.push(SAVES / ((performance.now() - t0) / 1000));
		});
		sqlCalls.close();
	}
	const rate = median(rates);
	report.target(
		'SQL saves through fleche(fn) into 100,000 calls',
		rate,
		2000,
		{
			value: `${rate.toFixed(0)}/s`,
			goal: '≥ 2,000/s',
			note: `${SAVES} misses of a small function per round, default metadata, values in files, final flush timed; median of 3 rounds (${rates.map((r) => r.toFixed(0)).join(', ')}/s), each into a fresh copy`,
		},
		true,
	);

	const perCall = filesPerCall(fileStore);
	report.target('files per cached call, file store', perCall, 2, {
		value: perCall.toFixed(2),
		goal: '1–2 files',
		note: 'call record + argument and result values of a call (a, b) → string',
	});
}
