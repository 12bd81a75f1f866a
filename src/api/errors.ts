// How the HTTP API answers a failure: the error's class decides the status and the body (a refusal the
// client can act on, "busy" with Retry-After, a full disk, or a generic 500), and fastify's error and
// not-found handlers are set to answer that way and log it. Routes only throw; this file says what the
// client sees.
import path from 'node:path';

import type { FastifyInstance } from 'fastify';

import type { Logger } from '../../storage/logger.js';
import {
  ConflictError,
  diskFullIn,
  InvalidIdError,
  NotFoundError,
  ReadOnlyError,
  StoreInputError,
} from '../../storage/errors.js';
import { CorrectionRefusedError } from '../recognition/corrections.js';
import { EnrollmentRefusedError } from '../recognition/enrollment.js';
import { AssignmentRefusedError, ReviewInputError } from '../unknown-faces/review.js';
import { DecodeBusyError, ImageDecodeError } from '../vision/image-input.js';
import { RequestInputError } from './request-input-error.js';

/** A refusal with its HTTP status, raised by the routes themselves. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Seconds a client told "busy" waits before trying again: one decode of an ordinary photo takes well under that. */
export const RETRY_AFTER_SECONDS = 1;

/** Where a full disk (storage/errors.ts diskFullIn) was met: the file relative to the data root when inside it. */
export function diskFull(error: unknown, dataRoot: string | undefined): { where: string } | undefined {
  const full = diskFullIn(error);
  if (!full) return undefined;
  if (full.database) return { where: 'the database disk' };
  if (full.path === undefined) return { where: 'the data disk' };
  const relative = dataRoot ? path.relative(dataRoot, full.path) : full.path;
  return { where: relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : full.path };
}

/** The status and body for an error, by its class: the refusals callers can act on, or a generic 500. */
export function errorResponse(
  error: unknown,
  dataRoot: string | undefined,
): { status: number; body: Record<string, unknown>; headers?: Record<string, string> } {
  if (error instanceof HttpError) return { status: error.statusCode, body: { error: error.message } };
  if (error instanceof DecodeBusyError) {
    return { status: 503, body: { error: error.message }, headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } };
  }
  const full = diskFull(error, dataRoot);
  // 507 Insufficient Storage (RFC 4918): the request was fine, the appliance has no room to keep it.
  // What else the request did (nothing kept, or a deletion that went through) is the operation's own
  // message, which the warning logs; the client is told the one thing it can act on.
  if (full)
    return {
      status: 507,
      body: { error: `disk full: no space left to write ${full.where}; free space on that disk and retry` },
    };
  if (error instanceof EnrollmentRefusedError || error instanceof AssignmentRefusedError) {
    return { status: 422, body: { error: error.message, skipped: error.skipped } };
  }
  if (error instanceof ImageDecodeError || error instanceof CorrectionRefusedError)
    return { status: 422, body: { error: error.message } };
  if (error instanceof InvalidIdError || error instanceof RequestInputError || error instanceof ReviewInputError)
    return { status: 400, body: { error: error.message } };
  if (error instanceof ReadOnlyError) return { status: 503, body: { error: error.message } };
  if (error instanceof ConflictError) return { status: 409, body: { error: error.message } };
  if (error instanceof NotFoundError) return { status: 404, body: { error: error.message } };
  if (error instanceof StoreInputError) return { status: 400, body: { error: error.message } };
  // fastify's and @fastify/multipart's own refusals (body too large, bad content type, bad JSON).
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return { status: statusCode, body: { error: (error as Error).message } };
  }
  return { status: 500, body: { error: 'internal error (see the service log)' } };
}

/**
 * Sets `app`'s error handler (errorResponse, logged: a 500 as an error with its stack, anything else
 * as a warning) and its not-found handler (a 404 naming the method and path asked for).
 */
export function registerErrorHandler(
  app: FastifyInstance,
  options: { logger: Logger; dataRoot: string | undefined },
): void {
  const { logger } = options;
  app.setErrorHandler((error: unknown, req, reply) => {
    const { status, body, headers } = errorResponse(error, options.dataRoot);
    // Only a fault of the appliance's own is an error with a stack; refusals, busy and a full disk are warnings.
    if (status === 500) logger.error({ err: error, method: req.method, url: req.url }, 'api: request failed');
    else if (status === 507)
      logger.warn(
        { method: req.method, url: req.url, status, error: body.error, detail: (error as Error).message },
        'api: disk full',
      );
    else logger.warn({ method: req.method, url: req.url, status, error: body.error }, 'api: request refused');
    return reply
      .code(status)
      .headers(headers ?? {})
      .send(body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ error: `Expected one of the API routes but received ${req.method} ${req.url.split('?')[0] ?? ''}` }),
  );
}
