// docs/behaviour.md §1.2, §2.3: the TypeScript digest scheme — type tags, order rules, Merkle property, cycles, errors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { digest, D, Digest, addHook, removeHook, digestSymbol, Indigestible, isHexDigest } from 'fleche';

/** Asserts that all values digest pairwise differently (and each to a well-formed digest). */
function allDistinct(values: unknown[]): void {
	const seen = new Map<string, number>();
	values.forEach((v, i) => {
		const h = digest(v);
		assert.ok(isHexDigest(h), `value #${i} gave ${h}`);
		const j = seen.get(h);
		assert.equal(j, undefined, `values #${j} and #${i} collide`);
		seen.set(h, i);
	});
}

/** Runs `fn`, which must throw an Indigestible, and returns it. */
function indigestible(fn: () => unknown): Indigestible {
	try {
		fn();
	} catch (err) {
		assert.ok(Indigestible.is(err), `expected Indigestible, got ${String(err)}`);
		assert.ok(err instanceof Indigestible);
		return err;
	}
	assert.fail('expected an Indigestible to be thrown');
}

describe('primitives', () => {
	test('digests are 64 lowercase hex characters', () => {
		for (const v of [0, 1, 'a', '', true, null, undefined, 1n, {}, []]) assert.match(digest(v), /^[0-9a-f]{64}$/);
	});

	test('values of different types never collide', () => {
		allDistinct([1, 1n, '1', true, 0, 0n, '0', false, '', null, undefined, 'null', 'undefined', 'true', NaN, 'NaN']);
		allDistinct([[], {}, '', new Map(), new Set(), [undefined], [null], { 0: 1 }, [1]]);
	});

	test('0 and -0 differ; all NaNs are equal; infinities are distinct', () => {
		assert.notEqual(digest(0), digest(-0));
		assert.equal(digest(-0), digest(-0));
		const otherNaN = new Float64Array(new Uint32Array([1, 0x7ff80000]).buffer)[0]!;
		assert.ok(Number.isNaN(otherNaN));
		assert.equal(digest(NaN), digest(otherNaN));
		assert.equal(digest(NaN), digest(0 / 0));
		allDistinct([Infinity, -Infinity, 'Infinity', NaN, Number.MAX_VALUE, -Number.MAX_VALUE]);
	});

	test('numbers are exact: neighbouring doubles and large integers differ', () => {
		allDistinct([0.1 + 0.2, 0.3, 2 ** 53, 2 ** 53 + 2, 1e21, 1e-7, 5e-324, 1, 1.0000000000000002]);
		assert.equal(digest(1), digest(1.0));
		assert.equal(digest(0.30000000000000004), digest(0.1 + 0.2));
	});

	test('bigints are exact and distinct from numbers', () => {
		allDistinct([2n ** 64n, 2n ** 64n + 1n, -(2n ** 64n), 2 ** 64, 0n, -1n, -1]);
		assert.equal(digest(10n ** 30n), digest(BigInt('1' + '0'.repeat(30))));
	});

	test('strings: content decides, including non-BMP text and lone surrogates', () => {
		assert.equal(digest('abc'), digest(['a', 'b', 'c'].join('')));
		allDistinct(['abc', 'abd', 'ab', 'abc ', 'ABC', 'é', 'e\u0301', '😀', '\uD800', '\uFFFD', '\uDC00', '\uD800\uDC00']);
		assert.equal(digest('x'.repeat(100_000)), digest('x'.repeat(100_000)));
		assert.notEqual(digest('x'.repeat(100_000)), digest('x'.repeat(100_001)));
	});

	test('symbols are Indigestible', () => {
		const err = indigestible(() => digest(Symbol('s')));
		assert.match(err.message, /symbol/);
		assert.equal(err.path, '');
	});
});

