// Type-level tests of the "same signature" promise of `fleche()` (docs/behaviour.md §1.3): checked by
// `tsc -p test` in `npm run typecheck`, never run. Each `// @ts-expect-error` line must NOT compile: if it ever
// does (a signature widened to `any`, a sync function typed as returning a Promise), tsc reports the unused
// directive and the typecheck fails. `Expect<Equal<…>>` fails to compile when the two types differ.
import { fleche, type Bound, type Fleche } from 'fleche';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

// --- sync stays sync, async stays async ------------------------------------------------------------------------

const square = fleche((x: number): number => x * x);
const squareAsync = fleche(async (x: number): Promise<number> => x * x);

export type SyncStaysSync = Expect<Equal<ReturnType<typeof square>, number>>;
export type AsyncStaysAsync = Expect<Equal<ReturnType<typeof squareAsync>, Promise<number>>>;
export type SameParameters = Expect<Equal<Parameters<typeof square>, [x: number]>>;
export type IsFleche = Expect<Equal<typeof square, ((x: number) => number) & { readonly fleche: Fleche<(x: number) => number>['fleche'] }>>;

export const n: number = square(2);
// @ts-expect-error a hit of a synchronous function is a value, not a Promise
void square(2).then;
// @ts-expect-error an async function stays async: its result is a Promise
export const notAwaited: number = squareAsync(2);
// @ts-expect-error the parameters are the wrapped function's
square('2');
// @ts-expect-error no parameter is added or dropped
square(1, 2);

// --- overloads and generics are kept ---------------------------------------------------------------------------

function parse(text: string): number;
function parse(text: string, asString: true): string;
function parse(text: string, asString?: boolean): number | string {
	return asString ? text : Number(text);
}
const cachedParse = fleche(parse);
export const parsedNumber: number = cachedParse('1');
export const parsedString: string = cachedParse('1', true);
// @ts-expect-error the overload with `true` returns a string
export const wrongOverload: number = cachedParse('1', true);

const identity = fleche(<T>(value: T): T => value);
export const stillGeneric: 'x' = identity('x' as const);
export type GenericKept = Expect<Equal<ReturnType<typeof identity<number>>, number>>;

// --- options ---------------------------------------------------------------------------------------------------

fleche((a: number, logger: (s: string) => void) => (logger(''), a), { version: 2, ignore: 'logger', hashCode: true });
// @ts-expect-error unknown options are refused at compile time too (and by validateOptions at run time)
fleche((a: number) => a, { versoin: 2 });
// @ts-expect-error fleche() caches functions, not values
fleche(42);

// --- the helpers on f.fleche take the function's arguments -----------------------------------------------------

export const key: string = square.fleche.digest(2);
export const has: boolean = square.fleche.contains(2);
export const loaded: number = square.fleche.load(2);
// `load` returns the stored value: the awaited result of an async function.
export const loadedAsync: number = squareAsync.fleche.load(2);
export const rerunSync: number = square.fleche.rerun(2);
export const rerunAsync: Promise<number> = squareAsync.fleche.rerun(2);
export const evicted: boolean = square.fleche.evict(2);
export const original: (x: number) => number = square.fleche.fn;
// @ts-expect-error helpers check arguments like the function does
square.fleche.digest('2');
// @ts-expect-error a missing argument is refused
square.fleche.load();
// @ts-expect-error an extra argument is refused
squareAsync.fleche.contains(2, 3);

const add = fleche((a: number, b: string): string => `${a}${b}`);
const addOne = add.fleche.bind(1);
export type BindLeavesTheRest = Expect<Equal<Parameters<typeof addOne>, [b: string]>>;
export type BindKeepsTheResult = Expect<Equal<ReturnType<typeof addOne>, string>>;
export const boundType: Bound<(a: number, b: string) => string, [number]> = addOne;
// @ts-expect-error a bound function takes only the remaining arguments
addOne(1);

// --- @fleche() on methods keeps the method's type ---------------------------------------------------------------

export class Shapes {
	constructor(readonly scale: number) {}

	@fleche()
	area(side: number): number {
		return side * side * this.scale;
	}

	@fleche({ version: 2, ignore: 'verbose' })
	async perimeter(side: number, verbose = false): Promise<number> {
		if (verbose) console.log(side);
		return 4 * side * this.scale;
	}

	@fleche
	static unit(side: number): string {
		return `${side}`;
	}
}

const shapes = new Shapes(2);
export type MethodStaysSync = Expect<Equal<ReturnType<typeof shapes.area>, number>>;
export type MethodStaysAsync = Expect<Equal<ReturnType<typeof shapes.perimeter>, Promise<number>>>;
export type MethodParameters = Expect<Equal<Parameters<typeof shapes.perimeter>, [side: number, verbose?: boolean]>>;
export const unit: string = Shapes.unit(1);
// @ts-expect-error a decorated method checks its arguments as before
shapes.area('1');

export class NotMethods {
	// @ts-expect-error @fleche() decorates methods only, not fields
	@fleche()
	field = 1;

	// @ts-expect-error nor accessors
	@fleche()
	get size(): number {
		return 1;
	}
}
