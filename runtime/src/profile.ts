// docs/behaviour.md §1.3, §1.5, §10: what identifies a wrapped function — its name, module, parameters and code digest.
// JavaScript has no runtime signature, so parameters are read from the function's source with a real parser.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire, findSourceMap, SourceMap } from 'node:module';
import type { Node as AcornNode, parse as Parse, parseExpressionAt as ParseExpressionAt } from 'acorn';
import { compiledFrom, moduleOf as moduleOfFile, packageRootOf, sourceMapOf, type PackageJsonProbe } from './identity.js';

type Acorn = { parseExpressionAt: typeof ParseExpressionAt; parse: typeof Parse };

/**
 * acorn, loaded on the first function whose parameters are read rather than when `fleche` is imported: its 230 kB
 * were a fifth of the import. The ESM build requires acorn's CommonJS build from its own location (acorn keeps no
 * state, so which of its builds answers does not matter); the CommonJS build, where `import.meta.url` is undefined,
 * calls `require('acorn')` itself, which a bundler (the extension's) still sees and bundles.
 */
function loadAcorn(): Acorn {
	const url = import.meta.url as string | undefined;
	// eslint-disable-next-line @typescript-eslint/no-require-imports -- the CommonJS build's lazy load, see above
	return (url !== undefined ? createRequire(url)('acorn') : require('acorn')) as Acorn;
}

let acorn: Acorn | undefined;
function parseExpressionAt(...args: Parameters<typeof ParseExpressionAt>): ReturnType<typeof ParseExpressionAt> {
	acorn ??= loadAcorn();
	return acorn.parseExpressionAt(...args);
}

/** @internal acorn's `parse`, loaded on first use like `parseExpressionAt` (a module's code, for `hashCode: 'deep'`). */
export function parseProgram(...args: Parameters<typeof Parse>): ReturnType<typeof Parse> {
	acorn ??= loadAcorn();
	return acorn.parse(...args);
}

/** One declared parameter of a wrapped function. */
export interface Param {
	readonly name: string;
	/** `...rest`: collects every remaining argument into one array-valued argument. */
	readonly rest: boolean;
	/** A literal default (`b = 10`), applied when the argument is `undefined`, so `f(1)` and `f(1, 10)` share a key. */
	readonly default?: { readonly value: unknown };
}

type AnyNode = AcornNode & Record<string, unknown>;

const noDefault = Symbol('no literal default');

function literalValue(node: AnyNode): unknown {
	switch (node.type) {
		case 'Literal':
			return node.regex ? noDefault : 'bigint' in node && node.bigint !== undefined ? BigInt(node.bigint as string) : node.value;
		case 'Identifier':
			return node.name === 'undefined' ? undefined : noDefault;
		case 'UnaryExpression': {
			const arg = literalValue(node.argument as AnyNode);
			if (node.operator === '-' && (typeof arg === 'number' || typeof arg === 'bigint')) return -arg;
			return noDefault;
		}
		case 'TemplateLiteral': {
			const quasis = node.quasis as AnyNode[];
			if ((node.expressions as unknown[]).length > 0 || quasis.length !== 1) return noDefault;
			return (quasis[0]!.value as { cooked: string }).cooked;
		}
		case 'ArrayExpression': {
			const out: unknown[] = [];
			for (const el of node.elements as (AnyNode | null)[]) {
				if (el === null || el.type === 'SpreadElement') return noDefault;
				const v = literalValue(el);
				if (v === noDefault) return noDefault;
				out.push(v);
			}
			return out;
		}
		case 'ObjectExpression': {
			const out: Record<string, unknown> = {};
			for (const prop of node.properties as AnyNode[]) {
				if (prop.type !== 'Property' || prop.computed || prop.kind !== 'init' || prop.method) return noDefault;
				const key = prop.key as AnyNode;
				const name = key.type === 'Identifier' ? (key.name as string) : String(key.value);
				const v = literalValue(prop.value as AnyNode);
				if (v === noDefault) return noDefault;
				out[name] = v;
			}
			return out;
		}
		default:
			return noDefault;
	}
}

function functionNode(source: string): AnyNode | undefined {
	// Function and arrow sources parse as expressions; method shorthand (`m(a) {}`, `async m(a) {}`) only inside an
	// object literal. Class methods and getters come out as method shorthand too.
	for (const [text, unwrap] of [
		[`(${source})`, (n: AnyNode) => n],
		[`({${source}})`, (n: AnyNode) => ((n.properties as AnyNode[])[0]?.value as AnyNode | undefined) ?? n],
	] as const) {
		// Module goal first: bodies of ES module functions may use `import.meta`; script goal second, for sloppy-mode
		// sources that use `await` or `yield` as plain identifiers.
		for (const sourceType of ['module', 'script'] as const) {
			try {
				const node = unwrap(parseExpressionAt(text, 0, { ecmaVersion: 'latest', sourceType }) as AnyNode);
				if (node.type === 'FunctionExpression' || node.type === 'ArrowFunctionExpression') return node;
			} catch {
				// try the next goal or shape
			}
		}
	}
	return undefined;
}

