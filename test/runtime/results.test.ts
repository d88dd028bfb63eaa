// Issue 13: what a hit gives back (classes restored), what a key means (require, cycles, Proxies), and reference
// features: Digest.expand/shrink, DIGEST_LENGTH, BaseCache.table(), a version from package.json, method helpers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fleche, cache, digest, D, Digest, DIGEST_LENGTH, registerClass, type Cache, type Fleche } from 'fleche';
import { openStore } from 'fleche/inspect';
import { captureLogs } from '../support/logs.ts';
import { missAndHit } from '../support/missAndHit.ts';
import { prng } from '../support/prng.ts';
import { fileStore, freshDir, memoryStore } from '../support/stores.ts';

const logs = captureLogs();

class Point {
	constructor(
		public x: number,
		public y: number,
	) {}
	norm(): number {
		return Math.hypot(this.x, this.y);
	}
}
registerClass(Point);

@registerClass({ name: 'geo.Segment' })
class Segment {
	constructor(
		public a: Point,
		public b: Point,
	) {}
	length(): number {
		return Math.hypot(this.a.x - this.b.x, this.a.y - this.b.y);
	}
}

class HttpError extends RangeError {
	constructor(
		message: string,
		public status: number,
	) {
		super(message);
		this.name = 'HttpError';
	}
}
registerClass(HttpError);

/** Both kinds of store: a file store (the 'v8' serializer) and a memory store (structured clone). */
function stores(): [string, Cache][] {
	return [
		['file', fileStore().cache],
		['memory', memoryStore()],
	];
}

