import { promises as fs } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { considerLearning, DEFAULT_LEARNING_POLICY } from '../../src/recognition/auto-learning.js';
import { decideFace } from '../../src/recognition/decision.js';
import { enroll } from '../../src/recognition/enrollment.js';
import { SEARCH_K } from '../../src/recognition/identify.js';
import { decodeImage, type FaceAnalysis, type Vision } from '../../src/vision/index.js';
import { type Storage } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';

let appliance: TestAppliance;
let vision: Vision;
let storage: Storage;

async function face(file: string, index = 0): Promise<FaceAnalysis> {
  const found = await vision.analyzer.analyze(await decodeImage(path.join(FACES_DIR, file)));
  return found[index] as FaceAnalysis;
}

async function verdictFor(f: FaceAnalysis) {
  return decideFace(await storage.embeddings.search(f.embedding?.vector as Float32Array, SEARCH_K), () => 'active');
}

beforeAll(async () => {
  appliance = await openTestAppliance('learning');
  ({ vision, storage } = appliance);
  const files = ['obama.jpg', 'obama2.jpg', 'obama3.jpg'];
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
  await appliance.close();
});

describe('auto-learning', () => {
  const deps = (policy: Partial<typeof DEFAULT_LEARNING_POLICY>) => ({
    storage,
    logger: silentLogger,
    policy: { ...DEFAULT_LEARNING_POLICY, ...policy },
  });

  it('is off by default', async () => {
    const f = await face('mixed/two_people.jpg');
    expect(await considerLearning(deps({}), await verdictFor(f), f, 'cam_1')).toEqual({
      learned: false,
      reason: 'auto-learning is off',
    });
  });

  it('never learns from an unknown decision', async () => {
    const f = await face('biden/biden.jpg');
    const verdict = await verdictFor(f);
    expect(verdict.decision).toBe('unknown');
    expect(await considerLearning(deps({ enabled: true }), verdict, f, 'cam_1')).toMatchObject({
      learned: false,
      reason: 'only a known decision can teach',
    });
  });

  it('refuses a near-copy of an embedding the user already has', async () => {
    const f = await face('obama/obama-480p.jpg'); // a resized copy of obama.jpg: cosine 0.97
    expect(await considerLearning(deps({ enabled: true }), await verdictFor(f), f, 'cam_1')).toMatchObject({
      learned: false,
      reason: expect.stringMatching(/near-duplicate/) as string,
    });
  });

  it('learns a new, confident, high-quality view, records it, and then respects the per-user cap', async () => {
    const f = await face('mixed/two_people.jpg');
    const before = storage.embeddings.stats().count;
    const outcome = await considerLearning(
      deps({ enabled: true, maxEmbeddingsPerUser: 4 }),
      await verdictFor(f),
      f,
      'cam_1',
    );
    expect(outcome.learned).toBe(true);
    expect(storage.embeddings.stats().count).toBe(before + 1);
    expect(await storage.db.countEmbeddings('obama')).toBe(4);
    const aligned = (await storage.images.scanUser('obama')).ok.filter((i) => i.kind === 'aligned');
    expect(aligned.at(-1)).toMatchObject({ cameraId: 'cam_1' });
    const again = await face('mixed/obama_and_biden.jpg');
    expect(
      await considerLearning(deps({ enabled: true, maxEmbeddingsPerUser: 4 }), await verdictFor(again), again, 'cam_1'),
    ).toMatchObject({
      learned: false,
      reason: 'obama has reached 4 embeddings',
    });
  });

  it('refuses a face below the learn threshold even when it is recognised', async () => {
    const f = await face('mixed/obama_and_biden.jpg');
    const verdict = await verdictFor(f);
    expect(verdict.decision).toBe('known');
    expect(await considerLearning(deps({ enabled: true, learnThreshold: 0.99 }), verdict, f, 'cam_1')).toMatchObject({
      learned: false,
      reason: expect.stringMatching(/below the learn threshold/) as string,
    });
  });
});
