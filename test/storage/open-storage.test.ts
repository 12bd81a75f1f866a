import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { randomUnitVectors } from '../../src/bench/random-vectors.js';
import { openStorage, parseStorageConfig } from '../../storage/index.js';
import { dropSchema, SHARED_POSTGRES_URL, SHARED_REDIS_URL, uniqueSchema } from '../helpers/shared-servers.js';
import { FACES_DIR } from '../helpers/shared-data.js';

const model = { id: 'fr_feature@87aacdfe', dim: 512 };
const photo = path.join(FACES_DIR, 'obama', 'obama.jpg');
let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'facegate-open-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

// Enrollment the way the recognition layer will do it, through the interfaces only.
async function enrollAndSearch(storage: Awaited<ReturnType<typeof openStorage>>) {
  const vectors = randomUnitVectors(3, model.dim, 5);
  const crops = await Promise.all([0, 1, 2].map(() => storage.images.saveAligned('U123', Buffer.from(pngStub))));
  const { embeddings } = await storage.db.createUser(
    { id: 'U123', name: 'Ada' },
    crops.map((c, i) => ({
      image: c.file,
      modelId: model.id,
      vector: vectors.slice(i * model.dim, (i + 1) * model.dim),
    })),
  );
  await storage.embeddings.add(
    embeddings.map((e) => ({
      embeddingId: e.id,
      userId: e.userId,
      image: e.image,
      modelId: e.modelId,
      vector: e.vector,
    })),
  );
  return storage.embeddings.search(vectors.slice(model.dim, 2 * model.dim), 1);
}

// The smallest valid PNG header and IEND, enough for the ImageStore's signature check.
const pngStub = Uint8Array.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
]);

describe('openStorage', () => {
  it('runs on embedded defaults (PGlite in the data root, health in memory) and reopens verified', async () => {
    const dataRoot = path.join(root, 'embedded');
    const config = parseStorageConfig({ dataRoot });
    const storage = await openStorage(config, { embeddingModel: model });
    expect(storage.db.health()).toMatchObject({ engine: 'pglite', available: true });
    expect(storage.cache.health()).toMatchObject({ mode: 'memory', degraded: false });
    const [match] = await enrollAndSearch(storage);
    expect(match).toMatchObject({ userId: 'U123', image: 'face_002.png' });
    await storage.images.saveOriginal('U123', await readFile(photo));
    await storage.close();

    expect((await readdir(dataRoot)).sort()).toEqual(['db', 'embeddings', 'images', 'spool']);
    expect((await readdir(path.join(dataRoot, 'images', 'users', 'U123'))).sort()).toEqual([
      'aligned',
      'metadata.json',
      'original',
    ]);
    expect((await readdir(path.join(dataRoot, 'embeddings'))).sort()).toEqual([
      'faiss.index',
      'id_map.json',
      'stats.json',
    ]);

    const again = await openStorage(config, { embeddingModel: model });
    expect(again.embeddings.stats()).toMatchObject({ count: 3, loadedFrom: 'snapshot', verified: true });
    // One owner per data root: a second opening (a CLI beside the service) is refused, not corrupting.
    await expect(openStorage(config, { embeddingModel: model })).rejects.toThrow(/is in use by process/);
    await again.close();
  });

  it('runs on the real PostgreSQL and Redis', async () => {
    const schema = uniqueSchema();
    const config = parseStorageConfig({
      dataRoot: path.join(root, 'servers'),
      databaseUrl: SHARED_POSTGRES_URL,
      redisUrl: SHARED_REDIS_URL,
    });
    const storage = await openStorage(config, { embeddingModel: model, schema });
    try {
      expect(storage.db.health()).toMatchObject({ engine: 'postgres', available: true });
      const [match] = await enrollAndSearch(storage);
      expect(match?.userId).toBe('U123');
      await storage.cache.cameraSeen('cam_01');
      expect((await storage.cache.cameraHealth('cam_01')).online).toBe(true);
      expect(storage.cache.health()).toMatchObject({ mode: 'redis', degraded: false });
    } finally {
      await storage.close();
      await dropSchema(SHARED_POSTGRES_URL, schema);
    }
  });

  it('refuses a bad configuration naming the key, what it expected and what it received', () => {
    expect(() => parseStorageConfig({ dataRoot: '', databaseUrl: 'mysql://x', cameraTtlSeconds: -4 })).toThrow(
      /storage\.dataRoot: the data root must be a folder path[\s\S]*storage\.databaseUrl: expected a postgres:\/\/ or postgresql:\/\/ URL \(received "mysql:\/\/x"\)[\s\S]*storage\.cameraTtlSeconds: .*\(received -4\)/,
    );
  });
});
