import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import type { DecodeBenchReport } from '../../src/bench/decode-bench.js';
import type { DetectorBenchReport } from '../../src/bench/detector-bench.js';
import type { EventsBenchReport } from '../../src/bench/events-bench.js';
import type { MotionBenchReport } from '../../src/bench/motion-bench.js';
import type { PipelineComparison } from '../../src/bench/pipeline-bench.js';
import type { SearchBenchReport } from '../../src/bench/search-bench.js';
import { DEFAULT_MOTION_GATE } from '../../src/pipeline/motion-gate.js';
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
    const r = facegate(
      'bench',
      'events',
      '--n',
      '300',
      '--batch',
      '100',
      '--database-url',
      SHARED_POSTGRES_URL,
      '--json',
    );
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

describe('facegate bench decode', () => {
  it('measures peak memory of one request, a burst without the decode bound and a burst under it, each with its status counts and the CPU', () => {
    // Small and light: 3 requests of a 1500x1500 PNG (2.25 MP) under a 2 MP budget; the default run is 32 x 7000x7000.
    const r = facegate('bench', 'decode', '--requests', '3', '--side', '1500', '--budget-mp', '2', '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as DecodeBenchReport;
    expect(report.cpu.model).toEqual(expect.any(String));
    expect(report.cpu.cores).toBeGreaterThan(0);
    expect(report.runs.map((run) => [run.name, run.requests, run.budgetPixels])).toEqual([
      ['one request', 1, 2_000_000],
      ['burst, no bound (baseline)', 3, null],
      ['burst, decode budget', 3, 2_000_000],
    ]);
    expect(report.runs[0]?.statuses).toEqual({ 200: 1 });
    // Without the bound every request is decoded; under it, each is decoded or told to retry, nothing else.
    expect(report.runs[1]?.statuses).toEqual({ 200: 3 });
    const bounded = report.runs[2]?.statuses ?? {};
    expect(Object.keys(bounded).every((s) => s === '200' || s === '503')).toBe(true);
    expect(Object.values(bounded).reduce((a, b) => a + b, 0)).toBe(3);
    for (const run of report.runs) {
      expect(run.side).toBe(1500);
      expect(run.pngBytes).toBeGreaterThan(0);
      expect(run.peakRssMb).toBeGreaterThanOrEqual(run.rssReadyMb);
      expect(run.rssAfterMb).toBeGreaterThan(0);
    }
    expect(r.stderr).toContain('bench: burst, no bound (baseline): 3 x 1500x1500 PNG in a process of its own');
  }, 120_000);

  it('refuses a side beyond the per-image limit with exit code 2', () => {
    const r = facegate('bench', 'decode', '--side', '8000', '--json');
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: 'Expected an integer in 1..7071 for --side but received "8000"' });
  });
});

describe('facegate bench pipeline --compare', () => {
  it("runs the same load with ONNX Runtime's defaults and with facegate's settings, each in its own process, and names the CPU", () => {
    const r = facegate(
      'bench',
      'pipeline',
      '--compare',
      '--cameras',
      '1',
      '--seconds',
      '3',
      '--fps',
      '2',
      '--width',
      '640',
      '--height',
      '360',
      '--provider',
      'cpu',
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout) as PipelineComparison;
    expect(c.cpu.cores).toBeGreaterThan(0);
    expect(c.cpu.model).toEqual(expect.any(String));
    expect(c.runs.map((run) => run.name)).toEqual(['onnxruntime defaults', 'facegate']);
    // Each child says what its sessions ran with: the baseline is really ONNX Runtime's defaults.
    expect(c.runs[0]?.report.cpu.embedder).toEqual({ flushDenormals: false, spinning: true });
    expect(c.runs[1]?.report.cpu.embedder).toEqual({ flushDenormals: true, spinning: false, intraOpThreads: 1 });
    for (const run of c.runs) {
      expect(run.report).toMatchObject({ cameras: 1, seconds: 3, offeredFps: 2, frame: '640x360' });
      expect(run.report.framesPerSecond).toBeGreaterThan(0);
    }
    expect(r.stderr).toContain('bench: settings "onnxruntime defaults" in a process of its own');
  }, 120_000);
});

describe('facegate bench motion', () => {
  it("holds the motion gate's defaults to its own evidence: still scenes under the cell threshold, the smallest face over the cell count", () => {
    const r = facegate('bench', 'motion', '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as MotionBenchReport;
    expect(report.scenes).toHaveLength(3);
    expect(report.gate).toEqual(DEFAULT_MOTION_GATE);
    for (const s of report.scenes) {
      // Compression noise and sensor-like noise stay under the threshold in every cell of every frame ...
      expect(s.stillMaxChangedCells).toBe(0);
      expect(s.noisyMaxChangedCells).toBe(0);
      expect(s.noisyMaxDelta).toBeLessThan(report.gate.cellDelta);
      // ... and the smallest face the quality gate accepts changes more cells than the gate needs.
      expect(s.faceChangedCells).toBeGreaterThanOrEqual(report.gate.minCells);
      expect(s.faceMedianDelta).toBeGreaterThan(report.gate.cellDelta);
    }
    expect(report.gateMicros.p50).toBeGreaterThan(0);
  }, 120_000);
});

describe('facegate bench detector', () => {
  it('compares the fixed reference with every camera detector size, and names the smallest that loses no accepted face', () => {
    const r = facegate('bench', 'detector', '--repeat', '1', '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as DetectorBenchReport;
    expect(report.frame).toBe('1280x720');
    expect(report.rows[0]).toMatchObject({ size: null, lost: 0 });
    expect(report.rows.slice(1).map((row) => row.size)).toEqual([640, 576, 512, 448, 416, 384, 352, 320, 288, 256]);
    const reference = report.rows[0]!;
    expect(reference.found).toBe(report.faces);
    expect(reference.accepted).toBeGreaterThan(0);
    for (const row of report.rows) expect(row.accepted).toBeLessThanOrEqual(row.found);
    expect(report.smallestSafe === null || report.smallestSafe % 32 === 0).toBe(true);
  }, 120_000);
});
