// docs/behaviour.md §17: `fleche remote --serve`, the far side of an SSH remote cache (storage/ssh/): it serves the
// storages of one cache — a section of its own fleche.toml (`--cache`), a store folder (`--root`), else its default
// cache — to the one client at the other end of its stdin and stdout, in the line protocol of storage/ssh/protocol.ts,
// until its stdin ends. Its warnings go to stderr (which ssh carries back, where the client keeps them for messages).
//
// The client is trusted no more than a store is: every line is bounded, every key and record is checked by the
// storages as always, and it can only ask the listed operations of the listed storages — never run anything. Secrets
// in the cache's description (signing keys, passwords) are redacted before the hello carries it.
//
// Values arrive in fleche's 'v8' form and are stored by this side's own value storage, which serializes them its own
// way. A value holding an instance of a class registered on the client is kept with its class name: this side, which
// never runs the user's code, registers a stand-in class under that name when it first meets one, so that the name
// is stored again and the client gets its own class back.
import { flecheVersion } from '../version.js';
import { ClassNotRegistered, registerClass } from '../classes.js';
import { KeyError, Rejected } from '../errors.js';
import type { BaseCache } from '../caches/base.js';
import { Cache } from '../caches/cache.js';
import { ReadOnlyCache } from '../caches/readOnlyCache.js';
import { cacheByName, fileCache, reloadConfig } from '../config/build.js';
import type { CallStats, CallStorage, ValueStorage } from '../storage/base.js';
import { isKey } from '../storage/keys.js';
import { getSerializer } from '../storage/serializers.js';
import { parseRecord } from '../storage/sql/schema.js';
import { DEFAULT_MAX_LINE_BYTES, LineReader, operations, redactConfig, REMOTE_PROTOCOL, type Operation } from '../storage/ssh/protocol.js';
import { isStatsStorage } from '../stats.js';
import { resolve } from 'node:path';

/** What `fleche remote --serve` serves, and from where. */
export interface ServeOptions {
	/** A section of fleche.toml. */
	readonly cache?: string;
	/** A store folder (relative to `cwd`). */
	readonly root?: string;
	/** The folder whose fleche.toml applies. */
	readonly cwd?: string;
	/** The longest line read from the client. @default 64 MiB */
	readonly maxLineBytes?: number;
}

/** The storages served. */
interface Served {
	readonly values: ValueStorage;
	readonly calls: CallStorage;
	readonly readOnly: boolean;
	readonly description: unknown;
}

/** Opens the cache to serve, or says why it cannot be served. */
function openServed(options: ServeOptions): Served {
	const cwd = options.cwd === undefined ? process.cwd() : resolve(options.cwd);
	let c: BaseCache;
	if (options.root !== undefined) c = fileCache(resolve(cwd, options.root));
	else {
		reloadConfig({ cwd });
		c = cacheByName(options.cache ?? 'default');
	}
	const description = redactConfig(c.toConfig());
	let readOnly = false;
	while (c instanceof ReadOnlyCache) {
		readOnly = true;
		c = c.inner;
	}
	if (!(c instanceof Cache)) {
		throw new TypeError(
			`the cache ${options.cache ?? 'default'} is a ${c.constructor.name}: fleche remote serves a cache of one value storage and one call storage (a template, or values and calls tables)`,
		);
	}
	return { values: c.values, calls: c.calls, readOnly, description };
}

const codec = getSerializer('v8');

/** Runs `fn`, registering a stand-in for each class a value names that is not registered here (see the file header). */
function withStandIns<T>(fn: () => T): T {
	for (let attempt = 0; ; attempt++) {
		try {
			return fn();
		} catch (err) {
			const missing = classMissing(err);
			if (missing === undefined || attempt >= 64) throw err;
			const standIn = { [missing]: class {} }[missing]!;
			registerClass(standIn, { name: missing });
		}
	}
}

function classMissing(err: unknown): string | undefined {
	for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) if (e instanceof ClassNotRegistered) return e.className;
	return undefined;
}

function key(value: unknown): string {
	if (!isKey(value)) throw new TypeError('not a key (64 lowercase hex characters)');
	return value as string;
}

