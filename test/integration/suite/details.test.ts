// The details webviews and the read-only commands: show call/function details, explain a miss, the lens quick pick.
import assert from 'node:assert/strict';
import { suite, suiteSetup, test } from 'mocha';
import * as vscode from 'vscode';
import { api, callNodes, fileUri, flecheLenses, lensesOf, lensTitle, recordQuickPicks, seeded, waitFor, xss, type FlecheApi } from './support.js';

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

	test('showFunctionDetails({ module, name }) opens the per-function webview with its counts and calls', async () => {
		await vscode.commands.executeCommand('fleche.showFunctionDetails', { module: seeded.add.module, name: 'add' });
		const panel = await waitFor('a function details panel', () => fleche.openPanels().find((p) => p.viewType === 'fleche.functionDetails'));
		const state = panel.state as {
			view: string;
			module: string | null;
			name: string;
			calls: number;
			hits: number;
			misses: number;
			points: { key: string }[];
			source: { file: string; line: number; label: string } | null;
		};
		assert.deepEqual(
			{ view: state.view, name: state.name, calls: state.calls, hits: state.hits, misses: state.misses },
			{ view: 'function', name: 'add', calls: seeded.add.calls, hits: seeded.add.hits, misses: seeded.add.misses },
		);
		assert.ok(state.module?.endsWith(seeded.add.module), String(state.module));
		const keys = (await callNodes(fleche, 'add')).map((c) => String(c.data?.key)).sort();
		assert.deepEqual(state.points.map((p) => p.key).sort(), keys, 'one point per cached call');
		// The source link: where the lens finds add (line 5 of src/math.js), a file inside the workspace.
		assert.equal(state.source?.label, 'src/math.js:5');
		assert.equal(state.source?.file, fileUri(seeded.add.module).fsPath);
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

	test('lensActions shows the lens quick pick with the actions for add (dismissed: nothing runs)', async () => {
		const uri = fileUri(seeded.add.module);
		const lens = flecheLenses(await lensesOf(uri)).find((l) => l.command?.title === lensTitle(seeded.add.hits, seeded.add.misses, seeded.add.calls));
		assert.ok(lens?.command, 'the lens above add');
		const picks = recordQuickPicks();
		const panelsBefore = fleche.openPanels().length;
		try {
			const run = vscode.commands.executeCommand(lens.command.command, ...((lens.command.arguments ?? []) as unknown[]));
			const [shown] = await waitFor('the lens quick pick', () => (picks.seen.length > 0 ? picks.seen : undefined));
			assert.deepEqual(
				shown!.items.map((i) => i.label),
				[
					'$(play) Run with new arguments…',
					'$(debug-rerun) Rerun a cached call…',
					`$(run-all) Rerun all ${seeded.add.calls} cached calls`,
					`$(trash) Invalidate all ${seeded.add.calls} cached calls`,
					'$(question) Explain a miss…',
					'$(graph) Show function details',
					'$(list-tree) Show in Fleche view',
				],
			);
			assert.match(String(shown!.options?.title), /\badd\b/);
			// The pick waits for a person; close it the way Escape does, until the command returns.
			let returned = false;
			void Promise.resolve(run).then(() => (returned = true));
			await waitFor('the command to return once dismissed', async () => {
				await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
				return returned || undefined;
			});
			assert.equal(picks.seen.length, 1, 'no second pick (nothing was chosen)');
			assert.equal(fleche.openPanels().length, panelsBefore, 'no panel opened');
		} finally {
			picks.dispose();
		}
	});

	test('panels close with their editors', async () => {
		await vscode.commands.executeCommand('workbench.action.closeAllEditors');
		await waitFor('no open panels', () => fleche.openPanels().length === 0 || undefined);
	});
});
