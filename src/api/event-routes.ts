// The HTTP API's event routes (the database's recognition and camera events; corrections.ts marks one wrong):
//   GET  /events              recognition events (?since, until, camera, user, access, appliance, limit, before),
//                             each with the appliance that recorded it (issue 18; null: before appliance ids)
//   GET  /events/cameras      camera events (same query)
//   POST /events/:id/wrong    {"actor"?, "note"?, "force"?} or no body: this decision was wrong ("not this person")
import type { FastifyInstance } from 'fastify';

import { ACCESS_VERDICTS, type AccessVerdictKind, type EventQuery } from '../../storage/db/db-store.js';
import { RequestInputError } from './request-input-error.js';
import { quoteReceived } from '../../storage/checks.js';
import { validateId } from '../../storage/ids.js';
import { markEventWrong, MAX_ACTOR_CHARS } from '../recognition/corrections.js';
import type { ApiDeps } from './api-deps.js';
import { HttpError } from './errors.js';
import { isoDate, limitParam } from './query-params.js';
import { textField } from './text-fields.js';

type EventQueryString = Partial<
  Record<'since' | 'until' | 'camera' | 'user' | 'access' | 'appliance' | 'limit' | 'before', string>
>;

function accessParam(raw: string): AccessVerdictKind {
  if (!(ACCESS_VERDICTS as readonly string[]).includes(raw))
    throw new RequestInputError(`Expected access=${ACCESS_VERDICTS.join('|')} but received ${quoteReceived(raw)}`);
  return raw as AccessVerdictKind;
}

function eventQuery(q: EventQueryString): EventQuery {
  const since = isoDate('since', q.since);
  const until = isoDate('until', q.until);
  const limit = limitParam(q.limit);
  return {
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    ...(q.camera ? { cameraId: validateId('camera', q.camera) } : {}),
    ...(q.user ? { userId: validateId('user', q.user) } : {}),
    ...(q.appliance !== undefined ? { appliance: validateId('appliance', q.appliance) } : {}),
    ...(q.access !== undefined ? { access: accessParam(q.access) } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(q.before ? { before: q.before } : {}),
  };
}

export function registerEventRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { storage } = deps;

  // "Not this person" by its event (issue 13, src/recognition/corrections.ts): the answer carries the
  // user's new threshold. Its twin with a photo is POST /users/:id/not-this-person.
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

  app.get<{ Querystring: EventQueryString }>('/events', async (req) => ({
    events: await storage.db.queryRecognitionEvents(eventQuery(req.query)),
  }));
  app.get<{ Querystring: EventQueryString }>('/events/cameras', async (req) => ({
    events: await storage.db.queryCameraEvents(eventQuery(req.query)),
  }));
}
