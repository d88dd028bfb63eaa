// The bench's shared record: every measurement and target row of one run, so each bench part (bench.ts,
// sqlBench.ts, executorBench.ts, …) reports into the same table.
import { cpus, loadavg } from 'node:os';
import { measure, formatNs, type Measurement, type MeasureOptions } from './harness.ts';

/** One row of the targets table. `met` is null for rows that only inform (no target). */
export interface TargetRow {
	readonly target: string;
	readonly value: string;
	readonly goal: string;
	readonly met: boolean | null;
	/** How far from the goal, e.g. "3.2× under" or "+40 % over"; empty for informational rows. */
	readonly margin: string;
	readonly note: string;
}

/** A fixed figure of Python fleche (docs/behaviour.md §7), shown beside ours. */
export interface AnchorRow {
	readonly operation: string;
	readonly python: string;
	readonly ours: string;
}

export const results: Measurement[] = [];
export const rows: TargetRow[] = [];
export const anchors: AnchorRow[] = [];

/** Measures one case, records it and prints one line. */
export async function run(
	group: string,
	name: string,
	op: (i: number) => unknown,
	opts?: MeasureOptions,
): Promise<Measurement> {
	const m = await measure(group, name, op, opts);
	results.push(m);
	console.log(`  ${group.padEnd(22)} ${name.padEnd(38)} ${formatNs(m.nsPerOp).padStart(10)}  (±${formatNs(m.iqrNs / 2)})`);
	return m;
}

/**
 * Records a target row. `measured` and `limit` are in the same unit; `higherIsBetter` for throughputs.
 * The margin says by how much the goal was met or missed (ratio when met, percent over when missed).
 */
export function target(
	name: string,
	measured: number,
	limit: number,
	text: { value: string; goal: string; note?: string },
	higherIsBetter = false,
): void {
	const met = higherIsBetter ? measured >= limit : measured <= limit;
	const ratio = higherIsBetter ? measured / limit : limit / measured;
	const margin = met
		? `${ratio.toFixed(ratio < 10 ? 2 : 0)}× ${higherIsBetter ? 'above' : 'under'}`
		: `${((1 / ratio - 1) * 100).toFixed(0)} % ${higherIsBetter ? 'short' : 'over'}`;
	rows.push({ target: name, value: text.value, goal: text.goal, met, margin, note: withLoad(text.note ?? '') });
}

/** The note, with the load average when the machine was loaded while the row was measured (more runnable than cpus). */
function withLoad(note: string): string {
	const load = loadavg()[0]!;
	if (load <= cpus().length) return note;
	return `${note}${note === '' ? '' : '; '}**measured on a loaded machine** (load average ${load.toFixed(1)} on ${cpus().length} cpus)`;
}

/**
 * Measures `a` and `b` in alternating rounds (a, b, a, b, …), each round a full measurement, and records both with the
 * median of their rounds: a loaded machine slows both sides of a ratio alike, where back-to-back blocks would not.
 */
export async function interleaved(
	a: InterleavedCase,
	b: InterleavedCase,
	opts: MeasureOptions & { rounds?: number } = {},
): Promise<[Measurement, Measurement]> {
	const { medians } = await interleavedRounds([a, b], opts);
	return [medians[0]!, medians[1]!];
}

/** One side of an interleaved measurement. */
export interface InterleavedCase {
	readonly group: string;
	readonly name: string;
	readonly op: (i: number) => unknown;
}

/**
 * {@link interleaved} for any number of cases: each round measures every case in turn. Returns each case's median
 * round, and every round (`rounds[r][c]`), so that a difference can be taken within each round and its median used.
 */
export async function interleavedRounds(
	cases: readonly InterleavedCase[],
	opts: MeasureOptions & { rounds?: number } = {},
): Promise<{ medians: Measurement[]; rounds: Measurement[][] }> {
	const count = opts.rounds ?? 5;
	const rounds: Measurement[][] = [];
	for (let r = 0; r < count; r++) {
		const round: Measurement[] = [];
		for (const c of cases) round.push(await measure(c.group, c.name, c.op, { samples: 5, ...opts }));
		rounds.push(round);
	}
	const medians = cases.map((_, i) => {
		const sorted = rounds.map((round) => round[i]!).sort((x, y) => x.nsPerOp - y.nsPerOp);
		return sorted[sorted.length >> 1]!;
	});
	for (const m of medians) {
		results.push(m);
		console.log(`  ${m.group.padEnd(22)} ${m.name.padEnd(38)} ${formatNs(m.nsPerOp).padStart(10)}  (median of ${count} interleaved rounds)`);
	}
	return { medians, rounds };
}

/** The median of some numbers (the upper middle one of an even count). */
export function median(values: readonly number[]): number {
	return [...values].sort((x, y) => x - y)[values.length >> 1]!;
}

/** The 1-minute load average now, and the machine's cpus, for a row's note: `load average 1.2 on 2 cpus`. */
export function loadNote(start?: number): string {
	const now = loadavg()[0]!;
	return `load average ${start === undefined ? '' : `${start.toFixed(1)} → `}${now.toFixed(1)} on ${cpus().length} cpus`;
}

/** Records an informational row (no target). */
export function info(name: string, value: string, note = ''): void {
	rows.push({ target: name, value, goal: '—', met: null, margin: '', note });
}

/** Records a Python anchor beside our figure for the same operation. */
export function anchor(operation: string, python: string, ours: string): void {
	anchors.push({ operation, python, ours });
}
