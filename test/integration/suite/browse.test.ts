// Browsing the tree as a user does: filter and sort the function rows, and jump from a function row to its source,
// through the real commands of the installed extension.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import { api, defaultCache, fileUri, functionNode, seeded, type FlecheApi, type TreeNodeSpec } from './support.js';

async function rows(fleche: FlecheApi): Promise<TreeNodeSpec[]> {
	return fleche.tree.getChildren(await defaultCache(fleche));
}

const functionNames = (all: readonly TreeNodeSpec[]): string[] =>
	all.filter((r) => r.contextValue.startsWith('fleche:function')).map((r) => String(r.data?.name));

suite('browse', () => {
	let fleche: FlecheApi;
	suiteSetup(async () => {
		fleche = await api();
		await fleche.refresh();
	});
	suiteTeardown(async () => {
		await vscode.commands.executeCommand('fleche.clearFilter');
		await vscode.commands.executeCommand('fleche.sortFunctions', 'name');
	});

	test('Filter Functions… narrows the rows to names or modules containing the text; Clear Filter brings all back', async () => {
		await vscode.commands.executeCommand('fleche.filterFunctions', 'SQUARE');
		const narrowed = await rows(fleche);
		assert.deepEqual(functionNames(narrowed), ['slowSquare']);
		const header = narrowed.find((r) => r.contextValue === 'fleche:empty');
		assert.equal(header?.label, 'Filter "SQUARE"');
		assert.equal(header?.description, `1 of ${Object.keys(seeded).length} functions`);

		await vscode.commands.executeCommand('fleche.filterFunctions', 'shapes.ts');
		assert.deepEqual(functionNames(await rows(fleche)).sort(), ['Shapes.area', 'label']);

		await vscode.commands.executeCommand('fleche.filterFunctions', 'no such function');
		assert.deepEqual(
			(await rows(fleche)).map((r) => r.label),
			['Filter "no such function"', 'No function matches "no such function"'],
		);

		await vscode.commands.executeCommand('fleche.clearFilter');
		assert.deepEqual(functionNames(await rows(fleche)).sort(), Object.keys(seeded).sort());
		assert.equal(
			(await rows(fleche)).some((r) => r.contextValue === 'fleche:empty'),
			false,
			'no header row without a filter',
		);
	});

	test('Sort Functions By… orders the rows by hits (ties by name) and back by name', async () => {
		await vscode.commands.executeCommand('fleche.sortFunctions', 'hits');
		const byHits = Object.entries(seeded)
			.sort(([a, x], [b, y]) => y.hits - x.hits || a.localeCompare(b))
			.map(([name]) => name);
		assert.deepEqual(functionNames(await rows(fleche)), byHits);
		await vscode.commands.executeCommand('fleche.sortFunctions', 'name');
		assert.deepEqual(
			functionNames(await rows(fleche)),
			Object.keys(seeded).sort((a, b) => a.localeCompare(b)),
		);
	});

	test('Go to Definition on a function row opens its file at the declaration the lens sits on', async () => {
		const row = await functionNode(fleche, 'add');
		assert.ok(row);
		const editor = await vscode.commands.executeCommand<vscode.TextEditor | undefined>('fleche.goToDefinition', row);
		assert.ok(editor, 'the command returns the editor it opened');
		assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, fileUri('src/math.js').fsPath);
		const line = readFileSync(fileUri('src/math.js').fsPath, 'utf8')
			.split('\n')
			.findIndex((l) => l.startsWith('export const add = fleche('));
		assert.ok(line > 0);
		assert.equal(vscode.window.activeTextEditor?.selection.active.line, line);

		const method = await functionNode(fleche, 'Shapes.area');
		await vscode.commands.executeCommand('fleche.goToDefinition', method);
		assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, fileUri('src/shapes.ts').fsPath);
		const decorator = readFileSync(fileUri('src/shapes.ts').fsPath, 'utf8')
			.split('\n')
			.findIndex((l) => l.trim() === '@fleche()');
		assert.equal(vscode.window.activeTextEditor?.selection.active.line, decorator, 'the cursor is on the decorated method');
	});
});
