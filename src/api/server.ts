// The HTTP API: enroll, users, identify, events, unknown-face review (unknown-routes.ts), health
// and metrics, every route behind the bearer token. Routes call the stores' interfaces and the recognition functions only. Hostile
// input is refused with a 4xx that says what was expected, before anything is written.
import { timingSafeEqual } from 'node:crypto';
import path from 'node:path';

import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

import type { EventQuery } from '../../storage/db/db-store.js';
import { quoteReceived } from '../../storage/checks.js';
import {
  ConflictError,
  diskFullIn,
  InvalidIdError,
  NotFoundError,
  ReadOnlyError,
  StoreInputError,
} from '../../storage/errors.js';
import { validateId } from '../../storage/ids.js';
import {
  CorrectionRefusedError,
  markEventWrong,
  markPhotoNotUser,
  MAX_ACTOR_CHARS,
  MAX_PHOTO_NAME_CHARS,
  nearestOtherPerson,
  userThresholdReport,
} from '../recognition/corrections.js';
import { deleteUser, enroll, type EnrollmentImage, EnrollmentRefusedError } from '../recognition/enrollment.js';
import { identifiedFaceJson, identify } from '../recognition/identify.js';
import { siteThresholdReport } from '../recognition/site-threshold.js';
import { toJson } from '../bigint-json.js';
import { AssignmentRefusedError, ReviewInputError } from '../unknown-faces/review.js';
import { DecodeBusyError, ImageDecodeError, MAX_INPUT_BYTES, withDecodedImage } from '../vision/image-input.js';
import type { ApiDeps } from './api-deps.js';
import { isoDate, limitParam, repeatedQueryParam } from './query-params.js';
import { RequestInputError } from './request-input-error.js';
import { textField } from './text-fields.js';
import { registerUnknownRoutes } from './unknown-routes.js';

/** 25 MiB: one large phone photo, or a batch of ordinary ones, per request. */
export const DEFAULT_BODY_LIMIT_BYTES = 25 * 1024 * 1024;
/** Enough photos for a good enrollment (at least 3 must be usable) without one request tying up the worker for minutes. */
export const MAX_ENROLL_IMAGES = 20;
/** Text fields (userId, name, department) are short; anything longer is not a name. */
const MAX_FIELD_BYTES = 1024;

export interface ApiOptions {
  token: string;
  bodyLimitBytes?: number;
  /** The data root: a full disk's path is named relative to it (the client needs no server layout). */
  dataRoot?: string;
}

/** A refusal with its HTTP status, raised by the routes themselves. */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

// RFC 9110 section 11.1: the scheme is case-insensitive ("bearer", "BEARER"), then one or more spaces.
const BEARER = /^bearer +(\S+)\s*$/i;

