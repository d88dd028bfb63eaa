// docs/behaviour.md §2.6 "SQL", §3.4: the SQL store's file-level protocol (runtime/src/storage/sql/log.ts) on its own —
// the lines of the change log and their checksums, the log's header, the snapshot's header, the lock and how a stale
// one is broken, the temporary files a killed compaction leaves, and appends after a torn line. The store's tests
// (sql, sqlStorage, sqlScale, leases) reach these through whole stores; here each rule is held to its edges, with the
// files a damaged, foreign or concurrent world leaves: every one is read as untrusted input.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
	closeSync,
	existsSync,
	fstatSync,
	lstatSync,
	lutimesSync,
	mkdirSync,
	openSync,
	readdirSync,
	readFileSync,
	renameSync,
	statSync,
	symlinkSync,
	unlinkSync,
	utimesSync,
	writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
	acquireLock,
	appendToLog,
	decodeLines,
	encodeJsonLine,
	encodeLine,
	ensureLog,
	freshHeader,
	lineKey,
	openLog,
	readLogHeader,
	readSnapshotHeader,
	releaseLock,
	storePaths,
	sweepTemps,
	tempSibling,
	tempStaleMs,
	tryAcquire,
	writeAtomic,
} from '../../runtime/src/storage/sql/log.ts';
import { applicationId, logFormat } from '../../runtime/src/storage/sql/schema.ts';
import { openFilesIn, tmpDir } from '../support/tmp.js';

const key = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The pid of a process that has exited (and been reaped): no process of that pid is alive right after. */
function deadPid(): number {
	const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
	return Number(child.stdout);
}

/** A snapshot header: SQLite's magic, `generation` at 60, `app` at 68, padded to `size` bytes. */
function snapshotBytes(generation: number, app: number, size = 4096): Buffer {
	const b = Buffer.alloc(size);
	b.write('SQLite format 3\u0000', 0, 'latin1');
	b.writeInt32BE(generation, 60);
	b.writeUInt32BE(app, 68);
	return b;
}

/**
 * Makes `path` look written a minute from now: "young" whatever the machine's load between this and the check (the
 * rules under test count ages of 1 and 10 seconds, which a stalled test process could otherwise cross).
 */
function young(path: string): void {
	const future = new Date(Date.now() + 60_000);
	utimesSync(path, future, future);
}

function lockOwner(pid: number, host: string, token = 'someone'): string {
	return JSON.stringify({ pid, host, thread: 0, time: Date.now(), token });
}

/** The host name the store writes into its locks. */
const host = hostname();

describe('the sql store log: lines', () => {
	it('encodes a line as the first 8 hex of the JSON text’s SHA-256, a space, the JSON and a newline', () => {
		const json = JSON.stringify(['evict', key('a')]);
		const line = encodeLine(['evict', key('a')]);
		assert.equal(line, `${key(json).slice(0, 8)} ${json}\n`);
		assert.equal(encodeJsonLine(json), line);
	});

	it('decodes complete lines, skips empty ones, counts damaged ones, and says how many bytes it consumed', () => {
		const a = encodeLine(['put', { key: key('a'), n: 'é' }]);
		const b = encodeLine(['stats', { h: 1 }]);
		const good = decodeLines(a + '\n' + b);
		assert.deepEqual(good.entries, [
			['put', { key: key('a'), n: 'é' }],
			['stats', { h: 1 }],
		]);
		assert.equal(good.bad, 0);
		assert.equal(good.consumed, Buffer.byteLength(a + '\n' + b), 'bytes, not characters (é is two)');
		assert.deepEqual(decodeLines('\n\n' + a).entries, [['put', { key: key('a'), n: 'é' }]], 'empty lines first');

		// A last line without its newline is not read (a writer may be appending it): consumed stops before it.
		const torn = decodeLines(a + b.slice(0, -1));
		assert.equal(torn.entries.length, 1);
		assert.equal(torn.consumed, Buffer.byteLength(a));
		assert.deepEqual(decodeLines(''), { entries: [], consumed: 0, bad: 0 });

		const json = '["stats",{"h":2}]';
		const sum = key(json).slice(0, 8);
		const damaged = [
			`${sum[0] === '0' ? '1' : '0'}${sum.slice(1)} ${json}\n`, // wrong checksum
			`${sum}_${json}\n`, // no space after the checksum
			`${key('not json').slice(0, 8)} not json\n`, // checksum right, not JSON
			`${sum}\n`, // no body
		];
		const mixed = decodeLines(a + damaged.join('') + b);
		assert.equal(mixed.bad, 4);
		assert.deepEqual(mixed.entries, [
			['put', { key: key('a'), n: 'é' }],
			['stats', { h: 1 }],
		]);
		assert.equal(mixed.consumed, Buffer.byteLength(a + damaged.join('') + b));
	});

	it('reads which record a line touches from its fixed place, without decoding it', () => {
		const k = key('x');
		const put = encodeLine(['put', { key: k, fn: 'f' }]);
		const evict = encodeLine(['evict', k]);
		const stats = encodeLine(['stats', { h: 1 }]);
		const other = encodeLine(['something', k]);
		assert.equal(lineKey(put), k);
		assert.equal(lineKey(evict), k);
		assert.equal(lineKey(stats), null);
		assert.equal(lineKey(other), undefined);
		assert.equal(lineKey('garbage'), undefined);
		// From the middle of a text: the line starting at `start`.
		const text = stats + put + evict;
		assert.equal(lineKey(text, 0), null);
		assert.equal(lineKey(text, stats.length), k);
		assert.equal(lineKey(text, stats.length + put.length), k);
		assert.equal(lineKey(text, 1), undefined);
	});
});

