// docs/behaviour.md §3.6: one computation per call across processes. Real child processes (test/fixtures/leaseChild.ts)
// share a file or SQL store through its fleche.toml; the bodies count their runs with O_APPEND lines in a marker file.
// Outcomes and counts are asserted, never wall time.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import {
	existsSync,
	lstatSync,
	lutimesSync,
	mkdirSync,
	readdirSync,
	readFileSync,
	statSync,
	symlinkSync,
	unlinkSync,
	utimesSync,
	writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
	Cache,
	CallFile,
	CallPostgres,
	ConfigError,
	FlecheConfig,
	ValueFile,
	ValuePostgres,
	cache,
	cacheFromConfig,
	fleche,
	type CacheConfig,
	type LeaseOptions,
} from 'fleche';
import { openStore } from 'fleche/inspect';
import { captureLogs } from '../support/logs.js';
import { waitFor } from '../support/poll.js';
import { startPostgres, type PostgresServer } from '../support/servers.js';
import { openFilesIn, tmpDir } from '../support/tmp.js';

const childScript = fileURLToPath(new URL('../fixtures/leaseChild.js', import.meta.url));
const logs = captureLogs();

type StoreKind = 'file' | 'sql';
type Variant = 'sync' | 'async';

/** The PostgreSQL server of the team-store tests, and the schema of the newest project on it. */
let pg: { server: PostgresServer; url: string; schemas: number } | undefined;

/**
 * A folder whose fleche.toml makes `store/` (of `kind`) the default cache — or a schema of its own on the test's
 * PostgreSQL server —, with `lease` written as given.
 */
function project(
	t: { after(fn: () => void): void },
	kind: StoreKind | 'postgres',
	lease = 'lease = { stale_seconds = 5 }',
): { dir: string; marker: string; go: string; schema: string } {
	const dir = tmpDir(t);
	const schema = pg === undefined ? '' : `lease${++pg.schemas}_${process.pid}`;
	const store = kind === 'postgres' ? `template = "postgres"\nurl = "${pg!.url}"\nschema = "${schema}"` : `template = "${kind}"\nroot = "store"`;
	writeFileSync(join(dir, 'fleche.toml'), `[default]\ncache = "shared"\n\n[shared]\n${store}\n${lease}\n`);
	return { dir, marker: join(dir, 'ran.txt'), go: join(dir, 'go'), schema };
}

function storeConfig(dir: string, kind: StoreKind): CacheConfig {
	const root = join(dir, 'store');
	return {
		type: 'cache',
		values: { type: 'file', root: join(root, 'values') },
		calls: kind === 'file' ? { type: 'file', root: join(root, 'calls') } : { type: 'sql', path: join(root, 'calls.db') },
	};
}

interface Child {
	readonly proc: ChildProcessWithoutNullStreams;
	readonly ready: Promise<void>;
	readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function start(where: { dir: string; marker: string; go: string }, variant: Variant, options: { bodyMs?: number; lease?: unknown } = {}): Child {
	const { NODE_TEST_CONTEXT: _, ...env } = process.env;
	const args = [childScript, variant, where.marker, where.go, ...(options.lease === undefined ? [] : [JSON.stringify(options.lease)])];
	const proc = spawn(process.execPath, ['--enable-source-maps', ...args], { cwd: where.dir, env: { ...env, BODY_MS: String(options.bodyMs ?? 600) } });
	let stdout = '';
	let stderr = '';
	let onReady: () => void;
	const ready = new Promise<void>((resolve) => (onReady = resolve));
	proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
		stdout += chunk;
		if (stdout.includes('ready\n')) onReady();
	});
	proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
	const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
		proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
	});
	return { proc, ready, done };
}

/** Starts `n` children, lets them call at once, and returns what each printed. */
async function together(where: { dir: string; marker: string; go: string }, variant: Variant, n: number, options: { lease?: unknown } = {}): Promise<number[]> {
	const children = Array.from({ length: n }, () => start(where, variant, options));
	await Promise.all(children.map((c) => c.ready));
	writeFileSync(where.go, '');
	return results(children);
}

