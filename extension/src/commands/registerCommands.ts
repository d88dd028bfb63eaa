// One table: command id → handler. Every handler runs through `guarded`, which catches, logs the stack and shows one
// error message with "Show Log"; handlers return their result so tests (and other extensions) can await them.
import * as vscode from 'vscode';
import { commandIds, type CommandId } from '../constants.js';
import { logChannel, showError } from '../log.js';
import type { NodeData } from '../model/callTree.js';
import { explainMiss } from './explain.js';
import { goToDefinition } from './goToDefinition.js';
import { clearCache, evictCall, evictFunction } from './evict.js';
import { runLensActions } from './lensActions.js';
import { rerunCall, rerunFunction } from './rerun.js';
import { runWithArguments } from './runWithArguments.js';
import type { Services } from './services.js';
import { resolveCall, resolveFunction } from './targets.js';
import { clearFilter, filterFunctions, sortFunctions } from './treeView.js';

type Handler = (s: Services, ...args: unknown[]) => unknown;

const titles: Record<CommandId, string> = {
	[commandIds.refreshCalls]: 'Refresh failed',
	[commandIds.rerunCall]: 'Rerun failed',
	[commandIds.rerunFunction]: 'Rerun failed',
	[commandIds.evictCall]: 'Invalidate failed',
	[commandIds.evictFunction]: 'Invalidate failed',
	[commandIds.clearCache]: 'Clear Cache failed',
	[commandIds.showCallDetails]: 'Cannot show the call',
	[commandIds.showFunctionDetails]: 'Cannot show the function',
	[commandIds.explainMiss]: 'Explain Miss failed',
	[commandIds.runWithArguments]: 'Run with New Arguments failed',
	[commandIds.lensActions]: 'fleche',
	[commandIds.showLog]: 'Cannot show the log',
	[commandIds.showReadme]: 'Cannot open the README',
	[commandIds.loadMoreCalls]: 'Cannot load more calls',
	[commandIds.filterFunctions]: 'Cannot filter',
	[commandIds.clearFilter]: 'Cannot clear the filter',
	[commandIds.sortFunctions]: 'Cannot sort',
	[commandIds.goToDefinition]: 'Cannot go to the definition',
};

const handlers: Record<CommandId, Handler> = {
	[commandIds.refreshCalls]: (s) => s.refresh(),
	[commandIds.rerunCall]: (s, arg) => rerunCall(s, arg),
	[commandIds.rerunFunction]: (s, arg) => rerunFunction(s, arg),
	[commandIds.evictCall]: (s, arg, options) => evictCall(s, arg, options),
	[commandIds.evictFunction]: (s, arg, options) => evictFunction(s, arg, options),
	[commandIds.clearCache]: (s, arg, options) => clearCache(s, arg, options),
	[commandIds.showCallDetails]: async (s, arg) => {
		const target = await resolveCall(s.client, arg, 'Show which call?');
		if (!target) return;
		const { cache, call } = await s.client.findCall(target.key, target.cache);
		await s.panels.show({ kind: 'call', cache, key: call.key });
	},
	[commandIds.showFunctionDetails]: async (s, arg) => {
		const fn = await resolveFunction(s.client, arg, 'Show which function?');
		if (!fn) return;
		const cache = fn.cache ?? (await s.client.cachesOf(fn))[0]?.id;
		if (cache === undefined) throw new Error(`${fn.name} has no cached calls`);
		await s.panels.show({ kind: 'function', cache, module: fn.module, name: fn.name });
	},
	[commandIds.explainMiss]: (s, arg, argsJson) => explainMiss(s, arg, argsJson),
	[commandIds.runWithArguments]: (s, arg, argsJson) => runWithArguments(s, arg, argsJson),
	[commandIds.lensActions]: (s, arg) => runLensActions(s, arg),
	[commandIds.showLog]: () => logChannel().show(true),
	// The built-in Markdown preview; the README ships in the .vsix (package.json `files`), so this works offline.
	[commandIds.showReadme]: (s) => vscode.commands.executeCommand('markdown.showPreview', s.readme),
	[commandIds.loadMoreCalls]: (s, arg) => s.tree.loadMore(arg as Extract<NodeData, { kind: 'more' }>),
	[commandIds.filterFunctions]: (s, arg) => filterFunctions(s, arg),
	[commandIds.clearFilter]: (s) => clearFilter(s),
	[commandIds.sortFunctions]: (s, arg) => sortFunctions(s, arg),
	[commandIds.goToDefinition]: (s, arg) => goToDefinition(s, arg),
};

export function registerCommands(s: Services): vscode.Disposable[] {
	return (Object.keys(handlers) as CommandId[]).map((id) =>
		vscode.commands.registerCommand(id, async (...args: unknown[]) => {
			try {
				return await handlers[id](s, ...args);
			} catch (err) {
				await showError(titles[id], err);
				return undefined;
			}
		}),
	);
}
