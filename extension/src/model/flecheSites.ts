// Pure: finds the functions a source file caches with fleche and computes the identity (module + name) the
// runtime will give them. The rule itself (precedence of the `name` option, own name and assigned name; `Class.method`;
// the module relative to the package root; the identity key) is the runtime's own `fleche/identity`
// (runtime/src/identity.ts), which wrapper.ts and profile.ts use too; what is found here is only what the runtime
// learns from the running function and its call site (own name, assigned variable, class name), read from the AST.
//
// Parser: acorn (already bundled as a runtime dependency) with @sveltejs/acorn-typescript (~200 KB, pure JS, the
// maintained fork Svelte uses). The TypeScript compiler would add ~3 MB minified to the bundle; @babel/parser
// ~0.5 MB next to an acorn we ship anyway; oxc-parser loads a native module.
import { dirname, join } from 'node:path';
import { Parser, type Node as AcornNode } from 'acorn';
import { tsPlugin } from '@sveltejs/acorn-typescript';
import { functionIdentityName, identityModule, methodIdentityName, ownFunctionName } from 'fleche/identity';

export { identityKey, moduleOf, type PackageJsonProbe } from 'fleche/identity';

/** One cached function found in a source file. */
export interface FlecheSite {
	/** The identity name the runtime computes: `add`, `Shapes.area`, or the `name` option. */
	readonly name: string;
	/** The identity module: the `module` option, else the file relative to its package root; null when `hashModule: false`. */
	readonly module: string | null;
	readonly kind: 'function' | 'method';
	/** 0-based line and column of where the lens goes (the declaration, decorators included). */
	readonly line: number;
	readonly column: number;
	/** 0-based line of the end of the wrapped function. */
	readonly endLine: number;
	/** 0-based offsets of the declaration. */
	readonly start: number;
	readonly end: number;
}

export interface FindSitesOptions {
	/** The file name, for the dialect: `.ts/.mts/.cts/.tsx` TypeScript, `.jsx/.tsx` JSX. */
	readonly fileName: string;
	/** The module the runtime derives from the file's location (see {@link moduleOf}); null when it has no file. */
	readonly module: string | null;
	/** Reads local modules this file imports from, to recognise aliases of fleche they export. */
	readonly resolveImport?: ImportResolver;
}

type AnyNode = AcornNode & Record<string, unknown>;

const parsers = new Map<string, typeof Parser>();

function parserFor(jsx: boolean): typeof Parser {
	const id = jsx ? 'jsx' : 'ts';
	let p = parsers.get(id);
	if (!p) {
		p = Parser.extend(tsPlugin({ jsx }));
		parsers.set(id, p);
	}
	return p;
}

function parse(text: string, fileName: string): AnyNode | undefined {
	const jsxFirst = /\.[jt]sx$/i.test(fileName);
	for (const jsx of [jsxFirst, !jsxFirst]) {
		for (const sourceType of ['module', 'script'] as const) {
			try {
				return parserFor(jsx).parse(text, {
					ecmaVersion: 'latest',
					sourceType,
					locations: true,
					allowHashBang: true,
					allowReturnOutsideFunction: true,
					allowAwaitOutsideFunction: true,
					allowImportExportEverywhere: true,
				}) as unknown as AnyNode;
			} catch {
				// try the next dialect
			}
		}
	}
	return undefined;
}

