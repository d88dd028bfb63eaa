// What the browser drivers (e2e.mjs, panels.mjs) share: named checks raced against the overall deadline (a
// screenshot on failure), the workbench's quick input (command palette and picks), finding a webview's frame, and
// the summary line and clean-up every driver ends with.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deadline } from './harness.mjs';
import { makeWorkspace } from './workspace.mjs';

/**
 * A driver's scratch folder (`dir`, with `run/` for code-server and chromium), a fresh `shots` folder, a freshly
 * seeded workspace, the start time and the overall deadline.
 */
export function startRun({ name, shots, overallMs }) {
	const dir = mkdtempSync(path.join(tmpdir(), `fleche-${name}-`));
	const run = path.join(dir, 'run');
	mkdirSync(run, { recursive: true });
	rmSync(shots, { recursive: true, force: true });
	mkdirSync(shots, { recursive: true });
	const workspace = makeWorkspace(path.join(dir, 'workspace'));
	const limit = deadline(overallMs, `the ${name} test did not finish within ${overallMs / 1000} s`);
	return { dir, run, workspace, started: performance.now(), limit };
}

/**
 * Named checks: `check(what, body)` runs `body` against `limit` (from harness.mjs `deadline`), prints ✔/✘ with the
 * time taken, and on failure saves `failedShot(name)` before rethrowing. `summary(label, started)` prints the last
 * line and returns `{ code, passed, failed }`.
 */
export function checker({ limit, failedShot }) {
	const checks = [];
	const check = async (what, body) => {
		const t0 = performance.now();
		try {
			await Promise.race([body(), limit.promise]);
			checks.push({ what, ok: true });
			console.log(`  ✔ ${what} (${Math.round(performance.now() - t0)} ms)`);
		} catch (err) {
			checks.push({ what, ok: false });
			console.error(`  ✘ ${what}: ${err instanceof Error ? err.message : String(err)}`);
			await failedShot(`FAILED-${what.replace(/\W+/g, '-').slice(0, 40)}`).catch(() => {});
			throw err;
		}
	};
	const counts = () => {
		const failed = checks.filter((c) => !c.ok).length;
		return { passed: checks.length - failed, failed };
	};
	/** The result after every check passed (or one threw: call `failure(label, err)` instead). */
	const summary = (label, started, where) => {
		const { passed, failed } = counts();
		console.log(
			`${label} ${failed === 0 ? 'passed' : 'failed'}: ${passed}/${checks.length} checks in ${((performance.now() - started) / 1000).toFixed(1)}s; ${where}`,
		);
		return { code: failed === 0 ? 0 : 1, passed, failed };
	};
	const failure = (label, err) => {
		console.error(`${label} failed: ${err instanceof Error ? err.message : String(err)}`);
		const { passed, failed } = counts();
		return { code: 1, passed, failed: Math.max(1, failed) };
	};
	return { check, summary, failure };
}

/** The workbench's quick input: run a palette command, pick a row, find a webview frame by its text. */
export function workbench(page) {
	const quickInput = page.locator('.quick-input-widget .quick-input-box input');
	const row = (text) => page.locator('.quick-input-widget .monaco-list-row', { hasText: text }).first();
	return {
		quickInput,
		async palette(command) {
			await page.keyboard.press('F1');
			await quickInput.waitFor({ state: 'visible' });
			await quickInput.fill(`>${command}`);
			await row(command).waitFor();
			await page.keyboard.press('Enter');
		},
		async pick(text) {
			await row(text).waitFor({ state: 'visible' });
			await row(text).click();
		},
		/**
		 * The frame whose body text passes `test` (webviews are nested cross-origin iframes), within 30 s. Never the
		 * workbench itself: its tree can show the same argument text, and a check of "the webview" then read the tree.
		 */
		async webviewFrame(what, test) {
			const end = Date.now() + 30_000;
			while (Date.now() < end) {
				for (const f of page.frames()) {
					if (f === page.mainFrame()) continue;
					const text = await f
						.locator('body')
						.innerText({ timeout: 500 })
						.catch(() => '');
					if (test(text)) return f;
				}
				await page.waitForTimeout(300);
			}
			throw new Error(`no webview frame shows ${what}`);
		},
	};
}

/** Ends a driver's run: the deadline, the browser, code-server's process group, the scratch folder (unless `keep`). */
export async function cleanUp({ limit, browser, server, dir, keep }) {
	limit.cancel();
	await browser?.context.close().catch(() => {});
	server?.stop();
	if (keep) console.log(`kept ${dir}`);
	else rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
