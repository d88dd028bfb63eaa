// Pure: a call or function read through fleche/inspect → the details panel's state (webview/src/protocol.ts), and
// loaded values → ValueNode trees in pages, so a million-element result never crosses to the webview at once.
// Quantities travel with their kind (protocol `Display`) and the webview formats them: dates in the reader's time
// zone, durations and sizes with units. Metadata values of a known kind (runtime timings, file sizes) get a kind too.
import {
	protocolVersion,
	type CallDetailsState,
	type CallPoint,
	type Display,
	type Fact,
	type FunctionDetailsState,
	type SourceLink,
	type ValueEntry,
	type ValueNode,
} from '../../../webview/src/protocol.js';
import path from 'node:path';
import type { CallInfo, FunctionInfo } from './callTree.js';
import { hitRatio } from './format.js';

export interface ValueLimits {
	/** Entries per container page. @default 100 */
	readonly pageSize: number;
	/** Characters of a string shown before "load more". @default 2000 */
	readonly maxString: number;
	/** Levels expanded in one go; deeper containers come with no entries and load on demand. @default 3 */
	readonly depth: number;
}

export const defaultLimits: ValueLimits = { pageSize: 100, maxString: 2000, depth: 3 };

type Path = readonly (string | number)[];

function typeName(value: object): string {
	if (Array.isArray(value)) return 'array';
	const proto = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null;
	if (proto === null) return 'object';
	const name = proto.constructor?.name;
	return typeof name === 'string' && name !== '' && name !== 'Object' ? name : 'object';
}

/** Containers and how to list them; anything else is shown as one line of text. */
function entriesOf(value: unknown): { size: number; at: (i: number) => { key: string; step: string | number; value: unknown } } | undefined {
	if (typeof value !== 'object' || value === null) return undefined;
	if (value instanceof Date || value instanceof RegExp || value instanceof Error) return undefined;
	if (Array.isArray(value)) return { size: value.length, at: (i) => ({ key: String(i), step: i, value: value[i] }) };
	if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
		const arr = value as unknown as ArrayLike<number | bigint>;
		return { size: arr.length, at: (i) => ({ key: String(i), step: i, value: arr[i] }) };
	}
	if (value instanceof Map) {
		const list = [...value.entries()];
		return { size: list.length, at: (i) => ({ key: scalarText(list[i]![0]).text, step: i, value: list[i]![1] }) };
	}
	if (value instanceof Set) {
		const list = [...value.values()];
		return { size: list.length, at: (i) => ({ key: String(i), step: i, value: list[i] }) };
	}
	const keys = Object.keys(value);
	return { size: keys.length, at: (i) => ({ key: keys[i]!, step: keys[i]!, value: (value as Record<string, unknown>)[keys[i]!] }) };
}

function scalarText(value: unknown): { type: string; text: string } {
	switch (typeof value) {
		case 'string':
			return { type: 'string', text: JSON.stringify(value) };
		case 'number':
			return { type: 'number', text: Object.is(value, -0) ? '-0' : String(value) };
		case 'bigint':
			return { type: 'bigint', text: `${value}n` };
		case 'boolean':
			return { type: 'boolean', text: String(value) };
		case 'undefined':
			return { type: 'undefined', text: 'undefined' };
		case 'symbol':
			return { type: 'symbol', text: value.toString() };
		case 'function':
			return { type: 'function', text: `[Function ${value.name || '(anonymous)'}]` };
		case 'object':
			if (value === null) return { type: 'null', text: 'null' };
			if (value instanceof Date) return { type: 'date', text: Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString() };
			if (value instanceof RegExp) return { type: 'regexp', text: String(value) };
			if (value instanceof Error) return { type: 'error', text: `${value.name}: ${value.message}` };
			return { type: typeName(value), text: `[${typeName(value)}]` };
	}
	return { type: 'unknown', text: String(value) };
}

/**
 * A value as a tree, `limits.depth` levels deep and a page of entries per container. `path` is where it sits
 * (the webview sends it back to load more).
 */
export function toValueNode(value: unknown, limits: ValueLimits = defaultLimits, path: Path = [], seen: readonly object[] = []): ValueNode {
	if (typeof value === 'string' && value.length > limits.maxString) {
		return { t: 'text', type: 'string', text: JSON.stringify(value.slice(0, limits.maxString)).slice(0, -1), fullLength: value.length, path };
	}
	const list = entriesOf(value);
	if (!list) return { t: 'text', ...scalarText(value) };
	const obj = value as object;
	if (seen.includes(obj)) return { t: 'text', type: 'circular', text: '[Circular]' };
	return { t: 'tree', type: typeName(obj), size: list.size, path, entries: page(obj, list, 0, limits, path, seen) };
}

