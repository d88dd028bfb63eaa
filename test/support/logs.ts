// Captures fleche's log records for assertions, and restores the default logger afterwards.
import { after } from 'node:test';
import { setLogger, resetLogger, type LogRecord } from 'fleche';

export interface Captured {
	readonly records: LogRecord[];
	/** Records with this code. */
	codes(code: string): LogRecord[];
	clear(): void;
}

/** Sends every fleche log record at or above `debug`/`warn` into an array for the rest of the test file. */
export function captureLogs(level: 'debug' | 'warn' = 'warn'): Captured {
	const records: LogRecord[] = [];
	setLogger((r) => records.push(r), level);
	after(() => resetLogger());
	return {
		records,
		codes: (code) => records.filter((r) => r.code === code),
		clear: () => {
			records.length = 0;
		},
	};
}
