// Bad input: 10,000 generated argument values (digest deterministic across runs and processes, only the documented
// error, never a hang); truncated, garbage and tampered store files (misses with a warning); the CLI given bad
// prefixes, bad JSON and missing stores (non-zero exit, one line).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { cache, meta } from 'fleche';
import { captureLogs } from '../support/logs.ts';
import { runNode, tmpDir } from '../support/tmp.ts';
import { digestOutcomes } from './digestOutcomes.ts';
import { bodyRuns, expectedWork, openCache, prng, withSeed, work } from './shared.ts';

const VALUES = 10_000;
const child = new URL('./fixtures/digestChild.js', import.meta.url);

test(`bad input: ${VALUES} generated values digest deterministically, only Indigestible, never hang`, { timeout: 240_000 }, () => withSeed(async (seed) => {
	const t0 = performance.now();
	// Two processes at once (the child and this one), then this one again on freshly generated values.
	const inChild = runNode(child, [String(seed), String(VALUES)], { timeoutMs: 200_000 });
	const first = digestOutcomes(seed, VALUES);
	const second = digestOutcomes(seed, VALUES);
	const out = await inChild;
	assert.equal(out.code, 0, out.stderr);
	const fromChild = JSON.parse(out.stdout) as { hash: string; outcomes: string[] };

	const unexpected = first.filter((o) => o.startsWith('UNEXPECTED'));
	assert.deepEqual(unexpected.slice(0, 5), [], `seed ${seed}: errors other than Indigestible, or hangs`);
	const differs = (a: readonly string[]) => a.findIndex((o, n) => o !== first[n]);
	assert.equal(differs(second), -1, `seed ${seed}: value #${differs(second)} digests differently on a second run`);
	assert.equal(differs(fromChild.outcomes), -1, `seed ${seed}: value #${differs(fromChild.outcomes)} digests differently in another process`);
	assert.equal(fromChild.hash, createHash('sha256').update(first.join('\n')).digest('hex'));
	const digested = first.filter((o) => /^[0-9a-f]{64}$/.test(o));
	// A generator that made mostly indigestible values would test little.
	assert.ok(digested.length > VALUES / 4, `only ${digested.length} values digested: the generator is off`);
	console.log(
		`stress bad input (digest): ${VALUES} values tried (seed ${seed}), ${digested.length} digested, ` +
			`${first.length - digested.length} Indigestible, 0 unexpected errors, 0 hangs, identical in 2 runs and 2 processes ` +
			`(${((performance.now() - t0) / 1000).toFixed(1)} s)`,
	);
}));

/** The 64-hex entry files under a folder. */
function entries(dir: string): string[] {
	return readdirSync(dir)
		.filter((f) => /^[0-9a-f]{64}$/.test(f))
		.map((f) => join(dir, f))
		.sort();
}

type Damage = 'truncated' | 'empty' | 'garbage' | 'tampered';

function damage(file: string, how: Damage, rnd: () => number): void {
	const size = statSync(file).size;
	if (how === 'truncated') truncateSync(file, Math.floor(size / 2));
	else if (how === 'empty') truncateSync(file, 0);
	else if (how === 'garbage') writeFileSync(file, Buffer.from(Array.from({ length: size }, () => Math.floor(rnd() * 256))));
	else {
		// One byte changed in the payload: the length and framing stay right, only the content is wrong.
		const bytes = readFileSync(file);
		const at = Math.floor(size * 0.6 + rnd() * size * 0.3);
		bytes[at] = bytes[at]! ^ 0x01;
		writeFileSync(file, bytes);
	}
}

