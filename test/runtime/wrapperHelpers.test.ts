// docs/behaviour.md §1.3, §1.4: the edges of fleche(fn) and @fleche() — option checks, parameter lists, the
// registry of cached functions, the helpers of functions, static methods and instances, and the decorator contract;
// the cases a mutation run of the wrapper (docs/mutation.md, group `wrapper`) showed no other test pinning down.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import {
	Cache,
	CallMemory,
	ValueMemory,
	cache,
	digest,
	digestSymbol,
	fleche,
	findFleche,
	isFleche,
	KeyError,
	listFleche,
	type CallRecord,
	type Fleche,
	type FlecheHelpers,
} from 'fleche';
import { captureLogs } from '../support/logs.ts';
import { memoryStore } from '../support/stores.ts';

// Warnings go to the test's log, not the console (argument `this` of a static method cannot be stored, only digested).
captureLogs();

describe('fleche(fn): options and parameters', () => {
	test("'ignore' and 'require' must name parameters; the message lists those there are", () => {
		assert.throws(() => fleche((a: number, b: number) => a + b, { name: 'add', ignore: ['z'] }), {
			name: 'TypeError',
			message: "fleche(add): 'ignore' names 'z', which is not a parameter (a, b)",
		});
		assert.throws(() => fleche(() => 1, { name: 'nothing', require: ['q'] }), {
			name: 'TypeError',
			message: "fleche(nothing): 'require' names 'q', which is not a parameter (none)",
		});
		// Naming real parameters is fine, in both lists.
		const f = fleche((a: number, b: number) => a - b, { name: 'sub', ignore: ['b'], require: ['a'] });
		assert.deepEqual(f.fleche.call(1, 2).arguments, { a: 1 });
	});

	test("'params' names the parameters, '...' marking the rest parameter", () => {
		const count = fleche((...xs: number[]) => xs.length, { name: 'count', params: ['first', '...rest'] });
		assert.deepEqual(count.fleche.params, ['first', 'rest']);
		assert.deepEqual(count.fleche.call(1, 2, 3).arguments, { first: 1, rest: [2, 3] });
	});

	test('options that are not an object are refused, also where a decorator context could be', () => {
		assert.throws(() => fleche((x: number) => x, null as never), { name: 'TypeError', message: 'fleche(): options must be an object' });
		assert.throws(() => fleche((x: number) => x, { kind: 'getter' } as never), { name: 'TypeError', message: "fleche(): unknown option 'kind'" });
	});

	test("a 'version' that is a number without a JSON form (NaN, ±Infinity) is refused when wrapping, not at every save", () => {
		for (const version of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
			assert.throws(() => fleche((x: number) => x, { name: 'v', version }), {
				name: 'TypeError',
				message: "fleche(): option 'version' must be a string, a finite number or { from: 'package.json' }",
			});
		}
		assert.equal(fleche((x: number) => x, { name: 'v', version: -1.5 }).fleche.identity.version, -1.5);
	});

	test('wrapping a cached function again returns it unchanged', () => {
		const once = fleche((x: number) => x + 1, { name: 'once' });
		assert.equal(fleche(once), once);
		assert.equal(fleche(once, { name: 'other' }), once);
	});

	test('a function with no name anywhere: the TypeError says where it was wrapped and how to name it', () => {
		const anonymous = [(x: number) => x][0]!;
		assert.equal(anonymous.name, '');
		assert.throws(
			() => [fleche(anonymous)],
			(err: unknown) =>
				err instanceof TypeError &&
				/^fleche\(\) could not find a name for this function \(.+wrapperHelpers\.test\.ts:\d+\): pass one with fleche\(fn, \{ name: '\.\.\.' \}\)$/.test(
					err.message,
				),
		);
	});

	test('identity: the code digest is the digest of the source text; the helpers are not enumerable', () => {
		const body = (x: number) => x * 7;
		const seven = fleche(body, { name: 'seven', hashCode: true });
		assert.equal(seven.fleche.identity.codeDigest, digest(body.toString()));
		assert.equal(fleche(body, { name: 'seven', hashCode: false }).fleche.identity.codeDigest, null);
		assert.equal(seven.fleche.fn, body);
		assert.deepEqual(Object.keys(seven), []);
		assert.equal(typeof seven.fleche, 'object');
	});

	test('a cached function digests as its identity under the fleche.function/1 scheme (stored keys depend on it)', () => {
		const inc = fleche((x: number) => x + 1, { name: 'inc', version: 4 });
		const expected = createHash('sha256')
			.update(`fleche.function/1\n${JSON.stringify(inc.fleche.identity)}`)
			.digest('hex');
		assert.equal((inc as unknown as Record<symbol, () => string>)[digestSymbol]!(), expected);
	});
});

