// docs/behaviour.md §2.6 (file store, call file format 2): a small call is one file on disk — the call record with its
// small argument and result values inside it — while large values stay content-addressed value files shared by the
// calls that name them; stores written before format 2 keep giving the same hits and are never rewritten by readers;
// a value inside a call file is checked as a value file is. Real files, real child processes, files counted on disk.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cache, CallFile, ConfigError, FlecheConfig, KeyError, ValueFile, cache, cacheFromConfig, digest, fileCache, fleche } from 'fleche';
import { openStore } from 'fleche/inspect';
import { captureLogs } from '../support/logs.js';
import { runNode, tmpDir } from '../support/tmp.js';

const logs = captureLogs();

const repo = fileURLToPath(new URL('../../../', import.meta.url));
/** A store written by fleche at commit 0cc06b5, before call file format 2 (see its README.md). */
const oldStore = path.join(repo, 'test', 'fixtures', 'stores', 'file-v1');

/** Every regular file under `root`, by path relative to it ('/'-separated), with its size, mtime and content digest. */
function filesUnder(root: string): Map<string, { size: number; mtimeMs: number; sha: string }> {
	const out = new Map<string, { size: number; mtimeMs: number; sha: string }>();
	if (!fs.existsSync(root)) return out;
	for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
		if (!entry.isFile()) continue;
		const full = path.join(entry.parentPath, entry.name);
		const st = fs.statSync(full);
		out.set(path.relative(root, full).split(path.sep).join('/'), {
			size: st.size,
			mtimeMs: st.mtimeMs,
			sha: createHash('sha256').update(fs.readFileSync(full)).digest('hex'),
		});
	}
	return out;
}

const isCallFile = (name: string): boolean => /^calls\/[0-9a-f]{64}$/.test(name);

/** The call file of `key` as parsed JSON. */
function callJson(root: string, key: string): { format: string; record: Record<string, unknown>; values?: Record<string, string> } {
	return JSON.parse(fs.readFileSync(path.join(root, 'calls', key), 'utf8')) as ReturnType<typeof callJson>;
}

function writeCallJson(root: string, key: string, json: unknown): void {
	fs.writeFileSync(path.join(root, 'calls', key), `${JSON.stringify(json, null, 2)}\n`);
}

/** A fresh cache on the store at `root` (nothing of it read yet by this instance). */
function open(root: string, options?: { secretKey?: string; inlineValues?: number }): Cache {
	const secretKey = options?.secretKey ?? '';
	return new Cache(
		new ValueFile({ root: path.join(root, 'values'), secretKey }),
		new CallFile({ root: path.join(root, 'calls'), secretKey, ...(options?.inlineValues === undefined ? {} : { inlineValues: options.inlineValues }) }),
	);
}

/** A cached a + b that counts its runs. */
function counted(name = 'add'): { add: (a: number, b: number) => number; runs: () => number } {
	let runs = 0;
	const add = fleche((a: number, b: number) => (runs++, a + b), { name, module: 'layout' });
	return { add, runs: () => runs };
}

/** The built package for child processes. */
const flecheModule = createRequire(import.meta.url).resolve('fleche');

/** A child that computes `add(i, b)` for each pair of its arguments through the file store at `root`, starting at `startAt`. */
const childScript = `
import { pathToFileURL } from 'node:url';
const [modulePath, root, startAt, ...pairs] = process.argv.slice(2);
const mod = await import(pathToFileURL(modulePath).href);
const { cache, fileCache, fleche } = mod.fleche ? mod : mod.default;
let runs = 0;
const add = fleche((a, b) => (runs++, a + b), { name: 'add', module: 'layout' });
while (Date.now() < Number(startAt)) {}
cache(fileCache(root), () => {
	for (const pair of pairs) {
		const [a, b] = pair.split(',').map(Number);
		if (add(a, b) !== a + b) throw new Error('wrong sum');
	}
});
console.log(JSON.stringify({ runs }));
`;

