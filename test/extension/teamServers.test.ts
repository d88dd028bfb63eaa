// extension/src/model/teamServers.ts and the "unreachable" rows of model/callTree.ts: PostgreSQL team caches in the
// Fleche view — their URLs found in a configuration, the user's password put in only for the store worker, which
// failures ask for a password, and nothing shown ever holding one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { treeContext } from '../../extension/src/constants.ts';
import { cacheNodes, unreachableNode, type CacheInfo } from '../../extension/src/model/callTree.ts';
import { asksForPassword, serverUrls, urlWithPassword, withPasswords, withoutPasswords } from '../../extension/src/model/teamServers.ts';

const url = 'postgres://ci@db.internal:5432/results';
const other = 'postgres://ro@replica.internal/results';
const team = {
	type: 'cache',
	values: { type: 'postgres', url, schema: 'proj', serializer: 'json' },
	calls: { type: 'postgres', url, schema: 'proj' },
};

test('serverUrls finds every PostgreSQL URL of a configuration once, nested in stacks and read-only wrappers too', () => {
	assert.deepEqual(serverUrls(team), [url]);
	assert.deepEqual(
		serverUrls({
			type: 'stack',
			caches: [
				{ type: 'readOnly', cache: team },
				{ type: 'cache', values: { type: 'file', root: '/x' }, calls: { type: 'postgres', url: other } },
			],
		}),
		[url, other],
	);
	assert.deepEqual(serverUrls({ type: 'cache', values: { type: 'file', root: '/x' }, calls: { type: 'sql', path: '/x/calls.db' } }), []);
	assert.deepEqual(serverUrls(null), []);
	assert.deepEqual(serverUrls({ type: 'postgres', url: 42 }), [], 'a malformed URL is not one');
});

test('withPasswords puts the given password into the URLs it was given for, and only there, on a copy', () => {
	const password = 'p@ss:w/rd';
	const config = { type: 'stack', caches: [team, { type: 'cache', values: { type: 'postgres', url: other }, calls: { type: 'postgres', url: other } }] };
	const out = withPasswords(config, { [url]: password });
	const expected = `postgres://ci:${encodeURIComponent(password)}@db.internal:5432/results`;
	assert.equal(out.caches[0]!.values.url, expected);
	assert.equal(out.caches[0]!.calls.url, expected);
	assert.equal((out.caches[0]!.values as { serializer?: string }).serializer, 'json', 'the other options stay');
	assert.equal(out.caches[1]!.calls.url, other, 'a server without a given password keeps its URL');
	assert.equal(config.caches[0]!.calls.url, url, 'the configuration given is not changed');
	assert.equal(new URL(expected).password, encodeURIComponent(password));
	assert.equal(decodeURIComponent(new URL(expected).password), password);
	assert.equal(withPasswords(config, {}), config, 'nothing given: the same object');
	assert.equal(urlWithPassword('not a url', 'x'), 'not a url');
});

test('asksForPassword: a missing or refused password, not an outage or another refusal', () => {
	assert.ok(
		asksForPassword(
			`Cannot log in to the PostgreSQL cache ${url}: SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string (give the password in the URL, PGPASSWORD or ~/.pgpass)`,
		),
	);
	assert.ok(asksForPassword(`Cannot use the PostgreSQL cache ${url}: password authentication failed for user "ci"`));
	assert.ok(!asksForPassword(`The PostgreSQL cache ${url} is unreachable: connect ECONNREFUSED 127.0.0.1:5432`));
	assert.ok(!asksForPassword(`Cannot use the PostgreSQL cache ${url}: database "results" does not exist`));
});

test('withoutPasswords scrubs every given password, as written and URL-encoded', () => {
	const password = 'p@ss:w/rd';
	const text = `failed for postgres://ci:${encodeURIComponent(password)}@db/x; echo ${password}`;
	const out = withoutPasswords(text, [password, '']);
	assert.ok(!out.includes(password) && !out.includes(encodeURIComponent(password)));
	assert.equal(out, 'failed for postgres://ci:***@db/x; echo ***');
});

test('a cache whose server is down is a row "unreachable" with the reason, its child row the reason again', () => {
	const cache: CacheInfo = { name: 'team', root: null, kind: 'postgres', source: '/w/fleche.toml', exists: false };
	const reason = `The PostgreSQL cache ${url} is unreachable: connect ECONNREFUSED 10.0.0.5:5432`;
	const [row] = cacheNodes([{ cache, folder: 'w', unreachable: reason }]);
	assert.equal(row!.label, 'team');
	assert.equal(row!.description, 'postgres · unreachable');
	assert.match(row!.tooltip!, /ECONNREFUSED/);
	assert.equal(row!.contextValue, `${treeContext.cache}+unreachable`);
	assert.deepEqual(row!.data, { kind: 'cache', cache: 'team', folder: 'w' });
	const child = unreachableNode('team', reason);
	assert.equal(child.label, `Unreachable: ${reason}`.slice(0, 119) + '…');
	assert.equal(child.collapsible, false);
	// Listed again: the same cache with counts is an ordinary row.
	const [back] = cacheNodes([{ cache, folder: 'w', totals: { calls: 3, functions: 1 } }]);
	assert.equal(back!.description, 'postgres · 1 function · 3 cached');
	assert.equal(back!.contextValue, treeContext.cache);
});
