// docs/behaviour.md §1.2: the Digest value, D(), hex checks and digest hooks, edge by edge — the cases a mutation run
// of digest.ts (docs/mutation.md, group `digest`) showed no other test pinning down.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { addHook, cache, D, Digest, digest, DIGEST_LENGTH, digestSymbol, Indigestible, isHexDigest, removeHook } from 'fleche';
import { memoryStore } from '../support/stores.ts';

/** The SHA-256 (lowercase hex) of a text or of bytes: what the digest scheme hashes its encodings with. */
const sha = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
/** `txt(s)` of the digest scheme (digest.ts): `<length>:<s>` for well-formed text. */
const txt = (t: string): string => `${t.length}:${t}`;

const full = digest('some value');

describe('Digest and D(), edge by edge', () => {
	test('isHexDigest: exactly 64 lowercase hex characters, and only a string', () => {
		assert.equal(DIGEST_LENGTH, 64);
		assert.equal(isHexDigest(full), true);
		assert.equal(isHexDigest(full.toUpperCase()), false);
		assert.equal(isHexDigest(full.slice(1)), false);
		assert.equal(isHexDigest(`${full}0`), false);
		assert.equal(isHexDigest(`${full.slice(1)}g`), false);
		assert.equal(isHexDigest(['a'.repeat(64)] as never), false);
		// Not a string, however much it looks like one: 64 long, and its text a digest.
		assert.equal(isHexDigest({ length: 64, toString: () => full } as never), false);
	});

	test('new Digest: 1 to 64 hex characters of any case, kept lowercase; anything else a TypeError saying what it got', () => {
		assert.equal(new Digest('ABC123').hex, 'abc123');
		assert.equal(new Digest('f').hex, 'f');
		assert.equal(new Digest(full.toUpperCase()).hex, full);
		const refused: [unknown, string][] = [
			['', '""'],
			['xyz', '"xyz"'],
			[`${full}0`, JSON.stringify(`${full}0`)],
			[' ab', '" ab"'],
			[42, 'number'],
			[null, 'object'],
		];
		for (const [bad, shown] of refused) {
			assert.throws(() => new Digest(bad as string), { name: 'TypeError', message: `A Digest is 1 to 64 hex characters, got ${shown}` }, String(bad));
		}
	});

	test('a Digest reads as its hex: in templates, in JSON and in the inspector', () => {
		const d = new Digest('AB');
		// eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- interpolating a Digest is what is tested
		assert.equal(`${d}`, 'ab');
		assert.equal(String(d), 'ab');
		assert.equal(JSON.stringify({ k: d }), '{"k":"ab"}');
		assert.equal(inspect(d), 'Digest(ab)');
		assert.deepEqual(Object.keys(d), ['hex'], 'the brand is on the prototype, not on each instance');
	});

	test('Digest.is: by brand; a Proxy that throws is no Digest, and no error', () => {
		assert.equal(Digest.is(D('ab')), true);
		assert.equal(Digest.is({ [Symbol.for('fleche.Digest')]: true, hex: 'ab' }), true);
		assert.equal(Digest.is({ [Symbol.for('fleche.Digest')]: 'yes', hex: 'ab' }), false, 'the brand is exactly true');
		assert.equal(Digest.is(undefined), false);
		assert.equal(Digest.is(Object.assign(() => full, { [Symbol.for('fleche.Digest')]: true, hex: full })), false, 'a function is no Digest');
		assert.equal(Digest.is('ab'), false);
		const { proxy, revoke } = Proxy.revocable({}, {});
		revoke();
		assert.equal(Digest.is(proxy), false);
		const throwing = new Proxy(
			{},
			{
				get() {
					throw new Error('no reading me');
				},
			},
		);
		assert.equal(Digest.is(throwing), false);
	});

	test('D(): a Digest as is, a hex string verbatim, anything else (the empty string too) digested', () => {
		const d = new Digest('abc');
		assert.equal(D(d), d);
		assert.equal(D('ABC').hex, 'abc');
		assert.equal(D(full).hex, full);
		assert.equal(D('xyz').hex, digest('xyz'));
		assert.equal(D('').hex, digest(''));
		assert.equal(D(`${full}0`).hex, digest(`${full}0`), '65 hex characters are a string, not a digest');
		assert.equal(D(12).hex, digest(12));
		assert.equal(digest(D(['x', 1])), digest(['x', 1]));
	});

	test('expand() and shrink(): on a given cache or the active one; a prefix is expanded before shrinking', () => {
		const store = memoryStore();
		const key = store.saveValue('held');
		assert.equal(D(key.slice(0, 10)).expand(store).hex, key);
		assert.equal(D(key.slice(0, 10)).shrink(store).hex, store.shrink(key));
		assert.equal(D(key).shrink(store).hex, store.shrink(key));
		cache(store, () => {
			assert.equal(D(key.slice(0, 6)).expand().hex, key);
			assert.equal(D(key.slice(0, 6)).shrink().hex, store.shrink(key));
		});
		assert.equal(Digest.is(D(key).expand(store)), true);
	});
});

describe('digest hooks, edge by edge', () => {
	test('addHook refuses what is not a class or not a function', () => {
		assert.throws(() => addHook('Date' as never, () => 1), { name: 'TypeError', message: 'addHook(Class, fn): Class must be a class or constructor' });
		assert.throws(() => addHook(Date, 'iso' as never), { name: 'TypeError', message: 'addHook(Class, fn): fn must be a function' });
	});

	test('the newest hook that matches wins, whichever class is more specific; registering again replaces', () => {
		class Shape {
			constructor(readonly sides: number) {}
		}
		class Square extends Shape {}
		const plain = digest(new Square(4));
		try {
			addHook(Shape, () => 'shape hook');
			const byShape = digest(new Square(4));
			assert.equal(digest(new Square(5)), byShape, 'the hook decides, not the fields');
			removeHook(Shape);
			addHook(Square, () => 'square hook');
			const bySquare = digest(new Square(4));
			assert.notEqual(bySquare, byShape);
			addHook(Shape, () => 'shape hook');
			assert.equal(digest(new Square(4)), byShape, 'the newer Shape hook is asked first');
			addHook(Square, () => 'square hook');
			assert.equal(digest(new Square(4)), bySquare, 'registering Square again puts it first');
			addHook(Square, () => 'square hook, second version');
			const second = digest(new Square(4));
			assert.ok(second !== bySquare && second !== byShape, 'the second registration replaced the first');
			assert.equal(removeHook(Square), true);
			assert.equal(digest(new Square(4)), byShape, 'only the Shape hook is left');
			assert.equal(removeHook(Square), false, 'one registration per class');
		} finally {
			removeHook(Square);
			removeHook(Shape);
		}
		assert.equal(digest(new Square(4)), plain);
	});
});