describe('file store layout: one file per small call', () => {
	it('a small call is one file: its record with the argument and result values inside, none in values/', (t) => {
		const root = tmpDir(t);
		const store = fileCache(root);
		const { add, runs } = counted();
		cache(store, () => {
			for (let i = 0; i < 20; i++) assert.equal(add(i, 0.5), i + 0.5);
		});
		store.flushStats();
		const files = [...filesUnder(root).keys()];
		assert.equal(files.filter(isCallFile).length, 20, 'one call file per call');
		assert.deepEqual(
			files.filter((f) => !isCallFile(f)).map((f) => f.replace(/[^/]+$/, '*')),
			['calls/.stats/*'],
			'besides them only the statistics journal of this process: no value files, no lease left, no temporary',
		);
		const json = callJson(root, files.find(isCallFile)!.slice('calls/'.length));
		assert.equal(json.format, 'fleche.call/2');
		const named = [...Object.values(json.record['arguments'] as Record<string, string>), json.record['result'] as string];
		assert.deepEqual(Object.keys(json.values!).sort(), [...new Set(named)].sort(), 'every value it names is inside it');

		// A fresh instance in this process, then another process: hits, nothing computed again.
		cache(open(root), () => {
			for (let i = 0; i < 20; i++) assert.equal(add(i, 0.5), i + 0.5);
		});
		assert.equal(runs(), 20);
		assert.deepEqual(logs.records, []);
	});

	it('another process hits the calls this one stored, and writes its own as one file each', async (t) => {
		const root = tmpDir(t);
		const { add } = counted();
		cache(fileCache(root), () => [1, 2, 3].forEach((i) => add(i, 0.5)));
		const script = path.join(root, '..', `${path.basename(root)}-child.mjs`);
		fs.writeFileSync(script, childScript);
		t.after(() => fs.rmSync(script, { force: true }));
		const child = await runNode(script, [flecheModule, root, '0', '1,0.5', '2,0.5', '3,0.5', '4,0.5']);
		assert.equal(child.code, 0, child.stderr);
		assert.deepEqual(JSON.parse(child.stdout.trim()), { runs: 1 }, 'three hits, one miss');
		const files = [...filesUnder(root).keys()];
		assert.equal(files.filter(isCallFile).length, 4);
		assert.deepEqual(
			files.filter((f) => f.startsWith('values/')),
			[],
		);
	});

	it('four processes writing one store at once, overlapping keys: every call one whole, readable file, no temporaries', async (t) => {
		const root = tmpDir(t);
		const script = path.join(root, '..', `${path.basename(root)}-child.mjs`);
		fs.writeFileSync(script, childScript);
		t.after(() => fs.rmSync(script, { force: true }));
		const startAt = Date.now() + 500;
		// Each child: 40 calls of its own and the same 40 shared calls as every other child.
		const pairs = (id: number): string[] => Array.from({ length: 40 }, (_, i) => [`${i},${id + 10}`, `${i},0.5`]).flat();
		const children = await Promise.all([0, 1, 2, 3].map((id) => runNode(script, [flecheModule, root, String(startAt), ...pairs(id)], { timeoutMs: 60_000 })));
		for (const child of children) assert.equal(child.code, 0, child.stderr);
		const files = [...filesUnder(root).keys()];
		assert.equal(files.filter(isCallFile).length, 4 * 40 + 40);
		assert.deepEqual(
			files.filter((f) => !isCallFile(f) && !f.startsWith('calls/.stats/')),
			[],
			'no value file, no temporary, no lease left',
		);
		const { add, runs } = counted();
		cache(open(root), () => {
			for (let id = 0; id < 4; id++) for (let i = 0; i < 40; i++) assert.equal(add(i, id + 10), i + id + 10);
			for (let i = 0; i < 40; i++) assert.equal(add(i, 0.5), i + 0.5);
		});
		assert.equal(runs(), 0, 'every call a hit');
		assert.deepEqual(logs.records, []);
	});

	it('a value too large to go inside stays a value file, shared by every call that names it', (t) => {
		const root = tmpDir(t);
		let runs = 0;
		const pad = fleche((n: number, _tag: string) => (runs++, 'x'.repeat(n)), { name: 'pad', module: 'layout' });
		const len = fleche((s: string) => s.length, { name: 'len', module: 'layout' });
		const big = 'y'.repeat(10_000);
		cache(fileCache(root), () => {
			pad(10_000, 'a');
			pad(10_000, 'b');
			assert.equal(len(big), 10_000);
		});
		const files = [...filesUnder(root).keys()];
		assert.deepEqual(
			files.filter((f) => f.startsWith('values/')).sort(),
			[`values/${digest('x'.repeat(10_000))}`, `values/${digest(big)}`].sort(),
			'the large result once for both calls, the large argument: two value files',
		);
		assert.equal(files.filter(isCallFile).length, 3);
		cache(open(root), () => {
			assert.equal(pad(10_000, 'b').length, 10_000);
			assert.equal(len(big), 10_000);
		});
		assert.equal(runs, 2);
	});

	it('inlineValues: 0 keeps every value in a file of its own, as before format 2', (t) => {
		const root = tmpDir(t);
		const { add } = counted();
		cache(open(root, { inlineValues: 0 }), () => add(1, 0.5));
		const files = [...filesUnder(root).keys()];
		assert.equal(files.filter((f) => f.startsWith('values/')).length, 3);
		const key = files.find(isCallFile)!.slice('calls/'.length);
		assert.equal(callJson(root, key).format, 'fleche.call/1');
		assert.equal(callJson(root, key).values, undefined);
	});

	it('fleche.toml: `inline_values` of a file template or calls table, carried by toConfig (0 turns it off)', (t) => {
		const root = tmpDir(t);
		const config = FlecheConfig.fromToml(
			`[off]\ntemplate = "file"\nroot = "${root.replaceAll('\\', '/')}"\ninline_values = 0\n\n[bad]\ntemplate = "file"\nroot = "x"\ninline_values = -1\n`,
			{
				file: path.join(root, 'fleche.toml'),
			},
		);
		const off = cacheFromConfig(config.cacheConfig('off')) as Cache;
		assert.equal(off.calls.held, undefined);
		assert.deepEqual(off.calls.toConfig(), { type: 'file', root: path.join(root, 'calls'), inlineValues: 0 });
		const { add } = counted();
		cache(off, () => add(1, 0.5));
		assert.equal([...filesUnder(root).keys()].filter((f) => f.startsWith('values/')).length, 3);
		assert.throws(
			() => config.cacheConfig('bad'),
			(err: unknown) => ConfigError.is(err) && /inline_values/.test((err as Error).message),
		);
		assert.equal('inlineValues' in fileCache(root).calls.toConfig(), false, 'the default is not written out');
	});

	it('a value inside a call file is found by its digest alone, by a fresh cache and by fleche/inspect', (t) => {
		const root = tmpDir(t);
		const { add } = counted();
		cache(fileCache(root), () => add(41, 1));
		const fresh = open(root);
		assert.equal(fresh.loadValue(digest(41)), 41, 'found by one pass over the call files');
		assert.equal(fresh.loadValue(digest(42)), 42);
		assert.throws(
			() => fresh.loadValue(digest('never stored')),
			(err: unknown) => KeyError.is(err),
		);
		const store = openStore(root);
		t.after(() => store.close());
		const [fn] = store.functions();
		assert.equal(fn?.name, 'add');
		const page = store.calls(fn);
		assert.equal(page.total, 1);
		const detail = store.call(page.calls[0]!.key);
		assert.deepEqual(detail.arguments, { a: 41, b: 1 });
		assert.deepEqual(detail.result, { ok: true, value: 42 });
		assert.deepEqual(store.verify(), { checked: 1, damaged: [], removed: 0 });
	});
});