describe('where a cached function was made', () => {
	test('location: the source file, the file the process loaded and the line of the fleche() call', () => {
		const here = new Error().stack!.split('\n')[1]!;
		const located = fleche((x: number) => x, { name: 'located' });
		const { location } = located.fleche;
		assert.ok(location !== undefined);
		assert.deepEqual(Object.keys(location), ['source', 'loaded', 'line']);
		assert.match(location.source, /wrapperHelpers\.test\.ts$/);
		assert.match(location.loaded, /wrapperHelpers\.test\.js$/);
		// The line above the call, as the stack of this test saw it (source-mapped like the wrapper's).
		const stackLine = /wrapperHelpers\.test\.ts:(\d+):/.exec(here)?.[1];
		if (stackLine !== undefined) assert.equal(location.line, Number(stackLine) + 1);
		assert.ok(Number.isInteger(location.line) && location.line > 0);
	});
});

describe('the registry: isFleche, findFleche, listFleche', () => {
	test('every cached function is registered under its module and name; the last one created wins', () => {
		const plain = (x: number) => x;
		const first = fleche(plain, { name: 'registered', module: 'reg/mod.ts' });
		assert.equal(isFleche(first), true);
		assert.equal(isFleche(plain), false);
		assert.equal(isFleche(42), false);
		assert.equal(findFleche('reg/mod.ts', 'registered'), first);
		assert.equal(findFleche('reg/mod.ts', 'unknown'), undefined);
		assert.equal(findFleche('reg/other.ts', 'registered'), undefined);
		assert.ok(listFleche().includes(first));
		const second = fleche((x: number) => x * 2, { name: 'registered', module: 'reg/mod.ts' });
		assert.equal(findFleche('reg/mod.ts', 'registered'), second);
		assert.ok(listFleche().includes(second));
		assert.ok(!listFleche().includes(first), 'replaced under the same identity');
		const unhashed = fleche((x: number) => x, { name: 'unhashed-reg', hashModule: false });
		assert.equal(findFleche(null, 'unhashed-reg'), unhashed);
	});

	test('one registry per process: the CommonJS build of the package finds what the ES module build made', () => {
		const cjs = createRequire(import.meta.url)('fleche') as { findFleche: typeof findFleche; isFleche: typeof isFleche };
		assert.notEqual(cjs.findFleche, findFleche, 'two copies of the package');
		const shared = fleche((x: number) => x, { name: 'shared-registry', module: 'reg/shared.ts' });
		assert.equal(cjs.findFleche('reg/shared.ts', 'shared-registry'), shared);
		assert.equal(cjs.isFleche(shared), true);
	});
});

