// Hearing another machine's writes to a PostgreSQL team store (docs/behaviour.md §19, "Hearing other machines'
// writes"): fleche/inspect's `watch()` on a PostgreSQL cache fires when another process writes (LISTEN/NOTIFY on the
// schema's channel, no folder involved), keeps quiet for other schemas, fires again after the server restarted, and
// `unreachable()` tells an outage (URL without its password) apart from an empty store. Real server, real processes.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Cache, CallPostgres, FlecheError, ValuePostgres } from 'fleche';
import { openStore, type Store } from 'fleche/inspect';
import { captureLogs } from '../support/logs.js';
import { waitFor } from '../support/poll.js';
import { startPostgresDatabase, type PostgresServer } from '../support/servers.js';
import { runNode } from '../support/tmp.js';

const writer = fileURLToPath(new URL('../fixtures/pgWriter.js', import.meta.url));
const password = 'notify-pw/with:odd@chars';
captureLogs();

let server: PostgresServer;
let url: string;
let db: string;

before(async () => {
	({ server, url, db } = await startPostgresDatabase({ password }));
});
after(async () => {
	await server?.close();
});

function storeOf(schema: string, withUrl = url, timeoutMs = 2000): Store {
	const options = { url: withUrl, schema, timeoutMs };
	const config = new Cache(new ValuePostgres(options), new CallPostgres(options)).toConfig();
	return openStore({ name: 'team', root: null, kind: 'postgres', source: null, exists: true, readOnly: false, config });
}

/** Writes `count` calls (and their statistics, flushed at exit) from a process of its own. */
async function writeElsewhere(schema: string, id: string, count = 3): Promise<void> {
	const run = await runNode(writer, ['write', url, schema, id, String(count), '1'], { execArgv: [], timeoutMs: 60_000 });
	assert.equal(run.code, 0, run.stderr);
}

/** Resolves once the asynchronous `predicate` holds (asked every 50 ms), under the poll ceiling. */
async function until(what: string, predicate: () => Promise<boolean>): Promise<void> {
	let held = false;
	const asking = async (): Promise<void> => {
		while (!held) {
			held = await predicate();
			if (!held) await new Promise((r) => setTimeout(r, 50));
		}
	};
	const asked = asking();
	await waitFor(what, () => held);
	await asked;
}

