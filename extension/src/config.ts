// Typed access to the extension's settings.
import * as vscode from 'vscode';
import { configSection, settings } from './constants.js';

export interface FlecheSettings {
	readonly codeLensEnabled: boolean;
	readonly caches: readonly string[];
	readonly nodePath: string;
}

export function getConfig(scope?: vscode.ConfigurationScope): FlecheSettings {
	const c = vscode.workspace.getConfiguration(configSection, scope);
	const caches = c.get<unknown>(settings.caches, []);
	return {
		codeLensEnabled: c.get<boolean>(settings.codeLensEnabled, true),
		caches: Array.isArray(caches) ? caches.filter((x): x is string => typeof x === 'string' && x.trim() !== '') : [],
		nodePath: c.get<string>(settings.nodePath, 'node') || 'node',
	};
}

export function affects(e: vscode.ConfigurationChangeEvent, key: (typeof settings)[keyof typeof settings]): boolean {
	return e.affectsConfiguration(`${configSection}.${key}`);
}
