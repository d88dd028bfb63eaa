// The SSH remote cache (SshCache, CallSsh/ValueSsh, `template = "ssh"`, `fleche remote --serve`) against a real sshd
// started for this file (test/support/servers.ts) on 127.0.0.1, with a throwaway key: the far side is this
// worktree's built CLI, run by sshd. Misses and hits across processes; the remote killed mid-run; sshd stopped and
// restarted with reconnect(); secrets redacted; hostile far sides (garbage, oversize lines, wrong ids, bad records,
// terminal escapes); file values refused by a far side that cannot hold them; fleche.toml.
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
	Cache,
	CallFile,
	ConfigError,
	FlecheConfig,
	RemoteConnectionError,
	SshCache,
	ValueFile,
	cache as useCache,
	fleche,
	flushStats,
	type SshOptions,
} from 'fleche';
import { captureLogs } from '../support/logs.js';
import { waitFor } from '../support/poll.js';
import { startSshd, type SshServer } from '../support/servers.js';
import { runNode, tmpDir } from '../support/tmp.js';

const bin = fileURLToPath(new URL('../../../runtime/bin/fleche.mjs', import.meta.url));
const client = fileURLToPath(new URL('../fixtures/sshClient.js', import.meta.url));
const hostile = fileURLToPath(new URL('../fixtures/sshHostile.js', import.meta.url));
const logs = captureLogs();

let server: SshServer | undefined;
let lacks: string | undefined;

before(async () => {
	try {
		server = await startSshd();
	} catch (err) {
		// Only a machine where openssh-server cannot be installed (not root, no apt) skips; a failed start fails.
		if (!/missing; install with/.test((err as Error).message)) throw err;
		lacks = `machine lacks: openssh-server (${(err as Error).message})`;
	}
});
after(async () => {
	await server?.close();
});

/** Options reaching the far side through the test's sshd, serving `more` there. */
function options(more: Partial<SshOptions> = {}): SshOptions {
	const s = server!;
	return {
		host: s.host,
		port: s.port,
		user: s.user,
		identityFile: s.identityFile,
		sshOptions: [...s.sshOptions],
		remoteCommand: `${process.execPath} ${bin}`,
		timeoutMs: 60_000,
		...more,
	};
}

let functions = 0;

/** A cached function of its own (a name per test) that counts its runs. */
function counted(): { f: (n: number) => { n: number; twice: number }; runs: () => number } {
	let runs = 0;
	const f = fleche(
		function twice(n: number) {
			runs++;
			return { n, twice: n * 2 };
		},
		{ name: `twice${++functions}` },
	);
	return { f, runs: () => runs };
}

/**
 * Closes `remote` when the test ends, its statistics flushed first: the flush at exit would otherwise try the remote
 * again after this file's sshd is gone.
 */
function closeAfter(t: TestContext, remote: SshCache): void {
	t.after(() => {
		flushStats();
		remote.close();
	});
}

function localView(root: string): Cache {
	return new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') }));
}

/** The warnings with `code` about this remote (other caches of this file may warn too: their statistics flushes). */
function warningsOf(remote: SshCache, code: string): string[] {
	return logs
		.codes(code)
		.map((r) => r.message)
		.filter((m) => m.includes(remote.calls.shown));
}

function pidAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

