// Passwords of PostgreSQL team caches (docs/behaviour.md §19) whose URL has none and whose server wants one that
// neither PGPASSWORD nor ~/.pgpass gives: asked once in an input box, kept in VS Code's SecretStorage (by the URL
// without password), handed to the store worker in its `open` request and to CLI child processes as PGPASSWORD — never
// on a command line, in a log line, a label or an error message.
import * as vscode from 'vscode';

const keyOf = (url: string): string => `fleche.postgres.password:${url}`;

export class ServerPasswords {
	/** URLs asked for this session: a dismissed prompt is not shown again until an explicit refresh. */
	private readonly asked = new Set<string>();
	private readonly asking = new Map<string, Promise<boolean>>();
	/** Every password seen this session, to scrub from what is shown (the runtime scrubs too; this is a second net). */
	private readonly seen = new Set<string>();

	constructor(private readonly secrets: vscode.SecretStorage) {}

	/** The kept passwords of `urls`, by URL. */
	async get(urls: readonly string[]): Promise<Record<string, string>> {
		const out: Record<string, string> = {};
		for (const url of urls) {
			const password = await this.secrets.get(keyOf(url));
			if (password === undefined || password === '') continue;
			out[url] = password;
			this.seen.add(password);
		}
		return out;
	}

	/** `PGPASSWORD` for a child process working on a cache of `urls` (the first one with a kept password). */
	async env(urls: readonly string[]): Promise<Record<string, string>> {
		const kept = Object.values(await this.get(urls));
		return kept.length > 0 ? { PGPASSWORD: kept[0]! } : {};
	}

	/** Passwords seen this session (for scrubbing). */
	known(): Iterable<string> {
		return this.seen;
	}

	/**
	 * Asks for the password of `url` unless asked already this session; whether one was given (and kept). `refused`:
	 * the kept one was refused, so it is forgotten first.
	 */
	ask(url: string, refused: boolean): Promise<boolean> {
		const pending = this.asking.get(url);
		if (pending !== undefined) return pending;
		if (this.asked.has(url)) return Promise.resolve(false);
		this.asked.add(url);
		const asking = (async () => {
			if (refused) await this.secrets.delete(keyOf(url));
			const password = await vscode.window.showInputBox({
				title: 'Fleche: PostgreSQL password',
				prompt: `${refused ? 'The server refused the kept password. ' : ''}Password for the team cache ${url} (kept in VS Code's secret storage)`,
				password: true,
				ignoreFocusOut: true,
			});
			if (password === undefined || password === '') return false;
			this.seen.add(password);
			await this.secrets.store(keyOf(url), password);
			return true;
		})().finally(() => this.asking.delete(url));
		this.asking.set(url, asking);
		return asking;
	}

	/** An explicit refresh: a dismissed prompt may be shown again. */
	retry(): void {
		this.asked.clear();
	}
}
