// Throwaway PostgreSQL, Redis and SSH servers for the tests of the team store, the distributed executor and the remote
// cache: Debian's packages (installed with apt when missing and root), on 127.0.0.1 with a random free port and a
// temporary data folder, stopped and removed by `close()`. `stop()`/`start()` keep the port and the data, for outage tests.
// Nothing here listens beyond loopback. Inlined into each test bundle by esbuild.
//
// Every wait is bounded: each command runs under a time-out (its failure says which command, after how long), and a
// server never outlives the test process that started it: a detached reaper (a `sh` loop watching the test's pid)
// stops it and removes its folder once that process is gone, even when it was killed before its `close()` ran
// (`pg_ctl start` and `redis-server --daemonize` detach the server from the test process, so nothing else would).
import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

const host = '127.0.0.1';
const isRoot = process.getuid?.() === 0;

interface Run {
	readonly code: number | null;
	readonly stdout: string;
	readonly stderr: string;
}

/** Longest any one command may run (apt-get, which waits for another apt's lock, has its own bound below). */
const commandCeilingMs = 180_000;

/**
 * Runs a command to its end, never throwing for its exit status (the caller decides what a failure means); one that
 * outlives `timeoutMs` is killed and answers code null with a message that says so.
 */
function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = commandCeilingMs): Promise<Run> {
	return new Promise((resolve) => {
		execFile(cmd, args, { env, maxBuffer: 16 << 20, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
			const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
			const why = err !== null && err.killed ? `${cmd} ${args.join(' ')} was killed after ${timeoutMs} ms without finishing; ` : '';
			resolve({ code, stdout, stderr: err !== null && typeof err.code !== 'number' ? `${why}${stderr}${err.message}` : stderr });
		});
	});
}