describe('digest(): fixed encodings, and nothing left behind by a failure', () => {
	test('false, zero and strings that UTF-8 cannot carry have fixed digests (cache keys must not change between versions)', () => {
		assert.equal(digest(false), sha('false'));
		assert.equal(digest(true), sha('true'));
		assert.equal(digest(0), sha('n:0'));
		assert.equal(digest(-0), sha('n:-0'));
		assert.equal(digest(''), sha('s:'));
		// A lone surrogate: its JSON text, under a prefix of its own (a well-formed string's is `s:`).
		assert.equal(digest('\uD800'), sha('su:"\\ud800"'));
		assert.equal(digest('a\uDC00b'), sha('su:"a\\udc00b"'));
		// The same inside an object's key and an array, pinned: if these change, keys of such calls change.
		assert.equal(digest({ ['\uD800']: 1 }), '5ff69ebb07fd59421fcc14e98074a8bda07ba44ab4e1527fbbb131f5eea014f1');
		assert.equal(digest(['\uDFFF']), 'dcb3ca7c2835a76a58987cf5bbb9773c5969c8a8dd3d55611d13512e6d3d6408');
	});

	test('buffers, URLs, boxed primitives and Array subclasses digest as the scheme at the top of digest.ts says', () => {
		const three = new Uint8Array([1, 2, 3]);
		assert.equal(digest(three.slice().buffer), sha('AB:3:' + sha(three)));
		const shared = new SharedArrayBuffer(3);
		new Uint8Array(shared).set(three);
		assert.equal(digest(shared), sha('SAB:3:' + sha(three)));
		assert.equal(digest(new DataView(three.slice().buffer)), sha('V:3:' + sha(three)));
		const href = 'https://example.com/a?b=1';
		assert.equal(digest(new URL(href)), sha('U:' + txt(href)));
		assert.equal(digest(new URLSearchParams('b=1&a=2')), sha('Q:' + txt('b=1&a=2')));
		for (const p of [1, 's', true, 5n]) assert.equal(digest(Object(p)), sha('X:' + digest(p)), `boxed ${typeof p}`);
		class Row extends Array<number> {}
		assert.equal(digest(Row.from([1, 2])), sha('a~' + txt('Row') + ':' + digest(1) + ',' + digest(2) + ','));
		assert.equal(digest(Object.assign(Object.create(null) as object, { a: 1 })), digest({ a: 1 }), 'no prototype: a plain object');
		// A big typed array met twice in one value is read once, and digests the same both times.
		const big = new Uint8Array(1 << 16);
		big[5] = 7;
		const h = sha('T:Uint8Array:65536:' + sha(big));
		assert.equal(digest(big), h);
		assert.equal(digest([big, big]), sha(`a:${h},${h},`));
		big[6] = 1;
		assert.notEqual(digest([big, big]), sha(`a:${h},${h},`), 'remembered within one digest only');
	});

	test('cycles have fixed digests, and neither a Map in a cycle nor an Error depends on the order of its entries', () => {
		// A self-reference: the cycle entered at its only member, `^0` standing for the member itself.
		const self: Record<string, unknown> = { n: 1 };
		self['me'] = self;
		assert.equal(digest(self), sha('G:' + sha(`o:${txt('me')}=^0,${txt('n')}=${digest(1)},`)));
		// Pinned: if these change, the keys of calls with such arguments change.
		const a: Record<string, unknown> = { name: 'a' };
		const b: Record<string, unknown> = { name: 'b', next: a };
		a['next'] = b;
		assert.equal(digest(a), '7bf1ddad2a941ce826a393af44ae1262694623b5b4fb5d0e7e719f423fd92406');
		assert.equal(digest(b), '9ab35c42f63d18d516f3e1f0abee9d67ea7d22fa6fb95945223d5367fb705ca2');
		const list: unknown[] = [1];
		list.push(list);
		assert.equal(digest(list), '9a26aa58b426ca378eddcb61989de4ec0e468b8d41cafe67331a41fc76bcef33');
		const set = new Set<unknown>();
		set.add(set);
		assert.equal(digest(set), '2c71d5da9ef89f78b5cc4dee3fb9a64102e6f385828f0c2980d9fa6d9b1b471a');
		assert.equal(digest({ outer: [self, a] }), 'f8896b5fac8218ce98bd9640745c492b27ac5edd1bf69d7fb54fbdaf23ce74f8');
		// Sharing inside a cycle is visible: a→b→a is not a→b→a'→b'→a.
		const [a2, b2, a3, b3] = [{ name: 'a' }, { name: 'b' }, { name: 'a' }, { name: 'b' }] as Record<string, unknown>[];
		[a2!['next'], b2!['next'], a3!['next'], b3!['next']] = [b2, a3, b3, a2];
		assert.notEqual(digest(a2), digest(a));
		// A Map whose values reach it again: its values are visited in key-digest order, whatever the order they were set.
		const cyclicMap = (order: readonly string[]): Map<string, unknown> => {
			const m = new Map<string, unknown>();
			const values: Record<string, unknown> = { k1: { m, v: 1 }, k2: { m, v: 2 }, k3: { m, v: 3 } };
			for (const k of order) m.set(k, values[k]);
			return m;
		};
		const first = digest(cyclicMap(['k1', 'k2', 'k3']));
		for (const order of [
			['k2', 'k1', 'k3'],
			['k3', 'k2', 'k1'],
			['k2', 'k3', 'k1'],
		])
			assert.equal(digest(cyclicMap(order)), first, order.join());
		// An Error's own fields are sorted like an object's.
		const e1 = Object.assign(new Error('m'), { a: 1, b: 2 });
		const e2 = Object.assign(new Error('m'), { b: 2, a: 1 });
		e2.stack = e1.stack!;
		assert.equal(digest(e1), digest(e2));
		assert.notEqual(digest(e1), digest(Object.assign(new Error('m'), { a: 1, b: 3, stack: e1.stack })));
	});

	test('a digest that fails part-way leaves nothing behind: the same values digest as they did before', () => {
		const cyclic: Record<string, unknown> = { n: 1 };
		cyclic['self'] = cyclic;
		const nested = { o: { x: 1 }, list: [{ y: 2 }, { y: 2 }] };
		const before = [digest(cyclic), digest(nested)];
		// A cycle holding a function is refused part-way through its cycle.
		const bad: Record<string, unknown> = { a: 1 };
		bad['self'] = bad;
		bad['f'] = () => 1;
		assert.throws(() => digest(bad));
		assert.throws(() => digest([bad, { z: () => 2 }]));
		assert.deepEqual([digest(cyclic), digest(nested)], before);
		// An object changed between two digests is digested anew, not remembered from the last one: small ones, and
		// subtrees big enough to be remembered within one digest.
		nested.o.x = 2;
		assert.notEqual(digest(nested), before[1]);
		nested.o.x = 1;
		assert.equal(digest(nested), before[1]);
		const big = { rows: Array.from({ length: 50 }, (_v, i) => ({ i, tags: ['a', 'b', { deep: [i, i + 1] }] })) };
		const bigBefore = digest(big);
		(big.rows[7]!.tags[2] as { deep: number[] }).deep[1] = -1;
		assert.notEqual(digest(big), bigBefore);
		// Refused after a member of the cycle (y) had finished: y, digested next, is not taken for part of that cycle.
		const x: Record<string, unknown> = { z: () => 1 };
		const y = { back: x };
		x['a'] = y;
		assert.throws(() => digest(x), Indigestible);
		delete x['z'];
		const [x2, y2] = [{} as Record<string, unknown>, { back: {} as unknown }];
		[x2['a'], y2.back] = [y2, x2];
		assert.deepEqual([digest(y), digest([y, x])], [digest(y2), digest([y2, x2])]);
		// The refused cycle, its function taken out, digests as the same cycle made afresh.
		delete bad['f'];
		const fresh: Record<string, unknown> = { a: 1 };
		fresh['self'] = fresh;
		assert.equal(digest(bad), digest(fresh));
	});
});

