// Appliance ids (issue 18, migration 006): several appliances write into one PostgreSQL schema, each
// store stamping its own id on every event, camera event, unknown-face group and review action (no
// caller passes it); the event lists filter by it and, unfiltered, show each event with its id;
// grouping and retention stay per appliance; the spool keeps the id an event was recorded under
// across an outage; rows from before the migration survive and read as null; bad ids are refused
// with storage's own message. Against the shared PostgreSQL server (and PGlite for the migration).
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseStorageConfig } from '../../../storage/config.js';
import type { RecognitionEvent } from '../../../storage/db/db-store.js';
import { migrate, readMigrations } from '../../../storage/db/migrate.js';
import { connectPostgres, openPglite, type SqlClient } from '../../../storage/db/sql-client.js';
import { SqlDbStore } from '../../../storage/db/sql-db-store.js';
import { uuidv7 } from '../../../storage/db/uuid7.js';
import { InvalidIdError } from '../../../storage/errors.js';
import { DEFAULT_APPLIANCE_ID, type NewUnknownFace } from '../../../storage/index.js';
import { silentLogger } from '../../../storage/logger.js';
import { parseConfig } from '../../../src/config/config.js';
import { freePort } from '../../helpers/free-port.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';

const sharedSchema = uniqueSchema();
const migrationSchema = uniqueSchema();
const spoolSchema = uniqueSchema();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-appliances-'));
});
afterAll(async () => {
  for (const s of [sharedSchema, migrationSchema, spoolSchema]) await dropSchema(SHARED_POSTGRES_URL, s);
  await rm(dir, { recursive: true, force: true });
});

const at = (ms: number) => new Date(Date.UTC(2026, 11, 2, 9, 0, 0, ms));

function recognition(ms: number, cameraId = 'cam_01', matchedUserId: string | null = 'U1'): RecognitionEvent {
  return { timestamp: at(ms), cameraId, matchedUserId, confidence: 0.7, trackId: `t${ms}` };
}

/** A store writing as `applianceId` into `schema` of the shared server, with a spool of its own. */
function appliance(applianceId: string | undefined, schema: string, name = applianceId ?? 'default') {
  return SqlDbStore.open({
    databaseUrl: SHARED_POSTGRES_URL,
    schema,
    pgliteDir: path.join(dir, `${name}-pglite`),
    spoolDir: path.join(dir, `${name}-spool`),
    logger: silentLogger,
    ...(applianceId === undefined ? {} : { applianceId }),
  });
}