/** Single-quoted for `sh`. */
function shellQuote(arg: string): string {
	return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Starts a detached `sh` that runs `cleanup` (shell commands) once this process is gone, however it ended; returns
 * its pid, to be killed when the test cleans up itself. It holds no handle of this process (stdio ignored, unref'd).
 */
function reaper(cleanup: string): number {
	const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${cleanup}`;
	const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
	child.unref();
	return child.pid!;
}

/** Ends a reaper that is no longer needed (the test cleaned up itself). */
function dismiss(pid: number): void {
	try {
		process.kill(pid, 'SIGKILL');
	} catch {
		// already gone
	}
}

/** Throws a named failure with what the command printed: a server that cannot start fails its tier, never skips. */
async function must(what: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv, timeoutMs?: number): Promise<string> {
	const r = await run(cmd, args, env, timeoutMs);
	if (r.code !== 0) throw new Error(`${what} failed (${cmd} exited ${String(r.code)}): ${(r.stderr || r.stdout).trim().slice(-2000)}`);
	return r.stdout;
}

/** A port nobody listens on now: the kernel's pick for a socket bound to loopback and closed again. */
function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const probe = createServer();
		probe.once('error', reject);
		probe.listen(0, host, () => {
			const address = probe.address();
			probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
		});
	});
}

/**
 * Starts a server with `launch` on a free port (given to `use` first), trying again on another port when it fails:
 * the port can be taken between the probe and the bind. `undo` runs after each failure; after the fifth, `giveUp`
 * runs and the failure is thrown.
 */
async function onFreePort(use: (port: number) => void, launch: () => Promise<void>, undo: () => Promise<void>, giveUp: () => void): Promise<void> {
	for (let attempt = 0; ; attempt++) {
		use(await freePort());
		try {
			await launch();
			return;
		} catch (err) {
			await undo();
			if (attempt >= 4) {
				giveUp();
				throw err;
			}
		}
	}
}

/** Installs Debian packages when `binary` is missing (root only; apt waits for another apt's lock up to 10 min). */
async function ensurePackage(binary: () => string | undefined, packages: readonly string[]): Promise<string> {
	const found = binary();
	if (found !== undefined) return found;
	if (!isRoot || !existsSync('/usr/bin/apt-get')) {
		throw new Error(`${packages.join(', ')} missing; install with: sudo apt-get install -y --no-install-recommends ${packages.join(' ')}`);
	}
	const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
	const lock = ['-o', 'DPkg::Lock::Timeout=600'];
	const aptCeilingMs = 900_000;
	await must('apt-get update', 'apt-get', [...lock, 'update', '-qq'], env, aptCeilingMs);
	await must(`apt-get install ${packages.join(' ')}`, 'apt-get', [...lock, 'install', '-y', '-qq', '--no-install-recommends', ...packages], env, aptCeilingMs);
	const installed = binary();
	if (installed === undefined) throw new Error(`apt-get installed ${packages.join(' ')} but its binaries are still missing`);
	return installed;
}

/** The newest Debian PostgreSQL's bin folder (`/usr/lib/postgresql/<major>/bin`), if installed. */
function postgresBin(): string | undefined {
	const base = '/usr/lib/postgresql';
	if (!existsSync(base)) return undefined;
	const majors = readdirSync(base)
		.filter((d) => /^\d+$/.test(d) && existsSync(join(base, d, 'bin', 'pg_ctl')))
		.sort((a, b) => Number(b) - Number(a));
	return majors[0] === undefined ? undefined : join(base, majors[0], 'bin');
}

function redisBin(): string | undefined {
	return existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : undefined;
}

/** A throwaway PostgreSQL cluster. */
export interface PostgresServer {
	/** `postgres://postgres[:password]@127.0.0.1:<port>/postgres` */
	readonly url: string;
	readonly port: number;
	/** The superuser's password, or undefined when the cluster trusts every local connection. */
	readonly password: string | undefined;
	/** Creates a fresh database (one per test) and returns its URL. */
	database(name?: string): Promise<string>;
	/** Runs SQL through `psql` against a database of this cluster (the test's independent view of the server). */
	psql(sql: string, database?: string): Promise<string>;
	/** Stops the server (fast shutdown), keeping its port and data. */
	stop(): Promise<void>;
	/** Starts it again on the same port, with the same data. */
	start(): Promise<void>;
	/** Stops it and removes its data folder. */
	close(): Promise<void>;
}

export interface PostgresOptions {
	/** With a password, the cluster authenticates with SCRAM-SHA-256 (wrong passwords are refused); without, trust. */
	readonly password?: string;
	/**
	 * A folder that keeps the cluster between runs (a bench's fixture): created and initialised when it holds none,
	 * reused otherwise; `close()` stops the server (fast shutdown) and leaves the folder.
	 */
	readonly folder?: string;
}

let databases = 0;

/**
 * Starts a throwaway PostgreSQL cluster (Debian's `postgresql`, installed when missing). PostgreSQL refuses to run as
 * root, so as root it runs as the `postgres` system user in a folder that user owns.
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
	const bin = await ensurePackage(postgresBin, ['postgresql']);
	const kept = options.folder !== undefined;
	if (kept) mkdirSync(options.folder, { recursive: true });
	const dir = options.folder ?? mkdtempSync(join(tmpdir(), 'fleche-pg-'));
	const as = (cmd: string, args: readonly string[]): [string, string[]] =>
		isRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] : [join(bin, cmd), [...args]];
	if (isRoot) chownSync(dir, Number(await must('id -u postgres', 'id', ['-u', 'postgres'])), Number(await must('id -g postgres', 'id', ['-g', 'postgres'])));
	const data = join(dir, 'data');
	const auth = ['-U', 'postgres', '--no-sync'];
	if (options.password !== undefined) {
		const pwfile = join(dir, 'pwfile');
		writeFileSync(pwfile, `${options.password}\n`, { mode: 0o600 });
		if (isRoot) chownSync(pwfile, Number(await must('id -u postgres', 'id', ['-u', 'postgres'])), 0);
		auth.push('-A', 'scram-sha-256', `--pwfile=${pwfile}`);
	} else {
		auth.push('-A', 'trust');
	}
	// From here on the folder, and soon the server, are the reaper's if this process dies before close().
	const [ctl, ...ctlArgs] = as('pg_ctl', ['-D', data, '-m', kept ? 'fast' : 'immediate', '-w', 'stop']).flat();
	const guard = reaper(`${[ctl!, ...ctlArgs].map(shellQuote).join(' ')} >/dev/null 2>&1${kept ? '' : `; rm -rf ${shellQuote(dir)}`}`);
	if (!existsSync(join(data, 'PG_VERSION'))) {
		rmSync(data, { recursive: true, force: true });
		await must('initdb', ...as('initdb', ['-D', data, ...auth]));
	}
	let port = 0;
	const pgCtlStart = async (): Promise<Run> =>
		run(
			...as('pg_ctl', [
				'-D',
				data,
				'-o',
				`-p ${port} -h ${host} -k ${dir} -c fsync=off -c full_page_writes=off`,
				'-l',
				join(dir, 'log'),
				'-w',
				'-t',
				'120',
				'start',
			]),
		);
	// The free port can be taken between the probe and the bind: try a few.
	for (let attempt = 0; ; attempt++) {
		port = await freePort();
		const r = await pgCtlStart();
		if (r.code === 0) break;
		const log = existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8') : '';
		if (attempt >= 4 || !/could not (bind|create listen)/i.test(log)) {
			// `pg_ctl -w` gave up waiting, but the server may still come up: stop it before the folder goes.
			await run(...as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']));
			if (!kept) rmSync(dir, { recursive: true, force: true });
			dismiss(guard);
			throw new Error(`PostgreSQL did not start on ${host}:${port}: ${(r.stderr || r.stdout).trim()}\n${log.slice(-2000)}`);
		}
	}
	const userinfo = options.password === undefined ? 'postgres' : `postgres:${encodeURIComponent(options.password)}`;
	const urlOf = (db: string): string => `postgres://${userinfo}@${host}:${port}/${db}`;
	const clientEnv = { ...process.env, ...(options.password === undefined ? {} : { PGPASSWORD: options.password }) };
	const psql = (sql: string, db = 'postgres'): Promise<string> =>
		must('psql', 'psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port), '-U', 'postgres', '-d', db, '-c', sql], clientEnv);
	let running = true;
	return {
		get url() {
			return urlOf('postgres');
		},
		port,
		password: options.password,
		async database(name = `fleche_test_${process.pid}_${++databases}`) {
			await psql(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
			return urlOf(name);
		},
		psql,
		async stop() {
			if (!running) return;
			await must('pg_ctl stop', ...as('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']));
			running = false;
		},
		async start() {
			if (running) return;
			const r = await pgCtlStart();
			if (r.code !== 0) throw new Error(`PostgreSQL did not restart on port ${port}: ${(r.stderr || r.stdout).trim()}`);
			running = true;
		},
		async close() {
			try {
				if (running) await run(...as('pg_ctl', ['-D', data, '-m', kept ? 'fast' : 'immediate', '-w', 'stop']));
				running = false;
			} finally {
				if (!kept) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
				dismiss(guard);
			}
		},
	};
}

/** A throwaway PostgreSQL cluster with a fresh database: its URL (with the password, if any) and name. */
export async function startPostgresDatabase(options: PostgresOptions = {}): Promise<{ server: PostgresServer; url: string; db: string }> {
	const server = await startPostgres(options);
	const url = await server.database();
	return { server, url, db: new URL(url).pathname.slice(1) };
}

/** A throwaway Redis server, without persistence. */
export interface RedisServer {
	/** `redis://127.0.0.1:<port>` */
	readonly url: string;
	readonly port: number;
	/** Sends one inline command and returns the first line of the reply (`+PONG`, `:1`, `-ERR …`). */
	command(line: string): Promise<string>;
	/** Stops the server (its data goes with it: no persistence), keeping the port. */
	stop(): Promise<void>;
	/** Starts it again on the same port. */
	start(): Promise<void>;
	/** Stops it and removes its folder. */
	close(): Promise<void>;
}

/** One inline command over a fresh connection; rejects when nothing listens. */
function redisCommand(port: number, line: string, timeoutMs = 5000): Promise<string> {
	return new Promise((resolve, reject) => {
		const socket = connect({ host, port });
		let reply = '';
		const done = (err?: Error): void => {
			socket.destroy();
			if (err) reject(err);
			else resolve(reply.split('\r\n')[0] ?? '');
		};
		socket.setTimeout(timeoutMs, () => done(new Error(`Redis on port ${port} did not answer ${line}`)));
		socket.once('error', done);
		socket.once('connect', () => socket.write(`${line}\r\n`));
		socket.on('data', (chunk) => {
			reply += chunk.toString('utf8');
			if (reply.includes('\r\n')) done();
		});
	});
}

async function waitFor(what: string, check: () => Promise<boolean>, ceilingMs = 60_000): Promise<void> {
	const until = Date.now() + ceilingMs;
	while (!(await check())) {
		if (Date.now() > until) throw new Error(`${what} (waited ${ceilingMs / 1000} s)`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

/** Starts a throwaway Redis (Debian's `redis-server`, installed when missing) on a random loopback port. */
export async function startRedis(): Promise<RedisServer> {
	const bin = await ensurePackage(redisBin, ['redis-server']);
	const dir = mkdtempSync(join(tmpdir(), 'fleche-redis-'));
	const pidfile = join(dir, 'redis.pid');
	const guard = reaper(`[ -f ${shellQuote(pidfile)} ] && kill "$(cat ${shellQuote(pidfile)})" 2>/dev/null; sleep 1; rm -rf ${shellQuote(dir)}`);
	let port = 0;
	const answers = async (): Promise<boolean> => (await redisCommand(port, 'PING').catch(() => '')) === '+PONG';
	const launch = async (): Promise<void> => {
		const child = spawn(
			bin,
			[
				'--port',
				String(port),
				'--bind',
				host,
				'--save',
				'',
				'--appendonly',
				'no',
				'--dir',
				dir,
				'--pidfile',
				pidfile,
				'--logfile',
				join(dir, 'redis.log'),
				'--daemonize',
				'yes',
			],
			{ stdio: 'ignore' },
		);
		const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
		if (code !== 0)
			throw new Error(
				`redis-server exited ${String(code)}: ${existsSync(join(dir, 'redis.log')) ? readFileSync(join(dir, 'redis.log'), 'utf8').slice(-2000) : ''}`,
			);
		await waitFor(`Redis did not answer PING on ${host}:${port}`, answers);
	};
	const halt = async (): Promise<void> => {
		const pid = existsSync(pidfile) ? Number(readFileSync(pidfile, 'utf8').trim()) : NaN;
		if (!Number.isInteger(pid)) return;
		try {
			process.kill(pid, 'SIGTERM');
		} catch {
			return; // already gone
		}
		await waitFor(`Redis (pid ${pid}) did not stop`, async () => {
			try {
				process.kill(pid, 0);
				return false;
			} catch {
				return true;
			}
		});
	};
	await onFreePort(
		(p) => (port = p),
		launch,
		halt,
		() => {
			rmSync(dir, { recursive: true, force: true });
			dismiss(guard);
		},
	);
	let running = true;
	return {
		url: `redis://${host}:${port}`,
		port,
		command: (line) => redisCommand(port, line),
		async stop() {
			if (!running) return;
			await halt();
			running = false;
		},
		async start() {
			if (running) return;
			await launch();
			running = true;
		},
		async close() {
			try {
				await halt();
				running = false;
			} finally {
				rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
				dismiss(guard);
			}
		},
	};
}

/** A throwaway sshd on loopback that lets the current user in with a throwaway key. */
export interface SshServer {
	readonly host: string;
	readonly port: number;
	/** The current user's login name: sshd runs as this user and lets only it in. */
	readonly user: string;
	/** The private key it accepts. */
	readonly identityFile: string;
	/** `ssh -o` options a client needs here: its own known-hosts file (the throwaway host key is accepted on first use). */
	readonly sshOptions: readonly string[];
	/** The folder of its keys, configuration and log. */
	readonly dir: string;
	/** sshd's log (what it said about refused logins). */
	log(): string;
	/** Stops the listener (sessions already open stay: kill their processes to end them), keeping the port and the keys. */
	stop(): Promise<void>;
	/** Starts it again on the same port. */
	start(): Promise<void>;
	/** Stops it and removes its folder. */
	close(): Promise<void>;
}

function sshdBin(): string | undefined {
	return existsSync('/usr/sbin/sshd') && existsSync('/usr/bin/ssh') && existsSync('/usr/bin/ssh-keygen') ? '/usr/sbin/sshd' : undefined;
}

/** Whether something accepts TCP connections on the loopback port. */
function listening(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = connect({ host, port });
		socket.once('connect', () => {
			socket.destroy();
			resolve(true);
		});
		socket.once('error', () => resolve(false));
	});
}

/**
 * Starts a throwaway sshd (Debian's `openssh-server`, installed when missing) on a random loopback port, in the
 * foreground (`-D`) as the current user, with its own configuration, host key and a client key in a temporary folder;
 * nothing of the machine's own ssh setup is read or changed.
 */
export async function startSshd(): Promise<SshServer> {
	const bin = await ensurePackage(sshdBin, ['openssh-server', 'openssh-client']);
	const dir = mkdtempSync(join(tmpdir(), 'fleche-sshd-'));
	chmodSync(dir, 0o700);
	// sshd as root checks for its privilege-separation folder even when it never uses it.
	if (isRoot) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
	const hostKey = join(dir, 'host_key');
	const identityFile = join(dir, 'user_key');
	await must('ssh-keygen (host key)', 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
	await must('ssh-keygen (user key)', 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', identityFile]);
	writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${identityFile}.pub`), { mode: 0o600 });
	const logFile = join(dir, 'sshd.log');
	let child: ReturnType<typeof spawn> | undefined;
	let guard: number | undefined;
	let port = 0;
	const launch = async (): Promise<void> => {
		const config = join(dir, 'sshd_config');
		writeFileSync(
			config,
			[
				`Port ${port}`,
				`ListenAddress ${host}`,
				`HostKey ${hostKey}`,
				`AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
				'PasswordAuthentication no',
				'KbdInteractiveAuthentication no',
				`PidFile ${join(dir, 'sshd.pid')}`,
				'StrictModes no',
				'UsePAM no',
				'PermitRootLogin prohibit-password',
				'LogLevel VERBOSE',
				'',
			].join('\n'),
		);
		const started = spawn(bin, ['-D', '-f', config, '-E', logFile], { stdio: 'ignore' });
		child = started;
		const exited = new Promise<number | null>((resolve) => started.once('exit', resolve));
		guard = reaper(`kill ${started.pid} 2>/dev/null; sleep 1; rm -rf ${shellQuote(dir)}`);
		const until = Date.now() + 30_000;
		for (;;) {
			if (await listening(port)) return;
			const code = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))]);
			if (code !== undefined || Date.now() > until) {
				started.kill('SIGKILL');
				dismiss(guard);
				const said = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
				throw new Error(`sshd did not listen on ${host}:${port} (${code === undefined ? 'waited 30 s' : `exited ${String(code)}`}): ${said}`);
			}
		}
	};
	const halt = async (): Promise<void> => {
		const running = child;
		child = undefined;
		if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
		const exited = new Promise((resolve) => running.once('exit', resolve));
		running.kill('SIGTERM');
		await exited;
		if (guard !== undefined) dismiss(guard);
	};
	// launch() stops what it started when it fails: nothing to undo between attempts.
	await onFreePort(
		(p) => (port = p),
		launch,
		async () => undefined,
		() => rmSync(dir, { recursive: true, force: true }),
	);
	const user = userInfo().username;
	return {
		host,
		port,
		user,
		identityFile,
		sshOptions: ['StrictHostKeyChecking=accept-new', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, 'LogLevel=ERROR'],
		dir,
		log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
		stop: halt,
		async start() {
			if (child !== undefined) return;
			await launch();
		},
		async close() {
			try {
				await halt();
			} finally {
				rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
			}
		},
	};
}
