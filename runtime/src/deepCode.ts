// docs/behaviour.md §1.3 (`hashCode: 'deep'`): a function keyed by the code it runs — its module, every module of the
// project that module imports, transitively, and the versions of the packages they import.
//
// - Each file is digested by what its code means, not by its bytes: TypeScript and JSX are transpiled with esbuild
//   (types, comments and layout gone), then the program is parsed with acorn and its syntax tree digested without
//   positions, comments or literal spellings. A comment or formatting edit keeps the digest; any change to the code
//   changes it. JSON is digested as parsed; other files by their bytes.
// - Imports are read from that syntax tree (`import`/`export … from`, `import('x')` with a literal, `require('x')`),
//   and resolved the way Node and TypeScript do: relative paths (with `./a.js` naming `./a.ts`, extensions and
//   `index` files tried), `#subpath` imports through package.json "imports" (a target not built yet found as its
//   TypeScript source), bare names first through the nearest tsconfig.json's `paths` and `baseUrl` (tsconfigPaths.ts),
//   then through the `node_modules` folders Node would search. A bare name is a package: its `name@version` counts, its code is not read. A
//   specifier that resolves to nothing is recorded as missing (it counts as its text).
// - Once per process per entry file. Across processes, each file's digest and imports are remembered by its stamp
//   (size and mtime) in `node_modules/.cache/fleche/code.json` of the package root, when that `node_modules` exists;
//   a file modified within the last moment is not remembered (a later edit in the same clock tick would keep the
//   stamp: git's racy-index rule). A missing, damaged or unwritable file only costs digesting again, silently.
import { hash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Esbuild from 'esbuild';
import { log, warnOnce } from './log.js';
import { packageRoot, parseProgram } from './profile.js';
import { tsconfigCandidates } from './tsconfigPaths.js';

/** The code a function runs, as `hashCode: 'deep'` keys it. */
export interface CodeGraph {
	/** Digest of everything below: what enters the function's identity as its code digest. */
	readonly digest: string;
	/** Project files reached, relative to the entry's package root (`/`-separated), each with its code digest. */
	readonly files: Readonly<Record<string, string>>;
	/** Packages imported from `node_modules`, by name, with their version (`''` when package.json has none). */
	readonly packages: Readonly<Record<string, string>>;
	/** Specifiers that resolved to nothing, as `specifier from file`. */
	readonly missing: readonly string[];
}

/** The scheme of file digests and graph digests: bump it when what a digest covers changes. */
const SCHEME = 'fleche.code/1';
const CACHE_FORMAT = 'fleche.code-cache/1';
/** A file modified this recently may change again within the same mtime tick. */
const RACY_MS = 200;
/** How many hex digits of each file digest a call record keeps (enough to tell which file changed). */
const SHORT = 16;
const ABSENT = '(absent)';

const typescriptLoaders: Readonly<Record<string, Esbuild.Loader>> = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.tsx': 'tsx', '.jsx': 'jsx' };
const javascript = new Set(['.js', '.mjs', '.cjs']);
/** What an import of `./a.js` may name in a TypeScript project (TypeScript's own rule). */
const typescriptTwins: Readonly<Record<string, readonly string[]>> = { '.js': ['.ts', '.tsx'], '.mjs': ['.mts'], '.cjs': ['.cts'], '.jsx': ['.tsx'] };
const tried = ['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.jsx', '.json'];

/** What one file contributes: its digest and the specifiers it imports. */
interface FileCode {
	readonly digest: string;
	readonly imports: readonly string[];
}

interface Remembered extends FileCode {
	readonly size: number;
	readonly mtimeMs: number;
}

type EsbuildApi = { transformSync: typeof Esbuild.transformSync };
let esbuild: EsbuildApi | undefined;

/** esbuild, an optional dependency, loaded on the first TypeScript or JSX file (see profile.ts `loadAcorn` on the two builds). */
function loadEsbuild(file: string): EsbuildApi {
	if (esbuild !== undefined) return esbuild;
	const url = import.meta.url as string | undefined;
	try {
		// eslint-disable-next-line @typescript-eslint/no-require-imports -- the CommonJS build's lazy load
		esbuild = (url !== undefined ? createRequire(url)('esbuild') : require('esbuild')) as EsbuildApi;
	} catch (err) {
		throw new TypeError(
			`fleche(): hashCode: 'deep' reads ${file}, which needs esbuild to transpile (npm install --save-dev esbuild): ${(err as Error).message}`,
			{
				cause: err,
			},
		);
	}
	return esbuild;
}

interface AstNode {
	readonly type: string;
	readonly [key: string]: unknown;
}

function isNode(value: unknown): value is AstNode {
	return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

function stringLiteral(node: unknown): string | undefined {
	if (!isNode(node)) return undefined;
	if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
	if (node.type === 'TemplateLiteral' && (node.expressions as unknown[]).length === 0) {
		const cooked = ((node.quasis as AstNode[])[0]?.value as { cooked?: unknown } | undefined)?.cooked;
		return typeof cooked === 'string' ? cooked : undefined;
	}
	return undefined;
}

/**
 * One walk over a program's syntax tree: its text without what does not change meaning (positions, and how literals
 * were spelt), and the specifiers it imports statically, by `import()` with a literal, or by `require()` with a
 * literal. The text is built as one string and hashed once: a hash update per node costs more than the parse.
 */
function walkProgram(program: AstNode): { text: string; imports: string[] } {
	const imports = new Set<string>();
	let text = '';
	const value = (v: unknown): void => {
		if (isNode(v)) visit(v);
		else if (Array.isArray(v)) {
			text += '[';
			for (const item of v) {
				value(item);
				text += ',';
			}
			text += ']';
		} else if (typeof v === 'bigint') text += `${v}n`;
		else if (typeof v === 'object' && v !== null && !(v instanceof RegExp)) text += JSON.stringify(v);
		else if (typeof v === 'string') text += JSON.stringify(v);
		else text += String(v);
	};
	const visit = (node: AstNode): void => {
		let spec: string | undefined;
		if (node.type === 'ImportDeclaration' || node.type === 'ExportNamedDeclaration' || node.type === 'ExportAllDeclaration') spec = stringLiteral(node.source);
		else if (node.type === 'ImportExpression') spec = stringLiteral(node.source);
		else if (node.type === 'CallExpression') {
			const callee = node.callee as AstNode;
			const args = node.arguments as unknown[];
			if (callee.type === 'Identifier' && callee.name === 'require' && args.length === 1) spec = stringLiteral(args[0]);
		}
		if (spec !== undefined) imports.add(spec);
		text += `(${node.type}`;
		const literal = node.type === 'Literal';
		for (const key in node) {
			if (key === 'type' || key === 'start' || key === 'end' || (literal && key === 'raw')) continue;
			text += ` ${key}:`;
			// A regular expression literal's value is a RegExp (or null); its `regex` field says pattern and flags.
			value(node[key]);
		}
		text += ')';
	};
	visit(program);
	return { text, imports: [...imports] };
}

function parse(code: string): AstNode {
	const options = { ecmaVersion: 'latest', allowHashBang: true } as const;
	try {
		return parseProgram(code, { ...options, sourceType: 'module' }) as unknown as AstNode;
	} catch {
		// Sloppy-mode scripts (CommonJS with `with`, octal literals…) are not valid modules.
		return parseProgram(code, { ...options, sourceType: 'script', allowReturnOutsideFunction: true }) as unknown as AstNode;
	}
}

function sha(text: string | Buffer): string {
	return hash('sha256', text, 'hex');
}

/** Digest and imports of one file, from its bytes. */
function readCode(file: string, bytes: Buffer): FileCode {
	const ext = extname(file);
	if (ext === '.json') {
		try {
			return { digest: sha(`${SCHEME}\njson\n${JSON.stringify(JSON.parse(bytes.toString('utf8')))}`), imports: [] };
		} catch {
			return { digest: sha(Buffer.concat([Buffer.from(`${SCHEME}\nbytes\n`), bytes])), imports: [] };
		}
	}
	const loader = typescriptLoaders[ext];
	if (loader === undefined && !javascript.has(ext)) return { digest: sha(Buffer.concat([Buffer.from(`${SCHEME}\nbytes\n`), bytes])), imports: [] };
	let code = bytes.toString('utf8');
	try {
		if (loader !== undefined) {
			// es2022 lowers what acorn does not parse yet (decorators); the output is only digested, never run.
			code = loadEsbuild(file).transformSync(code, { loader, sourcefile: file, target: 'es2022', legalComments: 'none', logLevel: 'silent' }).code;
		}
		const { text, imports } = walkProgram(parse(code));
		return { digest: sha(`${SCHEME}\ntree\n${text}`), imports };
	} catch (err) {
		if (err instanceof TypeError && err.message.startsWith('fleche():')) throw err;
		warnOnce(
			`deep-parse:${file}`,
			'FLECHE_DEEP_CODE',
			`hashCode 'deep': cannot parse ${file} (${(err as Error).message}); its bytes are digested and its imports not followed`,
		);
		return { digest: sha(Buffer.concat([Buffer.from(`${SCHEME}\nbytes\n`), bytes])), imports: [] };
	}
}

function statFile(path: string): { size: number; mtimeMs: number } | undefined {
	try {
		const st = statSync(path);
		return st.isFile() ? { size: st.size, mtimeMs: st.mtimeMs } : undefined;
	} catch {
		return undefined;
	}
}

function isDirectory(path: string): boolean {
	try {
		return statSync(path).isDirectory();
	} catch {
		return false;
	}
}

/** The file a relative or absolute import names: as written, its TypeScript twin, with an extension, or a folder's index. */
function resolveFile(path: string, depth = 0): string | undefined {
	if (statFile(path) !== undefined) return path;
	const ext = extname(path);
	for (const twin of typescriptTwins[ext] ?? []) {
		const candidate = path.slice(0, -ext.length) + twin;
		if (statFile(candidate) !== undefined) return candidate;
	}
	for (const e of tried) if (statFile(path + e) !== undefined) return path + e;
	if (!isDirectory(path)) return undefined;
	if (depth === 0) {
		try {
			const main = (JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) as { main?: unknown }).main;
			if (typeof main === 'string' && main !== '') {
				const found = resolveFile(resolve(path, main), 1);
				if (found !== undefined) return found;
			}
		} catch {
			// no package.json, or not JSON: the index files
		}
	}
	for (const e of tried) if (statFile(join(path, `index${e}`)) !== undefined) return join(path, `index${e}`);
	return undefined;
}

/** `lodash` of `lodash/fp`, `@scope/name` of `@scope/name/sub`. */
function packageName(spec: string): string {
	const parts = spec.split('/');
	return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function readVersion(packageJson: string): string | undefined {
	try {
		const version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version?: unknown }).version;
		return typeof version === 'string' ? version : '';
	} catch {
		return undefined;
	}
}

