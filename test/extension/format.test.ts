// extension/src/model/format.ts: the words and numbers people read in the tree, the lenses and the panel.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
	countsText,
	formatAge,
	formatBytes,
	formatDuration,
	formatTimestamp,
	functionLabel,
	hitRatio,
	lensTitle,
	plural,
	truncate,
} from '../../extension/src/model/format.ts';

test('lens titles follow the contract, singular for 1, always "N cached"', () => {
	assert.equal(lensTitle({ hits: 12, misses: 3, calls: 5 }), 'fleche: 12 hits · 3 misses · 5 cached');
	assert.equal(lensTitle({ hits: 1, misses: 1, calls: 1 }), 'fleche: 1 hit · 1 miss · 1 cached');
	assert.equal(lensTitle({ hits: 0, misses: 0, calls: 0 }), 'fleche: 0 hits · 0 misses · 0 cached');
	assert.equal(countsText({ hits: 2, misses: 1, calls: 0 }), '2 hits · 1 miss · 0 cached');
	assert.equal(plural(1, 'function'), '1 function');
});

test('durations', () => {
	assert.equal(formatDuration(null), '—');
	assert.equal(formatDuration(-1), '—');
	assert.equal(formatDuration(0.0004), '400 µs');
	assert.equal(formatDuration(0.25), '250 ms');
	assert.equal(formatDuration(1.234), '1.2 s');
	assert.equal(formatDuration(42.4), '42 s');
	assert.equal(formatDuration(184), '3 min 4 s');
	assert.equal(formatDuration(7500), '2 h 5 min');
});

test('sizes in powers of 1024', () => {
	assert.equal(formatBytes(null), '—');
	assert.equal(formatBytes(512), '512 B');
	assert.equal(formatBytes(1536), '1.5 KB');
	assert.equal(formatBytes(50 * 1024 * 1024), '50 MB');
});

test('ages relative to now, timestamps in UTC', () => {
	const now = 1_800_000_000;
	assert.equal(formatAge(now - 10, now), 'just now');
	assert.equal(formatAge(now - 300, now), '5 min ago');
	assert.equal(formatAge(now - 3 * 3600, now), '3 h ago');
	assert.equal(formatAge(now - 2 * 86_400, now), '2 d ago');
	assert.equal(formatAge(now - 90 * 86_400, now), '3 mo ago');
	assert.equal(formatAge(now - 800 * 86_400, now), '2 y ago');
	assert.equal(formatAge(null, now), '—');
	assert.equal(formatAge(now + 100, now), 'just now');
	assert.equal(formatTimestamp(0), '1970-01-01 00:00:00 UTC');
	assert.equal(formatTimestamp(null), '—');
});

test('one-line truncation, labels and ratios', () => {
	assert.equal(truncate('a\n  b', 10), 'a b');
	assert.equal(truncate('abcdefghij', 5), 'abcd…');
	assert.equal(functionLabel({ module: 'src/a.ts', name: 'f' }), 'src/a.ts:f');
	assert.equal(functionLabel({ module: null, name: 'f' }), 'f');
	assert.equal(hitRatio(0, 0), '—');
	assert.equal(hitRatio(3, 1), '75%');
});
