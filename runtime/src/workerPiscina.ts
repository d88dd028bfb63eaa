// docs/behaviour.md §3.2: the piscina worker entry (`fleche/worker/piscina`): the task is a BoundCall, the result its reply.
import type { BoundCall, BoundReply } from './bound.js';
import { runBoundCall } from './workerRun.js';

/**
 * Piscina's task handler: `new Piscina({ filename: workerFile('piscina') })` runs each task (a {@link BoundCall})
 * with the bound cache and metadata and resolves with its {@link BoundReply}.
 */
export default function runTask(call: BoundCall): Promise<BoundReply> {
	return runBoundCall(call);
}
