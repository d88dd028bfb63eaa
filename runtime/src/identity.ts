// The function-identity rule (docs/behaviour.md §1.3, §2.1), in one pure module shared by the runtime (profile.ts,
// wrapper.ts) and the VS Code extension's CodeLens (extension/src/model/flecheSites.ts), exported as
// `fleche/identity`. If the two computed identities differently, the CodeLens would silently show zero counts.
//
// Pure on purpose: no fs, no storage, no side effect at import. What needs the disk (is there a package.json in this
// folder, does it have a name; what does a compiled file's source map say) is injected as a `PackageJsonProbe` or a
// `TextReader`, so the extension can answer from its editor state and the runtime from the file system.
//
// Compiled code (docs/behaviour.md §15.1): a function defined in `dist/math.js`
// compiled from `src/math.ts` has the module `src/math.ts` however the program is started. The runtime maps the call
// site through the source map Node registered (`--enable-source-maps`, tsx, ts-node) or else through the map the file
// names on disk (`sourceMappingURL`, inline or a `.map` file: `sourceMapOf`), so the flags never change a key.
import { fileURLToPath, pathToFileURL } from 'node:url';

/** What a folder's `package.json` says about package roots: absent, present without a `name` (or unreadable), or named. */
export type PackageJsonProbe = (dir: string) => 'none' | 'unnamed' | 'named';

/** A file's text, or `undefined` when it cannot be read: what finding a source map needs of the disk. */
export type TextReader = (file: string) => string | undefined;

/** The name of a class whose declaration has none (`export default class {}` used through an instance, `new (class {})()`). */
export const ANONYMOUS_CLASS = '<anonymous class>';

/**
 * The package root of a folder: the nearest folder at or above `dir` whose `package.json` has a `name`, else the
 * nearest with any `package.json`, else `undefined`. Unnamed ones are skipped first because build tools drop
 * `{"type":"module"}` markers into output folders, and those must not change a function's module. `dir` is absolute
 * and uses `/` or `\`.
 * @example
 * ```ts
 * packageRootOf('/repo/dist/esm', (d) => (d === '/repo' ? 'named' : d === '/repo/dist/esm' ? 'unnamed' : 'none')); // '/repo'
 * ```
 */
export function packageRootOf(dir: string, probe: PackageJsonProbe): string | undefined {
	const at = rootIndex(splitPath(dir), probe, 0);
	return at === undefined ? undefined : at.dir;
}

/**
 * A function's module: its file relative to its package root ({@link packageRootOf}), `/`-separated, so it is the
 * same on every machine and checkout (`src/math.ts`). A file outside any package keeps its whole path.
 * @example
 * ```ts
 * moduleOf('/repo/src/math.ts', (d) => (d === '/repo' ? 'named' : 'none')); // 'src/math.ts'
 * ```
 */
export function moduleOf(file: string, probe: PackageJsonProbe): string {
	const parts = splitPath(file);
	// The file itself is the last part: the walk starts at its folder.
	const at = rootIndex(parts, probe, 1);
	return at === undefined ? parts.parts.join('/') : parts.parts.slice(at.index).join('/');
}

interface SplitPath {
	readonly parts: readonly string[];
	readonly sep: string;
}

function splitPath(path: string): SplitPath {
	return { parts: path.split(/[\\/]/), sep: path.includes('\\') && !path.includes('/') ? '\\' : '/' };
}

/** Walks up from `parts` minus `drop` trailing parts; `index` is how many leading parts make the root folder. */
function rootIndex({ parts, sep }: SplitPath, probe: PackageJsonProbe, drop: number): { index: number; dir: string } | undefined {
	let firstAny: { index: number; dir: string } | undefined;
	for (let n = parts.length - drop; n >= 1; n--) {
		const dir = parts.slice(0, n).join(sep) || sep;
		const kind = probe(dir);
		if (kind === 'none') continue;
		if (kind === 'named') return { index: n, dir };
		firstAny ??= { index: n, dir };
	}
	return firstAny;
}

/**
 * The name a function has of its own, as identity uses it: `fn.name` unless it is empty, `anonymous` (`new
 * Function`) or a bound function's `bound f`, which would name unrelated functions alike.
 */
export function ownFunctionName(name: unknown): string | undefined {
	if (typeof name !== 'string' || name === '' || name === 'anonymous' || name.startsWith('bound ')) return undefined;
	return name;
}

/**
 * The identity name of a `fleche(fn, options)` function: the `name` option, else the function's own name
 * ({@link ownFunctionName}), else the variable or property the call is assigned to (`const add = fleche(…)`).
 * `undefined` means no name can be found: `fleche()` throws, and the editor shows no lens.
 */
export function functionIdentityName(option: string | undefined, own: string | undefined, assigned: string | undefined): string | undefined {
	return option ?? own ?? assigned;
}

/**
 * The identity name of an `@fleche()` method: the `name` option, else `Class.method` (static methods too: the class
 * is the owner). `className` is `undefined` for a class without a name.
 */
export function methodIdentityName(option: string | undefined, className: string | undefined, method: string): string {
	return option ?? `${className || ANONYMOUS_CLASS}.${method}`;
}