describe('a hit returns what the miss returned', () => {
	for (const [kind, c] of stores()) {
		test(`registered classes come back as instances, with the same digest (${kind} store)`, () => {
			const { miss, hit, runs } = missAndHit(c, 'mkSegment', () => ({ seg: new Segment(new Point(0, 0), new Point(3, 4)), tag: 'x' }));
			assert.equal(runs, 1);
			assert.ok(hit.seg instanceof Segment);
			assert.ok(hit.seg.a instanceof Point && hit.seg.b instanceof Point);
			assert.equal(hit.seg.length(), 5);
			assert.equal(hit.seg.b.norm(), 5);
			assert.notEqual(hit.seg, miss.seg, 'a fresh copy');
			assert.equal(digest(hit), digest(miss));
		});

		test(`Error subclasses, URL and URLSearchParams come back as themselves (${kind} store)`, () => {
			const make = () => ({
				type: new TypeError('bad type'),
				range: new RangeError('out', { cause: new URL('https://example.com/a?b=1') }),
				http: new HttpError('teapot', 418),
				url: new URL('https://example.com/x?y=2#z'),
				params: new URLSearchParams('a=1&b=2&a=3'),
				inMap: new Map([['home', new URL('https://example.org/')]]),
				inSet: new Set([new URL('https://example.net/')]),
				bare: Object.assign(Object.create(null) as object, { k: 1 }),
			});
			const { miss, hit, runs } = missAndHit(c, 'mkBuiltins', make);
			assert.equal(runs, 1, 'the second call is a hit (Node 22+ refuse to structured-clone a URL)');
			assert.ok(hit.type instanceof TypeError);
			assert.equal(hit.type.message, 'bad type');
			assert.ok(hit.range instanceof RangeError);
			assert.ok(hit.range.cause instanceof URL);
			assert.equal(hit.range.cause.searchParams.get('b'), '1');
			assert.ok(hit.http instanceof HttpError && hit.http instanceof RangeError);
			assert.equal(hit.http.status, 418);
			assert.equal(hit.http.name, 'HttpError');
			assert.ok(hit.url instanceof URL);
			assert.equal(hit.url.hash, '#z');
			assert.ok(hit.params instanceof URLSearchParams);
			assert.deepEqual(hit.params.getAll('a'), ['1', '3']);
			assert.ok(hit.inMap.get('home') instanceof URL);
			assert.ok([...hit.inSet][0] instanceof URL);
			assert.equal(Object.getPrototypeOf(hit.bare), null);
			assert.equal(digest(hit), digest(miss));
		});

		test(`URL and URLSearchParams arguments are stored with their call (${kind} store)`, () => {
			logs.clear();
			let runs = 0;
			const f = fleche(
				(u: URL, p: URLSearchParams) => {
					runs++;
					return `${u.host}?${p.get('b') ?? ''}`;
				},
				{ name: 'urlArgs' },
			);
			const [miss, hit] = cache(c, () => [
				f(new URL('https://example.com/a'), new URLSearchParams('b=2')),
				f(new URL('https://example.com/a'), new URLSearchParams('b=2')),
			]);
			assert.equal(miss, 'example.com?2');
			assert.equal(hit, miss);
			assert.equal(runs, 1);
			assert.deepEqual(logs.codes('FLECHE_ARGUMENT_NOT_STORED'), [], 'the arguments were stored, not only their digests');
		});

		test(`a URL result itself comes back as a URL (${kind} store)`, () => {
			const { hit, runs } = missAndHit(c, 'mkUrl', () => new URL('https://example.com/root'));
			assert.equal(runs, 1);
			assert.ok(hit instanceof URL);
			assert.equal(hit.pathname, '/root');
		});
	}

	test('g(mk(3)) does not recompute g when mk hits', () => {
		using _ = cache(fileStore().cache);
		let gRuns = 0;
		const mk = fleche((n: number) => new Point(n, n + 1), { name: 'mk' });
		const g = fleche(
			(p: Point) => {
				gRuns++;
				return p.norm();
			},
			{ name: 'g' },
		);
		assert.equal(g(mk(3)), 5);
		assert.equal(g(mk(3)), 5);
		assert.equal(gRuns, 1);
	});

	test('an unregistered class warns once at save time, per class, and is stored as a plain object', () => {
		using _ = cache(fileStore().cache);
		class Loose {
			constructor(public v: number) {}
		}
		logs.clear();
		const f = fleche((n: number) => [new Loose(n), new Loose(n + 1)], { name: 'mkLoose' });
		f(1);
		f(2);
		const hit = f(1);
		const warnings = logs.codes('FLECHE_CLASS_NOT_RESTORED');
		assert.equal(warnings.length, 1);
		assert.match(warnings[0]!.message, /Loose.*registerClass\(Loose\)/);
		assert.deepEqual(
			hit,
			[{ v: 1 }, { v: 2 }].map((o) => Object.assign(Object.create(Object.prototype) as object, o)),
		);
	});

	test('an unregistered Error subclass warns and comes back as its nearest built-in error', () => {
		using _ = cache(memoryStore());
		class Odd extends SyntaxError {
			code = 'E_ODD';
		}
		logs.clear();
		const { hit } = missAndHit(cache(), 'mkOdd', () => new Odd('odd'));
		assert.ok(hit instanceof SyntaxError);
		assert.equal(hit.code, 'E_ODD');
		assert.equal(logs.codes('FLECHE_CLASS_NOT_RESTORED').length, 1);
	});

	test('registerClass refuses a name taken by another class and a class without a name', () => {
		class Other {}
		assert.throws(() => registerClass(Other, { name: 'Point' }), /taken by another class/);
		assert.throws(() => registerClass(class {}), /no name/);
		assert.equal(registerClass(Point), Point, 'registering again is harmless');
	});

	test('a stored class that the reading process has not registered is a miss, left for readers that have it', () => {
		const root = freshDir();
		const req = createRequire(import.meta.url);
		const entry = req.resolve('fleche').replace(/cjs([/\\])index\.js$/, 'esm$1index.js');
		const script = join(root, 'reader.mjs');
		writeFileSync(
			script,
			`import { fileCache, cache, fleche, registerClass, setLogger } from ${JSON.stringify(entry)};
const warnings = [];
setLogger((r) => warnings.push(r.code));
class Point { constructor(x) { this.x = x; } }
if (process.argv[2] === 'register') registerClass(Point, { name: 'test.Point' });
const c = fileCache(${JSON.stringify(join(root, 'store'))});
let runs = 0;
const f = fleche((x) => { runs++; return new Point(x); }, { name: 'f' });
const r = cache(c, () => f(1));
console.log(JSON.stringify({ runs, point: r instanceof Point, warnings }));`,
		);
		const run = (register: boolean) =>
			JSON.parse(execFileSync(process.execPath, [script, register ? 'register' : ''], { encoding: 'utf8' })) as {
				runs: number;
				point: boolean;
				warnings: string[];
			};
		assert.deepEqual(run(true), { runs: 1, point: true, warnings: [] });
		assert.deepEqual(run(true), { runs: 0, point: true, warnings: [] }, 'a hit returns the instance');
		const unregistered = run(false);
		assert.equal(unregistered.runs, 1, 'without the class: a miss, recomputed');
		assert.ok(unregistered.warnings.includes('FLECHE_UNREADABLE_ENTRY'));
		assert.ok(!unregistered.warnings.includes('FLECHE_CORRUPT_ENTRY'));
		assert.deepEqual(run(true), { runs: 0, point: true, warnings: [] }, 'the stored value was kept for readers that have the class');

		// Tools that show stored values (CLI, editor) read it as a plain object instead of failing.
		const store = openStore(join(root, 'store'));
		try {
			const [call] = store.calls({ module: store.functions()[0]!.module, name: 'f' }).calls;
			assert.deepEqual(store.call(call!.key).result, { ok: true, value: { x: 1 } });
		} finally {
			store.close();
		}
	});
});

