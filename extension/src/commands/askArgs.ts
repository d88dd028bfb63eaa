// Asks for a call's arguments as JSON, starting from the newest cached call's (Explain Miss, Run with New Arguments).
import * as vscode from 'vscode';
import { errorMessage } from '../log.js';
import type { Services } from './services.js';
import type { FunctionTarget } from './targets.js';

/** The newest cached call's arguments as JSON, to start editing from; `{}` when there is none. */
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

/** Validates the input box's text: a JSON object by parameter name, or (when `positional`) an array. */
export function argsJsonProblem(text: string, positional: boolean): string | undefined {
	let parsed: unknown;
	try {
		parsed = JSON.parse(text);
	} catch (err) {
		return errorMessage(err);
	}
	if (typeof parsed !== 'object' || parsed === null) return positional ? 'An object {"a": 1, "b": "x"} or an array [1, "x"]' : 'An object: {"a": 1, "b": "x"}';
	if (Array.isArray(parsed) && !positional) return 'An object: {"a": 1, "b": "x"}';
	return undefined;
}

export async function askArgs(s: Services, fn: FunctionTarget, ask: { title: string; prompt: string; positional: boolean }): Promise<string | undefined> {
	return vscode.window.showInputBox({
		title: ask.title,
		prompt: ask.prompt,
		value: await exampleArgs(s, fn),
		validateInput: (v) => argsJsonProblem(v, ask.positional),
	});
}
