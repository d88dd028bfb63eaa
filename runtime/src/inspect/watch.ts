// docs/behaviour.md §12 (`fleche/inspect`): store change notifications. fs.watch on the store's folders (non-recursive:
// recursive watching is not available on every platform Node 20 supports), debounced; folders that do not exist yet
// (a store nothing was cached in, the statistics folder before the first flush) are polled until they appear.
import { existsSync, watch, type FSWatcher } from 'node:fs';
import type { Disposable } from '../storage/kinds.js';

export type { Disposable };

/** How often a folder that does not exist yet is checked for. */
const POLL_MS = 500;

/**
 * Calls `listener` once, `debounceMs` after the last of a burst of changes in any of `folders`, whoever made them
 * (this process or another). A folder created later is picked up within {@link POLL_MS}, and its creation counts as
 * a change; a watched folder that is removed goes back to being polled. Watchers never keep the process alive.
 */
export function watchFolders(folders: readonly string[], listener: () => void, debounceMs: number): Disposable {
	let disposed = false;
	const watchers = new Map<string, FSWatcher>();
	const { fire, cancel } = debounced(listener, debounceMs);
	/** Starts watching `folder` if it exists and is not watched yet; true when it is watched now. */
	const arm = (folder: string): boolean => {
		if (watchers.has(folder)) return true;
		if (!existsSync(folder)) return false;
		let w: FSWatcher;
		try {
			w = watch(folder, { persistent: false }, () => {
				fire();
				// A new sub-folder (the statistics folder, `calls/` of a new store) may be one of ours.
				for (const f of folders) arm(f);
			});
		} catch {
			return false;
		}
		w.on('error', () => {
			w.close();
			watchers.delete(folder);
			fire();
		});
		watchers.set(folder, w);
		return true;
	};
	for (const folder of folders) arm(folder);
	// Polling covers folders that do not exist yet and watchers lost to errors: one stat per missing folder.
	const poll = setInterval(() => {
		let appeared = false;
		for (const folder of folders) {
			if (watchers.has(folder)) continue;
			if (arm(folder)) appeared = true;
		}
		if (appeared) fire();
	}, POLL_MS);
	poll.unref();
	return {
		dispose(): void {
			if (disposed) return;
			disposed = true;
			clearInterval(poll);
			cancel();
			for (const w of watchers.values()) w.close();
			watchers.clear();
		},
	};
}

/** However busy a store is, a burst of changes is told at most this long after its first change. */
const MAX_WAIT_MS = 1000;

/**
 * `listener`, called once `debounceMs` after the last of a burst of `fire()`s, or {@link MAX_WAIT_MS} after its first
 * when changes keep coming (a writer storing a call every 100 ms would otherwise never be seen); `cancel()` drops a
 * pending call for good. A listener that throws does not stop later calls: tools report their own errors.
 */
export function debounced(listener: () => void, debounceMs: number): { readonly fire: () => void; readonly cancel: () => void } {
	let timer: NodeJS.Timeout | undefined;
	/** When the pending burst began. */
	let first = 0;
	let cancelled = false;
	return {
		fire: (): void => {
			if (cancelled) return;
			const now = Date.now();
			if (timer !== undefined) clearTimeout(timer);
			else first = now;
			const wait = Math.max(0, Math.min(debounceMs, first + Math.max(debounceMs, MAX_WAIT_MS) - now));
			timer = setTimeout(() => {
				timer = undefined;
				try {
					listener();
				} catch {
					// see above
				}
			}, wait);
		},
		cancel: (): void => {
			cancelled = true;
			if (timer !== undefined) clearTimeout(timer);
			timer = undefined;
		},
	};
}
