// docs/behaviour.md §1.6, §4: fleche.toml discovery, merging, rebasing, sections, templates, errors, and cache names.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as fleche from 'fleche';
import type {
	Cache} from 'fleche';
import {
	loadConfig,
	cacheFromConfig,
	ConfigError,
	FlecheConfig,
	CacheStack,
	CachePool,
	ReadOnlyCache,
	SizeLimitedCache,
	ValueFile,
	CallFile,
	CallSql,
	ValueMemory,
	CallMemory,
	ValueVoid,
	CallVoid,
	Runtime,
	Environment,
	Git,
	type CacheConfig,
} from 'fleche';
import { freshDir } from '../support/stores.ts';

function write(file: string, text: string): string {
	mkdirSync(dirname(file), { recursive: true });
	writeFileSync(file, text);
	return file;
}

/** A fake home with a project two levels below it, and an XDG folder beside it. */
function layout() {
	const base = freshDir('fleche-config-');
	const home = join(base, 'home');
	const project = join(home, 'work', 'proj');
	const cwd = join(project, 'src');
	const xdg = join(base, 'xdg');
	mkdirSync(cwd, { recursive: true });
	mkdirSync(xdg, { recursive: true });
	return { base, home, project, cwd, xdg, load: (cwdOverride = cwd) => loadConfig({ cwd: cwdOverride, home, xdgConfigHome: xdg }) };
}

function fromToml(text: string, file = '/proj/fleche.toml'): FlecheConfig {
	return FlecheConfig.fromToml(text, { file, home: '/home/u' });
}

/** Asserts `fn` throws a ConfigError whose message starts with `file:line:` and matches `pattern`. */
function throwsAt(fn: () => unknown, file: string, line: number | undefined, pattern: RegExp): void {
	assert.throws(fn, (err: unknown) => {
		assert.ok(ConfigError.is(err), `expected a ConfigError, got ${String(err)}`);
		const e = err;
		assert.equal(e.file, file);
		assert.equal(e.line, line, e.message);
		assert.ok(e.message.startsWith(`${file}${line === undefined ? '' : `:${line}`}: `), e.message);
		assert.match(e.message, pattern);
		return true;
	});
}

