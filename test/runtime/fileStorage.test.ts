// docs/behaviour.md §2.6, §5, §13: what `fleche gc` and the file store's readers rely on in ValueFile, method by method
// and message by message, on real files, in well under a second, so that test/mutation/run.mjs can judge the mutants
// of storage/file/values.ts and entries.ts with it (storage.test covers the shared storage contract and the formats).
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { KeyError, Rejected, SaveError, ValueFile, registerClass, registerSerializer, resetLogger, setLogger, type LogRecord } from 'fleche';

let dir = '';
let root = '';
let logs: LogRecord[] = [];
beforeEach(() => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleche-'));
	root = path.join(dir, 'values');
	logs = [];
	setLogger((r) => logs.push(r));
});
afterEach(() => {
	resetLogger();
	fs.rmSync(dir, { recursive: true, force: true });
});

/** A 64-hex key for a label. */
function k(label: string): string {
	return createHash('sha256').update(label).digest('hex');
}

const fileOf = (key: string): string => path.join(root, key);
/** Sets a file's mtime `seconds` in the past. */
const age = (file: string, seconds: number): void => {
	const then = new Date(Date.now() - seconds * 1000);
	fs.utimesSync(file, then, then);
};
const mtime = (file: string): number => fs.statSync(file).mtimeMs;

