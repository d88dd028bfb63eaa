// The "Fleche" log output channel, and the one way commands report a failure: a message with "Show Log".
import * as vscode from 'vscode';
import { outputChannelName } from './constants.js';

let channel: vscode.LogOutputChannel | undefined;

export function logChannel(): vscode.LogOutputChannel {
	channel ??= vscode.window.createOutputChannel(outputChannelName, { log: true });
	return channel;
}

export const log = {
	info: (message: string, ...args: unknown[]): void => logChannel().info(message, ...args),
	warn: (message: string, ...args: unknown[]): void => logChannel().warn(message, ...args),
	error: (message: string | Error, ...args: unknown[]): void => logChannel().error(message, ...args),
	debug: (message: string, ...args: unknown[]): void => logChannel().debug(message, ...args),
};

export function errorMessage(err: unknown): string {
	return err instanceof Error ? err.message : String(err);
}

let lastShown = { text: '', at: 0 };

/**
 * Logs `err` with its stack and shows one error message with a "Show Log" action. The same text within two seconds
 * is shown once (a failing refresh loop must not stack notifications).
 */
export async function showError(context: string, err: unknown): Promise<void> {
	log.error(`${context}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
	const text = `${context}: ${errorMessage(err)}`;
	const now = Date.now();
	if (text === lastShown.text && now - lastShown.at < 2000) return;
	lastShown = { text, at: now };
	const choice = await vscode.window.showErrorMessage(text, 'Show Log');
	if (choice === 'Show Log') logChannel().show(true);
}

export function disposeLog(): void {
	channel?.dispose();
	channel = undefined;
}