describe('digest(): every refusal word for word, with the path to the value refused (docs/behaviour.md §2.3)', () => {
	// What a user reads when an argument cannot be keyed: what the value is, where it sits, and what to do instead.
	const advice = {
		consume: 'reading it would consume it; pass an array instead, or register a digest with addHook()',
		enumerate: 'its entries cannot be enumerated, or register a digest with addHook()',
		symbol: 'symbols have no content that is stable across processes',
		fn: "pass a fleche function or give it a [Symbol.for('fleche.digest')]() method",
	};
	class Klass {}
	const nested = (depth: number, leaf: unknown): unknown[] => {
		const root: unknown[] = [];
		let cur = root;
		for (let i = 0; i < depth - 1; i++) {
			const next: unknown[] = [];
			cur.push(next);
			cur = next;
		}
		cur.push(leaf);
		return root;
	};
	const longPath = (n: number) => `${'[0]'.repeat(20)}…(${n - 30} more)…${'[0]'.repeat(10)}`;
	const withError = Object.assign(new Error('m'), { extra: Symbol('q') });
	const throwsString = {
		get y(): number {
			// eslint-disable-next-line @typescript-eslint/only-throw-error -- user code may throw anything, a string included
			throw 'plain';
		},
	};
	const cases: [string, unknown, string, string][] = [
		['a symbol in an object in an array', { a: [1, { b: Symbol('x') }] }, '.a[1].b', `Cannot digest a symbol at .a[1].b: ${advice.symbol}`],
		[
			'a Promise under a string key of a Map',
			new Map([['k', Promise.resolve(1)]]),
			'.get("k")',
			'Cannot digest a Promise at .get("k"): await it first and pass the result, or register a digest with addHook()',
		],
		['a WeakMap under a bigint key', new Map([[5n, new WeakMap()]]), '.get(5n)', `Cannot digest a WeakMap at .get(5n): ${advice.enumerate}`],
		['a WeakSet under a boolean key', new Map([[true, new WeakSet()]]), '.get(true)', `Cannot digest a WeakSet at .get(true): ${advice.enumerate}`],
		[
			'a WeakRef under a null key',
			new Map([[null, new WeakRef({})]]),
			'.get(null)',
			'Cannot digest a WeakRef at .get(null): its target can vanish at any time, or register a digest with addHook()',
		],
		['a FinalizationRegistry', [new FinalizationRegistry(() => {})], '[0]', `Cannot digest a FinalizationRegistry at [0]: ${advice.enumerate}`],
		['a symbol under an object key', new Map([[{}, Symbol('v')]]), '.get(<key #0>)', `Cannot digest a symbol at .get(<key #0>): ${advice.symbol}`],
		['a symbol as a Map key', new Map([[Symbol('s'), 1]]), '.keys()[0]', `Cannot digest a symbol at .keys()[0]: ${advice.symbol}`],
		[
			'a symbol in a Set in a Map',
			new Map([['s', new Set([2, Symbol('t')])]]),
			'.get("s").values()[1]',
			`Cannot digest a symbol at .get("s").values()[1]: ${advice.symbol}`,
		],
		['a key that is not an identifier', { 'a b': new WeakSet() }, '["a b"]', `Cannot digest a WeakSet at ["a b"]: ${advice.enumerate}`],
		['a field of an Error', { e: withError }, '.e.extra', `Cannot digest a symbol at .e.extra: ${advice.symbol}`],
		['a named function in a Set', new Set([1, function named() {}]), '.values()[1]', `Cannot digest a function (named) at .values()[1]: ${advice.fn}`],
		['a class', [Klass], '[0]', `Cannot digest a class (Klass) at [0]: ${advice.fn}`],
		['an anonymous function', [[() => 1][0]], '[0]', `Cannot digest a function at [0]: ${advice.fn}`],
		['an array iterator (an article for a vowel)', { it: [1].values() }, '.it', `Cannot digest an Array Iterator at .it: ${advice.consume}`],
		['a string iterator, at the top', 'ab'[Symbol.iterator](), '', `Cannot digest a String Iterator: ${advice.consume}`],
		['a Map iterator', new Map([[1, 2]]).entries(), '', `Cannot digest a Map Iterator: ${advice.consume}`],
		['a Set iterator', new Set([1]).values(), '', `Cannot digest a Set Iterator: ${advice.consume}`],
		['a RegExp string iterator', 'ab'.matchAll(/a/g), '', `Cannot digest a RegExp String Iterator: ${advice.consume}`],
		['a generator', { g: (function* () {})() }, '.g', `Cannot digest a Generator at .g: ${advice.consume}`],
		['an async generator', { g: (async function* () {})() }, '.g', `Cannot digest an AsyncGenerator at .g: ${advice.consume}`],
		[
			'a Blob',
			{ b: new Blob(['x']) },
			'.b',
			'Cannot digest a Blob at .b: its bytes are only readable asynchronously; pass await blob.arrayBuffer() instead, or register a digest with addHook()',
		],
		[
			'a File',
			{ f: new File(['x'], 'x.txt') },
			'.f',
			'Cannot digest a File at .f: its bytes are only readable asynchronously; pass await file.arrayBuffer() instead, or register a digest with addHook()',
		],
		// prettier-ignore
		['a getter that throws an Error', { get x(): number { throw new TypeError('nope'); } }, '.x', 'Cannot digest the value at .x: reading it threw TypeError: nope'],
		['a getter that throws a string', throwsString, '.y', 'Cannot digest the value at .y: reading it threw plain'],
		// prettier-ignore
		['a getter that throws what cannot be printed', { get z(): number { throw Object.create(null); } }, '.z', 'Cannot digest the value at .z: reading it threw an unprintable value'],
		[
			'a symbol 5,001 levels deep: the path keeps its two ends',
			nested(5001, Symbol('end')),
			longPath(5001),
			`Cannot digest a symbol at ${longPath(5001)}: ${advice.symbol}`,
		],
		['a boxed symbol', [Object(Symbol('s'))], '[0]', `Cannot digest a symbol at [0]: ${advice.symbol}`],
		[
			"a symbol as an Error's name",
			{ e: Object.assign(new Error('m'), { name: Symbol('n') }) },
			'.e.name',
			`Cannot digest a symbol at .e.name: ${advice.symbol}`,
		],
		[
			"a symbol as an Error's message",
			{ e: Object.assign(new Error('m'), { message: Symbol('m') }) },
			'.e.message',
			`Cannot digest a symbol at .e.message: ${advice.symbol}`,
		],
		[
			'a symbol 40 levels deep: the whole path, up to 40 steps',
			nested(40, Symbol('end')),
			'[0]'.repeat(40),
			`Cannot digest a symbol at ${'[0]'.repeat(40)}: ${advice.symbol}`,
		],
		[
			'a symbol under a Map key that is a function with a digest method',
			new Map([[Object.assign(() => 1, { [digestSymbol]: () => 'key' }), Symbol('v')]]),
			'.get(<key #0>)',
			`Cannot digest a symbol at .get(<key #0>): ${advice.symbol}`,
		],
		['a function whose name is not text', { f: Object.defineProperty(() => 1, 'name', { value: 42 }) }, '.f', `Cannot digest a function at .f: ${advice.fn}`],
		[
			'a function whose body mentions a class',
			{
				f: function named(): string {
					return 'class x';
				},
			},
			'.f',
			`Cannot digest a function (named) at .f: ${advice.fn}`,
		],
		[
			'a function whose name cannot be read (a Proxy)',
			{
				f: new Proxy(function hidden() {}, {
					get: (target, key) => {
						if (key === 'name') throw new Error('no');
						return Reflect.get(target, key) as unknown;
					},
				}),
			},
			'.f',
			`Cannot digest a function at .f: ${advice.fn}`,
		],
		[
			'a getter that throws an Error printing itself otherwise',
			{
				get x(): number {
					throw Object.assign(new RangeError('far'), { toString: () => 'custom text' });
				},
			},
			'.x',
			'Cannot digest the value at .x: reading it threw RangeError: far',
		],
		[
			'a value nested more than 100,000 levels deep',
			nested(100_002, 1),
			longPath(100_000),
			`Cannot digest a value nested more than 100000 levels deep at ${longPath(100_000)} (an endlessly generated structure?); give the outer object a [Symbol.for('fleche.digest')]() method`,
		],
	];
	test('a Digest made by another copy of the package stands for its hex, lowercased; a malformed one is refused', () => {
		// Another copy (another version, the CommonJS build) brands its Digests with the same registered symbol.
		const foreign = (hex: unknown) => ({ [Symbol.for('fleche.Digest')]: true, hex });
		assert.equal(digest(foreign('abc123')), 'abc123');
		assert.equal(digest(foreign('ABC123')), 'abc123');
		assert.equal(digest([foreign('f'.repeat(64))]), sha(`a:${'f'.repeat(64)},`));
		for (const bad of ['zz12', 'ab-c', 'abc\n', '', 'a'.repeat(65), 42]) {
			assert.throws(
				() => digest({ d: foreign(bad) }),
				{
					message: 'Cannot digest a malformed Digest at .d: its hex is not 1 to 64 hex characters, or register a digest with addHook()',
				},
				JSON.stringify(bad),
			);
		}
	});

	test("an object of the user's own iterator class is refused like the built-in iterators", () => {
		const iteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()) as object) as object;
		class Countdown {}
		Object.setPrototypeOf(Countdown.prototype, iteratorPrototype);
		for (const [value, path] of [
			[{ c: new Countdown() }, '.c'],
			[[Object.create(iteratorPrototype) as object], '[0]'],
		] as const) {
			// Node 22 and later tag the iterator prototype itself 'Iterator' (iterator helpers): the value is named by that tag.
			const tagged = Object.prototype.toString.call(Object.values(value)[0]) === '[object Iterator]';
			assert.throws(() => digest(value), { message: `Cannot digest ${tagged ? 'an Iterator' : 'an iterator'} at ${path}: ${advice.consume}` });
		}
	});

	test('what a digest hook or a [digestSymbol]() method returns is digested under its class name (h:)', () => {
		class Point {
			constructor(readonly x: number) {}
		}
		class Version {
			constructor(readonly n: number) {}
			[digestSymbol](): string {
				return `v${this.n}`;
			}
		}
		addHook(Point, (p) => [p.x]);
		try {
			assert.equal(digest(new Point(3)), sha(`h:5:Point|${digest([3])}`));
			assert.equal(digest(new Version(3)), sha(`h:7:Version|${digest('v3')}`));
		} finally {
			removeHook(Point);
		}
	});

	test('what a digest hook or a [digestSymbol]() method threw or returned is said with whose it was', () => {
		class Hooked {}
		const Anonymous = [class {}][0]!;
		class Throws {
			[digestSymbol](): never {
				throw new RangeError('bad');
			}
		}
		class Returns {
			[digestSymbol](): symbol {
				return Symbol('s');
			}
		}
		addHook(Hooked, () => {
			throw new Error('hook broke');
		});
		addHook(Anonymous, () => Symbol('z'));
		try {
			const refused = (value: unknown): [string, string] => {
				try {
					digest(value);
				} catch (err) {
					assert.ok(Indigestible.is(err));
					return [err.path, err.message];
				}
				return assert.fail('digested');
			};
			assert.deepEqual(refused({ k: new Hooked() }), ['.k', 'Cannot digest the value at .k: the digest hook for Hooked threw Error: hook broke']);
			assert.deepEqual(refused({ a: new Anonymous() }), [
				'.a<digest hook for an anonymous class>',
				`Cannot digest a symbol at .a<digest hook for an anonymous class>: ${advice.symbol}`,
			]);
			assert.deepEqual(refused({ m: new Throws() }), [
				'.m',
				"Cannot digest the value at .m: the [Symbol.for('fleche.digest')]() method of Throws threw RangeError: bad",
			]);
			assert.deepEqual(refused({ n: new Returns() }), [
				".n[Symbol.for('fleche.digest')]()",
				`Cannot digest a symbol at .n[Symbol.for('fleche.digest')](): ${advice.symbol}`,
			]);
			const bare = Object.assign(Object.create(null) as object, {
				[digestSymbol]: () => {
					throw new Error('q');
				},
			});
			assert.deepEqual(refused({ o: bare }), ['.o', "Cannot digest the value at .o: the [Symbol.for('fleche.digest')]() method of an object threw Error: q"]);
		} finally {
			removeHook(Hooked);
			removeHook(Anonymous);
		}
	});

	for (const [what, value, path, message] of cases) {
		test(what, () => {
			assert.throws(
				() => digest(value),
				(err: unknown) => {
					assert.ok(Indigestible.is(err), `an Indigestible, not ${String(err)}`);
					assert.equal(err.path, path);
					assert.equal(err.message, message);
					return true;
				},
			);
		});
	}
});

