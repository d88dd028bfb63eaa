// The file store's value files (docs/behaviour.md §1.12, §5): one file per content digest. Layout and invariants shared
// with call records are described in ./entries.ts.
//
// Value file format, version 2 (all integers little-endian):
//
//   offset   size  field
//   0        4     magic "FLCH"
//   4        1     format version = 2
//   5        1     flags: bit 0 = payload gzip-compressed, bit 1 = signed; other bits 0
//   6        1     n = length of the serializer name (1–255)
//   7        n     serializer name, ASCII ("v8", "json", or a registerSerializer name)
//   7+n      32    the file's own key (its 64-hex name as 32 raw bytes)
//   39+n     4     L = payload length (uint32)
//   43+n     L     payload: the serializer's bytes (a gzip member when compressed)
//   43+n+L   4     CRC-32 of bytes [0, 43+n+L)
//   47+n+L   64    signed only: lowercase hex HMAC-SHA256 with the first secret key over bytes [0, 47+n+L)
//
// The file length must be exactly 47+n+L (+64 when signed). A file whose key field is not its name is a miss: a
// value file moved or copied over another (by accident, or to make one call return another's result) is caught
// with a 32-byte comparison instead of digesting the value again, and in a signed file the signature covers the key.
//
// Version 1 (written before 0.2) is version 2 without the key field. An unsigned version 1 file is still read (its
// name cannot be checked); a signed one is a miss when a secret key is configured, because its signature does not
// say which value it is: the recompute writes it again in version 2.
//
// Reading never removes or rewrites a file (another reader, with another key or a newer fleche, may read it). A
// damaged file is a miss; the instance remembers its key, so the recompute's `put` of the same key replaces it.
// `packOrPut` gives these very bytes without writing them when they are few, for a call file to hold a small value inside itself (./calls.ts,
// format 2), and `unpack` reads them back with every check above.
//
// A `put` of a value that exists refreshes its mtime instead: `gc` keeps values younger than its grace period, so a
// value a writer is about to refer to from a new call record is not collected under it.
import { existsSync, statSync } from 'node:fs';
import { sep } from 'node:path';
import { zlib } from '../../builtins.js';
import { ClassNotRegistered } from '../../classes.js';
import { CorruptEntry, SaveError, SignatureError } from '../../errors.js';
import type { StorageConfig, ValueStorage } from '../base.js';
import { assertKey, isKey } from '../keys.js';
import { signerFor, SIGNATURE_LENGTH, type SecretKeyOption, type Signer } from '../security.js';
import { findSerializer, getSerializer, type BuiltinSerializerName, type Serializer } from '../serializers.js';
import { crc32, evictFile, evictIdle, expandIn, listKeys, readEntry, refreshIfPresent, rejectEntry, sweepTemporaries, typeName, Unreadable, writeAtomic } from './entries.js';
import { resolveRoot, errorCode, errorText } from '../fsUtil.js';

const MAGIC = Buffer.from('FLCH', 'latin1');
const FORMAT_VERSION = 2;
const KEY_BYTES = 32;
const FLAG_GZIP = 1;
const FLAG_SIGNED = 2;
const KNOWN_FLAGS = FLAG_GZIP | FLAG_SIGNED;
const CRC_LENGTH = 4;
/** `readFileSync` refuses files above 2 GiB, so a bigger file could be written but never read back. */
const MAX_FILE_LENGTH = 2 ** 31 - 1;

export interface ValueFileOptions {
	/** Folder that holds one file per value; a leading `~` means the home folder. Created on the first write. */
	readonly root: string;
	/**
	 * Codec for new files: `'v8'` keeps `Map`, `Set`, `Date`, `BigInt`, typed arrays and cycles; `'json'` is readable by
	 * other tools but refuses values it would change; other names come from `registerSerializer`. Reading always uses
	 * the codec named in the file.
	 * @default 'v8'
	 */
	readonly serializer?: BuiltinSerializerName | (string & {});
	/**
	 * Key(s) to sign new files with and to verify files against (hex; several joined with `:` or in an array, the first
	 * signs and all verify). With a key, unsigned or wrongly signed files are misses; without one, signatures are not
	 * checked. An empty string turns signing off even when `FLECHE_SECRET_KEY` is set.
	 * @default the colon-separated hex keys in `FLECHE_SECRET_KEY`, else no signing
	 */
	readonly secretKey?: SecretKeyOption;
	/**
	 * Gzip each payload. Worth it for large, repetitive values; it costs CPU on every write and read. Files are read
	 * correctly whatever this is set to.
	 * @default false
	 */
	readonly compress?: boolean;
}

