// Issue 12, defect 7: credentials in printed URLs. One redaction rule (storage/redact.ts) for every
// URL the appliance prints; each leak found by hostile testing is reproduced here through the
// code that printed it, and the secret must never appear.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { redactCredentials, redactUrl } from '../../storage/redact.js';
import { parseStorageConfig } from '../../storage/config.js';
import { validateCameraUrl } from '../../src/camera/ffmpeg-args.js';
import { RtspSource } from '../../src/camera/rtsp-source.js';
import { ConfigError, loadConfig, parseConfig, redactConfig } from '../../src/config/config.js';

const SECRETS = [
  'PlainPw',
  'eyJhbGciOi.J0.Wt',
  'Secr3tCam',
  'RedisPw9',
  'DbPw7',
  'Tok3n',
  'S1g',
  'K3y',
  'p@ss/w0rd',
  'ss/w0rd',
  'w0rd',
];

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) expect(text, `"${secret}" in ${text}`).not.toContain(secret);
}

function configError(input: unknown): string {
  try {
    parseConfig(input, { source: 'site.yaml' });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('Expected a ConfigError but the configuration was accepted');
}

describe('the one URL redaction rule', () => {
  it('hides user:password, a user-less password and a lone token in the user-info part', () => {
    expect(redactUrl('rtsp://admin:Secr3tCam@10.0.0.5:554/live')).toBe('rtsp://***@10.0.0.5:554/live');
    expect(redactUrl('redis://:RedisPw9@127.0.0.1:6379/0')).toBe('redis://***@127.0.0.1:6379/0');
    expect(redactUrl('https://Tok3n@git.example/x')).toBe('https://***@git.example/x');
    expect(redactUrl('postgres://app:DbPw7@db:5432/facegate')).toBe('postgres://***@db:5432/facegate');
    expect(redactUrl('rtsp://cam/x')).toBe('rtsp://cam/x');
    expect(redactUrl('slideshow:a.jpg,b.jpg')).toBe('slideshow:a.jpg,b.jpg');
  });

  it('hides secret query, fragment and path parameters, whatever their case', () => {
    const url =
      'rtsp://cam/live?channel=1&token=Tok3n&PASSWORD=Secr3tCam&Api_Key=K3y&apikey=K3y&access_token=Tok3n&sig=S1g&X-Signature=S1g&pwd=w0rd&auth=Tok3n#secret=K3y';
    const shown = redactUrl(url);
    expectNoSecret(shown);
    expect(shown).toContain('channel=1');
    expect(shown).toContain('token=***');
    // Cameras that take the credentials in the path (XMEye: /user=admin&password=x&channel=1).
    expect(redactUrl('rtsp://10.0.0.7:554/user=admin&password=Secr3tCam&channel=1&stream=0.sdp')).toBe(
      'rtsp://10.0.0.7:554/user=admin&password=***&channel=1&stream=0.sdp',
    );
  });

  it('hides credentials of URLs that do not parse, conservatively', () => {
    for (const bad of [
      'rtsp://admin:p@ss/w0rd@cam/x',
      'redis://:Redis?Pw9@host:6379',
      'rtsp://admin:Secr3tCam@[bad',
      'rtsp//admin:Secr3tCam@cam/x',
      'admin:Secr3tCam@cam',
      'postgres://app:DbPw7@db:notaport/x',
    ]) {
      expectNoSecret(redactUrl(bad));
      expect(redactUrl(bad)).toContain('***');
    }
    expect(redactUrl('redis://:Redis?Pw9@host:6379')).not.toContain('Pw9');
  });

  it('hides every URL and secret pair inside free text (ffmpeg, pg_dump)', () => {
    const stderr = [
      '[rtsp @ 0x55] method DESCRIBE failed: 401 Unauthorized',
      'rtsp://admin:p@ss/w0rd@10.0.0.5/live?token=Tok3n: Server returned 401',
      'pg_dump: error: connection to server failed: host=db password=DbPw7 user=app',
    ].join('\n');
    const shown = redactCredentials(stderr);
    expectNoSecret(shown);
    expect(shown).toContain('[rtsp @ 0x55] method DESCRIBE failed');
    expect(shown).toContain('host=db');
  });

  it('hides a jwt= parameter, in a URL and in free text', () => {
    const url = 'rtsp://cam/live?jwt=eyJhbGciOi.J0.Wt&channel=1';
    expectNoSecret(redactUrl(url));
    expect(redactUrl(url)).toBe('rtsp://cam/live?jwt=***&channel=1');
    expectNoSecret(redactCredentials(`GET ${url} failed; retry with jwt=eyJhbGciOi.J0.Wt`));
  });

  it('hides the value after a secret-named key and a colon (a YAML line quoted in free text)', () => {
    const shown = redactCredentials(
      'bad indentation at line 3:\n  password: PlainPw\n  user: admin\n{ api_key: "PlainPw", token:PlainPw }',
    );
    expectNoSecret(shown);
    expect(shown).toContain('password: ***');
    expect(shown).toContain('user: admin');
    expect(shown).toContain('line 3:');
    // Not a key: a URL's scheme colon, a time, a plain word before a colon.
    expect(redactCredentials('at 12:30 see rtsp://cam/x, error: timeout')).toBe(
      'at 12:30 see rtsp://cam/x, error: timeout',
    );
  });
});

describe('every place that prints a URL uses it', () => {
  it('config check: user-less Redis passwords, camera tokens, database passwords', () => {
    const config = parseConfig({
      database: { url: 'postgres://app:DbPw7@db/facegate' },
      redis: { url: 'redis://:RedisPw9@127.0.0.1:6379' },
      cameras: [{ id: 'gate', url: 'rtsp://cam.local/live?token=Tok3n&channel=1' }],
    });
    const shown = JSON.stringify(redactConfig(config));
    expectNoSecret(shown);
    expect(shown).toContain('channel=1');
    // The environment's URLs (DATABASE_URL, REDIS_URL) are shown through the same rule.
    const fromEnv = parseConfig(
      {},
      { env: { databaseUrl: 'postgresql://:DbPw7@db/x', redisUrl: 'rediss://default:RedisPw9@r:6380' } },
    );
    expectNoSecret(JSON.stringify(redactConfig(fromEnv)));
  });

  it('a configuration error never echoes a URL or the object holding it', () => {
    const unknownKey = configError({ cameras: [{ id: 'gate', url: 'rtsp://admin:Secr3tCam@10.0.0.5/live', fsp: 5 }] });
    expect(unknownKey).toMatch(/cameras\.0: .*"fsp"/);
    expectNoSecret(unknownKey);
    const badUrls = configError({
      database: { url: 'mysql://app:DbPw7@db/x' },
      redis: { url: 'http://:RedisPw9@r' },
      cameras: [{ id: 'gate', url: 'http://admin:Secr3tCam@cam/x?token=Tok3n' }],
    });
    expect(badUrls).toMatch(/database\.url: expected a postgres:\/\/ URL \(received "mysql:\/\/\*\*\*@db\/x"\)/);
    expect(badUrls).toMatch(/cameras\.0\.url: expected an rtsp/);
    expectNoSecret(badUrls);
    const unknownTopKey = configError({ redis: { url: 'redis://:RedisPw9@r', password: 'RedisPw9' } });
    expect(unknownTopKey).toMatch(/redis: .*"password"/);
    expectNoSecret(unknownTopKey);
  });

  it('a file that does not parse: the parser quotes the line with the URL', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-redaction-'));
    try {
      const yaml = path.join(dir, 'site.yaml');
      await writeFile(yaml, 'cameras:\n  - { id: gate, url: "rtsp://admin:Secr3tCam@cam/x?token=Tok3n" fsp }\n');
      const json = path.join(dir, 'site.json');
      await writeFile(json, '{ "redis": { "url": "redis://:RedisPw9@r" } x }');
      // A syntax error whose snippet is a secret-named key's line.
      const pw = path.join(dir, 'pw.yaml');
      await writeFile(pw, 'database:\n  password: PlainPw\n    url: x\n');
      for (const file of [yaml, json, pw]) {
        const message = await loadConfig(file, {}).then(
          () => 'accepted',
          (error: unknown) => (error as Error).message,
        );
        expect(message).toMatch(/is not valid (YAML|JSON)/);
        expectNoSecret(message);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("the storage layer's own configuration error", () => {
    let message = '';
    try {
      parseStorageConfig({ dataRoot: '/x', databaseUrl: 'mysql://app:DbPw7@db/x', redisUrl: 'http://:RedisPw9@r' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/databaseUrl/);
    expectNoSecret(message);
  });

  it('camera logs and errors: a refused URL, and the URL a source logs', () => {
    let refused = '';
    try {
      validateCameraUrl('http://admin:p@ss/w0rd@cam/x');
    } catch (error) {
      refused = (error as Error).message;
    }
    expect(refused).toMatch(/^Expected an rtsp/);
    expectNoSecret(refused);
    const source = new RtspSource(
      { cameraId: 'gate', url: 'rtsp://admin:Secr3tCam@cam.local/live?signature=S1g&channel=1' },
      { onFrame: () => Promise.resolve(), onStatus: () => undefined },
    );
    // toString() shows the URL every log line about the camera carries.
    expect(String(source)).toContain('cam.local/live');
    expectNoSecret(String(source));
  });
});
