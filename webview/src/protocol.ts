// The extension ↔ webview contract: the panel's serialisable state and every message in both directions, each
// with an `is` guard. The only module both sides import; it imports nothing.

/** Version of this protocol, sent with every state so a stale webview can tell. */
export const protocolVersion = 2;

/**
 * A value rendered as a tree. Built by the extension (model/details.ts) with limits, so huge values cross the
 * boundary in pages: a container lists at most a page of entries and says how many there are in all (`size`);
 * a long string carries a prefix and its full length.
 */
export type ValueNode =
	| {
			/** A primitive or an opaque value: `42`, `'text'`, `null`, `2026-01-01T00:00:00.000Z`, `[Function f]`. */
			readonly t: 'text';
			/** A type tag for styling and tooltips: `number`, `string`, `boolean`, `null`, `undefined`, `bigint`, `date`, `digest`, … */
			readonly type: string;
			readonly text: string;
			/** Set when `text` is a prefix of a longer string: its full length in characters. */
			readonly fullLength?: number;
			/** Where the value sits (for "load more"): keys from the root of its section. */
			readonly path?: readonly (string | number)[];
			/** How to show it when its kind is known (metadata: `runtime.timestart` is a date): `text` is then the hover. */
			readonly display?: Display;
	  }
	| {
			readonly t: 'tree';
			/** `array`, `object`, `Map`, `Set`, or a class name. */
			readonly type: string;
			/** Number of entries in all (entries may hold only the first page). */
			readonly size: number;
			readonly entries: readonly ValueEntry[];
			readonly path: readonly (string | number)[];
	  };

export interface ValueEntry {
	readonly key: string;
	readonly value: ValueNode;
}

/** Which section of a call a value path starts from. */
export type ValueSection = 'arguments' | 'result' | 'metadata';

/**
 * A quantity with its kind, formatted by the webview (webview/src/units.ts): dates in the reader's time zone and
 * relative to the reader's clock, durations and sizes with units, counts with separators.
 */
export type Display =
	| { readonly kind: 'text'; readonly text: string }
	/** Seconds since the epoch: shown as a local date-time and an age (`5 Dec 2026 14:03:07 · 3 min ago`). */
	| { readonly kind: 'date'; readonly seconds: number }
	| { readonly kind: 'duration'; readonly seconds: number }
	| { readonly kind: 'bytes'; readonly bytes: number }
	/** `3 hits`: the unit in singular and plural. */
	| { readonly kind: 'count'; readonly count: number; readonly unit: string; readonly units: string }
	/** A number of unknown unit: shown without floating-point noise. */
	| { readonly kind: 'number'; readonly value: number };

/** A labelled fact (`took` → 1.2 s), shown in a table. */
export interface Fact {
	readonly label: string;
	readonly value: Display;
	/** A short note after the value: `hit ratio 75%`, `user 40 ms + system 4 ms`. */
	readonly note?: string;
}

/**
 * Where the function is defined, found the way the CodeLens finds it. Clicking it sends an
 * {@link OpenSourceMessage}; the extension opens only files inside the workspace.
 */
export interface SourceLink {
	/** Absolute path of the file. */
	readonly file: string;
	/** Zero-based line and column of the definition. */
	readonly line: number;
	readonly column: number;
	/** What the link reads: `src/math.js:12` (relative to its workspace folder, one-based line). */
	readonly label: string;
}

export interface CallDetailsState {
	readonly view: 'call';
	readonly version: typeof protocolVersion;
	readonly cache: string;
	readonly key: string;
	readonly module: string | null;
	readonly name: string;
	readonly fnVersion: string | number | null;
	readonly codeDigest: string | null;
	/** Seconds since the epoch. */
	readonly created: number | null;
	/** Seconds computing. */
	readonly duration: number | null;
	/** Bytes of the stored result. */
	readonly size: number | null;
	readonly hits: number;
	readonly misses: number;
	readonly lastHit: number | null;
	readonly arguments: ValueNode;
	readonly result: { readonly ok: true; readonly value: ValueNode } | { readonly ok: false; readonly error: string };
	readonly metadata: ValueNode;
	/** Timings, size, hit statistics, version and digests, in display order. */
	readonly facts: readonly Fact[];
	/** The function's definition, or null when it cannot be found in the workspace. */
	readonly source: SourceLink | null;
	/** Seconds since the epoch when the state was made. */
	readonly now: number;
}

