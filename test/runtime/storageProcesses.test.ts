// Several processes writing one ValueFile root at once (split from storage.test, which stays fast enough to judge the
// file storages' mutants in test/mutation/run.mjs: this one spawns 4 child processes).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { ValueFile } from 'fleche';
import { captureLogs } from '../support/logs.js';
import { hexOf as k } from '../support/sqlRecord.js';
import { tmpDir } from '../support/tmp.js';

const logs = captureLogs();

/** Temporary files a writer left in a values root. */
function tempFiles(root: string): string[] {
	return fs.existsSync(root) ? fs.readdirSync(root).filter((n) => n.startsWith('.') || n.endsWith('.tmp')) : [];
}

/** The built package for child processes: `FLECHE_MODULE` when set (ad-hoc runs), else the installed `fleche`. */
function flecheModulePath(): string {
	const fromEnv = process.env['FLECHE_MODULE'];
	if (fromEnv !== undefined && fromEnv !== '') return path.resolve(fromEnv);
	return createRequire(import.meta.url).resolve('fleche');
}

const childScript = `
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
const [root, id, startAt, modulePath] = process.argv.slice(2);
const mod = await import(pathToFileURL(modulePath).href);
const { ValueFile } = mod.ValueFile ? mod : mod.default;
const store = new ValueFile({ root });
const key = (label) => createHash('sha256').update(label).digest('hex');
// Start together so that the writes really overlap.
while (Date.now() < Number(startAt)) {}
for (let i = 0; i < 200; i++) {
	store.put(key('child ' + id + ' ' + i), { child: Number(id), i, text: 'x'.repeat(i * 10), m: new Map([[i, id]]) });
	if (i % 4 === 0) store.put(key('shared ' + i / 4), { shared: i / 4, text: 'y'.repeat(2000) });
}
`;

describe('several processes sharing one root', () => {
	it('4 children writing 200 distinct and 50 identical values each: all 850 load, no temporaries remain', async (t) => {
		const dir = tmpDir(t);
		const root = path.join(dir, 'values');
		const script = path.join(dir, 'child.mjs');
		fs.writeFileSync(script, childScript);
		const modulePath = flecheModulePath();
		const startAt = Date.now() + 400;
		const runs = [0, 1, 2, 3].map(
			(id) =>
				new Promise<void>((resolve, reject) => {
					const child = spawn(process.execPath, [script, root, String(id), String(startAt), modulePath], {
						stdio: ['ignore', 'ignore', 'pipe'],
					});
					let stderr = '';
					child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
					child.on('error', reject);
					child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child ${id} exited ${code}: ${stderr}`))));
				}),
		);
		await Promise.all(runs);

		const values = new ValueFile({ root });
		assert.equal(values.list().length, 850);
		for (let id = 0; id < 4; id++) {
			for (let i = 0; i < 200; i++) {
				assert.deepStrictEqual(values.get(k(`child ${id} ${i}`)), { child: id, i, text: 'x'.repeat(i * 10), m: new Map([[i, String(id)]]) });
			}
		}
		for (let s = 0; s < 50; s++) assert.deepStrictEqual(values.get(k(`shared ${s}`)), { shared: s, text: 'y'.repeat(2000) });
		assert.deepStrictEqual(tempFiles(root), []);
		assert.deepStrictEqual(logs.records, []);
	});
});
