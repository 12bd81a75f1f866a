// The service's start sweeps the face images a crash left before its API and pipeline take work,
// and says what it removed (issue 12, 3.4). Embedded PGlite, no cameras, the real models.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseConfig } from '../../src/config/config.js';
import { startService } from '../../src/service/service.js';
import { freePort } from '../helpers/free-port.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';

let dataDir: string;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-start-sweep-'));
});
afterAll(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('facegate serve at start', () => {
  it('removes images of no committed user and temp files before taking work, and logs them', async () => {
    // An enrollment SIGKILLed while writing: a crop and an original, no user row; a cut atomic write.
    const ghost = path.join(dataDir, 'images', 'users', 'ghost');
    await fs.mkdir(path.join(ghost, 'aligned'), { recursive: true });
    await fs.mkdir(path.join(ghost, 'original'), { recursive: true });
    await fs.copyFile(path.join(FACES_DIR, 'obama', 'obama_small.jpg'), path.join(ghost, 'original', 'img_001.jpg'));
    await fs.writeFile(path.join(ghost, 'aligned', 'face_001.png'), 'crop');
    // Today's: older date folders are retention's.
    const today = new Date().toISOString().slice(0, 10);
    const day = path.join(dataDir, 'images', 'unknown', today);
    await fs.mkdir(day, { recursive: true });
    await fs.writeFile(path.join(day, '.gate_1_070809010.png.0a1b2c3d4e5f.tmp'), 'partial');

    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const config = parseConfig({
      dataDir,
      modelsDir: MODELS_DIR,
      inference: { provider: 'cpu' },
      api: { port: await freePort() },
    });
    const service = await startService(config, logger);
    try {
      expect(await fs.readdir(path.join(dataDir, 'images', 'users'))).toEqual([]);
      expect(await fs.readdir(day)).toEqual([]);
      const sweep = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('image sweep'));
      expect(sweep).toMatchObject({
        removedFiles: 1,
        removedFolders: 1,
        folders: ['images/users/ghost'],
        files: [`images/unknown/${today}/.gate_1_070809010.png.0a1b2c3d4e5f.tmp`],
      });
      // Before the API and the cameras: the sweep's line comes before "facegate running".
      expect(lines.indexOf(sweep as Record<string, unknown>)).toBeLessThan(
        lines.findIndex((l) => l.msg === 'facegate running'),
      );
    } finally {
      await service.stop();
    }
  }, 120_000);
});
