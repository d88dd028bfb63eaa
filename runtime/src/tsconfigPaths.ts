// docs/behaviour.md §1.3 (`hashCode: 'deep'`): how TypeScript maps a bare import through a project's tsconfig.json —
// `compilerOptions.paths` and `baseUrl` — so that the code graph follows `@lib/util` to `src/lib/util.ts` as tsc,
// tsx, esbuild and bundlers do, instead of looking for a package of that name.
//
// - The tsconfig.json of a file is the nearest one above it (the folder of the file, then each parent), as tsc and
//   tsx find it; `extends` (a path, a package's file, or a list of them, later ones winning) is followed, at most
//   MAX_EXTENDS deep. Comments and trailing commas are allowed, as tsc allows them.
// - `baseUrl` is relative to the config file that sets it; `paths` targets are relative to the effective `baseUrl`,
//   or, without one, to the config file that sets `paths` (TypeScript 4.1+).
// - A specifier matching several patterns takes the one with the longest prefix before its `*` (an exact key beats
//   any pattern); its targets are tried in order, `*` replaced by what it matched. Then `baseUrl` + specifier.
// - A config that cannot be read or parsed counts as absent (no mapping), silently: the import is then looked up in
//   node_modules as before, and recorded as missing if it is not a package.
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/** What one tsconfig.json (with what it extends) says about bare imports. */
interface Mapping {
	/** Absolute `baseUrl`, if set. */
	readonly baseUrl: string | undefined;
	/** Folder `paths` targets are relative to. */
	readonly pathsBase: string;
	/** `paths` entries: the key split at its `*` (`star` false for an exact key), with its targets. */
	readonly paths: readonly { readonly prefix: string; readonly suffix: string; readonly star: boolean; readonly targets: readonly string[] }[];
}

/** How deep `extends` is followed. */
const MAX_EXTENDS = 10;

/** The mapping of each folder's nearest tsconfig.json (`null`: none, or none that maps anything). */
const byFolder = new Map<string, Mapping | null>();

/** JSON with line and block comments and trailing commas, as tsconfig.json files are written; `undefined` if not that. */
function parseJsonc(text: string): unknown {
	let out = '';
	for (let i = 0; i < text.length; i++) {
		const c = text[i]!;
		if (c === '"') {
			// A string, copied whole: comment markers and commas inside it are text.
			let j = i + 1;
			while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
			out += text.slice(i, j + 1);
			i = j;
		} else if (c === '/' && text[i + 1] === '/') {
			while (i < text.length && text[i] !== '\n') i++;
			out += '\n';
		} else if (c === '/' && text[i + 1] === '*') {
			const end = text.indexOf('*/', i + 2);
			i = end < 0 ? text.length : end + 1;
			out += ' ';
		} else out += c;
	}
	try {
		return JSON.parse(out.replace(/,(\s*[}\]])/g, '$1'));
	} catch {
		return undefined;
	}
}

function isFile(path: string): boolean {
	try {
		return statSync(path).isFile();
	} catch {
		return false;
	}
}

/** The file an `extends` entry names, as tsc finds it: a path (`.json` optional) or a package's file. */
function extendedFile(spec: string, from: string): string | undefined {
	if (spec.startsWith('./') || spec.startsWith('../') || isAbsolute(spec)) {
		const path = resolve(dirname(from), spec);
		return isFile(path) ? path : isFile(`${path}.json`) ? `${path}.json` : undefined;
	}
	const require = createRequire(from);
	for (const candidate of [spec, `${spec}.json`, `${spec}/tsconfig.json`]) {
		try {
			return require.resolve(candidate);
		} catch {
			// the next form
		}
	}
	return undefined;
}

interface Options {
	baseUrl?: string;
	paths?: { readonly value: Readonly<Record<string, unknown>>; readonly base: string };
}

