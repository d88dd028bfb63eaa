// docs/behaviour.md §13 (the `fleche` CLI): importing the user's module named by a recorded function identity, so `rerun` and
// `explain` run the user's own cached functions in the CLI's process (never in an editor's). TypeScript is
// transpiled on the fly with esbuild, loaded lazily: plain JavaScript projects never load it.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, realpathSync, unlinkSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Esbuild from 'esbuild';
import { compiledSources, packageRoot } from '../profile.js';

const typescript = new Set(['.ts', '.mts', '.cts', '.tsx']);

/** A module could not be found or imported; the CLI prints its message as one line. */
export class ModuleLoadError extends Error {
	override readonly name = 'ModuleLoadError';
}

/**
 * The project whose files `rerun` and `explain` may run: the package root (nearest `package.json`) of `--cwd`, else of
 * the working directory. A store is untrusted input: the module a call record names is looked up only there (and in
 * the store's own project when that lies inside it: a package of a monorepo), never elsewhere.
 */
export function projectRoot(cwd: string | undefined): string {
	const dir = resolve(cwd ?? process.cwd());
	return packageRoot(dir) ?? dir;
}

function realOrSelf(path: string): string {
	try {
		return realpathSync(path);
	} catch {
		return resolve(path);
	}
}

function isInside(folder: string, path: string): boolean {
	const rel = relative(folder, path);
	return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * The file of the module path a call record names, checked before anything runs: a plain relative path (no `..`,
 * no absolute path, no backslash), a file that exists under the project (see {@link projectRoot}), whose real path
 * (symbolic links followed) is still inside it and not inside the store's own folder. A TypeScript module whose file
 * is absent is found as the JavaScript file its `.map` names it the source of (only `dist/` shipped).
 * @throws ModuleLoadError naming the module and why it is refused.
 */
export function resolveModuleFile(module: string, options: { project: string; storeRoot: string | null }): string {
	const { project } = options;
	const refuse = (why: string): never => {
		throw new ModuleLoadError(`Refusing to run module ${JSON.stringify(module)} named by the store: ${why}`);
	};
	const parts = module.split('/');
	if (
		module === '' ||
		module.includes('\\') ||
		module.includes('\0') ||
		isAbsolute(module) ||
		/^[A-Za-z]:/.test(module) ||
		parts.some((p) => p === '' || p === '.' || p === '..')
	) {
		refuse(`not a plain path inside the project ${project}`);
	}
	const realProject = realOrSelf(project);
	const realStore = options.storeRoot === null ? null : realOrSelf(options.storeRoot);
	// The store's own project, when it is a package inside this one (module paths are relative to a package root).
	const storeProject = options.storeRoot === null ? undefined : packageRoot(dirname(options.storeRoot));
	const roots = [project, ...(storeProject !== undefined && storeProject !== project && isInside(realProject, realOrSelf(storeProject)) ? [storeProject] : [])];
	const checked = (file: string): string => {
		const real = realOrSelf(file);
		if (!isInside(realProject, real)) refuse(`${file} leads to ${real}, outside the project ${project}`);
		if (realStore !== null && isInside(realStore, real)) refuse(`${file} is inside the store's own folder ${options.storeRoot}`);
		return real;
	};
	for (const root of roots) {
		const file = join(root, ...parts);
		if (existsSync(file)) return checked(file);
	}
	// A source module (src/math.ts) whose file is not here, only its compiled output (dist/math.js + .map): the
	// identity names the source (docs/behaviour.md §15.1), the compiled file runs.
	if (typescript.has(extname(module))) {
		for (const root of roots) {
			const compiled = compiledFileOf(join(root, ...parts), root);
			if (compiled !== undefined) return checked(compiled);
		}
	}
	throw new ModuleLoadError(
		`Cannot find module ${module} in the project ${roots.join(' or ')} (rerun and explain only run files of the project: give its folder with --cwd)`,
	);
}

/** How many folder entries {@link compiledFileOf} looks at before it gives up: a project, not a disk. */
const SCAN_LIMIT = 20_000;

/**
 * A JavaScript file under `root` compiled from `source`, by the `.map` file beside it (`dist/math.js.map` naming
 * `../src/math.ts`); `node_modules` and dot-folders are not searched, nor more than {@link SCAN_LIMIT} entries.
 */
function compiledFileOf(source: string, root: string): string | undefined {
	const pending = [root];
	let seen = 0;
	while (pending.length > 0 && seen < SCAN_LIMIT) {
		const dir = pending.shift()!;
		let entries;
		try {
			entries = readdirSync(dir, { withFileTypes: true });
		} catch {
			continue;
		}
		seen += entries.length;
		for (const entry of entries) {
			if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
			const path = join(dir, entry.name);
			if (entry.isDirectory()) pending.push(path);
			else if (/\.[cm]?js\.map$/.test(entry.name)) {
				const compiled = path.slice(0, -'.map'.length);
				if (existsSync(compiled) && compiledSources(compiled).includes(source)) return compiled;
			}
		}
	}
	return undefined;
}

const loaded = new Map<string, Promise<Record<string, unknown>>>();

/** Imports `file` once per process (`.ts`/`.mts`/`.cts` transpiled with esbuild first); resolves its exports. */
export function importUserModule(file: string): Promise<Record<string, unknown>> {
	let p = loaded.get(file);
	if (p === undefined) {
		p = typescript.has(extname(file)) ? importTypeScript(file) : importFile(file);
		loaded.set(file, p);
	}
	return p;
}

async function importFile(file: string): Promise<Record<string, unknown>> {
	try {
		return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
	} catch (err) {
		throw new ModuleLoadError(`Cannot import ${file}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
	}
}

async function importTypeScript(file: string): Promise<Record<string, unknown>> {
	let esbuild: typeof Esbuild;
	try {
		esbuild = await import('esbuild');
	} catch (err) {
		throw new ModuleLoadError(`Cannot load esbuild to transpile ${file}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
	}
	const commonjs = extname(file) === '.cts';
	// Beside the original, so relative imports of non-TS files and the project's node_modules resolve as they would.
	const out = join(dirname(file), `.${basename(file)}.fleche-${process.pid}-${randomBytes(4).toString('hex')}.${commonjs ? 'cjs' : 'mjs'}`);
	try {
		await esbuild.build({
			entryPoints: [file],
			outfile: out,
			bundle: true,
			// Packages (fleche among them) stay imports: the module must share the CLI's fleche, registry and caches.
			packages: 'external',
			platform: 'node',
			target: 'node20',
			format: commonjs ? 'cjs' : 'esm',
			// The identity of a cached function is its source-mapped .ts file, as in the user's own process.
			sourcemap: 'inline',
			logLevel: 'silent',
		});
	} catch (err) {
		throw new ModuleLoadError(`Cannot transpile ${file}: ${((err as Error)?.message ?? String(err)).split('\n')[0] ?? ''}`, { cause: err });
	}
	process.setSourceMapsEnabled(true);
	try {
		return await importFile(out);
	} finally {
		try {
			unlinkSync(out);
		} catch {
			// already gone
		}
	}
}
