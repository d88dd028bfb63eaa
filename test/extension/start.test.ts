// `npm start`'s explorer step without the editor (extension/scripts/start.mjs --no-editor): the demo workspace is
// made, typechecks with the repository's TypeScript, the demo runs in it with the real runtime and leaves a store
// whose identities are the workspace's own, the store is kept across starts (a second start is all hits) unless
// --fresh, and nothing of the editor is started. Around it, the pieces of the editor step that run without
// code-server: the fixed port (--port, FLECHE_PORT, a taken port refused before any install), the apt packages the
// tool setup installs for `npm start` versus the browser tests and how it calls apt, its progress heartbeat, and the
// build script's `[watch]` lines (watch mode only). The editor half itself is exercised by hand and shares its pieces
// with the integration tier.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openStore, type FunctionSummary } from 'fleche/inspect';
import { runNode, tmpDir } from '../support/tmp.ts';

const rootDir = fileURLToPath(new URL('../../../', import.meta.url));
const start = join(rootDir, 'extension', 'scripts', 'start.mjs');
const setup = join(rootDir, 'test', 'integration', 'setup.mjs');
const tsc = join(rootDir, 'node_modules', 'typescript', 'bin', 'tsc');

interface StartOptions {
	noEditor: boolean;
	fresh: boolean;
	port: number | undefined;
	workspace: string;
}
interface StartModule {
	startOptions: (args: string[], env: Record<string, string | undefined>) => StartOptions;
	checkPortFree: (port: number) => Promise<void>;
}
interface SetupModule {
	aptPackagesFor: (options?: { browser?: boolean }) => string[];
	missingAptPackages: (options: { browser?: boolean }, exists: (file: string) => boolean) => string[];
	aptInstallArgs: (packages: string[]) => string[];
}
const importScript = async <T>(file: string): Promise<T> => (await import(pathToFileURL(file).href)) as T;

const summary = (workspace: string): Record<string, Pick<FunctionSummary, 'module' | 'calls' | 'hits' | 'misses'>> => {
	const store = openStore(join(workspace, '.fleche'));
	try {
		return Object.fromEntries(store.functions().map(({ name, module, calls, hits, misses }) => [name, { module, calls, hits, misses }]));
	} finally {
		store.close();
	}
};

test('start --no-editor makes the demo workspace, runs the demo into its store, keeps it across starts unless --fresh', async (t) => {
	const dir = tmpDir(t);
	const workspace = join(dir, 'demo-workspace');
	// FLECHE_ROOT set by the caller must not move the demo's store out of the workspace.
	const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
	const env = { ...inherited, FLECHE_ROOT: join(dir, 'elsewhere'), FLECHE_NO_EDITOR: '' };
	const first = await runNode(start, ['--no-editor', '--workspace', workspace], { env, timeoutMs: 60_000 });
	assert.equal(first.code, 0, first.stderr);
	assert.match(first.stdout, /editor skipped/);

	assert.equal(readFileSync(join(workspace, 'src', 'demo.ts'), 'utf8'), readFileSync(join(rootDir, 'runtime', 'examples', 'demo.ts'), 'utf8'));
	assert.equal((JSON.parse(readFileSync(join(workspace, 'package.json'), 'utf8')) as { name: string }).name, 'fleche-demo');
	const link = join(workspace, 'node_modules', 'fleche');
	assert.ok(lstatSync(link).isSymbolicLink());
	assert.equal(realpathSync(link), realpathSync(join(rootDir, 'runtime')));
	assert.equal(realpathSync(join(workspace, 'node_modules', '@types', 'node')), realpathSync(join(rootDir, 'node_modules', '@types', 'node')));
	assert.equal(existsSync(join(dir, 'elsewhere')), false);
	// What the editor shows as problems: none (it opened with two, `node:` modules unresolved, before @types/node).
	const check = await runNode(tsc, ['-p', workspace, '--pretty', 'false'], { env, timeoutMs: 120_000 });
	assert.equal(check.stdout + check.stderr, '');
	assert.equal(check.code, 0);
	// The demo asks for one argument of each function twice: 2 cached calls, 2 misses, 1 hit each.
	const once = { module: 'src/demo.ts', calls: 2, hits: 1, misses: 2 };
	assert.deepEqual(summary(workspace), { countPrimes: once, deriveKey: once });
	assert.equal(existsSync(join(dir, 'demo-editor')), false, 'no editor folder without the editor');

	// The environment switch skips the editor too; the kept store turns every call of the second run into a hit.
	const second = await runNode(start, ['--workspace', workspace], { env: { ...env, FLECHE_NO_EDITOR: '1' }, timeoutMs: 60_000 });
	assert.equal(second.code, 0, second.stderr);
	assert.doesNotMatch(second.stdout, /\bmiss\b/);
	const twice = { module: 'src/demo.ts', calls: 2, hits: 4, misses: 2 };
	assert.deepEqual(summary(workspace), { countPrimes: twice, deriveKey: twice });
	assert.equal(existsSync(join(dir, 'demo-editor')), false);

	const fresh = await runNode(start, ['--no-editor', '--fresh', '--workspace', workspace], { env, timeoutMs: 60_000 });
	assert.equal(fresh.code, 0, fresh.stderr);
	assert.deepEqual(summary(workspace), { countPrimes: once, deriveKey: once });
});

