// docs/behaviour.md §1.12, §2.4, §2.6, §5: behaviour of the memory, void and file storages, on real files (no fs mocks).
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
	AmbiguousDigestError,
	CallFile,
	CallMemory,
	CallVoid,
	KeyError,
	SaveError,
	ValueFile,
	ValueMemory,
	ValueVoid,
	recordKey,
	registerSerializer,
	resetLogger,
	setLogger,
	type CallRecord,
	type CallStorage,
	type LogRecord,
	type ValueStorage,
} from 'fleche';

// ---------------------------------------------------------------------------------------------------------------
// Fixtures

const isKeyError = (err: unknown): boolean => KeyError.is(err);
const isSaveError = (err: unknown): boolean => SaveError.is(err);

/** A 64-hex key for a label (storages take keys from the caller, so any stable digest will do). */
function k(label: string): string {
	return createHash('sha256').update(label).digest('hex');
}

/** A key with a chosen start, for prefix tests: `prefixed('abcd0', '1')` = "abcd0111…1". */
function prefixed(start: string, fill: string): string {
	return start + fill.repeat(64 - start.length);
}

let dir = '';
let logs: LogRecord[] = [];
const savedSecret = process.env['FLECHE_SECRET_KEY'];

beforeEach(() => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleche-'));
	logs = [];
	setLogger((r) => logs.push(r));
	// The environment must not sign behind a test's back; tests that want it set it themselves.
	delete process.env['FLECHE_SECRET_KEY'];
});

afterEach(() => {
	resetLogger();
	if (savedSecret === undefined) delete process.env['FLECHE_SECRET_KEY'];
	else process.env['FLECHE_SECRET_KEY'] = savedSecret;
	// Undo any chmod so the folder can be removed.
	for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
		if (entry.isDirectory()) fs.chmodSync(path.join(entry.parentPath ?? entry.path, entry.name), 0o755);
	}
	fs.rmSync(dir, { recursive: true, force: true });
});

function codes(): string[] {
	return logs.map((r) => r.code);
}

function makeRecord(name = 'add', args: Record<string, string> = { a: k('1'), b: k('2') }, result: string | null = k('3')): CallRecord {
	const identity = { name, module: 'src/math.js', version: 1, codeDigest: null };
	return {
		key: recordKey({ ...identity, arguments: args }),
		...identity,
		arguments: args,
		result,
		metadata: { runtime: { walltime: 0.5, host: 'h' }, tags: { project: 'alpha' } },
	};
}

/** Values the default codecs must bring back equal (deepStrictEqual: prototypes and types included). */
function richValue(): unknown {
	const nested: Record<string, unknown> = {
		map: new Map<unknown, unknown>([
			['a', 1],
			[2, { b: [1, 2, 3] }],
		]),
		set: new Set(['x', 'y', 3]),
		date: new Date('2024-02-29T12:34:56.789Z'),
		big: 2n ** 100n,
		regexp: /ab+c/gi,
		bytes: new Uint8Array([0, 1, 254, 255]),
		floats: new Float64Array([1.5, -0, Number.NaN]),
		nested: { deep: { deeper: [null, true, 'text', 1e300, -0] } },
		unicode: 'ünïcødé ✓ 𝔘',
	};
	nested['self'] = nested;
	return nested;
}

const invalidKeys = ['../x', '../etc/passwd', '', 'abc', k('x').toUpperCase(), `${k('x').slice(0, 63)}/`, `${k('x')}0`, `/${k('x').slice(1)}`];

// ---------------------------------------------------------------------------------------------------------------
// Behaviour every storage shares

