// A store is untrusted input: signed means verified (an entry proves what it is, not only that its bytes
// are whole), reading never destroys, rerun and explain never run a stranger's file, gc beside writers loses nothing,
// a pool terminates in every state, store contents cannot drive the terminal, and the small failures of bad input.
// Real files, real child processes (the `fleche` binary, a threads.js pool), no mocks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cache, CallFile, digest, fleche, recordKey, ValueFile, cache, type CallRecord } from 'fleche';
import { captureLogs } from '../support/logs.ts';
import { runtimeDir, userProject } from '../support/project.ts';
import { freshDir } from '../support/stores.ts';
import { runNode, tmpDir, type RunNodeResult } from '../support/tmp.ts';

const bin = join(runtimeDir, 'bin', 'fleche.mjs');
const keyA = 'aa'.repeat(32);
const keyB = 'bb'.repeat(32);
const logs = captureLogs();

/** The environment of a child, with or without a secret key. */
function envWith(secret: string | undefined): NodeJS.ProcessEnv {
	const { NODE_TEST_CONTEXT: _, FLECHE_SECRET_KEY: __, ...env } = process.env;
	return secret === undefined ? env : { ...env, FLECHE_SECRET_KEY: secret };
}

function cli(dir: string, args: readonly string[], secret?: string): Promise<RunNodeResult> {
	return runNode(bin, args, { cwd: dir, execArgv: [], env: envWith(secret) });
}

/** Every entry file of a store (64-hex names under values/ and calls/) with its bytes. */
function snapshot(storeRoot: string): Map<string, string> {
	const out = new Map<string, string>();
	for (const kind of ['values', 'calls']) {
		const folder = join(storeRoot, kind);
		if (!existsSync(folder)) continue;
		for (const name of readdirSync(folder)) if (/^[0-9a-f]{64}$/.test(name)) out.set(`${kind}/${name}`, readFileSync(join(folder, name), 'base64'));
	}
	return out;
}

const priceSources = {
	'src/price.js': [
		"import { fleche } from 'fleche';",
		"import { appendFileSync } from 'node:fs';",
		"const runs = new URL('../runs.txt', import.meta.url);",
		'const table = { sand: 3, gold: 1000 };',
		'export const price = fleche((item) => {',
		'\tappendFileSync(runs, `${item}\\n`);',
		'\treturn table[item];',
		'});',
		'',
	].join('\n'),
	'seed.mjs': ["import { price } from './src/price.js';", 'for (const item of process.argv.slice(2)) price(item);', ''].join('\n'),
};

async function seeded(secret?: string, items: readonly string[] = ['sand', 'gold']): Promise<{ dir: string; store: string }> {
	const dir = userProject(priceSources);
	const r = await runNode(join(dir, 'seed.mjs'), items, { cwd: dir, env: envWith(secret) });
	assert.equal(r.code, 0, r.stderr);
	writeFileSync(join(dir, 'runs.txt'), '');
	return { dir, store: join(dir, '.fleche') };
}