describe('two appliances on one PostgreSQL schema', () => {
  let a: SqlDbStore;
  let b: SqlDbStore;
  beforeAll(async () => {
    a = await appliance('site-a', sharedSchema);
    b = await appliance('site-b', sharedSchema);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('stamps each appliance’s id on its events; the filter separates them, the plain list has both with their ids', async () => {
    // Both sites have a camera called cam_01: only the appliance id tells their events apart.
    const fromA = await a.recordRecognitions([recognition(1), recognition(3, 'cam_01', null)]);
    const fromB = await b.recordRecognition(recognition(2));
    const camA = await a.recordCameraEvent({ timestamp: at(4), cameraId: 'cam_01', eventType: 'connected' });
    const camB = await b.recordCameraEvent({ timestamp: at(5), cameraId: 'cam_01', eventType: 'disconnected' });
    expect([...fromA, fromB, camA, camB].every((w) => w.stored === 'database')).toBe(true);

    const all = await a.queryRecognitionEvents();
    expect(all.map((e) => [e.id, e.applianceId, e.cameraId])).toEqual([
      [fromA[1]?.id, 'site-a', 'cam_01'],
      [fromB.id, 'site-b', 'cam_01'],
      [fromA[0]?.id, 'site-a', 'cam_01'],
    ]);
    // The same answer from the other appliance: one database, one log.
    expect((await b.queryRecognitionEvents()).map((e) => e.id)).toEqual(all.map((e) => e.id));
    expect((await b.queryRecognitionEvents({ appliance: 'site-a' })).map((e) => e.id)).toEqual([
      fromA[1]?.id,
      fromA[0]?.id,
    ]);
    expect((await a.queryRecognitionEvents({ appliance: 'site-b' })).map((e) => e.id)).toEqual([fromB.id]);
    // With the other filters: site-a's unknowns only.
    expect((await a.queryRecognitionEvents({ appliance: 'site-a', outcome: 'unknown' })).map((e) => e.id)).toEqual([
      fromA[1]?.id,
    ]);
    expect(await a.queryRecognitionEvents({ appliance: 'site-c' })).toEqual([]);
    expect((await a.getRecognitionEvent(fromB.id))?.applianceId).toBe('site-b');

    expect((await a.queryCameraEvents()).map((e) => [e.id, e.applianceId, e.eventType])).toEqual([
      [camB.id, 'site-b', 'disconnected'],
      [camA.id, 'site-a', 'connected'],
    ]);
    expect((await b.queryCameraEvents({ appliance: 'site-a' })).map((e) => e.id)).toEqual([camA.id]);
    expect((await b.queryCameraEvents({ appliance: 'site-b', cameraId: 'cam_01' })).map((e) => e.id)).toEqual([
      camB.id,
    ]);
  });

  it('refuses an appliance filter that breaks the id rule, with storage’s message', async () => {
    for (const bad of ['../x', 'CON', 'a:b', '']) {
      await expect(a.queryRecognitionEvents({ appliance: bad })).rejects.toBeInstanceOf(InvalidIdError);
      await expect(a.queryCameraEvents({ appliance: bad })).rejects.toBeInstanceOf(InvalidIdError);
    }
    await expect(a.queryRecognitionEvents({ appliance: '../x' })).rejects.toThrow(
      `Expected an appliance id of 1-64 letters, digits, '_', '-' or '.' (not first), not a reserved Windows name but received "../x"`,
    );
  });

  it('groups unknown faces per appliance, tags each group and review action with its appliance, lists them all', async () => {
    const face = async (store: SqlDbStore, ms: number): Promise<NewUnknownFace> => {
      const written = await store.recordRecognition(recognition(100 + ms, 'cam_01', null));
      return {
        eventId: written.id,
        cameraId: 'cam_01',
        seenAt: at(100 + ms),
        day: '2026-12-02',
        image: `images/unknown/2026-12-02/cam_01_${store.applianceId}_${ms}.png`,
        quality: 0.8,
        modelId: 'm1',
        vector: new Float32Array([1, 0, 0, 0]),
      };
    };
    const inA = await a.unknown.addFace(await face(a, 1), null);
    const inB = await b.unknown.addFace(await face(b, 2), null);
    const groups = await a.unknown.listGroups({ status: 'all' });
    expect(groups.map((g) => [g.id, g.applianceId]).sort()).toEqual(
      [
        [inA.groupId, 'site-a'],
        [inB.groupId, 'site-b'],
      ].sort(),
    );
    expect((await b.unknown.listGroups({ appliance: 'site-a' })).map((g) => g.id)).toEqual([inA.groupId]);
    // Each appliance's grouping index holds its own strangers only.
    expect((await a.unknown.openGroupFaces('m1')).map((f) => f.groupId)).toEqual([inA.groupId]);
    expect((await b.unknown.openGroupFaces('m1')).map((f) => f.groupId)).toEqual([inB.groupId]);

    const { action } = await b.unknown.resolveGroup({
      groupId: inB.groupId,
      status: 'dismissed',
      action: 'dismiss',
      actor: 'cli:ops',
    });
    expect(action.applianceId).toBe('site-b');
    expect((await a.unknown.reviewActions({ groupId: inB.groupId })).map((r) => r.applianceId)).toEqual(['site-b']);

    // Retention at site-a purges site-a's faces only: site-b's crops are on site-b's disk.
    const inB2 = await b.unknown.addFace(await face(b, 3), null);
    const purged = await a.unknown.deleteFacesBefore('2027-01-01');
    expect(purged.removed.map((r) => r.id)).toEqual([inA.id]);
    expect((await b.unknown.groupFaces(inB2.groupId)).map((f) => f.id)).toEqual([inB2.id]);
  });
});

describe('migration 006', () => {
  // Rows written before it (the same ids on both engines: separate databases).
  const oldEventId = uuidv7(at(1));
  const oldCameraId = uuidv7(at(2));
  const engines = [
    {
      name: 'PostgreSQL 15 server',
      open: async () => {
        const c = connectPostgres(SHARED_POSTGRES_URL, migrationSchema, silentLogger);
        await c.query(`CREATE SCHEMA IF NOT EXISTS ${migrationSchema}`);
        return c;
      },
    },
    { name: 'PGlite', open: () => openPglite(path.join(dir, 'migration-pglite'), undefined) },
  ];

  it.each(engines)('keeps the rows already there (null: before appliance ids) on $name', async ({ open }) => {
    const sql: SqlClient = await open();
    try {
      const all = await readMigrations();
      expect(all.map((m) => m.name)).toContain('006_appliance_ids.sql');
      await migrate(
        sql,
        all.filter((m) => m.version < 6),
      );
      const actionId = uuidv7(at(3));
      await sql.query(
        `INSERT INTO recognition_events (id, "timestamp", camera_id, matched_user_id, confidence, is_unknown)
         VALUES ($1, $2, 'cam_01', 'U1', 0.8, false)`,
        [oldEventId, at(1)],
      );
      await sql.query(
        `INSERT INTO camera_events (id, camera_id, event_type, "timestamp") VALUES ($1, 'cam_01', 'connected', $2)`,
        [oldCameraId, at(2)],
      );
      const [group] = await sql.query<{ id: string }>(
        "INSERT INTO unknown_groups (model_id) VALUES ('m1') RETURNING id",
      );
      await sql.query(
        `INSERT INTO review_actions (id, "timestamp", actor, action, group_id) VALUES ($1, $2, 'cli:ops', 'dismiss', $3)`,
        [actionId, at(3), group?.id],
      );

      // 006 and what came after it (007, the change feed: issue 18).
      expect(await migrate(sql)).toEqual(all.filter((m) => m.version >= 6).map((m) => m.name));
      for (const table of ['recognition_events', 'camera_events', 'review_actions', 'unknown_groups']) {
        expect(await sql.query(`SELECT count(*)::int AS n, count(appliance_id)::int AS tagged FROM ${table}`)).toEqual([
          { n: 1, tagged: 0 },
        ]);
      }
      // The database itself keeps the id rule, and the tables stay append-only.
      await expect(
        sql.query(
          `INSERT INTO recognition_events (id, "timestamp", camera_id, matched_user_id, confidence, is_unknown, appliance_id)
           VALUES ($1, now(), 'cam_01', NULL, 0.1, true, '../x')`,
          [uuidv7()],
        ),
      ).rejects.toThrow(/check constraint/);
      await expect(sql.query("UPDATE recognition_events SET appliance_id = 'site-a'")).rejects.toThrow(
        /append-only: UPDATE on recognition_events is not allowed/,
      );
      expect(await migrate(sql)).toEqual([]);
    } finally {
      await sql.close();
    }
  });

  it('reads rows from before it as null through the store, new rows with the store’s id', async () => {
    // migrationSchema was migrated by the test above (one pre-006 event in it).
    const store = await appliance('site-a', migrationSchema, 'migrated');
    try {
      const written = await store.recordRecognition(recognition(10));
      const cam = await store.recordCameraEvent({ timestamp: at(11), cameraId: 'cam_01', eventType: 'connected' });
      expect((await store.queryRecognitionEvents()).map((e) => [e.id, e.applianceId])).toEqual([
        [written.id, 'site-a'],
        [oldEventId, null],
      ]);
      expect((await store.queryCameraEvents()).map((e) => [e.id, e.applianceId])).toEqual([
        [cam.id, 'site-a'],
        [oldCameraId, null],
      ]);
      // The filter names an appliance: untagged rows belong to none.
      expect((await store.queryRecognitionEvents({ appliance: 'site-a' })).map((e) => e.id)).toEqual([written.id]);
    } finally {
      await store.close();
    }
  });
});

describe('while PostgreSQL is unreachable', () => {
  it('spools each event with the appliance it was recorded at, and replays that id (an older line without one as null)', async () => {
    const spoolDir = path.join(dir, 'outage-spool');
    const down = await SqlDbStore.open({
      databaseUrl: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
      pgliteDir: path.join(dir, 'outage-pglite'),
      spoolDir,
      logger: silentLogger,
      applianceId: 'site-b',
    });
    let written;
    let cam;
    try {
      written = await down.recordRecognitions([recognition(1), recognition(2, 'cam_01', null)]);
      cam = await down.recordCameraEvent({ timestamp: at(3), cameraId: 'cam_01', eventType: 'disconnected' });
      expect([...written, cam].map((w) => w.stored)).toEqual(['spool', 'spool', 'spool']);
    } finally {
      await down.close();
    }
    // A line as the spool wrote it before migration 006: no appliance id.
    const old = {
      id: uuidv7(at(4)),
      timestamp: at(4).toISOString(),
      cameraId: 'cam_01',
      matchedUserId: 'U1',
      confidence: 0.8,
      trackId: 't4',
      modelId: 'm',
      threshold: 0.45,
    };
    await appendFile(path.join(spoolDir, 'events.jsonl'), `${JSON.stringify({ kind: 'recognition', event: old })}\n`);

    // The spool is replayed by a store opened under another id (the configuration changed meanwhile):
    // each event keeps the id it was recorded under.
    const up = await SqlDbStore.open({
      databaseUrl: SHARED_POSTGRES_URL,
      schema: spoolSchema,
      pgliteDir: path.join(dir, 'up-pglite'),
      spoolDir,
      logger: silentLogger,
      applianceId: 'site-c',
    });
    try {
      expect(up.health()).toMatchObject({ available: true, spooled: 0 });
      expect((await up.queryRecognitionEvents()).map((e) => [e.id, e.applianceId])).toEqual([
        [old.id, null],
        [written[1]?.id, 'site-b'],
        [written[0]?.id, 'site-b'],
      ]);
      expect((await up.queryCameraEvents({ appliance: 'site-b' })).map((e) => e.id)).toEqual([cam.id]);
      const now = await up.recordRecognition(recognition(5));
      expect((await up.queryRecognitionEvents({ appliance: 'site-c' })).map((e) => e.id)).toEqual([now.id]);
    } finally {
      await up.close();
    }
  });
});

describe('the appliance id itself', () => {
  it('defaults to one stable id for a single appliance, in the store and the configuration', async () => {
    expect(DEFAULT_APPLIANCE_ID).toBe('appliance-1');
    expect(parseStorageConfig({ dataRoot: dir }).applianceId).toBe('appliance-1');
    expect(parseConfig({}).applianceId).toBe('appliance-1');
    expect(parseConfig({ applianceId: 'hall-2.east' }).applianceId).toBe('hall-2.east');
    const store = await appliance(undefined, sharedSchema);
    try {
      expect(store.applianceId).toBe('appliance-1');
      const w = await store.recordRecognition(recognition(50));
      expect((await store.getRecognitionEvent(w.id))?.applianceId).toBe('appliance-1');
    } finally {
      await store.close();
    }
  });

  it('refuses an id that breaks storage’s rule, wherever it is given, with storage’s message', async () => {
    const expected = `Expected an appliance id of 1-64 letters, digits, '_', '-' or '.' (not first), not a reserved Windows name but received`;
    await expect(appliance('../x', sharedSchema, 'bad')).rejects.toBeInstanceOf(InvalidIdError);
    await expect(appliance('../x', sharedSchema, 'bad')).rejects.toThrow(`${expected} "../x"`);
    expect(() => parseStorageConfig({ dataRoot: dir, applianceId: 'CON' })).toThrow(
      `storage.applianceId: ${expected} "CON", a reserved name on Windows`,
    );
    expect(() => parseConfig({ applianceId: 'site a' })).toThrow(`applianceId: ${expected} "site a"`);
    expect(() => parseConfig({ applianceId: 'x'.repeat(65) })).toThrow(/applianceId: .* of length 65/);
    expect(() => parseConfig({ applianceId: 7 })).toThrow(/applianceId: /);
    // An event cannot bring an id of its own: the store's is the only one written.
    const store = await appliance('site-a', sharedSchema, 'site-a-2');
    try {
      const w = await store.recordRecognition({ ...recognition(60), applianceId: 'site-z' } as RecognitionEvent);
      expect((await store.getRecognitionEvent(w.id))?.applianceId).toBe('site-a');
    } finally {
      await store.close();
    }
  });
});
