// docs/behaviour.md §19 "Hearing other machines' writes": a PostgreSQL store tells its watchers of
// changes through the server itself (LISTEN/NOTIFY), since no folder on this machine changes when another machine
// writes.
//
//   writers    the store's engine (pgEngine.ts) runs every request through `writeAnnouncer`: after a request that
//              changed what tools show committed (a call record saved or evicted, values evicted, statistics flushed,
//              a lease of a call in flight taken or released), it sends `pg_notify(channel, '')`. Throttled: the
//              first write after a quiet {@link announceEveryMs} notifies before its answer returns (a one-off write —
//              `fleche evict` — is heard even if its process exits right after); later writes within the interval
//              share one trailing notification, which the store also asks for before its process ends
//              (`flushNoticesOp`, run by beforeShutdown). A save in a busy loop so costs no extra round trip; a failed
//              notification is ignored (the write itself committed; watchers re-list when they reconnect).
//   channel    one per schema (`fleche:<schema>`, notifications are per database already), so projects sharing a
//              database do not wake each other.
//   listeners  `listenForChanges` keeps one dedicated connection per server, schema and TLS options in this thread,
//              shared by every subscription, `LISTEN`ing on the channel. Lost (a restart, a dropped network, a failed
//              heartbeat) it is opened again with a back-off (250 ms doubling to 5 s); every subscriber is told when
//              it is lost (a tool then shows the server unreachable), again when the first try to open it again
//              fails (the outage confirmed), and once it is back (what was written meanwhile was not heard). The
//              first connection is such a return too: a tool lists a store before its listener is connected, so it
//              is told once that connection listens (a write in between was not heard) or once it first fails (the
//              server went away since the listing; a watcher told nothing would show that listing until a refresh).
//              Subscribers debounce (fleche/inspect `watch`).
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Disposable } from '../kinds.js';
import { connectionOf, loadPg } from './connect.js';
import { quoteIdent } from './schema.js';

/** The request that sends a held-back notification now (the store asks before its process ends). */
export const flushNoticesOp = 'flushNotices';

/** The least time between two notifications from one worker. */
export const announceEveryMs = 100;

/** Requests that change what tools show (this module's header); `putBatch` answers once its batch has committed. */
const changing = /^(putCall|putBatch|evict|addStats|lease$|releaseLease|sweepLeases)/;

/** The notification channel of a schema: at most 63 bytes, PostgreSQL's limit for names. */
export function channelOf(schema: string): string {
	const name = `fleche:${schema}`;
	return name.length <= 63 ? name : `fleche:${createHash('sha256').update(schema).digest('hex').slice(0, 48)}`;
}

/**
 * Wraps each request of a store's worker: runs it, then announces a change when it wrote (see the top of this file).
 * Before `close`, a pending trailing notification is sent while the pool is still there.
 */
export function writeAnnouncer(
	schema: string,
	query: (text: string, params: unknown[]) => Promise<unknown>,
): <T>(op: string, run: () => Promise<T>) => Promise<T> {
	const channel = channelOf(schema);
	let lastSent = -Infinity;
	let timer: ReturnType<typeof setTimeout> | undefined;
	const send = async (): Promise<void> => {
		lastSent = performance.now();
		try {
			await query(`SELECT pg_notify($1, '')`, [channel]);
		} catch {
			// The write committed; watchers re-list when they reconnect.
		}
	};
	const flush = async (): Promise<void> => {
		if (timer === undefined) return;
		clearTimeout(timer);
		timer = undefined;
		await send();
	};
	return async (op, run) => {
		if (op === 'close' || op === flushNoticesOp) await flush();
		if (op === flushNoticesOp) return null as never;
		const value = await run();
		if (changing.test(op) && timer === undefined) {
			const wait = lastSent + announceEveryMs - performance.now();
			if (wait <= 0) await send();
			else
				timer = setTimeout(() => {
					timer = undefined;
					void send();
				}, wait);
		}
		return value;
	};
}

/** What a listener connects with. */
export interface ListenTarget {
	/** The URL without its password. */
	readonly url: string;
	/** The password kept apart from the URL in this thread, if any (else `PGPASSWORD`, ~/.pgpass). */
	readonly password?: string;
	readonly schema: string;
	readonly ssl?: boolean | Readonly<Record<string, unknown>>;
	readonly timeoutMs: number;
}

const firstRetryMs = 250;
const lastRetryMs = 5000;
/** How often an idle listening connection is checked (a silently dropped network ends no socket at once). */
const heartbeatMs = 15_000;

