// Invalidate from the editor: calls, whole functions and the whole cache leave the store, the tree and the lenses;
// the hit and miss counts stay (docs/behaviour.md §11), in the tree and the lenses alike. `{ confirm: false }` skips
// the modal (the browser end-to-end test clicks the real one).
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

	test('evictFunction({ module, name }) removes its calls; its row and its lens keep the hits and misses, with 0 cached', async () => {
		// The earlier suites ran greet too: its counts now are whatever the tree says before.
		const before = (await functionNode(fleche, 'greet'))?.description ?? '';
		assert.match(before, /^\d+ hits? · \d+ miss(es)? · [1-9]\d* cached$/);
		await vscode.commands.executeCommand('fleche.evictFunction', { module: seeded.greet.module, name: 'greet' }, { confirm: false });
		const counts = before.replace(/ · \d+ cached$/, ' · 0 cached');
		const want = `fleche: ${counts}`;
		await waitFor(`greet to show "${counts}"`, async () => (await functionNode(fleche, 'greet'))?.description === counts || undefined);
		const row = await functionNode(fleche, 'greet');
		assert.equal(row?.collapsible, false, 'nothing to expand');
		await waitFor(`the greet lens to read "${want}"`, async () =>
			flecheLenses(await lensesOf(fileUri('src/math.js')))
				.map((l) => l.command?.title)
				.includes(want) || undefined,
		);
	});

	test('clearCache({ cache }) empties the store; every function row stays, with 0 cached and its counts', async () => {
		const before = new Map((await functionNodes(fleche)).map((r) => [String(r.data?.name), r.description ?? '']));
		const cache = await defaultCache(fleche);
		await vscode.commands.executeCommand('fleche.clearCache', { cache: cache.data?.cache }, { confirm: false });
		assert.deepEqual(storeCalls(), []);
		await waitFor('every function row to show 0 cached', async () => {
			const rows = await functionNodes(fleche);
			return (rows.length === before.size && rows.every((r) => r.description?.endsWith(' · 0 cached'))) || undefined;
		});
		for (const row of await functionNodes(fleche)) {
			const was = before.get(String(row.data?.name)) ?? '';
			assert.equal(row.description, was.replace(/ · \d+ cached$/, ' · 0 cached'), `${String(row.data?.name)} keeps its hits and misses`);
		}
		assert.ok(existsSync(path.join(workspaceFolder().uri.fsPath, 'src', 'math.js')), 'user files are untouched');
	});
});