describe('discovery and merging (docs/behaviour.md §4)', () => {
	test('every fleche.toml from the working directory up to HOME (inclusive), closest first, then the XDG file', () => {
		const l = layout();
		write(join(l.base, 'fleche.toml'), '[above]\ntemplate = "memory"\n');
		write(join(l.home, 'fleche.toml'), '[home]\ntemplate = "memory"\n');
		write(join(l.project, 'fleche.toml'), '[proj]\ntemplate = "memory"\n');
		write(join(l.xdg, 'fleche', 'cache.toml'), '[xdg]\ntemplate = "memory"\n');
		const config = l.load();
		assert.deepEqual(config.files, [join(l.project, 'fleche.toml'), join(l.home, 'fleche.toml'), join(l.xdg, 'fleche', 'cache.toml')]);
		assert.deepEqual(config.names().sort(), ['home', 'proj', 'xdg']);
		assert.deepEqual(config.source('home'), { file: join(l.home, 'fleche.toml'), line: 1 });
	});

	test('outside HOME the walk goes to the filesystem root but ignores folders above HOME', () => {
		const l = layout();
		const elsewhere = join(l.base, 'elsewhere', 'deep');
		mkdirSync(elsewhere, { recursive: true });
		write(join(l.base, 'elsewhere', 'fleche.toml'), '[outside]\ntemplate = "memory"\n');
		write(join(l.base, 'fleche.toml'), '[above]\ntemplate = "memory"\n'); // an ancestor of HOME
		const config = l.load(elsewhere);
		assert.deepEqual(config.files, [join(l.base, 'elsewhere', 'fleche.toml')]);
	});

	test('shallow merge: a closer table replaces the farther one whole; disjoint tables stay visible', () => {
		const l = layout();
		write(join(l.home, 'fleche.toml'), '[shared]\ntemplate = "file"\nroot = "home-store"\nmax_size = 5\n\n[persistent]\ntemplate = "file"\nroot = "p"\n');
		write(join(l.project, 'fleche.toml'), '[default]\ncache = "persistent"\n\n[shared]\ntemplate = "memory"\n');
		const config = l.load();
		assert.deepEqual({ ...(config.tables.shared as object) }, { template: 'memory' }, 'no max_size left over from the farther table');
		assert.equal(config.defaultName, 'persistent');
		assert.deepEqual(config.cacheConfig('default'), {
			type: 'cache',
			values: { type: 'file', root: join(l.home, 'p', 'values') },
			calls: { type: 'file', root: join(l.home, 'p', 'calls') },
		});
	});

	test('[default] root = true stops at the closest root file: farther files and XDG ignored, closer files merge', () => {
		const l = layout();
		write(join(l.home, 'fleche.toml'), '[far]\ntemplate = "memory"\n');
		write(join(l.project, 'fleche.toml'), '[default]\nroot = true\n\n[mid]\ntemplate = "memory"\n');
		write(join(l.cwd, 'fleche.toml'), '[near]\ntemplate = "void"\n');
		write(join(l.xdg, 'fleche', 'cache.toml'), '[xdg]\ntemplate = "memory"\n');
		const config = l.load();
		assert.deepEqual(config.files, [join(l.cwd, 'fleche.toml'), join(l.project, 'fleche.toml')]);
		assert.deepEqual(config.names().sort(), ['mid', 'near']);
		// root = false is a no-op.
		write(join(l.project, 'fleche.toml'), '[default]\nroot = false\n');
		assert.equal(l.load().files.length, 4);
	});

	test('XDG file: $XDG_CONFIG_HOME/fleche/cache.toml, else ~/.config/fleche/cache.toml (unset, empty or relative)', () => {
		const l = layout();
		write(join(l.home, '.config', 'fleche', 'cache.toml'), '[dotconfig]\ntemplate = "memory"\n');
		write(join(l.xdg, 'fleche', 'cache.toml'), '[xdg]\ntemplate = "memory"\n');
		assert.deepEqual(loadConfig({ cwd: l.cwd, home: l.home, xdgConfigHome: l.xdg }).names(), ['xdg']);
		for (const xdgConfigHome of [undefined, '', 'relative/dir']) {
			assert.deepEqual(loadConfig({ cwd: l.cwd, home: l.home, xdgConfigHome }).names(), ['dotconfig'], String(xdgConfigHome));
		}
	});

	test('relative root/path/url are rebased onto the declaring file; absolute, ~ and :memory: are not rebased', () => {
		const l = layout();
		write(
			join(l.home, 'fleche.toml'),
			`[a]
template = "file"
root = "stores/a"

[b]
values = { type = "file", root = "~/b-values" }
calls = { type = "file", root = "/abs/b-calls" }

[c]
values.type = "memory"
calls = { type = "sql", url = "sqlite:///db/calls.db" }

[d]
values.type = "memory"
calls = { type = "sql", url = "sqlite:///:memory:" }

[e]
values.type = "memory"
calls = { type = "sql", path = "../x.db" }
`,
		);
		write(join(l.project, 'fleche.toml'), '[p]\ntemplate = "file"\nroot = "../store"\n');
		const config = l.load();
		assert.equal((config.tables.a as { root: string }).root, join(l.home, 'stores', 'a'));
		assert.deepEqual(config.cacheConfig('b'), {
			type: 'cache',
			values: { type: 'file', root: join(l.home, 'b-values') },
			calls: { type: 'file', root: '/abs/b-calls' },
		});
		assert.deepEqual((config.cacheConfig('c') as { calls: unknown }).calls, { type: 'sql', path: join(l.home, 'db', 'calls.db') });
		assert.equal(((config.tables.c as { calls: { url: string } }).calls).url, `sqlite:///${join(l.home, 'db', 'calls.db')}`);
		assert.deepEqual((config.cacheConfig('d') as { calls: unknown }).calls, { type: 'sql', path: ':memory:' });
		assert.deepEqual((config.cacheConfig('e') as { calls: unknown }).calls, { type: 'sql', path: join(dirname(l.home), 'x.db') });
		assert.deepEqual((config.cacheConfig('p') as { values: unknown }).values, { type: 'file', root: join(l.home, 'work', 'store', 'values') });
	});
});