async function results(children: readonly Child[]): Promise<number[]> {
	const out: number[] = [];
	for (const child of children) {
		const r = await child.done;
		assert.equal(r.code, 0, r.stderr);
		out.push((JSON.parse(r.stdout.split('\n').filter(Boolean).at(-1)!) as { result: number }).result);
	}
	return out;
}

/** How many times the body ran: lines of the marker file. */
function runs(marker: string): number {
	return existsSync(marker) ? readFileSync(marker, 'utf8').split('\n').filter(Boolean).length : 0;
}

function leaseFiles(dir: string, kind: StoreKind): string[] {
	const folder = kind === 'file' ? join(dir, 'store', 'calls', '.leases') : join(dir, 'store', 'calls.db.leases');
	return existsSync(folder) ? readdirSync(folder) : [];
}

describe('one computation per call across processes (docs/behaviour.md §3.6)', () => {
	for (const kind of ['file', 'sql'] as const) {
		for (const variant of ['sync', 'async'] as const) {
			test(`8 processes, ${variant} function, ${kind} store: the body runs once and every process gets the result`, async (t) => {
				const where = project(t, kind);
				assert.deepEqual(await together(where, variant, 8), Array(8).fill(42));
				assert.equal(runs(where.marker), 1);
				assert.deepEqual(leaseFiles(where.dir, kind), [], 'every lease was released');
				// Leases never show as calls: the store holds the one call.
				const store = openStore(join(where.dir, 'store'));
				try {
					// One call stored, computed once (a miss); the seven others read it (hits).
					assert.deepEqual(
						store.functions().map((f) => [f.name, f.calls, f.misses, f.hits]),
						[[variant === 'sync' ? 'slowSync' : 'slowAsync', 1, 1, 7]],
					);
				} finally {
					store.close();
				}
			});
		}
	}

	for (const [kind, variant] of [
		['file', 'async'],
		['sql', 'sync'],
	] as const) {
		test(`a holder killed mid-run (${kind} store, ${variant}) is taken over: the body runs twice, every waiter gets the result`, async (t) => {
			const where = project(t, kind);
			writeFileSync(where.go, '');
			const holder = start(where, variant, { bodyMs: 120_000 });
			await waitFor('the holder to start its body', () => runs(where.marker) === 1);
			const waiters = Array.from({ length: 4 }, () => start(where, variant, { bodyMs: 100 }));
			await Promise.all(waiters.map((c) => c.ready));
			holder.proc.kill('SIGKILL');
			assert.equal((await holder.done).signal, 'SIGKILL');
			assert.deepEqual(await results(waiters), Array(4).fill(42));
			assert.equal(runs(where.marker), 2);
		});
	}

	test('an async holder beats while its body outlasts its stale time: waiters wait, and the body runs once', async (t) => {
		const where = project(t, 'file');
		writeFileSync(where.go, '');
		// A heartbeat a second (a third of the stale time): a waiter would take over only after three missed beats.
		const lease = { staleSeconds: 3 };
		const holder = start(where, 'async', { bodyMs: 7000, lease });
		await waitFor('the holder to start its body', () => runs(where.marker) === 1);
		const leaseFile = join(where.dir, 'store', 'calls', '.leases', readdirSync(join(where.dir, 'store', 'calls', '.leases'))[0]!);
		const taken = statSync(leaseFile).mtimeMs;
		const waiters = Array.from({ length: 2 }, () => start(where, 'async', { bodyMs: 100, lease }));
		await waitFor("the holder's heartbeat to move its lease", () => !existsSync(leaseFile) || statSync(leaseFile).mtimeMs > taken);
		assert.deepEqual(await results([holder, ...waiters]), [42, 42, 42]);
		assert.equal(runs(where.marker), 1, 'nobody took the lease over');
	});

	test('lease: false (function option) runs the body in every process', async (t) => {
		const where = project(t, 'file');
		assert.deepEqual(await together(where, 'async', 4, { lease: false }), Array(4).fill(42));
		assert.equal(runs(where.marker), 4);
	});

	test('lease = false in fleche.toml runs the body in every process', async (t) => {
		const where = project(t, 'sql', 'lease = false');
		assert.deepEqual(await together(where, 'sync', 4), Array(4).fill(42));
		assert.equal(runs(where.marker), 4);
	});

	test('waiters give up after waitSeconds and compute themselves when the holder never finishes', async (t) => {
		const where = project(t, 'file');
		writeFileSync(where.go, '');
		// Holders of both calls that never finish: nothing but the waiters themselves can store a result.
		const holders = [start(where, 'sync', { bodyMs: 120_000 }), start(where, 'async', { bodyMs: 120_000 })];
		t.after(() => holders.forEach((h) => h.proc.kill('SIGKILL')));
		await waitFor('the holders to start their bodies', () => runs(where.marker) === 2);
		const waiters = (['sync', 'async'] as const).map((variant) => start(where, variant, { bodyMs: 50, lease: { waitSeconds: 0.3 } }));
		assert.deepEqual(await results(waiters), [42, 42]);
		assert.equal(runs(where.marker), 2 + 2);
		for (const waiter of waiters) assert.match((await waiter.done).stderr, /FLECHE_LEASE_WAIT|Waited 0\.3 s for another process/);
	});
});

