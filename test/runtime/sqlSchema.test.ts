// docs/behaviour.md §2.6 "SQL": what the SQL store accepts from a snapshot or a log (runtime/src/storage/sql/schema.ts)
// — the checks that make a store untrusted input: a snapshot whose schema would run anything on fleche's behalf or
// lacks a column is refused whole; a record or a statistics entry is checked field by field and against its key
// before anything reads it. The store's tests reach these through damaged stores, one damage at a time; here every
// field and every rule meets its edges.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { recordKey, type CallRecord } from 'fleche';
import {
	BadRecord,
	maxFieldBytes,
	oversizedField,
	parseRecord,
	parseStats,
	requiredColumns,
	schemaProblem,
	schemaVersion,
	summaryFrom,
	type SchemaFacts,
} from '../../runtime/src/storage/sql/schema.ts';
import { hexOf } from '../support/sqlRecord.js';

/** A record whose key its fields hash to, in the store's own scheme. */
function record(overrides: Partial<CallRecord> = {}): CallRecord {
	const identity = {
		name: 'add',
		module: 'src/math.ts',
		version: 2,
		codeDigest: hexOf('code'),
		arguments: { a: hexOf('1'), b: hexOf('2') },
		...overrides,
	};
	return {
		key: recordKey(identity),
		...identity,
		result: hexOf('3'),
		metadata: { runtime: { walltime: 0.5 } },
		scheme: 'fleche.call/1',
		...overrides,
	};
}

/** The facts of a store of schema `version` exactly as fleche creates it. */
function soundFacts(version = schemaVersion): SchemaFacts {
	const tables = requiredColumns(version);
	return {
		objects: Object.keys(tables).map((t) => ['table', t, t, `CREATE TABLE ${t} (x)`] as const),
		columns: Object.fromEntries(Object.entries(tables).map(([t, cols]) => [t, cols.map((c) => [c, 0] as const)])),
		expressionIndexes: [],
		version,
	};
}

const refuses = (raw: unknown, why: RegExp | string, expectedKey?: string): void => {
	assert.throws(
		() => parseRecord(raw, expectedKey),
		(err: unknown) => err instanceof BadRecord && (typeof why === 'string' ? err.message === why : why.test(err.message)),
		`${typeof why === 'string' ? why : why.source}: ${inspect(raw, { depth: 3 }).slice(0, 200)}`,
	);
};

describe('sql store schema: the columns a snapshot must have', () => {
	it('grows by version: Python fleche’s tables (0), then statistics, async, scheme, signature, the summary tables', () => {
		const v0 = requiredColumns(0);
		assert.deepEqual(Object.keys(v0).sort(), ['arguments', 'calls', 'metadata']);
		assert.deepEqual(v0['calls'], ['key', 'name', 'module', 'version', 'code_digest', 'result']);
		assert.deepEqual(v0['arguments'], ['call_key', 'position', 'name', 'value']);
		assert.deepEqual(v0['metadata'], ['call_key', 'name', 'data']);
		const v1 = requiredColumns(1);
		assert.deepEqual(Object.keys(v1).sort(), ['arguments', 'calls', 'fleche_info', 'metadata', 'stats']);
		assert.deepEqual(v1['calls']?.slice(6), ['async']);
		assert.deepEqual(v1['stats'], ['key', 'name', 'module', 'hits', 'misses', 'last_hit', 'compute_seconds', 'saved_seconds']);
		assert.deepEqual(v1['fleche_info'], ['name', 'value']);
		assert.deepEqual(requiredColumns(2)['calls']?.slice(6), ['async', 'scheme']);
		assert.deepEqual(requiredColumns(3)['calls']?.slice(6), ['async', 'scheme', 'signature']);
		assert.deepEqual(requiredColumns(summaryFrom - 1)['function_calls'], undefined);
		const v5 = requiredColumns(summaryFrom);
		assert.deepEqual(v5['calls']?.slice(6), ['async', 'scheme', 'signature', 'created']);
		assert.deepEqual(v5['function_calls'], ['id', 'module', 'name', 'version', 'calls']);
		assert.deepEqual(v5['function_stats'], ['id', 'module', 'name', 'hits', 'misses', 'last_hit', 'compute_seconds', 'saved_seconds']);
		// Each call makes its own lists: a caller changing one changes no other.
		(requiredColumns(0)['calls'] as string[]).push('x');
		assert.equal(requiredColumns(0)['calls']?.length, 6);
	});
});

