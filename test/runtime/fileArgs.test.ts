// docs/behaviour.md §1.2a: file: URLs as arguments and results — keyed by name and bytes, stored by content, with
// a git-like stat cache so that a repeat call on an unchanged file costs a stat.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
	closeSync,
	ftruncateSync,
	mkdirSync,
	openSync,
	readdirSync,
	readFileSync,
	renameSync,
	rmSync,
	statSync,
	symlinkSync,
	utimesSync,
	writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { Cache, CallMemory, cache, digest, fleche, flushStats, ValueFile, ValueMemory } from 'fleche';
import { fileDigestCounters, openStore } from 'fleche/inspect';
import { captureLogs } from '../support/logs.ts';
import { fileStore, freshDir, memoryStore } from '../support/stores.ts';
import { runNode } from '../support/tmp.ts';
import { runtimeDir, userProject } from '../support/project.ts';

const logs = captureLogs();

/** Writes `text` at `path` (making folders) with an mtime an hour old, so the stat cache may trust it at once. */
function put(path: string, text: string | Buffer): URL {
	mkdirSync(dirname(path), { recursive: true });
	writeFileSync(path, text);
	const old = Date.now() / 1000 - 3600;
	utimesSync(path, old, old);
	return pathToFileURL(path);
}

/** A new 1 GiB file, sparse (no gigabyte written to the test machine's disk), with an mtime an hour old. */
function sparseGig(): string {
	const path = join(freshDir(), 'gig.bin');
	const fd = openSync(path, 'w');
	ftruncateSync(fd, 1 << 30);
	closeSync(fd);
	const old = Date.now() / 1000 - 3600;
	utimesSync(path, old, old);
	return path;
}

/** A cached function that reads its file (or lists its directory) and counts its runs. */
function reader() {
	let runs = 0;
	const fn = fleche(
		(input: URL) => {
			runs++;
			return statSync(input).isDirectory() ? readdirSync(input).join(',') : readFileSync(input, 'utf8');
		},
		{ name: 'reader' },
	);
	return { fn, runs: () => runs };
}