function page(obj: object, list: NonNullable<ReturnType<typeof entriesOf>>, offset: number, limits: ValueLimits, path: Path, seen: readonly object[]): ValueEntry[] {
	if (limits.depth <= 0) return [];
	const inner = { ...limits, depth: limits.depth - 1 };
	const out: ValueEntry[] = [];
	const end = Math.min(list.size, offset + limits.pageSize);
	for (let i = offset; i < end; i++) {
		const e = list.at(i);
		out.push({ key: e.key, value: toValueNode(e.value, inner, [...path, e.step], [...seen, obj]) });
	}
	return out;
}

/** Plain and class objects are walked by key; arrays, typed arrays, Maps and Sets by position. */
function byPosition(v: object): boolean {
	return Array.isArray(v) || ArrayBuffer.isView(v) || v instanceof Map || v instanceof Set;
}

/** The value at `path` under `root` (steps as in ValueNode paths), or `notFound`. */
export function valueAt(root: unknown, path: Path): unknown {
	let v = root;
	for (const step of path) {
		const list = entriesOf(v);
		if (!list) return notFound;
		if (byPosition(v as object)) {
			if (typeof step !== 'number' || step >= list.size) return notFound;
			v = list.at(step).value;
		} else {
			if (typeof step !== 'string' || !Object.prototype.hasOwnProperty.call(v, step)) return notFound;
			v = (v as Record<string, unknown>)[step];
		}
	}
	return v;
}

/** Marks a path that leads nowhere (the value changed since the panel showed it). */
export const notFound: unique symbol = Symbol('notFound');

/**
 * What "load more" on `path` returns: the next page of a container from `offset` (as a tree node whose entries are
 * that page), or the whole of a long string. `undefined` when the path no longer leads to a value.
 */
export function moreAt(root: unknown, path: Path, offset: number, limits: ValueLimits = defaultLimits): ValueNode | undefined {
	const v = valueAt(root, path);
	if (v === notFound) return undefined;
	if (typeof v === 'string') return { t: 'text', type: 'string', text: JSON.stringify(v), path };
	const list = entriesOf(v);
	if (!list) return toValueNode(v, limits, path);
	return { t: 'tree', type: typeName(v as object), size: list.size, path, entries: page(v as object, list, offset, { ...limits, depth: Math.max(1, limits.depth) }, path, []) };
}

/** What details.ts needs of a `CallDetail` (fleche/inspect). */
export interface CallDetailInfo extends CallInfo {
	readonly codeDigest: string | null;
	readonly arguments: Readonly<Record<string, unknown>>;
	readonly result: { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string };
	readonly metadata: Readonly<Record<string, unknown>>;
}

/** The kind of a metadata value at `path` (namespace first, docs/behaviour.md §1.9), for numbers only. */
export function metadataDisplay(path: readonly (string | number)[], value: number): Display {
	const [space, name] = path;
	if (space === 'runtime' && path.length === 2) {
		if (name === 'timestart' || name === 'timestop') return { kind: 'date', seconds: value };
		if (name === 'walltime' || name === 'cputime' || name === 'systime') return { kind: 'duration', seconds: value };
	}
	// `files` maps a file value's key to its size in bytes.
	if (space === 'files' && path.length === 2) return { kind: 'bytes', bytes: value };
	return { kind: 'number', value };
}

/**
 * `node` (a metadata section, or a page of it at `at`) with every finite number given its display kind. The raw
 * text stays in `text` for the hover.
 */
export function withMetadataDisplays(node: ValueNode, at: readonly (string | number)[] = []): ValueNode {
	if (node.t === 'text') {
		const value = node.type === 'number' ? Number(node.text) : NaN;
		return Number.isFinite(value) ? { ...node, display: metadataDisplay(at, value) } : node;
	}
	// Metadata is JSON: objects by key, arrays by index (an entry's key is its index, on any page).
	const step = (key: string): string | number => (node.type === 'array' ? Number(key) : key);
	return { ...node, entries: node.entries.map((e) => ({ key: e.key, value: withMetadataDisplays(e.value, [...node.path, step(e.key)]) })) };
}