/** A file inside `node_modules` belongs to the package of the folder after the last `node_modules`. */
function packageOfPath(file: string): { name: string; version: string } | undefined {
	const parts = file.split(sep);
	const at = parts.lastIndexOf('node_modules');
	if (at < 0 || at + 1 >= parts.length - 1) return undefined;
	const width = parts[at + 1]!.startsWith('@') ? 2 : 1;
	const name = parts.slice(at + 1, at + 1 + width).join('/');
	return { name, version: readVersion([...parts.slice(0, at + 1 + width), 'package.json'].join(sep)) ?? '' };
}

type Resolved = { readonly file: string } | { readonly package: string; readonly version: string } | { readonly builtin: true } | undefined;

/** What `spec`, imported by `from`, names. */
function resolveImport(spec: string, from: string): Resolved {
	if (isBuiltin(spec)) return { builtin: true };
	let path: string | undefined;
	if (spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..') path = resolve(dirname(from), spec);
	else if (spec.startsWith('/')) path = spec;
	else if (spec.startsWith('file:')) {
		try {
			path = fileURLToPath(spec);
		} catch {
			return undefined;
		}
	}
	if (path !== undefined) {
		const file = resolveFile(path);
		if (file === undefined) return undefined;
		return packageOfPath(file) !== undefined ? packageOf(file) : { file };
	}
	const require = createRequire(from);
	if (spec.startsWith('#')) {
		// package.json "imports": Node's own resolver reads the map and its conditions; when the target it names is not
		// there (`./src/conf.js` of a TypeScript source not built), the same target as TypeScript finds it.
		let file: string | undefined;
		try {
			file = require.resolve(spec);
		} catch {
			file = subpathImport(spec, from);
		}
		if (file === undefined) return undefined;
		return packageOfPath(file) !== undefined ? packageOf(file) : { file };
	}
	// tsconfig.json `paths` and `baseUrl` come before node_modules, as TypeScript tries them.
	for (const candidate of tsconfigCandidates(spec, from)) {
		const file = resolveFile(candidate);
		if (file !== undefined) return packageOfPath(file) !== undefined ? packageOf(file) : { file };
	}
	const name = packageName(spec);
	for (const folder of require.resolve.paths(name) ?? []) {
		const version = readVersion(join(folder, name, 'package.json'));
		if (version !== undefined) return { package: name, version };
	}
	return undefined;
}

/** The conditions a target of package.json "imports" is chosen by, as Node chooses it for this process. */
const conditions = new Set(['node', 'import', 'require', 'module-sync', 'default']);

/** The target string of a package.json "imports" or "exports" value: a string, or the first matching condition's. */
function conditionalTarget(value: unknown, depth = 0): string | undefined {
	if (typeof value === 'string') return value;
	if (depth > 8 || typeof value !== 'object' || value === null) return undefined;
	if (Array.isArray(value)) {
		for (const v of value as unknown[]) {
			const t = conditionalTarget(v, depth + 1);
			if (t !== undefined) return t;
		}
		return undefined;
	}
	for (const [key, v] of Object.entries(value)) if (conditions.has(key)) return conditionalTarget(v, depth + 1);
	return undefined;
}

/** `#name` through the nearest package.json "imports" (an exact key, or one `*` pattern), its target found as a source file. */
function subpathImport(spec: string, from: string): string | undefined {
	const root = packageRoot(dirname(from));
	if (root === undefined) return undefined;
	let imports: unknown;
	try {
		imports = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { imports?: unknown }).imports;
	} catch {
		return undefined;
	}
	if (typeof imports !== 'object' || imports === null) return undefined;
	const map = imports as Record<string, unknown>;
	let target = Object.hasOwn(map, spec) ? conditionalTarget(map[spec]) : undefined;
	if (target === undefined) {
		// Node's rule: of the `*` keys that match, the one with the longest part before its `*`.
		let longest = -1;
		for (const key of Object.keys(map)) {
			const star = key.indexOf('*');
			if (star <= longest) continue;
			const [prefix, suffix] = [key.slice(0, star), key.slice(star + 1)];
			if (spec.length < key.length - 1 || !spec.startsWith(prefix) || !spec.endsWith(suffix)) continue;
			const t = conditionalTarget(map[key]);
			if (t === undefined) continue;
			longest = star;
			target = t.replaceAll('*', spec.slice(prefix.length, spec.length - suffix.length));
		}
	}
	return target?.startsWith('./') ? resolveFile(resolve(root, target)) : undefined;
}

