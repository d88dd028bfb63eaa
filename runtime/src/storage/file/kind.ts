// The `file` storage kind (see storage/kinds.ts): one file per value under `<store>/values`, one JSON record per call
// under `<store>/calls`, statistics journals in `calls/.stats/`, the leases of calls in flight in `calls/.leases/`,
// and a summary index for tools (kept outside the store, in the user's cache folder: summaryIndex.ts).
//
//   [name]                                  [name.values]                      [name.calls]
//   template = "file"                       type = "file"                      type = "file"
//   root = ".results"                       root = ".results/values"           root = ".results/calls"
//   serializer = "json"  # values           serializer, compress, secret_key
//   compress = true      # values
//   secret_key = "hex…"  # values
//   inline_values = 4096 # calls: largest value kept inside a call file (0: none)
//   values = { … }       # instead of <root>/values
//   calls = { … }        # instead of <root>/calls
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StorageConfig } from '../base.js';
import { resolveRoot } from '../fsUtil.js';
import { parseSecretKeys } from '../security.js';
import type { StorageKind, StorageRole, StorageSite, TomlReader, TomlTable } from '../kinds.js';
import { CallFile } from './calls.js';
import { FileLeases, leasesOf } from './leases.js';
import { STATS_DIR } from './statsJournal.js';
import { FileIndex } from './summaryIndex.js';
import { ValueFile } from './values.js';

/** The configuration of a file storage (what {@link ValueFile.toConfig} and {@link CallFile.toConfig} return). */
export type FileConfig = Extract<StorageConfig, { type: 'file' }>;

/** The folder of the call leases (docs/behaviour.md §3.6) under a calls root. */
export const LEASES_DIR = '.leases';

const valueKeys = ['root', 'serializer', 'compress', 'secret_key'];
/** `inline_values`: the largest value a call file keeps inside itself (docs/behaviour.md §2.6). */
const callKeys = ['root', 'secret_key', 'inline_values'];

function isDir(path: string): boolean {
	try {
		return statSync(path).isDirectory();
	} catch {
		return false;
	}
}

/** The `secret_key` of a storage table, checked (the error names the file and line); undefined when absent. */
export function secretKeyOption(table: TomlTable, toml: TomlReader): readonly string[] | undefined {
	const v = table.secret_key;
	if (v === undefined) return undefined;
	const keys = typeof v === 'string' ? v.split(':') : Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;
	if (keys === undefined) throw toml.error(`'secret_key' must be a hex string or an array of hex strings`, 'secret_key');
	try {
		// Checked here, not when the storage opens, so the error names this file and line.
		parseSecretKeys(keys);
	} catch (err) {
		throw toml.error(`'secret_key': ${(err as Error).message.replace(/^secretKey /, '')}`, 'secret_key');
	}
	return keys;
}

function fromToml(table: TomlTable, role: StorageRole, toml: TomlReader): FileConfig {
	// Call records are signed with the same keys as values (signed records prove which call they are).
	toml.keys(table, role === 'values' ? valueKeys : callKeys, `a '${role}' storage of type 'file'`);
	const root = toml.string(table, 'root');
	if (root === undefined) throw toml.error(`a 'file' storage needs a 'root' folder`);
	const serializer = toml.string(table, 'serializer');
	const compress = toml.boolean(table, 'compress');
	const secretKey = secretKeyOption(table, toml);
	const inline = table.inline_values;
	if (inline !== undefined && !(typeof inline === 'number' && Number.isSafeInteger(inline) && inline >= 0)) {
		throw toml.error(`'inline_values' must be a whole number of bytes ≥ 0 (0: every value in its own file)`, 'inline_values');
	}
	return {
		type: 'file',
		root,
		...(serializer !== undefined ? { serializer: serializer as FileConfig['serializer'] } : {}),
		...(compress !== undefined ? { compress } : {}),
		...(secretKey !== undefined ? { secretKey } : {}),
		...(inline !== undefined ? { inlineValues: inline } : {}),
	};
}

/**
 * The value storage of a template (`file` and `sql`): its `values` table, else file values under `<root>/values` with
 * the template's value options. Also returns the template's `root`, which both templates require.
 */
export function templateValues(table: TomlTable, toml: TomlReader, template: string): { root: string; values: StorageConfig } {
	const root = toml.string(table, 'root');
	if (root === undefined) throw toml.error(`the '${template}' template needs a 'root' folder`);
	if (table.values !== undefined) return { root, values: toml.storage(table.values, 'values', 'values') };
	const options: Record<string, unknown> = { root: join(root, 'values') };
	for (const key of valueKeys) if (key !== 'root' && table[key] !== undefined) options[key] = table[key];
	return { root, values: fromToml(options, 'values', toml) };
}

/** The configuration of a file cache under `root` (values in `root/values`, calls in `root/calls`). */
export function filePair(root: string): { values: FileConfig; calls: FileConfig } {
	return { values: { type: 'file', root: join(root, 'values') }, calls: { type: 'file', root: join(root, 'calls') } };
}

/** The `file` storage kind. */
export const fileKind: StorageKind<FileConfig, ValueFile, CallFile> = {
	type: 'file',
	roles: ['values', 'calls'],
	fromToml,
	template(table, toml) {
		toml.keys(table, [...valueKeys, 'inline_values', 'values', 'calls'], `a 'file' template`);
		const { root, values } = templateValues(table, toml, 'file');
		const calls =
			table.calls !== undefined
				? toml.storage(table.calls, 'calls', 'calls')
				: fromToml(
						{
							root: filePair(root).calls.root,
							...(table.secret_key !== undefined ? { secret_key: table.secret_key } : {}),
							...(table.inline_values !== undefined ? { inline_values: table.inline_values } : {}),
						},
						'calls',
						toml,
					);
		return { values, calls };
	},
	open(config, role) {
		if (typeof config.root !== 'string' || config.root === '') throw new TypeError(`A file storage needs a 'root'`);
		if (role === 'calls') {
			return new CallFile({
				root: config.root,
				...(config.secretKey !== undefined ? { secretKey: [...config.secretKey] } : {}),
				...(config.inlineValues !== undefined ? { inlineValues: config.inlineValues } : {}),
			});
		}
		return new ValueFile({
			root: config.root,
			...(config.serializer !== undefined ? { serializer: config.serializer } : {}),
			...(config.compress !== undefined ? { compress: config.compress } : {}),
			...(config.secretKey !== undefined ? { secretKey: [...config.secretKey] } : {}),
		});
	},
	/** The store is the folder above `values/` and `calls/`; the calls' statistics journals change without the calls. */
	locate(config, role): StorageSite {
		if (typeof config.root !== 'string' || config.root === '') return { root: null, exists: false, watch: [] };
		const root = resolveRoot(config.root);
		return { root: dirname(root), exists: isDir(root), watch: role === 'calls' ? [root, join(root, STATS_DIR)] : [root] };
	},
	recognize(folder) {
		return isDir(join(folder, 'calls')) || isDir(join(folder, 'values')) ? filePair(folder) : undefined;
	},
	valueSize(values, digest) {
		try {
			return statSync(join(values.root, digest)).size;
		} catch {
			return null;
		}
	},
	created(calls, key) {
		try {
			return statSync(join(calls.root, key)).mtimeMs / 1000;
		} catch {
			return null;
		}
	},
	summaryIndex: (calls) => new FileIndex(calls),
	/** Lease files in `calls/.leases/` (a dot-folder: never listed as calls). */
	leases: (calls) => leasesOf(calls, () => new FileLeases(join(calls.root, LEASES_DIR))),
};
