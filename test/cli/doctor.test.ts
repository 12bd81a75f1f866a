import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { freePort } from '../helpers/free-port.js';
import { MODELS_DIR } from '../helpers/shared-data.js';

const cli = path.resolve(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

interface Report {
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
}

function doctor(env: Record<string, string>) {
  const r = spawnSync(process.execPath, [cli, 'doctor', '--json'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, FACEGATE_MODELS_DIR: MODELS_DIR, ...env },
  });
  return { status: r.status, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
}

const byName = (report: Report, name: string) => report.checks.find((c) => c.name === name);

describe('facegate doctor', () => {
  it('reports every check ok on the shared PostgreSQL and Redis with the shared models', () => {
    const { status, report } = doctor({
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(status).toBe(0);
    expect(report.checks.map((c) => c.name)).toEqual([
      'cpu',
      'ffmpeg',
      'model detector',
      'model embedder',
      // The manifest's default.cameraDetector (the dynamic YuNet camera frames go to) is verified too.
      'model cameraDetector',
      'native addon',
      'inference provider',
      'database',
      'redis',
      'disk space',
      'match threshold',
    ]);
    // No data root yet (the project's var/storage): nothing is opened, so nothing is created.
    expect(byName(report, 'match threshold')?.detail).toMatch(
      /^not set up yet \(no data root at .*\): the site was never calibrated$|^\d\.\d+ \(/,
    );
    expect(byName(report, 'model embedder')?.detail).toMatch(/sha256 verified/);
    expect(byName(report, 'model cameraDetector')?.detail).toMatch(/^yunet_s_dynamic@.* sha256 verified/);
    expect(byName(report, 'native addon')?.detail).toMatch(/SIMD (scalar|sse2|avx2|avx512|neon)/);
    expect(byName(report, 'inference provider')?.detail).toMatch(/^active (cpu|cuda|dml)/);
    // The settings a site's figures depend on, and the CPU they were measured on.
    expect(byName(report, 'inference provider')?.detail).toMatch(
      /CPU sessions: detector threads (auto|\d+), flush denormals on, spinning off; embedder threads 1, flush denormals on, spinning off/,
    );
    expect(byName(report, 'cpu')?.detail).toMatch(
      process.arch === 'x64' ? /\((GenuineIntel|AuthenticAMD|[\x20-\x7e]{12})\), \d+ cores; sse2/ : /cores/,
    );
    expect(byName(report, 'redis')?.detail).toMatch(/PONG/);
  });

  it('fails the database check and exits 1 when nothing listens at DATABASE_URL', async () => {
    const port = await freePort();
    const { status, report } = doctor({
      DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${port}/test`,
      REDIS_URL: '',
    });
    expect(status).toBe(1);
    expect(report.ok).toBe(false);
    const database = byName(report, 'database');
    expect(database?.ok).toBe(false);
    expect(database?.detail).toMatch(/unreachable: .*ECONNREFUSED/);
    expect(database?.detail).not.toContain('secret');
    expect(byName(report, 'redis')?.ok).toBe(true);
    expect(byName(report, 'redis')?.detail).toMatch(/memory mode/);
  });

  it('reports the embedded PGlite as ok when no database server is configured', () => {
    const { report } = doctor({ DATABASE_URL: '', REDIS_URL: '' });
    expect(byName(report, 'database')).toEqual({
      name: 'database',
      ok: true,
      detail: 'embedded PGlite (no server configured)',
    });
  });
});
