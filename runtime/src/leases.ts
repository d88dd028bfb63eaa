// docs/behaviour.md §3.6: what a miss does with a store's per-key leases (storage/base.ts `CallLeases`), below the
// protocol that decides when (protocol.ts): this thread's owner id, taking a lease (a failure is said and the call
// runs unleased), holding it (heartbeats while an async body runs; released at the end, or at the process's exit),
// and the waits between a waiter's checks — a timer or a watch event for async callers (sync ones sleep in
// `Atomics.wait`, clock.ts `sleepSync`).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { workerThreads } from './builtins.js';
import type { Leasing } from './caches/base.js';
import { warn, warnOnce } from './log.js';
import { leaseTimes, type LeaseOptions, type LeaseTimes } from './options.js';
import { beforeShutdown, flushOrder } from './shutdown.js';
import type { CallLeases, LeaseHolder } from './storage/base.js';

/** A miss's view of leasing: where, and for how long. */
export interface LeaseUse {
	readonly leases: CallLeases;
	readonly times: LeaseTimes;
	/** The function's label, for warnings. */
	readonly label: string;
}

/** The leasing of a missed call, or `undefined` when it runs unleased (no leases, or turned off). */
export function leaseUse(leasing: Leasing | undefined, fnOption: boolean | LeaseOptions | undefined, label: string): LeaseUse | undefined {
	if (leasing === undefined) return undefined;
	const times = leaseTimes(fnOption, leasing.option);
	return times === null ? undefined : { leases: leasing.leases, times, label };
}

let owner: string | undefined;

/** This thread's owner id: host, process, thread and a random part (a pid can be reused). */
export function leaseOwner(): string {
	return (owner ??= `${hostname()}:${process.pid}:${workerThreads().threadId}:${randomBytes(4).toString('hex')}`);
}

/**
 * What taking a lease gave: it is ours, someone else holds it (who: a waiter looks at the store again only when that
 * changes), or the call runs unleased (ours already, or a failure).
 */
export type Taken = 'acquired' | 'unleased' | LeaseHolder;

/** Whether two answers name the same holding of a lease (the same owner, since the same time). */
export function sameHolder(a: Taken | undefined, b: LeaseHolder): boolean {
	return typeof a === 'object' && a.owner === b.owner && a.since === b.since;
}

/** Tries to take the lease of `key`; a storage that fails is said once and the call runs unleased. */
export function take(use: LeaseUse, key: string, heartbeats: boolean): Taken {
	try {
		const got = use.leases.lease(key, leaseOwner(), { staleMs: use.times.staleMs, heartbeats });
		if (got.acquired) return 'acquired';
		// A lease of this thread's own: the call is in progress further up this thread's stack (a recursive call).
		return got.holder.owner === leaseOwner() ? 'unleased' : got.holder;
	} catch (err) {
		warnOnce(`lease:${use.label}`, 'FLECHE_LEASE_FAILED', `Cannot take a lease for ${use.label}, computing without one: ${(err as Error).message}`, {
			fn: use.label,
			cause: err,
		});
		return 'unleased';
	}
}

/** Leases this thread holds, released at the process's exit if their calls have not ended by then. */
const holding = new Map<string, () => void>();

/**
 * Holds the lease of `key` just taken: heartbeats start with `beat()` (once the body turned out to be async), and
 * `release()` (idempotent) gives it up. A failing release is said: waiters then take over after the stale time.
 */
export function hold(use: LeaseUse, key: string): { beat(): void; readonly release: () => void } {
	let timer: ReturnType<typeof setInterval> | undefined;
	const id = `${key}:${Math.random()}`;
	const release = (): void => {
		if (!holding.delete(id)) return;
		if (timer !== undefined) clearInterval(timer);
		try {
			use.leases.release(key, leaseOwner());
		} catch (err) {
			warn('FLECHE_LEASE_FAILED', `Cannot release the lease of ${use.label} (${key}): ${(err as Error).message}`, { fn: use.label, cause: err });
		}
	};
	holding.set(id, release);
	beforeShutdown(flushOrder.leases, releaseAll);
	return {
		beat() {
			if (timer !== undefined) return;
			timer = setInterval(() => {
				// A lease that is no longer ours was taken over: the computation goes on (its result is as good).
				if (!use.leases.heartbeat(key, leaseOwner()) && timer !== undefined) clearInterval(timer);
			}, use.times.staleMs / 3);
			timer.unref();
		},
		release,
	};
}

function releaseAll(): void {
	for (const release of [...holding.values()]) release();
}

/** Poll intervals of waiters, in milliseconds: they start short and double up to these. */
const MAX_PAUSE_SYNC = 8;
const MAX_PAUSE_ASYNC = 100;

/** The pause after `pause` (milliseconds). */
export function nextPause(pause: number, sync: boolean): number {
	return Math.min(pause * 2, sync ? MAX_PAUSE_SYNC : MAX_PAUSE_ASYNC);
}

/**
 * Waits `ms`, or less when the lease of `key` changes (when the storage can tell); rejects with the signal's reason
 * when `signal` aborts. Never blocks the event loop.
 */
export function pauseAsync(use: LeaseUse, key: string, ms: number, signal: AbortSignal | undefined, abortError: (s: AbortSignal) => Error): Promise<void> {
	return new Promise<void>((resolve, reject) => {
		if (signal?.aborted === true) {
			reject(abortError(signal));
			return;
		}
		let stopWatching: (() => void) | undefined;
		const done = (): void => {
			clearTimeout(timer);
			stopWatching?.();
			signal?.removeEventListener('abort', onAbort);
		};
		const wake = (): void => {
			done();
			resolve();
		};
		const onAbort = (): void => {
			done();
			reject(abortError(signal!));
		};
		const timer = setTimeout(wake, ms);
		signal?.addEventListener('abort', onAbort, { once: true });
		try {
			stopWatching = use.leases.watch?.(key, wake);
		} catch {
			// Watching is a shortcut; the timer finds the change as well.
		}
	});
}

/** Says, once per function, that a waiter stopped waiting and computes the call itself. */
export function gaveUp(use: LeaseUse): void {
	warnOnce(
		`lease-wait:${use.label}`,
		'FLECHE_LEASE_WAIT',
		`Waited ${use.times.waitMs / 1000} s for another process computing ${use.label}; computing it here (lease waitSeconds)`,
		{ fn: use.label },
	);
}
