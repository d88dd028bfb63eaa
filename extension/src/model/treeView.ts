// Pure: how the Fleche view is narrowed and ordered (the Filter… and Sort By… commands of its title bar). The
// provider keeps one TreeViewOptions and hands it to model/callTree.ts, which applies it to every listing.

/** Orders of the function rows under a cache. */
export const functionSorts = {
	name: 'Name',
	hits: 'Most hits',
	calls: 'Most cached calls',
	recent: 'Most recently hit',
	saved: 'Most time saved',
} as const;

export type FunctionSort = keyof typeof functionSorts;

/** What the view shows: function rows whose name or module contain `filter` (case-insensitive), in `sort` order. */
export interface TreeViewOptions {
	readonly filter: string;
	readonly sort: FunctionSort;
}

export const defaultTreeView: TreeViewOptions = { filter: '', sort: 'name' };

/** What ordering and filtering read of a function row. */
export interface SortableFunction {
	readonly module: string | null;
	readonly name: string;
	readonly calls: number;
	readonly hits: number;
	readonly lastHit: number | null;
	readonly savedSeconds: number;
}

/** Whether a function row matches the filter text (empty text matches everything). */
export function matchesFilter(fn: Pick<SortableFunction, 'module' | 'name'>, filter: string): boolean {
	const needle = filter.trim().toLowerCase();
	if (needle === '') return true;
	return fn.name.toLowerCase().includes(needle) || (fn.module ?? '').toLowerCase().includes(needle);
}

const byName = (a: SortableFunction, b: SortableFunction): number => a.name.localeCompare(b.name) || (a.module ?? '').localeCompare(b.module ?? '');

/** Larger first; ties by name so the order never depends on the store's listing order. */
function descending(value: (fn: SortableFunction) => number): (a: SortableFunction, b: SortableFunction) => number {
	return (a, b) => value(b) - value(a) || byName(a, b);
}

const comparators: Record<FunctionSort, (a: SortableFunction, b: SortableFunction) => number> = {
	name: byName,
	hits: descending((fn) => fn.hits),
	calls: descending((fn) => fn.calls),
	recent: descending((fn) => fn.lastHit ?? -Infinity),
	saved: descending((fn) => fn.savedSeconds),
};

/** The rows to show, filtered and ordered; the input is left as it was. */
export function arrangeFunctions<F extends SortableFunction>(functions: readonly F[], view: TreeViewOptions): F[] {
	return functions.filter((fn) => matchesFilter(fn, view.filter)).sort(comparators[view.sort]);
}

/** The view's message line: `Filter "add" · most hits`, or undefined when nothing narrows or reorders it. */
export function viewSummary(view: TreeViewOptions): string | undefined {
	const parts: string[] = [];
	if (view.filter.trim() !== '') parts.push(`Filter "${view.filter.trim()}"`);
	if (view.sort !== 'name') parts.push(`sorted by ${functionSorts[view.sort].toLowerCase()}`);
	return parts.length === 0 ? undefined : parts.join(' · ');
}

/**
 * The workspace glob that finds the file a function's module names (`src/math.ts` under any folder), with the
 * glob's special characters escaped so a module path is matched literally; undefined for a module-less identity.
 */
export function definitionGlob(module: string | null): string | undefined {
	if (module === null || module === '') return undefined;
	const literal = module.replace(/\\/g, '/').replace(/[[\]{}*?]/g, (c) => `[${c}]`);
	return `**/${literal}`;
}
