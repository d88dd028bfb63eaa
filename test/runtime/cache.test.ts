// docs/behaviour.md §1.10, §2.4, §5: Cache over real storages — keys, gc, corrupt and tampered entries seen from a function.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, writeFileSync, readFileSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fleche, cache, Cache, ValueFile, CallFile, ValueMemory, CallMemory, type CallRecord, KeyError, AmbiguousDigestError, digest, Git, meta } from 'fleche';
import { fileStore, memoryStore, freshDir } from '../support/stores.ts';
import { captureLogs } from '../support/logs.ts';

const logs = captureLogs();
let runs = 0;
const cube = fleche((x: number) => {
	runs++;
	return x ** 3;
}, { name: 'cube' });

describe('Cache', () => {
	test('memory lookup: an absent key, a record naming a missing value and a record naming no key are misses, not errors', () => {
		const records = new Map<string, CallRecord>();
		const store = new Cache(new ValueMemory(), new CallMemory(records));
		let runs = 0;
		const twice = fleche((x: number) => (runs++, 2 * x), { name: 'twice' });
		using _ = cache(store);
		assert.equal(store.lookup(twice.fleche.digest(1)), undefined);
		assert.equal(twice(1), 2);
		assert.equal(twice(1), 2);
		assert.equal(runs, 1);
		const key = twice.fleche.digest(1);
		const record = records.get(key)!;
		records.set(key, { ...record, result: 'f'.repeat(64) });
		assert.equal(store.lookup(key), undefined);
		assert.equal(twice(1), 2);
		assert.equal(runs, 2);
		records.set(key, { ...record, result: 'not a key' });
		assert.equal(store.lookup(key), undefined);
		assert.equal(twice(1), 2);
		assert.equal(runs, 3);
		assert.equal(twice(1), 2);
		assert.equal(runs, 3);
	});

	test('values are content-addressed and stored once; call records are separate', () => {
		// Value files: what every value is with inlineValues 0, and large values are by default (docs/behaviour.md §2.6).
		const { cache: store, root } = fileStore({ inlineValues: 0 });
		const same = fleche((x: number[]) => x, { name: 'same' });
		cache(store, () => {
			same([1, 2]);
			cube(2);
		});
		const values = readdirSync(join(root, 'values'));
		assert.ok(values.includes(digest([1, 2])), 'argument and result [1,2] are one value file');
		assert.equal(values.length, 3, '[1,2], 2 and 8');
		// Dot-entries (`.leases/`, `.stats/`) are the store's own, never calls.
		assert.equal(readdirSync(join(root, 'calls')).filter((name) => !name.startsWith('.')).length, 2);
	});

	test('save(call) stores a whole call; load/contains/evict accept prefixes; expand and shrink (docs/behaviour.md §2.4)', () => {
		const store = memoryStore();
		const key = store.save({ name: 'manual', module: 'm.ts', version: null, codeDigest: null, arguments: { a: 1 }, result: 'one' });
		assert.equal(store.contains(key), true);
		assert.equal(store.contains(key.slice(0, 6)), true);
		assert.equal(store.contains('ffff0000'), false);
		assert.equal(store.load(key.slice(0, 6)).result, 'one');
		assert.equal(store.expand(key.slice(0, 5)), key);
		assert.throws(() => store.expand(key.slice(0, 3)), KeyError);
		assert.throws(() => store.expand('0000000000'), KeyError);
		const short = store.shrink(key);
		assert.ok(short.length >= 4 && key.startsWith(short));
		store.evict(key.slice(0, 8));
		assert.equal(store.contains(key), false);
		assert.throws(() => store.evict(key), KeyError);
	});

	test('an ambiguous prefix is an AmbiguousDigestError naming how many characters are needed', () => {
		const store = memoryStore();
		const keys = new Map<string, string>();
		// Save values until two share a 4-character prefix (birthday bound: ~300 of 65,536).
		for (let i = 0; ; i++) {
			const k = store.saveValue(i);
			const p = k.slice(0, 4);
			if (keys.has(p)) {
				assert.throws(() => store.expand(p), (err: unknown) => AmbiguousDigestError.is(err) && /at least \d+ characters/.test((err as Error).message));
				assert.ok(store.shrink(k).length > 4);
				break;
			}
			keys.set(p, k);
		}
	});

	test('gc removes values no record refers to', () => {
		const { cache: store } = fileStore({ inlineValues: 0 });
		cache(store, () => {
			cube(3);
			cube(4);
		});
		store.evict(cube.fleche.digest(4) );
		const orphan = store.saveValue('orphan');
		assert.equal(store.gc().size, 0, 'by default, values written within the grace period stay (a writer may be about to refer to them)');
		const removed = store.gc({ graceSeconds: 0 });
		assert.deepEqual([...removed].sort(), [digest(4), digest(64), orphan].sort());
		assert.equal(cache(store, () => cube.fleche.load(3)), 27);
	});

	test('a corrupt value or record is a miss with a warning: the function runs again and overwrites it', () => {
		const { cache: store, root } = fileStore({ inlineValues: 0 });
		runs = 0;
		cache(store, () => cube(5));
		writeFileSync(join(root, 'values', digest(125)), 'garbage');
		logs.clear();
		assert.equal(cache(store, () => cube(5)), 125);
		assert.equal(runs, 2);
		assert.ok(logs.records.some((r) => r.code === 'FLECHE_CORRUPT_ENTRY'));
		assert.equal(cache(store, () => cube(5)), 125);
		assert.equal(runs, 2, 'the rewritten entry hits');
		const callFile = join(root, 'calls', cube.fleche.digest(5));
		writeFileSync(callFile, readFileSync(callFile, 'utf8').slice(0, 20));
		assert.equal(cache(store, () => cube(5)), 125);
		assert.equal(runs, 3);
		assert.equal(cache(store, () => cube(5)), 125);
		assert.equal(runs, 3);
	});

	test('a value or record that is a link to /dev/zero or a FIFO is a miss with a warning, never read: the function runs again and overwrites it', () => {
		// Before: the hit followed the link and read /dev/zero without end, or waited on the FIFO for a writer: it hung.
		const { cache: store, root } = fileStore({ inlineValues: 0 });
		runs = 0;
		cache(store, () => cube(7));
		const entries: [string, string][] = [
			[join(root, 'values', digest(343)), 'a value'],
			[join(root, 'calls', cube.fleche.digest(7)), 'a call record'],
		];
		let expected = 1;
		for (const [file, what] of entries) {
			for (const make of [(f: string) => symlinkSync('/dev/zero', f), (f: string) => execFileSync('mkfifo', [f])]) {
				rmSync(file);
				make(file);
				logs.clear();
				assert.equal(cache(store, () => cube(7)), 343, what);
				assert.equal(runs, ++expected, `${what}: the function ran again`);
				// Read errors, and nothing else (the value is read by the lookup, then checked again before the save reuses it).
				const codes = logs.records.map((r) => r.code);
				assert.ok(codes.length >= 1 && codes.every((c) => c === 'FLECHE_READ_ERROR'), `${what}: ${codes.join(', ')}`);
				assert.equal(lstatSync(file).isFile(), true, `${what}: overwritten with a file`);
				assert.equal(cache(store, () => cube(7)), 343);
				assert.equal(runs, expected, `${what}: the rewritten entry hits`);
			}
		}
	});

	test('signed values (docs/behaviour.md §5): tampered, unsigned or wrong-key entries are misses that rerun and overwrite', () => {
		const keyA = 'aa'.repeat(32);
		const { cache: signed, root } = fileStore({ secretKey: keyA, inlineValues: 0 });
		runs = 0;
		cache(signed, () => cube(6));
		const valueFile = join(root, 'values', digest(216));
		const bytes = readFileSync(valueFile);
		bytes[bytes.length - 70] = bytes[bytes.length - 70]! ^ 1;
		writeFileSync(valueFile, bytes);
		logs.clear();
		assert.equal(cache(signed, () => cube(6)), 216);
		assert.equal(runs, 2);
		assert.ok(logs.records.some((r) => r.code === 'FLECHE_BAD_SIGNATURE' || r.code === 'FLECHE_CORRUPT_ENTRY'));
		const wrongKey = new Cache(new ValueFile({ root: join(root, 'values'), secretKey: 'bb'.repeat(32) }), new CallFile({ root: join(root, 'calls') }));
		assert.equal(cache(wrongKey, () => cube(6)), 216);
		assert.equal(runs, 3);
		const unsignedRoot = fileStore();
		cache(unsignedRoot.cache, () => cube(7));
		const readWithKey = new Cache(new ValueFile({ root: join(unsignedRoot.root, 'values'), secretKey: keyA }), new CallFile({ root: join(unsignedRoot.root, 'calls') }));
		assert.equal(cache(readWithKey, () => cube(7)), 343);
		assert.equal(runs, 5);
	});

	test('FLECHE_SECRET_KEY signs file values when no key is given', () => {
		const root = freshDir();
		const req = createRequire(import.meta.url);
		const script = join(root, 'sign.mjs');
		writeFileSync(
			script,
			`import { Cache, ValueFile, CallFile, cache, fleche } from ${JSON.stringify(req.resolve('fleche').replace(/cjs([/\\\\])index\.js$/, 'esm$1index.js'))};
const c = new Cache(new ValueFile({ root: ${JSON.stringify(join(root, 'v'))} }), new CallFile({ root: ${JSON.stringify(join(root, 'c'))} }));
let runs = 0;
const f = fleche((x) => { runs++; return x; }, { name: 'f' });
cache(c, () => { f(1); f(1); });
console.log(runs);`,
		);
		const env = { ...process.env, FLECHE_SECRET_KEY: 'cc'.repeat(32) };
		assert.equal(execFileSync(process.execPath, [script], { env, encoding: 'utf8' }).trim(), '1');
		assert.equal(execFileSync(process.execPath, [script], { env, encoding: 'utf8' }).trim(), '0', 'same key: hit');
		const other = { ...process.env, FLECHE_SECRET_KEY: 'dd'.repeat(32) };
		assert.equal(execFileSync(process.execPath, [script], { env: other, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(), '1', 'other key: the entry is rewritten');
		assert.equal(execFileSync(process.execPath, [script], { env: other, encoding: 'utf8' }).trim(), '0', 'and it then hits with the new key');
	});

	test('several processes calling the same cached functions on one root lose nothing', async () => {
		const root = freshDir();
		const req = createRequire(import.meta.url);
		const script = join(root, 'worker.mjs');
		writeFileSync(
			script,
			`import { Cache, ValueFile, CallFile, cache, fleche } from ${JSON.stringify(req.resolve('fleche').replace(/cjs([/\\\\])index\.js$/, 'esm$1index.js'))};
const c = new Cache(new ValueFile({ root: ${JSON.stringify(join(root, 'v'))} }), new CallFile({ root: ${JSON.stringify(join(root, 'c'))} }));
const f = fleche((x) => ({ x, sq: x * x }), { name: 'f' });
const id = Number(process.argv[2]);
cache(c, () => { for (let i = 0; i < 150; i++) { f(i); f(1000 * (id + 1) + i); } });`,
		);
		await Promise.all(
			[0, 1, 2, 3].map(
				(id) =>
					new Promise<void>((resolve, reject) => {
						const child = spawn(process.execPath, [script, String(id)], { stdio: 'inherit' });
						child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child ${id} exited ${code}`))));
					}),
			),
		);
		const c = new Cache(new ValueFile({ root: join(root, 'v') }), new CallFile({ root: join(root, 'c') }));
		assert.equal(c.query({ name: 'f' }).count(), 150 + 4 * 150);
		const f = fleche((x: number) => ({ x, sq: -1 }), { name: 'f', module: c.query().any()!.module ?? undefined });
		assert.deepEqual(cache(c, () => f.fleche.load(3012)), { x: 3012, sq: 3012 * 3012 });
		// Small values are inside the call files (docs/behaviour.md §2.6): temporaries are looked for in both folders.
		for (const dir of ['v', 'c']) {
			const names = existsSync(join(root, dir)) ? readdirSync(join(root, dir)) : [];
			assert.ok(!names.some((n) => n.endsWith('.tmp')), `no temp files left in ${dir}`);
		}
	});
});

describe('Git metadata (docs/behaviour.md §1.9)', () => {
	test('root, commit, branch and dirty inside a repository; null outside', () => {
		const repo = freshDir();
		const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
		git('init', '-q', '-b', 'main');
		git('-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'init');
		const head = git('rev-parse', 'HEAD');
		mkdirSync(join(repo, 'sub'));
		const previous = process.cwd();
		process.chdir(join(repo, 'sub'));
		try {
			const info = new Git().pre();
			assert.equal(info.commit, head);
			assert.equal(info.branch, 'main');
			assert.equal(info.dirty, false);
			assert.ok(typeof info.root === 'string' && info.root.endsWith(repo.split('/').pop()!));
			const store = memoryStore();
			cache(store, () => meta(new Git(), () => cube(11)));
			assert.equal(store.query().only().metadata.git?.commit, head);
		} finally {
			process.chdir(previous);
		}
		const outside = freshDir();
		process.chdir(outside);
		try {
			const none = new Git().pre();
			if (none.root === null) assert.deepEqual(none, { root: null, commit: null, branch: null, dirty: null });
		} finally {
			process.chdir(previous);
		}
	});
});

test('a cache prints as its class and configuration, so a log line says which store it means', () => {
	const root = freshDir();
	const c = new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') }));
	const text = String(c);
	assert.match(text, /^Cache \{"type":"cache"/);
	assert.ok(text.includes(JSON.stringify(join(root, 'calls'))), text);
});

test('one recompute repairs a damaged record together with the damaged values it names', () => {
	const { cache: store, root } = fileStore({ inlineValues: 0 });
	let runs = 0;
	const label = fleche(
		(n: number) => {
			runs++;
			return `label ${n}`;
		},
		{ name: 'label' },
	);
	cache(store, () => label(7));
	const key = label.fleche.digest(7);
	const record = join(root, 'calls', key);
	const result = join(root, 'values', digest('label 7'));
	const argument = join(root, 'values', digest(7));
	// A value file that exists is never rewritten, so without a check the recompute would leave these two damaged.
	for (const file of [record, result, argument]) writeFileSync(file, readFileSync(file).subarray(0, 20));
	logs.clear();
	assert.equal(cache(store, () => label(7)), 'label 7');
	assert.equal(runs, 2, 'recomputed');
	assert.equal(logs.records.filter((r) => r.code === 'FLECHE_CORRUPT_ENTRY').length, 3, 'each damaged file reported once');
	logs.clear();
	assert.equal(cache(store, () => label(7)), 'label 7');
	assert.equal(runs, 2, 'a hit after one recompute');
	assert.deepEqual(logs.records, []);
	assert.deepEqual(store.loadRecord(key).arguments, { n: digest(7) });
	assert.equal(store.loadValue(digest(7)), 7, 'the argument value is whole again');
});
