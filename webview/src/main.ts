// Entry of the details webview: restores the saved state, then follows the extension's messages.
import { mergeMore } from './merge.js';
import { isDetailsState, toWebview, type DetailsState } from './protocol.js';
import { refreshAges, render, renderMessage, type RenderContext } from './render.js';
import { vscodeApi } from './vscodeApi.js';

const api = vscodeApi();
const root = document.getElementById('root')!;
let requestId = 0;
const now = (): number => Date.now() / 1000;
const ctx: RenderContext = { post: (m) => api.post(m), open: new Set(), nextRequestId: () => ++requestId, now };
// Ages ("3 min ago") follow the clock while the panel stays open.
setInterval(() => refreshAges(root, now()), 30_000);

let state: DetailsState | undefined;
const saved = api.getState();
if (isDetailsState(saved)) show(saved);

function show(next: DetailsState): void {
	state = next;
	api.setState(next);
	render(root, next, ctx);
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
	const m = event.data;
	if (toWebview.isState(m)) show(m.state);
	else if (toWebview.isMore(m)) {
		if (state?.view !== 'call') return;
		const s = state;
		if (m.section === 'arguments') show({ ...s, arguments: mergeMore(s.arguments, m.path, m.offset, m.node) });
		else if (m.section === 'metadata') show({ ...s, metadata: mergeMore(s.metadata, m.path, m.offset, m.node) });
		else if (s.result.ok) show({ ...s, result: { ok: true, value: mergeMore(s.result.value, m.path, m.offset, m.node) } });
	} else if (toWebview.isError(m)) {
		if (state && m.requestId !== undefined) return void api.post({ type: 'action', action: 'refresh' });
		renderMessage(root, m.message, 'error');
	}
});

api.post({ type: 'ready' });
