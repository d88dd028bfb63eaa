// Test fixtures loaded from their built files (out/test-node/fixtures/), the files a worker thread imports by path.

/** The module `name` (e.g. `concurrencyFns.js`) of the built fixtures, typed by the test as `typeof import(...)`. */
export async function loadFixture<T>(name: string): Promise<T> {
	return (await import(new URL(`../fixtures/${name}`, import.meta.url).href)) as T;
}
