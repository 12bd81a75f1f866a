// The one checks module (as sharp has lib/is): what a value must be, and how a refusal shows what
// was received. Every layer checks its input with these, so that a rule (printable text, a real
// calendar day, the event list's limit, a vector of finite floats) is written once and cannot
// drift. It lives in storage/ because storage imports nothing from src/ at run time and src/ may
// import storage; it imports only storage's own errors and date rule.
import { isCalendarDate } from './dates.js';
import { StoreInputError } from './errors.js';

/** 200 UTF-16 units: what the database keeps for a name, a department, an image path or a model id. */
const MAX_TEXT = 200;

// ---------------------------------------------------------------------------------------------
// Describing what was received

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
const LONE_SURROGATE_ALL = new RegExp(LONE_SURROGATE.source, 'g');
const escapeChar = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

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
  const escaped = quoted.replace(UNPRINTABLE_ALL, escapeChar);
  return cut ? `${escaped}... (${value.length} characters)` : escaped;
}

/**
 * A received value by its kind, for the image store's refusals: a string quoted (cut at 40, its
 * length said), a Date by its time, an object by its class, anything else with its type.
 */
export function describeReceived(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > 40
      ? `${JSON.stringify(value.slice(0, 40))}... (${value.length} characters)`
      : JSON.stringify(value);
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : `Date ${value.getTime()}`;
  if (typeof value === 'object' && value !== null) {
    return `an object of type ${(value as { constructor?: { name?: string } }).constructor?.name ?? 'Object'}`;
  }
  return `${String(value)} of type ${value === null ? 'null' : typeof value}`;
}

/** A received option value with its type ("-1 of type number", "5 of type string"), for options given in code. */
export function describeTyped(value: unknown): string {
  return `${String(value)} of type ${typeof value}`;
}

// ---------------------------------------------------------------------------------------------
// Text

/** Text a person typed that the database stores as given: no control or format characters (UNPRINTABLE), no broken Unicode. */
export function isPrintableText(value: string): boolean {
  return !UNPRINTABLE.test(value) && !LONE_SURROGATE.test(value);
}

/**
 * A line a person typed for the record (a reviewer's name, a correction's note): a string that is
 * not blank, at most `max` characters as given (untrimmed), and printable. The caller trims what
 * it keeps and refuses the rest with its own message and error type.
 */
export function isPrintableLine(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.trim().length > 0 && value.length <= max && isPrintableText(value);
}

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

/** Text the database can store: 1-200 characters, no NUL (PostgreSQL refuses it in text), no broken Unicode. */
export function requireText(name: string, value: unknown, optional: boolean): string | null {
  if (optional && (value === undefined || value === null)) return null;
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_TEXT ||
    value.includes('\u0000') ||
    LONE_SURROGATE.test(value)
  ) {
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
    throw new StoreInputError(
      `Expected ${name} to be printable text (no control or format characters) but received ${quoteReceived(text, 40)}`,
    );
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Dates

// 1970-9999: an appliance's clock, not history; well inside what timestamptz stores.
const MIN_TIME = Date.UTC(1970, 0, 1);
const MAX_TIME = Date.UTC(10_000, 0, 1) - 1;

/** A Date the database stores (timestamptz): valid, in the years 1970-9999. */
export function requireDate(name: string, value: unknown): Date {
  if (!(value instanceof Date) || !(value.getTime() >= MIN_TIME && value.getTime() <= MAX_TIME)) {
    throw new StoreInputError(
      `Expected ${name} to be a valid Date in the years 1970-9999 but received ${String(value)}`,
    );
  }
  return value;
}

/** A valid Date in years 0000-9999: the range a YYYY-MM-DD folder name can hold (the image store's dates). */
export function requireFolderDate(name: string, value: Date): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime()) || !/^\d{4}-/.test(value.toISOString())) {
    throw new StoreInputError(
      `Expected ${name} to be a valid Date in years 0000-9999 but received ${describeReceived(value)}`,
    );
  }
  return value;
}

/** A day written YYYY-MM-DD that exists (storage/dates.ts's isCalendarDate: no 2024-02-30). */
export function requireDay(name: string, value: unknown): string {
  if (typeof value !== 'string' || !isCalendarDate(value)) {
    throw new StoreInputError(`Expected ${name} to be a date YYYY-MM-DD but received ${quoteReceived(value, 40)}`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Numbers and vectors

/** A number the database stores in a `real` column: finite as a float32. */
export function requireFinite(name: string, value: unknown, optional: boolean): number | null {
  if (optional && (value === undefined || value === null)) return null;
  // Math.fround: the column is `real` (float32); a double beyond its range would be refused there.
  if (typeof value !== 'number' || !Number.isFinite(Math.fround(value))) {
    throw new StoreInputError(`Expected ${name} to be a finite number (float32 range) but received ${String(value)}`);
  }
  return value;
}

/** The list queries' page size: 1..1000 rows, 100 when not given (one page a person reads, bounded for the database). */
export function requireLimit(limit: number | undefined): number {
  const n = limit ?? 100;
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new StoreInputError(`Expected limit to be an integer in 1..1000 but received ${String(limit)}`);
  return n;
}

/** A vector worth storing or searching: a non-empty Float32Array whose every value is finite (no NaN, no Infinity). */
export function isFiniteVector(value: unknown): value is Float32Array {
  return value instanceof Float32Array && value.length > 0 && value.every(Number.isFinite);
}

/** A finite number above 0 and at most `max`; the caller refuses anything else with its own message and error type. */
export function isPositiveNumber(value: unknown, max = Infinity): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= max;
}
