// docs/behaviour.md §1.6, §1.7, §10: the active cache and metadata — sticky, scoped, following awaits, bound.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fleche, cache, meta, tags, project, bind, BoundWrapper, Runtime, Environment, Tags, Cache, ValueVoid, CallVoid } from 'fleche';
import { memoryStore, freshDir } from '../support/stores.ts';
import { captureLogs } from '../support/logs.ts';

captureLogs();
const add = fleche((a: number, b: number) => a + b, { name: 'add' });

describe('cache()', () => {
	test('cache(c) is sticky; disposing the handle restores the previous cache; nesting restores in order', () => {
		const before = cache();
		const a = memoryStore();
		const b = memoryStore();
		const c = memoryStore();
		{
			using _a = cache(a);
			assert.equal(cache(), a);
			{
				using _b = cache(b);
				cache(c); // discarded handle: sticky until the enclosing scope restores
				assert.equal(cache(), c);
			}
			assert.equal(cache(), a);
		}
		assert.equal(cache(), before);
	});

	test('cache(c, fn) runs fn with c active and returns its result; the cache follows awaits', async () => {
		const a = memoryStore();
		const outside = cache();
		const result = await cache(a, async () => {
			await new Promise((r) => setTimeout(r, 5));
			assert.equal(cache(), a);
			return add(1, 2);
		});
		assert.equal(result, 3);
		assert.equal(cache(), outside);
		assert.equal(a.contains(add.fleche.digest(1, 2)), true);
	});

	test('concurrent scopes do not leak into each other', async () => {
		const a = memoryStore();
		const b = memoryStore();
		const seen: unknown[] = [];
		await Promise.all([
			cache(a, async () => {
				await new Promise((r) => setTimeout(r, 10));
				seen.push(['a', cache() === a]);
				add(10, 1);
			}),
			cache(b, async () => {
				await new Promise((r) => setTimeout(r, 1));
				seen.push(['b', cache() === b]);
				add(20, 1);
			}),
		]);
		assert.deepEqual(seen.sort(), [['a', true], ['b', true]]);
		assert.equal(a.contains(add.fleche.digest(10, 1)), true);
		assert.equal(a.contains(add.fleche.digest(20, 1)), false);
		assert.equal(b.contains(add.fleche.digest(20, 1)), true);
	});

	test('a sticky cache(c) inside a scope changes only that scope', async () => {
		const a = memoryStore();
		const inner = memoryStore();
		const outside = cache();
		await cache(a, async () => {
			cache(inner);
			await Promise.resolve();
			assert.equal(cache(), inner);
		});
		assert.equal(cache(), outside);
	});

	test("reserved names: 'memory' is one process-wide cache, 'void' stores nothing", () => {
		assert.equal(cache('memory', () => cache()), cache('memory', () => cache()));
		let runs = 0;
		const f = fleche((x: number) => {
			runs++;
			return x;
		}, { name: 'f' });
		cache('void', () => {
			f(1);
			f(1);
		});
		assert.equal(runs, 2);
		assert.ok(cache('void', () => cache()) instanceof Cache);
		assert.ok((cache('void', () => cache()) as Cache).values instanceof ValueVoid);
		assert.ok((cache('void', () => cache()) as Cache).calls instanceof CallVoid);
		assert.throws(() => cache('no-such-cache'), /Unknown cache name/);
		assert.throws(() => cache(42 as never), TypeError);
	});

	test('the default cache is persistent and project-local: .fleche/ next to the nearest package.json', () => {
		const project = freshDir();
		writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'demo-project', type: 'module' }));
		mkdirSync(join(project, 'src', 'deep'), { recursive: true });
		const entry = createRequire(import.meta.url).resolve('fleche').replace(/cjs[/\\]index\.js$/, 'esm/index.js');
		const script = join(project, 'src', 'deep', 'main.mjs');
		writeFileSync(
			script,
			`import { fleche, cache } from ${JSON.stringify(entry)};
let runs = 0;
const slowDouble = fleche((x) => { runs++; return x * 2; });
const r = slowDouble(21);
console.log(JSON.stringify({ r, runs, module: slowDouble.fleche.identity.module, hit: slowDouble.fleche.contains(21) }));`,
		);
		const env = { ...process.env, FLECHE_ROOT: '' };
		const run = () => JSON.parse(execFileSync(process.execPath, [script], { cwd: join(project, 'src'), env, encoding: 'utf8' })) as Record<string, unknown>;
		assert.deepEqual(run(), { r: 42, runs: 1, module: 'src/deep/main.mjs', hit: true });
		assert.ok(existsSync(join(project, '.fleche', 'calls')));
		// One call file (named by its 64-hex key); the statistics journal lives beside it in `.stats/`.
		assert.equal(readdirSync(join(project, '.fleche', 'calls')).filter((n) => /^[0-9a-f]{64}/.test(n)).length, 1);
		assert.deepEqual(run(), { r: 42, runs: 0, module: 'src/deep/main.mjs', hit: true }, 'second process hits');
	});

	test('the CommonJS build works and shares state with the ESM build', () => {
		const dir = freshDir();
		const script = join(dir, 'main.cjs');
		const req = createRequire(import.meta.url);
		writeFileSync(
			script,
			`const { fleche, cache, Cache, ValueMemory, CallMemory } = require(${JSON.stringify(req.resolve('fleche'))});
cache(new Cache(new ValueMemory(), new CallMemory()));
let runs = 0;
const f = fleche((x) => { runs++; return x + 1; }, { name: 'f' });
f(1); f(1);
import(${JSON.stringify(req.resolve('fleche').replace(/cjs([/\\\\])index\.js$/, 'esm$1index.js'))}).then((esm) => {
  console.log(JSON.stringify({ runs, same: esm.cache() === cache(), esmSeesHit: esm.cache().contains(f.fleche.digest(1)) }));
});`,
		);
		const out = JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8' })) as unknown;
		assert.deepEqual(out, { runs: 1, same: true, esmSeesHit: true });
	});
});

