import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError, loadConfig, parseConfig, redactConfig } from '../../src/config/config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('configuration', () => {
  it('gives working defaults without a file', () => {
    const c = parseConfig({});
    expect(c).toMatchObject({ cameras: [], inference: { provider: 'auto' }, api: { host: '127.0.0.1', port: 8450 }, retention: { unknownDays: 30 } });
    expect(c.recognition).toMatchObject({ match: 0.45, margin: 0.1, autoLearning: false });
    expect(c.dataDir).toMatch(/var[/\\]storage$/);
  });

  it('reads YAML, resolves paths against the file, and lets the environment win', async () => {
    const file = path.join(dir, 'facegate.yaml');
    await writeFile(
      file,
      ['dataDir: data', 'database:', '  url: postgres://app:secret@db/facegate', 'cameras:', '  - id: gate_1', '    url: rtsp://cam:pw@10.0.0.5/stream', '    fps: 3'].join('\n'),
    );
    const c = await loadConfig(file, {});
    expect(c.dataDir).toBe(path.join(dir, 'data'));
    expect(c.cameras[0]).toMatchObject({ id: 'gate_1', fps: 3, width: 1280, enabled: true });
    const overridden = await loadConfig(file, { databaseUrl: 'postgres://other/x', dataDir: '/srv/facegate' });
    expect(overridden.database.url).toBe('postgres://other/x');
    expect(overridden.dataDir).toBe(path.resolve('/srv/facegate'));
    const shown = redactConfig(c);
    expect(shown.database.url).toBe('postgres://app:***@db/facegate');
    expect(shown.cameras[0]?.url).toBe('rtsp://cam:***@10.0.0.5/stream');
  });

  it('names the key, the expectation and the received value for each mistake', () => {
    const bad = { cameras: [{ id: '../x', url: 'http://cam', fps: 0 }], api: { port: 99999 }, inference: { provider: 'gpu' }, colour: 'blue' };
    let message = '';
    try {
      parseConfig(bad, { source: 'test.yaml' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/^Invalid configuration in test\.yaml:/);
    expect(message).toMatch(/cameras\.0\.id: expected 1-64 letters.*\(received "\.\.\/x"\)/);
    expect(message).toMatch(/cameras\.0\.url: expected an rtsp:\/\/ or rtsps:\/\/ URL.* \(received "http:\/\/cam"\)/);
    expect(message).toMatch(/cameras\.0\.fps: .*\(received 0\)/);
    expect(message).toMatch(/api\.port: .*\(received 99999\)/);
    expect(message).toMatch(/inference\.provider: .*\(received "gpu"\)/);
    expect(message).toMatch(/colour/);
  });

  it('refuses a file that is not YAML or JSON, and duplicate camera ids', async () => {
    const file = path.join(dir, 'broken.json');
    await writeFile(file, '{ "cameras": [ }');
    await expect(loadConfig(file, {})).rejects.toThrow(/is not valid JSON/);
    expect(() =>
      parseConfig({ cameras: [{ id: 'a', url: 'rtsp://x/1' }, { id: 'A', url: 'rtsp://x/2' }] }),
    ).toThrow(/expected distinct camera ids/);
  });
});
