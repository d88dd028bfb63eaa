// Broken stores (made by test/integration/workspace.mjs, corrupt variant, beside the workspace) added through the
// `fleche.caches` setting: unreadable ones become error rows, corrupt entries are skipped, and the extension keeps
// serving the healthy store.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import { api, fileUri, functionNodes, seeded, waitFor, workspaceFolder, type FlecheApi, type TreeNodeSpec } from './support.js';

const stores = (): Record<'garbled' | 'missing' | 'loop', string> => {
	const base = path.join(path.dirname(workspaceFolder().uri.fsPath), 'corrupt-stores');
	assert.ok(existsSync(base), `no ${base}: run the suite on a workspace made with makeWorkspace(dir, { corrupt: true })`);
	return { garbled: path.join(base, 'garbled'), missing: path.join(base, 'missing'), loop: path.join(base, 'loop') };
};

const isError = (n: TreeNodeSpec): boolean => n.contextValue.includes('error');

suite('corrupt stores', () => {
	let fleche: FlecheApi;
	const config = () => vscode.workspace.getConfiguration('fleche');
	suiteSetup(async () => {
		fleche = await api();
		const { garbled, missing, loop } = stores();
		await config().update('caches', [garbled, missing, loop], vscode.ConfigurationTarget.Workspace);
	});
	suiteTeardown(async () => {
		await config().update('caches', undefined, vscode.ConfigurationTarget.Workspace);
	});

	test('a folder with no store and a store that cannot be listed show error rows', async () => {
		const { missing, loop } = stores();
		const roots = await waitFor('the extra caches in the tree', async () => {
			const r = await fleche.tree.getChildren();
			return r.length >= 4 ? r : undefined;
		});
		const rowOf = async (folder: string): Promise<TreeNodeSpec | undefined> => {
			const row = roots.find((r) => r.data?.cache === folder || String(r.tooltip).includes(folder) || r.label.includes(folder));
			if (!row) return undefined;
			if (isError(row)) return row;
			return (await fleche.tree.getChildren(row)).find(isError);
		};
		for (const folder of [missing, loop]) {
			const error = await rowOf(folder);
			assert.ok(error, `an error row for ${folder}; roots: ${JSON.stringify(roots.map((r) => [r.label, r.contextValue, r.description]))}`);
		}
	});

	test('a store with corrupt call records opens, skipping them', async () => {
		const { garbled } = stores();
		const roots = await fleche.tree.getChildren();
		const row = roots.find((r) => r.data?.cache === garbled || String(r.tooltip).includes(garbled));
		assert.ok(row, 'the garbled store is listed');
		assert.ok(!isError(row), `the garbled store is readable: ${JSON.stringify(row)}`);
		const children = await fleche.tree.getChildren(row);
		const names = children.filter((c) => c.contextValue.startsWith('fleche:function')).map((c) => c.data?.name);
		assert.ok(names.includes('add'), `its intact records are listed: ${JSON.stringify(names)}`);
	});

	test('the extension stays alive: the healthy store, the lenses and the commands still work', async () => {
		assert.equal((await functionNodes(fleche)).length, Object.keys(seeded).length);
		await vscode.commands.executeCommand('fleche.refreshCalls');
		await vscode.commands.executeCommand('fleche.showLog');
		const titles = await fleche.lensTitles(fileUri('src/math.js').toString());
		assert.equal(titles.length, 3, JSON.stringify(titles));
		assert.equal(vscode.extensions.getExtension('fleche.fleche-vscode')?.isActive, true);
	});
});
