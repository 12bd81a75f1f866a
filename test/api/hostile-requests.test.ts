// The HTTP API attacked as a hostile or careless client would: odd headers, malformed multipart,
// names with control characters, numbers and dates that Number() and Date.parse read too kindly,
// repeated parameters, huge images in parallel, and a disk that fills up under an enrollment.
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ApiDeps } from '../../src/api/api-deps.js';
import { buildApi } from '../../src/api/server.js';
import { loadOrCreateToken } from '../../src/api/token.js';
import { UserDirectory } from '../../src/recognition/user-directory.js';
import { withDecodedImage } from '../../src/vision/image-input.js';
import { openStorage, parseStorageConfig, type Storage } from '../../storage/index.js';
import type { Logger } from '../../storage/logger.js';
import { multipart, type Part } from '../helpers/multipart.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../helpers/shared-servers.js';
import { openTestApi } from '../helpers/test-api.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';

let appliance: TestAppliance;
let storage: Storage;
let deps: ApiDeps;
let token: string;
let app: FastifyInstance;
/** What the API logged, one pino record per line. */
let logged: { level: number; msg: string; err?: { stack?: string } }[];

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

function capturingLogger(): Logger {
  return pino(
    { level: 'debug' },
    { write: (line: string) => void logged.push(JSON.parse(line) as (typeof logged)[0]) },
  );
}

async function expectNothingWritten(target: Storage = storage): Promise<void> {
  expect(await target.db.listUsers()).toEqual([]);
  expect(await target.images.listUsers()).toEqual([]);
  expect(target.embeddings.stats().count).toBe(0);
}

/** A solid-colour PNG: a few kB of file that decodes to width x height x 3 bytes. */
async function solidPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 90, g: 120, b: 150 } } })
    .png({ compressionLevel: 9 })
    .toBuffer();
}

beforeAll(async () => {
  appliance = await openTestAppliance('api-hostile');
  storage = appliance.storage;
  const opened = await openTestApi(appliance);
  await opened.app.close();
  token = opened.token;
  logged = [];
  deps = { ...opened.deps, logger: capturingLogger() };
  app = buildApi(deps, { token, dataRoot: appliance.dataRoot });
  await app.ready();
}, 120_000);

afterAll(async () => {
  await app?.close();
  await appliance?.close();
});

describe('authorization header', () => {
  it('accepts the Bearer scheme in any case (RFC 9110: schemes are case-insensitive)', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const res = await app.inject({ method: 'GET', url: '/users', headers: { authorization: `${scheme} ${token}` } });
      expect(res.statusCode, scheme).toBe(200);
    }
  });

  it('refuses other schemes, a missing token and a token glued to the scheme', async () => {
    for (const header of [`Basic ${token}`, 'Bearer', 'Bearer ', `Bearer${token}`, `Bearer  ${token}x`, `${token}`]) {
      const res = await app.inject({ method: 'GET', url: '/users', headers: { authorization: header } });
      expect(res.statusCode, header).toBe(401);
    }
  });
});

describe('malformed multipart', () => {
  it('answers 400 for a multipart body without a boundary, logged as a refusal without a stack', async () => {
    logged.length = 0;
    const res = await app.inject({
      method: 'POST',
      url: '/identify',
      payload: Buffer.from('--x\r\nContent-Disposition: form-data; name="image"\r\n\r\nabc\r\n--x--\r\n'),
      headers: { 'content-type': 'multipart/form-data', ...auth() },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json<{ error: string }>().error).toMatch(/multipart/i);
    expect(logged.filter((l) => l.level >= 50)).toEqual([]);
    expect(logged.some((l) => l.err?.stack)).toBe(false);
  });

  it('answers 400 for an unterminated part and writes nothing', async () => {
    const [photo] = await photos('obama');
    const { payload, headers } = multipart([
      { name: 'userId', value: 'cut_short' },
      { name: 'name', value: 'Cut' },
      photo as Part,
    ]);
    // The closing boundary and the end of the last file never arrive.
    const alone = multipart([photo as Part].map((p) => ({ ...p, name: 'image' })));
    logged.length = 0;
    for (const [url, body] of [
      ['/users', { payload, headers }],
      ['/identify', alone],
    ] as const) {
      const cut = body.payload.subarray(0, body.payload.length - 200);
      const res = await app.inject({ method: 'POST', url, payload: cut, headers: { ...body.headers, ...auth() } });
      expect(res.statusCode, `${url} ${res.body}`).toBe(400);
      expect(res.json<{ error: string }>().error).toMatch(/multipart/i);
    }
    expect(logged.filter((l) => l.level >= 50)).toEqual([]);
    await expectNothingWritten();
  });

  it('answers 400, not 413, for /identify with only a text field', async () => {
    const { payload, headers } = multipart([{ name: 'note', value: 'hello' }]);
    const res = await app.inject({ method: 'POST', url: '/identify', payload, headers: { ...headers, ...auth() } });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json<{ error: string }>().error).toMatch(/image/);
  });

  it('refuses a repeated text field instead of keeping the last', async () => {
    const { payload, headers } = multipart([
      { name: 'userId', value: 'twice' },
      { name: 'name', value: 'First' },
      { name: 'name', value: 'Second' },
    ]);
    const res = await app.inject({ method: 'POST', url: '/users', payload, headers: { ...headers, ...auth() } });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json<{ error: string }>().error).toMatch(/name/);
    await expectNothingWritten();
  });
});

