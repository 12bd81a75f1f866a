// The checks every row gets before it is written (or spooled), and the vector encoding: a value
// the database would refuse (a NUL byte in text, a number outside `real`, a year PostgreSQL
// cannot store) is refused to the caller now, with what was expected, not discovered later.
import { StoreInputError } from '../errors.js';

const MAX_TEXT = 200;

// float32 vectors travel as their little-endian bytes (every platform facegate runs on is little-endian).
export function vectorBytes(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** The float32 vector in a bytea column (copied, so the floats are 4-byte aligned). */
export function vectorOf(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

// Half of a UTF-16 surrogate pair on its own: not text PostgreSQL can store (nor valid JSON for jsonb).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text a person typed that the database stores as given: no control characters, no broken Unicode. */
export function isPrintableText(value: string): boolean {
  // C0, DEL and C1 (U+0080-U+009F: U+009B is CSI, an ESC [ to terminals that honour 8-bit controls).
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  return !/[\u0000-\u001f\u007f-\u009f]/.test(value) && !LONE_SURROGATE.test(value);
}

export function requireText(name: string, value: unknown, optional: boolean): string | null {
  if (optional && (value === undefined || value === null)) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT || value.includes('\u0000') || LONE_SURROGATE.test(value)) {
    throw new StoreInputError(
      `Expected ${name} to be a string of 1-${MAX_TEXT} characters without NUL or broken Unicode but received ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * Text people read back in a terminal or a page (names, departments, roles): requireText, and
 * printable. The API and the CLI refuse such text first with their own message; this is the last
 * line, so that no path stores an ESC or a CR in a name.
 */
export function requirePrintableText(name: string, value: unknown, optional: boolean): string | null {
  const text = requireText(name, value, optional);
  if (text !== null && !isPrintableText(text)) {
    throw new StoreInputError(`Expected ${name} to be printable text (no control characters) but received ${JSON.stringify(text)}`);
  }
  return text;
}

// 1970-9999: an appliance's clock, not history; well inside what timestamptz stores.
const MIN_TIME = Date.UTC(1970, 0, 1);
const MAX_TIME = Date.UTC(10_000, 0, 1) - 1;

export function requireDate(name: string, value: unknown): Date {
  if (!(value instanceof Date) || !(value.getTime() >= MIN_TIME && value.getTime() <= MAX_TIME)) {
    throw new StoreInputError(`Expected ${name} to be a valid Date in the years 1970-9999 but received ${String(value)}`);
  }
  return value;
}

export function requireFinite(name: string, value: unknown, optional: boolean): number | null {
  if (optional && (value === undefined || value === null)) return null;
  // Math.fround: the column is `real` (float32); a double beyond its range would be refused there.
  if (typeof value !== 'number' || !Number.isFinite(Math.fround(value))) {
    throw new StoreInputError(`Expected ${name} to be a finite number (float32 range) but received ${String(value)}`);
  }
  return value;
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity violation): the row itself is wrong. */
export function isRowError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