function describeStorage(name: string, factory: (root: string) => { values: ValueStorage; calls: CallStorage }): void {
	describe(`${name} storage`, () => {
		const open = () => factory(dir);

		describe('values', () => {
			it('round-trips Map, Set, Date, BigInt, RegExp, typed arrays, cycles and nested objects', () => {
				const { values } = open();
				const value = richValue();
				values.put(k('rich'), value);
				const back = values.get(k('rich')) as Record<string, unknown>;
				assert.deepStrictEqual(back, value);
				assert.equal(back['self'], back, 'the cycle is preserved');
			});

			it('round-trips primitives', () => {
				const { values } = open();
				const cases: unknown[] = [0, -0, 1.5, Number.NaN, 'text', '', true, false, null, undefined, 12345678901234567890n];
				cases.forEach((v, i) => values.put(k(`p${i}`), v));
				cases.forEach((v, i) => assert.deepStrictEqual(values.get(k(`p${i}`)), v));
			});

			it('returns a copy: mutating what was put or what was got does not change the store', () => {
				const { values } = open();
				const value = { list: [1, 2], map: new Map([['a', 1]]) };
				values.put(k('copy'), value);
				value.list.push(3);
				const first = values.get(k('copy')) as typeof value;
				assert.deepStrictEqual(first.list, [1, 2]);
				first.list.push(99);
				first.map.set('b', 2);
				const second = values.get(k('copy')) as typeof value;
				assert.notEqual(second, first);
				assert.deepStrictEqual(second, { list: [1, 2], map: new Map([['a', 1]]) });
			});

			it('keeps the first value written under a key (content-addressed)', () => {
				const { values } = open();
				values.put(k('once'), 'first');
				values.put(k('once'), 'second');
				assert.equal(values.get(k('once')), 'first');
			});

			it('contains, evict and list', () => {
				const { values } = open();
				assert.deepStrictEqual([...values.list()], []);
				assert.equal(values.contains(k('a')), false);
				values.put(k('a'), 1);
				values.put(k('b'), 2);
				assert.equal(values.contains(k('a')), true);
				assert.deepStrictEqual([...values.list()].sort(), [k('a'), k('b')].sort());
				values.evict(k('a'));
				assert.equal(values.contains(k('a')), false);
				assert.deepStrictEqual([...values.list()], [k('b')]);
				assert.throws(() => values.evict(k('a')), (err) => KeyError.is(err) && err.key === k('a'));
			});

			it('a miss throws KeyError naming the key', () => {
				const { values } = open();
				assert.throws(
					() => values.get(k('missing')),
					(err) => KeyError.is(err) && err.key === k('missing') && err.message.includes(k('missing')),
				);
				assert.deepStrictEqual(logs, [], 'a plain miss is not worth a warning');
			});

			it('expands prefixes (docs/behaviour.md §2.4)', () => {
				const { values } = open();
				const a = prefixed('abcd0', '1');
				const b = prefixed('abcd0', '2');
				const c = prefixed('ffff', '3');
				for (const key of [a, b, c]) values.put(key, key);
				assert.equal(values.expand('ffff'), c);
				assert.equal(values.expand('abcd01'), a);
				assert.equal(values.expand(c), c, 'a full key expands to itself');
				assert.throws(
					() => values.expand('abcd'),
					(err) => AmbiguousDigestError.is(err) && err.message === 'Short digest abcd is ambiguous; need at least 6 characters.',
				);
				assert.throws(() => values.expand('fff'), (err) => KeyError.is(err) && /too short/.test(err.message));
				assert.throws(() => values.expand('1234'), (err) => KeyError.is(err) && err.key === '1234');
				assert.throws(() => values.expand(k('absent')), isKeyError);
			});

			it('rejects keys that are not 64 lowercase hex characters', () => {
				const { values } = open();
				for (const bad of invalidKeys) {
					assert.throws(() => values.put(bad, 1), isKeyError, `put ${bad}`);
					assert.throws(() => values.get(bad), isKeyError, `get ${bad}`);
					assert.throws(() => values.evict(bad), isKeyError, `evict ${bad}`);
					assert.equal(values.contains(bad), false, `contains ${bad}`);
				}
				assert.equal(fs.existsSync(path.join(dir, 'x')), false, 'nothing escaped the root');
				assert.deepStrictEqual([...values.list()], []);
			});

			it('refuses a value it cannot copy with SaveError and stores nothing', () => {
				const { values } = open();
				assert.throws(() => values.put(k('fn'), { f: () => 1 }), (err) => SaveError.is(err) && /Object/.test(err.message));
				assert.throws(() => values.put(k('sym'), Symbol('s')), isSaveError);
				assert.equal(values.contains(k('fn')), false);
				assert.equal(values.contains(k('sym')), false);
			});
		});

		describe('calls', () => {
			it('round-trips a record; what get returns cannot change the store (a copy, or frozen)', () => {
				const { calls } = open();
				const record = makeRecord();
				calls.put(record);
				(record.metadata['tags'] as Record<string, unknown>)['project'] = 'changed after put';
				const back = calls.get(record.key);
				assert.equal(back.metadata['tags']?.['project'], makeRecord().metadata['tags']?.['project']);
				try {
					(back.metadata['tags'] as Record<string, unknown>)['project'] = 'changed';
				} catch (err) {
					assert.ok(err instanceof TypeError, 'a frozen record refuses the change');
				}
				assert.deepStrictEqual(calls.get(record.key), makeRecord());
			});

			it('keeps the async flag', () => {
				const { calls } = open();
				const record = { ...makeRecord('later'), async: true };
				calls.put(record);
				assert.equal(calls.get(record.key).async, true);
			});

			it('put replaces a record (a rerun updates result and metadata)', () => {
				const { calls } = open();
				const record = makeRecord();
				calls.put(record);
				const updated = { ...record, result: k('other'), metadata: { runtime: { walltime: 2 } } };
				calls.put(updated);
				assert.deepStrictEqual(calls.get(record.key), updated);
				assert.equal([...calls.list()].length, 1);
			});

			it('lists, filters by name, expands, evicts', () => {
				const { calls } = open();
				const add = makeRecord('add');
				const add2 = makeRecord('add', { a: k('5'), b: k('6') });
				const mul = makeRecord('mul');
				for (const r of [add, add2, mul]) calls.put(r);
				assert.deepStrictEqual([...calls.list()].sort(), [add.key, add2.key, mul.key].sort());
				assert.deepStrictEqual(
					[...calls.records({ name: 'add' })].map((r) => r.key).sort(),
					[add.key, add2.key].sort(),
				);
				assert.equal([...calls.records()].length, 3);
				assert.deepStrictEqual([...calls.records({ name: 'none' })], []);
				assert.equal(calls.expand(mul.key.slice(0, 12)), mul.key);
				assert.equal(calls.contains(mul.key), true);
				calls.evict(mul.key);
				assert.equal(calls.contains(mul.key), false);
				assert.throws(() => calls.get(mul.key), isKeyError);
				assert.throws(() => calls.evict(mul.key), isKeyError);
			});

			it('rejects invalid keys', () => {
				const { calls } = open();
				for (const bad of invalidKeys) {
					assert.throws(() => calls.get(bad), isKeyError, `get ${bad}`);
					assert.throws(() => calls.evict(bad), isKeyError, `evict ${bad}`);
					assert.throws(() => calls.put({ ...makeRecord(), key: bad }), isKeyError, `put ${bad}`);
					assert.equal(calls.contains(bad), false);
				}
				assert.equal(fs.existsSync(path.join(dir, 'x')), false);
			});
		});
	});
}