describe('keys', () => {
	test('require sees the arguments as passed: a literal default does not satisfy it', () => {
		using _ = cache(memoryStore());
		let runs = 0;
		const g = fleche(
			(a: number, b: number | null = null) => {
				runs++;
				return [a, b];
			},
			{ name: 'gReq', require: 'b' },
		);
		logs.clear();
		g(1);
		g(1);
		assert.equal(runs, 2, 'not cached without b');
		assert.equal(logs.codes('FLECHE_MISSING_REQUIRED').length, 2);
		g(1, 2);
		g(1, 2);
		assert.equal(runs, 3, 'cached with b');
		g(1, null);
		g(1, null);
		assert.equal(runs, 4, 'an explicit null is passed');
	});

	test('a throwing or revoked Proxy argument runs the call uncached with a warning', () => {
		using _ = cache(memoryStore());
		let runs = 0;
		const f = fleche(
			(x: unknown) => {
				runs++;
				return typeof x;
			},
			{ name: 'fProxy' },
		);
		const { proxy, revoke } = Proxy.revocable({}, {});
		revoke();
		const throwing = new Proxy(
			{},
			{
				get() {
					throw new Error('trap');
				},
				ownKeys() {
					throw new Error('trap');
				},
				getPrototypeOf() {
					throw new Error('trap');
				},
			},
		);
		logs.clear();
		assert.equal(f(proxy), 'object');
		assert.equal(f(throwing), 'object');
		assert.equal(f([1, { inner: proxy }]), 'object');
		assert.equal(runs, 3);
		// One warning per argument path: `x` (both Proxies), then `x[1].inner`.
		assert.deepEqual(
			logs.codes('FLECHE_INDIGESTIBLE').map((r) => /argument (\S+)/.exec(r.message)?.[1]),
			['x', 'x[1].inner'],
		);
		assert.equal(Digest.is(proxy), false);
	});

	test('digests of values without cycles are unchanged', () => {
		const shared = { s: [1, 2] };
		assert.equal(
			digest({ a: [1, { b: 2 }], c: new Map([[1, 2]]), d: new Set(['x']), e: [shared, shared] }),
			'1731c793751995159b0f3ae51676c9a57b129d40ae0e95296626824aed4714cd',
		);
		class P {
			x = 1;
		}
		assert.equal(digest(new P()), 'a5fdc9d342663d2c45a3006287e5d6bc1c61341a334f73fa6f317753a34b2306');
	});
});

