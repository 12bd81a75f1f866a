// A hostile review of issue 17's outputs, as tests: each finding below is shown against the real
// parts (a local HTTP receiver, disposable and shared Mosquitto brokers, the real config parser).
//
// Each finding was first written asserting the faulty behaviour; once fixed, its assertion was
// inverted ("FINDING n (fixed)"), so the test now fails if the fault comes back. The backlog test
// is a measurement (every message, in order; the time is printed, never asserted).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import Fastify from 'fastify';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';

import { silentLogger } from '../../storage/logger.js';
import { parseConfig, redactConfig } from '../../src/config/config.js';
import type { TestMessage } from '../../src/outputs/message.js';
import { MqttOutput, type MqttOutputOptions } from '../../src/outputs/mqtt-output.js';
import { Outbox } from '../../src/outputs/outbox.js';
import { Outputs } from '../../src/outputs/outputs.js';
import { describeUrl, WebhookOutput } from '../../src/outputs/webhook-output.js';
import { startMosquitto, type DisposableMosquitto } from '../helpers/disposable-mosquitto.js';
import { until } from '../helpers/until.js';

const SHARED_MQTT_URL = process.env.FACEGATE_TEST_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const SECRET = 'review-secret-0123456789';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function testMessage(n = 0): TestMessage {
  return {
    type: 'test',
    id: `01900000-0000-7000-8000-${randomBytes(6).toString('hex')}`,
    timestamp: new Date().toISOString(),
    text: `review ${n}`,
  };
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'facegate-review-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A receiver whose answer the test changes as it goes; it records every id it was sent. */
async function receiver(status: () => number): Promise<{ url: string; ids: string[] }> {
  const ids: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const code = status();
      if (code >= 200 && code < 300)
        ids.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string }).id);
      res.writeHead(code).end(code >= 400 ? 'invalid API key' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  server.unref();
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, ids };
}

