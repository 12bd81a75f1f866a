// The HTTP API, put together: a fastify server with multipart bodies, every route behind the bearer
// token (auth.ts), a request over the body limit refused before it is read (upload.ts), one answer
// for every error (errors.ts), and the routes by resource: users, identify, events, unknown-face
// review, health and metrics. Routes call the stores' interfaces and the recognition functions only.
// Hostile input is refused with a 4xx that says what was expected, before anything is written.
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance } from 'fastify';

import { quoteReceived } from '../../storage/checks.js';
import { toJson } from '../bigint-json.js';
import type { ApiDeps } from './api-deps.js';
import { bearerAuthHook } from './auth.js';
import { HttpError, registerErrorHandler } from './errors.js';
import { registerEventRoutes } from './event-routes.js';
import { registerIdentifyRoutes } from './identify-routes.js';
import { registerHealthAndMetricsRoutes } from './metrics.js';
import { repeatedQueryParam } from './query-params.js';
import { registerUnknownRoutes } from './unknown-routes.js';
import { bodyLengthHook, DEFAULT_BODY_LIMIT_BYTES } from './upload.js';
import { registerUserRoutes } from './user-routes.js';

export interface ApiOptions {
  token: string;
  bodyLimitBytes?: number;
  /** The data root: a full disk's path is named relative to it (the client needs no server layout). */
  dataRoot?: string;
  /**
   * Adds routes of a layer above the API to the same server (the console, src/console/: routes it
   * marks { auth: 'session' } are let past the bearer token and checked by its own session hook).
   */
  extend?: (app: FastifyInstance) => void;
}

export function buildApi(deps: ApiDeps, options: ApiOptions): FastifyInstance {
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  // An empty token is refused before any server is built.
  const auth = bearerAuthHook(options.token);

  const app = Fastify({ logger: false, bodyLimit });
  // Embedding ids are bigints; JSON has no such number, so they travel as strings (src/bigint-json.ts).
  app.setReplySerializer((payload) => toJson(payload));
  void app.register(multipart);

  // onRequest runs before any body is read: an unauthenticated or oversized request costs nothing.
  // The token first: a stranger learns nothing, not even the body limit.
  app.addHook('onRequest', auth);
  app.addHook('onRequest', bodyLengthHook(bodyLimit));

  // A repeated query parameter arrives as an array: which one was meant is a guess, so none is taken.
  app.addHook('preHandler', (req, _reply, done) => {
    const repeated = repeatedQueryParam(req.query);
    done(
      repeated
        ? new HttpError(
            400,
            `Expected each query parameter once but received ${quoteReceived(repeated, 40)} more than once`,
          )
        : undefined,
    );
  });

  registerErrorHandler(app, { logger: deps.logger, dataRoot: options.dataRoot });

  registerUserRoutes(app, deps, { bodyLimit });
  registerIdentifyRoutes(app, deps, { bodyLimit });
  registerEventRoutes(app, deps);
  registerUnknownRoutes(app, deps);
  registerHealthAndMetricsRoutes(app, deps);
  options.extend?.(app);

  return app;
}
