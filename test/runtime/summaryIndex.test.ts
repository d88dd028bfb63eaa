// docs/behaviour.md §12: the file store's summary index (runtime/src/storage/file/summaryIndex.ts) on its own — what
// it persists in FLECHE_INDEX_DIR (the summary and its per-function shards, their checksums and checks), when it
// trusts them instead of the calls folder, how it is kept current (listing, stamps, watch events, statistics
// journals), its counts, order and pages, and what it never writes. The inspect tests (inspect, inspectPaging,
// fileKind, fileArgs) reach it through whole stores and other processes; here every rule is held to its edges with
// real files, and every persisted file is read as untrusted input: a damaged, foreign or cut-short one must be
// ignored (the folder is the truth again), never believed.
import { describe, it as test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
	appendFileSync,
	chmodSync,
	existsSync,
	mkdirSync,
	readdirSync,
	readFileSync,
	renameSync,
	rmSync,
	statSync,
	symlinkSync,
	utimesSync,
	watch,
	writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CallRecord } from '../../runtime/src/call.ts';
import { recordKey } from '../../runtime/src/key.ts';
import { resetLogger, setLogger } from '../../runtime/src/log.ts';
import type { CallStats } from '../../runtime/src/storage/base.ts';
import { CallFile } from '../../runtime/src/storage/file/calls.ts';
import { FileIndex, indexFolder } from '../../runtime/src/storage/file/summaryIndex.ts';
import { tmpDir } from '../support/tmp.ts';
import { waitFor } from '../support/poll.ts';

const FORMAT = 'fleche.inspect-index/3';
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const hex = (label: string): string => sha(label);

// Damaged call files are reported through the logger: kept out of the test output.
const logged: string[] = [];
setLogger((r) => logged.push(r.code), 'warn');
process.on('exit', () => resetLogger());

type Version = string | number | null;

/**
 * Under a mutation run (Stryker names the active mutant in the environment), the first failure skips the tests after
 * it: one failure kills the mutant, and the rest of the file would only cost time, over a thousand times. Elsewhere
 * every test runs.
 */
const mutant = process.env['__STRYKER_ACTIVE_MUTANT__'] !== undefined;
let failed = false;
function it(name: string, fn: (t: TestContext) => void | Promise<void>): void {
	test(name, async (t) => {
		if (failed) return t.skip('a mutation run stops at the first failure');
		try {
			await fn(t);
		} catch (err) {
			failed = mutant;
			throw err;
		}
	});
}

/** A valid call record of `name` for argument `x` (its key computed from its fields), created at `created` seconds. */
function rec(name: string, x: number | string, opts: { module?: string | null; version?: Version; created?: number } = {}): CallRecord {
	const identity = {
		name,
		module: opts.module === undefined ? 'src/m.ts' : opts.module,
		version: opts.version === undefined ? 1 : opts.version,
		codeDigest: null,
		arguments: { x: hex(`arg ${String(x)}`) },
	};
	return {
		key: recordKey(identity),
		...identity,
		result: hex(`result ${String(x)}`),
		metadata: opts.created === undefined ? {} : { runtime: { timestop: opts.created } },
	};
}

const stats = (r: CallRecord, hits: number, misses: number, lastHit: number | null = null, computeSeconds = 0, savedSeconds = 0): CallStats => ({
	key: r.key,
	name: r.name,
	module: r.module,
	hits,
	misses,
	lastHit,
	computeSeconds,
	savedSeconds,
});

interface Fixture {
	readonly calls: CallFile;
	readonly root: string;
	readonly indexDir: string;
	/** The index's folder for this store: `<indexDir>/<first 32 hex of SHA-256 of the calls folder>`. */
	readonly folder: string;
	readonly summary: string;
	/** A new FileIndex over the store, persisting under `indexDir` (or `dir`: '' keeps it in memory). */
	open(dir?: string): FileIndex;
	/** Sets the calls folder's mtime to a fixed second a minute ago (plus `shift` seconds): old enough to be trusted, the same every time. */
	pin(shift?: number): void;
}

const opened: FileIndex[] = [];

/** A call store and an index folder of its own (removed when the file ends, after every index is closed). */
function fixture(): Fixture {
	const calls = new CallFile({ root: join(tmpDir(), 'calls'), inlineValues: 0 });
	mkdirSync(calls.root, { recursive: true });
	const indexDir = tmpDir();
	const folder = join(indexDir, sha(calls.root).slice(0, 32));
	const pinned = Math.floor(Date.now() / 1000) - 60;
	return {
		calls,
		root: calls.root,
		indexDir,
		folder,
		summary: join(folder, 'summary.json'),
		open(dir = indexDir) {
			const before = process.env['FLECHE_INDEX_DIR'];
			process.env['FLECHE_INDEX_DIR'] = dir;
			try {
				const ix = new FileIndex(calls);
				opened.push(ix);
				return ix;
			} finally {
				if (before === undefined) delete process.env['FLECHE_INDEX_DIR'];
				else process.env['FLECHE_INDEX_DIR'] = before;
			}
		},
		pin(shift = 0) {
			utimesSync(calls.root, pinned + shift, pinned + shift);
		},
	};
}

// Indexes left open by a failing test would keep timers; every test closes its own, this is the backstop.
process.on('beforeExit', () => {
	for (const ix of opened.splice(0)) ix.close();
});

/** Runs `fn` on a fresh index of `fx`, then closes it. */
function once<T>(fx: Fixture, fn: (ix: FileIndex) => T, dir?: string): T {
	const ix = fx.open(dir);
	try {
		return fn(ix);
	} finally {
		ix.close();
	}
}

interface SummaryDoc {
	format: unknown;
	root: unknown;
	dir: unknown;
	stats: unknown;
	functions: unknown[][];
}

interface ShardDoc {
	format: unknown;
	root: unknown;
	module: unknown;
	name: unknown;
	calls: unknown[][];
	stats: unknown[][] | null;
}

/** The persisted summary's JSON body, its checksum line checked. */
function readBody(fx: Fixture): SummaryDoc {
	const text = readFileSync(fx.summary, 'utf8');
	const cut = text.indexOf('\n');
	assert.equal(cut, 64);
	assert.equal(text.slice(0, 64), sha(text.slice(65)), 'the first line is the SHA-256 of the rest');
	return JSON.parse(text.slice(65)) as SummaryDoc;
}

/** Stands for a number JSON.stringify cannot write: written as `1e999`, which JSON.parse reads as Infinity. */
const INF = '__infinite__';

/** Writes `doc` as the summary, with a correct checksum line. */
function writeBody(fx: Fixture, doc: unknown): void {
	const body = JSON.stringify(doc).replaceAll(`"${INF}"`, '1e999');
	writeFileSync(fx.summary, `${sha(body)}\n${body}`);
}

const row = (doc: SummaryDoc, name: string): unknown[] => doc.functions.find((f) => f[1] === name)!;

function readShard(fx: Fixture, shard: string): ShardDoc {
	const text = readFileSync(join(fx.folder, `${shard}.json`), 'utf8');
	assert.equal(sha(text).slice(0, 32), shard, 'a shard is named by the first 32 hex of the SHA-256 of its text');
	return JSON.parse(text) as ShardDoc;
}

/** Writes `doc` as a shard under its own name; the name. */
function writeShard(fx: Fixture, doc: unknown): string {
	const text = JSON.stringify(doc);
	const name = sha(text).slice(0, 32);
	writeFileSync(join(fx.folder, `${name}.json`), text);
	return name;
}

/** A store whose persisted summary says 41 hits for `a` where its statistics hold 1: what a reader shows tells which it believed. */
function plantedSum(): { fx: Fixture; a1: CallRecord } {
	const fx = fixture();
	const a1 = rec('a', 1);
	fx.calls.put(a1);
	fx.calls.addStats([stats(a1, 1, 1)]);
	fx.pin();
	once(fx, (ix) => ix.functions());
	const doc = readBody(fx);
	row(doc, 'a')[6] = 41;
	writeBody(fx, doc);
	return { fx, a1 };
}

const fnA = { module: 'src/m.ts', name: 'a' };
const fnB = { module: 'src/m.ts', name: 'b' };
const keysOf = (ix: FileIndex, fn = fnA): string[] => ix.page(fn, 0, 1000).entries.map((e) => e.key);

/**
 * A store whose persisted index went stale on purpose: `a` had three calls and `b` one when the index was persisted
 * for the pinned folder mtime; then `a`'s call `gone` was removed and the mtime pinned again. An index that trusts
 * the persisted files still has `gone`; one that ignores them lists the folder and does not.
 */
function stale(): { fx: Fixture; a: CallRecord[]; b: CallRecord; gone: string; good: string } {
	const fx = fixture();
	const a = [rec('a', 1, { created: 100 }), rec('a', 2, { created: 300 }), rec('a', 3, { created: 200 })];
	const b = rec('b', 1, { version: 'v2', created: 50 });
	for (const r of [...a, b]) fx.calls.put(r);
	// Whole seconds, so a file's stamp can be set back exactly after it is changed in place.
	for (const [i, r] of [...a, b].entries()) utimesSync(join(fx.root, r.key), 1_000_000 + i, 1_000_000 + i);
	fx.pin();
	once(fx, (ix) => {
		assert.equal(ix.functions().length, 2);
		assert.equal(ix.persisted, 1);
	});
	const gone = a[0]!.key;
	fx.calls.evict(gone);
	fx.pin();
	return { fx, a, b, gone, good: readFileSync(fx.summary, 'utf8') };
}

/** Whether a fresh index trusted the persisted summary: it lists `a` with the three calls the summary counts (reads no shard). */
const trusted = (fx: Fixture): boolean => once(fx, (ix) => ix.functions().find((f) => f.name === 'a')?.calls === 3);

/** Whether a fresh index trusted the persisted shards too: it still has the call removed behind its back. */
const shardTrusted = (fx: Fixture, gone: string): boolean => once(fx, (ix) => ix.has(gone));

