// Level 2: what a person sees. Packages the extension as a .vsix, installs it into code-server (no test hooks), opens
// a freshly seeded fixture workspace in Debian chromium through playwright-core and drives the real UI: the Fleche
// view, the CodeLens over math.js, rerun from the lens quick pick, invalidate from the command palette (through
// the modal), and the call details webview with an HTML argument that must stay inert. Screenshots of every step
// go to out/integration/screenshots/.
//
//   node test/integration/e2e.mjs [--keep]     (after `node esbuild.mjs`; exit 0 = all checks passed)

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { installVsix, launchChromium, repo, startCodeServer } from './harness.mjs';
import { ensureTools } from './setup.mjs';
import { checker, cleanUp, startRun, workbench } from './ui.mjs';

const overallMs = 5 * 60_000;
const shots = path.join(repo, 'out', 'integration', 'screenshots');
const xss = '<img src=x onerror=alert(1)>';

/** `fleche: 2 hits · 3 misses · 3 cached` (the contract's lens title). */
const lens = (hits, misses, cached) =>
	`fleche: ${hits} ${hits === 1 ? 'hit' : 'hits'} · ${misses} ${misses === 1 ? 'miss' : 'misses'} · ${cached} cached`;

/** Packages this checkout's current build (dist/) as a `.vsix` at `out`, with vsce, offline. */
export function packageVsix(out) {
	const vsce = path.join(repo, 'node_modules', '@vscode', 'vsce', 'vsce');
	const result = spawnSync(
		process.execPath,
		[vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', '--skip-license', '--out', out],
		{ cwd: repo, encoding: 'utf8', env: { ...process.env, VSCE_SKIP_PREPUBLISH: '1' } },
	);
	if (result.status !== 0) throw new Error(`vsce package failed (exit ${result.status}):\n${result.stderr}${result.stdout}`);
}

/** Resolves `{ code, passed, failed }` over the checks below (code 0 = all passed). */
export async function runE2e({ tools, keep = false } = {}) {
	tools ??= await ensureTools();
	const { dir, run, workspace, started, limit } = startRun({ name: 'e2e', shots, overallMs });
	let server;
	let browser;
	let step = 0;
	const shot = async (name) => {
		const file = path.join(shots, `${String(++step).padStart(2, '0')}-${name}.png`);
		await browser?.page.screenshot({ path: file });
		return file;
	};
	const { check, summary, failure } = checker({ limit, failedShot: shot });
	try {
		const vsix = path.join(dir, 'fleche.vsix');
		packageVsix(vsix);
		const extensionsDir = path.join(run, 'ext');
		await installVsix({ tools, dir: run, vsix, extensionsDir });
		server = await startCodeServer({ tools, dir: run, extensionsDir });
		browser = await launchChromium({ tools, dir: run });
		const { page } = browser;
		const dialogs = [];
		page.on('dialog', (dialog) => {
			dialogs.push(dialog.message());
			void dialog.dismiss();
		});
		const { palette, pick, webviewFrame } = workbench(page);
		const lensText = () => page.locator('.codelens-decoration a').allInnerTexts();
		const waitLens = (title) =>
			page.locator('.codelens-decoration a', { hasText: title }).first().waitFor({ state: 'visible', timeout: 60_000 });

		console.log('end-to-end (code-server + chromium):');
		await check('the workbench loads the folder', async () => {
			await page.goto(`${server.server}/?folder=${encodeURIComponent(workspace)}`);
			await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
		});

		await check('the Fleche view lists the cached functions', async () => {
			await page.locator('.activitybar [aria-label^="Fleche"]').first().click();
			await page.getByRole('treeitem', { name: /\.fleche/ }).first().waitFor({ timeout: 60_000 });
			for (const name of ['add', 'slowSquare', 'greet', 'Shapes.area', 'label']) {
				const exact = new RegExp(`^${name.replace('.', '\\.')}$`);
				await page.locator('[role=treeitem] .label-name', { hasText: exact }).first().waitFor();
			}
			await shot('tree');
		});

		await check('math.js shows the lens with the seeded counts', async () => {
			await page.keyboard.press('Control+P');
			const input = page.locator('.quick-input-widget .quick-input-box input');
			await input.waitFor({ state: 'visible' });
			await input.fill('math.js');
			await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'math.js' }).first().waitFor();
			await page.keyboard.press('Enter');
			await waitLens(lens(2, 3, 3));
			const texts = await lensText();
			for (const want of [lens(2, 3, 3), lens(1, 2, 2), lens(0, 2, 2)]) {
				if (!texts.includes(want)) throw new Error(`no lens "${want}" among ${JSON.stringify(texts)}`);
			}
			await shot('lens');
		});

		await check('clicking the lens and rerunning a call updates the count', async () => {
			await page.locator('.codelens-decoration a', { hasText: lens(2, 3, 3) }).first().click();
			await pick('Rerun a cached call');
			await shot('lens-quick-pick');
			await pick('a=1, b=2');
			await waitLens(lens(2, 4, 3));
			await shot('after-rerun');
		});

		await check('Invalidate Call… from the palette asks first, then removes the call', async () => {
			await palette('Fleche: Invalidate Call');
			await pick('add');
			await pick('a=40, b=2');
			const confirm = page.locator('.monaco-dialog-box');
			await confirm.waitFor({ state: 'visible' });
			await shot('invalidate-modal');
			await confirm.getByRole('button', { name: 'Invalidate' }).click();
			await waitLens(lens(2, 4, 2));
			await shot('after-invalidate');
		});

		await check('the details webview shows the arguments, and the HTML argument stays inert text', async () => {
			await palette('Fleche: Show Call Details');
			await pick('greet');
			await pick('onerror');
			const frame = await webviewFrame('the argument text', (text) => text.includes(xss) && text.includes('hello'));
			// Rendered as text: no element was made from it, and no dialog fired.
			const injected = await frame.locator('img[src="x"]').count();
			if (injected !== 0) throw new Error(`${injected} <img src=x> element(s) in the webview`);
			await page.waitForTimeout(500);
			if (dialogs.length > 0) throw new Error(`a dialog fired: ${JSON.stringify(dialogs)}`);
			const text = await frame.locator('body').innerText();
			if (!/name/.test(text)) throw new Error(`the argument name is not shown: ${text.slice(0, 200)}`);
			await shot('details-webview');
			// Headless page screenshots leave cross-origin webview frames blank: capture the frame's own body too.
			await frame.locator('body').screenshot({ path: path.join(shots, `${String(++step).padStart(2, '0')}-details-webview-content.png`) });
		});

		return summary('end-to-end', started, `screenshots in ${path.relative(repo, shots)}/`);
	} catch (err) {
		return failure('end-to-end', err);
	} finally {
		await cleanUp({ limit, browser, server, dir, keep });
	}
}

if (import.meta.filename === path.resolve(process.argv[1] ?? '')) {
	const { values } = parseArgs({ options: { keep: { type: 'boolean', default: false } } });
	process.exitCode = (await runE2e({ keep: values.keep })).code;
}
