// docs/behaviour.md §15.1: a function compiled by `tsc` (src/*.ts → dist/*.js + .map) has the module of its `.ts` file
// however the program is started: with or without --enable-source-maps, from a linked or an inline map, or from the
// .ts through a loader. Real tsc (the repo's typescript), real child processes, the real `fleche` CLI.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { fileCache } from 'fleche';
import { runNode } from '../support/tmp.ts';
import { runtimeDir, userProject } from '../support/project.ts';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const bin = join(runtimeDir, 'bin', 'fleche.mjs');
const sources = {
	'src/math.ts': [
		"import { fleche } from 'fleche';",
		"import { appendFileSync } from 'node:fs';",
		'',
		'/** A type that takes lines, so the compiled file is shorter than its source. */',
		'export interface Pair {',
		'\treadonly a: number;',
		'\treadonly b: number;',
		'}',
		'',
		'export const add = fleche((a: number, b: number): number => {',
		"\tappendFileSync('runs.txt', 'add\\n');",
		'\treturn a + b;',
		'});',
		'',
	].join('\n'),
	// Prints what identifies `add` and the key of add(a, b), then calls it.
	'src/main.ts': [
		"import { add } from './math.js';",
		'const [a, b] = process.argv.slice(2).map(Number) as [number, number];',
		'console.log(JSON.stringify({ identity: add.fleche.identity, location: add.fleche.location, key: add.fleche.digest(a, b) }));',
		'console.log(add(a, b));',
		'',
	].join('\n'),
	'tsconfig.json': JSON.stringify({
		compilerOptions: {
			target: 'es2022',
			module: 'nodenext',
			moduleResolution: 'nodenext',
			rootDir: 'src',
			outDir: 'dist',
			sourceMap: true,
			// Emit only: what is tested is tsc's output, and type checking took over 30 s on a loaded machine.
			noCheck: true,
			types: [],
		},
		include: ['src'],
	}),
};

interface Seen {
	readonly identity: { readonly name: string; readonly module: string | null };
	readonly location: { readonly source: string; readonly loaded: string; readonly line: number };
	readonly key: string;
	readonly result: number;
}

/** Runs an entry of the project (a compiled file, or a .ts under a loader) and returns what it printed. */
async function run(dir: string, entry: string, execArgv: readonly string[], a = 1, b = 2): Promise<Seen> {
	const r = await runNode(join(dir, entry), [String(a), String(b)], { cwd: dir, execArgv });
	assert.equal(r.code, 0, r.stderr);
	const [json, result] = r.stdout.trim().split('\n');
	return { ...(JSON.parse(json!) as Omit<Seen, 'result'>), result: Number(result) };
}

function runs(dir: string): number {
	return existsSync(join(dir, 'runs.txt')) ? readFileSync(join(dir, 'runs.txt'), 'utf8').split('\n').filter(Boolean).length : 0;
}

/** dist/ as the repo's tsc compiles the project once: dist/*.js with dist/*.js.map beside them. */
let compiledDist = '';
before(async () => {
	const dir = userProject(sources);
	const r = await runNode(tsc, ['-p', dir], { cwd: dir, execArgv: [], timeoutMs: 120_000 });
	assert.equal(r.code, 0, r.stdout + r.stderr);
	assert.ok(existsSync(join(dir, 'dist', 'math.js.map')), 'tsc wrote the map');
	compiledDist = join(dir, 'dist');
});

/** A fresh project with the sources and their tsc output. */
function compiled(t: Parameters<typeof userProject>[1]): string {
	const dir = userProject(sources, t);
	cpSync(compiledDist, join(dir, 'dist'), { recursive: true });
	return dir;
}

function fleche_(dir: string, ...args: string[]): ReturnType<typeof runNode> {
	return runNode(bin, args, { cwd: dir, execArgv: [] });
}

