// The file store's call records (docs/behaviour.md §2.6): one JSON file per call key. Layout and invariants shared with
// value files are described in ./entries.ts.
//
// Call file format: UTF-8 JSON `{ "format": "fleche.call/1", "record": { key, name, module, version, codeDigest,
// arguments, result, metadata[, async][, scheme] }[, "signature": hex] }`, validated field by field on read and checked
// against its own key (the key is a digest of the identity and arguments, so a record moved over another's name is
// a miss even unsigned). `scheme` names the key scheme that computed `key` (absent: `fleche.call/1`); a record of
// another scheme is stale, not damage: read without the key check and kept (the cache treats it as a miss; see
// ../../key.ts). With a secret key configured, `signature` is the HMAC-SHA256 (first key) of `fleche.call/1\n` + the
// JSON of the validated record as read back (fields in the order above, `scheme` included), so it covers the key, the
// result digest and the metadata: a record edited to name another result is a miss. Without a key it is not written
// and not checked; with one, an unsigned or wrongly signed record is a miss (the recompute rewrites it).
//
// Format `fleche.call/2` (docs/behaviour.md §2.6, one file per small call): the same envelope with the call's small
// values inside it, `{ "format": "fleche.call/2", "record": …[, "signature": hex], "values": { "<digest>": "<base64>" } }`.
// Each value is the exact bytes its value file would hold (./values.ts: magic, version, serializer, its own key,
// length, CRC-32, and the value storage's signature when it signs), so it is checked as a value file is, and a
// value moved to another digest or edited is a miss; every digest held must be one the record names (an argument or
// the result). Values whose bytes exceed `inlineValues` (4 KiB by default) are value files as before, shared by
// every call that refers to them. A record with no value inside is written as `fleche.call/1`, byte for byte as
// before. Readers read both formats; a reader older than format 2 finds a `fleche.call/2` file unreadable (one
// warning, a miss) and leaves it. Values held inside call files are found by digest alone too (`held.value`): from
// the digests of the files this instance read or wrote, else by one pass over the folder.
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, opendirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { sep } from 'node:path';
import type { CallRecord, Metadata } from '../../call.js';
import { isSchemeName, isStale, keyHolds } from '../../key.js';
import { CorruptEntry, KeyError, SaveError, SignatureError } from '../../errors.js';
import { warnOnce } from '../../log.js';
import type { CallStats, CallStorage, HeldValues, RecordWithValues, StatsStorage, StorageConfig } from '../base.js';
import { assertKey, isKey } from '../keys.js';
import { evictFile, expandIn, listKeys, readEntry, readIfPresent, rejectEntry, sweepTemporaries, Unreadable, writeAtomic } from './entries.js';
import { callRecordSignature, signerFor, verifyCallRecord, type SecretKeyOption, type Signer } from '../security.js';
import { COMPACT_AT, compactStats, CROWDED, listDir, readAppended, readStats, ROTATE_BYTES, STATS_DIR, type StatsRead, statsStamp, thisHost, toTuple } from './statsJournal.js';
import { resolveRoot, errorText, isAbsent, readRegularFile } from '../fsUtil.js';
import { writeThroughLease } from './leases.js';
import { FileIndex } from './summaryIndex.js';

