// Pure: what the extension needs to know of the database servers a cache configuration names (PostgreSQL team caches,
// docs/behaviour.md §19): their URLs (configurations carry them without a password), the configuration with the
// passwords the user gave put back in (handed to the store worker only, never shown), and whether a failure asks for a
// password.

/** A storage description as a location's `config` nests it (plain data from fleche/inspect). */
type Described = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Described {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every PostgreSQL URL a cache configuration names (each once, as written: without a password). */
export function serverUrls(config: unknown): string[] {
	const out = new Set<string>();
	const walk = (value: unknown): void => {
		if (Array.isArray(value)) return value.forEach(walk);
		if (!isObject(value)) return;
		if (value.type === 'postgres' && typeof value.url === 'string') out.add(value.url);
		for (const v of Object.values(value)) if (isObject(v) || Array.isArray(v)) walk(v);
	};
	walk(config);
	return [...out];
}

/** The URL with `password` in it (the user part kept; a URL without a user gets none, as `psql` would take it). */
export function urlWithPassword(url: string, password: string): string {
	try {
		const u = new URL(url);
		u.password = encodeURIComponent(password);
		return u.toString();
	} catch {
		return url;
	}
}

/**
 * A copy of `config` whose PostgreSQL storages carry the password given for their URL (`passwords`, by URL without
 * password); what has none given stays as it is (the server's `PGPASSWORD` or ~/.pgpass may answer).
 */
export function withPasswords<T>(config: T, passwords: Readonly<Record<string, string>>): T {
	if (Object.keys(passwords).length === 0) return config;
	const walk = (value: unknown): unknown => {
		if (Array.isArray(value)) return value.map(walk);
		if (!isObject(value)) return value;
		const out: Record<string, unknown> = {};
		for (const [k, v] of Object.entries(value)) out[k] = walk(v);
		const given = value.type === 'postgres' && typeof value.url === 'string' ? passwords[value.url] : undefined;
		if (given !== undefined) out.url = urlWithPassword(value.url as string, given);
		return out;
	};
	return walk(config) as T;
}

/** Whether a store's error says the server wants a password it was not given, or refused the one it was. */
export function asksForPassword(message: string): boolean {
	return /password authentication failed|Cannot log in to the PostgreSQL cache|client password must be a string|no password (was )?(supplied|given)/i.test(
		message,
	);
}

/** `text` with every given password (as written and URL-encoded) replaced by `***`: nothing shown may hold one. */
export function withoutPasswords(text: string, passwords: Iterable<string>): string {
	let out = text;
	for (const p of passwords) {
		if (p === '') continue;
		for (const form of new Set([p, encodeURIComponent(p)])) out = out.split(form).join('***');
	}
	return out;
}
