// docs/behaviour.md §1.10, §2.4, §1.3 and §6 (rerun): cache compositions over real storages — stacks, pools, read-only
// views, size limits, transfer, gc, key prefixes, and rerun.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type {
	Cache} from 'fleche';
import {
	fleche,
	cache,
	meta,
	digest,
	fileCache,
	cacheFromConfig,
	Runtime,
	CacheStack,
	CachePool,
	ReadOnlyCache,
	SizeLimitedCache,
	KeyError,
	Rejected,
	AmbiguousDigestError,
	type BaseCache,
	type Call,
} from 'fleche';
import { captureLogs } from '../support/logs.ts';
import { fileStore, freshDir, memoryStore } from '../support/stores.ts';

const logs = captureLogs();

/** A cached square whose body counts its runs. */
function squares(name = 'sq') {
	const runs: number[] = [];
	const f = fleche(
		(x: number) => {
			runs.push(x);
			return x * x;
		},
		{ name, module: 'compositions.ts' },
	);
	return { f, runs };
}

function call(name: string, x: unknown, result: unknown): Call {
	return { name, module: 'm.ts', version: null, codeDigest: null, arguments: { x }, result, metadata: {} };
}

const recordCount = (c: BaseCache): number => [...c.records()].length;
const rejected = (err: unknown): boolean => Rejected.is(err);

/** Two values whose digests share their first four characters (birthday bound: a few hundred tries). */
function collidingValues(): { a: number; b: number; prefix: string; needed: number } {
	const seen = new Map<string, number>();
	for (let i = 0; ; i++) {
		const k = digest(i);
		const p = k.slice(0, 4);
		const j = seen.get(p);
		if (j !== undefined) {
			const other = digest(j);
			let lcp = 0;
			while (k[lcp] === other[lcp]) lcp++;
			return { a: j, b: i, prefix: p, needed: lcp + 1 };
		}
		seen.set(p, i);
	}
}

describe('CacheStack (docs/behaviour.md §1.10)', () => {
	test('saves go to the first layer; a hit in a later layer is returned and back-filled into the first', () => {
		const fast = memoryStore();
		const { cache: slow } = fileStore();
		const { f, runs } = squares();
		cache(slow, () => f(3));
		const stack = new CacheStack([fast, slow]);
		const key = f.fleche.digest(3);

		assert.equal(cache(stack, () => f(3)), 9);
		assert.deepEqual(runs, [3], 'the hit in the second layer did not run the body');
		assert.equal(fast.contains(key), true, 'back-filled');
		const record = fast.loadRecord(key);
		assert.equal(fast.loadValue(record.result!), 9, 'the result value was copied too');
		assert.equal(fast.loadValue(record.arguments.x!), 3, 'and the argument values');

		cache(stack, () => f(4));
		assert.deepEqual(runs, [3, 4]);
		assert.equal(fast.contains(f.fleche.digest(4)), true, 'a miss is saved in the first layer');
		assert.equal(slow.contains(f.fleche.digest(4)), false, 'and only there');

		// The first layer answers first: the same key holding different results in the two layers.
		const a = new CacheStack([memoryStore(), memoryStore()]);
		const k = a.stack[1]!.save(call('g', 1, 'second'));
		assert.equal(a.stack[0]!.save(call('g', 1, 'first')), k);
		assert.equal(a.load(k).result, 'first');
	});

	test('load() back-fills too; loadValue() reads through without copying; contains() is any layer', () => {
		const [front, back] = [memoryStore(), memoryStore()];
		const stack = new CacheStack([front, back]);
		const key = back.save(call('g', 1, 'one'));
		const orphan = back.saveValue('only in the back');
		assert.equal(stack.contains(key), true);
		assert.equal(stack.contains(key.slice(0, 8)), true, 'prefixes are accepted');
		assert.equal(stack.loadValue(orphan), 'only in the back');
		assert.equal(front.values.contains(orphan), false, 'loadValue does not back-fill');
		assert.equal(front.contains(key), false);
		assert.equal(stack.load(key.slice(0, 6)).result, 'one');
		assert.equal(front.contains(key), true, 'load() back-filled the record');
		assert.equal(front.load(key).result, 'one');
	});

	test('a back-fill never overwrites the first layer, and a refusing first layer is a warning, not a failed read', () => {
		const back = memoryStore();
		const key = back.save(call('g', 2, 'two'));
		const readOnlyFront = memoryStore().readonly();
		const stack = new CacheStack([readOnlyFront, back]);
		logs.clear();
		assert.equal(stack.load(key).result, 'two');
		assert.equal(stack.load(key).result, 'two');
		const warned = logs.codes('FLECHE_REJECTED');
		assert.equal(warned.length, 1, 'warned once per stack');
		assert.match(warned[0]!.message, /Cache rejected save: back-fill/);
	});

	test('evict removes the call from every layer; push flattens; stacks never nest', () => {
		const [a, b] = [memoryStore(), memoryStore()];
		const key = a.save(call('g', 3, 'x'));
		b.save(call('g', 3, 'x'));
		const stack = new CacheStack([a, b]);
		stack.evict(key.slice(0, 10));
		assert.equal(a.contains(key) || b.contains(key), false);
		assert.throws(() => stack.evict(key), KeyError);

		const c = memoryStore();
		const pushed = stack.push(c);
		assert.deepEqual(pushed.stack, [c, a, b]);
		assert.deepEqual(c.push(stack).stack, [a, b, c]);
		assert.throws(() => new CacheStack([stack]), TypeError);
		assert.throws(() => new CacheStack([]), TypeError);
	});

	test('query lists each call once, first layer first', () => {
		const [a, b] = [memoryStore(), memoryStore()];
		a.save(call('g', 1, 'a1'));
		b.save(call('g', 1, 'b1'));
		b.save(call('g', 2, 'b2'));
		const results = new CacheStack([a, b]).query({ name: 'g' }).results();
		assert.deepEqual([...results].sort(), ['a1', 'b2']);
	});
});