describe('objects and arrays', () => {
	test('plain objects: key order does not matter, values and keys do', () => {
		assert.equal(digest({ a: 1, b: 2 }), digest({ b: 2, a: 1 }));
		assert.equal(digest({ x: { a: 1, b: [1, 2] } }), digest({ x: { b: [1, 2], a: 1 } }));
		allDistinct([{ a: 1 }, { a: 2 }, { b: 1 }, { a: 1, b: 2 }, { a: '1' }, { a: [1] }, { 1: 'a' }, { '': 1 }]);
	});

	test('{a: undefined} differs from {}; symbol keys are ignored; null-prototype objects are plain', () => {
		assert.notEqual(digest({ a: undefined }), digest({}));
		assert.equal(digest({ a: 1, [Symbol('s')]: 2 }), digest({ a: 1 }));
		const bare = Object.create(null) as Record<string, unknown>;
		bare['a'] = 1;
		assert.equal(digest(bare), digest({ a: 1 }));
	});

	test('keys that look alike in a naive encoding stay distinct', () => {
		allDistinct([{ 'a=': 1 }, { a: '=1' }, { 'a,b': 1 }, { a: 1, b: 1 }, { '1:a': 1 }, { ['\uD800']: 1 }, { ['\uFFFD']: 1 }]);
	});

	test('only own enumerable properties count; getters are read', () => {
		const hidden = { a: 1 };
		Object.defineProperty(hidden, 'b', { value: 2, enumerable: false });
		assert.equal(digest(hidden), digest({ a: 1 }));
		const viaGetter = {};
		Object.defineProperty(viaGetter, 'a', { get: () => 1, enumerable: true });
		assert.equal(digest(viaGetter), digest({ a: 1 }));
		const inherited = Object.create({ a: 1 }) as object;
		assert.notEqual(digest(inherited), digest({ a: 1 }));
	});

	test('arrays: order matters; holes count as undefined; arrays differ from index-keyed objects', () => {
		assert.notEqual(digest([1, 2]), digest([2, 1]));
		// eslint-disable-next-line no-sparse-arrays
		assert.equal(digest([1, , 3]), digest([1, undefined, 3]));
		assert.notEqual(digest([1, 2]), digest({ 0: 1, 1: 2 }));
		allDistinct([[], [[]], [[], []], [[[]]], [1, [2]], [[1], 2], [1, 2], [[1, 2]], [undefined], [null]]);
	});

	test('array subclasses and plain objects from other realms', () => {
		class List extends Array<number> {}
		assert.notEqual(digest(List.from([1, 2])), digest([1, 2]));
		assert.equal(digest(vm.runInNewContext('({ a: 1, b: [1, 2] })')), digest({ a: 1, b: [1, 2] }));
		assert.equal(digest(vm.runInNewContext('new Map([[1, 2]])')), digest(new Map([[1, 2]])));
		assert.equal(digest(vm.runInNewContext('new Set([1, 2])')), digest(new Set([1, 2])));
	});

	test('Map and Set: insertion order does not matter, content does', () => {
		assert.equal(digest(new Map([['a', 1], ['b', 2]])), digest(new Map([['b', 2], ['a', 1]])));
		assert.equal(digest(new Set([1, 2, 3])), digest(new Set([3, 1, 2])));
		assert.equal(digest(new Map([[{ k: 1 }, 'x'], [{ k: 2 }, 'y']])), digest(new Map([[{ k: 2 }, 'y'], [{ k: 1 }, 'x']])));
		allDistinct([
			new Map([[1, 2]]),
			new Map([[2, 1]]),
			new Map([['1', 2]]),
			new Map(),
			new Set(),
			new Set([1]),
			new Set(['1']),
			new Set([1, 2]),
			[1, 2],
			{ 1: 2 },
			[[1, 2]],
		]);
		// Two distinct objects with equal content are two elements.
		assert.notEqual(digest(new Set([{ a: 1 }, { a: 1 }])), digest(new Set([{ a: 1 }])));
	});

	test('Date, RegExp, URL and boxed primitives', () => {
		assert.equal(digest(new Date(0)), digest(new Date('1970-01-01T00:00:00Z')));
		allDistinct([new Date(0), new Date(1), new Date(NaN), 0, NaN, '1970-01-01T00:00:00.000Z', {}]);
		assert.equal(digest(/a+b/gi), digest(new RegExp('a+b', 'gi')));
		allDistinct([/a/, /a/g, /a/i, /b/, 'a', '/a/', {}]);
		assert.equal(digest(new URL('https://x.org/a?b=1')), digest(new URL('https://x.org/a?b=1')));
		assert.notEqual(digest(new URL('https://x.org/a')), digest(new URL('https://x.org/b')));
		allDistinct([new Number(1), 1, new String('1'), '1', new Boolean(true), true, Object(1n), 1n]);
		assert.equal(digest(new Number(1)), digest(new Number(1)));
	});
});