describe('review of the outputs (issue 17)', () => {
  it('FINDING 1 (fixed): a receiver answering 401 for a while (a rotated API key) is retried, shown as failing, and every message of that while is delivered once the key is fixed', async () => {
    let status = 401;
    const target = await receiver(() => status);
    const dir = tempDir();
    const outputs = await Outputs.open(
      [new WebhookOutput({ name: 'hook', url: target.url, secret: SECRET, timeoutMs: 2_000, logger: silentLogger })],
      { dir, logger: silentLogger, retry: { firstMs: 50, maxMs: 200 } },
    );
    cleanups.push(() => outputs.close());
    const during = [testMessage(1), testMessage(2), testMessage(3)];
    for (const m of during) await outputs.publish(m);
    await until('the output to report its failure', () => outputs.stats()[0]!.lastError !== null, 10_000);
    expect(outputs.stats()[0]).toMatchObject({ deadLettered: 0, delivered: 0, pending: 3 });
    expect(outputs.stats()[0]?.lastError).toMatch(/401/);
    // The key is fixed: the three and the next one go through, in order; nothing was dead-lettered.
    status = 200;
    const after = testMessage(4);
    await outputs.publish(after);
    await until('every message to arrive', () => target.ids.includes(after.id), 10_000);
    expect(target.ids).toEqual([...during, after].map((m) => m.id));
    await until('the outbox to empty', () => outputs.stats()[0]!.pending === 0, 10_000);
    expect(outputs.stats()[0]).toMatchObject({ deadLettered: 0, delivered: 4, pending: 0, lastError: null });
  });

  it("FINDING 2 (fixed): `outputs test`'s probe has its own client id and no goodbye, so running it beside serve leaves serve's connection and availability alone", async () => {
    const broker: DisposableMosquitto = await startMosquitto();
    cleanups.push(() => broker.stop());
    const lines: string[] = [];
    const serveLogger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    // What createOutputs (src/outputs/index.ts) builds in serve and in `outputs test` alike.
    const options = (logger: MqttOutputOptions['logger']): MqttOutputOptions => ({
      name: 'broker',
      url: broker.url,
      topicPrefix: `fgreview-${randomBytes(3).toString('hex')}`,
      nodeId: 'facegate',
      homeAssistant: { enabled: false },
      cameras: ['door'],
      timeoutMs: 2_000,
      logger,
    });
    const serve = new MqttOutput(options(serveLogger));
    const cli = new MqttOutput({ ...options(silentLogger), probe: true });
    cleanups.push(
      () => serve.close(),
      () => cli.close(),
    );
    expect(cli.clientId).not.toBe(serve.clientId);
    await serve.start();
    await until('serve to connect', () => serve.connected(), 10_000);
    const watcher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    cleanups.push(() => watcher.endAsync());
    const availability: string[] = [];
    watcher.on('message', (_topic, payload) => availability.push(payload.toString()));
    await watcher.subscribeAsync(`${options(silentLogger).topicPrefix}/availability`, { qos: 1 });
    await cli.start();
    await until('the probe to connect', () => cli.connected(), 10_000);
    await cli.deliver(testMessage(9));
    await cli.close();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(serve.connected()).toBe(true);
    expect(lines.some((line) => line.includes('mqtt: connection lost; reconnecting'))).toBe(false);
    expect(availability.filter((a) => a === 'offline')).toEqual([]);
  });

  it("FINDING 3 (fixed in service.ts): with api.host '::' or '0.0.0.0', the address fastify reports is no address a receiver elsewhere can use, so serve names the machine instead", async () => {
    // Why service.ts does not take listen()'s answer for a wildcard host (it uses os.hostname()).
    const seen: string[] = [];
    for (const host of ['::', '0.0.0.0']) {
      const app = Fastify();
      seen.push(await app.listen({ host, port: 0 }));
      await app.close();
    }
    expect(seen[0]).toMatch(/^http:\/\/\[::\]:\d+$/);
    expect(seen[1]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('FINDING 4 (fixed): `config check` hides a webhook URL key kept in a query parameter that does not look secret (?code=), as the output itself does', () => {
    const key = 'AzureFunctionKey0123456789';
    const url = `https://fn.example.net/api/hook?code=${key}`;
    const config = parseConfig({ outputs: { webhooks: [{ name: 'hook', url, secret: SECRET }] } });
    expect(JSON.stringify(redactConfig(config))).not.toContain(key);
    expect(describeUrl(url)).not.toContain(key);
  });

  it("FINDING 5 (fixed): the config refuses a topic prefix with an empty level ('a//b') by the MQTT output's own rule, at config check", () => {
    expect(() =>
      parseConfig({
        outputs: { mqtt: [{ name: 'broker', url: 'mqtt://127.0.0.1:1883', topicPrefix: 'site//facegate' }] },
      }),
    ).toThrow(/topicPrefix: expected non-empty topic levels/);
  });

  it('FINDING 6 (fixed): tls.ca and the other PEM paths are resolved against the configuration file, like dataDir', () => {
    const config = parseConfig(
      {
        dataDir: 'data',
        outputs: {
          mqtt: [{ name: 'b', url: 'mqtts://broker.example:8883', tls: { ca: 'certs/ca.crt' } }],
        },
      },
      { baseDir: '/etc/facegate' },
    );
    expect(config.dataDir).toBe(path.resolve('/etc/facegate', 'data'));
    expect(config.outputs.mqtt[0]?.tls?.ca).toBe(path.resolve('/etc/facegate', 'certs/ca.crt'));
  });
});

describe('a backlog of 10,000 messages (measured)', () => {
  const prefix = `fgreview-${randomBytes(4).toString('hex')}`;

  it('drains in order to the shared broker, every message once or more', async () => {
    const count = 10_000;
    const dir = tempDir();
    // The backlog an earlier run left (one append: this is about draining, not journaling).
    const messages = Array.from({ length: count }, (_, n) => testMessage(n));
    const left = await Outbox.open(path.join(dir, 'broker'), {
      name: 'broker',
      maxMessages: count,
      logger: silentLogger,
    });
    await left.append(messages);
    await left.close();

    const received: string[] = [];
    const subscriber = await mqtt.connectAsync(SHARED_MQTT_URL, { clientId: `${prefix}-sub`, reconnectPeriod: 0 });
    cleanups.push(() => subscriber.endAsync(true));
    subscriber.on('message', (_topic, payload) => received.push((JSON.parse(payload.toString()) as { id: string }).id));
    await subscriber.subscribeAsync(`${prefix}/test`, { qos: 1 });

    const started = performance.now();
    const outputs = await Outputs.open(
      [
        new MqttOutput({
          name: 'broker',
          url: SHARED_MQTT_URL,
          clientId: `${prefix}-pub`,
          topicPrefix: prefix,
          nodeId: 'review',
          homeAssistant: { enabled: false },
          cameras: [],
          timeoutMs: 5_000,
          logger: silentLogger,
        }),
      ],
      { dir, maxMessages: count, logger: silentLogger },
    );
    cleanups.push(() => outputs.close());
    await until('the outbox to drain', () => outputs.stats()[0]!.pending === 0, 120_000);
    const drainedMs = performance.now() - started;
    await until('the subscriber to have every message', () => new Set(received).size === count, 30_000);
    const firstSeen = [...new Set(received)];
    expect(firstSeen).toEqual(messages.map((m) => m.id));
    expect(outputs.stats()[0]).toMatchObject({ delivered: count, dropped: 0 });
    console.log(
      `review: ${count} messages drained to ${SHARED_MQTT_URL} in ${Math.round(drainedMs)} ms ` +
        `(one PUBACK round trip per message; ${(drainedMs / count).toFixed(2)} ms each)`,
    );
  }, 180_000);
});
