// The CLI bundled into the extension (dist/cli.js) is what reruns use in a workspace without fleche installed: it has
// to work on its own, with the SQL store's worker and sql.js's wasm found beside it (shared with dist/extension.js).
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cache, fleche, flushStats, loadConfig } from 'fleche';
import { runNode, tmpDir } from '../support/tmp.ts';

const dist = fileURLToPath(new URL('../../../dist/', import.meta.url));
const cli = join(dist, 'cli.js');

test('the bundled CLI lists file and SQL stores from a folder that has no fleche installed', async (t) => {
	assert.ok(existsSync(cli), `${cli} is built`);
	for (const asset of ['sqlWorker.js', 'sql-wasm.wasm']) assert.ok(existsSync(join(dist, asset)), `${asset} beside it`);
	const dir = tmpDir(t);
	writeFileSync(join(dir, 'package.json'), '{ "name": "no-fleche-here", "private": true }\n');
	writeFileSync(join(dir, 'fleche.toml'), '[default]\ncache = "files"\n[files]\ntemplate = "file"\nroot = ".files"\n[sql]\ntemplate = "sql"\nroot = ".sql"\n');
	const square = fleche((x: number) => x * x, { name: 'square', module: 'src/math.ts' });
	const config = loadConfig({ cwd: dir, home: dir });
	for (const name of ['files', 'sql']) cache(config.open(name), () => [square(3), square(4), square(3)]);
	flushStats();
	for (const name of ['files', 'sql']) {
		const run = await runNode(cli, ['ls', '--cache', name, '--json'], { cwd: dir, execArgv: [] });
		assert.equal(run.code, 0, run.stderr);
		const { type, cache: listed, functions } = JSON.parse(run.stdout) as {
			type: string;
			cache: { name: string; kind: string };
			functions: { name: string; module: string; calls: number; hits: number; misses: number }[];
		};
		assert.deepEqual([type, listed.name, listed.kind], ['functions', name, name === 'sql' ? 'sql' : 'file']);
		assert.deepEqual(
			functions.map((r) => [r.name, r.module, r.calls, r.hits, r.misses]),
			[['square', 'src/math.ts', 2, 1, 2]],
			`${name}: ${run.stdout}`,
		);
	}
});
