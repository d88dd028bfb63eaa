// DetailsState → DOM, no framework. Every value goes in through textContent or setAttribute on a fixed attribute
// name: data never becomes markup (an argument holding `<img src=x onerror=…>` stays text).
//
// Quantities arrive with their kind (protocol `Display`) and are formatted here (units.ts): dates in the reader's time
// zone with their age beside (ages refresh with `refreshAges`), the exact instant in the hover.
import { durationChart, hitsChart, nearestMark, type Chart, type ChartBox } from './chart.js';
import type { CallDetailsState, DetailsState, Display, Fact, FromWebview, FunctionDetailsState, SourceLink, ValueNode, ValueSection } from './protocol.js';
import { containerSummary, pathId } from './text.js';
import { countOf, formatAge, formatBytes, formatDateTime, formatDuration, formatNumber, isoUtc, localZone, zoneName, type ZoneOffset } from './units.js';

export interface RenderContext {
	post(message: FromWebview): void;
	/** Paths (pathId) of open tree nodes, kept across re-renders. */
	readonly open: Set<string>;
	/** Allocates the id of a "load more" request. */
	nextRequestId(): number;
	/** Seconds since the epoch now (ages are relative to it). */
	now(): number;
	/** Time zone of dates (default: the browser's). */
	readonly zone?: ZoneOffset;
}

type Attrs = Record<string, string>;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
	const node = document.createElement(tag);
	for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
	for (const child of children) node.append(typeof child === 'string' ? document.createTextNode(child) : child);
	return node;
}

const svgNs = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Attrs = {}): SVGElement {
	const node = document.createElementNS(svgNs, tag);
	for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
	return node;
}

function button(label: string, title: string, onClick: () => void): HTMLButtonElement {
	const b = el('button', { type: 'button', title }, label);
	b.addEventListener('click', onClick);
	return b;
}

/** An age that `refreshAges` keeps current: `3 min ago`. */
function age(seconds: number, ctx: RenderContext): HTMLElement {
	return el('span', { class: 'age muted', 'data-seconds': String(seconds) }, formatAge(seconds, ctx.now()));
}

/** Brings every age under `root` up to `nowSeconds` (main.ts calls it on a timer). */
export function refreshAges(root: ParentNode, nowSeconds: number): void {
	for (const node of root.querySelectorAll<HTMLElement>('.age[data-seconds]')) node.textContent = formatAge(Number(node.dataset.seconds), nowSeconds);
}

/** A date as local date-time with its age beside, and the exact instant (UTC and ISO) in the hover. */
function dateNode(seconds: number, ctx: RenderContext): HTMLElement {
	const zone = ctx.zone ?? localZone;
	const exact = isoUtc(seconds);
	return el(
		'span',
		{ class: 'date' },
		el('time', { datetime: exact, title: `${formatDateTime(seconds, 'millisecond', zone)} (${zoneName(seconds, zone)})\n${exact}` }, formatDateTime(seconds, 'second', zone)),
		' · ',
		age(seconds, ctx),
	);
}

/** A quantity formatted by its kind. */
export function displayNode(d: Display, ctx: RenderContext): HTMLElement {
	switch (d.kind) {
		case 'text':
			return el('span', {}, d.text);
		case 'date':
			return dateNode(d.seconds, ctx);
		case 'duration':
			return el('span', { class: 'quantity', title: `${formatNumber(d.seconds)} s` }, formatDuration(d.seconds));
		case 'bytes':
			return el('span', { class: 'quantity', title: `${formatNumber(d.bytes)} bytes` }, formatBytes(d.bytes));
		case 'count':
			return el('span', { class: 'quantity' }, countOf(d.count, d.unit, d.units));
		case 'number':
			return el('span', { class: 'quantity' }, formatNumber(d.value));
	}
}

function factsTable(facts: readonly Fact[], ctx: RenderContext): HTMLTableElement {
	const table = el('table', { class: 'facts' });
	for (const f of facts) {
		const cell = el('td', { class: `fact-${f.value.kind}` }, displayNode(f.value, ctx));
		if (f.note !== undefined) cell.append(el('span', { class: 'muted note' }, ` (${f.note})`));
		table.append(el('tr', {}, el('th', { scope: 'row' }, f.label), cell));
	}
	return table;
}

