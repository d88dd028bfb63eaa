// A throwaway user project for tests that run user modules in child processes: a package.json, and `fleche`
// resolvable through node_modules/fleche → this checkout's runtime (its built dist).
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { tmpDir } from './tmp.ts';

/** The runtime package folder (`runtime/`), from the bundled test's location `out/test-node/…`. */
export const runtimeDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../runtime');

/** A temp project named `proj` with `files` (path → text) written into it; returns its folder. */
export function userProject(files: Readonly<Record<string, string>>, t?: Pick<TestContext, 'after'>): string {
	const dir = tmpDir(t);
	writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'proj', type: 'module', private: true }));
	mkdirSync(join(dir, 'node_modules'), { recursive: true });
	symlinkSync(runtimeDir, join(dir, 'node_modules', 'fleche'), 'dir');
	for (const [path, text] of Object.entries(files)) {
		mkdirSync(dirname(join(dir, path)), { recursive: true });
		writeFileSync(join(dir, path), text);
	}
	return dir;
}
