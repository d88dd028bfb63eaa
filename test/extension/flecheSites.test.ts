// extension/src/model/flecheSites.ts: every common way to cache a function is found, with exactly the identity the
// runtime gives it — checked by running the same source through the real runtime and reading the store back with
// fleche/inspect, which is what the lenses are matched against.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { transform } from 'esbuild';
import { cache, type Fleche } from 'fleche';
import { openStore } from 'fleche/inspect';
import {
	findFlecheSites,
	identityKey,
	localModuleCandidates,
	moduleOf,
	type FlecheSite,
	type ImportResolver,
	type PackageJsonProbe,
} from '../../extension/src/model/flecheSites.ts';
import { fileStore } from '../support/stores.ts';
import { tmpDir } from '../support/tmp.ts';

const probe: PackageJsonProbe = (dir) => {
	const file = join(dir, 'package.json');
	if (!existsSync(file)) return 'none';
	try {
		const name = (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name;
		return typeof name === 'string' && name !== '' ? 'named' : 'unnamed';
	} catch {
		return 'unnamed';
	}
};

/** A project folder with a named package.json and `fleche` resolvable (linked to this checkout's runtime). */
function project(t: Parameters<typeof tmpDir>[0]): string {
	const dir = tmpDir(t);
	writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'proj', type: 'module' }));
	mkdirSync(join(dir, 'node_modules'));
	const runtime = dirname(createRequire(import.meta.url).resolve('fleche/package.json'));
	symlinkSync(runtime, join(dir, 'node_modules', 'fleche'), 'dir');
	return dir;
}

/** What the editor's resolver does, on the real disk: the first candidate file that exists. */
const diskResolver: ImportResolver = (specifier, fromFile) => {
	const fileName = localModuleCandidates(specifier, fromFile).find((f) => existsSync(f));
	return fileName === undefined ? undefined : { fileName, text: readFileSync(fileName, 'utf8') };
};

const identities = (sites: readonly { module: string | null; name: string }[]): string[] =>
	sites.map((s) => `${s.module ?? '(null)'} :: ${s.name}`).sort();

const jsForms = `import { fleche } from 'fleche';
import { fleche as cached } from 'fleche';
import * as fl from 'fleche';

export const add = fleche((a, b) => a + b);
export const named = fleche(function inner(x) {
	return x;
});
export const withOptions = fleche(async (x) => x * 2, { version: 3 });
export const renamed = fleche((x) => x, { name: 'customName' });
export const moved = fleche((x) => x, { module: 'lib/other.js' });
export const unhashed = fleche((x) => x, { hashModule: false });
export const aliased = cached((x) => x + 1);
export const spaced = fl.fleche((x) => x - 1);
export let multi =
	fleche((x) => x);
function slowThing(x) {
	return x;
}
export const byRef = fleche(slowThing);
export const holder = { inObject: fleche((x) => x) };
export class Holder {
	static field = fleche((x) => x);
}
export const bag = {};
bag.assigned = fleche((y) => y);
// fleche in a comment and a string: 'fleche(x)' is no call
export const notCached = (x) => x;
`;

const tsForms = `import { fleche } from 'fleche';

interface Box<T> { value: T }

export class Shapes {
	constructor(readonly scale: number) {}

	@fleche()
	area(side: number): number {
		return side * side * this.scale;
	}

	@fleche({ version: 2 })
	async perimeter(side: number): Promise<number> {
		return 4 * side;
	}

	@fleche({ name: 'custom.volume' })
	volume(side: number): number {
		return side ** 3;
	}

	plain(): number {
		return 1;
	}
}

export const label = fleche(<T,>(box: Box<T>, prefix: string = 'x'): string => prefix + String(box.value));
export const typed: (n: number) => number = fleche((n: number) => n as number);
`;

