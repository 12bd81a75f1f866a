// UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Event ids are made by the
// appliance when the event happens, so a retried or replayed insert carries the same id and
// the database keeps it once; and ids sort by time.
import { randomBytes } from 'node:crypto';

export function uuidv7(at: Date = new Date()): string {
  const b = randomBytes(16);
  b.writeUIntBE(Math.max(0, Math.min(at.getTime(), 2 ** 48 - 1)), 0, 6);
  b[6] = ((b[6] as number) & 0x0f) | 0x70; // version 7
  b[8] = ((b[8] as number) & 0x3f) | 0x80; // variant 10
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}