test('--port and FLECHE_PORT fix the editor port; --port wins; a bad value is refused with where it came from', async () => {
	const { startOptions } = await importScript<StartModule>(start);
	assert.equal(startOptions([], {}).port, undefined);
	assert.equal(startOptions(['--port', '8080'], {}).port, 8080);
	assert.equal(startOptions(['--port=8081'], {}).port, 8081);
	assert.equal(startOptions([], { FLECHE_PORT: '9000' }).port, 9000);
	assert.equal(startOptions(['--port', '8080'], { FLECHE_PORT: '9000' }).port, 8080);
	assert.equal(startOptions([], { FLECHE_PORT: '' }).port, undefined);
	for (const bad of ['0', '65536', 'abc', '80x', '-1', '8.5', '']) {
		assert.throws(() => startOptions([`--port=${bad}`], {}), /--port must be a port number from 1 to 65535/, bad);
	}
	assert.throws(() => startOptions([], { FLECHE_PORT: 'http' }), /FLECHE_PORT must be a port number/);
	assert.equal(startOptions(['--no-editor'], {}).noEditor, true);
	assert.equal(startOptions([], { FLECHE_NO_EDITOR: '1' }).noEditor, true);
	assert.equal(startOptions([], {}).noEditor, false);
	assert.throws(() => startOptions(['--prot', '1'], {}), /--prot/);
});

test('npm start refuses a bad or taken port before installing or starting anything', async (t) => {
	const dir = tmpDir(t);
	const workspace = join(dir, 'demo-workspace');
	const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
	const env = { ...inherited, FLECHE_NO_EDITOR: '', FLECHE_PORT: '' };
	const bad = await runNode(start, ['--port', 'eighty', '--workspace', workspace], { env, timeoutMs: 60_000 });
	assert.equal(bad.code, 1);
	assert.match(bad.stderr, /--port must be a port number from 1 to 65535, not "eighty"/);
	assert.equal(existsSync(workspace), false, 'nothing is made for a bad port');

	const holder = createServer();
	await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
	t.after(() => holder.close());
	const { port } = holder.address() as AddressInfo;
	const { checkPortFree } = await importScript<StartModule>(start);
	await assert.rejects(checkPortFree(port), new RegExp(`port ${port} on 127.0.0.1 is in use`));
	// The whole script: the demo runs (it needs no port), then the editor step stops at the port, before any tool
	// install or package step.
	const taken = await runNode(start, ['--workspace', workspace], { env: { ...env, FLECHE_PORT: String(port) }, timeoutMs: 60_000 });
	assert.equal(taken.code, 1, taken.stderr);
	assert.match(taken.stderr, new RegExp(`port ${port} on 127.0.0.1 is in use; choose another with --port or FLECHE_PORT`));
	assert.doesNotMatch(taken.stdout + taken.stderr, /checking the editor tools|packaging|\$ apt-get|\$ npm/);
	assert.ok(existsSync(join(workspace, '.fleche')), 'the demo ran');
	assert.equal(existsSync(join(dir, 'demo-editor')), false);

	await new Promise<void>((resolve) => holder.close(() => resolve()));
	await checkPortFree(port);
});

