// Owns the open fleche/inspect stores of the workspace: which caches each folder sees, one Store handle per cache,
// snapshots of their function lists, and one debounced change event for the tree and the lenses.
import * as vscode from 'vscode';
import { openStore, type CallDetail, type CallSummary, type FunctionRef, type FunctionSummary, type Store } from 'fleche/inspect';
import { cacheId, type CacheInfo } from '../model/callTree.js';
import { mergeCounts, type FunctionCounts } from '../model/codeLens.js';
import { Disposable } from '../disposable.js';
import { errorMessage, log } from '../log.js';
import { locateCaches, type LocatedCache } from './cacheLocator.js';

/** One cache as the views see it: where it is, and its functions or why they cannot be read. */
export interface CacheEntry {
	readonly id: string;
	readonly location: CacheInfo;
	/** The workspace folder it was found from (its name), or null for a path from the settings. */
	readonly folder: string | null;
	readonly folderPath: string;
	readonly functions?: readonly FunctionSummary[];
	readonly error?: string;
}

interface OpenCache {
	readonly located: LocatedCache;
	store?: Store;
	watch?: { dispose(): void };
	functions?: FunctionSummary[];
	error?: string;
}

export class CacheClient extends Disposable {
	private caches = new Map<string, OpenCache>();
	private discovered = false;
	private readonly _onDidChange = this._register(new vscode.EventEmitter<void>());
	/** Fires (debounced by the stores) after any store changed on disk, or after the set of caches changed. */
	readonly onDidChange = this._onDidChange.event;

	constructor(private readonly extraCaches: () => readonly string[]) {
		super();
		this._register({ dispose: () => this.closeAll() });
	}

	/** Forgets every snapshot and re-runs discovery (fleche.toml edits, settings changes, Refresh). */
	reset(): void {
		this.closeAll();
		this.discovered = false;
		this._onDidChange.fire();
	}

	/** Forgets snapshots but keeps stores open (they re-read what changed). */
	invalidate(): void {
		for (const c of this.caches.values()) c.functions = undefined;
	}

	private closeAll(): void {
		for (const c of this.caches.values()) {
			c.watch?.dispose();
			try {
				c.store?.close();
			} catch {
				// already closed
			}
		}
		this.caches.clear();
	}

	private discover(): void {
		if (this.discovered) return;
		this.discovered = true;
		const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => ({ name: f.name, path: f.uri.fsPath }));
		for (const located of locateCaches(folders, this.extraCaches(), (m) => log.warn(m))) {
			const id = cacheId(located.location);
			if (!this.caches.has(id)) this.caches.set(id, { located });
		}
	}

	private open(c: OpenCache): Store | undefined {
		if (c.store) return c.store;
		if (c.error !== undefined) return undefined;
		try {
			c.store = openStore(c.located.location, { cwd: c.located.folderPath });
			c.watch = c.store.watch(() => {
				// A store that did not exist at discovery may have a fleche.toml-declared sibling now: look again.
				if (!c.located.location.exists) return this.reset();
				c.functions = undefined;
				this._onDidChange.fire();
			});
		} catch (err) {
			c.error = errorMessage(err);
			log.error(`Cannot open cache ${c.located.location.name} (${c.located.location.root ?? c.located.location.kind}): ${errorMessage(err)}`);
		}
		return c.store;
	}

	/** Every cache, with its functions read (from the snapshot when nothing changed). */
	entries(): CacheEntry[] {
		this.discover();
		return [...this.caches.entries()].map(([id, c]) => this.entry(id, c));
	}

	private entry(id: string, c: OpenCache): CacheEntry {
		const base = { id, location: c.located.location, folder: c.located.folder, folderPath: c.located.folderPath };
		const { location } = c.located;
		// A folder named in the `fleche.caches` setting that holds no store is a mistake to show, not an empty cache.
		if (!location.exists && location.source === null && location.name !== 'default' && location.root !== null) {
			return { ...base, error: `No fleche store at ${location.root} (expected calls/ and values/, or calls.db)` };
		}
		const store = this.open(c);
		if (!store) return { ...base, error: c.error ?? 'cannot open' };
		if (!c.functions) {
			try {
				c.functions = store.functions();
			} catch (err) {
				log.error(`Cannot list ${c.located.location.name}: ${errorMessage(err)}`);
				return { ...base, error: errorMessage(err) };
			}
		}
		return { ...base, functions: c.functions };
	}

	entryOf(id: string): CacheEntry | undefined {
		this.discover();
		const c = this.caches.get(id);
		return c && this.entry(id, c);
	}

	store(id: string): Store {
		this.discover();
		const c = this.caches.get(id);
		if (!c) throw new Error(`No cache ${id} in this workspace`);
		const store = this.open(c);
		if (!store) throw new Error(`Cannot open cache ${c.located.location.name}: ${c.error ?? 'unknown error'}`);
		return store;
	}

	calls(id: string, fn: FunctionRef, offset: number, limit: number): { total: number; calls: CallSummary[] } {
		return this.store(id).calls(fn, { offset, limit });
	}

	/** The cache that holds a call key (or unique prefix), searching every cache when `id` is not given. */
	findCall(keyOrPrefix: string, id?: string): { cache: string; call: CallDetail } {
		if (id !== undefined) return { cache: id, call: this.store(id).call(keyOrPrefix) };
		let firstError: Error | undefined;
		for (const entry of this.entries()) {
			if (entry.error !== undefined) continue;
			try {
				return { cache: entry.id, call: this.store(entry.id).call(keyOrPrefix) };
			} catch (err) {
				firstError ??= err instanceof Error ? err : new Error(String(err));
			}
		}
		throw firstError ?? new Error(`No cached call ${keyOrPrefix}`);
	}

	/** Caches holding calls of `fn` (all of them when `id` is given and holds it). */
	cachesOf(fn: FunctionRef, id?: string): CacheEntry[] {
		return this.entries().filter(
			(e) => (id === undefined || e.id === id) && e.functions?.some((f) => f.name === fn.name && f.module === fn.module),
		);
	}

	/**
	 * Counts per function identity for the lenses of a document in `folderPath`: summed over the caches found from
	 * that folder (and the caches from the settings).
	 */
	countsFor(folderPath: string | undefined): Map<string, FunctionCounts> {
		const lists = this.entries()
			.filter((e) => folderPath === undefined || e.folderPath === folderPath || e.folder === null)
			.map((e) => (e.functions ?? []).map((f) => ({ module: f.module, name: f.name, hits: f.hits, misses: f.misses, calls: f.calls })));
		return mergeCounts(lists);
	}

	/** Tells listeners now (after this process changed a store, without waiting for the watcher). */
	changed(): void {
		this.invalidate();
		this._onDidChange.fire();
	}
}
