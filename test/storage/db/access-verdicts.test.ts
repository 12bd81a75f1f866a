// Access verdicts in the event log and user roles in the store (issue 17, migration 005): the
// verdict round-trips through the database (one event and a batch) and through the spool (an
// older spool line without it replays as null), the event list filters by it, the database
// itself refuses a verdict without its reason (and the reverse) and keeps the table append-only,
// and setUserRoles replaces a user's roles. Against the shared PostgreSQL server and PGlite.
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AccessVerdictKind, RecognitionEvent } from '../../../storage/db/db-store.js';
import { migrate } from '../../../storage/db/migrate.js';
import { connectPostgres, openPglite, type SqlClient } from '../../../storage/db/sql-client.js';
import { SqlDbStore } from '../../../storage/db/sql-db-store.js';
import { uuidv7 } from '../../../storage/db/uuid7.js';
import { NotFoundError, ReadOnlyError, StoreInputError } from '../../../storage/errors.js';
import { ACCESS_VERDICTS } from '../../../storage/index.js';
import { silentLogger } from '../../../storage/logger.js';
import { freePort } from '../../helpers/free-port.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';

const storeSchema = uniqueSchema();
const sqlSchema = uniqueSchema();
const spoolSchema = uniqueSchema();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-access-'));
});
afterAll(async () => {
  for (const s of [storeSchema, sqlSchema, spoolSchema]) await dropSchema(SHARED_POSTGRES_URL, s);
  await rm(dir, { recursive: true, force: true });
});

const at = (ms: number) => new Date(Date.UTC(2026, 11, 1, 9, 0, 0, ms));

function event(ms: number, access?: RecognitionEvent['access']): RecognitionEvent {
  return {
    timestamp: at(ms),
    cameraId: 'gate_1',
    matchedUserId: access?.verdict === 'unknown' ? null : 'U1',
    confidence: 0.7,
    ...(access === undefined ? {} : { access }),
  };
}

const engines = [
  { name: 'PostgreSQL 15 server', databaseUrl: SHARED_POSTGRES_URL, schema: storeSchema },
  { name: 'PGlite', databaseUrl: undefined, schema: undefined },
];