/**
 * Reads parameter names from a function's source: `function f(a, b = 2, ...rest)` → `a`, `b` (default 2), `rest`.
 * Destructured parameters are named by position (`arg0`). Returns `undefined` for native or bound functions.
 * @internal
 */
export function readParams(fn: (...args: never[]) => unknown): Param[] | undefined {
	let source: string;
	try {
		source = Function.prototype.toString.call(fn);
	} catch {
		return undefined;
	}
	if (source.includes('[native code]')) return undefined;
	const node = functionNode(source);
	if (!node) return undefined;
	return (node.params as AnyNode[]).map((p, i): Param => {
		if (p.type === 'Identifier') return { name: p.name as string, rest: false };
		if (p.type === 'RestElement') {
			const arg = p.argument as AnyNode;
			return { name: arg.type === 'Identifier' ? (arg.name as string) : `arg${i}`, rest: true };
		}
		if (p.type === 'AssignmentPattern') {
			const left = p.left as AnyNode;
			const name = left.type === 'Identifier' ? (left.name as string) : `arg${i}`;
			const v = literalValue(p.right as AnyNode);
			return v === noDefault ? { name, rest: false } : { name, rest: false, default: { value: v } };
		}
		return { name: `arg${i}`, rest: false };
	});
}

/** Where `fleche()` was called from, mapped through source maps when the process has them. */
export interface CallSite {
	/** The source file (source-mapped when possible): what identity and the editor use. */
	readonly file: string;
	/** The file the process actually loaded (compiled JavaScript): what a worker or rerun imports. */
	readonly loadedFile: string;
	/** 1-based. */
	readonly line: number;
	/** 1-based. */
	readonly column: number;
	/** The position in `loadedFile` (1-based), where `line` and `column` are in a source map's original. */
	readonly loaded?: { readonly line: number; readonly column: number };
}

function toPath(file: string): string {
	return file.startsWith('file:') ? fileURLToPath(file) : file;
}

function readText(file: string): string | undefined {
	try {
		return readFileSync(file, 'utf8');
	} catch {
		return undefined;
	}
}

/** Source maps read from disk, by compiled file (`null`: it names none): read once per file and process. */
const diskMaps = new Map<string, SourceMap | null>();

/**
 * The source map a compiled file names on disk (identity.ts `sourceMapOf`), for when Node registered none: without
 * `--enable-source-maps` the identity must still be the `.ts` file's (docs/behaviour.md §15.1).
 */
function diskSourceMap(file: string): SourceMap | undefined {
	let map = diskMaps.get(file);
	if (map === undefined) {
		const found = sourceMapOf(file, readText);
		try {
			map = found === undefined ? null : new SourceMap(found.payload as unknown as ConstructorParameters<typeof SourceMap>[0]);
		} catch {
			map = null; // mappings Node cannot read: no map
		}
		diskMaps.set(file, map);
	}
	return map ?? undefined;
}

/**
 * The source files a compiled file was made from, by the source map it names on disk (identity.ts `compiledFrom`);
 * empty when it names none. @internal
 */
export function compiledSources(file: string): string[] {
	return compiledFrom(file, readText);
}

/** An original source as a map names it (a `file:` URL or an absolute path), as a path; else `undefined`. */
function sourceFile(source: string): string | undefined {
	if (source.startsWith('file:')) return fileURLToPath(source);
	return isAbsolute(source) ? source : undefined;
}

/**
 * The first stack frame above `skip`. V8's structured call sites are raw (compiled) positions, so the original
 * position is used when the file has a source map: the one Node registered (`--enable-source-maps`, tsx, ts-node),
 * else the one the file names on disk, so that the identity is the `.ts` file's however the program was started and
 * matches what the editor sees.
 * @internal
 */
export function callerSite(skip: (...args: never[]) => unknown): CallSite | undefined {
	// eslint-disable-next-line @typescript-eslint/unbound-method -- saved to be put back, never called here
	const original = Error.prepareStackTrace;
	const limit = Error.stackTraceLimit;
	let sites: NodeJS.CallSite[] = [];
	try {
		Error.stackTraceLimit = 3;
		Error.prepareStackTrace = (_err, cs) => cs;
		const holder: { stack?: NodeJS.CallSite[] } = {};
		Error.captureStackTrace(holder, skip);
		sites = holder.stack ?? [];
	} finally {
		Error.prepareStackTrace = original;
		Error.stackTraceLimit = limit;
	}
	for (const site of sites) {
		const raw = site.getFileName() ?? site.getScriptNameOrSourceURL();
		if (!raw || raw.startsWith('node:')) continue;
		const line = site.getLineNumber() ?? 1;
		const column = site.getColumnNumber() ?? 1;
		const file = toPath(raw);
		try {
			const map = findSourceMap(raw) ?? findSourceMap(file) ?? diskSourceMap(file);
			const entry: { originalSource?: string; originalLine?: number; originalColumn?: number } | undefined = map?.findEntry(line - 1, column - 1);
			const source = entry?.originalSource === undefined ? undefined : sourceFile(entry.originalSource);
			if (source !== undefined && entry?.originalLine !== undefined) {
				return { file: source, loadedFile: file, line: entry.originalLine + 1, column: (entry.originalColumn ?? 0) + 1, loaded: { line, column } };
			}
		} catch {
			// no usable source map: fall back to the raw position
		}
		return { file, loadedFile: file, line, column };
	}
	return undefined;
}

