// What a command acts on: taken from its argument (a tree node, `{ key }`, `{ module, name }`, `{ cache }`), else
// asked with a quick pick.
import * as vscode from 'vscode';
import type { CacheClient, CacheEntry } from '../data/cacheClient.js';
import type { TreeNodeSpec } from '../model/callTree.js';
import { countsText, formatAge, formatDuration, functionLabel, truncate } from '../model/format.js';

export interface CallTarget {
	readonly cache: string | undefined;
	readonly key: string;
}

export interface FunctionTarget {
	readonly cache: string | undefined;
	readonly module: string | null;
	readonly name: string;
}

/** The second argument of destructive commands: `{ confirm: false }` skips the modal. */
export interface CommandOptions {
	readonly confirm?: boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null;
}

function dataOf(arg: unknown): Record<string, unknown> | undefined {
	if (!isRecord(arg)) return undefined;
	const spec = arg as Partial<TreeNodeSpec>;
	if (typeof spec.contextValue === 'string' && isRecord(spec.data)) return spec.data;
	return arg;
}

export function callArg(arg: unknown): CallTarget | undefined {
	const d = dataOf(arg);
	if (!d || typeof d.key !== 'string') return undefined;
	return { key: d.key, cache: typeof d.cache === 'string' ? d.cache : undefined };
}

export function functionArg(arg: unknown): FunctionTarget | undefined {
	const d = dataOf(arg);
	if (!d || typeof d.name !== 'string' || !(d.module === null || typeof d.module === 'string')) return undefined;
	return { module: d.module, name: d.name, cache: typeof d.cache === 'string' ? d.cache : undefined };
}

export function cacheArg(arg: unknown): string | undefined {
	const d = dataOf(arg);
	return d && typeof d.cache === 'string' ? d.cache : undefined;
}

const now = (): number => Date.now() / 1000;

function cacheLabel(e: CacheEntry): string {
	return e.location.name === 'default' && e.location.source === null ? '.fleche' : e.location.name;
}

export async function pickCache(client: CacheClient, placeHolder: string): Promise<string | undefined> {
	const entries = (await client.entries()).filter((e) => e.error === undefined && (e.functions?.length ?? 0) > 0);
	if (entries.length === 0) {
		void vscode.window.showInformationMessage('Nothing is cached in this workspace yet.');
		return undefined;
	}
	if (entries.length === 1) return entries[0]!.id;
	const picked = await vscode.window.showQuickPick(
		entries.map((e) => ({ label: cacheLabel(e), description: e.location.root ?? e.location.kind, detail: e.folder ?? undefined, id: e.id })),
		{ placeHolder },
	);
	return picked?.id;
}

export async function pickFunction(client: CacheClient, placeHolder: string, cache?: string): Promise<FunctionTarget | undefined> {
	const entries = await client.entries();
	const items = entries
		.filter((e) => e.error === undefined && (cache === undefined || e.id === cache))
		.flatMap((e) =>
			(e.functions ?? []).map((f) => ({
				label: f.name,
				description: `${f.module ?? ''} · ${countsText(f)}`,
				detail: entries.length > 1 ? cacheLabel(e) : undefined,
				target: { cache: e.id, module: f.module, name: f.name } satisfies FunctionTarget,
			})),
		);
	if (items.length === 0) {
		void vscode.window.showInformationMessage('Nothing is cached in this workspace yet.');
		return undefined;
	}
	const picked = await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true });
	return picked?.target;
}

/** A call of `fn` (the newest few hundred), picked by its arguments. */
export async function pickCallOf(client: CacheClient, fn: FunctionTarget, placeHolder: string): Promise<CallTarget | undefined> {
	const caches = fn.cache !== undefined ? [fn.cache] : (await client.cachesOf(fn)).map((e) => e.id);
	const pages = await Promise.all(caches.map(async (cache) => ({ cache, page: await client.calls(cache, fn, 0, 500) })));
	const items = pages.flatMap(({ cache, page }) =>
		page.calls.map((c) => ({
			label: truncate(c.argsText === '' ? '()' : c.argsText, 100),
			description: `${formatAge(c.created, now())} · ${formatDuration(c.duration)} · ${c.key.slice(0, 12)}`,
			target: { cache, key: c.key } satisfies CallTarget,
		})),
	);
	if (items.length === 0) {
		void vscode.window.showInformationMessage(`${functionLabel(fn)} has no cached calls.`);
		return undefined;
	}
	const picked = await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true });
	return picked?.target;
}

export async function resolveCall(client: CacheClient, arg: unknown, placeHolder: string): Promise<CallTarget | undefined> {
	const direct = callArg(arg);
	if (direct) return direct;
	const fn = functionArg(arg) ?? (await pickFunction(client, 'Which function?', cacheArg(arg)));
	return fn && pickCallOf(client, fn, placeHolder);
}

export async function resolveFunction(client: CacheClient, arg: unknown, placeHolder: string): Promise<FunctionTarget | undefined> {
	return functionArg(arg) ?? (await pickFunction(client, placeHolder, cacheArg(arg)));
}

/** Asks before a destructive command unless told not to; resolves true to go on. */
export async function confirm(message: string, options: unknown, detail?: string): Promise<boolean> {
	if (isRecord(options) && (options as CommandOptions).confirm === false) return true;
	const answer = await vscode.window.showWarningMessage(message, { modal: true, ...(detail ? { detail } : {}) }, 'Invalidate');
	return answer === 'Invalidate';
}
