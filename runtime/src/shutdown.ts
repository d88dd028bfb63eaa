// Writes that are held back for speed (statistics counted in memory, SQL puts batched for `writeDelayMs`) must reach
// the disk however the process ends: at a normal exit, and also at Ctrl-C or a `kill`, which skip 'exit' handlers.
//
// A signal listener runs on the event loop, which a busy synchronous program (a loop of cached calls that never
// awaits) does not return to: with a listener installed, such a program would not end at SIGTERM at all. So the main
// thread also starts a watchdog: a worker thread that watches the same signals on its own event loop. Both hear a
// signal. When the main thread's listener has not run within `watchdogGraceMs`, the watchdog has the main thread run
// the flush tasks anyway, through the inspector (a session connected to the main thread dispatches its messages by
// interrupting whatever JavaScript runs there), then raises the signal again with its default action, so the process
// ends by it. The handshake, over one shared Int32Array:
//
//   [WATCHING]  1 while the watchdog listens for signals
//   [HANDLED]   how many signals the main thread has answered (ran the flush tasks), by its listener or interrupted
//   [STARTED]   how many flushes the main thread has begun: a listener that began within the grace is waited for
//               (a slow flush on a loaded machine), never interrupted — a second flush inside it would write twice
//   [ENDING]    1 once the main thread decided to end (no listener of the program's own): whoever raises the signal
//               again then, main thread or watchdog, ends the process — the watchdog, which heard it too, stops
//               listening and raises it once more, so a raise that met its listener is not lost
//
// The interrupt can land anywhere in the main thread's JavaScript; in the middle of a store's write (a cached call's
// own work, `inStoreWork`) the flush would see half of it, so it is put off: the main thread runs it itself as it
// leaves that work (into the program's own code: between calls, or a body), and the watchdog asks again meanwhile. The watchdog starts with the first held-back
// write, in parallel: a signal that comes before it listens (its first milliseconds) reaches only the listener, as
// without a watchdog. A watchdog that cannot start (no worker threads, no inspector, a Node without the signal
// binding) leaves the listener-only behaviour.
import { workerThreads } from './builtins.js';

/**
 * How deep this thread is in fleche's own work on its stores (a cached call, minus the body it runs). The watchdog's
 * flush interrupts the main thread wherever its JavaScript is: in the middle of a store's write, a flush could write
 * half of what that write holds, so it is put off until the thread is out of it. @internal
 */
export const inStoreWork: { depth: number; then: (() => void) | null } = { depth: 0, then: null };

/** The protocol left a store's work (depth back to 0): runs the flush the watchdog put off meanwhile, if any. @internal */
export function leftStoreWork(): void {
	const run = inStoreWork.then;
	if (run === null) return;
	inStoreWork.then = null;
	run();
}

/** Flush tasks by order: statistics first, because flushing them may hand more lines to the SQL store's batch. */
const tasks = new Map<number, () => void>();
let hooked = false;

/** The signals after which Node would end the process without running 'exit' handlers. */
const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type Signal = (typeof signals)[number];

/** How long the watchdog lets the main thread's own listener answer a signal before it interrupts the main thread. */
const watchdogGraceMs = 250;
/** How many times the watchdog asks a main thread in the middle of a store's write before it flushes anyway (a second or more). */
const forceAfterTries = 1000;

const WATCHING = 0;
const HANDLED = 1;
const ENDING = 2;
const STARTED = 3;

function runAll(): void {
	for (const order of [...tasks.keys()].sort((a, b) => a - b)) {
		try {
			tasks.get(order)!();
		} catch {
			// A flush that fails has reported it already; the next task (and the exit) must still happen.
		}
	}
}

/** What one build of this module (ESM or CJS) does at a signal; the watchdog is one per process for all of them. */
interface Hooked {
	/** Runs the flush tasks; true when nothing but fleche listens to `signal` (its listeners were then removed). */
	flush(signal: Signal): boolean;
	/** Whether the main thread is in the middle of this build's work on a store (a flush now is put off). */
	busy(): boolean;
	/** Runs `run` as soon as the main thread leaves this build's work on a store (`null`: nothing to run). */
	defer(run: (() => void) | null): void;
}

