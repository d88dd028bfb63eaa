// TreeDataProvider adapter: asks the cache client for data, lets model/callTree.ts decide the rows, and maps each
// TreeNodeSpec one-to-one onto a vscode.TreeItem. Calls load lazily, a page at a time.
import * as vscode from 'vscode';
import { callPageSize, contextKeys } from '../constants.js';
import type { CacheClient } from '../data/cacheClient.js';
import { Disposable } from '../disposable.js';
import {
	callNodes,
	cacheNodes,
	errorNode,
	functionNodes,
	inFlightByKey,
	unreachableNode,
	viewNode,
	type NodeData,
	type TreeNodeSpec,
} from '../model/callTree.js';
import { arrangeFunctions, defaultTreeView, type TreeViewOptions } from '../model/treeView.js';
import { errorMessage, log } from '../log.js';

const nowSeconds = (): number => Date.now() / 1000;

export class CallTreeProvider extends Disposable implements vscode.TreeDataProvider<TreeNodeSpec> {
	private readonly _onDidChangeTreeData = this._register(new vscode.EventEmitter<TreeNodeSpec | undefined>());
	readonly onDidChangeTreeData = this._onDidChangeTreeData.event;
	private readonly parents = new Map<string, TreeNodeSpec | undefined>();
	/** Calls shown per function node id (grows with "Load more…"). */
	private readonly shown = new Map<string, number>();
	private viewOptions: TreeViewOptions = defaultTreeView;
	/** Until the first listing of the caches resolves, the view shows "loading", not the empty-workspace welcome. */
	private loaded = false;

	constructor(private readonly client: CacheClient) {
		super();
		void vscode.commands.executeCommand('setContext', contextKeys.loading, true);
	}

	/** How function rows are filtered and ordered (the Filter… and Sort By… commands). */
	get view(): TreeViewOptions {
		return this.viewOptions;
	}

	setView(view: Partial<TreeViewOptions>): void {
		this.viewOptions = { ...this.viewOptions, ...view };
		void vscode.commands.executeCommand('setContext', contextKeys.filtered, this.viewOptions.filter.trim() !== '');
		this.refresh();
	}

	refresh(): void {
		this.parents.clear();
		this._onDidChangeTreeData.fire(undefined);
	}

	/** "Load more…" under a function: one more page, keeping what is shown. */
	loadMore(data: Extract<NodeData, { kind: 'more' }>): void {
		const fnId = `fn:${data.cache}\0${data.module ?? ''}\0${data.name}`;
		this.shown.set(fnId, data.offset + callPageSize);
		this._onDidChangeTreeData.fire(this.findNode(fnId));
	}

	private findNode(id: string): TreeNodeSpec | undefined {
		for (const parent of this.parents.values()) if (parent?.id === id) return parent;
		return undefined;
	}

	getTreeItem(spec: TreeNodeSpec): vscode.TreeItem {
		const item = new vscode.TreeItem(
			spec.label,
			spec.collapsible
				? spec.expanded
					? vscode.TreeItemCollapsibleState.Expanded
					: vscode.TreeItemCollapsibleState.Collapsed
				: vscode.TreeItemCollapsibleState.None,
		);
		item.id = spec.id;
		item.description = spec.description;
		if (spec.markdown !== undefined) {
			// Store contents sit only inside code blocks of the Markdown; no command links, no HTML.
			const hover = new vscode.MarkdownString(spec.markdown);
			hover.isTrusted = false;
			hover.supportHtml = false;
			item.tooltip = hover;
		} else {
			item.tooltip = spec.tooltip;
		}
		item.contextValue = spec.contextValue;
		if (spec.icon) item.iconPath = new vscode.ThemeIcon(spec.icon, spec.iconColor === undefined ? undefined : new vscode.ThemeColor(spec.iconColor));
		if (spec.command) item.command = { command: spec.command.id, title: spec.command.title, arguments: [...spec.command.args] };
		return item;
	}

	getParent(spec: TreeNodeSpec): TreeNodeSpec | undefined {
		return this.parents.get(spec.id);
	}

	async getChildren(spec?: TreeNodeSpec): Promise<TreeNodeSpec[]> {
		const children = await this.children(spec);
		for (const child of children) this.parents.set(child.id, spec);
		return children;
	}

	private async children(spec?: TreeNodeSpec): Promise<TreeNodeSpec[]> {
		const data = spec?.data;
		try {
			if (!data) {
				// A cache on a database server has no folder that "exists": it is listed while the configuration names it.
				const entries = (await this.client.entries()).filter(
					(e) => e.location.exists || (e.functions?.length ?? 0) > 0 || (e.inFlight?.length ?? 0) > 0 || e.error !== undefined || e.onServer,
				);
				void vscode.commands.executeCommand('setContext', contextKeys.cacheFound, entries.length > 0);
				if (!this.loaded) {
					this.loaded = true;
					void vscode.commands.executeCommand('setContext', contextKeys.loading, false);
				}
				// No rows at all lets the welcome view explain how to start.
				return cacheNodes(
					entries.map((e) => ({
						cache: e.location,
						folder: e.folder,
						totals: e.functions ? { calls: e.functions.reduce((n, f) => n + f.calls, 0), functions: e.functions.length } : null,
						running: e.inFlight?.length ?? 0,
						...(e.error !== undefined ? { error: e.error } : {}),
						...(e.unreachable !== undefined ? { unreachable: e.unreachable } : {}),
					})),
				);
			}
			switch (data.kind) {
				case 'cache': {
					const entry = await this.client.entryOf(data.cache);
					if (!entry) return [];
					if (entry.error !== undefined) return [errorNode(data.cache, entry.error)];
					if (entry.unreachable !== undefined) return [unreachableNode(data.cache, entry.unreachable)];
					const functions = entry.functions ?? [];
					const header = viewNode(data.cache, this.viewOptions, arrangeFunctions(functions, this.viewOptions).length, functions.length);
					return [...(header ? [header] : []), ...functionNodes(data.cache, functions, nowSeconds(), this.viewOptions, entry.inFlight)];
				}
				case 'function': {
					const limit = this.shown.get(spec.id) ?? callPageSize;
					const fn = { module: data.module, name: data.name };
					const [page, entry] = await Promise.all([this.client.calls(data.cache, fn, 0, limit), this.client.entryOf(data.cache)]);
					return callNodes(data.cache, fn, { total: page.total, offset: 0, calls: page.calls }, nowSeconds(), inFlightByKey(entry?.inFlight));
				}
				case 'call':
				case 'more':
				case 'message':
					return [];
			}
		} catch (err) {
			log.error(`Cannot list ${spec?.label ?? 'caches'}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
			return [errorNode(spec?.id ?? 'root', errorMessage(err))];
		}
	}
}
