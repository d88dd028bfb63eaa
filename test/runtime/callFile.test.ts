// docs/behaviour.md §2.6, §5: a call file read back is checked field by field before its key is, and each kind of
// damage is a miss whose warning says what is wrong — on real files, in well under a second, so that
// test/mutation/run.mjs can judge storage/file/calls.ts's record and envelope checks with it. A damaged file is left
// on disk (reading never deletes; the recompute replaces it).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Cache, CallFile, KeyError, ValueFile, ValueMemory, resetLogger, setLogger, type Call, type LogRecord } from 'fleche';

let dir = '';
let logs: LogRecord[] = [];
beforeEach(() => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleche-callfile-'));
	logs = [];
	setLogger((r) => logs.push(r));
});
afterEach(() => {
	resetLogger();
	fs.rmSync(dir, { recursive: true, force: true });
});

const call = (extra: Partial<Call> = {}): Call => ({
	name: 'area',
	module: 'src/shapes.ts',
	version: null,
	codeDigest: null,
	arguments: { w: 3, h: 4 },
	result: 12,
	metadata: { runtime: { walltime: 0.5 } },
	...extra,
});

type Envelope = { format: unknown; record: Record<string, unknown>; values?: unknown };

/** A call saved through a cache whose values are kept apart (a `fleche.call/1` file), or inside the call file. */
function saved(inline: boolean, extra: Partial<Call> = {}): { calls: CallFile; cache: Cache; key: string; file: string; envelope: Envelope } {
	const calls = new CallFile({ root: path.join(dir, 'calls') });
	const values = inline ? new ValueFile({ root: path.join(dir, 'values') }) : new ValueMemory();
	const cache = new Cache(values, calls);
	const key = cache.save(call(extra));
	const file = path.join(dir, 'calls', key);
	return { calls, cache, key, file, envelope: JSON.parse(fs.readFileSync(file, 'utf8')) as Envelope };
}

/** Reading `key`, by `get` or `find`, is a miss (a KeyError) whose message matches `reason`; the file stays. */
function rejected(calls: CallFile, key: string, file: string, reason: RegExp): void {
	for (const read of [() => calls.get(key), () => calls.find(key)]) {
		assert.throws(read, (err) => KeyError.is(err) && reason.test((err as Error).message));
	}
	assert.ok(fs.existsSync(file), 'the damaged file is left for the recompute to replace');
	assert.ok(
		logs.some((r) => reason.test(r.message)),
		`a warning says why: ${logs.map((r) => r.message).join(' | ')}`,
	);
}

const hex = (c: string): string => c.repeat(64);