describe.each(engines)('access verdicts and roles on $name', ({ name, databaseUrl, schema }) => {
  let db: SqlDbStore;
  beforeAll(async () => {
    const root = path.join(dir, name.replace(/\W+/g, '-'));
    db = await SqlDbStore.open({
      databaseUrl,
      schema,
      pgliteDir: path.join(root, 'pglite'),
      spoolDir: path.join(root, 'spool'),
      logger: silentLogger,
    });
  });
  afterAll(async () => {
    await db.close();
  });

  it('keeps an event’s verdict and reason (one event, and a batch), null without one', async () => {
    const one = await db.recordRecognition(event(1, { verdict: 'granted', reason: 'role staff, Mon-Fri 08:00-18:00' }));
    expect(one.stored).toBe('database');
    const batch = await db.recordRecognitions([
      event(2, { verdict: 'denied', reason: 'user U1 is disabled' }),
      event(3, { verdict: 'unknown', reason: 'unknown face' }),
      event(4, null),
      event(5),
    ]);
    expect(batch.every((w) => w.stored === 'database')).toBe(true);
    const stored = await db.queryRecognitionEvents();
    expect(stored.map((e) => [e.id, e.access])).toEqual([
      [batch[3]?.id, null],
      [batch[2]?.id, null],
      [batch[1]?.id, { verdict: 'unknown', reason: 'unknown face' }],
      [batch[0]?.id, { verdict: 'denied', reason: 'user U1 is disabled' }],
      [one.id, { verdict: 'granted', reason: 'role staff, Mon-Fri 08:00-18:00' }],
    ]);
    expect((await db.getRecognitionEvent(one.id))?.access).toEqual({
      verdict: 'granted',
      reason: 'role staff, Mon-Fri 08:00-18:00',
    });
  });

  it('filters the event list by verdict, and refuses a verdict that is not one', async () => {
    const ids = async (verdict: AccessVerdictKind) =>
      (await db.queryRecognitionEvents({ access: verdict })).map((e) => e.access?.reason);
    expect(await ids('granted')).toEqual(['role staff, Mon-Fri 08:00-18:00']);
    expect(await ids('denied')).toEqual(['user U1 is disabled']);
    expect(await ids('unknown')).toEqual(['unknown face']);
    expect(await db.queryRecognitionEvents({ access: 'denied', cameraId: 'other' })).toEqual([]);
    await expect(db.queryRecognitionEvents({ access: 'maybe' as AccessVerdictKind })).rejects.toThrow(
      'Expected access to be one of granted, denied, unknown but received "maybe"',
    );
    await expect(db.queryCameraEvents({ access: 'granted' })).rejects.toThrow(/camera events have no access verdict/);
  });

  it('refuses a bad verdict or reason, saying what it received, and writes nothing of the batch', async () => {
    const before = (await db.queryRecognitionEvents({ limit: 1000 })).length;
    await expect(
      db.recordRecognitions([
        event(10, { verdict: 'granted', reason: 'fine' }),
        event(11, { verdict: 'allowed' as AccessVerdictKind, reason: 'x' }),
      ]),
    ).rejects.toThrow('Expected access.verdict to be one of granted, denied, unknown but received "allowed"');
    await expect(
      db.recordRecognition(event(12, { verdict: undefined as unknown as AccessVerdictKind, reason: 'x' })),
    ).rejects.toThrow(/access\.verdict to be one of granted, denied, unknown but received undefined/);
    await expect(db.recordRecognition(event(13, { verdict: 'denied', reason: 'x'.repeat(501) }))).rejects.toThrow(
      /Expected access\.reason to be printable text of 1-500 characters .* but received "x{40}"\.\.\. \(501 characters\)/,
    );
    await expect(db.recordRecognition(event(14, { verdict: 'denied', reason: 'no\u001b[2J' }))).rejects.toThrow(
      /access\.reason to be printable text .* but received "no\\u001b\[2J"/,
    );
    await expect(db.recordRecognition(event(15, { verdict: 'denied', reason: '  ' }))).rejects.toBeInstanceOf(
      StoreInputError,
    );
    await expect(db.recordRecognition(event(16, 'granted' as unknown as RecognitionEvent['access']))).rejects.toThrow(
      'Expected access to be { verdict, reason } or null but received "granted"',
    );
    // 500 characters is the longest kept.
    const long = await db.recordRecognition(event(17, { verdict: 'denied', reason: 'y'.repeat(500) }));
    expect((await db.getRecognitionEvent(long.id))?.access?.reason).toHaveLength(500);
    expect((await db.queryRecognitionEvents({ limit: 1000 })).length).toBe(before + 1);
  });

  it('replaces a user’s roles in one step: duplicates once, sorted, unknown user and bad names refused', async () => {
    await db.createUser({ id: 'U1', name: 'Ada', roles: ['staff', 'night'] });
    await db.createUser({ id: 'U2', name: 'Grace', roles: ['staff'] });
    const user = await db.setUserRoles('U1', ['visitor', 'admin', 'visitor', 'contractor']);
    expect(user).toMatchObject({ id: 'U1', name: 'Ada', status: 'active', roles: ['admin', 'contractor', 'visitor'] });
    expect((await db.getUser('U1'))?.roles).toEqual(['admin', 'contractor', 'visitor']);
    expect((await db.getUser('U2'))?.roles).toEqual(['staff']); // another user's roles untouched
    expect((await db.setUserRoles('U1', [])).roles).toEqual([]);

    await expect(db.setUserRoles('nobody', ['staff'])).rejects.toBeInstanceOf(NotFoundError);
    await expect(db.setUserRoles('nobody', ['staff'])).rejects.toThrow(
      'Expected an existing user but there is no user nobody',
    );
    await db.setUserRoles('U1', ['staff']);
    await expect(db.setUserRoles('U1', ['admin', 'ops\u001b[2J'])).rejects.toThrow(
      /Expected roles\[1\] to be printable text/,
    );
    await expect(db.setUserRoles('U1', ['admin', ''])).rejects.toThrow(/Expected roles\[1\] to be a string of 1-200/);
    await expect(db.setUserRoles('U1', 'admin' as unknown as string[])).rejects.toThrow(
      'Expected roles to be an array of role names but received "admin"',
    );
    const many = Array.from({ length: 33 }, (_, i) => `role${i}`);
    await expect(db.setUserRoles('U1', many)).rejects.toThrow('Expected at most 32 roles but received 33');
    await expect(db.createUser({ id: 'U3', name: 'Many', roles: many })).rejects.toThrow(
      'Expected at most 32 roles but received 33',
    );
    expect((await db.getUser('U1'))?.roles).toEqual(['staff']); // a refused call changes nothing
  });
});

