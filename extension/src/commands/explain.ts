// Explain Miss: why would this call not hit the cache? It asks for the arguments (prefilled with the newest cached
// call's) and opens the whole explanation as a Markdown document. The CLI computes it in the user's Node: from the
// store alone when the arguments are named as a cached call's are (nothing imported), else by importing the function's
// module (so version and code changes show, and its top-level code runs). When the CLI cannot run, fleche/inspect
// explains from the store alone (arguments only).
import type { Explanation } from 'fleche/inspect';
import * as vscode from 'vscode';
import { getConfig } from '../config.js';
import { runCli } from '../data/cliRunner.js';
import { explanationMarkdown, type ExplainSource } from '../model/explainText.js';
import { functionLabel } from '../model/format.js';
import { errorMessage, log } from '../log.js';
import { requireTrust } from './rerun.js';
import type { Services } from './services.js';
import { askArgs } from './askArgs.js';
import { resolveFunction } from './targets.js';

export async function explainMiss(s: Services, arg?: unknown, argsJson?: unknown): Promise<string | undefined> {
	if (!requireTrust('Explain Miss')) return undefined;
	const fn = await resolveFunction(s.client, arg, 'Explain a miss of which function?');
	if (!fn) return undefined;
	// From the lens, the tree or the palette: ask for the arguments, starting from the newest cached call's (a
	// function's own call is "Cached", which explains nothing). Callers with arguments (the API, tests) give them.
	const text =
		typeof argsJson === 'string'
			? argsJson
			: await askArgs(s, fn, {
					title: `Explain a miss of ${fn.name}`,
					prompt: 'Arguments by parameter name, as JSON (named as the cached calls name them, nothing is imported; else the module is imported, which runs its top-level code)',
					positional: false,
				});
	if (text === undefined) return undefined;
	const args = JSON.parse(text) as Record<string, unknown>;
	const entry = fn.cache !== undefined ? await s.client.entryOf(fn.cache) : (await s.client.cachesOf(fn))[0];
	const cwd = entry?.folderPath ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd();
	let explanation: Explanation | undefined;
	let source: ExplainSource = { via: 'cli' };
	try {
		const run = await vscode.window.withProgress(
			{ location: vscode.ProgressLocation.Notification, title: `Explaining ${fn.name} (the fleche CLI; it imports the module only if the store is not enough)…` },
			() =>
				runCli(['explain', functionLabel(fn), text, ...(entry?.location.root ? ['--root', entry.location.root] : []), '--cwd', cwd], {
					node: getConfig().nodePath,
					cwd,
					bundledCli: s.bundledCli,
					log: (l) => log.info(l),
				}),
		);
		for (const m of run.messages) {
			if (m.type === 'other' && m.raw.type === 'module' && typeof m.raw.file === 'string') source = { via: 'cli', imported: m.raw.file };
			const found = m.type === 'other' && m.raw.type === 'explain' ? (m.raw.explanation as Partial<Explanation> | undefined) : undefined;
			if (typeof found?.message === 'string' && Array.isArray(found.differences)) explanation = found as Explanation;
			if (m.type === 'error') log.warn(`fleche explain: ${m.message}`);
		}
	} catch (err) {
		log.warn(`fleche explain could not run (${errorMessage(err)}); explaining from the store alone`);
	}
	if (explanation === undefined && entry) {
		explanation = await s.client.explain(entry.id, fn, args);
		source = { via: 'store' };
	}
	if (explanation === undefined) {
		const message = `${functionLabel(fn)} has no cached calls to compare with.`;
		void vscode.window.showInformationMessage(message);
		return message;
	}
	log.info(`explain ${functionLabel(fn)} ${text}: ${explanation.message}`);
	const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: explanationMarkdown(functionLabel(fn), text, explanation, source) });
	await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
	return explanation.message;
}
