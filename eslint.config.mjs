// ESLint flat config: @eslint/js recommended everywhere, typescript-eslint's type-checked rules on TypeScript,
// and the folder boundary rules of docs/architecture.md.
// Each folder's boundary block must stay disjoint from the others: a later block that sets the same rule
// replaces the earlier options instead of merging them.

import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
	globalIgnores(['**/node_modules/', '**/dist/', 'out/', '.cache/', '.vscode-test/', '**/*.d.ts']),

	{
		// Build, test-orchestration and CI scripts, and plain JS fixtures: Node programs.
		files: ['**/*.{js,mjs,cjs}'],
		extends: [js.configs.recommended],
		languageOptions: { globals: globals.node },
	},

	{
		files: ['**/*.ts'],
		extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
		languageOptions: {
			parserOptions: {
				// Explicit projects rather than `projectService`: runtime/examples/** is covered only by
				// test/tsconfig.json, and the nearest-tsconfig lookup would give it the runtime's (or the root's)
				// options. The first project that includes a file wins, so runtime sources get runtime's types.
				project: ['./runtime/tsconfig.json', './extension/tsconfig.json', './webview/tsconfig.json', './test/tsconfig.json'],
				tsconfigRootDir: import.meta.dirname,
			},
		},
		rules: {
			'@typescript-eslint/no-floating-promises': [
				'error',
				{
					// node:test's test()/describe() return promises the runner tracks itself.
					allowForKnownSafeCalls: [
						{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
					],
				},
			],
			'@typescript-eslint/no-misused-promises': 'error',
			'@typescript-eslint/consistent-type-imports': 'error',
			'@typescript-eslint/switch-exhaustiveness-check': 'error',
			// A leading `_` marks a name that must exist but is unused on purpose: parameters required by an
			// interface (storage stubs), `for (const _ of it)` counters, skipped tuple slots.
			'@typescript-eslint/no-unused-vars': [
				'error',
				{
					argsIgnorePattern: '^_',
					varsIgnorePattern: '^_',
					caughtErrorsIgnorePattern: '^_',
					destructuredArrayIgnorePattern: '^_',
				},
			],
		},
	},

	{
		// Tests and benchmarks wrap `async` functions that never await on purpose: they are the subjects.
		files: ['test/**/*.ts'],
		rules: { '@typescript-eslint/require-await': 'off' },
	},

	{
		files: ['runtime/**/*.ts'],
		rules: {
			'@typescript-eslint/no-restricted-imports': [
				'error',
				{
					paths: [{ name: 'vscode', message: 'The runtime is a plain Node library: no VS Code API.' }],
					patterns: [
						{
							regex: '(^|/)(extension|webview)(/|$)',
							message: 'The runtime must not depend on the extension or the webview.',
						},
					],
				},
			],
		},
	},

	{
		files: ['extension/**/*.ts'],
		ignores: ['extension/src/model/**'],
		rules: {
			'@typescript-eslint/no-restricted-imports': [
				'error',
				{
					patterns: [
						{
							group: ['**/runtime/**', 'fleche/*', '!fleche/inspect', '!fleche/identity', '!fleche/protocol'],
							message: "The extension uses the runtime only through 'fleche', 'fleche/inspect', 'fleche/identity' and 'fleche/protocol'.",
						},
						{
							regex: '(^|/)webview/src/(?!(protocol|units)(\\.js)?$)',
							message: 'The extension shares only webview/src/protocol.ts (messages) and units.ts (pure formatting) with the webview.',
						},
					],
				},
			],
		},
	},

	{
		// The view models are plain data in, plain data out: node:test reaches them without VS Code.
		files: ['extension/src/model/**/*.ts'],
		rules: {
			'@typescript-eslint/no-restricted-imports': [
				'error',
				{
					paths: [
						{ name: 'vscode', message: 'model/ is pure: VS Code types and calls belong in views/, commands/ or data/.' },
						{ name: 'node:fs', message: 'model/ is pure: inject what it needs to know of the disk.' },
						{ name: 'node:child_process', message: 'model/ is pure: processes belong in data/.' },
						{ name: 'fs', message: 'model/ is pure.' },
						{ name: 'child_process', message: 'model/ is pure.' },
					],
					patterns: [
						{
							group: ['**/runtime/**', 'fleche/*', '!fleche/inspect', '!fleche/identity', '!fleche/protocol'],
							message: "The extension uses the runtime only through 'fleche', 'fleche/inspect', 'fleche/identity' and 'fleche/protocol'.",
						},
						{
							regex: '(^|/)webview/src/(?!(protocol|units)(\\.js)?$)',
							message: 'The extension shares only webview/src/protocol.ts (messages) and units.ts (pure formatting) with the webview.',
						},
					],
				},
			],
		},
	},

	{
		// The node tier runs outside VS Code: these tests reach the extension only through its pure model/.
		files: ['test/extension/**/*.ts', 'test/webview/**/*.ts'],
		rules: {
			'@typescript-eslint/no-restricted-imports': [
				'error',
				{
					paths: [{ name: 'vscode', message: 'Node-tier tests run without VS Code: test extension/src/model/** instead.' }],
					patterns: [{ regex: '(^|/)extension/src/(?!model/|constants(\\.[jt]s)?$)', message: 'Node-tier tests import only extension/src/model/** and constants.' }],
				},
			],
		},
	},

	{
		// The webview is a browser page: no VS Code API, no Node, nothing of the extension; the runtime as types only.
		files: ['webview/**/*.ts'],
		rules: {
			'@typescript-eslint/no-restricted-imports': [
				'error',
				{
					paths: [{ name: 'vscode', message: 'The webview talks to the extension only through protocol.ts messages.' }],
					patterns: [
						{ regex: '^node:', message: 'The webview runs in a browser.' },
						{ regex: '(^|/)extension(/|$)', message: 'The webview imports nothing from the extension.' },
						{ group: ['fleche', 'fleche/*'], allowTypeImports: true, message: 'The webview may use runtime types only.' },
					],
				},
			],
		},
	},
);
