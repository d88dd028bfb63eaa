// docs/behaviour.md §1.2a: file values stored by content. A value that holds `file:` URLs (itself, or inside arrays,
// plain objects, Maps and Sets) is stored as an envelope in which each URL is replaced by what the file holds: its
// name and the key of its bytes, stored as a Buffer value of their own — under the digest an equal Buffer has, so
// equal files and buffers share one copy of the bytes — or, for a directory, its name and entries. Reading the
// envelope back materialises each file in a fresh private temporary folder, under its own name, and puts its URL
// where the stored one was — except for tools that read it to show it (`readingForDisplay`): they get a ShownFile
// (name, size, files) in its place, and nothing is read of the bytes or written anywhere.
//
//   StoredFile { name, body: <key of the bytes> | null, size, entries: StoredFile[] | null, slash }
//   FileValue  { value: <the value with StoredFiles in place of the URLs> }
//
// Both classes are registered (classes.ts) under 'fleche.StoredFile' and 'fleche.FileValue', and shared through
// globalThis so that the ESM and CommonJS copies of the package register one class each. A user value cannot
// pose as an envelope without registering a class under those names. Faithful: names, bytes and the tree. Not
// kept: permissions, times, owners, symbolic links (stored as what they point to), and where the file was.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { workerThreads } from '../builtins.js';
import { isReadingForDisplay, pushContents, registerClass, walkObjects } from '../classes.js';
import { CorruptEntry, KeyError, SaveError } from '../errors.js';
import { warn } from '../log.js';
import { bufferDigest, FileUnreadable, isFileUrl, readFileBytes, readFileNode, type FileLeaf, type FileNode, type ReadBodies } from '../fileDigest.js';
import { beforeShutdown } from '../shutdown.js';
import type { ValueStorage } from '../storage/base.js';

/** A file or directory in a stored value. @internal */
interface StoredFileShape {
	readonly name: string;
	readonly body: string | null;
	readonly size: number;
	readonly entries: StoredFileShape[] | null;
	/** The URL ended with `/` (a directory written as a base for `new URL(name, dir)`). */
	readonly slash: boolean;
}

interface Classes {
	readonly StoredFile: new (name: string, body: string | null, size: number, entries: StoredFileShape[] | null, slash: boolean) => StoredFileShape;
	readonly FileValue: new (value: unknown) => { readonly value: unknown };
}

const classesKey = Symbol.for('fleche.fileValueClasses');

function classes(): Classes {
	const g = globalThis as { [classesKey]?: Classes };
	if (g[classesKey] !== undefined) return g[classesKey];
	const made: Classes = {
		StoredFile: class StoredFile implements StoredFileShape {
			constructor(
				readonly name: string,
				readonly body: string | null,
				readonly size: number,
				readonly entries: StoredFileShape[] | null,
				readonly slash: boolean,
			) {}
		},
		FileValue: class FileValue {
			constructor(readonly value: unknown) {}
		},
	};
	registerClass(made.StoredFile, { name: 'fleche.StoredFile' });
	registerClass(made.FileValue, { name: 'fleche.FileValue' });
	return (g[classesKey] = made);
}

const { StoredFile, FileValue } = classes();

/** Largest body a value may hold: a value file holds at most 2 GiB, header included. */
const MAX_BODY = 2 ** 31 - 1 - 4096;

const getPrototypeOf = Object.getPrototypeOf as (o: object) => object | null;

/** Whether a file URL is reachable from `value` (through arrays, Maps, Sets and any object's own enumerable values). */
function holdsFile(value: unknown): boolean {
	return walkObjects(value, (v, todo) => {
		if (v instanceof URL) return v.protocol === 'file:';
		pushContents(v, todo);
		return false;
	});
}

/** What packing a value produced: the envelope to store, and the keys of the file bodies it refers to (with sizes). */
export interface Packed {
	readonly envelope: unknown;
	readonly bodies: Readonly<Record<string, number>>;
}