describe('names', () => {
  it('refuses control characters in name and department with 400 before reading a photo, and writes nothing', async () => {
    const images = (await photos('obama')).slice(0, 3);
    for (const [field, value] of [
      ['name', 'Eve\u001b[31mil'],
      ['name', 'Line\rbreak'],
      ['name', 'Bell\u0007'],
      ['department', 'Back\bspace'],
      ['department', 'Del\u007f'],
      ['name', 'C1 \u009b31m CSI'],
      ['name', 'a\u009bb'],
      // Format characters: a reversed or hidden name in every list that prints it.
      ['name', 'Rev\u202eesrever'],
      ['name', 'Iso\u2066late\u2069'],
      ['name', 'Line\u2028sep'],
      ['department', 'Zero\u200bwidth'],
      // (At either end U+FEFF, U+2028 and U+2029 are whitespace to trim(): gone, not stored.)
      ['department', 'Bo\ufeffm'],
    ] as const) {
      const fields: Part[] = [
        { name: 'userId', value: 'ctrl_user' },
        { name: 'name', value: field === 'name' ? value : 'Plain Name' },
        ...(field === 'department' ? [{ name: 'department', value }] : []),
      ];
      const { payload, headers } = multipart([...fields, ...images]);
      const res = await app.inject({ method: 'POST', url: '/users', payload, headers: { ...headers, ...auth() } });
      expect(res.statusCode, JSON.stringify(value)).toBe(400);
      expect(res.json<{ error: string }>().error).toMatch(new RegExp(`${field}.*printable`));
      // The refusal quotes what it received escaped, never the raw character (body and log alike).
      // eslint-disable-next-line no-control-regex -- raw control characters are what must not appear
      expect(res.body, res.body).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2066-\u2069\ufeff]/);
    }
    await expectNothingWritten();
  });
});

describe('query parameters', () => {
  it('reads limit as decimal digits only', async () => {
    for (const limit of ['1e3', '0x10', '0b11', ' 5', '5.0', '+5', '-0', '1_0']) {
      const res = await app.inject({
        method: 'GET',
        url: `/events?limit=${encodeURIComponent(limit)}`,
        headers: auth(),
      });
      expect(res.statusCode, limit).toBe(400);
      expect(res.json<{ error: string }>().error).toMatch(/limit/);
      const unknown = await app.inject({
        method: 'GET',
        url: `/unknown?limit=${encodeURIComponent(limit)}`,
        headers: auth(),
      });
      expect(unknown.statusCode, limit).toBe(400);
      const audit = await app.inject({
        method: 'GET',
        url: `/unknown/audit?limit=${encodeURIComponent(limit)}`,
        headers: auth(),
      });
      expect(audit.statusCode, limit).toBe(400);
    }
    expect((await app.inject({ method: 'GET', url: '/events?limit=10', headers: auth() })).statusCode).toBe(200);
  });

  it('refuses dates that do not exist instead of rolling them into the next month', async () => {
    for (const value of [
      '2024-02-30',
      '2023-02-29',
      '2024-13-01',
      '2024-04-31T10:00:00Z',
      '2024-01-01T24:00:00Z',
      '2024-01-01T10:00:00',
      '1',
      'March 7, 2024',
    ]) {
      for (const url of [
        `/events?until=${encodeURIComponent(value)}`,
        `/events/cameras?since=${encodeURIComponent(value)}`,
        `/unknown?since=${encodeURIComponent(value)}`,
      ]) {
        const res = await app.inject({ method: 'GET', url, headers: auth() });
        expect(res.statusCode, url).toBe(400);
        expect(res.json<{ error: string }>().error).toMatch(/ISO date/);
      }
    }
    for (const value of ['2024-02-29', '2024-02-29T23:59:59Z', '2024-02-29T23:59:59.999+01:00']) {
      const res = await app.inject({
        method: 'GET',
        url: `/events?until=${encodeURIComponent(value)}`,
        headers: auth(),
      });
      expect(res.statusCode, value).toBe(200);
    }
  });

  it('refuses a repeated query parameter with 400 naming it', async () => {
    for (const url of [
      '/events?limit=1&limit=2',
      '/events?since=2024-01-01&since=2024-01-02',
      '/events?camera=a&camera=b',
      '/users?status=active&status=disabled',
      '/unknown?status=open&status=all',
      '/users/x?purgeImages=true&purgeImages=false',
    ]) {
      const method = url.includes('purgeImages') ? 'DELETE' : 'GET';
      const res = await app.inject({ method, url, headers: auth() });
      expect(res.statusCode, url).toBe(400);
      expect(res.json<{ error: string }>().error, url).toMatch(/once/);
    }
  });
});

