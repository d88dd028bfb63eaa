// docs/behaviour.md §1.9: metadata recorded with every cached call — Runtime, Environment, Git, Tags.
import { hostname, userInfo } from 'node:os';
import { childProcess } from './builtins.js';
import type { Call, Json } from './call.js';
import { epochSeconds } from './clock.js';
import { flecheVersion } from './version.js';

/** A call as metadata sees it: identity and live argument values, and after the body ran, its result. */
export type MetaCall = Call;

/**
 * A source of metadata for cached calls (docs/behaviour.md §1.9). `pre` runs before the body, `post` after it (with
 * `call.result` set); what they return is stored under `name` in the call record. Values must be JSON.
 */
export interface MetaData {
	/** Namespace under which the values are stored, e.g. `'runtime'`. */
	readonly name: string;
	/** Values known before the body runs. @default `{}` */
	pre?(call: MetaCall): Record<string, Json>;
	/** Values known after the body ran; merged over `pre`'s (later keys win). @default `{}` */
	post?(pre: Record<string, Json>, call: MetaCall): Record<string, Json>;
	/** Plain-data description, so metadata can travel to a worker with a bound call. */
	toConfig?(): MetaDataConfig;
}

/** Plain-data form of the built-in metadata sources. */
export type MetaDataConfig =
	| { readonly type: 'Runtime' }
	| { readonly type: 'Environment' }
	| { readonly type: 'Git' }
	| { readonly type: 'Tags'; readonly tags: Readonly<Record<string, Json>> };

/** Readings of the process CPU clock closer together than this are taken as one (see {@link Runtime}). */
const cpuReuseMs = 0.1;

/** The CPU clock as of at most {@link cpuReuseMs} ago: read again only when the last reading is older. */
function recentCpu(): void {
	if (performance.now() - cpuAt > cpuReuseMs) readCpu();
}
/** The last reading of the process CPU clock, in seconds, and when it was taken (`performance.now()`). */
let cpuAt = -Infinity;
let cpuUser = 0;
let cpuSystem = 0;

function readCpu(): void {
	const cpu = process.cpuUsage();
	cpuAt = performance.now();
	cpuUser = cpu.user / 1e6;
	cpuSystem = cpu.system / 1e6;
}

/**
 * Timing of each call: `timestart`/`timestop` (seconds since the epoch), `walltime` (seconds), `cputime` and
 * `systime` (seconds of user and system CPU of the whole process over the call; overlapping async calls bleed into
 * each other's CPU figures, as in Python). The default metadata.
 *
 * Reading the process CPU clock is a system call (`getrusage`, 1–6 µs) that cost more than the rest of a memory-cache
 * miss, so readings closer together than 0.1 ms are taken as one, at both ends of a call: a call that starts or ends
 * within 0.1 ms of the last reading uses that reading. `cputime` and `systime` are therefore exact to 0.1 ms of process
 * CPU either way (a call shorter than that may show 0, or the CPU of the calls just before it); a run of short misses
 * reads the clock about once per 0.1 ms instead of once or twice per call. Wall times are exact.
 * @example
 * ```ts
 * meta(new Runtime(), new Environment());
 * ```
 */
export class Runtime implements MetaData {
	readonly name = 'runtime';

	pre(): Record<string, Json> {
		recentCpu();
		return { timestart: epochSeconds(), cputime: cpuUser, systime: cpuSystem };
	}

	post(pre: Record<string, Json>): Record<string, Json> {
		const stop = epochSeconds();
		recentCpu();
		const start = typeof pre.timestart === 'number' ? pre.timestart : stop;
		// Every key of `pre`, in its order, then the new ones: what merging this over `pre` makes (see takesAsReturned).
		return {
			timestart: start,
			cputime: cpuUser - (typeof pre.cputime === 'number' ? pre.cputime : 0),
			systime: cpuSystem - (typeof pre.systime === 'number' ? pre.systime : 0),
			timestop: stop,
			walltime: stop - start,
		};
	}

