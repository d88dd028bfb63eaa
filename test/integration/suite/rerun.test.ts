// Rerun from the editor: the extension spawns the runtime CLI (a real child process running the user's module), and
// the tree and the lenses pick up the new counts from the store.
import assert from 'node:assert/strict';
import { suite, suiteSetup, test } from 'mocha';
import * as vscode from 'vscode';
import { api, callNodes, fileUri, functionNode, functionNodes, lensTitle, seeded, waitFor, type FlecheApi } from './support.js';

/** The counts in a function row's label + description. */
async function countsOf(fleche: FlecheApi, name: string): Promise<string> {
	const row = await functionNode(fleche, name);
	return `${row?.label ?? ''} ${row?.description ?? ''}`;
}

suite('rerun', () => {
	let fleche: FlecheApi;
	suiteSetup(async () => {
		fleche = await api();
		await fleche.refresh();
	});

	test('rerunCall({ key }) recomputes one call in a child process: one more miss in the tree and the lens, other functions untouched', async () => {
		const calls = await callNodes(fleche, 'add');
		const one = calls.find((c) => `${c.label} ${c.description ?? ''}`.includes('a=1, b=2'));
		assert.ok(one, 'the add(1, 2) row');
		assert.match(await countsOf(fleche, 'add'), /\b3 misses\b/);
		const others = async (): Promise<string[]> =>
			(await functionNodes(fleche)).filter((r) => r.data?.name !== 'add').map((r) => `${String(r.data?.name)}: ${r.description ?? ''}`);
		const othersBefore = await others();
		const lensesBefore = (await fleche.lensTitles(fileUri('src/math.js').toString())).filter((t) => !t.startsWith(lensTitle(seeded.add.hits, seeded.add.misses, seeded.add.calls)));
		await vscode.commands.executeCommand('fleche.rerunCall', { key: one.data?.key });
		await waitFor('add to show 4 misses', async () => /\b4 misses\b/.test(await countsOf(fleche, 'add')) || undefined);
		const want = lensTitle(seeded.add.hits, seeded.add.misses + 1, seeded.add.calls);
		await waitFor(`the add lens to read "${want}"`, async () =>
			(await fleche.lensTitles(fileUri('src/math.js').toString())).includes(want) || undefined,
		);
		// The rerun imported math.js (its top-level code ran), yet no other function gained a hit or a miss.
		assert.deepEqual(await others(), othersBefore);
		assert.deepEqual(
			(await fleche.lensTitles(fileUri('src/math.js').toString())).filter((t) => t !== want),
			lensesBefore,
		);
	});

	test('rerunFunction({ module, name }) recomputes every cached call of the function', async () => {
		await vscode.commands.executeCommand('fleche.rerunFunction', { module: seeded.slowSquare.module, name: 'slowSquare' });
		const want = seeded.slowSquare.misses + seeded.slowSquare.calls;
		await waitFor(`slowSquare to show ${want} misses`, async () =>
			new RegExp(`\\b${want} misses\\b`).test(await countsOf(fleche, 'slowSquare')) || undefined,
		);
		// A rerun replaces values, it does not add calls.
		assert.equal((await callNodes(fleche, 'slowSquare')).length, seeded.slowSquare.calls);
	});

	test('a TypeScript module reruns too (transpiled by the CLI)', async () => {
		await vscode.commands.executeCommand('fleche.rerunFunction', { module: seeded.label.module, name: 'label' });
		await waitFor('label to show 2 misses', async () => /\b2 misses\b/.test(await countsOf(fleche, 'label')) || undefined);
	});

	test('an @fleche() method reruns on an instance rebuilt from its stored `this`', async () => {
		const want = seeded['Shapes.area'].misses + 1;
		await vscode.commands.executeCommand('fleche.rerunFunction', { module: seeded['Shapes.area'].module, name: 'Shapes.area' });
		await waitFor(`Shapes.area to show ${want} misses`, async () => new RegExp(`\\b${want} miss(es)?\\b`).test(await countsOf(fleche, 'Shapes.area')) || undefined);
	});

	test('runWithArguments({ module, name }, args): a miss runs in a child process and is stored, the same arguments again are a hit', async () => {
		const target = { module: seeded.greet.module, name: 'greet' };
		const first = await vscode.commands.executeCommand<Record<string, unknown>>('fleche.runWithArguments', target, '{"name":"editor"}');
		assert.deepEqual({ ok: first.ok, hit: first.hit, resultText: first.resultText }, { ok: true, hit: false, resultText: "'hello editor'" });
		await waitFor(`greet to list ${seeded.greet.calls + 1} calls`, async () => (await callNodes(fleche, 'greet')).length === seeded.greet.calls + 1 || undefined);
		const again = await vscode.commands.executeCommand<Record<string, unknown>>('fleche.runWithArguments', target, '["editor"]');
		assert.deepEqual({ ok: again.ok, hit: again.hit, key: again.key }, { ok: true, hit: true, key: first.key });
		const want = lensTitle(seeded.greet.hits + 1, seeded.greet.misses + 1, seeded.greet.calls + 1);
		await waitFor(`the greet lens to read "${want}"`, async () => (await fleche.lensTitles(fileUri('src/math.js').toString())).includes(want) || undefined);
	});
});
