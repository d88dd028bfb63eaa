// Level 2b: the details panels as a person sees them, in the light and the dark theme. Packages and installs the
// `.vsix` into code-server (no test hooks), opens a freshly seeded fixture workspace in Debian chromium and, per theme:
// shows the Fleche view, opens the function details of `slowSquare` (two calls made within the same second by the
// seed) and the call details of `add(1, 2)`, and checks what they say — axis titles, distinct time labels, units, no
// epoch seconds or floating-point noise, theme colours — then clicks the source link and checks the editor opened
// src/math.js at the definition's line. The screenshots it takes are the README's (docs/images/, committed: they
// document the extension); it rewrites them only with --screenshots, so a test run leaves the checkout clean.
//
//   node test/integration/panels.mjs [--keep] [--screenshots]     (after `node esbuild.mjs`; exit 0 = all passed)

import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageVsix } from './e2e.mjs';
import { deadline, installVsix, launchChromium, repo, startCodeServer } from './harness.mjs';
import { ensureTools } from './setup.mjs';
import { makeWorkspace } from './workspace.mjs';

const overallMs = 6 * 60_000;
const shots = path.join(repo, 'out', 'integration', 'screenshots', 'panels');
const docsImages = path.join(repo, 'docs', 'images');
const themes = { light: 'Default Light Modern', dark: 'Default Dark Modern' };
/** Ten digits from 2001 on: seconds since the epoch, which the panels must never show. */
const epochLike = /\b1[0-9]{9}(\.\d+)?\b/;

