// webview/src/units.ts: the units every surface (panels, tree, lenses) writes, and dates in a fixed zone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
	countOf,
	formatAge,
	formatBytes,
	formatClock,
	formatCount,
	formatDateTime,
	formatDuration,
	formatNumber,
	isoUtc,
	utcZone,
	zoneName,
} from '../../webview/src/units.ts';

test('durations read in µs, ms, s, min and h', () => {
	assert.deepEqual([0, 4e-7, 0.00085, 0.0042, 0.25, 1.234, 42.4, 60, 184, 7500].map(formatDuration), [
		'0 s',
		'<1 µs',
		'850 µs',
		'4.2 ms',
		'250 ms',
		'1.2 s',
		'42 s',
		'1 min',
		'3 min 4 s',
		'2 h 5 min',
	]);
	assert.deepEqual([null, undefined, -1, NaN, Infinity].map(formatDuration), ['—', '—', '—', '—', '—']);
	// The raw metadata value of the issue: CPU time with floating-point noise.
	assert.equal(formatDuration(0.06417500000000004), '64 ms');
});

test('bytes, counts and plain numbers', () => {
	assert.deepEqual([0, 512, 1536, 50 * 1024 * 1024, 3 * 1024 ** 4].map(formatBytes), ['0 B', '512 B', '1.5 KB', '50 MB', '3.0 TB']);
	assert.equal(formatBytes(null), '—');
	assert.equal(formatCount(1234567), '1,234,567');
	assert.equal(countOf(1, 'hit'), '1 hit');
	assert.equal(countOf(12345, 'miss', 'misses'), '12,345 misses');
	assert.equal(formatNumber(0.06417500000000004), '0.064175');
	assert.equal(formatNumber(0.1 + 0.2), '0.3');
	assert.equal(formatNumber(1_800_000_000), '1,800,000,000');
	assert.equal(formatNumber(-2.5), '-2.5');
});

test('ages are relative to the clock passed in', () => {
	const now = 1_800_000_000;
	assert.deepEqual(
		[now - 10, now - 180, now - 3 * 3600, now - 2 * 86_400, now - 90 * 86_400, now - 800 * 86_400, now + 100].map((t) => formatAge(t, now)),
		['just now', '3 min ago', '3 h ago', '2 d ago', '3 mo ago', '2 y ago', 'just now'],
	);
	assert.equal(formatAge(null, now), '—');
});

test('dates in a given zone, at the precision asked; the zone named for hovers', () => {
	const t = 1_800_000_000.25; // 2027-01-15T08:00:00.250Z
	assert.equal(formatDateTime(t, 'second', utcZone), '15 Jan 2027 08:00:00');
	assert.equal(formatDateTime(t, 'millisecond', utcZone), '15 Jan 2027 08:00:00.250');
	assert.equal(formatDateTime(t, 'day', utcZone), '15 Jan 2027');
	assert.equal(formatClock(t, 'minute', utcZone), '08:00');
	const plusFiveThirty = (): number => 5.5 * 3600;
	assert.equal(formatDateTime(t, 'minute', plusFiveThirty), '15 Jan 2027 13:30');
	assert.equal(zoneName(t, plusFiveThirty), 'UTC+5:30');
	assert.equal(
		zoneName(t, () => -3600),
		'UTC−1',
	);
	assert.equal(zoneName(t, utcZone), 'UTC');
	assert.equal(isoUtc(t), '2027-01-15T08:00:00.250Z');
	assert.equal(formatDateTime(null), '—');
});
