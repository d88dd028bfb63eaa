// docs/behaviour.md §1.10, §1.12, §1.12b, §5: the error types fleche throws or converts into misses.

/**
 * Each error class carries a brand under a registered symbol, so `X.is(err)` still works when two copies of the
 * package (ESM and CJS, or two versions in one tree) are loaded at once — `instanceof` would not.
 */
const brand = Symbol.for('fleche.error');

/** Base class of every error fleche throws. Use the static `is()` guards rather than `instanceof`. */
export class FlecheError extends Error {
	/** @internal */
	readonly [brand]: string;

	constructor(message: string, options?: ErrorOptions) {
		super(message, options);
		this.name = new.target.name;
		this[brand] = new.target.name;
	}

	/** True when `err` is a fleche error of this class (or a subclass), from any copy of the package. */
	static is(err: unknown): err is FlecheError {
		return hasBrand(err, this.name);
	}
}

const parents: Record<string, string> = {};

function hasBrand(err: unknown, name: string): boolean {
	if (typeof err !== 'object' || err === null) return false;
	let own = (err as { [brand]?: unknown })[brand];
	if (typeof own !== 'string') return false;
	if (name === 'FlecheError') return true;
	// Walk the recorded class chain so `Rejected.is(new SaveError())` is true without relying on prototypes.
	while (typeof own === 'string') {
		if (own === name) return true;
		own = parents[own];
	}
	return false;
}

function register(child: string, parent: string): void {
	parents[child] = parent;
}

/**
 * A lookup found nothing: the key (or prefix) is not in the cache. The TypeScript counterpart of Python's
 * `KeyError`, thrown by `f.fleche.load(...)`, `cache().load(key)` and storage `get`s.
 */
export class KeyError extends FlecheError {
	/** The key or prefix that was looked up. */
	readonly key: string;

	constructor(key: string, message?: string, options?: ErrorOptions) {
		super(message ?? `No cache entry for key ${key}`, options);
		this.key = key;
	}

	static override is(err: unknown): err is KeyError {
		return hasBrand(err, 'KeyError');
	}
}
register('KeyError', 'FlecheError');

/** A value that `digest()` cannot hash (a plain function, a symbol, a WeakMap, …). */
export class Indigestible extends FlecheError {
	/** Where in the value the problem is, e.g. `arguments.x[2].callback`. */
	readonly path: string;

	constructor(path: string, message: string, options?: ErrorOptions) {
		super(message, options);
		this.path = path;
	}

	static override is(err: unknown): err is Indigestible {
		return hasBrand(err, 'Indigestible');
	}
}
register('Indigestible', 'FlecheError');

/** The cache refused an operation (read-only cache, a save that failed, an evict on a pool). */
export class Rejected extends FlecheError {
	static override is(err: unknown): err is Rejected {
		return hasBrand(err, 'Rejected');
	}
}
register('Rejected', 'FlecheError');

/** Storing a value failed (it could not be serialized, or the disk refused it). A kind of {@link Rejected}. */
export class SaveError extends Rejected {
	static override is(err: unknown): err is SaveError {
		return hasBrand(err, 'SaveError');
	}
}
register('SaveError', 'Rejected');

/** A short key prefix matches more than one entry (docs/behaviour.md §2.4). */
export class AmbiguousDigestError extends FlecheError {
	readonly prefix: string;

	constructor(prefix: string, needed: number) {
		super(`Short digest ${prefix} is ambiguous; need at least ${needed} characters.`);
		this.prefix = prefix;
	}

	static override is(err: unknown): err is AmbiguousDigestError {
		return hasBrand(err, 'AmbiguousDigestError');
	}
}
register('AmbiguousDigestError', 'FlecheError');

/** A stored entry is corrupt, truncated, or fails its signature check. Loads turn it into a miss. */
export class CorruptEntry extends FlecheError {
	readonly key: string;

	constructor(key: string, message: string, options?: ErrorOptions) {
		super(message, options);
		this.key = key;
	}

	static override is(err: unknown): err is CorruptEntry {
		return hasBrand(err, 'CorruptEntry');
	}
}
register('CorruptEntry', 'FlecheError');

/** Tampered, unsigned or wrongly signed file while a secret key is configured (docs/behaviour.md §5). */
export class SignatureError extends CorruptEntry {
	static override is(err: unknown): err is SignatureError {
		return hasBrand(err, 'SignatureError');
	}
}
register('SignatureError', 'CorruptEntry');

/**
 * The connection to a remote cache (`SshCache`, docs/behaviour.md §17) could not be made, was refused, or dropped.
 * Cached functions never see it: their lookups miss and their saves are dropped, with one warning per outage. What
 * asks the remote directly (listing, evicting, `reconnect()`) gets it; `reconnect()` tries again at once.
 */
export class RemoteConnectionError extends FlecheError {
	static override is(err: unknown): err is RemoteConnectionError {
		return hasBrand(err, 'RemoteConnectionError');
	}
}
register('RemoteConnectionError', 'FlecheError');
