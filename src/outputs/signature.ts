// How a webhook receiver knows a request came from this facegate and is not a replay: the
// signature scheme, and its reference verifier (receivers in Node can call verifySignature as is;
// the README describes the same steps for other languages).
//
// Every webhook POST carries three headers:
//   X-Facegate-Id:        the message's id (its JSON body's "id", a UUIDv7): the idempotency key.
//   X-Facegate-Timestamp: when it was signed, in Unix seconds (a decimal integer).
//   X-Facegate-Signature: "v1=" and the lower-case hex HMAC-SHA256, keyed with the shared secret
//                         (its UTF-8 bytes), of the UTF-8 bytes of `${timestamp}.${body}`: the
//                         timestamp header's text, a '.', and the raw request body exactly as
//                         received (before any JSON parsing).
//
// A receiver:
// 1. recomputes the HMAC over the raw body and compares it with the header in constant time;
// 2. refuses a timestamp more than 300 s (the tolerance) away from its own clock, either way: an
//    old body sent again later (a replay) fails here, and the timestamp cannot be changed without
//    the secret because it is signed;
// 3. checks that X-Facegate-Id is the body's "id" (the header is not signed itself, the body is);
// 4. drops a message whose id it has already handled: within the tolerance a replayed request
//    verifies, and its repeated id is what gives it away. Delivery is at least once (a retry after
//    a lost answer sends the same id again, freshly signed), so this check is needed anyway.
//
// Why this shape: it is the scheme Stripe and Slack use (timestamp bound into the MAC, a versioned
// header), which receivers' developers recognise; "v1=" leaves room for another algorithm later.
// Pure: the time comes in; no clock, no I/O.
import { createHmac, timingSafeEqual } from 'node:crypto';

import { quoteReceived } from '../../storage/checks.js';

export const ID_HEADER = 'X-Facegate-Id';
export const TIMESTAMP_HEADER = 'X-Facegate-Timestamp';
export const SIGNATURE_HEADER = 'X-Facegate-Signature';
export const SIGNATURE_VERSION = 'v1';
/** How far a timestamp may be from the receiver's clock: 5 minutes, as Stripe and Slack allow, for clock skew and a slow request. */
export const DEFAULT_TOLERANCE_S = 300;

// A received header quoted in a reason: short, printable.
const QUOTE_MAX = 80;

function hmacHex(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** The headers that sign `body` (a message with this `id`) at `nowMs`. */
export function signatureHeaders(secret: string, body: string, id: string, nowMs: number): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    [ID_HEADER]: id,
    [TIMESTAMP_HEADER]: timestamp,
    [SIGNATURE_HEADER]: `${SIGNATURE_VERSION}=${hmacHex(secret, timestamp, body)}`,
  };
}

export interface VerifyOptions {
  secret: string;
  /** The raw request body, as received. */
  body: string;
  /** The request's headers with lower-case names, as node:http gives them (IncomingHttpHeaders). */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The receiver's clock. */
  nowMs: number;
  /** Default DEFAULT_TOLERANCE_S. */
  toleranceS?: number;
}

/** ok: the request is genuine and fresh; `id` is the idempotency key to check for a repeat. */
export type VerifyResult = { ok: true; id: string } | { ok: false; reason: string };

function header(
  headers: VerifyOptions['headers'],
  name: string,
): { value: string; reason?: undefined } | { value?: undefined; reason: string } {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return { reason: `Expected a ${name} header but received none` };
  if (typeof value !== 'string') {
    return { reason: `Expected one ${name} header but received ${value.length}` };
  }
  return { value };
}

/**
 * Checks a webhook request against the scheme above (steps 1-3; step 4, the repeated id, is the
 * receiver's, with the id returned here). Never throws for anything a request can carry; the
 * reason says what was expected and what was received, and never holds the secret or the
 * signature it expected (that would sign any body for whoever reads the reason).
 */
export function verifySignature(options: VerifyOptions): VerifyResult {
  const { secret, body, headers, nowMs } = options;
  const toleranceS = options.toleranceS ?? DEFAULT_TOLERANCE_S;

  const id = header(headers, ID_HEADER);
  if (id.reason !== undefined) return { ok: false, reason: id.reason };
  const timestamp = header(headers, TIMESTAMP_HEADER);
  if (timestamp.reason !== undefined) return { ok: false, reason: timestamp.reason };
  const signature = header(headers, SIGNATURE_HEADER);
  if (signature.reason !== undefined) return { ok: false, reason: signature.reason };

  if (!/^\d{1,15}$/.test(timestamp.value)) {
    return {
      ok: false,
      reason: `Expected ${TIMESTAMP_HEADER} to be Unix seconds (digits) but received ${quoteReceived(timestamp.value, QUOTE_MAX)}`,
    };
  }
  const match = /^v1=([0-9a-fA-F]+)$/.exec(signature.value);
  if (match === null) {
    return {
      ok: false,
      reason: `Expected ${SIGNATURE_HEADER} to be "v1=" and hex digits but received ${quoteReceived(signature.value, QUOTE_MAX)}`,
    };
  }
  const receivedHex = match[1]!.toLowerCase();
  const expected = Buffer.from(hmacHex(secret, timestamp.value, body), 'hex');
  // Odd-length hex would lose its last digit in Buffer.from; it can never match 64 digits anyway.
  const received = receivedHex.length % 2 === 0 ? Buffer.from(receivedHex, 'hex') : Buffer.alloc(0);
  // timingSafeEqual throws on different lengths; the length of an HMAC-SHA256 is no secret.
  if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
    return {
      ok: false,
      reason:
        `Expected ${SIGNATURE_HEADER} to be the HMAC-SHA256 of "${timestamp.value}." and the body with the shared secret ` +
        `(64 hex digits) but received a different one (${receivedHex.length} hex digits): ` +
        `a wrong secret, or the body or timestamp changed on the way`,
    };
  }

  // Only a signed timestamp is worth comparing with the clock: a forged one never gets here.
  const ageS = Math.floor(nowMs / 1000) - Number(timestamp.value);
  if (Math.abs(ageS) > toleranceS) {
    return {
      ok: false,
      reason:
        `Expected ${TIMESTAMP_HEADER} within ${toleranceS} s of the receiver's clock but received one ` +
        `${Math.abs(ageS)} s in the ${ageS > 0 ? 'past (a replay, or a request held up)' : 'future (clocks apart)'}`,
    };
  }

  let bodyId: unknown;
  try {
    bodyId = (JSON.parse(body) as { id?: unknown } | null)?.id;
  } catch {
    bodyId = undefined;
  }
  if (bodyId !== id.value) {
    return {
      ok: false,
      reason: `Expected ${ID_HEADER} to be the body's "id" (${quoteReceived(bodyId, QUOTE_MAX)}) but received ${quoteReceived(id.value, QUOTE_MAX)}`,
    };
  }
  return { ok: true, id: id.value };
}
