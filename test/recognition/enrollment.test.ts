import { promises as fs } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { randomUnitVectors } from '../../src/bench/random-vectors.js';
import { normalize } from '../../core/native/index.js';
import { decideFace } from '../../src/recognition/decision.js';
import { enroll, EnrollmentRefusedError, MAX_EMBEDDINGS_PER_USER } from '../../src/recognition/enrollment.js';
import { SEARCH_K } from '../../src/recognition/identify.js';
import { decodeImage } from '../../src/vision/image-input.js';
import { type Vision } from '../../src/vision/index.js';
import { FlatEmbeddingStore } from '../../storage/embeddings/flat-embedding-store.js';
import { type Storage } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';

let appliance: TestAppliance;
let dataRoot: string;
let vision: Vision;
let storage: Storage;

const photo = async (f: string) => ({ name: f, bytes: await fs.readFile(path.join(FACES_DIR, f)) });

beforeAll(async () => {
  appliance = await openTestAppliance('enroll');
  ({ dataRoot, vision, storage } = appliance);
});
afterAll(async () => {
  await appliance.close();
});

describe('an enrollment shows one person', () => {
  it('refuses two people in equal numbers under one id, keeping nothing', async () => {
    const images = await Promise.all(
      ['obama/obama.jpg', 'obama/obama2.jpg', 'biden/biden.jpg', 'biden/biden2.jpg'].map(photo),
    );
    await expect(
      enroll({ analyzer: vision.analyzer, storage }, { userId: 'mixed', name: 'Mixed', images }),
    ).rejects.toMatchObject({
      skipped: images.map((i) => ({
        file: i.name,
        reason: expect.stringMatching(/does not match the other photos/) as string,
      })),
    });
    expect(await storage.db.getUser('mixed')).toBeNull();
    expect(await storage.images.listUsers()).toEqual([]);
  });

  it('keeps the person most photos show and skips the others', async () => {
    const images = await Promise.all(
      ['obama/obama.jpg', 'obama/obama2.jpg', 'obama/obama3.jpg', 'biden/biden.jpg', 'biden/biden2.jpg'].map(photo),
    );
    const result = await enroll({ analyzer: vision.analyzer, storage }, { userId: 'obama', name: 'Obama', images });
    expect(result.embeddings).toBe(3);
    expect(result.skipped.map((s) => s.file)).toEqual(['biden/biden.jpg', 'biden/biden2.jpg']);
  });
});

describe('one face, one user', () => {
  it('enrolls one of several enrollments of the same face under different ids at once, and refuses the others leaving nothing', async () => {
    const images = await Promise.all(
      ['Colin_Powell_0001.jpg', 'Colin_Powell_0002.jpg', 'Colin_Powell_0003.jpg'].map((f) =>
        photo(`lfw10/Colin_Powell/${f}`),
      ),
    );
    const ids = ['R1', 'R2', 'R3', 'R4', 'R5', 'R6'];
    const outcomes = await Promise.allSettled(
      ids.map((userId) => enroll({ analyzer: vision.analyzer, storage }, { userId, name: `Powell ${userId}`, images })),
    );
    const won = ids.filter((_, i) => outcomes[i]?.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const [winner] = won as [string];
    for (const o of outcomes.filter((o) => o.status === 'rejected')) {
      expect(o.reason).toBeInstanceOf(EnrollmentRefusedError);
      expect((o.reason as EnrollmentRefusedError).skipped).toEqual(
        images.map((i) => ({
          file: i.name,
          reason: expect.stringMatching(new RegExp(`^matches enrolled user ${winner} at `)) as string,
        })),
      );
    }
    // The refused ones left nothing: no rows, no image folders, no index entries.
    expect((await storage.db.listUsers()).map((u) => u.id).filter((id) => ids.includes(id))).toEqual([winner]);
    expect((await storage.images.listUsers()).filter((id) => ids.includes(id))).toEqual([winner]);
    const found = await storage.embeddings.search(
      (await vision.analyzer.analyze(await decodeImage(images[0]?.bytes as Uint8Array)))[0]?.embedding
        ?.vector as Float32Array,
      10,
    );
    expect(new Set(found.filter((m) => m.score >= 0.45).map((m) => m.userId))).toEqual(new Set([winner]));
  });
});

describe('the search always reaches the runner-up user', () => {
  it('sees a lookalike behind a user with the most embeddings allowed', async () => {
    expect(SEARCH_K).toBeGreaterThan(MAX_EMBEDDINGS_PER_USER);
    const dim = 64;
    const store = await FlatEmbeddingStore.open({
      dir: path.join(dataRoot, 'lookalike'),
      model: { id: 'm', dim },
      logger: silentLogger,
    });
    const query = randomUnitVectors(1, dim, 1);
    const noise = randomUnitVectors(MAX_EMBEDDINGS_PER_USER + 1, dim, 2);
    const near = (i: number, amount: number) => {
      const v = query.map((x, j) => x + amount * (noise[i * dim + j] as number));
      normalize(v, dim);
      return v;
    };
    // Alice's 20 embeddings all score above Bob's one, which trails the best by less than the margin.
    await store.add(
      Array.from({ length: MAX_EMBEDDINGS_PER_USER }, (_, i) => ({
        embeddingId: BigInt(i),
        userId: 'alice',
        image: `face_${i}.png`,
        modelId: 'm',
        vector: near(i, 0.6 + i * 0.001),
      })),
    );
    await store.add([
      {
        embeddingId: 100n,
        userId: 'bob',
        image: 'face_1.png',
        modelId: 'm',
        vector: near(MAX_EMBEDDINGS_PER_USER, 0.64),
      },
    ]);
    const verdict = decideFace(await store.search(query, SEARCH_K), () => 'active');
    expect(verdict.decision).toBe('unknown');
    expect(verdict.reason).toMatch(/ambiguous: alice .* vs bob/);
  });
});
