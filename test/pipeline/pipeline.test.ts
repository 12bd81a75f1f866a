import path from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FrameSlot } from '../../src/camera/frame-slot.js';
import { StillSource } from '../../src/camera/still-source.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { DEFAULT_DECISION_THRESHOLDS } from '../../src/recognition/decision.js';
import { UnknownFaceGrouping } from '../../src/unknown-faces/grouping.js';
import { deleteUser, enroll } from '../../src/recognition/enrollment.js';
import { UserDirectory } from '../../src/recognition/user-directory.js';
import { type Vision } from '../../src/vision/index.js';
import type { RgbImage } from '../../src/vision/types.js';
import { type Storage } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import { FACES_DIR, sharedPhotos } from '../helpers/shared-data.js';
import { until } from '../helpers/until.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';

let appliance: TestAppliance;
let vision: Vision;
let storage: Storage;
let users: UserDirectory;

async function frame(file: string): Promise<RgbImage> {
  const { data, info } = await sharp(path.join(FACES_DIR, file))
    .rotate()
    .removeAlpha()
    .resize(1280, 720, { fit: 'contain', background: { r: 0, g: 0, b: 0 } })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

/** A fresh pipeline on the test's stores, with the users as they are now. */
async function freshPipeline(
  grouping = new UnknownFaceGrouping(storage, DEFAULT_DECISION_THRESHOLDS.match, silentLogger),
) {
  await users.refresh();
  return new Pipeline({ analyzer: vision.analyzer, storage, users, grouping, logger: silentLogger });
}

/** Runs one still camera (5 fps) through a fresh pipeline until `done` holds; returns the pipeline's stats. */
async function watch(cameraId: string, file: string, done: () => Promise<boolean>) {
  const pipeline = await freshPipeline();
  const source = new StillSource({ cameraId, images: [await frame(file)], fps: 5 }, pipeline.addCamera(cameraId));
  pipeline.start([source]);
  try {
    await until(`events from ${cameraId}`, done, 30_000);
  } finally {
    await pipeline.stop();
  }
  return { stats: pipeline.stats() };
}

beforeAll(async () => {
  appliance = await openTestAppliance('pipeline');
  ({ vision, storage } = appliance);
  users = new UserDirectory(storage.db);
});
afterAll(async () => {
  await appliance.close();
});

describe('enrollment on the real photos', () => {
  it('refuses biden/ (two photos: fewer than 3 usable faces) and keeps nothing', async () => {
    await expect(
      enroll(
        { analyzer: vision.analyzer, storage },
        { userId: 'biden', name: 'Biden', images: await sharedPhotos('biden') },
      ),
    ).rejects.toThrow(
      // 2 or 0: the two photos score 0.543 together, next to the 0.54 default, so whether they count
      // as one person may differ by CPU in the last digit; refused either way.
      /[02] usable face\(s\), at least 3 needed/,
    );
    expect(await storage.db.getUser('biden')).toBeNull();
    expect(await storage.images.listUsers()).toEqual([]);
    expect(storage.embeddings.stats().count).toBe(0);
  });

  it('enrolls obama/ with five embeddings, originals, crops and metadata', async () => {
    const result = await enroll(
      { analyzer: vision.analyzer, storage },
      { userId: 'obama', name: 'Obama', images: await sharedPhotos('obama') },
    );
    expect(result).toEqual({
      userId: 'obama',
      embeddings: 5,
      skipped: [],
      nearest: null,
      lookalikes: [],
      threshold: expect.any(Number) as number,
    });
    expect(storage.embeddings.stats()).toMatchObject({ count: 5, users: 1 });
    const scan = await storage.images.scanUser('obama');
    expect(scan.ok.filter((i) => i.kind === 'original')).toHaveLength(5);
    expect(scan.ok.filter((i) => i.kind === 'aligned')).toHaveLength(5);
  });

  it('refuses a face that already matches another enrolled user', async () => {
    const mixed = [...(await sharedPhotos('obama')).slice(0, 3)];
    await expect(
      enroll({ analyzer: vision.analyzer, storage }, { userId: 'impostor', name: 'X', images: mixed }),
    ).rejects.toMatchObject({
      skipped: mixed.map((m) => ({
        file: m.name,
        reason: expect.stringMatching(/matches enrolled user obama/) as string,
      })),
    });
  });
});

describe('the live pipeline (in-process still cameras)', () => {
  it('recognises the enrolled person in a frame and writes one event for the track', async () => {
    await watch('gate_1', 'mixed/two_people.jpg', async () =>
      (await storage.db.queryRecognitionEvents({ cameraId: 'gate_1' })).some((e) => e.matchedUserId === 'obama'),
    );
    const events = await storage.db.queryRecognitionEvents({ cameraId: 'gate_1' });
    const known = events.filter((e) => !e.isUnknown);
    expect(known.map((e) => e.matchedUserId)).toEqual(['obama']);
    expect(known[0]).toMatchObject({
      modelId: vision.embedder.modelId,
      threshold: expect.closeTo(DEFAULT_DECISION_THRESHOLDS.match, 5) as number,
    });
    expect(known[0]?.trackId).toMatch(/^gate_1-/);
    // Two faces in the frame: the other person is a stranger, decided once, with a saved crop.
    expect(events.filter((e) => e.isUnknown)).toHaveLength(1);
    const dates = await storage.images.listUnknownDates();
    expect(dates.length).toBeGreaterThan(0);
    expect((await storage.db.queryCameraEvents({ cameraId: 'gate_1' })).map((e) => e.eventType).sort()).toEqual([
      'connected',
      'disconnected',
    ]);
  });

  it('never calls a half face known', async () => {
    const { stats } = await watch(
      'gate_2',
      'mixed/obama_partial_face.jpg',
      async () => (await storage.db.queryRecognitionEvents({ cameraId: 'gate_2' })).length > 0 || false,
    ).catch(() => ({ stats: null }));
    const events = await storage.db.queryRecognitionEvents({ cameraId: 'gate_2' });
    expect(events.every((e) => e.isUnknown)).toBe(true);
    expect(stats === null || stats.decisions.known === 0).toBe(true);
  });

  it('drops frames instead of queueing them when the camera is faster than the worker', async () => {
    // Bursts of frames through the one-slot drop rule every camera source uses: a timer-driven
    // 60 fps camera is not reliably faster than the worker on a loaded machine (Node runs a late
    // interval once, not once per missed tick), five frames offered at once always are.
    const pipeline = await freshPipeline();
    const cameraId = 'gate_3';
    const callbacks = pipeline.addCamera(cameraId);
    const slot = new FrameSlot((f) => callbacks.onFrame(f));
    const image = await frame('obama/obama3.jpg');
    let sequence = 0;
    let mostQueued = 0;
    const burst = setInterval(() => {
      for (let i = 0; i < 5; i++)
        slot.offer({ cameraId, receivedAt: new Date(), receivedMs: performance.now(), sequence: sequence++, image });
      mostQueued = Math.max(mostQueued, pipeline.stats().queued);
    }, 50);
    pipeline.start([]);
    try {
      await until(
        'events from gate_3',
        async () => (await storage.db.queryRecognitionEvents({ cameraId })).length > 0,
        30_000,
      );
    } finally {
      clearInterval(burst);
      slot.clear();
      await slot.idle();
      await pipeline.stop();
    }
    expect(slot.droppedCount()).toBeGreaterThan(0);
    expect(mostQueued).toBeLessThanOrEqual(1);
    expect(pipeline.stats().queued).toBe(0);
  });

  it('keeps recognising while a review holds the unknown-face grouping, and keeps the stranger once it is free', async () => {
    const grouping = new UnknownFaceGrouping(storage, DEFAULT_DECISION_THRESHOLDS.match, silentLogger);
    let release = () => {};
    const held = grouping.run(() => new Promise<void>((resolve) => (release = resolve)));
    const pipeline = await freshPipeline(grouping);
    const cameraId = 'gate_5';
    const source = new StillSource(
      { cameraId, images: [await frame('mixed/two_people.jpg')], fps: 5 },
      pipeline.addCamera(cameraId),
    );
    pipeline.start([source]);
    try {
      await until(
        'both decisions while the grouping is held',
        async () => {
          const events = await storage.db.queryRecognitionEvents({ cameraId });
          return events.some((e) => e.matchedUserId === 'obama') && events.some((e) => e.isUnknown);
        },
        30_000,
      );
      // The stranger's face waits its turn beside the worker, which goes on with new frames.
      const framesThen = pipeline.stats().frames;
      await until(
        'more frames analysed while the grouping is held',
        () => Promise.resolve(pipeline.stats().frames >= framesThen + 5),
        10_000,
      );
      expect(await storage.db.unknown.listGroups({ cameraId })).toEqual([]);
    } finally {
      release();
      await held;
      await pipeline.stop();
    }
    // stop() waited for it: kept, linked to the unknown event, and grouped with the same
    // stranger seen on gate_1 earlier in this file.
    const groups = await storage.db.unknown.listGroups({ cameraId });
    expect(groups).toHaveLength(1);
    expect(groups[0]?.cameras).toEqual(['gate_1', cameraId]);
    const here = (await storage.db.unknown.groupFaces(groups[0]?.id as bigint)).filter((f) => f.cameraId === cameraId);
    expect(here).toHaveLength(1);
    expect(
      (await storage.db.queryRecognitionEvents({ cameraId })).find((e) => e.id === here[0]?.eventId)?.isUnknown,
    ).toBe(true);
  });

  it('after users delete, the same photo is unknown', async () => {
    await deleteUser(storage, 'obama', { purgeImages: false });
    await watch(
      'gate_4',
      'obama/obama3.jpg',
      async () => (await storage.db.queryRecognitionEvents({ cameraId: 'gate_4' })).length > 0,
    );
    const events = await storage.db.queryRecognitionEvents({ cameraId: 'gate_4' });
    expect(events.map((e) => e.isUnknown)).toEqual([true]);
    // The LLD: originals are never deleted by the system.
    expect((await storage.images.scanUser('obama')).ok.filter((i) => i.kind === 'original')).toHaveLength(5);
  });
});
