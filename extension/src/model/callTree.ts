// Pure: snapshots of the stores (fleche/inspect shapes) → tree rows. callTreeProvider.ts maps each TreeNodeSpec
// one-to-one onto a vscode.TreeItem and makes no decisions of its own.
import type { CacheLocation, CallSummary, FunctionSummary } from 'fleche/inspect';
import { commandIds, treeContext } from '../constants.js';
import { countsText, formatAge, formatBytes, formatDuration, formatTimestamp, functionLabel, hitRatio, plural, truncate } from './format.js';

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

/** Function rows of a cache, by name then module. */
export function functionNodes(cache: string, functions: readonly FunctionInfo[], nowSeconds: number): TreeNodeSpec[] {
	if (functions.length === 0) return [messageNode(`${cache}:empty`, 'Nothing cached yet', 'Call a fleche-wrapped function to fill this cache.')];
	return [...functions]
		.sort((a, b) => a.name.localeCompare(b.name) || (a.module ?? '').localeCompare(b.module ?? ''))
		.map((fn) => {
			const versions = fn.versions.filter((v) => v !== null);
			return {
				id: `fn:${cache}\0${fn.module ?? ''}\0${fn.name}`,
				label: fn.name,
				description: `${fn.module ?? ''}${fn.module ? ' · ' : ''}${countsText(fn)}`,
				tooltip: [
					functionLabel(fn),
					`${countsText(fn)} (hit ratio ${hitRatio(fn.hits, fn.misses)})`,
					`computing: ${formatDuration(fn.computeSeconds)} · saved: ${formatDuration(fn.savedSeconds)}`,
					fn.lastHit === null ? 'never hit' : `last hit ${formatAge(fn.lastHit, nowSeconds)}`,
					versions.length > 0 ? `versions: ${versions.join(', ')}` : '',
				]
					.filter(Boolean)
					.join('\n'),
				contextValue: treeContext.function,
				collapsible: fn.calls > 0,
				data: { kind: 'function', cache, module: fn.module, name: fn.name },
				icon: 'symbol-function',
			};
		});
}

/** Call rows of one page, plus a "Load more…" row when more calls remain after it. */
export function callNodes(
	cache: string,
	fn: { readonly module: string | null; readonly name: string },
	page: { readonly total: number; readonly offset: number; readonly calls: readonly CallInfo[] },
	nowSeconds: number,
): TreeNodeSpec[] {
	const rows: TreeNodeSpec[] = page.calls.map((call) => callNode(cache, call, nowSeconds));
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

export function callNode(cache: string, call: CallInfo, nowSeconds: number): TreeNodeSpec {
	const argLines = Object.entries(call.args).map(([name, text]) => `  ${name} = ${text}`);
	const facts = [formatAge(call.created, nowSeconds), formatDuration(call.duration), formatBytes(call.size)];
	const data: NodeData = { kind: 'call', cache, module: call.module, name: call.name, key: call.key };
	return {
		id: `call:${cache}\0${call.key}`,
		label: call.argsText === '' ? '()' : truncate(call.argsText, 80),
		description: facts.join(' · '),
		tooltip: [
			argLines.length > 0 ? `${call.name}(\n${argLines.join('\n')}\n)` : `${call.name}()`,
			'',
			`key ${call.key}`,
			...(call.version === null ? [] : [`version ${call.version}`]),
			`created ${formatTimestamp(call.created)}`,
			`took ${formatDuration(call.duration)} · result ${formatBytes(call.size)}`,
			`${plural(call.hits, 'hit')} · ${plural(call.misses, 'miss', 'misses')}${call.lastHit === null ? '' : ` · last hit ${formatAge(call.lastHit, nowSeconds)}`}`,
		].join('\n'),
		contextValue: treeContext.call,
		collapsible: false,
		data,
		icon: 'symbol-event',
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