describeStorage('memory', () => ({ values: new ValueMemory(), calls: new CallMemory() }));
describeStorage('file', (root) => ({
	values: new ValueFile({ root: path.join(root, 'values') }),
	calls: new CallFile({ root: path.join(root, 'calls') }),
}));
describeStorage('file (compressed, signed)', (root) => ({
	values: new ValueFile({ root: path.join(root, 'values'), compress: true, secretKey: '00112233445566778899aabbccddeeff' }),
	calls: new CallFile({ root: path.join(root, 'calls') }),
}));

// ---------------------------------------------------------------------------------------------------------------
// Memory and void specifics

describe('memory storage', () => {
	it('shares a Map passed to several instances', () => {
		const shared = new Map<string, unknown>();
		new ValueMemory(shared).put(k('s'), { a: 1 });
		assert.deepStrictEqual(new ValueMemory(shared).get(k('s')), { a: 1 });
		const records = new Map<string, CallRecord>();
		const record = makeRecord();
		new CallMemory(records).put(record);
		assert.deepStrictEqual(new CallMemory(records).get(record.key), record);
	});

	it('find() returns a record, or undefined for an absent key, and rejects a key that is not one', () => {
		const calls = new CallMemory();
		const record = makeRecord();
		calls.put(record);
		assert.deepStrictEqual(calls.find(record.key), record);
		assert.equal(calls.find(k('absent')), undefined);
		assert.throws(() => calls.find('../x'), isKeyError);
	});

	it('stores a copy of a record: plain data, and records with non-plain metadata, are isolated from the caller', () => {
		const calls = new CallMemory();
		const date = new Date(0);
		const proto = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
		const record = { ...makeRecord(), metadata: { runtime: { walltime: 1 }, tags: { list: [1, [2, 3]], when: date as unknown as string, odd: proto } } } as unknown as CallRecord;
		calls.put(record);
		(record.metadata.runtime as { walltime: number }).walltime = 2;
		date.setTime(5);
		const stored = calls.get(record.key);
		assert.equal(stored.metadata.runtime!.walltime, 1);
		assert.ok(Object.isFrozen(stored.metadata.tags));
		assert.equal((stored.metadata.tags!.when as unknown as Date).getTime(), 0);
		assert.ok(Object.hasOwn(stored.metadata.tags!.odd as object, '__proto__'));
		assert.equal(({} as { polluted?: boolean }).polluted, undefined);
		assert.deepStrictEqual(stored.metadata.tags!.list, [1, [2, 3]]);
	});

	it('describes itself as memory', () => {
		assert.deepStrictEqual(new ValueMemory().toConfig(), { type: 'memory' });
		assert.deepStrictEqual(new CallMemory().toConfig(), { type: 'memory' });
	});
});

describe('void storage', () => {
	it('stores nothing and always misses', () => {
		const values = new ValueVoid();
		const calls = new CallVoid();
		values.put(k('v'), 1);
		assert.throws(() => values.get(k('v')), isKeyError);
		assert.equal(values.contains(k('v')), false);
		assert.deepStrictEqual([...values.list()], []);
		assert.throws(() => values.evict(k('v')), isKeyError);
		assert.throws(() => values.expand('abcd'), isKeyError);
		assert.throws(() => values.put('../x', 1), isKeyError);
		const record = makeRecord();
		calls.put(record);
		assert.throws(() => calls.get(record.key), isKeyError);
		assert.equal(calls.find(record.key), undefined);
		assert.deepStrictEqual([...calls.records()], []);
		assert.deepStrictEqual([...calls.list()], []);
		assert.deepStrictEqual(values.toConfig(), { type: 'void' });
		assert.deepStrictEqual(calls.toConfig(), { type: 'void' });
	});
});

// ---------------------------------------------------------------------------------------------------------------
// File specifics

/**
 * Builds a value file by hand from the documented layout (values.ts header comment): format 2 with the file's own
 * `key`, format 1 (no key field) without one.
 */
function buildValueFile(o: { name: string; payload: Uint8Array; key?: string; version?: number; flags?: number; sign?: Buffer }): Buffer {
	const name = Buffer.from(o.name, 'latin1');
	const keyField = o.key === undefined ? Buffer.alloc(0) : Buffer.from(o.key, 'hex');
	const head = Buffer.alloc(11 + name.length + keyField.length);
	head.write('FLCH', 0, 'latin1');
	head[4] = o.version ?? (o.key === undefined ? 1 : 2);
	head[5] = (o.flags ?? 0) | (o.sign ? 2 : 0);
	head[6] = name.length;
	name.copy(head, 7);
	keyField.copy(head, 7 + name.length);
	head.writeUInt32LE(o.payload.byteLength, 7 + name.length + keyField.length);
	const body = Buffer.concat([head, o.payload]);
	const crc = Buffer.alloc(4);
	crc.writeUInt32LE(zlib.crc32(body), 0);
	const signed = Buffer.concat([body, crc]);
	if (!o.sign) return signed;
	return Buffer.concat([signed, Buffer.from(createHmac('sha256', o.sign).update(signed).digest('hex'), 'latin1')]);
}

function tempFiles(root: string): string[] {
	return fs.existsSync(root) ? fs.readdirSync(root).filter((n) => n.startsWith('.') || n.endsWith('.tmp')) : [];
}