const CALL_FORMAT = 'fleche.call/1';
/** A call file with values inside it (see the top of this module). */
const HELD_FORMAT = 'fleche.call/2';
/** The newest call file format this version reads. */
const NEWEST_FORMAT = 2;
/** Default largest value (its value-file bytes) kept inside a call file. */
const INLINE_VALUES = 4096;
/** Digests of held values this instance remembers where to find; a store with more is searched past them. */
const HELD_REMEMBERED = 65_536;
/** How many call files' held values `#recent` keeps (see there). */
const RECENT_ENTRIES = 16;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface CallFileOptions {
	/** Folder that holds one JSON file per call record; a leading `~` means the home folder. Created on the first write. */
	readonly root: string;
	/**
	 * Key(s) to sign new records with and to verify records against, as for `ValueFile`: with a key, unsigned or
	 * wrongly signed records are misses. An empty string turns signing off even when `FLECHE_SECRET_KEY` is set.
	 * @default the colon-separated hex keys in `FLECHE_SECRET_KEY`, else no signing
	 */
	readonly secretKey?: SecretKeyOption;
	/**
	 * Largest value, in the bytes its value file would hold, that a call file keeps inside itself instead of a value
	 * file of its own (when the cache's value storage is a `ValueFile`): a small call is then one file. `0` keeps every
	 * value in the value storage (one file per value and one per record, as before format 2).
	 * @default 4096
	 */
	readonly inlineValues?: number;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isDigestOrNull(value: unknown): value is string | null {
	return value === null || isKey(value);
}

/** A fresh, validated record with only the known fields, or throws {@link CorruptEntry} saying what is wrong. */
function parseRecord(raw: unknown, key: string): CallRecord {
	const corrupt = (reason: string): never => {
		throw new CorruptEntry(key, reason);
	};
	if (!isPlainObject(raw)) return corrupt('not a JSON object');
	const format = raw['format'];
	if (format !== CALL_FORMAT && format !== HELD_FORMAT) {
		const version = typeof format === 'string' ? /^fleche\.call\/(\d+)$/.exec(format)?.[1] : undefined;
		if (version !== undefined && Number(version) > NEWEST_FORMAT) {
			throw new Unreadable(`written in call record format ${String(format)}; this fleche reads ${CALL_FORMAT} and ${HELD_FORMAT}`);
		}
		corrupt(`unknown format ${JSON.stringify(format)}`);
	}
	const r = raw['record'];
	if (!isPlainObject(r)) return corrupt('no record object');
	if (!isKey(r['key'])) corrupt('record.key is not a 64-hex key');
	if (typeof r['name'] !== 'string') corrupt('record.name is not a string');
	if (!(r['module'] === null || typeof r['module'] === 'string')) corrupt('record.module is not a string or null');
	const version = r['version'];
	if (!(version === null || typeof version === 'string' || (typeof version === 'number' && Number.isFinite(version)))) {
		corrupt('record.version is not a string, number or null');
	}
	if (!isDigestOrNull(r['codeDigest'])) corrupt('record.codeDigest is not a 64-hex digest or null');
	if (!isDigestOrNull(r['result'])) corrupt('record.result is not a 64-hex digest or null');
	const args = r['arguments'];
	if (!isPlainObject(args)) return corrupt('record.arguments is not an object');
	for (const name in args) if (!isKey(args[name])) corrupt(`record.arguments.${name} is not a 64-hex digest`);
	const metadata = r['metadata'];
	if (!isPlainObject(metadata)) return corrupt('record.metadata is not an object');
	for (const ns in metadata) if (!isPlainObject(metadata[ns])) corrupt(`record.metadata.${ns} is not an object`);
	if (!(r['async'] === undefined || typeof r['async'] === 'boolean')) corrupt('record.async is not a boolean');
	if (!(r['scheme'] === undefined || isSchemeName(r['scheme']))) corrupt('record.scheme is not a key scheme name');
	const record: CallRecord = {
		key: r['key'] as string,
		name: r['name'] as string,
		module: r['module'] as string | null,
		version: version as string | number | null,
		codeDigest: r['codeDigest'] as string | null,
		arguments: args as Record<string, string>,
		result: r['result'] as string | null,
		metadata: metadata as Metadata,
		...(r['async'] === undefined ? {} : { async: r['async'] as boolean }),
		...(r['scheme'] === undefined ? {} : { scheme: r['scheme'] as string }),
	};
	if (record.key !== key) corrupt(`holds the record of key ${record.key} (misplaced or edited)`);
	if (!keyHolds(record)) corrupt('record fields do not hash to its key (edited)');
	return record;
}

const NO_VALUES: ReadonlyMap<string, Uint8Array> = new Map();

/** The values a format-2 envelope holds, checked to be named by `record`; an empty map for format 1. */
function parseHeld(raw: Record<string, unknown>, record: CallRecord, key: string): ReadonlyMap<string, Uint8Array> {
	if (raw['format'] === CALL_FORMAT) {
		if (raw['values'] !== undefined) throw new CorruptEntry(key, `values inside a ${CALL_FORMAT} record`);
		return NO_VALUES;
	}
	// A record of another key scheme is never served (a miss, not damage: ../../key.ts), nor are its values.
	if (isStale(record)) return NO_VALUES;
	const held = raw['values'];
	if (!isPlainObject(held)) throw new CorruptEntry(key, 'values is not an object');
	const out = new Map<string, string>();
	for (const digest in held) {
		const text = held[digest];
		if (!isKey(digest)) throw new CorruptEntry(key, `values holds ${JSON.stringify(digest.slice(0, 80))}, not a 64-hex digest`);
		if (record.result !== digest && !Object.values(record.arguments).includes(digest)) {
			throw new CorruptEntry(key, `values holds ${digest}, which the record does not name`);
		}
		if (typeof text !== 'string' || !BASE64.test(text)) throw new CorruptEntry(key, `values.${digest} is not base64 text`);
		out.set(digest, text);
	}
	return new HeldTexts(out);
}

/**
 * The values an entry holds, kept as their checked base64 text and decoded when first asked for: a query reads
 * thousands of records and rarely their values, a hit only its result.
 */
class HeldTexts implements ReadonlyMap<string, Uint8Array> {
	readonly #decoded = new Map<string, Uint8Array>();
	constructor(readonly texts: ReadonlyMap<string, string>) {}

	get size(): number {
		return this.texts.size;
	}
	has(digest: string): boolean {
		return this.texts.has(digest);
	}
	get(digest: string): Uint8Array | undefined {
		let bytes = this.#decoded.get(digest);
		if (bytes !== undefined) return bytes;
		const text = this.texts.get(digest);
		if (text === undefined) return undefined;
		this.#decoded.set(digest, (bytes = Buffer.from(text, 'base64')));
		return bytes;
	}
	*entries(): MapIterator<[string, Uint8Array]> {
		for (const digest of this.texts.keys()) yield [digest, this.get(digest)!];
	}
	keys(): MapIterator<string> {
		return this.texts.keys();
	}
	*values(): MapIterator<Uint8Array> {
		for (const digest of this.texts.keys()) yield this.get(digest)!;
	}
	[Symbol.iterator](): MapIterator<[string, Uint8Array]> {
		return this.entries();
	}
	forEach(callback: (value: Uint8Array, key: string, map: ReadonlyMap<string, Uint8Array>) => void, thisArg?: unknown): void {
		for (const [digest, bytes] of this.entries()) callback.call(thisArg, bytes, digest, this);
	}
}

/** The bytes a base64 text (checked by {@link BASE64}) decodes to, without decoding it. */
function decodedSize(text: string): number {
	const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
	return Math.floor(((text.length - padding) * 3) / 4);
}

/**
 * Call storage with one UTF-8 JSON file per record under `root` (docs/behaviour.md §2.6), readable by other tools. Records
 * are checked against their own key on read, so an edited, misplaced or damaged file is a miss, reported and removed.
 *
 * @example
 * ```ts
 * import { CallFile } from 'fleche';
 * const calls = new CallFile({ root: '.fleche/calls' });
 * for (const record of calls.records({ name: 'fetchPrices' })) console.log(record.key, record.metadata);
 * ```
 */
export class CallFile implements CallStorage, StatsStorage {
	/** Absolute folder holding the files. */
	readonly root: string;
	readonly #dir: string;
	readonly #statsDir: string;
	readonly #signer: Signer | null;
	/** This instance's statistics journal (a file name in `#statsDir`), chosen on the first write. */
	#journal: string | undefined;
	#journalBytes = 0;
	#journalSeq = 0;
	/** This instance read from or wrote into the store (a record, a journal): a calls folder missing since was removed. */
	#sawStore = false;
	/**
	 * The last statistics read and the stamp of the folder they were read from. A tool lists functions, then pages of
	 * calls, each with statistics: parsing 100,000 calls' journal lines again for each took longer than the listing.
	 */
	#statsRead: { readonly stamp: { readonly all: string; readonly snapshot: string }; readonly read: StatsRead } | undefined;
	/** Which file holds which function, for queries by name; made by the first such query. */
	#index: FileIndex | undefined;
	/** Where this instance last saw each held value: digest → call key and bytes (bounded; see `#heldValue`). */
	readonly #heldAt = new Map<string, { readonly key: string; readonly size: number }>();
	/**
	 * The held values of the last few call files read, by call key: a tool that shows a call reads its record, then its
	 * arguments' and result's values one by one, each held in that same file (read once, not once per value). Values are
	 * content-addressed: bytes read for a digest moments ago are that digest's bytes still.
	 */
	readonly #recent = new Map<string, ReadonlyMap<string, Uint8Array>>();
	/** The folder's mtime when a pass over it last found a digest in none of its files: not searched again until it changes. */
	#searched: number | undefined;
	/**
	 * Small values kept inside call files (see the top of this module); `undefined` when `inlineValues` is 0.
	 * The cache that pairs this storage with a `ValueFile` uses it.
	 */
	readonly held: HeldValues | undefined;
	/** The `inlineValues` option. */
	readonly inlineValues: number;

	/**
	 * Nothing is touched on disk until the first `put`.
	 * @throws TypeError for a secret key that is not hex.
	 */
	constructor(options: CallFileOptions) {
		this.root = resolveRoot(options.root);
		this.#signer = signerFor(options.secretKey);
		this.#dir = this.root + sep;
		this.#statsDir = this.#dir + STATS_DIR;
		const limit = options.inlineValues ?? INLINE_VALUES;
		if (!(Number.isSafeInteger(limit) && limit >= 0)) throw new TypeError(`CallFile: inlineValues must be a whole number of bytes ≥ 0, got ${String(limit)}`);
		this.inlineValues = limit;
		this.held =
			limit === 0
				? undefined
				: {
						limit,
						put: (record, values, made) => this.#put(record, values, made === true),
						find: (key) => this.#find(key),
						value: (digest, search) => this.#heldValue(digest, search ?? true),
						sizeOf: (digest) => this.#heldAt.get(digest)?.size,
					};
	}

	/** Writes (or atomically replaces) the file for `record.key`. */
	put(record: CallRecord): void {
		this.#put(record, NO_VALUES, false);
	}

	/**
	 * Writes the file for `record.key`, with `values` (digest → value-file bytes) inside it when there are any. A
	 * record the cache `made` for a miss has its key computed from its fields and holds JSON atoms only: its key is not
	 * recomputed, nor is its JSON read back (unless it is signed, over what is read back).
	 */
	#put(record: CallRecord, values: ReadonlyMap<string, Uint8Array>, made: boolean): void {
		assertKey(record.key);
		let text: string;
		try {
			if (!made && !keyHolds(record)) throw new Error('record.key is not the lookup key of its fields');
			const stored: CallRecord = {
				key: record.key,
				name: record.name,
				module: record.module,
				version: record.version,
				codeDigest: record.codeDigest,
				arguments: record.arguments,
				result: record.result,
				metadata: record.metadata,
				...(record.async === undefined ? {} : { async: record.async }),
				...(record.scheme === undefined ? {} : { scheme: record.scheme }),
			};
			const held = values.size > 0;
			const envelope: { format: string; record: CallRecord; signature?: string; values?: Record<string, string> } = {
				format: held ? HELD_FORMAT : CALL_FORMAT,
				record: stored,
			};
			// Refuse now what `get` would reject as corrupt later (a bad digest, metadata that is not an object…), and
			// sign the record as `get` will read it back. A record the cache made is of that shape by construction (its
			// digests and key computed, its version checked when the function was wrapped, its metadata atoms in plain
			// namespaces: frozenAsMade), so only a signature needs it read back.
			const readBack = made && this.#signer === null ? record : parseRecord(JSON.parse(JSON.stringify(envelope)), record.key);
			if (this.#signer) envelope.signature = callRecordSignature(this.#signer, readBack);
			if (held) {
				const named = new Set(Object.values(readBack.arguments));
				if (readBack.result !== null) named.add(readBack.result);
				const out: Record<string, string> = {};
				for (const [digest, bytes] of values) {
					if (!named.has(digest)) throw new Error(`value ${digest} is not one the record names`);
					out[digest] = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
				}
				envelope.values = out;
			}
			text = JSON.stringify(envelope, null, 2);
		} catch (err) {
			throw new SaveError(`Cannot store the call record ${record.key} of ${String(record.name)}: ${errorText(err)}`, { cause: err });
		}
		const bytes = Buffer.from(`${text}\n`, 'utf8');
		const file = this.#dir + record.key;
		// A miss holding the call's lease turns the lease file into the entry: one file created instead of two.
		if (!writeThroughLease(this, record.key, bytes, file)) writeAtomic(this.root, file, [bytes], false);
		this.#sawStore = true;
		for (const [digest, bytes] of values) this.#remember(digest, record.key, bytes.byteLength);
	}

	/**
	 * The record under `key`; a damaged, edited or misplaced file (or with a secret key, an unsigned or wrongly signed
	 * one) is reported and a miss. It is left on disk: the recompute's `put` replaces it.
	 */
	get(key: string): CallRecord {
		assertKey(key);
		const found = this.#read(key, readEntry(this.#dir + key, key));
		return found.record;
	}

	/** As {@link get}, with `undefined` for a key that has no file (a miss costs no `KeyError`). */
	find(key: string): CallRecord | undefined {
		return this.#find(key)?.record;
	}

	#find(key: string): RecordWithValues | undefined {
		assertKey(key);
		const bytes = readIfPresent(this.#dir + key, key);
		return bytes === undefined ? undefined : this.#read(key, bytes);
	}

	/** The checked record in the bytes of the file of `key`, with the values it holds; damage reported, as a miss. */
	#read(key: string, bytes: Buffer): RecordWithValues {
		this.#sawStore = true;
		try {
			let raw: unknown;
			try {
				raw = JSON.parse(bytes.toString('utf8'));
			} catch (err) {
				throw new CorruptEntry(key, `not valid JSON (${errorText(err)})`);
			}
			const record = parseRecord(raw, key);
			if (this.#signer) this.#verify(raw, record, key);
			const values = parseHeld(raw as Record<string, unknown>, record, key);
			if (values instanceof HeldTexts) {
				for (const [digest, text] of values.texts) this.#remember(digest, key, decodedSize(text));
				this.#recent.delete(key);
				if (this.#recent.size >= RECENT_ENTRIES) this.#recent.delete(this.#recent.keys().next().value!);
				this.#recent.set(key, values);
			}
			return { record, values, where: this.#dir + key };
		} catch (err) {
			throw rejectEntry(this.#dir + key, key, err);
		}
	}

	#remember(digest: string, key: string, size: number): void {
		if (this.#heldAt.size >= HELD_REMEMBERED && !this.#heldAt.has(digest)) this.#heldAt.clear();
		this.#heldAt.set(digest, { key, size });
	}

	/**
	 * The value `digest` held inside a call file: where this instance last saw it, else the first file of the folder
	 * that holds it (a pass over the folder, skipped while the folder is unchanged since one found nothing).
	 */
	#heldValue(digest: string, search: boolean): { bytes: Uint8Array; where: string } | undefined {
		if (!isKey(digest)) return undefined;
		const known = this.#heldAt.get(digest)?.key;
		if (known !== undefined) {
			const bytes = this.#recent.get(known)?.get(digest) ?? this.#heldIn(known, digest);
			if (bytes !== undefined) return { bytes, where: this.#dir + known };
			this.#heldAt.delete(digest);
		}
		if (!search) return undefined;
		let stamp: number;
		try {
			stamp = statSync(this.root).mtimeMs;
		} catch (err) {
			if (isAbsent(err)) return undefined;
			throw err;
		}
		if (this.#searched === stamp) return undefined;
		for (const name of readdirSync(this.root)) {
			if (!isKey(name) || name === known) continue;
			let text: Buffer;
			try {
				text = readRegularFile(this.#dir + name);
			} catch {
				continue; // removed meanwhile
			}
			// Only a file that names the digest can hold it; most are passed over without being parsed.
			if (text.indexOf(digest, 0, 'latin1') < 0) continue;
			const bytes = this.#heldIn(name, digest, text);
			if (bytes !== undefined) return { bytes, where: this.#dir + name };
		}
		this.#searched = stamp;
		return undefined;
	}

	/** The bytes of `digest` inside the call file of `key` (read now unless given); `undefined` when it holds none or is damaged. */
	#heldIn(key: string, digest: string, text?: Buffer): Uint8Array | undefined {
		try {
			const bytes = text ?? readIfPresent(this.#dir + key, key);
			return bytes === undefined ? undefined : this.#read(key, bytes).values.get(digest);
		} catch (err) {
			if (KeyError.is(err)) return undefined; // damaged (reported)
			throw err;
		}
	}

	#verify(raw: unknown, record: CallRecord, key: string): void {
		const signature = (raw as { signature?: unknown }).signature;
		if (typeof signature !== 'string') throw new SignatureError(key, 'not signed, but a secret key is configured');
		if (!verifyCallRecord(this.#signer!, record, signature)) {
			throw new SignatureError(key, 'signature does not match any configured secret key (tampered, or signed with another key)');
		}
	}

	/**
	 * Every readable record, reading the folder lazily one file at a time; damaged files are reported and skipped.
	 * With a name, only that function's files are read: the summary index (./summaryIndex.ts; kept in memory, and in
	 * the user's cache folder for the next process, never in the store) says which they are.
	 */
	*records(filter?: { readonly name?: string }): Generator<CallRecord, void, undefined> {
		if (filter?.name !== undefined) {
			yield* this.#named(filter.name);
			return;
		}
		let dir;
		try {
			dir = opendirSync(this.root);
		} catch (err) {
			if (isAbsent(err)) return;
			throw err;
		}
		try {
			for (let entry = dir.readSync(); entry !== null; entry = dir.readSync()) {
				if (!isKey(entry.name)) continue;
				let record: CallRecord;
				try {
					record = this.get(entry.name);
				} catch (err) {
					// Removed by another process since the listing, or damaged (already reported).
					if (KeyError.is(err)) continue;
					throw err;
				}
				if (filter?.name !== undefined && record.name !== filter.name) continue;
				yield record;
			}
		} finally {
			dir.closeSync();
		}
	}

	/** The records of one function name: the index's keys of that name, each file read and checked. */
	*#named(name: string): Generator<CallRecord, void, undefined> {
		this.#index ??= new FileIndex(this);
		for (const key of this.#index.keysNamed(name)) {
			let record: CallRecord;
			try {
				record = this.get(key);
			} catch (err) {
				if (KeyError.is(err)) continue; // removed since, or damaged (reported)
				throw err;
			}
			// A key is a digest of the name, so a file replaced since holds the same function; checked all the same.
			if (record.name === name) yield record;
		}
	}

	/** Whether a file for `key` exists (not read); false for anything that is not a full key. */
	contains(key: string): boolean {
		return isKey(key) && existsSync(this.#dir + key);
	}

	/** Deletes the file for `key`; {@link KeyError} when there is none. */
	evict(key: string): void {
		this.#recent.delete(key);
		evictFile(this.root, key);
	}

	/** Removes temporaries of killed writers not written for `graceMs`; how many. */
	sweep(graceMs: number): number {
		return sweepTemporaries(this.root, graceMs);
	}

	/** Every key with a file; empty when the root does not exist. */
	list(): string[] {
		return listKeys(this.root);
	}

	/** The full key for a prefix of at least 4 characters (docs/behaviour.md §2.4). */
	expand(prefix: string): string {
		return expandIn(this.root, prefix);
	}

	/** `{ type: 'file', root, secretKey?, inlineValues? }`; the keys, when any, as hex strings; `inlineValues` when not the default. */
	toConfig(): StorageConfig {
		return {
			type: 'file',
			root: this.root,
			...(this.#signer ? { secretKey: this.#signer.hexKeys } : {}),
			...(this.inlineValues === INLINE_VALUES ? {} : { inlineValues: this.inlineValues }),
		};
	}

	/**
	 * Appends one batch of statistics deltas to this instance's journal under `root/.stats/` (one write; see the top
	 * of this module). Throws {@link SaveError} when it cannot be written. Dropped when the calls folder this instance
	 * read or wrote was removed since (the store deleted: the calls they count are gone, and a process still running
	 * does not make the store again for its statistics alone, docs/behaviour.md §11).
	 */
	addStats(deltas: readonly CallStats[]): void {
		if (deltas.length === 0) return;
		const line = `${JSON.stringify({ t: Date.now() / 1000, d: deltas.map(toTuple) })}\n`;
		try {
			if (this.#journal === undefined) {
				if (this.#sawStore && !existsSync(this.root)) return;
				mkdirSync(this.#statsDir, { recursive: true });
				if (listDir(this.#statsDir).length > CROWDED) compactStats(this.#statsDir, undefined);
				this.#journal = `${thisHost}-${process.pid}-${randomBytes(4).toString('hex')}.jsonl`;
			} else if (this.#journalBytes > ROTATE_BYTES) {
				// The full journal moves aside under a name that says it is finished; appends start a new file.
				const closed = this.#journal.replace(/\.jsonl$/, `.${++this.#journalSeq}.closed.jsonl`);
				renameSync(`${this.#statsDir}${sep}${this.#journal}`, `${this.#statsDir}${sep}${closed}`);
				this.#journalBytes = 0;
			}
			const journal = `${this.#statsDir}${sep}${this.#journal}`;
			try {
				appendFileSync(journal, line);
			} catch (err) {
				// The folder was removed under this writer (the statistics cleared by hand): made again, and the journal with
				// it; unless the whole store was removed.
				if (!isAbsent(err)) throw err;
				if (!existsSync(this.root)) return;
				mkdirSync(this.#statsDir, { recursive: true });
				appendFileSync(journal, line);
				this.#journalBytes = 0;
			}
			this.#sawStore = true;
			this.#journalBytes += line.length;
		} catch (err) {
			throw new SaveError(`Cannot write cache statistics to ${this.#statsDir}: ${errorText(err)}`, { cause: err });
		}
	}

	/**
	 * The statistics of the folder now: the last ones read when nothing changed, brought up to date by reading only
	 * the appended lines when journals grew, else read in full (and compacted when many journals are finished, by an
	 * instance that writes statistics: a read-only tool never rewrites the journals).
	 */
	#currentStats(): Map<string, CallStats> {
		// Stamped before reading: a change in between makes the next stamp differ, so it is read again then.
		const stamp = statsStamp(this.#statsDir);
		const last = this.#statsRead;
		if (stamp !== null && last?.stamp.all === stamp.all) return last.read.stats;
		let read = stamp !== null && last?.stamp.snapshot === stamp.snapshot ? readAppended(this.#statsDir, this.#journal, last.read) : null;
		read ??= readStats(this.#statsDir, this.#journal);
		this.#statsRead = stamp === null ? undefined : { stamp, read };
		if (read.finished >= COMPACT_AT && this.#journal !== undefined) {
			try {
				compactStats(this.#statsDir, this.#journal);
			} catch (err) {
				warnOnce(`stats-compact:${this.#statsDir}`, 'FLECHE_STATS_NOT_SAVED', `Could not compact cache statistics in ${this.#statsDir}: ${errorText(err)}`, {
					cause: err,
				});
			}
		}
		return read.stats;
	}

	/**
	 * The summed statistics of every call of this root, written by any process (evicted calls included), optionally of
	 * one function; an instance that has written statistics compacts the journals when many have accumulated.
	 */
	stats(filter?: { readonly name?: string; readonly module?: string | null }): CallStats[] {
		const stats = this.#currentStats();
		const out: CallStats[] = [];
		for (const s of stats.values()) {
			if (filter?.name !== undefined && s.name !== filter.name) continue;
			if (filter?.module !== undefined && s.module !== filter.module) continue;
			out.push(s);
		}
		return out;
	}
}
