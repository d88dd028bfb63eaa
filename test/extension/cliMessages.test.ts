// extension/src/model/cliMessages.ts: the CLI's JSON lines (types from `fleche/protocol`, runtime/src/cli/protocol.ts) as the extension reads them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { importedFiles, parseCliLine, rerunRanText, rerunSummary } from '../../extension/src/model/cliMessages.ts';

test('protocol lines parse; other output is not a message', () => {
	assert.deepEqual(parseCliLine('{"v":1,"type":"progress","done":1,"total":3}'), { v: 1, type: 'progress', done: 1, total: 3 });
	assert.deepEqual(parseCliLine('{"v":1,"type":"rerun","key":"ab","ok":false,"error":"boom"}'), { v: 1, type: 'rerun', key: 'ab', ok: false, error: 'boom' });
	// Every field of the runtime's protocol survives (the hand copy this replaced had lost `newKey`).
	assert.deepEqual(parseCliLine('{"v":1,"type":"rerun","key":"ab","ok":true,"newKey":"cd"}'), { v: 1, type: 'rerun', key: 'ab', ok: true, newKey: 'cd' });
	assert.deepEqual(parseCliLine('{"v":1,"type":"error","message":"no","error":"KeyError"}'), { v: 1, type: 'error', message: 'no', error: 'KeyError' });
	assert.equal(parseCliLine('{"v":1,"type":"rerun","key":"ab","ok":true,"newKey":5}')?.type, 'other');
	assert.deepEqual(parseCliLine('{"v":1,"type":"done","ok":2,"failed":1}\r'), { v: 1, type: 'done', ok: 2, failed: 1 });
	assert.deepEqual(parseCliLine('{"v":1,"type":"error","message":"no"}'), { v: 1, type: 'error', message: 'no' });
	assert.equal(parseCliLine('hello from user code'), undefined);
	assert.equal(parseCliLine('{"v":2,"type":"done"}'), undefined);
	assert.equal(parseCliLine('{not json'), undefined);
	// A newer message type is kept whole, so explain's payload can be read.
	const other = parseCliLine('{"v":1,"type":"explain","explanation":{"message":"m"}}');
	assert.equal(other?.type, 'other');
	// Malformed known types become `other` rather than half-typed messages.
	assert.equal(parseCliLine('{"v":1,"type":"progress","done":"x"}')?.type, 'other');
});

test('rerun summaries', () => {
	const lines = [
		'{"v":1,"type":"progress","done":0,"total":2}',
		'{"v":1,"type":"rerun","key":"aaaaaaaaaaaaaaaa","ok":true}',
		'{"v":1,"type":"rerun","key":"bbbbbbbbbbbbbbbb","ok":false,"error":"TypeError: x"}',
		'{"v":1,"type":"done","ok":1,"failed":1}',
	].map((l) => parseCliLine(l)!);
	assert.deepEqual(rerunSummary(lines, false), { ok: false, text: 'Rerun: 1 succeeded, 1 failed', failures: ['bbbbbbbbbbbb: TypeError: x'] });
	assert.deepEqual(rerunSummary(lines.slice(0, 2), false), { ok: true, text: 'Reran 1 call', failures: [] });
	assert.equal(rerunSummary(lines.slice(0, 2), true).text, 'Rerun cancelled after 1 call');
	assert.deepEqual(rerunSummary([parseCliLine('{"v":1,"type":"error","message":"No cached call abc"}')!], false), {
		ok: false,
		text: 'Rerun failed: No cached call abc',
		failures: [],
	});
});

test('what a rerun ran: the imported files, named once each, in the outcome', () => {
	const messages = [
		'{"v":1,"type":"module","module":"src/a.ts","file":"/p/src/a.ts","project":"/p"}',
		'{"v":1,"type":"rerun","key":"aaaaaaaaaaaaaaaa","ok":true}',
		'{"v":1,"type":"module","module":"src/b.ts","file":"/p/src/b.ts","project":"/p"}',
		'{"v":1,"type":"module","module":"src/a.ts","file":"/p/src/a.ts","project":"/p"}',
		'{"v":1,"type":"module","module":"src/c.ts","file":7}',
	].map((l) => parseCliLine(l)!);
	assert.deepEqual(importedFiles(messages), ['/p/src/a.ts', '/p/src/b.ts']);
	assert.equal(
		rerunRanText('Reran 1 call', ['/p/src/a.ts']),
		'Reran 1 call. Imported /p/src/a.ts: top-level code there ran too, unless guarded with isRerun().',
	);
	assert.equal(rerunRanText('Reran 0 calls', []), 'Reran 0 calls');
});
