// docs/behaviour.md §1.3 (`hashCode: 'deep'`): a function keyed by the code it runs. Real module graphs written to temp
// projects, run in child processes against the project's own file store; the `fleche` CLI explains the misses.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, FlecheConfig, fleche } from 'fleche';
import { runNode, type RunNodeResult } from '../support/tmp.ts';
import { bundleTypeScript, runtimeDir, userProject } from '../support/project.ts';

const bin = join(runtimeDir, 'bin', 'fleche.mjs');

let tick = 0;
/**
 * Writes a project file with an mtime safely in the past (each write a distinct one), so that the stamp memory trusts
 * it at once: a file modified in the last moment is digested again on purpose (the racy-mtime rule).
 */
function write(dir: string, path: string, text: string): void {
	const file = join(dir, path);
	mkdirSync(dirname(file), { recursive: true });
	writeFileSync(file, text);
	const at = (Date.now() - 60_000 + tick++ * 10) / 1000;
	utimesSync(file, at, at);
}

/** What one run of the project's `run.mjs` reports. */
interface Run {
	readonly out: number[];
	readonly digest: string;
	readonly key: string;
	/** Files digested (parsed) in that process, by the debug log. */
	readonly digested: string[];
	/** Code graphs computed in that process. */
	readonly graphs: number;
	readonly runs: number;
}

// The child: calls `job` with the numbers of argv[2] (and `other` once), then reports what the deep digest cost.
const runner = [
	"import { setLogger } from 'fleche';",
	"import { readFileSync, existsSync } from 'node:fs';",
	'const events = [];',
	"setLogger((r) => { if (r.code === 'FLECHE_DEEP_CODE') events.push(r.message); else if (r.level !== 'debug') console.error(r.code, r.message); }, 'debug');",
	"const { job, other } = await import(process.argv[3] ?? './src/job.js');",
	"const args = JSON.parse(process.argv[2] ?? '[1]');",
	'const out = [];',
	'for (const n of args) out.push(await job(n));',
	'await other(1);',
	"const runs = existsSync('runs.txt') ? readFileSync('runs.txt', 'utf8').split('\\n').filter(Boolean).length : 0;",
	'console.log(JSON.stringify({',
	'\tout, digest: job.fleche.identity.codeDigest, key: job.fleche.digest(args[0]), runs,',
	"\tdigested: events.filter((m) => m.includes(': digested ')).map((m) => m.split(': digested ')[1]),",
	'\tgraphs: events.filter((m) => / runs \\d+ files/.test(m)).length,',
	'}));',
	'',
].join('\n');

async function run(dir: string, args: number[] = [1], entry?: string): Promise<Run> {
	const r = await runNode(join(dir, 'run.mjs'), [JSON.stringify(args), ...(entry ? [entry] : [])], { cwd: dir });
	assert.equal(r.code, 0, r.stderr);
	const last = r.stdout.trim().split('\n').at(-1)!;
	return JSON.parse(last) as Run;
}

function cli(dir: string, ...args: string[]): Promise<RunNodeResult> {
	return runNode(bin, args, { cwd: dir, execArgv: [] });
}

interface Explained {
	explanation: {
		hit: boolean;
		keyedBy: string;
		codeFromFiles?: boolean;
		message: string;
		differences: { field: string; name?: string; cached: string; now: string }[];
	};
}

async function explainJson(dir: string, args = '{"n":1}', ...flags: string[]): Promise<Explained> {
	const r = await cli(dir, 'explain', 'job', args, '--json', ...flags);
	assert.equal(r.code, 0, r.stderr);
	const line = r.stdout
		.split('\n')
		.filter(Boolean)
		.map((l) => JSON.parse(l) as { type: string })
		.find((l) => l.type === 'explain');
	assert.ok(line, r.stdout);
	return line as unknown as Explained;
}

/** Bundles src/job.ts as tsx or a build would run it: one file with an inline source map to the .ts sources. */
async function bundleJob(dir: string): Promise<string> {
	await bundleTypeScript(join(dir, 'src/job.ts'), join(dir, 'dist/job.mjs'));
	return './dist/job.mjs';
}