describe('meta(), tags(), project()', () => {
	test('Runtime metadata is recorded by default', () => {
		using _ = cache(memoryStore());
		add(1, 1);
		const rt = add.fleche.query({ a: 1, b: 1 }).only().metadata.runtime!;
		for (const k of ['timestart', 'timestop', 'walltime', 'cputime', 'systime']) assert.equal(typeof rt[k], 'number', k);
		assert.ok((rt.timestop as number) >= (rt.timestart as number));
	});

	test("Runtime's own objects go into the record; anything else in the namespace is merged, and nothing a source keeps is shared", () => {
		using _ = cache(memoryStore());
		const order = ['timestart', 'cputime', 'systime', 'timestop', 'walltime'];
		add(21, 1);
		assert.deepEqual(Object.keys(add.fleche.query({ a: 21 }).only().metadata.runtime!), order, "pre's keys, then post's new ones");
		// A source that keeps what it returns, under the same name: merged, in the order the sources ran.
		const kept = { host: 'h1' };
		const alsoRuntime = { name: 'runtime', pre: () => kept };
		meta([new Runtime(), alsoRuntime], () => add(22, 1));
		meta([alsoRuntime, new Runtime()], () => add(23, 1));
		kept.host = 'h2';
		const after = add.fleche.query({ a: 22 }).only().metadata.runtime!;
		assert.deepEqual(Object.keys(after), [...order.slice(0, 3), 'host', ...order.slice(3)]);
		assert.equal(after.host, 'h1');
		const before = add.fleche.query({ a: 23 }).only().metadata.runtime!;
		assert.deepEqual(Object.keys(before), ['host', ...order]);
		assert.equal(before.host, 'h1');
		// A Runtime given a method of its own, or a subclass, may return fewer keys, or what it keeps: merged, not taken.
		const own = Object.assign(new Runtime(), { post: () => ({ timestop: 7 }) });
		const keptPost = { timestop: 5 };
		class Stamped extends Runtime {
			override post(): Record<string, number> {
				return keptPost;
			}
		}
		meta([own], () => add(24, 1));
		meta([new Stamped()], () => add(25, 1));
		keptPost.timestop = 99;
		for (const [a, stop] of [
			[24, 7],
			[25, 5],
		] as const) {
			const rt = add.fleche.query({ a }).only().metadata.runtime!;
			assert.deepEqual(Object.keys(rt), ['timestart', 'cputime', 'systime', 'timestop'], `a=${a}`);
			assert.equal(rt.timestop, stop);
		}
		// Two Runtimes: the second merges over the first, whose objects are not shared with it.
		meta([new Runtime(), new Runtime()], () => add(26, 1));
		assert.deepEqual(Object.keys(add.fleche.query({ a: 26 }).only().metadata.runtime!), order);
	});

	test('Runtime cputime counts the CPU a call spends, also when calls follow each other closely', () => {
		using _ = cache(memoryStore());
		const spin = fleche((n: number) => {
			let x = 0;
			for (let i = 0; i < n; i++) x = (x + Math.sqrt(i)) % 1e9;
			return x;
		}, { name: 'spin' });
		// A cheap call right before the busy one: the busy one may start from the reading the cheap one ended with.
		add(7, 7);
		spin(3e7);
		for (const n of [1, 2, 3]) add(n, 100);
		const busy = spin.fleche.query({ n: 3e7 }).only().metadata.runtime!;
		assert.ok((busy.cputime as number) > 0, `busy cputime ${JSON.stringify(busy.cputime)}`);
		assert.ok((busy.cputime as number) + (busy.systime as number) >= 0);
		for (const n of [1, 2, 3]) {
			const rt = add.fleche.query({ a: n, b: 100 }).only().metadata.runtime!;
			for (const k of ['cputime', 'systime', 'walltime']) assert.ok((rt[k] as number) >= 0, `${k} ${JSON.stringify(rt[k])}`);
			// A trivial call cannot have used anywhere near the CPU of the busy one.
			assert.ok((rt.cputime as number) < (busy.cputime as number), `cheap ${JSON.stringify(rt.cputime)} vs busy ${JSON.stringify(busy.cputime)}`);
		}
	});

	test('meta(items) is sticky and restorable; meta(items, fn) is scoped; tags and project stack', () => {
		using _ = cache(memoryStore());
		assert.ok(meta()[0] instanceof Runtime);
		{
			using __ = meta([new Runtime(), new Environment()]);
			assert.equal(meta().length, 2);
			add(2, 2);
		}
		assert.equal(meta().length, 1);
		const env = add.fleche.query({ a: 2 }).only().metadata.environment!;
		assert.equal(env.node_version, process.version);
		assert.equal(env.cwd, process.cwd());
		assert.equal(typeof env.hostname, 'string');
		assert.equal(env.fleche_version, '0.1.0');
		project('alpha', () => tags({ run: 3 }, () => add(3, 3)));
		meta(new Tags({ a: 1 }), () => meta(new Tags({ a: 2, b: 1 }), { stack: true }) && add(4, 4));
		assert.deepEqual(add.fleche.query({ a: 3 }).only().metadata.tags, { project: 'alpha', run: 3 });
		assert.deepEqual(add.fleche.query({ a: 4 }).only().metadata.tags, { a: 2, b: 1 });
		assert.equal(add.fleche.query({}, { metadata: { tags: { project: 'alpha' } } }).count(), 1);
		assert.throws(() => meta([{} as never]), TypeError);
	});

	test('per-function meta option is recorded after the active metadata', () => {
		using _ = cache(memoryStore());
		const f = fleche((x: number) => x, { name: 'withMeta', meta: new Tags({ owner: 'me' }) });
		f(1);
		const md = f.fleche.query().only().metadata;
		assert.deepEqual(md.tags, { owner: 'me' });
		assert.ok(md.runtime);
	});
});

