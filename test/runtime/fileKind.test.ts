// The `file` storage kind (runtime/src/storage/file/kind.ts) as its users meet it: the options fleche.toml accepts
// and the words of each refusal (file, line and table named), the options reaching the storages that open, and what
// tools read through the kind — where the store is and whether it exists, which folders are watched, a folder
// recognized as a store, value sizes and the dates of undated calls.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { BaseCache, Cache } from 'fleche';
import { cache, CallFile, cacheFromConfig, ConfigError, fleche, FlecheConfig, flushStats, ValueFile } from 'fleche';
import { discoverCaches, openStore, type CacheLocation } from 'fleche/inspect';
import { freshDir } from '../support/stores.ts';
import { waitFor } from '../support/poll.ts';

const file = '/proj/fleche.toml';
// Tools keep their summary index of a file store in the user's cache folder: here, a folder of this test's own.
const indexDir = freshDir('fleche-index-');
process.env['FLECHE_INDEX_DIR'] = indexDir;

function configOf(text: string): unknown {
	return FlecheConfig.fromToml(text, { file, home: '/home/u' }).cacheConfig('a');
}

/** Asserts that reading cache `a` of `text` is refused with exactly `message`, at `line` of the file. */
function refused(text: string, line: number, message: string): void {
	assert.throws(
		() => configOf(text),
		(err: unknown) => {
			assert.ok(ConfigError.is(err), `expected a ConfigError, got ${String(err)}`);
			assert.equal((err as Error).message, `${file}:${line}: ${message}`);
			return true;
		},
	);
}

/** A saved call with no metadata: tools date it by its call file. */
function saveUndated(c: BaseCache, x: number, result: unknown): string {
	return c.save({ name: 'f', module: 'm.ts', version: null, codeDigest: null, arguments: { x }, result });
}