describe('sql store schema: a snapshot refused whole', () => {
	it('accepts the schemas fleche makes, of every version, and a newer version read as the newest it knows', () => {
		for (let v = 0; v <= schemaVersion; v++) assert.equal(schemaProblem(soundFacts(v)), null, `version ${v}`);
		assert.equal(schemaProblem({ ...soundFacts(), version: schemaVersion + 3 }), null);
		// Indexes and tables of its own that fleche does not read are no problem.
		const facts = soundFacts();
		assert.equal(
			schemaProblem({
				...facts,
				objects: [
					...facts.objects,
					['index', 'calls_by_name', 'calls', 'CREATE INDEX calls_by_name ON calls(name)'],
					['table', 'notes', 'notes', 'CREATE TABLE notes (t DEFAULT (1))'],
				],
			}),
			null,
		);
		assert.equal(schemaProblem({ ...facts, objects: [...facts.objects, ['table', 'calls', 'calls', null]] }), null);
	});

	it('refuses anything SQLite would run on fleche’s behalf, and tables it cannot read', () => {
		const facts = soundFacts();
		const add = (...objects: SchemaFacts['objects']): SchemaFacts => ({ ...facts, objects: [...facts.objects, ...objects] });
		assert.equal(schemaProblem(add(['trigger', 'spy', 'calls', 'CREATE TRIGGER spy …'])), 'it holds a trigger ("spy"), which fleche never creates');
		assert.equal(schemaProblem(add(['view', 'v', 'v', 'CREATE VIEW v AS SELECT 1'])), 'it holds a view ("v"), which fleche never creates');
		assert.equal(schemaProblem(add(['table', 'fts', 'fts', '  create virtual table fts USING fts5(x)'])), 'table "fts" is a virtual table');
		assert.equal(schemaProblem(add(['table', 'fts', 'fts', 'CREATE VIRTUALTABLE'])), null, 'not the word VIRTUAL');
		assert.equal(
			schemaProblem(add(['table', 'fts', 'fts', 'CREATE\n\t VIRTUAL TABLE fts USING fts5(x)'])),
			'table "fts" is a virtual table',
			'any white space',
		);
		assert.equal(schemaProblem(add(['table', 'notes', 'notes', 'CREATE TABLE notes (t TEXT) -- not CREATE VIRTUAL'])), null, 'the words later in the text');
		assert.equal(schemaProblem(add(['index', 'i', 'notes', 'CREATE VIRTUAL'])), null, 'only a table is virtual');
		for (const text of [
			'CREATE TABLE calls (key CHECK (length(key) = 64))',
			'CREATE TABLE calls (k, n AS (k || 1))',
			'CREATE TABLE calls (k DEFAULT  (random()))',
			'create table calls (k check(1))',
		]) {
			assert.equal(
				schemaProblem(add(['table', 'calls', 'calls', text])),
				'table calls is defined with an expression (CHECK, generated column or expression default)',
				text,
			);
		}
		assert.equal(schemaProblem(add(['table', 'calls', 'calls', 'CREATE TABLE calls (checked, aside, defaults)'])), null, 'column names that contain the words');
		assert.equal(schemaProblem(add(['table', 'calls', 'calls', "CREATE TABLE calls (k DEFAULT 'x')"])), null, 'a constant default');
		assert.equal(schemaProblem({ ...facts, expressionIndexes: ['by_lower', 'other'] }), 'index "by_lower" is on an expression');

		const without = (table: string): SchemaFacts => {
			const columns = { ...facts.columns };
			delete columns[table];
			return { ...facts, columns };
		};
		assert.equal(schemaProblem(without('metadata')), 'table metadata is missing');
		assert.equal(schemaProblem(without('function_stats')), 'table function_stats is missing');
		assert.equal(schemaProblem({ ...without('stats'), version: 0 }), null, 'a Python store has no statistics table');
		const columns = (table: string, cols: readonly (readonly [string, number])[]): SchemaFacts => ({ ...facts, columns: { ...facts.columns, [table]: cols } });
		const calls = facts.columns['calls']!;
		assert.equal(
			schemaProblem(
				columns(
					'calls',
					calls.filter(([c]) => c !== 'result'),
				),
			),
			'table calls has no column result',
		);
		assert.equal(
			schemaProblem(
				columns(
					'calls',
					calls.filter(([c]) => c !== 'created'),
				),
			),
			'table calls has no column created',
		);
		assert.equal(
			schemaProblem({
				...columns(
					'calls',
					calls.filter(([c]) => c !== 'created'),
				),
				version: 4,
			}),
			null,
			'created came with version 5',
		);
		assert.equal(schemaProblem(columns('calls', [...calls, ['extra', 0]])), null, 'a column more is no problem');
		assert.equal(schemaProblem(columns('calls', [...calls, ['shadow', 2]])), 'column calls.shadow is generated');
		assert.equal(schemaProblem(columns('calls', [...calls, ['shadow', 1]])), 'column calls.shadow is generated');
	});
});