/**
 * The value to store in place of `value` when it holds file URLs, having stored their bytes in `values`; `undefined`
 * when it holds none (store it as it is).
 * @throws SaveError when a file cannot be read or stored (too big, changed meanwhile, or a storage that cannot hold
 *   bytes), or a file URL sits inside something other than an array, plain object, Map or Set.
 */
export function packFiles(value: unknown, values: ValueStorage): Packed | undefined {
	// A primitive holds no file: the common case, answered before any walk is set up.
	if (typeof value !== 'object' || value === null || !holdsFile(value)) return undefined;
	const bodies: Record<string, number> = {};
	const copies = new Map<object, unknown>();
	// A file that has to be hashed (new, changed, or modified a moment ago) is stored from the very bytes hashed, as
	// soon as it is read: one read and one hash, and one file's bytes in memory at a time.
	const written = new Set<string>();
	const read: ReadBodies = {
		upTo: MAX_BODY,
		body(leaf, body) {
			const key = bufferDigest(leaf.size, leaf.bytes);
			if (written.has(key)) return;
			putBytes(values, key, leaf, () => body);
			written.add(key);
		},
	};
	const store = (n: FileNode, slash: boolean): StoredFileShape => {
		if (n.kind === 'dir') {
			return new StoredFile(
				n.name,
				null,
				0,
				n.entries.map((e) => store(e, false)),
				slash,
			);
		}
		const key = bufferDigest(n.size, n.bytes);
		bodies[key] = n.size;
		if (!written.has(key)) putBytes(values, key, n, () => bytesOf(n));
		return new StoredFile(n.name, key, n.size, null, false);
	};
	const walk = (v: unknown, at: string): unknown => {
		if (typeof v !== 'object' || v === null) return v;
		const done = copies.get(v);
		if (done !== undefined) return done;
		if (isFileUrl(v)) {
			let n: FileNode;
			try {
				n = readFileNode(v, read);
			} catch (err) {
				if (!(err instanceof FileUnreadable)) throw err;
				throw new SaveError(`Cannot store the file URL at ${at}: ${err.message}`, { cause: err });
			}
			if (n.name === '') throw new SaveError(`Cannot store the file URL at ${at}: ${v.href} has no name to give a copy`);
			const stored = store(n, v.pathname.endsWith('/'));
			copies.set(v, stored);
			return stored;
		}
		// Containers are copied whole (one pass over the value, which holds a file somewhere); other objects are kept
		// unless they hold one, which cannot be stored by content there.
		const proto = getPrototypeOf(v);
		if (Array.isArray(v) && proto === Array.prototype) {
			const out: unknown[] = [];
			copies.set(v, out);
			for (let i = 0; i < v.length; i++) out.push(walk(v[i], `${at}[${i}]`));
			return out;
		}
		if (proto === Map.prototype) {
			const out = new Map<unknown, unknown>();
			copies.set(v, out);
			let i = 0;
			for (const [k, x] of v as Map<unknown, unknown>) {
				out.set(walk(k, `${at}.keys()[${i}]`), walk(x, `${at}.values()[${i}]`));
				i++;
			}
			return out;
		}
		if (proto === Set.prototype) {
			const out = new Set<unknown>();
			copies.set(v, out);
			let i = 0;
			for (const x of v as Set<unknown>) out.add(walk(x, `${at}.values()[${i++}]`));
			return out;
		}
		if (proto === Object.prototype || proto === null) {
			const out: Record<string, unknown> = proto === null ? (Object.create(null) as Record<string, unknown>) : {};
			copies.set(v, out);
			for (const k of Object.keys(v)) out[k] = walk((v as Record<string, unknown>)[k], `${at}.${k}`);
			return out;
		}
		if (!holdsFile(v)) return v;
		throw new SaveError(
			`Cannot store the file URL inside the ${proto?.constructor?.name ?? 'object'} at ${at}: file values are stored by ` +
				'content in arrays, plain objects, Maps and Sets only',
		);
	};
	return { envelope: new FileValue(walk(value, 'value')), bodies };
}

