// The MQTT output against real brokers: the shared Mosquitto on 127.0.0.1:1883 for what reaches a
// subscriber (topics, retained state, availability, Home Assistant discovery), disposable ones
// (helpers/disposable-mosquitto.ts) for a broker that dies and comes back and for the last will.
// Every run uses its own topic prefix, node id and discovery prefix, so runs never see each
// other's retained messages, and clears what it retained on the shared broker.
import { randomBytes } from 'node:crypto';

import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import type { Logger } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import { discoveryMessages, UNKNOWN_FACE_OFF_DELAY_S } from '../../src/outputs/home-assistant.js';
import type { RecognitionMessage, StatusMessage, TestMessage } from '../../src/outputs/message.js';
import { MqttOutput, type MqttOutputOptions } from '../../src/outputs/mqtt-output.js';
import { startMosquitto, type DisposableMosquitto } from '../helpers/disposable-mosquitto.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { until } from '../helpers/until.js';

const SHARED_MQTT_URL = process.env.FACEGATE_TEST_MQTT_URL ?? 'mqtt://127.0.0.1:1883';

const suffix = randomBytes(4).toString('hex');
const PREFIX = `fgtest-${suffix}/facegate`;
const NODE_ID = `fg_${suffix}`;
const DISCOVERY = `fgtest-${suffix}/homeassistant`;
const CAMERAS = ['door', 'gate-2'];

interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/** A test subscriber: collects every message on `filters`, resubscribing after a reconnect. */
async function subscriber(url: string, filters: string[]): Promise<{ client: MqttClient; received: Received[] }> {
  const received: Received[] = [];
  const client = await mqtt.connectAsync(url, {
    reconnectPeriod: 200,
    clientId: `fgtest-sub-${randomBytes(4).toString('hex')}`,
  });
  client.on('message', (topic, payload, packet) => {
    received.push({ topic, payload: payload.toString('utf8'), retain: packet.retain });
  });
  await client.subscribeAsync(filters, { qos: 1 });
  return { client, received };
}

function recognition(overrides: Partial<RecognitionMessage> = {}): RecognitionMessage {
  return {
    type: 'recognition',
    applianceId: 'appliance-1',
    id: `01900000-0000-7000-8000-${randomBytes(6).toString('hex')}`,
    timestamp: new Date().toISOString(),
    cameraId: 'door',
    matchedUserId: 'u-1',
    userName: 'Ada',
    isUnknown: false,
    confidence: 0.91,
    trackId: 't-1',
    modelId: 'arcface',
    threshold: 0.5,
    access: { verdict: 'granted', reason: 'role staff' },
    cropUrl: null,
    ...overrides,
  };
}

function status(state: 'online' | 'offline', cameraId = 'door'): StatusMessage {
  return {
    type: 'status',
    applianceId: 'appliance-1',
    id: `01900000-0000-7000-8000-${randomBytes(6).toString('hex')}`,
    timestamp: new Date().toISOString(),
    cameraId,
    state,
    reason: state === 'offline' ? 'rtsp: connection refused' : null,
  };
}

function options(overrides: Partial<MqttOutputOptions> = {}): MqttOutputOptions {
  return {
    name: 'broker',
    url: SHARED_MQTT_URL,
    topicPrefix: PREFIX,
    nodeId: NODE_ID,
    homeAssistant: { enabled: true, discoveryPrefix: DISCOVERY },
    cameras: CAMERAS,
    timeoutMs: 5_000,
    logger: silentLogger,
    ...overrides,
  };
}

/** A logger that keeps every line, as pino writes it, for checking what is logged (and what never is). */
function capturingLogger(): { logger: Logger; lines: { msg: string; [key: string]: unknown }[]; text: () => string } {
  const raw: string[] = [];
  const lines: { msg: string }[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        raw.push(line);
        lines.push(JSON.parse(line) as { msg: string });
      },
    },
  );
  return { logger, lines, text: () => raw.join('') };
}