/** Listening connections of this test's watchers, as the server sees them. */
async function listening(): Promise<number> {
	return Number((await server.psql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fleche watch'`, db)).trim());
}

describe('PostgreSQL change notifications', () => {
	it('a watcher fires when another process writes, not for another schema, and again after the server restarted', async () => {
		const watched = storeOf('notify_a');
		const other = storeOf('notify_b');
		// Both schemas exist before anyone listens (a first use creates them).
		assert.deepEqual(watched.functions(), []);
		assert.deepEqual(other.functions(), []);
		// What each notification found: a fire heard after a write's commit sees its calls.
		const seen: number[] = [];
		let otherFired = 0;
		const watch = watched.watch(() => seen.push(watched.totals().calls), { debounceMs: 50 });
		const otherWatch = other.watch(() => otherFired++, { debounceMs: 50 });
		try {
			await until('both listening connections', async () => (await listening()) === 2);
			// Each is told once its connection listens (a write between a listing and LISTEN would not have been heard),
			// and nothing more: nothing is written yet.
			await waitFor('each watcher to be told once it listens', () => seen.length === 1 && otherFired === 1);
			assert.deepEqual(seen, [0], 'the store was empty when the watcher was told');

			await writeElsewhere('notify_a', 'first');
			await waitFor('the watcher to hear the other process', () => seen.includes(6));
			// The other schema's watcher heard nothing more: its channel is its own. Its store is empty to prove it.
			assert.equal(otherFired, 1);
			assert.equal(other.totals().calls, 0);

			// The server restarts: the listening connection is lost (subscribers are told, and see the outage), opened
			// again with a back-off, and the subscribers are told once it is back.
			const beforeStop = seen.length;
			await server.stop();
			await waitFor('the watcher to be told the connection was lost', () => seen.length > beforeStop);
			// And once more when its first try to connect again failed: a look taken at the moment of the loss may still
			// have reached the server through another connection; this one sees the outage.
			await waitFor('the watcher to be told again once reconnecting failed', () => seen.length > beforeStop + 1);
			await waitFor('the other watcher to be told of the loss and the failed reconnection', () => otherFired >= 3);
			const down = watched.unreachable();
			assert.ok(down !== undefined, 'an outage is told apart from an empty store');
			assert.match(down, /postgres:\/\/postgres@127\.0\.0\.1/);
			assert.ok(!down.includes(password) && !down.includes(encodeURIComponent(password)), 'the password never shows');
			await server.start();
			await until('both listening connections again', async () => (await listening()) === 2);
			await waitFor('the store to answer again', () => watched.unreachable() === undefined);

			// The other watcher was told of the loss, of the failed reconnection and of the return; the return is told
			// after LISTEN, which can come after its connection shows as listening: wait for it before counting.
			await waitFor('the other watcher to be told its connection is back', () => otherFired >= 4);
			const otherAfterRestart = otherFired;
			await writeElsewhere('notify_a', 'second');
			// Three more calls (the shared ones were stored already): only a fire after the write's commit sees 9.
			await waitFor('the watcher to hear a write after the restart', () => seen.includes(9));
			assert.equal(otherFired, otherAfterRestart, 'the other schema heard no write after the restart either');
		} finally {
			watch.dispose();
			otherWatch.dispose();
			watched.close();
			other.close();
		}
		await until('the listening connections to close with the watchers', async () => (await listening()) === 0);
	});

	it('evictions and statistics flushes notify too', async () => {
		const watched = storeOf('notify_c');
		assert.deepEqual(watched.functions(), []);
		let fired = 0;
		const watch = watched.watch(() => fired++, { debounceMs: 50 });
		try {
			await until('the listening connection', async () => (await listening()) === 1);
			await waitFor('the watcher to be told once it listens', () => fired === 1);
			await writeElsewhere('notify_c', 'x', 2);
			await waitFor('the write to be heard', () => fired > 1);
			// The same calls again from another process: only hits, whose statistics flush at exit.
			const beforeHits = fired;
			const hitsBefore = watched.totals().hits;
			await writeElsewhere('notify_c', 'x', 2);
			await waitFor('the statistics flush to be heard', () => fired > beforeHits);
			assert.equal(watched.totals().hits, hitsBefore + 4);
			// An eviction by another process (the CLI, as the editor's invalidate would through the store).
			const beforeEvict = fired;
			const evictor = storeOf('notify_c');
			try {
				const [label] = evictor.functions();
				assert.ok(label !== undefined);
				assert.equal(evictor.evictFunction(label), 4);
			} finally {
				evictor.close();
			}
			await waitFor('the eviction to be heard', () => fired > beforeEvict);
			assert.equal(watched.totals().calls, 0);
		} finally {
			watch.dispose();
			watched.close();
		}
	});

	it('a watcher whose first connection fails is told so, and again once the server is back', async () => {
		// The editor lists a store, then its listener connects: a server gone in between must not leave that listing
		// shown as current until someone refreshes (the outage is told when the first try fails, not only after a loss).
		const watched = storeOf('notify_first');
		assert.deepEqual(watched.functions(), [], 'listed while the server answers');
		await server.stop();
		let fired = 0;
		let sawOutage = false;
		const watch = watched.watch(
			() => {
				fired++;
				if (watched.unreachable() !== undefined) sawOutage = true;
			},
			{ debounceMs: 50 },
		);
		try {
			await waitFor('the watcher to be told its first try failed', () => fired >= 1);
			assert.ok(sawOutage, 'the look it was told to take saw the outage');
			const beforeStart = fired;
			await server.start();
			await until('the listening connection', async () => (await listening()) === 1);
			await waitFor('the watcher to be told the server is back', () => fired > beforeStart);
			await waitFor('the store to answer again', () => watched.unreachable() === undefined);
		} finally {
			watch.dispose();
			watched.close();
			await server.start();
		}
	});

	it('a refused configuration is an error from unreachable(), never a silent empty store', () => {
		const wrong = new URL(url);
		wrong.password = encodeURIComponent('not-the-password');
		const store = storeOf('notify_d', wrong.toString());
		try {
			assert.throws(
				() => store.unreachable(),
				(err: unknown) =>
					FlecheError.is(err) && /postgres:\/\/postgres@127\.0\.0\.1/.test((err as Error).message) && !(err as Error).message.includes('not-the-password'),
			);
		} finally {
			store.close();
		}
	});
});

describe('loading pg', () => {
	// pg asks whether it runs in a Cloudflare Worker when it loads; without a `navigator` (Node 20) it builds a
	// `Response`, loading undici with http, http2 and zlib: 30–40 ms of every store's start. loadPg (connect.ts) lends
	// it Node's own `navigator` for the load and takes it back.
	it('a watcher and a store load pg without loading undici, and leave the globals as they were', async () => {
		const run = await runNode(writer, ['loads', url, 'loads'], { execArgv: [], timeoutMs: 60_000 });
		assert.equal(run.code, 0, run.stderr);
		const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { navigatorBefore: string; navigator: string; pgHere: boolean; undici: boolean };
		assert.deepEqual(report, { navigatorBefore: report.navigatorBefore, navigator: report.navigatorBefore, pgHere: true, undici: false });
	});
});

describe('PostgreSQL caches named by URL, and servers that never answer', () => {
	it('a URL with ?schema=name opens that schema, shown with the parameter and without the password', async () => {
		await writeElsewhere('url_schema', 'u', 2);
		const named = new URL(url);
		named.searchParams.set('schema', 'url_schema');
		const store = openStore(named.toString());
		const plain = openStore(url);
		try {
			assert.equal(store.totals().calls, 4, 'the calls written in schema url_schema');
			assert.ok(store.location.name.endsWith('?schema=url_schema'), store.location.name);
			assert.ok(!store.location.name.includes(encodeURIComponent(password)) && !store.location.name.includes(password));
			// The same server without the parameter is the default schema, which holds none of them.
			assert.ok(!plain.location.name.includes('schema='));
			assert.equal(plain.totals().calls, 0, 'the default schema is another store (no test writes there)');
			// The name the tree shows is itself a URL a tool accepts (reruns pass it back as --cache).
			const again = openStore(store.location.name);
			try {
				assert.equal(again.totals().calls, 4);
			} finally {
				again.close();
			}
		} finally {
			store.close();
			plain.close();
		}
	});

	it('a schema parameter that is not a plain name, or given twice, is refused with a clear error', () => {
		const bad = new URL(url);
		bad.searchParams.set('schema', 'x; DROP TABLE y');
		assert.throws(() => openStore(bad.toString()), /Cannot use postgres:\/\/.* as a cache: A PostgreSQL schema name is letters/);
		const twice = new URL(url);
		twice.searchParams.append('schema', 'a');
		twice.searchParams.append('schema', 'b');
		assert.throws(() => openStore(twice.toString()), /2 schemas/);
	});

	it('a host that accepts the connection and never answers is unreachable within timeout_ms, and reads stay empty', { timeout: 120_000 }, async () => {
		// A TCP listener that takes connections and says nothing: a server hung, or a firewall holding the connection.
		const held: Socket[] = [];
		const silent = createServer((socket) => held.push(socket));
		await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
		const { port } = silent.address() as { port: number };
		const store = storeOf('silent', `postgres://someone:secret-pw@127.0.0.1:${port}/nothing`, 500);
		try {
			const reason = store.unreachable();
			assert.ok(reason !== undefined, 'a silent server is an outage, not an empty store');
			assert.match(reason, new RegExp(`127\\.0\\.0\\.1:${port}`));
			assert.ok(!reason.includes('secret-pw'), reason);
			// The listing answers (empty) rather than waiting on the server; the listener did take a connection.
			assert.deepEqual(store.functions(), []);
			// The store's thread waited on the listener while this one was blocked: its accept shows once this one yields.
			await waitFor('the silent listener to have been reached', () => held.length >= 1);
		} finally {
			store.close();
			for (const socket of held) socket.destroy();
			await new Promise((r) => silent.close(r));
		}
	});
});
