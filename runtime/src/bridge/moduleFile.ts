// Where a module of the runtime is on disk, in every form it ships in: the ESM build (runtime/dist/esm, one file per
// source file), the CommonJS build (runtime/dist/cjs, the same), and bundles (the extension's dist/*.js, CommonJS).
//
// `typeof __filename === 'string'` cannot tell them apart: `node -e` defines a global `__filename` ('[eval]') that
// every ES module then sees, and so do the CommonJS shims some `--import` loaders install. An ES module has its own
// `import.meta.url`; esbuild leaves `import.meta` empty in the CommonJS outputs, where `__filename` is the module
// wrapper's own and therefore right. So `import.meta.url` is asked first, and `__filename` only when there is none.
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The absolute path of the calling module's file, in the ESM build, the CommonJS build or a CommonJS bundle (where it
 * is the bundle's file). Call it as `moduleFile(import.meta.url, () => __filename)`: the function is only called
 * when `import.meta.url` is not a `file:` URL, that is in CommonJS code, so an ES module never reads the global
 * `__filename` that `node -e` and some loaders define.
 *
 * @param metaUrl - the caller's `import.meta.url` (undefined in the CommonJS outputs).
 * @param cjsFile - returns the caller's `__filename`.
 * @throws Error when neither gives an absolute path (a module loaded from a `data:` or `http:` URL, say).
 * @example
 * ```ts
 * const workerModule = join(dirname(moduleFile(import.meta.url, () => __filename)), 'myWorker.js');
 * ```
 */
export function moduleFile(metaUrl: string | undefined, cjsFile: () => string): string {
	if (typeof metaUrl === 'string' && metaUrl.startsWith('file:')) return fileURLToPath(metaUrl);
	let file: unknown;
	try {
		file = cjsFile();
	} catch {
		// An ES module from elsewhere than a file, without a global `__filename`: reported below.
	}
	if (typeof file === 'string' && isAbsolute(file)) return file;
	throw new Error(`Cannot tell where this module's file is (import.meta.url ${String(metaUrl)}, __filename ${String(file)})`);
}
