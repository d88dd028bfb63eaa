// Shared pieces of the two integration drivers (runSuite.mjs, e2e.mjs): code-server on 127.0.0.1 with its own
// user-data, extensions and XDG folders, and Debian chromium through playwright-core, both confined to a scratch
// folder and killed on every exit path (see docs/editor-testing.md).

import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const repo = path.resolve(import.meta.dirname, '..', '..');

/** A free TCP port on 127.0.0.1 (asked of the OS, then released for code-server to bind). */
export function freePort() {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.unref();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address();
			server.close(() => resolve(port));
		});
	});
}

const userSettings = {
	'workbench.startupEditor': 'none',
	'workbench.tips.enabled': false,
	'telemetry.telemetryLevel': 'off',
	'update.mode': 'none',
	'extensions.autoCheckUpdates': false,
	'extensions.autoUpdate': false,
	'security.workspace.trust.enabled': false,
	'chat.disableAIFeatures': true,
	'workbench.secondarySideBar.defaultVisibility': 'hidden',
	'workbench.enableExperiments': false,
	'git.enabled': false,
	'typescript.tsserver.experimental.enableProjectDiagnostics': false,
};

/** The scratch environment every child of a run gets: HOME/TMPDIR/XDG inside `dir`, so nothing lands in ~ or /tmp. */
export function scratchEnv(dir) {
	const home = path.join(dir, 'home');
	const tmp = path.join(dir, 'tmp');
	const xdg = path.join(dir, 'xdg');
	for (const d of [home, tmp, xdg]) mkdirSync(d, { recursive: true });
	return { ...process.env, HOME: home, TMPDIR: tmp, XDG_CONFIG_HOME: xdg, XDG_DATA_HOME: xdg, XDG_CACHE_HOME: xdg };
}

/**
 * Starts code-server (with Node 24) on `port`, or a free port when none is given. `smokeTest` enables the test payload (level 1). Resolves once
 * /healthz answers; `stop()` kills its whole process group (the extension host and tsserver outlive the page);
 * `exited` resolves when code-server exits.
 */
export async function startCodeServer({ tools, dir, port, smokeTest = false, extensionsDir, settings = {}, log = 'code-server.log' }) {
	port ??= await freePort();
	const userDir = path.join(dir, 'user');
	mkdirSync(path.join(userDir, 'User'), { recursive: true });
	writeFileSync(path.join(userDir, 'User', 'settings.json'), JSON.stringify({ ...userSettings, ...settings }, null, '\t'));
	const extDir = extensionsDir ?? path.join(dir, 'ext');
	mkdirSync(extDir, { recursive: true });
	const args = [
		tools.codeServer,
		'--bind-addr', `127.0.0.1:${port}`,
		'--auth', 'none',
		'--disable-telemetry',
		'--disable-update-check',
		'--disable-workspace-trust',
		'--disable-getting-started-override',
		'--user-data-dir', userDir,
		'--extensions-dir', extDir,
		'--reconnection-grace-time', '5',
		...(smokeTest ? ['--vscode-option', 'enable-smoke-test-driver'] : []),
	];
	const out = createWriteStream(path.join(dir, log));
	const child = spawn(tools.node24, args, {
		env: scratchEnv(dir),
		detached: true, // its own process group, killed whole
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	child.stdout.pipe(out);
	child.stderr.pipe(out);
	let exited = false;
	const gone = new Promise((resolve) => child.on('exit', () => resolve((exited = true))));
	/** Signals the whole group (default SIGKILL); resolves once code-server itself has exited. */
	const stop = (signal = 'SIGKILL') => {
		if (child.pid === undefined || exited) return gone;
		try {
			process.kill(-child.pid, signal);
		} catch {
			// already gone
		}
		return gone;
	};
	process.once('exit', () => void stop());
	const server = `http://127.0.0.1:${port}`;
	const deadline = Date.now() + 60_000;
	for (;;) {
		if (exited) throw new Error(`code-server exited during start-up; see ${path.join(dir, log)}`);
		try {
			const res = await fetch(`${server}/healthz`);
			if (res.ok) break;
		} catch {
			// not listening yet
		}
		if (Date.now() > deadline) {
			stop();
			throw new Error(`code-server did not answer on ${server} within 60 s; see ${path.join(dir, log)}`);
		}
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
	return { server, host: `127.0.0.1:${port}`, port, stop, exited: gone };
}

/** Installs a `.vsix` into an extensions folder with code-server's own CLI. */
export function installVsix({ tools, dir, vsix, extensionsDir }) {
	return new Promise((resolve, reject) => {
		const child = spawn(
			tools.node24,
			[tools.codeServer, '--extensions-dir', extensionsDir, '--user-data-dir', path.join(dir, 'user'), '--install-extension', vsix],
			{ env: scratchEnv(dir), stdio: ['ignore', 'pipe', 'pipe'] },
		);
		let output = '';
		child.stdout.on('data', (d) => (output += d));
		child.stderr.on('data', (d) => (output += d));
		child.on('error', reject);
		child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`installing ${vsix} failed (exit ${code}):\n${output}`))));
	});
}

/** Debian chromium through playwright-core, headless, with a fresh profile inside `dir`. */
export async function launchChromium({ tools, dir, viewport = { width: 1400, height: 900 } }) {
	const env = scratchEnv(dir);
	const context = await chromium.launchPersistentContext(path.join(dir, 'chromium-profile'), {
		executablePath: tools.chromium,
		headless: true,
		viewport,
		env,
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-quic',
			'--no-first-run',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
			'--disable-dev-shm-usage',
		],
	});
	const page = context.pages()[0] ?? (await context.newPage());
	return { context, page };
}

/** Rejects after `ms` with `message`, for overall timeouts raced against a run. */
export function deadline(ms, message) {
	let timer;
	const promise = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(message)), ms);
		timer.unref();
	});
	return { promise, cancel: () => clearTimeout(timer) };
}
