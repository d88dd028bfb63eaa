// Owns the caches of the workspace for the views: which caches each folder sees, snapshots of their function lists,
// and one debounced change event for the tree and the lenses. The stores themselves are opened and read in a worker
// thread (storeHost.ts): listing a store of 100,000 calls takes a large part of a second, and the extension host,
// which every extension shares, must not wait for it. So every read here is asynchronous.
import { Worker } from 'node:worker_threads';
import * as vscode from 'vscode';
import type { CallDetail, CallInFlight, CallSummary, Explanation, FunctionRef, FunctionSummary } from 'fleche/inspect';
import { cacheId, type CacheInfo } from '../model/callTree.js';
import { mergeCounts, type FunctionCounts } from '../model/codeLens.js';
import { Disposable } from '../disposable.js';
import { errorMessage, log } from '../log.js';
import { asksForPassword, serverUrls, withoutPasswords } from '../model/teamServers.js';
import { locateCaches, type LocatedCache } from './cacheLocator.js';
import type { ServerPasswords } from './serverPasswords.js';
import { unreachableError, type StoreChanged, type StoreLog, type StoreOp, type StoreOps, type StoreReply, type StoreRequest } from './storeProtocol.js';

/** One cache as the views see it: where it is, and its functions or why they cannot be read. */
export interface CacheEntry {
	readonly id: string;
	readonly location: CacheInfo;
	/** The workspace folder it was found from (its name), or null for a path from the settings. */
	readonly folder: string | null;
	readonly folderPath: string;
	/** Whether it lives on a database server (no folder to exist: listed while the configuration names it). */
	readonly onServer: boolean;
	readonly functions?: readonly FunctionSummary[];
	/** Calls being computed now (docs/behaviour.md §14: a running call's row, and the cache row's count). */
	readonly inFlight?: readonly CallInFlight[];
	readonly error?: string;
	/** Why its database server cannot be reached now (its URL without password): listed again at the next refresh. */
	readonly unreachable?: string;
}

/** A snapshot of one cache's listing: its functions and the calls in flight, read together. */
interface Listing {
	readonly functions: FunctionSummary[];
	readonly inFlight: CallInFlight[];
}

interface OpenCache {
	readonly id: string;
	readonly located: LocatedCache;
	/** Settles when the worker opened the store (true) or could not (false, with `error`). */
	opened?: Promise<boolean>;
	snapshot?: Listing;
	/** The listing in progress, shared by concurrent readers. */
	listing?: Promise<Listing>;
	/** Bumped by every change, so that a listing started before it is not kept. */
	version: number;
	error?: string;
}

interface Pending {
	resolve(value: unknown): void;
	reject(err: Error): void;
}

export class CacheClient extends Disposable {
	private caches = new Map<string, OpenCache>();
	/** Discovery of the caches, once per reset (it runs in the worker). */
	private discovered: Promise<void> | undefined;
	private worker: Worker | undefined;
	private nextId = 1;
	private readonly pending = new Map<number, Pending>();
	private readonly _onDidChange = this._register(new vscode.EventEmitter<void>());
	/** Fires (debounced by the stores) after any store changed on disk, or after the set of caches changed. */
	readonly onDidChange = this._onDidChange.event;

	/**
	 * @param extraCaches the `fleche.caches` setting.
	 * @param workerFile dist/storeHost.js inside the extension.
	 * @param passwords where passwords of PostgreSQL team caches are kept and asked for.
	 */
	constructor(
		private readonly extraCaches: () => readonly string[],
		private readonly workerFile: string,
		private readonly passwords?: ServerPasswords,
	) {
		super();
		this._register({ dispose: () => this.stop('the extension was deactivated') });
	}

	/** Forgets every snapshot, closes the stores and re-runs discovery (fleche.toml edits, settings changes, Refresh). */
	reset(): void {
		for (const c of this.caches.values()) if (c.opened !== undefined) void this.request('close', { cache: c.id }).catch(() => undefined);
		this.caches = new Map();
		this.discovered = undefined;
		this._onDidChange.fire();
	}

