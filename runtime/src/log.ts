// docs/behaviour.md §1.12c: every message fleche emits goes through this one logger, so users can silence or redirect it.

/** Severity of a log record. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One log record. `code` is stable and machine-readable (e.g. `FLECHE_INDIGESTIBLE`); `message` is for people. */
export interface LogRecord {
	level: LogLevel;
	code: string;
	message: string;
	/** The function the record is about, when there is one (`module:name`). */
	fn?: string | undefined;
	cause?: unknown;
}

/** Receives log records. */
export type LogSink = (record: LogRecord) => void;

const stateKey = Symbol.for('fleche.log');
type LogState = { sink: LogSink | null; level: LogLevel; once: Set<string> };
const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function defaultSink(record: LogRecord): void {
	// process.emitWarning keeps fleche out of stdout and lets `--no-warnings` or a 'warning' listener handle it.
	const type = record.level === 'error' ? 'FlecheError' : 'FlecheWarning';
	process.emitWarning(record.message, { type, code: record.code });
}

/** The process's one log state, made by whichever copy of the package loads first and never replaced. */
const shared: LogState = ((globalThis as { [stateKey]?: LogState })[stateKey] ??= { sink: defaultSink, level: 'warn', once: new Set() });

function state(): LogState {
	return shared;
}

/**
 * Sends fleche's warnings somewhere else, or nowhere.
 *
 * @param sink - a function that receives every record at or above `level`; `null` silences fleche entirely.
 * @param level - the lowest level passed to the sink.
 * @default sink: `process.emitWarning` with type `FlecheWarning`; level: `'warn'`
 * @example
 * ```ts
 * import { setLogger } from 'fleche';
 * setLogger((r) => myLogger.log(r.level, r.message)); // redirect
 * setLogger(null); // silence
 * ```
 */
export function setLogger(sink: LogSink | null, level: LogLevel = 'warn'): void {
	const s = state();
	s.sink = sink;
	s.level = level;
}

/** Restores the default logger (process warnings, level `warn`) and forgets which one-time warnings were sent. */
export function resetLogger(): void {
	const s = state();
	s.sink = defaultSink;
	s.level = 'warn';
	s.once.clear();
}

/** @internal */
export function log(level: LogLevel, code: string, message: string, extra?: Partial<LogRecord>): void {
	const s = state();
	if (s.sink === null || order[level] < order[s.level]) return;
	try {
		s.sink({ level, code, message, ...extra });
	} catch {
		// A broken sink must never break the cached function.
	}
}

/** @internal Logs a warning once per `onceKey` for the life of the process. */
export function warnOnce(onceKey: string, code: string, message: string, extra?: Partial<LogRecord>): void {
	const s = state();
	if (s.once.has(onceKey)) return;
	s.once.add(onceKey);
	log('warn', code, message, extra);
}

/** @internal */
export function warn(code: string, message: string, extra?: Partial<LogRecord>): void {
	log('warn', code, message, extra);
}

/** @internal */
export function isDebug(): boolean {
	const s = state();
	return s.sink !== null && s.level === 'debug';
}
