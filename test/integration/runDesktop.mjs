// `npm run test:desktop`: the same mocha suite (out/test-integration/suite/index.js) in desktop VS Code through
// @vscode/test-electron, for machines that can download VS Code (this project's CI cannot: it uses runSuite.mjs with
// code-server instead). Same fixture workspace, seeded the same way.
//
//   node test/integration/runDesktop.mjs [--vscode-version 1.90.0] [--vscode-path /path/to/code]

import { runTests } from '@vscode/test-electron';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repo } from './harness.mjs';
import { makeWorkspace } from './workspace.mjs';

const { values } = parseArgs({
	options: { 'vscode-version': { type: 'string', default: 'stable' }, 'vscode-path': { type: 'string' } },
});
const dir = mkdtempSync(path.join(tmpdir(), 'fleche-desktop-'));
try {
	const workspace = makeWorkspace(path.join(dir, 'workspace'), { corrupt: true });
	await runTests({
		version: values['vscode-version'],
		...(values['vscode-path'] ? { vscodeExecutablePath: values['vscode-path'] } : {}),
		extensionDevelopmentPath: repo,
		extensionTestsPath: path.join(repo, 'out', 'test-integration', 'suite', 'index.js'),
		launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--user-data-dir', path.join(dir, 'user')],
	});
} catch (err) {
	console.error(`desktop integration suite failed: ${err instanceof Error ? err.message : String(err)}`);
	process.exitCode = 1;
} finally {
	rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
