// Hearing another machine's writes to a PostgreSQL team store (docs/behaviour.md §19, "Hearing other machines'
// writes"): fleche/inspect's `watch()` on a PostgreSQL cache fires when another process writes (LISTEN/NOTIFY on the
// schema's channel, no folder involved), keeps quiet for other schemas, fires again after the server restarted, and
// `unreachable()` tells an outage (URL without its password) apart from an empty store. Real server, real processes.
import assert from 'node:assert/strict';
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
			assert.equal(seen.length, 0, 'nothing written yet');

			await writeElsewhere('notify_a', 'first');
			await waitFor('the watcher to hear the other process', () => seen.includes(6));
			// The other schema's watcher heard nothing: its channel is its own. Its store is empty to prove it.
			assert.equal(otherFired, 0);
			assert.equal(other.totals().calls, 0);

			// The server restarts: the listening connection is lost (subscribers are told, and see the outage), opened
			// again with a back-off, and the subscribers are told once it is back.
			const beforeStop = seen.length;
			await server.stop();
			await waitFor('the watcher to be told the connection was lost', () => seen.length > beforeStop);
			const down = watched.unreachable();
			assert.ok(down !== undefined, 'an outage is told apart from an empty store');
			assert.match(down, /postgres:\/\/postgres@127\.0\.0\.1/);
			assert.ok(!down.includes(password) && !down.includes(encodeURIComponent(password)), 'the password never shows');
			await server.start();
			await until('both listening connections again', async () => (await listening()) === 2);
			await waitFor('the store to answer again', () => watched.unreachable() === undefined);

			// The other watcher was told once of the loss and once of the return; the return is told after LISTEN, which
			// can come after its connection shows as listening: wait for it before counting.
			await waitFor('the other watcher to be told its connection is back', () => otherFired >= 2);
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
			await writeElsewhere('notify_c', 'x', 2);
			await waitFor('the write to be heard', () => fired > 0);
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