/** `compilerOptions.baseUrl` and `paths` of `file`, with what it extends under them; `undefined` if unreadable. */
function readOptions(file: string, depth: number, seen: Set<string>): Options | undefined {
	if (depth > MAX_EXTENDS || seen.has(file)) return undefined;
	seen.add(file);
	let doc: unknown;
	try {
		doc = parseJsonc(readFileSync(file, 'utf8'));
	} catch {
		return undefined;
	}
	if (typeof doc !== 'object' || doc === null) return undefined;
	const { extends: base, compilerOptions } = doc as { extends?: unknown; compilerOptions?: unknown };
	const options: Options = {};
	for (const spec of typeof base === 'string' ? [base] : Array.isArray(base) ? base : []) {
		if (typeof spec !== 'string') continue;
		const parent = extendedFile(spec, file);
		const inherited = parent === undefined ? undefined : readOptions(parent, depth + 1, seen);
		if (inherited?.baseUrl !== undefined) options.baseUrl = inherited.baseUrl;
		if (inherited?.paths !== undefined) options.paths = inherited.paths;
	}
	if (typeof compilerOptions === 'object' && compilerOptions !== null) {
		const { baseUrl, paths } = compilerOptions as { baseUrl?: unknown; paths?: unknown };
		if (typeof baseUrl === 'string') options.baseUrl = resolve(dirname(file), baseUrl);
		if (typeof paths === 'object' && paths !== null && !Array.isArray(paths)) {
			options.paths = { value: paths as Record<string, unknown>, base: dirname(file) };
		}
	}
	return options;
}

function mappingOf(file: string): Mapping | null {
	const options = readOptions(file, 0, new Set());
	if (options === undefined || (options.baseUrl === undefined && options.paths === undefined)) return null;
	const paths: Mapping['paths'][number][] = [];
	for (const [key, targets] of Object.entries(options.paths?.value ?? {})) {
		if (!Array.isArray(targets)) continue;
		const star = key.indexOf('*');
		if (star !== key.lastIndexOf('*')) continue; // tsc refuses a key with two `*`
		paths.push({
			prefix: star < 0 ? key : key.slice(0, star),
			suffix: star < 0 ? '' : key.slice(star + 1),
			star: star >= 0,
			targets: targets.filter((t): t is string => typeof t === 'string'),
		});
	}
	return { baseUrl: options.baseUrl, pathsBase: options.baseUrl ?? options.paths?.base ?? dirname(file), paths };
}

/** The mapping of the nearest tsconfig.json above `folder`, read once per process and folder. */
function mappingFor(folder: string): Mapping | null {
	const known = byFolder.get(folder);
	if (known !== undefined) return known;
	const file = join(folder, 'tsconfig.json');
	const parent = dirname(folder);
	const mapping = isFile(file) ? mappingOf(file) : parent === folder ? null : mappingFor(parent);
	byFolder.set(folder, mapping);
	return mapping;
}

/**
 * The absolute paths (without extension resolution) a bare specifier imported by `from` may name through the nearest
 * tsconfig.json's `paths` and `baseUrl`, in the order TypeScript tries them; empty when it maps nothing. @internal
 */
export function tsconfigCandidates(spec: string, from: string): string[] {
	const mapping = mappingFor(dirname(from));
	if (mapping === null) return [];
	let best: Mapping['paths'][number] | undefined;
	for (const p of mapping.paths) {
		const matches = p.star ? spec.length >= p.prefix.length + p.suffix.length && spec.startsWith(p.prefix) && spec.endsWith(p.suffix) : spec === p.prefix;
		if (!matches) continue;
		if (!p.star) {
			best = p;
			break;
		}
		if (best === undefined || p.prefix.length > best.prefix.length) best = p;
	}
	const out: string[] = [];
	if (best !== undefined) {
		const matched = best.star ? spec.slice(best.prefix.length, spec.length - best.suffix.length) : '';
		for (const target of best.targets) out.push(resolve(mapping.pathsBase, target.replace('*', matched)));
	}
	if (mapping.baseUrl !== undefined) out.push(resolve(mapping.baseUrl, spec));
	return out;
}