/**
 * Value storage with one file per value under `root` (docs/behaviour.md §2.6): content-addressed, so a file once written is
 * never rewritten. Safe for several processes sharing the root; see the file format at the top of this module.
 *
 * @example
 * ```ts
 * import { ValueFile, digest } from 'fleche';
 * const values = new ValueFile({ root: '~/.cache/fleche/values', compress: true });
 * const key = digest(result);
 * values.put(key, result);
 * values.get(key); // a fresh copy of result
 * ```
 */
export class ValueFile implements ValueStorage {
	/** Absolute folder holding the files. */
	readonly root: string;
	/** Name of the codec new files are written with. */
	readonly serializer: string;
	/** Whether new payloads are gzip-compressed. */
	readonly compress: boolean;
	readonly #codec: Serializer;
	readonly #signer: Signer | null;
	readonly #dir: string;
	/** Magic, version, flags and serializer name: identical for every file this instance writes. */
	readonly #headerStart: Buffer;
	/**
	 * Keys whose file this instance found damaged or wrongly signed. Reads leave such a file in place; a `put` of the
	 * same key (the recompute) replaces it instead of taking the file's existence for "already stored".
	 */
	readonly #rejected = new Set<string>();

	/**
	 * Nothing is touched on disk until the first `put`.
	 * @throws TypeError for an unknown serializer or a secret key that is not hex.
	 */
	constructor(options: ValueFileOptions) {
		this.root = resolveRoot(options.root);
		this.#dir = this.root + sep;
		this.serializer = options.serializer ?? 'v8';
		this.#codec = getSerializer(this.serializer);
		this.compress = options.compress ?? false;
		this.#signer = signerFor(options.secretKey);
		const name = Buffer.from(this.serializer, 'latin1');
		this.#headerStart = Buffer.concat([
			MAGIC,
			Buffer.from([FORMAT_VERSION, (this.compress ? FLAG_GZIP : 0) | (this.#signer ? FLAG_SIGNED : 0), name.length]),
			name,
		]);
	}

	/**
	 * Stores `value` under `key` unless a file for `key` exists (then its mtime is refreshed, so that a concurrent
	 * `gc` keeps it); a file this instance found damaged is replaced.
	 */
	put(key: string, value: unknown): void {
		assertKey(key);
		const file = this.#dir + key;
		if (!(this.#rejected.size > 0 && this.#rejected.has(key)) && refreshIfPresent(file)) return;
		writeAtomic(this.root, file, this.#frame(key, value), true);
		this.#rejected.delete(key);
	}

	/**
	 * Stores `value` under `key` as {@link put} does, unless it is new and its file would hold at most `limit` bytes:
	 * then returns those bytes, unwritten, for a call file to keep inside itself (./calls.ts, format 2). A value whose
	 * file exists stays there (refreshed) and is not serialized at all; a large one is serialized once. With the
	 * 'json' serializer every value is a file of its own: it was chosen so that other tools can read the files.
	 */
	packOrPut(key: string, value: unknown, limit: number): Uint8Array | undefined {
		assertKey(key);
		if (this.serializer === 'json') {
			this.put(key, value);
			return undefined;
		}
		const file = this.#dir + key;
		// A value plainly small (a number, a short string…) is packed without asking the disk; any other is looked for
		// first, as `put` does, so that a large value already stored costs no serialization.
		const plainlySmall = typeof value !== 'object' && typeof value !== 'function' && !(typeof value === 'string' && value.length * 3 + 256 > limit);
		if (!plainlySmall && !(this.#rejected.size > 0 && this.#rejected.has(key)) && refreshIfPresent(file)) return undefined;
		const chunks = this.#frame(key, value);
		let total = 0;
		for (const chunk of chunks) total += chunk.byteLength;
		if (total <= limit) return Buffer.concat(chunks, total);
		writeAtomic(this.root, file, chunks, true);
		this.#rejected.delete(key);
		return undefined;
	}

	/** The value in bytes from {@link packOrPut} (held in the call file `where`), checked as a file is; a miss when they fail. */
	unpack(key: string, bytes: Uint8Array, where: string): unknown {
		assertKey(key);
		const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
		try {
			return this.#decode(buffer, key);
		} catch (err) {
			throw rejectEntry(`${where} (value ${key})`, key, err);
		}
	}

	/** The chunks of the file of `value` under `key`: header, payload (as the serializer left it), trailer. */
	#frame(key: string, value: unknown): Uint8Array[] {
		let payload: Uint8Array;
		try {
			payload = this.#codec.serialize(value);
			if (this.compress) payload = zlib().gzipSync(payload);
		} catch (err) {
			throw new SaveError(`Cannot serialize a value of type ${typeName(value)} with the '${this.serializer}' serializer: ${errorText(err)}`, {
				cause: err,
			});
		}
		const start = this.#headerStart;
		const headerLength = start.length + KEY_BYTES + 4;
		const total = headerLength + payload.byteLength + CRC_LENGTH + (this.#signer ? SIGNATURE_LENGTH : 0);
		if (total > MAX_FILE_LENGTH) {
			throw new SaveError(`Cannot store a value of type ${typeName(value)}: ${total} bytes serialized, more than the 2 GiB a file may hold`);
		}
		// Header and trailer share one allocation; the payload is written from where the serializer left it (writev).
		const frame = Buffer.allocUnsafe(headerLength + CRC_LENGTH);
		start.copy(frame, 0);
		frame.write(key, start.length, KEY_BYTES, 'hex');
		frame.writeUInt32LE(payload.byteLength, start.length + KEY_BYTES);
		const header = frame.subarray(0, headerLength);
		const crc = frame.subarray(headerLength);
		crc.writeUInt32LE(crc32(payload, crc32(header)), 0);
		const chunks: Uint8Array[] = [header, payload, crc];
		if (this.#signer) chunks.push(this.#signer.sign(chunks));
		return chunks;
	}

	/**
	 * A fresh copy of the value under `key`. A damaged file, one that holds another key's value, or (with a secret key)
	 * one not signed by a configured key is reported and a miss; it is left on disk.
	 */
	get(key: string): unknown {
		assertKey(key);
		const file = this.#dir + key;
		let bytes: Buffer;
		try {
			bytes = readEntry(file, key);
		} catch (err) {
			// Something else than a file under the key (a link to a device, a FIFO): the next write replaces it.
			if (errorCode((err as Error).cause) === 'ENOTREG') this.#reject(key);
			throw err;
		}
		try {
			return this.#decode(bytes, key);
		} catch (err) {
			if (!(err instanceof Unreadable)) this.#reject(key);
			throw rejectEntry(file, key, err);
		}
	}

	/** Marks `key` for rewriting by the next write of it (its entry failed its read or its checks). */
	#reject(key: string): void {
		// Bounded: a store damaged everywhere must not make this grow without limit.
		if (this.#rejected.size >= 1024) this.#rejected.clear();
		this.#rejected.add(key);
	}

	#decode(bytes: Buffer, key: string): unknown {
		const corrupt = (reason: string): never => {
			throw new CorruptEntry(key, reason);
		};
		const length = bytes.length;
		if (length < 7 || MAGIC.compare(bytes, 0, 4) !== 0) {
			corrupt(length < 7 && MAGIC.compare(bytes, 0, Math.min(length, 4), 0, Math.min(length, 4)) === 0 ? `truncated (${length} bytes)` : 'not a fleche value file');
		}
		const version = bytes[4] as number;
		if (version > FORMAT_VERSION) throw new Unreadable(`written in value file format ${version}; this fleche reads format ${FORMAT_VERSION}`);
		if (version !== FORMAT_VERSION && version !== 1) corrupt(`unknown format version ${version}`);
		const flags = bytes[5] as number;
		if ((flags & ~KNOWN_FLAGS) !== 0) corrupt(`unknown flags 0x${flags.toString(16)}`);
		const nameLength = bytes[6] as number;
		if (nameLength === 0) corrupt('empty serializer name');
		// Version 1 has no key field.
		const keyLength = version === 1 ? 0 : KEY_BYTES;
		const headerLength = 7 + nameLength + keyLength + 4;
		if (length < headerLength) corrupt(`truncated (${length} bytes)`);
		const payloadEnd = headerLength + bytes.readUInt32LE(7 + nameLength + keyLength);
		const signed = (flags & FLAG_SIGNED) !== 0;
		const expected = payloadEnd + CRC_LENGTH + (signed ? SIGNATURE_LENGTH : 0);
		if (length < expected) corrupt(`truncated (${length} of ${expected} bytes)`);
		if (length > expected) corrupt(`${length - expected} unexpected bytes after the end`);
		const checked = payloadEnd + CRC_LENGTH;
		// With a key configured, the signature is checked first so that tampering is reported as such.
		if (this.#signer) {
			if (!signed) throw new SignatureError(key, 'not signed, but a secret key is configured');
			if (keyLength === 0) throw new SignatureError(key, 'signed in value file format 1, whose signature does not cover which value it is');
			if (!this.#signer.verify([bytes.subarray(0, checked)], bytes.subarray(checked))) {
				throw new SignatureError(key, 'signature does not match any configured secret key (tampered, or signed with another key)');
			}
		}
		// The key field against the name: 32 bytes compared, where digesting the value again would cost a full pass.
		if (keyLength !== 0 && bytes.toString('hex', 7 + nameLength, 7 + nameLength + KEY_BYTES) !== key) {
			const holds = `holds the value of ${bytes.toString('hex', 7 + nameLength, 7 + nameLength + KEY_BYTES)} (moved or copied over another value)`;
			throw this.#signer ? new SignatureError(key, holds) : new CorruptEntry(key, holds);
		}
		if (crc32(bytes.subarray(0, payloadEnd)) !== bytes.readUInt32LE(payloadEnd)) corrupt('checksum mismatch');
		const name = bytes.toString('latin1', 7, 7 + nameLength);
		const codec = name === this.serializer ? this.#codec : findSerializer(name);
		if (codec === undefined) throw new Unreadable(`written with serializer '${name}', which is not registered in this process`);
		let payload: Uint8Array = bytes.subarray(headerLength, payloadEnd);
		try {
			if ((flags & FLAG_GZIP) !== 0) payload = zlib().gunzipSync(payload);
		} catch (err) {
			corrupt(`cannot be decompressed: ${errorText(err)}`);
		}
		try {
			return codec.deserialize(payload);
		} catch (err) {
			// Not damage: a reader that registers the class can read it, so it stays (and this read is a miss).
			if (err instanceof ClassNotRegistered) throw new Unreadable(err.message, { cause: err });
			return corrupt(`cannot be deserialized by '${name}': ${errorText(err)}`);
		}
	}

	/** Whether a file for `key` exists (the file is not read); false for anything that is not a full key. */
	contains(key: string): boolean {
		return isKey(key) && existsSync(this.#dir + key);
	}

	/** Deletes the file for `key`; {@link KeyError} when there is none. */
	evict(key: string): void {
		evictFile(this.root, key);
	}

	/** Refreshes the mtime of the file for `key` (see `gc`); whether there is one. */
	refresh(key: string): boolean {
		return isKey(key) && refreshIfPresent(this.#dir + key);
	}

	/** Deletes the file for `key` unless it was written or refreshed in the last `graceMs`; whether it did. */
	evictIdle(key: string, graceMs: number): boolean {
		return evictIdle(this.root, key, graceMs);
	}

	/** Removes temporaries of killed writers not written for `graceMs`; how many. */
	sweep(graceMs: number): number {
		return sweepTemporaries(this.root, graceMs);
	}

	/** Every key with a file; empty when the root does not exist. */
	list(): string[] {
		return listKeys(this.root);
	}

	/** Bytes on disk of the file for `key` (header and signature included); `undefined` when there is none. */
	sizeOf(key: string): number | undefined {
		if (!isKey(key)) return undefined;
		try {
			return statSync(this.#dir + key).size;
		} catch {
			return undefined;
		}
	}

	/** The full key for a prefix of at least 4 characters (docs/behaviour.md §2.4). */
	expand(prefix: string): string {
		return expandIn(this.root, prefix);
	}

	/** `{ type: 'file', root, serializer, compress, secretKey? }`; the keys, when any, as hex strings. */
	toConfig(): StorageConfig {
		const config = { type: 'file', root: this.root, serializer: this.serializer, compress: this.compress } as const;
		return this.#signer ? { ...config, secretKey: this.#signer.hexKeys } : config;
	}
}
