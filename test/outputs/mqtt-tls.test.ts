// The MQTT output over TLS with a user and password, against a disposable Mosquitto
// (helpers/disposable-mosquitto.ts) with a TLS listener and a mosquitto_passwd file. Everything
// secret is made here, per run, in a temp dir: a throwaway certificate authority and a server
// certificate for 127.0.0.1 signed by it (openssl), a second authority that signed nothing of the
// broker's, and the password file (mosquitto_passwd -b). Shows: mqtts:// with tls.ca and the right
// credentials delivers (a subscriber with the same credentials receives it); a wrong password makes
// deliver() fail saying why, and neither password appears in any log line or error; a broker whose
// certificate the given CA did not sign is refused while rejectUnauthorized is true.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Logger } from '../../storage/index.js';
import type { RecognitionMessage } from '../../src/outputs/message.js';
import { MqttOutput, type MqttOutputOptions } from '../../src/outputs/mqtt-output.js';
import { startMosquitto, type DisposableMosquitto } from '../helpers/disposable-mosquitto.js';
import { until } from '../helpers/until.js';

/** The tools this test runs, and the Debian package each comes from (scripts/test.sh installs them). */
const TOOLS = [
  { binary: '/usr/bin/openssl', pkg: 'openssl' },
  { binary: '/usr/bin/mosquitto_passwd', pkg: 'mosquitto' },
];

const suffix = randomBytes(4).toString('hex');
const PREFIX = `fgtls-${suffix}/facegate`;
const USER = `fg-${suffix}`;
// Distinctive, so that a search of the logs cannot miss them.
const PASSWORD = `right-Pw-${randomBytes(8).toString('hex')}`;
const WRONG_PASSWORD = `wrong-Pw-${randomBytes(8).toString('hex')}`;

let dir: string;
let broker: DisposableMosquitto;
/** The authority that signed the broker's certificate, and one that did not. */
let caFile: string;
let otherCaFile: string;
const outputs: MqttOutput[] = [];
const clients: MqttClient[] = [];

function run(file: string, args: string[]): void {
  try {
    execFileSync(file, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString('utf8') ?? '';
    throw new Error(`Expected ${path.basename(file)} ${args.join(' ')} to succeed but it failed: ${stderr}`, {
      cause: error,
    });
  }
}

/** A throwaway CA (its key and a self-signed certificate) named `name` in the temp dir. */
function certificateAuthority(name: string): void {
  run('/usr/bin/openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=facegate test ${name}`,
  ]); // prettier-ignore
}

function capturingLogger(): { logger: Logger; text: () => string; messages: () => string[] } {
  const raw: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void raw.push(line) });
  return {
    logger,
    text: () => raw.join(''),
    messages: () => raw.map((line) => (JSON.parse(line) as { msg: string }).msg),
  };
}

function recognition(): RecognitionMessage {
  return {
    type: 'recognition',
    applianceId: 'appliance-1',
    id: `01900000-0000-7000-8000-${randomBytes(6).toString('hex')}`,
    timestamp: new Date().toISOString(),
    cameraId: 'door',
    matchedUserId: 'u-1',
    userName: 'Ada',
    isUnknown: false,
    confidence: 0.9,
    trackId: 't-1',
    modelId: 'arcface',
    threshold: 0.5,
    access: { verdict: 'granted', reason: 'role staff' },
    cropUrl: null,
  };
}

function output(overrides: Partial<MqttOutputOptions>): MqttOutput {
  const created = new MqttOutput({
    name: 'secure',
    url: broker.url,
    username: USER,
    password: PASSWORD,
    tls: { ca: caFile, rejectUnauthorized: true },
    topicPrefix: PREFIX,
    nodeId: `fg_${suffix}`,
    homeAssistant: { enabled: false },
    cameras: ['door'],
    timeoutMs: 3_000,
    logger: pino({ level: 'silent' }),
    ...overrides,
  });
  outputs.push(created);
  return created;
}

/** A subscriber logged in with the right credentials, trusting the right CA. */
async function subscriber(): Promise<{ received: { topic: string; payload: string }[] }> {
  const received: { topic: string; payload: string }[] = [];
  const client = await mqtt.connectAsync(broker.url, {
    clientId: `fgtls-sub-${randomBytes(4).toString('hex')}`,
    username: USER,
    password: PASSWORD,
    ca: readFileSync(caFile),
    rejectUnauthorized: true,
    reconnectPeriod: 0,
  });
  clients.push(client);
  client.on('message', (topic, payload) => received.push({ topic, payload: payload.toString('utf8') }));
  await client.subscribeAsync(`${PREFIX}/#`, { qos: 1 });
  return { received };
}

