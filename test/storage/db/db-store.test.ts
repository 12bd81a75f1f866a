import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { randomUnitVectors } from '../../../src/bench/random-vectors.js';
import { SqlDbStore } from '../../../storage/db/sql-db-store.js';
import { uuidv7 } from '../../../storage/db/uuid7.js';
import { InvalidIdError, StoreInputError } from '../../../storage/errors.js';
import { silentLogger } from '../../../storage/logger.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';

const schema = uniqueSchema();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-dbstore-'));
});
afterAll(async () => {
  await dropSchema(SHARED_POSTGRES_URL, schema);
  await rm(dir, { recursive: true, force: true });
});

const engines = [
  { name: 'PostgreSQL 15 server', databaseUrl: SHARED_POSTGRES_URL, schema },
  { name: 'PGlite', databaseUrl: undefined, schema: undefined },
];

describe.each(engines)('SqlDbStore on $name', ({ name, databaseUrl, schema: sch }) => {
  let db: SqlDbStore;
  beforeAll(async () => {
    const root = path.join(dir, name.replace(/\W+/g, '-'));
    db = await SqlDbStore.open({
      databaseUrl,
      schema: sch,
      pgliteDir: path.join(root, 'pglite'),
      spoolDir: path.join(root, 'spool'),
      logger: silentLogger,
    });
  });
  afterAll(async () => {
    await db.close();
  });

  it('reports itself available with nothing spooled', () => {
    expect(db.health()).toMatchObject({ engine: databaseUrl ? 'postgres' : 'pglite', available: true, spooled: 0 });
  });

  it('creates a user with roles and embeddings in one step, vectors exact', async () => {
    const vectors = randomUnitVectors(3, 512, 1);
    const embeddings = [0, 1, 2].map((i) => ({
      image: `face_00${i + 1}.png`,
      modelId: 'fr_feature@87aacdfe',
      vector: vectors.slice(i * 512, (i + 1) * 512),
    }));
    const { user, embeddings: records } = await db.createUser(
      { id: 'U123', name: 'Ada Lovelace', department: 'R&D', roles: ['staff', 'admin'] },
      embeddings,
    );
    expect(user).toMatchObject({
      id: 'U123',
      name: 'Ada Lovelace',
      department: 'R&D',
      status: 'active',
      roles: ['admin', 'staff'],
    });
    expect(records.map((r) => r.image)).toEqual(['face_001.png', 'face_002.png', 'face_003.png']);
    const listed = await db.listEmbeddings('fr_feature@87aacdfe');
    expect(listed.map((r) => r.id)).toEqual(records.map((r) => r.id));
    listed.forEach((r, i) => {
      expect(Array.from(r.vector)).toEqual(Array.from(embeddings[i]?.vector ?? []));
    });
    expect(await db.embeddingIds('fr_feature@87aacdfe')).toEqual(records.map((r) => r.id));
    expect(await db.embeddingIds('another-model')).toEqual([]);
  });

  it('refuses a second user with the same id and keeps nothing of the attempt', async () => {
    await expect(
      db.createUser({ id: 'U123', name: 'Other' }, [{ image: 'x.png', modelId: 'm', vector: new Float32Array([1]) }]),
    ).rejects.toThrow(/user U123 already exists/);
    await expect(db.createUser({ id: 'u123', name: 'Other' })).rejects.toThrow(
      /user u123 already exists \(as U123: ids differ only in case/,
    );
    expect(await db.embeddingIds('m')).toEqual([]);
  });

  it.each([
    ['../x', '../x'],
    ['CON', 'CON'],
    ['a:b', 'a:b'],
    ['a 10 kB string', 'x'.repeat(10_000)],
    ['empty', ''],
  ])('rejects the hostile user id %s before any SQL', async (_label, id) => {
    await expect(db.createUser({ id, name: 'Mallory' })).rejects.toBeInstanceOf(InvalidIdError);
    await expect(db.getUser(id)).rejects.toBeInstanceOf(InvalidIdError);
  });

  it('stores no control characters in a name, department or role, whichever path calls it', async () => {
    await expect(db.createUser({ id: 'CTRL1', name: 'Eve\u001b[2J' })).rejects.toThrow(
      /Expected name to be printable text \(no control or format characters\)/,
    );
    await expect(db.createUser({ id: 'CTRL1', name: 'Eve', department: 'Ops\r\nAdmin' })).rejects.toThrow(
      /Expected department to be printable/,
    );
    await expect(db.createUser({ id: 'CTRL1', name: 'Eve', roles: ['a\u0007'] })).rejects.toThrow(
      /Expected roles\[0\] to be printable/,
    );
    await expect(db.createUser({ id: 'CTRL1', name: 'Eve\u009b31m' })).rejects.toThrow(/printable/); // C1 CSI
    expect(await db.getUser('CTRL1')).toBeNull();
  });

  it('refuses embeddings that are empty or not finite, saying which', async () => {
    await expect(
      db.addEmbeddings('U123', [{ image: 'a.png', modelId: 'm', vector: new Float32Array([1, Number.NaN]) }]),
    ).rejects.toThrow(/embeddings\[0\]\.vector to be a non-empty Float32Array of finite numbers/);
    await expect(
      db.addEmbeddings('nobody', [{ image: 'a.png', modelId: 'm', vector: new Float32Array([1]) }]),
    ).rejects.toThrow(/no user nobody/);
  });

  it('disables a user, lists by status, and deletes a user with their embeddings', async () => {
    await db.createUser({ id: 'U456', name: 'Grace' }, [
      { image: 'face_001.png', modelId: 'm2', vector: new Float32Array([0.6, 0.8]) },
    ]);
    expect((await db.setUserStatus('U456', 'disabled')).status).toBe('disabled');
    expect((await db.listUsers({ status: 'disabled' })).map((u) => u.id)).toEqual(['U456']);
    expect((await db.listUsers()).map((u) => u.id)).toEqual(['U123', 'U456']);
    const ids = await db.embeddingIds('m2');
    expect(await db.deleteUser('U456')).toEqual({ embeddingIds: ids });
    expect(await db.getUser('U456')).toBeNull();
    expect(await db.embeddingIds('m2')).toEqual([]);
    await expect(db.deleteUser('U456')).rejects.toBeInstanceOf(StoreInputError);
  });

  it('records events and keeps a retried event once (appliance-made UUIDv7 ids)', async () => {
    const at = new Date('2026-11-20T10:00:00.000Z');
    const first = await db.recordRecognition({
      timestamp: at,
      cameraId: 'cam_01',
      matchedUserId: 'U123',
      confidence: 0.71,
      trackId: 't1',
      modelId: 'm',
      threshold: 0.45,
    });
    expect(first.stored).toBe('database');
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    const retry = await db.recordRecognition({
      id: first.id,
      timestamp: at,
      cameraId: 'cam_01',
      matchedUserId: 'U123',
      confidence: 0.71,
    });
    expect(retry.id).toBe(first.id);
    await db.recordRecognition({
      timestamp: new Date(at.getTime() + 1000),
      cameraId: 'cam_02',
      matchedUserId: null,
      confidence: 0.2,
    });
    const all = await db.queryRecognitionEvents();
    expect(all).toHaveLength(2);
    expect(all[1]).toMatchObject({
      id: first.id,
      cameraId: 'cam_01',
      matchedUserId: 'U123',
      isUnknown: false,
      trackId: 't1',
      threshold: expect.closeTo(0.45, 5) as number,
    });
    expect(all[0]).toMatchObject({ cameraId: 'cam_02', matchedUserId: null, isUnknown: true });
    expect((await db.queryRecognitionEvents({ cameraId: 'cam_02' })).map((e) => e.cameraId)).toEqual(['cam_02']);
    expect((await db.queryRecognitionEvents({ userId: 'U123' })).map((e) => e.id)).toEqual([first.id]);
    expect(await db.queryRecognitionEvents({ since: new Date(at.getTime() + 500) })).toHaveLength(1);
    expect((await db.queryRecognitionEvents({ limit: 1 }))[0]?.cameraId).toBe('cam_02');
    expect((await db.queryRecognitionEvents({ before: all[0]?.id as string })).map((e) => e.id)).toEqual([first.id]);
  });

  it('records camera events with details', async () => {
    const w = await db.recordCameraEvent({
      timestamp: new Date(),
      cameraId: 'cam_01',
      eventType: 'connected',
      details: { url: 'rtsp://x' },
    });
    expect(w.stored).toBe('database');
    expect(await db.queryCameraEvents({ cameraId: 'cam_01' })).toEqual([
      expect.objectContaining({ id: w.id, eventType: 'connected', details: { url: 'rtsp://x' } }),
    ]);
  });

  it('refuses malformed events with a clear error', async () => {
    await expect(
      db.recordRecognition({ timestamp: new Date('nope'), cameraId: 'c', matchedUserId: null, confidence: 0 }),
    ).rejects.toThrow(/Expected timestamp to be a valid Date/);
    await expect(
      db.recordRecognition({ timestamp: new Date(), cameraId: 'a:b', matchedUserId: null, confidence: 0 }),
    ).rejects.toBeInstanceOf(InvalidIdError);
    await expect(
      db.recordRecognition({
        id: 'not-a-uuid',
        timestamp: new Date(),
        cameraId: 'c',
        matchedUserId: null,
        confidence: 0,
      }),
    ).rejects.toThrow(/Expected id to be a UUID/);
    await expect(
      db.recordRecognition({
        id: uuidv7(),
        timestamp: new Date(),
        cameraId: 'c',
        matchedUserId: null,
        confidence: Number.NaN,
      }),
    ).rejects.toThrow(/confidence to be a finite number/);
  });
});
