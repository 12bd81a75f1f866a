import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ApiDeps } from '../../src/api/api-deps.js';
import { buildApi } from '../../src/api/server.js';
import { loadOrCreateToken, TOKEN_FILE } from '../../src/api/token.js';
import { type Vision } from '../../src/vision/index.js';
import { type Storage } from '../../storage/index.js';
import { multipart, type Part } from '../helpers/multipart.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { openTestApi } from '../helpers/test-api.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';

let appliance: TestAppliance;
let dataRoot: string;
let vision: Vision;
let storage: Storage;
let deps: ApiDeps;
let token: string;
let app: FastifyInstance;

const auth = () => ({ authorization: `Bearer ${token}` });

async function photos(folder: string): Promise<Part[]> {
  const files = (await fs.readdir(path.join(FACES_DIR, folder))).filter((f) => /\.jpe?g$/i.test(f)).sort();
  return Promise.all(
    files.map(async (f) => ({
      name: 'images',
      filename: f,
      bytes: await fs.readFile(path.join(FACES_DIR, folder, f)),
    })),
  );
}

async function postEnroll(target: FastifyInstance, userId: string, images: Part[]) {
  const { payload, headers } = multipart([
    { name: 'userId', value: userId },
    { name: 'name', value: `User ${userId}` },
    ...images,
  ]);
  return target.inject({ method: 'POST', url: '/users', payload, headers: { ...headers, ...auth() } });
}

/** Nothing of any user anywhere: rows, image folders, index vectors. */
async function expectNothingWritten(): Promise<void> {
  expect(await storage.db.listUsers()).toEqual([]);
  expect(await storage.images.listUsers()).toEqual([]);
  expect(storage.embeddings.stats().count).toBe(0);
}

beforeAll(async () => {
  appliance = await openTestAppliance('api');
  ({ dataRoot, vision, storage } = appliance);
  ({ app, deps, token } = await openTestApi(appliance));
}, 120_000);

afterAll(async () => {
  await app?.close();
  await appliance?.close();
});