	/** Forgets snapshots but keeps stores open (they re-read what changed). */
	invalidate(): void {
		for (const c of this.caches.values()) {
			c.snapshot = undefined;
			c.listing = undefined;
			c.version++;
		}
	}

	/** Tells listeners now (after this process changed a store, without waiting for the watcher). */
	changed(): void {
		this.invalidate();
		this._onDidChange.fire();
	}

	// --- the worker ----------------------------------------------------------------------------------------------

	private ensureWorker(): Worker {
		if (this.worker !== undefined) return this.worker;
		const worker = new Worker(this.workerFile);
		// Its open stores keep nothing alive that the extension host must wait for at shutdown.
		worker.unref();
		worker.on('message', (message: StoreReply | StoreChanged | StoreLog) => this.received(message));
		worker.on('error', (err) => {
			log.error(`The cache reader stopped: ${errorMessage(err)}`);
			this.lost(err.message);
		});
		worker.on('exit', (code) => {
			if (this.worker === worker) this.lost(`it exited with code ${code}`);
		});
		this.worker = worker;
		return worker;
	}

	private received(message: StoreReply | StoreChanged | StoreLog): void {
		if ('log' in message) {
			(message.log.level === 'error' ? log.error : log.warn)(`[${message.log.code}] ${message.log.message}`);
			return;
		}
		if ('changed' in message) {
			const c = this.caches.get(message.changed);
			if (c === undefined) return;
			// A store that did not exist at discovery may have a fleche.toml-declared sibling now: look again. (A store on a
			// server has no folder: it is simply listed again.)
			if (!c.located.location.exists && c.located.location.root !== null) return this.reset();
			c.snapshot = undefined;
			c.listing = undefined;
			c.version++;
			this._onDidChange.fire();
			return;
		}
		const waiting = this.pending.get(message.id);
		if (waiting === undefined) return;
		this.pending.delete(message.id);
		if (message.ok) waiting.resolve(message.value);
		else waiting.reject(Object.assign(new Error(message.message), { name: message.name }));
	}

	/** The worker is gone: what waited fails, and the next request starts a new one that opens the stores again. */
	private lost(reason: string): void {
		this.worker = undefined;
		for (const waiting of this.pending.values()) waiting.reject(new Error(`The cache reader stopped (${reason})`));
		this.pending.clear();
		for (const c of this.caches.values()) {
			c.opened = undefined;
			c.listing = undefined;
		}
	}

	private stop(reason: string): void {
		const worker = this.worker;
		this.lost(reason);
		void worker?.terminate();
	}

	private request<K extends StoreOp>(op: K, args: StoreOps[K]['args']): Promise<StoreOps[K]['value']> {
		const worker = this.ensureWorker();
		const id = this.nextId++;
		return new Promise<StoreOps[K]['value']>((resolve, reject) => {
			this.pending.set(id, { resolve, reject });
			worker.postMessage({ id, op, args } satisfies StoreRequest<K>);
		});
	}

	// --- caches ---------------------------------------------------------------------------------------------------

