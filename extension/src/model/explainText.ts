// Explain Miss, as people read it: the whole explanation as a Markdown document, never a toast cut off
// mid-sentence, and what the explanation had to run to be computed.
import type { Explanation } from 'fleche/inspect';

/** How an explanation was computed: by the CLI (`file` is what it imported, if it did), or from the store alone. */
export interface ExplainSource {
	readonly via: 'cli' | 'store';
	/** The user file the CLI imported (its top-level code ran); `undefined` when it imported nothing. */
	readonly imported?: string;
}

/** Text from a store or from the user, set in Markdown code spans: backticks cannot close the span early. */
function code(text: string): string {
	const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
	const fence = '`'.repeat(longest + 1);
	return `${fence}${longest > 0 ? ' ' : ''}${text}${longest > 0 ? ' ' : ''}${fence}`;
}

/** One line of a table cell: pipes and line breaks would split the table. */
function cell(text: string): string {
	return code(text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|'));
}

/** The Markdown document Explain Miss opens: verdict, arguments asked about, differences, nearest call, and what ran. */
export function explanationMarkdown(label: string, argsJson: string, explanation: Explanation, source: ExplainSource): string {
	const lines = [`# Explain: ${code(label)}`, '', `**${explanation.hit ? 'Cached' : 'Miss'}.** ${explanation.message}`, '', `Arguments: ${code(argsJson)}`, ''];
	if (explanation.key !== null) lines.push(`Key: ${code(explanation.key)}`, '');
	if (explanation.differences.length > 0) {
		lines.push('| What differs | Cached call | This call |', '| --- | --- | --- |');
		for (const d of explanation.differences) {
			// An argument, a file or a package (hashCode 'deep') is named: `file src/util.ts`.
			lines.push(`| ${d.name !== undefined ? `${d.field} ${cell(d.name)}` : d.field} | ${cell(d.cached)} | ${cell(d.now)} |`);
		}
		lines.push('');
	}
	if (explanation.nearest !== null) lines.push(`Nearest cached call: ${code(explanation.nearest.key)} (${code(explanation.nearest.argsText)})`, '');
	lines.push(`---`, '', sourceText(explanation, source));
	return lines.join('\n');
}

function sourceText(explanation: Explanation, source: ExplainSource): string {
	if (source.imported !== undefined) {
		return `Computed by the \`fleche\` CLI, which imported ${code(source.imported)}: importing a module runs its top-level code too (guard it with \`isRerun()\` from \`fleche\`).`;
	}
	if (explanation.keyedBy === 'store') {
		return explanation.codeFromFiles === true
			? 'Computed without importing anything: the arguments from the store, the code from its files as they read now (read and parsed, not run).'
			: 'Computed from the store alone: nothing was imported or run. The key assumes the code is unchanged since the newest cached call with these argument names.';
	}
	return source.via === 'cli'
		? 'Computed by the `fleche` CLI without importing anything.'
		: 'Computed from the store alone (the CLI could not run): only arguments and module are compared, not the version or code.';
}
