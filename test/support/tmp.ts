// Test helpers for the filesystem and child processes. Inlined into each test bundle by esbuild.

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * A fresh, empty directory under the OS temp dir, removed when the test ends (`t.after`) or, without `t`,
 * when the enclosing suite or file ends (`after`).
 *
 * @example
 * test('writes a store', (t) => {
 * 	const dir = tmpDir(t);
 * 	// ...
 * });
 */
export function tmpDir(t?: Pick<TestContext, 'after'>): string {
	const dir = mkdtempSync(join(tmpdir(), 'fleche-test-'));
	// Retried (ENOTEMPTY): `t.after` hooks run in the order they were added, so a child process a test started after
	// making the folder (a `fleche worker` writing its statistics just after it answered) may still be writing into it.
	// A folder that still cannot be removed is left with a warning rather than thrown: a throwing hook skips the hooks
	// after it, which stop the test's child processes, and the test process then never ends.
	const remove = (): void => {
		try {
			rmSync(dir, { recursive: true, force: true, maxRetries: 10 });
		} catch (err) {
			process.emitWarning(`test folder ${dir} left behind: ${(err as Error).message}`);
		}
	};
	if (t) t.after(remove);
	else after(remove);
	return dir;
}

export interface RunNodeOptions {
	/** @default process.cwd() */
	cwd?: string;
	/** Replaces the environment. @default process.env (without the test runner's NODE_TEST_CONTEXT) */
	env?: NodeJS.ProcessEnv;
	/** Node options placed before the script. @default ['--enable-source-maps'] */
	execArgv?: readonly string[];
	/** Written to the child's stdin, which is then closed. @default '' (stdin at end of file at once) */
	input?: string;
	/** The child is killed (SIGKILL) and the promise rejects after this long. @default 30_000 */
	timeoutMs?: number;
}

export interface RunNodeResult {
	/** Exit code, or null when a signal ended the child. */
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
}

/**
 * Runs `scriptPath` in a real child process of the current Node binary (`process.execPath`). Resolves on exit
 * whatever the exit code; rejects if the child cannot start or outlives `timeoutMs`.
 *
 * @example
 * const { code, stdout } = await runNode(new URL('../fixtures/child.js', import.meta.url), ['--flag']);
 */
export function runNode(
	scriptPath: string | URL,
	args: readonly string[] = [],
	opts: RunNodeOptions = {},
): Promise<RunNodeResult> {
	const script = scriptPath instanceof URL ? fileURLToPath(scriptPath) : scriptPath;
	const { cwd, execArgv = ['--enable-source-maps'], input, timeoutMs = 30_000 } = opts;
	// Under `node --test` this variable makes any node:test use in the child report to the parent runner.
	const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
	const env = opts.env ?? inherited;

	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, [...execArgv, script, ...args], {
			cwd,
			env,
			stdio: 'pipe',
		});
		let stdout = '';
		let stderr = '';
		let timedOut = false;
		child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
		child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
		child.stdin.end(input);

		const timer = setTimeout(() => {
			timedOut = true;
			child.kill('SIGKILL');
		}, timeoutMs);

		child.on('error', (err) => {
			clearTimeout(timer);
			reject(err);
		});
		child.on('close', (code, signal) => {
			clearTimeout(timer);
			if (timedOut) {
				const tail = stderr.slice(-2000);
				reject(new Error(`runNode: ${script} timed out after ${timeoutMs} ms and was killed\nstderr:\n${tail}`));
			} else {
				resolve({ code, signal, stdout, stderr });
			}
		});
	});
}

/**
 * This process's open descriptors (those of every thread) on files under `dir`, as /proc/self/fd names them (a file
 * removed or renamed over while open ends in " (deleted)"). Linux only: callers skip where /proc/self/fd is missing.
 */
export function openFilesIn(dir: string): string[] {
	const open: string[] = [];
	for (const fd of readdirSync('/proc/self/fd')) {
		try {
			const target = readlinkSync(`/proc/self/fd/${fd}`);
			if (target.startsWith(dir)) open.push(target);
		} catch {
			// Closed meanwhile (the listing's own descriptor among them).
		}
	}
	return open;
}
