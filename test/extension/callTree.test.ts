// extension/src/model/callTree.ts: the rows of the Fleche view from inspect snapshots.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandIds, treeContext } from '../../extension/src/constants.ts';
import {
	callNodes,
	callStates,
	cacheId,
	cacheNodes,
	errorNode,
	functionNodes,
	inFlightByKey,
	viewNode,
	type CallInfo,
	type CacheInfo,
	type FunctionInfo,
	type InFlightInfo,
} from '../../extension/src/model/callTree.ts';
import { markdownCode } from '../../extension/src/model/format.ts';
import { arrangeFunctions, defaultTreeView, definitionGlob } from '../../extension/src/model/treeView.ts';

const now = 1_800_000_000;
const defaultCache: CacheInfo = { name: 'default', root: '/w/.fleche', kind: 'file', source: null, exists: true };
const team: CacheInfo = { name: 'team', root: '/shared/team', kind: 'sql', source: '/w/fleche.toml', exists: true };

const fn = (over: Partial<FunctionInfo> = {}): FunctionInfo => ({
	module: 'src/math.ts',
	name: 'add',
	calls: 5,
	hits: 12,
	misses: 3,
	lastHit: now - 120,
	computeSeconds: 3.5,
	savedSeconds: 10,
	versions: [null],
	...over,
});

const call = (i: number, over: Partial<CallInfo> = {}): CallInfo => ({
	module: 'src/math.ts',
	name: 'add',
	key: i.toString(16).padStart(64, '0'),
	version: null,
	args: { a: String(i), b: "'x'" },
	argsText: `a=${i}, b='x'`,
	created: now - 3600,
	duration: 0.25,
	size: 2048,
	hits: 1,
	misses: 0,
	lastHit: null,
	codeDigest: 'c0de',
	resultText: `${i + 1}`,
	damaged: null,
	...over,
});

test('cache rows: the default store reads .fleche, declared ones their section name; expanded', () => {
	const rows = cacheNodes([
		{ cache: defaultCache, folder: 'w', totals: { calls: 5, functions: 2 } },
		{ cache: team, folder: 'w', totals: null },
	]);
	assert.deepEqual(
		rows.map((r) => [r.label, r.description, r.contextValue, r.expanded]),
		[
			['.fleche', 'file · 2 functions · 5 cached', treeContext.cache, true],
			['team', 'sql', treeContext.cache, true],
		],
	);
	assert.deepEqual(rows[0]!.data, { kind: 'cache', cache: '/w/.fleche', folder: 'w' });
	assert.match(rows[1]!.tooltip!, /declared in \/w\/fleche\.toml/);
	assert.equal(cacheId({ ...team, root: null }), 'team');
});

test('folder names appear only with several workspace folders; unreadable caches are marked', () => {
	const rows = cacheNodes([
		{ cache: defaultCache, folder: 'a', totals: { calls: 1, functions: 1 } },
		{ cache: { ...defaultCache, root: '/b/.fleche' }, folder: 'b', error: 'EACCES' },
	]);
	assert.equal(rows[0]!.description, 'a · file · 1 function · 1 cached');
	assert.equal(rows[1]!.contextValue, `${treeContext.cache}+error`);
	assert.match(rows[1]!.tooltip!, /EACCES/);
	const err = errorNode('x', 'Unexpected token in calls/abc');
	assert.equal(err.contextValue, treeContext.error);
	assert.equal(err.command?.id, commandIds.showLog);
});

test('function rows: the name as label, hits · misses · cached (the module only to tell same names apart), sorted by name', () => {
	const rows = functionNodes('/w/.fleche', [fn({ name: 'zeta', calls: 1, hits: 1, misses: 1 }), fn(), fn({ module: null, name: 'add', calls: 0 })], now);
	assert.deepEqual(
		rows.map((r) => [r.label, r.description, r.collapsible, r.icon]),
		[
			['add', '12 hits · 3 misses · 0 cached', false, 'circle-slash'],
			['add', '12 hits · 3 misses · 5 cached · src/math.ts', true, 'symbol-function'],
			['zeta', '1 hit · 1 miss · 1 cached', true, 'symbol-function'],
		],
	);
	assert.match(rows[0]!.tooltip!, /no cached calls: every call was invalidated; hits and misses are kept/);
	assert.match(rows[2]!.tooltip!, /^src\/math\.ts:zeta\n/, 'the module is in the hover');
	assert.equal(rows[1]!.contextValue, treeContext.function);
	assert.deepEqual(rows[1]!.data, { kind: 'function', cache: '/w/.fleche', module: 'src/math.ts', name: 'add' });
	assert.match(rows[1]!.tooltip!, /hit ratio 80%/);
	assert.match(rows[1]!.tooltip!, /last hit 2 min ago/);
	assert.equal(new Set(rows.map((r) => r.id)).size, 3, 'ids are unique');
	assert.equal(functionNodes('/w/.fleche', [], now)[0]!.label, 'Nothing cached yet');
});