describe('findFlecheSites', () => {
	test('JavaScript forms: the same identities the runtime stores', async (t) => {
		const dir = project(t);
		const file = join(dir, 'src', 'forms.js');
		mkdirSync(dirname(file));
		writeFileSync(file, jsForms);
		const { cache: store, root } = fileStore();
		const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
		const fns = [
			'add', 'named', 'withOptions', 'renamed', 'moved', 'unhashed', 'aliased', 'spaced', 'multi', 'byRef',
		].map((k) => mod[k] as (x: number, y?: number) => unknown);
		fns.push((mod.holder as { inObject: (x: number) => unknown }).inObject);
		fns.push((mod.Holder as { field: (x: number) => unknown }).field);
		fns.push((mod.bag as { assigned: (x: number) => unknown }).assigned);
		await cache(store, async () => {
			for (const f of fns) await f(1, 2);
		});
		const stored = openStore(root).functions();
		assert.equal(stored.length, 13);

		const sites = findFlecheSites(jsForms, { fileName: file, module: moduleOf(file, probe) });
		assert.ok(sites);
		assert.deepEqual(identities(sites), identities(stored));
		assert.equal(moduleOf(file, probe), 'src/forms.js');
	});

	test('TypeScript: @fleche() methods are Class.method, typed consts and generics parse', async (t) => {
		const dir = project(t);
		const file = join(dir, 'src', 'shapes.js');
		mkdirSync(dirname(file));
		// The runtime runs compiled JavaScript (TS 5 decorators lowered); the editor shows the TypeScript.
		const { code } = await transform(tsForms, { loader: 'ts', format: 'esm', target: 'es2022' });
		writeFileSync(file, code);
		const { cache: store, root } = fileStore();
		const mod = (await import(pathToFileURL(file).href)) as {
			Shapes: new (scale: number) => { area(s: number): number; perimeter(s: number): Promise<number>; volume(s: number): number };
			label: (box: { value: number }) => string;
			typed: (n: number) => number;
		};
		await cache(store, async () => {
			const s = new mod.Shapes(1);
			s.area(2);
			await s.perimeter(2);
			s.volume(2);
			mod.label({ value: 1 });
			mod.typed(3);
		});
		const stored = openStore(root).functions();

		const sites = findFlecheSites(tsForms, { fileName: join(dir, 'src', 'shapes.ts'), module: moduleOf(file, probe) });
		assert.ok(sites);
		assert.deepEqual(identities(sites), identities(stored));
		const area = sites.find((s) => s.name === 'Shapes.area');
		assert.equal(area?.kind, 'method');
		// The lens sits on the decorator line, the first line of the method's declaration.
		assert.equal(tsForms.split('\n')[area.line]?.trim(), '@fleche()');
	});

	test('a .ts file built to dist/ with source maps: the runtime identities of its functions are the sites of the .ts file', async (t) => {
		// What a user's build does: sources in src/, output in dist/ behind an unnamed `{"type":"module"}` marker, a
		// source map beside the output. The runtime maps the call site back to src/shapes.ts and computes identities
		// through fleche/identity; the editor computes them from the .ts text through the same module.
		process.setSourceMapsEnabled(true);
		const dir = project(t);
		const source = join(dir, 'src', 'shapes.ts');
		const built = join(dir, 'dist', 'shapes.js');
		mkdirSync(dirname(source));
		mkdirSync(dirname(built));
		// A class field with an annotation: compiled without a source map it becomes `__publicField(C, 'twice', …)`,
		// which names nothing; through the map the runtime reads the .ts line.
		const text = `${tsForms}\nexport class Maths {\n\tstatic twice: (n: number) => number = fleche((n: number) => n * 2);\n}\n`;
		writeFileSync(source, text);
		writeFileSync(join(dir, 'dist', 'package.json'), JSON.stringify({ type: 'module' }));
		const { code } = await transform(text, { loader: 'ts', format: 'esm', target: 'es2022', sourcemap: 'inline', sourcefile: '../src/shapes.ts' });
		writeFileSync(built, code);
		const mod = (await import(pathToFileURL(built).href)) as Record<string, unknown> & {
			Shapes: new (scale: number) => { area(s: number): number };
			Maths: Record<string, unknown>;
		};
		const sites = findFlecheSites(text, { fileName: source, module: moduleOf(source, probe) });
		assert.ok(sites);
		const byKey = new Map(sites.map((s) => [identityKey(s), s]));
		// `typed` and `twice` carry type annotations containing `=>` before their `=`: the runtime reads the name from the
		// .ts text the source map points at, so the annotation must not be mistaken for the assignment.
		const functions = { label: mod.label, typed: mod.typed, twice: mod.Maths.twice };
		for (const [name, f] of Object.entries(functions)) {
			const identity = (f as Fleche<(n: number) => number>).fleche.identity;
			assert.deepEqual({ module: identity.module, name: identity.name }, { module: 'src/shapes.ts', name });
			assert.equal(byKey.get(identityKey(identity))?.kind, 'function', name);
		}
		// A method's identity exists once `this` does: read it from the record the runtime stores.
		const { cache: store, root } = fileStore();
		cache(store, () => new mod.Shapes(1).area(2));
		const [stored] = openStore(root).functions();
		assert.deepEqual({ module: stored?.module, name: stored?.name }, { module: 'src/shapes.ts', name: 'Shapes.area' });
		assert.equal(byKey.get(identityKey(stored!))?.kind, 'method');
	});

	test('aliases exported by local modules are found, checked against what the runtime stores', async (t) => {
		const dir = project(t);
		const src = join(dir, 'src');
		mkdirSync(src);
		writeFileSync(join(src, 'cacheUtils.js'), `export { fleche as memo } from 'fleche';\n`);
		// A second hop, an exported binding, a default export and a cycle back to the first file.
		writeFileSync(
			join(src, 'more.js'),
			`import { fleche } from 'fleche';\nexport * from './cacheUtils.js';\nexport const keep = fleche;\nexport default fleche;\nexport * from './use.js';\n`,
		);
		const use = `import { memo as cachedBy } from './cacheUtils.js';
import * as more from './more.js';
import dflt from './more.js';
import { keep } from './more.js';
const other = { fleche: (f, _o) => f };
export const viaAlias = cachedBy((x) => x + 1);
export const viaNamespace = more.memo((x) => x + 2);
export const viaBinding = keep((x) => x + 3);
export const viaDefault = dflt((x) => x + 4);
export const notOurs = other.fleche((x) => x + 5);
`;
		const file = join(src, 'use.js');
		writeFileSync(file, use);
		const mod = (await import(pathToFileURL(file).href)) as Record<string, (x: number) => unknown>;
		const { cache: store, root } = fileStore();
		await cache(store, async () => {
			for (const name of ['viaAlias', 'viaNamespace', 'viaBinding', 'viaDefault', 'notOurs']) await mod[name]!(1);
		});
		const stored = openStore(root).functions();
		assert.equal(stored.length, 4, 'other.fleche is not fleche: it caches nothing');

		const sites = findFlecheSites(use, { fileName: file, module: moduleOf(file, probe), resolveImport: diskResolver });
		assert.ok(sites);
		assert.deepEqual(identities(sites), identities(stored));
		// Without a resolver only what the file itself says is known: no lens on the aliases, and still none on other.fleche.
		assert.deepEqual(findFlecheSites(use, { fileName: file, module: moduleOf(file, probe) }), []);
	});

	test('a TypeScript project: ./x.js names x.ts, extensionless and index imports resolve, CommonJS re-exports count', (t) => {
		const dir = tmpDir(t);
		mkdirSync(join(dir, 'lib'));
		writeFileSync(join(dir, 'memo.ts'), `import { fleche } from 'fleche';\nexport const memo = fleche;\n`);
		writeFileSync(join(dir, 'lib', 'index.ts'), `export { memo as libMemo } from '../memo.js';\n`);
		writeFileSync(join(dir, 'cjs.cjs'), `const f = require('fleche');\nexports.cjsMemo = f.fleche;\n`);
		const text = `import { memo } from './memo.js';\nimport { libMemo } from './lib';\nconst { cjsMemo } = require('./cjs.cjs');\nexport const a = memo((x: number) => x);\nexport const b = libMemo((x: number) => x);\nexport const c = cjsMemo((x: number) => x);\n`;
		const sites = findFlecheSites(text, { fileName: join(dir, 'use.ts'), module: 'use.ts', resolveImport: diskResolver });
		assert.deepEqual(identities(sites!), ['use.ts :: a', 'use.ts :: b', 'use.ts :: c']);
		assert.deepEqual(localModuleCandidates('./a.js', '/p/src/b.ts'), ['/p/src/a.ts', '/p/src/a.js']);
		assert.equal(localModuleCandidates('../a', '/p/src/b.ts')[0], '/p/a.ts');
		assert.ok(localModuleCandidates('./dir', '/p/b.ts').includes('/p/dir/index.ts'));
	});

	test('a member named fleche on anything but a namespace of fleche is no cached function', () => {
		const text = `import * as fl from 'fleche';\nconst other = makeOther();\nexport const a = other.fleche((x) => x);\nexport const b = this.fleche((x) => x);\nexport const c = fl.fleche((x) => x);\nexport const d = fl.other((x) => x);\n`;
		assert.deepEqual(identities(findFlecheSites(text, { fileName: 'a.js', module: 'a.js' })!), ['a.js :: c']);
		// TypeScript's CommonJS output for \`import * as fl from 'fleche'\` wraps the require in a helper.
		const compiled = `const fl = __importStar(require("fleche"));\nexports.e = (0, fl.fleche)((x) => x);\n`;
		assert.deepEqual(identities(findFlecheSites(compiled, { fileName: 'a.cjs', module: 'a.cjs' })!), ['a.cjs :: e']);
	});

	test('lens lines are the declarations, in source order', () => {
		const text = `import { fleche } from 'fleche';\n\nexport const a = fleche((x) => x);\n\nexport const b =\n  fleche(function b(y) { return y; });\n`;
		const sites = findFlecheSites(text, { fileName: '/p/a.js', module: 'a.js' })!;
		assert.deepEqual(
			sites.map((s: FlecheSite) => [s.name, s.line, s.column, s.kind]),
			[
				['a', 2, 0, 'function'],
				['b', 4, 0, 'function'],
			],
		);
	});

	test('names the runtime cannot infer are left out, like fleche() would throw', () => {
		const text = `import { fleche } from 'fleche';\nexport default fleche((x) => x);\nfoo(fleche((x) => x));\n`;
		assert.deepEqual(findFlecheSites(text, { fileName: 'a.js', module: 'a.js' }), []);
	});

	test('require() forms of CommonJS', () => {
		const text = `const { fleche } = require('fleche');\nconst f = require('fleche');\nexports.one = fleche((x) => x);\nmodule.exports.two = f.fleche((x) => x);\n`;
		assert.deepEqual(identities(findFlecheSites(text, { fileName: 'a.cjs', module: 'a.cjs' })!), ['a.cjs :: one', 'a.cjs :: two']);
	});

	test('JSX and TSX files parse', () => {
		const tsx = `import { fleche } from 'fleche';\nexport const view = fleche((n: number) => <div>{n}</div>);\n`;
		assert.deepEqual(identities(findFlecheSites(tsx, { fileName: 'v.tsx', module: 'v.tsx' })!), ['v.tsx :: view']);
	});

	test('a file that does not parse gives undefined (the provider keeps its last sites)', () => {
		assert.equal(findFlecheSites('import { fleche } from "fleche";\nexport const a = fleche((x) => ', { fileName: 'a.ts', module: 'a.ts' }), undefined);
	});

	test('files without the word fleche are not parsed', () => {
		assert.deepEqual(findFlecheSites('this is not { valid', { fileName: 'a.ts', module: 'a.ts' }), []);
	});

	test('moduleOf: nearest named package.json; unnamed ones (build output markers) are skipped', () => {
		const layout: Record<string, 'named' | 'unnamed'> = { '/repo': 'named', '/repo/dist': 'unnamed', '/repo/packages/lib': 'named' };
		const p: PackageJsonProbe = (dir) => layout[dir] ?? 'none';
		assert.equal(moduleOf('/repo/dist/esm/math.js', p), 'dist/esm/math.js');
		assert.equal(moduleOf('/repo/packages/lib/src/a.ts', p), 'src/a.ts');
		assert.equal(moduleOf('/other/a.ts', (dir) => (dir === '/other' ? 'unnamed' : 'none')), 'a.ts');
		assert.equal(moduleOf('/nowhere/a.ts', () => 'none'), '/nowhere/a.ts');
		assert.equal(moduleOf('C:\\repo\\src\\a.ts', (dir) => (dir === 'C:\\repo' ? 'named' : 'none')), 'src/a.ts');
	});

	test('identityKey separates module and name', () => {
		assert.notEqual(identityKey({ module: 'a', name: 'b:c' }), identityKey({ module: 'a:b', name: 'c' }));
		assert.equal(identityKey({ module: null, name: 'f' }), '\0f');
	});
});