describe('CachePool (docs/behaviour.md §1.10)', () => {
	test('a read-only union: first member that has it, no back-fill, queries deduplicated', () => {
		const [a, b] = [memoryStore(), memoryStore()];
		const k1 = a.save(call('g', 1, 'a1'));
		const k2 = b.save(call('g', 2, 'b2'));
		b.save(call('g', 1, 'b1'));
		const pool = new CachePool([a, b]);
		assert.equal(pool.load(k1).result, 'a1', 'member order decides');
		assert.equal(pool.load(k2).result, 'b2');
		assert.equal(pool.contains(k2), true);
		assert.equal(a.contains(k2), false, 'reads never copy into a member');
		assert.equal(pool.query().count(), 2);
		assert.throws(() => pool.load('0000000000000000'), KeyError);
	});

	test('saves, evicts and gc are Rejected and leave the members untouched; a function still returns, uncached', () => {
		const [a, b] = [memoryStore(), memoryStore()];
		const k1 = a.save(call('g', 1, 'a1'));
		const pool = new CachePool([a, b]);
		assert.throws(() => pool.save(call('g', 9, 'x')), rejected);
		assert.throws(() => pool.saveValue('x'), rejected);
		assert.throws(() => pool.evict(k1), rejected);
		assert.throws(() => pool.gc(), rejected);
		assert.equal(a.contains(k1), true);

		const { f, runs } = squares();
		logs.clear();
		assert.equal(cache(pool, () => f(5)), 25);
		assert.equal(cache(pool, () => f(5)), 25);
		assert.deepEqual(runs, [5, 5], 'never cached');
		assert.equal(logs.codes('FLECHE_REJECTED').length, 2);
		assert.equal(recordCount(a) + recordCount(b), 1);
		assert.equal([...a.values.list()].length + [...b.values.list()].length, 2, 'not even the argument was stored');
	});

	test('a hit through a pool; an empty pool is harmless', () => {
		const { f, runs } = squares();
		const member = memoryStore();
		cache(member, () => f(6));
		assert.equal(cache(new CachePool([memoryStore(), member]), () => f(6)), 36);
		assert.deepEqual(runs, [6]);
		const empty = new CachePool([]);
		assert.equal(empty.contains('abcd'), false);
		assert.equal(empty.query().count(), 0);
		assert.equal(cache(empty, () => f(6)), 36);
		assert.deepEqual(runs, [6, 6]);
	});
});

