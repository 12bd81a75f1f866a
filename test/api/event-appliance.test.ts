// GET /events?appliance= and GET /events/cameras?appliance= (issue 18): two appliances write into one
// PostgreSQL schema; the API of one lists both appliances' events, each with its id, filters by
// appliance, and refuses an id that breaks storage's rule with storage's message (400).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cameralessApiDeps } from '../../src/api/api-deps.js';
import { buildApi } from '../../src/api/server.js';
import { loadOrCreateToken } from '../../src/api/token.js';
import { UserDirectory } from '../../src/recognition/user-directory.js';
import { openVision, type Vision } from '../../src/vision/index.js';
import { type DbStore, openDbStore, openStorage, parseStorageConfig, type Storage } from '../../storage/index.js';
import { MODELS_DIR } from '../helpers/shared-data.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../helpers/shared-servers.js';

const schema = uniqueSchema();
let dataRoot: string;
let vision: Vision;
let storage: Storage;
let siteB: DbStore;
let app: FastifyInstance;
let token: string;

beforeAll(async () => {
  dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-api-appliance-'));
  vision = await openVision({ modelsDir: MODELS_DIR, provider: 'cpu' });
  storage = await openStorage(
    parseStorageConfig({ dataRoot, databaseUrl: SHARED_POSTGRES_URL, applianceId: 'site-a' }),
    { embeddingModel: { id: vision.embedder.modelId, dim: vision.embedder.dim }, schema },
  );
  siteB = await openDbStore({
    databaseUrl: SHARED_POSTGRES_URL,
    schema,
    pgliteDir: path.join(dataRoot, 'site-b-db'),
    spoolDir: path.join(dataRoot, 'site-b-spool'),
    applianceId: 'site-b',
  });
  const users = new UserDirectory(storage.db, storage.embeddings.modelId);
  await users.refresh();
  token = await loadOrCreateToken(dataRoot);
  app = buildApi(cameralessApiDeps({ storage, vision, users }), { token });
  await app.ready();
}, 120_000);
afterAll(async () => {
  await app?.close();
  await siteB?.close();
  await storage?.close();
  await dropSchema(SHARED_POSTGRES_URL, schema);
  await fs.rm(dataRoot, { recursive: true, force: true });
});

const auth = () => ({ authorization: `Bearer ${token}` });
const at = (s: number) => new Date(Date.UTC(2026, 11, 3, 8, 0, s));

describe('GET /events with appliances', () => {
  it('lists both appliances’ events with their ids, filters by appliance, and refuses a bad id', async () => {
    const a = await storage.db.recordRecognition({
      timestamp: at(1),
      cameraId: 'cam_01',
      matchedUserId: null,
      confidence: 0.2,
    });
    const b = await siteB.recordRecognition({
      timestamp: at(2),
      cameraId: 'cam_01',
      matchedUserId: null,
      confidence: 0.3,
    });
    const camB = await siteB.recordCameraEvent({ timestamp: at(3), cameraId: 'cam_01', eventType: 'connected' });

    type Listed = { events: { id: string; applianceId: string | null }[] };
    const get = async (url: string) => {
      const res = await app.inject({ method: 'GET', url, headers: auth() });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<Listed>().events.map((e) => [e.id, e.applianceId]);
    };
    expect(await get('/events')).toEqual([
      [b.id, 'site-b'],
      [a.id, 'site-a'],
    ]);
    expect(await get('/events?appliance=site-a')).toEqual([[a.id, 'site-a']]);
    expect(await get('/events?appliance=site-b&camera=cam_01')).toEqual([[b.id, 'site-b']]);
    expect(await get('/events?appliance=site-c')).toEqual([]);
    expect(await get('/events/cameras?appliance=site-b')).toEqual([[camB.id, 'site-b']]);
    expect(await get('/events/cameras?appliance=site-a')).toEqual([]);

    for (const bad of ['..%2Fx', 'CON', 'a%3Ab', '']) {
      const res = await app.inject({ method: 'GET', url: `/events?appliance=${bad}`, headers: auth() });
      expect(res.statusCode, `appliance=${bad}`).toBe(400);
      expect(res.json<{ error: string }>().error).toMatch(/^Expected an appliance id of 1-64 letters/);
    }
    const res = await app.inject({ method: 'GET', url: '/events/cameras?appliance=..%2Fx', headers: auth() });
    expect(res.json()).toEqual({
      error: `Expected an appliance id of 1-64 letters, digits, '_', '-' or '.' (not first), not a reserved Windows name but received "../x"`,
    });
  });
});