describe('a file: URL argument is keyed by its name and bytes', () => {
	test('moving the file is a hit; editing a byte or renaming it is a miss', () => {
		using _ = cache(fileStore().cache);
		const dir = freshDir();
		const { fn, runs } = reader();
		const a = put(join(dir, 'a', 'data.csv'), 'x,y\n1,2\n');
		fn(a);
		assert.equal(runs(), 1);
		const moved = join(dir, 'b', 'data.csv');
		mkdirSync(dirname(moved));
		renameSync(fileURLToPath(a), moved);
		assert.equal(fn(pathToFileURL(moved)), 'x,y\n1,2\n');
		assert.equal(runs(), 1, 'same name and bytes in another folder: a hit');
		put(moved, 'x,y\n1,3\n');
		fn(pathToFileURL(moved));
		assert.equal(runs(), 2, 'one byte edited: a miss');
		const renamed = join(dir, 'b', 'other.csv');
		renameSync(moved, renamed);
		fn(pathToFileURL(renamed));
		assert.equal(runs(), 3, 'renamed: a miss');
		assert.equal(digest(pathToFileURL(renamed)), digest(put(join(dir, 'c', 'other.csv'), 'x,y\n1,3\n')));
		assert.notEqual(digest(pathToFileURL(renamed)), digest(new URL('https://example.com/other.csv')));
	});

	test('a directory is keyed by its tree, not by its own name', () => {
		using _ = cache(memoryStore());
		const root = freshDir();
		const { fn, runs } = reader();
		const tree = (top: string): URL => {
			put(join(top, 'a.txt'), 'A');
			put(join(top, 'sub', 'b.txt'), 'B');
			return pathToFileURL(top);
		};
		const first = tree(join(root, 'one'));
		fn(first);
		fn(tree(join(root, 'two')));
		assert.equal(runs(), 1, 'an equal tree under another name: a hit');
		const top = join(root, 'one');
		put(join(top, 'sub', 'b.txt'), 'b');
		fn(first);
		assert.equal(runs(), 2, 'a nested file edited: a miss');
		renameSync(join(top, 'sub', 'b.txt'), join(top, 'sub', 'c.txt'));
		fn(first);
		assert.equal(runs(), 3, 'a nested file renamed: a miss');
		mkdirSync(join(top, 'empty'));
		fn(first);
		assert.equal(runs(), 4, 'an empty folder added: a miss');
		rmSync(join(top, 'empty'), { recursive: true });
		fn(first);
		assert.equal(runs(), 4, 'back to the tree of the third call: a hit');
	});

	test('a missing path runs uncached with one warning', () => {
		using _ = cache(memoryStore());
		logs.clear();
		const { fn, runs } = reader();
		const missing = pathToFileURL(join(freshDir(), 'nope.csv'));
		const plain = fleche((u: URL) => u.pathname.length, { name: 'missingPath' });
		assert.equal(plain(missing), missing.pathname.length);
		assert.equal(plain(missing), missing.pathname.length);
		const warnings = logs.codes('FLECHE_INDIGESTIBLE');
		assert.equal(warnings.length, 1, 'said once, not on every call');
		assert.match(warnings[0]!.message, /nope\.csv: it does not exist/);
		assert.throws(() => fn(missing), /ENOENT/, 'the body runs (and here fails to read it)');
		assert.equal(runs(), 1);
	});

	test('a symbolic link is keyed as what it points to, under its own name; a link cycle runs uncached', () => {
		using _ = cache(memoryStore());
		logs.clear();
		const dir = freshDir();
		const target = put(join(dir, 'real', 'data.csv'), 'linked');
		mkdirSync(join(dir, 'links'));
		symlinkSync(fileURLToPath(target), join(dir, 'links', 'data.csv'));
		assert.equal(digest(pathToFileURL(join(dir, 'links', 'data.csv'))), digest(target));
		mkdirSync(join(dir, 'loop'));
		symlinkSync(join(dir, 'loop'), join(dir, 'loop', 'again'));
		let runs = 0;
		const list = fleche((u: URL) => (runs++, readdirSync(u).length), { name: 'listLoop' });
		list(pathToFileURL(join(dir, 'loop')));
		list(pathToFileURL(join(dir, 'loop')));
		assert.equal(runs, 2, 'uncached');
		const warnings = logs.codes('FLECHE_INDIGESTIBLE');
		assert.equal(warnings.length, 1);
		assert.match(warnings[0]!.message, /cycle of symbolic links/);
	});

	test('files nested in arrays, plain objects, Maps and Sets are keyed by content too', () => {
		using _ = cache(memoryStore());
		const dir = freshDir();
		let runs = 0;
		const fn = fleche(
			(_input: unknown) => {
				runs++;
				return runs;
			},
			{ name: 'nested' },
		);
		const shape = (at: string) => {
			const f = put(join(dir, at, 'in.txt'), 'same');
			return { list: [f], map: new Map([['k', f]]), set: new Set([f]), deep: { f } };
		};
		fn(shape('x'));
		fn(shape('y'));
		assert.equal(runs, 1, 'the same files elsewhere: a hit');
		put(join(dir, 'y', 'in.txt'), 'diff');
		fn(shape('z')); // rewrites z/in.txt as 'same'
		assert.equal(runs, 1);
		fn({
			list: [pathToFileURL(join(dir, 'y', 'in.txt'))],
			map: new Map([['k', pathToFileURL(join(dir, 'z', 'in.txt'))]]),
			set: new Set([pathToFileURL(join(dir, 'z', 'in.txt'))]),
			deep: { f: pathToFileURL(join(dir, 'z', 'in.txt')) },
		});
		assert.equal(runs, 2, 'one nested file differs: a miss');
	});
});

