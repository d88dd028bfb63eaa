// extension/src/model/details.ts: values become paged trees for the webview, and "load more" answers from the value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callDetailsState, functionDetailsState, moreAt, notFound, toValueNode, valueAt, type CallDetailInfo } from '../../extension/src/model/details.ts';
import { isDetailsState } from '../../webview/src/protocol.ts';

const limits = { pageSize: 3, maxString: 10, depth: 2 };

test('scalars become one line of text with a type', () => {
	assert.deepEqual(toValueNode(42), { t: 'text', type: 'number', text: '42' });
	assert.deepEqual(toValueNode('hi'), { t: 'text', type: 'string', text: '"hi"' });
	assert.deepEqual(toValueNode(10n), { t: 'text', type: 'bigint', text: '10n' });
	assert.deepEqual(toValueNode(null), { t: 'text', type: 'null', text: 'null' });
	assert.deepEqual(toValueNode(undefined), { t: 'text', type: 'undefined', text: 'undefined' });
	assert.deepEqual(toValueNode(new Date(0)), { t: 'text', type: 'date', text: '1970-01-01T00:00:00.000Z' });
	assert.deepEqual(toValueNode(/a+/g), { t: 'text', type: 'regexp', text: '/a+/g' });
	assert.deepEqual(toValueNode(new TypeError('x')), { t: 'text', type: 'error', text: 'TypeError: x' });
});

test('containers are paged and cut at a depth; the rest loads by path', () => {
	const value = { list: [1, 2, 3, 4, 5], nested: { deeper: { deepest: 1 } }, map: new Map([['k', new Set([1])]]) };
	const node = toValueNode(value, limits);
	assert.equal(node.t, 'tree');
	if (node.t !== 'tree') return;
	assert.equal(node.size, 3);
	const list = node.entries[0]!.value;
	assert.ok(list.t === 'tree');
	assert.deepEqual([list.type, list.size, list.entries.length, list.path], ['array', 5, 3, ['list']]);
	const deeper = node.entries[1]!.value;
	assert.ok(deeper.t === 'tree' && deeper.entries[0]!.value.t === 'tree');
	assert.deepEqual(deeper.entries[0]!.value.entries, [], 'beyond the depth: no entries, loaded when opened');
	const map = node.entries[2]!.value;
	assert.ok(map.t === 'tree');
	assert.equal(map.type, 'Map');
	assert.equal(map.entries[0]!.key, '"k"');

	const next = moreAt(value, ['list'], 3, limits);
	assert.ok(next?.t === 'tree');
	assert.deepEqual(
		next.entries.map((e) => e.value.t === 'text' && e.value.text),
		['4', '5'],
	);
	assert.equal(valueAt(value, ['map', 0, 0]), 1);
	assert.equal(valueAt(value, ['list', 'x']), notFound);
	assert.equal(valueAt(value, ['missing']), notFound);
	assert.equal(moreAt(value, ['nope'], 0, limits), undefined);
});

test('long strings are cut with their full length and load whole', () => {
	const long = 'x'.repeat(25);
	const node = toValueNode({ s: long }, limits);
	assert.ok(node.t === 'tree');
	const s = node.entries[0]!.value;
	assert.deepEqual(s, { t: 'text', type: 'string', text: `"${'x'.repeat(10)}`, fullLength: 25, path: ['s'] });
	assert.deepEqual(moreAt({ s: long }, ['s'], 0, limits), { t: 'text', type: 'string', text: JSON.stringify(long), path: ['s'] });
});

test('cycles show as [Circular] instead of recursing', () => {
	const a: Record<string, unknown> = { name: 'a' };
	a.self = a;
	const node = toValueNode(a, { ...limits, depth: 5 });
	assert.ok(node.t === 'tree');
	assert.deepEqual(node.entries[1]!.value, { t: 'text', type: 'circular', text: '[Circular]' });
});

const detail: CallDetailInfo = {
	module: 'src/math.js',
	name: 'greet',
	key: 'ab'.repeat(32),
	version: 2,
	args: { name: "'<img src=x onerror=alert(1)>'" },
	argsText: "name='<img src=x onerror=alert(1)>'",
	created: 1_800_000_000,
	duration: 0.5,
	size: 40,
	hits: 3,
	misses: 1,
	lastHit: 1_800_000_100,
	codeDigest: null,
	arguments: { name: '<img src=x onerror=alert(1)>' },
	result: { ok: true, value: 'hello <img src=x onerror=alert(1)>' },
	metadata: { runtime: { walltime: 0.5 } },
};

test('call details state: protocol-valid, values as data, facts formatted', () => {
	const state = callDetailsState('/w/.fleche', detail, 1_800_000_200);
	assert.ok(isDetailsState(state));
	assert.ok(JSON.stringify(state.arguments).includes('<img src=x onerror=alert(1)>'));
	assert.deepEqual(
		state.facts.map((f) => f.label),
		['function', 'created', 'took', 'result size', 'hits', 'last hit', 'version', 'key', 'code digest'],
	);
	assert.equal(state.facts.find((f) => f.label === 'hits')!.value, '3 hits · 1 miss (hit ratio 75%)');
	assert.equal(state.facts.find((f) => f.label === 'took')!.value, '500 ms');
	const failed = callDetailsState('c', { ...detail, result: { ok: false, error: 'CorruptEntry' } }, 0);
	assert.deepEqual(failed.result, { ok: false, error: 'CorruptEntry' });
	assert.ok(isDetailsState(failed));
});

test('function details state: points for the charts with labels and axes', () => {
	const fn = { module: 'src/math.js', name: 'greet', calls: 2, hits: 3, misses: 2, lastHit: null, computeSeconds: 1, savedSeconds: 2, versions: [2] };
	const state = functionDetailsState('c', fn, [detail, { ...detail, key: 'cd'.repeat(32), created: 1_800_000_600, duration: 2, hits: 0 }], 1_800_001_000);
	assert.ok(isDetailsState(state));
	assert.equal(state.points.length, 2);
	assert.match(state.points[0]!.label, /greet\(name=/);
	assert.deepEqual(state.axes, { from: '2027-01-15 08:00:00 UTC', to: '2027-01-15 08:10:00 UTC', maxDuration: '2.0 s', maxHits: '3' });
});
