// `npm start`'s last step (after the build and the examples): opens the cache explorer on a real cache. Refreshes a
// demo workspace (.cache/demo-workspace/: a package of its own with a copy of runtime/examples/demo.ts and
// node_modules/fleche linked to this checkout's runtime), runs the demo there so its `.fleche/` store has real hits
// and misses, then packages the extension as a .vsix, installs it into code-server (the integration tier's tools,
// installed when missing) and serves the workspace on 127.0.0.1 until Ctrl-C.
//
//   node extension/scripts/start.mjs [--no-editor] [--fresh] [--port <n>] [--workspace <dir>]   (after `node esbuild.mjs`)
//
// --no-editor (or FLECHE_NO_EDITOR=1) stops after the demo; --fresh empties the demo's store first (otherwise it
// keeps its earlier runs, so a second `npm start` shows the calls as hits); --port (or FLECHE_PORT) serves the editor
// on a fixed port instead of a free one. The first editor start installs code-server (as root it also apt-installs
// the headers code-server builds against; see test/integration/setup.mjs), printing its progress as it goes.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';

const repo = path.resolve(import.meta.dirname, '..', '..');
const integration = path.join(repo, 'test', 'integration');
/** Module files of the demo workspace, as a user would have them: `src/<name>` copied from `runtime/examples/`. */
const demoModules = ['demo.ts'];
const graceMs = 5_000;

const rel = (file) => path.relative(process.cwd(), file) || '.';
const usage = 'usage: npm start -- [--no-editor] [--fresh] [--port <n>] [--workspace <dir>]   (FLECHE_NO_EDITOR=1 = --no-editor, FLECHE_PORT=<n> = --port <n>)';

/** A TCP port number from `--port` or `FLECHE_PORT`, or a clear error naming where the bad value came from. */
export function parsePort(value, source = '--port') {
	const port = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
	if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`${source} must be a port number from 1 to 65535, not ${JSON.stringify(value)}`);
	return port;
}

/**
 * `npm start`'s options from its arguments and environment: `--port` wins over `FLECHE_PORT`; `port` is undefined
 * when neither is given (the editor then takes a free port). Throws on an unknown option or a bad port.
 */
export function startOptions(args = process.argv.slice(2), env = process.env) {
	const { values } = parseArgs({
		args,
		options: {
			'no-editor': { type: 'boolean', default: false },
			fresh: { type: 'boolean', default: false },
			port: { type: 'string' },
			workspace: { type: 'string', default: path.join(repo, '.cache', 'demo-workspace') },
			help: { type: 'boolean', short: 'h', default: false },
		},
	});
	const port = values.port !== undefined ? parsePort(values.port) : env.FLECHE_PORT ? parsePort(env.FLECHE_PORT, 'FLECHE_PORT') : undefined;
	return {
		noEditor: values['no-editor'] || ['1', 'true'].includes(env.FLECHE_NO_EDITOR ?? ''),
		fresh: values.fresh,
		port,
		workspace: path.resolve(values.workspace),
		help: values.help,
	};
}

/** Resolves when `port` can be bound on 127.0.0.1 (then releases it); rejects with a clear message when it is taken. */
export function checkPortFree(port) {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once('error', (err) => {
			const taken = err.code === 'EADDRINUSE' || err.code === 'EACCES';
			reject(
				new Error(
					taken ? `port ${port} on 127.0.0.1 is ${err.code === 'EACCES' ? 'not allowed' : 'in use'}; choose another with --port or FLECHE_PORT` : err.message,
				),
			);
		});
		server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
	});
}

/**
 * Creates or refreshes the demo workspace in `dir`: its sources, package.json, tsconfig.json and the
 * `node_modules/fleche` and `node_modules/@types/node` links (to this checkout's runtime and its own @types/node, so
 * the editor's TypeScript resolves every import) are rewritten; its `.fleche/` store is kept unless `fresh`.
 */
export function refreshDemoWorkspace(dir, { fresh = false } = {}) {
	mkdirSync(dir, { recursive: true });
	if (fresh) rmSync(path.join(dir, '.fleche'), { recursive: true, force: true });
	rmSync(path.join(dir, 'src'), { recursive: true, force: true });
	mkdirSync(path.join(dir, 'src'));
	for (const name of demoModules) cpSync(path.join(repo, 'runtime', 'examples', name), path.join(dir, 'src', name));
	const typesNode = path.join(repo, 'node_modules', '@types', 'node');
	const { version: typesVersion } = JSON.parse(readFileSync(path.join(typesNode, 'package.json'), 'utf8'));
	const manifest = {
		name: 'fleche-demo',
		version: '1.0.0',
		private: true,
		type: 'module',
		description: 'The workspace `npm start` opens in the editor; refreshed on every start.',
		// What a user's project would declare; both are linked from this checkout below rather than installed.
		dependencies: { fleche: `file:${path.join(repo, 'runtime')}` },
		devDependencies: { '@types/node': typesVersion },
	};
	writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, '\t')}\n`);
	const tsconfig = {
		compilerOptions: {
			target: 'ES2022',
			module: 'NodeNext',
			moduleResolution: 'NodeNext',
			types: ['node'],
			strict: true,
			noEmit: true,
			skipLibCheck: true,
		},
		include: ['src'],
	};
	writeFileSync(path.join(dir, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, '\t')}\n`);
	writeFileSync(path.join(dir, '.gitignore'), '.fleche/\nnode_modules/\n');
	for (const [name, target] of [
		['fleche', path.join(repo, 'runtime')],
		[path.join('@types', 'node'), typesNode],
	]) {
		const link = path.join(dir, 'node_modules', name);
		mkdirSync(path.dirname(link), { recursive: true });
		rmSync(link, { recursive: true, force: true });
		symlinkSync(target, link, 'dir');
	}
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
export async function openEditor({ workspace, dir, port }) {
	const { ensureTools } = await import(path.join(integration, 'setup.mjs'));
	const { installVsix, startCodeServer } = await import(path.join(integration, 'harness.mjs'));
	const { packageVsix } = await import(path.join(integration, 'e2e.mjs'));
	// Before the minutes of a first install, so a taken port fails at once.
	if (port !== undefined) await checkPortFree(port);
	console.log('\nchecking the editor tools (code-server, Node 24): a first start installs them, printing progress…');
	const tools = await ensureTools({ browser: false });
	mkdirSync(dir, { recursive: true });
	const vsix = path.join(dir, 'fleche.vsix');
	console.log('packaging the extension…');
	packageVsix(vsix);
	// A clean extensions folder, so the .vsix just built is the one that runs, whatever version an earlier start left.
	const extensionsDir = path.join(dir, 'ext');
	rmSync(extensionsDir, { recursive: true, force: true });
	await installVsix({ tools, dir, vsix, extensionsDir });
	console.log(`starting code-server on 127.0.0.1:${port ?? '(a free port)'}…`);
	const server = await startCodeServer({ tools, dir, extensionsDir, port });
	return { server, url: `${server.server}/?folder=${encodeURIComponent(workspace)}` };
}

async function main() {
	const options = startOptions();
	if (options.help) {
		console.log(usage);
		return;
	}
	const workspace = refreshDemoWorkspace(options.workspace, { fresh: options.fresh });
	runDemo(workspace);
	if (options.noEditor) {
		console.log(`\ndemo workspace: ${rel(workspace)} (editor skipped)`);
		return;
	}
	const dir = path.join(path.dirname(workspace), 'demo-editor');
	const { server, url } = await openEditor({ workspace, dir, port: options.port }).catch((err) => {
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