describe('the file kind in fleche.toml, word for word', () => {
	test('a storage table: its root, and only the keys of its role', () => {
		refused('[a]\nvalues = { type = "file" }\ncalls = "memory"\n', 2, "[a.values] a 'file' storage needs a 'root' folder");
		refused('[a]\nvalues = "memory"\ncalls = { type = "file" }\n', 3, "[a.calls] a 'file' storage needs a 'root' folder");
		// A values storage knows nothing of inline values; a calls storage has no serializer of its own.
		refused(
			'[a]\nvalues = { type = "file", root = "v", inline_values = 1 }\ncalls = "memory"\n',
			2,
			"[a.values] unknown key 'inline_values' in a 'values' storage of type 'file' (allowed: type, root, serializer, compress, secret_key)",
		);
		refused(
			'[a]\nvalues = "memory"\ncalls = { type = "file", root = "c", serializer = "json" }\n',
			3,
			"[a.calls] unknown key 'serializer' in a 'calls' storage of type 'file' (allowed: type, root, secret_key, inline_values)",
		);
		refused(
			'[a]\nvalues = "memory"\ncalls = { type = "file", root = "c", compress = true }\n',
			3,
			"[a.calls] unknown key 'compress' in a 'calls' storage of type 'file' (allowed: type, root, secret_key, inline_values)",
		);
		// What each role accepts is taken, resolved against the file's folder.
		assert.deepEqual(
			configOf(
				'[a]\nvalues = { type = "file", root = "v", serializer = "json", compress = false, secret_key = "00ff" }\ncalls = { type = "file", root = "c", secret_key = ["00ff", "a1b2"], inline_values = 10 }\n',
			),
			{
				type: 'cache',
				values: { type: 'file', root: '/proj/v', serializer: 'json', compress: false, secretKey: ['00ff'] },
				calls: { type: 'file', root: '/proj/c', secretKey: ['00ff', 'a1b2'], inlineValues: 10 },
			},
		);
	});

	test('the template: its root, its keys, and what it passes to each storage', () => {
		refused('[a]\ntemplate = "file"\n', 1, "[a] the 'file' template needs a 'root' folder");
		refused(
			'[a]\ntemplate = "file"\nroot = "r"\npath = "x"\n',
			4,
			"[a] unknown key 'path' in a 'file' template (allowed: template, read_only, max_size, max_bytes, lease, max_age, stale_while_revalidate, queues, root, serializer, compress, secret_key, inline_values, values, calls)",
		);
		// The value options go to the values, the keys to both (records are signed too), inline_values to the calls.
		assert.deepEqual(configOf('[a]\ntemplate = "file"\nroot = "r"\ninline_values = 0\nsecret_key = "00ff"\nserializer = "json"\ncompress = false\n'), {
			type: 'cache',
			values: { type: 'file', root: '/proj/r/values', serializer: 'json', compress: false, secretKey: ['00ff'] },
			calls: { type: 'file', root: '/proj/r/calls', secretKey: ['00ff'], inlineValues: 0 },
		});
		assert.deepEqual(configOf('[a]\ntemplate = "file"\nroot = "r"\n'), {
			type: 'cache',
			values: { type: 'file', root: '/proj/r/values' },
			calls: { type: 'file', root: '/proj/r/calls' },
		});
		// Either storage given as a table of its own replaces the template's.
		assert.deepEqual(configOf('[a]\ntemplate = "file"\nroot = "r"\nvalues = { type = "memory" }\ncalls = { type = "file", root = "c2" }\n'), {
			type: 'cache',
			values: { type: 'memory' },
			calls: { type: 'file', root: '/proj/c2' },
		});
		assert.deepEqual(configOf('[a]\ntemplate = "file"\nroot = "r"\nsecret_key = "00ff"\ncalls = "memory"\n'), {
			type: 'cache',
			values: { type: 'file', root: '/proj/r/values', secretKey: ['00ff'] },
			calls: { type: 'memory' },
		});
		// A storage table inside the template is named as such in its errors.
		refused('[a]\ntemplate = "file"\nroot = "r"\nvalues = { type = "file" }\n', 4, "[a.values] a 'file' storage needs a 'root' folder");
		refused(
			'[a]\ntemplate = "file"\nroot = "r"\ncalls = { type = "file", root = "c", serializer = "json" }\n',
			4,
			"[a.calls] unknown key 'serializer' in a 'calls' storage of type 'file' (allowed: type, root, secret_key, inline_values)",
		);
		// The template's own options are checked as a storage's are, at their line.
		refused(
			'[a]\ntemplate = "file"\nroot = "r"\ninline_values = -1\n',
			4,
			"[a] 'inline_values' must be a whole number of bytes ≥ 0 (0: every value in its own file)",
		);
	});

	test('secret_key: a hex string, several joined by colons, or an array of them', () => {
		const bad = "[a] 'secret_key' must be a hex string or an array of hex strings";
		refused('[a]\ntemplate = "file"\nroot = "r"\nsecret_key = 5\n', 4, bad);
		refused('[a]\ntemplate = "file"\nroot = "r"\nsecret_key = ["00ff", 2]\n', 4, bad);
		refused('[a]\ntemplate = "file"\nroot = "r"\nsecret_key = { k = "00ff" }\n', 4, bad);
		// The key's own check, without the option name of the API it comes from.
		refused(
			'[a]\ntemplate = "file"\nroot = "r"\nsecret_key = "zz"\n',
			4,
			"[a] 'secret_key': key 1 is not valid hex (expected an even number of 0-9a-f characters, e.g. from `openssl rand -hex 32`)",
		);
		refused(
			'[a]\nvalues = "memory"\ncalls = { type = "file", root = "c", secret_key = ["00ff", "abc"] }\n',
			3,
			"[a.calls] 'secret_key': key 2 is not valid hex (expected an even number of 0-9a-f characters, e.g. from `openssl rand -hex 32`)",
		);
		assert.deepEqual((configOf('[a]\ntemplate = "file"\nroot = "r"\nsecret_key = "00ff:a1b2"\n') as { calls: unknown }).calls, {
			type: 'file',
			root: '/proj/r/calls',
			secretKey: ['00ff', 'a1b2'],
		});
	});

	test('inline_values: a whole number of bytes, 0 included', () => {
		const bad = "[a.calls] 'inline_values' must be a whole number of bytes ≥ 0 (0: every value in its own file)";
		for (const v of ['-1', '1.5', '-0.5', '"4096"', 'true', 'nan', 'inf']) {
			refused(`[a]\nvalues = "memory"\ncalls = { type = "file", root = "c", inline_values = ${v} }\n`, 3, bad);
		}
		for (const v of [0, 1, 4096, 2 ** 40]) {
			assert.deepEqual((configOf(`[a]\nvalues = "memory"\ncalls = { type = "file", root = "c", inline_values = ${v} }\n`) as { calls: unknown }).calls, {
				type: 'file',
				root: '/proj/c',
				inlineValues: v,
			});
		}
	});
});

