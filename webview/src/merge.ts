// Pure: folds a "load more" answer into the value tree the webview shows.
import type { ValueNode } from './protocol.js';

function samePath(a: readonly (string | number)[], b: readonly (string | number)[]): boolean {
	return a.length === b.length && a.every((step, i) => step === b[i]);
}

/**
 * The tree with the node at `path` extended: a container gets the page's entries appended (when the page starts
 * where the shown entries end), a truncated string is replaced by the full one. Other nodes are shared, not copied.
 */
export function mergeMore(root: ValueNode, path: readonly (string | number)[], offset: number, more: ValueNode): ValueNode {
	if (root.path !== undefined && samePath(root.path, path)) {
		if (root.t === 'tree' && more.t === 'tree') {
			if (offset !== root.entries.length) return root;
			return { ...root, size: more.size, entries: [...root.entries, ...more.entries] };
		}
		return more;
	}
	if (root.t !== 'tree') return root;
	const depth = root.path.length;
	const step = path[depth];
	if (path.length <= depth || !samePath(root.path, path.slice(0, depth))) return root;
	let changed = false;
	const entries = root.entries.map((e) => {
		const childPath = e.value.path;
		if (childPath === undefined || childPath[depth] !== step) return e;
		const next = mergeMore(e.value, path, offset, more);
		if (next !== e.value) changed = true;
		return next === e.value ? e : { key: e.key, value: next };
	});
	return changed ? { ...root, entries } : root;
}
