// docs/behaviour.md §15.2: `rekey()` and `fleche rekey` carry stored calls over a rename or a move of a function. In
// process on a memory cache, and across processes on file and SQL stores through the real CLI.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cache, Cache, CallMemory, fleche, KeyError, Rejected, rekey, ValueMemory, type Fleche } from 'fleche';
import { runNode } from '../support/tmp.ts';
import { runtimeDir, userProject } from '../support/project.ts';

const bin = join(runtimeDir, 'bin', 'fleche.mjs');

function memoryCache(calls = new CallMemory()): Cache {
	return new Cache(new ValueMemory(), calls);
}

/** `add` as first written, and the same body renamed and moved: runs counted. */
type Adder = Fleche<(a: number, b: number) => number>;

function functions(): { runs: () => number; add: Adder; sum: Adder } {
	let runs = 0;
	const body = (a: number, b: number): number => {
		runs++;
		return a + b;
	};
	return {
		runs: () => runs,
		add: fleche(body, { name: 'add', module: 'src/math.ts' }),
		sum: fleche(body, { name: 'sum', module: 'src/arith.ts' }),
	};
}

describe('rekey() on a memory cache', () => {
	test('the calls of the old identity hit under the new one; the old records are gone, values shared', () => {
		const c = memoryCache();
		const f = functions();
		cache(c, () => [f.add(1, 2), f.add(3, 4)]);
		assert.equal(f.runs(), 2);
		const valuesBefore = [...c.keys()].length;
		const report = rekey(c, { module: 'src/math.ts', name: 'add' }, { module: 'src/arith.ts', name: 'sum' });
		assert.equal(report.matched, 2);
		assert.equal(report.written, 2);
		assert.equal(report.removed, 2);
		assert.equal(report.existing, 0);
		assert.equal(report.moves.length, 2);
		assert.deepEqual(
			cache(c, () => [f.sum(1, 2), f.sum(3, 4)]),
			[3, 7],
		);
		assert.equal(f.runs(), 2, 'both hit');
		cache(c, () => {
			assert.equal(f.add.fleche.contains(1, 2), false);
			assert.equal(f.sum.fleche.contains(1, 2), true);
			assert.deepEqual(new Set(report.moves.map((m) => m.to)), new Set([f.sum.fleche.digest(1, 2), f.sum.fleche.digest(3, 4)]));
			assert.deepEqual(new Set(report.moves.map((m) => m.from)), new Set([f.add.fleche.digest(1, 2), f.add.fleche.digest(3, 4)]));
		});
		assert.equal([...c.keys()].length, valuesBefore, 'as many keys as before: records moved, no value copied');
		const moved = c.loadRecord(cache(c, () => f.sum.fleche.digest(3, 4)));
		assert.equal(moved.name, 'sum');
		assert.equal(moved.module, 'src/arith.ts');
		assert.equal(c.load(moved.key).result, 7);
	});

	test('dryRun writes nothing; keep leaves the old records beside the new', () => {
		const c = memoryCache();
		const f = functions();
		cache(c, () => f.add(1, 2));
		const dry = rekey(c, { module: 'src/math.ts', name: 'add' }, { module: 'src/arith.ts', name: 'sum' }, { dryRun: true });
		assert.deepEqual([dry.matched, dry.written, dry.removed], [1, 1, 1]);
		cache(c, () => {
			assert.equal(f.add.fleche.contains(1, 2), true);
			assert.equal(f.sum.fleche.contains(1, 2), false);
		});
		const kept = rekey(c, { module: 'src/math.ts', name: 'add' }, { module: 'src/arith.ts', name: 'sum' }, { keep: true });
		assert.deepEqual([kept.written, kept.removed], [1, 0]);
		cache(c, () => {
			assert.equal(f.add.fleche.contains(1, 2), true);
			assert.equal(f.sum.fleche.contains(1, 2), true);
		});
		assert.equal(f.runs(), 1);
	});

	test('a call already made under the new identity is kept as is; the old one is removed', () => {
		const c = memoryCache();
		const f = functions();
		cache(c, () => [f.add(1, 2), f.add(3, 4), f.sum(1, 2)]);
		const newKey = cache(c, () => f.sum.fleche.digest(1, 2));
		const before = c.loadRecord(newKey);
		const report = rekey(c, { module: 'src/math.ts', name: 'add' }, { module: 'src/arith.ts', name: 'sum' });
		assert.deepEqual([report.matched, report.written, report.existing, report.removed], [2, 1, 1, 2]);
		assert.deepEqual(c.loadRecord(newKey), before);
	});

	test('every function of a module moves under its own name; other modules stay', () => {
		const c = memoryCache();
		const mul = fleche((a: number, b: number) => a * b, { name: 'mul', module: 'dist/math.js' });
		const add = fleche((a: number, b: number) => a + b, { name: 'add', module: 'dist/math.js' });
		const other = fleche((a: number) => -a, { name: 'neg', module: 'dist/other.js' });
		cache(c, () => [mul(2, 3), add(2, 3), other(1)]);
		const report = rekey(c, { module: 'dist/math.js' }, { module: 'src/math.ts' });
		assert.equal(report.written, 2);
		const byName = new Map([...c.records()].map((r) => [r.name, r.module]));
		assert.deepEqual(Object.fromEntries(byName), { mul: 'src/math.ts', add: 'src/math.ts', neg: 'dist/other.js' });
		assert.throws(() => rekey(c, { module: 'src/math.ts' }, { name: 'x' }), TypeError);
	});

	test('a read-only cache is refused before anything is written; records of another key scheme are left alone', () => {
		const c = memoryCache();
		const f = functions();
		cache(c, () => f.add(1, 2));
		assert.throws(() => rekey(c.readonly(), { module: 'src/math.ts', name: 'add' }, { name: 'sum' }), Rejected);
		assert.equal([...c.records()].length, 1);
		const record = [...c.records()][0]!;
		c.saveRecord({ ...record, key: 'f'.repeat(64), scheme: 'fleche.call/0' });
		const report = rekey(c, { module: 'src/math.ts', name: 'add' }, { name: 'sum' });
		assert.deepEqual([report.matched, report.stale, report.written], [2, 1, 1]);
		assert.equal(c.contains('f'.repeat(64)), true);
	});

	test('a crash between writing the new record and removing the old loses nothing; running again finishes', () => {
		/** Call memory whose first eviction fails, as a process killed right after the new record was written. */
		class FailingOnce extends CallMemory {
			failed = false;
			override evict(key: string): void {
				if (!this.failed) {
					this.failed = true;
					throw new Error('killed');
				}
				super.evict(key);
			}
		}
		const calls = new FailingOnce();
		const c = memoryCache(calls);
		const f = functions();
		cache(c, () => [f.add(1, 2), f.add(3, 4)]);
		assert.throws(() => rekey(c, { module: 'src/math.ts', name: 'add' }, { module: 'src/arith.ts', name: 'sum' }), /killed/);
		const records = [...c.records()];
		assert.equal(records.length, 3, 'the first old record, its new one, and the second old record');
		const report = rekey(c, { module: 'src/math.ts', name: 'add' }, { module: 'src/arith.ts', name: 'sum' });
		assert.deepEqual([report.matched, report.written, report.existing, report.removed], [2, 1, 1, 2]);
		assert.deepEqual(
			cache(c, () => [f.sum(1, 2), f.sum(3, 4)]),
			[3, 7],
		);
		assert.equal(f.runs(), 2);
		assert.throws(() => c.loadRecord(records.find((r) => r.name === 'add')!.key), KeyError);
	});
});

