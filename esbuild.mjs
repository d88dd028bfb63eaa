// The one build script (shape of microsoft/vscode-extension-samples esbuild-sample/esbuild.js).
//
//   node esbuild.mjs                      build everything whose sources exist
//   node esbuild.mjs --only runtime       build a subset (repeatable: runtime|tests|examples|bench|stress|extension|webview)
//   node esbuild.mjs --watch              rebuild on change (entry lists are read once: restart after adding files)
//   node esbuild.mjs --production         release build (library source maps embed their sources)
//
// esbuild never typechecks: `npm run typecheck` does. The only tsc run here emits the runtime's .d.ts files.

import * as esbuild from 'esbuild';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';

const root = import.meta.dirname;
process.chdir(root);

const groupNames = ['runtime', 'tests', 'examples', 'bench', 'stress', 'extension', 'webview', 'integration'];

const { values: flags } = parseArgs({
	options: {
		watch: { type: 'boolean', default: false },
		production: { type: 'boolean', default: false },
		only: { type: 'string', multiple: true, default: [] },
	},
});
for (const name of flags.only) {
	if (!groupNames.includes(name)) {
		console.error(`esbuild.mjs: unknown --only ${name} (expected one of ${groupNames.join(', ')})`);
		process.exit(2);
	}
}
const watch = flags.watch;
const production = flags.production;
const selected = flags.only.length > 0 ? new Set(flags.only) : new Set(groupNames);

/** Relative '/'-separated paths of the files under `dir` (recursive) accepted by `keep`; [] if `dir` is missing. */
function listFiles(dir, keep) {
	if (!existsSync(dir)) return [];
	return readdirSync(dir, { recursive: true, withFileTypes: true })
		.filter((entry) => entry.isFile())
		.map((entry) => path.relative(root, path.join(entry.parentPath ?? entry.path, entry.name)).split(path.sep).join('/'))
		.filter(keep)
		.sort();
}

const isTs = (file) => file.endsWith('.ts') && !file.endsWith('.d.ts');

/** Options shared by every Node target. */
const nodeDefaults = {
	platform: 'node',
	target: 'node20',
	logLevel: 'silent', // the logging plugin below reports instead
};

/** Bundled Node programs run from this checkout: `fleche` and other packages stay imports, resolved by Node. */
const nodeProgram = {
	...nodeDefaults,
	bundle: true,
	packages: 'external',
	// test/tsconfig.json maps `fleche` to runtime/src for the typechecker, and esbuild would follow that `paths`
	// entry and inline the sources; named externals win over it, so tests load the built package.
	external: ['fleche', 'fleche/*'],
	format: 'esm',
	sourcemap: 'linked',
	sourcesContent: false,
};

/**
 * The ES module build of the runtime, bundled: importing `fleche` loads a couple of files instead of eighty (resolving
 * and compiling each one was most of what the import cost). Every public entry point keeps its path; code shared by
 * several goes into chunks beside dist/esm/index.js, so one copy of each module (and of its state) serves them all.
 * The worker scripts that stores start by path (`join(dirname(thisFile), 'sqlWorker.js')`) are built apart (see
 * `runtime-esm-workers`), each one file beside index.js.
 */
function runtimeBundle(outdir) {
	return {
		...nodeDefaults,
		entryPoints: [
			// The package's entry points, the CLI (bin/fleche.mjs) and what the extension's scripts import
			// (extension/scripts/runModule.mjs: cli/loadModule).
			...['index', 'worker', 'workerPiscina', 'bullmq', 'identity', 'bridge/index', 'inspect/index', 'cli/protocol', 'cli/main', 'cli/loadModule'].map((name) => ({
				in: `runtime/src/${name}.ts`,
				out: name,
			})),
		],
		outdir,
		bundle: true,
		splitting: true,
		chunkNames: 'chunk-[hash]',
		packages: 'external',
		format: 'esm',
		// The runtime's typed errors are named after their classes (`new.target.name`): a bundle must not rename them.
		keepNames: true,
		sourcemap: 'linked',
		sourcesContent: production,
		logOverride: { 'unsupported-require-call': 'silent' },
	};
}