describe('file store layout: entries that are not files', () => {
	it('fleche verify reports a link to a device or a FIFO under a key as damaged, never reading it, and --delete removes the entry alone', (t) => {
		const root = tmpDir(t);
		const { add } = counted('notFiles');
		cache(open(root, { inlineValues: 0 }), () => [add(1, 2), add(3, 4)]);
		const values = path.join(root, 'values');
		const [zero, fifo] = [digest(3), digest(7)];
		for (const key of [zero, fifo]) fs.rmSync(path.join(values, key));
		fs.symlinkSync('/dev/zero', path.join(values, zero));
		execFileSync('mkfifo', [path.join(values, fifo)]);
		const store = openStore(root);
		try {
			const report = store.verify();
			assert.equal(report.checked, 7, 'two calls, five values (1, 2, 3, 4 and 7)');
			assert.deepEqual(
				report.damaged.map((d) => [d.kind, d.key, d.reason]).sort(),
				[
					['value', fifo, 'not a regular file (a link or a FIFO, never read)'],
					['value', zero, 'not a regular file (a link or a FIFO, never read)'],
				].sort(),
			);
			assert.equal(report.removed, 0);
			assert.equal(fs.lstatSync(path.join(values, zero)).isSymbolicLink(), true, 'verify alone changes nothing');
			const removed = store.verify({ remove: true });
			assert.equal(removed.removed, 2);
			assert.equal(fs.existsSync(path.join(values, zero)) || fs.existsSync(path.join(values, fifo)), false);
			assert.equal(fs.statSync('/dev/zero').isCharacterDevice(), true, 'the link was removed, not what it named');
			assert.deepEqual(store.verify(), { checked: 5, damaged: [], removed: 0 });
		} finally {
			store.close();
		}
	});
});