function base64(bytes: Uint8Array): string {
	return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * The value under `k` in the 'v8' form, or null when it is not held (a damaged one reads as not held, as for any
 * reader): from its value file, else from inside the call file that holds it (docs/behaviour.md §2.6).
 */
function valueText(values: ValueStorage, calls: CallStorage, k: string): string | null {
	const read = (): unknown => {
		try {
			return values.get(k);
		} catch (err) {
			const found = KeyError.is(err) && values.unpack !== undefined ? calls.held?.value(k) : undefined;
			if (found === undefined) throw err;
			return values.unpack!(k, found.bytes, found.where);
		}
	};
	try {
		return base64(codec.serialize(withStandIns(read)));
	} catch (err) {
		if (KeyError.is(err)) return null;
		throw err;
	}
}

function checkStats(value: unknown): CallStats[] {
	if (!Array.isArray(value)) throw new TypeError('statistics must be an array');
	return value.map((s: unknown) => {
		const r = s as Record<string, unknown> | null;
		const n = (v: unknown): number => {
			if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError('statistics hold a bad number');
			return v;
		};
		if (typeof r !== 'object' || r === null || typeof r['name'] !== 'string') throw new TypeError('statistics of the wrong shape');
		if (r['module'] !== null && typeof r['module'] !== 'string') throw new TypeError('statistics of the wrong shape');
		return {
			key: key(r['key']),
			name: r['name'],
			module: r['module'],
			hits: n(r['hits']),
			misses: n(r['misses']),
			lastHit: r['lastHit'] === null ? null : n(r['lastHit']),
			computeSeconds: n(r['computeSeconds']),
			savedSeconds: n(r['savedSeconds']),
		};
	});
}

function matching(list: Iterable<string>, prefix: string): string[] {
	const out: string[] = [];
	for (const k of list) if (k.startsWith(prefix) && out.push(k) >= 2) break;
	return out;
}

const writes = new Set<Operation>(['putCall', 'putValue', 'evictCalls', 'evictValue', 'evictIdleValue']);

/** One operation on the served storages; what it returns is the reply's value. */
function perform(served: Served, op: Operation, args: readonly unknown[], room: number): unknown {
	const { values, calls } = served;
	if (served.readOnly && writes.has(op)) throw new Rejected('the cache is read-only');
	switch (op) {
		case 'getCall': {
			const k = key(args[0]);
			const record = calls.find === undefined ? (calls.contains(k) ? calls.get(k) : undefined) : calls.find(k);
			if (record === undefined) return null;
			// The result value comes along when it fits the client's line: a hit is one round trip.
			const value = record.result === null ? null : valueText(values, calls, record.result);
			return [record, value !== null && value.length + 4096 < room - JSON.stringify(record).length ? value : null];
		}
		case 'putCall':
			calls.put(parseRecord(args[0]));
			return null;
		case 'containsCall':
			return calls.contains(key(args[0]));
		case 'evictCalls': {
			if (!Array.isArray(args[0])) throw new TypeError('evictCalls takes an array of keys');
			let n = 0;
			for (const k of args[0] as unknown[]) {
				try {
					calls.evict(key(k));
					n++;
				} catch (err) {
					if (!KeyError.is(err)) throw err;
				}
			}
			return n;
		}
		case 'callKeys':
			return [...calls.list()];
		case 'expandCall':
			return matching(calls.list(), String(args[0]));
		case 'records': {
			const after = typeof args[0] === 'string' ? args[0] : '';
			const name = typeof args[1] === 'string' ? args[1] : undefined;
			const limit = Math.min(Math.max(1, Number(args[2]) || 1), 1000);
			if (name !== undefined) {
				return [...calls.records({ name })]
					.filter((r) => r.key > after)
					.sort((a, b) => (a.key < b.key ? -1 : 1))
					.slice(0, limit);
			}
			const keys = [...calls.list()]
				.filter((k) => k > after)
				.sort()
				.slice(0, limit);
			return keys.flatMap((k) => {
				try {
					return [calls.get(k)];
				} catch (err) {
					if (KeyError.is(err)) return [];
					throw err;
				}
			});
		}
		case 'stats':
			return isStatsStorage(calls) ? [...calls.stats(typeof args[0] === 'string' ? { name: args[0] } : undefined)] : [];
		case 'addStats':
			if (!served.readOnly && isStatsStorage(calls)) calls.addStats(checkStats(args[0]));
			return null;
		case 'getValue':
			return valueText(values, calls, key(args[0]));
		case 'putValue': {
			const k = key(args[0]);
			if (typeof args[1] !== 'string') throw new TypeError('putValue takes a key and base64 text');
			values.put(
				k,
				withStandIns(() => codec.deserialize(Buffer.from(args[1] as string, 'base64'))),
			);
			return null;
		}
		case 'containsValue':
			return values.contains(key(args[0]));
		case 'refreshValue': {
			const k = key(args[0]);
			if (served.readOnly) return values.contains(k);
			return values.refresh === undefined ? values.contains(k) : values.refresh(k);
		}
		case 'evictValue':
			try {
				values.evict(key(args[0]));
				return true;
			} catch (err) {
				if (KeyError.is(err)) return false;
				throw err;
			}
		case 'evictIdleValue': {
			const k = key(args[0]);
			const grace = Number(args[1]);
			try {
				if (values.evictIdle === undefined) {
					values.evict(k);
					return true;
				}
				return values.evictIdle(k, Number.isFinite(grace) && grace >= 0 ? grace : 0);
			} catch (err) {
				if (KeyError.is(err)) return null;
				throw err;
			}
		}
		case 'valueKeys':
			return [...values.list()];
		case 'expandValue':
			return matching(values.list(), String(args[0]));
	}
}

function errorReply(id: unknown, err: unknown): string {
	const e = err instanceof Error ? err : new Error(String(err));
	return JSON.stringify({ id, ok: false, error: { name: e.name, message: e.message } });
}

/**
 * Serves a cache over `input` and `output` in the remote-cache line protocol until `input` ends; resolves to the exit
 * code (0, or 1 when the cache could not be opened or the client spoke another protocol).
 */
export function serveRemote(options: ServeOptions, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<number> {
	const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
	let served: Served | undefined;
	let refusal: string | undefined;
	try {
		served = openServed(options);
	} catch (err) {
		refusal = err instanceof Error ? err.message : String(err);
	}
	const known = new Set<string>(operations);
	/** The client's bound on a line, from its hello. */
	let room = 0;
	return new Promise((done) => {
		let finished = false;
		const finish = (code: number): void => {
			if (finished) return;
			finished = true;
			input.removeAllListeners('data');
			input.pause();
			output.write('', () => done(code));
		};
		const send = (line: string): void => {
			output.write(
				`${room > 0 && Buffer.byteLength(line) > room ? errorReply(idOf(line), new Error(`the reply is larger than the ${room} bytes the client reads in one line`)) : line}\n`,
			);
		};
		const onLine = (text: string): void => {
			let message: unknown;
			try {
				message = JSON.parse(text) as unknown;
			} catch {
				message = undefined;
			}
			const m = (typeof message === 'object' && message !== null ? message : {}) as Record<string, unknown>;
			if (room === 0) {
				if (m['fleche'] !== 'remote') return; // not a hello: a client that has not started speaking yet
				const hello = { fleche: 'remote', protocol: REMOTE_PROTOCOL };
				if (m['protocol'] !== REMOTE_PROTOCOL) {
					output.write(`${JSON.stringify({ ...hello, error: `this far side speaks protocol ${REMOTE_PROTOCOL} only (fleche ${flecheVersion})` })}\n`);
					return finish(1);
				}
				if (served === undefined) {
					output.write(`${JSON.stringify({ ...hello, error: refusal })}\n`);
					return finish(1);
				}
				room = Number.isSafeInteger(m['maxLineBytes']) && (m['maxLineBytes'] as number) >= 1024 ? (m['maxLineBytes'] as number) : DEFAULT_MAX_LINE_BYTES;
				output.write(
					`${JSON.stringify({ ...hello, version: flecheVersion, node: process.version, pid: process.pid, cache: served.description, readOnly: served.readOnly, maxLineBytes })}\n`,
				);
				return;
			}
			const id = m['id'];
			if (!Number.isSafeInteger(id)) return finish(1);
			const op = m['op'];
			const args = m['args'];
			if (typeof op !== 'string' || !known.has(op) || !Array.isArray(args))
				return send(errorReply(id, new TypeError(`unknown operation ${JSON.stringify(op)}`)));
			let value: unknown;
			try {
				value = perform(served!, op as Operation, args, room);
			} catch (err) {
				return send(errorReply(id, err));
			}
			send(JSON.stringify({ id, ok: true, value }));
		};
		const reader = new LineReader(maxLineBytes, onLine, () => {
			process.stderr.write(`fleche remote: a request was longer than ${maxLineBytes} bytes; closing\n`);
			finish(1);
		});
		input.on('data', (chunk: Buffer | string) => reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
		input.on('end', () => finish(0));
		input.on('error', () => finish(1));
	});
}

function idOf(line: string): unknown {
	const m = /^\{"id":(\d+)/.exec(line);
	return m === null ? null : Number(m[1]);
}
