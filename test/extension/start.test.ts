// `npm start`'s explorer step without the editor (extension/scripts/start.mjs --no-editor): the demo workspace is
// made, the demo runs in it with the real runtime and leaves a store whose identities are the workspace's own, the
// store is kept across starts (a second start is all hits) unless --fresh, and nothing of the editor is started.
// The editor half (code-server) is exercised by hand and shares its pieces with the integration tier.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openStore, type FunctionSummary } from 'fleche/inspect';
import { runNode, tmpDir } from '../support/tmp.ts';

const rootDir = fileURLToPath(new URL('../../../', import.meta.url));
const start = join(rootDir, 'extension', 'scripts', 'start.mjs');

const summary = (workspace: string): Record<string, Pick<FunctionSummary, 'module' | 'calls' | 'hits' | 'misses'>> => {
	const store = openStore(join(workspace, '.fleche'));
	try {
		return Object.fromEntries(store.functions().map(({ name, module, calls, hits, misses }) => [name, { module, calls, hits, misses }]));
	} finally {
		store.close();
	}
};

test('start --no-editor makes the demo workspace, runs the demo into its store, keeps it across starts unless --fresh', async (t) => {
	const dir = tmpDir(t);
	const workspace = join(dir, 'demo-workspace');
	// FLECHE_ROOT set by the caller must not move the demo's store out of the workspace.
	const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
	const env = { ...inherited, FLECHE_ROOT: join(dir, 'elsewhere'), FLECHE_NO_EDITOR: '' };
	const first = await runNode(start, ['--no-editor', '--workspace', workspace], { env, timeoutMs: 60_000 });
	assert.equal(first.code, 0, first.stderr);
	assert.match(first.stdout, /editor skipped/);

	assert.equal(readFileSync(join(workspace, 'src', 'demo.ts'), 'utf8'), readFileSync(join(rootDir, 'runtime', 'examples', 'demo.ts'), 'utf8'));
	assert.equal((JSON.parse(readFileSync(join(workspace, 'package.json'), 'utf8')) as { name: string }).name, 'fleche-demo');
	const link = join(workspace, 'node_modules', 'fleche');
	assert.ok(lstatSync(link).isSymbolicLink());
	assert.equal(realpathSync(link), realpathSync(join(rootDir, 'runtime')));
	assert.equal(existsSync(join(dir, 'elsewhere')), false);
	// The demo asks for one argument of each function twice: 2 cached calls, 2 misses, 1 hit each.
	const once = { module: 'src/demo.ts', calls: 2, hits: 1, misses: 2 };
	assert.deepEqual(summary(workspace), { countPrimes: once, deriveKey: once });
	assert.equal(existsSync(join(dir, 'demo-editor')), false, 'no editor folder without the editor');

	// The environment switch skips the editor too; the kept store turns every call of the second run into a hit.
	const second = await runNode(start, ['--workspace', workspace], { env: { ...env, FLECHE_NO_EDITOR: '1' }, timeoutMs: 60_000 });
	assert.equal(second.code, 0, second.stderr);
	assert.doesNotMatch(second.stdout, /\bmiss\b/);
	const twice = { module: 'src/demo.ts', calls: 2, hits: 4, misses: 2 };
	assert.deepEqual(summary(workspace), { countPrimes: twice, deriveKey: twice });
	assert.equal(existsSync(join(dir, 'demo-editor')), false);

	const fresh = await runNode(start, ['--no-editor', '--fresh', '--workspace', workspace], { env, timeoutMs: 60_000 });
	assert.equal(fresh.code, 0, fresh.stderr);
	assert.deepEqual(summary(workspace), { countPrimes: once, deriveKey: once });
});
