import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { migrate, readMigrations } from '../../../storage/db/migrate.js';
import { connectPostgres, openPglite, type SqlClient } from '../../../storage/db/sql-client.js';
import { uuidv7 } from '../../../storage/db/uuid7.js';
import { silentLogger } from '../../../storage/logger.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';

const schema = uniqueSchema();
let dir: string;

const engines: { name: string; open: () => Promise<SqlClient> }[] = [
  {
    name: 'PostgreSQL 15 server',
    open: async () => {
      const c = connectPostgres(SHARED_POSTGRES_URL, schema, silentLogger);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      return c;
    },
  },
  { name: 'PGlite', open: () => openPglite(path.join(dir, 'pglite'), undefined) },
];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-db-'));
});
afterAll(async () => {
  await dropSchema(SHARED_POSTGRES_URL, schema);
  await rm(dir, { recursive: true, force: true });
});

describe.each(engines)('migrations on $name', ({ open }) => {
  let db: SqlClient;
  beforeAll(async () => {
    db = await open();
  });
  afterAll(async () => {
    await db.close();
  });

  it('apply on a fresh database and record each version', async () => {
    const all = await readMigrations();
    expect(all.map((m) => m.name)).toContain('001_initial.sql');
    expect(await migrate(db)).toEqual(all.map((m) => m.name));
    const recorded = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(recorded.map((r) => r.version)).toEqual(all.map((m) => m.version));
  });

  it('are idempotent: a second run applies nothing and keeps the data', async () => {
    await db.query("INSERT INTO users (id, name) VALUES ('U1', 'Ada')");
    expect(await migrate(db)).toEqual([]);
    expect(await db.query('SELECT id FROM users')).toEqual([{ id: 'U1' }]);
  });

  describe.each(['recognition_events', 'camera_events', 'review_actions'])(
    '%s is append-only in the database itself',
    (table) => {
      const id = uuidv7();
      beforeAll(async () => {
        if (table === 'recognition_events') {
          await db.query(
            `INSERT INTO recognition_events (id, "timestamp", camera_id, matched_user_id, confidence, is_unknown)
           VALUES ($1, now(), 'cam1', NULL, 0.1, true)`,
            [id],
          );
        } else if (table === 'review_actions') {
          await db.query(
            `INSERT INTO review_actions (id, "timestamp", actor, action, group_id) VALUES ($1, now(), 'cli:ada', 'dismiss', 1)`,
            [id],
          );
        } else {
          await db.query(
            `INSERT INTO camera_events (id, camera_id, event_type, "timestamp") VALUES ($1, 'cam1', 'connected', now())`,
            [id],
          );
        }
      });

      it.each([
        ['UPDATE', `UPDATE ${table} SET "timestamp" = now() - interval '1 day'`],
        ['DELETE', `DELETE FROM ${table}`],
        // CASCADE: recognition_events is referenced by unknown_faces; the trigger still refuses.
        ['TRUNCATE', `TRUNCATE ${table} CASCADE`],
      ])('rejects %s', async (op, sql) => {
        await expect(db.query(sql)).rejects.toThrow(new RegExp(`append-only: ${op} on ${table} is not allowed`));
        expect(await db.query(`SELECT id FROM ${table}`)).toEqual([{ id }]);
      });

      it('still accepts inserts', async () => {
        expect((await db.query(`SELECT count(*)::int AS n FROM ${table}`))[0]).toEqual({ n: 1 });
      });
    },
  );
});
