// Row mapping: the vector encoding of a bytea column, and which database errors mean the row
// itself is wrong. The checks every row gets before it is written (or spooled) live in
// storage/checks.ts, with every other layer's checks.

// float32 vectors travel as their little-endian bytes (every platform facegate runs on is little-endian).
export function vectorBytes(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** The float32 vector in a bytea column (copied, so the floats are 4-byte aligned). */
export function vectorOf(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity violation): the row itself is wrong. */
export function isRowError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