/** The dedicated listening connection of one server and schema in this thread, and its subscribers. */
class Listener {
	readonly subscribers = new Set<() => void>();
	readonly #target: ListenTarget;
	readonly #channel: string;
	#client: pg.Client | undefined;
	#timer: ReturnType<typeof setTimeout> | undefined;
	#heartbeat: ReturnType<typeof setInterval> | undefined;
	#retryMs = firstRetryMs;
	/**
	 * Subscribers may have missed a write since they last looked: they are told once the connection listens. True at
	 * first, since a tool lists before its listener is connected, and after every loss.
	 */
	#missed = true;
	/**
	 * No try since the last look: the first failed try tells the subscribers (see {@link #lost}). True at first too:
	 * the server may have gone away between the tool's listing and this connection's first try.
	 */
	#unconfirmed = true;
	#closed = false;

	constructor(target: ListenTarget) {
		this.#target = target;
		this.#channel = channelOf(target.schema);
		void this.#connect();
	}

	#tell(): void {
		for (const fire of [...this.subscribers]) fire();
	}

	async #connect(): Promise<void> {
		this.#timer = undefined;
		let client: pg.Client | undefined;
		try {
			const { connectionString } = await connectionOf(this.#target.url, this.#target.password);
			if (this.#closed) return;
			client = new (loadPg().Client)({
				connectionString,
				...(this.#target.ssl !== undefined ? { ssl: this.#target.ssl as pg.ClientConfig['ssl'] } : {}),
				connectionTimeoutMillis: this.#target.timeoutMs,
				query_timeout: this.#target.timeoutMs,
				keepAlive: true,
				application_name: 'fleche watch',
			});
			const mine = client;
			client.on('notification', (n) => {
				if (n.channel === this.#channel) this.#tell();
			});
			client.on('error', () => this.#lost(mine));
			client.on('end', () => this.#lost(mine));
			await client.connect();
			await client.query(`LISTEN ${quoteIdent(this.#channel)}`);
		} catch {
			if (client !== undefined) void client.end().catch(() => undefined);
			if (this.#unconfirmed) {
				this.#unconfirmed = false;
				this.#tell();
			}
			this.#retry();
			return;
		}
		if (this.#closed) {
			void client.end().catch(() => undefined);
			return;
		}
		this.#client = client;
		this.#retryMs = firstRetryMs;
		this.#unconfirmed = false;
		this.#heartbeat = setInterval(() => {
			const c = this.#client;
			c?.query('SELECT 1').catch(() => this.#lost(c));
		}, heartbeatMs);
		// Listening now, after an outage or for the first time: what was written meanwhile was not heard.
		if (this.#missed) {
			this.#missed = false;
			this.#tell();
		}
	}

	#retry(): void {
		if (this.#closed || this.#timer !== undefined) return;
		this.#timer = setTimeout(() => void this.#connect(), this.#retryMs);
		this.#retryMs = Math.min(this.#retryMs * 2, lastRetryMs);
	}

	#lost(client: pg.Client): void {
		if (this.#client !== client) return;
		this.#client = undefined;
		clearInterval(this.#heartbeat);
		void client.end().catch(() => undefined);
		// Subscribers look again now (a tool then shows the server as unreachable), again once a new connection failed
		// (a look at the very moment of the loss may still have found the server answering on another connection), and
		// again once it is back.
		this.#unconfirmed = true;
		this.#missed = true;
		this.#tell();
		this.#retry();
	}

	close(): void {
		this.#closed = true;
		clearTimeout(this.#timer);
		clearInterval(this.#heartbeat);
		const client = this.#client;
		this.#client = undefined;
		void client?.end().catch(() => undefined);
	}
}

const listenersKey = Symbol.for('fleche.postgres.listeners');

function listeners(): Map<string, Listener> {
	const g = globalThis as { [listenersKey]?: Map<string, Listener> };
	return (g[listenersKey] ??= new Map<string, Listener>());
}

/**
 * Calls `fire` whenever a process anywhere commits a change to the store of `target`, until disposed; also once the
 * listening connection first listens or first fails, and when it is lost and back (see the top of this file).
 * Subscriptions to one server and schema share a connection.
 */
export function listenForChanges(target: ListenTarget, fire: () => void): Disposable {
	const id = JSON.stringify([target.url, target.schema, target.ssl ?? null]);
	let listener = listeners().get(id);
	if (listener === undefined) listeners().set(id, (listener = new Listener(target)));
	const subscribed = listener;
	const entry = (): void => fire();
	subscribed.subscribers.add(entry);
	let disposed = false;
	return {
		dispose: () => {
			if (disposed) return;
			disposed = true;
			subscribed.subscribers.delete(entry);
			if (subscribed.subscribers.size === 0) {
				subscribed.close();
				if (listeners().get(id) === subscribed) listeners().delete(id);
			}
		},
	};
}
