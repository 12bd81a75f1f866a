// The HTTP API's bearer-token check: every route is behind it, and it runs in fastify's onRequest,
// before any body is read, so an unauthenticated request costs nothing. token.ts makes and keeps
// the token; this file only compares what a request brings against it.
import { timingSafeEqual } from 'node:crypto';

import type { FastifyReply, FastifyRequest } from 'fastify';

// RFC 9110 section 11.1: the scheme is case-insensitive ("bearer", "BEARER"), then one or more spaces.
const BEARER = /^bearer +(\S+)\s*$/i;

/** Constant-time: how much of a guess was right never shows in the response time. */
export function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  const match = header === undefined ? null : BEARER.exec(header);
  if (!match) return false;
  const given = Buffer.from(match[1] as string, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The onRequest hook that refuses (401, with WWW-Authenticate: Bearer) a request without
 * "Authorization: Bearer <token>". An empty token is refused here, before any server is built.
 */
export function bearerAuthHook(token: string): (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  if (token.length === 0) throw new Error('Expected an API token but received an empty one');
  const expected = Buffer.from(token, 'utf8');
  return async (req, reply) => {
    if (!tokenMatches(req.headers.authorization, expected)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'Expected an Authorization: Bearer <token> header with the API token' });
    }
    return undefined;
  };
}
