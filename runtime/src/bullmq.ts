// docs/behaviour.md §3.5: the `fleche/bullmq` entry — distributed execution on a BullMQ queue. Apart from the main
// entry so that `import 'fleche'` never loads bullmq or ioredis (optional peers, loaded on first use).
export { bullmqExecutor, bullmqJobOptions, QueueUnavailable, RemoteCallFailed, type BullmqExecutor, type BullmqExecutorOptions } from './executor/bullmq.js';
export { bullmqWorker, type BullmqWorkerOptions } from './cli/worker.js';
