// Pure: the CLI's JSON lines (runtime/src/cli/protocol.ts, `{"v":1,"type":…}`) as the extension reads them.
// Unknown types are kept (as `other`) so a newer CLI does not break an older extension.

export type CliMessage =
	| { readonly v: 1; readonly type: 'progress'; readonly done: number; readonly total: number }
	| { readonly v: 1; readonly type: 'rerun'; readonly key: string; readonly ok: boolean; readonly error?: string }
	| { readonly v: 1; readonly type: 'done'; readonly ok: number; readonly failed: number }
	| { readonly v: 1; readonly type: 'error'; readonly message: string }
	| { readonly v: 1; readonly type: 'other'; readonly raw: Readonly<Record<string, unknown>> };

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
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
	if (!isRecord(m) || m.v !== 1 || typeof m.type !== 'string') return undefined;
	switch (m.type) {
		case 'progress':
			if (typeof m.done === 'number' && typeof m.total === 'number') return { v: 1, type: 'progress', done: m.done, total: m.total };
			break;
		case 'rerun':
			if (typeof m.key === 'string' && typeof m.ok === 'boolean') {
				return { v: 1, type: 'rerun', key: m.key, ok: m.ok, ...(typeof m.error === 'string' ? { error: m.error } : {}) };
			}
			break;
		case 'done':
			if (typeof m.ok === 'number' && typeof m.failed === 'number') return { v: 1, type: 'done', ok: m.ok, failed: m.failed };
			break;
		case 'error':
			if (typeof m.message === 'string') return { v: 1, type: 'error', message: m.message };
			break;
	}
	return { v: 1, type: 'other', raw: m };
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
