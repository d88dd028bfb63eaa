// The store worker: a worker thread of the extension host that owns the open fleche/inspect stores and answers the
// client's requests one at a time (storeProtocol.ts). Only the runtime's read API runs here, never user code.
import { parentPort } from 'node:worker_threads';
import { setLogger } from 'fleche';
import { discoverCaches, explain, openStore, type Store } from 'fleche/inspect';
import { withPasswords } from '../model/teamServers.js';
import { unreachableError, type StoreChanged, type StoreLog, type StoreOps, type StoreReply, type StoreRequest } from './storeProtocol.js';

if (parentPort === null) throw new Error('storeHost.js runs as a worker thread of the Fleche extension');
const port = parentPort;

// The runtime's warnings go to the Fleche log in the extension host, not to this thread's stderr.
setLogger((record) => port.postMessage({ log: { level: record.level, code: record.code, message: record.message } } satisfies StoreLog));

const open = new Map<string, { store: Store; watch: { dispose(): void } }>();

function store(cache: string): Store {
	const entry = open.get(cache);
	if (entry === undefined) throw new Error(`The cache ${cache} is not open`);
	return entry.store;
}

/** Reads of a store are synchronous; listing the jobs of its queues (inFlight) is not. */
type Handlers = { [K in keyof StoreOps]: (args: StoreOps[K]['args']) => StoreOps[K]['value'] | Promise<StoreOps[K]['value']> };

const handlers: Handlers = {
	discover: ({ folders, extra }) =>
		folders.map((folder) => {
			try {
				return { locations: discoverCaches(folder, extra) };
			} catch (err) {
				return { error: err instanceof Error ? err.message : String(err) };
			}
		}),
	open({ cache, location, cwd, passwords }) {
		if (open.has(cache)) return null;
		const s = openStore(passwords === undefined ? location : { ...location, config: withPasswords(location.config, passwords) }, { cwd });
		const watch = s.watch(() => port.postMessage({ changed: cache } satisfies StoreChanged));
		open.set(cache, { store: s, watch });
		return null;
	},
	close({ cache }) {
		const entry = open.get(cache);
		open.delete(cache);
		entry?.watch.dispose();
		entry?.store.close();
		return null;
	},
	functions({ cache }) {
		const s = store(cache);
		// While a database server is down its storages answer like empty ones: say so instead. Asked after listing, so
		// that a server that went away during the listing (answered empty, or failed) is seen; a listing that found it
		// down leaves it within its back-off, so asking costs no second wait.
		const down = (): void => {
			const why = s.unreachable();
			if (why !== undefined) throw Object.assign(new Error(why), { name: unreachableError });
		};
		let listed: ReturnType<Store['functions']>;
		try {
			listed = s.functions();
		} catch (err) {
			down();
			throw err;
		}
		down();
		return listed;
	},
	inFlight: ({ cache }) => store(cache).inFlightAll(),
	calls: ({ cache, fn, offset, limit }) => store(cache).calls(fn, { offset, limit }),
	call: ({ cache, key }) => store(cache).call(key),
	evict: ({ cache, keys }) => store(cache).evict(keys),
	evictFunction: ({ cache, fn }) => store(cache).evictFunction(fn),
	clear: ({ cache }) => store(cache).clear(),
	explain: ({ cache, fn, args }) => explain(store(cache), fn, args),
};

port.on('message', (request: StoreRequest) => {
	const failure = (err: unknown): StoreReply => ({ id: request.id, ok: false, name: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) });
	let value: unknown;
	try {
		const handler = handlers[request.op] as (args: unknown) => unknown;
		value = handler(request.args);
	} catch (err) {
		send(request, failure(err));
		return;
	}
	if (value instanceof Promise) value.then((v: unknown) => send(request, { id: request.id, ok: true, value: v }), (err: unknown) => send(request, failure(err)));
	else send(request, { id: request.id, ok: true, value });
});

function send(request: StoreRequest, reply: StoreReply): void {
	try {
		port.postMessage(reply);
	} catch (err) {
		// A value that cannot be cloned (a stored result no structured clone can carry) is an error for that request.
		port.postMessage({ id: request.id, ok: false, name: 'DataCloneError', message: `Cannot send the answer to the editor: ${err instanceof Error ? err.message : String(err)}` } satisfies StoreReply);
	}
}
