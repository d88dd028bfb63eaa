// Pure: fleche sites + statistics → what each CodeLens shows and does.
import { join } from 'node:path';
import { commandIds } from '../constants.js';
import { identityKey, type FlecheSite } from './flecheSites.js';
import { lensTitle, type Counts } from './format.js';

/** Statistics of one function, summed over the caches of the workspace folder. */
export interface FunctionCounts extends Counts {
	readonly module: string | null;
	readonly name: string;
}

/** What a lens shows; `codeLensProvider.ts` maps it one-to-one onto a `vscode.CodeLens`. */
export interface LensSpec {
	readonly line: number;
	readonly column: number;
	readonly title: string;
	readonly tooltip: string;
	readonly command: string;
	readonly args: readonly unknown[];
}

/** Arguments of the `fleche.lensActions` command a lens runs. */
export interface LensTarget {
	readonly module: string | null;
	readonly name: string;
	/** The document the lens sits in, as a URI string (for the folder whose caches count). */
	readonly uri: string;
}

/** Sums counts of the same identity across several caches. */
export function mergeCounts(lists: readonly (readonly FunctionCounts[])[]): Map<string, FunctionCounts> {
	const out = new Map<string, FunctionCounts>();
	for (const list of lists) {
		for (const fn of list) {
			const key = identityKey(fn);
			const prev = out.get(key);
			const running = (prev?.running ?? 0) + (fn.running ?? 0);
			out.set(key, {
				module: fn.module,
				name: fn.name,
				hits: (prev?.hits ?? 0) + fn.hits,
				misses: (prev?.misses ?? 0) + fn.misses,
				calls: (prev?.calls ?? 0) + fn.calls,
				...(running > 0 ? { running } : {}),
			});
		}
	}
	return out;
}

const zero: Counts = { hits: 0, misses: 0, calls: 0 };

/**
 * Compiled files of a source file, as modules: calls a runtime recorded under `dist/math.js` before identities
 * followed source maps belong to `src/math.ts` (docs/behaviour.md §15.1), and its lenses count them.
 */
export interface CompiledModules {
	/** The document's own module (`src/math.ts`): only sites with this module take the compiled modules' counts. */
	readonly module: string;
	/** Modules whose compiled file's source map names the document (`dist/math.js`). */
	readonly from: readonly string[];
}

/**
 * The modules among `counted` that are compiled from the document `file`: `.js`/`.mjs`/`.cjs` modules of its package
 * (`root`) whose source map, as `sourcesOf` reads it from disk, lists `file` among its sources.
 */
export function compiledModulesOf(file: string, root: string, counted: Iterable<string | null>, sourcesOf: (compiled: string) => readonly string[]): string[] {
	const out = new Set<string>();
	for (const module of counted) {
		if (module === null || out.has(module) || !/\.[cm]?js$/.test(module)) continue;
		if (sourcesOf(join(root, ...module.split('/'))).includes(file)) out.add(module);
	}
	return [...out];
}

function add(a: Counts, b: Counts | undefined): Counts {
	if (b === undefined) return a;
	const running = (a.running ?? 0) + (b.running ?? 0);
	return { hits: a.hits + b.hits, misses: a.misses + b.misses, calls: a.calls + b.calls, ...(running > 0 ? { running } : {}) };
}

/**
 * One lens per site: counts of the function with exactly that identity (zeros until it is first called), plus, for
 * a site whose module is the document's, those recorded under the same name in its `compiled` modules.
 */
export function lensSpecs(sites: readonly FlecheSite[], counts: ReadonlyMap<string, Counts>, uri: string, compiled?: CompiledModules): LensSpec[] {
	return sites.map((site) => {
		let c = counts.get(identityKey(site)) ?? zero;
		const also: string[] = [];
		if (compiled !== undefined && site.module === compiled.module) {
			for (const module of compiled.from) {
				const old = counts.get(identityKey({ module, name: site.name }));
				if (old === undefined) continue;
				c = add(c, old);
				also.push(`${old.calls} recorded as ${module}`);
			}
		}
		const target: LensTarget = { module: site.module, name: site.name, uri };
		const note =
			also.length === 0 ? '' : ` (counts include calls of its compiled code: ${also.join(', ')}; \`fleche rekey --source-maps\` moves them to ${site.module})`;
		return {
			line: site.line,
			column: site.column,
			title: lensTitle(c),
			tooltip: `${site.module === null ? '' : `${site.module} · `}${site.name}: rerun, invalidate, explain a miss…${note}`,
			command: commandIds.lensActions,
			args: [target],
		};
	});
}

/** The entries of the quick pick a lens opens, in order; `id` says what each does. */
export interface LensAction {
	readonly id: 'runWithArguments' | 'rerunCall' | 'rerunAll' | 'evictFunction' | 'explainMiss' | 'showInTree' | 'showDetails';
	readonly label: string;
	readonly description?: string;
}

export function lensActions(counts: Counts): LensAction[] {
	const actions: LensAction[] = [{ id: 'runWithArguments', label: '$(play) Run with new arguments…', description: 'a hit if cached, else run and stored' }];
	if (counts.calls > 0) {
		actions.push(
			{ id: 'rerunCall', label: '$(debug-rerun) Rerun a cached call…' },
			{ id: 'rerunAll', label: `$(run-all) Rerun all ${counts.calls} cached calls` },
			{ id: 'evictFunction', label: `$(trash) Invalidate ${counts.calls === 1 ? 'the cached call' : `all ${counts.calls} cached calls`}` },
		);
	}
	actions.push({ id: 'explainMiss', label: '$(question) Explain a miss…', description: 'why would a call not hit the cache' });
	if (counts.calls > 0) {
		actions.push({ id: 'showDetails', label: '$(graph) Show function details' }, { id: 'showInTree', label: '$(list-tree) Show in Fleche view' });
	}
	return actions;
}