describe('sql store schema: records read back', () => {
	it('returns a clean copy of a sound record, in either argument form, with its flags', () => {
		const r = record();
		const parsed = parseRecord(JSON.parse(JSON.stringify(r)), r.key);
		assert.deepEqual(parsed, r);
		assert.deepEqual(parseRecord({ ...r, arguments: Object.entries(r.arguments) }), r, 'the row form: [name, digest] pairs');
		assert.deepEqual(parseRecord({ ...r, async: 1 }), { ...r, async: true });
		assert.deepEqual(parseRecord({ ...r, async: true }), { ...r, async: true });
		assert.deepEqual(parseRecord({ ...r, async: 0 }), { ...r, async: false });
		assert.deepEqual(parseRecord({ ...r, async: false }), { ...r, async: false });
		assert.deepEqual(parseRecord({ ...r, async: null }), r);
		assert.deepEqual(parseRecord({ ...r, metadata: null }), { ...r, metadata: {} }, 'null metadata: none');
		const { scheme: _, ...unmarked } = r;
		assert.deepEqual(parseRecord(unmarked), unmarked, 'written before records carried their scheme');
		assert.deepEqual(parseRecord({ ...r, scheme: null }), unmarked);
		// Nothing of the raw object is kept: a clean copy.
		const raw = { ...r, extra: 'ignored', metadata: { runtime: { walltime: 0.5 } } };
		const copy = parseRecord(raw);
		assert.equal('extra' in copy, false);
		assert.notEqual(copy.arguments, raw.arguments);
		for (const v of [null, 'v1', 0, -2.5]) {
			const rv = record({ version: v });
			assert.deepEqual(parseRecord(rv), rv, `version ${String(v)}`);
		}
		const plain = record({ module: null, codeDigest: null, arguments: {} });
		assert.deepEqual(parseRecord({ ...plain, result: null }), { ...plain, result: null });
		// A null-prototype object is as good as a plain one.
		assert.deepEqual(parseRecord(Object.assign(Object.create(null) as object, r)), r);
		// Another scheme: kept as it is (stale, not damaged), whatever its key.
		const other = { ...r, scheme: 'fleche.call/9', key: hexOf('whatever') };
		assert.deepEqual(parseRecord(other), other);
	});

	it('names the first problem of a damaged record, and never returns one', () => {
		const r = record();
		refuses(null, 'not an object');
		refuses([r], 'not an object');
		refuses('record', 'not an object');
		refuses(new (class Row {})(), 'not an object');
		refuses({ ...r, oversized: true }, `a field is larger than ${maxFieldBytes} bytes`);
		refuses({ ...r, key: r.key.toUpperCase() }, 'key is not 64 lowercase hex characters');
		refuses({ ...r, key: r.key.slice(1) }, 'key is not 64 lowercase hex characters');
		refuses(r, `holds the record of key ${r.key}`, hexOf('another'));
		refuses({ ...r, name: '' }, 'name is not a non-empty string');
		refuses({ ...r, name: 5 }, 'name is not a non-empty string');
		refuses({ ...r, module: 3 }, 'module is not a string or null');
		refuses({ ...r, module: undefined }, 'module is not a string or null');
		for (const v of [Infinity, Number.NaN, true, {}, undefined]) refuses({ ...r, version: v }, 'version is not a string, number or null');
		refuses({ ...r, codeDigest: 'abc' }, 'codeDigest is not a digest or null');
		refuses({ ...r, result: 'abc' }, 'result is not a digest or null');
		refuses({ ...r, result: undefined }, 'result is not a digest or null');
		refuses({ ...r, arguments: 'a' }, 'arguments is not an object');
		refuses({ ...r, arguments: null }, 'arguments is not an object');
		refuses({ ...r, arguments: [['a', hexOf('1'), 'x']] }, 'an argument is not a [name, digest] pair');
		refuses({ ...r, arguments: [['a']] }, 'an argument is not a [name, digest] pair');
		refuses({ ...r, arguments: ['a'] }, 'an argument is not a [name, digest] pair');
		refuses({ ...r, arguments: [[1, hexOf('1')]] }, 'argument 1 is not a name and a digest');
		refuses({ ...r, arguments: { a: 'nope' } }, 'argument "a" is not a name and a digest');
		refuses(
			{
				...r,
				arguments: [
					['a', hexOf('1')],
					['a', hexOf('1')],
				],
			},
			'argument a appears twice',
		);
		refuses({ ...r, metadata: [] }, 'metadata is not an object');
		refuses({ ...r, metadata: 'm' }, 'metadata is not an object');
		refuses({ ...r, metadata: { runtime: 1 } }, 'metadata.runtime is not a JSON object');
		refuses({ ...r, metadata: { runtime: [1] } }, 'metadata.runtime is not a JSON object');
		refuses({ ...r, metadata: { runtime: { t: Infinity } } }, 'metadata.runtime is not a JSON object');
		refuses({ ...r, metadata: { runtime: { t: new Date(0) } } }, 'metadata.runtime is not a JSON object');
		refuses({ ...r, metadata: { runtime: { t: [1, { u: undefined }] } } }, 'metadata.runtime is not a JSON object');
		const { metadata: _, ...noMetadata } = r;
		refuses(noMetadata, 'metadata is missing');
		for (const flag of [2, 'true', -1]) refuses({ ...r, async: flag }, 'async is not a boolean');
		for (const scheme of ['', 'has space', 'x'.repeat(65), 7]) refuses({ ...r, scheme }, 'scheme is not a key scheme name');
		// Fields that do not hash to the key: edited after it was written.
		refuses({ ...r, name: 'sub' }, 'record fields do not hash to its key (edited)');
		refuses({ ...r, arguments: { ...r.arguments, b: hexOf('9') } }, 'record fields do not hash to its key (edited)');
		refuses({ ...r, version: 3 }, 'record fields do not hash to its key (edited)');
	});

	it('accepts JSON metadata to a depth of 200 and no deeper, and every JSON value inside', () => {
		const nest = (depth: number): unknown => {
			let v: unknown = 1;
			for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v };
			return v;
		};
		const r = record();
		const values = { s: 'x', n: -1.5, b: false, z: null, a: [1, 'y', null, { q: true }], o: { p: {} } };
		assert.deepEqual(parseRecord({ ...r, metadata: { runtime: values } }).metadata, { runtime: values });
		assert.doesNotThrow(() => parseRecord({ ...r, metadata: { deep: { v: nest(199) } } }));
		refuses({ ...r, metadata: { deep: { v: nest(200) } } }, 'metadata.deep is not a JSON object');
		refuses({ ...r, metadata: { runtime: { f: () => 1 } } }, 'metadata.runtime is not a JSON object');
		refuses({ ...r, metadata: { runtime: { n: 1n } } }, 'metadata.runtime is not a JSON object');
		refuses({ ...r, metadata: { runtime: { u: undefined } } }, 'metadata.runtime is not a JSON object');
		refuses({ ...r, metadata: { runtime: { t: 1, u: undefined } } }, 'metadata.runtime is not a JSON object');
		refuses({ ...r, metadata: { runtime: { t: [1, 2, undefined] } } }, 'metadata.runtime is not a JSON object');
	});
});

