// docs/behaviour.md §1.12, §2.6 "Memory": ValueMemory and CallMemory edge by edge — copies in and out, what cannot
// be stored and how the error says so, frozen records, odd keys of plain data — the cases a mutation run of the
// storages (docs/mutation.md, group `storages`) showed no other test pinning down.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { types } from 'node:util';
import { serialize } from 'node:v8';
import {
	Cache,
	cache,
	CallFile,
	CallMemory,
	fleche,
	KeyError,
	meta,
	recordKey,
	registerClass,
	Runtime,
	SaveError,
	tags,
	ValueMemory,
	type CallRecord,
} from 'fleche';
import { captureLogs } from '../support/logs.ts';
import { tmpDir } from '../support/tmp.js';

const k = (label: string): string => createHash('sha256').update(label).digest('hex');

function record(label: string, extra: Record<string, unknown> = {}): CallRecord {
	return {
		key: k(label),
		name: label.split(':')[0],
		module: 'm.ts',
		version: null,
		codeDigest: null,
		arguments: { x: k(`${label}/x`) },
		result: k(`${label}/result`),
		metadata: { runtime: { walltime: 0.5 } },
		...extra,
	} as CallRecord;
}

const logs = captureLogs();

const saveError = (message: RegExp) => (err: unknown) => SaveError.is(err) && message.test((err as Error).message);