function textValue(node: Extract<ValueNode, { t: 'text' }>, section: ValueSection, ctx: RenderContext): HTMLElement {
	if (node.display !== undefined && node.display.kind !== 'text') {
		// A value of a known kind (metadata): formatted, with the stored value in the hover.
		const shown = displayNode(node.display, ctx);
		shown.classList.add('value', 'formatted');
		shown.setAttribute('title', `stored as ${node.text}`);
		return shown;
	}
	const span = el('span', { class: `value type-${node.type.replace(/[^\w-]/g, '')}` }, node.text);
	if (node.fullLength === undefined || node.path === undefined) return span;
	const path = node.path;
	const wrap = el('span', {}, span, el('span', { class: 'muted' }, `… (${node.fullLength.toLocaleString('en')} characters) `));
	wrap.append(
		button('Show all', 'Load the whole string', () => ctx.post({ type: 'loadMore', requestId: ctx.nextRequestId(), section, path, offset: 0 })),
	);
	return wrap;
}

/** A value as an expandable tree (`<details>` per container), with "Load more" where only a page is shown. */
export function valueTree(key: string | null, node: ValueNode, section: ValueSection, ctx: RenderContext): HTMLElement {
	const label = key === null ? [] : [el('span', { class: 'key' }, key), ': '];
	if (node.t === 'text') return el('div', { class: 'leaf' }, ...label, textValue(node, section, ctx));
	const id = pathId(section, node.path);
	const details = el('details', { class: 'node' });
	// The root is open, and so are metadata namespaces (`runtime`, `git`, …): short, and what people look for.
	details.open = ctx.open.has(id) || node.path.length === 0 || (section === 'metadata' && node.path.length === 1);
	const summary = el('summary', {}, ...label, el('span', { class: 'type' }, containerSummary(node.type, node.size)));
	details.append(summary);
	const body = el('div', { class: 'children' });
	for (const entry of node.entries) body.append(valueTree(entry.key, entry.value, section, ctx));
	const requestMore = (): void =>
		ctx.post({ type: 'loadMore', requestId: ctx.nextRequestId(), section, path: node.path, offset: node.entries.length });
	if (node.entries.length < node.size) {
		body.append(
			el(
				'div',
				{ class: 'more' },
				button(`Load more (${node.entries.length} of ${node.size} shown)`, 'Load the next entries', requestMore),
			),
		);
	}
	details.append(body);
	details.addEventListener('toggle', () => {
		if (details.open) {
			ctx.open.add(id);
			// Containers deeper than the first levels arrive empty: their first page loads when opened.
			if (node.entries.length === 0 && node.size > 0) requestMore();
		} else ctx.open.delete(id);
	});
	return details;
}

function section(title: string, ...content: Node[]): HTMLElement {
	return el('section', {}, el('h2', {}, title), ...content);
}

/** The function's definition as a link: a typed message asks the extension to open it (only inside the workspace). */
function sourceLink(source: SourceLink | null, ctx: RenderContext): HTMLElement {
	if (source === null) return el('span', { class: 'source muted', title: 'No file of the workspace defines this function with fleche' }, 'source not found in the workspace');
	const link = el('a', { href: '#', class: 'source', title: `Open ${source.label} in the editor` }, source.label);
	link.addEventListener('click', (e) => {
		e.preventDefault();
		ctx.post({ type: 'openSource', file: source.file, line: source.line, column: source.column });
	});
	return link;
}

function heading(name: string, detail: string, source: SourceLink | null, ctx: RenderContext, ...buttons: HTMLButtonElement[]): HTMLElement {
	return el(
		'header',
		{},
		el('div', { class: 'title' }, el('h1', {}, el('span', { class: 'fn' }, name), el('span', { class: 'muted' }, detail)), sourceLink(source, ctx)),
		el('div', { class: 'actions' }, ...buttons),
	);
}

function renderCall(state: CallDetailsState, ctx: RenderContext): HTMLElement[] {
	const header = heading(
		state.name,
		` ${state.key.slice(0, 12)}`,
		state.source,
		ctx,
		button('Rerun', 'Compute this call again and store the new result', () => ctx.post({ type: 'action', action: 'rerun', key: state.key })),
		button('Invalidate', 'Remove this call from the cache', () => ctx.post({ type: 'action', action: 'evict', key: state.key })),
		button('Refresh', 'Read the call again', () => ctx.post({ type: 'action', action: 'refresh' })),
	);
	const result = state.result.ok
		? valueTree(null, state.result.value, 'result', ctx)
		: el('div', { class: 'error' }, `Cannot load the result: ${state.result.error}`);
	return [
		header,
		section('Arguments', valueTree(null, state.arguments, 'arguments', ctx)),
		section('Result', result),
		section('Call', factsTable(state.facts, ctx)),
		section('Metadata', valueTree(null, state.metadata, 'metadata', ctx)),
	];
}

