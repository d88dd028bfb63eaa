// Hosts the details webview (webview/src): one panel per call or function, state pushed as protocol messages,
// "load more" answered from the value the extension holds, buttons dispatched to the extension's commands, and the
// source link opened only when it names a file inside the workspace (the webview's messages are untrusted input).
import { realpath } from 'node:fs/promises';
import * as vscode from 'vscode';
import { commandIds, webviewTypes } from '../constants.js';
import type { CacheClient } from '../data/cacheClient.js';
import { Disposable } from '../disposable.js';
import { callDetailsState, folderHolding, functionDetailsState, moreAt, sectionRoot, sourceLinkOf, withMetadataDisplays, type CallDetailInfo } from '../model/details.js';
import { functionLabel } from '../model/format.js';
import { errorMessage, log } from '../log.js';
import { fromWebview, isDetailsState, type DetailsState, type OpenSourceMessage, type SourceLink, type ToWebview } from '../../../webview/src/protocol.js';
import { detailsHtml } from './detailsHtml.js';

/** Newest calls drawn in the function view's charts (the charts bin them beyond a few hundred). */
const chartPoints = 10_000;

/** Finds where a function is defined (the CodeLens's site detection): a location, or why not. */
export type DefinitionFinder = (fn: { readonly module: string | null; readonly name: string }) => Promise<vscode.Location | string>;

function workspaceFolders(): string[] {
	return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
}

type Target = { readonly kind: 'call'; readonly cache: string; readonly key: string } | { readonly kind: 'function'; readonly cache: string; readonly module: string | null; readonly name: string };

class DetailsPanel extends Disposable {
	state: DetailsState | undefined;
	private call: CallDetailInfo | undefined;
	private loads = 0;
	/** The definition, looked up once per panel (Refresh looks again: the file may have been edited). */
	private source: SourceLink | null | undefined;

	constructor(
		readonly panel: vscode.WebviewPanel,
		readonly target: Target,
		private readonly client: CacheClient,
		private readonly extensionUri: vscode.Uri,
		private readonly findDefinition: DefinitionFinder | undefined,
		onDispose: () => void,
	) {
		super();
		panel.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')] };
		panel.webview.html = detailsHtml(panel.webview, extensionUri, panel.title);
		this._register(panel.webview.onDidReceiveMessage((m: unknown) => this.receive(m)));
		this._register(
			panel.onDidDispose(() => {
				onDispose();
				this.dispose();
			}),
		);
	}

	/** Reads the target again and pushes the new state (after a store change). */
	async load(): Promise<void> {
		// Reads finish in any order: only the latest one may show what it read.
		const load = ++this.loads;
		const now = Date.now() / 1000;
		try {
			if (this.target.kind === 'call') {
				const { call } = await this.client.findCall(this.target.key, this.target.cache);
				const source = await this.sourceOf(call);
				if (load !== this.loads) return;
				this.call = call;
				this.state = callDetailsState(this.target.cache, call, now, undefined, source);
				this.panel.title = `${call.name}(${call.argsText})`;
			} else {
				const fn = { module: this.target.module, name: this.target.name };
				const summary = (await this.client.entryOf(this.target.cache))?.functions?.find((f) => f.name === fn.name && f.module === fn.module);
				if (!summary) throw new Error(`${functionLabel(fn)} has no cached calls any more`);
				const { calls } = await this.client.calls(this.target.cache, fn, 0, chartPoints);
				const source = await this.sourceOf(fn);
				if (load !== this.loads) return;
				this.state = functionDetailsState(this.target.cache, summary, calls, now, source);
				this.panel.title = `fleche: ${fn.name}`;
			}
			this.post({ type: 'state', state: this.state });
		} catch (err) {
			if (load !== this.loads) return;
			this.post({ type: 'error', message: errorMessage(err) });
		}
	}

	private async sourceOf(fn: { readonly module: string | null; readonly name: string }): Promise<SourceLink | null> {
		if (this.source !== undefined || !this.findDefinition) return this.source ?? null;
		try {
			const found = await this.findDefinition(fn);
			this.source = typeof found === 'string' ? null : sourceLinkOf(found.uri.fsPath, found.range.start.line, found.range.start.character, workspaceFolders());
		} catch (err) {
			log.warn(`Cannot look up where ${functionLabel(fn)} is defined: ${errorMessage(err)}`);
			this.source = null;
		}
		return this.source;
	}

	/** Opens the file the link names, at its line: only a file inside a workspace folder (links are resolved first). */
	private async openSource(m: OpenSourceMessage): Promise<void> {
		const real = async (p: string): Promise<string | undefined> => realpath(p).catch(() => undefined);
		const file = await real(m.file);
		const folders = (await Promise.all(workspaceFolders().map(real))).filter((f): f is string => f !== undefined);
		if (file === undefined || folderHolding(file, folders) === undefined) {
			log.warn(`Refused to open ${JSON.stringify(m.file).slice(0, 300)} from the details panel: not a file inside the workspace`);
			void vscode.window.showWarningMessage('Fleche opens only files inside the workspace from its panels.');
			return;
		}
		const document = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
		const at = new vscode.Position(Math.min(m.line, Math.max(0, document.lineCount - 1)), m.column);
		await vscode.window.showTextDocument(document, { selection: new vscode.Range(at, at), preview: false, viewColumn: vscode.ViewColumn.One });
	}