describe('ValueMemory, edge by edge', () => {
	test('values are copied on the way in and on the way out', () => {
		const values = new ValueMemory();
		const stored = { list: [1, 2], nested: { a: 1 } };
		values.put(k('v'), stored);
		stored.list.push(3);
		stored.nested.a = 2;
		const first = values.get(k('v')) as typeof stored;
		assert.deepEqual(first, { list: [1, 2], nested: { a: 1 } });
		first.list.push(4);
		assert.deepEqual(values.get(k('v')), { list: [1, 2], nested: { a: 1 } });
		assert.notEqual(values.get(k('v')), values.get(k('v')));
		for (const primitive of [0, -0, 'text', 12n, true, null, undefined]) {
			values.put(k(`p${String(primitive)}${Object.is(primitive, -0) ? '-' : ''}`), primitive);
			assert.ok(Object.is(values.get(k(`p${String(primitive)}${Object.is(primitive, -0) ? '-' : ''}`)), primitive), String(primitive));
		}
	});

	test('a value stored as undefined is held, not a miss; the first value under a key stays', () => {
		const values = new ValueMemory();
		values.put(k('u'), undefined);
		assert.equal(values.contains(k('u')), true);
		assert.equal(values.get(k('u')), undefined);
		values.put(k('u'), 'second');
		assert.equal(values.get(k('u')), undefined, 'put never overwrites');
		assert.throws(
			() => values.get(k('absent')),
			(err: unknown) => KeyError.is(err) && err.key === k('absent'),
		);
		assert.throws(() => values.get('../x'), KeyError);
		assert.equal(values.contains('../x'), false);
	});

	test('what cannot be cloned is a SaveError naming its type; nothing is stored', () => {
		const values = new ValueMemory();
		class Widget {
			constructor(readonly act: () => void) {}
		}
		const bare = Object.assign(Object.create(null) as object, { f: () => 1 });
		const cases: [unknown, RegExp][] = [
			[() => 1, /^Cannot store a value of type function in memory: /],
			[Symbol('s'), /^Cannot store a value of type symbol in memory: /],
			[{ f: () => 1 }, /^Cannot store a value of type Object in memory: /],
			[new Widget(() => {}), /^Cannot store a value of type Widget in memory: /],
			[bare, /^Cannot store a value of type object in memory: /],
			// A class without a name (an anonymous class expression) is named as any object.
			[
				new (class {
					readonly f = () => 1;
				})(),
				/^Cannot store a value of type object in memory: /,
			],
		];
		for (const [i, [value, message]] of cases.entries()) {
			assert.throws(() => values.put(k(`bad${i}`), value), saveError(message), String(message));
			assert.equal(values.contains(k(`bad${i}`)), false);
		}
		assert.deepEqual(values.list(), []);
	});

	test('registered classes come back as instances; others as plain objects', () => {
		@registerClass({ name: 'memoryStorage.test/Point' })
		class Point {
			constructor(
				readonly x: number,
				readonly y: number,
			) {}
			norm(): number {
				return Math.hypot(this.x, this.y);
			}
		}
		class Unregistered {
			constructor(readonly z: number) {}
		}
		const values = new ValueMemory();
		values.put(k('pt'), [new Point(3, 4)]);
		const [back] = values.get(k('pt')) as Point[];
		assert.ok(back instanceof Point);
		assert.equal(back.norm(), 5);
		values.put(k('un'), new Unregistered(1));
		const plain = values.get(k('un'));
		assert.equal(plain instanceof Unregistered, false);
		assert.deepEqual(plain, { z: 1 });
	});

	test('list is a snapshot; evict, expand, toConfig; a shared map is shared', () => {
		const map = new Map<string, unknown>();
		const a = new ValueMemory(map);
		const b = new ValueMemory(map);
		for (const label of ['1', '2', '3']) a.put(k(label), label);
		assert.equal(b.get(k('2')), '2');
		for (const key of a.list()) a.evict(key);
		assert.deepEqual(b.list(), []);
		assert.throws(
			() => a.evict(k('1')),
			(err: unknown) => KeyError.is(err) && err.key === k('1'),
		);
		assert.throws(() => a.evict('nope'), KeyError);
		a.put(k('4'), 4);
		assert.equal(b.expand(k('4').slice(0, 8)), k('4'));
		assert.deepEqual(a.toConfig(), { type: 'memory' });
	});

	test('sizeOf is the value’s V8 serialization in bytes (a registered class’s too), null when not held', () => {
		class Sized {
			constructor(readonly n: number) {}
		}
		registerClass(Sized, { name: 'memoryStorage.Sized' });
		const values = new ValueMemory();
		assert.equal(values.sizeOf(k('none')), null);
		values.put(k('s'), 'x'.repeat(1000));
		assert.equal(values.sizeOf(k('s')), serialize('x'.repeat(1000)).byteLength);
		values.put(k('u'), undefined);
		assert.equal(values.sizeOf(k('u')), serialize(undefined).byteLength, 'a value stored as undefined is held');
		values.put(k('c'), new Sized(3));
		const size = values.sizeOf(k('c'));
		assert.ok(typeof size === 'number' && size > serialize({ n: 3 }).byteLength, `the value and its class patches: ${size}`);
	});
});

