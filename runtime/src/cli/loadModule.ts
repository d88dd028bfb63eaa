// issue 6 "The `fleche` CLI": importing the user's module named by a recorded function identity, so `rerun` and
// `explain` run the user's own cached functions in the CLI's process (never in an editor's). TypeScript is
// transpiled on the fly with esbuild, loaded lazily: plain JavaScript projects never load it.
import { randomBytes } from 'node:crypto';
import { existsSync, unlinkSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Esbuild from 'esbuild';
import { packageRoot } from '../profile.js';

const typescript = new Set(['.ts', '.mts', '.cts', '.tsx']);

/** A module could not be found or imported; the CLI prints its message as one line. */
export class ModuleLoadError extends Error {
	override readonly name = 'ModuleLoadError';
}

/**
 * Folders a recorded module path may be relative to, most likely first: the package root of `--cwd` when given, the
 * project that holds the store (the folder around its `.fleche`), then the working directory's package root.
 */
export function projectRoots(options: { cwd?: string | undefined; storeRoot: string | null }): string[] {
	const out: string[] = [];
	const add = (dir: string | undefined): void => {
		if (dir !== undefined && !out.includes(dir)) out.push(dir);
	};
	if (options.cwd !== undefined) {
		const cwd = resolve(options.cwd);
		add(packageRoot(cwd));
		add(cwd);
	}
	if (options.storeRoot !== null) {
		const project = dirname(options.storeRoot);
		add(packageRoot(project));
		add(project);
	}
	add(packageRoot(process.cwd()));
	add(process.cwd());
	return out;
}

/** The file of a recorded module path under the first root that has it. */
export function findModuleFile(module: string, roots: readonly string[]): string {
	for (const root of roots) {
		const file = join(root, ...module.split('/'));
		if (existsSync(file)) return file;
	}
	throw new ModuleLoadError(`Cannot find module ${module} (looked in ${roots.join(', ')})`);
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
