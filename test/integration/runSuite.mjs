// Level 1: runs the mocha suite (out/test-integration/suite/index.js) inside code-server's real extension host,
// with this checkout as the extension under development, against a freshly seeded fixture workspace (corrupt
// variant). The workbench runs the tests when the page URL carries a `payload` (code-server honours it only with
// --vscode-option enable-smoke-test-driver); chromium reports the result through codeAutomationExit.
//
//   node test/integration/runSuite.mjs [--keep]     (after `node esbuild.mjs`; exit 0 = all passed)

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, format } from 'node:util';
import { ensureTools } from './setup.mjs';
import { deadline, launchChromium, repo, startCodeServer } from './harness.mjs';
import { makeWorkspace } from './workspace.mjs';

const overallMs = 5 * 60_000;

/** Resolves `{ code, passed, failed }` (code 0 = every test passed). */
export async function runSuite({ tools, keep = false } = {}) {
	tools ??= await ensureTools();
	const suiteIndex = path.join(repo, 'out', 'test-integration', 'suite', 'index.js');
	const dir = mkdtempSync(path.join(tmpdir(), 'fleche-integration-'));
	const workspace = makeWorkspace(path.join(dir, 'workspace'), { corrupt: true });
	mkdirSync(path.join(dir, 'run'), { recursive: true });
	const started = performance.now();
	let server;
	let browser;
	const limit = deadline(overallMs, `the integration suite did not finish within ${overallMs / 1000} s`);
	try {
		server = await startCodeServer({ tools, dir: path.join(dir, 'run'), smokeTest: true });
		const remote = (p) => `vscode-remote://${server.host}${path.resolve(p)}`;
		const payload = JSON.stringify([
			['extensionDevelopmentPath', remote(repo)],
			['extensionTestsPath', remote(suiteIndex)],
			['skipWelcome', 'true'],
		]);
		const url = `${server.server}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(payload)}`;
		browser = await launchChromium({ tools, dir: path.join(dir, 'run') });
		const { page } = browser;
		let finish;
		const exited = new Promise((resolve) => (finish = resolve));
		const counts = { passed: 0, failed: 0 };
		await page.exposeFunction('codeAutomationLog', (type, args) => {
			const line = format(...(Array.isArray(args) ? args : [args]));
			// mocha's spec reporter summary, for test/run.mjs's final count.
			const summary = /^\s*(\d+) (passing|failing)\b/.exec(line);
			if (summary) counts[summary[2] === 'passing' ? 'passed' : 'failed'] = Number(summary[1]);
			if (type === 'error') console.error(line);
			else console.log(line);
		});
		await page.exposeFunction('codeAutomationExit', (code) => finish(Number(code)));
		await page.goto(url);
		const code = await Promise.race([exited, limit.promise]);
		console.log(`integration suite ${code === 0 ? 'passed' : `failed (exit ${code})`} in ${((performance.now() - started) / 1000).toFixed(1)}s`);
		// A run that failed before mocha summarised (no tests ran) still counts as one failure.
		if (code !== 0 && counts.failed === 0) counts.failed = 1;
		return { code, ...counts };
	} finally {
		limit.cancel();
		await browser?.context.close().catch(() => {});
		server?.stop();
		if (keep) console.log(`kept ${dir}`);
		else rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
	}
}

if (import.meta.filename === path.resolve(process.argv[1] ?? '')) {
	const { values } = parseArgs({ options: { keep: { type: 'boolean', default: false } } });
	try {
		process.exitCode = (await runSuite({ keep: values.keep })).code;
	} catch (err) {
		console.error(`integration suite: ${err instanceof Error ? err.message : String(err)}`);
		process.exitCode = 1;
	}
}