/** src/job.ts of a TypeScript project: `job` (counting its runs in runs.txt) returns `result`, after `imports`. */
function tsJob(dir: string, imports: readonly string[], result: string): void {
	write(
		dir,
		'src/job.ts',
		[
			"import { fleche } from 'fleche';",
			"import { appendFileSync } from 'node:fs';",
			...imports,
			'export const job = fleche((n: number): number => {',
			"\tappendFileSync('runs.txt', 'job\\n');",
			`\treturn ${result};`,
			'});',
			'export const other = fleche((n: number) => n);',
			'',
		].join('\n'),
	);
}

function packageJson(dir: string, version: string): void {
	write(dir, 'node_modules/padder/package.json', JSON.stringify({ name: 'padder', version, main: 'index.js' }));
}

/**
 * job.js → mid.js → helper.js (two imports away), legacy.cjs → base.cjs and ./lib (`require` of a file and of a
 * folder's index.js), `#conf` (package.json "imports"), a dynamic import with a literal, data.json, and the package
 * `padder`.
 */
function jsProject(): string {
	const dir = userProject({});
	write(dir, 'package.json', JSON.stringify({ name: 'proj', type: 'module', private: true, imports: { '#conf': './src/conf.js' } }));
	write(dir, 'run.mjs', runner);
	packageJson(dir, '1.0.0');
	write(dir, 'node_modules/padder/index.js', 'module.exports = (s) => String(s);\n');
	write(
		dir,
		'src/job.js',
		[
			"import { fleche } from 'fleche';",
			"import { appendFileSync } from 'node:fs';",
			"import pad from 'padder';",
			"import { twice } from './mid.js';",
			'export const job = fleche(async (n) => {',
			"\tappendFileSync('runs.txt', 'job\\n');",
			"\tconst { scale } = await import('./lazy.js');",
			'\treturn Number(pad(twice(n) * scale));',
			"}, { hashCode: 'deep' });",
			"export const other = fleche((n) => n, { hashCode: 'deep' });",
			'',
		].join('\n'),
	);
	write(
		dir,
		'src/mid.js',
		[
			"import { inc } from './helper.js';",
			"import legacy from './legacy.cjs';",
			"import { offset } from '#conf';",
			"import data from './data.json' with { type: 'json' };",
			'export const twice = (n) => (inc(n) + legacy.base + offset + data.d) * 2;',
			'',
		].join('\n'),
	);
	write(dir, 'src/helper.js', '// adds k\nexport const k = 1;\nexport function inc(n) {\n\treturn n + k;\n}\n');
	write(dir, 'src/legacy.cjs', "'use strict';\nmodule.exports = { base: require('./base.cjs').base + require('./lib').zero };\n");
	write(dir, 'src/base.cjs', 'exports.base = 0;\n');
	write(dir, 'src/conf.js', 'export const offset = 0;\n');
	write(dir, 'src/lib/package.json', '{ "type": "commonjs" }\n');
	write(dir, 'src/lib/index.js', 'exports.zero = 0;\n');
	write(dir, 'src/lazy.js', 'export const scale = 1;\n');
	write(dir, 'src/data.json', '{ "d": 0 }\n');
	return dir;
}