/** One cached call of a function, as a point on the function view's charts. */
export interface CallPoint {
	readonly key: string;
	readonly argsText: string;
	readonly created: number | null;
	readonly duration: number | null;
	readonly hits: number;
	readonly misses: number;
	readonly lastHit: number | null;
}

export interface FunctionDetailsState {
	readonly view: 'function';
	readonly version: typeof protocolVersion;
	readonly cache: string;
	readonly module: string | null;
	readonly name: string;
	readonly calls: number;
	readonly hits: number;
	readonly misses: number;
	readonly lastHit: number | null;
	readonly computeSeconds: number;
	readonly savedSeconds: number;
	readonly versions: readonly (string | number | null)[];
	/** The newest calls (at most ten thousand), newest first: the charts bin them when there are many. */
	readonly points: readonly CallPoint[];
	readonly facts: readonly Fact[];
	readonly source: SourceLink | null;
	readonly now: number;
}

export type DetailsState = CallDetailsState | FunctionDetailsState;

// Extension → webview ------------------------------------------------------------------------------------------

export interface SetStateMessage {
	readonly type: 'state';
	readonly state: DetailsState;
}

/** The answer to a {@link LoadMoreMessage}: the next entries of a container or the whole string. */
export interface MoreMessage {
	readonly type: 'more';
	readonly requestId: number;
	readonly section: ValueSection;
	readonly path: readonly (string | number)[];
	/** For a container: the entries from the requested offset; for a string: the full text node. */
	readonly node: ValueNode;
	readonly offset: number;
}

export interface ErrorMessage {
	readonly type: 'error';
	readonly requestId?: number;
	readonly message: string;
}

export type ToWebview = SetStateMessage | MoreMessage | ErrorMessage;

// Webview → extension ------------------------------------------------------------------------------------------

export interface ReadyMessage {
	readonly type: 'ready';
}

export interface LoadMoreMessage {
	readonly type: 'loadMore';
	readonly requestId: number;
	readonly section: ValueSection;
	readonly path: readonly (string | number)[];
	/** Entries already shown (a container's next page starts here); 0 for a string. */
	readonly offset: number;
}

/** A button in the panel: runs the extension command of the same intent on this call or function. */
export interface ActionMessage {
	readonly type: 'action';
	readonly action: 'rerun' | 'evict' | 'openCall' | 'refresh';
	/** The call key, for `rerun`/`evict` of a call and `openCall`; absent = the panel's function. */
	readonly key?: string;
}

/** A click on the source link: open `file` at the position. The extension opens it only inside the workspace. */
export interface OpenSourceMessage {
	readonly type: 'openSource';
	readonly file: string;
	readonly line: number;
	readonly column: number;
}

export type FromWebview = ReadyMessage | LoadMoreMessage | ActionMessage | OpenSourceMessage;

// Guards -------------------------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPath(value: unknown): value is (string | number)[] {
	return Array.isArray(value) && value.every((p) => typeof p === 'string' || (typeof p === 'number' && Number.isInteger(p) && p >= 0));
}

const sections: readonly string[] = ['arguments', 'result', 'metadata'] satisfies ValueSection[];
const actions: readonly string[] = ['rerun', 'evict', 'openCall', 'refresh'] satisfies ActionMessage['action'][];

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const position = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

export function isDisplay(value: unknown): value is Display {
	if (!isRecord(value)) return false;
	switch (value.kind) {
		case 'text':
			return typeof value.text === 'string';
		case 'date':
		case 'duration':
			return finite(value.seconds);
		case 'bytes':
			return finite(value.bytes);
		case 'count':
			return finite(value.count) && typeof value.unit === 'string' && typeof value.units === 'string';
		case 'number':
			return finite(value.value);
		default:
			return false;
	}
}

