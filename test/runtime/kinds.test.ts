// Storage kinds (runtime/src/storage/kinds.ts): a kind written here — a small store of JSON files in a folder — is
// registered through the public API, configured from fleche.toml, used by cached functions, and listed, sized, watched
// and closed by fleche/inspect through what its record offers; unknown types are reported with the kinds there are.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import {
	AmbiguousDigestError,
	cache,
	cacheFromConfig,
	fleche,
	FlecheConfig,
	KeyError,
	loadConfig,
	meta,
	registerStorage,
	registerStorageKind,
	type CallRecord,
	type CallStorage,
	type StorageConfig,
	type StorageKind,
	type ValueStorage,
} from 'fleche';
import { ConfigError, discoverCaches, openStore } from 'fleche/inspect';
import { tmpDir } from '../support/tmp.ts';
import { waitFor } from '../support/poll.ts';

/** Keys and values as `<folder>/<key>.json`: enough of a storage to be real, nothing more. */
class JsonFolder {
	closed = false;
	constructor(readonly folder: string) {}

	protected file(key: string): string {
		return join(this.folder, `${key}.json`);
	}

	protected write(key: string, value: unknown): void {
		mkdirSync(this.folder, { recursive: true });
		writeFileSync(this.file(key), JSON.stringify(value));
	}

	protected read(key: string): unknown {
		try {
			return JSON.parse(readFileSync(this.file(key), 'utf8')) as unknown;
		} catch {
			throw new KeyError(key);
		}
	}

	list(): string[] {
		return existsSync(this.folder)
			? readdirSync(this.folder)
					.filter((n) => n.endsWith('.json'))
					.map((n) => n.slice(0, -5))
			: [];
	}

	contains(key: string): boolean {
		return existsSync(this.file(key));
	}

	evict(key: string): void {
		if (!this.contains(key)) throw new KeyError(key);
		rmSync(this.file(key));
	}

	expand(prefix: string): string {
		const found = this.list().filter((k) => k.startsWith(prefix));
		if (found.length === 0) throw new KeyError(prefix);
		if (found.length > 1) throw new AmbiguousDigestError(prefix, prefix.length + 1);
		return found[0]!;
	}

	toConfig(): StorageConfig {
		return { type: 'jsondir', folder: this.folder };
	}

	/** What the kind's capabilities read. */
	stat(key: string): { size: number; mtime: number } | null {
		try {
			const s = statSync(this.file(key));
			return { size: s.size, mtime: s.mtimeMs / 1000 };
		} catch {
			return null;
		}
	}
}

class JsonValues extends JsonFolder implements ValueStorage {
	put(key: string, value: unknown): void {
		if (!this.contains(key)) this.write(key, value);
	}

	get(key: string): unknown {
		return this.read(key);
	}
}

class JsonCalls extends JsonFolder implements CallStorage {
	put(record: CallRecord): void {
		this.write(record.key, record);
	}

	get(key: string): CallRecord {
		return this.read(key) as CallRecord;
	}

	*records(filter?: { readonly name?: string }): Generator<CallRecord> {
		for (const key of this.list()) {
			const record = this.get(key);
			if (filter?.name === undefined || record.name === filter.name) yield record;
		}
	}
}

type JsonDirConfig = { readonly type: 'jsondir'; readonly folder: string };

const jsonDir: StorageKind<JsonDirConfig & StorageConfig, JsonValues, JsonCalls> = {
	type: 'jsondir',
	roles: ['values', 'calls'],
	fromToml(table, role, toml) {
		toml.keys(table, ['root'], `a '${role}' storage of type 'jsondir'`);
		const root = toml.string(table, 'root'); // fleche.toml made it absolute
		if (root === undefined) throw toml.error(`a 'jsondir' storage needs a 'root'`);
		return { type: 'jsondir', folder: root };
	},
	open: (config, role) => (role === 'values' ? new JsonValues(config.folder) : new JsonCalls(config.folder)),
	locate: (config) => ({ root: dirname(config.folder), exists: existsSync(config.folder), watch: [config.folder] }),
	valueSize: (values, digest) => values.stat(digest)?.size ?? null,
	created: (calls, key) => calls.stat(key)?.mtime ?? null,
	close(storage) {
		storage.closed = true;
	},
};

registerStorageKind(jsonDir);

const square = fleche((x: number) => x * x, { name: 'square', module: 'src/math.ts' });