	toConfig(): MetaDataConfig {
		return { type: 'Runtime' };
	}
}

/**
 * Whether a metadata source returns a new object from each `pre` and `post`, and from `post` every key of its `pre`
 * in the same order: then its objects go into the record as they are, instead of copied and merged (a tenth of a
 * memory-cache miss). Only the built-in {@link Runtime} itself, its methods its own; a subclass may return what it keeps. @internal
 */
export function takesAsReturned(m: MetaData): boolean {
	return Object.getPrototypeOf(m) === Runtime.prototype && !Object.hasOwn(m, 'pre') && !Object.hasOwn(m, 'post');
}

/**
 * Where a call ran: `hostname`, `username`, `cwd`, `fleche_version`, `node_version`, `platform`.
 * @example
 * ```ts
 * meta(new Runtime(), new Environment());
 * ```
 */
export class Environment implements MetaData {
	readonly name = 'environment';

	pre(): Record<string, Json> {
		let username: string | null = null;
		try {
			username = userInfo().username;
		} catch {
			// no passwd entry for this uid (containers)
		}
		return {
			hostname: hostname(),
			username,
			cwd: process.cwd(),
			fleche_version: flecheVersion,
			node_version: process.version,
			platform: process.platform,
		};
	}

	toConfig(): MetaDataConfig {
		return { type: 'Environment' };
	}
}

type GitInfo = { root: string | null; commit: string | null; branch: string | null; dirty: boolean | null };
const gitByCwd = new Map<string, { at: number; info: GitInfo }>();
const gitTtlMs = 2000;

function git(args: string[], cwd: string): string | null {
	try {
		return childProcess()
			.execFileSync('git', args, { cwd, timeout: 2000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
			.trim();
	} catch {
		return null;
	}
}

/**
 * The git state of the working directory: `root`, `commit`, `branch` (`'HEAD'` when detached), `dirty`. All `null`
 * outside a repository or without git. Results are reused for 2 s per folder: four `git` processes per cached call
 * would dominate short calls.
 * @example
 * ```ts
 * meta(new Runtime(), new Git());
 * ```
 */
export class Git implements MetaData {
	readonly name = 'git';

	pre(): Record<string, Json> {
		const cwd = process.cwd();
		const cached = gitByCwd.get(cwd);
		if (cached && Date.now() - cached.at < gitTtlMs) return { ...cached.info };
		const root = git(['rev-parse', '--show-toplevel'], cwd);
		const info: GitInfo =
			root === null
				? { root: null, commit: null, branch: null, dirty: null }
				: {
						root,
						commit: git(['rev-parse', 'HEAD'], cwd),
						branch: git(['rev-parse', '--abbrev-ref', 'HEAD'], cwd),
						dirty: (git(['status', '--porcelain'], cwd) ?? '') !== '',
					};
		gitByCwd.set(cwd, { at: Date.now(), info });
		return { ...info };
	}

	toConfig(): MetaDataConfig {
		return { type: 'Git' };
	}
}

/**
 * Free-form labels stored under `tags`; several `Tags` merge into one namespace, later ones winning.
 * Usually set through `tags({...})` or `project(name)`.
 * @example
 * ```ts
 * meta(new Runtime(), new Tags({ project: 'alpha', run: 3 }));
 * ```
 */
export class Tags implements MetaData {
	readonly name = 'tags';
	readonly tags: Readonly<Record<string, Json>>;

	constructor(tags: Record<string, Json>) {
		this.tags = { ...tags };
	}

	pre(): Record<string, Json> {
		return { ...this.tags };
	}

	toConfig(): MetaDataConfig {
		return { type: 'Tags', tags: this.tags };
	}
}

/** Rebuilds metadata sources from their plain-data form (for bound calls in workers). @internal */
export function metadataFromConfig(config: MetaDataConfig): MetaData {
	switch (config.type) {
		case 'Runtime':
			return new Runtime();
		case 'Environment':
			return new Environment();
		case 'Git':
			return new Git();
		case 'Tags':
			return new Tags({ ...config.tags });
	}
}