function isNode(value: unknown): value is AnyNode {
	return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

/** Calls `visit(node, parents)` on every node, parents outermost first. */
function walk(root: AnyNode, visit: (node: AnyNode, parents: readonly AnyNode[]) => void): void {
	const parents: AnyNode[] = [];
	const go = (node: AnyNode): void => {
		visit(node, parents);
		parents.push(node);
		for (const key in node) {
			if (key === 'loc' || key === 'range' || key === 'start' || key === 'end' || key === 'type') continue;
			const child = node[key];
			if (Array.isArray(child)) {
				for (const c of child) if (isNode(c)) go(c);
			} else if (isNode(child)) go(child);
		}
		parents.pop();
	};
	go(root);
}

/**
 * Reads another module of the project for a relative specifier (`./cacheUtils`), as Node or a bundler would resolve
 * it from `fromFile`; undefined when there is no such file or it cannot be read. Lets an alias exported by a local
 * module (`export { fleche as memo } from 'fleche'`) be recognised where it is imported.
 */
export type ImportResolver = (specifier: string, fromFile: string) => { readonly fileName: string; readonly text: string } | undefined;

const sourceExtensions = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'];
const tsForJs: Record<string, string> = { '.js': '.ts', '.jsx': '.tsx', '.mjs': '.mts', '.cjs': '.cts' };

/**
 * The files a relative specifier may name, in the order a TypeScript project resolves them: `./a.js` is `./a.ts`
 * when that exists (TypeScript's ESM convention), an extensionless `./a` tries each source extension, then
 * `./a/index.*`. The caller takes the first that exists.
 */
export function localModuleCandidates(specifier: string, fromFile: string): string[] {
	const base = join(dirname(fromFile), specifier);
	const ext = /\.[cm]?[jt]sx?$/i.exec(base)?.[0].toLowerCase();
	if (ext !== undefined) {
		const ts = tsForJs[ext];
		return ts === undefined ? [base] : [base.slice(0, -ext.length) + ts, base];
	}
	return [...sourceExtensions.map((e) => base + e), ...sourceExtensions.map((e) => join(base, `index${e}`))];
}

/** How deep a chain of local re-exports is followed (`a` re-exports `b` which re-exports fleche…). */
const maxReexportDepth = 8;

interface Bindings {
	/** Local names that are `fleche` itself. */
	readonly names: Set<string>;
	/** Local namespace objects (`import * as fl`, `require(…)`) → their members that are `fleche`. */
	readonly namespaces: Map<string, Set<string>>;
	/** Local name → imported name, for functions passed by reference (`fleche(slow)` names the function `slow`). */
	readonly imported: Map<string, string>;
}

interface Resolution {
	readonly fileName: string;
	readonly resolve: ImportResolver | undefined;
	/** Files on the current chain of re-exports, against cycles. */
	readonly chain: readonly string[];
}

const isRelative = (specifier: unknown): specifier is string => typeof specifier === 'string' && /^\.\.?(\/|$)/.test(specifier);

/** The names under which module `source` exports `fleche` (`fleche` for the package itself), seen from `r`. */
function exportedFleche(source: unknown, r: Resolution): ReadonlySet<string> {
	if (source === 'fleche') return new Set(['fleche']);
	if (!isRelative(source) || !r.resolve || r.chain.length >= maxReexportDepth) return new Set();
	const target = r.resolve(source, r.fileName);
	if (!target || r.chain.includes(target.fileName)) return new Set();
	return flecheExports(target.text, { fileName: target.fileName, resolve: r.resolve, chain: [...r.chain, target.fileName] });
}

/** Whether a text can name fleche at all: it says `fleche`, or it imports or re-exports a local module that might. */
function mayNameFleche(text: string, resolve: ImportResolver | undefined): boolean {
	return text.includes('fleche') || (resolve !== undefined && /(?:\bfrom|\bimport|\brequire)\s*\(?\s*['"]\.\.?\//.test(text));
}

/** The names under which this file can call `fleche` (imports, renames, `require`, local re-exports), and namespaces. */
function flecheBindings(program: AnyNode, r: Resolution): Bindings {
	const names = new Set(['fleche']);
	const namespaces = new Map<string, Set<string>>();
	const imported = new Map<string, string>();
	walk(program, (node) => {
		if (node.type === 'ImportDeclaration') {
			const specifiers = node.specifiers as AnyNode[];
			if (specifiers.length === 0) return;
			const exported = exportedFleche((node.source as AnyNode).value, r);
			for (const spec of specifiers) {
				const local = (spec.local as AnyNode).name as string;
				if (spec.type === 'ImportNamespaceSpecifier') {
					if (exported.size > 0) namespaces.set(local, new Set(exported));
					continue;
				}
				if (spec.type === 'ImportDefaultSpecifier') {
					// `import fl from 'fleche'` is the CommonJS namespace under interop; a local module may export it as default.
					if ((node.source as AnyNode).value === 'fleche') namespaces.set(local, new Set(exported));
					else if (exported.has('default')) names.add(local);
					continue;
				}
				const importedNode = spec.imported as AnyNode;
				const importedName = (importedNode.name ?? importedNode.value) as string;
				if (exported.has(importedName)) names.add(local);
				else imported.set(local, importedName);
			}
		} else if (node.type === 'VariableDeclarator') {
			const source = requiredModule(node.init as AnyNode | null);
			if (source === undefined) return;
			const exported = exportedFleche(source, r);
			if (exported.size === 0) return;
			const id = node.id as AnyNode;
			if (id.type === 'Identifier') namespaces.set(id.name as string, new Set(exported));
			else if (id.type === 'ObjectPattern') {
				for (const prop of id.properties as AnyNode[]) {
					const key = prop.key as AnyNode | undefined;
					const value = prop.value as AnyNode | undefined;
					if (prop.type === 'Property' && key?.type === 'Identifier' && exported.has(key.name as string) && value?.type === 'Identifier') {
						names.add(value.name as string);
					}
				}
			}
		}
	});
	return { names, namespaces, imported };
}

/**
 * The module a `require('…')` initialiser loads, also through an interop helper (`__importStar(require('…'))`, what
 * TypeScript emits for `import * as` in CommonJS); undefined for anything else.
 */
function requiredModule(init: AnyNode | null): unknown {
	if (!init || init.type !== 'CallExpression') return undefined;
	const callee = init.callee as AnyNode;
	const arg = (init.arguments as AnyNode[])[0];
	if (callee.type === 'Identifier' && callee.name === 'require') return arg?.type === 'Literal' ? arg.value : undefined;
	return (init.arguments as AnyNode[]).length === 1 && arg?.type === 'CallExpression' ? requiredModule(arg) : undefined;
}

/** The names under which a module exports `fleche`: re-exports, exported aliases, `exports.x = fleche`. */
function flecheExports(text: string, r: Resolution): ReadonlySet<string> {
	const out = new Set<string>();
	if (!mayNameFleche(text, r.resolve)) return out;
	const program = parse(text, r.fileName);
	if (!program) return out;
	const b = flecheBindings(program, r);
	const isFleche = (node: AnyNode | null | undefined): boolean => node !== null && node !== undefined && isFlecheCallee(node, b);
	const exportName = (node: AnyNode): string => (node.name ?? node.value) as string;
	for (const statement of program.body as AnyNode[]) {
		if (statement.type === 'ExportAllDeclaration') {
			// `export * as ns from …` exports a namespace object, not fleche itself.
			if (!statement.exported) for (const name of exportedFleche((statement.source as AnyNode).value, r)) if (name !== 'default') out.add(name);
		} else if (statement.type === 'ExportNamedDeclaration') {
			const fromSource = statement.source ? exportedFleche((statement.source as AnyNode).value, r) : undefined;
			for (const spec of statement.specifiers as AnyNode[]) {
				const local = exportName(spec.local as AnyNode);
				if (fromSource ? fromSource.has(local) : b.names.has(local)) out.add(exportName(spec.exported as AnyNode));
			}
			const declaration = statement.declaration as AnyNode | null;
			if (declaration?.type === 'VariableDeclaration') {
				for (const d of declaration.declarations as AnyNode[]) {
					if ((d.id as AnyNode).type === 'Identifier' && isFleche(d.init as AnyNode | null)) out.add((d.id as AnyNode).name as string);
				}
			}
		} else if (statement.type === 'ExportDefaultDeclaration') {
			if (isFleche(statement.declaration as AnyNode)) out.add('default');
		} else if (statement.type === 'ExpressionStatement') {
			// CommonJS: `exports.memo = fleche`, `module.exports.memo = fleche`.
			const e = statement.expression as AnyNode;
			if (e.type !== 'AssignmentExpression' || e.operator !== '=' || !isFleche(e.right as AnyNode)) continue;
			const left = e.left as AnyNode;
			const object = left.type === 'MemberExpression' && !left.computed ? (left.object as AnyNode) : undefined;
			const isExports =
				(object?.type === 'Identifier' && object.name === 'exports') ||
				(object?.type === 'MemberExpression' && (object.object as AnyNode).name === 'module' && (object.property as AnyNode).name === 'exports');
			if (isExports) out.add((left.property as AnyNode).name as string);
		}
	}
	return out;
}

/** Removes TS-only wrappers around an expression: `x as T`, `x!`, `<T>x`, `x satisfies T`. */
function unwrapTs(node: AnyNode): AnyNode {
	let n = node;
	while (
		n.type === 'TSAsExpression' ||
		n.type === 'TSNonNullExpression' ||
		n.type === 'TSTypeAssertion' ||
		n.type === 'TSSatisfiesExpression' ||
		n.type === 'TSInstantiationExpression' ||
		n.type === 'ParenthesizedExpression'
	) {
		n = n.expression as AnyNode;
	}
	return n;
}

function isFlecheCallee(callee: AnyNode, b: Bindings): boolean {
	const c = unwrapTs(callee);
	if (c.type === 'Identifier') return b.names.has(c.name as string);
	// `fl.fleche(...)` for a namespace import, and `(0, fleche_1.fleche)(...)` in compiled CommonJS — but only on a
	// namespace of fleche (or of a local module re-exporting it): `other.fleche(...)` is someone else's method.
	if (c.type === 'MemberExpression' && !c.computed) {
		const object = unwrapTs(c.object as AnyNode);
		const prop = c.property as AnyNode;
		return object.type === 'Identifier' && prop.type === 'Identifier' && b.namespaces.get(object.name as string)?.has(prop.name as string) === true;
	}
	if (c.type === 'SequenceExpression') {
		const last = (c.expressions as AnyNode[]).at(-1);
		return last !== undefined && isFlecheCallee(last, b);
	}
	return false;
}

interface IdentityOptions {
	name?: string;
	module?: string;
	hashModule?: boolean;
}

/** The identity options written as literals in an options object (other values cannot be known statically). */
function literalOptions(node: AnyNode | undefined): IdentityOptions {
	const out: IdentityOptions = {};
	if (!node) return out;
	const obj = unwrapTs(node);
	if (obj.type !== 'ObjectExpression') return out;
	for (const prop of obj.properties as AnyNode[]) {
		if (prop.type !== 'Property' || prop.computed) continue;
		const key = prop.key as AnyNode;
		const keyName = (key.type === 'Identifier' ? key.name : key.value) as string;
		const value = unwrapTs(prop.value as AnyNode);
		const literal = value.type === 'Literal' ? value.value : value.type === 'TemplateLiteral' ? templateText(value) : undefined;
		if (keyName === 'name' && typeof literal === 'string') out.name = literal;
		if (keyName === 'module' && typeof literal === 'string') out.module = literal;
		if (keyName === 'hashModule' && typeof literal === 'boolean') out.hashModule = literal;
	}
	return out;
}

function templateText(node: AnyNode): string | undefined {
	const quasis = node.quasis as AnyNode[];
	if ((node.expressions as unknown[]).length > 0 || quasis.length !== 1) return undefined;
	return (quasis[0]!.value as { cooked: string }).cooked;
}

function keyName(key: AnyNode, computed: unknown): string | undefined {
	if (key.type === 'Identifier' && !computed) return key.name as string;
	if (key.type === 'PrivateIdentifier') return `#${key.name as string}`;
	if (key.type === 'Literal') return String(key.value);
	return undefined;
}

/** The runtime's `fn.name` for the wrapped expression, when it has one (named function, function reference). */
function ownName(fn: AnyNode, b: Bindings): string | undefined {
	const f = unwrapTs(fn);
	if ((f.type === 'FunctionExpression' || f.type === 'ClassExpression') && f.id) return ownFunctionName((f.id as AnyNode).name);
	if (f.type === 'Identifier') return ownFunctionName(b.imported.get(f.name as string) ?? f.name);
	return undefined;
}

/**
 * The name the runtime infers from what the call is assigned to (`const add = fleche(…)`, `exports.add = …`,
 * `this.add = …`, `{ add: fleche(…) }`, a class field), or undefined. `parents` ends with the call's parent.
 */
function assignedName(call: AnyNode, parents: readonly AnyNode[]): { name: string; owner: AnyNode } | undefined {
	let child = call;
	let i = parents.length - 1;
	// `fleche(…) as T`, `fleche(…)!`: the text before the call is unchanged, so the runtime still sees the assignment.
	while (i >= 0 && unwrapTs(parents[i]!) !== parents[i] && (parents[i]!.expression as AnyNode | undefined) === child) {
		child = parents[i]!;
		i--;
	}
	const parent = parents[i];
	if (!parent) return undefined;
	switch (parent.type) {
		case 'VariableDeclarator': {
			const id = parent.id as AnyNode;
			if (parent.init !== child || id.type !== 'Identifier') return undefined;
			const decl = parents[i - 1];
			const exported = parents[i - 2];
			const owner = exported?.type === 'ExportNamedDeclaration' ? exported : (decl ?? parent);
			return { name: id.name as string, owner };
		}
		case 'AssignmentExpression': {
			if (parent.right !== child || parent.operator !== '=') return undefined;
			const left = parent.left as AnyNode;
			const statement = parents[i - 1]?.type === 'ExpressionStatement' ? parents[i - 1]! : parent;
			if (left.type === 'Identifier') return { name: left.name as string, owner: statement };
			if (left.type === 'MemberExpression' && !left.computed) {
				const prop = left.property as AnyNode;
				if (prop.type === 'Identifier') return { name: prop.name as string, owner: statement };
			}
			return undefined;
		}
		case 'Property':
		case 'PropertyDefinition': {
			if (parent.value !== child) return undefined;
			const name = keyName(parent.key as AnyNode, parent.computed);
			return name === undefined ? undefined : { name, owner: parent };
		}
		default:
			return undefined;
	}
}

/** The runtime's `constructor.name` of the class; `undefined` when it has none. */
function className(cls: AnyNode, parents: readonly AnyNode[]): string | undefined {
	if (cls.id) return (cls.id as AnyNode).name as string;
	// `const Foo = class { … }` names the class `Foo`; `export default class {}` is `default`.
	const parent = parents.at(-1);
	if (parent?.type === 'VariableDeclarator' && (parent.id as AnyNode).type === 'Identifier') return (parent.id as AnyNode).name as string;
	if (parent?.type === 'ExportDefaultDeclaration') return 'default';
	return undefined;
}

/**
 * Every `fleche(fn, options?)` call and `@fleche` / `@fleche(options)` method in `text`, with the identity the
 * runtime gives each. Returns `undefined` when the text does not parse (keep the previous result while typing).
 * Calls whose name the runtime cannot infer (it throws at wrap time) are left out.
 */
export function findFlecheSites(text: string, options: FindSitesOptions): FlecheSite[] | undefined {
	if (!mayNameFleche(text, options.resolveImport)) return [];
	const program = parse(text, options.fileName);
	if (!program) return undefined;
	const bindings = flecheBindings(program, { fileName: options.fileName, resolve: options.resolveImport, chain: [options.fileName] });
	const sites: FlecheSite[] = [];
	const moduleFor = (o: IdentityOptions): string | null => identityModule(o, options.module);
	const loc = (node: AnyNode) => node.loc as { start: { line: number; column: number }; end: { line: number } };

	walk(program, (node, parents) => {
		if (node.type === 'CallExpression' && isFlecheCallee(node.callee as AnyNode, bindings)) {
			const [fn, opts] = node.arguments as AnyNode[];
			if (!fn || fn.type === 'ObjectExpression' || fn.type === 'SpreadElement') return; // decorator factory
			const o = literalOptions(opts);
			const assigned = assignedName(node, parents);
			const name = functionIdentityName(o.name, ownName(fn, bindings), assigned?.name);
			if (name === undefined) return;
			const owner = assigned?.owner ?? node;
			sites.push({
				name,
				module: moduleFor(o),
				kind: 'function',
				line: loc(owner).start.line - 1,
				column: loc(owner).start.column,
				endLine: loc(owner).end.line - 1,
				start: owner.start,
				end: owner.end,
			});
			return;
		}
		if (node.type === 'ClassDeclaration' || node.type === 'ClassExpression') {
			const cls = className(node, parents);
			for (const member of (node.body as AnyNode).body as AnyNode[]) {
				if (member.type !== 'MethodDefinition' || member.kind !== 'method') continue;
				const decorators = (member.decorators as AnyNode[] | undefined) ?? [];
				for (const decorator of decorators) {
					const expr = unwrapTs(decorator.expression as AnyNode);
					const isCall = expr.type === 'CallExpression';
					if (!isFlecheCallee(isCall ? (expr.callee as AnyNode) : expr, bindings)) continue;
					const o = isCall ? literalOptions((expr.arguments as AnyNode[])[0]) : {};
					const method = keyName(member.key as AnyNode, member.computed);
					const name = method === undefined ? o.name : methodIdentityName(o.name, cls, method);
					if (name === undefined) continue;
					const first = decorators[0] ?? member;
					const start = Math.min(first.start, member.start);
					const firstLoc = first.start <= member.start ? loc(first) : loc(member);
					sites.push({
						name,
						module: moduleFor(o),
						kind: 'method',
						line: firstLoc.start.line - 1,
						column: firstLoc.start.column,
						endLine: loc(member).end.line - 1,
						start,
						end: member.end,
					});
					break;
				}
			}
		}
	});
	return sites.sort((a, b) => a.start - b.start);
}
