// The webhook signature scheme (src/outputs/signature.ts): what a receiver accepts and what it
// refuses, with a reason a developer can act on and never the secret.
import { createHmac } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { signatureHeaders, verifySignature } from '../../src/outputs/signature.js';

const SECRET = 'correct horse battery staple';
const ID = '0190a7d2-7c3e-7b4a-9d6e-0123456789ab';
const BODY = JSON.stringify({ type: 'test', id: ID, timestamp: '2024-07-01T12:00:00.000Z', text: 'hello' });
const NOW = Date.UTC(2024, 6, 1, 12, 0, 0);

/** Headers as node:http gives them to a receiver: lower-case names. */
function received(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

function refusal(result: ReturnType<typeof verifySignature>): string {
  if (result.ok) throw new Error('Expected a refusal but the request verified');
  expect(result.reason).not.toContain(SECRET);
  return result.reason;
}

describe('signatureHeaders', () => {
  it('signs "<unix seconds>.<body>" with HMAC-SHA256 and names the message id', () => {
    const headers = signatureHeaders(SECRET, BODY, ID, NOW + 999);
    const timestamp = String(NOW / 1000);
    expect(headers).toEqual({
      'X-Facegate-Id': ID,
      'X-Facegate-Timestamp': timestamp,
      'X-Facegate-Signature': `v1=${createHmac('sha256', SECRET).update(`${timestamp}.${BODY}`).digest('hex')}`,
    });
  });
});

describe('verifySignature', () => {
  const signed = received(signatureHeaders(SECRET, BODY, ID, NOW));

  it('accepts what signatureHeaders signed, and gives the id to check for repeats', () => {
    expect(verifySignature({ secret: SECRET, body: BODY, headers: signed, nowMs: NOW + 5000 })).toEqual({
      ok: true,
      id: ID,
    });
  });

  it('refuses a tampered body', () => {
    const body = BODY.replace('hello', 'hellO');
    expect(refusal(verifySignature({ secret: SECRET, body, headers: signed, nowMs: NOW }))).toMatch(
      /Expected X-Facegate-Signature to be the HMAC-SHA256 .* but received a different one \(64 hex digits\)/,
    );
  });

  it('refuses a signature made with another secret', () => {
    const headers = received(signatureHeaders('another secret of some length', BODY, ID, NOW));
    expect(refusal(verifySignature({ secret: SECRET, body: BODY, headers, nowMs: NOW }))).toContain(
      'a wrong secret, or the body or timestamp changed',
    );
  });

  it('refuses a changed timestamp: it is signed', () => {
    const headers = { ...signed, 'x-facegate-timestamp': String(NOW / 1000 + 1) };
    expect(refusal(verifySignature({ secret: SECRET, body: BODY, headers, nowMs: NOW }))).toContain(
      'received a different one',
    );
  });

  it('refuses a replay once it is older than the tolerance, and a timestamp far in the future', () => {
    expect(verifySignature({ secret: SECRET, body: BODY, headers: signed, nowMs: NOW + 300_000 }).ok).toBe(true);
    expect(refusal(verifySignature({ secret: SECRET, body: BODY, headers: signed, nowMs: NOW + 301_000 }))).toBe(
      "Expected X-Facegate-Timestamp within 300 s of the receiver's clock but received one 301 s in the past (a replay, or a request held up)",
    );
    expect(
      refusal(verifySignature({ secret: SECRET, body: BODY, headers: signed, nowMs: NOW + 61_000, toleranceS: 60 })),
    ).toContain('within 60 s');
    expect(refusal(verifySignature({ secret: SECRET, body: BODY, headers: signed, nowMs: NOW - 400_000 }))).toContain(
      '400 s in the future',
    );
  });

  it('refuses each missing header, naming it', () => {
    for (const name of ['x-facegate-id', 'x-facegate-timestamp', 'x-facegate-signature']) {
      const headers: Record<string, string> = { ...signed };
      delete headers[name];
      const reason = refusal(verifySignature({ secret: SECRET, body: BODY, headers, nowMs: NOW }));
      expect(reason.toLowerCase()).toBe(`expected a ${name} header but received none`);
    }
  });

  it('refuses a repeated header and malformed values, quoting what came', () => {
    const verify = (headers: Record<string, string | string[]>) =>
      refusal(verifySignature({ secret: SECRET, body: BODY, headers, nowMs: NOW }));
    expect(verify({ ...signed, 'x-facegate-id': [ID, ID] })).toBe('Expected one X-Facegate-Id header but received 2');
    expect(verify({ ...signed, 'x-facegate-timestamp': '1.5e9' })).toBe(
      'Expected X-Facegate-Timestamp to be Unix seconds (digits) but received "1.5e9"',
    );
    expect(verify({ ...signed, 'x-facegate-signature': 'sha256=abc' })).toBe(
      'Expected X-Facegate-Signature to be "v1=" and hex digits but received "sha256=abc"',
    );
  });

  it('compares signatures of any length without throwing', () => {
    const full = signed['x-facegate-signature']!;
    for (const signature of ['v1=ab', 'v1=abc', `${full}00`, `${full}0`, full.slice(0, -2), `v1=${'0'.repeat(1000)}`]) {
      const headers = { ...signed, 'x-facegate-signature': signature };
      const result = verifySignature({ secret: SECRET, body: BODY, headers, nowMs: NOW });
      expect(refusal(result)).toContain(`received a different one (${signature.length - 3} hex digits)`);
    }
    // Upper-case hex is the same signature.
    const upper = { ...signed, 'x-facegate-signature': `v1=${full.slice(3).toUpperCase()}` };
    expect(verifySignature({ secret: SECRET, body: BODY, headers: upper, nowMs: NOW }).ok).toBe(true);
  });

  it("refuses an X-Facegate-Id that is not the body's id: the header is not signed, the body is", () => {
    const headers = { ...signed, 'x-facegate-id': '0190a7d2-7c3e-7b4a-9d6e-ffffffffffff' };
    expect(refusal(verifySignature({ secret: SECRET, body: BODY, headers, nowMs: NOW }))).toBe(
      `Expected X-Facegate-Id to be the body's "id" ("${ID}") but received "0190a7d2-7c3e-7b4a-9d6e-ffffffffffff"`,
    );
  });
});
