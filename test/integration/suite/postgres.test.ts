// A PostgreSQL team cache in the editor (docs/behaviour.md §19): a real server
// started by this suite (test/support/servers.ts), written by the runtime in other processes, named by its URL in the
// `fleche.caches` setting. Listed with its counts and summed into the lens; a call invalidated and rerun through it;
// a write by another process reaching the tree through LISTEN/NOTIFY with no refresh (the time it took printed); the
// server stopped: the cache is a row "unreachable" with the reason while the rest of the tree works, and it is listed
// again once the server is back.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import { startPostgres, type PostgresServer } from '../../support/servers.js';
import { api, defaultCache, fileUri, flecheLenses, lensesOf, logText, waitFor, workspaceFolder, type FlecheApi, type TreeNodeSpec } from './support.js';

/** Runs ESM `code` with Node in the workspace (a user's process on "another machine"): the real runtime writes the server. */
function runInWorkspace(code: string, url: string): Promise<void> {
	return new Promise((resolve, reject) => {
		execFile(
			process.execPath,
			['--input-type=module', '-e', code, url],
			{ cwd: workspaceFolder().uri.fsPath, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', FLECHE_ROOT: '', NODE_OPTIONS: '' }, timeout: 60_000 },
			(err, _stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve()),
		);
	});
}

/** Calls math.js's `add` on `pairs` with the team cache as the current cache. */
const callAdd = (pairs: readonly [number, number][]): string =>
	[
		"import { Cache, CallPostgres, ValuePostgres, cache } from 'fleche';",
		'const url = process.argv[1];',
		'cache(new Cache(new ValuePostgres({ url }), new CallPostgres({ url })));',
		"const { add } = await import('./src/math.js');",
		`for (const [a, b] of ${JSON.stringify(pairs)}) add(a, b);`,
	].join('\n');

/** `fleche: 2 hits · 4 misses · 1 cached` → numbers. */
function parse(title: string | undefined): { hits: number; misses: number; cached: number } {
	const m = /(\d+) hits? · (\d+) miss(?:es)? · (\d+) cached/.exec(title ?? '');
	assert.ok(m, `counts text: ${String(title)}`);
	return { hits: Number(m[1]), misses: Number(m[2]), cached: Number(m[3]) };
}

/** The title of the lens over `export const add` in math.js. */
async function addLens(): Promise<string | undefined> {
	const uri = fileUri('src/math.js');
	const line = (await vscode.workspace.openTextDocument(uri))
		.getText()
		.split('\n')
		.findIndex((l) => l.startsWith('export const add = fleche('));
	return flecheLenses(await lensesOf(uri)).find((l) => l.range.start.line === line)?.command?.title;
}

/**
 * A throwaway server. The drivers point TMPDIR into their scratch folder, which the `postgres` user (the server runs as
 * it under root) cannot enter: its data folder goes to the system's temporary folder instead (removed by close(), or
 * by its reaper).
 */
async function serverFor(password?: string): Promise<PostgresServer> {
	const scratch = process.env.TMPDIR;
	process.env.TMPDIR = '/tmp';
	try {
		return await startPostgres(password === undefined ? {} : { password });
	} finally {
		process.env.TMPDIR = scratch;
	}
}

const misses = async (server: PostgresServer, db: string): Promise<number> =>
	Number((await server.psql("SELECT coalesce(sum(misses), 0) FROM fleche.stats WHERE name = 'add'", db)).trim());

suite('PostgreSQL team cache', () => {
	let fleche: FlecheApi;
	let server: PostgresServer;
	/** The database's URL: the server trusts local connections, so it holds no password. */
	let url: string;
	let db: string;
	const config = () => vscode.workspace.getConfiguration('fleche');
	const calls = async (): Promise<number> => Number((await server.psql('SELECT count(*) FROM fleche.calls', db)).trim());

	suiteSetup(async function () {
		this.timeout(300_000);
		fleche = await api();
		server = await serverFor();
		url = await server.database();
		db = new URL(url).pathname.slice(1);
		// add(7, 7) twice and add(8, 8): 2 calls, 1 hit, 2 misses.
		await runInWorkspace(
			callAdd([
				[7, 7],
				[7, 7],
				[8, 8],
			]),
			url,
		);
		assert.equal(await calls(), 2);
	});
	suiteTeardown(async () => {
		await config().update('caches', undefined, vscode.ConfigurationTarget.Workspace);
		await server?.close();
	});

	const root = (): Promise<TreeNodeSpec> =>
		waitFor('the PostgreSQL cache in the tree', async () => (await fleche.tree.getChildren()).find((r) => r.data?.cache === url));
	const addRow = async (): Promise<TreeNodeSpec | undefined> => (await fleche.tree.getChildren(await root())).find((c) => c.data?.name === 'add');

	test('named by its URL in fleche.caches, it is listed with its counts and summed into the lens', async () => {
		const lensBefore = parse(await waitFor('the add lens', addLens));
		await config().update('caches', [url], vscode.ConfigurationTarget.Workspace);
		const row = await root();
		assert.equal(row.label, url);
		assert.match(String(row.description), /^postgres · 1 function · 2 cached$/, JSON.stringify(row));
		const fn = await waitFor('the add row', addRow);
		assert.match(`${fn.label} ${fn.description ?? ''}`, /\b1 hit\b.*\b2 misses\b.*\b2 cached\b/);
		const labels = (await fleche.tree.getChildren(fn)).map((c) => `${c.label} ${c.description ?? ''}`);
		for (const args of ['a=7, b=7', 'a=8, b=8'])
			assert.ok(
				labels.some((l) => l.includes(args)),
				`${args} in ${JSON.stringify(labels)}`,
			);
		const want = { hits: lensBefore.hits + 1, misses: lensBefore.misses + 2, cached: lensBefore.cached + 2 };
		await waitFor(`the add lens to sum both caches (${JSON.stringify(want)})`, async () => {
			const now = parse(await addLens());
			return (now.hits === want.hits && now.misses === want.misses && now.cached === want.cached) || undefined;
		});
	});

	test('a write by another process reaches the tree through NOTIFY, without a refresh (time printed)', async () => {
		assert.match(String((await root()).description), / 2 cached$/);
		await runInWorkspace(callAdd([[9, 9]]), url);
		const t0 = performance.now();
		// No refresh here: the tree's snapshot is read again only when the store host hears the server's notification.
		await waitFor('the tree to show the third call', async () => / 3 cached$/.test(String((await root()).description)) || undefined, 30_000);
		console.log(`postgres NOTIFY → tree after a write by another process: ${Math.round(performance.now() - t0)} ms`);
		assert.equal(await calls(), 3);
	});

	test('a call is invalidated and rerun through the team cache', async () => {
		const fn = await waitFor('the add row', addRow);
		const nodes = await fleche.tree.getChildren(fn);
		const nine = nodes.find((c) => `${c.label} ${c.description ?? ''}`.includes('a=9, b=9'));
		assert.ok(nine, 'the add(9, 9) row');
		await vscode.commands.executeCommand('fleche.evictCall', nine, { confirm: false });
		await waitFor('the server to hold 2 calls', async () => (await calls()) === 2 || undefined);
		await waitFor('the tree to show 2 calls', async () => / 2 cached$/.test(String((await root()).description)) || undefined);
		// Rerun runs in the user's Node (the CLI, `--cache <url>`): one more miss, same calls.
		const seven = (await fleche.tree.getChildren(await waitFor('the add row', addRow))).find((c) => `${c.label} ${c.description ?? ''}`.includes('a=7, b=7'));
		assert.ok(seven, 'the add(7, 7) row');
		const missesBefore = Number((await server.psql("SELECT coalesce(sum(misses), 0) FROM fleche.stats WHERE name = 'add'", db)).trim());
		await vscode.commands.executeCommand('fleche.rerunCall', seven);
		await waitFor(
			'the rerun to count one more miss on the server',
			async () =>
				Number((await server.psql("SELECT coalesce(sum(misses), 0) FROM fleche.stats WHERE name = 'add'", db)).trim()) === missesBefore + 1 || undefined,
		);
		assert.equal(await calls(), 2);
	});

	test('a server that is down is a row "unreachable" with the reason; the rest of the tree works; it comes back', async function () {
		this.timeout(120_000);
		await server.stop();
		// No refresh: the store host's listener loses its connection and has the cache listed again.
		const t0 = performance.now();
		let said = '';
		const row = await waitFor('the row to say unreachable', async () => {
			const r = await root();
			said = `${String(r.description)} (${String(r.tooltip)})`;
			return / · unreachable$/.test(String(r.description)) ? r : undefined;
		}).catch((err: unknown) => {
			throw new Error(`${err instanceof Error ? err.message : String(err)}; the row said: ${said}`);
		});
		const listed = Math.round(performance.now() - t0);
		assert.match(String(row.tooltip), new RegExp(`${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is unreachable`));
		const [child] = await fleche.tree.getChildren(row);
		assert.match(String(child?.label), /^Unreachable: /);
		// The other caches are listed as ever.
		assert.ok((await fleche.tree.getChildren(await defaultCache(fleche))).some((n) => n.data?.name === 'add'));
		console.log(`postgres down → tree row "unreachable" (no refresh): ${listed} ms`);
		await server.start();
		// Its listener reconnects and tells the store host, which lists it again; a refresh would too.
		await waitFor(
			'the cache to be listed again',
			async () => /^postgres · 1 function · 2 cached$/.test(String((await root()).description)) || undefined,
			60_000,
		);
	});
});

suite('PostgreSQL team cache with a password', () => {
	const password = 'team-S3cret/with:odd@chars';
	let fleche: FlecheApi;
	let server: PostgresServer;
	let db: string;
	/** The URL as the setting names it: without the password. */
	let bare: string;
	const config = () => vscode.workspace.getConfiguration('fleche');

	suiteSetup(async function () {
		this.timeout(300_000);
		fleche = await api();
		server = await serverFor(password);
		const url = await server.database();
		db = new URL(url).pathname.slice(1);
		const u = new URL(url);
		u.password = '';
		bare = u.toString();
		await runInWorkspace(callAdd([[21, 21]]), url);
	});
	suiteTeardown(async () => {
		await config().update('caches', undefined, vscode.ConfigurationTarget.Workspace);
		await server?.close();
	});

	test('asked once, kept in SecretStorage, never shown; the CLI gets it through its environment', async () => {
		// The person at the keyboard types the password into the input box: this stands in for them (the input box is
		// VS Code's own; everything after it — SecretStorage, the store worker, the server's SCRAM login — is real).
		const window = vscode.window as { showInputBox: typeof vscode.window.showInputBox };
		const real = window.showInputBox;
		const asked: (vscode.InputBoxOptions | undefined)[] = [];
		window.showInputBox = async (options?: vscode.InputBoxOptions) => {
			asked.push(options);
			return password;
		};
		try {
			await config().update('caches', [bare], vscode.ConfigurationTarget.Workspace);
			const listed = async (): Promise<TreeNodeSpec | undefined> => {
				const row = (await fleche.tree.getChildren()).find((r) => r.data?.cache === bare);
				return row !== undefined && /^postgres · 1 function · 1 cached$/.test(String(row.description)) ? row : undefined;
			};
			const row = await waitFor('the cache listed once the password was given', listed, 60_000);
			assert.equal(asked.length, 1, 'asked once');
			assert.equal(asked[0]?.password, true, 'typed into a password box');
			assert.match(String(asked[0]?.prompt), new RegExp(bare.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
			// Kept: a refresh (a new store worker session reopens the cache) does not ask again.
			await fleche.refresh();
			await waitFor('the cache listed again after a refresh', listed, 60_000);
			assert.equal(asked.length, 1, 'not asked again: the password is kept');
			// Rerun in the user's Node: the CLI logs in with the kept password (PGPASSWORD), never on its command line.
			const fn = (await fleche.tree.getChildren(row)).find((c) => c.data?.name === 'add');
			assert.ok(fn, 'the add row');
			const [call] = await fleche.tree.getChildren(fn);
			assert.ok(call?.data?.key, 'the add(21, 21) row');
			const before = await misses(server, db);
			await vscode.commands.executeCommand('fleche.rerunCall', call);
			await waitFor('the rerun to count one more miss on the server', async () => (await misses(server, db)) === before + 1 || undefined);
			// Nothing shown holds the password: the rows and the Fleche log.
			const shown = JSON.stringify(await fleche.tree.getChildren()) + JSON.stringify(await fleche.tree.getChildren(row));
			const log = await waitFor("the Fleche log with the CLI's command line", async () => {
				const text = await logText();
				return text?.includes(' rerun ') ? text : undefined;
			});
			for (const form of [password, encodeURIComponent(password)]) {
				assert.ok(!shown.includes(form), 'no tree row holds the password');
				assert.ok(!log.includes(form), 'the log does not hold the password');
			}
		} finally {
			window.showInputBox = real;
		}
	});
});
