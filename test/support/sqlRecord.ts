// Call records shared by the SQL store tests and their child-process fixture, so both sides agree on keys.
import { createHash } from 'node:crypto';
import { recordKey, type CallRecord } from 'fleche';

/** A 64-hex digest of `label`. */
export function hexOf(label: string): string {
	return createHash('sha256').update(label).digest('hex');
}

/** The record written for `label`: one of three function names, one argument, a result digest, runtime metadata. */
export function writerRecord(label: string): CallRecord {
	const identity = { name: `fn${label.length % 3}`, module: 'writer.js', version: 1, codeDigest: null, arguments: { x: hexOf(label) } };
	return { key: recordKey(identity), ...identity, result: hexOf(`result ${label}`), metadata: { runtime: { walltime: 0.01 } } };
}