// ---------------------------------------------------------------------------------------------------------------
// Cycles: digest equality must coincide with a structural equivalence checked here independently.

/** A node of a generated graph: an array or a plain object, each slot a number or an edge to a node. */
interface NodeSpec {
	readonly kind: 'a' | 'o';
	readonly slots: readonly { readonly key: string; readonly to?: number; readonly prim?: number }[];
}
type GraphSpec = readonly NodeSpec[];

function randomGraph(rand: () => number): GraphSpec {
	const n = 1 + Math.floor(rand() * 4);
	return Array.from({ length: n }, () => {
		const kind = rand() < 0.5 ? 'a' : 'o';
		const width = 1 + Math.floor(rand() * 2);
		const keys = kind === 'a' ? ['0', '1'].slice(0, width) : rand() < 0.5 ? ['p', 'q'].slice(0, width) : ['q'];
		return {
			kind,
			slots: keys.map((key) => (rand() < 0.75 ? { key, to: Math.floor(rand() * n) } : { key, prim: Math.floor(rand() * 2) })),
		};
	});
}

/**
 * Variants of `spec` that weak cycle encodings confuse with it: for each edge u→k, a copy k' of node k (same slots,
 * same targets) takes that edge. Equivalent to `spec` exactly when k is outside every cycle.
 */
function unshared(spec: GraphSpec): GraphSpec[] {
	const out: GraphSpec[] = [];
	spec.forEach((node, u) =>
		node.slots.forEach((slot, i) => {
			if (slot.to === undefined) return;
			const copy = spec.length;
			const nodes = spec.map((n, j) => (j !== u ? n : { ...n, slots: n.slots.map((s, m) => (m === i ? { key: s.key, to: copy } : s)) }));
			out.push([...nodes, spec[slot.to]!]);
		}),
	);
	return out;
}

/** Builds the objects of a spec (creating them in the order `order`, which must not matter); returns node 0. */
function build(spec: GraphSpec, order: readonly number[] = spec.map((_, i) => i)): unknown {
	const objs: Record<string, unknown>[] = new Array<Record<string, unknown>>(spec.length);
	for (const i of order) objs[i] = (spec[i]!.kind === 'a' ? [] : {}) as Record<string, unknown>;
	for (const i of order) {
		const node = spec[i]!;
		// Object keys in reverse insertion order: the digest sorts them.
		for (const s of node.kind === 'o' ? [...node.slots].reverse() : node.slots) {
			objs[i]![s.key] = s.to !== undefined ? objs[s.to] : s.prim;
		}
	}
	return objs[0];
}

/** Transitive reachability (paths of length >= 1). */
function reach(spec: GraphSpec): boolean[][] {
	const n = spec.length;
	const r = spec.map((node) => Array.from({ length: n }, (_, j) => node.slots.some((s) => s.to === j)));
	for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (r[i]![k] && r[k]![j]) r[i]![j] = true;
	return r;
}

/**
 * Structural equivalence: outside cycles, values compare as trees (sharing is invisible, as for every acyclic value:
 * `[x, x]` equals `[x, copy(x)]`); a strongly connected part compares exactly — the same shape with a one-to-one map
 * between its objects that keeps every edge, the edges leaving it going to equivalent values.
 */
