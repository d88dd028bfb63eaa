// The extension tests entry in the standard @vscode/test-electron shape: `run()` loads the compiled suite files into
// a mocha (tdd) instance inside the extension host and resolves when all pass. The same entry serves code-server
// (runSuite.mjs, smoke-test payload) and desktop VS Code (runDesktop.mjs).
import Mocha from 'mocha';
import path from 'node:path';

/** Files in the order they run: read-only checks first, then broken stores, then those that rerun and invalidate. */
const order = ['activation', 'tree', 'browse', 'codeLens', 'details', 'corrupt', 'sqlStore', 'responsive', 'rerun', 'evict', 'counts', 'postgres', 'queue'];

export function run(): Promise<void> {
	const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 60_000, reporter: 'spec' });
	// FLECHE_SUITES=rerun,evict (runSuite.mjs --suites) runs only those files, in this order: the tier is slow.
	const only = (process.env.FLECHE_SUITES ?? '').split(',').filter((n) => n !== '');
	for (const name of order) if (only.length === 0 || only.includes(name)) mocha.addFile(path.join(__dirname, `${name}.test.js`));
	return new Promise((resolve, reject) => {
		try {
			mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} integration test(s) failed`)) : resolve()));
		} catch (err) {
			reject(err instanceof Error ? err : new Error(String(err)));
		}
	});
}