describe('1. an entry proves what it is', () => {
	const price = fleche((item: string) => ({ sand: 3, gold: 1000 })[item], { name: 'price', module: 'src/price.js' });

	for (const secretKey of [undefined, keyA]) {
		test(`a value file moved over another is a miss, not the other call's result (${secretKey ? 'signed' : 'unsigned'})`, () => {
			const root = freshDir();
			// Value files of their own (inlineValues 0): the same checks guard values inside call files (fileLayout.test.ts).
			const store = new Cache(
				new ValueFile({ root: join(root, 'values'), secretKey: secretKey ?? '' }),
				new CallFile({ root: join(root, 'calls'), secretKey: secretKey ?? '', inlineValues: 0 }),
			);
			cache(store, () => [price('sand'), price('gold')]);
			const valueOf = (v: number): string => join(root, 'values', digest(v));
			writeFileSync(valueOf(3), readFileSync(valueOf(1000)));
			logs.clear();
			assert.equal(
				cache(store, () => price('sand')),
				3,
				"sand's price, recomputed: not gold's",
			);
			assert.ok(logs.records.length >= 1, 'the swap is reported');
			for (const r of logs.records) assert.match(r.message, /holds the value of/);
			assert.equal(
				cache(store, () => price('sand')),
				3,
				'one recompute repaired it',
			);
			assert.equal(
				cache(store, () => price('gold')),
				1000,
			);
		});
	}

	test('a signed call record edited to name another result is a miss; so is every record when the key changes', () => {
		const root = freshDir();
		const open = (secretKey: string): Cache =>
			new Cache(new ValueFile({ root: join(root, 'values'), secretKey }), new CallFile({ root: join(root, 'calls'), secretKey }));
		const store = open(keyA);
		cache(store, () => [price('sand'), price('gold')]);
		const recordFile = join(root, 'calls', price.fleche.digest('sand'));
		const text = readFileSync(recordFile, 'utf8');
		assert.match(text, /"signature": "[0-9a-f]{64}"/);
		writeFileSync(recordFile, text.replace(digest(3), digest(1000)));
		logs.clear();
		assert.equal(
			cache(store, () => price('sand')),
			3,
		);
		assert.deepEqual(
			logs.records.map((r) => r.code),
			['FLECHE_BAD_SIGNATURE'],
		);
		assert.equal(
			cache(open(''), () => price.fleche.load('sand')),
			3,
			'rewritten and signed again by the recompute',
		);
		logs.clear();
		assert.equal(
			cache(open(keyB), () => price('sand')),
			3,
		);
		assert.ok(logs.codes('FLECHE_BAD_SIGNATURE').length >= 1, "another key's records are not trusted");
	});
});