test('call rows: argument summary, result preview · hits · age, the whole call in the hover, click shows details', () => {
	const [row] = callNodes('/w/.fleche', { module: 'src/math.ts', name: 'add' }, { total: 1, offset: 0, calls: [call(7)] }, now);
	assert.ok(row);
	assert.equal(row.label, "a=7, b='x'");
	assert.equal(row.description, '→ 8 · 1 hit · 1 h ago');
	assert.match(row.tooltip!, /result 2\.0 KB/);
	// The rich hover: arguments, result, state, duration, hits, age.
	const md = row.markdown!;
	for (const part of [/add\(\n {2}a = 7\n {2}b = 'x'\n\)/, /result:\n\n```\n8\n```/, /\*\*fresh\*\*: stored by the same code/, /took 250 ms/, /1 hit · 0 misses/, /created 1 h ago \(/]) {
		assert.match(md, part);
	}
	assert.equal(row.contextValue, treeContext.call);
	assert.match(row.tooltip!, /^add\(\n {2}a = 7\n {2}b = 'x'\n\)/);
	assert.match(row.tooltip!, /key 0{63}7/);
	assert.deepEqual(row.command, { id: commandIds.showCallDetails, title: 'Show Details', args: [{ key: call(7).key, cache: '/w/.fleche' }] });
	const [noArgs] = callNodes('c', { module: null, name: 'f' }, { total: 1, offset: 0, calls: [call(1, { args: {}, argsText: '' })] }, now);
	assert.equal(noArgs!.label, '()');
});

test('a page of a long list ends with "Load more…", which asks for the next offset', () => {
	const page = Array.from({ length: 200 }, (_, i) => call(i));
	const rows = callNodes('c', { module: 'src/math.ts', name: 'add' }, { total: 100_000, offset: 0, calls: page }, now);
	assert.equal(rows.length, 201);
	const more = rows.at(-1)!;
	assert.equal(more.label, 'Load more…');
	assert.equal(more.description, '200 of 100000 shown');
	assert.equal(more.command?.id, commandIds.loadMoreCalls);
	assert.deepEqual(more.data, { kind: 'more', cache: 'c', module: 'src/math.ts', name: 'add', offset: 200 });
	const last = callNodes('c', { module: 'src/math.ts', name: 'add' }, { total: 250, offset: 200, calls: page.slice(0, 50) }, now);
	assert.equal(last.length, 50, 'no "Load more…" after the last page');
});

test('call labels fit a default-width sidebar: long argument lists are cut, the whole call is in the hover', () => {
	const long = call(3, { argsText: `rows=${'x'.repeat(200)}` });
	const [row] = callNodes('c', { module: 'src/math.ts', name: 'add' }, { total: 1, offset: 0, calls: [long] }, now);
	assert.ok(row!.label.length <= 28, row!.label);
	assert.ok(row!.label.endsWith('…'));
	assert.match(row!.markdown!, /a = 3/);
});

test('call states: stale (other version or code than the newest call), damaged, running (its lease is held), fresh; most urgent first', () => {
	const calls = [
		call(1, { version: '1.0', created: now - 7200 }),
		call(2, { version: '2.0', created: now - 60 }),
		call(3, { version: '2.0', created: now - 600 }),
		call(4, { version: '2.0', created: now - 900, codeDigest: 'old0' }),
		call(5, { version: '2.0', created: now - 950, damaged: 'its result value 0123456789ab… is missing', resultText: null }),
		call(6, { version: '1.0', created: now - 990 }),
	];
	const running = inFlightByKey([{ key: calls[5]!.key, since: (now - 75) * 1000, state: 'computing', where: 'host:42' }]);
	const rows = callNodes('c', { module: 'src/math.ts', name: 'add' }, { total: 6, offset: 0, calls }, now, running);
	assert.deepEqual(
		rows.map((r) => [r.icon, r.iconColor, r.contextValue]),
		[
			['history', callStates.stale.color, `${treeContext.call}+stale`],
			['pass', callStates.fresh.color, treeContext.call],
			['pass', callStates.fresh.color, treeContext.call],
			['history', callStates.stale.color, `${treeContext.call}+stale`],
			['error', callStates.damaged.color, `${treeContext.call}+damaged`],
			['sync~spin', callStates.running.color, `${treeContext.call}+running`],
		],
	);
	assert.match(rows[0]!.markdown!, /\*\*stale\*\*: stored by other code or another version than the function's newest call/);
	assert.equal(rows[4]!.description, 'damaged · 1 hit · 16 min ago');
	assert.match(rows[4]!.markdown!, /\*\*damaged\*\*: cannot be a hit:\n\n```\nits result value 0123456789ab… is missing\n```/);
	assert.match(rows[5]!.markdown!, /\*\*running\*\*: in flight: computing in a process \(it holds its lease\), queued, or running on a worker\n\n```\ncomputing in host:42 for 1 min 15 s\n```/);
	assert.equal(rows[5]!.description, 'computing in host:42 for 1 min 15 s · → 7 · 1 hit · 17 min ago', 'where and for how long, first');
	// The menus that act on calls still match rows in every state.
	for (const row of rows) assert.match(row.contextValue, /^fleche:call\b/);
});

test('result previews: one escaped line, never a raw control character; a result too large to preview shows its size', () => {
	const hostile = call(8, { resultText: "'a\nb\u001b[31mred\u202eevil'", argsText: "s='\u0007bell'" });
	const big = call(9, { resultText: null, size: 3 * 1024 * 1024 });
	const [h, b] = callNodes('c', { module: 'src/math.ts', name: 'add' }, { total: 2, offset: 0, calls: [hostile, big] }, now);
	// eslint-disable-next-line no-control-regex -- finding control characters is the point
	for (const text of [h!.label, h!.description!]) assert.doesNotMatch(text, /[\u0000-\u001f\u007f-\u009f\u202e]/);
	assert.equal(h!.description, "→ 'a b\\u{1b}[31mred\\u{202… · 1 hit · 1 h ago");
	assert.equal(h!.label, "s='\\u{7}bell'");
	assert.equal(b!.description, '→ 3.0 MB · 1 hit · 1 h ago');
	assert.match(b!.markdown!, /not read for the list: open the call to see it/);
});

test('cache rows count the calls being computed now', () => {
	const [row] = cacheNodes([{ cache: defaultCache, folder: 'w', totals: { calls: 5, functions: 2 }, running: 2 }]);
	assert.equal(row!.description, 'file · 2 functions · 5 cached · 2 running');
	assert.match(row!.tooltip!, /2 calls being computed now/);
});

test('hovers carry store contents only inside code fences that the contents cannot close', () => {
	const hostile = call(4, { args: { a: '```\n[run](command:fleche.clearCache) <img src=x onerror=alert(1)>' }, argsText: 'a=…' });
	const [row] = callNodes('c', { module: 'src/math.ts', name: 'add' }, { total: 1, offset: 0, calls: [hostile] }, now);
	const md = row!.markdown!;
	const fence = md.match(/^(`{3,})ts$/m)?.[1];
	assert.ok(fence && fence.length >= 4, `the fence outgrows the three backticks inside: ${md}`);
	// Outside the fences there is nothing of the argument.
	const outside = md.split(fence).filter((_, i) => i % 2 === 0).join('');
	assert.doesNotMatch(outside, /command:|<img/);
	assert.equal(markdownCode('plain'), '```\nplain\n```');
	assert.equal(markdownCode('a ```` b', 'ts'), '`````ts\na ```` b\n`````');
});

test('filter and sort: name or module contains the text (any case); orders by hits, calls, recency, saved time, name', () => {
	const fns = [
		fn({ name: 'add', hits: 5, calls: 9, lastHit: now - 50, savedSeconds: 1 }),
		fn({ name: 'area', module: 'src/shapes.ts', hits: 20, calls: 1, lastHit: null, savedSeconds: 30 }),
		fn({ name: 'greet', module: 'src/text.ts', hits: 0, calls: 4, lastHit: now - 5, savedSeconds: 0 }),
	];
	const names = (view: Parameters<typeof arrangeFunctions>[1]): string[] => arrangeFunctions(fns, view).map((f) => f.name);
	assert.deepEqual(names(defaultTreeView), ['add', 'area', 'greet']);
	assert.deepEqual(names({ filter: 'A', sort: 'name' }), ['add', 'area']);
	assert.deepEqual(names({ filter: 'shapes', sort: 'name' }), ['area']);
	assert.deepEqual(names({ filter: '', sort: 'hits' }), ['area', 'add', 'greet']);
	assert.deepEqual(names({ filter: '', sort: 'calls' }), ['add', 'greet', 'area']);
	assert.deepEqual(names({ filter: '', sort: 'recent' }), ['greet', 'add', 'area']);
	assert.deepEqual(names({ filter: '', sort: 'saved' }), ['area', 'add', 'greet']);
	assert.deepEqual(fns.map((f) => f.name), ['add', 'area', 'greet'], 'the input is not reordered');

	const rows = functionNodes('c', fns, now, { filter: 'zzz', sort: 'name' });
	assert.deepEqual(rows.map((r) => [r.label, r.contextValue]), [['No function matches "zzz"', treeContext.empty]]);
	assert.match(rows[0]!.tooltip!, /3 functions hidden/);
	assert.equal(viewNode('c', defaultTreeView, 3, 3), undefined, 'no header row when nothing narrows the view');
	const header = viewNode('c', { filter: 'a', sort: 'hits' }, 2, 3)!;
	assert.equal(header.label, 'Filter "a" · sorted by most hits');
	assert.equal(header.description, '2 of 3 functions');
});

test('definitionGlob: a module path matched literally under any folder; none for a module-less identity', () => {
	assert.equal(definitionGlob('src/math.ts'), '**/src/math.ts');
	assert.equal(definitionGlob('src/[id]/page{1}.ts'), '**/src/[[]id[]]/page[{]1[}].ts');
	assert.equal(definitionGlob('src\\win.ts'), '**/src/win.ts');
	assert.equal(definitionGlob(null), undefined);
});

test('calls in flight on a queue: a new call of the function gets a running or queued row with where and for how long; the function row counts them', () => {
	const addRef = { module: 'src/math.ts', name: 'add' };
	const flights: InFlightInfo[] = [
		{ key: 'a'.repeat(64), since: (now - 12) * 1000, state: 'running', where: 'vm:1234', fn: addRef, queue: 'q at redis://h:6379' },
		{ key: 'b'.repeat(64), since: (now - 3) * 1000, state: 'queued', where: 'queue q at redis://h:6379', fn: addRef, queue: 'q at redis://h:6379' },
		// Another function's job, and a lease of a call never stored (no function known): not under `add`.
		{ key: 'c'.repeat(64), since: null, state: 'queued', fn: { module: 'src/math.ts', name: 'mul' }, queue: 'q at redis://h:6379' },
		{ key: 'd'.repeat(64), since: null, state: 'computing', where: 'vm:9' },
	];
	const rows = callNodes('c', addRef, { total: 1, offset: 0, calls: [call(1)] }, now, inFlightByKey(flights));
	assert.deepEqual(
		rows.map((r) => [r.label, r.description, r.icon, r.contextValue]),
		[
			['running', 'running on vm:1234 for 12 s', 'sync~spin', treeContext.empty],
			['queued', 'queued in q at redis://h:6379 for 3.0 s', 'sync~spin', treeContext.empty],
			["a=1, b='x'", '→ 2 · 1 hit · 1 h ago', 'pass', treeContext.call],
		],
	);
	const fns = functionNodes('c', [fn()], now, defaultTreeView, flights);
	assert.deepEqual(
		fns.map((r) => [r.label, r.description, r.icon, r.collapsible]),
		[
			['add', '12 hits · 3 misses · 5 cached · 2 running', 'symbol-function', true],
			// Nothing stored yet, but a job in flight: a row to expand, with a running icon.
			['mul', '0 hits · 0 misses · 0 cached · 1 running', 'sync~spin', true],
		],
	);
});
