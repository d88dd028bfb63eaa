// docs/behaviour.md §2.6, §5: a call file read back is checked field by field before its key is, and each kind of
// damage is a miss whose warning says what is wrong — on real files, in well under a second, so that
// test/mutation/run.mjs can judge storage/file/calls.ts's record and envelope checks with it. A damaged file is left
// on disk (reading never deletes; the recompute replaces it).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Cache, CallFile, KeyError, SaveError, ValueFile, ValueMemory, resetLogger, setLogger, type Call, type CallStats, type LogRecord } from 'fleche';

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

	it('held bytes that are damaged are a miss when the value is served, said with the call file that holds them', () => {
		const { cache, key, file, envelope } = saved(true);
		const named = envelope.record['result'] as string;
		fs.writeFileSync(file, JSON.stringify({ ...envelope, values: { ...(envelope.values as object), [named]: 'AAAA' } }));
		assert.equal(cache.lookup(key), undefined);
		assert.ok(
			logs.some((r) => r.message.includes(`${file} (value ${named})`)),
			logs.map((r) => r.message).join(' | '),
		);
		assert.ok(fs.existsSync(file));
	});

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

describe('CallFile: writing, held values and housekeeping', () => {
	const root = (): string => path.join(dir, 'calls');
	const delta = (i: number, extra: Partial<CallStats> = {}): CallStats => ({
		key: i.toString(16).padStart(64, '0'),
		name: 'area',
		module: 'src/shapes.ts',
		hits: 1,
		misses: 0,
		lastHit: null,
		computeSeconds: 0,
		savedSeconds: 0,
		...extra,
	});
	const statsFiles = (): string[] => (fs.existsSync(path.join(root(), '.stats')) ? fs.readdirSync(path.join(root(), '.stats')).sort() : []);

	it('inlineValues must be a whole number of bytes ≥ 0; 0 keeps every value in a file of its own', () => {
		for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
			assert.throws(
				() => new CallFile({ root: root(), inlineValues: bad }),
				(err) => err instanceof TypeError && err.message === `CallFile: inlineValues must be a whole number of bytes ≥ 0, got ${String(bad)}`,
			);
		}
		assert.equal(new CallFile({ root: root(), inlineValues: 0 }).held, undefined);
		assert.equal(new CallFile({ root: root(), inlineValues: 1 }).held?.limit, 1);
		assert.equal(new CallFile({ root: root() }).held?.limit, 4096);
		assert.deepEqual(new CallFile({ root: root() }).toConfig(), { type: 'file', root: root() });
		assert.deepEqual(new CallFile({ root: root(), inlineValues: 4096 }).toConfig(), { type: 'file', root: root() }, 'the default is not named');
		assert.deepEqual(new CallFile({ root: root(), inlineValues: 0 }).toConfig(), { type: 'file', root: root(), inlineValues: 0 });
	});

	it('a record whose key is not its lookup key, or that holds a value it does not name, is refused with the reason; nothing is written', () => {
		const { calls, key } = saved(true);
		const record = calls.get(key);
		const other = hex('a');
		assert.throws(
			() => calls.put({ ...record, key: other }),
			(err) =>
				SaveError.is(err) &&
				(err as Error).message === `Cannot store the call record ${other} of area: record.key is not the lookup key of its fields` &&
				(err as Error).cause instanceof Error,
		);
		assert.equal(fs.existsSync(path.join(root(), other)), false);
		const before = fs.readFileSync(path.join(root(), key), 'utf8');
		assert.throws(
			() => calls.held!.put(record, new Map([[hex('b'), new Uint8Array([1, 2])]])),
			(err) => SaveError.is(err) && (err as Error).message === `Cannot store the call record ${key} of area: value ${hex('b')} is not one the record names`,
		);
		assert.equal(fs.readFileSync(path.join(root(), key), 'utf8'), before, 'the file as it was');
	});

	it('find answers undefined for a key without a file, warning of nothing', () => {
		const calls = new CallFile({ root: root() });
		assert.equal(calls.find(hex('c')), undefined, 'no folder yet');
		const { calls: used } = saved(true);
		assert.equal(used.find(hex('c')), undefined, 'a folder without it');
		assert.deepEqual(logs, []);
	});

	it('a held value is found where it was seen, else by one pass over the folder that reads only call files naming it', () => {
		const { calls, key, envelope } = saved(true);
		const held = envelope.values as Record<string, string>;
		const digest = (envelope.record['arguments'] as Record<string, string>)['w']!;
		const bytes = Buffer.from(held[digest]!, 'base64');
		assert.equal(calls.held!.sizeOf(digest), bytes.byteLength, 'remembered when written');
		const seen = calls.held!.value(digest);
		assert.deepEqual([seen?.where, Buffer.from(seen!.bytes)], [path.join(root(), key), bytes]);
		// Another instance (another process) has seen nothing: it finds the value only by a pass over the folder.
		const fresh = new CallFile({ root: root() });
		assert.equal(fresh.held!.sizeOf(digest), undefined);
		assert.equal(fresh.held!.value(digest, false), undefined, 'no pass asked for');
		const found = fresh.held!.value(digest);
		assert.deepEqual([found?.where, Buffer.from(found!.bytes)], [path.join(root(), key), bytes]);
		assert.equal(fresh.held!.sizeOf(digest), bytes.byteLength, 'and remembered where');
		assert.equal(fresh.held!.value('not a digest'), undefined);
		// The file where it was seen is gone: looked for again (found nowhere), quietly — an absent file is no damage.
		fresh.evict(key);
		assert.equal(fresh.held!.value(digest), undefined);
		assert.equal(fresh.held!.sizeOf(digest), undefined, 'and forgotten, found nowhere');
		assert.equal(fresh.held!.value(hex('9')), undefined, 'a digest no file names');
		// A call file that names a digest without holding it (its values kept apart) is passed over: no value.
		const apart = new Cache(new ValueMemory(), new CallFile({ root: root(), inlineValues: 0 }));
		const named = (JSON.parse(fs.readFileSync(path.join(root(), apart.save(call({ arguments: { w: 'apart' }, result: 'kept apart' }))), 'utf8')) as Envelope)
			.record;
		assert.equal(new CallFile({ root: root() }).held!.value((named['arguments'] as Record<string, string>)['w']!), undefined);
		assert.deepEqual(logs, []);
	});

	it('the values held in a call file just read are served from that read: a tool showing the call reads its file once', () => {
		const { key, file, envelope } = saved(true);
		const result = envelope.record['result'] as string;
		const w = (envelope.record['arguments'] as Record<string, string>)['w']!;
		const reader = new Cache(new ValueFile({ root: path.join(dir, 'values') }), new CallFile({ root: path.join(dir, 'calls') }));
		const record = reader.loadRecord(key);
		// Replaced on disk after the read (another process's damage): the values come from the bytes read, checked as ever.
		fs.writeFileSync(file, JSON.stringify({ ...envelope, values: { [result]: 'AAAA', [w]: 'AAAA' } }));
		assert.deepEqual([reader.loadValue(record.result!), reader.loadValue(w)], [12, 3]);
		assert.deepEqual(logs, []);
		// Evicted by this instance: nothing is served from what it read before.
		reader.calls.evict(key);
		assert.throws(
			() => reader.loadValue(result),
			(err) => KeyError.is(err),
		);
	});

	it('a damaged value held in a call file: the copy in the value storage when it has one, else a miss said once, naming the call file', () => {
		const { key, file, envelope } = saved(true);
		const result = envelope.record['result'] as string;
		fs.writeFileSync(file, JSON.stringify({ ...envelope, values: { ...(envelope.values as object), [result]: 'AAAA' } }));
		const values = new ValueFile({ root: path.join(dir, 'values') });
		const reader = new Cache(values, new CallFile({ root: path.join(dir, 'calls') }));
		reader.loadRecord(key);
		assert.throws(
			() => reader.loadValue(result),
			(err) => KeyError.is(err) && (err as Error).message.includes(`${file} (value ${result})`),
		);
		assert.equal(logs.filter((r) => r.message.includes(file)).length, 1, logs.map((r) => r.message).join(' | '));
		values.put(result, 12);
		assert.equal(reader.loadValue(result), 12);
	});

	it('the pass skips files that are not call files, and a damaged holder is a miss said once per pass', () => {
		const { key, envelope } = saved(true);
		const digest = (envelope.record['arguments'] as Record<string, string>)['w']!;
		const file = path.join(root(), key);
		// The only holder moved under a name that is not a key (a copy someone made): not a call file, not read.
		fs.renameSync(file, path.join(root(), 'copy.json'));
		assert.equal(new CallFile({ root: root() }).held!.value(digest), undefined);
		assert.equal(logs.length, 0, 'not read, so not reported either');
		fs.renameSync(path.join(root(), 'copy.json'), file);
		// Damaged (cut short: it still names the digest, but is no JSON): it holds nothing; the warning names the file.
		fs.writeFileSync(file, JSON.stringify(envelope).slice(0, -1));
		const fresh = new CallFile({ root: root() });
		assert.equal(fresh.held!.value(digest), undefined);
		const warned = (): number => logs.filter((r) => r.message.includes(file)).length;
		assert.equal(warned(), 1, logs.map((r) => r.message).join(' | '));
		// The folder has not changed since that pass found nothing: the next one is skipped (nothing read, nothing said).
		assert.equal(fresh.held!.value(digest), undefined);
		assert.equal(warned(), 1);
		// Once it changes, the folder is passed over again.
		fs.writeFileSync(path.join(root(), 'another'), '');
		assert.equal(fresh.held!.value(digest), undefined);
		assert.equal(warned(), 2);
	});

	it("records({ name }) reads only that function's files; records() only call files; a damaged one is skipped with a warning", () => {
		const calls = new CallFile({ root: root() });
		const cache = new Cache(new ValueFile({ root: path.join(dir, 'values') }), calls);
		const areas = [cache.save(call()), cache.save(call({ arguments: { w: 5, h: 6 }, result: 30 }))].sort();
		const other = cache.save(call({ name: 'perimeter', arguments: { w: 1, h: 2 }, result: 6 }));
		calls.addStats([delta(1)]);
		fs.writeFileSync(path.join(root(), 'notes.txt'), 'not a call');
		fs.writeFileSync(path.join(root(), '.0f8fad5b-d9cb-469f-a165-70867728950e.tmp'), '{');
		const keys = (it: Iterable<{ key: string }>): string[] => [...it].map((r) => r.key).sort();
		assert.deepEqual(keys(calls.records({ name: 'area' })), areas);
		assert.deepEqual(keys(calls.records({ name: 'perimeter' })), [other]);
		assert.deepEqual(keys(calls.records({ name: 'nothing' })), []);
		assert.deepEqual(keys(calls.records()), [...areas, other].sort());
		assert.deepEqual(logs, []);
		fs.writeFileSync(path.join(root(), areas[0]!), '{ damaged');
		assert.deepEqual(keys(calls.records({ name: 'area' })), [areas[1]]);
		assert.deepEqual(keys(new CallFile({ root: root() }).records()), [areas[1]!, other].sort());
		assert.ok((logs as LogRecord[]).some((r) => r.message.includes(areas[0]!)));
		assert.deepEqual([...new CallFile({ root: path.join(dir, 'absent') }).records()], []);
	});

	it('sweep removes temporaries older than the grace and says how many', () => {
		const { calls } = saved(true);
		const old = path.join(root(), '.0f8fad5b-d9cb-469f-a165-70867728950e.tmp');
		const recent = path.join(root(), '.1f8fad5b-d9cb-469f-a165-70867728950e.tmp');
		fs.writeFileSync(old, '{');
		fs.writeFileSync(recent, '{');
		const hourAgo = new Date(Date.now() - 3_600_000);
		fs.utimesSync(old, hourAgo, hourAgo);
		assert.equal(calls.sweep(60_000), 1);
		assert.deepEqual([fs.existsSync(old), fs.existsSync(recent)], [false, true]);
		assert.equal(calls.sweep(60_000), 0);
		assert.equal(calls.list().length, 1, 'the call itself stays');
	});

	it('statistics: an empty batch writes nothing; a journal past 1 MiB is rotated to numbered closed journals; totals stay exact', () => {
		const calls = new CallFile({ root: root() });
		calls.addStats([]);
		assert.deepEqual(statsFiles(), [], 'nothing written, not even the folder');
		assert.deepEqual(calls.stats(), []);
		assert.deepEqual(calls.stats(), [], 'asked twice with no folder');
		calls.addStats([delta(1, { hits: 0, misses: 1 })]);
		assert.deepEqual(
			calls.stats().map((s) => [s.hits, s.misses]),
			[[0, 1]],
			'the same instance sees the folder once it is there',
		);
		fs.rmSync(path.join(root(), '.stats'), { recursive: true });
		assert.deepEqual(calls.stats(), [], 'and sees it gone (cleared by hand)');
		// One batch of 12,000 deltas is one line of about 1.3 MB: the next append starts a new journal.
		const big = Array.from({ length: 12_000 }, (_v, i) => delta(i + 1));
		for (let round = 1; round <= 2; round++) {
			calls.addStats(big);
			calls.addStats([delta(1, { misses: 1 })]);
			const closed = statsFiles().filter((n) => n.endsWith('.closed.jsonl'));
			assert.deepEqual(
				closed.map((n) => /\.(\d+)\.closed\.jsonl$/.exec(n)?.[1]),
				Array.from({ length: round }, (_v, i) => String(i + 1)),
				statsFiles().join(', '),
			);
			assert.equal(statsFiles().length, round + 1, 'the closed ones and the live one');
		}
		const stats = new Map(new CallFile({ root: root() }).stats().map((s) => [s.key, s]));
		assert.equal(stats.size, 12_000);
		assert.deepEqual([stats.get(delta(1).key)?.hits, stats.get(delta(1).key)?.misses, stats.get(delta(12_000).key)?.hits], [4, 2, 2]);
	});

	it('statistics of a store removed under its writer are dropped, not written into a store made again for them', () => {
		const calls = new CallFile({ root: root() });
		// A writer that never wrote into the store makes it for its first statistics (misses of calls never stored).
		calls.addStats([delta(1, { hits: 0, misses: 1 })]);
		assert.equal(statsFiles().length, 1);
		fs.rmSync(root(), { recursive: true });
		calls.addStats([delta(2)]);
		assert.equal(fs.existsSync(root()), false, 'the store deleted stays deleted');
		// A writer that saved a call, its store then deleted before its first flush: the same.
		const saver = saved(false);
		fs.rmSync(root(), { recursive: true });
		saver.calls.addStats([delta(3)]);
		assert.equal(fs.existsSync(root()), false, 'nor is it made again by a first flush');
		// A later save makes the store again, and the counting resumes, for both.
		saver.cache.save(call({ arguments: { w: 5, h: 6 }, result: 30 }));
		saver.calls.addStats([delta(4)]);
		calls.addStats([delta(5)]);
		assert.deepEqual(
			new CallFile({ root: root() })
				.stats()
				.map((s) => s.key)
				.sort(),
			[delta(4).key, delta(5).key],
		);
	});

	it('statistics that cannot be written are a SaveError naming the folder', () => {
		fs.mkdirSync(root(), { recursive: true });
		fs.writeFileSync(path.join(root(), '.stats'), 'a file where the folder goes');
		assert.throws(
			() => new CallFile({ root: root() }).addStats([delta(1)]),
			(err) =>
				SaveError.is(err) &&
				(err as Error).message.startsWith(`Cannot write cache statistics to ${path.join(root(), '.stats')}: `) &&
				(err as Error).cause instanceof Error,
		);
	});

	it('a writer compacts a crowded folder (more than 64 journals) before its first append, not one of exactly 64', () => {
		const stats = path.join(root(), '.stats');
		fs.mkdirSync(stats, { recursive: true });
		const line = (i: number): string => `${JSON.stringify({ t: 1, d: [[delta(i).key, 'area', 'm.ts', 1, 0, null, 0, 0]] })}\n`;
		for (let i = 1; i <= 64; i++) fs.writeFileSync(path.join(stats, `elsewhere-1-${i.toString(16).padStart(8, '0')}.1.closed.jsonl`), line(i));
		new CallFile({ root: root() }).addStats([delta(100)]);
		assert.equal(statsFiles().length, 65, 'exactly 64: left as they were, and its own journal');
		fs.writeFileSync(path.join(stats, 'elsewhere-1-ffffffff.1.closed.jsonl'), line(65));
		new CallFile({ root: root() }).addStats([delta(101)]);
		assert.ok(statsFiles().length < 10, `more than 64: compacted first (${statsFiles().length} files)`);
		assert.equal(new CallFile({ root: root() }).stats().length, 67, 'no count lost');
	});

	it('a writer leaves fewer than 16 finished journals as they are', () => {
		const stats = path.join(root(), '.stats');
		fs.mkdirSync(stats, { recursive: true });
		for (let i = 1; i <= 15; i++) {
			const line = `${JSON.stringify({ t: 1, d: [[delta(i).key, 'area', 'm.ts', 1, 0, null, 0, 0]] })}\n`;
			fs.writeFileSync(path.join(stats, `elsewhere-1-${i.toString(16).padStart(8, '0')}.1.closed.jsonl`), line);
		}
		const writer = new CallFile({ root: root() });
		writer.addStats([delta(16)]);
		assert.equal(writer.stats().length, 16);
		assert.equal(statsFiles().length, 16, 'the 15 and its own journal, none merged');
	});

	it('a reader sees every change; only an instance that writes statistics compacts finished journals', () => {
		const stats = path.join(root(), '.stats');
		fs.mkdirSync(stats, { recursive: true });
		const line = (i: number): string => `${JSON.stringify({ t: 1, d: [[delta(i).key, 'area', 'm.ts', 1, 0, null, 0, 0]] })}\n`;
		for (let i = 1; i <= 20; i++) fs.writeFileSync(path.join(stats, `elsewhere-1-${i.toString(16).padStart(8, '0')}.1.closed.jsonl`), line(i));
		const reader = new CallFile({ root: root() });
		const files = statsFiles();
		assert.equal(reader.stats().length, 20);
		assert.deepEqual(statsFiles(), files, 'a reader never rewrites the journals');
		const writer = new CallFile({ root: root() });
		writer.addStats([delta(21)]);
		assert.equal(reader.stats().length, 21, "the reader sees the writer's append");
		assert.equal(writer.stats().length, 21);
		assert.ok(statsFiles().length < files.length, `the writer compacted (${statsFiles().join(', ')})`);
		assert.equal(reader.stats().length, 21, 'and the reader reads the compacted folder alike');
		writer.addStats([delta(21)]);
		assert.equal(reader.stats().find((s) => s.key === delta(21).key)?.hits, 2);
	});
});