describe('API token', () => {
  it('is created once with owner-only permissions and read back afterwards', async () => {
    const file = path.join(dataRoot, TOKEN_FILE);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    if (process.platform !== 'win32') expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateToken(dataRoot)).toBe(token);
  });

  it('refuses an existing token file that is empty or malformed', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-token-'));
    try {
      await fs.writeFile(path.join(dir, TOKEN_FILE), '');
      await expect(loadOrCreateToken(dir)).rejects.toThrow(/empty file/);
      await fs.writeFile(path.join(dir, TOKEN_FILE), 'not a token\n');
      await expect(loadOrCreateToken(dir)).rejects.toThrow(/api-token/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('HTTP API refusals', () => {
  it('answers 401 without a token', async () => {
    const res = await app.inject({ method: 'GET', url: '/users' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: expect.stringMatching(/Bearer/) as unknown });
  });

  it('answers 401 with a wrong token, of the same length or not', async () => {
    for (const wrong of ['x', `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`]) {
      const res = await app.inject({ method: 'GET', url: '/health', headers: { authorization: `Bearer ${wrong}` } });
      expect(res.statusCode).toBe(401);
    }
    const basic = await app.inject({ method: 'GET', url: '/health', headers: { authorization: `Basic ${token}` } });
    expect(basic.statusCode).toBe(401);
  });

  it('refuses path-traversal and reserved-name user ids with 400 and writes nothing', async () => {
    const [photo] = await photos('obama');
    for (const userId of ['../x', 'CON', 'a:b']) {
      const res = await postEnroll(app, userId, [photo as Part]);
      expect(res.statusCode, userId).toBe(400);
      expect(res.json<{ error: string }>().error).toMatch(/Expected a user id/);
    }
    for (const url of ['/users/CON', '/users/a:b', '/users/..%2Fx']) {
      const res = await app.inject({ method: 'GET', url, headers: auth() });
      expect(res.statusCode, url).toBe(400);
    }
    await expectNothingWritten();
  });

  it('refuses an upload over the body limit with 413 and writes nothing', async () => {
    const small = buildApi(deps, { token, bodyLimitBytes: 200_000 });
    try {
      const big = await fs.readFile(path.join(FACES_DIR, 'obama', 'obama.jpg'));
      expect(big.length).toBeGreaterThan(200_000);
      const res = await postEnroll(small, 'big_upload', [{ name: 'images', filename: 'obama.jpg', bytes: big }]);
      expect(res.statusCode).toBe(413);
      expect(res.json<{ error: string }>().error).toMatch(/at most 200000 bytes/);
      // Streamed without a Content-Length: refused while reading, before anything is kept.
      const { payload, headers } = multipart([
        { name: 'userId', value: 'big_stream' },
        { name: 'name', value: 'Big' },
        { name: 'images', filename: 'obama.jpg', bytes: big },
      ]);
      const streamed = await small.inject({
        method: 'POST',
        url: '/users',
        payload: Readable.from([payload]),
        headers: { ...headers, ...auth() },
      });
      expect(streamed.statusCode).toBe(413);
      expect(streamed.json<{ error: string }>().error).toMatch(/each image to be at most 200000 bytes/);
    } finally {
      await small.close();
    }
    await expectNothingWritten();
  });

  it('refuses a garbage image with 422 and the reason', async () => {
    const { payload, headers } = multipart([
      { name: 'image', filename: 'x.jpg', bytes: Buffer.from('this is not a photo at all') },
    ]);
    const res = await app.inject({ method: 'POST', url: '/identify', payload, headers: { ...headers, ...auth() } });
    expect(res.statusCode).toBe(422);
    expect(res.json<{ error: string }>().error).toMatch(/^corrupted image: .*plain text/);

    const jpeg = await fs.readFile(path.join(FACES_DIR, 'obama', 'obama_small.jpg'));
    const truncated = multipart([{ name: 'image', filename: 'cut.jpg', bytes: jpeg.subarray(0, jpeg.length / 2) }]);
    const cut = await app.inject({
      method: 'POST',
      url: '/identify',
      payload: truncated.payload,
      headers: { ...truncated.headers, ...auth() },
    });
    expect(cut.statusCode).toBe(422);
    expect(cut.json<{ error: string }>().error).toMatch(/^corrupted image: /);
    await expectNothingWritten();
  });

  it('refuses a body that is not multipart, and unknown routes, with a JSON error', async () => {
    const json = await app.inject({ method: 'POST', url: '/identify', payload: { image: 'x' }, headers: auth() });
    expect(json.statusCode).toBe(415);
    const missing = await app.inject({ method: 'GET', url: '/nope', headers: auth() });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toHaveProperty('error');
  });
});

describe('HTTP API enrollment and identification', () => {
  it('enrolls obama from five photos', async () => {
    const res = await postEnroll(app, 'obama', await photos('obama'));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toEqual({
      userId: 'obama',
      embeddings: 5,
      skipped: [],
      nearest: null,
      lookalikes: [],
      threshold: expect.any(Number) as number,
    });
    expect(storage.embeddings.stats().count).toBe(5);
  }, 60_000);

  it('answers 409 when the user already exists', async () => {
    const res = await postEnroll(app, 'obama', (await photos('obama')).slice(0, 1));
    expect(res.statusCode).toBe(409);
  });

  it('refuses to enroll biden from two photos with 422 and the skipped list', async () => {
    const res = await postEnroll(app, 'biden', await photos('biden'));
    expect(res.statusCode).toBe(422);
    const body = res.json<{ error: string; skipped: unknown[] }>();
    expect(body.error).toMatch(/at least 3 needed/);
    // The two photos score 0.543 together, next to the 0.54 default: whether they count as one
    // person (both usable, the count fails) or not (both skipped as not matching each other) may
    // differ by CPU in the last digit; refused either way, and a skip says why.
    for (const s of body.skipped)
      expect(s).toMatchObject({ reason: expect.stringMatching(/does not match the other photos/) as string });
    expect(await storage.db.getUser('biden')).toBeNull();
  }, 60_000);

  it('identifies obama and one unknown face in two_people.jpg', async () => {
    const bytes = await fs.readFile(path.join(FACES_DIR, 'mixed', 'two_people.jpg'));
    const { payload, headers } = multipart([{ name: 'image', filename: 'two_people.jpg', bytes }]);
    const res = await app.inject({ method: 'POST', url: '/identify', payload, headers: { ...headers, ...auth() } });
    expect(res.statusCode, res.body).toBe(200);
    const { faces } = res.json<{
      faces: {
        box: number[];
        quality: number;
        decision: string;
        userId: string | null;
        score: number;
        reason: string;
      }[];
    }>();
    expect(faces).toHaveLength(2);
    const known = faces.filter((f) => f.decision === 'known');
    const unknown = faces.filter((f) => f.decision === 'unknown');
    expect(known.map((f) => f.userId)).toEqual(['obama']);
    expect(unknown).toHaveLength(1);
    expect(unknown[0]?.userId).toBeNull();
    for (const f of faces) {
      expect(f.box).toHaveLength(4);
      expect(typeof f.reason).toBe('string');
    }
  }, 60_000);

  it('lists, shows, disables, enables and deletes a user', async () => {
    const list = await app.inject({ method: 'GET', url: '/users', headers: auth() });
    expect(list.json<{ users: { id: string }[] }>().users.map((u) => u.id)).toEqual(['obama']);
    const show = await app.inject({ method: 'GET', url: '/users/obama', headers: auth() });
    expect(show.json()).toMatchObject({ user: { id: 'obama', status: 'active' }, embeddings: 5 });
    expect((await app.inject({ method: 'GET', url: '/users/nobody', headers: auth() })).statusCode).toBe(404);

    const disable = await app.inject({ method: 'POST', url: '/users/obama/disable', headers: auth() });
    expect(disable.json()).toMatchObject({ user: { status: 'disabled' } });
    expect(deps.users.statusOf('obama')).toBe('disabled');
    const enable = await app.inject({ method: 'POST', url: '/users/obama/enable', headers: auth() });
    expect(enable.json()).toMatchObject({ user: { status: 'active' } });
    expect(deps.users.statusOf('obama')).toBe('active');

    const del = await app.inject({ method: 'DELETE', url: '/users/obama?purgeImages=true', headers: auth() });
    expect(del.statusCode).toBe(200);
    expect(del.json()).toMatchObject({ userId: 'obama', embeddings: 5 });
    expect(deps.users.statusOf('obama')).toBeUndefined();
    await expectNothingWritten();
  });
});

describe('HTTP API events, health and metrics', () => {
  it('queries recognition and camera events with filters, and refuses bad ones', async () => {
    await storage.db.recordRecognition({
      timestamp: new Date(),
      cameraId: 'cam_1',
      matchedUserId: null,
      confidence: 0.2,
    });
    const res = await app.inject({ method: 'GET', url: '/events?camera=cam_1&limit=10', headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(res.json<{ events: { cameraId: string }[] }>().events.map((e) => e.cameraId)).toEqual(['cam_1']);
    const cams = await app.inject({ method: 'GET', url: '/events/cameras', headers: auth() });
    expect(cams.json()).toEqual({ events: [] });
    expect((await app.inject({ method: 'GET', url: '/events?limit=5000', headers: auth() })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/events?since=yesterday', headers: auth() })).statusCode).toBe(400);
  });

  it('reports health', async () => {
    const res = await app.inject({ method: 'GET', url: '/health', headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'ok',
      database: { available: true, spooled: 0 },
      cache: { degraded: false },
      embeddings: { count: 0, dim: vision.embedder.dim },
      cameras: [],
      inference: { detector: { provider: 'cpu' }, embedder: { provider: 'cpu' } },
      pipeline: { running: false, queueDepth: 0 },
    });
  });

  it('reports a camera that is offline as degraded', async () => {
    const withCamera = buildApi(
      {
        ...deps,
        cameraStats: () => [
          { cameraId: 'cam_1', state: 'offline', framesReceived: 0, framesDropped: 3, lastFrameAt: null },
        ],
      },
      { token },
    );
    try {
      const health = await withCamera.inject({ method: 'GET', url: '/health', headers: auth() });
      expect(health.json()).toMatchObject({ status: 'degraded', cameras: [{ cameraId: 'cam_1', up: false }] });
      const metrics = await withCamera.inject({ method: 'GET', url: '/metrics', headers: auth() });
      expect(metrics.body).toContain('facegate_frames_dropped_total{camera="cam_1"} 3');
      expect(metrics.body).toContain('facegate_camera_up{camera="cam_1"} 0');
    } finally {
      await withCamera.close();
    }
  });

  it('serves metrics in the Prometheus text format', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const name of [
      'facegate_frames_total',
      'facegate_faces_total',
      'facegate_decisions_total',
      'facegate_queue_depth',
      'facegate_frames_dropped_total',
      'facegate_spool_events',
      'facegate_index_vectors',
      'facegate_unknown_open_faces',
      'facegate_decision_latency_ms',
      'facegate_camera_up',
    ]) {
      expect(res.body).toContain(`# HELP ${name} `);
      expect(res.body).toMatch(new RegExp(`# TYPE ${name} (counter|gauge|summary)\\n`));
    }
    expect(res.body).toContain('facegate_decisions_total{outcome="known"} 0');
    expect(res.body).toContain(`facegate_unknown_open_faces ${deps.grouping.size}\n`);
    expect(res.body).toContain('facegate_decision_latency_ms{quantile="0.99"} NaN');
    // Every sample line: a name, optional labels, a number.
    for (const line of res.body
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-z_]+(\{[a-z]+="[^"]*"\})? (-?[0-9.e+]+|NaN)$/);
    }
  });
});
