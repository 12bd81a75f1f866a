// Deleting a user on a full disk (issue 12, 3.1): the data root on a real, small tmpfs, the
// shared PostgreSQL, the real models. A delete leaves the user wholly deleted (never matched
// after the response, whatever the index snapshot could be written) or wholly intact.
import { promises as fs } from 'node:fs';
import path from 'node:path';

import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { enroll } from '../../src/recognition/enrollment.js';
import { openVision, type Vision } from '../../src/vision/index.js';
import { readSnapshot } from '../../storage/embeddings/snapshot.js';
import { openStorage, parseStorageConfig, type Storage } from '../../storage/index.js';
import { mountSmallDisk, type SmallDisk } from '../helpers/full-disk.js';
import { multipartImage } from '../helpers/multipart.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../helpers/shared-servers.js';
import { openTestApi } from '../helpers/test-api.js';

let vision: Vision;
let disk: SmallDisk;
const schemas: string[] = [];
let opened: { storage: Storage; app: FastifyInstance } | null = null;

beforeAll(async () => {
  vision = await openVision({ modelsDir: MODELS_DIR, provider: 'cpu' });
  disk = await mountSmallDisk('delete', 20 * 1024 * 1024);
}, 60_000);
afterEach(async () => {
  await opened?.app.close();
  await opened?.storage.close();
  opened = null;
  await disk.free(true);
});
afterAll(async () => {
  for (const schema of schemas) await dropSchema(SHARED_POSTGRES_URL, schema);
  await disk?.unmount();
});

/** An appliance on a fresh data root on the small disk, with obama enrolled from 4 photos (8 files). */
async function applianceWithObama(name: string) {
  const schema = uniqueSchema();
  schemas.push(schema);
  const dataRoot = path.join(disk.dir, name);
  const storage = await openStorage(parseStorageConfig({ dataRoot, databaseUrl: SHARED_POSTGRES_URL }), {
    embeddingModel: { id: vision.embedder.modelId, dim: vision.embedder.dim },
    schema,
  });
  const images = await Promise.all(
    ['obama.jpg', 'obama2.jpg', 'obama3.jpg', 'obama-480p.jpg'].map(async (f) => ({
      name: f,
      bytes: await fs.readFile(path.join(FACES_DIR, 'obama', f)),
    })),
  );
  expect(
    (await enroll({ analyzer: vision.analyzer, storage }, { userId: 'U', name: 'Barack Obama', images })).embeddings,
  ).toBe(4);
  // After the enrolment: the API's user directory starts from the users there are.
  const { app, token } = await openTestApi({ dataRoot, vision, storage, close: () => Promise.resolve() });
  opened = { storage, app };
  const userDir = path.join(dataRoot, 'images', 'users', 'U');
  const auth = { authorization: `Bearer ${token}` };
  const photo = await fs.readFile(path.join(FACES_DIR, 'obama', 'obama_small.jpg'));
  const { payload, headers } = multipartImage('obama_small.jpg', photo);
  return {
    storage,
    dataRoot,
    userDir,
    remove: (purge: boolean) => app.inject({ method: 'DELETE', url: `/users/U?purgeImages=${purge}`, headers: auth }),
    identify: async () => {
      const res = await app.inject({ method: 'POST', url: '/identify', payload, headers: { ...auth, ...headers } });
      expect(res.statusCode, res.body).toBe(200);
      const [face] = res.json<{ faces: { decision: string; userId: string | null }[] }>().faces;
      return `${face?.decision} ${face?.userId}`;
    },
    indexSize: async () =>
      (await app.inject({ method: 'GET', url: '/health', headers: auth })).json<{ embeddings: { count: number } }>()
        .embeddings.count,
  };
}

async function files(dir: string): Promise<string[]> {
  const found = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return found
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

describe('DELETE /users/:id on a full disk', () => {
  it('deletes wholly when the index snapshot cannot be written: never matched again, crops gone, originals kept', async () => {
    const a = await applianceWithObama('snapshot-full');
    expect(await a.identify()).toBe('known U');
    // Room for a small file (metadata.json), none for the index snapshot (about 8 kB at 4 x 512 floats).
    await disk.fill(8192);
    await disk.free();
    const generation = a.storage.embeddings.stats().generation;

    const res = await a.remove(false);
    expect(res.statusCode, res.body).toBe(200);
    // The snapshot could not be written (the case under test)...
    expect(a.storage.embeddings.stats().generation).toBe(generation);
    // ...yet the user is gone from what answers.
    expect(await a.identify()).toBe('unknown null');
    expect(await a.indexSize()).toBe(0);
    expect(await a.storage.db.getUser('U')).toBeNull();
    expect(await files(a.userDir)).toEqual([
      'metadata.json',
      'original/img_001.jpg',
      'original/img_002.jpg',
      'original/img_003.jpg',
      'original/img_004.jpg',
    ]);
    expect(await a.storage.images.readMetadata('U')).toMatchObject({
      kept_originals: ['img_001.jpg', 'img_002.jpg', 'img_003.jpg', 'img_004.jpg'],
    });

    // Once there is room again the snapshot follows (at the latest when the store closes).
    await disk.free(true);
    await opened?.app.close();
    await a.storage.close();
    opened = null;
    const read = await readSnapshot(path.join(a.dataRoot, 'embeddings'));
    expect(read.ok && read.snapshot.idMap.size).toBe(0);
  }, 120_000);

  it('leaves the user wholly intact when even the deletion record cannot be written', async () => {
    const a = await applianceWithObama('all-full');
    const before = await files(a.userDir);
    expect(before).toHaveLength(9); // 4 originals, 4 crops, metadata.json
    await disk.fill();

    const res = await a.remove(false);
    // 500 or, once disk-full errors are mapped, 507: either way the user is as before.
    expect(res.statusCode, res.body).toBeGreaterThanOrEqual(500);
    expect(await a.storage.db.getUser('U')).not.toBeNull();
    expect(await a.identify()).toBe('known U');
    expect(await a.indexSize()).toBe(4);
    expect(await files(a.userDir)).toEqual(before);
  }, 120_000);

  it('purges wholly on a full disk: rows, index and every file', async () => {
    const a = await applianceWithObama('purge-full');
    await disk.fill();

    const res = await a.remove(true);
    expect(res.statusCode, res.body).toBe(200);
    expect(await a.identify()).toBe('unknown null');
    expect(await a.indexSize()).toBe(0);
    expect(await files(a.userDir)).toEqual([]);
  }, 120_000);
});