describe('SSH remote cache', () => {
	it('misses then hits across two local processes through the remote, and in this one for sync and async functions', async (t) => {
		if (lacks !== undefined) return t.skip(lacks);
		const root = tmpDir(t);
		const opts = JSON.stringify(options({ remoteRoot: root }));
		const first = await runNode(client, [opts, '21', '4'], { timeoutMs: 180_000 });
		assert.equal(first.code, 0, first.stderr);
		assert.deepEqual(JSON.parse(first.stdout), {
			results: [
				{ n: 21, twice: 42 },
				{ n: 4, twice: 8 },
			],
			runs: 2,
		});
		const second = await runNode(client, [opts, '4', '21', '5'], { timeoutMs: 180_000 });
		assert.equal(second.code, 0, second.stderr);
		// Another process, another connection: both hits come from the far side; only 5 is computed.
		assert.deepEqual(JSON.parse(second.stdout), {
			results: [
				{ n: 4, twice: 8 },
				{ n: 21, twice: 42 },
				{ n: 5, twice: 10 },
			],
			runs: 1,
		});
		// What the far side stored, read directly from its folder: three calls, each with its result value.
		const view = localView(root);
		assert.equal([...view.calls.list()].length, 3);
		for (const record of view.calls.records()) assert.ok(view.values.contains(record.result!));

		const remote = new SshCache(options({ remoteRoot: root }));
		closeAfter(t, remote);
		using _ = useCache(remote);
		const double = fleche(
			function double(n: number): { n: number; twice: number } {
				throw new Error(`double(${n}) ran: it should have been a hit`);
			},
			// The module is not part of the key, so that this file's function is the fixture's.
			{ name: 'double', hashModule: false },
		);
		assert.deepEqual(double(21), { n: 21, twice: 42 });
		let asyncRuns = 0;
		const later = fleche(
			async function later(n: number): Promise<string> {
				asyncRuns++;
				await new Promise((r) => setTimeout(r, 1));
				return `later ${n}`;
			},
			{ name: 'later' },
		);
		assert.equal(await later(1), 'later 1');
		assert.equal(await later(1), 'later 1');
		assert.equal(asyncRuns, 1);
		const info = remote.info();
		assert.equal(info.protocol, 1);
		assert.equal(info.readOnly, false);
		assert.ok(pidAlive(info.pid), 'the far side runs on this machine under its pid');
		assert.deepEqual(logs.codes('FLECHE_REMOTE_UNREACHABLE'), []);
	});

	it('the remote killed mid-run: one warning, every call still returns its result, and hits resume on their own', async (t) => {
		if (lacks !== undefined) return t.skip(lacks);
		logs.clear();
		const remote = new SshCache(options({ remoteRoot: tmpDir(t) }));
		closeAfter(t, remote);
		using _ = useCache(remote);
		const { f, runs } = counted();
		assert.deepEqual(f(1), { n: 1, twice: 2 });
		assert.equal(runs(), 1);
		const killed = remote.info().pid;
		process.kill(killed, 'SIGKILL');
		await waitFor('the far side to die', () => !pidAlive(killed));
		for (let i = 0; i < 5; i++) assert.deepEqual(f(1), { n: 1, twice: 2 });
		assert.equal(runs(), 6, 'while the connection is down every call computes');
		const warnings = warningsOf(remote, 'FLECHE_REMOTE_UNREACHABLE');
		assert.equal(warnings.length, 1, 'one warning for the outage, not one per call');
		assert.match(warnings[0]!, /connection ended|ssh exited/);
		// sshd is still up: after the back-off the link connects again by itself, and the stored call is a hit.
		await waitFor('hits to resume', () => {
			const before = runs();
			f(1);
			return runs() === before;
		});
		assert.notEqual(remote.info().pid, killed);
		assert.equal(warningsOf(remote, 'FLECHE_REMOTE_UNREACHABLE').length, 1);
	});

	it('sshd stopped: calls run uncached, direct operations and reconnect() throw RemoteConnectionError; restarted: reconnect() and hits', async (t) => {
		if (lacks !== undefined) return t.skip(lacks);
		const s = server!;
		logs.clear();
		const remote = new SshCache(options({ remoteRoot: tmpDir(t), timeoutMs: 20_000 }));
		closeAfter(t, remote);
		using _ = useCache(remote);
		const { f, runs } = counted();
		assert.deepEqual(f(5), { n: 5, twice: 10 });
		const pid = remote.info().pid;
		t.after(() => s.start());
		await s.stop();
		process.kill(pid, 'SIGKILL');
		await waitFor('the far side to die', () => !pidAlive(pid));
		assert.deepEqual(f(5), { n: 5, twice: 10 });
		assert.deepEqual(f(6), { n: 6, twice: 12 });
		assert.equal(runs(), 3);
		assert.throws(
			() => remote.reconnect(),
			(err: unknown) => RemoteConnectionError.is(err) && /127\.0\.0\.1/.test((err as Error).message),
		);
		assert.throws(
			() => remote.calls.list(),
			(err: unknown) => RemoteConnectionError.is(err),
		);
		assert.throws(
			() => remote.values.list(),
			(err: unknown) => RemoteConnectionError.is(err),
		);
		assert.equal(warningsOf(remote, 'FLECHE_REMOTE_UNREACHABLE').length, 1, 'a failed reconnect() is the same outage');

		await s.start();
		const info = remote.reconnect();
		assert.notEqual(info.pid, pid);
		assert.deepEqual(f(5), { n: 5, twice: 10 });
		assert.equal(runs(), 3, 'the call stored before the outage is a hit again');
		assert.deepEqual(f(6), { n: 6, twice: 12 });
		assert.equal(runs(), 4, 'what ran during the outage was not stored');
		assert.deepEqual(f(6), { n: 6, twice: 12 });
		assert.equal(runs(), 4);
		assert.equal(remote.calls.list().length, 2);
	});

	it('redacts the far side’s secrets in its hello, and refuses a remote command that holds one', async (t) => {
		if (lacks !== undefined) return t.skip(lacks);
		const secret = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'.repeat(2);
		const password = 'hunter2-Secret';
		const project = tmpDir(t);
		writeFileSync(
			join(project, 'fleche.toml'),
			[
				'[signed]',
				'template = "file"',
				'root = "store"',
				`secret_key = "${secret}"`,
				'',
				'[team]',
				'template = "postgres"',
				`url = "postgres://ci:${password}@db.invalid:5432/results"`,
				'',
			].join('\n'),
		);
		logs.clear();
		const signed = new SshCache(options({ remoteCwd: project, remoteCache: 'signed' }));
		closeAfter(t, signed);
		const info = signed.info();
		const shown = JSON.stringify(info);
		assert.ok(!shown.includes(secret), shown);
		assert.match(shown, /\[redacted\]/);
		// It works with the signing key it keeps to itself.
		using _ = useCache(signed);
		const { f, runs } = counted();
		f(3);
		f(3);
		assert.equal(runs(), 1);

		const team = new SshCache(options({ remoteCwd: project, remoteCache: 'team' }));
		closeAfter(t, team);
		const teamShown = JSON.stringify(team.info());
		assert.ok(!teamShown.includes(password), teamShown);
		assert.match(teamShown, /db\.invalid/);
		for (const r of logs.records) assert.ok(!r.message.includes(secret) && !r.message.includes(password), r.message);

		for (const remoteCommand of [`FLECHE_SECRET_KEY=${secret} fleche`, `env DATABASE=postgres://ci:${password}@db/x fleche`]) {
			assert.throws(
				() => new SshCache(options({ remoteCommand })),
				(err: unknown) =>
					err instanceof TypeError && /may not hold a secret/.test(err.message) && !err.message.includes(secret) && !err.message.includes(password),
			);
		}
	});

	for (const [mode, expect] of [
		['garbage', /not an answer/],
		['wrongid', /not an answer/],
		['oversize', /longer than 65536 bytes/],
	] as const) {
		it(`a hostile far side (${mode}) is a miss with one warning, never a crash`, async (t) => {
			if (lacks !== undefined) return t.skip(lacks);
			logs.clear();
			const remote = new SshCache(options({ remoteCommand: `${process.execPath} ${hostile} ${mode}`, maxLineBytes: 65536 }));
			closeAfter(t, remote);
			using _ = useCache(remote);
			const { f, runs } = counted();
			for (let i = 0; i < 3; i++) assert.deepEqual(f(7), { n: 7, twice: 14 });
			assert.equal(runs(), 3);
			const warnings = warningsOf(remote, 'FLECHE_REMOTE_UNREACHABLE');
			assert.equal(warnings.length, 1);
			assert.match(warnings[0]!, expect);
		});
	}

	it('a hostile far side: a bad record is a miss, an escape-laden error is shown scrubbed, a banner is skipped, another protocol is refused', async (t) => {
		if (lacks !== undefined) return t.skip(lacks);
		logs.clear();
		const bad = new SshCache(options({ remoteCommand: `${process.execPath} ${hostile} badrecord` }));
		closeAfter(t, bad);
		{
			using _ = useCache(bad);
			const { f, runs } = counted();
			assert.deepEqual(f(8), { n: 8, twice: 16 });
			assert.deepEqual(f(8), { n: 8, twice: 16 });
			assert.equal(runs(), 2);
			assert.ok(logs.codes('FLECHE_CORRUPT_ENTRY').length >= 1);
			// Its hello's secret field is redacted on this side too: the far side is not trusted to.
			assert.deepEqual(bad.info().cache, { type: 'cache', secretKey: '[redacted]' });
		}

		const escape = new SshCache(options({ remoteCommand: `${process.execPath} ${hostile} escape` }));
		closeAfter(t, escape);
		assert.throws(
			() => escape.calls.list(),
			(err: unknown) => {
				const message = (err as Error).message;
				assert.ok(!message.includes('\u001b') && !message.includes('\u0007'), message);
				assert.ok(!message.includes('hunter2') && !message.includes('00112233445566778899'), message);
				assert.match(message, /\\x1b\]0;pwned\\x07/);
				return true;
			},
		);

		const banner = new SshCache(options({ remoteCommand: `${process.execPath} ${hostile} banner` }));
		closeAfter(t, banner);
		assert.equal(banner.info().version, '9.9.9');

		logs.clear();
		const old = new SshCache(options({ remoteCommand: `${process.execPath} ${hostile} oldprotocol` }));
		closeAfter(t, old);
		assert.throws(
			() => old.info(),
			(err: unknown) => RemoteConnectionError.is(err) && /protocol 99/.test((err as Error).message),
		);
		using _ = useCache(old);
		const { f, runs } = counted();
		assert.deepEqual(f(9), { n: 9, twice: 18 });
		assert.deepEqual(f(9), { n: 9, twice: 18 });
		assert.equal(runs(), 2);
		assert.equal(warningsOf(old, 'FLECHE_REMOTE_REFUSED').length, 1, 'the refusal is said once, not once per call');
	});

	it('a far side that cannot hold file bodies refuses file values clearly; the function still returns', async (t) => {
		if (lacks !== undefined) return t.skip(lacks);
		const project = tmpDir(t);
		writeFileSync(
			join(project, 'fleche.toml'),
			['[plain]', 'values = { type = "file", root = "values", serializer = "json" }', 'calls = { type = "file", root = "calls" }', ''].join('\n'),
		);
		const file = join(tmpDir(t), 'data.txt');
		writeFileSync(file, 'some bytes');
		logs.clear();
		const remote = new SshCache(options({ remoteCwd: project, remoteCache: 'plain' }));
		closeAfter(t, remote);
		using _ = useCache(remote);
		let runs = 0;
		const make = fleche(
			function make(n: number): URL {
				runs++;
				return pathToFileURL(n > 0 ? file : `${file}.none`);
			},
			{ name: 'makeFile' },
		);
		assert.equal(make(1).href, pathToFileURL(file).href);
		assert.equal(make(1).href, pathToFileURL(file).href);
		assert.equal(runs, 2);
		const rejected = logs.codes('FLECHE_REJECTED');
		assert.ok(rejected.length >= 1);
		assert.match(rejected[0]!.message, /cannot hold file bodies/);
		assert.match(rejected[0]!.message, /json serializer/);
		// Plain values still work against the same far side.
		const { f, runs: plainRuns } = counted();
		f(2);
		f(2);
		assert.equal(plainRuns(), 1);
	});

	it('fleche.toml: template = "ssh" opens an SshCache; bad options name the file and line', async (t) => {
		if (lacks !== undefined) return t.skip(lacks);
		const root = tmpDir(t);
		const o = options({ remoteRoot: root });
		const toml = [
			'[remote]',
			'template = "ssh"',
			`host = "${o.host}"`,
			`port = ${o.port}`,
			`user = "${o.user}"`,
			`identity_file = "${o.identityFile}"`,
			`remote_root = "${root}"`,
			`remote_command = "${o.remoteCommand}"`,
			`ssh_options = [${o.sshOptions!.map((x) => JSON.stringify(x)).join(', ')}]`,
			'timeout_ms = 60000',
			'',
		].join('\n');
		const config = FlecheConfig.fromToml(toml, { file: join(root, 'fleche.toml') });
		const remote = config.open('remote');
		assert.ok(remote instanceof SshCache);
		closeAfter(t, remote);
		// remote_root is a path on the far machine: never rebased onto the declaring file's folder.
		assert.equal((remote.calls.toConfig() as { remoteRoot?: string }).remoteRoot, root);
		using _ = useCache(remote);
		const { f, runs } = counted();
		f(11);
		f(11);
		assert.equal(runs(), 1);
		assert.equal([...localView(root).calls.list()].length, 1);

		for (const [line, message] of [
			['host = "-oProxyCommand=touch /tmp/x"', /'host' must be a host name/],
			['port = 70000', /'port' must be a whole number/],
			['remote_command = "FLECHE_SECRET_KEY=00aa00aa00aa fleche"', /'remote_command' may not hold a secret/],
			['ssh_options = ["-oProxyCommand=x"]', /'ssh_options' must be 'Key=value' strings/],
			['hots = "x"', /unknown key 'hots'/],
		] as const) {
			const text = line.startsWith('host =') ? `[bad]\ntemplate = "ssh"\n${line}\n` : `[bad]\ntemplate = "ssh"\nhost = "h"\n${line}\n`;
			assert.throws(
				() => FlecheConfig.fromToml(text, { file: join(root, 'bad.toml') }).open('bad'),
				(err: unknown) => err instanceof ConfigError && message.test(err.message) && /bad\.toml/.test(err.message),
			);
		}
	});
});
