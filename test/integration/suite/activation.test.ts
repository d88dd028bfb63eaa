// Activation, contributions and settings of the installed extension in a real extension host.
import assert from 'node:assert/strict';
import { suite, test } from 'mocha';
import * as vscode from 'vscode';
import { api, extensionId, functionNodes, logText, seeded, waitFor } from './support.js';

const contractCommands = [
	'fleche.refreshCalls',
	'fleche.rerunCall',
	'fleche.rerunFunction',
	'fleche.evictCall',
	'fleche.evictFunction',
	'fleche.clearCache',
	'fleche.showCallDetails',
	'fleche.showFunctionDetails',
	'fleche.explainMiss',
	'fleche.runWithArguments',
	'fleche.lensActions',
	'fleche.showLog',
	'fleche.showReadme',
];

suite('activation', () => {
	test('the extension activates in a workspace with a store and returns the FlecheApi', async () => {
		const ext = vscode.extensions.getExtension(extensionId);
		assert.ok(ext, `${extensionId} not found`);
		const fleche = await api();
		assert.equal(ext.isActive, true);
		assert.equal(fleche.version, 1);
		for (const member of ['refresh', 'lensTitles', 'openPanels'] as const) assert.equal(typeof fleche[member], 'function', member);
		assert.equal(typeof fleche.tree.getChildren, 'function');
		assert.equal(typeof fleche.onDidRefresh, 'function');
	});

	test('every command of the contract is registered', async () => {
		await api();
		const all = new Set(await vscode.commands.getCommands(true));
		const missing = contractCommands.filter((id) => !all.has(id));
		assert.deepEqual(missing, [], `commands not registered: ${missing.join(', ')}`);
	});

	test('the manifest contributes the view container, the view and the settings with their defaults', () => {
		const ext = vscode.extensions.getExtension(extensionId);
		const contributes = (ext?.packageJSON as { contributes?: Record<string, unknown> }).contributes ?? {};
		const containers = (contributes.viewsContainers as { activitybar?: { id: string }[] } | undefined)?.activitybar ?? [];
		assert.ok(containers.some((c) => c.id === 'fleche'), 'activity bar container `fleche`');
		const views = (contributes.views as Record<string, { id: string }[]> | undefined)?.fleche ?? [];
		assert.ok(views.some((v) => v.id === 'fleche.calls'), 'view `fleche.calls` in container `fleche`');
		const config = vscode.workspace.getConfiguration('fleche');
		assert.equal(config.get('codeLens.enabled'), true);
		assert.deepEqual(config.get('caches'), []);
		assert.equal(config.get('node.path'), 'node');
	});

	test('the view opens through its real command, refresh re-reads the stores and the log shows what happened', async () => {
		const fleche = await api();
		await vscode.commands.executeCommand('workbench.view.extension.fleche');
		await vscode.commands.executeCommand('fleche.calls.focus');
		let refreshed = 0;
		const sub = fleche.onDidRefresh(() => refreshed++);
		try {
			await vscode.commands.executeCommand('fleche.refreshCalls');
			await waitFor('a refresh event', () => refreshed > 0);
		} finally {
			sub.dispose();
		}
		// After the refresh the tree lists the store again, from scratch: every seeded function is back.
		const names = await waitFor('the seeded functions listed again', async () => {
			const listed = (await functionNodes(fleche)).map((n) => String(n.data?.name)).sort();
			return listed.length === Object.keys(seeded).length ? listed : undefined;
		});
		assert.deepEqual(names, Object.keys(seeded).sort());
		// The channel's document fills in after it is shown: poll until the activation line is there.
		await waitFor('the activation line in the Fleche log', async () => {
			const shown = await logText();
			return shown !== undefined && /fleche \S+ activating/.test(shown) ? shown : undefined;
		});
	});

	test("the welcome view's 'Read how to start' opens the README shipped with the extension, without a network", async () => {
		await api();
		// The empty-workspace entry (the other one says the caches are loading).
		const welcome = ((vscode.extensions.getExtension(extensionId)?.packageJSON as { contributes?: { viewsWelcome?: { contents: string }[] } }).contributes
			?.viewsWelcome ?? []).find((w) => w.contents.includes('Read how to start'))?.contents;
		const link = /\[Read how to start\]\(command:([\w.]+)\)/.exec(welcome ?? '')?.[1];
		assert.equal(link, 'fleche.showReadme');
		await vscode.commands.executeCommand(link);
		const tabs = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs.map((t) => t.label));
		await waitFor('a README.md preview tab', () => tabs().some((l) => l.includes('README.md')));
		await vscode.commands.executeCommand('workbench.action.closeAllEditors');
	});

	test('it runs in code-server or VS Code proper, with the real API', () => {
		// Recorded so a run's log says which host was tested (the desktop runner executes this same suite).
		assert.match(vscode.version, /^\d+\.\d+\.\d+/);
		console.log(`host: ${vscode.env.appName} ${vscode.version}, remote ${vscode.env.remoteName ?? 'none'}, node ${process.version}`);
	});
});
