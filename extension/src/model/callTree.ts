// Pure: snapshots of the stores (fleche/inspect shapes) → tree rows. callTreeProvider.ts maps each TreeNodeSpec
// one-to-one onto a vscode.TreeItem and makes no decisions of its own.
import type { CacheLocation, CallInFlight, CallSummary, FunctionSummary } from 'fleche/inspect';
import { commandIds, treeContext } from '../constants.js';
import { countsText, displayText, formatAge, formatBytes, formatDuration, formatTimestamp, functionLabel, hitRatio, markdownCode, plural, truncate } from './format.js';
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
> &
	// What decides a row's state and preview; absent reads as unknown (no preview, not damaged, same code).
	Partial<Pick<CallSummary, 'codeDigest' | 'resultText' | 'damaged'>>;

/**
 * What a call row's icon says, most urgent first (docs/behaviour.md §14 lists the same):
 * - running: the call is in flight (fleche/inspect `inFlightAll`): a process computes it (it holds the call's lease,
 *   as a rerun does), or it is a job of the cache's BullMQ queue, waiting for a worker or running on one. The row
 *   says where and for how long. A call never stored before gets a row of its own under its function when its
 *   function is known (a job names it); else only the cache row counts it.
 * - damaged: the call cannot be a hit: reading its result for the row found the value missing or failing its checks
 *   (damaged, tampered, signed with another key), or its record went unreadable. Results over 64 KB are not read
 *   for the listing, so their damage shows only when the call is opened.
 * - stale: stored by other code or another version than the function's newest stored call (code digest or version
 *   differ): the function changed since, and calling it now computes anew. The newest call stands for "the current
 *   source" because the editor never imports user code to hash it.
 * - fresh: none of the above.
 */
export type CallState = 'running' | 'damaged' | 'stale' | 'fresh';

export const callStates: Readonly<Record<CallState, { readonly icon: string; readonly color?: string; readonly meaning: string }>> = {
	running: { icon: 'sync~spin', color: 'charts.blue', meaning: 'in flight: computing in a process (it holds its lease), queued, or running on a worker' },
	damaged: { icon: 'error', color: 'list.errorForeground', meaning: 'cannot be a hit: its stored result is missing or fails its checks' },
	stale: { icon: 'history', color: 'list.deemphasizedForeground', meaning: "stored by other code or another version than the function's newest call" },
	fresh: { icon: 'pass', color: 'testing.iconPassed', meaning: "stored by the same code and version as the function's newest call, its result intact" },
};

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
	/** A theme colour id for the icon (`list.errorForeground`, …). */
	readonly iconColor?: string;
	readonly command?: { readonly id: string; readonly title: string; readonly args: readonly unknown[] };
}

/** The id a cache goes by in commands and node data: its root folder, else its name. */
export function cacheId(cache: CacheInfo): string {
	return cache.root ?? cache.name;
}

/** Root rows: one per cache; with a single workspace folder, `folder` is left out of labels. */
export function cacheNodes(
	caches: readonly {
		readonly cache: CacheInfo;
		readonly folder: string | null;
		readonly totals?: { calls: number; functions: number } | null;
		/** Calls being computed now. */
		readonly running?: number;
		readonly error?: string;
		/** Why its database server cannot be reached now. */
		readonly unreachable?: string;
	}[],
): TreeNodeSpec[] {
	const many = new Set(caches.map((c) => c.folder)).size > 1;
	return caches.map(({ cache, folder, totals, running, error, unreachable }) => {
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
		if (unreachable !== undefined) {
			return {
				id,
				label,
				description: `${where} · unreachable`,
				tooltip: `${tooltip}\n\n${unreachable}\n\nListed again when it answers (or on Refresh).`,
				contextValue: `${treeContext.cache}+unreachable`,
				collapsible: true,
				expanded: true,
				data: { kind: 'cache', cache: cacheId(cache), folder },
				icon: 'debug-disconnect',
			};
		}
		const description = totals
			? `${where} · ${plural(totals.functions, 'function')} · ${totals.calls} cached${running ? ` · ${running} running` : ''}`
			: cache.exists
				? where
				: `${where} · empty`;
		return {
			id,
			label,
			description,
			tooltip: running ? `${tooltip}\n${plural(running, 'call')} being computed now` : tooltip,
			contextValue: treeContext.cache,
			collapsible: true,
			expanded: true,
			data: { kind: 'cache', cache: cacheId(cache), folder },
			icon: 'database',
		};
	});
}

