// "Go to Definition" of a function row: the file its module names, among the workspace's files, at the line where
// the CodeLens finds it (the same site detection, so the jump lands where the lens is drawn).
import * as vscode from 'vscode';
import { definitionGlob } from '../model/treeView.js';
import type { Services } from './services.js';
import { resolveFunction } from './targets.js';

/** Files to open at most while looking: a module path is specific, so more candidates means a monorepo of copies. */
const maxCandidates = 50;

export async function goToDefinition(s: Services, arg: unknown): Promise<vscode.TextEditor | undefined> {
	const fn = await resolveFunction(s.client, arg, 'Go to which function?');
	if (!fn) return undefined;
	const glob = definitionGlob(fn.module);
	if (glob === undefined) throw new Error(`${fn.name} was cached without a module in its identity, so its file is unknown`);
	const files = await vscode.workspace.findFiles(glob, '**/node_modules/**', maxCandidates);
	for (const uri of files.sort((a, b) => a.fsPath.length - b.fsPath.length)) {
		const document = await vscode.workspace.openTextDocument(uri);
		const site = s.lenses.provider.sitesOf(document).find((x) => x.name === fn.name && x.module === fn.module);
		if (!site) continue;
		const at = new vscode.Position(site.line, site.column);
		return vscode.window.showTextDocument(document, { selection: new vscode.Range(at, at), preview: false });
	}
	throw new Error(
		`Cannot find ${fn.name} in the workspace: no file ${fn.module ?? ''} wraps it with fleche (looked in ${files.length} ${files.length === 1 ? 'file' : 'files'})`,
	);
}
