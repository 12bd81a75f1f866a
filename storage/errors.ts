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