	private discover(): Promise<void> {
		if (this.discovered !== undefined) return this.discovered;
		const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => ({ name: f.name, path: f.uri.fsPath }));
		const caches = this.caches;
		const discovered = this.request('discover', { folders: folders.map((f) => f.path), extra: [...this.extraCaches()] }).then(
			(found) => {
				// A reset while discovering replaced the map: this discovery's result is stale.
				if (this.caches !== caches) return;
				for (const located of locateCaches(folders, found, (m) => log.warn(m))) {
					const id = cacheId(located.location);
					if (!caches.has(id)) caches.set(id, { id, located, version: 0 });
				}
			},
			(err: unknown) => {
				log.error(`Cannot discover the fleche caches: ${errorMessage(err)}`);
				// The next read tries again.
				if (this.discovered === discovered) this.discovered = undefined;
			},
		);
		this.discovered = discovered;
		return discovered;
	}

	private async openArgs(c: OpenCache): Promise<StoreOps['open']['args']> {
		const args = { cache: c.id, location: c.located.location, cwd: c.located.folderPath };
		const urls = serverUrls(c.located.location.config);
		const passwords = urls.length > 0 && this.passwords !== undefined ? await this.passwords.get(urls) : {};
		return Object.keys(passwords).length > 0 ? { ...args, passwords } : args;
	}

	/** What is shown of a store's error: never a password the user gave, even if a message carried one. */
	private shown(err: unknown): string {
		return withoutPasswords(errorMessage(err), this.passwords?.known() ?? []);
	}

	/** A server refused or wanted a password: ask for it (once), then read every cache again. */
	private offerPassword(c: OpenCache, message: string): void {
		const urls = serverUrls(c.located.location.config);
		if (this.passwords === undefined || urls.length === 0 || !asksForPassword(message)) return;
		const keeper = this.passwords;
		const url = urls.find((u) => message.includes(u)) ?? urls[0]!;
		void (async () => {
			const kept = url in (await keeper.get([url]));
			if (await keeper.ask(url, kept)) this.reset();
		})();
	}

	/** Environment variables for a CLI child process working on cache `id` (PGPASSWORD of its server, if kept). */
	async childEnv(id: string): Promise<Record<string, string>> {
		await this.discover();
		const c = this.caches.get(id);
		const urls = c === undefined ? [] : serverUrls(c.located.location.config);
		return urls.length > 0 && this.passwords !== undefined ? this.passwords.env(urls) : {};
	}

	private open(c: OpenCache): Promise<boolean> {
		if (c.error !== undefined) return Promise.resolve(false);
		c.opened ??= this.openArgs(c).then((args) => this.request('open', args)).then(
			() => true,
			(err: unknown) => {
				c.error = this.shown(err);
				log.error(`Cannot open cache ${c.located.location.name} (${c.located.location.root ?? c.located.location.kind}): ${c.error}`);
				return false;
			},
		);
		return c.opened;
	}

	/** Every cache, with its functions read (from the snapshot when nothing changed). */
	async entries(): Promise<CacheEntry[]> {
		await this.discover();
		return Promise.all([...this.caches.values()].map((c) => this.entry(c)));
	}

	private async entry(c: OpenCache): Promise<CacheEntry> {
		const base = {
			id: c.id,
			location: c.located.location,
			folder: c.located.folder,
			folderPath: c.located.folderPath,
			onServer: serverUrls(c.located.location.config).length > 0,
		};
		const { location } = c.located;
		// A folder named in the `fleche.caches` setting that holds no store is a mistake to show, not an empty cache.
		if (!location.exists && location.source === null && location.name !== 'default' && location.root !== null) {
			return { ...base, error: `No fleche store at ${location.root} (expected calls/ and values/, or calls.db)` };
		}
		if (!(await this.open(c))) return { ...base, error: c.error ?? 'cannot open' };
		if (c.snapshot) return { ...base, ...c.snapshot };
		try {
			return { ...base, ...(await this.list(c)) };
		} catch (err) {
			const message = this.shown(err);
			// A server that is down: the row says so, and the next refresh (or its coming back) lists it again.
			if ((err as Error).name === unreachableError) return { ...base, unreachable: message };
			log.error(`Cannot list ${c.located.location.name}: ${message}`);
			this.offerPassword(c, message);
			return { ...base, error: message };
		}
	}

	private list(c: OpenCache): Promise<Listing> {
		if (c.listing) return c.listing;
		const version = c.version;
		// Calls in flight are a hint: a lease folder that cannot be read must not hide the functions.
		const listing = Promise.all([this.request('functions', { cache: c.id }), this.request('inFlight', { cache: c.id }).catch(() => [])]).then(([functions, inFlight]) => {
			const snapshot = { functions, inFlight };
			if (c.version === version) c.snapshot = snapshot;
			return snapshot;
		});
		c.listing = listing;
		// A failed listing is not kept: the next read tries again.
		listing.catch(() => undefined).finally(() => {
			if (c.listing === listing) c.listing = undefined;
		});
		return listing;
	}

	async entryOf(id: string): Promise<CacheEntry | undefined> {
		await this.discover();
		const c = this.caches.get(id);
		return c ? this.entry(c) : undefined;
	}

	/** The open cache `id`, or a clear error. */
	private async opened(id: string): Promise<OpenCache> {
		await this.discover();
		const c = this.caches.get(id);
		if (!c) throw new Error(`No cache ${id} in this workspace`);
		if (!(await this.open(c))) throw new Error(`Cannot open cache ${c.located.location.name}: ${c.error ?? 'unknown error'}`);
		return c;
	}

	async calls(id: string, fn: FunctionRef, offset: number, limit: number): Promise<{ total: number; calls: CallSummary[] }> {
		const c = await this.opened(id);
		return this.request('calls', { cache: c.id, fn: { module: fn.module, name: fn.name }, offset, limit });
	}

	/** The cache that holds a call key (or unique prefix), searching every cache when `id` is not given. */
	async findCall(keyOrPrefix: string, id?: string): Promise<{ cache: string; call: CallDetail }> {
		if (id !== undefined) {
			const c = await this.opened(id);
			return { cache: id, call: await this.request('call', { cache: c.id, key: keyOrPrefix }) };
		}
		let firstError: Error | undefined;
		for (const entry of await this.entries()) {
			if (entry.error !== undefined) continue;
			try {
				return { cache: entry.id, call: await this.request('call', { cache: entry.id, key: keyOrPrefix }) };
			} catch (err) {
				firstError ??= err instanceof Error ? err : new Error(String(err));
			}
		}
		throw firstError ?? new Error(`No cached call ${keyOrPrefix}`);
	}

	/** Caches holding calls of `fn` (all of them when `id` is given and holds it). */
	async cachesOf(fn: FunctionRef, id?: string): Promise<CacheEntry[]> {
		return (await this.entries()).filter(
			(e) => (id === undefined || e.id === id) && e.functions?.some((f) => f.name === fn.name && f.module === fn.module),
		);
	}

	/**
	 * Counts per function identity for the lenses of a document in `folderPath`: summed over the caches found from
	 * that folder (and the caches from the settings).
	 */
	async countsFor(folderPath: string | undefined): Promise<Map<string, FunctionCounts>> {
		const entries = (await this.entries()).filter((e) => folderPath === undefined || e.folderPath === folderPath || e.folder === null);
		const lists = entries.map((e) => (e.functions ?? []).map((f) => ({ module: f.module, name: f.name, hits: f.hits, misses: f.misses, calls: f.calls })));
		// Calls in flight count on their function's lens ("· 1 running"), when their function is known.
		const flying = entries.flatMap((e) => (e.inFlight ?? []).flatMap((c) => (c.fn === undefined ? [] : [{ ...c.fn, hits: 0, misses: 0, calls: 0, running: 1 }])));
		return mergeCounts([...lists, flying]);
	}

	/** Evicts calls by key or prefix from cache `id`; returns how many. */
	async evict(id: string, keys: readonly string[]): Promise<number> {
		const c = await this.opened(id);
		return this.request('evict', { cache: c.id, keys: [...keys] });
	}

	/** Evicts every call of `fn` from cache `id`; returns how many. */
	async evictFunction(id: string, fn: FunctionRef): Promise<number> {
		const c = await this.opened(id);
		return this.request('evictFunction', { cache: c.id, fn: { module: fn.module, name: fn.name } });
	}

	/** Evicts every call of cache `id` and removes the values nothing refers to; returns how many calls. */
	async clear(id: string): Promise<number> {
		const c = await this.opened(id);
		return this.request('clear', { cache: c.id });
	}

	/** Why `fn(args)` would miss in cache `id`, from the store alone (fleche/inspect `explain`). */
	async explain(id: string, fn: FunctionRef, args: Record<string, unknown>): Promise<Explanation> {
		const c = await this.opened(id);
		return this.request('explain', { cache: c.id, fn: { module: fn.module, name: fn.name }, args });
	}
}
