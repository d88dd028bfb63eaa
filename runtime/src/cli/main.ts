// docs/behaviour.md §13 (the `fleche` CLI): `fleche ls|show|stats|evict|gc|verify|push|pull|rerun|call|explain|rekey|worker|remote`, on `fleche/inspect`. Human output by
// default, JSON lines with `--json` (protocol.ts). Bad input is one line (stderr, or an `error` line on stdout with
// --json) and exit code 1, or 2 for usage errors.
import { statSync } from 'node:fs';
import { inspect } from 'node:util';
import { Command, CommanderError, Option } from 'commander';
import { durationSeconds } from '../duration.js';
import { cache as useCache } from '../state.js';
import { FlecheError } from '../errors.js';
import { LazyCall } from '../lazyCall.js';
import { Digest } from '../digest.js';
import { setLogger, warn, type LogRecord, type LogSink } from '../log.js';
import { findFleche, isFleche, methodKey, methodParams } from '../wrapper.js';
import { activeCache, runIn } from '../state.js';
import { closeStatsGate, counted } from '../stats.js';
import { enterRerun } from '../rerunMode.js';
import { RefreshingCache } from '../caches/wrapper.js';
import type { CallRecord } from '../call.js';
import { explain, openStore, type FunctionRef, type FunctionSummary, type Store } from '../inspect/index.js';
import { positionalArgs } from '../inspect/explain.js';
import { importUserModule, projectRoot, resolveModuleFile } from './loadModule.js';
import { compiledSources, moduleOf } from '../profile.js';
import { rekey } from '../rekey.js';
import { jsonSafe, PROTOCOL_VERSION, type CliMessage } from './protocol.js';
import { serveRemote } from './remote.js';

/** A usage error: exit code 2. */
class UsageError extends Error {}

/** A class, as a module exports it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any constructor signature
type AnyClass = abstract new (...args: any[]) => object;

interface GlobalOptions {
	cache?: string;
	root?: string;
	cwd?: string;
	json?: boolean;
}

/** Where the CLI writes; replaceable for embedding. */
export interface CliIO {
	readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
	readonly stderr: NodeJS.WritableStream;
}

function oneLine(text: string): string {
	return text.replace(/\s*\n\s*/g, ' ').trim();
}

// C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides and isolates.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const unsafeChars = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with the characters that would drive the terminal (escape sequences that clear it or set its title, bidi
 * overrides that reorder what it shows) written out as `\x1b`/`\u202e`: store contents are untrusted, and human
 * output goes to a terminal. `--json` output is left exact (JSON escapes them itself).
 */
function terminalSafe(text: string): string {
	return text.replace(unsafeChars, (c) => {
		const code = c.charCodeAt(0);
		return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
	});
}

function errorName(err: unknown): string | undefined {
	if (FlecheError.is(err)) return (err as Error).name;
	return undefined;
}

function fmtSeconds(s: number | null): string {
	if (s === null) return '-';
	if (s === 0) return '0s';
	if (Math.round(s * 1e6) < 1000) return `${Math.round(s * 1e6)}µs`;
	if (s < 1) return `${(s * 1e3).toFixed(1)}ms`;
	if (s < 120) return `${s.toFixed(2)}s`;
	return `${(s / 60).toFixed(1)}min`;
}

function fmtBytes(n: number | null): string {
	if (n === null) return '-';
	if (n < 1024) return `${n} B`;
	if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
	return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function fmtTime(t: number | null): string {
	return t === null ? '-' : new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19);
}

