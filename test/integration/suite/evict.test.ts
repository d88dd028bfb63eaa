// Invalidate from the editor: calls, whole functions and the whole cache leave the store, the tree and the lenses.
// `{ confirm: false }` skips the modal (the browser end-to-end test clicks the real one).
import assert from 'node:assert/strict';
import { suite, suiteSetup, test } from 'mocha';
import * as vscode from 'vscode';
import { api, callNodes, defaultCache, fileUri, flecheLenses, functionNode, functionNodes, lensesOf, seeded, waitFor, workspaceFolder, type FlecheApi } from './support.js';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const storeCalls = (): string[] =>
	readdirSync(path.join(workspaceFolder().uri.fsPath, '.fleche', 'calls')).filter((f) => /^[0-9a-f]{64}$/.test(f));

suite('invalidate', () => {
	let fleche: FlecheApi;
	suiteSetup(async () => {
		fleche = await api();
		await fleche.refresh();
	});

	test('evictCall({ key }) removes that call from the store, the tree and the lens count', async () => {
		const calls = await callNodes(fleche, 'add');
		const target = calls.find((c) => `${c.label} ${c.description ?? ''}`.includes('a=40, b=2'));
		assert.ok(target, 'the add(40, 2) row');
		const key = String(target.data?.key);
		assert.ok(storeCalls().includes(key));
		await vscode.commands.executeCommand('fleche.evictCall', { key }, { confirm: false });
		assert.ok(!storeCalls().includes(key), 'the call record left the store');
		await waitFor('add to list 2 calls', async () => (await callNodes(fleche, 'add')).length === seeded.add.calls - 1 || undefined);
		await waitFor('the add lens to count 2 cached', async () =>
			(await fleche.lensTitles(fileUri('src/math.js').toString())).some((t) => t.startsWith('fleche:') && t.endsWith(' · 2 cached')) ||
			undefined,
		);
	});

	test('evictCall with a tree node argument', async () => {
		const [node] = await callNodes(fleche, 'slowSquare');
		assert.ok(node);
		await vscode.commands.executeCommand('fleche.evictCall', node, { confirm: false });
		await waitFor('slowSquare to list 1 call', async () => (await callNodes(fleche, 'slowSquare')).length === 1 || undefined);
	});

	test('evictFunction({ module, name }) removes the function row and its lens', async () => {
		await vscode.commands.executeCommand('fleche.evictFunction', { module: seeded.greet.module, name: 'greet' }, { confirm: false });
		await waitFor('greet to leave the tree', async () => (await functionNode(fleche, 'greet')) === undefined || undefined);
		await waitFor('math.js to keep the lenses of add and slowSquare only', async () => {
			const titles = flecheLenses(await lensesOf(fileUri('src/math.js'))).map((l) => l.command?.title ?? '');
			return titles.filter((t) => !t.includes(' 0 cached')).length === 2 || undefined;
		});
	});

	test('clearCache({ cache }) empties the store', async () => {
		const cache = await defaultCache(fleche);
		await vscode.commands.executeCommand('fleche.clearCache', { cache: cache.data?.cache }, { confirm: false });
		assert.deepEqual(storeCalls(), []);
		await waitFor('no function rows', async () => (await functionNodes(fleche)).length === 0 || undefined);
		assert.ok(existsSync(path.join(workspaceFolder().uri.fsPath, 'src', 'math.js')), 'user files are untouched');
	});
});
