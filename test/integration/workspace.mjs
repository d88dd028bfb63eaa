// Makes the fixture workspace the integration tier opens: a temporary copy of test/fixtures/workspace/ with
// `node_modules/fleche` linked to this checkout's runtime, whose `.fleche/` store is produced by running the
// fixture's functions with the real runtime (seed.mjs), never committed. The suite's variant (`corrupt`) also makes
// broken stores beside the workspace, and an SQL store seeded by the runtime.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const repo = path.resolve(import.meta.dirname, '..', '..');

/** The seeded numbers (seed.mjs), for the tests' expectations. */
export const seeded = {
	add: { module: 'src/math.js', calls: 3, hits: 2, misses: 3 },
	slowSquare: { module: 'src/math.js', calls: 2, hits: 1, misses: 2 },
	greet: { module: 'src/math.js', calls: 2, hits: 0, misses: 2 },
	'Shapes.area': { module: 'src/shapes.ts', calls: 1, hits: 1, misses: 1 },
	label: { module: 'src/shapes.ts', calls: 1, hits: 0, misses: 1 },
};

/**
 * Creates the workspace in `dir` (which must not exist or be empty) and seeds its cache with `node` (default: this
 * Node). Returns the workspace folder.
 */
export function makeWorkspace(dir, { corrupt = false, node = process.execPath } = {}) {
	const workspace = path.resolve(dir);
	cpSync(path.join(repo, 'test', 'fixtures', 'workspace'), workspace, { recursive: true });
	mkdirSync(path.join(workspace, 'node_modules'), { recursive: true });
	symlinkSync(path.join(repo, 'runtime'), path.join(workspace, 'node_modules', 'fleche'), 'dir');
	const result = spawnSync(node, ['--enable-source-maps', path.join(import.meta.dirname, 'seed.mjs'), workspace], {
		cwd: workspace,
		encoding: 'utf8',
		// The default store must be the workspace's own, whatever the caller's environment says.
		env: { ...process.env, FLECHE_ROOT: '', NODE_OPTIONS: '', FLECHE_SEED_SQL: corrupt ? sqlStore(workspace) : '', FLECHE_SEED_BIG: corrupt && needsBigStore() ? bigStore(workspace) : '' },
		timeout: 180_000,
	});
	if (result.status !== 0) {
		throw new Error(`seeding ${workspace} failed (exit ${result.status}):\n${result.stderr}${result.stdout}`);
	}
	if (corrupt) corruptWorkspace(workspace);
	return workspace;
}

/** The SQL store the suite variant adds through `fleche.caches`: `extra-stores/sql/` beside the workspace. */
export function sqlStore(workspace) {
	return path.join(path.dirname(workspace), 'extra-stores', 'sql');
}

/**
 * Whether the suite run needs the store of 40,000 calls (the responsive suite does): seeding it takes minutes on a
 * loaded machine, so a run of chosen suite files (`FLECHE_SUITES`, suite/index.ts) without it skips it.
 */
function needsBigStore() {
	const only = (process.env.FLECHE_SUITES ?? '').split(',').filter((n) => n !== '');
	return only.length === 0 || only.includes('responsive');
}

/** A file store of 40,000 calls (seed.mjs) beside the workspace: `extra-stores/big/`. */
export function bigStore(workspace) {
	return path.join(path.dirname(workspace), 'extra-stores', 'big');
}

/** What seed.mjs puts into the SQL store. */
export const seededSql = { add: { module: 'src/math.js', calls: 2, hits: 1, misses: 2 } };

/**
 * The corrupt variant, in `corrupt-stores/` beside the workspace (the suite adds them through `fleche.caches`):
 * `garbled` is a copy of the seeded store with call records that are not JSON or not objects (skipped, with a
 * warning); `missing` is a folder that holds no store; `loop` is a store whose `calls` folder is a symbolic link to
 * itself, so listing it fails. The default store itself stays intact.
 */
function corruptWorkspace(workspace) {
	const base = path.join(path.dirname(workspace), 'corrupt-stores');
	const garbled = path.join(base, 'garbled');
	cpSync(path.join(workspace, '.fleche'), garbled, { recursive: true });
	const records = readdirSync(path.join(garbled, 'calls')).filter((name) => /^[0-9a-f]{64}$/.test(name));
	let broken = 0;
	for (const name of records) {
		const file = path.join(garbled, 'calls', name);
		// add's records stay intact (the suite expects them listed); the others break, truncated or not an object.
		if (JSON.parse(readFileSync(file, 'utf8')).record?.name === 'add') continue;
		writeFileSync(file, broken++ % 2 === 0 ? '{"module": "src/math.js", "na' : '[1, 2, 3]');
	}
	writeFileSync(path.join(garbled, 'calls', 'e'.repeat(64)), '\u0000\u0001 not json');
	const missing = path.join(base, 'missing');
	mkdirSync(missing, { recursive: true });
	writeFileSync(path.join(missing, 'README.txt'), 'a folder where a store used to be\n');
	const loop = path.join(base, 'loop');
	mkdirSync(path.join(loop, 'values'), { recursive: true });
	symlinkSync(path.join(loop, 'calls'), path.join(loop, 'calls'));
}