describe('discovery stops where it should', () => {
	test('from HOME itself only its own file is read; files above HOME are never opened (a broken one is harmless)', () => {
		const l = layout();
		write(join(l.base, 'fleche.toml'), '[broken\n');
		write(join(l.home, 'fleche.toml'), '[home]\ntemplate = "memory"\n');
		assert.deepEqual(l.load(l.home).files, [join(l.home, 'fleche.toml')]);
		assert.deepEqual(l.load().files, [join(l.home, 'fleche.toml')]);
	});

	test('root = true in the closest file keeps even a broken HOME and XDG file from being read', () => {
		const l = layout();
		write(join(l.home, 'fleche.toml'), '[broken\n');
		write(join(l.xdg, 'fleche', 'cache.toml'), '[broken\n');
		write(join(l.cwd, 'fleche.toml'), '[default]\nroot = true\ncache = "here"\n\n[here]\ntemplate = "memory"\n');
		const config = l.load();
		assert.deepEqual(config.files, [join(l.cwd, 'fleche.toml')]);
		assert.equal(config.defaultName, 'here');
	});

	test('the XDG file is the lowest layer: every fleche.toml overrides its tables, its other tables stay visible', () => {
		const l = layout();
		write(join(l.xdg, 'fleche', 'cache.toml'), '[default]\ncache = "team"\n\n[team]\ntemplate = "memory"\n\n[shared]\ntemplate = "file"\nroot = "xdg-store"\n');
		write(join(l.home, 'fleche.toml'), '[team]\ntemplate = "void"\n');
		const config = l.load();
		assert.equal(config.source('team')?.file, join(l.home, 'fleche.toml'));
		assert.deepEqual(config.cacheConfig('default'), { type: 'cache', values: { type: 'void' }, calls: { type: 'void' } });
		assert.equal((config.cacheConfig('shared') as { calls: { root: string } }).calls.root, join(l.xdg, 'fleche', 'xdg-store', 'calls'));
	});

	test('relative paths inside stack layers, pool members and inline tables are rebased onto their own file', () => {
		const l = layout();
		write(
			join(l.home, 'fleche.toml'),
			'[[layered]]\ntemplate = "memory"\n[[layered]]\ntemplate = "file"\nroot = "far"\n\n[team]\n[[team.pool]]\nvalues = { type = "file", root = "a/v" }\ncalls = { type = "file", root = "a/c" }\n',
		);
		write(join(l.project, 'fleche.toml'), '[near]\ntemplate = "file"\nroot = "./n"\n');
		const config = l.load();
		assert.deepEqual(config.cacheConfig('layered'), {
			type: 'stack',
			caches: [
				{ type: 'cache', values: { type: 'memory' }, calls: { type: 'memory' } },
				{ type: 'cache', values: { type: 'file', root: join(l.home, 'far', 'values') }, calls: { type: 'file', root: join(l.home, 'far', 'calls') } },
			],
		});
		assert.deepEqual(config.cacheConfig('team'), {
			type: 'pool',
			caches: [{ type: 'cache', values: { type: 'file', root: join(l.home, 'a', 'v') }, calls: { type: 'file', root: join(l.home, 'a', 'c') } }],
		});
		assert.equal((config.cacheConfig('near') as { calls: { root: string } }).calls.root, join(l.project, 'n', 'calls'));
	});
});

