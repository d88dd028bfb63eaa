// The WebAssembly global, as far as the SQL store uses it: the runtime compiles without the DOM library, which is where
// TypeScript declares it (Node has it all the same).

/** A compiled `WebAssembly.Module` (sql.js's), passed between threads of one process. */
export type CompiledWasm = object;

interface WasmApi {
	readonly Module: abstract new (...args: never[]) => CompiledWasm;
	instantiate(source: unknown, imports?: unknown): Promise<unknown>;
}

/** The global `WebAssembly` object. */
export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Whether `value` is a compiled module (one a worker handed over, or received). */
export function isCompiledWasm(value: unknown): value is CompiledWasm {
	return value instanceof wasmApi.Module;
}