/** Stores `n` calls, damages every stored file with `kinds` (round robin), then calls again: right results, warnings. */
function damagedStore(
	label: string,
	kinds: readonly Damage[],
	secretKey?: string,
): { files: number; warnings: number; misses: number } {
	const logs = captureLogs();
	const root = tmpDir();
	const rnd = prng(7);
	const n = 40;
	const { cache: store } = openCache(root, 'file', secretKey);
	using _meta = meta([]);
	cache(store, () => {
		for (let i = 0; i < n; i++) work(9, 9, i);
	});
	const files = [...entries(join(root, 'values')), ...entries(join(root, 'calls'))];
	for (const [k, file] of files.entries()) damage(file, kinds[k % kinds.length]!, rnd);
	logs.clear();
	const runsBefore = bodyRuns.count;
	const fresh = openCache(root, 'file', secretKey).cache;
	cache(fresh, () => {
		for (let i = 0; i < n; i++) assert.deepEqual(work(9, 9, i), expectedWork(9, 9, i), `${label}: wrong result for work(9,9,${i})`);
	});
	const misses = bodyRuns.count - runsBefore;
	// Every call had its record or its value damaged (each call has one record and one result value; the argument
	// values are shared), so every call must miss, and say so.
	assert.equal(misses, n, `${label}: a damaged entry was served as a hit`);
	const warnings = logs.records.filter((r) => r.level === 'warn');
	assert.ok(warnings.length > 0, `${label}: no warning`);
	for (const w of warnings) assert.match(w.code, /^FLECHE_(CORRUPT_ENTRY|BAD_SIGNATURE|UNREADABLE_ENTRY|LOOKUP_FAILED|READ_ERROR)$/, w.message);
	// The damaged entries were replaced by that one recompute, values included: a result value damaged under a
	// damaged record is checked before the recompute's save (a value file that exists is otherwise never rewritten).
	// So the next round is all hits, without a warning.
	logs.clear();
	const before = bodyRuns.count;
	cache(openCache(root, 'file', secretKey).cache, () => {
		for (let i = 0; i < n; i++) assert.deepEqual(work(9, 9, i), expectedWork(9, 9, i));
	});
	assert.equal(bodyRuns.count - before, 0, `${label}: damaged entries still missing after one recompute: ${logs.records.map((r) => r.message).join("\n")}`);
	assert.deepEqual(logs.records.map((r) => r.message), [], `${label}: warnings after the store was repaired`);
	return { files: files.length, warnings: warnings.length, misses };
}

test('bad input: truncated, garbage and tampered store files are misses with a warning', () => {
	const plain = damagedStore('unsigned store', ['truncated', 'empty', 'garbage', 'tampered']);
	const signed = damagedStore('signed store', ['tampered', 'truncated', 'garbage'], 'ab'.repeat(32));
	console.log(
		`stress bad input (store files): ${plain.files + signed.files} files damaged (truncated, emptied, garbage, tampered; unsigned and signed stores), ` +
			`${plain.misses + signed.misses} calls missed and recomputed, ${plain.warnings + signed.warnings} warnings, 0 wrong results, store whole again after one recompute (all hits, no warning)`,
	);
});

test('bad input: the CLI exits non-zero with one line for bad prefixes, bad JSON and missing stores', (t) => {
	const bin = join(dirname(createRequire(import.meta.url).resolve('fleche/package.json')), 'bin', 'fleche.mjs');
	const root = tmpDir(t);
	const { cache: store } = openCache(root, 'file');
	cache(store, () => work(1, 1, 1));
	const missing = join(root, 'no', 'such', 'store');
	const cases: [string, string[]][] = [
		['non-hex prefix', ['show', 'xyz!', '--root', root]],
		['empty prefix', ['show', '', '--root', root]],
		['unknown prefix', ['show', '0000000000', '--root', root]],
		['evict unknown prefix', ['evict', 'ffffffffffff', '--root', root]],
		['bad JSON', ['explain', 'work', '{not json', '--root', root]],
		['JSON not an object', ['explain', 'work', '[1,', '--root', root]],
		['missing store', ['ls', '--root', missing]],
		['unknown cache name', ['ls', '--cache', 'no-such-cache', '--cwd', root]],
		['unknown command', ['frobnicate', '--root', root]],
	];
	for (const [label, args] of cases) {
		for (const json of [false, true]) {
			const r = spawnSync(process.execPath, [bin, ...args, ...(json ? ['--json'] : [])], { encoding: 'utf8', cwd: root, timeout: 30_000 });
			const what = `${label}${json ? ' (--json)' : ''}: fleche ${args.join(' ')}`;
			assert.notEqual(r.status, 0, `${what} exited 0`);
			assert.notEqual(r.status, null, `${what} did not exit (${r.signal ?? r.error?.message})`);
			const lines = (json ? r.stdout : r.stderr).split('\n').filter((l) => l.trim() !== '');
			assert.equal(lines.length, 1, `${what}: expected one line, got:\n${json ? r.stdout : r.stderr}`);
			if (json) {
				const msg = JSON.parse(lines[0]!) as { v: number; type: string; message: string };
				assert.equal(msg.type, 'error', what);
				assert.equal(msg.v, 1, what);
				assert.ok(msg.message.length > 0, what);
			} else {
				assert.equal(r.stdout.trim(), '', `${what}: output on stdout besides the error`);
				assert.doesNotMatch(lines[0]!, /^\s+at |Error: .*\n/, `${what}: a stack trace instead of a message`);
			}
		}
	}
	console.log(`stress bad input (CLI): ${cases.length * 2} bad invocations, each exited non-zero with one line`);
});
