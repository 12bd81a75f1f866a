// The HTTP API's user routes (src/recognition/enrollment.ts and corrections.ts do the work):
//   POST   /users                        enroll: multipart userId, name, department?, images (1-20 photos)
//   GET    /users                        the users (?status=active|disabled)
//   GET    /users/:id                    a user, its embedding count, its threshold and nearest other person
//   POST   /users/:id/disable, /enable   change its status
//   PUT    /users/:id/roles              {"roles": [...]}: replace its roles (the access rules allow roles at doors)
//   DELETE /users/:id                    delete it (?purgeImages=true|false)
//   POST   /users/:id/not-this-person    multipart image, actor?, note?, force?: this photo is not the user
// Every change refreshes the in-memory user directory.
import path from 'node:path';

import type { FastifyInstance } from 'fastify';

import { quoteReceived } from '../../storage/checks.js';
import { validateId } from '../../storage/ids.js';
import {
  markPhotoNotUser,
  MAX_ACTOR_CHARS,
  MAX_PHOTO_NAME_CHARS,
  nearestOtherPerson,
  userThresholdReport,
} from '../recognition/corrections.js';
import { deleteUser, enroll, type EnrollmentImage } from '../recognition/enrollment.js';
import type { ApiDeps } from './api-deps.js';
import { HttpError } from './errors.js';
import { RequestInputError } from './request-input-error.js';
import { textField } from './text-fields.js';
import { formBoolean, MAX_ENROLL_IMAGES, readUpload, singleImage } from './upload.js';

export function registerUserRoutes(app: FastifyInstance, deps: ApiDeps, options: { bodyLimit: number }): void {
  const { storage, logger } = deps;
  const { bodyLimit } = options;

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

  // The user's roles, replaced whole (the access rules in the config allow roles at doors).
  app.put<{ Params: { id: string } }>('/users/:id/roles', async (req) => {
    const body = req.body;
    const roles = (body as { roles?: unknown } | null)?.roles;
    if (
      typeof body !== 'object' ||
      body === null ||
      Array.isArray(body) ||
      !Array.isArray(roles) ||
      !roles.every((r): r is string => typeof r === 'string')
    ) {
      throw new RequestInputError(`Expected a JSON body {"roles": ["role", ...]} but received ${quoteReceived(body)}`);
    }
    await existingUser(req.params.id);
    const user = await storage.db.setUserRoles(req.params.id, roles);
    await refreshUsers();
    return { user };
  });

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

  // "Not this person" (issue 13, src/recognition/corrections.ts): a photo of a face that is not this
  // user; the answer carries the user's new threshold. Its twin by event is POST /events/:id/wrong.
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
    const file = singleImage(upload);
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
}