/** Stores the bytes of `leaf` under `key` unless the storage holds them already (then they are kept from gc). */
function putBytes(values: ValueStorage, key: string, leaf: FileLeaf, bytes: () => Buffer): void {
	if (values.contains(key)) {
		values.refresh?.(key);
		return;
	}
	if (leaf.size > MAX_BODY) throw new SaveError(`Cannot store ${leaf.path}: ${leaf.size} bytes, more than the 2 GiB a stored value may hold`);
	const body = bytes();
	try {
		values.put(key, body);
	} catch (err) {
		throw new SaveError(
			`This value storage cannot hold file bodies, so ${leaf.path} is not stored (a file value is stored by its bytes, never ` +
				`by its location; use a storage that holds Buffers, such as a file store with the 'v8' serializer): ${(err as Error).message}`,
			{ cause: err },
		);
	}
}

/** The bytes of a file the stat cache vouched for, checked to be those it digested. */
function bytesOf(leaf: FileLeaf): Buffer {
	try {
		return readFileBytes(leaf);
	} catch (err) {
		if (!(err instanceof FileUnreadable)) throw err;
		throw new SaveError(`Cannot store ${leaf.path}: ${err.message}`, { cause: err });
	}
}

/** The process's private folder of materialised files, made on the first hit that needs it. */
let privateRoot: string | undefined;

function freshFolder(): string {
	if (privateRoot === undefined) {
		const root = mkdtempSync(join(tmpdir(), 'fleche-files-'));
		privateRoot = root;
		// Only the main thread removes it: a worker's hit may hand its URLs to the main thread.
		if (workerThreads().isMainThread) beforeShutdown(90, () => rmSync(root, { recursive: true, force: true }));
	}
	return mkdtempSync(join(privateRoot, 'hit-'));
}

/**
 * `stored` with each stored file materialised under a fresh private temporary folder and replaced by its URL; any
 * other value is returned as it is. While tools read values to show them (`readingForDisplay`), each stored file is
 * replaced by a {@link ShownFile} instead and nothing is written anywhere. A missing or malformed body is a
 * `KeyError` (a miss), said as damage.
 */
export function unpackFiles(stored: unknown, values: ValueStorage, key: string): unknown {
	if (!(stored instanceof FileValue)) return stored;
	try {
		return rebuild(stored, isReadingForDisplay() ? (f) => shown(f, key) : (f) => materialised(f, values, key));
	} catch (err) {
		if (!CorruptEntry.is(err)) throw err;
		const message = `Corrupt file value ${key}: ${err.message}; treated as a miss (a recompute replaces it)`;
		warn('FLECHE_CORRUPT_ENTRY', message, { cause: err });
		throw new KeyError(key, message, { cause: err });
	}
}

/** How tools show a stored file or directory: what it is, without its bytes or a copy of it anywhere. */
export interface ShownFile {
	readonly kind: 'file' | 'directory';
	/** Its name (a directory's without a trailing `/`). */
	readonly name: string;
	/** Bytes: the file's, or those of every file in the directory's tree. */
	readonly size: number;
	/** Files in the directory's tree, recursively (a directory only). */
	readonly files?: number;
}

const inspectCustom = Symbol.for('nodejs.util.inspect.custom');