describe('the sql store log: headers', () => {
	it('opens a log by its header, keeps the file open, and refuses anything else as no log', (t: TestContext) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db.log');
		assert.equal(openLog(path), null, 'no file');
		const header = { ...freshHeader(42), merged: 7 };
		const body = encodeLine(['evict', key('a')]);
		writeFileSync(path, encodeLine(header) + body);
		const open = openLog(path);
		assert.ok(open !== null);
		try {
			assert.deepEqual(open.header, header);
			assert.equal(open.bodyStart, Buffer.byteLength(encodeLine(header)));
			assert.equal(open.ino, statSync(path).ino);
			assert.equal(open.size, statSync(path).size);
			assert.ok(statSync(`/proc/self/fd/${open.fd}`).ino === open.ino, 'the log is still open');
		} finally {
			closeSync(open.fd);
		}
		const read = readLogHeader(path);
		assert.deepEqual(read, { header, bodyStart: open.bodyStart, ino: open.ino, size: open.size });

		// Each field of the header checked: any one wrong, and the file is not a log.
		const fields: Record<string, unknown>[] = [
			{ log: 'fleche.sql-log/2' },
			{ id: 3 },
			{ base: 1.5 },
			{ base: '1' },
			{ prev: 2.5 },
			{ prev: '1' },
			{ merged: null },
			{ from: 5 },
			{ skip: -0.5 },
			{ skip: undefined },
		];
		for (const change of fields) {
			writeFileSync(path, encodeLine({ ...header, ...change }) + body);
			assert.equal(openLog(path), null, JSON.stringify(change));
			assert.equal(readLogHeader(path), null, JSON.stringify(change));
		}
		// Valid with a previous generation and a log it continues.
		const continued = { ...header, prev: 41, from: 'older', skip: 12 };
		writeFileSync(path, encodeLine(continued));
		assert.deepEqual(readLogHeader(path)?.header, continued);
		// Not JSON, a header whose checksum fails, a first line longer than 4 KiB or without a newline, an empty file.
		const bad = [
			'not a header\n',
			encodeLine(header).replace(logFormat, 'fleche.sql-log/x'),
			`${encodeLine({ ...header, id: 'x'.repeat(5000) })}`,
			encodeLine(header).slice(0, -1),
			'',
			encodeLine(null),
			encodeLine([header]),
		];
		for (const text of bad) {
			writeFileSync(path, text);
			assert.equal(openLog(path), null, text.slice(0, 60));
		}
		// Nothing left open by the refusals.
		const open2 = readdirSync('/proc/self/fd').filter((fd) => {
			try {
				return statSync(`/proc/self/fd/${fd}`).ino === statSync(path).ino;
			} catch {
				return false;
			}
		});
		assert.deepEqual(open2, []);
	});

	it('reads a snapshot’s header: none, garbage, plain, foreign or fleche, with its generation', (t: TestContext) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db');
		assert.deepEqual(readSnapshotHeader(path), { generation: 0, kind: 'none', ino: 0, size: 0 });
		const cases: [Buffer, string, number][] = [
			[snapshotBytes(1234, applicationId), 'fleche', 1234],
			[snapshotBytes(-5, applicationId), 'fleche', -5],
			[snapshotBytes(9, 0), 'plain', 9],
			[snapshotBytes(9, applicationId + 1), 'foreign', 9],
			[snapshotBytes(9, applicationId, 100), 'fleche', 9],
			[snapshotBytes(9, applicationId, 99), 'garbage', 0],
			[Buffer.concat([Buffer.from('SQLite format 3!'), snapshotBytes(9, applicationId).subarray(16)]), 'garbage', 0],
			[Buffer.alloc(0), 'garbage', 0],
		];
		for (const [bytes, kind, generation] of cases) {
			writeFileSync(path, bytes);
			const h = readSnapshotHeader(path);
			assert.deepEqual(h, { generation, kind, ino: statSync(path).ino, size: bytes.length }, `${kind} ${bytes.length}`);
		}
		assert.throws(() => readSnapshotHeader(dir), { code: 'EISDIR' }, 'an error other than a missing file is not hidden');
		assert.throws(() => readSnapshotHeader(join(path, 'calls.db')), { code: 'ENOTDIR' }, 'nor one of opening it');
		assert.throws(() => openLog(join(path, 'calls.db.log')), { code: 'ENOTDIR' });
		assert.deepEqual(openFilesIn(dir), [], 'no file left open');
	});

	it('keeps a log that extends the snapshot or the one before, and replaces any other by a fresh one', (t: TestContext) => {
		const dir = tmpDir(t);
		const paths = storePaths(join(dir, 'calls.db'));
		assert.deepEqual(paths, {
			db: join(dir, 'calls.db'),
			log: join(dir, 'calls.db.log'),
			lock: join(dir, 'calls.db.lock'),
			breakLock: join(dir, 'calls.db.lock.break'),
			compact: join(dir, 'calls.db.compact'),
		});
		// No snapshot, no log: a fresh log over generation 0.
		const ino0 = ensureLog(paths);
		const first = readLogHeader(paths.log);
		assert.equal(first?.ino, ino0);
		assert.equal(first?.header.base, 0);
		assert.equal(first?.header.prev, null);
		// Kept as it is, body and all, while it extends the snapshot (base) or the one before (prev).
		writeFileSync(paths.db, snapshotBytes(77, applicationId));
		const body = encodeLine(['evict', key('kept')]);
		for (const header of [{ ...freshHeader(77) }, { ...freshHeader(78), prev: 77 }]) {
			writeFileSync(paths.log, encodeLine(header) + body);
			const ino: number = statSync(paths.log).ino;
			assert.equal(ensureLog(paths), ino);
			assert.equal(readFileSync(paths.log, 'utf8'), encodeLine(header) + body);
		}
		// Replaced: it belongs to other generations (files copied together from different moments), or it is damaged.
		for (const text of [encodeLine({ ...freshHeader(5), prev: 6 }) + body, 'damaged\n' + body]) {
			writeFileSync(paths.log, text);
			const ino: number = ensureLog(paths);
			assert.equal(statSync(paths.log).ino, ino);
			const fresh = readLogHeader(paths.log);
			assert.equal(fresh?.header.base, 77);
			assert.equal(fresh?.header.prev, null);
			assert.equal(readFileSync(paths.log, 'utf8'), encodeLine(fresh?.header), 'a header and nothing else');
		}
		assert.notEqual(freshHeader(1).id, freshHeader(1).id);
	});
});

