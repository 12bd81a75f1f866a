// The console's cameras and health page against a real appliance (PostgreSQL, no Redis): each
// camera the sources report with its state, last frame, frames and drops, a frame rate from two
// looks, and its self-refreshing snapshot; the appliance's state as GET /health gives it (the same
// status, the database, spool, index, inference and a failing output); and the snapshot route
// serving the JPEG the pipeline makes, or a 404 text when there is none.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { OutputStats } from '../../src/outputs/outputs.js';
import { type Browser, openTestConsole, type TestConsole } from '../helpers/test-console.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';

let appliance: TestAppliance;
let tc: TestConsole;
let browser: Browser;
let jpeg: Buffer;
let gate1Frames = 1200;

const lastFrame = new Date(Date.UTC(2026, 2, 1, 9, 30, 5));
const failing = {
  name: 'hq-webhook',
  kind: 'webhook',
  connected: null,
  pending: 12,
  delivered: 340,
  failures: 5,
  dropped: 0,
  deadLettered: 1,
  lastError: 'POST https://hq.example/hook: 503 Service Unavailable',
} as unknown as OutputStats;

beforeAll(async () => {
  appliance = await openTestAppliance('console-cameras');
  jpeg = await sharp({ create: { width: 64, height: 36, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .jpeg()
    .toBuffer();
  tc = await openTestConsole(appliance, {
    cameraStats: () => [
      { cameraId: 'gate_1', state: 'online', framesReceived: gate1Frames, framesDropped: 7, lastFrameAt: lastFrame },
      { cameraId: 'yard', state: 'offline', framesReceived: 0, framesDropped: 0, lastFrameAt: null },
    ],
    outputStats: () => [failing],
    snapshot: (cameraId) => Promise.resolve(cameraId === 'gate_1' ? jpeg : null),
  });
  browser = await tc.signIn('ada');
}, 60_000);
afterAll(async () => {
  await tc?.app.close();
  await appliance?.close();
});

/** One camera's card. */
function cardOf(body: string, cameraId: string): string {
  const start = body.indexOf(`data-camera="${cameraId}"`);
  expect(start).toBeGreaterThan(-1);
  return flat(body.slice(start, body.indexOf('</section>', start)));
}

/** Markup with its whitespace runs as one space (the templates' line breaks are formatting). */
const flat = (text: string) => text.replace(/\s+/g, ' ');

describe('the cameras and health page', () => {
  it('shows each camera with its state, last frame, frames, drops and a snapshot that refreshes itself', async () => {
    const res = await browser.get('/console/cameras');
    expect(res.statusCode).toBe(200);
    const gate = cardOf(res.body, 'gate_1');
    expect(gate).toContain('<span class="badge online" data-state="online">online</span>');
    expect(gate).toContain('<img class="snapshot" src="/console/cameras/gate_1/snapshot.jpg" data-refresh="3"');
    expect(gate).toContain(
      '<time datetime="2026-03-01T09:30:05.000Z" title="2026-03-01T09:30:05.000Z">2026-03-01 09:30:05 UTC</time>',
    );
    expect(gate).toContain('<dd>1200</dd>');
    expect(gate).toMatch(/<dd data-dropped="7">7 /);
    const yard = cardOf(res.body, 'yard');
    expect(yard).toContain('<span class="badge offline" data-state="offline">offline</span>');
    expect(yard).toContain('<span class="muted">never</span>');
    expect(yard).toContain('src="/console/cameras/yard/snapshot.jpg"');
  });

  it('gives a frame rate from the frames received between two looks at the page', async () => {
    await browser.get('/console/cameras');
    // The rate needs a second between looks; 150 frames in that time is at most 150 fps.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    gate1Frames += 150;
    const res = await browser.get('/console/cameras');
    const fps = /([0-9.]+) fps/.exec(cardOf(res.body, 'gate_1'));
    expect(fps).not.toBeNull();
    expect(Number(fps?.[1])).toBeGreaterThan(0);
    expect(Number(fps?.[1])).toBeLessThanOrEqual(150);
    expect(cardOf(res.body, 'gate_1')).toContain('<dd>1350</dd>');
  });

  it('shows the appliance’s state as GET /health reports it: status, database, spool, index, inference, outputs', async () => {
    const healthRes = await tc.app.inject({
      method: 'GET',
      url: '/health',
      headers: { authorization: `Bearer ${tc.token}` },
    });
    const health = healthRes.json<{ status: string; database: { engine: string } }>();
    // No camera heartbeat in the cache and a failing output: degraded.
    expect(health.status).toBe('degraded');
    const body = flat((await browser.get('/console/cameras')).body);
    expect(body).toContain('<span class="badge degraded" data-status="degraded">degraded</span>');
    expect(body).toContain(`${health.database.engine}:`);
    expect(body).toMatch(/<dt>Event spool<\/dt> <dd>0 events waiting for the database<\/dd>/);
    expect(body).toMatch(/<dt>Index<\/dt>\s*<dd>\s*0 embeddings of 0\s*people/);
    expect(body).toContain(`${appliance.vision.detector.name} on ${appliance.vision.detector.provider}`);
    expect(body).toContain(`${appliance.vision.embedder.name} on ${appliance.vision.embedder.provider}`);
    expect(body).toContain('hq-webhook <span class="muted">webhook</span>');
    expect(body).toContain(
      '<span class="badge denied">failing</span> POST https://hq.example/hook: 503 Service Unavailable',
    );
  });

  it('serves a camera’s snapshot as the JPEG the pipeline made, and a 404 text when there is none', async () => {
    const res = await browser.get('/console/cameras/gate_1/snapshot.jpg');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/jpeg');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.rawPayload.equals(jpeg)).toBe(true);
    expect((await sharp(res.rawPayload).metadata()).format).toBe('jpeg');

    const none = await browser.get('/console/cameras/yard/snapshot.jpg');
    expect(none.statusCode).toBe(404);
    expect(none.headers['content-type']).toMatch(/^text\/plain/);
    expect(none.body).toBe('No snapshot of camera yard: no frame received yet, or no such camera.');
    const unknown = await browser.get('/console/cameras/nowhere/snapshot.jpg');
    expect(unknown.statusCode).toBe(404);

    const bad = await browser.get('/console/cameras/a%20b/snapshot.jpg');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/Expected a camera id/);
  });

  it('serves neither the page nor a snapshot without a session', async () => {
    for (const url of ['/console/cameras', '/console/cameras/gate_1/snapshot.jpg']) {
      const res = await tc.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(303);
      expect(res.headers.location).toBe('/console/sign-in');
    }
  });
});
