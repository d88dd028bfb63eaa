// Typed wrapper over acquireVsCodeApi (callable once per page), speaking only protocol types.
import type { DetailsState, FromWebview } from './protocol.js';

interface VsCodeApi {
	postMessage(message: unknown): void;
	getState(): unknown;
	setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface WebviewApi {
	post(message: FromWebview): void;
	/** The state saved for this panel (restored after a reload or a window restart). */
	getState(): unknown;
	setState(state: DetailsState): void;
}

let api: WebviewApi | undefined;

export function vscodeApi(): WebviewApi {
	if (!api) {
		const raw = acquireVsCodeApi();
		api = {
			post: (m) => raw.postMessage(m),
			getState: () => raw.getState(),
			setState: (s) => raw.setState(s),
		};
	}
	return api;
}
