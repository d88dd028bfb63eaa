// The webview's pure helpers: chart geometry, folding "load more" answers into the tree, labels.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { durationChart, hitsChart } from '../../webview/src/chart.ts';
import { mergeMore } from '../../webview/src/merge.ts';
import type { CallPoint, ValueNode } from '../../webview/src/protocol.ts';
import { containerSummary, pathId } from '../../webview/src/text.ts';

const point = (key: string, created: number | null, duration: number | null, hits: number): CallPoint => ({
	key,
	argsText: '',
	created,
	duration,
	hits,
	misses: 0,
	lastHit: null,
	label: key,
});
const box = { width: 200, height: 100, pad: 10 };

test('duration chart: x by creation time, y by duration (top = longest); unknown points are left out', () => {
	const chart = durationChart([point('a', 100, 1, 0), point('b', 200, 2, 0), point('c', null, 1, 0), point('d', 150, null, 0)], box);
	assert.deepEqual(
		chart.marks.map((m) => [m.key, m.x, m.y]),
		[
			['a', 10, 50],
			['b', 190, 10],
		],
	);
	assert.deepEqual([chart.xMin, chart.xMax, chart.yMax], [100, 200, 2]);
	// One point: centred; zero durations: no division by zero.
	assert.deepEqual(
		durationChart([point('a', 5, 0, 0)], box).marks.map((m) => [m.x, m.y]),
		[[100, 90]],
	);
});

test('hits chart: one bar per call, height by hits', () => {
	const chart = hitsChart([point('a', 0, 1, 4), point('b', 10, 1, 0)], box);
	assert.deepEqual(
		chart.marks.map((m) => [m.key, m.x, m.y, m.h]),
		[
			['a', 10, 10, 80],
			['b', 190, 90, 0],
		],
	);
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