describe('bind', () => {
	test('a bound function carries the cache and metadata active at bind time (docs/behaviour.md §1.7)', async () => {
		const a = memoryStore();
		const bound = cache(a, () => project('p', () => BoundWrapper.bind(add)));
		const elsewhere = memoryStore();
		const r = await cache(elsewhere, () => new Promise<number>((res) => setTimeout(() => res(bound(2, 3)), 1)));
		assert.equal(r, 5);
		assert.equal(a.contains(add.fleche.digest(2, 3)), true);
		assert.equal(elsewhere.contains(add.fleche.digest(2, 3)), false);
		assert.deepEqual(a.query({ name: 'add' }).only().metadata.tags, { project: 'p' });
	});

	test('nested fleche calls inside a bound plain function use the bound cache; leading args; rebinding keeps the first cache', () => {
		const a = memoryStore();
		const outer = (x: number) => add(x, 100);
		const bound = cache(a, () => bind(outer));
		assert.equal(bound(1), 101);
		assert.equal(a.contains(add.fleche.digest(1, 100)), true);
		const partial = cache(a, () => add.fleche.bind(7));
		assert.equal(partial(3), 10);
		assert.equal(a.contains(add.fleche.digest(7, 3)), true);
		const rebound = cache(memoryStore(), () => BoundWrapper.bind(partial));
		assert.equal(rebound(4), 11);
		assert.equal(a.contains(add.fleche.digest(7, 4)), true);
		assert.equal(BoundWrapper.stateOf(rebound)?.cache, a);
	});
});
