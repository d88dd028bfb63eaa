// Pure geometry of the function view's two charts (plain SVG, drawn by render.ts): call durations and hits by
// creation time. Everything a chart shows is computed here, so node tests check it without a browser:
//
// - axes with "nice" ticks: time ticks on round local instants (1 ms … 1 year apart), labelled as precisely as their
//   spacing needs (calls made within one second get millisecond labels), never two identical labels; value ticks on
//   1-2-5 steps with units (`200 ms`, `1.5 s`; whole hits);
// - one mark per call up to a limit, beyond it one mark per time bin (durations: median with the fastest–slowest
//   range, hits: the bin's sum), so 10,000 calls draw a hundred-odd marks that still mean something;
// - a hover text per mark, and the key of the call a click opens (a bin opens its slowest, or most hit, call).
import type { CallPoint } from './protocol.js';
import {
	countOf,
	formatAge,
	formatCount,
	formatClock,
	formatDateTime,
	formatDuration,
	localZone,
	zoneName,
	type DatePrecision,
	type ZoneOffset,
} from './units.js';

/** Size of the drawing and the margins kept for the axes' labels, in SVG units. */
export interface ChartBox {
	readonly width: number;
	readonly height: number;
	readonly left: number;
	readonly right: number;
	readonly top: number;
	readonly bottom: number;
}

export interface ChartOptions {
	/** Time zone of the labels (default: local). */
	readonly zone?: ZoneOffset;
	/** Seconds since the epoch, for ages in hover texts. */
	readonly now: number;
	/** More usable points than this are binned. */
	readonly maxMarks?: number;
}

export interface Tick {
	/** Position along its axis, in SVG units. */
	readonly at: number;
	readonly value: number;
	readonly label: string;
}

export interface ChartMark {
	/** Centre, in SVG units. */
	readonly x: number;
	readonly y: number;
	/** Bars: from `y` down to `y0`; ranges: from `y` (the top) … the whiskers span `yLow`–`yHigh`. */
	readonly y0: number;
	readonly yLow: number;
	readonly yHigh: number;
	/** Bar width (bars only). */
	readonly w: number;
	readonly shape: 'point' | 'range' | 'bar';
	/** Calls this mark stands for. */
	readonly count: number;
	/** The call a click opens. */
	readonly key: string;
	/** Hover text, lines separated by `\n`. */
	readonly tip: string;
}

export interface Chart {
	readonly xTicks: readonly Tick[];
	readonly yTicks: readonly Tick[];
	/** Under the x axis: `created (5 Dec 2026, UTC+1)`. */
	readonly xTitle: string;
	/** Beside the y axis: `duration`, `hits`. */
	readonly yTitle: string;
	readonly marks: readonly ChartMark[];
	/** True when marks stand for bins of calls. */
	readonly binned: boolean;
	/** Calls drawn, and calls left out for lack of a creation time (or duration). */
	readonly drawn: number;
	readonly omitted: number;
}

/** Steps between ticks, in seconds: 1-2-5 below a second, then round clock spans. */
const steps: readonly number[] = [
	...[1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1].flatMap((d) => [d, 2 * d, 5 * d]),
	1,
	2,
	5,
	10,
	15,
	30,
	60,
	120,
	300,
	600,
	900,
	1800,
	3600,
	7200,
	10_800,
	21_600,
	43_200,
	86_400,
	172_800,
	604_800,
	1_209_600,
	2_592_000,
	7_776_000,
	15_552_000,
	31_536_000,
];

/** The smallest step from `list` that cuts `span` into at most `maxTicks` intervals (1-2-5 × 10^n beyond the list). */
export function niceStep(span: number, maxTicks: number, list: readonly number[] = steps): number {
	const want = span / Math.max(1, maxTicks);
	const found = list.find((s) => s >= want);
	if (found !== undefined) return found;
	const magnitude = 10 ** Math.floor(Math.log10(want));
	return [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= want)!;
}

/** Multiples of `step` in [min, max] (shifted by the zone's offset, so they fall on round local instants). */
function multiples(min: number, max: number, step: number, offset: number): number[] {
	const out: number[] = [];
	const first = Math.ceil((min + offset) / step - 1e-9) * step - offset;
	for (let i = 0; ; i++) {
		// Computed from the first, not accumulated, so float error does not creep in.
		const v = first + i * step;
		if (v > max + step * 1e-9) break;
		out.push(Number(v.toFixed(6)));
	}
	return out;
}

function timeLabel(t: number, precision: DatePrecision, withDate: boolean, withYear: boolean, zone: ZoneOffset): string {
	if (precision === 'day') {
		const full = formatDateTime(t, 'day', zone);
		return withYear ? full : full.replace(/ \d+$/, '');
	}
	const clock = formatClock(t, precision, zone);
	return withDate ? `${formatDateTime(t, 'day', zone).replace(/ \d+$/, '')} ${clock}` : clock;
}

const precisions: readonly DatePrecision[] = ['day', 'minute', 'second', 'millisecond'];