describe('sections (docs/behaviour.md §4)', () => {
	test('memory, void and file storages, with the file options mapped onto ValueFile', () => {
		const config = fromToml(`
[m]
values.type = "memory"
calls.type = "memory"

[v]
values = "void"
calls = "void"

[f]
values = { type = "file", root = "vals", serializer = "json", compress = true, secret_key = ["00ff", "a1b2"] }
calls = { type = "file", root = "/abs/calls" }
`);
		const m = config.open('m') as Cache;
		assert.ok(m.values instanceof ValueMemory && m.calls instanceof CallMemory);
		const v = config.open('v') as Cache;
		assert.ok(v.values instanceof ValueVoid && v.calls instanceof CallVoid);
		const f = config.open('f') as Cache;
		assert.ok(f.values instanceof ValueFile && f.calls instanceof CallFile);
		assert.deepEqual(f.values.toConfig(), { type: 'file', root: '/proj/vals', serializer: 'json', compress: true, secretKey: ['00ff', 'a1b2'] });
		assert.equal((f.calls).root, '/abs/calls');
		// A colon-separated key string is several keys, as in FLECHE_SECRET_KEY.
		const g = fromToml('[g]\ntemplate = "file"\nroot = "/r"\nsecret_key = "00ff:a1b2"\n').cacheConfig('g') as { values: unknown };
		assert.deepEqual(g.values, { type: 'file', root: '/r/values', secretKey: ['00ff', 'a1b2'] });
	});

	test('templates: file (R/values, R/calls), sql (file values at R/values, calls at R/calls.db), memory, void; overrides', () => {
		const config = fromToml(`
[f]
template = "file"
root = "store"
serializer = "json"

[s]
template = "sql"
root = "/data/s"

[s2]
template = "sql"
root = "/data/s2"
path = "other.db"
values = { type = "memory" }

[m]
template = "memory"

[v]
template = "void"
`);
		assert.deepEqual(config.cacheConfig('f'), {
			type: 'cache',
			values: { type: 'file', root: '/proj/store/values', serializer: 'json' },
			calls: { type: 'file', root: '/proj/store/calls' },
		});
		assert.deepEqual(config.cacheConfig('s'), {
			type: 'cache',
			values: { type: 'file', root: '/data/s/values' },
			calls: { type: 'sql', path: '/data/s/calls.db' },
		});
		assert.deepEqual(config.cacheConfig('s2'), { type: 'cache', values: { type: 'memory' }, calls: { type: 'sql', path: '/proj/other.db' } });
		assert.deepEqual(config.cacheConfig('m'), { type: 'cache', values: { type: 'memory' }, calls: { type: 'memory' } });
		assert.deepEqual(config.cacheConfig('v'), { type: 'cache', values: { type: 'void' }, calls: { type: 'void' } });
	});

	test('the sql template opens the real SQL call store', () => {
		const dir = freshDir();
		const config = FlecheConfig.fromToml('[s]\ntemplate = "sql"\nroot = "store"\n', { file: join(dir, 'fleche.toml') });
		const c = config.open('s') as Cache;
		assert.ok(c.calls instanceof CallSql);
		assert.ok(c.values instanceof ValueFile);
		const key = c.save({ name: 'f', module: 'm', version: null, codeDigest: null, arguments: { x: 1 }, result: 2 });
		assert.equal(c.load(key).result, 2);
	});

	test('[[name]] is a stack, [[name.pool]] a pool; max_size and read_only wrap (ReadOnly outside SizeLimited)', () => {
		const config = fromToml(`
[[layered]]
template = "memory"

[[layered]]
template = "file"
root = "/store"
read_only = true
max_size = 10

[team]
[[team.pool]]
template = "file"
root = "/alice"
[[team.pool]]
template = "file"
root = "/bob"

[small]
values.type = "memory"
calls.type = "memory"
max_size = 2
`);
		const file = (root: string): CacheConfig => ({
			type: 'cache',
			values: { type: 'file', root: `${root}/values` },
			calls: { type: 'file', root: `${root}/calls` },
		});
		assert.deepEqual(config.cacheConfig('layered'), {
			type: 'stack',
			caches: [
				{ type: 'cache', values: { type: 'memory' }, calls: { type: 'memory' } },
				{ type: 'readonly', cache: { type: 'sizeLimited', cache: file('/store'), maxSize: 10 } },
			],
		});
		assert.deepEqual(config.cacheConfig('team'), { type: 'pool', caches: [file('/alice'), file('/bob')] });
		const layered = config.open('layered') as CacheStack;
		assert.ok(layered instanceof CacheStack);
		assert.ok(layered.stack[1] instanceof ReadOnlyCache);
		const limited = (layered.stack[1]).inner as SizeLimitedCache;
		assert.ok(limited instanceof SizeLimitedCache);
		assert.equal(limited.maxSize, 10);
		assert.ok(config.open('team') instanceof CachePool);
		assert.equal((config.open('small') as SizeLimitedCache).maxSize, 2);
	});

	test('composite caches round-trip through toConfig() and cacheFromConfig()', () => {
		const config = fromToml(`
[[layered]]
template = "memory"
[[layered]]
template = "file"
root = "/store"
read_only = true
max_size = 10

[team]
[[team.pool]]
template = "file"
root = "/alice"
`);
		// The composite structure survives; storages add their defaults (serializer, compress) on the way out.
		const shape = (c: unknown): unknown =>
			Array.isArray(c) ? c.map(shape) : typeof c === 'object' && c !== null ? Object.fromEntries(Object.entries(c).filter(([k]) => k !== 'serializer' && k !== 'compress').map(([k, v]) => [k, shape(v)])) : c;
		for (const name of ['layered', 'team']) {
			const described = config.cacheConfig(name);
			const opened = config.open(name).toConfig();
			assert.deepEqual(shape(opened), described, name);
			assert.deepEqual(cacheFromConfig(opened).toConfig(), opened, name);
		}
	});

	test('[default] metadata: Runtime, Environment, Git; Runtime alone by default; Tags or unknown names are errors', () => {
		const ms = fromToml('[default]\nmetadata = ["Runtime", "Environment", "Git"]\n').metadata();
		assert.ok(ms[0] instanceof Runtime && ms[1] instanceof Environment && ms[2] instanceof Git);
		assert.deepEqual(fromToml('[default]\nmetadata = []\n').metadata(), []);
		const fallback = fromToml('').metadata();
		assert.equal(fallback.length, 1);
		assert.ok(fallback[0] instanceof Runtime);
		throwsAt(() => fromToml('# x\n[default]\nmetadata = ["Runtime", "Tags"]\n').metadata(), '/proj/fleche.toml', 3, /\[default\] 'Tags' cannot be configured/);
		throwsAt(() => fromToml('[default]\nmetadata = ["Runtim"]\n').metadata(), '/proj/fleche.toml', 2, /unknown metadata "Runtim" \(allowed: Runtime, Environment, Git\)/);
		throwsAt(() => fromToml('[default]\nmetadata = "Runtime"\n').metadata(), '/proj/fleche.toml', 2, /must be an array/);
	});

	test('[default] cache names a section or is an inline [default.cache] table', () => {
		assert.deepEqual(fromToml('[default.cache]\ntemplate = "file"\nroot = "here"\n').cacheConfig(), {
			type: 'cache',
			values: { type: 'file', root: '/proj/here/values' },
			calls: { type: 'file', root: '/proj/here/calls' },
		});
		assert.deepEqual(fromToml('[default]\ncache = "memory"\n').cacheConfig(), { type: 'cache', values: { type: 'memory' }, calls: { type: 'memory' } });
	});
});

