// Pure: numbers → the words people read, in the details panels, the tree and the lenses alike (the extension's
// model/format.ts re-exports these, so every surface writes `850 µs`, `1.5 KB` and `3 min ago` the same way).
// Imports nothing: it is shared across the webview boundary like protocol.ts, but carries no messages.
//
// Dates are formatted where they are read: the webview formats them in the browser's time zone ("local"), with
// `offsetOf` (seconds east of UTC at a given instant) as the one seam tests fix to UTC.

/** Seconds east of UTC at an instant (epoch seconds): the time zone dates are shown in. */
export type ZoneOffset = (epochSeconds: number) => number;

/** The browser's (or the host's) own time zone. */
export const localZone: ZoneOffset = (t) => -new Date(t * 1000).getTimezoneOffset() * 60;

/** UTC, for tests and for hovers that name the instant exactly. */
export const utcZone: ZoneOffset = () => 0;

const usable = (n: number | null | undefined): n is number => n !== null && n !== undefined && Number.isFinite(n);

/** `count` with thousands separators: `12,345`. */
export function formatCount(count: number): string {
	return usable(count) ? count.toLocaleString('en-US', { maximumFractionDigits: 0 }) : '—';
}

/** `1 hit`, `12,345 hits`. */
export function countOf(count: number, singular: string, pluralForm = `${singular}s`): string {
	return `${formatCount(count)} ${count === 1 ? singular : pluralForm}`;
}

/** One or two significant decimals below 10, none above: `4.2`, `42`. */
function short(value: number): string {
	return value < 10 ? value.toFixed(1).replace(/\.0$/, '') : String(Math.round(value));
}

/**
 * Seconds → `0 s`, `<1 µs`, `850 µs`, `4.2 ms`, `250 ms`, `1.2 s`, `42 s`, `1 min`, `3 min 4 s`, `2 h 5 min`; `—` when
 * unknown or negative.
 */
export function formatDuration(seconds: number | null | undefined): string {
	if (!usable(seconds) || seconds < 0) return '—';
	if (seconds === 0) return '0 s';
	if (seconds < 1e-6) return '<1 µs';
	if (seconds < 1e-3) return `${Math.round(seconds * 1e6)} µs`;
	if (seconds < 0.01) return `${short(seconds * 1e3)} ms`;
	if (seconds < 1) return `${Math.round(seconds * 1e3)} ms`;
	if (seconds < 10) return `${seconds.toFixed(1)} s`;
	if (seconds < 59.5) return `${Math.round(seconds)} s`;
	const whole = Math.round(seconds);
	const minutes = Math.floor(whole / 60);
	const rest = (n: number, unit: string): string => (n === 0 ? '' : ` ${n} ${unit}`);
	if (minutes < 60) return `${minutes} min${rest(whole - minutes * 60, 's')}`;
	const hours = Math.floor(minutes / 60);
	return `${hours} h${rest(minutes - hours * 60, 'min')}`;
}

/** Bytes → `512 B`, `1.5 KB`, `50 MB` (powers of 1024, as file explorers show them). */
export function formatBytes(bytes: number | null | undefined): string {
	if (!usable(bytes) || bytes < 0) return '—';
	const units = ['B', 'KB', 'MB', 'GB', 'TB'];
	let value = bytes;
	let unit = 0;
	while (value >= 1024 && unit < units.length - 1) {
		value /= 1024;
		unit++;
	}
	if (unit === 0) return `${formatCount(value)} B`;
	return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** Seconds since the epoch → `just now`, `5 min ago`, `3 h ago`, `2 d ago`, `4 mo ago`, `1 y ago`. */
export function formatAge(epochSeconds: number | null | undefined, nowSeconds: number): string {
	if (!usable(epochSeconds)) return '—';
	const age = Math.max(0, nowSeconds - epochSeconds);
	if (age < 45) return 'just now';
	if (age < 3600) return `${Math.max(1, Math.round(age / 60))} min ago`;
	if (age < 86_400) return `${Math.round(age / 3600)} h ago`;
	if (age < 30 * 86_400) return `${Math.round(age / 86_400)} d ago`;
	if (age < 365 * 86_400) return `${Math.round(age / (30 * 86_400))} mo ago`;
	return `${Math.round(age / (365 * 86_400))} y ago`;
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** The wall-clock fields of an instant in a zone (a Date read through its UTC getters after shifting). */
function fields(epochSeconds: number, zone: ZoneOffset): { y: number; mo: number; d: number; h: number; mi: number; s: number; ms: number } {
	const shifted = new Date(Math.round((epochSeconds + zone(epochSeconds)) * 1000));
	return {
		y: shifted.getUTCFullYear(),
		mo: shifted.getUTCMonth(),
		d: shifted.getUTCDate(),
		h: shifted.getUTCHours(),
		mi: shifted.getUTCMinutes(),
		s: shifted.getUTCSeconds(),
		ms: shifted.getUTCMilliseconds(),
	};
}

/** How much of a date-time a label shows. */
export type DatePrecision = 'day' | 'minute' | 'second' | 'millisecond';

/** `5 Dec 2026`, `5 Dec 2026 14:03`, `5 Dec 2026 14:03:07`, `5 Dec 2026 14:03:07.250`, in `zone` (default local). */
export function formatDateTime(epochSeconds: number | null | undefined, precision: DatePrecision = 'second', zone: ZoneOffset = localZone): string {
	if (!usable(epochSeconds)) return '—';
	const f = fields(epochSeconds, zone);
	const date = `${f.d} ${months[f.mo]} ${f.y}`;
	return precision === 'day' ? date : `${date} ${formatClock(epochSeconds, precision, zone)}`;
}

/** The time of day alone: `14:03`, `14:03:07`, `14:03:07.250`. */
export function formatClock(epochSeconds: number, precision: Exclude<DatePrecision, 'day'> = 'second', zone: ZoneOffset = localZone): string {
	const f = fields(epochSeconds, zone);
	const minute = `${two(f.h)}:${two(f.mi)}`;
	if (precision === 'minute') return minute;
	const second = `${minute}:${two(f.s)}`;
	return precision === 'second' ? second : `${second}.${String(f.ms).padStart(3, '0')}`;
}

/** The zone's name for a hover: `UTC`, `UTC+1`, `UTC−5:30`. */
export function zoneName(epochSeconds: number, zone: ZoneOffset = localZone): string {
	const offset = zone(epochSeconds);
	if (offset === 0) return 'UTC';
	const sign = offset > 0 ? '+' : '−';
	const minutes = Math.round(Math.abs(offset) / 60);
	return `UTC${sign}${Math.floor(minutes / 60)}${minutes % 60 === 0 ? '' : `:${two(minutes % 60)}`}`;
}

/** The ISO-8601 UTC form of an instant, for hovers: `2026-12-05T14:03:07.250Z`. */
export function isoUtc(epochSeconds: number): string {
	return new Date(Math.round(epochSeconds * 1000)).toISOString();
}

/**
 * A plain number without floating-point noise: `0.06417500000000004` → `0.064175`, `1e21` stays exponent form,
 * integers get separators. For values whose unit is unknown (metadata of an unknown kind).
 */
export function formatNumber(value: number): string {
	if (!Number.isFinite(value)) return String(value);
	if (Number.isInteger(value)) return Math.abs(value) < 1e21 ? formatCount(value) : String(value);
	return String(Number(value.toPrecision(12)));
}
