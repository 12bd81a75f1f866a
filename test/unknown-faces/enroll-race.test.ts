// One person, one user, whichever path enrolls them: a photo enrollment and a review-queue
// enrollment of the same face at the same moment must not both pass "matches no other user".
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_DECISION_THRESHOLDS } from '../../src/recognition/decision.js';
import { enroll, EnrollmentRefusedError } from '../../src/recognition/enrollment.js';
import { identify } from '../../src/recognition/identify.js';
import { UnknownFaceGrouping } from '../../src/unknown-faces/grouping.js';
import { enrollGroup, type ReviewDeps } from '../../src/unknown-faces/review.js';
import { FaceAnalyzer, type AnalyzeOptions } from '../../src/vision/face-analyzer.js';
import { decodeImage } from '../../src/vision/image-input.js';
import type { RgbImage } from '../../src/vision/types.js';
import { silentLogger } from '../../storage/logger.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';
import { keepUnknownFace } from '../helpers/unknown-faces.js';

let appliance: TestAppliance;
let grouping: UnknownFaceGrouping;
let review: ReviewDeps;

beforeAll(async () => {
  appliance = await openTestAppliance('enroll-race');
  grouping = new UnknownFaceGrouping(appliance.storage, DEFAULT_DECISION_THRESHOLDS.match, silentLogger);
  review = { storage: appliance.storage, grouping, logger: silentLogger };
}, 120_000);
afterAll(async () => {
  await appliance?.close();
});

describe('enrollment paths racing each other', () => {
  it('makes one user of a photo enrollment and a review enrollment of one person at the same moment', async () => {
    const { storage, vision } = appliance;
    const files = ['Colin_Powell_0001.jpg', 'Colin_Powell_0002.jpg', 'Colin_Powell_0003.jpg'].map((f) =>
      path.join(FACES_DIR, 'lfw10', 'Colin_Powell', f),
    );
    const images = await Promise.all(files.map(async (f) => ({ name: f, bytes: await fs.readFile(f) })));

    // The stranger the cameras kept: the same three faces, one open group.
    const kept = [];
    for (const image of images) {
      const [face] = await vision.analyzer.analyze(await decodeImage(image.bytes));
      if (!face) throw new Error(`Expected a face in ${image.name} but found none`);
      kept.push(await keepUnknownFace(storage, grouping, face, 'cam_a'));
    }
    const groupId = kept[0]?.face.groupId as bigint;
    expect(new Set(kept.map((k) => k.face.groupId))).toEqual(new Set([groupId]));

    // The real analyzer, saying when the photo enrollment's vision work is done: the review
    // enrollment starts then, so both judge the gallery at about the same moment.
    let examined = 0;
    let visionDone!: () => void;
    const whenVisionDone = new Promise<void>((resolve) => (visionDone = resolve));
    class Signalling extends FaceAnalyzer {
      override async analyze(image: RgbImage, options?: AnalyzeOptions) {
        const faces = await super.analyze(image, options);
        if (++examined === images.length) visionDone();
        return faces;
      }
    }
    const analyzer = new Signalling(vision.analyzer.detector, vision.analyzer.embedder);

    const outcomes = await Promise.allSettled([
      enroll({ analyzer, storage }, { userId: 'powell_photos', name: 'Colin', images }),
      whenVisionDone.then(() =>
        enrollGroup(review, { groupId, userId: 'powell_review', name: 'Colin', actor: 'cli:alice' }),
      ),
    ]);
    const won = ['powell_photos', 'powell_review'].filter((_, i) => outcomes[i]?.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const [winner] = won as [string];
    const lost = outcomes.find((o) => o.status === 'rejected');
    expect(lost?.reason).toBeInstanceOf(EnrollmentRefusedError);
    for (const s of (lost?.reason as EnrollmentRefusedError).skipped)
      expect(s.reason).toMatch(new RegExp(`^matches enrolled user ${winner} at `));

    // One user, nothing of the other, and the person is recognised (not "ambiguous").
    expect((await storage.db.listUsers()).map((u) => u.id)).toEqual([winner]);
    expect(await storage.images.listUsers()).toEqual([winner]);
    expect((await storage.db.unknown.getGroup(groupId))?.status).toBe(winner === 'powell_review' ? 'enrolled' : 'open');
    const [seen] = await identify(
      { analyzer: vision.analyzer, embeddings: storage.embeddings, statusOf: () => 'active' },
      await decodeImage(images[0]?.bytes as Uint8Array),
    );
    expect(seen).toMatchObject({ decision: 'known', userId: winner });
  });
});
