// Which caches each workspace folder sees: the runtime's own discovery (fleche.toml from the folder upward, the
// default `.fleche/` store) plus the `fleche.caches` setting, run by the store worker (storeHost.ts), then
// de-duplicated across folders here. Type-only imports: the extension host's bundle holds no storage code.
import type { CacheLocation } from 'fleche/inspect';
import type { FolderCaches } from './storeProtocol.js';

export interface LocatedCache {
	readonly location: CacheLocation;
	/** Name of the workspace folder it was found from. */
	readonly folder: string | null;
	readonly folderPath: string;
}

/** Storage kinds with nothing on disk to show. */
const transient = new Set(['memory', 'void']);

/** The caches of `folders` from what discovery found in each (`found[i]` for `folders[i]`), each cache once. */
export function locateCaches(
	folders: readonly { readonly name: string; readonly path: string }[],
	found: readonly FolderCaches[],
	warn: (message: string) => void,
): LocatedCache[] {
	const out: LocatedCache[] = [];
	const seen = new Set<string>();
	for (const [i, folder] of folders.entries()) {
		const caches = found[i];
		if (caches === undefined) continue;
		if ('error' in caches) {
			warn(`Cannot read the fleche configuration of ${folder.path}: ${caches.error}`);
			continue;
		}
		for (const location of caches.locations) {
			if (transient.has(location.kind)) continue;
			const id = location.root ?? `${folder.path}#${location.name}`;
			if (seen.has(id)) continue;
			seen.add(id);
			out.push({ location, folder: folder.name, folderPath: folder.path });
		}
	}
	return out;
}
