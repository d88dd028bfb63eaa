// docs/behaviour.md §17: the line protocol between an SSH remote cache (`CallSsh`/`ValueSsh`, `SshCache`) and
// `fleche remote --serve` on the far machine, over the stdin and stdout of one long-lived `ssh` process. Both sides
// import this module; the far side may run another version of fleche, so everything here is versioned.
//
//   one JSON object per line (UTF-8, `\n`-terminated), each line at most `maxLineBytes` (each side says its own bound)
//   client → hello   { "fleche": "remote", "protocol": 1, "version": "<fleche>", "maxLineBytes": N }
//   server → hello   { "fleche": "remote", "protocol": 1, "version": "<fleche>", "node": "v20…", "pid": N,
//                      "cache": <its cache's description, secrets redacted>, "readOnly": bool, "maxLineBytes": N }
//                 or { "fleche": "remote", "protocol": 1, "error": "<why it cannot serve>" } and the end of the stream
//   client → request { "id": N, "op": "<operation>", "args": [ … ] }        (one at a time: the next after the reply)
//   server → reply   { "id": N, "ok": true, "value": … }  |  { "id": N, "ok": false, "error": { "name", "message" } }
//
// Lines before the server's hello that are not one (a login banner, a shell's greeting) are skipped, up to a bound.
// Values travel as base64 of fleche's 'v8' serializer (classes recorded beside the value); call records as the
// JSON the PostgreSQL store sends its worker. Operations and their arguments are listed in `operations` below.
//
// Everything the far side sends is untrusted: a line longer than the bound, a line that is not JSON, a reply to
// another request or of the wrong shape ends the connection and the request reads as a miss; records and values are
// checked as a store's own are; text from the far side is shown only after `untrustedText` (control characters
// written out, length bounded) and `scrubSecrets`.

/** The protocol version both sides must speak; a far side of another version is refused with a clear message. */
export const REMOTE_PROTOCOL = 1;

/** Default bound on one line, either way: 64 MiB (a value of ~48 MiB once base64-encoded). */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

/** Lines a far side may print before its hello (a login banner), skipped. */
export const MAX_GREETING_LINES = 100;

/** What the far side says about itself in its hello: what `SshCache.info()` returns. */
export interface RemoteInfo {
	/** The protocol version it speaks. */
	readonly protocol: number;
	/** Its fleche version. */
	readonly version: string;
	/** Its Node.js version. */
	readonly node: string;
	/** The process id of `fleche remote --serve` on the far machine. */
	readonly pid: number;
	/** Its cache's description (`toConfig()`), with secret keys and passwords replaced by `"[redacted]"`. */
	readonly cache: unknown;
	/** Whether it refuses writes (a `read_only` cache). */
	readonly readOnly: boolean;
	/** The longest line it reads. */
	readonly maxLineBytes: number;
}

/** The operations a client may ask, by name: what the far side does with the storages of its cache. */
export const operations = [
	'getCall',
	'putCall',
	'containsCall',
	'evictCalls',
	'callKeys',
	'expandCall',
	'records',
	'stats',
	'addStats',
	'getValue',
	'putValue',
	'containsValue',
	'refreshValue',
	'evictValue',
	'evictIdleValue',
	'valueKeys',
	'expandValue',
] as const;

export type Operation = (typeof operations)[number];

/**
 * Splits a byte stream into lines, never holding more than `maxLineBytes` of one line: a longer one is reported to
 * `overflow` (once; what follows it is dropped until the reader is reset) instead of being buffered.
 */
export class LineReader {
	#parts: Buffer[] = [];
	#size = 0;
	#overflowed = false;

	constructor(
		private readonly maxLineBytes: number,
		private readonly line: (text: string) => void,
		private readonly overflow: () => void,
	) {}

	push(chunk: Buffer): void {
		if (this.#overflowed) return;
		let start = 0;
		for (;;) {
			const end = chunk.indexOf(10, start);
			const piece = end === -1 ? chunk.subarray(start) : chunk.subarray(start, end);
			if (this.#size + piece.length > this.maxLineBytes) {
				this.#overflowed = true;
				this.#parts = [];
				this.#size = 0;
				this.overflow();
				return;
			}
			if (end === -1) {
				if (piece.length > 0) {
					this.#parts.push(piece);
					this.#size += piece.length;
				}
				return;
			}
			const whole = this.#parts.length === 0 ? piece : Buffer.concat([...this.#parts, piece]);
			this.#parts = [];
			this.#size = 0;
			this.line(whole.toString('utf8'));
			if (this.#overflowed) return;
			start = end + 1;
		}
	}
}

// C0 and C1 controls, DEL, and the bidirectional overrides and isolates.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const unsafe = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from the far side made fit for a message: control characters (terminal escapes, newlines) written out as
 * `\x1b`, at most `max` characters, and secrets scrubbed.
 */
export function untrustedText(text: unknown, max = 500): string {
	const s = typeof text === 'string' ? text : String(text);
	const cut = s.length > max ? `${s.slice(0, max)}… (${s.length - max} more characters)` : s;
	return scrubSecrets(
		cut.replace(unsafe, (c) => {
			const code = c.charCodeAt(0);
			return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
		}),
	);
}

/** A password in a URL (`scheme://user:password@host`), its `password=` query parameter, and `FLECHE_SECRET_KEY=…`. */
const urlPassword = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s@/]*@/gi;
const queryPassword = /([?&]password=)[^\s&#]*/gi;
const secretAssignment = /\b(FLECHE_SECRET_KEY\s*=\s*)("[^"]*"|'[^']*'|\S+)/g;

/**
 * `text` with URL passwords, `password=` parameters, `FLECHE_SECRET_KEY=…` assignments and this process's own
 * `FLECHE_SECRET_KEY` keys replaced by `***`.
 */
export function scrubSecrets(text: string): string {
	let out = text.replace(urlPassword, '$1:***@').replace(queryPassword, '$1***').replace(secretAssignment, '$1***');
	const env = process.env['FLECHE_SECRET_KEY'];
	if (env !== undefined) {
		for (const key of env.split(':')) if (key.length >= 8) out = out.split(key).join('***');
	}
	return out;
}

/** Whether `text` holds something {@link scrubSecrets} would hide. */
export function holdsSecret(text: string): boolean {
	return scrubSecrets(text) !== text;
}

/** Names of configuration fields that hold secrets whatever their value. */
const secretField = /secret|password|passwd|token|credential|private/i;

/**
 * A cache's description (as `toConfig()` gives it) with secret fields (`secretKey`, `password`…) replaced by
 * `"[redacted]"` and URL passwords scrubbed from every string: what the far side says of its cache, and what the client
 * keeps of it (it scrubs again: the far side is not trusted to).
 */
export function redactConfig(value: unknown, depth = 0): unknown {
	if (depth > 20) return '[too deep]';
	if (typeof value === 'string') return scrubSecrets(value);
	if (Array.isArray(value)) return value.slice(0, 100).map((v) => redactConfig(v, depth + 1));
	if (typeof value !== 'object' || value === null) return typeof value === 'number' || typeof value === 'boolean' ? value : null;
	const out: Record<string, unknown> = {};
	for (const [k, v] of Object.entries(value).slice(0, 100)) out[k] = secretField.test(k) ? '[redacted]' : redactConfig(v, depth + 1);
	return out;
}
