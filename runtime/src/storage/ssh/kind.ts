// docs/behaviour.md §17: the `ssh` storage kind (see storage/kinds.ts): a cache on another machine, reached over `ssh`.
//
//   [team]                                  [team.calls]  /  [team.values]
//   template = "ssh"                        type = "ssh", and the same keys
//   host = "build.internal"                 # required
//   user = "ci"                             # default: ssh's own
//   port = 2222                             # default: ssh's own
//   identity_file = "~/.ssh/fleche_ed25519" # default: ssh's own keys and agent
//   remote_cache = "results"                # a section of the far side's fleche.toml (default: its default cache)
//   remote_root = "/srv/fleche"             # or a store folder there (a path on the far machine: never rebased)
//   remote_cwd = "/srv/project"             # the folder whose fleche.toml applies there
//   remote_command = "npx fleche"           # how fleche's CLI runs there (default "fleche")
//   ssh_options = ["StrictHostKeyChecking=accept-new"]
//   timeout_ms = 30000
//   max_line_bytes = 67108864
//
// Checks are the storages' own (store.ts), so errors name this file and line.
import type { StorageKind, StorageRole, TomlReader, TomlTable } from '../kinds.js';
import { CallSsh, checkSshOptions, ValueSsh, type SshConfig, type SshOptions } from './store.js';

const options = [
	'host',
	'user',
	'port',
	'identity_file',
	'remote_cache',
	'remote_root',
	'remote_cwd',
	'remote_command',
	'ssh_options',
	'ssh',
	'timeout_ms',
	'max_line_bytes',
];

function read(table: TomlTable, toml: TomlReader): SshConfig {
	if (table.host === undefined) throw toml.error(`an 'ssh' storage needs a 'host' (the far machine, as ssh takes it)`);
	const given: Record<string, unknown> = {};
	for (const key of options) {
		if (table[key] !== undefined) given[key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = table[key];
	}
	try {
		return checkSshOptions(given as unknown as SshOptions);
	} catch (err) {
		throw toml.error(
			err instanceof Error
				? err.message.replace(/'([a-z]+[A-Z][A-Za-z]*)'/g, (_, k: string) => `'${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}'`)
				: String(err),
		);
	}
}

function open(config: SshConfig, role: StorageRole): ValueSsh | CallSsh {
	return role === 'values' ? new ValueSsh(config) : new CallSsh(config);
}

/** The `ssh` storage kind. */
export const sshKind: StorageKind<SshConfig, ValueSsh, CallSsh> = {
	type: 'ssh',
	roles: ['values', 'calls'],
	fromToml(table, role, toml) {
		toml.keys(table, options, `a '${role}' storage of type 'ssh'`);
		return read(table, toml);
	},
	template(table, toml) {
		toml.keys(table, options, `an 'ssh' template`);
		const config = read(table, toml);
		return { values: config, calls: config };
	},
	open,
	close: (storage) => storage.close(),
};
