// The throwaway servers the team-store, distributed-executor and remote-cache tests run against
// (test/support/servers.ts): real PostgreSQL, Redis and sshd on 127.0.0.1, started, stopped and restarted as those
// tests need them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { startPostgres, startRedis, startSshd, type PostgresServer, type RedisServer, type SshServer } from '../support/servers.ts';

let pg: PostgresServer;
let redis: RedisServer;
let sshd: SshServer;

before(async () => {
	[pg, redis, sshd] = await Promise.all([startPostgres({ password: 's3cret pass' }), startRedis(), startSshd()]);
});
after(async () => {
	await Promise.allSettled([pg?.close(), redis?.close(), sshd?.close()]);
});

/** Runs `echo` over ssh with `key` against the test's sshd; what it printed, or ssh's complaint. */
function sshEcho(key: string): Promise<string> {
	return new Promise((resolve) => {
		execFile(
			'ssh',
			[
				'-T',
				'-o',
				'BatchMode=yes',
				'-p',
				String(sshd.port),
				'-l',
				sshd.user,
				'-i',
				key,
				'-o',
				'IdentitiesOnly=yes',
				...sshd.sshOptions.flatMap((o) => ['-o', o]),
				'--',
				sshd.host,
				'echo hello over ssh',
			],
			{ timeout: 60_000 },
			(err, out, stderr) => resolve(err ? `failed: ${stderr}` : out.trim()),
		);
	});
}

test('sshd: the throwaway key logs in on loopback, another key does not; a restart keeps the port and the host key', async () => {
	assert.equal(sshd.host, '127.0.0.1');
	assert.equal(await sshEcho(sshd.identityFile), 'hello over ssh');
	const stranger = `${sshd.dir}/stranger`;
	await new Promise((resolve) => execFile('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger], resolve));
	assert.match(await sshEcho(stranger), /Permission denied/);
	await sshd.stop();
	assert.match(await sshEcho(sshd.identityFile), /Connection refused/);
	await sshd.start();
	// The known-hosts file accepted the host key on first use: the same key after the restart, or ssh would refuse.
	assert.equal(await sshEcho(sshd.identityFile), 'hello over ssh');
});

test('PostgreSQL: a fresh database per test, answering on loopback, with the data kept across a stop and a start', async () => {
	assert.match(pg.url, /^postgres:\/\/postgres:s3cret%20pass@127\.0\.0\.1:\d+\/postgres$/);
	const url = await pg.database();
	const db = new URL(url).pathname.slice(1);
	await pg.psql('CREATE TABLE t (k text PRIMARY KEY, v int); INSERT INTO t VALUES ($$a$$, 1), ($$b$$, 2)', db);
	assert.equal((await pg.psql('SELECT sum(v) FROM t', db)).trim(), '3');
	await pg.stop();
	await assert.rejects(pg.psql('SELECT 1', db), /psql failed/, 'a stopped server refuses connections');
	await pg.start();
	assert.equal((await pg.psql('SELECT count(*) FROM t', db)).trim(), '2', 'the same port and data after the restart');
});

test('PostgreSQL: a wrong password is refused (SCRAM, not trust)', async () => {
	const r = await new Promise<string>((resolve) => {
		execFile(
			'psql',
			['-X', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', 'postgres', '-c', 'SELECT 1'],
			{ env: { ...process.env, PGPASSWORD: 'wrong' } },
			(err, _out, stderr) => resolve(err ? stderr : 'connected'),
		);
	});
	assert.match(r, /password authentication failed/);
});

test('Redis: answers on loopback without persistence; a restart keeps the port and loses the data', async () => {
	assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
	assert.equal(await redis.command('PING'), '+PONG');
	assert.equal(await redis.command('SET k 1'), '+OK');
	assert.equal(await redis.command('GET k'), '$1');
	await redis.stop();
	await assert.rejects(redis.command('PING'), /ECONNREFUSED/);
	await redis.start();
	assert.equal(await redis.command('PING'), '+PONG');
	assert.equal(await redis.command('EXISTS k'), ':0', 'no persistence: the key is gone');
});