describe('a file: URL result is stored by content', () => {
	test('a hit materialises a fresh copy with the same basename and bytes; the miss returns the function’s own URL', () => {
		const { cache: store } = fileStore();
		using _ = cache(store);
		const out = freshDir();
		let runs = 0;
		const render = fleche(
			(text: string) => {
				runs++;
				return put(join(out, `run${runs}`, 'report.txt'), text.toUpperCase());
			},
			{ name: 'render' },
		);
		const miss = render('hello');
		assert.equal(fileURLToPath(miss), join(out, 'run1', 'report.txt'));
		const hit1 = render('hello');
		const hit2 = render('hello');
		assert.equal(runs, 1);
		for (const hit of [hit1, hit2]) {
			assert.ok(hit instanceof URL && hit.protocol === 'file:');
			assert.equal(basename(fileURLToPath(hit)), 'report.txt');
			assert.equal(readFileSync(hit, 'utf8'), 'HELLO');
		}
		assert.notEqual(dirname(fileURLToPath(hit1)), dirname(fileURLToPath(hit2)), 'each hit gets a fresh folder');
		assert.notEqual(dirname(fileURLToPath(hit1)), join(out, 'run1'));
		writeFileSync(hit1, 'scribbled');
		rmSync(join(out, 'run1'), { recursive: true });
		assert.equal(readFileSync(render('hello'), 'utf8'), 'HELLO', 'neither the caller’s edits nor the original matter');
	});

	test('equal bytes are stored once, shared by equal files and an equal Buffer', () => {
		const { cache: store } = fileStore();
		using _ = cache(store);
		const out = freshDir();
		const bytes = Buffer.alloc(100_000, 7);
		const two = fleche(() => [put(join(out, 'a.bin'), bytes), new Map([['b', put(join(out, 'b.bin'), bytes)]]), { dir: pathToFileURL(out + '/') }], {
			name: 'two',
		});
		two();
		const values = store.values as ValueFile;
		const buffer = digest(bytes);
		assert.ok(values.contains(buffer), 'the bytes are stored under the digest an equal Buffer has');
		const big = values.list().filter((k) => (values.sizeOf(k) ?? 0) >= bytes.length);
		assert.deepEqual(big, [buffer], 'stored once for two files and a directory holding both');
		const [a, m, d] = two() as [URL, Map<string, URL>, { dir: URL }];
		assert.deepEqual(readFileSync(a), bytes);
		assert.equal(basename(fileURLToPath(m.get('b')!)), 'b.bin');
		assert.ok(d.dir.href.endsWith('/'), 'a directory URL written with a trailing slash keeps it');
		assert.deepEqual(readFileSync(new URL('b.bin', d.dir)), bytes);
		assert.equal(basename(fileURLToPath(d.dir)), basename(out), 'a directory keeps its own name');
		// gc keeps the bytes the call's result refers to.
		store.gc({ graceSeconds: 0 });
		assert.ok(values.contains(buffer));
		assert.deepEqual(readFileSync((two() as [URL])[0]), bytes);
	});

	test('a memory store materialises results too', () => {
		using _ = cache(memoryStore());
		const out = freshDir();
		let runs = 0;
		const f = fleche(() => (runs++, put(join(out, 'm.txt'), 'M')), { name: 'memoryFile' });
		f();
		const hit = f();
		assert.equal(runs, 1);
		assert.equal(basename(fileURLToPath(hit)), 'm.txt');
		assert.notEqual(dirname(fileURLToPath(hit)), out);
		assert.equal(readFileSync(hit, 'utf8'), 'M');
	});

	test('stored bytes that are gone make the call a miss with a warning; the recompute stores them again', () => {
		const { cache: store } = fileStore();
		using _ = cache(store);
		logs.clear();
		const out = freshDir();
		let runs = 0;
		const f = fleche(() => (runs++, put(join(out, 'gone.txt'), 'G')), { name: 'gone' });
		f();
		const values = store.values as ValueFile;
		values.evict(digest(Buffer.from('G')));
		f();
		assert.equal(runs, 2, 'a miss');
		assert.equal(logs.codes('FLECHE_CORRUPT_ENTRY').length, 1);
		assert.equal(readFileSync(f(), 'utf8'), 'G');
		assert.equal(runs, 2, 'repaired: a hit');
	});

	test('a storage that cannot hold bytes refuses a file result with a clear error; the caller still gets it', () => {
		using _ = cache(new Cache(new ValueFile({ root: join(freshDir(), 'values'), serializer: 'json' }), new CallMemory()));
		logs.clear();
		const out = freshDir();
		const f = fleche(() => put(join(out, 'r.txt'), 'R'), { name: 'jsonFile' });
		assert.equal(fileURLToPath(f()), join(out, 'r.txt'));
		const rejected = logs.codes('FLECHE_REJECTED');
		assert.equal(rejected.length, 1);
		assert.match(rejected[0]!.message, /cannot hold file bodies/);
		assert.match(rejected[0]!.message, /never by its location/);
	});

	test('a file URL inside a class instance is refused, never stored as a location', () => {
		using _ = cache(new Cache(new ValueMemory(), new CallMemory()));
		logs.clear();
		class Holder {
			constructor(readonly file: URL) {}
		}
		const f = fleche(() => new Holder(put(join(freshDir(), 'h.txt'), 'H')), { name: 'holder' });
		f();
		assert.match(
			logs.codes('FLECHE_REJECTED')[0]!.message,
			/inside the Holder at value: file values are stored by content in arrays, plain objects, Maps and Sets only/,
		);
	});
});

