// Helpers of the SQL store tests for the files themselves: edit or read a store's SQLite file with a plain sql.js (as
// an attacker or another tool would), and fingerprint a folder to prove that reading left it byte for byte.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import initSqlJs, { type Database } from 'sql.js';

/** Edits the SQLite file with a plain sql.js (the header's application id and generation are kept by the export). */
export async function edit(db: string, change: (d: Database) => void): Promise<void> {
	const SQL = await initSqlJs();
	const d = new SQL.Database(fs.readFileSync(db));
	try {
		change(d);
		fs.writeFileSync(db, d.export());
	} finally {
		d.close();
	}
}

/** Runs `read` against a plain sql.js copy of the SQLite file. */
export async function inspectFile<T>(db: string, read: (d: Database) => T): Promise<T> {
	const SQL = await initSqlJs();
	const d = new SQL.Database(fs.readFileSync(db));
	try {
		return read(d);
	} finally {
		d.close();
	}
}

/** Every file of the folder with its SHA-256: what reading must leave exactly as it was. */
export function snapshotOf(dir: string): Record<string, string> {
	const out: Record<string, string> = {};
	for (const name of fs.readdirSync(dir).sort())
		out[name] = createHash('sha256')
			.update(fs.readFileSync(join(dir, name)))
			.digest('hex');
	return out;
}