describe('ValueFile', () => {
	const open = (options: Partial<ConstructorParameters<typeof ValueFile>[0]> = {}) =>
		new ValueFile({ root: path.join(dir, 'values'), ...options });
	const fileOf = (key: string) => path.join(dir, 'values', key);

	it('creates its root lazily, on the first write', () => {
		const values = open();
		assert.equal(fs.existsSync(values.root), false);
		assert.deepStrictEqual(values.list(), []);
		assert.throws(() => values.get(k('a')), isKeyError);
		assert.throws(() => values.expand('abcd'), isKeyError);
		values.put(k('a'), 1);
		assert.equal(fs.existsSync(values.root), true);
	});

	it('resolves the root: absolute, with ~ expanded', () => {
		assert.equal(new ValueFile({ root: '~/fleche-x/values' }).root, path.join(os.homedir(), 'fleche-x', 'values'));
		assert.equal(new ValueFile({ root: 'rel/values' }).root, path.resolve('rel/values'));
		assert.equal(fs.existsSync(path.join(os.homedir(), 'fleche-x')), false);
	});

	it('stores one flat file per key and leaves no temporary files', () => {
		const values = open();
		for (let i = 0; i < 50; i++) values.put(k(`v${i}`), { i });
		const names = fs.readdirSync(values.root);
		assert.equal(names.length, 50);
		assert.ok(names.every((n) => /^[0-9a-f]{64}$/.test(n)));
		assert.deepStrictEqual(tempFiles(values.root), []);
	});

	it('lists only 64-hex names, ignoring temporaries, dot-files and strays', () => {
		const values = open();
		values.put(k('a'), 1);
		fs.writeFileSync(path.join(values.root, `.${k('b')}.tmp`), 'partial');
		fs.writeFileSync(path.join(values.root, '.DS_Store'), '');
		fs.writeFileSync(path.join(values.root, 'README'), '');
		fs.writeFileSync(path.join(values.root, `${k('c')}.lock`), '');
		assert.deepStrictEqual(values.list(), [k('a')]);
	});

	it('writes the documented header', () => {
		const values = open();
		values.put(k('h'), 'hello');
		const bytes = fs.readFileSync(fileOf(k('h')));
		assert.equal(bytes.toString('latin1', 0, 4), 'FLCH');
		assert.equal(bytes[4], 2);
		assert.equal(bytes[5], 0);
		assert.equal(bytes.toString('latin1', 7, 7 + (bytes[6] ?? 0)), 'v8');
		assert.equal(bytes.toString('hex', 9, 41), k('h'), 'the file names its own key');
		const payloadLength = bytes.readUInt32LE(41);
		assert.equal(bytes.length, 45 + payloadLength + 4);
		assert.equal(bytes.readUInt32LE(45 + payloadLength), zlib.crc32(bytes.subarray(0, 45 + payloadLength)));
	});

	it('reads a file built by hand from the documented layout', () => {
		const values = open();
		fs.mkdirSync(values.root, { recursive: true });
		fs.writeFileSync(fileOf(k('hand')), buildValueFile({ name: 'json', payload: Buffer.from('{"a":[1,2]}') }));
		assert.deepStrictEqual(values.get(k('hand')), { a: [1, 2] });
		fs.writeFileSync(fileOf(k('gz')), buildValueFile({ name: 'json', flags: 1, payload: zlib.gzipSync('"zipped"') }));
		assert.equal(values.get(k('gz')), 'zipped');
		fs.writeFileSync(fileOf(k('v2')), buildValueFile({ name: 'json', key: k('v2'), payload: Buffer.from('"two"') }));
		assert.equal(values.get(k('v2')), 'two');
		assert.deepStrictEqual(logs, [], 'format 1 files (no key field) are still read when unsigned');
	});

	it('a value file moved or copied over another is a miss, signed or not; the next put replaces it', () => {
		for (const secretKey of ['', '00112233445566778899aabbccddeeff']) {
			const values = open({ secretKey });
			values.put(k(`gold${secretKey}`), 1000);
			values.put(k(`sand${secretKey}`), 3);
			fs.copyFileSync(fileOf(k(`gold${secretKey}`)), fileOf(k(`sand${secretKey}`)));
			logs = [];
			assert.throws(() => values.get(k(`sand${secretKey}`)), (err) => KeyError.is(err) && /holds the value of/.test(err.message), secretKey);
			assert.deepStrictEqual(codes(), [secretKey === '' ? 'FLECHE_CORRUPT_ENTRY' : 'FLECHE_BAD_SIGNATURE']);
			assert.equal(fs.existsSync(fileOf(k(`sand${secretKey}`))), true, 'a read leaves it in place');
			values.put(k(`sand${secretKey}`), 3);
			assert.equal(values.get(k(`sand${secretKey}`)), 3, 'the recompute replaced it');
			assert.equal(values.get(k(`gold${secretKey}`)), 1000);
		}
	});

	it('describes itself with toConfig', () => {
		assert.deepStrictEqual(open().toConfig(), {
			type: 'file',
			root: path.join(dir, 'values'),
			serializer: 'v8',
			compress: false,
		});
		assert.deepStrictEqual(open({ serializer: 'json', compress: true, secretKey: ['0a0b', 'CCDD'] }).toConfig(), {
			type: 'file',
			root: path.join(dir, 'values'),
			serializer: 'json',
			compress: true,
			secretKey: ['0a0b', 'ccdd'],
		});
	});

	describe('damaged files are a miss, reported, left in place, and replaced by the next put', () => {
		const damages: Record<string, (bytes: Buffer) => Buffer> = {
			truncated: (b) => b.subarray(0, b.length - 10),
			'cut to 3 bytes': (b) => b.subarray(0, 3),
			empty: () => Buffer.alloc(0),
			garbage: () => Buffer.from('this is not a fleche file at all, just text'),
			'a flipped payload byte': (b) => {
				const c = Buffer.from(b);
				c[20] = (c[20] ?? 0) ^ 0x01;
				return c;
			},
			'trailing bytes': (b) => Buffer.concat([b, Buffer.from('xx')]),
		};
		for (const [label, damage] of Object.entries(damages)) {
			it(label, () => {
				const values = open();
				const value = { text: 'a value long enough to have a payload', n: [1, 2, 3] };
				values.put(k('d'), value);
				fs.writeFileSync(fileOf(k('d')), damage(fs.readFileSync(fileOf(k('d')))));
				assert.throws(() => values.get(k('d')), isKeyError);
				assert.deepStrictEqual(codes(), ['FLECHE_CORRUPT_ENTRY']);
				assert.ok(logs[0]?.message.includes(fileOf(k('d'))), 'the warning names the file');
				assert.equal(fs.existsSync(fileOf(k('d'))), true, 'a read removes nothing');
				assert.throws(() => new ValueFile({ root: values.root }).get(k('d')), isKeyError, 'still a miss for another reader');
				logs = logs.slice(0, 1);
				// The rerun rewrites it.
				values.put(k('d'), value);
				assert.deepStrictEqual(values.get(k('d')), value);
				assert.equal(logs.length, 1);
			});
		}

		it('every single flipped byte is detected (header, payload, checksum)', () => {
			const values = open();
			values.put(k('f'), { a: 'b', list: [1, 2, 3] });
			const original = fs.readFileSync(fileOf(k('f')));
			for (let i = 0; i < original.length; i++) {
				if (i === 4) continue; // the version byte: see the next test
				const bytes = Buffer.from(original);
				bytes[i] = (bytes[i] ?? 0) ^ 0xff;
				fs.writeFileSync(fileOf(k('f')), bytes);
				logs = [];
				assert.throws(() => values.get(k('f')), isKeyError, `byte ${i}`);
				assert.deepStrictEqual(codes(), ['FLECHE_CORRUPT_ENTRY'], `byte ${i}`);
				assert.deepStrictEqual(fs.readFileSync(fileOf(k('f'))), bytes, `byte ${i}: left as it was`);
			}
		});
	});

	it('a newer format version or an unregistered serializer is a miss that keeps the file, reported once', () => {
		const values = open();
		fs.mkdirSync(values.root, { recursive: true });
		fs.writeFileSync(fileOf(k('n1')), buildValueFile({ name: 'json', version: 3, payload: Buffer.from('1') }));
		fs.writeFileSync(fileOf(k('n2')), buildValueFile({ name: 'json', version: 3, payload: Buffer.from('2') }));
		fs.writeFileSync(fileOf(k('u')), buildValueFile({ name: 'no-such-codec', payload: Buffer.from('1') }));
		assert.throws(() => values.get(k('n1')), isKeyError);
		assert.throws(() => values.get(k('n2')), isKeyError);
		assert.throws(() => values.get(k('u')), (err) => KeyError.is(err) && /no-such-codec/.test(err.message));
		assert.deepStrictEqual(codes(), ['FLECHE_UNREADABLE_ENTRY', 'FLECHE_UNREADABLE_ENTRY']);
		for (const key of [k('n1'), k('n2'), k('u')]) assert.equal(fs.existsSync(fileOf(key)), true);
	});

	describe('signing (docs/behaviour.md §5)', () => {
		const keyA = '00112233445566778899aabbccddeeff';
		const keyB = 'ffeeddccbbaa99887766554433221100';

		it('round-trips and appends a 64-hex HMAC', () => {
			const values = open({ secretKey: keyA });
			values.put(k('s'), new Map([[1, 'one']]));
			assert.deepStrictEqual(values.get(k('s')), new Map([[1, 'one']]));
			const bytes = fs.readFileSync(fileOf(k('s')));
			assert.equal(bytes[5], 2, 'signed flag');
			assert.match(bytes.toString('latin1', bytes.length - 64), /^[0-9a-f]{64}$/);
			assert.deepStrictEqual(logs, []);
		});

		it('matches a hand-built signed file', () => {
			const values = open({ secretKey: keyA });
			fs.mkdirSync(values.root, { recursive: true });
			const file = buildValueFile({ name: 'json', key: k('hs'), payload: Buffer.from('[1]'), sign: Buffer.from(keyA, 'hex') });
			fs.writeFileSync(fileOf(k('hs')), file);
			assert.deepStrictEqual(values.get(k('hs')), [1]);
		});

		it('a signed file of format 1 (its signature does not cover its key) is a miss with a key, read without; one put replaces it', () => {
			const values = open({ secretKey: keyA });
			fs.mkdirSync(values.root, { recursive: true });
			fs.writeFileSync(fileOf(k('old')), buildValueFile({ name: 'json', payload: Buffer.from('"old"'), sign: Buffer.from(keyA, 'hex') }));
			assert.throws(() => values.get(k('old')), (err) => KeyError.is(err) && /format 1/.test(err.message));
			assert.deepStrictEqual(codes(), ['FLECHE_BAD_SIGNATURE']);
			assert.equal(open().get(k('old')), 'old', 'no key configured: signatures are not checked');
			values.put(k('old'), 'old');
			assert.equal(values.get(k('old')), 'old');
			assert.equal(fs.readFileSync(fileOf(k('old')))[4], 2, 'rewritten in format 2');
		});

		it('a tampered file is a miss, reported once and left in place', () => {
			const values = open({ secretKey: keyA });
			values.put(k('t'), 'the real value');
			const bytes = fs.readFileSync(fileOf(k('t')));
			bytes[bytes.length - 70] = (bytes[bytes.length - 70] ?? 0) ^ 0x20;
			fs.writeFileSync(fileOf(k('t')), bytes);
			assert.throws(() => values.get(k('t')), isKeyError);
			assert.deepStrictEqual(codes(), ['FLECHE_BAD_SIGNATURE']);
			assert.ok(logs[0]?.message.includes(fileOf(k('t'))));
			assert.deepStrictEqual(fs.readFileSync(fileOf(k('t'))), bytes);
		});

		it('a tampered file with a recomputed checksum is still caught', () => {
			const values = open({ secretKey: keyA });
			fs.mkdirSync(values.root, { recursive: true });
			const forged = buildValueFile({ name: 'json', key: k('forged'), payload: Buffer.from('"forged"'), sign: Buffer.from(keyB, 'hex') });
			fs.writeFileSync(fileOf(k('forged')), forged);
			assert.throws(() => values.get(k('forged')), isKeyError);
			assert.deepStrictEqual(codes(), ['FLECHE_BAD_SIGNATURE']);
		});

		it('a file signed with another key is a miss for that reader, and stays valid for the writer', () => {
			open({ secretKey: keyA }).put(k('w'), 1);
			assert.throws(() => open({ secretKey: keyB }).get(k('w')), isKeyError);
			assert.deepStrictEqual(codes(), ['FLECHE_BAD_SIGNATURE']);
			assert.equal(open({ secretKey: keyA }).get(k('w')), 1);
		});

		it('an unsigned file is a miss when a key is configured', () => {
			open().put(k('u'), 1);
			assert.throws(() => open({ secretKey: keyA }).get(k('u')), (err) => KeyError.is(err) && /not signed/.test(err.message));
			assert.deepStrictEqual(codes(), ['FLECHE_BAD_SIGNATURE']);
		});

		it('rotates keys: the first signs, all verify', () => {
			open({ secretKey: keyA }).put(k('old'), 'old');
			const rotated = open({ secretKey: [keyB, keyA] });
			assert.equal(rotated.get(k('old')), 'old');
			rotated.put(k('new'), 'new');
			assert.equal(open({ secretKey: `${keyB}:${keyA}` }).get(k('new')), 'new');
			assert.equal(open({ secretKey: keyB }).get(k('new')), 'new');
			assert.throws(() => open({ secretKey: keyA }).get(k('new')), isKeyError, 'signed with B, not A');
		});

		it('accepts raw key bytes', () => {
			open({ secretKey: Buffer.from(keyA, 'hex') }).put(k('raw'), 'raw');
			assert.equal(open({ secretKey: keyA }).get(k('raw')), 'raw');
		});

		it('a signed file loads without any key configured', () => {
			open({ secretKey: keyA }).put(k('s'), { a: 1 });
			assert.deepStrictEqual(open().get(k('s')), { a: 1 });
			assert.deepStrictEqual(logs, []);
		});

		it('reads keys from FLECHE_SECRET_KEY; an empty secretKey turns signing off', () => {
			process.env['FLECHE_SECRET_KEY'] = `${keyB}:${keyA}`;
			const fromEnv = open();
			assert.deepStrictEqual(fromEnv.toConfig(), {
				type: 'file',
				root: fromEnv.root,
				serializer: 'v8',
				compress: false,
				secretKey: [keyB, keyA],
			});
			fromEnv.put(k('e'), 'env');
			delete process.env['FLECHE_SECRET_KEY'];
			assert.equal(open({ secretKey: keyB }).get(k('e')), 'env');
			process.env['FLECHE_SECRET_KEY'] = keyA;
			const off = open({ secretKey: '' });
			assert.equal('secretKey' in off.toConfig(), false);
		});

		it('refuses a key that is not hex without echoing it', () => {
			assert.throws(() => open({ secretKey: 'not-hex-secret' }), (err) => err instanceof TypeError && !err.message.includes('not-hex-secret'));
			assert.throws(() => open({ secretKey: 'abc' }), TypeError, 'odd length');
			process.env['FLECHE_SECRET_KEY'] = 'zz';
			assert.throws(() => open(), (err) => err instanceof TypeError && /FLECHE_SECRET_KEY/.test(err.message));
		});
	});

	describe('compression', () => {
		it('round-trips and shrinks repetitive values', () => {
			const big = { rows: Array.from({ length: 2000 }, (_, i) => ({ id: i % 10, label: 'repeated label' })) };
			open().put(k('plain'), big);
			const zipped = open({ compress: true });
			zipped.put(k('zipped'), big);
			assert.deepStrictEqual(zipped.get(k('zipped')), big);
			assert.ok(fs.statSync(fileOf(k('zipped'))).size * 5 < fs.statSync(fileOf(k('plain'))).size);
			assert.deepStrictEqual(open().get(k('zipped')), big, 'read back whatever compress is set to');
		});

		it('compressed and signed', () => {
			const values = open({ compress: true, secretKey: 'abcdef' });
			values.put(k('cs'), new Set([1, 2, 3]));
			assert.deepStrictEqual(values.get(k('cs')), new Set([1, 2, 3]));
			assert.equal(fs.readFileSync(fileOf(k('cs')))[5], 3);
		});
	});

	describe('json serializer', () => {
		it('round-trips plain data, readable in the file', () => {
			const values = open({ serializer: 'json' });
			const value = { a: [1, 2.5, 'x', null, true], b: { c: {} }, 'odd key': [] };
			values.put(k('j'), value);
			assert.deepStrictEqual(values.get(k('j')), value);
			assert.ok(fs.readFileSync(fileOf(k('j')), 'utf8').includes(JSON.stringify(value)));
			assert.deepStrictEqual(open().get(k('j')), value, 'a v8 storage reads it by the name in the file');
		});

		it('refuses what JSON would change, with SaveError, writing nothing', () => {
			const values = open({ serializer: 'json' });
			class Point {
				constructor(public x: number) {}
			}
			const refused: [string, unknown, RegExp][] = [
				['a Map', new Map([[1, 2]]), /Map/],
				['undefined', undefined, /undefined/],
				['a nested undefined', { a: { b: undefined } }, /value\.a\.b/],
				['a BigInt', { n: 1n }, /BigInt/],
				['NaN', [Number.NaN], /NaN.*value\[0\]/],
				['-0', -0, /-0/],
				['a Date', { when: new Date(0) }, /Date/],
				['a class instance', new Point(1), /Point/],
				['an array hole', [1, , 3], /hole/], // eslint-disable-line no-sparse-arrays
				['a cycle', (() => {
					const o: Record<string, unknown> = {};
					o['o'] = o;
					return o;
				})(), /cycle/],
			];
			for (const [label, value, pattern] of refused) {
				assert.throws(() => values.put(k(label), value), (err) => SaveError.is(err) && pattern.test(err.message), label);
			}
			assert.deepStrictEqual(fs.existsSync(values.root) ? fs.readdirSync(values.root) : [], []);
		});
	});

	describe('custom serializers', () => {
		it('registers a codec and uses it by name', () => {
			registerSerializer('test-upper', {
				serialize: (value) => Buffer.from(String(value).toUpperCase()),
				deserialize: (bytes) => Buffer.from(bytes).toString(),
			});
			const values = open({ serializer: 'test-upper' });
			values.put(k('c'), 'shout');
			assert.equal(values.get(k('c')), 'SHOUT');
			assert.equal(values.serializer, 'test-upper');
		});

		it('throws a clear TypeError for unknown or reserved names', () => {
			assert.throws(() => open({ serializer: 'nope' }), (err) => err instanceof TypeError && /Unknown serializer "nope"/.test(err.message));
			assert.throws(() => registerSerializer('v8', { serialize: () => new Uint8Array(), deserialize: () => null }), TypeError);
			assert.throws(() => registerSerializer('has space', { serialize: () => new Uint8Array(), deserialize: () => null }), TypeError);
		});
	});

	it('a read-only or impossible root is a SaveError naming the root', () => {
		const blocked = path.join(dir, 'blocked');
		fs.mkdirSync(blocked);
		fs.chmodSync(blocked, 0o555);
		let root = path.join(blocked, 'values');
		try {
			fs.writeFileSync(path.join(blocked, 'probe'), '');
			// Running as root: permissions do not stop writes, so route the root through a regular file instead.
			fs.writeFileSync(path.join(dir, 'afile'), '');
			root = path.join(dir, 'afile', 'values');
		} catch {
			// Permissions are enforced: the read-only folder is the test.
		}
		const values = new ValueFile({ root });
		assert.throws(
			() => values.put(k('ro'), 1),
			(err) => SaveError.is(err) && err.message.includes(root) && /cache folder/.test(err.message),
		);
		assert.equal(values.contains(k('ro')), false);
		const calls = new CallFile({ root });
		assert.throws(() => calls.put(makeRecord()), (err) => SaveError.is(err) && err.message.includes(root));
		assert.deepStrictEqual(tempFiles(blocked).filter((n) => n !== 'probe'), []);
	});
});

