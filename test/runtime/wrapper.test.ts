// docs/behaviour.md §1.3, §1.4: fleche(fn) — signatures, identity, keys, semantics of hits and misses.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fleche, cache, D, digest, KeyError, Runtime, meta, Cache, ValueFile, CallFile, ValueMemory, CallMemory, type Fleche, type PendingCall, type PreparedCall } from 'fleche';
import { captureLogs } from '../support/logs.ts';
import { fileStore, memoryStore } from '../support/stores.ts';

const logs = captureLogs();

/** A body that records its calls; `params` names its parameters, since a spread wrapper hides them. */
function counted<A extends unknown[], R>(body: (...a: A) => R) {
	const calls: A[] = [];
	const fn = (...a: A): R => {
		calls.push(a);
		return body(...a);
	};
	return { fn, calls };
}

describe('signatures', () => {
	test('a synchronous function stays synchronous: a hit returns the value itself', () => {
		using _ = cache(memoryStore());
		let runs = 0;
		const square = fleche((x: number) => {
			runs++;
			return x * x;
		});
		assert.equal(square(4), 16);
		const second = square(4);
		assert.equal(second, 16);
		assert.equal(typeof second, "number", "a plain value, not a Promise");
		assert.equal(runs, 1);
	});

	test('an async function stays async: a hit returns an already-resolved Promise without running the body', async () => {
		using _ = cache(memoryStore());
		let runs = 0;
		const fetchIt = fleche(async (x: number) => {
			runs++;
			await new Promise((r) => setTimeout(r, 1));
			return { x };
		});
		assert.deepEqual(await fetchIt(1), { x: 1 });
		const hit = fetchIt(1);
		assert.ok(hit instanceof Promise);
		assert.deepEqual(await hit, { x: 1 });
		assert.equal(runs, 1);
	});

	test('the wrapper keeps name and length, and Function.prototype.call/bind still work on it', () => {
		using _ = cache(memoryStore());
		function add(a: number, b: number) {
			return a + b;
		}
		const f = fleche(add);
		assert.equal(f.name, 'add');
		assert.equal(f.length, 2);
		assert.equal(f.call(null, 1, 2), 3);
		assert.equal(f.bind(null, 5)(1), 6);
		assert.equal(typeof f.fleche.bind, 'function');
	});
});

describe('identity', () => {
	test('name: the function name, else the variable it is assigned to', () => {
		function named() {
			return 1;
		}
		assert.equal(fleche(named).fleche.identity.name, 'named');
		const assigned = fleche((x: number) => x);
		assert.equal(assigned.fleche.identity.name, 'assigned');
		const multiLine =
			fleche((x: number) => x + 1);
		assert.equal(multiLine.fleche.identity.name, 'multiLine');
		const withOptions = fleche((x: number) => x, { version: 3 });
		assert.equal(withOptions.fleche.identity.name, 'withOptions');
		assert.equal(fleche((x: number) => x, { name: 'explicit' }).fleche.identity.name, 'explicit');
	});

	test('a function with no name anywhere is a TypeError asking for `name`', () => {
		assert.throws(
			() => [fleche((x: number) => x)],
			(err: unknown) => err instanceof TypeError && /name/.test(err.message),
		);
	});

	test('module: the calling file relative to the nearest package.json, with / separators', () => {
		const f = fleche((x: number) => x, { name: 'm' });
		assert.equal(f.fleche.identity.module, 'test/runtime/wrapper.test.ts');
		assert.equal(fleche((x: number) => x, { name: 'm', module: 'lib/x' }).fleche.identity.module, 'lib/x');
	});

	test('version, hashVersion, hashModule and hashCode shape the key', () => {
		const a = fleche((x: number) => x, { name: 'f' });
		const v2 = fleche((x: number) => x, { name: 'f', version: 2 });
		const v2NoHash = fleche((x: number) => x, { name: 'f', version: 2, hashVersion: false });
		const otherModule = fleche((x: number) => x, { name: 'f', module: 'elsewhere.ts' });
		const otherModuleNoHash = fleche((x: number) => x, { name: 'f', module: 'elsewhere.ts', hashModule: false });
		const noModule = fleche((x: number) => x, { name: 'f', hashModule: false });
		assert.notEqual(a.fleche.digest(1), v2.fleche.digest(1));
		assert.equal(a.fleche.digest(1), v2NoHash.fleche.digest(1));
		assert.notEqual(a.fleche.digest(1), otherModule.fleche.digest(1));
		assert.equal(otherModuleNoHash.fleche.digest(1), noModule.fleche.digest(1));
		const code1 = fleche((x: number) => x + 1, { name: 'g', hashCode: true });
		const code2 = fleche((x: number) => x + 2, { name: 'g', hashCode: true });
		const noCode1 = fleche((x: number) => x + 1, { name: 'g' });
		const noCode2 = fleche((x: number) => x + 2, { name: 'g' });
		assert.notEqual(code1.fleche.digest(1), code2.fleche.digest(1));
		assert.equal(noCode1.fleche.digest(1), noCode2.fleche.digest(1));
		assert.match(code1.fleche.identity.codeDigest ?? '', /^[0-9a-f]{64}$/);
		assert.equal(noCode1.fleche.identity.codeDigest, null);
	});

	test('bad options are a TypeError at wrap time', () => {
		assert.throws(() => fleche((x: number) => x, { name: 'f', bogus: 1 } as never), TypeError);
		assert.throws(() => fleche((x: number) => x, { name: 'f', version: {} as never }), TypeError);
		assert.throws(() => fleche((x: number) => x, { name: 'f', ignore: ['y'] }), /not a parameter/);
		assert.throws(() => fleche(42 as never, { name: 'f' }), TypeError);
	});
});

