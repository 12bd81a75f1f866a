import { promises as fs } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { randomUnitVectors } from '../../src/bench/random-vectors.js';
import { normalize } from '../../src/native/index.js';
import { decideFace } from '../../src/recognition/decision.js';
import { enroll } from '../../src/recognition/enrollment.js';
import { MAX_EMBEDDINGS_PER_USER, SEARCH_K } from '../../src/recognition/identify.js';
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
    const images = await Promise.all(['obama/obama.jpg', 'obama/obama2.jpg', 'biden/biden.jpg', 'biden/biden2.jpg'].map(photo));
    await expect(enroll({ analyzer: vision.analyzer, storage }, { userId: 'mixed', name: 'Mixed', images })).rejects.toMatchObject({
      skipped: images.map((i) => ({ file: i.name, reason: expect.stringMatching(/does not match the other photos/) as string })),
    });
    expect(await storage.db.getUser('mixed')).toBeNull();
    expect(await storage.images.listUsers()).toEqual([]);
  });

  it('keeps the person most photos show and skips the others', async () => {
    const images = await Promise.all(['obama/obama.jpg', 'obama/obama2.jpg', 'obama/obama3.jpg', 'biden/biden.jpg', 'biden/biden2.jpg'].map(photo));
    const result = await enroll({ analyzer: vision.analyzer, storage }, { userId: 'obama', name: 'Obama', images });
    expect(result.embeddings).toBe(3);
    expect(result.skipped.map((s) => s.file)).toEqual(['biden/biden.jpg', 'biden/biden2.jpg']);
  });
});

describe('the search always reaches the runner-up user', () => {
  it('sees a lookalike behind a user with the most embeddings allowed', async () => {
    expect(SEARCH_K).toBeGreaterThan(MAX_EMBEDDINGS_PER_USER);
    const dim = 64;
    const store = await FlatEmbeddingStore.open({ dir: path.join(dataRoot, 'lookalike'), model: { id: 'm', dim }, logger: silentLogger });
    const query = randomUnitVectors(1, dim, 1);
    const noise = randomUnitVectors(MAX_EMBEDDINGS_PER_USER + 1, dim, 2);
    const near = (i: number, amount: number) => {
      const v = query.map((x, j) => x + amount * (noise[i * dim + j] as number));
      normalize(v, dim);
      return v;
    };
    // Alice's 20 embeddings all score above Bob's one, which trails the best by less than the margin.
    await store.add(Array.from({ length: MAX_EMBEDDINGS_PER_USER }, (_, i) => ({ embeddingId: BigInt(i), userId: 'alice', image: `face_${i}.png`, modelId: 'm', vector: near(i, 0.6 + i * 0.001) })));
    await store.add([{ embeddingId: 100n, userId: 'bob', image: 'face_1.png', modelId: 'm', vector: near(MAX_EMBEDDINGS_PER_USER, 0.64) }]);
    const verdict = decideFace(await store.search(query, SEARCH_K), () => 'active');
    expect(verdict.decision).toBe('unknown');
    expect(verdict.reason).toMatch(/ambiguous: alice .* vs bob/);
  });
});
