// `npm run test:pack`: the published package works when installed, not only inside this checkout.
//
// Packs runtime/ (`npm pack`, after a build), installs the tarball into a fresh temp project twice — with the default
// install, and with `--omit=optional` (the library without the CLI's optional esbuild) — and checks in each that the
// library caches a call, that the `fleche` bin lists it, and that `fleche rerun` reruns a JavaScript call. A TypeScript
// call reruns with esbuild installed, and fails with a clear message without it. Needs the npm registry (or a warm npm
// cache) for the dependencies: kept out of the offline node tier for that reason.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const work = mkdtempSync(path.join(tmpdir(), 'fleche-pack-'));

function run(cmd, args, cwd, { fail = false } = {}) {
	try {
		const out = execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
		if (fail) throw new Error(`expected \`${cmd} ${args.join(' ')}\` to fail; it printed:\n${out}`);
		return out;
	} catch (err) {
		if (!fail || err.status === undefined) throw err;
		return `${err.stdout}${err.stderr}`;
	}
}

function expect(text, pattern, what) {
	if (!pattern.test(text)) throw new Error(`${what}: expected ${pattern} in:\n${text}`);
	console.log(`ok - ${what}`);
}

try {
	run(process.execPath, ['esbuild.mjs', '--only', 'runtime'], root);
	const tarball = path.join(work, run(npm, ['pack', '--silent', '--pack-destination', work], path.join(root, 'runtime')).trim().split('\n').at(-1));

	for (const omitOptional of [false, true]) {
		const label = omitOptional ? '--omit=optional' : 'default install';
		const proj = path.join(work, omitOptional ? 'lean' : 'full');
		mkdirSync(path.join(proj, 'src'), { recursive: true });
		writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'proj', type: 'module', private: true }));
		writeFileSync(
			path.join(proj, 'src', 'math.mjs'),
			"import { fleche } from 'fleche';\nexport const square = fleche((x) => x * x);\nconsole.log(square(7));\n",
		);
		writeFileSync(path.join(proj, 'src', 'tri.ts'), "import { fleche } from 'fleche';\nexport const tri = fleche((n: number): number => (n * (n + 1)) / 2);\n");
		run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', ...(omitOptional ? ['--omit=optional'] : []), tarball], proj);
		const bin = path.join(proj, 'node_modules', '.bin', process.platform === 'win32' ? 'fleche.cmd' : 'fleche');

		expect(run(process.execPath, ['src/math.mjs'], proj), /^49$/m, `${label}: the library caches a call`);
		// A TypeScript call stored as the user's own build would store it: built with a source map, module src/tri.ts.
		const esbuildBin = path.join(root, 'node_modules', '.bin', 'esbuild');
		run(esbuildBin, ['src/tri.ts', '--outfile=dist/tri.mjs', '--format=esm', '--sourcemap', '--log-level=warning'], proj);
		writeFileSync(path.join(proj, 'dist', 'run.mjs'), "import { tri } from './tri.mjs';\ntri(4);\n");
		run(process.execPath, ['--enable-source-maps', 'dist/run.mjs'], proj);
		expect(run(bin, ['ls'], proj), /square\s+src\/math\.mjs[\s\S]*tri\s+src\/tri\.ts/, `${label}: \`fleche ls\` lists both`);
		expect(run(bin, ['rerun', '--function', 'square'], proj), /Reran 1 call/, `${label}: \`fleche rerun\` of a JavaScript call`);
		if (omitOptional) {
			expect(
				run(bin, ['rerun', '--function', 'tri'], proj, { fail: true }),
				/Cannot load esbuild to transpile/,
				`${label}: a TypeScript rerun says esbuild is missing`,
			);
		} else {
			expect(run(bin, ['rerun', '--function', 'tri'], proj), /Reran 1 call/, `${label}: \`fleche rerun\` of a TypeScript call`);
		}
	}
	console.log('package install check passed');
} finally {
	rmSync(work, { recursive: true, force: true });
}
