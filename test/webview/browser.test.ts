// The details webview in real chromium (Debian's, through playwright-core): the bundle esbuild makes from
// webview/src/main.ts, under the panel's own Content-Security-Policy (a nonce for scripts, stylesheets from the
// resource origin only), fed states that extension/src/model/details.ts makes. A stand-in for `acquireVsCodeApi`
// records what the page posts. Asserts on content — dates in the browser's zone, units, axis labels, no epoch
// numbers, the source link's message, hover readouts, 10,000 points — and that the CSP was never violated.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { callDetailsState, functionDetailsState, type CallDetailInfo } from '../../extension/src/model/details.ts';
import type { CallInfo } from '../../extension/src/model/callTree.ts';
import type { DetailsState } from '../../webview/src/protocol.ts';
import { tmpDir } from '../support/tmp.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const chromiumPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const skip = chromiumPath === undefined ? 'machine lacks: chromium (/usr/bin/chromium; test/integration/setup.mjs installs it)' : false;

/** The colours a VS Code theme gives its webviews (a few of the variables styles.css uses). */
const themes = {
	light: { 'body-class': 'vscode-light', foreground: 'rgb(59, 59, 59)', background: 'rgb(255, 255, 255)', link: 'rgb(0, 94, 184)', blue: 'rgb(0, 122, 204)' },
	dark: { 'body-class': 'vscode-dark', foreground: 'rgb(204, 204, 204)', background: 'rgb(31, 31, 31)', link: 'rgb(55, 148, 255)', blue: 'rgb(55, 148, 255)' },
} as const;

function themeCss(theme: (typeof themes)[keyof typeof themes]): string {
	return `body {
	--vscode-font-family: sans-serif; --vscode-font-size: 13px; --vscode-editor-font-family: monospace; --vscode-editor-font-size: 12px;
	--vscode-foreground: ${theme.foreground}; --vscode-editor-background: ${theme.background}; --vscode-descriptionForeground: ${theme.foreground};
	--vscode-textLink-foreground: ${theme.link}; --vscode-charts-blue: ${theme.blue}; --vscode-charts-orange: rgb(209, 134, 22);
	--vscode-panel-border: rgb(128, 128, 128); --vscode-focusBorder: rgb(0, 120, 212);
}`;
}

/** The stand-in for VS Code's webview API (served as a nonce'd script like the bundle): records posts and violations. */
const stub = `
window.posted = []; window.violations = []; let saved;
document.addEventListener('securitypolicyviolation', (e) => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));
window.acquireVsCodeApi = () => ({ postMessage: (m) => window.posted.push(m), getState: () => saved, setState: (s) => { saved = s; } });`;

let server: Server;
let origin: string;
let browser: Browser;
const nonce = randomBytes(16).toString('base64');

