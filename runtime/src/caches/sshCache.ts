// docs/behaviour.md §17: `SshCache`, a cache on another machine reached over `ssh` — a `Cache` of the `CallSsh` and
// `ValueSsh` of one connection (storage/ssh/store.ts), with the connection's own operations.
import type { RemoteInfo } from '../storage/ssh/protocol.js';
import { CallSsh, ValueSsh, type SshOptions } from '../storage/ssh/store.js';
import { Cache, type CacheStoreOptions } from './cache.js';

/**
 * A cache on another machine, reached over the system's `ssh` (docs/behaviour.md §17; Python's `SshCache`): one
 * long-lived connection runs `fleche remote --serve` there, which serves the cache its own fleche.toml names
 * (`remoteCache`, else its default cache) or a store folder there (`remoteRoot`). In `fleche.toml`: `template = "ssh"`.
 *
 * Nothing is contacted until the first call. When the remote cannot be reached or the connection drops, cached
 * functions still run and return their results (uncached, one `FLECHE_REMOTE_UNREACHABLE` warning per outage) and the
 * remote is tried again after a back-off; operations that ask the remote directly (listing, evicting, {@link info})
 * throw `RemoteConnectionError`, and {@link reconnect} tries again at once. Requires `ssh` that logs in without a
 * prompt (a key or an agent: it runs with `BatchMode=yes`) and fleche on the far machine.
 * @example
 * ```ts
 * import { SshCache, cache, fleche } from 'fleche';
 * const team = new SshCache({ host: 'build.internal', user: 'ci', remoteCache: 'results' });
 * using _ = cache(team);
 * const slow = fleche((n: number) => n * 2);
 * slow(21); // computed here and stored there; a hit on every machine that reaches it
 * ```
 */
export class SshCache extends Cache {
	declare readonly values: ValueSsh;
	declare readonly calls: CallSsh;

	/** @throws TypeError or RangeError for bad options (nothing is contacted yet). */
	constructor(options: SshOptions, cacheOptions?: CacheStoreOptions) {
		super(new ValueSsh(options), new CallSsh(options), cacheOptions);
	}

	/**
	 * What the far side said when it greeted this one: its fleche and Node versions, its process id, and its cache's
	 * description with secret keys and passwords redacted. Connects if not connected yet.
	 * @throws RemoteConnectionError when the remote cannot be reached or refuses to serve.
	 */
	info(): RemoteInfo {
		return this.calls.info();
	}

	/**
	 * Drops the connection (if any) and connects again now, forgetting an outage or a refusal: after the remote came
	 * back, or its configuration was fixed. Returns what the far side says of itself.
	 * @throws RemoteConnectionError when the connection cannot be made (cached calls then keep running uncached).
	 */
	reconnect(): RemoteInfo {
		return this.calls.reconnect();
	}

	/** Ends the connection; the next use starts another. */
	close(): void {
		this.calls.close();
	}
}