describe('binary data', () => {
	test('typed arrays: element type, length and bytes all count', () => {
		const bytes = [1, 0, 0, 0, 0, 0, 0, 0];
		allDistinct([
			new Uint8Array(bytes),
			new Int8Array(bytes),
			new Uint8ClampedArray(bytes),
			new Uint16Array(new Uint8Array(bytes).buffer),
			new Uint32Array(new Uint8Array(bytes).buffer),
			new Float64Array(new Uint8Array(bytes).buffer),
			new BigUint64Array(new Uint8Array(bytes).buffer),
			new Uint8Array([1, 0, 0, 0, 0, 0, 0]),
			new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0]),
			bytes,
		]);
		assert.equal(digest(new Float64Array([1.5, -2])), digest(Float64Array.of(1.5, -2)));
	});

	test('Buffer, ArrayBuffer, SharedArrayBuffer and DataView have their own tags', () => {
		const raw = [104, 105];
		const shared = new SharedArrayBuffer(2);
		new Uint8Array(shared).set(raw);
		allDistinct([
			Buffer.from(raw),
			new Uint8Array(raw),
			new Uint8Array(raw).buffer,
			shared,
			new DataView(new Uint8Array(raw).buffer),
			'hi',
		]);
		assert.equal(digest(Buffer.from('hi')), digest(Buffer.from([104, 105])));
	});

	test('a view digests only its own bytes (byteOffset/byteLength)', () => {
		const whole = new Float64Array([1, 2, 3, 4, 5]);
		const view = whole.subarray(1, 3);
		assert.equal(digest(view), digest(new Float64Array([2, 3])));
		const before = digest(view);
		whole[0] = 99;
		whole[4] = 99;
		assert.equal(digest(view), before, 'bytes outside the view do not count');
		whole[2] = 99;
		assert.notEqual(digest(view), before);
		const pooled = Buffer.from('hello'); // usually a slice of Node's shared pool
		assert.equal(digest(pooled), digest(Buffer.from(new Uint8Array([104, 101, 108, 108, 111]))));
		const dv = new DataView(new Uint8Array([9, 1, 2, 9]).buffer, 1, 2);
		assert.equal(digest(dv), digest(new DataView(new Uint8Array([1, 2]).buffer)));
	});

	test('a 64 MB Float64Array digests, and changing one element changes the digest', () => {
		const big = new Float64Array(8 * 1024 * 1024);
		for (let i = 0; i < big.length; i += 4099) big[i] = i;
		const first = digest(big);
		assert.equal(digest(big), first);
		big[big.length - 1] = 1;
		const second = digest(big);
		assert.notEqual(second, first);
		big[big.length - 1] = 0;
		assert.equal(digest(big), first);
		assert.equal(digest([big, big]), digest([D(big), D(first)]));
	});
});

