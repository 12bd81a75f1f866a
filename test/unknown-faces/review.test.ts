import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_DECISION_THRESHOLDS } from '../../src/recognition/decision.js';
import { enroll, EnrollmentRefusedError } from '../../src/recognition/enrollment.js';
import { identify } from '../../src/recognition/identify.js';
import { UnknownFaceGrouping, type KeptFace } from '../../src/unknown-faces/grouping.js';
import {
  AssignmentRefusedError,
  assignGroup,
  dismissGroup,
  enrollGroup,
  listGroups,
  type ReviewDeps,
  showGroup,
} from '../../src/unknown-faces/review.js';
import { purgeUnknownFaces } from '../../src/unknown-faces/retention.js';
import type { FaceAnalysis } from '../../src/vision/face-analyzer.js';
import { decodeImage } from '../../src/vision/image-input.js';
import { ConflictError, InvalidIdError, NotFoundError, StoreInputError } from '../../storage/errors.js';
import { silentLogger } from '../../storage/logger.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';
import { keepUnknownFace } from '../helpers/unknown-faces.js';

let appliance: TestAppliance;
let grouping: UnknownFaceGrouping;
let review: ReviewDeps;
/** "folder/file#n" -> the n-th accepted face of that photo. */
const faces = new Map<string, FaceAnalysis>();
const DAY_MS = 86_400_000;

async function face(name: string): Promise<FaceAnalysis> {
  const [file, n] = name.split('#') as [string, string | undefined];
  const key = `${file}#${n ?? 0}`;
  if (!faces.has(key)) {
    const found = await appliance.vision.analyzer.analyze(
      await decodeImage(await fs.readFile(path.join(FACES_DIR, file))),
    );
    found.forEach((f, i) => faces.set(`${file}#${i}`, f));
  }
  const f = faces.get(key);
  if (!f?.embedding) throw new Error(`no accepted face ${key}`);
  return f;
}

async function sighting(name: string, cameraId: string, seenAt = new Date()): Promise<KeptFace> {
  return keepUnknownFace(appliance.storage, grouping, await face(name), cameraId, seenAt);
}

const onDisk = (image: string) => path.join(appliance.dataRoot, ...image.split('/'));

beforeAll(async () => {
  appliance = await openTestAppliance('unknown');
  grouping = new UnknownFaceGrouping(appliance.storage, DEFAULT_DECISION_THRESHOLDS.match, silentLogger);
  review = { storage: appliance.storage, grouping, logger: silentLogger };
}, 120_000);
afterAll(async () => {
  await appliance?.close();
});

