// docs/behaviour.md §2.4: what a storage key is, how a prefix expands and how far a key shrinks, edge by edge — the
// cases a mutation run of the key module (docs/mutation.md, group `callKey`) showed no other test pinning down.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AmbiguousDigestError, Cache, CallMemory, KeyError, ValueMemory, cache, digest, fleche, recordKey, type FunctionIdentity } from 'fleche';

/** A 64-hex key that starts with `start` and is filled with `fill`: `key('abcd0', '1')` = "abcd0111…1". */
const key = (start: string, fill = '0'): string => start + fill.repeat(64 - start.length);

/** Every ordering of `items`, so that no answer can depend on the order a storage lists its keys in. */
function permutations<T>(items: readonly T[]): T[][] {
	if (items.length <= 1) return [[...items]];
	return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

/** A memory cache holding values under exactly these keys, put in this order. */
function cacheWith(keys: readonly string[]): Cache {
	const values = new ValueMemory();
	for (const k of keys) values.put(k, k);
	return new Cache(values, new CallMemory());
}

const keyError = (message: string) => (err: unknown) => KeyError.is(err) && (err as Error).message === message;
const ambiguous = (message: string) => (err: unknown) => AmbiguousDigestError.is(err) && (err as Error).message === message;

describe('storage keys, edge by edge (docs/behaviour.md §2.4)', () => {
	test('a key that is not a string is refused with a KeyError naming its type, never a TypeError', () => {
		const values = new ValueMemory();
		for (const bad of [null, undefined, 42, { length: 64 }, [key('ab')]]) {
			const label = `${typeof bad} ${JSON.stringify(bad) ?? ''}`;
			assert.throws(() => values.put(bad as never, 1), keyError(`Invalid cache key ${typeof bad}: expected 64 lowercase hex characters`), label);
			assert.throws(() => values.get(bad as never), KeyError, label);
			assert.equal(values.contains(bad as never), false, label);
		}
	});

	test('an invalid key is quoted in the message, cut after 80 characters', () => {
		const values = new ValueMemory();
		const exactly80 = 'x'.repeat(80);
		const longer = `${'y'.repeat(80)}z`;
		assert.throws(() => values.put('../x', 1), keyError('Invalid cache key "../x": expected 64 lowercase hex characters'));
		assert.throws(() => values.put(exactly80, 1), keyError(`Invalid cache key "${exactly80}": expected 64 lowercase hex characters`));
		assert.throws(() => values.put(longer, 1), keyError(`Invalid cache key "${'y'.repeat(80)}…": expected 64 lowercase hex characters`));
	});

	test('a prefix must be a string of at least 4 characters; a number that spells a stored prefix is no prefix', () => {
		const values = new ValueMemory();
		const stored = key('12345');
		values.put(stored, 1);
		assert.equal(values.expand('1234'), stored, '4 characters are enough');
		assert.throws(() => values.expand(12345 as never), keyError('Key prefix 12345 is too short: give at least 4 characters'));
		assert.throws(() => values.expand('123'), keyError('Key prefix "123" is too short: give at least 4 characters'));
		assert.throws(() => values.expand('5678'), keyError('No cache entry matches key prefix 5678'));
		assert.throws(() => values.expand('2345'), KeyError, 'a prefix matches the start, not the middle');
		assert.throws(() => values.expand('0000'), KeyError, 'nor the end');
	});

	test('an ambiguous prefix names the length that tells its two smallest matches apart, whatever the listing order', () => {
		// The two smallest matches share "abcd00"; the largest shares only "abcd" with them.
		const keys = [key('abcd1', '1'), key('abcd01', '1'), key('abcd00', '1')];
		for (const order of permutations(keys)) {
			const values = new ValueMemory();
			for (const k of order) values.put(k, k);
			assert.throws(() => values.expand('abcd'), ambiguous('Short digest abcd is ambiguous; need at least 6 characters.'), order.join(' '));
			assert.throws(() => values.expand('abcd0'), ambiguous('Short digest abcd0 is ambiguous; need at least 6 characters.'), order.join(' '));
			assert.equal(values.expand('abcd1'), keys[0]);
			assert.equal(values.expand('abcd01'), keys[1]);
		}
	});

	test('shrink: one more character than the longest prefix shared with the neighbours before and after', () => {
		const a = key('abcdef1');
		const b = key('abcdef2');
		const c = key('abcdef21');
		const d = key('abce');
		const e = key('ffff');
		for (const order of permutations([a, b, c, d, e])) {
			const store = cacheWith(order);
			const label = order.map((k) => k.slice(0, 8)).join(' ');
			// a: its neighbour after shares 6. b: before shares 6, after shares 7. c: before shares 7, after 3.
			// d: before shares 3, after 0: the minimum of 4. e: nothing after it, nothing shared before it.
			assert.deepEqual(store.shrink(a, b, c, d, e), ['abcdef1', 'abcdef20', 'abcdef21', 'abce', 'ffff'], label);
			assert.equal(store.shrink(c), 'abcdef21', label);
		}
	});

	test('shrink of a lone key, of the first and of the last of many', () => {
		assert.equal(cacheWith([key('0123')]).shrink(key('0123')), '0123');
		const keys = Array.from({ length: 20 }, (_, i) => key(i.toString(16).padStart(2, '0') + 'aaaaa'));
		const store = cacheWith([...keys].reverse());
		assert.deepEqual(
			store.shrink(...keys),
			keys.map((k) => k.slice(0, 4)),
		);
	});

	test('shrink of a key not held, and of a key no prefix can tell apart from another, are errors', () => {
		const a = key('abcd', '1');
		const b = `${a.slice(0, 63)}2`;
		const store = cacheWith([b, a, key('ffff')]);
		assert.throws(() => store.shrink(key('0000')), keyError(`No cache entry for key ${key('0000')}`));
		assert.throws(() => store.shrink(key('ffff', '1')), KeyError, 'a key past the last one held');
		assert.throws(() => store.shrink(a), AmbiguousDigestError, 'a and b differ only in the last character');
		assert.throws(() => store.shrink(b), AmbiguousDigestError);
		assert.equal(store.shrink(key('ffff')), 'ffff');
	});

	test('a storage whose prefixes come from an index is asked key by key, and shrinks exactly as a listing does', () => {
		/** The same memory storage, saying that its `expand` reads an index: `shrink` asks it instead of listing it. */
		class IndexedValues extends ValueMemory {
			readonly expandsByIndex = true;
			listed = 0;
			override list(): string[] {
				this.listed++;
				return super.list();
			}
		}
		const held = [
			key('abcd', '1'),
			key('abcd1', '2'),
			key('abcd12', '3'),
			key('abce'),
			key('ffff'),
			key('fffe', 'f'),
			key('0123456789', 'a'),
			key('012345678', 'b'),
		];
		const b = `${held[0]!.slice(0, 63)}2`;
		const indexedCache = (keys: readonly string[]): [Cache, IndexedValues] => {
			const values = new IndexedValues();
			for (const k of keys) values.put(k, k);
			return [new Cache(values, new CallMemory()), values];
		};
		const [indexed, values] = indexedCache(held);
		const shrunk = indexed.shrink(...held);
		assert.deepEqual(shrunk, cacheWith(held).shrink(...held));
		assert.deepEqual(shrunk.slice(0, 3), ['abcd11', 'abcd122', 'abcd123'], 'one more than the longest prefix shared');
		assert.deepEqual(
			held.map((k) => indexed.shrink(k)),
			shrunk,
		);
		assert.equal(values.listed, 0, 'the indexed storage is never listed');
		assert.throws(() => indexed.shrink(key('0000')), keyError(`No cache entry for key ${key('0000')}`));
		const [close] = indexedCache([held[0]!, b]);
		assert.throws(() => close.shrink(b), AmbiguousDigestError, 'b and the first key differ only in the last character');
	});
});

describe('call keys repeated in a process (docs/behaviour.md §2.2)', () => {
	// A process remembers the keys of calls that hit (the next call skips hashing its key text): whatever it
	// remembers, and however much it forgot, a key must be the hash of its call's text, never another call's key.
	test("every key is its text's, for calls repeated far apart, past what a process remembers", () => {
		const add = fleche((a: number, b: number) => a + b, { name: 'add', module: 'keys' });
		const expected = (a: number, b: number) => recordKey({ ...add.fleche.identity, arguments: { a: digest(a), b: digest(b) } });
		const c = new Cache(new ValueMemory(), new CallMemory());
		cache(c, () => {
			// 3 passes over 12,000 calls, each a hit after the first pass: more than a process remembers, so later
			// passes meet both remembered and forgotten keys.
			for (let pass = 0; pass < 3; pass++) {
				for (let i = 0; i < 12_000; i++) {
					if (add(i, 1) !== i + 1) assert.fail(`pass ${pass}, call ${i}: wrong result`);
					const key = add.fleche.digest(i, 1);
					if (key !== expected(i, 1)) assert.fail(`pass ${pass}, call ${i}: ${key}`);
				}
			}
			assert.equal([...c.calls.list()].length, 12_000);
		});
	});

	test("functions with the same arguments, and calls whose arguments extend another's, keep their own keys", () => {
		const mul = fleche((a: number, b: number) => a * b, { name: 'mul', module: 'keys' });
		const sub = fleche((a: number, b: number) => a - b, { name: 'sub', module: 'keys' });
		// Arguments past the declared ones are keyed as #1, #2, …: count(1), count(1, 2) and count(1, 2, 3) have three
		// keys, the digests of each call's arguments starting with those of the one before.
		const count = fleche(
			function count(a: number) {
				return arguments.length * 10 + a;
			},
			{ name: 'count', module: 'keys' },
		);
		const extra = count as unknown as ((...args: number[]) => number) & { fleche: { digest(...args: number[]): string } };
		const key = (f: { fleche: { identity: FunctionIdentity } }, args: Record<string, string>) => recordKey({ ...f.fleche.identity, arguments: args });
		cache(new Cache(new ValueMemory(), new CallMemory()), () => {
			for (let round = 0; round < 3; round++) {
				// A miss the first round, hits after: the keys of hits are the ones remembered.
				assert.deepEqual([mul(1, 2), sub(1, 2), extra(1, 2, 3), extra(1, 2), extra(1)], [2, -1, 31, 21, 11]);
				assert.equal(mul.fleche.digest(1, 2), key(mul, { a: digest(1), b: digest(2) }));
				assert.equal(sub.fleche.digest(1, 2), key(sub, { a: digest(1), b: digest(2) }));
				assert.notEqual(mul.fleche.digest(1, 2), sub.fleche.digest(1, 2));
				assert.equal(extra.fleche.digest(1, 2, 3), key(count, { a: digest(1), '#1': digest(2), '#2': digest(3) }));
				assert.equal(extra.fleche.digest(1, 2), key(count, { a: digest(1), '#1': digest(2) }));
				assert.equal(extra.fleche.digest(1), key(count, { a: digest(1) }));
			}
		});
	});
});
