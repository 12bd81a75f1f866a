import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RtspSource } from '../../src/camera/rtsp-source.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { DEFAULT_DECISION_THRESHOLDS } from '../../src/recognition/decision.js';
import { UnknownFaceGrouping } from '../../src/unknown-faces/grouping.js';
import { enroll } from '../../src/recognition/enrollment.js';
import { UserDirectory } from '../../src/recognition/user-directory.js';
import { openVision, type Vision } from '../../src/vision/index.js';
import { openStorage, parseStorageConfig, type Storage } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import { type DisposableRedis, startRedis } from '../helpers/disposable-redis.js';
import { startRtspServer } from '../helpers/rtsp-server.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../helpers/shared-servers.js';
import { until } from '../helpers/until.js';

const schema = uniqueSchema();
let dataRoot: string;
let vision: Vision;
let storage: Storage;
let redis: DisposableRedis;

beforeAll(async () => {
  dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-e2e-'));
  redis = await startRedis();
  vision = await openVision({ modelsDir: MODELS_DIR, provider: 'cpu' });
  storage = await openStorage(
    parseStorageConfig({ dataRoot, databaseUrl: SHARED_POSTGRES_URL, redisUrl: redis.url, cameraTtlSeconds: 2 }),
    { embeddingModel: { id: vision.embedder.modelId, dim: vision.embedder.dim }, schema },
  );
  // Enrolled from four photos; the stream shows a fifth the enrollment never saw.
  const files = ['obama.jpg', 'obama2.jpg', 'obama-480p.jpg', 'obama_small.jpg'];
  await enroll(
    { analyzer: vision.analyzer, storage },
    {
      userId: 'obama',
      name: 'Obama',
      images: await Promise.all(
        files.map(async (f) => ({ name: f, bytes: await fs.readFile(path.join(FACES_DIR, 'obama', f)) })),
      ),
    },
  );
});
afterAll(async () => {
  await storage.close();
  await redis.stop();
  await dropSchema(SHARED_POSTGRES_URL, schema);
  await fs.rm(dataRoot, { recursive: true, force: true });
});

describe('live recognition from a real RTSP camera (GStreamer on loopback)', () => {
  it('recognises the enrolled person, reports the stranger with a crop, goes offline when the camera dies and comes back by itself', async () => {
    const server = await startRtspServer({
      images: [path.join(FACES_DIR, 'obama', 'obama3.jpg'), path.join(FACES_DIR, 'biden', 'biden.jpg')],
      secondsPerImage: 5,
      width: 1280,
      height: 720,
    });
    const users = new UserDirectory(storage.db);
    await users.refresh();
    const pipeline = new Pipeline({
      analyzer: vision.analyzer,
      storage,
      users,
      grouping: new UnknownFaceGrouping(storage, DEFAULT_DECISION_THRESHOLDS.match, silentLogger),
      logger: silentLogger,
    });
    const cameraId = 'gate_rtsp';
    const source = new RtspSource(
      {
        cameraId,
        url: server.url,
        fps: 5,
        width: 1280,
        height: 720,
        watchdogMs: 1500,
        backoff: { initialMs: 250, maxMs: 1000 },
      },
      pipeline.addCamera(cameraId),
    );
    try {
      pipeline.start([source]);
      const events = () => storage.db.queryRecognitionEvents({ cameraId });
      await until(
        'a known and an unknown event',
        async () => {
          const list = await events();
          return list.some((e) => e.matchedUserId === 'obama') && list.some((e) => e.isUnknown);
        },
        60_000,
      );
      const list = await events();
      expect(list.filter((e) => !e.isUnknown).every((e) => e.matchedUserId === 'obama')).toBe(true);
      // One event per track, not per frame: a handful for two slides, not dozens.
      expect(list.length).toBeLessThan(10);
      await until('the stranger crop', async () => (await storage.images.listUnknownDates()).length > 0, 10_000);
      expect((await storage.cache.cameraHealth(cameraId)).online).toBe(true);

      const killedAt = Date.now();
      await server.kill();
      await until(
        'the camera to be reported offline',
        async () => (await storage.cache.cameraHealth(cameraId)).status === 'offline',
        10_000,
      );
      expect(Date.now() - killedAt).toBeLessThan(1500 + 2000);
      await until(
        'its disconnected event',
        async () => (await storage.db.queryCameraEvents({ cameraId })).length === 2,
        5_000,
      );
      const afterKill = await storage.db.queryCameraEvents({ cameraId });
      expect(afterKill.map((e) => e.eventType)).toEqual(['disconnected', 'connected']);
      // The camera key expires: the camera reads offline from its TTL as well.
      await until('last_seen to expire', async () => !(await storage.cache.cameraHealth(cameraId)).online, 5_000);

      await server.restart();
      await until(
        'the camera to come back by itself',
        async () => (await storage.cache.cameraHealth(cameraId)).status === 'online',
        20_000,
      );
      await until(
        'its connected event',
        async () => (await storage.db.queryCameraEvents({ cameraId })).length === 3,
        5_000,
      );
      expect((await storage.db.queryCameraEvents({ cameraId })).map((e) => e.eventType)).toEqual([
        'connected',
        'disconnected',
        'connected',
      ]);
    } finally {
      await pipeline.stop();
      await server.stop();
    }
  });
});