describe('file store layout: damage inside a call file', () => {
	/** A store with one call add(1, 0.5), and its key. */
	function oneCall(root: string, secretKey?: string): string {
		const { add } = counted();
		cache(open(root, secretKey === undefined ? undefined : { secretKey }), () => add(1, 0.5));
		return fs.readdirSync(path.join(root, 'calls')).find((n) => /^[0-9a-f]{64}$/.test(n))!;
	}

	/** Runs add(1, 0.5) on a fresh cache of `root`; how many times the body ran. */
	function rerun(root: string, secretKey?: string): number {
		const { add, runs } = counted();
		cache(open(root, secretKey === undefined ? undefined : { secretKey }), () => assert.equal(add(1, 0.5), 1.5));
		return runs();
	}

	const cases: Record<string, (json: ReturnType<typeof callJson>, root: string) => void> = {
		'a flipped byte in the result value': (json) => {
			const result = json.record['result'] as string;
			const bytes = Buffer.from(json.values![result]!, 'base64');
			bytes[bytes.length - 6]! ^= 0xff;
			json.values![result] = bytes.toString('base64');
		},
		'the result value swapped for another value': (json) => {
			const result = json.record['result'] as string;
			json.values![result] = json.values![digest(1)]!;
		},
		'a value the record does not name': (json) => {
			json.values![digest('stray')] = json.values![digest(1)]!;
		},
		'values that are not base64': (json) => {
			json.values![json.record['result'] as string] = '*not base64*';
		},
		'values inside a format 1 record': (json) => {
			json.format = 'fleche.call/1';
		},
	};
	for (const [what, edit] of Object.entries(cases)) {
		it(`${what}: a miss reported as damage, found by verify, replaced by the recompute`, (t) => {
			const root = tmpDir(t);
			const key = oneCall(root);
			const json = callJson(root, key);
			edit(json, root);
			writeCallJson(root, key, json);
			const store = openStore(root);
			const report = store.verify();
			store.close();
			assert.equal(report.damaged.length, 1, JSON.stringify(report));
			assert.equal(report.damaged[0]!.key, key);
			logs.clear();
			assert.equal(rerun(root), 1, 'computed again');
			assert.ok(logs.codes('FLECHE_CORRUPT_ENTRY').length >= 1, JSON.stringify(logs.records));
			logs.clear();
			assert.equal(rerun(root), 0, 'the recompute wrote a whole file again');
			assert.deepEqual(logs.records, []);
		});
	}

	it('with a secret key, a value inside a call file signed with no key or another is a miss', (t) => {
		const root = tmpDir(t);
		const keyA = 'aa'.repeat(32);
		const key = oneCall(root, keyA);
		assert.equal(rerun(root, keyA), 0);
		const json = callJson(root, key);
		const result = json.record['result'] as string;
		// The same value, packed by a value storage that does not sign: what someone without the key could write.
		const unsigned = new ValueFile({ root: path.join(root, 'elsewhere'), secretKey: '' }).packOrPut(result, 1.5, 4096)!;
		json.values![result] = Buffer.from(unsigned).toString('base64');
		writeCallJson(root, key, json);
		logs.clear();
		assert.equal(rerun(root, keyA), 1);
		assert.ok(logs.codes('FLECHE_BAD_SIGNATURE').length >= 1, JSON.stringify(logs.records));
		logs.clear();
		assert.equal(rerun(root, keyA), 0);
		assert.equal(rerun(root, 'bb'.repeat(32)), 1, 'signed with another key: a miss for that reader');
		logs.clear();
	});

	it('a call file of a format newer than this version reads is a miss reported once, and a reader leaves it alone', (t) => {
		const root = tmpDir(t);
		const key = oneCall(root);
		const json = callJson(root, key);
		json.format = 'fleche.call/3';
		writeCallJson(root, key, json);
		const before = filesUnder(root);
		logs.clear();
		const { add, runs } = counted();
		const reader = open(root).readonly();
		cache(reader, () => {
			assert.equal(add(1, 0.5), 1.5);
			assert.equal(add(1, 0.5), 1.5);
		});
		assert.equal(runs(), 2, 'misses');
		const unreadable = logs.codes('FLECHE_UNREADABLE_ENTRY');
		assert.equal(unreadable.length, 1, JSON.stringify(logs.records));
		assert.match(unreadable[0]!.message, /fleche\.call\/3/);
		assert.deepEqual(filesUnder(root), before, 'nothing rewritten');
		logs.clear();
	});
});

