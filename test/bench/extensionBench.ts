// Bench of the extension's side (issue 5): with 100,000 calls stored, the time to build what the Fleche view and
// the CodeLenses show, through the same path the extension takes: fleche/inspect → extension/src/model (pure).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallSql, recordKey, type CallRecord } from 'fleche';
import { openStore } from 'fleche/inspect';
import { cacheNodes, callNodes, functionNodes } from '../../extension/src/model/callTree.js';
import { lensSpecs, mergeCounts } from '../../extension/src/model/codeLens.js';
import { findFlecheSites } from '../../extension/src/model/flecheSites.js';
import { formatNs } from './harness.ts';
import { info, run } from './report.ts';

const CALLS = 100_000;
const FUNCTIONS = 100;

function hex(n: number, salt: string): string {
	return (salt + n.toString(16)).padStart(64, '0').slice(-64);
}

function callRecord(i: number): CallRecord {
	const identity = { name: `fn${i % FUNCTIONS}`, module: 'src/work.ts', version: 1, codeDigest: null, arguments: { a: hex(i, 'a'), b: hex(i, 'b') } };
	return { key: recordKey(identity), ...identity, result: hex(i, 'c'), metadata: { runtime: { walltime: 0.001, host: 'bench' } } };
}

/** A source file declaring the 100 cached functions the stored calls belong to. */
function sourceFile(): string {
	const lines = ["import { fleche } from 'fleche';"];
	for (let f = 0; f < FUNCTIONS; f++) lines.push(`export const fn${f} = fleche((a: number, b: number): number => a * ${f} + b);`);
	return lines.join('\n');
}

/** Fills a SQL store with 100,000 calls of 100 functions, then times the tree model and the lens titles. */
export async function extensionBench(): Promise<void> {
	console.log(`\nextension model over ${CALLS.toLocaleString('en')} stored calls (${FUNCTIONS} functions, SQL store)`);
	const root = mkdtempSync(join(tmpdir(), 'fleche-extbench-'));
	try {
		mkdirSync(join(root, 'values'));
		const calls = new CallSql({ path: join(root, 'calls.db') });
		for (let i = 0; i < CALLS; i++) calls.put(callRecord(i));
		calls.compact();
		calls.close();
		const now = Date.now() / 1000;
		const text = sourceFile();

		let rows = 0;
		// What the view does on refresh: open the store, list caches and functions (the roots and their children).
		const tree = await run('extension', 'tree: open + caches + functions', () => {
			const store = openStore(root);
			try {
				const totals = store.totals();
				const roots = cacheNodes([{ cache: store.location, folder: null, totals }]);
				const fns = functionNodes(root, store.functions(), now);
				rows = roots.length + fns.length;
			} finally {
				store.close();
			}
		}, { ops: 1, samples: 3 });
		const store = openStore(root);
		try {
			const fns = store.functions();
			const fn = fns[0]!;
			// Expanding one function: its first page of call rows.
			const page = await run('extension', 'tree: expand a function (first 100 calls)', () => {
				const p = store.calls(fn, { offset: 0, limit: 100 });
				return callNodes(root, fn, { total: p.total, offset: 0, calls: p.calls }, now);
			}, { ops: 1, samples: 5 });
			// What the lens provider does per document: find the sites, sum the counts, make the titles.
			let titles = 0;
			const lens = await run('extension', `CodeLens titles (${FUNCTIONS} sites)`, () => {
				const sites = findFlecheSites(text, { fileName: 'work.ts', module: 'src/work.ts' }) ?? [];
				const specs = lensSpecs(sites, mergeCounts([store.functions()]), 'file:///src/work.ts');
				titles = specs.filter((s) => s.title.endsWith(`${CALLS / FUNCTIONS} cached`)).length;
			}, { ops: 1, samples: 3 });
			if (titles !== FUNCTIONS) throw new Error(`extension bench: ${titles} lens titles counted the stored calls, expected ${FUNCTIONS}`);
			info(
				`extension tree, ${CALLS.toLocaleString('en')} calls`,
				formatNs(tree.nsPerOp),
				`${rows} root+function rows from a cold open; then expanding a function (first page of 100 call rows) ${formatNs(page.nsPerOp)}`,
			);
			info(`extension CodeLens titles, ${CALLS.toLocaleString('en')} calls`, formatNs(lens.nsPerOp), `${FUNCTIONS} sites parsed (acorn) and counted from the open store`);
		} finally {
			store.close();
		}
	} finally {
		rmSync(root, { recursive: true, force: true });
	}
}
