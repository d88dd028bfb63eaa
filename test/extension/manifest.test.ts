// The manifest (root package.json `contributes`) and extension/src/constants.ts agree, both directions.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { commandIds, configSection, contextKeys, extensionId, settings, treeContext, viewContainerId, viewIds } from '../../extension/src/constants.ts';

const rootDir = fileURLToPath(new URL('../../../', import.meta.url));

interface Command {
	command: string;
	title: string;
	category?: string;
	icon?: string;
}
interface MenuItem {
	command: string;
	when?: string;
	group?: string;
}
interface Manifest {
	name: string;
	publisher: string;
	main: string;
	engines: { vscode: string };
	activationEvents: string[];
	files: string[];
	contributes: {
		viewsContainers: { activitybar: { id: string; title: string; icon: string }[] };
		views: Record<string, { id: string; name: string }[]>;
		viewsWelcome: { view: string; contents: string; when?: string }[];
		commands: Command[];
		menus: Record<string, MenuItem[]>;
		configuration: { properties: Record<string, { default?: unknown; markdownDescription?: string; scope?: string }> };
	};
}

const manifest = JSON.parse(readFileSync(`${rootDir}package.json`, 'utf8')) as Manifest;
const c = manifest.contributes;

test('identity, entry point and activation', () => {
	assert.equal(`${manifest.publisher}.${manifest.name}`, extensionId);
	assert.equal(manifest.main, './dist/extension.js');
	assert.match(manifest.engines.vscode, /^\^1\.\d+\.\d+$/);
	assert.ok(!manifest.activationEvents.includes('*'), 'no "*" activation');
	for (const e of ['workspaceContains:**/.fleche', 'workspaceContains:**/fleche.toml', 'onLanguage:typescript', 'onLanguage:javascript']) {
		assert.ok(manifest.activationEvents.includes(e), e);
	}
	// vsce refuses both at once; the allowlist is the one we keep.
	assert.ok(manifest.files.includes('dist/**'));
	assert.equal(existsSync(`${rootDir}.vscodeignore`), false);
});

test('every command in the manifest is in constants.ts, and every constant is in the manifest', () => {
	const declared = c.commands.map((x) => x.command).sort();
	assert.deepEqual(declared, Object.values(commandIds).sort());
	for (const cmd of c.commands) {
		assert.equal(cmd.category, 'Fleche', `${cmd.command} has the Fleche category`);
		assert.ok(cmd.title.length > 0);
	}
});

