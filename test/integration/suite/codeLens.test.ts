// CodeLens titles and counts above the fixture's cached functions, through VS Code's own provider command.
import assert from 'node:assert/strict';
import { suite, suiteSetup, test } from 'mocha';
import * as vscode from 'vscode';
import { api, fileUri, flecheLenses, lensesOf, lensTitle, seeded, waitFor, type FlecheApi } from './support.js';

/** The 0-based line of the first line of `uri` that contains `text`. */
async function lineOf(uri: vscode.Uri, text: string): Promise<number> {
	const doc = await vscode.workspace.openTextDocument(uri);
	for (let i = 0; i < doc.lineCount; i++) if (doc.lineAt(i).text.includes(text)) return i;
	assert.fail(`${text} not in ${uri.fsPath}`);
}

const expected = (name: keyof typeof seeded): string => lensTitle(seeded[name].hits, seeded[name].misses, seeded[name].calls);

suite('CodeLens', () => {
	let fleche: FlecheApi;
	suiteSetup(async () => {
		fleche = await api();
	});

	test('JavaScript: one lens per fleche-wrapped function, on its declaration, with its counts', async () => {
		const uri = fileUri('src/math.js');
		const lenses = flecheLenses(await lensesOf(uri));
		const byLine = new Map(lenses.map((l) => [l.range.start.line, l.command?.title]));
		assert.equal(lenses.length, 3, `titles: ${JSON.stringify(lenses.map((l) => l.command?.title))}`);
		assert.equal(byLine.get(await lineOf(uri, 'export const add')), expected('add'));
		assert.equal(byLine.get(await lineOf(uri, 'export const slowSquare')), expected('slowSquare'));
		assert.equal(byLine.get(await lineOf(uri, 'export const greet')), expected('greet'));
		for (const lens of lenses) assert.equal(lens.command?.command, 'fleche.lensActions');
	});

	test('TypeScript: the @fleche() method and the typed const, singular words for 1', async () => {
		const uri = fileUri('src/shapes.ts');
		const lenses = flecheLenses(await lensesOf(uri));
		const byLine = new Map(lenses.map((l) => [l.range.start.line, l.command?.title]));
		assert.equal(lenses.length, 2, `titles: ${JSON.stringify(lenses.map((l) => l.command?.title))}`);
		assert.equal(expected('Shapes.area'), 'fleche: 1 hit · 1 miss · 1 cached');
		// On the decorator (the declaration starts there) or on the method's own line.
		const method = await lineOf(uri, 'area(width');
		const areaLine = [...byLine.keys()].find((line) => line === method - 1 || line === method);
		assert.ok(areaLine !== undefined, `a lens on the decorated method (lines ${[...byLine.keys()].join(', ')})`);
		assert.equal(byLine.get(areaLine), expected('Shapes.area'));
		assert.equal(byLine.get(await lineOf(uri, 'export const label')), expected('label'));
	});

	test('the test API reports the same titles, top to bottom', async () => {
		assert.deepEqual(await fleche.lensTitles(fileUri('src/math.js').toString()), [
			expected('add'),
			expected('slowSquare'),
			expected('greet'),
		]);
	});

	test('fleche.codeLens.enabled = false removes the lenses; true brings them back', async () => {
		const uri = fileUri('src/math.js');
		const config = vscode.workspace.getConfiguration('fleche');
		await config.update('codeLens.enabled', false, vscode.ConfigurationTarget.Workspace);
		try {
			await waitFor('lenses to disappear', async () => flecheLenses(await lensesOf(uri)).length === 0 || undefined);
		} finally {
			await config.update('codeLens.enabled', undefined, vscode.ConfigurationTarget.Workspace);
		}
		await waitFor('lenses to come back', async () => flecheLenses(await lensesOf(uri)).length === 3 || undefined);
	});
});