describe('digest(): long encodings, deep and re-entered cycles, and nothing kept once a digest returns', () => {
	/** `{ name, next }` objects linked into a cycle, in this order: the last one's `next` is the first. */
	const ring = (...names: string[]): Record<string, unknown>[] => {
		const nodes: Record<string, unknown>[] = names.map((name) => ({ name }));
		nodes.forEach((n, i) => (n['next'] = nodes[(i + 1) % nodes.length]));
		return nodes;
	};
	/** A list of `length` objects `{ i, next }` from depth 1 down; the last one's `next` is `last`. */
	const chain = (length: number, last: (nodes: Record<string, unknown>[]) => unknown = () => null): Record<string, unknown>[] => {
		const nodes: Record<string, unknown>[] = Array.from({ length }, (_v, i) => ({ i }));
		nodes.forEach((n, i) => (n['next'] = nodes[i + 1]));
		nodes[length - 1]!['next'] = last(nodes);
		return nodes;
	};

	test('booleans, undefined and null inside containers have the digests they have alone', () => {
		const parts = [true, false, undefined, null];
		assert.equal(digest(parts), sha(`a:${parts.map((p) => digest(p) + ',').join('')}`));
		assert.equal(digest({ t: true, f: false, u: undefined }), sha(`o:${txt('f')}=${sha('false')},${txt('t')}=${sha('true')},${txt('u')}=${sha('undefined')},`));
		assert.notEqual(digest([true]), digest([false]));
	});

	test('encodings longer than the hashing chunk (64 KiB of text) digest as one text: arrays, objects, Sets and Maps', () => {
		const n = 3000; // 65 characters an element: about 195,000 characters of encoding
		const numbers = Array.from({ length: n }, (_v, i) => i);
		const hexes = numbers.map((i) => digest(i));
		assert.equal(digest(numbers), sha(`a:${hexes.map((h) => h + ',').join('')}`));
		const keys = numbers.map((i) => `k${i}`).sort();
		const object = Object.fromEntries(numbers.map((i) => [`k${i}`, i]));
		assert.equal(digest(object), sha(`o:${keys.map((k) => `${txt(k)}=${digest(object[k])},`).join('')}`));
		assert.equal(
			digest(new Set(numbers)),
			sha(
				`S:${[...hexes]
					.sort()
					.map((h) => h + ',')
					.join('')}`,
			),
		);
		const pairs = numbers.map((i) => `${digest(`k${i}`)}:${digest(-i)}`).sort();
		assert.equal(digest(new Map(numbers.map((i) => [`k${i}`, -i]))), sha(`M:${pairs.map((p) => p + ',').join('')}`));
	});

	test('a registered symbol is the digest method: a class needs no import of digestSymbol', () => {
		class Tagged {
			[Symbol.for('fleche.digest')](): string {
				return 'tag';
			}
		}
		assert.equal(digest(new Tagged()), sha(`h:${txt('Tagged')}|${digest('tag')}`));
	});

	test('cycles of three, with a forward reference and a member referring back twice, digest as the scheme says', () => {
		const body = (s: string): string => sha(`o:${s}`);
		const [a] = ring('a', 'b', 'c');
		// Members in first-met order a, b, c; `^d` is the parent's position minus the target's.
		const next = (ref: string, name: string): string => `${txt('name')}=${digest(name)},${txt('next')}=${ref},`;
		assert.equal(digest(a), sha(`G:${body(next('^-1', 'a'))},${body(next('^-1', 'b'))},${body(next('^2', 'c'))}`));
		// c refers back to both a (position 0) and b (position 1): b is still inside the cycle entered at a.
		const x = { name: 'x' } as Record<string, unknown>;
		const y = { name: 'y', next: null } as Record<string, unknown>;
		const z = { name: 'z', back: x, prev: y } as Record<string, unknown>;
		x['next'] = y;
		y['next'] = z;
		assert.equal(
			digest(x),
			sha(`G:${body(next('^-1', 'x'))},${body(next('^-1', 'y'))},${body(`${txt('back')}=^2,${txt('name')}=${digest('z')},${txt('prev')}=^1,`)}`),
		);
	});

	test('a cycle entered again in one digest: walked again from the new member, up to twice; then R: with its first walk', () => {
		const [a, b, c] = ring('a', 'b', 'c');
		const [da, db, dc] = [digest(a), digest(b), digest(c)];
		assert.equal(new Set([da, db, dc]).size, 3, 'each member enters the cycle where it is');
		assert.equal(digest([a, b]), sha(`a:${da},${db},`));
		assert.equal(digest([b, a]), sha(`a:${db},${da},`));
		// A third walk is not taken: the member is named by the first walk's digest and its position in that walk.
		assert.equal(digest([a, b, c]), sha(`a:${da},${db},${sha(`R:${da}:2`)},`));
		assert.equal(digest([c, a, b]), sha(`a:${dc},${da},${sha(`R:${dc}:2`)},`));
		// Members already walked from are remembered, not walked again.
		assert.equal(digest([a, b, a, b, c]), sha(`a:${da},${db},${da},${db},${sha(`R:${da}:2`)},`));
		// Each digest starts afresh: the same value digests the same every time.
		for (let i = 0; i < 4; i++) assert.equal(digest([a, b, c]), sha(`a:${da},${db},${sha(`R:${da}:2`)},`), `time ${i}`);
		assert.equal(digest(c), dc);
	});

	test('a Map in a cycle whose keys digest alike walks their values in the order they were set', () => {
		// Keys with equal digests (equal content, other objects) leave only the insertion order to go by, as for Sets
		// (a miss at worst, never a wrong hit): the value set first is met first, and its position says so.
		const letters = ['a', 'b', 'c'];
		const tied = (order: number[]): Map<unknown, unknown> => {
			const m = new Map<unknown, unknown>();
			for (const i of order) m.set({ k: 1 }, { m, v: letters[i] });
			return m;
		};
		const kh = digest({ k: 1 });
		const mapBody = sha(`M:${[1, 2, 3].map((k) => `${kh}:^-${k},`).join('')}`);
		const member = (k: number, v: string): string => sha(`o:${txt('m')}=^${k},${txt('v')}=${digest(v)},`);
		for (const order of [
			[0, 1, 2],
			[1, 0, 2],
			[2, 1, 0],
			[1, 2, 0],
		])
			assert.equal(digest(tied(order)), sha(`G:${mapBody},${order.map((i, k) => member(k + 1, letters[i]!)).join(',')}`), order.join());
	});

	test('a cycle closed deep in a value (past depth 32) is a cycle, and a deep object met again after it finished is not', () => {
		for (const depth of [31, 32, 33, 34, 40]) {
			// head at depth 1 (inside the array), so node k is at depth k + 1; the last one points back at depth `depth`.
			const make = (): unknown => [chain(45, (nodes) => nodes[depth - 1])[0]];
			assert.equal(digest(make()), digest(make()), `a cycle back to depth ${depth}`);
			// Shared, not cyclic: the node at `depth`, met again after its subtree finished, digests as a copy of it would.
			const nodes = chain(45);
			const shared = { a: nodes[0], b: nodes[depth - 1] };
			assert.equal(digest(shared), digest({ a: nodes[0], b: structuredClone(nodes[depth - 1]) }), `shared at depth ${depth}`);
		}
		const back33 = digest([chain(45, (nodes) => nodes[32])[0]]);
		const back34 = digest([chain(45, (nodes) => nodes[33])[0]]);
		assert.notEqual(back33, back34, 'cycles of other lengths');
	});

	test('a cycle deep in a value digests as the same cycle alone, composed into its parents, wherever it closes', () => {
		// Node k of the list sits at depth k + 1 inside the array; the last node points back at node `depth - 1`.
		const link = (i: number, next: string): string => sha(`o:${txt('i')}=${digest(i)},${txt('next')}=${next},`);
		for (const depth of [31, 32, 33, 40]) {
			const nodes = chain(45, (all) => all[depth - 1]);
			let h = digest(nodes[depth - 1]); // the cycle alone, entered where the list enters it
			for (let k = depth - 2; k >= 0; k--) h = link(k, h);
			assert.equal(digest([nodes[0]]), sha(`a:${h},`), `a cycle closing at depth ${depth}`);
		}
	});

	test('objects met again deep in a value after they finished are shared, not cycles: at depth 1, 32 and past it', () => {
		// Each is first met and finished somewhere, then met again below depth 32 through a second list of wrappers.
		const below = (v: unknown, levels: number): unknown => {
			let w = v;
			for (let i = 0; i < levels; i++) w = [w];
			return w;
		};
		for (const at of [0, 31, 32, 40]) {
			// Four nodes below it at most: subtrees that big are remembered whole, and met again by what they digested to.
			const nodes = chain(at + 4);
			const again = nodes[at]!;
			const value = { a: nodes[0], b: below(again, 38) };
			assert.equal(digest(value), digest({ a: nodes[0], b: below(structuredClone(again), 38) }), `node ${at}, at depth ${at + 1} first`);
		}
		const shallow = { x: 1 };
		assert.equal(digest({ a: shallow, b: below(shallow, 40) }), digest({ a: shallow, b: below({ x: 1 }, 40) }), 'met at depth 1 first');
	});

	test('a member that gets the lowest reference from its first child keeps it when a later child refers less far back', () => {
		// x → y → z → x, and y → w → y: w refers back to y only, after z had made y part of the cycle through x.
		const [x, y, z] = ring('x', 'y', 'z');
		const w: Record<string, unknown> = { name: 'w', next: y };
		y!['w'] = w;
		const named = (name: string, rest: string): string => sha(`o:${txt('name')}=${digest(name)},${rest}`);
		assert.equal(
			digest(x),
			sha(
				`G:${named('x', `${txt('next')}=^-1,`)},${named('y', `${txt('next')}=^-1,${txt('w')}=^-2,`)},${named('z', `${txt('next')}=^2,`)},${named('w', `${txt('next')}=^2,`)}`,
			),
		);
		assert.ok(z);
	});

	test('a shared subtree of eight objects or more is read once in a digest, however many paths lead to it', () => {
		// Each layer holds the layer below twice, behind counting getters. Big subtrees are remembered within one digest;
		// small ones (under 8 objects) are cheaper to read again than to remember.
		const layers = 30;
		const reads = Array.from({ length: layers }, () => 0);
		let node: object = { leaf: true };
		for (let i = 0; i < layers; i++) {
			const below = node;
			const layer = {};
			for (const key of ['l', 'r'])
				Object.defineProperty(layer, key, {
					enumerable: true,
					get: () => {
						reads[i]!++;
						return below;
					},
				});
			node = layer;
		}
		const h = digest(node);
		// Each layer's getters are read once, but the bottom two: those subtrees are small, and read again on each path.
		assert.deepEqual(
			reads.slice(2),
			Array.from({ length: layers - 2 }, () => 2),
			reads.join(),
		);
		assert.equal(digest(node), h);
	});

	test('a digest keeps nothing it read alive once it returns, or once it refused a value', async () => {
		// What the traversal remembers within one digest (finished subtrees, cycle members, its pooled frames) must not
		// outlive it: a value digested once as an argument would otherwise stay in memory for the life of the process.
		setFlagsFromString('--expose-gc');
		const gc = runInNewContext('gc') as () => void;
		const digested = (): WeakRef<object>[] => {
			const tree = { rows: Array.from({ length: 20 }, (_v, i) => ({ i, tags: [i, { deep: [i] }] })) };
			const [a, b, c] = ring('a', 'b', 'c');
			// Refused after a member of its cycle finished: y is done, then x's function is met.
			const refused: Record<string, unknown> = { z: () => 1 };
			refused['a'] = { back: refused };
			const deep = chain(60, (nodes) => nodes[40]);
			digest(tree);
			digest([a, b, c]);
			digest([deep[0]]);
			assert.throws(() => digest({ list: [refused] }), Indigestible);
			return [tree, a!, b!, c!, refused, refused['a'] as object, deep[0]!, deep[40]!].map((o) => new WeakRef(o));
		};
		const refs = digested();
		// WeakRef targets stay alive until the current job ends: collect after yielding, a few times over.
		for (let i = 0; i < 10 && refs.some((r) => r.deref() !== undefined); i++) {
			await new Promise((resolve) => setImmediate(resolve));
			gc();
		}
		assert.deepEqual(
			refs.map((r) => r.deref() !== undefined),
			refs.map(() => false),
			'every value digested was collected',
		);
	});
});

