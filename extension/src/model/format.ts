// Pure text formatting shared by the tree, the lenses and the details panel.

/** `1 hit`, `12 hits`. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
	return `${count} ${count === 1 ? singular : pluralForm}`;
}

export interface Counts {
	readonly hits: number;
	readonly misses: number;
	readonly calls: number;
	/** Calls in flight (computing, queued or running on a worker); absent: none. */
	readonly running?: number;
}

/** `12 hits · 3 misses · 5 cached`, and `· 1 running` while calls are in flight. */
export function countsText(counts: Counts): string {
	return `${plural(counts.hits, 'hit')} · ${plural(counts.misses, 'miss', 'misses')} · ${counts.calls} cached${counts.running ? ` · ${counts.running} running` : ''}`;
}

/** The CodeLens title of the contract: `fleche: 12 hits · 3 misses · 5 cached`. */
export function lensTitle(counts: Counts): string {
	return `fleche: ${countsText(counts)}`;
}

// Units are formatted by the one module the webview shares (webview/src/units.ts), so the tree, the lenses and the
// details panels write `850 µs`, `1.5 KB` and `3 min ago` alike.
export { formatAge, formatBytes, formatCount, formatDuration } from '../../../webview/src/units.js';

/** Seconds since the epoch → `2026-11-25 10:15:36` in UTC (stable for tests and for people across zones). */
export function formatTimestamp(epochSeconds: number | null | undefined): string {
	if (epochSeconds === null || epochSeconds === undefined || !Number.isFinite(epochSeconds)) return '—';
	return new Date(epochSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
}

/**
 * Store text made safe to show as a tree row's label or description: control characters (a raw newline, an ANSI
 * escape) and bidirectional overrides become visible `\u{…}` escapes, whitespace runs one space. The runtime's texts
 * are `util.inspect` output, which escapes them already; a store is untrusted input, so this does not rely on it.
 */
export function displayText(text: string, max: number): string {
	const visible = text.replace(
		// eslint-disable-next-line no-control-regex -- finding control characters is the point
		/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
		(c) => `\\u{${c.codePointAt(0)!.toString(16)}}`,
	);
	return truncate(visible, max);
}

/** One line of at most `max` characters, cut with `…`. */
export function truncate(text: string, max: number): string {
	const line = text.replace(/\s+/g, ' ');
	return line.length <= max ? line : `${line.slice(0, Math.max(0, max - 1))}…`;
}

/** `src/math.ts:add`, or just the name when the function has no module in its identity. */
export function functionLabel(fn: { readonly module: string | null; readonly name: string }): string {
	return fn.module === null ? fn.name : `${fn.module}:${fn.name}`;
}

/** Hit ratio as `80%`, or `—` before any lookup. */
export function hitRatio(hits: number, misses: number): string {
	const total = hits + misses;
	return total === 0 ? '—' : `${Math.round((hits / total) * 100)}%`;
}

/**
 * `text` as a fenced Markdown code block that nothing inside can close or turn into markup: the fence is longer than
 * any run of backticks in the text. Hovers render store contents (untrusted) only this way.
 */
export function markdownCode(text: string, language = ''): string {
	const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
	const fence = '`'.repeat(Math.max(3, longest + 1));
	return `${fence}${language}\n${text}\n${fence}`;
}
