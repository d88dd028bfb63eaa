// docs/behaviour.md §12 (inspect's summary index) and §1.2a (the stat cache of file digests): the user's cache folder,
// where fleche keeps what only speeds up a later process and is never needed for correctness.
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The folder fleche's caches of the user live in: `$FLECHE_INDEX_DIR`, else `<user cache folder>/fleche/inspect`
 * (`$XDG_CACHE_HOME`, else `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows); `null`
 * when `FLECHE_INDEX_DIR` is set empty: keep them in memory only. @internal
 */
export function userCacheFolder(env: NodeJS.ProcessEnv = process.env): string | null {
	const chosen = env['FLECHE_INDEX_DIR'];
	if (chosen !== undefined) return chosen === '' ? null : chosen;
	const xdg = env['XDG_CACHE_HOME'];
	const base =
		xdg !== undefined && xdg.startsWith('/')
			? xdg
			: process.platform === 'win32'
				? (env['LOCALAPPDATA'] ?? join(homedir(), 'AppData', 'Local'))
				: process.platform === 'darwin'
					? join(homedir(), 'Library', 'Caches')
					: join(homedir(), '.cache');
	return join(base, 'fleche', 'inspect');
}
