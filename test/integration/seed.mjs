// Runs the fixture workspace's cached functions with the real runtime, in a child process whose working directory is
// the (temporary copy of the) workspace, so the default store `.fleche/` lands there with real hit/miss statistics.
// TypeScript modules are transpiled the way the runtime CLI does it (esbuild, inline source map beside the original)
// so their identity is the `.ts` file, exactly as in a user's own process.
//
//   node test/integration/seed.mjs <workspace>      (spawned by workspace.mjs; $FLECHE_SEED_SQL, $FLECHE_SEED_BIG:
//                                                    seed an SQL store and a store of 40,000 calls too)

import * as esbuild from 'esbuild';
import { Cache, CallSql, ValueFile, cache, flushStats } from 'fleche';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const workspace = path.resolve(process.argv[2] ?? process.cwd());
process.chdir(workspace);
process.setSourceMapsEnabled(true);

async function importTs(file) {
	const out = path.join(path.dirname(file), `.${path.basename(file)}.seed-${process.pid}.mjs`);
	await esbuild.build({
		entryPoints: [file],
		outfile: out,
		bundle: true,
		packages: 'external',
		platform: 'node',
		target: 'node20',
		format: 'esm',
		sourcemap: 'inline',
		logLevel: 'silent',
	});
	try {
		return await import(pathToFileURL(out).href);
	} finally {
		rmSync(out, { force: true });
	}
}

const math = await import(pathToFileURL(path.join(workspace, 'src/math.js')).href);
const shapes = await importTs(path.join(workspace, 'src/shapes.ts'));

// add: 3 cached calls; (1, 2) is asked three times → 3 misses, 2 hits.
math.add(1, 2);
math.add(1, 2);
math.add(1, 2);
math.add(2, 3);
math.add(40, 2);
// slowSquare: 2 cached calls, 2 misses, 1 hit.
await math.slowSquare(3);
await math.slowSquare(4);
await math.slowSquare(3);
// greet: an argument that is HTML (must render inert) and a plain one; 2 misses, 0 hits.
math.greet('<img src=x onerror=alert(1)>');
math.greet('world');
// Shapes.area (a decorated method): 1 cached call, 1 miss, 1 hit.
const shape = new shapes.Shapes();
shape.area(3, 4);
shape.area(3, 4);
// label: 1 cached call, 1 miss.
shapes.label('apples', 3);

// An SQL store elsewhere ($FLECHE_SEED_SQL, added to the editor through the `fleche.caches` setting): add(5, 5)
// twice and add(6, 6), so 2 cached calls, 1 hit, 2 misses, in the SQLite file the runtime writes.
const bigCalls = 40_000;
const sqlRoot = process.env.FLECHE_SEED_SQL;
if (sqlRoot) {
	const calls = new CallSql({ path: path.join(sqlRoot, 'calls.db') });
	cache(new Cache(new ValueFile({ root: path.join(sqlRoot, 'values') }), calls), () => {
		math.add(5, 5);
		math.add(5, 5);
		math.add(6, 6);
	});
	flushStats();
	// Merges the log into the SQLite file, as a long-running program's store would be.
	calls.compact();
	calls.close();
}

// A big file store elsewhere ($FLECHE_SEED_BIG = folder), to show that reading it does not block the editor:
// 40,000 calls of 20 functions, as a long-running program leaves them.
const bigRoot = process.env.FLECHE_SEED_BIG;
if (bigRoot) {
	const { fileCache, fleche } = await import('fleche');
	const fns = Array.from({ length: 20 }, (_, f) => fleche((a, b) => `${b}:${a * f}`, { name: `work${f}`, module: 'src/work.js', params: ['a', 'b'] }));
	cache(fileCache(bigRoot), () => {
		for (let i = 0; i < bigCalls; i++) fns[i % 20](i, `text ${i}`);
	});
}

flushStats();
console.log(JSON.stringify({ seeded: workspace }));