describe('CallFile: a damaged record is a miss that says what is wrong', () => {
	const damages: [string, (e: Envelope) => unknown, RegExp][] = [
		['not an object', () => [1, 2], /not a JSON object/],
		['an unknown format', (e) => ({ ...e, format: 'fleche.record/1' }), /unknown format "fleche\.record\/1"/],
		['a format that is no string', (e) => ({ ...e, format: 7 }), /unknown format 7/],
		['no record', (e) => ({ ...e, record: 'area' }), /no record object/],
		['a key that is not hex', (e) => ({ ...e, record: { ...e.record, key: 'k'.repeat(64) } }), /record\.key is not a 64-hex key/],
		['a name that is not text', (e) => ({ ...e, record: { ...e.record, name: 3 } }), /record\.name is not a string/],
		['a module that is a number', (e) => ({ ...e, record: { ...e.record, module: 4 } }), /record\.module is not a string or null/],
		['a version that is an object', (e) => ({ ...e, record: { ...e.record, version: {} } }), /record\.version is not a string, number or null/],
		['a version that is true', (e) => ({ ...e, record: { ...e.record, version: true } }), /record\.version is not a string, number or null/],
		['a code digest that is not hex', (e) => ({ ...e, record: { ...e.record, codeDigest: 'abc' } }), /record\.codeDigest is not a 64-hex digest or null/],
		['a result that is not hex', (e) => ({ ...e, record: { ...e.record, result: 12 } }), /record\.result is not a 64-hex digest or null/],
		['arguments that are a list', (e) => ({ ...e, record: { ...e.record, arguments: [] } }), /record\.arguments is not an object/],
		['an argument that is not a digest', (e) => ({ ...e, record: { ...e.record, arguments: { w: 'three' } } }), /record\.arguments\.w is not a 64-hex digest/],
		['metadata that is text', (e) => ({ ...e, record: { ...e.record, metadata: 'runtime' } }), /record\.metadata is not an object/],
		[
			'a metadata namespace that is a number',
			(e) => ({ ...e, record: { ...e.record, metadata: { runtime: 5 } } }),
			/record\.metadata\.runtime is not an object/,
		],
		['an async flag that is text', (e) => ({ ...e, record: { ...e.record, async: 'yes' } }), /record\.async is not a boolean/],
		['a scheme that is no scheme name', (e) => ({ ...e, record: { ...e.record, scheme: 'Fleche Call' } }), /record\.scheme is not a key scheme name/],
		['the record of another key', (e) => ({ ...e, record: { ...e.record, key: hex('b') } }), /holds the record of key b{64} \(misplaced or edited\)/],
		['a name edited', (e) => ({ ...e, record: { ...e.record, name: 'volume' } }), /record fields do not hash to its key \(edited\)/],
		['values inside a format 1 record', (e) => ({ ...e, values: {} }), /values inside a fleche\.call\/1 record/],
	];
	for (const [what, damage, reason] of damages) {
		it(`${what}: ${reason.source}`, () => {
			const { calls, key, file, envelope } = saved(false);
			assert.equal(envelope.format, 'fleche.call/1');
			assert.equal(calls.get(key).name, 'area', 'read whole before the damage');
			fs.writeFileSync(file, JSON.stringify(damage(envelope)));
			rejected(calls, key, file, reason);
		});
	}

	it('a file that is JSON but no object: a number, a text, null', () => {
		for (const text of ['5', '"area"', 'null']) {
			const { calls, key, file } = saved(false);
			fs.writeFileSync(file, text);
			rejected(calls, key, file, /not a JSON object/);
		}
	});

	it('formats that only look like ours are unknown, not newer', () => {
		for (const format of ['fleche.call/0', 'fleche.call/02', 'old.fleche.call/9', 'fleche.call/3.1', 'fleche.call/']) {
			const { calls, key, file, envelope } = saved(false);
			fs.writeFileSync(file, JSON.stringify({ ...envelope, format }));
			rejected(calls, key, file, new RegExp(`unknown format "${format.replace(/[./]/g, (c) => `\\${c}`)}"`));
		}
	});

	it('a format with a number of two digits above ours is newer', () => {
		const { calls, key, file, envelope } = saved(false);
		fs.writeFileSync(file, JSON.stringify({ ...envelope, format: 'fleche.call/10' }));
		rejected(calls, key, file, /written in call record format fleche\.call\/10;/);
	});

	it('a file that is not JSON', () => {
		const { calls, key, file } = saved(false);
		fs.writeFileSync(file, '{"format":"fleche.call/1",');
		rejected(calls, key, file, /not valid JSON/);
	});

	it('a newer format is unreadable, said once, and left', () => {
		const { calls, key, file, envelope } = saved(false);
		fs.writeFileSync(file, JSON.stringify({ ...envelope, format: 'fleche.call/3' }));
		rejected(calls, key, file, /written in call record format fleche\.call\/3; this fleche reads fleche\.call\/1 and fleche\.call\/2/);
		assert.throws(
			() => calls.get(key),
			(err) => KeyError.is(err),
		);
		assert.equal(logs.filter((r) => /fleche\.call\/3/.test(r.message)).length, 1, 'said once');
	});

	it('the formats this fleche reads and wrote are not "newer": fleche.call/2 read back whole, its values too', () => {
		// Results whose held bytes end in base64 with no, one and two padding characters.
		for (const result of ['a', 'ab', 'abc', 'abcd', 12]) {
			const { calls, cache, key, envelope } = saved(true, { result });
			assert.equal(envelope.format, 'fleche.call/2');
			assert.equal(calls.get(key).name, 'area');
			assert.deepEqual(cache.load(key).result, result);
			assert.deepEqual(cache.load(key).arguments, { w: 3, h: 4 });
		}
		assert.deepEqual(logs, []);
	});

	it('a record of another key scheme is stale: read back unchecked, its values left alone', () => {
		const { calls, key, file, envelope } = saved(true);
		fs.writeFileSync(file, JSON.stringify({ ...envelope, record: { ...envelope.record, scheme: 'fleche.call/9' }, values: [] }));
		assert.equal(calls.get(key).scheme, 'fleche.call/9');
		assert.deepEqual(logs, [], 'not damage: a miss the cache decides on, said nowhere');
	});
});

