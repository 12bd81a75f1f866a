// Enrollment takes each photo's subject (vision/main-face.ts): a face much smaller behind the
// person is ignored and the answer says which face was used; two people side by side are still
// refused, with the figures; a photo cut to the face (an ID photo) is enrolled. Real models, the
// shared PostgreSQL, test photos made from the shared ones at test time.
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { enroll, EnrollmentRefusedError } from '../../src/recognition/enrollment.js';
import { identify } from '../../src/recognition/identify.js';
import { decodeImage } from '../../src/vision/image-input.js';
import { withFaceBeside } from '../helpers/face-composites.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';

let appliance: TestAppliance;

beforeAll(async () => {
  appliance = await openTestAppliance('enroll-main-face');
});
afterAll(async () => {
  await appliance.close();
});

const photo = async (file: string) => ({ name: file, bytes: await fs.readFile(path.join(FACES_DIR, file)) });

describe('enrollment photos with other faces in them', () => {
  it("enrolls from photos with a much smaller face behind the person, using the person's face, and says so", async () => {
    const { vision, storage } = appliance;
    const subjects = ['obama/obama.jpg', 'obama/obama2.jpg', 'obama/obama3.jpg'];
    const composites = await Promise.all(
      subjects.map((s) => withFaceBeside(vision.analyzer, s, 'biden/biden.jpg', 0.35)),
    );
    const images = composites.map((c, i) => ({
      name: `${path.basename(subjects[i] as string, '.jpg')}-with-biden-behind.png`,
      bytes: c.png,
    }));
    const result = await enroll({ analyzer: vision.analyzer, storage }, { userId: 'P_obama', name: 'Obama', images });
    expect(result.embeddings).toBe(3);
    expect(result.skipped).toEqual([]);
    expect(result.ignoredFaces?.map((n) => ({ file: n.file, ignored: n.ignored }))).toEqual(
      images.map((i) => ({ file: i.name, ignored: 1 })),
    );
    // The face used is the subject's: its box in its own photo, moved by the widening (within a
    // tenth of its size: the widened photo reaches the detector at another scale).
    result.ignoredFaces?.forEach((n, i) => {
      const c = composites[i] as (typeof composites)[0];
      const size = c.subjectBox[3];
      expect(Math.abs(n.used[0] - (c.subjectBox[0] + c.shiftX))).toBeLessThan(0.1 * size);
      expect(Math.abs(n.used[1] - c.subjectBox[1])).toBeLessThan(0.1 * size);
      expect(Math.abs(n.used[3] - size)).toBeLessThan(0.1 * size);
    });
    // And the gallery is Obama's: his own photo is named, Biden's is not.
    const probe = async (file: string) =>
      (await vision.analyzer.analyze(await decodeImage(path.join(FACES_DIR, file))))[0]?.embedding
        ?.vector as Float32Array;
    expect((await storage.embeddings.search(await probe('obama/obama-480p.jpg'), 1))[0]?.userId).toBe('P_obama');
    expect((await storage.embeddings.search(await probe('biden/biden2.jpg'), 1))[0]?.score ?? 0).toBeLessThan(0.3);
  });

  it('refuses two people side by side as ambiguous, with the figures that make them comparable', async () => {
    const { vision, storage } = appliance;
    const images = await Promise.all(
      ['mixed/two_people.jpg', 'mixed/obama_and_biden.jpg', 'biden/biden.jpg', 'biden/biden2.jpg'].map(photo),
    );
    const refusal = await enroll(
      { analyzer: vision.analyzer, storage },
      { userId: 'P_two', name: 'Two', images },
    ).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(EnrollmentRefusedError);
    const skipped = (refusal as EnrollmentRefusedError).skipped;
    expect(skipped.slice(0, 2)).toEqual([
      {
        file: 'mixed/two_people.jpg',
        reason: expect.stringMatching(
          /^2 faces found and 2 of them are of comparable size \(eyes 71 px, box height 196 px; eyes 67 px, box height 207 px\)/,
        ) as string,
      },
      {
        file: 'mixed/obama_and_biden.jpg',
        reason: expect.stringMatching(/^3 faces found and 3 of them are of comparable size/) as string,
      },
    ]);
    expect(await storage.db.getUser('P_two')).toBeNull();
  });

  it('enrolls from photos cut to the face (bbt crops, where no face was found before), and identifies another such photo', async () => {
    const { vision, storage } = appliance;
    const images = await Promise.all([1, 2, 3, 4].map((n) => photo(`bbt/howard/howard${n}.png`)));
    const result = await enroll({ analyzer: vision.analyzer, storage }, { userId: 'P_howard', name: 'Howard', images });
    expect(result.embeddings).toBeGreaterThanOrEqual(3);
    expect(result.ignoredFaces).toBeUndefined();
    // identify (the CLI's and the API's) looks at a still photo the way enrolment does.
    const faces = await identify(
      {
        analyzer: vision.analyzer,
        embeddings: storage.embeddings,
        statusOf: (id) => (id === 'P_howard' ? 'active' : undefined),
      },
      await decodeImage(path.join(FACES_DIR, 'bbt/howard/howard5.png')),
    );
    expect(faces.map((f) => [f.decision, f.userId])).toEqual([['known', 'P_howard']]);
  });
});
