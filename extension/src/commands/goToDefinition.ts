// "Go to Definition" of a function row: the file its module names, among the workspace's files, at the line where
// the CodeLens finds it (the same site detection, so the jump lands where the lens is drawn).
import * as vscode from 'vscode';
import { definitionGlob } from '../model/treeView.js';
import type { Services } from './services.js';
import { resolveFunction } from './targets.js';

/** Files to open at most while looking: a module path is specific, so more candidates means a monorepo of copies. */
const maxCandidates = 50;

/** What finding a definition needs of the CodeLens provider. */
export interface SiteFinder {
	sitesOf(document: vscode.TextDocument): readonly { readonly name: string; readonly module: string | null; readonly line: number; readonly column: number }[];
}

/**
 * Where `fn` is wrapped with fleche in the workspace, or why it cannot be found (a message for the user). Used by Go to
 * Definition and by the details panels' source link.
 */
export async function findDefinition(sites: SiteFinder, fn: { readonly module: string | null; readonly name: string }): Promise<vscode.Location | string> {
	const glob = definitionGlob(fn.module);
	if (glob === undefined) return `${fn.name} was cached without a module in its identity, so its file is unknown`;
	const files = await vscode.workspace.findFiles(glob, '**/node_modules/**', maxCandidates);
	for (const uri of files.sort((a, b) => a.fsPath.length - b.fsPath.length)) {
		const document = await vscode.workspace.openTextDocument(uri);
		const site = sites.sitesOf(document).find((x) => x.name === fn.name && x.module === fn.module);
		if (site) return new vscode.Location(uri, new vscode.Position(site.line, site.column));
	}
	return `Cannot find ${fn.name} in the workspace: no file ${fn.module ?? ''} wraps it with fleche (looked in ${files.length} ${files.length === 1 ? 'file' : 'files'})`;
}

export async function goToDefinition(s: Services, arg: unknown): Promise<vscode.TextEditor | undefined> {
	const fn = await resolveFunction(s.client, arg, 'Go to which function?');
	if (!fn) return undefined;
	const found = await findDefinition(s.lenses.provider, fn);
	if (typeof found === 'string') throw new Error(found);
	const document = await vscode.workspace.openTextDocument(found.uri);
	return vscode.window.showTextDocument(document, { selection: found.range, preview: false });
}
