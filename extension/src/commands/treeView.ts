// The view's title-bar commands that narrow and order its function rows. Each takes its value as an argument too
// (other extensions, tests, keybindings), and asks for it only when none is given.
import * as vscode from 'vscode';
import { functionSorts, type FunctionSort, type TreeViewOptions } from '../model/treeView.js';
import type { Services } from './services.js';

/** Sets the filter; an empty string clears it. Resolves with the view's options afterwards. */
export async function filterFunctions(s: Services, arg: unknown): Promise<TreeViewOptions> {
	let filter = typeof arg === 'string' ? arg : undefined;
	filter ??= await vscode.window.showInputBox({
		title: 'Filter cached functions',
		prompt: 'Show the functions whose name or module contains this text (empty shows all)',
		value: s.tree.view.filter,
		placeHolder: 'e.g. add, src/math',
	});
	if (filter !== undefined) s.tree.setView({ filter });
	return s.tree.view;
}

export function clearFilter(s: Services): TreeViewOptions {
	s.tree.setView({ filter: '' });
	return s.tree.view;
}

function isSort(value: unknown): value is FunctionSort {
	return typeof value === 'string' && Object.hasOwn(functionSorts, value);
}

export async function sortFunctions(s: Services, arg: unknown): Promise<TreeViewOptions> {
	if (arg !== undefined && !isSort(arg)) throw new Error(`Unknown order ${JSON.stringify(arg)}: one of ${Object.keys(functionSorts).join(', ')}`);
	let sort: FunctionSort | undefined = arg;
	if (sort === undefined) {
		const items = (Object.entries(functionSorts) as [FunctionSort, string][]).map(([id, label]) => ({
			id,
			label,
			description: id === s.tree.view.sort ? 'current' : undefined,
		}));
		sort = (await vscode.window.showQuickPick(items, { title: 'Sort cached functions by' }))?.id;
	}
	if (sort !== undefined) s.tree.setView({ sort });
	return s.tree.view;
}