/**
 * Ticks of a time axis over [min, max] (seconds since the epoch): at most `maxTicks`, labelled with the precision
 * their step needs, and all labels distinct. A single instant gets one tick naming it in full.
 */
export function timeTicks(min: number, max: number, maxTicks: number, zone: ZoneOffset = localZone): { values: number[]; labels: string[] } {
	if (!(max > min)) return { values: [min], labels: [formatDateTime(min, min % 1 === 0 ? 'second' : 'millisecond', zone)] };
	const step = niceStep(max - min, maxTicks);
	const values = multiples(min, max, step, zone(min));
	const dayOf = (t: number): string => formatDateTime(t, 'day', zone);
	const withDate = dayOf(min) !== dayOf(max);
	const withYear = formatDateTime(min, 'day', zone).slice(-4) !== formatDateTime(max, 'day', zone).slice(-4);
	let p = precisions.indexOf(step < 1 ? 'millisecond' : step < 60 ? 'second' : step < 86_400 ? 'minute' : 'day');
	for (;;) {
		const labels = values.map((t) => timeLabel(t, precisions[p]!, withDate, withYear, zone));
		// Rounding can still make neighbours read the same (a 30-day step across a short month): be more precise.
		if (new Set(labels).size === labels.length || p === precisions.length - 1) return { values, labels };
		p++;
	}
}

/** Ticks of a value axis from 0: `step`-spaced up to the first multiple at or above `max`. */
export function valueTicks(max: number, maxTicks: number, integer: boolean): number[] {
	if (!(max > 0)) return [0, integer ? 1 : 1e-3];
	const step = integer ? Math.max(1, niceStep(max, maxTicks, [])) : niceStep(max, maxTicks);
	const top = Math.ceil(max / step - 1e-9) * step;
	const out: number[] = [];
	for (let i = 0; i * step <= top + step * 1e-9; i++) out.push(Number((i * step).toPrecision(12)));
	return out;
}

interface Scales {
	x(t: number): number;
	y(v: number): number;
	xTicks: Tick[];
	yTicks: Tick[];
	xTitle: string;
}

function scales(times: readonly number[], yMax: number, integer: boolean, box: ChartBox, zone: ZoneOffset, yLabel: (v: number) => string): Scales {
	const lo = Math.min(...times);
	const hi = Math.max(...times);
	const inner = box.width - box.left - box.right;
	const xMaxTicks = Math.max(2, Math.floor(inner / 110));
	const span = hi - lo;
	// A little room on both sides, so the first and last marks do not sit on the axes.
	const min = span > 0 ? lo - span * 0.04 : lo - 1;
	const max = span > 0 ? hi + span * 0.04 : hi + 1;
	const x = (t: number): number => box.left + ((t - min) / (max - min)) * inner;
	const xt = span > 0 ? timeTicks(lo, hi, xMaxTicks, zone) : timeTicks(lo, lo, 1, zone);
	const yValues = valueTicks(yMax, 4, integer);
	const top = yValues[yValues.length - 1]!;
	const plot = box.height - box.top - box.bottom;
	const y = (v: number): number => box.top + plot - (v / top) * plot;
	const days = new Set(times.length > 0 ? [formatDateTime(lo, 'day', zone), formatDateTime(hi, 'day', zone)] : []);
	const where = days.size === 1 ? `${[...days][0]}, ` : '';
	return {
		x,
		y,
		xTicks: xt.values.map((v, i) => ({ at: x(v), value: v, label: xt.labels[i]! })),
		yTicks: yValues.map((v) => ({ at: y(v), value: v, label: v === 0 ? '0' : yLabel(v) })),
		xTitle: `created (${where}${zoneName(lo, zone)})`,
	};
}

/** Calls grouped into `count` equal time bins over their creation times (empty bins left out). */
function bin<P extends CallPoint & { created: number }>(points: readonly P[], count: number): P[][] {
	const times = points.map((p) => p.created);
	const min = Math.min(...times);
	const span = Math.max(...times) - min;
	const bins: P[][] = Array.from({ length: count }, () => []);
	for (const p of points) bins[span > 0 ? Math.min(count - 1, Math.floor(((p.created - min) / span) * count)) : 0]!.push(p);
	return bins.filter((b) => b.length > 0);
}

function callTip(p: CallPoint & { created: number }, zone: ZoneOffset, now: number): string {
	return [
		p.argsText === '' ? '()' : p.argsText.length > 100 ? `${p.argsText.slice(0, 99)}…` : p.argsText,
		`created ${formatDateTime(p.created, 'millisecond', zone)} (${formatAge(p.created, now)})`,
		`took ${formatDuration(p.duration)} · ${countOf(p.hits, 'hit')}`,
	].join('\n');
}

function binSpan(calls: readonly (CallPoint & { created: number })[], zone: ZoneOffset): string {
	const times = calls.map((c) => c.created);
	const a = Math.min(...times);
	const b = Math.max(...times);
	return a === b ? formatDateTime(a, 'millisecond', zone) : `${formatDateTime(a, 'second', zone)} – ${formatDateTime(b, 'second', zone)}`;
}

