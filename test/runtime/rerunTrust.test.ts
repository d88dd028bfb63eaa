// Rerun that users can trust: `fleche rerun`, `fleche call` and `fleche explain` import the user's module, which runs its
// top-level code. The real `fleche` binary in child processes, against a real project whose module writes a marker file
// and calls its own cached functions at top level (awaited, and not awaited: after the CLI's command is over).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fleche, isRerun, RERUN_ENV } from 'fleche';
import { runNode, type RunNodeResult } from '../support/tmp.ts';
import { runtimeDir, userProject } from '../support/project.ts';

const bin = join(runtimeDir, 'bin', 'fleche.mjs');

const sources = {
	'src/work.js': [
		"import { fleche, isRerun } from 'fleche';",
		"import { appendFileSync } from 'node:fs';",
		"appendFileSync(new URL('../marker.txt', import.meta.url), `imported rerun=${isRerun()}\\n`);",
		'export const double = fleche((x) => x * 2);',
		'export const square = fleche((x) => x * x);',
		'export const guarded = fleche((x) => x + 1);',
		'export const boom = fleche((x) => {\n\tthrow new RangeError(`boom ${x}`);\n});',
		'// A careless module: cached calls at top level, one awaited, one left running past the import.',
		'square(3);',
		'double(1);',
		'void new Promise((r) => setTimeout(r, 50)).then(() => square(3));',
		'// A careful one: its work runs only when it is the program.',
		'if (!isRerun()) guarded(1);',
		'',
	].join('\n'),
	'seed.js': ["import { double } from './src/work.js';", 'double(5);', ''].join('\n'),
};

const doubleTwin = fleche((x: number) => x * 2, { name: 'double', module: 'src/work.js' });

function cli(dir: string, ...args: string[]): Promise<RunNodeResult> {
	return runNode(bin, args, { cwd: dir, execArgv: [] });
}

function json(r: RunNodeResult, type: string): Record<string, unknown>[] {
	assert.equal(r.code, 0, r.stderr);
	return r.stdout
		.split('\n')
		.filter((l) => l.trim() !== '')
		.map((l) => JSON.parse(l) as Record<string, unknown>)
		.filter((m) => m.type === type);
}

type Counts = Record<string, { calls: number; hits: number; misses: number }>;

async function counts(dir: string): Promise<Counts> {
	const [line] = json(await cli(dir, 'ls', '--json'), 'functions') as { functions: { name: string; calls: number; hits: number; misses: number }[] }[];
	return Object.fromEntries(line!.functions.map((f) => [f.name, { calls: f.calls, hits: f.hits, misses: f.misses }]));
}

function marker(dir: string): string[] | null {
	const file = join(dir, 'marker.txt');
	return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : null;
}

interface Explained {
	explanation: {
		hit: boolean;
		key: string | null;
		keyedBy: string | null;
		differences: { field: string; name?: string; cached: string; now: string }[];
		message: string;
	};
}

