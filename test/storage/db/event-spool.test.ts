import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';

import { EventSpool, type SpooledEvent } from '../../../storage/db/event-spool.js';
import { migrate, readMigrations } from '../../../storage/db/migrate.js';
import { connectPostgres } from '../../../storage/db/sql-client.js';
import { SqlDbStore } from '../../../storage/db/sql-db-store.js';
import { uuidv7 } from '../../../storage/db/uuid7.js';
import { silentLogger } from '../../../storage/logger.js';
import { mountSmallDisk } from '../../helpers/full-disk.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-spool-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const camera = (n: number): SpooledEvent => ({ kind: 'camera', event: { id: uuidv7(), n } });

describe('EventSpool', () => {
  it('cuts a half-written last line at open, so the next acknowledged event is not lost inside it', async () => {
    const first = await EventSpool.open(dir, silentLogger);
    await first.append([camera(1)]);
    await first.close();
    await appendFile(path.join(dir, 'events.jsonl'), '{"kind":"camera","event":{"id":"01'); // a power cut mid-write
    const spool = await EventSpool.open(dir, silentLogger);
    expect(spool.size()).toBe(1);
    await spool.append([camera(2)]);
    const seen: unknown[] = [];
    expect(await spool.replay((batch) => Promise.resolve(void seen.push(...batch.map((e) => e.event.n))))).toBe(2);
    expect(seen).toEqual([1, 2]);
  });

  it('rejects an append the disk takes only part of (a short write) and leaves no half line behind', async () => {
    const disk = await mountSmallDisk('spool', 1024 * 1024);
    try {
      const at = path.join(disk.dir, 'spool');
      const spool = await EventSpool.open(at, silentLogger);
      await spool.append([camera(1)]);
      const before = await readFile(path.join(at, 'events.jsonl'));
      // 16 KiB free for a 64 KiB batch: write(2) takes part of it without an error, then ENOSPC.
      await disk.fill(16 * 1024);
      await disk.free(); // the 16 KiB fill() set aside
      const big = (n: number): SpooledEvent => ({
        kind: 'camera',
        event: { id: uuidv7(), n, pad: 'x'.repeat(32 * 1024) },
      });
      await expect(spool.append([big(2), big(3)])).rejects.toMatchObject({ code: 'ENOSPC' });
      expect(await readFile(path.join(at, 'events.jsonl'))).toEqual(before);
      await disk.free(true);
      await spool.append([camera(4)]);
      const seen: unknown[] = [];
      await spool.replay((batch) => Promise.resolve(void seen.push(...batch.map((e) => e.event.n))));
      expect(seen).toEqual([1, 4]);
      await spool.close();
    } finally {
      await disk.free(true);
      await disk.unmount();
    }
  });

  it('keeps what was not inserted when a replay fails, and replays it next time', async () => {
    const spool = await EventSpool.open(dir, silentLogger);
    await spool.append([camera(1), camera(2)]);
    await expect(spool.replay(() => Promise.reject(new Error('still down')))).rejects.toThrow('still down');
    expect(spool.size()).toBe(2);
    await spool.append([camera(3)]);
    const seen: unknown[] = [];
    expect(await spool.replay((batch) => Promise.resolve(void seen.push(...batch.map((e) => e.event.n))))).toBe(3);
    expect(seen).toEqual([1, 2, 3]);
    expect(spool.size()).toBe(0);
  });
});

describe('replay with a row the database refuses', () => {
  const schema = uniqueSchema();
  afterAll(async () => {
    await dropSchema(SHARED_POSTGRES_URL, schema);
  });

  it('dead-letters that row, replays the rest, and stays writable', async () => {
    const setup = connectPostgres(SHARED_POSTGRES_URL, schema, silentLogger);
    await setup.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await migrate(setup);
    await setup.close();
    const good = {
      id: uuidv7(),
      timestamp: new Date().toISOString(),
      cameraId: 'cam_1',
      eventType: 'connected',
      details: {},
    };
    const bad = {
      id: 'not-a-uuid',
      timestamp: new Date().toISOString(),
      cameraId: 'cam_1',
      eventType: 'x',
      details: {},
    };
    const spoolDir = path.join(dir, 'spool');
    await EventSpool.open(spoolDir, silentLogger).then((s) => s.close());
    await writeFile(
      path.join(spoolDir, 'events.jsonl'),
      [good, bad].map((event) => `${JSON.stringify({ kind: 'camera', event })}\n`).join(''),
    );
    const db = await SqlDbStore.open({
      databaseUrl: SHARED_POSTGRES_URL,
      schema,
      pgliteDir: path.join(dir, 'pglite'),
      spoolDir,
      logger: silentLogger,
    });
    try {
      expect(db.health()).toMatchObject({ available: true, spooled: 0 });
      expect((await db.queryCameraEvents()).map((e) => e.id)).toEqual([good.id]);
      const dead = (await readFile(path.join(spoolDir, 'dead-letter.jsonl'), 'utf8')).trim().split('\n');
      expect(dead).toHaveLength(1);
      expect(JSON.parse(dead[0] as string)).toMatchObject({
        kind: 'camera',
        event: { id: 'not-a-uuid' },
        reason: expect.stringMatching(/uuid/) as string,
      });
      await expect(db.createUser({ id: 'U1', name: 'Still writable' })).resolves.toBeDefined();
    } finally {
      await db.close();
    }
  });
});

describe('migrations from two processes at once', () => {
  const schema = uniqueSchema();
  afterAll(async () => {
    await dropSchema(SHARED_POSTGRES_URL, schema);
  });

  it('take turns on an empty database instead of colliding', async () => {
    const clients = Array.from({ length: 6 }, () => connectPostgres(SHARED_POSTGRES_URL, schema, silentLogger));
    await clients[0]?.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    const results = await Promise.allSettled(clients.map((c) => migrate(c)));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const applied = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    // Each migration once, whichever process applied it: the lock is taken per migration, so one
    // process may apply the first ones and another the rest (likelier with four migrations than two).
    expect([...applied].sort()).toEqual((await readMigrations()).map((m) => m.name).sort());
    await Promise.all(clients.map((c) => c.close()));
  });
});