/**
 * Call rows are labelled by their arguments, cut to this many characters, and the result preview in the description
 * to `resultLength`, so that label and the start of the description fit a default-width sidebar (about 300 px, three
 * levels deep); the whole call is in the hover.
 */
const callLabelLength = 28;
const resultLength = 24;

/**
 * Function rows of a cache, filtered and ordered as the view says (by name then module by default). When a filter
 * hides every function, one message row says so instead of the "nothing cached" one.
 */
export function functionNodes(
	cache: string,
	functions: readonly FunctionInfo[],
	nowSeconds: number,
	view: TreeViewOptions = defaultTreeView,
	inFlight: readonly InFlightInfo[] = [],
): TreeNodeSpec[] {
	// Calls in flight by function; a function with nothing stored yet but calls in flight gets a row for them.
	const running = new Map<string, number>();
	for (const c of inFlight) if (c.fn !== undefined) running.set(fnKey(c.fn), (running.get(fnKey(c.fn)) ?? 0) + 1);
	const listed = new Set(functions.map(fnKey));
	const pending = [...running.keys()].filter((k) => !listed.has(k)).map((k) => inFlight.find((c) => c.fn !== undefined && fnKey(c.fn) === k)!.fn!);
	functions = [...functions, ...pending.map((fn) => ({ module: fn.module, name: fn.name, calls: 0, hits: 0, misses: 0, lastHit: null, computeSeconds: 0, savedSeconds: 0, versions: [] }))];
	if (functions.length === 0) return [messageNode(`${cache}:empty`, 'Nothing cached yet', 'Call a fleche-wrapped function to fill this cache.')];
	const shown = arrangeFunctions(functions, view);
	if (shown.length === 0) {
		return [messageNode(`${cache}:filtered`, `No function matches "${view.filter.trim()}"`, `${plural(functions.length, 'function')} hidden by the filter. Run "Fleche: Clear Filter" to show them.`)];
	}
	// The module is in the hover; the description names it only to tell apart rows of the same name.
	const names = new Map<string, number>();
	for (const fn of shown) names.set(fn.name, (names.get(fn.name) ?? 0) + 1);
	return shown.map((fn) => {
		const flying = running.get(fnKey(fn)) ?? 0;
		const versions = fn.versions.filter((v) => v !== null);
		const facts = [
			`${countsText(fn)} (hit ratio ${hitRatio(fn.hits, fn.misses)})`,
			`computing: ${formatDuration(fn.computeSeconds)} · saved: ${formatDuration(fn.savedSeconds)}`,
			fn.lastHit === null ? 'never hit' : `last hit ${formatAge(fn.lastHit, nowSeconds)}`,
			...(flying > 0 ? [`${flying} in flight (computing, queued or running on a worker)`] : fn.calls === 0 ? [noCallsLeft] : []),
		];
		return {
			id: `fn:${cache}\0${fn.module ?? ''}\0${fn.name}`,
			label: displayText(fn.name, 40),
			// The counts first: a narrow sidebar cuts the description's end.
			description: `${countsText({ ...fn, running: flying })}${fn.module && (names.get(fn.name) ?? 0) > 1 ? ` · ${displayText(fn.module, 40)}` : ''}`,
			tooltip: [functionLabel(fn), ...facts, versions.length > 0 ? `versions: ${versions.join(', ')}` : ''].filter(Boolean).join('\n'),
			markdown: [markdownCode(functionLabel(fn)), facts.join('  \n'), versions.length > 0 ? `versions:\n\n${markdownCode(versions.join(', '))}` : ''].filter(Boolean).join('\n\n'),
			contextValue: treeContext.function,
			collapsible: fn.calls > 0 || flying > 0,
			data: { kind: 'function', cache, module: fn.module, name: fn.name },
			icon: fn.calls > 0 ? 'symbol-function' : flying > 0 ? callStates.running.icon : 'circle-slash',
		};
	});
}

function fnKey(fn: { readonly module: string | null; readonly name: string }): string {
	return `${fn.module ?? ''}\0${fn.name}`;
}

