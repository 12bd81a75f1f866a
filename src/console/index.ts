// The operator console (issue 16): web pages served by `facegate serve` on the API's host and port,
// under /console/ (and / sends a browser there). It is the same appliance seen through pages instead
// of JSON: the pages call the same functions the API's routes call (review, enrolment, the stores),
// and the JSON API stays as it is, behind its bearer token.
//
// How a request is let in: the API's bearer hook (src/api/auth.ts) passes the routes marked
// { auth: 'session' }, which every route registered here is (onRoute below); this scope's own hook
// then wants a signed-in session (session.ts) on every route but the sign-in page and the assets.
// A state change (any POST) must carry the session's CSRF token and, when the browser says where it
// comes from (Origin, Sec-Fetch-Site), come from this site. Errors are pages that say what was
// expected and what was received (errorResponse, the API's one mapping of errors to statuses).
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { errorResponse } from '../api/errors.js';
import type { ApiDeps } from '../api/api-deps.js';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.js';
import { registerCameraPages } from './camera-pages.js';
import { registerEventPages } from './event-pages.js';
import { registerPeoplePages } from './people-pages.js';
import { registerSignIn } from './sign-in.js';
import { registerUnknownPages } from './unknown-pages.js';
import { html } from './html.js';
import { bareShell, noticeBox, page } from './layout.js';
import { type ConsoleSession, csrfMatches, SESSION_COOKIE, SessionStore } from './session.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in console session (null outside the console, and on its public pages). */
    consoleSession: ConsoleSession | null;
  }
  interface FastifyContextConfig {
    /** A console route open without a session (the sign-in page, the assets). */
    public?: boolean;
  }
}

export interface ConsoleDeps extends ApiDeps {
  /** The API token: signing in exchanges it for a session. */
  token: string;
  /** A camera's latest frame as JPEG with its faces drawn (null: none yet), for the cameras page. */
  snapshot?: (cameraId: string) => Promise<Buffer | null>;
}

/** What every page module gets. */
export interface ConsoleContext {
  deps: ConsoleDeps;
  sessions: SessionStore;
  /** The largest request body (the enrolment upload's limit). */
  bodyLimit: number;
  dataRoot: string | undefined;
}

/** A page module: registers its routes on the console's scope (paths relative to /console). */
export type PageModule = (scope: FastifyInstance, ctx: ConsoleContext) => void;

/** The signed-in session of a console request (the scope's hook guarantees one on every non-public route). */
export function sessionOf(req: FastifyRequest): ConsoleSession {
  if (!req.consoleSession) throw new Error('Expected a console session on this route but there is none');
  return req.consoleSession;
}