describe('helpers on f.fleche, edge by edge', () => {
	test('load on a miss: a KeyError naming the function and the start of the key', () => {
		using _ = cache(memoryStore());
		const add = fleche((a: number, b: number) => a + b, { name: 'add' });
		const key = add.fleche.digest(1, 2);
		assert.throws(
			() => add.fleche.load(1, 2),
			(err: unknown) => KeyError.is(err) && (err as Error).message === `No cached result for add with these arguments (key ${key.slice(0, 12)}…)`,
		);
	});

	test('evict answers false on a miss but lets any other failure through', () => {
		const store = memoryStore();
		const add = fleche((a: number, b: number) => a + b, { name: 'add' });
		cache(store, () => add(1, 2));
		cache(store.readonly(), () => {
			assert.throws(
				() => add.fleche.evict(1, 2),
				(err: unknown) => err instanceof Error && !KeyError.is(err),
			);
			assert.throws(
				() => add.fleche.evict(5, 5),
				(err: unknown) => err instanceof Error && !KeyError.is(err),
			);
		});
		cache(store, () => {
			assert.equal(add.fleche.contains(1, 2), true, 'the read-only view removed nothing');
			assert.equal(add.fleche.evict(5, 5), false);
		});
	});

	test('query keeps to this function: same name with another version or code is another function', () => {
		using _ = cache(memoryStore());
		const v1 = fleche((x: number) => x, { name: 'same', version: 1 });
		const v2 = fleche((x: number) => x, { name: 'same', version: 2 });
		const code1 = fleche((x: number) => x + 1, { name: 'coded', hashCode: true });
		const code2 = fleche((x: number) => x + 2, { name: 'coded', hashCode: true });
		const moduleA = fleche((x: number) => x, { name: 'placed', module: 'a.ts' });
		const moduleB = fleche((x: number) => x, { name: 'placed', module: 'b.ts' });
		for (const f of [v1, v2, code1, code2, moduleA, moduleB]) f(1);
		v1(2);
		for (const f of [v2, code1, code2, moduleA, moduleB]) assert.equal(f.fleche.query().count(), 1, f.fleche.identity.name);
		assert.equal(v1.fleche.query().count(), 2);
		assert.equal(v1.fleche.query({ x: 2 }).only().result, 2);
		assert.equal(code2.fleche.query().only().result, 3);
		assert.equal(moduleB.fleche.query().only().module, 'b.ts');
	});

	test('bind pre-applies arguments and keeps the cache active at bind time', () => {
		const store = memoryStore();
		const sub = fleche((a: number, b: number) => a - b, { name: 'sub' });
		const from10 = cache(store, () => sub.fleche.bind(10));
		assert.equal(from10(3), 7);
		assert.equal(
			cache(store, () => sub.fleche.contains(10, 3)),
			true,
		);
	});
});

/** The method `name` as it is found on `owner` (an instance, a class or a prototype), not called. */
function methodOf(owner: object, name: string): unknown {
	for (let o: object | null = owner; o !== null; o = Object.getPrototypeOf(o) as object | null) {
		const found = Object.getOwnPropertyDescriptor(o, name);
		if (found) return found.value as unknown;
	}
	return undefined;
}

/** The helpers a decorated method carries on its owner (the decorator leaves the method's declared type as it was). */
function helpersOf(owner: object, name: string): FlecheHelpers<(x: number) => number> {
	return (methodOf(owner, name) as Fleche<(x: number) => number>).fleche;
}

