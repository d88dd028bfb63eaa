// docs/behaviour.md §2.6 "PostgreSQL": the worker thread of a PostgreSQL store (see store.ts for why a worker): one
// engine (pgEngine.ts) answering the store's requests through the synchronous bridge (bridge/serve.ts).
import { serve, workerInput } from '../../bridge/serve.js';
import { pgEngine, type PgRequest, type PgWorkerData } from './pgEngine.js';

const engine = pgEngine(workerInput<PgWorkerData>());
serve((message) => engine(message as PgRequest));
