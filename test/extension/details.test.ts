// extension/src/model/details.ts: values become paged trees for the webview, and "load more" answers from the value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import {
	callDetailsState,
	folderHolding,
	functionDetailsState,
	metadataDisplay,
	moreAt,
	notFound,
	sourceLinkOf,
	toValueNode,
	valueAt,
	withMetadataDisplays,
	type CallDetailInfo,
} from '../../extension/src/model/details.ts';
import { isDetailsState, type ValueNode } from '../../webview/src/protocol.ts';

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
	metadata: {
		runtime: { timestart: 1_800_000_000.125, timestop: 1_800_000_000.625, walltime: 0.5, cputime: 0.06417500000000004, systime: 0.004 },
		environment: { hostname: 'box', node_version: 'v20.0.0' },
		files: { ['ab'.repeat(32)]: 2048 },
		tags: { run: 3, ratio: 0.1 + 0.2 },
	},
};

test('call details state: protocol-valid, values as data, facts typed with their units', () => {
	const state = callDetailsState('/w/.fleche', detail, 1_800_000_200);
	assert.ok(isDetailsState(state));
	assert.ok(JSON.stringify(state.arguments).includes('<img src=x onerror=alert(1)>'));
	assert.deepEqual(
		state.facts.map((f) => f.label),
		['function', 'created', 'took', 'CPU time', 'result size', 'hits', 'misses', 'last hit', 'version', 'key', 'code digest'],
	);
	const fact = (label: string) => state.facts.find((f) => f.label === label)!;
	assert.deepEqual(fact('created').value, { kind: 'date', seconds: 1_800_000_000 });
	assert.deepEqual(fact('took').value, { kind: 'duration', seconds: 0.5 });
	assert.deepEqual(fact('CPU time').value, { kind: 'duration', seconds: 0.06417500000000004 + 0.004 });
	assert.deepEqual(fact('result size').value, { kind: 'bytes', bytes: 40 });
	assert.deepEqual(fact('hits'), { label: 'hits', value: { kind: 'count', count: 3, unit: 'hit', units: 'hits' }, note: 'hit ratio 75%' });
	assert.deepEqual(callDetailsState('c', { ...detail, lastHit: null }, 0).facts.find((f) => f.label === 'last hit')!.value, { kind: 'text', text: 'never' });
	assert.equal(state.source, null);
	const failed = callDetailsState('c', { ...detail, result: { ok: false, error: 'CorruptEntry' } }, 0);
	assert.deepEqual(failed.result, { ok: false, error: 'CorruptEntry' });
	assert.ok(isDetailsState(failed));
	assert.ok(!callDetailsState('c', { ...detail, metadata: {} }, 0).facts.some((f) => f.label === 'CPU time'), 'no CPU time without Runtime metadata');
});

test('metadata values get the kind their namespace gives them; the stored text stays for the hover', () => {
	const state = callDetailsState('c', detail, 0);
	const leaf = (...keys: string[]): ValueNode => {
		let node: ValueNode = state.metadata;
		for (const k of keys) {
			assert.ok(node.t === 'tree');
			node = node.entries.find((e) => e.key === k)!.value;
		}
		return node;
	};
	assert.deepEqual(leaf('runtime', 'timestart'), { t: 'text', type: 'number', text: '1800000000.125', display: { kind: 'date', seconds: 1_800_000_000.125 } });
	assert.deepEqual(leaf('runtime', 'cputime'), {
		t: 'text',
		type: 'number',
		text: '0.06417500000000004',
		display: { kind: 'duration', seconds: 0.06417500000000004 },
	});
	assert.deepEqual(leaf('files', 'ab'.repeat(32)), { t: 'text', type: 'number', text: '2048', display: { kind: 'bytes', bytes: 2048 } });
	assert.deepEqual(leaf('tags', 'ratio'), { t: 'text', type: 'number', text: String(0.1 + 0.2), display: { kind: 'number', value: 0.1 + 0.2 } });
	assert.deepEqual(leaf('environment', 'hostname'), { t: 'text', type: 'string', text: '"box"' }, 'strings stay as they are');
	assert.deepEqual(metadataDisplay(['runtime', 'walltime'], 2), { kind: 'duration', seconds: 2 });
	assert.deepEqual(metadataDisplay(['tags', 'timestart'], 2), { kind: 'number', value: 2 }, 'only the Runtime namespace names dates');
	// A page loaded later gets the same kinds (the panel passes "load more" answers through it).
	const page = moreAt(detail.metadata, ['runtime'], 0)!;
	const annotated = withMetadataDisplays(page);
	assert.ok(annotated.t === 'tree');
	assert.deepEqual(annotated.entries.find((e) => e.key === 'walltime')!.value.t === 'text' && annotated.entries.find((e) => e.key === 'walltime')!.value, {
		t: 'text',
		type: 'number',
		text: '0.5',
		display: { kind: 'duration', seconds: 0.5 },
	});
});

test('function details state: one point per call with its numbers, facts typed, the source passed through', () => {
	const fn = { module: 'src/math.js', name: 'greet', calls: 2, hits: 3, misses: 2, lastHit: null, computeSeconds: 1, savedSeconds: 2, versions: [2] };
	const source = { file: '/w/src/math.js', line: 4, column: 13, label: 'src/math.js:5' };
	const state = functionDetailsState(
		'c',
		fn,
		[detail, { ...detail, key: 'cd'.repeat(32), created: 1_800_000_600, duration: 2, hits: 0 }],
		1_800_001_000,
		source,
	);
	assert.ok(isDetailsState(state));
	assert.deepEqual(state.points[1], {
		key: 'cd'.repeat(32),
		argsText: detail.argsText,
		created: 1_800_000_600,
		duration: 2,
		hits: 0,
		misses: 1,
		lastHit: 1_800_000_100,
	});
	assert.deepEqual(
		state.facts.map((f) => [f.label, f.value.kind]),
		[
			['function', 'text'],
			['cached calls', 'count'],
			['hits', 'count'],
			['misses', 'count'],
			['computing', 'duration'],
			['saved by hits', 'duration'],
			['last hit', 'text'],
			['versions', 'text'],
		],
	);
	assert.equal(state.source, source);
});

test('source links: labelled relative to their folder; only files inside a workspace folder are opened', () => {
	const folders = [path.resolve('/w/app'), path.resolve('/w/lib')];
	assert.deepEqual(sourceLinkOf(path.resolve('/w/app/src/math.js'), 4, 2, folders), {
		file: path.resolve('/w/app/src/math.js'),
		line: 4,
		column: 2,
		label: 'src/math.js:5',
	});
	assert.equal(folderHolding(path.resolve('/w/lib/a.ts'), folders), folders[1]);
	assert.equal(folderHolding(path.resolve('/w/app/..foo/a.ts'), folders), folders[0], 'a name starting with two dots is still inside');
	for (const outside of ['/w/app/../secret.txt', '/etc/passwd', '/w/application/a.js', '/w/app', 'src/math.js', '/w/app/a\0b']) {
		assert.equal(folderHolding(outside, folders), undefined, outside);
	}
	assert.equal(folderHolding(path.resolve('/w/app/a.js'), []), undefined, 'no workspace: nothing opens');
});
