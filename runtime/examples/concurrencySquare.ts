// A plain piscina task (not cached): the work the notebook's `square_async` submits to its pool.
export default function square(x: number): number {
	return x ** 2;
}
