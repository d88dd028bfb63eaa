// `npm run test:mutation`: Stryker mutation testing of the runtime's core modules, one module group at a time, each
// judged only by the test files that cover it (so a group finishes in minutes on a small machine). Slow: not part of
// `npm test` or CI's default path. Results: out/mutation/<group>/index.html and mutation.json, a summary in
// out/mutation/summary.json; what survives and why is kept in docs/mutation.md.
//
//   node test/mutation/run.mjs                 every group
//   node test/mutation/run.mjs query digest    some groups (names below)
//   node test/mutation/run.mjs --list          the groups, their modules and tests
//   node test/mutation/run.mjs digest --mutate runtime/src/digest.ts:100-300 --tests digest --concurrency 1
//                                              one group, restricted: only these files/line ranges (Stryker's
//                                              `mutate` syntax, repeatable), judged by only these of its test files
//
// How: Stryker instruments the group's modules in place (every mutant compiled in, one chosen per run by the
// environment variable __STRYKER_ACTIVE_MUTANT__, which child processes and worker threads inherit), builds the
// runtime and the tests once (`buildCommand`), then runs `node --test` on the group's test files per mutant
// (`commandRunner`: node:test needs no plugin). In place, because the tests import the built package through the
// workspace link `node_modules/fleche -> ../runtime`, which a sandbox copy would not redirect. The sources are
// restored when the run ends; do not commit while it runs. Concurrency: --concurrency N, else the environment
// variable STRYKER_CONCURRENCY, else 2 (use 1 on a shared machine).

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Stryker } from '@stryker-mutator/core';

const root = path.resolve(import.meta.dirname, '..', '..');
process.chdir(root);

const tests = (...names) => names.map((n) => `out/test-node/runtime/${n}.test.js`);

/** Module groups: the files Stryker mutates, and the test files that must notice. */
export const groups = {
	query: { mutate: ['runtime/src/query.ts'], tests: tests('query') },
	digest: { mutate: ['runtime/src/digest.ts'], tests: tests('digest', 'digestApi') },
	callKey: { mutate: ['runtime/src/call.ts', 'runtime/src/storage/keys.ts'], tests: tests('digest', 'wrapper', 'storage', 'keys') },
	wrapper: { mutate: ['runtime/src/wrapper.ts'], tests: tests('wrapper', 'wrapperHelpers', 'compositions', 'cache', 'deepCode', 'expiry') },
	storages: {
		mutate: ['runtime/src/storage/memory.ts', 'runtime/src/storage/file/*.ts', 'runtime/src/storage/sql/*.ts'],
		tests: tests(
			'storage',
			'memoryStorage',
			'fileStorage',
			'callFile',
			'fileLayout',
			'fileKind',
			'kinds',
			'sqlKind',
			'config',
			'expiry',
			'sqlStorage',
			'sqlWorker',
			'sqlLog',
			'sqlSchema',
			'sql',
			'stats',
		),
	},
	executor: { mutate: ['runtime/src/executor/*.ts'], tests: tests('concurrency', 'executorSubmit', 'poolBinding', 'bullmq', 'untrusted') },
	// One computation per call across processes: the lease files, and how a miss takes, holds and waits for a lease.
	leases: { mutate: ['runtime/src/storage/file/leases.ts', 'runtime/src/leases.ts'], tests: tests('leases', 'fileKind', 'protocol') },
	// The SQL store's snapshot read page by page (the worker's database file) and its key-presence filter (misses
	// answered in the calling thread): judged by the method-by-method tests and the scale tests that page and compact.
	sqlPages: {
		mutate: ['runtime/src/storage/sql/pagedFile.ts', 'runtime/src/storage/sql/presence.ts'],
		tests: tests('sqlPresence', 'sqlPagedFile', 'sqlStorage', 'sqlScale'),
	},
	// The file store's summary index: what fleche/inspect lists, kept current and persisted apart from the store.
	summaryIndex: { mutate: ['runtime/src/storage/file/summaryIndex.ts'], tests: tests('summaryIndex', 'inspectPaging', 'fileKind', 'inspect', 'fileArgs') },
};

const { values: flags, positionals } = parseArgs({
	options: {
		list: { type: 'boolean', default: false },
		mutate: { type: 'string', multiple: true },
		tests: { type: 'string', multiple: true },
		concurrency: { type: 'string' },
		// node:test's --test-name-pattern (a regular expression): leaves slow tests of a test file out of a restricted run.
		'name-pattern': { type: 'string' },
	},
	allowPositionals: true,
});
if (flags.list) {
	for (const [name, g] of Object.entries(groups)) console.log(`${name}: ${g.mutate.join(' ')}  ←  ${g.tests.join(' ')}`);
	process.exit(0);
}
const unknown = positionals.filter((p) => !(p in groups));
if (unknown.length > 0) {
	console.error(`test/mutation/run.mjs: unknown group ${unknown.join(', ')} (expected ${Object.keys(groups).join(', ')})`);
	process.exit(2);
}
const selected = positionals.length > 0 ? positionals : Object.keys(groups);
const restricted = flags.mutate !== undefined || flags.tests !== undefined || flags['name-pattern'] !== undefined;
if (restricted && selected.length !== 1) {
	console.error('test/mutation/run.mjs: --mutate and --tests restrict one group; name exactly one');
	process.exit(2);
}
if (flags.tests) {
	const extra = tests(...flags.tests).filter((t) => !groups[selected[0]].tests.includes(t));
	if (extra.length > 0) {
		console.error(`test/mutation/run.mjs: --tests outside the group: ${extra.join(', ')}`);
		process.exit(2);
	}
}
// As in test/run.mjs: the summary indexes the tests' thousands of temporary stores would leave in the user's cache
// folder (docs/behaviour.md §12), one per store and mutant, go to a throwaway folder (the runs inherit it).
if (process.env.FLECHE_INDEX_DIR === undefined) {
	const indexes = mkdtempSync(path.join(tmpdir(), 'fleche-mutation-indexes-'));
	process.env.FLECHE_INDEX_DIR = indexes;
	process.on('exit', () => rmSync(indexes, { recursive: true, force: true }));
}
// A mutant that makes a test hang is killed at its timeout, before the test removes its temporary folders: one of
// pagedFile.ts's (a compaction that never stops writing) left a 5.5 GB file in /tmp. Every run's temporary folders go
// to one throwaway folder (the test processes inherit TMPDIR), removed when this run ends.
const scratch = mkdtempSync(path.join(tmpdir(), 'fleche-mutation-tmp-'));
process.env.TMPDIR = scratch;
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const concurrency = Number(flags.concurrency ?? process.env.STRYKER_CONCURRENCY ?? 2);
if (!Number.isInteger(concurrency) || concurrency < 1) {
	console.error(`test/mutation/run.mjs: concurrency must be a positive integer, not ${flags.concurrency ?? process.env.STRYKER_CONCURRENCY}`);
	process.exit(2);
}

