// CodeLensProvider adapter: fleche sites of the document (model/flecheSites.ts) + the folder's counts
// (model/codeLens.ts) → one vscode.CodeLens per LensSpec, mapped field for field.
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compiledFrom, packageRootOf } from 'fleche/identity';
import * as vscode from 'vscode';
import type { CacheClient } from '../data/cacheClient.js';
import { Disposable } from '../disposable.js';
import { compiledModulesOf, lensSpecs, type CompiledModules, type LensSpec } from '../model/codeLens.js';
import { findFlecheSites, localModuleCandidates, moduleOf, type FlecheSite, type ImportResolver, type PackageJsonProbe } from '../model/flecheSites.js';

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
	/** Local modules read for their re-exports of fleche, by file, valid while their stamp holds. */
	private readonly modules = new Map<string, { stamp: string; text: string }>();
	/** The sources of compiled files by their source maps, by compiled file, valid while its stamp holds. */
	private readonly compiled = new Map<string, { stamp: string; sources: readonly string[] }>();

	constructor(private readonly client: CacheClient) {
		super();
		this._register(vscode.workspace.onDidCloseTextDocument((d) => this.sites.delete(d.uri.toString())));
		// A saved module may have started or stopped re-exporting fleche: the sites of files importing it change too.
		this._register(
			vscode.workspace.onDidSaveTextDocument(() => {
				this.sites.clear();
				this._onDidChangeCodeLenses.fire();
			}),
		);
	}

	refresh(): void {
		this.packageJsons.clear();
		this.modules.clear();
		this.compiled.clear();
		this._onDidChangeCodeLenses.fire();
	}

	private readonly resolveImport: ImportResolver = (specifier, fromFile) => {
		for (const fileName of localModuleCandidates(specifier, fromFile)) {
			let stat;
			try {
				stat = statSync(fileName);
			} catch {
				continue;
			}
			if (!stat.isFile()) continue;
			const stamp = `${stat.mtimeMs}:${stat.size}`;
			const known = this.modules.get(fileName);
			if (known?.stamp === stamp) return { fileName, text: known.text };
			try {
				const text = readFileSync(fileName, 'utf8');
				this.modules.set(fileName, { stamp, text });
				return { fileName, text };
			} catch {
				return undefined;
			}
		}
		return undefined;
	};

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

	/** What a compiled file was made from, by the source map it names (read only when the file changed). */
	private readonly sourcesOf = (file: string): readonly string[] => {
		let stat;
		try {
			stat = statSync(file);
		} catch {
			return [];
		}
		const stamp = `${stat.mtimeMs}:${stat.size}`;
		const known = this.compiled.get(file);
		if (known?.stamp === stamp) return known.sources;
		const sources = compiledFrom(file, (f) => {
			try {
				return readFileSync(f, 'utf8');
			} catch {
				return undefined;
			}
		});
		this.compiled.set(file, { stamp, sources });
		return sources;
	};

	/** The document's module and the counted modules compiled from it (see model/codeLens.ts `CompiledModules`). */
	private compiledModules(document: vscode.TextDocument, counted: Iterable<string | null>): CompiledModules | undefined {
		if (document.uri.scheme !== 'file') return undefined;
		const file = document.uri.fsPath;
		const root = packageRootOf(dirname(file), this.probe);
		if (root === undefined) return undefined;
		return { module: moduleOf(file, this.probe), from: compiledModulesOf(file, root, counted, this.sourcesOf) };
	}

	/** The fleche sites of a document (cached per version). */
	sitesOf(document: vscode.TextDocument): FlecheSite[] {
		const key = document.uri.toString();
		const cached = this.sites.get(key);
		if (cached?.version === document.version) return cached.sites;
		const module = document.uri.scheme === 'file' ? moduleOf(document.uri.fsPath, this.probe) : null;
		const resolveImport = document.uri.scheme === 'file' ? this.resolveImport : undefined;
		const found = findFlecheSites(document.getText(), { fileName: document.fileName, module, resolveImport });
		const sites = found ?? cached?.sites ?? [];
		this.sites.set(key, { version: document.version, sites });
		return sites;
	}

	async specsOf(document: vscode.TextDocument): Promise<LensSpec[]> {
		const sites = this.sitesOf(document);
		if (sites.length === 0) return [];
		const folder = vscode.workspace.getWorkspaceFolder(document.uri)?.uri.fsPath;
		const counts = await this.client.countsFor(folder);
		const compiled = this.compiledModules(
			document,
			[...counts.values()].map((c) => c.module),
		);
		return lensSpecs(sites, counts, document.uri.toString(), compiled);
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
