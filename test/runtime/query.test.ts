// docs/behaviour.md §6: the query API — filters, the chainable re-iterable iterator, tables, transfer and eviction.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fleche, cache, tags, D, digest, Tags, meta, Runtime, type LazyCall } from 'fleche';
import { memoryStore, fileStore } from '../support/stores.ts';
import { captureLogs } from '../support/logs.ts';

const logs = captureLogs();
const area = fleche((w: number, h: number) => w * h, { name: 'area' });
const label = fleche((s: string) => s.toUpperCase(), { name: 'label' });

function seeded() {
	const store = memoryStore();
	cache(store, () => {
		for (let w = 1; w <= 3; w++) for (let h = 1; h <= 2; h++) tags({ batch: w % 2 === 0 ? 'even' : 'odd' }, () => area(w, h));
		label('x');
	});
	return store;
}

describe('cache().query', () => {
	test('by name, module, arguments (by digest) and metadata', () => {
		const store = seeded();
		assert.equal(store.query().count(), 7);
		assert.equal(store.query({ name: 'area' }).count(), 6);
		assert.equal(store.query({ name: 'area', module: 'test/runtime/query.test.ts' }).count(), 6);
		assert.equal(store.query({ name: 'area', module: 'other.ts' }).count(), 0);
		assert.equal(store.query({ arguments: { w: 2 } }).count(), 2);
		assert.equal(store.query({ arguments: { w: D(digest(2)) } }).count(), 2, 'a Digest matches the value');
		assert.equal(store.query({ arguments: { s: undefined } }).count(), 1, 'undefined = key present');
		assert.equal(store.query({ metadata: { tags: { batch: 'even' } } }).count(), 2);
		assert.equal(store.query({ metadata: { tags: { batch: undefined } } }).count(), 6);
		assert.equal(store.query({ result: 6 }).only().arguments.w, 3);
	});

	test('an indigestible filter value matches nothing, with a warning', () => {
		const store = seeded();
		logs.clear();
		assert.equal(store.query({ arguments: { w: () => 1 } }).count(), 0);
		assert.equal(logs.codes('FLECHE_QUERY_INDIGESTIBLE').length, 6, 'one per record that has a w');
	});

	test('re-iterable: each iteration reads the cache as it is now', () => {
		const store = memoryStore();
		const q = store.query({ name: 'area' });
		assert.equal(q.count(), 0);
		cache(store, () => area(9, 9));
		assert.equal(q.count(), 1);
		assert.equal([...q].length, 1);
		assert.equal([...q].length, 1);
	});

	test('take, skip, filter, sorted, unique are chainable and do not consume the source', () => {
		const store = seeded();
		const q = store.query({ name: 'area' });
		const byArea = q.sorted((c) => c.result);
		assert.deepEqual(byArea.results(), [1, 2, 2, 3, 4, 6]);
		assert.deepEqual(q.sorted((c) => c.result as number, true).take(2).results(), [6, 4]);
		assert.deepEqual(byArea.skip(4).results(), [4, 6]);
		assert.deepEqual(byArea.filter((c) => (c.result as number) % 2 === 0).results(), [2, 2, 4, 6]);
		assert.equal(q.unique('w').count(), 3);
		assert.deepEqual(q.sorted('w').unique('w').results(), [1, 2, 3]);
		assert.equal(q.count(), 6);
	});

	test('only, any, empty, groupby', () => {
		const store = seeded();
		assert.throws(() => store.query({ name: 'area' }).only(), RangeError);
		assert.throws(() => store.query({ name: 'nope' }).only(), RangeError);
		assert.equal(store.query({ name: 'nope' }).any(), undefined);
		assert.equal(store.query({ name: 'nope' }).empty(), true);
		assert.equal(store.query({ name: 'label' }).only().result, 'X');
		const groups = store.query({ name: 'area' }).groupby('h');
		assert.deepEqual([...groups.keys()].sort(), [1, 2]);
		assert.equal(groups.get(1)!.count(), 3);
	});

	test('latest and oldest by runtime.timestop; undated calls lose; none dated is an error', async () => {
		const store = memoryStore();
		await cache(store, async () => {
			area(1, 1);
			await new Promise((r) => setTimeout(r, 15));
			area(2, 2);
		});
		assert.equal(store.query({ name: 'area' }).latest().arguments.w, 2);
		assert.equal(store.query({ name: 'area' }).oldest().arguments.w, 1);
		const undated = memoryStore();
		cache(undated, () => meta(new Tags({ t: 1 }), () => area(5, 5)));
		assert.throws(() => undated.query().latest(), /Runtime/);
		assert.throws(() => memoryStore().query().latest(), RangeError);
		cache(undated, () => meta(new Runtime(), () => area(6, 6)));
		assert.equal(undated.query().latest().arguments.w, 6);
	});

	test('evict removes matching records; transfer copies records with their values', () => {
		const store = seeded();
		assert.equal(store.query({ arguments: { w: 1 } }).evict(), 2);
		assert.equal(store.query({ name: 'area' }).count(), 4);
		const { cache: target } = fileStore();
		assert.equal(store.query({ name: 'area' }).transfer(target), 4);
		assert.equal(target.query().count(), 4);
		assert.equal(cache(target, () => area.fleche.load(2, 2)), 4);
		assert.deepEqual(target.query({ arguments: { w: 3, h: 2 } }).only().arguments, { w: 3, h: 2 });
		logs.clear();
		assert.equal(store.query({ name: 'area' }).transfer(target), 0, 'existing entries are skipped');
		assert.equal(logs.codes('FLECHE_TRANSFER_SKIPPED').length, 4);
		assert.equal(store.query({ name: 'area' }).transfer(target, { overwrite: true, pop: true }), 4);
		assert.equal(store.query({ name: 'area' }).count(), 0, 'pop evicts from the source');
		assert.equal(store.transfer(memoryStore()), 1);
	});

	test('table() gives plain rows: shrunk key, name, module, flattened metadata, arguments and results', () => {
		const store = seeded();
		const rows = store.query({ name: 'area' }).sorted('w').table({ arguments: ['w', 'h'], results: true });
		assert.equal(rows.length, 6);
		const row = rows[0]!;
		assert.equal(row.name, 'area');
		assert.equal(row.module, 'test/runtime/query.test.ts');
		assert.ok(row.key.length >= 4 && row.key.length < 64);
		assert.ok(store.query({ name: 'area' }).any()!.key.startsWith(rows.find((r) => r.w === row.w && r.h === row.h)!.key.slice(0, 4)));
		assert.ok(row.timestop instanceof Date);
		assert.equal(row.batch, 'odd');
		assert.equal(row.result, (row.w as number) * (row.h as number));
		const all = store.query().table({ arguments: true, shrinkKeys: false });
		assert.equal(all[0]!.key.length, 64);
		assert.ok(all.some((r) => 's' in r) && all.some((r) => 'w' in r));
		assert.deepEqual(memoryStore().query().table(), []);
	});

	test('load(key prefix) returns a LazyCall whose values load on access', () => {
		const store = seeded();
		const one: LazyCall = store.query({ arguments: { w: 3, h: 2 } }).only();
		const again = store.load(one.key.slice(0, 8));
		assert.equal(again.key, one.key);
		assert.deepEqual(again.fetch().arguments, { w: 3, h: 2 });
		assert.equal(again.fetch().result, 6);
	});
});