beforeAll(async () => {
  const missing = TOOLS.filter((t) => !existsSync(t.binary));
  if (missing.length > 0)
    throw new Error(
      `Expected ${missing.map((t) => `${t.binary} (Debian package ${t.pkg})`).join(' and ')} but ` +
        `${missing.length === 1 ? 'it is' : 'they are'} missing: apt-get install ${missing.map((t) => t.pkg).join(' ')}`,
    );
  dir = mkdtempSync(path.join(os.tmpdir(), 'facegate-mqtt-tls-'));
  certificateAuthority('ca');
  certificateAuthority('other-ca');
  // The broker's certificate: for the address the clients dial (an IP SAN), signed by ca.
  run('/usr/bin/openssl', [
    'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1',
  ]); // prettier-ignore
  writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run('/usr/bin/openssl', [
    'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '1', '-out', 'server.crt', '-extfile', 'server.ext',
  ]); // prettier-ignore
  writeFileSync(path.join(dir, 'passwords'), '');
  run('/usr/bin/mosquitto_passwd', ['-b', path.join(dir, 'passwords'), USER, PASSWORD]);
  caFile = path.join(dir, 'ca.crt');
  otherCaFile = path.join(dir, 'other-ca.crt');
  broker = await startMosquitto({
    tls: { cafile: caFile, certfile: path.join(dir, 'server.crt'), keyfile: path.join(dir, 'server.key') },
    passwordFile: path.join(dir, 'passwords'),
  });
}, 60_000);

afterAll(async () => {
  for (const o of outputs) await o.close().catch(() => undefined);
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the MQTT output over TLS with credentials', () => {
  it('delivers over mqtts:// with tls.ca and the right user and password', async () => {
    expect(broker.url).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const { received } = await subscriber();
    const out = output({});
    await out.start();
    await until('the output to connect', () => out.connected(), 10_000);
    const message = recognition();
    await out.deliver(message);
    const ours = () => received.filter((r) => r.payload.includes(message.id));
    await until('the subscriber to receive the recognition and the access verdict', () => ours().length >= 2);
    expect(
      ours()
        .map((r) => r.topic)
        .sort(),
    ).toEqual([`${PREFIX}/door/access`, `${PREFIX}/door/recognition`]);
    expect(JSON.parse(ours()[0]!.payload)).toMatchObject({ id: message.id, access: { verdict: 'granted' } });
    // The availability announced on connect came through the same login.
    expect(received.find((r) => r.topic === `${PREFIX}/availability`)?.payload).toBe('online');
  });

  it('fails deliver() saying the broker refused the login, and never logs or throws either password', async () => {
    const { received } = await subscriber();
    const { logger, text, messages } = capturingLogger();
    // The URL carries the user and the wrong password too: a common way to write it.
    const url = broker.url.replace('mqtts://', `mqtts://${USER}:${WRONG_PASSWORD}@`);
    const out = output({ name: 'wrong', url, password: WRONG_PASSWORD, logger });
    await out.start();
    await until('the refused login to be logged', () => messages().includes('mqtt: connection error'), 10_000);
    const message = recognition();
    const error = await out.deliver(message).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    // What failed and why: not connected, because the broker said not authorised.
    expect(error!.message).toMatch(/not connected to mqtts:\/\/\*+@127\.0\.0\.1:\d+/);
    expect(error!.message).toMatch(/not authori[sz]ed/i);
    expect(out.connected()).toBe(false);
    await out.close();
    const everything = `${text()}\n${error!.message}\n${error!.stack ?? ''}`;
    expect(everything).toMatch(/not authori[sz]ed/i);
    expect(everything).not.toContain(WRONG_PASSWORD);
    expect(everything).not.toContain(PASSWORD);
    // Nothing went through on the way.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received.filter((r) => r.payload.includes(message.id))).toEqual([]);
  });

  it('refuses a broker whose certificate the given CA did not sign while rejectUnauthorized is true', async () => {
    const { received } = await subscriber();
    const { logger, text, messages } = capturingLogger();
    const out = output({ name: 'untrusted', tls: { ca: otherCaFile, rejectUnauthorized: true }, logger });
    await out.start();
    await until('the failed TLS handshake to be logged', () => messages().includes('mqtt: connection error'), 10_000);
    const message = recognition();
    const error = await out.deliver(message).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/not connected/);
    expect(error?.message).toMatch(/certificate|issuer/i);
    expect(text()).toMatch(/certificate|issuer/i);
    expect(text()).not.toContain(PASSWORD);
    expect(out.connected()).toBe(false);
    await out.close();

    // The control: the same broker and CA file with verification off does connect, so the
    // refusal above was the certificate check and nothing else.
    const unchecked = output({ name: 'unchecked', tls: { ca: otherCaFile, rejectUnauthorized: false } });
    await unchecked.start();
    await until('the unverified output to connect', () => unchecked.connected(), 10_000);
    await unchecked.deliver(message);
    await until('the subscriber to receive it', () => received.some((r) => r.payload.includes(message.id)));
  });
});