/** Resolves `{ code, passed, failed }` (code 0 = all passed). */
export async function runPanels({ tools, keep = false, screenshots = false } = {}) {
	tools ??= await ensureTools();
	const dir = mkdtempSync(path.join(tmpdir(), 'fleche-panels-'));
	const run = path.join(dir, 'run');
	mkdirSync(run, { recursive: true });
	rmSync(shots, { recursive: true, force: true });
	mkdirSync(shots, { recursive: true });
	const workspace = makeWorkspace(path.join(dir, 'workspace'));
	const started = performance.now();
	const limit = deadline(overallMs, `the panels test did not finish within ${overallMs / 1000} s`);
	let server;
	let browser;
	const checks = [];
	try {
		const vsix = path.join(dir, 'fleche.vsix');
		packageVsix(vsix);
		const extensionsDir = path.join(run, 'ext');
		await installVsix({ tools, dir: run, vsix, extensionsDir });
		const settings = { 'workbench.colorTheme': themes.light, 'window.commandCenter': false, 'workbench.layoutControl.enabled': false };
		server = await startCodeServer({ tools, dir: run, extensionsDir, settings });
		browser = await launchChromium({ tools, dir: run, viewport: { width: 1280, height: 800 } });
		const { page } = browser;

		/** Saves a PNG of `locator` to the run's screenshots and, with --screenshots, to docs/images/`name`.png. */
		const shot = async (locator, name) => {
			const file = path.join(shots, `${name}.png`);
			await locator.screenshot({ path: file });
			if (screenshots) {
				mkdirSync(docsImages, { recursive: true });
				copyFileSync(file, path.join(docsImages, `${name}.png`));
			}
		};
		const check = async (what, body) => {
			const t0 = performance.now();
			try {
				await Promise.race([body(), limit.promise]);
				checks.push({ what, ok: true });
				console.log(`  ✔ ${what} (${Math.round(performance.now() - t0)} ms)`);
			} catch (err) {
				checks.push({ what, ok: false });
				console.error(`  ✘ ${what}: ${err instanceof Error ? err.message : String(err)}`);
				await page.screenshot({ path: path.join(shots, `FAILED-${what.replace(/\W+/g, '-').slice(0, 40)}.png`) }).catch(() => {});
				throw err;
			}
		};
		const quickInput = page.locator('.quick-input-widget .quick-input-box input');
		const palette = async (command) => {
			await page.keyboard.press('F1');
			await quickInput.waitFor({ state: 'visible' });
			await quickInput.fill(`>${command}`);
			await page.locator('.quick-input-widget .monaco-list-row', { hasText: command }).first().waitFor();
			await page.keyboard.press('Enter');
		};
		const pick = async (text) => {
			const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: text }).first();
			await row.waitFor({ state: 'visible' });
			await row.click();
		};
		/** The webview frame whose text passes `test` (webviews are nested cross-origin iframes). */
		const webviewFrame = async (what, test) => {
			const end = Date.now() + 30_000;
			while (Date.now() < end) {
				for (const f of page.frames()) {
					const text = await f
						.locator('body')
						.innerText({ timeout: 500 })
						.catch(() => '');
					if (test(text)) return f;
				}
				await page.waitForTimeout(300);
			}
			throw new Error(`no webview frame shows ${what}`);
		};
		/**
		 * Runs `body` on the webview frame whose text passes `test`, again on a fresh search when the frame is replaced
		 * meanwhile (VS Code swaps a webview's inner frame when it sets the panel's content).
		 */
		const inWebview = async (what, test, body) => {
			for (let attempt = 1; ; attempt++) {
				const frame = await webviewFrame(what, test);
				try {
					return await body(frame);
				} catch (err) {
					if (attempt >= 3 || !/detached/i.test(String(err instanceof Error ? err.message : err))) throw err;
				}
			}
		};
		const closeEditors = async () => {
			await palette('View: Close All Editors');
			await page
				.locator('.editor-group-container .tab')
				.first()
				.waitFor({ state: 'detached', timeout: 10_000 })
				.catch(() => {});
		};

		console.log('details panels (code-server + chromium, light and dark):');
		await check('the workbench loads the folder in the light theme', async () => {
			await page.goto(`${server.server}/?folder=${encodeURIComponent(workspace)}`, { waitUntil: 'domcontentloaded', timeout: 90_000 });
			await page.locator('.monaco-workbench.vs').waitFor({ timeout: 60_000 });
		});

		for (const theme of ['light', 'dark']) {
			if (theme === 'dark') {
				await check('the dark theme applies (user settings changed while running)', async () => {
					writeFileSync(path.join(run, 'user', 'User', 'settings.json'), JSON.stringify({ ...settings, 'workbench.colorTheme': themes.dark }, null, '\t'));
					await page.locator('.monaco-workbench.vs-dark').waitFor({ timeout: 30_000 });
				});
			}

			await check(`${theme}: the Fleche view lists the cached functions`, async () => {
				const activity = page.locator('.activitybar [aria-label^="Fleche"]').first();
				const sidebar = page.locator('.part.sidebar');
				if (!(await sidebar.locator('[role=treeitem]', { hasText: 'slowSquare' }).first().isVisible())) await activity.click();
				await sidebar.locator('[role=treeitem]', { hasText: 'slowSquare' }).first().waitFor({ timeout: 60_000 });
				await shot(sidebar, `tree-${theme}`);
			});

			await check(`${theme}: function details show axes with units and distinct time labels, no epoch numbers`, async () => {
				await closeEditors();
				await palette('Fleche: Show Function Details');
				await pick('slowSquare');
				await inWebview(
					'the slowSquare function details',
					(text) => /durations over time/i.test(text) && text.includes('slowSquare'),
					async (frame) => {
						const body = frame.locator('body');
						await frame.locator('figure.chart-figure svg .x-tick').first().waitFor();
						const bodyClass = String(await body.getAttribute('class'));
						if (!bodyClass.includes(`vscode-${theme}`)) throw new Error(`the webview body is "${bodyClass}", not vscode-${theme}`);
						const durations = frame.locator('figure.chart-figure').first();
						const xTitle = await durations.locator('.x-title').textContent();
						const yTitle = await durations.locator('.y-title').textContent();
						if (!/^created \(/.test(String(xTitle)) || yTitle !== 'duration') throw new Error(`axis titles: ${xTitle} / ${yTitle}`);
						const xLabels = await durations.locator('.x-tick').allTextContents();
						if (xLabels.length === 0 || new Set(xLabels).size !== xLabels.length) throw new Error(`time labels not distinct: ${JSON.stringify(xLabels)}`);
						const yLabels = await durations.locator('.y-tick').allTextContents();
						if (!yLabels.slice(1).every((l) => /\d (µs|ms|s|min|h)$/.test(l))) throw new Error(`duration ticks without units: ${JSON.stringify(yLabels)}`);
						const text = await body.innerText();
						if (epochLike.test(text)) throw new Error(`an epoch number on the page: ${text.match(epochLike)[0]}`);
						if (!/cached calls\s+2 calls/.test(text) || !/\d+ (min|h|d) ago|just now/.test(text)) throw new Error(`facts missing: ${text.slice(0, 400)}`);
						await shot(body, `details-function-${theme}`);
					},
				);
			});

			await check(`${theme}: call details show dates, durations and sizes, metadata by kind`, async () => {
				await closeEditors();
				await palette('Fleche: Show Call Details');
				await pick('add');
				await pick('a=1, b=2');
				await inWebview(
					'the add(1, 2) call details',
					(text) => /metadata/i.test(text) && text.includes('timestart'),
					async (frame) => {
						const body = frame.locator('body');
						const text = await body.innerText();
						if (epochLike.test(text)) throw new Error(`an epoch number on the page: ${text.match(epochLike)[0]}`);
						if (/\d\.\d{10,}/.test(text)) throw new Error(`floating-point noise on the page: ${text.match(/\d\.\d{10,}/)[0]}`);
						for (const want of [
							/took\s+[\d.]+ (µs|ms|s)/,
							/CPU time\s+[\d.]+ (µs|ms|s)/,
							/created\s+\d+ \w{3} \d{4} \d\d:\d\d:\d\d · /,
							/cputime: [\d.]+ (µs|ms|s)/,
						]) {
							if (!want.test(text)) throw new Error(`no ${want} in: ${text.slice(0, 600)}`);
						}
						await shot(body, `details-call-${theme}`);
					},
				);
			});

			await check(`${theme}: the source link opens src/math.js at add's line`, async () => {
				await inWebview(
					'the add(1, 2) call details',
					(text) => /metadata/i.test(text) && text.includes('timestart'),
					async (frame) => {
						const link = frame.locator('a.source');
						const label = await link.textContent();
						if (label !== 'src/math.js:5') throw new Error(`the link reads ${JSON.stringify(label)}`);
						await link.click();
					},
				);
				await page.locator('.tab.active', { hasText: 'math.js' }).waitFor({ timeout: 20_000 });
				const cursor = page.locator('[id="status.editor.selection"]');
				await cursor.filter({ hasText: /Ln 5,/ }).waitFor({ timeout: 20_000 });
			});
		}

		const failed = checks.filter((c) => !c.ok).length;
		console.log(
			`details panels ${failed === 0 ? 'passed' : 'failed'}: ${checks.length - failed}/${checks.length} checks in ${((performance.now() - started) / 1000).toFixed(1)}s; screenshots in ${path.relative(repo, shots)}/${screenshots ? ' and docs/images/' : ''}`,
		);
		return { code: failed === 0 ? 0 : 1, passed: checks.length - failed, failed };
	} catch (err) {
		console.error(`details panels failed: ${err instanceof Error ? err.message : String(err)}`);
		return { code: 1, passed: checks.filter((c) => c.ok).length, failed: Math.max(1, checks.filter((c) => !c.ok).length) };
	} finally {
		limit.cancel();
		await browser?.context.close().catch(() => {});
		server?.stop();
		if (keep) console.log(`kept ${dir}`);
		else rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
	}
}

if (import.meta.filename === path.resolve(process.argv[1] ?? '')) {
	const { values } = parseArgs({ options: { keep: { type: 'boolean', default: false }, screenshots: { type: 'boolean', default: false } } });
	process.exitCode = (await runPanels({ keep: values.keep, screenshots: values.screenshots })).code;
}
