import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_DECISION_THRESHOLDS } from '../../src/recognition/decision.js';
import { UnknownFaceGrouping, type UnknownSighting } from '../../src/unknown-faces/grouping.js';
import { dismissGroup } from '../../src/unknown-faces/review.js';
import { purgeUnknownFaces } from '../../src/unknown-faces/retention.js';
import { openVision, type Vision } from '../../src/vision/index.js';
import { decodeImage, encodePng } from '../../src/vision/image-input.js';
import { ReadOnlyError } from '../../storage/errors.js';
import { openStorage, parseStorageConfig, type Storage } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import { type DisposablePostgres, startPostgres } from '../helpers/disposable-postgres.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';
import { until } from '../helpers/until.js';

let server: DisposablePostgres;
let vision: Vision;
let storage: Storage;
let dataRoot: string;

beforeAll(async () => {
  [server, vision] = await Promise.all([startPostgres(), openVision({ modelsDir: MODELS_DIR, provider: 'cpu' })]);
  dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-unknown-outage-'));
  storage = await openStorage(parseStorageConfig({ dataRoot, databaseUrl: server.url }), {
    embeddingModel: { id: vision.embedder.modelId, dim: vision.embedder.dim },
  });
}, 120_000);
afterAll(async () => {
  await storage?.close();
  await server?.stop();
  await fs.rm(dataRoot, { recursive: true, force: true });
});

async function sightingOf(file: string, cameraId: string): Promise<Omit<UnknownSighting, 'eventId'>> {
  const [f] = await vision.analyzer.analyze(await decodeImage(await fs.readFile(path.join(FACES_DIR, file))));
  if (!f?.embedding) throw new Error(`no accepted face in ${file}`);
  return {
    cameraId,
    seenAt: new Date(),
    quality: f.quality.score,
    embedding: f.embedding,
    png: await encodePng(f.aligned),
  };
}

async function crops(): Promise<string[]> {
  const dir = path.join(dataRoot, 'images', 'unknown');
  const dates = await fs.readdir(dir).catch(() => []);
  return (await Promise.all(dates.map(async (d) => (await fs.readdir(path.join(dir, d))).map((f) => `${d}/${f}`))))
    .flat()
    .sort();
}

describe('unknown faces while PostgreSQL is down (a disposable server, killed)', () => {
  it('keeps no crop it cannot link, purges nothing it cannot purge whole, and groups on once the database is back', async () => {
    const grouping = new UnknownFaceGrouping(storage, DEFAULT_DECISION_THRESHOLDS.match, silentLogger);
    const biden = await sightingOf('biden/biden.jpg', 'cam_1');
    const first = await storage.db.recordRecognition({
      timestamp: biden.seenAt,
      cameraId: 'cam_1',
      matchedUserId: null,
      confidence: 0.1,
    });
    const kept = await grouping.keep({ ...biden, eventId: first.id });
    expect(await crops()).toHaveLength(1);

    await server.kill();
    // The pipeline finds out when its event goes to the spool; a keep that tries anyway is refused
    // and leaves no file behind.
    const during = await storage.db.recordRecognition({
      timestamp: new Date(),
      cameraId: 'cam_1',
      matchedUserId: null,
      confidence: 0.1,
    });
    expect(during.stored).toBe('spool');
    await expect(
      grouping.keep({ ...(await sightingOf('biden/biden2.jpg', 'cam_1')), eventId: during.id }),
    ).rejects.toThrow(ReadOnlyError);
    expect(await crops()).toHaveLength(1);
    // Retention and review wait for the database: a crop is never parted from its embedding.
    await expect(
      purgeUnknownFaces({ storage, grouping }, 0, { now: new Date(Date.now() + 86_400_000) }),
    ).rejects.toThrow(ReadOnlyError);
    await expect(
      dismissGroup({ storage, grouping, logger: silentLogger }, { groupId: kept.face.groupId, actor: 'cli:alice' }),
    ).rejects.toThrow(ReadOnlyError);
    expect(await crops()).toHaveLength(1);

    await server.restart();
    await until('the store to be writable again', () => Promise.resolve(storage.db.health().available), 15_000);
    await until('the spooled event to be replayed', () => Promise.resolve(storage.db.health().spooled === 0), 15_000);
    // The event written during the outage is in the database now; a face for it can be kept and groups with the first.
    const again = await grouping.keep({ ...(await sightingOf('biden/biden2.jpg', 'cam_2')), eventId: during.id });
    expect(again.face.groupId).toBe(kept.face.groupId);
    expect(await crops()).toHaveLength(2);
    const purged = await purgeUnknownFaces({ storage, grouping }, 0, { now: new Date(Date.now() + 86_400_000) });
    expect(purged).toMatchObject({ removedFiles: 2, removedFaces: 2, removedGroups: [kept.face.groupId] });
    expect(await crops()).toEqual([]);
  });
});