describe('rerun and explain: what the import of the user module runs, and what it counts', () => {
	let dir: string;
	before(async () => {
		dir = userProject(sources);
		// Twice: every top-level call and double(5) are stored; the second run hits each once.
		for (let i = 0; i < 2; i++) {
			const r = await runNode(join(dir, 'seed.js'), [], { cwd: dir });
			assert.equal(r.code, 0, r.stderr);
		}
		assert.deepEqual(marker(dir), ['imported rerun=false', 'imported rerun=false']);
		rmSync(join(dir, 'marker.txt'));
	});

	test('isRerun() is false in a process of its own', () => {
		assert.equal(isRerun(), false);
		assert.equal(RERUN_ENV, 'FLECHE_RERUN');
	});

	test('explain with arguments by name that the store knows imports nothing: the marker is not written', async () => {
		const hit = json(await cli(dir, 'explain', 'double', '{"x":5}', '--json'), 'explain')[0] as unknown as Explained;
		assert.equal(hit.explanation.hit, true);
		assert.equal(hit.explanation.keyedBy, 'store');
		assert.equal(hit.explanation.key, doubleTwin.fleche.digest(5), 'the key the function itself computes');

		const miss = json(await cli(dir, 'explain', 'src/work.js:double', '{"x":7}', '--json'), 'explain')[0] as unknown as Explained;
		assert.equal(miss.explanation.hit, false);
		assert.equal(miss.explanation.keyedBy, 'store');
		assert.equal(miss.explanation.key, doubleTwin.fleche.digest(7));
		assert.deepEqual(
			miss.explanation.differences.map((d) => [d.field, d.name, d.now]),
			[['argument', 'x', '7']],
		);

		const human = await cli(dir, 'explain', 'double', '{"x":7}');
		assert.equal(human.code, 0, human.stderr);
		assert.match(human.stdout, /argument x: cached (1|5), now 7/);
		assert.match(human.stdout, /from the store alone, nothing imported/);
		assert.doesNotMatch(human.stderr, /importing/);
		assert.equal(marker(dir), null, 'explain ran none of the module');
	});

	test('explain imports when it must (positional arguments, --import) and says so; the import is a rerun', async (t) => {
		t.after(() => rmSync(join(dir, 'marker.txt'), { force: true }));
		const before = await counts(dir);
		const positional = await cli(dir, 'explain', 'double', '[7]', '--json');
		const [module] = json(positional, 'module');
		assert.equal(module?.module, 'src/work.js');
		const [line] = json(positional, 'explain') as unknown as Explained[];
		assert.equal(line!.explanation.keyedBy, 'function');
		assert.equal(line!.explanation.key, doubleTwin.fleche.digest(7));

		const forced = await cli(dir, 'explain', 'double', '{"x":5}', '--import');
		assert.equal(forced.code, 0, forced.stderr);
		assert.match(forced.stderr, /importing .*work\.js \(module src\/work\.js of .*\): its top-level code runs too, unless it checks isRerun\(\)/);
		assert.match(forced.stdout, /^Cached: /);
		assert.match(forced.stdout, /keyed by double as imported/);
		assert.deepEqual(marker(dir), ['imported rerun=true', 'imported rerun=true']);
		assert.deepEqual(await counts(dir), before, 'the top-level calls of the imports counted nothing');
	});

	test('rerun counts only its own call: the top-level calls of the import (awaited or not) leave every statistic as it was', async (t) => {
		t.after(() => rmSync(join(dir, 'marker.txt'), { force: true }));
		const before = await counts(dir);
		assert.deepEqual(before.square, { calls: 1, hits: 3, misses: 1 }, 'square is called twice per seed run');
		assert.deepEqual(before.double, { calls: 2, hits: 2, misses: 2 });
		assert.deepEqual(before.guarded, { calls: 1, hits: 1, misses: 1 });

		const r = await cli(dir, 'rerun', doubleTwin.fleche.digest(5), '--json');
		assert.deepEqual(
			json(r, 'rerun').map((m) => m.ok),
			[true],
		);
		assert.deepEqual(marker(dir), ['imported rerun=true'], 'the module saw isRerun() true');
		const after = await counts(dir);
		assert.deepEqual(after.square, before.square, 'square: called twice by the import, counted never');
		assert.deepEqual(after.guarded, before.guarded, 'guarded: not called at all');
		assert.equal(after.double!.hits, before.double.hits, 'double(1) from the import is no hit of the user');
		assert.equal(after.double!.misses, before.double.misses + 1, 'the rerun of double(5) is the one call counted');
	});

	test('call with new arguments: a miss runs and stores, the same call again is a hit, by name or positional; only those calls count', async (t) => {
		t.after(() => rmSync(join(dir, 'marker.txt'), { force: true }));
		const before = await counts(dir);
		const first = json(await cli(dir, 'call', 'double', '{"x":11}', '--json'), 'ran');
		assert.deepEqual(first, [
			{ v: 1, type: 'ran', function: { module: 'src/work.js', name: 'double' }, key: doubleTwin.fleche.digest(11), hit: false, ok: true, resultText: '22' },
		]);
		const again = json(await cli(dir, 'call', 'src/work.js:double', '[11]', '--json'), 'ran')[0];
		assert.equal(again?.hit, true);
		assert.equal(again?.key, doubleTwin.fleche.digest(11));
		const human = await cli(dir, 'call', 'double', '{"x":11}');
		assert.equal(human.code, 0, human.stderr);
		assert.match(human.stdout, /^hit: [0-9a-f]+\nresult: 22\n/);
		assert.deepEqual(marker(dir), ['imported rerun=true', 'imported rerun=true', 'imported rerun=true'], 'each call imported the module as a rerun');
		const after = await counts(dir);
		assert.deepEqual(after.double, { calls: before.double!.calls + 1, hits: before.double!.hits + 2, misses: before.double!.misses + 1 });
		assert.deepEqual(after.square, before.square, 'the import counted nothing');
	});

	test('call of a function that throws: exit 1, the error reaches the caller, nothing is stored', async (t) => {
		t.after(() => rmSync(join(dir, 'marker.txt'), { force: true }));
		const r = await cli(dir, 'call', 'src/work.js:boom', '{"x":3}', '--json');
		assert.equal(r.code, 1, r.stderr);
		const ran = r.stdout.split('\n').find((l) => l.includes('"ran"'));
		assert.ok(ran, r.stdout + r.stderr);
		const line = JSON.parse(ran) as Record<string, unknown>;
		assert.equal(line.ok, false);
		assert.equal(line.error, 'RangeError: boom 3');
		const human = await cli(dir, 'call', 'src/work.js:boom', '[3]');
		assert.equal(human.code, 1);
		assert.match(human.stderr, /fleche: boom threw: RangeError: boom 3/);
		assert.equal((await counts(dir)).boom, undefined, 'no call of boom was stored');
		const bad = await cli(dir, 'call', 'double', '5');
		assert.equal(bad.code, 2, 'usage error');
		assert.match(bad.stderr, /must be a JSON object/);
	});
});
