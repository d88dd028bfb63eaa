// Invalidate (`evict`, docs/behaviour.md §1.10): one call, one function's calls, or a whole cache; asks first unless called
// with `{ confirm: false }`.
import * as vscode from 'vscode';
import { functionLabel, plural } from '../model/format.js';
import type { Services } from './services.js';
import { cacheArg, confirm, pickCache, resolveCall, resolveFunction } from './targets.js';

export async function evictCall(s: Services, arg?: unknown, options?: unknown): Promise<number> {
	const target = await resolveCall(s.client, arg, 'Invalidate which call?');
	if (!target) return 0;
	const { cache, call } = await s.client.findCall(target.key, target.cache);
	if (!(await confirm(`Invalidate the cached call ${call.name}(${call.argsText})?`, options, 'Its stored result is removed; the next call computes it again.'))) return 0;
	const n = await s.client.evict(cache, [call.key]);
	await s.refresh();
	void vscode.window.showInformationMessage(`Invalidated ${plural(n, 'call')} of ${call.name}.`);
	return n;
}

export async function evictFunction(s: Services, arg?: unknown, options?: unknown): Promise<number> {
	const fn = await resolveFunction(s.client, arg, 'Invalidate every cached call of which function?');
	if (!fn) return 0;
	const caches = fn.cache !== undefined ? [fn.cache] : (await s.client.cachesOf(fn)).map((e) => e.id);
	if (!(await confirm(`Invalidate every cached call of ${functionLabel(fn)}?`, options))) return 0;
	let n = 0;
	for (const cache of caches) n += await s.client.evictFunction(cache, fn);
	await s.refresh();
	void vscode.window.showInformationMessage(`Invalidated ${plural(n, 'call')} of ${fn.name}.`);
	return n;
}

export async function clearCache(s: Services, arg?: unknown, options?: unknown): Promise<number> {
	const cache = cacheArg(arg) ?? (await pickCache(s.client, 'Clear which cache?'));
	if (cache === undefined) return 0;
	const entry = await s.client.entryOf(cache);
	const label = entry?.location.root ?? entry?.location.name ?? cache;
	if (!(await confirm(`Clear every cached call in ${label}?`, options, 'This cannot be undone.'))) return 0;
	const n = await s.client.clear(cache);
	await s.refresh();
	void vscode.window.showInformationMessage(`Cleared ${plural(n, 'cached call')}.`);
	return n;
}