/** A project whose `src/math.js` caches `name`; `main.mjs <name> a b` calls it and prints the result. */
function project(t: Parameters<typeof userProject>[1], toml?: string): string {
	const dir = userProject(
		{
			'src/math.js': math('add'),
			'main.mjs': [
				'const [name, a, b] = process.argv.slice(2);',
				"const mod = await import('./src/math.js');",
				'console.log(mod[name](Number(a), Number(b)));',
				'',
			].join('\n'),
			...(toml !== undefined ? { 'fleche.toml': toml } : {}),
		},
		t,
	);
	return dir;
}

function math(name: string): string {
	return [
		"import { fleche } from 'fleche';",
		"import { appendFileSync } from 'node:fs';",
		`export const ${name} = fleche((a, b) => {`,
		"\tappendFileSync('runs.txt', 'ran\\n');",
		'\treturn a + b;',
		'});',
		'',
	].join('\n');
}

async function call(dir: string, name: string, a: number, b: number): Promise<number> {
	const r = await runNode(join(dir, 'main.mjs'), [name, String(a), String(b)], { cwd: dir, execArgv: [] });
	assert.equal(r.code, 0, r.stderr);
	return Number(r.stdout.trim());
}

function runs(dir: string): number {
	return existsSync(join(dir, 'runs.txt')) ? readFileSync(join(dir, 'runs.txt'), 'utf8').split('\n').filter(Boolean).length : 0;
}

