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

// What a name may not hold, beyond broken Unicode:
// - C0 (U+0000-U+001F), DEL (U+007F) and C1 (U+0080-U+009F: U+009B is CSI, an ESC [ to terminals
//   that honour 8-bit controls);
// - format characters that change how the text around them is shown: the bidi embeddings and
//   overrides U+202A-U+202E (U+202E, RLO, prints "evE" for "Eve"), the isolates U+2066-U+2069,
//   the line and paragraph separators U+2028/U+2029 (a line break to many viewers), the
//   zero-width space U+200B and the BOM U+FEFF (a name that looks like another, invisibly).
// ZWNJ/ZWJ (U+200C/U+200D) and LRM/RLM (U+200E/U+200F) stay allowed: Persian and Indic names are
// spelled with them (ZWNJ in "می‌خواهم", ZWJ in Devanagari conjuncts), and the marks only set the
// direction of neutral characters next to them, without reordering the rest of a line.
// eslint-disable-next-line no-control-regex -- control characters are what is refused
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2066-\u2069\ufeff]/;
// The same characters, each to be escaped.
const UNPRINTABLE_ALL = new RegExp(UNPRINTABLE.source, 'g');

/** Text a person typed that the database stores as given: no control or format characters (UNPRINTABLE), no broken Unicode. */
export function isPrintableText(value: string): boolean {
  return !UNPRINTABLE.test(value) && !LONE_SURROGATE.test(value);
}

/**
 * A received value quoted for a refusal ("... but received <this>"): JSON.stringify, then every
 * character isPrintableText refuses written as \uXXXX, so that the message, its log line and the
 * terminal showing it never carry the raw CSI, DEL or RLO the value was refused for (JSON.stringify
 * escapes C0 and lone surrogates, not DEL, C1 or the format characters). A string longer than
 * `max` is cut, its length said. Never throws (undefined, functions: their String()).
 */
export function quoteReceived(value: unknown, max = Infinity): string {
  const cut = typeof value === 'string' && value.length > max;
  const quoted = JSON.stringify(cut ? value.slice(0, max) : value) ?? String(value);
  const escaped = quoted.replace(UNPRINTABLE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return cut ? `${escaped}... (${value.length} characters)` : escaped;
}

const LONE_SURROGATE_ALL = new RegExp(LONE_SURROGATE.source, 'g');
const escapeChar = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Text that came from elsewhere (a file name on disk, which may hold any character) made printable
 * to be kept: every character isPrintableText refuses, and any half of a surrogate pair, written as
 * \uXXXX; the rest as it is. Cut to `max` UTF-16 units, as lengths are counted here (whole code points, "..." at the end).
 */
export function printableForm(value: string, max = MAX_TEXT): string {
  const shown = value.replace(UNPRINTABLE_ALL, escapeChar).replace(LONE_SURROGATE_ALL, escapeChar);
  if (shown.length <= max) return shown;
  let cut = '';
  for (const point of shown) {
    if (cut.length + point.length > max - 3) break;
    cut += point;
  }
  return `${cut}...`;
}

export function requireText(name: string, value: unknown, optional: boolean): string | null {
  if (optional && (value === undefined || value === null)) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT || value.includes('\u0000') || LONE_SURROGATE.test(value)) {
    throw new StoreInputError(
      `Expected ${name} to be a string of 1-${MAX_TEXT} characters without NUL or broken Unicode but received ${quoteReceived(value, 40)}`,
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
    throw new StoreInputError(`Expected ${name} to be printable text (no control or format characters) but received ${quoteReceived(text, 40)}`);
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

