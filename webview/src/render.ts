// DetailsState → DOM, no framework. Every value goes in through textContent or setAttribute on a fixed attribute
// name: data never becomes markup (an argument holding `<img src=x onerror=…>` stays text).
import { durationChart, hitsChart, type Chart, type ChartBox } from './chart.js';
import type { CallDetailsState, DetailsState, Fact, FromWebview, FunctionDetailsState, ValueNode, ValueSection } from './protocol.js';
import { containerSummary, pathId, plural } from './text.js';

export interface RenderContext {
	post(message: FromWebview): void;
	/** Paths (pathId) of open tree nodes, kept across re-renders. */
	readonly open: Set<string>;
	/** Allocates the id of a "load more" request. */
	nextRequestId(): number;
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

function factsTable(facts: readonly Fact[]): HTMLTableElement {
	const table = el('table', { class: 'facts' });
	for (const f of facts) table.append(el('tr', {}, el('th', { scope: 'row' }, f.label), el('td', {}, f.value)));
	return table;
}

function textValue(node: Extract<ValueNode, { t: 'text' }>, section: ValueSection, ctx: RenderContext): HTMLElement {
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
	details.open = ctx.open.has(id) || node.path.length === 0;
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

function renderCall(state: CallDetailsState, ctx: RenderContext): HTMLElement[] {
	const header = el(
		'header',
		{},
		el('h1', {}, el('span', { class: 'fn' }, state.name), el('span', { class: 'muted' }, ` ${state.key.slice(0, 12)}`)),
		el(
			'div',
			{ class: 'actions' },
			button('Rerun', 'Compute this call again and store the new result', () => ctx.post({ type: 'action', action: 'rerun', key: state.key })),
			button('Invalidate', 'Remove this call from the cache', () => ctx.post({ type: 'action', action: 'evict', key: state.key })),
			button('Refresh', 'Read the call again', () => ctx.post({ type: 'action', action: 'refresh' })),
		),
	);
	const result = state.result.ok
		? valueTree(null, state.result.value, 'result', ctx)
		: el('div', { class: 'error' }, `Cannot load the result: ${state.result.error}`);
	return [
		header,
		section('Arguments', valueTree(null, state.arguments, 'arguments', ctx)),
		section('Result', result),
		section('Call', factsTable(state.facts)),
		section('Metadata', valueTree(null, state.metadata, 'metadata', ctx)),
	];
}

const box: ChartBox = { width: 560, height: 160, pad: 24 };

function chartSvg(title: string, chart: Chart, yLabel: string, axes: { from: string; to: string }, bars: boolean, ctx: RenderContext): SVGElement {
	const root = svg('svg', { viewBox: `0 0 ${box.width} ${box.height}`, class: 'chart', role: 'img', 'aria-label': title });
	root.append(
		svg('line', { x1: String(box.pad), y1: String(box.height - box.pad), x2: String(box.width - box.pad), y2: String(box.height - box.pad), class: 'axis' }),
		svg('line', { x1: String(box.pad), y1: String(box.pad), x2: String(box.pad), y2: String(box.height - box.pad), class: 'axis' }),
	);
	const texts: [string, number, number, string][] = [
		[yLabel, box.pad + 4, box.pad - 8, 'start'],
		[axes.from, box.pad, box.height - 6, 'start'],
		[axes.to, box.width - box.pad, box.height - 6, 'end'],
	];
	for (const [text, x, y, anchor] of texts) {
		const t = svg('text', { x: String(x), y: String(y), 'text-anchor': anchor, class: 'label' });
		t.textContent = text;
		root.append(t);
	}
	for (const mark of chart.marks) {
		const shape = bars
			? svg('rect', { x: String(mark.x - 2), y: String(mark.y), width: '4', height: String(Math.max(mark.h, 1)), class: 'bar' })
			: svg('circle', { cx: String(mark.x), cy: String(mark.y), r: '3.5', class: 'point' });
		const tip = svg('title');
		tip.textContent = mark.label;
		shape.append(tip);
		shape.addEventListener('click', () => ctx.post({ type: 'action', action: 'openCall', key: mark.key }));
		root.append(shape);
	}
	return root;
}

function renderFunction(state: FunctionDetailsState, ctx: RenderContext): HTMLElement[] {
	const header = el(
		'header',
		{},
		el('h1', {}, el('span', { class: 'fn' }, state.name), el('span', { class: 'muted' }, state.module === null ? '' : ` ${state.module}`)),
		el(
			'div',
			{ class: 'actions' },
			button('Rerun all', 'Compute every cached call again', () => ctx.post({ type: 'action', action: 'rerun' })),
			button('Invalidate all', 'Remove every cached call of this function', () => ctx.post({ type: 'action', action: 'evict' })),
			button('Refresh', 'Read the function again', () => ctx.post({ type: 'action', action: 'refresh' })),
		),
	);
	const list = el('ol', { class: 'calls' });
	for (const p of state.points.slice(0, 100)) {
		const link = el('a', { href: '#', title: p.label }, p.argsText === '' ? '()' : p.argsText);
		link.addEventListener('click', (e) => {
			e.preventDefault();
			ctx.post({ type: 'action', action: 'openCall', key: p.key });
		});
		list.append(el('li', {}, link));
	}
	const shown = state.points.length < state.calls ? ` (newest ${state.points.length} of ${state.calls})` : '';
	return [
		header,
		section('Function', factsTable(state.facts)),
		section(
			`Durations over time${shown}`,
			chartSvg('Seconds computing per call, by creation time', durationChart(state.points, box), `max ${state.axes.maxDuration}`, state.axes, false, ctx),
		),
		section(`Hits over time${shown}`, chartSvg('Hits per call, by creation time', hitsChart(state.points, box), `max ${plural(Number(state.axes.maxHits), 'hit')}`, state.axes, true, ctx)),
		section('Newest calls', list),
	];
}

/** Replaces the content of `root` with the view of `state`. */
export function render(root: HTMLElement, state: DetailsState, ctx: RenderContext): void {
	root.replaceChildren(...(state.view === 'call' ? renderCall(state, ctx) : renderFunction(state, ctx)));
}

export function renderMessage(root: HTMLElement, text: string, kind: 'error' | 'muted'): void {
	root.replaceChildren(el('p', { class: kind }, text));
}
