import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { EmbeddingStats } from '../../storage/embeddings/embedding-store.js';
import { embeddedFacegate } from '../helpers/cli.js';
import { FACES_DIR } from '../helpers/shared-data.js';

let dataDir: string;

const facegate = embeddedFacegate(() => dataDir);

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'facegate-cli-index-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('facegate enroll, index stats, users delete (embedded defaults)', () => {
  it('reports the enrolled embeddings and the memory of the fp32 vectors and the fp16 copy', () => {
    expect(
      facegate('enroll', 'U1', '--name', 'Obama', path.join(FACES_DIR, 'obama'), '--provider', 'cpu', '--json').status,
    ).toBe(0);
    const r = facegate('index', 'stats', '--json');
    expect(r.status).toBe(0);
    const stats = JSON.parse(r.stdout) as EmbeddingStats;
    expect(stats).toMatchObject({
      count: 5,
      users: 1,
      dim: 512,
      searchMode: 'fp16-rerank',
      indexBytes: 5 * 512 * 4,
      fp16Bytes: 5 * 512 * 2,
      verified: true,
    });
    const verify = facegate('index', 'verify', '--json');
    expect(verify.status).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ rebuilt: false, verified: true, count: 5 });
    expect(facegate('users', 'delete', 'U1', '--json').status).toBe(0);
    expect((JSON.parse(facegate('index', 'stats', '--json').stdout) as EmbeddingStats).count).toBe(0);
  });
});

describe('facegate index verify sweeps face images of no committed user', () => {
  it("removes an enrollment that never committed and temp files, keeps a deleted user's originals, and lists what it removed", async () => {
    // U1 was deleted above with its originals kept; a crash left a folder of someone never enrolled.
    const users = path.join(dataDir, 'images', 'users');
    await mkdir(path.join(users, 'ghost', 'aligned'), { recursive: true });
    await writeFile(path.join(users, 'ghost', 'aligned', 'face_001.png'), 'x');
    await writeFile(path.join(users, 'U1', 'original', '.img_009.jpg.0a1b2c3d4e5f.tmp'), 'x');

    const r = facegate('index', 'verify', '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      images: {
        ran: true,
        removedFolders: ['images/users/ghost'],
        removed: ['images/users/U1/original/.img_009.jpg.0a1b2c3d4e5f.tmp'],
        untouched: [],
      },
    });
    expect(existsSync(path.join(users, 'ghost'))).toBe(false);
    expect(existsSync(path.join(users, 'U1', 'original', 'img_001.jpg'))).toBe(true);
    const text = facegate('index', 'verify');
    expect(text.stdout).toMatch(/images: removed 0 file\(s\) and 0 folder\(s\) that belong to no committed user/);
  });
});

describe('facegate retention run', () => {
  it('lists old unknown-face date folders with --dry-run, then removes them, keeping recent ones', async () => {
    const unknown = path.join(dataDir, 'images', 'unknown');
    const today = new Date().toISOString().slice(0, 10);
    for (const date of ['2020-01-01', today]) {
      await mkdir(path.join(unknown, date), { recursive: true });
      await writeFile(path.join(unknown, date, 'gate_1_120000000.png'), 'x');
    }
    const dry = facegate('retention', 'run', '--dry-run', '--json');
    expect(dry.status).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      days: 30,
      dryRun: true,
      removedDates: ['2020-01-01'],
      removedFiles: 1,
    });
    expect(existsSync(path.join(unknown, '2020-01-01'))).toBe(true);
    expect(JSON.parse(facegate('retention', 'run', '--json').stdout)).toMatchObject({
      dryRun: false,
      removedDates: ['2020-01-01'],
    });
    expect(existsSync(path.join(unknown, '2020-01-01'))).toBe(false);
    expect(existsSync(path.join(unknown, today))).toBe(true);
  });
});
