// Issue 18's must-show: two appliances (two data roots, two `facegate serve` processes, two ids) on
// one disposable PostgreSQL. Enrolled at A, a person is recognised at B from a photo B never saw
// within 2 s; deleted at B, he is no longer recognised at A within 2 s; one events list (the API's,
// over the central database) shows the events of both appliances' cameras, each with its appliance
// id; /health shows each appliance's change-feed lag.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type DisposablePostgres, startPostgres } from '../helpers/disposable-postgres.js';
import { freePort } from '../helpers/free-port.js';
import { startRtspServer, type RtspTestServer } from '../helpers/rtsp-server.js';
import { type ServeProcess, spawnServe } from '../helpers/serve-process.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';
import { until } from '../helpers/until.js';

let dir: string;
let postgres: DisposablePostgres;
const cameras: RtspTestServer[] = [];
const sites: Record<'a' | 'b', { serve: ServeProcess | null; api: string; token: string; config: string }> = {
  a: { serve: null, api: '', token: '', config: '' },
  b: { serve: null, api: '', token: '', config: '' },
};

async function identify(site: 'a' | 'b', photo: string): Promise<{ decision: string; userId: string | null }> {
  const form = new FormData();
  form.set('image', new Blob([await readFile(path.join(FACES_DIR, photo))], { type: 'image/jpeg' }), 'x.jpg');
  const res = await fetch(`${sites[site].api}/identify`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sites[site].token}` },
    body: form,
  });
  const body = (await res.json()) as { faces?: { decision: string; userId: string | null }[] };
  const face = body.faces?.[0];
  return face ?? { decision: 'none', userId: null };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-two-'));
  postgres = await startPostgres();
  for (const site of ['a', 'b'] as const) {
    // Each appliance's own camera, showing the same man.
    const camera = await startRtspServer({
      images: [path.join(FACES_DIR, 'obama', 'obama3.jpg')],
      secondsPerImage: 4,
      width: 1280,
      height: 720,
    });
    cameras.push(camera);
    const port = await freePort();
    const config = path.join(dir, `${site}.yaml`);
    await writeFile(
      config,
      [
        `applianceId: site-${site}`,
        `dataDir: ${JSON.stringify(path.join(dir, site))}`,
        `modelsDir: ${JSON.stringify(MODELS_DIR)}`,
        `database: { url: ${JSON.stringify(postgres.url)} }`,
        'inference: { provider: cpu }',
        `api: { port: ${port} }`,
        'cameras:',
        `  - { id: gate_${site}, url: ${JSON.stringify(camera.url)}, fps: 5, width: 1280, height: 720, watchdogSeconds: 3 }`,
      ].join('\n'),
    );
    const serve = spawnServe(config);
    sites[site] = { serve, api: `http://127.0.0.1:${port}`, token: '', config };
  }
  for (const site of ['a', 'b'] as const) {
    await until(
      `appliance ${site} to be up`,
      () => /"msg":"facegate running"/.test(sites[site].serve?.log ?? ''),
      90_000,
    );
    sites[site].token = (await readFile(path.join(dir, site, 'api-token'), 'utf8')).trim();
  }
}, 180_000);

afterAll(async () => {
  for (const site of ['a', 'b'] as const) await sites[site].serve?.stop();
  for (const camera of cameras) await camera.stop();
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('two appliances on one PostgreSQL', () => {
  it('enrolled at A is recognised at B within 2 s; deleted at B is unknown at A within 2 s; one events list shows both', async () => {
    // B has never seen him.
    expect((await identify('b', 'obama/obama3.jpg')).decision).toBe('unknown');

    const form = new FormData();
    form.set('userId', 'obama');
    form.set('name', 'Barack Obama');
    for (const f of ['obama.jpg', 'obama2.jpg', 'obama-480p.jpg', 'obama_small.jpg'])
      form.append('images', new Blob([await readFile(path.join(FACES_DIR, 'obama', f))], { type: 'image/jpeg' }), f);
    const enrolled = await fetch(`${sites.a.api}/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sites.a.token}` },
      body: form,
    });
    expect(enrolled.status).toBe(201);
    const enrolledAt = Date.now();
    await until('B to recognise him', async () => (await identify('b', 'obama/obama3.jpg')).userId === 'obama', 10_000);
    const propagated = Date.now() - enrolledAt;
    console.log(`two appliances: enrolled at A, recognised at B after ${propagated} ms`);
    expect(propagated).toBeLessThan(2_000);

    const deleted = await fetch(`${sites.b.api}/users/obama`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${sites.b.token}` },
    });
    expect(deleted.status).toBe(200);
    const deletedAt = Date.now();
    await until(
      'A to stop recognising him',
      async () => (await identify('a', 'obama/obama3.jpg')).userId === null,
      10_000,
    );
    const forgotten = Date.now() - deletedAt;
    console.log(`two appliances: deleted at B, unknown at A after ${forgotten} ms`);
    expect(forgotten).toBeLessThan(2_000);

    // Each appliance's /health says how far behind the feed it is (caught up by now).
    for (const site of ['a', 'b'] as const) {
      const health = (await (
        await fetch(`${sites[site].api}/health`, { headers: { authorization: `Bearer ${sites[site].token}` } })
      ).json()) as { applianceId: string; changes: { behind: number | null; secondsBehind: number | null } };
      expect(health.applianceId).toBe(`site-${site}`);
      expect(health.changes).toMatchObject({ behind: 0 });
    }

    // One events list over the central database: both appliances' cameras' events, each with its id.
    await until(
      "events of both appliances in A's list",
      async () => {
        const res = await fetch(`${sites.a.api}/events?limit=200`, {
          headers: { authorization: `Bearer ${sites.a.token}` },
        });
        const { events } = (await res.json()) as { events: { applianceId: string | null; cameraId: string }[] };
        const seen = new Set(events.map((e) => `${e.applianceId}/${e.cameraId}`));
        return seen.has('site-a/gate_a') && seen.has('site-b/gate_b');
      },
      60_000,
    );
  }, 120_000);
});