describe('the file kind opened', () => {
	test('a storage without a root is refused when it opens', () => {
		for (const role of ['values', 'calls'] as const) {
			for (const storage of [{ type: 'file', root: '' }, { type: 'file' }, { type: 'file', root: 5 }]) {
				const config = { type: 'cache', values: { type: 'memory' }, calls: { type: 'memory' }, [role]: storage };
				assert.throws(() => cacheFromConfig(config), { name: 'TypeError', message: "A file storage needs a 'root'" }, JSON.stringify(storage));
			}
		}
	});

	test('every option reaches the storage it names, and changes what it does', () => {
		const dir = freshDir();
		const text = (inline: string) => `[a]\ntemplate = "file"\nroot = "s"\nserializer = "json"\ncompress = false\nsecret_key = "00ff:a1b2"\n${inline}`;
		const c = FlecheConfig.fromToml(text('inline_values = 0\n'), { file: join(dir, 'fleche.toml') }).open('a') as Cache;
		assert.ok(c.values instanceof ValueFile && c.calls instanceof CallFile);
		assert.deepEqual(c.values.toConfig(), { type: 'file', root: join(dir, 's', 'values'), serializer: 'json', compress: false, secretKey: ['00ff', 'a1b2'] });
		assert.deepEqual(c.calls.toConfig(), { type: 'file', root: join(dir, 's', 'calls'), secretKey: ['00ff', 'a1b2'], inlineValues: 0 });
		const small = fleche((x: number) => `small ${x}`, { name: 'small' });
		assert.equal(
			cache(c, () => small(1)),
			'small 1',
		);
		const key = small.fleche.digest(1);
		// Signed with the keys given: the same files read with another key are no call.
		const other = cacheFromConfig({
			type: 'cache',
			values: { type: 'file', root: join(dir, 's', 'values'), serializer: 'json', compress: false, secretKey: ['ffee'] },
			calls: { type: 'file', root: join(dir, 's', 'calls'), secretKey: ['ffee'] },
		});
		assert.equal(c.load(key).result, 'small 1');
		assert.equal(other.lookup(key), undefined);
		// Values of the default serializer: without inline_values a small result stays inside its call file, with
		// inline_values = 0 it has a file of its own. (JSON values are always files of their own.)
		const both = FlecheConfig.fromToml('[t]\ntemplate = "file"\nroot = "t"\n\n[u]\ntemplate = "file"\nroot = "u"\ninline_values = 0\n', {
			file: join(dir, 'fleche.toml'),
		});
		const inline = both.open('t') as Cache;
		assert.equal(
			cache(inline, () => small(1)),
			'small 1',
		);
		assert.equal(inline.load(key).result, 'small 1');
		assert.ok(!existsSync(join(dir, 't', 'values')) || readdirSync(join(dir, 't', 'values')).length === 0, 'no value file');
		const apart = both.open('u') as Cache;
		assert.equal(
			cache(apart, () => small(1)),
			'small 1',
		);
		assert.ok(readdirSync(join(dir, 'u', 'values')).includes(apart.loadRecord(key).result!));
	});
});

