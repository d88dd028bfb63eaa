// `npm run bench`: fleche against the bare function and its peers, measured side by side in one run.
// Reports medians and ratios from this run; targets are checked against the same run's figures. Each part records
// into report.ts; the Python fleche figures of docs/behaviour.md §7 are fixed anchors beside ours.
import { createHash, hash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import cacache from 'cacache';
import memoize from 'memoizee';
import objectHash from 'object-hash';
import pMemoize from 'p-memoize';
import { fleche, cache, digest, meta, Cache, ValueMemory, CallMemory, ValueFile, CallFile, Runtime, setLogger, flushStats } from 'fleche';
import { formatNs, removeScratch, scratchDir } from './harness.ts';
import { bullmqBench } from './bullmqBench.ts';
import { executorBench } from './executorBench.ts';
import { fileBench } from './fileBench.ts';
import { extensionBench } from './extensionBench.ts';
import { inspectBench } from './inspectBench.ts';
import { leaseBench } from './leaseBench.ts';
import { anchor, anchors, info, interleaved, interleavedRounds, loadNote, median, results, rows, run, target } from './report.ts';
import { shutdownBench } from './shutdownBench.ts';
import { scaleBench } from './scaleBench.ts';
import { pgBench } from './pgBench.ts';
import { sqlBench } from './sqlBench.ts';
import { sqlReadsBench } from './sqlReadsBench.ts';

setLogger(null);

const trivial = (a: number, b: number) => a + b;
const trivialAsync = async (a: number, b: number) => a + b;
const tmp = scratchDir('fleche-bench-');
const ratio = (a: number, b: number) => `×${(a / b).toFixed(a / b < 10 ? 2 : 0)}`;

async function overheads(): Promise<void> {
	console.log('\nhit and miss of a trivial cached function (a + b)');
	// Metadata off: these figures are the cache machinery itself (the default-metadata miss is its own row below).
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

	// cacache is the on-disk peer: a content-addressed store, here keyed by the arguments like a call record.
	const cc = join(tmp, 'cacache');
	await cacache.put(cc, '1,2', '3');
	const ccHit = await run('cacache (disk)', 'get (hit)', () => cacache.get(cc, '1,2'));
	const ccMiss = await run('cacache (disk)', 'put (miss: store result)', (i) => cacache.put(cc, `${i},3`, String(i + 3)), {
		samples: 9,
	});

	const mem = new Cache(new ValueMemory(), new CallMemory());
	const add = fleche(trivial, { name: 'trivial', module: 'bench' });
	const addAsync = fleche(trivialAsync, { name: 'trivialAsync', module: 'bench' });
	await cache(mem, async () => {
		add(1, 2);
		await addAsync(1, 2);
		const hit = await run('fleche memory', 'hit', () => add(1, 2));
		const hitAsync = await run('fleche memory', 'hit (async)', () => addAsync(1, 2));
		// hashCode 'deep': the module graph is read once, at the first call; a hit then costs what any hit costs.
		const addDeep = fleche(trivial, { name: 'trivialDeep', module: 'bench', hashCode: 'deep' });
		const firstUse = performance.now();
		addDeep(1, 2);
		const firstMs = performance.now() - firstUse;
		const hitDeep = await run('fleche memory', "hit, hashCode 'deep'", () => addDeep(1, 2));
		info(
			"hashCode 'deep' hit",
			formatNs(hitDeep.nsPerOp),
			`default hit ${formatNs(hit.nsPerOp)} (${ratio(hitDeep.nsPerOp, hit.nsPerOp)}); the first call read and digested the module graph (this bundle, ${(statSync(fileURLToPath(import.meta.url)).size / 1e6).toFixed(1)} MB) in ${firstMs.toFixed(0)} ms, once per process`,
		);
		const miss = await run('fleche memory', 'miss', (i) => add(i, 3));
		const missAsync = await run('fleche memory', 'miss (async)', (i) => addAsync(i, 3));
		// The floor of a hit: the SHA-256 of a key text of the same length, and a Map lookup; in interleaved rounds.
		const keyText = `fleche.call/1\n["trivial","bench",1,null]\n"a":${'0'.repeat(64)}\n"b":${'1'.repeat(64)}\n`;
		const table = new Map([[hash('sha256', keyText, 'hex'), 3]]);
		// A hit on a call this process has not repeated lately: 30,000 stored calls in rotation, more than the keys a
		// process remembers (10,000), so each of these hits composes and hashes its key text as a first hit would.
		for (let i = 0; i < 30_000; i++) add(i, 4);
		const hitCold = await run('fleche memory', 'hit, 30,000 calls in rotation', (i) => add(i % 30_000, 4));
		const hitLoad = loadavg()[0]!;
		const [hitAB, floor] = await interleaved(
			{ group: 'fleche memory', name: 'hit (interleaved with its floor)', op: () => add(1, 2) },
			{ group: 'baseline', name: 'sha256 of a key text + Map.get', op: (i) => table.get(hash('sha256', keyText + (i & 1), 'hex')) },
		);
		target('memory hit', hitAB.nsPerOp, 500, {
			value: formatNs(hitAB.nsPerOp),
			goal: '≤ 0.5 µs',
			note: `a call repeated (its key remembered by the process), median of 5 rounds interleaved with the floor of a first hit (sha256 of the key + Map.get) ${formatNs(floor.nsPerOp)}, ${ratio(hitAB.nsPerOp, floor.nsPerOp)} it; a hit whose key is not remembered (30,000 calls in rotation) ${formatNs(hitCold.nsPerOp)}; async ${formatNs(hitAsync.nsPerOp)}; ${ratio(hit.nsPerOp, mzHit.nsPerOp)} memoizee, ${ratio(hitAsync.nsPerOp, pmHit.nsPerOp)} p-memoize (async); ${loadNote(hitLoad)}`,
		});
		info(
			'memory miss overhead',
			formatNs(miss.nsPerOp - bare.nsPerOp),
			`async ${formatNs(missAsync.nsPerOp - bareAsync.nsPerOp)}; ${ratio(miss.nsPerOp, mzMiss.nsPerOp)} memoizee miss, ${ratio(missAsync.nsPerOp, pmMiss.nsPerOp)} p-memoize miss`,
		);
		// The goal is with default metadata (Runtime: times and CPU of each call), which the rows above leave out.
		using _default = meta([new Runtime()]);
		// The overhead is the miss minus its floor, the bare function, measured in the same rounds: each round times the
		// miss, the bare function and memoizee's miss (the peer that does the least a miss can: a Map insert) in turn,
		// and the row is the median of the rounds' differences. What fleche adds is the key's SHA-256, storing argument
		// and result values, the call record with its metadata, and statistics. Fresh arguments across rounds (a
		// measurement's own counter restarts with each round).
		let fresh = 5e6;
		let mzFresh = 5e6;
		let floorFresh = 5e6;
		const floorMiss = designFloor();
		const missLoad = loadavg()[0]!;
		const {
			medians: [withMeta, bareAB, mzMissAB, floorAB],
			rounds,
		} = await interleavedRounds([
			{ group: 'fleche memory', name: 'miss, default metadata', op: () => add(fresh++, 3) },
			{ group: 'baseline', name: 'bare function (interleaved)', op: (i) => trivial(i, 3) },
			{ group: 'memoizee', name: 'miss (interleaved)', op: () => mz(mzFresh++, 4) },
			{ group: 'baseline', name: 'floor of a stored miss (interleaved)', op: () => floorMiss(floorFresh++, 3) },
		]);
		const over = median(rounds.map(([m, b]) => m!.nsPerOp - b!.nsPerOp));
		target('memory miss overhead (default metadata)', over, 5000, {
			value: formatNs(over),
			goal: '≤ 5 µs',
			note: `median over 5 rounds of (miss − bare function), each round timing both in turn (miss ${formatNs(withMeta!.nsPerOp)}, bare ${formatNs(bareAB!.nsPerOp)}); ${formatNs(miss.nsPerOp - bare.nsPerOp)} without metadata (not interleaved); memoizee miss ${formatNs(mzMissAB!.nsPerOp)} (${ratio(withMeta!.nsPerOp, mzMissAB!.nsPerOp)}, same rounds); the floor of a miss that stores by content, the same rounds: ${formatNs(floorAB!.nsPerOp)} (the three SHA-256 and the lookups and inserts in maps as large as fleche's that a miss needs, and a frozen record, written out bare: what any store of this design pays before metadata, statistics and checks; fleche is ${ratio(withMeta!.nsPerOp, floorAB!.nsPerOp)} it); Runtime reads the CPU clock at most once per 0.1 ms; every miss stores a value, a record and statistics, so the cache grew by ${(fresh - 5e6).toLocaleString('en-US')} calls over the rounds; ${loadNote(missLoad)}`,
		});
		anchor('memory: miss overhead / hit (lightweight function)', '310 µs / 190 µs', `${formatNs(miss.nsPerOp - bare.nsPerOp)} / ${formatNs(hit.nsPerOp)}`);
	});

	// The floor of a file hit: reading the call record and the result value, two small files.
	writeFileSync(join(tmp, 'floor-a'), '{"record":1}');
	writeFileSync(join(tmp, 'floor-b'), '3');
	const floor = await run('baseline', '2 × readFileSync (small files)', () => {
		readFileSync(join(tmp, 'floor-a'));
		return readFileSync(join(tmp, 'floor-b'));
	});
	// The like-for-like disk peer: a synchronous JSON-file-per-key cache, one file per call, written atomically.
	const peer = jsonFileCache(join(tmp, 'peer'), trivial);
	peer(1, 2);
	const file = new Cache(new ValueFile({ root: join(tmp, 'values') }), new CallFile({ root: join(tmp, 'calls') }));
	await cache(file, async () => {
		add(1, 2);
		await addAsync(1, 2);
		const [hit, peerHit] = await interleaved(
			{ group: 'fleche file', name: 'hit', op: () => add(1, 2) },
			{ group: 'JSON file per key', name: 'hit', op: () => peer(1, 2) },
		);
		const hitAsync = await run('fleche file', 'hit (async)', () => addAsync(1, 2));
		// Fresh arguments across rounds (a measurement's own counter restarts with each round).
		let fresh = 1e6;
		let peerFresh = 1e6;
		const stored = (): number => countFiles(join(tmp, 'values')) + countFiles(join(tmp, 'calls'));
		const before = stored();
		const [miss, peerMiss] = await interleaved(
			// b = 0.5: no result equals a later call's argument, so no value file is shared between calls.
			{ group: 'fleche file', name: 'miss', op: () => add(fresh++, 0.5) },
			{ group: 'JSON file per key', name: 'miss', op: () => peer(peerFresh++, 0.5) },
			{ samples: 5, ops: 200 },
		);
		// Files on disk per stored call, counted.
		const made = (stored() - before) / (fresh - 1e6);
		const missAsync = await run('fleche file', 'miss (async)', (i) => addAsync(i + 2e6, 3), { samples: 9 });
		target('file hit', hit.nsPerOp, 50_000, {
			value: formatNs(hit.nsPerOp),
			goal: '≤ 50 µs',
			note: `async ${formatNs(hitAsync.nsPerOp)}; ${ratio(hit.nsPerOp, ccHit.nsPerOp)} cacache get; floor (2 small reads) ${formatNs(floor.nsPerOp)}; the JSON-file-per-key peer ${formatNs(peerHit.nsPerOp)} (interleaved): it reads one file, fleche two (the record, then the value it names) and checks both (CRC, the record's key recomputed from its fields)`,
		});
		target('file miss', miss.nsPerOp, 150_000, {
			value: formatNs(miss.nsPerOp),
			goal: '≤ 150 µs (median)',
			note: `async ${formatNs(missAsync.nsPerOp)}; the JSON-file-per-key peer ${formatNs(peerMiss.nsPerOp)} (interleaved; it creates one file a miss, as fleche does: the call file is its lease file, renamed); ${ratio(miss.nsPerOp, ccMiss.nsPerOp)} cacache put; creating a file is what varies most here: on ext4 without a journal (this VM's disk) it costs several times more for a minute or more after many files were removed (a previous run's scratch folder), which the peer's figure shows`,
		});
		target('files on disk per small call', made, 2, {
			value: made.toFixed(1),
			goal: '≤ 2',
			note: 'add(a, 0.5) with a fresh each call, every file under values/ and calls/ counted (statistics journal and leases included): the call file holds its small values inside it (docs/behaviour.md §2.6, call file format 2; before it, 3 files a call); the peer writes 1',
		});
		anchor('file: miss overhead / hit (Python Pickle+Sql)', '3.5 ms / 1.2 ms', `${formatNs(miss.nsPerOp - bare.nsPerOp)} / ${formatNs(hit.nsPerOp)}`);
	});
}

/**
 * The floor of a memory-cache miss in fleche's design, written out without fleche: SHA-256 of the fresh argument's
 * encoding, of the key text and of the result's; a lookup of the key (absent), the argument values looked up and the
 * result's stored under their digests, the record frozen and stored, a statistics entry, in maps that grow as
 * fleche's do. The text forms are fleche's (digest.ts, key.ts), so each hash covers what fleche's covers.
 */
function designFloor(): (a: number, b: number) => number {
	const values = new Map<string, unknown>();
	const records = new Map<string, object>();
	const counts = new Map<string, object>();
	// A repeated number's digest is remembered, as digest.ts remembers it.
	let lastB = Number.NaN;
	let db = '';
	return (a, b) => {
		const da = hash('sha256', `n:${a}`, 'hex');
		if (b !== lastB) {
			lastB = b;
			db = hash('sha256', `n:${b}`, 'hex');
		}
		const key = hash('sha256', `fleche.call/1\n["trivial","bench",null,null]\n"a":${da}\n"b":${db}\n`, 'hex');
		if (records.get(key) !== undefined) throw new Error('a floor miss hit');
		if (!values.has(da)) values.set(da, a);
		if (!values.has(db)) values.set(db, b);
		const result = a + b;
		const dr = hash('sha256', `n:${result}`, 'hex');
		if (!values.has(dr)) values.set(dr, result);
		const now = Date.now() / 1000;
		const runtime = Object.freeze({ timestart: now, cputime: 0, systime: 0, timestop: now, walltime: 0 });
		const record = { key, name: 'trivial', module: 'bench', version: null, codeDigest: null, arguments: Object.freeze({ a: da, b: db }), result: dr, metadata: Object.freeze({ runtime }), scheme: 'fleche.call/1' };
		records.set(key, Object.freeze(record));
		counts.set(key, { key, name: 'trivial', module: 'bench', hits: 0, misses: 1, computeSeconds: 0 });
		return result;
	};
}

/** Files under `dir`, recursively (0 when it does not exist). */
function countFiles(dir: string): number {
	try {
		return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).length;
	} catch {
		return 0;
	}
}

