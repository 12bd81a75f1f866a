import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RecognitionEvent } from '../../../storage/db/db-store.js';
import { SqlDbStore } from '../../../storage/db/sql-db-store.js';
import { ReadOnlyError } from '../../../storage/errors.js';
import { silentLogger } from '../../../storage/logger.js';
import { type DisposablePostgres, startPostgres } from '../../helpers/disposable-postgres.js';
import { until } from '../../helpers/until.js';

let server: DisposablePostgres;
let root: string;

beforeAll(async () => {
  server = await startPostgres();
  root = await mkdtemp(path.join(os.tmpdir(), 'facegate-pgfault-'));
});
afterAll(async () => {
  await server.stop();
  await rm(root, { recursive: true, force: true });
});

function open(name: string) {
  return SqlDbStore.open({
    databaseUrl: server.url,
    pgliteDir: path.join(root, name, 'pglite'),
    spoolDir: path.join(root, name, 'spool'),
    logger: silentLogger,
    probeMs: { min: 100, max: 400 },
  });
}

function event(i: number): RecognitionEvent {
  return {
    timestamp: new Date(Date.UTC(2026, 10, 24, 9, 0, 0, i)),
    cameraId: `cam_${i % 3}`,
    matchedUserId: null,
    confidence: 0.1,
  };
}

async function countById(db: SqlDbStore): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  let before: string | undefined;
  for (;;) {
    const page = await db.queryRecognitionEvents({ limit: 1000, ...(before ? { before } : {}) });
    for (const e of page) seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
    if (page.length < 1000) return seen;
    before = page[page.length - 1]?.id;
  }
}

describe('PostgreSQL outage (a disposable server, killed mid-run)', () => {
  it('spools events during the outage, refuses writes that need the database, and replays every event once', async () => {
    const db = await open('outage');
    await db.createUser({ id: 'U1', name: 'Before' });
    const written = [];
    for (let i = 0; i < 20; i++) written.push(await db.recordRecognition(event(i)));
    expect(written.every((w) => w.stored === 'database')).toBe(true);

    await server.kill();
    // The first write after the crash finds out; from then on the store is read-only.
    for (let i = 20; i < 320; i++) written.push(await db.recordRecognition(event(i)));
    written.push(await db.recordCameraEvent({ timestamp: new Date(), cameraId: 'cam_0', eventType: 'disconnected' }));
    expect(written.slice(21).every((w) => w.stored === 'spool')).toBe(true);
    expect(db.health()).toMatchObject({ available: false, spooled: expect.any(Number) as number });
    expect(db.health().spooled).toBeGreaterThanOrEqual(300);

    await expect(db.createUser({ id: 'U2', name: 'During' })).rejects.toThrow(ReadOnlyError);
    await expect(db.createUser({ id: 'U2', name: 'During' })).rejects.toThrow(
      'read-only: database unavailable (creating a user needs it)',
    );
    await expect(db.setUserStatus('U1', 'disabled')).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(db.deleteUser('U1')).rejects.toBeInstanceOf(ReadOnlyError);

    await server.restart();
    await until(
      'the store to notice the server and replay its spool',
      () => db.health().available && db.health().spooled === 0,
    );

    const counts = await countById(db);
    const recognitionIds = written.slice(0, 320).map((w) => w.id);
    expect(recognitionIds.filter((id) => counts.get(id) !== 1)).toEqual([]);
    expect(counts.size).toBe(320);
    expect((await db.queryCameraEvents()).map((e) => e.id)).toEqual([written[320]?.id]);
    expect((await db.getUser('U1'))?.status).toBe('active');
    await db.close();
  });

  it('starts read-only when the server is down, and catches up (migrations, then the spool) when it comes', async () => {
    await server.kill();
    const db = await open('cold');
    expect(db.health()).toMatchObject({ engine: 'postgres', available: false });
    const w = await db.recordCameraEvent({ timestamp: new Date(), cameraId: 'cam_9', eventType: 'connected' });
    expect(w.stored).toBe('spool');
    await server.restart();
    await until('the store to come up', () => db.health().available && db.health().spooled === 0);
    expect((await db.queryCameraEvents({ cameraId: 'cam_9' })).map((e) => e.id)).toEqual([w.id]);
    await db.close();
  });

  it('keeps events once when a replay is repeated after a crash (the journal survives the inserts)', async () => {
    await server.kill();
    const dir = 'repeat';
    const db = await open(dir);
    const spooled = [];
    for (let i = 1000; i < 1050; i++) spooled.push(await db.recordRecognition(event(i)));
    expect(spooled.every((w) => w.stored === 'spool')).toBe(true);
    await db.close();
    // Keep a copy of the journal: replaying it again is what a crash between the inserts and the
    // journal's removal would do.
    const journal = path.join(root, dir, 'spool', 'events.jsonl');
    await copyFile(journal, path.join(root, 'journal-copy.jsonl'));
    await server.restart();

    const first = await open(dir);
    expect(first.health()).toMatchObject({ available: true, spooled: 0 });
    await first.close();
    await copyFile(path.join(root, 'journal-copy.jsonl'), path.join(root, dir, 'spool', 'events.replaying.jsonl'));
    const second = await open(dir);
    expect(second.health()).toMatchObject({ available: true, spooled: 0 });
    const counts = await countById(second);
    expect(spooled.map((w) => counts.get(w.id))).toEqual(spooled.map(() => 1));
    await second.close();
  });
});