describe('Digest and D', () => {
	test('digest(new Digest(h)) is h verbatim, including short prefixes, lowercased', () => {
		const h = digest({ a: 1 });
		assert.equal(digest(new Digest(h)), h);
		assert.equal(digest(new Digest('abc')), 'abc');
		assert.equal(digest(new Digest('ABC')), 'abc');
		assert.equal(new Digest('ABC').hex, 'abc');
		assert.equal(String(new Digest('ab')), 'ab');
		// eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- interpolation is what is tested
		assert.equal(`${new Digest('ab')}`, 'ab');
		assert.equal(JSON.stringify({ k: new Digest('AB') }), '{"k":"ab"}');
	});

	test('new Digest validates 1..64 hex characters', () => {
		for (const bad of ['', 'xyz', 'a'.repeat(65), ' ab', 'ab\n', 'g']) {
			assert.throws(() => new Digest(bad), TypeError, JSON.stringify(bad));
		}
		assert.throws(() => new Digest(42 as unknown as string), TypeError);
		assert.equal(new Digest('f'.repeat(64)).hex, 'f'.repeat(64));
	});

	test('Digest.is recognises Digests from another copy of the package by brand', () => {
		assert.ok(Digest.is(new Digest('ab')));
		assert.ok(!Digest.is('ab'));
		assert.ok(!Digest.is({ hex: 'ab' }));
		assert.ok(!Digest.is(null));
		const foreign = Object.create({ [Symbol.for('fleche.Digest')]: true }, { hex: { value: 'ABCD' } }) as object;
		assert.ok(Digest.is(foreign));
		assert.equal(digest(foreign), 'abcd');
		assert.equal(digest([1, foreign]), digest([1, new Digest('abcd')]));
	});

	test('D: hex strings of 1..64 characters are digests verbatim; anything else is digested', () => {
		assert.equal(D('abc').hex, 'abc');
		assert.equal(D('ABC').hex, 'abc');
		const full = digest('value');
		assert.equal(D(full).hex, full);
		assert.equal(D('').hex, digest(''));
		assert.equal(D('xyz').hex, digest('xyz'));
		assert.equal(D('a'.repeat(65)).hex, digest('a'.repeat(65)));
		assert.equal(D(' ab').hex, digest(' ab'));
		assert.equal(D(42).hex, digest(42));
		assert.equal(D({ a: [1] }).hex, digest({ a: [1] }));
		assert.equal(D(null).hex, digest(null));
		const d = new Digest('ab');
		assert.equal(D(d), d);
		assert.ok(Digest.is(D(1)));
	});

	test('Merkle property: any nested value can be replaced by D(value)', () => {
		const x = { deep: [1, { y: new Map([['k', new Set([1, 2])]]) }], when: new Date(5) };
		class Holder {
			constructor(
				readonly a: unknown,
				readonly b: unknown,
			) {}
		}
		const cases: [unknown, unknown][] = [
			[[1, x], [1, D(x)]],
			[{ k: x, j: 2 }, { k: D(x), j: 2 }],
			[new Map([['key', x]]), new Map([['key', D(x)]])],
			[new Map([[x, 'value']]), new Map([[D(x), 'value']])],
			[new Set([x, 1]), new Set([D(x), 1])],
			[new Holder(x, 1), new Holder(D(x), 1)],
			[[[[x]]], [[[D(x)]]]],
			[[[[x]]], [[D([x])]]],
			[{ a: { b: { c: x } } }, { a: D({ b: { c: x } }) }],
			[[1, 'str', 2n], [D(1), D('str'), D(2n)]],
			[new Error('e'), new Error('e')],
		];
		for (const [live, withDigest] of cases) assert.equal(digest(withDigest), digest(live));
		// The sub-value's digest is the same as its standalone digest, not context-dependent.
		assert.equal(digest([1, new Digest(digest(x))]), digest([1, x]));
	});
});

describe('class instances', () => {
	test('class name and own enumerable fields count', () => {
		class A {
			constructor(
				public x: number,
				public y: number,
			) {}
		}
		class B {
			constructor(
				public x: number,
				public y: number,
			) {}
		}
		assert.equal(digest(new A(1, 2)), digest(new A(1, 2)));
		allDistinct([new A(1, 2), new B(1, 2), new A(2, 1), { x: 1, y: 2 }, [1, 2]]);
		class Sub extends A {}
		assert.notEqual(digest(new Sub(1, 2)), digest(new A(1, 2)));
	});

	test('field order does not matter; private #fields and prototype getters are not seen', () => {
		class P {
			a = 1;
			b = 2;
		}
		class Q {
			b = 2;
			a = 1;
		}
		Object.defineProperty(Q, 'name', { value: 'P' });
		assert.equal(digest(new P()), digest(new Q()));
		class Secret {
			#hidden: number;
			constructor(h: number) {
				this.#hidden = h;
			}
			get hidden(): number {
				return this.#hidden;
			}
		}
		// Documented limitation: give such a class a [digestSymbol]() method.
		assert.equal(digest(new Secret(1)), digest(new Secret(2)));
	});

	test('[digestSymbol]() returning a Digest or a 64-hex string is the digest verbatim', () => {
		const h = digest('identity');
		class ByDigest {
			[digestSymbol](): Digest {
				return new Digest(h);
			}
		}
		class ByHex {
			[digestSymbol](): string {
				return h;
			}
		}
		class ByPrefix {
			[digestSymbol](): Digest {
				return new Digest('abc');
			}
		}
		assert.equal(digest(new ByDigest()), h);
		assert.equal(digest(new ByHex()), h);
		assert.equal(digest(new ByPrefix()), 'abc');
		assert.equal(digest([new ByHex()]), digest([D('identity')]));
	});

	test('[digestSymbol]() returning another value is digested, salted with the class name', () => {
		class Point {
			constructor(
				readonly x: number,
				readonly y: number,
				readonly scratch: unknown = Math.random(),
			) {}
			[digestSymbol](): unknown {
				return [this.x, this.y];
			}
		}
		class Other {
			[digestSymbol](): unknown {
				return [1, 2];
			}
		}
		assert.equal(digest(new Point(1, 2)), digest(new Point(1, 2)));
		assert.notEqual(digest(new Point(1, 2)), digest(new Point(2, 1)));
		allDistinct([new Point(1, 2), new Other(), [1, 2]]);
		// Upper-case or short hex strings are values, not digests.
		class Upper {
			[digestSymbol](): string {
				return 'A'.repeat(64);
			}
		}
		assert.notEqual(digest(new Upper()), 'a'.repeat(64));
	});

	test('[digestSymbol]() may return this or call digest itself', () => {
		class Self {
			[digestSymbol](): unknown {
				return this;
			}
		}
		assert.ok(isHexDigest(digest(new Self())));
		class Nested {
			constructor(readonly inner: unknown) {}
			[digestSymbol](): string {
				return digest(this.inner);
			}
		}
		const big = { list: Array.from({ length: 50 }, (_, i) => ({ i })) };
		assert.equal(digest([new Nested(big), big]), digest([D(big), big]));
	});

	test('a throwing [digestSymbol]() becomes Indigestible with a path', () => {
		class Broken {
			[digestSymbol](): unknown {
				throw new Error('nope');
			}
		}
		const err = indigestible(() => digest({ list: [0, new Broken()] }));
		assert.equal(err.path, '.list[1]');
		assert.match(err.message, /nope/);
		assert.match(err.message, /Broken/);
	});

	test('Errors digest by class, name, message and own enumerable fields, not by stack', () => {
		const make = (): Error => new Error('boom');
		assert.equal(digest(make()), digest(make()));
		const coded = Object.assign(new Error('boom'), { code: 'E1' });
		allDistinct([new Error('boom'), new Error('bang'), new TypeError('boom'), coded, { message: 'boom' }, 'boom']);
		class AppError extends Error {}
		assert.notEqual(digest(new AppError('boom')), digest(new Error('boom')));
	});
});