describe('the sql store log: appends', () => {
	it('appends whole lines, ending a torn last line first so that it spoils only itself', (t: TestContext) => {
		const dir = tmpDir(t);
		const path = join(dir, 'calls.db.log');
		const a = encodeLine(['evict', key('a')]);
		const b = encodeLine(['evict', key('b')]);
		writeFileSync(path, '');
		const fd = openSync(path, 'r+');
		t.after(() => closeSync(fd));
		assert.equal(appendToLog(fd, 0, a), Buffer.byteLength(a));
		assert.equal(appendToLog(fd, statSync(path).size, b), Buffer.byteLength(b));
		assert.equal(readFileSync(path, 'utf8'), a + b);
		// A writer killed mid-append left half a line: the next append ends it first.
		const half = b.slice(0, 30);
		writeFileSync(path, a + half);
		const c = encodeLine(['evict', key('c')]);
		assert.equal(appendToLog(fd, statSync(path).size, c), Buffer.byteLength(c) + 1);
		assert.equal(readFileSync(path, 'utf8'), `${a}${half}\n${c}`);
		const read = decodeLines(readFileSync(path, 'utf8'));
		assert.deepEqual(read.entries, [
			['evict', key('a')],
			['evict', key('c')],
		]);
		assert.equal(read.bad, 1);
		// The caller that knows its own last append ended the file skips the check (and writes just its lines).
		writeFileSync(path, a + half);
		assert.equal(appendToLog(fd, statSync(path).size, c, true), Buffer.byteLength(c));
		assert.equal(readFileSync(path, 'utf8'), a + half + c);
		// Multibyte text: the count is of bytes.
		writeFileSync(path, '');
		const d = encodeLine(['stats', { name: 'ü€' }]);
		assert.equal(appendToLog(fd, 0, d), Buffer.byteLength(d));
		assert.equal(readFileSync(path, 'utf8'), d);
	});

	it('writes a file whole or not at all, through a temporary sibling named after its writer', (t: TestContext) => {
		const dir = tmpDir(t);
		const file = join(dir, 'calls.db');
		const temp = tempSibling(file);
		assert.equal(join(temp, '..'), dir);
		assert.match(temp.slice(dir.length + 1), /^\.calls\.db\.[0-9a-f]{8}-\d+\.[0-9a-f-]{36}\.tmp$/);
		assert.ok(temp.includes(`-${process.pid}.`));
		assert.notEqual(tempSibling(file), temp);
		writeAtomic(file, 'one');
		writeAtomic(file, new Uint8Array([116, 119, 111]));
		assert.equal(readFileSync(file, 'utf8'), 'two');
		assert.deepEqual(readdirSync(dir), ['calls.db']);
		// A rename that fails (a folder in the way) leaves no temporary file behind.
		const blocked = join(dir, 'sub');
		mkdirSync(join(blocked, 'inner'), { recursive: true });
		assert.throws(() => writeAtomic(blocked, 'data'));
		assert.deepEqual(readdirSync(dir).sort(), ['calls.db', 'sub']);
	});
});

