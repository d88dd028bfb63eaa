// docs/behaviour.md §18: durations as users write them — a number of seconds, or a string with a unit (`"90s"`,
// `"15m"`, `"12h"`, `"7d"`, `"2 weeks"`), parsed by the `ms` package. A bare number in a string (`"30"`) is refused:
// `ms` would read it as milliseconds, and a max age off by a factor of 1000 is worse than an error.
import { createRequire } from 'node:module';
import type ms from 'ms';

/**
 * `ms`, loaded by the first duration written as text rather than when `fleche` is imported. The ES module build
 * requires it from its own location; the CommonJS build, where `import.meta.url` is undefined, calls `require('ms')`
 * itself, which a bundler (the extension's) still sees and bundles.
 */
function loadMs(): typeof ms {
	const url = import.meta.url as string | undefined;
	// eslint-disable-next-line @typescript-eslint/no-require-imports -- the CommonJS build's lazy load, see above
	return (url !== undefined ? createRequire(url)('ms') : require('ms')) as typeof ms;
}
let parse: typeof ms | undefined;

/** A duration: seconds as a number, or a string with a unit such as `"90s"`, `"15m"`, `"12h"`, `"7d"`, `"2 weeks"`. */
export type Duration = number | string;

/**
 * Seconds in `value`, ≥ 0 and finite. @throws TypeError naming `what` for anything else (a negative or unitless value,
 * an unknown unit). @internal
 */
export function durationSeconds(value: unknown, what: string): number {
	if (typeof value === 'number') {
		if (Number.isFinite(value) && value >= 0) return value;
		throw new TypeError(`${what} must be a number of seconds ≥ 0 or a duration such as "12h", got ${String(value)}`);
	}
	if (typeof value === 'string' && !/^\s*[-+]?[\d.]+\s*$/.test(value)) {
		// `ms` types only the spellings it knows; anything else is what this check is for (it returns undefined).
		const millis = value.length <= 100 ? (parse ??= loadMs())(value as ms.StringValue) : undefined;
		if (typeof millis === 'number' && Number.isFinite(millis) && millis >= 0) return millis / 1000;
	}
	throw new TypeError(`${what} must be a number of seconds ≥ 0 or a duration with a unit such as "90s", "15m", "12h", "7d", got ${JSON.stringify(value)}`);
}