/** The hover line of a function whose calls were all invalidated (the rule of docs/behaviour.md §11). */
const noCallsLeft = 'no cached calls: every call was invalidated; hits and misses are kept (they are the history of the function)';

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

/** What the tree shows of a call in flight (fleche/inspect `CallInFlight`). */
export type InFlightInfo = Pick<CallInFlight, 'key' | 'since' | 'state' | 'where' | 'fn' | 'queue'>;

/** The calls in flight by key. */
export function inFlightByKey(calls: readonly InFlightInfo[] | undefined): Map<string, InFlightInfo> {
	return new Map((calls ?? []).map((c) => [c.key, c]));
}

/** `running on host:123 for 12 s`, `queued in fleche at redis://… for 3 s`, `computing in host:123 for 1 min`. */
export function inFlightText(call: InFlightInfo, nowSeconds: number): string {
	const state = call.state ?? 'computing';
	const where = call.where ?? '?';
	const place = state === 'queued' ? `queued in ${call.queue ?? where}` : state === 'running' ? `running on ${where}` : `computing in ${where}`;
	return call.since === null ? place : `${place} for ${formatDuration(Math.max(0, nowSeconds - call.since / 1000))}`;
}

/**
 * Call rows of one page, plus a "Load more…" row when more calls remain after it. `running` holds the calls in
 * flight: a stored call among them shows as running; one of this function not stored yet gets a row on top.
 */