const finiteOrNull = (v: unknown): boolean => v === null || finite(v);

function isPoint(value: unknown): value is CallPoint {
	return (
		isRecord(value) &&
		typeof value.key === 'string' &&
		typeof value.argsText === 'string' &&
		finiteOrNull(value.created) &&
		finiteOrNull(value.duration) &&
		finite(value.hits) &&
		finite(value.misses) &&
		finiteOrNull(value.lastHit)
	);
}

function isFacts(value: unknown): value is Fact[] {
	return (
		Array.isArray(value) &&
		value.every((f) => isRecord(f) && typeof f.label === 'string' && isDisplay(f.value) && (f.note === undefined || typeof f.note === 'string'))
	);
}

function isSource(value: unknown): value is SourceLink | null {
	return (
		value === null || (isRecord(value) && typeof value.file === 'string' && position(value.line) && position(value.column) && typeof value.label === 'string')
	);
}

export function isValueNode(value: unknown): value is ValueNode {
	if (!isRecord(value)) return false;
	if (value.t === 'text') return typeof value.type === 'string' && typeof value.text === 'string' && (value.display === undefined || isDisplay(value.display));
	if (value.t === 'tree') {
		return (
			typeof value.type === 'string' &&
			typeof value.size === 'number' &&
			isPath(value.path) &&
			Array.isArray(value.entries) &&
			value.entries.every((e) => isRecord(e) && typeof e.key === 'string' && isValueNode(e.value))
		);
	}
	return false;
}

export function isDetailsState(value: unknown): value is DetailsState {
	if (!isRecord(value) || value.version !== protocolVersion || typeof value.name !== 'string' || typeof value.cache !== 'string') return false;
	if (!isFacts(value.facts) || !isSource(value.source) || !finite(value.now)) return false;
	if (value.view === 'call') {
		const r = value.result;
		return (
			typeof value.key === 'string' &&
			isValueNode(value.arguments) &&
			isValueNode(value.metadata) &&
			isRecord(r) &&
			(r.ok === true ? isValueNode(r.value) : r.ok === false && typeof r.error === 'string')
		);
	}
	if (value.view === 'function') return Array.isArray(value.points) && value.points.every(isPoint) && typeof value.calls === 'number';
	return false;
}

export const toWebview = {
	isState: (m: unknown): m is SetStateMessage => isRecord(m) && m.type === 'state' && isDetailsState(m.state),
	isMore: (m: unknown): m is MoreMessage =>
		isRecord(m) &&
		m.type === 'more' &&
		typeof m.requestId === 'number' &&
		typeof m.section === 'string' &&
		sections.includes(m.section) &&
		isPath(m.path) &&
		typeof m.offset === 'number' &&
		isValueNode(m.node),
	isError: (m: unknown): m is ErrorMessage => isRecord(m) && m.type === 'error' && typeof m.message === 'string',
};

export const fromWebview = {
	isReady: (m: unknown): m is ReadyMessage => isRecord(m) && m.type === 'ready',
	isLoadMore: (m: unknown): m is LoadMoreMessage =>
		isRecord(m) &&
		m.type === 'loadMore' &&
		typeof m.requestId === 'number' &&
		typeof m.section === 'string' &&
		sections.includes(m.section) &&
		isPath(m.path) &&
		typeof m.offset === 'number' &&
		Number.isInteger(m.offset) &&
		m.offset >= 0,
	isOpenSource: (m: unknown): m is OpenSourceMessage =>
		isRecord(m) && m.type === 'openSource' && typeof m.file === 'string' && position(m.line) && position(m.column),
	isAction: (m: unknown): m is ActionMessage =>
		isRecord(m) && m.type === 'action' && typeof m.action === 'string' && actions.includes(m.action) && (m.key === undefined || typeof m.key === 'string'),
};