describe('the file kind seen by tools', () => {
	test('where the store is, whether it exists, and which folders are watched', async () => {
		const dir = freshDir();
		const root = join(dir, 'store');
		const config = {
			type: 'cache' as const,
			values: { type: 'file' as const, root: join(root, 'values') },
			calls: { type: 'file' as const, root: join(root, 'calls'), inlineValues: 0 },
		};
		const named = (): CacheLocation | undefined => discoverCaches(dir, [root]).find((l) => l.root === root);
		assert.equal(named()?.exists, false, 'nothing written yet');
		const writer = cacheFromConfig(config);
		saveUndated(writer, 1, 'one');
		const store = openStore(root);
		let fired = 0;
		const watch = store.watch(() => fired++, { debounceMs: 20 });
		try {
			assert.equal(store.location.root, root, 'the folder above values/ and calls/');
			assert.equal(store.location.exists, true);
			assert.equal(named()?.exists, true);
			// Statistics change without any call changing: the calls' .stats folder is watched too.
			mkdirSync(join(root, 'calls', '.stats'), { recursive: true });
			await new Promise((r) => setTimeout(r, 100));
			const quiet = fired;
			const hits = fleche((x: number) => x, { name: 'f', module: 'm.ts' });
			assert.equal(
				cache(writer, () => hits(1)),
				'one',
				'a hit on the saved call',
			);
			flushStats();
			await waitFor('a statistics flush to be heard', () => fired > quiet);
			// And a call saved into the calls folder.
			const afterStats = fired;
			const two = saveUndated(writer, 2, 'two');
			await waitFor('a new call to be heard', () => fired > afterStats);
			// And a value gone from the values folder alone (a result removed by hand or by gc: the call shows damaged).
			await new Promise((r) => setTimeout(r, 100));
			const afterCall = fired;
			rmSync(join(root, 'values', writer.loadRecord(two).result!));
			await waitFor('a value removed to be heard', () => fired > afterCall);
		} finally {
			watch.dispose();
			store.close();
		}
	});

	test('a call in flight holds a lease that tools list, and lets go of it when done', async () => {
		const root = join(freshDir(), 'store');
		const c = cacheFromConfig({ type: 'cache', values: { type: 'file', root: join(root, 'values') }, calls: { type: 'file', root: join(root, 'calls') } });
		saveUndated(c, 0, 'zero');
		let go!: () => void;
		const gate = new Promise<void>((r) => (go = r));
		const slow = fleche(
			async (x: number) => {
				await gate;
				return x;
			},
			{ name: 'slow' },
		);
		const running = cache(c, () => slow(7));
		const store = openStore(root);
		try {
			const [held] = store.inFlight();
			assert.equal(held?.key, slow.fleche.digest(7));
			assert.equal(held?.state, 'computing');
			go();
			assert.equal(await running, 7);
			assert.deepEqual(store.inFlight(), []);
		} finally {
			go();
			store.close();
		}
	});

	test('a folder is recognized as a store by its calls/ or its values/ folder', () => {
		const dir = freshDir();
		for (const sub of ['calls', 'values']) mkdirSync(join(dir, `only-${sub}`, sub), { recursive: true });
		mkdirSync(join(dir, 'neither', 'other'), { recursive: true });
		const found = discoverCaches(dir, [join(dir, 'only-calls'), join(dir, 'only-values'), join(dir, 'neither')]);
		const [calls, values, neither] = ['only-calls', 'only-values', 'neither'].map((name) => found.find((l) => l.root === join(dir, name)));
		for (const [l, name] of [
			[calls, 'only-calls'],
			[values, 'only-values'],
		] as const) {
			assert.ok(l !== undefined);
			assert.equal(l.kind, 'file');
			assert.equal(l.root, join(dir, name));
			assert.deepEqual(l.config, {
				type: 'cache',
				values: { type: 'file', root: join(dir, name, 'values') },
				calls: { type: 'file', root: join(dir, name, 'calls') },
			});
		}
		// A location describes the calls: a store of values only has none yet.
		assert.equal(calls!.exists, true);
		assert.equal(values!.exists, false);
		// A folder with neither is no store: named for the tools to say so, never read as an empty one.
		assert.ok(neither !== undefined);
		assert.equal(neither.exists, false);
		assert.throws(
			() => openStore(join(dir, 'neither')),
			(err: unknown) => ConfigError.is(err),
		);
	});

	test('the size of a value file, and the date of a call that has none is its call file’s', () => {
		const dir = freshDir();
		const root = join(dir, 'store');
		const writer = cacheFromConfig({
			type: 'cache',
			values: { type: 'file', root: join(root, 'values') },
			calls: { type: 'file', root: join(root, 'calls'), inlineValues: 0 },
		});
		const big = 'x'.repeat(5000);
		const key = saveUndated(writer, 1, big);
		const digest = writer.loadRecord(key).result!;
		const callFile = join(root, 'calls', key);
		const when = new Date('2026-03-04T05:06:07Z');
		utimesSync(callFile, when, when);
		const read = (): { size: number | null; created: number | null } => {
			const store = openStore(root);
			try {
				const [fn] = store.functions();
				assert.ok(fn !== undefined);
				const [call] = store.calls(fn, { offset: 0, limit: 10 }).calls;
				assert.ok(call !== undefined);
				return { size: call.size, created: call.created };
			} finally {
				store.close();
			}
		};
		// One call's details, read first in a fresh store: dated by its call file too.
		const fresh = openStore(root);
		try {
			assert.equal(fresh.call(key).created, when.getTime() / 1000);
		} finally {
			fresh.close();
		}
		const seen = read();
		assert.equal(seen.size, statSync(join(root, 'values', digest)).size);
		assert.equal(seen.created, when.getTime() / 1000);
		// The listing came from a summary index kept in the user's cache folder, named by the calls folder.
		assert.ok(readdirSync(indexDir).includes(createHash('sha256').update(join(root, 'calls')).digest('hex').slice(0, 32)), 'the summary index of this store');
		// A value file gone: its size is unknown, not 0; the call is still dated by its file.
		rmSync(join(root, 'values', digest));
		assert.deepEqual(read(), { size: null, created: when.getTime() / 1000 });
	});
});
