// Signing in and out of the console. The sign-in form takes the API token (the data root's
// api-token file, as the API's clients use it) and the operator's name, recorded as the actor of
// every review action taken in this session; the token is exchanged for a session cookie
// (HttpOnly: no script can read it; SameSite=Strict: no other site's page can send it) and never
// appears in a URL. A wrong token is answered after a pause, so guessing is slow.
import { timingSafeEqual } from 'node:crypto';

import type { FastifyInstance } from 'fastify';

import { isPrintableLine, quoteReceived } from '../../storage/checks.js';
import { html } from './html.js';
import type { ConsoleContext } from './index.js';
import { bareShell, noticeBox, type Notice } from './layout.js';
import { SESSION_COOKIE, SESSION_IDLE_MS } from './session.js';

/** How long a wrong token waits for its answer. */
const FAILED_SIGN_IN_DELAY_MS = 500;
const MAX_OPERATOR_CHARS = 60;
/**
 * The largest sign-in body: a name and a token fit many times over. The only route that reads a
 * body before anyone is signed in, so without its own limit a stranger could have the server
 * buffer and parse a JSON or text body up to the upload limit (25 MB) per request.
 */
export const SIGN_IN_BODY_LIMIT = 8 * 1024;

function signInPage(notice: Notice | null, operator = ''): string {
  return bareShell(
    'Sign in',
    html`<div class="signin card">
      <h1>Sign in</h1>
      ${noticeBox(notice)}
      <form method="post" action="/console/sign-in">
        <label for="operator">Your name (recorded with what you do)</label>
        <input
          id="operator"
          name="operator"
          type="text"
          required
          maxlength="${MAX_OPERATOR_CHARS}"
          autocomplete="username"
          value="${operator}"
          autofocus
        />
        <label for="token">API token (the data root's <code>api-token</code> file)</label>
        <input id="token" name="token" type="password" required autocomplete="current-password" />
        <p><button type="submit">Sign in</button></p>
      </form>
    </div>`,
  );
}

function tokenMatches(given: unknown, token: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given.trim(), 'utf8');
  const b = Buffer.from(token, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function registerSignIn(scope: FastifyInstance, ctx: ConsoleContext): void {
  scope.get('/sign-in', { config: { public: true } }, (req, reply) => {
    if (req.consoleSession) return reply.redirect('/console/', 303);
    return reply.type('text/html; charset=utf-8').send(signInPage(null));
  });

  scope.post('/sign-in', { bodyLimit: SIGN_IN_BODY_LIMIT, config: { public: true } }, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const operator = typeof body.operator === 'string' ? body.operator.trim() : '';
    if (!operator || operator.length > MAX_OPERATOR_CHARS || !isPrintableLine(operator, MAX_OPERATOR_CHARS)) {
      return reply
        .code(400)
        .type('text/html; charset=utf-8')
        .send(
          signInPage({
            kind: 'error',
            text: `Expected your name (1-${MAX_OPERATOR_CHARS} printable characters) but received ${quoteReceived(body.operator ?? '', 40)}`,
          }),
        );
    }
    if (!tokenMatches(body.token, ctx.deps.token)) {
      await new Promise((r) => setTimeout(r, FAILED_SIGN_IN_DELAY_MS));
      ctx.deps.logger.warn({ operator }, 'console: sign-in refused (wrong token)');
      return reply
        .code(401)
        .type('text/html; charset=utf-8')
        .send(
          signInPage(
            {
              kind: 'error',
              text: "Expected the API token (the data root's api-token file) but received another value",
            },
            operator,
          ),
        );
    }
    // Signing in again (another tab) replaces the session this browser had.
    if (req.consoleSession) ctx.sessions.delete(req.consoleSession.id);
    const session = ctx.sessions.create(operator);
    ctx.deps.logger.info({ actor: session.actor }, 'console: signed in');
    return reply
      .setCookie(SESSION_COOKIE, session.id, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: req.protocol === 'https',
        maxAge: SESSION_IDLE_MS / 1000,
      })
      .redirect('/console/', 303);
  });

  scope.post('/sign-out', (req, reply) => {
    if (req.consoleSession) {
      ctx.sessions.delete(req.consoleSession.id);
      ctx.deps.logger.info({ actor: req.consoleSession.actor }, 'console: signed out');
    }
    return reply.clearCookie(SESSION_COOKIE, { path: '/' }).redirect('/console/sign-in', 303);
  });
}
