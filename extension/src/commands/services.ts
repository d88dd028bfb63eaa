// What command handlers work with; built once in extension.ts.
import type * as vscode from 'vscode';
import type { CacheClient } from '../data/cacheClient.js';
import type { TreeNodeSpec } from '../model/callTree.js';
import type { DetailsPanels } from '../panels/detailsPanel.js';
import type { CallTreeProvider } from '../views/callTreeProvider.js';
import type { CodeLensController } from '../views/codeLensController.js';

export interface Services {
	readonly client: CacheClient;
	readonly tree: CallTreeProvider;
	readonly treeView: vscode.TreeView<TreeNodeSpec>;
	readonly lenses: CodeLensController;
	readonly panels: DetailsPanels;
	/** dist/cli.js inside the extension: the CLI used when the workspace has no fleche installed. */
	readonly bundledCli: string;
	/** README.md inside the extension: how to start, readable without a network. */
	readonly readme: vscode.Uri;
	/** Re-reads every store and updates tree, lenses and panels. */
	refresh(): Promise<void>;
}
