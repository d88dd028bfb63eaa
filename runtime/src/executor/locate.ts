// docs/behaviour.md §15: where a plain function submitted to a worker pool comes from — its module file and export
// name — so that a worker thread can import it and run it bound to the submitter's cache (Python's BoundWrapper of a
// plain callable, #691, pickled by reference).
//
// JavaScript keeps no module path on a function. V8 does: every function has a `[[FunctionLocation]]` (a script id)
// that the inspector protocol exposes, and the debugger domain maps script ids to URLs. Both are asked through an
// in-process inspector session, whose `post` answers synchronously. The debugger domain is enabled only for the
// moment of the lookup (it lists the scripts loaded so far) and disabled at once, and each function is looked up
// once per process. The export name is then found by importing that module (already loaded: no code runs) and
// comparing its exports with the function.
import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { moduleFile } from '../bridge/moduleFile.js';

const thisFile: string = moduleFile(import.meta.url, () => __filename);

/** A plain function as a worker finds it: the file to import and the export to call. */
export interface Located {
	readonly file: string;
	readonly export: string;
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

/** The name under which `ns` (a module namespace, or a CommonJS `module.exports` under `default`) exports `fn`. */
export function exportName(ns: Record<string, unknown>, fn: unknown): string | undefined {
	for (const name of Object.keys(ns)) if (ns[name] === fn) return name;
	const cjs = ns['default'];
	if ((typeof cjs === 'object' || typeof cjs === 'function') && cjs !== null) {
		for (const name of Object.keys(cjs)) if ((cjs as Record<string, unknown>)[name] === fn) return name;
	}
	return undefined;
}

/** The export `name` of a module namespace found by {@link exportName}. */
export function exportOf(ns: Record<string, unknown>, name: string): unknown {
	if (Object.prototype.hasOwnProperty.call(ns, name)) return ns[name];
	const cjs = ns['default'];
	return (typeof cjs === 'object' || typeof cjs === 'function') && cjs !== null ? (cjs as Record<string, unknown>)[name] : undefined;
}

const located = new WeakMap<object, Located>();

/**
 * Where a worker finds `fn`: the file of the module that defines it and the name it exports it under.
 * @throws TypeError when `fn` is defined in no file, or its module does not export it (a closure cannot travel).
 */
export async function locate(fn: (...args: never[]) => unknown): Promise<Located> {
	const known = located.get(fn);
	if (known !== undefined) return known;
	let file: string | undefined;
	try {
		file = toFile(scriptOf(fn));
	} catch (err) {
		throw new TypeError(
			`Cannot tell which module defines ${fn.name || 'this function'} (the inspector is unavailable: ${(err as Error).message}); wrap it with fleche() to send it to a worker`,
			{
				cause: err,
			},
		);
	}
	const label = fn.name || 'an anonymous function';
	if (file === undefined) {
		throw new TypeError(
			`${label} is defined in no module file a worker could import (a built-in, an eval, or a bound function): export it from a module to submit it`,
		);
	}
	const ns = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
	const name = exportName(ns, fn);
	if (name === undefined) {
		throw new TypeError(
			`${label} is not exported by ${file}: a worker thread imports a plain function by its export name, so a closure or a local function cannot travel; export it`,
		);
	}
	const found: Located = { file, export: name };
	located.set(fn, found);
	return found;
}