describe('ReadOnlyCache (docs/behaviour.md §1.10)', () => {
	test('reads through; a miss runs the body and returns its result with a warning; nothing is written', () => {
		const { cache: inner, root } = fileStore({ inlineValues: 0 });
		const { f, runs } = squares();
		cache(inner, () => f(2));
		const view = inner.readonly();
		assert.ok(view instanceof ReadOnlyCache);
		assert.equal(view.readonly(), view);
		assert.equal(cache(view, () => f(2)), 4, 'a hit reads through');
		assert.deepEqual(runs, [2]);

		const before = [readdirSync(join(root, 'values')).length, readdirSync(join(root, 'calls')).length];
		logs.clear();
		assert.equal(cache(view, () => f(7)), 49);
		assert.deepEqual(runs, [2, 7]);
		assert.equal(logs.codes('FLECHE_REJECTED').length, 1);
		assert.match(logs.codes('FLECHE_REJECTED')[0]!.message, /Cache rejected save/);
		assert.deepEqual([readdirSync(join(root, 'values')).length, readdirSync(join(root, 'calls')).length], before);
		assert.equal(inner.contains(f.fleche.digest(7)), false);

		const key = f.fleche.digest(2);
		assert.throws(() => view.save(call('g', 1, 1)), rejected);
		assert.throws(() => view.evict(key), rejected);
		assert.throws(() => view.gc(), rejected);
		assert.equal(inner.contains(key), true);
	});
});

describe('FilteredCache (docs/behaviour.md §1.10)', () => {
	test('only accepted calls are visible; others are misses; writes are refused; a query filter travels as config', () => {
		const store = memoryStore();
		const k1 = store.save({ ...call('g', 1, 'one'), metadata: { tags: { project: 'alpha' } } });
		const k2 = store.save({ ...call('g', 2, 'two'), metadata: { tags: { project: 'beta' } } });
		for (const view of [store.filter({ metadata: { tags: { project: 'alpha' } } }), store.filter((c) => c.metadata.tags?.project === 'alpha')]) {
			assert.equal(view.load(k1).result, 'one');
			assert.throws(() => view.load(k2), KeyError);
			assert.equal(view.contains(k2), false);
			assert.equal(view.lookup(k2), undefined);
			assert.deepEqual([...view.query().results()], ['one']);
			assert.throws(() => view.save(call('g', 3, 'three')), rejected);
			assert.throws(() => view.evict(k1), rejected);
		}
		const reopened = cacheFromConfig(store.filter({ arguments: { x: 2 } }).toConfig());
		assert.equal(reopened.query().count(), 0, 'memory storage reopens empty, but the filter came along');
		assert.deepEqual((reopened.toConfig() as Readonly<Record<string, unknown>>).filter, { arguments: { x: digest(2) } });
		assert.throws(() => store.filter(() => true).toConfig(), TypeError);
	});
});