describe('arguments and keys', () => {
	test('arguments are recorded by parameter name, literal defaults applied', () => {
		const f = fleche((a: number, b = 10, ...rest: number[]) => a + b + rest.length, { name: 'f' });
		assert.deepEqual(f.fleche.params, ['a', 'b', 'rest']);
		assert.deepEqual(f.fleche.call(1).arguments, { a: 1, b: 10, rest: [] });
		assert.equal(f.fleche.digest(1), f.fleche.digest(1, 10));
		assert.notEqual(f.fleche.digest(1), f.fleche.digest(1, 11));
		assert.notEqual(f.fleche.digest(1, 10), f.fleche.digest(1, 10, 5));
	});

	test('parameters are read from bodies that use module-only syntax (import.meta)', () => {
		const f = fleche((file: string, base = 2) => `${import.meta.url}:${file}:${base}`, { name: 'f' });
		assert.deepEqual(f.fleche.params, ['file', 'base']);
		assert.deepEqual(f.fleche.call('x').arguments, { file: 'x', base: 2 });
	});

	test('destructured parameters are named by position; `params` names them explicitly', () => {
		const f = fleche(({ a }: { a: number }, [b]: number[]) => a + (b ?? 0), { name: 'f' });
		assert.deepEqual(f.fleche.params, ['arg0', 'arg1']);
		const g = fleche(Math.max, { name: 'max', params: ['...values'] });
		assert.deepEqual(g.fleche.params, ['values']);
		using _ = cache(memoryStore());
		assert.equal(g(1, 5, 3), 5);
		assert.deepEqual(g.fleche.call(1, 5, 3).arguments, { values: [1, 5, 3] });
	});

	test('ignored parameters are out of the key and of the stored record', () => {
		using _ = cache(memoryStore());
		const log: string[] = [];
		const f = fleche((x: number, logger: (s: string) => void) => {
			logger(`x=${x}`);
			return x * 2;
		}, { name: 'f', ignore: 'logger' });
		assert.equal(f(2, (s) => log.push(s)), 4);
		assert.equal(f(2, () => assert.fail('must hit')), 4);
		const stored = f.fleche.query().only();
		assert.deepEqual(Object.keys(stored.arguments), ['x']);
	});

	test('a call missing a required argument runs uncached with a warning', () => {
		using _ = cache(memoryStore());
		logs.clear();
		const { fn, calls } = counted((a: number, b?: number) => a + (b ?? 1));
		const f = fleche(fn, { name: 'f', require: 'b', params: ['a', 'b'] });
		f(1);
		f(1);
		assert.equal(calls.length, 2);
		assert.equal(f.fleche.query().count(), 0);
		assert.equal(logs.codes('FLECHE_MISSING_REQUIRED').length, 2);
		f(1, 2);
		f(1, 2);
		assert.equal(calls.length, 3);
	});

	test('argument values are sealed before the body runs: mutation does not change the key or the record', () => {
		using _ = cache(memoryStore());
		const f = fleche((xs: number[]) => {
			const total = xs.reduce((a, b) => a + b, 0);
			xs.push(99);
			return total;
		}, { name: 'sum' });
		const input = [1, 2, 3];
		assert.equal(f(input), 6);
		assert.deepEqual(input, [1, 2, 3, 99]);
		assert.equal(f.fleche.load([1, 2, 3]), 6);
		assert.deepEqual(f.fleche.query().only().arguments, { xs: [1, 2, 3] });
	});

	test('a Digest argument is replaced by the stored value: f(D(k)) is f(value)', () => {
		const store = memoryStore();
		using _ = cache(store);
		const { fn, calls } = counted((xs: number[]) => xs.length);
		const f = fleche(fn, { name: 'len', params: ['xs'] });
		const valueKey = store.saveValue([1, 2, 3]);
		assert.equal(valueKey, digest([1, 2, 3]));
		assert.equal(f(D(valueKey) as never), 3);
		assert.deepEqual(calls[0], [[1, 2, 3]]);
		assert.equal(f([1, 2, 3]), 3);
		assert.equal(calls.length, 1);
		assert.equal(f.fleche.digest(D(valueKey.slice(0, 10)) as never), f.fleche.digest([1, 2, 3]));
		assert.throws(() => f(D('ffffffffffff') as never), KeyError);
	});

	test('an indigestible argument runs the call uncached with one warning naming the argument', () => {
		using _ = cache(memoryStore());
		logs.clear();
		const { fn, calls } = counted((x: { cb: () => void }) => typeof x.cb);
		const f = fleche(fn, { name: 'takesCallback', params: ['x'] });
		assert.equal(f({ cb: () => {} }), 'function');
		assert.equal(f({ cb: () => {} }), 'function');
		assert.equal(calls.length, 2);
		const warnings = logs.codes('FLECHE_INDIGESTIBLE');
		assert.equal(warnings.length, 1);
		assert.match(warnings[0]!.message, /x\.cb/);
	});

	test('extra arguments beyond the declared ones are part of the key', () => {
		using _ = cache(memoryStore());
		const f = fleche(function varargs(a: number) {
			 
			return a + arguments.length;
		});
		assert.equal((f as (...a: number[]) => number)(1, 2, 3), 4);
		assert.equal(f(1), 2);
	});
});