/** The CommonJS build of the runtime: one output file per source file (no bundling). */
function runtimeLibrary(format, outdir) {
	return {
		...nodeDefaults,
		entryPoints: listFiles('runtime/src', isTs),
		outbase: 'runtime/src',
		outdir,
		bundle: false,
		format,
		sourcemap: 'linked',
		// `src/` is not published, so release maps carry their sources.
		sourcesContent: production,
		// The runtime guards `import.meta.url` itself; in the CJS build it is knowingly undefined. In the ESM build the
		// `require` of profile.ts's lazy acorn load is on the CJS-only branch (see loadAcorn).
		logOverride: format === 'cjs' ? { 'empty-import-meta': 'silent' } : { 'unsupported-require-call': 'silent' },
	};
}

/**
 * Every build target. `clean` is removed before the first build; `packageType` writes `<outdir>/package.json`
 * so Node reads the `.js` files in the right module system; `after` runs once the group's builds are done
 * (and again after each rebuild in watch mode). A target with no entry points is skipped.
 *
 */
const groups = {
	runtime: {
		clean: ['runtime/dist'],
		after: emitRuntimeDeclarations,
		targets: [
			{ name: 'runtime-esm', packageType: 'module', options: runtimeBundle('runtime/dist/esm') },
			{
				// The stores' worker threads, each bundled whole: a thread shares no module state with the one that
				// started it, and code shared with the workers split the main entries' code into more, smaller chunks
				// (14 files to load for `import 'fleche'` instead of 9); a worker so also starts from one file.
				name: 'runtime-esm-workers',
				packageType: 'module',
				options: {
					...runtimeBundle('runtime/dist/esm'),
					entryPoints: [
						{ in: 'runtime/src/storage/sql/sqlWorker.ts', out: 'sqlWorker' },
						{ in: 'runtime/src/storage/postgres/pgWorker.ts', out: 'pgWorker' },
						{ in: 'runtime/src/storage/ssh/sshWorker.ts', out: 'sshWorker' },
					],
					splitting: false,
				},
			},
			{ name: 'runtime-cjs', packageType: 'commonjs', options: runtimeLibrary('cjs', 'runtime/dist/cjs') },
		],
	},
	tests: {
		clean: ['out/test-node'],
		targets: [
			{
				// test/**/*.test.ts (helpers in test/support/ are inlined) and test/fixtures/**/*.ts one-to-one
				// (child-process and worker scripts). Not named `test`: Node 20 would run every .js under it.
				name: 'tests-node',
				packageType: 'module',
				options: {
					...nodeProgram,
					entryPoints: listFiles('test', (file) => {
						if (!isTs(file)) return false;
						// The workspace the integration tier opens in VS Code: user code, run only by its seed script.
						if (file.startsWith('test/fixtures/workspace/')) return false;
						if (file.startsWith('test/fixtures/')) return true;
						if (/^test\/(integration|bench|support)\//.test(file)) return false;
						return file.endsWith('.test.ts');
					}),
					outbase: 'test',
					outdir: 'out/test-node',
				},
			},
		],
	},
	examples: {
		clean: ['out/examples'],
		targets: [
			{
				name: 'examples',
				packageType: 'module',
				options: {
					...nodeProgram,
					entryPoints: listFiles('runtime/examples', (file) => isTs(file) && path.dirname(file) === 'runtime/examples'),
					outdir: 'out/examples',
				},
			},
		],
	},
	stress: {
		clean: ['out/stress'],
		targets: [
			{
				// test/stress/*.stress.ts (node:test files run by the `stress` step of test/run.mjs, never by the fast node
				// tier) and test/stress/fixtures/**/*.ts (their child-process and worker scripts), one-to-one.
				name: 'stress',
				packageType: 'module',
				options: {
					...nodeProgram,
					entryPoints: listFiles('test/stress', (file) => isTs(file) && (file.endsWith('.stress.ts') || file.startsWith('test/stress/fixtures/'))),
					outbase: 'test/stress',
					outdir: 'out/stress',
				},
			},
		],
	},
	// The VS Code extension (dist/extension.js, cjs, `vscode` external) with `fleche` and `fleche/inspect` bundled from
	// source (extension/tsconfig.json paths), the SQL storage's worker beside it, and the runtime CLI as dist/cli.js:
	// the fallback `fleche` the extension spawns when the workspace has none installed. Both bundles look for
	// sqlWorker.js and sql-wasm.wasm beside themselves, so they share one copy of each.
	extension: {
		clean: ['dist/extension.js', 'dist/extension.js.map', 'dist/storeHost.js', 'dist/storeHost.js.map', 'dist/cli.js', 'dist/cli.js.map', 'dist/sqlWorker.js', 'dist/sqlWorker.js.map', 'dist/pgWorker.js', 'dist/pgWorker.js.map', 'dist/sshWorker.js', 'dist/sshWorker.js.map', 'dist/runtime'],
		after: copySqlWasm,
		targets: [
			{
				name: 'extension',
				packageType: 'commonjs',
				options: extensionBundle('dist', [
					{ in: 'extension/src/extension.ts', out: 'extension' },
					// The worker thread that reads the stores (extension/src/data/storeHost.ts).
					{ in: 'extension/src/data/storeHost.ts', out: 'storeHost' },
					{ in: 'runtime/src/storage/sql/sqlWorker.ts', out: 'sqlWorker' },
					// The PostgreSQL store's worker (pg), for a team cache listed in the editor or by the bundled CLI.
					{ in: 'runtime/src/storage/postgres/pgWorker.ts', out: 'pgWorker' },
					// The SSH remote cache's worker (it holds the ssh connection), for the same.
					{ in: 'runtime/src/storage/ssh/sshWorker.ts', out: 'sshWorker' },
				]),
			},
			{
				name: 'extension-cli',
				packageType: 'commonjs',
				options: {
					...extensionBundle('dist', [{ in: 'runtime/src/cli/main.ts', out: 'cli' }]),
					// main.ts exports main() (bin/fleche.mjs runs it); this bundle is the program itself.
					footer: { js: 'module.exports.main(process.argv).then((code) => { process.exitCode = code; });' },
				},
			},
		],
	},
	// The details webview: one browser script and its stylesheet.
	webview: {
		clean: ['dist/webview'],
		targets: [
			{
				name: 'webview',
				packageType: 'module',
				options: {
					entryPoints: existsSync('webview/src/main.ts')
						? [
								{ in: 'webview/src/main.ts', out: 'details' },
								{ in: 'webview/src/styles.css', out: 'details' },
							]
						: [],
					outdir: 'dist/webview',
					bundle: true,
					format: 'iife',
					platform: 'browser',
					target: 'es2022',
					tsconfig: 'webview/tsconfig.json',
					minify: production,
					sourcemap: production ? false : 'linked',
					logLevel: 'silent',
				},
			},
		],
	},
	// The extension integration suite (test/integration/suite/, mocha tdd, run inside the extension host by
	// test/integration/runSuite.mjs or runDesktop.mjs): cjs, one file per suite file; `vscode` comes from the host and
	// `mocha` from this checkout's node_modules.
	integration: {
		clean: ['out/test-integration'],
		targets: [
			{
				name: 'integration',
				packageType: 'commonjs',
				options: {
					...nodeDefaults,
					entryPoints: listFiles('test/integration/suite', (file) => isTs(file) && !file.endsWith('/support.ts')),
					outbase: 'test/integration/suite',
					outdir: 'out/test-integration/suite',
					bundle: true,
					format: 'cjs',
					target: 'node20',
					external: ['vscode', 'mocha'],
					sourcemap: 'linked',
					sourcesContent: false,
				},
			},
		],
	},
	bench: {
		clean: ['out/bench'],
		targets: [
			{
				name: 'bench',
				packageType: 'module',
				options: {
					...nodeProgram,
					entryPoints: existsSync('test/bench/bench.ts') ? ['test/bench/bench.ts'] : [],
					outdir: 'out/bench',
				},
			},
		],
	},
};

/** A Node program bundled whole for the extension host (no node_modules ship in the .vsix). */
function extensionBundle(outdir, entryPoints) {
	return {
		...nodeDefaults,
		entryPoints: existsSync('extension/src/extension.ts') ? entryPoints : [],
		outdir,
		bundle: true,
		format: 'cjs',
		external: ['vscode', 'esbuild'],
		tsconfig: 'extension/tsconfig.json',
		minify: production,
		// The runtime's typed errors are named after their classes (`new.target.name`): minified names would break them.
		keepNames: true,
		sourcemap: production ? false : 'linked',
		sourcesContent: false,
		// The runtime guards `import.meta.url` itself (CJS has __filename).
		logOverride: { 'empty-import-meta': 'silent' },
	};
}

/** sql.js looks for its .wasm beside the script that loads it (dist/sqlWorker.js). */
function copySqlWasm() {
	const wasm = createRequire(import.meta.url).resolve('sql.js/dist/sql-wasm.wasm');
	mkdirSync('dist', { recursive: true });
	copyFileSync(wasm, path.join('dist', 'sql-wasm.wasm'));
	return Promise.resolve(true);
}

/**
 * Prints every error/warning in the format of the esbuild problem matchers (`connor4312.esbuild-problem-matchers`,
 * used by the samples' tasks.json) and, in watch mode only, the `[watch] build started/finished` lines those matchers
 * wait for (a one-off build reports each target itself; the lines would only mislead there). With several contexts
 * building at once, "started" is printed when the first starts and "finished" when the last ends.
 */
let activeBuilds = 0;
const problemMatcherPlugin = (targetName) => ({
	name: 'esbuild-problem-matcher',
	setup(build) {
		build.onStart(() => {
			if (activeBuilds++ === 0 && watch) console.log('[watch] build started');
		});
		build.onEnd((result) => {
			for (const { text, location } of result.warnings) {
				console.error(`▲ [WARNING] ${text} [${targetName}]`);
				if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
			}
			for (const { text, location } of result.errors) {
				console.error(`✘ [ERROR] ${text} [${targetName}]`);
				if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
			}
			if (--activeBuilds === 0 && watch) console.log('[watch] build finished');
		});
	},
});

// ---------------------------------------------------------------------------------------------------------------
// Runtime declarations: tsc emits once into dist/types; the .d.ts files are copied beside both builds so that
// `dist/esm/index.d.ts` and `dist/cjs/index.d.ts` exist (the exports map points there).

const tscBin = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** Resolves true when tsc exits 0; prints tsc's diagnostics (problem-matcher `$tsc` format) otherwise. */
function emitRuntimeDeclarations() {
	rmSync('runtime/dist/types', { recursive: true, force: true });
	const args = [tscBin, '-p', 'runtime', '--emitDeclarationOnly', '--pretty', 'false'];
	return new Promise((resolve) => {
		const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
		let output = '';
		child.stdout.on('data', (chunk) => (output += chunk));
		child.stderr.on('data', (chunk) => (output += chunk));
		child.on('error', (err) => {
			console.error(`✘ [ERROR] could not start tsc: ${err.message} [runtime-types]`);
			resolve(false);
		});
		child.on('close', (code) => {
			for (const format of ['esm', 'cjs']) copyDeclarations('runtime/dist/types', `runtime/dist/${format}`);
			if (code === 0) return resolve(true);
			const errors = output.match(/error TS\d+/g)?.length ?? 0;
			const why = errors > 0 ? `${errors} type error(s) in runtime/src` : 'no diagnostics (tsc itself failed; see below)';
			console.error(
				`✘ [ERROR] runtime declarations: \`tsc -p runtime --emitDeclarationOnly\` exited ${code}: ${why}. ` +
					'The .js output was built; the .d.ts files are missing or incomplete. [runtime-types]',
			);
			process.stderr.write(output.endsWith('\n') ? output : `${output}\n`);
			resolve(false);
		});
	});
}

function copyDeclarations(from, to) {
	for (const file of listFiles(from, (f) => f.endsWith('.d.ts'))) {
		const target = path.join(to, path.relative(from, file));
		mkdirSync(path.dirname(target), { recursive: true });
		copyFileSync(file, target);
	}
}

// ---------------------------------------------------------------------------------------------------------------

/** Runs `task` (async, returns ok) after builds end, one at a time; calls that arrive while it runs coalesce. */
function serialized(task) {
	let running = null;
	let again = false;
	const run = async () => {
		if (running) {
			again = true;
			return running;
		}
		running = (async () => {
			let ok;
			do {
				again = false;
				ok = await task();
			} while (again);
			return ok;
		})();
		try {
			return await running;
		} finally {
			running = null;
		}
	};
	return run;
}

async function main() {
	const started = performance.now();
	const work = [];
	const contexts = [];
	let failed = false;

	for (const [groupName, group] of Object.entries(groups)) {
		if (!selected.has(groupName)) continue;
		const targets = group.targets.filter((t) => t.options.entryPoints.length > 0);
		if (targets.length === 0) {
			console.log(`skipped ${groupName}: no sources yet`);
			continue;
		}
		for (const dir of group.clean) rmSync(dir, { recursive: true, force: true });
		for (const { packageType, options } of targets) {
			mkdirSync(options.outdir, { recursive: true });
			writeFileSync(path.join(options.outdir, 'package.json'), `${JSON.stringify({ type: packageType })}\n`);
		}

		const after = group.after && serialized(group.after);
		// In watch mode the group's `after` step follows every successful build of its first target.
		const afterEachBuild = {
			name: 'after-group',
			setup(build) {
				build.onEnd((result) => {
					if (result.errors.length === 0) void after();
				});
			},
		};

		for (const [index, target] of targets.entries()) {
			const plugins = [problemMatcherPlugin(target.name)];
			if (watch && after && index === 0) plugins.push(afterEachBuild);
			work.push(
				(async () => {
					// esbuild took the caller's working directory when it was imported, before the chdir above: entry
					// points are relative to this folder whatever folder the script was started from.
					const ctx = await esbuild.context({ ...target.options, absWorkingDir: root, plugins });
					contexts.push(ctx);
					if (watch) return;
					const t0 = performance.now();
					try {
						await ctx.rebuild();
						const { entryPoints, outdir } = target.options;
						console.log(`built ${target.name}: ${entryPoints.length} entries → ${outdir} (${ms(t0)})`);
					} catch {
						failed = true; // the plugin printed the errors
					}
				})(),
			);
		}
		// The declaration step reads only sources, so it runs alongside the esbuild builds.
		if (after && !watch) {
			work.push(
				(async () => {
					const t0 = performance.now();
					if (await after()) console.log(`built ${groupName} declarations (${ms(t0)})`);
					else failed = true;
				})(),
			);
		}
	}

	await Promise.all(work);

	if (watch) {
		// watch() starts with a full build.
		await Promise.all(contexts.map((ctx) => ctx.watch()));
		return;
	}
	await Promise.all(contexts.map((ctx) => ctx.dispose()));
	if (failed) {
		console.error(`build failed (${ms(started)})`);
		process.exitCode = 1;
	} else {
		console.log(`build done${production ? ' (production)' : ''} (${ms(started)})`);
	}
}

const ms = (since) => `${Math.round(performance.now() - since)} ms`;

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