describe('one computation per call on a PostgreSQL team store: advisory locks (docs/behaviour.md §3.6)', () => {
	before(async () => {
		const server = await startPostgres();
		pg = { server, url: await server.database(), schemas: 0 };
	});
	after(async () => {
		await pg?.server.close();
		pg = undefined;
	});
	const rows = async (sql: string): Promise<string> => (await pg!.server.psql(sql, new URL(pg!.url).pathname.slice(1))).trim();

	for (const variant of ['sync', 'async'] as const) {
		test(`8 processes, ${variant} function: the body runs once, every process gets the result, no lease is left`, async (t) => {
			const where = project(t, 'postgres');
			assert.deepEqual(await together(where, variant, 8), Array(8).fill(42));
			assert.equal(runs(where.marker), 1);
			assert.equal(await rows(`SELECT count(*) FROM ${where.schema}.leases`), '0', 'every holder row was removed at release');
			// One call, computed once (a miss); the seven others read it (hits).
			assert.equal(await rows(`SELECT count(*) || ':' || sum(misses) || ':' || sum(hits) FROM ${where.schema}.stats`), '1:1:7');
		});
	}

	test('a holder killed mid-run is taken over as soon as the server ends its session: the body runs twice', async (t) => {
		// A stale time far beyond the test's ceilings: only the freed lock can let a waiter in.
		const where = project(t, 'postgres', 'lease = { stale_seconds = 600, wait_seconds = 600 }');
		writeFileSync(where.go, '');
		const holder = start(where, 'async', { bodyMs: 120_000 });
		await waitFor('the holder to start its body', () => runs(where.marker) === 1);
		assert.match(await rows(`SELECT owner FROM ${where.schema}.leases`), new RegExp(`:${holder.proc.pid}:`), 'the holder row names it');
		const waiters = Array.from({ length: 4 }, () => start(where, 'async', { bodyMs: 100 }));
		await Promise.all(waiters.map((c) => c.ready));
		holder.proc.kill('SIGKILL');
		assert.equal((await holder.done).signal, 'SIGKILL');
		assert.deepEqual(await results(waiters), Array(4).fill(42));
		assert.equal(runs(where.marker), 2);
		assert.equal(await rows(`SELECT count(*) FROM ${where.schema}.leases`), '0');
	});

	test('gc removes holder rows whose lock nobody holds, and keeps the rows of live holders', async (t) => {
		const where = project(t, 'postgres');
		const options = { url: pg!.url, schema: where.schema };
		const c = new Cache(new ValuePostgres(options), new CallPostgres(options));
		t.after(() => (c.calls as CallPostgres).close());
		let release!: () => void;
		const gate = new Promise<void>((resolve) => (release = resolve));
		let started!: () => void;
		const inBody = new Promise<void>((resolve) => (started = resolve));
		const slow = fleche(
			async (x: number) => {
				started();
				await gate;
				return x;
			},
			{ name: 'gcLeases' },
		);
		const running = cache(c, () => slow(1));
		// The lease is taken before the body starts.
		await inBody;
		assert.equal(await rows(`SELECT count(*) FROM ${where.schema}.leases`), '1');
		// A row left by a holder whose session ended without removing it (the lock is free).
		await rows(`INSERT INTO ${where.schema}.leases VALUES ('${'e'.repeat(64)}', 12345, 'gone:1:0:x', 0, 0)`);
		c.gc();
		assert.equal(
			await rows(`SELECT count(*) FILTER (WHERE owner LIKE 'gone%') || ':' || count(*) FROM ${where.schema}.leases`),
			'0:1',
			'the leftover went, the live lease stayed',
		);
		release();
		assert.equal(await running, 1);
		// The lease goes once the result's held-back write is sent (within writeDelayMs, docs/behaviour.md §3.6), which
		// may be after the caller has the result: polled for under a generous ceiling, not assumed done.
		const until = Date.now() + 30_000;
		let left = await rows(`SELECT count(*) FROM ${where.schema}.leases`);
		while (left !== '0' && Date.now() < until) {
			await new Promise((resolve) => setTimeout(resolve, 20));
			left = await rows(`SELECT count(*) FROM ${where.schema}.leases`);
		}
		assert.equal(left, '0', 'the lease row is removed once the call ended');
	});
});

