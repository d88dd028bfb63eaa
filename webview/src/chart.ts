// Pure geometry for the function view's charts (plain SVG, drawn by render.ts): call durations and hits over time.
import type { CallPoint } from './protocol.js';

export interface ChartBox {
	readonly width: number;
	readonly height: number;
	/** Space kept for axis labels. */
	readonly pad: number;
}

export interface ChartMark {
	readonly key: string;
	readonly x: number;
	readonly y: number;
	/** Height of a bar (hits chart), 0 for a point. */
	readonly h: number;
	readonly label: string;
}

export interface Chart {
	readonly marks: readonly ChartMark[];
	/** Axis extremes, for labels. */
	readonly xMin: number;
	readonly xMax: number;
	readonly yMax: number;
}

function xScale(points: readonly CallPoint[], box: ChartBox): { at: (t: number) => number; min: number; max: number } {
	const times = points.map((p) => p.created).filter((t): t is number => t !== null);
	const min = times.length > 0 ? Math.min(...times) : 0;
	const max = times.length > 0 ? Math.max(...times) : 1;
	const span = max - min || 1;
	const inner = box.width - 2 * box.pad;
	return { at: (t) => box.pad + (max === min ? inner / 2 : ((t - min) / span) * inner), min, max };
}

/** One point per call with a known creation time and duration: x = created, y = seconds computing. */
export function durationChart(points: readonly CallPoint[], box: ChartBox): Chart {
	const usable = points.filter((p) => p.created !== null && p.duration !== null);
	const x = xScale(usable, box);
	const yMax = Math.max(0, ...usable.map((p) => p.duration!)) || 1;
	const inner = box.height - 2 * box.pad;
	return {
		marks: usable.map((p) => ({ key: p.key, x: x.at(p.created!), y: box.pad + inner - (p.duration! / yMax) * inner, h: 0, label: p.label })),
		xMin: x.min,
		xMax: x.max,
		yMax,
	};
}

/** One bar per call: x = created, height = hits of that call. */
export function hitsChart(points: readonly CallPoint[], box: ChartBox): Chart {
	const usable = points.filter((p) => p.created !== null);
	const x = xScale(usable, box);
	const yMax = Math.max(0, ...usable.map((p) => p.hits)) || 1;
	const inner = box.height - 2 * box.pad;
	return {
		marks: usable.map((p) => {
			const h = (p.hits / yMax) * inner;
			return { key: p.key, x: x.at(p.created!), y: box.pad + inner - h, h, label: p.label };
		}),
		xMin: x.min,
		xMax: x.max,
		yMax,
	};
}