const byTopic = (received: Received[], topic: string): Received[] => received.filter((r) => r.topic === topic);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('MqttOutput on the shared broker', () => {
  afterAll(async () => {
    // Clear what this run retained (an empty retained payload deletes it).
    const client = await mqtt.connectAsync(SHARED_MQTT_URL);
    const retained = [
      `${PREFIX}/availability`,
      ...CAMERAS.map((camera) => `${PREFIX}/${camera}/status`),
      ...discoveryMessages({ topicPrefix: PREFIX, nodeId: NODE_ID, discoveryPrefix: DISCOVERY, cameras: CAMERAS }).map(
        (m) => m.topic,
      ),
    ];
    for (const topic of retained) await client.publishAsync(topic, '', { qos: 1, retain: true });
    await client.endAsync();
  });

  it('publishes recognitions on the recognition and access topics, retains status, and announces availability and discovery', async () => {
    const live = await subscriber(SHARED_MQTT_URL, [`${PREFIX}/#`, `${DISCOVERY}/#`]);
    cleanups.push(() => live.client.endAsync());
    const output = new MqttOutput(options());
    cleanups.push(() => output.close());
    expect(output.connected()).toBe(false);
    await output.start();
    await until('the output to connect', () => output.connected());

    const granted = recognition();
    await output.deliver(granted);
    const unmatched = recognition({ matchedUserId: null, userName: null, isUnknown: true, access: null });
    await output.deliver(unmatched);
    const doorOffline = status('offline');
    await output.deliver(doorOffline);
    const test: TestMessage = { type: 'test', id: 'test-1', timestamp: new Date().toISOString(), text: 'hello' };
    await output.deliver(test);

    await until('every message at the subscriber', () => byTopic(live.received, `${PREFIX}/test`).length === 1, 10_000);
    // A recognition with a verdict: the same JSON on both topics; without one, only on recognition.
    expect(byTopic(live.received, `${PREFIX}/door/recognition`).map((r) => r.payload)).toEqual([
      JSON.stringify(granted),
      JSON.stringify(unmatched),
    ]);
    expect(byTopic(live.received, `${PREFIX}/door/access`).map((r) => r.payload)).toEqual([JSON.stringify(granted)]);
    expect(JSON.parse(byTopic(live.received, `${PREFIX}/door/access`)[0]!.payload)).toEqual(granted);
    expect(byTopic(live.received, `${PREFIX}/door/status`).map((r) => r.payload)).toEqual([
      JSON.stringify(doorOffline),
    ]);
    expect(byTopic(live.received, `${PREFIX}/test`)[0]!.payload).toBe(JSON.stringify(test));

    // A subscriber that comes later gets the retained state: status, availability, discovery.
    const late = await subscriber(SHARED_MQTT_URL, [`${PREFIX}/#`, `${DISCOVERY}/#`]);
    cleanups.push(() => late.client.endAsync());
    await until('the retained messages', () => late.received.length >= 2 + 3 * CAMERAS.length, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 200)); // anything more that should not be there
    const status_ = byTopic(late.received, `${PREFIX}/door/status`);
    expect(status_).toEqual([{ topic: `${PREFIX}/door/status`, payload: JSON.stringify(doorOffline), retain: true }]);
    expect(byTopic(late.received, `${PREFIX}/availability`)).toEqual([
      { topic: `${PREFIX}/availability`, payload: 'online', retain: true },
    ]);
    // Recognitions are events, not state: never retained.
    expect(byTopic(late.received, `${PREFIX}/door/recognition`)).toEqual([]);
    expect(byTopic(late.received, `${PREFIX}/door/access`)).toEqual([]);

    const discovery = late.received.filter((r) => r.topic.startsWith(`${DISCOVERY}/`));
    expect(discovery.every((r) => r.retain)).toBe(true);
    expect(discovery.map((r) => r.topic).sort()).toEqual(
      [
        `${DISCOVERY}/sensor/${NODE_ID}_door/last_person/config`,
        `${DISCOVERY}/binary_sensor/${NODE_ID}_door/unknown_face/config`,
        `${DISCOVERY}/binary_sensor/${NODE_ID}_door/status/config`,
        `${DISCOVERY}/sensor/${NODE_ID}_gate-2/last_person/config`,
        `${DISCOVERY}/binary_sensor/${NODE_ID}_gate-2/unknown_face/config`,
        `${DISCOVERY}/binary_sensor/${NODE_ID}_gate-2/status/config`,
      ].sort(),
    );
    const config = (topic: string): Record<string, unknown> =>
      JSON.parse(discovery.find((r) => r.topic === topic)!.payload) as Record<string, unknown>;
    const device = { identifiers: [`${NODE_ID}_door`], name: 'door', manufacturer: 'facegate' };
    const common = {
      availability_topic: `${PREFIX}/availability`,
      payload_available: 'online',
      payload_not_available: 'offline',
      qos: 1,
      device: expect.objectContaining(device) as unknown,
    };
    expect(config(`${DISCOVERY}/sensor/${NODE_ID}_door/last_person/config`)).toMatchObject({
      ...common,
      unique_id: `${NODE_ID}_door_last_person`,
      name: 'Last person',
      has_entity_name: true,
      state_topic: `${PREFIX}/door/recognition`,
      value_template: "{{ value_json.userName or value_json.matchedUserId or 'unknown' }}",
    });
    expect(config(`${DISCOVERY}/binary_sensor/${NODE_ID}_door/unknown_face/config`)).toMatchObject({
      ...common,
      unique_id: `${NODE_ID}_door_unknown_face`,
      state_topic: `${PREFIX}/door/recognition`,
      device_class: 'occupancy',
      value_template: "{{ 'ON' if value_json.isUnknown else 'OFF' }}",
      payload_on: 'ON',
      payload_off: 'OFF',
      off_delay: UNKNOWN_FACE_OFF_DELAY_S,
    });
    expect(config(`${DISCOVERY}/binary_sensor/${NODE_ID}_door/status/config`)).toMatchObject({
      ...common,
      unique_id: `${NODE_ID}_door_status`,
      state_topic: `${PREFIX}/door/status`,
      device_class: 'connectivity',
      value_template: "{{ 'ON' if value_json.state == 'online' else 'OFF' }}",
    });
    expect(config(`${DISCOVERY}/binary_sensor/${NODE_ID}_gate-2/status/config`)).toMatchObject({
      unique_id: `${NODE_ID}_gate-2_status`,
      state_topic: `${PREFIX}/gate-2/status`,
      device: expect.objectContaining({ identifiers: [`${NODE_ID}_gate-2`] }) as unknown,
    });

    // close(): availability says 'offline', retained.
    await output.close();
    expect(output.connected()).toBe(false);
    const afterClose = await subscriber(SHARED_MQTT_URL, [`${PREFIX}/availability`]);
    cleanups.push(() => afterClose.client.endAsync());
    await until('the retained availability', () => afterClose.received.length > 0, 10_000);
    expect(afterClose.received).toEqual([{ topic: `${PREFIX}/availability`, payload: 'offline', retain: true }]);
    await expect(output.deliver(recognition())).rejects.toThrow(/not connected to mqtt:\/\/127\.0\.0\.1:1883/);
  });

  it('announces no discovery when Home Assistant is disabled', async () => {
    const discoveryPrefix = `${DISCOVERY}-off`;
    const nodeId = `${NODE_ID}_off`;
    const live = await subscriber(SHARED_MQTT_URL, [`${discoveryPrefix}/#`, `${PREFIX}/availability`]);
    cleanups.push(() => live.client.endAsync());
    const output = new MqttOutput(options({ nodeId, homeAssistant: { enabled: false, discoveryPrefix } }));
    cleanups.push(() => output.close());
    await output.start();
    await until('availability online', () => live.received.some((r) => r.payload === 'online'), 10_000);
    await output.deliver(status('online'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(live.received.filter((r) => r.topic.startsWith(`${discoveryPrefix}/`))).toEqual([]);
  });
});

describe('MqttOutput when the broker goes away', () => {
  /** A broker of the test's own, stopped after it (one test's failure leaves the next a live one). */
  async function ownBroker(): Promise<DisposableMosquitto> {
    const broker = await startMosquitto();
    cleanups.push(() => broker.stop());
    return broker;
  }

  it('refuses at once while the broker is down and delivers again once it is back on the same port, logging each change once and never the password', async () => {
    const broker = await ownBroker();
    const { logger, lines, text } = capturingLogger();
    const withCredentials = broker.url.replace('mqtt://', 'mqtt://facegate:s3cret-pw@');
    const output = new MqttOutput(options({ url: withCredentials, password: 'an0ther-pw', logger, timeoutMs: 2_000 }));
    cleanups.push(() => output.close());
    await output.start();
    await until('the output to connect', () => output.connected());

    // mqtt.js resubscribes after a reconnect (clean session): this subscriber sees what follows the restart.
    const sub = await subscriber(broker.url, [`${PREFIX}/#`]);
    cleanups.push(() => sub.client.endAsync(true));
    const before = recognition();
    await output.deliver(before);

    await broker.kill();
    await until('the output to see the broker gone', () => !output.connected(), 10_000);
    const redacted = broker.url.replace('mqtt://', 'mqtt://***@');
    const failure = await output.deliver(recognition()).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(failure?.message).toBe(`MQTT output "broker": not connected to ${redacted}`);
    // Let mqtt.js retry a few times (every second) while the broker is down.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    await expect(output.deliver(status('offline'))).rejects.toThrow(/not connected/);

    await broker.restart();
    await until('the output to reconnect by itself', () => output.connected(), 15_000);
    const after = recognition({ cameraId: 'gate-2' });
    await until(
      'a delivery after the restart',
      () =>
        output.deliver(after).then(
          () => true,
          () => false,
        ),
      10_000,
    );
    await until(
      'the subscriber to get it',
      () => sub.received.some((r) => r.payload === JSON.stringify(after)),
      10_000,
    );
    expect(sub.received.filter((r) => r.topic === `${PREFIX}/door/recognition`).map((r) => r.payload)).toEqual([
      JSON.stringify(before),
    ]);

    // One line per change of state, not per retry; no password anywhere.
    const messages = lines.map((line) => line.msg);
    expect(messages.filter((m) => m === 'mqtt: connected')).toHaveLength(2);
    expect(messages.filter((m) => m === 'mqtt: connection lost; reconnecting')).toHaveLength(1);
    expect(messages.filter((m) => m === 'mqtt: connection error').length).toBeLessThanOrEqual(2);
    expect(lines.find((line) => line.msg === 'mqtt: connected')).toMatchObject({ url: redacted, output: 'broker' });
    await output.close();
    expect(text()).not.toMatch(/s3cret-pw|an0ther-pw/);
  });

  it('leaves its last will, availability offline, when its connection dies without a DISCONNECT', async () => {
    const broker = await ownBroker();
    const topicPrefix = `${PREFIX}-will`;
    // cut() drops every proxied connection without an MQTT DISCONNECT, which is how the broker sees
    // a client that died (its last will fires); until restore() a new connection is dropped at once.
    const proxy = await startTcpProxy(broker.port);
    cleanups.push(() => proxy.close());
    const sub = await subscriber(broker.url, [`${topicPrefix}/availability`]);
    cleanups.push(() => sub.client.endAsync(true));
    const output = new MqttOutput(
      options({ url: proxy.via(broker.url), topicPrefix, homeAssistant: { enabled: false } }),
    );
    cleanups.push(() => output.close());
    await output.start();
    const availability = (): string[] => sub.received.map((r) => r.payload);
    await until('online', () => availability().includes('online'), 10_000);

    // The broker sees the TCP connection end with no DISCONNECT: the client died. It publishes the
    // will, retained: a subscriber that comes while the client cannot get back reads 'offline'.
    proxy.cut();
    await until('the last will', () => availability().includes('offline'), 10_000);
    expect(availability()).toEqual(['online', 'offline']);
    expect(output.connected()).toBe(false);
    const late = await subscriber(broker.url, [`${topicPrefix}/availability`]);
    cleanups.push(() => late.client.endAsync(true));
    await until('the retained will', () => late.received.length > 0, 10_000);
    expect(late.received).toEqual([{ topic: `${topicPrefix}/availability`, payload: 'offline', retain: true }]);

    // The output reconnects by itself once it can, and says 'online' again.
    proxy.restore();
    await until('online again', () => availability().length === 3, 10_000);
    expect(availability()).toEqual(['online', 'offline', 'online']);
    expect(output.connected()).toBe(true);
  });
});

describe('MqttOutput options', () => {
  const refused = (overrides: Partial<MqttOutputOptions>): string => {
    try {
      new MqttOutput(options(overrides));
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error(`Expected the options ${JSON.stringify(Object.keys(overrides))} to be refused`);
  };

  it('refuses a URL that is not mqtt:// or mqtts://, without showing its credentials', () => {
    const http = refused({ url: 'http://admin:s3cret@broker.local:1883' });
    expect(http).toBe(
      'Expected an mqtt:// or mqtts:// URL for MQTT output "broker" but received "http://***@broker.local:1883"',
    );
    const noScheme = refused({ url: 'admin:s3cret@broker.local:1883' });
    expect(noScheme).toMatch(/^Expected an mqtt:\/\/ or mqtts:\/\/ URL .* but received "\*\*\*@broker\.local:1883"$/);
    const garbage = refused({ url: 'mqtt://admin:s3cret@' });
    expect(garbage).toMatch(/^Expected .* but received "mqtt:\/\/\*\*\*@"$/);
    for (const message of [http, noScheme, garbage]) expect(message).not.toContain('s3cret');
  });

  it('refuses ids and prefixes that would break topics or Home Assistant ids', () => {
    expect(refused({ topicPrefix: 'facegate/#' })).toMatch(/^Expected a topic prefix .* but received "facegate\/#"$/);
    expect(refused({ topicPrefix: '/facegate' })).toMatch(/but received "\/facegate"$/);
    expect(refused({ nodeId: 'face gate' })).toMatch(/^Expected a nodeId .* but received "face gate"$/);
    expect(refused({ cameras: ['door', 'back/yard'] })).toMatch(/^Expected camera ids .* but received "back\/yard"$/);
    expect(refused({ homeAssistant: { enabled: true, discoveryPrefix: 'ha/+' } })).toMatch(/but received "ha\/\+"$/);
    expect(refused({ timeoutMs: 0 })).toMatch(/^Expected a positive timeoutMs .* but received 0$/);
    expect(refused({ tls: { rejectUnauthorized: true } })).toMatch(/^Expected an mqtts:\/\/ URL with tls options/);
  });

  it('refuses to deliver before start, naming the broker without credentials', async () => {
    const output = new MqttOutput(options({ url: 'mqtt://u:s3cret@127.0.0.1:1' }));
    await expect(output.deliver(recognition())).rejects.toThrow(
      'MQTT output "broker": not connected to mqtt://***@127.0.0.1:1',
    );
    expect(output.connected()).toBe(false);
    await output.close();
  });

  it('refuses at start a TLS file it cannot read', async () => {
    const output = new MqttOutput(
      options({ url: 'mqtts://127.0.0.1:8883', tls: { ca: '/nonexistent/ca.pem', rejectUnauthorized: true } }),
    );
    await expect(output.start()).rejects.toThrow(
      /^Expected a readable PEM file for the MQTT tls\.ca but received "\/nonexistent\/ca\.pem"/,
    );
    await output.close();
  });
});
