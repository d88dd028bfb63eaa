// `fleche/bridge`: call an asynchronous engine (a WebAssembly database, a network client) synchronously from a
// storage's synchronous methods, through a worker thread. The SQL store is built on it; a storage kind of your own
// can be too (a worker module that calls `serve()`, and a client that makes `SyncWorker` requests).
export { SyncWorker, WorkerFailed, WorkerRequestError, type SyncWorkerOptions, type RequestOptions } from './syncWorker.js';
export { serve, workerInput, warnCaller } from './serve.js';
export { moduleFile } from './moduleFile.js';