describe('hooks', () => {
	test('addHook overrides the field rule; removeHook restores it', () => {
		class Model {
			constructor(
				readonly weights: number[],
				readonly cache: unknown,
			) {}
		}
		const fieldDigest = digest(new Model([1], 'a'));
		assert.notEqual(fieldDigest, digest(new Model([1], 'b')));
		addHook(Model, (m) => m.weights);
		try {
			assert.equal(digest(new Model([1], 'a')), digest(new Model([1], 'b')));
			assert.notEqual(digest(new Model([1], 'a')), digest(new Model([2], 'a')));
			assert.notEqual(digest(new Model([1], 'a')), digest([1]), 'salted with the class name');
		} finally {
			assert.equal(removeHook(Model), true);
		}
		assert.equal(removeHook(Model), false);
		assert.equal(digest(new Model([1], 'a')), fieldDigest);
	});

	test('hooks match subclasses, newest first, and may return a digest verbatim', () => {
		class Base {
			v = 1;
		}
		class Derived extends Base {}
		const h = digest('custom');
		const byFields = digest(new Derived());
		addHook(Base, () => 'base');
		addHook(Derived, () => new Digest(h));
		try {
			assert.equal(digest(new Derived()), h);
			assert.notEqual(digest(new Base()), h);
			assert.equal(removeHook(Derived), true);
			const viaBase = digest(new Derived());
			assert.notEqual(viaBase, h);
			assert.notEqual(viaBase, byFields, 'the Base hook applies to subclasses');
		} finally {
			removeHook(Base);
			removeHook(Derived);
		}
	});

	test('a hook can make a built-in or an otherwise indigestible type digestible', () => {
		addHook(WeakMap, () => 'a fixed stand-in');
		addHook(Date, (d) => d.toISOString().slice(0, 10));
		try {
			assert.equal(digest(new WeakMap()), digest(new WeakMap()));
			assert.equal(digest(new Date('2024-01-01T10:00:00Z')), digest(new Date('2024-01-01T23:00:00Z')));
		} finally {
			removeHook(WeakMap);
			removeHook(Date);
		}
		indigestible(() => digest(new WeakMap()));
		assert.notEqual(digest(new Date('2024-01-01T10:00:00Z')), digest(new Date('2024-01-01T23:00:00Z')));
	});

	test('a throwing hook becomes Indigestible with a path; addHook validates its arguments', () => {
		class Thing {}
		addHook(Thing, () => {
			throw new Error('hook failed');
		});
		try {
			const err = indigestible(() => digest({ a: new Map([['k', new Thing()]]) }));
			assert.equal(err.path, '.a.get("k")');
			assert.match(err.message, /hook failed/);
		} finally {
			removeHook(Thing);
		}
		assert.throws(() => addHook('x' as unknown as typeof Thing, () => 1), TypeError);
		assert.throws(() => addHook(Thing, 'x' as unknown as () => unknown), TypeError);
	});
});