describe('what is (not) cached', () => {
	test('exceptions are never cached', () => {
		using _ = cache(memoryStore());
		let runs = 0;
		const f = fleche((x: number) => {
			runs++;
			if (runs === 1) throw new Error('boom');
			return x;
		}, { name: 'flaky' });
		assert.throws(() => f(1), /boom/);
		assert.equal(f.fleche.contains(1), false);
		assert.equal(f(1), 1);
		assert.equal(f(1), 1);
		assert.equal(runs, 2);
	});

	test('rejections are never cached', async () => {
		using _ = cache(memoryStore());
		let runs = 0;
		const f = fleche(async (x: number) => {
			runs++;
			if (runs === 1) throw new Error('nope');
			return x;
		}, { name: 'flakyAsync' });
		await assert.rejects(f(1), /nope/);
		assert.equal(f.fleche.contains(1), false);
		assert.equal(await f(1), 1);
		assert.equal(await f(1), 1);
		assert.equal(runs, 2);
	});

	test('a call that throws, rejects or returns undefined gives its prepared call up: a cache leasing keys serves the next call', async () => {
		// A cache whose prepared calls hold something until commit or abandon (here a lease on the key, as a cache
		// that guards against two writers would): a body that fails must not keep it, or the key never caches again.
		class Leasing extends Cache {
			readonly leased = new Set<string>();
			override prepare(call: PendingCall): PreparedCall {
				if (this.leased.has(call.key)) throw new Error(`${call.key} is leased by an earlier call`);
				const prepared = super.prepare(call);
				this.leased.add(call.key);
				const release = (): void => void this.leased.delete(call.key);
				return {
					key: prepared.key,
					commit: (result, metadata, options) => {
						release();
						return prepared.commit(result, metadata, options);
					},
					abandon: () => {
						release();
						prepared.abandon();
					},
				};
			}
		}
		const store = new Leasing(new ValueMemory(), new CallMemory());
		using _ = cache(store);
		logs.clear();
		let runs = 0;
		const throws = fleche((x: number) => {
			if (runs++ === 0) throw new Error('boom');
			return x;
		}, { name: 'throwsOnce' });
		const rejects = fleche(async (x: number) => {
			if (runs++ === 2) throw new Error('nope');
			return x;
		}, { name: 'rejectsOnce' });
		const undef = fleche((x: number) => (runs++ === 4 ? undefined : x), { name: 'undefinedOnce' });
		assert.throws(() => throws(1), /boom/);
		assert.equal(throws(1), 1);
		await assert.rejects(rejects(2), /nope/);
		assert.equal(await rejects(2), 2);
		assert.equal(undef(3), undefined);
		assert.equal(undef(3), 3);
		assert.deepEqual([...store.leased], [], 'every prepared call was committed or abandoned');
		assert.deepEqual(logs.codes('FLECHE_REJECTED'), []);
		assert.deepEqual([throws.fleche.contains(1), rejects.fleche.contains(2), undef.fleche.contains(3)], [true, true, true]);
		assert.equal(runs, 6);
	});

	test('undefined is never cached (one warning per function); null is', () => {
		using _ = cache(memoryStore());
		logs.clear();
		const u = counted((x: number) => (x > 100 ? x : undefined));
		const fu = fleche(u.fn, { name: 'maybe', params: ['x'] });
		fu(1);
		fu(1);
		fu(2);
		assert.equal(u.calls.length, 3);
		assert.equal(logs.codes('FLECHE_UNDEFINED_RESULT').length, 1);
		const n = counted((_x: number) => null);
		const fn = fleche(n.fn, { name: 'nothing', params: ['x'] });
		assert.equal(fn(1), null);
		assert.equal(fn(1), null);
		assert.equal(n.calls.length, 1);
	});

	test('identical concurrent calls of an async function share one in-flight promise', async () => {
		using _ = cache(memoryStore());
		let runs = 0;
		let release!: () => void;
		const gate = new Promise<void>((r) => (release = r));
		const f = fleche(async (x: number) => {
			runs++;
			await gate;
			return x * 10;
		}, { name: 'slow' });
		const p1 = f(7);
		const p2 = f(7);
		const p3 = f(8);
		assert.equal(p1, p2);
		release();
		assert.deepEqual(await Promise.all([p1, p2, p3]), [70, 70, 80]);
		assert.equal(runs, 2);
	});

	test('a body that returns a Promise has it passed through and cached on resolution (docs/behaviour.md §3.3)', async () => {
		using _ = cache(memoryStore());
		let runs = 0;
		const inner = Promise.resolve(16);
		const squareLater = fleche((x: number): Promise<number> => {
			runs++;
			return x === 4 ? inner : Promise.resolve(x * x);
		}, { name: 'squareLater' });
		const first = squareLater(4);
		assert.equal(first, inner);
		assert.equal(await first, 16);
		assert.equal(squareLater.fleche.contains(4), true);
		const second = squareLater(4);
		assert.ok(second instanceof Promise);
		assert.notEqual(second, inner);
		assert.equal(await second, 16);
		assert.equal(runs, 1);
	});

	test('a failed save still returns the result, with a warning', () => {
		logs.clear();
		const { cache: store } = fileStore();
		using _ = cache(store);
		const f = fleche(() => ({ fn: () => 1 }), { name: 'returnsFunction' });
		const r = f();
		assert.equal(typeof r.fn, 'function');
		assert.equal(logs.codes('FLECHE_REJECTED').length, 1);
		assert.equal(f.fleche.contains(), false);
	});
});