describe('2. rerun and explain run only files of the project', () => {
	test('a module planted in the store folder, reached with .., or through a symbolic link out of the project is refused, and nothing runs', async (t) => {
		const { dir, store } = await seeded();
		const outside = tmpDir(t);
		const marker = join(outside, 'ran.txt');
		const evil = `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nexport const evil = () => 1;\n`;
		writeFileSync(join(store, 'evil.mjs'), evil);
		writeFileSync(join(outside, 'evil.mjs'), evil);
		symlinkSync(join(outside, 'evil.mjs'), join(dir, 'src', 'link.mjs'));
		const values = new ValueFile({ root: join(store, 'values') });
		values.put(digest(1), 1);
		const calls = new CallFile({ root: join(store, 'calls') });
		const rel = (p: string): string => p.split('\\').join('/');
		const modules = {
			'.fleche/evil.mjs': /inside the store's own folder/,
			[`../${rel(outside.split(/[\\/]/).pop()!)}/evil.mjs`]: /not a plain path/,
			'src/link.mjs': /outside the project/,
			'/etc/passwd': /not a plain path/,
		};
		for (const [module, why] of Object.entries(modules)) {
			const identity = { name: 'evil', module, version: null, codeDigest: null };
			const record: CallRecord = { key: recordKey({ ...identity, arguments: {} }), ...identity, arguments: {}, result: digest(1), metadata: {} };
			calls.put(record);
			const rerun = await cli(dir, ['rerun', record.key]);
			assert.equal(rerun.code, 1, `${module}: ${rerun.stderr}`);
			assert.match(rerun.stderr, /Refusing to run module/, module);
			assert.match(rerun.stderr, why, module);
			// The store alone explains a call with the recorded arguments (none here) without importing anything;
			// --import asks for the module, which is refused.
			const fromStore = await cli(dir, ['explain', `${module}:evil`, '{}']);
			assert.equal(fromStore.code, 0, `${module}: ${fromStore.stderr}`);
			assert.match(fromStore.stdout, /^Cached: .*\n\(from the store alone, nothing imported/, module);
			const explain = await cli(dir, ['explain', `${module}:evil`, '{}', '--import']);
			assert.equal(explain.code, 1, `${module}: ${explain.stderr}`);
			assert.match(explain.stderr, why, module);
			calls.evict(record.key);
		}
		assert.equal(existsSync(marker), false, 'no planted file ran');
	});

	test('the file a rerun imports is named on stderr before it runs', async () => {
		const { dir } = await seeded(undefined, ['sand']);
		const key = fleche((item: string) => item, { name: 'price', module: 'src/price.js' }).fleche.digest('sand');
		const r = await cli(dir, ['rerun', key]);
		assert.equal(r.code, 0, r.stderr);
		const file = realpathSync(join(dir, 'src', 'price.js'));
		assert.match(r.stderr, new RegExp(`^fleche: importing ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(module src/price.js of `, 'm'));
		assert.equal(readFileSync(join(dir, 'runs.txt'), 'utf8'), 'sand\n');
	});
});

describe('3. reading never deletes or rewrites', () => {
	test('show, ls and stats with another secret key leave every validly signed file as it was', async () => {
		const { dir, store } = await seeded(keyA);
		const before = snapshot(store);
		assert.ok(before.size >= 2, 'two call files, their small values inside them');
		const key = fleche((item: string) => item, { name: 'price', module: 'src/price.js' }).fleche.digest('gold');
		for (const args of [['show', key], ['ls'], ['ls', 'price'], ['stats'], ['show', key]]) {
			const r = await cli(dir, args, keyB);
			assert.notEqual(r.code, null, args.join(' '));
		}
		assert.deepEqual(snapshot(store), before, 'nothing removed or changed');
		const show = await cli(dir, ['show', key, '--json'], keyA);
		assert.equal(show.code, 0, show.stdout + show.stderr);
		assert.match(show.stdout, /"value":1000/, 'still valid for the key that signed it');
	});

	test('ls skips a damaged call file without removing it; verify reports it, verify --delete removes it', async () => {
		const { dir, store } = await seeded();
		const damaged = join(store, 'calls', 'ab'.repeat(32));
		writeFileSync(damaged, '{ "format": "fleche.call/1", "record": ');
		const ls = await cli(dir, ['ls', 'price']);
		assert.equal(ls.code, 0, ls.stderr);
		assert.equal(existsSync(damaged), true);
		const verify = await cli(dir, ['verify', '--json']);
		assert.equal(verify.code, 1, 'damaged entries: exit 1');
		const report = JSON.parse(verify.stdout) as { checked: number; damaged: { kind: string; key: string }[]; removed: number };
		assert.deepEqual(
			report.damaged.map((d) => [d.kind, d.key]),
			[['call', 'ab'.repeat(32)]],
		);
		assert.equal(report.checked, 3, '3 call files (their small values inside them, checked too)');
		assert.equal(existsSync(damaged), true, 'verify alone removes nothing');
		const fix = await cli(dir, ['verify', '--delete']);
		assert.equal(fix.code, 0, fix.stderr);
		assert.match(fix.stdout, /1 damaged, 1 removed/);
		assert.equal(existsSync(damaged), false);
		assert.match((await cli(dir, ['verify'])).stdout, /Checked 2 entries: none damaged/);
	});

	test('reading statistics never compacts the journals; a process that writes statistics does', async () => {
		const { dir, store } = await seeded();
		const statsDir = join(store, 'calls', '.stats');
		mkdirSync(statsDir, { recursive: true });
		const key = fleche((item: string) => item, { name: 'price', module: 'src/price.js' }).fleche.digest('sand');
		for (let i = 0; i < 20; i++) {
			writeFileSync(
				join(statsDir, `otherhost-${i}-00000000.1.closed.jsonl`),
				`${JSON.stringify({ t: 1, d: [[key, 'price', 'src/price.js', 1, 0, 1, 0, 0]] })}\n`,
			);
		}
		const listing = (): string[] => readdirSync(statsDir).sort();
		const before = listing();
		const stats = await cli(dir, ['stats', '--json']);
		assert.equal(stats.code, 0, stats.stderr);
		assert.ok((JSON.parse(stats.stdout) as { totals: { hits: number } }).totals.hits >= 20);
		assert.deepEqual(listing(), before, 'a reader compacts nothing');
		const writer = new CallFile({ root: join(store, 'calls') });
		writer.addStats([{ key, name: 'price', module: 'src/price.js', hits: 1, misses: 0, lastHit: 2, computeSeconds: 0, savedSeconds: 0 }]);
		assert.ok(writer.stats().reduce((n, s) => n + s.hits, 0) >= 21);
		assert.ok(listing().includes('snapshot.json'), 'a writer compacts');
		assert.ok(listing().length < before.length);
	});
});

describe('4 and 9. gc keeps what writers are committing, and removes what killed writers left', () => {
	const ageMinutes = (file: string, minutes: number): void => {
		const then = new Date(Date.now() - minutes * 60_000);
		utimesSync(file, then, then);
	};

	test('young orphans stay; old ones go; a value stored again by a new call counts as young', () => {
		const root = freshDir();
		const store = new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') }));
		const young = store.saveValue('young');
		const old = store.saveValue('old');
		const reused = store.saveValue('reused');
		ageMinutes(join(root, 'values', old), 30);
		ageMinutes(join(root, 'values', reused), 30);
		// A writer about to commit a call naming `reused` stores it again: the file exists, so only its age is refreshed.
		store.saveValue('reused');
		assert.deepEqual([...store.gc()], [old]);
		assert.deepEqual(new Set(store.values.list()), new Set([young, reused]));
		assert.deepEqual([...store.gc({ graceSeconds: 0 })].sort(), [young, reused].sort());
	});

	test('temporaries of killed writers older than the grace period are removed from both folders; others stay', () => {
		const root = freshDir();
		const store = new Cache(new ValueFile({ root: join(root, 'values') }), new CallFile({ root: join(root, 'calls') }));
		store.saveValue('x');
		mkdirSync(join(root, 'calls'), { recursive: true });
		const made: Record<string, string> = {};
		for (const kind of ['values', 'calls']) {
			for (const age of ['old', 'young']) {
				const file = join(root, kind, `.${randomUUID()}.tmp`);
				writeFileSync(file, 'partial');
				if (age === 'old') ageMinutes(file, 30);
				made[`${kind}-${age}`] = file;
			}
			writeFileSync(join(root, kind, '.DS_Store'), '');
			ageMinutes(join(root, kind, '.DS_Store'), 30);
		}
		store.gc();
		assert.equal(existsSync(made['values-old']!), false);
		assert.equal(existsSync(made['calls-old']!), false);
		assert.equal(existsSync(made['values-young']!), true, 'a write may be in progress');
		assert.equal(existsSync(made['calls-young']!), true);
		assert.equal(existsSync(join(root, 'values', '.DS_Store')), true, 'only fleche temporaries');
		assert.equal([...store.values.list()].length, 1);
	});
});

describe('5. pool.terminate() in every state', () => {
	for (const mode of ['died', 'aborted', 'both', 'unreplaced']) {
		test(`after ${mode === 'both' ? 'a death and an abort' : mode === 'unreplaced' ? 'a death with no replacement' : `a worker ${mode}`}: resolves, and the process ends by itself`, async (t) => {
			const r = await runNode(new URL('../fixtures/terminateChild.js', import.meta.url), [mode], { cwd: tmpDir(t), timeoutMs: 60_000 });
			assert.equal(r.code, 0, r.stderr);
			assert.match(r.stdout, /terminated\n$/);
			if (mode !== 'aborted') assert.match(r.stdout, /died: WorkerExited/);
			if (mode === 'aborted' || mode === 'both') assert.match(r.stdout, /aborted: AbortError/);
			if (mode === 'unreplaced') {
				assert.match(
					r.stdout,
					/next: WorkerExited: A worker of this pool died and cannot be replaced: create workers with threadsWorker\(\) or pass wrapExecutor\(pool, \{ respawn \}\)\n/,
				);
			}
		});
	}
});

describe('8. store contents cannot drive the terminal', () => {
	test('control characters in names and arguments are escaped in human output, exact in --json', async (t) => {
		const dir = userProject({}, t);
		const hostile = '\x1b]0;pwned\x07\x1b[2J\u202e';
		const store = join(dir, '.fleche');
		const values = new ValueFile({ root: join(store, 'values') });
		values.put(digest(hostile), hostile);
		values.put(digest(1), 1);
		const identity = { name: `price${hostile}`, module: `src/${hostile}.js`, version: hostile, codeDigest: null };
		const args = { [`item${hostile}`]: digest(hostile) };
		const record: CallRecord = {
			key: recordKey({ ...identity, arguments: args }),
			...identity,
			arguments: args,
			result: digest(1),
			metadata: { tags: { note: hostile } },
		};
		new CallFile({ root: join(store, 'calls') }).put(record);
		const outputs: RunNodeResult[] = [];
		for (const a of [['ls'], ['ls', `src/${hostile}.js:price${hostile}`], ['show', record.key], ['show', record.key.slice(0, 8)], ['ls', 'nothing\x1b[2J']]) {
			outputs.push(await cli(dir, a));
		}
		for (const r of outputs) {
			for (const text of [r.stdout, r.stderr]) {
				// eslint-disable-next-line no-control-regex -- finding control characters is the point
				assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/, text);
			}
		}
		assert.match(outputs[0]!.stdout, /price\\x1b\]0;pwned\\x07\\x1b\[2J\\u202e/);
		assert.match(outputs[2]!.stdout, /function: +src\/\\x1b/);
		assert.match(outputs[4]!.stderr, /nothing\\x1b\[2J/, 'error messages too');
		const json = await cli(dir, ['ls', '--json']);
		assert.equal((JSON.parse(json.stdout) as { functions: { name: string }[] }).functions[0]!.name, `price${hostile}`, '--json is exact');
	});
});

describe('9. small things', () => {
	test('a bad secret_key in fleche.toml names the file and line', async (t) => {
		const dir = userProject({ 'fleche.toml': '[default]\ncache = "c"\n\n[c]\ntemplate = "file"\nroot = ".fleche"\nsecret_key = "zz"\n' }, t);
		const r = await cli(dir, ['ls']);
		assert.equal(r.code, 1);
		assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
		assert.match(r.stderr, /fleche\.toml:7: \[c\] 'secret_key': key 1 is not valid hex/);
	});

	test('an unknown metadata source in fleche.toml is a clear error for every tool, at once', async (t) => {
		const dir = userProject({ 'fleche.toml': '[default]\nmetadata = ["Runtime", "Gti"]\n' }, t);
		const r = await cli(dir, ['ls']);
		assert.equal(r.code, 1, r.stdout);
		assert.match(r.stderr, /fleche\.toml:2: \[default\] unknown metadata "Gti" \(allowed: Runtime, Environment, Git\)/);
	});

	test('--cwd of a folder that does not exist fails with one line', async (t) => {
		const r = await cli(tmpDir(t), ['ls', '--cwd', '/nonexistent/fleche-folder']);
		assert.equal(r.code, 2);
		assert.equal(r.stdout, '');
		assert.equal(r.stderr, 'fleche: --cwd /nonexistent/fleche-folder is not a folder\n');
	});

	test('--limit 0 says how many calls there are instead of a backwards range', async () => {
		const { dir } = await seeded();
		const r = await cli(dir, ['ls', 'price', '--limit', '0']);
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stdout, /^\(0 of 2 shown; --offset\/--limit for more\)$/m);
		assert.doesNotMatch(r.stdout, /1–0/);
	});

	test('gc --grace 0 removes young orphans; the default grace keeps them', async () => {
		const { dir, store } = await seeded();
		new ValueFile({ root: join(store, 'values') }).put(digest('orphan'), 'orphan');
		assert.match((await cli(dir, ['gc'])).stdout, /Removed 0 orphaned values/);
		assert.match((await cli(dir, ['gc', '--grace', '0'])).stdout, /Removed 1 orphaned value\n/);
		assert.equal(statSync(join(store, 'values')).isDirectory(), true);
	});
});