describe('CallFile', () => {
	const open = () => new CallFile({ root: path.join(dir, 'calls') });
	const fileOf = (key: string) => path.join(dir, 'calls', key);

	it('writes readable JSON in a format envelope', () => {
		const calls = open();
		const record = makeRecord();
		calls.put(record);
		const parsed = JSON.parse(fs.readFileSync(fileOf(record.key), 'utf8')) as unknown;
		assert.deepStrictEqual(parsed, { format: 'fleche.call/1', record });
		assert.deepStrictEqual(calls.toConfig(), { type: 'file', root: path.join(dir, 'calls') });
		assert.deepStrictEqual(tempFiles(calls.root), []);
	});

	it('a failed rename leaves no temporary file behind', () => {
		const calls = open();
		const record = makeRecord();
		calls.put(makeRecord('other'));
		// A non-empty directory squatting on the key's name makes the rename fail after the temporary was written.
		fs.mkdirSync(fileOf(record.key));
		fs.writeFileSync(path.join(fileOf(record.key), 'inside'), '');
		assert.throws(() => calls.put(record), (err) => SaveError.is(err) && err.message.includes(calls.root));
		assert.deepStrictEqual(tempFiles(calls.root), []);
	});

	it('refuses to put a record whose key does not match its fields, or with a malformed digest', () => {
		const calls = open();
		assert.throws(() => calls.put({ ...makeRecord(), key: k('wrong') }), isSaveError);
		const badArg = makeRecord('f', { a: 'not-a-digest' });
		assert.throws(() => calls.put(badArg), isSaveError);
		assert.deepStrictEqual(calls.list(), []);
	});

	const edits: Record<string, (text: string, record: CallRecord) => string> = {
		'an edited key': (t, r) => t.replace(`"key": "${r.key}"`, `"key": "${k('elsewhere')}"`),
		'an edited name': (t) => t.replace('"name": "add"', '"name": "sub"'),
		'an edited argument digest': (t) => t.replace(k('1'), k('9')),
		'a malformed argument digest': (t) => t.replace(k('1'), 'zz'),
		'a missing field': (t) => t.replace('"module": "src/math.js",', ''),
		'a wrong field type': (t) => t.replace('"version": 1', '"version": [1]'),
		'metadata that is not an object of objects': (t) => t.replace(/"tags": \{[^}]*\}/, '"tags": 3'),
		'an unknown format': (t) => t.replace('fleche.call/1', 'something/1'),
		'truncated JSON': (t) => t.slice(0, t.length / 2),
		'garbage': () => '\u0000\u0001 not json',
		'JSON that is not an object': () => '[1, 2]',
	};
	for (const [label, edit] of Object.entries(edits)) {
		it(`a file with ${label} is a miss, reported once and left in place`, () => {
			const calls = open();
			const record = makeRecord();
			calls.put(record);
			const text = fs.readFileSync(fileOf(record.key), 'utf8');
			const edited = edit(text, record);
			assert.notEqual(edited, text, 'the edit applies');
			fs.writeFileSync(fileOf(record.key), edited);
			assert.throws(() => calls.get(record.key), isKeyError);
			assert.deepStrictEqual(codes(), ['FLECHE_CORRUPT_ENTRY']);
			assert.ok(logs[0]?.message.includes(fileOf(record.key)));
			assert.equal(fs.readFileSync(fileOf(record.key), 'utf8'), edited, 'a read changes nothing');
			calls.put(record);
			assert.deepStrictEqual(calls.get(record.key), record, 'the next put of the key replaces it');
		});
	}

	describe('signed records', () => {
		const keyA = '00112233445566778899aabbccddeeff';
		const keyB = 'ffeeddccbbaa99887766554433221100';
		const signed = (secretKey: string) => new CallFile({ root: path.join(dir, 'calls'), secretKey });

		it('carry an HMAC over the record, key included; read back under the same key, or with no key at all', () => {
			const calls = signed(keyA);
			const record = makeRecord();
			calls.put(record);
			const parsed = JSON.parse(fs.readFileSync(fileOf(record.key), 'utf8')) as { signature?: string };
			const expected = createHmac('sha256', Buffer.from(keyA, 'hex')).update(`fleche.call/1\n${JSON.stringify(record)}`).digest('hex');
			assert.equal(parsed.signature, expected);
			assert.deepStrictEqual(calls.get(record.key), record);
			assert.deepStrictEqual(open().get(record.key), record);
			assert.deepStrictEqual(calls.toConfig(), { type: 'file', root: calls.root, secretKey: [keyA] });
			assert.deepStrictEqual(logs, []);
		});

		it('a record edited to name another result (its key still matches) is a miss', () => {
			const calls = signed(keyA);
			const record = makeRecord();
			calls.put(record);
			const text = fs.readFileSync(fileOf(record.key), 'utf8');
			fs.writeFileSync(fileOf(record.key), text.replace(`"result": "${record.result!}"`, `"result": "${k('gold')}"`));
			assert.deepStrictEqual(open().get(record.key).result, k('gold'), 'unsigned, the edit goes unnoticed: its key does not cover the result');
			assert.throws(() => calls.get(record.key), (err) => KeyError.is(err) && /signature does not match/.test(err.message));
			assert.deepStrictEqual(codes(), ['FLECHE_BAD_SIGNATURE']);
		});

		it('an unsigned record, or one signed with another key, is a miss that stays on disk; the put of the key re-signs it', () => {
			const record = makeRecord();
			open().put(record);
			assert.throws(() => signed(keyA).get(record.key), (err) => KeyError.is(err) && /not signed/.test(err.message));
			signed(keyB).put(record);
			assert.throws(() => signed(keyA).get(record.key), isKeyError);
			assert.deepStrictEqual(codes(), ['FLECHE_BAD_SIGNATURE', 'FLECHE_BAD_SIGNATURE']);
			assert.deepStrictEqual(signed(keyB).get(record.key), record, 'still valid for its writer');
			signed(keyA).put(record);
			assert.deepStrictEqual(signed(keyA).get(record.key), record);
		});
	});

	it('a record copied under another key is a miss', () => {
		const calls = open();
		const record = makeRecord();
		calls.put(record);
		fs.copyFileSync(fileOf(record.key), fileOf(k('other')));
		assert.throws(() => calls.get(k('other')), isKeyError);
		assert.deepStrictEqual(calls.get(record.key), record);
		assert.deepStrictEqual(codes(), ['FLECHE_CORRUPT_ENTRY']);
	});

	it('a newer record format is a miss that keeps the file', () => {
		const calls = open();
		const record = makeRecord();
		calls.put(record);
		const text = fs.readFileSync(fileOf(record.key), 'utf8');
		fs.writeFileSync(fileOf(record.key), text.replace('fleche.call/1', 'fleche.call/3'));
		assert.throws(() => calls.get(record.key), isKeyError);
		assert.equal(fs.existsSync(fileOf(record.key)), true);
		assert.deepStrictEqual(codes(), ['FLECHE_UNREADABLE_ENTRY']);
	});

	it('records() is lazy and skips a corrupt file with one warning', () => {
		const calls = open();
		const good = [makeRecord('a'), makeRecord('b'), makeRecord('c')];
		for (const r of good) calls.put(r);
		fs.writeFileSync(fileOf(k('corrupt')), '{ nope');
		fs.writeFileSync(path.join(calls.root, `.${k('t')}.tmp`), '{ partial');
		const iterator = calls.records();
		assert.equal(typeof iterator[Symbol.iterator], 'function');
		const seen = [...iterator].map((r) => r.key).sort();
		assert.deepStrictEqual(seen, good.map((r) => r.key).sort());
		assert.deepStrictEqual(codes(), ['FLECHE_CORRUPT_ENTRY']);
		assert.equal(fs.readFileSync(fileOf(k('corrupt')), 'utf8'), '{ nope', 'listing removes nothing');
	});

	it('records() of a missing root is empty', () => {
		assert.deepStrictEqual([...new CallFile({ root: path.join(dir, 'nothing') }).records()], []);
	});

	it('tolerates unknown extra fields (a newer minor writer) and drops them', () => {
		const calls = open();
		const record = makeRecord();
		calls.put(record);
		const text = fs.readFileSync(fileOf(record.key), 'utf8');
		fs.writeFileSync(fileOf(record.key), text.replace('"name": "add"', '"name": "add", "extra": 1'));
		assert.deepStrictEqual(calls.get(record.key), record);
	});
});
