// Level 2b: the details panels as a person sees them, in the light and the dark theme. Packages and installs the
// `.vsix` into code-server (no test hooks), opens a freshly seeded fixture workspace in Debian chromium and, per theme:
// shows the Fleche view, opens the function details of `slowSquare` (two calls made within the same second by the
// seed) and the call details of `add(1, 2)`, and checks what they say — axis titles, distinct time labels, units, no
// epoch seconds or floating-point noise, theme colours — then clicks the source link and checks the editor opened
// src/math.js at the definition's line. The screenshots it takes are the README's (docs/images/, committed: they
// document the extension); it rewrites them only with --screenshots, so a test run leaves the checkout clean.
//
//   node test/integration/panels.mjs [--keep] [--screenshots]     (after `node esbuild.mjs`; exit 0 = all passed)

import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageVsix } from './e2e.mjs';
import { installVsix, launchChromium, repo, startCodeServer } from './harness.mjs';
import { ensureTools } from './setup.mjs';
import { checker, cleanUp, startRun, workbench } from './ui.mjs';

const overallMs = 6 * 60_000;
const shots = path.join(repo, 'out', 'integration', 'screenshots', 'panels');
const docsImages = path.join(repo, 'docs', 'images');
const themes = { light: 'Default Light Modern', dark: 'Default Dark Modern' };
/** Ten digits from 2001 on: seconds since the epoch, which the panels must never show. */
const epochLike = /\b1[0-9]{9}(\.\d+)?\b/;

/** Resolves `{ code, passed, failed }` (code 0 = all passed). */
export async function runPanels({ tools, keep = false, screenshots = false } = {}) {
	tools ??= await ensureTools();
	const { dir, run, workspace, started, limit } = startRun({ name: 'panels', shots, overallMs });
	let server;
	let browser;
	const { check, summary, failure } = checker({
		limit,
		failedShot: async (name) => browser?.page.screenshot({ path: path.join(shots, `${name}.png`) }),
	});
	try {
		const vsix = path.join(dir, 'fleche.vsix');
		packageVsix(vsix);
		const extensionsDir = path.join(run, 'ext');
		await installVsix({ tools, dir: run, vsix, extensionsDir });
		const settings = { 'workbench.colorTheme': themes.light, 'window.commandCenter': false, 'workbench.layoutControl.enabled': false };
		server = await startCodeServer({ tools, dir: run, extensionsDir, settings });
		// Tall enough that a whole panel fits in the editor: element screenshots inside a webview's nested frames
		// come out blank when the element must be scrolled.
		browser = await launchChromium({ tools, dir: run, viewport: { width: 1200, height: 1500 } });
		const { page } = browser;

		/** Saves a PNG of `locator` to the run's screenshots and, with --screenshots, to docs/images/`name`.png. */
		const shot = async (locator, name, maxHeight = Infinity) => {
			const file = path.join(shots, `${name}.png`);
			const box = await locator.boundingBox();
			if (box === null) throw new Error(`${name}: nothing to take a screenshot of`);
			await page.screenshot({ path: file, clip: { ...box, height: Math.min(box.height, maxHeight) } });
			if (screenshots) {
				mkdirSync(docsImages, { recursive: true });
				copyFileSync(file, path.join(docsImages, `${name}.png`));
			}
		};
		const { quickInput, palette, pick, webviewFrame } = workbench(page);
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
				await check('the dark theme applies (Ctrl+K Ctrl+T, the color theme picker)', async () => {
					await page.keyboard.press('Escape');
					await page.keyboard.press('Control+K');
					await page.keyboard.press('Control+T');
					await quickInput.waitFor({ state: 'visible' });
					await quickInput.fill('Dark Modern');
					await page.locator('.quick-input-widget .monaco-list-row[aria-label*="Dark Modern"]').first().waitFor();
					await page.keyboard.press('Enter');
					await page.locator('.monaco-workbench.vs-dark').waitFor({ timeout: 30_000 });
				});
			}

			await check(`${theme}: the Fleche view lists the cached functions`, async () => {
				const activity = page.locator('.activitybar [aria-label^="Fleche"]').first();
				const sidebar = page.locator('.part.sidebar');
				if (!(await sidebar.locator('[role=treeitem]', { hasText: 'slowSquare' }).first().isVisible())) await activity.click();
				await sidebar.locator('[role=treeitem]', { hasText: 'slowSquare' }).first().waitFor({ timeout: 60_000 });
				await shot(sidebar, `tree-${theme}`, 260);
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

		return summary('details panels', started, `screenshots in ${path.relative(repo, shots)}/${screenshots ? ' and docs/images/' : ''}`);
	} catch (err) {
		return failure('details panels', err);
	} finally {
		await cleanUp({ limit, browser, server, dir, keep });
	}
}

if (import.meta.filename === path.resolve(process.argv[1] ?? '')) {
	const { values } = parseArgs({ options: { keep: { type: 'boolean', default: false }, screenshots: { type: 'boolean', default: false } } });
	process.exitCode = (await runPanels({ keep: values.keep, screenshots: values.screenshots })).code;
}
