// The same person enrolled through the API several times at once (photos under different ids,
// and the review queue): one user, the others refused with the reason, nothing of them kept.
import { promises as fs } from 'node:fs';
import path from 'node:path';

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ApiDeps } from '../../src/api/api-deps.js';
import { decodeImage } from '../../src/vision/image-input.js';
import { multipart } from '../helpers/multipart.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { openTestApi } from '../helpers/test-api.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';
import { keepUnknownFace } from '../helpers/unknown-faces.js';

let appliance: TestAppliance;
let app: FastifyInstance;
let deps: ApiDeps;
let token: string;

beforeAll(async () => {
  appliance = await openTestAppliance('api-race');
  ({ app, deps, token } = await openTestApi(appliance));
});
afterAll(async () => {
  await app?.close();
  await appliance?.close();
});

const auth = () => ({ authorization: `Bearer ${token}` });

/** POST /users as curl -F sends it: userId, name, and the photos. */
function postUser(userId: string, photos: { file: string; bytes: Buffer }[]) {
  const { payload, headers } = multipart([
    { name: 'userId', value: userId },
    { name: 'name', value: `User ${userId}` },
    ...photos.map((p) => ({ name: 'images', filename: p.file, bytes: p.bytes })),
  ]);
  return app.inject({ method: 'POST', url: '/users', payload, headers: { ...headers, ...auth() } });
}

const read = (folder: string, files: string[]) =>
  Promise.all(files.map(async (file) => ({ file, bytes: await fs.readFile(path.join(FACES_DIR, folder, file)) })));

/** The refused responses: 422, every photo skipped as matching the one user created. */
function expectRefusedAsMatching(responses: { statusCode: number; json: <T>() => T }[], winner: string): void {
  for (const r of responses.filter((r) => r.statusCode !== 201)) {
    expect(r.statusCode).toBe(422);
    const body = r.json<{ error: string; skipped: { reason: string }[] }>();
    expect(body.error).toMatch(/refused/);
    expect(body.skipped.length).toBeGreaterThan(0);
    for (const s of body.skipped) expect(s.reason).toMatch(new RegExp(`^matches enrolled user ${winner} at `));
  }
}

/** The users the API lists, and the image folders: one of these ids only. */
async function expectOnlyUser(ids: string[], winner: string): Promise<void> {
  const users = (await app.inject({ method: 'GET', url: '/users', headers: auth() })).json<{
    users: { id: string }[];
  }>();
  expect(users.users.map((u) => u.id).filter((id) => ids.includes(id))).toEqual([winner]);
  expect((await appliance.storage.images.listUsers()).filter((id) => ids.includes(id))).toEqual([winner]);
}

describe('one face enrolled through the API several times at once', () => {
  it('makes one user of five POST /users with the same photos under different ids; the others get 422 and leave nothing', async () => {
    const photos = await read('obama', ['obama.jpg', 'obama2.jpg', 'obama3.jpg']);
    const ids = ['R1', 'R2', 'R3', 'R4', 'R5'];
    const responses = await Promise.all(ids.map((id) => postUser(id, photos)));
    const created = ids.filter((_, i) => responses[i]?.statusCode === 201);
    expect(created).toHaveLength(1);
    expectRefusedAsMatching(responses, created[0] as string);
    await expectOnlyUser(ids, created[0] as string);
    expect(appliance.storage.embeddings.stats().count).toBe(3);
  });

  it('makes one user of photo enrollments and a review enrollment of one person sent together', async () => {
    const { storage, vision } = appliance;
    const photos = await read(path.join('lfw10', 'Colin_Powell'), [
      'Colin_Powell_0001.jpg',
      'Colin_Powell_0002.jpg',
      'Colin_Powell_0003.jpg',
    ]);
    // The same person kept by the cameras as a stranger: one open group.
    const kept = [];
    for (const p of photos) {
      const [face] = await vision.analyzer.analyze(await decodeImage(p.bytes));
      if (!face) throw new Error(`Expected a face in ${p.file} but found none`);
      kept.push(await keepUnknownFace(storage, deps.grouping, face, 'cam_a'));
    }
    const groupId = kept[0]?.face.groupId as bigint;
    expect(new Set(kept.map((k) => k.face.groupId))).toEqual(new Set([groupId]));

    const ids = ['P1', 'P2', 'P3'];
    const responses = await Promise.all([
      postUser('P1', photos),
      postUser('P2', photos),
      app.inject({
        method: 'POST',
        url: `/unknown/${groupId}/enroll`,
        payload: { userId: 'P3', name: 'User P3', actor: 'api:test' },
        headers: auth(),
      }),
    ]);
    const created = ids.filter((_, i) => responses[i]?.statusCode === 201);
    expect(created).toHaveLength(1);
    expectRefusedAsMatching(responses, created[0] as string);
    await expectOnlyUser(ids, created[0] as string);
    expect(storage.embeddings.stats().count).toBe(6);
  });
});
