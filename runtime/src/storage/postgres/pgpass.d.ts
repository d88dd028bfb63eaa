// Types for `pgpass`, the ~/.pgpass reader that `pg` itself uses (its own support for it is deprecated), which ships
// none: the one function connect.ts calls.
declare module 'pgpass' {
	/** Calls `done` with the password of the first matching line of `PGPASSFILE` or ~/.pgpass, or `undefined`. */
	function pgpass(info: { host: string; port: string; database: string; user: string }, done: (password: string | undefined) => void): void;
	export = pgpass;
}
