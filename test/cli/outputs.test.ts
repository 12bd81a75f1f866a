// `facegate outputs test` (issue 17) as a user runs it: a test message to every configured output,
// a line per output saying delivered or why not, exit 1 when any failed, and no secret printed.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { verifySignature } from '../../src/outputs/signature.js';
import { CLI } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';

const SECRET = 'cli-test-secret-0123456789';
const run = `fgcli_${randomBytes(4).toString('hex')}`;
let dir: string;
let receiver: http.Server;
const received: { ok: boolean; body: string }[] = [];

function outputsTest(config: string) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    // Spawned, not spawnSync: the receiver in this process must answer while the command runs.
    const child = spawn(process.execPath, [CLI, 'outputs', 'test', '--json'], {
      env: { ...process.env, FACEGATE_CONFIG: config, DATABASE_URL: '', REDIS_URL: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-outputs-cli-'));
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const check = verifySignature({ secret: SECRET, body, headers: req.headers, nowMs: Date.now() });
      received.push({ ok: check.ok, body });
      res.writeHead(check.ok ? 204 : 401).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  await new Promise((r) => receiver.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('facegate outputs test', () => {
  it('delivers a signed test message and an MQTT one, says which output failed and why, exits 1, prints no secret', async () => {
    const port = (receiver.address() as AddressInfo).port;
    const closed = await freePort();
    const config = path.join(dir, 'facegate.yaml');
    await writeFile(
      config,
      [
        'outputs:',
        '  mqtt:',
        `    - { name: site, url: mqtt://127.0.0.1:1883, topicPrefix: ${run}, homeAssistant: { enabled: false } }`,
        '  webhooks:',
        `    - { name: alarm, url: "http://127.0.0.1:${port}/hook", secret: ${SECRET} }`,
        `    - { name: dead, url: "http://127.0.0.1:${closed}/hook", secret: ${SECRET}, timeoutMs: 500 }`,
      ].join('\n'),
    );
    const sub = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { reconnectPeriod: 0 });
    const onMqtt: string[] = [];
    sub.on('message', (_t, payload) => onMqtt.push(payload.toString()));
    await sub.subscribeAsync(`${run}/test`, { qos: 1 });
    try {
      const r = await outputsTest(config);
      expect(r.status, r.stderr).toBe(1);
      const out = JSON.parse(r.stdout) as {
        message: { id: string; type: string };
        outputs: { name: string; delivered: boolean; error: string | null }[];
      };
      expect(out.message.type).toBe('test');
      expect(out.outputs.map((o) => [o.name, o.delivered])).toEqual([
        ['site', true],
        ['alarm', true],
        ['dead', false],
      ]);
      expect(out.outputs[2]?.error).toMatch(/ECONNREFUSED|refused/i);
      // The webhook got it signed; the broker's subscriber got the same message.
      expect(received).toHaveLength(1);
      expect(received[0]?.ok).toBe(true);
      expect((JSON.parse(received[0]?.body ?? '{}') as { id: string }).id).toBe(out.message.id);
      expect(onMqtt.map((p) => (JSON.parse(p) as { id: string }).id)).toEqual([out.message.id]);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
    } finally {
      await sub.endAsync();
    }
  }, 60_000);

  it('says so when no output is configured, and refuses a wrong subcommand', () => {
    const env = { ...process.env, FACEGATE_CONFIG: '', DATABASE_URL: '', REDIS_URL: '' };
    const none = spawnSync(process.execPath, [CLI, 'outputs', 'test'], { encoding: 'utf8', env });
    expect(none.status).toBe(0);
    expect(none.stdout).toMatch(/no outputs configured/);
    const wrong = spawnSync(process.execPath, [CLI, 'outputs', 'send'], { encoding: 'utf8', env });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/Expected "outputs test" but received "outputs send"/);
  });
});
