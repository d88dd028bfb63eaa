// docs/behaviour.md §1.4, §1.9, §2.6 "Memory": what the in-memory hot path keeps while it does less per call —
// metadata copied away from its sources, keys of every parameter shape, records and values isolated — and what
// importing `fleche` loads (nothing a feature can load on first use).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fleche, cache, meta, Runtime, type Json, type MetaData } from 'fleche';
import { memoryStore } from '../support/stores.ts';
import { userProject } from '../support/project.ts';
import { runNode } from '../support/tmp.ts';

describe('the cached call, memory store', () => {
	test('metadata a source keeps and changes after the call, or gives with an own __proto__ key, is stored as it was', () => {
		const kept: Record<string, Json> = { phase: 'before' };
		const own = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as Record<string, Json>;
		const source: MetaData = {
			name: 'probe',
			pre: () => kept,
			post: () => own,
		};
		const store = memoryStore();
		let runs = 0;
		const f = fleche(
			(x: number) => {
				runs++;
				return x + 1;
			},
			{ name: 'metaCopied', module: 'hotPath' },
		);
		cache(store, () =>
			meta([new Runtime(), source], () => {
				assert.equal(f(1), 2);
				kept.phase = 'changed';
				own.ok = 2;
				assert.equal(f(1), 2);
			}),
		);
		assert.equal(runs, 1);
		const [record] = [...store.records({ name: 'metaCopied' })];
		const probe = record!.metadata.probe!;
		assert.equal(probe.phase, 'before');
		assert.equal(probe.ok, 1);
		assert.deepEqual(Object.keys(probe), ['phase', '__proto__', 'ok'], '__proto__ stays an own key');
		assert.equal((probe as { polluted?: unknown }).polluted, undefined, 'and is not the prototype');
		const runtime = record!.metadata.runtime!;
		for (const field of ['timestart', 'timestop', 'walltime', 'cputime', 'systime']) assert.equal(typeof runtime[field], 'number', field);
	});

	test('keys of every parameter shape: defaults, extra arguments, ignored, rest, methods', () => {
		const store = memoryStore();
		let runs = 0;
		const count = <T>(v: T): T => {
			runs++;
			return v;
		};
		const withDefault = fleche((a: number, b = 10) => count(a + b), { name: 'withDefault', module: 'hotPath' });
		const ignoring = fleche((a: number, log: string) => count(a + log.length * 0), { name: 'ignoring', module: 'hotPath', ignore: 'log' });
		const rest = fleche((a: number, ...more: number[]) => count(a + more.length), { name: 'rest', module: 'hotPath' });
		cache(store, () => {
			// f(1), f(1, 10) and f(1, undefined) are one call; an argument past the declared ones is keyed.
			withDefault(1);
			withDefault(1, 10);
			withDefault(1, undefined);
			(withDefault as (...args: number[]) => number)(1, 10, 5);
			assert.equal(runs, 2);
			assert.equal(withDefault.fleche.digest(1), withDefault.fleche.digest(1, 10));
			ignoring(1, 'a');
			ignoring(1, 'bb');
			assert.equal(runs, 3);
			rest(1);
			rest(1, 2);
			rest(1, 2);
			assert.equal(runs, 5);
		});
		const extra = [...store.records({ name: 'withDefault' })].find((r) => '#2' in r.arguments);
		assert.deepEqual(Object.keys(extra!.arguments), ['a', 'b', '#2']);
		const [ignored] = [...store.records({ name: 'ignoring' })];
		assert.deepEqual(Object.keys(ignored!.arguments), ['a']);
		class Shape {
			constructor(readonly side: number) {}
			@fleche()
			area(scale: number): number {
				return count(this.side * this.side * scale);
			}
		}
		cache(store, () => {
			assert.equal(new Shape(2).area(1), 4);
			assert.equal(new Shape(2).area(1), 4);
			assert.equal(new Shape(3).area(1), 9);
		});
		assert.equal(runs, 7);
		const [method] = [...store.records({ name: 'Shape.area' })];
		assert.deepEqual(Object.keys(method!.arguments), ['this', 'scale']);
	});

	test('a primitive result is served as stored; an object result is a fresh copy on every hit', () => {
		const store = memoryStore();
		const text = fleche((n: number) => 'x'.repeat(n), { name: 'text', module: 'hotPath' });
		const list = fleche((n: number) => Array.from({ length: n }, (_, i) => ({ i })), { name: 'list', module: 'hotPath' });
		cache(store, () => {
			assert.equal(text(3), 'xxx');
			assert.equal(text(3), 'xxx');
			const first = list(2);
			first[0]!.i = 99;
			const second = list(2);
			assert.deepEqual(second, [{ i: 0 }, { i: 1 }]);
			second.push({ i: 7 });
			assert.deepEqual(list(2), [{ i: 0 }, { i: 1 }]);
		});
		assert.equal(store.stats({ name: 'list' })[0]!.hits, 2);
		assert.equal(store.stats({ name: 'text' })[0]!.hits, 1);
	});
});

describe('importing fleche', () => {
	// What the package's features load when first used: `import 'fleche'` must not pay for them.
	const optionalPackages = ['pg', 'pgpass', 'ms', 'acorn', 'smol-toml', 'sql.js', 'esbuild', 'ssh2', 'threads', 'piscina'];
	const lazyBuiltins = ['v8', 'zlib', 'child_process', 'worker_threads', 'perf_hooks', 'inspector', 'net', 'tls', 'http'];
	const probe = (load: string) => `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const packages = () => [...new Set(Object.keys(require.cache).map((f) => f.match(/node_modules[\\\\/]((?:@[^\\\\/]+[\\\\/])?[^\\\\/]+)/)?.[1]).filter(Boolean))].filter((p) => p !== 'fleche');
const before = new Set(process.moduleLoadList);
const f = ${load};
const builtins = process.moduleLoadList.filter((m) => !before.has(m) && m.startsWith('NativeModule ') && !m.includes('internal/')).map((m) => m.slice('NativeModule '.length));
const atImport = packages();
// A duration written as text is the first use of ms.
const timed = f.fleche((x) => x * 2, { name: 'twice', module: 'probe', maxAge: '1h' });
f.cache('memory');
const results = [timed(2), timed(2)];
console.log(JSON.stringify({ builtins, atImport, afterUse: packages(), results }));
`;

	for (const [kind, load] of [
		['ESM import', `await import('fleche')`],
		['CommonJS require', `require('fleche')`],
	] as const) {
		test(`${kind} loads no optional package and none of the built-ins that features load on first use`, async (t) => {
			const project = userProject({ 'probe.mjs': probe(load) }, t);
			const run = await runNode(join(project, 'probe.mjs'), [], { cwd: project, execArgv: [] });
			assert.equal(run.code, 0, run.stderr);
			const out = JSON.parse(run.stdout) as { builtins: string[]; atImport: string[]; afterUse: string[]; results: number[] };
			assert.deepEqual(
				out.atImport.filter((p) => optionalPackages.includes(p)),
				[],
			);
			assert.deepEqual(
				out.builtins.filter((b) => lazyBuiltins.includes(b)),
				[],
			);
			assert.deepEqual(out.results, [4, 4]);
			assert.ok(out.afterUse.includes('ms'), `ms loads on first use: ${out.afterUse.join(', ')}`);
		});
	}
});
