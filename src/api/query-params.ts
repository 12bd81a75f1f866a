// Query-string values the routes share: refused with what was expected (a 400) before any work.
import { StoreInputError } from '../../storage/errors.js';

export function isoDate(name: string, raw: string | undefined): Date | undefined {
  if (raw === undefined || raw === '') return undefined;
  const d = new Date(raw);
  if (Number.isNaN(d.getTime())) throw new StoreInputError(`Expected ${name} to be an ISO date but received ${JSON.stringify(raw.slice(0, 40))}`);
  return d;
}

/** An integer; the store checks its range (1..1000) and says so. */
export function limitParam(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new StoreInputError(`Expected limit to be an integer in 1..1000 but received ${JSON.stringify(raw.slice(0, 20))}`);
  return n;
}