interface Watchdog {
	readonly state: Int32Array;
	readonly builds: Set<Hooked>;
	/**
	 * What the watchdog has the main thread run when its listener did not: every build's flush tasks; `'later'`
	 * when the thread is in the middle of a store's write (asked again shortly).
	 */
	readonly flushAll: (signal: Signal, force: boolean) => boolean | 'later';
	/**
	 * What a build's own signal listener runs: every build's flush tasks, marked as under way, so that a watchdog ask
	 * arriving meanwhile (a flush slower than the grace, on a loaded machine) waits instead of flushing again inside it.
	 */
	readonly flushNow: (signal: Signal) => boolean;
	/** The watchdog thread failed or ended: the main thread's listeners are all there is. */
	failed: boolean;
}

const watchdogKey = Symbol.for('fleche.shutdownWatchdog');
type Global = { [watchdogKey]?: Watchdog | null; [k: symbol]: unknown };

/**
 * The watchdog's code (CommonJS, run with `eval`: nothing to locate on disk, bundled or not). `process.binding` is
 * deprecated but the only way a worker thread can listen for a signal; its warning is silenced in this thread only.
 */
function watchdogSource(grace: number, forceAfterTries: number): string {
	return `'use strict';
const { workerData } = require('node:worker_threads');
const { Session } = require('node:inspector');
const state = workerData.state;
process.noDeprecation = true;
const { Signal } = process.binding('signal_wrap');
const numbers = require('node:os').constants.signals;
const names = ${JSON.stringify(signals)};
const watchers = [];
let seen = 0;
let begun = 0;
function listen() {
	seen = Atomics.load(state, ${HANDLED});
	begun = Atomics.load(state, ${STARTED});
	for (const name of names) {
		const w = new Signal();
		w.onsignal = () => heard(name);
		if (w.start(numbers[name]) === 0) watchers.push(w);
		else w.close();
	}
	if (watchers.length === 0) throw new Error('no signal can be watched');
	Atomics.store(state, ${WATCHING}, 1);
}
function stop() {
	for (const w of watchers.splice(0)) w.close();
	Atomics.store(state, ${WATCHING}, 0);
	Atomics.notify(state, ${WATCHING});
}
function heard(name) {
	stop();
	let answered = Atomics.wait(state, ${HANDLED}, seen, ${grace}) !== 'timed-out';
	// The listener is flushing, only slowly: wait for it rather than flush again inside it.
	while (!answered && Atomics.load(state, ${STARTED}) !== begun) answered = Atomics.wait(state, ${HANDLED}, seen, ${grace}) !== 'timed-out';
	if (Atomics.load(state, ${ENDING}) === 1) return void process.kill(process.pid, name);
	if (answered) return listen();
	const session = new Session();
	try {
		session.connectToMainThread();
	} catch {
		return;
	}
	// With its signal watchers closed, nothing else keeps this thread alive until the flush is done.
	const alive = setTimeout(() => undefined, 60000);
	let tries = 0;
	const ask = () => {
		// In the middle of a store's write the flush is put off; a thread stuck there (a lease wait) is flushed anyway.
		const force = ++tries > ${forceAfterTries};
		const expression = 'globalThis[Symbol.for("fleche.shutdownWatchdog")].flushAll(' + JSON.stringify(name) + ', ' + force + ')';
		session.post('Runtime.evaluate', { expression, returnByValue: true }, (err, reply) => {
			const value = !err && reply && reply.result ? reply.result.value : undefined;
			if (value === 'later') return void setTimeout(ask, 1);
			clearTimeout(alive);
			session.disconnect();
			if (value === true) process.kill(process.pid, name);
			else listen();
		});
	};
	ask();
}
listen();
`;
}

/** The main thread answered a signal (ran the flush tasks), and decided to `end` the process or not. */
function answered(state: Int32Array, end: boolean): void {
	if (end) Atomics.store(state, ENDING, 1);
	Atomics.add(state, HANDLED, 1);
	Atomics.notify(state, HANDLED);
}

