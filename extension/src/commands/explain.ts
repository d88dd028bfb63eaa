// Explain Miss: why would this call not hit the cache? The CLI computes it in the user's Node (it can import the
// function, so version and code changes show); when the CLI cannot run, fleche/inspect explains from the store
// alone (arguments only).
import * as vscode from 'vscode';
import { getConfig } from '../config.js';
import { runCli } from '../data/cliRunner.js';
import { functionLabel } from '../model/format.js';
import { errorMessage, log } from '../log.js';
import { requireTrust } from './rerun.js';
import type { Services } from './services.js';
import { functionArg, resolveFunction, type FunctionTarget } from './targets.js';

/** The newest cached call's arguments as JSON, to start editing from. */
async function exampleArgs(s: Services, fn: FunctionTarget): Promise<string> {
	try {
		const cache = fn.cache ?? (await s.client.cachesOf(fn))[0]?.id;
		if (cache === undefined) return '{}';
		const newest = (await s.client.calls(cache, fn, 0, 1)).calls[0];
		if (!newest) return '{}';
		return JSON.stringify((await s.client.findCall(newest.key, cache)).call.arguments) ?? '{}';
	} catch {
		return '{}';
	}
}

async function askArgs(s: Services, fn: FunctionTarget): Promise<string | undefined> {
	return vscode.window.showInputBox({
		title: `Explain a miss of ${fn.name}`,
		prompt: 'Arguments by parameter name, as JSON',
		value: await exampleArgs(s, fn),
		validateInput: (v) => {
			try {
				const parsed: unknown = JSON.parse(v);
				return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? undefined : 'An object: {"a": 1, "b": "x"}';
			} catch (err) {
				return errorMessage(err);
			}
		},
	});
}

export async function explainMiss(s: Services, arg?: unknown, argsJson?: unknown): Promise<string | undefined> {
	if (!requireTrust('Explain Miss')) return undefined;
	const fn = await resolveFunction(s.client, arg, 'Explain a miss of which function?');
	if (!fn) return undefined;
	// Called on a function (tree, lens, API) without arguments: explain the newest cached call as it would run now,
	// which shows a changed version or code. From the palette: ask for the arguments, starting from that call's.
	const text = typeof argsJson === 'string' ? argsJson : functionArg(arg) !== undefined ? await exampleArgs(s, fn) : await askArgs(s, fn);
	if (text === undefined) return undefined;
	const args = JSON.parse(text) as Record<string, unknown>;
	const entry = fn.cache !== undefined ? await s.client.entryOf(fn.cache) : (await s.client.cachesOf(fn))[0];
	const cwd = entry?.folderPath ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd();
	let message: string | undefined;
	try {
		const run = await runCli(
			['explain', functionLabel(fn), text, ...(entry?.location.root ? ['--root', entry.location.root] : []), '--cwd', cwd],
			{ node: getConfig().nodePath, cwd, bundledCli: s.bundledCli, log: (l) => log.info(l) },
		);
		for (const m of run.messages) {
			const explanation = m.type === 'other' && m.raw.type === 'explain' ? (m.raw.explanation as { message?: unknown } | undefined) : undefined;
			if (typeof explanation?.message === 'string') message = explanation.message;
			if (m.type === 'error') log.warn(`fleche explain: ${m.message}`);
		}
	} catch (err) {
		log.warn(`fleche explain could not run (${errorMessage(err)}); explaining from the store alone`);
	}
	if (message === undefined && entry) message = (await s.client.explain(entry.id, fn, args)).message;
	message ??= `${functionLabel(fn)} has no cached calls to compare with.`;
	log.info(`explain ${functionLabel(fn)} ${text}: ${message}`);
	void vscode.window.showInformationMessage(message);
	return message;
}
