// Query-string values the routes share: refused with what was expected (a 400) before any work.
import { parseIsoTimestamp } from '../../storage/dates.js';
import { quoteReceived } from '../../storage/checks.js';

import { RequestInputError } from './request-input-error.js';

/** A date (UTC midnight) or a timestamp with its zone; storage/dates.ts is the one rule (no 2024-02-30). */
export function isoDate(name: string, raw: string | undefined): Date | undefined {
  if (raw === undefined || raw === '') return undefined;
  const d = parseIsoTimestamp(raw);
  if (!d) {
    throw new RequestInputError(
      `Expected ${name} to be an ISO date (YYYY-MM-DD, a day that exists) or timestamp with a zone (YYYY-MM-DDThh:mm:ssZ) but received ${quoteReceived(raw, 40)}`,
    );
  }
  return d;
}

/**
 * Decimal digits only: Number() would also read "1e3", "0x10", " 5" and "5.0" as integers. The
 * store checks the range (1..1000) and says so; four digits are enough to reach past it.
 */
export function limitParam(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^[0-9]{1,4}$/.test(raw))
    throw new RequestInputError(
      `Expected limit to be an integer in 1..1000 (digits only) but received ${quoteReceived(raw, 20)}`,
    );
  return Number(raw);
}

/** The name of a query parameter given more than once (the parser makes it an array), if any. */
export function repeatedQueryParam(query: unknown): string | undefined {
  if (!query || typeof query !== 'object') return undefined;
  return Object.entries(query).find(([, value]) => Array.isArray(value))?.[0];
}