describe('helpers on f.fleche', () => {
	test('call, digest, contains, load, evict', () => {
		using _ = cache(memoryStore());
		const add = fleche((a: number, b: number) => a + b, { name: 'add' });
		const call = add.fleche.call(1, 2);
		assert.deepEqual(call.arguments, { a: 1, b: 2 });
		assert.equal(call.name, 'add');
		assert.match(add.fleche.digest(1, 2), /^[0-9a-f]{64}$/);
		assert.equal(add.fleche.contains(1, 2), false);
		assert.throws(() => add.fleche.load(1, 2), (err: unknown) => KeyError.is(err) && /add/.test((err as Error).message));
		add(1, 2);
		assert.equal(add.fleche.contains(1, 2), true);
		assert.equal(add.fleche.load(1, 2), 3);
		assert.equal(add.fleche.evict(1, 2), true);
		assert.equal(add.fleche.evict(1, 2), false);
		assert.equal(add.fleche.contains(1, 2), false);
	});

	test('rerun re-executes the call and every nested fleche call, overwriting their entries', () => {
		using _ = cache(memoryStore());
		let version = 1;
		const l3 = fleche((x: number) => `l3:${x}:v${version}`, { name: 'l3' });
		const l2 = fleche((x: number) => `l2(${l3(x)})`, { name: 'l2' });
		const l1 = fleche((x: number) => `l1(${l2(x)})`, { name: 'l1' });
		assert.equal(l1(0), 'l1(l2(l3:0:v1))');
		version = 2;
		assert.equal(l1(0), 'l1(l2(l3:0:v1))');
		assert.equal(l2.fleche.rerun(0), 'l2(l3:0:v2)');
		assert.equal(l3(0), 'l3:0:v2');
		assert.equal(l2(0), 'l2(l3:0:v2)');
		assert.equal(l1(0), 'l1(l2(l3:0:v1))', 'l1 keeps its older entry');
	});

	test('rerun returning undefined evicts the stale entry', () => {
		using _ = cache(memoryStore());
		let value: number | undefined = 1;
		const f = fleche((_x: number) => value, { name: 'f' });
		f(0);
		value = undefined;
		assert.equal(f.fleche.contains(0), true);
		f.fleche.rerun(0);
		assert.equal(f.fleche.contains(0), false);
	});

	test('query by parameter name, with undefined as a wildcard and metadata filters', () => {
		using _ = cache(memoryStore());
		using __ = meta([new Runtime()]);
		const f = fleche((x: number, y: string) => `${x}${y}`, { name: 'f' });
		f(1, 'a');
		f(1, 'b');
		f(2, 'a');
		assert.equal(f.fleche.query().count(), 3);
		assert.equal(f.fleche.query({ x: 1 }).count(), 2);
		assert.equal(f.fleche.query({ x: 1, y: undefined }).count(), 2);
		assert.equal(f.fleche.query({ y: 'a' }).count(), 2);
		assert.equal(f.fleche.query({ x: 2, y: 'a' }).only().result, '2a');
		assert.equal(f.fleche.query({ x: 3 }).count(), 0);
		assert.equal(f.fleche.query({}, { metadata: { runtime: {} } }).count(), 3);
		assert.equal(f.fleche.query({}, { metadata: { tags: {} } }).count(), 0);
	});

	test('query works when module and version are not hashed (unlike the Python library; docs/behaviour.md §1.3)', () => {
		using _ = cache(memoryStore());
		const f = fleche((x: number) => x, { name: 'unhashed', version: 3, hashVersion: false, hashModule: false });
		f(1);
		assert.equal(f.fleche.query().count(), 1);
	});

	test('a fleche function is digestible as an argument, by identity', () => {
		using _ = cache(memoryStore());
		const inc = fleche((x: number) => x + 1, { name: 'inc' });
		const dbl = fleche((x: number) => x * 2, { name: 'dbl' });
		const apply = fleche((f: (x: number) => number, x: number) => f(x), { name: 'apply' });
		assert.equal(apply(inc, 1), 2);
		assert.equal(apply(dbl, 1), 2);
		assert.notEqual(apply.fleche.digest(inc, 1), apply.fleche.digest(dbl, 1));
		assert.equal(digest(inc), digest(fleche((x: number) => x + 1, { name: 'inc' })));
	});
});

