// docs/behaviour.md §12 (`fleche/inspect` at scale): the function list and the pages of calls that the file store's
// summary index and the SQL store's own queries (GROUP BY, ORDER BY … LIMIT) answer, checked against the records
// themselves on stores of a few thousand calls: every call on exactly one page, newest first, ties by key, calls
// without a creation time last, counts and versions right.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Cache, CallFile, CallSql, ValueFile, cache, fleche, meta, Runtime, type CallRecord } from 'fleche';
import { openStore, type Store } from 'fleche/inspect';
import { tmpDir } from '../support/tmp.ts';

process.env['FLECHE_INDEX_DIR'] = tmpDir();

const PER_FUNCTION = 1200;

const work = fleche((i: number) => i * 2, { name: 'work', module: 'src/paging.ts' });
const other = fleche((i: number) => `x${i}`, { name: 'other', module: 'src/paging.ts', version: 2 });
const sameName = fleche((i: number) => -i, { name: 'work', module: 'src/elsewhere.ts' });

/**
 * Fills `c`: `work` with Runtime metadata (many calls share a millisecond, so ties are ordered by key) and a tail
 * without metadata (no creation time), `other` and a second `work` in another module.
 */
function fill(c: Cache): void {
	cache(c, () => {
		{
			using _ = meta(new Runtime());
			for (let i = 0; i < PER_FUNCTION; i++) work(i);
			for (let i = 0; i < 300; i++) other(i);
		}
		using _none = meta([]);
		for (let i = PER_FUNCTION; i < PER_FUNCTION + 100; i++) work(i);
		for (let i = 0; i < 50; i++) sameName(i);
	});
}

function created(record: CallRecord): number | null {
	const runtime = record.metadata['runtime'] as { timestop?: unknown } | undefined;
	return typeof runtime?.timestop === 'number' ? runtime.timestop : null;
}

/** Every page of `fn`, `limit` calls at a time. */
function allPages(store: Store, fn: { module: string | null; name: string }, limit: number): { keys: string[]; totals: Set<number> } {
	const keys: string[] = [];
	const totals = new Set<number>();
	for (let offset = 0; ; offset += limit) {
		const page = store.calls(fn, { offset, limit });
		totals.add(page.total);
		assert.ok(page.calls.length <= limit);
		for (const call of page.calls) {
			assert.equal(call.name, fn.name);
			assert.equal(call.module, fn.module);
		}
		keys.push(...page.calls.map((call) => call.key));
		if (page.calls.length < limit) break;
	}
	return { keys, totals };
}

function checkStore(store: Store, records: readonly CallRecord[], createdOf: (record: CallRecord) => number | null): void {
	const fns = store.functions();
	assert.deepEqual(
		fns.map((f) => [f.module, f.name, f.calls, f.versions]),
		[
			['src/elsewhere.ts', 'work', 50, [null]],
			['src/paging.ts', 'other', 300, [2]],
			['src/paging.ts', 'work', PER_FUNCTION + 100, [null]],
		],
	);
	assert.equal(store.totals().calls, records.length);
	for (const fn of fns) {
		const mine = records.filter((r) => r.module === fn.module && r.name === fn.name);
		// Newest first, unknown creation times last, ties by key: what every page must follow.
		const expected = mine
			.map((r) => [createdOf(r), r.key] as const)
			.sort((a, b) => (a[0] === null ? (b[0] === null ? 0 : 1) : b[0] === null ? -1 : b[0] - a[0]) || (a[1] < b[1] ? -1 : 1))
			.map(([, key]) => key);
		for (const limit of [1000, 97]) {
			const { keys, totals } = allPages(store, fn, limit);
			assert.deepEqual([...totals], [mine.length], 'every page gives the same total');
			assert.equal(new Set(keys).size, keys.length, 'no call on two pages');
			assert.deepEqual(keys, expected, `pages of ${limit}: every call once, newest first, ties by key`);
		}
		assert.deepEqual(store.calls(fn, { offset: mine.length + 5, limit: 10 }).calls, []);
	}
}

describe('fleche/inspect paging at a few thousand calls', () => {
	test('file store: summary index pages are complete and ordered', (t) => {
		const root = tmpDir(t);
		const calls = new CallFile({ root: join(root, 'calls') });
		fill(new Cache(new ValueFile({ root: join(root, 'values') }), calls));
		const records = [...calls.records()];
		const store = openStore(root);
		t.after(() => store.close());
		// Without Runtime metadata a file call's creation time is its record file's mtime (docs/behaviour.md §12).
		const kind = (key: string): number => store.call(key).created!;
		checkStore(store, records, (r) => created(r) ?? kind(r.key));
	});

	test('SQL store: the database sorts and cuts the pages, complete and ordered', (t) => {
		const root = tmpDir(t);
		const calls = new CallSql({ path: join(root, 'calls.db') });
		t.after(() => calls.close());
		fill(new Cache(new ValueFile({ root: join(root, 'values') }), calls));
		calls.flush();
		const records = calls.records();
		assert.equal(records.length, PER_FUNCTION + 100 + 300 + 50);
		const store = openStore(root);
		t.after(() => store.close());
		checkStore(store, records, created);
		// Evicted calls leave the pages and the counts at once.
		const fn = { module: 'src/paging.ts', name: 'other' };
		const first = store.calls(fn, { limit: 3 }).calls.map((c) => c.key);
		assert.equal(store.evict(first), 3);
		assert.equal(store.calls(fn).total, 297);
		assert.equal(store.functions().find((f) => f.name === 'other')!.calls, 297);
		assert.ok(!store.calls(fn, { limit: 1000 }).calls.some((c) => first.includes(c.key)));
		assert.equal(store.evictFunction(fn), 297);
		assert.deepEqual(
			store.functions().map((f) => f.name),
			['work', 'work'],
		);
	});
});

describe('CallFile.records({ name }) through the summary index', () => {
	test('reads only the named function, and stays exact as calls are written, replaced and evicted', (t) => {
		const root = tmpDir(t);
		const values = new ValueFile({ root: join(root, 'values') });
		const calls = new CallFile({ root: join(root, 'calls') });
		const c = new Cache(values, calls);
		const names = (name: string): string[] => [...calls.records({ name })].map((r) => r.key).sort();
		const truth = (name: string): string[] =>
			[...calls.records()]
				.filter((r) => r.name === name)
				.map((r) => r.key)
				.sort();
		cache(c, () => {
			for (let i = 0; i < 40; i++) work(i);
			for (let i = 0; i < 10; i++) other(i);
		});
		assert.equal(names('work').length, 40);
		assert.deepEqual(names('other'), truth('other'));
		// Written, evicted and replaced behind the first query's back, in the same synchronous run (no watch event
		// delivered yet): the next query still sees exactly what is there.
		cache(c, () => {
			for (let i = 40; i < 45; i++) work(i);
			work.fleche.rerun(3);
		});
		c.evict(work.fleche.digest(0));
		assert.deepEqual(names('work'), truth('work'));
		assert.equal(names('work').length, 44);
		// Another instance (a new process) starts from the index persisted by the first, verified against the folder.
		const again = new CallFile({ root: join(root, 'calls') });
		cache(c, () => work(99));
		assert.deepEqual([...again.records({ name: 'work' })].map((r) => r.key).sort(), truth('work'));
		assert.deepEqual([...again.records({ name: 'nothing' })], []);
	});
});
