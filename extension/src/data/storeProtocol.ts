// The messages between the extension host and its store worker (storeHost.ts), which owns every open fleche/inspect
// Store: reading a store of 100,000 calls takes a large part of a second, and the extension host (shared with every
// other extension) must not wait for it. Plain data only: each message crosses a worker boundary (structured clone).
import type { CacheLocation, CallDetail, CallInFlight, CallSummary, Explanation, FunctionRef, FunctionSummary } from 'fleche/inspect';

/** The caches one workspace folder sees (fleche/inspect `discoverCaches`), or why its configuration cannot be read. */
export type FolderCaches = { readonly locations: CacheLocation[] } | { readonly error: string };

/** What each operation takes and answers. `cache` is the id the client gave the store when it opened it. */
export interface StoreOps {
	/** Discovery reads fleche.toml files and looks at store folders: storage code, so it runs here too. */
	discover: { args: { folders: string[]; extra: string[] }; value: FolderCaches[] };
	/**
	 * `passwords`: what the user gave for the PostgreSQL URLs of the location (by URL without password, from VS Code's
	 * SecretStorage), put into the configuration only here, so that no message back, log or label holds one.
	 */
	open: { args: { cache: string; location: CacheLocation; cwd: string; passwords?: Record<string, string> }; value: null };
	close: { args: { cache: string }; value: null };
	/** Fails with the error name {@link unreachableError} (and the reason) while the store's server cannot be reached. */
	functions: { args: { cache: string }; value: FunctionSummary[] };
	/** Calls in flight (held leases, jobs of the cache's queues: fleche/inspect `inFlightAll`), read with the functions so that one refresh shows both. */
	inFlight: { args: { cache: string }; value: CallInFlight[] };
	calls: { args: { cache: string; fn: FunctionRef; offset: number; limit: number }; value: { total: number; calls: CallSummary[] } };
	call: { args: { cache: string; key: string }; value: CallDetail };
	evict: { args: { cache: string; keys: string[] }; value: number };
	evictFunction: { args: { cache: string; fn: FunctionRef }; value: number };
	clear: { args: { cache: string }; value: number };
	explain: { args: { cache: string; fn: FunctionRef; args: Record<string, unknown> }; value: Explanation };
}

export type StoreOp = keyof StoreOps;

/** The error name of a listing whose store cannot be reached now (fleche/inspect `Store.unreachable()`). */
export const unreachableError = 'StoreUnreachable';

export interface StoreRequest<K extends StoreOp = StoreOp> {
	readonly id: number;
	readonly op: K;
	readonly args: StoreOps[K]['args'];
}

/** The answer to request `id`; a failure carries the error's class name (`KeyError`, …) and message. */
export type StoreReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly name: string; readonly message: string };

/** Sent without a request: a store changed on disk (debounced by the store's watcher). */
export interface StoreChanged {
	readonly changed: string;
}

/** Sent without a request: a runtime warning from reading a store (a corrupt entry skipped, …) for the Fleche log. */
export interface StoreLog {
	readonly log: { readonly level: string; readonly code: string; readonly message: string };
}
