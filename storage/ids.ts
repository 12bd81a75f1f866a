// Ids that become folder or file names (users, cameras) or key parts (workers, appliances) are checked here,
// before they touch a path or a key: no traversal, nothing NTFS cannot store, no reserved
// Windows device names, a sane length.
import { quoteReceived } from './checks.js';
import { InvalidIdError } from './errors.js';

/** 64: long enough for an employee number or a camera name, short enough for Windows' 260-char paths. */
export const MAX_ID_LENGTH = 64;

// Letters, digits, '_' and '-', plus '.' inside (never first: no '..', no hidden files).
const ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
// Windows refuses these as file names with any extension (CON, con.txt, COM1, LPT9...).
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

/**
 * What the id names: a user, a camera, a worker, an output (its outbox folder, issue 17), or an
 * appliance (issue 18: stamped on its events and review actions, and a part of its health keys).
 */
export type IdKind = 'user' | 'camera' | 'worker' | 'output' | 'appliance';

function preview(value: string): string {
  return quoteReceived(value, 40);
}

/**
 * Why `value` is not a safe id ("Expected ... but received ..."), or null when it is one. The
 * rule itself, for callers that report rather than throw (the configuration schema).
 */
export function idProblem(kind: IdKind, value: unknown): string | null {
  const expected = `${kind === 'output' || kind === 'appliance' ? 'an' : 'a'} ${kind} id of 1-${MAX_ID_LENGTH} letters, digits, '_', '-' or '.' (not first), not a reserved Windows name`;
  if (typeof value !== 'string') return `Expected ${expected} but received ${typeof value}`;
  if (value.length === 0 || value.length > MAX_ID_LENGTH) {
    return `Expected ${expected} but received ${preview(value)} of length ${value.length}`;
  }
  if (!ID_PATTERN.test(value) || value.endsWith('.')) return `Expected ${expected} but received ${preview(value)}`;
  if (RESERVED.test(value)) return `Expected ${expected} but received ${preview(value)}, a reserved name on Windows`;
  return null;
}

/** Returns `value` when it is a safe id, or throws InvalidIdError saying why not. */
export function validateId(kind: IdKind, value: unknown): string {
  const problem = idProblem(kind, value);
  if (problem !== null) throw new InvalidIdError(problem);
  return value as string;
}
