// The quick pick a CodeLens opens: run with new arguments, rerun one or all cached calls, invalidate, explain a miss, show details/tree.
import * as vscode from 'vscode';
import { commandIds } from '../constants.js';
import { lensActions, type LensTarget } from '../model/codeLens.js';
import { functionLabel } from '../model/format.js';
import { identityKey } from '../model/flecheSites.js';
import type { TreeNodeSpec } from '../model/callTree.js';
import type { Services } from './services.js';
import { confirm, functionArg, pickCallOf } from './targets.js';

export async function runLensActions(s: Services, arg?: unknown): Promise<void> {
	const fn = functionArg(arg);
	if (!fn) return;
	const uri = (arg as Partial<LensTarget>).uri;
	const folder = uri ? vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(uri))?.uri.fsPath : undefined;
	const counts = (await s.client.countsFor(folder)).get(identityKey(fn)) ?? { hits: 0, misses: 0, calls: 0 };
	const picked = await vscode.window.showQuickPick(lensActions(counts), { title: functionLabel(fn) });
	if (!picked) return;
	const target = { module: fn.module, name: fn.name };
	switch (picked.id) {
		case 'rerunCall': {
			const call = await pickCallOf(s.client, fn, 'Rerun which call?');
			if (call) await vscode.commands.executeCommand(commandIds.rerunCall, call);
			return;
		}
		case 'rerunAll':
			await vscode.commands.executeCommand(commandIds.rerunFunction, target);
			return;
		case 'evictFunction':
			if (await confirm(`Invalidate every cached call of ${functionLabel(fn)}?`, undefined)) {
				await vscode.commands.executeCommand(commandIds.evictFunction, target, { confirm: false });
			}
			return;
		case 'runWithArguments':
			await vscode.commands.executeCommand(commandIds.runWithArguments, target);
			return;
		case 'explainMiss':
			await vscode.commands.executeCommand(commandIds.explainMiss, target);
			return;
		case 'showDetails':
			await vscode.commands.executeCommand(commandIds.showFunctionDetails, target);
			return;
		case 'showInTree':
			await revealFunction(s, fn);
			return;
	}
}

async function revealFunction(s: Services, fn: { module: string | null; name: string }): Promise<void> {
	for (const cacheNode of await s.tree.getChildren()) {
		const match = (await s.tree.getChildren(cacheNode)).find(
			(n: TreeNodeSpec) => n.data?.kind === 'function' && n.data.name === fn.name && n.data.module === fn.module,
		);
		if (match) {
			await s.treeView.reveal(match, { select: true, focus: true, expand: true });
			return;
		}
	}
	void vscode.window.showInformationMessage(`${functionLabel(fn)} has no cached calls yet.`);
}