describe('storage kinds', () => {
	test('a registered kind is configured from fleche.toml, stores calls, and is listed by fleche/inspect with its capabilities', async (t) => {
		const project = tmpDir(t);
		writeFileSync(
			join(project, 'fleche.toml'),
			'[default]\nroot = true\n\n[mine]\nvalues = { type = "jsondir", root = "store/values" }\ncalls = { type = "jsondir", root = "store/calls" }\n',
		);
		const config = loadConfig({ cwd: project, home: project });
		assert.deepEqual(config.cacheConfig('mine'), {
			type: 'cache',
			values: { type: 'jsondir', folder: join(project, 'store', 'values') },
			calls: { type: 'jsondir', folder: join(project, 'store', 'calls') },
		});
		const before = discoverCaches(project).find((l) => l.name === 'mine');
		assert.deepEqual([before?.kind, before?.root, before?.exists], ['jsondir', join(project, 'store'), false]);

		// Without Runtime metadata the records carry no time: the listing asks the kind when each was stored.
		cache(config.open('mine'), () => meta([], () => [1, 2, 3].map((x) => square(x))));
		assert.equal(readdirSync(join(project, 'store', 'calls')).length, 3, 'three record files written by the kind');

		const location = discoverCaches(project).find((l) => l.name === 'mine');
		assert.deepEqual(
			[location?.kind, location?.root, location?.exists, location?.source],
			['jsondir', join(project, 'store'), true, join(project, 'fleche.toml')],
		);
		const store = openStore('mine', { cwd: project });
		assert.deepEqual(
			store.functions().map((f) => [f.module, f.name, f.calls]),
			[['src/math.ts', 'square', 3]],
		);
		const { total, calls } = store.calls({ module: 'src/math.ts', name: 'square' });
		assert.equal(total, 3);
		for (const call of calls) {
			const record = JSON.parse(readFileSync(join(project, 'store', 'calls', `${call.key}.json`), 'utf8')) as CallRecord;
			assert.deepEqual(record.metadata, {}, 'no Runtime metadata');
			assert.equal(call.size, statSync(join(project, 'store', 'values', `${record.result}.json`)).size, 'valueSize()');
			assert.equal(call.created, statSync(join(project, 'store', 'calls', `${call.key}.json`)).mtimeMs / 1000, 'created()');
		}
		assert.deepEqual(store.call(square.fleche.digest(3).slice(0, 8)).result, { ok: true, value: 9 });

		// locate().watch: a call written by another cache over the same folders is noticed.
		let notified = 0;
		const sub = store.watch(() => notified++, { debounceMs: 50 });
		t.after(() => sub.dispose());
		cache(config.open('mine'), () => square(4));
		await waitFor('the watch on the kind’s folder', () => notified > 0);
		assert.equal(store.totals().calls, 4);

		// close(): the kind releases the storages openStore opened.
		const opened = store.cache as unknown as { values: JsonValues; calls: JsonCalls };
		assert.equal(opened.calls.closed, false);
		store.close();
		assert.deepEqual([opened.values.closed, opened.calls.closed], [true, true]);
	});

	test("a kind's TOML errors name file and line; a kind that holds one role refuses the other", () => {
		const config = FlecheConfig.fromToml(
			'[a]\nvalues = { type = "jsondir", rooot = "x" }\ncalls = "memory"\n\n[b]\ncalls = { type = "jsondir" }\nvalues = "memory"\n',
			{
				file: '/proj/fleche.toml',
			},
		);
		assert.throws(
			() => config.cacheConfig('a'),
			(err: unknown) =>
				ConfigError.is(err) &&
				/^\/proj\/fleche\.toml:2: \[a\.values\] unknown key 'rooot' in a 'values' storage of type 'jsondir' \(allowed: type, root\)/.test(
					(err as Error).message,
				),
		);
		assert.throws(
			() => config.cacheConfig('b'),
			(err: unknown) => ConfigError.is(err) && /^\/proj\/fleche\.toml:6: \[b\.calls\] a 'jsondir' storage needs a 'root'/.test((err as Error).message),
		);
		registerStorageKind({ type: 'callsonly', roles: ['calls'], open: () => new JsonCalls('/nowhere') });
		const roles = FlecheConfig.fromToml('[c]\nvalues = "callsonly"\ncalls = "callsonly"\n', { file: '/proj/fleche.toml' });
		assert.throws(
			() => roles.cacheConfig('c'),
			/\[c\.values\] 'callsonly' stores call records only: use another type for values \(built in: memory, void, file, postgres, ssh; registered: jsondir\)/,
		);
		assert.throws(
			() => cacheFromConfig({ type: 'cache', values: { type: 'callsonly' }, calls: { type: 'memory' } }),
			/An 'callsonly' storage holds call records only/,
		);
	});

	test('an unknown storage type is reported with the kinds that are built in and registered', () => {
		const config = FlecheConfig.fromToml('[x]\nvalues = "memory"\ncalls = { type = "redis" }\n', { file: '/proj/fleche.toml' });
		const listed =
			/unknown storage type 'redis' \(built in: memory, void, file, sql, postgres, ssh; registered: jsondir(, callsonly)?; others need registerStorage\(\)\)/;
		assert.throws(
			() => config.open('x'),
			(err: unknown) => ConfigError.is(err) && listed.test((err as Error).message),
		);
		assert.throws(
			() => cacheFromConfig({ type: 'cache', values: { type: 'memory' }, calls: { type: 'redis' } }),
			/Unknown storage type "redis" \(built in: memory, void, file, sql, postgres, ssh; registered: jsondir(, callsonly)?; others need registerStorage\(\)\)/,
		);
		const templates = FlecheConfig.fromToml('[y]\ntemplate = "jsondir"\n', { file: '/proj/fleche.toml' });
		assert.throws(
			() => templates.cacheConfig('y'),
			/unknown template "jsondir" \(use one of: memory, void, file, sql, postgres, ssh\)/,
			'a kind without template() is no template',
		);
	});

	test('built-in types cannot be replaced, and a kind needs its parts', () => {
		assert.throws(
			() => registerStorageKind({ type: 'file', roles: ['values', 'calls'], open: () => new JsonCalls('/nowhere') }),
			/'file' is a built-in storage type/,
		);
		assert.throws(() => registerStorage('sql', () => new JsonCalls('/nowhere')), /'sql' is a built-in storage type/);
		assert.throws(() => registerStorageKind({ type: 'nothing', roles: [], open: () => new JsonCalls('/nowhere') }), /needs roles/);
		// The factory form: keys reach it in camelCase, for either role.
		const seen: StorageConfig[] = [];
		registerStorage('plain', (config, role) => {
			seen.push(config);
			return role === 'values' ? new JsonValues('/nowhere/v') : new JsonCalls('/nowhere/c');
		});
		FlecheConfig.fromToml('[p]\nvalues = { type = "plain", lock_timeout = 5 }\ncalls = "plain"\n', { file: '/proj/fleche.toml' }).open('p');
		assert.deepEqual(seen, [{ type: 'plain', lockTimeout: 5 }, { type: 'plain' }]);
	});
});
