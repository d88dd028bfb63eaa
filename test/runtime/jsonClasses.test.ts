// docs/behaviour.md §16: the 'json' serializer and classes — instances of registered classes, URLs and
// URLSearchParams round-trip through a JSON file store (class named beside the value, the same digest); an
// unregistered class is refused at save time with a message that says how to register it; the envelope never mixes
// with user data of the same shape; damaged class lists are misses, never crashes.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, test } from 'node:test';
import { Cache, CallFile, cache, digest, fleche, registerClass, ValueFile } from 'fleche';
import { captureLogs } from '../support/logs.ts';
import { missAndHit } from '../support/missAndHit.ts';
import { freshDir } from '../support/stores.ts';

const logs = captureLogs();

class Money {
	constructor(
		public amount: number,
		public currency: string,
	) {}
	format(): string {
		return `${this.amount} ${this.currency}`;
	}
}
registerClass(Money, { name: 'json.Money' });

class Ledger {
	constructor(
		public entries: Money[],
		public home: URL,
	) {}
	total(): number {
		return this.entries.reduce((t, m) => t + m.amount, 0);
	}
}
registerClass(Ledger, { name: 'json.Ledger' });

class Unregistered {
	constructor(public v: number) {}
}

function jsonStore() {
	const root = freshDir();
	const values = new ValueFile({ root: join(root, 'values'), serializer: 'json' });
	return { c: new Cache(values, new CallFile({ root: join(root, 'calls') })), valuesRoot: join(root, 'values') };
}

