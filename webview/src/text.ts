// Pure text helpers of the webview's value trees. Quantities (times, durations, sizes, counts) arrive with their kind
// and are formatted by units.ts, which the extension's tree and lenses share.

export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
	return `${count} ${count === 1 ? singular : pluralForm}`;
}

/** The one-line summary of a container row: `Map(3)`, `array(10)`, `object {3 keys}`. */
export function containerSummary(type: string, size: number): string {
	if (type === 'object') return `{${plural(size, 'key')}}`;
	return `${type}(${size})`;
}

/** A stable string id for a value path (open/closed state survives re-renders). */
export function pathId(section: string, path: readonly (string | number)[]): string {
	return JSON.stringify([section, ...path]);
}
