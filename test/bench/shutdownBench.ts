// Bench part (runtime/src/shutdown.ts): how long a program busy in synchronous code takes to end at SIGTERM, its
// held-back writes (statistics counted in memory) flushed. The child makes cached calls into a file store in a loop
// that never returns to the event loop; the signal is sent once it has been busy for a second (past the first
// milliseconds, while its watchdog thread starts), and the time is taken from the signal to the child's exit. The
// floor is the same child without fleche's listener: ended by the default action at once.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileCache } from 'fleche';
import type * as reportModule from './report.ts';
import { scratchDir } from './harness.ts';

type Report = Pick<typeof reportModule, 'target' | 'info'>;

/** The busy child: calls square(x) for ever, printing x after every hundredth call. */
function childScript(dir: string): string {
	const file = join(dir, 'busy.mjs');
	writeFileSync(
		file,
		[
			"import { writeSync } from 'node:fs';",
			`import { cache, fileCache, fleche } from ${JSON.stringify(import.meta.resolve('fleche'))};`,
			"const square = fleche((x) => x * x, { name: 'square', module: 'bench/busy' });",
			'const store = fileCache(process.argv[2]);',
			"writeSync(1, 'ready\\n');",
			'const until = Date.now() + 60_000;',
			'cache(store, () => { for (let x = 0; Date.now() < until; x++) { square(x); if (x % 100 === 0) writeSync(1, `${x}\\n`); } });',
			'process.exit(5);',
		].join('\n'),
	);
	return file;
}

/** One round: milliseconds from SIGTERM to exit, how it ended, and the last call it reported. */
async function round(script: string, root: string): Promise<{ ms: number; signal: NodeJS.Signals | null; last: number }> {
	const proc = spawn(process.execPath, [script, root], { stdio: ['ignore', 'pipe', 'inherit'] });
	let out = '';
	let readyAt = 0;
	const ended = new Promise<NodeJS.Signals | null>((resolve) => proc.once('exit', (_code, signal) => resolve(signal)));
	await new Promise<void>((resolve) => {
		proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
			out += chunk;
			if (readyAt === 0 && out.includes('ready')) readyAt = performance.now();
			if (readyAt !== 0 && performance.now() - readyAt > 1000) resolve();
		});
	});
	const sent = performance.now();
	proc.kill('SIGTERM');
	const hang = setTimeout(() => proc.kill('SIGKILL'), 30_000);
	const signal = await ended;
	const ms = performance.now() - sent;
	clearTimeout(hang);
	const lines = out.split('\n').filter((l) => /^\d+$/.test(l));
	return { ms, signal, last: Number(lines.at(-1) ?? -1) };
}

export async function shutdownBench(report: Report): Promise<void> {
	console.log('\nSIGTERM to a program busy in synchronous code (file store)');
	const dir = scratchDir('fleche-shutdown-bench-');
	const script = childScript(dir);
	const times: number[] = [];
	const problems: string[] = [];
	for (let r = 0; r < 5; r++) {
		const root = join(dir, `store${r}`);
		const { ms, signal, last } = await round(script, root);
		times.push(ms);
		// Held-back writes: every call it reported is stored, and counted in the statistics it flushed.
		const store = fileCache(root);
		const misses = store.stats({ name: 'square' }).reduce((n, s) => n + s.misses, 0);
		const records = [...store.records({ name: 'square' })].length;
		if (signal !== 'SIGTERM') problems.push(`round ${r} ended by ${signal}`);
		if (records < last + 1 || misses !== records) problems.push(`round ${r}: ${records} records, ${misses} misses counted, ${last + 1}+ calls reported`);
		console.log(`  round ${r}: ended by ${signal} ${ms.toFixed(0)} ms after SIGTERM; ${records} calls stored, ${misses} misses counted`);
	}
	const median = [...times].sort((a, b) => a - b)[times.length >> 1]!;
	report.target('SIGTERM ends a busy synchronous program', problems.length === 0 ? median : Infinity, 1000, {
		value: `${median.toFixed(0)} ms`,
		goal: '≤ 1 s, held-back writes flushed',
		note: `${problems.length === 0 ? 'every round ended by SIGTERM with every reported call stored and counted' : problems.join('; ')}; median of 5 rounds (${times.map((t) => t.toFixed(0)).join(', ')} ms); the watchdog gives the listener 250 ms first`,
	});
}
