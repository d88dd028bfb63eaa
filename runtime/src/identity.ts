// The function-identity rule (docs/behaviour.md §1.3, §2.1), in one pure module shared by the runtime (profile.ts,
// wrapper.ts) and the VS Code extension's CodeLens (extension/src/model/flecheSites.ts), exported as
// `fleche/identity`. If the two computed identities differently, the CodeLens would silently show zero counts.
//
// Pure on purpose: no fs, no storage, no side effect at import. What needs the disk (is there a package.json in this
// folder, does it have a name) is injected as a `PackageJsonProbe`, so the extension can answer from its editor
// state and the runtime from the file system.

/** What a folder's `package.json` says about package roots: absent, present without a `name` (or unreadable), or named. */
export type PackageJsonProbe = (dir: string) => 'none' | 'unnamed' | 'named';

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
