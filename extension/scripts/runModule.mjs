// Runs one of the user's modules (.js or .ts) the way the runtime's CLI imports it: TypeScript transpiled with
// esbuild beside the original with an inline source map, so the identity of its cached functions is the `.ts` file,
// exactly as in the user's own process and as the extension computes it. start.mjs spawns it with the demo
// workspace as the working directory, so the default store `.fleche/` lands there.
//
//   node extension/scripts/runModule.mjs <file>

import path from 'node:path';
import { importUserModule } from '../../runtime/dist/esm/cli/loadModule.js';

const file = process.argv[2];
if (file === undefined) {
	console.error('usage: node extension/scripts/runModule.mjs <file>');
	process.exit(2);
}
await importUserModule(path.resolve(file));