describe('@fleche() on methods, edge by edge', () => {
	test('a static method: identity Class.method, helpers bound to the class', () => {
		using _ = cache(memoryStore());
		let runs = 0;
		class Scaler {
			static factor = 3;
			// A class is not digestible by itself; as `this` of a static method it says what it is.
			static [Symbol.for('fleche.digest')]() {
				return 'Scaler';
			}
			@fleche()
			static scale(x: number): number {
				runs++;
				return x * this.factor;
			}
		}
		assert.equal(Scaler.scale(2), 6);
		assert.equal(Scaler.scale(2), 6);
		assert.equal(runs, 1);
		const helpers = helpersOf(Scaler, 'scale');
		assert.equal(helpers.identity.name, 'Scaler.scale');
		assert.equal(helpers.contains(2), true);
		assert.equal(helpers.load(2), 6);
		assert.deepEqual(helpers.params, ['x']);
		assert.equal(helpers.bind()(2), 6, 'bind keeps the class as this');
		assert.equal(runs, 1);
	});

	test('an instance gets its own hidden copy of the method, whose helpers are bound to it and made once', () => {
		using _ = cache(memoryStore());
		let runs = 0;
		class Model {
			constructor(readonly scale: number) {}
			@fleche()
			predict(x: number): number {
				runs++;
				return x * this.scale;
			}
		}
		const m = new Model(3);
		assert.deepEqual(Object.keys(m), ['scale'], 'the copy is not enumerable: not part of the key, not stored');
		const own = methodOf(m, 'predict') as (x: number) => number;
		assert.equal(Object.hasOwn(m, 'predict'), true);
		assert.notEqual(own, methodOf(Model.prototype, 'predict'));
		assert.equal(own.name, 'predict');
		assert.equal(isFleche(own), true);
		assert.equal(m.predict(2), 6);
		const helpers = helpersOf(m, 'predict');
		assert.equal(helpersOf(m, 'predict'), helpers, 'made once per instance');
		assert.equal(helpers.identity.name, 'Model.predict');
		assert.equal(helpers.contains(2), true);
		assert.equal(helpersOf(new Model(3), 'predict').contains(2), true, 'an equal instance makes the same key');
		assert.equal(helpersOf(new Model(4), 'predict').contains(2), false);
		assert.equal(helpers.load(2), 6);
		assert.equal(helpers.bind(2)(), 6, 'bind keeps the instance');
		assert.equal(helpers.call(2).name, 'Model.predict');
		assert.equal(runs, 1);
		assert.equal(helpers.evict(2), true);
		assert.equal(m.predict(2), 6);
		assert.equal(runs, 2);
	});

	test('a subclass that inherits the method keys it under its own name; a method called without this still runs', () => {
		using _ = cache(memoryStore());
		class Model {
			@fleche()
			predict(x: number): number {
				return x * 2;
			}
		}
		class Tuned extends Model {}
		assert.equal(helpersOf(new Model(), 'predict').identity.name, 'Model.predict');
		assert.equal(helpersOf(new Tuned(), 'predict').identity.name, 'Tuned.predict');
		assert.equal(helpersOf(new Model(), 'predict').identity.name, 'Model.predict', 'one profile per class');
		assert.equal(new Tuned().predict(2), 4);
		assert.equal(cache().query({ name: 'Tuned.predict' }).count(), 1);
		const detached = methodOf(Model.prototype, 'predict') as (this: unknown, x: number) => number;
		assert.equal(detached.call(undefined, 5), 10);
	});

	test('an override in a subclass is left alone', () => {
		using _ = cache(memoryStore());
		class Base {
			@fleche()
			value(x: number): number {
				return x + 1;
			}
		}
		class Derived extends Base {
			override value(x: number): number {
				return -x;
			}
		}
		assert.equal(new Derived().value(2), -2);
		assert.equal(isFleche(methodOf(new Derived(), 'value')), false);
		assert.equal(new Base().value(2), 3);
	});

	test('a name option replaces Class.method; a decorator on anything but a method is a TypeError', () => {
		using _ = cache(memoryStore());
		class Named {
			@fleche({ name: 'custom' })
			run(x: number): number {
				return x;
			}
		}
		assert.equal(helpersOf(new Named(), 'run').identity.name, 'custom');
		const decorator = fleche() as unknown as (fn: unknown, context: unknown) => unknown;
		assert.throws(() => decorator(() => 1, { kind: 'getter', name: 'g', static: false, private: false }), {
			name: 'TypeError',
			message: '@fleche() decorates methods only',
		});
	});

	test('fleche(method, context) called directly is the decorator without options', () => {
		using _ = cache(memoryStore());
		const initializers: ((this: unknown) => void)[] = [];
		const context = { kind: 'method', name: 'double', static: false, private: false, addInitializer: (f: (this: unknown) => void) => initializers.push(f) };
		let runs = 0;
		const method = function (this: { n: number }, x: number) {
			runs++;
			return x * 2 * this.n;
		};
		const wrapped = fleche(method, context as never) as typeof method;
		assert.equal(wrapped.name, 'double');
		assert.equal(isFleche(wrapped), true);
		assert.equal(initializers.length, 1);
		const owner = { n: 1, double: wrapped, [Symbol.for('fleche.digest')]: () => 'owner' };
		assert.equal(owner.double(4), 8);
		assert.equal(owner.double(4), 8);
		assert.equal(runs, 1, 'the second call is a hit');
		assert.equal(cache().query({ name: 'Object.double' }).count(), 1);
	});
});

