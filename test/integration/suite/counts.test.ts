// One source of truth for counts (docs/behaviour.md §11, §14): a write by another process reaches the tree and the
// lens together (the time each takes is measured and printed), and after an invalidation the tree, the lens and the
// function details panel show the same kept hits and misses, to which the next run adds. Runs after the invalidate
// suite, on a store whose calls were all cleared.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { suite, suiteSetup, test } from 'mocha';
import * as vscode from 'vscode';
import { api, callNodes, fileUri, flecheLenses, functionNode, lensesOf, seeded, waitFor, workspaceFolder, type FlecheApi } from './support.js';

/** Runs ESM `code` with Node in the workspace (the user's process, not the editor's): the real runtime writes the store. */
function runInWorkspace(code: string): Promise<void> {
	return new Promise((resolve, reject) => {
		execFile(
			process.execPath,
			['--input-type=module', '-e', code],
			{ cwd: workspaceFolder().uri.fsPath, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', FLECHE_ROOT: '', NODE_OPTIONS: '' }, timeout: 60_000 },
			(err, _stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve()),
		);
	});
}

/** `fleche: 2 hits · 4 misses · 1 cached` → `2 hits · 4 misses · 1 cached`. */
const countsOfTitle = (title: string | undefined): string | undefined => title?.replace(/^fleche: /, '');

async function treeCounts(fleche: FlecheApi, name: string): Promise<string | undefined> {
	return (await functionNode(fleche, name))?.description;
}

/** The counts of the lens over `export const add` in math.js, through VS Code's own CodeLens command. */
async function lensCounts(): Promise<string | undefined> {
	const lenses = flecheLenses(await lensesOf(fileUri(seeded.add.module)));
	const text = (await vscode.workspace.openTextDocument(fileUri(seeded.add.module))).getText().split('\n');
	const line = text.findIndex((l) => l.startsWith('export const add = fleche('));
	return countsOfTitle(lenses.find((l) => l.range.start.line === line)?.command?.title);
}

/** `2 hits · 4 misses · 1 cached` → numbers. */
function parse(counts: string | undefined): { hits: number; misses: number; cached: number } {
	const m = /^(\d+) hits? · (\d+) miss(?:es)? · (\d+) cached$/.exec(counts ?? '');
	assert.ok(m, `counts text: ${String(counts)}`);
	return { hits: Number(m[1]), misses: Number(m[2]), cached: Number(m[3]) };
}

const text = (c: { hits: number; misses: number; cached: number }): string =>
	`${c.hits} ${c.hits === 1 ? 'hit' : 'hits'} · ${c.misses} ${c.misses === 1 ? 'miss' : 'misses'} · ${c.cached} cached`;

/**
 * Polls the tree and the lens every 20 ms from now until both read `want`; resolves how long each took. The ceiling is
 * generous (a loaded machine); the times are printed, not asserted.
 */
async function timeUntilBoth(fleche: FlecheApi, want: string, ceilingMs = 30_000): Promise<{ tree: number; lens: number }> {
	const t0 = performance.now();
	let tree: number | undefined;
	let lens: number | undefined;
	while (tree === undefined || lens === undefined) {
		if (tree === undefined && (await treeCounts(fleche, 'add')) === want) tree = performance.now() - t0;
		if (lens === undefined && (await lensCounts()) === want) lens = performance.now() - t0;
		if (performance.now() - t0 > ceilingMs) {
			assert.fail(
				`after ${ceilingMs} ms the tree reads "${String(await treeCounts(fleche, 'add'))}" and the lens "${String(await lensCounts())}", not "${want}"`,
			);
		}
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
	return { tree: Math.round(tree), lens: Math.round(lens) };
}

suite('counts: one source of truth', () => {
	let fleche: FlecheApi;
	suiteSetup(async () => {
		fleche = await api();
		await fleche.refresh();
	});

	test('a write by another process reaches the tree and the lens together (time measured and printed)', async () => {
		const before = parse(await waitFor('the add row', () => treeCounts(fleche, 'add')));
		assert.equal(await lensCounts(), text(before), 'tree and lens agree before the write');
		// add(9, 9) twice: one miss stored, then one hit; the statistics are written when the process exits.
		await runInWorkspace("const { add } = await import('./src/math.js'); add(9, 9); add(9, 9);");
		const want = text({ hits: before.hits + 1, misses: before.misses + 1, cached: before.cached + 1 });
		const took = await timeUntilBoth(fleche, want);
		console.log(
			`      lens/tree agreement after a write: tree ${took.tree} ms, lens ${took.lens} ms after the writer exited (${Math.abs(took.tree - took.lens)} ms apart)`,
		);
		const [row] = await callNodes(fleche, 'add');
		assert.equal(row?.label, 'a=9, b=9');
		assert.equal(row?.description?.startsWith('→ 18 · 1 hit · '), true, String(row?.description));
		assert.equal(row?.contextValue, 'fleche:call', 'a fresh call (no state suffix)');
	});

	test('a call whose stored result is gone shows as damaged (icon state, description, hover)', async () => {
		const store = path.join(workspaceFolder().uri.fsPath, '.fleche');
		const values = path.join(store, 'values');
		const calls = path.join(store, 'calls');
		const listed = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n)) : []);
		const before = new Set([...listed(values), ...listed(calls)]);
		await runInWorkspace("const { slowSquare } = await import('./src/math.js'); await slowSquare(12);");
		await waitFor('the slowSquare(12) row', async () => (await callNodes(fleche, 'slowSquare')).find((r) => r.label === 'x=12'));
		// The result 144 is gone: its value file, or (docs/behaviour.md §2.6, small values inside the call file) its copy
		// inside the new call file, rewritten whole by a rename as a writer would.
		let removed = 0;
		for (const name of listed(values).filter((n) => !before.has(n))) {
			rmSync(path.join(values, name));
			removed++;
		}
		for (const name of listed(calls).filter((n) => !before.has(n))) {
			const file = path.join(calls, name);
			const entry = JSON.parse(readFileSync(file, 'utf8')) as { record: { result?: string }; values?: Record<string, string> };
			if (entry.values === undefined || entry.record.result === undefined || !(entry.record.result in entry.values)) continue;
			delete entry.values[entry.record.result];
			writeFileSync(`${file}.tmp`, JSON.stringify(entry));
			renameSync(`${file}.tmp`, file);
			removed++;
		}
		assert.ok(removed >= 1, 'the result was stored, in a value file or inside the call file');
		const row = await waitFor('the row to show damaged', async () =>
			(await callNodes(fleche, 'slowSquare')).find((r) => r.contextValue === 'fleche:call+damaged'),
		);
		assert.equal(row.description?.startsWith('damaged · '), true, String(row.description));
		assert.match(String(row.tooltip), /damaged: cannot be a hit: its result value [0-9a-f]{12}… is missing/);
	});

	test('after an invalidation the tree, the lens and the function details keep the same hits and misses; the next run adds to them', async () => {
		const before = parse(await treeCounts(fleche, 'add'));
		assert.ok(before.cached > 0 && before.hits > 0, JSON.stringify(before));
		await vscode.commands.executeCommand('fleche.evictFunction', { module: seeded.add.module, name: 'add' }, { confirm: false });
		const kept = text({ ...before, cached: 0 });
		const took = await timeUntilBoth(fleche, kept);
		console.log(`      after Invalidate: tree ${took.tree} ms, lens ${took.lens} ms`);
		await vscode.commands.executeCommand('fleche.showFunctionDetails', { module: seeded.add.module, name: 'add' });
		const panel = await waitFor('the add function details', () =>
			fleche.openPanels().find((p) => p.viewType === 'fleche.functionDetails' && (p.state as { name?: string } | undefined)?.name === 'add'),
		);
		const state = panel.state as { calls: number; hits: number; misses: number };
		assert.deepEqual({ calls: state.calls, hits: state.hits, misses: state.misses }, { calls: 0, hits: before.hits, misses: before.misses });
		await vscode.commands.executeCommand('workbench.action.closeAllEditors');

		// The next run computes add(9, 9) again: one more miss on top of the kept counts, never a reset or a jump.
		await runInWorkspace("const { add } = await import('./src/math.js'); add(9, 9);");
		await timeUntilBoth(fleche, text({ hits: before.hits, misses: before.misses + 1, cached: 1 }));
	});
});
