// docs/behaviour.md §1.11 `LazyCall`: a stored call whose argument values and result load on access.
import type { CallRecord, Call, Metadata } from './call.js';
import { Digest } from './digest.js';
import { KeyError } from './errors.js';

/**
 * The cache a stored call belongs to and that queries read: `BaseCache`. caches/base.ts declares it so by augmenting
 * this interface, which lets calls and queries sit below the caches that hold them without an import cycle.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in by caches/base.ts
export interface CallCache {}

/**
 * A call found in a cache. Identity and metadata are at hand; `arguments` and `result` load from value storage on
 * every access (no memo, so they reflect the store). A value the store does not hold comes back as its `Digest`.
 */
export class LazyCall {
	constructor(
		/** The stored record. */
		readonly record: CallRecord,
		/** The cache it came from (loads go there). */
		readonly cache: CallCache,
	) {}

	/** The lookup key. */
	get key(): string {
		return this.record.key;
	}
	get name(): string {
		return this.record.name;
	}
	get module(): string | null {
		return this.record.module;
	}
	get version(): string | number | null {
		return this.record.version;
	}
	get codeDigest(): string | null {
		return this.record.codeDigest;
	}
	get metadata(): Metadata {
		return this.record.metadata;
	}
	/** Argument digests by parameter name. */
	get argumentDigests(): Readonly<Record<string, string>> {
		return this.record.arguments;
	}
	/** Digest of the result, `null` while pending. */
	get resultDigest(): string | null {
		return this.record.result;
	}

	/** Argument values by parameter name, loaded now. */
	get arguments(): Record<string, unknown> {
		const out: Record<string, unknown> = {};
		for (const name in this.record.arguments) out[name] = this.value(this.record.arguments[name]!);
		return out;
	}

	/** The result, loaded now; `undefined` while pending. */
	get result(): unknown {
		return this.record.result === null ? undefined : this.value(this.record.result);
	}

	/** A plain {@link Call} with every value loaded. */
	fetch(): Call {
		const { name, module, version, codeDigest, metadata } = this.record;
		return { name, module, version, codeDigest, metadata, arguments: this.arguments, result: this.result };
	}

	private value(key: string): unknown {
		try {
			return this.cache.loadValue(key);
		} catch (err) {
			if (KeyError.is(err)) return new Digest(key);
			throw err;
		}
	}
}