describe.each([
  {
    name: 'PostgreSQL 15 server',
    open: async () => {
      const c = connectPostgres(SHARED_POSTGRES_URL, sqlSchema, silentLogger);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${sqlSchema}`);
      return c;
    },
  },
  { name: 'PGlite', open: () => openPglite(path.join(dir, 'sql-pglite'), undefined) },
])('migration 005 on $name', ({ open }) => {
  let sql: SqlClient;
  beforeAll(async () => {
    sql = await open();
    await migrate(sql);
  });
  afterAll(async () => {
    await sql.close();
  });

  const insert = (verdict: string | null, reason: string | null, id = uuidv7()) =>
    sql.query(
      `INSERT INTO recognition_events (id, "timestamp", camera_id, matched_user_id, confidence, is_unknown, access_verdict, access_reason)
       VALUES ($1, now(), 'gate_1', NULL, 0.1, true, $2, $3)`,
      [id, verdict, reason],
    );

  it('keeps a verdict and its reason together or neither', async () => {
    await expect(insert('denied', null)).rejects.toThrow(/recognition_events_access_both/);
    await expect(insert(null, 'a reason without a verdict')).rejects.toThrow(/recognition_events_access_both/);
    await expect(insert('maybe', 'x')).rejects.toThrow(/check constraint/);
    await expect(insert('granted', '')).rejects.toThrow(/check constraint/);
    await insert('granted', 'role staff');
    await insert(null, null);
    expect(await sql.query('SELECT access_verdict, access_reason FROM recognition_events ORDER BY id')).toEqual([
      { access_verdict: 'granted', access_reason: 'role staff' },
      { access_verdict: null, access_reason: null },
    ]);
  });

  it('keeps the table append-only: a verdict cannot be set or changed afterwards', async () => {
    await expect(
      sql.query("UPDATE recognition_events SET access_verdict = 'granted', access_reason = 'later'"),
    ).rejects.toThrow(/append-only: UPDATE on recognition_events is not allowed/);
    expect(
      await sql.query('SELECT count(*)::int AS n FROM recognition_events WHERE access_reason = $1', ['later']),
    ).toEqual([{ n: 0 }]);
  });
});

describe('while PostgreSQL is unreachable', () => {
  it('spools the verdict and replays it, an older spool line without it as null; setUserRoles is refused', async () => {
    const spoolDir = path.join(dir, 'outage-spool');
    const down = await SqlDbStore.open({
      databaseUrl: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
      pgliteDir: path.join(dir, 'outage-pglite'),
      spoolDir,
      logger: silentLogger,
    });
    let written;
    try {
      await expect(down.setUserRoles('U1', ['staff'])).rejects.toBeInstanceOf(ReadOnlyError);
      await expect(down.setUserRoles('U1', ['staff'])).rejects.toThrow(/read-only: database unavailable/);
      written = [
        await down.recordRecognition(event(1, { verdict: 'denied', reason: 'staff: not allowed at gate_1' })),
        ...(await down.recordRecognitions([event(2, { verdict: 'granted', reason: 'role staff' }), event(3)])),
      ];
      expect(written.map((w) => w.stored)).toEqual(['spool', 'spool', 'spool']);
    } finally {
      await down.close();
    }
    // A line as the spool wrote it before migration 005: no access fields.
    const old = {
      id: uuidv7(at(4)),
      timestamp: at(4).toISOString(),
      cameraId: 'gate_1',
      matchedUserId: 'U1',
      confidence: 0.8,
      trackId: 't9',
      modelId: 'm',
      threshold: 0.45,
    };
    await appendFile(path.join(spoolDir, 'events.jsonl'), `${JSON.stringify({ kind: 'recognition', event: old })}\n`);

    const up = await SqlDbStore.open({
      databaseUrl: SHARED_POSTGRES_URL,
      schema: spoolSchema,
      pgliteDir: path.join(dir, 'up-pglite'),
      spoolDir,
      logger: silentLogger,
    });
    try {
      expect(up.health()).toMatchObject({ available: true, spooled: 0 });
      const stored = await up.queryRecognitionEvents();
      expect(stored.map((e) => [e.id, e.access])).toEqual([
        [old.id, null],
        [written[2]?.id, null],
        [written[1]?.id, { verdict: 'granted', reason: 'role staff' }],
        [written[0]?.id, { verdict: 'denied', reason: 'staff: not allowed at gate_1' }],
      ]);
      expect(stored[0]).toMatchObject({ trackId: 't9', matchedUserId: 'U1' });
      expect((await up.queryRecognitionEvents({ access: 'denied' })).map((e) => e.id)).toEqual([written[0]?.id]);
    } finally {
      await up.close();
    }
  });
});

it('exports the verdicts from the storage front door', () => {
  expect(ACCESS_VERDICTS).toEqual(['granted', 'denied', 'unknown']);
});
