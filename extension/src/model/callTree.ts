// Pure: snapshots of the stores (fleche/inspect shapes) → tree rows. callTreeProvider.ts maps each TreeNodeSpec
// one-to-one onto a vscode.TreeItem and makes no decisions of its own.
import type { CacheLocation, CallSummary, FunctionSummary } from 'fleche/inspect';
import { commandIds, treeContext } from '../constants.js';
import { countsText, formatAge, formatBytes, formatDuration, formatTimestamp, functionLabel, hitRatio, markdownCode, plural, truncate } from './format.js';
import { arrangeFunctions, defaultTreeView, viewSummary, type TreeViewOptions } from './treeView.js';

/** What the tree needs of a `CacheLocation`. */
export type CacheInfo = Pick<CacheLocation, 'name' | 'root' | 'kind' | 'source' | 'exists'>;

/** What the tree needs of a `FunctionSummary`. */
export type FunctionInfo = Pick<
	FunctionSummary,
	'module' | 'name' | 'calls' | 'hits' | 'misses' | 'lastHit' | 'computeSeconds' | 'savedSeconds' | 'versions'
>;

/** What the tree needs of a `CallSummary`. */
export type CallInfo = Pick<
	CallSummary,
	'module' | 'name' | 'key' | 'version' | 'args' | 'argsText' | 'created' | 'duration' | 'size' | 'hits' | 'misses' | 'lastHit'
>;

export type NodeData =
	| { readonly kind: 'cache'; readonly cache: string; readonly folder: string | null }
	| { readonly kind: 'function'; readonly cache: string; readonly module: string | null; readonly name: string }
	| { readonly kind: 'call'; readonly cache: string; readonly module: string | null; readonly name: string; readonly key: string }
	| { readonly kind: 'more'; readonly cache: string; readonly module: string | null; readonly name: string; readonly offset: number }
	| { readonly kind: 'message' };

/** A tree row (the contract's TreeNodeSpec, plus an icon and a click command). */
export interface TreeNodeSpec {
	readonly id: string;
	readonly label: string;
	readonly description?: string;
	readonly tooltip?: string;
	/** The hover as Markdown (store contents only inside code blocks); the plain `tooltip` says the same. */
	readonly markdown?: string;
	readonly contextValue: string;
	readonly collapsible: boolean;
	/** Expanded at first (only caches, so a single store shows its functions at once). */
	readonly expanded?: boolean;
	readonly data?: NodeData;
	/** A codicon id (`database`, `symbol-function`, …). */
	readonly icon?: string;
	readonly command?: { readonly id: string; readonly title: string; readonly args: readonly unknown[] };
}

/** The id a cache goes by in commands and node data: its root folder, else its name. */
export function cacheId(cache: CacheInfo): string {
	return cache.root ?? cache.name;
}

/** Root rows: one per cache; with a single workspace folder, `folder` is left out of labels. */
export function cacheNodes(
	caches: readonly { readonly cache: CacheInfo; readonly folder: string | null; readonly totals?: { calls: number; functions: number } | null; readonly error?: string }[],
): TreeNodeSpec[] {
	const many = new Set(caches.map((c) => c.folder)).size > 1;
	return caches.map(({ cache, folder, totals, error }) => {
		const id = `cache:${cacheId(cache)}`;
		const label = cache.name === 'default' && cache.source === null ? '.fleche' : cache.name;
		const where = [many && folder ? folder : null, cache.kind].filter(Boolean).join(' · ');
		const tooltip = [`${label} (${cache.kind})`, cache.root ?? '', cache.source ? `declared in ${cache.source}` : 'default store'].filter(Boolean).join('\n');
		if (error !== undefined) {
			return {
				id,
				label,
				description: `${where} · error`,
				tooltip: `${tooltip}\n\n${error}`,
				contextValue: `${treeContext.cache}+error`,
				collapsible: true,
				expanded: true,
				data: { kind: 'cache', cache: cacheId(cache), folder },
				icon: 'warning',
			};
		}
		const description = totals
			? `${where} · ${plural(totals.functions, 'function')} · ${totals.calls} cached`
			: cache.exists
				? where
				: `${where} · empty`;
		return {
			id,
			label,
			description,
			tooltip,
			contextValue: treeContext.cache,
			collapsible: true,
			expanded: true,
			data: { kind: 'cache', cache: cacheId(cache), folder },
			icon: 'database',
		};
	});
}