const withTime = (p: CallPoint): p is CallPoint & { created: number } => p.created !== null;

/** Durations by creation time: a point per call, or per bin the median with the fastest–slowest range. */
export function durationChart(points: readonly CallPoint[], box: ChartBox, options: ChartOptions): Chart {
	const zone = options.zone ?? localZone;
	const usable = points.filter((p): p is CallPoint & { created: number; duration: number } => withTime(p) && p.duration !== null);
	const base = { yTitle: 'duration', drawn: usable.length, omitted: points.length - usable.length };
	if (usable.length === 0) return { ...base, xTicks: [], yTicks: [], xTitle: 'created', marks: [], binned: false };
	const s = scales(
		usable.map((p) => p.created),
		Math.max(...usable.map((p) => p.duration)),
		false,
		box,
		zone,
		formatDuration,
	);
	const maxMarks = options.maxMarks ?? 400;
	if (usable.length <= maxMarks) {
		const marks = usable.map((p) => {
			const y = s.y(p.duration);
			return { x: s.x(p.created), y, y0: y, yLow: y, yHigh: y, w: 0, shape: 'point' as const, count: 1, key: p.key, tip: callTip(p, zone, options.now) };
		});
		return { ...base, xTicks: s.xTicks, yTicks: s.yTicks, xTitle: s.xTitle, marks, binned: false };
	}
	const bins = bin(usable, Math.max(10, Math.floor((box.width - box.left - box.right) / 5)));
	const marks = bins.map((calls) => {
		const sorted = [...calls].sort((a, b) => a.duration - b.duration);
		const median = sorted[Math.floor((sorted.length - 1) / 2)]!.duration;
		const slowest = sorted[sorted.length - 1]!;
		const mid = calls.reduce((sum, c) => sum + c.created, 0) / calls.length;
		const y = s.y(median);
		return {
			x: s.x(mid),
			y,
			y0: y,
			yLow: s.y(sorted[0]!.duration),
			yHigh: s.y(slowest.duration),
			w: 0,
			shape: 'range' as const,
			count: calls.length,
			key: slowest.key,
			tip: [
				`${countOf(calls.length, 'call')} created ${binSpan(calls, zone)}`,
				`median ${formatDuration(median)} · fastest ${formatDuration(sorted[0]!.duration)} · slowest ${formatDuration(slowest.duration)}`,
				'click: the slowest call',
			].join('\n'),
		};
	});
	return { ...base, xTicks: s.xTicks, yTicks: s.yTicks, xTitle: s.xTitle, marks, binned: true };
}

/** Hits by creation time: a bar per call, or per bin the hits of its calls summed. */
export function hitsChart(points: readonly CallPoint[], box: ChartBox, options: ChartOptions): Chart {
	const zone = options.zone ?? localZone;
	const usable = points.filter(withTime);
	const base = { yTitle: 'hits', drawn: usable.length, omitted: points.length - usable.length };
	if (usable.length === 0) return { ...base, xTicks: [], yTicks: [], xTitle: 'created', marks: [], binned: false };
	const inner = box.width - box.left - box.right;
	// Bars narrower than 3 units would overlap into a smear: bin before that.
	const binned = usable.length > Math.min(options.maxMarks ?? 400, Math.floor(inner / 3));
	const groups = binned ? bin(usable, Math.max(10, Math.floor(inner / 5))) : usable.map((p) => [p]);
	const sums = groups.map((g) => g.reduce((sum, c) => sum + c.hits, 0));
	const s = scales(
		usable.map((p) => p.created),
		Math.max(...sums),
		true,
		box,
		zone,
		formatCount,
	);
	const w = Math.max(2, Math.min(12, (inner / Math.max(1, groups.length)) * 0.6));
	const marks = groups.map((calls, i) => {
		const y0 = s.y(0);
		const y = s.y(sums[i]!);
		const most = calls.reduce((a, b) => (b.hits > a.hits ? b : a));
		const mid = calls.reduce((sum, c) => sum + c.created, 0) / calls.length;
		const tip = binned
			? [
					`${countOf(calls.length, 'call')} created ${binSpan(calls, zone)}`,
					`${countOf(sums[i]!, 'hit')} in all · most on one call: ${formatCountOrNone(most.hits)}`,
					'click: the most hit call',
				].join('\n')
			: callTip(most, zone, options.now);
		return { x: s.x(mid), y, y0, yLow: y, yHigh: y0, w, shape: 'bar' as const, count: calls.length, key: most.key, tip };
	});
	return { ...base, xTicks: s.xTicks, yTicks: s.yTicks, xTitle: s.xTitle, marks, binned };
}

function formatCountOrNone(n: number): string {
	return n === 0 ? 'none' : countOf(n, 'hit');
}

/** The mark nearest to `x` (SVG units) along the x axis, for the hover readout; undefined without marks. */
export function nearestMark(chart: Chart, x: number): ChartMark | undefined {
	let best: ChartMark | undefined;
	for (const m of chart.marks) if (best === undefined || Math.abs(m.x - x) < Math.abs(best.x - x)) best = m;
	return best;
}
