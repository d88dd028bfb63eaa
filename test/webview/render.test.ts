// The webview's pure helpers: chart geometry, folding "load more" answers into the tree, labels.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { durationChart, hitsChart, nearestMark, niceStep, timeTicks, valueTicks } from '../../webview/src/chart.ts';
import { mergeMore } from '../../webview/src/merge.ts';
import type { CallPoint, ValueNode } from '../../webview/src/protocol.ts';
import { containerSummary, pathId } from '../../webview/src/text.ts';
import { utcZone } from '../../webview/src/units.ts';

const point = (key: string, created: number | null, duration: number | null, hits: number): CallPoint => ({
	key,
	argsText: `n=${key}`,
	created,
	duration,
	hits,
	misses: 0,
	lastHit: null,
});
const box = { width: 640, height: 210, left: 66, right: 18, top: 14, bottom: 44 };
const t0 = 1_800_000_000; // 2027-01-15 08:00:00 UTC
const opts = { now: t0 + 600, zone: utcZone };
const epochLike = /\b1[5-9]\d{8}\b/;

test('duration chart: x by creation time, y by duration (top = longest); unknown points are left out and counted', () => {
	const chart = durationChart([point('a', t0, 1, 0), point('b', t0 + 100, 2, 0), point('c', null, 1, 0), point('d', t0 + 50, null, 0)], box, opts);
	assert.deepEqual(
		chart.marks.map((m) => m.key),
		['a', 'b'],
	);
	const [a, b] = chart.marks;
	assert.ok(a!.x < b!.x && a!.y > b!.y, 'later to the right, longer higher');
	assert.ok(a!.x > box.left && b!.x < box.width - box.right, 'marks sit inside the axes');
	assert.deepEqual([chart.drawn, chart.omitted, chart.binned], [2, 2, false]);
	assert.deepEqual(
		chart.yTicks.map((t) => t.label),
		['0', '500 ms', '1.0 s', '1.5 s', '2.0 s'],
	);
	assert.equal(chart.yTicks[chart.yTicks.length - 1]!.at, box.top, 'the top tick is the top of the plot');
	assert.equal(chart.xTitle, 'created (15 Jan 2027, UTC)');
	assert.match(a!.tip, /^n=a\ncreated 15 Jan 2027 08:00:00\.000 \(10 min ago\)\ntook 1\.0 s · 0 hits$/);
	for (const t of [...chart.xTicks, ...chart.yTicks]) assert.doesNotMatch(t.label, epochLike);
});

test('one point reads well: centred, one time tick naming it, a y axis from 0 above it', () => {
	const chart = durationChart([point('a', t0, 0.0004, 0)], box, opts);
	assert.equal(chart.marks.length, 1);
	assert.equal(chart.marks[0]!.x, (box.left + box.width - box.right) / 2);
	assert.deepEqual(
		chart.xTicks.map((t) => t.label),
		['15 Jan 2027 08:00:00'],
	);
	assert.deepEqual(
		chart.yTicks.map((t) => t.label),
		['0', '100 µs', '200 µs', '300 µs', '400 µs'],
	);
	const zero = durationChart([point('a', t0, 0, 0)], box, opts);
	assert.ok(zero.yTicks.length >= 2 && zero.marks.every((m) => Number.isFinite(m.y)), 'zero durations: no division by zero');
});

test('two calls created within one second get distinct, millisecond tick labels', () => {
	const chart = durationChart([point('a', t0 + 0.12, 0.5, 0), point('b', t0 + 0.61, 0.7, 0)], box, opts);
	const labels = chart.xTicks.map((t) => t.label);
	assert.ok(labels.length >= 2, JSON.stringify(labels));
	assert.equal(new Set(labels).size, labels.length, `no two identical labels: ${JSON.stringify(labels)}`);
	assert.ok(labels.every((l) => /^08:00:00\.\d{3}$/.test(l)), JSON.stringify(labels));
	// Created in the very same instant: one tick, both marks at one x, nothing repeated.
	const same = durationChart([point('a', t0, 0.5, 0), point('b', t0, 0.7, 0)], box, opts);
	assert.equal(same.xTicks.length, 1);
	assert.equal(same.marks[0]!.x, same.marks[1]!.x);
});

test('time ticks: round instants, as precise as their spacing needs, always distinct', () => {
	const spans = [0.003, 0.5, 5, 100, 4000, 86_400 * 2.5, 86_400 * 40, 86_400 * 800];
	for (const span of spans) {
		const { values, labels } = timeTicks(t0, t0 + span, 5, utcZone);
		assert.ok(values.length >= 2 && values.length <= 6, `${span}: ${values.length} ticks`);
		assert.ok(values.every((v) => v >= t0 - 1e-6 && v <= t0 + span + 1e-6), `${span}: ticks inside the span`);
		assert.equal(new Set(labels).size, labels.length, `${span}: ${JSON.stringify(labels)}`);
		for (const l of labels) assert.doesNotMatch(l, epochLike);
	}
	assert.deepEqual(timeTicks(t0, t0 + 4000, 5, utcZone).labels, ['08:00', '08:15', '08:30', '08:45', '09:00']);
	assert.deepEqual(timeTicks(t0, t0 + 86_400 * 2.5, 5, utcZone).labels, ['15 Jan 12:00', '16 Jan 00:00', '16 Jan 12:00', '17 Jan 00:00', '17 Jan 12:00']);
	// Local time: ticks fall on round instants of the zone, not of UTC.
	assert.deepEqual(timeTicks(t0, t0 + 4000, 5, () => 1800).labels, ['08:30', '08:45', '09:00', '09:15', '09:30']);
});