describe('CallFile: the values inside a fleche.call/2 file are checked before they are served', () => {
	const damages: [string, (e: Envelope, named: string) => unknown, RegExp][] = [
		['values that are a list', (e) => ({ ...e, values: [] }), /values is not an object/],
		['no values at all', (e) => ({ format: e.format, record: e.record }), /values is not an object/],
		[
			'a value under a name that is not a digest',
			(e) => ({ ...e, values: { ...(e.values as object), abc: 'AAAA' } }),
			/values holds "abc", not a 64-hex digest/,
		],
		[
			'a value the record does not name',
			(e) => ({ ...e, values: { ...(e.values as object), [hex('c')]: 'AAAA' } }),
			new RegExp(`values holds ${hex('c')}, which the record does not name`),
		],
		['a value that is not base64 at its end', (e, named) => ({ ...e, values: { ...(e.values as object), [named]: 'AAAA%%' } }), /is not base64 text/],
		['a value that is not base64 at its start', (e, named) => ({ ...e, values: { ...(e.values as object), [named]: '%%AAAA' } }), /is not base64 text/],
		['a value that is a number', (e, named) => ({ ...e, values: { ...(e.values as object), [named]: 12 } }), /is not base64 text/],
	];
	for (const [what, damage, reason] of damages) {
		it(`${what}: ${reason.source.slice(0, 60)}`, () => {
			const { calls, key, file, envelope } = saved(true);
			assert.equal(envelope.format, 'fleche.call/2');
			const named = envelope.record['result'] as string;
			assert.ok(Object.keys(envelope.values as object).includes(named), 'the result is held inside');
			fs.writeFileSync(file, JSON.stringify(damage(envelope, named)));
			rejected(calls, key, file, reason);
		});
	}

	it('a long name that is not a digest is cut in the message', () => {
		const { calls, key, file, envelope } = saved(true);
		const name = 'n'.repeat(200);
		fs.writeFileSync(file, JSON.stringify({ ...envelope, values: { ...(envelope.values as object), [name]: 'AAAA' } }));
		rejected(calls, key, file, new RegExp(`values holds "${'n'.repeat(80)}", not a 64-hex digest`));
	});

	it('an argument value held inside is one the record names: read back whole', () => {
		const { calls, key, envelope } = saved(true);
		const args = Object.values(envelope.record['arguments'] as Record<string, string>);
		assert.ok(
			args.every((d) => Object.keys(envelope.values as object).includes(d)),
			'the arguments are held too',
		);
		assert.deepEqual(Object.keys(calls.get(key).arguments).sort(), ['h', 'w']);
	});
});

describe('CallFile: what a record may hold, read back as written', () => {
	const kinds: [string, Partial<Call>][] = [
		['a number version', { version: 2 }],
		['a text version', { version: 'v2' }],
		['no module', { module: null }],
		['a code digest', { codeDigest: hex('d') }],
		['no arguments and no metadata', { arguments: {}, metadata: {} }],
	];
	for (const [what, extra] of kinds) {
		it(what, () => {
			const { calls, key } = saved(false, extra);
			const record = calls.get(key);
			for (const field of Object.keys(extra) as (keyof Call)[]) {
				if (field === 'arguments' || field === 'metadata') assert.deepEqual(Object.keys(record[field]), []);
				else assert.deepEqual(record[field], extra[field]);
			}
			assert.deepEqual(logs, []);
		});
	}

	it('a record keeps its key scheme, and one written before records named it has none', () => {
		const { calls, key, file, envelope } = saved(false);
		assert.equal(envelope.record['scheme'], 'fleche.call/1', 'written with the scheme that made its key');
		assert.equal(calls.get(key).scheme, 'fleche.call/1');
		// A file from before the field (and the async flag) existed: the same key, read back without either.
		const { scheme: _s, async: _a, ...older } = envelope.record;
		fs.writeFileSync(file, JSON.stringify({ ...envelope, record: older }));
		const record = calls.get(key);
		assert.equal('scheme' in record, false);
		assert.equal('async' in record, false);
		assert.equal(record.name, 'area');
		assert.deepEqual(logs, []);
	});

	it('an async call keeps its flag', () => {
		const { calls, key, file, envelope } = saved(false);
		// A record's `async` is not part of its key: set by hand, it is read back as written.
		fs.writeFileSync(file, JSON.stringify({ ...envelope, record: { ...envelope.record, async: true } }));
		assert.equal(calls.get(key).async, true);
		fs.writeFileSync(file, JSON.stringify({ ...envelope, record: { ...envelope.record, async: false } }));
		assert.equal(calls.get(key).async, false);
		assert.deepEqual(logs, []);
	});
});
