// Run with New Arguments: calls a cached function with arguments the user types (prefilled with the newest cached
// call's), through the `fleche call` CLI in the user's Node — a hit returns the stored result, a miss runs the function
// and stores it — with a cancellable progress notification. The CLI imports the function's module, whose top-level
// code runs too (guard it with isRerun()), exactly as for Rerun.
import * as vscode from 'vscode';
import { functionLabel } from '../model/format.js';
import { log, logChannel } from '../log.js';
import { askArgs, argsJsonProblem } from './askArgs.js';
import { cacheArgs, requireTrust, runImportingCli } from './rerun.js';
import type { Services } from './services.js';
import { resolveFunction } from './targets.js';
import { commandIds } from '../constants.js';

/** What a run gave, for the notification and for callers (tests, other extensions). */
export interface RunOutcome {
	readonly ok: boolean;
	readonly cancelled: boolean;
	/** Whether the store held the call already. */
	readonly hit?: boolean;
	readonly key?: string;
	readonly resultText?: string;
	readonly error?: string;
}

const preview = (text: string): string => (text.length > 200 ? `${text.slice(0, 199)}…` : text).replace(/\s+/g, ' ');

export async function runWithArguments(s: Services, arg?: unknown, argsJson?: unknown): Promise<RunOutcome | undefined> {
	if (!requireTrust('Run with New Arguments')) return undefined;
	const fn = await resolveFunction(s.client, arg, 'Run which function with new arguments?');
	if (!fn) return undefined;
	const text =
		typeof argsJson === 'string'
			? argsJson
			: await askArgs(s, fn, {
					title: `Run ${fn.name} with new arguments`,
					prompt:
						'Arguments as JSON, by parameter name or positional; a hit returns the stored result, a miss runs the function (importing its module runs its top-level code) and stores it',
					positional: true,
				});
	if (text === undefined) return undefined;
	const problem = argsJsonProblem(text, true);
	if (problem !== undefined) throw new Error(`The arguments are not usable: ${problem}`);
	const cache = fn.cache ?? (await s.client.cachesOf(fn))[0]?.id;
	const { args, cwd, env } = await cacheArgs(s, cache);
	const result = await runImportingCli(s, `Running ${fn.name}…`, ['call', functionLabel(fn), text, ...args], cwd, undefined, env);
	await s.refresh();
	if (result.cancelled) {
		void vscode.window.showInformationMessage(`Run of ${fn.name} cancelled: nothing was stored for it.`);
		return { ok: false, cancelled: true };
	}
	const ran = result.messages.find((m) => m.type === 'other' && m.raw.type === 'ran');
	const raw = ran?.type === 'other' ? (ran.raw as { hit?: unknown; key?: unknown; ok?: unknown; resultText?: unknown; error?: unknown }) : undefined;
	const failure = result.messages.find((m) => m.type === 'error');
	if (raw === undefined || raw.ok !== true) {
		const error =
			typeof raw?.error === 'string'
				? `${fn.name} threw: ${raw.error}`
				: failure?.type === 'error'
					? failure.message
					: `fleche call failed (exit code ${result.code ?? 'signal'}): ${result.stderr.trim().split('\n').at(-1) ?? ''}`;
		log.error(error);
		if ((await vscode.window.showErrorMessage(error, 'Show Log')) === 'Show Log') logChannel().show(true);
		return { ok: false, cancelled: false, error, ...(typeof raw?.hit === 'boolean' ? { hit: raw.hit } : {}) };
	}
	const outcome: RunOutcome = {
		ok: true,
		cancelled: false,
		hit: raw.hit === true,
		...(typeof raw.key === 'string' ? { key: raw.key } : {}),
		...(typeof raw.resultText === 'string' ? { resultText: raw.resultText } : {}),
	};
	log.info(`call ${functionLabel(fn)} ${text}: ${outcome.hit ? 'hit' : 'miss'} → ${outcome.resultText ?? ''}`);
	const message = `${fn.name}: ${outcome.hit ? 'a hit (the stored result)' : 'a miss: ran and stored'} → ${preview(outcome.resultText ?? '')}`;
	void vscode.window.showInformationMessage(message, 'Show Call').then((choice) => {
		if (choice === 'Show Call' && outcome.key !== undefined) void vscode.commands.executeCommand(commandIds.showCallDetails, { key: outcome.key, cache });
	});
	return outcome;
}
