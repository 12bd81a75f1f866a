// Match corrections (migration 003) in the database itself: append-only like the events, rows
// checked before they are written, and counted only for the user enrolled now under the id.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SqlDbStore } from '../../../storage/db/sql-db-store.js';
import { silentLogger } from '../../../storage/logger.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';

const schema = uniqueSchema();
let dir: string;
let db: SqlDbStore;
const MODEL = 'test-model@1';

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-corrections-'));
  db = await SqlDbStore.open({
    databaseUrl: SHARED_POSTGRES_URL,
    schema,
    pgliteDir: path.join(dir, 'pglite'),
    spoolDir: path.join(dir, 'spool'),
    logger: silentLogger,
  });
  await db.createUser({ id: 'U1', name: 'Ada' });
});
afterAll(async () => {
  await db.close();
  await dropSchema(SHARED_POSTGRES_URL, schema);
  await rm(dir, { recursive: true, force: true });
});

describe('match_corrections is append-only in the database itself', () => {
  beforeAll(async () => {
    await db.recordCorrection({
      actor: 'cli:ada',
      userId: 'U1',
      source: 'operator',
      score: 0.5,
      modelId: MODEL,
      vector: new Float32Array([0.6, 0.8]),
    });
  });
  it.each([
    ['UPDATE', 'UPDATE match_corrections SET score = 0'],
    ['DELETE', 'DELETE FROM match_corrections'],
    ['TRUNCATE', 'TRUNCATE match_corrections'],
  ])('rejects %s', async (op, sql) => {
    const client = (db as unknown as { client: { query: (q: string) => Promise<unknown[]> } }).client;
    await expect(client.query(sql)).rejects.toThrow(
      new RegExp(`append-only: ${op} on match_corrections is not allowed`),
    );
    expect(await db.listCorrections('U1', MODEL)).toHaveLength(1);
  });
  it('keeps the vector it was given', async () => {
    const [c] = await db.listCorrections('U1', MODEL);
    expect(Array.from(c?.vector ?? [])).toEqual([Math.fround(0.6), Math.fround(0.8)]);
  });
});

describe('a correction is checked before it is written', () => {
  it.each([
    ['an unknown source', { source: 'guess' }, /Expected source to be one of operator, lookalike but received "guess"/],
    ['a score outside [-1, 1]', { score: 7 }, /Expected score to be a cosine in \[-1, 1\] but received 7/],
    ['a score that is not a number', { score: Number.NaN }, /Expected score to be a finite number/],
    [
      'an event id that is not a UUID',
      { eventId: 'ev-1' },
      /Expected eventId to be an event id \(UUID\) but received "ev-1"/,
    ],
    ['an actor with a control character', { actor: 'ada\u001b[31m' }, /Expected actor to be printable text/],
    ['an empty vector', { vector: new Float32Array(0) }, /Expected vector to be a non-empty Float32Array/],
    ['a bad user id', { userId: '../U1' }, /user/],
  ])('refuses %s', async (_what, change, message) => {
    await expect(
      db.recordCorrection({
        actor: 'cli:ada',
        userId: 'U1',
        source: 'operator',
        score: 0.5,
        modelId: MODEL,
        ...change,
      } as never),
    ).rejects.toThrow(message);
  });

  it('refuses an event the database does not hold, as not found', async () => {
    await expect(
      db.recordCorrection({
        actor: 'cli:ada',
        userId: 'U1',
        source: 'operator',
        score: 0.5,
        modelId: MODEL,
        eventId: '0190c3d2-7a1b-7c3d-8e4f-0123456789ab',
      }),
    ).rejects.toMatchObject({ name: 'NotFoundError' });
  });
});

describe('corrections count for the user enrolled now', () => {
  it('folds per user and model: the highest score and the count', async () => {
    await db.createUser({ id: 'U2', name: 'Bob' });
    await db.recordCorrection({ actor: 'a', userId: 'U2', source: 'operator', score: 0.3, modelId: MODEL });
    await db.recordCorrection({ actor: 'a', userId: 'U2', source: 'lookalike', score: 0.41, modelId: MODEL });
    await db.recordCorrection({ actor: 'a', userId: 'U2', source: 'operator', score: 0.9, modelId: 'another-model@1' });
    const raises = await db.correctionRaises(MODEL);
    expect(raises.find((r) => r.userId === 'U2')).toEqual({
      userId: 'U2',
      maxScore: expect.closeTo(0.41, 6) as number,
      count: 2,
    });
  });

  it("ignores an earlier, deleted user's corrections under a reused id", async () => {
    await db.createUser({ id: 'U3', name: 'Cy' });
    await db.recordCorrection({ actor: 'a', userId: 'U3', source: 'operator', score: 0.6, modelId: MODEL });
    await db.deleteUser('U3');
    expect((await db.correctionRaises(MODEL)).find((r) => r.userId === 'U3')).toBeUndefined();
    await db.createUser({ id: 'U3', name: 'Another Cy' });
    expect(await db.listCorrections('U3')).toEqual([]);
    expect((await db.correctionRaises(MODEL)).find((r) => r.userId === 'U3')).toBeUndefined();
  });

  it("records a lookalike's corrections in the new user's own transaction, and none when it fails", async () => {
    const lookalike = { actor: 'enrollment', source: 'lookalike' as const, score: 0.35, modelId: MODEL };
    await db.createUser({ id: 'U4', name: 'Di' }, [], {
      corrections: [
        { ...lookalike, userId: 'U4' },
        { ...lookalike, userId: 'U1' },
      ],
    });
    expect((await db.listCorrections('U4')).map((c) => c.source)).toEqual(['lookalike']);
    await expect(
      db.createUser({ id: 'U4', name: 'Di again' }, [], { corrections: [{ ...lookalike, userId: 'U2' }] }),
    ).rejects.toMatchObject({ name: 'ConflictError' });
    expect((await db.listCorrections('U2')).filter((c) => c.source === 'lookalike')).toHaveLength(1);
  });
});

describe('an event is marked wrong once, by the database itself', () => {
  it('refuses a second correction of the same event for the same user as a conflict, also when both are sent at once', async () => {
    const event = await db.recordRecognition({
      timestamp: new Date(),
      cameraId: 'cam1',
      matchedUserId: 'U1',
      confidence: 0.5,
      modelId: MODEL,
    });
    const mark = () =>
      db.recordCorrection({
        actor: 'cli:ada',
        userId: 'U1',
        source: 'operator',
        score: 0.5,
        modelId: MODEL,
        eventId: event.id,
      });
    const results = await Promise.allSettled(Array.from({ length: 10 }, mark));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x): x is PromiseRejectedResult => x.status === 'rejected')) {
      expect(r.reason).toMatchObject({
        name: 'ConflictError',
        message: `Expected an event not marked yet but event ${event.id} was already marked wrong for U1`,
      });
    }
    expect((await db.listCorrections('U1')).filter((c) => c.eventId === event.id)).toHaveLength(1);
  });
});
