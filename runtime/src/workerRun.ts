// docs/behaviour.md §1.7, §3.2, §16: running a BoundCall where it arrives — a worker thread, another process, or this one.
import { pathToFileURL } from 'node:url';
import { v8 } from './builtins.js';
import { isBoundCall, receivedArgs, type BoundCall, type BoundReply, type NestedRecord } from './bound.js';
import type { BaseCache } from './caches/base.js';
import { Cache } from './caches/cache.js';
import { findPatches } from './classes.js';
import { findExport } from './executor/locate.js';
import { cacheFromConfig } from './config/build.js';
import { warnOnce } from './log.js';
import { metadataFromConfig } from './metadata.js';
import { cachedCall, targetOf, type Outcome } from './protocol.js';
import { runIn } from './state.js';
import { flushStats } from './stats.js';
import { CallMemory, ValueMemory } from './storage/memory.js';
import { findFleche } from './wrapper.js';

/** Stores opened from descriptions, reused by later calls in this thread (opening a file store reads its folder). */
const opened = new Map<string, BaseCache>();

function openCache(call: BoundCall): BaseCache {
	// A cache that cannot travel is replaced by a fresh one per call: its record goes back in the reply.
	if (call.cache === null) return new Cache(new ValueMemory(), new CallMemory());
	const id = JSON.stringify(call.cache);
	let c = opened.get(id);
	if (!c) opened.set(id, (c = cacheFromConfig(call.cache)));
	return c;
}

/**
 * Runs a {@link BoundCall}: imports the function's module, finds the cached function by its identity, and calls
 * it through the cached-call protocol with the bound cache and metadata in force (nested fleche calls inside use them
 * too). It was sent to compute, so it never waits for an identical call in flight in this thread. The result lands in
 * the bound store (file, SQL); for a cache that could not travel, the reply carries the record instead.
 * @throws TypeError when the module does not define that cached function; whatever the function throws.
 * @example
 * ```ts
 * // a custom worker
 * parentPort.on('message', async (call) => parentPort.postMessage(await runBoundCall(call)));
 * ```
 */
export async function runBoundCall(call: BoundCall): Promise<BoundReply> {
	return (await runBound(call)).reply;
}

/**
 * {@link runBoundCall}, also saying whether the result is in the bound store (hit there, or committed): a worker on
 * another machine then need not send the result back in a form that loses what the store keeps (the caller can read
 * it there). `flushLater`: the statistics are written right after, not before the reply (see below). @internal
 */
export async function runBound(call: BoundCall, flushLater = false): Promise<{ reply: BoundReply; stored: boolean }> {
	if (!isBoundCall(call)) throw new TypeError('runBoundCall() takes a bound call made by describeBound() or wrapExecutor()');
	if (call.export !== undefined) return { reply: await runPlain(call, call.export, call.source ?? ''), stored: false };
	let f = findFleche(call.module, call.name);
	if (!f) {
		await import(pathToFileURL(call.file).href);
		f = findFleche(call.module, call.name);
	}
	if (!f) {
		throw new TypeError(`${call.file} does not define the cached function ${call.module ?? '?'}:${call.name} (is it created when the module loads?)`);
	}
	const target = targetOf(f)!;
	const c = openCache(call);
	const args = receivedArgs(call);
	const metadata = call.metadata.map(metadataFromConfig);
	try {
		// The protocol reports the key it used and the record it hit or made: nothing is keyed or read twice.
		const outcome: Outcome = { key: null, record: undefined };
		const value: unknown = await runIn({ cache: c, metadata }, () => cachedCall(target, c, undefined, args, outcome));
		const { key } = outcome;
		if (key !== null && call.key !== null && key !== call.key) {
			warnOnce(`bound-key:${call.module ?? ''}:${call.name}`, 'FLECHE_KEY_CHANGED', `Arguments of ${call.name} changed when copied to the worker (class instances lose their class); its result is stored under another key than the caller looks up`);
		}
		const r = call.cache === null ? outcome.record : undefined;
		const record: BoundReply['record'] = r === undefined ? null : { metadata: r.metadata, async: r.async === true };
		const reply = replyOf(value, key, record, call.cache === null ? nestedRecords(c, key) : undefined);
		return { reply, stored: call.cache !== null && key !== null && outcome.record !== undefined };
	} finally {
		// A worker may be terminated at any moment: its hit counts must not wait for a batch. A process that answers
		// over the network writes them while its answer travels (`flushLater`), off the caller's wait.
		if (flushLater) setImmediate(flushStats);
		else flushStats();
	}
}

/** A plain function's call (docs/behaviour.md §16): its module's export, run with the bound cache and metadata. */
async function runPlain(call: BoundCall, exported: string, source: string): Promise<BoundReply> {
	const ns = (await import(pathToFileURL(call.file).href)) as Record<string, unknown>;
	const fn = findExport(ns, exported, source);
	if (fn === undefined) {
		throw new TypeError(
			`${exported || 'The submitted function'} is not exported by ${call.file}: a worker imports a plain function from its module, so a closure or a local function cannot travel; export it`,
		);
	}
	const c = openCache(call);
	const metadata = call.metadata.map(metadataFromConfig);
	try {
		const value: unknown = await runIn({ cache: c, metadata }, () => (fn as (...a: unknown[]) => unknown)(...receivedArgs(call)));
		return replyOf(value, null, null, call.cache === null ? nestedRecords(c, null) : undefined);
	} finally {
		flushStats();
	}
}

/** The reply, with the classes a structured clone of its value and nested records would lose. */
function replyOf(value: unknown, key: string | null, record: BoundReply['record'], nested: NestedRecord[] | undefined): BoundReply {
	const reply: BoundReply = nested === undefined || nested.length === 0 ? { fleche: 'boundReply/1', value, key, record } : { fleche: 'boundReply/1', value, key, record, nested };
	const classes = findPatches(reply.nested === undefined ? value : [value, reply.nested]);
	if (classes === undefined) return reply;
	// Patches 3 and 4 replace a URL or URLSearchParams, which newer Nodes refuse to post: see `BoundReply.packed`.
	if (classes.some((p) => p[0] === 3 || p[0] === 4)) {
		const { value: _v, nested: _n, ...rest } = reply;
		return { ...rest, value: undefined, packed: v8().serialize([value, reply.nested, classes]) };
	}
	return { ...reply, classes };
}

/**
 * The calls a worker's own memory cache (made because the bound one could not travel) recorded besides the
 * submitted one (`key`): nested fleche calls, with the values they name, for the caller to store too.
 */
function nestedRecords(c: BaseCache, key: string | null): NestedRecord[] {
	const nested: NestedRecord[] = [];
	for (const record of c.records()) {
		if (record.key === key) continue;
		const values: Record<string, unknown> = {};
		for (const digest of [...Object.values(record.arguments), ...(record.result === null ? [] : [record.result])]) {
			try {
				values[digest] = c.loadValue(digest);
			} catch {
				// A Digest argument stands for a value the worker never held: the caller's store has it or not.
			}
		}
		nested.push({ record, values });
	}
	return nested;
}