test('menus name known commands; item-only commands stay out of the palette; tree menus match contextValues', () => {
	const known = new Set<string>(Object.values(commandIds));
	for (const [menu, items] of Object.entries(c.menus)) {
		for (const item of items) assert.ok(known.has(item.command), `${menu}: unknown ${item.command}`);
	}
	const hidden = new Set(c.menus.commandPalette?.filter((m) => m.when === 'false').map((m) => m.command));
	assert.ok(hidden.has(commandIds.lensActions));
	assert.ok(hidden.has(commandIds.loadMoreCalls));
	for (const item of c.menus['view/item/context'] ?? []) {
		assert.match(item.when ?? '', new RegExp(`view == ${viewIds.calls.replace('.', '\\.')}`));
		const re = /viewItem =~ \/(.+)\//.exec(item.when ?? '');
		assert.ok(re?.[1], `${item.command} matches a viewItem`);
		const pattern = new RegExp(re[1]);
		assert.ok(Object.values(treeContext).some((v) => pattern.test(v) || pattern.test(`${v}+error`)), `${item.when} matches some row`);
	}
	// Context menus: the call row gets details, rerun and invalidate; the function row the same for the function.
	const on = (ctx: string) => (c.menus['view/item/context'] ?? []).filter((m) => new RegExp(/viewItem =~ \/(.+)\//.exec(m.when ?? '')![1]!).test(ctx)).map((m) => m.command);
	assert.deepEqual([...new Set(on(treeContext.call))].sort(), [commandIds.evictCall, commandIds.rerunCall, commandIds.showCallDetails].sort());
	assert.ok(on(treeContext.function).includes(commandIds.evictFunction));
	assert.ok((c.menus['view/title'] ?? []).some((m) => m.command === commandIds.refreshCalls && m.group?.startsWith('navigation')));
	assert.ok((c.menus['view/title'] ?? []).some((m) => m.command === commandIds.clearCache));
});

test('view container, view and welcome content', () => {
	assert.deepEqual(
		c.viewsContainers.activitybar.map((v) => v.id),
		[viewContainerId],
	);
	assert.deepEqual(
		c.views[viewContainerId]?.map((v) => v.id),
		[viewIds.calls],
	);
	assert.ok(existsSync(`${rootDir}${c.viewsContainers.activitybar[0]!.icon}`), 'the activity bar icon exists');
	// Two welcome states of the one view: loading (until the first listing resolves), then empty; never both.
	assert.deepEqual(
		c.viewsWelcome.map((w) => [w.view, w.when]),
		[
			[viewIds.calls, contextKeys.loading],
			[viewIds.calls, `!${contextKeys.loading}`],
		],
	);
	assert.match(c.viewsWelcome[0]!.contents, /^Reading the caches/);
	const empty = c.viewsWelcome[1]!.contents;
	assert.match(empty, /command:fleche\.refreshCalls/);
	// Welcome content renders links but no Markdown code spans: a backtick would show as a literal character.
	assert.doesNotMatch(empty.replace(/\[[^\]]*\]\([^)]*\)/g, ''), /`/);
	// Links work inside the .vsix, offline: commands, and the README it ships, never a web page.
	assert.match(empty, /\(command:fleche\.showReadme\)/);
	assert.doesNotMatch(empty, /\]\(https?:/);
	assert.ok(manifest.files.includes('README.md'), 'the README the welcome view opens is in the .vsix');
});

test('settings: the constants name exactly the contributed properties, each documented with a default and scope', () => {
	const keys = Object.keys(c.configuration.properties).sort();
	assert.deepEqual(keys, Object.values(settings).map((s) => `${configSection}.${s}`).sort());
	for (const [key, prop] of Object.entries(c.configuration.properties)) {
		assert.ok(prop.markdownDescription, `${key} has a markdownDescription`);
		assert.ok('default' in prop, `${key} has a default`);
		assert.ok(prop.scope, `${key} has a scope`);
	}
	assert.equal(c.configuration.properties['fleche.codeLens.enabled']?.default, true);
	assert.deepEqual(c.configuration.properties['fleche.caches']?.default, []);
	assert.equal(c.configuration.properties['fleche.node.path']?.default, 'node');
});

test('workspace trust: limited support, with rerun and explain (which run project code) disabled in Restricted Mode', () => {
	const trust = (manifest as unknown as { capabilities?: { untrustedWorkspaces?: { supported?: unknown; description?: unknown; restrictedConfigurations?: unknown } } })
		.capabilities?.untrustedWorkspaces;
	assert.equal(trust?.supported, 'limited');
	assert.match(String(trust?.description), /Rerun/);
	// The Node executable that runs project code must not come from an untrusted workspace's settings.
	assert.deepEqual(trust?.restrictedConfigurations, [`${configSection}.${settings.nodePath}`]);
	const runsCode = new Set<string>([commandIds.rerunCall, commandIds.rerunFunction, commandIds.explainMiss, commandIds.runWithArguments]);
	for (const cmd of c.commands) {
		const enablement = (cmd as Command & { enablement?: string }).enablement;
		if (runsCode.has(cmd.command)) assert.equal(enablement, 'isWorkspaceTrusted', cmd.command);
		else assert.doesNotMatch(enablement ?? '', /isWorkspaceTrusted/, `${cmd.command} works in Restricted Mode`);
	}
	for (const [menu, items] of Object.entries(c.menus)) {
		for (const item of items) if (runsCode.has(item.command)) assert.match(item.when ?? '', /isWorkspaceTrusted/, `${menu}: ${item.command}`);
	}
});

test('every relative link of the README resolves inside the repository and inside the .vsix (its files list)', () => {
	const readme = readFileSync(`${rootDir}README.md`, 'utf8');
	const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((href) => !/^[a-z][a-z0-9+.-]*:/i.test(href) && !href.startsWith('#'));
	assert.ok(links.length > 0, 'the README links into the repository');
	const shipped = (file: string): boolean =>
		manifest.files.some((pattern) => (pattern.endsWith('/**') ? file.startsWith(pattern.slice(0, -2)) : file === pattern));
	for (const href of links) {
		const file = href.split('#')[0]!.replace(/^\.\//, '');
		assert.ok(existsSync(`${rootDir}${file}`), `${href} exists`);
		assert.ok(shipped(file), `${href} is packed into the .vsix (package.json files)`);
	}
});
