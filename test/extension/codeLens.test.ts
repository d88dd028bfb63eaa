// extension/src/model/codeLens.ts: lens titles and targets from sites and counts summed over caches.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandIds } from '../../extension/src/constants.ts';
import { lensActions, lensSpecs, mergeCounts, type LensTarget } from '../../extension/src/model/codeLens.ts';
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
