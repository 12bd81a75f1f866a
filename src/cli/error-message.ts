// What `facegate` prints for a failure: the error's message, whatever was thrown. PGlite throws
// plain objects (an Emscripten errno, a `{ message }`), which a template string shows as
// "[object Object]"; and a full disk is said in those words, with the file when the error names
// one, because "ENOSPC: ..., write" does not tell an operator what to do.
import { inspect } from 'node:util';

import { diskFullIn } from '../../storage/errors.js';

/** An error's own message: Error.message, a thrown object's `message`, a string, or an inspection of what it is. */
function ownMessage(error: unknown): string {
  const message = error !== null && typeof error === 'object' ? (error as { message?: unknown }).message : undefined;
  if (typeof message === 'string' && message.trim() !== '') return message;
  if (typeof error === 'string' && error.trim() !== '') return error;
  if (error instanceof Error) return error.name;
  return inspect(error, { depth: 3, breakLength: Infinity });
}

/** One line for `facegate: ...` and `{"error": ...}`: never "[object Object]". */
export function cliErrorMessage(error: unknown): string {
  const message = ownMessage(error);
  const full = diskFullIn(error);
  if (!full) return message;
  const where = full.path === undefined ? '' : ` to write ${full.path}`;
  return `disk full: no space left on device${where}; free space on that disk and retry (${message})`;
}