describe('file store layout: a store written before call file format 2', () => {
	// The fixture's functions, with the identities they were stored under.
	function fixtureFunctions(): {
		add: (a: number, b: number) => number;
		big: (n: number) => string;
		pair: (l: string, t: string[]) => unknown;
		runs: () => number;
	} {
		let runs = 0;
		return {
			add: fleche((a: number, b: number) => (runs++, a + b), { name: 'add', module: 'fixture', version: 1 }),
			big: fleche((n: number) => (runs++, 'x'.repeat(n)), { name: 'big', module: 'fixture', version: 1 }),
			pair: fleche((label: string, tagList: string[]) => (runs++, { label, tags: tagList, size: tagList.length }), {
				name: 'pair',
				module: 'fixture',
				version: 1,
			}),
			runs: () => runs,
		};
	}

	function copyOfOldStore(t: { after: (fn: () => void) => void }): string {
		const root = path.join(tmpDir(t), 'store');
		fs.cpSync(oldStore, root, { recursive: true, preserveTimestamps: true });
		return root;
	}

	it('its hits stay hits, and reading it (cached calls, fleche/inspect) rewrites and converts nothing', (t) => {
		const root = copyOfOldStore(t);
		const before = filesUnder(root);
		assert.equal([...before.keys()].filter(isCallFile).length, 4);
		assert.equal([...before.keys()].filter((f) => f.startsWith('values/')).length, 9);
		const fns = fixtureFunctions();
		const store = fileCache(root);
		cache(store, () => {
			assert.equal(fns.add(1, 2), 3);
			assert.equal(fns.add(2, 3), 5);
			assert.equal(fns.big(10_000), 'x'.repeat(10_000));
			assert.deepEqual(fns.pair('first', ['a', 'b']), { label: 'first', tags: ['a', 'b'], size: 2 });
		});
		assert.equal(fns.runs(), 0, 'every call a hit');
		const inspected = openStore(root);
		assert.deepEqual(
			inspected.functions().map((f) => [f.name, f.calls]),
			[
				['add', 2],
				['big', 1],
				['pair', 1],
			],
		);
		const add = inspected.functions()[0]!;
		const details = inspected.calls(add).calls.map((c) => inspected.call(c.key));
		assert.deepEqual(
			details.map((d) => d.arguments).sort((x, y) => (x['a'] as number) - (y['a'] as number)),
			[
				{ a: 1, b: 2 },
				{ a: 2, b: 3 },
			],
		);
		assert.deepEqual(inspected.verify(), { checked: 13, damaged: [], removed: 0 });
		inspected.close();
		store.flushStats();
		const after = filesUnder(root);
		for (const [name, was] of before) assert.deepEqual(after.get(name), was, `${name} unchanged`);
		assert.deepEqual(
			[...after.keys()].filter((f) => !before.has(f)).map((f) => f.replace(/[^/]+$/, '*')),
			['calls/.stats/*'],
			'only this process’s statistics journal was added (the hits it counted)',
		);
		assert.deepEqual(logs.records, []);
	});

	it('a writer adds new calls in the new layout beside the old ones; gc keeps every value an old record names', (t) => {
		const root = copyOfOldStore(t);
		const fns = fixtureFunctions();
		const store = fileCache(root);
		cache(store, () => {
			assert.equal(fns.add(7, 8), 15);
			assert.equal(fns.add(1, 2), 3);
		});
		assert.equal(fns.runs(), 1);
		const files = [...filesUnder(root).keys()];
		assert.equal(files.filter(isCallFile).length, 5, 'one file more for the new call');
		assert.equal(files.filter((f) => f.startsWith('values/')).length, 9, 'no value file more');
		assert.deepEqual(store.gc({ graceSeconds: 0 }), new Set(), 'every old value is named by an old record');
		// Evicting the old add(1, 2) leaves 1 without a record that names it (2 and 3 are add(2, 3)'s).
		const old = [...store.records({ name: 'add' })].find((r) => r.arguments['a'] === digest(1) && r.arguments['b'] === digest(2))!;
		store.evict(old.key);
		assert.deepEqual(store.gc({ graceSeconds: 0 }), new Set([digest(1)]));
		cache(open(root), () => {
			assert.equal(fns.add(2, 3), 5);
			assert.equal(fns.add(7, 8), 15);
		});
		assert.equal(fns.runs(), 1);
	});
});
