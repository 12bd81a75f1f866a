// `facegate backup` and `facegate restore` on the embedded defaults (PGlite under the data root),
// through the compiled CLI. The pg_dump/pg_restore path (DATABASE_URL set) is not exercised here.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { EmbeddingStats } from '../../storage/embeddings/embedding-store.js';
import { embeddedFacegate } from '../helpers/cli.js';
import { FACES_DIR } from '../helpers/shared-data.js';

let tmp: string;
let dataDir: string;

const facegate = embeddedFacegate(() => dataDir);

/** The error message of a refused --json command. */
function errorOf(r: { stdout: string }): string {
  return (JSON.parse(r.stdout) as { error: string }).error;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-cli-backup-'));
  dataDir = path.join(tmp, 'data');
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('facegate backup and restore (embedded defaults)', () => {
  it('backs up, and restores a deleted user with their embeddings', async () => {
    expect(
      facegate('enroll', 'U1', '--name', 'Obama', path.join(FACES_DIR, 'obama'), '--provider', 'cpu', '--json').status,
    ).toBe(0);
    const dest = path.join(tmp, 'backup-1');
    const backup = facegate('backup', dest, '--json');
    expect(backup.stderr).toContain('backup: copying images/');
    expect(backup.status).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ format: 1, source: { dataDir, database: 'pglite' } });
    const manifest = JSON.parse(await readFile(path.join(dest, 'backup.json'), 'utf8')) as {
      included: Record<string, { files: number }>;
    };
    expect(Object.keys(manifest.included)).toEqual(expect.arrayContaining(['images', 'embeddings', 'db']));
    expect(manifest.included.images?.files).toBeGreaterThan(0);
    expect(existsSync(path.join(dest, 'facegate.lock'))).toBe(false);

    expect(facegate('users', 'delete', 'U1', '--purge-images', '--json').status).toBe(0);
    expect((JSON.parse(facegate('index', 'stats', '--json').stdout) as EmbeddingStats).count).toBe(0);

    const refused = facegate('restore', dest, '--json');
    expect(refused.status).not.toBe(0);
    expect(errorOf(refused)).toMatch(/not empty.*--force/);

    const restore = facegate('restore', dest, '--force', '--json');
    expect(restore.status).toBe(0);
    const result = JSON.parse(restore.stdout) as { movedAside: string };
    expect(result.movedAside).toMatch(/\.before-restore-/);
    expect((await readdir(result.movedAside)).length).toBeGreaterThan(0);

    const users = JSON.parse(facegate('users', 'list', '--json').stdout) as { users: { id: string }[] };
    expect(users.users.map((u) => u.id)).toEqual(['U1']);
    expect((JSON.parse(facegate('index', 'stats', '--json').stdout) as EmbeddingStats).count).toBe(5);
  });

  it('refuses a non-empty backup folder', async () => {
    const dest = path.join(tmp, 'busy');
    await mkdir(dest);
    await writeFile(path.join(dest, 'something'), 'x');
    const r = facegate('backup', dest, '--json');
    expect(r.status).not.toBe(0);
    expect(errorOf(r)).toMatch(/not empty/);
    expect(existsSync(path.join(dest, 'backup.json'))).toBe(false);
  });

  it('refuses while another process holds the data root (the service running)', async () => {
    await writeFile(path.join(dataDir, 'facegate.lock'), `${process.pid}\n`);
    try {
      const r = facegate('backup', path.join(tmp, 'while-running'), '--json');
      expect(r.status).not.toBe(0);
      expect(errorOf(r)).toMatch(/in use by process/);
      expect(existsSync(path.join(tmp, 'while-running', 'backup.json'))).toBe(false);
    } finally {
      await rm(path.join(dataDir, 'facegate.lock'), { force: true });
    }
  });

  it('refuses to restore from a folder without backup.json', async () => {
    const src = path.join(tmp, 'incomplete');
    await mkdir(path.join(src, 'images'), { recursive: true });
    const r = facegate('restore', src, '--force', '--json');
    expect(r.status).not.toBe(0);
    expect(errorOf(r)).toMatch(/no backup\.json/);
  });
});
