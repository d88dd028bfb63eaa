// Bench part (docs/behaviour.md §3.2, §7): submit-to-result through wrapExecutor over threads.js and piscina, against the bare pools,
// and 10,000 cached submissions on the default (file) store (target ≤ 100 ms, zero tasks queued), beside its floor.
import { hash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { Pool, spawn } from 'threads';
import {
	bind,
	cache,
	Cache,
	CallMemory,
	CallVoid,
	describeBound,
	fileCache,
	meta,
	threadsWorker,
	ValueMemory,
	ValueVoid,
	workerFile,
	wrapExecutor,
	type BoundCall,
	type BoundReply,
	type Fleche,
} from 'fleche';
import { formatNs, scratchDir } from './harness.ts';
import { info, run, target } from './report.ts';

type Runner = { run(call: BoundCall): Promise<BoundReply> };
type Inc = Fleche<(x: number) => number>;

/**
 * Workers import a cached function's module by its file, so the function cannot live in this (bundled) bench: it is
 * written to a temporary module that imports the built package by its URL.
 */
async function benchFunction(dir: string): Promise<Inc> {
	const file = join(dir, 'incModule.mjs');
	writeFileSync(file, `import { fleche } from ${JSON.stringify(import.meta.resolve('fleche'))};\nexport const inc = fleche((x) => x + 1, { name: 'inc', module: 'bench/executor' });\n`);
	return ((await import(file)) as { inc: Inc }).inc;
}

/** Measures submit-to-result over threads.js and piscina, bare and wrapped, hits and misses. */
export async function executorBench(): Promise<void> {
	console.log('\nwrapExecutor: submit-to-result over worker pools (2 threads), one submission at a time');
	const dir = scratchDir('fleche-executor-bench-');
	using _meta = meta([]);
	const inc = await benchFunction(dir);
	const nowhere = new Cache(new ValueVoid(), new CallVoid());
	const memory = new Cache(new ValueMemory(), new CallMemory());
	cache(memory, () => inc(1));
	const call = cache(nowhere, () => describeBound(bind(inc), 1));

	const bareThreads = Pool(() => spawn(threadsWorker()), 2);
	const threads = wrapExecutor(Pool(() => spawn(threadsWorker()), 2));
	let queued = 0;
	(threads.events() as { subscribe(o: { next(e: { type: string }): void; error(err: unknown): void }): unknown }).subscribe({
		next: (e) => {
			if (e.type === 'taskQueued') queued++;
		},
		// A worker that fails to start errors the event stream; unheard, that error would crash the process.
		error: () => undefined,
	});
	const barePiscina = new Piscina({ filename: workerFile('piscina'), minThreads: 2, maxThreads: 2 });
	const piscina = wrapExecutor(new Piscina({ filename: workerFile('piscina'), minThreads: 2, maxThreads: 2 }));
	try {
		const opts = { samples: 9 };
		const tBare = await run('threads.js', 'bare pool.queue (bound call)', () => Promise.resolve(bareThreads.queue((w) => (w as unknown as Runner).run(call))), opts);
		const tMiss = await run('threads.js', 'wrapped submit, miss', (i) => cache(nowhere, () => threads.submit(inc, i)), opts);
		const tHit = await run('threads.js', 'wrapped submit, hit', () => cache(memory, () => threads.submit(inc, 1)));
		const pBare = await run('piscina', 'bare pool.run (bound call)', () => barePiscina.run(call), opts);
		const pMiss = await run('piscina', 'wrapped submit, miss', (i) => cache(nowhere, () => piscina.submit(inc, i)), opts);
		const pHit = await run('piscina', 'wrapped submit, hit', () => cache(memory, () => piscina.submit(inc, 1)));
		info('threads.js submit (miss / hit)', `${formatNs(tMiss.nsPerOp)} / ${formatNs(tHit.nsPerOp)}`, `bare pool ${formatNs(tBare.nsPerOp)} per task`);
		info('piscina submit (miss / hit)', `${formatNs(pMiss.nsPerOp)} / ${formatNs(pHit.nsPerOp)}`, `bare pool ${formatNs(pBare.nsPerOp)} per task`);

		// 10,000 cached submissions at once on the default store, a file store: the entry is on disk, each submission
		// keys its call and counts its hit. The floor, in interleaved rounds: 10,000 × (SHA-256 of a key text + a Map
		// lookup + a resolved promise), what any cache must do per submission. Medians of the rounds.
		const files = fileCache(join(dir, 'store'));
		await cache(files, () => threads.submit(inc, 1));
		const keyText = `fleche.call/1\n["inc","bench/executor",1,null]\n"x":${'0'.repeat(64)}\n`;
		const table = new Map([[hash('sha256', keyText, 'hex'), 2]]);
		const before = queued;
		const ours: number[] = [];
		const floors: number[] = [];
		for (let round = 0; round < 9; round++) {
			let started = performance.now();
			await cache(files, () => Promise.all(Array.from({ length: 10_000 }, () => threads.submit(inc, 1))));
			ours.push(performance.now() - started);
			started = performance.now();
			await Promise.all(Array.from({ length: 10_000 }, (_, i) => Promise.resolve(table.get(hash('sha256', keyText + (i & 1), 'hex')))));
			floors.push(performance.now() - started);
		}
		const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
		const tasks = queued - before;
		target('10,000 cached submissions (default file store)', median(ours), 100, {
			value: `${median(ours).toFixed(1)} ms`,
			goal: '≤ 100 ms, 0 tasks',
			note: `${tasks} tasks queued (threads.js pool); floor (sha256 of a key + Map.get + a resolved promise, ×10,000, interleaved) ${median(floors).toFixed(1)} ms; identical submissions in one turn share one read of the store; median of 9 rounds`,
		});
		if (tasks !== 0) target('tasks queued by cached submissions', tasks, 0, { value: String(tasks), goal: '0' });
	} finally {
		await Promise.all([bareThreads.terminate(true), threads.terminate(true), barePiscina.destroy(), piscina.destroy()]);
	}
}
