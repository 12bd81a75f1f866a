// A PostgreSQL that turns read-only while the appliance runs (default_transaction_read_only, as a
// hot standby after a failover answers): SQLSTATE 25006 is the database refusing writes, so the
// API answers 503 read-only like an outage, /health says so, and a refused write changes nothing.
// A disposable server (never the shared one: ALTER SYSTEM changes the whole cluster), the real
// models, the real stores.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { enroll } from '../../../src/recognition/enrollment.js';
import { openVision, type Vision } from '../../../src/vision/index.js';
import { openStorage, parseStorageConfig, type Storage } from '../../../storage/index.js';
import { type DisposablePostgres, startPostgres } from '../../helpers/disposable-postgres.js';
import { multipart } from '../../helpers/multipart.js';
import { FACES_DIR, MODELS_DIR } from '../../helpers/shared-data.js';
import { openTestApi } from '../../helpers/test-api.js';
import { until } from '../../helpers/until.js';

const REFUSED = 'read-only: database refuses writes (read_only_sql_transaction)';

let server: DisposablePostgres;
let vision: Vision;
let dataRoot: string;
let storage: Storage;
let app: FastifyInstance;
let token: string;

async function photos(folder: string, files: string[]) {
  return Promise.all(files.map(async (f) => ({ name: f, bytes: await fs.readFile(path.join(FACES_DIR, folder, f)) })));
}

/** The whole cluster read-only (or writable again), as an operator or a failover would make it. */
async function setReadOnly(on: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(
      on ? 'ALTER SYSTEM SET default_transaction_read_only = on' : 'ALTER SYSTEM RESET default_transaction_read_only',
    );
    await client.query('SELECT pg_reload_conf()');
  } finally {
    await client.end();
  }
  // The reload reaches the backends asynchronously: wait until a fresh session sees it.
  await until(`the server to be ${on ? 'read-only' : 'writable'}`, async () => {
    const probe = new pg.Client({ connectionString: server.url });
    await probe.connect();
    try {
      const [row] = (await probe.query<{ transaction_read_only: string }>('SHOW transaction_read_only')).rows;
      return row?.transaction_read_only === (on ? 'on' : 'off');
    } finally {
      await probe.end();
    }
  });
}

const auth = () => ({ authorization: `Bearer ${token}` });
const metadataFile = () => path.join(dataRoot, 'images', 'users', 'O1', 'metadata.json');
const health = async () =>
  (await app.inject({ method: 'GET', url: '/health', headers: auth() })).json<{
    status: string;
    database: { available: boolean; lastError: string | null };
  }>();

async function postEnroll(userId: string) {
  // Someone else (obama's photos would be refused as O1's face before any write).
  const files = ['Colin_Powell_0001.jpg', 'Colin_Powell_0002.jpg', 'Colin_Powell_0003.jpg'];
  const images = (await photos(path.join('lfw10', 'Colin_Powell'), files)).map((p) => ({
    name: 'images',
    filename: p.name,
    bytes: p.bytes,
  }));
  const { payload, headers } = multipart([
    { name: 'userId', value: userId },
    { name: 'name', value: `User ${userId}` },
    ...images,
  ]);
  return app.inject({ method: 'POST', url: '/users', payload, headers: { ...headers, ...auth() } });
}

beforeAll(async () => {
  [server, vision] = await Promise.all([startPostgres(), openVision({ modelsDir: MODELS_DIR, provider: 'cpu' })]);
  dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-pgreadonly-'));
  storage = await openStorage(parseStorageConfig({ dataRoot, databaseUrl: server.url }), {
    embeddingModel: { id: vision.embedder.modelId, dim: vision.embedder.dim },
  });
  const images = await photos('obama', ['obama.jpg', 'obama2.jpg', 'obama3.jpg', 'obama-480p.jpg']);
  expect(
    (await enroll({ analyzer: vision.analyzer, storage }, { userId: 'O1', name: 'Barack Obama', images })).embeddings,
  ).toBe(4);
  ({ app, token } = await openTestApi({ dataRoot, vision, storage, close: () => Promise.resolve() }));
}, 120_000);
afterAll(async () => {
  await app?.close();
  await storage?.close();
  await server?.stop();
  if (dataRoot) await fs.rm(dataRoot, { recursive: true, force: true });
});

describe('PostgreSQL turned read-only after start (SQLSTATE 25006)', () => {
  it('answers 503 read-only to writes, reports it in /health, changes nothing, and recovers', async () => {
    const metadataBefore = await fs.readFile(metadataFile(), 'utf8');
    expect((await health()).status).toBe('ok');
    await setReadOnly(true);

    // The first write to meet the refusal: the delete's own transaction gets 25006.
    const del = await app.inject({ method: 'DELETE', url: '/users/O1', headers: auth() });
    expect(del.statusCode, del.body).toBe(503);
    expect(del.json<{ error: string }>().error).toContain(REFUSED);
    // Its kept_originals mark is undone: the record is byte for byte what it was.
    expect(await fs.readFile(metadataFile(), 'utf8')).toBe(metadataBefore);
    // Read-only until the server takes writes again: the probe does not take SELECT 1 for writable.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const during = await health();
    expect(during.status).toBe('read-only');
    expect(during.database.available).toBe(false);

    const created = await postEnroll('O2');
    expect(created.statusCode, created.body).toBe(503);
    expect(created.json<{ error: string }>().error).toContain(REFUSED);
    const disabled = await app.inject({ method: 'POST', url: '/users/O1/disable', headers: auth() });
    expect(disabled.statusCode, disabled.body).toBe(503);
    expect(disabled.json<{ error: string }>().error).toContain(REFUSED);
    await expect(fs.access(path.join(dataRoot, 'images', 'users', 'O2'))).rejects.toThrow();

    await setReadOnly(false);
    await until('the store to notice the server takes writes again', async () => (await health()).status === 'ok');
    expect((await storage.db.getUser('O1'))?.status).toBe('active');
    expect(await storage.db.getUser('O2')).toBeNull();
    expect(await fs.readFile(metadataFile(), 'utf8')).toBe(metadataBefore);
    expect(storage.embeddings.stats().count).toBe(4);
  }, 120_000);

  it('refuses an enrollment whose own transaction meets the refusal, leaving no rows and no files', async () => {
    await setReadOnly(true);
    const created = await postEnroll('O3');
    expect(created.statusCode, created.body).toBe(503);
    expect(created.json<{ error: string }>().error).toContain(REFUSED);
    await expect(fs.access(path.join(dataRoot, 'images', 'users', 'O3'))).rejects.toThrow();
    expect((await health()).status).toBe('read-only');

    await setReadOnly(false);
    await until('the store to notice the server takes writes again', async () => (await health()).status === 'ok');
    expect(await storage.db.getUser('O3')).toBeNull();
    expect((await storage.db.getUser('O1'))?.status).toBe('active');
  }, 120_000);
});
