// `facegate config check`, `doctor` and `serve` as a site engineer runs them (the compiled CLI),
// for issue 12's defects 5 (camera ids storage refuses), 7 (credentials printed) and 11 (thresholds
// that match anyone). Every secret below must never appear in anything printed.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLI } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { MODELS_DIR } from '../helpers/shared-data.js';
import { until } from '../helpers/until.js';

const SECRETS = ['Secr3tCam', 'RedisPw9', 'DbPw7', 'Tok3n', 'S1g'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-config-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) expect(text, `"${secret}" printed`).not.toContain(secret);
}

async function configFile(name: string, lines: string[]): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, lines.join('\n'));
  return file;
}

function facegate(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...process.env,
      FACEGATE_DATA_DIR: path.join(dir, 'data'),
      FACEGATE_MODELS_DIR: MODELS_DIR,
      DATABASE_URL: '',
      REDIS_URL: '',
      FACEGATE_CONFIG: '',
      ...env,
    },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
}

describe('facegate config check', () => {
  it('prints the effective configuration with no credential in it (user-less Redis password, camera tokens, DATABASE_URL)', async () => {
    const file = await configFile('secrets.yaml', [
      'redis: { url: "redis://:RedisPw9@127.0.0.1:6379/0" }',
      'cameras:',
      '  - { id: gate, url: "rtsp://admin:Secr3tCam@10.0.0.5/live?token=Tok3n&channel=1" }',
      '  - { id: door, url: "rtsp://10.0.0.6/live?Signature=S1g" }',
    ]);
    for (const json of [[], ['--json']]) {
      const r = facegate(['config', 'check', file, ...json], {
        DATABASE_URL: 'postgres://app:DbPw7@db/facegate?password=DbPw7',
      });
      expect(r.status, r.all).toBe(0);
      expect(r.stdout).toContain('10.0.0.5/live?token=***&channel=1');
      expectNoSecret(r.all);
    }
  });

  it('an error in the file never prints the camera object or its URL', async () => {
    const file = await configFile('typo.yaml', [
      'cameras:',
      '  - { id: gate, url: "rtsp://admin:Secr3tCam@10.0.0.5/live", fsp: 5 }',
    ]);
    const r = facegate(['config', 'check', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cameras\.0: .*"fsp"/);
    expectNoSecret(r.all);
  });

  it('refuses a camera id storage would refuse, naming the key, the rule and the id', async () => {
    for (const id of ['CON', 'nul', 'COM1', 'cam.']) {
      const file = await configFile('ids.yaml', ['cameras:', `  - { id: "${id}", url: "rtsp://10.0.0.5/live" }`]);
      const r = facegate(['config', 'check', file]);
      expect(r.status, id).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`cameras\\.0\\.id: Expected a camera id .* but received "${id.replace('.', '\\.')}"`),
      );
    }
  });

  it('refuses thresholds that match strangers, says how to override, and warns when overridden', async () => {
    const refused = facegate([
      'config',
      'check',
      await configFile('zero.yaml', ['recognition: { match: 0, margin: 0 }']),
    ]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/recognition\.match: Expected a match threshold of at least 0\.4.* but received 0/);
    expect(refused.stderr).toMatch(/recognition\.margin: Expected a margin of at least .* but received 0/);
    expect(refused.stderr).toMatch(/allowUnsafeThresholds: true/);
    const overridden = facegate([
      'config',
      'check',
      await configFile('unsafe.yaml', ['recognition: { match: 0, margin: 0, allowUnsafeThresholds: true }']),
    ]);
    expect(overridden.status, overridden.all).toBe(0);
    expect(overridden.stdout).toMatch(/warning: .*recognition\.match 0 is below/);
  });
});