describe('leases held on another host (docs/behaviour.md §3.6)', () => {
	function setUp(t: { after(fn: () => void): void }, name: string, lease?: LeaseOptions) {
		const dir = tmpDir(t);
		const c = cacheFromConfig(storeConfig(dir, 'file')) as Cache;
		let count = 0;
		const fn = fleche(
			async (x: number) => {
				count++;
				return x + 1;
			},
			{ name, ...(lease === undefined ? {} : { lease }) },
		);
		const leaseFile = (key: string): string => join(dir, 'store', 'calls', '.leases', key);
		/** A lease as a process on another host writes it: its pid means nothing here. */
		const foreignLease = (key: string, staleMs: number): string => {
			mkdirSync(join(dir, 'store', 'calls', '.leases'), { recursive: true });
			const file = leaseFile(key);
			const owner = 'elsewhere.example:1:0:feedbeef';
			writeFileSync(file, JSON.stringify({ format: 'fleche.lease/1', owner, host: 'elsewhere.example', pid: 1, since: Date.now(), staleMs, heartbeats: true }));
			return file;
		};
		return { dir, c, fn, runs: () => count, foreignLease };
	}

	test('a lease whose heartbeat stopped is taken over after its stale time', async (t) => {
		const { c, fn, runs: count, foreignLease } = setUp(t, 'staleForeign');
		const file = foreignLease(fn.fleche.digest(1), 200);
		const result = await cache(c, () => fn(1));
		assert.equal(result, 2);
		assert.equal(count(), 1);
		assert.equal(existsSync(file), false, 'released after the takeover');
	});

	test('a live holder (heartbeat moving) is waited for until waitSeconds, then the waiter computes and says so', async (t) => {
		const { c, fn, runs: count, foreignLease } = setUp(t, 'liveForeign', { waitSeconds: 0.5 });
		const file = foreignLease(fn.fleche.digest(1), 200);
		const beat = setInterval(() => utimesSync(file, new Date(), new Date()), 40);
		t.after(() => clearInterval(beat));
		logs.clear();
		assert.equal(await cache(c, () => fn(1)), 2);
		assert.equal(count(), 1);
		assert.equal(logs.codes('FLECHE_LEASE_WAIT').length, 1);
		assert.equal(existsSync(file), true, "another's live lease is left alone");
	});

	test('a link or a FIFO at a lease’s name is never read through, and is taken over once as old as a damaged lease', async (t) => {
		// Before: the lease was opened through the link — a link to /dev/zero was read without end, a FIFO waited for a
		// writer forever, and a dangling link (nothing to read, nothing can be created over it) made every call of that
		// key wait out waitSeconds.
		const { dir, c, fn, runs: count } = setUp(t, 'notALease', { waitSeconds: 600 });
		const leases = join(dir, 'store', 'calls', '.leases');
		mkdirSync(leases, { recursive: true });
		const old = new Date(Date.now() - 3_600_000);
		const makers: [string, (file: string) => void][] = [
			['a link to /dev/zero', (file) => symlinkSync('/dev/zero', file)],
			['a dangling link', (file) => symlinkSync(join(dir, 'nowhere'), file)],
			['a FIFO', (file) => execFileSync('mkfifo', [file])],
		];
		for (const [i, [what, make]] of makers.entries()) {
			const file = join(leases, fn.fleche.digest(i));
			make(file);
			lutimesSync(file, old, old);
			logs.clear();
			assert.equal(await cache(c, () => fn(i)), i + 1, what);
			assert.equal(count(), i + 1, `${what}: the body ran once`);
			assert.equal(logs.codes('FLECHE_LEASE_WAIT').length, 0, `${what}: nobody was waited for`);
			assert.equal(lstatSync(file, { throwIfNoEntry: false }), undefined, `${what}: taken over and let go`);
		}
	});

	test('gc removes leases whose holders are gone, and keeps live ones', (t) => {
		const { dir, c, fn, foreignLease } = setUp(t, 'gcForeign');
		const stale = foreignLease(fn.fleche.digest(1), 200);
		utimesSync(stale, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
		const live = foreignLease(fn.fleche.digest(2), 60_000);
		// Reading tools list no lease as a call and remove nothing.
		const store = openStore(join(dir, 'store'));
		try {
			assert.deepEqual(store.functions(), []);
			assert.equal(store.totals().calls, 0);
		} finally {
			store.close();
		}
		assert.equal(existsSync(stale), true);
		c.gc();
		assert.equal(existsSync(stale), false);
		assert.equal(existsSync(live), true);
	});
});

describe('the lease option (docs/behaviour.md §3.6)', () => {
	const toml = (text: string): CacheConfig => FlecheConfig.fromToml(text, { file: '/proj/fleche.toml', home: '/home/u' }).cacheConfig('s');

	test('fleche.toml: lease = false or a table of times, in values/calls and template sections; travels with toConfig()', () => {
		const off = toml('[s]\ntemplate = "file"\nroot = "/st"\nlease = false\n');
		assert.equal((off as { lease?: unknown }).lease, false);
		const timed = toml(
			'[s]\nlease = { wait_seconds = 60, stale_seconds = 2.5 }\n[s.values]\ntype = "file"\nroot = "/v"\n[s.calls]\ntype = "sql"\npath = "/c.db"\n',
		);
		assert.deepEqual((timed as { lease?: unknown }).lease, { waitSeconds: 60, staleSeconds: 2.5 });
		assert.deepEqual((cacheFromConfig(timed).toConfig() as { lease?: unknown }).lease, { waitSeconds: 60, staleSeconds: 2.5 });
	});

	test('fleche.toml: a bad lease names the file and line', () => {
		for (const [text, pattern] of [
			['[s]\ntemplate = "file"\nroot = "/st"\nlease = "no"\n', /'lease' must be true, false or a table/],
			['[s]\ntemplate = "file"\nroot = "/st"\nlease = { wait = 3 }\n', /unknown key 'wait' in 'lease'/],
			['[s]\ntemplate = "file"\nroot = "/st"\nlease = { stale_seconds = 0 }\n', /'stale_seconds' must be a number of seconds > 0/],
		] as const) {
			assert.throws(
				() => toml(text),
				(err: unknown) => ConfigError.is(err) && err.line === 4 && pattern.test(err.message),
			);
		}
	});

	test('the function and cache options are checked when given', (t) => {
		assert.throws(
			() => fleche((x: number) => x, { name: 'badLease', lease: { waitSeconds: -1 } }),
			/lease option 'waitSeconds' must be a number of seconds > 0/,
		);
		assert.throws(() => fleche((x: number) => x, { name: 'badLease2', lease: 'yes' as unknown as boolean }), TypeError);
		const dir = tmpDir(t);
		assert.throws(
			() => new Cache(new ValueFile({ root: join(dir, 'v') }), new CallFile({ root: join(dir, 'c') }), { lease: { often: 1 } as LeaseOptions }),
			/unknown lease option 'often'/,
		);
	});

	test('lease: false on the cache runs the body even while another holds the lease', async (t) => {
		const dir = tmpDir(t);
		const c = new Cache(new ValueFile({ root: join(dir, 'store', 'values') }), new CallFile({ root: join(dir, 'store', 'calls') }), { lease: false });
		let count = 0;
		const fn = fleche(
			(x: number) => {
				count++;
				return x * 3;
			},
			{ name: 'cacheOff' },
		);
		const key = fn.fleche.digest(2);
		mkdirSync(join(dir, 'store', 'calls', '.leases'), { recursive: true });
		const owner = 'elsewhere.example:1:0:feedbeef';
		writeFileSync(
			join(dir, 'store', 'calls', '.leases', key),
			JSON.stringify({ format: 'fleche.lease/1', owner, host: 'elsewhere.example', pid: 1, since: Date.now(), staleMs: 600_000, heartbeats: true }),
		);
		assert.equal(
			cache(c, () => fn(2)),
			6,
		);
		assert.equal(count, 1);
		assert.equal(await Promise.resolve(cache(c, () => fn(2))), 6, 'then a hit');
		assert.equal(count, 1);
	});
});

describe("a miss's call file, written through its lease (docs/behaviour.md §3.6)", () => {
	function setUp(t: { after(fn: () => void): void }) {
		const dir = tmpDir(t);
		const calls = join(dir, 'store', 'calls');
		// A new Cache each time: its lookups read the files, not what an earlier one remembers.
		const open = (): Cache => new Cache(new ValueFile({ root: join(dir, 'store', 'values') }), new CallFile({ root: calls }));
		return { calls, open, leaseFile: (key: string): string => join(calls, '.leases', key) };
	}

	for (const variant of ['sync', 'async'] as const) {
		test(`the lease file becomes the call file (${variant}): one file made, no lease left, read back as a hit`, async (t) => {
			const { calls, open, leaseFile } = setUp(t);
			let count = 0;
			let leaseIno: number | undefined;
			const body = (x: number): number => {
				count++;
				leaseIno = statSync(leaseFile(key)).ino;
				return x * 2;
			};
			const fn =
				variant === 'sync' ? fleche(body, { name: 'throughSync' }) : fleche(async (x: number) => body(await Promise.resolve(x)), { name: 'throughAsync' });
			const key = fn.fleche.digest(4);
			logs.clear();
			assert.equal(await cache(open(), () => fn(4)), 8);
			assert.deepEqual(logs.records, [], 'taken, written through and let go without a warning');
			assert.equal(count, 1);
			assert.notEqual(leaseIno, undefined, 'the body ran under a lease');
			assert.equal(statSync(join(calls, key)).ino, leaseIno, 'the call file is the lease file, renamed');
			assert.deepEqual(readdirSync(join(calls, '.leases')), [], 'no lease is left');
			assert.equal(await cache(open(), () => fn(4)), 8);
			assert.equal(count, 1, 'a hit, from the file');
		});
	}

	test("a lease taken over while the body runs stays its new holder's: the call file is written apart", async (t) => {
		const { calls, open, leaseFile } = setUp(t);
		const foreign = JSON.stringify({
			format: 'fleche.lease/1',
			owner: 'elsewhere.example:1:0:feedbeef',
			host: 'elsewhere.example',
			pid: 1,
			since: Date.now(),
			staleMs: 600_000,
			heartbeats: true,
		});
		let count = 0;
		const fn = fleche(
			(x: number) => {
				count++;
				// What a takeover from another host does: the lease removed, and taken anew under the same name.
				unlinkSync(leaseFile(key));
				writeFileSync(leaseFile(key), foreign);
				return x * 2;
			},
			{ name: 'takenOver' },
		);
		const key = fn.fleche.digest(5);
		logs.clear();
		assert.equal(
			cache(open(), () => fn(5)),
			10,
		);
		assert.deepEqual(logs.records, [], 'a lease taken over is no failure of its first holder');
		assert.equal(readFileSync(leaseFile(key), 'utf8'), foreign, "the new holder's lease is left as it was");
		assert.notEqual(statSync(join(calls, key)).ino, statSync(leaseFile(key)).ino);
		assert.equal(
			cache(open(), () => fn(5)),
			10,
		);
		assert.equal(count, 1, 'the call file holds the record: a hit');
	});

	test('a lease removed while the body runs (gc, a takeover let go): the call file is written apart', (t) => {
		const { calls, open, leaseFile } = setUp(t);
		let count = 0;
		const fn = fleche(
			(x: number) => {
				count++;
				unlinkSync(leaseFile(key));
				return x * 2;
			},
			{ name: 'leaseGone' },
		);
		const key = fn.fleche.digest(6);
		logs.clear();
		assert.equal(
			cache(open(), () => fn(6)),
			12,
		);
		assert.deepEqual(logs.records, []);
		assert.equal(existsSync(join(calls, key)), true);
		assert.equal(
			cache(open(), () => fn(6)),
			12,
		);
		assert.equal(count, 1, 'a hit');
	});

	test('beside leased calls, a call that takes no lease (lease: false) is written as a file of its own', (t) => {
		const { open } = setUp(t);
		let count = 0;
		const leased = fleche((x: number) => x + 1, { name: 'leasedOne' });
		const unleased = fleche(
			(x: number) => {
				count++;
				return x - 1;
			},
			{ name: 'unleasedOne', lease: false },
		);
		const c = open();
		// The store's leases are in use (a leased miss first), and hold nothing for the unleased call.
		assert.equal(
			cache(c, () => leased(1)),
			2,
		);
		assert.equal(
			cache(c, () => unleased(1)),
			0,
		);
		assert.equal(
			cache(open(), () => unleased(1)),
			0,
		);
		assert.equal(count, 1, 'a hit, from the file');
	});

	test(
		'misses written through their leases, or apart, leave no file open',
		{ skip: existsSync('/proc/self/fd') ? false : 'machine lacks: /proc/self/fd' },
		(t) => {
			const { calls, open, leaseFile } = setUp(t);
			// This process's open files in the store (lease files, call files): a count of all its descriptors would also
			// see the runtime's and the test runner's own, opened by other threads meanwhile.
			const openFiles = (): number => openFilesIn(calls).length;
			let takeOver = false;
			const fn = fleche(
				(x: number) => {
					if (takeOver) {
						unlinkSync(leaseFile(fn.fleche.digest(x)));
						writeFileSync(leaseFile(fn.fleche.digest(x)), '');
					}
					return x * 2;
				},
				{ name: 'noLeak' },
			);
			const c = open();
			cache(c, () => fn(0));
			const before = openFiles();
			for (let i = 1; i <= 20; i++) {
				takeOver = i % 2 === 0;
				assert.equal(
					cache(c, () => fn(i)),
					i * 2,
				);
			}
			assert.equal(openFiles(), before);
		},
	);
});
