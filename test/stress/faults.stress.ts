// Faults: writers SIGKILLed at random instants (the store always opens, no partial entry is ever read, stale locks
// are recovered), a full disk and a read-only folder (a clear warning, and the function still returns its result).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { captureLogs } from '../support/logs.ts';
import { runNode, tmpDir } from '../support/tmp.ts';
import { expectedBig, openCache, prng, withSeed } from './shared.ts';

const writer = fileURLToPath(new URL('./fixtures/faultWriter.js', import.meta.url));
const KILLS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a writer, waits for its "ready" line, lets it write for `ms`, then SIGKILLs it; returns what it stored. */
async function killAfter(root: string, start: number, ms: number): Promise<number[]> {
	const child = spawn(process.execPath, [writer, 'kill', root, String(start), '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
	let stderr = '';
	child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
	const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
	let stdout = '';
	await new Promise<void>((resolve, reject) => {
		child.stdout.setEncoding('utf8').on('data', (c: string) => {
			stdout += c;
			if (stdout.includes('ready')) resolve();
		});
		child.on('close', (code) => reject(new Error(`writer exited (${code}) before it was killed:\n${stderr}`)));
	});
	await sleep(ms);
	child.kill('SIGKILL');
	await exited;
	assert.equal(child.signalCode, 'SIGKILL', `writer ended by itself:\n${stderr}`);
	return [...stdout.matchAll(/^stored (\d+)$/gm)].map((m) => Number(m[1]));
}

/** Every stored call of `big` loads whole and right, and none announced as stored is missing; returns the count. */
function verify(root: string, announced: readonly number[]): number {
	const { cache: store } = openCache(root, 'file');
	const held = new Set<number>();
	let checked = 0;
	for (const record of store.records()) {
		const call = store.load(record.key);
		const i = call.arguments['i'] as number;
		assert.equal(call.result, expectedBig(i), `entry for big(${i}) is partial or wrong`);
		held.add(i);
		checked++;
	}
	const lost = announced.filter((i) => !held.has(i));
	assert.deepEqual(lost, [], 'entries the writer finished before it was killed are lost');
	return checked;
}

const totals = (root: string) => {
	const stats = [...openCache(root, 'file').calls.stats()];
	return { hits: stats.reduce((s, x) => s + x.hits, 0), misses: stats.reduce((s, x) => s + x.misses, 0) };
};

test(`faults: SIGKILL a writer at random points ${KILLS} times`, { timeout: 240_000 }, () => withSeed(async (seed) => {
	const logs = captureLogs();
	const root = tmpDir();
	const rnd = prng(seed);
	let start = 3;
	let checked = 0;
	const announced: number[] = [];
	for (let k = 0; k < KILLS; k++) {
		announced.push(...(await killAfter(root, start, 5 + Math.floor(rnd() * 300))));
		// The store opens, whatever it holds is whole and nothing finished is lost, after every single kill.
		checked = verify(root, announced);
		start = 1000 * (k + 1);
	}
	const statsDir = join(root, 'calls', '.stats');
	const journals = () => readdirSync(statsDir).filter((f) => f.endsWith('.jsonl')).length;
	const journalsBefore = journals();

	// A fresh lock is respected: nobody compacts while it is there.
	const lock = join(statsDir, '.compact.lock');
	closeSync(openSync(lock, 'w'));
	const before = totals(root);
	assert.equal(journals(), journalsBefore, 'compacted although another process holds the lock');
	// A lock left by a process killed long ago is stale: the next writer recovers it and compacts (a reader never does).
	const old = new Date(Date.now() - 120_000);
	utimesSync(lock, old, old);
	assert.deepEqual(totals(root), before, 'statistics changed by reading');
	assert.equal(journals(), journalsBefore, 'a reader compacted');
	const statsWriter = openCache(root, 'file').calls;
	const [one] = statsWriter.stats();
	statsWriter.addStats([{ ...one!, hits: 0, misses: 0, lastHit: null, computeSeconds: 0, savedSeconds: 0 }]);
	statsWriter.stats();
	assert.deepEqual(totals(root), before, 'statistics changed by compaction');
	const journalsAfter = journals();
	// Every killed writer left a journal (it flushed before "ready"): more than the 16 that make a writer compact.
	assert.ok(journalsBefore >= 16, `expected a journal per killed writer, found ${journalsBefore}`);
	assert.ok(!existsSync(lock), 'stale lock not removed');
	assert.ok(journalsAfter < journalsBefore, `journals not compacted (${journalsBefore} → ${journalsAfter})`);
	assert.deepEqual(logs.records.map((r) => `${r.code}: ${r.message}`), [], 'a killed writer left something that warns');
	console.log(
		`stress faults (SIGKILL): ${KILLS} faults injected, ${checked} entries verified whole (${announced.length} announced), ${before.misses} misses + ${before.hits} hits in statistics, ` +
			`stale lock recovered (${journalsBefore} → ${journalsAfter} journals), lost = 0, partial reads = 0 (seed ${seed})`,
	);
}));

/** Runs the degraded writer (optionally under a shell prefix such as `ulimit -f`) and checks result + warning. */
async function degraded(label: string, root: string, expectWarning: RegExp, opts: { uid?: number; ulimitBlocks?: number } = {}) {
	const args = [writer, 'degraded', root, '0', '3'];
	const env: NodeJS.ProcessEnv = { ...process.env, HOME: root };
	delete env['NODE_TEST_CONTEXT'];
	let out: { code: number | null; stdout: string; stderr: string };
	if (opts.uid !== undefined || opts.ulimitBlocks !== undefined) {
		const shell = opts.ulimitBlocks === undefined ? `exec "$0" "$@"` : `ulimit -f ${opts.ulimitBlocks}; exec "$0" "$@"`;
		const r = spawnSync('/bin/sh', ['-c', shell, process.execPath, ...args], {
			encoding: 'utf8',
			cwd: root,
			env,
			timeout: 60_000,
			...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }),
		});
		out = { code: r.status, stdout: r.stdout, stderr: r.stderr };
	} else {
		out = await runNode(writer, args.slice(1), { cwd: root, env });
	}
	assert.equal(out.code, 0, `${label}: the writer failed:\n${out.stderr}`);
	const { ok, warnings } = JSON.parse(out.stdout) as { ok: number; warnings: string[] };
	assert.equal(ok, 3, `${label}: the function did not return its results`);
	assert.ok(warnings.length > 0, `${label}: no warning`);
	assert.ok(warnings.some((w) => expectWarning.test(w)), `${label}: no clear warning, got:\n${warnings.join('\n')}`);
	console.log(`stress faults (${label}): 3 calls returned their results, ${warnings.length} warning(s), e.g. ${warnings[0]!.slice(0, 160)}`);
}

