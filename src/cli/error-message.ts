// What `facegate` prints for a failure: the error's message, whatever was thrown. PGlite throws
// plain objects (an Emscripten errno, a `{ message }`), which a template string shows as
// "[object Object]"; and a full disk is said in those words, with the file when the error names
// one, because "ENOSPC: ..., write" does not tell an operator what to do.
import { inspect } from 'node:util';

// PGlite's file system (Emscripten) throws `ErrnoError { errno }` with WASI's numbers, no code:
// 51 is ENOSPC and 19 EDQUOT there (Linux's 28 and 122 arrive as Node's code strings instead).
const WASI_DISK_FULL = [51, 19];

/** The full-disk error on `error` or its causes (code ENOSPC/EDQUOT, or PostgreSQL's disk_full 53100). */
function diskFull(error: unknown): { path?: string } | undefined {
  for (let e = error, depth = 0; e !== null && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, errno, name, path } = e as { code?: unknown; errno?: unknown; name?: unknown; path?: unknown };
    const wasi = name === 'ErrnoError' && typeof errno === 'number' && WASI_DISK_FULL.includes(errno);
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === '53100' || wasi) return typeof path === 'string' ? { path } : {};
  }
  return undefined;
}

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
  const full = diskFull(error);
  if (!full) return message;
  const where = full.path === undefined ? '' : ` to write ${full.path}`;
  return `disk full: no space left on device${where}; free space on that disk and retry (${message})`;
}