describe('decoding memory', () => {
  it('answers 503 with Retry-After while the decode budget is taken, and decodes again once it is free', async () => {
    const huge = await solidPng(7000, 7000);
    const { payload, headers } = multipart([{ name: 'image', filename: 'huge.png', bytes: huge }]);
    const identify = () =>
      app.inject({ method: 'POST', url: '/identify', payload, headers: { ...headers, ...auth() } });
    // Two such images in flight (98 MP) hold the budget: a third waits for nothing, it is told to come back.
    await withDecodedImage(huge, () =>
      withDecodedImage(huge, async () => {
        const busy = await identify();
        expect(busy.statusCode, busy.body).toBe(503);
        expect(Number(busy.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(busy.json<{ error: string }>().error).toMatch(/megapixels/);
      }),
    );
    const res = await identify();
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ faces: [] });
  }, 60_000);
});

describe('disk full', () => {
  it('answers 507 "disk full" naming the path inside the data root, logged as a warning, and writes nothing', async () => {
    const mountPoint = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    } catch (error) {
      await fs.rm(mountPoint, { recursive: true, force: true });
      throw new Error(
        `Expected to mount a 20 MB tmpfs at ${mountPoint} for a full disk (needs root and mount(8)) but could not: ${String(error)}`,
      );
    }
    const schema = uniqueSchema();
    let full: Storage | undefined;
    let fullApp: FastifyInstance | undefined;
    try {
      const dataRoot = path.join(mountPoint, 'data');
      full = await openStorage(parseStorageConfig({ dataRoot, databaseUrl: SHARED_POSTGRES_URL }), {
        embeddingModel: { id: appliance.vision.embedder.modelId, dim: appliance.vision.embedder.dim },
        schema,
      });
      const users = new UserDirectory(full.db);
      await users.refresh();
      fullApp = buildApi({ ...deps, storage: full, users }, { token: await loadOrCreateToken(dataRoot), dataRoot });
      // Fill the disk, leaving less than one photo's worth.
      const filler = path.join(mountPoint, 'filler');
      await fs.writeFile(filler, Buffer.alloc(0));
      const chunk = Buffer.alloc(1024 * 1024);
      await fs
        .appendFile(filler, chunk)
        .then(async function more(): Promise<void> {
          await fs.appendFile(filler, chunk);
          return more();
        })
        .catch((error: NodeJS.ErrnoException) => expect(error.code).toBe('ENOSPC'));
      logged.length = 0;
      const { payload, headers } = multipart([
        { name: 'userId', value: 'full_disk' },
        { name: 'name', value: 'Full Disk' },
        ...(await photos('obama')).slice(0, 4),
      ]);
      const res = await fullApp.inject({
        method: 'POST',
        url: '/users',
        payload,
        headers: { ...headers, authorization: `Bearer ${await loadOrCreateToken(dataRoot)}` },
      });
      expect(res.statusCode, res.body).toBe(507);
      const { error } = res.json<{ error: string }>();
      expect(error).toMatch(/^disk full: /);
      expect(error).toContain(`images${path.sep}`);
      expect(error).not.toContain(mountPoint);
      expect(logged.filter((l) => l.level >= 50)).toEqual([]);
      expect(logged.some((l) => l.level === 40 && /disk full/.test(JSON.stringify(l)))).toBe(true);
      expect(logged.some((l) => l.err?.stack)).toBe(false);
      await expectNothingWritten(full);
      const userFolders = await fs.readdir(path.join(dataRoot, 'images', 'users')).catch(() => []);
      expect(userFolders).toEqual([]);
    } finally {
      await fullApp?.close();
      await full?.close();
      await dropSchema(SHARED_POSTGRES_URL, schema);
      execFileSync('umount', [mountPoint]);
      await fs.rm(mountPoint, { recursive: true, force: true });
    }
  }, 120_000);
});
