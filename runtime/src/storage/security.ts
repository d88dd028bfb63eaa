// docs/behaviour.md §5: HMAC-SHA256 signing of stored files, with key rotation (first key signs, every key verifies).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CallRecord } from '../call.js';

/**
 * Secret key(s) for signing: a hex string (several keys may be joined with `:`), an array of hex strings, or raw key
 * bytes. Generate one with `openssl rand -hex 32`.
 */
export type SecretKeyOption = string | readonly string[] | Uint8Array;

/** Length of a signature in a file: the HMAC-SHA256 as lowercase hex text. */
export const SIGNATURE_LENGTH = 64;

const hexPattern = /^(?:[0-9a-fA-F]{2})+$/;

function decodeSegments(segments: readonly string[], source: string): Buffer[] {
	const keys: Buffer[] = [];
	segments.forEach((segment, i) => {
		const trimmed = segment.trim();
		if (trimmed === '') return;
		// Never echo the key itself: error messages end up in logs.
		if (!hexPattern.test(trimmed)) {
			throw new TypeError(
				`${source} key ${i + 1} is not valid hex (expected an even number of 0-9a-f characters, e.g. from \`openssl rand -hex 32\`)`,
			);
		}
		keys.push(Buffer.from(trimmed, 'hex'));
	});
	return keys;
}

/**
 * The signing keys configured by `option`, else by the environment variable `FLECHE_SECRET_KEY` (colon-separated
 * hex). An empty result means "do not sign".
 *
 * @param option - the `secretKey` storage option; takes precedence over the environment when given.
 * @param env - the environment value to fall back to.
 * @default env: `process.env.FLECHE_SECRET_KEY`
 * @throws TypeError when a key is not valid hex or is empty.
 */
export function parseSecretKeys(option?: SecretKeyOption, env: string | undefined = process.env['FLECHE_SECRET_KEY']): Buffer[] {
	if (option === undefined) return env === undefined ? [] : decodeSegments(env.split(':'), 'FLECHE_SECRET_KEY');
	if (option instanceof Uint8Array) {
		if (option.byteLength === 0) throw new TypeError('secretKey must not be empty');
		// Copy so that later changes to the caller's buffer cannot change the key.
		return [Buffer.from(option)];
	}
	if (typeof option === 'string') return decodeSegments(option.split(':'), 'secretKey');
	if (Array.isArray(option)) return decodeSegments(option.flatMap((s: unknown) => String(s).split(':')), 'secretKey');
	throw new TypeError('secretKey must be a hex string, an array of hex strings, or a Uint8Array');
}

/**
 * Signs with the first key and accepts a signature made with any key, so keys can be rotated: put the new key first
 * and keep the old one after it until every file has been rewritten.
 *
 * @example
 * ```ts
 * const signer = new Signer(parseSecretKeys('00ff…:a1b2…'));
 * const signature = signer.sign([header, payload]);
 * signer.verify([header, payload], signature); // true
 * ```
 */
export class Signer {
	readonly #keys: readonly Buffer[];

	/** @param keys - at least one key; the first one signs. */
	constructor(keys: readonly Uint8Array[]) {
		if (keys.length === 0) throw new TypeError('Signer needs at least one key');
		this.#keys = keys.map((k) => Buffer.from(k));
	}

	/** The keys as hex strings, in order, for a storage's `toConfig()`. */
	get hexKeys(): string[] {
		return this.#keys.map((k) => k.toString('hex'));
	}

	/** The signature of the concatenation of `parts`: {@link SIGNATURE_LENGTH} bytes of lowercase hex ASCII. */
	sign(parts: readonly Uint8Array[]): Buffer {
		return hmacHex(this.#keys[0] as Buffer, parts);
	}

	/** Whether `signature` is the signature of `parts` under any configured key, compared in constant time. */
	verify(parts: readonly Uint8Array[], signature: Uint8Array): boolean {
		if (signature.byteLength !== SIGNATURE_LENGTH) return false;
		let ok = false;
		// Check every key rather than stopping at the first match, so timing does not reveal which key signed.
		for (const key of this.#keys) ok = timingSafeEqual(hmacHex(key, parts), signature) || ok;
		return ok;
	}
}

function hmacHex(key: Buffer, parts: readonly Uint8Array[]): Buffer {
	const hmac = createHmac('sha256', key);
	for (const part of parts) hmac.update(part);
	return Buffer.from(hmac.digest('hex'), 'latin1');
}

/** The signer for a storage's `secretKey` option (or the environment), or `null` when signing is off. */
export function signerFor(option?: SecretKeyOption): Signer | null {
	const keys = parseSecretKeys(option);
	return keys.length === 0 ? null : new Signer(keys);
}

/** What a call record's signature starts with: the format name, so a signature of another kind of entry never verifies. */
const CALL_SIGNED_PREFIX = Buffer.from('fleche.call/1\n', 'utf8');

/**
 * The signature of a validated call record, as hex text: over `fleche.call/1\n` and the record's JSON in the fixed
 * field order the stores' record checks return (key, name, module, version, codeDigest, arguments, result, metadata,
 * async?, scheme?), so it covers which call it is (the key), its result digest and its metadata. The file and SQL
 * stores sign and verify with this one function: a record signed by either verifies in the other.
 */
export function callRecordSignature(signer: Signer, record: CallRecord): string {
	return signer.sign([CALL_SIGNED_PREFIX, Buffer.from(JSON.stringify(record), 'utf8')]).toString('latin1');
}

/** Whether `signature` (as stored: any value) is a valid {@link callRecordSignature} of `record` under any configured key. */
export function verifyCallRecord(signer: Signer, record: CallRecord, signature: unknown): boolean {
	return typeof signature === 'string' && signer.verify([CALL_SIGNED_PREFIX, Buffer.from(JSON.stringify(record), 'utf8')], Buffer.from(signature, 'latin1'));
}
