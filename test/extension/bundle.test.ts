// The extension host's bundle (dist/extension.js) carries no storage code: stores are discovered, opened and read in
// the store worker (dist/storeHost.js), and the extension imports only types and the logger from the runtime. Checked
// on the built bundles, whichever build (development or --production) is there: the worker bundle must show every
// marker (so the check cannot pass because the names were minified away), the host bundle none of them.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../../../dist/', import.meta.url));

/** Class names of the storages, the file store's summary index and the TOML parser's error (the bundles keep class names: keepNames). */
const storageMarkers = [/\bCallSql\b/, /\bCallFile\b/, /\bValueFile\b/, /\bFileIndex\b/, /\bCallMemory\b/, /\bTomlError\b/];

function bundle(name: string): string {
	const file = join(dist, name);
	assert.ok(existsSync(file), `${file} is built (node esbuild.mjs --only extension)`);
	return readFileSync(file, 'utf8');
}

test('dist/extension.js holds the extension and no storage code; dist/storeHost.js holds the storages', () => {
	const host = bundle('extension.js');
	const worker = bundle('storeHost.js');
	// The host bundle is the extension: its own code is there.
	for (const own of ['The cache reader stopped', 'Cannot discover the fleche caches']) assert.ok(host.includes(own), `extension.js contains "${own}"`);
	// (assert.ok, not assert.match: a failure must not print a whole bundle)
	for (const marker of storageMarkers) {
		assert.ok(marker.test(worker), `the store worker bundles the storages: ${marker} in storeHost.js`);
		assert.ok(!marker.test(host), `the extension host bundles no storage code: ${marker} in extension.js`);
	}
});