/** Stryker's score: detected (killed or timed out) over every valid mutant (those that compiled and were run). */
function score(results) {
	const count = (...statuses) => results.filter((r) => statuses.includes(r.status)).length;
	const detected = count('Killed', 'Timeout');
	const undetected = count('Survived', 'NoCoverage');
	return {
		detected,
		undetected,
		errors: count('CompileError', 'RuntimeError'),
		ignored: count('Ignored'),
		score: detected / Math.max(1, detected + undetected),
	};
}

const summary = {};
let failed = false;
for (const name of selected) {
	const group = {
		mutate: flags.mutate ?? groups[name].mutate,
		tests: flags.tests ? tests(...flags.tests) : groups[name].tests,
		pattern: flags['name-pattern'],
	};
	// Stryker's `file:from-to` ranges narrow what is mutated; the type-check switch wants the files alone.
	const files = [...new Set(group.mutate.map((m) => m.replace(/:\d+(:\d+)?-\d+(:\d+)?$/, '')))];
	// A restricted run is kept beside the group's other runs in the summary, under its own entry.
	const entry = restricted
		? `${name} ${group.mutate.join(' ')} <- ${group.tests.map((t) => path.basename(t, '.test.js')).join(' ')}${group.pattern ? ` /${group.pattern}/` : ''}`
		: name;
	const outDir = path.join('out', 'mutation', name);
	mkdirSync(outDir, { recursive: true });
	console.log(`\n=== mutation: ${name} (${group.mutate.join(', ')}) ===`);
	const stryker = new Stryker({
		testRunner: 'command',
		commandRunner: {
			command: `node --test --enable-source-maps --test-concurrency=1 --test-reporter=dot${group.pattern ? ` --test-name-pattern=${JSON.stringify(group.pattern)}` : ''} ${group.tests.join(' ')}`,
		},
		buildCommand: 'node esbuild.mjs --only runtime --only tests',
		inPlace: true,
		mutate: group.mutate,
		// Mutated sources are not type-correct: `// @ts-nocheck` on them (only), so the declaration step still emits.
		disableTypeChecks: files.length === 1 ? files[0] : `{${files.join(',')}}`,
		coverageAnalysis: 'off',
		concurrency,
		// A loaded machine varies a lot: a mutant that makes the tests hang is caught by a generous timeout, not a tight one.
		timeoutFactor: 3,
		timeoutMS: 30_000,
		tempDirName: path.join('out', '.stryker-tmp'),
		cleanTempDir: true,
		reporters: ['html', 'json', 'clear-text', 'progress'],
		htmlReporter: { fileName: path.join(outDir, 'index.html') },
		jsonReporter: { fileName: path.join(outDir, 'mutation.json') },
		clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
		thresholds: { high: 90, low: 85, break: null },
		logLevel: 'info',
		fileLogLevel: 'off',
	});
	const started = Date.now();
	try {
		const results = await stryker.runMutationTest();
		summary[entry] = {
			modules: group.mutate,
			tests: group.tests,
			...(group.pattern ? { namePattern: group.pattern } : {}),
			restricted,
			minutes: Math.round((Date.now() - started) / 6000) / 10,
			...score(results),
			survived: results
				.filter((r) => r.status === 'Survived' || r.status === 'NoCoverage')
				.map((r) => ({ file: r.fileName, line: r.location.start.line, mutator: r.mutatorName, replacement: r.replacement })),
		};
		console.log(
			`mutation ${name}: ${(summary[entry].score * 100).toFixed(1)} % killed (${summary[entry].detected} of ${summary[entry].detected + summary[entry].undetected})`,
		);
	} catch (err) {
		failed = true;
		console.error(`mutation ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
		summary[entry] = { modules: group.mutate, tests: group.tests, error: String(err) };
	}
}
const summaryFile = path.join('out', 'mutation', 'summary.json');
const previous = existsSync(summaryFile) ? JSON.parse(readFileSync(summaryFile, 'utf8')) : {};
writeFileSync(summaryFile, `${JSON.stringify({ ...previous, ...summary }, null, '\t')}\n`);
console.log(`\nsummary: ${summaryFile}`);
for (const [name, s] of Object.entries(summary))
	console.log(`  ${name}: ${s.error ? `error (${s.error})` : `${(s.score * 100).toFixed(1)} % (${s.undetected} survived)`}`);
process.exitCode = failed ? 1 : 0;