describe('ValueFile housekeeping (what gc uses)', () => {
	it('refresh moves a file’s mtime to now, and says whether there is a file', () => {
		const values = new ValueFile({ root });
		values.put(k('a'), 1);
		age(fileOf(k('a')), 3600);
		const before = mtime(fileOf(k('a')));
		assert.equal(values.refresh(k('a')), true);
		assert.ok(mtime(fileOf(k('a'))) > before + 3_000_000, 'refreshed to about now');
		assert.equal(values.refresh(k('absent')), false);
		assert.equal(values.refresh('abcd'), false, 'not a key');
		assert.equal(fs.existsSync(fileOf(k('absent'))), false, 'refresh creates nothing');
	});

	it('a put of a key already stored only refreshes the file (content-addressed: it is never rewritten)', () => {
		const values = new ValueFile({ root });
		values.put(k('a'), 'first');
		age(fileOf(k('a')), 3600);
		const ino = fs.statSync(fileOf(k('a'))).ino;
		const old = mtime(fileOf(k('a')));
		values.put(k('a'), 'second');
		assert.equal(fs.statSync(fileOf(k('a'))).ino, ino, 'the same file');
		assert.ok(mtime(fileOf(k('a'))) > old + 3_000_000);
		assert.equal(values.get(k('a')), 'first');
	});

	it('evictIdle removes a file older than the grace period, keeps a younger one, and with no grace removes at once', () => {
		const values = new ValueFile({ root });
		for (const label of ['old', 'young', 'now']) values.put(k(label), label);
		age(fileOf(k('old')), 3600);
		age(fileOf(k('young')), 10);
		assert.equal(values.evictIdle(k('old'), 60_000), true);
		assert.equal(fs.existsSync(fileOf(k('old'))), false);
		assert.equal(values.evictIdle(k('young'), 60_000), false);
		assert.equal(values.get(k('young')), 'young', 'kept, readable, same content');
		assert.equal(values.evictIdle(k('young'), 5_000), true, 'older than a shorter grace period');
		assert.equal(values.evictIdle(k('now'), 0), true);
		assert.deepStrictEqual(values.list(), []);
		assert.deepStrictEqual(fs.readdirSync(root), [], 'no file moved aside is left behind');
		assert.throws(
			() => values.evictIdle(k('never'), 60_000),
			(err) => KeyError.is(err),
		);
		assert.throws(
			() => values.evictIdle(k('never'), 0),
			(err) => KeyError.is(err),
		);
		assert.throws(
			() => values.evictIdle('../x', 60_000),
			(err) => KeyError.is(err),
		);
	});

	it('with no grace period evictIdle removes a file whatever its mtime, one from a clock running ahead too', () => {
		const values = new ValueFile({ root });
		values.put(k('ahead'), 'ahead');
		// A shared store written from a host whose clock runs an hour ahead.
		const future = new Date(Date.now() + 3_600_000);
		fs.utimesSync(fileOf(k('ahead')), future, future);
		assert.equal(values.evictIdle(k('ahead'), 60_000), false, 'younger than a grace period');
		assert.equal(fs.existsSync(fileOf(k('ahead'))), true);
		assert.equal(values.evictIdle(k('ahead'), 0), true);
		assert.equal(fs.existsSync(fileOf(k('ahead'))), false);
	});

	it('sweep removes only the temporaries of the documented names that are older than the grace period', () => {
		const values = new ValueFile({ root });
		assert.equal(values.sweep(0), 0, 'no root yet: nothing to do, nothing created');
		assert.equal(fs.existsSync(root), false);
		values.put(k('kept'), 'kept');
		const oldTmp = `.${randomUUID()}.tmp`;
		const oldGc = `.${randomUUID()}.gc`;
		const youngTmp = `.${randomUUID()}.tmp`;
		const others = [
			'.not-a-uuid.tmp',
			`${randomUUID()}.tmp`,
			`x.${randomUUID()}.tmp`,
			`.${randomUUID()}.tmp.bak`,
			`.${randomUUID()}.txt`,
			'notes.tmp',
			`.${randomUUID().toUpperCase()}.tmp`,
		];
		for (const name of [oldTmp, oldGc, youngTmp, ...others]) fs.writeFileSync(path.join(root, name), 'x');
		const dirLike = `.${randomUUID()}.tmp`;
		fs.mkdirSync(path.join(root, dirLike));
		for (const name of [oldTmp, oldGc, dirLike, ...others]) age(path.join(root, name), 3600);
		age(fileOf(k('kept')), 3600);
		assert.equal(values.sweep(60_000), 2);
		assert.deepStrictEqual(fs.readdirSync(root).sort(), [youngTmp, dirLike, k('kept'), ...others].sort());
		assert.equal(values.sweep(60_000), 0);
		assert.equal(values.sweep(-1000), 1, 'with no grace the young one goes too');
		assert.equal(values.get(k('kept')), 'kept');
	});

	it('list, contains, sizeOf and expand see full 64-hex names only', () => {
		const values = new ValueFile({ root });
		assert.deepStrictEqual(values.list(), []);
		assert.equal(values.sizeOf(k('a')), undefined);
		values.put(k('a'), 'a value');
		fs.writeFileSync(path.join(root, `.${randomUUID()}.tmp`), 'x');
		fs.writeFileSync(path.join(root, 'README'), 'x');
		fs.writeFileSync(path.join(root, k('b').toUpperCase()), 'x');
		assert.deepStrictEqual(values.list(), [k('a')]);
		assert.equal(values.contains(k('a')), true);
		assert.equal(values.contains(k('b')), false);
		assert.equal(values.contains('README'), false);
		assert.equal(values.sizeOf(k('a')), fs.statSync(fileOf(k('a'))).size);
		assert.equal(values.sizeOf('README'), undefined);
		assert.equal(values.sizeOf(k('b')), undefined);
		assert.equal(values.expand(k('a')), k('a'));
		assert.equal(values.expand(k('a').slice(0, 4)), k('a'));
		assert.throws(
			() => values.expand(k('b')),
			(err) => KeyError.is(err),
		);
		assert.throws(
			() => values.expand(k('a').slice(0, 3)),
			(err) => KeyError.is(err) && /too short/.test(err.message),
		);
		assert.throws(
			() => new ValueFile({ root: path.join(dir, 'none') }).expand(k('a').slice(0, 6)),
			(err) => KeyError.is(err),
		);
		values.evict(k('a'));
		assert.throws(
			() => values.evict(k('a')),
			(err) => KeyError.is(err),
		);
		assert.deepStrictEqual(new ValueFile({ root: path.join(dir, 'none') }).list(), []);
	});
});