/** Call rows are labelled by their arguments, cut to this many characters so a row fits a default-width sidebar. */
const callLabelLength = 48;

/**
 * Function rows of a cache, filtered and ordered as the view says (by name then module by default). When a filter
 * hides every function, one message row says so instead of the "nothing cached" one.
 */
export function functionNodes(cache: string, functions: readonly FunctionInfo[], nowSeconds: number, view: TreeViewOptions = defaultTreeView): TreeNodeSpec[] {
	if (functions.length === 0) return [messageNode(`${cache}:empty`, 'Nothing cached yet', 'Call a fleche-wrapped function to fill this cache.')];
	const shown = arrangeFunctions(functions, view);
	if (shown.length === 0) {
		return [messageNode(`${cache}:filtered`, `No function matches "${view.filter.trim()}"`, `${plural(functions.length, 'function')} hidden by the filter. Run "Fleche: Clear Filter" to show them.`)];
	}
	return shown.map((fn) => {
		const versions = fn.versions.filter((v) => v !== null);
		const facts = [
			`${countsText(fn)} (hit ratio ${hitRatio(fn.hits, fn.misses)})`,
			`computing: ${formatDuration(fn.computeSeconds)} · saved: ${formatDuration(fn.savedSeconds)}`,
			fn.lastHit === null ? 'never hit' : `last hit ${formatAge(fn.lastHit, nowSeconds)}`,
		];
		return {
			id: `fn:${cache}\0${fn.module ?? ''}\0${fn.name}`,
			label: fn.name,
			// The counts first: a narrow sidebar cuts the description's end, and the module is in the hover.
			description: `${countsText(fn)}${fn.module ? ` · ${fn.module}` : ''}`,
			tooltip: [functionLabel(fn), ...facts, versions.length > 0 ? `versions: ${versions.join(', ')}` : ''].filter(Boolean).join('\n'),
			markdown: [markdownCode(functionLabel(fn)), facts.join('  \n'), versions.length > 0 ? `versions:\n\n${markdownCode(versions.join(', '))}` : ''].filter(Boolean).join('\n\n'),
			contextValue: treeContext.function,
			collapsible: fn.calls > 0,
			data: { kind: 'function', cache, module: fn.module, name: fn.name },
			icon: 'symbol-function',
		};
	});
}

/** A row above a cache's functions that says how the view is narrowed or ordered; none when it is not. */
export function viewNode(cache: string, view: TreeViewOptions, shown: number, total: number): TreeNodeSpec | undefined {
	const summary = viewSummary(view);
	if (summary === undefined) return undefined;
	return {
		...messageNode(`${cache}:view`, summary, 'Fleche: Clear Filter shows every function again; Fleche: Sort Functions By… changes the order.'),
		description: `${shown} of ${plural(total, 'function')}`,
		icon: 'filter',
	};
}

/** Call rows of one page, plus a "Load more…" row when more calls remain after it. */
export function callNodes(
	cache: string,
	fn: { readonly module: string | null; readonly name: string },
	page: { readonly total: number; readonly offset: number; readonly calls: readonly CallInfo[] },
	nowSeconds: number,
): TreeNodeSpec[] {
	const current = currentVersion(page.calls);
	const rows: TreeNodeSpec[] = page.calls.map((call) => callNode(cache, call, nowSeconds, current));
	const shown = page.offset + page.calls.length;
	if (shown < page.total) {
		const data: NodeData = { kind: 'more', cache, module: fn.module, name: fn.name, offset: shown };
		rows.push({
			id: `more:${cache}\0${fn.module ?? ''}\0${fn.name}\0${shown}`,
			label: 'Load more…',
			description: `${shown} of ${page.total} shown`,
			contextValue: treeContext.more,
			collapsible: false,
			data,
			icon: 'ellipsis',
			command: { id: commandIds.loadMoreCalls, title: 'Load more', args: [data] },
		});
	}
	return rows;
}