function equivalent(g1: GraphSpec, g2: GraphSpec): boolean {
	const r1 = reach(g1);
	const r2 = reach(g2);
	const same = (r: boolean[][], i: number, j: number) => (i === j ? r[i]![i]! : r[i]![j]! && r[j]![i]!);
	const label = (n: NodeSpec) => n.kind + n.slots.map((s) => `${s.key}=${s.to !== undefined ? '*' : String(s.prim)}`).join(',');
	const memo = new Map<string, boolean>();
	const eq = (u: number, v: number): boolean => {
		const k = `${u},${v}`;
		let out = memo.get(k);
		if (out === undefined) {
			out = compute(u, v);
			memo.set(k, out);
		}
		return out;
	};
	const compute = (u: number, v: number): boolean => {
		if (label(g1[u]!) !== label(g2[v]!)) return false;
		const cyc1 = r1[u]![u]!;
		if (cyc1 !== r2[v]![v]!) return false;
		if (!cyc1) return g1[u]!.slots.every((s, i) => s.to === undefined || eq(s.to, g2[v]!.slots[i]!.to!));
		const map = new Map<number, number>([[u, v]]);
		const used = new Set<number>([v]);
		const queue = [u];
		while (queue.length > 0) {
			const x = queue.shift()!;
			const y = map.get(x)!;
			if (label(g1[x]!) !== label(g2[y]!)) return false;
			for (let i = 0; i < g1[x]!.slots.length; i++) {
				const cx = g1[x]!.slots[i]!.to;
				const cy = g2[y]!.slots[i]!.to;
				if (cx === undefined || cy === undefined) continue;
				const inside = same(r1, u, cx);
				if (inside !== same(r2, v, cy)) return false;
				if (!inside) {
					if (!eq(cx, cy)) return false;
				} else if (map.has(cx)) {
					if (map.get(cx) !== cy) return false;
				} else {
					if (used.has(cy)) return false;
					map.set(cx, cy);
					used.add(cy);
					queue.push(cx);
				}
			}
		}
		return true;
	};
	return eq(0, 0);
}

