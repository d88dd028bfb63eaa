// docs/behaviour.md §12 (`fleche/inspect`): the one-line texts tools show for stored argument values.
import { inspect } from 'node:util';
import { Digest } from '../digest.js';

/** Longest text of one argument value in a call summary. */
export const ARG_TEXT_LIMIT = 80;
/** Longest text of a whole argument list (`a=1, b='x'`). */
export const ARGS_TEXT_LIMIT = 120;

/** `text` cut to at most `limit` characters, ending in `…` when cut. */
export function truncate(text: string, limit: number): string {
	return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/**
 * A short one-line rendering of a stored value: `util.inspect` with small depth and lengths (so huge values cost
 * little), newlines collapsed. A value the store does not hold shows as its digest.
 */
export function shortText(value: unknown, limit = ARG_TEXT_LIMIT): string {
	if (Digest.is(value)) return truncate(`<digest ${value.hex.slice(0, 12)}>`, limit);
	let text: string;
	try {
		text = inspect(value, { depth: 2, breakLength: Infinity, maxArrayLength: 20, maxStringLength: limit, compact: true, colors: false });
	} catch (err) {
		text = `<${(err as Error)?.message ?? 'unprintable'}>`;
	}
	return truncate(text.replace(/\s*\n\s*/g, ' '), limit);
}

/** `a=1, b='x'` from per-argument texts, cut to {@link ARGS_TEXT_LIMIT}. */
export function argsText(args: Readonly<Record<string, string>>): string {
	return truncate(
		Object.entries(args)
			.map(([name, text]) => `${name}=${text}`)
			.join(', '),
		ARGS_TEXT_LIMIT,
	);
}
