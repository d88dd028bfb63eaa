// Helpers the integration suite files share (inlined into each bundle): the extension's API, tree walking, waiting.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';

/** The contract's tree row (extension/src/model/callTree.ts), as the API hands it out. */
export interface TreeNodeSpec {
	readonly id: string;
	readonly label: string;
	readonly description?: string;
	readonly tooltip?: string;
	readonly contextValue: string;
	readonly collapsible: boolean;
	readonly data?: Record<string, unknown>;
}

/** The contract's `FlecheApi` (what `activate()` returns). */
export interface FlecheApi {
	readonly version: 1;
	readonly tree: { getChildren(node?: TreeNodeSpec): Promise<TreeNodeSpec[]> };
	refresh(): Promise<void>;
	lensTitles(uri: string): Promise<string[]>;
	openPanels(): { viewType: string; title: string; state: unknown }[];
	readonly onDidRefresh: vscode.Event<void>;
}

export const extensionId = 'fleche.fleche-vscode';

/** The fixture's seeded numbers (test/integration/workspace.mjs `seeded`). */
export const seeded = {
	add: { module: 'src/math.js', calls: 3, hits: 2, misses: 3 },
	slowSquare: { module: 'src/math.js', calls: 2, hits: 1, misses: 2 },
	greet: { module: 'src/math.js', calls: 2, hits: 0, misses: 2 },
	'Shapes.area': { module: 'src/shapes.ts', calls: 1, hits: 1, misses: 1 },
	label: { module: 'src/shapes.ts', calls: 1, hits: 0, misses: 1 },
} as const;

export const xss = '<img src=x onerror=alert(1)>';

/** Activates the extension (once) and returns its API. */
export async function api(): Promise<FlecheApi> {
	const ext = vscode.extensions.getExtension<FlecheApi>(extensionId);
	assert.ok(ext, `extension ${extensionId} is not installed in this host`);
	const exports = ext.isActive ? ext.exports : await ext.activate();
	assert.ok(exports && exports.version === 1, 'activate() must return the FlecheApi (version 1)');
	return exports;
}

export function workspaceFolder(): vscode.WorkspaceFolder {
	const folder = vscode.workspace.workspaceFolders?.[0];
	assert.ok(folder, 'the fixture workspace is not open');
	return folder;
}

export function fileUri(relative: string): vscode.Uri {
	return vscode.Uri.joinPath(workspaceFolder().uri, relative);
}

/** The default store's row (`.fleche`). */
export async function defaultCache(fleche: FlecheApi): Promise<TreeNodeSpec> {
	const roots = await fleche.tree.getChildren();
	const node = roots.find((n) => n.label === '.fleche' && n.contextValue.startsWith('fleche:cache'));
	assert.ok(node, `no '.fleche' cache row among ${JSON.stringify(roots.map((n) => n.label))}`);
	return node;
}

export async function functionNodes(fleche: FlecheApi): Promise<TreeNodeSpec[]> {
	return (await fleche.tree.getChildren(await defaultCache(fleche))).filter((n) => n.contextValue.startsWith('fleche:function'));
}

export async function functionNode(fleche: FlecheApi, name: string): Promise<TreeNodeSpec | undefined> {
	return (await functionNodes(fleche)).find((n) => n.data?.name === name);
}

export async function callNodes(fleche: FlecheApi, name: string): Promise<TreeNodeSpec[]> {
	const fn = await functionNode(fleche, name);
	assert.ok(fn, `no function row '${name}'`);
	return (await fleche.tree.getChildren(fn)).filter((n) => n.contextValue.startsWith('fleche:call'));
}

/** Polls `probe` until it returns a value other than undefined/false, or fails with `what` after `ms`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000): Promise<T> {
	const end = Date.now() + ms;
	let last: unknown;
	for (;;) {
		try {
			const value = await probe();
			if (value !== undefined && value !== false) return value;
		} catch (err) {
			last = err;
		}
		if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
}

/** The contract's lens title for these counts. */
export function lensTitle(hits: number, misses: number, cached: number): string {
	return `fleche: ${hits} ${hits === 1 ? 'hit' : 'hits'} · ${misses} ${misses === 1 ? 'miss' : 'misses'} · ${cached} cached`;
}

/** Lenses of a document through VS Code's own provider command (resolving titles). */
export async function lensesOf(uri: vscode.Uri): Promise<vscode.CodeLens[]> {
	await vscode.workspace.openTextDocument(uri);
	return (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri, 100)) ?? [];
}

export function flecheLenses(lenses: readonly vscode.CodeLens[]): vscode.CodeLens[] {
	return lenses.filter((l) => l.command?.title.startsWith('fleche:'));
}

/**
 * A store test/integration/workspace.mjs seeds beside the workspace (`extra-stores/<name>`, the suite's variant),
 * checked to hold `marker` (`calls` or `calls.db`).
 */
export function extraStore(name: string, marker: string): string {
	const folder = path.join(path.dirname(workspaceFolder().uri.fsPath), 'extra-stores', name);
	assert.ok(existsSync(path.join(folder, marker)), `no ${folder}/${marker}: run the suite on a workspace made with makeWorkspace(dir, { corrupt: true })`);
	return folder;
}

/**
 * The Fleche log channel's text, read from the document VS Code keeps for a shown output channel (scheme `output`);
 * undefined while the channel was never shown. Shows it first with the extension's own command.
 */
export async function logText(): Promise<string | undefined> {
	await vscode.commands.executeCommand('fleche.showLog');
	const doc = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'output' && /fleche/i.test(d.uri.toString()) && /Fleche/.test(d.uri.path));
	return doc?.getText();
}

/** What one `vscode.window.showQuickPick` call was given. */
export interface QuickPickSeen {
	readonly items: readonly vscode.QuickPickItem[];
	readonly options: vscode.QuickPickOptions | undefined;
}

/**
 * Records the items of every quick pick the extension shows from now until `dispose()`, and still shows the real one.
 * The suite is loaded from the extension's own folder, so it shares the extension's `vscode` API object.
 */
export function recordQuickPicks(): { readonly seen: QuickPickSeen[]; dispose(): void } {
	const window = vscode.window as { showQuickPick: typeof vscode.window.showQuickPick };
	const real = window.showQuickPick;
	const seen: QuickPickSeen[] = [];
	window.showQuickPick = (async (
		items: readonly vscode.QuickPickItem[] | Thenable<readonly vscode.QuickPickItem[]>,
		options?: vscode.QuickPickOptions,
		token?: vscode.CancellationToken,
	) => {
		const resolved = await items;
		seen.push({ items: resolved, options });
		return real(resolved, options, token);
	}) as unknown as typeof vscode.window.showQuickPick;
	return { seen, dispose: () => void (window.showQuickPick = real) };
}