describe('the stat cache', () => {
	test('an unchanged file is hashed once: a repeat call (a hit) costs a stat; a changed one is hashed once more', () => {
		using _ = cache(memoryStore());
		const path = join(freshDir(), 'big.bin');
		const url = put(path, Buffer.alloc(8 << 20, 1));
		let runs = 0;
		const size = fleche((u: URL) => (runs++, statSync(u).size), { name: 'size' });
		const before = fileDigestCounters();
		size(url);
		const first = fileDigestCounters();
		assert.equal(first.hashed - before.hashed, 1, 'the miss hashes it once (storing the argument does not hash it again)');
		size(url);
		size(url);
		const repeat = fileDigestCounters();
		assert.equal(runs, 1);
		assert.equal(repeat.hashed, first.hashed, 'hits read nothing');
		assert.equal(repeat.statOnly - first.statOnly, 2);
		const fd = openSync(path, 'r+');
		writeFileSync(fd, Buffer.from([2]), {});
		closeSync(fd);
		const old = Date.now() / 1000 - 1800;
		utimesSync(path, old, old);
		size(url);
		assert.equal(fileDigestCounters().hashed - repeat.hashed, 1, 'a changed file is hashed once');
		assert.equal(runs, 2);
	});

	test('a fresh result file is read and hashed once on the miss, and not at all on a hit', () => {
		const { cache: store } = fileStore();
		using _ = cache(store);
		const out = join(freshDir(), 'fresh.bin');
		const bytes = Buffer.alloc(4 << 20, 3);
		const make = fleche(() => (writeFileSync(out, bytes), pathToFileURL(out)), { name: 'makeFresh' }); // mtime: now (racy)
		const before = fileDigestCounters();
		make();
		const miss = fileDigestCounters();
		assert.equal(miss.hashed - before.hashed, 1, 'keyed and stored from one read');
		assert.equal(miss.bytesHashed - before.bytesHashed, bytes.length);
		assert.ok((store.values as ValueFile).contains(digest(bytes)), 'the bytes hashed are the bytes stored');
		assert.deepEqual(readFileSync(make()), bytes);
		assert.equal(fileDigestCounters().hashed, miss.hashed, 'the hit hashed nothing');
	});

	test('a fresh argument file: hashed for its key, and once more as it is stored (a racy stat vouches for nothing), never a third time', () => {
		const { cache: store } = fileStore();
		using _ = cache(store);
		const path = join(freshDir(), 'arg.bin');
		writeFileSync(path, Buffer.alloc(1 << 20, 5));
		const size = fleche((u: URL) => statSync(u).size, { name: 'freshArg' });
		const before = fileDigestCounters().hashed;
		size(pathToFileURL(path));
		assert.equal(fileDigestCounters().hashed - before, 2);
	});

	test('racy: a file modified just before it was read is hashed again on its next use', () => {
		const path = join(freshDir(), 'fresh.txt');
		writeFileSync(path, 'new'); // mtime: now
		const url = pathToFileURL(path);
		const before = fileDigestCounters().hashed;
		const d1 = digest(url);
		const d2 = digest(url);
		assert.equal(d1, d2);
		assert.equal(fileDigestCounters().hashed - before, 2, 'not trusted while its mtime is as recent as the read');
		const old = Date.now() / 1000 - 60;
		utimesSync(path, old, old);
		digest(url);
		const settled = fileDigestCounters().hashed;
		digest(url);
		assert.equal(fileDigestCounters().hashed, settled, 'trusted once its mtime is well before the read');
	});

	test('a 1 GiB file: the repeat digest is stat-only', () => {
		const path = sparseGig();
		const url = pathToFileURL(path);
		const before = fileDigestCounters();
		const d = digest(url);
		const mid = fileDigestCounters();
		assert.equal(mid.hashed - before.hashed, 1);
		assert.equal(mid.bytesHashed - before.bytesHashed, 1 << 30);
		assert.equal(digest(url), d);
		const after = fileDigestCounters();
		assert.equal(after.bytesHashed, mid.bytesHashed, 'no byte read again');
		assert.equal(after.statOnly - mid.statOnly, 1);
	});
});

