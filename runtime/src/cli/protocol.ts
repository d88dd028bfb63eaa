// The JSON-lines contract between `fleche … --json` and the tools that spawn it (docs/architecture.md "The CLI and
// its protocol"). One JSON object per line on stdout, each `{ "v": 1, "type": … }`. Bump `PROTOCOL_VERSION` only for
// changes an old reader would misread; adding a message type or a field is not one.
//
// The one source of the contract: exported as `fleche/protocol`, and the VS Code extension imports its types from
// here (extension/src/model/cliMessages.ts). Keep it pure (type-only imports, no side effects) so that importing it
// pulls nothing else of the runtime into a bundle.
import type { CallDetail, CallSummary, Explanation, FunctionRef, FunctionSummary, StoreTotals } from '../inspect/index.js';
import type { CacheLocation } from '../inspect/location.js';

/** Version carried by every line as `v`. */
export const PROTOCOL_VERSION = 1;

interface Line<T extends string> {
	readonly v: typeof PROTOCOL_VERSION;
	readonly type: T;
}

/** Any command failed: also printed (as its `message`, one line) on stderr without `--json`. Exit code 1, or 2 for usage. */
export interface ErrorLine extends Line<'error'> {
	readonly message: string;
	/** The runtime's error class when there is one (`KeyError`, `AmbiguousDigestError`, `ConfigError`, …). */
	readonly error?: string;
}

/** `rerun`: before each call and once at the end (`done === total`). */
export interface ProgressLine extends Line<'progress'> {
	readonly done: number;
	readonly total: number;
}

/** `rerun`: one per call. */
export interface RerunLine extends Line<'rerun'> {
	/** The stored call's key. */
	readonly key: string;
	readonly ok: boolean;
	readonly error?: string;
	/** The key the call has now, when it differs from `key` (the function's code or version changed). */
	readonly newKey?: string;
}

/** `rerun`: last line. */
export interface DoneLine extends Line<'done'> {
	readonly ok: number;
	readonly failed: number;
}

/** `ls` without a function. */
export interface FunctionsLine extends Line<'functions'> {
	readonly cache: CacheLocation;
	readonly functions: readonly FunctionSummary[];
}

/** `ls <function>`: a page of its calls, newest first. */
export interface CallsLine extends Line<'calls'> {
	readonly function: FunctionRef;
	readonly total: number;
	readonly offset: number;
	readonly calls: readonly CallSummary[];
}

/**
 * `show`: one call. Values are made JSON-safe (`bigint` → `"12n"`, `Map` → entry pairs, `Set` → array, `undefined` →
 * `null`, …); `argumentsText`/`resultText` are the exact `util.inspect` renderings.
 */
export interface CallLine extends Line<'call'> {
	readonly call: CallDetail;
	readonly argumentsText: Readonly<Record<string, string>>;
	readonly resultText: string;
}

/** `stats`. */
export interface StatsLine extends Line<'stats'> {
	readonly cache: CacheLocation;
	readonly totals: StoreTotals;
	readonly functions: readonly FunctionSummary[];
}

/** `evict`: how many calls were removed. */
export interface EvictedLine extends Line<'evicted'> {
	readonly count: number;
}

/** `gc`: how many orphaned values were removed (with `--older-than`, also how many calls; with `--dry-run`, would be). */
export interface GcLine extends Line<'gc'> {
	readonly removed: number;
	/** Calls evicted for being older than `--older-than`; present only with it. */
	readonly calls?: number;
	/** Present (true) with `--dry-run`: nothing was removed. */
	readonly dryRun?: boolean;
}

/**
 * `push`, `pull`: calls (records with their values) copied from one cache to another — a local store and a team
 * store, say. Calls the target already held are `present` (left alone unless `--overwrite`); `failed` ones were
 * said on stderr. With `dryRun`, `copied` counts what would have been.
 */
export interface TransferLine extends Line<'transfer'> {
	/** The source cache's name. */
	readonly from: string;
	/** The target cache's name. */
	readonly to: string;
	readonly copied: number;
	readonly present: number;
	readonly failed: number;
	readonly dryRun: boolean;
}

/** `rerun`, `explain`: the user's file about to be imported (and so run), before it is; once per file. */
export interface ModuleLine extends Line<'module'> {
	/** The module path the call record names. */
	readonly module: string;
	/** The absolute file it resolved to, inside `project`. */
	readonly file: string;
	/** The project folder files are run from. */
	readonly project: string;
}

/** `verify`: the entries that failed their checks, and how many of them `--delete` removed. */
export interface VerifyLine extends Line<'verify'> {
	readonly checked: number;
	readonly damaged: readonly { readonly kind: 'call' | 'value'; readonly key: string; readonly reason: string }[];
	readonly removed: number;
}

