// The HTTP API's unknown-face review routes (src/unknown-faces/review.ts does the work):
//   GET  /unknown                    open groups (?status=open|enrolled|assigned|dismissed|all, since, camera, limit)
//   GET  /unknown/audit              the review trail (?group, limit)
//   GET  /unknown/:group             a group, its faces and its review actions
//   GET  /unknown/:group/crop        its best crop (image/png)
//   GET  /unknown/:group/faces/:face/crop   one of its faces' crop (image/png; the outputs' crop URL)
//   POST /unknown/:group/enroll      {"userId", "name", "department"?, "actor"?}
//   POST /unknown/:group/assign      {"userId", "actor"?}
//   POST /unknown/:group/dismiss     {"actor"?, "reason"?}
// The token holder acts; "actor" names the person at the keyboard and is recorded as api:<actor>.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

import { quoteReceived } from '../../storage/checks.js';
import { GROUP_STATUSES, type GroupQuery, parseGroupId } from '../../storage/index.js';
import { validateId } from '../../storage/ids.js';
import {
  assignGroup,
  dismissGroup,
  enrollGroup,
  faceCrop,
  groupCrop,
  listGroups,
  showGroup,
  type ReviewDeps,
} from '../unknown-faces/review.js';
import type { ApiDeps } from './api-deps.js';
import { isoDate, limitParam } from './query-params.js';
import { RequestInputError } from './request-input-error.js';
import { printableText } from './text-fields.js';

// Printable text (text-fields.ts: the one rule for what people type).
const text = printableText;
const enrollBody = z.strictObject({
  userId: z.string(),
  name: text(200),
  department: text(200).optional(),
  actor: text(100).optional(),
});
const assignBody = z.strictObject({ userId: z.string(), actor: text(100).optional() });
const dismissBody = z.strictObject({ actor: text(100).optional(), reason: text(200).optional() });

/** A JSON body checked against its schema; the refusal names each wrong field and what it expected. */
function body<T>(schema: z.ZodType<T>, shape: string, raw: unknown): T {
  const result = schema.safeParse(raw ?? {});
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    throw new RequestInputError(`Expected a JSON body ${shape} but received one that does not fit (${issues})`);
  }
  return result.data;
}

function actorOf(actor: string | undefined): string {
  return actor ? `api:${actor}` : 'api';
}

export function registerUnknownRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { storage } = deps;
  const review: ReviewDeps = {
    storage,
    grouping: deps.grouping,
    logger: deps.logger,
    thresholds: deps.thresholds,
    learning: deps.learning,
  };

  app.get<{ Querystring: Partial<Record<'status' | 'since' | 'camera' | 'limit', string>> }>(
    '/unknown',
    async (req) => {
      const q = req.query;
      if (q.status !== undefined && q.status !== 'all' && !(GROUP_STATUSES as readonly string[]).includes(q.status)) {
        throw new RequestInputError(
          `Expected status to be one of ${[...GROUP_STATUSES, 'all'].join(', ')} but received ${quoteReceived(q.status, 20)}`,
        );
      }
      const since = isoDate('since', q.since);
      const limit = limitParam(q.limit);
      const query: GroupQuery = {
        ...(q.status ? { status: q.status as NonNullable<GroupQuery['status']> } : {}),
        ...(since ? { since } : {}),
        ...(q.camera ? { cameraId: validateId('camera', q.camera) } : {}),
        ...(limit !== undefined ? { limit } : {}),
      };
      return { groups: await listGroups(storage, query) };
    },
  );

  app.get<{ Querystring: Partial<Record<'group' | 'limit', string>> }>('/unknown/audit', async (req) => {
    const limit = limitParam(req.query.limit);
    const groupId = req.query.group ? parseGroupId(req.query.group) : undefined;
    return {
      actions: await storage.db.unknown.reviewActions({
        ...(groupId !== undefined ? { groupId } : {}),
        ...(limit !== undefined ? { limit } : {}),
      }),
    };
  });

  app.get<{ Params: { group: string } }>('/unknown/:group', async (req) => showGroup(storage, req.params.group));

  app.get<{ Params: { group: string } }>('/unknown/:group/crop', async (req, reply) => {
    const { png } = await groupCrop(storage, req.params.group);
    return reply.type('image/png').send(png);
  });

  app.get<{ Params: { group: string; face: string } }>('/unknown/:group/faces/:face/crop', async (req, reply) => {
    const { png } = await faceCrop(storage, req.params.group, req.params.face);
    return reply.type('image/png').send(png);
  });

  app.post<{ Params: { group: string } }>('/unknown/:group/enroll', async (req, reply) => {
    const groupId = parseGroupId(req.params.group);
    const b = body(enrollBody, '{"userId", "name", "department"?, "actor"?}', req.body);
    const result = await enrollGroup(review, {
      groupId,
      userId: validateId('user', b.userId),
      name: b.name,
      department: b.department ?? null,
      actor: actorOf(b.actor),
    });
    await deps.users
      .refresh()
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'api: user directory refresh failed'));
    return reply.code(201).send(result);
  });

  app.post<{ Params: { group: string } }>('/unknown/:group/assign', async (req) => {
    const groupId = parseGroupId(req.params.group);
    const b = body(assignBody, '{"userId", "actor"?}', req.body);
    return assignGroup(review, { groupId, userId: validateId('user', b.userId), actor: actorOf(b.actor) });
  });

  app.post<{ Params: { group: string } }>('/unknown/:group/dismiss', async (req) => {
    const groupId = parseGroupId(req.params.group);
    const b = body(dismissBody, '{"actor"?, "reason"?}', req.body);
    return dismissGroup(review, { groupId, actor: actorOf(b.actor), ...(b.reason ? { reason: b.reason } : {}) });
  });
}