describe('unknown faces kept for review', () => {
  let bidenGroup: bigint;
  let obamaGroup: bigint;

  it('groups a stranger seen on two cameras into one group, and another stranger into another', async () => {
    const biden = [];
    for (const [i, name] of [
      'biden/biden.jpg',
      'mixed/two_people.jpg#1',
      'biden/biden2.jpg',
      'mixed/obama_and_biden.jpg#1',
    ].entries()) {
      biden.push(await sighting(name, i % 2 ? 'cam_b' : 'cam_a', new Date(Date.now() - (4 - i) * 60_000)));
    }
    const obama = [];
    for (const name of ['obama/obama-480p.jpg', 'mixed/obama_and_biden.jpg#0', 'mixed/two_people.jpg#0'])
      obama.push(await sighting(name, 'cam_a'));

    // The first face starts each group; every later one joins at or above the match threshold.
    expect(biden[0]?.joinedAt).toBeNull();
    expect(obama[0]?.joinedAt).toBeNull();
    for (const k of [...biden.slice(1), ...obama.slice(1)]) expect(k.joinedAt).toBeGreaterThanOrEqual(0.45);
    bidenGroup = biden[0]?.face.groupId as bigint;
    obamaGroup = obama[0]?.face.groupId as bigint;
    expect(new Set(biden.map((k) => k.face.groupId))).toEqual(new Set([bidenGroup]));
    expect(new Set(obama.map((k) => k.face.groupId))).toEqual(new Set([obamaGroup]));
    expect(obamaGroup).not.toBe(bidenGroup);

    const groups = await listGroups(appliance.storage);
    expect(groups.map((g) => g.id).sort()).toEqual([bidenGroup, obamaGroup].sort());
    const b = groups.find((g) => g.id === bidenGroup);
    expect(b).toMatchObject({ status: 'open', faces: 4, cameras: ['cam_a', 'cam_b'], userId: null });
    expect(b?.firstSeen?.getTime()).toBe(biden[0]?.face.seenAt.getTime());
    expect(b?.lastSeen?.getTime()).toBe(biden[3]?.face.seenAt.getTime());
    expect(b?.best?.quality).toBe(Math.max(...biden.map((k) => k.face.quality)));
    expect((await listGroups(appliance.storage, { cameraId: 'cam_b' })).map((g) => g.id)).toEqual([bidenGroup]);

    // Each crop is a PNG on disk, linked to its unknown event.
    for (const k of [...biden, ...obama]) {
      expect((await fs.readFile(onDisk(k.face.image))).subarray(1, 4).toString()).toBe('PNG');
      expect(k.face.image).toMatch(/^images\/unknown\/\d{4}-\d{2}-\d{2}\/cam_[ab]_\d{9}(_\d+)?\.png$/);
    }
    const events = await appliance.storage.db.queryRecognitionEvents({ limit: 100 });
    for (const k of [...biden, ...obama])
      expect(events.find((e) => e.id === k.face.eventId)).toMatchObject({ isUnknown: true, cameraId: k.face.cameraId });
    // Groups never touch the recognition index.
    expect(appliance.storage.embeddings.stats().count).toBe(0);
    expect(grouping.size).toBe(7);
  });

  it('rebuilds the open groups from the database (a restarted service groups as before)', async () => {
    const again = new UnknownFaceGrouping(appliance.storage, DEFAULT_DECISION_THRESHOLDS.match, silentLogger);
    await again.reload();
    expect(again.size).toBe(7);
  });

  it('enrolls a new person from a group: their crops are copied into the user, and they are recognised', async () => {
    const r = await enrollGroup(review, { groupId: bidenGroup, userId: 'biden', name: 'Joe', actor: 'cli:alice' });
    expect(r.enrollment).toMatchObject({ userId: 'biden', embeddings: 4, skipped: [] });
    expect(r.group).toMatchObject({ status: 'enrolled', userId: 'biden', faces: 4 });
    expect(r.action).toMatchObject({ action: 'enroll', actor: 'cli:alice', groupId: bidenGroup, userId: 'biden' });
    const images = await appliance.storage.images.scanUser('biden');
    expect(images.ok.filter((i) => i.kind === 'original')).toHaveLength(4);
    expect(images.ok.filter((i) => i.kind === 'aligned')).toHaveLength(4);
    // Out of the grouping index: an enrolled group takes no new faces.
    expect(grouping.size).toBe(3);
    const [seen] = await identify(
      { analyzer: appliance.vision.analyzer, embeddings: appliance.storage.embeddings, statusOf: () => 'active' },
      await decodeImage(await fs.readFile(path.join(FACES_DIR, 'biden', 'biden2.jpg'))),
    );
    expect(seen).toMatchObject({ decision: 'known', userId: 'biden' });
    await expect(
      enrollGroup(review, { groupId: bidenGroup, userId: 'biden2', name: 'Again', actor: 'cli:bob' }),
    ).rejects.toThrow(ConflictError);
    await expect(
      enrollGroup(review, { groupId: bidenGroup, userId: 'biden2', name: 'Again', actor: 'cli:bob' }),
    ).rejects.toThrow(/already enrolled \(biden\)/);
  });

  it('refuses to assign a group to someone it does not look like, and changes nothing', async () => {
    await enroll(
      { analyzer: appliance.vision.analyzer, storage: appliance.storage },
      {
        userId: 'obama',
        name: 'Barack',
        images: await Promise.all(
          ['obama.jpg', 'obama2.jpg', 'obama3.jpg'].map(async (f) => ({
            name: f,
            bytes: await fs.readFile(path.join(FACES_DIR, 'obama', f)),
          })),
        ),
      },
    );
    const refused = assignGroup(review, { groupId: obamaGroup, userId: 'biden', actor: 'cli:alice' });
    await expect(refused).rejects.toThrow(AssignmentRefusedError);
    const error = (await refused.catch((e: unknown) => e)) as AssignmentRefusedError;
    expect(error.skipped).toHaveLength(3);
    for (const s of error.skipped) expect(s.reason).toMatch(/below the learn threshold/);
    expect(await appliance.storage.db.countEmbeddings('biden')).toBe(4);
    expect((await appliance.storage.db.unknown.getGroup(obamaGroup))?.status).toBe('open');
    expect(await appliance.storage.db.unknown.reviewActions({ groupId: obamaGroup })).toEqual([]);
  });

  it('assigns a group to an existing user: only faces passing the auto-learning guards join', async () => {
    const r = await assignGroup(review, { groupId: obamaGroup, userId: 'obama', actor: 'api:carol' });
    // obama-480p is a near-copy of the enrolled obama.jpg (0.97 > 0.95); the other two add something.
    expect(r.added).toBe(2);
    expect(r.skipped).toEqual([
      {
        file: expect.stringMatching(/^images\/unknown\//) as string,
        reason: expect.stringMatching(/near-duplicate/) as string,
      },
    ]);
    expect(await appliance.storage.db.countEmbeddings('obama')).toBe(5);
    expect(appliance.storage.embeddings.stats().count).toBe(4 + 5);
    expect(r.group).toMatchObject({ status: 'assigned', userId: 'obama' });
    expect(r.action).toMatchObject({
      action: 'assign',
      actor: 'api:carol',
      details: { added: 2, skipped: 1, removedFaces: 0 },
    });
    expect(grouping.size).toBe(0);
  });

  it('refuses to enroll a face that matches another user, or fewer than 3 faces, and keeps nothing', async () => {
    const k = await sighting('obama/obama_small.jpg', 'cam_a');
    // The assigned group takes no new faces: the same person seen again starts a new group.
    expect(k.joinedAt).toBeNull();
    const refused = enrollGroup(review, { groupId: k.face.groupId, userId: 'newcomer', name: 'N', actor: 'cli:alice' });
    await expect(refused).rejects.toThrow(EnrollmentRefusedError);
    const error = (await refused.catch((e: unknown) => e)) as EnrollmentRefusedError;
    expect(error.message).toMatch(/0 usable face\(s\), at least 3 needed/);
    expect(error.skipped[0]?.reason).toMatch(/matches enrolled user obama/);
    expect(await appliance.storage.db.getUser('newcomer')).toBeNull();
    expect(await appliance.storage.images.listUsers()).not.toContain('newcomer');
    expect((await appliance.storage.db.unknown.getGroup(k.face.groupId))?.status).toBe('open');

    // Dismissed: the crop and its embedding go now; the group stays, reviewed, in the trail.
    const d = await dismissGroup(review, {
      groupId: k.face.groupId,
      actor: 'cli:alice',
      reason: 'a photo on a poster',
    });
    expect(d.removedFaces).toBe(1);
    expect(existsSync(onDisk(k.face.image))).toBe(false);
    expect(d.group).toMatchObject({ status: 'dismissed', faces: 0, best: null });
    expect(d.action.details).toEqual({ reason: 'a photo on a poster', removedFaces: 1 });
    expect(grouping.size).toBe(0);
    await expect(dismissGroup(review, { groupId: k.face.groupId, actor: 'cli:alice' })).rejects.toThrow(
      /already dismissed/,
    );
    await expect(
      enrollGroup(review, { groupId: k.face.groupId, userId: 'newcomer', name: 'N', actor: 'cli:alice' }),
    ).rejects.toThrow(ConflictError);
  });

  it('lets one of two reviewers acting at once win, and tells the other', async () => {
    const k = await sighting('obama/obama_small.jpg', 'cam_b');
    const results = await Promise.allSettled([
      dismissGroup(review, { groupId: k.face.groupId, actor: 'cli:alice' }),
      dismissGroup(review, { groupId: k.face.groupId, actor: 'cli:bob' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(
      ConflictError,
    );
    expect(await appliance.storage.db.unknown.reviewActions({ groupId: k.face.groupId })).toHaveLength(1);
  });

  it('commits a review together with what it does: a closed group takes no user and no embeddings with it', async () => {
    const closed = {
      groupId: obamaGroup,
      status: 'assigned' as const,
      action: 'assign' as const,
      actor: 'cli:mallory',
      userId: 'obama',
    };
    const f = await face('obama/obama_small.jpg');
    const row = {
      image: 'face_099.png',
      modelId: f.embedding?.modelId as string,
      vector: f.embedding?.vector as Float32Array,
    };
    await expect(appliance.storage.db.addEmbeddings('obama', [row], { review: closed })).rejects.toThrow(
      /already assigned/,
    );
    expect(await appliance.storage.db.countEmbeddings('obama')).toBe(5);
    await expect(
      appliance.storage.db.createUser({ id: 'mallory', name: 'M' }, [row], {
        review: { ...closed, status: 'enrolled', action: 'enroll', userId: 'mallory' },
      }),
    ).rejects.toThrow(ConflictError);
    expect(await appliance.storage.db.getUser('mallory')).toBeNull();
    expect((await appliance.storage.db.unknown.reviewActions({ groupId: obamaGroup })).map((a) => a.actor)).toEqual([
      'api:carol',
    ]);
  });

  it('refuses hostile ids with what it expected, before touching anything', async () => {
    for (const id of [
      'abc',
      '-1',
      '0',
      '1.5',
      '1e3',
      '99999999999999999999',
      '1;DROP TABLE users',
      '../1',
      '',
      ' 1',
      '0x10',
    ]) {
      await expect(showGroup(appliance.storage, id)).rejects.toThrow(/^Expected a group id \(a positive whole number/);
      await expect(dismissGroup(review, { groupId: id, actor: 'cli:alice' })).rejects.toThrow(StoreInputError);
    }
    await expect(showGroup(appliance.storage, '987654')).rejects.toThrow(NotFoundError);
    for (const userId of ['../x', 'CON', '', 'a/b', 'x'.repeat(65)]) {
      await expect(enrollGroup(review, { groupId: obamaGroup, userId, name: 'X', actor: 'cli:alice' })).rejects.toThrow(
        InvalidIdError,
      );
      await expect(assignGroup(review, { groupId: obamaGroup, userId, actor: 'cli:alice' })).rejects.toThrow(
        InvalidIdError,
      );
    }
    for (const actor of ['', '   ', 'a\u0000b', 'x'.repeat(201)]) {
      await expect(dismissGroup(review, { groupId: obamaGroup, actor })).rejects.toThrow(
        /Expected the reviewer's name/,
      );
    }
    // Text the database could not store (a NUL, half a surrogate pair) is refused, not a server error.
    for (const reason of ['a\u0000b', 'x\ud800y', 'line\nbreak', 'x'.repeat(201)]) {
      await expect(dismissGroup(review, { groupId: obamaGroup, actor: 'cli:alice', reason })).rejects.toThrow(
        /Expected the reason to be printable text/,
      );
    }
    await expect(assignGroup(review, { groupId: obamaGroup, userId: 'nobody', actor: 'cli:alice' })).rejects.toThrow(
      ConflictError,
    ); // already assigned
    // A limit out of range is refused too.
    await expect(appliance.storage.db.unknown.reviewActions({ limit: 0 })).rejects.toThrow(/limit/);
  });

  it('retention purges old crops, their rows and groups left empty together; enrolled people keep their images', async () => {
    const old = new Date(Date.now() - 40 * DAY_MS);
    const k = await sighting('biden/biden2.jpg', 'cam_a', old);
    const oldDay = old.toISOString().slice(0, 10);
    expect(k.face.day).toBe(oldDay);
    const before = await listGroups(appliance.storage, { status: 'all' });

    const dry = await purgeUnknownFaces({ storage: appliance.storage, grouping }, 30, { dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, removedDates: [oldDay], removedFiles: 1, removedFaces: 1 });
    // The old face's group only: the groups dismissed today stay visible (dismissed) for the period.
    expect(dry.removedGroups).toEqual([k.face.groupId]);
    expect(await listGroups(appliance.storage, { status: 'all' })).toEqual(before);
    expect(existsSync(onDisk(k.face.image))).toBe(true);

    const done = await purgeUnknownFaces({ storage: appliance.storage, grouping }, 30);
    expect(done).toMatchObject({
      dryRun: false,
      removedDates: [oldDay],
      removedFiles: 1,
      removedFaces: 1,
      removedGroups: dry.removedGroups,
    });
    expect(existsSync(onDisk(k.face.image))).toBe(false);
    expect(await appliance.storage.images.listUnknownDates()).not.toContain(oldDay);
    expect(await appliance.storage.db.unknown.getGroup(k.face.groupId)).toBeNull();
    expect(grouping.size).toBe(0);
    // Today's groups stay (enrolled and assigned with their crops, dismissed without), so do the users' own images and the trail.
    const today = await listGroups(appliance.storage, { status: 'all' });
    expect(today.map((g) => g.status).sort()).toEqual(['assigned', 'dismissed', 'dismissed', 'enrolled']);
    expect((await appliance.storage.images.scanUser('biden')).ok).toHaveLength(8);
    expect((await appliance.storage.db.unknown.reviewActions()).map((a) => a.action).sort()).toEqual([
      'assign',
      'dismiss',
      'dismiss',
      'enroll',
    ]);

    // A purge of everything (0 days, as of tomorrow): every group goes, the users stay.
    const all = await purgeUnknownFaces({ storage: appliance.storage, grouping }, 0, {
      now: new Date(Date.now() + DAY_MS),
    });
    expect(all.removedGroups.sort()).toEqual(today.map((g) => g.id).sort());
    expect(await listGroups(appliance.storage, { status: 'all' })).toEqual([]);
    expect(await appliance.storage.db.countEmbeddings('biden')).toBe(4);
  });
});