describe('functions', () => {
	test('functions with a [digestSymbol]() method use it; others are Indigestible with a path', () => {
		const h = digest('my function v1');
		const wrapped = Object.assign(() => 1, { [digestSymbol]: () => h });
		assert.equal(digest(wrapped), h);
		assert.equal(digest({ f: wrapped }), digest({ f: D('my function v1') }));

		const err = indigestible(() => digest([1, 2, { callback: () => 3 }]));
		assert.equal(err.path, '[2].callback');
		assert.match(err.message, /Cannot digest a function/);
		assert.match(err.message, /at \[2\]\.callback/);
		assert.match(err.message, /Symbol\.for\('fleche\.digest'\)/);

		const nested = indigestible(() => digest({ x: { y: function named() {} } }));
		assert.equal(nested.path, '.x.y');
		assert.match(nested.message, /named/);

		indigestible(() => digest(class Foo {}));
		indigestible(() => digest(Math.max));
	});
});

describe('indigestible values', () => {
	test('symbols, WeakMap, WeakSet, WeakRef, Promise, iterators and generators, each named', () => {
		const cases: [unknown, RegExp][] = [
			[Symbol('s'), /symbol/],
			[new WeakMap(), /WeakMap/],
			[new WeakSet(), /WeakSet/],
			[new WeakRef({}), /WeakRef/],
			[Promise.resolve(1), /Promise/],
			[new Map([[1, 2]]).keys(), /Iterator/],
			[[1][Symbol.iterator](), /Iterator/],
			[(function* () {})(), /Generator/],
			[new Blob(['x']), /Blob/],
		];
		for (const [value, name] of cases) {
			const err = indigestible(() => digest({ v: [value] }));
			assert.equal(err.path, '.v[0]');
			assert.match(err.message, name);
		}
	});

	test('paths name Map keys and values, Set items and odd property names', () => {
		const f = (): void => {};
		assert.equal(indigestible(() => digest(new Map([['a b', f]]))).path, '.get("a b")');
		assert.equal(indigestible(() => digest(new Map([[f, 1]]))).path, '.keys()[0]');
		assert.equal(indigestible(() => digest(new Map([[{}, f]]))).path, '.get(<key #0>)');
		assert.equal(indigestible(() => digest(new Set([1, f]))).path, '.values()[1]');
		assert.equal(indigestible(() => digest({ 'my-key': [f] })).path, '["my-key"][0]');
		assert.equal(indigestible(() => digest(f)).path, '');
	});

	test('throwing getters and Proxy traps become Indigestible, never anything else', () => {
		const getter = {};
		Object.defineProperty(getter, 'bad', {
			enumerable: true,
			get() {
				throw new TypeError('getter exploded');
			},
		});
		const err = indigestible(() => digest({ outer: [getter] }));
		assert.equal(err.path, '.outer[0].bad');
		assert.match(err.message, /getter exploded/);
		assert.ok(err.cause instanceof TypeError);

		const { proxy, revoke } = Proxy.revocable({}, {});
		revoke();
		const weird: unknown[] = [
			proxy,
			// eslint-disable-next-line @typescript-eslint/only-throw-error -- user code may throw anything
			new Proxy({}, { ownKeys: () => { throw 42; } }), // prettier-ignore
			new Proxy({}, { getPrototypeOf: () => { throw new Error('trap'); } }), // prettier-ignore
			Object.create(Map.prototype),
			Object.create(Date.prototype),
			{ get [Symbol.toStringTag]() { throw new Error('tag'); } }, // prettier-ignore
		];
		for (const w of weird) {
			try {
				assert.ok(isHexDigest(digest({ w })));
			} catch (e) {
				assert.ok(Indigestible.is(e), `threw ${String(e)}`);
			}
		}
	});
});