/** Starts the process's watchdog once (main thread only); `null` when it cannot run here. */
function startWatchdog(build: Hooked): Watchdog | null {
	const g = globalThis as Global;
	const existing = g[watchdogKey];
	if (existing !== undefined) {
		existing?.builds.add(build);
		return existing;
	}
	let dog: Watchdog | null = null;
	try {
		const state = new Int32Array(new SharedArrayBuffer(16));
		const builds = new Set<Hooked>([build]);
		// The watchdog's next ask can interrupt a flush under way (the main thread's own, put off): it must not flush
		// again inside it, nor end the process before that flush is written.
		let flushing = false;
		const flushNow = (signal: Signal): boolean => {
			for (const b of builds) b.defer(null);
			flushing = true;
			Atomics.add(state, STARTED, 1);
			try {
				let end = true;
				for (const b of builds) end = b.flush(signal) && end;
				answered(state, end);
				return end;
			} finally {
				flushing = false;
			}
		};
		const flushAll = (signal: Signal, force: boolean): boolean | 'later' => {
			if (flushing) return 'later';
			// The listener already flushed and decided to end: the watchdog raises the signal again.
			if (Atomics.load(state, ENDING) === 1) return true;
			if (!force && [...builds].some((b) => b.busy())) {
				// Run by the main thread itself the moment it leaves the store's work, or by the watchdog's next ask.
				const later = (): void => {
					if (flushNow(signal)) process.kill(process.pid, signal);
				};
				for (const b of builds) b.defer(later);
				return 'later';
			}
			// Raised here, by the main thread itself, not by the watchdog once this reply reaches it: a busy program
			// goes on with its loop as soon as this returns, and calls made before the watchdog's raise landed would be
			// written (a call file) or held (statistics, a SQL batch) after the flush, so lost or miscounted.
			if (!flushNow(signal)) return false;
			process.kill(process.pid, signal);
			return true;
		};
		const worker = new (workerThreads().Worker)(watchdogSource(watchdogGraceMs, forceAfterTries), { eval: true, workerData: { state } });
		worker.unref();
		const watchdog: Watchdog = { state, builds, flushAll, flushNow, failed: false };
		// A watchdog that fails (no signal binding) ends quietly: the listeners still flush.
		const failed = (): void => {
			watchdog.failed = true;
		};
		worker.on('error', failed);
		worker.on('exit', failed);
		dog = watchdog;
	} catch {
		dog = null;
	}
	g[watchdogKey] = dog;
	return dog;
}

/**
 * Runs `task` (synchronous) before the process ends: on 'exit', and on SIGINT, SIGTERM and SIGHUP. A signal that
 * nothing else listens to is raised again once the tasks ran, so the process still ends by that signal, with the
 * exit status and shell behaviour of the default (unlike handlers that call `process.exit(0)`); when the program
 * has its own listener, that listener decides what happens next. A program busy in synchronous code, which never
 * returns to its event loop, is interrupted by the watchdog (see the top of this module). Worker threads receive no
 * signals: their process's main thread flushes only its own writes, and a terminated worker loses what it held
 * (documented on `flushStats`). @internal
 */
export function beforeShutdown(order: number, task: () => void): void {
	tasks.set(order, task);
	if (hooked) return;
	hooked = true;
	process.on('exit', runAll);
	if (!workerThreads().isMainThread) return;
	const handlers = new Map<Signal, () => void>();
	const ours = (signal: Signal): boolean => {
		runAll();
		if (process.listenerCount(signal) > 1) return false;
		process.removeListener(signal, handlers.get(signal)!);
		return true;
	};
	const dog = startWatchdog({
		flush: ours,
		busy: () => inStoreWork.depth > 0,
		defer: (run) => {
			inStoreWork.then = run;
		},
	});
	for (const signal of signals) {
		handlers.set(signal, () => {
			const end = dog !== null ? dog.flushNow(signal) : ours(signal);
			// The watchdog heard it too and stops listening; until it has, the raised signal would meet its listener.
			if (end && dog !== null) Atomics.wait(dog.state, WATCHING, 1, watchdogGraceMs);
			if (end) process.kill(process.pid, signal);
		});
	}
	for (const [signal, handler] of handlers) process.on(signal, handler);
}

/** Order of the tasks in {@link beforeShutdown}: statistics, SQL puts, the SQL workers of a worker thread (ended between two steps), PostgreSQL puts, then leases (released once their results are written), then the stat cache of file digests (fileDigest.ts). @internal */
export const flushOrder = { stats: 0, sql: 1, sqlWorkers: 1.2, postgres: 1.5, leases: 2, fileDigests: 3 } as const;