test('the tool setup apt-installs only what is missing for its caller: no chromium for npm start, nothing upgraded, the dpkg lock awaited', async () => {
	const { aptPackagesFor, missingAptPackages, aptInstallArgs } = await importScript<SetupModule>(setup);
	assert.deepEqual(aptPackagesFor({ browser: false }), ['libkrb5-dev']);
	assert.deepEqual(aptPackagesFor({ browser: true }).sort(), ['chromium', 'libkrb5-dev']);
	assert.deepEqual(aptPackagesFor(), aptPackagesFor({ browser: true }), 'the test drivers keep chromium');

	const nothing = (): boolean => false;
	const headersOnly = (file: string): boolean => file === '/usr/include/gssapi/gssapi.h';
	const everything = (): boolean => true;
	assert.deepEqual(missingAptPackages({ browser: false }, nothing), ['libkrb5-dev']);
	assert.deepEqual(missingAptPackages({ browser: false }, headersOnly), [], 'npm start installs nothing once the headers are there');
	assert.deepEqual(missingAptPackages({ browser: true }, headersOnly), ['chromium']);
	assert.deepEqual(
		missingAptPackages({ browser: true }, (file) => file === '/usr/bin/chromium-browser' || headersOnly(file)),
		[],
	);
	assert.deepEqual(missingAptPackages({ browser: true }, everything), []);

	const args = aptInstallArgs(['chromium']);
	assert.equal(args[0], 'install');
	assert.equal(args.at(-1), 'chromium');
	for (const flag of ['-y', '--no-install-recommends', '--no-upgrade']) assert.ok(args.includes(flag), flag);
	const lock = args.indexOf('DPkg::Lock::Timeout=600');
	assert.ok(lock > 0 && args[lock - 1] === '-o', args.join(' '));
	assert.ok(!args.some((arg) => /upgrade$/.test(arg) && arg !== '--no-upgrade'), 'never an upgrade');
});

test('a long tool install prints a heartbeat with the elapsed time until it ends, and nothing when asked for none', async (t) => {
	const dir = tmpDir(t);
	const script = join(dir, 'beat.mjs');
	writeFileSync(
		script,
		`const { run } = await import(${JSON.stringify(pathToFileURL(setup).href)});
const progress = process.argv[2] === 'quiet' ? undefined : 'still installing x';
const code = await run(process.execPath, ['-e', 'setTimeout(() => {}, 1000)'], { progress, heartbeatMs: 150 });
console.error('exit ' + code);
await new Promise((resolve) => setTimeout(resolve, 600));
`,
	);
	const loud = await runNode(script, [], { timeoutMs: 30_000 });
	assert.equal(loud.code, 0, loud.stderr);
	const lines = loud.stderr.trimEnd().split('\n');
	assert.match(lines[0] ?? '', /^\$ .*node -e setTimeout/);
	const beats = lines.filter((line) => line.startsWith('… still installing x: '));
	assert.ok(beats.length >= 1, loud.stderr);
	for (const beat of beats) assert.match(beat, /: \d+s$/);
	assert.equal(lines.at(-1), 'exit 0', 'no heartbeat after the command ended');

	const quiet = await runNode(script, ['quiet'], { timeoutMs: 30_000 });
	assert.equal(quiet.code, 0, quiet.stderr);
	assert.doesNotMatch(quiet.stderr, /…/);
});

test('esbuild.mjs prints [watch] lines only in watch mode', async (t) => {
	// The build script builds the tree it sits in: a copy beside one example, with the repository's tools linked.
	const dir = tmpDir(t);
	copyFileSync(join(rootDir, 'esbuild.mjs'), join(dir, 'esbuild.mjs'));
	mkdirSync(join(dir, 'node_modules'));
	for (const name of ['esbuild', '@esbuild', 'typescript']) symlinkSync(join(rootDir, 'node_modules', name), join(dir, 'node_modules', name), 'dir');
	mkdirSync(join(dir, 'runtime', 'examples'), { recursive: true });
	writeFileSync(join(dir, 'runtime', 'examples', 'hello.ts'), "console.log('hello' as string);\n");

	// From another folder: the script builds its own tree wherever it is started.
	const once = await runNode(join(dir, 'esbuild.mjs'), ['--only', 'examples'], { cwd: rootDir, timeoutMs: 60_000 });
	assert.equal(once.code, 0, once.stderr);
	assert.match(once.stdout, /^built examples: 1 entries/m);
	assert.match(once.stdout, /^build done/m);
	assert.doesNotMatch(once.stdout + once.stderr, /\[watch\]/);
	assert.ok(existsSync(join(dir, 'out', 'examples', 'hello.js')));

	const child = spawn(process.execPath, [join(dir, 'esbuild.mjs'), '--only', 'examples', '--watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
	t.after(() => child.kill('SIGKILL'));
	let stdout = '';
	await new Promise<void>((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`no [watch] build finished within 60 s:\n${stdout}`)), 60_000);
		child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
			stdout += chunk;
			if (stdout.includes('[watch] build finished')) {
				clearTimeout(timer);
				resolve();
			}
		});
		child.on('exit', (code) => reject(new Error(`watch exited (${code}):\n${stdout}`)));
	});
	assert.match(stdout, /^\[watch\] build started\n\[watch\] build finished/m);
	// Stopped, and gone, before the temporary folder is removed (that hook was registered first, so it runs first):
	// a watcher still writing into it makes the removal fail.
	const exited = new Promise((resolve) => child.once('close', resolve));
	child.kill('SIGKILL');
	await exited;
});
