// Pure text helpers of the webview. Numbers, times and sizes arrive formatted in the state (the extension's
// model/format.ts), so both sides show the same text.

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