describe('the stat cache across processes (persisted in the user cache folder)', () => {
	// The child: keys a file URL (`digest`) or calls a cached function on it with a file store (`call`), then reports
	// the stat cache's counters of that process.
	const child = [
		"import { statSync } from 'node:fs';",
		"import { pathToFileURL } from 'node:url';",
		"import { cache, digest, fileCache, fleche } from 'fleche';",
		"import { fileDigestCounters } from 'fleche/inspect';",
		'const [mode, path, store] = process.argv.slice(2);',
		'const url = pathToFileURL(path);',
		'let out;',
		"if (mode === 'digest') out = { digest: digest(url) };",
		'else {',
		'\tlet ran = false;',
		"\tconst size = fleche((u) => ((ran = true), statSync(u).size), { name: 'size' });",
		'\tout = cache(fileCache(store), () => ({ size: size(url), ran }));',
		'}',
		'console.log(JSON.stringify({ ...out, ...fileDigestCounters() }));',
		'',
	].join('\n');
	const project = userProject({ 'child.mjs': child });

	interface Report {
		digest?: string;
		ran?: boolean;
		hashed: number;
		bytesHashed: number;
		statOnly: number;
	}

	async function inChild(indexDir: string, ...args: string[]): Promise<Report> {
		const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
		const r = await runNode(join(project, 'child.mjs'), args, { cwd: project, env: { ...inherited, FLECHE_INDEX_DIR: indexDir }, timeoutMs: 120_000 });
		assert.equal(r.code, 0, r.stderr);
		assert.equal(r.stderr, '', 'no warning');
		return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Report;
	}

	test('a 1 GiB file unchanged: the first process hashes it, a new process only stats it', async () => {
		const indexDir = freshDir();
		const path = sparseGig();
		const first = await inChild(indexDir, 'digest', path);
		assert.equal(first.hashed, 1);
		assert.equal(first.bytesHashed, 1 << 30);
		assert.ok(readdirSync(indexDir).includes('file-digests.json'), 'persisted beside inspect’s index');
		const second = await inChild(indexDir, 'digest', path);
		assert.equal(second.digest, first.digest);
		assert.deepEqual([second.hashed, second.bytesHashed, second.statOnly], [0, 0, 1], 'stat-only in a new process');
	});

	test('a cached call in a new process on an unchanged file hashes nothing; a changed file is hashed once', async () => {
		const indexDir = freshDir();
		const store = freshDir();
		const path = fileURLToPath(put(join(freshDir(), 'data.csv'), 'a,b\n1,2\n'));
		const miss = await inChild(indexDir, 'call', path, store);
		assert.equal(miss.ran, true);
		assert.equal(miss.hashed, 1, 'keyed and stored with one hash');
		const hit = await inChild(indexDir, 'call', path, store);
		assert.equal(hit.ran, false, 'a hit');
		assert.deepEqual([hit.hashed, hit.statOnly], [0, 1]);
		put(path, 'a,b\n1,3\n'); // the same size and an hour-old mtime: only the ctime and the bytes differ
		const changed = await inChild(indexDir, 'call', path, store);
		assert.equal(changed.ran, true, 'a miss');
		assert.equal(changed.hashed, 1);
	});

	test('a damaged persisted file is ignored (hashed again, no crash) and replaced by a good one; FLECHE_INDEX_DIR= keeps nothing', async () => {
		const indexDir = freshDir();
		const path = put(join(freshDir(), 'x.txt'), 'x');
		const file = join(indexDir, 'file-digests.json');
		await inChild(indexDir, 'digest', fileURLToPath(path));
		const good = JSON.parse(readFileSync(file, 'utf8')) as { format: string; entries: string[][] };
		assert.equal(good.format, 'fleche.file-digests/1');
		const entry = good.entries.find((e) => e[0] === fileURLToPath(path))!;
		const damaged = [
			'{"format":"fleche.file-digests/1","entries":[[',
			'not json at all',
			JSON.stringify({ format: 'fleche.file-digests/9', entries: good.entries }),
			JSON.stringify({ format: good.format, entries: [[...entry.slice(0, 7), 'f'.repeat(63)]] }),
			JSON.stringify({ format: good.format, entries: [[...entry.slice(0, 3), -1, ...entry.slice(4)]] }),
			JSON.stringify({ format: good.format, entries: [['relative/x.txt', ...entry.slice(1)]] }),
			JSON.stringify({ format: good.format, entries: { [entry[0]!]: entry } }),
			'null',
		];
		for (const text of damaged) {
			writeFileSync(file, text);
			const r = await inChild(indexDir, 'digest', fileURLToPath(path));
			assert.equal(r.hashed, 1, `ignored: ${text.slice(0, 40)}`);
		}
		const repaired = await inChild(indexDir, 'digest', fileURLToPath(path));
		assert.equal(repaired.hashed, 0, 'the last run wrote a good file again');
		await inChild('', 'digest', fileURLToPath(path));
		assert.equal((await inChild('', 'digest', fileURLToPath(path))).hashed, 1, 'nothing persisted: hashed again');
	});
});

