import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SqlDbStore } from '../../storage/db/sql-db-store.js';
import { silentLogger } from '../../storage/logger.js';
import { type DisposablePostgres, startPostgres } from '../helpers/disposable-postgres.js';
import { type DisposableRedis, startRedis } from '../helpers/disposable-redis.js';
import { freePort } from '../helpers/free-port.js';
import { startRtspServer, type RtspTestServer } from '../helpers/rtsp-server.js';
import { spawnServe } from '../helpers/serve-process.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';
import { until } from '../helpers/until.js';

let dir: string;
let postgres: DisposablePostgres;
let redis: DisposableRedis;
let camera: RtspTestServer;

async function recognitionEvents(): Promise<{ matched_user_id: string | null; is_unknown: boolean }[]> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    return (
      await client.query<{ matched_user_id: string | null; is_unknown: boolean }>(
        'SELECT matched_user_id, is_unknown FROM recognition_events',
      )
    ).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-serve-'));
  [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  camera = await startRtspServer({
    images: [path.join(FACES_DIR, 'obama', 'obama3.jpg'), path.join(FACES_DIR, 'biden', 'biden.jpg')],
    secondsPerImage: 4,
    width: 1280,
    height: 720,
  });
});
afterAll(async () => {
  await camera.stop();
  await Promise.all([postgres.stop(), redis.stop()]);
  await rm(dir, { recursive: true, force: true });
});

describe('facegate serve', () => {
  it('enrolls over the API, recognises from a real RTSP camera, shows the event through the API, and a SIGTERM during a database outage loses no spooled event', async () => {
    const config = path.join(dir, 'facegate.yaml');
    const port = await freePort();
    await writeFile(
      config,
      [
        `dataDir: ${JSON.stringify(path.join(dir, 'data'))}`,
        `modelsDir: ${JSON.stringify(MODELS_DIR)}`,
        `database: { url: ${JSON.stringify(postgres.url)} }`,
        `redis: { url: ${JSON.stringify(redis.url)} }`,
        'inference: { provider: cpu }',
        `api: { port: ${port} }`,
        'cameras:',
        `  - { id: gate_1, url: ${JSON.stringify(camera.url)}, fps: 5, width: 1280, height: 720, watchdogSeconds: 2 }`,
      ].join('\n'),
    );
    const serve = spawnServe(config);
    try {
      await until('the service to be up', () => /"msg":"facegate running"/.test(serve.log), 60_000);
      const api = `http://127.0.0.1:${port}`;
      const token = (await readFile(path.join(dir, 'data', 'api-token'), 'utf8')).trim();
      const auth = { authorization: `Bearer ${token}` };
      // Enrolled over the API from four photos; the camera shows a fifth, never seen.
      const form = new FormData();
      form.set('userId', 'obama');
      form.set('name', 'Obama');
      for (const f of ['obama.jpg', 'obama2.jpg', 'obama-480p.jpg', 'obama_small.jpg']) {
        form.append('images', new Blob([await readFile(path.join(FACES_DIR, 'obama', f))], { type: 'image/jpeg' }), f);
      }
      const enrolled = await fetch(`${api}/users`, { method: 'POST', headers: auth, body: form });
      expect(enrolled.status).toBe(201);
      expect(await enrolled.json()).toMatchObject({ userId: 'obama', embeddings: 4 });
      expect((await fetch(`${api}/events`)).status).toBe(401);

      await until(
        'the known event through the API',
        async () => {
          const res = await fetch(`${api}/events?camera=gate_1`, { headers: auth });
          const { events } = (await res.json()) as { events: { matchedUserId: string | null }[] };
          return events.some((e) => e.matchedUserId === 'obama');
        },
        60_000,
      );
      expect((await recognitionEvents()).some((e) => e.matched_user_id === 'obama')).toBe(true);

      // The database goes away; the stranger on the next slide is decided and spooled.
      await postgres.kill();
      const decisionsBefore = (serve.log.match(/"msg":"(recognised [^"]*|unknown face)"/g) ?? []).length;
      await until(
        'a decision made during the outage',
        () => (serve.log.match(/"msg":"(recognised [^"]*|unknown face)"/g) ?? []).length > decisionsBefore,
        30_000,
      );
      expect(await serve.stop()).toBe(0);
      expect(serve.log).toMatch(/"msg":"facegate stopped"/);
    } finally {
      await serve.kill();
    }

    // After the outage, the next start of the store replays the spool: nothing was lost.
    await postgres.restart();
    const before = await recognitionEvents();
    const store = await SqlDbStore.open({
      databaseUrl: postgres.url,
      pgliteDir: path.join(dir, 'unused'),
      spoolDir: path.join(dir, 'data', 'spool'),
      logger: silentLogger,
    });
    expect(store.health()).toMatchObject({ available: true, spooled: 0 });
    await store.close();
    const after = await recognitionEvents();
    expect(after.length).toBeGreaterThan(before.length);
    expect(after.some((e) => e.is_unknown)).toBe(true);
  });
});