before(async () => {
	if (skip) return;
	const built = await esbuild.build({
		entryPoints: { details: path.join(repo, 'webview/src/main.ts') },
		bundle: true,
		format: 'iife',
		platform: 'browser',
		target: 'es2022',
		tsconfig: path.join(repo, 'webview/tsconfig.json'),
		write: false,
		logLevel: 'silent',
	});
	const script = built.outputFiles[0]!.text;
	const styles = readFileSync(path.join(repo, 'webview/src/styles.css'), 'utf8');
	server = createServer((req, res) => {
		const url = new URL(req.url ?? '/', 'http://x');
		const theme = url.searchParams.get('theme') === 'dark' ? themes.dark : themes.light;
		const send = (type: string, body: string): void => void res.writeHead(200, { 'content-type': type }).end(body);
		if (url.pathname === '/details.js') return send('text/javascript', script);
		if (url.pathname === '/stub.js') return send('text/javascript', stub);
		if (url.pathname === '/details.css') return send('text/css', styles);
		if (url.pathname === '/theme.css') return send('text/css', themeCss(theme));
		// The panel's policy (extension/src/panels/detailsHtml.ts), with this server as the resource origin.
		const csp = `default-src 'none'; style-src ${origin}; script-src 'nonce-${nonce}'; img-src ${origin} data:; font-src ${origin}`;
		send(
			'text/html',
			`<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<link rel="stylesheet" href="/theme.css?${url.searchParams.toString()}"><link rel="stylesheet" href="/details.css"></head>
<body class="${theme['body-class']}"><main id="root"></main>
<script nonce="${nonce}" src="/stub.js"></script>
<script nonce="${nonce}" src="/details.js"></script></body></html>`,
		);
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	const home = tmpDir();
	browser = await chromium.launch({
		executablePath: chromiumPath,
		headless: true,
		env: { ...process.env, HOME: home, TMPDIR: home, XDG_CONFIG_HOME: home, XDG_CACHE_HOME: home },
		args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage'],
	});
});

after(async () => {
	await browser?.close();
	server?.close();
});

/** A page showing `state`, in a browser whose time zone is India's (UTC+5:30): dates must come out local. */
async function open(state: DetailsState, theme: 'light' | 'dark' = 'light'): Promise<Page> {
	const context = await browser.newContext({ timezoneId: 'Asia/Kolkata', viewport: { width: 900, height: 1200 } });
	// The page's clock stands still at the state's `now`, so ages read the same on every run.
	await context.clock.setFixedTime(new Date(state.now * 1000));
	const page = await context.newPage();
	await page.goto(`${origin}/?theme=${theme}`);
	await page.waitForFunction(() => (window as unknown as { posted: { type: string }[] }).posted.some((m) => m.type === 'ready'));
	// As JSON text: Playwright's own serialisation of a 10,000-point object takes many seconds.
	await page.evaluate((json) => {
		(window as unknown as { sent: number }).sent = performance.now();
		window.postMessage({ type: 'state', state: JSON.parse(json) as unknown }, '*');
	}, JSON.stringify(state));
	await page.locator('header h1').waitFor();
	return page;
}

/** Milliseconds from posting the state to the page having rendered it (measured in the page). */
async function renderTime(page: Page): Promise<number> {
	return page.evaluate(
		() => new Promise<number>((resolve) => requestAnimationFrame(() => resolve(performance.now() - (window as unknown as { sent: number }).sent))),
	);
}

async function posted(page: Page): Promise<Record<string, unknown>[]> {
	return page.evaluate(() => (window as unknown as { posted: Record<string, unknown>[] }).posted);
}

async function violations(page: Page): Promise<string[]> {
	return page.evaluate(() => (window as unknown as { violations: string[] }).violations);
}

const t0 = 1_800_000_000; // 2027-01-15 08:00:00 UTC = 13:30:00 in Kolkata
const epochLike = /\b1[5-9]\d{8}(\.\d+)?\b/;
const source = { file: '/w/app/src/math.js', line: 11, column: 16, label: 'src/math.js:12' };

const detail: CallDetailInfo = {
	module: 'src/math.js',
	name: 'slowSquare',
	key: 'ab'.repeat(32),
	version: null,
	args: { n: '12' },
	argsText: 'n=12',
	created: t0,
	duration: 0.5,
	size: 1536,
	hits: 1234,
	misses: 1,
	lastHit: t0 + 60,
	codeDigest: null,
	arguments: { n: 12 },
	result: { ok: true, value: 144 },
	metadata: {
		runtime: { timestart: t0, timestop: t0 + 0.5, walltime: 0.5, cputime: 0.06417500000000004, systime: 0.004 },
		environment: { hostname: 'box' },
	},
};

const call = (i: number, created: number, duration: number, hits = 0): CallInfo => ({
	...detail,
	key: `${i}`.padStart(64, '0'),
	argsText: `n=${i}`,
	args: { n: `${i}` },
	created,
	duration,
	hits,
});
const fnOf = (calls: readonly CallInfo[]) => ({
	module: 'src/math.js',
	name: 'slowSquare',
	calls: calls.length,
	hits: calls.reduce((s, c) => s + c.hits, 0),
	misses: calls.length,
	lastHit: null,
	computeSeconds: 1.5,
	savedSeconds: 0.06417500000000004,
	versions: [null],
});

test('call panel: local dates with ages, units, metadata by kind, no epoch numbers or float noise, the CSP kept', { skip }, async () => {
	const page = await open(callDetailsState('/w/app/.fleche', detail, t0 + 120, undefined, source));
	const text = await page.locator('body').innerText();
	const fact = async (label: string): Promise<string> =>
		page
			.locator('table.facts tr', { has: page.locator('th', { hasText: new RegExp(`^${label}$`) }) })
			.locator('td')
			.innerText();
	assert.match(await fact('created'), /^15 Jan 2027 13:30:00 · \d+ (min|h|d|mo|y) ago$/);
	assert.equal(await fact('took'), '500 ms');
	assert.match(await fact('CPU time'), /^68 ms \(/);
	assert.equal(await fact('result size'), '1.5 KB');
	assert.equal(await fact('hits'), '1,234 hits (hit ratio 100%)');
	assert.match(await fact('last hit'), /^15 Jan 2027 13:31:00 · /);
	assert.doesNotMatch(text, epochLike, 'no epoch seconds anywhere on the page');
	assert.ok(!text.includes('0.06417500000000004'), 'no floating-point noise');
	// Metadata: timestart is a date, cputime a duration; the stored value is in the hover.
	const cputime = page.locator('.leaf', { has: page.locator('.key', { hasText: /^cputime$/ }) }).locator('.value');
	assert.equal(await cputime.innerText(), '64 ms');
	assert.equal(await cputime.getAttribute('title'), 'stored as 0.06417500000000004');
	const timestart = page.locator('.leaf', { has: page.locator('.key', { hasText: /^timestart$/ }) });
	assert.match(await timestart.innerText(), /^timestart: 15 Jan 2027 13:30:00 · /);
	assert.match(String(await timestart.locator('time').getAttribute('title')), /13:30:00\.000 \(UTC\+5:30\)\n2027-01-15T08:00:00\.000Z/);
	// The source link posts the contract's message; the webview opens nothing itself.
	await page.locator('a.source', { hasText: 'src/math.js:12' }).click();
	assert.deepEqual((await posted(page)).at(-1), { type: 'openSource', file: source.file, line: 11, column: 16 });
	assert.deepEqual(await violations(page), []);
	await page.context().close();
});

test('function panel: facts, axes with units, distinct labels for calls made in the same second, hover readout', { skip }, async () => {
	const calls = [call(1, t0 + 0.25, 0.4, 3), call(2, t0 + 0.75, 1.2, 0)];
	const page = await open(functionDetailsState('/w/app/.fleche', fnOf(calls), calls, t0 + 300, source));
	const figures = page.locator('figure.chart-figure');
	assert.equal(await figures.count(), 2);
	const durations = figures.nth(0);
	assert.equal(await durations.locator('.y-title').textContent(), 'duration');
	assert.equal(await durations.locator('.x-title').textContent(), 'created (15 Jan 2027, UTC+5:30)');
	const xLabels = await durations.locator('.x-tick').allTextContents();
	assert.ok(xLabels.length >= 2, JSON.stringify(xLabels));
	assert.equal(new Set(xLabels).size, xLabels.length, `distinct time labels: ${JSON.stringify(xLabels)}`);
	assert.ok(
		xLabels.every((l) => /^13:30:00\.\d{3}$/.test(l)),
		JSON.stringify(xLabels),
	);
	assert.deepEqual(await durations.locator('.y-tick').allTextContents(), ['0', '500 ms', '1.0 s', '1.5 s']);
	assert.deepEqual(await figures.nth(1).locator('.y-tick').allTextContents(), ['0', '1', '2', '3']);
	assert.equal(await durations.locator('circle.point').count(), 2);
	// Hovering the right half reads out the later call; leaving restores the hint.
	const box = (await durations.locator('svg').boundingBox())!;
	await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2);
	assert.match(await durations.locator('.readout').innerText(), /^n=2\ncreated 15 Jan 2027 13:30:00\.750 \(5 min ago\)\ntook 1\.2 s · 0 hits$/);
	await page.mouse.click(box.x + box.width * 0.8, box.y + box.height / 2);
	assert.deepEqual((await posted(page)).at(-1), { type: 'action', action: 'openCall', key: calls[1]!.key });
	const text = await page.locator('body').innerText();
	assert.match(text, /saved by hits\s+64 ms/);
	assert.doesNotMatch(text, epochLike);
	assert.deepEqual(await violations(page), []);
	await page.context().close();
});

test('function panel with one call, and with 10,000: one clear mark; a bounded number of binned marks with summaries', { skip }, async () => {
	const one = [call(1, t0, 0.002, 1)];
	let page = await open(functionDetailsState('/w/app/.fleche', fnOf(one), one, t0 + 30, source));
	const durations = page.locator('figure.chart-figure').nth(0);
	assert.deepEqual(await durations.locator('.x-tick').allTextContents(), ['15 Jan 2027 13:30:00']);
	assert.equal(await durations.locator('circle.point').count(), 1);
	assert.ok((await durations.locator('.y-tick').count()) >= 2);
	await page.context().close();

	const many = Array.from({ length: 10_000 }, (_, i) => call(i, t0 + i * 6.1, 0.01 + (i % 50) / 1000, i % 5));
	page = await open(functionDetailsState('/w/app/.fleche', fnOf(many), many, t0 + 86_400, source));
	const renderMs = await renderTime(page);
	const figure = page.locator('figure.chart-figure').nth(0);
	const marks = await figure.locator('g.range').count();
	assert.ok(marks > 20 && marks <= 150, `${marks} binned marks`);
	assert.match(await figure.locator('figcaption').innerText(), /^10,000 calls in \d+ time bins$/);
	const xLabels = await figure.locator('.x-tick').allTextContents();
	assert.equal(new Set(xLabels).size, xLabels.length, JSON.stringify(xLabels));
	const box = (await figure.locator('svg').boundingBox())!;
	await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
	assert.match(
		await figure.locator('.readout').innerText(),
		/^\d+ calls created 15 Jan 2027 \d\d:\d\d:\d\d – .*\nmedian \d+ ms · fastest \d+ ms · slowest \d+ ms/,
	);
	assert.equal(await page.locator('table.calls tr').count(), 101, 'the newest 100 calls are listed, plus the header');
	assert.deepEqual(await violations(page), []);
	console.log(`10,000-call function panel rendered ${Math.round(renderMs)} ms after its state was posted`);
	await page.context().close();
});

test('colours come from the theme: the same page follows light and dark variables', { skip }, async () => {
	const calls = [call(1, t0, 0.4, 3)];
	const state = functionDetailsState('/w/app/.fleche', fnOf(calls), calls, t0 + 300, source);
	for (const name of ['light', 'dark'] as const) {
		const page = await open(state, name);
		const colours = await page.evaluate(() => ({
			body: getComputedStyle(document.body).color,
			background: getComputedStyle(document.body).backgroundColor,
			link: getComputedStyle(document.querySelector('a.source')!).color,
			point: getComputedStyle(document.querySelector('circle.point')!).fill,
		}));
		assert.deepEqual(colours, { body: themes[name].foreground, background: themes[name].background, link: themes[name].link, point: themes[name].blue }, name);
		await page.context().close();
	}
});

test('the stylesheet names no colour of its own: only --vscode-* theme variables', () => {
	const css = readFileSync(path.join(repo, 'webview/src/styles.css'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
	assert.doesNotMatch(css, /#[0-9a-f]{3,8}\b|\brgba?\(|\bhsla?\(/i, 'no literal colours');
	const colourProps = [
		...css.matchAll(/^\s*(color|background|background-color|fill|stroke|border|border-(?:top|bottom|left|right)|border-color|outline)\s*:\s*([^;]+);/gm),
	];
	assert.ok(colourProps.length > 10);
	for (const [, prop, value] of colourProps) {
		if (/^(none|0|inherit)$/.test(value!.trim())) continue;
		assert.match(value!, /var\(--vscode-/, `${prop}: ${value}`);
	}
});
