// docs/behaviour.md §16: where a plain function submitted to a worker pool comes from — its module file and export
// name — so that a worker thread can import it and run it bound to the submitter's cache (Python's BoundWrapper of a
// plain callable, #691, pickled by reference).
//
// JavaScript keeps no module path on a function. V8 does: every function has a `[[FunctionLocation]]` (a script id)
// that the inspector protocol exposes, and the debugger domain maps script ids to URLs. Both are asked through an
// in-process inspector session, whose `post` answers synchronously. The debugger domain is enabled only for the
// moment of the lookup (it lists the scripts loaded so far) and disabled at once, and each function is looked up
// once per process.
//
// The submitter never imports the module to find the export: the module may be the one still evaluating (a script
// that submits its own function from its top-level code), and importing it would wait for itself. The worker, which
// imports the module anyway, finds the export instead: the one named like the function whose source text is the
// function's, else any export with that source (an export under another name).
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { moduleFile } from '../bridge/moduleFile.js';

const thisFile: string = moduleFile(import.meta.url, () => __filename);

/** A plain function as a worker finds it: the file to import, and the export's likely name and source digest. */
export interface Located {
	readonly file: string;
	readonly export: string;
	readonly source: string;
}

interface InspectorSession {
	connect(): void;
	disconnect(): void;
	post(method: string, params: object, callback: (err: Error | null, result: unknown) => void): void;
	on(event: string, listener: (message: { params: { scriptId: string; url: string } }) => void): void;
}

let session: InspectorSession | undefined;
/** Script URLs by id, as the debugger domain lists them while it is enabled for one lookup. */
const scripts = new Map<string, string>();

function post<T>(method: string, params: object = {}): T {
	const answer: { error?: Error | null; result?: unknown } = {};
	session!.post(method, params, (err, res) => {
		answer.error = err;
		answer.result = res;
	});
	if (!('error' in answer)) throw new Error(`the inspector did not answer ${method} at once`);
	if (answer.error) throw answer.error;
	return answer.result as T;
}

const holderKey = Symbol.for('fleche.locate');

/** The URL (or path) of the script that defines `fn`, or `undefined` when V8 cannot tell (a built-in, a bound function). */
function scriptOf(fn: (...args: never[]) => unknown): string | undefined {
	if (session === undefined) {
		// Loaded on first use: most programs never submit a plain function.
		const { Session } = createRequire(thisFile)('node:inspector') as { Session: new () => InspectorSession };
		session = new Session();
		session.connect();
		session.on('Debugger.scriptParsed', (m) => scripts.set(m.params.scriptId, m.params.url));
	}
	const g = globalThis as { [holderKey]?: unknown };
	g[holderKey] = fn;
	let objectId: string | undefined;
	try {
		const evaluated = post<{ result: { objectId?: string } }>('Runtime.evaluate', { expression: `globalThis[Symbol.for('fleche.locate')]` });
		objectId = evaluated.result.objectId;
	} finally {
		delete g[holderKey];
	}
	if (objectId === undefined) return undefined;
	try {
		const props = post<{ internalProperties?: { name: string; value?: { value?: { scriptId?: string } } }[] }>('Runtime.getProperties', {
			objectId,
			ownProperties: true,
		});
		const scriptId = props.internalProperties?.find((p) => p.name === '[[FunctionLocation]]')?.value?.value?.scriptId;
		if (scriptId === undefined) return undefined;
		try {
			post('Debugger.enable');
			post('Debugger.disable');
			return scripts.get(scriptId);
		} finally {
			scripts.clear();
		}
	} finally {
		post('Runtime.releaseObject', { objectId });
	}
}

function toFile(url: string | undefined): string | undefined {
	if (url === undefined || url === '') return undefined;
	if (url.startsWith('file:')) return fileURLToPath(url);
	return isAbsolute(url) ? url : undefined;
}

/** The digest of a function's source text: how a worker recognizes the submitter's function among its module's exports. */
export function sourceDigest(fn: (...args: never[]) => unknown): string {
	let d = sources.get(fn);
	if (d === undefined) sources.set(fn, (d = createHash('sha256').update(Function.prototype.toString.call(fn)).digest('hex')));
	return d;
}

const sources = new WeakMap<object, string>();

/** Every function a module namespace exports (a CommonJS module's `module.exports` is its `default`), by name. */
function* exportedFunctions(ns: Record<string, unknown>): Generator<[string, (...args: never[]) => unknown]> {
	for (const name of Object.keys(ns)) if (typeof ns[name] === 'function') yield [name, ns[name] as () => unknown];
	const cjs = ns['default'];
	if ((typeof cjs === 'object' || typeof cjs === 'function') && cjs !== null) {
		for (const name of Object.keys(cjs)) {
			const v = (cjs as Record<string, unknown>)[name];
			if (typeof v === 'function') yield [name, v as () => unknown];
		}
	}
}

/**
 * The function a module namespace exports that the submitter located (see {@link locate}): the export `name` when
 * its source is `source`, else any export with that source; `undefined` when none (a closure, a local function). @internal
 */
export function findExport(ns: Record<string, unknown>, name: string, source: string): ((...args: never[]) => unknown) | undefined {
	let other: ((...args: never[]) => unknown) | undefined;
	for (const [exported, fn] of exportedFunctions(ns)) {
		if (sourceDigest(fn) !== source) continue;
		if (exported === name) return fn;
		other ??= fn;
	}
	return other;
}

const located = new WeakMap<object, Located>();

/**
 * Where a worker finds `fn`: the file of the module that defines it, its name and the digest of its source.
 * @throws TypeError when `fn` is defined in no file (a built-in, a bound function), or the inspector is unavailable.
 */
export function locate(fn: (...args: never[]) => unknown): Located {
	const known = located.get(fn);
	if (known !== undefined) return known;
	let file: string | undefined;
	try {
		file = toFile(scriptOf(fn));
	} catch (err) {
		throw new TypeError(
			`Cannot tell which module defines ${fn.name || 'this function'} (the inspector is unavailable: ${(err as Error).message}); wrap it with fleche() to send it to a worker`,
			{ cause: err },
		);
	}
	if (file === undefined) {
		throw new TypeError(
			`${fn.name || 'an anonymous function'} is defined in no module file a worker could import (a built-in, an eval, or a bound function): export it from a module to submit it`,
		);
	}
	const found: Located = { file, export: fn.name, source: sourceDigest(fn) };
	located.set(fn, found);
	return found;
}