describe('SizeLimitedCache (docs/behaviour.md §1.10)', () => {
	test('evicts the least recently USED call: a hit or a load refreshes it (not FIFO, not random)', () => {
		const inner = memoryStore();
		const limited = new SizeLimitedCache(inner, { maxSize: 3 });
		const { f } = squares();
		const has = (x: number): boolean => inner.contains(f.fleche.digest(x));
		using _ = cache(limited);
		f(1);
		f(2);
		f(3);
		assert.equal(limited.size, 3);
		f(1); // a hit: 1 is now the most recently used
		f(4);
		assert.deepEqual([1, 2, 3, 4].map(has), [true, false, true, true], 'FIFO would have evicted 1');
		limited.load(f.fleche.digest(3)); // a load is a use too
		f(5);
		assert.deepEqual([1, 3, 4, 5].map(has), [false, true, true, true]);
		assert.equal(recordCount(inner), 3);
		// The values only evicted calls used go with them (docs/behaviour.md §18); 4, the result of the evicted f(2), stays
		// as the argument of f(4).
		assert.deepEqual([1, 2, 4].map((v) => inner.values.contains(digest(v))), [false, false, true]);
	});

	test('the same order every run, and a custom policy gets the keys least recently used first', () => {
		const seen: string[][] = [];
		const inner = memoryStore();
		const limited = new SizeLimitedCache(inner, {
			maxSize: 2,
			pickEvictionTarget: (keys) => {
				seen.push([...keys]);
				return keys[keys.length - 1]!; // most recently used
			},
		});
		const { f } = squares();
		cache(limited, () => [f(1), f(2), f(1), f(3)]);
		const [k1, k2, k3] = [1, 2, 3].map((x) => f.fleche.digest(x));
		assert.deepEqual(seen, [[k2, k1, k3]]);
		assert.equal(inner.contains(k3!), false);
		assert.throws(() => new SizeLimitedCache(inner, { maxSize: 0 }), TypeError);
	});

	test('a file store keeps at most maxSize calls across reopening; recency survives through the statistics', () => {
		const root = freshDir();
		const { f } = squares();
		const open = (maxSize: number) => new SizeLimitedCache(fileCache(root), { maxSize });
		const count = (): number => readdirSync(join(root, 'calls')).filter((n) => /^[0-9a-f]{64}$/.test(n)).length;
		using _m = meta([new Runtime()]);
		const first = open(3);
		cache(first, () => [f(1), f(2), f(3)]);
		cache(first, () => f(1)); // used after 2 and 3
		(first.inner as Cache).flushStats();

		const second = open(3);
		cache(second, () => f(4));
		assert.equal(count(), 3);
		const has = (x: number): boolean => second.contains(f.fleche.digest(x));
		assert.deepEqual([1, 2, 3, 4].map(has), [true, false, true, true], 'the oldest unused call went, not the oldest saved');

		const third = open(2);
		cache(third, () => f(5));
		assert.equal(count(), 2, 'a smaller limit trims on the next save');
		assert.deepEqual([1, 3, 4, 5].map(has), [false, false, true, true]);
	});
});

describe('transfer (docs/behaviour.md §6)', () => {
	test('copies records and values; skips existing calls with a warning unless overwrite; pop moves', () => {
		const source = memoryStore();
		const { cache: target } = fileStore();
		const k1 = source.save(call('g', 1, 'one'));
		const k2 = source.save(call('g', 2, 'two'));
		assert.equal(source.transfer(target), 2);
		assert.equal(target.load(k1).result, 'one');
		assert.deepEqual(target.load(k2).arguments, { x: 2 });

		const other = memoryStore();
		other.save(call('g', 1, 'changed'));
		logs.clear();
		assert.equal(other.transfer(target), 0);
		assert.equal(logs.codes('FLECHE_TRANSFER_SKIPPED').length, 1);
		assert.match(logs.codes('FLECHE_TRANSFER_SKIPPED')[0]!.message, new RegExp(k1));
		assert.equal(target.load(k1).result, 'one');
		assert.equal(other.transfer(target, { overwrite: true }), 1);
		assert.equal(target.load(k1).result, 'changed');

		const moved = memoryStore();
		assert.equal(source.transfer(moved, { pop: true }), 2);
		assert.equal(recordCount(source), 0);
		assert.equal(recordCount(moved), 2);
		const stays = memoryStore();
		stays.save(call('g', 3, 'three'));
		const full = memoryStore();
		full.save(call('g', 3, 'three'));
		assert.equal(stays.transfer(full, { pop: true }), 0);
		assert.equal(recordCount(stays), 1, 'pop only evicts what was actually written');
	});

	test('a pool is a transfer source: two stores merge into one', () => {
		const [a, b] = [memoryStore(), memoryStore()];
		a.save(call('g', 1, 'one'));
		b.save(call('g', 2, 'two'));
		b.save(call('g', 1, 'one'));
		const merged = memoryStore();
		assert.equal(new CachePool([a, b]).transfer(merged), 2);
		assert.deepEqual([...merged.query().results()].sort(), ['one', 'two']);
	});

	test('pop from a read-only source is refused before anything is copied', () => {
		const [a, b] = [memoryStore(), memoryStore()];
		a.save(call('g', 1, 'one'));
		b.save(call('g', 2, 'two'));
		for (const source of [new CachePool([a, b]), new ReadOnlyCache(a), new SizeLimitedCache(new ReadOnlyCache(b), { maxSize: 5 })]) {
			assert.equal(source.readOnly, true, source.constructor.name);
			const target = memoryStore();
			assert.throws(() => source.transfer(target, { pop: true }), (err: unknown) => Rejected.is(err) && /read-only .*without pop/.test((err as Error).message));
			assert.equal(target.query().count(), 0, `${source.constructor.name}: nothing copied`);
		}
		assert.equal(a.query().count() + b.query().count(), 2, 'the sources are untouched');
		assert.equal(new SizeLimitedCache(a, { maxSize: 5 }).readOnly, false);
		assert.equal(a.readOnly, false);
	});
});

