// Text a person types into the API (names, departments, actors, reasons): one rule for every route,
// trimmed, 1..max characters, printable (storage/db/row-checks.ts: no control characters, no half
// of a surrogate pair). An ESC or CR in a name would otherwise reach every terminal that lists it.
import { z } from 'zod';

import { isPrintableText, quoteReceived } from '../../storage/checks.js';

import { RequestInputError } from './request-input-error.js';

/** 200: what the database keeps for a name or department (row-checks' limit). */
export const MAX_TEXT_FIELD = 200;

/** The rule as a zod schema, for JSON bodies. */
export const printableText = (max = MAX_TEXT_FIELD) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine(isPrintableText, 'expected printable text (no control or format characters)');

/** The rule for one form field: the trimmed text, or a RequestInputError (400) saying what was expected. */
export function textField(name: string, raw: string, max = MAX_TEXT_FIELD): string {
  const result = printableText(max).safeParse(raw);
  if (!result.success) {
    throw new RequestInputError(
      `Expected ${name} to be printable text of 1-${max} characters (no control or format characters) but received ${quoteReceived(raw, 40)}`,
    );
  }
  return result.data;
}
