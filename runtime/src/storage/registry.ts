// Every storage kind a configuration can name: the built-ins, listed here and nowhere else, then the kinds registered
// with `registerStorageKind` or `registerStorage`. Registration is explicit: no module registers anything by being
// imported. The registered kinds live on `globalThis`, so that the ESM and CommonJS copies of the package (and several
// copies in one program) see the same kinds.
import type { CallStorage, StorageConfig, ValueStorage } from './base.js';
import { fileKind } from './file/kind.js';
import type { StorageKind, StorageKinds, StorageRole } from './kinds.js';
import { memoryKind } from './memory.js';
import { postgresKind } from './postgres/kind.js';
import { sqlKind } from './sql/kind.js';
import { sshKind } from './ssh/kind.js';
import { voidKind } from './void.js';

/** The built-in kinds, in the order error messages list them. */
const builtinKinds: readonly StorageKind[] = [memoryKind, voidKind, fileKind, sqlKind, postgresKind, sshKind] as readonly StorageKind[];

const registeredKey = Symbol.for('fleche.storageKinds');

function registered(): Map<string, StorageKind> {
	const g = globalThis as { [registeredKey]?: Map<string, StorageKind> };
	return (g[registeredKey] ??= new Map<string, StorageKind>());
}

function builtin(type: string): StorageKind | undefined {
	return builtinKinds.find((k) => k.type === type);
}

/** Builds a storage from its plain-data description: the short form of a kind, for {@link registerStorage}. */
export type StorageFactory = (config: StorageConfig, kind: StorageRole) => ValueStorage | CallStorage;

const roles: readonly StorageRole[] = ['values', 'calls'];

/**
 * Registers a storage kind (see {@link StorageKind}), so that configurations (`fleche.toml` sections, caches sent to
 * workers) can name its type and tools can ask what it offers. Registering a type again replaces the earlier kind.
 * @throws TypeError for a built-in type (`memory`, `void`, `file`, `sql`, `postgres`, `ssh`) or a record without `type`, `roles` or `open`.
 * @example
 * ```ts
 * registerStorageKind({ type: 'redis', roles: ['calls'], open: (config) => new CallRedis(config) });
 * ```
 */
export function registerStorageKind<C extends StorageConfig, V extends ValueStorage, K extends CallStorage>(kind: StorageKind<C, V, K>): void {
	const type = (kind as { type?: unknown } | null)?.type;
	if (typeof type !== 'string' || type === '') throw new TypeError('registerStorageKind() needs a kind with a type name');
	const kindRoles: unknown = kind.roles;
	if (!Array.isArray(kindRoles) || kindRoles.length === 0 || !kindRoles.every((r) => roles.includes(r as StorageRole))) {
		throw new TypeError(`The storage kind '${type}' needs roles: ['values'], ['calls'] or both`);
	}
	if (typeof kind.open !== 'function') throw new TypeError(`The storage kind '${type}' needs an open(config, role) function`);
	if (builtin(type) !== undefined) throw new TypeError(`'${type}' is a built-in storage type: register yours under another name`);
	registered().set(type, kind);
}

/**
 * Registers a storage type by its factory alone: configurations can name it for either role, and its `fleche.toml`
 * table's keys reach `factory` with snake_case names turned into camelCase (`lock_timeout` → `lockTimeout`). For what
 * tools can know of it (where it is, what to watch), register a full kind with {@link registerStorageKind}.
 * @throws TypeError as {@link registerStorageKind}.
 * @example
 * ```ts
 * registerStorage('redis', (config, kind) => (kind === 'values' ? new ValueRedis(config) : new CallRedis(config)));
 * ```
 */
export function registerStorage(type: string, factory: StorageFactory): void {
	if (typeof type !== 'string' || type === '') throw new TypeError('registerStorage() needs a type name');
	if (typeof factory !== 'function') throw new TypeError('registerStorage() needs a factory function');
	registerStorageKind({ type, roles, open: factory });
}

/** @internal The kinds a configuration can name (built in, then registered), looked up when asked. */
export const storageKinds: StorageKinds = {
	get: (type) => builtin(type) ?? registered().get(type),
	list: () => [...builtinKinds, ...registered().values()],
	known(role) {
		const names = (list: Iterable<StorageKind>): string[] => [...list].filter((k) => role === undefined || k.roles.includes(role)).map((k) => k.type);
		const user = names(registered().values());
		return `built in: ${names(builtinKinds).join(', ')}${user.length > 0 ? `; registered: ${user.join(', ')}` : ''}`;
	},
};

/** @internal The kind of an open storage (by the type its `toConfig()` names); `undefined` for an unknown or broken one. */
export function kindOf(storage: ValueStorage | CallStorage): StorageKind | undefined {
	let type: unknown;
	try {
		type = storage.toConfig().type;
	} catch {
		return undefined;
	}
	return typeof type === 'string' ? storageKinds.get(type) : undefined;
}

/**
 * @internal Opens a storage from its plain-data description through its kind.
 * @throws TypeError for an unknown type (listing the known ones) or a role the kind cannot fill.
 */
export function openStorage(config: StorageConfig, role: StorageRole): ValueStorage | CallStorage {
	const type = (config as { type?: unknown } | null)?.type;
	const kind = typeof type === 'string' ? storageKinds.get(type) : undefined;
	if (kind === undefined) throw new TypeError(`Unknown storage type ${JSON.stringify(type)} (${storageKinds.known()}; others need registerStorage())`);
	if (!kind.roles.includes(role)) throw new TypeError(`An '${kind.type}' storage holds ${role === 'values' ? 'call records' : 'values'} only`);
	return kind.open(config, role);
}
