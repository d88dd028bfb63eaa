// docs/behaviour.md §13 (the `fleche` CLI): the real `fleche` binary in child processes, against stores written by real user modules
// (JavaScript and TypeScript) in a temp project that resolves `fleche` to this checkout.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ValueFile, digest, fleche } from 'fleche';
import { runNode, type RunNodeResult } from '../support/tmp.ts';
import { bundleTypeScript, runtimeDir, userProject } from '../support/project.ts';

const bin = join(runtimeDir, 'bin', 'fleche.mjs');

const sources = {
	'src/math.js': [
		"import { ValueFile, digest, fleche } from 'fleche';",
		"import { appendFileSync } from 'node:fs';",
		"const runs = new URL('../runs.txt', import.meta.url);",
		'export const add = fleche((a, b) => {',
		"\tappendFileSync(runs, 'add\\n');",
		'\treturn a + b;',
		'});',
		'',
	].join('\n'),
	'src/geo.ts': [
		"import { ValueFile, digest, fleche } from 'fleche';",
		"import { appendFileSync } from 'node:fs';",
		"const runs = new URL('../runs.txt', import.meta.url);",
		'export const area = fleche(async (w: number, h: number = 2): Promise<number> => {',
		"\tappendFileSync(runs, 'area\\n');",
		'\treturn w * h;',
		'}, { version: 3 });',
		'',
	].join('\n'),
	// argv: JSON list of [a, b] pairs for add; area(3), area(4, 5) always.
	'seed.ts': [
		"import { add } from './src/math.js';",
		"import { area } from './src/geo.ts';",
		"const pairs: [number, number][] = JSON.parse(process.argv[2] ?? '[[1,2],[2,3]]');",
		'for (const [a, b] of pairs) add(a, b);',
		'await area(3);',
		'await area(4, 5);',
		'',
	].join('\n'),
};

/** A project with the user modules and `seed.mjs` (seed.ts bundled with an inline source map, as tsx would). */
async function project(): Promise<string> {
	const dir = userProject(sources);
	await bundleTypeScript(join(dir, 'seed.ts'), join(dir, 'seed.mjs'));
	return dir;
}

async function seed(dir: string, pairs: [number, number][] = [[1, 2], [2, 3]]): Promise<void> {
	const r = await runNode(join(dir, 'seed.mjs'), [JSON.stringify(pairs)], { cwd: dir });
	assert.equal(r.code, 0, r.stderr);
	writeFileSync(join(dir, 'runs.txt'), '');
}

function fleche_(dir: string, ...args: string[]): Promise<RunNodeResult> {
	return runNode(bin, args, { cwd: dir, execArgv: [] });
}

/** The JSON lines of a `--json` run. */
function lines(r: RunNodeResult): { type: string; [k: string]: unknown }[] {
	return r.stdout
		.split('\n')
		.filter((l) => l.trim() !== '')
		.map((l) => {
			const m = JSON.parse(l) as { v: unknown; type: string };
			assert.equal(m.v, 1, l);
			return m;
		});
}

function one(r: RunNodeResult, type: string): Record<string, unknown> {
	const found = lines(r).filter((l) => l.type === type);
	assert.equal(found.length, 1, `one ${type} line in ${r.stdout}\n${r.stderr}`);
	return found[0]!;
}

function runs(dir: string): string[] {
	return readFileSync(join(dir, 'runs.txt'), 'utf8').split('\n').filter(Boolean);
}

/** The one-line failure contract: exit code, nothing on stdout, one line on stderr. */
function assertOneLineError(r: RunNodeResult, code: number, pattern: RegExp): void {
	assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
	assert.equal(r.stdout, '');
	const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('fleche: ') && !l.startsWith('fleche: warning'));
	assert.equal(errorLines.length, 1, r.stderr);
	assert.match(errorLines[0]!, pattern);
}