describe('ValueFile on odd file systems: failures other than "not there" are reported, not taken for a miss', () => {
	it('a key whose path loops (a symlink to itself) is written over by put, and refreshes nothing', () => {
		const values = new ValueFile({ root });
		values.put(k('a'), 'a');
		fs.symlinkSync(fileOf(k('loop')), fileOf(k('loop')));
		assert.equal(values.refresh(k('loop')), false, 'a path that cannot be touched and does not exist');
		values.put(k('loop'), 'written');
		assert.equal(values.get(k('loop')), 'written', 'the put did not take the loop for a stored value');
		assert.equal(fs.lstatSync(fileOf(k('loop'))).isFile(), true);
		fs.symlinkSync(fileOf(k('loop2')), fileOf(k('loop2')));
		assert.throws(
			() => values.evictIdle(k('loop2'), 60_000),
			(err) => Rejected.is(err) && !KeyError.is(err) && err.message.startsWith(`Cannot remove cache file ${fileOf(k('loop2'))}: `) && err.cause !== undefined,
		);
	});

	it('a root that loops makes list, sweep and expand throw, not answer "empty"', () => {
		fs.symlinkSync(root, root);
		const values = new ValueFile({ root });
		assert.throws(
			() => values.list(),
			(err) => (err as NodeJS.ErrnoException).code === 'ELOOP',
		);
		assert.throws(
			() => values.sweep(0),
			(err) => (err as NodeJS.ErrnoException).code === 'ELOOP',
		);
		assert.throws(
			() => values.expand(k('a').slice(0, 6)),
			(err) => (err as NodeJS.ErrnoException).code === 'ELOOP',
		);
		// A root that is a file holds nothing.
		fs.writeFileSync(path.join(dir, 'plain'), '');
		const inFile = new ValueFile({ root: path.join(dir, 'plain') });
		assert.deepStrictEqual(inFile.list(), []);
		assert.equal(inFile.sweep(0), 0);
		assert.equal(inFile.refresh(k('a')), false);
		assert.throws(
			() => inFile.evict(k('a')),
			(err) => KeyError.is(err),
		);
	});

	it('evicting a key that names a folder is a Rejected naming the file, not a miss', () => {
		const values = new ValueFile({ root });
		values.put(k('a'), 'a');
		fs.mkdirSync(fileOf(k('dir')));
		assert.throws(
			() => values.evict(k('dir')),
			(err) => Rejected.is(err) && !KeyError.is(err) && err.message.startsWith(`Cannot remove cache file ${fileOf(k('dir'))}: `) && err.cause !== undefined,
		);
		assert.equal(fs.statSync(fileOf(k('dir'))).isDirectory(), true);
		assert.throws(
			() => values.evict('../a'),
			(err) => KeyError.is(err),
		);
	});
});

