// extension/src/model/explainText.ts: Explain Miss as a whole Markdown document, saying what had to run to compute it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Explanation } from 'fleche/inspect';
import { explanationMarkdown } from '../../extension/src/model/explainText.ts';

const miss: Explanation = {
	hit: false,
	key: 'f'.repeat(64),
	keyedBy: 'store',
	nearest: null,
	differences: [
		{ field: 'argument', name: 'x', cached: '5', now: '7' },
		{ field: 'version', cached: '1', now: '2' },
		{ field: 'argument', name: 'q', cached: 'a|b `c`', now: 'line\nbreak' },
	],
	message: 'Miss: nearest cached call 3f2a9c… differs in argument x: cached 5, now 7; and a sentence long enough that a toast would have cut it off.',
};

test('the whole message, every difference as a table row, and the key', () => {
	const md = explanationMarkdown('src/work.js:double', '{"x":7}', miss, { via: 'cli' });
	assert.ok(md.includes(miss.message), 'the message is whole');
	assert.match(md, /^# Explain: `src\/work\.js:double`$/m);
	assert.match(md, /^\*\*Miss\.\*\* /m);
	assert.match(md, /^\| argument `x` \| `5` \| `7` \|$/m);
	assert.match(md, /^\| version \| `1` \| `2` \|$/m);
	// Pipes are escaped and backticks cannot close the code span; a line break does not split the row.
	assert.match(md, /^\| argument `q` \| `` a\\\|b `c` `` \| `line break` \|$/m);
	assert.match(md, new RegExp(`Key: \`${'f'.repeat(64)}\``));
});

test('it says what ran: nothing (from the store), or the imported file whose top-level code ran', () => {
	assert.match(explanationMarkdown('f', '{}', miss, { via: 'cli' }), /nothing was imported or run/);
	const imported = explanationMarkdown('f', '[7]', { ...miss, keyedBy: 'function' }, { via: 'cli', imported: '/p/src/work.js' });
	assert.match(imported, /imported `\/p\/src\/work\.js`: importing a module runs its top-level code too/);
	assert.match(explanationMarkdown('f', '{}', { ...miss, key: null, keyedBy: null }, { via: 'store' }), /the CLI could not run/);
	assert.doesNotMatch(explanationMarkdown('f', '{}', { ...miss, key: null, keyedBy: null }, { via: 'store' }), /Key:/);
});

test("hashCode 'deep': the file or package that changed is named in its row; code read from files is said", () => {
	const deep: Explanation = {
		...miss,
		codeFromFiles: true,
		differences: [
			{ field: 'file', name: 'src/util.ts', cached: '0123456789abcdef', now: 'fedcba9876543210' },
			{ field: 'package', name: 'lodash', cached: '4.17.20', now: '4.17.21' },
		],
	};
	const md = explanationMarkdown('src/job.ts:job', '{"n":1}', deep, { via: 'cli' });
	assert.match(md, /^\| file `src\/util\.ts` \| `0123456789abcdef` \| `fedcba9876543210` \|$/m);
	assert.match(md, /^\| package `lodash` \| `4\.17\.20` \| `4\.17\.21` \|$/m);
	assert.match(md, /the code from its files as they read now/);
});