const probes = new Map<string, ReturnType<PackageJsonProbe>>();

/** The disk's answer for the identity rule: is there a `package.json` in `dir`, and does it have a `name`. Cached. */
const probeDisk: PackageJsonProbe = (dir) => {
	let kind = probes.get(dir);
	if (kind === undefined) {
		const candidate = join(dir, 'package.json');
		if (!existsSync(candidate)) kind = 'none';
		else {
			try {
				const parsed = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown };
				kind = typeof parsed.name === 'string' && parsed.name.length > 0 ? 'named' : 'unnamed';
			} catch {
				kind = 'unnamed';
			}
		}
		probes.set(dir, kind);
	}
	return kind;
};

/**
 * The folder of the nearest `package.json` that has a `name`, walking up from `dir` (identity.ts `packageRootOf`).
 * @internal
 */
export function packageRoot(dir: string): string | undefined {
	return packageRootOf(dir, probeDisk);
}

/**
 * The `version` of the nearest named `package.json` above `file`, or `undefined` when there is none or it has no
 * string version. @internal
 */
export function packageVersion(file: string): string | undefined {
	const root = packageRoot(dirname(file));
	if (root === undefined) return undefined;
	try {
		const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown }).version;
		return typeof version === 'string' && version !== '' ? version : undefined;
	} catch {
		return undefined;
	}
}

/**
 * A function's module: its file relative to its package root, with `/` separators (identity.ts `moduleOf`).
 * @internal
 */
export function moduleOf(file: string): string {
	return moduleOfFile(file, probeDisk);
}

const sources = new Map<string, string | undefined>();

function readSource(file: string): string | undefined {
	if (!sources.has(file)) {
		try {
			sources.set(file, readFileSync(file, 'utf8'));
		} catch {
			sources.set(file, undefined);
		}
	}
	return sources.get(file);
}

// A TypeScript type annotation up to the `=` of the initialiser: any text but `;` and `=`, except inside `=>`.
const annotation = String.raw`:(?:=>|[^=;])+`;

const assignment = [
	// export const add = fleche(   /   let add: Fn = fleche(   /   const add: (n: number) => number = fleche(
	new RegExp(String.raw`(?:^|[\s;{(])(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?:${annotation})?=\s*(?:[\w$.]+\s*\.\s*)?$`),
	// exports.add = (0, fleche_1.fleche)(   /   module.exports.add = …
	/(?:^|[\s;{(])(?:module\.)?exports\.([A-Za-z_$][\w$]*)\s*=\s*(?:\(0,\s*[\w$.]+\)|[\w$.]+\s*\.\s*)?$/,
	// static add: (n: number) => number = fleche(   (a class field with a type annotation, on one line: an
	// annotation allowed to span lines would reach back into an earlier `key: value` without a semicolon)
	/(?:^|\n)[ \t]*(?:(?:static|readonly|public|private|protected|declare|override|accessor)\s+)*([A-Za-z_$#][\w$]*)[ \t]*[?!]?[ \t]*:(?:=>|[^=;\n])+=\s*$/,
	// obj.add = fleche(   /   this.add = fleche(   /   add = fleche(
	/(?:^|[\s;{(.])([A-Za-z_$][\w$]*)\s*=\s*$/,
	// { add: fleche(   /   static add = fleche( in a class body
	/(?:^|[\s,{])([A-Za-z_$][\w$]*)\s*[:=]\s*$/,
];

/**
 * The name of the variable a call at `site` is assigned to: `export const add = fleche((a, b) => a + b)` → `add`.
 * Reads the text before the call, which may span lines (`const add =\n  fleche(…)`).
 * @internal
 */
export function assignedName(site: CallSite): string | undefined {
	const text = readSource(site.file);
	if (text !== undefined) return assignedAt(text, site.line, site.column);
	// The original source is not on disk (a package that ships dist/ with maps but not src/): the compiled text.
	const loaded = site.loaded === undefined ? undefined : readSource(site.loadedFile);
	return loaded === undefined ? undefined : assignedAt(loaded, site.loaded!.line, site.loaded!.column);
}

function assignedAt(text: string, atLine: number, column: number): string | undefined {
	let offset = 0;
	for (let line = 1; line < atLine; line++) {
		const next = text.indexOf('\n', offset);
		if (next < 0) return undefined;
		offset = next + 1;
	}
	const before = text.slice(Math.max(0, offset - 400), offset + column - 1);
	// The call site column points at the callee (`fleche` or `(0, fleche_1.fleche)`); drop it.
	const head = before.replace(/(?:\(0,\s*)?[\w$.]*fleche[\w$]*\)?\s*$/, '');
	for (const re of assignment) {
		const m = re.exec(head);
		if (m?.[1] && m[1] !== 'fleche') return m[1];
	}
	return undefined;
}
