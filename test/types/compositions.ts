// Type-level tests: the composition methods of every cache are typed with the composition's own class, although
// caches/base.ts imports none of them (each composition module declares its entry; see `CompositionTypes`). Checked
// by `tsc -p test` in `npm run typecheck`, never run.
import { Cache, CallMemory, ValueMemory, type BaseCache, type CacheStack, type FilteredCache, type LazyCall, type ReadOnlyCache } from 'fleche';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

const memory = new Cache(new ValueMemory(), new CallMemory());

export type Compositions = [
	Expect<Equal<ReturnType<BaseCache['readonly']>, ReadOnlyCache>>,
	Expect<Equal<ReturnType<BaseCache['filter']>, FilteredCache>>,
	Expect<Equal<ReturnType<BaseCache['push']>, CacheStack>>,
	Expect<Equal<ReturnType<typeof memory.push>, CacheStack>>,
	// A stored call's cache is the whole BaseCache API, not a narrower view.
	Expect<Equal<Pick<LazyCall['cache'], 'readonly' | 'push' | 'query'>, Pick<BaseCache, 'readonly' | 'push' | 'query'>>>,
];

// A stack's own members are reachable from push() without a cast.
export const layers: readonly BaseCache[] = memory.push(memory).stack;