/**
 * The version of the newest call on the page: calls stored under another version were computed by other code and
 * are shown as stale (they still hit when called with that version).
 */
function currentVersion(calls: readonly CallInfo[]): CallInfo['version'] | undefined {
	let newest: CallInfo | undefined;
	for (const call of calls) if (newest === undefined || (call.created ?? -Infinity) > (newest.created ?? -Infinity)) newest = call;
	return newest?.version;
}

export function callNode(cache: string, call: CallInfo, nowSeconds: number, current: CallInfo['version'] | undefined = call.version): TreeNodeSpec {
	const argLines = Object.entries(call.args).map(([name, text]) => `  ${name} = ${text}`);
	const signature = argLines.length > 0 ? `${call.name}(\n${argLines.join('\n')}\n)` : `${call.name}()`;
	const stale = call.version !== current;
	const facts = [
		`created ${formatAge(call.created, nowSeconds)} (${formatTimestamp(call.created)})`,
		`took ${formatDuration(call.duration)} · result ${formatBytes(call.size)}`,
		`${plural(call.hits, 'hit')} · ${plural(call.misses, 'miss', 'misses')}${call.lastHit === null ? '' : ` · last hit ${formatAge(call.lastHit, nowSeconds)}`}`,
		...(stale ? [`stale: stored by version ${String(call.version)}; the newest calls are version ${String(current)}`] : []),
	];
	const data: NodeData = { kind: 'call', cache, module: call.module, name: call.name, key: call.key };
	return {
		id: `call:${cache}\0${call.key}`,
		label: call.argsText === '' ? '()' : truncate(call.argsText, callLabelLength),
		description: [formatAge(call.created, nowSeconds), formatDuration(call.duration), plural(call.hits, 'hit')].join(' · '),
		tooltip: [
			signature,
			'',
			`key ${call.key}`,
			...(call.version === null ? [] : [`version ${call.version}`]),
			`created ${formatTimestamp(call.created)}`,
			`took ${formatDuration(call.duration)} · result ${formatBytes(call.size)}`,
			`${plural(call.hits, 'hit')} · ${plural(call.misses, 'miss', 'misses')}${call.lastHit === null ? '' : ` · last hit ${formatAge(call.lastHit, nowSeconds)}`}`,
			...(stale ? ['stale: stored by another version of the function'] : []),
		].join('\n'),
		markdown: [markdownCode(signature, 'ts'), facts.join('  \n'), markdownCode(`key ${call.key}${call.version === null ? '' : `\nversion ${call.version}`}`)].join('\n\n'),
		contextValue: stale ? `${treeContext.call}+stale` : treeContext.call,
		collapsible: false,
		data,
		icon: stale ? 'history' : 'symbol-event',
		command: { id: commandIds.showCallDetails, title: 'Show Details', args: [{ key: call.key, cache }] },
	};
}

/** A row that explains (empty cache, an unreadable store) instead of listing. */
export function messageNode(id: string, label: string, tooltip?: string): TreeNodeSpec {
	return { id: `msg:${id}`, label, ...(tooltip ? { tooltip } : {}), contextValue: treeContext.empty, collapsible: false, data: { kind: 'message' }, icon: 'info' };
}

/** The row shown under a cache that could not be read; the rest of the tree keeps working. */
export function errorNode(id: string, message: string): TreeNodeSpec {
	return {
		id: `error:${id}`,
		label: truncate(`Cannot read this cache: ${message}`, 120),
		tooltip: message,
		contextValue: treeContext.error,
		collapsible: false,
		data: { kind: 'message' },
		icon: 'error',
		command: { id: commandIds.showLog, title: 'Show Log', args: [] },
	};
}