/** `53 B`, `1.5 KiB`, `2.0 GiB`. */
function bytesText(n: number): string {
	const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let unit = 0;
	let value = n;
	while (value >= 1024 && unit < units.length - 1) {
		value /= 1024;
		unit++;
	}
	return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * A {@link ShownFile}: plain own fields (what `--json`, `JSON.stringify` and a structured clone to the editor carry)
 * and `data.txt (53 B)` or `out/ (3 files, 120 B)` for `util.inspect` (what `fleche ls` and `show` print).
 */
class FileShown implements ShownFile {
	readonly kind: 'file' | 'directory';
	readonly name: string;
	readonly size: number;
	// Declared only: a file has no `files` field at all (not one set to undefined, which --json would print as null).
	declare readonly files?: number;
	constructor(name: string, size: number, files: number | undefined) {
		this.kind = files === undefined ? 'file' : 'directory';
		this.name = name;
		this.size = size;
		if (files !== undefined) this.files = files;
	}
	[inspectCustom](): string {
		if (this.files === undefined) return `${this.name} (${bytesText(this.size)})`;
		return `${this.name}/ (${this.files} file${this.files === 1 ? '' : 's'}, ${bytesText(this.size)})`;
	}
}

/** A stored file as read from a store (untrusted): its name must be one a folder can hold, its size a byte count. */
function checked(f: unknown, key: string): StoredFileShape {
	if (!(f instanceof StoredFile)) throw new CorruptEntry(key, 'a stored directory holds something else than files');
	if (typeof f.name !== 'string' || f.name === '' || f.name === '.' || f.name === '..' || /[/\\\0]/.test(f.name)) {
		throw new CorruptEntry(key, `a stored file has an invalid name ${JSON.stringify(f.name)}`);
	}
	if (f.body === null) {
		if (!Array.isArray(f.entries)) throw new CorruptEntry(key, `the stored directory ${f.name} has no entries`);
	} else if (typeof f.body !== 'string' || !Number.isSafeInteger(f.size) || f.size < 0) {
		throw new CorruptEntry(key, `the stored file ${f.name} has no valid body`);
	}
	return f;
}

function shown(top: StoredFileShape, key: string): ShownFile {
	let files = 0;
	let size = 0;
	const count = (f: StoredFileShape): void => {
		if (f.body !== null) {
			files++;
			size += f.size;
		} else for (const e of f.entries!) count(checked(e, key));
	};
	count(checked(top, key));
	return new FileShown(top.name, size, top.body === null ? files : undefined);
}

function materialised(top: StoredFileShape, values: ValueStorage, key: string): URL {
	const write = (f: StoredFileShape, path: string): void => {
		if (f.body === null) {
			mkdirSync(path);
			for (const e of f.entries!) {
				const c = checked(e, key);
				write(c, join(path, c.name));
			}
			return;
		}
		let body: unknown;
		try {
			body = values.get(f.body);
		} catch (err) {
			if (KeyError.is(err)) throw new CorruptEntry(key, `the bytes of the stored file ${f.name} are gone: ${err.message}`, { cause: err });
			throw err;
		}
		if (!(body instanceof Uint8Array) || body.byteLength !== f.size) {
			throw new CorruptEntry(key, `the bytes of the stored file ${f.name} are not the ${f.size} bytes it holds`);
		}
		writeFileSync(path, body);
	};
	checked(top, key);
	const path = join(freshFolder(), top.name);
	write(top, path);
	const url = pathToFileURL(path);
	if (top.slash) url.pathname += '/';
	return url;
}

/** The stored value with each stored file replaced by what `leaf` makes of it (each once, however often it is reached). */
function rebuild(stored: InstanceType<Classes['FileValue']>, leaf: (f: StoredFileShape) => unknown): unknown {
	const copies = new Map<object, unknown>();
	const walk = (v: unknown): unknown => {
		if (typeof v !== 'object' || v === null) return v;
		const done = copies.get(v);
		if (done !== undefined) return done;
		if (v instanceof StoredFile) {
			const out = leaf(v);
			copies.set(v, out);
			return out;
		}
		if (Array.isArray(v)) {
			copies.set(v, v);
			for (let i = 0; i < v.length; i++) v[i] = walk(v[i]);
			return v;
		}
		if (v instanceof Map) {
			copies.set(v, v);
			const entries = [...v];
			v.clear();
			for (const [k, x] of entries) v.set(walk(k), walk(x));
			return v;
		}
		if (v instanceof Set) {
			copies.set(v, v);
			const items = [...v];
			v.clear();
			for (const x of items) v.add(walk(x));
			return v;
		}
		const proto = getPrototypeOf(v);
		if (proto !== Object.prototype && proto !== null) return v; // packFiles leaves no StoredFile elsewhere
		copies.set(v, v);
		for (const k of Object.keys(v)) (v as Record<string, unknown>)[k] = walk((v as Record<string, unknown>)[k]);
		return v;
	};
	return walk(stored.value);
}
