// The extension ↔ webview contract: the panel's serialisable state and every message in both directions, each
// with an `is` guard. The only module both sides import; it imports nothing.

/** Version of this protocol, sent with every state so a stale webview can tell. */
export const protocolVersion = 1;

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

/** A labelled, already formatted fact (`took` → `1.2 s`), shown in a table. */
export interface Fact {
	readonly label: string;
	readonly value: string;
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
	/** Timings, size, hit statistics, version and digests as text, in display order. */
	readonly facts: readonly Fact[];
	/** Seconds since the epoch when the state was made (ages are relative to it). */
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
	/** Tooltip of the point: arguments, age, duration, hits. */
	readonly label: string;
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
	/** The newest calls (at most a few hundred), newest first. */
	readonly points: readonly CallPoint[];
	readonly facts: readonly Fact[];
	/** Axis labels: oldest and newest creation time, longest duration, most hits. */
	readonly axes: { readonly from: string; readonly to: string; readonly maxDuration: string; readonly maxHits: string };
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

export type FromWebview = ReadyMessage | LoadMoreMessage | ActionMessage;

// Guards -------------------------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPath(value: unknown): value is (string | number)[] {
	return Array.isArray(value) && value.every((p) => typeof p === 'string' || (typeof p === 'number' && Number.isInteger(p) && p >= 0));
}

const sections: readonly string[] = ['arguments', 'result', 'metadata'] satisfies ValueSection[];
const actions: readonly string[] = ['rerun', 'evict', 'openCall', 'refresh'] satisfies ActionMessage['action'][];

export function isValueNode(value: unknown): value is ValueNode {
	if (!isRecord(value)) return false;
	if (value.t === 'text') return typeof value.type === 'string' && typeof value.text === 'string';
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
	if (value.view === 'function') return Array.isArray(value.points) && typeof value.calls === 'number';
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
	isAction: (m: unknown): m is ActionMessage =>
		isRecord(m) && m.type === 'action' && typeof m.action === 'string' && actions.includes(m.action) && (m.key === undefined || typeof m.key === 'string'),
};