describe('cycles, sharing and depth', () => {
	test('cycles terminate and are deterministic', () => {
		const makeRing = (): unknown[] => {
			const a: unknown[] = [1];
			a.push(a);
			return a;
		};
		assert.equal(digest(makeRing()), digest(makeRing()));
		const makeObj = (): Record<string, unknown> => {
			const o: Record<string, unknown> = { name: 'o' };
			o['self'] = o;
			o['list'] = [o, { back: o }];
			return o;
		};
		assert.equal(digest(makeObj()), digest(makeObj()));
		const m = new Map<string, unknown>();
		m.set('me', m);
		assert.ok(isHexDigest(digest(m)));
		const s = new Set<unknown>();
		s.add(s);
		assert.ok(isHexDigest(digest(s)));
	});

	test('different cyclic structures differ', () => {
		const a: unknown[] = [];
		a.push(a);
		const b: unknown[] = [[]];
		(b[0] as unknown[]).push(b);
		const c: unknown[] = [1];
		c.push(c);
		const d: Record<string, unknown> = {};
		d['x'] = d;
		const e: Record<string, unknown> = {};
		e['y'] = e;
		allDistinct([a, b, c, d, e, [[]], []]);
	});

	test('shared subobjects (a DAG) are digested once, not once per path', () => {
		let reads = 0;
		let node: object = { leaf: true };
		for (let i = 0; i < 40; i++) {
			const next = node;
			const layer = {};
			for (const key of ['l', 'r']) {
				Object.defineProperty(layer, key, {
					enumerable: true,
					get: () => {
						reads++;
						return next;
					},
				});
			}
			node = layer;
		}
		const h = digest(node);
		assert.ok(reads < 2000, `${reads} property reads for a 40-layer DAG`);
		assert.equal(digest(node), h);
	});

	test('a densely cyclic graph finishes quickly', () => {
		const nodes: { id: number; links: unknown[] }[] = Array.from({ length: 12 }, (_, id) => ({ id, links: [] }));
		for (const n of nodes) n.links.push(...nodes.filter((m) => m !== n));
		const start = performance.now();
		const h = digest(nodes[0]);
		assert.ok(performance.now() - start < 5000);
		assert.equal(digest(nodes[0]), h);
	});

	test('deep nesting is iterated, not recursed; absurd depth is Indigestible, not a RangeError', () => {
		const list = (n: number): unknown => {
			let l: unknown = null;
			for (let i = 0; i < n; i++) l = { next: l };
			return l;
		};
		const h = digest(list(50_000));
		assert.equal(digest(list(50_000)), h);
		assert.notEqual(digest(list(50_001)), h);
		let arrays: unknown = [];
		for (let i = 0; i < 50_000; i++) arrays = [arrays];
		assert.ok(isHexDigest(digest(arrays)));

		const err = indigestible(() => digest(list(1_000_000)));
		assert.match(err.message, /nested more than/);
		assert.ok(err.path.startsWith('.next.next'));
		assert.ok(err.path.length < 1000, 'long paths are abbreviated');
	});

	test('an endlessly generated structure is Indigestible, not a hang', () => {
		class Endless {
			constructor() {
				Object.defineProperty(this, 'next', { enumerable: true, get: () => new Endless() });
			}
		}
		indigestible(() => digest(new Endless()));
	});

	test('a getter that mutates a Map during digestion does not derail it', () => {
		const m = new Map<string, unknown>();
		const trap = {};
		Object.defineProperty(trap, 'x', {
			enumerable: true,
			get: () => {
				m.set(`k${m.size}`, 1);
				return 1;
			},
		});
		m.set('a', trap);
		assert.ok(isHexDigest(digest(m)));
	});
});