describe('ValueFile messages', () => {
	/** Rewrites the stored file of `key` and returns the KeyError message and the warning of the read after it. */
	function damaged(values: ValueFile, key: string, edit: (b: Buffer) => Buffer): { message: string; warnings: string[] } {
		fs.writeFileSync(fileOf(key), edit(fs.readFileSync(fileOf(key))));
		logs = [];
		try {
			values.get(key);
		} catch (err) {
			assert.ok(KeyError.is(err));
			return { message: err.message, warnings: logs.map((l) => `${l.code}: ${l.message}`) };
		}
		assert.fail('a damaged file read');
	}

	it('each kind of damage is named: where, what, and that a recompute replaces it', () => {
		const values = new ValueFile({ root });
		const key = k('v');
		const fresh = () => {
			fs.rmSync(fileOf(key), { force: true });
			values.put(key, { text: 'a value long enough', n: [1, 2, 3] });
			return fs.readFileSync(fileOf(key));
		};
		const original = fresh();
		const nameLength = original[6]!;
		const cases: [string, (b: Buffer) => Buffer, string][] = [
			['cut', (b) => b.subarray(0, b.length - 3), `truncated (${original.length - 3} of ${original.length} bytes)`],
			['cut in the header', (b) => b.subarray(0, 12), 'truncated (12 bytes)'],
			['cut after the header', (b) => b.subarray(0, 11 + nameLength + 32), `truncated (${11 + nameLength + 32} of ${original.length} bytes)`],
			['cut to the magic', (b) => b.subarray(0, 5), 'truncated (5 bytes)'],
			['text', () => Buffer.from('plain text, long enough'), 'not a fleche value file'],
			['short text', () => Buffer.from('abc'), 'not a fleche value file'],
			['trailing', (b) => Buffer.concat([b, Buffer.from('xyz')]), '3 unexpected bytes after the end'],
			['flags', (b) => Buffer.from(b).fill(0x84, 5, 6), 'unknown flags 0x84'],
			['version 0', (b) => Buffer.from(b).fill(0, 4, 5), 'unknown format version 0'],
			['no serializer name', (b) => Buffer.from(b).fill(0, 6, 7), 'empty serializer name'],
			['checksum', (b) => Buffer.from(b).fill(0, b.length - 4), 'checksum mismatch'],
			['other key', (b) => Buffer.from(b).fill(Buffer.from(k('w'), 'hex'), 7 + nameLength, 7 + nameLength + 32), `holds the value of ${k('w')}`],
		];
		for (const [label, edit, reason] of cases) {
			fresh();
			const { message, warnings } = damaged(values, key, edit);
			assert.ok(message.includes(`: ${reason}`), `${label}: ${message}`);
			assert.ok(message.startsWith(`Corrupt cache file ${fileOf(key)}: `), `${label}: ${message}`);
			assert.ok(message.endsWith('; treated as a miss (a recompute replaces it)'), `${label}: ${message}`);
			assert.deepStrictEqual(warnings, [`FLECHE_CORRUPT_ENTRY: ${message}`], label);
		}
	});

	it('a newer format is unreadable, not damaged: reported once per reason, and a put does not replace it', () => {
		const values = new ValueFile({ root });
		values.put(k('n'), 'n');
		const bytes = fs.readFileSync(fileOf(k('n')));
		bytes[4] = 9;
		fs.writeFileSync(fileOf(k('n')), bytes);
		logs = [];
		assert.throws(
			() => values.get(k('n')),
			(err) => KeyError.is(err) && err.message === `Cannot read cache file ${fileOf(k('n'))}: written in value file format 9; this fleche reads format 2`,
		);
		assert.throws(
			() => values.get(k('n')),
			(err) => KeyError.is(err),
		);
		assert.deepStrictEqual(
			logs.map((l) => l.code),
			['FLECHE_UNREADABLE_ENTRY'],
		);
		values.put(k('n'), 'n');
		assert.deepStrictEqual(fs.readFileSync(fileOf(k('n'))), bytes, 'left for the process that can read it');
	});

	it('a damaged file is replaced by the next put of this instance; a file read fine is not rewritten', () => {
		const values = new ValueFile({ root });
		values.put(k('d'), 'd');
		values.put(k('ok'), 'ok');
		fs.writeFileSync(fileOf(k('d')), 'garbage garbage');
		assert.throws(
			() => values.get(k('d')),
			(err) => KeyError.is(err),
		);
		values.put(k('d'), 'd');
		assert.equal(values.get(k('d')), 'd');
		const ino = fs.statSync(fileOf(k('d'))).ino;
		values.put(k('d'), 'd');
		assert.equal(fs.statSync(fileOf(k('d'))).ino, ino, 'once replaced, a put refreshes it again');
		assert.equal(values.get(k('ok')), 'ok');
		const okIno = fs.statSync(fileOf(k('ok'))).ino;
		values.put(k('ok'), 'ok');
		assert.equal(fs.statSync(fileOf(k('ok'))).ino, okIno);
	});

	it('every damaged key this instance read is replaced by its next put, not only the last one', () => {
		const values = new ValueFile({ root });
		for (const label of ['d1', 'd2', 'ok']) values.put(k(label), label);
		for (const label of ['d1', 'd2']) {
			fs.writeFileSync(fileOf(k(label)), 'garbage garbage');
			assert.throws(
				() => values.get(k(label)),
				(err) => KeyError.is(err) && err.cause instanceof Error,
			);
		}
		const okIno = fs.statSync(fileOf(k('ok'))).ino;
		values.put(k('ok'), 'ok');
		assert.equal(fs.statSync(fileOf(k('ok'))).ino, okIno, 'a sound file is not rewritten while others are damaged');
		values.put(k('d1'), 'd1');
		values.put(k('d2'), 'd2');
		assert.equal(values.get(k('d1')), 'd1');
		assert.equal(values.get(k('d2')), 'd2');
	});

	it('the damaged keys an instance remembers are bounded: the 1,025th forgets the 1,024 before it', () => {
		// A long-running reader of a store damaged everywhere must not grow without limit. What it forgot is reported
		// again by its next read, and replaced by the put after that.
		const values = new ValueFile({ root });
		const keys = Array.from({ length: 1025 }, (_, i) => k(`damaged ${i}`));
		fs.mkdirSync(root, { recursive: true });
		for (const key of keys) fs.writeFileSync(fileOf(key), 'garbage garbage');
		for (const key of keys)
			assert.throws(
				() => values.get(key),
				(err) => KeyError.is(err),
			);
		values.put(keys[1024]!, 'last');
		assert.equal(values.get(keys[1024]!), 'last', 'the last one rejected is replaced');
		values.put(keys[0]!, 'first');
		assert.equal(fs.readFileSync(fileOf(keys[0]!), 'latin1'), 'garbage garbage', 'the first one was forgotten: the put took it for stored');
		assert.throws(
			() => values.get(keys[0]!),
			(err) => KeyError.is(err),
		);
		values.put(keys[0]!, 'first');
		assert.equal(values.get(keys[0]!), 'first');
	});

	it('a wrongly signed file is "Rejected", with the signature error as the cause; each unreadable reason is reported once', () => {
		const values = new ValueFile({ root, secretKey: '00ff' });
		values.put(k('s'), 's');
		logs = [];
		assert.throws(
			() => new ValueFile({ root, secretKey: 'ff00' }).get(k('s')),
			(err) =>
				KeyError.is(err) &&
				err.message.startsWith(`Rejected cache file ${fileOf(k('s'))}: signature does not match any configured secret key`) &&
				err.cause instanceof Error,
		);
		assert.deepStrictEqual(
			logs.map((l) => [l.code, l.cause instanceof Error]),
			[['FLECHE_BAD_SIGNATURE', true]],
		);
		const plain = new ValueFile({ root });
		for (const [label, version] of [
			['n8', 8],
			['n9', 9],
		] as const) {
			plain.put(k(label), label);
			const bytes = fs.readFileSync(fileOf(k(label)));
			bytes[4] = version;
			fs.writeFileSync(fileOf(k(label)), bytes);
		}
		logs = [];
		for (const label of ['n8', 'n9', 'n8'])
			assert.throws(
				() => plain.get(k(label)),
				(err) => KeyError.is(err) && err.cause instanceof Error,
			);
		assert.deepStrictEqual(
			logs.map((l) => l.message),
			[
				`Cannot read cache file ${fileOf(k('n8'))}: written in value file format 8; this fleche reads format 2`,
				`Cannot read cache file ${fileOf(k('n9'))}: written in value file format 9; this fleche reads format 2`,
			],
		);
	});

	it('a payload that passes its checksum but cannot be decompressed or deserialized is damaged, and named so', () => {
		/** Replaces the payload of a stored file (same length) and recomputes its checksum, as a writer with a bug would. */
		const rewrite = (values: ValueFile, key: string, fill: number): void => {
			const bytes = fs.readFileSync(fileOf(key));
			const nameLength = bytes[6]!;
			const headerLength = 7 + nameLength + 32 + 4;
			const payloadEnd = headerLength + bytes.readUInt32LE(headerLength - 4);
			bytes.fill(fill, headerLength, payloadEnd);
			bytes.writeUInt32LE(zlib.crc32(bytes.subarray(0, payloadEnd)), payloadEnd);
			fs.writeFileSync(fileOf(key), bytes);
			logs = [];
			assert.throws(
				() => values.get(key),
				(err) => KeyError.is(err) && err.message.startsWith(`Corrupt cache file ${fileOf(key)}: `),
			);
			assert.deepStrictEqual(
				logs.map((l) => l.code),
				['FLECHE_CORRUPT_ENTRY'],
			);
		};
		const zipped = new ValueFile({ root, compress: true });
		zipped.put(k('z'), { text: 'compressible '.repeat(20) });
		rewrite(zipped, k('z'), 0x41);
		assert.match(logs[0]!.message, /: cannot be decompressed: /);
		const plain = new ValueFile({ root });
		plain.put(k('p'), { text: 'a value of some length' });
		rewrite(plain, k('p'), 0xff);
		assert.match(logs[0]!.message, /: cannot be deserialized by 'v8': /);
	});

	it('a value of a class this process has not registered is unreadable, not damaged: the miss says why, and the file stays', () => {
		class Known {
			constructor(readonly n: number) {}
		}
		registerClass(Known, { name: 'fileStorage.test/Known' });
		const values = new ValueFile({ root });
		values.put(k('c'), new Known(1));
		assert.ok(values.get(k('c')) instanceof Known);
		// The same file as written by a process that registered a class this one never did (same name length, new checksum).
		const bytes = fs.readFileSync(fileOf(k('c')));
		const at = bytes.indexOf('fileStorage.test/Known', 0, 'latin1');
		assert.ok(at > 0 && bytes.lastIndexOf('fileStorage.test/Known', undefined, 'latin1') === at, 'the class name, once');
		bytes.write('fileStorage.test/Other', at, 'latin1');
		const payloadEnd = bytes.length - 4;
		bytes.writeUInt32LE(zlib.crc32(bytes.subarray(0, payloadEnd)), payloadEnd);
		fs.writeFileSync(fileOf(k('c')), bytes);
		logs = [];
		assert.throws(
			() => values.get(k('c')),
			(err) =>
				KeyError.is(err) &&
				err.message.startsWith(`Cannot read cache file ${fileOf(k('c'))}: it holds an instance of class 'fileStorage.test/Other', which is not registered`) &&
				err.cause instanceof Error &&
				err.cause.cause instanceof Error,
		);
		assert.deepStrictEqual(
			logs.map((l) => l.code),
			['FLECHE_UNREADABLE_ENTRY'],
		);
		values.put(k('c'), new Known(1));
		assert.deepStrictEqual(fs.readFileSync(fileOf(k('c'))), bytes, 'left for a process that has the class');
	});

	it('a file that cannot be read at all (a folder under a key) is a reported miss; a missing one a silent miss', () => {
		const values = new ValueFile({ root });
		values.put(k('a'), 'a');
		fs.mkdirSync(fileOf(k('dir')));
		logs = [];
		assert.throws(
			() => values.get(k('dir')),
			(err) => KeyError.is(err) && err.message.startsWith(`Cannot read cache file ${fileOf(k('dir'))}: `) && err.cause !== undefined,
		);
		assert.deepStrictEqual(
			logs.map((l) => [l.code, l.cause instanceof Error]),
			[['FLECHE_READ_ERROR', true]],
		);
		logs = [];
		assert.throws(
			() => values.get(k('missing')),
			(err) => KeyError.is(err) && err.cause === undefined,
		);
		assert.deepStrictEqual(logs, []);
	});

	it('a link to a device or a FIFO under a key is a reported miss at once, never read: the reader does not hang', () => {
		// Before: readFileSync followed the link and read /dev/zero without end, or waited on the FIFO for a writer.
		const values = new ValueFile({ root });
		fs.mkdirSync(path.dirname(fileOf(k('zero'))), { recursive: true });
		fs.symlinkSync('/dev/zero', fileOf(k('zero')));
		execFileSync('mkfifo', [fileOf(k('fifo'))]);
		for (const name of ['zero', 'fifo']) {
			logs = [];
			assert.throws(
				() => values.get(k(name)),
				(err) => KeyError.is(err) && err.message === `Cannot read cache file ${fileOf(k(name))}: ${fileOf(k(name))} is not a regular file`,
				name,
			);
			assert.deepStrictEqual(
				logs.map((l) => l.code),
				['FLECHE_READ_ERROR'],
			);
			assert.equal(values.contains(k(name)), true, 'it is there (a lookup answers on what a read shows)');
			values.put(k(name), `${name} replaced`);
			assert.equal(values.get(k(name)), `${name} replaced`, 'a write replaces the entry, not what it pointed to');
			assert.equal(fs.lstatSync(fileOf(k(name))).isFile(), true);
		}
	});

	it('values that cannot be stored are a SaveError naming the type and the serializer, and leave nothing behind', () => {
		const values = new ValueFile({ root });
		class Thing {
			f = () => 1;
		}
		assert.throws(
			() => values.put(k('f'), new Thing()),
			(err) => SaveError.is(err) && err.message.startsWith("Cannot serialize a value of type Thing with the 'v8' serializer: ") && err.cause !== undefined,
		);
		assert.throws(
			() => values.put(k('n'), Object.assign(Object.create(null), { f: () => 1 })),
			(err) => SaveError.is(err) && /of type object /.test(err.message),
		);
		const json = new ValueFile({ root, serializer: 'json' });
		assert.throws(
			() => json.put(k('u'), undefined),
			(err) => SaveError.is(err) && /of type undefined with the 'json' serializer/.test(err.message),
		);
		assert.throws(
			() => json.put(k('m'), new Map()),
			(err) => SaveError.is(err) && /of type Map /.test(err.message),
		);
		assert.throws(
			() => json.put(k('null'), [null, () => 1]),
			(err) => SaveError.is(err) && /of type Array /.test(err.message),
		);
		assert.deepStrictEqual(fs.existsSync(root) ? fs.readdirSync(root) : [], []);
		// The root is created by the first write, with its parents.
		const deep = new ValueFile({ root: path.join(dir, 'a', 'b', 'c') });
		deep.put(k('x'), 'x');
		assert.equal(deep.get(k('x')), 'x');
		assert.deepStrictEqual(fs.readdirSync(deep.root), [k('x')]);
		// A root that is a file cannot be written: a SaveError naming the folder, no temporary left.
		fs.writeFileSync(path.join(dir, 'file'), '');
		const blocked = new ValueFile({ root: path.join(dir, 'file', 'values') });
		assert.throws(
			() => blocked.put(k('x'), 'x'),
			(err) => SaveError.is(err) && err.message.startsWith(`Cannot write to the cache folder ${blocked.root}: `) && err.cause instanceof Error,
		);
	});

	it('a SaveError names the type of what could not be stored: null, primitives, classes, and "object" when nothing names it', () => {
		// A serializer that refuses everything, so that any value (null included) reaches the message.
		registerSerializer('fileStorage.test/refuse', {
			serialize: () => {
				throw new Error('refused');
			},
			deserialize: () => undefined,
		});
		const refusing = new ValueFile({ root, serializer: 'fileStorage.test/refuse' });
		const Anonymous = [class {}][0]!;
		class Renamed {}
		Object.defineProperty(Renamed, 'name', { value: 42 });
		const cases: [string, unknown, string][] = [
			['null', null, 'null'],
			['a number', 12, 'number'],
			['a string', 'text', 'string'],
			['a Map', new Map(), 'Map'],
			['an instance of an anonymous class', new Anonymous(), 'object'],
			['an instance of a class whose name is not a string', new Renamed(), 'object'],
			['an object whose prototype has no constructor', Object.create(Object.create(null) as object) as object, 'object'],
			['an object with no prototype', Object.create(null) as object, 'object'],
		];
		for (const [i, [label, value, type]] of cases.entries()) {
			assert.throws(
				() => refusing.put(k(`refused ${i}`), value),
				(err) => SaveError.is(err) && err.message === `Cannot serialize a value of type ${type} with the 'fileStorage.test/refuse' serializer: refused`,
				label,
			);
		}
		assert.deepStrictEqual(fs.existsSync(root) ? fs.readdirSync(root) : [], []);
	});

	it('the file layout: magic, version 2, flags, serializer name, key, length, payload, checksum (and signature)', () => {
		const plain = new ValueFile({ root });
		plain.put(k('p'), 'p');
		const bytes = fs.readFileSync(fileOf(k('p')));
		assert.equal(bytes.toString('latin1', 0, 4), 'FLCH');
		assert.deepStrictEqual([...bytes.subarray(4, 7)], [2, 0, 2]);
		assert.equal(bytes.toString('latin1', 7, 9), 'v8');
		assert.equal(bytes.toString('hex', 9, 41), k('p'));
		assert.equal(bytes.readUInt32LE(41) + 45 + 4, bytes.length);
		const both = new ValueFile({ root: path.join(dir, 'both'), compress: true, secretKey: '00ff', serializer: 'json' });
		both.put(k('p'), 'p');
		const signed = fs.readFileSync(path.join(both.root, k('p')));
		assert.deepStrictEqual([...signed.subarray(4, 7)], [2, 3, 4]);
		assert.equal(signed.toString('latin1', 7, 11), 'json');
		assert.equal(signed.length, 11 + 32 + 4 + signed.readUInt32LE(43) + 4 + 64);
		assert.equal(both.get(k('p')), 'p');
	});
});