describe("the 'json' serializer and classes", () => {
	test('registered classes, URL and URLSearchParams round-trip, nested anywhere, with the same digest', () => {
		const { c } = jsonStore();
		const make = () => ({
			ledger: new Ledger([new Money(3, 'EUR'), new Money(4, 'EUR')], new URL('https://bank.example/acct?id=7')),
			list: [new Money(1, 'USD'), { deep: new URLSearchParams('a=1&a=2') }],
			plain: { n: 1 },
		});
		const { miss, hit, runs } = missAndHit(c, 'jsonLedger', make);
		assert.equal(runs, 1, 'the second call is a hit');
		assert.ok(hit.ledger instanceof Ledger);
		assert.equal(hit.ledger.total(), 7);
		assert.ok(hit.ledger.entries[1] instanceof Money);
		assert.equal(hit.ledger.entries[1].format(), '4 EUR');
		assert.ok(hit.ledger.home instanceof URL);
		assert.equal(hit.ledger.home.searchParams.get('id'), '7');
		assert.ok(hit.list[0] instanceof Money);
		assert.ok((hit.list[1] as { deep: URLSearchParams }).deep instanceof URLSearchParams);
		assert.deepEqual((hit.list[1] as { deep: URLSearchParams }).deep.getAll('a'), ['1', '2']);
		assert.equal(digest(hit), digest(miss));
	});

	test('a top-level instance and a top-level URL come back as themselves; the file stays readable JSON', () => {
		const { c, valuesRoot } = jsonStore();
		assert.ok(missAndHit(c, 'jsonMoney', () => new Money(5, 'CHF')).hit instanceof Money);
		const url = missAndHit(c, 'jsonUrl', () => new URL('https://example.com/x')).hit;
		assert.ok(url instanceof URL);
		assert.equal(url.href, 'https://example.com/x');
		const texts = readdirSync(valuesRoot, { recursive: true, withFileTypes: true })
			.filter((e) => e.isFile())
			.map((e) => readFileSync(join(e.parentPath, e.name)).toString('latin1'));
		assert.ok(
			texts.some((t) => t.includes('{"$fleche/classes":[[[],"class","json.Money"]],"value":{"amount":5,"currency":"CHF"}}')),
			'the class is named beside the plain fields',
		);
	});

	test('a plain value of the envelope shape is stored as itself, never read as classes', () => {
		const { c } = jsonStore();
		const lookalike = { '$fleche/classes': [[[], 'class', 'json.Money']], value: { amount: 1, currency: 'X' } };
		const { hit } = missAndHit(c, 'jsonLookalike', () => lookalike);
		assert.deepEqual(hit, lookalike);
		assert.equal(Object.getPrototypeOf(hit.value), Object.prototype);
	});

	test('an unregistered class is refused at save time, saying how to register it; the result is still returned', () => {
		const { c } = jsonStore();
		logs.clear();
		let runs = 0;
		const f = fleche(
			() => {
				runs++;
				return { u: new Unregistered(1) };
			},
			{ name: 'jsonUnregistered' },
		);
		const out = cache(c, () => f());
		assert.ok(out.u instanceof Unregistered, 'the miss returns its own object');
		assert.equal(
			cache(c, () => f.fleche.contains()),
			false,
			'nothing stored',
		);
		const [warning] = logs.codes('FLECHE_REJECTED');
		assert.match(warning!.message, /cannot store a Unregistered \(an unregistered class: registerClass\(Unregistered\) stores its instances\) at value\.u/);
		cache(c, () => f());
		assert.equal(runs, 2);
		// Error subclasses keep their message and stack out of their fields: refused rather than stored half.
		const g = fleche(() => new RangeError('r'), { name: 'jsonError' });
		cache(c, () => g());
		assert.match(logs.codes('FLECHE_REJECTED').at(-1)!.message, /cannot store an Error/);
	});

	test('a stored class this process has not registered, or a damaged class list, is a miss: the call runs again', () => {
		const { c, valuesRoot } = jsonStore();
		let runs = 0;
		const f = fleche(
			() => {
				runs++;
				return { m: new Money(2, 'GBP') };
			},
			{ name: 'jsonRewritten' },
		);
		cache(c, () => f());
		const resultFile = join(valuesRoot, c.loadRecord(cache(c, () => f.fleche.digest())).result!);
		const original = readFileSync(resultFile);
		// A class another process registered: every read here is a miss, and the file is left for readers that have it.
		const elsewhere = rewritePayload(original, 'json.Money', 'json.Gone');
		writeFileSync(resultFile, elsewhere);
		assert.ok(cache(c, () => f()).m instanceof Money);
		assert.ok(cache(c, () => f()).m instanceof Money);
		assert.equal(runs, 3, 'a miss each time, never a plain object');
		assert.deepEqual(readFileSync(resultFile), elsewhere);
		// A damaged class list: a miss, and the recompute repairs the file (a hit after it).
		for (const [from, to] of [
			['[["m"],"class"', '[["nowhere"],"class"'],
			['[[["m"],"class","json.Money"]]', '{}'],
			['"class"', '"klass"'],
		] as const) {
			writeFileSync(resultFile, rewritePayload(original, from, to));
			const before: number = runs;
			assert.ok(cache(c, () => f()).m instanceof Money);
			assert.equal(runs, before + 1, `${to}: a miss`);
			assert.ok(cache(c, () => f()).m instanceof Money);
			assert.equal(runs, before + 1, `${to}: repaired`);
		}
	});
});

/** A value file (storage/file/values.ts layout, format 2) with `from` replaced by `to` in its payload, CRC recomputed. */
function rewritePayload(file: Buffer, from: string, to: string): Buffer {
	const n = file[6]!;
	const lengthAt = 7 + n + 32;
	const payload = file.subarray(lengthAt + 4, lengthAt + 4 + file.readUInt32LE(lengthAt)).toString('utf8');
	assert.ok(payload.includes(from), `${from} in ${payload}`);
	const body = Buffer.from(payload.replace(from, to), 'utf8');
	const head = Buffer.from(file.subarray(0, lengthAt + 4));
	head.writeUInt32LE(body.length, lengthAt);
	const crc = Buffer.alloc(4);
	const all = Buffer.concat([head, body]);
	crc.writeUInt32LE(crc32(all), 0);
	return Buffer.concat([all, crc]);
}
