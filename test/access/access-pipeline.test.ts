// Access verdicts through the live pipeline and the event log (issue 17): the same enrolled person
// granted at a door her role may pass and denied at one it may not, a stranger "unknown", each
// verdict stored with its event; roles changed in the store reach the decisions at the next refresh.
import path from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AccessRules } from '../../src/access/rules.js';
import { StillSource } from '../../src/camera/still-source.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { DEFAULT_DECISION_THRESHOLDS } from '../../src/recognition/decision.js';
import { enroll } from '../../src/recognition/enrollment.js';
import { UserDirectory } from '../../src/recognition/user-directory.js';
import { UnknownFaceGrouping } from '../../src/unknown-faces/grouping.js';
import type { RgbImage } from '../../src/vision/types.js';
import { silentLogger } from '../../storage/logger.js';
import { FACES_DIR, sharedPhotos } from '../helpers/shared-data.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';

let appliance: TestAppliance;
let users: UserDirectory;

const rules: AccessRules = {
  timeZone: 'UTC',
  doors: { staff_door: [{ roles: ['staff'] }], server_room: [{ roles: ['admin'] }] },
};

async function frame(file: string): Promise<RgbImage> {
  const data = await sharp(path.join(FACES_DIR, file))
    .rotate()
    .resize(1280, 720, { fit: 'contain', background: { r: 0, g: 0, b: 0 } })
    .removeAlpha()
    .raw()
    .toBuffer();
  return { width: 1280, height: 720, data: new Uint8Array(data) };
}

/** Each camera shows its photo at 5 fps until every camera has an event. */
async function watch(cameras: Record<string, string>) {
  await users.refresh();
  const { vision, storage } = appliance;
  const pipeline = new Pipeline({
    analyzer: vision.analyzer,
    storage,
    users,
    grouping: new UnknownFaceGrouping(storage, DEFAULT_DECISION_THRESHOLDS.match, silentLogger),
    logger: silentLogger,
    access: rules,
  });
  const sources = await Promise.all(
    Object.entries(cameras).map(
      async ([id, file]) =>
        new StillSource({ cameraId: id, images: [await frame(file)], fps: 5 }, pipeline.addCamera(id)),
    ),
  );
  pipeline.start(sources);
  await new Promise((r) => setTimeout(r, 3_000));
  await pipeline.stop();
}

beforeAll(async () => {
  appliance = await openTestAppliance('access');
  users = new UserDirectory(appliance.storage.db);
  await enroll(
    { analyzer: appliance.vision.analyzer, storage: appliance.storage },
    {
      userId: 'obama',
      name: 'Obama',
      roles: ['staff'],
      images: await sharedPhotos('obama'),
    },
  );
}, 120_000);
afterAll(async () => {
  await appliance.close();
});

describe('access verdicts in the pipeline', () => {
  it('grants at a door the role may pass, denies at one it may not, and says unknown for a stranger; each stored with its event', async () => {
    await watch({ staff_door: 'obama/obama3.jpg', server_room: 'obama/obama3.jpg', side_door: 'biden/biden2.jpg' });
    const { db } = appliance.storage;
    const at = async (cameraId: string) => (await db.queryRecognitionEvents({ cameraId }))[0];
    expect((await at('staff_door'))?.access).toEqual({ verdict: 'granted', reason: 'role staff, every day' });
    expect((await at('server_room'))?.access).toEqual({
      verdict: 'denied',
      reason: 'roles staff: not allowed at server_room',
    });
    expect((await at('side_door'))?.access).toEqual({ verdict: 'unknown', reason: 'unknown face' });
    const denied = await db.queryRecognitionEvents({ access: 'denied' });
    expect(denied.map((e) => e.cameraId)).toEqual(['server_room']);
  }, 60_000);

  it('takes roles set in the store at the next refresh: the same door then grants', async () => {
    await appliance.storage.db.setUserRoles('obama', ['staff', 'admin']);
    await watch({ server_room: 'obama/obama3.jpg' });
    const events = await appliance.storage.db.queryRecognitionEvents({ cameraId: 'server_room' });
    expect(events[0]?.access).toEqual({ verdict: 'granted', reason: 'role admin, every day' });
  }, 60_000);
});