describe('decorator form', () => {
	test('@fleche() on a method: identity Class.method, this is part of the key', async () => {
		using _ = cache(memoryStore());
		let runs = 0;
		class Model {
			constructor(readonly scale: number) {}
			@fleche()
			predict(x: number): number {
				runs++;
				return x * this.scale;
			}
			@fleche({ version: 2 })
			async predictLater(x: number): Promise<number> {
				runs++;
				return x * this.scale;
			}
		}
		const m = new Model(3);
		assert.equal(m.predict(2), 6);
		assert.equal(new Model(3).predict(2), 6);
		assert.equal(runs, 1);
		assert.equal(new Model(4).predict(2), 8);
		assert.equal(runs, 2);
		const calls = cache().query({ name: 'Model.predict' });
		assert.equal(calls.count(), 2);
		assert.deepEqual(Object.keys(calls.any()!.argumentDigests), ['this', 'x']);
		assert.equal(cache().query({ name: 'Model.predict' }).any()!.module, 'test/runtime/wrapper.test.ts');
		assert.equal(await m.predictLater(5), 15);
		assert.equal(await m.predictLater(5), 15);
		assert.equal(runs, 3);
		assert.equal(cache().query({ name: 'Model.predictLater', version: 2 }).count(), 1);
	});
});

describe('persistence', () => {
	test('a file cache keeps results across cache instances of the same root', () => {
		const { cache: first, root } = fileStore();
		let runs = 0;
		const slow = fleche((n: number) => {
			runs++;
			return { n, big: 10n ** 20n, when: new Date(0), tags: new Set(['a']) };
		}, { name: 'slow' });
		cache(first, () => slow(5));
		const again = new Cache(new ValueFile({ root: `${root}/values` }), new CallFile({ root: `${root}/calls` }));
		const r = cache(again, () => slow(5));
		assert.equal(runs, 1);
		assert.deepEqual(r, { n: 5, big: 10n ** 20n, when: new Date(0), tags: new Set(['a']) });
	});
});

// A compile-time check that the wrapper keeps the signature; runs as a no-op.
export const typed: Fleche<(a: number) => string> = fleche((a: number) => String(a), { name: 'typed' });
