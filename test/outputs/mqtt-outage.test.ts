// A broker's outage through the dispatcher (src/outputs/outputs.ts): decisions are published one
// every 100 ms while a disposable Mosquitto is SIGKILLed for 20 s and restarted on the same port.
// The MQTT output refuses while it is down, the outbox keeps what was published, the output
// reconnects by itself, and every message reaches a subscriber on that broker: each id at least
// once (repeats allowed, counted).
//
// The subscriber loses its connection too. It keeps a persistent session (clean: false, QoS 1):
// the disposable broker saves sessions to disk every second, so after the restart it still has the
// subscription and queues for the subscriber what arrives before the subscriber is back (and
// mqtt.js subscribes again should the session be missing).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';

import type { RecognitionMessage } from '../../src/outputs/message.js';
import { MqttOutput } from '../../src/outputs/mqtt-output.js';
import { Outputs } from '../../src/outputs/outputs.js';
import { silentLogger } from '../../storage/logger.js';
import { removeDir } from '../helpers/disposable-process.js';
import { startMosquitto } from '../helpers/disposable-mosquitto.js';
import { until } from '../helpers/until.js';

const EVERY_MS = 100;
const BEFORE_MS = 3_000;
const OUTAGE_MS = 20_000;
const AFTER_MS = 3_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function recognition(n: number): RecognitionMessage {
  return {
    type: 'recognition',
    applianceId: 'appliance-1',
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    cameraId: 'door',
    matchedUserId: `user-${n}`,
    userName: `Person ${n}`,
    isUnknown: false,
    confidence: 0.8,
    trackId: `track-${n}`,
    modelId: 'arcface',
    threshold: 0.45,
    access: null,
    cropUrl: null,
  };
}

it('delivers every decision published while the broker was killed for 20 s, once it is back', async () => {
  const broker = await startMosquitto();
  cleanups.push(() => broker.stop());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'facegate-mqtt-outage-'));
  cleanups.push(() => Promise.resolve(removeDir(dir)));
  const topicPrefix = `fgtest-${randomBytes(4).toString('hex')}`;

  const received: string[] = [];
  const sub = await mqtt.connectAsync(broker.url, {
    clientId: `fgtest-outage-sub-${randomBytes(4).toString('hex')}`,
    clean: false,
    reconnectPeriod: 200,
  });
  cleanups.push(() => sub.endAsync(true));
  sub.on('message', (_topic, payload) => received.push((JSON.parse(payload.toString('utf8')) as { id: string }).id));
  await sub.subscribeAsync(`${topicPrefix}/+/recognition`, { qos: 1 });

  const output = new MqttOutput({
    name: 'broker',
    url: broker.url,
    topicPrefix,
    nodeId: 'facegate',
    homeAssistant: { enabled: false },
    cameras: ['door'],
    timeoutMs: 2_000,
    logger: silentLogger,
  });
  const outputs = await Outputs.open([output], {
    dir,
    logger: silentLogger,
    retry: { firstMs: 200, maxMs: 1_000 },
  });
  cleanups.push(() => outputs.close());
  await until('the output to connect', () => output.connected(), 10_000);

  const published: string[] = [];
  const publishFor = async (ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const message = recognition(published.length);
      await outputs.publish(message);
      published.push(message.id);
      await sleep(EVERY_MS);
    }
  };

  await publishFor(BEFORE_MS); // also long enough for the broker to have saved the subscriber's session
  await until('the messages before the outage', () => new Set(received).size === published.length, 10_000);

  await broker.kill();
  const beforeOutage = published.length;
  await publishFor(OUTAGE_MS);
  const duringOutage = published.length - beforeOutage;
  const [down] = outputs.stats();
  expect(down?.connected).toBe(false);
  // Nothing published during the outage was delivered: all of it waits in the outbox.
  expect(down?.pending).toBe(duringOutage);
  expect(down?.failures).toBeGreaterThan(0);

  await broker.restart();
  await publishFor(AFTER_MS);

  const missing = (): string[] => {
    const got = new Set(received);
    return published.filter((id) => !got.has(id));
  };
  await until(
    'every published id at the subscriber',
    () => missing().length === 0 && outputs.stats()[0]?.pending === 0,
    30_000,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}: ${missing().length} of ${published.length} missing`);
  });
  expect(missing()).toEqual([]);
  expect(output.connected()).toBe(true);
  const counts = new Map<string, number>();
  for (const id of received) counts.set(id, (counts.get(id) ?? 0) + 1);
  const repeated = [...counts.values()].filter((n) => n > 1).length;
  // Nothing that was never published; repeats (at least once) are allowed and reported.
  expect([...counts.keys()].every((id) => published.includes(id))).toBe(true);
  console.info(
    `mqtt outage: ${published.length} published (${duringOutage} during the ${OUTAGE_MS / 1000} s outage), ` +
      `${received.length} received, ${repeated} ids more than once`,
  );
  expect(outputs.stats()[0]?.delivered).toBeGreaterThanOrEqual(published.length);
});
