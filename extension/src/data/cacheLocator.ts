// Which caches each workspace folder sees: the runtime's own discovery (fleche.toml from the folder upward, the
// default `.fleche/` store) plus the `fleche.caches` setting, de-duplicated across folders.
import { discoverCaches, type CacheLocation } from 'fleche/inspect';
import { errorMessage } from '../log.js';

export interface LocatedCache {
	readonly location: CacheLocation;
	/** Name of the workspace folder it was found from. */
	readonly folder: string | null;
	readonly folderPath: string;
}

/** Storage kinds with nothing on disk to show. */
const transient = new Set(['memory', 'void']);

export function locateCaches(
	folders: readonly { readonly name: string; readonly path: string }[],
	extra: readonly string[],
	warn: (message: string) => void,
): LocatedCache[] {
	const out: LocatedCache[] = [];
	const seen = new Set<string>();
	for (const folder of folders) {
		let locations: CacheLocation[];
		try {
			locations = discoverCaches(folder.path, extra);
		} catch (err) {
			warn(`Cannot read the fleche configuration of ${folder.path}: ${errorMessage(err)}`);
			continue;
		}
		for (const location of locations) {
			if (transient.has(location.kind)) continue;
			const id = location.root ?? `${folder.path}#${location.name}`;
			if (seen.has(id)) continue;
			seen.add(id);
			out.push({ location, folder: folder.name, folderPath: folder.path });
		}
	}
	return out;
}