describe("hashCode: 'deep' (JavaScript)", () => {
	const dir = jsProject();
	let first: Run;

	test('the first run digests every file of the graph once, in one graph for both functions of the module', async () => {
		first = await run(dir, [1, 2, 1]);
		assert.deepEqual(first.out, [4, 6, 4]);
		assert.equal(first.runs, 2, 'job(1) twice in one process: the second is a hit');
		assert.deepEqual(
			[...first.digested].sort(),
			['src/base.cjs', 'src/conf.js', 'src/data.json', 'src/helper.js', 'src/lazy.js', 'src/legacy.cjs', 'src/lib/index.js', 'src/job.js', 'src/mid.js'].sort(),
			'each file once: relative and .cjs require, #imports, a folder index, a literal dynamic import, JSON',
		);
		assert.equal(first.graphs, 1, 'computed once per process, for two functions and four calls');
	});

	test('a new process hits, digesting nothing: every file is remembered by its stamp', async () => {
		const again = await run(dir);
		assert.equal(again.digest, first.digest);
		assert.equal(again.runs, 2, 'a hit');
		assert.deepEqual(again.digested, []);
		assert.equal(again.graphs, 1);
		const memory = JSON.parse(readFileSync(join(dir, 'node_modules/.cache/fleche/code.json'), 'utf8')) as { format: string; files: object };
		assert.equal(memory.format, 'fleche.code-cache/1');
		assert.equal(Object.keys(memory.files).length, 9);
	});

	test('a comment and a reformat two imports away keep the key: a hit', async () => {
		write(dir, 'src/helper.js', '/* adds k, reformatted */\nexport const k = 1\nexport function inc (n) { return (n + k) } // done\n');
		const r = await run(dir);
		assert.deepEqual(r.digested, ['src/helper.js'], 'only the edited file is read again');
		assert.equal(r.digest, first.digest);
		assert.equal(r.runs, 2, 'still a hit');
	});

	test('a code edit two imports away is a miss, and explain names the file (from the files, nothing imported)', async () => {
		write(dir, 'src/helper.js', 'export const k = 2;\nexport function inc(n) {\n\treturn n + k;\n}\n');
		const why = await explainJson(dir);
		assert.equal(why.explanation.hit, false);
		assert.equal(why.explanation.keyedBy, 'store');
		assert.equal(why.explanation.codeFromFiles, true);
		assert.deepEqual(
			why.explanation.differences.map((d) => [d.field, d.name]),
			[['file', 'src/helper.js']],
		);
		assert.match(why.explanation.message, /src\/helper\.js changed/);
		const human = await cli(dir, 'explain', 'job', '{"n":1}');
		assert.match(human.stdout, /file src\/helper\.js: cached [0-9a-f]{16}\s+now [0-9a-f]{16}/);

		const r = await run(dir);
		assert.notEqual(r.digest, first.digest);
		assert.equal(r.runs, 3, 'a miss: the body ran');
		assert.deepEqual(r.out, [6]);
		const cached = await explainJson(dir);
		assert.equal(cached.explanation.hit, true);
	});

	test('a package version bump in node_modules is a miss; explain --import names the package', async () => {
		const before = await run(dir);
		packageJson(dir, '1.1.0');
		const why = await explainJson(dir, '{"n":1}', '--import');
		assert.equal(why.explanation.keyedBy, 'function');
		assert.deepEqual(
			why.explanation.differences.map((d) => [d.field, d.name, d.cached, d.now]),
			[['package', 'padder', '1.0.0', '1.1.0']],
		);
		assert.match(why.explanation.message, /package padder: cached 1\.0\.0, now 1\.1\.0/);
		const r = await run(dir);
		assert.notEqual(r.digest, before.digest);
		assert.equal(r.runs, before.runs + 1);
	});

	test('a file the graph gains is named as added', async () => {
		write(dir, 'src/lib/extra.js', 'exports.more = 0;\n');
		write(dir, 'src/lib/index.js', "exports.zero = require('./extra.js').more;\n");
		const why = await explainJson(dir);
		assert.deepEqual(
			why.explanation.differences.map((d) => [d.field, d.name, d.cached]),
			[
				['file', 'src/lib/extra.js', '(absent)'],
				['file', 'src/lib/index.js', why.explanation.differences[1]!.cached],
			],
		);
		assert.match(why.explanation.message, /src\/lib\/extra\.js added; src\/lib\/index\.js changed/);
	});
});