describe('CallMemory, edge by edge', () => {
	test('a plain record is copied and deeply frozen; the caller mutating its own object changes nothing', () => {
		const calls = new CallMemory();
		const mine = record('f:1') as { metadata: { runtime: { walltime: number } } } & CallRecord;
		calls.put(mine);
		mine.metadata.runtime.walltime = 99;
		const got = calls.get(k('f:1'));
		assert.equal(got.metadata['runtime']!['walltime'], 0.5);
		assert.ok(Object.isFrozen(got) && Object.isFrozen(got.metadata) && Object.isFrozen(got.metadata['runtime']) && Object.isFrozen(got.arguments));
		assert.equal(calls.get(k('f:1')), got, 'a frozen record is returned as is');
	});

	test('a record that is not plain data is cloned and deeply frozen too; one that cannot be cloned is a SaveError', () => {
		const calls = new CallMemory();
		const when = new Date(0);
		calls.put(record('g:1', { extra: { when, deep: { list: [1, { n: 2 }] } } }));
		const got = calls.get(k('g:1')) as CallRecord & { extra: { when: Date; deep: { list: [number, { n: number }] } } };
		assert.ok(got.extra.when instanceof Date);
		assert.notEqual(got.extra.when, when);
		assert.ok(Object.isFrozen(got) && Object.isFrozen(got.extra) && Object.isFrozen(got.extra.deep.list) && Object.isFrozen(got.extra.deep.list[1]));
		assert.throws(() => calls.put(record('h:1', { extra: () => 1 })), saveError(/^Cannot store the call record of type Object in memory: /));
		assert.equal(calls.contains(k('h:1')), false);
	});

	test('odd plain data keeps its shape: holes, an own __proto__ key, class instances and Array subclasses', () => {
		const calls = new CallMemory();
		// eslint-disable-next-line no-sparse-arrays -- the hole is the point
		const sparse = [1, , 3];
		const protoKey = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as Record<string, unknown>;
		class Thing {
			a = 1;
		}
		class List extends Array<number> {}
		calls.put(record('odd:1', { sparse, protoKey, thing: new Thing(), list: List.from([1, 2]) }));
		const got = calls.get(k('odd:1')) as unknown as { sparse: unknown[]; protoKey: Record<string, unknown>; thing: object; list: number[] };
		assert.equal(got.sparse.length, 3);
		assert.equal(1 in got.sparse, false, 'the hole stays a hole');
		assert.deepEqual(Object.keys(got.protoKey), ['__proto__', 'ok'], '__proto__ stays an own key');
		assert.equal(Object.getPrototypeOf(got.protoKey), Object.prototype, 'and never becomes the prototype');
		assert.equal((got.protoKey as { polluted?: boolean }).polluted, undefined);
		assert.equal(Object.getPrototypeOf(got.thing), Object.prototype);
		assert.deepEqual(got.thing, { a: 1 });
		assert.equal(Object.getPrototypeOf(got.list), Array.prototype);
		assert.deepEqual(got.list, [1, 2]);
		// Plain data nested deeper than the fast copy goes still round-trips.
		let deep: Record<string, unknown> = { leaf: true };
		for (let i = 0; i < 80; i++) deep = { d: deep };
		calls.put(record('deep:1', { deep }));
		let back = (calls.get(k('deep:1')) as unknown as { deep: Record<string, unknown> }).deep;
		for (let i = 0; i < 80; i++) back = back['d'] as Record<string, unknown>;
		assert.deepEqual(back, { leaf: true });
	});

	test('the fast copy of plain records keeps holes, arrays, own __proto__ keys, and refuses symbols and functions', () => {
		// Each record is plain data but for the one oddity, so that the fast copy, not structuredClone, decides.
		const calls = new CallMemory();
		calls.put(record('arr:1', { list: [1, [2, 3], { n: 4 }] }));
		const list = (calls.get(k('arr:1')) as unknown as { list: unknown[] }).list;
		assert.deepEqual(list, [1, [2, 3], { n: 4 }]);
		assert.ok(Object.isFrozen(list) && Object.isFrozen(list[1]) && Object.isFrozen(list[2]));
		// eslint-disable-next-line no-sparse-arrays -- the hole is the point
		calls.put(record('hole:1', { holes: [1, , 3] }));
		const holes = (calls.get(k('hole:1')) as unknown as { holes: unknown[] }).holes;
		assert.equal(holes.length, 3);
		assert.equal(1 in holes, false, 'the hole stays a hole');
		calls.put(record('proto:1', { own: JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as unknown }));
		const own = (calls.get(k('proto:1')) as unknown as { own: Record<string, unknown> }).own;
		assert.deepEqual(Object.keys(own), ['__proto__', 'ok']);
		assert.equal(Object.getPrototypeOf(own), Object.prototype);
		for (const [label, bad] of [
			['symbol', Symbol('s')],
			['function in an array', [() => 1]],
			['function in an object', { f: () => 1 }],
		] as const) {
			assert.throws(() => calls.put(record(`bad:${label}`, { bad })), saveError(/^Cannot store the call record of type Object in memory: /), label);
			assert.equal(calls.contains(k(`bad:${label}`)), false, label);
		}
	});

	test('a record holding an instance of a registered class is stored as plain data; a failed clone keeps its cause', () => {
		@registerClass({ name: 'memoryStorage.test/Tag' })
		class Tag {
			constructor(readonly label: string) {}
		}
		const calls = new CallMemory();
		calls.put(record('tagged:1', { tag: new Tag('x') }));
		const got = calls.get(k('tagged:1')) as CallRecord & { tag: object };
		assert.equal(got.name, 'tagged');
		assert.equal(got.key, k('tagged:1'));
		assert.deepEqual(got.tag, { label: 'x' });
		assert.equal(got.tag instanceof Tag, false, 'records are plain data: classes are kept for values only');
		assert.throws(
			() => new ValueMemory().put(k('fn'), { f: () => 1 }),
			(err: unknown) => SaveError.is(err) && (err as Error).cause instanceof Error && (err as Error & { cause: Error }).cause.name === 'DataCloneError',
		);
	});

	test('a record holding proxies of plain data (reactive state) is stored as a plain frozen copy, the one a file store keeps', (t) => {
		// structuredClone refuses a Proxy, and the file and SQL stores write a record as JSON, which reads through one: the
		// memory store copies plain data field by field, so a record one store takes is taken by the others too.
		const steps = new Proxy([1, { n: 2 }], {});
		const tags = new Proxy({ env: 'prod', steps }, {});
		const runtime = Object.assign(Object.create(null) as Record<string, number>, { walltime: 0.5 });
		const identity = { name: 'reactive', module: 'm.ts', version: 1, codeDigest: null, arguments: { x: k('reactive/x') } };
		const held = { key: recordKey(identity), ...identity, result: k('reactive/result'), metadata: { runtime, tags } } as CallRecord;
		const calls = new CallMemory();
		calls.put(held);
		const files = new CallFile({ root: join(tmpDir(t), 'calls') });
		files.put(held);
		const got = calls.get(held.key);
		assert.deepEqual(got, files.get(held.key));
		assert.deepEqual(got.metadata, { runtime: { walltime: 0.5 }, tags: { env: 'prod', steps: [1, { n: 2 }] } });
		const copied = got.metadata['tags'] as { steps: unknown[] };
		assert.equal(types.isProxy(copied) || types.isProxy(copied.steps), false, 'a copy, not the proxies');
		assert.equal(Object.getPrototypeOf(got.metadata['runtime']), Object.prototype);
		assert.ok(Object.isFrozen(copied) && Object.isFrozen(copied.steps) && Object.isFrozen(copied.steps[1]));
		(steps[1] as { n: number }).n = 3;
		assert.deepEqual((calls.get(held.key).metadata['tags'] as { steps: unknown[] }).steps, [1, { n: 2 }]);
	});

	test('a record with a cycle, through an object or an array, is stored with its cycle, not followed until the stack ends', () => {
		const loop: Record<string, unknown> = { label: 'loop' };
		loop['self'] = loop;
		const ring: unknown[] = ['ring'];
		ring.push(ring);
		const calls = new CallMemory();
		for (const [label, extra] of [
			['loop:1', { loop }],
			['ring:1', { ring }],
		] as const) {
			calls.put(record(label, extra));
			const got = calls.get(k(label)) as unknown as { loop?: Record<string, unknown>; ring?: unknown[] };
			if (got.loop) assert.equal(got.loop['self'], got.loop, label);
			if (got.ring) assert.equal(got.ring[1], got.ring, label);
			assert.ok(Object.isFrozen(got.loop ?? got.ring), label);
		}
	});

	test('a record of the shape the cache writes, and every shape next to it, is stored as an equal frozen copy in its key order', () => {
		// The shape a miss writes (its fields in this order, with or without `async`), and every difference in order,
		// fields, field kinds or prototype: `put` must give each an equal, frozen copy of its own.
		const base = (): Record<string, unknown> => ({
			key: k('shape'),
			name: 'shape',
			module: 'm.ts',
			version: 2,
			codeDigest: null,
			arguments: { a: k('shape/a'), b: k('shape/b') },
			result: k('shape/result'),
			metadata: { runtime: { timestart: 1, cputime: 0, systime: 0, timestop: 2, walltime: 1 }, tags: { run: { n: 1 } } },
			scheme: 'fleche.call/1',
		});
		const withAsync = (): Record<string, unknown> => {
			const { scheme, ...rest } = base();
			return { ...rest, async: true, scheme };
		};
		const variants: [string, Record<string, unknown>][] = [
			['as a miss writes it', base()],
			['with async, as an async miss writes it', withAsync()],
			['async in another place', { ...base(), async: true }],
			['fields in another order', (({ key, ...rest }) => ({ ...rest, key }))(base())],
			['no scheme (an old record)', (({ scheme: _scheme, ...rest }) => rest)(base())],
			['an extra field', { ...base(), extra: 1 }],
			['an object version', { ...base(), version: { major: 2 } }],
			['a number among the arguments', { ...base(), arguments: { a: k('shape/a'), b: 7 } }],
			['arguments inherited from a prototype', { ...base(), arguments: Object.assign(Object.create({ a: k('shape/a') }) as object, { b: k('shape/b') }) }],
			['a getter for the result', Object.defineProperty(base(), 'result', { get: () => k('shape/got'), enumerable: true })],
			['no prototype', Object.assign(Object.create(null) as object, base())],
		];
		for (const [label, given] of variants) {
			const calls = new CallMemory();
			calls.put(given as unknown as CallRecord);
			const got = calls.get(k('shape')) as unknown as Record<string, unknown>;
			const plain = JSON.parse(JSON.stringify(given)) as Record<string, unknown>;
			if (label === 'arguments inherited from a prototype') plain['arguments'] = { b: k('shape/b') };
			assert.deepEqual(got, plain, label);
			assert.deepEqual(Object.keys(got), Object.keys(given), label);
			assert.equal(Object.getPrototypeOf(got), Object.prototype, label);
			assert.notEqual(got, given, label);
			assert.notEqual(got['arguments'], given['arguments'], label);
			assert.notEqual(got['metadata'], given['metadata'], label);
			const tags = (got['metadata'] as { tags: { run: object } }).tags;
			assert.ok(
				Object.isFrozen(got) && Object.isFrozen(got['arguments']) && Object.isFrozen(got['metadata']) && Object.isFrozen(tags) && Object.isFrozen(tags.run),
				label,
			);
			(given['metadata'] as { tags: { run: { n: number } } }).tags.run.n = 9;
			(given['arguments'] as Record<string, unknown>)['b'] = 'changed';
			assert.deepEqual((calls.get(k('shape')).metadata['tags'] as { run: object }).run, { n: 1 }, `${label}: the caller's later change is not seen`);
			assert.notEqual(calls.get(k('shape')).arguments['b'], 'changed', label);
		}
	});

	test('put replaces; get, find, records, contains, evict, list, expand', () => {
		const calls = new CallMemory();
		calls.put(record('f:1'));
		calls.put(record('f:2'));
		calls.put(record('g:1'));
		calls.put({ ...record('f:1'), result: k('new result') });
		assert.equal(calls.get(k('f:1')).result, k('new result'));
		assert.equal(calls.find(k('f:1'))?.key, k('f:1'));
		assert.equal(calls.find(k('absent')), undefined);
		assert.throws(() => calls.find('../x'), KeyError);
		assert.throws(
			() => calls.get(k('absent')),
			(err: unknown) => KeyError.is(err) && err.key === k('absent'),
		);
		assert.throws(() => calls.get('../x'), KeyError);
		assert.throws(() => calls.put({ ...record('f:3'), key: '../x' }), KeyError);
		assert.deepEqual([...calls.records({ name: 'f' })].map((r) => r.key).sort(), [k('f:1'), k('f:2')].sort());
		assert.equal([...calls.records()].length, 3);
		assert.equal([...calls.records({})].length, 3);
		assert.equal(calls.contains(k('g:1')), true);
		assert.equal(calls.contains('g'), false);
		assert.equal(calls.expand(k('g:1').slice(0, 10)), k('g:1'));
		for (const key of calls.list()) calls.evict(key);
		assert.deepEqual(calls.list(), []);
		assert.throws(() => calls.evict(k('g:1')), KeyError);
		assert.throws(() => calls.evict('../x'), KeyError);
		assert.deepEqual(calls.toConfig(), { type: 'memory' });
	});
});

