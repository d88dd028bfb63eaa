// Registers the CodeLens provider while `fleche.codeLens.enabled` is on, and refreshes it when the stores change
// (the GitLens controller/provider split).
import * as vscode from 'vscode';
import { contextKeys, settings } from '../constants.js';
import { affects, getConfig } from '../config.js';
import type { CacheClient } from '../data/cacheClient.js';
import { Disposable } from '../disposable.js';
import { CodeLensProvider, lensSelector } from './codeLensProvider.js';

export class CodeLensController extends Disposable {
	readonly provider: CodeLensProvider;
	private registration: vscode.Disposable | undefined;

	constructor(client: CacheClient) {
		super();
		this.provider = this._register(new CodeLensProvider(client));
		this._register(client.onDidChange(() => this.provider.refresh()));
		this._register(
			vscode.workspace.onDidChangeConfiguration((e) => {
				if (affects(e, settings.codeLensEnabled)) this.apply();
			}),
		);
		this._register({
			dispose: () => {
				this.registration?.dispose();
			},
		});
		this.apply();
	}

	get enabled(): boolean {
		return this.registration !== undefined;
	}

	private apply(): void {
		const enabled = getConfig().codeLensEnabled;
		void vscode.commands.executeCommand('setContext', contextKeys.codeLensEnabled, enabled);
		if (enabled && !this.registration) this.registration = vscode.languages.registerCodeLensProvider(lensSelector, this.provider);
		else if (!enabled && this.registration) {
			this.registration.dispose();
			this.registration = undefined;
		}
	}
}