describe('cyclic values', () => {
	test("two graphs that differ only in their cycle structure get different digests (the issue's size(g2) case)", () => {
		// g1: a root whose two edges go to ONE node that points back; g2: to two such nodes.
		const g1: Record<string, unknown> = {};
		const shared = { back: g1 };
		g1['l'] = shared;
		g1['r'] = shared;
		const g2: Record<string, unknown> = {};
		g2['l'] = { back: g2 };
		g2['r'] = { back: g2 };
		assert.notEqual(digest(g1), digest(g2));

		using _ = cache(memoryStore());
		const size = fleche(
			(g: Record<string, unknown>) => {
				const seen = new Set<unknown>();
				const walk = (x: unknown): void => {
					if (typeof x !== 'object' || x === null || seen.has(x)) return;
					seen.add(x);
					for (const v of Object.values(x)) walk(v);
				};
				walk(g);
				return seen.size;
			},
			{ name: 'size' },
		);
		assert.equal(size(g1), 2);
		assert.equal(size(g2), 3);
	});

	test('digest equality coincides with structural equivalence on random small graphs (seeded)', () => {
		const seed = Number(process.env['FLECHE_PROPERTY_SEED'] ?? 20261205);
		const rand = prng(seed);
		const specs: GraphSpec[] = Array.from({ length: 300 }, () => randomGraph(rand));
		const digests = specs.map((s) => digest(build(s)));
		let equalPairs = 0;
		let cyclic = 0;
		let unsharedCycles = 0;
		for (let i = 0; i < specs.length; i++) {
			if (reach(specs[i]!).some((row, k) => row[k])) cyclic++;
			// The same graph built in another order, and built again, digests the same.
			const reversed = specs[i]!.map((_, k) => specs[i]!.length - 1 - k);
			assert.equal(digest(build(specs[i]!, reversed)), digests[i], `seed ${seed}, graph #${i}: ${JSON.stringify(specs[i])}`);
			for (const variant of unshared(specs[i]!)) {
				const eq = equivalent(specs[i]!, variant);
				if (!eq) unsharedCycles++;
				assert.equal(
					digest(build(variant)) === digests[i],
					eq,
					`seed ${seed}: graph #${i} and its variant are ${eq ? '' : 'not '}equivalent but their digests ${eq ? 'differ' : 'are equal'}:\n` +
						`${JSON.stringify(specs[i])}\n${JSON.stringify(variant)}`,
				);
			}
			for (let j = i + 1; j < specs.length; j++) {
				const eq = equivalent(specs[i]!, specs[j]!);
				if (eq) equalPairs++;
				assert.equal(
					digests[i] === digests[j],
					eq,
					`seed ${seed}: graphs #${i} and #${j} are ${eq ? '' : 'not '}equivalent but their digests ${eq ? 'differ' : 'are equal'}:\n` +
						`${JSON.stringify(specs[i])}\n${JSON.stringify(specs[j])}`,
				);
			}
		}
		// The property is only tested if the sample has both cycles and equal pairs.
		assert.ok(cyclic > 100, `${cyclic} cyclic graphs`);
		assert.ok(equalPairs > 50, `${equalPairs} equivalent pairs`);
		assert.ok(unsharedCycles > 100, `${unsharedCycles} variants that unshare a node of a cycle`);
	});

	test('long cycles (deeper than the ancestor scan) digest by their shape', () => {
		interface RingNode {
			label: number;
			next: RingNode | null;
			extra: RingNode | null;
		}
		const ring = (labels: readonly number[], chord?: [number, number]): RingNode => {
			const nodes: RingNode[] = labels.map((label) => ({ label, next: null, extra: null }));
			nodes.forEach((n, i) => (n.next = nodes[(i + 1) % nodes.length]!));
			if (chord) nodes[chord[0]]!.extra = nodes[chord[1]]!;
			return nodes[0]!;
		};
		const labels = Array.from({ length: 100 }, (_, i) => i % 7);
		assert.equal(digest(ring(labels)), digest(ring(labels)));
		assert.equal(digest(ring(labels, [60, 10])), digest(ring(labels, [60, 10])));
		const distinct = [ring(labels), ring(labels, [60, 10]), ring(labels, [60, 11]), ring(labels, [10, 60]), ring(labels.slice(0, 99)), ring([...labels, 2])];
		assert.equal(new Set(distinct.map((r) => digest(r))).size, distinct.length);
		// A ring of identical nodes looks the same from every node, and twice around is not once around.
		assert.equal(digest(ring(Array.from({ length: 50 }, () => 1))), digest(ring(Array.from({ length: 50 }, () => 1)).next));
		assert.notEqual(digest(ring(Array.from({ length: 50 }, () => 1))), digest(ring(Array.from({ length: 100 }, () => 1))));
	});

	test('a graph whose edges go both ways, listed node by node, is not walked once per node', () => {
		let reads = 0;
		const graph = (n: number) => {
			const nodes = Array.from({ length: n }, (_, id) => ({ id, links: [] as unknown[] }));
			nodes.forEach((node, i) => {
				const neighbours = [nodes[(i + 1) % n], nodes[(i + n - 1) % n], nodes[(i * 7) % n]];
				Object.defineProperty(node, 'links', {
					enumerable: true,
					get: () => {
						reads++;
						return neighbours;
					},
				});
			});
			return { nodes };
		};
		const h = digest(graph(3000));
		assert.ok(reads <= 4 * 3000, `${reads} reads for 3000 nodes (walking the cycle once per node would be 9,000,000)`);
		assert.equal(digest(graph(3000)), h);
		assert.notEqual(digest(graph(2999)), h);
	});

	test('a digest inside a cyclic value does not depend on what was digested before it in the same call', () => {
		// a <-> b: digest([a, b]) must use b's digest as a root, not as a member of a's cycle.
		const mk = () => {
			const a: Record<string, unknown> = { n: 'a' };
			const b: Record<string, unknown> = { n: 'b', to: a };
			a['to'] = b;
			return { a, b };
		};
		const { a, b } = mk();
		assert.equal(digest([a, b]), digest([mk().a, mk().b]));
		assert.equal(digest([a, b]), digest([D(digest(a)), D(digest(b))]), 'the Merkle property holds for cyclic members too');
	});
});