function packageOf(file: string): Resolved {
	const p = packageOfPath(file)!;
	return { package: p.name, version: p.version };
}

// ---------------------------------------------------------------------------------------------------------------
// Remembered digests

interface Memory {
	readonly file: string | undefined;
	readonly files: Map<string, Remembered>;
	dirty: boolean;
}

function isRemembered(value: unknown): value is Remembered {
	if (typeof value !== 'object' || value === null) return false;
	const r = value as Record<string, unknown>;
	return (
		typeof r.size === 'number' &&
		typeof r.mtimeMs === 'number' &&
		typeof r.digest === 'string' &&
		/^[0-9a-f]{64}$/.test(r.digest) &&
		Array.isArray(r.imports) &&
		r.imports.every((i) => typeof i === 'string')
	);
}

const memories = new Map<string, Memory>();

/** The remembered digests of a package root: read once per process, shared by every entry file under it. */
function openMemory(root: string): Memory {
	let memory = memories.get(root);
	if (memory === undefined) memories.set(root, (memory = readMemory(root)));
	return memory;
}

let digestersText: string | undefined;

/**
 * What file digests were made with: this scheme, and the versions of acorn and esbuild (read from their package.json
 * files, without loading esbuild). Remembered digests made with others are dropped, so that a key never depends on
 * whether a digest was remembered.
 */