describe('the record a miss makes, in a memory store', () => {
	const memory = () => new Cache(new ValueMemory(), new CallMemory());
	const add = fleche((a: number, b: number) => a + b, { name: 'memoryStorage.add' });

	test('is stored deeply frozen; the objects of the program in its metadata are copied, never frozen or shared', () => {
		const c = memory();
		using _ = cache(c);
		add(1, 2);
		const plain = add.fleche.query({ a: 1 }).only();
		const stored = c.calls.get(plain.key);
		assert.ok(Object.isFrozen(stored) && Object.isFrozen(stored.arguments) && Object.isFrozen(stored.metadata) && Object.isFrozen(stored.metadata['runtime']));
		assert.deepEqual(Object.keys(stored.metadata['runtime']!), ['timestart', 'cputime', 'systime', 'timestop', 'walltime']);
		// A tag whose value is the program's own object: the record holds a copy, and the program's object stays its own.
		const settings = { depth: 3, names: ['a'] };
		tags({ settings }, () => add(2, 2));
		assert.equal(Object.isFrozen(settings) || Object.isFrozen(settings.names), false, "the program's objects are never frozen");
		settings.depth = 4;
		settings.names.push('b');
		const tagged = c.calls.get(add.fleche.digest(2, 2));
		assert.deepEqual(tagged.metadata['tags'], { settings: { depth: 3, names: ['a'] } });
		assert.ok(Object.isFrozen(tagged.metadata['tags']) && Object.isFrozen((tagged.metadata['tags'] as { settings: object }).settings));
	});

	test('a record given to the cache by the program (prepare and commit) is copied: its objects stay its own and unfrozen', () => {
		const c = memory();
		const digests = { x: k('given/x') };
		const metadata = { mine: { n: 1 } };
		const record = c
			.prepare({ key: k('given'), name: 'given', module: 'm.ts', version: null, codeDigest: null, values: { x: 1 }, digests })
			.commit(5, metadata);
		assert.equal(Object.isFrozen(digests) || Object.isFrozen(metadata) || Object.isFrozen(metadata.mine) || Object.isFrozen(record), false);
		metadata.mine.n = 2;
		digests.x = 'changed';
		const stored = c.calls.get(k('given'));
		assert.deepEqual(stored.metadata, { mine: { n: 1 } });
		assert.equal(stored.arguments['x'], k('given/x'));
		assert.ok(Object.isFrozen(stored) && Object.isFrozen(stored.metadata['mine']));
	});

	test('metadata that is not plain data (a symbol) is refused as it always was: the result is returned, not stored', () => {
		const c = memory();
		using _ = cache(c);
		logs.clear();
		const odd = { name: 'odd', pre: () => ({ mark: Symbol('mark') as unknown as string }) };
		assert.equal(
			meta([new Runtime(), odd], () => add(3, 3)),
			6,
		);
		assert.equal(add.fleche.contains(3, 3), false);
		assert.equal(logs.codes('FLECHE_REJECTED').length, 1);
	});
});