describe('gc (docs/behaviour.md §1.10)', () => {
	test('removes only values no call refers to; shared values and every remaining call stay whole', () => {
		// Value files (inlineValues 0): values inside a call file go with their call and are never gc's to collect.
		const { cache: store, root } = fileStore({ inlineValues: 0 });
		const pair = fleche((a: number[], b: string) => `${a.length}${b}`, { name: 'pair' });
		cache(store, () => {
			pair([1, 2], 'x'); // values: [1,2], 'x', '2x'
			pair([1, 2], 'y'); // values: 'y', '2y'
		});
		const orphan = store.saveValue({ left: 'behind' });
		assert.deepEqual(store.gc({ graceSeconds: 0 }), new Set([orphan]), 'only the orphan');
		store.evict(pair.fleche.digest([1, 2], 'y'));
		assert.deepEqual([...store.gc({ graceSeconds: 0 })].sort(), [digest('y'), digest('2y')].sort(), 'the shared [1,2] stays');
		const call1 = store.load(pair.fleche.digest([1, 2], 'x'));
		assert.deepEqual(call1.arguments, { a: [1, 2], b: 'x' });
		assert.equal(call1.result, '2x');
		assert.equal(readdirSync(join(root, 'values')).length, 3);
		assert.equal(store.gc({ graceSeconds: 0 }).size, 0, 'idempotent');
	});

	test('on a stack, every layer is collected; read-only views refuse', () => {
		const [a, b] = [memoryStore(), memoryStore()];
		const oa = a.saveValue('orphan a');
		const ob = b.saveValue('orphan b');
		assert.deepEqual(new CacheStack([a, b]).gc(), new Set([oa, ob]));
		assert.throws(() => a.readonly().gc(), rejected);
	});
});

describe('expand and shrink of short key prefixes (docs/behaviour.md §2.4)', () => {
	test('unique prefixes expand; too short, unknown and ambiguous ones are errors naming the length needed', () => {
		const store = memoryStore();
		const key = store.save(call('g', 'prefix', 'r'));
		assert.equal(store.expand(key.slice(0, 4)), key);
		assert.throws(() => store.expand(key.slice(0, 3)), KeyError);
		const { a, b, prefix, needed } = collidingValues();
		store.saveValue(a);
		store.saveValue(b);
		assert.throws(
			() => store.expand(prefix),
			(err: unknown) => AmbiguousDigestError.is(err) && (err as Error).message === `Short digest ${prefix} is ambiguous; need at least ${needed} characters.`,
		);
		assert.equal(store.expand(digest(a).slice(0, needed)), digest(a));
		const [sa, sb] = store.shrink(digest(a), digest(b));
		assert.equal(sa, digest(a).slice(0, needed));
		assert.equal(sb, digest(b).slice(0, needed));
		assert.equal(store.shrink(key).length, 4);
		assert.throws(() => store.shrink('f'.repeat(64)), KeyError);
	});

	test('across a stack or a pool: members combine, and keys from different members can be ambiguous together', () => {
		const { a, b, prefix, needed } = collidingValues();
		const [x, y] = [memoryStore(), memoryStore()];
		x.saveValue(a);
		y.saveValue(b);
		assert.equal(x.expand(prefix), digest(a), 'unique within one member');
		for (const combined of [new CacheStack([x, y]), new CachePool([x, y])]) {
			assert.throws(
				() => combined.expand(prefix),
				(err: unknown) => AmbiguousDigestError.is(err) && (err as Error).message.includes(`need at least ${needed} characters`),
				combined.constructor.name,
			);
			assert.equal(combined.expand(digest(b).slice(0, needed)), digest(b));
			assert.equal(combined.shrink(digest(a)), digest(a).slice(0, needed));
			assert.throws(() => combined.expand('0123'.repeat(2)), KeyError);
		}
		// The same key in several members is one key, not an ambiguity.
		y.saveValue(a);
		assert.throws(() => new CacheStack([x, y]).expand(prefix), AmbiguousDigestError);
		assert.equal(new CacheStack([x, y]).expand(digest(a).slice(0, needed)), digest(a));
	});

	test('a call key and a value digest sharing a prefix are ambiguous within one cache', () => {
		const store = memoryStore();
		const key = store.save(call('g', 'k', 'r'));
		for (let i = 0; ; i++) {
			const d = digest(`v${i}`);
			if (d.slice(0, 4) !== key.slice(0, 4)) continue;
			store.saveValue(`v${i}`);
			let lcp = 0;
			while (d[lcp] === key[lcp]) lcp++;
			assert.throws(
				() => store.expand(key.slice(0, 4)),
				(err: unknown) => AmbiguousDigestError.is(err) && (err as Error).message.includes(`need at least ${lcp + 1} characters`),
			);
			assert.equal(store.load(key.slice(0, lcp + 1)).result, 'r');
			break;
		}
	});
});