/**
 * The identity module: `null` when `hashModule` is false, else the `module` option, else the module of the calling
 * file (`fileModule`, {@link moduleOf}; `null` when the call has no file).
 */
export function identityModule(
	options: { readonly module?: string | null | undefined; readonly hashModule?: boolean | undefined },
	fileModule: string | null,
): string | null {
	if (options.hashModule === false) return null;
	return options.module ?? fileModule;
}

/**
 * One string per function identity (module and name; version and code do not count): the key under which the
 * runtime registers cached functions, the store summarises them, and the CodeLens matches statistics to sites.
 */
export function identityKey(fn: { readonly module: string | null; readonly name: string }): string {
	return `${fn.module ?? ''}\0${fn.name}`;
}

/** A compiled file's source map, as {@link sourceMapOf} finds it. */
export interface FoundSourceMap {
	/** The parsed map (version 3) with `sources` made absolute `file:` URLs where they name files, as Node makes them. */
	readonly payload: { readonly sources: readonly string[]; readonly mappings: string; readonly [field: string]: unknown };
	/** Absolute paths of its sources in `sources` order; `undefined` for a source that is no file (`webpack://…`). */
	readonly files: readonly (string | undefined)[];
}

/** The last `//# sourceMappingURL=` (or `//@`, or in a block comment) of a file's text, as Node takes it. */
function sourceMappingURL(text: string): string | undefined {
	const marker = 'sourceMappingURL=';
	for (let at = text.lastIndexOf(marker); at > 0; at = text.lastIndexOf(marker, at - 1)) {
		if (!/\/[*/][#@][ \t]+$/.test(text.slice(Math.max(0, at - 12), at))) continue;
		const url = /^[^\s*]+/.exec(text.slice(at + marker.length))?.[0];
		return url === undefined || url === '' ? undefined : url;
	}
	return undefined;
}

function decodeDataUrl(url: string): string | undefined {
	const comma = url.indexOf(',');
	if (comma < 0) return undefined;
	const meta = url.slice(5, comma);
	const data = url.slice(comma + 1);
	try {
		if (!meta.split(';').includes('base64')) return decodeURIComponent(data);
		const binary = atob(data);
		const bytes = new Uint8Array(binary.length);
		for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
		return new TextDecoder().decode(bytes);
	} catch {
		return undefined;
	}
}

/** A map's source, resolved as Node resolves it: `sourceRoot` + source against the map's location. */
function resolveSource(root: string, source: unknown, base: URL): { href: string; file: string | undefined } {
	if (typeof source !== 'string') return { href: '', file: undefined };
	try {
		const url = new URL(root + source, base);
		if (url.protocol === 'file:') return { href: url.href, file: fileURLToPath(url) };
	} catch {
		// not a URL relative to the map: no file
	}
	return { href: source, file: undefined };
}

/**
 * The source map a compiled file names on disk: the last `sourceMappingURL` comment of its text, an inline `data:`
 * URL or a file (`dist/math.js.map`) relative to it; `undefined` when there is none, it cannot be read, or it is not
 * a plain version 3 map (index maps with `sections` are not followed). Sources resolve as Node resolves them with
 * `--enable-source-maps`: `sourceRoot` + source, against the map's location (the file itself for an inline map).
 * A map is untrusted input: anything malformed is no map, never an error.
 * @example
 * ```ts
 * sourceMapOf('/repo/dist/math.js', (f) => readFileSync(f, 'utf8'))?.files; // ['/repo/src/math.ts']
 * ```
 */
export function sourceMapOf(file: string, read: TextReader): FoundSourceMap | undefined {
	const text = read(file);
	const url = text === undefined ? undefined : sourceMappingURL(text);
	if (url === undefined) return undefined;
	try {
		const fileUrl = pathToFileURL(file);
		const base = url.startsWith('data:') ? fileUrl : new URL(url, fileUrl);
		if (base.protocol !== 'file:') return undefined;
		const json = url.startsWith('data:') ? decodeDataUrl(url) : read(fileURLToPath(base));
		if (json === undefined) return undefined;
		const raw = JSON.parse(json) as unknown;
		if (typeof raw !== 'object' || raw === null) return undefined;
		const map = raw as Record<string, unknown>;
		if (!Array.isArray(map.sources) || typeof map.mappings !== 'string') return undefined;
		const root = typeof map.sourceRoot === 'string' ? map.sourceRoot : '';
		const resolved = (map.sources as unknown[]).map((source) => resolveSource(root, source, base));
		return { payload: { ...map, sources: resolved.map((r) => r.href), mappings: map.mappings }, files: resolved.map((r) => r.file) };
	} catch {
		return undefined;
	}
}

/**
 * The source files a compiled file was made from, by its source map on disk ({@link sourceMapOf}); empty when it
 * has none. One file for a `tsc` output, several for a bundle.
 */
export function compiledFrom(file: string, read: TextReader): string[] {
	return (sourceMapOf(file, read)?.files ?? []).filter((f): f is string => f !== undefined);
}