test('value ticks and steps', () => {
	assert.deepEqual(valueTicks(7, 4, true), [0, 2, 4, 6, 8]);
	assert.deepEqual(valueTicks(0, 4, true), [0, 1]);
	assert.deepEqual(valueTicks(0.9, 4, false), [0, 0.5, 1]);
	assert.equal(niceStep(1e9, 4, []), 5e8);
});

test('10,000 calls are binned into a bounded number of marks that keep the median and the range', () => {
	const many = Array.from({ length: 10_000 }, (_, i) => point(`k${i}`, t0 + i * 37.3, 0.01 + (i % 100) / 1000, i % 7));
	const chart = durationChart(many, box, opts);
	assert.ok(chart.binned);
	assert.ok(chart.marks.length > 20 && chart.marks.length <= 150, `${chart.marks.length} marks`);
	assert.equal(
		chart.marks.reduce((sum, m) => sum + m.count, 0),
		10_000,
		'every call is in one bin',
	);
	for (const m of chart.marks) assert.ok(m.yHigh <= m.y && m.y <= m.yLow, 'the median lies within the range');
	assert.match(chart.marks[0]!.tip, /^\d+ calls created 15 Jan 2027 08:00:00 – 15 Jan 2027 \d\d:\d\d:\d\d\nmedian \d+ ms · fastest 10 ms · slowest 1\d\d ms/);
	assert.equal(new Set(chart.xTicks.map((t) => t.label)).size, chart.xTicks.length);
	const hits = hitsChart(many, box, opts);
	assert.ok(hits.binned && hits.marks.length <= 150);
	assert.equal(
		hits.marks.reduce((sum, m) => sum + m.count, 0),
		10_000,
	);
	assert.match(hits.marks[0]!.tip, /hits in all/);
});

test('hits chart: a bar per call up to the bars that fit, height by hits, whole-number ticks', () => {
	const chart = hitsChart([point('a', t0, 1, 4), point('b', t0 + 10, 1, 0)], box, opts);
	const [a, b] = chart.marks;
	assert.equal(a!.y0, b!.y0, 'bars share the baseline');
	assert.equal(a!.y, box.top, 'the most hit call reaches the top tick');
	assert.equal(b!.y, b!.y0, 'no hits: no height');
	assert.deepEqual(
		chart.yTicks.map((t) => t.label),
		['0', '1', '2', '3', '4'],
	);
	assert.equal(chart.yTitle, 'hits');
});

test('the hover picks the mark nearest along x', () => {
	const chart = durationChart([point('a', t0, 1, 0), point('b', t0 + 100, 2, 0)], box, opts);
	assert.equal(nearestMark(chart, 0)?.key, 'a');
	assert.equal(nearestMark(chart, 10_000)?.key, 'b');
	assert.equal(nearestMark(durationChart([], box, opts), 100), undefined);
});

const text = (t: string): ValueNode => ({ t: 'text', type: 'number', text: t });

test('mergeMore appends a page at the node it belongs to, and replaces a cut string', () => {
	const tree: ValueNode = {
		t: 'tree',
		type: 'object',
		size: 2,
		path: [],
		entries: [
			{ key: 'list', value: { t: 'tree', type: 'array', size: 4, path: ['list'], entries: [{ key: '0', value: text('1') }, { key: '1', value: text('2') }] } },
			{ key: 's', value: { t: 'text', type: 'string', text: '"abc', fullLength: 9, path: ['s'] } },
		],
	};
	const page: ValueNode = { t: 'tree', type: 'array', size: 4, path: ['list'], entries: [{ key: '2', value: text('3') }, { key: '3', value: text('4') }] };
	const merged = mergeMore(tree, ['list'], 2, page);
	assert.ok(merged.t === 'tree');
	const list = merged.entries[0]!.value;
	assert.ok(list.t === 'tree');
	assert.deepEqual(
		list.entries.map((e) => e.key),
		['0', '1', '2', '3'],
	);
	assert.equal(merged.entries[1], tree.entries[1], 'untouched branches are shared');
	// A stale answer (offset no longer at the end) changes nothing.
	assert.equal(mergeMore(merged, ['list'], 2, page), merged);
	const full: ValueNode = { t: 'text', type: 'string', text: '"abcdefghi"', path: ['s'] };
	const withString = mergeMore(tree, ['s'], 0, full);
	assert.ok(withString.t === 'tree');
	assert.equal(withString.entries[1]!.value, full);
	assert.equal(mergeMore(tree, ['nope'], 0, full), tree);
});

test('labels and ids', () => {
	assert.equal(containerSummary('object', 1), '{1 key}');
	assert.equal(containerSummary('Map', 3), 'Map(3)');
	assert.notEqual(pathId('arguments', ['a', 1]), pathId('arguments', ['a', '1']));
});

test('the webview never writes data as markup (no innerHTML, insertAdjacentHTML, outerHTML or document.write)', () => {
	for (const file of ['render.ts', 'main.ts']) {
		const source = readFileSync(fileURLToPath(new URL(`../../../webview/src/${file}`, import.meta.url)), 'utf8');
		assert.doesNotMatch(source, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, file);
	}
});
