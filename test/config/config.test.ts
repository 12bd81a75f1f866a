import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { z } from 'zod';

import { buildFfmpegArgs, DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH } from '../../src/camera/ffmpeg-args.js';
import { DEFAULT_FOLLOW } from '../../src/pipeline/follow.js';
import { DEFAULT_MOTION_GATE } from '../../src/pipeline/motion-gate.js';
import { cameraDetectorSize } from '../../src/vision/detector.js';
import {
  ConfigError,
  configSchema,
  configWarnings,
  loadConfig,
  parseConfig,
  redactConfig,
} from '../../src/config/config.js';
import {
  DEFAULT_DECISION_THRESHOLDS,
  DEFAULT_UNKNOWN_AFTER_FRAMES,
  MIN_SAFE_MARGIN,
  MIN_SAFE_MATCH,
} from '../../src/recognition/decision.js';
import { DEFAULT_CAMERA_TTL_SECONDS, DEFAULT_WORKER_TTL_SECONDS, parseStorageConfig } from '../../storage/config.js';
import { validateId } from '../../storage/ids.js';

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
    expect(c).toMatchObject({
      cameras: [],
      inference: { provider: 'auto' },
      api: { host: '127.0.0.1', port: 8450 },
      retention: { unknownDays: 30 },
    });
    expect(c.recognition).toMatchObject({ margin: 0.1, autoLearning: false, calibrationTarget: 1e-4 });
    // No match threshold unless one is written: the site's calibration or the default decides (site-threshold.ts).
    expect(c.recognition.match).toBeUndefined();
    expect(c.dataDir).toMatch(/var[/\\]storage$/);
  });

  it('takes each default from the one module that owns it: decision.ts, storage/config.ts, the camera code', () => {
    const c = parseConfig({ cameras: [{ id: 'gate', url: 'rtsp://10.0.0.5/live' }] });
    const { match: _match, ...rest } = DEFAULT_DECISION_THRESHOLDS;
    expect(c.recognition).toMatchObject({ ...rest, unknownAfterFrames: DEFAULT_UNKNOWN_AFTER_FRAMES });
    expect(c.health).toEqual({
      cameraTtlSeconds: DEFAULT_CAMERA_TTL_SECONDS,
      workerTtlSeconds: DEFAULT_WORKER_TTL_SECONDS,
    });
    const storage = parseStorageConfig({ dataRoot: dir });
    expect(c.health).toEqual({
      cameraTtlSeconds: storage.cameraTtlSeconds,
      workerTtlSeconds: storage.workerTtlSeconds,
    });
    // The camera size: what `serve` passes (the configuration) and what the camera code does
    // when given nothing are one size (they were 1280x720 and 640x360).
    expect(c.cameras[0]).toMatchObject({ fps: DEFAULT_FPS, width: DEFAULT_WIDTH, height: DEFAULT_HEIGHT });
    expect(buildFfmpegArgs({ url: 'rtsp://10.0.0.5/live', ioTimeoutMs: 1000 }).join(' ')).toContain(
      `fps=${c.cameras[0]?.fps},scale=${c.cameras[0]?.width}:${c.cameras[0]?.height}:`,
    );
  });

  it("describes every key, nested ones and the camera entries' too (what config print --defaults prints)", () => {
    const undescribed: string[] = [];
    const walk = (schema: z.ZodType, at: string): void => {
      if (at !== '' && !schema.description) undescribed.push(at);
      let base: z.ZodType = schema;
      while (base instanceof z.ZodDefault || base instanceof z.ZodPrefault || base instanceof z.ZodOptional)
        base = base.unwrap() as z.ZodType;
      if (base instanceof z.ZodArray) base = base.element as z.ZodType;
      if (!(base instanceof z.ZodObject)) return;
      const shape: Record<string, z.ZodType> = base.shape;
      for (const [key, field] of Object.entries(shape)) walk(field, at ? `${at}.${key}` : key);
    };
    walk(configSchema, '');
    expect(undescribed).toEqual([]);
  });

  it("takes the pipeline's per-frame defaults from motion-gate.ts and follow.ts; a camera may set its own gate and detector size", () => {
    const c = parseConfig({ cameras: [{ id: 'gate', url: 'rtsp://10.0.0.5/live' }] });
    expect(c.pipeline).toEqual({
      motion: {
        cellDelta: DEFAULT_MOTION_GATE.cellDelta,
        minCells: DEFAULT_MOTION_GATE.minCells,
        fullEveryMs: DEFAULT_MOTION_GATE.fullEveryMs,
      },
      follow: DEFAULT_FOLLOW,
      parallelStages: true,
    });
    expect(c.cameras[0]?.detectorSize).toBeUndefined();
    expect(cameraDetectorSize(DEFAULT_WIDTH, DEFAULT_HEIGHT)).toBe(416);
    const own = parseConfig({
      pipeline: { motion: false, follow: false },
      cameras: [{ id: 'door', url: 'rtsp://10.0.0.5/live', detectorSize: 320, motion: { cellDelta: 12 } }],
    });
    expect(own.pipeline).toMatchObject({ motion: false, follow: false });
    expect(own.cameras[0]).toMatchObject({ detectorSize: 320, motion: { cellDelta: 12 } });
    expect(() => parseConfig({ cameras: [{ id: 'door', url: 'rtsp://10.0.0.5/live', detectorSize: 400 }] })).toThrow(
      /cameras\.0\.detectorSize: .*multiple of 32.*\(received 400\)/,
    );
    expect(() => parseConfig({ pipeline: { motion: { cellDelta: 0 } } })).toThrow(/pipeline\.motion/);
    // Bounds that would let the gate or following never look again are refused.
    expect(() => parseConfig({ pipeline: { motion: { minCells: 600 } } })).toThrow(/pipeline\.motion/);
    expect(() => parseConfig({ pipeline: { motion: { fullEveryMs: 600_000 } } })).toThrow(/pipeline\.motion/);
    expect(() => parseConfig({ pipeline: { follow: { reembedAfterMs: 600_000 } } })).toThrow(/pipeline\.follow/);
    expect(() => parseConfig({ cameras: [{ id: 'door', url: 'rtsp://10.0.0.5/live', detectorSize: 96 }] })).toThrow(
      /cameras\.0\.detectorSize: Expected a detector size of at least a quarter .*\(320 for 1280x720\) but received 96/,
    );
    expect(() => parseConfig({ pipeline: { follow: { minIou: 2 } } })).toThrow(/pipeline\.follow/);
    expect(() => parseConfig({ cameras: [{ id: 'door', url: 'rtsp://10.0.0.5/live', motion: true }] })).toThrow(
      /cameras\.0\.motion/,
    );
  });

  it('reads access rules: doors of configured cameras, an IANA time zone, days and HH:MM hours', () => {
    const cameras = [{ id: 'gate_1', url: 'rtsp://10.0.0.5/live' }];
    const c = parseConfig({
      cameras,
      access: {
        timeZone: 'Europe/Berlin',
        doors: { gate_1: [{ roles: ['staff'], days: ['mon'], from: '07:00', to: '19:00' }] },
      },
    });
    expect(c.access?.doors.gate_1?.[0]).toEqual({ roles: ['staff'], days: ['mon'], from: '07:00', to: '19:00' });
    expect(parseConfig({}).access).toBeUndefined();
    expect(() => parseConfig({ cameras, access: { timeZone: 'Mars/Olympus', doors: {} } })).toThrow(
      /access\.timeZone: expected an IANA time zone/,
    );
    expect(() =>
      parseConfig({ cameras, access: { timeZone: 'UTC', doors: { gate_2: [{ roles: ['staff'] }] } } }),
    ).toThrow(/access\.doors\.gate_2: Expected a configured camera id but received "gate_2" \(cameras: gate_1\)/);
    expect(() =>
      parseConfig({ cameras, access: { timeZone: 'UTC', doors: { gate_1: [{ roles: ['staff'], from: '7:00' }] } } }),
    ).toThrow(/access\.doors\.gate_1\.0\.from: expected "HH:MM"/);
    expect(() =>
      parseConfig({
        cameras,
        access: { timeZone: 'UTC', doors: { gate_1: [{ roles: ['staff'], days: ['monday'] }] } },
      }),
    ).toThrow(/access\.doors\.gate_1\.0\.days/);
  });

  it('validates the calibration target like the other keys: a probability above 0 and at most 0.01', () => {
    expect(parseConfig({ recognition: { calibrationTarget: 1e-6 } }).recognition.calibrationTarget).toBe(1e-6);
    expect(() => parseConfig({ recognition: { calibrationTarget: 0 } })).toThrow(
      /recognition\.calibrationTarget: .*received 0/,
    );
    expect(() => parseConfig({ recognition: { calibrationTarget: 0.5 } })).toThrow(
      /recognition\.calibrationTarget: .*0\.01.*received 0\.5/,
    );
    expect(() => parseConfig({ recognition: { calibrationTarget: '1e-4' } })).toThrow(/recognition\.calibrationTarget/);
    // An explicit match threshold is still held to its floor.
    expect(() => parseConfig({ recognition: { match: 0.2 } })).toThrow(
      /recognition\.match: Expected a match threshold of at least/,
    );
  });

  it('reads YAML, resolves paths against the file, and lets the environment win', async () => {
    const file = path.join(dir, 'facegate.yaml');
    await writeFile(
      file,
      [
        'dataDir: data',
        'database:',
        '  url: postgres://app:secret@db/facegate',
        'cameras:',
        '  - id: gate_1',
        '    url: rtsp://cam:pw@10.0.0.5/stream',
        '    fps: 3',
      ].join('\n'),
    );
    const c = await loadConfig(file, {});
    expect(c.dataDir).toBe(path.join(dir, 'data'));
    expect(c.cameras[0]).toMatchObject({ id: 'gate_1', fps: 3, width: 1280, enabled: true });
    const overridden = await loadConfig(file, { databaseUrl: 'postgres://other/x', dataDir: '/srv/facegate' });
    expect(overridden.database.url).toBe('postgres://other/x');
    expect(overridden.dataDir).toBe(path.resolve('/srv/facegate'));
    const shown = redactConfig(c);
    // The whole user-info part is hidden (storage/redact.ts).
    expect(shown.database.url).toBe('postgres://***@db/facegate');
    expect(shown.cameras[0]?.url).toBe('rtsp://***@10.0.0.5/stream');
  });

  it('names the key, the expectation and the received value for each mistake', () => {
    const bad = {
      cameras: [{ id: '../x', url: 'http://cam', fps: 0 }],
      api: { port: 99999 },
      inference: { provider: 'gpu' },
      colour: 'blue',
    };
    let message = '';
    try {
      parseConfig(bad, { source: 'test.yaml' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/^Invalid configuration in test\.yaml:/);
    expect(message).toMatch(/cameras\.0\.id: Expected a camera id of 1-64 letters.* but received "\.\.\/x"/);
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
      parseConfig({
        cameras: [
          { id: 'a', url: 'rtsp://x/1' },
          { id: 'A', url: 'rtsp://x/2' },
        ],
      }),
    ).toThrow(/expected distinct camera ids/);
  });

  // Issue 12, defect 5: a camera id storage refuses passed the config and every event of that
  // camera was dropped at run time (InvalidIdError).
  it("refuses at load every camera id storage would refuse, by storage's own rule", () => {
    for (const bad of ['CON', 'nul', 'COM1', 'lpt9.cam', 'cam.', '../x', '.hidden', 'a b', 'x'.repeat(65)]) {
      let message = '';
      try {
        parseConfig({ cameras: [{ id: bad, url: 'rtsp://cam/x' }] }, { source: 'site.yaml' });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        message = (error as Error).message;
      }
      expect(message, bad).toMatch(/cameras\.0\.id: Expected a camera id of 1-64 letters.* but received "/);
      expect(message, bad).toContain(JSON.stringify(bad.slice(0, 40)));
    }
    // The same verdict as storage for a spread of ids, valid and not.
    for (const candidate of [
      'gate_1',
      'Gate-2.north',
      'CON',
      'con.x',
      'COM¹',
      'aux1',
      'a.',
      '-x',
      '_x',
      'x'.repeat(64),
      'é',
    ]) {
      const storageSays = (() => {
        try {
          validateId('camera', candidate);
          return true;
        } catch {
          return false;
        }
      })();
      const configSays = (() => {
        try {
          parseConfig({ cameras: [{ id: candidate, url: 'rtsp://cam/x' }] });
          return true;
        } catch {
          return false;
        }
      })();
      expect(configSays, candidate).toBe(storageSays);
    }
  });

  // Issue 12, defect 11: `match: 0, margin: 0` matched anyone, without a word.
  it('refuses thresholds that match strangers unless explicitly allowed, and warns then', () => {
    let message = '';
    try {
      parseConfig({ recognition: { match: 0, margin: 0 } }, { source: 'site.yaml' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(
      new RegExp(`recognition\\.match: Expected a match threshold of at least ${MIN_SAFE_MATCH} .*but received 0`),
    );
    expect(message).toMatch(
      new RegExp(`recognition\\.margin: Expected a margin of at least ${MIN_SAFE_MARGIN} .*but received 0`),
    );
    expect(message).toMatch(/recognition\.allowUnsafeThresholds: true/);
    expect(() => parseConfig({ recognition: { match: MIN_SAFE_MATCH - 0.01 } })).toThrow(/recognition\.match/);
    expect(() => parseConfig({ recognition: { margin: MIN_SAFE_MARGIN - 0.01 } })).toThrow(/recognition\.margin/);
    // At the floors: accepted, no warning.
    const atFloor = parseConfig({ recognition: { match: MIN_SAFE_MATCH, margin: MIN_SAFE_MARGIN } });
    expect(configWarnings(atFloor)).toEqual([]);
    expect(configWarnings(parseConfig({}))).toEqual([]);
    // Overridden: accepted, and a warning says what is unsafe.
    const unsafe = parseConfig({ recognition: { match: 0, margin: 0, allowUnsafeThresholds: true } });
    expect(unsafe.recognition).toMatchObject({ match: 0, margin: 0 });
    const warnings = configWarnings(unsafe);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/recognition\.match 0 is below .*recognition\.margin 0 is below/);
  });
});