describe('facegate config print --defaults', () => {
  it('prints the whole default configuration as YAML, every key under its description, and it loads back to the defaults', async () => {
    const r = facegate(['config', 'print', '--defaults']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    // Each key line (set or commented out) comes right after its description comment (a list's
    // after the description of its entries' keys).
    const keyLines = lines
      .map((line, i) => ({ line, i }))
      .filter(({ line }) => /^\s*(# )?[a-zA-Z]+:( |$)/.test(line) && !/^# (facegate|Every|Environment)/.test(line));
    expect(keyLines.length).toBeGreaterThan(25);
    for (const { line, i } of keyLines) expect(lines[i - 1], `no description above "${line}"`).toMatch(/^\s*#\s+\S/);
    // The values come from the modules that own them (decision.ts, storage/config.ts, ffmpeg-args.ts).
    expect(r.stdout).toMatch(/^ {2}margin: 0\.1$/m);
    expect(r.stdout).toMatch(/^ {2}minVotes: 3$/m);
    expect(r.stdout).toMatch(/^ {2}cameraTtlSeconds: 30$/m);
    expect(r.stdout).toMatch(/^#\s+width \(default 1280\): /m);
    expect(r.stdout).toMatch(/^ {2}# match:$/m);

    const json = facegate(['config', 'print', '--defaults', '--json']);
    expect(json.status, json.stderr).toBe(0);
    const printed = JSON.parse(json.stdout) as { yaml: string; defaults: Record<string, unknown> };
    expect(printed.yaml.trimEnd()).toBe(r.stdout.trimEnd());

    // Loaded as a configuration file, it is exactly the configuration of no file at all.
    const file = await configFile('defaults.yaml', [r.stdout]);
    const fromFile = facegate(['config', 'check', file, '--json']);
    const fromNothing = facegate(['config', 'check', '--json']);
    expect(fromFile.status, fromFile.all).toBe(0);
    const { source: _source, ...effective } = (JSON.parse(fromFile.stdout) as { config: Record<string, unknown> })
      .config;
    const { source: _none, ...builtIn } = (JSON.parse(fromNothing.stdout) as { config: Record<string, unknown> })
      .config;
    expect(effective).toEqual(builtIn);
    expect(printed.defaults).toMatchObject({
      recognition: builtIn.recognition,
      health: builtIn.health,
      api: builtIn.api,
    });
  });

  it('refuses "config print" without --defaults, saying what it expected', () => {
    const r = facegate(['config', 'print']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Expected "config print --defaults" but received "config print"/);
  });
});

describe('facegate doctor', () => {
  it('shows DATABASE_URL and REDIS_URL without their passwords, in the URL or in its query', async () => {
    const [pgPort, redisPort] = [await freePort(), await freePort()];
    const r = facegate(['doctor', '--json'], {
      DATABASE_URL: `postgres://app:DbPw7@127.0.0.1:${pgPort}/test?password=DbPw7&sslmode=disable`,
      REDIS_URL: `redis://:RedisPw9@127.0.0.1:${redisPort}/0`,
    });
    const report = JSON.parse(r.stdout) as { checks: { name: string; ok: boolean; detail: string }[] };
    const database = report.checks.find((c) => c.name === 'database');
    expect(database?.detail).toMatch(
      new RegExp(
        `^postgres://\\*\\*\\*@127\\.0\\.0\\.1:${pgPort}/test\\?password=\\*\\*\\*&sslmode=disable unreachable`,
      ),
    );
    expect(report.checks.find((c) => c.name === 'redis')?.detail).toMatch(
      /^redis:\/\/\*\*\*@127\.0\.0\.1:\d+\/0 unreachable/,
    );
    expectNoSecret(r.all);
  });
});

describe('facegate serve', () => {
  it('logs a warning for overridden thresholds at start, and a camera URL only redacted', async () => {
    const [apiPort, cameraPort] = [await freePort(), await freePort()];
    const file = await configFile('serve.yaml', [
      `dataDir: ${JSON.stringify(path.join(dir, 'serve-data'))}`,
      `api: { port: ${apiPort} }`,
      'inference: { provider: cpu }',
      'recognition: { match: 0.3, allowUnsafeThresholds: true }',
      'cameras:',
      // Nothing listens there: ffmpeg fails, and the failure is logged with the URL and ffmpeg's stderr.
      `  - { id: gate, url: "rtsp://admin:Secr3tCam@127.0.0.1:${cameraPort}/live?signature=S1g&token=Tok3n" }`,
    ]);
    const serve = spawn(process.execPath, [CLI, 'serve', '--config', file], {
      env: {
        ...process.env,
        FACEGATE_MODELS_DIR: MODELS_DIR,
        FACEGATE_DATA_DIR: '',
        DATABASE_URL: '',
        REDIS_URL: '',
        FACEGATE_CONFIG: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    serve.stdout.on('data', (d: Buffer) => (log += d.toString()));
    serve.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((resolve) => serve.on('exit', (code) => resolve(code)));
    try {
      await until('a camera failure logged', () => /camera: disconnected/.test(log) || serve.exitCode !== null, 90_000);
      expect(log).toMatch(/"level":40[^\n]*recognition\.match 0\.3 is below/);
      expect(log).toMatch(/"url":"rtsp:\/\/\*\*\*@127\.0\.0\.1:\d+\/live\?signature=\*\*\*&token=\*\*\*"/);
      expectNoSecret(log);
    } finally {
      serve.kill('SIGTERM');
      await exited;
    }
    expectNoSecret(log);
  });
});