test('faults: a full disk gives a clear warning and the function still returns', { timeout: 60_000 }, async () => {
	const root = tmpDir();
	const mnt = join(root, 'disk');
	mkdirSync(mnt);
	// A tiny tmpfs is a real full disk (ENOSPC); it needs root. Otherwise a file-size limit (EFBIG) stands in.
	const mounted = process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status === 0;
	try {
		if (mounted) await degraded('full disk, 64 KB tmpfs', mnt, /ENOSPC|no space/i);
		else await degraded('full disk, ulimit -f', mnt, /EFBIG|too large/i, { ulimitBlocks: 16 });
	} finally {
		if (mounted) spawnSync('umount', [mnt]);
	}
});

test('faults: a read-only folder gives a clear warning and the function still returns', { timeout: 60_000 }, async () => {
	const root = tmpDir();
	const store = join(root, 'store');
	mkdirSync(join(store, 'values'), { recursive: true });
	mkdirSync(join(store, 'calls'), { recursive: true });
	chmodSync(root, 0o755);
	if (process.getuid?.() === 0) {
		// Root writes through any mode: the writer runs as `nobody`, for whom the root-owned folders are read-only.
		await degraded('read-only folder (as nobody)', store, /EACCES|EPERM|permission|read-only/i, { uid: 65534 });
	} else {
		for (const d of [store, join(store, 'values'), join(store, 'calls')]) chmodSync(d, 0o555);
		try {
			await degraded('read-only folder', store, /EACCES|EPERM|permission|read-only/i);
		} finally {
			for (const d of [store, join(store, 'values'), join(store, 'calls')]) chmodSync(d, 0o755);
		}
	}
});
