// `npm start`'s last step (after the build and the examples): opens the cache explorer on a real cache. Refreshes a
// demo workspace (.cache/demo-workspace/: a package of its own with a copy of runtime/examples/demo.ts and
// node_modules/fleche linked to this checkout's runtime), runs the demo there so its `.fleche/` store has real hits
// and misses, then packages the extension as a .vsix, installs it into code-server (the integration tier's tools,
// installed when missing) and serves the workspace on 127.0.0.1 until Ctrl-C.
//
//   node extension/scripts/start.mjs [--no-editor] [--fresh] [--workspace <dir>]   (after `node esbuild.mjs`)
//
// --no-editor (or FLECHE_NO_EDITOR=1) stops after the demo; --fresh empties the demo's store first (otherwise it
// keeps its earlier runs, so a second `npm start` shows the calls as hits).

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const repo = path.resolve(import.meta.dirname, '..', '..');
const integration = path.join(repo, 'test', 'integration');
/** Module files of the demo workspace, as a user would have them: `src/<name>` copied from `runtime/examples/`. */
const demoModules = ['demo.ts'];
const graceMs = 5_000;

const rel = (file) => path.relative(process.cwd(), file) || '.';

/**
 * Creates or refreshes the demo workspace in `dir`: its sources, package.json and `node_modules/fleche` link are
 * rewritten; its `.fleche/` store is kept unless `fresh`.
 */
export function refreshDemoWorkspace(dir, { fresh = false } = {}) {
	mkdirSync(dir, { recursive: true });
	if (fresh) rmSync(path.join(dir, '.fleche'), { recursive: true, force: true });
	rmSync(path.join(dir, 'src'), { recursive: true, force: true });
	mkdirSync(path.join(dir, 'src'));
	for (const name of demoModules) cpSync(path.join(repo, 'runtime', 'examples', name), path.join(dir, 'src', name));
	const manifest = {
		name: 'fleche-demo',
		version: '1.0.0',
		private: true,
		type: 'module',
		description: 'The workspace `npm start` opens in the editor; refreshed on every start.',
	};
	writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, '\t')}\n`);
	cpSync(path.join(repo, 'test', 'fixtures', 'workspace', 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
	writeFileSync(path.join(dir, '.gitignore'), '.fleche/\nnode_modules/\n');
	const link = path.join(dir, 'node_modules', 'fleche');
	mkdirSync(path.dirname(link), { recursive: true });
	rmSync(link, { recursive: true, force: true });
	symlinkSync(path.join(repo, 'runtime'), link, 'dir');
	return dir;
}

/** Runs every demo module in the workspace, in a child whose default store is the workspace's `.fleche/`. */
export function runDemo(dir) {
	for (const name of demoModules) {
		console.log(`\n$ fleche demo in ${rel(dir)}: src/${name}`);
		const result = spawnSync(process.execPath, ['--enable-source-maps', path.join(import.meta.dirname, 'runModule.mjs'), path.join('src', name)], {
			cwd: dir,
			stdio: 'inherit',
			// The default store must be the workspace's own, whatever the caller's environment says.
			env: { ...process.env, FLECHE_ROOT: '', NODE_OPTIONS: '' },
		});
		if (result.status !== 0) throw new Error(`the demo src/${name} failed in ${dir} (exit ${result.status ?? result.signal})`);
	}
}

/**
 * Packages and installs the extension into a dedicated code-server (user data, extensions and HOME under `dir`) and
 * serves `workspace` on 127.0.0.1. Resolves the running server and the URL to open.
 */
export async function openEditor({ workspace, dir }) {
	const { pins, toolsCache, ensureTools } = await import(path.join(integration, 'setup.mjs'));
	const { installVsix, startCodeServer } = await import(path.join(integration, 'harness.mjs'));
	const { packageVsix } = await import(path.join(integration, 'e2e.mjs'));
	if (!existsSync(path.join(toolsCache(), `code-server-${pins.codeServer.version}`))) {
		console.log(`\ninstalling code-server ${pins.codeServer.version} into ${toolsCache()}: the first install takes several minutes (native builds)…`);
	}
	const tools = await ensureTools({ browser: false });
	mkdirSync(dir, { recursive: true });
	const vsix = path.join(dir, 'fleche.vsix');
	packageVsix(vsix);
	// A clean extensions folder, so the .vsix just built is the one that runs, whatever version an earlier start left.
	const extensionsDir = path.join(dir, 'ext');
	rmSync(extensionsDir, { recursive: true, force: true });
	await installVsix({ tools, dir, vsix, extensionsDir });
	const server = await startCodeServer({ tools, dir, extensionsDir });
	return { server, url: `${server.server}/?folder=${encodeURIComponent(workspace)}` };
}

async function main() {
	const { values } = parseArgs({
		options: {
			'no-editor': { type: 'boolean', default: false },
			fresh: { type: 'boolean', default: false },
			workspace: { type: 'string', default: path.join(repo, '.cache', 'demo-workspace') },
			help: { type: 'boolean', short: 'h', default: false },
		},
	});
	if (values.help) {
		console.log('usage: npm start -- [--no-editor] [--fresh] [--workspace <dir>]   (FLECHE_NO_EDITOR=1 = --no-editor)');
		return;
	}
	const workspace = refreshDemoWorkspace(path.resolve(values.workspace), { fresh: values.fresh });
	runDemo(workspace);
	if (values['no-editor'] || ['1', 'true'].includes(process.env.FLECHE_NO_EDITOR ?? '')) {
		console.log(`\ndemo workspace: ${rel(workspace)} (editor skipped)`);
		return;
	}
	const dir = path.join(path.dirname(workspace), 'demo-editor');
	const { server, url } = await openEditor({ workspace, dir }).catch((err) => {
		throw new Error(`${err instanceof Error ? err.message : String(err)}\n(the demo ran; \`npm start -- --no-editor\` skips the editor)`);
	});
	let stopping = false;
	const shutdown = async (signal) => {
		if (stopping) return;
		stopping = true;
		console.log(`\n${signal}: stopping code-server…`);
		const timer = setTimeout(() => void server.stop('SIGKILL'), graceMs);
		await server.stop('SIGTERM');
		clearTimeout(timer);
		process.exit(0);
	};
	process.on('SIGINT', () => void shutdown('SIGINT'));
	process.on('SIGTERM', () => void shutdown('SIGTERM'));
	console.log(`\nFleche explorer (code-server on 127.0.0.1, no password; log in ${rel(path.join(dir, 'code-server.log'))}):\n`);
	console.log(`    ${url}\n`);
	console.log('Open the Fleche view in the activity bar, and src/demo.ts for the hit/miss lenses. Ctrl-C stops it.');
	await server.exited;
	if (!stopping) {
		console.error(`code-server exited by itself; see ${path.join(dir, 'code-server.log')}`);
		process.exitCode = 1;
	}
}

if (import.meta.filename === path.resolve(process.argv[1] ?? '')) {
	try {
		await main();
	} catch (err) {
		console.error(`npm start: ${err instanceof Error ? err.message : String(err)}`);
		process.exitCode = 1;
	}
}