/** Every path under `root` with its size and mtime: what a reader must leave as it found it. */
function snapshot(root: string): string[] {
	const out: string[] = [];
	const walk = (dir: string): void => {
		for (const name of readdirSync(dir)) {
			const p = join(dir, name);
			const st = statSync(p);
			out.push(`${relative(root, p)} ${st.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`);
			if (st.isDirectory()) walk(p);
		}
	};
	walk(root);
	return out.sort();
}

describe('showing stored file values writes nothing', () => {
	/** A file store holding one call: a 53-byte `data.txt` argument, a result folder `out/` of two files (3 + 4 bytes). */
	function seeded(): { root: string; key: string } {
		const { cache: store, root } = fileStore();
		using _ = cache(store);
		const dir = freshDir();
		const data = put(join(dir, 'in', 'data.txt'), 'x'.repeat(53));
		const render = fleche(
			(input: URL) => {
				const out = join(dir, 'out');
				put(join(out, 'a.txt'), 'AAA');
				put(join(out, 'sub', 'b.txt'), readFileSync(input, 'utf8').slice(0, 4));
				return { report: pathToFileURL(out + '/'), count: 2 };
			},
			{ name: 'render' },
		);
		render(data);
		flushStats(); // the writer's statistics, written now rather than while the reader is watched
		return { root, key: render.fleche.digest(data) };
	}

	test('fleche/inspect shows a file as its name and size, a folder as its name, file count and size', () => {
		const { root, key } = seeded();
		const before = snapshot(root);
		const store = openStore(root);
		try {
			const detail = store.call(key);
			const input = detail.arguments['input'];
			assert.ok(detail.result.ok);
			const report = (detail.result.value as { report: unknown }).report;
			assert.deepEqual({ ...(input as object) }, { kind: 'file', name: 'data.txt', size: 53 });
			assert.deepEqual({ ...(report as object) }, { kind: 'directory', name: 'out', size: 7, files: 2 });
			assert.deepEqual(JSON.parse(JSON.stringify(detail.result.value)), { report: { kind: 'directory', name: 'out', size: 7, files: 2 }, count: 2 });
			assert.deepEqual(structuredClone(input), { kind: 'file', name: 'data.txt', size: 53 }, 'what the editor receives from its store worker');
			assert.equal(inspect(input), 'data.txt (53 B)');
			assert.equal(inspect(report), 'out/ (2 files, 7 B)');
			const [summary] = store.calls({ name: 'render', module: detail.module }).calls;
			assert.equal(summary!.argsText, 'input=data.txt (53 B)');
		} finally {
			store.close();
		}
		assert.deepEqual(snapshot(root), before, 'the store is left as it was');
	});

	test('fleche ls and show (human and --json) create no file anywhere, the temp folder included', async () => {
		const { root, key } = seeded();
		const tmp = freshDir('fleche-emptytmp-');
		const before = snapshot(root);
		const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
		// FLECHE_INDEX_DIR empty: inspect's summary index stays in memory, so the child has nowhere it may write.
		const env = { ...inherited, TMPDIR: tmp, TMP: tmp, TEMP: tmp, FLECHE_INDEX_DIR: '' };
		const cli = async (...args: string[]): Promise<string> => {
			const r = await runNode(join(runtimeDir, 'bin', 'fleche.mjs'), ['--root', root, ...args], { env, cwd: tmp });
			assert.equal(r.code, 0, r.stderr);
			return r.stdout;
		};
		const listing = await cli('ls', 'render');
		assert.match(listing, /input=data\.txt \(53 B\)/);
		const shown = await cli('show', key.slice(0, 12));
		assert.match(shown, /input = data\.txt \(53 B\)/);
		assert.match(shown, /result: +\{ report: out\/ \(2 files, 7 B\), count: 2 \}/);
		const json = (await cli('show', key, '--json')).split('\n').find((l) => l.includes('"type":"call"'))!;
		const call = (JSON.parse(json) as { call: { arguments: unknown; result: unknown } }).call;
		assert.deepEqual(call.arguments, { input: { kind: 'file', name: 'data.txt', size: 53 } });
		assert.deepEqual(call.result, { ok: true, value: { report: { kind: 'directory', name: 'out', size: 7, files: 2 }, count: 2 } });
		const calls = (await cli('ls', 'render', '--json')).split('\n').find((l) => l.includes('"type":"calls"'))!;
		assert.match(calls, /"argsText":"input=data\.txt \(53 B\)"/);
		assert.deepEqual(readdirSync(tmp), [], 'nothing materialised in the temp folder');
		assert.deepEqual(snapshot(root), before, 'nor in the store');
	});
});