describe('digest(): what an object is, whatever it says of itself', () => {
	const instance = (cls: string, body = ''): string => sha(`i:${txt(cls)}|${body}`);

	test('objects whose toStringTag names a built-in digest as instances of their own class', () => {
		for (const tag of ['Map', 'Set', 'ArrayBuffer', 'SharedArrayBuffer', 'URL', 'URLSearchParams', 'Number', 'Symbol']) {
			class Pretender {
				get [Symbol.toStringTag](): string {
					return tag;
				}
			}
			assert.equal(Object.prototype.toString.call(new Pretender()), `[object ${tag}]`);
			assert.equal(digest(new Pretender()), instance('Pretender'), tag);
		}
	});

	test('objects without the usual prototype: null-prototype arrays, typed arrays and Errors, prototypes without a constructor or its name', () => {
		const list = Object.setPrototypeOf([1], null) as unknown[];
		assert.equal(digest(list), sha(`a~${txt('')}:${digest(1)},`));
		const bytes = new Uint8Array([1, 2]);
		assert.equal(digest(Object.setPrototypeOf(new Uint8Array([1, 2]), null)), sha(`T~${txt('')}Uint8Array:2:${sha(bytes)}`));
		class Bytes extends Uint8Array {}
		assert.equal(digest(new Bytes([1, 2])), sha(`T~${txt('Bytes')}Uint8Array:2:${sha(bytes)}`));
		class Chunk extends Buffer {}
		const chunk = Object.setPrototypeOf(Buffer.from([1, 2]), Chunk.prototype) as Buffer;
		assert.equal(digest(chunk), sha(`T~${txt('Chunk')}Uint8Array:2:${sha(bytes)}`), 'a subclass of Buffer is not a Buffer');
		const error = Object.setPrototypeOf(Object.assign(new Error('m'), { code: 1 }), null) as Error;
		assert.equal(digest(error), sha(`E:${txt('')}|${digest(undefined)},${digest('m')},${txt('code')}=${digest(1)},`));
		// Built-ins whose prototype is gone are told by their slots, and read through the built-ins' own methods: two such
		// Maps with other contents never digest alike (they did, as the same empty object, before).
		const bare = <T extends object>(v: T): T => Object.setPrototypeOf(v, null) as T;
		const none = txt('');
		assert.equal(digest(bare(new Map([[1, 2]]))), sha(`M~${none}:${digest(1)}:${digest(2)},`));
		assert.notEqual(digest(bare(new Map([[1, 2]]))), digest(bare(new Map([[1, 3]]))));
		assert.equal(digest(bare(new Set([1]))), sha(`S~${none}:${digest(1)},`));
		assert.equal(digest(bare(new Date(5))), sha(`d~${none}:5`));
		assert.equal(digest(bare(/a/gi)), sha(`r~${none}:${txt('a')}gi`));
		assert.equal(digest(bare(new Uint8Array([1, 2]).buffer)), sha(`AB:2:${sha(bytes)}`));
		assert.equal(digest(bare(Object(5) as object)), sha(`X:${digest(5)}`));
		const shared = new SharedArrayBuffer(2);
		new Uint8Array(shared).set(bytes);
		assert.equal(digest(bare(shared)), sha(`SAB:2:${sha(bytes)}`));
		for (const p of ['s', true, 5n]) assert.equal(digest(bare(Object(p) as object)), sha(`X:${digest(p)}`), typeof p);
		const refusedBare: [object, string][] = [
			[Object(Symbol('s')) as object, 'a symbol: symbols have no content that is stable across processes'],
			[Promise.resolve(1), 'a Promise: await it first'],
			[new WeakMap(), 'a WeakMap: its entries cannot be enumerated'],
			[new WeakSet(), 'a WeakSet: its entries cannot be enumerated'],
			[(function* () {})(), 'a Generator: reading it would consume it'],
			[new Map().keys(), 'a Map Iterator: reading it would consume it'],
			[new Set().values(), 'a Set Iterator: reading it would consume it'],
		];
		for (const [value, said] of refusedBare) assert.throws(() => digest(bare(value)), { message: new RegExp(`^Cannot digest ${said}`) }, said);
		assert.equal(digest(Object.assign(bare({}), { a: 1 })), digest({ a: 1 }), 'a dictionary is a plain object');
		// A subclass that overrides iteration or flags cannot change what its contents digest as.
		class Liar extends Map<number, number> {
			override *[Symbol.iterator](): MapIterator<[number, number]> {}
		}
		assert.equal(digest(new Liar([[1, 2]])), sha(`M~${txt('Liar')}:${digest(1)}:${digest(2)},`));
		class Flagless extends RegExp {
			override get flags(): string {
				return '';
			}
		}
		assert.equal(digest(new Flagless('a', 'g')), sha(`r~${txt('Flagless')}:${txt('a')}g`));
		// A prototype that is itself a null-prototype object: no constructor, no name, and not a plain object.
		const orphan = Object.assign(Object.create(Object.create(null) as object) as object, { a: 1 });
		assert.equal(digest(orphan), instance('', `${txt('a')}=${digest(1)},`));
		class Odd {}
		Object.defineProperty(Odd, 'name', { value: 7 });
		assert.equal(digest(new Odd()), instance(''), 'a class name that is not text counts as none');
		// A user class that happens to be called Object is still a class.
		const Object_ = class Object {};
		assert.equal(digest(new Object_()), instance('Object'));
		// An object made in another realm is plain there too.
		assert.equal(digest(runInNewContext('({ a: 1 })')), digest({ a: 1 }));
	});

	test('an object inheriting from the async iterator prototype is refused as an iterator', () => {
		// %AsyncIteratorPrototype%, above the async generators' prototype (whose own tag refuses them already).
		const asyncIterator = Object.getPrototypeOf(Object.getPrototypeOf(Object.getPrototypeOf((async function* () {})()))) as object;
		assert.throws(() => digest({ it: Object.create(asyncIterator) as object }), {
			message: 'Cannot digest an iterator at .it: reading it would consume it; pass an array instead, or register a digest with addHook()',
		});
	});

	test('a file: URL digests as the file it names; one that names nothing is refused with the reason', () => {
		const dir = mkdtempSync(join(tmpdir(), 'fleche-digest-url-'));
		try {
			mkdirSync(join(dir, 'b'));
			writeFileSync(join(dir, 'data.txt'), 'abc');
			writeFileSync(join(dir, 'b', 'data.txt'), 'abc');
			const url = pathToFileURL(join(dir, 'data.txt'));
			assert.equal(digest(url), sha(`F:${txt('data.txt')}:3:${sha('abc')}`));
			assert.equal(digest(pathToFileURL(join(dir, 'b', 'data.txt'))), digest(url), 'by name and bytes, wherever it is');
			assert.notEqual(digest(url), sha(`U:${txt(url.href)}`));
			const missing = pathToFileURL(join(dir, 'missing.txt'));
			assert.throws(
				() => digest({ f: missing }),
				(err: unknown) => {
					assert.ok(Indigestible.is(err), String(err));
					assert.equal(err.path, '.f');
					assert.match(err.message, /^Cannot digest the file URL at \.f: .*missing\.txt/);
					return true;
				},
			);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});

	test('what a hook refuses in a digest of its own is said inside the hook, at the path of both', () => {
		class Outer {
			[digestSymbol](): string {
				return digest({ inner: Symbol('deep') });
			}
		}
		assert.throws(
			() => digest({ o: new Outer() }),
			(err: unknown) => {
				assert.ok(Indigestible.is(err), String(err));
				assert.equal(err.path, '.o.inner');
				assert.equal(
					err.message,
					`Cannot digest a symbol at .inner: ${'symbols have no content that is stable across processes'} (inside the [Symbol.for('fleche.digest')]() method of Outer at .o)`,
				);
				assert.ok(Indigestible.is(err.cause), 'caused by the refusal inside');
				return true;
			},
		);
		const thrown = new RangeError('bad');
		class Throws {
			[digestSymbol](): never {
				throw thrown;
			}
		}
		assert.throws(
			() => digest(new Throws()),
			(err: unknown) => Indigestible.is(err) && err.cause === thrown,
		);
	});

	test('an Indigestible thrown by a getter comes out as it was thrown', () => {
		let inner: unknown;
		const value = {
			get g(): string {
				try {
					return digest(Symbol('s'));
				} catch (err) {
					inner = err;
					throw err;
				}
			},
		};
		assert.throws(
			() => digest([value]),
			(err: unknown) => err === inner && Indigestible.is(err),
		);
	});

	test('a remembered subtree met again after a cycle closed in the same digest', () => {
		const a: Record<string, unknown> = { name: 'a' };
		a['next'] = { name: 'b', next: a };
		const big = { rows: Array.from({ length: 10 }, (_v, i) => ({ i })) };
		assert.equal(digest([a, big, big]), sha(`a:${digest(a)},${digest(big)},${digest(big)},`));
	});
});
