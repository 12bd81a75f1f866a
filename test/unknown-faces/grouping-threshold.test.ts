// Issue 13, D8: the unknown-face grouping follows the site's match threshold where it lives, not a
// copy taken at start. The service starts without the database on the configured or default
// threshold and reads the calibration when the database returns (src/service/service.ts); it sets
// the new value on the thresholds the decisions use, and the grouping reads the same object. Here
// that object is lowered between two sightings of the same stranger (biden.jpg and biden2.jpg,
// real models, the shared PostgreSQL), and the second joins the first's group at the new value.
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cosine } from '../../src/recognition/similarity.js';
import { UnknownFaceGrouping } from '../../src/unknown-faces/grouping.js';
import { decodeImage } from '../../src/vision/image-input.js';
import type { Embedding } from '../../src/vision/types.js';
import { silentLogger } from '../../storage/logger.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';
import { keepUnknownFace } from '../helpers/unknown-faces.js';

let appliance: TestAppliance;

beforeAll(async () => {
  appliance = await openTestAppliance('grouping-threshold');
}, 120_000);
afterAll(async () => {
  await appliance?.close();
});

async function biden(file: string) {
  const [f] = await appliance.vision.analyzer.analyze(
    await decodeImage(await fs.readFile(path.join(FACES_DIR, 'biden', file))),
  );
  if (!f?.embedding) throw new Error(`no accepted face in biden/${file}`);
  return f;
}

describe('unknown-face grouping and the site threshold', () => {
  it('groups with the threshold in effect at each sighting, read from the thresholds the decisions use', async () => {
    const [one, two] = [await biden('biden.jpg'), await biden('biden2.jpg')];
    const site = { match: 0.9 };
    const grouping = new UnknownFaceGrouping(appliance.storage, () => site.match, silentLogger);
    expect(grouping.threshold()).toBe(0.9);

    // The two photos score about 0.54 together: one stranger at 0.5, two at 0.9.
    const together = cosine((one.embedding as Embedding).vector, (two.embedding as Embedding).vector);
    expect(together).toBeGreaterThan(0.5);
    expect(together).toBeLessThan(0.9);

    const first = await keepUnknownFace(appliance.storage, grouping, one, 'cam_1');
    expect(first.joinedAt).toBeNull();
    // The calibration read when the database returned: 0.5 now, for the decisions and the grouping alike.
    site.match = 0.5;
    const second = await keepUnknownFace(appliance.storage, grouping, two, 'cam_2');
    expect(second.face.groupId).toBe(first.face.groupId);
    expect(second.joinedAt).toBeCloseTo(together, 3);
  }, 120_000);

  it('refuses a threshold outside (0, 1], given or read, saying what it received', () => {
    expect(() => new UnknownFaceGrouping(appliance.storage, 0, silentLogger)).toThrow(
      /Expected a grouping threshold in \(0, 1\] but received 0/,
    );
    const site = { match: 0.5 };
    const grouping = new UnknownFaceGrouping(appliance.storage, () => site.match, silentLogger);
    site.match = Number.NaN;
    expect(() => grouping.threshold()).toThrow(/Expected a grouping threshold in \(0, 1\] but received NaN/);
  });
});
