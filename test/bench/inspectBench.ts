// Bench of fleche/inspect over a file store of 100,000 calls (docs/behaviour.md §12, responsive with
// 100,000 cached calls): what the extension and the CLI pay to list a store when they start, and what an open editor
// pays to list it again after another process wrote a call. The peer is the bare work any tool without an index does:
// list the calls folder and JSON.parse every call file.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cache, fileCache, fleche, meta, Runtime } from 'fleche';
import { openStore } from 'fleche/inspect';
import { formatNs, scratchDir } from './harness.ts';
import type * as reportModule from './report.ts';

type Report = Pick<typeof reportModule, 'run' | 'target' | 'info'>;

const CALLS = 100_000;
const FUNCTIONS = 100;
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The store a project would have: real cached calls with Runtime metadata, values in their own files. */
function fill(root: string): void {
	const fns = Array.from({ length: FUNCTIONS }, (_, f) => fleche((a: number, b: string) => `${b}:${a * f}`, { name: `fn${f}`, module: 'src/work.ts' }));
	cache(fileCache(root), () => {
		using _ = meta(new Runtime());
		for (let i = 0; i < CALLS; i++) fns[i % FUNCTIONS]!(i, `text ${i}`);
	});
}

/** First screen of the view: the function list, then the first page of one function's calls. */
function firstScreen(root: string): void {
	const store = openStore(root);
	try {
		const fns = store.functions();
		store.calls({ module: fns[0]!.module, name: fns[0]!.name }, { limit: 100 });
	} finally {
		store.close();
	}
}

/**
 * An open store (the editor's tree) lists again after another process wrote a call and its statistics: the child
 * process writes and flushes, the store's watch listener fires, then `functions()` and the first page are timed.
 */
async function relist(report: Report, dir: string): Promise<void> {
	const store = openStore(dir);
	// Watchers do not keep a process alive; the editor's event loop is kept alive by the editor.
	const alive = setInterval(() => {}, 1000);
	try {
		const fn = store.functions()[0]!;
		const first = { calls: fn.calls, misses: fn.misses };
		const times: number[] = [];
		const ROUNDS = 5;
		for (let round = 1; round <= ROUNDS; round++) {
			const heard = new Promise<void>((resolve) => {
				const sub = store.watch(
					() => {
						sub.dispose();
						resolve();
					},
					{ debounceMs: 50 },
				);
			});
			const source = `import { cache, fileCache, fleche, flushStats } from 'fleche';
				const f = fleche((a, b) => b + a, { name: ${JSON.stringify(fn.name)}, module: ${JSON.stringify(fn.module)} });
				cache(fileCache(${JSON.stringify(dir)}), () => f(${CALLS + round}, 'new'));
				flushStats();`;
			execFileSync(process.execPath, ['--input-type=module', '-e', source], { cwd: repoRoot, stdio: 'ignore' });
			await heard;
			const t0 = performance.now();
			const now = store.functions().find((f) => f.name === fn.name && f.module === fn.module)!;
			const page = store.calls(now, { limit: 100 });
			times.push(performance.now() - t0);
			if (page.total !== first.calls + round || now.misses !== first.misses + round || page.calls.length !== 100) {
				throw new Error(`re-list ${round}: ${page.total} calls, ${now.misses} misses, ${page.calls.length} shown`);
			}
		}
		const median = [...times].sort((a, b) => a - b)[times.length >> 1]!;
		report.target('inspect: re-list 100,000 file calls after another process wrote', median, 50, {
			value: `${median.toFixed(1)} ms`,
			goal: '≤ 50 ms',
			note: `functions() + calls(its function, 100) on the open store once its watch listener fired, the new call and its miss counted (checked); median of ${ROUNDS} (${times.map((t) => t.toFixed(0)).join(', ')} ms)`,
		});
	} finally {
		clearInterval(alive);
		store.close();
	}
}

/** Times inspect's cold open (no index yet) and a later open (persisted index) beside reading every call file. */
export async function inspectBench(report: Report): Promise<void> {
	console.log(`\nfleche/inspect over a file store of ${CALLS.toLocaleString('en')} calls (${FUNCTIONS} functions)`);
	const dir = scratchDir('fleche-inspectbench-');
	const t0 = performance.now();
	fill(dir);
	console.log(`  filled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
	const callsDir = join(dir, 'calls');
	const bare = await report.run('inspect 100k', 'bare: list + JSON.parse every call file', () => {
		let n = 0;
		for (const name of readdirSync(callsDir)) if (name.length === 64) n += (JSON.parse(readFileSync(join(callsDir, name), 'utf8')) as object) ? 1 : 0;
		if (n !== CALLS) throw new Error(`read ${n} calls`);
	}, { ops: 1, samples: 3 });
	// The persisted index goes to a folder of this bench's own (FLECHE_INDEX_DIR), emptied for the cold rows.
	const indexes = join(dir, 'indexes');
	const userIndexes = process.env['FLECHE_INDEX_DIR'];
	process.env['FLECHE_INDEX_DIR'] = indexes;
	const cold = await report.run('inspect 100k', 'cold open (no index): functions + first page', () => {
		rmSync(indexes, { recursive: true, force: true });
		firstScreen(dir);
	}, { ops: 1, samples: 3 });
	// The fill made the folder's mtime too recent to trust; once it is not, one more open records it.
	await new Promise((resolve) => setTimeout(resolve, 300));
	firstScreen(dir);
	const warm = await report.run('inspect 100k', 'later open (persisted index): functions + first page', () => firstScreen(dir), { ops: 1, samples: 5 });
	report.target('inspect: open 100,000 file calls again', warm.nsPerOp / 1e6, 200, {
		value: formatNs(warm.nsPerOp),
		goal: '≤ 200 ms to the first screen',
		note: `openStore → functions() → calls(first function, 100) → close; ${(bare.nsPerOp / warm.nsPerOp).toFixed(1)}× faster than reading every call file (${formatNs(bare.nsPerOp)}); cold open without an index ${formatNs(cold.nsPerOp)}`,
	});
	await relist(report, dir);
	if (userIndexes === undefined) delete process.env['FLECHE_INDEX_DIR'];
	else process.env['FLECHE_INDEX_DIR'] = userIndexes;
}
