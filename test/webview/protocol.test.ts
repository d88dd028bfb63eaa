// webview/src/protocol.ts: the guards accept what the other side sends and nothing else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromWebview, isDetailsState, isValueNode, protocolVersion, toWebview, type CallDetailsState } from '../../webview/src/protocol.ts';

const value = { t: 'tree', type: 'object', size: 1, path: [], entries: [{ key: 'a', value: { t: 'text', type: 'number', text: '1' } }] } as const;

const state: CallDetailsState = {
	view: 'call',
	version: protocolVersion,
	cache: '/w/.fleche',
	key: 'ab'.repeat(32),
	module: 'src/a.js',
	name: 'f',
	fnVersion: null,
	codeDigest: null,
	created: null,
	duration: null,
	size: null,
	hits: 0,
	misses: 0,
	lastHit: null,
	arguments: value,
	result: { ok: true, value },
	metadata: value,
	facts: [{ label: 'took', value: { kind: 'duration', seconds: 0.5 }, note: 'x' }],
	source: { file: '/w/src/a.js', line: 3, column: 0, label: 'src/a.js:4' },
	now: 0,
};

test('value nodes', () => {
	assert.ok(isValueNode(value));
	assert.ok(isValueNode({ t: 'text', type: 'string', text: '"x', fullLength: 10, path: ['s'] }));
	assert.ok(!isValueNode({ t: 'html', html: '<b>' }));
	assert.ok(!isValueNode({ t: 'tree', type: 'object', size: 1, path: [-1], entries: [] }));
	assert.ok(!isValueNode({ t: 'tree', type: 'object', size: 1, path: [], entries: [{ key: 1, value }] }));
});

test('states and messages to the webview', () => {
	assert.ok(isDetailsState(state));
	assert.ok(!isDetailsState({ ...state, version: protocolVersion - 1 }));
	assert.ok(isDetailsState({ ...state, source: null }));
	assert.ok(!isDetailsState({ ...state, source: { file: '/w/a.js', line: -1, column: 0, label: 'a' } }));
	assert.ok(!isDetailsState({ ...state, facts: [{ label: 'took', value: '1 s' }] }), 'facts carry typed values');
	assert.ok(!isDetailsState({ ...state, facts: [{ label: 'when', value: { kind: 'date', seconds: 'yesterday' } }] }));
	assert.ok(!isDetailsState({ ...state, facts: [{ label: 'x', value: { kind: 'html', html: '<b>' } }] }));
	assert.ok(isValueNode({ t: 'text', type: 'number', text: '1.5', display: { kind: 'duration', seconds: 1.5 } }));
	assert.ok(!isValueNode({ t: 'text', type: 'number', text: '1.5', display: { kind: 'duration' } }));
	assert.ok(!isDetailsState({ ...state, result: { ok: false } }));
	assert.ok(isDetailsState({ ...state, result: { ok: false, error: 'x' } }));
	assert.ok(toWebview.isState({ type: 'state', state }));
	assert.ok(!toWebview.isState({ type: 'state', state: {} }));
	assert.ok(toWebview.isMore({ type: 'more', requestId: 1, section: 'result', path: [0, 'a'], offset: 0, node: value }));
	assert.ok(!toWebview.isMore({ type: 'more', requestId: 1, section: 'body', path: [], offset: 0, node: value }));
	assert.ok(toWebview.isError({ type: 'error', message: 'gone' }));
});

test('messages from the webview', () => {
	assert.ok(fromWebview.isReady({ type: 'ready' }));
	assert.ok(fromWebview.isLoadMore({ type: 'loadMore', requestId: 3, section: 'arguments', path: ['x', 2], offset: 100 }));
	assert.ok(!fromWebview.isLoadMore({ type: 'loadMore', requestId: 3, section: 'arguments', path: ['x'], offset: -1 }));
	assert.ok(!fromWebview.isLoadMore({ type: 'loadMore', requestId: '3', section: 'arguments', path: [], offset: 0 }));
	assert.ok(fromWebview.isAction({ type: 'action', action: 'rerun', key: 'ab' }));
	assert.ok(fromWebview.isAction({ type: 'action', action: 'refresh' }));
	assert.ok(!fromWebview.isAction({ type: 'action', action: 'eval', key: 'x' }));
	assert.ok(!fromWebview.isAction(null));
	assert.ok(fromWebview.isOpenSource({ type: 'openSource', file: '/w/src/a.js', line: 3, column: 2 }));
	assert.ok(!fromWebview.isOpenSource({ type: 'openSource', file: '/w/src/a.js', line: 1.5, column: 0 }));
	assert.ok(!fromWebview.isOpenSource({ type: 'openSource', file: 7, line: 1, column: 0 }));
});
