// A throwaway user project for tests that run user modules in child processes: a package.json, and `fleche`
// resolvable through node_modules/fleche → this checkout's runtime (its built dist).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, type TestContext } from 'node:test';
import { build } from 'esbuild';
import { tmpDir } from './tmp.ts';

// Registered at load, so projects made inside `before` hooks live until the file ends (an `after` registered
// inside a hook would run when the hook ends).
const made: string[] = [];
after(() => {
	for (const d of made) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
});

/** The runtime package folder (`runtime/`), from the bundled test's location `out/test-node/…`. */
export const runtimeDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../runtime');

/**
 * A temp project named `proj` with `files` (path → text) written into it; returns its folder, removed when the test
 * `t` ends, or without `t` when the test file ends.
 */
export function userProject(files: Readonly<Record<string, string>>, t?: Pick<TestContext, 'after'>): string {
	let dir: string;
	if (t !== undefined) dir = tmpDir(t);
	else made.push((dir = mkdtempSync(join(tmpdir(), 'fleche-project-'))));
	writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'proj', type: 'module', private: true }));
	mkdirSync(join(dir, 'node_modules'), { recursive: true });
	symlinkSync(runtimeDir, join(dir, 'node_modules', 'fleche'), 'dir');
	for (const [path, text] of Object.entries(files)) {
		mkdirSync(dirname(join(dir, path)), { recursive: true });
		writeFileSync(join(dir, path), text);
	}
	return dir;
}

/**
 * Bundles a user's TypeScript `entry` into one ESM `outfile` with an inline source map to the `.ts` sources, packages
 * (`fleche` among them) left as imports: how tsx or a build runs it, so identities name the `.ts` files.
 */
export async function bundleTypeScript(entry: string, outfile: string): Promise<void> {
	await build({ entryPoints: [entry], outfile, bundle: true, packages: 'external', platform: 'node', format: 'esm', sourcemap: 'inline', logLevel: 'silent' });
}
