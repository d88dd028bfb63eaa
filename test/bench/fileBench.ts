// Bench of file arguments (docs/behaviour.md §1.2a, files by content): a cached call whose argument is a 1 GiB file.
// Unchanged, a hit must cost a stat, not a hash (the stat cache); changed, the key costs one streaming SHA-256 at the
// speed of a bare one. The peer is the bare streaming SHA-256 of the same file, what keying by content costs without
// a stat cache; and the same hit in a new process, which the persisted stat cache keeps stat-only. The file is written once with real (pseudo-random) bytes, so the page cache, not a sparse file's
// holes, is what the reads come from in both columns.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { closeSync, openSync, readSync, statSync, utimesSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cache, digest, fileCache, fleche } from 'fleche';
import { fileDigestCounters } from 'fleche/inspect';
import { formatNs, scratchDir } from './harness.ts';
import type * as reportModule from './report.ts';

type Report = Pick<typeof reportModule, 'run' | 'target' | 'info'>;

const SIZE = 1 << 30;
const CHUNK = 1 << 20;

/** Writes SIZE bytes of a cheap pseudo-random pattern (a chunk rotated per MiB) with an mtime an hour old. */
function writeBig(path: string): void {
	const chunk = createHash('sha512');
	const block = Buffer.alloc(CHUNK);
	for (let i = 0; i < CHUNK; i += 64) chunk.copy().update(String(i)).digest().copy(block, i);
	const fd = openSync(path, 'w');
	try {
		for (let off = 0; off < SIZE; off += CHUNK) {
			block.writeUInt32LE(off / CHUNK, 0);
			writeSync(fd, block, 0, CHUNK, off);
		}
	} finally {
		closeSync(fd);
	}
	age(path);
}

/** An mtime well before now, so the stat cache trusts its entry at once (the racy rule). */
function age(path: string): void {
	const old = Date.now() / 1000 - 3600;
	utimesSync(path, old, old);
}

function bareSha(path: string): string {
	const hasher = createHash('sha256');
	const buffer = Buffer.allocUnsafe(CHUNK);
	const fd = openSync(path, 'r');
	try {
		for (let n; (n = readSync(fd, buffer, 0, CHUNK, null)) > 0;) hasher.update(buffer.subarray(0, n));
	} finally {
		closeSync(fd);
	}
	return hasher.digest('hex');
}

/** One cached call on the file in a new process (a hit: the store has it), timed there, with that process's counters. */
function inChild(path: string, store: string, indexDir: string): { ns: number; hashed: number; statOnly: number } {
	const require = createRequire(import.meta.url);
	const esm = (name: string): string => pathToFileURL(require.resolve(name).replace(/cjs([/\\])(.*)$/, 'esm$1$2')).href;
	const script = [
		"import { statSync } from 'node:fs';",
		`import { cache, fileCache, fleche } from ${JSON.stringify(esm('fleche'))};`,
		`import { fileDigestCounters } from ${JSON.stringify(esm('fleche/inspect'))};`,
		"const size = fleche((u) => statSync(u).size, { name: 'size', module: 'bench' });",
		`const store = fileCache(${JSON.stringify(store)});`,
		'const t0 = process.hrtime.bigint();',
		`cache(store, () => size(new URL(${JSON.stringify(pathToFileURL(path).href)})));`,
		'const ns = Number(process.hrtime.bigint() - t0);',
		'console.log(JSON.stringify({ ns, ...fileDigestCounters() }));',
	].join('\n');
	const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
		env: { ...process.env, FLECHE_INDEX_DIR: indexDir },
		encoding: 'utf8',
		stdio: ['ignore', 'pipe', 'inherit'],
	});
	return JSON.parse(out.trim().split('\n').at(-1)!) as { ns: number; hashed: number; statOnly: number };
}

export async function fileBench(report: Report): Promise<void> {
	console.log('\na cached call whose argument is a 1 GiB file (file: URL)');
	const dir = scratchDir('fleche-filebench-');
	const path = join(dir, 'input.bin');
	writeBig(path);
	const url = pathToFileURL(path);
	const bare = await report.run('bare sha256', 'streaming SHA-256 of the 1 GiB file', () => bareSha(path), { ops: 1, samples: 3 });
	const size = fleche((u: URL) => statSync(u).size, { name: 'size', module: 'bench' });
	await cache(fileCache(join(dir, 'store')), async () => {
		size(url); // the miss: hashes the file once and stores its bytes
		const before = fileDigestCounters();
		const hit = await report.run('fleche file', 'hit, 1 GiB file argument unchanged', () => size(url), { samples: 9 });
		const during = fileDigestCounters();
		report.target('1 GiB file argument, unchanged: hit', hit.nsPerOp, 1_000_000, {
			value: formatNs(hit.nsPerOp),
			goal: 'stat only (≤ 1 ms, no hash)',
			note: `${during.hashed - before.hashed} hashes and ${during.statOnly - before.statOnly} stat-only answers during the hits; bare SHA-256 of the file ${formatNs(bare.nsPerOp)} (×${(bare.nsPerOp / hit.nsPerOp).toFixed(0)})`,
		});
	});
	// A new process, the file unchanged: the stat cache persisted by the process before it (in its FLECHE_INDEX_DIR)
	// answers with a stat. The first child hashes the file (nothing persisted yet in its folder), the second must not.
	const indexDir = join(dir, 'index');
	const first = inChild(path, join(dir, 'store'), indexDir);
	const second = inChild(path, join(dir, 'store'), indexDir);
	report.target('1 GiB file argument, unchanged, new process: hit', second.ns, 50_000_000, {
		value: `${formatNs(second.ns)}, ${second.hashed} hashes`,
		goal: 'stat only (0 hashes; ≤ 50 ms, the first call of a process)',
		note: `the process before it hashed it (${first.hashed} hash, ${formatNs(first.ns)}) and persisted its stamp; ${second.statOnly} stat-only answer`,
	});
	// A changed file: one byte rewritten and the mtime set back before each sample, so every digest hashes it once.
	let flip = 0;
	const changed = await report.run('digest', 'digest(file URL) after a change, 1 GiB', () => digest(url), {
		ops: 1,
		samples: 3,
		setup: () => {
			const fd = openSync(path, 'r+');
			writeSync(fd, Buffer.from([++flip & 0xff]), 0, 1, SIZE - 1);
			closeSync(fd);
			age(path);
		},
	});
	report.target('1 GiB file argument, changed: one streaming hash', changed.nsPerOp, bare.nsPerOp * 1.25, {
		value: formatNs(changed.nsPerOp),
		goal: '≤ 1.25× bare SHA-256',
		note: `bare streaming SHA-256 ${formatNs(bare.nsPerOp)} (×${(changed.nsPerOp / bare.nsPerOp).toFixed(2)})`,
	});
}
