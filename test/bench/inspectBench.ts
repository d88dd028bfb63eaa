// Bench of fleche/inspect over a file store of 100,000 calls (docs/behaviour.md §12, responsive with
// 100,000 cached calls): what the extension and the CLI pay to list a store when they start. The peer is the bare work
// any tool without an index does: list the calls folder and JSON.parse every call file.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cache, fileCache, fleche, meta, Runtime } from 'fleche';
import { openStore } from 'fleche/inspect';
import { formatNs } from './harness.ts';
import type * as reportModule from './report.ts';

type Report = Pick<typeof reportModule, 'run' | 'target' | 'info'>;

const CALLS = 100_000;
const FUNCTIONS = 100;

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

/** Times inspect's cold open (no index yet) and a later open (persisted index) beside reading every call file. */
export async function inspectBench(report: Report): Promise<void> {
	console.log(`\nfleche/inspect over a file store of ${CALLS.toLocaleString('en')} calls (${FUNCTIONS} functions)`);
	const dir = mkdtempSync(join(tmpdir(), 'fleche-inspectbench-'));
	try {
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
		report.target('inspect: open 100,000 file calls again', warm.nsPerOp / 1e6, 1000, {
			value: formatNs(warm.nsPerOp),
			goal: '≤ 1 s to the first screen',
			note: `${(bare.nsPerOp / warm.nsPerOp).toFixed(1)}× faster than reading every call file (${formatNs(bare.nsPerOp)}); cold open without an index ${formatNs(cold.nsPerOp)}`,
		});
		if (userIndexes === undefined) delete process.env['FLECHE_INDEX_DIR'];
		else process.env['FLECHE_INDEX_DIR'] = userIndexes;
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}
