// `npm run bench`: fleche against the bare function and its peers, measured side by side in one run.
// Reports medians and ratios from this run; targets are checked against the same run's figures.
import { hash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import memoize from 'memoizee';
import pMemoize from 'p-memoize';
import { fleche, cache, digest, meta, Cache, ValueMemory, CallMemory, ValueFile, CallFile, setLogger } from 'fleche';
import { measure, formatNs, type Measurement } from './harness.ts';

setLogger(null);
const results: Measurement[] = [];
const rows: { target: string; value: string; goal: string; met: boolean | null; note: string }[] = [];

async function run(group: string, name: string, op: (i: number) => unknown, opts?: Parameters<typeof measure>[3]) {
	const m = await measure(group, name, op, opts);
	results.push(m);
	console.log(`  ${group.padEnd(22)} ${name.padEnd(38)} ${formatNs(m.nsPerOp).padStart(10)}  (±${formatNs(m.iqrNs / 2)})`);
	return m;
}

const trivial = (a: number, b: number) => a + b;
const trivialAsync = async (a: number, b: number) => a + b;
const tmp = mkdtempSync(join(tmpdir(), 'fleche-bench-'));

async function overheads(): Promise<void> {
	console.log('\nhit and miss of a trivial cached function (a + b)');
	// Metadata off: these figures are the cache machinery itself (Runtime metadata adds ~1 µs per miss).
	using _meta = meta([]);
	const bare = await run('baseline', 'bare function', (i) => trivial(i, 1));
	const bareAsync = await run('baseline', 'bare async function', (i) => trivialAsync(i, 1));
	const mz = memoize(trivial, { primitive: true });
	mz(1, 2);
	const mzHit = await run('memoizee', 'hit', () => mz(1, 2));
	const mzMiss = await run('memoizee', 'miss', (i) => mz(i, 2));
	const pm = pMemoize(trivialAsync, { cacheKey: (args) => `${args[0]},${args[1]}` });
	await pm(1, 2);
	const pmHit = await run('p-memoize', 'hit (async)', () => pm(1, 2));
	const pmMiss = await run('p-memoize', 'miss (async)', (i) => pm(i, 2));

	const mem = new Cache(new ValueMemory(), new CallMemory());
	const memAdd = fleche(trivial, { name: 'trivial', module: 'bench' });
	const memAddAsync = fleche(trivialAsync, { name: 'trivialAsync', module: 'bench' });
	const memHit = await cache(mem, async () => {
		memAdd(1, 2);
		await memAddAsync(1, 2);
		const hit = await run('fleche memory', 'hit', () => memAdd(1, 2));
		await run('fleche memory', 'hit (async)', () => memAddAsync(1, 2));
		const miss = await run('fleche memory', 'miss', (i) => memAdd(i, 3));
		rows.push({
			target: 'memory miss overhead',
			value: formatNs(miss.nsPerOp - bare.nsPerOp),
			goal: '(no target; Python ~310 µs)',
			met: null,
			note: `×${(miss.nsPerOp / mzMiss.nsPerOp).toFixed(1)} memoizee miss`,
		});
		return hit;
	});
	rows.push({
		target: 'memory hit',
		value: formatNs(memHit.nsPerOp),
		goal: '≤ 5 µs',
		met: memHit.nsPerOp <= 5000,
		note: `×${(memHit.nsPerOp / mzHit.nsPerOp).toFixed(1)} memoizee, ×${(memHit.nsPerOp / pmHit.nsPerOp).toFixed(2)} p-memoize; Python ~190–250 µs`,
	});

	const file = new Cache(new ValueFile({ root: join(tmp, 'values') }), new CallFile({ root: join(tmp, 'calls') }));
	await cache(file, async () => {
		memAdd(1, 2);
		await memAddAsync(1, 2);
		const hit = await run('fleche file', 'hit', () => memAdd(1, 2));
		const hitAsync = await run('fleche file', 'hit (async)', () => memAddAsync(1, 2));
		const miss = await run('fleche file', 'miss', (i) => memAdd(i + 1e6, 3), { samples: 9 });
		const missAsync = await run('fleche file', 'miss (async)', (i) => memAddAsync(i + 2e6, 3), { samples: 9 });
		rows.push({
			target: 'file hit',
			value: formatNs(hit.nsPerOp),
			goal: '≤ 50 µs',
			met: hit.nsPerOp <= 50_000,
			note: `async ${formatNs(hitAsync.nsPerOp)}; Python pickle+SQL ~1.2 ms`,
		});
		const over = miss.nsPerOp - bare.nsPerOp;
		rows.push({
			target: 'file miss overhead',
			value: formatNs(over),
			goal: '≤ 300 µs',
			met: over <= 300_000,
			note: `async ${formatNs(missAsync.nsPerOp - bareAsync.nsPerOp)}; writes 3 files (2 values + 1 record); Python ~3.5 ms`,
		});
	});
	void pmMiss;
}

async function digests(): Promise<void> {
	console.log('\ndigest throughput');
	await run('digest', 'small number', (i) => digest(i));
	await run('digest', 'small object {a,b:[1,2,3]}', (i) => digest({ a: i, b: [1, 2, 3] }));
	const big = new Float64Array((64 * 1024 * 1024) / 8);
	for (let i = 0; i < big.length; i += 4096) big[i] = i;
	const bytes = new Uint8Array(big.buffer);
	const bare = await run('digest', 'bare sha256, 64 MB', () => hash('sha256', bytes, 'hex'), { ops: 1, samples: 7 });
	const ours = await run('digest', 'digest(Float64Array 64 MB)', () => digest(big), { ops: 1, samples: 7 });
	const ratio = bare.nsPerOp / ours.nsPerOp;
	rows.push({
		target: 'large typed array digest',
		value: `${((64 / ours.nsPerOp) * 1e9 / 1024).toFixed(2)} GB/s`,
		goal: '≥ 80 % of bare SHA-256',
		met: ratio >= 0.8,
		note: `${(ratio * 100).toFixed(0)} % of bare (${((64 / bare.nsPerOp) * 1e9 / 1024).toFixed(2)} GB/s)`,
	});
}

try {
	console.log(`fleche bench — node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'})`);
	await overheads();
	await digests();
} finally {
	rmSync(tmp, { recursive: true, force: true });
}

const table = [
	'| target | measured | goal | met | notes |',
	'| --- | --- | --- | --- | --- |',
	...rows.map((r) => `| ${r.target} | ${r.value} | ${r.goal} | ${r.met === null ? '—' : r.met ? 'yes' : '**no**'} | ${r.note} |`),
].join('\n');
console.log(`\n${table}\n`);
const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', '..', 'test', 'bench');
writeFileSync(join(outDir, 'results.json'), JSON.stringify({ node: process.version, date: new Date().toISOString(), results, targets: rows }, null, 2));
writeFileSync(join(outDir, 'results.md'), `${table}\n`);
console.log(`wrote test/bench/results.json and test/bench/results.md`);
