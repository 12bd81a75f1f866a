import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import type { EventsBenchReport } from '../../src/bench/events-bench.js';
import type { SearchBenchReport } from '../../src/bench/search-bench.js';
import { SHARED_POSTGRES_URL } from '../helpers/shared-servers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');

function facegate(...args: string[]) {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` before the tests`);
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
}

describe('facegate bench search', () => {
  it('prints one JSON object with every method, exact recall and the bandwidth bound', () => {
    const r = facegate(
      'bench',
      'search',
      '--n',
      '3000',
      '--dim',
      '64',
      '--k',
      '5',
      '--queries',
      '10',
      '--baseline-queries',
      '4',
      '--json',
    );
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as SearchBenchReport;
    expect(report.options).toMatchObject({ n: 3000, dim: 64, k: 5, queries: 10, baselineQueries: 4 });
    expect(report.methods.map((m) => m.method)).toEqual([
      'facegate',
      'facegate-fp32',
      'facegate-async',
      'faiss',
      'typescript',
    ]);
    for (const m of report.methods) {
      expect(m.recallAtK).toBe(1);
      expect(m.p50Ms).toBeGreaterThan(0);
      expect(m.batch32QueriesPerSecond).toBeGreaterThan(0);
    }
    expect(report.machine.readGBps).toBeGreaterThan(0);
    expect(report.memory).toEqual({ fp32Bytes: 3000 * 64 * 4, fp16Bytes: 3000 * 64 * 2 });
    expect(report.boundMs).toBeCloseTo((3000 * 64 * 4) / report.machine.readGBps / 1e6, 6);
    expect(report.tinyIndex.syncMicrosPerCall).toBeGreaterThan(0);
    expect(r.stderr).toContain('bench: built 3000/3000 vectors');
  });

  it('prints the table without --json', () => {
    const r = facegate('bench', 'search', '--n', '500', '--dim', '32', '--queries', '3', '--baseline-queries', '2');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/method +samples +p50 ms/);
    expect(r.stdout).toMatch(/^faiss /m);
  });

  it('refuses a bad option value with exit code 2 and a JSON error', () => {
    const r = facegate('bench', 'search', '--n', '0', '--json');
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: 'Expected an integer in 1..50000000 for --n but received "0"' });
  });

  it('refuses an unknown subcommand and an unknown option', () => {
    expect(facegate('bench', 'nope').status).toBe(2);
    const r = facegate('bench', 'search', '--frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--frobnicate'/);
  });
});

describe('facegate bench events', () => {
  it('inserts events one by one and batched into PostgreSQL and reports both rates', () => {
    const r = facegate('bench', 'events', '--n', '300', '--batch', '100', '--database-url', SHARED_POSTGRES_URL, '--json');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as EventsBenchReport;
    expect(report).toMatchObject({ n: 300, batch: 100 });
    expect(report.oneByOne.eventsPerSecond).toBeGreaterThan(0);
    expect(report.batched.eventsPerSecond).toBeGreaterThan(0);
    expect(report.speedup).toBeCloseTo(report.oneByOne.seconds / report.batched.seconds, 6);
  });

  it('refuses to run without a database URL', () => {
    const r = spawnSync(process.execPath, [cli, 'bench', 'events', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, DATABASE_URL: '' },
    });
    expect(r.status).toBe(2);
    expect(r.stdout).toContain('Expected --database-url or DATABASE_URL');
  });
});
