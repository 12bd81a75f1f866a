// The errors the storage layer raises on purpose. Callers (pipeline, API, CLI) tell them apart by
// class, and each message says what was expected and what was received.

/** An id (user, camera, worker) that cannot be used: it would escape a folder, or is not a legal file name on Windows. */
export class InvalidIdError extends Error {
  override name = 'InvalidIdError';
}

/** Why the database takes no writes: unreachable, or reachable but refusing them (a read-only server, a hot standby). */
export type ReadOnlyReason = 'database unavailable' | 'database refuses writes (read_only_sql_transaction)';

/** The database is unreachable or refuses writes: writes that need it are refused at once; recognition goes on. */
export class ReadOnlyError extends Error {
  override name = 'ReadOnlyError';
  constructor(
    what: string,
    readonly reason: ReadOnlyReason = 'database unavailable',
  ) {
    super(`read-only: ${reason} (${what} needs it)`);
  }
}

/** A stored image whose bytes are not what was written (truncated, overwritten, not an image). */
export class CorruptedImageError extends Error {
  override name = 'CorruptedImageError';
}

/** A vector or record that does not fit the store (dimension, model, unknown user, duplicate). */
export class StoreInputError extends Error {
  override name = 'StoreInputError';
}

/** What the input names does not exist (a user, an unknown-face group): the API answers 404. */
export class NotFoundError extends StoreInputError {
  override name = 'NotFoundError';
}

/** The input conflicts with what is stored (an id taken, a group already reviewed): the API answers 409. */
export class ConflictError extends StoreInputError {
  override name = 'ConflictError';
}

// PGlite's file system (Emscripten) throws `ErrnoError { errno }` with WASI's numbers and no code:
// 51 is ENOSPC and 19 EDQUOT there (Node's own errors carry the code strings instead).
const WASI_DISK_FULL = [51, 19];

/**
 * A full disk (or quota) anywhere on `error` or its causes: Node's ENOSPC/EDQUOT (with the file it
 * was writing, when it names one), PGlite's, or PostgreSQL's disk_full (53100, the server's disk).
 * The API (507) and the CLI ("disk full: ...") say it in those words instead of the raw errno.
 */
export function diskFullIn(error: unknown): { path?: string; database: boolean } | undefined {
  for (
    let e = error, depth = 0;
    e !== null && typeof e === 'object' && depth < 8;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const { code, errno, name, path } = e as { code?: unknown; errno?: unknown; name?: unknown; path?: unknown };
    if (code === '53100') return { database: true };
    const wasi = name === 'ErrnoError' && typeof errno === 'number' && WASI_DISK_FULL.includes(errno);
    if (code === 'ENOSPC' || code === 'EDQUOT' || wasi)
      return { database: false, ...(typeof path === 'string' ? { path } : {}) };
  }
  return undefined;
}
