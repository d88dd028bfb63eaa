#!/usr/bin/env node
// The `fleche` command (docs/behaviour.md §13): the built CLI lives in dist/esm/cli/main.js.
import { main } from '../dist/esm/cli/main.js';

process.exitCode = await main(process.argv);