describe('the sql store log: temporary files left by a killed writer', () => {
	it('removes those of dead writers and stale ones, never a live writer’s or anything else', (t: TestContext) => {
		const dir = tmpDir(t);
		const paths = storePaths(join(dir, 'calls.db'));
		const mine = tempSibling(paths.db);
		const tag = /\.calls\.db\.([0-9a-f]{8})-/.exec(mine)![1]!;
		const dead = deadPid();
		const uuid = '0b75bba5-6668-4a16-8413-70c38e605cac';
		const files = {
			mine, // this process: alive
			deadSnapshot: join(dir, `.calls.db.${tag}-${dead}.${uuid}.tmp`),
			deadLog: join(dir, `.calls.db.log.${tag}-${dead}.${uuid}.tmp`),
			otherHostFresh: join(dir, `.calls.db.00000000-${dead}.${uuid}.tmp`),
			otherHostOld: join(dir, `.calls.db.log.ffffffff-1.${uuid}.tmp`),
			liveOld: join(dir, `.calls.db.${tag}-${process.pid}.${uuid}.tmp`),
			otherStore: join(dir, `.other.db.${tag}-${dead}.${uuid}.tmp`),
			notOurs: join(dir, `.calls.db.${tag}-${dead}.not-a-uuid.tmp`),
			notTmp: join(dir, `.calls.db.${tag}-${dead}.${uuid}.tmpx`),
			noDot: join(dir, `calls.db.${tag}-${dead}.${uuid}.tmp`),
			// Names that hold a dead writer's name but are not one: more before it, more after it.
			prefixed: join(dir, `.calls.db.x${tag}-${dead}.${uuid}.tmp`),
			suffixed: join(dir, `.calls.db.${tag}-${dead}.${uuid}.tmp.tmp`),
		};
		for (const f of Object.values(files)) writeFileSync(f, 'x');
		// A dangling link with a dead writer's name: nothing to judge its age by, nothing of a writer's: left alone.
		const dangling = join(dir, `.calls.db.${tag}-${dead}.0b75bba5-6668-4a16-8413-70c38e605cad.tmp`);
		symlinkSync(join(dir, 'nowhere'), dangling);
		const old = new Date(Date.now() - tempStaleMs - 5000);
		utimesSync(files.otherHostOld, old, old);
		utimesSync(files.liveOld, old, old);
		utimesSync(files.otherStore, old, old);
		const removed = sweepTemps(paths).sort();
		assert.deepEqual(removed, [files.deadSnapshot, files.deadLog, files.otherHostOld, files.liveOld].map((f) => f.slice(dir.length + 1)).sort());
		for (const [name, f] of Object.entries(files)) assert.equal(existsSync(f), !removed.includes(f.slice(dir.length + 1)), name);
		// With a clock far ahead, any temp of this store is stale; nothing else is touched.
		const later = sweepTemps(paths, Date.now() + tempStaleMs + 60_000).sort();
		assert.deepEqual(later, [files.mine, files.otherHostFresh].map((f) => f.slice(dir.length + 1)).sort());
		assert.ok(existsSync(files.otherStore) && existsSync(files.notOurs) && existsSync(files.notTmp) && existsSync(files.noDot));
		assert.ok(existsSync(files.prefixed) && existsSync(files.suffixed) && lstatSync(dangling).isSymbolicLink());
		// Stale means older than tempStaleMs, to the millisecond: a temp exactly that old is kept.
		const exact = join(dir, `.calls.db.ffffffff-1.${uuid}.tmp`);
		writeFileSync(exact, 'x');
		utimesSync(exact, 1_000_000, 1_000_000);
		assert.deepEqual(sweepTemps(paths, 1_000_000_000 + tempStaleMs), []);
		assert.deepEqual(sweepTemps(paths, 1_000_000_000 + tempStaleMs + 1), [exact.slice(dir.length + 1)]);
		assert.deepEqual(sweepTemps(storePaths(join(dir, 'missing', 'calls.db'))), [], 'no folder: nothing to sweep');
	});
});