describe('identity of code compiled by tsc', () => {
	test('the same module, name and key with and without --enable-source-maps: the second run hits', async (t) => {
		const dir = compiled(t);
		const plain = await run(dir, 'dist/main.js', []);
		assert.deepEqual(plain.identity, { name: 'add', module: 'src/math.ts', version: null, codeDigest: null });
		assert.equal(plain.location.source, join(dir, 'src', 'math.ts'));
		assert.equal(plain.location.loaded, join(dir, 'dist', 'math.js'));
		assert.equal(plain.location.line, 10, 'the line of fleche( in the .ts file, not in the shorter .js');
		assert.equal(plain.result, 3);
		assert.equal(runs(dir), 1);

		const mapped = await run(dir, 'dist/main.js', ['--enable-source-maps']);
		assert.deepEqual(mapped.identity, plain.identity);
		assert.deepEqual(mapped.location, plain.location);
		assert.equal(mapped.key, plain.key);
		assert.equal(runs(dir), 1, 'the run with source maps hit the call recorded without them');

		const other = await run(dir, 'dist/main.js', [], 2, 3);
		assert.equal(other.result, 5);
		assert.equal(runs(dir), 2);
		assert.equal((await run(dir, 'dist/main.js', ['--enable-source-maps'], 2, 3)).key, other.key);
		assert.equal(runs(dir), 2);
	});

	test('an inline source map (esbuild, one file per source) keys alike', async (t) => {
		const dir = compiled(t);
		const reference = await run(dir, 'dist/main.js', []);
		await build({
			entryPoints: [join(dir, 'src', 'math.ts'), join(dir, 'src', 'main.ts')],
			outdir: join(dir, 'inline'),
			format: 'esm',
			platform: 'node',
			sourcemap: 'inline',
			logLevel: 'silent',
		});
		assert.match(readFileSync(join(dir, 'inline', 'math.js'), 'utf8'), /sourceMappingURL=data:application\/json;base64,/);
		for (const flags of [[], ['--enable-source-maps']]) {
			const seen = await run(dir, 'inline/main.js', flags);
			assert.deepEqual(seen.identity, reference.identity, flags.join(' '));
			assert.equal(seen.key, reference.key, flags.join(' '));
		}
		assert.equal(runs(dir), 1, 'every build of the same source hits the same call');
	});

	test('a map that cannot be read or is not one leaves the compiled file as the module, without an error', async (t) => {
		const dir = compiled(t);
		writeFileSync(join(dir, 'dist', 'math.js.map'), '{ not json');
		const seen = await run(dir, 'dist/main.js', []);
		assert.equal(seen.identity.module, 'dist/math.js');
		assert.equal(seen.result, 3);
	});

	test('under a TypeScript loader (tsx, ts-node) the .ts file keys alike', async (t) => {
		const loaders = (['tsx', 'ts-node'] as const).filter((name) => {
			try {
				require.resolve(`${name}/package.json`);
				return true;
			} catch {
				return false;
			}
		});
		if (loaders.length === 0) {
			t.skip('machine lacks: tsx and ts-node in node_modules');
			return;
		}
		const dir = compiled(t);
		const reference = await run(dir, 'dist/main.js', []);
		for (const name of loaders) {
			mkdirSync(join(dir, 'node_modules'), { recursive: true });
			const execArgv = name === 'tsx' ? ['--import', require.resolve('tsx')] : ['--loader', require.resolve('ts-node/esm')];
			const seen = await run(dir, 'src/main.ts', [...execArgv, '--no-warnings']);
			assert.deepEqual(seen.identity, reference.identity, name);
			assert.equal(seen.key, reference.key, name);
		}
		assert.equal(runs(dir), 1);
	});

	test('under a loader that transpiles the .ts in memory, as tsx does (built here on esbuild), the key is the same', async (t) => {
		const dir = compiled(t);
		const reference = await run(dir, 'dist/main.js', []);
		const esbuildUrl = pathToFileURL(require.resolve('esbuild')).href;
		writeFileSync(
			join(dir, 'hooks.mjs'),
			[
				"import { readFile } from 'node:fs/promises';",
				"import { fileURLToPath } from 'node:url';",
				`import { transform } from ${JSON.stringify(esbuildUrl)};`,
				'export async function resolve(specifier, context, next) {',
				'\ttry {',
				'\t\treturn await next(specifier, context);',
				'\t} catch (err) {',
				"\t\tif (specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);",
				'\t\tthrow err;',
				'\t}',
				'}',
				'export async function load(url, context, next) {',
				"\tif (!url.endsWith('.ts')) return next(url, context);",
				'\tconst file = fileURLToPath(url);',
				"\tconst { code } = await transform(await readFile(file, 'utf8'), { loader: 'ts', format: 'esm', sourcemap: 'inline', sourcefile: file });",
				"\treturn { format: 'module', source: code, shortCircuit: true };",
				'}',
				'',
			].join('\n'),
		);
		// tsx turns source maps on itself, so that stack traces (and so identities) name .ts positions.
		writeFileSync(
			join(dir, 'loader.mjs'),
			"import { register } from 'node:module';\nprocess.setSourceMapsEnabled(true);\nregister('./hooks.mjs', import.meta.url);\n",
		);
		const seen = await run(dir, 'src/main.ts', ['--import', pathToFileURL(join(dir, 'loader.mjs')).href, '--no-warnings']);
		assert.deepEqual(seen.identity, reference.identity);
		assert.equal(seen.location.line, reference.location.line);
		assert.equal(seen.key, reference.key);
		assert.equal(runs(dir), 1, 'a hit on the call the compiled program recorded');
	});

	test('rerun imports the recorded module and runs it, from dist/ alone too: keys do not change', async (t) => {
		const dir = compiled(t);
		const seen = await run(dir, 'dist/main.js', []);
		const r = await fleche_(dir, 'rerun', '--function', 'src/math.ts:add', '--json');
		assert.equal(r.code, 0, r.stderr);
		const reran = r.stdout
			.split('\n')
			.filter(Boolean)
			.map((l) => JSON.parse(l) as { type: string; key?: string; ok?: boolean; newKey?: string })
			.filter((m) => m.type === 'rerun');
		assert.deepEqual(reran, [{ v: 1, type: 'rerun', key: seen.key, ok: true }]);
		assert.equal(runs(dir), 2, 'the body ran again');

		// Only the compiled output shipped: the recorded src/math.ts is found as dist/math.js, by its map.
		renameSync(join(dir, 'src'), join(dir, 'elsewhere'));
		// As an installed package that ships dist/ and its maps but not src/: named from the compiled text, same key.
		const noSources = await run(dir, 'dist/main.js', []);
		assert.deepEqual(noSources.identity, seen.identity);
		assert.equal(noSources.key, seen.key);
		assert.equal(runs(dir), 2, 'a hit');
		const shipped = await fleche_(dir, 'rerun', '--function', 'src/math.ts:add');
		assert.equal(shipped.code, 0, shipped.stderr);
		assert.match(shipped.stderr, /importing .*dist\/math\.js \(module src\/math\.ts/);
		assert.equal(runs(dir), 3);
	});

	test('calls recorded under the compiled module (before identities followed maps): rerun finds them, rekey --source-maps carries them over', async (t) => {
		const dir = compiled(t);
		// What a store written by earlier versions run without source maps holds: add under dist/math.js.
		const store = fileCache(join(dir, '.fleche'));
		const oldKey = store.save({ name: 'add', module: 'dist/math.js', version: null, codeDigest: null, arguments: { a: 1, b: 2 }, result: 3 });
		store.save({ name: 'add', module: 'dist/math.js', version: null, codeDigest: null, arguments: { a: 4, b: 5 }, result: 9 });

		// rerun imports dist/math.js, whose add now registers as src/math.ts: found, and keyed anew.
		const rerun = await fleche_(dir, 'rerun', oldKey.slice(0, 12), '--json');
		assert.equal(rerun.code, 0, rerun.stderr);
		const line = rerun.stdout
			.split('\n')
			.filter(Boolean)
			.map((l) => JSON.parse(l) as { type: string; ok?: boolean; newKey?: string })
			.find((m) => m.type === 'rerun');
		assert.equal(line?.ok, true, rerun.stdout);
		assert.equal(typeof line?.newKey, 'string');
		assert.equal(runs(dir), 1);

		const dry = await fleche_(dir, 'rekey', '--source-maps', '--dry-run');
		assert.equal(dry.code, 0, dry.stderr);
		assert.match(dry.stdout, /dist\/math\.js:add → src\/math\.ts:add: 1 call to rekey \(1 already there, 2 old records to remove\)/);
		assert.match(dry.stdout, /dry run: nothing written/);
		assert.equal(store.contains(oldKey), true, 'a dry run writes nothing');

		const r = await fleche_(dir, 'rekey', '--source-maps', '--json');
		assert.equal(r.code, 0, r.stderr);
		assert.deepEqual(JSON.parse(r.stdout.trim()), {
			v: 1,
			type: 'rekeyed',
			from: { module: 'dist/math.js', name: 'add' },
			to: { module: 'src/math.ts', name: 'add' },
			dryRun: false,
			matched: 2,
			written: 1,
			existing: 1,
			removed: 2,
			stale: 0,
		});
		assert.equal(store.contains(oldKey), false);
		// The call never made by the program since hits now, run plainly and with source maps.
		assert.equal((await run(dir, 'dist/main.js', [], 4, 5)).result, 9);
		assert.equal((await run(dir, 'dist/main.js', ['--enable-source-maps'], 1, 2)).result, 3);
		assert.equal(runs(dir), 1, 'both hit: nothing ran');
		const again = await fleche_(dir, 'rekey', '--source-maps');
		assert.equal(again.stdout.trim(), 'Nothing to rekey');
	});
});