function digesters(): string {
	if (digestersText !== undefined) return digestersText;
	const url = import.meta.url as string | undefined;
	const versionOf = (name: string): string => {
		try {
			const file = url !== undefined ? createRequire(url).resolve(`${name}/package.json`) : require.resolve(`${name}/package.json`);
			return readVersion(file) ?? 'none';
		} catch {
			return 'none';
		}
	};
	return (digestersText = `${SCHEME} acorn@${versionOf('acorn')} esbuild@${versionOf('esbuild')}`);
}

function readMemory(root: string): Memory {
	const modules = join(root, 'node_modules');
	const file = isDirectory(modules) ? join(modules, '.cache', 'fleche', 'code.json') : undefined;
	const files = new Map<string, Remembered>();
	if (file !== undefined) {
		try {
			const saved = JSON.parse(readFileSync(file, 'utf8')) as { format?: unknown; digesters?: unknown; files?: unknown };
			if (saved.format === CACHE_FORMAT && saved.digesters === digesters() && typeof saved.files === 'object' && saved.files !== null) {
				for (const [path, entry] of Object.entries(saved.files)) if (isRemembered(entry)) files.set(path, entry);
			}
		} catch {
			// none yet, or damaged: digested again
		}
	}
	return { file, files, dirty: false };
}

