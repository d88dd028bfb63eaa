// An SQL store (sql.js in the extension host, through the runtime's read API) added through the `fleche.caches`
// setting: listed with its counts, summed into the lenses, its calls shown in details and invalidated.
import assert from 'node:assert/strict';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import { api, extraStore, fileUri, lensTitle, seeded, waitFor, type FlecheApi, type TreeNodeSpec } from './support.js';

/** test/integration/workspace.mjs `seededSql`: add(5, 5) twice and add(6, 6). */
const inSql = { calls: 2, hits: 1, misses: 2 };

const sqlStore = (): string => extraStore('sql', 'calls.db');

suite('SQL store', () => {
	let fleche: FlecheApi;
	const config = () => vscode.workspace.getConfiguration('fleche');
	suiteSetup(async () => {
		fleche = await api();
		await config().update('caches', [sqlStore()], vscode.ConfigurationTarget.Workspace);
	});
	suiteTeardown(async () => {
		await config().update('caches', undefined, vscode.ConfigurationTarget.Workspace);
	});

	const root = (): Promise<TreeNodeSpec> =>
		waitFor('the SQL store in the tree', async () => {
			const roots = await fleche.tree.getChildren();
			return roots.find((r) => String(r.tooltip).includes(sqlStore()) || r.data?.cache === sqlStore());
		});
	const sqlCalls = async (): Promise<TreeNodeSpec[]> => {
		const [fn] = (await fleche.tree.getChildren(await root())).filter((c) => c.data?.name === 'add');
		assert.ok(fn, 'an add row under the SQL store');
		return fleche.tree.getChildren(fn);
	};

	test('its functions and calls are listed with the counts the runtime recorded', async () => {
		const row = await root();
		assert.ok(!row.contextValue.includes('error'), `readable: ${JSON.stringify(row)}`);
		const functions = await fleche.tree.getChildren(row);
		assert.deepEqual(functions.map((f) => f.data?.name), ['add']);
		const text = `${functions[0]!.label} ${functions[0]!.description ?? ''}`;
		assert.match(text, new RegExp(`\\b${inSql.hits} hit\\b.*\\b${inSql.misses} misses\\b.*\\b${inSql.calls} cached\\b`), text);
		const labels = (await sqlCalls()).map((c) => `${c.label} ${c.description ?? ''}`);
		for (const args of ['a=5, b=5', 'a=6, b=6']) assert.ok(labels.some((l) => l.includes(args)), `${args} in ${JSON.stringify(labels)}`);
	});

	test('the lens over add sums the workspace store and the SQL store', async () => {
		const want = lensTitle(seeded.add.hits + inSql.hits, seeded.add.misses + inSql.misses, seeded.add.calls + inSql.calls);
		await waitFor(`a lens "${want}"`, async () => (await fleche.lensTitles(fileUri('src/math.js').toString())).includes(want) || undefined);
	});

	test('a call of the SQL store opens in details and is invalidated from it', async () => {
		const calls = await sqlCalls();
		const node = calls.find((c) => `${c.label} ${c.description ?? ''}`.includes('a=6, b=6'));
		assert.ok(node, 'the add(6, 6) row');
		await vscode.commands.executeCommand('fleche.showCallDetails', node);
		const panel = await waitFor('its details panel', () =>
			fleche.openPanels().find((p) => p.viewType === 'fleche.callDetails' && JSON.stringify(p.state).includes(String(node.data?.key))),
		);
		assert.ok(JSON.stringify(panel.state).includes('12'), `the result 12 is shown: ${JSON.stringify(panel.state).slice(0, 300)}`);
		await vscode.commands.executeCommand('fleche.evictCall', node, { confirm: false });
		await waitFor('the SQL store to hold one add call', async () => (await sqlCalls()).length === inSql.calls - 1 || undefined);
	});
});