describe('sql store schema: fields too large to read back', () => {
	it('names the field of a record that would read back as damaged, measured in bytes', () => {
		const r = record();
		assert.equal(oversizedField(r), undefined);
		const big = 'x'.repeat(maxFieldBytes + 1);
		const justFits = 'x'.repeat(maxFieldBytes);
		assert.equal(oversizedField({ ...r, name: big }), `its name is larger than ${maxFieldBytes} bytes`);
		assert.equal(oversizedField({ ...r, name: justFits }), undefined);
		// Characters of three bytes: a third as many characters are over.
		const wide = '€'.repeat(Math.floor(maxFieldBytes / 3) + 1);
		assert.equal(oversizedField({ ...r, name: wide }), `its name is larger than ${maxFieldBytes} bytes`);
		assert.equal(oversizedField({ ...r, name: '€'.repeat(Math.floor(maxFieldBytes / 3)) }), undefined);
		assert.equal(oversizedField({ ...r, module: big }), `its module is larger than ${maxFieldBytes} bytes`);
		assert.equal(oversizedField({ ...r, module: null }), undefined);
		assert.equal(oversizedField({ ...r, version: big }), `its version is larger than ${maxFieldBytes} bytes`);
		assert.equal(oversizedField({ ...r, version: justFits.slice(2) }), undefined, 'the version is stored as JSON: two quotes more');
		assert.equal(oversizedField({ ...r, version: justFits.slice(1) }), `its version is larger than ${maxFieldBytes} bytes`);
		assert.equal(oversizedField({ ...r, arguments: { [big]: hexOf('1') } }), `an argument name is larger than ${maxFieldBytes} bytes`);
		assert.equal(oversizedField({ ...r, metadata: { [big]: {} } }), `its metadata.${big} is larger than ${maxFieldBytes} bytes`);
		assert.equal(
			oversizedField({ ...r, metadata: { m: { t: justFits } } }),
			`its metadata.m is larger than ${maxFieldBytes} bytes`,
			'the namespace’s JSON text',
		);
		assert.equal(oversizedField({ ...r, metadata: { m: { t: justFits.slice(10) } } }), undefined);
	});
});