describe('errors name the file and the line', () => {
	test('invalid TOML: file, line and column', () => {
		const l = layout();
		const file = write(join(l.project, 'fleche.toml'), '[ok]\ntemplate = "memory"\n\n[bad]\nroot = \n');
		throwsAt(() => l.load(), file, 5, /invalid TOML \(column \d+\): /);
	});

	test('a bad section: file, section and the line of the offending key', () => {
		const config = fromToml(`# comment
[results]
values.type = "file"
values.root = "v"
calls.type = "pickle"
calls.root = "c"

[[stack]]
template = "memory"
[[stack]]
template = "files"
`);
		throwsAt(() => config.open('results'), '/proj/fleche.toml', 5, /\[results\.calls\] 'pickle' is a Python storage type: use type = "file"/);
		throwsAt(() => config.open('stack'), '/proj/fleche.toml', 11, /\[stack\.#2\] unknown template "files"/);
		const more = fromToml(`[a]
values = { type = "sql", path = "x.db" }
calls.type = "memory"

[b]
values.type = "file"
calls.type = "memory"

[c]
template = "file"
rooot = "x"

[d]
template = "sql"
`);
		throwsAt(() => more.open('a'), '/proj/fleche.toml', 2, /'sql' stores call records only/);
		throwsAt(() => more.open('b'), '/proj/fleche.toml', 6, /\[b\.values\] a 'file' storage needs a 'root'/);
		throwsAt(() => more.open('c'), '/proj/fleche.toml', 11, /unknown key 'rooot'/);
		throwsAt(() => more.open('d'), '/proj/fleche.toml', 13, /the 'sql' template needs a 'root'/);
	});

	test('unknown names, dangling [default] cache, reserved and non-table top-level keys', () => {
		const config = fromToml('[default]\ncache = "persistent"\n\n[other]\ntemplate = "memory"\n');
		assert.throws(() => config.cacheConfig('nope'), (err: unknown) => ConfigError.is(err) && /Unknown cache name 'nope': defined: other in \/proj\/fleche\.toml/.test((err as Error).message));
		throwsAt(() => config.cacheConfig('default'), '/proj/fleche.toml', 2, /cache = 'persistent' names no cache/);
		throwsAt(() => fromToml('\n[memory]\ntemplate = "file"\nroot = "x"\n'), '/proj/fleche.toml', 2, /'memory' is a reserved cache name/);
		throwsAt(() => fromToml('answer = 42\n'), '/proj/fleche.toml', 1, /top-level 'answer' must be a table/);
		throwsAt(() => fromToml('[default]\nroot = "yes"\n'), '/proj/fleche.toml', 2, /'root' must be true or false/);
		throwsAt(() => fromToml('[default]\ncolour = "blue"\n'), '/proj/fleche.toml', 2, /unknown key 'colour' in \[default\]/);
		throwsAt(() => fromToml('[x]\nvalues.type = "memory"\n').open('x'), '/proj/fleche.toml', 1, /needs both 'values' and 'calls'/);
	});
});

describe('errors name the file and the line, wherever the section is', () => {
	test('a semantic error in a farther file names that file; a TOML error in the XDG file names it', () => {
		const l = layout();
		const far = write(join(l.home, 'fleche.toml'), '# team store\n[team]\nvalues.type = "memory"\ncalls.type = "redis"\n');
		write(join(l.project, 'fleche.toml'), '[default]\ncache = "team"\n');
		const config = l.load();
		throwsAt(() => config.open('team'), far, 4, /\[team\.calls\] unknown storage type 'redis' \(built in: memory, void, file, sql, postgres, ssh; others need registerStorage\(\)\)/);
		throwsAt(() => config.cacheConfig('default'), far, 4, /unknown storage type 'redis'/);
		const xdg = write(join(l.xdg, 'fleche', 'cache.toml'), '[a]\ntemplate = "memory"\n[a]\ntemplate = "void"\n');
		throwsAt(() => l.load(), xdg, 3, /invalid TOML/);
	});

	test('the n-th [[name.pool]] member or [[name]] layer (not the first one), and bad max_size / read_only values', () => {
		const config = fromToml(`[team]
[[team.pool]]
template = "memory"

[[team.pool]]
template = "memroy"

[[layers]]
template = "memory"
[[layers]]
template = "memory"
[[layers]]
template = "file"
root = "r"
read_only = "yes"

[big]
template = "memory"
max_size = 1.5
`);
		throwsAt(() => config.open('team'), '/proj/fleche.toml', 6, /\[team\.pool\.#2\] unknown template "memroy"/);
		throwsAt(() => config.open('layers'), '/proj/fleche.toml', 15, /\[layers\.#3\] 'read_only' must be true or false/);
		throwsAt(() => config.open('big'), '/proj/fleche.toml', 19, /'max_size' must be a positive integer/);
		assert.deepEqual(config.source('layers'), { file: '/proj/fleche.toml', line: 8 });
	});
});

describe('configured caches behave as configured', () => {
	const run = (c: fleche.BaseCache, f: (x: number) => number, x: number): number => fleche.cache(c, () => f(x));
	const square = () => {
		const runs: number[] = [];
		const f = fleche.fleche(
			(x: number) => {
				runs.push(x);
				return x * x;
			},
			{ name: 'square', module: 'config.ts' },
		);
		return { f, runs };
	};

	test('read_only: results already stored are hits; a miss runs and returns, and nothing is written', () => {
		const dir = freshDir();
		const writable = FlecheConfig.fromToml('[s]\ntemplate = "file"\nroot = "store"\n', { file: join(dir, 'fleche.toml') }).open('s');
		const readOnly = FlecheConfig.fromToml('[s]\ntemplate = "file"\nroot = "store"\nread_only = true\n', { file: join(dir, 'fleche.toml') }).open('s');
		const { f, runs } = square();
		run(writable, f, 2);
		const warnings: string[] = [];
		fleche.setLogger((r) => warnings.push(r.code));
		try {
			assert.equal(run(readOnly, f, 2), 4);
			assert.equal(run(readOnly, f, 3), 9);
			assert.equal(run(readOnly, f, 3), 9);
		} finally {
			fleche.resetLogger();
		}
		assert.deepEqual(warnings, ['FLECHE_REJECTED', 'FLECHE_REJECTED']);
		assert.deepEqual(runs, [2, 3, 3]);
		assert.equal(writable.contains(f.fleche.digest(3)), false);
		assert.throws(() => readOnly.evict(f.fleche.digest(2)), (err: unknown) => fleche.Rejected.is(err));
	});

	test('max_size keeps that many calls; a [[name]] stack back-fills its first layer; a [[name.pool]] reads every member', () => {
		const dir = freshDir();
		const config = FlecheConfig.fromToml(
			`[small]
template = "file"
root = "small"
max_size = 2

[[layered]]
template = "memory"
[[layered]]
template = "file"
root = "small"

[team]
[[team.pool]]
template = "file"
root = "alice"
[[team.pool]]
template = "file"
root = "small"
`,
			{ file: join(dir, 'fleche.toml') },
		);
		const { f, runs } = square();
		const small = config.open('small');
		for (const x of [1, 2, 3]) run(small, f, x);
		assert.equal(small.query().count(), 2);
		assert.equal(small.contains(f.fleche.digest(1)), false);

		const layered = config.open('layered') as CacheStack;
		assert.equal(run(layered, f, 3), 9);
		assert.equal(layered.stack[0]!.contains(f.fleche.digest(3)), true, 'back-filled into memory');
		const team = config.open('team');
		assert.equal(run(team, f, 2), 4);
		assert.deepEqual(runs, [1, 2, 3], 'hits through the stack and the pool');
	});
});

// The process-wide configuration is read lazily from the working directory and HOME: exercised in real child
// processes with their own cwd, HOME and XDG_CONFIG_HOME.
const esmEntry = createRequire(import.meta.url).resolve('fleche').replace(/cjs([/\\])index\.js$/, 'esm$1index.js');

function runIn(cwd: string, env: Record<string, string | undefined>, body: string): unknown {
	const script = join(cwd, `probe-${Math.random().toString(36).slice(2)}.mjs`);
	writeFileSync(script, `import * as f from ${JSON.stringify(esmEntry)};\nconst out = {};\n${body}\nconsole.log(JSON.stringify(out));\n`);
	const { FLECHE_ROOT: _r, XDG_CONFIG_HOME: _x, ...rest } = process.env;
	const childEnv: Record<string, string> = {};
	for (const [k, v] of Object.entries({ ...rest, ...env })) if (v !== undefined) childEnv[k] = v;
	return JSON.parse(execFileSync(process.execPath, [script], { cwd, env: childEnv, encoding: 'utf8' }));
}

describe('the process configuration (child processes)', () => {
	test('read lazily on first use; the configured default, interning, reserved names, metadata, reloadConfig', () => {
		const l = layout();
		write(join(l.home, 'fleche.toml'), '[persistent]\ntemplate = "file"\nroot = "store"\n');
		write(join(l.project, 'fleche.toml'), '[default]\ncache = "persistent"\nmetadata = ["Environment"]\n');
		const out = runIn(
			l.cwd,
			{ HOME: l.home, XDG_CONFIG_HOME: l.xdg },
			`
const sq = f.fleche((x) => x * x, { name: 'sq' });
sq(4);
const d = f.cache();
const scope = f.cache('persistent'); // sticky, by name
out.sameDefault = d === f.cacheByName('default') && d === f.cacheByName('persistent') && scope.cache === d && f.cache() === d;
scope.restore();
out.root = d.values.root;
out.interned = f.cacheByName('memory') === f.cacheByName('memory') && f.cacheByName('void') === f.cache('void', () => f.cache());
out.metadata = Object.keys(sq.fleche.query({ x: 4 }).only().metadata);
try { f.cache('nope'); } catch (e) { out.unknown = [f.ConfigError.is(e), e.message]; }
const memory = f.cacheByName('memory');
(await import('node:fs')).writeFileSync(${JSON.stringify(join(l.project, 'fleche.toml'))}, '[default]\\ncache = "memory"\\n');
f.reloadConfig();
out.afterReload = f.cacheByName('default') === memory && f.cache() === memory;
`,
		) as Record<string, unknown>;
		assert.deepEqual(out, {
			sameDefault: true,
			root: join(l.home, 'store', 'values'),
			interned: true,
			metadata: ['environment'],
			unknown: [true, `Unknown cache name 'nope': defined: persistent in ${join(l.project, 'fleche.toml')}, ${join(l.home, 'fleche.toml')}; built in: memory, void, default`],
			afterReload: true,
		});
	});

	test('a broken file does not break import, only the first use, with file and line', () => {
		const l = layout();
		const file = write(join(l.project, 'fleche.toml'), '[default]\ncache = \n');
		const out = runIn(
			l.cwd,
			{ HOME: l.home },
			`
out.imported = true;
out.memoryStillWorks = f.cacheByName('memory') instanceof f.Cache;
try { f.cache(); } catch (e) { out.error = [e.name, e.file, e.line]; }
`,
		);
		assert.deepEqual(out, { imported: true, memoryStillWorks: true, error: ['ConfigError', file, 2] });
	});

	test('no file: the project-local .fleche/ store; the XDG file comes from $XDG_CONFIG_HOME; FLECHE_ROOT wins', () => {
		const l = layout();
		write(join(l.project, 'package.json'), JSON.stringify({ name: 'proj' }));
		const plain = runIn(l.cwd, { HOME: l.home }, `out.root = f.cache().calls.root; out.meta = f.meta().map((m) => m.name);`);
		assert.deepEqual(plain, { root: join(l.project, '.fleche', 'calls'), meta: ['runtime'] });
		write(join(l.xdg, 'fleche', 'cache.toml'), '[default]\ncache = "team"\n[team]\ntemplate = "file"\nroot = "team-store"\n');
		const xdg = runIn(l.cwd, { HOME: l.home, XDG_CONFIG_HOME: l.xdg }, `out.root = f.cache().calls.root;`);
		assert.deepEqual(xdg, { root: join(l.xdg, 'fleche', 'team-store', 'calls') });
		const env = runIn(l.cwd, { HOME: l.home, XDG_CONFIG_HOME: l.xdg, FLECHE_ROOT: join(l.base, 'elsewhere') }, `out.root = f.cache().calls.root;`);
		assert.deepEqual(env, { root: join(l.base, 'elsewhere', 'calls') });
	});
});