/** Memory storage that also answers asynchronously, as a database server's does, counting how it was asked. */
class AsyncCalls extends CallMemory {
	gets = 0;
	finds = 0;
	asyncFinds = 0;
	override get(key: string): CallRecord {
		this.gets++;
		return super.get(key);
	}
	override find(key: string): CallRecord | undefined {
		this.finds++;
		return super.find(key);
	}
	findAsync(key: string): Promise<CallRecord | undefined> {
		this.asyncFinds++;
		return Promise.resolve(super.find(key));
	}
}
class AsyncValues extends ValueMemory {
	getAsync(key: string): Promise<unknown> {
		return Promise.resolve(this.get(key));
	}
}

describe('how a cached function looks up, and what it gives back', () => {
	test('an async function awaits a store that answers asynchronously; a function returning a promise is asked synchronously', async () => {
		const calls = new AsyncCalls();
		using _ = cache(new Cache(new AsyncValues(), calls));
		const later = fleche(async (x: number) => x + 1, { name: 'later', module: 'looks' });
		const promised = fleche((x: number) => Promise.resolve(x + 2), { name: 'promised', module: 'looks' });
		assert.equal(await later(1), 2);
		assert.equal(await later(1), 2);
		assert.deepEqual([calls.asyncFinds, calls.finds], [2, 0], 'both calls of the async function looked up without blocking');
		assert.equal(await promised(1), 3);
		assert.equal(await promised(1), 3);
		assert.equal(calls.asyncFinds, 2, 'a function that is not async is looked up synchronously, however it returns');
		assert.ok(calls.finds >= 2);
	});

	test('a generator function, async or not, gives its caller the iterator, uncached, whatever the store', async () => {
		using _ = cache(new Cache(new AsyncValues(), new AsyncCalls()));
		const numbers = fleche(
			async function* numbers(n: number) {
				for (let i = 0; i < n; i++) yield i;
			},
			{ name: 'numbers', module: 'looks' },
		);
		const syncNumbers = fleche(
			function* syncNumbers(n: number) {
				for (let i = 0; i < n; i++) yield i;
			},
			{ name: 'syncNumbers', module: 'looks' },
		);
		for (let round = 0; round < 2; round++) {
			const got: number[] = [];
			for await (const i of numbers(3)) got.push(i);
			assert.deepEqual(got, [0, 1, 2]);
			assert.deepEqual([...syncNumbers(2)], [0, 1]);
		}
		assert.equal(cache().query({ name: 'numbers' }).count(), 0);
	});

	test('contains() without a max age asks whether the call is there, without reading its record', () => {
		const counted = new AsyncCalls();
		using _ = cache(new Cache(new ValueMemory(), counted));
		const f = fleche((x: number) => x * 3, { name: 'tripled', module: 'looks' });
		f(2);
		counted.gets = counted.finds = 0;
		assert.equal(f.fleche.contains(2), true);
		assert.equal(f.fleche.contains(5), false);
		assert.deepEqual([counted.gets, counted.finds, counted.asyncFinds], [0, 0, 0]);
	});

	test('contains() under a max age: a call gone between asking and reading its record is not there', () => {
		// A store that still lists a call another process evicted a moment ago: its record is gone when read.
		class Lagging extends CallMemory {
			override contains(): boolean {
				return true;
			}
		}
		using _ = cache(new Cache(new ValueMemory(), new Lagging()));
		const f = fleche((x: number) => x * 4, { name: 'quadrupled', module: 'looks', maxAge: '1h' });
		assert.equal(f.fleche.contains(2), false);
		f(2);
		assert.equal(f.fleche.contains(2), true);
	});

	test('contains() under a max age lets a failure to read a record through: only a call not there is false', () => {
		class Failing extends CallMemory {
			override contains(): boolean {
				return true;
			}
			override get(): CallRecord {
				throw new Error('the disk is on fire');
			}
		}
		using _ = cache(new Cache(new ValueMemory(), new Failing()));
		const f = fleche((x: number) => x * 5, { name: 'quintupled', module: 'looks', maxAge: '1h' });
		assert.throws(() => f.fleche.contains(2), { message: 'the disk is on fire' });
	});

	test('a function without a prototype chain (no constructor to ask whether it is async) is cached as a plain one', () => {
		using _ = cache(memoryStore());
		let runs = 0;
		const bare = Object.setPrototypeOf(function bare(x: number) {
			runs++;
			return x + 1;
		}, null) as (x: number) => number;
		const f = fleche(bare, { name: 'bare', module: 'looks' });
		assert.equal(f(1), 2);
		assert.equal(f(1), 2);
		assert.equal(runs, 1);
	});

	test('a function whose parameters cannot be read (a bound or native one) keys its arguments as one rest list', () => {
		using _ = cache(memoryStore());
		const larger = fleche(Math.max.bind(null), { name: 'larger', module: 'looks' });
		assert.deepEqual(larger.fleche.params, ['args']);
		assert.equal(larger(1, 5, 3), 5);
		assert.deepEqual(larger.fleche.call(1, 5, 3).arguments, { args: [1, 5, 3] });
		assert.notEqual(larger.fleche.digest(1, 5), larger.fleche.digest(1, 5, 3));
		assert.equal(larger.fleche.contains(1, 5, 3), true);
	});

	test('fleche() called from code with no file (eval): a name is needed, a version works, deep code hashing says why it cannot', () => {
		// Three frames of code without a file name above fleche() (as many as it looks at): no call site to name the
		// function or its module by.
		type Wrap = (fn: (x: number) => number, options?: object) => Fleche<(x: number) => number>;
		/* eslint-disable @typescript-eslint/no-implied-eval, @typescript-eslint/no-unsafe-call -- code without a file is what this test is about */
		const l3 = new Function('fleche', 'fn', 'o', 'return fleche(fn, o)');
		const l2 = new Function('l3', 'fleche', 'fn', 'o', 'return l3(fleche, fn, o)');
		const l1 = new Function('l2', 'l3', 'fleche', 'fn', 'o', 'return l2(l3, fleche, fn, o)');
		const fromEval: Wrap = (fn, options) => l1(l2, l3, fleche, fn, options) as Fleche<(x: number) => number>;
		/* eslint-enable @typescript-eslint/no-implied-eval, @typescript-eslint/no-unsafe-call */
		assert.throws(() => fromEval([(x: number) => x][0]!), {
			name: 'TypeError',
			message: "fleche() could not find a name for this function: pass one with fleche(fn, { name: '...' })",
		});
		using _ = cache(memoryStore());
		const versioned = fromEval((x: number) => x + 1, { name: 'versioned', version: 2 });
		assert.equal(versioned(1), 2);
		assert.deepEqual([versioned.fleche.identity.version, versioned.fleche.identity.module, versioned.fleche.location], [2, null, undefined]);
		const deep = fromEval((x: number) => x + 1, { name: 'deepNoFile', hashCode: 'deep' });
		assert.throws(() => deep(1), {
			name: 'TypeError',
			message: "fleche(deepNoFile): hashCode: 'deep' needs the file that called fleche(), and it could not be found",
		});
	});

	test("an instance's cached method can be replaced and deleted like any own method (tests stub them)", () => {
		using _ = cache(memoryStore());
		class Model {
			@fleche()
			predict(x: number): number {
				return x * 2;
			}
		}
		const m = new Model();
		assert.equal(m.predict(2), 4);
		m.predict = (x: number) => x * 100;
		assert.equal(m.predict(2), 200);
		assert.equal(Reflect.deleteProperty(m, 'predict'), true);
		assert.equal(m.predict(2), 4, 'back to the class method');
	});
});