// ---------------------------------------------------------------------------------------------------------------

describe('reference features', () => {
	test('DIGEST_LENGTH, Digest.expand() and Digest.shrink() on the active cache or a given one', () => {
		assert.equal(DIGEST_LENGTH, 64);
		const c = memoryStore();
		using _ = cache(c);
		const f = fleche((x: number) => x * 2, { name: 'dbl' });
		f(21);
		const key = f.fleche.digest(21);
		const short = D(key).shrink();
		assert.ok(short instanceof Digest);
		assert.ok(short.hex.length >= 4 && short.hex.length < 64 && key.startsWith(short.hex));
		assert.equal(short.expand().hex, key);
		assert.equal(new Digest(key.slice(0, 10)).expand(c).hex, key);
		assert.equal(D(key).shrink(c).hex, short.hex);
		assert.throws(() => new Digest('ffffffff').expand(memoryStore()), /ffffffff/);
	});

	test('BaseCache.table() lists the stored calls', () => {
		const c = memoryStore();
		using _ = cache(c);
		const f = fleche((x: number) => x + 1, { name: 'inc' });
		f(1);
		f(2);
		const rows = c.table({ arguments: ['x'], results: true });
		assert.deepEqual(rows.map((r) => [r['name'], r['x'], r['result']]).sort(), [
			['inc', 1, 2],
			['inc', 2, 3],
		]);
	});

	test("version: { from: 'package.json' } takes the version of the function's package", () => {
		const f = fleche((x: number) => x, { name: 'versioned', version: { from: 'package.json' } });
		const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string };
		assert.equal(f.fleche.identity.version, pkg.version);
		assert.throws(() => fleche((x: number) => x, { name: 'bad', version: { from: 'pom.xml' } as never }), /version/);
	});

	test('helpers on decorated methods: obj.method.fleche, bound to the instance', () => {
		using _ = cache(memoryStore());
		let runs = 0;
		class Model {
			constructor(public scale: number) {}
			@fleche()
			predict(x: number): number {
				runs++;
				return x * this.scale;
			}
		}
		class Tuned extends Model {
			override predict(x: number): number {
				return -x;
			}
		}
		// A decorator cannot change the method's declared type, so TypeScript needs the cast to see `.fleche`.
		const h = (model: Model) => (model as unknown as { predict: Fleche<(x: number) => number> }).predict.fleche;
		const m = new Model(2);
		const other = new Model(3);
		logs.clear();
		assert.equal(h(m).contains(5), false);
		assert.equal(m.predict(5), 10);
		assert.equal(h(m).contains(5), true);
		assert.equal(h(other).contains(5), false, 'another instance is another key');
		assert.equal(h(m).load(5), 10);
		assert.equal(h(m).identity.name, 'Model.predict');
		assert.deepEqual(h(m).params, ['x']);
		assert.equal(h(m).digest(5), h(m).digest(5));
		assert.notEqual(h(m).digest(5), h(other).digest(5));
		assert.equal([...h(m).query()].length, 1);
		assert.equal(h(m).rerun(5), 10);
		assert.equal(runs, 2);
		assert.equal(h(m).bind(5)(), 10, 'bind() keeps the instance');
		assert.equal(runs, 2, 'and hits');
		assert.equal(h(m).evict(5), true);
		assert.equal(h(m).contains(5), false);
		assert.deepEqual(Object.keys(m), ['scale'], 'nothing enumerable is added to the instance');
		assert.equal(logs.codes('FLECHE_CLASS_NOT_RESTORED').length, 0, '`this` is an argument: stored as before, no warning');
		assert.equal(new Tuned(1).predict(4), -4, 'a subclass override still wins');
	});
});
