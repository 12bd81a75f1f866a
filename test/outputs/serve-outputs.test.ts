// Issue 17's outputs through `facegate serve` itself, with a real RTSP camera: a recognition
// arrives on the shared Mosquitto (127.0.0.1:1883) with its access verdict on both its topics, an
// unknown face's message carries a crop URL that answers; a second broker is down all along, so
// its outbox fills; serve is SIGKILLed (the broker publishes its last will), and after the
// restart every message the dead process had journaled is delivered to that broker.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RecognitionMessage } from '../../src/outputs/message.js';
import { type DisposableMosquitto, startMosquitto } from '../helpers/disposable-mosquitto.js';
import { type DisposablePostgres, startPostgres } from '../helpers/disposable-postgres.js';
import { freePort } from '../helpers/free-port.js';
import { startRtspServer, type RtspTestServer } from '../helpers/rtsp-server.js';
import { spawnServe } from '../helpers/serve-process.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';
import { until } from '../helpers/until.js';

const SHARED_BROKER = 'mqtt://127.0.0.1:1883';
const run = `fgtest_${randomBytes(4).toString('hex')}`;

let dir: string;
let postgres: DisposablePostgres;
let camera: RtspTestServer;
let standby: DisposableMosquitto;

/** A subscriber that keeps every message it gets, by topic. */
async function subscriber(url: string, topics: string[]) {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  const got: { topic: string; payload: string; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) =>
    got.push({ topic, payload: payload.toString(), retain: packet.retain }),
  );
  await client.subscribeAsync(topics, { qos: 1 });
  return {
    got,
    json: (topic: string) => got.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload) as { id: string }),
    close: () => client.endAsync(),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-outputs-'));
  [postgres, standby, camera] = await Promise.all([
    startPostgres(),
    startMosquitto(),
    startRtspServer({
      images: [path.join(FACES_DIR, 'obama', 'obama3.jpg'), path.join(FACES_DIR, 'biden', 'biden.jpg')],
      secondsPerImage: 4,
      width: 1280,
      height: 720,
    }),
  ]);
  await standby.kill(); // down from the start: its outbox keeps everything
}, 60_000);
afterAll(async () => {
  await camera?.stop();
  await Promise.all([postgres?.stop(), standby?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

describe('facegate serve with outputs', () => {
  it('publishes decisions with their verdicts and crop URLs, and delivers what a SIGKILLed run journaled after the restart', async () => {
    const config = path.join(dir, 'facegate.yaml');
    const port = await freePort();
    await writeFile(
      config,
      [
        `dataDir: ${JSON.stringify(path.join(dir, 'data'))}`,
        `modelsDir: ${JSON.stringify(MODELS_DIR)}`,
        `database: { url: ${JSON.stringify(postgres.url)} }`,
        'inference: { provider: cpu }',
        `api: { port: ${port} }`,
        'cameras:',
        `  - { id: gate_1, url: ${JSON.stringify(camera.url)}, fps: 5, width: 1280, height: 720, watchdogSeconds: 2 }`,
        'access: { timeZone: UTC, doors: { gate_1: [ { roles: [staff] } ] } }',
        'outputs:',
        `  nodeId: ${run}`,
        '  mqtt:',
        `    - { name: site, url: ${SHARED_BROKER}, topicPrefix: ${run}, homeAssistant: { discoveryPrefix: ${run}_ha } }`,
        `    - { name: standby, url: ${JSON.stringify(standby.url)}, topicPrefix: ${run}, homeAssistant: { enabled: false } }`,
      ].join('\n'),
    );
    const site = await subscriber(SHARED_BROKER, [`${run}/#`, `${run}_ha/#`]);
    let first = spawnServe(config);
    try {
      await until('the service to be up', () => /"msg":"facegate running"/.test(first.log), 60_000);
      const api = `http://127.0.0.1:${port}`;
      const token = (await readFile(path.join(dir, 'data', 'api-token'), 'utf8')).trim();
      const auth = { authorization: `Bearer ${token}` };
      await until(
        'availability online, retained',
        () => site.got.some((m) => m.topic === `${run}/availability` && m.payload === 'online'),
        10_000,
      );
      await until(
        'Home Assistant discovery for gate_1',
        () => site.got.some((m) => m.topic.startsWith(`${run}_ha/`) && m.topic.includes('gate_1')),
        10_000,
      );

      const form = new FormData();
      form.set('userId', 'obama');
      form.set('name', 'Barack Obama');
      for (const f of ['obama.jpg', 'obama2.jpg', 'obama-480p.jpg', 'obama_small.jpg']) {
        form.append('images', new Blob([await readFile(path.join(FACES_DIR, 'obama', f))], { type: 'image/jpeg' }), f);
      }
      expect((await fetch(`${api}/users`, { method: 'POST', headers: auth, body: form })).status).toBe(201);
      const roles = await fetch(`${api}/users/obama/roles`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ roles: ['staff'] }),
      });
      expect(roles.status).toBe(200);

      // The enrolled person, granted at his door: on the recognition topic and the access topic, one id.
      const recognitions = () => site.json(`${run}/gate_1/recognition`) as RecognitionMessage[];
      await until(
        'a granted recognition on MQTT',
        () => recognitions().some((m) => m.access?.verdict === 'granted'),
        60_000,
      );
      const granted = recognitions().find((m) => m.access?.verdict === 'granted') as RecognitionMessage;
      expect(granted).toMatchObject({
        type: 'recognition',
        applianceId: 'appliance-1',
        cameraId: 'gate_1',
        matchedUserId: 'obama',
        userName: 'Barack Obama',
        isUnknown: false,
        access: { verdict: 'granted', reason: 'role staff, every day' },
        cropUrl: null,
      });
      await until(
        'the same message on the access topic',
        () => site.json(`${run}/gate_1/access`).some((m) => m.id === granted.id),
        5_000,
      );
      // The message is the event log's event: same id, same verdict.
      const events = (await (await fetch(`${api}/events?camera=gate_1&access=granted`, { headers: auth })).json()) as {
        events: { id: string; confidence: number; access: unknown }[];
      };
      const event = events.events.find((e) => e.id === granted.id);
      expect(event?.access).toEqual(granted.access);
      // The log keeps a float4: the same score to its precision.
      expect(event?.confidence).toBeCloseTo(granted.confidence, 6);

      // A stranger: unknown, with a crop URL that answers with his face (behind the API's token).
      await until(
        'an unknown face with a crop URL',
        () => recognitions().some((m) => m.isUnknown && m.cropUrl !== null),
        60_000,
      );
      const stranger = recognitions().find((m) => m.isUnknown && m.cropUrl !== null) as RecognitionMessage;
      expect(stranger.access).toEqual({ verdict: 'unknown', reason: 'unknown face' });
      expect(stranger.cropUrl?.startsWith(`${api}/unknown/`)).toBe(true);
      expect((await fetch(stranger.cropUrl as string)).status).toBe(401);
      const crop = await fetch(stranger.cropUrl as string, { headers: auth });
      expect(crop.status).toBe(200);
      expect(crop.headers.get('content-type')).toBe('image/png');
      expect((await crop.arrayBuffer()).byteLength).toBeGreaterThan(1000);

      // The standby broker has been down all along: its outbox holds every message, and /health says so.
      const health = async () =>
        (await (await fetch(`${api}/health`, { headers: auth })).json()) as {
          status: string;
          outputs: { name: string; pending: number; lastError: string | null; delivered: number }[];
        };
      await until(
        'the standby outbox to hold messages',
        async () => ((await health()).outputs.find((o) => o.name === 'standby')?.pending ?? 0) >= 3,
        30_000,
      );
      const report = await health();
      expect(report.status).toBe('degraded');
      expect(report.outputs.find((o) => o.name === 'site')).toMatchObject({ lastError: null });
      expect(report.outputs.find((o) => o.name === 'standby')?.lastError).toMatch(/not connected/);
      const metrics = await (await fetch(`${api}/metrics`, { headers: auth })).text();
      expect(metrics).toMatch(/facegate_output_pending\{output="standby",kind="mqtt"\} [1-9]/);
      expect(metrics).toMatch(/facegate_output_up\{output="standby",kind="mqtt"\} 0/);

      // Everything published so far was journaled for standby too (each publish journals in every
      // outbox before it resolves): what the shared broker got, plus the camera's status.
      await new Promise((r) => setTimeout(r, 1_000));
      const published = new Set(
        site.got
          .filter((m) => /\/(recognition|status)$/.test(m.topic))
          .map((m) => (JSON.parse(m.payload) as { id: string }).id),
      );
      expect(published.size).toBeGreaterThanOrEqual(3);
      const offlineBefore = site.got.filter((m) => m.topic === `${run}/availability` && m.payload === 'offline').length;
      await first.kill();
      // No clean goodbye: the broker publishes the last will.
      await until(
        'the last will: availability offline',
        () =>
          site.got.filter((m) => m.topic === `${run}/availability` && m.payload === 'offline').length > offlineBefore,
        15_000,
      );

      // The standby broker returns, a subscriber is waiting, and serve starts again.
      await standby.restart();
      const delivered = await subscriber(standby.url, [`${run}/#`]);
      try {
        first = spawnServe(config);
        await until('the service to be up again', () => /"msg":"facegate running"/.test(first.log), 60_000);
        const arrived = () =>
          new Set(
            delivered.got
              .filter((m) => /\/(recognition|status)$/.test(m.topic))
              .map((m) => (JSON.parse(m.payload) as { id: string }).id),
          );
        await until(
          'every message the killed run journaled to arrive at the standby broker',
          () => [...published].every((id) => arrived().has(id)),
          30_000,
        );
        expect(first.log).toMatch(/"output":"standby".*"msg":"output: delivering what was left"/);
      } finally {
        await delivered.close();
      }
      await first.stop();
    } finally {
      await first.kill();
      await site.close();
    }
  }, 240_000);
});
