// The details webviews and the read-only commands: show call/function details, explain a miss, the lens quick pick.
import assert from 'node:assert/strict';
import { suite, suiteSetup, test } from 'mocha';
import * as vscode from 'vscode';
import { api, callNodes, seeded, waitFor, xss, type FlecheApi } from './support.js';

suite('details and read-only commands', () => {
	let fleche: FlecheApi;
	suiteSetup(async () => {
		fleche = await api();
		await fleche.refresh();
	});

	test('showCallDetails({ key }) opens the call details webview with the arguments and the result', async () => {
		const greets = await callNodes(fleche, 'greet');
		const node = greets.find((c) => JSON.stringify(c).includes(xss));
		assert.ok(node, 'the greet call with the HTML argument');
		await vscode.commands.executeCommand('fleche.showCallDetails', { key: node.data?.key });
		const panel = await waitFor('a call details panel', () => fleche.openPanels().find((p) => p.viewType === 'fleche.callDetails'));
		const state = JSON.stringify(panel.state);
		assert.ok(state.includes(String(node.data?.key)), 'the panel state names the call');
		assert.ok(state.includes(JSON.stringify(xss).slice(1, -1)), 'the HTML argument is in the state as data');
		assert.ok(state.includes('hello '), 'the result is in the state');
	});

	test('showCallDetails with a tree node argument works the same', async () => {
		const [node] = await callNodes(fleche, 'add');
		assert.ok(node);
		await vscode.commands.executeCommand('fleche.showCallDetails', node);
		await waitFor('the add call panel', () =>
			fleche.openPanels().find((p) => p.viewType === 'fleche.callDetails' && JSON.stringify(p.state).includes(String(node.data?.key))),
		);
	});

	test('showFunctionDetails({ module, name }) opens the per-function webview', async () => {
		await vscode.commands.executeCommand('fleche.showFunctionDetails', { module: seeded.add.module, name: 'add' });
		const panel = await waitFor('a function details panel', () => fleche.openPanels().find((p) => p.viewType === 'fleche.functionDetails'));
		assert.ok(JSON.stringify(panel.state).includes('add'), JSON.stringify(panel.state).slice(0, 300));
	});

	test('explainMiss({ module, name }, args) opens the whole explanation as a document, computed from the store alone', async () => {
		const message = await vscode.commands.executeCommand<string | undefined>(
			'fleche.explainMiss',
			{ module: seeded.add.module, name: 'add' },
			'{"a":1000,"b":7}',
		);
		assert.match(String(message), /^Miss: nearest cached call /);
		const doc = await waitFor('the explanation document', () =>
			vscode.workspace.textDocuments.find((d) => d.languageId === 'markdown' && d.getText().startsWith('# Explain: ')),
		);
		assert.ok(doc.getText().includes(String(message)), doc.getText());
		assert.match(doc.getText(), /nothing was imported or run/);
	});

	test('lensActions opens its quick pick (dismissed) without an error', async () => {
		const run = vscode.commands.executeCommand('fleche.lensActions', { module: seeded.add.module, name: 'add' });
		// The pick waits for a person; close it the way Escape does.
		await new Promise((resolve) => setTimeout(resolve, 1000));
		await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
		await run;
	});

	test('panels close with their editors', async () => {
		await vscode.commands.executeCommand('workbench.action.closeAllEditors');
		await waitFor('no open panels', () => fleche.openPanels().length === 0 || undefined);
	});
});
