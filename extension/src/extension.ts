// activate/deactivate only: builds the services, registers everything into context.subscriptions, and returns the
// FlecheApi of the contract (used by the integration tests and open to other extensions).
import * as vscode from 'vscode';
import { resetLogger, setLogger } from 'fleche';
import { registerCommands } from './commands/registerCommands.js';
import type { Services } from './commands/services.js';
import { affects, getConfig } from './config.js';
import { settings, viewIds } from './constants.js';
import { CacheClient } from './data/cacheClient.js';
import { ServerPasswords } from './data/serverPasswords.js';
import { disposeLog, log, logChannel } from './log.js';
import type { TreeNodeSpec } from './model/callTree.js';
import { findDefinition } from './commands/goToDefinition.js';
import { DetailsPanels } from './panels/detailsPanel.js';
import { CallTreeProvider } from './views/callTreeProvider.js';
import { CodeLensController } from './views/codeLensController.js';

export type { TreeNodeSpec } from './model/callTree.js';

/** What `activate()` returns (`vscode.extensions.getExtension('fleche.fleche-vscode').exports`). */
export interface FlecheApi {
	readonly version: 1;
	readonly tree: { getChildren(node?: TreeNodeSpec): Promise<TreeNodeSpec[]> };
	/** Re-reads every store; resolves when tree, lenses and panels have the new data. */
	refresh(): Promise<void>;
	/** The CodeLens titles of a document, top to bottom. */
	lensTitles(uri: string): Promise<string[]>;
	openPanels(): { viewType: string; title: string; state: unknown }[];
	readonly onDidRefresh: vscode.Event<void>;
}

export function activate(context: vscode.ExtensionContext): FlecheApi {
	context.subscriptions.push(logChannel(), { dispose: disposeLog });
	log.info(`fleche ${String((context.extension.packageJSON as { version?: unknown }).version)} activating`);
	// The runtime's warnings (corrupt entries skipped, unreadable statistics) go to the Fleche log, not the host's stderr.
	setLogger((record) => (record.level === 'error' ? log.error : log.warn)(`[${record.code}] ${record.message}`));
	context.subscriptions.push({ dispose: resetLogger });

	const passwords = new ServerPasswords(context.secrets);
	const client = new CacheClient(() => getConfig().caches, vscode.Uri.joinPath(context.extensionUri, 'dist', 'storeHost.js').fsPath, passwords);
	const tree = new CallTreeProvider(client);
	const treeView = vscode.window.createTreeView(viewIds.calls, { treeDataProvider: tree, showCollapseAll: true });
	const lenses = new CodeLensController(client);
	const panels = new DetailsPanels(client, context.extensionUri, (fn) => findDefinition(lenses.provider, fn));
	const onDidRefresh = new vscode.EventEmitter<void>();
	context.subscriptions.push(client, tree, treeView, lenses, panels, onDidRefresh);

	// Store changes arrive debounced from fleche/inspect watchers (this or any other process).
	context.subscriptions.push(
		client.onDidChange(() => {
			tree.refresh();
			onDidRefresh.fire();
		}),
	);

	const refresh = (): Promise<void> => {
		passwords.retry();
		client.reset();
		return Promise.resolve();
	};
	const services: Services = {
		client,
		tree,
		treeView,
		lenses,
		panels,
		bundledCli: vscode.Uri.joinPath(context.extensionUri, 'dist', 'cli.js').fsPath,
		readme: vscode.Uri.joinPath(context.extensionUri, 'README.md'),
		refresh,
	};
	context.subscriptions.push(...registerCommands(services));

	const tomlWatcher = vscode.workspace.createFileSystemWatcher('**/fleche.toml');
	context.subscriptions.push(
		tomlWatcher,
		tomlWatcher.onDidChange(() => client.reset()),
		tomlWatcher.onDidCreate(() => client.reset()),
		tomlWatcher.onDidDelete(() => client.reset()),
		vscode.workspace.onDidChangeWorkspaceFolders(() => client.reset()),
		vscode.workspace.onDidChangeConfiguration((e) => {
			if (affects(e, settings.caches)) client.reset();
		}),
	);

	return {
		version: 1,
		tree: { getChildren: (node) => tree.getChildren(node) },
		refresh,
		lensTitles: async (uri) => {
			const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
			return (await lenses.provider.specsOf(document)).map((spec) => spec.title);
		},
		openPanels: () => panels.list(),
		onDidRefresh: onDidRefresh.event,
	};
}

export function deactivate(): void {
	// Everything is in context.subscriptions.
}
