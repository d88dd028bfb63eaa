// docs/behaviour.md §6: the query API — filters, the chainable re-iterable iterator, tables, transfer and eviction.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fleche, cache, tags, D, digest, Tags, meta, ReadOnlyCache, Rejected, Runtime, type LazyCall } from 'fleche';
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
		// The same, met in the other order: the timestamps decide, not the position.
		assert.equal(store.query({ name: 'area' }).sorted('w', true).latest().arguments.w, 2);
		assert.equal(store.query({ name: 'area' }).sorted('w', true).oldest().arguments.w, 1);
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

// Each check below was written against a mutant of runtime/src/query.ts that the tests above let live (npm run
// test:mutation query; docs/mutation.md).
describe('cache().query, edge by edge', () => {
	const point = fleche((p: unknown) => p, { name: 'point' });
	const versioned = fleche((x: number) => x, { name: 'versioned', version: 2, hashCode: true });

	test('identity filters: version and codeDigest must equal the record', () => {
		const store = seeded();
		cache(store, () => versioned(1));
		const record = store.query({ name: 'versioned' }).only();
		assert.equal(store.query({ version: 2 }).count(), 1);
		assert.equal(store.query({ version: 3 }).count(), 0);
		assert.equal(store.query({ version: null }).count(), 7, 'the unversioned seven');
		const code = record.fetch().codeDigest;
		assert.equal(store.query({ codeDigest: code }).only().key, record.key);
		assert.equal(store.query({ codeDigest: 'f'.repeat(64) }).count(), 0);
	});

	test('digests: a full digest is compared, a short one is expanded in the cache, an unknown prefix matches nothing', () => {
		const store = seeded();
		assert.equal(store.query({ result: D(digest(6)) }).only().arguments.w, 3);
		assert.equal(store.query({ result: D(digest(6).slice(0, 10)) }).only().arguments.w, 3, 'a prefix of a stored value');
		assert.equal(store.query({ result: D('0'.repeat(63) + '1') }).count(), 0);
		assert.equal(store.query({ arguments: { w: D(digest(2).slice(0, 8)) } }).count(), 2);
		assert.equal(store.query({ result: 7 }).count(), 0);
		assert.equal(store.query({ result: undefined }).count(), 7, 'an undefined result is "any"');
		assert.equal(store.query({ arguments: { w: 1, h: 9 } }).count(), 0, 'every named argument must match');
		assert.equal(store.query({ arguments: { q: undefined } }).count(), 0, 'a named argument must be present');
	});

	test('metadata: {} asks for the namespace, values compare as JSON (arrays are not objects)', () => {
		const store = memoryStore();
		cache(store, () => {
			tags({ list: [1, 2], nested: { a: 1, b: [true] } }, () => point('t'));
			point('plain');
		});
		const only = (filter: Record<string, Record<string, unknown>>) => store.query({ metadata: filter as never }).count();
		assert.equal(only({ tags: {} }), 1);
		assert.equal(only({ other: {} }), 0);
		assert.equal(only({ tags: { list: [1, 2] } }), 1);
		assert.equal(only({ tags: { list: [1, 2, 3] } }), 0);
		assert.equal(only({ tags: { list: [2, 1] } }), 0);
		assert.equal(only({ tags: { list: { 0: 1, 1: 2 } } }), 0, 'an object is not an array');
		assert.equal(only({ tags: { nested: { b: [true], a: 1 } } }), 1, 'key order does not matter');
		assert.equal(only({ tags: { nested: { a: 1 } } }), 0);
		assert.equal(only({ tags: { nested: { a: 1, b: [false] } } }), 0);
		assert.equal(only({ tags: { nested: null } }), 0);
		assert.equal(only({ tags: { missing: undefined } }), 0, 'a key asked for must be present');
	});

	test('sorted: numbers, bigints and dates by value, null and undefined last, mixed kinds by text; default key is the key', () => {
		const store = memoryStore();
		const values: unknown[] = [10, 9, null, 100n, 2n, -1, 'b', 'a', undefined, true, new Date(2000, 1, 1), new Date(1999, 1, 1), { z: 1 }, [3]];
		cache(store, () => values.forEach((v, i) => point({ i, v })));
		const order = (items: LazyCall[]) => items.map((c) => (c.arguments.p as { i: number }).i);
		const byV = (c: LazyCall) => (c.arguments.p as { v: unknown }).v;
		const q = store.query({ name: 'point' });
		const sorted = order([...q.filter((c) => typeof byV(c) === 'number').sorted(byV)]);
		assert.deepEqual(sorted, [5, 1, 0]);
		assert.deepEqual(order([...q.filter((c) => typeof byV(c) === 'bigint').sorted(byV)]), [4, 3]);
		assert.deepEqual(order([...q.filter((c) => byV(c) instanceof Date).sorted(byV)]), [11, 10]);
		assert.deepEqual(order([...q.filter((c) => typeof byV(c) === 'string').sorted(byV, true)]), [6, 7]);
		const all = order([...q.sorted(byV)]);
		assert.deepEqual(all.slice(-2).sort(), [2, 8], 'null and undefined last');
		assert.equal(all.length, values.length);
		assert.deepEqual([...q.sorted()].map((c) => c.key), [...q].map((c) => c.key).sort(), 'by key by default');
	});

	test('take, skip and unique at their edges', () => {
		const store = seeded();
		const q = store.query({ name: 'area' }).sorted((c) => c.result);
		assert.deepEqual(q.take(0).results(), []);
		assert.deepEqual(q.take(-1).results(), []);
		assert.deepEqual(q.take(1).results(), [1]);
		assert.deepEqual(q.take(99).results(), [1, 2, 2, 3, 4, 6]);
		assert.deepEqual(q.skip(0).results(), [1, 2, 2, 3, 4, 6]);
		assert.deepEqual(q.skip(5).results(), [6]);
		assert.deepEqual(q.skip(6).results(), []);
		// Equal values that are different objects are one key: unique compares digests.
		assert.deepEqual(q.unique((c) => ({ odd: (c.result as number) % 2 })).results(), [1, 2]);
	});

	test('only() names what went wrong; empty() is false when something matches', () => {
		const store = seeded();
		assert.throws(() => store.query({ name: 'area' }).only(), { name: 'RangeError', message: 'Query matched more than one call' });
		assert.throws(() => store.query({ name: 'nope' }).only(), { name: 'RangeError', message: 'Query matched no call' });
		assert.equal(store.query({ name: 'label' }).empty(), false);
		assert.equal(store.query({ name: 'label' }).any()!.result, 'X');
	});

	test('groupby: first-seen order, one group per digest, each group re-iterable', () => {
		const store = seeded();
		const groups = store.query({ name: 'area' }).sorted((c) => c.result).groupby((c) => ({ even: (c.result as number) % 2 === 0 }));
		assert.deepEqual([...groups.keys()], [{ even: false }, { even: true }]);
		const [odd, even] = [...groups.values()];
		assert.deepEqual(odd!.results().sort(), [1, 3]);
		assert.deepEqual(even!.results().sort(), [2, 2, 4, 6]);
		assert.equal(even!.count(), 4, 'again');
	});

	test('latest and oldest: undated calls lose either way, whatever their order', () => {
		const store = memoryStore();
		cache(store, () => {
			meta(new Tags({ t: 1 }), () => area(7, 1));
			meta(new Runtime(), () => area(7, 2));
			meta(new Tags({ t: 2 }), () => area(7, 3));
		});
		const q = store.query({ name: 'area' });
		assert.equal(q.latest().arguments.h, 2);
		assert.equal(q.oldest().arguments.h, 2);
		assert.equal(q.sorted('h', true).latest().arguments.h, 2);
		assert.equal(q.sorted('h', true).oldest().arguments.h, 2);
	});

	test('evict counts only what it removed; transfer with pop from a read-only source copies nothing', () => {
		const store = seeded();
		// The first call is evicted by someone else between the query's listing and its eviction.
		let seen = 0;
		const racing = store.query({ arguments: { w: 2 } }).filter((c) => {
			if (seen++ === 0) store.evict(c.key);
			return true;
		});
		assert.equal(racing.evict(), 1, 'the call evicted meanwhile is not counted');
		assert.equal(store.query({ arguments: { w: 2 } }).count(), 0);
		const readOnly = new ReadOnlyCache(seeded());
		const target = memoryStore();
		assert.throws(() => readOnly.query({ name: 'area' }).transfer(target, { pop: true }), (err: unknown) => Rejected.is(err));
		assert.equal(target.query().count(), 0);
		assert.equal(readOnly.query({ name: 'area' }).transfer(target), 6, 'without pop it copies');
	});

	test('sorted by a key of any kind: one total order by text, null and undefined last', () => {
		const store = memoryStore();
		const keys: unknown[] = [{ z: 1 }, 'm', undefined, Symbol('k'), function zeta() {}, true, null, [3], 7n, 'A', 42];
		cache(store, () => keys.forEach((_, i) => point(i)));
		const order = [...store.query({ name: 'point' }).sorted((c) => keys[c.arguments.p as number])].map((c) => c.arguments.p);
		// By text: '42' < '7' < 'A' < 'Symbol(k)' < '[3]' < 'm' < 'true' < 'zeta' (a function's name) < '{"z":1}' (JSON).
		assert.deepEqual(order.slice(0, 9), [10, 8, 9, 3, 7, 1, 5, 4, 0]);
		assert.deepEqual(order.slice(9).sort(), [2, 6]);
		// Several of a kind, met in no particular order: the comparison is asked both ways round.
		const bigints = [5n, 1n, 9n, 3n, 7n];
		const texts = ['d', 'a', 'e', 'b', 'c'];
		const byIndex = (of: readonly unknown[]) =>
			[...store.query({ name: 'point' }).filter((c) => (c.arguments.p as number) < of.length).sorted((c) => of[c.arguments.p as number])].map((c) => c.arguments.p);
		assert.deepEqual(byIndex(bigints), [1, 3, 0, 4, 2]);
		assert.deepEqual(byIndex(texts), [1, 3, 4, 0, 2]);
	});

	test('messages, racing evictions and errors that must not be swallowed', () => {
		const store = seeded();
		logs.clear();
		assert.equal(store.query({ arguments: { w: Symbol('no digest') } }).count(), 0);
		assert.match(logs.codes('FLECHE_QUERY_INDIGESTIBLE')[0]!.message, /^No hash for query argument: /);
		assert.throws(() => memoryStore().query().latest(), { name: 'RangeError', message: 'Query matched no call' });
		const readOnly = new ReadOnlyCache(seeded());
		assert.throws(() => readOnly.query({ name: 'area' }).evict(), (err: unknown) => Rejected.is(err), 'a refusal is not "already gone"');
		assert.throws(() => readOnly.query({ name: 'area' }).transfer(memoryStore(), { pop: true }), /read-only ReadOnlyCache/);
	});

	test('metadata values of different kinds never match: a string is not an object, null is not an object', () => {
		const store = memoryStore();
		cache(store, () => tags({ s: 'ab', n: null, o: { 0: 'a' } }, () => point('kinds')));
		const only = (filter: Record<string, unknown>) => store.query({ metadata: { tags: filter } as never }).count();
		assert.equal(only({ s: 'ab', n: null, o: { 0: 'a' } }), 1);
		assert.equal(only({ s: { 0: 'a', 1: 'b' } }), 0);
		assert.equal(only({ o: 'a' }), 0);
		assert.equal(only({ n: {} }), 0);
	});

	test('table(): timestamps become Dates, an argument named like a column gets a_, one call shrinks alone', () => {
		const store = memoryStore();
		const batched = fleche((name: string, batch: number) => `${name}${batch}`, { name: 'batched' });
		cache(store, () => meta(new Runtime(), () => tags({ batch: 'tagged' }, () => batched('n', 1))));
		const [row] = store.query().table({ arguments: true, results: true });
		assert.ok(row!.timestart instanceof Date && row!.timestop instanceof Date);
		assert.equal(row!.timestop.getTime() >= row!.timestart.getTime(), true);
		assert.equal(row!.name, 'batched', 'the identity column stays');
		assert.equal(row!.a_name, 'n');
		assert.equal(row!.batch, 'tagged');
		assert.equal(row!.a_batch, 1);
		assert.equal(row!.result, 'n1');
		assert.equal(row!.key, store.shrink(store.query().only().key));
		assert.ok(Math.abs(row!.timestop.getTime() - Date.now()) < 86_400_000, 'seconds became milliseconds');
		assert.equal(typeof row!.cputime, 'number', 'only timestart and timestop become Dates');
		assert.deepEqual(store.query().table(), store.query().table({ arguments: [] }), 'no argument columns unless asked');
		const many = seeded().query({ name: 'area' }).table();
		assert.ok(many.every((r) => r.key.length < 64), 'every row is shrunk, not only the first');
		assert.equal('result' in store.query().table()[0]!, false, 'results only when asked');
		assert.deepEqual(Object.keys(store.query().table({ arguments: ['batch'] })[0]!).filter((k) => k.startsWith('a_')), ['a_batch']);
	});
});
