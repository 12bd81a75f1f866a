// Dates written by people and folders: the one check that a text is a real calendar date or an ISO
// 8601 timestamp. `Date.parse` alone is not one: it rolls 2024-02-30 over to March 1st, and it
// accepts forms no one should rely on ("1", "March 7, 2024", a local time without a zone). Storage
// (date folders, unknown-face days) and the API and CLI (since/until filters) all use this one.

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
// A date, optionally a time (hours, minutes, optional seconds and fraction) with its zone: Z or +hh:mm.
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2})))?$/i;

/** Whether `text` is YYYY-MM-DD and that day exists (no 2024-02-30, no 2023-02-29, no month 13; years 0100 on). */
export function isCalendarDate(text: string): boolean {
  const match = DAY.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const time = Date.UTC(year, month - 1, day);
  // Date.UTC rolls an impossible day into the next month; the round trip shows it.
  return new Date(time).toISOString().slice(0, 10) === text;
}

/**
 * The instant an ISO 8601 date (`2024-03-01`, UTC midnight) or timestamp with a zone
 * (`2024-03-01T12:00:00Z`, `2024-03-01T12:00+01:00`) names, or undefined when `text` is not one:
 * an impossible day, hour 24 or more, minute or second 60 or more, a zone beyond 23:59, or no zone
 * (a local time means a different instant on every machine).
 */
export function parseIsoTimestamp(text: string): Date | undefined {
  const match = TIMESTAMP.exec(text);
  if (!match || !isCalendarDate(match[1] as string)) return undefined;
  const [, , hour, minute, second, , zoneHours, zoneMinutes] = match;
  if (hour !== undefined && (Number(hour) > 23 || Number(minute) > 59 || Number(second ?? 0) > 59)) return undefined;
  if (zoneHours !== undefined && (Number(zoneHours) > 23 || Number(zoneMinutes) > 59)) return undefined;
  const time = Date.parse(text);
  return Number.isNaN(time) ? undefined : new Date(time);
}
