// Runs the fleche CLI in the user's Node (never user code in the extension host): spawns it with --json, parses
// its JSON lines (runtime/src/cli/protocol.ts, version 1) and kills it when the token is cancelled.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as vscode from 'vscode';
import { parseCliLine, type CliMessage } from '../model/cliMessages.js';

export interface CliRun {
	readonly ok: boolean;
	/** Exit code (null when killed). */
	readonly code: number | null;
	readonly cancelled: boolean;
	readonly messages: readonly CliMessage[];
	readonly stderr: string;
}

export interface CliOptions {
	/** The user's node (setting `fleche.node.path`). */
	readonly node: string;
	/** Where the CLI runs (the workspace folder): its package resolves the user's modules. */
	readonly cwd: string;
	/** The CLI file shipped inside the extension (`dist/cli.js`), used when the workspace has no fleche. */
	readonly bundledCli: string;
	/** Added to the child's environment (a kept PGPASSWORD: never on its command line). */
	readonly env?: Readonly<Record<string, string>>;
	readonly token?: vscode.CancellationToken;
	readonly onMessage?: (message: CliMessage) => void;
	readonly log?: (line: string) => void;
}

/**
 * The CLI to run for a folder: the workspace's installed `fleche` package (so rerun uses the same runtime version
 * as the user's code, and the same function registry), else the one bundled with the extension.
 */
export function resolveCli(folder: string, bundledCli: string): string {
	try {
		const require = createRequire(join(folder, 'package.json'));
		const pkgJson = require.resolve('fleche/package.json');
		const candidate = join(dirname(pkgJson), 'bin', 'fleche.mjs');
		if (existsSync(candidate)) return candidate;
	} catch {
		// not installed in the workspace
	}
	return bundledCli;
}

export function runCli(args: readonly string[], options: CliOptions): Promise<CliRun> {
	const cli = resolveCli(options.cwd, options.bundledCli);
	const argv = [cli, ...args, '--json'];
	options.log?.(`$ ${options.node} ${argv.join(' ')}  (in ${options.cwd})`);
	return new Promise((resolve, reject) => {
		const child = spawn(options.node, argv, {
			cwd: options.cwd,
			stdio: ['ignore', 'pipe', 'pipe'],
			env: { ...process.env, ...options.env, ELECTRON_RUN_AS_NODE: '1' },
		});
		const messages: CliMessage[] = [];
		let stderr = '';
		let buffered = '';
		let cancelled = false;
		const sub = options.token?.onCancellationRequested(() => {
			cancelled = true;
			child.kill('SIGTERM');
			setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 2000).unref();
		});
		const take = (line: string): void => {
			if (line.trim() === '') return;
			const message = parseCliLine(line);
			if (message === undefined) {
				options.log?.(line);
				return;
			}
			messages.push(message);
			options.onMessage?.(message);
		};
		child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
			buffered += chunk;
			let nl: number;
			while ((nl = buffered.indexOf('\n')) >= 0) {
				take(buffered.slice(0, nl));
				buffered = buffered.slice(nl + 1);
			}
		});
		child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
			stderr += chunk;
			for (const line of chunk.split('\n')) if (line.trim()) options.log?.(line);
		});
		child.on('error', (err) => {
			sub?.dispose();
			reject(new Error(`Cannot start ${options.node}: ${err.message} (setting fleche.node.path)`, { cause: err }));
		});
		child.on('close', (code) => {
			sub?.dispose();
			take(buffered);
			resolve({ ok: code === 0 && !cancelled, code, cancelled, messages, stderr });
		});
	});
}