describe('the sql store log: the lock', () => {
	it('is taken by one at a time, released only by its holder, and left alone once someone else holds it', (t: TestContext) => {
		const dir = tmpDir(t);
		const paths = storePaths(join(dir, 'calls.db'));
		const lock = acquireLock(paths, 1000);
		const owner = JSON.parse(readFileSync(paths.lock, 'utf8')) as Record<string, unknown>;
		assert.equal(owner['pid'], process.pid);
		assert.equal(owner['host'], host);
		assert.equal(typeof owner['token'], 'string');
		assert.equal(owner['thread'], 0);
		assert.ok(Math.abs((owner['time'] as number) - Date.now()) < 60_000);
		assert.equal(tryAcquire(paths.lock, paths.breakLock, 10_000), null, 'held by a live process');
		assert.throws(() => acquireLock(paths, 50), /timed out after 50 ms waiting for the lock/);
		releaseLock(lock);
		assert.equal(existsSync(paths.lock), false);
		assert.throws(() => fstatSync(lock.fd), { code: 'EBADF' }, 'releasing closes the lock file');
		// Broken as stale meanwhile and taken by another: releasing leaves the other's lock in place.
		const again = acquireLock(paths, 1000);
		writeFileSync(join(dir, 'other'), lockOwner(process.pid, host, 'other'));
		renameSync(join(dir, 'other'), paths.lock);
		releaseLock(again);
		assert.equal((JSON.parse(readFileSync(paths.lock, 'utf8')) as { token: string }).token, 'other');
		// Removed meanwhile: releasing is quiet.
		unlinkSync(paths.lock);
		const third = tryAcquire(paths.lock, paths.breakLock, 10_000);
		assert.ok(third !== null);
		unlinkSync(paths.lock);
		releaseLock(third);
		assert.equal(existsSync(paths.lock), false);
	});

	it('breaks a lock whose holder is dead, one older than its staleness, and an unwritten one after a second', (t: TestContext) => {
		const dir = tmpDir(t);
		const paths = storePaths(join(dir, 'calls.db'));
		const take = (): boolean => {
			const l = tryAcquire(paths.lock, paths.breakLock, 10_000);
			if (l === null) return false;
			releaseLock(l);
			return true;
		};
		// A dead holder on this host: broken at once, however young.
		writeFileSync(paths.lock, lockOwner(deadPid(), host));
		assert.equal(take(), true, 'dead holder');
		// A live holder on another host: kept while young, broken once older than the staleness.
		writeFileSync(paths.lock, lockOwner(deadPid(), 'another host'));
		young(paths.lock);
		assert.equal(take(), false, 'another host, young');
		const old = new Date(Date.now() - 11_000);
		utimesSync(paths.lock, old, old);
		assert.equal(take(), true, 'another host, older than 10 s');
		// A live holder here: never broken before the staleness, whatever it says.
		writeFileSync(paths.lock, lockOwner(process.pid, host));
		young(paths.lock);
		assert.equal(take(), false, 'this live process');
		assert.deepEqual(openFilesIn(dir), [], 'the owner was read and its file closed');
		utimesSync(paths.lock, old, old);
		assert.equal(take(), true, 'this live process, older than 10 s');
		// Created but never written (its writer killed in between): kept for a second, then broken.
		for (const text of ['', '{"pid":1}', 'not json', '{"pid":"1","host":"h","token":"t"}', '{"pid":1,"token":"t"}', '{"pid":1,"host":"h"}']) {
			writeFileSync(paths.lock, text);
			young(paths.lock);
			assert.equal(take(), false, `unwritten (${text}), young`);
			const aged = new Date(Date.now() - 2000);
			utimesSync(paths.lock, aged, aged);
			assert.equal(take(), true, `unwritten (${text}), two seconds old`);
		}
		// acquireLock breaks a stale lock too, without waiting for its timeout.
		writeFileSync(paths.lock, lockOwner(deadPid(), host));
		const l = acquireLock(paths, 10);
		releaseLock(l);
		// A staleness of its own: a lock one second old is stale under a half-second rule.
		writeFileSync(paths.lock, lockOwner(process.pid, 'another host'));
		const second = new Date(Date.now() - 1000);
		utimesSync(paths.lock, second, second);
		assert.equal(tryAcquire(paths.lock, paths.breakLock, 10_000), null, 'not stale under the default 10 s');
		const broken = acquireLock(paths, 5000, 500);
		releaseLock(broken);
		assert.equal(existsSync(paths.breakLock), false, 'the break lock is released');
	});

	it('does not break a lock that changed hands while it looked, and clears a break lock left by a killed breaker', (t: TestContext) => {
		const dir = tmpDir(t);
		const paths = storePaths(join(dir, 'calls.db'));
		// Someone else is breaking it (their break lock is fresh): this one neither breaks it nor waits.
		writeFileSync(paths.lock, lockOwner(deadPid(), host, 'stale'));
		writeFileSync(paths.breakLock, lockOwner(process.pid, host, 'breaker'));
		young(paths.breakLock);
		assert.equal(tryAcquire(paths.lock, paths.breakLock, 10_000), null);
		assert.equal((JSON.parse(readFileSync(paths.lock, 'utf8')) as { token: string }).token, 'stale');
		assert.equal(existsSync(paths.breakLock), true, 'a young break lock is someone at work');
		// A break lock older than a second was left by a killed breaker: removed, and the next try breaks the lock.
		const aged = new Date(Date.now() - 2000);
		utimesSync(paths.breakLock, aged, aged);
		assert.equal(tryAcquire(paths.lock, paths.breakLock, 10_000), null);
		assert.equal(existsSync(paths.breakLock), false);
		const l = tryAcquire(paths.lock, paths.breakLock, 10_000);
		assert.ok(l !== null);
		releaseLock(l);
	});

	it('waits for a live holder to let go, then takes the lock — never breaking it', async (t: TestContext) => {
		const dir = tmpDir(t);
		const paths = storePaths(join(dir, 'calls.db'));
		writeFileSync(paths.lock, lockOwner(process.pid, host, 'live'));
		young(paths.lock);
		// Another process lets go after a while (this thread is blocked waiting: the release must come from outside).
		const released = join(dir, 'released');
		const holder = spawn('sh', ['-c', `sleep 0.3; : > '${released}'; rm '${paths.lock}'`], { stdio: 'ignore' });
		const exited = new Promise((resolve) => holder.once('exit', resolve));
		const lock = acquireLock(paths, 60_000);
		assert.equal(existsSync(released), true, 'taken only after the holder let go');
		assert.equal((JSON.parse(readFileSync(paths.lock, 'utf8')) as { pid: number }).pid, process.pid);
		releaseLock(lock);
		await exited;
	});

	it('reports a missing folder at once, and breaks a lock or break lock that is not a file fleche made once it is old', (t: TestContext) => {
		const dir = tmpDir(t);
		const paths = storePaths(join(dir, 'calls.db'));
		// A folder that does not exist: the error at once, not a wait until the timeout.
		const missing = storePaths(join(dir, 'missing', 'calls.db'));
		assert.throws(() => acquireLock(missing, 60_000), { code: 'ENOENT' });
		assert.throws(() => tryAcquire(missing.lock, missing.breakLock, 10_000), { code: 'ENOENT' });
		// Links where the lock should be — to itself, to nothing, to an endless device: they exist (no lock can be
		// created over them) but are not a lock fleche wrote. Judged by their own age like a lock whose writer died
		// before writing it: kept while young (someone may be at work), broken after a second. Never followed: reading
		// /dev/zero as an owner would never end.
		const aged = new Date(Date.now() - 2000);
		for (const target of [paths.lock, join(dir, 'nowhere'), '/dev/zero']) {
			symlinkSync(target, paths.lock);
			const future = new Date(Date.now() + 60_000);
			lutimesSync(paths.lock, future, future);
			assert.equal(tryAcquire(paths.lock, paths.breakLock, 10_000), null, `${target}, young`);
			assert.throws(() => acquireLock(paths, 30), /timed out after 30 ms/);
			assert.ok(lstatSync(paths.lock).isSymbolicLink());
			lutimesSync(paths.lock, aged, aged);
			const taken = tryAcquire(paths.lock, paths.breakLock, 10_000);
			assert.ok(taken !== null, `${target}, old`);
			assert.ok(lstatSync(paths.lock).isFile(), 'a lock of ours in its place');
			releaseLock(taken);
		}
		// A lock file longer than any owner: only its first 4 KiB are read, which are no owner — unwritten, so old is stale.
		writeFileSync(paths.lock, lockOwner(process.pid, host).replace('}', `,"pad":"${'x'.repeat(8192)}"}`));
		utimesSync(paths.lock, aged, aged);
		const taken = tryAcquire(paths.lock, paths.breakLock, 10_000);
		assert.ok(taken !== null, 'a lock too long to be an owner');
		releaseLock(taken);
		// A dangling break lock beside a stale lock: left while young, then removed, and the stale lock broken.
		writeFileSync(paths.lock, lockOwner(deadPid(), host, 'stale'));
		symlinkSync(join(dir, 'nowhere'), paths.breakLock);
		const future = new Date(Date.now() + 60_000);
		lutimesSync(paths.breakLock, future, future);
		assert.equal(tryAcquire(paths.lock, paths.breakLock, 10_000), null);
		assert.ok(lstatSync(paths.breakLock).isSymbolicLink(), 'a young break lock is left');
		assert.equal((JSON.parse(readFileSync(paths.lock, 'utf8')) as { token: string }).token, 'stale');
		lutimesSync(paths.breakLock, aged, aged);
		assert.equal(tryAcquire(paths.lock, paths.breakLock, 10_000), null, 'this try removes the old break lock');
		assert.equal(lstatSync(paths.breakLock, { throwIfNoEntry: false }), undefined, 'the old break lock is gone');
		const last = tryAcquire(paths.lock, paths.breakLock, 10_000);
		assert.ok(last !== null, 'the next breaks the stale lock');
		releaseLock(last);
	});
});
