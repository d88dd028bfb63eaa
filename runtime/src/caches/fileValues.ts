// docs/behaviour.md §1.2a: file values stored by content. A value that holds `file:` URLs (itself, or inside arrays,
// plain objects, Maps and Sets) is stored as an envelope in which each URL is replaced by what the file holds: its
// name and the key of its bytes, stored as a Buffer value of their own — under the digest an equal Buffer has, so
// equal files and buffers share one copy of the bytes — or, for a directory, its name and entries. Reading the
// envelope back materialises each file in a fresh private temporary folder, under its own name, and puts its URL
// where the stored one was.
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
import { isMainThread } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { pushContents, registerClass, walkObjects } from '../classes.js';
import { CorruptEntry, KeyError, SaveError } from '../errors.js';
import { warn } from '../log.js';
import { bufferDigest, FileUnreadable, isFileUrl, readFileBytes, readFileNode, type FileLeaf, type FileNode } from '../fileDigest.js';
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
	if (!holdsFile(value)) return undefined;
	const bodies: Record<string, number> = {};
	const copies = new Map<object, unknown>();
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
		putBody(values, key, n);
		return new StoredFile(n.name, key, n.size, null, false);
	};
	const walk = (v: unknown, at: string): unknown => {
		if (typeof v !== 'object' || v === null) return v;
		const done = copies.get(v);
		if (done !== undefined) return done;
		if (isFileUrl(v)) {
			let n: FileNode;
			try {
				n = readFileNode(v);
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

function putBody(values: ValueStorage, key: string, leaf: FileLeaf): void {
	if (values.contains(key)) {
		values.refresh?.(key);
		return;
	}
	if (leaf.size > MAX_BODY) throw new SaveError(`Cannot store ${leaf.path}: ${leaf.size} bytes, more than the 2 GiB a stored value may hold`);
	let body: Buffer;
	try {
		body = readFileBytes(leaf);
	} catch (err) {
		if (!(err instanceof FileUnreadable)) throw err;
		throw new SaveError(`Cannot store ${leaf.path}: ${err.message}`, { cause: err });
	}
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

/** The process's private folder of materialised files, made on the first hit that needs it. */
let privateRoot: string | undefined;

function freshFolder(): string {
	if (privateRoot === undefined) {
		const root = mkdtempSync(join(tmpdir(), 'fleche-files-'));
		privateRoot = root;
		// Only the main thread removes it: a worker's hit may hand its URLs to the main thread.
		if (isMainThread) beforeShutdown(90, () => rmSync(root, { recursive: true, force: true }));
	}
	return mkdtempSync(join(privateRoot, 'hit-'));
}

/**
 * `stored` with each stored file materialised under a fresh private temporary folder and replaced by its URL; any
 * other value is returned as it is. A missing or malformed body is a `KeyError` (a miss), said as damage.
 */
export function unpackFiles(stored: unknown, values: ValueStorage, key: string): unknown {
	if (!(stored instanceof FileValue)) return stored;
	try {
		return materialise(stored, values, key);
	} catch (err) {
		if (!CorruptEntry.is(err)) throw err;
		const message = `Corrupt file value ${key}: ${err.message}; treated as a miss (a recompute replaces it)`;
		warn('FLECHE_CORRUPT_ENTRY', message, { cause: err });
		throw new KeyError(key, message, { cause: err });
	}
}

function materialise(stored: InstanceType<Classes['FileValue']>, values: ValueStorage, key: string): unknown {
	const copies = new Map<object, unknown>();
	const write = (f: StoredFileShape, path: string): void => {
		if (typeof f.name !== 'string' || f.name === '' || f.name === '.' || f.name === '..' || /[/\\\0]/.test(f.name)) {
			throw new CorruptEntry(key, `a stored file has an invalid name ${JSON.stringify(f.name)}`);
		}
		if (f.body === null) {
			if (!Array.isArray(f.entries)) throw new CorruptEntry(key, `the stored directory ${f.name} has no entries`);
			mkdirSync(path);
			for (const e of f.entries) {
				if (!(e instanceof StoredFile)) throw new CorruptEntry(key, `the stored directory ${f.name} holds something else`);
				write(e, join(path, e.name));
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
	const walk = (v: unknown): unknown => {
		if (typeof v !== 'object' || v === null) return v;
		const done = copies.get(v);
		if (done !== undefined) return done;
		if (v instanceof StoredFile) {
			const path = join(freshFolder(), v.name);
			write(v, path);
			const url = pathToFileURL(path);
			if (v.slash) url.pathname += '/';
			copies.set(v, url);
			return url;
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