export const chartBox: ChartBox = { width: 640, height: 210, left: 66, right: 18, top: 14, bottom: 44 };

function svgText(text: string, attrs: Attrs): SVGElement {
	const t = svg('text', attrs);
	t.textContent = text;
	return t;
}

/** A chart with its axes, gridlines, tick labels and titles, marks with hover titles, and a readout of the hovered mark. */
function chartFigure(title: string, chart: Chart, ctx: RenderContext): HTMLElement {
	const b = chartBox;
	const root = svg('svg', { viewBox: `0 0 ${b.width} ${b.height}`, class: 'chart', role: 'img', 'aria-label': title });
	const bottom = b.height - b.bottom;
	const right = b.width - b.right;
	for (const t of chart.yTicks) {
		root.append(svg('line', { x1: String(b.left), y1: String(t.at), x2: String(right), y2: String(t.at), class: 'grid' }));
		root.append(svgText(t.label, { x: String(b.left - 6), y: String(t.at + 3.5), 'text-anchor': 'end', class: 'tick y-tick' }));
	}
	for (const [i, t] of chart.xTicks.entries()) {
		root.append(svg('line', { x1: String(t.at), y1: String(bottom), x2: String(t.at), y2: String(bottom + 4), class: 'axis' }));
		// The outer labels lean inwards so they stay inside the drawing.
		const anchor = chart.xTicks.length > 1 && i === 0 && t.at < b.left + 40 ? 'start' : chart.xTicks.length > 1 && t.at > right - 40 ? 'end' : 'middle';
		root.append(svgText(t.label, { x: String(t.at), y: String(bottom + 16), 'text-anchor': anchor, class: 'tick x-tick' }));
	}
	root.append(
		svg('line', { x1: String(b.left), y1: String(bottom), x2: String(right), y2: String(bottom), class: 'axis' }),
		svg('line', { x1: String(b.left), y1: String(b.top), x2: String(b.left), y2: String(bottom), class: 'axis' }),
		svgText(chart.xTitle, { x: String((b.left + right) / 2), y: String(b.height - 6), 'text-anchor': 'middle', class: 'axis-title x-title' }),
		svgText(chart.yTitle, { x: String(-(b.top + bottom) / 2), y: '14', transform: 'rotate(-90)', 'text-anchor': 'middle', class: 'axis-title y-title' }),
	);
	const cross = svg('line', { x1: '0', y1: String(b.top), x2: '0', y2: String(bottom), class: 'crosshair', visibility: 'hidden' });
	root.append(cross);
	const shapes: SVGElement[] = [];
	for (const mark of chart.marks) {
		let shape: SVGElement;
		if (mark.shape === 'bar') {
			shape = svg('rect', { x: String(mark.x - mark.w / 2), y: String(mark.y), width: String(mark.w), height: String(Math.max(mark.y0 - mark.y, 1)), class: 'mark bar' });
		} else if (mark.shape === 'range') {
			shape = svg('g', { class: 'mark range' });
			shape.append(
				svg('line', { x1: String(mark.x), y1: String(mark.yHigh), x2: String(mark.x), y2: String(mark.yLow), class: 'whisker' }),
				svg('circle', { cx: String(mark.x), cy: String(mark.y), r: '2.5', class: 'point' }),
			);
		} else {
			shape = svg('circle', { cx: String(mark.x), cy: String(mark.y), r: '3.5', class: 'mark point' });
		}
		const tip = svg('title');
		tip.textContent = mark.tip;
		shape.append(tip);
		shapes.push(shape);
		root.append(shape);
	}
	const idle = chart.marks.length === 0 ? 'No calls with a creation time to draw.' : 'Hover the chart to read a call’s values; click to open it.';
	const readout = el('div', { class: 'readout', 'aria-live': 'polite' }, idle);
	let active = -1;
	const toSvgX = (event: PointerEvent | MouseEvent): number => {
		const rect = root.getBoundingClientRect();
		return rect.width === 0 ? 0 : ((event.clientX - rect.left) / rect.width) * b.width;
	};
	root.addEventListener('pointermove', (event) => {
		const mark = nearestMark(chart, toSvgX(event));
		if (!mark) return;
		const index = chart.marks.indexOf(mark);
		if (index !== active) {
			shapes[active]?.classList.remove('active');
			shapes[index]?.classList.add('active');
			active = index;
		}
		cross.setAttribute('x1', String(mark.x));
		cross.setAttribute('x2', String(mark.x));
		cross.setAttribute('visibility', 'visible');
		readout.textContent = mark.tip;
	});
	root.addEventListener('pointerleave', () => {
		shapes[active]?.classList.remove('active');
		active = -1;
		cross.setAttribute('visibility', 'hidden');
		readout.textContent = idle;
	});
	root.addEventListener('click', (event) => {
		const mark = nearestMark(chart, toSvgX(event));
		if (mark) ctx.post({ type: 'action', action: 'openCall', key: mark.key });
	});
	const notes: string[] = [];
	if (chart.binned) notes.push(`${countOf(chart.drawn, 'call')} in ${countOf(chart.marks.length, 'time bin')}`);
	if (chart.omitted > 0) notes.push(`${countOf(chart.omitted, 'call')} without a recorded ${chart.yTitle === 'duration' ? 'creation time or duration' : 'creation time'} left out`);
	return el('figure', { class: 'chart-figure' }, root, readout, ...(notes.length > 0 ? [el('figcaption', { class: 'muted' }, notes.join(' · '))] : []));
}