/** The 20-line synchronous JSON-file-per-key cache the issue measured fleche against: one file per call. */
function jsonFileCache<A extends unknown[], R>(dir: string, fn: (...args: A) => R): (...args: A) => R {
	mkdirSync(dir, { recursive: true });
	return (...args: A): R => {
		const file = join(dir, `${hash('sha256', JSON.stringify(args), 'hex')}.json`);
		try {
			return (JSON.parse(readFileSync(file, 'utf8')) as { value: R }).value;
		} catch {
			// a miss
		}
		const value = fn(...args);
		writeFileSync(`${file}.tmp`, JSON.stringify({ args, value }));
		renameSync(`${file}.tmp`, file);
		return value;
	};
}

/**
 * What importing `fleche` adds to a process, whole process measured: `node -e` importing it against `node -e` importing
 * nothing, in interleaved rounds (a loaded machine slows both alike), median of the differences.
 */
async function importTime(): Promise<void> {
	console.log('\nimporting fleche (whole process, interleaved with an empty one)');
	const req = createRequire(import.meta.url);
	const cjs = req.resolve('fleche');
	const esm = pathToFileURL(cjs.replace(/cjs([/\\])index\.js$/, 'esm$1index.js')).href;
	// Each child prints the CPU time it used (user + system, bootstrap included), so the CPU the import adds is
	// reported beside the wall time: on a loaded machine the wall time also holds the time spent waiting for a cpu.
	const cpu = `const c = process.cpuUsage(); process.stdout.write(String(c.user + c.system))`;
	const scripts = { empty: cpu, esm: `import(${JSON.stringify(esm)}).then(() => { ${cpu} })`, cjs: `require(${JSON.stringify(cjs)}); ${cpu}` };
	const times: Record<keyof typeof scripts, number[]> = { empty: [], esm: [], cjs: [] };
	const cpuMs: Record<keyof typeof scripts, number[]> = { empty: [], esm: [], cjs: [] };
	const once = (k: keyof typeof scripts): void => {
		const t0 = performance.now();
		const used = execFileSync(process.execPath, ['-e', scripts[k]], { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' });
		times[k].push(performance.now() - t0);
		cpuMs[k].push(Number(used) / 1000);
	};
	const load = loadavg()[0]!;
	for (let round = 0; round < 11; round++) for (const k of Object.keys(scripts) as (keyof typeof scripts)[]) once(k);
	const diffs = (of: Record<keyof typeof scripts, number[]>, k: 'esm' | 'cjs'): number[] => of[k].map((t, i) => t - of.empty[i]!);
	const esmMs = median(diffs(times, 'esm'));
	const cjsMs = median(diffs(times, 'cjs'));
	const esmCpu = median(diffs(cpuMs, 'esm'));
	console.log(`  node -e '' ${median(times.empty).toFixed(0)} ms; import adds ${esmMs.toFixed(0)} ms (ESM; ${esmCpu.toFixed(0)} ms of CPU), ${cjsMs.toFixed(0)} ms (CJS)`);
	target('importing fleche (whole process)', esmMs, 60, {
		value: `${esmMs.toFixed(0)} ms`,
		goal: '≤ 60 ms',
		note: `ESM import, wall time, median over 11 rounds of (import − empty process), each round running both in turn; CPU time it adds ${esmCpu.toFixed(0)} ms; CJS require adds ${cjsMs.toFixed(0)} ms (CPU ${median(diffs(cpuMs, 'cjs')).toFixed(0)} ms); an empty node process ${median(times.empty).toFixed(0)} ms; ${loadNote(load)}`,
	});
}

/** 10,000 entries, each a small record with a nested array and object: a typical "config/table" argument. */
function nestedObject(): Record<string, unknown> {
	const o: Record<string, unknown> = {};
	for (let i = 0; i < 10_000; i++) o[`k${i}`] = { id: i, name: `name ${i}`, tags: ['a', 'b', i], pos: { x: i / 3, y: -i } };
	return o;
}

async function digests(): Promise<void> {
	console.log('\ndigest throughput (object-hash with sha256, for the same algorithm)');
	const oh = (v: unknown) => objectHash(v as object, { algorithm: 'sha256' });
	const small = await run('digest', 'small number', (i) => digest(i));
	const smallOh = await run('object-hash', 'small number', (i) => oh(i));
	const smallObj = await run('digest', 'small object {a,b:[1,2,3]}', (i) => digest({ a: i, b: [1, 2, 3] }));
	const smallObjOh = await run('object-hash', 'small object {a,b:[1,2,3]}', (i) => oh({ a: i, b: [1, 2, 3] }));
	const str = 'x'.repeat(200);
	const smallStr = await run('digest', 'string (200 chars)', () => digest(str));
	const bareStr = await run('bare sha256', 'string (200 chars)', () => hash('sha256', str, 'hex'));
	info(
		'small values digest',
		`${formatNs(small.nsPerOp)} number, ${formatNs(smallObj.nsPerOp)} object`,
		`${ratio(small.nsPerOp, smallOh.nsPerOp)} / ${ratio(smallObj.nsPerOp, smallObjOh.nsPerOp)} object-hash; string ${ratio(smallStr.nsPerOp, bareStr.nsPerOp)} bare sha256`,
	);
	// Python digests 100-item lists per call: scale ours to the same 100 values for the anchor.
	anchor('digest: Integer / Dict small (per 100 values)', '230 µs / 1.8 ms', `${formatNs(small.nsPerOp * 100)} / ${formatNs(smallObj.nsPerOp * 100)}`);

	const nested = nestedObject();
	const json = JSON.stringify(nested);
	const nestedOurs = await run('digest', 'nested object, 10,000 entries', () => digest(nested), { ops: 1, samples: 9 });
	const nestedOh = await run('object-hash', 'nested object, 10,000 entries', () => oh(nested), { ops: 1, samples: 5 });
	const nestedJson = await run('bare sha256', 'JSON.stringify + sha256 (same object)', () => hash('sha256', JSON.stringify(nested), 'hex'), {
		ops: 1,
		samples: 9,
	});
	info(
		'10,000-entry nested object digest',
		formatNs(nestedOurs.nsPerOp),
		`${ratio(nestedOurs.nsPerOp, nestedOh.nsPerOp)} object-hash, ${ratio(nestedOurs.nsPerOp, nestedJson.nsPerOp)} JSON.stringify+sha256 (${(json.length / 1e6).toFixed(1)} MB of JSON; order-sensitive, no Map/Set/cycles)`,
	);
	anchor('digest: Nested (one random value)', '2.7 ms', `${formatNs(nestedOurs.nsPerOp / 10_000)} per entry`);

	const big = new Float64Array((64 * 1024 * 1024) / 8);
	for (let i = 0; i < big.length; i += 4096) big[i] = i;
	const bytes = new Uint8Array(big.buffer);
	const bare = await run('bare sha256', 'crypto.hash, 64 MB', () => hash('sha256', bytes, 'hex'), { ops: 1, samples: 7 });
	const bareStream = await run('bare sha256', 'createHash().update(), 64 MB', () => createHash('sha256').update(bytes).digest('hex'), {
		ops: 1,
		samples: 7,
	});
	const ours = await run('digest', 'digest(Float64Array 64 MB)', () => digest(big), { ops: 1, samples: 7 });
	// object-hash stringifies every element: a 64 MB array takes seconds, so it runs on 1 MB and is scaled ×64.
	const mb = new Float64Array(big.buffer, 0, (1024 * 1024) / 8);
	const ohMb = await run('object-hash', 'Float64Array 1 MB (×64 below)', () => oh(mb), { ops: 1, samples: 3 });
	const best = Math.min(bare.nsPerOp, bareStream.nsPerOp);
	const share = best / ours.nsPerOp;
	const gbps = (ns: number) => `${((64 / ns) * 1e9 / 1024).toFixed(2)} GB/s`;
	target('large typed array digest', share * 100, 80, {
		value: `${(share * 100).toFixed(0)} % of bare`,
		goal: '≥ 80 % of bare SHA-256',
		note: `${gbps(ours.nsPerOp)} vs crypto.hash ${gbps(bare.nsPerOp)}, createHash ${gbps(bareStream.nsPerOp)}; object-hash ~${formatNs(ohMb.nsPerOp * 64)} for 64 MB (${ratio(ohMb.nsPerOp * 64, ours.nsPerOp)})`,
	}, true);
	anchor('digest: Numpy int array len>100', '4.4 ms', `${formatNs(ours.nsPerOp)} for 64 MB`);
}

const startLoad = loadavg()[0]!;
try {
	console.log(`fleche bench — node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'})`);
	// `npm run bench -- overheads inspect` runs only the named parts (results.md then holds only their rows).
	const parts: Record<string, () => Promise<void>> = {
		overheads,
		import: importTime,
		digests,
		executors: executorBench,
		bullmq: bullmqBench,
		sql: () => sqlBench({ run, target, info }),
		postgres: () => pgBench({ run, target, info }),
		sqlReads: () => sqlReadsBench({ target, info }),
		inspect: () => inspectBench({ run, target, info }),
		scale: () => scaleBench({ run, target, info }),
		files: () => fileBench({ run, target, info }),
		leases: () => leaseBench({ target, info }),
		shutdown: () => shutdownBench({ target, info }),
		extension: extensionBench,
	};
	const wanted = process.argv.slice(2);
	const unknown = wanted.filter((name) => !(name in parts));
	if (unknown.length > 0) throw new Error(`unknown bench part(s) ${unknown.join(', ')}; the parts are ${Object.keys(parts).join(', ')}`);
	for (const [name, part] of Object.entries(parts)) if (wanted.length === 0 || wanted.includes(name)) await part();
} finally {
	// Statistics counted in memory would otherwise be flushed at exit, into a store folder just removed.
	flushStats();
	removeScratch();
}

const table = [
	'| target | measured | goal | met | margin | notes |',
	'| --- | --- | --- | --- | --- | --- |',
	...rows.map((r) => `| ${r.target} | ${r.value} | ${r.goal} | ${r.met === null ? '—' : r.met ? 'yes' : '**no**'} | ${r.margin} | ${r.note} |`),
].join('\n');
const anchorTable = [
	'| operation | Python fleche (docs/behaviour.md §7, fixed) | fleche for TypeScript (this run) |',
	'| --- | --- | --- |',
	...anchors.map((a) => `| ${a.operation} | ${a.python} | ${a.ours} |`),
].join('\n');
// Load average at start and end: these machines are shared, and a high load explains a noisy run.
const load = `load average ${startLoad.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end`;
const header = `fleche bench, node ${process.version}, ${cpus().length} cpus, ${load}, ${new Date().toISOString()}. Medians; ratios are within this run; spreads (IQR) in results.json.`;
console.log(`\n${table}\n\n${anchorTable}\n`);
const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', '..', 'test', 'bench');
writeFileSync(
	join(outDir, 'results.json'),
	JSON.stringify({ node: process.version, cpus: cpus().length, load, date: new Date().toISOString(), results, targets: rows, anchors }, null, 2),
);
writeFileSync(join(outDir, 'results.md'), `${header}\n\n${table}\n\n${anchorTable}\n`);
console.log(`wrote test/bench/results.json and test/bench/results.md`);