describe('stability', () => {
	/** Built the same way in this process and in a child process. Only uses globals and the API. */
	const VALUES_SRC = `[
		42, -0, NaN, 'abc', '', 1n, true, null, undefined, 1.5e300,
		{ b: 1, a: [1, 2, 3] },
		[1, [2, [3]]],
		new Map([[1, 'x'], ['y', { z: 2 }]]),
		new Set([3, 1, 2]),
		new Date(86400000),
		/ab+c/gi,
		new Float64Array([1.5, -2, 3]),
		new Uint8Array([1, 2, 3]),
		Buffer.from('buffer'),
		new Error('boom'),
		new (class Point { constructor() { this.x = 1; this.y = 2; } })(),
		api.D('abc'),
		[1, api.D({ k: 'v' })],
		(() => { const a = [1]; a.push(a); return a; })(),
	]`;

	// Evaluated from source text so that the child process builds exactly the same values.
	// eslint-disable-next-line @typescript-eslint/no-implied-eval
	const makeValues = new Function('api', `return ${VALUES_SRC};`) as (api: unknown) => unknown[];

	/**
	 * The module the child should import: the built package when it resolves, else (when this test is bundled ad hoc
	 * with the source aliased) the module named by FLECHE_DIGEST_MODULE.
	 */
	function moduleForChild(): string {
		try {
			return createRequire(import.meta.url).resolve('fleche');
		} catch {
			const fromEnv = process.env['FLECHE_DIGEST_MODULE'];
			if (fromEnv) return resolve(fromEnv);
		}
		assert.fail('cannot locate the fleche package for the child process: build it or set FLECHE_DIGEST_MODULE');
	}

	test('a separate node process computes the same digests', () => {
		const here = makeValues({ D, Digest }).map((v) => digest(v));
		const script = `
			(async () => {
				const m = await import(process.argv[1]);
				const api = typeof m.digest === 'function' ? m : m.default;
				const values = new Function('api', ${JSON.stringify(`return ${VALUES_SRC};`)})(api);
				process.stdout.write(JSON.stringify(values.map((v) => api.digest(v))));
			})().catch((e) => { console.error(e); process.exit(1); });
		`;
		const out = execFileSync(process.execPath, ['-e', script, pathToFileURL(moduleForChild()).href], {
			encoding: 'utf8',
		});
		assert.deepEqual(JSON.parse(out), here);
	});

	test('pinned digests: if these change, every existing cache key changes (a breaking change)', () => {
		// digest(42) is sha256('n:42'), digest({ b: 1, a: [1, 2, 3] }) is sha256('o:1:a=<h>,1:b=<h>,') — see digest.ts.
		const pinned = [
			'fe7b6c95376133a33f3ab3a8e364ea93691055979660ae32244f105cbb13f938',
			'2ad5b68ce288b0b36b9e91df744a791c2b72f6ad553cfbbfbf105f2c2a46ec34',
			'0fda8597b7d94ca0ead8ad3d186e53db9dfcfda9f50014b243e3a5e703616781',
			'efff0385da714c8573aaf55138e8a03080e2d5666a680a6b017643d379019835',
			'05d8bd490f04e608c530dc30d63647d5d5685512ba40ce9dbd61a5fe509fa5df',
			'34340f0e82d75a3446150f4a916c20c1fe83f9d7cf6b61f4cc8ad69c420ab0a3',
			'b5bea41b6c623f7c09f1bf24dcae58ebab3c0cdd90ad966bc43a45b44867e12b',
			'74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b',
			'eb045d78d273107348b0300c01d29b7552d622abbc6faf81b3ec55359aa9950c',
			'cf8b87ffc6ff972991105c7306300962bd5cdd52600054a71ce45cf81e0800be',
			'0fc6afa50a7edbd1110ddec2f9714ae549f1135128b1c168f8740c3d89e7c449',
			'6b3fb8a86d073bb8c58d8698c5afce38518312121917a86a8d0e979e9185038e',
			'e83f150aabce80a6fe41b5587cb4d08ce47c9173542ec23eb8b2ab11739d18ce',
			'a7c07e42f781b668e735d96731ee120554d6f0e253a1a8c6bea1412768263e29',
			'2b3c3ec6bdef63714d8cb52f6394c3c6118c3c7cc2f2d62ba09bc9e76fc98ed0',
			'47808259f287ff2b72613b68f66f36c6b2e44e49cb08c67e18ab624b8a6dcb73',
			'010f3069d517be7e493512623f606423ff9731007a9f7a4118cc8d18f4214bd3',
			'8cae5d43aca4c8e848aec7c22a651014c459bf75fcf92ca3c0647abf3131b6bb',
			'32d3c9f1d10004b5637463b90ba06296f58da221c3fe78ea12fe4a7e0e0464f0',
			'390588f0585e26c4632eed0b175f63047512253b7e7a744895d8ea3b4a58b71d',
			'd49b55e5b25252007a87988034435ae7a994f6634e9680add12fe7e7efdb7c53',
			'abc',
			'd2c2026b50276d9b4890b1190a18badcade64d93f1e76d888b305743cc504936',
			// The one cyclic value: cycles are encoded as canonical graphs since classes and cycles were made faithful (this was 99d80486…).
			'9a26aa58b426ca378eddcb61989de4ec0e468b8d41cafe67331a41fc76bcef33',
		];
		assert.deepEqual(
			makeValues({ D, Digest }).map((v) => digest(v)),
			pinned,
		);
	});
});
