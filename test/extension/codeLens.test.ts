// extension/src/model/codeLens.ts: lens titles and targets from sites and counts summed over caches.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { compiledFrom } from 'fleche/identity';
import { tmpDir } from '../support/tmp.ts';
import { commandIds } from '../../extension/src/constants.ts';
import { compiledModulesOf, lensActions, lensSpecs, mergeCounts, type LensTarget } from '../../extension/src/model/codeLens.ts';
import { findFlecheSites, identityKey } from '../../extension/src/model/flecheSites.ts';

const source = `import { fleche } from 'fleche';
export const add = fleche((a, b) => a + b);
export const fresh = fleche((x) => x);
export const other = fleche((x) => x, { module: 'lib/x.js' });
`;

test('each site gets the counts of exactly its identity, summed over caches; unknown ones read zero', () => {
	const sites = findFlecheSites(source, { fileName: '/p/src/math.js', module: 'src/math.js' })!;
	const counts = mergeCounts([
		[
			{ module: 'src/math.js', name: 'add', hits: 10, misses: 2, calls: 4 },
			// Same name in another module: must not land on `add`.
			{ module: 'src/other.js', name: 'add', hits: 99, misses: 99, calls: 99 },
			{ module: 'lib/x.js', name: 'other', hits: 1, misses: 1, calls: 1 },
		],
		[{ module: 'src/math.js', name: 'add', hits: 2, misses: 1, calls: 1 }],
	]);
	const specs = lensSpecs(sites, counts, 'file:///p/src/math.js');
	assert.deepEqual(
		specs.map((s) => [s.line, s.title]),
		[
			[1, 'fleche: 12 hits · 3 misses · 5 cached'],
			[2, 'fleche: 0 hits · 0 misses · 0 cached'],
			[3, 'fleche: 1 hit · 1 miss · 1 cached'],
		],
	);
	assert.equal(specs[0]!.command, commandIds.lensActions);
	assert.deepEqual(specs[0]!.args, [{ module: 'src/math.js', name: 'add', uri: 'file:///p/src/math.js' } satisfies LensTarget]);
	assert.equal(counts.get(identityKey({ module: 'src/other.js', name: 'add' }))?.hits, 99);
});

test('the quick pick offers rerun/invalidate only when something is cached', () => {
	assert.deepEqual(
		lensActions({ hits: 0, misses: 0, calls: 0 }).map((a) => a.id),
		['runWithArguments', 'explainMiss'],
	);
	const full = lensActions({ hits: 3, misses: 2, calls: 2 });
	assert.deepEqual(
		full.map((a) => a.id),
		['runWithArguments', 'rerunCall', 'rerunAll', 'evictFunction', 'explainMiss', 'showDetails', 'showInTree'],
	);
	assert.match(full[2]!.label, /Rerun all 2 cached calls/);
	assert.match(lensActions({ hits: 0, misses: 1, calls: 1 })[3]!.label, /Invalidate the cached call/);
});

test('calls recorded under a compiled module (dist/math.js, by its source map on disk) count on the source file lenses', async (t) => {
	const dir = tmpDir(t);
	const src = join(dir, 'src', 'math.ts');
	mkdirSync(join(dir, 'src'));
	writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'p' }));
	writeFileSync(
		src,
		`import { fleche } from 'fleche';\nexport const add = fleche((a: number, b: number) => a + b);\nexport const pinned = fleche((x: number) => x, { module: 'lib/x.js' });\n`,
	);
	writeFileSync(join(dir, 'src', 'other.ts'), `export const other = 1;\n`);
	// Real compiled output with linked maps (dist/*.js + dist/*.js.map), as tsc or a build writes it.
	await build({ entryPoints: [src, join(dir, 'src', 'other.ts')], outdir: join(dir, 'dist'), sourcemap: 'linked', format: 'esm', logLevel: 'silent' });
	const read = (f: string): string | undefined => (existsSync(f) ? readFileSync(f, 'utf8') : undefined);
	const sourcesOf = (f: string): string[] => compiledFrom(f, read);
	assert.deepEqual(sourcesOf(join(dir, 'dist', 'math.js')), [src]);

	const counted = ['src/math.ts', 'dist/math.js', 'dist/other.js', 'dist/missing.js', 'lib/x.js', null];
	assert.deepEqual(compiledModulesOf(src, dir, counted, sourcesOf), ['dist/math.js']);

	const sites = findFlecheSites(readFileSync(src, 'utf8'), { fileName: src, module: 'src/math.ts' })!;
	const counts = mergeCounts([
		[
			{ module: 'src/math.ts', name: 'add', hits: 1, misses: 1, calls: 1 },
			{ module: 'dist/math.js', name: 'add', hits: 5, misses: 2, calls: 2 },
			// Compiled from another source: never lands on src/math.ts.
			{ module: 'dist/other.js', name: 'add', hits: 90, misses: 90, calls: 90 },
			// A site with a `module` option never took its module from the file: no compiled counts for it.
			{ module: 'dist/math.js', name: 'pinned', hits: 70, misses: 70, calls: 70 },
		],
	]);
	const compiled = { module: 'src/math.ts', from: compiledModulesOf(src, dir, counted, sourcesOf) };
	const specs = lensSpecs(sites, counts, pathToFileURL(src).href, compiled);
	assert.deepEqual(
		specs.map((s) => s.title),
		['fleche: 6 hits · 3 misses · 3 cached', 'fleche: 0 hits · 0 misses · 0 cached'],
	);
	assert.match(specs[0]!.tooltip, /2 recorded as dist\/math\.js.*fleche rekey --source-maps/);
	assert.deepEqual(specs[0]!.args, [{ module: 'src/math.ts', name: 'add', uri: pathToFileURL(src).href }]);
	// Without the compiled modules (the old behaviour) the lens saw only the calls recorded as src/math.ts.
	assert.equal(lensSpecs(sites, counts, pathToFileURL(src).href)[0]!.title, 'fleche: 1 hit · 1 miss · 1 cached');
});

test('calls in flight count on their function\'s lens, summed over caches: "· 2 running"', () => {
	const sites = findFlecheSites(source, { fileName: '/p/src/math.js', module: 'src/math.js' })!;
	const counts = mergeCounts([
		[{ module: 'src/math.js', name: 'add', hits: 10, misses: 2, calls: 4 }],
		[{ module: 'src/math.js', name: 'add', hits: 0, misses: 0, calls: 0, running: 1 }],
		[
			{ module: 'src/math.js', name: 'add', hits: 0, misses: 0, calls: 0, running: 1 },
			{ module: 'src/math.js', name: 'fresh', hits: 0, misses: 0, calls: 0, running: 1 },
		],
	]);
	assert.deepEqual(
		lensSpecs(sites, counts, 'file:///p/src/math.js').map((s) => s.title),
		['fleche: 10 hits · 2 misses · 4 cached · 2 running', 'fleche: 0 hits · 0 misses · 0 cached · 1 running', 'fleche: 0 hits · 0 misses · 0 cached'],
	);
});