function table(rows: readonly (readonly string[])[]): string {
	const widths: number[] = [];
	// Escaped before measuring, so that an escaped cell keeps its column aligned.
	const safe = rows.map((row) => row.map((cell) => terminalSafe(oneLine(cell))));
	for (const row of safe) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
	return safe.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** `name` or `module:name` → the one stored function it names. */
function findFunction(store: Store, spec: string): FunctionSummary {
	const at = spec.lastIndexOf(':');
	const module = at > 0 ? spec.slice(0, at) : undefined;
	const name = at > 0 ? spec.slice(at + 1) : spec;
	const matches = store.functions().filter((f) => f.name === name && (module === undefined || f.module === module));
	if (matches.length === 1) return matches[0]!;
	if (matches.length === 0) throw new FlecheCliError(`No cached function ${spec} in ${store.location.root ?? store.location.name}`);
	throw new FlecheCliError(`${spec} is ambiguous: ${matches.map((f) => `${f.module ?? '?'}:${f.name}`).join(', ')} (use module:name)`);
}

/** A failure with a message meant for the user as is (exit code 1). */
class FlecheCliError extends Error {}

/**
 * The cached function `name` of the module just imported from `file`: registered under the recorded `module`, or,
 * for a call recorded when identities did not follow source maps (module `dist/math.js`), under the source module
 * the file is compiled from (`src/math.ts`; docs/behaviour.md §15.1), when exactly one of its sources has it.
 */
function registered(module: string, name: string, file: string): ReturnType<typeof findFleche> {
	const f = findFleche(module, name);
	if (f !== undefined) return f;
	const found = compiledSources(file)
		.map((source) => findFleche(moduleOf(source), name))
		.filter((g) => g !== undefined);
	return found.length === 1 ? found[0] : undefined;
}

/** `module:name`, `module:*` (every function of the module) or a bare `name`, as `rekey --from/--to` take them. */
function rekeySpec(spec: string): { module?: string; name?: string } {
	const at = spec.lastIndexOf(':');
	if (at < 0) return { name: spec };
	const module = spec.slice(0, at);
	const name = spec.slice(at + 1);
	if (module === '' || name === '') throw new UsageError(`${spec}: give module:name, module:* or name`);
	return name === '*' ? { module } : { module, name };
}

/** The runner of one CLI invocation. */
class Cli {
	#json = false;
	#stores: Store[] = [];

	constructor(private readonly io: CliIO) {}

	emit(message: CliMessage): void {
		this.io.stdout.write(`${JSON.stringify(message)}\n`);
	}

	out(text: string): void {
		const safe = terminalSafe(text);
		this.io.stdout.write(safe.endsWith('\n') ? safe : `${safe}\n`);
	}

	/** A line on stderr, made safe for the terminal. */
	note(text: string): void {
		this.io.stderr.write(`fleche: ${terminalSafe(oneLine(text))}\n`);
	}

	readonly #announced = new Set<string>();

	/** Says which file of the user's is about to be imported (and so run), once per file. */
	#announce(file: string, module: string, project: string): void {
		if (this.#announced.has(file)) return;
		this.#announced.add(file);
		if (this.#json) this.emit({ v: PROTOCOL_VERSION, type: 'module', module, file, project });
		// Importing runs the module's top-level code, not only the cached function: say so where the user looks.
		else this.note(`importing ${file} (module ${module} of ${project}): its top-level code runs too, unless it checks isRerun() from 'fleche'`);
	}

	get json(): boolean {
		return this.#json;
	}

	setJson(on: boolean): void {
		this.#json = on;
	}

	fail(err: unknown, usage: boolean): number {
		const message = oneLine(err instanceof Error ? err.message : String(err));
		const name = errorName(err);
		if (this.#json) this.emit({ v: PROTOCOL_VERSION, type: 'error', message, ...(name !== undefined ? { error: name } : {}) });
		else this.note(message);
		return usage ? 2 : 1;
	}

	open(opts: GlobalOptions): Store {
		if (opts.cache !== undefined && opts.root !== undefined) throw new UsageError('Give --cache NAME or --root PATH, not both');
		const cwd = opts.cwd;
		if (cwd !== undefined) {
			let isDir = false;
			try {
				isDir = statSync(cwd).isDirectory();
			} catch {
				// reported below
			}
			if (!isDir) throw new UsageError(`--cwd ${cwd} is not a folder`);
		}
		const store =
			opts.root !== undefined
				? openStore(opts.root.startsWith('.') || opts.root.includes('/') || opts.root.includes('\\') ? opts.root : `./${opts.root}`, { ...(cwd !== undefined ? { cwd } : {}) })
				: openStore(opts.cache ?? 'default', { ...(cwd !== undefined ? { cwd } : {}) });
		this.#stores.push(store);
		return store;
	}

	close(): void {
		for (const s of this.#stores) s.close();
	}

	ls(opts: GlobalOptions & { limit: number; offset: number }, spec: string | undefined): void {
		const store = this.open(opts);
		if (spec === undefined) {
			const functions = store.functions();
			if (this.#json) return this.emit({ v: PROTOCOL_VERSION, type: 'functions', cache: store.location, functions });
			if (functions.length === 0) return this.out(`No cached calls in ${store.location.root ?? store.location.name}`);
			const rows = [['FUNCTION', 'MODULE', 'CALLS', 'HITS', 'MISSES', 'SAVED']];
			for (const f of functions) rows.push([f.name, f.module ?? '-', String(f.calls), String(f.hits), String(f.misses), fmtSeconds(f.savedSeconds)]);
			return this.out(table(rows));
		}
		const fn = findFunction(store, spec);
		const ref: FunctionRef = { module: fn.module, name: fn.name };
		const page = store.calls(ref, { offset: opts.offset, limit: opts.limit });
		if (this.#json) return this.emit({ v: PROTOCOL_VERSION, type: 'calls', function: ref, total: page.total, offset: opts.offset, calls: page.calls });
		// An EXPIRES column only where calls have a max age (docs/behaviour.md §18): `expired` once they are past it.
		const expiring = page.calls.some((c) => c.maxAge !== null);
		const rows = [['KEY', 'CREATED', ...(expiring ? ['EXPIRES'] : []), 'DURATION', 'SIZE', 'HITS', 'ARGUMENTS']];
		const keys = page.calls.length > 1 ? store.cache.shrink(...page.calls.map((c) => c.key)) : page.calls.map((c) => store.cache.shrink(c.key));
		page.calls.forEach((c, i) =>
			rows.push([
				keys[i]!,
				fmtTime(c.created),
				...(expiring ? [c.expired ? 'expired' : fmtTime(c.expiresAt)] : []),
				fmtSeconds(c.duration),
				fmtBytes(c.size),
				String(c.hits),
				c.argsText,
			]),
		);
		this.out(table(rows));
		const shown = page.calls.length;
		if (shown === 0 && page.total > 0) this.out(`(0 of ${page.total} shown; --offset/--limit for more)`);
		else if (shown < page.total) this.out(`(${opts.offset + 1}–${opts.offset + shown} of ${page.total}; --offset/--limit for more)`);
	}

	show(opts: GlobalOptions, prefix: string): void {
		const store = this.open(opts);
		const call = store.call(prefix);
		const render = (v: unknown): string => inspect(v, { depth: 6, colors: false, breakLength: 100, maxArrayLength: 100 });
		const argumentsText: Record<string, string> = {};
		for (const name in call.arguments) argumentsText[name] = render(call.arguments[name]);
		const resultText = call.result.ok ? render(call.result.value) : `<${call.result.error}>`;
		if (this.#json) {
			const safe = {
				...call,
				arguments: jsonSafe(call.arguments) as Record<string, unknown>,
				result: call.result.ok ? { ok: true as const, value: jsonSafe(call.result.value) } : call.result,
			};
			return this.emit({ v: PROTOCOL_VERSION, type: 'call', call: safe, argumentsText, resultText });
		}
		const lines = [
			`key:         ${call.key}`,
			`function:    ${call.module ?? '?'}:${call.name}`,
			`version:     ${call.version === null ? '-' : String(call.version)}`,
			`code digest: ${call.codeDigest ?? '-'}`,
			`created:     ${fmtTime(call.created)}`,
			...(call.maxAge !== null ? [`expires:     ${call.expired ? `expired (max age ${fmtSeconds(call.maxAge)})` : `${fmtTime(call.expiresAt)} (max age ${fmtSeconds(call.maxAge)})`}`] : []),
			`duration:    ${fmtSeconds(call.duration)}`,
			`size:        ${fmtBytes(call.size)}`,
			`hits:        ${call.hits}   misses: ${call.misses}   last hit: ${fmtTime(call.lastHit)}`,
			'arguments:',
			...Object.entries(argumentsText).map(([k, v]) => `  ${k} = ${v.replace(/\n/g, '\n    ')}`),
			`result:      ${resultText.replace(/\n/g, '\n  ')}`,
			'metadata:',
			...Object.entries(call.metadata).map(([ns, v]) => `  ${ns}: ${inspect(v, { depth: 3, breakLength: Infinity, colors: false })}`),
		];
		this.out(lines.join('\n'));
	}

	stats(opts: GlobalOptions): void {
		const store = this.open(opts);
		const totals = store.totals();
		const functions = store.functions();
		if (this.#json) return this.emit({ v: PROTOCOL_VERSION, type: 'stats', cache: store.location, totals, functions });
		const ratio = totals.hits + totals.misses > 0 ? ` (${((100 * totals.hits) / (totals.hits + totals.misses)).toFixed(1)}% hits)` : '';
		this.out(
			[
				`cache:     ${store.location.name} (${store.location.kind}${store.location.root !== null ? ` at ${store.location.root}` : ''})`,
				`calls:     ${totals.calls} in ${totals.functions} function${totals.functions === 1 ? '' : 's'}`,
				`hits:      ${totals.hits}   misses: ${totals.misses}${ratio}`,
				`saved:     ${fmtSeconds(totals.savedSeconds)}`,
			].join('\n'),
		);
	}

	evict(opts: GlobalOptions & { function?: string; all?: boolean }, prefixes: readonly string[]): void {
		const modes = [prefixes.length > 0, opts.function !== undefined, opts.all === true].filter(Boolean).length;
		if (modes !== 1) throw new UsageError('evict needs exactly one of: <key-prefix…>, --function F, --all');
		const store = this.open(opts);
		let count: number;
		if (opts.all) count = store.clear();
		else if (opts.function !== undefined) count = store.evictFunction(findFunction(store, opts.function));
		else count = store.evict(prefixes);
		if (this.#json) return this.emit({ v: PROTOCOL_VERSION, type: 'evicted', count });
		this.out(`Evicted ${count} call${count === 1 ? '' : 's'}`);
	}

	gc(opts: GlobalOptions & { grace?: number; olderThan?: string; dryRun?: boolean }): void {
		let olderThan: number | undefined;
		if (opts.olderThan !== undefined) {
			try {
				olderThan = durationSeconds(opts.olderThan, '--older-than');
			} catch (err) {
				throw new UsageError((err as Error).message);
			}
		}
		const report = this.open(opts).collect({
			...(opts.grace !== undefined ? { graceSeconds: opts.grace } : {}),
			...(olderThan !== undefined ? { olderThan } : {}),
			...(opts.dryRun === true ? { dryRun: true } : {}),
		});
		if (this.#json) {
			return this.emit({
				v: PROTOCOL_VERSION,
				type: 'gc',
				removed: report.values,
				...(olderThan !== undefined ? { calls: report.calls } : {}),
				...(report.dryRun ? { dryRun: true } : {}),
			});
		}
		const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
		const calls = olderThan !== undefined ? `${plural(report.calls, 'call')} older than ${opts.olderThan!} and ` : '';
		if (report.dryRun) this.out(`Would remove ${calls}up to ${plural(report.values, 'orphaned value')} (dry run: nothing removed; values written within the grace period stay)`);
		else this.out(`Removed ${calls}${plural(report.values, 'orphaned value')}`);
	}

	/**
	 * `push OTHER` copies the calls of the selected cache to OTHER, `pull OTHER` the calls of OTHER into the selected
	 * one (records with their values, through the storages' own checks: a damaged source entry is skipped with a
	 * warning). Calls the target holds are left alone unless `overwrite`. Exit 1 when a call could not be copied.
	 */
	transfer(opts: GlobalOptions & { function?: string; overwrite?: boolean; dryRun?: boolean }, direction: 'push' | 'pull', other: string): number {
		const here = this.open(opts);
		const there = this.open({ cache: other, ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}) });
		const [from, to] = direction === 'push' ? [here, there] : [there, here];
		const same = (a: Store, b: Store): boolean => JSON.stringify(a.location.config) === JSON.stringify(b.location.config);
		if (same(from, to)) throw new UsageError(`${direction} needs two different caches: ${from.location.name} and ${to.location.name} are the same store`);
		if (to.location.readOnly) throw new UsageError(`Cannot ${direction} into ${to.location.name}: its configuration makes it read-only`);
		const fn = opts.function !== undefined ? findFunction(from, opts.function) : undefined;
		const dryRun = opts.dryRun === true;
		let copied = 0;
		let present = 0;
		let failed = 0;
		for (const call of from.cache.query(fn === undefined ? {} : { name: fn.name, module: fn.module })) {
			if (opts.overwrite !== true && to.cache.contains(call.key)) {
				present++;
				continue;
			}
			if (dryRun) {
				copied++;
				continue;
			}
			try {
				to.cache.importCall(call, true);
				copied++;
			} catch (err) {
				failed++;
				warn('FLECHE_TRANSFER_FAILED', `Cannot copy ${call.key} (${call.name}) to ${to.location.name}: ${err instanceof Error ? err.message : String(err)}`);
			}
		}
		if (this.#json) {
			this.emit({ v: PROTOCOL_VERSION, type: 'transfer', from: from.location.name, to: to.location.name, copied, present, failed, dryRun });
		} else {
			const calls = (n: number): string => `${n} call${n === 1 ? '' : 's'}`;
			const parts = [`${dryRun ? 'Would copy' : 'Copied'} ${calls(copied)} from ${from.location.name} to ${to.location.name}`];
			if (present > 0) parts.push(`${present} already there${opts.overwrite === true ? '' : ' (left alone; --overwrite replaces them)'}`);
			if (failed > 0) parts.push(`${failed} failed`);
			this.out(parts.join('; '));
		}
		return failed > 0 ? 1 : 0;
	}

	verify(opts: GlobalOptions & { delete?: boolean }, sink: LogSink): number {
		const store = this.open(opts);
		// Each damaged entry is this command's report, not a warning besides it.
		setLogger(null);
		let report;
		try {
			report = store.verify({ remove: opts.delete === true });
		} finally {
			setLogger(sink);
		}
		if (this.#json) this.emit({ v: PROTOCOL_VERSION, type: 'verify', ...report });
		else {
			const lines = report.damaged.map((d) => `damaged ${d.kind} ${d.key}: ${d.reason}`);
			const n = report.damaged.length;
			lines.push(
				n === 0
					? `Checked ${report.checked} entries: none damaged`
					: `Checked ${report.checked} entries: ${n} damaged${opts.delete ? `, ${report.removed} removed` : ' (fleche verify --delete removes them)'}`,
			);
			this.out(lines.join('\n'));
		}
		return report.damaged.length > report.removed ? 1 : 0;
	}

	/** The checked file of a recorded module path (see {@link resolveModuleFile}), announced before it is imported. */
	#moduleFile(store: Store, opts: GlobalOptions, module: string): string {
		const project = projectRoot(opts.cwd);
		const file = resolveModuleFile(module, { project, storeRoot: store.location.root });
		this.#announce(file, module, project);
		return file;
	}

	/** Imports the module of a recorded function and returns the live cached function. */
	async #load(store: Store, opts: GlobalOptions, fn: FunctionRef): Promise<NonNullable<ReturnType<typeof findFleche>>> {
		if (fn.module === null) throw new FlecheCliError(`${fn.name} was cached without a module (hashModule: false): there is no module to import`);
		const file = this.#moduleFile(store, opts, fn.module);
		await importUserModule(file);
		const f = registered(fn.module, fn.name, file);
		if (f === undefined) {
			if (fn.name.includes('.')) throw new FlecheCliError(`${fn.name} looks like an @fleche() class method: explain works on cached functions`);
			throw new FlecheCliError(`${file} does not define a cached function ${fn.name} (module ${fn.module})`);
		}
		return f;
	}

	/**
	 * Imports the module of a recorded call and rebuilds the call, to be run again under the store's cache with
	 * {@link RefreshingCache} (the `rerun` helper's semantics). A cached function is found in the registry its module
	 * fills at import. A method decorated with `@fleche()` registers nothing (its class is only known once `this`
	 * exists): its class is taken from the module's exports, and `this` rebuilt on its prototype from the stored
	 * fields, which are what its digest is made of. `onNewKey` hears of a key that differs from the recorded one (the
	 * function's identity changed since).
	 */
	async #rebuild(store: Store, opts: GlobalOptions, record: CallRecord, named: Record<string, unknown>, onNewKey: (key: string) => void): Promise<() => unknown> {
		const { module, name } = record;
		if (module === null) throw new FlecheCliError(`${name} was cached without a module (hashModule: false): there is no module to import`);
		const file = this.#moduleFile(store, opts, module);
		const exports = await importUserModule(file);
		const f = registered(module, name, file);
		if (f !== undefined) {
			const args = positionalArgs(f.fleche.params, named);
			return () =>
				useCache(store.cache, () => {
					const k = f.fleche.digest(...args);
					if (k !== record.key) onNewKey(k);
					return f.fleche.rerun(...args) as unknown;
				});
		}
		const dot = name.lastIndexOf('.');
		if (dot < 0 || !('this' in named)) throw new FlecheCliError(`${file} does not define a cached function ${name} (module ${module})`);
		const [className, methodName] = [name.slice(0, dot), name.slice(dot + 1)];
		const owner = Object.values(exports).find(
			(v): v is AnyClass => typeof v === 'function' && v.name === className && isFleche((v.prototype as Record<string, unknown> | undefined)?.[methodName]),
		);
		if (owner === undefined) throw new FlecheCliError(`${file} does not export a class ${className} with an @fleche() method ${methodName}, so the call cannot be rebuilt`);
		const self = named['this'];
		if (typeof self !== 'object' || self === null) throw new FlecheCliError(`the stored \`this\` of ${name} is not an object`);
		const instance = Object.assign(Object.create(owner.prototype as object) as object, self);
		const method = (owner.prototype as Record<string, (...a: unknown[]) => unknown>)[methodName]!;
		const { this: _, ...rest } = named;
		const args = positionalArgs(methodParams(method, instance) ?? [], rest);
		return () =>
			useCache(store.cache, () => {
				const k = methodKey(method, instance, args);
				if (k !== record.key) onNewKey(k);
				return runIn({ cache: new RefreshingCache(activeCache()) }, () => method.apply(instance, args));
			});
	}

	/**
	 * Marks this process as a rerun's for the user's module (`isRerun()`) and stops counting statistics but for the
	 * CLI's own calls ({@link counted}): what the module's top-level code calls on import is not the user's. For the
	 * rest of the process: the module stays imported, and what it started may still be running.
	 */
	#asRerun(): void {
		enterRerun();
		closeStatsGate();
	}

	async rerun(opts: GlobalOptions & { function?: string }, prefix: string | undefined): Promise<number> {
		if ((prefix === undefined) === (opts.function === undefined)) throw new UsageError('rerun needs exactly one of: <key-prefix>, --function F');
		const store = this.open(opts);
		const keys: string[] = [];
		if (prefix !== undefined) keys.push(store.call(prefix).key);
		else {
			const fn = findFunction(store, opts.function!);
			const all = store.calls(fn, { limit: Number.MAX_SAFE_INTEGER });
			keys.push(...all.calls.map((c) => c.key).reverse()); // oldest first: rerun in the order they were made
		}
		this.#asRerun();
		const total = keys.length;
		const bar = !this.#json && this.io.stdout.isTTY === true && total > 1 ? await progressBar(total) : undefined;
		let ok = 0;
		let failed = 0;
		const errors: string[] = [];
		for (const [done, key] of keys.entries()) {
			if (this.#json) this.emit({ v: PROTOCOL_VERSION, type: 'progress', done, total });
			let newKey: string | undefined;
			try {
				const record = store.cache.loadRecord(key);
				const named = { ...new LazyCall(record, store.cache).arguments };
				for (const name in named) {
					if (Digest.is(named[name])) throw new FlecheCliError(`argument ${name} was stored as a digest only (its value could not be saved), so the call cannot be rerun`);
				}
				const run = await this.#rebuild(store, opts, record, named, (k) => (newKey = k));
				await counted(run);
				ok++;
				if (this.#json) this.emit({ v: PROTOCOL_VERSION, type: 'rerun', key, ok: true, ...(newKey !== undefined ? { newKey } : {}) });
			} catch (err) {
				failed++;
				const message = oneLine(err instanceof Error ? err.message : String(err));
				if (this.#json) this.emit({ v: PROTOCOL_VERSION, type: 'rerun', key, ok: false, error: message });
				else errors.push(`${key.slice(0, 12)}: ${message}`);
			}
			bar?.update(done + 1);
		}
		bar?.stop();
		if (this.#json) {
			this.emit({ v: PROTOCOL_VERSION, type: 'progress', done: total, total });
			this.emit({ v: PROTOCOL_VERSION, type: 'done', ok, failed });
		} else {
			for (const e of errors) this.io.stderr.write(`fleche: rerun failed: ${e}\n`);
			this.out(`Reran ${ok} call${ok === 1 ? '' : 's'}${failed > 0 ? `, ${failed} failed` : ''}`);
		}
		return failed > 0 ? 1 : 0;
	}

	/**
	 * `fleche rekey`: carries the stored calls of renamed or moved functions over to their new identity (../rekey.ts).
	 * `--from`/`--to` name one move; `--source-maps` finds the moves itself: every stored function whose module is a
	 * compiled file of the project naming a source map with one source goes to that source's module (stores written
	 * before identities followed source maps; docs/behaviour.md §15).
	 */
	rekey(opts: GlobalOptions & { from?: string; to?: string; sourceMaps?: boolean; dryRun?: boolean; keep?: boolean }): void {
		if (opts.sourceMaps === true ? opts.from !== undefined || opts.to !== undefined : opts.from === undefined || opts.to === undefined) {
			throw new UsageError('rekey needs --from and --to, or --source-maps');
		}
		const store = this.open(opts);
		const moves = opts.sourceMaps === true ? this.#sourceMapMoves(store, opts) : this.#namedMoves(store, opts.from!, opts.to!);
		const dryRun = opts.dryRun === true;
		const lines: string[] = [];
		for (const { from, to } of moves) {
			const report = rekey(store.cache, from, to, { dryRun, keep: opts.keep === true });
			if (this.#json) {
				const { matched, written, existing, removed, stale } = report;
				this.emit({ v: PROTOCOL_VERSION, type: 'rekeyed', from, to, dryRun, matched, written, existing, removed, stale });
				continue;
			}
			const extra = [
				report.existing > 0 ? `${report.existing} already there` : '',
				report.stale > 0 ? `${report.stale} of another key scheme left alone` : '',
				`${report.removed} old record${report.removed === 1 ? '' : 's'} ${dryRun ? 'to remove' : 'removed'}`,
			].filter((t) => t !== '');
			lines.push(
				`${from.module ?? '?'}:${from.name} → ${to.module ?? '?'}:${to.name}: ${report.written} call${report.written === 1 ? '' : 's'} ${dryRun ? 'to rekey' : 'rekeyed'} (${extra.join(', ')})`,
			);
		}
		if (this.#json) return;
		if (moves.length === 0) lines.push('Nothing to rekey');
		else if (dryRun) lines.push('(dry run: nothing written)');
		this.out(lines.join('\n'));
	}

	#namedMoves(store: Store, fromSpec: string, toSpec: string): { from: FunctionRef; to: FunctionRef }[] {
		const from = rekeySpec(fromSpec);
		const to = rekeySpec(toSpec);
		const functions = store.functions();
		if (from.name === undefined) {
			if (to.name !== undefined) throw new UsageError('--from module:* moves every function of a module under its own name: give --to module:*');
			const of = functions.filter((f) => f.module === from.module);
			if (of.length === 0) throw new FlecheCliError(`No cached function in module ${from.module ?? '?'} in ${store.location.root ?? store.location.name}`);
			return of.map((f) => ({ from: { module: f.module, name: f.name }, to: { module: to.module ?? f.module, name: f.name } }));
		}
		const fn = findFunction(store, from.module === undefined ? from.name : `${from.module}:${from.name}`);
		return [{ from: { module: fn.module, name: fn.name }, to: { module: to.module ?? fn.module, name: to.name ?? fn.name } }];
	}

	#sourceMapMoves(store: Store, opts: GlobalOptions): { from: FunctionRef; to: FunctionRef }[] {
		const project = projectRoot(opts.cwd);
		const moves: { from: FunctionRef; to: FunctionRef }[] = [];
		for (const f of store.functions()) {
			if (f.module === null || !/\.[cm]?js$/.test(f.module)) continue;
			let file: string;
			try {
				file = resolveModuleFile(f.module, { project, storeRoot: store.location.root });
			} catch {
				continue; // not a file of this project: nothing to read its map from
			}
			const sources = compiledSources(file);
			if (sources.length > 1) {
				this.note(`${f.module}:${f.name} is compiled from ${sources.length} sources (a bundle): give it --from and --to`);
				continue;
			}
			const module = sources.length === 1 ? moduleOf(sources[0]!) : f.module;
			if (module !== f.module) moves.push({ from: { module: f.module, name: f.name }, to: { module, name: f.name } });
		}
		return moves;
	}

	/**
	 * `fleche worker`: serves a BullMQ queue (fleche/bullmq) until SIGTERM or SIGINT, which finish the running jobs
	 * and resolve with the signal's exit status (143, 130); a second signal exits at once. A SIGKILL leaves the running jobs to BullMQ's stalled-job
	 * recovery: another worker takes them once their lock expires. Like `rerun`, it imports the user's modules
	 * (`isRerun()` is true), and counts only the calls it runs.
	 */
	async worker(opts: GlobalOptions & { redis: string; queue: string; concurrency: number; lockDuration?: number; stalledInterval?: number }): Promise<number> {
		if (opts.concurrency < 1) throw new UsageError('--concurrency must be at least 1');
		const project = projectRoot(opts.cwd);
		this.#asRerun();
		const { bullmqWorker } = await import('./worker.js');
		const worker = await bullmqWorker({
			url: opts.redis,
			queue: opts.queue,
			project,
			concurrency: opts.concurrency,
			...(opts.lockDuration !== undefined ? { lockDuration: opts.lockDuration } : {}),
			...(opts.stalledInterval !== undefined ? { stalledInterval: opts.stalledInterval } : {}),
		});
		let lastError = '';
		worker.on('error', (err: Error) => {
			// BullMQ reconnects by itself; say each new trouble once.
			if (err.message !== lastError) this.note(`worker: ${(lastError = err.message)}`);
		});
		worker.on('failed', (job, err: Error) => {
			if (job !== undefined) this.note(`job ${job.id ?? '?'} (${job.name}) failed: ${err.message}`);
		});
		const where = opts.redis.replace(/\/\/[^@/]*@/, '//');
		if (this.#json) this.emit({ v: PROTOCOL_VERSION, type: 'worker', queue: opts.queue, redis: where, project, concurrency: opts.concurrency });
		else this.out(`fleche worker: serving queue ${opts.queue} on ${where} for ${project} (concurrency ${opts.concurrency})`);
		return new Promise<number>((resolve) => {
			let stopping = false;
			// Listening until the end (not `once`): the runtime's own signal hook (shutdown.ts) re-raises a signal
			// nobody else listens to, which would end the process before the running jobs finish.
			const stop = (status: number): void => {
				if (stopping) {
					// A second signal: stop now; the running jobs are left to BullMQ's stalled-job recovery.
					process.exit(status);
				}
				stopping = true;
				const done = (): void => {
					process.off('SIGTERM', onTerm);
					process.off('SIGINT', onInt);
					resolve(status);
				};
				void worker.close().then(done, done);
			};
			const onTerm = (): void => stop(143);
			const onInt = (): void => stop(130);
			process.on('SIGTERM', onTerm);
			process.on('SIGINT', onInt);
		});
	}

	/** The function a `<function>` argument names: `module:name`, or a name that one stored function has. */
	#functionRef(store: Store, spec: string): FunctionRef {
		const at = spec.lastIndexOf(':');
		if (at > 0) return { module: spec.slice(0, at), name: spec.slice(at + 1) };
		const known = store.functions().filter((f) => f.name === spec);
		if (known.length > 1) throw new FlecheCliError(`${spec} is ambiguous: ${known.map((f) => `${f.module ?? '?'}:${f.name}`).join(', ')} (use module:name)`);
		if (known.length === 0) throw new FlecheCliError(`No cached function ${spec}: give it as module:name`);
		return { module: known[0]!.module, name: spec };
	}

	/**
	 * Calls a cached function with new arguments under the store's cache, as the user's code would: a hit returns the
	 * stored result, a miss runs the function (imported from its module, like rerun) and stores it. Counted in the
	 * statistics like any call of the user's.
	 */
	async call(opts: GlobalOptions, spec: string, argsJson: string): Promise<number> {
		const parsed = parseArgsJson(argsJson);
		const store = this.open(opts);
		const ref = this.#functionRef(store, spec);
		this.#asRerun();
		const f = await this.#load(store, opts, ref);
		const args = Array.isArray(parsed) ? parsed : positionalArgs(f.fleche.params, parsed);
		const key = useCache(store.cache, () => f.fleche.digest(...args));
		const hit = store.cache.contains(key);
		const render = (v: unknown): string => inspect(v, { depth: 6, colors: false, breakLength: 100, maxArrayLength: 100 });
		let outcome: { ok: true; resultText: string } | { ok: false; error: string };
		try {
			const value = await counted(() => useCache(store.cache, () => f(...args) as unknown));
			outcome = { ok: true, resultText: render(value) };
		} catch (err) {
			outcome = { ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
		}
		if (this.#json) this.emit({ v: PROTOCOL_VERSION, type: 'ran', function: ref, key, hit, ...outcome });
		else if (outcome.ok) this.out(`${hit ? 'hit' : 'miss, computed and stored'}: ${store.cache.shrink(key)}\nresult: ${outcome.resultText.replace(/\n/g, '\n  ')}`);
		else this.io.stderr.write(`fleche: ${ref.name} threw: ${oneLine(outcome.error)}\n`);
		return outcome.ok ? 0 : 1;
	}

	async explain(opts: GlobalOptions & { import?: boolean }, spec: string, argsJson: string): Promise<void> {
		const parsed = parseArgsJson(argsJson);
		const store = this.open(opts);
		const ref = this.#functionRef(store, spec);
		// Arguments by name that a cached call of the function has exactly: the store keys the call, nothing is imported.
		// Otherwise (positional arguments, other names, --import) the module is imported to key it as it would run now.
		const project = { project: projectRoot(opts.cwd) };
		let explanation = Array.isArray(parsed) || opts.import === true ? undefined : useCache(store.cache, () => explain(store, ref, parsed, project));
		if (explanation?.keyedBy !== 'store') {
			this.#asRerun();
			const f = await this.#load(store, opts, ref);
			let named: Record<string, unknown>;
			if (Array.isArray(parsed)) {
				named = {};
				const params = f.fleche.params;
				parsed.forEach((v, i) => {
					named[params[i] ?? `#${i}`] = v;
				});
			} else named = parsed;
			explanation = useCache(store.cache, () => explain(store, ref, named, project));
		}
		if (this.#json) return this.emit({ v: PROTOCOL_VERSION, type: 'explain', function: ref, explanation });
		const lines = [explanation.message];
		for (const d of explanation.differences) {
			lines.push(`  ${d.name !== undefined ? `${d.field} ${d.name}` : d.field}: cached ${d.cached}  now ${d.now}`);
		}
		lines.push(
			explanation.keyedBy !== 'store'
				? `(keyed by ${ref.name} as imported from its module now)`
				: explanation.codeFromFiles === true
					? `(nothing imported: the store's arguments, and the code of ${ref.name} as its files read now)`
					: `(from the store alone, nothing imported: assumes the code of ${ref.name} is unchanged since its newest cached call; --import compares with the current code)`,
		);
		this.out(lines.join('\n'));
	}
}

/** `<args-json>`: an object of arguments by parameter name, or an array of positional ones. */
function parseArgsJson(argsJson: string): Record<string, unknown> | unknown[] {
	let parsed: unknown;
	try {
		parsed = JSON.parse(argsJson);
	} catch (err) {
		throw new UsageError(`<args-json> is not JSON: ${(err as Error).message}`);
	}
	if (typeof parsed !== 'object' || parsed === null) throw new UsageError('<args-json> must be a JSON object (by parameter name) or array (positional)');
	return parsed as Record<string, unknown> | unknown[];
}

async function progressBar(total: number): Promise<{ update(n: number): void; stop(): void }> {
	const { SingleBar, Presets } = (await import('cli-progress')).default;
	const bar = new SingleBar({ format: 'rerun [{bar}] {value}/{total} {eta_formatted}', hideCursor: true, stream: process.stdout }, Presets.shades_classic);
	bar.start(total, 0);
	return bar;
}

function positiveInt(name: string): (value: string) => number {
	return (value) => {
		const n = Number(value);
		if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name} must be a whole number ≥ 0, got ${value}`);
		return n;
	};
}

/**
 * Runs the `fleche` command line with `argv` (as `process.argv`: node, script, then arguments) and resolves to the exit
 * code: 0 success, 1 failure, 2 usage error.
 * @example
 * ```ts
 * process.exitCode = await main(process.argv);
 * ```
 */
export async function main(argv: readonly string[] = process.argv, io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
	const cli = new Cli(io);
	cli.setJson(argv.includes('--json'));
	// Warnings (corrupt entries skipped, …) go to stderr as one line each, never into the JSON on stdout.
	const sink = (r: LogRecord): void => void io.stderr.write(`fleche: warning: ${terminalSafe(oneLine(r.message))}\n`);
	setLogger(sink);
	let code = 0;
	const program = new Command('fleche')
		.description('Inspect and manage fleche caches')
		.addOption(new Option('--cache <name>', 'cache name from fleche.toml (default: "default")'))
		.addOption(new Option('--root <path>', 'store folder (values/ and calls/ or calls.db)'))
		.addOption(new Option('--cwd <dir>', 'folder whose fleche.toml and project apply (default: the working directory)'))
		.addOption(new Option('--json', 'JSON lines on stdout'))
		.exitOverride()
		.configureOutput({ writeErr: () => {}, writeOut: (s) => io.stdout.write(s) })
		.showSuggestionAfterError(false);
	const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals();

	program
		.command('ls')
		.description('list cached functions, or the calls of one (newest first)')
		.argument('[function]', 'name or module:name')
		.option('--limit <n>', 'calls per page', positiveInt('--limit'), 50)
		.option('--offset <n>', 'calls to skip', positiveInt('--offset'), 0)
		.action((spec: string | undefined, _o, cmd: Command) => cli.ls(cmd.optsWithGlobals<GlobalOptions & { limit: number; offset: number }>(), spec));
	program
		.command('show')
		.description('show one call: arguments, result, metadata, statistics')
		.argument('<key-prefix>')
		.action((prefix: string, _o, cmd: Command) => cli.show(globals(cmd), prefix));
	program
		.command('stats')
		.description('hit/miss statistics of the cache')
		.action((_o, cmd: Command) => cli.stats(globals(cmd)));
	program
		.command('evict')
		.description('remove calls: by key prefix, every call of a function, or all')
		.argument('[key-prefix...]')
		.option('--function <f>', 'every call of this function (name or module:name)')
		.option('--all', 'every call in the cache')
		.action((prefixes: string[], _o, cmd: Command) => cli.evict(cmd.optsWithGlobals<GlobalOptions & { function?: string; all?: boolean }>(), prefixes));
	program
		.command('gc')
		.description('remove values no call refers to, and temporaries of killed writers')
		.option('--grace <seconds>', 'keep values written or used this recently (a writer may be committing a call that needs them)', positiveInt('--grace'))
		.option('--older-than <duration>', 'first evict the calls computed longer ago than this (seconds, or 90s, 15m, 12h, 7d, 2w)')
		.option('--dry-run', 'remove nothing; say what would be removed')
		.action((_o, cmd: Command) => cli.gc(cmd.optsWithGlobals<GlobalOptions & { grace?: number; olderThan?: string; dryRun?: boolean }>()));
	program
		.command('verify')
		.description('read every call and value and report the damaged ones (exit 1 when there are); --delete removes them')
		.option('--delete', 'remove the damaged entries')
		.action((_o, cmd: Command) => {
			code = cli.verify(cmd.optsWithGlobals<GlobalOptions & { delete?: boolean }>(), sink);
		});
	for (const [direction, what] of [
		['push', 'copy the calls of this cache (--cache, --root; default "default") to another cache of fleche.toml, e.g. a team store'],
		['pull', 'copy the calls of another cache of fleche.toml, e.g. a team store, into this one (--cache, --root; default "default")'],
	] as const) {
		program
			.command(direction)
			.description(`${what}, with their values; calls already there are left alone`)
			.argument('<cache>', direction === 'push' ? 'the target cache (a section of fleche.toml)' : 'the source cache (a section of fleche.toml)')
			.option('--function <f>', 'only the calls of this function (name or module:name)')
			.option('--overwrite', 'replace calls the target already holds')
			.option('--dry-run', 'count what would be copied, copy nothing')
			.action((other: string, _o, cmd: Command) => {
				code = cli.transfer(cmd.optsWithGlobals<GlobalOptions & { function?: string; overwrite?: boolean; dryRun?: boolean }>(), direction, other);
			});
	}
	program
		.command('rerun')
		.description("run calls again with their stored arguments and overwrite them (imports the function's module, which runs its top-level code: guard it with isRerun())")
		.argument('[key-prefix]')
		.option('--function <f>', 'every call of this function (name or module:name)')
		.action(async (prefix: string | undefined, _o, cmd: Command) => {
			code = await cli.rerun(cmd.optsWithGlobals(), prefix);
		});
	program
		.command('call')
		.description("call a cached function with new arguments under this cache: a hit returns the stored result, a miss runs it and stores it (imports the function's module, which runs its top-level code: guard it with isRerun())")
		.argument('<function>', 'name or module:name')
		.argument('<args-json>', 'arguments as a JSON object (by name) or array (positional)')
		.action(async (spec: string, argsJson: string, _o, cmd: Command) => {
			code = await cli.call(cmd.optsWithGlobals(), spec, argsJson);
		});
	program
		.command('worker')
		.description("run the cached calls submitted to a BullMQ queue by bullmqExecutor() (fleche/bullmq); imports their modules from the project (--cwd), whose top-level code runs too: guard it with isRerun()")
		.requiredOption('--redis <url>', 'Redis URL (redis://host:port)')
		.requiredOption('--queue <name>', 'queue name, as given to bullmqExecutor()')
		.option('--concurrency <n>', 'jobs run at once (async functions overlap; synchronous ones take turns)', positiveInt('--concurrency'), 1)
		.option('--lock-duration <ms>', "how long a job's lock lasts without renewal (BullMQ lockDuration)", positiveInt('--lock-duration'))
		.option('--stalled-interval <ms>', 'how often stalled jobs (of killed workers) are looked for (BullMQ stalledInterval)', positiveInt('--stalled-interval'))
		.action(async (_o, cmd: Command) => {
			code = await cli.worker(cmd.optsWithGlobals());
		});
	program
		.command('rekey')
		.description('carry the stored calls of a renamed or moved function over to its new name or module (writes new records, then removes the old ones)')
		.option('--from <function>', 'the old identity: module:name, module:* (every function of the module) or name')
		.option('--to <function>', 'the new identity: module:name, module:* (same names) or name (same module)')
		.option('--source-maps', "every function recorded under a compiled file of the project (dist/math.js) goes to the source its source map names (src/math.ts)")
		.option('--dry-run', 'report what would be rekeyed, write nothing')
		.option('--keep', 'keep the old records too')
		.action((_o, cmd: Command) => cli.rekey(cmd.optsWithGlobals()));
	program
		.command('explain')
		.description('why a call misses: the nearest cached call and what differs (from the store alone when it can; else imports the module)')
		.argument('<function>', 'name or module:name')
		.argument('<args-json>', 'arguments as a JSON object (by name) or array (positional)')
		.option('--import', "import the function's module even when the store alone can key the call (compares its current version and code)")
		.action((spec: string, argsJson: string, _o, cmd: Command) => cli.explain(cmd.optsWithGlobals<GlobalOptions & { import?: boolean }>(), spec, argsJson));

	program
		.command('remote')
		.description(
			"serve a cache to an SshCache on another machine over stdin and stdout (ssh runs 'fleche remote --serve'); --cache names a section of this side's fleche.toml, --root a store folder",
		)
		.option('--serve', 'speak the remote-cache protocol on stdin and stdout until stdin ends')
		.action(async (_o, cmd: Command) => {
			const o = cmd.optsWithGlobals<GlobalOptions & { serve?: boolean }>();
			if (o.serve !== true) throw new UsageError('fleche remote needs --serve (it is started by ssh for an SshCache on another machine)');
			code = await serveRemote(
				{ ...(o.cache !== undefined ? { cache: o.cache } : {}), ...(o.root !== undefined ? { root: o.root } : {}), ...(o.cwd !== undefined ? { cwd: o.cwd } : {}) },
				process.stdin,
				io.stdout,
			);
		});

	try {
		if (argv.length <= 2) throw new UsageError('Missing command (ls, show, stats, evict, gc, verify, push, pull, rerun, call, explain, rekey, worker, remote); see fleche --help');
		await program.parseAsync([...argv]);
		return code;
	} catch (err) {
		if (err instanceof CommanderError) {
			if (err.exitCode === 0) return 0; // --help, --version
			return cli.fail(new Error(err.message.replace(/^error: /, '')), true);
		}
		return cli.fail(err, err instanceof UsageError);
	} finally {
		cli.close();
	}
}
