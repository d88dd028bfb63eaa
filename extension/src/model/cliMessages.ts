// Pure: the CLI's JSON lines as the extension reads them. The contract, every line type and its fields, is the
// runtime's own `fleche/protocol` (runtime/src/cli/protocol.ts), imported here as types: there is no second copy to
// drift. This file checks the fields of the lines the extension acts on (a store or CLI is untrusted input) and keeps
// every other line whole as `other`, so a newer CLI does not break an older extension.
import type { DoneLine, ErrorLine, ProgressLine, RerunLine } from 'fleche/protocol';

/** A protocol line this extension does not act on, or one whose fields do not check out: kept whole. */
export interface OtherLine {
	readonly v: 1;
	readonly type: 'other';
	readonly raw: Readonly<Record<string, unknown>>;
}

/** What {@link parseCliLine} returns: a checked line of the runtime's protocol, or `other`. */
export type CliMessage = ProgressLine | RerunLine | DoneLine | ErrorLine | OtherLine;

type Known = Exclude<CliMessage, OtherLine>;

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const optionalString = (value: unknown): boolean => value === undefined || typeof value === 'string';

/** Whether the fields the extension reads have their protocol types (the line is then returned as it is). */
function wellFormed(m: Record<string, unknown>): boolean {
	switch (m.type) {
		case 'progress':
			return typeof m.done === 'number' && typeof m.total === 'number';
		case 'rerun':
			return typeof m.key === 'string' && typeof m.ok === 'boolean' && optionalString(m.error) && optionalString(m.newKey);
		case 'done':
			return typeof m.ok === 'number' && typeof m.failed === 'number';
		case 'error':
			return typeof m.message === 'string' && optionalString(m.error);
		default:
			return false;
	}
}

/** One stdout line → a message, or undefined when it is not a protocol line (plain output of the user's code). */
export function parseCliLine(line: string): CliMessage | undefined {
	const text = line.trim();
	if (!text.startsWith('{')) return undefined;
	let m: unknown;
	try {
		m = JSON.parse(text);
	} catch {
		return undefined;
	}
	// `satisfies` pins the version to the runtime's PROTOCOL_VERSION: a bump there fails to compile here.
	if (!isRecord(m) || m.v !== (1 satisfies ProgressLine['v']) || typeof m.type !== 'string') return undefined;
	return wellFormed(m) ? (m as unknown as Known) : { v: 1, type: 'other', raw: m };
}

/** The outcome of a rerun run, for one notification. */
export function rerunSummary(messages: readonly CliMessage[], cancelled: boolean): { ok: boolean; text: string; failures: string[] } {
	const failures: string[] = [];
	let ok = 0;
	let failed = 0;
	let done: { ok: number; failed: number } | undefined;
	let error: string | undefined;
	for (const m of messages) {
		if (m.type === 'rerun') {
			if (m.ok) ok++;
			else {
				failed++;
				failures.push(`${m.key.slice(0, 12)}: ${m.error ?? 'failed'}`);
			}
		} else if (m.type === 'done') done = { ok: m.ok, failed: m.failed };
		else if (m.type === 'error') error = m.message;
	}
	if (done) ({ ok, failed } = done);
	if (error !== undefined) return { ok: false, text: `Rerun failed: ${error}`, failures };
	if (cancelled) return { ok: false, text: `Rerun cancelled after ${ok + failed} call${ok + failed === 1 ? '' : 's'}`, failures };
	if (failed > 0) return { ok: false, text: `Rerun: ${ok} succeeded, ${failed} failed`, failures };
	return { ok: true, text: `Reran ${ok} call${ok === 1 ? '' : 's'}`, failures };
}

/** The user files the CLI imported (its `module` lines), in order, each once: their top-level code ran. */
export function importedFiles(messages: readonly CliMessage[]): string[] {
	const files = new Set<string>();
	for (const m of messages) if (m.type === 'other' && m.raw.type === 'module' && typeof m.raw.file === 'string') files.add(m.raw.file);
	return [...files];
}

/** What a rerun ran, for people: the calls, and the files whose top-level code the import ran too. */
export function rerunRanText(summaryText: string, files: readonly string[]): string {
	if (files.length === 0) return summaryText;
	return `${summaryText}. Imported ${files.join(', ')}: top-level code there ran too, unless guarded with isRerun().`;
}
