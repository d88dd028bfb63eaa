// Every id the manifest (root package.json `contributes`) and the code share; test/extension/manifest.test.ts
// checks both directions.

export const extensionId = 'fleche.fleche-vscode';

export const commandIds = {
	refreshCalls: 'fleche.refreshCalls',
	rerunCall: 'fleche.rerunCall',
	rerunFunction: 'fleche.rerunFunction',
	evictCall: 'fleche.evictCall',
	evictFunction: 'fleche.evictFunction',
	clearCache: 'fleche.clearCache',
	showCallDetails: 'fleche.showCallDetails',
	showFunctionDetails: 'fleche.showFunctionDetails',
	explainMiss: 'fleche.explainMiss',
	runWithArguments: 'fleche.runWithArguments',
	lensActions: 'fleche.lensActions',
	showLog: 'fleche.showLog',
	filterFunctions: 'fleche.filterFunctions',
	clearFilter: 'fleche.clearFilter',
	sortFunctions: 'fleche.sortFunctions',
	goToDefinition: 'fleche.goToDefinition',
	/** Opens the README bundled in the extension (the welcome view's "Read how to start"). */
	showReadme: 'fleche.showReadme',
	/** Tree-only: the "Load more…" row of a long call list. */
	loadMoreCalls: 'fleche.loadMoreCalls',
} as const;

export type CommandId = (typeof commandIds)[keyof typeof commandIds];

export const viewContainerId = 'fleche';
export const viewIds = { calls: 'fleche.calls' } as const;

export const webviewTypes = { callDetails: 'fleche.callDetails', functionDetails: 'fleche.functionDetails' } as const;

export const contextKeys = {
	/** True once a workspace folder has a store with at least one cached call. */
	cacheFound: 'fleche.cacheFound',
	/** True from activation until the view's first listing of the caches has resolved. */
	loading: 'fleche.loading',
	/** True while a filter narrows the view's function rows. */
	filtered: 'fleche.filtered',
	/** True while the CodeLens setting is on. */
	codeLensEnabled: 'fleche.codeLensEnabled',
} as const;

export const configSection = 'fleche';
export const settings = {
	codeLensEnabled: 'codeLens.enabled',
	caches: 'caches',
	nodePath: 'node.path',
} as const;

export const outputChannelName = 'Fleche';

export const treeContext = {
	cache: 'fleche:cache',
	function: 'fleche:function',
	call: 'fleche:call',
	error: 'fleche:error',
	more: 'fleche:more',
	empty: 'fleche:empty',
} as const;

/** Calls shown per page under a function; "Load more…" fetches the next page. */
export const callPageSize = 200;