	private post(message: ToWebview): void {
		void this.panel.webview.postMessage(message);
	}

	private receive(m: unknown): void {
		if (fromWebview.isReady(m)) {
			if (this.state) this.post({ type: 'state', state: this.state });
		} else if (fromWebview.isLoadMore(m)) {
			const root = this.call && sectionRoot(this.call, m.section);
			const found = root === undefined ? undefined : moreAt(root, m.path, m.offset);
			const node = found && m.section === 'metadata' ? withMetadataDisplays(found) : found;
			if (node) this.post({ type: 'more', requestId: m.requestId, section: m.section, path: m.path, offset: m.offset, node });
			else this.post({ type: 'error', requestId: m.requestId, message: 'That value is no longer in the cache; refresh the panel.' });
		} else if (fromWebview.isAction(m)) {
			void this.act(m.action, m.key);
		} else if (fromWebview.isOpenSource(m)) {
			this.openSource(m).catch((err: unknown) => log.warn(`Cannot open the source of ${this.panel.title}: ${errorMessage(err)}`));
		} else {
			log.warn(`Ignored an unknown message from the details webview: ${JSON.stringify(m)?.slice(0, 200)}`);
		}
	}

	private async act(action: 'rerun' | 'evict' | 'openCall' | 'refresh', key: string | undefined): Promise<void> {
		const t = this.target;
		if (action === 'refresh') {
			this.source = undefined;
			return this.load();
		}
		const callKey = key ?? (t.kind === 'call' ? t.key : undefined);
		if (action === 'openCall') {
			if (callKey !== undefined) await vscode.commands.executeCommand(commandIds.showCallDetails, { key: callKey, cache: t.cache });
			return;
		}
		// Without a key the function panel's buttons act on the whole function.
		const arg = callKey !== undefined ? { key: callKey, cache: t.cache } : t.kind === 'function' ? { module: t.module, name: t.name, cache: t.cache } : undefined;
		if (arg === undefined) return;
		const command =
			action === 'rerun'
				? callKey !== undefined
					? commandIds.rerunCall
					: commandIds.rerunFunction
				: callKey !== undefined
					? commandIds.evictCall
					: commandIds.evictFunction;
		await vscode.commands.executeCommand(command, arg);
	}
}

export class DetailsPanels extends Disposable {
	private readonly panels = new Map<string, DetailsPanel>();

	constructor(
		private readonly client: CacheClient,
		private readonly extensionUri: vscode.Uri,
		private readonly findDefinition?: DefinitionFinder,
	) {
		super();
		this._register(client.onDidChange(() => this.reloadAll()));
		this._register({
			dispose: () => {
				for (const p of this.panels.values()) p.panel.dispose();
			},
		});
		for (const viewType of [webviewTypes.callDetails, webviewTypes.functionDetails]) {
			this._register(
				vscode.window.registerWebviewPanelSerializer(viewType, {
					deserializeWebviewPanel: (panel: vscode.WebviewPanel, state: unknown) => {
						if (!isDetailsState(state)) {
							panel.dispose();
							return Promise.resolve();
						}
						const target: Target = state.view === 'call' ? { kind: 'call', cache: state.cache, key: state.key } : { kind: 'function', cache: state.cache, module: state.module, name: state.name };
						return this.adopt(panel, target).load();
					},
				}),
			);
		}
	}

	private idOf(t: Target): string {
		return t.kind === 'call' ? `call:${t.cache}\0${t.key}` : `fn:${t.cache}\0${t.module ?? ''}\0${t.name}`;
	}

	private adopt(panel: vscode.WebviewPanel, target: Target): DetailsPanel {
		const id = this.idOf(target);
		const p = new DetailsPanel(panel, target, this.client, this.extensionUri, this.findDefinition, () => this.panels.delete(id));
		this.panels.set(id, p);
		return p;
	}

	/** Opens (or reveals) the panel of `target`; resolves once it shows what the store holds now. */
	async show(target: Target): Promise<void> {
		const existing = this.panels.get(this.idOf(target));
		if (existing) {
			existing.panel.reveal();
			return existing.load();
		}
		const viewType = target.kind === 'call' ? webviewTypes.callDetails : webviewTypes.functionDetails;
		const title = target.kind === 'call' ? `fleche call ${target.key.slice(0, 12)}` : `fleche: ${target.name}`;
		const panel = vscode.window.createWebviewPanel(viewType, title, vscode.ViewColumn.Active, {
			enableScripts: true,
			retainContextWhenHidden: false,
			localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview')],
		});
		return this.adopt(panel, target).load();
	}

	private reloadAll(): void {
		for (const p of this.panels.values()) void p.load();
	}

	/** For the test API: what each open panel shows. */
	list(): { viewType: string; title: string; state: unknown }[] {
		return [...this.panels.values()].map((p) => ({ viewType: p.panel.viewType, title: p.panel.title, state: p.state }));
	}
}
