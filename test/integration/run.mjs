// The integration tier: installs the tools when missing (setup.mjs), then runs level 1 (the mocha suite in
// code-server's extension host, runSuite.mjs) and level 2 (the browser end-to-end test, e2e.mjs, and the details
// panels in the light and dark themes, panels.mjs). Expects a build
// (`node esbuild.mjs`): test/run.mjs's build step, or `npm run test:integration`, which builds first.
//
//   node test/integration/run.mjs [--only suite|e2e|panels] [--keep] [--screenshots]   (--screenshots: panels.mjs rewrites docs/images/)
//
// Prints `N passed, N failed` last; exit 0 only when both levels passed.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runE2e } from './e2e.mjs';
import { runPanels } from './panels.mjs';
import { repo } from './harness.mjs';
import { runSuite } from './runSuite.mjs';
import { ensureTools } from './setup.mjs';

/** Runs the tier; resolves `{ ok, passed, failed }`. */
export async function runIntegration({ only = [], keep = false, screenshots = false } = {}) {
	const t0 = performance.now();
	for (const file of ['dist/extension.js', 'out/test-integration/suite/index.js', 'runtime/dist/esm/index.js']) {
		if (!existsSync(path.join(repo, file))) {
			console.error(`integration: ${file} is missing; build first (node esbuild.mjs)`);
			return { ok: false, passed: 0, failed: 1 };
		}
	}
	const tools = await ensureTools();
	const levels = [
		['suite', () => runSuite({ tools, keep })],
		['e2e', () => runE2e({ tools, keep })],
		['panels', () => runPanels({ tools, keep, screenshots })],
	].filter(([name]) => only.length === 0 || only.includes(name));
	const total = { ok: true, passed: 0, failed: 0 };
	for (const [, level] of levels) {
		const result = await level();
		total.passed += result.passed;
		total.failed += result.failed;
		if (result.code !== 0) total.ok = false;
	}
	console.log(`integration tier ${total.ok ? 'passed' : 'failed'} in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
	return total;
}

if (import.meta.filename === path.resolve(process.argv[1] ?? '')) {
	const { values } = parseArgs({
		options: {
			only: { type: 'string', multiple: true, default: [] },
			keep: { type: 'boolean', default: false },
			screenshots: { type: 'boolean', default: false },
		},
	});
	try {
		const result = await runIntegration(values);
		console.log(`${result.passed} passed, ${result.failed} failed`);
		process.exitCode = result.ok ? 0 : 1;
	} catch (err) {
		console.error(`integration: ${err instanceof Error ? err.message : String(err)}`);
		console.log('0 passed, 1 failed');
		process.exitCode = 1;
	}
}