describe('the summary index of a file store', () => {
	describe('what is persisted', () => {
		it('a summary whose first line is the SHA-256 of a JSON body naming the format, the calls folder, its mtime and the statistics read', () => {
			const fx = fixture();
			const a1 = rec('a', 1, { created: 10 });
			const a2 = rec('a', 2, { version: 'x', created: 20 });
			const b1 = rec('b', 1, { module: null, version: null, created: 30 });
			for (const r of [a1, a2, b1]) fx.calls.put(r);
			fx.calls.addStats([stats(a1, 2, 1, 1000, 0.5, 1.5), stats(a2, 1, 1, 900, 0.25, 0.75), stats(rec('a', 9), 3, 1, 1200, 1, 2)]);
			fx.pin();
			const ix = fx.open();
			const fns = ix.functions().sort((x, y) => x.name.localeCompare(y.name));
			ix.close();
			assert.deepEqual(
				fns.map((f) => [f.module, f.name, f.calls, [...f.versions].map(String).sort(), f.hits, f.misses, f.lastHit, f.computeSeconds, f.savedSeconds]),
				[
					['src/m.ts', 'a', 2, ['1', 'x'], 6, 3, 1200, 1.75, 4.25],
					[null, 'b', 1, ['null'], 0, 0, null, 0, 0],
				],
			);
			const doc = readBody(fx);
			assert.equal(doc.format, FORMAT);
			assert.equal(doc.root, fx.root);
			assert.equal(doc.dir, String(statSync(fx.root, { bigint: true }).mtimeNs), 'the folder mtime it is current for, in nanoseconds');
			const st = doc.stats as { all: string; snapshot: string; merged: string[]; journals: [string, number, number][] };
			assert.equal(typeof st.all, 'string');
			assert.ok(st.all.length > 0);
			assert.equal(st.snapshot, '');
			assert.deepEqual(st.merged, []);
			assert.equal(st.journals.length, 1);
			const journal = readdirSync(join(fx.root, '.stats'))[0]!;
			assert.deepEqual(st.journals[0], [journal, statSync(join(fx.root, '.stats', journal)).ino, statSync(join(fx.root, '.stats', journal)).size]);
			const ra = row(doc, 'a');
			assert.deepEqual(ra.slice(0, 3), ['src/m.ts', 'a', 2]);
			assert.deepEqual((ra[3] as Version[]).map(String).sort(), ['1', 'x']);
			assert.match(ra[4] as string, /^[0-9a-f]{32}$/);
			assert.deepEqual(ra.slice(5), [3, 6, 3, 1200, 1.75, 4.25, true]);
			const rb = row(doc, 'b');
			assert.deepEqual(rb.slice(0, 4), [null, 'b', 1, [null]]);
			assert.deepEqual(rb.slice(5), [0, 0, 0, null, 0, 0, true]);
			// The shard of `a`: its calls with their files' stamps, and its keys' statistics (the evicted key's too).
			const shard = readShard(fx, ra[4] as string);
			assert.equal(shard.format, FORMAT);
			assert.equal(shard.root, fx.root);
			assert.equal(shard.module, 'src/m.ts');
			assert.equal(shard.name, 'a');
			const stamp = (r: CallRecord): [number, number, number] => {
				const s = statSync(join(fx.root, r.key));
				return [s.ino, s.size, s.mtimeMs];
			};
			assert.deepEqual(
				[...shard.calls].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
				[
					[a1.key, 1, ...stamp(a1), 10],
					[a2.key, 'x', ...stamp(a2), 20],
				].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
			);
			assert.deepEqual(
				[...shard.stats!].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
				[
					[a1.key, 2, 1, 1000, 0.5, 1.5],
					[a2.key, 1, 1, 900, 0.25, 0.75],
					[rec('a', 9).key, 3, 1, 1200, 1, 2],
				].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
			);
			const sb = readShard(fx, rb[4] as string);
			assert.equal(sb.module, null);
			assert.deepEqual(sb.calls, [[b1.key, null, ...stamp(b1), 30]]);
			assert.deepEqual(sb.stats, []);
			// Only the summary and shards in the folder: no temporary left behind.
			assert.ok(readdirSync(fx.folder).every((n) => n === 'summary.json' || /^[0-9a-f]{32}\.json$/.test(n)));
		});

		it('a folder mtime within the racy moment is not claimed (dir null); an old one is', () => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			// Just written: the mtime is now, and a change within the same clock tick could hide behind it.
			once(fx, (ix) => ix.refresh());
			assert.equal(readBody(fx).dir, null);
			fx.pin();
			once(fx, (ix) => {
				ix.refresh();
				assert.equal(ix.persisted, 1, 'persisted again only to claim the now-trusted mtime');
			});
			assert.equal(readBody(fx).dir, String(statSync(fx.root, { bigint: true }).mtimeNs));
			// Unchanged since: a third open is served from the summary and persists nothing.
			once(fx, (ix) => {
				ix.refresh();
				assert.equal(ix.persisted, 0);
			});
		});

		it('calls without a creation time in their record take their file mtime; a call of another module is another function', () => {
			const fx = fixture();
			const plain = rec('a', 1);
			const other = rec('a', 2, { module: 'src/other.ts', created: 5 });
			fx.calls.put(plain);
			fx.calls.put(other);
			const mtime = statSync(join(fx.root, plain.key)).mtimeMs;
			once(fx, (ix) => {
				assert.deepEqual(
					ix.page(fnA, 0, 10).entries.map((e) => [e.key, e.created, e.version, e.module, e.name]),
					[[plain.key, mtime / 1000, 1, 'src/m.ts', 'a']],
				);
				assert.deepEqual(
					ix.page({ module: 'src/other.ts', name: 'a' }, 0, 10).entries.map((e) => e.key),
					[other.key],
				);
				assert.equal(ix.functions().length, 2);
			});
		});

		it('shards no summary names are swept once five minutes old, and old temporaries; anything else in the folder is left', () => {
			const { fx } = stale();
			const named = new Set(readBody(fx).functions.map((f) => `${f[4] as string}.json`));
			const old = Date.now() / 1000 - 6 * 60;
			const young = Date.now() / 1000 - 4 * 60;
			const oldShard = `${'a'.repeat(32)}.json`;
			const youngShard = `${'b'.repeat(32)}.json`;
			const oldTemp = '.0123-abc.tmp';
			const youngTemp = '.4567-def.tmp';
			const foreign = [
				'notes.txt',
				`${'c'.repeat(31)}.json`,
				`${'D'.repeat(32)}.json`,
				`${'e'.repeat(32)}.json.bak`,
				'x.tmp',
				`keep-${'f'.repeat(32)}.json`,
				'a.b.tmp',
			];
			for (const name of [oldShard, youngShard, oldTemp, youngTemp, ...foreign]) {
				writeFileSync(join(fx.folder, name), '{}');
				const t = name === youngShard || name === youngTemp ? young : old;
				utimesSync(join(fx.folder, name), t, t);
			}
			for (const name of named) utimesSync(join(fx.folder, name), old, old);
			// A new index over the changed folder persists (the call removed), then sweeps.
			fx.calls.put(rec('a', 4));
			once(fx, (ix) => ix.refresh());
			const left = new Set(readdirSync(fx.folder));
			assert.ok(!left.has(oldShard), 'an old unnamed shard is removed');
			assert.ok(!left.has(oldTemp), 'an old temporary is removed');
			assert.ok(left.has(youngShard) && left.has(youngTemp), 'young ones are kept: a reader may be about to load them');
			for (const name of foreign) assert.ok(left.has(name), `${name} is not the index's to remove`);
			const now = readBody(fx).functions.map((f) => `${f[4] as string}.json`);
			for (const name of now) assert.ok(left.has(name), 'the shards the new summary names are kept');
			assert.ok(left.has('summary.json'));
			// `b` did not change: its shard is the old one, named still, kept though old.
			const bShard = `${row(readBody(fx), 'b')[4] as string}.json`;
			assert.ok(named.has(bShard) && left.has(bShard));
		});

		it('the index file of the previous format (<id>.json beside the folder) is removed when the index is persisted', () => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			const legacy = `${fx.folder}.json`;
			writeFileSync(legacy, '{"old":true}');
			once(fx, (ix) => ix.refresh());
			assert.ok(!existsSync(legacy));
			assert.ok(existsSync(fx.summary));
			// A function first seen by a refresh has its shard written with the summary.
			assert.equal(readShard(fx, row(readBody(fx), 'a')[4] as string).calls.length, 1);
		});

		it('FLECHE_INDEX_DIR empty keeps the index in memory: nothing is written anywhere, and it still lists', () => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			fx.calls.put(rec('b', 1));
			fx.pin();
			once(
				fx,
				(ix) => {
					assert.equal(ix.functions().length, 2);
					assert.equal(ix.page(fnA, 0, 10).total, 1);
					assert.equal(ix.persisted, 0);
				},
				'',
			);
			assert.deepEqual(readdirSync(fx.indexDir), []);
			assert.equal(indexFolder({ FLECHE_INDEX_DIR: '' }), null);
			assert.equal(indexFolder({ FLECHE_INDEX_DIR: fx.indexDir }), fx.indexDir);
		});

		it('an index folder that cannot be written only costs persisting: no throw, nothing counted as persisted', () => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			fx.pin();
			writeFileSync(fx.folder, 'a file where the folder would go');
			once(fx, (ix) => {
				assert.equal(ix.functions()[0]!.calls, 1);
				assert.equal(ix.persisted, 0);
			});
			assert.equal(readFileSync(fx.folder, 'utf8'), 'a file where the folder would go');
			assert.deepEqual(
				readdirSync(fx.indexDir).filter((n) => n.endsWith('.tmp')),
				[],
			);
		});

		it('a summary that cannot be written (a folder at its name) is not counted as persisted, and leaves no temporary', () => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			fx.calls.put(rec('a', 2));
			fx.pin();
			mkdirSync(fx.summary, { recursive: true });
			once(fx, (ix) => {
				assert.equal(ix.functions()[0]!.calls, 2);
				assert.equal(ix.persisted, 0, 'the summary could not be written');
			});
			assert.ok(statSync(fx.summary).isDirectory());
			assert.deepEqual(
				readdirSync(fx.folder).filter((n) => n.endsWith('.tmp')),
				[],
				'the failed temporary is removed',
			);
		});
	});

	describe('when the persisted files are trusted', () => {
		it('a summary for the folder mtime it finds is used without listing the folder; its shards give the calls', () => {
			const { fx, gone, a } = stale();
			const ix = fx.open();
			try {
				assert.equal(ix.functions().find((f) => f.name === 'a')!.calls, 3, 'the count the summary holds');
				assert.ok(ix.has(gone));
				assert.deepEqual(keysOf(ix), [a[1]!.key, a[2]!.key, gone], 'the calls its shard holds, newest first');
				assert.equal(ix.persisted, 0);
			} finally {
				ix.close();
			}
		});

		it('a changed folder mtime is listed: gone calls are dropped, new ones read, the rest kept', () => {
			const { fx, gone, a } = stale();
			const added = rec('a', 7, { created: 400 });
			fx.calls.put(added);
			const ix = fx.open();
			try {
				assert.ok(!ix.has(gone));
				assert.deepEqual(keysOf(ix), [added.key, a[1]!.key, a[2]!.key]);
				assert.equal(ix.functions().find((f) => f.name === 'a')!.calls, 3);
			} finally {
				ix.close();
			}
		});

		it('a file still listed is kept unchecked (the summary says so), and the first page of its function reads it again if replaced', () => {
			const { fx, a } = stale();
			// `a[1]` replaced by a record with a later creation time (same key), then a new call: the folder changed.
			const replaced = { ...a[1]!, metadata: { runtime: { timestop: 999 } } };
			fx.calls.put(replaced);
			fx.calls.put(rec('b', 2, { version: 'v2' }));
			const ix = fx.open();
			try {
				assert.equal(ix.functions().find((f) => f.name === 'a')!.calls, 2);
				ix.close();
				assert.equal(row(readBody(fx), 'a')[11], false, 'persisted as unchecked');
				const next = fx.open();
				const page = next.page(fnA, 0, 10).entries;
				assert.deepEqual(
					page.map((e) => [e.key, e.created]),
					[
						[a[1]!.key, 999],
						[a[2]!.key, 200],
					],
				);
				next.close();
				assert.equal(row(readBody(fx), 'a')[11], true, 'checked, and persisted as such when closed');
			} finally {
				ix.close();
			}
		});

		it('the first page of an unchecked function drops a call whose file is gone and keeps the unchanged ones unread', () => {
			const { fx, a } = stale();
			fx.calls.put(rec('b', 2, { version: 'v2' }));
			fx.pin(1);
			once(fx, (ix) => ix.refresh());
			assert.equal(row(readBody(fx), 'a')[11], false);
			// Both of `a`'s calls are unchecked now; one is removed, the other damaged in place without changing its stamp.
			fx.calls.evict(a[2]!.key);
			const keep = join(fx.root, a[1]!.key);
			const st = statSync(keep);
			writeFileSync(keep, 'x'.repeat(st.size));
			utimesSync(keep, st.mtimeMs / 1000, st.mtimeMs / 1000);
			fx.pin(1);
			logged.length = 0;
			// The folder mtime is the one the summary was persisted for: no listing. The page stats the files.
			once(fx, (ix) => {
				assert.deepEqual(
					ix.page(fnA, 0, 10).entries.map((e) => e.key),
					[a[1]!.key],
				);
				assert.equal(ix.page(fnA, 0, 10).total, 1);
				assert.equal(ix.functions().find((f) => f.name === 'a')!.calls, 1, 'the count follows what the page found');
			});
			assert.deepEqual(logged, [], 'the file with an unchanged stamp was not read');
		});

		it('the first page of an unchecked function reads again a file whose inode, size or mtime alone changed', () => {
			const { fx, a, b } = stale();
			const b2 = rec('b', 2, { version: 'v2', created: 40 });
			fx.calls.put(b2);
			fx.pin(1);
			once(fx, (ix) => ix.refresh());
			/** The bytes CallFile writes for `r` (written into a folder of their own). */
			const elsewhere = new CallFile({ root: join(tmpDir(), 'calls'), inlineValues: 0 });
			const bytesOf = (r: CallRecord): Buffer => (elsewhere.put(r), readFileSync(join(elsewhere.root, r.key)));
			const file = (r: CallRecord): string => join(fx.root, r.key);
			const mtime = (r: CallRecord): number => statSync(file(r)).mtimeMs / 1000;
			// A new inode only: replaced by a rename, same size, mtime set back.
			const m1 = mtime(a[1]!);
			fx.calls.put({ ...a[1]!, metadata: { runtime: { timestop: 301 } } });
			utimesSync(file(a[1]!), m1, m1);
			// A new size only: written in place, mtime set back.
			const m2 = mtime(a[2]!);
			writeFileSync(file(a[2]!), bytesOf({ ...a[2]!, metadata: { runtime: { timestop: 2000 } } }));
			utimesSync(file(a[2]!), m2, m2);
			// A new mtime only: written in place with as many bytes.
			writeFileSync(file(b), bytesOf({ ...b, metadata: { runtime: { timestop: 51 } } }));
			utimesSync(file(b), mtime(b) + 7, mtime(b) + 7);
			fx.pin(1);
			once(fx, (ix) => {
				assert.deepEqual(
					ix.page(fnA, 0, 10).entries.map((e) => [e.key, e.created]),
					[
						[a[2]!.key, 2000],
						[a[1]!.key, 301],
					],
				);
				assert.deepEqual(
					ix.page(fnB, 0, 10).entries.map((e) => [e.key, e.created]),
					[
						[b.key, 51],
						[b2.key, 40],
					],
				);
			});
		});

		it('every usable summary field is believed: counts, versions and statistics are listed as persisted', () => {
			const { fx, good } = stale();
			const doc = JSON.parse(good.slice(65)) as SummaryDoc;
			const ra = row(doc, 'a');
			ra[2] = 3;
			ra[3] = ['v9', 4, null];
			ra[6] = 11;
			ra[7] = 12;
			ra[8] = 13.5;
			ra[9] = 14.25;
			ra[10] = 15.75;
			writeBody(fx, doc);
			once(fx, (ix) => {
				const f = ix.functions().find((g) => g.name === 'a')!;
				assert.deepEqual(
					[f.calls, f.versions, f.hits, f.misses, f.lastHit, f.computeSeconds, f.savedSeconds],
					[3, ['v9', 4, null], 11, 12, 13.5, 14.25, 15.75],
				);
			});
		});
	});

	describe('damaged, foreign or cut-short persisted files are ignored, never trusted', () => {
		it('the summary re-signed as it was is trusted (the control for the cases below)', () => {
			const { fx, good } = stale();
			writeBody(fx, JSON.parse(good.slice(65)));
			assert.equal(trusted(fx), true);
		});

		it('a summary that fails its checksum line, or is not a regular file, or is not JSON', () => {
			const { fx, good } = stale();
			const body = good.slice(65);
			const cases: [string, string][] = [
				['cut short', good.slice(0, good.length - 5)],
				['a changed byte', good.replace('"a"', '"A"')],
				['no newline', good.replace('\n', ' ')],
				['a checksum line one short', `${good.slice(0, 63)}\n${body}`],
				['a checksum line one long', `${good.slice(0, 64)}0\n${body}`],
				['the checksum in capitals', `${good.slice(0, 64).toUpperCase()}\n${body}`],
				['the checksum of something else', `${sha('x')}\n${body}`],
				['empty', ''],
				['signed, but not JSON', `${sha('{ not json')}\n{ not json`],
			];
			for (const [what, text] of cases) {
				writeFileSync(fx.summary, text);
				assert.equal(trusted(fx), false, what);
				assert.notEqual(readFileSync(fx.summary, 'utf8'), text, `${what}: replaced by a sound summary`);
				readBody(fx);
			}
			rmSync(fx.summary);
			symlinkSync(join(fx.folder, 'elsewhere.json'), fx.summary);
			writeFileSync(join(fx.folder, 'elsewhere.json'), good);
			assert.equal(trusted(fx), true, 'a link to a sound summary is followed (the control)');
			rmSync(fx.summary);
			mkdirSync(fx.summary);
			assert.equal(trusted(fx), false, 'a folder at its name');
		});

		it('a summary of another format, another calls folder, or of the wrong shape at its top', () => {
			const { fx, good } = stale();
			const doc = JSON.parse(good.slice(65)) as SummaryDoc;
			const cases: [string, unknown][] = [
				['null', null],
				['a number', 7],
				['a string', 'summary'],
				['an array', [doc]],
				['another format', { ...doc, format: 'fleche.inspect-index/2' }],
				['no format', { ...doc, format: undefined }],
				['another calls folder', { ...doc, root: '/elsewhere/calls' }],
				['no calls folder', { ...doc, root: undefined }],
				['functions not a list', { ...doc, functions: {} }],
				['no functions', { ...doc, functions: undefined }],
				['dir a number', { ...doc, dir: Number(doc.dir) }],
				['no dir', { ...doc, dir: undefined }],
				['stats a string', { ...doc, stats: 'x' }],
				['stats missing', { ...doc, stats: undefined }],
				['stats.all missing', { ...doc, stats: { ...(doc.stats as object), all: undefined } }],
				['stats.all a number', { ...doc, stats: { ...(doc.stats as object), all: 1 } }],
				['stats.snapshot a number', { ...doc, stats: { ...(doc.stats as object), snapshot: 1 } }],
				['stats.merged not a list', { ...doc, stats: { ...(doc.stats as object), merged: 'x' } }],
				['stats.merged holding a number', { ...doc, stats: { ...(doc.stats as object), merged: ['a', 1] } }],
				['stats.journals not a list', { ...doc, stats: { ...(doc.stats as object), journals: {} } }],
				['a journal not a list', { ...doc, stats: { ...(doc.stats as object), journals: ['j'] } }],
				['a journal without a name', { ...doc, stats: { ...(doc.stats as object), journals: [[1, 2, 3]] } }],
				['a journal with a negative inode', { ...doc, stats: { ...(doc.stats as object), journals: [['j', -1, 3]] } }],
				['a journal with a text offset', { ...doc, stats: { ...(doc.stats as object), journals: [['j', 1, '3']] } }],
			];
			for (const [what, value] of cases) {
				writeBody(fx, value);
				assert.equal(trusted(fx), false, what);
			}
			// The controls: what the checks allow.
			writeBody(fx, { ...doc, stats: null });
			assert.equal(trusted(fx), true, 'stats null: statistics not known');
			writeBody(fx, { ...doc, stats: { ...(doc.stats as object), merged: ['m'], journals: [['j', 0, 0]] } });
			assert.equal(trusted(fx), true, 'a journal at inode and offset 0');
		});

		it('a summary with a function row of the wrong shape', () => {
			const { fx, good } = stale();
			const doc = JSON.parse(good.slice(65)) as SummaryDoc;
			const ra = row(doc, 'a');
			const rb = row(doc, 'b');
			const withA = (change: (r: unknown[]) => unknown): SummaryDoc => {
				const copy = [...ra];
				const out = change(copy);
				return { ...doc, functions: [(out as unknown[] | undefined) ?? copy, rb] };
			};
			const set = (i: number, v: unknown) => withA((r) => void (r[i] = v));
			const cases: [string, unknown][] = [
				['a row not a list', { ...doc, functions: [{ 0: 'src/m.ts' }, rb] }],
				['a row of 11', withA((r) => r.slice(0, 11))],
				['a row of 13', withA((r) => [...r, 0])],
				['checked not a boolean', set(11, 1)],
				['checked missing', set(11, null)],
				['module a number', set(0, 1)],
				['name null', { ...doc, functions: [ra, [rb[0], null, ...rb.slice(2)]] }],
				['name a number', { ...doc, functions: [ra, [rb[0], 7, ...rb.slice(2)]] }],
				['calls negative', set(2, -1)],
				['calls a text', set(2, '3')],
				['calls infinite', set(2, INF)],
				['hits infinite', set(6, INF)],
				['lastHit infinite', set(8, INF)],
				['versions not a list', set(3, 1)],
				['a version an object', set(3, [1, {}])],
				['a version infinite', set(3, [INF])],
				['a version a boolean', set(3, [true])],
				['shard a number', set(4, 1)],
				['shard in capitals', set(4, (ra[4] as string).toUpperCase())],
				['shard one short', set(4, (ra[4] as string).slice(1))],
				['shard one long', set(4, `${ra[4] as string}0`)],
				['shard with a prefix', set(4, `x${(ra[4] as string).slice(1)}`)],
				['statKeys negative', set(5, -1)],
				['statKeys a text', set(5, '0')],
				['hits negative', set(6, -1)],
				['misses negative', set(7, -1)],
				['lastHit negative', set(8, -1)],
				['lastHit a text', set(8, '1')],
				['computeSeconds negative', set(9, -0.5)],
				['savedSeconds negative', set(10, -0.5)],
				['hits a text', set(6, '1')],
				['misses a text', set(7, '1')],
				['computeSeconds a text', set(9, '1')],
				['savedSeconds a text', set(10, '1')],
				['calls with no shard', { ...doc, functions: [ra, [...rb.slice(0, 4), null, ...rb.slice(5)]] }],
				['statistics with no shard', { ...doc, functions: [ra, [...rb.slice(0, 2), 0, [], null, 1, ...rb.slice(6)]] }],
			];
			for (const [what, value] of cases) {
				writeBody(fx, value);
				assert.equal(trusted(fx), false, what);
			}
			// The controls: a row the checks allow (a function with neither calls nor statistics has no shard).
			writeBody(fx, { ...doc, functions: [ra, rb, [null, 'empty', 0, [], null, 0, 0, 0, null, 0, 0, false]] });
			assert.equal(trusted(fx), true, 'an empty function without a shard');
			writeBody(fx, set(8, 0));
			assert.equal(trusted(fx), true, 'lastHit 0');
		});

		it('a shard that fails its name, of another format, folder or function, or of the wrong shape', () => {
			const { fx, gone, good } = stale();
			const doc = JSON.parse(good.slice(65)) as SummaryDoc;
			const name = row(doc, 'a')[4] as string;
			const shardText = readFileSync(join(fx.folder, `${name}.json`), 'utf8');
			const shard = JSON.parse(shardText) as ShardDoc;
			/** The summary naming `s` as `a`'s shard. */
			const use = (s: unknown): void => {
				const ra = [...row(doc, 'a')];
				ra[4] = writeShard(fx, s);
				writeBody(fx, { ...doc, functions: [ra, row(doc, 'b')] });
			};
			const call = shard.calls.find((c) => c[0] !== gone)!;
			const calls = (change: (c: unknown[]) => unknown[]): unknown[][] => shard.calls.map((c) => (c === call ? change([...c]) : c));
			const setCall = (i: number, v: unknown) => ({ ...shard, calls: calls((c) => ((c[i] = v), c)) });
			const st = [rec('a', 1).key, 1, 2, 3, 4, 5];
			const setStat = (i: number, v: unknown) => ({ ...shard, stats: [st.map((x, j) => (j === i ? v : x))] });
			// `a` has no statistics in the summary: a shard with one key's must say so in its row.
			const useStats = (s: unknown): void => {
				const ra = [...row(doc, 'a')];
				ra[4] = writeShard(fx, s);
				ra[5] = 1;
				writeBody(fx, { ...doc, functions: [ra, row(doc, 'b')] });
			};
			useStats({ ...shard, stats: [st] });
			assert.equal(shardTrusted(fx, gone), true, 'the control: a shard with one key of statistics');
			use(shard);
			assert.equal(shardTrusted(fx, gone), true, 'the control: the same shard written again');
			use({ ...shard, stats: null });
			assert.equal(shardTrusted(fx, gone), true, 'the control: a shard whose statistics are not known');
			use(setCall(5, null));
			assert.equal(shardTrusted(fx, gone), true, 'the control: a call without creation time');
			const cases: [string, () => void][] = [
				['missing', () => rmSync(join(fx.folder, `${name}.json`))],
				['not its name', () => writeFileSync(join(fx.folder, `${name}.json`), `${shardText} `)],
				['cut short', () => writeFileSync(join(fx.folder, `${name}.json`), shardText.slice(0, 40))],
				['a folder', () => (rmSync(join(fx.folder, `${name}.json`)), mkdirSync(join(fx.folder, `${name}.json`)))],
				['not JSON', () => use('x') /* replaced below */],
				['null', () => use(null)],
				['a number', () => use(5)],
				['another format', () => use({ ...shard, format: 'fleche.inspect-index/2' })],
				['another folder', () => use({ ...shard, root: '/elsewhere/calls' })],
				['another module', () => use({ ...shard, module: 'src/n.ts' })],
				['module null', () => use({ ...shard, module: null })],
				['another name', () => use({ ...shard, name: 'b' })],
				['calls not a list', () => use({ ...shard, calls: {} })],
				['stats not a list', () => use({ ...shard, stats: {} })],
				['stats missing', () => use({ ...shard, stats: undefined })],
				['a call not a list', () => use({ ...shard, calls: calls(() => ({}) as unknown[]) })],
				['a call of 5', () => use({ ...shard, calls: calls((c) => c.slice(0, 5)) })],
				['a call of 7', () => use({ ...shard, calls: calls((c) => [...c, 0]) })],
				['a call key not a key', () => use(setCall(0, 'ab'))],
				['a call version an object', () => use(setCall(1, {}))],
				['a call ino a text', () => use(setCall(2, '1'))],
				['a call size a text', () => use(setCall(3, '1'))],
				['a call mtime a text', () => use(setCall(4, '1'))],
				['a call created a text', () => use(setCall(5, '1'))],
				['a stat not a list', () => useStats({ ...shard, stats: [{}] })],
				['a stat of 5', () => useStats({ ...shard, stats: [st.slice(0, 5)] })],
				['a stat of 7', () => useStats({ ...shard, stats: [[...st, 0]] })],
				['a stat key not a key', () => useStats(setStat(0, 'ab'))],
				['a stat hits negative', () => useStats(setStat(1, -1))],
				['a stat misses negative', () => useStats(setStat(2, -1))],
				['a stat lastHit negative', () => useStats(setStat(3, -1))],
				['a stat lastHit a text', () => useStats(setStat(3, '1'))],
				['a stat computeSeconds negative', () => useStats(setStat(4, -1))],
				['a stat savedSeconds negative', () => useStats(setStat(5, -1))],
				['more calls than the summary counts', () => use({ ...shard, calls: [...shard.calls, [rec('a', 50).key, 1, 1, 1, 1, null]] })],
				['fewer calls than the summary counts', () => use({ ...shard, calls: shard.calls.slice(1) })],
				['more statistics than the summary counts', () => use({ ...shard, stats: [st] })],
			];
			for (const [what, damage] of cases) {
				writeFileSync(fx.summary, good);
				rmSync(join(fx.folder, `${name}.json`), { recursive: true, force: true });
				writeFileSync(join(fx.folder, `${name}.json`), shardText);
				damage();
				if (what === 'not JSON') {
					const text = '{ not json';
					const bad = sha(text).slice(0, 32);
					writeFileSync(join(fx.folder, `${bad}.json`), text);
					const ra = [...row(doc, 'a')];
					ra[4] = bad;
					writeBody(fx, { ...doc, functions: [ra, row(doc, 'b')] });
				}
				assert.equal(shardTrusted(fx, gone), false, what);
			}
		});

		it('an unusable shard found while paging rebuilds from the folder, the other functions included', () => {
			const { fx, gone, b } = stale();
			const name = row(readBody(fx), 'a')[4] as string;
			rmSync(join(fx.folder, `${name}.json`));
			// `b`'s shard is sound, but the folder is the truth again for everything: `b` gained a call meanwhile.
			const b2 = rec('b', 2, { version: 'v2', created: 60 });
			fx.calls.put(b2);
			fx.pin();
			once(fx, (ix) => {
				assert.deepEqual(
					ix.page(fnB, 0, 10).entries.map((e) => e.key),
					[b.key],
					'b served from its shard',
				);
				assert.ok(!keysOf(ix).includes(gone));
				assert.deepEqual(
					ix.page(fnB, 0, 10).entries.map((e) => e.key),
					[b2.key, b.key],
					'the rebuild listed the folder',
				);
			});
		});
	});

	describe('kept current while open', () => {
		it('calls written, replaced and removed are seen while open, and generation moves only when something changed', async () => {
			const fx = fixture();
			const a1 = rec('a', 1, { created: 1 });
			fx.calls.put(a1);
			fx.pin();
			const ix = fx.open();
			try {
				assert.deepEqual(keysOf(ix), [a1.key]);
				const g0 = ix.generation;
				ix.refresh();
				assert.equal(ix.generation, g0, 'nothing changed');
				// A new file changes the folder mtime: the next refresh lists it, events or not.
				const a2 = rec('a', 2, { created: 2 });
				fx.calls.put(a2);
				fx.pin(1);
				assert.deepEqual(keysOf(ix), [a2.key, a1.key]);
				assert.ok(ix.generation > g0);
				// A file replaced (same key, a new creation time): seen from the watch events that name it.
				fx.calls.put({ ...a1, metadata: { runtime: { timestop: 3 } } });
				await waitFor('the replaced call read again', () => ix.page(fnA, 0, 10).entries[0]!.created === 3, 10_000);
				assert.deepEqual(
					ix.page(fnA, 0, 10).entries.map((e) => [e.key, e.created]),
					[
						[a1.key, 3],
						[a2.key, 2],
					],
				);
				const g1 = ix.generation;
				await new Promise((resolve) => setImmediate(resolve));
				ix.refresh();
				assert.equal(ix.generation, g1, 'events already applied change nothing more');
				// A removal seen before its events: the folder mtime changed, so the listing tells.
				const g2 = ix.generation;
				fx.calls.evict(a2.key);
				fx.pin(2);
				assert.ok(!ix.has(a2.key));
				assert.ok(ix.generation > g2, 'a removal is a change');
				assert.deepEqual(keysOf(ix), [a1.key]);
				assert.deepEqual([...ix.keys()], [a1.key]);
				assert.deepEqual(
					[...ix.entries()].map((e) => [e.key, e.created, e.name, e.module, e.version]),
					[[a1.key, 3, 'a', 'src/m.ts', 1]],
				);
				fx.calls.evict(a1.key);
				await waitFor('the last removal', () => ix.functions().length === 0, 10_000);
				assert.deepEqual(ix.page(fnA, 0, 10), { total: 0, entries: [] });
			} finally {
				ix.close();
			}
		});

		it('a new function written while open is found by name and listed', () => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			const ix = fx.open();
			try {
				assert.equal(ix.functions().length, 1);
				const c = rec('c', 1, { module: null });
				fx.calls.put(c);
				assert.deepEqual(
					ix.page({ module: null, name: 'c' }, 0, 5).entries.map((e) => e.key),
					[c.key],
				);
				assert.deepEqual(
					ix
						.functions()
						.map((f) => [f.name, f.calls, f.versions])
						.sort(),
					[
						['a', 1, [1]],
						['c', 1, [1]],
					],
				);
				fx.calls.put(rec('c', 2, { module: null, version: 'two' }));
				assert.deepEqual(ix.functions().find((f) => f.name === 'c')!.versions, [1, 'two']);
			} finally {
				ix.close();
			}
		});

		it('changes applied from watch events are persisted from a timer, and the summary then claims no folder mtime', async () => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			fx.pin();
			const ix = fx.open();
			try {
				ix.refresh();
				assert.equal(ix.persisted, 1);
				const a2 = rec('a', 2);
				fx.calls.put(a2);
				// Let the watcher's events for the write arrive, then refresh from them.
				await waitFor('the write applied', () => (ix.refresh(), ix.has(a2.key)), 10_000);
				await waitFor('the timer to persist', () => ix.persisted >= 2, 10_000);
				const doc = readBody(fx);
				assert.equal(row(doc, 'a')[2], 2);
				const shard = readShard(fx, row(doc, 'a')[4] as string);
				assert.ok(shard.calls.some((c) => c[0] === a2.key));
			} finally {
				ix.close();
			}
			// A fresh index takes the persisted state (it lists the folder only if the summary claims no mtime).
			once(fx, (ix2) => assert.equal(ix2.page(fnA, 0, 10).total, 2));
		});

		it('close() persists what changed since the last persist, claiming the folder mtime only when current for it', () => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			fx.pin();
			const ix = fx.open();
			ix.refresh();
			assert.equal(ix.persisted, 1);
			fx.calls.put(rec('a', 2));
			fx.pin(1);
			assert.equal(ix.page(fnA, 0, 10).total, 2);
			ix.close();
			assert.equal(ix.persisted, 2, 'closing persisted the pending change');
			assert.equal(row(readBody(fx), 'a')[2], 2);
			assert.equal(readBody(fx).dir, null, 'a change applied incrementally claims no folder mtime');
			ix.close();
			assert.equal(ix.persisted, 2, 'a second close persists nothing');
			// The next index lists the folder once and persists to claim its mtime; the one after has nothing to do.
			const next = fx.open();
			next.refresh();
			next.close();
			assert.equal(next.persisted, 1);
			assert.equal(readBody(fx).dir, String(statSync(fx.root, { bigint: true }).mtimeNs));
			const quiet = fx.open();
			quiet.refresh();
			quiet.close();
			assert.equal(quiet.persisted, 0);
		});

		it('a calls folder removed empties every function; one made again is listed again', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			fx.calls.addStats([stats(a1, 1, 1)]);
			const ix = fx.open();
			try {
				assert.equal(ix.functions()[0]!.calls, 1);
				const g = ix.generation;
				rmSync(fx.root, { recursive: true });
				ix.refresh();
				assert.ok(ix.generation > g);
				assert.deepEqual(ix.page(fnA, 0, 10), { total: 0, entries: [] });
				const g2 = ix.generation;
				ix.refresh();
				assert.equal(ix.generation, g2, 'still missing: nothing more changed');
				const a2 = rec('a', 2);
				fx.calls.put(a2);
				assert.deepEqual(keysOf(ix), [a2.key]);
			} finally {
				ix.close();
			}
		});

		it('a calls folder replaced by another (a new inode) is listed again, its watcher renewed', async () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			const ix = fx.open();
			try {
				assert.deepEqual(keysOf(ix), [a1.key]);
				const moved = `${fx.root}.old`;
				renameSync(fx.root, moved);
				const a2 = rec('a', 2);
				fx.calls.put(a2);
				assert.deepEqual(keysOf(ix), [a2.key]);
				// The new folder's changes are seen through the new watcher (or the listing): never missed.
				const a3 = rec('a', 3);
				fx.calls.put(a3);
				await waitFor('the new call', () => keysOf(ix).includes(a3.key), 10_000);
				// A call replaced in the new folder (same name: no listing shows it) is seen only through its events.
				fx.calls.put({ ...a2, metadata: { runtime: { timestop: 77 } } });
				await waitFor('the replaced call', () => ix.page(fnA, 0, 10).entries.some((e) => e.created === 77), 10_000);
				rmSync(moved, { recursive: true });
			} finally {
				ix.close();
			}
		});

		it('more watch events than the kernel queue is trusted with between two refreshes: the folder is listed again', async () => {
			const fx = fixture();
			const a1 = rec('a', 1, { created: 1 });
			fx.calls.put(a1);
			fx.pin();
			const ix = fx.open();
			// A watcher of the test's own on the same folder: when it has heard the last file, so has the index's.
			let heard = false;
			const mine = watch(fx.root, { persistent: false }, (_event, name) => (heard ||= name === 'last'));
			try {
				ix.refresh();
				assert.equal(row(readBody(fx), 'a')[11], true);
				fx.calls.put({ ...a1, metadata: { runtime: { timestop: 2 } } });
				for (let i = 0; i < 5000; i++) writeFileSync(join(fx.root, `n${i}`), '');
				writeFileSync(join(fx.root, 'last'), '');
				await waitFor('the events to be heard', () => heard, 10_000);
				// Too many to trust: listed and persisted at once, the calls still there kept unchecked (checked by a page).
				ix.refresh();
				assert.equal(ix.persisted, 2);
				assert.equal(row(readBody(fx), 'a')[11], false);
				assert.equal(ix.page(fnA, 0, 1).entries[0]!.created, 2);
			} finally {
				mine.close();
				ix.close();
			}
		});

		it('a few watch events are applied as they name the files: a replaced call is read again, nothing persisted until the timer', async () => {
			const fx = fixture();
			const a1 = rec('a', 1, { created: 1 });
			fx.calls.put(a1);
			const ix = fx.open();
			let heard = false;
			const mine = watch(fx.root, { persistent: false }, (_event, name) => (heard ||= name === 'last'));
			const a2 = rec('a', 2, { created: 5 });
			const b1 = rec('b', 1);
			fx.calls.put(a2);
			fx.calls.put(b1);
			fx.pin();
			try {
				ix.refresh();
				fx.calls.put({ ...a1, metadata: { runtime: { timestop: 2 } } });
				// A removal named by its event: the key is looked for in every function (`a` is not the last one).
				fx.calls.evict(a2.key);
				writeFileSync(join(fx.root, 'last'), '');
				await waitFor('the events to be heard', () => heard, 10_000);
				const g0 = ix.generation;
				ix.refresh();
				assert.ok(ix.generation > g0);
				assert.equal(ix.persisted, 1);
				assert.ok(!ix.has(a2.key));
				assert.deepEqual(
					ix.page(fnA, 0, 9).entries.map((e) => [e.key, e.created]),
					[[a1.key, 2]],
				);
				assert.equal(ix.functions().find((f) => f.name === 'a')!.calls, 1);
				// An event for a file whose stamp did not change (its mode): nothing changed.
				heard = false;
				const g = ix.generation;
				chmodSync(join(fx.root, b1.key), 0o600);
				writeFileSync(join(fx.root, 'last'), 'x');
				await waitFor('the events to be heard', () => heard, 10_000);
				ix.refresh();
				assert.equal(ix.generation, g);
			} finally {
				mine.close();
				ix.close();
			}
			assert.equal(row(readBody(fx), 'a')[11], true);
		});

		it('files that are not call keys (temporaries, the statistics folder, names of other lengths) are never calls', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			const ix = fx.open();
			try {
				assert.deepEqual([...ix.keys()], [a1.key]);
				writeFileSync(join(fx.root, `.${a1.key}.tmp`), 'x');
				writeFileSync(join(fx.root, a1.key.slice(1)), 'x');
				writeFileSync(join(fx.root, a1.key.toUpperCase()), 'x');
				fx.calls.addStats([stats(a1, 1, 0)]);
				assert.deepEqual([...ix.keys()], [a1.key]);
				assert.equal(ix.functions()[0]!.calls, 1);
			} finally {
				ix.close();
			}
			once(fx, (ix2) => assert.deepEqual([...ix2.keys()], [a1.key]));
		});
	});

	describe('statistics', () => {
		it('functions sum their keys, evicted ones included; a function with statistics only is listed with no calls', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			const a2 = rec('a', 2);
			const c1 = rec('c', 1);
			fx.calls.put(a1);
			fx.calls.put(a2);
			fx.calls.put(c1);
			fx.calls.addStats([stats(a1, 1, 1, 50, 2, 3), stats(a2, 2, 1, 40, 1, 1), stats(c1, 0, 1, null, 4, 0)]);
			fx.calls.evict(c1.key);
			fx.calls.evict(a2.key);
			once(fx, (ix) => {
				const fns = ix.functions().sort((x, y) => x.name.localeCompare(y.name));
				assert.deepEqual(
					fns.map((f) => [f.name, f.calls, f.versions, f.hits, f.misses, f.lastHit, f.computeSeconds, f.savedSeconds]),
					[
						['a', 1, [1], 3, 2, 50, 3, 4],
						['c', 0, [], 0, 1, null, 4, 0],
					],
				);
				const ks = ix.keyStats(fnA);
				assert.deepEqual([...ks.keys()].sort(), [a1.key, a2.key].sort());
				assert.equal(ks.get(a2.key)!.hits, 2);
				assert.deepEqual(ix.keyStats({ module: 'src/m.ts', name: 'nothing' }), new Map());
				assert.deepEqual(ix.page({ module: 'src/m.ts', name: 'c' }, 0, 10), { total: 0, entries: [] });
			});
			// Persisted: `c` has a shard (its statistics) and no calls, and is listed the same from the summary.
			const rc = row(readBody(fx), 'c');
			assert.deepEqual(rc.slice(2, 4), [0, []]);
			assert.equal(rc[5], 1);
			assert.match(rc[4] as string, /^[0-9a-f]{32}$/);
			once(fx, (ix) => {
				const c = ix.functions().find((f) => f.name === 'c')!;
				assert.deepEqual([c.calls, c.misses, c.computeSeconds], [0, 1, 4]);
				assert.equal(ix.keyStats({ module: 'src/m.ts', name: 'c' }).get(c1.key)!.misses, 1);
			});
		});

		it('lines appended since are added to the persisted sums; a new journal too; lastHit is the latest', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			fx.calls.addStats([stats(a1, 1, 1, 100, 1, 1)]);
			fx.pin();
			const ix = fx.open();
			const first = ix.functions()[0]!;
			assert.deepEqual([first.hits, first.misses, first.lastHit], [1, 1, 100]);
			fx.calls.addStats([stats(a1, 2, 0, 90, 0.5, 0.5)]);
			const second = ix.functions()[0]!;
			assert.deepEqual([second.hits, second.misses, second.lastHit, second.computeSeconds], [3, 1, 100, 1.5], 'an earlier lastHit keeps the later one');
			const other = new CallFile({ root: fx.root });
			other.addStats([stats(a1, 1, 0, 200, 0, 2)]);
			const third = ix.functions()[0]!;
			assert.deepEqual([third.hits, third.lastHit, third.savedSeconds], [4, 200, 3.5]);
			const g = ix.generation;
			ix.functions();
			assert.equal(ix.generation, g, 'nothing new: nothing read, nothing changed');
			assert.equal(ix.keyStats(fnA).get(a1.key)!.hits, 4);
			ix.close();
			// The state and sums persisted: a fresh index reads no line again (its sums match) and adds new ones.
			const doc = readBody(fx);
			assert.deepEqual(row(doc, 'a').slice(5, 11), [1, 4, 1, 200, 1.5, 3.5], 'one key with statistics, however many lines');
			assert.equal((doc.stats as { journals: unknown[] }).journals.length, 2);
			other.addStats([stats(a1, 5, 0)]);
			once(fx, (ix2) => {
				assert.equal(ix2.functions()[0]!.hits, 9);
				assert.equal(ix2.keyStats(fnA).get(a1.key)!.hits, 9);
			});
		});

		it('with the statistics folder unchanged, the persisted sums are believed as they are', () => {
			const { fx, a1 } = plantedSum();
			once(fx, (ix) => assert.equal(ix.functions()[0]!.hits, 41));
			// The statistics changed: still only the new lines are read, added to the persisted sum.
			fx.calls.addStats([stats(a1, 1, 0)]);
			once(fx, (ix) => assert.equal(ix.functions()[0]!.hits, 42));
		});

		it('a compaction that replaced the snapshot makes everything be read again', () => {
			const { fx, a1 } = plantedSum();
			// A snapshot written by hand in the statistics format: the stamp of the snapshot differs.
			writeFileSync(
				join(fx.root, '.stats', 'snapshot.json'),
				JSON.stringify({ format: 'fleche.stats/1', merged: [], stats: [[a1.key, a1.name, a1.module, 10, 0, null, 0, 0]] }),
			);
			once(fx, (ix) => assert.equal(ix.functions()[0]!.hits, 11, 'read in full: the persisted 41 is not trusted'));
		});

		it('statistics of a function whose shard is unusable: read again in full, never added to a stale sum', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			fx.calls.addStats([stats(a1, 1, 1)]);
			fx.pin();
			once(fx, (ix) => ix.functions());
			rmSync(join(fx.folder, `${row(readBody(fx), 'a')[4] as string}.json`));
			fx.calls.addStats([stats(a1, 1, 0)]);
			once(fx, (ix) => {
				const f = ix.functions()[0]!;
				assert.deepEqual([f.hits, f.misses, f.calls], [2, 1, 1]);
				assert.equal(ix.keyStats(fnA).get(a1.key)!.hits, 2);
			});
		});

		it('a new function known only from its statistics joins the listing', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			const ix = fx.open();
			try {
				assert.equal(ix.functions().length, 1);
				const d = rec('d', 1, { module: null });
				fx.calls.addStats([stats(d, 0, 3)]);
				const fns = ix.functions().sort((x, y) => x.name.localeCompare(y.name));
				assert.deepEqual(
					fns.map((f) => [f.name, f.calls, f.misses]),
					[
						['a', 1, 0],
						['d', 0, 3],
					],
				);
			} finally {
				ix.close();
			}
		});
	});

	describe('order and pages', () => {
		it('newest first, calls without a creation time last, ties by key; offset and limit cut the list', () => {
			const fx = fixture();
			const rs = [
				rec('a', 1, { created: 5 }),
				rec('a', 2, { created: 7 }),
				rec('a', 3, { created: 5 }),
				rec('a', 4, { created: 5 }),
				rec('a', 5, { created: 0 }),
				rec('a', 6, { created: -3 }),
			];
			for (const r of rs) fx.calls.put(r);
			// Two calls whose creation time is unknown everywhere: a shard entry with `created` null.
			const n1 = rec('a', 7);
			const n2 = rec('a', 8);
			fx.calls.put(n1);
			fx.calls.put(n2);
			fx.pin();
			once(fx, (ix) => ix.refresh());
			const doc = readBody(fx);
			const ra = row(doc, 'a');
			const shard = readShard(fx, ra[4] as string);
			const ra2 = [...ra];
			// The calls without a creation time first in the shard, so that sorting has to move them.
			const unknown = (c: unknown[]): boolean => c[0] === n1.key || c[0] === n2.key;
			ra2[4] = writeShard(fx, {
				...shard,
				// The rest in descending key order, so that ties by creation time have to be put in key order.
				calls: [
					...shard.calls.filter(unknown).map((c) => [...c.slice(0, 5), null]),
					...shard.calls.filter((c) => !unknown(c)).sort((x, y) => (String(x[0]) < String(y[0]) ? 1 : -1)),
				],
			});
			writeBody(fx, { ...doc, functions: [ra2] });
			const fives = [rs[0]!.key, rs[2]!.key, rs[3]!.key].sort();
			const nulls = [n1.key, n2.key].sort();
			const want = [rs[1]!.key, ...fives, rs[4]!.key, rs[5]!.key, ...nulls];
			once(fx, (ix) => {
				const all = ix.page(fnA, 0, 100);
				assert.equal(all.total, 8);
				assert.deepEqual(
					all.entries.map((e) => e.key),
					want,
				);
				assert.deepEqual(
					all.entries.slice(-2).map((e) => e.created),
					[null, null],
				);
				assert.deepEqual(
					ix.page(fnA, 2, 3).entries.map((e) => e.key),
					want.slice(2, 5),
				);
				assert.deepEqual(ix.page(fnA, 2, 3).total, 8);
				assert.deepEqual(
					ix.page(fnA, 7, 3).entries.map((e) => e.key),
					want.slice(7),
				);
				assert.deepEqual(ix.page(fnA, 8, 3).entries, []);
				assert.deepEqual(ix.page(fnA, 0, 0).entries, []);
			});
		});

		it('versions are the distinct versions of the calls, null and numbers and texts told apart', () => {
			const fx = fixture();
			for (const [i, v] of [
				[1, 1],
				[2, '1'],
				[3, null],
				[4, 1],
				[5, 'x'],
				[6, null],
			] as [number, Version][])
				fx.calls.put(rec('a', i, { version: v }));
			once(fx, (ix) => {
				const vs = ix.functions()[0]!.versions;
				assert.equal(vs.length, 4);
				assert.deepEqual([...vs].map((v) => JSON.stringify(v)).sort(), ['"1"', '"x"', '1', 'null']);
			});
			const persisted = row(readBody(fx), 'a')[3] as Version[];
			assert.deepEqual(persisted.map((v) => JSON.stringify(v)).sort(), ['"1"', '"x"', '1', 'null']);
		});

		// A query by name (CallFile.records({ name })) reads the keys of that name only: its own shards, not the store's.
		it('keysNamed: the keys of every function of that name, in any module; none for a name with no calls', () => {
			const fx = fixture();
			const a = [rec('a', 1), rec('a', 2, { module: 'src/other.ts' }), rec('a', 3, { module: null })];
			for (const r of [...a, rec('b', 1), rec('ab', 1)]) fx.calls.put(r);
			once(fx, (ix) => {
				assert.deepEqual(ix.keysNamed('a').sort(), a.map((r) => r.key).sort());
				assert.deepEqual(ix.keysNamed('c'), []);
			});
		});

		it('keysNamed reads the shards of that name only: an unusable shard of another function is never read', () => {
			const { fx, a, gone } = stale();
			writeFileSync(join(fx.folder, `${row(readBody(fx), 'b')[4] as string}.json`), 'x');
			once(fx, (ix) => {
				// Served from a's trusted shard (which still has the call removed behind its back): b's was never read, or
				// its damage would have rebuilt the index from the folder.
				assert.deepEqual(ix.keysNamed('a').sort(), a.map((r) => r.key).sort());
				assert.ok(ix.keysNamed('a').includes(gone));
			});
		});

		it('keysNamed with its own shard unusable: the index is rebuilt from the folder, and the keys are those on disk', () => {
			const { fx, a, b, gone } = stale();
			writeFileSync(join(fx.folder, `${row(readBody(fx), 'a')[4] as string}.json`), 'x');
			once(fx, (ix) => {
				const want = a.map((r) => r.key).filter((key) => key !== gone);
				assert.deepEqual(ix.keysNamed('a').sort(), want.sort());
				assert.deepEqual(ix.keysNamed('b'), [b.key]);
			});
		});
	});

	describe('what a reader never writes, and what it does not persist', () => {
		it('listing, paging and closing leave the calls folder byte-identical, its mtime included', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			fx.calls.put(rec('b', 1));
			fx.calls.addStats([stats(a1, 1, 1)]);
			fx.pin();
			const snap = (): string[] => {
				const out: string[] = [`. ${statSync(fx.root).mtimeMs}`];
				for (const name of readdirSync(fx.root, { recursive: true }) as string[]) {
					const p = join(fx.root, name);
					const st = statSync(p);
					out.push(`${name} ${st.mtimeMs} ${st.isFile() ? sha(readFileSync(p, 'latin1')) : 'dir'}`);
				}
				return out.sort();
			};
			const before = snap();
			for (let i = 0; i < 2; i++) {
				once(fx, (ix) => {
					ix.functions();
					ix.page(fnA, 0, 10);
					ix.keyStats(fnA);
					assert.equal([...ix.entries()].length, 2);
				});
			}
			assert.deepEqual(snap(), before);
		});

		it('anything but a regular file at a key name (a folder, a link) is no call, not read, and no reason not to persist', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			const linked = rec('a', 2);
			const elsewhere = new CallFile({ root: join(tmpDir(), 'calls'), inlineValues: 0 });
			elsewhere.put(linked);
			symlinkSync(join(elsewhere.root, linked.key), join(fx.root, linked.key));
			mkdirSync(join(fx.root, rec('a', 3).key));
			fx.pin();
			logged.length = 0;
			once(fx, (ix) => {
				assert.deepEqual([...ix.keys()], [a1.key]);
				assert.equal(ix.persisted, 1);
			});
			assert.deepEqual(logged, []);
			assert.equal(row(readBody(fx), 'a')[2], 1);
		});

		it('a reader that rejected a record never persists: its entries lack a call another reader may accept', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			const bad = rec('a', 2);
			writeFileSync(join(fx.root, bad.key), '{ damaged');
			fx.pin();
			logged.length = 0;
			once(fx, (ix) => {
				assert.deepEqual([...ix.keys()], [a1.key]);
				assert.equal(ix.functions()[0]!.calls, 1);
				fx.calls.put(rec('a', 3));
				ix.refresh();
				assert.equal(ix.persisted, 0);
			});
			assert.ok(logged.includes('FLECHE_CORRUPT_ENTRY'));
			assert.ok(!existsSync(fx.summary), 'nothing persisted');
			// A signed store's reader rejects unsigned records in the same way.
			const signed = new CallFile({ root: fx.root, secretKey: 'ab'.repeat(32) });
			rmSync(join(fx.root, bad.key));
			const before = process.env['FLECHE_INDEX_DIR'];
			process.env['FLECHE_INDEX_DIR'] = fx.indexDir;
			const ix = new FileIndex(signed);
			if (before === undefined) delete process.env['FLECHE_INDEX_DIR'];
			else process.env['FLECHE_INDEX_DIR'] = before;
			try {
				assert.deepEqual([...ix.keys()], []);
				assert.equal(ix.persisted, 0);
			} finally {
				ix.close();
			}
			assert.ok(!existsSync(fx.summary));
			// A reader that rejects nothing persists the same store's index.
			once(fx, (ix2) => {
				ix2.refresh();
				assert.equal(ix2.persisted, 1);
			});
		});
	});

	describe('rebuilds, the persist timer and the process', () => {
		/**
		 * Waits past the index's persist timer: it persists PERSIST_MS (1 s) after it was scheduled, and a timer of
		 * 1.5 s set after it is due later, so the event loop runs the index's first (an ordering, not a guess at load).
		 */
		const pastPersistTimer = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1500));
		/** An index persisted over call `a` 1, then call `a` 2 applied by a refresh: its persist left to the timer. */
		const pendingPersist = (): { fx: ReturnType<typeof fixture>; ix: ReturnType<ReturnType<typeof fixture>['open']> } => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			fx.pin();
			const ix = fx.open();
			ix.refresh();
			fx.calls.put(rec('a', 2));
			ix.refresh();
			return { fx, ix };
		};

		/** A watcher of the test's own on the calls folder: when it has heard `last`, so has the index's (one inotify watch). */
		function hearing(fx: Fixture): { heard: () => boolean; reset: () => void; close: () => void } {
			let heard = false;
			const mine = watch(fx.root, { persistent: false }, (_event, name) => (heard ||= name === 'last'));
			return { heard: () => heard, reset: () => (heard = false), close: () => mine.close() };
		}

		it('an index never closed keeps no process alive: a tool that forgets close() still exits', async () => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			const script = fileURLToPath(new URL('../fixtures/indexChild.js', import.meta.url));
			const child = spawn(process.execPath, [script, fx.root], {
				env: { ...process.env, FLECHE_INDEX_DIR: fx.indexDir },
				stdio: ['ignore', 'pipe', 'pipe'],
			});
			let out = '';
			let err = '';
			child.stdout.on('data', (d: Buffer) => (out += d.toString()));
			child.stderr.on('data', (d: Buffer) => (err += d.toString()));
			let exit: number | null | undefined;
			child.on('exit', (code) => (exit = code));
			try {
				await waitFor('the child to exit by itself (its index watching the folder, never closed)', () => exit !== undefined);
			} finally {
				if (exit === undefined) child.kill('SIGKILL');
			}
			assert.equal(exit, 0, err);
			assert.equal(out, '1\n', 'it listed the store, so its watcher was running');
		});

		it('an unusable shard met while applying events rebuilds from the folder, which stands for every event: the summary claims its mtime', async () => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			fx.calls.put(rec('b', 1));
			fx.pin();
			once(fx, (ix) => ix.functions());
			const ix = fx.open();
			const ear = hearing(fx);
			try {
				ix.refresh();
				assert.equal(ix.persisted, 0, 'served from the summary');
				// `a` changes first (its shard is sound), then `b`, whose shard is gone: the events name both, in that order.
				const a2 = rec('a', 2);
				const b2 = rec('b', 2);
				fx.calls.put(a2);
				fx.calls.put(b2);
				rmSync(join(fx.folder, `${row(readBody(fx), 'b')[4] as string}.json`));
				writeFileSync(join(fx.root, 'last'), '');
				fx.pin(1);
				await waitFor('the events to be heard', ear.heard, 10_000);
				ix.refresh();
				assert.equal(ix.persisted, 1, 'the rebuild persisted');
				assert.deepEqual([...ix.keys()].sort(), [rec('a', 1).key, a2.key, rec('b', 1).key, b2.key].sort());
			} finally {
				ear.close();
				ix.close();
			}
			// Nothing was left to persist after the rebuild: the summary it wrote stands, current for the folder's mtime.
			assert.equal(ix.persisted, 1);
			assert.equal(readBody(fx).dir, String(statSync(fx.root, { bigint: true }).mtimeNs));
		});

		it('a removal applied from its event alone is a change: generation moves, and the timer persists it', async () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			const a2 = rec('a', 2);
			fx.calls.put(a1);
			fx.calls.put(a2);
			fx.pin();
			const ix = fx.open();
			const ear = hearing(fx);
			try {
				ix.refresh();
				assert.equal(ix.persisted, 1);
				fx.calls.evict(a2.key);
				writeFileSync(join(fx.root, 'last'), '');
				await waitFor('the events to be heard', ear.heard, 10_000);
				const g = ix.generation;
				ix.refresh();
				assert.ok(ix.generation > g, 'a removal is a change');
				assert.deepEqual(keysOf(ix), [a1.key]);
				await waitFor('the timer to persist', () => ix.persisted >= 2, 10_000);
				assert.equal(row(readBody(fx), 'a')[2], 1);
			} finally {
				ear.close();
				ix.close();
			}
		});

		it('more watch events than trusted that changed nothing (files written in place): listed again, nothing persisted', async () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			// Files that exist before the index opens: writing into them later changes no folder mtime.
			for (let i = 0; i < 5000; i++) writeFileSync(join(fx.root, `n${i}`), '');
			writeFileSync(join(fx.root, 'last'), '');
			fx.pin();
			once(fx, (ix) => ix.functions());
			const ix = fx.open();
			const ear = hearing(fx);
			try {
				ix.refresh();
				assert.equal(ix.persisted, 0, 'served from the summary');
				for (let i = 0; i < 5000; i++) appendFileSync(join(fx.root, `n${i}`), 'x');
				appendFileSync(join(fx.root, 'last'), 'x');
				await waitFor('the events to be heard', ear.heard, 10_000);
				ix.refresh();
				assert.deepEqual([...ix.keys()], [a1.key]);
				assert.equal(ix.persisted, 0, 'the listing found what the summary says, for the mtime it claims');
			} finally {
				ear.close();
				ix.close();
			}
			assert.equal(ix.persisted, 0);
		});

		it('a function whose shard is unusable and whose calls are all gone is not listed', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			const b1 = rec('b', 1);
			fx.calls.put(a1);
			fx.calls.put(b1);
			fx.pin();
			once(fx, (ix) => ix.functions());
			fx.calls.evict(b1.key);
			rmSync(join(fx.folder, `${row(readBody(fx), 'b')[4] as string}.json`));
			fx.pin(1);
			once(fx, (ix) => {
				assert.deepEqual(
					ix.functions().map((f) => [f.name, f.calls]),
					[['a', 1]],
				);
				assert.deepEqual(ix.page(fnB, 0, 10), { total: 0, entries: [] });
			});
		});

		it('a function whose last call is gone, without statistics, leaves the persisted summary', () => {
			const fx = fixture();
			const b1 = rec('b', 1);
			fx.calls.put(rec('a', 1));
			fx.calls.put(b1);
			fx.pin();
			once(fx, (ix) => ix.functions());
			assert.deepEqual(
				readBody(fx)
					.functions.map((f) => f[1])
					.sort(),
				['a', 'b'],
			);
			fx.calls.evict(b1.key);
			fx.pin(1);
			once(fx, (ix) => {
				ix.refresh();
				assert.equal(ix.persisted, 1);
			});
			assert.deepEqual(
				readBody(fx).functions.map((f) => f[1]),
				['a'],
			);
		});

		const fnC = { module: 'src/m.ts', name: 'c' };

		it('a listing with every shard sound keeps the statistics read: new functions found by it too', () => {
			const { fx } = plantedSum();
			fx.calls.put(rec('a', 2));
			fx.calls.put(rec('c', 1));
			fx.pin(1);
			once(fx, (ix) => {
				const hits = (): number => ix.functions().find((f) => f.name === 'a')!.hits;
				assert.equal(hits(), 41, 'the statistics folder is unchanged: the persisted sums stand');
				assert.equal(ix.persisted, 1, 'the listing persisted');
				assert.deepEqual(
					ix
						.functions()
						.map((f) => [f.name, f.calls])
						.sort(),
					[
						['a', 2],
						['c', 1],
					],
				);
				// `c`, new, has statistics known (none): its keys' statistics need no shard and no rebuild.
				assert.deepEqual(ix.keyStats(fnC), new Map());
				assert.equal(hits(), 41);
				assert.equal(ix.persisted, 1);
			});
		});

		it('a page meeting an unusable shard rebuilds, and the statistics are then read again in full', () => {
			const { fx, a1 } = plantedSum();
			rmSync(join(fx.folder, `${row(readBody(fx), 'a')[4] as string}.json`));
			once(fx, (ix) => {
				assert.deepEqual(
					ix.page(fnA, 0, 10).entries.map((e) => e.key),
					[a1.key],
				);
				assert.equal(ix.functions()[0]!.hits, 1, 'the statistics of the shard lost are read again: the planted sum is not believed');
			});
			assert.equal(row(readBody(fx), 'a')[6], 1);
		});

		it('a new function applied from its events keeps the statistics read', async () => {
			const { fx } = plantedSum();
			const ix = fx.open();
			const ear = hearing(fx);
			try {
				assert.equal(ix.functions()[0]!.hits, 41);
				const c1 = rec('c', 1);
				fx.calls.put(c1);
				writeFileSync(join(fx.root, 'last'), '');
				await waitFor('the events to be heard', ear.heard, 10_000);
				ix.refresh();
				assert.deepEqual(keysOf(ix, fnC), [c1.key]);
				assert.equal(ix.functions().find((f) => f.name === 'a')!.hits, 41, 'no rebuild: the statistics read stand');
				assert.deepEqual(ix.keyStats(fnC), new Map());
				assert.equal(ix.persisted, 0);
			} finally {
				ear.close();
				ix.close();
			}
		});

		it('a journal rotated away (renamed) while the snapshot is the same is read again in full', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			const writer = new CallFile({ root: fx.root });
			writer.addStats([stats(a1, 2, 1)]);
			once(fx, (ix) => {
				assert.equal(ix.functions()[0]!.hits, 2);
				const dir = join(fx.root, '.stats');
				const journal = readdirSync(dir).find((n) => n.endsWith('.jsonl'))!;
				renameSync(join(dir, journal), join(dir, journal.replace(/\.jsonl$/, '.1.closed.jsonl')));
				const f = ix.functions()[0]!;
				assert.deepEqual([f.hits, f.misses], [2, 1]);
			});
		});

		it('journals a compaction merged but has not deleted yet are never counted again after a full read', () => {
			const fx = fixture();
			const a1 = rec('a', 1);
			fx.calls.put(a1);
			const writer = new CallFile({ root: fx.root });
			writer.addStats([stats(a1, 2, 0)]);
			const dir = join(fx.root, '.stats');
			const merged = readdirSync(dir).find((n) => n.endsWith('.jsonl'))!;
			// The snapshot names the journal it merged; the crash came before the journal was deleted.
			writeFileSync(
				join(dir, 'snapshot.json'),
				JSON.stringify({ format: 'fleche.stats/1', merged: [merged], stats: [[a1.key, a1.name, a1.module, 2, 0, null, 0, 0]] }),
			);
			const ix = fx.open();
			try {
				assert.equal(ix.functions()[0]!.hits, 2, 'read in full: the merged journal is in the snapshot only');
				fx.calls.addStats([stats(a1, 1, 0)]);
				assert.equal(ix.functions()[0]!.hits, 3, 'the appended line alone is added');
			} finally {
				ix.close();
			}
			assert.deepEqual((readBody(fx).stats as { merged: string[] }).merged, [merged]);
		});

		it('a timer whose refresh applied more changes leaves the persisting to the next one: one persist, with them all, for the later mtime', async () => {
			const fx = fixture();
			fx.calls.put(rec('a', 1));
			fx.pin();
			const ix = fx.open();
			try {
				ix.refresh();
				assert.equal(ix.persisted, 1);
				fx.calls.put(rec('a', 2));
				ix.refresh();
				// Written before the timer runs: its refresh applies it, and schedules the next persist, which claims the
				// folder mtime of that refresh (trusted by then: a second old), not the racy one of the first change.
				fx.calls.put(rec('a', 3));
				await waitFor('the timer to persist', () => ix.persisted >= 2, 10_000);
				assert.equal(row(readBody(fx), 'a')[2], 3);
				assert.equal(readBody(fx).dir, String(statSync(fx.root, { bigint: true }).mtimeNs));
				await pastPersistTimer();
				assert.equal(ix.persisted, 2);
			} finally {
				ix.close();
			}
		});

		it('a pending persist finds the index persisted meanwhile (the folder replaced and listed): it writes nothing', async () => {
			const { fx, ix } = pendingPersist();
			try {
				assert.equal(ix.persisted, 1, 'a change applied incrementally waits for the timer');
				const moved = `${fx.root}.old`;
				renameSync(fx.root, moved);
				const a3 = rec('a', 3);
				fx.calls.put(a3);
				ix.refresh();
				assert.equal(ix.persisted, 2, 'the new folder listed and persisted at once');
				assert.deepEqual(keysOf(ix), [a3.key]);
				await pastPersistTimer();
				assert.equal(ix.persisted, 2);
				rmSync(moved, { recursive: true });
			} finally {
				ix.close();
			}
		});

		it('a pending persist finds the calls folder removed (no watcher): it writes nothing', async () => {
			const { fx, ix } = pendingPersist();
			try {
				assert.equal(ix.persisted, 1);
				rmSync(fx.root, { recursive: true });
				ix.refresh();
				assert.equal(ix.functions().length, 0);
				await pastPersistTimer();
				assert.equal(ix.persisted, 1);
				assert.equal(row(readBody(fx), 'a')[2], 1, 'the summary is the last one persisted');
			} finally {
				ix.close();
			}
		});

		it('close() cancels the pending persist: a change after it is never persisted by the closed index', async () => {
			const { fx, ix } = pendingPersist();
			// A second change while the persist is pending: still one timer.
			fx.calls.put(rec('a', 3));
			ix.refresh();
			assert.equal(ix.persisted, 1);
			ix.close();
			assert.equal(ix.persisted, 2, 'closing persisted the pending changes');
			fx.calls.put(rec('a', 4));
			await pastPersistTimer();
			assert.equal(ix.persisted, 2);
			assert.equal(row(readBody(fx), 'a')[2], 3);
		});
	});
});