describe('rerun (docs/behaviour.md §1.3, §6)', () => {
	for (const [kind, open] of [
		['memory', () => ({ store: memoryStore(), reopen: undefined as (() => Cache) | undefined })],
		[
			'file',
			() => {
				const root = freshDir();
				return { store: fileCache(root), reopen: () => fileCache(root) };
			},
		],
	] as const) {
		test(`${kind} store: re-executes this call and nested fleche calls and overwrites their entries; callers keep theirs`, () => {
			const { store, reopen } = open();
			using _ = cache(store);
			let version = 1;
			const runs: string[] = [];
			const l3 = fleche(
				(x: number) => {
					runs.push('l3');
					return `l3:${x}:v${version}`;
				},
				{ name: 'l3' },
			);
			const l2 = fleche(
				(x: number) => {
					runs.push('l2');
					return `l2(${l3(x)})`;
				},
				{ name: 'l2' },
			);
			const l1 = fleche(
				(x: number) => {
					runs.push('l1');
					return `l1(${l2(x)})`;
				},
				{ name: 'l1' },
			);
			assert.equal(l1(0), 'l1(l2(l3:0:v1))');
			version = 2;
			runs.length = 0;
			assert.equal(l1(0), 'l1(l2(l3:0:v1))');
			assert.deepEqual(runs, []);

			assert.equal(l2.fleche.rerun(0), 'l2(l3:0:v2)');
			assert.deepEqual(runs, ['l2', 'l3'], 'this call and the nested one ran again, even though both were cached');
			runs.length = 0;
			const stored = reopen ? reopen() : store;
			assert.equal(stored.load(l3.fleche.digest(0)).result, 'l3:0:v2', 'the nested entry was overwritten');
			assert.equal(stored.load(l2.fleche.digest(0)).result, 'l2(l3:0:v2)');
			assert.equal(stored.load(l1.fleche.digest(0)).result, 'l1(l2(l3:0:v1))', 'the caller keeps its older entry');
			assert.equal(recordCount(stored), 3, 'overwritten, not added');
			assert.equal(l1(0), 'l1(l2(l3:0:v1))');
			assert.equal(l2(0), 'l2(l3:0:v2)');
			assert.deepEqual(runs, []);
			// After the rerun, the active cache is the store again, not the refreshing view.
			assert.equal(cache(), store);
		});
	}

	test('an async rerun refreshes nested calls made after an await', async () => {
		const store = memoryStore();
		using _ = cache(store);
		let version = 1;
		const inner = fleche((x: number) => `inner${x}v${version}`, { name: 'inner' });
		const outer = fleche(
			async (x: number) => {
				await new Promise((r) => setTimeout(r, 1));
				return `outer(${inner(x)})`;
			},
			{ name: 'outer' },
		);
		assert.equal(await outer(1), 'outer(inner1v1)');
		version = 2;
		assert.equal(await outer.fleche.rerun(1), 'outer(inner1v2)');
		assert.equal(store.load(inner.fleche.digest(1)).result, 'inner1v2');
		assert.equal(await outer(1), 'outer(inner1v2)');
	});
});
