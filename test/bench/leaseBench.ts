// One computation across processes (docs/behaviour.md §3.6): how long after the holder is done a waiting process has
// the result. A child process holds the lease and computes; this process waits for the same call, and the time from
// the child's call returning (committed and released) to this process's call returning is the latency waiting adds.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { Cache, CallFile, ValueFile, cache, fleche } from 'fleche';
import { scratchDir } from './harness.ts';
import type * as reportModule from './report.ts';

type Report = Pick<typeof reportModule, 'target' | 'info'>;

const BODY_MS = 40;
const SAMPLES = 15;

/** The holder: the same two functions (same identity, so the same keys), called when this process says so. */
function holderScript(esm: string, root: string): string {
	return `
import { Cache, CallFile, ValueFile, cache, fleche, setLogger } from ${JSON.stringify(esm)};
import { createInterface } from 'node:readline';
setLogger(null);
const c = new Cache(new ValueFile({ root: ${JSON.stringify(join(root, 'values'))} }), new CallFile({ root: ${JSON.stringify(join(root, 'calls'))} }));
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const now = () => performance.timeOrigin + performance.now();
const say = (line) => process.stdout.write(line + '\\n');
const slowAsync = fleche(async (i) => { say('started'); await new Promise((r) => setTimeout(r, ${BODY_MS})); return i; }, { name: 'slowAsync', module: 'leaseBench' });
const slowSync = fleche((i) => { say('started'); Atomics.wait(sleeper, 0, 0, ${BODY_MS}); return i; }, { name: 'slowSync', module: 'leaseBench' });
for await (const line of createInterface({ input: process.stdin })) {
	const [variant, i] = line.split(' ');
	if (variant === 'ping');
	else if (variant === 'async') await cache(c, () => slowAsync(Number(i)));
	else cache(c, () => slowSync(Number(i)));
	say('done ' + now());
}
`;
}

export async function leaseBench(report: Report): Promise<void> {
	console.log('\none computation across processes: a waiting process gets the result after the holder is done');
	const root = scratchDir('fleche-lease-bench-');
	const cjs = createRequire(import.meta.url).resolve('fleche');
	const esm = pathToFileURL(cjs.replace(/cjs([/\\])index\.js$/, 'esm$1index.js')).href;
	const child = spawn(process.execPath, ['--input-type=module', '-e', holderScript(esm, root)], { stdio: ['pipe', 'pipe', 'inherit'] });
	const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
	const next = async (): Promise<string> => {
		const r = await lines.next();
		if (r.done === true) throw new Error('the lease bench holder exited');
		return r.value;
	};
	const c = new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') }));
	// Never run here: the child always holds the lease first.
	const slowAsync = fleche(async (i: number) => i, { name: 'slowAsync', module: 'leaseBench' });
	const slowSync = fleche((i: number) => i, { name: 'slowSync', module: 'leaseBench' });
	const now = (): number => performance.timeOrigin + performance.now();
	const latencies = { async: [] as number[], sync: [] as number[], pipe: [] as number[] };
	try {
		for (let i = 0; i < SAMPLES; i++) {
			for (const variant of ['async', 'sync'] as const) {
				child.stdin.write(`${variant} ${i}\n`);
				if ((await next()) !== 'started') throw new Error('unexpected holder output');
				if (variant === 'async') await cache(c, () => slowAsync(i));
				else cache(c, () => slowSync(i));
				const got = now();
				const done = Number((await next()).slice('done '.length));
				latencies[variant].push(got - done);
			}
			// The floor on this machine now: a line from the child, from its write to this process reading it.
			child.stdin.write('ping 0\n');
			const done = Number((await next()).slice('done '.length));
			latencies.pipe.push(now() - done);
		}
	} finally {
		child.stdin.end();
	}
	const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
	const p90 = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.9)]!;
	const asyncMs = median(latencies.async);
	const syncMs = median(latencies.sync);
	const pipeMs = median(latencies.pipe);
	console.log(
		`  async waiter ${asyncMs.toFixed(2)} ms (p90 ${p90(latencies.async).toFixed(2)}), sync waiter ${syncMs.toFixed(2)} ms (p90 ${p90(latencies.sync).toFixed(2)}); a bare line through a pipe ${pipeMs.toFixed(2)} ms`,
	);
	report.target('cross-process wait: latency after the result lands', asyncMs, 5, {
		value: `${asyncMs.toFixed(2)} ms`,
		goal: '≤ 5 ms',
		note: `async waiter (watch on the lease folder), file store, median of ${SAMPLES}, p90 ${p90(latencies.async).toFixed(2)} ms; a sync waiter (Atomics.wait polls, ≤ 8 ms apart) ${syncMs.toFixed(2)} ms; floor: a line from the holder through a pipe ${pipeMs.toFixed(2)} ms (the machine's wake-up latency now)`,
	});
}