describe('sql store schema: statistics read back', () => {
	const stats = { key: hexOf('k'), name: 'add', module: 'm.ts', hits: 3, misses: 0, lastHit: 1.5e9, computeSeconds: 0.25, savedSeconds: 0 };

	it('returns a clean copy of a sound entry', () => {
		assert.deepEqual(parseStats({ ...stats, extra: 1 }), stats);
		assert.deepEqual(parseStats({ ...stats, module: null, lastHit: null, name: '' }), { ...stats, module: null, lastHit: null, name: '' });
	});

	it('names the first problem of a damaged entry', () => {
		const refusesStats = (raw: unknown, why: string): void =>
			assert.throws(
				() => parseStats(raw),
				(err: unknown) => err instanceof BadRecord && err.message === `statistics ${why}`,
				why,
			);
		refusesStats(null, 'entry is not an object');
		refusesStats([stats], 'entry is not an object');
		refusesStats({ ...stats, key: 'abc' }, 'key is not a full key');
		refusesStats({ ...stats, name: null }, 'name is not a string');
		refusesStats({ ...stats, module: 1 }, 'module is not a string or null');
		for (const bad of [-1, 1.5, '3', Infinity, undefined]) refusesStats({ ...stats, hits: bad }, 'hits is not a count');
		refusesStats({ ...stats, misses: -2 }, 'misses is not a count');
		for (const bad of [-0.5, Infinity, Number.NaN, '1', undefined])
			refusesStats({ ...stats, computeSeconds: bad }, 'computeSeconds is not a number of seconds');
		refusesStats({ ...stats, savedSeconds: -1 }, 'savedSeconds is not a number of seconds');
		refusesStats({ ...stats, lastHit: -1 }, 'lastHit is not a number of seconds');
		refusesStats({ ...stats, lastHit: undefined }, 'lastHit is not a number of seconds');
		assert.deepEqual(parseStats({ ...stats, hits: 0, computeSeconds: 0, lastHit: 0 }), { ...stats, hits: 0, computeSeconds: 0, lastHit: 0 }, 'zero is a count');
	});
});