function saveMemory(memory: Memory): void {
	if (memory.file === undefined || !memory.dirty) return;
	const tmp = `${memory.file}.${process.pid}.tmp`;
	try {
		mkdirSync(dirname(memory.file), { recursive: true });
		writeFileSync(tmp, JSON.stringify({ format: CACHE_FORMAT, digesters: digesters(), files: Object.fromEntries(memory.files) }));
		renameSync(tmp, memory.file);
		memory.dirty = false;
	} catch {
		// a read-only project: digested again next time
	}
}

/** One file's code, from memory when its stamp is unchanged, else read (and remembered unless racy). */
function fileCode(file: string, memory: Memory, label: string): FileCode | undefined {
	const stamp = statFile(file);
	if (stamp === undefined) return undefined;
	const known = memory.files.get(file);
	if (known !== undefined && known.size === stamp.size && known.mtimeMs === stamp.mtimeMs) return known;
	let bytes: Buffer;
	try {
		bytes = readFileSync(file);
	} catch {
		return undefined;
	}
	const code = readCode(file, bytes);
	log('debug', 'FLECHE_DEEP_CODE', `hashCode 'deep': digested ${label}`);
	if (Date.now() - stamp.mtimeMs > RACY_MS && bytes.length === stamp.size) {
		memory.files.set(file, { size: stamp.size, mtimeMs: stamp.mtimeMs, ...code });
		memory.dirty = true;
	}
	return code;
}

// ---------------------------------------------------------------------------------------------------------------
// The graph

const graphs = new Map<string, CodeGraph>();

function toPosix(path: string): string {
	return sep === '/' ? path : path.split(sep).join('/');
}

/**
 * The code `entry` (an absolute file) runs: it and the project files it imports, transitively, each digested by
 * what its code means, and the versions of the packages they import. Computed once per process per entry.
 * @throws TypeError when the entry cannot be read, or a TypeScript file needs esbuild and it is not installed.
 * @internal
 */
