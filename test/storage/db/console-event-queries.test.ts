// The two reads the console's events page needs from the store (issue 16): the event list filtered
// by outcome (known: someone was named; unknown: nobody), combined with the other filters and the
// keyset paging, and the unknown faces kept for a page of recognition events, found in one query.
// Against the shared PostgreSQL server and PGlite (both run the same SQL).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { EventOutcome, RecognitionEvent } from '../../../storage/db/db-store.js';
import { SqlDbStore } from '../../../storage/db/sql-db-store.js';
import { uuidv7 } from '../../../storage/db/uuid7.js';
import { StoreInputError } from '../../../storage/errors.js';
import { silentLogger } from '../../../storage/logger.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';

const storeSchema = uniqueSchema();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-console-queries-'));
});
afterAll(async () => {
  await dropSchema(SHARED_POSTGRES_URL, storeSchema);
  await rm(dir, { recursive: true, force: true });
});

const at = (minute: number) => new Date(Date.UTC(2026, 2, 1, 9, minute, 0));

function event(minute: number, cameraId: string, userId: string | null): RecognitionEvent {
  return { timestamp: at(minute), cameraId, matchedUserId: userId, confidence: userId ? 0.8 : 0.2, threshold: 0.5 };
}

const engines = [
  { name: 'PostgreSQL 15 server', databaseUrl: SHARED_POSTGRES_URL, schema: storeSchema },
  { name: 'PGlite', databaseUrl: undefined, schema: undefined },
];

describe.each(engines)('the events page’s queries on $name', ({ name, databaseUrl, schema }) => {
  let db: SqlDbStore;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    const root = path.join(dir, name.replace(/\W+/g, '-'));
    db = await SqlDbStore.open({
      databaseUrl,
      schema,
      pgliteDir: path.join(root, 'pglite'),
      spoolDir: path.join(root, 'spool'),
      logger: silentLogger,
    });
    await db.createUser({ id: 'U1', name: 'Ada' });
    // Known and unknown, on two cameras, one a minute.
    const plan: [string, number, string, string | null][] = [
      ['k1', 1, 'gate_1', 'U1'],
      ['u1', 2, 'gate_1', null],
      ['k2', 3, 'gate_2', 'U1'],
      ['u2', 4, 'gate_2', null],
      ['u3', 5, 'gate_1', null],
      ['k3', 6, 'gate_1', 'U1'],
    ];
    for (const [key, minute, camera, user] of plan) {
      const w = await db.recordRecognition(event(minute, camera, user));
      expect(w.stored).toBe('database');
      ids[key] = w.id;
    }
  });
  afterAll(async () => {
    await db.close();
  });

  const keys = (events: { id: string }[]) =>
    events.map((e) => Object.entries(ids).find(([, id]) => id === e.id)?.[0] ?? e.id);

  it('filters recognition events by outcome, newest first, with the other filters and keyset paging', async () => {
    const of = async (outcome: EventOutcome, more = {}) => keys(await db.queryRecognitionEvents({ outcome, ...more }));
    expect(await of('known')).toEqual(['k3', 'k2', 'k1']);
    expect(await of('unknown')).toEqual(['u3', 'u2', 'u1']);
    expect(await of('unknown', { cameraId: 'gate_1' })).toEqual(['u3', 'u1']);
    expect(await of('known', { since: at(2), until: at(6) })).toEqual(['k2']);
    // A page of two, then the next from the last id of the first.
    const first = await db.queryRecognitionEvents({ outcome: 'unknown', limit: 2 });
    expect(keys(first)).toEqual(['u3', 'u2']);
    expect(await of('unknown', { limit: 2, before: first.at(-1)?.id })).toEqual(['u1']);
    expect(await of('known', { userId: 'U1', cameraId: 'gate_2' })).toEqual(['k2']);
    // Without the filter, both.
    expect(keys(await db.queryRecognitionEvents())).toEqual(['k3', 'u3', 'u2', 'k2', 'u1', 'k1']);
  });

  it('refuses an outcome that is not one, and on camera events', async () => {
    await expect(db.queryRecognitionEvents({ outcome: 'maybe' as EventOutcome })).rejects.toThrow(
      'Expected outcome to be one of known, unknown but received "maybe"',
    );
    await expect(db.queryCameraEvents({ outcome: 'known' })).rejects.toThrow(
      /camera events have no known\/unknown outcome/,
    );
  });

  it('finds the unknown faces kept for a list of events in one lookup; events without one are absent', async () => {
    const kept = async (key: string, minute: number, groupId: bigint | null) =>
      db.unknown.addFace(
        {
          eventId: ids[key] as string,
          cameraId: 'gate_1',
          seenAt: at(minute),
          day: '2026-03-01',
          image: `images/unknown/2026-03-01/${key}.png`,
          quality: 0.9,
          modelId: 'm',
          vector: new Float32Array(4).fill(0.5),
        },
        groupId,
      );
    const a = await kept('u1', 2, null);
    const b = await kept('u3', 5, a.groupId);
    const found = await db.unknown.facesOfEvents([ids.k1, ids.u1, ids.u2, ids.u3, uuidv7(at(30))] as string[]);
    expect(found).toEqual(
      new Map([
        [ids.u1, { groupId: a.groupId, faceId: a.id }],
        [ids.u3, { groupId: a.groupId, faceId: b.id }],
      ]),
    );
    expect(b.groupId).toBe(a.groupId);
    expect(await db.unknown.facesOfEvents([])).toEqual(new Map());
    await expect(db.unknown.facesOfEvents(['not-a-uuid'])).rejects.toThrow(
      'Expected event ids (UUIDs) but received "not-a-uuid"',
    );
    await expect(
      db.unknown.facesOfEvents(Array.from({ length: 1001 }, (_, i) => uuidv7(at(i % 60)))),
    ).rejects.toBeInstanceOf(StoreInputError);
  });
});
