// The tree's contents for the seeded fixture store, read through the test API (the provider the view uses).
import assert from 'node:assert/strict';
import { suite, suiteSetup, test } from 'mocha';
import { api, callNodes, defaultCache, functionNodes, seeded, workspaceFolder, xss, type FlecheApi } from './support.js';

suite('tree', () => {
	let fleche: FlecheApi;
	suiteSetup(async () => {
		fleche = await api();
		await fleche.refresh();
	});

	test('one root row for the workspace default store, with its totals', async () => {
		const cache = await defaultCache(fleche);
		assert.equal(cache.contextValue, 'fleche:cache');
		assert.equal(cache.collapsible, true);
		assert.match(cache.description ?? '', /5 functions/);
		assert.match(cache.description ?? '', /9 cached/);
		assert.ok(
			String(cache.tooltip).includes(`${workspaceFolder().uri.fsPath}/.fleche`),
			`tooltip names the store folder: ${cache.tooltip}`,
		);
	});

	test('functions: the name as label, the module in the hover, and hits · misses · cached calls exactly as the runtime recorded them', async () => {
		const rows = await functionNodes(fleche);
		assert.deepEqual(rows.map((r) => r.data?.name).sort(), Object.keys(seeded).sort());
		for (const row of rows) {
			const want = seeded[row.data?.name as keyof typeof seeded];
			assert.equal(row.contextValue, 'fleche:function');
			assert.equal(row.data?.module, want.module, `module of ${row.label}`);
			const text = `${row.label} ${row.description ?? ''}`;
			assert.ok(text.includes(String(row.data?.name)), `label names the function: ${text}`);
			// The label is the name (it fits a narrow sidebar); the module is in the hover.
			assert.equal(row.label, row.data?.name);
			assert.ok(String(row.tooltip).includes(want.module), `the hover names the module: ${String(row.tooltip)}`);
			assert.match(text, new RegExp(`\\b${want.hits} hits?\\b`), `hits of ${row.label}: ${text}`);
			assert.match(text, new RegExp(`\\b${want.misses} miss(es)?\\b`), `misses of ${row.label}: ${text}`);
			assert.match(text, new RegExp(`\\b${want.calls} cached\\b`), `cached calls of ${row.label}: ${text}`);
		}
	});

	test('calls: one row per cached call with an argument summary, full arguments in the tooltip', async () => {
		const adds = await callNodes(fleche, 'add');
		assert.equal(adds.length, seeded.add.calls);
		const labels = adds.map((c) => `${c.label} ${c.description ?? ''}`);
		for (const args of ['a=1, b=2', 'a=2, b=3', 'a=40, b=2']) {
			assert.ok(labels.some((l) => l.includes(args)), `a call row shows ${args}: ${JSON.stringify(labels)}`);
		}
		for (const call of adds) {
			assert.equal(call.contextValue, 'fleche:call');
			assert.match(String(call.data?.key), /^[0-9a-f]{64}$/);
			assert.equal(call.collapsible, false);
			assert.match(String(call.tooltip), /a\b.*1|a\b.*2|a\b.*40/s);
		}
		const greets = await callNodes(fleche, 'greet');
		assert.ok(
			greets.some((c) => `${c.label} ${c.description ?? ''} ${c.tooltip ?? ''}`.includes(xss)),
			'the HTML argument is shown as text in the tree',
		);
	});

	test('the decorated TypeScript method is listed under its class-qualified name', async () => {
		const calls = await callNodes(fleche, 'Shapes.area');
		assert.equal(calls.length, 1);
		assert.ok(`${calls[0]?.label} ${calls[0]?.description ?? ''}`.includes('width=3'), JSON.stringify(calls[0]));
	});
});