// The same identity as src/math.js's `add` (module and name given): its keys are those the seed writes.
const addTwin = fleche((a: number, b: number) => a + b, { name: 'add', module: 'src/math.js' });

describe('fleche CLI', () => {
	let dir: string;
	before(async () => {
		dir = await project();
		await seed(dir);
	});

	test('ls lists functions, and the calls of one, as a table and as JSON lines', async () => {
		const table = await fleche_(dir, 'ls');
		assert.equal(table.code, 0, table.stderr);
		assert.match(table.stdout, /^FUNCTION\s+MODULE\s+CALLS/);
		assert.match(table.stdout, /\badd\s+src\/math\.js\s+2\b/);
		assert.match(table.stdout, /\barea\s+src\/geo\.ts\s+2\b/);

		const json = one(await fleche_(dir, 'ls', '--json'), 'functions') as { functions: { name: string; calls: number; versions: unknown[] }[] };
		assert.deepEqual(
			json.functions.map((f) => [f.name, f.calls]).sort(),
			[
				['add', 2],
				['area', 2],
			],
		);
		assert.deepEqual(json.functions.find((f) => f.name === 'area')!.versions, [3]);

		const calls = await fleche_(dir, 'ls', 'src/geo.ts:area');
		assert.equal(calls.code, 0, calls.stderr);
		assert.match(calls.stdout, /w=4, h=5/);
		assert.match(calls.stdout, /w=3, h=2/, 'the default argument is recorded');
		const page = one(await fleche_(dir, 'ls', 'add', '--json', '--limit', '1'), 'calls') as { total: number; calls: { argsText: string }[] };
		assert.equal(page.total, 2);
		assert.deepEqual(
			page.calls.map((c) => c.argsText),
			['a=2, b=3'],
		);
	});

	test('show prints one call; --json carries its arguments, result and metadata', async () => {
		const key = addTwin.fleche.digest(2, 3);
		const human = await fleche_(dir, 'show', key.slice(0, 7));
		assert.equal(human.code, 0, human.stderr);
		assert.match(human.stdout, new RegExp(`key:\\s+${key}`));
		assert.match(human.stdout, /a = 2\n\s+b = 3/);
		assert.match(human.stdout, /result:\s+5/);
		const json = one(await fleche_(dir, 'show', key.slice(0, 7), '--json'), 'call') as {
			call: { key: string; arguments: unknown; result: unknown; metadata: { runtime?: unknown } };
			resultText: string;
		};
		assert.equal(json.call.key, key);
		assert.deepEqual(json.call.arguments, { a: 2, b: 3 });
		assert.deepEqual(json.call.result, { ok: true, value: 5 });
		assert.ok(json.call.metadata.runtime !== undefined);
		assert.equal(json.resultText, '5');
	});

	test('stats sums hits and misses written by the user process', async () => {
		const d = await project();
		await seed(d, [
			[1, 2],
			[1, 2],
			[1, 2],
		]);
		const stats = one(await fleche_(d, 'stats', '--json'), 'stats') as { totals: { calls: number; hits: number; misses: number } };
		assert.deepEqual([stats.totals.calls, stats.totals.hits, stats.totals.misses], [3, 2, 3]);
		const human = await fleche_(d, 'stats');
		assert.match(human.stdout, /calls:\s+3 in 2 functions/);
		assert.match(human.stdout, /hits:\s+2\s+misses: 3/);
	});

	test('rerun <prefix> re-executes a JavaScript call and overwrites its entry', async () => {
		const key = addTwin.fleche.digest(1, 2);
		const before = one(await fleche_(dir, 'show', key, '--json'), 'call') as { call: { metadata: { runtime: { timestop: number } } } };
		const r = await fleche_(dir, 'rerun', key.slice(0, 6), '--json');
		assert.equal(r.code, 0, r.stderr);
		const all = lines(r);
		assert.deepEqual(
			all.map((l) => l.type),
			['progress', 'module', 'rerun', 'progress', 'done'],
		);
		assert.deepEqual(all[0], { v: 1, type: 'progress', done: 0, total: 1 });
		assert.equal(all[1]!.file, realpathSync(join(dir, all[1]!.module as string)), 'the file it runs is named before it runs');
		assert.equal(all[1]!.project, dir);
		assert.deepEqual(all[2], { v: 1, type: 'rerun', key, ok: true });
		assert.deepEqual(all[4], { v: 1, type: 'done', ok: 1, failed: 0 });
		assert.deepEqual(runs(dir), ['add'], 'the body ran again');
		const after = one(await fleche_(dir, 'show', key, '--json'), 'call') as { call: { metadata: { runtime: { timestop: number } } } };
		assert.ok(after.call.metadata.runtime.timestop > before.call.metadata.runtime.timestop, 'the entry was rewritten');
	});

	test('rerun --function re-executes every call of a TypeScript function (transpiled on the fly), same keys', async () => {
		writeFileSync(join(dir, 'runs.txt'), '');
		const r = await fleche_(dir, 'rerun', '--function', 'area', '--json');
		assert.equal(r.code, 0, r.stderr);
		const reruns = lines(r).filter((l) => l.type === 'rerun');
		assert.equal(reruns.length, 2);
		for (const line of reruns) {
			assert.equal(line.ok, true, JSON.stringify(line));
			assert.equal(line.newKey, undefined, 'the TS module has the identity it had in the user process');
		}
		assert.deepEqual(runs(dir), ['area', 'area']);
		assert.deepEqual(
			readdirSync(join(dir, 'src')).filter((n) => n.includes('fleche-')),
			[],
			'the transpiled file is removed',
		);
		const human = await fleche_(dir, 'rerun', '--function', 'area');
		assert.equal(human.code, 0, human.stderr);
		assert.match(human.stdout, /Reran 2 calls/);
	});

	test('explain names the argument that differs from the nearest cached call', async () => {
		const r = await fleche_(dir, 'explain', 'add', '{"a":2,"b":4}');
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stdout, /argument b: cached 3, now 4/);
		const json = one(await fleche_(dir, 'explain', 'src/math.js:add', '[2, 4]', '--json'), 'explain') as {
			explanation: { hit: boolean; key: string; differences: { field: string; name?: string }[] };
		};
		assert.equal(json.explanation.hit, false);
		assert.equal(json.explanation.key, addTwin.fleche.digest(2, 4));
		assert.deepEqual(
			json.explanation.differences.map((d) => [d.field, d.name]),
			[['argument', 'b']],
		);
		const hit = one(await fleche_(dir, 'explain', 'area', '{"w":3}', '--json'), 'explain') as { explanation: { hit: boolean } };
		assert.equal(hit.explanation.hit, true, 'the TS default h=2 applies');
	});

	test('evict by prefix, by function and --all; gc removes orphaned values', async () => {
		const d = await project();
		await seed(d, [
			[1, 1],
			[2, 2],
			[3, 3],
			[4, 4],
		]);
		const k = addTwin.fleche.digest(1, 1);
		const byKey = one(await fleche_(d, 'evict', k.slice(0, 8), '--json'), 'evicted');
		assert.equal(byKey.count, 1);
		// Several prefixes in one command: every one of them is evicted, not only the first.
		const [k2, k3] = [addTwin.fleche.digest(2, 2), addTwin.fleche.digest(3, 3)];
		assert.equal(one(await fleche_(d, 'show', k3.slice(0, 8), '--json'), 'call').type, 'call');
		const byKeys = one(await fleche_(d, 'evict', k2.slice(0, 8), k3.slice(0, 8), '--json'), 'evicted');
		assert.equal(byKeys.count, 2);
		for (const gone of [k, k2, k3]) assertOneLineError(await fleche_(d, 'show', gone.slice(0, 8)), 1, /No cached call matches/);
		// The evicted calls' small values were inside their call files (docs/behaviour.md §2.6) and went with them; a
		// value file no call names is what gc removes.
		new ValueFile({ root: join(d, '.fleche', 'values') }).put(digest('orphan'), 'orphan');
		assert.equal(one(await fleche_(d, 'gc', '--json'), 'gc').removed, 0, 'values younger than the grace period stay');
		const gc = one(await fleche_(d, 'gc', '--grace', '0', '--json'), 'gc');
		assert.ok((gc.removed as number) >= 1, JSON.stringify(gc));
		const byFunction = await fleche_(d, 'evict', '--function', 'area');
		assert.equal(byFunction.code, 0, byFunction.stderr);
		assert.match(byFunction.stdout, /Evicted 2 calls/);
		const all = one(await fleche_(d, 'evict', '--all', '--json'), 'evicted');
		assert.equal(all.count, 1, 'add(4, 4) was left');
		assert.deepEqual(
			(one(await fleche_(d, 'ls', '--json'), 'functions') as { functions: { name: string; calls: number }[] }).functions.map((f) => [f.name, f.calls]),
			[
				['area', 0],
				['add', 0],
			],
			'no calls left; the functions stay listed with their statistics',
		);
	});

	test('counts after an invalidation: ls and stats keep every statistic, list the function with 0 calls, and the next run adds to them', async () => {
		const d = await project();
		await seed(d, [
			[1, 2],
			[1, 2],
			[1, 2],
		]);
		type Listed = { name: string; calls: number; hits: number; misses: number };
		const listed = async (): Promise<Listed[]> =>
			(one(await fleche_(d, 'ls', '--json'), 'functions') as { functions: Listed[] }).functions.map(({ name, calls, hits, misses }) => ({ name, calls, hits, misses }));
		const totals = async () => (one(await fleche_(d, 'stats', '--json'), 'stats') as { totals: { calls: number; functions: number; hits: number; misses: number } }).totals;
		const before = await listed();
		// By module, then name: src/geo.ts before src/math.ts.
		assert.deepEqual(before, [
			{ name: 'area', calls: 2, hits: 0, misses: 2 },
			{ name: 'add', calls: 1, hits: 2, misses: 1 },
		]);
		assert.equal(one(await fleche_(d, 'evict', '--all', '--json'), 'evicted').count, 3);
		assert.deepEqual(
			await listed(),
			before.map((f) => ({ ...f, calls: 0 })),
		);
		const t = await totals();
		assert.deepEqual([t.calls, t.functions, t.hits, t.misses], [0, 2, 2, 3]);
		const table = await fleche_(d, 'ls');
		assert.match(table.stdout, /\badd\s+src\/math\.js\s+0\s+2\s+1\b/, table.stdout);
		const human = await fleche_(d, 'stats');
		assert.match(human.stdout, /calls:\s+0 in 2 functions/);
		assert.match(human.stdout, /hits:\s+2\s+misses: 3/);
		// The next run computes again: one more miss each, nothing reset, nothing counted twice.
		await seed(d, [[1, 2]]);
		assert.deepEqual(await listed(), [
			{ name: 'area', calls: 2, hits: 0, misses: 4 },
			{ name: 'add', calls: 1, hits: 2, misses: 2 },
		]);
		assert.equal(one(await fleche_(d, 'evict', '--function', 'add', '--json'), 'evicted').count, 1);
		assert.equal(one(await fleche_(d, 'evict', '--function', 'add', '--json'), 'evicted').count, 0, 'a function with statistics only has nothing to evict');
	});

	test('--root and --cache select the store; --cwd selects the project', async () => {
		const viaRoot = await fleche_('/', 'ls', '--root', join(dir, '.fleche'), '--json');
		assert.equal(viaRoot.code, 0, viaRoot.stderr);
		assert.equal((one(viaRoot, 'functions') as { functions: unknown[] }).functions.length, 2);
		const viaCwd = await fleche_('/', 'ls', '--cwd', dir, '--json');
		assert.equal((one(viaCwd, 'functions') as { functions: unknown[] }).functions.length, 2);
		writeFileSync(join(dir, 'fleche.toml'), '[other]\ntemplate = "file"\nroot = "elsewhere"\n');
		try {
			const other = one(await fleche_(dir, 'ls', '--cache', 'other', '--json'), 'functions') as { cache: { root: string }; functions: unknown[] };
			assert.equal(other.cache.root, join(dir, 'elsewhere'));
			assert.deepEqual(other.functions, []);
			assertOneLineError(await fleche_(dir, 'ls', '--cache', 'nope'), 1, /Unknown cache name 'nope'/);
		} finally {
			rmSync(join(dir, 'fleche.toml'));
		}
	});

	test('unknown and ambiguous prefixes: one line, exit code 1 (an error line on stdout with --json)', async () => {
		assertOneLineError(await fleche_(dir, 'show', 'ffff0000'), 1, /No cached call matches ffff0000/);
		const json = await fleche_(dir, 'show', 'ffff0000', '--json');
		assert.equal(json.code, 1);
		assert.deepEqual(lines(json), [{ v: 1, type: 'error', message: 'No cached call matches ffff0000', error: 'KeyError' }]);

		// Two calls whose keys share their first 4 hex characters.
		const seen = new Map<string, number>();
		let pair: [number, number] | undefined;
		for (let i = 0; pair === undefined; i++) {
			const p = addTwin.fleche.digest(i, 0).slice(0, 4);
			const other = seen.get(p);
			if (other !== undefined) pair = [other, i];
			else seen.set(p, i);
		}
		const d = await project();
		await seed(d, [
			[pair[0], 0],
			[pair[1], 0],
		]);
		const prefix = addTwin.fleche.digest(pair[0], 0).slice(0, 4);
		assertOneLineError(await fleche_(d, 'rerun', prefix), 1, /ambiguous/);
		assertOneLineError(await fleche_(d, 'evict', prefix), 1, /ambiguous/);
	});

	test('a corrupt store: bad entries are skipped with a warning, a broken fleche.toml is one line', async () => {
		const d = await project();
		await seed(d);
		const bad = 'ab'.repeat(32);
		writeFileSync(join(d, '.fleche', 'calls', bad), '{ torn');
		const ls = await fleche_(d, 'ls', '--json');
		assert.equal(ls.code, 0, ls.stderr);
		assert.equal((one(ls, 'functions') as { functions: unknown[] }).functions.length, 2);
		assert.match(ls.stderr, /fleche: warning: Corrupt cache file/);
		writeFileSync(join(d, '.fleche', 'calls', bad), '{ torn');
		assertOneLineError(await fleche_(d, 'show', bad), 1, /No cached call matches|Corrupt/);
		writeFileSync(join(d, 'fleche.toml'), '[default\ncache = ');
		const r = await fleche_(d, 'ls');
		assertOneLineError(r, 1, /fleche\.toml/);
	});

	test('a missing module: rerun reports it per call and exits 1', async () => {
		const d = await project();
		await seed(d);
		rmSync(join(d, 'src', 'math.js'));
		const human = await fleche_(d, 'rerun', '--function', 'add');
		assert.equal(human.code, 1);
		assert.match(human.stderr, /Cannot find module src\/math\.js/);
		const json = await fleche_(d, 'rerun', addTwin.fleche.digest(1, 2).slice(0, 8), '--json');
		assert.equal(json.code, 1);
		const all = lines(json);
		assert.match(String(all.find((l) => l.type === 'rerun')?.error), /Cannot find module src\/math\.js/);
		assert.deepEqual(all.at(-1), { v: 1, type: 'done', ok: 0, failed: 1 });
	});

	test('rerun of an @fleche() class method rebuilds `this` from its stored fields; an unexported class says why it cannot', async (t) => {
		const d = userProject(
			{
				'src/shapes.mjs': [
					"import { ValueFile, digest, fleche } from 'fleche';",
					'export class Shapes {',
					'\tscale = 2;',
					'\t@fleche() area(w, h) { globalThis.areaRuns = (globalThis.areaRuns ?? 0) + 1; return w * h * this.scale; }',
					'}',
					'class Hidden {',
					'\t@fleche() twice(x) { return 2 * x; }',
					'}',
					'export const hidden = () => new Hidden().twice(4);',
					'',
				].join('\n'),
				'seed.ts': "import { Shapes, hidden } from './src/shapes.mjs';\nconst big = new Shapes();\nbig.scale = 10;\nbig.area(2, 3);\nnew Shapes().area(2, 3);\nhidden();\n",
			},
			t,
		);
		// Decorators are not in Node 20's JavaScript yet: esbuild lowers them, as a user's build would.
		await build({ entryPoints: [join(d, 'src', 'shapes.mjs')], outfile: join(d, 'src', 'shapes.mjs'), allowOverwrite: true, format: 'esm', target: 'node20', logLevel: 'silent' });
		// Not bundled: the methods' module must stay src/shapes.mjs, where the rerun finds the exported class.
		await build({ entryPoints: [join(d, 'seed.ts')], outfile: join(d, 'seed.mjs'), platform: 'node', format: 'esm', logLevel: 'silent' });
		const seeded = await runNode(join(d, 'seed.mjs'), [], { cwd: d });
		assert.equal(seeded.code, 0, seeded.stderr);
		const before = lines(await fleche_(d, 'ls', 'Shapes.area', '--json')).find((l) => l.type === 'calls') as { calls: { key: string }[] } | undefined;
		assert.equal(before?.calls.length, 2, 'two instances, two calls: `this` is part of the key');

		const r = await fleche_(d, 'rerun', '--function', 'Shapes.area', '--json');
		assert.equal(r.code, 0, `${r.stderr}${r.stdout}`);
		const reruns = lines(r).filter((l) => l.type === 'rerun');
		assert.deepEqual(
			reruns.map((l) => [l.ok, l.newKey]).sort(),
			[
				[true, undefined],
				[true, undefined],
			],
			'each call recomputed under its own key',
		);
		const results = await Promise.all(
			before.calls.map(async (c) => (one(await fleche_(d, 'show', c.key, '--json'), 'call') as { call: { result: { value: unknown } } }).call.result),
		);
		assert.deepEqual(results.map((x) => JSON.stringify(x)).sort(), [JSON.stringify({ ok: true, value: 12 }), JSON.stringify({ ok: true, value: 60 })].sort(), 'this.scale came back: 2·3·2 and 2·3·10');

		const hidden = await fleche_(d, 'rerun', '--function', 'Hidden.twice');
		assert.equal(hidden.code, 1, hidden.stderr);
		assert.match(hidden.stderr, /does not export a class Hidden with an @fleche\(\) method twice/);
		assert.match(hidden.stdout, /Reran 0 calls, 1 failed/);
	});

	test('usage errors exit 2', async () => {
		assertOneLineError(await fleche_(dir), 2, /Missing command/);
		assertOneLineError(await fleche_(dir, 'evict'), 2, /exactly one of/);
		assertOneLineError(await fleche_(dir, 'rerun'), 2, /exactly one of/);
		assertOneLineError(await fleche_(dir, 'ls', '--bogus'), 2, /unknown option/);
		assertOneLineError(await fleche_(dir, 'explain', 'add', '{not json'), 2, /not JSON/);
		assertOneLineError(await fleche_(dir, 'ls', '--cache', 'x', '--root', '.'), 2, /not both/);
		const json = await fleche_(dir, 'frobnicate', '--json');
		assert.equal(json.code, 2);
		assert.equal(one(json, 'error').type, 'error');
		const help = await fleche_(dir, '--help');
		assert.equal(help.code, 0);
		assert.match(help.stdout, /rerun/);
	});
});