describe("hashCode: 'deep' (TypeScript, set once in fleche.toml)", () => {
	const dir = userProject({});
	write(dir, 'fleche.toml', '[default]\nhash_code = "deep"\n');
	write(dir, 'run.mjs', runner);
	tsJob(dir, ["import { area } from './geo.js';", "import type { Shape } from './types.js';", 'const unit: Shape = { w: 1 };'], 'area(n) + unit.w');
	write(dir, 'src/types.ts', 'export interface Shape {\n\tw: number;\n}\n');
	write(dir, 'src/geo.ts', "import { sq } from './math';\nexport function area(n: number): number {\n\treturn sq(n);\n}\n");
	write(dir, 'src/math/index.ts', 'export const sq = (n: number): number => n * n;\n');

	const bundle = (): Promise<string> => bundleJob(dir);

	let first: Run;
	test('the graph is followed through TypeScript sources: .js specifiers, a folder index, type-only imports dropped', async () => {
		first = await run(dir, [3], await bundle());
		assert.deepEqual(first.out, [10]);
		assert.deepEqual(
			[...first.digested].sort(),
			['src/geo.ts', 'src/job.ts', 'src/math/index.ts'],
			'types.ts is imported for types only: no code runs from it',
		);
		assert.equal(first.graphs, 1);
	});

	test('types, comments and layout do not count: a hit', async () => {
		write(dir, 'src/geo.ts', "import { sq } from './math';\n/** The area. */\nexport function area(n: number | bigint): number { return sq(n as number) }\n");
		const r = await run(dir, [3], await bundle());
		assert.equal(r.digest, first.digest);
		assert.equal(r.runs, 1, 'a hit');
	});

	test('a code edit in the folder index is a miss, and explain names it', async () => {
		write(dir, 'src/math/index.ts', 'export const sq = (n: number): number => n * n + 0;\n');
		const why = await explainJson(dir, '{"n":3}');
		assert.deepEqual(
			why.explanation.differences.map((d) => [d.field, d.name]),
			[['file', 'src/math/index.ts']],
		);
		const r = await run(dir, [3], await bundle());
		assert.notEqual(r.digest, first.digest);
		assert.equal(r.runs, 2);
	});
});

describe("hashCode: 'deep' (TypeScript aliases: tsconfig paths and baseUrl, package.json imports)", () => {
	const dir = userProject({});
	write(dir, 'package.json', JSON.stringify({ name: 'proj', type: 'module', private: true, imports: { '#conf': './src/conf.js' } }));
	write(dir, 'fleche.toml', '[default]\nhash_code = "deep"\n');
	write(dir, 'run.mjs', runner);
	// `paths` in the config extended, `baseUrl` in the one extending it: the targets are relative to that baseUrl.
	write(
		dir,
		'tsconfig.json',
		'{\n\t// aliases live in the base\n\t"extends": "./tsconfig.base.json",\n\t"compilerOptions": { "baseUrl": ".", "strict": true, },\n}\n',
	);
	write(dir, 'tsconfig.base.json', JSON.stringify({ compilerOptions: { paths: { '@lib/*': ['src/lib/*'], '@consts': ['src/consts/index.ts'] } } }));
	tsJob(dir, ["import { twice } from '@lib/mid';"], 'twice(n)');
	write(
		dir,
		'src/lib/mid.ts',
		[
			"import { inc } from '@lib/helper';",
			"import { offset } from '#conf';",
			"import { base } from 'src/base';",
			"import { zero } from '@consts';",
			'export const twice = (n: number): number => (inc(n) + offset + base + zero) * 2;',
			'',
		].join('\n'),
	);
	write(dir, 'src/lib/helper.ts', '// adds one\nexport function inc(n: number): number {\n\treturn n + 1;\n}\n');
	write(dir, 'src/conf.ts', 'export const offset: number = 0;\n');
	write(dir, 'src/base.ts', 'export const base = 0;\n');
	write(dir, 'src/consts/index.ts', 'export const zero = 0;\n');

	const bundle = (): Promise<string> => bundleJob(dir);

	let first: Run;
	test('the graph follows a paths alias (from an extended config), baseUrl, an exact paths key and #imports to a TypeScript source', async () => {
		first = await run(dir, [1], await bundle());
		assert.deepEqual(first.out, [4]);
		assert.deepEqual([...first.digested].sort(), ['src/base.ts', 'src/conf.ts', 'src/consts/index.ts', 'src/job.ts', 'src/lib/helper.ts', 'src/lib/mid.ts']);
	});

	test('a comment-only edit of the helper two aliased imports away: a hit', async () => {
		write(dir, 'src/lib/helper.ts', '/** Adds one. */\nexport function inc(n: number): number { return n + 1 } // same code\n');
		const r = await run(dir, [1], await bundle());
		assert.deepEqual(r.digested, ['src/lib/helper.ts']);
		assert.equal(r.digest, first.digest);
		assert.equal(r.runs, 1, 'a hit');
	});

	test('a code edit of that helper: a miss, and explain names the file', async () => {
		write(dir, 'src/lib/helper.ts', 'export function inc(n: number): number {\n\treturn n + 2;\n}\n');
		const why = await explainJson(dir);
		assert.equal(why.explanation.hit, false);
		assert.deepEqual(
			why.explanation.differences.map((d) => [d.field, d.name]),
			[['file', 'src/lib/helper.ts']],
		);
		assert.match(why.explanation.message, /src\/lib\/helper\.ts changed/);
		const r = await run(dir, [1], await bundle());
		assert.notEqual(r.digest, first.digest);
		assert.equal(r.runs, 2, 'a miss: the body ran');
		assert.deepEqual(r.out, [6]);
	});
});