const SECURITY_HEADERS = {
  // Every asset is the appliance's own; no frame may embed a page; forms post only here.
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

function isStateChange(req: FastifyRequest): boolean {
  return req.method !== 'GET' && req.method !== 'HEAD';
}

/** A browser that says the request comes from another site (Origin, Sec-Fetch-Site) is refused a state change. */
function crossSite(req: FastifyRequest): string | null {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site: ${site}`;
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') {
    const host = req.headers.host;
    try {
      if (new URL(origin).host !== host) return `Origin: ${origin}`;
    } catch {
      return `Origin: ${origin}`;
    }
  }
  return null;
}

export function registerConsole(
  app: FastifyInstance,
  deps: ConsoleDeps,
  options: { bodyLimit: number; dataRoot?: string | undefined },
): void {
  const ctx: ConsoleContext = {
    deps,
    sessions: new SessionStore(),
    bodyLimit: options.bodyLimit,
    dataRoot: options.dataRoot,
  };
  app.decorateRequest('consoleSession', null);
  app.get('/', { config: { auth: 'session', public: true } }, (_req, reply) => reply.redirect('/console/', 303));
  // Browsers ask for it on every site; the console has none (no 401 noise in their consoles).
  app.get('/favicon.ico', { config: { auth: 'session', public: true } }, (_req, reply) => reply.code(204).send());

  void app.register(
    async (scope) => {
      scope.addHook('onRoute', (route) => {
        route.config = { ...(route.config as object), auth: 'session' };
      });
      await scope.register(cookie);
      await scope.register(formbody, { bodyLimit: 64 * 1024 });

      scope.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
        reply.headers(SECURITY_HEADERS);
        req.consoleSession = ctx.sessions.get(req.cookies[SESSION_COOKIE]);
        // One address per page: /console/unknown/ is /console/unknown (not a group with an empty id).
        const [pathname = '', search] = req.url.split('?', 2);
        if (!isStateChange(req) && pathname.length > '/console/'.length && pathname.endsWith('/'))
          return reply.redirect(`${pathname.replace(/\/+$/, '')}${search !== undefined ? `?${search}` : ''}`, 303);
        if (req.consoleSession || req.routeOptions.config.public) return undefined;
        if (!isStateChange(req)) return reply.redirect('/console/sign-in', 303);
        return reply
          .code(401)
          .type('text/html; charset=utf-8')
          .send(
            bareShell(
              'Signed out',
              html`${noticeBox({ kind: 'error', text: 'Expected a signed-in session but this request has none (sign in again).' })}
                <p><a href="/console/sign-in">Sign in</a></p>`,
            ),
          );
      });
      scope.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
        if (!isStateChange(req)) return undefined;
        const foreign = crossSite(req);
        const session = req.consoleSession;
        const given =
          (req.body as Record<string, unknown> | undefined)?._csrf ?? (req.query as Record<string, unknown>)._csrf;
        let problem: string | null = null;
        if (foreign) problem = `Expected a request from this console but received one from another site (${foreign})`;
        // The sign-in form (public) carries no session token: it needs the API token itself, and a
        // second sign-in from another tab replaces the session.
        else if (session && !req.routeOptions.config.public && !csrfMatches(session, given))
          problem = `Expected the form's CSRF token but received ${given === undefined ? 'none' : 'a wrong one'} (reload the page and try again)`;
        if (problem === null) return undefined;
        deps.logger.warn({ method: req.method, url: req.url.split('?')[0], problem }, 'console: state change refused');
        return reply
          .code(403)
          .type('text/html; charset=utf-8')
          .send(
            bareShell(
              'Refused',
              html`${noticeBox({ kind: 'error', text: problem })}
                <p><a href="/console/">Back to the console</a></p>`,
            ),
          );
      });

      scope.setErrorHandler((error: unknown, req, reply) => {
        const { status, body } = errorResponse(error, ctx.dataRoot);
        if (status === 500)
          deps.logger.error({ err: error, method: req.method, url: req.url.split('?')[0] }, 'console: request failed');
        const skipped = (body.skipped as { file?: string; reason?: string }[] | undefined) ?? [];
        const notice = {
          kind: 'error' as const,
          text: String(body.error),
          details: skipped.map((s) => `${s.file ?? 'photo'}: ${s.reason ?? 'refused'}`),
        };
        const content = html`<p><a href="/console/">Back to the console</a></p>`;
        const text = req.consoleSession
          ? page({
              title: status === 404 ? 'Not found' : 'Refused',
              session: req.consoleSession,
              section: 'unknown',
              body: content,
              notice,
            })
          : bareShell('Refused', html`${noticeBox(notice)}`);
        return reply.code(status).type('text/html; charset=utf-8').send(text);
      });
      const notFound = (req: FastifyRequest, reply: FastifyReply) =>
        reply
          .code(404)
          .type('text/html; charset=utf-8')
          .send(
            bareShell(
              'Not found',
              html`${noticeBox({ kind: 'error', text: `Expected a console page but received ${req.method} ${req.url.split('?')[0] ?? ''}` })}
                <p><a href="/console/">Console</a></p>`,
            ),
          );
      scope.setNotFoundHandler(notFound);
      // A not-found handler is no route, so it is not marked { auth: 'session' } and the API's bearer
      // hook answered every mistyped console address with its JSON 401. This catch-all is a route of
      // this scope (the most specific route still wins): behind the session hook like any page.
      scope.all('/*', notFound);

      scope.get('/assets/console.css', { config: { public: true } }, (_req, reply) =>
        reply.header('cache-control', 'max-age=3600').type('text/css; charset=utf-8').send(CONSOLE_CSS),
      );
      scope.get('/assets/console.js', { config: { public: true } }, (_req, reply) =>
        reply.header('cache-control', 'max-age=3600').type('text/javascript; charset=utf-8').send(CONSOLE_JS),
      );
      scope.get('/', (_req, reply) => reply.redirect('/console/unknown', 303));
      registerSignIn(scope, ctx);
      for (const register of [registerUnknownPages, registerPeoplePages, registerEventPages, registerCameraPages])
        register(scope, ctx);
    },
    { prefix: '/console' },
  );
}