export function deepCode(entry: string): CodeGraph {
	const known = graphs.get(entry);
	if (known !== undefined) return known;
	const root = packageRoot(dirname(entry)) ?? dirname(entry);
	const memory = openMemory(root);
	const files: Record<string, string> = {};
	const packages: Record<string, string> = {};
	const missing: string[] = [];
	const seen = new Set<string>([entry]);
	const queue = [entry];
	for (let i = 0; i < queue.length; i++) {
		const file = queue[i]!;
		const label = toPosix(relative(root, file));
		const code = fileCode(file, memory, label);
		if (code === undefined) {
			if (file === entry) throw new TypeError(`fleche(): hashCode: 'deep' cannot read the function's module ${entry}`);
			missing.push(label);
			continue;
		}
		files[label] = code.digest;
		for (const spec of code.imports) {
			const found = resolveImport(spec, file);
			if (found === undefined) missing.push(`${spec} from ${label}`);
			else if ('package' in found) packages[found.package] = found.version;
			else if ('file' in found && !seen.has(found.file)) {
				seen.add(found.file);
				queue.push(found.file);
			}
		}
	}
	saveMemory(memory);
	const sorted = <T>(record: Record<string, T>): Record<string, T> =>
		Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
	const body = { files: sorted(files), packages: sorted(packages), missing: [...new Set(missing)].sort() };
	const graph: CodeGraph = { digest: sha(`${SCHEME}\n${JSON.stringify(body)}`), ...body };
	log(
		'debug',
		'FLECHE_DEEP_CODE',
		`hashCode 'deep': ${toPosix(relative(root, entry))} runs ${queue.length} files and ${Object.keys(packages).length} packages`,
	);
	graphs.set(entry, graph);
	return graph;
}

/**
 * What a call record keeps of a code graph (metadata namespace `code`), so that a later `explain` can name the file
 * that changed: each file's digest shortened, the package versions, the missing specifiers. @internal
 */
export function codeMetadata(graph: CodeGraph): { files: Record<string, string>; packages: Record<string, string>; missing: string[] } {
	return {
		files: Object.fromEntries(Object.entries(graph.files).map(([file, d]) => [file, d.slice(0, SHORT)])),
		packages: { ...graph.packages },
		missing: [...graph.missing],
	};
}

/** One way the code a call was keyed with differs from the code now: a project file, or a package's version. */
export interface CodeChange {
	readonly field: 'file' | 'package';
	/** The file (relative to the package root) or package name; a missing specifier is a file `spec from file`. */
	readonly name: string;
	/** `(absent)` when the cached call's code did not have it. */
	readonly cached: string;
	/** `(absent)` when the code now does not have it. */
	readonly now: string;
}

function record(value: unknown): Readonly<Record<string, unknown>> | undefined {
	return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * What changed between the code a call was keyed with (its `code` metadata, {@link codeMetadata}; untrusted, as read
 * from a store) and the code now; `undefined` when the record has no readable `code` metadata. @internal
 */
export function codeChanges(cached: unknown, now: CodeGraph): CodeChange[] | undefined {
	const old = record(cached);
	const oldFiles = record(old?.files);
	const oldPackages = record(old?.packages);
	if (oldFiles === undefined || oldPackages === undefined) return undefined;
	const text = (value: unknown): string => (typeof value === 'string' ? value : ABSENT);
	const out: CodeChange[] = [];
	const compare = (field: CodeChange['field'], before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, string>>, width: number): void => {
		for (const name of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
			const was = text(before[name]);
			const is = after[name] === undefined ? ABSENT : after[name].slice(0, width);
			if (was !== is) out.push({ field, name, cached: was, now: is });
		}
	};
	compare('file', oldFiles, now.files, SHORT);
	compare('package', oldPackages, now.packages, Infinity);
	const oldMissing = Array.isArray(old?.missing) ? (old.missing as unknown[]).filter((m): m is string => typeof m === 'string') : [];
	const missing = (list: readonly string[]) => Object.fromEntries(list.map((m) => [m, 'missing']));
	compare('file', missing(oldMissing), missing(now.missing), Infinity);
	return out;
}