/** `explain`. */
export interface ExplainLine extends Line<'explain'> {
	readonly function: FunctionRef;
	readonly explanation: Explanation;
}

/** `call`: the outcome of calling a cached function with new arguments. */
export interface RanLine extends Line<'ran'> {
	readonly function: FunctionRef;
	/** The call's key under the current code. */
	readonly key: string;
	/** Whether the store held the call before (a hit), or it ran and was stored (a miss). */
	readonly hit: boolean;
	readonly ok: boolean;
	/** The result as `util.inspect` renders it, when `ok`. */
	readonly resultText?: string;
	/** What the function threw (`Name: message`), when not `ok`. */
	readonly error?: string;
}

/** `worker`: once it serves its queue (it runs until SIGTERM or SIGINT). */
export interface WorkerLine extends Line<'worker'> {
	readonly queue: string;
	/** The Redis URL, without credentials. */
	readonly redis: string;
	/** The project folder job modules are imported from. */
	readonly project: string;
	readonly concurrency: number;
}

/** `rekey`: one per function carried over (with `--source-maps`, one per compiled module's function found). */
export interface RekeyedLine extends Line<'rekeyed'> {
	readonly from: FunctionRef;
	readonly to: FunctionRef;
	/** Calls of `from` found; `written` new records (with `dryRun`: to write), `existing` already under the new key. */
	readonly matched: number;
	readonly written: number;
	readonly existing: number;
	/** Old records removed (0 with `--keep`). */
	readonly removed: number;
	/** Records of another key scheme, left alone. */
	readonly stale: number;
	readonly dryRun: boolean;
}

/** Every line the CLI prints with `--json`. */
export type CliMessage =
	| ErrorLine
	| ProgressLine
	| RerunLine
	| DoneLine
	| FunctionsLine
	| CallsLine
	| CallLine
	| StatsLine
	| EvictedLine
	| GcLine
	| TransferLine
	| VerifyLine
	| ModuleLine
	| ExplainLine
	| RanLine
	| WorkerLine
	| RekeyedLine;

const types = new Set<string>([
	'error',
	'progress',
	'rerun',
	'done',
	'functions',
	'calls',
	'call',
	'stats',
	'evicted',
	'gc',
	'transfer',
	'verify',
	'module',
	'explain',
	'ran',
	'worker',
	'rekeyed',
]);

/** Whether `value` is a line of this protocol version (the `type` is known; fields are trusted). */
export function isCliMessage(value: unknown): value is CliMessage {
	if (typeof value !== 'object' || value === null) return false;
	const v = value as { v?: unknown; type?: unknown };
	return v.v === PROTOCOL_VERSION && typeof v.type === 'string' && types.has(v.type);
}

/**
 * The message on one stdout line, or `undefined` for a line that is not one (blank, not JSON, another version).
 * @example
 * ```ts
 * for (const line of stdout.split('\n')) {
 *   const m = parseCliLine(line);
 *   if (m?.type === 'progress') report(m.done / m.total);
 * }
 * ```
 */
export function parseCliLine(line: string): CliMessage | undefined {
	const text = line.trim();
	if (!text.startsWith('{')) return undefined;
	try {
		const value: unknown = JSON.parse(text);
		return isCliMessage(value) ? value : undefined;
	} catch {
		return undefined;
	}
}

/**
 * A JSON-safe copy of a stored value for `show --json`: what `JSON.stringify` would drop or refuse is replaced by
 * something readable, and cycles become `"[Circular]"`.
 */
export function jsonSafe(value: unknown, seen: Set<object> = new Set()): unknown {
	switch (typeof value) {
		case 'bigint':
			return `${value}n`;
		case 'undefined':
			return null;
		case 'number':
			return Number.isFinite(value) ? value : String(value);
		case 'symbol':
			return value.toString();
		case 'function':
			return `[Function ${value.name || 'anonymous'}]`;
		case 'string':
		case 'boolean':
			return value;
		case 'object':
			break;
	}
	if (value === null) return null;
	const obj = value;
	if (seen.has(obj)) return '[Circular]';
	seen.add(obj);
	try {
		if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
		if (value instanceof Map) return [...value.entries()].map(([k, v]) => [jsonSafe(k, seen), jsonSafe(v, seen)]);
		if (value instanceof Set) return [...value].map((v) => jsonSafe(v, seen));
		if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => jsonSafe(v, seen));
		if (Array.isArray(value)) return value.map((v) => jsonSafe(v, seen));
		if (value instanceof Error) return { name: value.name, message: value.message };
		const out: Record<string, unknown> = {};
		for (const [k, v] of Object.entries(obj)) out[k] = jsonSafe(v, seen);
		return out;
	} finally {
		seen.delete(obj);
	}
}
