// Bench of the extension's side (docs/behaviour.md §7, §14): the time to build what the Fleche view and the CodeLenses show for
// 100,000 stored calls, with the extension's pure model (extension/src/model). Its input is what fleche/inspect
// returns (FunctionSummary / CallSummary shapes), generated here: reading a store is the SQL/file benches' part.
import { cacheNodes, callNodes, functionNodes, type CallInfo, type FunctionInfo } from '../../extension/src/model/callTree.js';
import { lensSpecs, mergeCounts } from '../../extension/src/model/codeLens.js';
import { findFlecheSites } from '../../extension/src/model/flecheSites.js';
import { formatNs } from './harness.ts';
import { info, run } from './report.ts';

const CALLS = 100_000;
const FUNCTIONS = 100;
const PER = CALLS / FUNCTIONS;
const MODULE = 'src/work.ts';

function hex(n: number): string {
	return n.toString(16).padStart(64, '0');
}

function summaries(): { functions: FunctionInfo[]; calls: Map<string, CallInfo[]> } {
	const now = Date.now() / 1000;
	const functions: FunctionInfo[] = [];
	const calls = new Map<string, CallInfo[]>();
	for (let f = 0; f < FUNCTIONS; f++) {
		const name = `fn${f}`;
		functions.push({ module: MODULE, name, calls: PER, hits: 3 * PER, misses: PER, lastHit: now - f, computeSeconds: PER * 0.01, savedSeconds: PER * 0.03, versions: [1] });
		const list: CallInfo[] = [];
		for (let c = 0; c < PER; c++) {
			const i = f * PER + c;
			list.push({
				module: MODULE,
				name,
				key: hex(i),
				version: 1,
				args: { a: String(i), b: `'text ${i}'` },
				argsText: `a=${i}, b='text ${i}'`,
				created: now - i,
				duration: 0.01,
				size: 120 + (i % 1000),
				hits: 3,
				misses: 1,
				lastHit: now - c,
			});
		}
		calls.set(name, list);
	}
	return { functions, calls };
}

/** A source file declaring the cached functions the calls belong to. */
function sourceFile(): string {
	const lines = ["import { fleche } from 'fleche';"];
	for (let f = 0; f < FUNCTIONS; f++) lines.push(`export const fn${f} = fleche((a: number, b: string): string => b.repeat(a % ${f + 1}));`);
	return lines.join('\n');
}

/** Times the tree model (roots, function rows, call rows) and the CodeLens titles over 100,000 calls. */
export async function extensionBench(): Promise<void> {
	console.log(`\nextension model over ${CALLS.toLocaleString('en')} calls (${FUNCTIONS} functions; pure model, inspect-shaped input)`);
	const { functions, calls } = summaries();
	const root = '/work/.fleche';
	const location = { name: 'default', root, kind: 'file', source: null, exists: true };
	const now = Date.now() / 1000;
	const text = sourceFile();

	const top = await run('extension', 'tree: cache + 100 function rows', () => {
		cacheNodes([{ cache: location, folder: null, totals: { calls: CALLS, functions: FUNCTIONS } }]);
		return functionNodes(root, functions, now);
	});
	const page = await run('extension', 'tree: expand a function (100 call rows)', () => {
		const list = calls.get('fn0')!;
		return callNodes(root, functions[0]!, { total: list.length, offset: 0, calls: list.slice(0, 100) }, now);
	});
	let rows = 0;
	const all = await run('extension', `tree: every one of ${CALLS.toLocaleString('en')} call rows`, () => {
		rows = 0;
		for (const fn of functions) {
			const list = calls.get(fn.name)!;
			rows += callNodes(root, fn, { total: list.length, offset: 0, calls: list }, now).length;
		}
	}, { ops: 1, samples: 5 });
	if (rows !== CALLS) throw new Error(`extension bench: ${rows} call rows built, expected ${CALLS}`);
	let titles = 0;
	const lens = await run('extension', `CodeLens: parse + ${FUNCTIONS} titles`, () => {
		const sites = findFlecheSites(text, { fileName: 'work.ts', module: MODULE }) ?? [];
		const specs = lensSpecs(sites, mergeCounts([functions]), `file://${root}/${MODULE}`);
		titles = specs.filter((s) => s.title === `fleche: ${3 * PER} hits · ${PER} misses · ${PER} cached`).length;
	}, { ops: 1, samples: 9 });
	if (titles !== FUNCTIONS) throw new Error(`extension bench: ${titles} of ${FUNCTIONS} lens titles right`);
	info(
		`extension tree model, ${CALLS.toLocaleString('en')} calls`,
		formatNs(top.nsPerOp + page.nsPerOp),
		`cache + function rows ${formatNs(top.nsPerOp)}, a function's first page ${formatNs(page.nsPerOp)}; all ${CALLS.toLocaleString('en')} call rows at once ${formatNs(all.nsPerOp)}`,
	);
	info(`extension CodeLens titles, ${CALLS.toLocaleString('en')} calls`, formatNs(lens.nsPerOp), `${FUNCTIONS} sites found by parsing (acorn), counts merged, titles made`);
}
