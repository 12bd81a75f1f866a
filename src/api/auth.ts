// The HTTP API's bearer-token check: every API route is behind it (the console's pages, marked
// { auth: 'session' }, have their own sign-in: src/console/), and it runs in fastify's onRequest,
// before any body is read, so an unauthenticated request costs nothing. token.ts makes and keeps
// the token; this file only compares what a request brings against it.
import { timingSafeEqual } from 'node:crypto';

import type { FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** 'session': a route of the console (src/console/), let in by its own session check instead of the token. */
    auth?: 'session';
  }
}

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
    // The console's pages (src/console/) are let in by their own session hook, never by the absence of a token.
    if (req.routeOptions.config?.auth === 'session') return undefined;
    if (!tokenMatches(req.headers.authorization, expected)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'Expected an Authorization: Bearer <token> header with the API token' });
    }
    return undefined;
  };
}
