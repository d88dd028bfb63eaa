// Rerun: the runtime CLI in the user's Node runs the stored calls again (spec `.rerun` semantics: recompute and
// overwrite), with a cancellable progress notification; tree and lenses update afterwards. The CLI imports the
// function's module, which runs its top-level code too: the progress and the outcome say so, and name the file.
import * as vscode from 'vscode';
import { getConfig } from '../config.js';
import { runCli, type CliRun } from '../data/cliRunner.js';
import type { CliMessage } from '../model/cliMessages.js';
import { importedFiles, rerunRanText, rerunSummary } from '../model/cliMessages.js';
import { functionLabel } from '../model/format.js';
import { log, logChannel } from '../log.js';
import type { Services } from './services.js';
import { resolveCall, resolveFunction } from './targets.js';

/**
 * Whether the workspace is trusted, saying why not when it is not: rerun and explain run the project's code (the
 * modules the stored calls name) with Node, which Restricted Mode forbids. The manifest disables the commands there
 * too (`capabilities.untrustedWorkspaces`); this covers callers that reach them otherwise (lenses, the API).
 */
export function requireTrust(action: string): boolean {
	if (vscode.workspace.isTrusted) return true;
	void vscode.window.showWarningMessage(`${action} runs this project's code, so it is disabled in Restricted Mode: trust the workspace to use it.`);
	return false;
}

/**
 * `--root PATH` for a cache with a folder, `--cache NAME` otherwise; `--cwd` the folder it was found from; `env` the
 * kept password of its database server (PGPASSWORD), if any.
 */
export async function cacheArgs(s: Services, cache: string | undefined): Promise<{ args: string[]; cwd: string; env: Record<string, string> }> {
	const entry = cache === undefined ? undefined : await s.client.entryOf(cache);
	const folder = entry?.folderPath ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd();
	const args = entry === undefined ? [] : entry.location.root !== null ? ['--root', entry.location.root] : ['--cache', entry.location.name];
	return { args: [...args, '--cwd', folder], cwd: folder, env: cache === undefined ? {} : await s.client.childEnv(cache) };
}

/**
 * Runs a CLI command that imports the user's module (rerun, call) under a cancellable progress notification that says
 * so and names the imported file; `onMessage` hears the rest of its JSON lines.
 */
export function runImportingCli(
	s: Services,
	title: string,
	cliArgs: readonly string[],
	cwd: string,
	onMessage?: (m: CliMessage, progress: vscode.Progress<{ message?: string; increment?: number }>) => void,
	env: Readonly<Record<string, string>> = {},
): Thenable<CliRun> {
	return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) => {
		progress.report({ message: "importing the function's module: its top-level code runs too, unless guarded with isRerun()" });
		return runCli(cliArgs, {
			node: getConfig().nodePath,
			cwd,
			bundledCli: s.bundledCli,
			env,
			token,
			log: (line) => log.info(line),
			onMessage: (m) => {
				if (m.type === 'other' && m.raw.type === 'module' && typeof m.raw.file === 'string') progress.report({ message: `imported ${m.raw.file}` });
				onMessage?.(m, progress);
			},
		});
	});
}

async function rerun(s: Services, title: string, cliArgs: string[], cache: string | undefined): Promise<boolean> {
	const { args, cwd, env } = await cacheArgs(s, cache);
	let last = 0;
	const result = await runImportingCli(s, title, ['rerun', ...cliArgs, ...args], cwd, (m, progress) => {
		if (m.type !== 'progress' || m.total <= 0) return;
		const pct = (m.done / m.total) * 100;
		progress.report({ message: `${m.done} of ${m.total}`, increment: pct - last });
		last = pct;
	}, env);
	await s.refresh();
	const summary = rerunSummary(result.messages, result.cancelled);
	for (const f of summary.failures) log.error(`rerun ${f}`);
	if (!summary.ok || (!result.ok && !result.cancelled)) {
		const text = summary.ok ? `Rerun failed (exit code ${result.code ?? 'signal'}): ${result.stderr.trim().split('\n').at(-1) ?? ''}` : summary.text;
		log.error(text);
		if (result.cancelled) void vscode.window.showInformationMessage(summary.text);
		else if ((await vscode.window.showErrorMessage(text, 'Show Log')) === 'Show Log') logChannel().show(true);
		return false;
	}
	void vscode.window.showInformationMessage(rerunRanText(summary.text, importedFiles(result.messages)));
	return true;
}

export async function rerunCall(s: Services, arg?: unknown): Promise<boolean> {
	if (!requireTrust('Rerun')) return false;
	const target = await resolveCall(s.client, arg, 'Rerun which call?');
	if (!target) return false;
	return rerun(s, `Rerunning ${target.key.slice(0, 12)}…`, [target.key], target.cache);
}

export async function rerunFunction(s: Services, arg?: unknown): Promise<boolean> {
	if (!requireTrust('Rerun')) return false;
	const fn = await resolveFunction(s.client, arg, 'Rerun every cached call of which function?');
	if (!fn) return false;
	return rerun(s, `Rerunning ${fn.name}…`, ['--function', functionLabel(fn)], fn.cache);
}