const stores = {
	file: undefined,
	sql: '[default]\ncache = "shared"\n\n[shared]\ntemplate = "sql"\nroot = "store"\n',
} as const;

describe('fleche rekey across processes', () => {
	for (const [kind, toml] of Object.entries(stores)) {
		test(`${kind} store: rename a function, rekey, its old calls hit under the new name in a new process`, async (t) => {
			const dir = project(t, toml);
			assert.equal(await call(dir, 'add', 1, 2), 3);
			assert.equal(await call(dir, 'add', 2, 3), 5);
			assert.equal(runs(dir), 2);
			writeFileSync(join(dir, 'src', 'math.js'), math('sum'));

			const usage = await runNode(bin, ['rekey', '--from', 'src/math.js:add'], { cwd: dir, execArgv: [] });
			assert.equal(usage.code, 2, 'no --to is a usage error');
			const unknown = await runNode(bin, ['rekey', '--from', 'src/math.js:nope', '--to', 'sum'], { cwd: dir, execArgv: [] });
			assert.equal(unknown.code, 1);
			assert.match(unknown.stderr, /No cached function src\/math\.js:nope/);

			const r = await runNode(bin, ['rekey', '--from', 'src/math.js:add', '--to', 'sum'], { cwd: dir, execArgv: [] });
			assert.equal(r.code, 0, r.stderr);
			assert.equal(r.stdout.trim(), 'src/math.js:add → src/math.js:sum: 2 calls rekeyed (2 old records removed)');
			assert.equal(await call(dir, 'sum', 1, 2), 3);
			assert.equal(await call(dir, 'sum', 2, 3), 5);
			assert.equal(runs(dir), 2, 'both hit: nothing ran');
			const ls = await runNode(bin, ['ls', '--json'], { cwd: dir, execArgv: [] });
			const functions = (JSON.parse(ls.stdout) as { functions: { module: string; name: string; calls: number }[] }).functions;
			// The calls moved; their statistics stay with the old keys, so the old name is still listed, with no call
			// left and its counts (docs/behaviour.md §11: statistics outlive the calls they counted).
			assert.deepEqual(
				functions.map((f) => [f.module, f.name, f.calls]),
				[
					['src/math.js', 'add', 0],
					['src/math.js', 'sum', 2],
				],
			);
		});
	}

	test('a move to another module, whole-module form: every function of it follows', async (t) => {
		const dir = project(t);
		await call(dir, 'add', 1, 2);
		const r = await runNode(bin, ['rekey', '--from', 'src/math.js:*', '--to', 'lib/math.js:*', '--json'], { cwd: dir, execArgv: [] });
		assert.equal(r.code, 0, r.stderr);
		const line = JSON.parse(r.stdout.trim()) as { type: string; to: unknown; written: number };
		assert.equal(line.type, 'rekeyed');
		assert.deepEqual(line.to, { module: 'lib/math.js', name: 'add' });
		assert.equal(line.written, 1);
		writeFileSync(join(dir, 'main.mjs'), readFileSync(join(dir, 'main.mjs'), 'utf8').replace('./src/math.js', './lib/math.js'));
		mkdirSync(join(dir, 'lib'));
		renameSync(join(dir, 'src', 'math.js'), join(dir, 'lib', 'math.js'));
		assert.equal(await call(dir, 'add', 1, 2), 3);
		assert.equal(runs(dir), 1, 'the moved call hit');
	});
});