export function callNodes(
	cache: string,
	fn: { readonly module: string | null; readonly name: string },
	page: { readonly total: number; readonly offset: number; readonly calls: readonly CallInfo[] },
	nowSeconds: number,
	running: ReadonlyMap<string, InFlightInfo> = new Map(),
): TreeNodeSpec[] {
	const current = newestCall(page.calls);
	const stored = new Set(page.calls.map((call) => call.key));
	const fresh = [...running.values()].filter((c) => !stored.has(c.key) && c.fn !== undefined && c.fn.name === fn.name && c.fn.module === fn.module);
	const rows: TreeNodeSpec[] = [
		...fresh.map((c) => inFlightNode(cache, c, nowSeconds)),
		...page.calls.map((call) => {
			const state = callState(call, current, running);
			const flight = running.get(call.key);
			return callNode(cache, call, nowSeconds, state, state === 'running' && flight !== undefined ? inFlightText(flight, nowSeconds) : undefined);
		}),
	];
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

/** The newest call on the page (pages are newest first from offset 0, so it is the function's newest call). */
function newestCall(calls: readonly CallInfo[]): CallInfo | undefined {
	let newest: CallInfo | undefined;
	for (const call of calls) if (newest === undefined || (call.created ?? -Infinity) > (newest.created ?? -Infinity)) newest = call;
	return newest;
}

/** Which of {@link CallState} a call is in, the most urgent first. */
export function callState(call: CallInfo, newest: CallInfo | undefined, running: { has(key: string): boolean }): CallState {
	if (running.has(call.key)) return 'running';
	if (call.damaged != null) return 'damaged';
	if (newest !== undefined && (call.version !== newest.version || (call.codeDigest != null && newest.codeDigest != null && call.codeDigest !== newest.codeDigest))) {
		return 'stale';
	}
	return 'fresh';
}

/** The result part of a call row's description: the preview, or what stands in for it. */
function resultSummary(call: CallInfo, state: CallState): string {
	if (state === 'damaged') return 'damaged';
	if (call.resultText != null) return `→ ${displayText(call.resultText, resultLength)}`;
	return call.size === null ? '→ …' : `→ ${formatBytes(call.size)}`;
}

/** The row of a call in flight that has no stored call yet: where it runs and since when; nothing to open. */
export function inFlightNode(cache: string, call: InFlightInfo, nowSeconds: number): TreeNodeSpec {
	const text = inFlightText(call, nowSeconds);
	const label = call.state === 'queued' ? 'queued' : 'running';
	const tooltip = [`${call.fn?.name ?? 'a call'}: ${text}`, callStates.running.meaning, '', `key ${call.key}`].join('\n');
	return {
		id: `flight:${cache}\0${call.key}`,
		label,
		description: text,
		tooltip,
		markdown: [`**${label}**: ${callStates.running.meaning}`, markdownCode(text), markdownCode(`key ${call.key}`)].join('\n\n'),
		contextValue: treeContext.empty,
		collapsible: false,
		data: { kind: 'message' },
		icon: callStates.running.icon,
		...(callStates.running.color !== undefined ? { iconColor: callStates.running.color } : {}),
	};
}

/** `flight`: where and for how long a running call runs ({@link inFlightText}). */
export function callNode(
	cache: string,
	call: CallInfo,
	nowSeconds: number,
	state: CallState = call.damaged != null ? 'damaged' : 'fresh',
	flight?: string,
): TreeNodeSpec {
	const argLines = Object.entries(call.args).map(([name, text]) => `  ${name} = ${text}`);
	const signature = argLines.length > 0 ? `${call.name}(\n${argLines.join('\n')}\n)` : `${call.name}()`;
	const stats = `${plural(call.hits, 'hit')} · ${plural(call.misses, 'miss', 'misses')}${call.lastHit === null ? '' : ` · last hit ${formatAge(call.lastHit, nowSeconds)}`}`;
	const status = `${state}: ${state === 'damaged' ? `cannot be a hit: ${call.damaged ?? 'its result is unreadable'}` : callStates[state].meaning}${flight === undefined ? '' : ` (${flight})`}`;
	const result =
		call.resultText != null ? call.resultText : call.damaged != null ? '(unreadable)' : call.size === null ? '(not read)' : `(${formatBytes(call.size)}, not read for the list: open the call to see it)`;
	const facts = [`created ${formatAge(call.created, nowSeconds)} (${formatTimestamp(call.created)})`, `took ${formatDuration(call.duration)} · result ${formatBytes(call.size)}`, stats];
	const ids = `key ${call.key}${call.version === null ? '' : `\nversion ${call.version}`}${call.codeDigest == null ? '' : `\ncode ${call.codeDigest}`}`;
	const data: NodeData = { kind: 'call', cache, module: call.module, name: call.name, key: call.key };
	const { icon, color } = callStates[state];
	return {
		id: `call:${cache}\0${call.key}`,
		label: call.argsText === '' ? '()' : displayText(call.argsText, callLabelLength),
		description: [...(flight === undefined ? [] : [flight]), resultSummary(call, state), plural(call.hits, 'hit'), formatAge(call.created, nowSeconds)].join(' · '),
		tooltip: [signature, `→ ${result}`, '', status, ...facts, '', ids].join('\n'),
		// The state's words are the extension's; why a call is damaged comes from the store, so it sits in a code block.
		markdown: [
			markdownCode(signature, 'ts'),
			state === 'damaged' ? `**damaged**: cannot be a hit:\n\n${markdownCode(call.damaged ?? 'its result is unreadable')}` : `**${state}**: ${callStates[state].meaning}${flight === undefined ? '' : `\n\n${markdownCode(flight)}`}`,
			`result:\n\n${markdownCode(result)}`,
			facts.join('  \n'),
			markdownCode(ids),
		].join('\n\n'),
		contextValue: state === 'fresh' ? treeContext.call : `${treeContext.call}+${state}`,
		collapsible: false,
		data,
		icon,
		...(color !== undefined ? { iconColor: color } : {}),
		command: { id: commandIds.showCallDetails, title: 'Show Details', args: [{ key: call.key, cache }] },
	};
}

/** A row that explains (empty cache, an unreadable store) instead of listing. */
export function messageNode(id: string, label: string, tooltip?: string): TreeNodeSpec {
	return { id: `msg:${id}`, label, ...(tooltip ? { tooltip } : {}), contextValue: treeContext.empty, collapsible: false, data: { kind: 'message' }, icon: 'info' };
}

/** The row shown under a cache whose server cannot be reached now: the reason, which names the server. */
export function unreachableNode(id: string, reason: string): TreeNodeSpec {
	return {
		id: `unreachable:${id}`,
		label: truncate(`Unreachable: ${reason}`, 120),
		tooltip: `${reason}\n\nListed again when it answers (or on Refresh).`,
		contextValue: treeContext.error,
		collapsible: false,
		data: { kind: 'message' },
		icon: 'debug-disconnect',
	};
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