/** Constant-time: how much of a guess was right never shows in the response time. */
function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  const match = header === undefined ? null : BEARER.exec(header);
  if (!match) return false;
  const given = Buffer.from(match[1] as string, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Seconds a client told "busy" waits before trying again: one decode of an ordinary photo takes well under that. */
const RETRY_AFTER_SECONDS = 1;

/** Where a full disk (storage/errors.ts diskFullIn) was met: the file relative to the data root when inside it. */
function diskFull(error: unknown, dataRoot: string | undefined): { where: string } | undefined {
  const full = diskFullIn(error);
  if (!full) return undefined;
  if (full.database) return { where: 'the database disk' };
  if (full.path === undefined) return { where: 'the data disk' };
  const relative = dataRoot ? path.relative(dataRoot, full.path) : full.path;
  return { where: relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : full.path };
}

/** The status and body for an error, by its class: the refusals callers can act on, or a generic 500. */
function errorResponse(
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

interface Upload {
  fields: Map<string, string>;
  files: { field: string; name: string; bytes: Buffer }[];
}

/**
 * Reads a multipart body into memory within limits: each file at most `fileLimit` bytes, at most
 * `maxFiles` files, only the fields and file fields named, the whole at most `bodyLimit` bytes.
 * `onField` sees each text field as it arrives (ids are checked before any file is read).
 */
async function readUpload(
  req: FastifyRequest,
  limits: { bodyLimit: number; maxFiles: number; fields: string[]; fileField: string },
  onField: (name: string, value: string) => void,
): Promise<Upload> {
  if (!req.isMultipart())
    throw new HttpError(
      415,
      `Expected a multipart/form-data body but received ${req.headers['content-type'] ?? 'no content type'}`,
    );
  const fileLimit = Math.min(MAX_INPUT_BYTES, limits.bodyLimit);
  const upload: Upload = { fields: new Map(), files: [] };
  const expectedFields = limits.fields.length ? `only the fields ${limits.fields.join(', ')}` : 'no text fields';
  let total = 0;
  try {
    // One field more than named: an unknown or repeated field arrives here and is refused by name (a 400), not as a parts limit.
    const parts = req.parts({
      limits: {
        fileSize: fileLimit,
        files: limits.maxFiles,
        fields: limits.fields.length + 1,
        fieldSize: MAX_FIELD_BYTES,
        parts: limits.maxFiles + limits.fields.length + 1,
      },
    });
    for await (const part of parts) {
      if (part.type === 'field') {
        if (!limits.fields.includes(part.fieldname)) {
          throw new HttpError(
            400,
            `Expected ${expectedFields} and files in the field ${limits.fileField} but received the field ${quoteReceived(part.fieldname, 40)}`,
          );
        }
        if (upload.fields.has(part.fieldname))
          throw new HttpError(400, `Expected the field ${part.fieldname} once but received it again`);
        if (part.valueTruncated || typeof part.value !== 'string') {
          throw new HttpError(400, `Expected ${part.fieldname} to be text of at most ${MAX_FIELD_BYTES} bytes`);
        }
        total += part.value.length;
        upload.fields.set(part.fieldname, part.value);
        onField(part.fieldname, part.value);
      } else {
        if (part.fieldname !== limits.fileField) {
          part.file.resume();
          throw new HttpError(
            400,
            `Expected files in the field ${limits.fileField} but received one in ${quoteReceived(part.fieldname, 40)}`,
          );
        }
        const bytes = await part.toBuffer();
        total += bytes.length;
        upload.files.push({
          field: part.fieldname,
          name: part.filename || `${limits.fileField}[${upload.files.length}]`,
          bytes,
        });
      }
      if (total > limits.bodyLimit)
        throw new HttpError(413, `Expected a request of at most ${limits.bodyLimit} bytes but received more`);
    }
  } catch (error) {
    if (
      error instanceof HttpError ||
      error instanceof RequestInputError ||
      error instanceof StoreInputError ||
      error instanceof InvalidIdError
    )
      throw error;
    const code = (error as { code?: unknown }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE')
      throw new HttpError(413, `Expected each image to be at most ${fileLimit} bytes but received a larger one`);
    if (code === 'FST_FILES_LIMIT')
      throw new HttpError(413, `Expected at most ${limits.maxFiles} image file(s) per request but received more`);
    if (code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') {
      const fields = limits.fields.length ? `the fields ${limits.fields.join(', ')}` : 'no fields';
      throw new HttpError(413, `Expected ${fields} and at most ${limits.maxFiles} file(s) but received more parts`);
    }
    if (typeof (error as { statusCode?: unknown }).statusCode === 'number') throw error;
    // Anything else came from reading the body itself (busboy: no boundary, a part cut short, the
    // client gone): the client's fault, and nothing was written yet.
    const reason = error instanceof Error ? error.message : String(error);
    throw new HttpError(
      400,
      `Expected a well-formed multipart/form-data body but it could not be read (${reason.slice(0, 200)})`,
    );
  }
  return upload;
}

/** A yes/no form field: "true" or "false", nothing else (a typo must not be read as either). */
function formBoolean(name: string, value: string): boolean {
  if (value === 'true' || value === 'false') return value === 'true';
  throw new HttpError(400, `Expected ${name} to be true or false but received ${quoteReceived(value, 40)}`);
}

type EventQueryString = Partial<Record<'since' | 'until' | 'camera' | 'user' | 'limit' | 'before', string>>;

function eventQuery(q: EventQueryString): EventQuery {
  const since = isoDate('since', q.since);
  const until = isoDate('until', q.until);
  const limit = limitParam(q.limit);
  return {
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    ...(q.camera ? { cameraId: validateId('camera', q.camera) } : {}),
    ...(q.user ? { userId: validateId('user', q.user) } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(q.before ? { before: q.before } : {}),
  };
}

/** The q-quantile of samples (nearest rank), NaN without samples (Prometheus' "no value"). */
function quantile(samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

/** A label value in the text format: backslash, double quote and newline escaped. */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function promNumber(n: number): string {
  return Number.isNaN(n) ? 'NaN' : String(n);
}

export function buildApi(deps: ApiDeps, options: ApiOptions): FastifyInstance {
  const { storage, logger } = deps;
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  if (options.token.length === 0) throw new Error('Expected an API token but received an empty one');
  const expected = Buffer.from(options.token, 'utf8');

  const app = Fastify({ logger: false, bodyLimit });
  // Embedding ids are bigints; JSON has no such number, so they travel as strings (src/bigint-json.ts).
  app.setReplySerializer((payload) => toJson(payload));
  void app.register(multipart);

  // onRequest runs before any body is read: an unauthenticated or oversized request costs nothing.
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!tokenMatches(req.headers.authorization, expected)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'Expected an Authorization: Bearer <token> header with the API token' });
    }
    const length = Number(req.headers['content-length']);
    if (Number.isFinite(length) && length > bodyLimit) {
      return reply.code(413).send({ error: `Expected a request of at most ${bodyLimit} bytes but received ${length}` });
    }
    return undefined;
  });

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

  /** The in-memory directory follows every change; a failed refresh (database just went down) keeps the old state and is logged. */
  async function refreshUsers(): Promise<void> {
    await deps.users
      .refresh()
      .catch((error: unknown) => logger.warn({ err: error }, 'api: user directory refresh failed'));
  }

  async function existingUser(id: string) {
    const user = await storage.db.getUser(validateId('user', id));
    if (!user) throw new HttpError(404, `Expected an existing user but there is no user ${id}`);
    return user;
  }

  // Users

  app.post('/users', async (req, reply) => {
    // Each field is checked as it arrives, before any photo is read.
    const upload = await readUpload(
      req,
      { bodyLimit, maxFiles: MAX_ENROLL_IMAGES, fields: ['userId', 'name', 'department'], fileField: 'images' },
      (name, value) => {
        if (name === 'userId') validateId('user', value);
        else if (name === 'name' || value.trim()) textField(name, value);
      },
    );
    const userId = upload.fields.get('userId');
    const rawName = upload.fields.get('name');
    if (userId === undefined) throw new HttpError(400, 'Expected a userId field');
    validateId('user', userId);
    if (rawName === undefined) throw new HttpError(400, 'Expected a non-empty name field');
    const name = textField('name', rawName);
    const rawDepartment = upload.fields.get('department');
    if (upload.files.length === 0)
      throw new HttpError(400, `Expected 1-${MAX_ENROLL_IMAGES} image files in the field images but received none`);
    const images: EnrollmentImage[] = upload.files.map((f) => ({ name: f.name, bytes: f.bytes }));
    const result = await enroll(
      { analyzer: deps.analyzer, storage, thresholds: deps.thresholds },
      { userId, name, department: rawDepartment?.trim() ? textField('department', rawDepartment) : null, images },
    );
    await refreshUsers();
    return reply.code(201).send(result);
  });

  app.get<{ Querystring: { status?: string } }>('/users', async (req) => {
    const { status } = req.query;
    if (status !== undefined && status !== 'active' && status !== 'disabled') {
      throw new HttpError(400, `Expected status active or disabled but received ${quoteReceived(status, 20)}`);
    }
    return { users: await storage.db.listUsers(status ? { status } : {}) };
  });

  app.get<{ Params: { id: string } }>('/users/:id', async (req) => {
    const user = await existingUser(req.params.id);
    return {
      user,
      embeddings: await storage.db.countEmbeddings(user.id),
      // Issue 13: the user's own threshold and the corrections behind it; the nearest other person, live from the index.
      threshold: await userThresholdReport(storage, user.id, deps.thresholds.match),
      nearest: await nearestOtherPerson(storage, user.id),
    };
  });

  for (const [action, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    app.post<{ Params: { id: string } }>(`/users/:id/${action}`, async (req) => {
      await existingUser(req.params.id);
      const user = await storage.db.setUserStatus(req.params.id, status);
      await refreshUsers();
      return { user };
    });
  }

  app.delete<{ Params: { id: string }; Querystring: { purgeImages?: string } }>('/users/:id', async (req) => {
    const { purgeImages } = req.query;
    if (purgeImages !== undefined && purgeImages !== 'true' && purgeImages !== 'false') {
      throw new HttpError(
        400,
        `Expected purgeImages to be true or false but received ${quoteReceived(purgeImages, 20)}`,
      );
    }
    const user = await existingUser(req.params.id);
    const { embeddings } = await deleteUser(storage, user.id, { purgeImages: purgeImages === 'true' });
    await refreshUsers();
    return { userId: user.id, deleted: true, embeddings, purgedImages: purgeImages === 'true' };
  });

  // Identify

  app.post('/identify', async (req) => {
    // Two allowed so that a second file is refused with a clear 400 rather than a parts-limit 413.
    const upload = await readUpload(req, { bodyLimit, maxFiles: 2, fields: [], fileField: 'image' }, () => undefined);
    if (upload.files.length !== 1)
      throw new HttpError(400, `Expected one image file in the field image but received ${upload.files.length}`);
    // The decoded pixels count against the shared decode budget until the faces are found.
    const faces = await withDecodedImage((upload.files[0] as Upload['files'][0]).bytes, (image) =>
      identify(
        {
          analyzer: deps.analyzer,
          embeddings: storage.embeddings,
          statusOf: deps.users.statusOf,
          thresholdOf: deps.users.thresholdOf,
          thresholds: deps.thresholds,
        },
        image,
      ),
    );
    return {
      faces: faces.map(identifiedFaceJson),
    };
  });

  // "Not this person" (issue 13, src/recognition/corrections.ts): a decision marked wrong, by its
  // event or with a photo of the face; the answer carries the user's new threshold.

  app.post<{ Params: { id: string } }>('/events/:id/wrong', async (req, reply) => {
    const raw = (req.body ?? {}) as unknown;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new HttpError(
        400,
        `Expected a JSON object {"actor"?, "note"?, "force"?} or no body but received ${quoteReceived(raw, 40)}`,
      );
    }
    const extra = Object.keys(raw).filter((k) => k !== 'actor' && k !== 'note' && k !== 'force');
    if (extra.length)
      throw new HttpError(
        400,
        `Expected only the fields actor, note and force but received ${quoteReceived(extra.join(', '), 60)}`,
      );
    const { actor, note, force } = raw as { actor?: unknown; note?: unknown; force?: unknown };
    if (actor !== undefined && typeof actor !== 'string')
      throw new HttpError(400, `Expected actor to be text but received ${quoteReceived(actor, 40)}`);
    const result = await markEventWrong(
      { storage, siteMatch: deps.thresholds.match, users: deps.users },
      {
        eventId: req.params.id,
        actor: actor === undefined ? 'api' : `api:${textField('actor', actor, MAX_ACTOR_CHARS)}`,
        ...(note !== undefined ? { note: typeof note === 'string' ? textField('note', note) : note } : {}),
        // A boolean in JSON; anything else is refused by markEventWrong (400) with what it received.
        force,
      },
    );
    return reply.code(201).send(result);
  });

  app.post<{ Params: { id: string } }>('/users/:id/not-this-person', async (req, reply) => {
    const userId = validateId('user', req.params.id);
    // The user first: an unknown one costs no upload read and no decode.
    await existingUser(userId);
    const upload = await readUpload(
      req,
      { bodyLimit, maxFiles: 2, fields: ['actor', 'note', 'force'], fileField: 'image' },
      (name, value) => {
        if (name === 'force') formBoolean(name, value);
        else textField(name, value, name === 'actor' ? MAX_ACTOR_CHARS : undefined);
      },
    );
    if (upload.files.length !== 1)
      throw new HttpError(400, `Expected one image file in the field image but received ${upload.files.length}`);
    const file = upload.files[0] as Upload['files'][0];
    const actor = upload.fields.get('actor');
    const note = upload.fields.get('note');
    const force = upload.fields.get('force');
    // The client's file name is kept in the correction and shown back: printable, refused before any decode.
    const name = textField("the image's file name", path.basename(file.name), MAX_PHOTO_NAME_CHARS);
    const result = await markPhotoNotUser(
      { storage, analyzer: deps.analyzer, siteMatch: deps.thresholds.match, users: deps.users },
      {
        userId,
        photo: file.bytes,
        name,
        actor: actor === undefined ? 'api' : `api:${textField('actor', actor, MAX_ACTOR_CHARS)}`,
        ...(note !== undefined ? { note: textField('note', note) } : {}),
        force: force !== undefined && formBoolean('force', force),
      },
    );
    return reply.code(201).send(result);
  });
  // --- end of "not this person" ---

  registerUnknownRoutes(app, deps);

  // Events

  app.get<{ Querystring: EventQueryString }>('/events', async (req) => ({
    events: await storage.db.queryRecognitionEvents(eventQuery(req.query)),
  }));
  app.get<{ Querystring: EventQueryString }>('/events/cameras', async (req) => ({
    events: await storage.db.queryCameraEvents(eventQuery(req.query)),
  }));

  // Health and metrics

  async function cameras() {
    return Promise.all(
      deps.cameraStats().map(async (c) => {
        const health = await storage.cache.cameraHealth(c.cameraId).catch(() => null);
        // Up: the source is connected and its frames keep camera:{id}:last_seen alive.
        return {
          ...c,
          up: c.state === 'online' && health?.online === true,
          lastSeen: health?.lastSeen ?? null,
          cacheStatus: health?.status ?? null,
        };
      }),
    );
  }

  app.get('/health', async () => {
    const database = storage.db.health();
    const cache = storage.cache.health();
    const cams = await cameras();
    const pipeline = deps.pipelineStats();
    const status = !database.available ? 'read-only' : cache.degraded || cams.some((c) => !c.up) ? 'degraded' : 'ok';
    return {
      status,
      database,
      cache,
      embeddings: storage.embeddings.stats(),
      cameras: cams,
      inference: deps.inference,
      pipeline: { running: pipeline !== null, queueDepth: pipeline?.queued ?? 0 },
      // Site calibration (issue 13): where the match threshold came from, and whether the gallery outgrew it.
      threshold: siteThresholdReport(deps.siteThreshold(), deps.users.activeCount),
    };
  });

  app.get('/metrics', async (_req, reply) => {
    const p = deps.pipelineStats();
    const cams = await cameras();
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge' | 'summary', help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${promNumber(value)}`);
    };
    metric('facegate_frames_total', 'counter', 'Frames analysed by the recognition worker.', [['', p?.frames ?? 0]]);
    metric('facegate_faces_total', 'counter', 'Faces found in analysed frames.', [['', p?.faces ?? 0]]);
    metric('facegate_decisions_total', 'counter', 'Track decisions written as events, by outcome.', [
      ['{outcome="known"}', p?.decisions.known ?? 0],
      ['{outcome="unknown"}', p?.decisions.unknown ?? 0],
    ]);
    metric('facegate_queue_depth', 'gauge', 'Frames waiting for the recognition worker.', [['', p?.queued ?? 0]]);
    metric(
      'facegate_frames_dropped_total',
      'counter',
      'Frames dropped because the worker was busy, per camera.',
      cams.map((c) => [`{camera="${label(c.cameraId)}"}`, c.framesDropped]),
    );
    metric('facegate_spool_events', 'gauge', 'Events waiting in the local spool for the database.', [
      ['', storage.db.health().spooled],
    ]);
    metric('facegate_index_vectors', 'gauge', 'Embeddings in the search index.', [
      ['', storage.embeddings.stats().count],
    ]);
    metric('facegate_unknown_open_faces', 'gauge', 'Unknown faces in open groups, waiting for review.', [
      ['', deps.grouping.size],
    ]);
    const latency = p?.decisionLatencyMs ?? [];
    metric(
      'facegate_decision_latency_ms',
      'summary',
      'Milliseconds from the frame that settled a decision to its event being written (recent samples).',
      [
        ['{quantile="0.5"}', quantile(latency, 0.5)],
        ['{quantile="0.99"}', quantile(latency, 0.99)],
      ],
    );
    lines.push(
      `facegate_decision_latency_ms_sum ${latency.reduce((a, b) => a + b, 0)}`,
      `facegate_decision_latency_ms_count ${latency.length}`,
    );
    metric(
      'facegate_camera_up',
      'gauge',
      'Whether a camera is connected and sending frames (1) or not (0).',
      cams.map((c) => [`{camera="${label(c.cameraId)}"}`, c.up ? 1 : 0]),
    );
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(`${lines.join('\n')}\n`);
  });

  return app;
}