function callsTable(state: FunctionDetailsState, ctx: RenderContext): HTMLTableElement {
	const table = el('table', { class: 'calls' }, el('tr', {}, el('th', {}, 'arguments'), el('th', {}, 'created'), el('th', {}, 'took'), el('th', {}, 'hits')));
	for (const p of state.points.slice(0, 100)) {
		const link = el('a', { href: '#', title: 'Show this call' }, p.argsText === '' ? '()' : p.argsText);
		link.addEventListener('click', (e) => {
			e.preventDefault();
			ctx.post({ type: 'action', action: 'openCall', key: p.key });
		});
		const created = p.created === null ? el('span', {}, '—') : dateNode(p.created, ctx);
		table.append(
			el('tr', {}, el('td', { class: 'args' }, link), el('td', {}, created), el('td', { class: 'num' }, formatDuration(p.duration)), el('td', { class: 'num' }, countOf(p.hits, 'hit'))),
		);
	}
	return table;
}

function renderFunction(state: FunctionDetailsState, ctx: RenderContext): HTMLElement[] {
	const header = heading(
		state.name,
		state.module === null ? '' : ` ${state.module}`,
		state.source,
		ctx,
		button('Rerun all', 'Compute every cached call again', () => ctx.post({ type: 'action', action: 'rerun' })),
		button('Invalidate all', 'Remove every cached call of this function', () => ctx.post({ type: 'action', action: 'evict' })),
		button('Refresh', 'Read the function again', () => ctx.post({ type: 'action', action: 'refresh' })),
	);
	const shown = state.points.length < state.calls ? ` (newest ${state.points.length.toLocaleString('en-US')} of ${state.calls.toLocaleString('en-US')})` : '';
	const options = { now: ctx.now(), zone: ctx.zone };
	return [
		header,
		section('Function', factsTable(state.facts, ctx)),
		section(`Durations over time${shown}`, chartFigure('Duration of each call, by creation time', durationChart(state.points, chartBox, options), ctx)),
		section(`Hits over time${shown}`, chartFigure('Hits of each call, by creation time', hitsChart(state.points, chartBox, options), ctx)),
		section(state.points.length > 100 ? 'Newest 100 calls' : 'Calls', callsTable(state, ctx)),
	];
}

/** Replaces the content of `root` with the view of `state`. */
export function render(root: HTMLElement, state: DetailsState, ctx: RenderContext): void {
	root.replaceChildren(...(state.view === 'call' ? renderCall(state, ctx) : renderFunction(state, ctx)));
}

export function renderMessage(root: HTMLElement, text: string, kind: 'error' | 'muted'): void {
	root.replaceChildren(el('p', { class: kind }, text));
}