describe("hashCode: 'deep': what cannot be remembered or resolved", () => {
	const dir = userProject({});
	write(dir, 'run.mjs', runner);
	write(
		dir,
		'src/job.js',
		[
			"import { fleche } from 'fleche';",
			"import { appendFileSync } from 'node:fs';",
			"import { step } from './fresh.js';",
			"export const job = fleche((n) => { appendFileSync('runs.txt', 'job\\n'); return step(n); }, { hashCode: 'deep' });",
			"export const other = fleche((n) => n, { hashCode: 'deep' });",
			// Never runs: the specifier names no file yet, and counts as its text.
			"export const later = () => import('./plugin.js');",
			'',
		].join('\n'),
	);
	const fresh = join(dir, 'src/fresh.js');
	writeFileSync(fresh, 'export const step = (n) => n + 1;\n');
	// An mtime not safely in the past (here, ahead of the clock): the same clock tick could hide a later edit.
	const ahead = (Date.now() + 3_600_000) / 1000;
	utimesSync(fresh, ahead, ahead);

	test('a file modified within the last moment is digested again by every process (the racy-mtime rule)', async () => {
		const one = await run(dir);
		const two = await run(dir);
		assert.deepEqual(one.digested.sort(), ['src/fresh.js', 'src/job.js']);
		assert.deepEqual(two.digested, ['src/fresh.js'], 'job.js is remembered, fresh.js is not');
		assert.equal(two.digest, one.digest);
		assert.equal(two.runs, 1, 'a hit all the same');
	});

	test('an import that resolves to nothing counts as its text: creating the file is a miss, and explain says it is no longer missing', async () => {
		write(dir, 'src/plugin.js', 'export default 1;\n');
		const why = await explainJson(dir);
		assert.deepEqual(
			why.explanation.differences.map((d) => [d.field, d.name, d.cached, d.now]),
			[
				['file', 'src/plugin.js', '(absent)', why.explanation.differences[0]!.now],
				['file', './plugin.js from src/job.js', 'missing', '(absent)'],
			],
		);
		assert.match(why.explanation.message, /src\/plugin\.js added; \.\/plugin\.js from src\/job\.js resolves now/);
		const r = await run(dir);
		assert.equal(r.runs, 2, 'a miss');
	});
});

describe("hashCode: 'deep' options", () => {
	test("hashCode takes true, false or 'deep'; fleche.toml's hash_code the same, naming the file and line otherwise", () => {
		assert.throws(() => fleche((a: number) => a, { name: 'f', hashCode: 'shallow' as 'deep' }), /option 'hashCode' must be true, false or 'deep'/);
		assert.equal(FlecheConfig.fromToml('[default]\nhash_code = "deep"\n').hashCode(), 'deep');
		assert.equal(FlecheConfig.fromToml('[default]\nhash_code = true\n').hashCode(), true);
		assert.equal(FlecheConfig.fromToml('[default]\ncache = "memory"\n').hashCode(), undefined);
		assert.throws(
			() => FlecheConfig.fromToml('[default]\nhash_code = "yes"\n', { file: '/p/fleche.toml' }),
			(err: Error) => err instanceof ConfigError && /fleche\.toml:2/.test(err.message) && /'hash_code' must be true, false or "deep"/.test(err.message),
		);
	});
});