/** What `x.y` of the metadata holds when it is a finite number. */
function metaNumber(metadata: Readonly<Record<string, unknown>>, space: string, name: string): number | null {
	const ns = metadata[space];
	if (typeof ns !== 'object' || ns === null) return null;
	const v = (ns as Record<string, unknown>)[name];
	return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function callDetailsState(cache: string, call: CallDetailInfo, nowSeconds: number, limits: ValueLimits = defaultLimits, source: SourceLink | null = null): CallDetailsState {
	return {
		view: 'call',
		version: protocolVersion,
		cache,
		key: call.key,
		module: call.module,
		name: call.name,
		fnVersion: call.version,
		codeDigest: call.codeDigest,
		created: call.created,
		duration: call.duration,
		size: call.size,
		hits: call.hits,
		misses: call.misses,
		lastHit: call.lastHit,
		arguments: toValueNode(call.arguments, limits),
		result: call.result.ok ? { ok: true, value: toValueNode(call.result.value, limits) } : { ok: false, error: call.result.error },
		metadata: withMetadataDisplays(toValueNode(call.metadata, limits)),
		facts: callFacts(call),
		source,
		now: nowSeconds,
	};
}

const text = (t: string): Display => ({ kind: 'text', text: t });
const orUnknown = (n: number | null, display: (n: number) => Display): Display => (n === null ? text('—') : display(n));
const date = (seconds: number | null, none = '—'): Display => (seconds === null ? text(none) : { kind: 'date', seconds });
const duration = (seconds: number | null): Display => orUnknown(seconds, (s) => ({ kind: 'duration', seconds: s }));
const count = (n: number, unit: string, units = `${unit}s`): Display => ({ kind: 'count', count: n, unit, units });

function hitFacts(hits: number, misses: number): Fact[] {
	return [
		{ label: 'hits', value: count(hits, 'hit'), note: `hit ratio ${hitRatio(hits, misses)}` },
		{ label: 'misses', value: count(misses, 'miss', 'misses') },
	];
}

export function callFacts(call: CallDetailInfo): Fact[] {
	const user = metaNumber(call.metadata, 'runtime', 'cputime');
	const system = metaNumber(call.metadata, 'runtime', 'systime');
	const cpu: Fact[] =
		user === null && system === null
			? []
			: [
					{
						label: 'CPU time',
						value: duration((user ?? 0) + (system ?? 0)),
						note: 'user + system of the whole process while the call ran',
					},
				];
	return [
		{ label: 'function', value: text(call.module === null ? call.name : `${call.module} · ${call.name}`) },
		{ label: 'created', value: date(call.created) },
		{ label: 'took', value: duration(call.duration) },
		...cpu,
		{ label: 'result size', value: orUnknown(call.size, (b) => ({ kind: 'bytes', bytes: b })) },
		...hitFacts(call.hits, call.misses),
		{ label: 'last hit', value: date(call.lastHit, 'never') },
		{ label: 'version', value: text(call.version === null ? '—' : String(call.version)) },
		{ label: 'key', value: text(call.key) },
		{ label: 'code digest', value: text(call.codeDigest ?? '—') },
	];
}

/** The section a "load more" path starts from, as the extension holds it. */
export function sectionRoot(call: CallDetailInfo, section: 'arguments' | 'result' | 'metadata'): unknown {
	if (section === 'arguments') return call.arguments;
	if (section === 'metadata') return call.metadata;
	return call.result.ok ? call.result.value : notFound;
}

export function functionDetailsState(cache: string, fn: FunctionInfo, calls: readonly CallInfo[], nowSeconds: number, source: SourceLink | null = null): FunctionDetailsState {
	const points: CallPoint[] = calls.map((c) => ({
		key: c.key,
		argsText: c.argsText,
		created: c.created,
		duration: c.duration,
		hits: c.hits,
		misses: c.misses,
		lastHit: c.lastHit,
	}));
	return {
		view: 'function',
		version: protocolVersion,
		cache,
		module: fn.module,
		name: fn.name,
		calls: fn.calls,
		hits: fn.hits,
		misses: fn.misses,
		lastHit: fn.lastHit,
		computeSeconds: fn.computeSeconds,
		savedSeconds: fn.savedSeconds,
		versions: fn.versions,
		points,
		facts: [
			{ label: 'function', value: text(fn.module === null ? fn.name : `${fn.module} · ${fn.name}`) },
			{ label: 'cached calls', value: count(fn.calls, 'call') },
			...hitFacts(fn.hits, fn.misses),
			{ label: 'computing', value: duration(fn.computeSeconds) },
			{ label: 'saved by hits', value: duration(fn.savedSeconds) },
			{ label: 'last hit', value: date(fn.lastHit, 'never') },
			{ label: 'versions', value: text(fn.versions.length === 0 ? '—' : fn.versions.map((v) => (v === null ? '(none)' : String(v))).join(', ')) },
		],
		source,
		now: nowSeconds,
	};
}

/**
 * The workspace folder that holds `file` (absolute; `..` resolved), or undefined: the details panel opens only such
 * files when the webview asks (its message is untrusted input). Pass real paths, so a symbolic link cannot lead out.
 */
export function folderHolding(file: string, folders: readonly string[], paths: Pick<typeof path, 'resolve' | 'relative' | 'isAbsolute' | 'sep'> = path): string | undefined {
	if (!paths.isAbsolute(file) || file.includes('\0')) return undefined;
	const resolved = paths.resolve(file);
	return folders.find((folder) => {
		const rel = paths.relative(paths.resolve(folder), resolved);
		return rel !== '' && rel !== '..' && !rel.startsWith(`..${paths.sep}`) && !paths.isAbsolute(rel);
	});
}

/** The source link of a definition at zero-based `line`/`column` of `file`, labelled relative to its folder. */
export function sourceLinkOf(file: string, line: number, column: number, folders: readonly string[]): SourceLink {
	const folder = folderHolding(file, folders);
	const shown = folder === undefined ? file : path.relative(folder, file).split(path.sep).join('/');
	return { file, line, column, label: `${shown}:${line + 1}` };
}
