// docs/behaviour.md §2.6 "SQL": the key-presence filter, a Bloom filter in shared memory that the sql worker keeps of
// every key its database holds, so that the calling thread answers most misses without a round trip to the worker.
// A miss through the worker costs two thread wake-ups (hundreds of microseconds to milliseconds on a loaded machine),
// and a program that saves calls looks up every one of them first: before the filter, those lookups were most of the
// time of a save.
//
// Layout of the shared buffer (all little-endian, as the platform's typed arrays):
//   Int32 word 0: sequence, odd while the worker changes the filter in a way that can clear bits (a restart);
//   Int32 word 1: state, 0 while the worker is still reading the database's keys into it, 1 complete, 2 retired (the
//                 worker made a larger one: ask again);
//   Float64 at byte 8: the inode of the log the filter follows (0: none, then it answers nothing);
//   Float64 at byte 16: the byte offset in that log up to which every line's key is in the filter;
//   Int32 words from byte 32: the bits.
// A key is "absent" only when the filter is complete, follows the log the caller reads, covers it up to a point the
// caller has read past itself (the caller keeps the keys of the lines after that point), and one of the key's bits is
// clear. Keys are hex SHA-256 digests, so the bit positions are taken from the key itself (eight 32-bit slices). A
// key the database holds always has its bits set (bits are only ever set, except by a restart, which the sequence
// word fences): the filter may say "maybe" of an absent key (then the worker answers), never "absent" of a held one.
// Hostile keys in a store can only make it say "maybe" more often.

const headerBytes = 32;
/** Bit positions per key: the eight 32-bit slices of the 64 hex digits. */
const probes = 8;

/** Bits for a filter sized for `capacity` keys: 16 per key, a power of two (false "maybe" below 0.1 % half full). */
function bitsFor(capacity: number): number {
	let bits = 1 << 20;
	while (bits < capacity * 16 && bits < 2 ** 31) bits *= 2;
	return bits;
}

/** The bit positions of `key` under `mask`; NaN slices (not hex) give position 0. */
function positions(key: string, mask: number, into: Uint32Array): void {
	for (let i = 0; i < probes; i++) into[i] = (Number.parseInt(key.slice(i * 8, i * 8 + 8), 16) & mask) >>> 0;
}

/** The worker's side: adds keys, publishes how far into the log it holds them, restarts. */
export class PresenceWriter {
	readonly buffer: SharedArrayBuffer;
	/** How many keys it was sized for: past that the worker makes a larger one. */
	readonly capacity: number;
	added = 0;
	readonly #head: Int32Array;
	readonly #where: Float64Array;
	readonly #bits: Int32Array;
	readonly #mask: number;
	readonly #at = new Uint32Array(probes);

	constructor(capacity: number) {
		this.capacity = capacity;
		const bits = bitsFor(capacity);
		this.buffer = new SharedArrayBuffer(headerBytes + bits / 8);
		this.#head = new Int32Array(this.buffer, 0, 2);
		this.#where = new Float64Array(this.buffer, 8, 2);
		this.#bits = new Int32Array(this.buffer, headerBytes);
		this.#mask = bits - 1;
	}

	add(key: string): void {
		positions(key, this.#mask, this.#at);
		for (const p of this.#at) Atomics.or(this.#bits, p >>> 5, 1 << (p & 31));
		this.added++;
	}

	/** Says that every key of the log `ino` up to `offset` is in the filter (after they were added). */
	publish(ino: number, offset: number): void {
		Atomics.add(this.#head, 0, 1);
		this.#where[0] = ino;
		this.#where[1] = offset;
		Atomics.add(this.#head, 0, 1);
	}

	/** The keys are all read in: from now on the filter answers. */
	complete(): void {
		Atomics.store(this.#head, 1, 1);
	}

	/** Empties it (the database was replaced): it answers nothing until {@link complete} again. */
	restart(): void {
		Atomics.add(this.#head, 0, 1);
		Atomics.store(this.#head, 1, 0);
		this.#bits.fill(0);
		this.added = 0;
		Atomics.add(this.#head, 0, 1);
	}

	/** A larger filter replaces this one: callers ask the worker for it. */
	retire(): void {
		Atomics.store(this.#head, 1, 2);
	}
}

/** The calling thread's side. */
export class PresenceReader {
	readonly #head: Int32Array;
	readonly #where: Float64Array;
	readonly #bits: Int32Array;
	readonly #mask: number;
	readonly #at = new Uint32Array(probes);

	/** @throws TypeError when `buffer` is not a filter's buffer. */
	constructor(buffer: unknown) {
		if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < headerBytes + 4) throw new TypeError('not a presence filter');
		const bits = (buffer.byteLength - headerBytes) * 8;
		this.#head = new Int32Array(buffer, 0, 2);
		this.#where = new Float64Array(buffer, 8, 2);
		this.#bits = new Int32Array(buffer, headerBytes);
		this.#mask = bits - 1;
	}

	/** Whether the worker replaced it by a larger one. */
	get retired(): boolean {
		return Atomics.load(this.#head, 1) === 2;
	}

	/**
	 * Whether `key` is surely not in the database as of log `ino` up to at least `from`, and `from` at most where the
	 * filter reaches (the caller knows the keys of the lines from `from` on). False means "ask the worker".
	 */
	absent(key: string, ino: number, from: number): boolean {
		const before = Atomics.load(this.#head, 0);
		if ((before & 1) !== 0 || Atomics.load(this.#head, 1) !== 1) return false;
		if (this.#where[0] !== ino || ino === 0 || !(this.#where[1]! >= from)) return false;
		positions(key, this.#mask, this.#at);
		let clear = false;
		for (const p of this.#at) {
			if ((Atomics.load(this.#bits, p >>> 5) & (1 << (p & 31))) === 0) {
				clear = true;
				break;
			}
		}
		return clear && Atomics.load(this.#head, 0) === before;
	}
}
