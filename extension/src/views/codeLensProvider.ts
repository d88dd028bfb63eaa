// CodeLensProvider adapter: fleche sites of the document (model/flecheSites.ts) + the folder's counts
// (model/codeLens.ts) → one vscode.CodeLens per LensSpec, mapped field for field.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { CacheClient } from '../data/cacheClient.js';
import { Disposable } from '../disposable.js';
import { lensSpecs, type LensSpec } from '../model/codeLens.js';
import { findFlecheSites, moduleOf, type FlecheSite, type PackageJsonProbe } from '../model/flecheSites.js';

export const lensSelector: vscode.DocumentSelector = [
	{ language: 'typescript' },
	{ language: 'javascript' },
	{ language: 'typescriptreact' },
	{ language: 'javascriptreact' },
];

export class CodeLensProvider extends Disposable implements vscode.CodeLensProvider {
	private readonly _onDidChangeCodeLenses = this._register(new vscode.EventEmitter<void>());
	readonly onDidChangeCodeLenses = this._onDidChangeCodeLenses.event;
	/** Last sites per document, kept while the text does not parse (typing). */
	private readonly sites = new Map<string, { version: number; sites: FlecheSite[] }>();
	private readonly packageJsons = new Map<string, 'none' | 'unnamed' | 'named'>();

	constructor(private readonly client: CacheClient) {
		super();
		this._register(vscode.workspace.onDidCloseTextDocument((d) => this.sites.delete(d.uri.toString())));
	}

	refresh(): void {
		this.packageJsons.clear();
		this._onDidChangeCodeLenses.fire();
	}

	private readonly probe: PackageJsonProbe = (dir) => {
		let kind = this.packageJsons.get(dir);
		if (kind === undefined) {
			try {
				const parsed = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
				kind = typeof parsed.name === 'string' && parsed.name.length > 0 ? 'named' : 'unnamed';
			} catch (err) {
				kind = (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'none' : 'unnamed';
			}
			this.packageJsons.set(dir, kind);
		}
		return kind;
	};

	/** The fleche sites of a document (cached per version). */
	sitesOf(document: vscode.TextDocument): FlecheSite[] {
		const key = document.uri.toString();
		const cached = this.sites.get(key);
		if (cached?.version === document.version) return cached.sites;
		const module = document.uri.scheme === 'file' ? moduleOf(document.uri.fsPath, this.probe) : null;
		const found = findFlecheSites(document.getText(), { fileName: document.fileName, module });
		const sites = found ?? cached?.sites ?? [];
		this.sites.set(key, { version: document.version, sites });
		return sites;
	}

	async specsOf(document: vscode.TextDocument): Promise<LensSpec[]> {
		const sites = this.sitesOf(document);
		if (sites.length === 0) return [];
		const folder = vscode.workspace.getWorkspaceFolder(document.uri)?.uri.fsPath;
		return lensSpecs(sites, await this.client.countsFor(folder), document.uri.toString());
	}

	async provideCodeLenses(document: vscode.TextDocument, token: vscode.CancellationToken): Promise<vscode.CodeLens[]> {
		if (token.isCancellationRequested) return [];
		return (await this.specsOf(document)).map(
			(spec) =>
				new vscode.CodeLens(new vscode.Range(spec.line, spec.column, spec.line, spec.column), {
					title: spec.title,
					tooltip: spec.tooltip,
					command: spec.command,
					arguments: [...spec.args],
				}),
		);
	}
}
